//! Runs a plan of cases as libtest-mimic trials and collects the run report. The only
//! module that creates trials.

pub mod actions;
pub mod case;
pub mod context;
pub mod listener;
pub mod live;
pub mod request;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use libtest_mimic::{Arguments, Completion, Failed, Trial};

pub use case::{case_name, RunSettings, TargetRun};

use crate::report::console::failure_message_of;
use crate::report::model::{TargetInfo, REPORT_FORMAT, REPORT_VERSION};
use crate::report::{CaseOutcome, CaseReport, RunReport};
use crate::suite::Suite;

/// The selection and console settings of a run, in libtest terms.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub filter: Option<String>,
    pub exact: bool,
    pub skip: Vec<String>,
    pub list: bool,
    /// `--list=plain`: the names alone, one per line.
    pub list_plain: bool,
    pub test_threads: Option<usize>,
    /// `auto`, `always` or `never`.
    pub color: Option<String>,
    /// `--partition K/N`: only this shard's cases.
    pub partition: Option<Partition>,
}

/// Shard `index` (1-based) of `count`: the cases whose name hashes to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    pub index: u64,
    pub count: u64,
}

impl Partition {
    /// `K/N` with 1 <= K <= N.
    pub fn parse(text: &str) -> Result<Partition, String> {
        let bad = || format!("`{text}` is not a shard like `2/5` (K of N, 1 <= K <= N)");
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let index: u64 = k.trim().parse().map_err(|_| bad())?;
        let count: u64 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index == 0 || index > count {
            return Err(bad());
        }
        Ok(Partition { index, count })
    }

    /// Whether the case named `name` is in this shard: the first 8 bytes of the SHA-256 of
    /// the name, modulo N. It depends on the name alone, so a case stays in its shard however
    /// the suites around it grow.
    pub fn holds(&self, name: &str) -> bool {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(name.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first) % self.count == self.index - 1
    }
}

impl Selection {
    /// Whether a case name (`target::suite::case`) is selected: it matches the filter (if any)
    /// and no `--skip` pattern, by substring or, with `--exact`, whole (as libtest decides):
    /// the whole `target::suite::case`, or the whole `suite::case` (every target's case). A
    /// pattern without `::` is looked for in `suite::case` only: it names cases, and a target
    /// whose name happens to hold it (`es384`) must not bring in every case of that target.
    pub fn selects(&self, name: &str) -> bool {
        let cases_part = name.split_once("::").map_or(name, |(_, rest)| rest);
        let matches = |pattern: &str| {
            if self.exact {
                name == pattern || cases_part == pattern
            } else if pattern.contains("::") {
                name.contains(pattern)
            } else {
                cases_part.contains(pattern)
            }
        };
        self.filter.as_deref().is_none_or(matches) && !self.skip.iter().any(|s| matches(s))
    }

    /// Whether the case named `name` is in the `--partition` shard (every case without one).
    pub fn in_partition(&self, name: &str) -> bool {
        self.partition.is_none_or(|p| p.holds(name))
    }
}

/// One case to run against one target.
pub struct Planned {
    pub run: Arc<TargetRun>,
    pub suite: Arc<Suite>,
    pub case_index: usize,
}

