//! The JSON report: the whole run, versioned (`format`, `version`), secrets masked.

use std::path::Path;

use super::{write_file, ReportError, RunReport};

/// Serializes an already redacted report.
pub fn to_json(report: &RunReport) -> Result<String, ReportError> {
    serde_json::to_string_pretty(report).map_err(|e| ReportError::Serialize {
        kind: "JSON",
        message: e.to_string(),
    })
}

pub fn write(report: &RunReport, path: &Path) -> Result<(), ReportError> {
    let mut text = to_json(report)?;
    text.push('\n');
    write_file(path, text.as_bytes())
}
