//! `authorize`: the authorization request (state, nonce, PKCE, `aud`, an EHR launch), played
//! in the browser against the target's screens or by a person (`manual`), and the redirect the
//! callback listener catches.

use super::*;

mod ehr;
mod in_browser;
mod manual;
mod plain_http;

use ehr::{continue_launch, ehr_launch_of, launch_of_step, manual_ehr_launch, open_ehr_launch};
use in_browser::open_page;
use manual::{parse_pasted, prompt};

impl CaseState {
    /// `authorize`, by phase: the request ([`CaseState::authorization_request`]); its play,
    /// over plain HTTP first and then in the browser or by a person ([`Flow::play`]); what
    /// arrived at the listener ([`CaseState::arrived`]); and the result the checks read
    /// ([`describe`]).
    pub async fn authorize(
        &mut self,
        step_id: &str,
        action: &AuthorizeAction,
        run: &TargetRun,
        context: &Value,
        settings: &RunSettings,
    ) -> ActionResult {
        let launched = tri!(preconditions(action, run, context));
        // Every authorization starts in a fresh browser, as a new app user agent would: a
        // second authorization in the session of the first would find the person signed in
        // (servers remember it) and the target's sign-in steps would have no screen to play.
        // The one exception is the authorization an EHR launch leads to: it belongs to the
        // EHR's session (the person signed in there), unless that session already authorized.
        let keep_session = launched.is_some() && !self.session_authorized;
        if !keep_session {
            if let Some(used) = self.session.take() {
                settings.browser.release(used).await;
            }
            self.session_authorized = false;
        }
        let mut sent = tri!(
            self.authorization_request(action, run, context, settings, launched.as_ref())
                .await
        );
        let flow = Flow {
            action,
            run,
            settings,
            step_id,
            watched: &sent.watched,
        };
        let played = flow
            .play(self, &mut sent.request, &sent.launch_uri, &launched)
            .await;
        if run.target.browser.mode == BrowserMode::Webdriver && self.session.is_some() {
            self.session_authorized = true;
        }
        let mut outcome = tri!(played);
        if outcome.launch.is_none() {
            outcome.launch = launched;
        }
        let arrived = tri!(self.arrived(&mut outcome, &sent));
        let (document, code) = describe(action, &sent, &mut outcome, &arrived, settings);
        self.authorizations.insert(
            step_id.to_string(),
            Authorization {
                client_step: action.client.clone(),
                redirect_uri: sent.request.redirect_uri,
                verifier: Some(sent.verifier),
                challenge: sent.request.pkce.map(|p| p.0),
                code,
            },
        );
        ActionResult {
            document: Some(document),
            related: outcome.exchanges,
            artifacts: outcome.artifacts,
            end: outcome.error.map(ActionEnd::Error),
            ..Default::default()
        }
    }

    /// The authorization request the step asks for, with a new `state`, `nonce` and PKCE
    /// verifier, continuing `launched` (an EHR launch an earlier step received).
    async fn authorization_request(
        &mut self,
        action: &AuthorizeAction,
        run: &TargetRun,
        context: &Value,
        settings: &RunSettings,
        launched: Option<&Callback>,
    ) -> Result<Sent, ActionEnd> {
        let endpoint_text = render(&action.endpoint, context)?;
        let endpoint = url::Url::parse(&endpoint_text).map_err(|e| {
            ActionEnd::Error(format!(
                "the authorization endpoint `{endpoint_text}` is not an absolute URL: {e}"
            ))
        })?;
        let (scope, scope_changes) = self.scope_of(action, run, context)?;
        let aud = match &action.aud {
            _ if action.without_aud => String::new(),
            Some(a) => render(a, context)?,
            None => run.target.fhir_base_str(),
        };
        let client = self.client_of(&action.client)?;
        if action.launch == LaunchKind::Ehr {
            ehr_launch_of(run)?;
        }
        let listener = self.listener(run).await.map_err(ActionEnd::Error)?;
        if client.redirect_uri.is_empty() && action.redirect_uri != RedirectChoice::Unregistered {
            return Err(ActionEnd::Skip(format!(
                "the target's static clients have no `redirect-uri` (the one registered with the server; {}), so no authorization-code flow can end at the harness",
                run.target.file
            )));
        }
        let (redirect_uri, watched) =
            redirect_for(action.redirect_uri, &client.redirect_uri, listener)
                .map_err(ActionEnd::Skip)?;
        let launch_uri = listener.launch_uri();
        let verifier = pkce::new_verifier();
        settings.redactor.register(&verifier);
        let pkce = match action.pkce {
            PkceMode::S256 => Some((pkce::s256(verifier.expose_secret()), "S256".to_string())),
            PkceMode::Plain => Some((verifier.expose_secret().to_string(), "plain".to_string())),
            PkceMode::None => None,
        };
        let mut request = AuthorizationRequest {
            endpoint,
            client_id: match &action.client_id {
                Some(id) => render(id, context)?,
                None => client.client_id.clone(),
            },
            redirect_uri,
            without_redirect_uri: action.redirect_uri == RedirectChoice::Omitted,
            state: pkce::random_urlsafe(32),
            nonce: AuthorizationRequest::wants_openid(&scope).then(|| pkce::random_urlsafe(24)),
            scope,
            aud,
            launch: None,
            pkce,
            response_type: match &action.response_type {
                Some(t) => render(t, context)?,
                None => "code".into(),
            },
            extra: run
                .target
                .authorize_params
                .iter()
                .cloned()
                .chain(action.extra_params.clone())
                .collect(),
        };
        if let Some(launch) = launched {
            continue_launch(&mut request, launch, action);
        }
        Ok(Sent {
            request,
            verifier,
            watched,
            launch_uri,
            scope_changes,
        })
    }

