//! `smartcheck init FHIR_BASE`: a target file written from what the server publishes (its
//! `.well-known/smart-configuration`, the CapabilityStatement's `oauth-uris` and resources, the
//! OpenID configuration), with a comment on every value it could not find out and `${NAME}`
//! placeholders for everything only the user knows. It never writes a secret.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::environment::Environment;
use crate::exit;

mod screens;

/// The oauth-uris extension of a CapabilityStatement (SMART App Launch 1.0 and 2.x).
const OAUTH_URIS: &str = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris";

/// The patient-compartment resource types a target's `reads` lists a search for, when the
/// CapabilityStatement says the server searches them by patient.
const PATIENT_SEARCHES: &[&str] = &[
    "Observation",
    "Condition",
    "AllergyIntolerance",
    "MedicationRequest",
    "Immunization",
    "Encounter",
    "Procedure",
];

/// One document the server was asked for, and how it answered.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub url: String,
    /// The answer's JSON object, when it was one with status 200.
    pub json: Option<Value>,
    /// What came back instead, in a few words (`status 404`, `not JSON`, a connection error).
    pub problem: Option<String>,
}

impl Fetched {
    fn status_line(&self) -> String {
        clean(&match &self.problem {
            None => format!("{} (200)", self.url),
            Some(p) => format!("{} ({p})", self.url),
        })
    }
}

/// A server's words as one line of text: control characters (a line break that would start a
/// YAML key in the written target, a terminal escape) become `?`.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// What the server publishes about itself.
#[derive(Debug, Clone)]
pub struct Findings {
    pub fhir_base: String,
    pub smart_configuration: Fetched,
    pub capability_statement: Fetched,
    pub openid_configuration: Option<Fetched>,
    /// The registration endpoint and whether it answered a GET with anything but 404.
    pub registration: Option<(String, Result<u16, String>)>,
    /// `--screens` registered its client there (the status is that POST's).
    pub registered_by_init: bool,
}

impl Findings {
    fn smart(&self) -> Option<&Value> {
        self.smart_configuration.json.as_ref()
    }

    /// A field of the smart-configuration, else the CapabilityStatement's oauth-uris entry.
    fn endpoint(&self, field: &str, oauth_uri: &str) -> Option<String> {
        self.smart()
            .and_then(|s| s[field].as_str())
            .map(str::to_string)
            .or_else(|| self.oauth_uri(oauth_uri))
    }

    fn oauth_uri(&self, name: &str) -> Option<String> {
        let statement = self.capability_statement.json.as_ref()?;
        statement["rest"]
            .as_array()?
            .iter()
            .filter_map(|rest| rest["security"]["extension"].as_array())
            .flatten()
            .filter(|e| e["url"] == OAUTH_URIS)
            .filter_map(|e| e["extension"].as_array())
            .flatten()
            .find(|e| e["url"] == name)
            .and_then(|e| e["valueUri"].as_str())
            .map(str::to_string)
    }

