//! Bearer-protected FHIR R4 reads and searches over the fixture data (RFC 6750; SMART App Launch
//! 2.2 §Scopes: patient/, user/ and system/ scopes, v1 and v2 permissions, the patient
//! compartment).

use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::data::patient_of;
use super::oauth::Params;
use super::scopes::{self, Context, Interaction};
use super::server::Shared;
use super::store::Grant;

pub const TYPES: &[&str] = &[
    "Patient",
    "Observation",
    "Condition",
    "Encounter",
    "Practitioner",
];

pub(super) fn outcome(
    status: StatusCode,
    code: &str,
    text: &str,
    www_authenticate: Option<String>,
) -> Response {
    let body = json!({
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": text}]
    });
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/fhir+json")],
        body.to_string(),
    )
        .into_response();
    if let Some(value) = www_authenticate.and_then(|v| v.parse().ok()) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

fn fhir_json(body: &Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/fhir+json")],
        body.to_string(),
    )
        .into_response()
}

/// The FHIR base a request was made at: `/fhir`, the EHR tenant's `/ehr/fhir` or the second
/// base `/second/fhir`, as an absolute URL.
fn base_called(shared: &Shared, uri: &Uri) -> String {
    let path = uri.path();
    for prefix in ["/ehr/fhir/", "/second/fhir/"] {
        if path.starts_with(prefix) {
            return format!("{}{}", shared.origin, prefix.trim_end_matches('/'));
        }
    }
    shared.fhir_base()
}

/// Who is asking: the grant behind the bearer token (RFC 6750 §2.1: the Authorization header).
pub(super) fn caller(
    shared: &Shared,
    headers: &HeaderMap,
    query: &Params,
) -> Result<Grant, Response> {
    let faults = &shared.faults;
    let unauthorized = |error: Option<&str>| {
        let value = if faults.has("fhir-no-www-authenticate") {
            None
        } else {
            Some(match error {
                Some(e) => format!("Bearer realm=\"smartcheck-reference\", error=\"{e}\""),
                None => "Bearer realm=\"smartcheck-reference\"".to_string(),
            })
        };
        outcome(
            StatusCode::UNAUTHORIZED,
            "login",
            "a valid bearer token is required",
            value,
        )
    };
    let Some(token) = bearer_token(faults, headers, query) else {
        if faults.has("fhir-read-without-token") {
            return Ok(Grant {
                scope: "system/*.rs".into(),
                ..Grant::default()
            });
        }
        return Err(unauthorized(None));
    };
    let store = shared.store.lock();
    let known = if faults.has("fhir-expired-token-accepted") {
        store.access_tokens.get(&token)
    } else {
        store.active_access_token(&token)
    };
    if known.is_none() && faults.has("fhir-any-issued-token-accepted") {
        // Wrong on purpose: any token this server issued opens the API, a refresh token with
        // its grant's rights and an id_token (this issuer's JWT) with system rights.
        if let Some(refresh) = store.refresh_tokens.get(&token) {
            return Ok(refresh.grant.clone());
        }
        let issuer = token
            .split('.')
            .nth(1)
            .and_then(|p| {
                base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, p).ok()
            })
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|c| c["iss"].as_str().map(str::to_string));
        if issuer.as_deref() == Some(shared.issuer().as_str()) {
            return Ok(Grant {
                scope: "system/*.rs".into(),
                ..Grant::default()
            });
        }
    }
    match known {
        Some(t) => Ok(t.grant.clone()),
        None if faults.has("fhir-invalid-token-accepted") => Ok(Grant {
            scope: "system/*.rs".into(),
            ..Grant::default()
        }),
        None => Err(unauthorized(Some("invalid_token"))),
    }
}

/// The bearer token of a request: from its Authorization header (RFC 6750 §2.1). RFC 6750
/// §2.3 allows a query-string token only where the server chooses to; this one does not
/// (SMART apps send the header), except under a fault.
fn bearer_token(
    faults: &super::faults::Faults,
    headers: &HeaderMap,
    query: &Params,
) -> Option<String> {
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_string());
    from_header.or_else(|| {
        faults
            .has("fhir-token-in-query-accepted")
            .then(|| query.get("access_token").map(str::to_string))
            .flatten()
    })
}

