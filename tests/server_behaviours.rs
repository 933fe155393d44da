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
            ..Default::default()
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
        let first = exchange["retried_after"].as_str().unwrap();
        assert!(
            first.contains("the server closed the connection without answering")
                || first.contains("the server reset the connection before answering"),
            "{exchange}"
        );
    }
}

/// Every step of the built-in suites: (suite id, case id, step).
fn built_in_steps() -> Vec<(String, String, serde_yaml::Value)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("suites").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let suite: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for case in suite["cases"].as_sequence().unwrap() {
            for step in case["steps"].as_sequence().unwrap() {
                out.push((
                    suite["suite"].as_str().unwrap().to_string(),
                    case["id"].as_str().unwrap().to_string(),
                    step.clone(),
                ));
            }
        }
    }
    out
}

/// (suite, case, step) of every built-in step that is a refusal with a positive control.
fn refusal_steps() -> Vec<(String, String, String)> {
    built_in_steps()
        .into_iter()
        .filter(|(_, _, step)| step.get("control").is_some())
        .map(|(suite, case, step)| (suite, case, step["id"].as_str().unwrap().to_string()))
        .collect()
}

/// Every step of the built-in suites that expects a refusal (a 4xx status, `expect-refusal`,
/// a deny at consent) names its positive control.
#[test]
fn every_built_in_refusal_names_its_positive_control() {
    let mut missing = Vec::new();
    for (suite, case, step) in built_in_steps() {
        let authorize = &step["authorize"];
        let refusal_flow = authorize["expect-refusal"].as_bool() == Some(true)
            || authorize["interaction"].as_str() == Some("deny");
        let refusal_status = step["checks"].as_sequence().into_iter().flatten().any(|c| {
            let codes: Vec<u64> = match &c["status"] {
                serde_yaml::Value::Number(n) => n.as_u64().into_iter().collect(),
                serde_yaml::Value::Sequence(s) => s.iter().filter_map(|n| n.as_u64()).collect(),
                _ => Vec::new(),
            };
            !codes.is_empty() && codes.iter().all(|c| *c >= 400)
        });
        if (refusal_flow || refusal_status) && step.get("control").is_none() {
            missing.push(format!("{suite}::{case}::{}", step["id"].as_str().unwrap()));
        }
    }
    assert!(
        missing.is_empty(),
        "refusals without a positive control: {missing:?}"
    );
}

/// A server that refuses every request: no refusal check is judged, passed or failed (each is
/// errored for want of a positive control, or skipped when the case never got that far), and
/// the run fails.
#[test]
fn a_server_that_refuses_everything_passes_no_refusal_check() {
    // Everything: registration too, so most cases stop at their client (skipped, never
    // passed); and only authorization requests, so the authorize refusals meet their controls.
    refusals_without_control("refuses-everything", &[], 10);
    refusals_without_control(
        "authorize-refuses-everything",
        &["--suite", "suites/smart-app-launch.yaml"],
        6,
    );
}

fn refusals_without_control(fault: &str, args: &[&str], least: usize) {
    let refusing = server(&[fault]);
    let got = run(&refusing, args);
    assert_eq!(got.code, Some(1), "{}", got.console);
    let refusals = refusal_steps();
    assert!(refusals.len() >= 40, "{} refusal steps", refusals.len());
    let mut judged = Vec::new();
    let mut without_control = 0;
    for case in got.report["cases"].as_array().unwrap() {
        for step in case["steps"].as_array().unwrap() {
            let key = (
                case["suite"].as_str().unwrap().to_string(),
                case["case"].as_str().unwrap().to_string(),
                step["id"].as_str().unwrap().to_string(),
            );
            if !refusals.contains(&key) {
                continue;
            }
            for check in step["checks"].as_array().unwrap() {
                match check["verdict"].as_str().unwrap() {
                    "passed" | "failed" | "warned" => judged.push(format!(
                        "{} {}",
                        check["id"].as_str().unwrap(),
                        check["verdict"].as_str().unwrap()
                    )),
                    "errored" => {
                        let reason = check["reason"].as_str().unwrap();
                        assert!(
                            reason.starts_with("no positive control: step `"),
                            "{reason}"
                        );
                        without_control += 1;
                    }
                    _ => {}
                }
            }
        }
    }
    assert!(
        judged.is_empty(),
        "{fault}: refusal checks judged without a control: {judged:?}"
    );
    assert!(
        without_control >= least,
        "{fault}: only {without_control} refusals lost their control"
    );
    assert!(
        got.console.contains("no positive control"),
        "the console names the reason"
    );
}

