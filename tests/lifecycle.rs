//! The life of a token end to end: the refresh, introspection, revocation and S4S cases and
//! the bearer reads pass on the reference server, and no access token, refresh token or
//! introspected token shows in any report.

use std::process::Command;

use smartcheck::reference::{Config, Faults, ReferenceServer};

#[test]
fn lifecycle_suites_pass_and_no_token_is_written() {
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
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_smartcheck"))
        .args([
            "run",
            "--target",
            "fixtures/targets/reference.yaml",
            "--suite",
            "suites/smart-token-lifecycle.yaml",
            "--suite",
            "suites/smart-bearer-access.yaml",
            "--color",
            "never",
            "--report-dir",
        ])
        .arg(dir.path())
        .env("SMARTCHECK_REFERENCE_FHIR_BASE", server.fhir_base())
        .env("SMARTCHECK_REFERENCE_ORIGIN", server.origin())
        .env("SMARTCHECK_REFERENCE_PASSWORD", "demo-password")
        .output()
        .unwrap();
    let console = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{console}");
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    let json = std::fs::read_to_string(dir.path().join("results.json")).unwrap();
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let checks = &report["summary"]["checks"];
    assert_eq!(checks["failed"], 0, "{console}");
    assert_eq!(checks["errored"], 0, "{console}");
    // One check judges only the other allowed answer to a broader refresh (the original grant
    // refreshed, where this server refuses): its `when` skips it.
    assert_eq!(checks["skipped"], 1, "{console}");
    assert!(
        console.contains("refresh: ok, 1 of") && console.contains("is 400, not 200"),
        "{console}"
    );
    // Every token a body carries (answers and requests, JSON and forms) is masked.
    let json_token =
        regex::Regex::new(r#"\\"(access_token|refresh_token|id_token|token)\\": \\"([^"\\]*)\\""#)
            .unwrap();
    let form_token =
        regex::Regex::new(r"(?:^|[&?])(access_token|refresh_token|token)=([^&\s]*)").unwrap();
    let mut seen = 0;
    for case in report["cases"].as_array().unwrap() {
        for step in case["steps"].as_array().unwrap() {
            let exchanges = std::iter::once(&step["exchange"])
                .chain(step["related"].as_array().into_iter().flatten());
            for exchange in exchanges {
                for text in [
                    exchange["response"]["body"].as_str().unwrap_or_default(),
                    exchange["request"]["body"].as_str().unwrap_or_default(),
                    exchange["request"]["url"].as_str().unwrap_or_default(),
                ] {
                    let text = serde_json::to_string(text).unwrap();
                    for m in json_token.captures_iter(&text) {
                        seen += 1;
                        assert_eq!(&m[2], "[redacted]", "{} shows a token", &m[1]);
                    }
                    for m in form_token.captures_iter(text.trim_matches('"')) {
                        seen += 1;
                        assert!(
                            m[2].contains("redacted"),
                            "{} in a form or URL is not masked: {}",
                            &m[1],
                            &m[2]
                        );
                    }
                }
            }
        }
    }
    assert!(seen > 20, "the tokens are in the report ({seen} seen)");
    // The bearer values the FHIR reads sent are masked too, in every report.
    let bearer = regex::Regex::new(r"Bearer [A-Za-z0-9_-]{16,}").unwrap();
    for (name, text) in [("console", &console), ("junit", &junit), ("json", &json)] {
        assert!(
            !bearer.is_match(text),
            "{name} shows a bearer token: {:?}",
            bearer.find(text)
        );
    }
}

/// A debug token endpoint the target names but the server does not serve: the S4S token's
/// checks are errored with the answer's status as the reason (not "not JSON"), and the steps
/// that needed the token are skipped.
#[test]
fn a_debug_endpoint_that_is_not_there_errors_with_its_status() {
    let server = ReferenceServer::start(
        "127.0.0.1",
        0,
        Config {
            faults: Faults::none(),
            debug_endpoints: false,
            ..Default::default()
        },
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_smartcheck"))
        .args([
            "run",
            "--target",
            "fixtures/targets/reference.yaml",
            "--suite",
            "suites/smart-token-lifecycle.yaml",
            "--exact",
            "smart-token-lifecycle::s4s-debug-endpoints",
            "--color",
            "never",
            "--report-dir",
        ])
        .arg(dir.path())
        .env("SMARTCHECK_REFERENCE_FHIR_BASE", server.fhir_base())
        .env("SMARTCHECK_REFERENCE_ORIGIN", server.origin())
        .env("SMARTCHECK_REFERENCE_PASSWORD", "demo-password")
        .output()
        .unwrap();
    let console = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{console}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap()).unwrap();
    let step = report["cases"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "debug-token")
        .unwrap()
        .clone();
    assert_eq!(step["state"], "errored", "{step}");
    assert!(
        step["reason"].as_str().unwrap().contains(
            "(`debug-token-endpoint` in fixtures/targets/reference.yaml) answered 404, not a token"
        ),
        "{step}"
    );
    assert_eq!(report["summary"]["checks"]["failed"], 0, "{console}");
}
