//! WebDriver sessions on headless Chromium: a chromedriver spawned from PATH on a free loopback
//! port (once per run, in its own process group), or a remote WebDriver URL. Sessions are
//! quit and the driver's whole process group is ended at the end of the run, on errors and on
//! Ctrl-C.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use thirtyfour::prelude::*;

mod local;

pub use local::kill_all_local_drivers;
use local::*;

/// The Chromium binary a local chromedriver is told to start: `SMARTCHECK_CHROMIUM`, else
/// Debian's `/usr/bin/chromium` when it is there (else chromedriver's own choice).
pub fn local_chromium() -> Option<String> {
    std::env::var(CHROMIUM_ENV).ok().or_else(|| {
        Path::new("/usr/bin/chromium")
            .exists()
            .then(|| "/usr/bin/chromium".to_string())
    })
}

/// Names the chromedriver to start instead of the one on PATH.
pub const CHROMEDRIVER_ENV: &str = "SMARTCHECK_CHROMEDRIVER";
/// Names the Chromium binary chromedriver starts instead of Debian's `/usr/bin/chromium`.
pub const CHROMIUM_ENV: &str = "SMARTCHECK_CHROMIUM";

/// Run at the marker page: lists what of the case before is still there, then leaves the
/// marker (in session storage, local storage and a cookie) for the next check.
const MARKER_SCRIPT: &str = "var k = 'smartcheck-clean-state', kept = []; \
    if (sessionStorage.getItem(k)) kept.push('session storage'); \
    if (localStorage.getItem(k)) kept.push('local storage'); \
    if (document.cookie.indexOf(k + '=') >= 0) kept.push('a cookie'); \
    sessionStorage.setItem(k, '1'); localStorage.setItem(k, '1'); \
    document.cookie = k + '=1; path=/smartcheck-clean-state; max-age=86400'; \
    return kept;";

/// A page of the harness's own on loopback, where a browser handed out again shows that its
/// state was cleared: the cleaning between cases must remove the marker the case before left
/// there, as it must remove a server's sign-in. One per run; it serves nothing else.
struct MarkerPage;

impl MarkerPage {
    async fn start() -> Result<String, String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("no loopback port: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("no loopback port: {e}"))?;
        let page = || async {
            (
                [(axum::http::header::CACHE_CONTROL, "no-store")],
                axum::response::Html("<!doctype html><title>smartcheck</title>"),
            )
        };
        // Its own path, which the marker cookie is bound to: cookies ignore ports, and the
        // servers under test on 127.0.0.1 must not be sent it.
        let app = axum::Router::new().route("/smartcheck-clean-state", axum::routing::get(page));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(format!("http://{addr}/smartcheck-clean-state"))
    }
}

/// The Chromium flags every session gets (the machine's network is closed: no background
/// traffic, no component updates, no sync).
const CHROMIUM_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--window-size=1200,900",
];

/// Where a session's browser may go: the names it may resolve (besides loopback), names it
/// reaches at other hosts, and extra Chromium flags.
pub struct Network<'a> {
    /// How long a page may take to load (the target's `step-timeout`): no WebDriver command
    /// waits longer for a page, and `goto` gives up after it.
    pub page_timeout: Duration,
    pub hosts: &'a [String],
    pub host_map: &'a std::collections::BTreeMap<String, String>,
    pub extra_args: &'a [String],
}

impl Network<'_> {
    /// Chromium's host resolver rules: the host map's names resolve to the hosts it names
    /// (the first matching rule wins), the allowed hosts and loopback resolve as usual, and
    /// every other name resolves nowhere, which keeps the browser on the target.
    pub fn resolver_rules(&self) -> String {
        let mut rules = String::new();
        for (from, to) in self.host_map {
            rules.push_str(&format!("MAP {from} {to}, "));
        }
        rules.push_str("MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1");
        for host in self.hosts {
            rules.push_str(&format!(", EXCLUDE {host}"));
        }
        rules
    }
}

