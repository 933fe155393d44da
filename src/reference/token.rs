//! The token endpoint (RFC 6749 §4.1.3, §6; RFC 7636 §4.6; SMART App Launch 2.2 §Obtain access
//! token; SMART Backend Services): authorization_code, refresh_token and client_credentials.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{json, Map, Value};

use super::oauth::{self, authenticate, is_form, no_store_json, Params};
use super::scopes;
use super::server::Shared;
use super::store::{now, AuthMethod, Client, Code, Grant, IssuedTokens};

/// Access token lifetime for apps.
pub const ACCESS_LIFETIME: i64 = 3600;
/// Access token lifetime for backend services (SMART Backend Services: "SHOULD NOT exceed five minutes").
pub const BACKEND_LIFETIME: i64 = 300;
/// The lifetime of the access tokens of clients registered for expiry cases.
pub const EXPIRY_CASE_LIFETIME: i64 = 5;

/// A token's lifetime for this client: the usual one, except for clients whose `client_name`
/// says `token-expiry` (the harness names its clients after their case, and its expiry cases
/// end in `token-expiry`), whose tokens expire within seconds, so that those cases need not
/// wait an hour. Real servers set lifetimes per client in their own ways; this is the
/// reference server's.
fn lifetime_for(client: &Client, normal: i64) -> i64 {
    let name = client.metadata.get("client_name").and_then(Value::as_str);
    if name.is_some_and(|n| n.contains("token-expiry")) {
        EXPIRY_CASE_LIFETIME
    } else {
        normal
    }
}

/// `BASE64URL(SHA256(ASCII(code_verifier)))` (RFC 7636 §4.2), as the harness computes it.
pub use crate::smart::pkce::s256;

/// An OAuth error of the token endpoint (RFC 6749 §5.2), with the token endpoint's own faults.
fn error(shared: &Shared, code: &str, description: &str) -> Response {
    let code = if code == "invalid_grant" && shared.faults.has("token-error-code-wrong") {
        "invalid_request"
    } else {
        code
    };
    let mut response = oauth::error(shared, code, description);
    if shared.faults.has("token-error-not-json") {
        let status = response.status();
        let www = response
            .headers()
            .get(axum::http::header::WWW_AUTHENTICATE)
            .cloned();
        response = (
            status,
            [(axum::http::header::CONTENT_TYPE, "text/plain")],
            format!("error={code}: {description}"),
        )
            .into_response();
        if let Some(www) = www {
            response
                .headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, www);
        }
    }
    response
}

/// A successful token response, with the token endpoint's own faults.
fn success(shared: &Shared, body: Map<String, Value>) -> Response {
    let status = if shared.faults.has("token-success-status-201") {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut response = no_store_json(shared, status, &Value::Object(body));
    if shared.faults.has("token-content-type-wrong") {
        response.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("text/plain"),
        );
    }
    response
}

/// `POST /token`.
pub async fn token(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if !is_form(&headers) {
        return error(
            &shared,
            "invalid_request",
            "the token request must be form-encoded",
        );
    }
    let params = match Params::parse(&String::from_utf8_lossy(&body)) {
        Ok(p) => p,
        Err(e) => return error(&shared, "invalid_request", &e),
    };
    let grant_type = match params.get("grant_type") {
        // Under the fault an unknown grant type is served as client_credentials.
        Some(other)
            if !matches!(
                other,
                "authorization_code" | "refresh_token" | "client_credentials"
            ) && shared.faults.has("token-unknown-grant-type-accepted") =>
        {
            Some("client_credentials")
        }
        g => g,
    };
    match grant_type {
        Some("client_credentials") if shared.faults.has("no-backend-services") => {
            return error(
                &shared,
                "unsupported_grant_type",
                "this server offers no SMART Backend Services",
            )
        }
        Some("authorization_code" | "refresh_token" | "client_credentials") => {}
        Some(other) => {
            return error(
                &shared,
                "unsupported_grant_type",
                &format!("grant_type {other} is not supported"),
            )
        }
        // Wrong on purpose: a missing grant_type is a missing parameter (invalid_request), not
        // an unsupported grant type.
        None if shared.faults.has("token-missing-grant-type-unsupported") => {
            return error(
                &shared,
                "unsupported_grant_type",
                "grant_type is not supported",
            )
        }
        None => return error(&shared, "invalid_request", "grant_type is missing"),
    }
    let client = match client_for(&shared, &headers, &params, grant_type).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match grant_type {
        Some("authorization_code") => authorization_code(&shared, &client, &params),
        Some("refresh_token") => refresh(&shared, &client, &params),
        _ => client_credentials(&shared, &client, &params),
    }
}

