//! SMART App State (SMART App Launch 2.2 §smart-app-state) on the reference server's FHIR base:
//! `Basic` resources created, updated and deleted by apps under `If-Match`, and found by state
//! code and subject. Access follows the token's `patient/Basic` and `user/Basic` scopes: the
//! in-context patient's state, the signed-in user's own state, and (with a `user/` scope)
//! global state without a subject.

use std::collections::HashMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::fhir::{caller, insufficient_scope, outcome};
use super::oauth::Params;
use super::scopes::{self, Context, Interaction};
use super::server::Shared;
use super::store::Grant;

/// The subject types an EHR SHALL support for App State (§Managing app state: Create).
const SUBJECT_TYPES: &[&str] = &[
    "Patient",
    "Practitioner",
    "PractitionerRole",
    "RelatedPerson",
    "Person",
];
/// The largest App State resource accepted (the §Create default of 256 KB).
const MAX_SIZE: usize = 256 * 1024;
const BASIC: &str = "Basic";

/// The App State resources, and the ids of deleted ones (requests about them are failed
/// preconditions).
#[derive(Default)]
pub struct AppStates {
    live: HashMap<String, Value>,
    deleted: Vec<String>,
    next: u64,
}

fn bad_request(text: &str) -> Response {
    outcome(StatusCode::BAD_REQUEST, "invalid", text, None)
}

fn not_found() -> Response {
    outcome(
        StatusCode::NOT_FOUND,
        "not-found",
        "no such App State resource",
        None,
    )
}

fn precondition_failed(text: &str) -> Response {
    outcome(StatusCode::PRECONDITION_FAILED, "conflict", text, None)
}

/// `W/"3"` (or `"3"`) → `3`.
fn etag_version(value: &str) -> &str {
    value.trim().trim_start_matches("W/").trim_matches('"')
}

fn version_of(resource: &Value) -> &str {
    resource["meta"]["versionId"].as_str().unwrap_or_default()
}

/// The state code as searched: `system|code` of the first coding.
fn code_of(resource: &Value) -> String {
    let coding = &resource["code"]["coding"][0];
    format!(
        "{}|{}",
        coding["system"].as_str().unwrap_or_default(),
        coding["code"].as_str().unwrap_or_default()
    )
}

fn subject_of(resource: &Value) -> Option<&str> {
    resource["subject"]["reference"].as_str()
}

/// Whether the token may carry out this interaction on state about `subject` (absolute), or on
/// global state when `None`.
fn may(shared: &Shared, grant: &Grant, subject: Option<&str>, interaction: Interaction) -> bool {
    let allowed = scopes::permitting(&grant.scope, BASIC, interaction);
    let with = |context: Context| allowed.iter().any(|s| s.context == context);
    let Some(subject) = subject else {
        // Global app configuration: for an app acting for a user.
        return with(Context::User) && grant.username.is_some();
    };
    let patient = grant
        .patient
        .as_ref()
        .map(|p| format!("{}/Patient/{p}", shared.fhir_base()));
    let is_patient = patient.as_deref() == Some(subject);
    let is_user = grant.fhir_user.as_deref() == Some(subject);
    (is_patient && (with(Context::Patient) || with(Context::User)))
        || (is_user && with(Context::User))
}

fn forbidden(shared: &Shared) -> Response {
    insufficient_scope(
        shared,
        "the token's scopes do not allow this App State interaction for that subject",
    )
}

/// The App State resource as answered, with `ETag` (and `Location` when created).
fn answer(shared: &Shared, status: StatusCode, resource: &Value) -> Response {
    let faults = &shared.faults;
    let mut shown = resource.clone();
    if faults.has("app-state-create-no-id") {
        shown.as_object_mut().map(|o| o.remove("id"));
    }
    if faults.has("app-state-no-version-id") {
        shown.as_object_mut().map(|o| o.remove("meta"));
    }
    if faults.has("app-state-subject-not-echoed") {
        shown.as_object_mut().map(|o| o.remove("subject"));
    }
    if faults.has("app-state-code-not-echoed") {
        shown.as_object_mut().map(|o| o.remove("code"));
    }
    if faults.has("app-state-extension-dropped") {
        shown.as_object_mut().map(|o| o.remove("extension"));
    }
    let id = resource["id"].as_str().unwrap_or_default();
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/fhir+json")],
        shown.to_string(),
    )
        .into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("W/\"{}\"", version_of(resource))) {
        headers.insert(header::ETAG, v);
    }
    if status == StatusCode::CREATED {
        let location = format!(
            "{}/Basic/{id}/_history/{}",
            shared.fhir_base(),
            version_of(resource)
        );
        if let Ok(v) = HeaderValue::from_str(&location) {
            headers.insert(header::LOCATION, v);
        }
    }
    response
}

