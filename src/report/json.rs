//! The JSON report: the whole run, versioned (`format`, `version`), secrets masked.

use std::path::Path;

use super::{write_with, ReportError, RunReport};

/// Serializes an already redacted report.
pub fn to_json(report: &RunReport) -> Result<String, ReportError> {
    serde_json::to_string_pretty(report).map_err(|e| ReportError::Serialize {
        kind: "JSON",
        message: e.to_string(),
    })
}

/// Writes the report as it is serialized: a run of thousands of cases is never one string.
pub fn write(report: &RunReport, path: &Path) -> Result<(), ReportError> {
    write_with(path, |out| {
        serde_json::to_writer_pretty(&mut *out, report).map_err(std::io::Error::other)?;
        out.write_all(b"\n")
    })
}
