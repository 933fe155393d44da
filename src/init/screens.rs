//! `smartcheck init --screens`: one standalone authorization played in a real Chromium with a
//! client of init's own (registered dynamically and deleted after, or the public client named
//! with `--client-id`), its screens learned (`browser::learn`), the code exchanged to learn
//! the patient the server chose, and the deny control proven by a second authorization, which
//! must end with an error redirect.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::{clean, quoted, Findings, Vars};
use crate::browser::learn::{self, Lesson, Person, Screen};
use crate::browser::screens::play;
use crate::browser::{BrowserPool, Network};
use crate::runner::listener::Listener;
use crate::smart::pkce;
use crate::suite::target::{ClickVia, ScreenStep};

/// What `--screens` is told, with the password read from its variable.
pub struct Options {
    pub request: super::ScreensRequest,
    pub password: String,
    /// The masker the password is registered with.
    pub redactor: crate::redact::Redactor,
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
    /// The hosts the browser was allowed besides the FHIR base's: the authorization server's,
    /// and those `--allow-host` named (the target's `allow-hosts`).
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

/// The authorization request init sends: each time with a new state and PKCE verifier.
struct Request {
    authorize: String,
    client_id: String,
    redirect_uri: String,
    scope: String,
    aud: String,
}

impl Request {
    /// The URL of a standalone launch (PKCE S256, `aud`), and its verifier.
    fn url(&self) -> Result<(String, String), String> {
        let mut url = url::Url::parse(&self.authorize).map_err(|e| {
            format!(
                "the authorization endpoint {} is no URL: {e}",
                self.authorize
            )
        })?;
        let verifier = pkce::new_verifier().expose_secret().to_string();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("scope", &self.scope)
            .append_pair("state", &pkce::random_urlsafe(16))
            .append_pair("aud", &self.aud)
            .append_pair("code_challenge", &pkce::s256(&verifier))
            .append_pair("code_challenge_method", "S256");
        Ok((url.to_string(), verifier))
    }

    /// The patient of the token the code is exchanged for (a public client's exchange).
    async fn patient_of(
        &self,
        http: &reqwest::Client,
        token_endpoint: &str,
        code: &str,
        verifier: &str,
    ) -> Option<String> {
        let answer = http
            .post(token_endpoint)
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &self.redirect_uri),
                ("client_id", &self.client_id),
                ("code_verifier", verifier),
            ])
            .send()
            .await
            .ok()?;
        let body: Value = answer.json().await.ok()?;
        body["patient"].as_str().map(str::to_string)
    }
}

fn host_of(url: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
}

/// The scope of the standalone launch, in the server's SMART version's words.
fn scope_for(f: &Findings) -> String {
    let read = if f.smart_version().0 == 1 {
        "read"
    } else {
        "rs"
    };
    format!("launch/patient openid fhirUser patient/*.{read} offline_access")
}

/// The listener for the redirect: `--redirect-uri`'s address and path, else a free port.
async fn listen(o: &Options) -> Result<Listener, String> {
    let (bind, path) = match &o.request.redirect_uri {
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
            SocketAddr::from(([127, 0, 0, 1], 0)),
            "/callback".to_string(),
        ),
    };
    Listener::bind(bind, &path)
        .await
        .map_err(|e| format!("cannot listen on {bind} for the redirect: {e}"))
}

/// The client `--client-id` names, else one registered for `redirect_uri`.
async fn client_for(
    f: &Findings,
    o: &Options,
    http: &reqwest::Client,
    redirect_uri: &str,
    scope: &str,
) -> Result<Registered, String> {
    if let Some(id) = &o.request.client_id {
        return Ok(Registered {
            client_id: id.clone(),
            delete: None,
            at: None,
        });
    }
    let endpoint = f.endpoint("registration_endpoint", "register").ok_or(
        "the server publishes no registration endpoint: give a public client registered for the redirect URI with --client-id (and --redirect-uri)",
    )?;
    register(http, &endpoint, redirect_uri, scope).await
}

/// The hosts the browser may go to: the server's, and those `--allow-host` names.
fn allowed_hosts(urls: &[Option<&String>], o: &Options) -> Vec<String> {
    let mut hosts: Vec<String> = urls
        .iter()
        .flatten()
        .filter_map(|u| host_of(u))
        .chain(o.request.allow_hosts.iter().cloned())
        .collect();
    hosts.sort();
    hosts.dedup();
    hosts
}

