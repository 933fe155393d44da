//! Dynamic client registration (RFC 7591) and its management protocol (RFC 7592): register,
//! read, update by full replacement, delete.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::faults::Faults;
use super::oauth::no_store_json;
use super::server::Shared;
use super::store::{now, random_token, AuthMethod, Client};

/// The metadata fields this server understands (RFC 7591 §2); others are ignored, as §2 says.
const KNOWN_FIELDS: &[&str] = &[
    "redirect_uris",
    "token_endpoint_auth_method",
    "grant_types",
    "response_types",
    "client_name",
    "client_uri",
    "logo_uri",
    "scope",
    "contacts",
    "tos_uri",
    "policy_uri",
    "jwks_uri",
    "jwks",
    "software_id",
    "software_version",
];

const GRANT_TYPES: &[&str] = &["authorization_code", "refresh_token", "client_credentials"];

/// A registration error (RFC 7591 §3.2.2), with no-store headers like every response here.
fn reg_error(shared: &Shared, code: &str, description: &str) -> Response {
    if code == "server_error" {
        // Fault: a registration the server cannot handle ends in a 500, not a refusal.
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain")],
            description.to_string(),
        )
            .into_response();
    }
    let code = if code == "invalid_client_metadata"
        && shared.faults.has("registration-metadata-error-code-wrong")
    {
        "invalid_request"
    } else {
        code
    };
    let code =
        if code == "invalid_redirect_uri" && shared.faults.has("registration-wrong-error-code") {
            "invalid_request"
        } else {
            code
        };
    if shared.faults.has("registration-error-not-json") {
        return (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "text/plain")],
            format!("{code}: {description}"),
        )
            .into_response();
    }
    no_store_json(
        shared,
        StatusCode::BAD_REQUEST,
        &json!({"error": code, "error_description": description}),
    )
}

fn registration_response(shared: &Shared, status: StatusCode, body: &Value) -> Response {
    let mut response = no_store_json(shared, status, body);
    // The token endpoint's cache faults do not reach registration; it has its own.
    let headers = response.headers_mut();
    if shared.faults.has("registration-no-cache-control") {
        headers.remove(header::CACHE_CONTROL);
    } else {
        headers.insert(header::CACHE_CONTROL, "no-store".parse().expect("valid"));
    }
    headers.insert(header::PRAGMA, "no-cache".parse().expect("valid"));
    if shared.faults.has("registration-content-type") {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, "text/plain".parse().expect("valid"));
    }
    response
}

struct Invalid {
    code: &'static str,
    description: String,
}

fn bad(code: &'static str, description: impl Into<String>) -> Invalid {
    Invalid {
        code,
        description: description.into(),
    }
}

fn string_list(value: Option<&Value>, field: &str) -> Result<Option<Vec<String>>, Invalid> {
    let Some(value) = value else {
        return Ok(None);
    };
    let code = if field == "redirect_uris" {
        "invalid_redirect_uri"
    } else {
        "invalid_client_metadata"
    };
    value
        .as_array()
        .and_then(|a| {
            a.iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
        })
        .map(Some)
        .ok_or_else(|| bad(code, format!("{field} must be an array of strings")))
}

/// Validates registration metadata into a client (without its credentials).
fn validate(shared: &Shared, body: &Map<String, Value>) -> Result<Client, Invalid> {
    let faults = &shared.faults;
    let mut metadata: Map<String, Value> = body
        .iter()
        .filter(|(k, _)| KNOWN_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let auth_method = auth_method_of(faults, &metadata)?;
    let (grant_types, response_types) = grants_of(&metadata, auth_method)?;
    let uses_code = grant_types.iter().any(|g| g == "authorization_code");
    let redirect_uris = redirect_uris_of(faults, &metadata, uses_code)?;
    let (jwks, jwks_uri) = keys_of(faults, &mut metadata)?;
    if auth_method == AuthMethod::PrivateKeyJwt && jwks.is_none() && jwks_uri.is_none() {
        return Err(bad(
            "invalid_client_metadata",
            "private_key_jwt needs jwks or jwks_uri",
        ));
    }
    let scope = match metadata.get("scope") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(bad("invalid_client_metadata", "scope must be a string")),
    };
    Ok(Client {
        client_id: String::new(),
        client_secret: None,
        registration_access_token: String::new(),
        issued_at: now(),
        auth_method,
        redirect_uris,
        grant_types,
        response_types,
        scope,
        jwks,
        jwks_uri,
        metadata,
    })
}

