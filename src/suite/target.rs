//! The target file format: one server under test, its settings, and where its secrets come from.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::secret::Secret;

/// One server under test. Strings may read environment variables as `${NAME}`; that is the
/// only way secrets enter a run.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TargetFile {
    /// Short kebab-case name: the first part of every test name (`target::suite::case`).
    pub name: String,
    /// The FHIR base URL, e.g. `https://ehr.example.org/fhir`.
    pub fhir_base: String,
    /// The SMART App Launch major version the server claims (1 for STU1, 2 for 2.x). Suites
    /// for another major version are not run against it.
    #[serde(default = "default_smart_version")]
    pub smart_version: u32,
    /// The `Origin` sent where a suite checks CORS (`{{ target.origin }}`).
    #[serde(default = "default_origin")]
    pub origin: String,
    #[serde(default)]
    pub timeouts: Timeouts,
    /// Largest response body read, in bytes; a larger one errors the step.
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: u64,
    #[serde(default)]
    pub tls: Tls,
    /// Headers sent with every request (e.g. an API gateway key read from `${ENV}`);
    /// their values are treated as secrets.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Free values for suites, read as `{{ target.vars.NAME }}` (e.g. the expected patient).
    #[serde(default)]
    pub vars: BTreeMap<String, serde_json::Value>,
    /// Named secrets for suites, read as `{{ secrets.NAME }}`, normally `${ENV_VAR}`. Their
    /// values are masked in every output.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// How the case's clients come to be: registered per run (`dynamic`, deleted afterwards
    /// where RFC 7592 management is offered) or given (`static`, from `clients`).
    #[serde(default)]
    pub registration: Registration,
    /// Static clients by authentication method: `none`, `client_secret_basic`,
    /// `client_secret_post`, `private_key_jwt` (values normally `${ENV}`).
    #[serde(default)]
    pub clients: BTreeMap<String, StaticClient>,
    /// Second static clients, by the same methods, for the cases that need another client (a
    /// code or refresh token presented by a client it was not issued to). Without one those
    /// cases are skipped with the reason.
    #[serde(default)]
    pub other_clients: BTreeMap<String, StaticClient>,
    /// An initial access token for dynamic registration (RFC 7591 §3), normally `${ENV}`.
    #[serde(default)]
    pub initial_access_token: Option<String>,
    /// The registration endpoint, when discovery does not advertise the right one (the same as
    /// `discovery.registration_endpoint`).
    #[serde(default)]
    pub registration_endpoint: Option<String>,
    /// Values the server does not publish, or publishes wrong, by smart-configuration field name
    /// (`authorization_endpoint`, `token_endpoint`, `capabilities`,
    /// `token_endpoint_auth_methods_supported`, ...). The flow suites' `discover` steps use them
    /// over what discovery finds, and every report says which values came from the target.
    #[serde(default)]
    pub discovery: BTreeMap<String, serde_json::Value>,
    /// The redirect URI the harness listens on (loopback http). Unset: a free port per case,
    /// which only works with dynamic registration.
    #[serde(default)]
    pub redirect_uri: Option<String>,
    /// How an EHR launch is started (the EHR's launch URL; the app's launch URL is added).
    #[serde(default)]
    pub ehr_launch: Option<EhrLaunch>,
    /// Parameters added to every authorization request besides SMART's, for servers that want
    /// more (a patient preselection such as `patient_id`, a tenant). SMART's own parameters are
    /// never replaced.
    #[serde(default)]
    pub authorize_params: BTreeMap<String, String>,
    /// How the authorization screens are passed.
    #[serde(default)]
    pub browser: BrowserSettings,
    /// An S4S-style debug token endpoint (`debug-token` steps).
    #[serde(default)]
    pub debug_token_endpoint: Option<String>,
    /// An S4S-style debug introspection endpoint (`GET ...?token=`), read by suites as
    /// `{{ target.debug-introspect-endpoint }}`.
    #[serde(default)]
    pub debug_introspect_endpoint: Option<String>,
    /// How `introspect` steps authorize themselves, when the server wants something other than
    /// the client's authentication (e.g. a resource server's bearer token from `${ENV}`).
    #[serde(default)]
    pub introspection_auth: Option<HeaderAuth>,
    /// Extra FHIR reads for servers with more data, made by `target-reads` steps with the
    /// case's token.
    #[serde(default)]
    pub reads: Vec<ExtraRead>,
    /// How long a case may wait for an access token to expire (`wait-for-expiry` steps), e.g.
    /// `6m` for a server whose backend tokens live five minutes. Unset: no waiting, and the
    /// expiry checks are skipped with the token's lifetime as the reason.
    #[serde(default, deserialize_with = "humantime_serde_compat::deserialize_opt")]
    #[schemars(with = "Option<String>")]
    pub token_expiry_wait: Option<std::time::Duration>,
    /// How long the code-expiry case may hold an authorization code before it presents it
    /// (`wait-for-expiry: { code: true }`), e.g. `11m`: RFC 6749 §4.1.2 recommends codes live
    /// at most ten minutes, so a wait of more than that can judge a code that still works; a
    /// shorter one judges only a refusal. Unset: the case is skipped.
    #[serde(default, deserialize_with = "humantime_serde_compat::deserialize_opt")]
    #[schemars(with = "Option<String>")]
    pub code_expiry_wait: Option<std::time::Duration>,
    /// A claim about the server: setting it turns skips into failures where the server does not
    /// do it. SMART capabilities the server's makers say it supports (`smart-app-state`,
    /// `launch-ehr`, ...), read as `{{ target.supports }}`: discovery must advertise each one.
    #[serde(default)]
    pub supports: Vec<String>,
    /// A claim about the server: setting it turns skips into failures where the server does not
    /// do it. The scope a SMART Backend Service token needs to introspect tokens with
    /// (`{{ target.introspection-scope }}`); unset, the cases that introspect with a bearer
    /// token are skipped with the reason.
    #[serde(default)]
    pub introspection_scope: Option<String>,
    /// A URL where the harness's public client JWK Set (the `client-jwks.json` that
    /// `smartcheck templates export` writes) is published, for clients registered with a
    /// `jwks_uri` at servers that cannot reach this machine's loopback.
    #[serde(default)]
    pub client_jwks_url: Option<String>,
    /// Another FHIR base whose resource server trusts the same authorization server, for which
    /// the cases' tokens are not issued (`{{ target.other-fhir-base }}`): a token for this
    /// target's base must not work there.
    #[serde(default)]
    pub other_fhir_base: Option<String>,
    /// Origins (`https://auth.example.org`, with a port where it is not the default) that may
    /// receive the target's credentials (its `headers`, the initial access token, static
    /// client secrets, `secrets`) besides those it gets by default: the FHIR base's origin,
    /// the origins of the other URLs this file names and the hosts of `browser.allow-hosts`.
    /// An endpoint discovery names on any other origin gets no credential.
    #[serde(default)]
    pub credential_origins: Vec<String>,
    /// The server's own scopes for what the suites ask for, by need, where its vocabulary is
    /// not SMART's (`patient-read: "patient/Patient.read patient/Coverage.read"`; an empty
    /// value: the server grants nothing for that need, and the scope is left out). A need not
    /// named here is chosen from the server's `scopes_supported` (see the docs' Targets page, "Scopes").
    #[serde(default)]
    pub scopes: ScopeMap,
}

