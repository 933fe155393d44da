//! The reference server's own behaviour, over real HTTP on loopback: the flows a SMART app goes
//! through, and every fault that no suite check covers yet, proven both ways (the requirement
//! holds on the clean server and breaks under the fault).

use std::collections::BTreeMap;

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::redirect::Policy;
use serde_json::{json, Value};
use smartcheck::reference::{Config, Faults, ReferenceServer, FAULTS};

const CALLBACK: &str = "http://127.0.0.1:8765/callback";
const RS384_KEY: &str = include_str!("../fixtures/keys/client-rs384.key.pem");
const ES384_KEY: &str = include_str!("../fixtures/keys/client-es384.key.pem");
const CLIENT_JWKS: &str = include_str!("../fixtures/keys/client-jwks.json");
const OTHER_KEY: &str = include_str!("../fixtures/keys/reference-rs256.key.pem");
/// RFC 7636 Appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

type Check = Result<(), String>;

fn ensure(ok: bool, what: impl Into<String>) -> Check {
    if ok {
        Ok(())
    } else {
        Err(what.into())
    }
}

struct Probe {
    server: ReferenceServer,
    http: reqwest::Client,
}

/// A registered client.
#[derive(Clone)]
struct Client {
    id: String,
    secret: Option<String>,
}

/// What came back on the redirect URI.
struct Callback(BTreeMap<String, String>);

impl Callback {
    fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }
}

struct Resp {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    fn location(&self) -> Option<Callback> {
        let url = url::Url::parse(self.header("location")?).ok()?;
        Some(Callback(url.query_pairs().into_owned().collect()))
    }
}

