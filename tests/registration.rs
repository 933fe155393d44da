//! Registration built-ins against servers other than the reference: RFC 7591 without RFC 7592
//! (management skipped with a reason, never failed), a target's own registration endpoint and
//! initial access token, and the clean-up of registrations a case leaves behind.

use std::path::Path;
use std::process::Command;

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::{json, Value};
use smartcheck::reference::{Config, Faults, ReferenceServer};

const INITIAL_TOKEN: &str = "iat-Kq27-initial-access-token";

/// A registration-only server: RFC 7591 at `/private/register` (with an initial access token,
/// not advertised), no RFC 7592 management.
fn registration_only_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let app = axum::Router::new()
                .route(
                    "/fhir/.well-known/smart-configuration",
                    get(move || async move {
                        axum::Json(json!({
                            "issuer": format!("http://{addr}"),
                            "authorization_endpoint": format!("http://{addr}/authorize"),
                            "token_endpoint": format!("http://{addr}/token"),
                            "capabilities": ["launch-standalone", "client-public"],
                        }))
                    }),
                )
                .route(
                    "/private/register",
                    post(|headers: HeaderMap, body: String| async move {
                        if headers.get("authorization").and_then(|v| v.to_str().ok())
                            != Some(&format!("Bearer {INITIAL_TOKEN}"))
                        {
                            return (StatusCode::UNAUTHORIZED, "initial access token required")
                                .into_response();
                        }
                        let Ok(Value::Object(mut meta)) = serde_json::from_str::<Value>(&body)
                        else {
                            return (
                                StatusCode::BAD_REQUEST,
                                axum::Json(json!({"error": "invalid_client_metadata"})),
                            )
                                .into_response();
                        };
                        meta.insert("client_id".into(), json!("client-1"));
                        meta.insert("client_id_issued_at".into(), json!(1_700_000_000));
                        if meta["token_endpoint_auth_method"]
                            .as_str()
                            .unwrap_or("")
                            .starts_with("client_secret")
                        {
                            meta.insert("client_secret".into(), json!("cs-Wm90-issued-secret"));
                            meta.insert("client_secret_expires_at".into(), json!(0));
                        }
                        (
                            StatusCode::CREATED,
                            [("cache-control", "no-store")],
                            axum::Json(Value::Object(meta)),
                        )
                            .into_response()
                    }),
                );
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let _ = tokio::time::timeout(
                std::time::Duration::from_secs(120),
                axum::serve(listener, app),
            )
            .await;
        });
    });
    format!("http://{addr}")
}

fn run(target: &str, dir: &Path, extra: &[&str]) -> (Option<i32>, String, Value) {
    let path = dir.join("target.yaml");
    std::fs::write(&path, target).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_smartcheck"))
        .arg("run")
        .arg("--target")
        .arg(&path)
        .args([
            "--suite",
            "suites/smart-registration.yaml",
            "--color",
            "never",
            "--report-dir",
        ])
        .arg(dir)
        .args(extra)
        .env("REG_TOKEN", INITIAL_TOKEN)
        .output()
        .unwrap();
    let report = serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        report,
    )
}

fn checks(report: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for case in report["cases"].as_array().unwrap() {
        for step in case["steps"].as_array().unwrap() {
            for check in step["checks"].as_array().unwrap() {
                out.push((
                    check["id"].as_str().unwrap().to_string(),
                    check["verdict"].as_str().unwrap().to_string(),
                    check["reason"].as_str().unwrap_or_default().to_string(),
                ));
            }
        }
    }
    out
}

#[test]
fn a_refused_registration_is_named_as_the_cause_of_the_management_skips() {
    let base = registration_only_server();
    let dir = tempfile::tempdir().unwrap();
    // Without the initial access token the registration is refused (401): nothing was
    // registered, so nothing can be managed, whatever the server offers.
    let target = format!(
        "name: reg-refused\nfhir-base: {base}/fhir\nregistration-endpoint: {base}/private/register\n"
    );
    let (_, console, report) = run(&target, dir.path(), &["manage-lifecycle"]);
    let managed: Vec<_> = checks(&report)
        .into_iter()
        .filter(|(id, _, _)| id.starts_with("reg-read") || id.starts_with("reg-update"))
        .collect();
    assert!(!managed.is_empty(), "{console}");
    for (id, verdict, reason) in managed {
        assert_eq!(verdict, "skipped", "{id}");
        assert!(
            !reason.contains("without RFC 7592")
                && (reason.contains("registered no client") || reason.contains("answered 401")),
            "{id}: {reason}"
        );
    }
}

