//! The HTML report: one self-contained file for a person (no network fetch: styles, the
//! one small script and the screenshots are inline, and a Content-Security-Policy forbids
//! anything else). Failures come first, each with its requirement in the source's own words,
//! expected against actual, the redacted HTTP exchanges (collapsed) and the screenshot of a
//! failed browser step; then every target, flaky cases, warnings, every case (a large run's
//! passed checks counted, not listed), latency and time.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use base64::Engine as _;

use super::model::{CaseReport, CheckReport, Counts, StepReport};
use super::{CaseOutcome, ReportError, RunReport};
use crate::check::Verdict;
use crate::markup::escape as esc;

/// Screenshots larger than this are linked, not embedded.
const MAX_EMBEDDED_IMAGE: u64 = 4 * 1024 * 1024;

/// The last runs' verdicts of each check, oldest first, from `--history`: keyed by
/// [`series_key`]; each mark is a verdict word (`passed`, `failed`, …) and the run's start
/// time.
pub type Strips = BTreeMap<(String, String), Vec<(String, String)>>;

/// What a check's history follows: its target and suite (`target::suite`) and its id, which
/// stay when a new release renames the case (check ids are unique in a suite and stable).
pub fn series_key(case_name: &str, check_id: &str) -> (String, String) {
    let suite = case_name
        .rsplit_once("::")
        .map_or(case_name, |(target_suite, _)| target_suite);
    (suite.to_string(), check_id.to_string())
}

/// Writes the page as it is made: a fleet's report is never one string in memory.
pub fn write(report: &RunReport, strips: Option<&Strips>, path: &Path) -> Result<(), ReportError> {
    super::write_with(path, |out| write_page(report, strips, out))
}

/// The page being written: text gathers in `text` and goes out a piece (a finding, a case) at
/// a time; the first write error is kept and ends the writing.
struct Page<'o> {
    text: String,
    out: &'o mut dyn std::io::Write,
    error: Option<std::io::Error>,
}

impl Page<'_> {
    fn push_str(&mut self, text: &str) {
        self.text.push_str(text);
    }

    /// Sends what has gathered on to the file.
    fn piece_done(&mut self) {
        if self.error.is_none() {
            if let Err(e) = self.out.write_all(self.text.as_bytes()) {
                self.error = Some(e);
            }
        }
        self.text.clear();
    }
}

impl std::fmt::Write for Page<'_> {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        self.text.push_str(text);
        Ok(())
    }
}