    fn list(&self, field: &str) -> Vec<String> {
        self.smart()
            .and_then(|s| s[field].as_array())
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn capabilities(&self) -> Vec<String> {
        self.list("capabilities")
    }

    fn has_capability(&self, name: &str) -> bool {
        self.capabilities().iter().any(|c| c == name)
    }

    /// The SMART version the target declares, and why.
    pub fn smart_version(&self) -> (u8, String) {
        let caps = self.capabilities();
        let has = |c: &str| caps.iter().any(|x| x == c);
        if has("permission-v2") {
            (
                2,
                "capabilities lists permission-v2 (SMART 2.x scopes)".into(),
            )
        } else if has("permission-v1") {
            (
                1,
                "capabilities lists permission-v1 and not permission-v2 (SMART 1.0 scopes)".into(),
            )
        } else if self.smart().is_some() {
            (
                2,
                "smart-configuration is served but lists neither permission-v1 nor permission-v2; 2 assumed (set 1 if the server grants only `.read`/`.write` scopes)".into(),
            )
        } else {
            (
                1,
                "no smart-configuration: only the CapabilityStatement's oauth-uris, as STU1-era servers publish".into(),
            )
        }
    }

    /// Whether dynamic registration can be used: an endpoint is published and answers.
    pub fn dynamic_registration(&self) -> bool {
        matches!(&self.registration, Some((_, Ok(status))) if *status != 404)
    }

    /// The resource types the CapabilityStatement serves, with whether each may be read and
    /// searched by `patient`.
    fn resources(&self) -> Vec<(String, bool, bool)> {
        let Some(statement) = self.capability_statement.json.as_ref() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for rest in statement["rest"].as_array().into_iter().flatten() {
            if rest["mode"] != "server" && !rest["mode"].is_null() {
                continue;
            }
            for resource in rest["resource"].as_array().into_iter().flatten() {
                let Some(kind) = resource["type"].as_str() else {
                    continue;
                };
                let interactions: Vec<&str> = resource["interaction"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|i| i["code"].as_str())
                    .collect();
                // The listed types are in the Patient compartment, where FHIR R4 defines a
                // `patient` search parameter for each; a statement that lists its parameters
                // and leaves `patient` out is taken at its word.
                let params: Vec<&str> = resource["searchParam"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["name"].as_str())
                    .collect();
                let by_patient = params.is_empty() || params.contains(&"patient");
                out.push((
                    kind.to_string(),
                    interactions.contains(&"read"),
                    interactions.contains(&"search-type") && by_patient,
                ));
            }
        }
        out
    }

    /// The origin of an endpoint on another origin than the FHIR base (credentials go there).
    fn other_origins(&self) -> Vec<String> {
        let base = url::Url::parse(&self.fhir_base).map(|u| u.origin());
        let mut origins = Vec::new();
        for (field, uri) in [
            ("authorization_endpoint", "authorize"),
            ("token_endpoint", "token"),
        ] {
            let Some(endpoint) = self.endpoint(field, uri) else {
                continue;
            };
            let Ok(url) = url::Url::parse(&endpoint) else {
                continue;
            };
            if base.as_ref().ok() != Some(&url.origin()) {
                let origin = url.origin().ascii_serialization();
                if !origins.contains(&origin) {
                    origins.push(origin);
                }
            }
        }
        origins
    }
}

/// Reads what the server publishes. Fails only when neither document says where to authorize.
pub async fn discover(fhir_base: &str, client: &reqwest::Client) -> Result<Findings, String> {
    let base = fhir_base.trim_end_matches('/').to_string();
    let smart_configuration = fetch(
        client,
        &format!("{base}/.well-known/smart-configuration"),
        "application/json",
    )
    .await;
    let capability_statement =
        fetch(client, &format!("{base}/metadata"), "application/fhir+json").await;
    let mut findings = Findings {
        fhir_base: base,
        smart_configuration,
        capability_statement,
        openid_configuration: None,
        registration: None,
        registered_by_init: false,
    };
    if findings
        .endpoint("authorization_endpoint", "authorize")
        .is_none()
        && findings.endpoint("token_endpoint", "token").is_none()
    {
        return Err(format!(
            "no SMART endpoints found: {} and {} name no authorization or token endpoint",
            findings.smart_configuration.status_line(),
            findings.capability_statement.status_line()
        ));
    }
    if findings.has_capability("sso-openid-connect") {
        if let Some(issuer) = findings.smart().and_then(|s| s["issuer"].as_str()) {
            let url = format!(
                "{}/.well-known/openid-configuration",
                issuer.trim_end_matches('/')
            );
            findings.openid_configuration = Some(fetch(client, &url, "application/json").await);
        }
    }
    if let Some(endpoint) = findings.endpoint("registration_endpoint", "register") {
        // A GET names no metadata, so it registers nothing; any answer but 404 shows the
        // endpoint is there (405 is the usual one).
        let answer = client
            .get(&endpoint)
            .header("Accept", "application/json")
            .send()
            .await
            .map(|r| r.status().as_u16())
            .map_err(|e| short_error(&e));
        findings.registration = Some((endpoint, answer));
    }
    Ok(findings)
}

/// The largest discovery document read (a hostile server's endless answer stops here).
const MAX_DOCUMENT_BYTES: usize = 5 * 1024 * 1024;

async fn fetch(client: &reqwest::Client, url: &str, accept: &str) -> Fetched {
    let answer = client.get(url).header("Accept", accept).send().await;
    let (json, problem) = match answer {
        Err(e) => (None, Some(short_error(&e))),
        Ok(r) if r.status().as_u16() != 200 => {
            (None, Some(format!("status {}", r.status().as_u16())))
        }
        Ok(r) => match read_capped(r).await {
            Err(problem) => (None, Some(problem)),
            Ok(body) => match serde_json::from_slice::<Value>(&body) {
                Ok(v @ Value::Object(_)) => (Some(v), None),
                Ok(_) => (None, Some("not a JSON object".into())),
                Err(_) => (None, Some("not JSON".into())),
            },
        },
    };
    Fetched {
        url: url.to_string(),
        json,
        problem,
    }
}

/// The body, read no further than [`MAX_DOCUMENT_BYTES`].
async fn read_capped(mut answer: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = answer.chunk().await.map_err(|e| short_error(&e))? {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(format!(
                "larger than {} MiB, read no further",
                MAX_DOCUMENT_BYTES / (1024 * 1024)
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn short_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "no answer in time".into()
    } else if e.is_connect() {
        "cannot connect".into()
    } else {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            text = s.to_string();
            source = s.source();
        }
        text
    }
}

/// A target name from the FHIR base's host: lowercase letters, digits and single `-`.
pub fn name_for(fhir_base: &str) -> String {
    let host = url::Url::parse(fhir_base)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "server".into());
    let mut name = String::new();
    for c in host.to_ascii_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c);
        } else if !name.ends_with('-') && !name.is_empty() {
            name.push('-');
        }
    }
    let name = name.trim_end_matches('-');
    if name.is_empty() {
        "server".into()
    } else {
        name.chars().take(100).collect::<String>()
    }
}

