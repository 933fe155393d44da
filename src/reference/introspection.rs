//! Token introspection (RFC 7662; SMART App Launch 2.2 §Token Introspection) and revocation
//! (RFC 7009).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::oauth::{authenticate, error, is_form, no_store_json, Params};
use super::scopes;
use super::server::Shared;
use super::store::{now, Client};

async fn form_and_client(
    shared: &Shared,
    headers: &HeaderMap,
    body: &Bytes,
    auth_optional: bool,
) -> Result<(Params, Option<Client>), Response> {
    if !is_form(headers) {
        return Err(error(
            shared,
            "invalid_request",
            "the request must be form-encoded",
        ));
    }
    let params = Params::parse(&String::from_utf8_lossy(body))
        .map_err(|e| error(shared, "invalid_request", &e))?;
    let bare = headers.get(axum::http::header::AUTHORIZATION).is_none()
        && params.get("client_id").is_none()
        && params.get("client_assertion").is_none();
    if bare && auth_optional {
        return Ok((params, None));
    }
    let client = authenticate(shared, headers, &params)
        .await
        .map_err(|e| e.respond(shared))?;
    Ok((params, Some(client)))
}

/// `POST /introspect` (RFC 7662 §2). Callers authenticate as a registered client.
pub async fn introspect(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let open = shared.faults.has("introspection-no-auth-required");
    // SMART 2.2: a caller may authenticate with a SMART Backend Service bearer token; this
    // server takes any active token with a system/ scope.
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_string());
    let params = match bearer {
        Some(t) if !shared.faults.has("introspection-bearer-refused") => {
            // Wrong on purpose under the fault: any bearer value is taken as authorization.
            let allowed = shared.faults.has("introspection-bearer-unchecked")
                || shared
                    .store
                    .lock()
                    .active_access_token(&t)
                    .is_some_and(|a| {
                        scopes::split(&a.grant.scope)
                            .iter()
                            .any(|s| s.starts_with("system/"))
                    });
            if !allowed {
                return error(
                    &shared,
                    "invalid_client",
                    "the bearer token may not introspect (it needs a system/ scope)",
                );
            }
            if shared.faults.has("introspection-bearer-sees-nothing") {
                return no_store_json(&shared, StatusCode::OK, &json!({"active": false}));
            }
            match Params::parse(&String::from_utf8_lossy(&body)) {
                Ok(p) => p,
                Err(e) => return error(&shared, "invalid_request", &e),
            }
        }
        _ => match form_and_client(&shared, &headers, &body, open).await {
            Ok((params, _)) => params,
            Err(r) => return r,
        },
    };
    let Some(token) = params.get("token") else {
        return error(&shared, "invalid_request", "token is missing");
    };
    let mut body = describe(&shared, token);
    if shared.faults.has("introspection-active-missing") {
        // Wrong on purpose: RFC 7662 §2.2 requires `active`.
        if let Some(fields) = body.as_object_mut() {
            fields.remove("active");
        }
    }
    no_store_json(&shared, StatusCode::OK, &body)
}

/// What introspection says about a token: only `active: false` for anything not active
/// (RFC 7662 §2.2).
pub fn describe(shared: &Shared, token: &str) -> Value {
    let store = shared.store.lock();
    let found = if shared.faults.has("introspection-expired-active") {
        store.access_tokens.get(token)
    } else {
        store.active_access_token(token)
    };
    let (grant, exp, iat) = if let Some(t) = found {
        (t.grant.clone(), t.expires, Some(t.issued_at))
    } else if let Some(r) = store
        .refresh_tokens
        .get(token)
        .filter(|r| r.grant.approval_expires > now())
    {
        (r.grant.clone(), r.grant.approval_expires, None)
    } else if shared.faults.has("introspection-garbage-active") {
        return json!({"active": true});
    } else if shared.faults.has("introspection-inactive-explained") {
        return json!({"active": false, "error": "the token is unknown or expired"});
    } else {
        return json!({"active": false});
    };
    let faults = &shared.faults;
    if faults.has("introspection-always-inactive") {
        return json!({"active": false});
    }
    let scope = if faults.has("introspection-scope-wrong") {
        format!("{} user/*.rs", grant.scope)
    } else {
        grant.scope.clone()
    };
    let mut body = json!({
        "active": true,
        "scope": scope,
        "client_id": grant.client_id,
        "exp": exp,
        "token_type": "Bearer",
        "iss": shared.issuer(),
    });
    if faults.has("introspection-no-iss") {
        body.as_object_mut().map(|b| b.remove("iss"));
    }
    if faults.has("introspection-client-id-missing") {
        body.as_object_mut().map(|b| b.remove("client_id"));
    }
    if faults.has("introspection-exp-missing") {
        body.as_object_mut().map(|b| b.remove("exp"));
    }
    if let Some(iat) = iat {
        body["iat"] = json!(iat);
    }
    if let Some(u) = &grant.username {
        body["sub"] = if faults.has("introspection-sub-differs") {
            json!(format!("{u}-account"))
        } else {
            json!(u)
        };
        body["username"] = json!(u);
    }
    if let Some(p) = grant
        .patient
        .as_ref()
        .filter(|_| !faults.has("introspection-no-patient"))
    {
        body["patient"] = json!(p);
    }
    if let Some(e) = &grant.encounter {
        body["encounter"] = json!(e);
    }
    if let Some(f) = grant
        .fhir_user
        .as_ref()
        // SMART: fhirUser is reported when the `fhirUser` scope was granted.
        .filter(|_| super::scopes::has(&grant.scope, "fhirUser"))
        .filter(|_| !faults.has("introspection-no-fhir-user"))
    {
        body["fhirUser"] = json!(f);
    }
    body
}

