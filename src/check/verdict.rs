//! What a check concluded: passed, failed, warned, errored or skipped, never a boolean.

use serde::{Deserialize, Serialize};

/// Why a matcher did not match: what it wanted and what it saw (both redacted before output).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mismatch {
    pub expected: String,
    pub actual: String,
}

/// The verdict of one check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    Passed,
    /// The server broke a SHALL requirement (or a SHOULD one under `--strict`).
    Failed(Mismatch),
    /// The server broke a SHOULD requirement; not a failure unless `--strict`.
    Warned(Mismatch),
    /// The check could not be evaluated (transport, setup, unreadable response).
    Errored {
        reason: String,
    },
    /// A prerequisite did not hold, or the feature is not advertised.
    Skipped {
        reason: String,
    },
}

impl Verdict {
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Failed(_) => "failed",
            Verdict::Warned(_) => "warned",
            Verdict::Errored { .. } => "errored",
            Verdict::Skipped { .. } => "skipped",
        }
    }

    /// Whether this verdict makes the run fail.
    pub fn is_bad(&self) -> bool {
        matches!(self, Verdict::Failed(_) | Verdict::Errored { .. })
    }
}
