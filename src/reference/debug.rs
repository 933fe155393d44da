//! The S4S reference stack's development endpoints (`--debug-endpoints` only): mint a token for
//! a client, user and patient without a browser, and look a token up.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::oauth::Params;
use super::server::Shared;
use super::store::{now, Grant};

fn reply(status: StatusCode, body: Value) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.to_string(),
    )
        .into_response()
}

fn http_date(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
        .unwrap_or_default()
}

/// `POST /oauth/debug/token` with a JSON body: `client_id`, `username`, `patient_id`, and
/// optionally `scope`, `access_lifetime` (seconds) and `approval_expires` (Unix time).
pub async fn token(State(shared): State<Shared>, body: Bytes) -> Response {
    let Ok(Value::Object(req)) = serde_json::from_slice::<Value>(&body) else {
        return reply(
            StatusCode::BAD_REQUEST,
            json!({"error": "the body must be a JSON object"}),
        );
    };
    let field = |name: &str| req.get(name).and_then(Value::as_str).map(str::to_string);
    let Some(client_id) =
        field("client_id").filter(|id| shared.store.lock().clients.contains_key(id))
    else {
        return reply(
            StatusCode::BAD_REQUEST,
            json!({"error": "client_id must name a registered client"}),
        );
    };
    let Some(user) = field("username").and_then(|u| shared.data.user(&u).cloned()) else {
        return reply(
            StatusCode::BAD_REQUEST,
            json!({"error": "unknown username"}),
        );
    };
    let patient = field("patient_id");
    if let Some(p) = &patient {
        if !user.patients.contains(p) {
            return reply(
                StatusCode::BAD_REQUEST,
                json!({"error": "the user has no access to that patient"}),
            );
        }
    }
    let scope =
        field("scope").unwrap_or_else(|| "launch/patient patient/*.read offline_access".into());
    let lifetime = req
        .get("access_lifetime")
        .and_then(Value::as_i64)
        .filter(|_| !shared.faults.has("debug-token-lifetime-ignored"))
        .unwrap_or(3600);
    let approval_expires = req
        .get("approval_expires")
        .and_then(Value::as_f64)
        .map(|t| t as i64)
        .filter(|_| !shared.faults.has("debug-token-approval-ignored"))
        .unwrap_or(now() + 365 * 24 * 3600);
    let grant = Grant {
        client_id,
        scope: scope.clone(),
        username: Some(user.username.clone()),
        fhir_user: Some(format!("{}/{}", shared.fhir_base(), user.fhir_user)),
        patient,
        encounter: None,
        fhir_context: Vec::new(),
        nonce: None,
        approval_expires,
        aud: None,
    };
    let with_refresh = !shared.faults.has("debug-token-no-refresh");
    let issued = shared.store.lock().issue(&grant, lifetime, with_refresh);
    if shared.faults.has("debug-token-bare") {
        // As the S4S reference stack answers: the two tokens and nothing else.
        return reply(
            StatusCode::OK,
            json!({
                "access_token": issued.access_token,
                "refresh_token": issued.refresh_token,
            }),
        );
    }
    reply(
        StatusCode::OK,
        json!({
            "access_token": issued.access_token,
            "refresh_token": issued.refresh_token,
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
            "scope": scope,
            "patient": grant.patient,
        }),
    )
}

/// `GET /oauth/debug/introspect?token=...` (access or refresh token).
pub async fn introspect(State(shared): State<Shared>, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.as_deref().unwrap_or_default()).unwrap_or_default();
    let Some(token) = params.get("token") else {
        return reply(
            StatusCode::BAD_REQUEST,
            json!({"error": "token is missing"}),
        );
    };
    let store = shared.store.lock();
    let (grant, access_expires, access, refresh) = if let Some(t) = store.access_tokens.get(token) {
        (
            t.grant.clone(),
            Some(t.expires),
            Some(token.to_string()),
            t.refresh_token.clone(),
        )
    } else if let Some(r) = store.refresh_tokens.get(token) {
        (r.grant.clone(), None, None, Some(token.to_string()))
    } else {
        return reply(StatusCode::OK, json!({"active": false}));
    };
    let active = access_expires.map_or(grant.approval_expires, |e| e) > now()
        && !shared.faults.has("debug-introspect-inactive");
    reply(
        StatusCode::OK,
        json!({
            "active": active,
            "access_token": access,
            "refresh_token": refresh,
            "access_expires": access_expires.map(http_date),
            "approval_expires": http_date(grant.approval_expires),
            "client_id": grant.client_id,
            "scope": grant.scope,
            "username": grant.username,
            "patient": grant.patient,
            "token_type": "Bearer",
            "security_labels": [],
        }),
    )
}