/// A refusal step whose control succeeded keeps its verdicts (the clean server passes them).
#[test]
fn refusals_pass_when_their_control_was_accepted() {
    let clean = server(&[]);
    let got = run(
        &clean,
        &[
            "--suite",
            "suites/smart-registration.yaml",
            "--suite",
            "suites/smart-backend-services.yaml",
        ],
    );
    assert_eq!(got.code, Some(0), "{}", got.console);
    let v = verdicts(&got.report);
    for id in [
        "reg-refuse-fragment-status",
        "backend-grant-type-error",
        "reg-read-no-token-401",
    ] {
        assert_eq!(v[id], "passed", "{id}");
    }
}

/// After a status failure: a refusal step still reports its `error` code, a success step skips
/// the rest; a step whose `needs` did not succeed is skipped with the reason, and so are the
/// steps that read a result it never produced.
#[test]
fn status_failures_and_unmet_prerequisites_are_reported_as_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("prerequisites.yaml");
    std::fs::write(
        &suite,
        r#"suite: prerequisites
title: prerequisites
spec: { name: SMART App Launch, version: 2.2.0, url: https://hl7.org/fhir/smart-app-launch/ }
cases:
  - id: flow
    title: flow
    steps:
      - id: garbage
        title: a garbage code, expecting the wrong status and the wrong error
        request:
          method: POST
          url: "{{ target.fhir-base | no-trailing-slash }}/../token"
          form: { grant_type: authorization_code, code: not-a-code, client_id: nobody, redirect_uri: "http://127.0.0.1:1/cb" }
        checks:
          - { id: garbage-status, title: t, requirement: rfc6749-5.2-invalid-grant, status: 403 }
          - { id: garbage-error, title: t, requirement: rfc6749-5.2-invalid-grant, json: { path: $.error, equals: invalid_grant } }
      - id: success
        title: the same, expecting a success
        request:
          method: POST
          url: "{{ target.fhir-base | no-trailing-slash }}/../token"
          form: { grant_type: authorization_code, code: not-a-code, client_id: nobody, redirect_uri: "http://127.0.0.1:1/cb" }
        checks:
          - { id: success-status, title: t, requirement: smart-al-12, status: 200 }
          - { id: success-token, title: t, requirement: smart-al-13, json: { path: $.access_token, type: string } }
      - id: after
        needs: [success]
        request:
          url: "{{ target.fhir-base }}/metadata"
        checks:
          - { id: after-status, title: t, requirement: fhir-r4-capabilities, status: 200 }
      - id: reads-token
        request:
          url: "{{ target.fhir-base }}/Patient/smart-1032702"
          headers: { Authorization: "Bearer {{ newest.access_token }}" }
        checks:
          - { id: reads-token-status, title: t, requirement: rfc6750-2.1-header, status: 200 }
"#,
    )
    .unwrap();
    let got = run(&server(&[]), &["--suite", suite.to_str().unwrap()]);
    assert_eq!(got.code, Some(1), "{}", got.console);
    let case = &got.report["cases"][0];
    let check = |step: usize, index: usize| &case["steps"][step]["checks"][index];
    // The refusal: 401 is not 403, and the error code is evaluated anyway (invalid_client).
    assert_eq!(check(0, 0)["verdict"], "failed");
    assert_eq!(check(0, 1)["verdict"], "failed", "{}", check(0, 1));
    assert!(
        check(0, 1)["actual"]
            .as_str()
            .unwrap()
            .contains("invalid_client"),
        "{}",
        check(0, 1)
    );
    // The success: its other checks only restate the status.
    assert_eq!(check(1, 0)["verdict"], "failed");
    assert_eq!(check(1, 1)["verdict"], "skipped");
    // needs: the step it stands on failed.
    assert_eq!(check(2, 0)["verdict"], "skipped");
    assert_eq!(
        check(2, 0)["reason"],
        "prerequisite not met: step `success` was answered 401, not a success"
    );
    // No token response succeeded: `newest` has nothing.
    assert_eq!(check(3, 0)["verdict"], "skipped");
    assert!(
        check(3, 0)["reason"]
            .as_str()
            .unwrap()
            .contains("newest.access_token"),
        "{}",
        check(3, 0)
    );
}

