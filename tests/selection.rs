//! Case selection: a FILTER that selects no case is a usage error (exit 2), not a run that
//! passes with nothing checked.

use std::process::Command;

fn run(args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_smartcheck"))
        .args([
            "run",
            "--target",
            "fixtures/targets/reference.yaml",
            "--report-dir",
        ])
        .arg(dir.path())
        .args(args)
        // Nothing listens there: no case may run for these tests to pass.
        .env("SMARTCHECK_REFERENCE_FHIR_BASE", "http://127.0.0.1:9/fhir")
        .env("SMARTCHECK_REFERENCE_ORIGIN", "http://127.0.0.1:9")
        .env("SMARTCHECK_REFERENCE_PASSWORD", "unused")
        .output()
        .expect("smartcheck runs")
}

#[test]
fn a_filter_that_matches_no_case_is_a_usage_error() {
    let out = run(&["standalone-basci"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("no case matches the filter `standalone-basci`"),
        "{stderr}"
    );
    // --exact compares whole names: a part of one selects nothing.
    let out = run(&["--exact", "standalone-basic"]);
    assert_eq!(out.status.code(), Some(2));
    // Skipping every case the filter selects leaves nothing either.
    let out = run(&["smart-user-access-brands", "--skip", "brand-bundle"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("with --skip brand-bundle"), "{stderr}");
}

#[test]
fn a_filter_that_matches_lists_its_cases() {
    let out = run(&["--list", "smart-user-access-brands"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("reference::smart-user-access-brands::brand-bundle"),
        "{stdout}"
    );
}
