//! Which checks of which suites test each requirement of the catalogue, which faults of the
//! reference server prove those checks catch a break of it, and the coverage that adds up to
//! per source and per page (`smartcheck requirements`).

use std::collections::BTreeMap;

use serde::Serialize;

use super::catalogue::{Catalogue, Kind};
use crate::suite::Suite;

/// One requirement with the checks that cite it.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub id: String,
    pub source: String,
    pub url: String,
    pub level: String,
    pub binds: Vec<String>,
    pub kind: Kind,
    pub text: String,
    /// `suite::case::check` of every check that cites the requirement.
    pub checks: Vec<String>,
    /// The reference-server faults that prove a check catches a break of the requirement:
    /// each breaks it, and the fault matrix asserts that a check whose primary (first)
    /// citation it is fails (or warns, for a SHOULD) under it. Only these count as tested.
    pub faults: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub untestable: Option<String>,
}

/// Counts for a source or a page.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Tally {
    pub requirements: usize,
    /// Proven: cited by a check that a fault shows to catch a break of it.
    pub tested: usize,
    /// Cited by checks, none of them proven by a fault: not counted as tested.
    pub checked_not_proven: usize,
    pub untestable: usize,
    pub untested: usize,
}

impl Tally {
    fn add(&mut self, row: &Row) {
        self.requirements += 1;
        if !row.faults.is_empty() {
            self.tested += 1;
        } else if !row.checks.is_empty() {
            self.checked_not_proven += 1;
        } else if row.untestable.is_some() {
            self.untestable += 1;
        } else {
            self.untested += 1;
        }
    }
}

/// The catalogue against the suites.
#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    pub requirements: Vec<Row>,
    pub summary: Summary,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub checks: usize,
    /// Per catalogue source.
    pub sources: BTreeMap<String, Tally>,
    /// Per page of SMART App Launch 2.2 (server statements: explicit and field rows only).
    pub smart_pages: BTreeMap<String, Tally>,
    /// The SMART 2.2 server statements of the audit (explicit and field rows).
    pub smart_statements: Tally,
}

/// A fault of the reference server and the check ids the fault matrix asserts it makes fail.
#[derive(Debug, Clone, Copy)]
pub struct FaultProof<'a> {
    pub fault: &'a str,
    pub caught_by: &'a [&'a str],
    /// Requirements it breaks besides the primary citations of those checks (counted only
    /// where one of those checks cites them).
    pub also_breaks: &'a [&'a str],
}

/// What the suites' checks cite: by requirement, the checks that cite it and the faults that
/// prove one of them catches a break of it; and how many checks there are.
struct Cited<'a> {
    by_id: BTreeMap<&'a str, Vec<String>>,
    proven_by: BTreeMap<&'a str, Vec<String>>,
    checks: usize,
}

impl<'a> Cited<'a> {
    fn of(suites: &'a [Suite], proofs: &'a [FaultProof]) -> Self {
        let mut faults_by_check: BTreeMap<&str, Vec<&FaultProof>> = BTreeMap::new();
        for proof in proofs {
            for check in proof.caught_by {
                faults_by_check.entry(check).or_default().push(proof);
            }
        }
        let mut cited = Cited {
            by_id: BTreeMap::new(),
            proven_by: BTreeMap::new(),
            checks: 0,
        };
        for suite in suites {
            for case in &suite.cases {
                for check in case.steps.iter().flat_map(|s| &s.checks) {
                    cited.checks += 1;
                    let faults = faults_by_check.get(check.id.as_str());
                    for (i, requirement) in check.cited.iter().enumerate() {
                        for proof in faults.into_iter().flatten() {
                            if i == 0 || proof.also_breaks.contains(&&*requirement.id) {
                                let list = cited.proven_by.entry(&*requirement.id).or_default();
                                if !list.iter().any(|f| f == proof.fault) {
                                    list.push(proof.fault.to_string());
                                }
                            }
                        }
                    }
                    for requirement in &check.cited {
                        cited
                            .by_id
                            .entry(&*requirement.id)
                            .or_default()
                            .push(format!("{}::{}::{}", suite.suite, case.id, check.id));
                    }
                }
            }
        }
        cited
    }
}

