//! The JUnit XML report: a `<testsuite>` per case, a `<testcase>` per check.

use std::path::Path;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::console::describe_failure;
use super::model::{CaseReport, CheckReport, StepReport, TargetInfo};
use super::{ReportError, RunReport};
use crate::check::Verdict;

/// Builds the XML of an already redacted report.
pub fn to_xml(report: &RunReport) -> Result<String, ReportError> {
    let mut xml = Vec::new();
    write_xml(report, &mut xml).map_err(|e| ReportError::Serialize {
        kind: "JUnit",
        message: e.to_string(),
    })?;
    String::from_utf8(xml).map_err(|e| ReportError::Serialize {
        kind: "JUnit",
        message: e.to_string(),
    })
}

/// Writes the XML as it is made, one case at a time: a run of thousands of cases is never
/// one document in memory.
pub fn write(report: &RunReport, path: &Path) -> Result<(), ReportError> {
    super::write_with(path, |out| write_xml(report, out))
}

const END: &str = "</testsuites>\n";

/// The document quick-junit would write for the whole report, in pieces: its root element
/// (with the run's counts) opened, then each case's `<testsuite>` as quick-junit writes it
/// inside a report of one, then the root closed.
fn write_xml(report: &RunReport, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let mut root = Report::new("smartcheck");
    root.set_time(Duration::from_millis(report.duration_ms));
    if let Ok(ts) = chrono::DateTime::parse_from_rfc3339(&report.started_at) {
        root.set_timestamp(ts);
    }
    let checks = &report.summary.checks;
    root.tests = checks.total();
    root.failures = checks.failed;
    root.errors = checks.errored;
    let opened = root.to_string().map_err(std::io::Error::other)?;
    out.write_all(opened.strip_suffix(END).unwrap_or(&opened).as_bytes())?;
    let targets: std::collections::HashMap<&str, &TargetInfo> = report
        .targets
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    for case in &report.cases {
        let mut one = Report::new("smartcheck");
        let full = case.full().map_err(std::io::Error::other)?;
        one.add_test_suite(suite_with_target(
            targets.get(case.target.as_str()).copied(),
            &full,
        ));
        let text = one.to_string().map_err(std::io::Error::other)?;
        // The lines between the XML declaration and root element and the root's end.
        let inner = text
            .splitn(3, '\n')
            .nth(2)
            .and_then(|rest| rest.strip_suffix(END))
            .unwrap_or_default();
        out.write_all(inner.as_bytes())?;
    }
    out.write_all(END.as_bytes())
}

/// A case's `<testsuite>` with its target's TLS and discovery facts as properties.
fn suite_with_target(target: Option<&TargetInfo>, case: &CaseReport) -> TestSuite {
    let mut suite = suite(case);
    if let Some(target) = target {
        if let Some(facts) = &target.tls {
            suite.add_property(("tls-version", facts.version.as_str()));
            suite.add_property(("tls-certificate-not-after", facts.not_after.as_str()));
        }
        if target.tls_insecure {
            suite.add_property((
                "tls",
                crate::report::model::insecure_warning(&target.name).as_str(),
            ));
        }
        if !target.discovery_from_target.is_empty() {
            suite.add_property((
                "discovery-from-target",
                target.discovery_from_target.join(", ").as_str(),
            ));
        }
    }
    suite
}

fn suite(case: &CaseReport) -> TestSuite {
    let mut suite = TestSuite::new(case.name.as_str());
    suite.set_time(Duration::from_millis(case.duration_ms));
    if let Ok(ts) = chrono::DateTime::parse_from_rfc3339(&case.started_at) {
        suite.set_timestamp(ts);
    }
    suite.add_property(("target", case.target.as_str()));
    suite.add_property((
        "spec",
        format!("{} {}", case.spec.name, case.spec.version).as_str(),
    ));
    suite.add_property(("file", case.location.to_string().as_str()));
    if let Some(reason) = &case.reason {
        suite.add_property(("reason", reason.as_str()));
    }
    if let Some(share) = &case.skipped_checks {
        suite.add_property(("checks-skipped", share.describe().as_str()));
        suite.add_property(("first-skip-reason", share.first_reason.as_str()));
    }
    let classname = format!("{}/{}", case.suite, case.case);
    if !case.attempts.is_empty() {
        suite.add_property(("attempts", (case.attempts.len() + 1).to_string().as_str()));
        if case.outcome == super::CaseOutcome::Flaky {
            suite.add_property(("flaky", "passed on a retry"));
        }
    }
    for step in &case.steps {
        for check in &step.checks {
            let mut tc = test_case(&classname, step, check);
            // The check's earlier attempts that did not pass: `flakyFailure`/`flakyError`
            // under a success, `rerunFailure`/`rerunError` under a failure.
            for attempt in &case.attempts {
                if let Some(rerun) = rerun(attempt, &step.id, &check.id) {
                    tc.status.add_rerun(rerun);
                }
            }
            suite.add_test_case(tc);
        }
    }
    suite
}

