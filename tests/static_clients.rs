//! `registration: static`: clients registered beforehand, their credentials from environment
//! variables, the fixed redirect URI's port shared by cases that take turns.

use std::process::Command;

mod common;

use serde_json::{json, Value};
use smartcheck::reference::{Config, Faults, ReferenceServer};

fn reference_server(faults: &[&str]) -> ReferenceServer {
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

/// The harness's RS384 client key by its absolute path: a relative key file is relative to
/// the target file, and the targets of these tests live in temporary folders.
fn client_key_path() -> String {
    std::env::current_dir()
        .unwrap()
        .join("fixtures/keys/client-rs384.key.pem")
        .display()
        .to_string()
}

#[test]
fn static_clients_complete_their_flows_and_missing_kinds_are_skipped() {
    let server = reference_server(&[]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let redirect = format!("http://127.0.0.1:{port}/app/callback");
    let jwks: Value =
        serde_json::from_str(&std::fs::read_to_string("fixtures/keys/client-jwks.json").unwrap())
            .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let register = |method: &str| {
        let mut meta = json!({
            "client_name": format!("static {method}"),
            "redirect_uris": [redirect],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": method,
            "scope": "launch/patient openid fhirUser offline_access patient/*.rs",
        });
        if method == "private_key_jwt" {
            meta["jwks"] = jwks.clone();
        }
        rt.block_on(async {
            reqwest::Client::new()
                .post(format!("{}/register", server.origin()))
                .json(&meta)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        })
    };
    let public = register("none");
    let basic = register("client_secret_basic");
    let jwt = register("private_key_jwt");

    let dir = tempfile::tempdir().unwrap();
    let key = client_key_path();
    let base = std::fs::read_to_string("fixtures/targets/reference.yaml").unwrap();
    let target = base.replace(
        "registration: dynamic\n",
        &format!(
            "registration: static\nredirect-uri: {redirect}\nclients:\n  none: {{ client-id: \"${{PUBLIC_ID}}\" }}\n  client_secret_basic: {{ client-id: \"${{BASIC_ID}}\", client-secret: \"${{BASIC_SECRET}}\" }}\n  private_key_jwt: {{ client-id: \"${{JWT_ID}}\", private-key-file: {key}, kid: client-rs384, alg: RS384 }}\n"
        ),
    );
    let path = dir.path().join("static.yaml");
    std::fs::write(&path, target).unwrap();
    let secret = basic["client_secret"].as_str().unwrap().to_string();
    let smartcheck_with = |path: &std::path::Path, filter: &str| {
        Command::new(env!("CARGO_BIN_EXE_smartcheck"))
            .arg("run")
            .arg("--target")
            .arg(path)
            .args([
                "--suite",
                "suites/smart-app-launch.yaml",
                "--color",
                "never",
                "--test-threads",
                "3",
                "--report-dir",
            ])
            .arg(dir.path())
            .arg(filter)
            .env("SMARTCHECK_REFERENCE_FHIR_BASE", server.fhir_base())
            .env("SMARTCHECK_REFERENCE_ORIGIN", server.origin())
            .env("SMARTCHECK_REFERENCE_PASSWORD", "demo-password")
            .env("PUBLIC_ID", public["client_id"].as_str().unwrap())
            .env("BASIC_ID", basic["client_id"].as_str().unwrap())
            .env("BASIC_SECRET", &secret)
            .env("JWT_ID", jwt["client_id"].as_str().unwrap())
            .output()
            .unwrap()
    };
    let smartcheck = |filter: &str| smartcheck_with(&path, filter);
    let out = smartcheck("standalone-");
    let console = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{console}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap()).unwrap();
    let mut outcomes = std::collections::BTreeMap::new();
    for case in report["cases"].as_array().unwrap() {
        outcomes.insert(
            case["case"].as_str().unwrap().to_string(),
            (
                case["outcome"].as_str().unwrap().to_string(),
                case["reason"].as_str().unwrap_or_default().to_string(),
            ),
        );
    }
    for passed in ["standalone-public", "standalone-basic", "standalone-rs384"] {
        assert_eq!(outcomes[passed].0, "passed", "{passed}: {outcomes:?}");
    }
    for skipped in ["standalone-post", "standalone-es384"] {
        assert_eq!(outcomes[skipped].0, "skipped", "{skipped}");
    }
    assert!(
        outcomes["standalone-post"]
            .1
            .contains("no static `client_secret_post` client"),
        "{outcomes:?}"
    );
    assert!(
        outcomes["standalone-es384"]
            .1
            .contains("signs with RS384, not ES384"),
        "{outcomes:?}"
    );
    for file in ["junit.xml", "results.json"] {
        assert!(
            !std::fs::read_to_string(dir.path().join(file))
                .unwrap()
                .contains(&secret),
            "{file}"
        );
    }
    assert!(!console.contains(&secret));

    // The run's only case was skipped, and its reason says `why`; the report is returned.
    let skipped_saying = |out: std::process::Output, why: &str| -> Value {
        assert_eq!(out.status.code(), Some(0));
        let report: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap())
                .unwrap();
        let case = &report["cases"][0];
        assert_eq!(case["outcome"], "skipped", "{case}");
        assert!(
            case["reason"].as_str().unwrap().contains(why),
            "{}",
            case["reason"]
        );
        report
    };

    // A case that needs a second client of a kind skips, saying so, when the target names none.
    skipped_saying(
        smartcheck("token-other-client"),
        "the target names no second static `client_secret_basic` client",
    );

    // A target of private_key_jwt clients only (a backend service) needs no redirect URI;
    // its authorization-code cases skip, saying why, instead of failing at the server.
    let backend = base.replace(
        "registration: dynamic\n",
        &format!("registration: static\nclients:\n  private_key_jwt: {{ client-id: \"${{JWT_ID}}\", private-key-file: {key}, kid: client-rs384, alg: RS384 }}\n"),
    );
    let backend_path = dir.path().join("backend.yaml");
    std::fs::write(&backend_path, backend).unwrap();
    let out = smartcheck_with(&backend_path, "standalone-rs384");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap()).unwrap();
    let authorize = report["cases"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "authorize")
        .unwrap()
        .clone();
    assert_eq!(authorize["state"], "skipped", "{authorize}");
    assert!(
        authorize["reason"]
            .as_str()
            .unwrap()
            .contains("the target's static clients have no `redirect-uri`"),
        "{authorize}"
    );

    // An EHR launch case registers (here: finds) its client before the EHR launches: a target
    // without that client kind skips the case before any browser opens.
    let report = skipped_saying(
        smartcheck_with(&backend_path, "ehr-basic"),
        "no static `client_secret_basic` client",
    );
    assert!(
        report["browser"].is_null() || report["browser"]["sessions"] == 0,
        "a browser was started: {}",
        report["browser"]
    );
}

