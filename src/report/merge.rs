//! `smartcheck merge`: the JSON reports of the shards of one run (`--partition K/N`) made
//! into one report, as if one process had run every case.

use std::collections::BTreeMap;

use super::model::{RunReport, REPORT_FORMAT, REPORT_VERSION};

/// Whether `report` (from `file`) can be merged with `first`: the same report format and
/// version, and run with the same strictness.
fn mergeable(
    file: &str,
    report: &RunReport,
    first_file: &str,
    first_strict: bool,
) -> Result<(), String> {
    if report.format != REPORT_FORMAT || report.version != REPORT_VERSION {
        return Err(format!(
            "{file} is a `{}` report of version {}; this smartcheck merges `{REPORT_FORMAT}` version {REPORT_VERSION}",
            report.format, report.version
        ));
    }
    if report.strict != first_strict {
        return Err(format!(
            "{file} was run {} --strict, {first_file} {}: the verdicts do not add up",
            if report.strict { "with" } else { "without" },
            if first_strict { "with" } else { "without" }
        ));
    }
    Ok(())
}

/// Two shards' browser use. Shards run on machines of their own: sessions and start times add
/// up; the peak and the bound are each shard's own, so the merged figures are their largest.
fn shards_browser(
    a: crate::browser::driver::BrowserUse,
    b: crate::browser::driver::BrowserUse,
) -> crate::browser::driver::BrowserUse {
    crate::browser::driver::BrowserUse {
        sessions: a.sessions + b.sessions,
        reused: a.reused + b.reused,
        peak: a.peak.max(b.peak),
        bound: a.bound.max(b.bound),
        driver_start_ms: a.driver_start_ms + b.driver_start_ms,
        browser_start_ms: a.browser_start_ms + b.browser_start_ms,
        renewed: a.renewed + b.renewed,
    }
}

/// Merges shard reports (`(file, report)`); the cases in name order, the counts recomputed.
pub fn merge(reports: Vec<(String, RunReport)>) -> Result<RunReport, String> {
    // What the merged report takes from the first shard (not the shard itself: its cases
    // are many).
    let Some((first_file, first)) = reports.first() else {
        return Err("no report to merge".into());
    };
    let (first_file, strict) = (first_file.clone(), first.strict);
    let smartcheck_version = first.smartcheck_version.clone();
    let mut targets: BTreeMap<String, (String, super::model::TargetInfo)> = BTreeMap::new();
    let mut cases: BTreeMap<String, (String, super::model::CaseReport)> = BTreeMap::new();
    let mut started_at = first.started_at.clone();
    let mut finished_at = first.finished_at.clone();
    let mut interrupted = false;
    let mut browser: Option<crate::browser::driver::BrowserUse> = None;
    for (file, report) in reports {
        mergeable(&file, &report, &first_file, strict)?;
        for target in report.targets {
            match targets.get(&target.name) {
                Some((other, known)) if known.fhir_base != target.fhir_base => {
                    return Err(format!(
                        "target `{}` is {} in {file} but {} in {other}",
                        target.name, target.fhir_base, known.fhir_base
                    ))
                }
                Some(_) => {}
                None => {
                    targets.insert(target.name.clone(), (file.clone(), target));
                }
            }
        }
        for case in report.cases {
            if let Some((other, _)) = cases.get(&case.name) {
                return Err(format!(
                    "case `{}` is in {file} and in {other}: the same shard twice?",
                    case.name
                ));
            }
            cases.insert(case.name.clone(), (file.clone(), case));
        }
        started_at = started_at.min(report.started_at);
        finished_at = finished_at.max(report.finished_at);
        interrupted |= report.interrupted;
        browser = match (browser, report.browser) {
            (Some(a), Some(b)) => Some(shards_browser(a, b)),
            (a, b) => a.or(b),
        };
    }
    let cases: Vec<_> = cases.into_values().map(|(_, c)| c).collect();
    let millis = |t: &str| chrono::DateTime::parse_from_rfc3339(t).map(|t| t.timestamp_millis());
    let duration_ms = match (millis(&started_at), millis(&finished_at)) {
        (Ok(a), Ok(b)) if b >= a => (b - a) as u64,
        _ => 0,
    };
    Ok(RunReport {
        format: REPORT_FORMAT.to_string(),
        version: REPORT_VERSION,
        smartcheck_version,
        started_at,
        finished_at,
        duration_ms,
        interrupted,
        strict,
        targets: targets.into_values().map(|(_, t)| t).collect(),
        summary: RunReport::summarize(&cases),
        latency: super::latency::of(&cases),
        browser,
        time: super::latency::TimeSplit::of(&cases, duration_ms),
        cases,
    })
}