/// The client's `token_endpoint_auth_method`.
fn auth_method_of(faults: &Faults, metadata: &Map<String, Value>) -> Result<AuthMethod, Invalid> {
    let method = match metadata.get("token_endpoint_auth_method") {
        None => AuthMethod::ClientSecretBasic,
        Some(Value::String(s)) => match AuthMethod::parse(s) {
            Some(m) => m,
            // Conforming (RFC 7591 §3.2.1 "MAY ... replace"), and the fault that keeps the
            // unknown value (the client information then returns it).
            None if faults.has("registration-unknown-auth-method-500") => {
                return Err(bad(
                    "server_error",
                    format!("token_endpoint_auth_method `{s}` broke the registration"),
                ))
            }
            None if faults.has("registration-replaces-unknown-auth-method")
                || faults.has("registration-unknown-auth-method-kept") =>
            {
                AuthMethod::ClientSecretBasic
            }
            None => {
                return Err(bad(
                    "invalid_client_metadata",
                    format!("token_endpoint_auth_method `{s}` is not supported"),
                ))
            }
        },
        Some(_) => {
            return Err(bad(
                "invalid_client_metadata",
                "token_endpoint_auth_method must be a string",
            ))
        }
    };
    Ok(method)
}

/// The client's grant types and response types.
fn grants_of(
    metadata: &Map<String, Value>,
    auth_method: AuthMethod,
) -> Result<(Vec<String>, Vec<String>), Invalid> {
    let grant_types = string_list(metadata.get("grant_types"), "grant_types")?
        .unwrap_or_else(|| vec!["authorization_code".into()]);
    if let Some(g) = grant_types
        .iter()
        .find(|g| !GRANT_TYPES.contains(&g.as_str()))
    {
        return Err(bad(
            "invalid_client_metadata",
            format!("grant type `{g}` is not supported"),
        ));
    }
    if grant_types.iter().any(|g| g == "client_credentials") && auth_method == AuthMethod::None {
        return Err(bad(
            "invalid_client_metadata",
            "a public client cannot use client_credentials",
        ));
    }
    let uses_code = grant_types.iter().any(|g| g == "authorization_code");
    let response_types = string_list(metadata.get("response_types"), "response_types")?
        .unwrap_or_else(|| {
            if uses_code {
                vec!["code".into()]
            } else {
                vec![]
            }
        });
    if response_types.iter().any(|r| r != "code") {
        return Err(bad(
            "invalid_client_metadata",
            "only the `code` response type is supported",
        ));
    }
    Ok((grant_types, response_types))
}

/// The client's redirect URIs: absolute, without a fragment, and there for a code client.
fn redirect_uris_of(
    faults: &Faults,
    metadata: &Map<String, Value>,
    uses_code: bool,
) -> Result<Vec<String>, Invalid> {
    let redirect_uris =
        string_list(metadata.get("redirect_uris"), "redirect_uris")?.unwrap_or_default();
    if uses_code
        && redirect_uris.is_empty()
        && !faults.has("registration-missing-redirect-accepted")
    {
        // RFC 7591 §2: "Clients using flows with redirection MUST register their redirection
        // endpoint values."
        return Err(bad(
            "invalid_redirect_uri",
            "an authorization_code client must register redirect_uris",
        ));
    }
    for uri in &redirect_uris {
        let parsed = match url::Url::parse(uri) {
            Ok(u) => u,
            Err(_) if faults.has("registration-non-url-redirect-accepted") => continue,
            // Wrong on purpose: `host:port/path`, as a person types it, taken as a URI.
            Err(_)
                if faults.has("registration-schemeless-redirect-accepted")
                    && uri.split_once('/').is_some_and(|(authority, _)| {
                        authority
                            .rsplit_once(':')
                            .is_some_and(|(_, port)| port.parse::<u16>().is_ok())
                    }) =>
            {
                continue
            }
            Err(_) => {
                return Err(bad(
                    "invalid_redirect_uri",
                    format!("`{uri}` is not an absolute URL"),
                ))
            }
        };
        // RFC 6749 §3.1.2: "The endpoint URI MUST NOT include a fragment component."
        if parsed.fragment().is_some() && !faults.has("registration-fragment-redirect-accepted") {
            return Err(bad(
                "invalid_redirect_uri",
                format!("`{uri}` has a fragment"),
            ));
        }
    }
    Ok(redirect_uris)
}