#[test]
fn rfc_7591_without_7592_gets_the_create_checks_and_a_clear_skip_for_management() {
    let base = registration_only_server();
    let dir = tempfile::tempdir().unwrap();
    let target = format!(
        "name: reg-only\nfhir-base: {base}/fhir\nregistration-endpoint: {base}/private/register\ninitial-access-token: ${{REG_TOKEN}}\n"
    );
    let (code, console, report) = run(&target, dir.path(), &["--skip", "refuse-bad-metadata"]);
    assert_eq!(code, Some(0), "{console}");
    let all = checks(&report);
    let created: Vec<_> = all
        .iter()
        .filter(|(id, _, _)| id.starts_with("reg-symmetric-") || id.starts_with("reg-public-"))
        .collect();
    assert!(created.len() >= 20);
    for (id, verdict, reason) in &created {
        if id.ends_with("-management-token") {
            assert_eq!(verdict, "skipped", "{id}");
        } else {
            assert_eq!(verdict, "passed", "{id}: {reason}");
        }
    }
    let managed: Vec<_> = all
        .iter()
        .filter(|(id, _, _)| {
            id.starts_with("reg-read")
                || id.starts_with("reg-update")
                || id.starts_with("reg-delete")
        })
        .collect();
    assert!(!managed.is_empty());
    for (id, verdict, reason) in managed {
        assert_eq!(verdict, "skipped", "{id}");
        assert!(
            reason.contains("without RFC 7592 management") || reason.contains("condition not met"),
            "{id}: {reason}"
        );
    }
    // The initial access token went out and is masked everywhere.
    for file in ["junit.xml", "results.json"] {
        let text = std::fs::read_to_string(dir.path().join(file)).unwrap();
        assert!(
            !text.contains(INITIAL_TOKEN),
            "{file} shows the initial access token"
        );
        assert!(
            !text.contains("cs-Wm90-issued-secret"),
            "{file} shows the issued secret"
        );
    }
    assert!(!console.contains(INITIAL_TOKEN));
}

#[test]
fn without_an_advertised_or_configured_endpoint_registration_is_skipped_with_the_reason() {
    let base = registration_only_server();
    let dir = tempfile::tempdir().unwrap();
    let target = format!("name: reg-only\nfhir-base: {base}/fhir\n");
    let (code, console, report) = run(&target, dir.path(), &[]);
    assert_eq!(code, Some(0), "{console}");
    let all = checks(&report);
    let register: Vec<_> = all
        .iter()
        .filter(|(id, _, _)| id == "reg-symmetric-status")
        .collect();
    assert_eq!(register.len(), 1);
    assert_eq!(register[0].1, "skipped");
    assert!(
        register[0]
            .2
            .contains("advertises no registration_endpoint"),
        "{:?}",
        register[0]
    );
    assert!(all.iter().all(|(_, v, _)| v == "skipped"));
}

/// The client id a case's step `index` registered, from its recorded response.
fn registered_client_id(dir: &Path, index: usize) -> String {
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
    let body = report["cases"][0]["steps"][index]["exchange"]["response"]["body"]
        .as_str()
        .unwrap();
    serde_json::from_str::<Value>(body).unwrap()["client_id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Whether the reference server still knows a client (its debug endpoint serves only known ones).
fn still_registered(server: &ReferenceServer, client_id: &str) -> bool {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let answer = rt.block_on(async {
        reqwest::Client::new()
            .post(format!("{}/oauth/debug/token", server.origin()))
            .json(&json!({"client_id": client_id, "username": "daniel-adams", "patient_id": "smart-1288992"}))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    !answer.contains("client_id must name a registered client")
}

/// Both the `register` steps of the registration suite and the `client` steps of the flows.
#[test]
fn registrations_a_case_leaves_are_deleted_at_its_end() {
    let server = ReferenceServer::start(
        "127.0.0.1",
        0,
        Config {
            faults: Faults::none(),
            debug_endpoints: true,
            ..Default::default()
        },
    )
    .unwrap();
    for (suite, case) in [
        (
            "suites/smart-registration.yaml",
            "reference::smart-registration::create-public",
        ),
        (
            "suites/smart-app-launch.yaml",
            "reference::smart-app-launch::refuse-authorize",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_smartcheck"))
            .args([
                "run",
                "--target",
                "fixtures/targets/reference.yaml",
                "--suite",
                suite,
                "--color",
                "never",
                "--report-dir",
            ])
            .arg(dir.path())
            .args(["--exact", case])
            .env("SMARTCHECK_REFERENCE_FHIR_BASE", server.fhir_base())
            .env("SMARTCHECK_REFERENCE_ORIGIN", server.origin())
            .env("SMARTCHECK_REFERENCE_PASSWORD", "demo-password")
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let client_id = registered_client_id(dir.path(), 1);
        assert!(
            !still_registered(&server, &client_id),
            "{case} left {client_id} registered"
        );
    }
    // The probe itself can tell: a client registered outside a case stays known.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let kept: Value = rt.block_on(async {
        reqwest::Client::new()
            .post(format!("{}/register", server.origin()))
            .json(&json!({"client_name": "kept", "redirect_uris": ["http://127.0.0.1:9/cb"], "token_endpoint_auth_method": "none"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert!(still_registered(
        &server,
        kept["client_id"].as_str().unwrap()
    ));
}
