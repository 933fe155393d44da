//! `--history postgres://...`: the runners of a team write to one PostgreSQL database, started
//! here for real (Debian's server binaries, a cluster of its own in a temporary folder, a
//! password that must never show): two runs and a merged sharded run are recorded, a changed
//! verdict is shown by `smartcheck history`, a runner killed mid-write leaves no trace, two
//! runners starting at once on an empty database both get in, and the tables are the SQLite
//! file's.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use smartcheck::reference::ReferenceServer;

mod common;

const PASSWORD: &str = "pg-s3cret-of-the-team";

/// A PostgreSQL server of the test's own, on a free loopback port; stopped when dropped.
struct Postgres {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

/// The folder of `initdb` and `postgres`: `SMARTCHECK_POSTGRES_BIN`, else the newest of
/// Debian's `/usr/lib/postgresql/N/bin`, else the PATH.
fn server_binaries() -> PathBuf {
    if let Some(dir) = std::env::var_os("SMARTCHECK_POSTGRES_BIN") {
        return dir.into();
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .find(|dir| dir.join("initdb").exists() && dir.join("postgres").exists())
    });
    on_path.expect(
        "PostgreSQL's server binaries (initdb, postgres) are needed: apt-get install postgresql \
         (scripts/test installs it), or set SMARTCHECK_POSTGRES_BIN",
    )
}

/// A command run as the `postgres` user when the tests run as root (the server refuses root).
fn as_server_user(program: PathBuf) -> Command {
    if unsafe { libc::geteuid() } == 0 {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=postgres", "--regid=postgres", "--init-groups"])
            .arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Postgres {
    fn start() -> Postgres {
        let bin = server_binaries();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("password"), PASSWORD).unwrap();
        if unsafe { libc::geteuid() } == 0 {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success(), "chown to the postgres user");
        }
        let data = dir.path().join("data");
        let init = as_server_user(bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "smartcheck",
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--no-sync",
            ])
            .arg(format!(
                "--pwfile={}",
                dir.path().join("password").display()
            ))
            .output()
            .unwrap();
        assert!(
            init.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        let mut log = String::new();
        for _ in 0..3 {
            let port = free_port();
            let log_file = std::fs::File::create(dir.path().join("server.log")).unwrap();
            let mut child = as_server_user(bin.join("postgres"))
                .arg("-D")
                .arg(&data)
                .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-k"])
                .arg(dir.path())
                .args(["-c", "fsync=off"])
                .stdout(Stdio::null())
                .stderr(log_file)
                .spawn()
                .unwrap();
            if ready(&mut child, port) {
                return Postgres {
                    child,
                    port,
                    _dir: dir,
                };
            }
            unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
            let _ = child.wait();
            log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
            // Only a port taken between the look and the start is worth another try.
            if !log.contains("could not bind") {
                break;
            }
        }
        panic!("PostgreSQL did not start: {log}");
    }

    /// The URL of a database, with the password.
    fn url(&self, db: &str) -> String {
        format!(
            "postgres://smartcheck:{PASSWORD}@127.0.0.1:{}/{db}",
            self.port
        )
    }

    /// The URL without the password (it comes from `PGPASSWORD`).
    fn url_without_password(&self, db: &str) -> String {
        format!("postgres://smartcheck@127.0.0.1:{}/{db}", self.port)
    }

    fn client(&self, db: &str) -> postgres::Client {
        postgres::Client::connect(&self.url(db), postgres::NoTls).unwrap()
    }
}

/// Whether the server answers within 30 s (false once it has exited).
fn ready(child: &mut Child, port: u16) -> bool {
    let url = format!("postgres://smartcheck:{PASSWORD}@127.0.0.1:{port}/postgres");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if postgres::Client::connect(&url, postgres::NoTls).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // A fast shutdown: the server ends its sessions and stops.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let _ = self.child.wait();
    }
}

/// smartcheck with the reference target pointed at `server`.
fn smartcheck(server: &ReferenceServer, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_smartcheck"));
    c.args(args)
        .env("SMARTCHECK_REFERENCE_FHIR_BASE", server.fhir_base())
        .env("SMARTCHECK_REFERENCE_ORIGIN", server.origin())
        .env("SMARTCHECK_REFERENCE_PASSWORD", "demo-password")
        .env_remove("PGPASSWORD");
    c
}

/// The discovery suite's `smart-configuration` case, or a shard of the discovery suite.
fn run_args<'a>(reports: &'a Path, history: &'a str, partition: Option<&'a str>) -> Vec<&'a str> {
    let mut args = vec![
        "run",
        "--color",
        "never",
        "--target",
        "fixtures/targets/reference.yaml",
        "--suite",
        "suites/smart-discovery.yaml",
        "--report-dir",
        reports.to_str().unwrap(),
        "--history",
        history,
    ];
    match partition {
        Some(p) => args.extend(["--partition", p]),
        None => args.push("smart-configuration"),
    }
    args
}

