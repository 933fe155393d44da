//! `smartcheck init --screens`: one standalone authorization played in a real Chromium with a
//! client of init's own (registered dynamically and deleted after, or the public client named
//! with `--client-id`), its screens learned (`browser::learn`), the code exchanged to learn
//! the patient the server chose, and the deny control proven by a second authorization that
//! it ends with an error redirect.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::Findings;
use crate::browser::learn::{self, Lesson, Person, Screen};
use crate::browser::{BrowserPool, Network};
use crate::runner::listener::Listener;
use crate::smart::pkce;
use crate::suite::target::ScreenStep;

/// What `--screens` is told.
pub struct Options {
    pub user: String,
    /// The variable the password is read from, and the password.
    pub password_env: String,
    pub password: String,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub patient: Option<String>,
    pub webdriver: Option<String>,
    pub approve_words: Vec<String>,
    pub allow_hosts: Vec<String>,
    pub screenshots: PathBuf,
    pub step_timeout: Duration,
}

/// What was learned, for the target file and the summary.
pub struct Screens {
    pub lesson: Lesson,
    /// The deny control, and whether a second authorization proved it (an error redirect).
    pub deny: Option<(ScreenStep, Result<(), String>)>,
    /// The patient of the token, when the code could be exchanged.
    pub patient: Option<String>,
    pub user: String,
    pub password_ref: String,
    /// Hosts the browser went to besides the FHIR base's.
    pub hosts: Vec<String>,
    /// The registration endpoint where init registered its client, and the status: proof
    /// that registration is dynamic, whatever a GET of it said.
    pub registered: Option<(String, u16)>,
}

/// The dynamically registered client, deleted when done.
struct Registered {
    client_id: String,
    delete: Option<(String, String)>,
    /// The registration endpoint and its answer's status (none for a client given).
    at: Option<(String, u16)>,
}

/// Registers a public client for the listener's redirect URI (RFC 7591).
async fn register(
    http: &reqwest::Client,
    endpoint: &str,
    redirect_uri: &str,
    scope: &str,
) -> Result<Registered, String> {
    let answer = http
        .post(endpoint)
        .json(&json!({
            "client_name": "smartcheck init --screens",
            "redirect_uris": [redirect_uri],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            "scope": scope,
        }))
        .send()
        .await
        .map_err(|e| format!("cannot register a client at {endpoint}: {e}"))?;
    let status = answer.status();
    let body: Value = answer.json().await.unwrap_or(Value::Null);
    let Some(client_id) = body["client_id"].as_str() else {
        return Err(format!(
            "registering a public client at {endpoint} gave status {status} and no client_id; give a public client registered for {redirect_uri} with --client-id"
        ));
    };
    let delete = match (
        body["registration_client_uri"].as_str(),
        body["registration_access_token"].as_str(),
    ) {
        (Some(uri), Some(token)) => Some((uri.to_string(), token.to_string())),
        _ => None,
    };
    Ok(Registered {
        client_id: client_id.to_string(),
        delete,
        at: Some((endpoint.to_string(), status.as_u16())),
    })
}

/// An authorization request of the standalone launch (PKCE S256, `aud`); and its verifier.
fn authorize_url(
    endpoint: &str,
    client_id: &str,
    redirect_uri: &str,
    scope: &str,
    aud: &str,
) -> Result<(String, String), String> {
    let mut url = url::Url::parse(endpoint)
        .map_err(|e| format!("the authorization endpoint {endpoint} is no URL: {e}"))?;
    let verifier = pkce::new_verifier().expose_secret().to_string();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", scope)
        .append_pair("state", &pkce::random_urlsafe(16))
        .append_pair("aud", aud)
        .append_pair("code_challenge", &pkce::s256(&verifier))
        .append_pair("code_challenge_method", "S256");
    Ok((url.to_string(), verifier))
}

/// The patient of the token the code is exchanged for (a public client's exchange).
async fn patient_of(
    http: &reqwest::Client,
    token_endpoint: &str,
    code: &str,
    client_id: &str,
    redirect_uri: &str,
    verifier: &str,
) -> Option<String> {
    let answer = http
        .post(token_endpoint)
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("client_id", client_id),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .ok()?;
    let body: Value = answer.json().await.ok()?;
    body["patient"].as_str().map(str::to_string)
}

fn host_of(url: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
}