/// Where sessions come from, for one run.
pub struct BrowserPool {
    /// `--webdriver` from the command line: used for every target.
    remote_override: Option<String>,
    /// Browser profiles and temporary files live here (mode 0700, removed at shutdown).
    work_dir: PathBuf,
    local: tokio::sync::Mutex<Option<Result<LocalDriver, String>>>,
    /// Browsers started (each a Chromium of its own).
    sessions: AtomicUsize,
    /// Times a browser was handed out again, with a clean state.
    reused: AtomicUsize,
    /// At most this many browsers at once (`--browser-sessions`), in use or idle; a case
    /// waits for one.
    bound: usize,
    permits: std::sync::Arc<tokio::sync::Semaphore>,
    /// Browsers in use now, and the most at once.
    open: std::sync::Arc<AtomicUsize>,
    peak: AtomicUsize,
    /// Browsers between cases, ready to be cleaned and handed out again.
    idle: Mutex<Vec<Session>>,
    driver_start_ms: std::sync::atomic::AtomicU64,
    browser_start_ms: std::sync::atomic::AtomicU64,
    /// Told when a browser goes back to the pool or ends.
    returned: tokio::sync::Notify,
    /// The harness's marker page (see [`MarkerPage`]), started with the first browser.
    marker: tokio::sync::OnceCell<Option<String>>,
    /// A browser kept a marker through the cleaning: from then on, every cleaning opens a
    /// new tab (session storage lives in a tab; some Chromium versions keep it otherwise).
    leaky: std::sync::atomic::AtomicBool,
    /// Times the cleaned state did not hold and the browser got a new tab or was replaced.
    renewed: AtomicUsize,
}

/// How a run used the browser: browsers started, hand-outs of a browser already started, the
/// most in use at once, the bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BrowserUse {
    pub sessions: usize,
    #[serde(default)]
    pub reused: usize,
    pub peak: usize,
    pub bound: usize,
    /// How long chromedriver took to start and answer (0 with a remote WebDriver).
    #[serde(default)]
    pub driver_start_ms: u64,
    /// How long starting the browsers took, summed (the WebDriver new-session requests).
    #[serde(default)]
    pub browser_start_ms: u64,
    /// Times a cleaned browser still held the case before's marker, and so got a new tab
    /// (or was replaced) before the case began.
    #[serde(default)]
    pub renewed: usize,
}

/// One browser, held by one case at a time.
pub struct Session {
    pub(crate) driver: WebDriver,
    page_timeout: Duration,
    /// The pool's count of browsers in use, lowered when this one is given back or ends.
    open: std::sync::Arc<AtomicUsize>,
    in_use: bool,
    _permit: tokio::sync::OwnedSemaphorePermit,
    /// The WebDriver URL, the resolver rules and the extra flags it was started with: only a
    /// case of a target with the same network may have it next.
    key: String,
    /// Every origin the browser was seen at, whose storage is cleared before the next case.
    origins: Mutex<std::collections::BTreeSet<String>>,
    /// The page open is one where no server's script runs (the harness's own, or blank).
    parked: std::sync::atomic::AtomicBool,
    /// The marker was set at the harness's marker page: the next cleaning can be verified.
    marked: bool,
}

impl BrowserPool {
    /// A pool for one run that keeps at most `bound` sessions open at once (at least one).
    pub fn new(remote_override: Option<String>, bound: usize) -> Self {
        let bound = bound.max(1);
        let temp = std::env::temp_dir();
        sweep_abandoned_work_dirs(&temp);
        let work_dir = temp.join(format!(
            "{WORK_DIR_PREFIX}{}-{}",
            std::process::id(),
            crate::smart::pkce::random_urlsafe(6)
        ));
        WORK_DIRS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(work_dir.clone());
        BrowserPool {
            remote_override,
            work_dir,
            local: tokio::sync::Mutex::new(None),
            sessions: AtomicUsize::new(0),
            reused: AtomicUsize::new(0),
            bound,
            permits: std::sync::Arc::new(tokio::sync::Semaphore::new(bound)),
            open: std::sync::Arc::default(),
            peak: AtomicUsize::new(0),
            driver_start_ms: std::sync::atomic::AtomicU64::new(0),
            browser_start_ms: std::sync::atomic::AtomicU64::new(0),
            idle: Mutex::new(Vec::new()),
            returned: tokio::sync::Notify::new(),
            marker: tokio::sync::OnceCell::new(),
            leaky: std::sync::atomic::AtomicBool::new(false),
            renewed: AtomicUsize::new(0),
        }
    }