/// Everything a command printed, and every report it wrote: where the password must not be.
struct Seen(String);

impl Seen {
    fn add(&mut self, out: &std::process::Output) -> String {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        self.0.push_str(&text);
        text
    }

    fn add_reports(&mut self, dir: &Path) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            self.0.push_str(&String::from_utf8_lossy(
                &std::fs::read(entry.path()).unwrap_or_default(),
            ));
        }
    }
}

fn runs_and_orphans(db: &mut postgres::Client) -> (i64, i64) {
    let runs = db
        .query_one("SELECT count(*) FROM runs", &[])
        .unwrap()
        .get(0);
    let orphans = db
        .query_one(
            "SELECT count(*) FROM verdicts WHERE run_id NOT IN (SELECT id FROM runs)",
            &[],
        )
        .unwrap()
        .get(0);
    (runs, orphans)
}

#[test]
fn runners_record_runs_and_merged_shards_in_one_database_and_history_shows_the_change() {
    let pg = Postgres::start();
    let work = tempfile::tempdir().unwrap();
    let good = common::reference_server(&[]);
    let broken = common::reference_server(&["pkce-plain-advertised"]);
    let mut seen = Seen(String::new());
    let url = pg.url("postgres");

    // Runner 1: the password in the URL. Runner 2: in PGPASSWORD, as libpq reads it.
    let r1 = work.path().join("r1");
    let first = smartcheck(&good, &run_args(&r1, &url, None))
        .output()
        .unwrap();
    let text = seen.add(&first);
    assert_eq!(first.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!(
            "note: run #1 recorded in postgres://smartcheck:[redacted]@127.0.0.1:{}/postgres",
            pg.port
        )),
        "{text}"
    );
    seen.add_reports(&r1);
    let bare = pg.url_without_password("postgres");
    let r2 = work.path().join("r2");
    let second = smartcheck(&broken, &run_args(&r2, &bare, None))
        .env("PGPASSWORD", PASSWORD)
        .output()
        .unwrap();
    let text = seen.add(&second);
    assert_eq!(second.status.code(), Some(1), "{text}");
    assert!(text.contains("note: run #2 recorded in"), "{text}");
    seen.add_reports(&r2);
    // The HTML report of run 2 shows the check's two runs, read back from the database.
    let html = std::fs::read_to_string(r2.join("report.html")).unwrap();
    assert!(html.contains("<span class=\"strip\"><span class=\"passed\" title=\"run #1 "));

    let view = Command::new(env!("CARGO_BIN_EXE_smartcheck"))
        .args(["history", &url])
        .output()
        .unwrap();
    let text = seen.add(&view);
    assert_eq!(view.status.code(), Some(0), "{text}");
    assert!(
        text.contains("history postgres://smartcheck:[redacted]@"),
        "{text}"
    );
    assert!(text.contains("target `reference`: latest run #2"), "{text}");
    assert!(
        text.contains(
            "reference::smart-discovery::smart-configuration / smart-config-pkce-no-plain: passed -> failed"
        ),
        "{text}"
    );

    // Runner 3 is killed while its transaction is open, its verdicts sent: nothing of it stays.
    let mut child = smartcheck(&broken, &run_args(&work.path().join("r3"), &url, None))
        .env("SMARTCHECK_TEST_HISTORY_PAUSE_MS", "60000")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if line.starts_with("test result:") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the cases finish");
    let mut db = pg.client("postgres");
    let deadline = Instant::now() + Duration::from_secs(20);
    let open_write = |db: &mut postgres::Client| -> bool {
        db.query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'smartcheck'
             AND state = 'idle in transaction' AND backend_xid IS NOT NULL",
            &[],
        )
        .unwrap()
        .get::<_, i64>(0)
            == 1
    };
    while !open_write(&mut db) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        open_write(&mut db),
        "the run's rows are written and not committed"
    );
    assert!(child.try_wait().unwrap().is_none(), "still writing");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(runs_and_orphans(&mut db), (2, 0));

    // A sharded night: two shards merged and recorded as one run.
    let mut shards = Vec::new();
    for k in 1..=2 {
        let dir = work.path().join(format!("shard-{k}"));
        let partition = format!("{k}/2");
        let mut args = run_args(&dir, &url, Some(&partition));
        // The shards themselves are not recorded; their merge is.
        args.truncate(args.len() - 4);
        args.extend(["--partition", &partition]);
        let out = smartcheck(&good, &args).output().unwrap();
        seen.add(&out);
        shards.push(dir.join("results.json").display().to_string());
    }
    let merged_dir = work.path().join("merged");
    let mut args = vec![
        "merge",
        "--report-dir",
        merged_dir.to_str().unwrap(),
        "--history",
        &url,
    ];
    args.extend(shards.iter().map(String::as_str));
    let merged = smartcheck(&good, &args).output().unwrap();
    let text = seen.add(&merged);
    assert_eq!(merged.status.code(), Some(0), "{text}");
    assert!(
        text.contains("recorded in postgres://smartcheck:[redacted]@"),
        "{text}"
    );
    seen.add_reports(&merged_dir);
    assert_eq!(runs_and_orphans(&mut db).0, 3);
    let json = Command::new(env!("CARGO_BIN_EXE_smartcheck"))
        .args(["history", &bare, "--json", "--target", "reference"])
        .env("PGPASSWORD", PASSWORD)
        .output()
        .unwrap();
    seen.add(&json);
    let view: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(view["runs"], 3);
    let changes = view["targets"][0]["changes"].as_array().unwrap();
    assert!(
        changes
            .iter()
            .any(|c| c["check"] == "smart-config-pkce-no-plain"
                && c["before"] == "failed"
                && c["now"] == "passed"),
        "{changes:?}"
    );

    assert!(!seen.0.contains(PASSWORD), "the database password showed");
}