/// The environment variables' prefix for a target name (`ehr-example-org` → `EHR_EXAMPLE_ORG`).
fn prefix_for(name: &str) -> String {
    let upper = name.to_ascii_uppercase().replace('-', "_");
    if upper.starts_with(|c: char| c.is_ascii_digit()) {
        format!("SERVER_{upper}")
    } else {
        upper
    }
}

/// A YAML double-quoted scalar (JSON's string syntax is a subset of it).
fn quoted(text: &str) -> String {
    Value::String(text.to_string()).to_string()
}

/// The environment variables a target reads, named after it.
struct Vars {
    prefix: String,
    /// The variables the file needs, with what each holds.
    needed: Vec<(String, String)>,
}

impl Vars {
    /// The name of a variable, without needing it (for commented-out lines).
    fn name(&self, suffix: &str) -> String {
        format!("{}_{suffix}", self.prefix)
    }

    /// `${NAME}` for a value the file needs.
    fn need(&mut self, suffix: &str, what: &str) -> String {
        let name = self.name(suffix);
        if !self.needed.iter().any(|(n, _)| *n == name) {
            self.needed.push((name.clone(), what.to_string()));
        }
        format!("${{{name}}}")
    }
}

/// The target file, and what the user still has to supply (variables, then other items).
pub struct Written {
    pub text: String,
    pub variables: Vec<(String, String)>,
    pub to_check: Vec<String>,
}

