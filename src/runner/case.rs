//! Runs one case against one target: steps in order, each step's checks, the case context.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Map, Value};

use super::actions::{ActionEnd, ActionResult, CaseState};
use super::request::{render, RenderError};
use crate::check::{evaluate, when_holds, Evaluation, Verdict};
use crate::http::{Exchange, RecordedResponse};
use crate::report::model::SpecInfo;
use crate::report::{CaseReport, CheckReport, StepReport, StepState};
use crate::suite::model::{Capture, Check, Level};
use crate::suite::{Case, Step, Suite, Target};

pub use super::context::{RunSettings, TargetRun};

/// The test name of a case: `target::suite::case`.
pub fn case_name(target: &Target, suite: &Suite, case: &Case) -> String {
    format!("{}::{}::{}", target.name, suite.suite, case.id)
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn report_shell(run: &TargetRun, suite: &Suite, case: &Case) -> CaseReport {
    CaseReport {
        name: case_name(&run.target, suite, case),
        target: run.target.name.clone(),
        suite: suite.suite.clone(),
        suite_title: suite.title.clone(),
        spec: SpecInfo {
            name: suite.spec.name.clone(),
            version: suite.spec.version.clone(),
            url: suite.spec.url.clone(),
        },
        case: case.id.clone(),
        title: case.title.clone(),
        location: case.location.clone(),
        outcome: crate::report::CaseOutcome::Skipped,
        reason: None,
        started_at: now(),
        duration_ms: 0,
        steps: Vec::new(),
        attempts: Vec::new(),
        skipped_checks: None,
        detail: None,
    }
}

fn check_report(check: &Check, verdict: Verdict) -> CheckReport {
    CheckReport {
        id: check.id.clone(),
        title: check.title.clone(),
        level: check.level,
        requirements: check.cited.clone(),
        implied: check.implied.clone(),
        location: check.location.clone(),
        verdict,
    }
}

fn step_report(
    step: &Step,
    state: StepState,
    reason: Option<String>,
    verdict: &Verdict,
) -> StepReport {
    StepReport {
        id: step.id.clone(),
        title: step.title.clone(),
        state,
        reason,
        location: step.location.clone(),
        duration_ms: 0,
        browser_ms: 0,
        browser_phases: None,
        exchange: None,
        related: Vec::new(),
        result: None,
        artifacts: Vec::new(),
        checks: step
            .checks
            .iter()
            .map(|c| check_report(c, verdict.clone()))
            .collect(),
    }
}

/// A case that is not run at all (interrupted before it started): every check skipped.
pub fn skipped_case(run: &TargetRun, suite: &Suite, case: &Case, reason: &str) -> CaseReport {
    let mut report = report_shell(run, suite, case);
    let verdict = Verdict::Skipped {
        reason: reason.to_string(),
    };
    report.steps = case
        .steps
        .iter()
        .map(|s| step_report(s, StepState::Skipped, Some(reason.to_string()), &verdict))
        .collect();
    report.reason = Some(reason.to_string());
    report
}

/// What `{{ steps.ID.FIELD }}` may name: the fields of [`step_context`] (a step without an
/// exchange has `json` only).
pub const STEP_FIELDS: &[&str] = &["status", "headers", "body", "url", "duration-ms", "json"];

/// What suites read as `{{ steps.ID... }}` after a step ran.
fn step_context(exchange: &Exchange) -> Value {
    let Some(response) = &exchange.response else {
        return Value::Null;
    };
    let mut headers = Map::new();
    for (name, value) in &response.headers {
        let key = name.to_ascii_lowercase();
        match headers.get_mut(&key) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(value);
            }
            _ => {
                headers.insert(key, Value::String(value.clone()));
            }
        }
    }
    let mut out = json!({
        "status": response.status,
        "headers": headers,
        "body": response.body,
        "url": exchange.request.url,
        "duration-ms": exchange.duration_ms,
    });
    if let Ok(parsed) = serde_json::from_str::<Value>(&response.body) {
        out["json"] = parsed;
    }
    out
}

