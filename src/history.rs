//! `--history FILE`: every run appended to an SQLite database (targets, verdicts, latency,
//! time), and `smartcheck history FILE`: per target, which checks changed verdict since the
//! previous run, since when each failing check has failed, pass rates over the last runs and
//! the latency trend.
//!
//! A run is written in one transaction (WAL journal, full sync), so a process killed while
//! writing leaves the database as it was before the run. The schema is versioned with
//! `PRAGMA user_version`; [`MIGRATIONS`] brings an older database up to date, and a database
//! written by a newer smartcheck is refused, never changed.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::check::Verdict;
use crate::report::html::{series_key, Strips};
use crate::report::RunReport;

/// The schema, one step per version: `MIGRATIONS[k]` takes a database from version `k` to
/// `k + 1`. Never change a step that has shipped; add one.
pub const MIGRATIONS: &[&str] = &[
    // 1: runs, their targets, every check's verdict, and latency per endpoint.
    "CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        duration_ms INTEGER NOT NULL,
        smartcheck_version TEXT NOT NULL,
        interrupted INTEGER NOT NULL,
        strict INTEGER NOT NULL
     );
     CREATE TABLE targets (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        fhir_base TEXT NOT NULL,
        PRIMARY KEY (run_id, name)
     );
     CREATE TABLE verdicts (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        target TEXT NOT NULL,
        case_name TEXT NOT NULL,
        check_id TEXT NOT NULL,
        verdict TEXT NOT NULL,
        message TEXT,
        case_outcome TEXT NOT NULL,
        PRIMARY KEY (run_id, case_name, check_id)
     );
     CREATE INDEX verdicts_by_check ON verdicts (case_name, check_id, run_id);
     CREATE TABLE latency (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        target TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        count INTEGER NOT NULL,
        median_ms INTEGER NOT NULL,
        p95_ms INTEGER NOT NULL,
        max_ms INTEGER NOT NULL,
        PRIMARY KEY (run_id, target, endpoint)
     );",
    // 2: the run's time split (server, browser, harness) and its flaky cases.
    "ALTER TABLE runs ADD COLUMN cases_ms INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE runs ADD COLUMN server_ms INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE runs ADD COLUMN browser_ms INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE runs ADD COLUMN harness_ms INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE runs ADD COLUMN flaky_cases INTEGER NOT NULL DEFAULT 0;",
];

/// How many runs the HTML report's strips and `smartcheck history` look back by default.
pub const DEFAULT_RUNS: usize = 10;

pub struct History {
    conn: Connection,
    file: String,
}

fn is_failing(verdict: &str) -> bool {
    matches!(verdict, "failed" | "errored")
}

impl History {
    /// Opens (or creates) the database and brings its schema up to date.
    pub fn open(path: &Path) -> Result<History, String> {
        let file = path.display().to_string();
        let fail = |e: rusqlite::Error| format!("history {file}: {e}");
        let conn = Connection::open(path).map_err(fail)?;
        conn.busy_timeout(Duration::from_secs(30)).map_err(fail)?;
        // Not a database at all (a report, a text file): say so rather than "file is not a
        // database" at the first write.
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
            .map_err(|e| format!("history {file} is not a smartcheck history database: {e}"))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(fail)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(fail)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(fail)?;
        let mut history = History { conn, file };
        history.migrate()?;
        Ok(history)
    }

