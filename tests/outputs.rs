//! Report paths as a user gives them: a device that refuses writes (`/dev/full`) is an error
//! with exit 3 and the other report still written, the device untouched; a symlink stays a
//! link and its file gets the report; a pipe (`/dev/stdout`) is written through.

mod common;

use std::os::unix::fs::FileTypeExt;

fn run(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut all = vec![
        "--suite",
        "suites/smart-discovery.yaml",
        "--color",
        "never",
        "--exact",
        "reference::smart-discovery::smart-configuration",
    ];
    all.extend_from_slice(args);
    common::run_unreachable_reference(dir, &all)
}

#[test]
fn a_report_that_cannot_be_written_exits_3_and_leaves_the_device_alone() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["--json", "/dev/full"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("cannot write the report `/dev/full`: No space left on device"),
        "{stderr}"
    );
    assert!(std::fs::metadata("/dev/full")
        .unwrap()
        .file_type()
        .is_char_device());
    assert!(dir.path().join("junit.xml").exists());
}

#[test]
fn a_symlinked_report_path_keeps_the_link_and_a_pipe_is_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("history/run-1.json");
    std::fs::create_dir_all(real.parent().unwrap()).unwrap();
    let link = dir.path().join("latest.json");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let out = run(
        dir.path(),
        &["--json", link.to_str().unwrap(), "--junit", "/dev/stdout"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&real).unwrap()).unwrap();
    assert_eq!(report["cases"].as_array().unwrap().len(), 1);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("<testsuites"), "{stdout}");
}

#[test]
fn two_reports_on_one_file_are_refused_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let same = dir.path().join("out.xml");
    let other_spelling = dir.path().join(".").join("out.xml");
    let out = run(
        dir.path(),
        &[
            "--json",
            same.to_str().unwrap(),
            "--junit",
            other_spelling.to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the junit and json reports would both be written to"),
        "{stderr}"
    );
    assert!(!same.exists());
    // Devices may take several reports.
    let out = run(dir.path(), &["--json", "/dev/null", "--junit", "/dev/null"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_fifo_with_no_writer_as_target_is_an_error_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("target.yaml");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo(3) on a path in our own temporary folder.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_smartcheck"))
        .args(["validate"])
        .arg(&fifo)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        format!("{stdout}{stderr}").contains("a FIFO that no program is writing to"),
        "{stdout}{stderr}"
    );
}

#[test]
fn two_reports_on_one_pipe_follow_one_another_whole() {
    // The reports are written at once, each on its own thread, except where two share a
    // device: there one after the other, or their lines would mix.
    let server = common::reference_server(&[]);
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("reference.yaml");
    std::fs::write(&target, common::reference_target_for(&server)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_smartcheck"))
        .args(["run", "--color", "never", "--target"])
        .arg(&target)
        .args(["--suite", "suites/smart-discovery.yaml"])
        .args([
            "--json",
            "/dev/stdout",
            "--junit",
            "/dev/stdout",
            "--report-dir",
        ])
        .arg(dir.path())
        .env("SMARTCHECK_REFERENCE_PASSWORD", "demo-password")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let xml_start = stdout.find("<?xml").expect("the JUnit report");
    let xml_end = stdout
        .find("</testsuites>")
        .expect("the JUnit report's end")
        + 13;
    let xml = &stdout[xml_start..xml_end];
    assert!(!xml.contains("\"format\""), "JSON inside the JUnit report");
    assert_eq!(xml.matches("<testsuite ").count(), 3, "{xml}");
    let rest = &stdout[xml_end..];
    let json_start = rest.find('{').expect("the JSON report");
    let report: serde_json::Value = serde_json::Deserializer::from_str(&rest[json_start..])
        .into_iter()
        .next()
        .expect("a JSON value")
        .expect("the JSON report whole");
    assert_eq!(report["cases"].as_array().unwrap().len(), 3, "{report}");
    // The reports that have files of their own are written beside them.
    assert!(dir.path().join("report.html").exists());
}
