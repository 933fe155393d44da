//! `--history LOCATION`: every run appended to a database (targets, verdicts, latency, time),
//! and `smartcheck history LOCATION`: per target, which checks changed verdict since the
//! previous run, since when each failing check has failed, pass rates over the last runs and
//! the latency trend.
//!
//! The location is an SQLite file ([`sqlite`]) or a PostgreSQL URL (`postgres://...`,
//! [`postgres`]), so that the runners of a sharded run, which rarely share a disk, write to one
//! database and a team's dashboards read it. Both hold the same tables and columns, brought up
//! to date by the same numbered migrations (written once per dialect), and a run is written in
//! one transaction: a process killed while writing leaves the database as it was before the
//! run. A database written by a newer smartcheck is refused, never changed.

mod postgres;
mod sqlite;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::check::Verdict;
use crate::environment::Environment;
use crate::report::html::{series_key, Strips};
use crate::report::RunReport;

pub use sqlite::MIGRATIONS;

/// How many runs the HTML report's strips and `smartcheck history` look back by default.
pub const DEFAULT_RUNS: usize = 10;

/// What a history database does, whatever holds it. Errors are whole sentences that name the
/// database by its [`History::label`] (never with a password).
trait Store {
    fn schema_version(&mut self) -> Result<usize, String>;
    /// Appends a run in one transaction; its number. `pause` holds the transaction open after
    /// the verdicts are written.
    fn record(&mut self, report: &RunReport, pause: Option<Duration>) -> Result<i64, String>;
    /// The runs, oldest first, that ran `target` to the end.
    fn runs_of(&mut self, target: &str, last: usize) -> Result<Vec<RunRow>, String>;
    /// `(case, check, verdict, message)` of one run and target.
    fn verdicts_of(&mut self, run: i64, target: &str) -> Result<Vec<VerdictRead>, String>;
    fn target_names(&mut self) -> Result<Vec<String>, String>;
    /// The median and p95 of the target's overall latency in one run.
    fn latency_of(&mut self, run: i64, target: &str) -> Result<Option<(u64, u64)>, String>;
    fn run_count(&mut self) -> Result<usize, String>;
}

pub struct History {
    store: Box<dyn Store>,
    /// The file, or the URL without its password.
    label: String,
}