/// A target's `scopes`: the scopes the server grants for each need of the suites' requests.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ScopeMap {
    /// For `launch/patient` (a patient chosen at a standalone launch).
    #[serde(default)]
    pub launch_patient: Option<String>,
    /// For `launch` (an EHR launch's context).
    #[serde(default)]
    pub launch: Option<String>,
    /// For `openid` (an id_token).
    #[serde(default)]
    pub openid: Option<String>,
    /// For `fhirUser` (the user's FHIR resource in the id_token).
    #[serde(default)]
    pub fhir_user: Option<String>,
    /// For `offline_access` (a refresh token).
    #[serde(default)]
    pub offline: Option<String>,
    /// For `online_access`.
    #[serde(default)]
    pub online: Option<String>,
    /// For `patient/*.rs` (`patient/*.read` in SMART 1): reading the patient's data.
    #[serde(default)]
    pub patient_read: Option<String>,
    /// For `user/Practitioner.rs` (`.read`): reading the signed-in user.
    #[serde(default)]
    pub user_read: Option<String>,
}

impl ScopeMap {
    /// The named needs, each value passed through `expand` (`${ENV}`).
    pub fn vocabulary(&self, expand: &dyn Fn(&str) -> String) -> crate::smart::scopes::Vocabulary {
        use crate::smart::scopes::Need;
        [
            (Need::LaunchPatient, &self.launch_patient),
            (Need::Launch, &self.launch),
            (Need::Openid, &self.openid),
            (Need::FhirUser, &self.fhir_user),
            (Need::Offline, &self.offline),
            (Need::Online, &self.online),
            (Need::PatientRead, &self.patient_read),
            (Need::UserRead, &self.user_read),
        ]
        .into_iter()
        .filter_map(|(need, value)| value.as_deref().map(|v| (need, expand(v))))
        .collect()
    }
}

