//! The run in the Prometheus text format (`--metrics PATH`), for the monitoring people already
//! run: the node exporter's textfile collector reads a `*.prom` file a nightly job writes, and
//! alerts fire on a target's pass ratio or its flaky cases like on any other metric.
//!
//! Every value is a gauge of the last run: check and case counts per target and verdict, each
//! target's pass ratio, answer latency per target and endpoint, and the flaky cases by name.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use super::model::Counts;
use super::{CaseOutcome, ReportError, RunReport};

pub fn write(report: &RunReport, path: &Path) -> Result<(), ReportError> {
    super::write_with(path, |out| out.write_all(to_text(report).as_bytes()))
}

/// A label value as the text format quotes it: backslash, double quote and line feed escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One metric family's header.
fn family(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
}

/// The text of an already masked report.
pub fn to_text(report: &RunReport) -> String {
    let mut out = String::new();
    run_lines(&mut out, report);
    target_lines(&mut out, report);
    latency_lines(&mut out, report);
    out
}

/// The run's version, start and duration.
fn run_lines(out: &mut String, report: &RunReport) {
    family(
        out,
        "smartcheck_run_info",
        "The last run: smartcheck's version, whether it was interrupted and whether SHOULD counted as SHALL.",
    );
    let _ = writeln!(
        out,
        "smartcheck_run_info{{version=\"{}\",interrupted=\"{}\",strict=\"{}\"}} 1",
        label(&report.smartcheck_version),
        report.interrupted,
        report.strict
    );
    family(
        out,
        "smartcheck_run_start_timestamp_seconds",
        "When the last run started (Unix time).",
    );
    let started = chrono::DateTime::parse_from_rfc3339(&report.started_at)
        .map(|t| t.timestamp_millis() as f64 / 1000.0)
        .unwrap_or(0.0);
    let _ = writeln!(out, "smartcheck_run_start_timestamp_seconds {started}");
    family(
        out,
        "smartcheck_run_duration_seconds",
        "Wall time of the last run.",
    );
    let _ = writeln!(
        out,
        "smartcheck_run_duration_seconds {}",
        report.duration_ms as f64 / 1000.0
    );
}

/// Per target: check verdicts, case outcomes, flaky cases, in one pass over the cases.
struct Tally<'a> {
    checks: BTreeMap<&'a str, Counts>,
    cases: BTreeMap<&'a str, BTreeMap<&'static str, usize>>,
    flaky: Vec<(&'a str, &'a str)>,
}

impl<'a> Tally<'a> {
    fn of(report: &'a RunReport) -> Self {
        let mut tally = Tally {
            checks: BTreeMap::new(),
            cases: BTreeMap::new(),
            flaky: Vec::new(),
        };
        for target in &report.targets {
            tally.checks.entry(&target.name).or_default();
            tally.cases.entry(&target.name).or_default();
        }
        for case in &report.cases {
            let counts = tally.checks.entry(&case.target).or_default();
            for check in case.checks() {
                counts.add(&check.verdict);
            }
            *tally
                .cases
                .entry(&case.target)
                .or_default()
                .entry(case.outcome.name())
                .or_default() += 1;
            if case.outcome == CaseOutcome::Flaky {
                tally.flaky.push((&case.target, &case.name));
            }
        }
        tally
    }
}