/// What §Create asks of a submitted App State resource, or why it is refused.
fn validate(shared: &Shared, body: &str, for_update: Option<&str>) -> Result<Value, Response> {
    if body.len() > MAX_SIZE {
        return Err(bad_request("an App State resource may not exceed 256 KB"));
    }
    let resource: Value = serde_json::from_str(body)
        .map_err(|e| bad_request(&format!("the body is not JSON: {e}")))?;
    if resource["resourceType"] != BASIC {
        return Err(bad_request("App State is a Basic resource"));
    }
    match for_update {
        None if resource.get("id").is_some() => {
            return Err(bad_request("Basic.id is assigned by the server"))
        }
        Some(id) if resource["id"].as_str() != Some(id) => {
            return Err(bad_request("Basic.id must match the id in the URL"))
        }
        _ => {}
    }
    if for_update.is_none() && resource["meta"]["versionId"].is_string() {
        return Err(bad_request(
            "Basic.meta.versionId is assigned by the server",
        ));
    }
    let codings = resource["code"]["coding"].as_array().map(Vec::len);
    if codings != Some(1) {
        return Err(bad_request("Basic.code.coding holds exactly one Coding"));
    }
    if let Some(subject) = resource.get("subject") {
        let reference = subject["reference"].as_str().unwrap_or_default();
        let relative = reference
            .strip_prefix(&format!("{}/", shared.fhir_base()))
            .unwrap_or_default();
        let kind = relative.split('/').next().unwrap_or_default();
        if !SUBJECT_TYPES.contains(&kind) || relative.split('/').count() != 2 {
            return Err(bad_request(
                "Basic.subject is an absolute reference to a Patient, Practitioner, PractitionerRole, RelatedPerson or Person of this server",
            ));
        }
    }
    let extensions_ok = resource["extension"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|e| {
            e["url"].is_string()
                && e.as_object()
                    .is_some_and(|o| o.keys().all(|k| k == "url" || k == "valueString"))
        });
    if !extensions_ok {
        return Err(bad_request(
            "App State extensions carry a url and a valueString",
        ));
    }
    Ok(resource)
}

/// `POST /fhir/Basic`.
pub async fn create(
    State(shared): State<Shared>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: String,
) -> Response {
    let query = Params::parse(query.as_deref().unwrap_or_default()).unwrap_or_default();
    let grant = match caller(&shared, &headers, &query) {
        Ok(g) => g,
        Err(r) => return r,
    };
    let mut resource = match validate(&shared, &body, None) {
        Ok(r) => r,
        Err(r) => return r,
    };
    if !may(&shared, &grant, subject_of(&resource), Interaction::Create) {
        return forbidden(&shared);
    }
    if shared.faults.has("app-state-patient-subject-refused")
        && subject_of(&resource).is_some_and(|s| s.contains("Patient/"))
    {
        // Wrong on purpose: Patient is one of the subjects an EHR SHALL support.
        return outcome(
            StatusCode::BAD_REQUEST,
            "not-supported",
            "this server keeps App State for Practitioners only",
            None,
        );
    }
    let mut store = shared.store.lock();
    let states = &mut store.app_states;
    if shared.faults.has("app-state-one-per-code") {
        let code = code_of(&resource);
        if states.live.values().any(|r| code_of(r) == code) {
            return outcome(
                StatusCode::CONFLICT,
                "duplicate",
                "this server keeps one App State resource per state code",
                None,
            );
        }
    }
    states.next += 1;
    let id = format!("app-state-{}", states.next);
    resource["id"] = json!(id);
    resource["meta"] = json!({"versionId": "1"});
    states.live.insert(id, resource.clone());
    drop(store);
    let status = if shared.faults.has("app-state-create-status-200") {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    answer(&shared, status, &resource)
}

/// The `If-Match` version, or the refusal when it is required and missing.
fn if_match(shared: &Shared, headers: &HeaderMap, fault: &str) -> Result<Option<String>, Response> {
    match headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) {
        Some(v) => Ok(Some(etag_version(v).to_string())),
        None if shared.faults.has(fault) => Ok(None),
        None => Err(outcome(
            StatusCode::PRECONDITION_REQUIRED,
            "required",
            "App State changes require If-Match with the current version's ETag",
            None,
        )),
    }
}

/// `PUT /fhir/Basic/{id}`.
pub async fn update(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: String,
) -> Response {
    let faults = &shared.faults;
    if faults.has("app-state-update-refused") {
        return outcome(
            StatusCode::METHOD_NOT_ALLOWED,
            "not-supported",
            "App State resources cannot be updated here",
            None,
        );
    }
    let query = Params::parse(query.as_deref().unwrap_or_default()).unwrap_or_default();
    let grant = match caller(&shared, &headers, &query) {
        Ok(g) => g,
        Err(r) => return r,
    };
    let wanted = match if_match(&shared, &headers, "app-state-put-without-if-match") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut resource = match validate(&shared, &body, Some(&id)) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let mut store = shared.store.lock();
    let states = &mut store.app_states;
    let Some(current) = states.live.get(&id).cloned() else {
        if states.deleted.contains(&id) && faults.has("app-state-deleted-resurrectable") {
            resource["meta"] = json!({"versionId": "1"});
            states.deleted.retain(|d| *d != id);
            states.live.insert(id, resource.clone());
            drop(store);
            return answer(&shared, StatusCode::CREATED, &resource);
        }
        if states.deleted.contains(&id) {
            return precondition_failed("this App State resource was deleted");
        }
        return not_found();
    };
    if !may(&shared, &grant, subject_of(&current), Interaction::Update) {
        return forbidden(&shared);
    }
    let version: u64 = version_of(&current).parse().unwrap_or(1);
    if let Some(wanted) = wanted {
        if wanted != version.to_string() && !faults.has("app-state-put-stale-accepted") {
            return precondition_failed("If-Match names a version that is not the current one");
        }
    }
    if code_of(&resource) != code_of(&current) && !faults.has("app-state-code-change-accepted") {
        return precondition_failed("Basic.code may not change");
    }
    if subject_of(&resource) != subject_of(&current)
        && !faults.has("app-state-subject-change-accepted")
    {
        return precondition_failed("Basic.subject may not change");
    }
    let mut stored = if faults.has("app-state-update-ignored") {
        current.clone()
    } else {
        resource
    };
    stored["meta"] = json!({"versionId": (version + 1).to_string()});
    states.live.insert(id, stored.clone());
    drop(store);
    answer(&shared, StatusCode::OK, &stored)
}

