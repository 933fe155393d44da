//! How real servers behave, proven on the reference server's switches: connections closed
//! under the client, discovery from the CapabilityStatement only, a server that refuses
//! everything. Each test runs the binary as a user would.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;
use smartcheck::reference::{Config, Faults, ReferenceServer};

struct Run {
    code: Option<i32>,
    console: String,
    report: Value,
}

fn server(faults: &[&str]) -> ReferenceServer {
    ReferenceServer::start(
        "127.0.0.1",
        0,
        Config {
            faults: Faults::parse(faults).expect("known faults"),
            debug_endpoints: true,
        },
    )
    .expect("server starts")
}

/// Runs `smartcheck run` with these arguments against the server (the reference target unless
/// the arguments name another).
fn run(server: &ReferenceServer, args: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_smartcheck"));
    cmd.arg("run");
    if !args.contains(&"--target") {
        cmd.args(["--target", "fixtures/targets/reference.yaml"]);
    }
    cmd.args(args)
        .args(["--color", "never", "--report-dir"])
        .arg(dir.path())
        .env("SMARTCHECK_REFERENCE_FHIR_BASE", server.fhir_base())
        .env("SMARTCHECK_REFERENCE_ORIGIN", server.origin())
        .env("SMARTCHECK_REFERENCE_PASSWORD", "demo-password");
    let out = cmd.output().expect("smartcheck runs");
    let report = serde_json::from_slice(
        &std::fs::read(dir.path().join("results.json")).expect("results.json written"),
    )
    .expect("results.json parses");
    Run {
        code: out.status.code(),
        console: String::from_utf8_lossy(&out.stdout).into_owned(),
        report,
    }
}

/// check id -> verdict.
fn verdicts(report: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for case in report["cases"].as_array().unwrap() {
        for step in case["steps"].as_array().unwrap() {
            for check in step["checks"].as_array().unwrap() {
                out.insert(
                    check["id"].as_str().unwrap().to_string(),
                    check["verdict"].as_str().unwrap().to_string(),
                );
            }
        }
    }
    out
}

fn exchanges(report: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for case in report["cases"].as_array().unwrap() {
        for step in case["steps"].as_array().unwrap() {
            if !step["exchange"].is_null() {
                out.push(&step["exchange"]);
            }
            out.extend(step["related"].as_array().into_iter().flatten());
        }
    }
    out
}

/// A server that closes every connection under the next request (without `Connection: close`)
/// gives the verdicts of a clean server, twice over: POSTs never reuse a connection, and an
/// idempotent request that meets a closed one is sent again on a new one, which the report says.
#[test]
fn connections_closed_under_the_client_give_the_same_verdicts_every_run() {
    let suites = [
        "--suite",
        "suites/smart-discovery.yaml",
        "--suite",
        "suites/smart-registration.yaml",
        "--suite",
        "suites/smart-backend-services.yaml",
    ];
    let clean = run(&server(&[]), &suites);
    assert_eq!(clean.code, Some(0), "{}", clean.console);
    let closing = server(&["closes-connections"]);
    let first = run(&closing, &suites);
    let second = run(&closing, &suites);
    assert_eq!(first.code, Some(0), "{}", first.console);
    assert_eq!(verdicts(&first.report), verdicts(&clean.report));
    assert_eq!(verdicts(&second.report), verdicts(&first.report));
    let retried: Vec<&Value> = exchanges(&first.report)
        .into_iter()
        .filter(|e| e["retried_after"].is_string())
        .collect();
    assert!(
        !retried.is_empty(),
        "no request met a closed connection: the switch did not bite"
    );
    for exchange in &retried {
        assert_ne!(exchange["request"]["method"], "POST", "{exchange}");
        assert!(
            exchange["retried_after"]
                .as_str()
                .unwrap()
                .contains("the request failed"),
            "{exchange}"
        );
    }
}