    /// The scope the step asks for, in the server's vocabulary, and how it changed; a skip when
    /// the server grants none of it.
    fn scope_of(
        &self,
        action: &AuthorizeAction,
        run: &TargetRun,
        context: &Value,
    ) -> Result<(String, Vec<scopes::Change>), ActionEnd> {
        if action.without_scope {
            return Ok((String::new(), Vec::new()));
        }
        let asked = render(&action.scope, context)?;
        let chosen = self.scope_for(&asked, run);
        if chosen.scope.is_empty() && !asked.trim().is_empty() {
            return Err(ActionEnd::Skip(format!(
                "the server grants none of the scopes this case asks for: {}",
                chosen.left_out()
            )));
        }
        Ok((chosen.scope, chosen.changes))
    }

    /// What arrived at the listener: the redirect to the request's `redirect_uri`, one to
    /// another URI, and the fragment the browser kept.
    fn arrived(&self, outcome: &mut FlowOutcome, sent: &Sent) -> Result<Arrived, ActionEnd> {
        let listener = self
            .listener
            .as_ref()
            .ok_or_else(|| ActionEnd::Error("the listener is gone".into()))?;
        let mut callback = outcome
            .callback
            .take()
            .or_else(|| listener.take(listener.callback_path()));
        let mut unregistered = listener.take(&sent.watched);
        // The registered path with the query the harness added is the registered URI's
        // listener path, but not the registered URI.
        if callback
            .as_ref()
            .is_some_and(|cb| cb.params.iter().any(|(name, _)| name == EXTRA_QUERY.0))
        {
            unregistered = unregistered.or(callback.take());
        }
        // The redirect's fragment, which the listener never receives (browsers keep it): the
        // implicit grant returns its answer and its errors there (RFC 6749 §4.2.2, §4.2.2.1).
        let fragment = callback
            .as_ref()
            .and_then(|_| fragment_at(outcome.final_url.as_deref()?, &sent.request.redirect_uri));
        Ok(Arrived {
            callback,
            unregistered,
            fragment,
        })
    }
}

/// Whether the step can be played at all, and the EHR launch it continues (from an earlier
/// `ehr-launch` step), if any; a skip with the reason when not.
fn preconditions(
    action: &AuthorizeAction,
    run: &TargetRun,
    context: &Value,
) -> Result<Option<Callback>, ActionEnd> {
    if action.interaction == Interaction::Deny
        && run.target.browser.mode == BrowserMode::Webdriver
        && run.target.browser.deny.is_empty()
    {
        // Nothing would be clicked and the flow would stall: no denial, nothing to judge.
        return Err(ActionEnd::Skip(format!(
            "the target names no screen steps that deny at consent (`browser.deny` in {}), so no one can deny; add the steps that click the server's deny control (a server with none needs none: no source requires one)",
            run.target.file
        )));
    }
    let Some(step) = &action.ehr_launch else {
        return Ok(None);
    };
    match launch_of_step(context, step) {
        Some(launch) if launch.params.iter().any(|(k, _)| k == "launch") => Ok(Some(launch)),
        // Without the launch identifier the app cannot ask for this launch's context; the
        // launch step's own check says what is missing.
        Some(_) => Err(ActionEnd::Skip(format!(
            "prerequisite missing: the EHR launch of step `{step}` carried no launch parameter"
        ))),
        None => Err(ActionEnd::Skip(format!(
            "prerequisite missing: step `{step}` received no EHR launch"
        ))),
    }
}

