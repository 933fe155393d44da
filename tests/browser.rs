//! The browser in the loop: a broken consent step leaves a screenshot and the page source, no
//! chromedriver or Chromium outlives a run (also one ended by Ctrl-C, SIGTERM, SIGHUP, a second
//! signal or SIGKILL), page waits follow the target's timeouts, and what the
//! browser types and receives (the password, the authorization code) never reaches a report.

mod common;

use std::net::SocketAddr;

use axum::response::IntoResponse;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use smartcheck::reference::{Config, Faults, ReferenceServer};

const PASSWORD: &str = "demo-password";

fn server() -> ReferenceServer {
    ReferenceServer::start(
        "127.0.0.1",
        0,
        Config {
            faults: Faults::none(),
            debug_endpoints: true,
            ..Default::default()
        },
    )
    .expect("server starts")
}

fn command(server: &ReferenceServer, target: &str, report_dir: &Path, filter: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_smartcheck"));
    cmd.args([
        "run",
        "--target",
        target,
        "--suite",
        "suites/smart-app-launch.yaml",
        "--color",
        "never",
        "--report-dir",
    ])
    .arg(report_dir)
    .args(filter)
    .env("SMARTCHECK_REFERENCE_FHIR_BASE", server.fhir_base())
    .env("SMARTCHECK_REFERENCE_ORIGIN", server.origin())
    .env("SMARTCHECK_REFERENCE_PASSWORD", PASSWORD);
    cmd
}

/// The step `id` of a case in a JSON report.
fn step<'a>(case: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    case["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("{}: no step {id}", case["name"]))
}

/// The browser processes of smartcheck process `pid`: its chromedriver children, and every
/// process whose command line names its browser work folder (each Chromium's profile lives
/// there).
fn browser_processes(pid: u32) -> Vec<(u32, String)> {
    let marker = format!("smartcheck-browser-{pid}-");
    let mut found = Vec::new();
    for (p, text) in chromedrivers(pid) {
        found.push((p, text));
    }
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(p) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if text.contains(&marker) {
                found.push((p, text));
            }
        }
    }
    found
}

/// The chromedriver processes whose parent is `pid`.
fn chromedrivers(pid: u32) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(p) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let Some((comm, rest)) = stat.split_once(") ") else {
            continue;
        };
        let ppid = rest.split(' ').nth(1).and_then(|s| s.parse::<u32>().ok());
        if comm.ends_with("(chromedriver") && ppid == Some(pid) {
            found.push((p, "chromedriver".to_string()));
        }
    }
    found
}

/// The local addresses (hex, as in /proc/net/tcp and tcp6) on which the chromedriver of
/// smartcheck process `pid` listens.
fn driver_listen_addresses(pid: u32) -> Vec<String> {
    let mut ports = Vec::new();
    for (driver, _) in chromedrivers(pid) {
        let cmdline = std::fs::read(format!("/proc/{driver}/cmdline")).unwrap_or_default();
        for arg in String::from_utf8_lossy(&cmdline).split('\0') {
            if let Some(port) = arg
                .strip_prefix("--port=")
                .and_then(|p| p.parse::<u16>().ok())
            {
                ports.push(format!("{port:04X}"));
            }
        }
    }
    let mut found = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        for line in std::fs::read_to_string(table)
            .unwrap_or_default()
            .lines()
            .skip(1)
        {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local_address (ADDR:PORT), remote, state (0A = LISTEN)
            let (Some(local), Some(state)) = (fields.get(1), fields.get(3)) else {
                continue;
            };
            if let Some((address, port)) = local.split_once(':') {
                if *state == "0A" && ports.iter().any(|p| p == port) {
                    found.push(address.to_string());
                }
            }
        }
    }
    found
}

/// Which of `pids` still run (zombies count as gone).
fn still_running(pids: &std::collections::BTreeSet<u32>) -> Vec<u32> {
    pids.iter()
        .copied()
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .is_ok_and(|s| s.split_once(") ").is_some_and(|(_, r)| !r.starts_with('Z')))
        })
        .collect()
}

/// Runs to the end while watching for browser processes; returns the output and how many
/// distinct browser processes were seen.
fn run_watching(mut cmd: Command) -> (Output, usize, u32) {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let watcher = std::thread::spawn(move || {
        let mut seen = std::collections::BTreeSet::new();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(240) {
            let now = browser_processes(pid);
            if now.is_empty() && !seen.is_empty() && !Path::new(&format!("/proc/{pid}")).exists() {
                break;
            }
            seen.extend(now.into_iter().map(|(p, _)| p));
            std::thread::sleep(Duration::from_millis(50));
            if !Path::new(&format!("/proc/{pid}")).exists() {
                break;
            }
        }
        seen.len()
    });
    let out = child.wait_with_output().unwrap();
    (out, watcher.join().unwrap(), pid)
}

