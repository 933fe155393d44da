//! The built-in steps: `client`, `authorize`, `exchange-code`, `verify-id-token`,
//! `debug-token`, `client-credentials` and the registration steps here; `refresh`,
//! `introspect`, `revoke`, `fhir-read`, `fhir-search` and `target-reads` in `lifecycle`. Each uses the SMART protocol code for what it sends and reads, the recording
//! HTTP client for the wire, and the case state for what a case holds between steps (clients,
//! PKCE verifiers, the listener, the browser session).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use jsonwebtoken::Algorithm;
use serde_json::{json, Value};

use super::case::{RunSettings, TargetRun};
use super::listener::{self, Listener};
use crate::browser::{self, ScreenOutcome, Session};
use crate::http::{Exchange, OutgoingRequest};
use crate::secret::Secret;
use crate::smart::authorize::AuthorizationRequest;
use crate::smart::callback::Callback;
use crate::smart::client::{encoding_key, Client, ClientAuth};
use crate::smart::{id_token, pkce, token};
use crate::suite::model::{
    AssertionAlg, AuthMethod, AuthorizeAction, AuthorizeMethod, ClientAction, ClientAuthChoice,
    ClientCredentialsAction, DebugTokenAction, ExchangeCodeAction, Interaction, LaunchKind,
    ManageAction, PkceMode, RedirectChoice, RegisterAction, RegistrationToken, VerifierChoice,
    VerifyIdTokenAction,
};
use crate::suite::target::{BrowserMode, Registration};
use crate::suite::template::Template;

/// The JWKS the harness registers for its `private_key_jwt` clients, and the keys behind it.
const CLIENT_JWKS: &str = include_str!("../../fixtures/keys/client-jwks.json");
const CLIENT_RS384_KEY: &[u8] = include_bytes!("../../fixtures/keys/client-rs384.key.pem");
const CLIENT_ES384_KEY: &[u8] = include_bytes!("../../fixtures/keys/client-es384.key.pem");
/// A key no client of the harness registers (the reference server's): signatures made with it
/// must not verify.
const NOT_THE_CLIENTS_KEY: &[u8] = include_bytes!("../../fixtures/keys/reference-rs256.key.pem");

/// What a case holds between its steps.
pub struct CaseState {
    /// The test name, for the folder of saved screenshots.
    pub case_name: String,
    listener: Option<Listener>,
    /// Held while a fixed-port listener is bound, so cases of one target take turns.
    port_guard: Option<tokio::sync::OwnedMutexGuard<()>>,
    session: Option<Session>,
    clients: HashMap<String, Client>,
    authorizations: HashMap<String, Authorization>,
    /// What `register` steps created, by step id.
    registrations: HashMap<String, Registered>,
    /// The assertions `client-credentials` steps sent, by step id (for replays).
    assertions: HashMap<String, Secret>,
    /// Refresh-token chains, by the step that started them (see `refresh`).
    refresh_chains: HashMap<String, lifecycle::RefreshChain>,
    /// The chain each `refresh` step belongs to.
    chain_of: HashMap<String, String>,
}

/// A registration a `client` or `register` step made, for the RFC 7592 steps and the clean-up.
struct Registered {
    client_id: Option<String>,
    /// `registration_client_uri` and `registration_access_token`, when management is offered.
    management: Option<(String, Secret)>,
    deleted: bool,
}

impl Registered {
    /// From an RFC 7591 registration response (RFC 7592 §3 adds the management fields).
    fn from_answer(answer: &Value) -> Self {
        let management = match (
            answer["registration_client_uri"].as_str(),
            answer["registration_access_token"].as_str(),
        ) {
            (Some(uri), Some(token)) => Some((uri.to_string(), Secret::new(token))),
            _ => None,
        };
        Registered {
            client_id: answer["client_id"].as_str().map(str::to_string),
            management,
            deleted: false,
        }
    }
}

/// What an `authorize` step leaves for the code exchange.
struct Authorization {
    client_step: String,
    redirect_uri: String,
    verifier: Option<Secret>,
    challenge: Option<String>,
    code: Option<String>,
}

/// What a built-in step came to.
#[derive(Default)]
pub struct ActionResult {
    /// The step's own HTTP exchange; its response is what the checks read.
    pub exchange: Option<Exchange>,
    /// The step's result document (what the checks read when there is no exchange).
    pub document: Option<Value>,
    pub related: Vec<Exchange>,
    pub artifacts: Vec<String>,
    pub end: Option<ActionEnd>,
}

/// A built-in step that did not get to its checks.
pub enum ActionEnd {
    /// A prerequisite is missing or the feature is not there: the checks are skipped.
    Skip(String),
    /// The step could not be carried out: the checks are errored.
    Error(String),
}

impl ActionResult {
    fn skip(reason: impl Into<String>) -> Self {
        ActionResult {
            end: Some(ActionEnd::Skip(reason.into())),
            ..Default::default()
        }
    }

    fn error(reason: impl Into<String>) -> Self {
        ActionResult {
            end: Some(ActionEnd::Error(reason.into())),
            ..Default::default()
        }
    }
}

/// Renders a template; a missing value becomes a skip, a bad template an error.
fn render(text: &str, context: &Value) -> Result<String, ActionEnd> {
    let template = Template::parse(text).map_err(|e| ActionEnd::Error(e.message))?;
    template
        .render_string(context)
        .map_err(|m| ActionEnd::Skip(format!("prerequisite missing: {m}")))
}

fn render_value(text: &str, context: &Value) -> Result<Value, ActionEnd> {
    let template = Template::parse(text).map_err(|e| ActionEnd::Error(e.message))?;
    template
        .render_value(context)
        .map_err(|m| ActionEnd::Skip(format!("prerequisite missing: {m}")))
}

/// The value, or the step ends with the reason.
macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(end) => return ActionResult::from(end),
        }
    };
}

impl From<ActionEnd> for ActionResult {
    fn from(end: ActionEnd) -> Self {
        ActionResult {
            end: Some(end),
            ..Default::default()
        }
    }
}

