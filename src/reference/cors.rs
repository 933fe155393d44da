//! CORS on the token endpoint and the FHIR REST API (SMART App Launch 2.2 §Considerations for
//! Cross-Origin Resource Sharing): for requests from a client's registered origin, that is the
//! origin of one of its redirect URIs, preflights are answered and responses carry
//! `Access-Control-Allow-Origin`. The discovery documents answer every origin themselves.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::server::Shared;

/// Which switch turns CORS off for this path, for the paths this layer serves.
fn guarded(path: &str) -> Option<&'static str> {
    if path == "/token" {
        Some("token-no-cors")
    } else if path.starts_with("/fhir/")
        && !path.ends_with("/.well-known/smart-configuration")
        && !path.ends_with("/metadata")
    {
        Some("fhir-no-cors")
    } else {
        None
    }
}

/// Whether some registered client has a redirect URI on this origin.
fn registered_origin(shared: &Shared, origin: &str) -> bool {
    shared.store.lock().clients.values().any(|c| {
        c.redirect_uris
            .iter()
            .any(|r| url::Url::parse(r).is_ok_and(|u| u.origin().ascii_serialization() == origin))
    })
}

pub async fn cors(State(shared): State<Shared>, request: Request<Body>, next: Next) -> Response {
    let path = request.uri().path().to_string();
    let Some(fault) = guarded(&path) else {
        return next.run(request).await;
    };
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .map(str::to_string);
    let allowed = origin
        .as_deref()
        .filter(|o| !shared.faults.has(fault) && registered_origin(&shared, o))
        .and_then(|o| HeaderValue::from_str(o).ok());
    if request.method() == Method::OPTIONS {
        // A preflight: the browser asks before a POST with a form or a request with
        // Authorization.
        let mut response = StatusCode::NO_CONTENT.into_response();
        if let Some(origin) = allowed {
            let requested = request
                .headers()
                .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
                .cloned()
                .unwrap_or_else(|| HeaderValue::from_static("authorization, content-type"));
            let h = response.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST, PUT, DELETE"),
            );
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested);
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
            h.insert(header::VARY, HeaderValue::from_static("Origin"));
        }
        return response;
    }
    let mut response = next.run(request).await;
    if let Some(origin) = allowed {
        let h = response.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("ETag, Location, WWW-Authenticate"),
        );
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    response
}