async fn client_for(
    shared: &Shared,
    headers: &HeaderMap,
    params: &Params,
    grant_type: Option<&str>,
) -> Result<Client, Response> {
    let bare = headers.get(axum::http::header::AUTHORIZATION).is_none()
        && params.get("client_secret").is_none()
        && params.get("client_assertion").is_none();
    // Faults: a confidential client's grant taken without its authentication (RFC 6749 §4.1.3
    // and §6 require it), the client found by the `client_id` it names or the grant it holds.
    let unauthenticated = match grant_type {
        Some("refresh_token") => shared.faults.has("refresh-without-client-auth"),
        Some("authorization_code") => shared.faults.has("code-without-client-auth"),
        _ => false,
    };
    if bare && unauthenticated {
        let store = shared.store.lock();
        let held = || match grant_type {
            Some("refresh_token") => store
                .refresh_tokens
                .get(params.get("refresh_token").unwrap_or_default())
                .map(|t| t.grant.client_id.clone()),
            _ => store
                .codes
                .get(params.get("code").unwrap_or_default())
                .map(|c| c.grant.client_id.clone()),
        };
        let id = params.get("client_id").map(str::to_string).or_else(held);
        if let Some(client) = id.and_then(|id| store.clients.get(&id).cloned()) {
            return Ok(client);
        }
    }
    authenticate(shared, headers, params)
        .await
        .map_err(|e| match e {
            oauth::ClientAuthError::InvalidRequest(d) => error(shared, "invalid_request", &d),
            oauth::ClientAuthError::InvalidClient(d) => error(shared, "invalid_client", &d),
        })
}

fn authorization_code(shared: &Shared, client: &Client, params: &Params) -> Response {
    let faults = &shared.faults;
    if !client.grant_types.iter().any(|g| g == "authorization_code") {
        return error(
            shared,
            "unauthorized_client",
            "the client did not register authorization_code",
        );
    }
    let Some(code_value) = params.get("code") else {
        return error(shared, "invalid_request", "code is missing");
    };
    let mut store = shared.store.lock();
    let Some(code) = store.codes.get(code_value).cloned() else {
        return error(shared, "invalid_grant", "unknown authorization code");
    };
    if code.used && !faults.has("code-reusable") {
        // RFC 6749 §4.1.2: a code used twice is refused, and the tokens it gave SHOULD be revoked.
        for token in &code.issued {
            if let Some(access) = store.access_tokens.remove(token) {
                if let Some(refresh) = access.refresh_token {
                    store.refresh_tokens.remove(&refresh);
                }
            }
        }
        return error(
            shared,
            "invalid_grant",
            "the authorization code was already used",
        );
    }
    if let Some(description) = code_mismatch(faults, client, params, &code) {
        return error(shared, "invalid_grant", description);
    }
    let grant = code.grant.clone();
    let with_refresh =
        scopes::has(&grant.scope, "offline_access") || scopes::has(&grant.scope, "online_access");
    let with_refresh = with_refresh && !shared.faults.has("refresh-token-not-issued");
    let lifetime = if shared.faults.has("token-lifetime-two-hours") {
        2 * ACCESS_LIFETIME
    } else {
        ACCESS_LIFETIME
    };
    let lifetime = store
        .clients
        .get(&grant.client_id)
        .map_or(lifetime, |c| lifetime_for(c, lifetime));
    let issued = store.issue(&grant, lifetime, with_refresh);
    if let Some(c) = store.codes.get_mut(code_value) {
        c.used = true;
        c.issued.push(issued.access_token.clone());
    }
    drop(store);
    let body = token_body(shared, &grant, &issued);
    with_id_token(shared, &grant, false, body)
}

