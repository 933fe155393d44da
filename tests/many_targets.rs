//! Many targets in one run: a directory of five reference-server targets, one of them with
//! a fault, run together; and the bound on browser sessions across targets.

mod common;

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use smartcheck::reference::ReferenceServer;

/// The reference target file pointed at `server`, named `name`.
fn target_file(dir: &Path, name: &str, server: &ReferenceServer) {
    let text =
        common::reference_target_for(server).replace("name: reference", &format!("name: {name}"));
    std::fs::write(dir.join(format!("{name}.yaml")), text).unwrap();
}

/// A folder of target files, `PREFIX-0.yaml`…, one per server; and the temporary folder
/// that holds it (and the reports).
fn targets_dir(
    servers: &[ReferenceServer],
    prefix: &str,
) -> (tempfile::TempDir, std::path::PathBuf) {
    let work = tempfile::tempdir().unwrap();
    let targets = work.path().join("targets");
    std::fs::create_dir(&targets).unwrap();
    for (i, s) in servers.iter().enumerate() {
        target_file(&targets, &format!("{prefix}-{i}"), s);
    }
    (work, targets)
}

fn smartcheck(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_smartcheck"))
        .args(args)
        .args(["--color", "never"])
        .env("SMARTCHECK_REFERENCE_PASSWORD", "demo-password")
        .output()
        .unwrap()
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn a_directory_of_five_targets_runs_at_once_and_the_broken_one_fails_alone() {
    let servers: Vec<ReferenceServer> = (0..5)
        .map(|i| {
            common::reference_server(if i == 3 {
                &["pkce-plain-advertised"]
            } else {
                &[]
            })
        })
        .collect();
    let (work, targets) = targets_dir(&servers, "sandbox");
    let reports = work.path().join("reports");
    let out = smartcheck(&[
        "run",
        "--target",
        targets.to_str().unwrap(),
        "--suite",
        "suites/smart-discovery.yaml",
        "--test-threads",
        "4",
        "--report-dir",
        reports.to_str().unwrap(),
    ]);
    let console = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{console}");
    // What the plan leaves out is said once for the fleet, not once per target.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let left_out: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("check rules of another SMART version"))
        .collect();
    assert_eq!(
        left_out,
        ["note: 1 case(s) of suite `smart-discovery` check rules of another SMART version and are not run against 5 targets (`sandbox-0`, `sandbox-1`, `sandbox-2` and 2 more) (smart-version 2): smart1-both-documents"],
        "{stderr}"
    );

    let report = json(&reports.join("results.json"));
    let names: Vec<&str> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "sandbox-0",
            "sandbox-1",
            "sandbox-2",
            "sandbox-3",
            "sandbox-4"
        ]
    );
    // Per target: every case ran; the faulted one fails exactly the PKCE check, the others
    // fail nothing.
    let cases = report["cases"].as_array().unwrap();
    for name in &names {
        let own: Vec<&Value> = cases.iter().filter(|c| c["target"] == *name).collect();
        assert_eq!(own.len(), 3, "{name}: {own:?}");
        let failed: Vec<String> = own
            .iter()
            .flat_map(|c| c["steps"].as_array().unwrap())
            .flat_map(|s| s["checks"].as_array().unwrap())
            .filter(|c| c["verdict"] == "failed" || c["verdict"] == "errored")
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect();
        if *name == "sandbox-3" {
            assert_eq!(failed, ["smart-config-pkce-no-plain"], "{name}");
        } else {
            assert!(failed.is_empty(), "{name}: {failed:?}");
        }
        assert!(
            own.iter().all(|c| c["name"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{name}::"))),
            "{name}"
        );
        // Latency per target, from that target's own answers.
        let whole = report["latency"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["target"] == *name && l["endpoint"] == "*")
            .unwrap_or_else(|| panic!("no latency for {name}"));
        assert!(whole["count"].as_u64().unwrap() >= 3, "{whole}");
        assert!(
            whole["max_ms"].as_u64().unwrap() >= whole["median_ms"].as_u64().unwrap(),
            "{whole}"
        );
        assert!(
            console.contains(&format!("latency: target `{name}`: ")),
            "{console}"
        );
    }
    assert!(
        console.contains("target `sandbox-3`: ") && console.contains("target `sandbox-0`: "),
        "{console}"
    );
    let line = |name: &str| {
        console
            .lines()
            .find(|l| l.starts_with(&format!("target `{name}`: ")))
            .unwrap()
            .to_string()
    };
    assert!(
        line("sandbox-3").contains(" 1 failed"),
        "{}",
        line("sandbox-3")
    );
    assert!(
        line("sandbox-0").contains(" 0 failed"),
        "{}",
        line("sandbox-0")
    );
    assert!(console.contains("time: case time "), "{console}");
    assert_eq!(report["time"]["browser_ms"], 0, "no browser in discovery");

    // JUnit: a testsuite per case, named and marked by its target.
    let junit = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    for name in &names {
        assert_eq!(
            junit
                .matches(&format!("<testsuite name=\"{name}::smart-discovery::"))
                .count(),
            3,
            "{name}"
        );
        assert!(junit.contains(&format!("name=\"target\" value=\"{name}\"")));
    }
    assert_eq!(junit.matches("<failure").count(), 1, "{junit}");
}

#[test]
fn browser_sessions_across_targets_stay_within_the_bound() {
    let servers = [common::reference_server(&[]), common::reference_server(&[])];
    let (work, targets) = targets_dir(&servers, "ehr");
    let reports = work.path().join("reports");
    let out = smartcheck(&[
        "run",
        "--target",
        targets.to_str().unwrap(),
        "--suite",
        "suites/smart-app-launch.yaml",
        "standalone",
        "--test-threads",
        "4",
        "--browser-sessions",
        "1",
        "--report-dir",
        reports.to_str().unwrap(),
    ]);
    let console = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{console}");
    let report = json(&reports.join("results.json"));
    let browser = &report["browser"];
    assert_eq!(browser["bound"], 1, "{browser}");
    assert_eq!(browser["peak"], 1, "{browser}");
    // Every authorization had a browser: started, or one of the run's handed out again.
    let handed_out = browser["sessions"].as_u64().unwrap() + browser["reused"].as_u64().unwrap();
    assert!(handed_out >= 4, "{browser}");
    for name in ["ehr-0", "ehr-1"] {
        assert!(
            report["cases"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["target"] == name && c["outcome"] == "passed"),
            "{name}"
        );
    }
    assert!(report["time"]["browser_ms"].as_u64().unwrap() > 0);
    assert!(console.contains("at most 1 in use at once"), "{console}");
}
