//! A short Markdown summary of the run (`--summary PATH`) for a CI job's page: GitHub Actions
//! shows what a step appends to `$GITHUB_STEP_SUMMARY`, GitLab and others link a Markdown file.
//! The counts, each target's line, the failed and errored checks grouped by what went wrong
//! (with the requirement each breaks), the flaky cases and where the full reports are.
//!
//! Every value comes from the masked report; the server's words in it are escaped, since
//! GitHub renders HTML inside Markdown.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use super::model::Counts;
use super::{CaseOutcome, ReportError, RunReport};
use crate::check::verdict::Verdict;

/// How many causes of failure are listed before "and N more".
const CAUSES_SHOWN: usize = 30;
/// How many check ids a cause names before "and N more".
const CHECKS_SHOWN: usize = 5;
/// The longest text quoted from a verdict.
const QUOTE_CHARS: usize = 200;

/// Appends the summary to `path` (created if missing): GitHub's step summary file holds what
/// earlier steps wrote, which must stay.
pub fn write(report: &RunReport, reports: &[String], path: &Path) -> Result<(), ReportError> {
    use std::io::Write as _;
    let text = to_markdown(report, reports);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| ReportError::CreateDir {
            path: dir.display().to_string(),
            source,
        })?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .map_err(|source| ReportError::Write {
            path: path.display().to_string(),
            source,
        })
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Text from a report or a server, safe in a Markdown table cell or list item: HTML, the
/// characters of Markdown's inline syntax and line breaks are neutralised, and it is cut.
fn inline(text: &str) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == QUOTE_CHARS {
            out.push('…');
            break;
        }
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' | '\r' | '\t' => out.push(' '),
            '|' | '`' | '*' | '_' | '[' | ']' | '\\' | '#' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// The Markdown text of an already masked report; `reports` are the paths of the others.
pub fn to_markdown(report: &RunReport, reports: &[String]) -> String {
    let mut out = String::new();
    headline(&mut out, report);
    targets(&mut out, report);
    failures(&mut out, report);
    flaky(&mut out, report);
    let unlocks = super::unlock::unlocks(report);
    if !unlocks.is_empty() {
        out.push_str("\n#### More checks would run with these target keys\n\n");
        let several = report.targets.len() > 1;
        for unlock in &unlocks {
            let line = super::unlock::describe(unlock, several).replace('`', "");
            let _ = writeln!(out, "- {}", inline(&line));
        }
    }
    if !reports.is_empty() {
        out.push_str("\nReports: ");
        let listed: Vec<String> = reports
            .iter()
            .map(|r| format!("`{}`", r.replace('`', "'")))
            .collect();
        out.push_str(&listed.join(", "));
        out.push('\n');
    }
    out
}

fn headline(out: &mut String, report: &RunReport) {
    let c = &report.summary.checks;
    let verdict = if report.interrupted {
        "interrupted"
    } else if c.failed + c.errored > 0 {
        "FAILED"
    } else {
        "passed"
    };
    // A blank line first: the file may end with what an earlier step wrote.
    let _ = writeln!(out, "\n### smartcheck: {verdict}\n");
    let cases = &report.summary.cases;
    let _ = writeln!(
        out,
        "{} in {}: **{} passed**, **{} failed**, {} warned (SHOULD), **{} errored**, {} skipped{}; {:.1} s.",
        plural(c.total(), "check"),
        plural(
            cases.passed + cases.failed + cases.errored + cases.skipped + cases.flaky,
            "case"
        ),
        c.passed,
        c.failed,
        c.warned,
        c.errored,
        c.skipped,
        if cases.flaky > 0 {
            format!("; {} flaky", plural(cases.flaky, "case"))
        } else {
            String::new()
        },
        report.duration_ms as f64 / 1000.0
    );
    if report.strict {
        out.push_str("\n`--strict`: SHOULD failures count as failures.\n");
    }
}