impl CaseState {
    pub fn new(case_name: String) -> Self {
        CaseState {
            case_name,
            listener: None,
            port_guard: None,
            session: None,
            clients: HashMap::new(),
            authorizations: HashMap::new(),
            registrations: HashMap::new(),
            assertions: HashMap::new(),
            refresh_chains: HashMap::new(),
            chain_of: HashMap::new(),
        }
    }

    /// The case's listener, bound on first use: the target's fixed redirect URI, or a free
    /// loopback port.
    async fn listener(&mut self, run: &TargetRun) -> Result<&Listener, String> {
        if self.listener.is_none() {
            let (addr, path): (SocketAddr, String) = match &run.target.redirect_uri {
                Some(uri) => {
                    self.port_guard = Some(run.listener_lock.clone().lock_owned().await);
                    let port = uri.port().unwrap_or(80);
                    (
                        SocketAddr::from(([127, 0, 0, 1], port)),
                        uri.path().to_string(),
                    )
                }
                None => (
                    SocketAddr::from(([127, 0, 0, 1], 0)),
                    listener::CALLBACK_PATH.to_string(),
                ),
            };
            let l = Listener::bind(addr, &path)
                .await
                .map_err(|e| format!("cannot listen on {addr} for the redirect: {e}"))?;
            self.listener = Some(l);
        }
        self.listener
            .as_ref()
            .ok_or_else(|| "the listener is gone".to_string())
    }

    /// The case's browser session, started on first use.
    async fn session(
        &mut self,
        run: &TargetRun,
        settings: &RunSettings,
    ) -> Result<&Session, String> {
        if self.session.is_none() {
            let mut hosts: Vec<String> = run.target.browser.allow_hosts.clone();
            if let Some(h) = run.target.fhir_base.host_str() {
                hosts.push(h.to_string());
            }
            let b = &run.target.browser;
            let network = browser::Network {
                hosts: &hosts,
                host_map: &b.host_map,
                extra_args: &b.chromium_args,
            };
            let s = settings
                .browser
                .session(b.webdriver.as_deref(), &network)
                .await?;
            self.session = Some(s);
        }
        self.session
            .as_ref()
            .ok_or_else(|| "the browser session is gone".to_string())
    }

    /// Ends what the case started: the browser session, the listener, and the clients it
    /// registered (RFC 7592 delete, best effort).
    pub async fn finish(&mut self, run: &TargetRun, settings: &RunSettings) {
        if let Some(session) = self.session.take() {
            session.quit().await;
        }
        if let Some(l) = self.listener.take() {
            l.shutdown().await;
        }
        self.port_guard = None;
        // Every registration the case made (`client` and `register` steps) that no
        // `delete-registration` removed: RFC 7592 delete, best effort.
        let never = tokio_util::sync::CancellationToken::new();
        for registration in std::mem::take(&mut self.registrations).into_values() {
            let (false, Some((uri, token))) = (registration.deleted, registration.management)
            else {
                continue;
            };
            let request = OutgoingRequest {
                method: "DELETE".into(),
                url: uri,
                headers: vec![(
                    "Authorization".into(),
                    format!("Bearer {}", token.expose_secret()),
                )],
                body: None,
            };
            let exchange = run.client.send(request, &never).await;
            exchange.learn_secrets(&settings.redactor);
        }
    }

    /// The client a `client` step provided, or the skip that says it did not.
    fn client_of(&self, step: &str) -> Result<Client, ActionEnd> {
        self.clients.get(step).cloned().ok_or_else(|| {
            ActionEnd::Skip(format!(
                "prerequisite missing: step `{step}` provided no client"
            ))
        })
    }

    fn artifacts_dir(&self, settings: &RunSettings) -> PathBuf {
        let safe: String = self
            .case_name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        settings.artifacts_dir.join(safe)
    }

    /// `client`.
    pub async fn client(
        &mut self,
        step_id: &str,
        action: &ClientAction,
        run: &TargetRun,
        context: &Value,
        settings: &RunSettings,
    ) -> ActionResult {
        match run.target.registration {
            Registration::Static => self.static_client(step_id, action, run),
            Registration::Dynamic => self.register(step_id, action, run, context, settings).await,
        }
    }

    fn static_client(
        &mut self,
        step_id: &str,
        action: &ClientAction,
        run: &TargetRun,
    ) -> ActionResult {
        let method = action.auth_method.as_str();
        let (clients, section) = if action.second {
            (&run.target.other_clients, "other-clients")
        } else {
            (&run.target.clients, "clients")
        };
        let Some(given) = clients.get(method) else {
            let file = &run.target.file;
            return ActionResult::skip(if action.second {
                format!("the target names no second static `{method}` client, which this case needs besides the first (`{section}.{method}` in {file})")
            } else {
                format!(
                    "the target has no static `{method}` client (`{section}.{method}` in {file})"
                )
            });
        };
        let redirect_uri = run
            .target
            .redirect_uri
            .as_ref()
            .map(|u| u.to_string())
            .unwrap_or_default();
        let auth = match action.auth_method {
            AuthMethod::None => ClientAuth::None,
            AuthMethod::ClientSecretBasic => {
                ClientAuth::Basic(Secret::new(given.client_secret.clone().unwrap_or_default()))
            }
            AuthMethod::ClientSecretPost => {
                ClientAuth::Post(Secret::new(given.client_secret.clone().unwrap_or_default()))
            }
            AuthMethod::PrivateKeyJwt => {
                let alg = match given.alg.as_deref() {
                    Some("ES384") => Algorithm::ES384,
                    _ => Algorithm::RS384,
                };
                if given.alg.is_some() && alg_name(alg) != action.alg.as_str() {
                    return ActionResult::skip(format!(
                        "the target's private_key_jwt client signs with {}, not {}",
                        alg_name(alg),
                        action.alg.as_str()
                    ));
                }
                let file = given.private_key_file.clone().unwrap_or_default();
                let pem = match std::fs::read(&file) {
                    Ok(p) => p,
                    Err(e) => return ActionResult::error(format!("cannot read {file}: {e}")),
                };
                let key = match encoding_key(&pem, alg) {
                    Ok(k) => k,
                    Err(e) => return ActionResult::error(format!("{file}: {e}")),
                };
                ClientAuth::PrivateKeyJwt {
                    key: Arc::new(key),
                    kid: given.kid.clone().unwrap_or_default(),
                    alg,
                }
            }
        };
        let client = Client {
            client_id: given.client_id.clone(),
            auth,
            redirect_uri,
        };
        let document = json!({
            "client_id": client.client_id,
            "token_endpoint_auth_method": method,
            "redirect_uris": [client.redirect_uri],
            "registration": "static",
        });
        self.clients.insert(step_id.to_string(), client);
        ActionResult {
            document: Some(document),
            ..Default::default()
        }
    }