/// Whether one of the grant's scopes lets it see this resource.
fn visible(shared: &Shared, grant: &Grant, resource: &Value, interaction: Interaction) -> bool {
    let resource_type = resource["resourceType"].as_str().unwrap_or_default();
    let owner = patient_of(resource);
    // Under `fhir-scope-not-enforced`, every resource scope counts whatever its type.
    let candidates = if shared.faults.has("fhir-scope-not-enforced") {
        scopes::split(&grant.scope)
            .into_iter()
            .filter_map(scopes::ResourceScope::parse)
            .collect()
    } else {
        scopes::permitting(&grant.scope, resource_type, interaction)
    };
    // Under `fhir-v1-scopes-refused`, SMART v1 `.read` scopes grant nothing.
    let v1_refused = shared.faults.has("fhir-v1-scopes-refused");
    candidates
        .iter()
        .filter(|s| !(v1_refused && s.v1))
        .filter(|s| s.category_allows(resource))
        .any(|s| {
            if shared.faults.has("fhir-compartment-not-enforced") {
                return true;
            }
            match (s.context, owner) {
                (Context::System, _) => !shared.faults.has("fhir-system-scopes-refused"),
                // Resources outside every patient compartment (a Practitioner) are not patient data.
                (_, None) => true,
                (Context::Patient, Some(p)) => grant.patient.as_deref() == Some(p),
                (Context::User, Some(p)) => grant
                    .username
                    .as_deref()
                    .and_then(|u| shared.data.user(u))
                    .is_some_and(|u| u.patients.iter().any(|x| x == p)),
            }
        })
}

pub(super) fn insufficient_scope(shared: &Shared, text: &str) -> Response {
    let value = (!shared.faults.has("fhir-no-www-authenticate"))
        .then(|| "Bearer realm=\"smartcheck-reference\", error=\"insufficient_scope\"".to_string());
    outcome(StatusCode::FORBIDDEN, "forbidden", text, value)
}

/// The caller's grant, when it has a valid token and a scope for this interaction on a type
/// this server serves; otherwise the 401, 404 or 403 to answer.
fn authorized(
    shared: &Shared,
    uri: &Uri,
    headers: &HeaderMap,
    query: &Params,
    resource_type: &str,
    interaction: Interaction,
) -> Result<Grant, Response> {
    let grant = caller(shared, headers, query)?;
    // A token issued for another FHIR base (its `aud`) is not for this one.
    let base = base_called(shared, uri);
    if grant.aud.as_ref().is_some_and(|aud| *aud != base)
        && !shared.faults.has("fhir-aud-not-checked")
    {
        let value = (!shared.faults.has("fhir-no-www-authenticate"))
            .then(|| "Bearer realm=\"smartcheck-reference\", error=\"invalid_token\"".to_string());
        return Err(outcome(
            StatusCode::UNAUTHORIZED,
            "login",
            "the access token was issued for another FHIR base (aud)",
            value,
        ));
    }
    if !TYPES.contains(&resource_type) {
        return Err(outcome(
            StatusCode::NOT_FOUND,
            "not-supported",
            "this server does not serve that resource type",
            None,
        ));
    }
    let mut permitting = scopes::permitting(&grant.scope, resource_type, interaction);
    if shared.faults.has("fhir-v1-read-not-search") && interaction == Interaction::Search {
        permitting.retain(|s| !s.v1);
    }
    // Under `fhir-out-of-scope-search-empty` a search outside the scopes is answered with an
    // empty searchset instead (conforming too: no data is returned).
    let searched_empty =
        interaction == Interaction::Search && shared.faults.has("fhir-out-of-scope-search-empty");
    if permitting.is_empty() && shared.faults.has("fhir-out-of-scope-500") {
        // Wrong on purpose: no data, but a server error rather than 403 insufficient_scope.
        return Err(outcome(
            StatusCode::INTERNAL_SERVER_ERROR,
            "exception",
            "an internal error occurred",
            None,
        ));
    }
    if permitting.is_empty() && !shared.faults.has("fhir-scope-not-enforced") && !searched_empty {
        let verb = match interaction {
            Interaction::Create => "creating",
            Interaction::Read => "reading",
            Interaction::Update => "updating",
            Interaction::Delete => "deleting",
            Interaction::Search => "searching",
        };
        return Err(insufficient_scope(
            shared,
            &format!("the token's scopes do not allow {verb} {resource_type}"),
        ));
    }
    Ok(grant)
}