/// Learns the screens of `f`'s server.
pub async fn learn(f: &Findings, o: &Options, http: &reqwest::Client) -> Result<Screens, String> {
    let authorize = f.endpoint("authorization_endpoint", "authorize").ok_or(
        "the server publishes no authorization endpoint, so there are no screens to learn",
    )?;
    let token = f.endpoint("token_endpoint", "token");
    let scope = scope_for(f);
    let listener = listen(o).await?;
    let redirect_uri = listener.redirect_uri();
    let registered = match client_for(f, o, http, &redirect_uri, &scope).await {
        Ok(r) => r,
        Err(e) => {
            listener.shutdown().await;
            return Err(e);
        }
    };
    let hosts = allowed_hosts(&[Some(&authorize), token.as_ref(), Some(&f.fhir_base)], o);
    let request = Request {
        authorize,
        client_id: registered.client_id.clone(),
        redirect_uri,
        scope,
        aud: f.fhir_base.clone(),
    };
    let pool = BrowserPool::new(o.request.webdriver.clone(), 1);
    let password_ref = format!("${{{}}}", o.request.password_env);
    let person = Person {
        user: &o.request.user,
        password: &o.password,
        password_ref: &password_ref,
        patient: o.request.patient.as_deref(),
        approve_words: &o.request.approve_words,
    };
    let flow = Flow {
        pool: &pool,
        listener: &listener,
        network: Network {
            page_timeout: o.step_timeout,
            hosts: &hosts,
            host_map: &Default::default(),
            extra_args: &[],
        },
        request: &request,
        o,
        person: &person,
    };
    let played = flow.learning_pass().await;
    pool.shutdown().await;
    let outcome = match played {
        Ok(p) => {
            let patient = match (&token, &p.code) {
                (Some(token), Some(code)) => {
                    request.patient_of(http, token, code, &p.verifier).await
                }
                _ => None,
            };
            let base_host = host_of(&f.fhir_base);
            Ok(Screens {
                lesson: p.lesson,
                deny: p.deny,
                patient,
                user: o.request.user.clone(),
                password_ref,
                hosts: hosts
                    .into_iter()
                    .filter(|h| Some(h) != base_host.as_ref())
                    .collect(),
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

/// What the browser plays in: the pool, the listener for the redirect, the hosts it may reach.
struct Flow<'a> {
    pool: &'a BrowserPool,
    listener: &'a Listener,
    network: Network<'a>,
    request: &'a Request,
    o: &'a Options,
    person: &'a Person<'a>,
}

/// The learning pass: the lesson, the deny control (proven or not), the code the redirect
/// carried and the PKCE verifier to exchange it with.
struct Played {
    lesson: Lesson,
    deny: Option<(ScreenStep, Result<(), String>)>,
    code: Option<String>,
    verifier: String,
}

/// Why learning stopped, as init prints it.
fn stuck_message(stuck: learn::Stuck) -> String {
    let shots = if stuck.screenshots.is_empty() {
        "none could be taken".to_string()
    } else {
        let files: Vec<String> = stuck
            .screenshots
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        files.join(", ")
    };
    format!(
        "{}\n  {}\n  controls: {}\n  screenshots: {shots}",
        stuck.reason, stuck.page, stuck.controls
    )
}

/// A learned step that worked once and not the second time names an element by something of
/// that one visit: said, since it is what the person has to change.
fn replayed(passed_over: &[String]) -> String {
    if passed_over.is_empty() {
        String::new()
    } else {
        format!(
            "; a learned step did not work a second time (its selector may hold a value of one visit): {}",
            passed_over.join("; ")
        )
    }
}

impl Flow<'_> {
    fn path(&self) -> String {
        self.listener.callback_path().to_string()
    }

    /// One authorization learned, then the deny control proven by a second one.
    async fn learning_pass(&self) -> Result<Played, String> {
        let path = self.path();
        let redirected = || self.listener.has(&path);
        let session = self.pool.session(None, &self.network).await?;
        let (url, verifier) = self.request.url()?;
        let learned = match session.goto(&url).await {
            Ok(()) => {
                let (o, person) = (self.o, self.person);
                learn::learn(
                    &session,
                    person,
                    o.step_timeout,
                    &redirected,
                    &o.request.screenshots,
                )
                .await
                .map_err(stuck_message)
            }
            Err(e) => Err(e),
        };
        self.pool.release(session).await;
        let lesson = learned?;
        let callback = self.listener.take(&path);
        let param = |name: &str| {
            callback
                .as_ref()
                .and_then(|c| c.params.iter().find(|(k, _)| k == name))
                .map(|(_, v)| v.clone())
        };
        if let Some(error) = param("error") {
            let seen: Vec<&str> = lesson.screens.iter().map(|s| s.seen.as_str()).collect();
            return Err(format!(
                "the authorization ended with error `{error}` after these screens: {}",
                seen.join(", ")
            ));
        }
        let deny = match lesson.deny.clone() {
            Some(step) => {
                let proven = self.deny_pass(&lesson, &step).await;
                Some((step, proven))
            }
            None => None,
        };
        Ok(Played {
            code: param("code"),
            lesson,
            deny,
            verifier,
        })
    }

    /// The learned sign-in and patient steps, each optional (a screen may not show again,
    /// as a remembered sign-in), with the password typed.
    fn replay_steps(&self, lesson: &Lesson) -> Vec<(Screen, Vec<ScreenStep>)> {
        lesson
            .screens
            .iter()
            .filter(|s| s.screen != Screen::Authorize)
            .map(|learned| {
                let steps = learned
                    .steps
                    .iter()
                    .cloned()
                    .map(|mut s| {
                        if s.value.as_deref() == Some(self.person.password_ref) {
                            s.value = Some(self.person.password.to_string());
                        }
                        s.optional = true;
                        s
                    })
                    .collect();
                (learned.screen, steps)
            })
            .collect()
    }

    /// A second authorization with the learned sign-in and patient steps and the deny
    /// control: proven when the redirect brings an `error`.
    async fn deny_pass(&self, lesson: &Lesson, deny: &ScreenStep) -> Result<(), String> {
        let session = self.pool.session(None, &self.network).await?;
        let outcome = self.refuse(&session, lesson, deny).await;
        self.pool.release(session).await;
        outcome
    }

    async fn refuse(
        &self,
        session: &crate::browser::Session,
        lesson: &Lesson,
        deny: &ScreenStep,
    ) -> Result<(), String> {
        let path = self.path();
        let redirected = || self.listener.has(&path);
        let timeout = self.o.step_timeout;
        let (url, _) = self.request.url()?;
        session.goto(&url).await?;
        let cancel = CancellationToken::new();
        let mut passed_over = Vec::new();
        for (screen, steps) in self.replay_steps(lesson) {
            let _ = play(
                session,
                screen.key(),
                &steps,
                &[],
                timeout,
                &redirected,
                &cancel,
                &mut passed_over,
            )
            .await;
        }
        let denied = std::slice::from_ref(deny);
        play(
            session,
            "deny",
            denied,
            &[],
            timeout,
            &redirected,
            &cancel,
            &mut passed_over,
        )
        .await
        .map_err(|e| format!("{}: {}{}", e.step, e.reason, replayed(&passed_over)))?;
        if !self.listener.wait(&[&path], timeout, &cancel).await {
            return Err(format!(
                "no redirect came after the deny control was clicked{}",
                replayed(&passed_over)
            ));
        }
        match self.listener.take(&path) {
            Some(c) if c.params.iter().any(|(k, _)| k == "error") => Ok(()),
            _ => Err("the redirect after the deny control carried no error".to_string()),
        }
    }
}

/// The `vars:` of a target whose screens were learned: the user who signed in, the patient
/// the token was for; another patient only the user can name (its checks are skipped, saying
/// so, until it is given).
pub(super) fn learned_vars(l: &Screens, t: &mut String, vars: &Vars) {
    t.push_str("vars:\n");
    let _ = writeln!(
        t,
        "  # The user init signed in as.\n  user: {}",
        quoted(&l.user)
    );
    match &l.patient {
        Some(p) => {
            let _ = writeln!(
                t,
                "  # The patient of the token init's authorization got.\n  patient: {}",
                quoted(p)
            );
        }
        None => {
            let _ = writeln!(
                t,
                "  # SUPPLY: a patient your test user may see (init's authorization got no token\n  # that named one).\n  # patient: ${{{}}}",
                vars.name("PATIENT")
            );
        }
    }
    let _ = writeln!(
        t,
        "  # SUPPLY: another patient, one the same user's patient/ token must not reach (the\n  # checks that need it are skipped until then).\n  # other-patient: ${{{}}}",
        vars.name("OTHER_PATIENT")
    );
}

/// One screen step as a target writes it.
fn step_yaml(step: &ScreenStep, password_ref: &str) -> String {
    let (action, selector) = step.action().unwrap_or(("wait-for", ""));
    let mut y = format!("    - {action}: {}\n", quoted(selector));
    match step.value.as_deref() {
        // Read from the environment when the target loads: never quoted, never the password.
        Some(v) if v == password_ref => {
            let _ = writeln!(y, "      value: {v}");
        }
        Some(v) => {
            let _ = writeln!(y, "      value: {}", quoted(v));
        }
        None => {}
    }
    match step.via {
        ClickVia::Webdriver => {}
        ClickVia::Script => {
            y.push_str("      via: script   # drawn with no size: clicked by script\n")
        }
        ClickVia::Pointer => y.push_str("      via: pointer\n"),
    }
    if step.optional {
        y.push_str("      optional: true\n");
    }
    if let Some(timeout) = step.timeout {
        let _ = writeln!(y, "      timeout: {}", humantime::format_duration(timeout));
    }
    y
}

/// The `browser:` of learned screens, each as it was played.
pub(super) fn learned_browser(l: &Screens, t: &mut String, to_check: &mut Vec<String>) {
    t.push_str("# The screens as `smartcheck init --screens` played them in Chromium:\n");
    for (k, learned) in l.lesson.screens.iter().enumerate() {
        let _ = writeln!(t, "#   {}. {}", k + 1, clean(&learned.seen));
    }
    t.push_str("browser:\n  step-timeout: 15s\n  redirect-timeout: 5s\n");
    if !l.hosts.is_empty() {
        let listed: Vec<String> = l.hosts.iter().map(|h| quoted(h)).collect();
        let _ = writeln!(
            t,
            "  allow-hosts: [{}]   # the sign-in's hosts",
            listed.join(", ")
        );
    }
    for screen in [Screen::SignIn, Screen::Patient, Screen::Authorize] {
        let steps: Vec<&ScreenStep> = l
            .lesson
            .screens
            .iter()
            .filter(|s| s.screen == screen)
            .flat_map(|s| &s.steps)
            .collect();
        if steps.is_empty() {
            continue;
        }
        if screen == Screen::Patient {
            t.push_str(
                "  # The patient picker of a standalone launch (an EHR launch may not show it).\n",
            );
        }
        let _ = writeln!(t, "  {}:", screen.key());
        for step in steps {
            t.push_str(&step_yaml(step, &l.password_ref));
        }
    }
    match &l.deny {
        Some((step, Ok(()))) => {
            t.push_str("  # The consent screen's deny control (init clicked it: the server redirected with an error).\n  deny:\n");
            t.push_str(&step_yaml(step, &l.password_ref));
        }
        Some((step, Err(why))) => {
            let _ = writeln!(
                t,
                "  # The consent screen's deny control, as found; clicking it did not prove it ({}):\n  deny:",
                clean(why)
            );
            t.push_str(&step_yaml(step, &l.password_ref));
            to_check.push("the `deny:` step (init could not prove it)".into());
        }
        None => {
            t.push_str("  # No deny control was found on the consent screen: the refusal cases are skipped.\n  # deny:\n  #   - click: \"...\"\n");
            to_check.push("`deny:` (no deny control was found on the consent screen)".into());
        }
    }
}

/// What `--screens` learned, for the summary.
pub(super) fn learned_summary(l: &Screens, s: &mut String) {
    for (k, screen) in l.lesson.screens.iter().enumerate() {
        let _ = writeln!(s, "  learned: screen {}: {}", k + 1, clean(&screen.seen));
    }
    match &l.deny {
        Some((_, Ok(()))) => s.push_str(
            "  learned: the deny control (a second authorization ended with an error redirect)\n",
        ),
        Some((_, Err(why))) => {
            let _ = writeln!(s, "  learned: a deny control, not proven: {}", clean(why));
        }
        None => s.push_str("  learned: no deny control on the consent screen\n"),
    }
    if let Some(p) = &l.patient {
        let _ = writeln!(s, "  learned: patient {} (the token's)", clean(p));
    }
    if let Some(dir) = l.lesson.screenshots.first().and_then(|p| p.parent()) {
        let _ = writeln!(
            s,
            "  screenshots: {} ({} screens)",
            dir.display(),
            l.lesson.screenshots.len()
        );
    }
}
