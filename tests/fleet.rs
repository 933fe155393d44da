//! Many targets in one run: the masking's work per target does not grow with the targets (and
//! secrets) before it, counted (`SMARTCHECK_LOG=debug` prints the masker's counts at the end
//! of a run), never timed; the reports hold every target's cases.

mod common;

use std::process::Command;

/// The counts of the run's `masking work` debug line.
#[derive(Debug)]
struct Work {
    forms: f64,
    form_bytes: f64,
    compiled_bytes: f64,
    matchers: f64,
    matcher_bytes: f64,
}

/// Runs the registration and backend-services suites against `n` targets of one reference
/// server (each registers its own clients and gets its own tokens: its own secrets).
fn run_fleet(server: &smartcheck::reference::ReferenceServer, n: usize) -> Work {
    let dir = tempfile::tempdir().unwrap();
    let targets = dir.path().join("targets");
    std::fs::create_dir(&targets).unwrap();
    for i in 0..n {
        std::fs::write(
            targets.join(format!("sandbox-{i:03}.yaml")),
            format!(
                "name: sandbox-{i:03}\nfhir-base: {}\nsmart-version: 2\nregistration: dynamic\n",
                server.fhir_base()
            ),
        )
        .unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_smartcheck"))
        .args(["run", "--color", "never", "--target"])
        .arg(&targets)
        .args(["--suite", "suites/smart-registration.yaml"])
        .args(["--suite", "suites/smart-backend-services.yaml"])
        .args(["--skip", "backend-token-expiry", "--report-dir"])
        .arg(dir.path().join("reports"))
        // Every log line is masked as it is written: registration and masking interleave.
        .env("SMARTCHECK_LOG", "debug")
        .output()
        .expect("smartcheck runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{n} targets:\n{stdout}\n{stderr}"
    );
    // Every target's cases are in the JSON report, each whole (its exchanges read back).
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("reports/results.json")).unwrap(),
    )
    .unwrap();
    let cases = report["cases"].as_array().unwrap();
    for i in 0..n {
        let name = format!("sandbox-{i:03}");
        let of_target: Vec<_> = cases.iter().filter(|c| c["target"] == name).collect();
        assert!(!of_target.is_empty(), "no case of {name}");
        let bodies = of_target
            .iter()
            .flat_map(|c| c["steps"].as_array().unwrap())
            .flat_map(|s| {
                let related = s["related"].as_array().cloned().unwrap_or_default();
                std::iter::once(s["exchange"].clone()).chain(related)
            })
            .filter(|e| {
                e["response"]["body"]
                    .as_str()
                    .is_some_and(|b| !b.is_empty())
            })
            .count();
        assert!(bodies > 0, "{name}: no exchange body in the report");
    }
    let line = stderr
        .lines()
        .find(|l| l.contains("masking work:"))
        .unwrap_or_else(|| panic!("no masking work line:\n{stderr}"));
    let numbers: Vec<f64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .map(|w| w.parse().unwrap())
        .collect();
    let tail = &numbers[numbers.len() - 5..];
    Work {
        forms: tail[0],
        form_bytes: tail[1],
        compiled_bytes: tail[2],
        matchers: tail[3],
        matcher_bytes: tail[4],
    }
}

#[test]
fn masking_work_per_target_does_not_grow_with_the_targets_before_it() {
    let server = common::reference_server(&[]);
    let few = run_fleet(&server, 2);
    let many = run_fleet(&server, 16);
    eprintln!("2 targets: {few:?}\n16 targets: {many:?}");
    // Each target brings its own secrets: eight times the targets, about eight times the
    // forms.
    let growth = many.forms / few.forms;
    assert!((6.0..=10.0).contains(&growth), "{few:?} -> {many:?}");
    // Each form is compiled a number of times that grows with the logarithm of the forms
    // (the batches' merges), never with their number: one rebuild per registration would
    // compile each form hundreds of times here.
    let log2 = |w: &Work| w.forms.log2();
    for w in [&few, &many] {
        let per_form = w.compiled_bytes / w.form_bytes;
        assert!(
            per_form <= 2.0 + log2(w),
            "each form compiled {per_form:.1} times: {w:?}"
        );
        assert!(w.matchers <= 2.0 + log2(w), "{w:?}");
    }
    // The matchers' memory per form is bounded whatever the forms' length (a JWT's forms
    // are 700 bytes) and does not grow with the run.
    for w in [&few, &many] {
        assert!(w.matcher_bytes / w.forms <= 1024.0, "{w:?}");
    }
    assert!(
        many.matcher_bytes / many.forms <= 1.5 * few.matcher_bytes / few.forms,
        "{few:?} -> {many:?}"
    );
}
