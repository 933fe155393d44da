//! Token sources besides the local browser: a person at the terminal (`browser.mode: manual`),
//! an S4S-style debug endpoint (`debug-token`), and a remote WebDriver (`--webdriver`).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use smartcheck::reference::{Config, Faults, ReferenceServer};

fn server(debug_endpoints: bool) -> ReferenceServer {
    ReferenceServer::start(
        "127.0.0.1",
        0,
        Config {
            faults: Faults::none(),
            debug_endpoints,
            ..Default::default()
        },
    )
    .expect("server starts")
}

fn command(server: &ReferenceServer, target: &Path, suite: &str, report_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_smartcheck"));
    cmd.arg("run")
        .arg("--target")
        .arg(target)
        .args(["--suite", suite, "--color", "never", "--report-dir"])
        .arg(report_dir)
        .env("SMARTCHECK_REFERENCE_FHIR_BASE", server.fhir_base())
        .env("SMARTCHECK_REFERENCE_ORIGIN", server.origin())
        .env("SMARTCHECK_REFERENCE_PASSWORD", "demo-password");
    cmd
}

/// The reference target with `edit` applied to its text.
fn target_with(dir: &Path, edit: impl Fn(String) -> String) -> std::path::PathBuf {
    let text = std::fs::read_to_string("fixtures/targets/reference.yaml").unwrap();
    let path = dir.join("target.yaml");
    std::fs::write(&path, edit(text)).unwrap();
    path
}

fn verdicts(dir: &Path) -> Vec<(String, String, Option<String>)> {
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
    let mut out = Vec::new();
    for case in report["cases"].as_array().unwrap() {
        for step in case["steps"].as_array().unwrap() {
            for check in step["checks"].as_array().unwrap() {
                out.push((
                    check["id"].as_str().unwrap().to_string(),
                    check["verdict"].as_str().unwrap().to_string(),
                    check["reason"].as_str().map(str::to_string),
                ));
            }
        }
    }
    out
}

#[test]
fn a_debug_endpoint_token_reads_and_a_target_without_one_is_skipped() {
    let server = server(true);
    let dir = tempfile::tempdir().unwrap();
    let target = target_with(dir.path(), |t| t);
    let out = command(
        &server,
        &target,
        "tests/fixtures/suites/debug-token.yaml",
        dir.path(),
    )
    .output()
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let v = verdicts(dir.path());
    assert_eq!(v.len(), 3);
    assert!(v.iter().all(|(_, verdict, _)| verdict == "passed"), "{v:?}");

    let without = target_with(dir.path(), |t| {
        t.lines()
            .filter(|l| !l.starts_with("debug-token-endpoint:"))
            .collect::<Vec<_>>()
            .join("\n")
    });
    let out = command(
        &server,
        &without,
        "tests/fixtures/suites/debug-token.yaml",
        dir.path(),
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v = verdicts(dir.path());
    let (_, verdict, reason) = &v[0];
    assert_eq!(verdict, "skipped");
    assert!(
        reason
            .as_deref()
            .unwrap()
            .contains("no `debug-token-endpoint`"),
        "{reason:?}"
    );
}

/// Plays the person at the terminal: reads the printed authorization URL, signs in, picks the
/// patient and approves with plain HTTP form posts, and pastes the redirect URL back.
#[test]
fn manual_mode_takes_the_redirect_pasted_at_the_terminal() {
    let server = server(false);
    let dir = tempfile::tempdir().unwrap();
    let target = target_with(dir.path(), |t| {
        t.replace("browser:\n", "browser:\n  mode: manual\n")
    });
    let mut child = command(&server, &target, "suites/smart-app-launch.yaml", dir.path())
        .args(["--exact", "reference::smart-app-launch::standalone-public"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read stderr to the end on a thread (the prompt comes first); hand the URL over.
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in stderr.lines().map_while(Result::ok) {
            if line.trim_start().starts_with("http") && line.contains("/authorize?") {
                let _ = tx.send(line.trim().to_string());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let url = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the authorization URL is printed");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let redirect = rt.block_on(async {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let txn = |page: &str| {
            regex::Regex::new(r#"name="txn" value="([^"]+)""#)
                .unwrap()
                .captures(page)
                .unwrap()[1]
                .to_string()
        };
        let origin = server.origin();
        let page = http.get(&url).send().await.unwrap().text().await.unwrap();
        let page = http
            .post(format!("{origin}/authorize/login"))
            .form(&[
                ("txn", txn(&page).as_str()),
                ("username", "daniel-adams"),
                ("password", "demo-password"),
            ])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let page = http
            .post(format!("{origin}/authorize/patient"))
            .form(&[("txn", txn(&page).as_str()), ("patient", "smart-1288992")])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let answer = http
            .post(format!("{origin}/authorize/consent"))
            .form(&[("txn", txn(&page).as_str()), ("decision", "approve")])
            .send()
            .await
            .unwrap();
        answer.headers()["location"].to_str().unwrap().to_string()
    });
    assert!(redirect.contains("code="), "{redirect}");
    writeln!(child.stdin.take().unwrap(), "{redirect}").unwrap();
    let out = child.wait_with_output().unwrap();
    let console = String::from_utf8_lossy(&out.stdout);
    let prompts = reader.join().unwrap();
    assert!(
        prompts.contains("then paste the URL you were redirected to"),
        "{prompts}"
    );
    assert_eq!(out.status.code(), Some(0), "{console}");
    let v = verdicts(dir.path());
    assert!(v.len() >= 10);
    assert!(v.iter().all(|(_, verdict, _)| verdict == "passed"), "{v:?}");
}

/// `--webdriver URL`: sessions come from that WebDriver; smartcheck starts no chromedriver.
#[test]
fn a_remote_webdriver_is_used_instead_of_spawning_chromedriver() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut driver = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .arg(format!("--log-path={}", log.path().display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver on PATH");
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let server = server(false);
    let dir = tempfile::tempdir().unwrap();
    let target = target_with(dir.path(), |t| t);
    let child = command(&server, &target, "suites/smart-app-launch.yaml", dir.path())
        .args([
            "--exact",
            "reference::smart-app-launch::standalone-public",
            "--webdriver",
            &url,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let _ = driver.kill();
    let _ = driver.wait();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The remote driver served the session; the run did not start one of its own.
    let served = std::fs::read_to_string(log.path()).unwrap();
    assert!(
        served.contains("InitSession") || served.contains("COMMAND NewSession"),
        "the remote driver got no session"
    );
    assert!(!std::env::temp_dir()
        .join(format!("smartcheck-browser-{pid}"))
        .exists());
}
