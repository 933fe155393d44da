//! Runs one case against one target: steps in order, each step's checks, the case context.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Map, Value};
use tokio_util::sync::CancellationToken;

use super::request::{render, RenderError};
use crate::check::{condition_holds, evaluate, Evaluation, Verdict};
use crate::http::{Exchange, HttpClient};
use crate::redact::Redactor;
use crate::report::model::SpecInfo;
use crate::report::{CaseReport, CheckReport, StepReport, StepState};
use crate::suite::model::{Capture, Check, Level};
use crate::suite::{Case, Step, Suite, Target};

/// Everything a case needs from its target.
pub struct TargetRun {
    pub target: Target,
    pub client: HttpClient,
}

/// Settings shared by every case of a run.
#[derive(Clone)]
pub struct RunSettings {
    pub strict: bool,
    pub redactor: Redactor,
    pub cancel: CancellationToken,
}

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
    }
}

fn check_report(check: &Check, verdict: Verdict) -> CheckReport {
    CheckReport {
        id: check.id.clone(),
        title: check.title.clone(),
        level: check.level,
        requirement: check.requirement.clone(),
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
        exchange: None,
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
    let secrets: Map<String, Value> = run
        .target
        .secrets
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.expose_secret().to_string())))
        .collect();
    let mut context = json!({
        "target": run.target.context(),
        "steps": {},
        "vars": {},
        "secrets": secrets,
    });
    for step in &case.steps {
        if settings.cancel.is_cancelled() {
            let verdict = Verdict::Skipped {
                reason: "interrupted (Ctrl-C)".to_string(),
            };
            report.steps.push(step_report(
                step,
                StepState::Skipped,
                Some("interrupted (Ctrl-C)".into()),
                &verdict,
            ));
            continue;
        }
        report
            .steps
            .push(run_step(&run, step, &mut context, &settings).await);
    }
    report.duration_ms = started.elapsed().as_millis() as u64;
    report.outcome = CaseReport::outcome_of(&report.steps);
    if report.outcome == crate::report::CaseOutcome::Skipped {
        report.reason = report
            .steps
            .iter()
            .flat_map(|s| s.checks.iter())
            .find_map(|c| match &c.verdict {
                Verdict::Skipped { reason } => Some(reason.clone()),
                _ => None,
            });
    }
    report
}

async fn run_step(
    run: &TargetRun,
    step: &Step,
    context: &mut Value,
    settings: &RunSettings,
) -> StepReport {
    if let Some(cond) = &step.when {
        if let Err(reason) = condition_holds(cond, context) {
            let verdict = Verdict::Skipped {
                reason: reason.clone(),
            };
            return step_report(step, StepState::Skipped, Some(reason), &verdict);
        }
    }
    let request = match render(&step.request, context) {
        Ok(r) => r,
        Err(RenderError::Missing(m)) => {
            let reason = format!("prerequisite missing: {m}");
            let verdict = Verdict::Skipped {
                reason: reason.clone(),
            };
            return step_report(step, StepState::Skipped, Some(reason), &verdict);
        }
        Err(RenderError::Invalid(e)) => {
            let verdict = Verdict::Errored { reason: e.clone() };
            return step_report(step, StepState::Errored, Some(e), &verdict);
        }
    };
    let exchange = run.client.send(request, &settings.cancel).await;
    exchange.learn_secrets(&settings.redactor);
    let duration_ms = exchange.duration_ms;
    let Some(response) = exchange.response.clone() else {
        let reason = format!(
            "{} {}: {}",
            exchange.request.method,
            exchange.request.url,
            exchange.error.clone().unwrap_or_default()
        );
        let verdict = Verdict::Errored {
            reason: reason.clone(),
        };
        let mut report = step_report(step, StepState::Errored, Some(reason), &verdict);
        report.duration_ms = duration_ms;
        report.exchange = Some(exchange);
        return report;
    };
    context["steps"][step.id.as_str()] = step_context(&exchange);
    for (name, source) in &step.capture {
        if let Some(value) = capture(source, &exchange) {
            context["vars"][name.as_str()] = value;
        }
    }
    // When the step's own status check fails with a non-2xx answer (an error page, a 404),
    // its other checks would only restate that: they are skipped, naming the status.
    let status_failed = !(200..300).contains(&response.status)
        && step.checks.iter().any(|c| {
            c.status
                .as_ref()
                .is_some_and(|s| !s.accepts(response.status))
        });
    let checks = step
        .checks
        .iter()
        .map(|check| {
            let verdict = match check.when.as_ref().map(|c| condition_holds(c, context)) {
                Some(Err(reason)) => Verdict::Skipped { reason },
                _ if status_failed && check.status.is_none() => Verdict::Skipped {
                    reason: format!(
                        "not evaluated: the server answered {}, not the status this step expects",
                        response.status
                    ),
                },
                _ => match evaluate(check, &response, context) {
                    Evaluation::Matched => Verdict::Passed,
                    Evaluation::Mismatched(m) if check.level == Level::Shall || settings.strict => {
                        Verdict::Failed(m)
                    }
                    Evaluation::Mismatched(m) => Verdict::Warned(m),
                    Evaluation::Error(reason) => Verdict::Errored { reason },
                    Evaluation::Skip(reason) => Verdict::Skipped { reason },
                },
            };
            check_report(check, verdict)
        })
        .collect();
    StepReport {
        id: step.id.clone(),
        title: step.title.clone(),
        state: StepState::Ran,
        reason: None,
        location: step.location.clone(),
        duration_ms,
        exchange: Some(exchange),
        checks,
    }
}
