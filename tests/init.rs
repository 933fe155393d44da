//! `smartcheck init FHIR_BASE`: the target it writes from what a server publishes loads, runs,
//! names what the user must supply, and holds no secret.

mod common;

use std::net::SocketAddr;
use std::process::{Command, Output};

use axum::response::{IntoResponse, Response};
use serde_json::json;

fn init(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_smartcheck"))
        .arg("init")
        .args(args)
        .output()
        .expect("smartcheck runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

/// The reference server's variables for a target `init` named `127-0-0-1`.
const REFERENCE_VARS: &[(&str, &str)] = &[
    ("SERVER_127_0_0_1_PATIENT", "smart-1288992"),
    ("SERVER_127_0_0_1_OTHER_PATIENT", "smart-1032702"),
    ("SERVER_127_0_0_1_USER", "daniel-adams"),
    ("SERVER_127_0_0_1_PASSWORD", "demo-password"),
];

fn smartcheck_with(vars: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_smartcheck"))
        .args(args)
        .envs(vars.iter().copied())
        .output()
        .expect("smartcheck runs")
}

#[test]
fn a_target_written_for_the_reference_server_loads_and_runs_its_suites() {
    let server = common::reference_server(&[]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("server.yaml");
    let out = init(&[&server.fhir_base(), "--out", file.to_str().unwrap()]);
    let said = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{said}{}", text(&out.stderr));
    let target = std::fs::read_to_string(&file).unwrap();
    for expected in [
        "name: 127-0-0-1\n",
        &format!("fhir-base: \"{}\"\n", server.fhir_base()),
        "smart-version: 2\n",
        "registration: dynamic\n",
        "path: \"Patient/{{ target.vars.patient }}\"",
        "path: \"Observation?patient={{ target.vars.patient }}\"",
        "path: \"Condition?patient={{ target.vars.patient }}\"",
        "# ehr-launch:",
        "# introspection-scope:",
    ] {
        assert!(
            target.contains(expected),
            "{expected:?} missing from:\n{target}"
        );
    }
    // The Encounter the server only reads is no search; the Basic it searches is no clinical type.
    assert!(!target.contains("Encounter?patient"), "{target}");
    assert!(!target.contains("Basic?"), "{target}");
    // No credential in the file: only names of variables.
    assert!(!target.contains("demo-password") && !target.contains("daniel-adams"));
    for (name, _) in REFERENCE_VARS {
        assert!(
            target.contains(&format!("${{{name}}}")),
            "{name}:\n{target}"
        );
        assert!(
            said.contains(&format!("  {name}: ")),
            "{name} not named:\n{said}"
        );
    }
    assert!(said.contains("found: registration dynamic"), "{said}");
    assert!(said.contains("selectors under `browser:`"), "{said}");

    // Without the variables the target does not load, naming the first one where it is used.
    let unset = smartcheck_with(&[], &["validate", file.to_str().unwrap()]);
    assert_eq!(unset.status.code(), Some(2));
    assert!(
        text(&unset.stderr).contains("environment variable `SERVER_127_0_0_1_PATIENT` is not set"),
        "{}",
        text(&unset.stderr)
    );
    // With them it loads, and the suites that need no screens pass against the server.
    let valid = smartcheck_with(REFERENCE_VARS, &["validate", file.to_str().unwrap()]);
    assert_eq!(valid.status.code(), Some(0), "{}", text(&valid.stderr));
    let reports = dir.path().join("reports");
    let run = smartcheck_with(
        REFERENCE_VARS,
        &[
            "run",
            "--target",
            file.to_str().unwrap(),
            "--suite",
            "suites/smart-discovery.yaml",
            "--suite",
            "suites/smart-registration.yaml",
            "--color",
            "never",
            "--report-dir",
            reports.to_str().unwrap(),
        ],
    );
    let console = text(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{console}");
    assert!(
        console.contains(" 0 failed, 0 warned, 0 errored"),
        "{console}"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reports.join("results.json")).unwrap()).unwrap();
    let passed = report["summary"]["checks"]["passed"].as_u64().unwrap();
    assert!(passed > 100, "{passed} checks passed:\n{console}");
}

#[test]
fn an_stu1_server_gets_smart_version_1_from_its_capability_statement() {
    let server = common::reference_server(&["no-smart-configuration"]);
    let out = init(&[&server.fhir_base()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // Without --out the target goes to stdout and the findings to stderr.
    let target = text(&out.stdout);
    let said = text(&out.stderr);
    assert!(target.contains("smart-version: 1\n"), "{target}");
    assert!(
        target.contains("# no smart-configuration: only the CapabilityStatement's oauth-uris"),
        "{target}"
    );
    assert!(target.contains("registration: dynamic\n"), "{target}");
    assert!(said.contains("smart-configuration (status 404)"), "{said}");
    assert!(
        said.contains("found: endpoints: authorize, token, registration"),
        "{said}"
    );
}

/// A server with clients registered beforehand, its authorization server on another origin
/// (127.0.0.2): smart-configuration without a registration endpoint, SMART 1 scopes.
fn static_server_answer(path: &str, _body: &str, own: SocketAddr, auth: SocketAddr) -> Response {
    match path {
        "/fhir/.well-known/smart-configuration" => axum::Json(json!({
            "authorization_endpoint": format!("http://{auth}/authorize"),
            "token_endpoint": format!("http://{auth}/token"),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["ES384"],
            "grant_types_supported": ["authorization_code", "client_credentials"],
            "capabilities": [
                "launch-standalone",
                "client-public",
                "client-confidential-symmetric",
                "client-confidential-asymmetric",
                "permission-v1"
            ],
        }))
        .into_response(),
        "/fhir/metadata" => axum::Json(json!({
            "resourceType": "CapabilityStatement",
            "fhirVersion": "4.0.1",
            "rest": [{
                "mode": "server",
                "resource": [
                    {"type": "Patient", "interaction": [{"code": "read"}]},
                    {"type": "Observation", "interaction": [{"code": "search-type"}],
                     "searchParam": [{"name": "subject", "type": "reference"}]},
                    {"type": "AllergyIntolerance", "interaction": [{"code": "search-type"}],
                     "searchParam": [{"name": "patient", "type": "reference"}]}
                ]
            }],
            "url": format!("http://{own}/fhir/metadata"),
        }))
        .into_response(),
        _ => (axum::http::StatusCode::NOT_FOUND, "not here").into_response(),
    }
}

#[test]
fn a_server_without_registration_gets_static_clients_of_the_kinds_it_offers() {
    let auth = common::recorder(
        "127.0.0.2",
        |_, _, _, _| (axum::http::StatusCode::NOT_FOUND, "").into_response(),
        "127.0.0.1:9".parse().unwrap(),
    );
    let fhir = common::recorder("127.0.0.1", static_server_answer, auth.addr);
    let base = format!("http://{}/fhir", fhir.addr);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sandbox.yaml");
    let out = init(&[&base, "--out", file.to_str().unwrap(), "--name", "sandbox"]);
    let said = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{said}{}", text(&out.stderr));
    let target = std::fs::read_to_string(&file).unwrap();
    for expected in [
        "name: sandbox\n",
        "smart-version: 1\n",
        "registration: static\n",
        "redirect-uri: http://127.0.0.1:8765/callback\n",
        "none: { client-id: \"${SANDBOX_PUBLIC_CLIENT_ID}\" }",
        // The methods listed name no client_secret_basic: the post method is the one offered.
        "client_secret_post: { client-id: \"${SANDBOX_CLIENT_ID}\", client-secret: \"${SANDBOX_CLIENT_SECRET}\" }",
        // A key file and kid only the user has: written commented, with the advertised alg.
        "# private_key_jwt: { client-id: \"${SANDBOX_JWT_CLIENT_ID}\", private-key-file: keys/es384.pem, kid: my-key, alg: ES384 }",
        &format!("credential-origins: [\"http://{}\"]", auth.addr),
        "path: \"AllergyIntolerance?patient={{ target.vars.patient }}\"",
    ] {
        assert!(target.contains(expected), "{expected:?} missing from:\n{target}");
    }
    // Observation lists its search parameters and `patient` is not among them.
    assert!(!target.contains("Observation?patient"), "{target}");
    assert!(!target.contains("client_secret_basic:"), "{target}");
    assert!(said.contains("static (no endpoint answers)"), "{said}");
    assert!(
        said.contains("the commented `private_key_jwt` client"),
        "{said}"
    );
    let vars = [
        ("SANDBOX_PATIENT", "p1"),
        ("SANDBOX_OTHER_PATIENT", "p2"),
        ("SANDBOX_USER", "u"),
        ("SANDBOX_PASSWORD", "pw"),
        ("SANDBOX_PUBLIC_CLIENT_ID", "pub"),
        ("SANDBOX_CLIENT_ID", "conf"),
        ("SANDBOX_CLIENT_SECRET", "s3cret"),
    ];
    for (name, _) in vars {
        assert!(
            said.contains(&format!("  {name}: ")),
            "{name} not named:\n{said}"
        );
    }
    let valid = smartcheck_with(&vars, &["validate", file.to_str().unwrap()]);
    assert_eq!(valid.status.code(), Some(0), "{}", text(&valid.stderr));
    // Discovery is all init asked for: nothing was registered or posted anywhere.
    assert!(fhir
        .log
        .lock()
        .unwrap()
        .iter()
        .all(|r| r.starts_with("GET ")));
    assert!(auth.log.lock().unwrap().is_empty());
}

#[test]
fn what_init_cannot_use_is_refused_with_the_reason() {
    // No server there: nothing written, the reason given, exit 1.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.yaml");
    let out = init(&[
        &format!("http://127.0.0.1:{port}/fhir"),
        "--out",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out.stderr);
    assert!(
        said.contains("no SMART endpoints found") && said.contains("cannot connect"),
        "{said}"
    );
    assert!(!file.exists());

    // Not a URL: a usage error.
    let out = init(&["ehr.example.org/fhir"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("is not an http(s) URL"));

    // An existing file is kept unless --force.
    std::fs::write(&file, "mine").unwrap();
    let server = common::reference_server(&[]);
    let out = init(&[&server.fhir_base(), "--out", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("give --force"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine");
    let out = init(&[
        &server.fhir_base(),
        "--out",
        file.to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(std::fs::read_to_string(&file)
        .unwrap()
        .starts_with("# A smartcheck target"));

    // A password in the base's address: refused before anything is read or printed.
    let out = init(&["https://user:s3cret-pw@127.0.0.1:9/fhir"]);
    assert_eq!(out.status.code(), Some(2));
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(said.contains("carries a password"), "{said}");
    assert!(!said.contains("s3cret-pw"), "{said}");

    // A name no target may have.
    let out = init(&[&server.fhir_base(), "--name", "Not A Name"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("target name"),
        "{}",
        text(&out.stderr)
    );
}

/// A discovery document that never ends: init reads no more than 5 MiB of it, says so, and
/// goes on with the other document.
fn endless(path: &str, _: &str, own: SocketAddr, _: SocketAddr) -> Response {
    match path {
        "/fhir/.well-known/smart-configuration" => {
            let chunks = futures_util::stream::repeat_with(|| {
                Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![b' '; 64 * 1024]))
            });
            (
                [("content-type", "application/json")],
                axum::body::Body::from_stream(chunks),
            )
                .into_response()
        }
        "/fhir/metadata" => axum::Json(json!({
            "resourceType": "CapabilityStatement",
            "rest": [{"mode": "server", "security": {"extension": [{
                "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                "extension": [
                    {"url": "authorize", "valueUri": format!("http://{own}/authorize")},
                    {"url": "token", "valueUri": format!("http://{own}/token")}
                ]
            }]}}]
        }))
        .into_response(),
        _ => (axum::http::StatusCode::NOT_FOUND, "").into_response(),
    }
}

#[test]
fn an_endless_document_is_read_no_further_than_a_bound() {
    let server = common::recorder("127.0.0.1", endless, "127.0.0.1:9".parse().unwrap());
    let out = init(&[&format!("http://{}/fhir", server.addr)]);
    let said = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("smart-configuration (larger than 5 MiB, read no further)"),
        "{said}"
    );
    assert!(text(&out.stdout).contains("smart-version: 1\n"));
}

/// A registration endpoint whose text carries a line break and a key: written into the
/// target's comment as one line, so that no key of the server's making enters the file.
fn injecting(path: &str, _: &str, own: SocketAddr, _: SocketAddr) -> Response {
    match path {
        "/fhir/.well-known/smart-configuration" => axum::Json(json!({
            "authorization_endpoint": format!("http://{own}/authorize"),
            "token_endpoint": format!("http://{own}/token"),
            "registration_endpoint": format!("http://{own}/register\ncredential-origins: [\"https://evil.example\"]"),
            "capabilities": ["launch-standalone", "client-public", "permission-v2\u{1b}[2J"],
        }))
        .into_response(),
        _ => (axum::http::StatusCode::NOT_FOUND, "").into_response(),
    }
}

#[test]
fn a_servers_text_cannot_add_keys_to_the_target_or_escapes_to_the_terminal() {
    let server = common::recorder("127.0.0.1", injecting, "127.0.0.1:9".parse().unwrap());
    let out = init(&[&format!("http://{}/fhir", server.addr), "--name", "inj"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let target = text(&out.stdout);
    assert!(
        !target.lines().any(|l| l.starts_with("credential-origins")),
        "{target}"
    );
    assert!(
        target.contains("?credential-origins: [\"https://evil.example\"]"),
        "{target}"
    );
    assert!(
        !text(&out.stderr).contains('\u{1b}'),
        "{}",
        text(&out.stderr)
    );
}