/// Why a code cannot be exchanged by this request (RFC 6749 §4.1.3, RFC 7636 §4.6): expired,
/// issued to another client, another redirect URI, or a verifier that does not match.
fn code_mismatch(
    faults: &super::faults::Faults,
    client: &Client,
    params: &Params,
    code: &Code,
) -> Option<&'static str> {
    // Wrong on purpose under the fault: a code works for ever.
    if code.expires <= now() && !faults.has("code-never-expires") {
        return Some("the authorization code has expired");
    }
    if code.grant.client_id != client.client_id && !faults.has("code-not-bound-to-client") {
        return Some("the code was issued to another client");
    }
    let sent_redirect_uri = params.get("redirect_uri");
    if sent_redirect_uri != Some(code.redirect_uri.as_str())
        && !faults.has("redirect-uri-not-checked-at-token")
        && !(sent_redirect_uri.is_none() && faults.has("redirect-uri-optional-at-token"))
    {
        return Some("redirect_uri does not match the authorization request");
    }
    if let Some(challenge) = &code.code_challenge {
        match params.get("code_verifier") {
            // Under the fault a missing (or blank) verifier passes.
            None if faults.has("pkce-verifier-optional") => {}
            None => return Some("code_verifier is missing"),
            Some(verifier) => {
                let computed = match code.code_challenge_method.as_deref() {
                    Some("plain") => verifier.to_string(),
                    _ => s256(verifier),
                };
                if &computed != challenge && !faults.has("pkce-verifier-not-checked") {
                    return Some("code_verifier does not match the code_challenge");
                }
            }
        }
    }
    None
}

/// The token response, with an id_token when openid was granted.
fn with_id_token(
    shared: &Shared,
    grant: &Grant,
    refreshed: bool,
    mut body: Map<String, Value>,
) -> Response {
    if scopes::has(&grant.scope, "openid")
        && !shared.faults.has("token-no-id-token")
        && !shared.faults.has("openid-granted-no-id-token")
    {
        match id_token(shared, grant, refreshed) {
            Ok(jwt) => {
                body.insert("id_token".into(), json!(jwt));
            }
            Err(e) => {
                return error(
                    shared,
                    "server_error",
                    &format!("cannot sign the id_token: {e}"),
                )
            }
        }
    }
    success(shared, body)
}

/// The token response fields (RFC 6749 §5.1) of the tokens issued, and the SMART launch
/// context.
fn token_body(shared: &Shared, grant: &Grant, issued: &IssuedTokens) -> Map<String, Value> {
    let access = &issued.access_token;
    let refresh = issued.refresh_token.as_deref();
    let expires_in = issued.expires_in;
    let mut body = Map::new();
    let faults = &shared.faults;
    if !faults.has("token-access-token-missing") {
        body.insert("access_token".into(), json!(access));
    }
    let token_type = if faults.has("token-type-mac") {
        "MAC"
    } else {
        "Bearer"
    };
    body.insert("token_type".into(), json!(token_type));
    if faults.has("token-expires-in-string") {
        body.insert("expires_in".into(), json!(expires_in.to_string()));
    } else if faults.has("backend-expires-in-missing") && grant.username.is_none() {
        // SMART Backend Services: expires_in is required there (RFC 6749 §5.1 only
        // recommends it), so a backend token response without it breaks the profile.
    } else {
        body.insert("expires_in".into(), json!(expires_in));
    }
    if !faults.has("token-scope-missing") {
        body.insert("scope".into(), json!(grant.scope));
    }
    if let Some(refresh) = refresh {
        body.insert("refresh_token".into(), json!(refresh));
    }
    if grant.username.is_some() {
        // SMART 2.2 (experimental): where the token may be used.
        let mut details = json!({
            "type": "smart_on_fhir",
            "locations": [shared.fhir_base()],
            "fhirVersions": ["4.0.1"]
        });
        if faults.has("token-authorization-details-incomplete") {
            details = json!({"type": "fhir", "locations": []});
        }
        body.insert("authorization_details".into(), json!([details]));
    }
    add_launch_context(shared, grant, &mut body);
    body
}