/// Runs `backend-refusals` with a static backend client registered beforehand at a reference
/// server with these faults (`scope_line` adds keys to the client's entry); the report.
fn backend_refusals_with_a_static_client(faults: &[&str], scope_line: &str) -> Value {
    let jwks: Value =
        serde_json::from_str(&std::fs::read_to_string("fixtures/keys/client-jwks.json").unwrap())
            .unwrap();
    let (report, code) = backend_refusals_with_a_static_key(
        faults,
        scope_line,
        &jwks,
        &client_key_path(),
        "client-rs384",
    );
    assert_eq!(code, Some(0), "{report}");
    report
}

/// [`backend_refusals_with_a_static_client`] with the client's own key: the JWK Set registered,
/// the private key file and kid the target names; the report and the exit code.
fn backend_refusals_with_a_static_key(
    faults: &[&str],
    scope_line: &str,
    jwks: &Value,
    key: &str,
    kid: &str,
) -> (Value, Option<i32>) {
    let server = reference_server(faults);
    let client = register_backend(&server, jwks);
    let base = std::fs::read_to_string("fixtures/targets/reference.yaml").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = base.replace(
        "registration: dynamic\n",
        &format!("registration: static\nclients:\n  private_key_jwt: {{ client-id: \"${{JWT_ID}}\", private-key-file: {key}, kid: {kid}, alg: RS384{scope_line} }}\n"),
    );
    let path = dir.path().join("backend.yaml");
    std::fs::write(&path, target).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_smartcheck"))
        .args(["run", "--target"])
        .arg(&path)
        .args([
            "--suite",
            "suites/smart-backend-services.yaml",
            "--color",
            "never",
            "--report-dir",
        ])
        .arg(dir.path())
        .arg("backend-refusals")
        .env("SMARTCHECK_REFERENCE_FHIR_BASE", server.fhir_base())
        .env("SMARTCHECK_REFERENCE_ORIGIN", server.origin())
        .env("SMARTCHECK_REFERENCE_PASSWORD", "demo-password")
        .env("JWT_ID", client["client_id"].as_str().unwrap())
        .output()
        .unwrap();
    let report =
        serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap()).unwrap();
    (report, out.status.code())
}

