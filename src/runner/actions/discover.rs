//! `discover`: the server's SMART endpoints and capabilities as an app finds them. It reads
//! `.well-known/smart-configuration`, and the CapabilityStatement's `oauth-uris` when endpoints
//! are still missing (STU1 servers publish only those), and lays the target's `discovery`
//! values over both. The result is a smart-configuration-shaped document with `sources`, and
//! `capability_sets`: the SMART 2.2 Capability Sets its capabilities satisfy.

use serde_json::{json, Value};

use super::{render, ActionEnd, ActionResult, Builtin, StepInput};
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
        Some(b) => tri!(render(b, context)),
        None => run.target.fhir_base_str(),
    };
    let base = base.trim_end_matches('/').to_string();
    let mut related = Vec::new();
    let config_url = format!("{base}/.well-known/smart-configuration");
    let (config_status, config) = read_json(run, settings, config_url, "application/json").await;
    related.push(config.1);
    let config = config.0;
    let target = &run.target.discovery;
    let has = |field: &str| {
        target.contains_key(field) || config.as_ref().is_ok_and(|c| c.get(field).is_some())
    };
    // SMART 1.0 (and STU1 servers) name the endpoints in the CapabilityStatement; read it when
    // smart-configuration leaves an endpoint the flows need unnamed.
    let flows_need = [
        "authorization_endpoint",
        "token_endpoint",
        "registration_endpoint",
    ];
    let (mut metadata_status, mut metadata) = (None, None);
    if flows_need.iter().any(|f| !has(f)) {
        let url = format!("{base}/metadata");
        let (status, (read, exchange)) =
            read_json(run, settings, url, "application/fhir+json").await;
        related.push(exchange);
        (metadata_status, metadata) = (status, Some(read));
    }
    let found_metadata = metadata.as_ref().and_then(|m| m.as_ref().ok());
    let mut document = discovery::merge(config.as_ref().ok(), found_metadata, target);
    if let Some(caps) = document["capabilities"].as_array() {
        let caps: Vec<&str> = caps.iter().filter_map(Value::as_str).collect();
        document["capability_sets"] = json!(discovery::capability_sets(&caps));
    }
    document["documents"] = json!({
        "smart-configuration": config_status,
        "capability-statement": metadata_status,
    });
    let end = no_endpoints(&related, &document, config.err(), metadata);
    ActionResult {
        related,
        document: Some(document),
        end,
        ..Default::default()
    }
}

/// A JSON object read with a GET: the answer's status, and the object or what is wrong with
/// the answer, with the exchange.
async fn read_json(
    run: &TargetRun,
    settings: &RunSettings,
    url: String,
    accept: &str,
) -> (Option<u16>, (Result<Value, String>, Exchange)) {
    let exchange = run.client.send(get(url, accept), &settings.cancel).await;
    exchange.learn_secrets(&settings.redactor);
    let status = exchange.response.as_ref().map(|r| r.status);
    (status, (json_object(&exchange), exchange))
}

/// Why discovery ends the step when it found neither an authorization nor a token endpoint:
/// a server that answered nothing at all is not reachable, which errors the step (and the
/// case); a server that answered without endpoints only leaves the flows nothing to do.
fn no_endpoints(
    related: &[Exchange],
    document: &Value,
    config_problem: Option<String>,
    metadata: Option<Result<Value, String>>,
) -> Option<ActionEnd> {
    let found = |f: &str| document.get(f).is_some_and(|v| v.is_string());
    if found("authorization_endpoint") || found("token_endpoint") {
        return None;
    }
    if !related.iter().any(|e| e.response.is_some()) {
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
        return Some(ActionEnd::Error(format!(
            "the server cannot be reached for discovery: {}",
            why.join("; ")
        )));
    }
    let mut why = vec![format!(
        ".well-known/smart-configuration {}",
        config_problem.unwrap_or_else(|| "names neither".into())
    )];
    match metadata {
        Some(Ok(_)) => why.push("/metadata names no oauth-uris".into()),
        Some(Err(problem)) => why.push(format!("/metadata {problem}")),
        None => {}
    }
    Some(ActionEnd::Skip(format!(
        "no authorization or token endpoint found: {}; a target may supply them under `discovery`",
        why.join("; ")
    )))
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
