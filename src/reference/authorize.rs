//! The authorization endpoint (RFC 6749 §4.1.1, SMART App Launch 2.2 §App Launch): request
//! validation, login, patient choice, consent, the redirect with a code or an error; and the EHR
//! simulator that starts an EHR launch.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::oauth::Params;
use super::pages;
use super::scopes;
use super::server::Shared;
use super::store::{now, random_token, AuthMethod, Code, Grant, Launch, Pending};

/// How long a person has to finish signing in and consenting.
const PENDING_LIFETIME: i64 = 600;
/// How long an EHR launch id stays usable.
const LAUNCH_LIFETIME: i64 = 600;
/// Authorization codes are short-lived (RFC 6749 §4.1.2: "A maximum authorization code lifetime
/// of 10 minutes is RECOMMENDED"); this server gives one minute.
pub const CODE_LIFETIME: i64 = 60;
/// The lifetime of the codes of clients registered for the code-expiry case (their
/// `client_name` says `code-expiry`: the harness names its clients after their case), so that
/// the case need not hold a code for a minute. Real servers set lifetimes in their own ways.
pub const EXPIRY_CASE_CODE_LIFETIME: i64 = 2;

/// How long this client's codes live.
fn code_lifetime(shared: &Shared, client_id: &str) -> i64 {
    if client_name(shared, client_id).contains("code-expiry") {
        EXPIRY_CASE_CODE_LIFETIME
    } else {
        CODE_LIFETIME
    }
}

/// The scope the `scopes-supported-not-supported` switch lists in scopes_supported and refuses.
pub const UNSUPPORTED_LISTED_SCOPE: &str = "patient/*.cruds";

/// The resource types the `own-scope-vocabulary` switch grants patient scopes for, one by one
/// (it refuses `patient/*` wildcards).
pub const OWN_VOCABULARY_TYPES: &[&str] = &["Patient", "Observation", "Condition", "Encounter"];

/// A 302 to `uri` with these query parameters added.
fn redirect(uri: &str, params: &[(&str, Option<&str>)]) -> Response {
    let Ok(mut url) = url::Url::parse(uri) else {
        return pages::error("the redirect URI does not parse");
    };
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in params {
            if let Some(v) = v {
                query.append_pair(k, v);
            }
        }
    }
    (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response()
}

/// An error redirect (RFC 6749 §4.1.2.1), with the state echoed.
fn redirect_error(
    shared: &Shared,
    uri: &str,
    state: Option<&str>,
    error: &str,
    description: &str,
) -> Response {
    let state = if shared.faults.has("authorize-state-not-echoed") {
        None
    } else {
        state
    };
    redirect(
        uri,
        &[
            ("error", Some(error)),
            ("error_description", Some(description)),
            ("state", state),
        ],
    )
}

/// An error shown to the person instead of a redirect; answered 200 under the conforming
/// switch `authorize-error-page-200` (only a browser, reading the page, can tell it refuses).
fn shown_error(shared: &Shared, description: &str) -> Response {
    if shared.faults.has("authorize-error-page-200") {
        pages::error_with_status(axum::http::StatusCode::OK, description)
    } else {
        pages::error(description)
    }
}

/// The cookie that keeps a browser signed in.
const SIGN_IN_COOKIE: &str = "reference_sign_in";

/// How long a sign-in is remembered.
const SIGN_IN_LIFETIME: i64 = 8 * 60 * 60;

/// The user a browser is signed in as, from its cookie.
fn signed_in(shared: &Shared, headers: &HeaderMap) -> Option<String> {
    let value = headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == SIGN_IN_COOKIE).then(|| value.to_string())
        })?;
    let store = shared.store.lock();
    let (user, at) = store.sign_ins.get(&value)?;
    (at + SIGN_IN_LIFETIME > now()).then(|| user.clone())
}