    /// The sessions started so far, the most open at once, and the bound.
    pub fn usage(&self) -> BrowserUse {
        BrowserUse {
            sessions: self.sessions.load(Ordering::SeqCst),
            reused: self.reused.load(Ordering::SeqCst),
            peak: self.peak.load(Ordering::SeqCst),
            bound: self.bound,
            driver_start_ms: self.driver_start_ms.load(Ordering::SeqCst),
            browser_start_ms: self.browser_start_ms.load(Ordering::SeqCst),
            renewed: self.renewed.load(Ordering::SeqCst),
        }
    }

    /// The folder whose path every browser process of this run carries on its command line.
    pub fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    async fn local_url(&self) -> Result<String, String> {
        let mut local = self.local.lock().await;
        if local.is_none() {
            let started = std::time::Instant::now();
            *local = Some(spawn_chromedriver(&self.work_dir).await);
            self.driver_start_ms
                .store(started.elapsed().as_millis() as u64, Ordering::SeqCst);
        }
        match local.as_ref() {
            Some(Ok(d)) => Ok(d.url.clone()),
            Some(Err(e)) => Err(e.clone()),
            None => Err("chromedriver did not start".into()),
        }
    }

    /// A browser for a case: one of this run's, cleaned (a new tab, no cookies, no cache, no
    /// storage of any origin it was at), or a new one while fewer than the bound are open.
    /// `remote` is the target's WebDriver URL; `hosts` are the only names the browser may
    /// resolve (besides loopback).
    pub async fn session(
        &self,
        remote: Option<&str>,
        network: &Network<'_>,
    ) -> Result<Session, String> {
        let local = self.remote_override.is_none() && remote.is_none();
        let url = match self.remote_override.as_deref().or(remote) {
            Some(r) => r.to_string(),
            None => self.local_url().await?,
        };
        let key = format!(
            "{url}\n{}\n{}",
            network.resolver_rules(),
            network.extra_args.join("\n")
        );
        let page_timeout = network.page_timeout.max(Duration::from_secs(1));
        loop {
            // Told of any browser that comes back or ends from here on.
            let returned = self.returned.notified();
            tokio::pin!(returned);
            returned.as_mut().enable();
            if let Some(mut session) = self.take_idle(|s| s.key == key) {
                match self.clean_verified(&mut session, page_timeout).await {
                    Ok(()) => {
                        self.reused.fetch_add(1, Ordering::SeqCst);
                        self.hand_out(&mut session);
                        return Ok(session);
                    }
                    Err(e) => {
                        tracing::debug!("a browser could not be cleaned, so it ends: {e}");
                        session.quit().await;
                        self.returned.notify_one();
                        continue;
                    }
                }
            }
            if let Ok(permit) = self.permits.clone().try_acquire_owned() {
                let mut session = self
                    .start(&url, local, key, network, page_timeout, permit)
                    .await?;
                // A new browser is clean; its marker lets the next cleaning be checked (a
                // browser without one gets a new tab at its next cleaning instead). A first
                // page load of a browser just started may be slow on a busy machine: twice.
                if let Some(marker) = self.marker_url().await {
                    for _ in 0..2 {
                        match session.check_and_mark(&marker).await {
                            Ok(_) => {
                                session.marked = true;
                                break;
                            }
                            Err(e) => {
                                tracing::debug!("the clean-state marker could not be set: {e}")
                            }
                        }
                    }
                }
                self.hand_out(&mut session);
                return Ok(session);
            }
            // Room for this target's browser: end an idle one of another network.
            if let Some(other) = self.take_idle(|_| true) {
                other.quit().await;
                continue;
            }
            // Every browser is in use: wait for one (and look again now and then).
            let _ = tokio::time::timeout(Duration::from_millis(500), returned).await;
        }
    }