fn capture(capture: &Capture, exchange: &Exchange) -> Option<Value> {
    let response = exchange.response.as_ref()?;
    if let Some(path) = &capture.json {
        let body: Value = serde_json::from_str(&response.body).ok()?;
        return crate::check::eval::select(path, &body).ok().flatten();
    }
    if let Some(name) = &capture.header {
        return response.header(name).map(|v| Value::String(v.to_string()));
    }
    if capture.status == Some(true) {
        return Some(json!(response.status));
    }
    None
}

/// A case's context at its start: the target's values and secrets, and room for what its
/// steps find.
fn case_context(run: &TargetRun) -> Value {
    let secrets: Map<String, Value> = run
        .target
        .secrets
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.expose_secret().to_string())))
        .collect();
    json!({
        "target": run.target.context(),
        "steps": {},
        "vars": {},
        "secrets": secrets,
        "newest": {},
    })
}

/// Why a skipped case was skipped: the first step that was skipped says why (a later check's
/// "prerequisite missing" only repeats it), else the first skipped check.
fn why_skipped(steps: &[StepReport]) -> Option<String> {
    steps
        .iter()
        .find(|s| s.state == StepState::Skipped && s.reason.is_some())
        .and_then(|s| s.reason.clone())
        .or_else(|| {
            steps
                .iter()
                .flat_map(|s| s.checks.iter())
                .find_map(|c| match &c.verdict {
                    Verdict::Skipped { reason } => Some(reason.clone()),
                    _ => None,
                })
        })
}

/// Runs a case to the end; never panics on server behaviour.
pub async fn run_case(
    run: Arc<TargetRun>,
    suite: Arc<Suite>,
    case_index: usize,
    settings: RunSettings,
) -> CaseReport {
    let case = &suite.cases[case_index];
    let mut report = report_shell(&run, &suite, case);
    let started = Instant::now();
    let mut context = case_context(&run);
    let mut state = CaseState::new(report.name.clone());
    for step in &case.steps {
        let not_run = if settings.cancel.is_cancelled() {
            Some(crate::interrupt::reason())
        } else {
            unmet_need(step, &report.steps)
        };
        if let Some(reason) = not_run {
            let verdict = Verdict::Skipped {
                reason: reason.clone(),
            };
            let skipped = step_report(step, StepState::Skipped, Some(reason), &verdict);
            report.steps.push(skipped);
            continue;
        }
        settings.board.step(&report.name, &step.id);
        let step_report = run_step(&run, step, &mut context, &mut state, &settings).await;
        // A refusal that the server wrongly answered with tokens gives no "newest" token.
        if step.control.is_none() {
            remember_newest_tokens(&step_report, &step.id, &mut context);
        }
        let mut step_report = step_report;
        for exchange in step_report
            .exchange
            .iter_mut()
            .chain(step_report.related.iter_mut())
        {
            exchange.shape_for_report();
        }
        report.steps.push(step_report);
    }
    apply_positive_controls(case, &mut report.steps);
    state.finish(&run, &settings).await;
    report.duration_ms = started.elapsed().as_millis() as u64;
    report.outcome = CaseReport::outcome_of(&report.steps);
    if report.outcome == crate::report::CaseOutcome::Passed {
        report.skipped_checks = crate::report::model::SkippedChecks::of(&report.steps);
    }
    if report.outcome == crate::report::CaseOutcome::Skipped {
        report.reason = why_skipped(&report.steps);
    }
    report
}

/// Whether the server accepted what a step asked: the step ran, and its answer was a 2xx (for
/// an HTTP step, whatever its checks say of the details: a revocation answered 204 still
/// revoked), or, for a built-in step without an HTTP answer of its own (an authorization), none
/// of its checks failed or errored. `needs` and `control` both ask this.
fn accepted(step: &StepReport) -> Result<(), String> {
    match step.state {
        StepState::Ran => {}
        StepState::Skipped | StepState::Errored => {
            let what = if step.state == StepState::Skipped {
                "was skipped"
            } else {
                "errored"
            };
            return Err(format!(
                "step `{}` {what}: {}",
                step.id,
                step.reason.as_deref().unwrap_or("no reason given")
            ));
        }
    }
    if let Some(response) = step.exchange.as_ref().and_then(|e| e.response.as_ref()) {
        return if (200..300).contains(&response.status) {
            Ok(())
        } else {
            Err(format!(
                "step `{}` was answered {}, not a success",
                step.id, response.status
            ))
        };
    }
    if let Some(bad) = step
        .checks
        .iter()
        .find(|c| matches!(c.verdict, Verdict::Failed(_) | Verdict::Errored { .. }))
    {
        let verdict = match &bad.verdict {
            Verdict::Failed(_) => "failed",
            _ => "errored",
        };
        return Err(format!(
            "step `{}` did not succeed: its check `{}` {verdict}",
            step.id, bad.id
        ));
    }
    Ok(())
}

