//! The finished run: every case, step, exchange and verdict. Reporters are functions of it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::spool::Spool;

use crate::check::Verdict;
use crate::http::Exchange;
use crate::redact::Redactor;
use crate::suite::model::{Level, Requirement};
use crate::suite::Location;

/// The JSON report's format name and version; bump the version on any breaking change.
pub const REPORT_FORMAT: &str = "smartcheck-report";
pub const REPORT_VERSION: u32 = 2;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    /// Always `smartcheck-report`.
    pub format: String,
    /// The report schema version (see `smartcheck schema report`).
    pub version: u32,
    pub smartcheck_version: String,
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: u64,
    /// The run was cut short by Ctrl-C; cases not run are listed as skipped.
    pub interrupted: bool,
    /// SHOULD failures counted as failures.
    pub strict: bool,
    pub targets: Vec<TargetInfo>,
    pub summary: Summary,
    /// Per target and endpoint: count, median, 95th percentile and maximum duration of the
    /// answered exchanges (`endpoint: "*"` is the target as a whole).
    #[serde(default)]
    pub latency: Vec<Latency>,
    /// Browser sessions started, the most open at once, and the `--browser-sessions` bound
    /// (absent when no case needed a browser).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser: Option<crate::browser::driver::BrowserUse>,
    /// The cases' time split into server, browser and harness time.
    #[serde(default)]
    pub time: TimeSplit,
    /// Each case whole (a light one read back from the run's spool as it is written).
    #[serde(
        serialize_with = "serialize_whole_cases",
        deserialize_with = "deserialize_cases"
    )]
    pub cases: Vec<CaseReport>,
}

thread_local! {
    /// The spool that cases go to as they are parsed, while [`RunReport::read_spooled`] reads
    /// on this thread (serde gives a field's deserializer no other context).
    static SPOOLING_INTO: std::cell::RefCell<Option<Arc<Spool>>> =
        const { std::cell::RefCell::new(None) };
}

impl RunReport {
    /// Reads a JSON report case by case: each case is written to `spool` as soon as it is
    /// parsed and kept light, so that a shard's exchanges are never all in memory at once
    /// (`smartcheck merge` of a fleet's shards holds one case whole at a time).
    pub fn read_spooled(
        reader: impl std::io::Read,
        spool: &Arc<Spool>,
    ) -> serde_json::Result<RunReport> {
        SPOOLING_INTO.with(|s| *s.borrow_mut() = Some(spool.clone()));
        let report = serde_json::from_reader(std::io::BufReader::new(reader));
        SPOOLING_INTO.with(|s| *s.borrow_mut() = None);
        report
    }
}

/// The cases of a JSON array, each spooled and made light as it is parsed when
/// [`RunReport::read_spooled`] reads.
fn deserialize_cases<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<CaseReport>, D::Error> {
    struct Cases(Option<Arc<Spool>>);
    impl<'de> serde::de::Visitor<'de> for Cases {
        type Value = Vec<CaseReport>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an array of cases")
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            use serde::de::Error;
            let mut cases = Vec::new();
            while let Some(mut case) = seq.next_element::<CaseReport>()? {
                if let Some(spool) = &self.0 {
                    spool.keep(&mut case).map_err(|e| {
                        A::Error::custom(format!("cannot write the case to the spool file: {e}"))
                    })?;
                }
                cases.push(case);
            }
            Ok(cases)
        }
    }
    let spool = SPOOLING_INTO.with(|s| s.borrow().clone());
    deserializer.deserialize_seq(Cases(spool))
}

/// The cases as a JSON array, each whole: a light case is read back and written before the
/// next one is read, so that the run's exchanges are never all in memory at once.
fn serialize_whole_cases<S: serde::Serializer>(
    cases: &[CaseReport],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::{Error, SerializeSeq};
    let mut seq = serializer.serialize_seq(Some(cases.len()))?;
    for case in cases {
        seq.serialize_element(&*case.full().map_err(S::Error::custom)?)?;
    }
    seq.end()
}