/// How a check went in an earlier attempt, when it did not pass there.
fn rerun(
    attempt: &super::model::Attempt,
    step_id: &str,
    check_id: &str,
) -> Option<quick_junit::TestRerun> {
    let step = attempt.steps.iter().find(|s| s.id == step_id)?;
    let check = step.checks.iter().find(|c| c.id == check_id)?;
    let (kind, message) = match &check.verdict {
        Verdict::Failed(m) => (
            NonSuccessKind::Failure,
            format!(
                "{}: expected {}, actual {}",
                check.title, m.expected, m.actual
            ),
        ),
        Verdict::Errored { reason } => {
            (NonSuccessKind::Error, format!("{}: {reason}", check.title))
        }
        _ => return None,
    };
    let mut rerun = quick_junit::TestRerun::new(kind);
    rerun
        .set_message(message)
        .set_description(describe_failure(step, check))
        .set_time(Duration::from_millis(step.duration_ms));
    if let Ok(ts) = chrono::DateTime::parse_from_rfc3339(&attempt.started_at) {
        rerun.set_timestamp(ts);
    }
    if let Some(text) = exchange_text(step) {
        rerun.set_system_out(text);
    }
    Some(rerun)
}

fn exchange_text(step: &StepReport) -> Option<String> {
    let mut parts: Vec<String> = step.exchange.iter().map(|e| e.to_text()).collect();
    parts.extend(step.related.iter().map(|e| e.to_text()));
    if let Some(result) = &step.result {
        parts.push(format!(
            "result of step `{}`:\n{}",
            step.id,
            serde_json::to_string_pretty(result).unwrap_or_default()
        ));
    }
    for file in &step.artifacts {
        parts.push(format!("[[ATTACHMENT|{file}]]"));
    }
    (!parts.is_empty()).then(|| parts.join("\n\n"))
}

fn test_case(classname: &str, step: &StepReport, check: &CheckReport) -> TestCase {
    let status = match &check.verdict {
        Verdict::Passed | Verdict::Warned(_) => TestCaseStatus::success(),
        Verdict::Failed(m) => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status
                .set_message(format!(
                    "{}: expected {}, actual {}",
                    check.title, m.expected, m.actual
                ))
                .set_type(check.level.as_str())
                .set_description(describe_failure(step, check));
            status
        }
        Verdict::Errored { reason } => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status
                .set_message(format!("{}: {reason}", check.title))
                .set_type("errored")
                .set_description(describe_failure(step, check));
            status
        }
        Verdict::Skipped { reason } => {
            let mut status = TestCaseStatus::skipped();
            status.set_message(reason.as_str());
            status
        }
    };
    let mut tc = TestCase::new(check.id.as_str(), status);
    tc.set_classname(classname);
    tc.set_time(Duration::from_millis(step.duration_ms));
    tc.add_property(("title", check.title.as_str()));
    tc.add_property(("level", check.level.as_str()));
    for requirement in &check.requirements {
        tc.add_property(("requirement", &*requirement.id));
        tc.add_property(("requirement-url", &*requirement.url));
    }
    if let Some(implied) = &check.implied {
        tc.add_property(("implied", implied.as_str()));
    }
    tc.add_property(("location", check.location.to_string().as_str()));
    let mut out = String::new();
    if let Verdict::Warned(m) = &check.verdict {
        out.push_str(&format!(
            "warning ({} requirement not met): {}\n  expected: {}\n  actual:   {}\n\n",
            check.level.as_str(),
            check.title,
            m.expected,
            m.actual
        ));
    }
    if !matches!(check.verdict, Verdict::Skipped { .. } | Verdict::Passed) {
        if let Some(text) = exchange_text(step) {
            out.push_str(&text);
        }
    }
    if !out.is_empty() {
        tc.set_system_out(out);
    }
    tc
}