    async fn register(
        &mut self,
        step_id: &str,
        action: &ClientAction,
        run: &TargetRun,
        context: &Value,
        settings: &RunSettings,
    ) -> ActionResult {
        let endpoint =
            match registration_endpoint(run, action.registration_endpoint.as_deref(), context) {
                Ok(e) => e,
                Err(end) => return end.into(),
            };
        let redirect_uri = match self.listener(run).await {
            Ok(l) => l.redirect_uri(),
            Err(e) => return ActionResult::error(e),
        };
        let mut metadata = json!({
            "client_name": action.client_name.clone().unwrap_or_else(|| format!("smartcheck {}", self.case_name)),
            "redirect_uris": [redirect_uri],
            "grant_types": action.grant_types,
            "token_endpoint_auth_method": action.auth_method.as_str(),
        });
        if action.grant_types.iter().any(|g| g == "authorization_code") {
            metadata["response_types"] = json!(["code"]);
        }
        if let Some(scope) = &action.scope {
            metadata["scope"] = json!(tri!(render(scope, context)));
        }
        let (alg, key_pem, kid) = match action.alg {
            AssertionAlg::RS384 => (Algorithm::RS384, CLIENT_RS384_KEY, "client-rs384"),
            AssertionAlg::ES384 => (Algorithm::ES384, CLIENT_ES384_KEY, "client-es384"),
        };
        if action.auth_method == AuthMethod::PrivateKeyJwt {
            let jwks: Value = serde_json::from_str(CLIENT_JWKS).unwrap_or_default();
            metadata["jwks"] = jwks;
        }
        let request = registration_request(run, &endpoint, &metadata);
        let exchange = run.client.send(request, &settings.cancel).await;
        exchange.learn_secrets(&settings.redactor);
        let answer: Option<Value> = exchange
            .response
            .as_ref()
            .and_then(|r| serde_json::from_str(&r.body).ok());
        let status = exchange.response.as_ref().map(|r| r.status);
        let client_id = answer
            .as_ref()
            .and_then(|a| a["client_id"].as_str())
            .map(str::to_string);
        let said = answer
            .as_ref()
            .and_then(|a| {
                a["error"]
                    .as_str()
                    .map(|e| (e, a["error_description"].as_str()))
            })
            .map(|(e, d)| match d {
                Some(d) => format!(": {e} ({d})"),
                None => format!(": {e}"),
            })
            .unwrap_or_default();
        let (Some(answer), Some(client_id)) = (answer, client_id) else {
            let why = match (status, &exchange.error) {
                (Some(s), _) => {
                    format!("the registration endpoint answered {s} without a client_id{said}")
                }
                (None, Some(e)) => format!("registration failed: {e}"),
                (None, None) => "registration failed".to_string(),
            };
            return ActionResult {
                exchange: Some(exchange),
                end: Some(ActionEnd::Error(why)),
                ..Default::default()
            };
        };
        let secret = answer["client_secret"].as_str().map(Secret::new);
        let auth = match action.auth_method {
            AuthMethod::None => ClientAuth::None,
            AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost => {
                let Some(secret) = secret else {
                    return ActionResult {
                        exchange: Some(exchange),
                        end: Some(ActionEnd::Error(
                            "the registration answer has no client_secret for a confidential symmetric client".into(),
                        )),
                        ..Default::default()
                    };
                };
                if action.auth_method == AuthMethod::ClientSecretBasic {
                    ClientAuth::Basic(secret)
                } else {
                    ClientAuth::Post(secret)
                }
            }
            AuthMethod::PrivateKeyJwt => match encoding_key(key_pem, alg) {
                Ok(key) => ClientAuth::PrivateKeyJwt {
                    key: Arc::new(key),
                    kid: kid.into(),
                    alg,
                },
                Err(e) => return ActionResult::error(e),
            },
        };
        self.registrations
            .insert(step_id.to_string(), Registered::from_answer(&answer));
        self.clients.insert(
            step_id.to_string(),
            Client {
                client_id,
                auth,
                redirect_uri,
            },
        );
        ActionResult {
            exchange: Some(exchange),
            ..Default::default()
        }
    }

