//! Reports end to end: secrets never leak, JUnit loads in a real consumer with matching
//! counts, and the JUnit and JSON reports match their golden files.

use std::io::Write;
use std::process::{Command, Output};

use axum::routing::{get, post};
use smartcheck::reference::{Config, Faults, ReferenceServer};

const PASSWORD: &str = "pw-Zq81-very-secret";
const CLIENT_SECRET: &str = "cs-Hy55-client-secret";
const BASIC: &str = "YmFzaWMtY3JlZGVudGlhbHMtNzc="; // base64 of "basic-credentials-77"
const ISSUED_TOKEN: &str = "at-server-issued-4417xyz";

/// A loopback server that echoes every secret it gets and hands out a token.
fn echo_server() -> (String, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let app = axum::Router::new()
                .route(
                    "/fhir/echo",
                    post(|headers: axum::http::HeaderMap, body: String| async move {
                        let echoed = format!("{headers:?} {body}");
                        axum::Json(serde_json::json!({"echoed": echoed, "access_token": ISSUED_TOKEN, "token_type": "bearer"}))
                    }),
                )
                .route(
                    "/fhir/echo",
                    get(|headers: axum::http::HeaderMap, uri: axum::http::Uri| async move { format!("<html>{headers:?} {uri}</html>") }),
                );
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let _ = tokio::time::timeout(std::time::Duration::from_secs(60), axum::serve(listener, app)).await;
        });
    });
    (format!("http://{addr}/fhir"), handle)
}