/// A `postgres://` or `postgresql://` URL rather than a file.
pub fn is_database_url(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// How a location is shown: a URL's password masked.
pub fn label(location: &Path) -> String {
    let text = location.to_string_lossy();
    if is_database_url(&text) {
        postgres::label(&text)
    } else {
        location.display().to_string()
    }
}

fn is_failing(verdict: &str) -> bool {
    matches!(verdict, "failed" | "errored")
}

impl History {
    /// Opens (or creates) the database and brings its schema up to date. A PostgreSQL URL
    /// without a password takes `PGPASSWORD` from `env`, as libpq does.
    pub fn open(location: &Path, env: &Environment) -> Result<History, String> {
        let label = label(location);
        let store: Box<dyn Store> = if is_database_url(&location.to_string_lossy()) {
            Box::new(postgres::PostgresStore::open(
                &location.to_string_lossy(),
                &label,
                env,
            )?)
        } else {
            Box::new(sqlite::SqliteStore::open(location)?)
        };
        Ok(History { store, label })
    }

    /// The file, or the URL with its password masked.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The schema version of the database.
    pub fn schema_version(&mut self) -> Result<usize, String> {
        self.store.schema_version()
    }

    /// Appends a run, whole or not at all; returns its number. `pause` holds the transaction
    /// open after the verdicts are written (tests kill the process there).
    pub fn record(&mut self, report: &RunReport, pause: Option<Duration>) -> Result<i64, String> {
        self.store.record(report, pause)
    }

    fn verdicts_by_series(&mut self, run: i64, target: &str) -> Result<RunVerdicts, String> {
        Ok(self
            .store
            .verdicts_of(run, target)?
            .into_iter()
            .map(|r| {
                (
                    series_key(&r.case, &r.check),
                    Recorded {
                        verdict: r.verdict,
                        message: r.message,
                        case: r.case,
                    },
                )
            })
            .collect())
    }

    /// The last `last` runs' verdicts of every check of the given targets, for the HTML
    /// report's strips.
    pub fn strips(&mut self, targets: &[String], last: usize) -> Result<Strips, String> {
        let mut strips = Strips::new();
        for target in targets {
            for run in self.store.runs_of(target, last)? {
                for (key, recorded) in self.verdicts_by_series(run.id, target)? {
                    strips.entry(key).or_default().push((
                        recorded.verdict,
                        format!("run #{} {}", run.id, run.started_at),
                    ));
                }
            }
        }
        Ok(strips)
    }

    /// What `smartcheck history` prints: per target, over its last `last` runs.
    pub fn view(&mut self, last: usize, only: Option<&str>) -> Result<HistoryView, String> {
        let mut targets = Vec::new();
        for name in self.store.target_names()? {
            if only.is_some_and(|o| o != name) {
                continue;
            }
            let runs = self.store.runs_of(&name, last)?;
            if runs.is_empty() {
                continue;
            }
            let mut by_run = Vec::new();
            let mut latency = Vec::new();
            for run in &runs {
                by_run.push(self.verdicts_by_series(run.id, &name)?);
                if let Some((median_ms, p95_ms)) = self.store.latency_of(run.id, &name)? {
                    latency.push(LatencyPoint {
                        run: run.id,
                        median_ms,
                        p95_ms,
                    });
                }
            }
            targets.push(TargetHistory::of(name, &runs, &by_run, latency));
        }
        Ok(HistoryView {
            file: self.label.clone(),
            runs: self.store.run_count()?,
            last,
            targets,
        })
    }
}

impl TargetHistory {
    /// One target's history from its runs (oldest first), their verdicts and latency.
    fn of(
        name: String,
        runs: &[RunRow],
        by_run: &[RunVerdicts],
        latency: Vec<LatencyPoint>,
    ) -> TargetHistory {
        let latest = &runs[runs.len() - 1];
        let current = by_run.last().cloned().unwrap_or_default();
        let previous = (by_run.len() >= 2).then(|| &by_run[by_run.len() - 2]);
        let (passed, evaluated, below_full) = pass_rates(by_run);
        TargetHistory {
            name,
            runs: runs.len(),
            latest_run: latest.id,
            latest_started_at: latest.started_at.clone(),
            previous_run: (runs.len() >= 2).then(|| runs[runs.len() - 2].id),
            changes: previous.map(|p| changes(p, &current)).unwrap_or_default(),
            failing: failing(runs, by_run, &current),
            passed,
            evaluated,
            below_full,
            latency,
        }
    }
}

/// The checks whose verdict differs between two runs.
fn changes(previous: &RunVerdicts, current: &RunVerdicts) -> Vec<Change> {
    let keys: BTreeSet<&(String, String)> = current.keys().chain(previous.keys()).collect();
    let mut changes = Vec::new();
    for key in keys {
        let before = previous.get(key).map(|v| v.verdict.clone());
        let now = current.get(key).map(|v| v.verdict.clone());
        if before != now {
            // The case as it is called now (or was, for a check no longer run).
            let case = current.get(key).or_else(|| previous.get(key));
            changes.push(Change {
                case: case.map(|r| r.case.clone()).unwrap_or_default(),
                check: key.1.clone(),
                before: before.unwrap_or_else(|| "absent".into()),
                now: now.unwrap_or_else(|| "absent".into()),
            });
        }
    }
    changes
}

/// The checks failing in the latest run, each with the run its streak began in.
fn failing(runs: &[RunRow], by_run: &[RunVerdicts], current: &RunVerdicts) -> Vec<Failing> {
    let mut failing = Vec::new();
    for (key, now) in current {
        if !is_failing(&now.verdict) {
            continue;
        }
        // Walk back while the check kept failing.
        let mut since = runs.len() - 1;
        while since > 0
            && by_run[since - 1]
                .get(key)
                .is_some_and(|r| is_failing(&r.verdict))
        {
            since -= 1;
        }
        failing.push(Failing {
            case: now.case.clone(),
            check: key.1.clone(),
            verdict: now.verdict.clone(),
            message: now.message.clone(),
            since_run: runs[since].id,
            since: runs[since].started_at.clone(),
            runs: runs.len() - since,
            // Failing in every run looked at: it may have failed before them too.
            at_least: since == 0,
        });
    }
    failing
}

/// Passes and evaluations (skips left out) over the runs, and the checks below 100%.
fn pass_rates(by_run: &[RunVerdicts]) -> (usize, usize, Vec<PassRate>) {
    // Per series: passes, evaluations, and the case's latest name.
    let mut rates: BTreeMap<(String, String), (usize, usize, String)> = BTreeMap::new();
    for verdicts in by_run {
        for (key, recorded) in verdicts {
            if recorded.verdict == "skipped" {
                continue;
            }
            let rate = rates.entry(key.clone()).or_default();
            rate.1 += 1;
            rate.2.clone_from(&recorded.case);
            if !is_failing(&recorded.verdict) {
                rate.0 += 1;
            }
        }
    }
    let (passed, evaluated) = rates
        .values()
        .fold((0, 0), |(p, e), (rp, re, _)| (p + rp, e + re));
    let below = rates
        .into_iter()
        .filter(|(_, (p, e, _))| p < e)
        .map(|((_, check), (passed, evaluated, case))| PassRate {
            case,
            check,
            passed,
            evaluated,
        })
        .collect();
    (passed, evaluated, below)
}

/// One check's row as both stores write it.
struct VerdictRow<'a> {
    target: &'a str,
    case: &'a str,
    check: &'a str,
    verdict: &'static str,
    message: Option<String>,
    case_outcome: &'static str,
}