/// Every key of a target's template context ([`Target::context`]): what `{{ target.KEY }}` may
/// name. Optional ones are absent from targets that do not set them.
pub const CONTEXT_KEYS: &[&str] = &[
    "name",
    "fhir-base",
    "smart-version",
    "read-scope",
    "ehr-fhir-base",
    "origin",
    "supports",
    "vars",
    "debug-token-endpoint",
    "debug-introspect-endpoint",
    "introspection-scope",
    "other-fhir-base",
    "code-expiry-wait",
];

/// One header sent instead of client authentication; the value is a secret.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HeaderAuth {
    /// The header name, e.g. `Authorization`.
    pub header: String,
    /// The value, normally `"Bearer ${INTROSPECTION_TOKEN}"`.
    pub value: String,
}

/// A read or search the target's data supports, relative to the FHIR base:
/// `Observation?patient={{ target.vars.patient }}&category=laboratory` (a search, answered with a Bundle)
/// or `Patient/{{ target.vars.patient }}` (a read, answered with that resource type). Only
/// `{{ target.* }}` is known here.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ExtraRead {
    pub path: String,
    /// What the read is for, shown in the report.
    #[serde(default)]
    pub title: Option<String>,
}

/// Where a target's clients come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Registration {
    #[default]
    Dynamic,
    Static,
}

/// A client registered beforehand, for `registration: static`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StaticClient {
    pub client_id: String,
    /// For `client_secret_basic` / `client_secret_post`.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// A PEM private key file, for `private_key_jwt`.
    #[serde(default)]
    pub private_key_file: Option<String>,
    /// The key id registered with the server's copy of the public key.
    #[serde(default)]
    pub kid: Option<String>,
    /// `RS384` or `ES384`.
    #[serde(default)]
    pub alg: Option<String>,
    /// The scope the client was registered with (a backend client's `system/...` scopes), for
    /// the checks that ask for more than that: without it they are skipped.
    #[serde(default)]
    pub scope: Option<String>,
    /// A `private_key_jwt` client registered with several keys (a JWK Set with an RS384 and an
    /// ES384 key): each case signs with the key of the algorithm it tests. Instead of
    /// `private-key-file`, `kid` and `alg`.
    #[serde(default)]
    pub keys: Vec<ClientKey>,
    /// The JWK Set URL a `private_key_jwt` client was registered with (its `jwks_uri`), when
    /// it was registered by URL rather than with its keys: the case of clients registered by
    /// JWK Set URL then runs with this client (the keys there are the public halves of its
    /// `keys` or `private-key-file`).
    #[serde(default)]
    pub jwks_url: Option<String>,
}

