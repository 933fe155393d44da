//! Case selection: a FILTER that selects no case is a usage error (exit 2), not a run that
//! passes with nothing checked; `--partition K/N` shards split the cases without overlap;
//! with several threads the longest cases start first.

mod common;

/// No case may run for these tests to pass: the target points where nothing listens.
fn run(args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    common::run_unreachable_reference(dir.path(), args)
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

/// The case names `--list` prints.
fn listed(args: &[&str]) -> Vec<String> {
    let mut all = vec!["--list"];
    all.extend_from_slice(args);
    let out = run(&all);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(String::from)
        .collect()
}

#[test]
fn shards_split_the_cases_without_overlap_and_the_same_way_every_time() {
    let everything = listed(&[]);
    assert!(everything.len() > 20, "{everything:?}");
    let shards: Vec<Vec<String>> = (1..=3)
        .map(|k| listed(&["--partition", &format!("{k}/3")]))
        .collect();
    let mut union: Vec<String> = shards.iter().flatten().cloned().collect();
    let total = union.len();
    union.sort();
    union.dedup();
    assert_eq!(union.len(), total, "a case is in two shards");
    let mut sorted = everything.clone();
    sorted.sort();
    assert_eq!(union, sorted, "the shards together are every case");
    assert!(shards.iter().all(|s| !s.is_empty()), "{shards:?}");
    // Stable: the same shard again, and a filter only narrows it.
    assert_eq!(listed(&["--partition", "2/3"]), shards[1]);
    let discovery = listed(&["--partition", "2/3", "smart-discovery"]);
    assert!(discovery.iter().all(|c| shards[1].contains(c)));
    // K/N must be a shard.
    for bad in ["0/3", "4/3", "1/0", "two/3", "3"] {
        let out = run(&["--partition", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("is not a shard like `2/5`"),
            "{bad}"
        );
    }
}

#[test]
fn suite_builtin_adds_the_built_in_suites_and_a_file_of_the_same_id_replaces_one() {
    let dir = tempfile::tempdir().unwrap();
    let mine = dir.path().join("my-discovery.yaml");
    let text = std::fs::read_to_string("tests/fixtures/suites/debug-token.yaml").unwrap();
    let id = text
        .lines()
        .find_map(|l| l.strip_prefix("suite: "))
        .unwrap()
        .to_string();
    std::fs::write(
        &mine,
        text.replacen(&format!("suite: {id}"), "suite: smart-discovery", 1),
    )
    .unwrap();
    let mine = mine.to_str().unwrap();
    let all = listed(&[]);
    let added = listed(&["--suite", "builtin", "--suite", mine]);
    let only = listed(&["--suite", mine]);
    assert!(!only.is_empty());
    assert!(only
        .iter()
        .all(|n| n.starts_with("reference::smart-discovery::")));
    // The built-in discovery suite is replaced by the file; every other built-in case stays.
    let expected: Vec<String> = all
        .iter()
        .filter(|n| !n.starts_with("reference::smart-discovery::"))
        .chain(only.iter())
        .cloned()
        .collect();
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(sorted(added), sorted(expected));
}

/// How many cases of the report started before the case named `name`.
fn started_before(report: &serde_json::Value, name: &str) -> usize {
    let cases = report["cases"].as_array().unwrap();
    let start = |c: &serde_json::Value| c["started_at"].as_str().unwrap().to_string();
    let mine = cases
        .iter()
        .find(|c| c["name"] == name)
        .map(start)
        .unwrap_or_else(|| panic!("no case {name}"));
    cases.iter().filter(|c| start(c) < mine).count()
}

#[test]
fn with_several_threads_the_case_that_waits_out_a_token_starts_first() {
    // The backend suite's expiry case is its last; it waits out a 5-second token. Two at once,
    // it starts first (at most its one companion started earlier), and the report keeps the
    // suite's order. One at a time, the suite's order is the order run.
    let name = "reference::smart-backend-services::backend-token-expiry";
    for (threads, before) in [("2", 0..=1), ("1", 7..=7)] {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_smartcheck"))
            .args(["demo", "smart-backend-services::", "--color", "never"])
            .args(["--test-threads", threads, "--report-dir"])
            .arg(dir.path())
            .output()
            .unwrap();
        let console = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{console}");
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap())
                .unwrap();
        let cases = report["cases"].as_array().unwrap();
        assert_eq!(cases.len(), 8, "{console}");
        assert_eq!(cases[7]["name"], name, "the report keeps the suite's order");
        let n = started_before(&report, name);
        assert!(
            before.contains(&n),
            "--test-threads {threads}: {n} case(s) started before {name}"
        );
    }
}

/// A FILTER names cases: a target whose name holds it does not bring in all its cases (the
/// selection is smartcheck's, not libtest's look into the whole name); `--exact` takes the
/// whole name or the case's name without its target, and a near miss is named.
#[test]
fn a_filter_selects_cases_whatever_the_target_is_called() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("es384.yaml");
    std::fs::write(
        &target,
        std::fs::read_to_string("fixtures/targets/reference.yaml")
            .unwrap()
            .replace("name: reference\n", "name: es384\n"),
    )
    .unwrap();
    let list = |args: &[&str]| -> (Option<i32>, Vec<String>, String) {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_smartcheck"))
            .args(["run", "--list", "--target"])
            .arg(&target)
            .args(args)
            .env("SMARTCHECK_REFERENCE_FHIR_BASE", "http://127.0.0.1:9/fhir")
            .env("SMARTCHECK_REFERENCE_ORIGIN", "http://127.0.0.1:9")
            .env("SMARTCHECK_REFERENCE_PASSWORD", "unused")
            .output()
            .unwrap();
        let names = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_suffix(": test"))
            .map(str::to_string)
            .collect();
        (
            out.status.code(),
            names,
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, names, _) = list(&["es384"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        names,
        [
            "es384::smart-app-launch::standalone-es384",
            "es384::smart-backend-services::backend-es384",
            "es384::smart-backend-services::backend-refusals-es384"
        ]
    );
    // --skip reads names alike: skipping `es384` leaves the target's other cases.
    let (_, names, _) = list(&["--skip", "es384", "smart-app-launch::standalone-"]);
    assert!(
        names.contains(&"es384::smart-app-launch::standalone-basic".to_string()),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|n| n.ends_with("standalone-es384")),
        "{names:?}"
    );
    // --exact: the whole name, or the case's name without its target.
    for exact in [
        "es384::smart-app-launch::standalone-basic",
        "smart-app-launch::standalone-basic",
    ] {
        let (code, names, _) = list(&["--exact", exact]);
        assert_eq!(code, Some(0));
        assert_eq!(
            names,
            ["es384::smart-app-launch::standalone-basic"],
            "{exact}"
        );
    }
    let (code, _, stderr) = list(&["--exact", "smart-app-launch::standalone-basi"]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("did you mean `smart-app-launch::standalone-basic`?"),
        "{stderr}"
    );
}

/// `--list=plain` prints the names alone, one per line, and a line pasted back after `--exact`
/// selects that case.
#[test]
fn a_plain_list_gives_names_that_select_their_case_again() {
    let plain = |args: &[&str]| -> Vec<String> {
        let out = run(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    };
    let names = plain(&["--list=plain", "smart-user-access-brands"]);
    assert!(!names.is_empty());
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("reference::smart-user-access-brands::") && !n.contains(": ")),
        "{names:?}"
    );
    let again = plain(&["--list=plain", "--exact", &names[0]]);
    assert_eq!(again, [names[0].clone()]);
    // Without a format, the libtest form stays.
    let out = run(&["--list", "--exact", &names[0]]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("{}: test", names[0])
    );
}