/// Every check of the run as a row, one at a time (a fleet's run has hundreds of thousands).
fn verdict_rows(report: &RunReport) -> impl Iterator<Item = VerdictRow<'_>> {
    report.cases.iter().flat_map(|case| {
        case.checks().map(move |check| VerdictRow {
            target: &case.target,
            case: &case.name,
            check: &check.id,
            verdict: check.verdict.name(),
            message: match &check.verdict {
                Verdict::Failed(m) | Verdict::Warned(m) => {
                    Some(format!("expected {}, actual {}", m.expected, m.actual))
                }
                Verdict::Errored { reason } | Verdict::Skipped { reason } => Some(reason.clone()),
                Verdict::Passed => None,
            },
            case_outcome: case.outcome.name(),
        })
    })
}

/// A check's verdict as read back.
struct VerdictRead {
    case: String,
    check: String,
    verdict: String,
    message: Option<String>,
}

/// One run's verdicts of one target, by the series they belong to (`target::suite`, check id:
/// a check keeps its history when its case is renamed).
type RunVerdicts = BTreeMap<(String, String), Recorded>;

/// A check's verdict in one run, and the case it ran in then.
#[derive(Debug, Clone)]
struct Recorded {
    verdict: String,
    message: Option<String>,
    case: String,
}

struct RunRow {
    id: i64,
    started_at: String,
}

#[derive(Debug, Serialize)]
pub struct HistoryView {
    pub file: String,
    /// Runs in the database.
    pub runs: usize,
    /// How many of each target's last runs are looked at.
    pub last: usize,
    pub targets: Vec<TargetHistory>,
}

#[derive(Debug, Serialize)]
pub struct TargetHistory {
    pub name: String,
    /// Runs looked at (at most `last`).
    pub runs: usize,
    pub latest_run: i64,
    pub latest_started_at: String,
    pub previous_run: Option<i64>,
    /// Checks whose verdict differs from the previous run's.
    pub changes: Vec<Change>,
    /// Checks failing or erroring in the latest run, and since when.
    pub failing: Vec<Failing>,
    /// Checks evaluated (not skipped) over the runs looked at, and how many passed.
    pub passed: usize,
    pub evaluated: usize,
    /// The checks that did not pass every time.
    pub below_full: Vec<PassRate>,
    /// The target's median and p95 latency per run, oldest first.
    pub latency: Vec<LatencyPoint>,
}

