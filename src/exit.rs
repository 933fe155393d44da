//! The process exit codes, named once; README.md lists the same table.

use std::process::ExitCode;

/// Every selected check passed (warnings from SHOULD checks allowed unless `--strict`).
pub const SUCCESS: u8 = 0;
/// At least one check failed or errored: the server is not conformant or not reachable.
pub const CHECKS_FAILED: u8 = 1;
/// Usage error, or a suite or target file that does not load.
pub const USAGE: u8 = 2;
/// The harness itself could not work: reports not writable, internal error.
pub const HARNESS: u8 = 3;
/// Interrupted by Ctrl-C; the reports were still written.
pub const INTERRUPTED: u8 = 130;

/// Converts one of the constants above into the process exit code.
pub fn code(value: u8) -> ExitCode {
    ExitCode::from(value)
}
