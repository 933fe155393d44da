//! The local chromedriver's processes: spawned in a process group of their own, watched by a
//! watchdog that ends the group if smartcheck dies, in a private work directory swept after;
//! and ended at the end of the run, on errors and on Ctrl-C.

use super::*;

/// Process groups of the chromedrivers this process started, for the last-resort kill.
pub(super) static LOCAL_GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// The watchdogs of the chromedrivers this process started, by process group: each ends its
/// group and removes the work folder when this process dies without saying `done` (SIGKILL,
/// a crash), which PR_SET_PDEATHSIG alone cannot do for Chromium (chromedriver's child).
pub(super) static WATCHDOGS: Mutex<Vec<(i32, std::process::ChildStdin)>> = Mutex::new(Vec::new());

/// The watchdog: waits for a line on stdin; on `done` it leaves, on end of input (its parent
/// is gone) it kills the process group and every process that names the work folder, and
/// removes the folder. Both come from the environment, so that its own command line names
/// neither. Signals a terminal or CI sends to smartcheck's group do not reach it (its own
/// group) and are ignored anyway.
pub(super) const WATCHDOG_SCRIPT: &str = r#"trap '' INT TERM HUP
IFS= read -r line
[ "$line" = done ] && exit 0
kill -KILL -- "-$SMARTCHECK_PGID" 2>/dev/null
for round in 1 2 3; do
  for p in /proc/[0-9]*; do
    case "$(tr '\0' ' ' < "$p/cmdline" 2>/dev/null)" in
      *"$SMARTCHECK_WORK_DIR"*) kill -KILL "${p#/proc/}" 2>/dev/null ;;
    esac
  done
  sleep 0.2
done
rm -rf -- "$SMARTCHECK_WORK_DIR"
"#;

/// Starts the watchdog of a chromedriver's process group (best effort: without `sh`, the
/// in-process clean-up still runs on every exit but SIGKILL).
pub(super) fn start_watchdog(pgid: i32, work_dir: &Path) {
    let spawned = std::process::Command::new("sh")
        .arg("-c")
        .arg(WATCHDOG_SCRIPT)
        .env("SMARTCHECK_PGID", pgid.to_string())
        .env("SMARTCHECK_WORK_DIR", work_dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn();
    match spawned {
        Ok(mut child) => {
            if let Some(stdin) = child.stdin.take() {
                WATCHDOGS
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((pgid, stdin));
            }
            // Reaped by a thread, so that it never lingers as a zombie of ours.
            let _ = std::thread::Builder::new()
                .name("smartcheck-watchdog-reaper".into())
                .spawn(move || {
                    let _ = child.wait();
                });
        }
        Err(e) => tracing::warn!("cannot start the browser watchdog: {e}"),
    }
}

/// Tells the watchdog of `pgid` (or every watchdog) that the clean-up is done.
pub(super) fn dismiss_watchdogs(pgid: Option<i32>) {
    use std::io::Write;
    let mut watchdogs = WATCHDOGS.lock().unwrap_or_else(|e| e.into_inner());
    watchdogs.retain_mut(|(group, stdin)| {
        if pgid.is_some_and(|p| p != *group) {
            return true;
        }
        let _ = stdin.write_all(b"done\n");
        false
    });
}

/// The work folders of this process's browser pools, for the last-resort clean-up.
pub(super) static WORK_DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// The prefix of every work folder's name, followed by the owning process id.
pub(super) const WORK_DIR_PREFIX: &str = "smartcheck-browser-";

/// Ends every chromedriver process group this process started and removes the work folders
/// (used when quitting at once).
pub fn kill_all_local_drivers() {
    let groups = std::mem::take(&mut *LOCAL_GROUPS.lock().unwrap_or_else(|e| e.into_inner()));
    for pgid in groups {
        // SAFETY: kill(2) with a negative pid signals a process group we created.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
    let dirs = std::mem::take(&mut *WORK_DIRS.lock().unwrap_or_else(|e| e.into_inner()));
    for dir in dirs {
        kill_marked(&dir);
        let _ = std::fs::remove_dir_all(&dir);
    }
    dismiss_watchdogs(None);
}

/// Removes the work folders that runs killed outright (SIGKILL) left in `parent`: those of
/// this user whose process is gone. Their browsers died with them (PR_SET_PDEATHSIG).
pub(super) fn sweep_abandoned_work_dirs(parent: &Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    // SAFETY: getuid(2) has no preconditions.
    let uid = unsafe { libc::getuid() };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(pid) = name
            .strip_prefix(WORK_DIR_PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let ours = entry.metadata().is_ok_and(|m| m.is_dir() && m.uid() == uid);
        if ours && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Creates the run's work folder, readable by this user only: browser profiles hold the
/// session cookies of the server's sign-in.
pub(super) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        }
        Err(e) => Err(e),
    }
}

pub(super) struct LocalDriver {
    pub(super) url: String,
    pub(super) child: std::process::Child,
    pub(super) pgid: i32,
}

pub(super) type SpawnJob = (
    std::process::Command,
    std::sync::mpsc::Sender<std::io::Result<std::process::Child>>,
);

/// Spawns `cmd` from a thread that lives as long as the process. The driver is told to die
/// with its parent (PR_SET_PDEATHSIG), and Linux ties that to the spawning *thread*: a test
/// thread or a runtime worker that ends would take the driver with it mid-run.
pub(super) fn spawn_from_keeper(
    cmd: std::process::Command,
) -> std::io::Result<std::process::Child> {
    type Keeper = Result<Mutex<std::sync::mpsc::Sender<SpawnJob>>, String>;
    static KEEPER: std::sync::OnceLock<Keeper> = std::sync::OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<SpawnJob>();
        std::thread::Builder::new()
            .name("smartcheck-process-keeper".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
                // The channel never closes: the sender is static, so this thread lives on.
            })
            .map(|_| Mutex::new(tx))
            .map_err(|e| format!("cannot start the process keeper thread: {e}"))
    });
    let keeper = keeper
        .as_ref()
        .map_err(|e| std::io::Error::other(e.clone()))?;
    let (reply, answer) = std::sync::mpsc::channel();
    keeper
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send((cmd, reply))
        .map_err(|_| std::io::Error::other("the process keeper thread is gone"))?;
    answer
        .recv()
        .map_err(|_| std::io::Error::other("the process keeper thread is gone"))?
}