/// A positive control: accepted, or, when the valid request is one the server answers with an
/// error on purpose (a known client's bad code is `invalid_grant`, not `invalid_client`), every
/// check of it passed (a warning is no pass: a read answered 401 whose SHOULD status check
/// warned shows no accepted request); and at least one of its checks passed (a control whose
/// checks were all skipped shows nothing).
fn succeeded(step: &StepReport) -> Result<(), String> {
    if let Err(why) = accepted(step) {
        let all_passed = step.state == StepState::Ran
            && step
                .checks
                .iter()
                .all(|c| matches!(c.verdict, Verdict::Passed | Verdict::Skipped { .. }));
        if !all_passed {
            return Err(why);
        }
    }
    if !step
        .checks
        .iter()
        .any(|c| matches!(c.verdict, Verdict::Passed | Verdict::Warned(_)))
    {
        return Err(format!("step `{}` has no passed check", step.id));
    }
    Ok(())
}

/// Why a step cannot mean anything: an earlier step it `needs` did not succeed.
fn unmet_need(step: &Step, done: &[StepReport]) -> Option<String> {
    step.needs.iter().find_map(|need| {
        let report = done.iter().find(|s| &s.id == need)?;
        let why = accepted(report).err()?;
        Some(format!("prerequisite not met: {why}"))
    })
}

/// Records the credentials of the newest successful token response of the case as
/// `{{ newest.access_token }}` (and `refresh_token`, `id_token`, `patient`, `step`): a read
/// after a refresh uses the token the refresh gave, since a server may end the old one.
fn remember_newest_tokens(report: &StepReport, step_id: &str, context: &mut Value) {
    if report.state != StepState::Ran {
        return;
    }
    let status_ok = report
        .exchange
        .as_ref()
        .and_then(|e| e.response.as_ref())
        .is_none_or(|r| (200..300).contains(&r.status));
    let answer = &context["steps"][step_id]["json"];
    if !status_ok || !answer["access_token"].is_string() {
        return;
    }
    let mut newest = context["newest"].as_object().cloned().unwrap_or_default();
    for key in ["access_token", "refresh_token", "id_token", "patient"] {
        if let Some(value) = answer.get(key).filter(|v| v.is_string()) {
            newest.insert(key.to_string(), value.clone());
        }
    }
    newest.insert("step".into(), Value::String(step_id.to_string()));
    context["newest"] = Value::Object(newest);
}

/// A refusal proves something only when the same server accepted the matching valid request:
/// the judged checks (passed, failed or warned) of a step whose `control` step did not succeed
/// become errored. No control, no verdict: a server that refuses everything has not shown that
/// it refuses this request for its fault, nor which error code it would give.
fn apply_positive_controls(case: &Case, steps: &mut [StepReport]) {
    for (index, step) in case.steps.iter().enumerate() {
        let Some(control) = &step.control else {
            continue;
        };
        let outcome = match steps.iter().find(|s| &s.id == control) {
            Some(report) => succeeded(report),
            None => Err(format!("step `{control}` did not run")),
        };
        let Err(why) = outcome else {
            continue;
        };
        let Some(report) = steps.get_mut(index) else {
            continue;
        };
        for check in &mut report.checks {
            if matches!(
                check.verdict,
                Verdict::Passed | Verdict::Failed(_) | Verdict::Warned(_)
            ) {
                check.verdict = Verdict::Errored {
                    reason: format!(
                        "no positive control: {why}; a refusal proves nothing unless the same server accepted the matching valid request in this case"
                    ),
                };
            }
        }
    }
}

