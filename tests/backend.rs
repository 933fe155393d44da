//! SMART Backend Services end to end: the suite passes on the reference server, and no
//! assertion, token or private key shows in any report.

use std::process::Command;

use smartcheck::reference::{Config, Faults, ReferenceServer};

#[test]
fn backend_services_pass_and_no_assertion_token_or_key_is_written() {
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
            "suites/smart-backend-services.yaml",
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
    // 74, and the 42 of backend-refusals again with ES384 assertions.
    assert_eq!(report["summary"]["checks"]["passed"], 116);
    // Every exchange is written (passing ones in JSON); none may show a JWT or a key.
    let jwt = regex::Regex::new(r"eyJ[A-Za-z0-9_-]{8,}").unwrap();
    let key_body: Vec<String> = [
        "fixtures/keys/client-rs384.key.pem",
        "fixtures/keys/client-es384.key.pem",
    ]
    .iter()
    .flat_map(|f| {
        std::fs::read_to_string(f)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with("-----") && l.len() > 20)
            .map(str::to_string)
            .collect::<Vec<_>>()
    })
    .collect();
    assert!(
        json.contains("client_assertion"),
        "the requests are in the report"
    );
    for (name, text) in [("console", &console), ("junit", &junit), ("json", &json)] {
        assert!(
            !jwt.is_match(text),
            "{name} shows a JWT: {:?}",
            jwt.find(text)
        );
        for line in &key_body {
            assert!(
                !text.contains(line.as_str()),
                "{name} shows a private key line"
            );
        }
    }
    // The access tokens the server issued are masked where they were answered.
    for case in report["cases"].as_array().unwrap() {
        for step in case["steps"].as_array().unwrap() {
            let body = step["exchange"]["response"]["body"]
                .as_str()
                .unwrap_or_default();
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
                if let Some(t) = v.get("access_token") {
                    assert_eq!(t, "[redacted]", "{}", step["id"]);
                }
            }
        }
    }
}
