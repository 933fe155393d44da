//! The `refuses-everything` fault: a server that answers every request for a token, a client
//! registration, a registration's management, an introspection, a revocation or FHIR data with
//! a refusal, valid or not. Against it no refusal check may pass: each has a positive control
//! (the matching valid request) that this server refuses too.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::server::Shared;

fn json_error(status: StatusCode, code: &str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        json!({"error": code, "error_description": "this server refuses every request"})
            .to_string(),
    )
        .into_response()
}

/// Answers the request with a refusal when the fault is on and the path is one it refuses;
/// discovery documents, keys and the browser pages are served as usual (the authorization
/// request itself is refused in `authorize`).
pub async fn refuse_everything(
    State(shared): State<Shared>,
    request: Request<Body>,
    next: Next,
) -> Response {
    if !shared.faults.has("refuses-everything") {
        return next.run(request).await;
    }
    let path = request.uri().path();
    let discovery = path.ends_with("/.well-known/smart-configuration")
        || path.ends_with("/metadata")
        || path.starts_with("/.well-known/")
        || path == "/jwks.json"
        || path == "/smart-style.json";
    if discovery || path.starts_with("/authorize") || path.starts_with("/ehr/") {
        return next.run(request).await;
    }
    match (request.method(), path) {
        (&Method::POST, "/register") => {
            json_error(StatusCode::BAD_REQUEST, "invalid_client_metadata")
        }
        (_, p) if p.starts_with("/manage/") => json_error(StatusCode::UNAUTHORIZED, "invalid_token"),
        (&Method::POST, "/token") | (&Method::POST, "/oauth/debug/token") => {
            json_error(StatusCode::BAD_REQUEST, "invalid_grant")
        }
        (&Method::POST, "/introspect") => json_error(StatusCode::UNAUTHORIZED, "invalid_client"),
        (&Method::POST, "/revoke") => json_error(StatusCode::BAD_REQUEST, "invalid_request"),
        (_, p) if p.starts_with("/fhir/") => (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                "Bearer error=\"invalid_token\", error_description=\"this server refuses every request\"",
            )],
        )
            .into_response(),
        _ => next.run(request).await,
    }
}