    /// `authorize`.
    pub async fn authorize(
        &mut self,
        step_id: &str,
        action: &AuthorizeAction,
        run: &TargetRun,
        context: &Value,
        settings: &RunSettings,
    ) -> ActionResult {
        let endpoint_text = tri!(render(&action.endpoint, context));
        let endpoint = match url::Url::parse(&endpoint_text) {
            Ok(u) => u,
            Err(e) => {
                return ActionResult::error(format!(
                    "the authorization endpoint `{endpoint_text}` is not an absolute URL: {e}"
                ))
            }
        };
        let scope = tri!(render(&action.scope, context));
        let aud = match &action.aud {
            Some(a) => tri!(render(a, context)),
            None => run.target.fhir_base_str(),
        };
        let client = tri!(self.client_of(&action.client));
        if action.launch == LaunchKind::Ehr && run.target.ehr_launch.is_none() {
            return ActionResult::skip(format!(
                "the target does not say how to start an EHR launch (`ehr-launch` in {})",
                run.target.file
            ));
        }
        let listener = match self.listener(run).await {
            Ok(l) => l,
            Err(e) => return ActionResult::error(e),
        };
        let redirect_uri = match action.redirect_uri {
            RedirectChoice::Registered => client.redirect_uri.clone(),
            RedirectChoice::Unregistered => listener.unregistered_uri(),
        };
        let launch_uri = listener.launch_uri();
        let state = pkce::random_urlsafe(32);
        let nonce = AuthorizationRequest::wants_openid(&scope).then(|| pkce::random_urlsafe(24));
        let verifier = pkce::new_verifier();
        settings.redactor.register(&verifier);
        let pkce_params = match action.pkce {
            PkceMode::S256 => Some((pkce::s256(verifier.expose_secret()), "S256".to_string())),
            PkceMode::Plain => Some((verifier.expose_secret().to_string(), "plain".to_string())),
            PkceMode::None => None,
        };
        let client_id = match &action.client_id {
            Some(id) => tri!(render(id, context)),
            None => client.client_id.clone(),
        };
        let mut request = AuthorizationRequest {
            endpoint,
            client_id: client_id.clone(),
            redirect_uri: redirect_uri.clone(),
            scope,
            state: state.clone(),
            aud,
            launch: None,
            pkce: pkce_params.clone(),
            nonce: nonce.clone(),
            response_type: action
                .response_type
                .clone()
                .unwrap_or_else(|| "code".into()),
            extra: run.target.authorize_params.clone(),
        };
        let flow = Flow {
            action,
            run,
            settings,
            step_id,
        };
        let outcome = match run.target.browser.mode {
            BrowserMode::Manual => flow.manual(&mut request, &launch_uri).await,
            BrowserMode::Webdriver => flow.browser(self, &mut request, &launch_uri).await,
        };
        let mut outcome = match outcome {
            Ok(o) => o,
            Err(end) => return end.into(),
        };
        let listener = match self.listener.as_ref() {
            Some(l) => l,
            None => return ActionResult::error("the listener is gone"),
        };
        let callback = outcome
            .callback
            .take()
            .or_else(|| listener.take(listener.callback_path()));
        let unregistered_hit = listener.take(listener::UNREGISTERED_PATH);
        let mut document = json!({
            "redirected": callback.is_some(),
            "redirected_to_unregistered": unregistered_hit.is_some(),
            "sent": {
                "url": request.url().to_string(),
                "method": match action.method { AuthorizeMethod::Get => "GET", AuthorizeMethod::Post => "POST" },
                "state": state,
                "nonce": nonce,
                "client_id": client_id,
                "redirect_uri": redirect_uri,
                "scope": request.scope,
                "aud": request.aud,
                "launch": request.launch,
                "code_challenge": pkce_params.as_ref().map(|p| p.0.clone()),
                "code_challenge_method": pkce_params.as_ref().map(|p| p.1.clone()),
                "response_type": request.response_type,
            },
        });
        if let Some(launch) = &outcome.launch {
            document["launch"] = launch.to_json();
        }
        if let Some(url) = &outcome.final_url {
            document["final_url"] = json!(url);
        }
        if let Some(stopped) = &outcome.stopped {
            document["stopped"] = json!(stopped);
        }
        let hit = callback.as_ref().or(unregistered_hit.as_ref());
        if let Some(cb) = hit {
            if let Value::Object(params) = cb.to_json() {
                for (k, v) in params {
                    document[k.as_str()] = v;
                }
            }
        }
        let code = callback
            .as_ref()
            .and_then(|c| c.get("code"))
            .map(str::to_string);
        // One line that says how the authorization ended, for the checks' `actual:`.
        document["outcome"] = json!(match (&callback, &code) {
            (Some(_), Some(_)) => "code".to_string(),
            (Some(cb), None) => match cb.get("error") {
                Some(error) => format!(
                    "error={error}{}",
                    cb.get("error_description")
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default()
                ),
                None => "a redirect with neither code nor error".to_string(),
            },
            (None, _) => format!(
                "no redirect to the redirect_uri (the browser stopped at {}){}",
                outcome.final_url.as_deref().unwrap_or("an unknown page"),
                outcome
                    .stopped
                    .as_deref()
                    .map(|s| format!("; {s}"))
                    .unwrap_or_default()
            ),
        });
        if let Some(code) = &code {
            settings.redactor.register_str(code);
        }
        self.authorizations.insert(
            step_id.to_string(),
            Authorization {
                client_step: action.client.clone(),
                redirect_uri,
                verifier: Some(verifier),
                challenge: pkce_params.map(|p| p.0),
                code,
            },
        );
        ActionResult {
            document: Some(document),
            artifacts: outcome.artifacts,
            end: outcome.error.map(ActionEnd::Error),
            ..Default::default()
        }
    }

    /// `exchange-code`.
    pub async fn exchange_code(
        &mut self,
        action: &ExchangeCodeAction,
        run: &TargetRun,
        context: &Value,
        settings: &RunSettings,
    ) -> ActionResult {
        let endpoint = tri!(render(&action.endpoint, context));
        let Some(auth) = self.authorizations.get(&action.from) else {
            return ActionResult::skip(format!(
                "prerequisite missing: step `{}` made no authorization",
                action.from
            ));
        };
        let code = match &action.code {
            Some(c) => tri!(render(c, context)),
            None => match &auth.code {
                Some(c) => c.clone(),
                None => {
                    return ActionResult::skip(format!(
                        "prerequisite missing: the authorization of step `{}` returned no code",
                        action.from
                    ))
                }
            },
        };
        let client_step = action
            .client
            .clone()
            .unwrap_or_else(|| auth.client_step.clone());
        let client = tri!(with_auth_choice(
            tri!(self.client_of(&client_step)),
            action.client_auth
        ));
        let redirect_uri = match &action.redirect_uri {
            Some(r) => tri!(render(r, context)),
            None => auth.redirect_uri.clone(),
        };
        let verifier = auth
            .verifier
            .as_ref()
            .map(|v| v.expose_secret().to_string());
        let code_verifier = match action.verifier {
            VerifierChoice::Match => verifier,
            VerifierChoice::Missing => None,
            VerifierChoice::Blank => Some(String::new()),
            VerifierChoice::Wrong => Some(pkce::new_verifier().expose_secret().to_string()),
            VerifierChoice::Challenge => match &auth.challenge {
                Some(c) => Some(c.clone()),
                None => return ActionResult::skip("the authorization sent no code_challenge"),
            },
        };
        let request = match token::code_exchange_request(
            &endpoint,
            &client,
            &token::CodeExchange {
                code,
                redirect_uri,
                code_verifier,
            },
        ) {
            Ok(r) => r,
            Err(e) => return ActionResult::error(e),
        };
        send(run, request, settings).await
    }