/// The client's keys: a JWK Set by value or by URL, not both.
fn keys_of(
    faults: &Faults,
    metadata: &mut Map<String, Value>,
) -> Result<(Option<Value>, Option<String>), Invalid> {
    if metadata.contains_key("jwks") && metadata.contains_key("jwks_uri") {
        // RFC 7591 §2: "The jwks_uri and jwks parameters MUST NOT both be present".
        return Err(bad(
            "invalid_client_metadata",
            "jwks and jwks_uri must not both be present",
        ));
    }
    if faults.has("registration-duplicate-kid-refused") {
        // Another allowed behaviour: a key set whose kids are ambiguous is refused outright.
        let kids: Vec<&str> = metadata
            .get("jwks")
            .and_then(|j| j["keys"].as_array())
            .into_iter()
            .flatten()
            .filter_map(|k| k["kid"].as_str())
            .collect();
        if kids.iter().enumerate().any(|(i, k)| kids[..i].contains(k)) {
            return Err(bad(
                "invalid_client_metadata",
                "two keys of the JWK Set share a kid",
            ));
        }
    }
    if metadata.contains_key("jwks") && faults.has("registration-jwks-refused") {
        // Wrong on purpose: SMART servers SHALL accept a JWK Set by value too.
        return Err(bad(
            "invalid_client_metadata",
            "register your keys by jwks_uri; JWK Sets by value are not accepted",
        ));
    }
    let jwks = match metadata.get("jwks") {
        None => None,
        Some(v) => {
            serde_json::from_value::<jsonwebtoken::jwk::JwkSet>(v.clone()).map_err(|e| {
                bad(
                    "invalid_client_metadata",
                    format!("jwks is not a JWK set: {e}"),
                )
            })?;
            Some(v.clone())
        }
    };
    // Another allowed behaviour (RFC 7591 §3.2.1: the server MAY replace metadata): a set whose
    // kids repeat is registered with the first key of each kid, and answered so.
    let jwks = match jwks {
        Some(set) if faults.has("registration-duplicate-kid-kept-one") => {
            let mut seen: Vec<Value> = Vec::new();
            let keys: Vec<Value> = set["keys"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|k| {
                    let first = !seen.contains(&k["kid"]);
                    seen.push(k["kid"].clone());
                    first
                })
                .cloned()
                .collect();
            let kept = json!({ "keys": keys });
            metadata.insert("jwks".into(), kept.clone());
            Some(kept)
        }
        other => other,
    };
    let jwks_uri = match metadata.get("jwks_uri") {
        None => None,
        Some(Value::String(s)) if url::Url::parse(s).is_ok() => Some(s.clone()),
        Some(_) => {
            return Err(bad(
                "invalid_client_metadata",
                "jwks_uri must be an absolute URL",
            ))
        }
    };
    Ok((jwks, jwks_uri))
}