/// Learns the screens of `f`'s server.
pub async fn learn(f: &Findings, o: &Options, http: &reqwest::Client) -> Result<Screens, String> {
    let authorize = f.endpoint("authorization_endpoint", "authorize").ok_or(
        "the server publishes no authorization endpoint, so there are no screens to learn",
    )?;
    let token = f.endpoint("token_endpoint", "token");
    let read = if f.smart_version().0 == 1 {
        "read"
    } else {
        "rs"
    };
    let scope = format!("launch/patient openid fhirUser patient/*.{read} offline_access");
    let (bind, path) = match &o.redirect_uri {
        Some(uri) => {
            let u = url::Url::parse(uri).map_err(|e| format!("--redirect-uri {uri}: {e}"))?;
            let addr: SocketAddr = format!(
                "{}:{}",
                u.host_str().unwrap_or("127.0.0.1"),
                u.port_or_known_default().unwrap_or(80)
            )
            .parse()
            .map_err(|_| format!("--redirect-uri {uri}: not a loopback address and port"))?;
            (addr, u.path().to_string())
        }
        None => (
            "127.0.0.1:0".parse().expect("an address"),
            "/callback".to_string(),
        ),
    };
    let listener = Listener::bind(bind, &path)
        .await
        .map_err(|e| format!("cannot listen on {bind} for the redirect: {e}"))?;
    let redirect_uri = listener.redirect_uri();
    let registered = match &o.client_id {
        Some(id) => Registered {
            client_id: id.clone(),
            delete: None,
            at: None,
        },
        None => {
            let endpoint = f
                .endpoint("registration_endpoint", "register")
                .ok_or("the server publishes no registration endpoint: give a public client registered for the redirect URI with --client-id (and --redirect-uri)")?;
            register(http, &endpoint, &redirect_uri, &scope).await?
        }
    };
    let mut hosts: Vec<String> = [
        Some(authorize.as_str()),
        token.as_deref(),
        Some(f.fhir_base.as_str()),
    ]
    .into_iter()
    .flatten()
    .filter_map(host_of)
    .chain(o.allow_hosts.iter().cloned())
    .collect();
    hosts.sort();
    hosts.dedup();
    let pool = BrowserPool::new(o.webdriver.clone(), 1);
    let person = Person {
        user: &o.user,
        password: &o.password,
        password_ref: &format!("${{{}}}", o.password_env),
        patient: o.patient.as_deref(),
        approve_words: &o.approve_words,
    };
    let result = play(
        &pool,
        &listener,
        &hosts,
        &authorize,
        &registered.client_id,
        &redirect_uri,
        &scope,
        f,
        o,
        &person,
    )
    .await;
    pool.shutdown().await;
    let outcome = match result {
        Ok((lesson, deny, code, verifier)) => {
            let patient = match (&token, code) {
                (Some(token), Some(code)) => {
                    patient_of(
                        http,
                        token,
                        &code,
                        &registered.client_id,
                        &redirect_uri,
                        &verifier,
                    )
                    .await
                }
                _ => None,
            };
            let base_host = host_of(&f.fhir_base);
            let others: Vec<String> = hosts
                .iter()
                .filter(|h| Some(*h) != base_host.as_ref())
                .cloned()
                .collect();
            Ok(Screens {
                lesson,
                deny,
                patient,
                user: o.user.clone(),
                password_ref: person.password_ref.to_string(),
                hosts: others,
                registered: registered.at.clone(),
            })
        }
        Err(e) => Err(e),
    };
    if let Some((uri, token)) = &registered.delete {
        let _ = http.delete(uri).bearer_auth(token).send().await;
    }
    listener.shutdown().await;
    outcome
}

/// The code (when the redirect carried one) and the PKCE verifier of the learning pass.
type Played = (
    Lesson,
    Option<(ScreenStep, Result<(), String>)>,
    Option<String>,
    String,
);