/// `POST /revoke` (RFC 7009 §2.1). Unknown tokens are answered 200 (§2.2).
/// Under the fault `revocation-without-client-auth`: a request that names a client by
/// `client_id` and authenticates in no way, taken as that client's.
fn named_without_auth(
    shared: &Shared,
    headers: &HeaderMap,
    body: &Bytes,
) -> Option<(Params, Option<Client>)> {
    let params = Params::parse(&String::from_utf8_lossy(body)).ok()?;
    let bare = headers.get(axum::http::header::AUTHORIZATION).is_none()
        && params.get("client_secret").is_none()
        && params.get("client_assertion").is_none();
    if !bare || !shared.faults.has("revocation-without-client-auth") {
        return None;
    }
    let client = shared
        .store
        .lock()
        .clients
        .get(params.get("client_id")?)
        .cloned()?;
    Some((params, Some(client)))
}

pub async fn revoke(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let faults = &shared.faults;
    // Fault: a request that names a client but does not authenticate it is taken as that
    // client's (RFC 7009 §2.1: the server first validates the client credentials).
    let (params, client) = match form_and_client(&shared, &headers, &body, false).await {
        Ok(x) => x,
        Err(refused) => match named_without_auth(&shared, &headers, &body) {
            Some(taken) => taken,
            None => return refused,
        },
    };
    let client = client.map(|c| c.client_id).unwrap_or_default();
    let Some(token) = params.get("token") else {
        return error(&shared, "invalid_request", "token is missing");
    };
    if let Err(refused) = revoke_token(&shared, &params, token, &client) {
        return refused;
    }
    let status = if faults.has("revocation-success-204") {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::OK
    };
    let mut response = status.into_response();
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        "no-store".parse().expect("valid"),
    );
    response
}

/// The token revoked, when `client` may revoke it (RFC 7009 §2.1); the refusal when not.
fn revoke_token(
    shared: &Shared,
    params: &Params,
    token: &str,
    client: &str,
) -> Result<(), Response> {
    let faults = &shared.faults;
    let mut store = shared.store.lock();
    // RFC 7009 §2.1: a server that cannot find the token under the hint "MUST extend its
    // search across all of its supported token types"; under the fault it looks only there.
    let hint = params
        .get("token_type_hint")
        .filter(|_| faults.has("revocation-hint-trusted"));
    let as_access = || {
        store
            .access_tokens
            .get(token)
            .map(|t| t.grant.client_id.clone())
    };
    let as_refresh = || {
        store
            .refresh_tokens
            .get(token)
            .map(|t| t.grant.client_id.clone())
    };
    let owner = match hint {
        Some("access_token") => as_access(),
        Some("refresh_token") => as_refresh(),
        _ => as_access().or_else(as_refresh),
    };
    match owner {
        None if faults.has("revocation-unknown-token-error") => {
            drop(store);
            return Err(error(shared, "invalid_request", "unknown token"));
        }
        None => {}
        // Fault: another client's token is revoked like the client's own.
        Some(owner) if owner != client && !faults.has("revocation-other-client-accepted") => {
            drop(store);
            // RFC 7009 §2.1: the server "verifies whether the token was issued to the client making
            // the revocation request. If this validation fails, the request is refused".
            return Err(error(
                shared,
                "unauthorized_client",
                "the token was issued to another client",
            ));
        }
        Some(_) => {
            if store.access_tokens.contains_key(token)
                && !faults.has("revoked-token-still-accepted")
            {
                store.access_tokens.remove(token);
            }
            if store.refresh_tokens.contains_key(token)
                && !faults.has("revoked-refresh-still-usable")
            {
                store.refresh_tokens.remove(token);
                // §2.1: access tokens of the same grant SHOULD be invalidated too.
                store
                    .access_tokens
                    .retain(|_, t| t.refresh_token.as_deref() != Some(token));
            }
        }
    }
    drop(store);
    Ok(())
}