#[test]
fn a_broken_consent_step_saves_a_screenshot_and_the_page() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let out = command(
        &server,
        "tests/fixtures/targets/reference-broken-consent.yaml",
        dir.path(),
        &[
            "--exact",
            "reference-broken-consent::smart-app-launch::standalone-public",
        ],
    )
    .output()
    .unwrap();
    let console = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{console}");
    assert!(
        console.contains("errored: standalone-public-redirect-code"),
        "{console}"
    );
    assert!(
        console.contains(r##"authorize[1] click "#approve-typo" could not be played"##),
        "{console}"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap()).unwrap();
    let step = &report["cases"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "authorize")
        .unwrap()
        .clone();
    assert_eq!(step["state"], "errored");
    let artifacts: Vec<&str> = step["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let png = artifacts
        .iter()
        .find(|a| a.ends_with(".png"))
        .expect("a screenshot");
    let html = artifacts
        .iter()
        .find(|a| a.ends_with(".html"))
        .expect("the page source");
    let bytes = std::fs::read(png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{png} is a PNG");
    assert!(bytes.len() > 1000, "{png} holds a picture");
    let page = std::fs::read_to_string(html).unwrap();
    assert!(
        page.contains("id=\"approve\""),
        "the saved page is the consent screen"
    );
    assert!(step["result"]["final_url"]
        .as_str()
        .unwrap()
        .contains("/authorize/"));
    assert!(console.contains(&format!("saved:    {png}")), "{console}");
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(junit.contains(&format!("[[ATTACHMENT|{png}]]")), "{junit}");
    assert!(junit.contains("<error"), "{junit}");

    // A broken step without checks of its own still errors its case (it does not pass
    // silently with the later checks skipped).
    let dir = tempfile::tempdir().unwrap();
    let out = command(
        &server,
        "tests/fixtures/targets/reference-broken-consent.yaml",
        dir.path(),
        &[
            "--exact",
            "reference-broken-consent::smart-app-launch::token-refusals",
        ],
    )
    .output()
    .unwrap();
    let console = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{console}");
    assert!(
        console.contains(
            "errored: control-authorize-step [SHALL] step `control-authorize` can be carried out"
        ),
        "{console}"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap()).unwrap();
    assert_eq!(report["cases"][0]["outcome"], "errored");
    // The garbage-code refusal still ran, but its positive control (the exchange of the case's
    // real code) never could: its checks are errored for want of it, not passed. Every other
    // authorization of the case met the same broken screen.
    let mut errored = Vec::new();
    for step in report["cases"][0]["steps"].as_array().unwrap() {
        for check in step["checks"].as_array().unwrap() {
            if check["verdict"] == "errored" {
                errored.push((
                    check["id"].as_str().unwrap().to_string(),
                    check["reason"].as_str().unwrap().to_string(),
                ));
            }
        }
    }
    let ids: Vec<&str> = errored.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "control-authorize-step",
            "token-garbage-code-status",
            "token-garbage-code-json",
            "token-garbage-code-error",
            "authorize-wrong-redirect-uri-step",
            "authorize-wrong-secret-step",
            "authorize-no-client-auth-step",
            "authorize-without-redirect-uri-step",
        ],
        "{errored:#?}"
    );
    for (id, reason) in errored
        .iter()
        .filter(|(id, _)| id.starts_with("token-garbage-code-"))
    {
        assert!(
            reason.starts_with("no positive control: step `control-exchange` was skipped"),
            "{id}: {reason}"
        );
    }
}

#[test]
fn no_browser_process_outlives_a_run_and_nothing_secret_is_written() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let cmd = command(
        &server,
        "fixtures/targets/reference.yaml",
        dir.path(),
        &["standalone-basic"],
    );
    let (out, seen, pid) = run_watching(cmd);
    let console = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{console}");
    assert!(
        seen >= 2,
        "chromedriver and Chromium ran ({seen} processes seen)"
    );
    let left = browser_processes(pid);
    assert!(left.is_empty(), "left behind: {left:?}");

    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    let json = std::fs::read_to_string(dir.path().join("results.json")).unwrap();
    for (name, text) in [("console", &console), ("junit", &junit), ("json", &json)] {
        assert!(!text.contains(PASSWORD), "{name} shows the password");
    }
    // The authorization code: in the result document and the redirect URL, always masked.
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let authorize = report["cases"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "authorize")
        .unwrap()
        .clone();
    assert_eq!(authorize["result"]["outcome"], "code");
    assert_eq!(authorize["result"]["code"], "[redacted]");
    let codes = regex::Regex::new(r"code=([^&\s\x22\\]+)").unwrap();
    for text in [&junit, &json] {
        for c in codes.captures_iter(text) {
            assert!(
                c[1].contains("redacted") || c[1].starts_with("%5Bredacted"),
                "an authorization code leaked: {}",
                &c[0]
            );
        }
    }
}

#[test]
fn select_check_and_wait_for_url_steps_drive_the_screens() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let case = "reference-widgets::smart-app-launch::standalone-public";
    let out = command(
        &server,
        "tests/fixtures/targets/reference-widgets.yaml",
        dir.path(),
        &["--exact", case],
    )
    .output()
    .unwrap();
    let console = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{console}");

    // An option that is not there stops the flow with the step and the reason.
    let text = std::fs::read_to_string("tests/fixtures/targets/reference-widgets.yaml")
        .unwrap()
        .replace("value: Français", "value: Klingon");
    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, text).unwrap();
    let out = command(
        &server,
        broken.to_str().unwrap(),
        dir.path(),
        &["--exact", case],
    )
    .output()
    .unwrap();
    let console = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{console}");
    assert!(
        console.contains(r##"sign-in[2] select "#locale" could not be played: "#locale" has no option with value or text "Klingon""##),
        "{console}"
    );
}

/// A consent page whose "I agree" check box is drawn at zero size under a styled label: the
/// default WebDriver click cannot tick it, the pointer at its box and a script click can. The
/// target's `authorize-params` reach the authorization request.
#[test]
fn zero_size_check_boxes_are_reached_by_pointer_or_script_and_extra_params_are_sent() {
    let server = ReferenceServer::start(
        "127.0.0.1",
        0,
        Config {
            faults: Faults::parse(&["consent-zero-size-checkbox"]).unwrap(),
            debug_endpoints: false,
            ..Default::default()
        },
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let case = "reference::smart-app-launch::standalone-public";
    let base = std::fs::read_to_string("fixtures/targets/reference.yaml").unwrap();
    let run = |authorize: &str, name: &str| {
        let text = base
            .replace(
                "  authorize:\n    - wait-for: \"#scopes\"\n",
                &format!("  authorize:\n    - wait-for: \"#scopes\"\n{authorize}"),
            )
            .replace(
                "registration: dynamic\n",
                "registration: dynamic\nauthorize-params: { ui_locales: de, aud: https://not-sent.invalid }\n",
            );
        let path = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&path, text).unwrap();
        let report_dir = dir.path().join(name);
        let out = command(
            &server,
            path.to_str().unwrap(),
            &report_dir,
            &["--exact", case],
        )
        .output()
        .unwrap();
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(report_dir.join("results.json")).unwrap())
                .unwrap();
        (out, report)
    };
    // The default click: the box is not visible, the step cannot be played.
    let (out, _) = run("    - check: \"#agree\"\n      timeout: 1s\n", "webdriver");
    let console = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{console}");
    assert!(
        console.contains(
            r##"authorize[1] check "#agree" could not be played: timed out after 1s waiting for "#agree": the element is not visible"##
        ),
        "{console}"
    );
    for via in ["pointer", "script"] {
        let (out, report) = run(&format!("    - check: \"#agree\"\n      via: {via}\n"), via);
        let console = String::from_utf8_lossy(&out.stdout).to_string();
        assert_eq!(out.status.code(), Some(0), "{via}: {console}");
        let sent = report["cases"][0]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == "authorize")
            .map(|s| s["result"]["sent"]["url"].as_str().unwrap().to_string())
            .unwrap();
        assert!(sent.contains("&ui_locales=de"), "{sent}");
        assert!(
            !sent.contains("not-sent"),
            "a SMART parameter was replaced: {sent}"
        );
    }
}

