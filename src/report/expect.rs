//! Expected verdicts (`run --expect FILE`): a server's known verdicts, written down once and
//! compared with every run, so that CI fails on any change, a new failure or a fixed one alike.
//!
//! ```yaml
//! server: oidc-provider 9.13.3
//! checks:
//!   smart-discovery::smart-configuration::smart-config-status: passed
//!   smart-app-launch::standalone-basic::standalone-basic-token-pragma:
//!     verdict: failed
//!     reason: "RFC 6749 §5.1 wants Pragma: no-cache; the server sends only Cache-Control"
//! ```
//! Keys are `suite::case::check`. Every verdict other than `passed` needs a reason.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::RunReport;
use crate::check::Verdict;
use crate::suite::error::LoadError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectFile {
    /// What the verdicts are of (free text, shown in the diff).
    #[serde(default)]
    server: Option<String>,
    checks: BTreeMap<String, Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Entry {
    Bare(Word),
    Full {
        verdict: Word,
        #[serde(default)]
        reason: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Word {
    Passed,
    Failed,
    Warned,
    Errored,
    Skipped,
}

impl Word {
    fn as_str(self) -> &'static str {
        match self {
            Word::Passed => "passed",
            Word::Failed => "failed",
            Word::Warned => "warned",
            Word::Errored => "errored",
            Word::Skipped => "skipped",
        }
    }

    fn of(verdict: &Verdict) -> Word {
        match verdict {
            Verdict::Passed => Word::Passed,
            Verdict::Failed(_) => Word::Failed,
            Verdict::Warned(_) => Word::Warned,
            Verdict::Errored { .. } => Word::Errored,
            Verdict::Skipped { .. } => Word::Skipped,
        }
    }
}

/// The expected verdicts of one server.
pub struct Expected {
    pub server: Option<String>,
    checks: BTreeMap<String, (Word, Option<String>)>,
}

/// Loads an expectation file; a mistake names the file, line and column.
pub fn load(path: &Path) -> Result<Expected, Box<LoadError>> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        Box::new(LoadError::whole_file(
            &file,
            format!("cannot read the file: {e}"),
        ))
    })?;
    let raw: ExpectFile = serde_yaml::from_str(&text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((1, 1));
        Box::new(LoadError::new(&file, &text, (line, column), e.to_string()))
    })?;
    let mut checks = BTreeMap::new();
    for (key, entry) in raw.checks {
        let (word, reason) = match entry {
            Entry::Bare(w) => (w, None),
            Entry::Full { verdict, reason } => (verdict, reason),
        };
        let problem = if word != Word::Passed
            && reason.as_deref().is_none_or(|r| r.trim().is_empty())
        {
            Some(format!(
                "`{key}` is expected {}, which needs a `reason` naming the requirement and what the server does instead",
                word.as_str()
            ))
        } else if key.split("::").count() != 3 {
            Some(format!("`{key}` is not a `suite::case::check` key"))
        } else {
            None
        };
        if let Some(message) = problem {
            // serde_yaml keeps no positions for map keys: the key's own line.
            let line = text
                .lines()
                .position(|l| l.trim_start().starts_with(&format!("{key}:")))
                .map_or(1, |i| i + 1);
            return Err(Box::new(LoadError::new(&file, &text, (line, 1), message)));
        }
        checks.insert(key, (word, reason));
    }
    Ok(Expected {
        server: raw.server,
        checks,
    })
}

/// The differences between a run and the expected verdicts, one line each (empty: they agree).
pub fn compare(expected: &Expected, report: &RunReport) -> Vec<String> {
    let mut seen = BTreeMap::new();
    // Check ids are unique in a suite and stay when a case is renamed: where each one ran.
    let mut case_of: BTreeMap<(&str, &str), &str> = BTreeMap::new();
    for case in &report.cases {
        for step in &case.steps {
            for check in &step.checks {
                case_of.insert((&case.suite, &check.id), &case.case);
                let key = format!("{}::{}::{}", case.suite, case.case, check.id);
                let why = match &check.verdict {
                    Verdict::Failed(m) | Verdict::Warned(m) => {
                        format!("expected {}, got {}", m.expected, m.actual)
                    }
                    Verdict::Errored { reason } | Verdict::Skipped { reason } => reason.clone(),
                    Verdict::Passed => String::new(),
                };
                seen.insert(key, (Word::of(&check.verdict), why));
            }
        }
    }
    let mut out = Vec::new();
    for (key, (want, reason)) in &expected.checks {
        match seen.get(key) {
            None if report.interrupted => {}
            None => {
                let mut line = format!("- {key}: expected {}, not run", want.as_str());
                let parts: Vec<&str> = key.splitn(3, "::").collect();
                if let [suite, case, check] = parts[..] {
                    if let Some(now) = case_of.get(&(suite, check)).filter(|now| **now != case) {
                        line.push_str(&format!(
                            "; check `{check}` now runs in case `{now}` (renamed since?): the key is `{suite}::{now}::{check}`"
                        ));
                    }
                }
                out.push(line);
            }
            Some((got, why)) if got != want => {
                let mut line = format!("~ {key}: expected {}, got {}", want.as_str(), got.as_str());
                if !why.is_empty() {
                    line.push_str(&format!(" ({why})"));
                }
                if let Some(r) = reason {
                    line.push_str(&format!("\n    expected because: {r}"));
                }
                out.push(line);
            }
            Some(_) => {}
        }
    }
    for (key, (got, why)) in &seen {
        if !expected.checks.contains_key(key) {
            let mut line = format!("+ {key}: {} (not in the expected verdicts)", got.as_str());
            if !why.is_empty() {
                line.push_str(&format!(" ({why})"));
            }
            out.push(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An expectation written before a case was renamed says where its check runs now.
    #[test]
    fn a_check_whose_case_was_renamed_is_named_with_its_new_key() {
        let report: RunReport =
            serde_json::from_str(include_str!("../../tests/golden/results.json")).unwrap();
        let case = &report.cases[0];
        let check = case.checks().next().unwrap();
        let old_key = format!("{}::{}-old::{}", case.suite, case.case, check.id);
        let expected = Expected {
            server: None,
            checks: BTreeMap::from([(old_key.clone(), (Word::Passed, None))]),
        };
        let lines = compare(&expected, &report);
        let line = lines
            .iter()
            .find(|l| l.starts_with(&format!("- {old_key}")))
            .unwrap();
        assert!(
            line.ends_with(&format!(
                "now runs in case `{}` (renamed since?): the key is `{}::{}::{}`",
                case.case, case.suite, case.case, check.id
            )),
            "{line}"
        );
    }
}
