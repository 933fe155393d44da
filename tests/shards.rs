//! Sharding across machines: three `--partition K/3` runs merged with `smartcheck merge` give
//! the verdicts, counts and exit code of one unsharded run; a shard given twice is refused.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use smartcheck::reference::{Config, ReferenceServer};

fn smartcheck(server: &ReferenceServer, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_smartcheck"))
        .args(args)
        .env("SMARTCHECK_REFERENCE_FHIR_BASE", server.fhir_base())
        .env("SMARTCHECK_REFERENCE_ORIGIN", server.origin())
        .env("SMARTCHECK_REFERENCE_PASSWORD", "demo-password")
        .output()
        .unwrap()
}

fn run(server: &ReferenceServer, dir: &Path, partition: Option<&str>) -> std::process::Output {
    let mut args = vec![
        "run",
        "--target",
        "fixtures/targets/reference.yaml",
        "--suite",
        "suites/smart-discovery.yaml",
        "--suite",
        "suites/smart-registration.yaml",
        "--color",
        "never",
        "--report-dir",
        dir.to_str().unwrap(),
    ];
    if let Some(p) = partition {
        args.extend(["--partition", p]);
    }
    smartcheck(server, &args)
}

/// `case name / check id` -> verdict.
fn verdicts(report: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for case in report["cases"].as_array().unwrap() {
        for step in case["steps"].as_array().unwrap() {
            for check in step["checks"].as_array().unwrap() {
                out.insert(
                    format!(
                        "{} / {}",
                        case["name"].as_str().unwrap(),
                        check["id"].as_str().unwrap()
                    ),
                    check["verdict"].as_str().unwrap().to_string(),
                );
            }
        }
    }
    out
}

fn report(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap()
}

