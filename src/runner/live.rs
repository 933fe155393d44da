//! What is running now. On a terminal, a live block under the `cargo test`-style lines: one
//! line per running case with its step and how long both have taken. Off a terminal (CI
//! logs), plain `SLOW` lines for cases that run long, so a quiet log is never a mystery.
//!
//! libtest-mimic writes its lines to standard output. To keep them and the live block from
//! overwriting each other, the terminal's standard output is moved onto a pipe for the run:
//! one thread reads the pipe and is the only writer to the terminal, clearing the block,
//! writing each line, and drawing the block again.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The cases running now, by name.
#[derive(Default)]
pub struct Board {
    running: Mutex<BTreeMap<String, Running>>,
}

struct Running {
    started: Instant,
    step: Option<(String, Instant)>,
    /// When the last `SLOW` line for it was printed.
    reported: Option<Instant>,
}

impl Board {
    pub fn started(&self, name: &str) {
        self.lock().insert(
            name.to_string(),
            Running {
                started: Instant::now(),
                step: None,
                reported: None,
            },
        );
    }

    pub fn step(&self, name: &str, step: &str) {
        if let Some(r) = self.lock().get_mut(name) {
            r.step = Some((step.to_string(), Instant::now()));
        }
    }

    pub fn finished(&self, name: &str) {
        self.lock().remove(name);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Running>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One line per running case, longest-running first, at most `max`, cut to `width`.
    pub fn lines(&self, max: usize, width: usize) -> Vec<String> {
        let now = Instant::now();
        let running = self.lock();
        let mut cases: Vec<(&String, &Running)> = running.iter().collect();
        cases.sort_by_key(|(_, r)| r.started);
        let mut lines: Vec<String> = cases
            .iter()
            .take(max)
            .map(|(name, r)| {
                let step = r
                    .step
                    .as_ref()
                    .map(|(s, at)| format!(" · step {s} {}", seconds(now - *at)))
                    .unwrap_or_default();
                // One column short of the width: a line that fills the row would wrap on
                // some terminals and the block would be miscounted.
                cut(
                    &format!("  RUNNING {} {name}{step}", seconds(now - r.started)),
                    width.saturating_sub(1),
                )
            })
            .collect();
        if cases.len() > max {
            lines.push(format!("  … and {} more", cases.len() - max));
        }
        lines
    }

    /// `SLOW` lines for cases running longer than `after`, each at most once per `after`.
    pub fn slow_lines(&self, after: Duration) -> Vec<String> {
        let now = Instant::now();
        let mut out = Vec::new();
        for (name, r) in self.lock().iter_mut() {
            let due = r
                .reported
                .map_or(now - r.started >= after, |t| now - t >= after);
            if due {
                r.reported = Some(now);
                let step = r
                    .step
                    .as_ref()
                    .map(|(s, at)| format!(" (step {s}, {})", seconds(now - *at)))
                    .unwrap_or_default();
                out.push(format!(
                    "SLOW [{:>6}] {name}{step}",
                    seconds(now - r.started)
                ));
            }
        }
        out
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

fn cut(line: &str, width: usize) -> String {
    if line.chars().count() <= width {
        line.to_string()
    } else {
        let mut s: String = line.chars().take(width.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

/// The live block on a terminal, or the `SLOW` lines off one; stopped with [`Live::stop`].
pub struct Live {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    redirected: bool,
}

/// The terminal's standard output and error (when that is the terminal too) while fds 1 and
/// 2 are the pipe: [`restore`] puts them back, also from the interrupt path.
static SAVED: Mutex<Option<(OwnedFd, Option<OwnedFd>)>> = Mutex::new(None);

/// Gives standard output (and error) back to the terminal. The drawing thread then reads the
/// pipe to its end. Safe to call more than once.
pub fn restore() {
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    let saved = SAVED.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some((out, err)) = saved {
        // SAFETY: dup2 of descriptors we own onto stdout and stderr.
        unsafe {
            libc::dup2(out.as_raw_fd(), 1);
            if let Some(err) = &err {
                libc::dup2(err.as_raw_fd(), 2);
            }
        }
    }
}

/// The width of the terminal on `fd`, or 100.
fn width_of(fd: RawFd) -> usize {
    // SAFETY: TIOCGWINSZ fills a winsize on a terminal fd and fails harmlessly otherwise.
    unsafe {
        let mut size: libc::winsize = std::mem::zeroed();
        if libc::ioctl(fd, libc::TIOCGWINSZ, &mut size) == 0 && size.ws_col > 10 {
            return usize::from(size.ws_col);
        }
    }
    100
}

fn dup(fd: RawFd) -> std::io::Result<OwnedFd> {
    // SAFETY: dup of a standard descriptor; the new one is owned.
    let copy = unsafe { libc::dup(fd) };
    if copy < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a descriptor dup just returned to us.
    Ok(unsafe { OwnedFd::from_raw_fd(copy) })
}

impl Live {
    /// The live block: standard output, and standard error when it is the same terminal, go
    /// through a pipe to a thread that draws. `max` is how many running cases are shown.
    pub fn terminal(board: Arc<Board>, max: usize, with_stderr: bool) -> std::io::Result<Live> {
        let _ = std::io::stdout().flush();
        let saved_out = dup(1)?;
        let saved_err = if with_stderr { Some(dup(2)?) } else { None };
        let terminal = saved_out.try_clone()?;
        let mut fds = [0 as RawFd; 2];
        // SAFETY: pipe2 fills two descriptors, which are owned right after.
        let (read, write) = unsafe {
            if libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
        };
        // SAFETY: dup2 of the pipe's write end onto stdout (and stderr).
        unsafe {
            if libc::dup2(write.as_raw_fd(), 1) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if with_stderr && libc::dup2(write.as_raw_fd(), 2) < 0 {
                libc::dup2(saved_out.as_raw_fd(), 1);
                return Err(std::io::Error::last_os_error());
            }
        }
        drop(write);
        *SAVED.lock().unwrap_or_else(|e| e.into_inner()) = Some((saved_out, saved_err));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("smartcheck-live".into())
                .spawn(move || draw(board, read, terminal, stop, max))
        };
        match thread {
            Ok(thread) => Ok(Live {
                stop,
                thread: Some(thread),
                redirected: true,
            }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }

    /// Off a terminal: a `SLOW` line on standard error for each case running long.
    pub fn plain(board: Arc<Board>, after: Duration) -> Live {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("smartcheck-slow".into())
            .spawn(move || {
                let tick = Duration::from_millis(100);
                while !flag.load(Ordering::SeqCst) {
                    // Woken at once when the run ends (see `finish`), not a tick later.
                    std::thread::park_timeout(tick);
                    if flag.load(Ordering::SeqCst) {
                        break;
                    }
                    for line in board.slow_lines(after) {
                        eprintln!("{line}");
                    }
                }
            })
            .ok();
        Live {
            stop,
            thread,
            redirected: false,
        }
    }

    /// Clears the block, gives standard output back to the terminal, and waits for the
    /// drawing thread to write every line still in the pipe.
    pub fn stop(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if self.redirected {
            // The pipe's last writers are gone: the drawing thread reads to the end, leaves.
            restore();
        }
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The drawing thread: copies the pipe's lines to the terminal with the block under them.
fn draw(board: Arc<Board>, read: OwnedFd, terminal: OwnedFd, stop: Arc<AtomicBool>, max: usize) {
    let fd = read.as_raw_fd();
    let width = width_of(terminal.as_raw_fd());
    let mut out = std::fs::File::from(terminal);
    let mut pending: Vec<u8> = Vec::new();
    let mut drawn = 0usize;
    let mut buffer = [0u8; 8192];
    let clear = |out: &mut std::fs::File, drawn: usize| {
        // Up to the block's first line, and clear to the end of the screen.
        if drawn > 0 {
            let _ = write!(out, "\x1b[{drawn}F\x1b[J");
        }
    };
    loop {
        let mut poll = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll on one descriptor we own, with a timeout.
        let ready = unsafe { libc::poll(&mut poll, 1, 200) };
        let mut eof = false;
        if ready > 0 {
            // SAFETY: read into a buffer we own, of its length.
            let n = unsafe { libc::read(fd, buffer.as_mut_ptr().cast(), buffer.len()) };
            if n <= 0 {
                eof = true;
            } else {
                pending.extend_from_slice(&buffer[..n as usize]);
            }
        }
        clear(&mut out, drawn);
        drawn = 0;
        // Whole lines go out now; a partial one (libtest's "test x ... " before "ok" with
        // one thread) waits for its end, or for the end of the run.
        let upto = if eof {
            pending.len()
        } else {
            pending
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |i| i + 1)
        };
        let _ = out.write_all(&pending[..upto]);
        pending.drain(..upto);
        if eof || (stop.load(Ordering::SeqCst) && ready == 0) {
            let _ = out.write_all(&pending);
            let _ = out.flush();
            return;
        }
        // With a partial line showing, the block would join it: draw it after the line ends.
        if pending.is_empty() {
            let lines = board.lines(max, width);
            for line in &lines {
                let _ = writeln!(out, "{line}");
            }
            drawn = lines.len();
        }
        let _ = out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_board_names_each_running_case_with_its_step() {
        let board = Board::default();
        board.started("t::s::a");
        board.started("t::s::b");
        board.step("t::s::a", "authorize");
        let lines = board.lines(1, 200);
        assert_eq!(lines.len(), 2);
        assert!(
            lines[0].starts_with("  RUNNING 0.0s t::s::a · step authorize 0.0s"),
            "{lines:?}"
        );
        assert_eq!(lines[1], "  … and 1 more");
        board.finished("t::s::a");
        assert_eq!(board.lines(5, 200).len(), 1);
        let short = &board.lines(5, 12)[0];
        assert!(
            short.ends_with('…') && short.chars().count() == 11,
            "{short}"
        );
    }

    #[test]
    fn slow_lines_come_once_per_period() {
        let board = Board::default();
        board.started("t::s::slow");
        board.step("t::s::slow", "wait");
        std::thread::sleep(Duration::from_millis(30));
        let first = board.slow_lines(Duration::from_millis(20));
        assert_eq!(first.len(), 1);
        assert!(first[0].starts_with("SLOW ["), "{first:?}");
        assert!(first[0].contains("t::s::slow (step wait, "), "{first:?}");
        assert!(board.slow_lines(Duration::from_millis(20)).is_empty());
    }
}