async fn run_step(
    run: &TargetRun,
    step: &Step,
    context: &mut Value,
    state: &mut CaseState,
    settings: &RunSettings,
) -> StepReport {
    if let Some(when) = &step.when {
        if let Err(reason) = when_holds(when, context) {
            let verdict = Verdict::Skipped {
                reason: reason.clone(),
            };
            return step_report(step, StepState::Skipped, Some(reason), &verdict);
        }
    }
    let started = Instant::now();
    let browser_before = state.browser_time;
    let phases_before = state.browser_phases;
    let result = act(run, step, context, state, settings).await;
    let mut report = step_report(step, StepState::Ran, None, &Verdict::Passed);
    report.duration_ms = started.elapsed().as_millis() as u64;
    report.browser_ms = state
        .browser_time
        .saturating_sub(browser_before)
        .as_millis() as u64;
    let phases = state.browser_phases.since(&phases_before);
    report.browser_phases = (!phases.is_empty()).then_some(phases);
    report.related = result.related;
    report.artifacts = result.artifacts;
    report.result = result.document.clone();
    if let Some(exchange) = &result.exchange {
        report.duration_ms = exchange.duration_ms;
    }
    report.exchange = result.exchange;
    if let Some(end) = step_end(result.end, &report.exchange) {
        end_checks(step, &mut report, end);
        if let Some(doc) = result.document {
            context["steps"][step.id.as_str()] = json!({ "json": doc });
        }
        return report;
    }
    context["steps"][step.id.as_str()] = match (&report.exchange, &result.document) {
        (Some(exchange), _) => step_context(exchange),
        (None, Some(doc)) => json!({ "json": doc }),
        (None, None) => json!({}),
    };
    if let Some(exchange) = &report.exchange {
        for (name, source) in &step.capture {
            if let Some(value) = capture(source, exchange) {
                context["vars"][name.as_str()] = value;
            }
        }
    }
    let reading = Reading::of(step, report.exchange.as_ref(), &result.document);
    report.checks = step
        .checks
        .iter()
        .map(|check| {
            let verdict = reading.verdict(run, check, &result.document, context, settings);
            check_report(check, verdict)
        })
        .collect();
    report
}

/// Why a step did not get to its checks: the step said so, or its exchange got no answer.
fn step_end(end: Option<ActionEnd>, exchange: &Option<Exchange>) -> Option<ActionEnd> {
    match (end, exchange) {
        (Some(end), _) => Some(end),
        (None, Some(exchange)) if exchange.response.is_none() => Some(ActionEnd::Error(format!(
            "{} {}: {}",
            exchange.request.method,
            exchange.request.url,
            exchange.error.clone().unwrap_or_default()
        ))),
        _ => None,
    }
}

/// A step that did not get to its checks: each check takes the step's skip or error.
fn end_checks(step: &Step, report: &mut StepReport, end: ActionEnd) {
    let (state_kind, reason, verdict) = match end {
        ActionEnd::Skip(reason) => (
            StepState::Skipped,
            reason.clone(),
            Verdict::Skipped { reason },
        ),
        ActionEnd::Error(reason) => (
            StepState::Errored,
            reason.clone(),
            Verdict::Errored { reason },
        ),
    };
    report.state = state_kind;
    report.reason = Some(reason.clone());
    for check in &mut report.checks {
        check.verdict = verdict.clone();
    }
    // A step without checks that could not be carried out still errors its case.
    if report.state == StepState::Errored && report.checks.is_empty() {
        report.checks.push(CheckReport {
            id: format!("{}-step", step.id),
            title: format!("step `{}` can be carried out", step.id),
            level: Level::Shall,
            requirements: Vec::new(),
            implied: None,
            location: step.location.clone(),
            verdict: Verdict::Errored { reason },
        });
    }
}

/// What a step's checks read (its HTTP response, or the document the step made), and what
/// of it already settles some of them.
struct Reading<'a> {
    /// Borrowed from the exchange: a large answer is not copied for its checks.
    response: std::borrow::Cow<'a, RecordedResponse>,
    /// The step's own status check failed with a non-2xx answer (an error page, a 404).
    status_failed: bool,
    /// The body is not JSON and this SHALL check of the step, that it is a JSON object,
    /// judges that.
    json_judged_by: Option<&'a Check>,
}