/// Every target × every suite of its SMART major version × every case; and the notes on what
/// is left out, each said once for all the targets it holds for (a fleet of a thousand
/// sandboxes gets one line, not a thousand).
pub fn plan(targets: &[Arc<TargetRun>], suites: &[Arc<Suite>]) -> (Vec<Planned>, Vec<String>) {
    let mut planned = Vec::new();
    let mut notes = Vec::new();
    // What is left out, by its words but the target's name: the targets, in order.
    let mut left_out: Vec<(LeftOut, Vec<&str>)> = Vec::new();
    for run in targets {
        let version = run.target.smart_version;
        let name = run.target.name.as_str();
        if run.target.tls.insecure {
            notes.push(crate::report::model::insecure_warning(&run.target.name));
        }
        if !run.target.discovery.is_empty() {
            let keys: Vec<&str> = run.target.discovery.keys().map(String::as_str).collect();
            notes.push(format!(
                "target `{}` supplies discovery values instead of the server: {} (each `discover` result says where every value came from)",
                run.target.name,
                keys.join(", ")
            ));
        }
        for suite in suites {
            if !suite.versions().contains(&version) {
                note_left_out(&mut left_out, LeftOut::Suite(suite.clone(), version), name);
                continue;
            }
            let mut cases = Vec::new();
            for (case_index, case) in suite.cases.iter().enumerate() {
                if !suite.case_applies(case, version) {
                    cases.push(case.id.clone());
                    continue;
                }
                planned.push(Planned {
                    run: run.clone(),
                    suite: suite.clone(),
                    case_index,
                });
            }
            if !cases.is_empty() {
                note_left_out(
                    &mut left_out,
                    LeftOut::Cases(suite.suite.clone(), version, cases),
                    name,
                );
            }
        }
    }
    for (what, names) in left_out {
        let against = targets_phrase(&names);
        notes.push(match what {
            LeftOut::Suite(suite, version) => format!(
                "suite `{}` ({} {}) is not run against {against}, which declare{} smart-version {version}",
                suite.suite,
                suite.spec.name,
                suite.spec.version,
                if names.len() == 1 { "s" } else { "" }
            ),
            LeftOut::Cases(suite, version, cases) => format!(
                "{} case(s) of suite `{suite}` check rules of another SMART version and are not run against {against} (smart-version {version}): {}",
                cases.len(),
                cases.join(", ")
            ),
        });
    }
    (planned, notes)
}

/// What a plan leaves out of a target: a whole suite, or some cases of one (for a SMART
/// version the target does not declare).
enum LeftOut {
    Suite(Arc<Suite>, u32),
    Cases(String, u32, Vec<String>),
}

impl PartialEq for LeftOut {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (LeftOut::Suite(a, v), LeftOut::Suite(b, w)) => a.suite == b.suite && v == w,
            (LeftOut::Cases(a, v, c), LeftOut::Cases(b, w, d)) => a == b && v == w && c == d,
            _ => false,
        }
    }
}

fn note_left_out<'a>(notes: &mut Vec<(LeftOut, Vec<&'a str>)>, what: LeftOut, target: &'a str) {
    match notes.iter_mut().find(|(w, _)| *w == what) {
        Some((_, names)) => names.push(target),
        None => notes.push((what, vec![target])),
    }
}

/// `` `a` ``, `` `a` and `b` ``, or `` 100 targets (`a`, `b`, `c` and 97 more) ``.
fn targets_phrase(names: &[&str]) -> String {
    let quoted = |n: &[&str]| n.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>();
    match names {
        [one] => format!("`{one}`"),
        [a, b] => format!("`{a}` and `{b}`"),
        _ if names.len() <= 3 => {
            let all = quoted(names);
            format!(
                "{} and {}",
                all[..all.len() - 1].join(", "),
                all[all.len() - 1]
            )
        }
        _ => format!(
            "{} targets ({} and {} more)",
            names.len(),
            quoted(&names[..3]).join(", "),
            names.len() - 3
        ),
    }
}

/// How many cases run at once unless `--test-threads` says: twice the CPUs, at least 4. A
/// case spends most of its time waiting (on the server, on a browser, whose number
/// `--browser-sessions` bounds separately, or on a token's expiry), so more cases than CPUs
/// keep the machine busy where cases one per CPU would leave it idle.
pub fn default_test_threads() -> usize {
    let cpus = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1);
    (2 * cpus).max(4)
}

