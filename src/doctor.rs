//! `smartcheck doctor`: whether this machine can play a server's screens, before a run finds
//! out. It names the chromedriver and Chromium it would use and their versions, starts one
//! browser, and proves the clean state between cases the way a run does (the marker a case
//! leaves must be gone before the next one), saying what the harness does where it is not.

use std::time::{Duration, Instant};

use crate::browser::driver::{BrowserPool, Network, CHROMEDRIVER_ENV, CHROMIUM_ENV};
use crate::exit;

/// The Chromium versions the tests run on (scripts/test): Debian bookworm's main archive and
/// bookworm-security.
pub const TESTED_CHROMIUM: &str =
    "150 (Debian bookworm's main archive) and 156 (bookworm-security)";

/// Checks the local browser (or the WebDriver at `webdriver`) and prints what it found;
/// exit 0 when a browser started and can be handed from case to case cleanly, 1 otherwise.
pub fn main(webdriver: Option<&str>) -> u8 {
    let mut ok = true;
    if webdriver.is_none() {
        ok &= local_versions();
    } else {
        println!(
            "WebDriver: {} (a remote one: its browser's version is its own)",
            webdriver.unwrap_or_default()
        );
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("smartcheck doctor: cannot start the async runtime: {e}");
            return exit::HARNESS;
        }
    };
    ok &= runtime.block_on(clean_state(webdriver));
    println!("smartcheck's tests run on Chromium {TESTED_CHROMIUM}.");
    if ok {
        exit::SUCCESS
    } else {
        exit::CHECKS_FAILED
    }
}

/// The chromedriver and the Chromium it would start, their versions, and whether they match.
fn local_versions() -> bool {
    let driver = std::env::var(CHROMEDRIVER_ENV).unwrap_or_else(|_| on_path("chromedriver"));
    let browser = crate::browser::driver::local_chromium().unwrap_or_else(|| on_path("chromium"));
    let driver_version = version_of(&driver, CHROMEDRIVER_ENV);
    let browser_version = version_of(&browser, CHROMIUM_ENV);
    match &driver_version {
        Ok(v) => println!("chromedriver: {v} ({driver})"),
        Err(e) => println!("chromedriver: {e}"),
    }
    match &browser_version {
        Ok(v) => println!("Chromium: {v} ({browser})"),
        Err(e) => println!("Chromium: {e}"),
    }
    match (&driver_version, &browser_version) {
        (Ok(d), Ok(b)) if major(d) != major(b) => {
            println!(
                "problem: chromedriver {} drives Chromium {} only, and the Chromium is {}: install the two from one release (Debian: apt-get install chromium chromium-driver)",
                major(d).unwrap_or("?"),
                major(d).unwrap_or("?"),
                major(b).unwrap_or("?")
            );
            false
        }
        (Ok(_), Ok(_)) => true,
        _ => false,
    }
}

/// Where PATH finds `program` (the name alone when it does not).
fn on_path(program: &str) -> String {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| program.to_string())
}

/// `PROGRAM --version`'s first line (`Chromium 156.0.8078.114`), or why there is none.
fn version_of(program: &str, env: &str) -> Result<String, String> {
    let out = std::process::Command::new(program)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                format!("`{program}` is not there (Debian: apt-get install chromium chromium-driver; or name one with {env})")
            } else {
                format!("`{program} --version` could not run: {e}")
            }
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    match text.lines().find(|l| l.contains(char::is_numeric)) {
        Some(line) => Ok(line.trim().to_string()),
        None => Err(format!("`{program} --version` printed no version")),
    }
}

/// The major version in a `--version` line (`156` of `Chromium 156.0.8078.114`).
fn major(line: &str) -> Option<&str> {
    line.split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
        .and_then(|v| v.split('.').next())
}

/// Starts a browser, hands it out twice as a run would, and says whether its state was
/// cleared between the two (or a new tab was needed).
async fn clean_state(webdriver: Option<&str>) -> bool {
    let pool = BrowserPool::new(webdriver.map(str::to_string), 1);
    let network = Network {
        page_timeout: Duration::from_secs(20),
        hosts: &[],
        host_map: &Default::default(),
        extra_args: &[],
    };
    let started = Instant::now();
    let verdict = async {
        let first = pool.session(None, &network).await?;
        let start = started.elapsed();
        pool.release(first).await;
        let second = pool.session(None, &network).await?;
        pool.release(second).await;
        Ok::<_, String>(start)
    }
    .await;
    let usage = pool.usage();
    pool.shutdown().await;
    match verdict {
        Err(e) => {
            // The WebDriver's own message, without chromedriver's stack of addresses.
            let said: Vec<&str> = e
                .lines()
                .take_while(|l| !l.trim_start().starts_with("Stacktrace"))
                .map(str::trim_end)
                .filter(|l| !l.trim().is_empty())
                .collect();
            println!("browser: could not be started: {}", said.join("\n  "));
            false
        }
        Ok(start) if usage.renewed > 0 => {
            println!(
                "browser: started in {:.1} s; it keeps a tab's session storage through the cleaning between cases, so each case gets a new tab (about a quarter of a CPU-second more per case), and with it the clean state holds",
                start.as_secs_f64()
            );
            true
        }
        Ok(_) if usage.sessions > 1 => {
            println!("browser: started, but could not be cleaned for a second case, so each case gets a new browser (a WebDriver without Chrome DevTools commands, or a marker page it cannot reach)");
            true
        }
        Ok(start) => {
            println!(
                "browser: started in {:.1} s; the clean state between cases holds (the marker a case leaves was gone)",
                start.as_secs_f64()
            );
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_line_gives_its_major() {
        assert_eq!(
            major("Chromium 156.0.8078.114 built on Debian"),
            Some("156")
        );
        assert_eq!(
            major("ChromeDriver 150.0.7871.100 (b5a9b587-refs/branch-heads/7871_48@{#5})"),
            Some("150")
        );
        assert_eq!(major("no version"), None);
    }
}
