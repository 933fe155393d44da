//! Reports of a finished run: the model, and the console, JUnit and JSON writers.

pub mod console;
pub mod expect;
pub mod json;
pub mod junit;
pub mod model;

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

/// Writes a file whole, replacing any earlier report (never appends).
pub(crate) fn write_file(path: &std::path::Path, contents: &[u8]) -> Result<(), ReportError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| ReportError::CreateDir {
            path: parent.display().to_string(),
            source,
        })?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|source| ReportError::Write {
            path: path.display().to_string(),
            source,
        })
}