    /// The marker page's address, its server started on first use; `None` when no loopback
    /// port could be had (the cleaning then always opens a new tab).
    async fn marker_url(&self) -> Option<String> {
        self.marker
            .get_or_init(|| async {
                match MarkerPage::start().await {
                    Ok(url) => Some(url),
                    Err(e) => {
                        tracing::warn!(
                            "no clean-state marker page ({e}): each case gets a new tab"
                        );
                        None
                    }
                }
            })
            .await
            .clone()
    }

    /// Cleans a browser for the next case and proves it: the marker the case before left at
    /// the harness's marker page must be gone. When it is not, the browser gets a new tab
    /// (and every later cleaning does so at once); when even that keeps it, the browser ends
    /// and the caller starts another.
    async fn clean_verified(
        &self,
        session: &mut Session,
        page_timeout: Duration,
    ) -> Result<(), String> {
        let marker = self.marker_url().await;
        let new_tab = self.leaky.load(Ordering::SeqCst) || !session.marked || marker.is_none();
        session.clean(page_timeout, new_tab).await?;
        let Some(marker) = marker else {
            return Ok(());
        };
        let kept = session.check_and_mark(&marker).await?;
        // The marker is set again: the next cleaning can be checked.
        session.marked = true;
        if kept.is_empty() || new_tab {
            if !kept.is_empty() {
                return Err(format!(
                    "the browser kept {} of the case before even in a new tab",
                    kept.join(" and ")
                ));
            }
            return Ok(());
        }
        self.renewed.fetch_add(1, Ordering::SeqCst);
        if !self.leaky.swap(true, Ordering::SeqCst) {
            tracing::warn!(
                "the browser kept {} of the case before through the cleaning (Chromium {}); from now on every case starts in a new tab",
                kept.join(" and "),
                session.version().await
            );
        }
        session.clean(page_timeout, true).await?;
        let kept = session.check_and_mark(&marker).await?;
        if kept.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "the browser kept {} of the case before even in a new tab",
                kept.join(" and ")
            ))
        }
    }

    fn take_idle(&self, fits: impl Fn(&Session) -> bool) -> Option<Session> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let index = idle.iter().position(fits)?;
        Some(idle.swap_remove(index))
    }

    fn hand_out(&self, session: &mut Session) {
        session.in_use = true;
        let open = self.open.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(open, Ordering::SeqCst);
    }

    /// Takes a browser back after a case (or an authorization that wants a fresh one): it
    /// leaves its page and waits, idle, for the next case. One that does not answer ends.
    pub async fn release(&self, mut session: Session) {
        if session.in_use {
            session.in_use = false;
            self.open.fetch_sub(1, Ordering::SeqCst);
        }
        let left = tokio::time::timeout(Duration::from_secs(5), session.leave_page()).await;
        if matches!(left, Ok(Ok(()))) {
            self.idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(session);
        } else {
            session.quit().await;
        }
        self.returned.notify_one();
    }

    /// Starts a browser: a new WebDriver session, so a new Chromium with its own profile.
    async fn start(
        &self,
        url: &str,
        local: bool,
        key: String,
        network: &Network<'_>,
        page_timeout: Duration,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) -> Result<Session, String> {
        let n = self.sessions.fetch_add(1, Ordering::SeqCst);
        let profile = self.work_dir.join(format!("profile-{n}"));
        let mut caps = DesiredCapabilities::chrome();
        let mut add = |arg: &str| {
            caps.add_arg(arg)
                .map_err(|e| format!("cannot set the Chromium option {arg}: {e}"))
        };
        for arg in CHROMIUM_ARGS {
            add(arg)?;
        }
        add(&format!("--user-data-dir={}", profile.display()))?;
        add(&format!(
            "--host-resolver-rules={}",
            network.resolver_rules()
        ))?;
        for arg in network.extra_args {
            add(arg)?;
        }
        if local {
            // SMARTCHECK_CHROMIUM names another Chromium (a second version beside Debian's);
            // otherwise Debian's, whose wrapper adds its own flags.
            if let Some(binary) = local_chromium() {
                caps.set_binary(&binary)
                    .map_err(|e| format!("cannot set the Chromium binary {binary}: {e}"))?;
            }
        }
        // One connection per command: chromedriver closes idle keep-alive connections, and a
        // command sent on one it just closed fails with "error sending request".
        let started = std::time::Instant::now();
        let driver = WebDriver::builder(url, caps)
            .keep_alive(false)
            .request_timeout(Duration::from_secs(60))
            .connect()
            .await
            .map_err(|e| format!("cannot start a browser session at {url}: {e}"))?;
        self.browser_start_ms
            .fetch_add(started.elapsed().as_millis() as u64, Ordering::SeqCst);
        let session = Session {
            driver,
            page_timeout,
            open: self.open.clone(),
            in_use: false,
            _permit: permit,
            key,
            origins: Mutex::default(),
            parked: std::sync::atomic::AtomicBool::new(true),
            marked: false,
        };
        session.set_timeouts(page_timeout).await;
        Ok(session)
    }

    /// Ends the idle browsers, the local chromedriver and every process in its group, and
    /// removes the profiles.
    pub async fn shutdown(&self) {
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|e| e.into_inner()));
        for session in idle {
            session.quit().await;
        }
        let mut dismissed = None;
        let mut local = self.local.lock().await;
        if let Some(Ok(mut d)) = local.take() {
            // SAFETY: signals the process group created for this chromedriver.
            unsafe {
                libc::kill(-d.pgid, libc::SIGTERM);
            }
            let deadline = std::time::Instant::now() + Duration::from_secs(3);
            while matches!(d.child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if matches!(d.child.try_wait(), Ok(None)) {
                let _ = d.child.kill();
                let _ = d.child.wait();
            }
            // Chromium helpers that outlive their driver.
            unsafe {
                libc::kill(-d.pgid, libc::SIGKILL);
            }
            LOCAL_GROUPS
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|g| *g != d.pgid);
            dismissed = Some(d.pgid);
        }
        // A Chromium caught starting up may fork a helper (a zygote) while the first sweep
        // runs: sweep until none is left, for at most two seconds.
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while kill_marked(&self.work_dir) > 0 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = std::fs::remove_dir_all(&self.work_dir);
        WORK_DIRS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|d| d != &self.work_dir);
        if let Some(pgid) = dismissed {
            dismiss_watchdogs(Some(pgid));
        }
    }
}