/// One signing key of a static `private_key_jwt` client.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ClientKey {
    /// A PEM private key file (PKCS#8; PKCS#1 for RSA too), relative to the target file.
    pub private_key_file: String,
    /// The key id the server holds its public half under.
    pub kid: String,
    /// `RS384` or `ES384`.
    pub alg: String,
}

/// How to start an EHR launch: open `url` with the app's launch URL added as `launch-uri-param`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct EhrLaunch {
    pub url: String,
    /// The query parameter that carries the app's launch URL.
    #[serde(default = "default_launch_param")]
    pub launch_uri_param: String,
    /// Extra query parameters (e.g. `patient`, `encounter`).
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// The FHIR base the EHR launches apps with (its `iss`), when it is not the target's
    /// `fhir-base` (an EHR tenant's own base, say). The EHR launch cases check `iss` against
    /// it, and discover the endpoints from the `iss` the launch gives.
    #[serde(default)]
    pub fhir_base: Option<String>,
    /// Screen steps played on the EHR's own pages (its sign-in, a patient chart to open)
    /// before it opens the app's launch URL; played until the launch URL is opened.
    #[serde(default)]
    pub sign_in: Vec<ScreenStep>,
}

fn default_launch_param() -> String {
    "launch_url".into()
}

/// How a person's part of the authorization is played.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum BrowserMode {
    /// A headless Chromium via WebDriver plays the target's screen steps.
    #[default]
    Webdriver,
    /// The harness prints the authorization URL and waits for the redirect URL pasted at the
    /// terminal.
    Manual,
}

/// The browser and the target's login and consent screens.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BrowserSettings {
    #[serde(default)]
    pub mode: BrowserMode,
    /// A remote WebDriver (e.g. a Selenium Grid, http only); chromedriver from PATH unless given.
    #[serde(default)]
    pub webdriver: Option<String>,
    /// The default time each screen step waits for its element.
    #[serde(
        default = "default_step_timeout",
        deserialize_with = "humantime_serde_compat::deserialize"
    )]
    #[schemars(with = "String")]
    pub step_timeout: std::time::Duration,
    /// How long to wait for the redirect after the last step (or, with `interaction: none`,
    /// after opening the URL).
    #[serde(
        default = "default_redirect_timeout",
        deserialize_with = "humantime_serde_compat::deserialize"
    )]
    #[schemars(with = "String")]
    pub redirect_timeout: std::time::Duration,
    /// Hosts the browser may reach besides loopback (all others resolve nowhere).
    #[serde(default)]
    pub allow_hosts: Vec<String>,
    /// Host names the browser reaches at another host: `cdn.example.org: 127.0.0.2` serves a
    /// login page's assets from a local mirror (Chromium's host resolver rules).
    #[serde(default)]
    pub host_map: BTreeMap<String, String>,
    /// Extra Chromium command-line flags (a proxy, a language), after smartcheck's own.
    #[serde(default)]
    pub chromium_args: Vec<String>,
    /// The login screen.
    #[serde(default)]
    pub sign_in: Vec<ScreenStep>,
    /// The patient choice (standalone launch with `launch/patient`).
    #[serde(default)]
    pub patient: Vec<ScreenStep>,
    /// Approving the consent screen.
    #[serde(default)]
    pub authorize: Vec<ScreenStep>,
    /// Denying the consent screen.
    #[serde(default)]
    pub deny: Vec<ScreenStep>,
}

impl Default for BrowserSettings {
    fn default() -> Self {
        BrowserSettings {
            mode: BrowserMode::default(),
            webdriver: None,
            step_timeout: default_step_timeout(),
            redirect_timeout: default_redirect_timeout(),
            allow_hosts: Vec::new(),
            host_map: BTreeMap::new(),
            chromium_args: Vec::new(),
            sign_in: Vec::new(),
            patient: Vec::new(),
            authorize: Vec::new(),
            deny: Vec::new(),
        }
    }
}

