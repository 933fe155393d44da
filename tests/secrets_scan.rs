//! Masking that cannot be bypassed: every built-in suite runs against the reference server with
//! awkward secrets (a password, a gateway header, an initial access token and a `secrets:`
//! value, each over 400 characters with `/ + = " & < %` and a backslash), with debug logging
//! on; the console, the log, every report and every artifact hold none of them in any form
//! (raw, URL-, form-, JSON-, XML-encoded, base64, or cut short), and the browser's work folder
//! is gone.

use std::process::Command;

mod common;

use smartcheck::reference::{Config, Faults, ReferenceServer};

/// A value that changes under every encoding, long enough to be cut in report lines.
fn awkward(tag: &str) -> String {
    format!(
        "{tag}/+=\"&<>%25 \\'x{}",
        (0..60).map(|i| format!("{tag}{i:02}")).collect::<String>()
    )
}

/// Every form `value` could leak in, and its first 16 characters in each.
fn forms(value: &str) -> Vec<String> {
    use base64::Engine;
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    let form: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
    let percent = utf8_percent_encode(value, NON_ALPHANUMERIC).to_string();
    let json = serde_json::to_string(value).unwrap();
    let json = json[1..json.len() - 1].to_string();
    let debug = format!("{value:?}");
    let debug = debug[1..debug.len() - 1].to_string();
    let xml = value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    let base64 = base64::engine::general_purpose::STANDARD.encode(value);
    let mut out = Vec::new();
    for f in [
        value.to_string(),
        form,
        percent.clone(),
        percent.to_ascii_lowercase(),
        json,
        debug,
        xml,
        base64,
    ] {
        out.push(f.chars().take(16).collect());
        out.push(f);
    }
    out.sort();
    out.dedup();
    out
}

/// Every file under `dir`, as (path, bytes).
fn files(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path.display().to_string(), bytes));
        }
    }
    out
}

#[test]
fn no_secret_leaks_in_any_form_from_any_built_in_suite() {
    let password = awkward("pw");
    let header = awkward("hd");
    let initial = awkward("ia");
    let extra = awkward("sc");
    let server = ReferenceServer::start(
        "127.0.0.1",
        0,
        Config {
            faults: Faults::none(),
            debug_endpoints: true,
            password: Some(password.clone()),
            ..Default::default()
        },
    )
    .expect("server starts");
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("reference-awkward.yaml");
    let base = std::fs::read_to_string("fixtures/targets/reference.yaml").unwrap();
    std::fs::write(
        &target,
        base.replace("name: reference\n", "name: awkward\n").replace(
            "registration: dynamic\n",
            "registration: dynamic\nheaders:\n  x-gateway-key: ${SCAN_HEADER}\ninitial-access-token: ${SCAN_IAT}\nsecrets:\n  extra: ${SCAN_SECRET}\n",
        ),
    )
    .unwrap();
    let reports = dir.path().join("reports");
    let out = Command::new(env!("CARGO_BIN_EXE_smartcheck"))
        .args(["run", "--target"])
        .arg(&target)
        .args(["--color", "never", "--report-dir"])
        .arg(&reports)
        .env("SMARTCHECK_REFERENCE_FHIR_BASE", server.fhir_base())
        .env("SMARTCHECK_REFERENCE_ORIGIN", server.origin())
        .env("SMARTCHECK_REFERENCE_PASSWORD", &password)
        .env("SCAN_HEADER", &header)
        .env("SCAN_IAT", &initial)
        .env("SCAN_SECRET", &extra)
        .env("SMARTCHECK_LOG", "debug")
        .output()
        .unwrap();
    let console = String::from_utf8_lossy(&out.stdout).to_string();
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "{console}");
    // The run did type the password and send the header: the scan looks where they went.
    assert!(
        log.len() > 100_000,
        "debug logging was on ({} bytes)",
        log.len()
    );
    let mut outputs = vec![
        ("console".to_string(), console.into_bytes()),
        ("log".to_string(), log.into_bytes()),
    ];
    outputs.extend(files(&reports));
    assert!(outputs.iter().any(|(p, _)| p.ends_with("results.json")));
    assert!(outputs.iter().any(|(p, _)| p.ends_with("junit.xml")));
    assert!(outputs.iter().any(|(p, _)| p.ends_with("report.html")));
    let mut hits = Vec::new();
    for (name, secret) in [
        ("password", &password),
        ("header", &header),
        ("initial access token", &initial),
        ("secret", &extra),
    ] {
        for form in forms(secret) {
            for (path, bytes) in &outputs {
                let text = String::from_utf8_lossy(bytes);
                if let Some(at) = text.find(&form) {
                    let start = text.floor_char_boundary(at.saturating_sub(60));
                    let end = text.ceil_char_boundary((at + form.len() + 60).min(text.len()));
                    hits.push(format!(
                        "{name} as {form:?} in {path}: …{}…",
                        &text[start..end]
                    ));
                }
            }
        }
    }
    assert!(hits.is_empty(), "{} hits:\n{}", hits.len(), hits.join("\n"));
    // The browser's work folder went with the run.
    let leftovers: Vec<String> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("smartcheck-browser-"))
        .filter(|n| {
            n.split('-')
                .nth(2)
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// A server that redirects to a redirect URI the client never registered hands the browser a
/// live code there, one the harness never asked for: it is masked in the console, the debug
/// log and every report like the codes the harness asked for (the code was once carried
/// unmasked into `final_url`, `code` and `outcome` of results.json, junit.xml and the HTML).
#[test]
fn a_code_sent_to_an_unregistered_redirect_uri_is_masked_everywhere() {
    let server = common::reference_server(&["authorize-unknown-redirect-redirected"]);
    let dir = tempfile::tempdir().unwrap();
    let out = common::run_target(
        dir.path(),
        &common::reference_target_for(&server),
        &["reference::smart-app-launch::refuse-authorize", "--exact"],
        &[
            ("SMARTCHECK_REFERENCE_PASSWORD", "demo-password"),
            ("SMARTCHECK_LOG", "debug"),
        ],
    );
    let console = String::from_utf8_lossy(&out.stdout).to_string();
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    // The fault is caught, so the browser did land on the unregistered URI with a code.
    assert!(
        console.contains("refuse-unregistered-redirect-not-redirected"),
        "{console}\n{}",
        &log[log.len().saturating_sub(3000)..]
    );
    let mut outputs = vec![
        ("console".to_string(), console.into_bytes()),
        ("log".to_string(), log.into_bytes()),
    ];
    outputs.extend(files(dir.path()));
    assert!(outputs.iter().any(|(p, _)| p.ends_with("results.json")));
    // The reference server's codes are 43 base64url characters; FHIR codes are short.
    let code = regex::Regex::new(r#"code(?:=|\\?"\s*:\s*\\?")([A-Za-z0-9_\-]{32,})"#).unwrap();
    let hits: Vec<String> = outputs
        .iter()
        .flat_map(|(path, bytes)| {
            let text = String::from_utf8_lossy(bytes).to_string();
            code.captures_iter(&text)
                .map(|c| format!("{path}: {}", &c[0]))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        hits.is_empty(),
        "{} codes unmasked:\n{}",
        hits.len(),
        hits.join("\n")
    );
}