    /// `verify-id-token`.
    pub async fn verify_id_token(
        &mut self,
        action: &VerifyIdTokenAction,
        run: &TargetRun,
        context: &Value,
        settings: &RunSettings,
    ) -> ActionResult {
        let token = tri!(render(&action.token, context));
        let jwks_uri = tri!(render(&action.jwks_uri, context));
        let client = tri!(self.client_of(&action.client));
        let advertised: Vec<String> = match &action.algs {
            Some(t) => match tri!(render_value(t, context)) {
                Value::Array(items) => items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                other => {
                    return ActionResult::error(format!(
                        "`algs` must name a JSON array of algorithm names, not {other}"
                    ))
                }
            },
            None => vec!["RS256".to_string()],
        };
        let request = OutgoingRequest {
            method: "GET".into(),
            url: jwks_uri,
            headers: vec![("Accept".into(), "application/json".into())],
            body: None,
        };
        let exchange = run.client.send(request, &settings.cancel).await;
        let jwks: Option<Value> = exchange
            .response
            .as_ref()
            .filter(|r| r.status == 200)
            .and_then(|r| serde_json::from_str(&r.body).ok());
        let Some(jwks) = jwks else {
            return ActionResult {
                related: vec![exchange],
                end: Some(ActionEnd::Error(
                    "the JWKS could not be fetched as JSON, so the id_token cannot be verified"
                        .into(),
                )),
                ..Default::default()
            };
        };
        let now = chrono::Utc::now().timestamp();
        let document = id_token::verify(&token, &jwks, &client.client_id, &advertised, now);
        ActionResult {
            document: Some(document),
            related: vec![exchange],
            ..Default::default()
        }
    }

