//! `--history`: runs appended to SQLite; `smartcheck history` shows a verdict that changed
//! between two runs and since when a check fails; the HTML report shows each check's last
//! runs; a process killed in the middle of writing a run leaves the database whole.

mod common;

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use smartcheck::reference::ReferenceServer;

fn command(server: &ReferenceServer, history: &Path, reports: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_smartcheck"));
    c.args([
        "run",
        "--target",
        "fixtures/targets/reference.yaml",
        "--suite",
        "suites/smart-discovery.yaml",
        "smart-configuration",
        "--color",
        "never",
        "--history",
    ])
    .arg(history)
    .arg("--report-dir")
    .arg(reports)
    .env("SMARTCHECK_REFERENCE_FHIR_BASE", server.fhir_base())
    .env("SMARTCHECK_REFERENCE_ORIGIN", server.origin())
    .env("SMARTCHECK_REFERENCE_PASSWORD", "demo-password");
    c
}

fn history(file: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_smartcheck"))
        .arg("history")
        .arg(file)
        .args(args)
        .output()
        .unwrap()
}

fn runs_in(file: &Path) -> (i64, i64, String) {
    let conn = rusqlite::Connection::open(file).unwrap();
    let runs = conn
        .query_row("SELECT count(*) FROM runs", [], |r| r.get(0))
        .unwrap();
    let orphans = conn
        .query_row(
            "SELECT count(*) FROM verdicts WHERE run_id NOT IN (SELECT id FROM runs)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let integrity = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    (runs, orphans, integrity)
}

#[test]
fn history_shows_a_changed_verdict_and_survives_a_kill_mid_write() {
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("history.sqlite");
    let good = common::reference_server(&[]);
    let broken = common::reference_server(&["pkce-plain-advertised"]);

    // Run 1 passes, run 2 (the server broke PKCE) fails one check.
    let first = command(&good, &file, &work.path().join("r1"))
        .output()
        .unwrap();
    assert_eq!(first.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&first.stderr).contains("note: run #1 recorded in "));
    let second = command(&broken, &file, &work.path().join("r2"))
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(1));

    let out = history(&file, &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("target `reference`: latest run #2"), "{text}");
    assert!(text.contains("changed since run #1: 1 verdict"), "{text}");
    assert!(
        text.contains(
            "reference::smart-discovery::smart-configuration / smart-config-pkce-no-plain: passed -> failed"
        ),
        "{text}"
    );
    assert!(
        text.contains("smart-config-pkce-no-plain: failed since run #2 at "),
        "{text}"
    );
    assert!(
        text.contains("latency median/p95 ms, oldest first: "),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&history(&file, &["--json"]).stdout).unwrap();
    assert_eq!(json["targets"][0]["changes"][0]["now"], "failed");

    // The HTML report of run 2 shows the check's two runs.
    let html = std::fs::read_to_string(work.path().join("r2/report.html")).unwrap();
    assert!(
        html.contains("<span class=\"strip\"><span class=\"passed\" title=\"run #1 "),
        "no history strip"
    );

    // Run 3 is killed while its transaction is open: the database stays as it was.
    let mut child = command(&broken, &file, &work.path().join("r3"))
        .env("SMARTCHECK_TEST_HISTORY_PAUSE_MS", "60000")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if line.starts_with("test result:") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the cases finish");
    // The verdicts are written within milliseconds of the cases' end (and, with the test's
    // one-page cache, into the write-ahead log); the pause then holds the transaction open.
    let wal = file.with_extension("sqlite-wal");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0) == 0
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    // Uncommitted pages of run 3 are on disk when the process dies.
    let pending = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert!(
        pending > 0,
        "the run's rows reached the journal before the kill"
    );
    assert!(child.try_wait().unwrap().is_none(), "still writing");
    child.kill().unwrap();
    child.wait().unwrap();
    let (runs, orphans, integrity) = runs_in(&file);
    assert_eq!((runs, orphans, integrity.as_str()), (2, 0, "ok"));

    // And the next run is recorded after the two whole ones.
    let fourth = command(&good, &file, &work.path().join("r4"))
        .output()
        .unwrap();
    assert_eq!(fourth.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&fourth.stderr).contains("note: run #3 recorded in "));
    let text = String::from_utf8_lossy(&history(&file, &[]).stdout).to_string();
    assert!(text.contains("changed since run #2: 1 verdict"), "{text}");
    assert!(
        text.contains("smart-config-pkce-no-plain: failed -> passed"),
        "{text}"
    );
    assert!(text.contains("failing: none"), "{text}");
    assert_eq!(runs_in(&file).0, 3);
}

#[test]
fn a_history_file_that_is_not_one_stops_the_run_before_it_starts() {
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("notes.txt");
    std::fs::write(&file, "not a database\n".repeat(200)).unwrap();
    let good = common::reference_server(&[]);
    let out = command(&good, &file, &work.path().join("r"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is not a smartcheck history database"),
        "{stderr}"
    );
    assert!(!work.path().join("r/results.json").exists(), "no case ran");
    let missing = history(&work.path().join("none.sqlite"), &[]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("`smartcheck run --history"));
}
