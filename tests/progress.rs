//! Progress: on a terminal (a real pseudo-terminal here), a live line per running case with
//! its step, cleared before every `cargo test`-style line and gone at the end; NO_COLOR
//! honoured; off a terminal, plain SLOW lines for a case that runs long.

mod common;

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};

/// Runs the demo's one standalone case with standard output and error on a new
/// pseudo-terminal; returns everything the terminal received and the exit code.
fn on_a_terminal(no_color: bool) -> (String, Option<i32>) {
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty fills two descriptors, owned right after.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty");
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let report_dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_smartcheck"));
    command
        .args([
            "demo",
            "reference::smart-app-launch::standalone-basic",
            "--exact",
            "--report-dir",
        ])
        .arg(report_dir.path())
        .env("TERM", "xterm")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave));
    if no_color {
        command.env("NO_COLOR", "1");
    }
    let mut child = command.spawn().unwrap();
    // Our copies of the terminal's far end are closed (moved into the command, which is
    // dropped here), so the reader sees the end when the child exits.
    drop(command);
    let reader = std::thread::spawn(move || {
        let mut file = std::fs::File::from(master);
        let mut all = Vec::new();
        let mut buffer = [0u8; 4096];
        // A pseudo-terminal's reader gets EIO once the last writer is gone.
        while let Ok(n) = file.read(&mut buffer) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buffer[..n]);
        }
        String::from_utf8_lossy(&all).replace("\r\n", "\n")
    });
    let status = child.wait().unwrap();
    (reader.join().unwrap(), status.code())
}

#[test]
fn a_terminal_shows_each_running_case_and_its_step_live() {
    let (screen, code) = on_a_terminal(true);
    assert_eq!(code, Some(0), "{screen}");
    assert!(
        screen.contains("  RUNNING ")
            && screen.contains("reference::smart-app-launch::standalone-basic · step authorize"),
        "{screen}"
    );
    // The block is cleared (cursor up, clear to the end) before a line is written, so the
    // libtest line arrives whole.
    assert!(screen.contains("\x1b[1F\x1b[J"), "{screen:?}");
    assert!(
        screen.contains("\x1b[Jtest reference::smart-app-launch::standalone-basic ... ok\n"),
        "{screen:?}"
    );
    let end = screen.rfind("test result:").unwrap();
    assert!(!screen[end..].contains("RUNNING"), "no block after the run");
    assert!(screen[end..].contains("smartcheck: "), "{screen}");
    // NO_COLOR: no colour codes at all (cursor movement is not colour).
    assert!(!screen.contains("\x1b[32m"), "{screen:?}");

    let (coloured, code) = on_a_terminal(false);
    assert_eq!(code, Some(0));
    assert!(coloured.contains("\x1b[32mok"), "{coloured:?}");
}

static SLOW: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn slow(
    _: &str,
    _: &str,
    _: std::net::SocketAddr,
    _: std::net::SocketAddr,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    SLOW.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    ([("content-type", "application/json")], "{}").into_response()
}

#[test]
fn off_a_terminal_a_long_case_gets_plain_slow_lines() {
    let server = common::recorder("127.0.0.1", slow, "127.0.0.1:9".parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("suite.yaml");
    std::fs::write(
        &suite,
        "suite: slow\ntitle: A slow answer\nspec:\n  name: SMART App Launch\n  version: 2.2.0\n  url: https://hl7.org/fhir/smart-app-launch/\nsmart-versions: [2]\ncases:\n  - id: slow\n    title: answers after 1.5 s\n    steps:\n      - id: get\n        request:\n          url: \"{{ target.fhir-base }}/slow\"\n        checks:\n          - id: slow-status\n            title: answers 200\n            requirement: smart-cf-02\n            status: 200\n",
    )
    .unwrap();
    let target = format!(
        "name: sandbox\nfhir-base: http://{}/fhir\nsmart-version: 2\n",
        server.addr
    );
    let out = common::run_target(
        dir.path(),
        &target,
        &["--suite", suite.to_str().unwrap(), "--slow-after", "500ms"],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let slow: Vec<&str> = stderr.lines().filter(|l| l.starts_with("SLOW [")).collect();
    assert!(!slow.is_empty(), "{stderr}");
    assert!(
        slow[0].contains("] sandbox::slow::slow (step get, "),
        "{slow:?}"
    );
    // Plain lines only: no cursor movement off a terminal.
    assert!(!stderr.contains('\x1b') && !String::from_utf8_lossy(&out.stdout).contains('\x1b'));
}