#[derive(Debug, Serialize)]
pub struct Change {
    pub case: String,
    pub check: String,
    pub before: String,
    pub now: String,
}

#[derive(Debug, Serialize)]
pub struct Failing {
    pub case: String,
    pub check: String,
    pub verdict: String,
    pub message: Option<String>,
    pub since_run: i64,
    pub since: String,
    pub runs: usize,
    /// Failing in every run looked at: the streak may be longer.
    pub at_least: bool,
}

#[derive(Debug, Serialize)]
pub struct PassRate {
    pub case: String,
    pub check: String,
    pub passed: usize,
    pub evaluated: usize,
}

#[derive(Debug, Serialize)]
pub struct LatencyPoint {
    pub run: i64,
    pub median_ms: u64,
    pub p95_ms: u64,
}

impl HistoryView {
    pub fn render(&self) -> String {
        let mut out = format!(
            "history {}: {} run{}; each target's last {} looked at\n",
            self.file,
            self.runs,
            if self.runs == 1 { "" } else { "s" },
            self.last
        );
        if self.targets.is_empty() {
            out.push_str("no completed run recorded yet\n");
        }
        for t in &self.targets {
            t.render(&mut out);
        }
        out
    }
}

impl TargetHistory {
    /// One target's part of `smartcheck history`.
    fn render(&self, out: &mut String) {
        let t = self;
        out.push_str(&format!(
            "\ntarget `{}`: latest run #{} at {} ({} run{} looked at)\n",
            t.name,
            t.latest_run,
            t.latest_started_at,
            t.runs,
            if t.runs == 1 { "" } else { "s" }
        ));
        match t.previous_run {
            None => out.push_str("  changed: nothing to compare with (first run)\n"),
            Some(p) if t.changes.is_empty() => {
                out.push_str(&format!("  changed since run #{p}: no verdict\n"))
            }
            Some(p) => {
                out.push_str(&format!(
                    "  changed since run #{p}: {} verdict{}\n",
                    t.changes.len(),
                    if t.changes.len() == 1 { "" } else { "s" }
                ));
                for c in &t.changes {
                    out.push_str(&format!(
                        "    {} / {}: {} -> {}\n",
                        c.case, c.check, c.before, c.now
                    ));
                }
            }
        }
        t.render_failing(out);
        t.render_rates(out);
    }

    /// The checks failing in the latest run, and since when.
    fn render_failing(&self, out: &mut String) {
        let t = self;
        if t.failing.is_empty() {
            out.push_str("  failing: none\n");
        } else {
            out.push_str(&format!("  failing: {}\n", t.failing.len()));
            for f in &t.failing {
                out.push_str(&format!(
                    "    {} / {}: {} since run #{} at {} ({}{} run{}){}\n",
                    f.case,
                    f.check,
                    f.verdict,
                    f.since_run,
                    f.since,
                    if f.at_least { "at least " } else { "" },
                    f.runs,
                    if f.runs == 1 { "" } else { "s" },
                    f.message
                        .as_deref()
                        .map(|m| format!(": {}", shorten(m, 160)))
                        .unwrap_or_default()
                ));
            }
        }
    }

    /// Pass rates over the runs looked at, and the latency trend.
    fn render_rates(&self, out: &mut String) {
        let t = self;
        let percent = |p: usize, e: usize| {
            if e == 0 {
                "–".to_string()
            } else {
                format!("{:.1}%", p as f64 * 100.0 / e as f64)
            }
        };
        out.push_str(&format!(
            "  pass rate over {} run{}: {} of {} check verdicts ({})\n",
            t.runs,
            if t.runs == 1 { "" } else { "s" },
            t.passed,
            t.evaluated,
            percent(t.passed, t.evaluated)
        ));
        for r in &t.below_full {
            out.push_str(&format!(
                "    {} / {}: {} of {} ({})\n",
                r.case,
                r.check,
                r.passed,
                r.evaluated,
                percent(r.passed, r.evaluated)
            ));
        }
        if !t.latency.is_empty() {
            let points: Vec<String> = t
                .latency
                .iter()
                .map(|l| format!("{}/{}", l.median_ms, l.p95_ms))
                .collect();
            out.push_str(&format!(
                "  latency median/p95 ms, oldest first: {}{}\n",
                points.join(" "),
                trend(&t.latency)
            ));
        }
    }
}