impl Session {
    /// Chromium's own page-load wait (300 s by default) would hold every command issued while
    /// a page loads: the target's step timeout bounds it.
    async fn set_timeouts(&self, page_timeout: Duration) {
        let _ = self.driver.set_page_load_timeout(page_timeout).await;
        let _ = self.driver.set_script_timeout(page_timeout).await;
    }

    fn saw(&self, url: &str) {
        if let Ok(u) = url::Url::parse(url) {
            if matches!(u.scheme(), "http" | "https") {
                self.origins
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(u.origin().ascii_serialization());
            }
        }
    }

    /// Leaves whatever page is open (its scripts stop), noting where it was; a browser parked
    /// on a page without a server's scripts stays there.
    async fn leave_page(&self) -> Result<(), String> {
        if self.parked.load(Ordering::SeqCst) {
            return Ok(());
        }
        if let Ok(url) = self.driver.current_url().await {
            self.saw(url.as_str());
        }
        self.driver
            .goto("about:blank")
            .await
            .map_err(|e| e.to_string())?;
        self.parked.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Leaves the browser where no server's script runs between authorizations: on the
    /// harness's own page (an address starting with `harness`) when it is there already,
    /// otherwise on a blank page. Staying on the harness's page keeps the tab's renderer, which
    /// the next page of a loopback server reuses; a blank page costs a new one (about 0.15
    /// CPU-second and a tenth of a second per authorization). `here` is the page's address when
    /// the caller just read it.
    pub async fn park(&self, harness: &str, here: Option<&str>) {
        let here = match here {
            Some(url) => url.to_string(),
            None => self.current_url().await.unwrap_or_default(),
        };
        if !here.starts_with(harness) {
            let _ = self.goto("about:blank").await;
        }
        self.parked.store(true, Ordering::SeqCst);
    }

    /// A clean state for the next case, as a new browser would have: one tab (any other a
    /// page opened closes), no cookies, an empty cache, and no storage (local and session
    /// storage, IndexedDB, service workers, cache storage) at any origin this browser was
    /// seen at. The tab itself is kept: a new one costs a new renderer process, a quarter of
    /// a CPU-second per case; [`Session::clean_in_new_tab`] is the way when keeping it fails.
    /// Chrome DevTools commands through chromedriver; a WebDriver without them (another
    /// browser on a grid) gets a new browser instead.
    async fn clean(&mut self, page_timeout: Duration, new_tab: bool) -> Result<(), String> {
        if new_tab || self.close_other_tabs().await.is_err() {
            self.clean_in_new_tab().await?;
        }
        self.clear_state().await?;
        // The session keeps its timeouts: they are sent again only when this target's differ.
        if self.page_timeout != page_timeout {
            self.page_timeout = page_timeout;
            self.set_timeouts(page_timeout).await;
        }
        Ok(())
    }

    /// Closes every tab but the current one (or, when a page closed the current one itself,
    /// every tab but the first left).
    async fn close_other_tabs(&self) -> Result<(), WebDriverError> {
        let windows = self.driver.windows().await?;
        let keep = match self.driver.window().await {
            Ok(current) if windows.contains(&current) => current,
            _ => match windows.first() {
                Some(first) => first.clone(),
                None => return Err(WebDriverError::FatalError("no tab is left".into())),
            },
        };
        if windows.len() > 1 {
            for handle in windows.into_iter().filter(|h| *h != keep) {
                self.driver.switch_to_window(handle).await?;
                self.driver.close_window().await?;
            }
        }
        self.driver.switch_to_window(keep).await?;
        Ok(())
    }

    /// A new tab, every old one closed (with their session storage and history).
    async fn clean_in_new_tab(&self) -> Result<(), String> {
        let fail = |e: WebDriverError| e.to_string();
        let old = self.driver.windows().await.map_err(fail)?;
        let tab = self.driver.new_tab().await.map_err(fail)?;
        for handle in old {
            self.driver.switch_to_window(handle).await.map_err(fail)?;
            self.driver.close_window().await.map_err(fail)?;
        }
        self.driver.switch_to_window(tab).await.map_err(fail)?;
        Ok(())
    }

    /// No cookies, no cache, and no storage of any kind at the origins seen (session storage
    /// too: `Storage.clearDataForOrigin` with every type).
    async fn clear_state(&self) -> Result<(), String> {
        let fail = |e: WebDriverError| e.to_string();
        let cdp = self.driver.cdp();
        let none = serde_json::json!({});
        cdp.send_raw("Network.clearBrowserCookies", &none)
            .await
            .map_err(fail)?;
        cdp.send_raw("Network.clearBrowserCache", &none)
            .await
            .map_err(fail)?;
        let origins = std::mem::take(&mut *self.origins.lock().unwrap_or_else(|e| e.into_inner()));
        for origin in origins {
            cdp.send_raw(
                "Storage.clearDataForOrigin",
                serde_json::json!({ "origin": origin, "storageTypes": "all" }),
            )
            .await
            .map_err(fail)?;
        }
        Ok(())
    }

    /// At the harness's marker page: what the case before left there and the cleaning should
    /// have removed (`session storage`, `local storage`, `a cookie`), then the marker set
    /// again for the next cleaning to be checked by. The browser stays on that page, where no
    /// server's script runs.
    async fn check_and_mark(&self, marker: &str) -> Result<Vec<String>, String> {
        self.goto(marker).await?;
        let found = self
            .driver
            .execute(MARKER_SCRIPT, Vec::new())
            .await
            .map_err(|e| format!("the clean-state marker page did not answer: {e}"))?;
        self.parked.store(true, Ordering::SeqCst);
        Ok(found
            .json()
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect())
    }

    /// The browser's version, from its user agent (`150.0.7871.100`).
    async fn version(&self) -> String {
        let agent = match self
            .driver
            .execute("return navigator.userAgent;", Vec::new())
            .await
        {
            Ok(r) => r.json().as_str().unwrap_or_default().to_string(),
            Err(_) => String::new(),
        };
        agent
            .split_whitespace()
            .find_map(|part| part.split_once("Chrome/").map(|(_, v)| v))
            .and_then(|v| v.split('.').next())
            .unwrap_or("of unknown version")
            .to_string()
    }

    /// Opens `url`, waiting for it to load within the page timeout.
    pub async fn goto(&self, url: &str) -> Result<(), String> {
        self.saw(url);
        self.parked.store(url == "about:blank", Ordering::SeqCst);
        let limit = self.page_timeout + Duration::from_secs(2);
        match tokio::time::timeout(limit, self.driver.goto(url)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) if !e.to_string().to_ascii_lowercase().contains("timeout") => {
                Err(format!("the browser could not open {url}: {e}"))
            }
            _ => Err(format!(
                "timed out after {} waiting for {url} to load (target `browser.step-timeout`)",
                humantime::format_duration(self.page_timeout)
            )),
        }
    }