/// A rough guess of a case's length in milliseconds, to start the long ones first: a wait for
/// a token's expiry as long as the target lets it be, a browser authorization or launch most
/// of a second, any other step a few milliseconds.
fn expected_cost(item: &Planned) -> u64 {
    let case = &item.suite.cases[item.case_index];
    case.steps
        .iter()
        .map(|step| {
            if let Some(wait) = &step.wait_for_expiry {
                let allowed = if wait.code {
                    item.run.target.code_expiry_wait
                } else {
                    item.run.target.token_expiry_wait
                };
                allowed.as_millis() as u64
            } else if step.authorize.is_some() || step.ehr_launch.is_some() {
                700
            } else {
                10
            }
        })
        .sum()
}

fn arguments(selection: &Selection) -> Arguments {
    // The cases are selected before they get here ([`Selection::selects`]).
    let mut args = Arguments {
        list: selection.list,
        test_threads: Some(selection.test_threads.unwrap_or_else(default_test_threads)),
        ..Arguments::default()
    };
    args.color = match selection.color.as_deref() {
        Some("always") => Some(libtest_mimic::ColorSetting::Always),
        Some("never") => Some(libtest_mimic::ColorSetting::Never),
        _ => None,
    };
    args
}

/// The cases finished so far, in plan order, and when the run began: what a report is made
/// of, also one written halfway (a second interrupt).
pub struct Progress {
    started_at: String,
    start: Instant,
    cases: Mutex<Vec<(usize, CaseReport)>>,
    /// Where finished cases are kept whole while memory holds them light (none when no spool
    /// file could be made: then they stay whole in memory).
    spool: Mutex<Option<Arc<crate::report::spool::Spool>>>,
    /// The finished cases went into the run's last report ([`Progress::REPORTING`]), whose
    /// files are then written ([`Progress::WRITTEN`]).
    stage: std::sync::atomic::AtomicU8,
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            start: Instant::now(),
            cases: Mutex::default(),
            stage: Default::default(),
            spool: Mutex::new(match crate::report::spool::Spool::new() {
                Ok(spool) => Some(spool),
                Err(e) => {
                    eprintln!("note: finished cases stay whole in memory: no spool file ({e})");
                    None
                }
            }),
        }
    }
}