/// The latency of one endpoint of one target (`endpoint` is `* ` for the target as a whole).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latency {
    pub target: String,
    /// `GET https://ehr.example.org/fhir/Patient/{id}`: method, origin and path, with ids
    /// folded and the query left out.
    pub endpoint: String,
    pub count: usize,
    pub median_ms: u64,
    pub p95_ms: u64,
    pub max_ms: u64,
}

/// Where the cases' time went, summed over every case: waiting for the server (each
/// exchange from request to answer or error), driving the browser (session start, pages,
/// screens, the wait for the redirect), and the rest (the harness: planning requests,
/// evaluating checks, listeners, waits a suite asks for). Cases run in parallel, so the sum
/// of case times (`cases_ms`) may exceed the run's wall time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeSplit {
    pub wall_ms: u64,
    pub cases_ms: u64,
    pub server_ms: u64,
    pub browser_ms: u64,
    pub harness_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetInfo {
    pub name: String,
    pub fhir_base: String,
    pub file: String,
    /// The discovery values the target file supplies instead of the server (smart-configuration
    /// field names).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub discovery_from_target: Vec<String>,
    /// The target's `tls.insecure`: the server's TLS certificates were not verified, so no
    /// verdict says the answers came from that server.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub tls_insecure: bool,
    /// The TLS version and certificate validity of an https target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<crate::http::tls::TlsFacts>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What every report says of a target run with `tls.insecure: true`.
pub fn insecure_warning(target: &str) -> String {
    format!("target `{target}`: TLS certificates were not verified (`tls.insecure: true`): any server could have answered for it")
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub warned: usize,
    pub errored: usize,
    pub skipped: usize,
}

impl Counts {
    pub fn total(&self) -> usize {
        self.passed + self.failed + self.warned + self.errored + self.skipped
    }

    pub fn add(&mut self, verdict: &Verdict) {
        match verdict {
            Verdict::Passed => self.passed += 1,
            Verdict::Failed(_) => self.failed += 1,
            Verdict::Warned(_) => self.warned += 1,
            Verdict::Errored { .. } => self.errored += 1,
            Verdict::Skipped { .. } => self.skipped += 1,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub cases: CaseCounts,
    pub checks: Counts,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseCounts {
    pub passed: usize,
    pub failed: usize,
    pub errored: usize,
    pub skipped: usize,
    /// Passed on a retry (`--retries`) after an attempt errored.
    #[serde(default)]
    pub flaky: usize,
}

/// How a case as a whole went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CaseOutcome {
    /// No check failed or errored (warnings allowed).
    Passed,
    /// At least one check failed.
    Failed,
    /// No check failed, at least one errored.
    Errored,
    /// Nothing was evaluated (not applicable, or interrupted).
    Skipped,
    /// Passed on a retry (`--retries`) after an attempt errored or met a server error: the
    /// earlier attempts are in `attempts`.
    Flaky,
}

impl CaseOutcome {
    /// The word the JSON report uses.
    pub fn name(self) -> &'static str {
        match self {
            CaseOutcome::Passed => "passed",
            CaseOutcome::Failed => "failed",
            CaseOutcome::Errored => "errored",
            CaseOutcome::Skipped => "skipped",
            CaseOutcome::Flaky => "flaky",
        }
    }
}

/// An attempt of a case that was run again (`--retries`): how it went and its steps.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attempt {
    pub started_at: String,
    pub duration_ms: u64,
    pub outcome: CaseOutcome,
    /// Why it was run again: the steps that errored or met a 5xx answer.
    pub errors: Vec<String>,
    pub steps: Vec<StepReport>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpecInfo {
    pub name: String,
    pub version: String,
    pub url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseReport {
    /// The test name: `target::suite::case`.
    pub name: String,
    pub target: String,
    pub suite: String,
    pub suite_title: String,
    pub spec: SpecInfo,
    pub case: String,
    pub title: String,
    pub location: Location,
    pub outcome: CaseOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub started_at: String,
    pub duration_ms: u64,
    pub steps: Vec<StepReport>,
    /// The earlier attempts of a case that was run again (`--retries`), oldest first; the
    /// outcome and steps above are those of the last attempt.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<Attempt>,
    /// For a case that passed with some of its checks skipped: how many, of how many. Its
    /// `passed` says less than a case whose every check ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped_checks: Option<SkippedChecks>,
    /// Set when the run keeps the case on disk and this copy is light (see
    /// [`CaseReport::lighten`]): the way back to the whole case, which [`CaseReport::full`]
    /// reads.
    #[serde(skip)]
    pub detail: Option<super::spool::Detail>,
}

/// How many of a passing case's checks were skipped, and the first reason given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedChecks {
    pub skipped: usize,
    pub checks: usize,
    pub first_reason: String,
}

impl SkippedChecks {
    /// The skipped share of `steps`' checks, when some were skipped and some were not.
    pub fn of(steps: &[StepReport]) -> Option<SkippedChecks> {
        let verdicts = || {
            steps
                .iter()
                .flat_map(|s| s.checks.iter().map(|c| &c.verdict))
        };
        let checks = verdicts().count();
        let skipped = verdicts()
            .filter(|v| matches!(v, Verdict::Skipped { .. }))
            .count();
        if skipped == 0 || skipped == checks {
            return None;
        }
        // A skipped step's own reason says why; its checks' "prerequisite missing" only
        // repeats it.
        let first_reason = steps
            .iter()
            .find_map(|s| {
                if s.state == StepState::Skipped
                    && s.checks
                        .iter()
                        .any(|c| matches!(c.verdict, Verdict::Skipped { .. }))
                {
                    return s.reason.clone();
                }
                s.checks.iter().find_map(|c| match &c.verdict {
                    Verdict::Skipped { reason } => Some(reason.clone()),
                    _ => None,
                })
            })
            .unwrap_or_default();
        Some(SkippedChecks {
            skipped,
            checks,
            first_reason,
        })
    }

    /// `ok, 10 of 14 checks skipped`.
    pub fn describe(&self) -> String {
        format!("ok, {} of {} checks skipped", self.skipped, self.checks)
    }
}

/// Whether a step ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepState {
    /// The server answered; the checks were evaluated.
    Ran,
    /// The step could not run (transport error, bad request); its checks errored.
    Errored,
    /// A prerequisite was missing or `when` did not hold; its checks were skipped.
    Skipped,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepReport {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub state: StepState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub location: Location,
    pub duration_ms: u64,
    /// Of which driving the browser.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub browser_ms: u64,
    /// Where an authorization's browser time went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser_phases: Option<BrowserPhases>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exchange: Option<Exchange>,
    /// Other requests the step made (a JWKS fetch, a client registration).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub related: Vec<Exchange>,
    /// What a built-in step found (the redirect of an authorization, an id_token's findings).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub result: Option<serde_json::Value>,
    /// Files saved for a person (a screenshot and the page source when a browser step broke).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub artifacts: Vec<String>,
    pub checks: Vec<CheckReport>,
}

/// Where an authorization's time in the browser went: getting a browser (starting one, or
/// cleaning one handed on from another case), the pages and screens (an EHR launch's too), and
/// the wait for the redirect after the last screen. What is left of the step's `browser_ms`
/// is the harness's own (a screenshot, leaving the page).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrowserPhases {
    pub session_ms: u64,
    pub pages_ms: u64,
    pub redirect_ms: u64,
}

impl BrowserPhases {
    pub fn add(&mut self, other: &BrowserPhases) {
        self.session_ms += other.session_ms;
        self.pages_ms += other.pages_ms;
        self.redirect_ms += other.redirect_ms;
    }

    /// What was added since `before`.
    pub fn since(&self, before: &BrowserPhases) -> BrowserPhases {
        BrowserPhases {
            session_ms: self.session_ms.saturating_sub(before.session_ms),
            pages_ms: self.pages_ms.saturating_sub(before.pages_ms),
            redirect_ms: self.redirect_ms.saturating_sub(before.redirect_ms),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == BrowserPhases::default()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckReport {
    pub id: String,
    pub title: String,
    pub level: Level,
    /// The catalogue requirements the check tests.
    pub requirements: Vec<Requirement>,
    /// What the check infers beyond the words of its requirements (then it is at most SHOULD).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub implied: Option<String>,
    pub location: Location,
    #[serde(flatten)]
    pub verdict: Verdict,
}

impl CaseReport {
    pub fn checks(&self) -> impl Iterator<Item = &CheckReport> {
        self.steps.iter().flat_map(|s| s.checks.iter())
    }

    /// The outcome that the verdicts of the case add up to.
    pub fn outcome_of(steps: &[StepReport]) -> CaseOutcome {
        let verdicts: Vec<&Verdict> = steps
            .iter()
            .flat_map(|s| s.checks.iter().map(|c| &c.verdict))
            .collect();
        if verdicts.iter().any(|v| matches!(v, Verdict::Failed(_))) {
            CaseOutcome::Failed
        } else if verdicts
            .iter()
            .any(|v| matches!(v, Verdict::Errored { .. }))
        {
            CaseOutcome::Errored
        } else if verdicts
            .iter()
            .all(|v| matches!(v, Verdict::Skipped { .. }))
        {
            CaseOutcome::Skipped
        } else {
            CaseOutcome::Passed
        }
    }

    /// A copy with every secret masked: exchanges, messages, reasons. A light copy's detail
    /// is masked too (see [`super::spool::Detail::masked_by`]).
    pub fn redacted(&self, redactor: &Redactor) -> CaseReport {
        let mut copy = self.clone();
        copy.redact_in_place(redactor);
        copy
    }

    /// Masks every secret of this case where it is.
    pub fn redact_in_place(&mut self, redactor: &Redactor) {
        self.reason = self.reason.take().map(|r| redactor.redact(&r));
        if let Some(share) = &mut self.skipped_checks {
            share.first_reason = redactor.redact(&share.first_reason);
        }
        redact_steps(&mut self.steps, redactor);
        for attempt in &mut self.attempts {
            attempt.errors = attempt.errors.iter().map(|e| redactor.redact(e)).collect();
            redact_steps(&mut attempt.steps, redactor);
        }
        self.detail = self.detail.as_ref().map(|d| d.masked_by(redactor));
    }

    /// Drops what only the reports' detail shows: the headers and bodies of the exchanges and
    /// the findings of the steps' results (a browser step keeps the URL it was sent to). What
    /// the console, the summaries, the latency figures and the history read stays.
    pub fn lighten(&mut self) {
        let steps = self
            .steps
            .iter_mut()
            .chain(self.attempts.iter_mut().flat_map(|a| a.steps.iter_mut()));
        for step in steps {
            for exchange in step.exchange.iter_mut().chain(step.related.iter_mut()) {
                exchange.lighten();
            }
            step.result = step.result.take().and_then(|result| {
                let url = result.pointer("/sent/url")?.clone();
                Some(serde_json::json!({ "sent": { "url": url } }))
            });
            step.checks.shrink_to_fit();
        }
        self.steps.shrink_to_fit();
    }

    /// The whole case: itself, or, for a light copy, the case read back from the run's spool
    /// (masked as this copy is).
    pub fn full(&self) -> Result<std::borrow::Cow<'_, CaseReport>, String> {
        match &self.detail {
            None => Ok(std::borrow::Cow::Borrowed(self)),
            Some(detail) => detail.read().map(std::borrow::Cow::Owned),
        }
    }

    /// Why an attempt that did not pass may be run again: the steps that errored (no answer,
    /// a reset, a timeout, a browser that broke) or got a 5xx answer. Empty when the case
    /// passed or every failure is the verdict on an answer the server chose to give.
    pub fn retry_causes(&self) -> Vec<String> {
        if !matches!(self.outcome, CaseOutcome::Failed | CaseOutcome::Errored) {
            return Vec::new();
        }
        let mut causes = Vec::new();
        for step in &self.steps {
            let status = step
                .exchange
                .as_ref()
                .and_then(|e| e.response.as_ref())
                .map(|r| r.status);
            if step.state == StepState::Errored {
                causes.push(format!(
                    "step `{}` errored: {}",
                    step.id,
                    step.reason.as_deref().unwrap_or("no reason given")
                ));
            } else if let Some(status) = status.filter(|s| *s >= 500) {
                causes.push(format!("step `{}` got status {status}", step.id));
            }
        }
        causes
    }
}

pub(crate) fn redact_steps(steps: &mut [StepReport], redactor: &Redactor) {
    for step in steps {
        step.reason = step.reason.take().map(|r| redactor.redact(&r));
        step.exchange = step.exchange.as_ref().map(|e| e.redacted(redactor));
        step.related = step.related.iter().map(|e| e.redacted(redactor)).collect();
        step.result = step.result.as_ref().map(|v| redactor.redact_json_value(v));
        for check in &mut step.checks {
            check.verdict = match &check.verdict {
                Verdict::Failed(m) => Verdict::Failed(redact_mismatch(m, redactor)),
                Verdict::Warned(m) => Verdict::Warned(redact_mismatch(m, redactor)),
                Verdict::Errored { reason } => Verdict::Errored {
                    reason: redactor.redact(reason),
                },
                Verdict::Skipped { reason } => Verdict::Skipped {
                    reason: redactor.redact(reason),
                },
                Verdict::Passed => Verdict::Passed,
            };
        }
    }
}

fn redact_mismatch(m: &crate::check::Mismatch, redactor: &Redactor) -> crate::check::Mismatch {
    crate::check::Mismatch {
        expected: redactor.redact(&m.expected),
        actual: redactor.redact(&m.actual),
    }
}

impl RunReport {
    pub fn summarize(cases: &[CaseReport]) -> Summary {
        let mut summary = Summary::default();
        for case in cases {
            match case.outcome {
                CaseOutcome::Passed => summary.cases.passed += 1,
                CaseOutcome::Failed => summary.cases.failed += 1,
                CaseOutcome::Errored => summary.cases.errored += 1,
                CaseOutcome::Skipped => summary.cases.skipped += 1,
                CaseOutcome::Flaky => summary.cases.flaky += 1,
            }
            for check in case.checks() {
                summary.checks.add(&check.verdict);
            }
        }
        summary
    }

    /// The report with every secret masked, for writers (masked where it is: a fleet's
    /// report is not copied). Each case is masked once, whole, however many writers read it;
    /// the cases are shared out among as many threads as the machine has CPUs.
    pub fn redacted(mut self, redactor: &Redactor) -> RunReport {
        let threads = std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(1)
            .min(self.cases.len())
            .max(1);
        let next = std::sync::Mutex::new(self.cases.iter_mut());
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| loop {
                    let case = next.lock().unwrap_or_else(|e| e.into_inner()).next();
                    match case {
                        Some(case) => case.redact_in_place(redactor),
                        None => break,
                    }
                });
            }
        });
        for latency in &mut self.latency {
            latency.endpoint = redactor.redact_url(&latency.endpoint);
        }
        self
    }

    /// Per target name, its cases and the counts of their checks' verdicts (one pass over the
    /// cases, whatever the number of targets).
    pub fn per_target(&self) -> std::collections::HashMap<&str, (usize, Counts)> {
        let mut per: std::collections::HashMap<&str, (usize, Counts)> = Default::default();
        for case in &self.cases {
            let (cases, counts) = per.entry(case.target.as_str()).or_default();
            *cases += 1;
            for check in case.checks() {
                counts.add(&check.verdict);
            }
        }
        per
    }

    /// Whether the run fails (exit code 1): a failed or errored check.
    pub fn has_failures(&self) -> bool {
        self.summary.checks.failed > 0 || self.summary.checks.errored > 0
    }
}