/// The learning pass, then the deny pass.
#[allow(clippy::too_many_arguments)]
async fn play(
    pool: &BrowserPool,
    listener: &Listener,
    hosts: &[String],
    authorize: &str,
    client_id: &str,
    redirect_uri: &str,
    scope: &str,
    f: &Findings,
    o: &Options,
    person: &Person<'_>,
) -> Result<Played, String> {
    let network = Network {
        page_timeout: o.step_timeout,
        hosts,
        host_map: &Default::default(),
        extra_args: &[],
    };
    let path = listener.callback_path().to_string();
    let redirected = || listener.has(&path);
    let session = pool.session(None, &network).await?;
    let (url, verifier) = authorize_url(authorize, client_id, redirect_uri, scope, &f.fhir_base)?;
    session.goto(&url).await?;
    let learned = learn::learn(
        &session,
        person,
        o.step_timeout,
        &redirected,
        &o.screenshots,
    )
    .await;
    pool.release(session).await;
    let lesson = learned.map_err(|stuck| {
        format!(
            "{}\n  {}\n  controls: {}\n  screenshots: {}",
            stuck.reason,
            stuck.page,
            stuck.controls,
            if stuck.screenshots.is_empty() {
                "none could be taken".to_string()
            } else {
                stuck
                    .screenshots
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        )
    })?;
    let callback = listener.take(&path);
    if let Some(error) = callback
        .as_ref()
        .and_then(|c| c.params.iter().find(|(k, _)| k == "error"))
    {
        return Err(format!(
            "the authorization ended with error `{}` after these screens: {}",
            error.1,
            lesson
                .screens
                .iter()
                .map(|s| s.seen.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let code = callback.and_then(|c| {
        c.params
            .into_iter()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v)
    });
    let deny = match lesson.deny.clone() {
        Some(step) => {
            let proven = deny_pass(
                pool,
                &network,
                listener,
                &lesson,
                &step,
                (authorize, client_id, redirect_uri, scope),
                f,
                o,
                person,
            )
            .await;
            Some((step, proven))
        }
        None => None,
    };
    Ok((lesson, deny, code, verifier))
}

/// A second authorization with the learned sign-in and patient steps and the deny control:
/// proven when the redirect brings an `error`.
#[allow(clippy::too_many_arguments)]
async fn deny_pass(
    pool: &BrowserPool,
    network: &Network<'_>,
    listener: &Listener,
    lesson: &Lesson,
    deny: &ScreenStep,
    request: (&str, &str, &str, &str),
    f: &Findings,
    o: &Options,
    person: &Person<'_>,
) -> Result<(), String> {
    let path = listener.callback_path().to_string();
    let redirected = || listener.has(&path);
    let session = pool.session(None, network).await?;
    let (authorize, client_id, redirect_uri, scope) = request;
    let (url, _) = authorize_url(authorize, client_id, redirect_uri, scope, &f.fhir_base)?;
    let outcome = async {
        session.goto(&url).await?;
        let cancel = CancellationToken::new();
        let mut passed_over = Vec::new();
        for learned in lesson
            .screens
            .iter()
            .filter(|s| s.screen != Screen::Authorize)
        {
            let steps: Vec<ScreenStep> = learned
                .steps
                .iter()
                .cloned()
                .map(|mut s| {
                    if s.value.as_deref() == Some(person.password_ref) {
                        s.value = Some(person.password.to_string());
                    }
                    // A screen may not show again (a remembered sign-in): every step optional.
                    s.optional = true;
                    s
                })
                .collect();
            let _ = crate::browser::screens::play(
                &session,
                learned.screen.key(),
                &steps,
                &[],
                o.step_timeout,
                &redirected,
                &cancel,
                &mut passed_over,
            )
            .await;
        }
        // A learned step that worked once and not now names an element by something of that
        // one visit: say so, it is what the person has to change.
        let replayed = |passed_over: &[String]| {
            if passed_over.is_empty() {
                String::new()
            } else {
                format!(
                    "; a learned step did not work a second time (its selector may hold a value of one visit): {}",
                    passed_over.join("; ")
                )
            }
        };
        crate::browser::screens::play(
            &session,
            "deny",
            std::slice::from_ref(deny),
            &[],
            o.step_timeout,
            &redirected,
            &cancel,
            &mut passed_over,
        )
        .await
        .map_err(|e| format!("{}: {}{}", e.step, e.reason, replayed(&passed_over)))?;
        if !listener.wait(&[&path], o.step_timeout, &cancel).await {
            return Err(format!(
                "no redirect came after the deny control was clicked{}",
                replayed(&passed_over)
            ));
        }
        match listener.take(&path) {
            Some(c) if c.params.iter().any(|(k, _)| k == "error") => Ok(()),
            _ => Err("the redirect after the deny control carried no error".to_string()),
        }
    }
    .await;
    pool.release(session).await;
    outcome
}