/// The target's opening comment and its first keys: name, FHIR base, version, origin.
fn header(f: &Findings, name: &str, today: &str) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "# A smartcheck target for {}", f.fhir_base);
    let _ = writeln!(
        t,
        "# written by `smartcheck init` on {today} from what the server publishes. Lines marked"
    );
    t.push_str(
        "# SUPPLY need what only you know; every ${NAME} is read from the environment when the\n",
    );
    t.push_str("# target loads, so no secret is written here. Then:\n");
    t.push_str("#   smartcheck validate THIS-FILE && smartcheck run --target THIS-FILE\n");
    let _ = writeln!(t, "name: {name}");
    let _ = writeln!(t, "fhir-base: {}", quoted(&f.fhir_base));
    let (version, why) = f.smart_version();
    let _ = writeln!(t, "# {why}.");
    let _ = writeln!(t, "smart-version: {version}");
    t.push_str(
        "# The Origin the CORS checks send: your browser app's origin (any https origin works).\n",
    );
    t.push_str("origin: https://app.example.org\n");
    t.push_str("timeouts: { connect: 5s, request: 30s }\n");
    t
}

/// Writes the annotated target.
pub fn render(
    f: &Findings,
    name: &str,
    today: &str,
    learned: Option<&screens::Screens>,
) -> Written {
    let mut vars = Vars {
        prefix: prefix_for(name),
        needed: Vec::new(),
    };
    let mut to_check: Vec<String> = Vec::new();
    let mut t = header(f, name, today);
    let others = f.other_origins();
    if !others.is_empty() {
        t.push_str(
            "# The authorization server is on another origin than the FHIR base: the target's\n",
        );
        t.push_str("# credentials may go there.\n");
        let listed: Vec<String> = others.iter().map(|o| quoted(o)).collect();
        let _ = writeln!(t, "credential-origins: [{}]", listed.join(", "));
    }
    registration(f, &mut t, &mut vars, &mut to_check);
    match learned {
        Some(l) => screens::learned_vars(l, &mut t, &vars),
        None => {
            t.push_str("vars:\n");
            let _ = writeln!(
                t,
                "  # SUPPLY: a patient your test user may see (the standalone launch's picker chooses it).\n  patient: {}",
                quoted(&vars.need("PATIENT", "a patient id the test user may see"))
            );
            let _ = writeln!(
                t,
                "  # SUPPLY: another patient, one the same user's patient/ token must not reach.\n  other-patient: {}",
                quoted(&vars.need(
                    "OTHER_PATIENT",
                    "another patient id, which a token for the first must not reach"
                ))
            );
        }
    }
    reads(f, &mut t);
    optional_keys(f, &mut t, &vars);
    match learned {
        Some(l) => {
            let variable = l
                .password_ref
                .trim_start_matches("${")
                .trim_end_matches('}');
            vars.needed.push((
                variable.to_string(),
                "the test user's password (typed at sign-in)".into(),
            ));
            screens::learned_browser(l, &mut t, &mut to_check)
        }
        None => browser(f, &mut t, &mut vars, &mut to_check),
    }
    Written {
        text: t,
        variables: vars.needed,
        to_check,
    }
}

fn registration(f: &Findings, t: &mut String, vars: &mut Vars, to_check: &mut Vec<String>) {
    if f.dynamic_registration() {
        if let Some((endpoint, Ok(status))) = &f.registration {
            let how = if f.registered_by_init {
                "init registered its client there, status"
            } else {
                "status"
            };
            let _ = writeln!(
                t,
                "# {} answers ({how} {status}{}): each case registers its clients (RFC 7591).",
                clean(endpoint),
                if f.registered_by_init {
                    ""
                } else {
                    " to a GET"
                }
            );
        }
        t.push_str("registration: dynamic\n");
        let _ = writeln!(
            t,
            "# initial-access-token: ${{{}}}   # SUPPLY if registration needs one (RFC 7591 §3)",
            vars.name("REGISTRATION_TOKEN")
        );
        return;
    }
    match &f.registration {
        Some((endpoint, Ok(_))) => {
            let _ = writeln!(
                t,
                "# {} answers 404: clients are registered beforehand.",
                clean(endpoint)
            );
        }
        Some((endpoint, Err(e))) => {
            let _ = writeln!(
                t,
                "# {} does not answer ({}): clients are registered beforehand.",
                clean(endpoint),
                clean(e)
            );
        }
        None => t.push_str(
            "# No registration endpoint is published: clients are registered beforehand.\n",
        ),
    }
    t.push_str(
        "# SUPPLY: register each client below at the server with exactly this redirect URI (the\n",
    );
    t.push_str(
        "# harness listens there), then give its id and secret through the environment. A kind\n",
    );
    t.push_str("# you leave out is skipped, saying so.\n");
    t.push_str("registration: static\n");
    t.push_str("redirect-uri: http://127.0.0.1:8765/callback\n");
    static_clients(f, t, vars, to_check);
}

