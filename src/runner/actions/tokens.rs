//! Token requests: `exchange-code` (RFC 6749 §4.1.3 with every client authentication kind),
//! `verify-id-token` (OpenID Connect), `client-credentials` (SMART Backend Services) and
//! `debug-token` (the S4S development endpoint).

use super::*;

impl CaseState {
    /// `exchange-code`.
    pub async fn exchange_code(
        &mut self,
        action: &ExchangeCodeAction,
        run: &TargetRun,
        context: &Value,
        settings: &RunSettings,
    ) -> ActionResult {
        let endpoint = tri!(render(&action.endpoint, context));
        let Some(auth) = self.authorizations.get(&action.from) else {
            return ActionResult::skip(format!(
                "prerequisite missing: step `{}` made no authorization",
                action.from
            ));
        };
        let code = match &action.code {
            Some(c) => tri!(render(c, context)),
            None => match &auth.code {
                Some(c) => c.clone(),
                None => {
                    return ActionResult::skip(format!(
                        "prerequisite missing: the authorization of step `{}` returned no code",
                        action.from
                    ))
                }
            },
        };
        let client_step = action
            .client
            .clone()
            .unwrap_or_else(|| auth.client_step.clone());
        let client = tri!(with_auth_choice(
            tri!(self.client_of(&client_step)),
            action.client_auth
        ));
        let redirect_uri = match &action.redirect_uri {
            _ if action.without_redirect_uri => None,
            Some(r) => Some(tri!(render(r, context))),
            None => Some(auth.redirect_uri.clone()),
        };
        let verifier = auth
            .verifier
            .as_ref()
            .map(|v| v.expose_secret().to_string());
        let code_verifier = match action.verifier {
            VerifierChoice::Match => verifier,
            VerifierChoice::Missing => None,
            VerifierChoice::Blank => Some(String::new()),
            VerifierChoice::Wrong => Some(pkce::new_verifier().expose_secret().to_string()),
            VerifierChoice::Challenge => match &auth.challenge {
                Some(c) => Some(c.clone()),
                None => return ActionResult::skip("the authorization sent no code_challenge"),
            },
        };
        let mut request = match token::code_exchange_request(
            &endpoint,
            &client,
            &token::CodeExchange {
                code,
                redirect_uri,
                code_verifier,
            },
        ) {
            Ok(r) => r,
            Err(e) => return ActionResult::error(e),
        };
        if let Some(origin) = &action.origin {
            request
                .headers
                .push(("Origin".into(), tri!(render(origin, context))));
        }
        send(run, request, settings).await
    }

    /// `verify-id-token`.
    pub async fn verify_id_token(
        &mut self,
        action: &VerifyIdTokenAction,
        run: &TargetRun,
        context: &Value,
        settings: &RunSettings,
    ) -> ActionResult {
        let token = tri!(render(&action.token, context));
        // An id_token that came back is verified whatever discovery said: a server that
        // publishes no key set to check it by has that as its finding (the signature check
        // fails with it), and the claims are still read.
        let jwks_uri = match render(&action.jwks_uri, context) {
            Ok(uri) => Some(uri),
            Err(ActionEnd::Skip(why)) => {
                tracing::debug!("no JWK Set to verify the id_token by: {why}");
                None
            }
            Err(end) => return end.into(),
        };
        let client = tri!(self.client_of(&action.client));
        let advertised = tri!(advertised_algs(action, context));
        let Some(jwks_uri) = jwks_uri else {
            let now = chrono::Utc::now().timestamp();
            let mut document = id_token::verify(
                &token,
                &json!({"keys": []}),
                &client.client_id,
                &advertised,
                now,
            );
            document["verdict"]["signature"] = json!(
                "not verifiable: the server publishes no JWK Set (no jwks_uri), so no app can check the id_token it issued"
            );
            return ActionResult {
                document: Some(document),
                ..Default::default()
            };
        };
        let request = OutgoingRequest {
            method: "GET".into(),
            url: jwks_uri,
            headers: vec![("Accept".into(), "application/json".into())],
            body: None,
        };
        let exchange = run.client.send(request, &settings.cancel).await;
        let jwks: Option<Value> = exchange
            .response
            .as_ref()
            .filter(|r| r.status == 200)
            .and_then(|r| serde_json::from_str(&r.body).ok());
        let Some(jwks) = jwks else {
            return ActionResult {
                related: vec![exchange],
                end: Some(ActionEnd::Error(
                    "the JWKS could not be fetched as JSON, so the id_token cannot be verified"
                        .into(),
                )),
                ..Default::default()
            };
        };
        let now = chrono::Utc::now().timestamp();
        let document = id_token::verify(&token, &jwks, &client.client_id, &advertised, now);
        ActionResult {
            document: Some(document),
            related: vec![exchange],
            ..Default::default()
        }
    }