/// An EHR whose own page comes before the launch (the `ehr-tenant-base` switch): the target's
/// `ehr-launch.sign-in` opens the app from it; a step that cannot be played errors the launch
/// with the step named and a picture of the page, and nothing after it fails.
#[test]
fn the_ehrs_own_screens_are_played_before_the_launch() {
    let server = ReferenceServer::start(
        "127.0.0.1",
        0,
        Config {
            faults: Faults::parse(&["ehr-tenant-base"]).unwrap(),
            debug_endpoints: true,
            ..Default::default()
        },
    )
    .expect("server starts");
    let dir = tempfile::tempdir().unwrap();
    let out = command(
        &server,
        "fixtures/targets/reference-ehr-tenant.yaml",
        dir.path(),
        &[
            "--exact",
            "reference-ehr-tenant::smart-app-launch::ehr-basic",
        ],
    )
    .output()
    .unwrap();
    let console = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{console}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap()).unwrap();
    let launch = step(&report["cases"][0], "launch");
    let iss = launch["result"]["iss"].as_str().unwrap();
    assert_eq!(iss, format!("{}/ehr/fhir", server.origin()));
    // The case discovered from the launch's iss and sent it as aud.
    let steps = report["cases"][0]["steps"].as_array().unwrap();
    let config = steps.iter().find(|s| s["id"] == "config").unwrap();
    assert!(
        config["exchange"]["request"]["url"]
            .as_str()
            .is_some_and(|u| u.starts_with(iss))
            || config["related"][0]["request"]["url"]
                .as_str()
                .is_some_and(|u| u.starts_with(iss)),
        "{config}"
    );
    let authorize = steps.iter().find(|s| s["id"] == "authorize").unwrap();
    assert_eq!(authorize["result"]["sent"]["aud"], iss);

    let dir = tempfile::tempdir().unwrap();
    let out = command(
        &server,
        "tests/fixtures/targets/reference-ehr-tenant-typo.yaml",
        dir.path(),
        &[
            "--exact",
            "reference-ehr-tenant-typo::smart-app-launch::ehr-basic",
        ],
    )
    .output()
    .unwrap();
    let console = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{console}");
    assert!(
        console.contains(r##"ehr-launch[0] click "#open-app-typo" could not be played"##),
        "{console}"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap()).unwrap();
    let steps = report["cases"][0]["steps"].as_array().unwrap();
    // The client is registered before the EHR launches; the launch is the step that broke.
    let at = steps.iter().position(|s| s["id"] == "launch").unwrap();
    assert_eq!(steps[at]["state"], "errored");
    assert!(steps[at]["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a.as_str().unwrap().ends_with(".png")));
    for step in &steps[at + 1..] {
        for check in step["checks"].as_array().unwrap() {
            assert_eq!(check["verdict"], "skipped", "{check}");
        }
    }
}

/// Starts a run of the standalone cases, waits until its Chromium is up, and returns the
/// child, the browser processes seen so far and the run's work folder.
fn start_until_browser(
    server: &ReferenceServer,
    report_dir: &Path,
) -> (
    std::process::Child,
    std::collections::BTreeSet<u32>,
    std::path::PathBuf,
) {
    let mut cmd = command(
        server,
        "fixtures/targets/reference.yaml",
        report_dir,
        &["standalone"],
    );
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let start = Instant::now();
    let mut seen = std::collections::BTreeSet::new();
    loop {
        let now = browser_processes(pid);
        seen.extend(now.iter().map(|(p, _)| *p));
        let chromium = now.iter().any(|(_, c)| c.contains("--user-data-dir"));
        if chromium && !chromedrivers(pid).is_empty() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no browser started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let marker = format!("smartcheck-browser-{pid}-");
    let work_dir = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with(&marker))
        .expect("the run's work folder")
        .path();
    (child, seen, work_dir)
}

/// Waits up to `limit` for `pids` to end; returns those still running.
fn wait_gone(pids: &std::collections::BTreeSet<u32>, limit: Duration) -> Vec<u32> {
    let start = Instant::now();
    loop {
        let left = still_running(pids);
        if left.is_empty() || start.elapsed() > limit {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn signal(pid: u32, signal: i32) {
    // SAFETY: kill(2) to the child this test started.
    unsafe {
        libc::kill(pid as i32, signal);
    }
}

#[test]
fn the_work_folder_is_private_holds_no_driver_log_and_the_driver_listens_on_loopback() {
    use std::os::unix::fs::PermissionsExt;
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let (child, _, work_dir) = start_until_browser(&server, dir.path());
    let listening = driver_listen_addresses(child.id());
    let mode = std::fs::metadata(&work_dir).unwrap().permissions().mode() & 0o777;
    let files: Vec<String> = std::fs::read_dir(&work_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    signal(child.id(), libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    assert_eq!(mode, 0o700, "{}", work_dir.display());
    assert!(!files.iter().any(|f| f.contains("log")), "{files:?}");
    assert!(
        !listening.is_empty(),
        "chromedriver's listening socket not found"
    );
    for address in &listening {
        assert!(
            address == "0100007F" || address == "00000000000000000000000001000000",
            "chromedriver listens on {address} (hex, /proc/net/tcp), not loopback: {listening:?}"
        );
    }
    assert_eq!(out.status.code(), Some(130));
    assert!(!work_dir.exists(), "{} left behind", work_dir.display());
}

#[test]
fn ctrl_c_sigterm_and_sighup_end_the_run_with_reports_and_no_browser_left() {
    let server = server();
    for (sig, code, name) in [
        (libc::SIGINT, 130, "Ctrl-C"),
        (libc::SIGTERM, 143, "SIGTERM"),
        (libc::SIGHUP, 129, "SIGHUP"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (child, mut seen, work_dir) = start_until_browser(&server, dir.path());
        let pid = child.id();
        seen.extend(browser_processes(pid).into_iter().map(|(p, _)| p));
        signal(pid, sig);
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{name}: {stderr}");
        assert!(
            stderr.contains(&format!("interrupted ({name})")),
            "{stderr}"
        );
        assert_eq!(
            wait_gone(&seen, Duration::from_secs(5)),
            Vec::<u32>::new(),
            "{name}"
        );
        let report = interrupted_report(dir.path(), &work_dir);
        // Cases not started are skipped with the signal as the reason.
        let reasons: Vec<String> = report["cases"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["reason"].as_str().map(String::from))
            .collect();
        assert!(
            reasons
                .iter()
                .any(|r| r.contains(&format!("interrupted ({name})"))),
            "{reasons:?}"
        );
    }
}

/// Checks what an interrupted run leaves: no work folder, both reports, `interrupted: true`;
/// returns the JSON report.
fn interrupted_report(dir: &Path, work_dir: &Path) -> serde_json::Value {
    assert!(!work_dir.exists(), "{} left behind", work_dir.display());
    assert!(dir.join("junit.xml").exists());
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(report["interrupted"], true);
    report
}

#[test]
fn a_second_signal_still_writes_the_reports_and_ends_the_browser() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let (child, mut seen, work_dir) = start_until_browser(&server, dir.path());
    let pid = child.id();
    seen.extend(browser_processes(pid).into_iter().map(|(p, _)| p));
    signal(pid, libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(20));
    signal(pid, libc::SIGTERM);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert_eq!(wait_gone(&seen, Duration::from_secs(5)), Vec::<u32>::new());
    interrupted_report(dir.path(), &work_dir);
}

#[test]
fn no_browser_survives_sigkill_of_smartcheck() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let (mut child, mut seen, work_dir) = start_until_browser(&server, dir.path());
    let pid = child.id();
    seen.extend(browser_processes(pid).into_iter().map(|(p, _)| p));
    assert!(seen.len() >= 2, "{seen:?}");
    signal(pid, libc::SIGKILL);
    let _ = child.wait();
    assert_eq!(
        wait_gone(&seen, Duration::from_secs(10)),
        Vec::<u32>::new(),
        "browser processes outlived SIGKILL"
    );
    let start = Instant::now();
    while work_dir.exists() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!work_dir.exists(), "{} left behind", work_dir.display());
}

/// Discovery and dynamic registration of a minimal server at `own`; `None` for other paths.
fn discovery_and_registration(
    path: &str,
    body: &str,
    own: SocketAddr,
) -> Option<axum::response::Response> {
    discovery_and_registration_of(path, body, own, false)
}

/// Discovery and registration of a test server: a public client's, or (`confidential`) one
/// that also offers `client_secret_basic` and `client_secret_post` and gives every client a
/// secret.
fn discovery_and_registration_of(
    path: &str,
    body: &str,
    own: SocketAddr,
    confidential: bool,
) -> Option<axum::response::Response> {
    match path {
        "/fhir/.well-known/smart-configuration" => {
            let mut config = serde_json::json!({
                "issuer": format!("http://{own}"),
                "authorization_endpoint": format!("http://{own}/authorize"),
                "token_endpoint": format!("http://{own}/token"),
                "registration_endpoint": format!("http://{own}/register"),
                "capabilities": ["launch-standalone", "client-public"],
                "code_challenge_methods_supported": ["S256"],
            });
            if confidential {
                config["token_endpoint_auth_methods_supported"] =
                    serde_json::json!(["client_secret_basic", "client_secret_post", "none"]);
                config["capabilities"] = serde_json::json!([
                    "launch-standalone",
                    "client-public",
                    "client-confidential-symmetric"
                ]);
            }
            Some(axum::Json(config).into_response())
        }
        "/register" => {
            let mut client: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
            client["client_id"] = "test-app".into();
            if confidential {
                client["client_secret"] = "test-secret".into();
            }
            Some((axum::http::StatusCode::CREATED, axum::Json(client)).into_response())
        }
        _ => None,
    }
}

/// A server whose sign-in page never finishes loading: the authorization endpoint sends the
/// start of a page and then nothing.
fn stalled_page_server(
    path: &str,
    body: &str,
    own: SocketAddr,
    _: SocketAddr,
) -> axum::response::Response {
    if let Some(answer) = discovery_and_registration(path, body, own) {
        return answer;
    }
    if path != "/authorize" {
        return (axum::http::StatusCode::NOT_FOUND, "not here").into_response();
    }
    use futures_util::StreamExt;
    let start = futures_util::stream::once(async {
        Ok::<_, std::io::Error>(axum::body::Bytes::from_static(b"<html><body><p>Loading"))
    });
    let body = axum::body::Body::from_stream(start.chain(futures_util::stream::pending()));
    ([("content-type", "text/html")], body).into_response()
}

/// A test server's answer: discovery and registration, and `page` at its authorization
/// endpoint.
fn authorize_page(
    path: &str,
    body: &str,
    own: SocketAddr,
    page: &'static str,
) -> axum::response::Response {
    if let Some(answer) = discovery_and_registration(path, body, own) {
        return answer;
    }
    if path != "/authorize" {
        return (axum::http::StatusCode::NOT_FOUND, "not here").into_response();
    }
    axum::response::Html(page).into_response()
}

/// A server whose sign-in page loads and then never gives its renderer back: a script spins
/// for ever (`while (true) {}`), so every WebDriver command on the page waits.
fn busy_page_server(
    path: &str,
    body: &str,
    own: SocketAddr,
    _: SocketAddr,
) -> axum::response::Response {
    authorize_page(
        path,
        body,
        own,
        "<html><body><form><input id=\"username\"></form><script>while (true) {}</script></body></html>",
    )
}

/// A server whose consent page never redirects: its approve button does nothing.
fn dead_end_consent_server(
    path: &str,
    body: &str,
    own: SocketAddr,
    _: SocketAddr,
) -> axum::response::Response {
    authorize_page(
        path,
        body,
        own,
        "<html><body><h1>Allow access?</h1><button id=\"approve\" type=\"button\">Allow</button></body></html>",
    )
}

/// Runs the standalone public-client case against a test server answering with `answer`,
/// with short timeouts and the given `browser:` screens (YAML lines under `browser:`).
fn standalone_public_against(
    answer: common::Answer,
    name: &str,
    screens: &str,
) -> (tempfile::TempDir, std::process::Output) {
    let case = format!("{name}::smart-app-launch::standalone-public");
    let (_server, dir, out) = app_launch_against(answer, name, "2s", screens, &["--exact", &case]);
    (dir, out)
}

/// Runs the `smart-app-launch` cases `selection` picks against a test server answering with
/// `answer`, with the given step timeout and `browser:` screens (YAML lines under `browser:`);
/// returns the server (its log), the report folder and the run's output.
fn app_launch_against(
    answer: common::Answer,
    name: &str,
    step_timeout: &str,
    screens: &str,
    selection: &[&str],
) -> (common::Recorder, tempfile::TempDir, std::process::Output) {
    let placeholder: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let server = common::recorder("127.0.0.1", answer, placeholder);
    let dir = tempfile::tempdir().unwrap();
    let target = format!(
        "name: {name}\nfhir-base: http://{}/fhir\nsmart-version: 2\nregistration: dynamic\nbrowser:\n  step-timeout: {step_timeout}\n  redirect-timeout: 1s\n{screens}",
        server.addr
    );
    let mut args = vec!["--suite", "suites/smart-app-launch.yaml"];
    args.extend_from_slice(selection);
    let out = common::run_target(dir.path(), &target, &args, &[]);
    (server, dir, out)
}

/// The JSON report a run wrote into `dir`.
fn report_in(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap()
}

#[test]
fn a_consent_page_that_never_redirects_ends_within_the_redirect_timeout_with_a_screenshot() {
    let (dir, out) = standalone_public_against(
        dead_end_consent_server,
        "dead-end",
        "  authorize:\n    - click: \"#approve\"\n",
    );
    let console = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{console}");
    assert!(
        console.contains("no redirect to the redirect_uri: every screen was played"),
        "{console}"
    );
    // What the page said, so the person need not open the screenshot to see where it stuck.
    assert!(
        console.contains("every screen was played and no redirect came within")
            && console.contains("Allow access?"),
        "{console}"
    );
    let shots: Vec<_> = std::fs::read_dir(dir.path().join("artifacts"))
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|case| {
            std::fs::read_dir(case.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .filter(|f| f.path().extension().is_some_and(|e| e == "png"))
        .collect();
    assert!(!shots.is_empty(), "no screenshot of the dead end");
}

#[test]
fn a_page_that_never_loads_times_out_with_the_targets_step_timeout_and_says_so() {
    let (dir, out) = standalone_public_against(
        stalled_page_server,
        "stalled",
        "  sign-in:\n    - fill: \"#username\"\n      value: someone\n",
    );
    let console = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{console}");
    let report = std::fs::read_to_string(dir.path().join("results.json")).unwrap();
    assert!(
        report.contains("the screen step sign-in[0] fill \\\"#username\\\" could not be played: timed out after 2s waiting for \\\"#username\\\""),
        "{report}"
    );
    // The page's load timed out first; or, where the browser called it loaded while it still
    // waited for the server (Chromium 150 under load), its renderer did not answer the step.
    assert!(
        report.contains("(before that: timed out after 2s waiting for http://")
            || report.contains("(the page never answered: it was still loading"),
        "{report}"
    );
}

/// A page whose script never ends holds the browser, not the run: the authorization step
/// ends within its timeouts (a 2 s step timeout, 1 s for the redirect), saying why.
#[test]
fn a_page_whose_script_never_ends_is_bounded_by_the_step_timeout() {
    let start = std::time::Instant::now();
    let (dir, out) = standalone_public_against(
        busy_page_server,
        "busy",
        "  sign-in:\n    - fill: \"#username\"\n      value: someone\n",
    );
    let console = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{console}");
    let report = report_in(dir.path());
    let case = &report["cases"][0];
    let authorize = case["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "authorize")
        .unwrap();
    // The step's time past getting a browser (whose start is the machine's, not the page's).
    let took = authorize["duration_ms"].as_u64().unwrap()
        - authorize["browser_phases"]["session_ms"]
            .as_u64()
            .unwrap_or(0);
    eprintln!(
        "the authorize step took {took} ms past its browser's start; the run {:?}",
        start.elapsed()
    );
    // A hang detector, not a speed claim: the page's load (the 2 s step timeout, and 2 s of
    // grace), the screen step it could not play (as long), and the screenshot, page source and
    // page text sharing one step timeout, then the page's words another: 12 s at most. Each
    // WebDriver command waited for the page on its own before (15 s here, 31 s for 5 s).
    assert!(
        took < 12_500,
        "the authorize step took {took} ms: {console}"
    );
    assert!(
        authorize["reason"]
            .as_str()
            .is_some_and(|r| r.contains("timed out")),
        "{authorize}"
    );
}

/// The browser profiles in use by smartcheck process `pid`: each Chromium has its own
/// (`--user-data-dir`), shared by its helper processes and by the launcher script's forks.
fn browser_profiles(pid: u32) -> std::collections::BTreeSet<String> {
    browser_processes(pid)
        .into_iter()
        .filter_map(|(_, cmd)| {
            let (_, rest) = cmd.split_once("--user-data-dir=")?;
            Some(rest.split_whitespace().next()?.to_string())
        })
        .collect()
}

#[test]
fn one_browser_serves_case_after_case_and_none_finds_the_last_one_signed_in() {
    // The reference server remembers a sign-in by cookie, as real servers do. Five standalone
    // cases, one at a time, with one browser: the target's sign-in steps are not optional, so
    // a browser still signed in from the case before would go straight to the consent page
    // and `#username` would never come.
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = command(
        &server,
        "fixtures/targets/reference.yaml",
        dir.path(),
        &[
            "standalone",
            "--test-threads",
            "1",
            "--browser-sessions",
            "1",
        ],
    );
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let watcher = std::thread::spawn(move || {
        let mut seen = std::collections::BTreeSet::new();
        while Path::new(&format!("/proc/{pid}")).exists() {
            seen.extend(browser_profiles(pid));
            std::thread::sleep(Duration::from_millis(50));
        }
        seen
    });
    let out = child.wait_with_output().unwrap();
    let browsers = watcher.join().unwrap();
    let console = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{console}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap()).unwrap();
    let cases = report["cases"].as_array().unwrap();
    assert!(cases.len() >= 5, "{}", cases.len());
    assert!(cases.iter().all(|c| c["outcome"] == "passed"));
    // Every case signed in on the sign-in screen (the screens played, nothing remembered).
    for case in cases {
        let authorize = step(case, "authorize");
        assert_eq!(authorize["result"]["outcome"], "code", "{}", case["name"]);
        // Where the browser time went: getting the browser, the pages, the redirect.
        let phases = &authorize["browser_phases"];
        assert!(phases["pages_ms"].as_u64().unwrap() > 0, "{authorize}");
        assert!(phases["session_ms"].as_u64().is_some(), "{authorize}");
        assert!(phases["redirect_ms"].as_u64().is_some(), "{authorize}");
        let sum = ["session_ms", "pages_ms", "redirect_ms"]
            .iter()
            .map(|k| phases[k].as_u64().unwrap())
            .sum::<u64>();
        assert!(
            sum <= authorize["browser_ms"].as_u64().unwrap() + 3,
            "{authorize}"
        );
    }
    let usage = &report["browser"];
    assert_eq!(usage["sessions"], 1, "one browser for the run: {usage}");
    assert!(usage["driver_start_ms"].as_u64().unwrap() > 0, "{usage}");
    assert!(usage["browser_start_ms"].as_u64().unwrap() > 0, "{usage}");
    assert!(usage["reused"].as_u64().unwrap() >= 4, "{usage}");
    assert_eq!(browsers.len(), 1, "one Chromium profile seen: {browsers:?}");
    assert!(
        browser_processes(pid).is_empty(),
        "no browser process outlives the run"
    );
}

#[test]
fn a_refusal_before_any_page_is_settled_over_plain_http_and_the_controls_use_the_browser() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let out = command(
        &server,
        "fixtures/targets/reference.yaml",
        dir.path(),
        &["refuse-"],
    )
    .output()
    .unwrap();
    let console = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{console}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap()).unwrap();
    let cases = report["cases"].as_array().unwrap();
    // Each case sends its refusals, then (or first) the matching valid request.
    let expected: [(&str, &[&str], &str); 2] = [
        (
            "refuse-authorize",
            &[
                "wrong-aud",
                "aud-other-scheme",
                "unknown-client",
                "unregistered-redirect",
                "response-type",
            ],
            "valid-authorize",
        ),
        (
            "refuse-pkce",
            &["missing-pkce", "plain-pkce"],
            "control-authorize",
        ),
    ];
    assert_eq!(cases.len(), expected.len(), "{console}");
    let mut error_pages = 0;
    for (case, (id, refusals, control)) in cases.iter().zip(expected) {
        assert_eq!(case["case"], id);
        let step = |id: &str| {
            case["steps"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["id"] == id)
                .unwrap_or_else(|| panic!("{}: no step {id}", case["name"]))
                .clone()
        };
        for refusal in refusals {
            // The request the server must refuse: an error redirect or an error page, seen
            // over plain HTTP, recorded, with no browser time.
            let refused = step(refusal);
            assert_eq!(refused["browser_ms"], serde_json::Value::Null, "{refusal}");
            let sent = &refused["related"][0];
            assert!(
                sent["request"]["url"]
                    .as_str()
                    .unwrap()
                    .contains("/authorize"),
                "{sent}"
            );
            let status = sent["response"]["status"].as_u64().unwrap();
            assert!(status == 302 || status == 303 || status >= 400, "{sent}");
            if status >= 400 {
                error_pages += 1;
                assert_eq!(refused["result"]["redirected"], false);
                assert!(refused["result"]["stopped"]
                    .as_str()
                    .unwrap()
                    .contains("seen over plain HTTP"));
            }
        }
        // The matching valid request shows a sign-in page: the browser plays it.
        let control = step(control);
        assert!(
            control["browser_ms"].as_u64().unwrap() > 0,
            "{}",
            case["name"]
        );
        assert_eq!(control["result"]["outcome"], "code");
    }
    assert!(
        error_pages >= 2,
        "unknown client and unregistered redirect URI"
    );
}

static SIGN_INS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static CONSENTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A sign-in page and a consent page with the same button (`button.go`), whose script submits
/// the form a moment after the click (as pages that check a field first do); the sign-in takes
/// a second to answer, so the sign-in page is still showing while it loads.
fn same_button_server(
    path: &str,
    body: &str,
    own: SocketAddr,
    _: SocketAddr,
) -> axum::response::Response {
    use std::sync::atomic::Ordering;
    if let Some(answer) = discovery_and_registration(path, body, own) {
        return answer;
    }
    let page = |action: &str, label: &str| {
        axum::response::Html(format!(
            "<html><body><form method=\"post\" action=\"{action}\"><button class=\"go\" type=\"button\" onclick=\"setTimeout(function () {{ document.forms[0].submit(); }}, 200)\">{label}</button></form></body></html>"
        ))
        .into_response()
    };
    match path {
        "/authorize" => page("/sign-in", "Sign in"),
        "/sign-in" => {
            SIGN_INS.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(1000));
            page("/consent", "Allow")
        }
        "/consent" => {
            CONSENTS.fetch_add(1, Ordering::SeqCst);
            axum::response::Html("<html><body>done</body></html>").into_response()
        }
        _ => (axum::http::StatusCode::NOT_FOUND, "not here").into_response(),
    }
}

#[test]
fn the_next_screen_waits_for_the_page_the_last_click_leads_to() {
    use std::sync::atomic::Ordering;
    // Both screens click `button.go`. Were the consent screen to start while the slow sign-in
    // page still shows, it would click the sign-in button a second time.
    let (_dir, _out) = standalone_public_against(
        same_button_server,
        "same-button",
        "  sign-in:\n    - click: \"button.go\"\n  authorize:\n    - click: \"button.go\"\n",
    );
    assert_eq!(
        SIGN_INS.load(Ordering::SeqCst),
        1,
        "the sign-in was posted once"
    );
    assert_eq!(
        CONSENTS.load(Ordering::SeqCst),
        1,
        "the consent was posted once"
    );
}

/// A server whose sign-in page comes under status 401, and that sends a code to the
/// redirect_uri once someone signs in, whatever the client_id: an unknown client too.
fn sign_in_under_401_server(
    path: &str,
    body: &str,
    own: SocketAddr,
    _: SocketAddr,
) -> axum::response::Response {
    if let Some(answer) = discovery_and_registration_of(path, body, own, true) {
        return answer;
    }
    if path != "/authorize" {
        return (axum::http::StatusCode::NOT_FOUND, "not here").into_response();
    }
    let page = "<html><body><h1>Sign in</h1><form onsubmit=\"return false\">\
        <input id=\"username\"><input id=\"password\" type=\"password\">\
        <button id=\"sign-in\" type=\"button\" onclick=\"var q = new URLSearchParams(location.search); \
        location.replace(q.get('redirect_uri') + '?code=c&state=' + encodeURIComponent(q.get('state')));\">\
        Sign in</button></form></body></html>";
    (
        axum::http::StatusCode::UNAUTHORIZED,
        axum::response::Html(page),
    )
        .into_response()
}

#[test]
fn an_error_status_page_with_a_sign_in_form_is_played_in_the_browser() {
    // The unknown client's request gets a 401 page, which alone would look like a refusal; but
    // it is a sign-in form, and signing in sends a code to the redirect URI. The browser must
    // play it, and the check must fail.
    let (_server, dir, out) = app_launch_against(
        sign_in_under_401_server,
        "sign-in-401",
        "3s",
        "  sign-in:\n    - fill: \"#username\"\n      value: someone\n    - fill: \"#password\"\n      value: secret-words\n    - click: \"#sign-in\"\n",
        &["--exact", "sign-in-401::smart-app-launch::refuse-authorize"],
    );
    let console = String::from_utf8_lossy(&out.stdout);
    let report = report_in(dir.path());
    let case = &report["cases"][0];
    assert!(case.is_object(), "{console}");
    let refused = step(case, "unknown-client");
    // Looked at over plain HTTP first (a 401 page), then played in the browser.
    assert_eq!(
        refused["related"][0]["response"]["status"], 401,
        "{refused}"
    );
    assert!(refused["browser_ms"].as_u64().is_some(), "{refused}");
    assert_eq!(refused["result"]["redirected"], true, "{refused}");
    let check = refused["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "refuse-unknown-client-not-redirected")
        .unwrap();
    assert_eq!(check["verdict"], "failed", "{check}");
    // The positive control: the same page for the registered client leads to a code.
    assert_eq!(step(case, "valid-authorize")["result"]["outcome"], "code");
    assert_eq!(out.status.code(), Some(1), "{console}");
}

/// A server whose sign-in page remembers the person in session storage, as single-page sign-in
/// widgets do: a page that finds the mark goes on at once, by way of `/remembered`.
fn session_storage_server(
    path: &str,
    body: &str,
    own: SocketAddr,
    _: SocketAddr,
) -> axum::response::Response {
    if let Some(answer) = discovery_and_registration_of(path, body, own, true) {
        return answer;
    }
    const BACK: &str = "var q = new URLSearchParams(location.search); \
        var back = q.get('redirect_uri') + '?code=c&state=' + encodeURIComponent(q.get('state'));";
    match path {
        "/authorize" => axum::response::Html(format!(
            "<html><body><script>{BACK} if (sessionStorage.getItem('who')) {{ \
             location.replace('/remembered?to=' + encodeURIComponent(back)); }}</script>\
             <input id=\"username\"><button id=\"sign-in\" type=\"button\" \
             onclick=\"sessionStorage.setItem('who', 'x'); location.replace(back);\">Sign in</button>\
             </body></html>"
        ))
        .into_response(),
        "/remembered" => axum::response::Html(
            "<html><body><script>location.replace(new URLSearchParams(location.search).get('to'));</script></body></html>",
        )
        .into_response(),
        _ => (axum::http::StatusCode::NOT_FOUND, "not here").into_response(),
    }
}

#[test]
fn a_case_finds_no_session_storage_of_the_case_before_in_the_same_tab() {
    // The browser keeps its tab from case to case; session storage lives in a tab, so only the
    // cleaning between cases stops the second case from finding the first one's sign-in.
    let (server, dir, out) = app_launch_against(
        session_storage_server,
        "storage",
        "3s",
        "  sign-in:\n    - fill: \"#username\"\n      value: someone\n    - click: \"#sign-in\"\n",
        &[
            "standalone-p",
            "--test-threads",
            "1",
            "--browser-sessions",
            "1",
        ],
    );
    let console = String::from_utf8_lossy(&out.stdout);
    let report = report_in(dir.path());
    assert_eq!(report["browser"]["sessions"], 1, "{console}");
    let cases = report["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2, "{console}");
    for case in cases {
        let authorize = step(case, "authorize");
        assert_eq!(
            authorize["result"]["outcome"], "code",
            "{}: {}",
            case["name"], authorize
        );
    }
    let log = server.log.lock().unwrap();
    // The sign-in page, opened by the browser (the plain-HTTP look first is smartcheck's).
    let in_browser = log
        .iter()
        .filter(|r| r.starts_with("GET /authorize") && r.contains("Chrome/"))
        .count();
    assert_eq!(in_browser, 2, "{log:?}");
    assert!(
        !log.iter().any(|r| r.starts_with("GET /remembered")),
        "the second case found the first one's session storage: {log:?}"
    );
    // The harness's marker cookie (cookies ignore ports) never reaches the server under test.
    assert!(
        !log.iter().any(|r| r.contains("smartcheck-clean-state")),
        "the marker cookie reached the server: {log:?}"
    );
    // The start-of-case check: a Chromium that keeps a tab's session storage through the
    // cleaning (150 and older; scripts/test runs these tests on one too) is caught by the
    // marker the first case left, and the second case gets a new tab; one that clears it
    // needs no new tab.
    let renewed = report["browser"]["renewed"].as_u64().unwrap();
    let major = chromium_major();
    if major < 156 {
        assert_eq!(renewed, 1, "Chromium {major}: {console}");
        assert!(
            console.contains(
                "(1 of them after the clean-state check found the case before's marker: a new tab)"
            ),
            "{console}"
        );
    } else {
        assert_eq!(renewed, 0, "Chromium {major}: {console}");
    }
}

/// The major version of the Chromium the tests drive: `SMARTCHECK_CHROMIUM`'s, else Debian's.
fn chromium_major() -> u32 {
    let binary = std::env::var("SMARTCHECK_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let out = std::process::Command::new(&binary)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("{binary} --version: {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .nth(1)
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("no version in {text:?}"))
}

#[test]
fn an_optional_step_that_never_shows_ends_when_the_next_screen_is_there() {
    // The reference target's patient picker never shows in an EHR launch. With a 30-second
    // timeout on both optional picker steps, the flow must still get past them once the consent
    // screen's `#scopes` is on the page, and say why each was passed over.
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let target = std::fs::read_to_string("fixtures/targets/reference.yaml")
        .unwrap()
        .replace("timeout: 1500ms", "timeout: 30s")
        .replace("timeout: 500ms", "timeout: 30s");
    assert_eq!(target.matches("timeout: 30s").count(), 2);
    let path = dir.path().join("target.yaml");
    std::fs::write(&path, target).unwrap();
    let out = command(
        &server,
        path.to_str().unwrap(),
        dir.path(),
        &["reference::smart-app-launch::ehr-public", "--exact"],
    )
    .output()
    .unwrap();
    let console = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{console}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap()).unwrap();
    let authorize = step(&report["cases"][0], "authorize");
    assert_eq!(authorize["result"]["outcome"], "code");
    let passed_over: Vec<&str> = authorize["result"]["screens_passed_over"]
        .as_array()
        .unwrap_or_else(|| panic!("no screens_passed_over: {}", authorize["result"]))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(passed_over.len(), 2, "{passed_over:?}");
    assert!(passed_over[0].starts_with("patient[0] click \"#patient-smart-1288992\""));
    assert!(passed_over[1].starts_with("patient[1] click \"#select-patient\""));
    for reason in &passed_over {
        assert!(
            reason.contains("did not show before the next screen (\"#scopes\")"),
            "{reason}"
        );
    }
}

/// A screen the target has no steps for is the harness's stop, not the server's: the
/// authorization errors (no check fails) and says which screen lacks steps, what the page shows
/// and the controls on it with selectors to write them with.
#[test]
fn a_screen_the_target_has_no_steps_for_errors_and_lists_the_pages_controls() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let full = std::fs::read_to_string("fixtures/targets/reference.yaml").unwrap();
    let browser_at = full.find("browser:").unwrap();
    // Sign-in steps only: the consent screen has none.
    let sign_in_only = format!(
        "{}browser:\n  step-timeout: 3s\n  redirect-timeout: 1s\n  sign-in:\n    - fill: \"#username\"\n      value: daniel-adams\n    - fill: \"#password\"\n      value: ${{SMARTCHECK_REFERENCE_PASSWORD}}\n    - click: \"#sign-in\"\n  patient:\n    - click: \"#patient-smart-1288992\"\n      optional: true\n      timeout: 1500ms\n    - click: \"#select-patient\"\n      optional: true\n      timeout: 500ms\n",
        &full[..browser_at]
    );
    // No screen steps at all.
    let none = format!(
        "{}browser:\n  step-timeout: 3s\n  redirect-timeout: 1s\n",
        &full[..browser_at]
    );
    for (target_text, lacking, controls) in [
        (
            none,
            "no `browser.sign-in` or `browser.authorize` steps",
            &[
                "password input `#password`",
                "button `#sign-in` (\u{201c}Sign in\u{201d})",
                // What `init --screens` would write, from the same engine.
                "suggested steps: `browser.sign-in`: fill \"#username\" with ${USER}, fill \"#password\" with ${PASSWORD}, click \"#sign-in\"",
            ][..],
        ),
        (
            sign_in_only,
            "no `browser.authorize` steps",
            &[
                "button `#approve`",
                "button `#deny`",
                "suggested steps: `browser.authorize`: click \"#approve\" (the page looks like a consent screen",
            ][..],
        ),
    ] {
        let target = dir.path().join("target.yaml");
        std::fs::write(&target, target_text).unwrap();
        let reports = dir.path().join("reports");
        let out = command(
            &server,
            target.to_str().unwrap(),
            &reports,
            &["--exact", "smart-app-launch::standalone-public"],
        )
        .output()
        .unwrap();
        let console = String::from_utf8_lossy(&out.stdout).to_string();
        assert_eq!(out.status.code(), Some(1), "{console}");
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(reports.join("results.json")).unwrap()).unwrap();
        let summary = &report["summary"]["checks"];
        assert_eq!(
            summary["failed"], 0,
            "no check judges an unfinished flow: {console}"
        );
        let authorize = step(&report["cases"][0], "authorize");
        assert_eq!(authorize["state"], "errored", "{authorize}");
        let reason = authorize["reason"].as_str().unwrap();
        assert!(reason.contains(lacking), "{reason}");
        assert!(reason.contains("waiting for a person"), "{reason}");
        for control in controls {
            assert!(reason.contains(control), "{control}: {reason}");
        }
        assert!(
            authorize["artifacts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a.as_str().unwrap().ends_with(".png")),
            "{authorize}"
        );
    }
}

/// A page that shows nothing to act on yet (a spinner), and a target without steps for the
/// screens: still the harness's stop, errored with what the page shows, never a failed check.
fn spinner_server(
    path: &str,
    body: &str,
    own: SocketAddr,
    _: SocketAddr,
) -> axum::response::Response {
    authorize_page(
        path,
        body,
        own,
        "<html><head><title>Loading</title></head><body><p>Loading your sign-in…</p></body></html>",
    )
}

#[test]
fn a_spinner_without_screen_steps_is_errored_not_failed() {
    let (dir, out) = standalone_public_against(spinner_server, "spinner", "");
    let console = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{console}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap()).unwrap();
    assert_eq!(report["summary"]["checks"]["failed"], 0, "{console}");
    let authorize = step(&report["cases"][0], "authorize");
    assert_eq!(authorize["state"], "errored", "{authorize}");
    let reason = authorize["reason"].as_str().unwrap();
    assert!(
        reason.contains("no `browser.sign-in` or `browser.authorize` steps")
            && reason.contains("Loading your sign-in")
            && reason.contains("no input or button shows on it yet"),
        "{reason}"
    );
}

/// `smartcheck doctor` names the driver and browser, starts one, and proves the clean state
/// between cases as a run does: on a Chromium that keeps a tab's session storage it says each
/// case gets a new tab; a chromedriver that is not there is a problem, exit 1.
#[test]
fn doctor_proves_the_clean_state_on_the_chromium_at_hand() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_smartcheck"))
        .arg("doctor")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{said}");
    let major = chromium_major();
    assert!(
        said.contains(&format!("Chromium: Chromium {major}.")),
        "{said}"
    );
    if major < 156 {
        assert!(
            said.contains("it keeps a tab's session storage through the cleaning between cases, so each case gets a new tab"),
            "{said}"
        );
    } else {
        assert!(
            said.contains(
                "the clean state between cases holds (the marker a case leaves was gone)"
            ),
            "{said}"
        );
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_smartcheck"))
        .arg("doctor")
        .env("SMARTCHECK_CHROMEDRIVER", "/nonexistent/chromedriver")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("chromedriver: `/nonexistent/chromedriver` is not there"),
        "{said}"
    );
    assert!(
        said.contains(
            "SMARTCHECK_CHROMEDRIVER names /nonexistent/chromedriver, which does not exist"
        ),
        "{said}"
    );
}