/// The `clients:` of a server without registration: one of each kind it offers.
fn static_clients(f: &Findings, t: &mut String, vars: &mut Vars, to_check: &mut Vec<String>) {
    t.push_str("clients:\n");
    let caps = f.capabilities();
    let listed = |c: &str| caps.iter().any(|x| x == c);
    let methods = f.list("token_endpoint_auth_methods_supported");
    let mut any = false;
    if listed("client-public") || caps.is_empty() {
        let _ = writeln!(
            t,
            "  none: {{ client-id: {} }}   # capabilities: client-public",
            quoted(&vars.need("PUBLIC_CLIENT_ID", "the public client's id"))
        );
        any = true;
    }
    if listed("client-confidential-symmetric") || caps.is_empty() {
        // RFC 8414 §2: client_secret_basic is the default when the list is absent.
        let method = if methods.is_empty() || methods.iter().any(|m| m == "client_secret_basic") {
            "client_secret_basic"
        } else {
            "client_secret_post"
        };
        let _ = writeln!(
            t,
            "  {method}: {{ client-id: {}, client-secret: {} }}   # capabilities: client-confidential-symmetric",
            quoted(&vars.need("CLIENT_ID", "the confidential (client secret) client's id")),
            quoted(&vars.need("CLIENT_SECRET", "its client secret"))
        );
        any = true;
    }
    let grants = f.list("grant_types_supported");
    if listed("client-confidential-asymmetric") || grants.iter().any(|g| g == "client_credentials")
    {
        let algs = f.list("token_endpoint_auth_signing_alg_values_supported");
        let alg = if algs.iter().any(|a| a == "RS384") || algs.is_empty() {
            "RS384"
        } else {
            "ES384"
        };
        let _ = writeln!(
            t,
            "  # SUPPLY, to test asymmetric clients and backend services: a key of yours ({alg}, PKCS#8 PEM)\n  # whose public half you registered under a kid (add `jwks-url: URL` when you registered the\n  # client by its JWK Set URL: the jwks_uri case then runs with it too).\n  # private_key_jwt: {{ client-id: \"${{{id}}}\", private-key-file: keys/{alg_lower}.pem, kid: my-key, alg: {alg} }}",
            id = vars.name("JWT_CLIENT_ID"),
            alg_lower = alg.to_ascii_lowercase()
        );
        to_check.push(format!(
            "the commented `private_key_jwt` client: a {alg} key file and the kid you registered, to test asymmetric clients and backend services"
        ));
    }
    if !any {
        t.push_str("  {}\n");
    }
}

fn reads(f: &Findings, t: &mut String) {
    let resources = f.resources();
    if resources.is_empty() {
        t.push_str("# The CapabilityStatement lists no resources: add reads your test patient has data for.\n");
        t.push_str("reads:\n  - title: the patient's record\n    path: \"Patient/{{ target.vars.patient }}\"\n");
        return;
    }
    t.push_str("# From the CapabilityStatement: the patient read, and searches by patient of the types it\n");
    t.push_str("# serves (a search must answer a Bundle; remove types your test patient has no data for).\n");
    t.push_str("reads:\n");
    if resources
        .iter()
        .any(|(kind, read, _)| kind == "Patient" && *read)
    {
        t.push_str(
            "  - title: the patient's record\n    path: \"Patient/{{ target.vars.patient }}\"\n",
        );
    }
    for kind in PATIENT_SEARCHES {
        if resources.iter().any(|(k, _, search)| k == kind && *search) {
            let _ = writeln!(
                t,
                "  - title: the patient's {kind} resources\n    path: \"{kind}?patient={{{{ target.vars.patient }}}}\""
            );
        }
    }
}

