//! Opening paths that may be FIFOs or devices without being held for ever by one.

use std::os::unix::fs::OpenOptionsExt;

/// Opens `path` with `O_NONBLOCK`, then makes reads and writes block again. A FIFO that no
/// program writes to opens at once for reading (and reads as empty); one that nobody reads
/// refuses a writer at once with `ENXIO`, where a plain open would wait for ever.
pub(crate) fn open_without_waiting(
    path: &std::path::Path,
    write: bool,
) -> std::io::Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    let file = std::fs::OpenOptions::new()
        .read(!write)
        .write(write)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl(2) on a descriptor owned by `file`, clearing one status flag.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
    }
    Ok(file)
}