/// What an `authorize` step sent, and what it keeps to judge the answer.
struct Sent {
    request: AuthorizationRequest,
    /// The PKCE verifier, for the code exchange.
    verifier: Secret,
    /// The listener path where a redirect to a `redirect_uri` other than the registered one
    /// arrives.
    watched: String,
    /// The app's launch URL on the listener.
    launch_uri: String,
    /// How the suite's scopes changed into the server's vocabulary, with the reasons.
    scope_changes: Vec<scopes::Change>,
}

impl Sent {
    /// What the report shows of the request.
    fn to_json(&self, action: &AuthorizeAction) -> Value {
        let request = &self.request;
        let mut sent = json!({
            "url": request.url().to_string(),
            "method": match action.method { AuthorizeMethod::Get => "GET", AuthorizeMethod::Post => "POST" },
            "state": request.state,
            "nonce": request.nonce,
            "client_id": request.client_id,
            "redirect_uri": (!request.without_redirect_uri).then_some(&request.redirect_uri),
            "scope": request.scope,
            "aud": (!request.aud.is_empty()).then_some(&request.aud),
            "launch": request.launch,
            "code_challenge": request.pkce.as_ref().map(|p| p.0.clone()),
            "code_challenge_method": request.pkce.as_ref().map(|p| p.1.clone()),
            "response_type": request.response_type,
        });
        if !self.scope_changes.is_empty() {
            // What the suite asked for and the server's vocabulary changed, with the reasons.
            sent["scope_changes"] = json!(self.scope_changes);
        }
        sent
    }
}

/// What arrived at the harness's listener after an authorization.
struct Arrived {
    /// The redirect to the request's `redirect_uri`.
    callback: Option<Callback>,
    /// A redirect to another URI than the request's (watched for the negative cases).
    unregistered: Option<Callback>,
    /// The parameters in the fragment of the redirect, in order.
    fragment: Option<Vec<(String, String)>>,
}

impl Arrived {
    /// A parameter of the redirect, from its query or its fragment, and where it was.
    fn param(&self, name: &str) -> Option<(&str, &'static str)> {
        let in_query = self.callback.as_ref().and_then(|cb| cb.get(name));
        let in_fragment = || {
            self.fragment
                .as_ref()
                .and_then(|f| f.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()))
        };
        in_query
            .map(|v| (v, "query"))
            .or_else(|| in_fragment().map(|v| (v, "fragment")))
    }

    /// One line that says how the authorization ended, for the checks' `actual:`.
    fn outcome_line(&self, outcome: &FlowOutcome) -> String {
        let code = self.callback.as_ref().and_then(|c| c.get("code"));
        match (&self.callback, code) {
            (Some(_), Some(_)) => "code".to_string(),
            (Some(_), None) => match self.param("error") {
                Some((error, place)) => format!(
                    "error={error}{}{}",
                    self.param("error_description")
                        .map(|(d, _)| format!(" ({d})"))
                        .unwrap_or_default(),
                    if place == "fragment" {
                        " in the fragment"
                    } else {
                        ""
                    }
                ),
                None => "a redirect with neither code nor error".to_string(),
            },
            (None, _) if outcome.without_browser => format!(
                "no redirect to the redirect_uri: {}",
                outcome
                    .stopped
                    .as_deref()
                    .unwrap_or("the server answered with a page")
            ),
            // What the page showed comes before its (long) URL, which a report may cut short.
            (None, _) => format!(
                "no redirect to the redirect_uri{} (the browser stopped at {})",
                outcome
                    .stopped
                    .as_deref()
                    .map(|s| format!(": {s}"))
                    .unwrap_or_default(),
                outcome.final_url.as_deref().unwrap_or("an unknown page"),
            ),
        }
    }

    /// How the server refused, for the report: an error redirect, or the answer or page the
    /// flow stopped on (a stop that showed no refusal errored the step before).
    fn refusal(&self, outcome: &mut FlowOutcome) -> Option<String> {
        let redirected_error = self.param("error").map(|(error, place)| {
            format!(
                "an error redirect (error={error}{})",
                if place == "fragment" {
                    ", in the fragment"
                } else {
                    ""
                }
            )
        });
        redirected_error.or(outcome.refusal.take())
    }

    /// Every credential that arrived, wherever it arrived (a code on an unregistered redirect
    /// URI, a token in the fragment or in the page the browser stopped on), is masked from now
    /// on.
    fn learn_credentials(&self, outcome: &FlowOutcome, settings: &RunSettings) {
        let redirects = [&self.callback, &self.unregistered, &outcome.launch];
        let in_redirects = redirects.into_iter().flatten().flat_map(|cb| &cb.params);
        let in_fragment = self.fragment.iter().flatten();
        for (name, value) in in_redirects.chain(in_fragment) {
            if crate::redact::Redactor::is_secret_field(name) {
                settings.redactor.register_str(value);
            }
        }
        if let Some(url) = &outcome.final_url {
            settings.redactor.learn_from_url(url);
        }
        // The page's text quoted in these messages may carry a code or a token the harness
        // never asked for (a JSON answer shown in the browser).
        for message in [&outcome.stopped, &outcome.error, &outcome.refusal]
            .into_iter()
            .flatten()
        {
            settings.redactor.learn_from_text(message);
        }
        if let Some(code) = self.callback.as_ref().and_then(|c| c.get("code")) {
            settings.redactor.register_str(code);
        }
    }
}

