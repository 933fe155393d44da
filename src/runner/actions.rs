//! The built-in steps, one family per file behind one interface, [`Builtin`]: `discover`;
//! `clients` (`client`, `register`, the RFC 7592 steps); `authorization` (`authorize`);
//! `tokens` (`exchange-code`, `verify-id-token`, `client-credentials`, `debug-token`);
//! `lifecycle` (`refresh`, `introspect`, `revoke`, `fhir-read`, `fhir-search`,
//! `target-reads`); `brands` (`brand-bundle`). This file holds what they share: the case state (clients, PKCE verifiers,
//! the listener, the browser session), the result type and the template helpers. A new
//! built-in is a model type, a file that implements [`Builtin`] for it, and a line in
//! [`run_builtin`].
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use jsonwebtoken::Algorithm;
use serde_json::{json, Value};

use super::context::{RunSettings, TargetRun};
use super::listener::{self, Listener};
use crate::browser::{self, PageSummary, ScreenOutcome, Session};
use crate::http::{Exchange, OutgoingRequest};
use crate::secret::Secret;
use crate::smart::authorize::AuthorizationRequest;
use crate::smart::callback::Callback;
use crate::smart::client::{encoding_key, Client, ClientAuth};
use crate::smart::{id_token, pkce, scopes, token};
use crate::suite::model::{
    AssertionAlg, AuthMethod, AuthorizeAction, AuthorizeMethod, ClientAction, ClientAuthChoice,
    ClientCredentialsAction, DebugTokenAction, EhrLaunchAction, ExchangeCodeAction, Interaction,
    LaunchKind, ManageAction, PkceMode, RedirectChoice, RegisterAction, RegistrationToken,
    VerifierChoice, VerifyIdTokenAction,
};
use crate::suite::target::{BrowserMode, EhrLaunch, Registration};
use crate::suite::template::Template;

/// The JWKS the harness registers for its `private_key_jwt` clients, and the keys behind it.
const CLIENT_JWKS: &str = include_str!("../../fixtures/keys/client-jwks.json");
const CLIENT_RS384_KEY: &[u8] = include_bytes!("../../fixtures/keys/client-rs384.key.pem");
const CLIENT_ES384_KEY: &[u8] = include_bytes!("../../fixtures/keys/client-es384.key.pem");
/// A key no client of the harness registers (the reference server's): signatures made with it
/// must not verify.
const NOT_THE_CLIENTS_KEY: &[u8] = include_bytes!("../../fixtures/keys/reference-rs256.key.pem");
/// A P-384 key no client of the harness registers: an ES384 client's "another key".
const NOT_THE_CLIENTS_ES384_KEY: &[u8] = include_bytes!("../../fixtures/keys/other-es384.key.pem");
/// The public half of [`NOT_THE_CLIENTS_KEY`], as a JWK Set.
const OTHER_RSA_JWKS: &str = include_str!("../../fixtures/keys/reference-jwks.json");

