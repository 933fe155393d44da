//! Report paths as a user gives them: a device that refuses writes (`/dev/full`) is an error
//! with exit 3 and the other report still written, the device untouched; a symlink stays a
//! link and its file gets the report; a pipe (`/dev/stdout`) is written through.

use std::os::unix::fs::FileTypeExt;
use std::process::Command;

fn run(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_smartcheck"))
        .args(["run", "--target", "fixtures/targets/reference.yaml"])
        .args(["--suite", "suites/smart-discovery.yaml", "--color", "never"])
        .args(["--exact", "reference::smart-discovery::smart-configuration"])
        .arg("--report-dir")
        .arg(dir)
        .args(args)
        // Nothing listens there: the case errors quickly.
        .env("SMARTCHECK_REFERENCE_FHIR_BASE", "http://127.0.0.1:9/fhir")
        .env("SMARTCHECK_REFERENCE_ORIGIN", "http://127.0.0.1:9")
        .env("SMARTCHECK_REFERENCE_PASSWORD", "unused")
        .output()
        .expect("smartcheck runs")
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
