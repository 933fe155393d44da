//! `discover`: the server's SMART endpoints and capabilities as an app finds them. It reads
//! `.well-known/smart-configuration`, and the CapabilityStatement's `oauth-uris` when endpoints
//! are still missing (STU1 servers publish only those), and lays the target's `discovery`
//! values over both. The result is a smart-configuration-shaped document with `sources`, and
//! `capability_sets`: the SMART 2.2 Capability Sets its capabilities satisfy.

use serde_json::{json, Value};

use super::{render, ActionResult, Builtin, StepInput};
use crate::http::{Exchange, OutgoingRequest};
use crate::runner::context::{RunSettings, TargetRun};
use crate::smart::discovery;
use crate::suite::model::DiscoverAction;

/// A JSON object from a 2xx answer, or why not.
fn json_object(exchange: &Exchange) -> Result<Value, String> {
    let Some(response) = &exchange.response else {
        return Err(format!(
            "no answer ({})",
            exchange.error.as_deref().unwrap_or("no response")
        ));
    };
    if !(200..300).contains(&response.status) {
        return Err(format!("answered {}", response.status));
    }
    match serde_json::from_str::<Value>(&response.body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err("answered JSON that is not an object".into()),
        Err(e) => Err(format!(
            "answered a body that {} ({e})",
            crate::check::eval::json_problem(&e)
        )),
    }
}

fn get(url: String, accept: &str) -> OutgoingRequest {
    OutgoingRequest {
        method: "GET".into(),
        url,
        headers: vec![("Accept".into(), accept.into())],
        body: None,
    }
}

/// `discover`.
pub async fn discover(
    action: &DiscoverAction,
    run: &TargetRun,
    context: &Value,
    settings: &RunSettings,
) -> ActionResult {
    let base = match &action.base {
        Some(b) => match render(b, context) {
            Ok(b) => b,
            Err(end) => return ActionResult::from(end),
        },
        None => run.target.fhir_base_str(),
    };
    let base = base.trim_end_matches('/').to_string();
    let mut related = Vec::new();
    let config_exchange = run
        .client
        .send(
            get(
                format!("{base}/.well-known/smart-configuration"),
                "application/json",
            ),
            &settings.cancel,
        )
        .await;
    config_exchange.learn_secrets(&settings.redactor);
    let config = json_object(&config_exchange);
    let config_status = config_exchange.response.as_ref().map(|r| r.status);
    related.push(config_exchange);
    let target = &run.target.discovery;
    let has = |field: &str| {
        target.contains_key(field) || config.as_ref().is_ok_and(|c| c.get(field).is_some())
    };
    // SMART 1.0 (and STU1 servers) name the endpoints in the CapabilityStatement; read it when
    // smart-configuration leaves an endpoint the flows need unnamed.
    let mut metadata = None;
    let mut metadata_status = None;
    let mut metadata_problem = None;
    if [
        "authorization_endpoint",
        "token_endpoint",
        "registration_endpoint",
    ]
    .iter()
    .any(|f| !has(f))
    {
        let exchange = run
            .client
            .send(
                get(format!("{base}/metadata"), "application/fhir+json"),
                &settings.cancel,
            )
            .await;
        exchange.learn_secrets(&settings.redactor);
        metadata_status = exchange.response.as_ref().map(|r| r.status);
        match json_object(&exchange) {
            Ok(m) => metadata = Some(m),
            Err(e) => metadata_problem = Some(e),
        }
        related.push(exchange);
    }
    let mut document = discovery::merge(config.as_ref().ok(), metadata.as_ref(), target);
    if let Some(caps) = document["capabilities"].as_array() {
        let caps: Vec<&str> = caps.iter().filter_map(Value::as_str).collect();
        document["capability_sets"] = json!(discovery::capability_sets(&caps));
    }
    document["documents"] = json!({
        "smart-configuration": config_status,
        "capability-statement": metadata_status,
    });
    let found = |f: &str| document.get(f).is_some_and(|v| v.is_string());
    // A server that answered nothing at all is not reachable: that errors the step (and the
    // case), where a server that answered without endpoints only leaves the flows nothing to do.
    let answered = related.iter().any(|e| e.response.is_some());
    if !answered && !found("authorization_endpoint") && !found("token_endpoint") {
        let why: Vec<String> = related
            .iter()
            .map(|e| {
                format!(
                    "GET {}: {}",
                    e.request.url,
                    e.error.as_deref().unwrap_or("no response")
                )
            })
            .collect();
        return ActionResult {
            related,
            document: Some(document),
            ..ActionResult::error(format!(
                "the server cannot be reached for discovery: {}",
                why.join("; ")
            ))
        };
    }
    if !found("authorization_endpoint") && !found("token_endpoint") {
        let mut why = vec![format!(
            ".well-known/smart-configuration {}",
            config.err().unwrap_or_else(|| "names neither".into())
        )];
        match (&metadata, &metadata_problem) {
            (Some(_), _) => why.push("/metadata names no oauth-uris".into()),
            (None, Some(problem)) => why.push(format!("/metadata {problem}")),
            (None, None) => {}
        }
        return ActionResult {
            related,
            document: Some(document),
            ..ActionResult::skip(format!(
                "no authorization or token endpoint found: {}; a target may supply them under `discovery`",
                why.join("; ")
            ))
        };
    }
    ActionResult {
        related,
        document: Some(document),
        ..Default::default()
    }
}

impl Builtin for DiscoverAction {
    async fn run(&self, i: StepInput<'_>) -> ActionResult {
        let result = discover(self, i.run, i.context, i.settings).await;
        if let Some(document) = &result.document {
            i.state.offered_scopes = crate::smart::scopes::Offered::from_discovery(document);
        }
        result
    }
}