/// What a case holds between its steps.
pub struct CaseState {
    /// The test name, for the folder of saved screenshots.
    pub case_name: String,
    listener: Option<Listener>,
    /// Held while a fixed-port listener is bound, so cases of one target take turns.
    port_guard: Option<tokio::sync::OwnedMutexGuard<()>>,
    session: Option<Session>,
    clients: HashMap<String, Client>,
    /// Why a `client` step made no client, by step id (for the skips of the steps after it).
    no_client: HashMap<String, String>,
    authorizations: HashMap<String, Authorization>,
    /// What `register` steps created, by step id.
    registrations: HashMap<String, Registered>,
    /// The assertions `client-credentials` steps sent, by step id (for replays).
    assertions: HashMap<String, Secret>,
    /// Refresh-token chains, by the step that started them (see `refresh`).
    refresh_chains: HashMap<String, lifecycle::RefreshChain>,
    /// The chain each `refresh` step belongs to.
    chain_of: HashMap<String, String>,
    /// The browser session has played an authorization: the next one starts a fresh browser.
    session_authorized: bool,
    /// What the case's last `discover` step found about scopes, for choosing the scopes the
    /// case asks for in the server's vocabulary.
    offered_scopes: scopes::Offered,
    /// Time spent driving the browser (session start, pages, screens, the wait for the
    /// redirect), summed over the case's steps.
    pub browser_time: std::time::Duration,
    /// Of which, for authorizations: getting the browser, the pages, the redirect.
    pub browser_phases: crate::report::model::BrowserPhases,
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
            no_client: HashMap::new(),
            authorizations: HashMap::new(),
            registrations: HashMap::new(),
            assertions: HashMap::new(),
            refresh_chains: HashMap::new(),
            chain_of: HashMap::new(),
            session_authorized: false,
            offered_scopes: scopes::Offered::default(),
            browser_time: std::time::Duration::ZERO,
            browser_phases: Default::default(),
        }
    }

    /// A suite's scope request in the server's vocabulary (see [`scopes`]): the target's
    /// `scopes` map and what the case's `discover` step found.
    fn scope_for(&self, asked: &str, run: &TargetRun) -> scopes::Chosen {
        scopes::choose(asked, &run.target.scopes, &self.offered_scopes)
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
            // The FHIR base's host, and the EHR's (its launch page and the base it launches
            // with) when the target has one.
            let ehr = run.target.ehr_launch.as_ref();
            let urls = [Some(run.target.fhir_base_str()), ehr.map(|e| e.url.clone())]
                .into_iter()
                .chain([ehr.map(|_| run.target.ehr_fhir_base())]);
            for url in urls.flatten() {
                if let Some(h) = url::Url::parse(&url)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_string))
                {
                    if !hosts.contains(&h) {
                        hosts.push(h);
                    }
                }
            }
            let b = &run.target.browser;
            let network = browser::Network {
                page_timeout: b.step_timeout,
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
            settings.browser.release(session).await;
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
            ActionEnd::Skip(match self.no_client.get(step) {
                Some(why) => {
                    format!("prerequisite missing: step `{step}` provided no client: {why}")
                }
                None => format!("prerequisite missing: step `{step}` provided no client"),
            })
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
        ClientAuthChoice::WrongKey => {
            client.auth = match client.auth {
                ClientAuth::PrivateKeyJwt {
                    kid,
                    alg,
                    public_pem,
                    ..
                } => ClientAuth::PrivateKeyJwt {
                    key: not_the_clients_key(alg).map_err(ActionEnd::Error)?,
                    kid,
                    alg,
                    public_pem,
                },
                _ => {
                    return Err(ActionEnd::Skip(
                        "an assertion signed with a wrong key needs a private_key_jwt client"
                            .into(),
                    ))
                }
            };
        }
    }
    Ok(client)
}

/// A key of the same kind as a client's that no client of the harness registers: its
/// signatures must not verify, and only the signature is wrong (an RSA signature under an EC
/// key's `kid` would test the key type instead).
fn not_the_clients_key(alg: Algorithm) -> Result<crate::smart::client::Signer, String> {
    // Parsed once per run: a fleet signs thousands of such probes.
    static KEYS: std::sync::OnceLock<[Result<crate::smart::client::Signer, String>; 2]> =
        std::sync::OnceLock::new();
    let [rs384, es384] = KEYS.get_or_init(|| {
        [
            encoding_key(NOT_THE_CLIENTS_KEY, Algorithm::RS384),
            encoding_key(NOT_THE_CLIENTS_ES384_KEY, Algorithm::ES384),
        ]
    });
    match alg {
        Algorithm::ES384 => es384.clone(),
        _ => rs384.clone(),
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

mod authorization;
mod brands;
mod clients;
mod discover;
mod lifecycle;
mod sign_in_page;
mod tokens;

/// What a built-in step works with.
pub struct StepInput<'a> {
    pub step_id: &'a str,
    pub state: &'a mut CaseState,
    pub run: &'a TargetRun,
    pub context: &'a Value,
    pub settings: &'a RunSettings,
}

/// One kind of built-in step.
pub trait Builtin {
    /// Carries the step out; never panics on server behaviour.
    fn run(&self, input: StepInput<'_>) -> impl std::future::Future<Output = ActionResult>;
}

/// The step's built-in action carried out, or `None` for a plain `request` step.
pub async fn run_builtin(step: &crate::suite::Step, input: StepInput<'_>) -> Option<ActionResult> {
    macro_rules! first_set {
        ($($field:ident),* $(,)?) => {
            $(if let Some(action) = &step.$field {
                return Some(action.run(input).await);
            })*
        };
    }
    first_set!(
        discover,
        ehr_launch,
        client,
        authorize,
        exchange_code,
        verify_id_token,
        debug_token,
        client_credentials,
        refresh,
        introspect,
        revoke,
        fhir_read,
        fhir_search,
        target_reads,
        wait_for_expiry,
        client_jwks,
        brand_bundle,
        register,
    );
    for (method, action) in [
        ("GET", &step.read_registration),
        ("PUT", &step.update_registration),
        ("DELETE", &step.delete_registration),
    ] {
        if let Some(action) = action {
            return Some(clients::Manage(method, action).run(input).await);
        }
    }
    None
}