/// One line per target, from one pass over the cases.
fn targets(out: &mut String, report: &RunReport) {
    let mut per_target: BTreeMap<&str, (Counts, usize)> = BTreeMap::new();
    for case in &report.cases {
        let entry = per_target.entry(case.target.as_str()).or_default();
        if matches!(case.outcome, CaseOutcome::Failed | CaseOutcome::Errored) {
            entry.1 += 1;
        }
        for check in case.checks() {
            entry.0.add(&check.verdict);
        }
    }
    if per_target.is_empty() {
        return;
    }
    out.push_str("\n| target | FHIR base | cases not passed | passed | failed | warned | errored | skipped |\n");
    out.push_str("|---|---|--:|--:|--:|--:|--:|--:|\n");
    for info in &report.targets {
        let (counts, bad_cases) = per_target.remove(info.name.as_str()).unwrap_or_default();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            inline(&info.name),
            inline(&info.fhir_base),
            bad_cases,
            counts.passed,
            counts.failed,
            counts.warned,
            counts.errored,
            counts.skipped
        );
    }
}

/// A cause: one finding, the checks that saw it, and what the first of them cites.
struct Cause {
    what: String,
    requirements: String,
    checks: Vec<String>,
}

impl Cause {
    /// The causes of the failed and errored checks, in the order first seen, and how many
    /// checks they hold.
    fn all(report: &RunReport) -> (Vec<Cause>, usize) {
        let mut causes: Vec<Cause> = Vec::new();
        let mut index: BTreeMap<String, usize> = BTreeMap::new();
        let mut total = 0;
        for case in &report.cases {
            for check in case.checks() {
                let what = match &check.verdict {
                    Verdict::Failed(m) => format!(
                        "{} ({}): expected {}, actual {}",
                        check.title,
                        check.level.as_str(),
                        m.expected,
                        m.actual
                    ),
                    Verdict::Errored { reason } => format!("errored: {reason}"),
                    _ => continue,
                };
                total += 1;
                let at = *index.entry(what.clone()).or_insert_with(|| {
                    causes.push(Cause {
                        what,
                        requirements: cited_links(check),
                        checks: Vec::new(),
                    });
                    causes.len() - 1
                });
                causes[at]
                    .checks
                    .push(format!("{}::{}", case.name, check.id));
            }
        }
        (causes, total)
    }
}

/// The requirements a check cites, as Markdown links.
fn cited_links(check: &crate::report::CheckReport) -> String {
    check
        .requirements
        .iter()
        .map(|r| {
            format!(
                "[{}]({})",
                inline(&r.id),
                r.url.replace(' ', "%20").replace(')', "%29")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The failed and errored checks, grouped by what went wrong.
fn failures(out: &mut String, report: &RunReport) {
    let (causes, total) = Cause::all(report);
    if causes.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n#### Failed and errored: {} from {}\n",
        plural(total, "check"),
        plural(causes.len(), "cause")
    );
    for cause in causes.iter().take(CAUSES_SHOWN) {
        let mut named: Vec<String> = cause
            .checks
            .iter()
            .take(CHECKS_SHOWN)
            .map(|c| format!("`{}`", c.replace('`', "'")))
            .collect();
        if cause.checks.len() > CHECKS_SHOWN {
            named.push(format!("and {} more", cause.checks.len() - CHECKS_SHOWN));
        }
        let cites = if cause.requirements.is_empty() {
            String::new()
        } else {
            format!(" — {}", cause.requirements)
        };
        let _ = writeln!(
            out,
            "- {}{cites}<br>{}",
            inline(&cause.what),
            named.join(", ")
        );
    }
    if causes.len() > CAUSES_SHOWN {
        let _ = writeln!(
            out,
            "- and {} more causes: see the HTML report",
            causes.len() - CAUSES_SHOWN
        );
    }
}

fn flaky(out: &mut String, report: &RunReport) {
    let names: Vec<String> = report
        .cases
        .iter()
        .filter(|c| c.outcome == CaseOutcome::Flaky)
        .map(|c| {
            format!(
                "`{}` (passed on attempt {})",
                c.name.replace('`', "'"),
                c.attempts.len() + 1
            )
        })
        .collect();
    if !names.is_empty() {
        let _ = writeln!(out, "\n#### Flaky: passed only when run again\n");
        for name in names {
            let _ = writeln!(out, "- {name}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_words_cannot_become_markup() {
        assert_eq!(
            inline("<img src=x onerror=alert(1)> | `x` *y* [l](u)"),
            "&lt;img src=x onerror=alert(1)&gt; \\| \\`x\\` \\*y\\* \\[l\\](u)"
        );
        assert_eq!(inline("a\nb"), "a b");
        let long = "x".repeat(500);
        assert_eq!(inline(&long).chars().count(), QUOTE_CHARS + 1);
    }
}