impl<'a> Reading<'a> {
    fn of(step: &'a Step, exchange: Option<&'a Exchange>, document: &Option<Value>) -> Self {
        let empty = || std::borrow::Cow::Owned(document_response(&json!({})));
        let (response, from_http) = match (exchange, document) {
            (Some(exchange), _) => match &exchange.response {
                Some(r) => (std::borrow::Cow::Borrowed(r), true),
                // Exchanges without a response ended the step before its checks.
                None => (empty(), false),
            },
            (None, Some(doc)) => (std::borrow::Cow::Owned(document_response(doc)), false),
            (None, None) => (empty(), false),
        };
        // When the step's own status check fails with a non-2xx answer, its other checks
        // would only restate that: they are skipped, naming the status. A refusal step
        // expecting a 4xx keeps evaluating: its `error` code still says why the server
        // refused, whatever the status.
        let status_failed = from_http
            && !(200..300).contains(&response.status)
            && step.checks.iter().any(|c| {
                c.status.as_ref().is_some_and(|s| {
                    !s.accepts(response.status) && (200..300).any(|code| s.accepts(code))
                })
            });
        // When the body is not JSON and the step's own SHALL check that it is a JSON object
        // fails for it, the checks that read JSON fields would only restate that failure
        // (errored, one each): they are skipped, naming the check that judges it.
        let json_judged_by = (from_http
            && serde_json::from_str::<serde::de::IgnoredAny>(&response.body).is_err())
        .then(|| {
            step.checks.iter().find(|c| {
                c.level == Level::Shall
                    && c.body
                        .as_ref()
                        .is_some_and(|b| b.is_json_object == Some(true))
            })
        })
        .flatten();
        Reading {
            response,
            status_failed,
            json_judged_by,
        }
    }

    /// One check's verdict.
    fn verdict(
        &self,
        run: &TargetRun,
        check: &Check,
        document: &Option<Value>,
        context: &Value,
        settings: &RunSettings,
    ) -> Verdict {
        let supplied = supplied_by_target(check, document);
        match check.when.as_ref().map(|w| when_holds(w, context)) {
            Some(Err(reason)) => Verdict::Skipped { reason },
            _ if supplied.is_some() => Verdict::Skipped {
                reason: format!(
                    "not evaluated: it reads `{}`, which the target supplied (`discovery` in {}), not the server; a check of the target's own word proves nothing",
                    supplied.unwrap_or_default(),
                    run.target.file
                ),
            },
            _ if check.json.is_some() && self.json_judged_by.is_some() => Verdict::Skipped {
                reason: format!(
                    "not evaluated: the response body cannot be read as JSON, which check `{}` judges",
                    self.json_judged_by.map(|c| c.id.as_str()).unwrap_or_default()
                ),
            },
            _ if self.status_failed && check.status.is_none() => Verdict::Skipped {
                reason: format!(
                    "not evaluated: the server answered {}, not the status this step expects",
                    self.response.status
                ),
            },
            _ => match evaluate(check, &self.response, context) {
                Evaluation::Matched => Verdict::Passed,
                Evaluation::Mismatched(m) if check.level == Level::Shall || settings.strict => {
                    Verdict::Failed(m)
                }
                Evaluation::Mismatched(m) => Verdict::Warned(m),
                Evaluation::Error(reason) => Verdict::Errored { reason },
                Evaluation::Skip(reason) => Verdict::Skipped { reason },
            },
        }
    }
}

/// The field of a `discover` result that a JSON check reads, when the target supplied it (its
/// `discovery` values, which `sources` marks): the check would judge the target's word, not
/// the server. `capability_sets` stand on `capabilities`.
fn supplied_by_target(check: &Check, document: &Option<Value>) -> Option<String> {
    let sources = document.as_ref()?.get("sources")?;
    let path = &check.json.as_ref()?.path;
    let field: String = path
        .strip_prefix("$.")?
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    let stands_on = if field == "capability_sets" {
        "capabilities"
    } else {
        field.as_str()
    };
    (sources.get(stands_on)?.as_str()? == crate::smart::discovery::FROM_TARGET)
        .then(|| stands_on.to_string())
}