/// `GET /fhir/{type}/{id}`.
pub async fn read(
    State(shared): State<Shared>,
    Path((resource_type, id)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = Params::parse(query.as_deref().unwrap_or_default()).unwrap_or_default();
    let grant = match authorized(
        &shared,
        &uri,
        &headers,
        &query,
        &resource_type,
        Interaction::Read,
    ) {
        Ok(g) => g,
        Err(r) => return r,
    };
    let Some(resource) = shared.data.resource(&resource_type, &id) else {
        return outcome(StatusCode::NOT_FOUND, "not-found", "no such resource", None);
    };
    if !visible(&shared, &grant, resource, Interaction::Read) {
        return insufficient_scope(
            &shared,
            "the resource is outside the token's patient compartment",
        );
    }
    fhir_json(resource)
}

/// `GET /fhir/{type}?...`: searches by `_id`, `patient`, `subject`, `category`, `code`.
pub async fn search(
    State(shared): State<Shared>,
    Path(resource_type): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = match Params::parse(query.as_deref().unwrap_or_default()) {
        Ok(p) => p,
        Err(e) => return outcome(StatusCode::BAD_REQUEST, "invalid", &e, None),
    };
    let grant = match authorized(
        &shared,
        &uri,
        &headers,
        &params,
        &resource_type,
        Interaction::Search,
    ) {
        Ok(g) => g,
        Err(r) => return r,
    };
    if resource_type == "Observation" && shared.faults.has("fhir-granted-observations-refused") {
        // Wrong on purpose: the token's scope grants Observations, the resource server refuses
        // them.
        return outcome(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Observations are not available to this token",
            None,
        );
    }
    if params.get("category").is_some() && shared.faults.has("fhir-category-search-unsupported") {
        return outcome(
            StatusCode::BAD_REQUEST,
            "not-supported",
            "the search parameter `category` is not supported",
            None,
        );
    }
    let out_of_scope = shared.faults.has("fhir-out-of-scope-search-empty")
        && scopes::permitting(&grant.scope, &resource_type, Interaction::Search).is_empty();
    let matches = if out_of_scope {
        Vec::new()
    } else {
        matching(&shared, &grant, &resource_type, &params)
    };
    let base = shared.fhir_base();
    let entries: Vec<Value> = matches
        .iter()
        .map(|r| {
            json!({
                "fullUrl": format!("{base}/{}/{}", resource_type, r["id"].as_str().unwrap_or_default()),
                "resource": r,
                "search": {"mode": "match"}
            })
        })
        .collect();
    fhir_json(&json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": entries.len(),
        "link": [{"relation": "self", "url": format!("{base}/{resource_type}?{}", query.unwrap_or_default())}],
        "entry": entries
    }))
}

/// The resources of `resource_type` a search with `params` finds and `grant` may see.
fn matching<'d>(
    shared: &'d Shared,
    grant: &Grant,
    resource_type: &'d str,
    params: &Params,
) -> Vec<&'d Value> {
    let reference = |v: &str| v.strip_prefix("Patient/").unwrap_or(v).to_string();
    let patient = params
        .get("patient")
        .or(params.get("subject"))
        .map(reference);
    shared
        .data
        .of_type(resource_type)
        .filter(|r| params.get("_id").is_none_or(|id| r["id"] == id))
        .filter(|r| patient.as_deref().is_none_or(|p| patient_of(r) == Some(p)))
        .filter(|r| {
            params.get("category").is_none_or(|c| {
                r["category"]
                    .to_string()
                    .contains(&format!("\"code\":\"{c}\""))
            })
        })
        .filter(|r| {
            params.get("code").is_none_or(|c| {
                r["code"].to_string().contains(&format!(
                    "\"code\":\"{}\"",
                    c.rsplit('|').next().unwrap_or(c)
                ))
            })
        })
        .filter(|r| {
            shared.faults.has("fhir-search-leaks-other-patients")
                || visible(shared, grant, r, Interaction::Search)
        })
        .collect()
}