/// The SMART launch context of a grant: the patient (with the banner and style), the
/// encounter and `fhirContext`.
fn add_launch_context(shared: &Shared, grant: &Grant, body: &mut Map<String, Value>) {
    let faults = &shared.faults;
    if let Some(patient) = &grant.patient {
        if faults.has("token-patient-unresolvable") {
            body.insert("patient".into(), json!("smart-0000000"));
        } else if !faults.has("token-no-patient-context") {
            body.insert("patient".into(), json!(patient));
        }
        if faults.has("token-banner-string") {
            body.insert("need_patient_banner".into(), json!("true"));
        } else {
            body.insert("need_patient_banner".into(), json!(true));
        }
        let style = if faults.has("token-style-url-relative") {
            "/smart-style.json".to_string()
        } else {
            format!("{}/smart-style.json", shared.origin)
        };
        body.insert("smart_style_url".into(), json!(style));
    }
    if let Some(encounter) = &grant.encounter {
        if !faults.has("token-no-encounter-context") {
            body.insert("encounter".into(), json!(encounter));
        }
    }
    if !grant.fhir_context.is_empty() {
        let context: Vec<Value> = grant
            .fhir_context
            .iter()
            .map(|r| {
                if faults.has("token-fhir-context-strings") {
                    json!(r)
                } else if faults.has("token-fhir-context-empty-role") {
                    json!({"reference": r, "role": ""})
                } else {
                    json!({"reference": r})
                }
            })
            .collect();
        let mut context = context;
        if faults.has("token-fhir-context-identifier-no-type") {
            // An item named by identifier, without the type that lets an app resolve it.
            context.push(json!({
                "identifier": {"system": "urn:oid:2.16.840.1.113883.4.642.3.1", "value": "imaging-order-1"}
            }));
        }
        body.insert("fhirContext".into(), Value::Array(context));
    }
}

/// An OpenID Connect id_token (OIDC Core §2), RS256 with the server's key.
/// An id_token for the grant; `refreshed` for one a refresh returns (OpenID Connect Core
/// §12.2: the same `iss`, `sub` and `aud` as the original).
fn id_token(
    shared: &Shared,
    grant: &Grant,
    refreshed: bool,
) -> Result<String, jsonwebtoken::errors::Error> {
    let faults = &shared.faults;
    let issued = now();
    let iss = if faults.has("id-token-wrong-iss") {
        format!("{}/other-issuer", shared.origin)
    } else if refreshed && faults.has("refresh-id-token-other-iss") {
        format!("{}/refreshed", shared.origin)
    } else {
        shared.issuer()
    };
    let exp = if faults.has("id-token-expired") {
        issued - 600
    } else {
        issued + ACCESS_LIFETIME
    };
    let iat = if faults.has("id-token-iat-future") {
        issued + 3600
    } else {
        issued
    };
    let mut claims = json!({
        "iss": iss,
        "sub": match grant.username.clone().unwrap_or_default() {
            user if refreshed && faults.has("refresh-id-token-other-sub") => format!("{user}-again"),
            user => user,
        },
        "aud": if faults.has("id-token-wrong-aud") { "someone-else".to_string() } else { grant.client_id.clone() },
        "exp": exp,
        "iat": iat,
    });
    if refreshed && faults.has("refresh-id-token-no-aud") {
        claims.as_object_mut().map(|c| c.remove("aud"));
    }
    add_user_claims(shared, grant, &mut claims);
    if faults.has("id-token-unsigned") {
        let b64 =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        return Ok(format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "typ": "JWT"})),
            b64(&claims)
        ));
    }
    // Fault: another RSA algorithm than RS256, the default of a client that registered none.
    let alg = if faults.has("id-token-rs384") {
        jsonwebtoken::Algorithm::RS384
    } else {
        jsonwebtoken::Algorithm::RS256
    };
    let mut header = jsonwebtoken::Header::new(alg);
    header.kid = Some("reference-rs256".into());
    jsonwebtoken::encode(&header, &claims, &shared.signing_key)
}

