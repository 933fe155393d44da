//! The history in an SQLite file: WAL journal, full sync, the schema version in
//! `PRAGMA user_version`.

use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};

use super::{verdict_rows, RunRow, Store, VerdictRead};
use crate::report::RunReport;

/// The schema, one step per version: `MIGRATIONS[k]` takes a database from version `k` to
/// `k + 1`. Never change a step that has shipped; add one, here and in
/// [`super::postgres::MIGRATIONS`].
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

/// Every check's row, with one prepared statement.
fn insert_verdicts(
    tx: &rusqlite::Transaction<'_>,
    run: i64,
    report: &RunReport,
) -> rusqlite::Result<()> {
    let mut insert = tx.prepare(
        "INSERT INTO verdicts (run_id, target, case_name, check_id, verdict, message, case_outcome)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for row in verdict_rows(report) {
        insert.execute(params![
            run,
            row.target,
            row.case,
            row.check,
            row.verdict,
            row.message,
            row.case_outcome,
        ])?;
    }
    Ok(())
}

pub(super) struct SqliteStore {
    pub(super) conn: Connection,
    file: String,
}

impl SqliteStore {
    pub(super) fn open(path: &Path) -> Result<SqliteStore, String> {
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
        let mut store = SqliteStore { conn, file };
        store.migrate()?;
        Ok(store)
    }

    fn fail(&self) -> impl Fn(rusqlite::Error) -> String + '_ {
        move |e| format!("history {}: {e}", self.file)
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
}

impl Store for SqliteStore {
    fn schema_version(&mut self) -> Result<usize, String> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
            .map(|v| v as usize)
            .map_err(self.fail())
    }

    fn record(&mut self, report: &RunReport, pause: Option<Duration>) -> Result<i64, String> {
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
        insert_verdicts(&tx, run, report).map_err(fail)?;
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

    fn runs_of(&mut self, target: &str, last: usize) -> Result<Vec<RunRow>, String> {
        // Interrupted runs are left out: their skipped cases would read as changes.
        let mut query = self
            .conn
            .prepare(
                "SELECT r.id, r.started_at FROM runs r JOIN targets t ON t.run_id = r.id
                 WHERE t.name = ?1 AND r.interrupted = 0 ORDER BY r.id DESC LIMIT ?2",
            )
            .map_err(self.fail())?;
        let mut runs: Vec<RunRow> = query
            .query_map(params![target, last as i64], |r| {
                Ok(RunRow {
                    id: r.get(0)?,
                    started_at: r.get(1)?,
                })
            })
            .map_err(self.fail())?
            .collect::<Result<_, _>>()
            .map_err(self.fail())?;
        runs.reverse();
        Ok(runs)
    }

    fn verdicts_of(&mut self, run: i64, target: &str) -> Result<Vec<VerdictRead>, String> {
        let mut query = self
            .conn
            .prepare(
                "SELECT case_name, check_id, verdict, message FROM verdicts
                 WHERE run_id = ?1 AND target = ?2",
            )
            .map_err(self.fail())?;
        let rows = query
            .query_map(params![run, target], |r| {
                Ok(VerdictRead {
                    case: r.get(0)?,
                    check: r.get(1)?,
                    verdict: r.get(2)?,
                    message: r.get(3)?,
                })
            })
            .map_err(self.fail())?;
        rows.collect::<Result<_, _>>().map_err(self.fail())
    }

    fn target_names(&mut self) -> Result<Vec<String>, String> {
        let mut query = self
            .conn
            .prepare("SELECT DISTINCT name FROM targets ORDER BY name")
            .map_err(self.fail())?;
        let names = query
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(self.fail())?
            .collect::<Result<_, _>>()
            .map_err(self.fail());
        names
    }

    fn latency_of(&mut self, run: i64, target: &str) -> Result<Option<(u64, u64)>, String> {
        self.conn
            .query_row(
                "SELECT median_ms, p95_ms FROM latency WHERE run_id = ?1 AND target = ?2 AND endpoint = '*'",
                params![run, target],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )
            .optional()
            .map_err(self.fail())
    }

    fn run_count(&mut self) -> Result<usize, String> {
        self.conn
            .query_row("SELECT count(*) FROM runs", [], |r| r.get::<_, i64>(0))
            .map(|n| n as usize)
            .map_err(self.fail())
    }
}