fn default_step_timeout() -> std::time::Duration {
    std::time::Duration::from_secs(10)
}

fn default_redirect_timeout() -> std::time::Duration {
    std::time::Duration::from_secs(5)
}

/// One action on a login or consent screen. Exactly one of `fill`, `click`, `select`, `check`,
/// `wait-for`, `wait-for-url`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ScreenStep {
    /// Type `value` into the element at this CSS selector.
    #[serde(default)]
    pub fill: Option<String>,
    /// The text typed by `fill` (normally `${ENV}`; treated as a secret), or the option chosen
    /// by `select` (its value, else its visible text).
    #[serde(default)]
    pub value: Option<String>,
    /// Click the element at this CSS selector.
    #[serde(default)]
    pub click: Option<String>,
    /// Choose an option of the `<select>` at this CSS selector.
    #[serde(default)]
    pub select: Option<String>,
    /// Tick the checkbox at this CSS selector (left ticked if it already is).
    #[serde(default)]
    pub check: Option<String>,
    /// Wait until the element at this CSS selector is visible.
    #[serde(default)]
    pub wait_for: Option<String>,
    /// Wait until the page URL matches this regular expression.
    #[serde(default)]
    pub wait_for_url: Option<String>,
    /// How `click` and `check` reach the element: `webdriver` (the default: a visible element,
    /// clicked the way WebDriver clicks), `pointer` (the mouse pressed at the middle of the
    /// element's box, whatever is drawn there: a styled label over a zero-size check box) or
    /// `script` (the element's own `click()`, visible or not).
    #[serde(default)]
    pub via: ClickVia,
    /// A screen that appears only sometimes: if the element does not show up in time, go on.
    #[serde(default)]
    pub optional: bool,
    /// How long to wait for the element (the browser's `step-timeout` unless given).
    #[serde(default, deserialize_with = "humantime_serde_compat::deserialize_opt")]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<std::time::Duration>,
}

/// How a screen step's click reaches its element.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ClickVia {
    #[default]
    Webdriver,
    Pointer,
    Script,
}

impl ScreenStep {
    /// The actions set (exactly one is valid).
    pub fn actions(&self) -> Vec<&'static str> {
        self.targets().map(|(name, _)| name).collect()
    }

    /// The step's action and what it acts on (a selector, or `wait-for-url`'s pattern): the
    /// first, when a step that does not load names several.
    pub fn action(&self) -> Option<(&'static str, &str)> {
        self.targets().next()
    }

    fn targets(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("fill", &self.fill),
            ("click", &self.click),
            ("select", &self.select),
            ("check", &self.check),
            ("wait-for", &self.wait_for),
            ("wait-for-url", &self.wait_for_url),
        ]
        .into_iter()
        .filter_map(|(name, target)| target.as_deref().map(|t| (name, t)))
    }
}

fn default_smart_version() -> u32 {
    2
}

fn default_origin() -> String {
    "https://app.smartcheck.invalid".to_string()
}

fn default_max_response_bytes() -> u64 {
    5 * 1024 * 1024
}

/// Timeouts, as durations like `500ms`, `5s`, `1m`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Timeouts {
    /// Time to establish a connection.
    #[serde(
        default = "default_connect",
        deserialize_with = "humantime_serde_compat::deserialize"
    )]
    #[schemars(with = "String")]
    pub connect: std::time::Duration,
    /// Time for a whole exchange, body included.
    #[serde(
        default = "default_request",
        deserialize_with = "humantime_serde_compat::deserialize"
    )]
    #[schemars(with = "String")]
    pub request: std::time::Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: default_connect(),
            request: default_request(),
        }
    }
}

fn default_connect() -> std::time::Duration {
    std::time::Duration::from_secs(5)
}