    /// The schema version of the database.
    pub fn schema_version(&self) -> Result<usize, String> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
            .map(|v| v as usize)
            .map_err(|e| format!("history {}: {e}", self.file))
    }

    fn migrate(&mut self) -> Result<(), String> {
        let file = self.file.clone();
        let fail = |e: rusqlite::Error| format!("history {file}: cannot update the schema: {e}");
        let version = self.schema_version()?;
        if version > MIGRATIONS.len() {
            return Err(format!(
                "history {file} has schema version {version}, written by a newer smartcheck; this one knows versions up to {}",
                MIGRATIONS.len()
            ));
        }
        if version == 0 {
            let tables: i64 = self
                .conn
                .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
                .map_err(fail)?;
            if tables > 0 {
                return Err(format!(
                    "history {file} is an SQLite database with tables of its own, not a smartcheck history"
                ));
            }
        }
        for (k, step) in MIGRATIONS.iter().enumerate().skip(version) {
            let tx = self.conn.transaction().map_err(fail)?;
            tx.execute_batch(step).map_err(fail)?;
            tx.pragma_update(None, "user_version", (k + 1) as i64)
                .map_err(fail)?;
            tx.commit().map_err(fail)?;
        }
        Ok(())
    }

    /// Appends a run, whole or not at all; returns its number. `pause` holds the transaction
    /// open after the verdicts are written (tests kill the process there).
    pub fn record(&mut self, report: &RunReport, pause: Option<Duration>) -> Result<i64, String> {
        let file = self.file.clone();
        let fail = |e: rusqlite::Error| format!("history {file}: cannot record the run: {e}");
        if pause.is_some() {
            // A small run's rows fit in the page cache until the commit; a fleet's do not,
            // and go to the journal while the transaction is open. A page cache of one page
            // makes the test's small run write like a large one before its pause.
            self.conn
                .pragma_update(None, "cache_size", 1)
                .map_err(fail)?;
        }
        let tx = self.conn.transaction().map_err(fail)?;
        let t = &report.time;
        tx.execute(
            "INSERT INTO runs (started_at, finished_at, duration_ms, smartcheck_version, interrupted, strict,
                               cases_ms, server_ms, browser_ms, harness_ms, flaky_cases)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                report.started_at,
                report.finished_at,
                report.duration_ms as i64,
                report.smartcheck_version,
                report.interrupted,
                report.strict,
                t.cases_ms as i64,
                t.server_ms as i64,
                t.browser_ms as i64,
                t.harness_ms as i64,
                report.summary.cases.flaky as i64,
            ],
        )
        .map_err(fail)?;
        let run = tx.last_insert_rowid();
        for target in &report.targets {
            tx.execute(
                "INSERT INTO targets (run_id, name, fhir_base) VALUES (?1, ?2, ?3)",
                params![run, target.name, target.fhir_base],
            )
            .map_err(fail)?;
        }
        {
            let mut insert = tx
                .prepare(
                    "INSERT INTO verdicts (run_id, target, case_name, check_id, verdict, message, case_outcome)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(fail)?;
            for case in &report.cases {
                for check in case.checks() {
                    let message = match &check.verdict {
                        Verdict::Failed(m) | Verdict::Warned(m) => {
                            Some(format!("expected {}, actual {}", m.expected, m.actual))
                        }
                        Verdict::Errored { reason } | Verdict::Skipped { reason } => {
                            Some(reason.clone())
                        }
                        Verdict::Passed => None,
                    };
                    insert
                        .execute(params![
                            run,
                            case.target,
                            case.name,
                            check.id,
                            check.verdict.name(),
                            message,
                            case.outcome.name(),
                        ])
                        .map_err(fail)?;
                }
            }
        }
        if let Some(pause) = pause {
            std::thread::sleep(pause);
        }
        for l in &report.latency {
            tx.execute(
                "INSERT INTO latency (run_id, target, endpoint, count, median_ms, p95_ms, max_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    run,
                    l.target,
                    l.endpoint,
                    l.count as i64,
                    l.median_ms as i64,
                    l.p95_ms as i64,
                    l.max_ms as i64
                ],
            )
            .map_err(fail)?;
        }
        tx.commit().map_err(fail)?;
        Ok(run)
    }

    /// The runs, oldest first, that ran `target` to the end (interrupted runs are left out:
    /// their skipped cases would read as changes).
    fn runs_of(&self, target: &str, last: usize) -> Result<Vec<RunRow>, String> {
        let fail = |e: rusqlite::Error| format!("history {}: {e}", self.file);
        let mut query = self
            .conn
            .prepare(
                "SELECT r.id, r.started_at FROM runs r JOIN targets t ON t.run_id = r.id
                 WHERE t.name = ?1 AND r.interrupted = 0 ORDER BY r.id DESC LIMIT ?2",
            )
            .map_err(fail)?;
        let mut runs: Vec<RunRow> = query
            .query_map(params![target, last as i64], |r| {
                Ok(RunRow {
                    id: r.get(0)?,
                    started_at: r.get(1)?,
                })
            })
            .map_err(fail)?
            .collect::<Result<_, _>>()
            .map_err(fail)?;
        runs.reverse();
        Ok(runs)
    }

    /// `(case, check)` -> verdict word with its message, for one run and target.
    fn verdicts_of(&self, run: i64, target: &str) -> Result<RunVerdicts, String> {
        let fail = |e: rusqlite::Error| format!("history {}: {e}", self.file);
        let mut query = self
            .conn
            .prepare(
                "SELECT case_name, check_id, verdict, message FROM verdicts
                 WHERE run_id = ?1 AND target = ?2",
            )
            .map_err(fail)?;
        let rows = query
            .query_map(params![run, target], |r| {
                let case: String = r.get(0)?;
                let check: String = r.get(1)?;
                Ok((
                    series_key(&case, &check),
                    Recorded {
                        verdict: r.get(2)?,
                        message: r.get(3)?,
                        case,
                    },
                ))
            })
            .map_err(fail)?;
        rows.collect::<Result<_, _>>().map_err(fail)
    }

    fn target_names(&self) -> Result<Vec<String>, String> {
        let fail = |e: rusqlite::Error| format!("history {}: {e}", self.file);
        let mut query = self
            .conn
            .prepare("SELECT DISTINCT name FROM targets ORDER BY name")
            .map_err(fail)?;
        let names = query
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(fail)?
            .collect::<Result<_, _>>()
            .map_err(fail);
        names
    }

    fn latency_of(&self, run: i64, target: &str) -> Result<Option<(u64, u64)>, String> {
        self.conn
            .query_row(
                "SELECT median_ms, p95_ms FROM latency WHERE run_id = ?1 AND target = ?2 AND endpoint = '*'",
                params![run, target],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )
            .optional()
            .map_err(|e| format!("history {}: {e}", self.file))
    }

    /// The last `last` runs' verdicts of every check of the given targets, for the HTML
    /// report's strips.
    pub fn strips(&self, targets: &[String], last: usize) -> Result<Strips, String> {
        let mut strips = Strips::new();
        for target in targets {
            for run in self.runs_of(target, last)? {
                for (key, recorded) in self.verdicts_of(run.id, target)? {
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
    pub fn view(&self, last: usize, only: Option<&str>) -> Result<HistoryView, String> {
        let mut targets = Vec::new();
        for name in self.target_names()? {
            if only.is_some_and(|o| o != name) {
                continue;
            }
            let runs = self.runs_of(&name, last)?;
            let Some(latest) = runs.last() else {
                continue;
            };
            let mut by_run = Vec::new();
            for run in &runs {
                by_run.push(self.verdicts_of(run.id, &name)?);
            }
            let current = by_run.last().cloned().unwrap_or_default();
            let previous = (by_run.len() >= 2).then(|| by_run[by_run.len() - 2].clone());
            let mut changes = Vec::new();
            if let Some(previous) = &previous {
                let keys: std::collections::BTreeSet<&(String, String)> =
                    current.keys().chain(previous.keys()).collect();
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
            }
            let mut failing = Vec::new();
            for (key, now) in &current {
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
            // Per series: passes, evaluations, and the case's latest name.
            let mut rates: BTreeMap<(String, String), (usize, usize, String)> = BTreeMap::new();
            for verdicts in &by_run {
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
            let below: Vec<PassRate> = rates
                .into_iter()
                .filter(|(_, (p, e, _))| p < e)
                .map(|((_, check), (passed, evaluated, case))| PassRate {
                    case,
                    check,
                    passed,
                    evaluated,
                })
                .collect();
            let mut latency = Vec::new();
            for run in &runs {
                if let Some((median_ms, p95_ms)) = self.latency_of(run.id, &name)? {
                    latency.push(LatencyPoint {
                        run: run.id,
                        median_ms,
                        p95_ms,
                    });
                }
            }
            targets.push(TargetHistory {
                name,
                runs: runs.len(),
                latest_run: latest.id,
                latest_started_at: latest.started_at.clone(),
                previous_run: (runs.len() >= 2).then(|| runs[runs.len() - 2].id),
                changes,
                failing,
                passed,
                evaluated,
                below_full: below,
                latency,
            });
        }
        let total: i64 = self
            .conn
            .query_row("SELECT count(*) FROM runs", [], |r| r.get(0))
            .map_err(|e| format!("history {}: {e}", self.file))?;
        Ok(HistoryView {
            file: self.file.clone(),
            runs: total as usize,
            last,
            targets,
        })
    }
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
        out
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

    fn golden() -> RunReport {
        serde_json::from_str(include_str!("../tests/golden/results.json")).unwrap()
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
        let mut history = History::open(&path).unwrap();
        assert_eq!(history.schema_version().unwrap(), MIGRATIONS.len());
        let (started, browser): (String, i64) = history
            .conn
            .query_row(
                "SELECT started_at, browser_ms FROM runs WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(started, "2026-11-01T00:00:00Z");
        assert_eq!(browser, 0, "the new columns default for old runs");
        // And a new run goes in beside it.
        assert_eq!(history.record(&golden(), None).unwrap(), 2);
        // Opening again changes nothing.
        drop(history);
        let again = History::open(&path).unwrap();
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
        let e = History::open(&newer).err().unwrap();
        assert!(
            e.contains("schema version 99, written by a newer smartcheck"),
            "{e}"
        );
        let foreign = dir.path().join("foreign.sqlite");
        {
            let conn = Connection::open(&foreign).unwrap();
            conn.execute_batch("CREATE TABLE notes (x TEXT)").unwrap();
        }
        let e = History::open(&foreign).err().unwrap();
        assert!(e.contains("not a smartcheck history"), "{e}");
        let text = dir.path().join("results.json");
        std::fs::write(&text, "{\"format\": \"smartcheck-report\"}\n".repeat(100)).unwrap();
        let e = History::open(&text).err().unwrap();
        assert!(e.contains("not a smartcheck history database"), "{e}");
    }

    #[test]
    fn changes_streaks_and_pass_rates_across_runs() {
        let dir = tempfile::tempdir().unwrap();
        let mut history = History::open(&dir.path().join("h.sqlite")).unwrap();
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
        let mut history = History::open(&dir.path().join("h.sqlite")).unwrap();
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