fn txn_of(html: &str) -> Option<String> {
    let re = regex::Regex::new(r#"name="txn" value="([^"]+)""#).unwrap();
    re.captures(html).map(|c| c[1].to_string())
}

impl Probe {
    fn start(faults: &[&str]) -> Probe {
        let server = ReferenceServer::start(
            "127.0.0.1",
            0,
            Config {
                faults: Faults::parse(faults).unwrap(),
                debug_endpoints: true,
                ..Default::default()
            },
        )
        .unwrap();
        let http = reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .unwrap();
        Probe { server, http }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.origin())
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Resp {
        let r = request.send().await.expect("the server answers");
        Resp {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            body: r.text().await.unwrap(),
        }
    }

    async fn register(&self, method: &str, grant_types: &[&str]) -> Client {
        let mut body = json!({
            "client_name": format!("test {method}"),
            "redirect_uris": [CALLBACK],
            "grant_types": grant_types,
            "token_endpoint_auth_method": method,
        });
        if method == "private_key_jwt" {
            body["jwks"] = serde_json::from_str(CLIENT_JWKS).unwrap();
        }
        if !grant_types.contains(&"authorization_code") {
            body["response_types"] = json!([]);
        }
        let r = self
            .send(self.http.post(self.url("/register")).json(&body))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let j = r.json();
        Client {
            id: j["client_id"].as_str().unwrap().to_string(),
            secret: j["client_secret"].as_str().map(str::to_string),
        }
    }

    fn authorize_params(&self, client: &Client, scope: &str) -> Vec<(String, String)> {
        [
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", CALLBACK),
            ("scope", scope),
            ("state", "state-123"),
            ("aud", &self.server.fhir_base()),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("nonce", "nonce-456"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    async fn authorize(&self, params: &[(String, String)]) -> Resp {
        self.send(self.http.get(self.url("/authorize")).query(params))
            .await
    }

    async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Resp {
        self.send(self.http.post(self.url(path)).form(form)).await
    }

    /// Signs in, picks the first patient when asked, and approves or denies.
    async fn finish(&self, login_page: Resp, user: &str, approve: bool) -> Resp {
        assert_eq!(login_page.status, 200, "{}", login_page.body);
        let txn = txn_of(&login_page.body).expect("a login form");
        let mut page = self
            .post_form(
                "/authorize/login",
                &[
                    ("txn", &txn),
                    ("username", user),
                    ("password", "demo-password"),
                ],
            )
            .await;
        if page.body.contains("id=\"select-patient\"") {
            let first = regex::Regex::new(r#"name="patient" value="([^"]+)""#)
                .unwrap()
                .captures(&page.body)
                .unwrap()[1]
                .to_string();
            page = self
                .post_form("/authorize/patient", &[("txn", &txn), ("patient", &first)])
                .await;
        }
        assert!(page.body.contains("id=\"approve\""), "{}", page.body);
        let decision = if approve { "approve" } else { "deny" };
        self.post_form(
            "/authorize/consent",
            &[("txn", &txn), ("decision", decision)],
        )
        .await
    }

    /// The whole authorization: returns the callback's parameters.
    async fn code(&self, client: &Client, scope: &str, user: &str) -> Callback {
        let page = self.authorize(&self.authorize_params(client, scope)).await;
        self.finish(page, user, true)
            .await
            .location()
            .expect("a redirect")
    }

    async fn token(&self, client: &Client, form: &[(&str, &str)]) -> Resp {
        let mut request = self.http.post(self.url("/token"));
        let mut form: Vec<(&str, &str)> = form.to_vec();
        match &client.secret {
            Some(secret) => request = request.basic_auth(&client.id, Some(secret)),
            None => form.push(("client_id", &client.id)),
        }
        self.send(request.form(&form)).await
    }

    async fn exchange(&self, client: &Client, code: &str) -> Resp {
        self.token(
            client,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", VERIFIER),
            ],
        )
        .await
    }

    /// A code exchanged for tokens by a fresh confidential client.
    async fn tokens(&self, scope: &str, user: &str) -> (Client, Value, Resp) {
        let client = self
            .register(
                "client_secret_basic",
                &["authorization_code", "refresh_token"],
            )
            .await;
        let cb = self.code(&client, scope, user).await;
        let r = self.exchange(&client, cb.get("code").unwrap()).await;
        (client, r.json(), r)
    }

    async fn debug_token(&self, client: &Client, user: &str, patient: &str, scope: &str) -> String {
        let r = self
            .send(self.http.post(self.url("/oauth/debug/token")).json(&json!({
                "client_id": client.id, "username": user, "patient_id": patient, "scope": scope
            })))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["access_token"].as_str().unwrap().to_string()
    }

    async fn read(&self, path: &str, token: Option<&str>) -> Resp {
        let mut request = self.http.get(format!("{}/{path}", self.server.fhir_base()));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        self.send(request).await
    }

    fn assertion(&self, client: &Client, kid: &str, claims: Value) -> String {
        let (alg, key) = match kid {
            "client-es384" => (
                Algorithm::ES384,
                EncodingKey::from_ec_pem(ES384_KEY.as_bytes()).unwrap(),
            ),
            "wrong-key" => (
                Algorithm::RS384,
                EncodingKey::from_rsa_pem(OTHER_KEY.as_bytes()).unwrap(),
            ),
            _ => (
                Algorithm::RS384,
                EncodingKey::from_rsa_pem(RS384_KEY.as_bytes()).unwrap(),
            ),
        };
        let mut header = Header::new(alg);
        header.kid = Some(
            if kid == "wrong-key" {
                "client-rs384"
            } else {
                kid
            }
            .to_string(),
        );
        let now = chrono::Utc::now().timestamp();
        let mut base = json!({
            "iss": client.id, "sub": client.id, "aud": self.url("/token"),
            "exp": now + 240, "jti": format!("jti-{}", rand_suffix()),
        });
        for (k, v) in claims.as_object().unwrap() {
            base[k] = v.clone();
        }
        jsonwebtoken::encode(&header, &base, &key).unwrap()
    }

    async fn backend(&self, assertion: &str) -> Resp {
        self.post_form(
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("scope", "system/Patient.rs"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion),
            ],
        )
        .await
    }
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn error_of(r: &Resp) -> String {
    r.json()["error"].as_str().unwrap_or_default().to_string()
}

const SCOPE: &str = "launch/patient openid fhirUser offline_access patient/*.rs";

/// Whether the requirement a fault breaks holds on this server.
async fn requirement(p: &Probe, fault: &str) -> Check {
    match fault {
        "authorize-unknown-redirect-redirected" => {
            let c = p.register("none", &["authorization_code"]).await;
            let mut params = p.authorize_params(&c, SCOPE);
            params[2].1 = "http://127.0.0.1:9/elsewhere".into();
            let r = p.authorize(&params).await;
            ensure(
                r.status == 400 && r.header("location").is_none(),
                format!("status {} location {:?}", r.status, r.header("location")),
            )
        }
        "authorize-response-type-not-checked" => {
            let c = p.register("none", &["authorization_code"]).await;
            let mut params = p.authorize_params(&c, SCOPE);
            params[0].1 = "token".into();
            let cb = p.authorize(&params).await.location();
            ensure(
                cb.is_some_and(|cb| cb.get("error") == Some("unsupported_response_type")),
                "response_type=token not refused",
            )
        }
        "authorize-aud-not-checked" => {
            let c = p.register("none", &["authorization_code"]).await;
            let mut params = p.authorize_params(&c, SCOPE);
            params[5].1 = "https://fhir.example.org/r4".into();
            let cb = p.authorize(&params).await.location();
            ensure(
                cb.is_some_and(|cb| cb.get("error") == Some("invalid_request")),
                "a foreign aud was not refused",
            )
        }
        "authorize-state-not-echoed" => {
            let c = p.register("none", &["authorization_code"]).await;
            let cb = p.code(&c, SCOPE, "amy-shaw").await;
            ensure(cb.get("state") == Some("state-123"), "state not echoed")
        }
        "authorize-deny-no-error" => {
            let c = p.register("none", &["authorization_code"]).await;
            let page = p.authorize(&p.authorize_params(&c, SCOPE)).await;
            let cb = p.finish(page, "amy-shaw", false).await.location().unwrap();
            ensure(
                cb.get("error") == Some("access_denied")
                    && cb.get("state") == Some("state-123")
                    && cb.get("code").is_none(),
                "deny did not give access_denied with the state",
            )
        }
        "pkce-optional" | "pkce-plain-accepted" => {
            let c = p.register("none", &["authorization_code"]).await;
            let mut params = p.authorize_params(&c, SCOPE);
            if fault == "pkce-optional" {
                params.retain(|(k, _)| !k.starts_with("code_challenge"));
            } else {
                params[6].1 = VERIFIER.into();
                params[7].1 = "plain".into();
            }
            let cb = p.authorize(&params).await.location();
            ensure(
                cb.is_some_and(|cb| cb.get("error") == Some("invalid_request")),
                "the authorization request was accepted",
            )
        }
        "code-reusable" => {
            let c = p.register("none", &["authorization_code"]).await;
            let code = p.code(&c, SCOPE, "amy-shaw").await.0["code"].clone();
            let first = p.exchange(&c, &code).await;
            let second = p.exchange(&c, &code).await;
            ensure(
                first.status == 200 && second.status == 400 && error_of(&second) == "invalid_grant",
                format!("second use: {} {}", second.status, second.body),
            )
        }
        "code-not-bound-to-client" => {
            let a = p.register("none", &["authorization_code"]).await;
            let b = p.register("none", &["authorization_code"]).await;
            let code = p.code(&a, SCOPE, "amy-shaw").await.0["code"].clone();
            let r = p.exchange(&b, &code).await;
            ensure(error_of(&r) == "invalid_grant", r.body)
        }
        "redirect-uri-not-checked-at-token" | "pkce-verifier-not-checked" => {
            let c = p.register("none", &["authorization_code"]).await;
            let code = p.code(&c, SCOPE, "amy-shaw").await.0["code"].clone();
            let (redirect, verifier) = if fault == "pkce-verifier-not-checked" {
                (CALLBACK, "x".repeat(43))
            } else {
                ("http://127.0.0.1:8765/other", VERIFIER.to_string())
            };
            let r = p
                .token(
                    &c,
                    &[
                        ("grant_type", "authorization_code"),
                        ("code", &code),
                        ("redirect_uri", redirect),
                        ("code_verifier", &verifier),
                    ],
                )
                .await;
            ensure(error_of(&r) == "invalid_grant", r.body)
        }
        "token-no-cache-control" | "token-no-pragma" => {
            let (_, _, r) = p.tokens(SCOPE, "amy-shaw").await;
            let (name, value) = if fault == "token-no-pragma" {
                ("pragma", "no-cache")
            } else {
                ("cache-control", "no-store")
            };
            ensure(
                r.header(name) == Some(value),
                format!("{name}: {:?}", r.header(name)),
            )
        }
        "token-error-status-200" => {
            let r = p
                .post_form("/token", &[("grant_type", "password"), ("client_id", "x")])
                .await;
            ensure(
                r.status == 400 && error_of(&r) == "unsupported_grant_type",
                format!("{} {}", r.status, r.body),
            )
        }
        "token-no-www-authenticate" | "client-secret-not-checked" => {
            let mut c = p
                .register("client_secret_basic", &["authorization_code"])
                .await;
            c.secret = Some("wrong".into());
            let r = p.exchange(&c, "no-such-code").await;
            let www = r
                .header("www-authenticate")
                .is_some_and(|v| v.starts_with("Basic"));
            ensure(
                r.status == 401 && error_of(&r) == "invalid_client" && www,
                format!("{} {:?} {}", r.status, r.header("www-authenticate"), r.body),
            )
        }
        "token-no-patient-context" => {
            let (_, body, _) = p.tokens(SCOPE, "amy-shaw").await;
            ensure(body["patient"] == "smart-1032702", body.to_string())
        }
        "id-token-wrong-aud" | "id-token-unsigned" | "id-token-no-nonce" => {
            let (client, body, _) = p.tokens(SCOPE, "amy-shaw").await;
            let jwt = body["id_token"].as_str().unwrap_or_default();
            let jwks: jsonwebtoken::jwk::JwkSet = p
                .send(p.http.get(p.url("/jwks.json")))
                .await
                .json()
                .pipe(serde_json::from_value)
                .unwrap();
            let header = jsonwebtoken::decode_header(jwt).map_err(|e| e.to_string())?;
            let jwk = jwks
                .find(header.kid.as_deref().unwrap_or_default())
                .ok_or("no key")?;
            let mut v = jsonwebtoken::Validation::new(Algorithm::RS256);
            v.set_audience(&[&client.id]);
            v.set_issuer(&[p.server.origin()]);
            let claims = jsonwebtoken::decode::<Value>(
                jwt,
                &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
                &v,
            )
            .map_err(|e| e.to_string())?
            .claims;
            ensure(
                claims["nonce"] == "nonce-456"
                    && claims["fhirUser"]
                        == format!("{}/Patient/smart-1032702", p.server.fhir_base()),
                claims.to_string(),
            )
        }
        "refresh-broadens-scope"
        | "refresh-without-client-auth"
        | "refresh-other-client"
        | "refresh-old-token-reusable" => {
            let (client, body, _) = p.tokens(SCOPE, "amy-shaw").await;
            let refresh = body["refresh_token"].as_str().unwrap().to_string();
            let r = match fault {
                "refresh-broadens-scope" => {
                    p.token(
                        &client,
                        &[
                            ("grant_type", "refresh_token"),
                            ("refresh_token", &refresh),
                            ("scope", "patient/*.rs user/*.rs"),
                        ],
                    )
                    .await
                }
                "refresh-without-client-auth" => {
                    let bare = Client {
                        id: client.id.clone(),
                        secret: None,
                    };
                    p.token(
                        &bare,
                        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
                    )
                    .await
                }
                "refresh-other-client" => {
                    let other = p
                        .register(
                            "client_secret_basic",
                            &["authorization_code", "refresh_token"],
                        )
                        .await;
                    p.token(
                        &other,
                        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
                    )
                    .await
                }
                _ => {
                    let first = p
                        .token(
                            &client,
                            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
                        )
                        .await;
                    ensure(first.status == 200, first.body.clone())?;
                    ensure(first.json()["refresh_token"] != refresh, "not rotated")?;
                    p.token(
                        &client,
                        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
                    )
                    .await
                }
            };
            let want = match fault {
                "refresh-broadens-scope" => "invalid_scope",
                "refresh-without-client-auth" => "invalid_client",
                _ => "invalid_grant",
            };
            ensure(error_of(&r) == want, format!("{} {}", r.status, r.body))
        }
        "client-assertion-signature-not-checked"
        | "client-assertion-aud-not-checked"
        | "client-assertion-long-exp-accepted"
        | "client-assertion-jti-replay" => {
            let c = p.register("private_key_jwt", &["client_credentials"]).await;
            let now = chrono::Utc::now().timestamp();
            let bad = match fault {
                "client-assertion-signature-not-checked" => p.assertion(&c, "wrong-key", json!({})),
                "client-assertion-aud-not-checked" => p.assertion(
                    &c,
                    "client-rs384",
                    json!({"aud": "https://elsewhere.example/token"}),
                ),
                "client-assertion-long-exp-accepted" => {
                    p.assertion(&c, "client-es384", json!({"exp": now + 3600}))
                }
                _ => {
                    let a = p.assertion(&c, "client-es384", json!({}));
                    let first = p.backend(&a).await;
                    ensure(first.status == 200, first.body)?;
                    a
                }
            };
            let r = p.backend(&bad).await;
            ensure(
                r.status == 401 && error_of(&r) == "invalid_client",
                format!("{} {}", r.status, r.body),
            )
        }
        "backend-token-lifetime-long" => {
            let c = p.register("private_key_jwt", &["client_credentials"]).await;
            let r = p.backend(&p.assertion(&c, "client-rs384", json!({}))).await;
            let body = r.json();
            ensure(
                r.status == 200 && body["expires_in"].as_i64().is_some_and(|e| e <= 300),
                r.body,
            )
        }
        "introspection-no-auth-required" => {
            let r = p.post_form("/introspect", &[("token", "anything")]).await;
            ensure(r.status == 401, format!("{} {}", r.status, r.body))
        }
        "introspection-garbage-active" | "introspection-scope-wrong" => {
            let (client, body, _) = p.tokens(SCOPE, "amy-shaw").await;
            let token = if fault == "introspection-garbage-active" {
                "garbage".to_string()
            } else {
                body["access_token"].as_str().unwrap().to_string()
            };
            let r = p
                .send(
                    p.http
                        .post(p.url("/introspect"))
                        .basic_auth(&client.id, client.secret.as_ref())
                        .form(&[("token", token.as_str())]),
                )
                .await;
            let j = r.json();
            if fault == "introspection-garbage-active" {
                ensure(j == json!({"active": false}), r.body)
            } else {
                ensure(
                    j["active"] == true
                        && j["scope"] == body["scope"]
                        && j["patient"] == "smart-1032702",
                    r.body,
                )
            }
        }
        "revoked-token-still-accepted"
        | "revoked-refresh-still-usable"
        | "revocation-unknown-token-error" => {
            let (client, body, _) = p.tokens(SCOPE, "amy-shaw").await;
            let access = body["access_token"].as_str().unwrap();
            let refresh = body["refresh_token"].as_str().unwrap();
            let revoke = |token: String| {
                p.http
                    .post(p.url("/revoke"))
                    .basic_auth(&client.id, client.secret.as_ref())
                    .form(&[("token", token)])
            };
            match fault {
                "revocation-unknown-token-error" => {
                    let r = p.send(revoke("never-issued".into())).await;
                    ensure(r.status == 200, format!("{} {}", r.status, r.body))
                }
                "revoked-token-still-accepted" => {
                    ensure(
                        p.read("Patient/smart-1032702", Some(access)).await.status == 200,
                        "token never worked",
                    )?;
                    let r = p.send(revoke(access.into())).await;
                    ensure(r.status == 200, r.body)?;
                    let after = p.read("Patient/smart-1032702", Some(access)).await;
                    ensure(
                        after.status == 401,
                        format!("read after revocation: {}", after.status),
                    )
                }
                _ => {
                    let r = p.send(revoke(refresh.into())).await;
                    ensure(r.status == 200, r.body)?;
                    let after = p
                        .token(
                            &client,
                            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
                        )
                        .await;
                    ensure(error_of(&after) == "invalid_grant", after.body)
                }
            }
        }
        "fhir-read-without-token" | "fhir-no-www-authenticate" => {
            let r = p.read("Patient/smart-1288992", None).await;
            ensure(
                r.status == 401
                    && r.header("www-authenticate")
                        .is_some_and(|v| v.starts_with("Bearer")),
                format!("{} {:?}", r.status, r.header("www-authenticate")),
            )
        }
        "fhir-token-in-query-accepted" => {
            let c = p
                .register("client_secret_basic", &["authorization_code"])
                .await;
            let token = p
                .debug_token(&c, "daniel-adams", "smart-1288992", "patient/*.rs")
                .await;
            let r = p
                .read(&format!("Patient/smart-1288992?access_token={token}"), None)
                .await;
            ensure(r.status == 401, format!("{}", r.status))
        }
        "fhir-scope-not-enforced" | "fhir-compartment-not-enforced" => {
            let c = p
                .register("client_secret_basic", &["authorization_code"])
                .await;
            let token = p
                .debug_token(
                    &c,
                    "daniel-adams",
                    "smart-1288992",
                    "patient/Observation.rs patient/Patient.rs",
                )
                .await;
            ensure(
                p.read("Observation/smart-obs-1288992-bp", Some(&token))
                    .await
                    .status
                    == 200,
                "own data",
            )?;
            let r = if fault == "fhir-scope-not-enforced" {
                p.read("Condition/smart-cond-1288992-htn", Some(&token))
                    .await
            } else {
                p.read("Patient/smart-1032702", Some(&token)).await
            };
            ensure(
                r.status == 403
                    && r.header("www-authenticate")
                        .is_some_and(|v| v.contains("insufficient_scope")),
                format!("{} {}", r.status, r.body),
            )
        }
        "fhir-search-leaks-other-patients" => {
            let c = p
                .register("client_secret_basic", &["authorization_code"])
                .await;
            let token = p
                .debug_token(&c, "amy-shaw", "smart-1032702", "user/Observation.rs")
                .await;
            let r = p.read("Observation", Some(&token)).await;
            let subjects: Vec<String> = r.json()["entry"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| {
                    e["resource"]["subject"]["reference"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string()
                })
                .collect();
            ensure(
                !subjects.is_empty() && subjects.iter().all(|s| s == "Patient/smart-1032702"),
                format!("{subjects:?}"),
            )
        }
        "consent-zero-size-checkbox" => {
            // Approve alone (no "I agree" box) redirects with a code.
            let client = p
                .register("client_secret_basic", &["authorization_code"])
                .await;
            let page = p.authorize(&p.authorize_params(&client, SCOPE)).await;
            let r = p.finish(page, "amy-shaw", true).await;
            ensure(
                r.location().is_some_and(|cb| cb.get("code").is_some()),
                format!("{} {}", r.status, r.body),
            )
        }
        "refuses-everything" => {
            // A valid registration, and a token for a valid client, are accepted.
            let body = json!({
                "client_name": "probe",
                "redirect_uris": [CALLBACK],
                "grant_types": ["authorization_code"],
                "token_endpoint_auth_method": "client_secret_basic",
            });
            let r = p.send(p.http.post(p.url("/register")).json(&body)).await;
            ensure(
                r.status == 201,
                format!("registration: {} {}", r.status, r.body),
            )?;
            let (_, token, r) = p.tokens(SCOPE, "amy-shaw").await;
            ensure(
                token["access_token"].is_string(),
                format!("token: {} {}", r.status, r.body),
            )
        }
        other => Err(format!("no direct probe for `{other}`")),
    }
}

trait Pipe: Sized {
    fn pipe<T>(self, f: impl FnOnce(Self) -> T) -> T {
        f(self)
    }
}
impl<T> Pipe for T {}

/// Faults that no suite check covers yet.
fn direct_faults() -> Vec<&'static str> {
    FAULTS
        .iter()
        .filter(|f| f.caught_by.is_empty() && f.unproven.is_empty() && !f.is_variant())
        .map(|f| f.name)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_uncovered_fault_breaks_a_requirement_that_holds_on_the_clean_server() {
    let clean = Probe::start(&[]);
    let mut problems = Vec::new();
    for fault in direct_faults() {
        if let Err(e) = requirement(&clean, fault).await {
            problems.push(format!("clean server breaks `{fault}`'s requirement: {e}"));
        }
        let broken = Probe::start(&[fault]);
        if requirement(&broken, fault).await.is_ok() {
            problems.push(format!("fault `{fault}` does not break its requirement"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The id_token's claims, unverified (the id_token probes above verify signatures).
fn id_token_claims(body: &Value) -> Value {
    use base64::Engine;
    let jwt = body["id_token"].as_str().unwrap_or_default();
    let payload = jwt.split('.').nth(1).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null)
}

/// Whether the server shows the default behaviour that a conforming switch replaces with
/// another one the spec also allows.
async fn default_behaviour(p: &Probe, variant: &str) -> Check {
    let field = |name: &str| match name {
        "authorize" => "authorization_endpoint",
        "token" => "token_endpoint",
        "register" => "registration_endpoint",
        "manage" => "management_endpoint",
        "introspect" => "introspection_endpoint",
        _ => "revocation_endpoint",
    };
    match variant {
        "client-assertion-long-exp-accepted" | "fhir-token-in-query-accepted" => {
            requirement(p, variant).await
        }
        "metadata-no-smart-service" => {
            let metadata = p.read("metadata", None).await.json();
            let code = &metadata["rest"][0]["security"]["service"][0]["coding"][0]["code"];
            ensure(code == "SMART-on-FHIR", code.to_string())
        }
        _ if variant.starts_with("metadata-") && variant.ends_with("-differs") => {
            let name = &variant["metadata-".len()..variant.len() - "-differs".len()];
            let config = p.read(".well-known/smart-configuration", None).await.json();
            let metadata = p.read("metadata", None).await.json();
            let uris = metadata["rest"][0]["security"]["extension"]
                .as_array()
                .and_then(|e| {
                    e.iter()
                        .find(|x| x["url"].as_str().is_some_and(|u| u.ends_with("oauth-uris")))
                })
                .cloned()
                .unwrap_or(Value::Null);
            let uri = uris["extension"]
                .as_array()
                .and_then(|e| e.iter().find(|x| x["url"] == name))
                .map(|x| x["valueUri"].clone())
                .unwrap_or(Value::Null);
            ensure(
                uri == config[field(name)],
                format!("{uri} vs {}", config[field(name)]),
            )
        }
        "registration-update-keeps-secret" => {
            let body = json!({
                "client_name": "update test",
                "redirect_uris": [CALLBACK],
                "grant_types": ["authorization_code"],
                "token_endpoint_auth_method": "client_secret_basic",
            });
            let reg = p
                .send(p.http.post(p.url("/register")).json(&body))
                .await
                .json();
            let uri = reg["registration_client_uri"]
                .as_str()
                .ok_or("no registration_client_uri")?;
            let token = reg["registration_access_token"]
                .as_str()
                .ok_or("no token")?;
            let update = json!({
                "client_id": reg["client_id"],
                "client_name": "update test",
                "redirect_uris": [CALLBACK],
                "grant_types": ["authorization_code"],
                "token_endpoint_auth_method": "none",
            });
            let r = p
                .send(p.http.put(uri).bearer_auth(token).json(&update))
                .await;
            ensure(
                r.status == 200 && r.json().get("client_secret").is_none(),
                r.body,
            )
        }
        "id-token-fhir-user-relative" => {
            let (_, body, _) = p.tokens(SCOPE, "amy-shaw").await;
            let user = id_token_claims(&body)["fhirUser"].clone();
            ensure(
                user.as_str().is_some_and(|u| u.starts_with("http")),
                user.to_string(),
            )
        }
        "id-token-fhir-user-unresolvable" => {
            let (_, body, _) = p.tokens(SCOPE, "amy-shaw").await;
            let user = id_token_claims(&body)["fhirUser"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let path = user.rsplit_once("/fhir/").map(|(_, p)| p).unwrap_or(&user);
            let r = p.read(path, body["access_token"].as_str()).await;
            ensure(r.status == 200, format!("{user}: {}", r.status))
        }
        "refresh-narrower-scope-ignored" => {
            let (client, body, _) = p.tokens(SCOPE, "amy-shaw").await;
            let refresh = body["refresh_token"].as_str().unwrap_or_default();
            let narrower = "offline_access patient/*.rs";
            let r = p
                .token(
                    &client,
                    &[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", refresh),
                        ("scope", narrower),
                    ],
                )
                .await;
            let scope = r.json()["scope"].as_str().unwrap_or_default().to_string();
            let mut granted: Vec<&str> = scope.split(' ').collect();
            granted.sort();
            ensure(granted == ["offline_access", "patient/*.rs"], r.body)
        }
        "closes-connections" => {
            // Two requests on one keep-alive connection: both are answered by default.
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut stream = tokio::net::TcpStream::connect(p.server.addr)
                .await
                .map_err(|e| e.to_string())?;
            let request = format!(
                "GET /fhir/metadata HTTP/1.1\r\nHost: {}\r\nAccept: application/fhir+json\r\n\r\n",
                p.server.addr
            );
            let mut answers = 0;
            for _ in 0..2 {
                if stream.write_all(request.as_bytes()).await.is_err() {
                    break;
                }
                let mut seen = Vec::new();
                let mut chunk = [0u8; 4096];
                let answered = loop {
                    match tokio::time::timeout(
                        std::time::Duration::from_secs(5),
                        stream.read(&mut chunk),
                    )
                    .await
                    {
                        Ok(Ok(n)) if n > 0 => {
                            seen.extend_from_slice(&chunk[..n]);
                            // The CapabilityStatement ends with its closing brace.
                            if seen.starts_with(b"HTTP/1.1 200") && seen.ends_with(b"}") {
                                break true;
                            }
                        }
                        _ => break false,
                    }
                };
                if !answered {
                    break;
                }
                answers += 1;
            }
            ensure(answers == 2, format!("{answers} of 2 requests answered"))
        }
        "refresh-ends-old-access-tokens" => {
            // By default the access token issued before a refresh still reads after it.
            let (client, body, _) = p.tokens(SCOPE, "amy-shaw").await;
            let refresh = body["refresh_token"].as_str().unwrap_or_default();
            let r = p
                .token(
                    &client,
                    &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
                )
                .await;
            ensure(r.status == 200, format!("refresh: {}", r.body))?;
            let old = body["access_token"].as_str().unwrap_or_default();
            let read = p.read("Patient/smart-1032702", Some(old)).await;
            ensure(read.status == 200, format!("old token: {}", read.status))
        }
        "no-standalone-launch" | "no-backend-services" => {
            // By default both are offered, and discovery says so.
            let config = p.read(".well-known/smart-configuration", None).await.json();
            let (field, value) = if variant == "no-standalone-launch" {
                ("capabilities", "launch-standalone")
            } else {
                ("grant_types_supported", "client_credentials")
            };
            let listed = config[field]
                .as_array()
                .is_some_and(|a| a.iter().any(|v| v == value));
            ensure(listed, config[field].to_string())
        }
        "ehr-tenant-base" => {
            // By default the EHR launches with the one FHIR base, which offers the EHR launch.
            let config = p.read(".well-known/smart-configuration", None).await.json();
            let offers = config["capabilities"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c == "launch-ehr"));
            ensure(offers, config["capabilities"].to_string())?;
            let iss = launched_iss(p).await;
            ensure(
                iss.as_deref() == Some(p.server.fhir_base().as_str()),
                format!("launched with iss {iss:?}"),
            )
        }
        "issuer-trailing-slash" => {
            // By default the issuer is the origin, with no trailing `/`.
            let config = p.read(".well-known/smart-configuration", None).await.json();
            ensure(
                config["issuer"].as_str().is_some_and(|i| !i.ends_with('/')),
                config["issuer"].to_string(),
            )
        }
        "ehr-launch-iss-trailing-slash" => {
            // By default the EHR launches with iss = the FHIR base, with no trailing `/`.
            let iss = launched_iss(p).await;
            ensure(
                iss.as_deref() == Some(p.server.fhir_base().as_str()),
                format!("launched with iss {iss:?}"),
            )
        }
        "registration-replaces-unknown-auth-method" => {
            // By default an unknown token_endpoint_auth_method is refused.
            let body = json!({
                "redirect_uris": [CALLBACK],
                "token_endpoint_auth_method": "client_secret_carrier_pigeon",
            });
            let r = p.send(p.http.post(p.url("/register")).json(&body)).await;
            ensure(
                r.status == 400 && r.json()["error"] == "invalid_client_metadata",
                format!("{}: {}", r.status, r.body),
            )
        }
        "registration-replaces-metadata" => {
            // By default a public client is registered as asked, under its own name.
            let body = json!({
                "client_name": "mine",
                "redirect_uris": [CALLBACK],
                "token_endpoint_auth_method": "none",
            });
            let r = p.send(p.http.post(p.url("/register")).json(&body)).await;
            let j = r.json();
            ensure(
                j["token_endpoint_auth_method"] == "none"
                    && j["client_secret"].is_null()
                    && j["client_name"] == "mine",
                r.body.clone(),
            )
        }
        "registration-form-body-415" => {
            // By default a form body is refused with a 400 JSON error.
            let r = p
                .post_form("/register", &[("redirect_uris", CALLBACK)])
                .await;
            ensure(
                r.status == 400 && r.json()["error"].is_string(),
                format!("{}: {}", r.status, r.body),
            )
        }
        "auth-methods-absent" => {
            let config = p.read(".well-known/smart-configuration", None).await.json();
            ensure(
                config["token_endpoint_auth_methods_supported"].is_array(),
                config.to_string(),
            )
        }
        "backend-only" => {
            // By default the server offers launches, with an authorization endpoint.
            let config = p.read(".well-known/smart-configuration", None).await.json();
            ensure(
                config["authorization_endpoint"].is_string()
                    && config["capabilities"]
                        .as_array()
                        .is_some_and(|c| c.iter().any(|x| x == "launch-standalone")),
                config.to_string(),
            )
        }
        "registration-duplicate-kid-refused" | "registration-duplicate-kid-kept-one" => {
            // By default a JWK Set with two keys under one kid is registered (its assertions
            // fail later).
            let mut jwks: Value = serde_json::from_str(CLIENT_JWKS).unwrap();
            let twin = jwks["keys"][0].clone();
            jwks["keys"].as_array_mut().unwrap().push(twin);
            let r = p
                .send(p.http.post(p.url("/register")).json(&json!({
                    "client_name": "duplicate kid",
                    "grant_types": ["client_credentials"],
                    "response_types": [],
                    "token_endpoint_auth_method": "private_key_jwt",
                    "jwks": jwks,
                })))
                .await;
            ensure(
                r.status == 201
                    && r.json()["jwks"]["keys"]
                        .as_array()
                        .map(|keys| keys.iter().filter(|k| k["kid"] == "client-rs384").count())
                        == Some(2),
                format!("{} {}", r.status, r.body),
            )
        }
        "debug-token-bare" => {
            // By default the debug token answer states expires_in and the patient.
            let r = p
                .send(p.http.post(p.url("/oauth/debug/token")).json(&serde_json::json!({
                    "client_id": p.register("client_secret_basic", &["authorization_code"]).await.id,
                    "username": "daniel-adams",
                    "patient_id": "smart-1288992",
                })))
                .await;
            let body = r.json();
            ensure(
                body["expires_in"].is_number() && body["patient"].is_string(),
                body.to_string(),
            )
        }
        "sign-in-x-frame-options" => {
            // By default the sign-in page limits framing by CSP frame-ancestors alone.
            let client = p
                .register("client_secret_basic", &["authorization_code"])
                .await;
            let r = p.authorize(&p.authorize_params(&client, SCOPE)).await;
            let csp = r.header("content-security-policy").unwrap_or_default();
            ensure(
                csp.contains("frame-ancestors 'self'") && r.header("x-frame-options").is_none(),
                format!("{} {csp}", r.status),
            )
        }
        "openid-unadvertised" => {
            // By default a server that issues id_tokens lists sso-openid-connect.
            let config = p.read(".well-known/smart-configuration", None).await.json();
            ensure(
                config["capabilities"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|x| x == "sso-openid-connect")),
                config.to_string(),
            )
        }
        "own-scope-vocabulary" => {
            // By default the patient wildcard is listed and granted.
            let config = p.read(".well-known/smart-configuration", None).await.json();
            let client = p
                .register("client_secret_basic", &["authorization_code"])
                .await;
            let r = p
                .authorize(&p.authorize_params(&client, "patient/*.rs"))
                .await;
            let location = r.header("location").unwrap_or_default().to_string();
            ensure(
                config["scopes_supported"]
                    .as_array()
                    .is_some_and(|s| s.iter().any(|x| x == "patient/*.rs"))
                    && !location.contains("error="),
                format!("{config} / {} {location}", r.status),
            )
        }
        "authorize-default-scope" => {
            // By default an authorization request without scope is refused as invalid_scope.
            let client = p
                .register("client_secret_basic", &["authorization_code"])
                .await;
            let params: Vec<(String, String)> = p
                .authorize_params(&client, SCOPE)
                .into_iter()
                .filter(|(k, _)| k != "scope")
                .collect();
            let r = p.authorize(&params).await;
            let location = r.header("location").unwrap_or_default().to_string();
            ensure(location.contains("error=invalid_scope"), location)
        }
        "authorize-error-page-200" => {
            // By default an unknown client_id is shown an error page answered 400.
            let client = Client {
                id: "no-such-client".into(),
                secret: None,
            };
            let r = p.authorize(&p.authorize_params(&client, SCOPE)).await;
            ensure(r.status == 400, format!("{}: {}", r.status, r.body))
        }
        "response-types-token-registered-only" => {
            // By default discovery lists the code response type only.
            let config = p.read(".well-known/smart-configuration", None).await.json();
            let listed = &config["response_types_supported"];
            ensure(*listed == serde_json::json!(["code"]), listed.to_string())
        }
        "authorize-response-type-error-in-fragment" => {
            // By default response_type=token is refused in the redirect's query.
            let client = p
                .register("client_secret_basic", &["authorization_code"])
                .await;
            let mut params = p.authorize_params(&client, SCOPE);
            for (k, v) in params.iter_mut() {
                if k == "response_type" {
                    *v = "token".into();
                }
            }
            let r = p.authorize(&params).await;
            let location = r.header("location").unwrap_or_default().to_string();
            ensure(
                location.contains("?error=unsupported_response_type") && !location.contains('#'),
                location,
            )
        }
        "consent-no-deny" => {
            // By default the consent page has a deny button.
            let client = p
                .register("client_secret_basic", &["authorization_code"])
                .await;
            let page = p
                .authorize(&p.authorize_params(&client, "patient/Patient.rs"))
                .await;
            let txn = txn_of(&page.body).unwrap_or_default();
            let consent = p
                .post_form(
                    "/authorize/login",
                    &[
                        ("txn", &txn),
                        ("username", "amy-shaw"),
                        ("password", "demo-password"),
                    ],
                )
                .await;
            ensure(consent.body.contains("id=\"deny\""), consent.body)
        }
        "refresh-broader-ignored" => {
            // By default a refresh asking for more than was granted is refused.
            let (client, body, _) = p.tokens(SCOPE, "amy-shaw").await;
            let refresh = body["refresh_token"].as_str().unwrap_or_default();
            let broader = format!("{SCOPE} patient/Condition.rs user/*.rs");
            let r = p
                .token(
                    &client,
                    &[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", refresh),
                        ("scope", &broader),
                    ],
                )
                .await;
            ensure(
                r.status == 400 && r.json()["error"] == "invalid_scope",
                format!("{}: {}", r.status, r.body),
            )
        }
        "fhir-out-of-scope-search-empty" => {
            // By default a search outside the token's scopes is refused with 403.
            let (_, body, _) = p
                .tokens("launch/patient patient/Patient.rs", "amy-shaw")
                .await;
            let patient = body["patient"].as_str().unwrap_or_default();
            let r = p
                .read(
                    &format!("Condition?patient={patient}"),
                    body["access_token"].as_str(),
                )
                .await;
            ensure(r.status == 403, format!("{}: {}", r.status, r.body))
        }
        other => Err(format!("no probe for conforming switch {other}")),
    }
}

/// The `iss` the EHR simulator launches an app with.
async fn launched_iss(p: &Probe) -> Option<String> {
    let r = p
        .send(
            p.http
                .get(p.url("/ehr/launch?launch_url=http%3A%2F%2F127.0.0.1%3A9%2Flaunch")),
        )
        .await;
    r.location().and_then(|l| l.get("iss").map(str::to_string))
}

/// A conforming switch that changed nothing would make the fault matrix's "every check still
/// passes" vacuous: the clean server shows the default behaviour, the switch shows the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_conforming_switch_changes_the_behaviour_it_names() {
    let clean = Probe::start(&[]);
    let mut problems = Vec::new();
    for variant in FAULTS.iter().filter(|f| f.is_variant()).map(|f| f.name) {
        if let Err(e) = default_behaviour(&clean, variant).await {
            problems.push(format!(
                "clean server lacks the default of `{variant}`: {e}"
            ));
        }
        let switched = Probe::start(&[variant]);
        if default_behaviour(&switched, variant).await.is_ok() {
            problems.push(format!("switch `{variant}` does not change the behaviour"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_launch_with_patient_picker_gives_context_and_refreshes() {
    let p = Probe::start(&[]);
    let client = p
        .register(
            "client_secret_post",
            &["authorization_code", "refresh_token"],
        )
        .await;
    let page = p.authorize(&p.authorize_params(&client, SCOPE)).await;
    let txn = txn_of(&page.body).unwrap();
    // Wrong password: the login page again, with a message.
    let again = p
        .post_form(
            "/authorize/login",
            &[
                ("txn", &txn),
                ("username", "daniel-adams"),
                ("password", "nope"),
            ],
        )
        .await;
    assert!(again.body.contains("id=\"login-error\""));
    let picker = p
        .post_form(
            "/authorize/login",
            &[
                ("txn", &txn),
                ("username", "daniel-adams"),
                ("password", "demo-password"),
            ],
        )
        .await;
    assert!(
        picker.body.contains("id=\"patient-smart-1288992\""),
        "{}",
        picker.body
    );
    assert!(picker.body.contains("id=\"patient-smart-1032702\""));
    // A patient the user cannot see is refused.
    let refused = p
        .post_form(
            "/authorize/patient",
            &[("txn", &txn), ("patient", "smart-7321938")],
        )
        .await;
    assert_eq!(refused.status, 400);
    let consent = p
        .post_form(
            "/authorize/patient",
            &[("txn", &txn), ("patient", "smart-1032702")],
        )
        .await;
    assert!(consent
        .body
        .contains("<li class=\"scope\">patient/*.rs</li>"));
    let cb = p
        .post_form(
            "/authorize/consent",
            &[("txn", &txn), ("decision", "approve")],
        )
        .await
        .location()
        .unwrap();
    // client_secret_post: credentials in the body.
    let secret = client.secret.clone().unwrap();
    let r = p
        .post_form(
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", cb.get("code").unwrap()),
                ("redirect_uri", CALLBACK),
                ("code_verifier", VERIFIER),
                ("client_id", &client.id),
                ("client_secret", &secret),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let body = r.json();
    assert_eq!(body["patient"], "smart-1032702");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["need_patient_banner"], true);
    assert!(body["id_token"].is_string() && body["refresh_token"].is_string());
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(
        p.read("Patient/smart-1032702", Some(access)).await.status,
        200
    );
    // Narrower refresh.
    let r = p
        .post_form(
            "/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", body["refresh_token"].as_str().unwrap()),
                ("scope", "patient/*.rs"),
                ("client_id", &client.id),
                ("client_secret", &secret),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["scope"], "patient/*.rs");
    // Basic authentication is not what this client registered.
    let basic = Client {
        id: client.id.clone(),
        secret: Some(secret),
    };
    assert_eq!(error_of(&p.exchange(&basic, "x").await), "invalid_client");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ehr_launch_carries_patient_and_encounter() {
    let p = Probe::start(&[]);
    let client = p.register("none", &["authorization_code"]).await;
    let r = p
        .send(p.http.get(p.url("/ehr/launch")).query(&[
            ("launch_url", "http://127.0.0.1:8765/launch"),
            ("patient", "smart-1288992"),
            ("fhir_context", "Practitioner/smart-practitioner-71482713"),
        ]))
        .await;
    assert_eq!(r.status, 302);
    let to = r.location().unwrap();
    assert_eq!(to.get("iss"), Some(p.server.fhir_base().as_str()));
    let launch = to.get("launch").unwrap().to_string();
    let mut params = p.authorize_params(&client, "launch openid fhirUser patient/*.rs");
    params.push(("launch".into(), launch));
    let page = p.authorize(&params).await;
    let cb = p
        .finish(page, "dr-ellen-tate", true)
        .await
        .location()
        .unwrap();
    let body = p.exchange(&client, cb.get("code").unwrap()).await.json();
    assert_eq!(body["patient"], "smart-1288992");
    assert_eq!(body["encounter"], "smart-encounter-1288992-1");
    assert_eq!(
        body["fhirContext"],
        json!([{"reference": "Practitioner/smart-practitioner-71482713"}])
    );
    assert!(
        body.get("refresh_token").is_none(),
        "no offline_access asked"
    );
    // An unknown launch id is refused.
    let mut params = p.authorize_params(&client, "launch patient/*.rs");
    params.push(("launch".into(), "made-up".into()));
    let cb = p.authorize(&params).await.location().unwrap();
    assert_eq!(cb.get("error"), Some("invalid_request"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorize_post_and_unknown_client_and_scopes() {
    let p = Probe::start(&[]);
    let client = p.register("none", &["authorization_code"]).await;
    let r = p
        .send(
            p.http
                .post(p.url("/authorize"))
                .form(&p.authorize_params(&client, SCOPE)),
        )
        .await;
    assert!(
        r.body.contains("id=\"sign-in\""),
        "authorize-post shows the login page"
    );
    let mut params = p.authorize_params(&client, SCOPE);
    params[1].1 = "nobody".into();
    let r = p.authorize(&params).await;
    assert_eq!(r.status, 400);
    assert!(r.header("location").is_none());
    let mut params = p.authorize_params(&client, "admin everything");
    params.retain(|(k, _)| k != "nonce");
    let cb = p.authorize(&params).await.location().unwrap();
    assert_eq!(cb.get("error"), Some("invalid_scope"));
    assert_eq!(cb.get("state"), Some("state-123"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_endpoints_mint_and_describe_tokens_and_are_off_by_default() {
    let p = Probe::start(&[]);
    let client = p
        .register("client_secret_basic", &["authorization_code"])
        .await;
    let token = p
        .debug_token(
            &client,
            "daniel-adams",
            "smart-1288992",
            "launch/patient patient/*.read offline_access",
        )
        .await;
    let r = p
        .send(
            p.http
                .get(p.url("/oauth/debug/introspect"))
                .query(&[("token", &token)]),
        )
        .await;
    let j = r.json();
    assert_eq!(j["active"], true);
    assert_eq!(j["username"], "daniel-adams");
    assert_eq!(j["client_id"], client.id.as_str());
    // SMART v1 scopes read the patient's data, and search finds only that patient's.
    assert_eq!(
        p.read("Patient/smart-1288992", Some(&token)).await.status,
        200
    );
    let bundle = p
        .read("Observation?patient=smart-1288992", Some(&token))
        .await
        .json();
    assert_eq!(bundle["total"], 2);
    let other = p
        .read("Observation?patient=smart-7321938", Some(&token))
        .await
        .json();
    assert_eq!(other["total"], 0);
    // A patient the user cannot see.
    let r = p
        .send(p.http.post(p.url("/oauth/debug/token")).json(&json!({
            "client_id": client.id, "username": "daniel-adams", "patient_id": "smart-7321938"
        })))
        .await;
    assert_eq!(r.status, 400);

    let off = ReferenceServer::start("127.0.0.1", 0, Config::default()).unwrap();
    let r = reqwest::Client::new()
        .post(format!("{}/oauth/debug/token", off.origin()))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_services_with_rs384_and_es384_and_refusals() {
    let p = Probe::start(&[]);
    let c = p.register("private_key_jwt", &["client_credentials"]).await;
    for kid in ["client-rs384", "client-es384"] {
        let r = p.backend(&p.assertion(&c, kid, json!({}))).await;
        assert_eq!(r.status, 200, "{kid}: {}", r.body);
        let token = r.json()["access_token"].as_str().unwrap().to_string();
        assert_eq!(
            p.read("Patient/smart-7321938", Some(&token)).await.status,
            200
        );
    }
    // alg none and an unknown kid.
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let none = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "kid": "client-rs384"})),
        b64(
            json!({"iss": c.id, "sub": c.id, "aud": p.url("/token"), "exp": 9999999999i64, "jti": "n"})
        )
    );
    assert_eq!(p.backend(&none).await.status, 401);
    let unknown = p.assertion(&c, "client-rs999", json!({}));
    assert_eq!(p.backend(&unknown).await.status, 401);
    // Non-system scopes are refused.
    let r = p
        .post_form(
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("scope", "patient/*.rs"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                (
                    "client_assertion",
                    &p.assertion(&c, "client-rs384", json!({})),
                ),
            ],
        )
        .await;
    assert_eq!(error_of(&r), "invalid_scope");
}

#[test]
fn every_fault_is_covered_by_a_suite_check_or_a_direct_probe() {
    assert!(FAULTS.len() >= 40);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let p = Probe::start(&[]);
    for fault in direct_faults() {
        let r = runtime.block_on(requirement(&p, fault));
        assert!(
            !matches!(&r, Err(e) if e.starts_with("no direct probe")),
            "{fault} has neither suite checks nor a probe"
        );
    }
}

#[test]
fn latency_holds_back_every_answer() {
    // `serve-reference --latency` for benchmarks: each answer comes no sooner than asked.
    let latency = std::time::Duration::from_millis(300);
    let server = ReferenceServer::start_with_latency(
        "127.0.0.1",
        0,
        Config {
            faults: Faults::none(),
            debug_endpoints: false,
            ..Default::default()
        },
        latency,
    )
    .expect("server starts");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for path in ["/.well-known/smart-configuration", "/metadata"] {
        let started = std::time::Instant::now();
        let status = runtime.block_on(async {
            reqwest::get(format!("{}{path}", server.fhir_base()))
                .await
                .unwrap()
                .status()
        });
        assert_eq!(status, 200, "{path}");
        assert!(
            started.elapsed() >= latency,
            "{path}: {:?}",
            started.elapsed()
        );
    }
}
