//! What would make more checks run: the skipped checks whose reason is a target key left out
//! (`token-expiry-wait`, `ehr-launch`, `vars.other-patient`, ...), grouped by that key. A
//! skip the server's own choices caused (a capability it does not list) names no target key
//! and is not counted here.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use super::RunReport;
use crate::check::verdict::Verdict;

/// The target keys a skip reason may name as the missing piece, in the words the reasons use
/// (`` `token-expiry-wait` in FILE``, `the target has no `ehr-launch``).
const KEYS: &[&str] = &[
    "token-expiry-wait",
    "code-expiry-wait",
    "ehr-launch",
    "debug-token-endpoint",
    "debug-introspect-endpoint",
    "introspection-scope",
    "other-fhir-base",
    "client-jwks-url",
    "other-clients",
    "reads",
    "supports",
];

/// Keys that are claims about the server, not facts the harness needs: set, they turn skips
/// into verdicts that can fail, so they are for what the server's makers say it does.
const CLAIMS: &[&str] = &["supports", "introspection-scope"];

/// A step a reason says it waited for: `{{ steps.ID...` or step `ID`.
static STEP: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"\{\{\s*steps\.([a-z0-9-]+)|step `([a-z0-9-]+)`").expect("a valid pattern")
});

/// `{{ target.KEY }}` or `{{ target.vars.NAME }}` in a reason (a `when` on a target value).
static TEMPLATE: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"\{\{\s*target\.(vars\.[A-Za-z0-9_-]+|[a-z0-9-]+)").expect("a valid pattern")
});

/// One key and what leaving it out cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Unlock {
    pub key: String,
    pub checks: usize,
    /// `suite::case`, each once.
    pub cases: BTreeSet<String>,
    pub targets: BTreeSet<String>,
    /// The key is a claim about the server (see [`CLAIMS`]).
    pub claim: bool,
}

/// The key a skip reason names as missing, if any.
fn key_of(reason: &str) -> Option<String> {
    if let Some(found) = TEMPLATE.captures(reason) {
        return Some(found[1].to_string());
    }
    KEYS.iter()
        .find(|key| reason.contains(&format!("`{key}`")))
        .map(|key| key.to_string())
}

/// The key a reason names, or the key behind the steps it waited for (a few steps deep).
fn key_behind(reason: &str, step_reasons: &BTreeMap<&str, &str>) -> Option<String> {
    let mut reason = reason;
    for _ in 0..8 {
        if let Some(key) = key_of(reason) {
            return Some(key);
        }
        let step = STEP.captures(reason)?;
        let id = step.get(1).or_else(|| step.get(2))?.as_str();
        reason = step_reasons.get(id)?;
    }
    None
}

/// The keys that would unlock skipped checks, the costliest first.
pub fn unlocks(report: &RunReport) -> Vec<Unlock> {
    let mut by_key: BTreeMap<String, Unlock> = BTreeMap::new();
    for case in &report.cases {
        // The skipped steps' reasons: a check that waited for one of them (the client of a
        // case whose `when` reads a target key) waited for what that step did.
        let step_reasons: BTreeMap<&str, &str> = case
            .steps
            .iter()
            .filter_map(|s| Some((s.id.as_str(), s.reason.as_deref()?)))
            .collect();
        for check in case.checks() {
            let Verdict::Skipped { reason } = &check.verdict else {
                continue;
            };
            let Some(key) = key_behind(reason, &step_reasons) else {
                continue;
            };
            let entry = by_key.entry(key.clone()).or_insert_with(|| Unlock {
                claim: CLAIMS.contains(&key.as_str()),
                key,
                checks: 0,
                cases: BTreeSet::new(),
                targets: BTreeSet::new(),
            });
            entry.checks += 1;
            entry.cases.insert(format!("{}::{}", case.suite, case.case));
            entry.targets.insert(case.target.clone());
        }
    }
    let mut all: Vec<Unlock> = by_key.into_values().collect();
    all.sort_by(|a, b| b.checks.cmp(&a.checks).then_with(|| a.key.cmp(&b.key)));
    all
}

/// One line per key: `token-expiry-wait: 4 checks in 2 cases (suite::case, ...)`.
pub fn describe(unlock: &Unlock, several_targets: bool) -> String {
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let key = if unlock.key.starts_with("vars.") {
        unlock.key.clone()
    } else {
        format!("`{}`", unlock.key)
    };
    let mut cases: Vec<&str> = unlock.cases.iter().map(String::as_str).take(4).collect();
    if unlock.cases.len() > 4 {
        cases.push("...");
    }
    let mut line = format!(
        "{key}: {} in {} ({})",
        plural(unlock.checks, "check"),
        plural(unlock.cases.len(), "case"),
        cases.join(", ")
    );
    if several_targets {
        line.push_str(&format!(", {}", plural(unlock.targets.len(), "target")));
    }
    if unlock.claim {
        line.push_str(
            "; a claim about the server: set it only where its makers say so, since the checks then judge it",
        );
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_missing_key_is_read_from_the_reasons_words() {
        assert_eq!(
            key_of("prerequisite not met: step `wait` was skipped: the access token lives 300 s; the target lets a case wait 0s for expiry (`token-expiry-wait` in t.yaml)").as_deref(),
            Some("token-expiry-wait")
        );
        assert_eq!(
            key_of("condition not met: {{ target.other-fhir-base }} is absent, not present")
                .as_deref(),
            Some("other-fhir-base")
        );
        assert_eq!(
            key_of("prerequisite missing: `{{ target.vars.other-patient }}` has no value")
                .as_deref(),
            Some("vars.other-patient")
        );
        assert_eq!(
            key_of("the target does not say how to start an EHR launch (`ehr-launch` in t.yaml)")
                .as_deref(),
            Some("ehr-launch")
        );
        // Through the steps waited for.
        let steps = BTreeMap::from([
            ("hold", "prerequisite missing: step `client` made no client"),
            (
                "client",
                "condition not met: {{ target.code-expiry-wait }} is absent, not present",
            ),
        ]);
        assert_eq!(
            key_behind(
                "condition not met: {{ steps.hold.json.waited_seconds }} is absent",
                &steps
            )
            .as_deref(),
            Some("code-expiry-wait")
        );
        // The server's own choice: no target key to set.
        assert_eq!(
            key_of("condition not met: {{ steps.config.json.capabilities }} is [], not an array containing \"launch-ehr\""),
            None
        );
    }
}