    /// `client-credentials` (SMART Backend Services).
    pub async fn client_credentials(
        &mut self,
        step_id: &str,
        action: &ClientCredentialsAction,
        run: &TargetRun,
        context: &Value,
        settings: &RunSettings,
    ) -> ActionResult {
        let endpoint = tri!(render(&action.endpoint, context));
        let scope = tri!(render(&action.scope, context));
        let client = tri!(self.client_of(&action.client));
        if !matches!(client.auth, ClientAuth::PrivateKeyJwt { .. }) {
            return ActionResult::skip(NOT_A_BACKEND_CLIENT);
        }
        let assertion = match &action.replay {
            Some(earlier) => match self.assertions.get(earlier) {
                Some(a) => a.clone(),
                None => {
                    return ActionResult::skip(format!(
                        "prerequisite missing: step `{earlier}` sent no assertion"
                    ))
                }
            },
            None => tri!(new_assertion(
                &action.assertion,
                &client,
                &endpoint,
                context
            )),
        };
        settings.redactor.register(&assertion);
        self.assertions
            .insert(step_id.to_string(), assertion.clone());
        let mut encoder = url::form_urlencoded::Serializer::new(String::new());
        if !action.without_grant_type {
            encoder.append_pair(
                "grant_type",
                action.grant_type.as_deref().unwrap_or("client_credentials"),
            );
        }
        encoder
            .append_pair("scope", &scope)
            .append_pair(
                "client_assertion_type",
                action
                    .assertion_type
                    .as_deref()
                    .unwrap_or("urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            )
            .append_pair("client_assertion", assertion.expose_secret());
        let request = OutgoingRequest {
            method: "POST".into(),
            url: endpoint,
            headers: vec![
                (
                    "Content-Type".into(),
                    "application/x-www-form-urlencoded".into(),
                ),
                ("Accept".into(), "application/json".into()),
            ],
            body: Some(encoder.finish()),
        };
        send(run, request, settings).await
    }

    /// `debug-token`.
    pub async fn debug_token(
        &mut self,
        action: &DebugTokenAction,
        run: &TargetRun,
        context: &Value,
        settings: &RunSettings,
    ) -> ActionResult {
        let endpoint = match (&action.endpoint, &run.target.debug_token_endpoint) {
            (Some(e), _) => tri!(render(e, context)),
            (None, Some(e)) => e.clone(),
            (None, None) => {
                return ActionResult::skip(format!(
                    "the target has no `debug-token-endpoint` ({})",
                    run.target.file
                ))
            }
        };
        let client = tri!(self.client_of(&action.client));
        let var = |name: &str| {
            run.target
                .vars
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let user = match &action.user {
            Some(u) => tri!(render(u, context)),
            None => match var("user") {
                Some(u) => u,
                None => {
                    return ActionResult::skip(
                        "no user: set `user` on the step or `vars.user` in the target",
                    )
                }
            },
        };
        let mut body = json!({
            "client_id": client.client_id,
            "username": user,
            "scope": tri!(render(&action.scope, context)),
        });
        let patient = match &action.patient {
            Some(p) => Some(tri!(render(p, context))),
            None => var("patient"),
        };
        if let Some(p) = patient {
            body["patient_id"] = json!(p);
        }
        if let Some(seconds) = action.access_lifetime {
            body["access_lifetime"] = json!(seconds);
        }
        if let Some(seconds) = action.approval_expires_in {
            body["approval_expires"] = json!(chrono::Utc::now().timestamp() + seconds as i64);
        }
        let request = OutgoingRequest {
            method: "POST".into(),
            url: endpoint,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: Some(body.to_string()),
        };
        let mut result = send(run, request, settings).await;
        // A development endpoint the target names that does not answer with a token: the
        // checks of the token cannot be judged, and the reason is the answer's status, not
        // the shape of a body that is no token answer.
        let status = result
            .exchange
            .as_ref()
            .and_then(|e| e.response.as_ref())
            .map(|r| r.status);
        if result.end.is_none() {
            if let Some(status) = status.filter(|s| !(200..300).contains(s)) {
                result.end = Some(ActionEnd::Error(format!(
                    "the debug token endpoint the target names (`debug-token-endpoint` in {}) answered {status}, not a token",
                    run.target.file
                )));
            }
        }
        result
    }
}

impl Builtin for ExchangeCodeAction {
    async fn run(&self, i: StepInput<'_>) -> ActionResult {
        i.state
            .exchange_code(self, i.run, i.context, i.settings)
            .await
    }
}

impl Builtin for VerifyIdTokenAction {
    async fn run(&self, i: StepInput<'_>) -> ActionResult {
        i.state
            .verify_id_token(self, i.run, i.context, i.settings)
            .await
    }
}

impl Builtin for DebugTokenAction {
    async fn run(&self, i: StepInput<'_>) -> ActionResult {
        i.state
            .debug_token(self, i.run, i.context, i.settings)
            .await
    }
}

impl Builtin for ClientCredentialsAction {
    async fn run(&self, i: StepInput<'_>) -> ActionResult {
        i.state
            .client_credentials(i.step_id, self, i.run, i.context, i.settings)
            .await
    }
}

/// The signing algorithms the server advertises for id_tokens. Without an OpenID
/// configuration to read, RS256, which every OpenID Provider must offer (OpenID Connect
/// Discovery §3), is the algorithm an app expects.
fn advertised_algs(
    action: &VerifyIdTokenAction,
    context: &Value,
) -> Result<Vec<String>, ActionEnd> {
    let algs = match action.algs.as_deref().map(|t| render_value(t, context)) {
        Some(Err(ActionEnd::Skip(_))) | None => None,
        Some(other) => Some(other?),
    };
    match algs {
        Some(Value::Array(items)) => Ok(items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()),
        Some(other) => Err(ActionEnd::Error(format!(
            "`algs` must name a JSON array of algorithm names, not {other}"
        ))),
        None => Ok(vec!["RS256".to_string()]),
    }
}

/// Why a client that is not `private_key_jwt` gets no client assertion.
const NOT_A_BACKEND_CLIENT: &str = "backend services need a private_key_jwt client";

/// A new client assertion for `client`, made the way the step's tweaks say: signed with the
/// client's key, or unsigned, or with HMAC over its public key, or with another key.
fn new_assertion(
    tweaks: &crate::suite::model::AssertionTweaks,
    client: &Client,
    endpoint: &str,
    context: &Value,
) -> Result<Secret, ActionEnd> {
    let ClientAuth::PrivateKeyJwt {
        key,
        kid,
        alg,
        public_pem,
    } = &client.auth
    else {
        return Err(ActionEnd::Skip(NOT_A_BACKEND_CLIENT.into()));
    };
    let claims = tweaked_claims(tweaks, &client.client_id, endpoint, context)?;
    let kid = tweaks.kid.as_deref().unwrap_or(kid);
    let sign = |key: &crate::smart::client::Signer| {
        crate::smart::client::sign_assertion(&claims, key, kid).map_err(ActionEnd::Error)
    };
    if tweaks.unsigned {
        Ok(crate::smart::client::unsigned_jwt(kid, &claims))
    } else if tweaks.hs256_with_public_key {
        // The client's own public key, as a server that verifies with "the key" whatever the
        // alg holds it: its SPKI PEM.
        let public = public_pem.as_ref().as_ref().map_err(|why| {
            ActionEnd::Skip(format!(
                "the client's public key could not be derived from its private key: {why}"
            ))
        })?;
        sign(&crate::smart::client::Signer::hmac(public.as_bytes()))
    } else if tweaks.wrong_key {
        sign(&not_the_clients_key(*alg).map_err(ActionEnd::Error)?)
    } else {
        let jku = match &tweaks.jku {
            Some(j) => Some(render(j, context)?),
            None => None,
        };
        crate::smart::client::sign_assertion_with_jku(&claims, key, kid, jku.as_deref())
            .map_err(ActionEnd::Error)
    }
}

/// The claims of a client assertion, with the step's changes (`aud`, `sub`, `iss`, `nbf`,
/// claims left out).
fn tweaked_claims(
    tweaks: &crate::suite::model::AssertionTweaks,
    client_id: &str,
    endpoint: &str,
    context: &Value,
) -> Result<Value, ActionEnd> {
    let aud = match &tweaks.aud {
        Some(a) => render(a, context)?,
        None => endpoint.to_string(),
    };
    let lifetime = tweaks.lifetime.unwrap_or(300);
    let mut claims = crate::smart::client::assertion_claims(client_id, &aud, lifetime);
    if let Some(sub) = &tweaks.sub {
        claims["sub"] = json!(render(sub, context)?);
    }
    if let Some(iss) = &tweaks.iss {
        claims["iss"] = json!(render(iss, context)?);
    }
    if let Some(seconds) = tweaks.not_before {
        claims["nbf"] = json!(chrono::Utc::now().timestamp() + seconds);
    }
    if let Some(object) = claims.as_object_mut() {
        for claim in &tweaks.omit {
            object.remove(claim.name());
        }
    }
    Ok(claims)
}