fn default_request() -> std::time::Duration {
    std::time::Duration::from_secs(30)
}

/// TLS settings for servers with private certificates.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Tls {
    /// A PEM file of extra root certificates to trust.
    #[serde(default)]
    pub ca_file: Option<String>,
    /// Accept any certificate (test servers only; reported in every report).
    #[serde(default)]
    pub insecure: bool,
}

mod humantime_serde_compat {
    use serde::Deserialize;

    pub fn deserialize_opt<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<std::time::Duration>, D::Error> {
        deserialize(d).map(Some)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<std::time::Duration, D::Error> {
        let text = String::deserialize(d)?;
        let duration = humantime::parse_duration(&text).map_err(|e| {
            serde::de::Error::custom(format!(
                "`{text}` is not a duration like `500ms`, `5s` or `1m`: {e}"
            ))
        })?;
        // Zero would fail every wait at once; a huge one overflows the clock arithmetic of the
        // waits and would hang a run for good.
        let (min, max) = (
            std::time::Duration::from_millis(1),
            std::time::Duration::from_secs(24 * 3600),
        );
        if duration < min || duration > max {
            return Err(serde::de::Error::custom(format!(
                "`{text}` is out of range: a duration from 1ms to 24h"
            )));
        }
        Ok(duration)
    }
}

/// A loaded target: the file's settings with `${ENV}` resolved and secrets typed.
#[derive(Debug, Clone)]
pub struct Target {
    pub file: String,
    pub name: String,
    pub fhir_base: url::Url,
    pub smart_version: u32,
    pub origin: String,
    pub timeouts: Timeouts,
    pub max_response_bytes: u64,
    pub tls: Tls,
    pub headers: Vec<(String, Secret)>,
    pub vars: BTreeMap<String, serde_json::Value>,
    pub secrets: BTreeMap<String, Secret>,
    pub registration: Registration,
    /// Static clients by authentication method, with `${ENV}` resolved and key files relative
    /// to the target file.
    pub clients: BTreeMap<String, StaticClient>,
    /// Second static clients by authentication method, for cross-client cases.
    pub other_clients: BTreeMap<String, StaticClient>,
    pub initial_access_token: Option<Secret>,
    pub registration_endpoint: Option<String>,
    /// Discovery values the target supplies (smart-configuration field names), `${ENV}`
    /// resolved; `registration-endpoint` is among them.
    pub discovery: serde_json::Map<String, serde_json::Value>,
    pub redirect_uri: Option<url::Url>,
    pub ehr_launch: Option<EhrLaunch>,
    pub browser: BrowserSettings,
    pub debug_token_endpoint: Option<String>,
    pub debug_introspect_endpoint: Option<String>,
    /// The header `introspect` steps send instead of the client's authentication.
    pub introspection_auth: Option<(String, Secret)>,
    pub reads: Vec<ExtraRead>,
    /// How long a case may wait for a token to expire (zero: it may not).
    pub token_expiry_wait: std::time::Duration,
    /// How long a case may hold an authorization code unused (zero: it may not).
    pub code_expiry_wait: std::time::Duration,
    /// SMART capabilities the target says the server supports.
    pub supports: Vec<String>,
    /// The scope a backend token needs to introspect with.
    pub introspection_scope: Option<String>,
    /// Where the client JWK Set is published, when not served by the harness.
    pub client_jwks_url: Option<String>,
    /// Another FHIR base of the same authorization server.
    pub other_fhir_base: Option<String>,
    /// Origins allowed to receive the target's credentials (see [`Target::credential_guard`]).
    pub credential_origins: Vec<url::Url>,
    /// Extra authorization request parameters, `${ENV}` resolved.
    pub authorize_params: Vec<(String, String)>,
    /// The server's own scopes by need (the file's `scopes`).
    pub scopes: crate::smart::scopes::Vocabulary,
}

impl Target {
    /// The FHIR base without a trailing slash, as suites join paths to it.
    pub fn fhir_base_str(&self) -> String {
        self.fhir_base.as_str().trim_end_matches('/').to_string()
    }