/// `GET /authorize` (query) and `POST /authorize` (form, the `authorize-post` capability).
pub async fn authorize_get(
    State(shared): State<Shared>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let user = signed_in(&shared, &headers);
    start(&shared, query.as_deref().unwrap_or_default(), false, user)
}

pub async fn authorize_post(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if shared.faults.has("authorize-post-refused") {
        // Wrong on purpose: SMART authorization servers SHALL support POST too.
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET")],
            "use GET for authorization requests",
        )
            .into_response();
    }
    let user = signed_in(&shared, &headers);
    start(&shared, &String::from_utf8_lossy(&body), true, user)
}

/// An authorization request, sent as a query (`posted` false) or a form POST; `user` is who
/// the browser is already signed in as. Checked in the order RFC 6749 §4.1.2.1 asks: the
/// client and its redirect URI first (an error there is shown, never redirected), then the
/// rest of the request (an error there is redirected to the client).
fn start(shared: &Shared, raw: &str, posted: bool, user: Option<String>) -> Response {
    let params = match Params::parse(raw) {
        Ok(p) => p,
        Err(e) => return pages::error(&e),
    };
    let (client, redirect_uri) = match client_and_redirect(shared, &params) {
        Ok(found) => found,
        Err(shown) => return shown,
    };
    let refuse = Refuse {
        shared,
        redirect_uri: &redirect_uri,
        state: params.get("state"),
        posted,
    };
    match request_to_grant(shared, &params, &client, &refuse) {
        Ok((scope, launch)) => hold_pending(shared, &params, &client, &refuse, scope, launch, user),
        Err(refused) => refused,
    }
}

/// The request's client and the redirect URI it names; the page that shows why not (or, under
/// faults, a redirect).
fn client_and_redirect(
    shared: &Shared,
    params: &Params,
) -> Result<(super::store::Client, String), Response> {
    let faults = &shared.faults;
    let Some(client_id) = params.get("client_id") else {
        return Err(pages::error("client_id is missing"));
    };
    let Some(client) = shared.store.lock().clients.get(client_id).cloned() else {
        if faults.has("authorize-unknown-client-redirected") {
            if let Some(redirect_uri) = params.get("redirect_uri") {
                return Err(redirect_error(
                    shared,
                    redirect_uri,
                    params.get("state"),
                    "unauthorized_client",
                    "unknown client_id",
                ));
            }
        }
        // RFC 6749 §4.1.2.1: an invalid client identifier is shown, never redirected.
        return Err(shown_error(shared, "unknown client_id"));
    };
    // Wrong on purpose under the fault: without redirect_uri the first registered URI is
    // used, however many the client registered.
    let defaulted = client.redirect_uris.first().map(String::as_str);
    let Some(redirect_uri) = params
        .get("redirect_uri")
        .or(defaulted.filter(|_| faults.has("authorize-redirect-uri-defaulted")))
    else {
        return Err(pages::error("redirect_uri is missing"));
    };
    let registered = |r: &String| {
        r == redirect_uri
            // Faults: the loose comparisons real servers use instead of RFC 6749 §3.1.2.3's
            // simple string comparison.
            || faults.has("redirect-uri-prefix-match") && redirect_uri.starts_with(r.as_str())
            || faults.has("redirect-uri-case-insensitive") && r.eq_ignore_ascii_case(redirect_uri)
    };
    if !client.redirect_uris.iter().any(registered) {
        if faults.has("authorize-unknown-redirect-redirected") {
            return Err(redirect_error(
                shared,
                redirect_uri,
                params.get("state"),
                "invalid_request",
                "unregistered redirect_uri",
            ));
        }
        // RFC 6749 §4.1.2.1: never redirect to an unregistered URI.
        return Err(shown_error(
            shared,
            "redirect_uri is not registered for this client",
        ));
    }
    let redirect_uri = redirect_uri.to_string();
    Ok((client, redirect_uri))
}

/// Refusals of an authorization request whose client and redirect URI are known: an error
/// redirect with the request's `state`.
struct Refuse<'a> {
    shared: &'a Shared,
    redirect_uri: &'a str,
    state: Option<&'a str>,
    posted: bool,
}