/// The result document of an `authorize` step: what was sent, how the flow ended, what
/// arrived and where; and the code, if one came.
fn describe(
    action: &AuthorizeAction,
    sent: &Sent,
    outcome: &mut FlowOutcome,
    arrived: &Arrived,
    settings: &RunSettings,
) -> (Value, Option<String>) {
    arrived.learn_credentials(outcome, settings);
    let mut document = json!({
        "redirected": arrived.callback.is_some(),
        "redirected_to_unregistered": arrived.unregistered.is_some(),
        "sent": sent.to_json(action),
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
    if !outcome.passed_over.is_empty() {
        document["screens_passed_over"] = json!(outcome.passed_over);
    }
    if let Some(page) = outcome.sign_in_page.take() {
        document["sign_in_page"] = page;
    }
    let hit = arrived.callback.as_ref().or(arrived.unregistered.as_ref());
    if let Some(method) = hit.map(|cb| &cb.method).filter(|m| !m.is_empty()) {
        document["redirect_method"] = json!(method);
    }
    if let Some(Value::Object(params)) = hit.map(Callback::to_json) {
        for (k, v) in params {
            document[k.as_str()] = v;
        }
    }
    if let Some(params) = &arrived.fragment {
        let params: serde_json::Map<String, Value> =
            params.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        document["fragment"] = Value::Object(params);
    }
    // The error returned to the app, from the redirect's query or its fragment.
    if let Some((error, place)) = arrived.param("error") {
        document["returned_error"] = json!({
            "error": error,
            "error_description": arrived.param("error_description").map(|(d, _)| d),
            "in": place,
        });
    }
    document["outcome"] = json!(arrived.outcome_line(outcome));
    if action.expect_refusal {
        if let Some(refusal) = arrived.refusal(outcome) {
            document["refusal"] = json!(refusal);
        }
    }
    let code = arrived.callback.as_ref().and_then(|c| c.get("code"));
    (document, code.map(str::to_string))
}

impl Flow<'_> {
    /// The authorization played: by a person (`manual`), or over plain HTTP first and then,
    /// when a page for a person came, in the browser.
    async fn play(
        &self,
        state: &mut CaseState,
        request: &mut AuthorizationRequest,
        launch_uri: &str,
        launched: &Option<Callback>,
    ) -> Result<FlowOutcome, ActionEnd> {
        if self.run.target.browser.mode == BrowserMode::Manual {
            return self.manual(request, launch_uri).await;
        }
        let looked = match self.without_browser(state, request, launched).await {
            Ok(settled) => return Ok(settled),
            Err(looked) => looked,
        };
        // The first screen's headers, as the plain-HTTP look leads to it.
        let (sign_in_page, followed) = match &looked {
            Some(first) => {
                super::sign_in_page::follow(self.run, self.settings, first, &request.redirect_uri)
                    .await
            }
            None => (None, Vec::new()),
        };
        let started = std::time::Instant::now();
        let outcome = self.browser(state, request).await;
        state.browser_time += started.elapsed();
        // The look over plain HTTP reached the server too: it is in the report.
        outcome.map(|mut o| {
            o.exchanges.splice(0..0, looked.into_iter().chain(followed));
            o.sign_in_page = sign_in_page;
            o
        })
    }
}

/// One authorization in progress.
struct Flow<'a> {
    action: &'a AuthorizeAction,
    run: &'a TargetRun,
    settings: &'a RunSettings,
    step_id: &'a str,
    /// The listener path where a redirect to the request's `redirect_uri` arrives when that
    /// URI is not the registered one.
    watched: &'a str,
}