    /// The FHIR base as it is shown (`validate`, the reports): a password in its userinfo is
    /// masked whatever its length, since a short one escapes free-text masking.
    pub fn fhir_base_shown(&self) -> String {
        shown_url(&self.fhir_base)
    }

    /// The FHIR base the target's EHR launches apps with (`iss`), without a trailing slash.
    pub fn ehr_fhir_base(&self) -> String {
        match self
            .ehr_launch
            .as_ref()
            .and_then(|e| e.fhir_base.as_deref())
        {
            Some(base) => base.trim_end_matches('/').to_string(),
            None => self.fhir_base_str(),
        }
    }

    /// Every secret the target file holds: named secrets, header values, client secrets, the
    /// initial access token, and what the browser types.
    pub fn known_secrets(&self) -> Vec<Secret> {
        let mut out: Vec<Secret> = self.secrets.values().cloned().collect();
        out.extend(self.headers.iter().map(|(_, v)| v.clone()));
        out.extend(
            self.clients
                .values()
                .chain(self.other_clients.values())
                .filter_map(|c| c.client_secret.as_deref().map(Secret::new)),
        );
        out.extend(self.initial_access_token.iter().cloned());
        // A password in a URL's userinfo (`https://user:pw@host/fhir`), decoded; the redactor
        // masks its encoded forms too.
        let mut urls = self.urls_named();
        urls.extend(
            self.vars
                .values()
                .filter_map(|v| v.as_str().map(String::from)),
        );
        for raw in urls {
            if let Some(password) = url::Url::parse(&raw).ok().and_then(|u| {
                u.password().map(|p| {
                    percent_encoding::percent_decode_str(p)
                        .decode_utf8_lossy()
                        .into_owned()
                })
            }) {
                out.push(Secret::new(password));
            }
        }
        out.extend(self.introspection_auth.iter().map(|(_, v)| v.clone()));
        let b = &self.browser;
        let ehr_sign_in = self.ehr_launch.iter().flat_map(|e| &e.sign_in);
        for step in b
            .sign_in
            .iter()
            .chain(ehr_sign_in)
            .chain(&b.patient)
            .chain(&b.authorize)
            .chain(&b.deny)
        {
            if let (Some(_), Some(value)) = (&step.fill, &step.value) {
                out.push(Secret::new(value.clone()));
            }
        }
        out
    }

    /// Every URL this file names: the FHIR base, `credential-origins`, the endpoints, the
    /// discovery values, the second FHIR base, the EHR's launch URL and base.
    fn urls_named(&self) -> Vec<String> {
        let mut urls: Vec<String> = vec![self.fhir_base.to_string()];
        urls.extend(self.credential_origins.iter().map(|u| u.to_string()));
        urls.extend(self.registration_endpoint.iter().cloned());
        urls.extend(self.other_fhir_base.iter().cloned());
        urls.extend(self.debug_token_endpoint.iter().cloned());
        urls.extend(self.debug_introspect_endpoint.iter().cloned());
        urls.extend(
            self.discovery
                .values()
                .filter_map(|v| v.as_str().map(String::from)),
        );
        if let Some(ehr) = &self.ehr_launch {
            urls.push(ehr.url.clone());
            urls.extend(ehr.fhir_base.iter().cloned());
        }
        urls
    }