/// An `id` attribute value from any text.
fn anchor(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

const STYLE: &str = r#"
:root { --pass: #1a7f37; --fail: #cf222e; --err: #9a6700; --warn: #bc4c00; --skip: #6e7781; --flaky: #8250df; --line: #d0d7de; --soft: #f6f8fa; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1f2328; background: #fff; }
header, main, footer { max-width: 1200px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 20px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; border-bottom: 1px solid var(--line); padding-bottom: 4px; margin-top: 32px; }
h3 { font-size: 16px; margin: 0 0 6px; }
.meta { color: #59636e; margin: 0 0 12px; }
.totals { display: flex; flex-wrap: wrap; gap: 8px; margin: 12px 0; }
.badge { border-radius: 12px; padding: 2px 10px; font-weight: 600; color: #fff; font-size: 13px; }
.badge.passed, .strip .passed { background: var(--pass); } .badge.failed, .strip .failed { background: var(--fail); }
.badge.errored, .strip .errored { background: var(--err); } .badge.warned, .strip .warned { background: var(--warn); }
.badge.skipped, .strip .skipped { background: var(--skip); } .badge.flaky, .strip .flaky { background: var(--flaky); }
.partly-skipped { color: var(--warn); font-weight: 600; }
nav a { margin-right: 14px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; font-size: 14px; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: var(--soft); }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
article { border: 1px solid var(--line); border-left: 6px solid var(--fail); border-radius: 6px; padding: 12px 16px; margin: 12px 0; }
article.errored { border-left-color: var(--err); } article.warned { border-left-color: var(--warn); } article.flaky { border-left-color: var(--flaky); }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 8px 0; }
dt { font-weight: 600; color: #59636e; } dd { margin: 0; overflow-wrap: anywhere; }
blockquote { margin: 8px 0; padding: 4px 12px; border-left: 4px solid var(--line); background: var(--soft); }
pre { background: var(--soft); padding: 8px; overflow-x: auto; white-space: pre-wrap; overflow-wrap: anywhere; font-size: 12.5px; }
code { font-size: 13px; }
details { margin: 6px 0; } summary { cursor: pointer; }
figure { margin: 8px 0; } figure img { max-width: 100%; border: 1px solid var(--line); }
.strip { display: inline-flex; gap: 2px; vertical-align: middle; }
.strip span { width: 10px; height: 14px; border-radius: 2px; display: inline-block; }
.controls button { margin-right: 6px; }
footer { color: #59636e; padding: 24px; font-size: 13px; }
"#;

/// Opens or closes every `<details>`; the report works without it.
const SCRIPT: &str = r#"
document.querySelectorAll('[data-details]').forEach(function (button) {
  button.addEventListener('click', function () {
    var open = button.getAttribute('data-details') === 'open';
    document.querySelectorAll('details').forEach(function (d) { d.open = open; });
  });
});
"#;

/// The whole page of an already redacted report.
pub fn to_html(report: &RunReport, strips: Option<&Strips>) -> String {
    let mut bytes = Vec::new();
    // Writing into memory cannot fail.
    let _ = write_page(report, strips, &mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

fn write_page(
    report: &RunReport,
    strips: Option<&Strips>,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    let mut page = Page {
        text: String::new(),
        out,
        error: None,
    };
    let h = &mut page;
    let s = &report.summary;
    let failing = s.checks.failed + s.checks.errored;
    let title = if report.interrupted {
        "interrupted".to_string()
    } else if failing > 0 {
        format!("{failing} failing")
    } else {
        "all passing".to_string()
    };
    // A fleet's page is named after its first targets, not a thousand of them.
    let mut targets: Vec<&str> = report
        .targets
        .iter()
        .take(5)
        .map(|t| t.name.as_str())
        .collect();
    let more = report.targets.len().saturating_sub(targets.len());
    let more_text = format!("{more} more");
    if more > 0 {
        targets.push(&more_text);
    }
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>smartcheck: {} ({})</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(&title),
        esc(&targets.join(", "))
    );
    header(h, report);
    h.piece_done();
    h.push_str("<main>\n");
    failures(h, report, strips);
    h.piece_done();
    targets_table(h, report);
    h.piece_done();
    flaky(h, report);
    h.piece_done();
    warnings(h, report, strips);
    h.piece_done();
    cases(h, report, strips);
    h.piece_done();
    latency(h, report);
    h.piece_done();
    h.push_str("</main>\n");
    let _ = write!(
        h,
        "<footer>smartcheck {} · report format {} v{} · secrets are masked in every exchange</footer>\n<script>{SCRIPT}</script>\n</body>\n</html>\n",
        esc(&report.smartcheck_version),
        esc(&report.format),
        report.version
    );
    h.piece_done();
    match page.error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn header(h: &mut Page, report: &RunReport) {
    let s = &report.summary;
    let _ = write!(
        h,
        "<header>\n<h1>smartcheck report</h1>\n<p class=\"meta\">started {} · {:.1} s wall · {}{}{}</p>\n",
        esc(&report.started_at),
        report.duration_ms as f64 / 1000.0,
        plural(report.targets.len(), "target"),
        if report.strict { " · --strict (SHOULD counts as SHALL)" } else { "" },
        if report.interrupted { " · <strong>interrupted: the cases not run are skipped</strong>" } else { "" }
    );
    h.push_str("<div class=\"totals\" id=\"totals\">");
    let c = &s.checks;
    for (word, n) in [
        ("passed", c.passed),
        ("failed", c.failed),
        ("errored", c.errored),
        ("warned", c.warned),
        ("skipped", c.skipped),
    ] {
        let _ = write!(
            h,
            "<span class=\"badge {word}\" data-count=\"{n}\">{n} {word}</span>"
        );
    }
    if s.cases.flaky > 0 {
        let _ = write!(
            h,
            "<span class=\"badge flaky\" data-count=\"{0}\">{0} flaky case{1}</span>",
            s.cases.flaky,
            if s.cases.flaky == 1 { "" } else { "s" }
        );
    }
    let _ = write!(
        h,
        "</div>\n<p class=\"meta\">{} checks in {} cases</p>\n",
        c.total(),
        report.cases.len()
    );
    h.push_str(
        "<nav><a href=\"#failures\">Failures</a><a href=\"#targets\">Targets</a><a href=\"#flaky\">Flaky</a>\
         <a href=\"#warnings\">Warnings</a><a href=\"#cases\">Cases</a><a href=\"#latency\">Latency</a></nav>\n\
         <p class=\"controls\"><button type=\"button\" data-details=\"open\">Expand all</button>\
         <button type=\"button\" data-details=\"close\">Collapse all</button></p>\n</header>\n",
    );
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// Every failed or errored check, then (in `warnings`) the SHOULDs not met.
fn failures(h: &mut Page, report: &RunReport, strips: Option<&Strips>) {
    findings(
        h,
        report,
        strips,
        "<section id=\"failures\">\n<h2>Failures ({})</h2>",
        "<p>No check failed or errored.</p>\n",
        |v| matches!(v, Verdict::Failed(_) | Verdict::Errored { .. }),
    );
}

fn warnings(h: &mut Page, report: &RunReport, strips: Option<&Strips>) {
    findings(
        h,
        report,
        strips,
        "<section id=\"warnings\">\n<h2>Warnings: SHOULD requirements not met ({})</h2>",
        "<p>None.</p>\n",
        |v| matches!(v, Verdict::Warned(_)),
    );
}

/// A section of the checks whose verdict `keep` selects, each with its exchanges: the
/// cases that have some are read whole, one at a time.
fn findings(
    h: &mut Page,
    report: &RunReport,
    strips: Option<&Strips>,
    heading: &str,
    none: &str,
    keep: impl Fn(&Verdict) -> bool,
) {
    let count = report
        .cases
        .iter()
        .flat_map(|c| c.checks())
        .filter(|c| keep(&c.verdict))
        .count();
    let _ = writeln!(h, "{}", heading.replace("{}", &count.to_string()));
    if count == 0 {
        h.push_str(none);
    }
    for case in &report.cases {
        if !case.checks().any(|c| keep(&c.verdict)) {
            continue;
        }
        let whole = match case.full() {
            Ok(whole) => whole,
            Err(e) => {
                let _ = writeln!(h, "<p>{}: {}</p>", esc(&case.name), esc(&e));
                continue;
            }
        };
        for step in &whole.steps {
            for check in step.checks.iter().filter(|c| keep(&c.verdict)) {
                finding(h, &whole, step, check, strips);
                h.piece_done();
            }
        }
    }
    h.push_str("</section>\n");
}

/// A step as a finding names it: its id, and its request and answer when it sent one.
fn step_text(step: &StepReport) -> String {
    match &step.exchange {
        Some(e) => {
            let answer = match (&e.response, &e.error) {
                (Some(r), _) => format!("{} ({} ms)", r.status, e.duration_ms),
                (None, Some(_)) => "no response".into(),
                (None, None) => String::new(),
            };
            format!(
                "<code>{}</code>: {} {} → {answer}",
                esc(&step.id),
                esc(&e.request.method),
                esc(&e.request.url)
            )
        }
        None => format!("<code>{}</code>", esc(&step.id)),
    }
}

/// One check that did not pass: what was expected and found, the requirement, the exchanges
/// and the screenshots.
fn finding(
    h: &mut Page,
    case: &CaseReport,
    step: &StepReport,
    check: &CheckReport,
    strips: Option<&Strips>,
) {
    let word = check.verdict.name();
    let _ = write!(
        h,
        "<article class=\"finding {word}\" id=\"{}\">\n<h3><span class=\"badge {word}\">{}</span> {} <code>[{}]</code></h3>\n",
        anchor(&format!("{}-{}-{}", case.name, step.id, check.id)),
        word.to_uppercase(),
        esc(&check.title),
        esc(check.level.as_str())
    );
    h.push_str("<dl>");
    let mut row = |term: &str, value: String| {
        let _ = write!(h, "<dt>{term}</dt><dd>{value}</dd>");
    };
    row(
        "case",
        format!(
            "<a href=\"#{}\">{}</a> ({})",
            anchor(&case.name),
            esc(&case.name),
            esc(&case.title)
        ),
    );
    row("check", format!("<code>{}</code>", esc(&check.id)));
    row("step", step_text(step));
    match &check.verdict {
        Verdict::Failed(m) | Verdict::Warned(m) => {
            row("expected", esc(&m.expected));
            row("actual", esc(&m.actual));
        }
        Verdict::Errored { reason } => row("reason", esc(reason)),
        _ => {}
    }
    row(
        "defined at",
        format!("<code>{}</code>", esc(&check.location.to_string())),
    );
    if let Some(marks) = strips.and_then(|s| s.get(&series_key(&case.name, &check.id))) {
        row("last runs", strip(marks));
    }
    h.push_str("</dl>\n");
    for requirement in &check.requirements {
        let _ = writeln!(
            h,
            "<blockquote><strong>{} ({})</strong> “{}”<br><a href=\"{}\" rel=\"noreferrer\">{}</a></blockquote>",
            esc(&requirement.id),
            esc(&requirement.level),
            esc(&requirement.text),
            esc(&requirement.url),
            esc(&requirement.url)
        );
    }
    if let Some(implied) = &check.implied {
        let _ = writeln!(h, "<p><em>Implied:</em> {}</p>", esc(implied));
    }
    exchanges(h, step);
    screenshots(h, step);
    h.push_str("</article>\n");
}

/// The step's exchanges and result, collapsed.
fn exchanges(h: &mut Page, step: &StepReport) {
    let mut parts: Vec<(String, String)> = Vec::new();
    if let Some(e) = &step.exchange {
        parts.push((
            format!("HTTP exchange: {} {}", e.request.method, e.request.url),
            e.to_text(),
        ));
    }
    for e in &step.related {
        parts.push((
            format!("related: {} {}", e.request.method, e.request.url),
            e.to_text(),
        ));
    }
    if let Some(result) = &step.result {
        parts.push((
            format!("result of step {}", step.id),
            serde_json::to_string_pretty(result).unwrap_or_default(),
        ));
    }
    for (summary, text) in parts {
        let _ = writeln!(
            h,
            "<details class=\"exchange\"><summary>{}</summary><pre>{}</pre></details>",
            esc(&summary),
            esc(&text)
        );
    }
}

/// The screenshots a failed browser step saved, embedded; other saved files by name.
fn screenshots(h: &mut Page, step: &StepReport) {
    for file in &step.artifacts {
        let path = Path::new(file);
        let small = std::fs::metadata(path)
            .map(|m| m.len() <= MAX_EMBEDDED_IMAGE)
            .unwrap_or(false);
        let png = path.extension().and_then(|e| e.to_str()) == Some("png");
        match (png && small).then(|| std::fs::read(path).ok()).flatten() {
            Some(bytes) => {
                let _ = writeln!(
                    h,
                    "<figure class=\"screenshot\"><img alt=\"the browser when step {} broke\" src=\"data:image/png;base64,{}\"><figcaption>{}</figcaption></figure>",
                    esc(&step.id),
                    base64::engine::general_purpose::STANDARD.encode(bytes),
                    esc(file)
                );
            }
            None => {
                let _ = writeln!(h, "<p>saved: <code>{}</code></p>", esc(file));
            }
        }
    }
}

fn strip(marks: &[(String, String)]) -> String {
    let mut out = String::from("<span class=\"strip\">");
    for (verdict, when) in marks {
        let _ = write!(
            out,
            "<span class=\"{}\" title=\"{}: {}\"></span>",
            esc(verdict),
            esc(when),
            esc(verdict)
        );
    }
    out.push_str("</span>");
    out
}

fn flaky(h: &mut Page, report: &RunReport) {
    let retried: Vec<&CaseReport> = report
        .cases
        .iter()
        .filter(|c| !c.attempts.is_empty())
        .collect();
    let _ = writeln!(
        h,
        "<section id=\"flaky\">\n<h2>Flaky and retried cases ({})</h2>",
        retried.len()
    );
    if retried.is_empty() {
        h.push_str("<p>No case was run again.</p>\n");
    }
    for case in retried {
        let case = match case.full() {
            Ok(whole) => whole,
            Err(e) => {
                let _ = writeln!(h, "<p>{}: {}</p>", esc(&case.name), esc(&e));
                continue;
            }
        };
        let word = case.outcome.name();
        let _ = writeln!(
            h,
            "<article class=\"{word}\"><h3><span class=\"badge {word}\">{}</span> {}</h3><p>{} of {} attempts; the verdicts shown elsewhere are the last attempt's.</p><ol>",
            word.to_uppercase(),
            esc(&case.name),
            if case.outcome == CaseOutcome::Flaky { "passed on the last" } else { "did not pass in any" },
            case.attempts.len() + 1
        );
        for attempt in &case.attempts {
            let _ = write!(
                h,
                "<li>{} at {} ({} ms): <ul>",
                attempt.outcome.name(),
                esc(&attempt.started_at),
                attempt.duration_ms
            );
            for error in &attempt.errors {
                let _ = write!(h, "<li>{}</li>", esc(error));
            }
            h.push_str("</ul>");
            for step in &attempt.steps {
                exchanges(h, step);
            }
            h.push_str("</li>");
        }
        h.push_str("</ol></article>\n");
        h.piece_done();
    }
    h.push_str("</section>\n");
}

fn targets_table(h: &mut Page, report: &RunReport) {
    h.push_str(
        "<section id=\"targets\">\n<h2>Targets</h2>\n<table><thead><tr><th>target</th><th>FHIR base</th>\
         <th>cases</th><th>passed</th><th>failed</th><th>errored</th><th>warned</th><th>skipped</th>\
         <th>median / p95 ms</th><th>TLS</th></tr></thead><tbody>\n",
    );
    let per_target = report.per_target();
    let whole: std::collections::HashMap<&str, &super::latency::Latency> = report
        .latency
        .iter()
        .filter(|l| l.endpoint == "*")
        .map(|l| (l.target.as_str(), l))
        .collect();
    for target in &report.targets {
        let (cases, counts) = per_target
            .get(target.name.as_str())
            .cloned()
            .unwrap_or_default();
        let latency = whole
            .get(target.name.as_str())
            .map(|l| format!("{} / {}", l.median_ms, l.p95_ms))
            .unwrap_or_else(|| "–".into());
        let tls = match (&target.tls, target.tls_insecure) {
            (_, true) => "<strong>not verified (insecure)</strong>".to_string(),
            (Some(t), _) => format!(
                "{}, certificate until {}",
                esc(&t.version),
                esc(&t.not_after)
            ),
            (None, _) => "–".into(),
        };
        let _ = writeln!(
            h,
            "<tr class=\"target\" data-target=\"{}\"><td><strong>{}</strong></td><td><code>{}</code></td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{latency}</td><td>{tls}</td></tr>",
            esc(&target.name),
            esc(&target.name),
            esc(&target.fhir_base),
            cases,
            counts.passed,
            counts.failed,
            counts.errored,
            counts.warned,
            counts.skipped
        );
    }
    h.push_str("</tbody></table>\n");
    let t = &report.time;
    if t.cases_ms > 0 {
        let _ = writeln!(h, "<p>Time: {}.</p>", esc(&t.describe()));
    }
    if let Some(b) = &report.browser {
        let _ = writeln!(
            h,
            "<p>Browser: {} started, handed out again {} times with a clean state, at most {} in use at once (bound {}).</p>",
            plural(b.sessions, "browser"),
            b.reused,
            b.peak,
            b.bound
        );
    }
    h.push_str("</section>\n");
}

/// Above this many cases the page lists each case's checks that did not pass, and counts the
/// passed ones: a fleet's page of every passed check (90 MB for 1,000 targets) would not
/// open in a browser; results.json and junit.xml keep them all.
const COMPACT_ABOVE_CASES: usize = 300;

fn cases(h: &mut Page, report: &RunReport, strips: Option<&Strips>) {
    let _ = writeln!(
        h,
        "<section id=\"cases\">\n<h2>Cases ({})</h2>",
        report.cases.len()
    );
    let compact = report.cases.len() > COMPACT_ABOVE_CASES;
    if compact {
        let _ = writeln!(
            h,
            "<p>{} cases: each case lists the checks that did not pass; the passed ones are counted here and listed in results.json and junit.xml.</p>",
            report.cases.len()
        );
    }
    for case in &report.cases {
        case_details(h, case, compact, strips);
    }
    h.push_str("</section>\n");
}

/// One case, folded: its outcome, its counts and the table of its checks (in a compact page,
/// those that did not pass).
fn case_details(h: &mut Page, case: &CaseReport, compact: bool, strips: Option<&Strips>) {
    let word = case.outcome.name();
    let mut counts = Counts::default();
    for check in case.checks() {
        counts.add(&check.verdict);
    }
    let _ = writeln!(
        h,
        "<details class=\"case\" id=\"{}\" data-outcome=\"{word}\"><summary><span class=\"badge {word}\">{word}</span> <strong>{}</strong> {} <small>({} checks{}, {} ms)</small></summary>",
        anchor(&case.name),
        esc(&case.name),
        esc(&case.title),
        counts.total(),
        case.skipped_checks
            .as_ref()
            .map(|s| format!(", <span class=\"partly-skipped\">{} skipped</span>", s.skipped))
            .unwrap_or_default(),
        case.duration_ms
    );
    if let Some(reason) = &case.reason {
        let _ = writeln!(h, "<p>{}</p>", esc(reason));
    }
    if let Some(share) = &case.skipped_checks {
        let _ = writeln!(
            h,
            "<p class=\"partly-skipped\">{}: a skipped check tested nothing (first reason: {})</p>",
            esc(&share.describe()),
            esc(&share.first_reason)
        );
    }
    let rows = case
        .checks()
        .filter(|c| !compact || c.verdict != Verdict::Passed)
        .count();
    if rows == 0 {
        h.push_str("</details>\n");
        h.piece_done();
        return;
    }
    h.push_str("<table><thead><tr><th>step</th><th>check</th><th>level</th><th>verdict</th><th>requirement</th>");
    if strips.is_some() {
        h.push_str("<th>last runs</th>");
    }
    h.push_str("</tr></thead><tbody>\n");
    for step in &case.steps {
        for check in &step.checks {
            if compact && check.verdict == Verdict::Passed {
                continue;
            }
            check_row(h, case, step, check, strips);
        }
    }
    h.push_str("</tbody></table></details>\n");
    h.piece_done();
}

/// One check's row of its case's table.
fn check_row(
    h: &mut Page,
    case: &CaseReport,
    step: &StepReport,
    check: &CheckReport,
    strips: Option<&Strips>,
) {
    let verdict = check.verdict.name();
    let note = match &check.verdict {
        Verdict::Skipped { reason } => format!(": {}", esc(reason)),
        _ => String::new(),
    };
    let requirements: Vec<String> = check
        .requirements
        .iter()
        .map(|r| {
            format!(
                "<a href=\"{}\" rel=\"noreferrer\">{}</a>",
                esc(&r.url),
                esc(&r.id)
            )
        })
        .collect();
    let _ = write!(
        h,
        "<tr><td><code>{}</code></td><td>{} <code>{}</code></td><td>{}</td><td><span class=\"badge {verdict}\">{verdict}</span>{note}</td><td>{}</td>",
        esc(&step.id),
        esc(&check.title),
        esc(&check.id),
        esc(check.level.as_str()),
        requirements.join(", ")
    );
    if let Some(strips) = strips {
        let marks = strips
            .get(&series_key(&case.name, &check.id))
            .map(|m| strip(m))
            .unwrap_or_default();
        let _ = write!(h, "<td>{marks}</td>");
    }
    h.push_str("</tr>\n");
}

fn latency(h: &mut Page, report: &RunReport) {
    h.push_str(
        "<section id=\"latency\">\n<h2>Latency</h2>\n<table><thead><tr><th>target</th><th>endpoint</th>\
         <th>answers</th><th>median ms</th><th>p95 ms</th><th>max ms</th></tr></thead><tbody>\n",
    );
    for l in &report.latency {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(&l.target),
            if l.endpoint == "*" { "<em>all</em>".to_string() } else { esc(&l.endpoint) },
            l.count,
            l.median_ms,
            l.p95_ms,
            l.max_ms
        );
    }
    h.push_str("</tbody></table>\n</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn golden() -> RunReport {
        serde_json::from_str(include_str!("../../tests/golden/results.json")).unwrap()
    }

    #[test]
    fn server_text_is_escaped_and_nothing_is_fetched() {
        let mut report = golden();
        report.cases[0].title = "<script>alert('x')</script> & \"q\"".into();
        let html = to_html(&report, None);
        assert!(!html.contains("<script>alert"), "raw markup from a report");
        assert!(
            html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;")
        );
        // Self-contained: no element loads anything from elsewhere.
        for needle in ["<link", "src=\"http", "@import", "url(http"] {
            assert!(!html.contains(needle), "{needle}");
        }
        assert_eq!(html.matches("<script>").count(), 1);
    }

    #[test]
    fn failures_come_first_with_their_requirement() {
        let report = golden();
        let html = to_html(&report, None);
        let failed = report.summary.checks.failed + report.summary.checks.errored;
        assert!(failed > 0, "the golden report has failures");
        let failures = html.find("id=\"failures\"").unwrap();
        assert!(failures < html.find("id=\"cases\"").unwrap());
        let articles = html.matches("<article class=\"finding failed\"").count()
            + html.matches("<article class=\"finding errored\"").count();
        assert_eq!(articles, failed);
        let check = report
            .cases
            .iter()
            .flat_map(|c| c.checks())
            .find(|c| matches!(c.verdict, Verdict::Failed(_)))
            .unwrap();
        assert!(html.contains(&esc(&check.requirements[0].text)));
    }

    #[test]
    fn a_large_run_lists_the_checks_that_did_not_pass_and_counts_the_rest() {
        let passed_row = "badge passed\">passed</span></td>";
        let report = golden();
        assert!(to_html(&report, None).contains(passed_row));
        let mut large = golden();
        let cases = large.cases.clone();
        while large.cases.len() <= COMPACT_ABOVE_CASES {
            large.cases.extend(cases.iter().cloned());
        }
        let html = to_html(&large, None);
        assert!(!html.contains(passed_row), "a passed check is listed");
        assert!(html.contains("the passed ones are counted here"));
        // Every failure is still listed in its case, and first on the page.
        let failed_rows = html.matches("badge failed\">failed</span></td>").count();
        let failed: usize = large
            .cases
            .iter()
            .flat_map(|c| c.checks())
            .filter(|c| matches!(c.verdict, Verdict::Failed(_)))
            .count();
        assert_eq!(failed_rows, failed);
        assert!(html.find("id=\"targets\"").unwrap() < html.find("id=\"warnings\"").unwrap());
    }

    #[test]
    fn history_strips_show_each_run() {
        let report = golden();
        let case = &report.cases[0];
        let check = case.checks().next().unwrap();
        let mut strips = Strips::new();
        strips.insert(
            series_key(&case.name, &check.id),
            vec![
                ("failed".into(), "2026-11-28T00:00:00Z".into()),
                ("passed".into(), "2026-11-29T00:00:00Z".into()),
            ],
        );
        let html = to_html(&report, Some(&strips));
        assert!(html.contains(
            "<span class=\"strip\"><span class=\"failed\" title=\"2026-11-28T00:00:00Z: failed\"></span><span class=\"passed\""
        ));
    }
}