/// An STU1-era server (no smart-configuration; endpoints only in the CapabilityStatement's
/// oauth-uris) and a `smart-version: 1` target: the flow suites run with verdicts, the SMART 2
/// cases are left out with a note, and the reports say which values came from the target.
#[test]
fn an_stu1_server_runs_the_flow_suites_from_its_capability_statement() {
    let stu1 = server(&["no-smart-configuration"]);
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_smartcheck"))
        .args(["run", "--target", "fixtures/targets/reference-stu1.yaml"])
        .args([
            "--skip",
            "smart-app-launch::standalone-",
            "--skip",
            "smart-app-launch::token-",
        ])
        .args(["--color", "never", "--report-dir"])
        .arg(dir.path())
        .env("SMARTCHECK_REFERENCE_FHIR_BASE", stu1.fhir_base())
        .env("SMARTCHECK_REFERENCE_ORIGIN", stu1.origin())
        .env("SMARTCHECK_REFERENCE_PASSWORD", "demo-password")
        .output()
        .unwrap();
    let console = String::from_utf8_lossy(&out.stdout);
    let notes = String::from_utf8_lossy(&out.stderr);
    // SMART 1.0: "The server SHALL use both" documents; this server has no smart-configuration.
    assert_eq!(out.status.code(), Some(1), "{console}\n{notes}");
    assert!(
        console.contains("failed: smart1-well-known-status [SHALL]"),
        "{console}"
    );
    assert!(notes.contains("refuse-pkce"), "{notes}");
    assert!(
        notes.contains(
            "target `reference-stu1` supplies discovery values instead of the server: capabilities"
        ),
        "{notes}"
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap()).unwrap();
    let summary = &report["summary"]["checks"];
    assert_eq!(
        summary["failed"], 1,
        "only the two documents' rule: {summary}"
    );
    assert_eq!(summary["errored"], 0);
    assert!(summary["passed"].as_u64().unwrap() >= 150, "{summary}");
    assert_eq!(
        report["targets"][0]["discovery_from_target"][0],
        "capabilities"
    );
    // Every run case got past discovery: the endpoints came from the CapabilityStatement.
    let mut discovered = 0;
    for case in report["cases"].as_array().unwrap() {
        for step in case["steps"].as_array().unwrap() {
            if step["id"] == "config" && !step["result"]["sources"].is_null() {
                let sources = &step["result"]["sources"];
                assert_eq!(sources["token_endpoint"], "capability-statement", "{step}");
                assert_eq!(sources["capabilities"], "target", "{step}");
                assert_eq!(step["result"]["documents"]["smart-configuration"], 404);
                discovered += 1;
            }
        }
    }
    assert!(discovered >= 10, "{discovered} discover steps");
    // SMART 1 scopes were asked for.
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(junit.contains("discovery-from-target"));
    assert!(
        serde_json::to_string(&report)
            .unwrap()
            .contains("patient/Patient.read"),
        "no STU1 scope was sent"
    );
}

/// The same `smart-version: 1` target against a server that publishes both documents: the
/// SMART 1.0 rule that asks for both passes.
#[test]
fn a_smart_1_server_with_both_documents_passes_the_both_documents_rule() {
    let both = server(&[]);
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_smartcheck"))
        .args(["run", "--target", "fixtures/targets/reference-stu1.yaml"])
        .args([
            "--suite",
            "suites/smart-discovery.yaml",
            "smart1-both-documents",
        ])
        .args(["--color", "never", "--report-dir"])
        .arg(dir.path())
        .env("SMARTCHECK_REFERENCE_FHIR_BASE", both.fhir_base())
        .env("SMARTCHECK_REFERENCE_ORIGIN", both.origin())
        .env("SMARTCHECK_REFERENCE_PASSWORD", "demo-password")
        .output()
        .unwrap();
    let console = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{console}");
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap()).unwrap();
    assert_eq!(report["summary"]["checks"]["passed"], 4, "{console}");
}

