//! Console text: the failure listing libtest-mimic prints for a failed case, and the summary.

use super::model::{CaseReport, CheckReport, StepReport};
use super::RunReport;
use crate::check::Verdict;

/// One bad check, as the console and JUnit show it: title, where, expected and actual, the
/// requirement, and the request that was made.
pub fn describe_failure(step: &StepReport, check: &CheckReport) -> String {
    let mut out = String::new();
    let mark = match check.verdict {
        Verdict::Failed(_) => "failed",
        Verdict::Warned(_) => "warning",
        Verdict::Errored { .. } => "errored",
        _ => "",
    };
    out.push_str(&format!(
        "{mark}: {} [{}] {}\n",
        check.id,
        check.level.as_str(),
        check.title
    ));
    out.push_str(&format!("  --> {}\n", check.location));
    if let Some(exchange) = &step.exchange {
        let answer = match (&exchange.response, &exchange.error) {
            (Some(r), _) => format!("{} ({} ms)", r.status, exchange.duration_ms),
            (None, Some(_)) => "no response".to_string(),
            (None, None) => String::new(),
        };
        out.push_str(&format!(
            "  step:     {} ({} {} -> {answer})\n",
            step.id, exchange.request.method, exchange.request.url
        ));
    }
    if step.exchange.is_none() {
        if let Some(url) = step.result.as_ref().and_then(|r| r["sent"]["url"].as_str()) {
            out.push_str(&format!("  step:     {} (browser at {url})\n", step.id));
        }
    }
    match &check.verdict {
        Verdict::Failed(m) | Verdict::Warned(m) => {
            out.push_str(&format!("  expected: {}\n", m.expected));
            out.push_str(&format!("  actual:   {}\n", m.actual));
        }
        Verdict::Errored { reason } => out.push_str(&format!("  reason:   {reason}\n")),
        _ => {}
    }
    for requirement in &check.requirements {
        out.push_str(&format!(
            "  spec:     {} ({}) \"{}\"\n",
            requirement.id, requirement.level, requirement.text
        ));
        out.push_str(&format!("            {}\n", requirement.url));
    }
    if let Some(implied) = &check.implied {
        out.push_str(&format!("  implied:  {implied}\n"));
    }
    for file in &step.artifacts {
        out.push_str(&format!("  saved:    {file}\n"));
    }
    out
}

/// The message of a failed case (libtest-mimic prints it under `failures:`).
pub fn case_failure_message(case: &CaseReport) -> String {
    failure_message_of(&case.steps)
}

/// The message of the failed and errored checks of `steps`.
pub fn failure_message_of(steps: &[StepReport]) -> String {
    let mut out = String::new();
    for step in steps {
        for check in &step.checks {
            if check.verdict.is_bad() {
                out.push_str(&describe_failure(step, check));
                out.push('\n');
            }
        }
    }
    out.trim_end().to_string()
}

/// The lines printed after the run: check counts, warnings, report paths.
pub fn summary(report: &RunReport, written: &[String]) -> String {
    let mut out = String::new();
    warnings(report, &mut out);
    partly_skipped(report, &mut out);
    unlocks(report, &mut out);
    latency(report, &mut out);
    if report.time.cases_ms > 0 {
        out.push_str(&format!("time: {}\n", report.time.describe()));
    }
    browser(report, &mut out);
    per_target(report, &mut out);
    flaky(report, &mut out);
    totals(report, &mut out);
    notices(report, &mut out);
    if !written.is_empty() {
        out.push_str(&format!("reports: {}\n", written.join(", ")));
    }
    out
}

/// The SHOULD requirements not met, each described.
fn warnings(report: &RunReport, out: &mut String) {
    let mut warnings = String::new();
    for case in &report.cases {
        for step in &case.steps {
            for check in &step.checks {
                if let Verdict::Warned(_) = check.verdict {
                    warnings.push_str(&format!("{}\n", indent(&describe_failure(step, check))));
                }
            }
        }
    }
    if !warnings.is_empty() {
        out.push_str(&format!(
            "warnings (SHOULD requirements not met; --strict makes them failures):\n\n{warnings}"
        ));
    }
}

