//! Reports of a finished run: the model, and the console, JUnit, JSON and HTML writers.

pub mod console;
pub mod expect;
pub mod html;
pub mod json;
pub mod junit;
pub mod latency;
pub mod merge;
pub mod metrics;
pub mod model;
pub mod spool;
pub mod summary;
pub mod unlock;

pub use model::{CaseOutcome, CaseReport, CheckReport, RunReport, StepReport, StepState};

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot create the report directory `{path}`: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write the report `{path}`: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot serialize the {kind} report: {message}")]
    Serialize { kind: &'static str, message: String },
}

/// Writes a report whole, the way a user pointing `--json`/`--junit` somewhere expects:
///
/// - a new path or a regular file: the text goes to a temporary file in the same folder,
///   renamed over the path when complete, so a reader never sees half a report and a failed
///   write leaves the old one;
/// - a symlink: the same at the file it points to (the link stays a link);
/// - a character device or a FIFO (`/dev/stdout`, `/dev/null`, a pipe): written through;
/// - a directory, a socket or a block device: refused.
#[cfg(test)]
pub(crate) fn write_file(path: &std::path::Path, contents: &[u8]) -> Result<(), ReportError> {
    write_with(path, |out| out.write_all(contents))
}

/// [`write_file`] for a report written piece by piece: `fill` writes it into a buffered
/// writer, so that a report of thousands of cases is never held whole in memory.
pub(crate) fn write_with(
    path: &std::path::Path,
    fill: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<(), ReportError> {
    use std::io::Write;
    let failed = |source: std::io::Error| ReportError::Write {
        path: path.display().to_string(),
        source,
    };
    let resolved = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => match std::fs::canonicalize(path) {
            Ok(target) => target,
            // A dangling link: create the file it names.
            Err(_) => {
                let link = std::fs::read_link(path).map_err(failed)?;
                path.parent()
                    .unwrap_or(std::path::Path::new("."))
                    .join(link)
            }
        },
        _ => path.to_path_buf(),
    };
    match std::fs::metadata(&resolved) {
        Ok(meta) => {
            use std::os::unix::fs::FileTypeExt;
            let kind = meta.file_type();
            if kind.is_char_device() || kind.is_fifo() {
                let file = open_for_writing(&resolved, kind.is_fifo()).map_err(failed)?;
                let mut out = std::io::BufWriter::new(file);
                return fill(&mut out).and_then(|_| out.flush()).map_err(failed);
            }
            if !kind.is_file() {
                let what = if kind.is_dir() {
                    "a directory"
                } else if kind.is_socket() {
                    "a socket"
                } else {
                    "a block device"
                };
                return Err(failed(std::io::Error::other(format!(
                    "it is {what}, not a file"
                ))));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(failed(e)),
    }
    if let Some(parent) = resolved.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| ReportError::CreateDir {
            path: parent.display().to_string(),
            source,
        })?;
    }
    replace_atomically(&resolved, fill).map_err(failed)
}

/// How long a report waits for a program to open its FIFO for reading.
const FIFO_READER_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Opens a device or FIFO for writing. A FIFO that no program opens for reading within
/// [`FIFO_READER_WAIT`] is refused, where a plain open would hold the run for ever.
fn open_for_writing(path: &std::path::Path, fifo: bool) -> std::io::Result<std::fs::File> {
    let deadline = std::time::Instant::now() + FIFO_READER_WAIT;
    loop {
        match crate::files::open_without_waiting(path, true) {
            Err(e) if fifo && e.raw_os_error() == Some(libc::ENXIO) => {
                if std::time::Instant::now() >= deadline {
                    return Err(std::io::Error::other(format!(
                        "it is a FIFO that no program opened for reading within {} s",
                        FIFO_READER_WAIT.as_secs()
                    )));
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

/// Writes what `fill` writes to a new temporary file next to `path` and renames it over `path`.
fn replace_atomically(
    path: &std::path::Path,
    fill: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "report".into());
    let tmp = path.with_file_name(format!(
        ".{name}.{}-{}.tmp",
        std::process::id(),
        crate::smart::pkce::random_urlsafe(6)
    ));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|file| {
            let mut out = std::io::BufWriter::new(file);
            fill(&mut out)?;
            out.into_inner().map_err(|e| e.into_error())?.sync_all()
        })
        .and_then(|_| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt;
    use std::path::Path;

    #[test]
    fn a_regular_file_is_replaced_whole_and_no_temporary_file_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        std::fs::write(&path, "old and longer").unwrap();
        write_file(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_symlink_stays_a_link_and_its_file_gets_the_report() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("sub/real.json");
        std::fs::create_dir_all(real.parent().unwrap()).unwrap();
        std::fs::write(&real, "old").unwrap();
        let link = dir.path().join("latest.json");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_file(&link, b"new").unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new");
        // A dangling link: the file it names is created.
        let gone = dir.path().join("gone.json");
        let dangling = dir.path().join("dangling.json");
        std::os::unix::fs::symlink(&gone, &dangling).unwrap();
        write_file(&dangling, b"x").unwrap();
        assert_eq!(std::fs::read_to_string(&gone).unwrap(), "x");
    }

    #[test]
    fn devices_are_written_through_and_never_replaced() {
        write_file(Path::new("/dev/null"), b"report").unwrap();
        assert!(std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device());
        // /dev/full refuses every write: a clear error, and the device is still there.
        let error = write_file(Path::new("/dev/full"), b"report")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("/dev/full") && error.contains("No space"),
            "{error}"
        );
        assert!(std::fs::metadata("/dev/full")
            .unwrap()
            .file_type()
            .is_char_device());
    }

    /// A FIFO in a new temporary folder (kept while the folder lives).
    fn new_fifo() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo(3) on a path in our own temporary folder.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        (dir, fifo)
    }

    #[test]
    fn a_fifo_is_written_through() {
        let (_dir, fifo) = new_fifo();
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
        };
        write_file(&fifo, b"through the pipe").unwrap();
        assert_eq!(reader.join().unwrap(), "through the pipe");
    }

    #[test]
    fn a_fifo_nobody_reads_is_refused_instead_of_waited_for() {
        let (_dir, fifo) = new_fifo();
        let error = write_file(&fifo, b"nobody reads").unwrap_err().to_string();
        assert!(error.contains("no program opened for reading"), "{error}");
    }

    #[test]
    fn a_directory_is_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let error = write_file(dir.path(), b"x").unwrap_err().to_string();
        assert!(error.contains("it is a directory, not a file"), "{error}");
    }
}