impl Refuse<'_> {
    fn fail(&self, error: &str, description: &str) -> Response {
        let state = if self.posted && self.shared.faults.has("authorize-post-error-no-state") {
            None
        } else {
            self.state
        };
        redirect_error(self.shared, self.redirect_uri, state, error, description)
    }
}

/// The scope a valid request asks for and the EHR launch it continues; the refusal of one that
/// is not valid.
fn request_to_grant<'p>(
    shared: &Shared,
    params: &'p Params,
    client: &super::store::Client,
    refuse: &Refuse<'_>,
) -> Result<(&'p str, Option<Launch>), Response> {
    let faults = &shared.faults;
    let fail = |error: &str, description: &str| Err(refuse.fail(error, description));
    if faults.has("authorize-refuses-everything") || faults.has("refuses-everything") {
        return fail(
            "access_denied",
            "this server refuses every authorization request",
        );
    }
    if faults.has("no-standalone-launch") && params.get("launch").is_none() {
        return fail(
            "invalid_request",
            "this server offers EHR launches only: launch is required",
        );
    }
    if params.get("response_type") == Some("token") {
        if let Some(answer) = token_response_type_answer(faults, refuse.redirect_uri, refuse.state)
        {
            return Err(answer);
        }
    }
    if params.get("response_type") != Some("code")
        && faults.has("authorize-response-type-error-page")
    {
        // Wrong on purpose: refused, but on a page the app never sees.
        return Err(pages::error("response_type must be code"));
    }
    if params.get("response_type") != Some("code")
        && !faults.has("authorize-response-type-not-checked")
    {
        return fail("unsupported_response_type", "response_type must be code");
    }
    if refuse.state.is_none() {
        return fail("invalid_request", "state is required");
    }
    if let Some(name) = refused_unknown_parameter(faults, params) {
        return fail("invalid_request", &format!("unknown parameter `{name}`"));
    }
    let scope = scope_asked(shared, params, refuse)?;
    let aud_ok = aud_matches(shared, params);
    if !aud_ok
        && !faults.has("authorize-aud-not-checked")
        && !faults.has("authorize-foreign-aud-stalls")
    {
        return fail("invalid_request", "aud must be this server's FHIR base URL");
    }
    let challenge = params.get("code_challenge");
    let method = params.get("code_challenge_method");
    if let Some((error, description)) = pkce_refusal(shared, client, challenge, method) {
        return fail(error, &description);
    }
    let launch = match params.get("launch") {
        Some(id) => match shared.store.lock().launches.get(id).cloned() {
            Some(l) if l.created + LAUNCH_LIFETIME > now() => Some(l),
            _ => return fail("invalid_request", "unknown or expired launch"),
        },
        None if scopes::has(scope, "launch") => {
            return fail(
                "invalid_request",
                "the launch scope needs a launch parameter",
            )
        }
        None => None,
    };
    Ok((scope, launch))
}

/// The scope a request asks for. RFC 6749 §3.3: no scope is processed with a default, or
/// failed as invalid_scope.
fn scope_asked<'p>(
    shared: &Shared,
    params: &'p Params,
    refuse: &Refuse<'_>,
) -> Result<&'p str, Response> {
    let faults = &shared.faults;
    let default_scope = "launch/patient openid fhirUser patient/*.rs";
    match params.get("scope") {
        Some(scope) => Ok(scope),
        None if faults.has("authorize-default-scope") => Ok(default_scope),
        None if faults.has("authorize-no-scope-error-page") => {
            Err(pages::error("scope is required"))
        }
        None if faults.has("authorize-no-scope-wrong-error") => {
            Err(refuse.fail("invalid_request", "scope is required"))
        }
        None => Err(refuse.fail("invalid_scope", "scope is required")),
    }
}