/// A case that passed with checks skipped tested less than its `ok` says: each named, with its
/// share and the first reason, so that nobody takes it for a whole pass.
fn partly_skipped(report: &RunReport, out: &mut String) {
    let partly: Vec<String> = report
        .cases
        .iter()
        .filter_map(|case| {
            let share = case.skipped_checks.as_ref()?;
            Some(format!(
                "  {}: {} ({})\n",
                case.name,
                share.describe(),
                cut(&share.first_reason, 160)
            ))
        })
        .collect();
    if !partly.is_empty() {
        out.push_str(&format!(
            "passed with checks skipped (a skipped check tested nothing; the first reason of each):\n{}",
            partly.concat()
        ));
    }
}

/// What the target could add: skipped checks grouped by the target key they wait for.
fn unlocks(report: &RunReport, out: &mut String) {
    let unlocks = super::unlock::unlocks(report);
    if !unlocks.is_empty() {
        let several = report.targets.len() > 1;
        out.push_str("more checks would run with these target keys (skipped for want of them):\n");
        for unlock in &unlocks {
            out.push_str(&format!("  {}\n", super::unlock::describe(unlock, several)));
        }
    }
}

/// Each target's latency, with its slowest endpoint by p95 (the last of equals, as listed).
fn latency(report: &RunReport, out: &mut String) {
    let mut slowest_of: std::collections::HashMap<&str, &super::latency::Latency> =
        std::collections::HashMap::new();
    for l in report.latency.iter().filter(|l| l.endpoint != "*") {
        let slowest = slowest_of.entry(l.target.as_str()).or_insert(l);
        if l.p95_ms >= slowest.p95_ms {
            *slowest = l;
        }
    }
    for whole in report.latency.iter().filter(|l| l.endpoint == "*") {
        let slowest = slowest_of.get(whole.target.as_str());
        out.push_str(&format!(
            "latency: target `{}`: {} answers, median {} ms, p95 {} ms, max {} ms{}\n",
            whole.target,
            whole.count,
            whole.median_ms,
            whole.p95_ms,
            whole.max_ms,
            slowest
                .map(|s| format!("; slowest endpoint {} (p95 {} ms)", s.endpoint, s.p95_ms))
                .unwrap_or_default()
        ));
    }
}

/// The browsers started and handed out again, and how many at once.
fn browser(report: &RunReport, out: &mut String) {
    if let Some(b) = &report.browser {
        let starts = if b.driver_start_ms + b.browser_start_ms > 0 {
            format!(
                " (chromedriver {:.1} s, browser start {:.1} s)",
                b.driver_start_ms as f64 / 1000.0,
                b.browser_start_ms as f64 / 1000.0
            )
        } else {
            String::new()
        };
        // A cleaning the marker check caught is said: the browser or its tab was renewed.
        let renewed = if b.renewed > 0 {
            format!(
                " ({} of them after the clean-state check found the case before's marker: a new tab)",
                b.renewed
            )
        } else {
            String::new()
        };
        out.push_str(&format!(
            "browser: {} started{starts}, handed out again {} time{} with a verified clean state{renewed}, at most {} in use at once (--browser-sessions {})\n",
            plural(b.sessions, "browser"),
            b.reused,
            if b.reused == 1 { "" } else { "s" },
            b.peak,
            b.bound
        ));
    }
}

/// With several targets, each one's own line: which server broke is the first question.
fn per_target(report: &RunReport, out: &mut String) {
    if report.targets.len() > 1 {
        let per_target = report.per_target();
        for target in &report.targets {
            let (cases, counts) = per_target
                .get(target.name.as_str())
                .cloned()
                .unwrap_or_default();
            out.push_str(&format!(
                "target `{}`: {} in {}: {} passed, {} failed, {} warned, {} errored, {} skipped\n",
                target.name,
                plural(counts.total(), "check"),
                plural(cases, "case"),
                counts.passed,
                counts.failed,
                counts.warned,
                counts.errored,
                counts.skipped
            ));
        }
    }
}

/// Flaky cases passed, but only on a retry: which, and what went wrong first.
fn flaky(report: &RunReport, out: &mut String) {
    for case in &report.cases {
        if case.attempts.is_empty() {
            continue;
        }
        let runs = case.attempts.len() + 1;
        if case.outcome == crate::report::CaseOutcome::Flaky {
            out.push_str(&format!(
                "{}: FLAKY: passed on attempt {runs} of {runs}\n",
                case.name
            ));
        } else {
            out.push_str(&format!(
                "{}: still {} after {runs} attempts\n",
                case.name,
                format!("{:?}", case.outcome).to_lowercase()
            ));
        }
        for (n, attempt) in case.attempts.iter().enumerate() {
            for error in &attempt.errors {
                out.push_str(&format!("    attempt {}: {error}\n", n + 1));
            }
        }
    }
}