/// A built-in step's document, in the shape checks read (`json` paths on its body).
fn document_response(doc: &Value) -> RecordedResponse {
    let body = doc.to_string();
    RecordedResponse {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body_bytes: body.len(),
        body,
    }
}

/// Carries out the step's one action.
async fn act(
    run: &TargetRun,
    step: &Step,
    context: &Value,
    state: &mut CaseState,
    settings: &RunSettings,
) -> ActionResult {
    if let Some(request) = &step.request {
        let request = match render(request, context) {
            Ok(r) => r,
            Err(RenderError::Missing(m)) => {
                return ActionResult {
                    end: Some(ActionEnd::Skip(format!("prerequisite missing: {m}"))),
                    ..Default::default()
                }
            }
            Err(RenderError::Invalid(e)) => {
                return ActionResult {
                    end: Some(ActionEnd::Error(e)),
                    ..Default::default()
                }
            }
        };
        return super::actions::send(run, request, settings).await;
    }
    let input = super::actions::StepInput {
        step_id: &step.id,
        state,
        run,
        context,
        settings,
    };
    if let Some(result) = super::actions::run_builtin(step, input).await {
        return result;
    }
    ActionResult {
        end: Some(ActionEnd::Error("the step has no action".into())),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::RecordedRequest;

    fn answered(status: u16, verdicts: &[Verdict]) -> StepReport {
        StepReport {
            id: "read".into(),
            title: None,
            state: StepState::Ran,
            reason: None,
            location: Default::default(),
            duration_ms: 0,
            browser_ms: 0,
            browser_phases: None,
            exchange: Some(Exchange {
                request: RecordedRequest {
                    method: "GET".into(),
                    url: "http://127.0.0.1/fhir/Patient/1".into(),
                    headers: vec![],
                    body: None,
                },
                response: Some(RecordedResponse {
                    status,
                    headers: vec![],
                    body: String::new(),
                    body_bytes: 0,
                }),
                error: None,
                started_at: String::new(),
                duration_ms: 1,
                retried_after: None,
                withheld: None,
            }),
            related: vec![],
            result: None,
            artifacts: vec![],
            checks: verdicts
                .iter()
                .map(|v| CheckReport {
                    id: "c".into(),
                    title: "t".into(),
                    level: Default::default(),
                    requirements: vec![],
                    implied: None,
                    location: Default::default(),
                    verdict: v.clone(),
                })
                .collect(),
        }
    }

    #[test]
    fn a_control_whose_check_only_warned_on_an_error_answer_accepted_nothing() {
        let mismatch = || crate::check::verdict::Mismatch {
            expected: "200".into(),
            actual: "401".into(),
        };
        let warned = answered(401, &[Verdict::Warned(mismatch())]);
        let why = succeeded(&warned).unwrap_err();
        assert!(why.contains("answered 401"), "{why}");
        // A 2xx is accepted whatever its SHOULD checks say; an error answer every check of
        // which passed is a control that answers with an error on purpose.
        assert!(succeeded(&answered(200, &[Verdict::Warned(mismatch())])).is_ok());
        assert!(succeeded(&answered(400, &[Verdict::Passed])).is_ok());
    }

    #[test]
    fn a_step_context_has_exactly_the_fields_templates_may_name() {
        let exchange = Exchange {
            request: RecordedRequest {
                method: "GET".into(),
                url: "http://127.0.0.1/fhir/metadata".into(),
                headers: vec![],
                body: None,
            },
            response: Some(RecordedResponse {
                status: 200,
                headers: vec![("Content-Type".into(), "application/json".into())],
                body: "{}".into(),
                body_bytes: 2,
            }),
            error: None,
            started_at: String::new(),
            duration_ms: 1,
            retried_after: None,
            withheld: None,
        };
        let context = step_context(&exchange);
        let mut keys: Vec<&str> = context
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        let mut known = STEP_FIELDS.to_vec();
        known.sort_unstable();
        assert_eq!(keys, known);
    }
}