/// The client information response (RFC 7591 §3.2.1, RFC 7592 §3).
fn client_information(shared: &Shared, client: &Client) -> Value {
    let faults = &shared.faults;
    let mut body = client.metadata.clone();
    let kept = faults.has("registration-unknown-auth-method-kept")
        && client
            .metadata
            .get("token_endpoint_auth_method")
            .and_then(Value::as_str)
            .is_some_and(|m| AuthMethod::parse(m).is_none());
    if !kept {
        body.insert(
            "token_endpoint_auth_method".into(),
            json!(client.auth_method.as_str()),
        );
    }
    body.insert("grant_types".into(), json!(client.grant_types));
    body.insert("response_types".into(), json!(client.response_types));
    body.insert("redirect_uris".into(), json!(client.redirect_uris));
    if faults.has("registration-metadata-not-echoed") {
        for field in [
            "client_name",
            "redirect_uris",
            "scope",
            "token_endpoint_auth_method",
            "grant_types",
            "response_types",
        ] {
            body.remove(field);
        }
    }
    if !faults.has("registration-client-id-missing") {
        body.insert("client_id".into(), json!(client.client_id));
    }
    if faults.has("registration-issued-at-string") {
        let at = chrono::DateTime::from_timestamp(client.issued_at, 0).unwrap_or_default();
        body.insert("client_id_issued_at".into(), json!(at.to_rfc3339()));
    } else {
        body.insert("client_id_issued_at".into(), json!(client.issued_at));
    }
    if let Some(secret) = &client.client_secret {
        body.insert("client_secret".into(), json!(secret));
        if !faults.has("registration-no-secret-expiry") {
            body.insert("client_secret_expires_at".into(), json!(0));
        }
    }
    if !faults.has("registration-no-access-token") {
        body.insert(
            "registration_access_token".into(),
            json!(client.registration_access_token),
        );
    }
    body.insert(
        "registration_client_uri".into(),
        json!(format!("{}/manage/{}", shared.origin, client.client_id)),
    );
    Value::Object(body)
}

