//! Credentials stay on their origins: a server whose discovery names endpoints on another
//! loopback host (127.0.0.2) gets the target's headers at its own origin, while the other host
//! receives neither the headers nor the initial access token, and the report says why. Listing
//! the other origin under `credential-origins` lets them through (so the test can fail).

mod common;

use std::net::SocketAddr;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use common::{recorder, Log, Recorder};

const API_KEY: &str = "key/+=\"&<%-api-0123456789";
const INITIAL_TOKEN: &str = "iat/+=\"&<%-initial-0123456789";

/// The FHIR server: discovery names the authorization and registration endpoints at `other`.
fn fhir_server(path: &str, _: &str, own: SocketAddr, other: SocketAddr) -> Response {
    let elsewhere = |p: &str| format!("http://{other}{p}");
    match path {
        "/fhir/.well-known/smart-configuration" => axum::Json(serde_json::json!({
            "issuer": format!("http://{own}"),
            "authorization_endpoint": elsewhere("/authorize"),
            "token_endpoint": elsewhere("/token"),
            "registration_endpoint": elsewhere("/register"),
            "grant_types_supported": ["authorization_code"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "scopes_supported": ["openid", "launch/patient", "patient/*.rs"],
            "response_types_supported": ["code"],
            "capabilities": ["launch-standalone", "client-public", "sso-openid-connect"],
            "code_challenge_methods_supported": ["S256"]
        }))
        .into_response(),
        _ => (StatusCode::NOT_FOUND, "not here").into_response(),
    }
}

/// The other host: refuses everything (what matters is what it was sent).
fn other_server(_: &str, _: &str, _: SocketAddr, _: SocketAddr) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(serde_json::json!({"error": "invalid_request"})),
    )
        .into_response()
}

/// Every form a credential can take on the wire.
fn forms(value: &str) -> Vec<String> {
    use base64::Engine;
    let form: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
    let json = serde_json::to_string(value).unwrap();
    vec![
        value.to_string(),
        form.clone(),
        json[1..json.len() - 1].to_string(),
        base64::engine::general_purpose::STANDARD.encode(value),
        value[..12].to_string(),
    ]
}

fn leaked(log: &Log) -> Vec<String> {
    let mut out = Vec::new();
    for request in log.lock().unwrap().iter() {
        for secret in [API_KEY, INITIAL_TOKEN] {
            if forms(secret).iter().any(|f| request.contains(f.as_str())) {
                out.push(format!("{secret} in:\n{request}"));
            }
        }
    }
    out
}

fn run(fhir: &Recorder, extra: &str) -> (Option<i32>, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let target = format!(
        "name: elsewhere\nfhir-base: http://{}/fhir\nsmart-version: 2\nheaders:\n  x-api-key: ${{ORIGINS_API_KEY}}\ninitial-access-token: ${{ORIGINS_IAT}}\nregistration: dynamic\n{extra}",
        fhir.addr
    );
    let out = common::run_target(
        dir.path(),
        &target,
        &["--suite", "suites/smart-registration.yaml"],
        &[("ORIGINS_API_KEY", API_KEY), ("ORIGINS_IAT", INITIAL_TOKEN)],
    );
    let report = serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap())
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code(), report)
}

#[test]
fn credentials_go_only_to_the_origins_the_target_allows() {
    // The other host first, so that the FHIR server knows its address.
    let placeholder: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let other = recorder("127.0.0.2", other_server, placeholder);
    let fhir = recorder("127.0.0.1", fhir_server, other.addr);

    let (code, report) = run(&fhir, "");
    assert_eq!(
        leaked(&other.log),
        Vec::<String>::new(),
        "credentials reached 127.0.0.2"
    );
    // The target's header went to the FHIR base's own origin.
    let own = fhir.log.lock().unwrap().clone();
    assert!(!own.is_empty());
    assert!(
        own.iter()
            .all(|r| r.contains(&format!("x-api-key: {API_KEY}"))),
        "{own:?}"
    );
    // The registration was not sent, and the report says why.
    let text = report.to_string();
    assert!(
        text.contains("not sent: the request carries the initial access token and its origin is not among those allowed the target's credentials"),
        "{text}"
    );
    assert_eq!(code, Some(1), "an unsent registration errors the cases");

    // Allowed explicitly: the registration goes, with the token (the guard above was what
    // kept it back).
    let (_, _) = run(
        &fhir,
        &format!("credential-origins:\n  - http://{}\n", other.addr),
    );
    let log = other.log.lock().unwrap().clone();
    assert!(
        log.iter().any(
            |r| r.contains(&format!("authorization: Bearer {INITIAL_TOKEN}"))
                && r.contains(&format!("x-api-key: {API_KEY}"))
        ),
        "{log:?}"
    );
}
