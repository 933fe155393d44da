//! Every check of the built-in suites proven both ways: the clean reference server passes every
//! check, and each fault makes exactly its intended checks fail (or warn, for SHOULD checks)
//! while no other check of the cases it touches changes verdict. The browser flows run for
//! real (Chromium through chromedriver).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::Mutex;

use smartcheck::reference::{Config, Fault, Faults, ReferenceServer, FAULTS};

/// One check's verdict in a run, with the suite file and case it belongs to.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    verdict: String,
    /// Why a check was not evaluated (errored or skipped).
    reason: String,
    /// What a judged check found (its `actual`), empty when it says nothing.
    actual: String,
    suite: String,
    case: String,
}

/// The environment the reference target reads, for a server.
fn target_env(cmd: &mut Command, server: &ReferenceServer) {
    cmd.env("SMARTCHECK_REFERENCE_FHIR_BASE", server.fhir_base())
        .env("SMARTCHECK_REFERENCE_ORIGIN", server.origin())
        .env("SMARTCHECK_REFERENCE_PASSWORD", "demo-password");
}

/// Runs suites (all built-in ones when `suites` is empty) against a reference server with these
/// faults, skipping the cases named in `skip`; returns check id -> verdict from the JSON report.
fn verdicts(
    target: Option<&str>,
    faults: &[&str],
    suites: &[String],
    skip: &[String],
) -> BTreeMap<String, Seen> {
    run(target, faults, suites, skip).0
}

/// The reference target's name in case names (`reference::suite::case`), and the same case
/// under another target file.
fn under_target(case: &str, target: Option<&str>) -> String {
    let Some(file) = target else {
        return case.to_string();
    };
    let text = std::fs::read_to_string(file).expect("the switch's target file");
    let name = text
        .lines()
        .find_map(|l| l.strip_prefix("name: "))
        .expect("a target name")
        .trim();
    match case.split_once("::") {
        Some((_, rest)) => format!("{name}::{rest}"),
        None => case.to_string(),
    }
}

/// A run's check verdicts, and the reasons its skipped steps give (case name, reason).
type Run = (BTreeMap<String, Seen>, Vec<(String, String)>);

/// Runs the suites against a reference server with these faults; see [`verdicts`].
fn run(target: Option<&str>, faults: &[&str], suites: &[String], skip: &[String]) -> Run {
    run_with(target, faults, suites, skip, None)
}

/// [`run`], with only the case the exact `suite::case` FILTER names.
fn run_with(
    target: Option<&str>,
    faults: &[&str],
    suites: &[String],
    skip: &[String],
    filter: Option<&str>,
) -> Run {
    let server = ReferenceServer::start(
        "127.0.0.1",
        0,
        Config {
            faults: Faults::parse(faults).expect("known faults"),
            debug_endpoints: true,
            ..Default::default()
        },
    )
    .expect("server starts");
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_smartcheck"));
    cmd.args([
        "run",
        "--target",
        target.unwrap_or("fixtures/targets/reference.yaml"),
        "--color",
        "never",
        "--exact",
        "--report-dir",
    ])
    .arg(dir.path());
    for suite in suites {
        cmd.args(["--suite", suite]);
    }
    for case in skip {
        cmd.args(["--skip", &under_target(case, target)]);
    }
    cmd.args(filter);
    target_env(&mut cmd, &server);
    let out = cmd.output().expect("smartcheck runs");
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("results.json")).expect("results.json written"),
    )
    .unwrap_or_else(|e| panic!("results.json for {faults:?}: {e}"));
    let mut map = BTreeMap::new();
    let mut step_skips = Vec::new();
    for case in report["cases"].as_array().unwrap() {
        for step in case["steps"].as_array().unwrap() {
            if step["state"] == "skipped" {
                step_skips.push((
                    case["name"].as_str().unwrap().to_string(),
                    step["reason"].as_str().unwrap_or_default().to_string(),
                ));
            }
            for check in step["checks"].as_array().unwrap() {
                map.insert(
                    check["id"].as_str().unwrap().to_string(),
                    Seen {
                        verdict: check["verdict"].as_str().unwrap().to_string(),
                        reason: check["reason"].as_str().unwrap_or_default().to_string(),
                        actual: check["actual"].as_str().unwrap_or_default().to_string(),
                        suite: format!("suites/{}.yaml", case["suite"].as_str().unwrap()),
                        case: case["name"].as_str().unwrap().to_string(),
                    },
                );
            }
        }
    }
    let code = out.status.code();
    let bad = map
        .values()
        .any(|v| v.verdict == "failed" || v.verdict == "errored");
    assert_eq!(
        code,
        Some(if bad { 1 } else { 0 }),
        "exit code vs verdicts for {faults:?}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    (map, step_skips)
}