/// The id_token claims about the user: `nonce`, `fhirUser` (with `fhirUser` granted) and
/// `name` (with `profile` granted).
fn add_user_claims(shared: &Shared, grant: &Grant, claims: &mut Value) {
    let faults = &shared.faults;
    if let Some(nonce) = grant
        .nonce
        .as_ref()
        .filter(|_| !faults.has("id-token-no-nonce"))
    {
        claims["nonce"] = json!(nonce);
    }
    if scopes::has(&grant.scope, "fhirUser") {
        if let Some(fhir_user) = &grant.fhir_user {
            let base = format!("{}/", shared.fhir_base());
            claims["fhirUser"] = if faults.has("id-token-fhir-user-relative") {
                json!(fhir_user.trim_start_matches(&base))
            } else if faults.has("id-token-fhir-user-wrong-type") {
                json!(format!("{base}Organization/smart-organization"))
            } else if faults.has("id-token-fhir-user-unresolvable") {
                json!(format!("{base}Practitioner/unknown-user"))
            } else {
                json!(fhir_user)
            };
        }
    }
    if scopes::has(&grant.scope, "profile") {
        if let Some(user) = grant.username.as_deref().and_then(|u| shared.data.user(u)) {
            claims["name"] = json!(user.name);
        }
    }
}

fn refresh(shared: &Shared, client: &Client, params: &Params) -> Response {
    let faults = &shared.faults;
    let Some(old) = params.get("refresh_token") else {
        return error(shared, "invalid_request", "refresh_token is missing");
    };
    let mut store = shared.store.lock();
    let Some(stored) = store.refresh_tokens.get(old).cloned() else {
        return error(shared, "invalid_grant", "unknown refresh token");
    };
    if stored.grant.client_id != client.client_id && !faults.has("refresh-other-client") {
        return error(
            shared,
            "invalid_grant",
            "the refresh token was issued to another client",
        );
    }
    if stored.grant.approval_expires <= now() {
        return error(shared, "invalid_grant", "the approval has expired");
    }
    let mut grant = stored.grant.clone();
    if let Some(asked) = params.get("scope") {
        match refreshed_scope(shared, asked, &stored.grant.scope) {
            Ok(Some(scope)) => grant.scope = scope,
            Ok(None) => {}
            Err(refused) => return refused,
        }
    }
    if faults.has("refresh-scope-grows") {
        grant.scope = format!("{} user/*.rs", grant.scope);
    }
    // Rotation: the old refresh token is spent, and the new one keeps the original grant so a
    // later refresh can ask for any of the originally granted scopes again.
    if !faults.has("refresh-old-token-reusable") {
        store.refresh_tokens.remove(old);
    }
    // Allowed too: the access tokens issued with the spent refresh token end with it.
    if faults.has("refresh-ends-old-access-tokens") {
        store
            .access_tokens
            .retain(|_, t| t.refresh_token.as_deref() != Some(old));
    }
    let issued = store.issue(&grant, ACCESS_LIFETIME, true);
    if let Some(new_refresh) = &issued.refresh_token {
        if let Some(r) = store.refresh_tokens.get_mut(new_refresh) {
            r.grant.scope = stored.grant.scope.clone();
        }
    }
    if faults.has("refresh-access-token-unusable") {
        store.access_tokens.remove(&issued.access_token);
    }
    drop(store);
    let mut body = token_body(shared, &grant, &issued);
    if faults.has("refresh-scope-missing") {
        // SMART 2.2 requires scope in a refresh response, where RFC 6749 §5.1 lets a
        // server leave it out when it equals the scope requested.
        body.remove("scope");
    }
    // OpenID Connect Core §12.2: a refresh may return an id_token; this server does when
    // openid was granted.
    with_id_token(shared, &grant, true, body)
}