    /// `client-credentials` (SMART Backend Services).
    pub async fn client_credentials(
        &mut self,
        step_id: &str,
        action: &ClientCredentialsAction,
        run: &TargetRun,
        context: &Value,
        settings: &RunSettings,
    ) -> ActionResult {
        let endpoint = tri!(render(&action.endpoint, context));
        let scope = tri!(render(&action.scope, context));
        let client = tri!(self.client_of(&action.client));
        let ClientAuth::PrivateKeyJwt { key, kid, alg } = &client.auth else {
            return ActionResult::skip("backend services need a private_key_jwt client");
        };
        let assertion = match &action.replay {
            Some(earlier) => match self.assertions.get(earlier) {
                Some(a) => a.clone(),
                None => {
                    return ActionResult::skip(format!(
                        "prerequisite missing: step `{earlier}` sent no assertion"
                    ))
                }
            },
            None => {
                let tweaks = &action.assertion;
                let aud = match &tweaks.aud {
                    Some(a) => tri!(render(a, context)),
                    None => endpoint.clone(),
                };
                let lifetime = tweaks.lifetime.unwrap_or(300);
                let mut claims =
                    crate::smart::client::assertion_claims(&client.client_id, &aud, lifetime);
                if let Some(sub) = &tweaks.sub {
                    claims["sub"] = json!(tri!(render(sub, context)));
                }
                let kid = tweaks.kid.as_deref().unwrap_or(kid);
                if tweaks.unsigned {
                    crate::smart::client::unsigned_jwt(kid, &claims)
                } else if tweaks.hs256_with_public_key {
                    let public = public_key_text(kid);
                    let hmac = jsonwebtoken::EncodingKey::from_secret(public.as_bytes());
                    tri!(crate::smart::client::sign_assertion(
                        &claims,
                        &hmac,
                        kid,
                        Algorithm::HS256
                    )
                    .map_err(ActionEnd::Error))
                } else if tweaks.wrong_key {
                    let other = match encoding_key(NOT_THE_CLIENTS_KEY, Algorithm::RS384) {
                        Ok(k) => k,
                        Err(e) => return ActionResult::error(e),
                    };
                    tri!(crate::smart::client::sign_assertion(
                        &claims,
                        &other,
                        kid,
                        Algorithm::RS384
                    )
                    .map_err(ActionEnd::Error))
                } else {
                    tri!(
                        crate::smart::client::sign_assertion(&claims, key, kid, *alg)
                            .map_err(ActionEnd::Error)
                    )
                }
            }
        };
        settings.redactor.register(&assertion);
        self.assertions
            .insert(step_id.to_string(), assertion.clone());
        let mut encoder = url::form_urlencoded::Serializer::new(String::new());
        encoder
            .append_pair(
                "grant_type",
                action.grant_type.as_deref().unwrap_or("client_credentials"),
            )
            .append_pair("scope", &scope)
            .append_pair(
                "client_assertion_type",
                action
                    .assertion_type
                    .as_deref()
                    .unwrap_or("urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            )
            .append_pair("client_assertion", assertion.expose_secret());
        let request = OutgoingRequest {
            method: "POST".into(),
            url: endpoint,
            headers: vec![
                (
                    "Content-Type".into(),
                    "application/x-www-form-urlencoded".into(),
                ),
                ("Accept".into(), "application/json".into()),
            ],
            body: Some(encoder.finish()),
        };
        send(run, request, settings).await
    }

    /// `register`.
    pub async fn register_client(
        &mut self,
        step_id: &str,
        action: &RegisterAction,
        run: &TargetRun,
        context: &Value,
        settings: &RunSettings,
    ) -> ActionResult {
        let endpoint = tri!(registration_endpoint(
            run,
            action.endpoint.as_deref(),
            context
        ));
        let metadata = tri!(render_json(&action.metadata, context));
        let exchange = run
            .client
            .send(
                registration_request(run, &endpoint, &metadata),
                &settings.cancel,
            )
            .await;
        exchange.learn_secrets(&settings.redactor);
        let answer: Value = exchange
            .response
            .as_ref()
            .and_then(|r| serde_json::from_str(&r.body).ok())
            .unwrap_or_default();
        self.registrations
            .insert(step_id.to_string(), Registered::from_answer(&answer));
        ActionResult {
            exchange: Some(exchange),
            ..Default::default()
        }
    }

    /// `read-registration`, `update-registration`, `delete-registration` (RFC 7592 §2.1-2.3).
    pub async fn manage_registration(
        &mut self,
        method: &str,
        action: &ManageAction,
        run: &TargetRun,
        context: &Value,
        settings: &RunSettings,
    ) -> ActionResult {
        let Some(registration) = self.registrations.get(&action.from) else {
            return ActionResult::skip(format!(
                "prerequisite missing: step `{}` made no registration",
                action.from
            ));
        };
        let Some((uri, token)) = &registration.management else {
            return ActionResult::skip(
                "the registration has no registration_client_uri: the server offers RFC 7591 registration without RFC 7592 management",
            );
        };
        let mut headers = vec![("Accept".to_string(), "application/json".to_string())];
        match action.token {
            RegistrationToken::Registered => headers.push((
                "Authorization".into(),
                format!("Bearer {}", token.expose_secret()),
            )),
            RegistrationToken::Wrong => headers.push((
                "Authorization".into(),
                format!("Bearer wrong-{}", pkce::random_urlsafe(16)),
            )),
            RegistrationToken::None => {}
        }
        let mut body = None;
        if let Some(metadata) = &action.metadata {
            let mut metadata = tri!(render_json(metadata, context));
            if let Value::Object(map) = &mut metadata {
                // RFC 7592 §2.2: the update carries the client_id it replaces.
                if !map.contains_key("client_id") {
                    let Some(id) = &registration.client_id else {
                        return ActionResult::skip(
                            "prerequisite missing: the registration response has no client_id for the update to carry",
                        );
                    };
                    map.insert("client_id".into(), json!(id));
                }
            }
            headers.push(("Content-Type".into(), "application/json".into()));
            body = Some(metadata.to_string());
        }
        let request = OutgoingRequest {
            method: method.into(),
            url: uri.clone(),
            headers,
            body,
        };
        let exchange = run.client.send(request, &settings.cancel).await;
        exchange.learn_secrets(&settings.redactor);
        let deleted = method == "DELETE"
            && action.token == RegistrationToken::Registered
            && exchange
                .response
                .as_ref()
                .is_some_and(|r| (200..300).contains(&r.status));
        if deleted {
            if let Some(r) = self.registrations.get_mut(&action.from) {
                r.deleted = true;
            }
        }
        ActionResult {
            exchange: Some(exchange),
            ..Default::default()
        }
    }

    /// `debug-token`.
    pub async fn debug_token(
        &mut self,
        action: &DebugTokenAction,
        run: &TargetRun,
        context: &Value,
        settings: &RunSettings,
    ) -> ActionResult {
        let endpoint = match (&action.endpoint, &run.target.debug_token_endpoint) {
            (Some(e), _) => tri!(render(e, context)),
            (None, Some(e)) => e.clone(),
            (None, None) => {
                return ActionResult::skip(format!(
                    "the target has no `debug-token-endpoint` ({})",
                    run.target.file
                ))
            }
        };
        let client = tri!(self.client_of(&action.client));
        let var = |name: &str| {
            run.target
                .vars
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let user = match &action.user {
            Some(u) => tri!(render(u, context)),
            None => match var("user") {
                Some(u) => u,
                None => {
                    return ActionResult::skip(
                        "no user: set `user` on the step or `vars.user` in the target",
                    )
                }
            },
        };
        let mut body = json!({
            "client_id": client.client_id,
            "username": user,
            "scope": tri!(render(&action.scope, context)),
        });
        let patient = match &action.patient {
            Some(p) => Some(tri!(render(p, context))),
            None => var("patient"),
        };
        if let Some(p) = patient {
            body["patient_id"] = json!(p);
        }
        if let Some(seconds) = action.access_lifetime {
            body["access_lifetime"] = json!(seconds);
        }
        if let Some(seconds) = action.approval_expires_in {
            body["approval_expires"] = json!(chrono::Utc::now().timestamp() + seconds as i64);
        }
        let request = OutgoingRequest {
            method: "POST".into(),
            url: endpoint,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: Some(body.to_string()),
        };
        send(run, request, settings).await
    }
}

/// The client as a token request presents it: as registered, with a wrong secret, or with no
/// authentication at all.
fn with_auth_choice(mut client: Client, choice: ClientAuthChoice) -> Result<Client, ActionEnd> {
    match choice {
        ClientAuthChoice::Registered => {}
        ClientAuthChoice::WrongSecret => {
            let wrong = Secret::new(format!("wrong-{}", pkce::random_urlsafe(12)));
            client.auth = match client.auth {
                ClientAuth::Basic(_) => ClientAuth::Basic(wrong),
                ClientAuth::Post(_) => ClientAuth::Post(wrong),
                _ => {
                    return Err(ActionEnd::Skip(
                        "a wrong client secret needs a confidential symmetric client".into(),
                    ))
                }
            }
        }
        ClientAuthChoice::None => {
            if matches!(client.auth, ClientAuth::None) {
                return Err(ActionEnd::Skip(
                    "a request without client authentication needs a confidential client (this one is public)".into(),
                ));
            }
            client.auth = ClientAuth::None;
        }
    }
    Ok(client)
}

/// The registration endpoint: the target's override, else the step's (usually from discovery).
fn registration_endpoint(
    run: &TargetRun,
    given: Option<&str>,
    context: &Value,
) -> Result<String, ActionEnd> {
    if let Some(e) = &run.target.registration_endpoint {
        return Ok(e.clone());
    }
    let Some(given) = given else {
        return Err(ActionEnd::Error(
            "no registration endpoint: give the step an `endpoint` or the target a `registration-endpoint`".into(),
        ));
    };
    match render(given, context) {
        Ok(e) => Ok(e),
        Err(ActionEnd::Skip(_)) => Err(ActionEnd::Skip(
            "the server advertises no registration_endpoint (and the target sets no `registration-endpoint`)".into(),
        )),
        Err(e) => Err(e),
    }
}

/// An RFC 7591 §3.1 registration request, with the target's initial access token.
fn registration_request(run: &TargetRun, endpoint: &str, metadata: &Value) -> OutgoingRequest {
    let mut headers = vec![
        ("Content-Type".to_string(), "application/json".to_string()),
        ("Accept".to_string(), "application/json".to_string()),
    ];
    if let Some(t) = &run.target.initial_access_token {
        headers.push((
            "Authorization".into(),
            format!("Bearer {}", t.expose_secret()),
        ));
    }
    OutgoingRequest {
        method: "POST".into(),
        url: endpoint.to_string(),
        headers,
        body: Some(metadata.to_string()),
    }
}

/// Renders the templates in the string values of a JSON value.
fn render_json(value: &Value, context: &Value) -> Result<Value, ActionEnd> {
    super::request::json(value, context).map_err(|e| match e {
        super::request::RenderError::Missing(m) => {
            ActionEnd::Skip(format!("prerequisite missing: {m}"))
        }
        super::request::RenderError::Invalid(e) => ActionEnd::Error(e),
    })
}

/// The public JWK the harness registers under `kid`, as text (the "secret" of an HS256
/// algorithm-confusion attempt).
fn public_key_text(kid: &str) -> String {
    let jwks: Value = serde_json::from_str(CLIENT_JWKS).unwrap_or_default();
    jwks["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == kid))
        .map(Value::to_string)
        .unwrap_or_else(|| CLIENT_JWKS.to_string())
}

/// Sends the step's request through the recording client; the exchange is the step's result.
pub async fn send(
    run: &TargetRun,
    request: OutgoingRequest,
    settings: &RunSettings,
) -> ActionResult {
    let exchange = run.client.send(request, &settings.cancel).await;
    exchange.learn_secrets(&settings.redactor);
    ActionResult {
        exchange: Some(exchange),
        ..Default::default()
    }
}

fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::ES384 => "ES384",
        _ => "RS384",
    }
}

/// One authorization in progress.
struct Flow<'a> {
    action: &'a AuthorizeAction,
    run: &'a TargetRun,
    settings: &'a RunSettings,
    step_id: &'a str,
}

#[derive(Default)]
struct FlowOutcome {
    callback: Option<Callback>,
    launch: Option<Callback>,
    final_url: Option<String>,
    artifacts: Vec<String>,
    /// The flow could not be played (a screen step failed): the step errors.
    error: Option<String>,
    /// Where the flow stopped when the server was expected to stop it.
    stopped: Option<String>,
}

impl Flow<'_> {
    fn ehr_launch_url(&self, launch_uri: &str) -> Option<String> {
        let ehr = self.run.target.ehr_launch.as_ref()?;
        let mut url = url::Url::parse(&ehr.url).ok()?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair(&ehr.launch_uri_param, launch_uri);
            for (k, v) in &ehr.params {
                q.append_pair(k, v);
            }
        }
        Some(url.to_string())
    }

    /// A person at the terminal: print the URL, read the redirect URL back.
    async fn manual(
        &self,
        request: &mut AuthorizationRequest,
        launch_uri: &str,
    ) -> Result<FlowOutcome, ActionEnd> {
        let mut outcome = FlowOutcome::default();
        if self.action.launch == LaunchKind::Ehr {
            let url = self.ehr_launch_url(launch_uri).unwrap_or_default();
            let pasted = prompt(&format!(
                "[{}] Start the EHR launch at\n  {url}\nthen paste the URL the browser lands on (the app's launch URL):",
                self.step_id
            ))
            .await
            .map_err(ActionEnd::Error)?;
            let launch = parse_pasted(&pasted);
            request.launch = launch.get("launch").map(str::to_string);
            // SMART 2.2 app-launch: the app sends `aud` = the `iss` the EHR launched it with.
            if self.action.aud.is_none() {
                if let Some(iss) = launch.get("iss") {
                    request.aud = iss.to_string();
                }
            }
            outcome.launch = Some(launch);
        }
        let pasted = prompt(&format!(
            "[{}] Open this URL in a browser, sign in and answer the consent screen:\n  {}\nthen paste the URL you were redirected to:",
            self.step_id,
            request.url()
        ))
        .await
        .map_err(ActionEnd::Error)?;
        outcome.callback = Some(parse_pasted(&pasted));
        Ok(outcome)
    }

    /// The browser: EHR launch if asked, the authorization request, the target's screens, and
    /// the wait for the redirect.
    async fn browser(
        &self,
        state: &mut CaseState,
        request: &mut AuthorizationRequest,
        launch_uri: &str,
    ) -> Result<FlowOutcome, ActionEnd> {
        let settings = self.settings;
        let cancel = &settings.cancel;
        let target = &self.run.target;
        let artifacts_dir = state.artifacts_dir(settings);
        if let Err(e) = state.session(self.run, settings).await {
            return Err(ActionEnd::Error(e));
        }
        let (Some(session), Some(listener)) = (state.session.as_ref(), state.listener.as_ref())
        else {
            return Err(ActionEnd::Error(
                "the browser session or listener is gone".into(),
            ));
        };
        let mut outcome = FlowOutcome::default();
        let fail = |outcome: &mut FlowOutcome, reason: String| {
            outcome.error = Some(reason);
        };
        let timeout = target.browser.redirect_timeout + target.browser.step_timeout;
        if self.action.launch == LaunchKind::Ehr {
            let url = self.ehr_launch_url(launch_uri).unwrap_or_default();
            session.goto(&url).await.map_err(ActionEnd::Error)?;
            if !listener
                .wait(&[listener::LAUNCH_PATH], timeout, cancel)
                .await
            {
                let (files, page) = session.capture(&artifacts_dir, self.step_id).await;
                outcome.artifacts = files.iter().map(|f| f.display().to_string()).collect();
                outcome.final_url = page.clone();
                fail(&mut outcome, format!(
                    "the EHR launch at {url} never opened the app's launch URL (the browser is at {})",
                    page.unwrap_or_default()
                ));
                return Ok(outcome);
            }
            let launch = listener.take(listener::LAUNCH_PATH).unwrap_or_default();
            request.launch = launch.get("launch").map(str::to_string);
            // SMART 2.2 app-launch: the app sends `aud` = the `iss` the EHR launched it with.
            if self.action.aud.is_none() {
                if let Some(iss) = launch.get("iss") {
                    request.aud = iss.to_string();
                }
            }
            outcome.launch = Some(launch);
        }
        let open = match self.action.method {
            AuthorizeMethod::Get => request.url().to_string(),
            AuthorizeMethod::Post => {
                let params = request.params();
                let fields: Vec<(&str, String)> = params
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.clone()))
                    .collect();
                let page = listener::auto_post_page(request.endpoint.as_str(), &fields);
                listener.serve_page(&pkce::random_urlsafe(9), page)
            }
        };
        session.goto(&open).await.map_err(ActionEnd::Error)?;
        let redirect_paths = [listener.callback_path(), listener::UNREGISTERED_PATH];
        let redirected = || redirect_paths.iter().any(|p| listener.has(p));
        let screens: Vec<(&str, &[crate::suite::target::ScreenStep])> =
            match self.action.interaction {
                Interaction::Approve => vec![
                    ("sign-in", &target.browser.sign_in[..]),
                    ("patient", &target.browser.patient[..]),
                    ("authorize", &target.browser.authorize[..]),
                ],
                Interaction::Deny => vec![
                    ("sign-in", &target.browser.sign_in[..]),
                    ("patient", &target.browser.patient[..]),
                    ("deny", &target.browser.deny[..]),
                ],
                Interaction::None => vec![],
            };
        // When the server should stop the flow, a screen that does not come is the expected
        // outcome: wait for it no longer than for a redirect.
        let step_timeout = if self.action.expect_refusal {
            target
                .browser
                .step_timeout
                .min(target.browser.redirect_timeout)
        } else {
            target.browser.step_timeout
        };
        for (name, steps) in screens {
            match browser::screens::play(session, name, steps, step_timeout, &redirected, cancel)
                .await
            {
                Ok(ScreenOutcome::Done) => {}
                Ok(ScreenOutcome::Redirected) => break,
                Ok(ScreenOutcome::Cancelled) => {
                    return Err(ActionEnd::Skip("interrupted (Ctrl-C)".into()));
                }
                Err(failure) => {
                    let reason = format!(
                        "the screen step {} could not be played: {}",
                        failure.step, failure.reason
                    );
                    if self.action.expect_refusal {
                        outcome.stopped = Some(reason);
                        outcome.final_url = session.current_url().await;
                        let _ = session.goto("about:blank").await;
                        return Ok(outcome);
                    }
                    let (files, page) = session.capture(&artifacts_dir, self.step_id).await;
                    outcome.artifacts = files.iter().map(|f| f.display().to_string()).collect();
                    outcome.final_url = page;
                    fail(&mut outcome, reason);
                    return Ok(outcome);
                }
            }
        }
        let wait = match self.action.interaction {
            Interaction::None => target.browser.redirect_timeout,
            _ => timeout,
        };
        listener.wait(&redirect_paths, wait, cancel).await;
        outcome.final_url = session.current_url().await;
        if !redirected()
            && self.action.interaction != Interaction::None
            && !self.action.expect_refusal
        {
            // A server that never redirects is a finding of the checks; the picture helps.
            let (files, _) = session.capture(&artifacts_dir, self.step_id).await;
            outcome.artifacts = files.iter().map(|f| f.display().to_string()).collect();
        }
        // Leave the browser on a blank page, so the next authorization starts clean.
        let _ = session.goto("about:blank").await;
        Ok(outcome)
    }
}

fn parse_pasted(text: &str) -> Callback {
    match url::Url::parse(text.trim()) {
        Ok(u) => Callback::parse(u.path(), u.query()),
        Err(_) => Callback::parse("", Some(text.trim().trim_start_matches('?'))),
    }
}

async fn prompt(message: &str) -> Result<String, String> {
    use tokio::io::AsyncReadExt;
    // One person at one terminal: cases running in parallel ask one at a time.
    static TERMINAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = TERMINAL.lock().await;
    // Not `eprintln!`: a closed stderr must not panic the case.
    {
        use std::io::Write;
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(stderr, "{message}");
    }
    // Byte by byte, so that nothing after this line is read ahead and lost for the next prompt.
    let mut stdin = tokio::io::stdin();
    let mut line = Vec::new();
    loop {
        match stdin.read_u8().await {
            Ok(b'\n') => break,
            Ok(b) => line.push(b),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(format!("cannot read the pasted URL: {e}")),
        }
    }
    let line = String::from_utf8_lossy(&line).trim().to_string();
    if line.is_empty() {
        return Err("no URL was pasted".into());
    }
    Ok(line)
}

mod discover;
mod lifecycle;
pub use discover::discover;
pub use lifecycle::{fhir_read, fhir_search, target_reads};