fn optional_keys(f: &Findings, t: &mut String, vars: &Vars) {
    if f.has_capability("launch-ehr") {
        t.push_str("# capabilities lists launch-ehr, but an EHR publishes its launch page nowhere. SUPPLY it to\n");
        t.push_str("# run the EHR launch cases (the page that opens an app's launch URL; see the docs' Targets page):\n");
        let _ = writeln!(
            t,
            "# ehr-launch:\n#   url: ${{{}}}\n#   launch-uri-param: launch_url",
            vars.name("EHR_LAUNCH_URL")
        );
    }
    if f.endpoint("introspection_endpoint", "introspect").is_some() {
        t.push_str("# introspection-scope: system/Patient.rs   # SUPPLY: the scope a backend token needs to introspect\n");
    }
    t.push_str(
        "# token-expiry-wait: 70m   # how long the expiry cases may wait for a token to expire\n",
    );
    t.push_str("# code-expiry-wait: 11m    # how long code-expiry may hold a code (RFC 6749: 10 minutes at most)\n");
    t.push_str(
        "# other-fhir-base: ...     # another FHIR base of the same authorization server, if any\n",
    );
}

fn browser(f: &Findings, t: &mut String, vars: &mut Vars, to_check: &mut Vec<String>) {
    let login_host = f
        .endpoint("authorization_endpoint", "authorize")
        .and_then(|e| url::Url::parse(&e).ok())
        .and_then(|u| u.host_str().map(str::to_string));
    let base_host = url::Url::parse(&f.fhir_base)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string));
    t.push_str("# The sign-in and consent screens are the server's own and published nowhere. SUPPLY their\n");
    t.push_str(
        "# selectors: these are common guesses (a browser's developer tools copy a selector).\n",
    );
    t.push_str("browser:\n  step-timeout: 15s\n  redirect-timeout: 5s\n");
    if let Some(host) = login_host.filter(|h| Some(h) != base_host.as_ref()) {
        let _ = writeln!(
            t,
            "  allow-hosts: [{}]   # the sign-in page's host",
            quoted(&host)
        );
    }
    let _ = writeln!(
        t,
        "  sign-in:\n    - fill: \"input[name=username], input[type=email], #username\"\n      value: {}\n    - fill: \"input[type=password]\"\n      value: {}\n    - click: \"button[type=submit], input[type=submit]\"",
        vars.need("USER", "the test user's sign-in name"),
        vars.need("PASSWORD", "the test user's password"),
    );
    if f.has_capability("context-standalone-patient") {
        t.push_str("  # patient:   # SUPPLY the patient picker of a standalone launch, if yours shows one\n");
        t.push_str(
            "  #   - click: \"#the-patient\"\n  #     optional: true\n  #     timeout: 2s\n",
        );
    }
    // Not any submit button: a consent form's first one may be its deny.
    t.push_str("  authorize:\n    - click: \"#approve, #allow, #authorize, button[value=approve], button[value=allow]\"\n");
    t.push_str("  # deny:   # the consent screen's deny control, if it has one\n  #   - click: \"#deny\"\n");
    to_check.push(
        "the sign-in, patient and consent selectors under `browser:` (guessed; the server publishes none)".into(),
    );
}