/// The scope a refresh that asks for `asked` gets, when it replaces the original grant's;
/// the refusal of a scope it cannot have.
fn refreshed_scope(
    shared: &Shared,
    asked: &str,
    original: &str,
) -> Result<Option<String>, Response> {
    let faults = &shared.faults;
    if faults.has("refresh-scope-param-refused") {
        return Err(error(
            shared,
            "invalid_scope",
            "scope is not accepted when refreshing",
        ));
    }
    // RFC 6749 §6: the new scope "MUST NOT include any scope not originally granted".
    let broader = !scopes::is_subset(asked, original);
    if broader && faults.has("refresh-broader-wrong-error") {
        // Wrong on purpose: refused, but not as invalid_scope.
        return Err(error(
            shared,
            "invalid_grant",
            "the scope cannot be granted",
        ));
    }
    if broader && faults.has("refresh-broader-server-error") {
        // Wrong on purpose: neither a refusal nor the original grant.
        return Err(oauth::no_store_json(
            shared,
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({"error": "server_error", "error_description": "scope lookup failed"}),
        ));
    }
    if broader && !faults.has("refresh-broadens-scope") && !faults.has("refresh-broader-ignored") {
        return Err(error(
            shared,
            "invalid_scope",
            "the scope is broader than the original grant",
        ));
    }
    // Conforming too: the broader request is ignored and the original grant refreshed.
    let ignored = broader && faults.has("refresh-broader-ignored");
    if !faults.has("refresh-narrower-scope-ignored") && !ignored {
        return Ok(Some(asked.to_string()));
    }
    Ok(None)
}

fn client_credentials(shared: &Shared, client: &Client, params: &Params) -> Response {
    if client.auth_method == AuthMethod::None {
        return oauth::error(
            shared,
            "invalid_client",
            "public clients cannot use client_credentials",
        );
    }
    if !client.grant_types.iter().any(|g| g == "client_credentials") {
        return error(
            shared,
            "unauthorized_client",
            "the client did not register client_credentials",
        );
    }
    let Some(scope) = params.get("scope") else {
        return error(shared, "invalid_scope", "scope is required");
    };
    if let Some(refused) = backend_scope_refusal(shared, client, scope) {
        return refused;
    }
    let lifetime = if shared.faults.has("backend-token-lifetime-long") {
        ACCESS_LIFETIME
    } else {
        BACKEND_LIFETIME
    };
    let lifetime = lifetime_for(client, lifetime);
    let grant = Grant {
        client_id: client.client_id.clone(),
        scope: scope.to_string(),
        approval_expires: now() + lifetime,
        ..Grant::default()
    };
    let with_refresh = shared.faults.has("backend-refresh-token-issued");
    let issued = shared.store.lock().issue(&grant, lifetime, with_refresh);
    let body = token_body(shared, &grant, &issued);
    success(shared, body)
}

/// Why a backend client cannot have `scope` (SMART Backend Services): not only system/
/// resource scopes, a resource type this server does not serve, or beyond what the client
/// registered.
fn backend_scope_refusal(shared: &Shared, client: &Client, scope: &str) -> Option<Response> {
    // SMART Backend Services: system/ scopes only.
    if scopes::split(scope)
        .iter()
        .any(|s| !s.starts_with("system/") || scopes::ResourceScope::parse(s).is_none())
    {
        return Some(error(
            shared,
            "invalid_scope",
            "backend services get system/ resource scopes only",
        ));
    }
    // SMART Backend Services: a resource type this server does not serve is refused.
    let unserved = scopes::split(scope)
        .into_iter()
        .filter_map(scopes::ResourceScope::parse)
        .find(|s| {
            s.resource_type != "*" && !super::fhir::TYPES.contains(&s.resource_type.as_str())
        });
    // Under `backend-unsupported-type-granted` such a scope is granted, whatever the client
    // registered.
    let grant_unserved =
        unserved.is_some() && shared.faults.has("backend-unsupported-type-granted");
    if let Some(s) = unserved {
        if !grant_unserved {
            return Some(error(
                shared,
                "invalid_scope",
                &format!("this server does not serve {}", s.resource_type),
            ));
        }
    }
    // SMART Backend Services: the scope asked for must be within what the client registered.
    if let Some(registered) = &client.scope {
        if !scopes::is_subset(scope, registered)
            && !shared.faults.has("backend-scope-not-mediated")
            && !grant_unserved
        {
            return Some(error(
                shared,
                "invalid_scope",
                "the scope asked for is beyond the scope this client is authorized for",
            ));
        }
    }
    None
}