    /// Where the target's credentials may go, and which they are: the FHIR base's origin, the
    /// origins of every other URL this file names (endpoints, the EHR, the second FHIR base),
    /// `credential-origins`, and the hosts of `browser.allow-hosts`.
    pub fn credential_guard(&self) -> crate::http::CredentialGuard {
        let urls = self.urls_named();
        let mut guard = crate::http::CredentialGuard::new(
            urls.iter().map(String::as_str),
            &self.browser.allow_hosts,
        );
        for (name, value) in &self.headers {
            guard.own(format!("the target header `{name}`"), value.expose_secret());
        }
        if let Some(token) = &self.initial_access_token {
            guard.own("the initial access token", token.expose_secret());
        }
        for (kind, clients) in [
            ("static client", &self.clients),
            ("other static client", &self.other_clients),
        ] {
            for (method, client) in clients {
                if let Some(secret) = &client.client_secret {
                    let label = format!("the client secret of {kind} `{method}`");
                    guard.own_basic(label, &client.client_id, &Secret::new(secret.as_str()));
                }
            }
        }
        for (name, value) in &self.secrets {
            guard.own(format!("the target secret `{name}`"), value.expose_secret());
        }
        if let Some((name, value)) = &self.introspection_auth {
            guard.own(
                format!("the introspection header `{name}`"),
                value.expose_secret(),
            );
        }
        guard
    }

    /// The static clients' `client_secret_basic` credentials: (client_id, secret).
    pub fn basic_credentials(&self) -> Vec<(String, Secret)> {
        self.clients
            .values()
            .chain(self.other_clients.values())
            .filter_map(|c| {
                c.client_secret
                    .as_deref()
                    .map(|s| (c.client_id.clone(), Secret::new(s)))
            })
            .collect()
    }

    /// What suites read as `{{ target.* }}` (no secrets); every key is in [`CONTEXT_KEYS`].
    pub fn context(&self) -> serde_json::Value {
        let mut context = serde_json::json!({
            "name": self.name,
            "fhir-base": self.fhir_base_str(),
            "smart-version": self.smart_version,
            // The scope suffix for read access in the target's SMART version: `patient/*.{{
            // target.read-scope }}` is `patient/*.rs` (2.x) or `patient/*.read` (1.0, STU1).
            "read-scope": if self.smart_version == 1 { "read" } else { "rs" },
            // The FHIR base the EHR launches with: `ehr-launch.fhir-base`, else `fhir-base`.
            "ehr-fhir-base": self.ehr_fhir_base(),
            "origin": self.origin,
            "supports": self.supports,
            "vars": self.vars,
        });
        for (key, value) in [
            ("debug-token-endpoint", &self.debug_token_endpoint),
            ("debug-introspect-endpoint", &self.debug_introspect_endpoint),
            ("introspection-scope", &self.introspection_scope),
            ("other-fhir-base", &self.other_fhir_base),
        ] {
            if let Some(v) = value {
                context[key] = serde_json::json!(v);
            }
        }
        if !self.code_expiry_wait.is_zero() {
            // In seconds: how long the code-expiry case may hold a code.
            context["code-expiry-wait"] = serde_json::json!(self.code_expiry_wait.as_secs_f64());
        }
        context
    }
}

/// `url` without a trailing slash, a password in its userinfo replaced by the mask.
pub(crate) fn shown_url(url: &url::Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() && shown.set_password(Some("x")).is_ok() {
        // `[redacted]` itself would be percent-encoded in a userinfo.
        let text = shown
            .as_str()
            .replacen(":x@", &format!(":{}@", crate::redact::MASK), 1);
        return text.trim_end_matches('/').to_string();
    }
    shown.as_str().trim_end_matches('/').to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_password_in_a_url_is_masked_whatever_its_length() {
        let url = url::Url::parse("https://user:pw@ehr.example/fhir/").unwrap();
        assert_eq!(
            super::shown_url(&url),
            "https://user:[redacted]@ehr.example/fhir"
        );
        let plain = url::Url::parse("https://x:x@h.example/x:x@").unwrap();
        assert_eq!(
            super::shown_url(&plain),
            "https://x:[redacted]@h.example/x:x@"
        );
        let none = url::Url::parse("https://ehr.example/fhir").unwrap();
        assert_eq!(super::shown_url(&none), "https://ehr.example/fhir");
    }
}