/// What `init --screens` is asked to do (the command line's options).
#[derive(Debug, Clone, Default)]
pub struct ScreensRequest {
    pub user: String,
    /// The environment variable that holds the password.
    pub password_env: String,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub patient: Option<String>,
    pub webdriver: Option<String>,
    pub approve_words: Vec<String>,
    pub allow_hosts: Vec<String>,
    pub screenshots: std::path::PathBuf,
}

/// What `--screens` needs, with the password read from its variable (and masked in every log
/// line from here on).
fn screen_options(
    request: Option<&ScreensRequest>,
    env: &Environment,
) -> Result<Option<screens::Options>, String> {
    let Some(r) = request else {
        return Ok(None);
    };
    let password = env
        .var(&r.password_env)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| format!("--password-env {}: the variable is not set", r.password_env))?;
    let redactor = crate::redact::Redactor::new();
    redactor.register(&crate::secret::Secret::new(password.clone()));
    crate::logging::redact_with(&redactor);
    Ok(Some(screens::Options {
        redactor,
        request: r.clone(),
        password,
        step_timeout: Duration::from_secs(15),
    }))
}

/// A message with the password masked in every form it may take (a page may echo what was
/// typed, URL- or HTML-encoded).
fn redact_password(text: &str, o: &screens::Options) -> String {
    o.redactor.redact(text)
}

/// The FHIR base as a URL, refused when it is none, carries a password, or `out` exists
/// without `--force`.
fn checked_base(fhir_base: &str, out: Option<&Path>, force: bool) -> Result<url::Url, String> {
    let base = match url::Url::parse(fhir_base) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => u,
        _ => {
            return Err(format!(
                "`{fhir_base}` is not an http(s) URL of a FHIR base"
            ))
        }
    };
    // The target file holds no secret, and neither does what init prints.
    if base.password().is_some() {
        return Err("the FHIR base carries a password in its address; give init the base without it (a server that wants credentials for discovery gets them from the target's `headers`, read from the environment)".into());
    }
    if let Some(path) = out {
        if path.exists() && !force {
            return Err(format!(
                "{} exists; give --force to replace it",
                path.display()
            ));
        }
    }
    Ok(base)
}

/// The client init reads the server's documents with.
fn http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("smartcheck/", env!("CARGO_PKG_VERSION"), " (init)"))
        .build()
        .map_err(|e| e.to_string())
}

/// `smartcheck init`: discovers, writes the target (to `out`, else stdout) and says what the
/// user still has to supply.
pub fn main(
    fhir_base: &str,
    out: Option<&Path>,
    name: Option<&str>,
    force: bool,
    screens: Option<&ScreensRequest>,
    env: &Environment,
) -> u8 {
    let base = match checked_base(fhir_base, out, force) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let screen_options = match screen_options(screens, env) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let name = name
        .map(str::to_string)
        .unwrap_or_else(|| name_for(base.as_str()));
    if let Some(problem) = crate::suite::load::id_problem(&name) {
        eprintln!("error: target name {problem}");
        return exit::USAGE;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::HARNESS;
        }
    };
    let client = match http_client() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::HARNESS;
        }
    };
    let findings = match runtime.block_on(discover(base.as_str(), &client)) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("smartcheck init: {e}");
            return exit::CHECKS_FAILED;
        }
    };
    let learned = match &screen_options {
        Some(o) => match runtime.block_on(screens::learn(&findings, o, &client)) {
            Ok(l) => Some(l),
            Err(e) => {
                eprintln!(
                    "smartcheck init: the screens could not be learned: {}\n  write the `browser:` steps for that screen (init without --screens writes a template), or give --approve-word, --allow-host or --patient, and rerun",
                    redact_password(&e, o)
                );
                return exit::CHECKS_FAILED;
            }
        },
        None => None,
    };
    let mut findings = findings;
    if let Some((endpoint, status)) = learned.as_ref().and_then(|l| l.registered.clone()) {
        findings.registration = Some((endpoint, Ok(status)));
        findings.registered_by_init = true;
    }
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let written = render(&findings, &name, &today, learned.as_ref());
    let report = summary(&findings, &written, out, learned.as_ref());
    write_out(out, &written.text, &report)
}

