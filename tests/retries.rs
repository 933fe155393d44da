//! `--retries`: a case whose step met a server error is run again; one that passes on a
//! retry is flaky (JSON outcome, JUnit flakyFailure, console), never simply passed; a check
//! that failed on a 4xx answer is never rerun.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

static FLAKY: AtomicUsize = AtomicUsize::new(0);
static DOWN: AtomicUsize = AtomicUsize::new(0);
static MISSING: AtomicUsize = AtomicUsize::new(0);

/// `/flaky` answers 503 the first time and 200 after; `/down` always 503; `/missing` 404.
fn answer(path: &str, _: &str, _: std::net::SocketAddr, _: std::net::SocketAddr) -> Response {
    let json = [("content-type", "application/json")];
    match path {
        "/flaky" if FLAKY.fetch_add(1, Ordering::SeqCst) == 0 => {
            (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response()
        }
        "/flaky" => (json, "{\"ok\": true}").into_response(),
        "/down" => {
            DOWN.fetch_add(1, Ordering::SeqCst);
            (StatusCode::SERVICE_UNAVAILABLE, "down").into_response()
        }
        _ => {
            MISSING.fetch_add(1, Ordering::SeqCst);
            (StatusCode::NOT_FOUND, json, "{}").into_response()
        }
    }
}

const SUITE: &str = r#"suite: retries
title: A step per server behaviour
spec:
  name: SMART App Launch
  version: 2.2.0
  url: https://hl7.org/fhir/smart-app-launch/
smart-versions: [2]
cases:
  - id: flaky
    title: answers 503 once
    steps:
      - id: get
        request:
          url: "{{ target.fhir-base }}/../flaky"
        checks:
          - id: flaky-status
            title: answers 200
            requirement: smart-cf-02
            status: 200
  - id: down
    title: always 503
    steps:
      - id: get
        request:
          url: "{{ target.fhir-base }}/../down"
        checks:
          - id: down-status
            title: answers 200
            requirement: smart-cf-02
            status: 200
  - id: missing
    title: always 404
    steps:
      - id: get
        request:
          url: "{{ target.fhir-base }}/../missing"
        checks:
          - id: missing-status
            title: answers 200
            requirement: smart-cf-02
            status: 200
"#;

fn report(dir: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap()
}

fn case<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["case"] == id)
        .unwrap()
}

#[test]
fn a_case_that_passes_on_a_retry_is_flaky_and_a_failed_check_is_not_retried() {
    let server = common::recorder("127.0.0.1", answer, "127.0.0.1:9".parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("suite.yaml");
    std::fs::write(&suite, SUITE).unwrap();
    let target = format!(
        "name: sandbox\nfhir-base: http://{}/fhir\nsmart-version: 2\n",
        server.addr
    );
    let suite_arg = suite.to_str().unwrap();

    // Without --retries, the 503 is a failure like any other.
    let once = dir.path().join("once");
    std::fs::create_dir(&once).unwrap();
    let out = common::run_target(&once, &target, &["--suite", suite_arg, "flaky"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(case(&report(&once), "flaky")["outcome"], "failed");

    // With it, the second attempt passes: flaky, exit 0, the first attempt kept.
    let retried = dir.path().join("retried");
    std::fs::create_dir(&retried).unwrap();
    FLAKY.store(0, Ordering::SeqCst);
    let out = common::run_target(
        &retried,
        &target,
        &["--suite", suite_arg, "flaky", "--retries", "2"],
        &[],
    );
    let console = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{console}");
    assert_eq!(FLAKY.load(Ordering::SeqCst), 2, "one retry, no more");
    let r = report(&retried);
    let flaky = case(&r, "flaky");
    assert_eq!(flaky["outcome"], "flaky", "{flaky}");
    assert_eq!(r["summary"]["cases"]["flaky"], 1);
    assert_eq!(r["summary"]["cases"]["passed"], 0);
    let attempts = flaky["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["outcome"], "failed");
    assert_eq!(attempts[0]["errors"][0], "step `get` got status 503");
    assert_eq!(
        attempts[0]["steps"][0]["checks"][0]["verdict"], "failed",
        "the first attempt's verdicts are kept"
    );
    assert!(
        console.contains("sandbox::retries::flaky: FLAKY: passed on attempt 2 of 2"),
        "{console}"
    );
    assert!(
        console.contains("1 case flaky (passed on a retry)"),
        "{console}"
    );
    let junit = std::fs::read_to_string(retried.join("junit.xml")).unwrap();
    assert!(junit.contains("<flakyFailure"), "{junit}");
    assert!(!junit.contains("<failure"), "{junit}");
    assert!(
        junit.contains("name=\"flaky\" value=\"passed on a retry\""),
        "{junit}"
    );

    // A server that stays down: retried up to the limit, still failed, reruns in JUnit.
    // A 404 is the server's answer: the failed check stands, never rerun.
    let all = dir.path().join("all");
    std::fs::create_dir(&all).unwrap();
    let out = common::run_target(
        &all,
        &target,
        &["--suite", suite_arg, "--retries", "2", "--skip", "flaky"],
        &[],
    );
    let console = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{console}");
    assert_eq!(
        DOWN.load(Ordering::SeqCst),
        3,
        "the first attempt and two retries"
    );
    assert_eq!(MISSING.load(Ordering::SeqCst), 1, "a 404 is not retried");
    let r = report(&all);
    assert_eq!(case(&r, "down")["outcome"], "failed");
    assert_eq!(case(&r, "down")["attempts"].as_array().unwrap().len(), 2);
    assert_eq!(case(&r, "missing")["outcome"], "failed");
    assert!(case(&r, "missing").get("attempts").is_none());
    assert!(
        console.contains("sandbox::retries::down: still failed after 3 attempts"),
        "{console}"
    );
    let junit = std::fs::read_to_string(all.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<rerunFailure").count(), 2, "{junit}");
}