    /// The page timeout (the target's `step-timeout`).
    pub fn page_timeout(&self) -> Duration {
        self.page_timeout
    }

    pub async fn current_url(&self) -> Option<String> {
        let url = self.driver.current_url().await.ok().map(|u| u.to_string());
        if let Some(u) = &url {
            self.saw(u);
        }
        url
    }

    /// Saves a screenshot and the page source as `<dir>/<stem>.png` and `.html`; returns the
    /// files written and the page URL.
    ///
    /// A page whose script never ends holds every WebDriver command on it: the three commands
    /// share one page timeout, and what does not come in time is left out.
    pub async fn capture(&self, dir: &Path, stem: &str) -> (Vec<PathBuf>, Option<String>) {
        let mut files = Vec::new();
        if std::fs::create_dir_all(dir).is_err() {
            return (files, None);
        }
        let deadline = tokio::time::Instant::now() + self.page_timeout;
        if let Ok(Ok(png)) =
            tokio::time::timeout_at(deadline, self.driver.screenshot_as_png()).await
        {
            let path = dir.join(format!("{stem}.png"));
            if std::fs::write(&path, png).is_ok() {
                files.push(path);
            }
        }
        if let Ok(Ok(source)) = tokio::time::timeout_at(deadline, self.driver.source()).await {
            let path = dir.join(format!("{stem}.html"));
            if std::fs::write(&path, source).is_ok() {
                files.push(path);
            }
        }
        let url = tokio::time::timeout_at(deadline, self.current_url())
            .await
            .ok()
            .flatten();
        (files, url)
    }

    /// Ends the session (and its Chromium).
    pub async fn quit(self) {
        let _ = tokio::time::timeout(Duration::from_secs(10), self.driver.clone().quit()).await;
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.in_use {
            self.open.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_map_comes_before_the_rule_that_closes_every_other_name() {
        let map: std::collections::BTreeMap<String, String> =
            [("cdn.example.org".to_string(), "127.0.0.2".to_string())].into();
        let hosts = vec!["login.example.org".to_string()];
        let network = Network {
            page_timeout: Duration::from_secs(5),
            hosts: &hosts,
            host_map: &map,
            extra_args: &[],
        };
        assert_eq!(
            network.resolver_rules(),
            "MAP cdn.example.org 127.0.0.2, MAP * ~NOTFOUND, EXCLUDE localhost, \
             EXCLUDE 127.0.0.1, EXCLUDE login.example.org"
        );
    }
}