/// The target to `out` and the summary to stdout; without `out`, the target to stdout and the
/// summary to stderr.
fn write_out(out: Option<&Path>, target: &str, report: &str) -> u8 {
    match out {
        Some(path) => {
            if let Err(e) = std::fs::write(path, target) {
                eprintln!("error: cannot write {}: {e}", path.display());
                return exit::HARNESS;
            }
            print!("{report}");
        }
        None => {
            print!("{target}");
            eprint!("{report}");
        }
    }
    exit::SUCCESS
}

/// What was found, and what the user still has to supply.
fn summary(
    f: &Findings,
    written: &Written,
    out: Option<&Path>,
    learned: Option<&screens::Screens>,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "smartcheck init: {}", f.fhir_base);
    let _ = writeln!(s, "  read: {}", f.smart_configuration.status_line());
    let _ = writeln!(s, "  read: {}", f.capability_statement.status_line());
    if let Some(oidc) = &f.openid_configuration {
        let _ = writeln!(s, "  read: {}", oidc.status_line());
    }
    let endpoints: Vec<&str> = [
        ("authorization_endpoint", "authorize", "authorize"),
        ("token_endpoint", "token", "token"),
        ("registration_endpoint", "register", "registration"),
        ("introspection_endpoint", "introspect", "introspection"),
        ("revocation_endpoint", "revoke", "revocation"),
        ("management_endpoint", "manage", "management"),
    ]
    .into_iter()
    .filter(|(field, uri, _)| f.endpoint(field, uri).is_some())
    .map(|(_, _, label)| label)
    .collect();
    let _ = writeln!(s, "  found: endpoints: {}", endpoints.join(", "));
    let caps = f.capabilities();
    if !caps.is_empty() {
        let _ = writeln!(s, "  found: capabilities: {}", clean(&caps.join(", ")));
    }
    let (version, why) = f.smart_version();
    let _ = writeln!(s, "  found: smart-version {version}: {why}");
    let _ = writeln!(
        s,
        "  found: registration {}",
        if f.dynamic_registration() {
            "dynamic (the endpoint answers)"
        } else {
            "static (no endpoint answers): register the clients yourself"
        }
    );
    let types = f.resources().len();
    if types > 0 {
        let _ = writeln!(
            s,
            "  found: {types} resource types in the CapabilityStatement"
        );
    }
    if let Some(l) = learned {
        screens::learned_summary(l, &mut s);
    }
    if let Some(path) = out {
        let _ = writeln!(s, "wrote: {}", path.display());
    }
    s.push_str("still to supply, as environment variables:\n");
    for (name, what) in &written.variables {
        let _ = writeln!(s, "  {name}: {what}");
    }
    s.push_str("still to check in the file:\n");
    for item in &written.to_check {
        let _ = writeln!(s, "  {item}");
    }
    let file = out
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "TARGET.yaml".into());
    let _ = writeln!(
        s,
        "then: smartcheck validate {file} && smartcheck run --target {file}"
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_servers_words_stay_on_one_line() {
        assert_eq!(
            clean("https://x/register\ncredential-origins: [https://evil]\u{1b}[2J"),
            "https://x/register?credential-origins: [https://evil]?[2J"
        );
    }

    #[test]
    fn names_and_prefixes_are_what_targets_and_shells_take() {
        assert_eq!(name_for("https://EHR.example.org/fhir"), "ehr-example-org");
        assert_eq!(name_for("http://127.0.0.1:8080/fhir"), "127-0-0-1");
        assert_eq!(name_for("not a url"), "server");
        assert_eq!(prefix_for("ehr-example-org"), "EHR_EXAMPLE_ORG");
        assert_eq!(prefix_for("127-0-0-1"), "SERVER_127_0_0_1");
        assert!(crate::suite::load::id_problem(&name_for("https://a..b--c.example/x")).is_none());
    }
}