/// Runs a switch against the named cases only (their suites, every other case skipped);
/// returns their full names and the run.
fn run_cases(
    fault: &Fault,
    names: &[&str],
    all_cases: &BTreeSet<String>,
    clean: &BTreeMap<String, Seen>,
) -> (BTreeSet<String>, Run) {
    let cases: BTreeSet<String> = all_cases
        .iter()
        .filter(|c| names.iter().any(|v| c.ends_with(&format!("::{v}"))))
        .cloned()
        .collect();
    assert_eq!(cases.len(), names.len(), "{}: unknown case", fault.name);
    let suites: Vec<String> = clean
        .values()
        .filter(|v| cases.contains(&v.case))
        .map(|v| v.suite.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let skip: Vec<String> = all_cases
        .iter()
        .filter(|c| !cases.contains(*c))
        .cloned()
        .collect();
    let outcome = run(fault.target, &[fault.name], &suites, &skip);
    (cases, outcome)
}

/// Faults whose proof takes longer than the matrix should wait: each has a test of its own.
const PROVEN_BY_OWN_TEST: &[&str] = &["code-never-expires"];
/// Checks the clean run cannot reach (its target holds a code for 3 s, and they judge a code
/// held more than ten minutes); the same tests prove them both ways.
const JUDGED_BY_OWN_TEST: &[&str] = &["code-expiry-refused"];

/// RFC 6749 §4.1.2 recommends codes live ten minutes at most, so a code that still works is
/// judged only after a longer wait: one run holds a code for ten minutes and a second against
/// the clean server (its code-expiry client's codes live 2 s: refused, passed) and, at the same
/// time, one against `code-never-expires` (still working: warned). Both wait while the matrix
/// runs beside them (the tests of this file run in parallel).
#[test]
fn a_code_held_past_ten_minutes_is_judged_both_ways() {
    let text = std::fs::read_to_string("fixtures/targets/reference.yaml").unwrap();
    assert!(
        text.contains("\ncode-expiry-wait: 3s\n"),
        "the reference target's wait moved"
    );
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("reference-code-expiry.yaml");
    std::fs::write(
        &target,
        text.replace("\ncode-expiry-wait: 3s\n", "\ncode-expiry-wait: 11m\n"),
    )
    .unwrap();
    let target = target.to_str().unwrap();
    let suites = ["suites/smart-app-launch.yaml".to_string()];
    let case = Some("reference::smart-app-launch::code-expiry");
    let (clean, fault) = std::thread::scope(|scope| {
        let clean = scope.spawn(|| run_with(Some(target), &[], &suites, &[], case).0);
        let fault =
            scope.spawn(|| run_with(Some(target), &["code-never-expires"], &suites, &[], case).0);
        (clean.join().unwrap(), fault.join().unwrap())
    });
    let verdict = |run: &BTreeMap<String, Seen>, id: &str| {
        run.get(id)
            .unwrap_or_else(|| panic!("{id} was not run: {run:?}"))
            .clone()
    };
    for id in [
        "code-expiry-refused",
        "code-expiry-error",
        "code-expiry-control-token-issued",
    ] {
        assert_eq!(
            verdict(&clean, id).verdict,
            "passed",
            "clean: {id}: {clean:?}"
        );
    }
    let held = verdict(&fault, "code-expiry-refused");
    assert_eq!(held.verdict, "warned", "{fault:?}");
    assert_eq!(
        held.actual, "status 200",
        "the answer to the held code: {held:?}"
    );
    let error = verdict(&fault, "code-expiry-error");
    assert_eq!(
        error.verdict, "skipped",
        "no refusal, no error code to judge: {error:?}"
    );
    assert_eq!(
        verdict(&fault, "code-expiry-control-token-issued").verdict,
        "passed"
    );
}

/// Each fault runs against the cases that hold its checks (the browser cases cost seconds
/// each); within those cases no other check may change verdict.
#[test]
fn clean_server_passes_every_check_and_each_fault_is_caught_exactly() {
    let clean = verdicts(None, &[], &[], &[]);
    assert!(clean.len() >= 250, "only {} checks", clean.len());
    // A check that judges only a behaviour the clean server does not show (the other of two
    // the spec allows) is skipped by its `when` there; the switch that shows it exercises it.
    let exercised_elsewhere = |id: &str| {
        FAULTS.iter().any(|f| f.exercises.contains(&id)) || JUDGED_BY_OWN_TEST.contains(&id)
    };
    let not_passed: Vec<_> = clean
        .iter()
        .filter(|(id, v)| {
            v.verdict != "passed"
                && !(v.verdict == "skipped"
                    && v.reason.starts_with("condition not met")
                    && exercised_elsewhere(id))
        })
        .collect();
    assert!(not_passed.is_empty(), "clean server: {not_passed:?}");
    let all_cases: BTreeSet<String> = clean.values().map(|v| v.case.clone()).collect();

    let mut caught_somewhere = BTreeSet::new();
    let problems = Mutex::new(Vec::new());
    // `SMARTCHECK_MATRIX_FAULTS=a,b` runs only these faults (while working on them).
    let only: Option<Vec<String>> = std::env::var("SMARTCHECK_MATRIX_FAULTS")
        .ok()
        .map(|v| v.split(',').map(str::to_string).collect());
    let mut faults: Vec<&Fault> = FAULTS
        .iter()
        .filter(|f| {
            (!f.caught_by.is_empty() || !f.unproven.is_empty() || f.is_variant())
                && !PROVEN_BY_OWN_TEST.contains(&f.name)
                && only.as_ref().is_none_or(|o| o.iter().any(|n| n == f.name))
        })
        .collect();
    // The faults that run the most cases first, so that the last ones to finish are short and
    // the three workers end together.
    let cases_run = |f: &Fault| match f.offers_less {
        Some((_, cases)) => cases.len(),
        None if f.is_variant() => f.variant_cases.len(),
        None => f
            .caught_by
            .iter()
            .chain(f.unproven)
            .filter_map(|id| clean.get(*id).map(|c| &c.case))
            .collect::<BTreeSet<_>>()
            .len(),
    };
    faults.sort_by_key(|f| std::cmp::Reverse(cases_run(f)));
    let queue = Mutex::new(faults.into_iter());
    for fault in FAULTS {
        for id in fault.caught_by {
            assert!(
                clean.contains_key(*id),
                "{}: caught_by names unknown check {id}",
                fault.name
            );
            caught_somewhere.insert(*id);
        }
    }
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| loop {
                let Some(fault) = queue.lock().unwrap().next() else {
                    return;
                };
                if let Some((missing, offered_cases)) = fault.offers_less {
                    // A server that offers less and says so: the cases that need the feature
                    // skip that part with a reason naming it; none fails or errors.
                    let (cases, (got, step_skips)) =
                        run_cases(fault, offered_cases, &all_cases, &clean);
                    let mut found: Vec<String> = got
                        .iter()
                        .filter(|(_, seen)| seen.verdict == "failed" || seen.verdict == "errored")
                        .map(|(id, seen)| {
                            format!(
                                "{} (offers less): check {id} was {}: {}",
                                fault.name, seen.verdict, seen.reason
                            )
                        })
                        .collect();
                    for case in &cases {
                        let name = under_target(case, fault.target);
                        let gated = step_skips
                            .iter()
                            .any(|(c, reason)| *c == name && reason.contains(missing));
                        if !gated {
                            found.push(format!(
                                "{} (offers less): no step of {case} is skipped for want of {missing}",
                                fault.name
                            ));
                        }
                    }
                    problems.lock().unwrap().extend(found);
                    continue;
                }
                if fault.is_variant() {
                    // Another behaviour the spec allows: every check of its cases still passes.
                    let (_, (got, _)) = run_cases(fault, fault.variant_cases, &all_cases, &clean);
                    // A check that judges only the other allowed behaviour may be skipped by its
                    // `when` (and only so) where the switch names it.
                    let mut found: Vec<String> = fault
                        .exercises
                        .iter()
                        .filter(|id| got.get(**id).map(|s| s.verdict.as_str()) != Some("passed"))
                        .map(|id| {
                            format!(
                                "{} (conforming): check {id}, which only this behaviour reaches, did not pass: {:?}",
                                fault.name,
                                got.get(*id).map(|s| (&s.verdict, &s.reason))
                            )
                        })
                        .collect();
                    found.extend(got.iter().filter(|(id, seen)| {
                            clean.get(*id).map(|c| &c.verdict) != Some(&seen.verdict)
                                && !(fault.may_skip.contains(&id.as_str())
                                    && seen.verdict == "skipped"
                                    && (seen.reason.starts_with("condition not met")
                                        || seen.reason.starts_with("prerequisite missing")))
                                && !(fault.exercises.contains(&id.as_str())
                                    && seen.verdict == "passed")
                        })
                        .map(|(id, seen)| {
                            format!(
                                "{} (conforming): check {id} was {}",
                                fault.name, seen.verdict
                            )
                        }));
                    problems.lock().unwrap().extend(found);
                    continue;
                }
                let named = || fault.caught_by.iter().chain(fault.unproven);
                let cases: BTreeSet<&String> = named().map(|id| &clean[*id].case).collect();
                let suites: BTreeSet<String> =
                    named().map(|id| clean[*id].suite.clone()).collect();
                let suites: Vec<String> = suites.into_iter().collect();
                let skip: Vec<String> = all_cases
                    .iter()
                    .filter(|c| !cases.contains(c))
                    .cloned()
                    .collect();
                let got = verdicts(fault.target, &[fault.name], &suites, &skip);
                let mut found = Vec::new();
                for id in fault.caught_by {
                    match got.get(*id).map(|s| s.verdict.as_str()) {
                        Some("failed") | Some("warned") => {}
                        other => found.push(format!(
                            "{}: check {id} should fail, was {other:?}",
                            fault.name
                        )),
                    }
                }
                // A stall after a request that had to be refused proves no refusal: its
                // checks are inconclusive (errored), never passed.
                for id in fault.unproven {
                    match got.get(*id) {
                        Some(seen)
                            if seen.verdict == "errored"
                                && seen.reason.contains("refusal not proven") => {}
                        other => found.push(format!(
                            "{}: check {id} should be errored as \"refusal not proven\", was {:?}",
                            fault.name,
                            other.map(|s| (&s.verdict, &s.reason))
                        )),
                    }
                }
                for (id, seen) in &got {
                    if fault.caught_by.contains(&id.as_str())
                        || fault.unproven.contains(&id.as_str())
                        || clean.get(id).map(|c| &c.verdict) == Some(&seen.verdict)
                    {
                        continue;
                    }
                    // A refusal whose positive control the fault broke proves nothing: it
                    // is errored, whatever the fault.
                    let no_control =
                        seen.verdict == "errored" && seen.reason.starts_with("no positive control");
                    // A check that judges only servers like this one (skipped by its `when`
                    // on the clean server) passes where the fault leaves that part conforming.
                    let exercised = fault.exercises.contains(&id.as_str()) && seen.verdict == "passed";
                    let collateral_ok = no_control
                        || exercised
                        || fault.collateral
                            && (seen.verdict == "errored" || seen.verdict == "skipped");
                    if !collateral_ok {
                        found.push(format!(
                            "{}: check {id} changed from {:?} to {}",
                            fault.name,
                            clean.get(id).map(|c| &c.verdict),
                            seen.verdict
                        ));
                    }
                }
                problems.lock().unwrap().extend(found);
            });
        }
    });
    let uncovered: Vec<&String> = clean
        .keys()
        .filter(|id| !caught_somewhere.contains(id.as_str()) && !id.ends_with("-step"))
        .collect();
    let problems = problems.into_inner().unwrap();
    assert!(
        uncovered.is_empty(),
        "checks no fault proves failing: {uncovered:?}\n(and {} other problems:\n{})",
        problems.len(),
        problems.join("\n")
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn should_checks_fail_under_strict() {
    let server = ReferenceServer::start(
        "127.0.0.1",
        0,
        Config {
            faults: Faults::parse(&["response-types-no-code"]).unwrap(),
            debug_endpoints: true,
            ..Default::default()
        },
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = |strict: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_smartcheck"));
        cmd.args([
            "run",
            "--target",
            "fixtures/targets/reference.yaml",
            "--suite",
            "suites/smart-discovery.yaml",
            "--color",
            "never",
            "--report-dir",
        ])
        .arg(dir.path());
        target_env(&mut cmd, &server);
        if strict {
            cmd.arg("--strict");
        }
        cmd.output().unwrap()
    };
    let lenient = run(false);
    assert_eq!(lenient.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&lenient.stdout).contains("1 warned"));
    let strict = run(true);
    assert_eq!(strict.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&strict.stdout);
    assert!(
        stdout.contains("failed: smart-config-response-types [SHOULD]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("expected: an array containing \"code\""),
        "{stdout}"
    );
}
