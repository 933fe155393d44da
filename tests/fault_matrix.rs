//! Every discovery check proven both ways: the clean reference server passes every check, and
//! each fault makes exactly its intended checks fail (or warn, for SHOULD checks) while no
//! other check changes verdict.

use std::collections::BTreeMap;
use std::process::Command;

use smartcheck::reference::{Config, Faults, ReferenceServer, FAULTS};

/// Runs the built-in suites against a reference server with these faults; returns
/// check id -> verdict from the JSON report.
fn verdicts(faults: &[&str]) -> BTreeMap<String, String> {
    let server = ReferenceServer::start(
        "127.0.0.1",
        0,
        Config {
            faults: Faults::parse(faults).expect("known faults"),
            debug_endpoints: true,
        },
    )
    .expect("server starts");
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_smartcheck"))
        .args([
            "run",
            "--target",
            "fixtures/targets/reference.yaml",
            "--color",
            "never",
            "--report-dir",
        ])
        .arg(dir.path())
        .env("SMARTCHECK_REFERENCE_FHIR_BASE", server.fhir_base())
        .output()
        .expect("smartcheck runs");
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("results.json")).expect("results.json written"),
    )
    .unwrap();
    let mut map = BTreeMap::new();
    for case in report["cases"].as_array().unwrap() {
        for step in case["steps"].as_array().unwrap() {
            for check in step["checks"].as_array().unwrap() {
                map.insert(
                    check["id"].as_str().unwrap().to_string(),
                    check["verdict"].as_str().unwrap().to_string(),
                );
            }
        }
    }
    let code = out.status.code();
    let bad = map.values().any(|v| v == "failed" || v == "errored");
    assert_eq!(
        code,
        Some(if bad { 1 } else { 0 }),
        "exit code vs verdicts for {faults:?}"
    );
    map
}

#[test]
fn clean_server_passes_every_check_and_each_fault_is_caught_exactly() {
    let clean = verdicts(&[]);
    assert!(clean.len() >= 40, "only {} checks", clean.len());
    let not_passed: Vec<_> = clean.iter().filter(|(_, v)| *v != "passed").collect();
    assert!(not_passed.is_empty(), "clean server: {not_passed:?}");

    let mut caught_somewhere = std::collections::BTreeSet::new();
    let mut problems = Vec::new();
    for fault in FAULTS {
        let got = verdicts(&[fault.name]);
        for id in fault.caught_by {
            caught_somewhere.insert(*id);
            match got.get(*id).map(String::as_str) {
                Some("failed") | Some("warned") => {}
                other => problems.push(format!(
                    "{}: check {id} should fail, was {other:?}",
                    fault.name
                )),
            }
        }
        for (id, verdict) in &got {
            if fault.caught_by.contains(&id.as_str()) || clean.get(id) == Some(verdict) {
                continue;
            }
            let collateral_ok = fault.collateral && (verdict == "errored" || verdict == "skipped");
            if !collateral_ok {
                problems.push(format!(
                    "{}: check {id} changed from {:?} to {verdict}",
                    fault.name,
                    clean.get(id)
                ));
            }
        }
    }
    let uncovered: Vec<&String> = clean
        .keys()
        .filter(|id| !caught_somewhere.contains(id.as_str()))
        .collect();
    assert!(
        uncovered.is_empty(),
        "checks no fault proves failing: {uncovered:?}"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn should_checks_fail_under_strict() {
    let server = ReferenceServer::start(
        "127.0.0.1",
        0,
        Config {
            faults: Faults::parse(&["response-types-no-code"]).unwrap(),
            debug_endpoints: true,
        },
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = |strict: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_smartcheck"));
        cmd.args([
            "run",
            "--target",
            "fixtures/targets/reference.yaml",
            "--color",
            "never",
            "--report-dir",
        ])
        .arg(dir.path())
        .env("SMARTCHECK_REFERENCE_FHIR_BASE", server.fhir_base());
        if strict {
            cmd.arg("--strict");
        }
        cmd.output().unwrap()
    };
    let lenient = run(false);
    assert_eq!(lenient.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&lenient.stdout).contains("1 warned"));
    let strict = run(true);
    assert_eq!(strict.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&strict.stdout);
    assert!(
        stdout.contains("failed: smart-config-response-types [SHOULD]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("expected: an array containing \"code\""),
        "{stdout}"
    );
}