/// Kills any process whose command line names `marker` (a Chromium that left its group);
/// returns how many it found.
pub(super) fn kill_marked(marker: &Path) -> usize {
    let marker = marker.to_string_lossy().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut found = 0;
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() as i32 {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&cmdline).contains(&marker) {
            found += 1;
            // SAFETY: kill(2) on a process of ours that carries this run's marker.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
    found
}

pub(super) async fn spawn_chromedriver(work_dir: &Path) -> Result<LocalDriver, String> {
    create_private_dir(work_dir)
        .map_err(|e| format!("cannot create {}: {e}", work_dir.display()))?;
    let mut last = String::new();
    for _ in 0..3 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free loopback port: {e}"))?
            .port();
        let program = std::env::var_os(CHROMEDRIVER_ENV).unwrap_or_else(|| "chromedriver".into());
        let mut cmd = std::process::Command::new(&program);
        // Without `--allowed-ips` chromedriver listens on loopback only. No `--log-path`:
        // its log records every typed value (passwords) and every URL (codes).
        cmd.arg(format!("--port={port}"))
            // Chromium's own temporary folders go to the work folder, removed at shutdown.
            .env("TMPDIR", work_dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0);
        // SAFETY: prctl in the child before exec: the driver dies with us if we are killed.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = match spawn_from_keeper(cmd) {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(match std::env::var_os(CHROMEDRIVER_ENV) {
                    Some(p) => format!("{CHROMEDRIVER_ENV} names {}, which does not exist", Path::new(&p).display()),
                    None => "chromedriver is not on PATH (Debian: apt-get install chromium chromium-driver), and no --webdriver URL was given".into(),
                })
            }
            Err(e) => return Err(format!("cannot start chromedriver: {e}")),
        };
        // Never 0 or 1 (kill(-0) would signal our own group): the driver leads a new group.
        let pgid = i32::try_from(child.id()).unwrap_or(i32::MAX).max(2);
        LOCAL_GROUPS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(pgid);
        start_watchdog(pgid, work_dir);
        let url = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        for _ in 0..100 {
            if let Ok(Some(status)) = child.try_wait() {
                last = format!("chromedriver exited at start ({status})");
                break;
            }
            let ready = client
                .get(format!("{url}/status"))
                .timeout(Duration::from_millis(500))
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success());
            if let Some(r) = ready {
                let body: serde_json::Value = r.json().await.unwrap_or_default();
                if body["value"]["ready"] != serde_json::Value::Bool(false) {
                    return Ok(LocalDriver { url, child, pgid });
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if last.is_empty() {
            last = "chromedriver did not answer /status within 10 s".into();
        }
        let _ = child.kill();
        let _ = child.wait();
        LOCAL_GROUPS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|g| *g != pgid);
        dismiss_watchdogs(Some(pgid));
    }
    Err(last)
}