/// The scopes granted of those asked: unknown scopes are dropped, and a client that
/// registered a scope limit gets at most that; an `invalid_scope` description when none can
/// be granted, or the server (under a fault) refuses what was asked.
fn granted_scopes<'s>(
    shared: &Shared,
    client: &super::store::Client,
    scope: &'s str,
) -> Result<Vec<&'s str>, &'static str> {
    let faults = &shared.faults;
    let granted: Vec<&str> = scopes::split(scope)
        .into_iter()
        .filter(|s| scopes::is_known(s))
        // Under `launch-role-unknown-dropped`, a launch scope with a role it does not know
        // brings no context at all.
        .filter(|s| !(faults.has("launch-role-unknown-dropped") && s.contains("?role=")))
        .filter(|s| {
            client
                .scope
                .as_deref()
                .is_none_or(|limit| scopes::has(limit, scopes::launch_base(s)))
        })
        .collect();
    let asked_v1 = || {
        scopes::split(scope)
            .iter()
            .filter_map(|s| scopes::ResourceScope::parse(s))
            .any(|s| s.v1)
    };
    let asked_patient_wildcard = || {
        scopes::split(scope)
            .iter()
            .any(|s| s.starts_with("patient/*."))
    };
    if granted.is_empty() {
        Err("none of the requested scopes can be granted")
    } else if faults.has("launch-role-refused") && scope.contains("?role=") {
        Err("this server knows no launch context roles")
    } else if faults.has("v1-scopes-refused-at-authorize") && asked_v1() {
        Err("SMART v1 scopes are not supported here")
    } else if faults.has("offline-access-refused") && scopes::has(scope, "offline_access") {
        Err("offline_access is not granted here")
    } else if faults.has("own-scope-vocabulary") && asked_patient_wildcard() {
        Err("this server grants patient scopes by resource type (see scopes_supported), not patient/*")
    } else if faults.has("scopes-supported-not-supported")
        && scopes::has(scope, UNSUPPORTED_LISTED_SCOPE)
    {
        Err("patient/*.cruds is not supported here (though scopes_supported lists it)")
    } else {
        Ok(granted)
    }
}

/// The request held while the person signs in and consents; the page that comes next.
fn hold_pending(
    shared: &Shared,
    params: &Params,
    client: &super::store::Client,
    refuse: &Refuse<'_>,
    scope: &str,
    launch: Option<Launch>,
    user: Option<String>,
) -> Response {
    let granted = match granted_scopes(shared, client, scope) {
        Ok(granted) => granted,
        Err(description) => return refuse.fail("invalid_scope", description),
    };
    let challenge = params.get("code_challenge");
    let txn = random_token();
    let pending = Pending {
        client_id: client.client_id.clone(),
        redirect_uri: refuse.redirect_uri.to_string(),
        scope: if shared.faults.has("v1-scopes-returned-as-v2") {
            // Grants v1 scopes in their v2 form.
            granted
                .iter()
                .map(|s| s.replace(".read", ".rs"))
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            granted.join(" ")
        },
        state: refuse.state.map(str::to_string),
        nonce: params.get("nonce").map(str::to_string),
        code_challenge: challenge.map(str::to_string),
        code_challenge_method: params
            .get("code_challenge_method")
            .map(str::to_string)
            .or(challenge.map(|_| "plain".to_string())),
        launch,
        username: user,
        patient: None,
        aud: params
            .get("aud")
            .map(|a| a.trim_end_matches('/').to_string()),
        created: now(),
    };
    shared
        .store
        .lock()
        .pending
        .insert(txn.clone(), pending.clone());
    if pending.username.is_some() {
        // Signed in already: straight to the patient choice or the consent.
        return next_page(shared, &txn, &pending);
    }
    pages::login(&txn, &client_name(shared, &client.client_id), None)
}