/// Per target: check verdicts, case outcomes, the pass ratio and the flaky cases.
fn target_lines(out: &mut String, report: &RunReport) {
    let Tally {
        checks,
        cases,
        flaky,
    } = Tally::of(report);
    family(
        out,
        "smartcheck_checks",
        "Checks of the last run by target and verdict.",
    );
    for (target, c) in &checks {
        for (verdict, n) in [
            ("passed", c.passed),
            ("failed", c.failed),
            ("warned", c.warned),
            ("errored", c.errored),
            ("skipped", c.skipped),
        ] {
            let _ = writeln!(
                out,
                "smartcheck_checks{{target=\"{}\",verdict=\"{verdict}\"}} {n}",
                label(target)
            );
        }
    }
    family(
        out,
        "smartcheck_cases",
        "Cases of the last run by target and outcome (a flaky case passed on a retry).",
    );
    for (target, outcomes) in &cases {
        for outcome in ["passed", "failed", "errored", "skipped", "flaky"] {
            let _ = writeln!(
                out,
                "smartcheck_cases{{target=\"{}\",outcome=\"{outcome}\"}} {}",
                label(target),
                outcomes.get(outcome).copied().unwrap_or(0)
            );
        }
    }
    family(
        out,
        "smartcheck_target_pass_ratio",
        "Share of a target's judged checks (skipped ones left out) that passed or only warned; absent when none was judged.",
    );
    for (target, c) in &checks {
        let judged = c.passed + c.warned + c.failed + c.errored;
        if judged > 0 {
            let _ = writeln!(
                out,
                "smartcheck_target_pass_ratio{{target=\"{}\"}} {}",
                label(target),
                (c.passed + c.warned) as f64 / judged as f64
            );
        }
    }
    family(
        out,
        "smartcheck_flaky_case",
        "A case of the last run that passed only on a retry (--retries), by target and case name.",
    );
    for (target, name) in &flaky {
        let _ = writeln!(
            out,
            "smartcheck_flaky_case{{target=\"{}\",case=\"{}\"}} 1",
            label(target),
            label(name)
        );
    }
}

/// Answers and their latency per target and endpoint.
fn latency_lines(out: &mut String, report: &RunReport) {
    for (name, help, value) in [
        (
            "smartcheck_answers",
            "Answered exchanges by target and endpoint (`*`: the whole target).",
            (|l: &super::latency::Latency| l.count as f64) as fn(&super::latency::Latency) -> f64,
        ),
        (
            "smartcheck_latency_median_seconds",
            "Median time to an answer by target and endpoint.",
            |l| l.median_ms as f64 / 1000.0,
        ),
        (
            "smartcheck_latency_p95_seconds",
            "95th percentile of the time to an answer by target and endpoint.",
            |l| l.p95_ms as f64 / 1000.0,
        ),
        (
            "smartcheck_latency_max_seconds",
            "Longest time to an answer by target and endpoint.",
            |l| l.max_ms as f64 / 1000.0,
        ),
    ] {
        family(out, name, help);
        for l in &report.latency {
            let _ = writeln!(
                out,
                "{name}{{target=\"{}\",endpoint=\"{}\"}} {}",
                label(&l.target),
                label(&l.endpoint),
                value(l)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    /// The golden report's counts, its one failure in the pass ratio, and a flaky case by name.
    #[test]
    fn counts_ratios_and_flaky_cases_per_target() {
        let mut report: RunReport =
            serde_json::from_str(include_str!("../../tests/golden/results.json")).unwrap();
        let flaky = report
            .cases
            .iter_mut()
            .find(|c| c.outcome == CaseOutcome::Passed)
            .unwrap();
        flaky.outcome = CaseOutcome::Flaky;
        let flaky_name = flaky.name.clone();
        let text = to_text(&report);
        let value = |line_start: &str| -> f64 {
            text.lines()
                .find(|l| l.starts_with(line_start))
                .unwrap_or_else(|| panic!("no {line_start} in\n{text}"))
                .rsplit(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        let c = &report.summary.checks;
        let target = &report.targets[0].name;
        assert_eq!(
            value(&format!(
                "smartcheck_checks{{target=\"{target}\",verdict=\"failed\"}}"
            )),
            c.failed as f64
        );
        let judged = (c.passed + c.warned + c.failed + c.errored) as f64;
        assert_eq!(
            value(&format!(
                "smartcheck_target_pass_ratio{{target=\"{target}\"}}"
            )),
            (c.passed + c.warned) as f64 / judged
        );
        assert_eq!(
            value(&format!(
                "smartcheck_flaky_case{{target=\"{target}\",case=\"{flaky_name}\"}}"
            )),
            1.0
        );
        assert_eq!(
            value(&format!(
                "smartcheck_cases{{target=\"{target}\",outcome=\"flaky\"}}"
            )),
            1.0
        );
    }
}