/// Maps every check of the suites to the requirements it cites, and every requirement to the
/// faults that prove a check catches a break of it (a fault proves the primary citation of
/// each check it is caught by).
pub fn coverage(catalogue: &Catalogue, suites: &[Suite], proofs: &[FaultProof]) -> Coverage {
    let Cited {
        by_id,
        proven_by,
        checks,
    } = Cited::of(suites, proofs);
    let mut rows = Vec::new();
    let mut sources: BTreeMap<String, Tally> = BTreeMap::new();
    let mut pages: BTreeMap<String, Tally> = BTreeMap::new();
    let mut statements = Tally::default();
    for entry in catalogue.entries() {
        let row = Row {
            id: entry.id.clone(),
            source: entry.source.clone(),
            url: entry.url.clone(),
            level: entry.level.as_str().to_string(),
            binds: entry.binds.iter().map(|b| b.as_str().to_string()).collect(),
            kind: entry.kind,
            text: entry.text.clone(),
            checks: by_id.get(entry.id.as_str()).cloned().unwrap_or_default(),
            faults: proven_by
                .get(entry.id.as_str())
                .cloned()
                .unwrap_or_default(),
            untestable: entry.untestable.clone(),
        };
        sources.entry(entry.source.clone()).or_default().add(&row);
        if entry.source == "smart-app-launch-2.2"
            && matches!(entry.kind, Kind::Statement | Kind::Field)
            && !entry.id.starts_with("smart-x-")
            // The audit's IM rows are the statements it found implicit, whatever keyword a
            // fragment of one carries (smart-im-07's MAY).
            && !entry.id.starts_with("smart-im-")
        {
            statements.add(&row);
            let page = entry
                .url
                .rsplit('/')
                .next()
                .and_then(|p| p.split(['.', '#']).next())
                .unwrap_or_default()
                .to_string();
            pages.entry(page).or_default().add(&row);
        }
        rows.push(row);
    }
    Coverage {
        requirements: rows,
        summary: Summary {
            checks,
            sources,
            smart_pages: pages,
            smart_statements: statements,
        },
    }
}

/// The catalogue as a person reads it: per requirement its level, whom it binds and its checks,
/// then the coverage per source and per SMART page.
pub fn render_text(coverage: &Coverage) -> String {
    let mut out = String::new();
    let mut source = "";
    for row in &coverage.requirements {
        if row.source != source {
            source = &row.source;
            out.push_str(&format!("\n== {source}\n"));
        }
        out.push_str(&format!(
            "{} [{}; {}] {}\n    {}\n",
            row.id,
            row.level,
            row.binds.join(", "),
            row.url,
            row.text
        ));
        for check in &row.checks {
            out.push_str(&format!("    tested by {check}\n"));
        }
        if !row.faults.is_empty() {
            out.push_str(&format!("    proven by fault {}\n", row.faults.join(", ")));
        } else if !row.checks.is_empty() {
            out.push_str("    checked but not proven (no fault shows a check catching a break)\n");
        } else if let Some(reason) = &row.untestable {
            out.push_str(&format!("    untestable: {reason}\n"));
        } else {
            out.push_str("    untested\n");
        }
    }
    let line = |name: &str, t: &Tally| {
        format!(
            "  {name:<34} {:>4} requirements  {:>4} proven  {:>3} checked but not proven  {:>3} untestable  {:>4} untested\n",
            t.requirements, t.tested, t.checked_not_proven, t.untestable, t.untested
        )
    };
    out.push_str(&format!(
        "\ncoverage ({} checks in the suites):\n",
        coverage.summary.checks
    ));
    for (name, tally) in &coverage.summary.sources {
        out.push_str(&line(name, tally));
    }
    out.push_str("\nSMART App Launch 2.2 server statements, per page:\n");
    for (name, tally) in &coverage.summary.smart_pages {
        out.push_str(&line(name, tally));
    }
    out.push_str(&line("all pages", &coverage.summary.smart_statements));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_tested_untestable_and_untested_per_page() {
        let catalogue = Catalogue::builtin();
        let cov = coverage(catalogue, &[], &[]);
        assert_eq!(cov.summary.checks, 0);
        let s = &cov.summary.smart_statements;
        assert_eq!(s.requirements, 154, "the audit's 154 server statements");
        assert_eq!(s.tested, 0);
        assert_eq!(s.untestable, 13);
        assert_eq!(s.untested, 141);
        assert_eq!(cov.summary.smart_pages["app-state"].requirements, 21);
        let text = render_text(&cov);
        assert!(
            text.contains("smart-cf-22 [SHALL; resource-server]"),
            "{text}"
        );
        assert!(text.contains("    untestable: Internal duty."));
    }
}
