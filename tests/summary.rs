//! `--summary PATH`: the run in a few lines of Markdown for a CI job's page, appended to what
//! the file holds, with the server's words unable to become markup.

mod common;

use axum::response::{IntoResponse, Response};

fn demo(dir: &std::path::Path, faults: &[&str], filter: &str) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_smartcheck"));
    cmd.arg("demo");
    for fault in faults {
        cmd.args(["--fault", fault]);
    }
    cmd.args(["--color", "never", "--report-dir"])
        .arg(dir)
        .arg("--summary")
        .arg(dir.join("step-summary.md"))
        .arg(filter)
        .output()
        .expect("smartcheck runs")
}

#[test]
fn the_summary_says_what_failed_and_why_and_is_appended_to() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("step-summary.md");
    // What an earlier step of the job wrote stays.
    std::fs::write(&file, "## Build\n\nok\n").unwrap();
    let clean = demo(dir.path(), &[], "smart-discovery::smart-configuration");
    assert_eq!(clean.status.code(), Some(0));
    let broken = demo(
        dir.path(),
        &["smart-config-content-type"],
        "smart-discovery::smart-configuration",
    );
    assert_eq!(broken.status.code(), Some(1));
    let text = std::fs::read_to_string(&file).unwrap();
    let (first, second) = text.split_once("### smartcheck: FAILED").expect(&text);
    assert!(first.starts_with("## Build\n\nok\n"), "{text}");
    assert!(first.contains("### smartcheck: passed"), "{text}");
    assert!(first.contains("**0 failed**"), "{text}");
    assert!(second.contains("**1 failed**"), "{text}");
    assert!(
        second.contains("#### Failed and errored: 1 check from 1 cause"),
        "{text}"
    );
    // The finding, its level and requirement (linked), and the check's full name.
    assert!(
        second.contains("smart-configuration is served as application/json (SHALL)"),
        "{text}"
    );
    assert!(second.contains("[smart-cf-"), "{text}");
    assert!(
        second.contains(
            "`reference::smart-discovery::smart-configuration::smart-config-content-type`"
        ),
        "{text}"
    );
    assert!(second.contains("| reference | "), "{text}");
    assert!(second.contains("results.json`"), "{text}");
    // The console lists it with the other reports.
    assert!(String::from_utf8_lossy(&broken.stdout).contains("step-summary.md"));
}

/// A smart-configuration whose content type carries markup: the failed check quotes it.
fn hostile(path: &str, _: &str, own: std::net::SocketAddr, _: std::net::SocketAddr) -> Response {
    match path {
        "/fhir/.well-known/smart-configuration" => (
            [("content-type", "text/html; x=<img src=x onerror=alert(1)>")],
            format!("{{\"authorization_endpoint\":\"http://{own}/a\",\"token_endpoint\":\"http://{own}/t\"}}"),
        )
            .into_response(),
        _ => (axum::http::StatusCode::NOT_FOUND, "").into_response(),
    }
}

#[test]
fn a_servers_words_in_the_summary_are_text_not_markup() {
    let server = common::recorder("127.0.0.1", hostile, "127.0.0.1:9".parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    let target = format!(
        "name: hostile\nfhir-base: http://{}/fhir\nregistration: dynamic\n",
        server.addr
    );
    let out = common::run_target(
        dir.path(),
        &target,
        &[
            "--suite",
            "suites/smart-discovery.yaml",
            "smart-discovery::smart-configuration",
            "--summary",
            summary.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(
        text.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{text}"
    );
    assert!(!text.contains("<img"), "{text}");
}

/// Checks skipped for want of a target key are counted under that key, in the console and the
/// summary, so that a newcomer sees what to add; a key that is a claim says so.
#[test]
fn the_target_keys_that_would_run_more_checks_are_named() {
    let server = common::reference_server(&[]);
    let target = common::reference_target_for(&server)
        .replace("token-expiry-wait: 15s\n", "")
        .replace("introspection-scope: system/Patient.rs\n", "");
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    let out = common::run_target(
        dir.path(),
        &target,
        &[
            "--suite",
            "suites/smart-bearer-access.yaml",
            "--suite",
            "suites/smart-token-lifecycle.yaml",
            "--exact",
            "smart-bearer-access::token-expiry",
            "--summary",
            summary.to_str().unwrap(),
        ],
        &[("SMARTCHECK_REFERENCE_PASSWORD", "demo-password")],
    );
    let console = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{console}");
    assert!(
        console.contains("more checks would run with these target keys (skipped for want of them):\n  `token-expiry-wait`: 3 checks in 1 case (smart-bearer-access::token-expiry)"),
        "{console}"
    );
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(
        text.contains(
            "- token-expiry-wait: 3 checks in 1 case (smart-bearer-access::token-expiry)"
        ),
        "{text}"
    );
    // The introspection-bearer case, with its claim.
    let out = common::run_target(
        dir.path(),
        &target,
        &[
            "--suite",
            "suites/smart-token-lifecycle.yaml",
            "--exact",
            "smart-token-lifecycle::introspection-bearer",
        ],
        &[("SMARTCHECK_REFERENCE_PASSWORD", "demo-password")],
    );
    let console = String::from_utf8_lossy(&out.stdout);
    assert!(
        console.contains("`introspection-scope`: 4 checks in 1 case (smart-token-lifecycle::introspection-bearer); a claim about the server"),
        "{console}"
    );
}