fn smartcheck(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_smartcheck"));
    cmd.args(args).arg("--color").arg("never");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn secrets_never_reach_console_or_reports() {
    let (base, _server) = echo_server();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target.yaml");
    std::fs::write(
        &target,
        "name: echo\nfhir-base: ${ECHO_BASE}\nsecrets:\n  password: ${SC_PASSWORD}\n  client-secret: ${SC_CLIENT_SECRET}\n  basic: ${SC_BASIC}\n",
    )
    .unwrap();
    let reports = dir.path().join("reports");
    let out = smartcheck(
        &[
            "run",
            "--target",
            target.to_str().unwrap(),
            "--suite",
            "tests/fixtures/secrets-suite.yaml",
            "--report-dir",
            reports.to_str().unwrap(),
        ],
        &[
            ("ECHO_BASE", &base),
            ("SC_PASSWORD", PASSWORD),
            ("SC_CLIENT_SECRET", CLIENT_SECRET),
            ("SC_BASIC", BASIC),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "the probe's checks fail on purpose"
    );
    let console = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let junit = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    let json = std::fs::read_to_string(reports.join("results.json")).unwrap();
    // The run did exercise the secrets: failures were reported with their evidence.
    assert!(
        console.contains("echo-fails-with-secret-in-actual"),
        "{console}"
    );
    assert!(junit.contains("[redacted]") && json.contains("[redacted]"));
    for (name, text) in [
        ("console", &console),
        ("junit.xml", &junit),
        ("results.json", &json),
    ] {
        for secret in [
            PASSWORD,
            CLIENT_SECRET,
            BASIC,
            "basic-credentials-77",
            ISSUED_TOKEN,
        ] {
            assert!(!text.contains(secret), "{name} leaks {secret}:\n{text}");
        }
        // URL-encoded forms of the secrets must not leak either.
        for secret in [PASSWORD, CLIENT_SECRET] {
            let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
            assert!(!text.contains(&encoded), "{name} leaks encoded {secret}");
        }
    }
}

/// A failing run with failures, errors and skips.
fn faulty_run(dir: &std::path::Path) -> (Output, ReferenceServer) {
    faulty_run_with(dir, &[])
}

/// `faulty_run` with more `run` arguments.
fn faulty_run_with(dir: &std::path::Path, more: &[&str]) -> (Output, ReferenceServer) {
    let server = ReferenceServer::start(
        "127.0.0.1",
        0,
        Config {
            faults: Faults::parse(&[
                "smart-config-not-json",
                "oidc-config-missing",
                "response-types-no-code",
            ])
            .unwrap(),
            debug_endpoints: true,
            ..Default::default()
        },
    )
    .unwrap();
    let mut args = vec![
        "run",
        "--target",
        "fixtures/targets/reference.yaml",
        "--suite",
        "suites/smart-discovery.yaml",
        "--report-dir",
        dir.to_str().unwrap(),
        "--test-threads",
        "1",
    ];
    args.extend_from_slice(more);
    let out = smartcheck(
        &args,
        &[
            ("SMARTCHECK_REFERENCE_FHIR_BASE", &server.fhir_base()),
            ("SMARTCHECK_REFERENCE_ORIGIN", &server.origin()),
            ("SMARTCHECK_REFERENCE_PASSWORD", "demo-password"),
        ],
    );
    (out, server)
}

#[test]
fn junit_loads_in_junitparser_with_matching_counts() {
    let dir = tempfile::tempdir().unwrap();
    // A second target nobody answers at: its checks error (`<error>` in JUnit).
    let unreachable = dir.path().join("unreachable.yaml");
    std::fs::write(
        &unreachable,
        "name: unreachable\nfhir-base: http://127.0.0.1:9/fhir\nsmart-version: 2\nregistration: dynamic\ntimeouts:\n  connect: 1s\n",
    )
    .unwrap();
    let (out, _server) = faulty_run_with(dir.path(), &["--target", unreachable.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    // The unreachable server's checks share one cause per request: the summary groups them.
    let console = String::from_utf8_lossy(&out.stdout);
    let causes =
        regex::Regex::new(r"causes: the (\d+) failed or errored checks come from (\d+) causes")
            .unwrap()
            .captures(&console)
            .unwrap_or_else(|| panic!("no causes line: {console}"));
    let (bad, grouped): (u32, u32) = (causes[1].parse().unwrap(), causes[2].parse().unwrap());
    assert!(grouped < bad / 4, "{console}");
    assert!(
        console.contains("\u{d7} errored: GET http://127.0.0.1:9/fhir/.well-known/smart-configuration: cannot connect"),
        "{console}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("results.json")).unwrap())
            .unwrap();
    let checks = &report["summary"]["checks"];
    let script = r#"
import sys
from junitparser import JUnitXml, Failure, Error, Skipped
xml = JUnitXml.fromfile(sys.argv[1])
tests = failures = errors = skipped = 0
for suite in xml:
    for case in suite:
        tests += 1
        kinds = [type(r) for r in case.result]
        failures += Failure in kinds
        errors += Error in kinds
        skipped += Skipped in kinds
    assert suite.tests == len(list(suite)), "suite count"
print(tests, failures, errors, skipped)
"#;
    let python = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(dir.path().join("junit.xml"))
        .output()
        .expect("python3 runs (install it, and `pip install junitparser`)");
    assert!(
        python.status.success(),
        "junitparser could not load junit.xml (is it installed? `pip install junitparser`): {}",
        String::from_utf8_lossy(&python.stderr)
    );
    let counts: Vec<u64> = String::from_utf8_lossy(&python.stdout)
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    let n = |k: &str| checks[k].as_u64().unwrap();
    let total = n("passed") + n("failed") + n("warned") + n("errored") + n("skipped");
    assert_eq!(counts, vec![total, n("failed"), n("errored"), n("skipped")]);
    assert!(
        n("failed") > 0 && n("errored") > 0 && n("skipped") > 0 && n("warned") == 0,
        "{checks}"
    );
}

/// Replaces times, ports and dates so that reports compare across runs.
fn normalize(text: &str) -> String {
    let rules = [
        (r"127\.0\.0\.1:\d+", "127.0.0.1:PORT"),
        (
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)",
            "TIMESTAMP",
        ),
        (r#"time="[0-9.]+""#, r#"time="TIME""#),
        (r#""(\w+_ms)": \d+"#, r#""$1": 0"#),
        (r"\(\d+ ms\)", "(N ms)"),
        (
            r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT",
            "DATE",
        ),
        (
            r#""smartcheck_version": "[^"]+""#,
            r#""smartcheck_version": "VERSION""#,
        ),
    ];
    let mut out = text.to_string();
    for (pattern, replacement) in rules {
        out = regex::Regex::new(pattern)
            .unwrap()
            .replace_all(&out, replacement)
            .into_owned();
    }
    out
}

#[test]
fn junit_and_json_match_golden_files() {
    let dir = tempfile::tempdir().unwrap();
    let (_out, _server) = faulty_run(dir.path());
    for (produced, golden) in [
        ("junit.xml", "tests/golden/junit.xml"),
        ("results.json", "tests/golden/results.json"),
    ] {
        let actual = normalize(&std::fs::read_to_string(dir.path().join(produced)).unwrap());
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::File::create(golden)
                .unwrap()
                .write_all(actual.as_bytes())
                .unwrap();
        }
        let expected =
            std::fs::read_to_string(golden).expect("golden file (UPDATE_GOLDEN=1 writes it)");
        if actual != expected {
            let first = actual
                .lines()
                .zip(expected.lines())
                .position(|(a, e)| a != e);
            panic!("{produced} differs from {golden} at line {:?}; UPDATE_GOLDEN=1 rewrites it after review", first.map(|l| l + 1));
        }
    }
}

/// Secrets the server hands out (client secrets, registration access tokens) are redacted in
/// every report and the console, also in the exchanges attached to failures.
#[test]
fn server_issued_credentials_never_reach_the_reports() {
    let dir = tempfile::tempdir().unwrap();
    let server = ReferenceServer::start(
        "127.0.0.1",
        0,
        Config {
            // Failing checks attach their exchanges, which carry the credentials.
            faults: Faults::parse(&["registration-update-ignored", "registration-status-200"])
                .unwrap(),
            debug_endpoints: false,
            ..Default::default()
        },
    )
    .unwrap();
    let out = smartcheck(
        &[
            "run",
            "--target",
            "fixtures/targets/reference.yaml",
            "--suite",
            "suites/smart-registration.yaml",
            "--report-dir",
            dir.path().to_str().unwrap(),
        ],
        &[
            ("SMARTCHECK_REFERENCE_FHIR_BASE", &server.fhir_base()),
            ("SMARTCHECK_REFERENCE_ORIGIN", &server.origin()),
            ("SMARTCHECK_REFERENCE_PASSWORD", "demo-password"),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let console = String::from_utf8_lossy(&out.stdout).to_string();
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    let json = std::fs::read_to_string(dir.path().join("results.json")).unwrap();
    // `"client_secret": "VALUE"`, however quoted or escaped.
    let leak = regex::Regex::new(
        r#"(client_secret|registration_access_token)(\\?"|&quot;)\s*:\s*(\\?"|&quot;)([^\\"&\[][^\\"&]*)"#,
    )
    .unwrap();
    let bearer = regex::Regex::new(r"Bearer (wrong-)?[A-Za-z0-9_-]{20,}").unwrap();
    for (name, text) in [
        ("console", &console),
        ("junit.xml", &junit),
        ("results.json", &json),
    ] {
        assert!(
            text.contains("[redacted]") || name == "console",
            "{name} shows no redaction at all"
        );
        if let Some(m) = leak.find(text) {
            panic!("{name} leaks a credential: {}", m.as_str());
        }
        if let Some(m) = bearer.find(text) {
            panic!("{name} leaks a bearer token: {}", m.as_str());
        }
    }
    assert!(
        json.contains("client_secret\\\": \\\"[redacted]"),
        "the exchanges were attached"
    );
}

/// A case that passes with checks skipped says so: the console names it with its share and
/// the first reason, the JSON has `skipped_checks`, JUnit a property, HTML a note.
#[test]
fn a_case_that_passed_with_checks_skipped_says_how_many_everywhere() {
    let server = ReferenceServer::start(
        "127.0.0.1",
        0,
        Config {
            faults: Faults::parse(&["consent-no-deny"]).unwrap(),
            debug_endpoints: false,
            ..Default::default()
        },
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = smartcheck(
        &[
            "run",
            "--target",
            "fixtures/targets/reference-no-deny.yaml",
            "--suite",
            "suites/smart-app-launch.yaml",
            "--exact",
            "reference-no-deny::smart-app-launch::refuse-authorize",
            "--report-dir",
            dir.path().to_str().unwrap(),
        ],
        &[
            ("SMARTCHECK_REFERENCE_FHIR_BASE", &server.fhir_base()),
            ("SMARTCHECK_REFERENCE_ORIGIN", &server.origin()),
            ("SMARTCHECK_REFERENCE_PASSWORD", "demo-password"),
        ],
    );
    let console = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{console}");
    assert!(
        console.contains("passed with checks skipped")
            && console.contains("refuse-authorize: ok, 3 of 21 checks skipped (")
            && console.contains("3 of 21 checks skipped (condition not met: {{ steps.config.json.response_types_supported | first-not-code }}"),
        "{console}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap()).unwrap();
    let share = &json["cases"][0]["skipped_checks"];
    assert_eq!(
        (share["skipped"].as_u64(), share["checks"].as_u64()),
        (Some(3), Some(21)),
        "{share}"
    );
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(
        junit.contains(r#"name="checks-skipped" value="ok, 3 of 21 checks skipped""#),
        "{junit}"
    );
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains("ok, 3 of 21 checks skipped: a skipped check tested nothing"));
    // The deny at consent is among them, with its own reason.
    assert!(
        json.to_string()
            .contains("the target names no screen steps that deny"),
        "{json}"
    );
}