#[test]
fn merged_shards_equal_one_unsharded_run() {
    // A fault, so that the merged run has failures to carry as well as passes.
    let server = ReferenceServer::start(
        "127.0.0.1",
        0,
        Config {
            faults: smartcheck::reference::Faults::parse(&["pkce-plain-advertised"]).unwrap(),
            debug_endpoints: true,
            ..Default::default()
        },
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let whole_dir = dir.path().join("whole");
    let whole = run(&server, &whole_dir, None);
    let mut shard_files = Vec::new();
    for k in 1..=3 {
        let shard_dir = dir.path().join(format!("shard-{k}"));
        run(&server, &shard_dir, Some(&format!("{k}/3")));
        shard_files.push(shard_dir.join("results.json").display().to_string());
    }
    let merged_dir = dir.path().join("merged");
    let mut args = vec!["merge", "--report-dir", merged_dir.to_str().unwrap()];
    args.extend(shard_files.iter().map(String::as_str));
    let merged = smartcheck(&server, &args);
    let console = String::from_utf8_lossy(&merged.stdout);
    assert_eq!(merged.status.code(), whole.status.code(), "{console}");
    assert_eq!(whole.status.code(), Some(1), "the fault fails a check");
    let (a, b) = (report(&whole_dir), report(&merged_dir));
    assert_eq!(verdicts(&a), verdicts(&b));
    assert_eq!(a["summary"], b["summary"]);
    assert_eq!(a["targets"], b["targets"]);
    // Latency comes from the exchanges: the merged report counts the same answers per endpoint.
    let counts = |r: &Value| -> Vec<(String, u64)> {
        r["latency"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["endpoint"].as_str().unwrap().to_string(),
                    l["count"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    assert!(
        counts(&a).iter().any(|(e, n)| e == "*" && *n > 10),
        "{:?}",
        counts(&a)
    );
    assert_eq!(counts(&a), counts(&b));
    assert!(
        String::from_utf8_lossy(&whole.stdout).contains("latency: target `reference`: "),
        "{}",
        String::from_utf8_lossy(&whole.stdout)
    );
    let junit = std::fs::read_to_string(merged_dir.join("junit.xml")).unwrap();
    assert_eq!(
        junit.matches("<testsuite ").count(),
        a["cases"].as_array().unwrap().len()
    );
    // The same shard twice is a mistake, not a bigger run.
    let twice = smartcheck(
        &server,
        &[
            "merge",
            "--report-dir",
            dir.path().join("twice").to_str().unwrap(),
            &shard_files[0],
            &shard_files[0],
        ],
    );
    assert_eq!(twice.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&twice.stderr).contains("the same shard twice?"));
    // A shard run with --strict and one without: their verdicts do not add up.
    let mut strict: Value =
        serde_json::from_str(&std::fs::read_to_string(&shard_files[1]).unwrap()).unwrap();
    strict["strict"] = Value::Bool(true);
    let strict_file = dir.path().join("strict.json");
    std::fs::write(&strict_file, strict.to_string()).unwrap();
    let mixed = smartcheck(
        &server,
        &[
            "merge",
            "--report-dir",
            dir.path().join("mixed").to_str().unwrap(),
            &shard_files[0],
            strict_file.to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&mixed.stderr);
    assert_eq!(mixed.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "strict.json was run with --strict, {} without: the verdicts do not add up",
            shard_files[0]
        )),
        "{stderr}"
    );
}

#[test]
fn the_golden_report_reads_back_as_it_was_written() {
    let text = std::fs::read_to_string("tests/golden/results.json").unwrap();
    let report: smartcheck::report::RunReport = serde_json::from_str(&text).unwrap();
    let again: Value = serde_json::to_value(&report).unwrap();
    let original: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(again, original);
}

/// A sharded nightly run has a history: `merge --history` records the merged shards as one
/// run, and `smartcheck history` shows a verdict that changed between two such nights.
#[test]
fn merged_shards_are_recorded_in_the_history_as_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("nightly.sqlite");
    let history_arg = history.to_str().unwrap().to_string();
    for (night, faults) in [(1, &[][..]), (2, &["pkce-plain-advertised"][..])] {
        let server = ReferenceServer::start(
            "127.0.0.1",
            0,
            Config {
                faults: smartcheck::reference::Faults::parse(faults).unwrap(),
                debug_endpoints: true,
                ..Default::default()
            },
        )
        .unwrap();
        let mut shard_files = Vec::new();
        for k in 1..=2 {
            let shard_dir = dir.path().join(format!("night-{night}-shard-{k}"));
            run(&server, &shard_dir, Some(&format!("{k}/2")));
            shard_files.push(shard_dir.join("results.json").display().to_string());
        }
        let merged_dir = dir.path().join(format!("night-{night}"));
        let mut args = vec![
            "merge",
            "--report-dir",
            merged_dir.to_str().unwrap(),
            "--history",
            &history_arg,
        ];
        args.extend(shard_files.iter().map(String::as_str));
        let merged = smartcheck(&server, &args);
        let stderr = String::from_utf8_lossy(&merged.stderr);
        assert!(
            stderr.contains(&format!("note: run #{night} recorded in")),
            "{stderr}"
        );
        // The merged HTML report shows each check's last runs from the history.
        let html = std::fs::read_to_string(merged_dir.join("report.html")).unwrap();
        assert!(html.contains("class=\"strip\""), "no history strips");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_smartcheck"))
        .args(["history"])
        .arg(&history)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("latest run #2"), "{text}");
    assert!(text.contains("changed since run #1"), "{text}");
    assert!(text.contains("passed -> failed"), "{text}");
}

/// `merge` holds one case whole at a time: shards of large answers (here 4 shards of 20 cases,
/// each with a 1 MB body) are merged with a peak memory below their size on disk, and nothing
/// of them is lost.
#[test]
fn merging_large_shards_holds_one_case_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let server = ReferenceServer::start(
        "127.0.0.1",
        0,
        Config {
            faults: Default::default(),
            debug_endpoints: true,
            ..Default::default()
        },
    )
    .unwrap();
    let seed = dir.path().join("seed");
    run(&server, &seed, None);
    let report: Value =
        serde_json::from_slice(&std::fs::read(seed.join("results.json")).unwrap()).unwrap();
    let case = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["steps"][0]["exchange"]["response"]["body"].is_string())
        .unwrap()
        .clone();
    let mut shard_files = Vec::new();
    let mut total = 0;
    for k in 0..4 {
        let mut shard = report.clone();
        shard["cases"] = (0..20)
            .map(|i| {
                let mut c = case.clone();
                c["name"] = format!("{}-copy-{k}-{i}", case["name"].as_str().unwrap()).into();
                c["steps"][0]["exchange"]["response"]["body"] =
                    format!("{{\"padding\": \"{}\"}}", "x".repeat(1 << 20)).into();
                c
            })
            .collect();
        let file = dir.path().join(format!("shard-{k}.json"));
        std::fs::write(&file, serde_json::to_vec(&shard).unwrap()).unwrap();
        total += std::fs::metadata(&file).unwrap().len();
        shard_files.push(file.display().to_string());
    }
    let merged_dir = dir.path().join("merged");
    let mut args = vec!["merge", "--report-dir", merged_dir.to_str().unwrap()];
    args.extend(shard_files.iter().map(String::as_str));
    let out = Command::new(env!("CARGO_BIN_EXE_smartcheck"))
        .args(&args)
        .env("SMARTCHECK_LOG", "smartcheck::app=debug")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let peak_kb: u64 = stderr
        .lines()
        .find_map(|l| {
            let (_, rest) = l.split_once("peak resident memory: ")?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or_else(|| panic!("merge did not say its peak memory:\n{stderr}"));
    assert!(
        peak_kb * 1024 < total,
        "peak {} MB for {} MB of shards",
        peak_kb / 1024,
        total >> 20
    );
    let merged: Value =
        serde_json::from_slice(&std::fs::read(merged_dir.join("results.json")).unwrap()).unwrap();
    let cases = merged["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 80);
    assert!(cases
        .iter()
        .all(|c| c["steps"][0]["exchange"]["response"]["body"]
            .as_str()
            .is_some_and(|b| b.len() > 1 << 20)));
}