fn json_body(
    shared: &Shared,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Map<String, Value>, Response> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
    if !is_json && shared.faults.has("registration-form-body-accepted") {
        // Reads the form as metadata, a repeated or single redirect_uris as a list.
        let mut map = Map::new();
        for (k, v) in url::form_urlencoded::parse(body) {
            if k == "redirect_uris" {
                if let Some(list) = map
                    .entry("redirect_uris")
                    .or_insert_with(|| json!([]))
                    .as_array_mut()
                {
                    list.push(json!(v));
                }
            } else {
                map.insert(k.to_string(), json!(v));
            }
        }
        return Ok(map);
    }
    if !is_json && shared.faults.has("registration-form-body-415") {
        // Conforming: a framework's own refusal of a body it cannot read.
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            [(header::CONTENT_TYPE, "text/plain")],
            "Unsupported Media Type",
        )
            .into_response());
    }
    if !is_json {
        return Err(reg_error(
            shared,
            if shared.faults.has("registration-form-body-wrong-error") {
                "invalid_redirect_uri"
            } else {
                "invalid_request"
            },
            "the registration request must be a JSON document (Content-Type: application/json)",
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(reg_error(
            shared,
            "invalid_client_metadata",
            "the body is not a JSON object",
        )),
    }
}

/// Credentials for a client of this method: a secret exactly when the method uses one.
fn issue_secret(shared: &Shared, method: AuthMethod, keep: Option<String>) -> Option<String> {
    let needs = if method.uses_secret() {
        !shared.faults.has("registration-no-secret-for-confidential")
    } else {
        shared.faults.has("registration-needless-secret")
    };
    needs.then(|| keep.unwrap_or_else(random_token))
}

/// `POST /register` (RFC 7591 §3.1).
pub async fn register(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let map = match json_body(&shared, &headers, &body) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let mut client = match validate(&shared, &map) {
        Ok(c) => c,
        Err(e) => return reg_error(&shared, e.code, &e.description),
    };
    if shared.faults.has("registration-replaces-metadata") {
        // Conforming (RFC 7591 §3.2.1: the server MAY replace requested values): a public
        // client is made a confidential one, and the client is registered under its own name.
        if client.auth_method == AuthMethod::None {
            client.auth_method = AuthMethod::ClientSecretBasic;
        }
        if let Some(name) = client.metadata.get("client_name").and_then(Value::as_str) {
            let name = format!("{name} (registered)");
            client.metadata.insert("client_name".into(), json!(name));
        }
    }
    client.client_id = random_token();
    client.client_secret = issue_secret(&shared, client.auth_method, None);
    client.registration_access_token = random_token();
    let body = client_information(&shared, &client);
    shared
        .store
        .lock()
        .clients
        .insert(client.client_id.clone(), client);
    let status = if shared.faults.has("registration-status-200") {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    registration_response(&shared, status, &body)
}

/// RFC 7592 §2: a bad or missing registration access token, or an unknown client, is 401.
fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [
            (header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\""),
            (header::CONTENT_TYPE, "application/json"),
        ],
        json!({"error": "invalid_token"}).to_string(),
    )
        .into_response()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// The client a management request may act on.
fn managed(shared: &Shared, headers: &HeaderMap, client_id: &str) -> Option<Client> {
    let client = shared.store.lock().clients.get(client_id).cloned()?;
    if shared.faults.has("registration-token-not-checked")
        || bearer(headers) == Some(client.registration_access_token.as_str())
    {
        Some(client)
    } else {
        None
    }
}

/// `GET /manage/{client_id}` (RFC 7592 §2.1).
pub async fn read(
    State(shared): State<Shared>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if shared.faults.has("registration-read-not-found") {
        let body = json!({"error": "not_found"}).to_string();
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response();
    }
    match managed(&shared, &headers, &client_id) {
        Some(client) => registration_response(
            &shared,
            StatusCode::OK,
            &client_information(&shared, &client),
        ),
        None => unauthorized(),
    }
}

/// `PUT /manage/{client_id}` (RFC 7592 §2.2): the body replaces every metadata field.
pub async fn update(
    State(shared): State<Shared>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if shared.faults.has("registration-update-not-allowed") {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, DELETE")],
        )
            .into_response();
    }
    let Some(current) = managed(&shared, &headers, &client_id) else {
        return unauthorized();
    };
    let map = match json_body(&shared, &headers, &body) {
        Ok(m) => m,
        Err(r) => return r,
    };
    if map.get("client_id").and_then(Value::as_str) != Some(client_id.as_str())
        && !shared
            .faults
            .has("registration-update-client-id-not-checked")
    {
        return reg_error(
            &shared,
            "invalid_client_metadata",
            "the body's client_id must be the client's identifier",
        );
    }
    // RFC 7592 §2.2: "The client MUST NOT include the registration_access_token,
    // registration_client_uri, client_secret_expires_at, or client_id_issued_at fields".
    let forbidden = [
        "registration_access_token",
        "registration_client_uri",
        "client_secret_expires_at",
        "client_id_issued_at",
    ];
    if let Some(field) = forbidden.iter().find(|f| map.contains_key(**f)) {
        if !shared.faults.has("registration-update-accepts-token-field") {
            return reg_error(
                &shared,
                "invalid_request",
                &format!("an update must not carry `{field}`"),
            );
        }
    }
    if let Some(secret) = map.get("client_secret") {
        if Some(secret.as_str().unwrap_or_default()) != current.client_secret.as_deref() {
            return reg_error(
                &shared,
                "invalid_client_metadata",
                "client_secret does not match the issued secret",
            );
        }
    }
    let mut client = match validate(&shared, &map) {
        Ok(c) => c,
        Err(e) => return reg_error(&shared, e.code, &e.description),
    };
    client.client_id = current.client_id.clone();
    client.issued_at = current.issued_at;
    client.registration_access_token = current.registration_access_token.clone();
    client.client_secret = if shared.faults.has("registration-update-keeps-secret") {
        current.client_secret.clone()
    } else {
        issue_secret(&shared, client.auth_method, current.client_secret.clone())
    };
    if shared.faults.has("registration-update-ignored") {
        client = current;
    }
    let body = client_information(&shared, &client);
    shared.store.lock().clients.insert(client_id, client);
    registration_response(&shared, StatusCode::OK, &body)
}

/// `DELETE /manage/{client_id}` (RFC 7592 §2.3): 204, and the client is gone.
pub async fn delete(
    State(shared): State<Shared>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if managed(&shared, &headers, &client_id).is_none() {
        return unauthorized();
    }
    let faults = &shared.faults;
    if faults.has("registration-delete-ignored") {
        // Nothing happens.
    } else if faults.has("registration-deleted-client-usable") {
        // Management is gone, but the client still authenticates at the token endpoint.
        if let Some(c) = shared.store.lock().clients.get_mut(&client_id) {
            c.registration_access_token = random_token();
        }
    } else {
        shared.store.lock().remove_client(&client_id);
    }
    if faults.has("registration-delete-status-200") {
        return StatusCode::OK.into_response();
    }
    StatusCode::NO_CONTENT.into_response()
}
