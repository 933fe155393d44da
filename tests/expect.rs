//! `run --expect`: the verdicts of a run compared with a file of expected ones. Agreement exits
//! 0 even with failed checks; any difference exits 1 with a diff line; a file without a reason
//! for a non-pass is a load error (exit 2) with its position.

use std::path::Path;
use std::process::{Command, Output};

use smartcheck::reference::{Config, Faults, ReferenceServer};

const CHECK: &str = "smart-discovery::smart-configuration::smart-config-pkce-no-plain";

fn server(faults: &[&str]) -> ReferenceServer {
    ReferenceServer::start(
        "127.0.0.1",
        0,
        Config {
            faults: Faults::parse(faults).unwrap(),
            debug_endpoints: false,
            ..Default::default()
        },
    )
    .unwrap()
}

fn run(server: &ReferenceServer, reports: &Path, expect: Option<&Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_smartcheck"));
    cmd.args([
        "run",
        "--target",
        "fixtures/targets/reference.yaml",
        "--suite",
        "suites/smart-discovery.yaml",
        "--color",
        "never",
        "--report-dir",
    ])
    .arg(reports)
    .env("SMARTCHECK_REFERENCE_FHIR_BASE", server.fhir_base())
    .env("SMARTCHECK_REFERENCE_ORIGIN", server.origin())
    .env("SMARTCHECK_REFERENCE_PASSWORD", "demo-password");
    if let Some(e) = expect {
        cmd.arg("--expect").arg(e);
    }
    cmd.output().unwrap()
}

/// Every check of a run as `suite::case::check: verdict` lines.
fn verdicts(reports: &Path) -> Vec<(String, String)> {
    let json = std::fs::read_to_string(reports.join("results.json")).unwrap();
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let mut out = Vec::new();
    for case in report["cases"].as_array().unwrap() {
        for step in case["steps"].as_array().unwrap() {
            for check in step["checks"].as_array().unwrap() {
                out.push((
                    format!(
                        "{}::{}::{}",
                        case["suite"].as_str().unwrap(),
                        case["case"].as_str().unwrap(),
                        check["id"].as_str().unwrap()
                    ),
                    check["verdict"].as_str().unwrap().to_string(),
                ));
            }
        }
    }
    out
}

fn write_expected(path: &Path, entries: &[(String, String)], failed_reason: Option<&str>) {
    let mut text = String::from("server: reference\nchecks:\n");
    for (key, verdict) in entries {
        if verdict == "passed" {
            text.push_str(&format!("  {key}: passed\n"));
        } else {
            text.push_str(&format!("  {key}:\n    verdict: {verdict}\n"));
            if let Some(r) = failed_reason {
                text.push_str(&format!("    reason: \"{r}\"\n"));
            }
        }
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn expected_verdicts_agree_differ_and_need_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let clean = server(&[]);
    let first = run(&clean, &dir.path().join("r0"), None);
    assert_eq!(first.status.code(), Some(0));
    let mut entries = verdicts(&dir.path().join("r0"));
    assert!(entries.iter().any(|(k, _)| k == CHECK));
    let expected = dir.path().join("expected.yaml");

    // Agreement: exit 0 and a line that says so.
    write_expected(&expected, &entries, None);
    let out = run(&clean, &dir.path().join("r1"), Some(&expected));
    let console = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{console}");
    assert!(
        console.contains("every verdict is as expected for reference"),
        "{console}"
    );

    // A server that breaks one requirement: exit 1, the check named with both verdicts.
    let broken = server(&["pkce-plain-advertised"]);
    let out = run(&broken, &dir.path().join("r2"), Some(&expected));
    let console = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{console}");
    assert!(
        console.contains("1 verdict(s) differ from the expected ones for reference"),
        "{console}"
    );
    assert!(
        console.contains(&format!("~ {CHECK}: expected passed, got failed")),
        "{console}"
    );

    // The same failure written down as expected (with its reason): exit 0 though it fails.
    for e in entries.iter_mut().filter(|(k, _)| k == CHECK) {
        e.1 = "failed".into();
    }
    write_expected(&expected, &entries, Some("advertises plain PKCE"));
    let out = run(&broken, &dir.path().join("r3"), Some(&expected));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // A check the file does not know, and one the run does not have.
    let mut partial: Vec<(String, String)> = entries
        .iter()
        .filter(|(k, _)| k != CHECK)
        .cloned()
        .collect();
    partial.push((
        "smart-discovery::gone::no-such-check".into(),
        "passed".into(),
    ));
    write_expected(&expected, &partial, Some("x"));
    let out = run(&broken, &dir.path().join("r4"), Some(&expected));
    let console = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{console}");
    assert!(
        console.contains(&format!("+ {CHECK}: failed (not in the expected verdicts)")),
        "{console}"
    );
    assert!(
        console.contains("- smart-discovery::gone::no-such-check: expected passed, not run"),
        "{console}"
    );

    // A non-pass without a reason is a file error with its position, before anything runs.
    write_expected(&expected, &entries, None);
    let out = run(&broken, &dir.path().join("r5"), Some(&expected));
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "`{CHECK}` is expected failed, which needs a `reason`"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("expected.yaml:"), "{stderr}");
    assert!(!dir.path().join("r5").join("results.json").exists());
}