const BACKEND_SCOPE: &str = "system/Patient.rs system/Observation.rs";

/// A backend client registered beforehand at `server` with this JWK Set: the registration
/// answer (its `client_id` is what a static target names).
fn register_backend(server: &ReferenceServer, jwks: &Value) -> Value {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        reqwest::Client::new()
            .post(format!("{}/register", server.origin()))
            .json(&json!({
                "client_name": "static backend",
                "grant_types": ["client_credentials"],
                "token_endpoint_auth_method": "private_key_jwt",
                "scope": BACKEND_SCOPE,
                "jwks": jwks,
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    })
}

fn step<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["cases"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id}: {report}"))
}

/// A static backend client: "a scope beyond the registered one" is asked for only when the
/// target says what the client was registered with (the harness cannot know it otherwise), and
/// then judged against that scope.
#[test]
fn the_beyond_registered_probe_needs_a_static_clients_registered_scope() {
    let unknown = backend_refusals_with_a_static_client(&[], "");
    let unknown = step(&unknown, "beyond-registered");
    assert_eq!(unknown["state"], "skipped", "{unknown}");
    assert!(
        unknown["reason"]
            .as_str()
            .unwrap()
            .contains("steps.client.json.scope"),
        "{unknown}"
    );
    let known =
        backend_refusals_with_a_static_client(&[], &format!(", scope: \"{BACKEND_SCOPE}\""));
    let known = step(&known, "beyond-registered");
    assert_eq!(known["state"], "ran", "{known}");
    let verdicts: Vec<&str> = known["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["passed", "passed"], "{known}");
}

/// A server whose discovery lists no RS384 assertions but accepts them from the static client
/// the target names: the backend refusals (the jti replay among them) still run, since the
/// target's client shows the server has one; a client to be registered would be skipped.
#[test]
fn a_static_backend_client_is_tested_whatever_discovery_lists() {
    let report = backend_refusals_with_a_static_client(&["asymmetric-algs-rs256-only"], "");
    let client = step(&report, "client");
    assert_eq!(client["state"], "ran", "{client}");
    let replay = step(&report, "replayed-jti");
    assert_eq!(replay["state"], "ran", "{replay}");
    assert!(
        replay["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["verdict"] == "passed"),
        "{replay}"
    );
}

/// The HMAC confusion probe signs with the static client's own public key (derived from the
/// private key file the target names), not with a key of the harness's: a server that verifies
/// HS256 with the registered key's PEM is caught whichever key the client has.
#[test]
fn the_hmac_confusion_probe_uses_the_static_clients_own_key() {
    // A key of the client's own: none of the harness's client keys, nor the key it signs
    // "wrong key" assertions with.
    let jwks: Value = serde_json::from_str(
        &std::fs::read_to_string("tests/fixtures/keys/static-own-jwks.json").unwrap(),
    )
    .unwrap();
    let key = std::env::current_dir()
        .unwrap()
        .join("tests/fixtures/keys/static-own-rs384.key.pem")
        .display()
        .to_string();
    let hs256 = |report: &Value| -> Vec<String> {
        step(report, "hs256")["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                format!(
                    "{} {}",
                    c["id"].as_str().unwrap(),
                    c["verdict"].as_str().unwrap()
                )
            })
            .collect()
    };
    let (clean, code) =
        backend_refusals_with_a_static_key(&[], "", &jwks, &key, "static-own-rs384");
    assert_eq!(code, Some(0), "{:?}", not_passed(&clean));
    assert_eq!(
        hs256(&clean),
        ["backend-hs256-status passed", "backend-hs256-error passed"]
    );
    let (confused, code) = backend_refusals_with_a_static_key(
        &["client-assertion-alg-confusion"],
        "",
        &jwks,
        &key,
        "static-own-rs384",
    );
    assert_eq!(code, Some(1), "{:?}", not_passed(&confused));
    assert_eq!(
        hs256(&confused),
        ["backend-hs256-status failed", "backend-hs256-error failed"],
        "{confused}"
    );
    // Nothing else changed verdict: the server's other refusals still hold.
    assert_eq!(
        not_passed(&confused),
        [
            "backend-hs256-status failed: ",
            "backend-hs256-error failed: "
        ]
    );
}