/// The fragment answers (RFC 6749 §4.2.2) to `response_type=token` under the switches that
/// give one: the implicit grant's access token (a fault: this server does not list `token`),
/// or its `unsupported_response_type` error (conforming, as servers that know the type answer),
/// or `unauthorized_client` for a client that did not register the type (conforming too).
fn token_response_type_answer(
    faults: &super::faults::Faults,
    redirect_uri: &str,
    state: Option<&str>,
) -> Option<Response> {
    let mut answer = url::form_urlencoded::Serializer::new(String::new());
    if faults.has("authorize-implicit-grant") {
        answer.append_pair("access_token", &super::store::random_token());
        answer.append_pair("token_type", "Bearer");
    } else if faults.has("authorize-response-type-error-in-fragment") {
        answer.append_pair("error", "unsupported_response_type");
    } else if faults.has("response-types-token-registered-only") {
        // The server offers the implicit grant to clients that registered `token` among their
        // `response_types` (RFC 7591 §2: the default is `code`); the harness's clients did not.
        answer.append_pair("error", "unauthorized_client");
        answer.append_pair(
            "error_description",
            "this client did not register the token response type",
        );
    } else {
        return None;
    }
    if let Some(state) = state {
        answer.append_pair("state", state);
    }
    let location = format!("{redirect_uri}#{}", answer.finish());
    Some((StatusCode::FOUND, [(header::LOCATION, location)]).into_response())
}

/// Under the fault `authorize-unknown-param-refused`, the first parameter this server does not
/// know (RFC 6749 §3.1 says it MUST ignore such parameters).
fn refused_unknown_parameter<'p>(
    faults: &super::faults::Faults,
    params: &'p Params,
) -> Option<&'p str> {
    const KNOWN: &[&str] = &[
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "aud",
        "launch",
        "code_challenge",
        "code_challenge_method",
        "nonce",
        "resource",
        "prompt",
    ];
    if !faults.has("authorize-unknown-param-refused") {
        return None;
    }
    params.names().find(|k| !KNOWN.contains(k))
}

/// Whether `aud` is the FHIR base the app asks tokens for (SMART App Launch 2.2): this
/// server's, or for an EHR launch the base the EHR launched with.
fn aud_matches(shared: &Shared, params: &Params) -> bool {
    let Some(aud) = params.get("aud") else {
        // Fault: an authorization that names no resource server is taken.
        return shared.faults.has("authorize-aud-optional");
    };
    let origin = |u: &str| url::Url::parse(u).map(|u| u.origin().ascii_serialization());
    Some(aud).is_some_and(|a| {
        if shared.faults.has("authorize-aud-origin-only") {
            // Wrong on purpose: any URL on this server's origin passes.
            origin(a).ok() == origin(&shared.fhir_base()).ok()
        } else if shared.faults.has("authorize-aud-path-only") {
            // Wrong on purpose: only the path is compared, so another host or scheme passes.
            let path =
                |u: &str| url::Url::parse(u).map(|u| u.path().trim_end_matches('/').to_string());
            path(a).ok() == path(&shared.fhir_base()).ok()
        } else if params.get("launch").is_some() {
            a.trim_end_matches('/') == shared.ehr_fhir_base()
        } else {
            a.trim_end_matches('/') == shared.fhir_base()
        }
    })
}

/// Why the PKCE parameters refuse the request (the error code and its description), if they
/// do: S256 only, and a public client must send a challenge (RFC 7636 §4.4.1).
fn pkce_refusal(
    shared: &Shared,
    client: &super::store::Client,
    challenge: Option<&str>,
    method: Option<&str>,
) -> Option<(&'static str, String)> {
    let faults = &shared.faults;
    match (challenge, method) {
        (Some(_), Some("S256")) => None,
        (Some(_), Some("plain")) if faults.has("pkce-plain-accepted") => None,
        (Some(_), Some(other)) => Some((
            "invalid_request",
            format!("code_challenge_method {other} is not supported; use S256"),
        )),
        (Some(_), None) if faults.has("pkce-plain-accepted") => None,
        (Some(_), None) => Some((
            "invalid_request",
            "code_challenge_method is required (S256)".into(),
        )),
        (None, _) if client.auth_method == AuthMethod::None && !faults.has("pkce-optional") => {
            // Under the fault the refusal names the wrong error.
            let error = if faults.has("pkce-missing-wrong-error") {
                "access_denied"
            } else {
                "invalid_request"
            };
            Some((error, "public clients must use PKCE (S256)".into()))
        }
        (None, _) => None,
    }
}

