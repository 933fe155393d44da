//! Which signal cut the run short: Ctrl-C (SIGINT), SIGTERM (what CI systems send on a
//! timeout) and SIGHUP (a closed terminal) are handled alike; this names the first one in
//! messages and picks the exit code (128 + the signal number, as shells report it).

use std::sync::atomic::{AtomicI32, Ordering};

static FIRST: AtomicI32 = AtomicI32::new(0);

/// Records `signal` if it is the first one of the process.
pub fn record(signal: i32) {
    let _ = FIRST.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
}

/// The first signal received, if any.
pub fn received() -> Option<i32> {
    match FIRST.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// How messages name the interruption: `Ctrl-C`, `SIGTERM`, `SIGHUP`.
pub fn name() -> &'static str {
    match received() {
        Some(libc::SIGTERM) => "SIGTERM",
        Some(libc::SIGHUP) => "SIGHUP",
        _ => "Ctrl-C",
    }
}

/// `interrupted (SIGTERM)`, for skip reasons and errors.
pub fn reason() -> String {
    format!("interrupted ({})", name())
}

/// The exit code of an interrupted run: 130 (Ctrl-C), 143 (SIGTERM), 129 (SIGHUP).
pub fn exit_code() -> u8 {
    let signal = received().unwrap_or(libc::SIGINT);
    u8::try_from(128 + signal).unwrap_or(crate::exit::INTERRUPTED)
}

/// Whether `signal` was set to be ignored when the process started (SIG_IGN survives exec),
/// as `nohup` does for SIGHUP.
pub fn ignored_at_start(signal: i32) -> bool {
    // SAFETY: sigaction with a null new action only reads the current disposition.
    unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut current) == 0
            && current.sa_sigaction == libc::SIG_IGN
    }
}