/// `DELETE /fhir/Basic/{id}`.
pub async fn delete(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let faults = &shared.faults;
    let query = Params::parse(query.as_deref().unwrap_or_default()).unwrap_or_default();
    let grant = match caller(&shared, &headers, &query) {
        Ok(g) => g,
        Err(r) => return r,
    };
    let wanted = match if_match(&shared, &headers, "app-state-delete-without-if-match") {
        Ok(v) => v,
        Err(r) => return r,
    };
    if faults.has("app-state-delete-refused") {
        return outcome(
            StatusCode::METHOD_NOT_ALLOWED,
            "not-supported",
            "App State resources cannot be deleted here",
            None,
        );
    }
    let mut store = shared.store.lock();
    let states = &mut store.app_states;
    let Some(current) = states.live.get(&id).cloned() else {
        if states.deleted.contains(&id) {
            if faults.has("app-state-deleted-delete-404") {
                return not_found();
            }
            return precondition_failed("this App State resource was deleted");
        }
        return not_found();
    };
    if !may(&shared, &grant, subject_of(&current), Interaction::Delete) {
        return forbidden(&shared);
    }
    if let Some(wanted) = wanted {
        if wanted != version_of(&current) && !faults.has("app-state-delete-stale-accepted") {
            return precondition_failed("If-Match names a version that is not the current one");
        }
    }
    states.live.remove(&id);
    states.deleted.push(id);
    StatusCode::NO_CONTENT.into_response()
}

/// `GET /fhir/Basic?code=system|code&subject=ref` or `&subject:missing=true`.
pub async fn search(
    State(shared): State<Shared>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let faults = &shared.faults;
    let raw = query.unwrap_or_default();
    let params = match Params::parse(&raw) {
        Ok(p) => p,
        Err(e) => return bad_request(&e),
    };
    let anonymous =
        headers.get(header::AUTHORIZATION).is_none() && faults.has("app-state-no-token-accepted");
    let grant = if anonymous {
        None
    } else {
        match caller(&shared, &headers, &params) {
            Ok(g) => Some(g),
            Err(r) => return r,
        }
    };
    let Some(code) = params.get("code").map(str::to_string) else {
        return bad_request("App State queries name a state code (`code=system|code`)");
    };
    let missing = params.get("subject:missing") == Some("true");
    if missing && faults.has("app-state-search-missing-unsupported") {
        return bad_request("the search parameter `subject:missing` is not supported");
    }
    let subject = params.get("subject").map(str::to_string);
    if subject.is_none() && !missing {
        return bad_request("App State queries name a `subject` or `subject:missing=true`");
    }
    if let Some(grant) = &grant {
        if !may(&shared, grant, subject.as_deref(), Interaction::Search) {
            return forbidden(&shared);
        }
    }
    let base = shared.fhir_base();
    let store = shared.store.lock();
    let matches: Vec<Value> = store
        .app_states
        .live
        .values()
        .filter(|r| faults.has("app-state-search-ignores-code") || code_of(r) == code)
        .filter(|r| match (&subject, subject_of(r)) {
            _ if missing && faults.has("app-state-search-no-missing-modifier") => true,
            (None, found) => found.is_none(),
            (Some(_), _) if faults.has("app-state-search-ignores-subject") => true,
            (Some(wanted), Some(found)) if faults.has("app-state-search-relative-subject-only") => {
                // Compares the relative form only, so an absolute query finds nothing.
                wanted == found.trim_start_matches(&format!("{base}/"))
            }
            (Some(wanted), found) => found == Some(wanted.as_str()),
        })
        .map(|r| {
            json!({
                "fullUrl": format!("{base}/Basic/{}", r["id"].as_str().unwrap_or_default()),
                "resource": r,
                "search": {"mode": "match"}
            })
        })
        .collect();
    drop(store);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/fhir+json")],
        json!({
            "resourceType": "Bundle",
            "type": "searchset",
            "total": matches.len(),
            "link": [{"relation": "self", "url": format!("{base}/Basic?{raw}")}],
            "entry": matches
        })
        .to_string(),
    )
        .into_response()
}