fn client_name(shared: &Shared, client_id: &str) -> String {
    shared
        .store
        .lock()
        .clients
        .get(client_id)
        .and_then(|c| {
            c.metadata
                .get("client_name")
                .and_then(|n| n.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| client_id.to_string())
}

fn pending(shared: &Shared, params: &Params) -> Result<(String, Pending), Response> {
    let txn = params.get("txn").unwrap_or_default().to_string();
    match shared.store.lock().pending.get(&txn).cloned() {
        Some(p) if p.created + PENDING_LIFETIME > now() => Ok((txn, p)),
        _ => Err(pages::error(
            "this sign-in has expired; start again from the app",
        )),
    }
}

fn form(body: &Bytes) -> Result<Params, Response> {
    Params::parse(&String::from_utf8_lossy(body)).map_err(|e| pages::error(&e))
}

/// The form of a login, patient or consent page post, and the authorization it continues.
fn screen_post(shared: &Shared, body: &Bytes) -> Result<(Params, String, Pending), Response> {
    let params = form(body)?;
    let (txn, pending) = pending(shared, &params)?;
    Ok((params, txn, pending))
}

/// Whether the person must pick a patient: standalone `launch/patient` with several to choose from.
fn needs_patient_choice(shared: &Shared, p: &Pending) -> bool {
    p.launch.is_none()
        && p.patient.is_none()
        && scopes::has(&p.scope, "launch/patient")
        && p.username
            .as_deref()
            .and_then(|u| shared.data.user(u))
            .is_some_and(|u| u.patients.len() > 1)
}

fn next_page(shared: &Shared, txn: &str, p: &Pending) -> Response {
    if shared.faults.has("authorize-foreign-aud-stalls") && !is_own_base(shared, p.aud.as_deref()) {
        // Wrong on purpose: a foreign aud was accepted and the patient list never loads.
        return pages::patients_loading(txn);
    }
    if needs_patient_choice(shared, p) {
        let user = p.username.as_deref().and_then(|u| shared.data.user(u));
        let patients: Vec<(String, String)> = user
            .map(|u| {
                u.patients
                    .iter()
                    .map(|id| (id.clone(), shared.data.patient_name(id)))
                    .collect()
            })
            .unwrap_or_default();
        return pages::patient_picker(txn, &patients);
    }
    let patient = context_patient(shared, p).map(|id| shared.data.patient_name(&id));
    pages::consent(
        txn,
        &client_name(shared, &p.client_id),
        &scopes::split(&p.scope),
        patient.as_deref(),
        shared.faults.has("consent-zero-size-checkbox"),
        !shared.faults.has("consent-no-deny"),
    )
}

/// Whether `aud` (without its trailing slash) is one of this server's FHIR bases.
fn is_own_base(shared: &Shared, aud: Option<&str>) -> bool {
    aud.is_some_and(|a| a == shared.fhir_base() || a == shared.ehr_fhir_base())
}

/// The patient in context: the EHR launch's, the one picked, or a user's only patient.
fn context_patient(shared: &Shared, p: &Pending) -> Option<String> {
    if let Some(launch) = &p.launch {
        return launch.patient.clone();
    }
    if !scopes::has(&p.scope, "launch/patient") {
        return None;
    }
    p.patient.clone().or_else(|| {
        let user = shared.data.user(p.username.as_deref()?)?;
        (user.patients.len() == 1).then(|| user.patients[0].clone())
    })
}

/// `POST /authorize/login`: fields `txn`, `username`, `password`.
pub async fn login(State(shared): State<Shared>, body: Bytes) -> Response {
    let (params, txn, mut p) = match screen_post(&shared, &body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let username = params.get("username").unwrap_or_default();
    let ok = shared
        .data
        .user(username)
        .is_some_and(|u| Some(u.password.as_str()) == params.get("password"));
    if !ok {
        return pages::login(
            &txn,
            &client_name(&shared, &p.client_id),
            Some("Unknown username or wrong password."),
        );
    }
    p.username = Some(username.to_string());
    let sign_in = random_token();
    {
        let mut store = shared.store.lock();
        store.pending.insert(txn.clone(), p.clone());
        store
            .sign_ins
            .insert(sign_in.clone(), (username.to_string(), now()));
    }
    let mut page = next_page(&shared, &txn, &p);
    if let Ok(cookie) = axum::http::HeaderValue::from_str(&format!(
        "{SIGN_IN_COOKIE}={sign_in}; Path=/; HttpOnly; SameSite=Lax; Max-Age={SIGN_IN_LIFETIME}"
    )) {
        page.headers_mut()
            .append(axum::http::header::SET_COOKIE, cookie);
    }
    page
}

/// `POST /authorize/patient`: fields `txn`, `patient`.
pub async fn choose_patient(State(shared): State<Shared>, body: Bytes) -> Response {
    let (params, txn, mut p) = match screen_post(&shared, &body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(user) = p.username.as_deref().and_then(|u| shared.data.user(u)) else {
        return pages::error("sign in first");
    };
    let Some(patient) = params
        .get("patient")
        .filter(|id| user.patients.iter().any(|p| p == id))
    else {
        return pages::error("choose one of the listed patients");
    };
    p.patient = Some(patient.to_string());
    shared.store.lock().pending.insert(txn.clone(), p.clone());
    next_page(&shared, &txn, &p)
}

/// `POST /authorize/consent`: fields `txn`, `decision` (`approve` or `deny`).
pub async fn consent(State(shared): State<Shared>, body: Bytes) -> Response {
    let (params, txn, p) = match screen_post(&shared, &body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(username) = p.username.clone() else {
        return pages::error("sign in first");
    };
    if needs_patient_choice(&shared, &p) {
        return pages::error("choose a patient first");
    }
    if shared.faults.has("consent-zero-size-checkbox")
        && params.get("decision") == Some("approve")
        && params.get("agree") != Some("on")
    {
        return pages::error("tick \"I agree\" before approving");
    }
    shared.store.lock().pending.remove(&txn);
    let state = if shared.faults.has("authorize-state-not-echoed") {
        None
    } else {
        p.state.as_deref()
    };
    if params.get("decision") != Some("approve") {
        // RFC 6749 §4.1.2.1: access_denied, "The resource owner or authorization server denied the request."
        if shared.faults.has("authorize-deny-no-error") {
            return redirect(&p.redirect_uri, &[("state", state)]);
        }
        return redirect(
            &p.redirect_uri,
            &[
                ("error", Some("access_denied")),
                ("error_description", Some("the user denied access")),
                ("state", state),
            ],
        );
    }
    let grant = approved_grant(&shared, &p, username);
    let code = random_token();
    let lifetime = code_lifetime(&shared, &p.client_id);
    shared.store.lock().codes.insert(
        code.clone(),
        Code {
            grant,
            redirect_uri: p.redirect_uri.clone(),
            code_challenge: p.code_challenge.clone(),
            code_challenge_method: p.code_challenge_method.clone(),
            expires: now() + lifetime,
            used: false,
            issued: Vec::new(),
        },
    );
    if shared.faults.has("authorize-code-missing") {
        return redirect(&p.redirect_uri, &[("state", state)]);
    }
    let mut answer = redirect(&p.redirect_uri, &[("code", Some(&code)), ("state", state)]);
    if shared.faults.has("consent-redirect-307") {
        // Wrong on purpose: the browser re-sends the consent form to the app.
        *answer.status_mut() = StatusCode::TEMPORARY_REDIRECT;
    }
    answer
}

/// The grant a person approved: the scope, the user, the launch context.
fn approved_grant(shared: &Shared, p: &Pending, username: String) -> Grant {
    let fhir_user = shared
        .data
        .user(&username)
        .map(|u| format!("{}/{}", shared.fhir_base(), u.fhir_user));
    let encounter = p
        .launch
        .as_ref()
        .and_then(|l| l.encounter.clone())
        .filter(|_| scopes::has(&p.scope, "launch") || scopes::has(&p.scope, "launch/encounter"));
    Grant {
        client_id: p.client_id.clone(),
        scope: p.scope.clone(),
        username: Some(username),
        fhir_user,
        patient: context_patient(shared, p),
        encounter,
        fhir_context: p
            .launch
            .as_ref()
            .map(|l| l.fhir_context.clone())
            .unwrap_or_default(),
        nonce: p.nonce.clone(),
        approval_expires: now() + 365 * 24 * 3600,
        aud: p.aud.clone(),
    }
}

/// `GET /ehr/launch?launch_url=...&patient=...&encounter=...`: the EHR simulator. Makes a launch
/// context and sends the browser to the app's launch URL with `iss` and `launch`.
pub async fn ehr_launch(State(shared): State<Shared>, RawQuery(query): RawQuery) -> Response {
    let params = match Params::parse(query.as_deref().unwrap_or_default()) {
        Ok(p) => p,
        Err(e) => return pages::error(&e),
    };
    let Some(launch_url) = params
        .get("launch_url")
        .filter(|u| url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "http" | "https")))
    else {
        return pages::error("launch_url must be the app's absolute http(s) launch URL");
    };
    let patient = params.get("patient").unwrap_or("smart-1288992");
    if shared.data.resource("Patient", patient).is_none() {
        return pages::error("unknown patient");
    }
    let encounter = match params.get("encounter") {
        Some(e) if shared.data.resource("Encounter", e).is_none() => {
            return pages::error("unknown encounter")
        }
        Some(e) => Some(e.to_string()),
        None => shared
            .data
            .of_type("Encounter")
            .find(|e| super::data::patient_of(e) == Some(patient))
            .and_then(|e| e["id"].as_str().map(str::to_string)),
    };
    // `fhir_context=Practitioner/x,Encounter/y`: more context for the app (SMART 2.2 fhirContext).
    let mut fhir_context = Vec::new();
    for reference in params.get("fhir_context").unwrap_or_default().split(',') {
        let reference = reference.trim();
        if reference.is_empty() {
            continue;
        }
        let known = reference
            .split_once('/')
            .is_some_and(|(t, id)| shared.data.resource(t, id).is_some());
        if !known {
            return pages::error(&format!("fhir_context: unknown resource {reference}"));
        }
        fhir_context.push(reference.to_string());
    }
    // The tenant EHR shows the chart first; the person opens the app from it.
    if shared.faults.has("ehr-tenant-base") && params.get("opened").is_none() {
        let query = query.as_deref().unwrap_or_default();
        return pages::ehr_chart(patient, &format!("/ehr/launch?{query}&opened=1"));
    }
    let iss = if shared.faults.has("ehr-launch-iss-wrong") {
        format!("{}/other-fhir", shared.origin)
    } else {
        shared.ehr_fhir_base()
    };
    let id = random_token();
    shared.store.lock().launches.insert(
        id.clone(),
        Launch {
            patient: Some(patient.to_string()),
            encounter,
            fhir_context,
            created: now(),
        },
    );
    // The same base written with a trailing `/` (a conforming switch): iss names the
    // endpoint either way.
    let iss = if shared.faults.has("ehr-launch-iss-trailing-slash") {
        format!("{iss}/")
    } else {
        iss
    };
    let launch = (!shared.faults.has("ehr-launch-no-launch-param")).then_some(id.as_str());
    redirect(launch_url, &[("iss", Some(&iss)), ("launch", launch)])
}