/// The query parameter [`RedirectChoice::ExtraQuery`] adds to the registered redirect URI.
const EXTRA_QUERY: (&str, &str) = ("smartcheck-extra", "1");

/// The `redirect_uri` an authorization request names for `choice`, and the listener path a
/// redirect to it reaches when it is not the registered URI; why not, where the variant cannot
/// be made (a registered URI that is not the listener's, or a path without letters).
fn redirect_for(
    choice: RedirectChoice,
    registered: &str,
    listener: &crate::runner::listener::Listener,
) -> Result<(String, String), String> {
    let unregistered = listener::UNREGISTERED_PATH.to_string();
    let variant = |change: &dyn Fn(&mut url::Url) -> Result<(), String>| {
        let mut url = url::Url::parse(registered).map_err(|e| {
            format!("the registered redirect URI `{registered}` does not parse: {e}")
        })?;
        let ours = url::Url::parse(&listener.redirect_uri()).ok();
        if ours
            .as_ref()
            .map(|o| (o.host_str(), o.port_or_known_default()))
            != Some((url.host_str(), url.port_or_known_default()))
        {
            return Err(format!(
                "the registered redirect URI `{registered}` is not the harness's listener, so a redirect to a variant of it could not be seen"
            ));
        }
        change(&mut url)?;
        let path = url.path().to_string();
        Ok((url.to_string(), path))
    };
    match choice {
        RedirectChoice::Registered => Ok((registered.to_string(), unregistered)),
        // Nothing is sent; an answer may come at either registered URI, the second watched.
        RedirectChoice::Omitted => Ok((registered.to_string(), listener::SECOND_PATH.to_string())),
        RedirectChoice::Unregistered => Ok((listener.unregistered_uri(), unregistered)),
        RedirectChoice::ExtraSegment => variant(&|url| {
            let path = format!("{}/smartcheck-extra", url.path().trim_end_matches('/'));
            url.set_path(&path);
            Ok(())
        }),
        RedirectChoice::ExtraQuery => variant(&|url| {
            url.query_pairs_mut()
                .append_pair(EXTRA_QUERY.0, EXTRA_QUERY.1);
            Ok(())
        })
        // The redirect arrives on the registered path; its added parameter tells it apart.
        .map(|(uri, _)| (uri, unregistered)),
        RedirectChoice::OtherCase => variant(&|url| {
            let upper = url.path().to_ascii_uppercase();
            if upper == url.path() {
                return Err(format!(
                    "the registered redirect URI's path `{}` has no lower-case letter to change",
                    url.path()
                ));
            }
            url.set_path(&upper);
            Ok(())
        }),
    }
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
    /// The request sent over plain HTTP first (whether it settled the authorization or not).
    exchanges: Vec<crate::http::Exchange>,
    /// The plain-HTTP answer settled the authorization: no browser was needed.
    without_browser: bool,
    /// The optional screen steps passed over, each with the reason.
    passed_over: Vec<String>,
    /// How the server refused a request it must refuse, when it did so without a redirect
    /// (an error answer over plain HTTP, an error page in the browser).
    refusal: Option<String>,
    /// The first screen as plain HTTP gets it (see `sign_in_page`), when a page came.
    sign_in_page: Option<Value>,
}

/// The parameters in the fragment of `url` when it is the redirect URI (same scheme, host,
/// port and path), in order; `None` without a fragment or elsewhere.
fn fragment_at(url: &str, redirect_uri: &str) -> Option<Vec<(String, String)>> {
    let landed = url::Url::parse(url).ok()?;
    let expected = url::Url::parse(redirect_uri).ok()?;
    let same = landed.scheme() == expected.scheme()
        && landed.host_str() == expected.host_str()
        && landed.port_or_known_default() == expected.port_or_known_default()
        && landed.path() == expected.path();
    let fragment = landed.fragment().filter(|f| same && !f.is_empty())?;
    Some(
        url::form_urlencoded::parse(fragment.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
    )
}

impl Builtin for AuthorizeAction {
    async fn run(&self, i: StepInput<'_>) -> ActionResult {
        i.state
            .authorize(i.step_id, self, i.run, i.context, i.settings)
            .await
    }
}