impl Progress {
    fn push(&self, order: usize, mut case: CaseReport) {
        let spool = self.spool.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(Err(e)) = spool.map(|file| file.keep(&mut case)) {
            eprintln!("note: finished cases stay whole in memory from here on: the spool file failed ({e})");
            *self.spool.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
        self.cases
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((order, case));
    }

    /// The report of the cases finished so far (not redacted; writers redact); they stay
    /// here for a later report.
    pub fn report(&self, targets: &[Arc<TargetRun>], interrupted: bool, strict: bool) -> RunReport {
        let cases = self.cases.lock().unwrap_or_else(|e| e.into_inner()).clone();
        self.report_of(cases, targets, interrupted, strict)
    }

    pub const RUNNING: u8 = 0;
    pub const REPORTING: u8 = 1;
    pub const WRITTEN: u8 = 2;

    /// The report of the run, which takes the finished cases (nothing is copied).
    fn last_report(
        &self,
        targets: &[Arc<TargetRun>],
        interrupted: bool,
        strict: bool,
    ) -> RunReport {
        let cases = {
            let mut held = self.cases.lock().unwrap_or_else(|e| e.into_inner());
            self.stage
                .store(Self::REPORTING, std::sync::atomic::Ordering::SeqCst);
            std::mem::take(&mut *held)
        };
        self.report_of(cases, targets, interrupted, strict)
    }

    /// Where the run is: [`Progress::RUNNING`], [`Progress::REPORTING`] or [`Progress::WRITTEN`].
    pub fn stage(&self) -> u8 {
        self.stage.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The run's reports are written.
    pub fn written(&self) {
        self.stage
            .store(Self::WRITTEN, std::sync::atomic::Ordering::SeqCst);
    }

    fn report_of(
        &self,
        mut cases: Vec<(usize, CaseReport)>,
        targets: &[Arc<TargetRun>],
        interrupted: bool,
        strict: bool,
    ) -> RunReport {
        cases.sort_by_key(|(order, _)| *order);
        let cases: Vec<CaseReport> = cases.into_iter().map(|(_, c)| c).collect();
        let duration_ms = self.start.elapsed().as_millis() as u64;
        RunReport {
            format: REPORT_FORMAT.to_string(),
            version: REPORT_VERSION,
            smartcheck_version: env!("CARGO_PKG_VERSION").to_string(),
            started_at: self.started_at.clone(),
            finished_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            duration_ms,
            interrupted,
            strict,
            targets: targets
                .iter()
                .map(|t| TargetInfo {
                    name: t.target.name.clone(),
                    fhir_base: t.target.fhir_base_shown(),
                    file: t.target.file.clone(),
                    discovery_from_target: t.target.discovery.keys().cloned().collect(),
                    tls_insecure: t.target.tls.insecure,
                    tls: t.tls.get().cloned(),
                })
                .collect(),
            summary: RunReport::summarize(&cases),
            latency: crate::report::latency::of(&cases),
            browser: None,
            time: crate::report::latency::TimeSplit::of(&cases, duration_ms),
            cases,
        }
    }
}

/// Runs a case, and again while an attempt errored or met a server error, up to
/// `settings.retries` more times. A case that passes on a retry is flaky, never simply
/// passed; a case that failed a check on an answer the server chose to give is never rerun.
async fn run_with_retries(item: &Planned, settings: &RunSettings) -> CaseReport {
    let attempt = |settings: RunSettings| {
        case::run_case(
            item.run.clone(),
            item.suite.clone(),
            item.case_index,
            settings,
        )
    };
    let mut report = attempt(settings.clone()).await;
    let mut attempts = Vec::new();
    while attempts.len() < settings.retries as usize && !settings.cancel.is_cancelled() {
        let causes = report.retry_causes();
        if causes.is_empty() {
            break;
        }
        attempts.push(crate::report::model::Attempt {
            started_at: report.started_at.clone(),
            duration_ms: report.duration_ms,
            outcome: report.outcome,
            errors: causes,
            steps: std::mem::take(&mut report.steps),
        });
        // A moment for a server that just restarted or shed load, longer each time.
        let pause = std::time::Duration::from_millis(500 * attempts.len() as u64);
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = settings.cancel.cancelled() => {}
        }
        // Each attempt's screenshots in a folder of its own.
        let mut again = settings.clone();
        again.artifacts_dir = settings
            .artifacts_dir
            .join(format!("attempt-{}", attempts.len() + 1));
        report = attempt(again).await;
    }
    if !attempts.is_empty() {
        if report.outcome == CaseOutcome::Passed {
            report.outcome = CaseOutcome::Flaky;
        }
        report.attempts = attempts;
    }
    report
}

/// Runs the plan with libtest-mimic's console output, and returns the report (not redacted;
/// writers redact). Each finished case goes into `progress` as it ends. With `list`, prints
/// the names and returns `None`.
pub fn execute(
    runtime: &tokio::runtime::Runtime,
    targets: &[Arc<TargetRun>],
    planned: Vec<Planned>,
    selection: &Selection,
    settings: RunSettings,
    progress: Arc<Progress>,
) -> Option<RunReport> {
    let mut planned: Vec<(usize, Planned)> = planned.into_iter().enumerate().collect();
    // Several cases at once: the longest start first, so that a token's expiry is waited out
    // while other cases run, not at the end with nothing beside it. Listed, or one at a time,
    // the cases keep the suites' order; reports keep it always.
    if !selection.list && selection.test_threads.unwrap_or_else(default_test_threads) > 1 {
        planned.sort_by_key(|(_, item)| std::cmp::Reverse(expected_cost(item)));
    }
    let trials: Vec<Trial> = planned
        .into_iter()
        .map(|(order, item)| {
            let case = &item.suite.cases[item.case_index];
            let name = case_name(&item.run.target, &item.suite, case);
            let handle = runtime.handle().clone();
            let progress = progress.clone();
            let settings = settings.clone();
            let name_for_board = name.clone();
            Trial::ignorable_test(name, move || {
                settings.board.started(&name_for_board);
                let report = if settings.cancel.is_cancelled() {
                    let case = &item.suite.cases[item.case_index];
                    case::skipped_case(
                        &item.run,
                        &item.suite,
                        case,
                        &format!("{} before the case started", crate::interrupt::reason()),
                    )
                } else {
                    handle.block_on(run_with_retries(&item, &settings))
                };
                settings.board.finished(&name_for_board);
                let outcome = report.outcome;
                let message = match outcome {
                    CaseOutcome::Failed | CaseOutcome::Errored => {
                        // Made from a masked copy of the steps it names (a URL's credential
                        // parameters masked by name, as in every report), not of the whole case
                        // with every answer it holds.
                        let mut failing: Vec<_> = report
                            .steps
                            .iter()
                            .filter(|s| s.checks.iter().any(|c| c.verdict.is_bad()))
                            .cloned()
                            .collect();
                        crate::report::model::redact_steps(&mut failing, &settings.redactor);
                        Some(failure_message_of(&failing))
                    }
                    _ => None,
                };
                let reason = report.reason.clone().map(|r| settings.redactor.redact(&r));
                progress.push(order, report);
                match (outcome, message) {
                    (CaseOutcome::Skipped, _) => {
                        Ok(Completion::ignored_with(reason.unwrap_or_default()))
                    }
                    (_, Some(message)) => Err(Failed::from(message)),
                    _ => Ok(Completion::Completed),
                }
            })
        })
        .collect();
    let args = arguments(selection);
    let _conclusion = libtest_mimic::run(&args, trials);
    if selection.list {
        return None;
    }
    Some(progress.last_report(targets, settings.cancel.is_cancelled(), settings.strict))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selection(filter: Option<&str>, exact: bool, skip: &[&str]) -> Selection {
        Selection {
            filter: filter.map(str::to_string),
            exact,
            skip: skip.iter().map(|s| s.to_string()).collect(),
            list: false,
            list_plain: false,
            test_threads: None,
            color: None,
            partition: None,
        }
    }

    #[test]
    fn targets_are_named_in_full_up_to_three() {
        assert_eq!(targets_phrase(&["a"]), "`a`");
        assert_eq!(targets_phrase(&["a", "b"]), "`a` and `b`");
        assert_eq!(targets_phrase(&["a", "b", "c"]), "`a`, `b` and `c`");
        assert_eq!(
            targets_phrase(&["a", "b", "c", "d", "e"]),
            "5 targets (`a`, `b`, `c` and 2 more)"
        );
    }

    #[test]
    fn a_filter_names_cases_not_targets() {
        let es384 = "es384::smart-app-launch::standalone-basic";
        let case = "sandbox::smart-app-launch::standalone-es384";
        let only = selection(Some("es384"), false, &[]);
        assert!(!only.selects(es384), "a target's name is no case name");
        assert!(only.selects(case));
        // With `::` the whole name is searched: the target can be named.
        let target = selection(Some("es384::"), false, &[]);
        assert!(target.selects(es384));
        assert!(!target.selects(case));
        assert!(selection(Some("smart-app-launch::standalone"), false, &[]).selects(case));
        // --skip reads names alike; --exact compares whole names.
        assert!(selection(None, false, &["es384"]).selects(es384));
        assert!(!selection(None, false, &["es384"]).selects(case));
        assert!(selection(Some(case), true, &[]).selects(case));
        assert!(!selection(Some("standalone-es384"), true, &[]).selects(case));
        // --exact with the case's name without its target: that case of every target.
        let exact = selection(Some("smart-app-launch::standalone-es384"), true, &[]);
        assert!(exact.selects(case));
        assert!(exact.selects("other::smart-app-launch::standalone-es384"));
        assert!(!exact.selects("other::smart-app-launch::standalone-es384-refresh"));
        assert!(!selection(Some("app-launch::standalone-es384"), true, &[]).selects(case));
    }
}