/// Column name -> (type family, nullable) of the four tables, as SQLite declares them.
fn sqlite_columns() -> BTreeMap<(String, String), (String, bool)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.sqlite");
    smartcheck::history::History::open(&path, &Default::default()).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mut columns = BTreeMap::new();
    for table in ["runs", "targets", "verdicts", "latency"] {
        let mut q = conn
            .prepare(&format!(
                "SELECT name, type, \"notnull\", pk FROM pragma_table_info('{table}')"
            ))
            .unwrap();
        let rows = q
            .query_map([], |r| {
                let (name, kind, not_null, pk): (String, String, bool, i64) =
                    (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
                Ok((name, kind, not_null || pk > 0))
            })
            .unwrap();
        for row in rows {
            let (name, kind, not_null) = row.unwrap();
            let family = if kind == "INTEGER" { "integer" } else { "text" };
            columns.insert((table.to_string(), name), (family.to_string(), !not_null));
        }
    }
    columns
}

#[test]
fn a_foreign_database_or_a_wrong_password_stops_the_run_and_two_runners_migrate_once() {
    let pg = Postgres::start();
    let work = tempfile::tempdir().unwrap();
    let good = common::reference_server(&[]);
    let mut db = pg.client("postgres");
    db.batch_execute("CREATE DATABASE other").unwrap();
    db.batch_execute("CREATE DATABASE fresh").unwrap();
    pg.client("other")
        .batch_execute("CREATE TABLE runs (x INTEGER)")
        .unwrap();

    // Someone else's table `runs`: refused before any case runs, and left as it was.
    let url = pg.url("other");
    let out = smartcheck(&good, &run_args(&work.path().join("o"), &url, None))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("has a table `runs` of its own"), "{stderr}");
    assert!(!work.path().join("o/results.json").exists(), "no case ran");
    let tables: i64 = pg
        .client("other")
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(tables, 1);

    // A wrong password: the server's refusal, and neither password printed.
    let wrong = format!(
        "postgres://smartcheck:not-{PASSWORD}@127.0.0.1:{}/fresh",
        pg.port
    );
    let out = smartcheck(&good, &run_args(&work.path().join("w"), &wrong, None))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("password authentication failed"), "{text}");
    assert!(!text.contains(PASSWORD), "{text}");

    // Two runners start on an empty database at once: one migrates, both record.
    let url = pg.url("fresh");
    let (a, b) = (work.path().join("a"), work.path().join("b"));
    let runners: Vec<Child> = [&a, &b]
        .iter()
        .map(|dir| {
            smartcheck(&good, &run_args(dir, &url, None))
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for runner in runners {
        let out = runner.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut fresh = pg.client("fresh");
    assert_eq!(runs_and_orphans(&mut fresh), (2, 0));
    let version: i32 = fresh
        .query_one("SELECT version FROM smartcheck_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!(version as usize, smartcheck::history::MIGRATIONS.len());

    // The same tables and columns as the SQLite file's.
    let mut columns = BTreeMap::new();
    for row in fresh
        .query(
            "SELECT table_name::text, column_name::text, data_type::text, is_nullable = 'YES'
             FROM information_schema.columns
             WHERE table_schema = 'public' AND table_name IN ('runs', 'targets', 'verdicts', 'latency')",
            &[],
        )
        .unwrap()
    {
        let kind: String = row.get(2);
        let family = match kind.as_str() {
            "bigint" | "boolean" => "integer",
            _ => "text",
        };
        columns.insert((row.get(0), row.get(1)), (family.to_string(), row.get::<_, bool>(3)));
    }
    assert_eq!(columns, sqlite_columns());
}
