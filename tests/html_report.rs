//! The HTML report, opened for real in headless Chromium through WebDriver: no console
//! error, nothing fetched, the failure sections there (one per failed check), the screenshot
//! of a broken browser step embedded and shown, the collapsed exchanges opening; a
//! screenshot of the page is saved beside the report.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use thirtyfour::prelude::*;

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn chromedriver() -> (Driver, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver on PATH");
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    (Driver(child), url)
}

/// Runs with a discovery fault (a failed check) and a consent screen whose button is not
/// there (an errored browser step with a screenshot), merged into `dir`.
fn run_with_failures(dir: &Path) -> Value {
    let server = common::reference_server(&["pkce-plain-advertised"]);
    let target = common::reference_target_for(&server)
        .replace("click: \"#approve\"", "click: \"#no-such-button\"")
        .replace("step-timeout: 10s", "step-timeout: 2s");
    let path = dir.join("target.yaml");
    std::fs::write(&path, target).unwrap();
    let run = |suite: &str, filter: &str, out: &Path| {
        let done = Command::new(env!("CARGO_BIN_EXE_smartcheck"))
            .args(["run", "--target"])
            .arg(&path)
            .args(["--suite", suite, filter, "--color", "never", "--report-dir"])
            .arg(out)
            .env("SMARTCHECK_REFERENCE_PASSWORD", "demo-password")
            .output()
            .unwrap();
        assert_eq!(
            done.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&done.stdout)
        );
        out.join("results.json").display().to_string()
    };
    // Two runs merged: the merged HTML report is the one checked.
    let a = run(
        "suites/smart-discovery.yaml",
        "smart-configuration",
        &dir.join("a"),
    );
    let b = run(
        "suites/smart-app-launch.yaml",
        "standalone-basic",
        &dir.join("b"),
    );
    let merged = Command::new(env!("CARGO_BIN_EXE_smartcheck"))
        .args(["merge", "--report-dir"])
        .arg(dir)
        .args([&a, &b])
        .output()
        .unwrap();
    assert_eq!(merged.status.code(), Some(1));
    serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_html_report_opens_in_chromium_without_errors_and_shows_the_failures() {
    let work = tempfile::tempdir().unwrap();
    let reports = work.path().join("reports");
    std::fs::create_dir(&reports).unwrap();
    let dir = reports.clone();
    let report = tokio::task::spawn_blocking(move || run_with_failures(&dir))
        .await
        .unwrap();
    let failing = report["summary"]["checks"]["failed"].as_u64().unwrap()
        + report["summary"]["checks"]["errored"].as_u64().unwrap();
    assert!(failing >= 2, "{}", report["summary"]);
    let html_path = reports.join("report.html");
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(
        html.contains("data:image/png;base64,"),
        "the screenshot is embedded"
    );

    let (_driver, url) = chromedriver();
    let mut caps = DesiredCapabilities::chrome();
    for arg in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        "--window-size=1200,1600",
    ] {
        caps.add_arg(arg).unwrap();
    }
    let profile = work.path().join("profile");
    caps.add_arg(&format!("--user-data-dir={}", profile.display()))
        .unwrap();
    if Path::new("/usr/bin/chromium").exists() {
        caps.set_binary("/usr/bin/chromium").unwrap();
    }
    caps.as_mut()
        .set("goog:loggingPrefs", serde_json::json!({ "browser": "ALL" }))
        .unwrap();
    let driver = WebDriver::new(&url, caps).await.unwrap();
    let checked = async {
        driver
            .goto(format!("file://{}", html_path.display()))
            .await
            .unwrap();
        let title = driver.title().await.unwrap();
        assert!(title.starts_with("smartcheck: "), "{title}");

        // One failure section per failed or errored check, before the list of cases.
        let sections = driver
            .find_all(By::Css("#failures article.finding"))
            .await
            .unwrap();
        assert_eq!(sections.len() as u64, failing);
        let pkce = driver
            .find(By::XPath(
                "//article[contains(., 'smart-config-pkce-no-plain')]",
            ))
            .await
            .unwrap();
        let text = pkce.text().await.unwrap();
        assert!(text.contains("FAILED"), "{text}");
        assert!(text.contains("SHALL"), "{text}");
        assert!(text.contains("plain"), "{text}");

        // The exchange is collapsed, and opens.
        let details = pkce.find(By::Css("details.exchange")).await.unwrap();
        let pre = details.find(By::Css("pre")).await.unwrap();
        assert!(!pre.is_displayed().await.unwrap());
        details
            .find(By::Css("summary"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        assert!(pre.is_displayed().await.unwrap());
        assert!(pre.text().await.unwrap().contains("GET "));

        // The broken consent screen's screenshot is shown (decoded by the browser).
        let width = driver
            .execute(
                "var i = document.querySelector('figure.screenshot img'); return i ? i.naturalWidth : 0;",
                vec![],
            )
            .await
            .unwrap();
        assert!(width.json().as_u64().unwrap() > 100, "{:?}", width.json());

        // The page script works: "Expand all" opens every case.
        driver
            .find(By::Css("button[data-details=open]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let closed = driver
            .execute(
                "return document.querySelectorAll('details:not([open])').length;",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(closed.json().as_u64(), Some(0));

        // Nothing was fetched: the page is its own file.
        let fetched = driver
            .execute(
                "return performance.getEntriesByType('resource').map(function (e) { return e.name; });",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(fetched.json(), &serde_json::json!([]));

        // No console error or CSP violation.
        let logs: Value = reqwest::Client::new()
            .post(format!("{url}/session/{}/se/log", driver.session_id()))
            .json(&serde_json::json!({ "type": "browser" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let entries = logs["value"].as_array().expect("browser log");
        let bad: Vec<&Value> = entries
            .iter()
            .filter(|e| e["level"] == "SEVERE" || e["level"] == "WARNING")
            .collect();
        assert!(bad.is_empty(), "{bad:?}");

        driver
            .execute("window.scrollTo(0, 0);", vec![])
            .await
            .unwrap();
        let png = driver.screenshot_as_png().await.unwrap();
        assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000);
        let saved = reports.join("report-screenshot.png");
        std::fs::write(&saved, &png).unwrap();
        if let Ok(keep) = std::env::var("SMARTCHECK_KEEP_HTML_SCREENSHOT") {
            std::fs::write(keep, &png).unwrap();
        }
    };
    let result = tokio::time::timeout(Duration::from_secs(120), checked).await;
    let _ = driver.quit().await;
    result.expect("the checks finish");
}