/// The latest median against the mean of the earlier ones.
fn trend(points: &[LatencyPoint]) -> String {
    let Some((last, earlier)) = points.split_last() else {
        return String::new();
    };
    if earlier.is_empty() {
        return String::new();
    }
    let mean = earlier.iter().map(|p| p.median_ms as f64).sum::<f64>() / earlier.len() as f64;
    if mean < 1.0 {
        return String::new();
    }
    let change = (last.median_ms as f64 - mean) / mean * 100.0;
    format!("; latest median {change:+.0}% against the earlier runs' mean")
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    fn golden() -> RunReport {
        serde_json::from_str(include_str!("../../tests/golden/results.json")).unwrap()
    }

    #[test]
    fn a_version_1_database_is_migrated_and_keeps_its_runs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        {
            // A database as the first schema left it, with one run.
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute(
                "INSERT INTO runs (started_at, finished_at, duration_ms, smartcheck_version, interrupted, strict)
                 VALUES ('2026-11-01T00:00:00Z', '2026-11-01T00:01:00Z', 60000, '0.0.9', 0, 0)",
                [],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO targets (run_id, name, fhir_base) VALUES (1, 'reference', 'http://x/fhir')",
                [],
            )
            .unwrap();
        }
        let mut history = History::open(&path, &Environment::default()).unwrap();
        assert_eq!(history.schema_version().unwrap(), MIGRATIONS.len());
        drop(history);
        let conn = Connection::open(&path).unwrap();
        let (started, browser): (String, i64) = conn
            .query_row(
                "SELECT started_at, browser_ms FROM runs WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(started, "2026-11-01T00:00:00Z");
        assert_eq!(browser, 0, "the new columns default for old runs");
        drop(conn);
        // And a new run goes in beside it.
        let mut history = History::open(&path, &Environment::default()).unwrap();
        assert_eq!(history.record(&golden(), None).unwrap(), 2);
        // Opening again changes nothing.
        drop(history);
        let mut again = History::open(&path, &Environment::default()).unwrap();
        assert_eq!(again.schema_version().unwrap(), MIGRATIONS.len());
    }

    #[test]
    fn a_newer_or_foreign_database_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let newer = dir.path().join("newer.sqlite");
        {
            let conn = Connection::open(&newer).unwrap();
            conn.pragma_update(None, "user_version", 99).unwrap();
        }
        let e = History::open(&newer, &Environment::default())
            .err()
            .unwrap();
        assert!(
            e.contains("schema version 99, written by a newer smartcheck"),
            "{e}"
        );
        let foreign = dir.path().join("foreign.sqlite");
        {
            let conn = Connection::open(&foreign).unwrap();
            conn.execute_batch("CREATE TABLE notes (x TEXT)").unwrap();
        }
        let e = History::open(&foreign, &Environment::default())
            .err()
            .unwrap();
        assert!(e.contains("not a smartcheck history"), "{e}");
        let text = dir.path().join("results.json");
        std::fs::write(&text, "{\"format\": \"smartcheck-report\"}\n".repeat(100)).unwrap();
        let e = History::open(&text, &Environment::default()).err().unwrap();
        assert!(e.contains("not a smartcheck history database"), "{e}");
    }

    #[test]
    fn changes_streaks_and_pass_rates_across_runs() {
        let dir = tempfile::tempdir().unwrap();
        let mut history =
            History::open(&dir.path().join("h.sqlite"), &Environment::default()).unwrap();
        let base = golden();
        let target = base.cases[0].target.clone();
        // Three runs: a check that passes, then fails twice.
        let (case_index, check_id) = base
            .cases
            .iter()
            .enumerate()
            .find_map(|(i, c)| {
                c.checks()
                    .find(|k| k.verdict == Verdict::Passed)
                    .map(|k| (i, k.id.clone()))
            })
            .unwrap();
        let with = |failing: bool| {
            let mut r = base.clone();
            for step in &mut r.cases[case_index].steps {
                for check in &mut step.checks {
                    if check.id == check_id && failing {
                        check.verdict = Verdict::Failed(crate::check::Mismatch {
                            expected: "200".into(),
                            actual: "503".into(),
                        });
                    }
                }
            }
            r
        };
        history.record(&with(false), None).unwrap();
        history.record(&with(true), None).unwrap();
        history.record(&with(true), None).unwrap();
        let view = history.view(10, None).unwrap();
        let t = view.targets.iter().find(|t| t.name == target).unwrap();
        assert_eq!(t.runs, 3);
        assert!(t.changes.is_empty(), "runs 2 and 3 agree: {:?}", t.changes);
        let f = t.failing.iter().find(|f| f.check == check_id).unwrap();
        assert_eq!((f.since_run, f.runs, f.at_least), (2, 2, false));
        assert_eq!(f.message.as_deref(), Some("expected 200, actual 503"));
        let rate = t.below_full.iter().find(|r| r.check == check_id).unwrap();
        assert_eq!((rate.passed, rate.evaluated), (1, 3));
        // Looking at the last two runs only: failing in every run looked at.
        let view = history.view(2, None).unwrap();
        let t = view.targets.iter().find(|t| t.name == target).unwrap();
        let f = t.failing.iter().find(|f| f.check == check_id).unwrap();
        assert!(f.at_least);
        // A fourth run that passes again is a change.
        history.record(&with(false), None).unwrap();
        let view = history.view(10, None).unwrap();
        let t = view.targets.iter().find(|t| t.name == target).unwrap();
        assert_eq!(t.changes.len(), 1);
        assert_eq!(
            (t.changes[0].before.as_str(), t.changes[0].now.as_str()),
            ("failed", "passed")
        );
        let text = view.render();
        assert!(
            text.contains(&format!("{check_id}: failed -> passed")),
            "{text}"
        );
        // Strips: the check's four verdicts, oldest first.
        let strips = history.strips(&[target], 10).unwrap();
        let marks: Vec<&str> = strips[&series_key(&base.cases[case_index].name, &check_id)]
            .iter()
            .map(|(v, _)| v.as_str())
            .collect();
        assert_eq!(marks, ["passed", "failed", "failed", "passed"]);
    }

    /// A new release that renames a case: its checks keep their history (a series follows the
    /// target, suite and check id), shown under the case's new name, with no "absent" changes.
    #[test]
    fn a_renamed_case_keeps_its_checks_history() {
        let dir = tempfile::tempdir().unwrap();
        let mut history =
            History::open(&dir.path().join("h.sqlite"), &Environment::default()).unwrap();
        let base = golden();
        let target = base.cases[0].target.clone();
        let (case_index, check_id) = base
            .cases
            .iter()
            .enumerate()
            .find_map(|(i, c)| c.checks().next().map(|k| (i, k.id.clone())))
            .unwrap();
        let old_name = base.cases[case_index].name.clone();
        let new_name = format!("{old_name}-renamed");
        let failing = |name: &str| {
            let mut r = base.clone();
            r.cases[case_index].name = name.to_string();
            for step in &mut r.cases[case_index].steps {
                for check in &mut step.checks {
                    if check.id == check_id {
                        check.verdict = Verdict::Failed(crate::check::Mismatch {
                            expected: "200".into(),
                            actual: "503".into(),
                        });
                    }
                }
            }
            r
        };
        history.record(&failing(&old_name), None).unwrap();
        history.record(&failing(&new_name), None).unwrap();
        let view = history.view(10, None).unwrap();
        let t = view.targets.iter().find(|t| t.name == target).unwrap();
        assert!(t.changes.is_empty(), "{:?}", t.changes);
        let f = t.failing.iter().find(|f| f.check == check_id).unwrap();
        assert_eq!((f.since_run, f.runs), (1, 2));
        assert_eq!(f.case, new_name);
        let strips = history.strips(&[target], 10).unwrap();
        assert_eq!(strips[&series_key(&new_name, &check_id)].len(), 2);
    }
}