/// A server that answers nothing: the discovery of every flow case errors (and the run fails)
/// rather than leaving the cases skipped as if the server had no such feature.
#[test]
fn an_unreachable_server_errors_the_flows_instead_of_skipping_them() {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let target = dir.path().join("gone.yaml");
    std::fs::write(
        &target,
        format!("name: gone\nfhir-base: http://127.0.0.1:{port}/fhir\ntimeouts: {{ connect: 2s, request: 2s }}\n"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_smartcheck"))
        .args(["run", "--target"])
        .arg(&target)
        .args([
            "--suite",
            "suites/smart-registration.yaml",
            "--color",
            "never",
            "--report-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let console = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{console}");
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap()).unwrap();
    for case in report["cases"].as_array().unwrap() {
        assert_eq!(case["outcome"], "errored", "{case}");
        let config = &case["steps"][0];
        assert_eq!(config["state"], "errored");
        assert!(
            config["reason"]
                .as_str()
                .unwrap()
                .starts_with("the server cannot be reached for discovery: GET http://127.0.0.1:"),
            "{config}"
        );
    }
}

/// A check that would judge a value the target supplied (`discovery:`) instead of the server
/// is skipped with that reason, never passed: here the target lists capabilities, and the
/// Capability Set check of the discovered capabilities reads them.
#[test]
fn a_check_of_values_the_target_supplied_is_skipped_never_passed() {
    let clean = server(&[]);
    let dir = tempfile::tempdir().unwrap();
    let reference = std::fs::read_to_string("fixtures/targets/reference.yaml").unwrap();
    let target = dir.path().join("supplied.yaml");
    std::fs::write(
        &target,
        reference.replace(
            "registration: dynamic\n",
            "registration: dynamic\ndiscovery:\n  capabilities: [launch-standalone, client-public, permission-v1]\n",
        ),
    )
    .unwrap();
    let got = run(
        &clean,
        &[
            "--target",
            target.to_str().unwrap(),
            "--suite",
            "suites/smart-discovery.yaml",
            "smart-configuration",
        ],
    );
    let check = got.report["cases"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["checks"].as_array().unwrap().iter())
        .find(|c| c["id"] == "smart-config-capability-sets")
        .cloned()
        .unwrap_or_else(|| panic!("{}", got.console));
    assert_eq!(check["verdict"], "skipped", "{check}");
    assert!(
        check["reason"].as_str().unwrap().starts_with(
            "not evaluated: it reads `capabilities`, which the target supplied (`discovery` in "
        ),
        "{check}"
    );
    // The checks of the server's own document still judge the server.
    assert_eq!(got.code, Some(0), "{}", got.console);
}

/// A case that needs a standalone launch registers no client on a server that offers none: its
/// client step is skipped, naming the capability, before anything is sent.
#[test]
fn a_case_that_needs_a_launch_registers_no_client_where_there_is_none() {
    let ehr_only = server(&["no-standalone-launch"]);
    let got = run(
        &ehr_only,
        &[
            "--suite",
            "suites/smart-app-launch.yaml",
            "standalone-basic",
        ],
    );
    assert_eq!(got.code, Some(0), "{}", got.console);
    let case = &got.report["cases"][0];
    let client = case["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "client")
        .unwrap();
    assert_eq!(client["state"], "skipped", "{client}");
    assert!(
        client["reason"]
            .as_str()
            .unwrap()
            .contains("launch-standalone"),
        "{client}"
    );
    assert!(client["exchange"].is_null(), "{client}");
}

/// A server with its own scope vocabulary that does not list it (no `scopes_supported`) and
/// refuses SMART's `patient/*.rs`: the standalone flow fails with the server's own refusal;
/// with the target's `scopes.patient-read` naming the server's scopes it passes, and the
/// report says what was asked for instead of what.
#[test]
fn a_targets_scope_map_asks_a_server_in_its_own_vocabulary() {
    let own = server(&["own-scope-vocabulary", "scopes-supported-missing"]);
    let args = [
        "--suite",
        "suites/smart-app-launch.yaml",
        "--exact",
        "reference::smart-app-launch::standalone-basic",
    ];
    let refused = run(&own, &args);
    assert_eq!(refused.code, Some(1), "{}", refused.console);
    assert!(
        refused
            .console
            .contains("error=invalid_scope (this server grants patient scopes by resource type"),
        "{}",
        refused.console
    );

    let dir = tempfile::tempdir().unwrap();
    let reference = std::fs::read_to_string("fixtures/targets/reference.yaml").unwrap();
    let target = dir.path().join("own-scopes.yaml");
    std::fs::write(
        &target,
        reference.replace(
            "registration: dynamic\n",
            "registration: dynamic\nscopes:\n  patient-read: \"patient/Patient.rs patient/Observation.rs\"\n",
        ),
    )
    .unwrap();
    let mut mapped_args = vec!["--target", target.to_str().unwrap()];
    mapped_args.extend(args);
    let mapped = run(&own, &mapped_args);
    assert_eq!(mapped.code, Some(0), "{}", mapped.console);
    let got = verdicts(&mapped.report);
    assert_eq!(got["standalone-basic-redirect-code"], "passed");
    assert_eq!(got["standalone-basic-token-status"], "passed");
    let sent = &mapped.report["cases"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "authorize")
        .expect("an authorize step")["result"]["sent"];
    assert_eq!(
        sent["scope"],
        "launch/patient openid fhirUser patient/Patient.rs patient/Observation.rs offline_access"
    );
    assert_eq!(sent["scope_changes"][0]["asked"], "patient/*.rs");
    assert_eq!(
        sent["scope_changes"][0]["why"],
        "the target's `scopes.patient-read` names the server's own scope"
    );
}