/// The checks of a one-case report that neither passed nor were skipped: id, verdict, reason.
fn not_passed(report: &Value) -> Vec<String> {
    report["cases"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["checks"].as_array().unwrap())
        .filter(|c| c["verdict"] != "passed" && c["verdict"] != "skipped")
        .map(|c| {
            format!(
                "{} {}: {}",
                c["id"].as_str().unwrap(),
                c["verdict"].as_str().unwrap(),
                c["reason"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

/// The `keys:` lines of a static client with the harness's RS384 key and its ES384 key.
fn key_lines() -> (String, String) {
    let keys = std::env::current_dir().unwrap().join("fixtures/keys");
    let line = |file: &str, kid: &str, alg: &str| {
        format!(
            "      - {{ private-key-file: {}, kid: {kid}, alg: {alg} }}\n",
            keys.join(file).display()
        )
    };
    (
        line("client-rs384.key.pem", "client-rs384", "RS384"),
        line("client-es384.key.pem", "client-es384", "ES384"),
    )
}

/// Runs the backend suite's cases that `filter` selects with a static `private_key_jwt`
/// client (the id `client_id`, the `keys:` lines given) against `server`, the reports in
/// `dir`; the exit code, the console, and the report.
fn run_static_backend(
    server: &ReferenceServer,
    client_id: &str,
    keys: &str,
    filter: &str,
    dir: &std::path::Path,
) -> (Option<i32>, String, Value) {
    let base = std::fs::read_to_string("fixtures/targets/reference.yaml").unwrap();
    let path = dir.join("two-keys.yaml");
    std::fs::write(
        &path,
        base.replace(
            "registration: dynamic\n",
            &format!("registration: static\nclients:\n  private_key_jwt:\n    client-id: \"${{JWT_ID}}\"\n    keys:\n{keys}"),
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_smartcheck"))
        .args(["run", "--target"])
        .arg(&path)
        .args(["--suite", "suites/smart-backend-services.yaml"])
        .args(["--color", "never", "--report-dir"])
        .arg(dir)
        .arg(filter)
        .env("SMARTCHECK_REFERENCE_FHIR_BASE", server.fhir_base())
        .env("SMARTCHECK_REFERENCE_ORIGIN", server.origin())
        .env("SMARTCHECK_REFERENCE_PASSWORD", "demo-password")
        .env("JWT_ID", client_id)
        .output()
        .unwrap();
    let console = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report = serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap())
        .unwrap_or_else(|e| panic!("{e}: {console}"));
    (out.status.code(), console, report)
}

/// A static backend client registered with a JWK Set of two keys: the target names both under
/// `keys`, and each case signs with the key of the algorithm it tests; a case whose algorithm
/// the client has no key for is skipped, saying so.
#[test]
fn a_static_client_with_several_keys_signs_each_case_with_its_algorithms_key() {
    let server = reference_server(&[]);
    let jwks: Value =
        serde_json::from_str(&std::fs::read_to_string("fixtures/keys/client-jwks.json").unwrap())
            .unwrap();
    let client = register_backend(&server, &jwks);
    let client_id = client["client_id"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = |keys: &str| -> Value {
        // The RS384 case, then the ES384 one (whose report is returned).
        let mut last = Value::Null;
        for case in ["backend-rs384", "backend-es384"] {
            let (code, console, report) =
                run_static_backend(&server, client_id, keys, case, dir.path());
            assert_eq!(code, Some(0), "{case}: {console}");
            last = report;
        }
        last
    };
    let (rs384, es384) = key_lines();
    // Both keys: the ES384 case runs with the ES384 key, and passes.
    let both = run(&format!("{rs384}{es384}"));
    let case = &both["cases"][0];
    assert_eq!(case["case"], "backend-es384");
    assert_eq!(case["outcome"], "passed", "{case}");
    let client_step = step(&both, "client");
    assert_eq!(client_step["state"], "ran", "{client_step}");
    assert!(
        both["summary"]["checks"]["passed"].as_u64().unwrap() > 3,
        "{both}"
    );
    // Only the RS384 key: the ES384 case is skipped, naming the keys the client has.
    let one = run(&rs384);
    let client_step = step(&one, "client");
    assert_eq!(client_step["state"], "skipped", "{client_step}");
    assert!(
        client_step["reason"]
            .as_str()
            .unwrap()
            .contains("has keys for RS384, not ES384"),
        "{client_step}"
    );
}

/// The harness's public client keys, as a JWK Set published somewhere the harness does not
/// control (the URL a static client was registered with, or a target's `client-jwks-url`).
fn published_client_jwks(
    _path: &str,
    _body: &str,
    _own: std::net::SocketAddr,
    _other: std::net::SocketAddr,
) -> axum::response::Response {
    axum::response::Response::builder()
        .header("Content-Type", "application/json")
        .body(include_str!("../fixtures/keys/client-jwks.json").into())
        .unwrap()
}

/// Runs `backend-jwks-uri` on `target` (the reference target with `edit` applied) against
/// `server`; the report.
fn jwks_uri_case(
    server: &ReferenceServer,
    edit: &dyn Fn(&str) -> String,
    client_id: &str,
) -> Value {
    let base = std::fs::read_to_string("fixtures/targets/reference.yaml").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks-url.yaml");
    std::fs::write(&path, edit(&base)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_smartcheck"))
        .args(["run", "--target"])
        .arg(&path)
        .args(["--suite", "suites/smart-backend-services.yaml"])
        .args([
            "--color",
            "never",
            "--exact",
            "smart-backend-services::backend-jwks-uri",
        ])
        .args(["--report-dir"])
        .arg(dir.path())
        .env("SMARTCHECK_REFERENCE_FHIR_BASE", server.fhir_base())
        .env("SMARTCHECK_REFERENCE_ORIGIN", server.origin())
        .env("SMARTCHECK_REFERENCE_PASSWORD", "demo-password")
        .env("JWT_ID", client_id)
        .output()
        .unwrap();
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap())
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(report["cases"][0]["case"], "backend-jwks-uri", "{report}");
    report
}

/// The verdict of one check of a one-case report.
fn verdict_of(report: &Value, id: &str) -> String {
    report["cases"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["checks"].as_array().unwrap())
        .find(|c| c["id"] == id)
        .map(|c| c["verdict"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("no check {id}: {report}"))
}

/// A client registered by its JWK Set URL beforehand (static), or a dynamic one registered
/// with the target's `client-jwks-url`: the JWK Set URL case runs with it, and its token
/// request is judged (passed on a server that uses the keys there, failed on one that fetches
/// them and refuses); the steps that change the set or count its fetches are skipped, saying
/// why. A static client without `jwks-url` skips the case, naming the key.
#[test]
fn a_client_registered_by_a_published_jwks_url_runs_the_jwks_uri_case() {
    let rs384 = client_key_path();
    let es384 = std::env::current_dir()
        .unwrap()
        .join("fixtures/keys/client-es384.key.pem")
        .display()
        .to_string();
    for (faults, verdict) in [
        (&[][..], "passed"),
        (&["jwks-uri-keys-not-used"][..], "failed"),
    ] {
        let server = reference_server(faults);
        let published = common::recorder(
            "127.0.0.1",
            published_client_jwks,
            "127.0.0.1:9".parse().unwrap(),
        );
        let url = format!("http://{}/jwks.json", published.addr);
        let client: Value = tokio::runtime::Runtime::new().unwrap().block_on(async {
            reqwest::Client::new()
                .post(format!("{}/register", server.origin()))
                .json(&json!({
                    "client_name": "static backend by URL",
                    "grant_types": ["client_credentials"],
                    "token_endpoint_auth_method": "private_key_jwt",
                    "scope": BACKEND_SCOPE,
                    "jwks_uri": url,
                }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap()
        });
        let client_id = client["client_id"].as_str().unwrap();
        let static_target = |base: &str| {
            base.replace(
                "registration: dynamic\n",
                &format!("registration: static\nclients:\n  private_key_jwt:\n    client-id: \"${{JWT_ID}}\"\n    jwks-url: {url}\n    keys:\n      - {{ private-key-file: {rs384}, kid: client-rs384, alg: RS384 }}\n      - {{ private-key-file: {es384}, kid: client-es384, alg: ES384 }}\n"),
            )
        };
        let report = jwks_uri_case(&server, &static_target, client_id);
        assert_eq!(step(&report, "client")["state"], "ran", "{report}");
        assert_eq!(
            step(&report, "client")["result"]["jwks_uri"],
            url.as_str(),
            "{report}"
        );
        assert_eq!(
            verdict_of(&report, "backend-jwks-uri-status"),
            verdict,
            "{faults:?}: {report}"
        );
        for id in [
            "backend-jwks-uri-dropped-key-refused",
            "backend-jwks-uri-restored-status",
            "backend-jwks-uri-cached",
        ] {
            assert_eq!(verdict_of(&report, id), "skipped", "{id}: {report}");
        }
        // On the clean server the set's rotation is skipped for the set's own reason (under
        // the fault, for the failed token request before it).
        let rotate = step(&report, "rotate");
        let why = if faults.is_empty() {
            "the URL it was registered with"
        } else {
            "its check `backend-jwks-uri-status` failed"
        };
        assert!(rotate["reason"].as_str().unwrap().contains(why), "{rotate}");
        assert!(
            !published.log.lock().unwrap().is_empty(),
            "the server fetched the published set"
        );
        // A dynamic client registered with the target's client-jwks-url: judged alike.
        let dynamic = |base: &str| format!("{base}\nclient-jwks-url: {url}\n");
        let report = jwks_uri_case(&server, &dynamic, "unused");
        assert_eq!(
            verdict_of(&report, "backend-jwks-uri-status"),
            verdict,
            "client-jwks-url, {faults:?}: {report}"
        );
        let registered = step(&report, "client")["exchange"]["request"]["body"].to_string();
        assert!(registered.contains(&url), "{registered}");
    }
    // A static client registered with its keys by value: the case is skipped, naming the key.
    let server = reference_server(&[]);
    let inline = |base: &str| {
        base.replace(
            "registration: dynamic\n",
            &format!("registration: static\nclients:\n  private_key_jwt: {{ client-id: \"${{JWT_ID}}\", private-key-file: {rs384}, kid: client-rs384, alg: RS384 }}\n"),
        )
    };
    let report = jwks_uri_case(&server, &inline, "some-client");
    let client = step(&report, "client");
    assert_eq!(client["state"], "skipped", "{client}");
    assert!(
        client["reason"]
            .as_str()
            .unwrap()
            .contains("`clients.private_key_jwt.jwks-url`"),
        "{client}"
    );
    assert_eq!(verdict_of(&report, "backend-jwks-uri-status"), "skipped");
}

/// A static backend client with an RS384 and an ES384 key: every backend refusal runs with
/// each (backend-refusals and its ES384 copy), each case signing with the key of its algorithm.
#[test]
fn a_static_client_with_two_keys_meets_every_backend_refusal_with_each() {
    let server = reference_server(&[]);
    let jwks: Value =
        serde_json::from_str(&std::fs::read_to_string("fixtures/keys/client-jwks.json").unwrap())
            .unwrap();
    let client = register_backend(&server, &jwks);
    let dir = tempfile::tempdir().unwrap();
    let (rs384, es384) = key_lines();
    let (code, console, report) = run_static_backend(
        &server,
        client["client_id"].as_str().unwrap(),
        &format!("{rs384}{es384}"),
        "backend-refusals",
        dir.path(),
    );
    assert_eq!(code, Some(0), "{console}");
    let cases: Vec<(&str, &str, usize)> = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let passed = c["steps"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|s| s["checks"].as_array().unwrap())
                .filter(|k| k["verdict"] == "passed")
                .count();
            (
                c["case"].as_str().unwrap(),
                c["outcome"].as_str().unwrap(),
                passed,
            )
        })
        .collect();
    assert_eq!(cases.len(), 2, "{console}");
    assert_eq!(cases[0].0, "backend-refusals");
    assert_eq!(cases[1].0, "backend-refusals-es384");
    for (case, outcome, passed) in &cases {
        assert_eq!(*outcome, "passed", "{case}: {console}");
        // The beyond-registered probe needs the client's registered scope: skipped here.
        assert!(*passed >= 40, "{case}: {passed} checks passed: {console}");
    }
}