/// The causes of the failures, when fewer than the failed checks, and the counts.
fn totals(report: &RunReport, out: &mut String) {
    let c = &report.summary.checks;
    let causes = causes(report);
    let bad = causes.iter().map(|c| c.checks.len()).sum::<usize>();
    if causes.len() < bad {
        out.push_str(&format!(
            "causes: the {bad} failed or errored checks come from {} (one finding seen in several checks or cases counts once):\n",
            plural(causes.len(), "cause")
        ));
        for cause in &causes {
            out.push_str(&format!("  {}\n", cause.describe()));
        }
    }
    let flaky = report.summary.cases.flaky;
    out.push_str(&format!(
        "smartcheck: {} in {}: {} passed, {} failed, {} warned, {} errored, {} skipped{}{}\n",
        plural(c.total(), "check"),
        plural(report.cases.len(), "case"),
        c.passed,
        c.failed,
        c.warned,
        c.errored,
        c.skipped,
        if causes.len() < bad {
            format!(
                "; the failed and errored from {}",
                plural(causes.len(), "cause")
            )
        } else {
            String::new()
        },
        if flaky > 0 {
            format!("; {} flaky (passed on a retry)", plural(flaky, "case"))
        } else {
            String::new()
        }
    ));
}

/// TLS certificates about to expire, unverified TLS, an interrupted run.
fn notices(report: &RunReport, out: &mut String) {
    for target in &report.targets {
        if let Some(warning) = target
            .tls
            .as_ref()
            .and_then(|t| t.expiry_warning(&target.name))
        {
            out.push_str(&format!("warning: {warning}\n"));
        }
    }
    for target in report.targets.iter().filter(|t| t.tls_insecure) {
        out.push_str(&format!(
            "warning: {}\n",
            crate::report::model::insecure_warning(&target.name)
        ));
    }
    if report.interrupted {
        out.push_str(&format!(
            "smartcheck: {}: cases not run are reported as skipped\n",
            crate::interrupt::reason()
        ));
    }
}

/// `1 check`, `2 checks`.
fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// Failed or errored checks that share one root cause: the same title (a check group's check
/// in several cases, or the same request in several flows), expected and actual value; or, for
/// errored ones, the same reason.
struct Cause {
    what: String,
    checks: Vec<String>,
}

impl Cause {
    fn describe(&self) -> String {
        const SHOWN: usize = 3;
        let mut ids: Vec<&str> = self.checks.iter().map(String::as_str).take(SHOWN).collect();
        let more = self.checks.len().saturating_sub(SHOWN);
        let more_text = format!("{more} more");
        if more > 0 {
            ids.push(&more_text);
        }
        format!(
            "{}\u{d7} {} ({})",
            self.checks.len(),
            cut(&self.what, 200),
            ids.join(", ")
        )
    }
}

/// The failed and errored checks of the run grouped by cause, the most frequent first (ties
/// in the order first seen).
fn causes(report: &RunReport) -> Vec<Cause> {
    let mut causes: Vec<Cause> = Vec::new();
    // Each cause's place in `causes`: a run of many failures is grouped in linear time.
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for case in &report.cases {
        for check in case.checks() {
            let what = match &check.verdict {
                Verdict::Failed(m) => format!(
                    "{}: expected {}, actual {}",
                    check.title, m.expected, m.actual
                ),
                Verdict::Errored { reason } => format!("errored: {reason}"),
                _ => continue,
            };
            match index.get(&what) {
                Some(&at) => causes[at].checks.push(check.id.clone()),
                None => {
                    index.insert(what.clone(), causes.len());
                    causes.push(Cause {
                        what,
                        checks: vec![check.id.clone()],
                    });
                }
            }
        }
    }
    causes.sort_by_key(|c| std::cmp::Reverse(c.checks.len()));
    causes
}

/// `text` cut at a character boundary to at most `max` characters, with an ellipsis when cut.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}\u{2026}", &text[..at]),
        None => text.to_string(),
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
