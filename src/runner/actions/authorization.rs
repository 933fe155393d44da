//! `authorize`: the authorization request (state, nonce, PKCE, `aud`, an EHR launch), played
//! in the browser against the target's screens or by a person (`manual`), and the redirect the
//! callback listener catches.

use super::*;

impl CaseState {
    /// `authorize`.
    pub async fn authorize(
        &mut self,
        step_id: &str,
        action: &AuthorizeAction,
        run: &TargetRun,
        context: &Value,
        settings: &RunSettings,
    ) -> ActionResult {
        if action.interaction == Interaction::Deny
            && run.target.browser.mode == BrowserMode::Webdriver
            && run.target.browser.deny.is_empty()
        {
            // Nothing would be clicked and the flow would stall: no denial, nothing to judge.
            return ActionResult::skip(format!(
                "the target names no screen steps that deny at consent (`browser.deny` in {}), so no one can deny; add the steps that click the server's deny control (a server with none needs none: no source requires one)",
                run.target.file
            ));
        }
        // The launch an earlier `ehr-launch` step received, which this authorization continues.
        let launched = match &action.ehr_launch {
            Some(step) => match launch_of_step(context, step) {
                Some(launch) if launch.params.iter().any(|(k, _)| k == "launch") => Some(launch),
                Some(_) => {
                    // Without the launch identifier the app cannot ask for this launch's
                    // context; the launch step's own check says what is missing.
                    return ActionResult::skip(format!(
                        "prerequisite missing: the EHR launch of step `{step}` carried no launch parameter"
                    ));
                }
                None => {
                    return ActionResult::skip(format!(
                        "prerequisite missing: step `{step}` received no EHR launch"
                    ))
                }
            },
            None => None,
        };
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
        let endpoint_text = tri!(render(&action.endpoint, context));
        let endpoint = match url::Url::parse(&endpoint_text) {
            Ok(u) => u,
            Err(e) => {
                return ActionResult::error(format!(
                    "the authorization endpoint `{endpoint_text}` is not an absolute URL: {e}"
                ))
            }
        };
        let (scope, scope_changes) = if action.without_scope {
            (String::new(), Vec::new())
        } else {
            let asked = tri!(render(&action.scope, context));
            let chosen = self.scope_for(&asked, run);
            if chosen.scope.is_empty() && !asked.trim().is_empty() {
                return ActionResult::skip(format!(
                    "the server grants none of the scopes this case asks for: {}",
                    chosen.left_out()
                ));
            }
            (chosen.scope, chosen.changes)
        };
        let aud = match &action.aud {
            _ if action.without_aud => String::new(),
            Some(a) => tri!(render(a, context)),
            None => run.target.fhir_base_str(),
        };
        let client = tri!(self.client_of(&action.client));
        if action.launch == LaunchKind::Ehr {
            tri!(ehr_launch_of(run));
        }
        let listener = match self.listener(run).await {
            Ok(l) => l,
            Err(e) => return ActionResult::error(e),
        };
        if client.redirect_uri.is_empty() && action.redirect_uri != RedirectChoice::Unregistered {
            return ActionResult::skip(format!(
                "the target's static clients have no `redirect-uri` (the one registered with the server; {}), so no authorization-code flow can end at the harness",
                run.target.file
            ));
        }
        let (redirect_uri, watched) =
            match redirect_for(action.redirect_uri, &client.redirect_uri, listener) {
                Ok(chosen) => chosen,
                Err(why) => return ActionResult::skip(why),
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
            without_redirect_uri: action.redirect_uri == RedirectChoice::Omitted,
            scope,
            state: state.clone(),
            aud,
            launch: None,
            pkce: pkce_params.clone(),
            nonce: nonce.clone(),
            response_type: match &action.response_type {
                Some(t) => tri!(render(t, context)),
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
        if let Some(launch) = &launched {
            continue_launch(&mut request, launch, action);
        }
        let flow = Flow {
            action,
            run,
            settings,
            step_id,
            watched: &watched,
        };
        let outcome = match run.target.browser.mode {
            BrowserMode::Manual => flow.manual(&mut request, &launch_uri).await,
            BrowserMode::Webdriver => match flow.without_browser(self, &request, &launched).await {
                Ok(settled) => Ok(settled),
                Err(looked) => {
                    // The first screen's headers, as the plain-HTTP look leads to it.
                    let (sign_in_page, followed) = match &looked {
                        Some(first) => {
                            super::sign_in_page::follow(run, settings, first, &request.redirect_uri)
                                .await
                        }
                        None => (None, Vec::new()),
                    };
                    let started = std::time::Instant::now();
                    let outcome = flow.browser(self, &mut request).await;
                    self.browser_time += started.elapsed();
                    // The look over plain HTTP reached the server too: it is in the report.
                    outcome.map(|mut o| {
                        o.exchanges.splice(0..0, looked.into_iter().chain(followed));
                        o.sign_in_page = sign_in_page;
                        o
                    })
                }
            },
        };
        if run.target.browser.mode == BrowserMode::Webdriver && self.session.is_some() {
            self.session_authorized = true;
        }
        let mut outcome = match outcome {
            Ok(o) => o,
            Err(end) => return end.into(),
        };
        if outcome.launch.is_none() {
            outcome.launch = launched;
        }
        let listener = match self.listener.as_ref() {
            Some(l) => l,
            None => return ActionResult::error("the listener is gone"),
        };
        let mut callback = outcome
            .callback
            .take()
            .or_else(|| listener.take(listener.callback_path()));
        let mut unregistered_hit = listener.take(&watched);
        // The registered path with the query the harness added is the registered URI's
        // listener path, but not the registered URI.
        if callback
            .as_ref()
            .is_some_and(|cb| cb.params.iter().any(|(name, _)| name == EXTRA_QUERY.0))
        {
            unregistered_hit = unregistered_hit.or(callback.take());
        }
        let mut document = json!({
            "redirected": callback.is_some(),
            "redirected_to_unregistered": unregistered_hit.is_some(),
            "sent": {
                "url": request.url().to_string(),
                "method": match action.method { AuthorizeMethod::Get => "GET", AuthorizeMethod::Post => "POST" },
                "state": state,
                "nonce": nonce,
                "client_id": client_id,
                "redirect_uri": (!request.without_redirect_uri).then_some(&redirect_uri),
                "scope": request.scope,
                "aud": (!request.aud.is_empty()).then_some(&request.aud),
                "launch": request.launch,
                "code_challenge": pkce_params.as_ref().map(|p| p.0.clone()),
                "code_challenge_method": pkce_params.as_ref().map(|p| p.1.clone()),
                "response_type": request.response_type,
            },
        });
        if !scope_changes.is_empty() {
            // What the suite asked for and the server's vocabulary changed, with the reasons.
            document["sent"]["scope_changes"] = json!(scope_changes);
        }
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
        // Every credential that arrived, wherever it arrived (a code on an unregistered
        // redirect URI, a token in the page the browser stopped on), is masked from now on.
        for cb in [&callback, &unregistered_hit, &outcome.launch]
            .into_iter()
            .flatten()
        {
            for (name, value) in &cb.params {
                if crate::redact::Redactor::is_secret_field(name) {
                    settings.redactor.register_str(value);
                }
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
        let hit = callback.as_ref().or(unregistered_hit.as_ref());
        if let Some(method) = hit.map(|cb| &cb.method).filter(|m| !m.is_empty()) {
            document["redirect_method"] = json!(method);
        }
        if let Some(cb) = hit {
            if let Value::Object(params) = cb.to_json() {
                for (k, v) in params {
                    document[k.as_str()] = v;
                }
            }
        }
        // The redirect's fragment, which the listener never receives (browsers keep it): the
        // implicit grant returns its answer and its errors there (RFC 6749 §4.2.2, §4.2.2.1).
        let fragment = callback
            .as_ref()
            .and_then(|_| fragment_at(outcome.final_url.as_deref()?, &request.redirect_uri));
        if let Some(params) = &fragment {
            for (name, value) in params {
                if crate::redact::Redactor::is_secret_field(name) {
                    settings.redactor.register_str(value);
                }
            }
            let params: serde_json::Map<String, Value> =
                params.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            document["fragment"] = Value::Object(params);
        }
        let param = |name: &str| -> Option<(&str, &'static str)> {
            let in_query = callback.as_ref().and_then(|cb| cb.get(name));
            let in_fragment = || {
                fragment
                    .as_ref()
                    .and_then(|f| f.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()))
            };
            in_query
                .map(|v| (v, "query"))
                .or_else(|| in_fragment().map(|v| (v, "fragment")))
        };
        // The error returned to the app, from the redirect's query or its fragment.
        if let Some((error, place)) = param("error") {
            document["returned_error"] = json!({
                "error": error,
                "error_description": param("error_description").map(|(d, _)| d),
                "in": place,
            });
        }
        let code = callback
            .as_ref()
            .and_then(|c| c.get("code"))
            .map(str::to_string);
        // One line that says how the authorization ended, for the checks' `actual:`.
        document["outcome"] = json!(match (&callback, &code) {
            (Some(_), Some(_)) => "code".to_string(),
            (Some(_), None) => match param("error") {
                Some((error, place)) => format!(
                    "error={error}{}{}",
                    param("error_description")
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
        });
        if action.expect_refusal {
            // How the server refused, for the report: an error redirect, or the answer or page
            // the flow stopped on (a stop that showed no refusal errored the step above).
            let redirected_error = param("error").map(|(error, place)| {
                format!(
                    "an error redirect (error={error}{})",
                    if place == "fragment" {
                        ", in the fragment"
                    } else {
                        ""
                    }
                )
            });
            if let Some(refusal) = redirected_error.or(outcome.refusal.take()) {
                document["refusal"] = json!(refusal);
            }
        }
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
            related: outcome.exchanges,
            artifacts: outcome.artifacts,
            end: outcome.error.map(ActionEnd::Error),
            ..Default::default()
        }
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

/// The launch an `ehr-launch` step received, read back from its result (`params`).
fn launch_of_step(context: &Value, step: &str) -> Option<Callback> {
    let params = context["steps"][step]["json"]["params"].as_object()?;
    Some(Callback {
        path: listener::LAUNCH_PATH.to_string(),
        params: params
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
            .collect(),
        method: String::new(),
    })
}

/// The target's EHR launch, or the skip that says it has none.
fn ehr_launch_of(run: &TargetRun) -> Result<&EhrLaunch, ActionEnd> {
    run.target.ehr_launch.as_ref().ok_or_else(|| {
        ActionEnd::Skip(format!(
            "the target does not say how to start an EHR launch (`ehr-launch` in {})",
            run.target.file
        ))
    })
}

/// The EHR's launch URL with the app's launch URL and the target's launch parameters.
fn ehr_launch_url(ehr: &EhrLaunch, launch_uri: &str) -> String {
    match url::Url::parse(&ehr.url) {
        Ok(mut url) => {
            {
                let mut q = url.query_pairs_mut();
                q.append_pair(&ehr.launch_uri_param, launch_uri);
                for (k, v) in &ehr.params {
                    q.append_pair(k, v);
                }
            }
            url.to_string()
        }
        // The loader checks the URL; a template that expanded to something else stays visible.
        Err(_) => ehr.url.clone(),
    }
}

/// The authorization request continues an EHR launch: its `launch`, and `aud` = its `iss`
/// (SMART 2.2 app-launch: the app sends the `iss` the EHR launched it with) unless the step
/// names another `aud`.
fn continue_launch(
    request: &mut AuthorizationRequest,
    launch: &Callback,
    action: &AuthorizeAction,
) {
    request.launch = launch.get("launch").map(str::to_string);
    if action.aud.is_none() && !action.without_aud {
        if let Some(iss) = launch.get("iss") {
            request.aud = iss.to_string();
        }
    }
}

/// What opening the EHR's launch URL in the browser came to.
#[derive(Default)]
struct LaunchOutcome {
    launch: Option<Callback>,
    error: Option<String>,
    artifacts: Vec<String>,
    final_url: Option<String>,
}

/// Opens the EHR's launch URL, plays the EHR's own screens (`ehr-launch.sign-in`) and waits
/// until the EHR opens the app's launch URL.
async fn open_ehr_launch(
    session: &Session,
    listener: &Listener,
    run: &TargetRun,
    settings: &RunSettings,
    artifacts_dir: &std::path::Path,
    step_id: &str,
) -> Result<LaunchOutcome, ActionEnd> {
    let target = &run.target;
    let ehr = ehr_launch_of(run)?;
    let cancel = &settings.cancel;
    let url = ehr_launch_url(ehr, &listener.launch_uri());
    let slow = open_page(session, &url, cancel).await?;
    let mut outcome = LaunchOutcome::default();
    let launched = || listener.has(listener::LAUNCH_PATH);
    let played = browser::screens::play(
        session,
        "ehr-launch",
        &ehr.sign_in,
        &[],
        target.browser.step_timeout,
        &launched,
        cancel,
        &mut Vec::new(),
    )
    .await;
    let problem = match played {
        Ok(ScreenOutcome::Cancelled) => return Err(ActionEnd::Skip(crate::interrupt::reason())),
        Ok(_) => None,
        Err(failure) => Some(format!(
            "the EHR screen step {} could not be played: {}{}; {}",
            failure.step,
            failure.reason,
            slow.as_deref()
                .map(|s| format!(" (before that: {s})"))
                .unwrap_or_default(),
            PageSummary::read(session).await.describe()
        )),
    };
    let timeout = target.browser.redirect_timeout + target.browser.step_timeout;
    if problem.is_none()
        && listener
            .wait(&[listener::LAUNCH_PATH], timeout, cancel)
            .await
    {
        outcome.launch = listener.take(listener::LAUNCH_PATH);
        return Ok(outcome);
    }
    if cancel.is_cancelled() {
        return Err(ActionEnd::Skip(crate::interrupt::reason()));
    }
    let (files, page) = session.capture(artifacts_dir, step_id).await;
    outcome.artifacts = files.iter().map(|f| f.display().to_string()).collect();
    outcome.final_url = page.clone();
    outcome.error = Some(problem.unwrap_or_else(|| {
        format!(
            "the EHR launch at {url} never opened the app's launch URL (the browser is at {})",
            page.unwrap_or_default()
        )
    }));
    Ok(outcome)
}

/// The EHR launch played by a person: the EHR URL printed, the app's launch URL pasted back.
async fn manual_ehr_launch(
    run: &TargetRun,
    launch_uri: &str,
    step_id: &str,
) -> Result<Callback, ActionEnd> {
    let ehr = ehr_launch_of(run)?;
    let url = ehr_launch_url(ehr, launch_uri);
    let pasted = prompt(&format!(
        "[{step_id}] Start the EHR launch at\n  {url}\nthen paste the URL the browser lands on (the app's launch URL):"
    ))
    .await
    .map_err(ActionEnd::Error)?;
    Ok(parse_pasted(&pasted))
}

impl CaseState {
    /// `ehr-launch`.
    pub async fn ehr_launch(
        &mut self,
        step_id: &str,
        run: &TargetRun,
        settings: &RunSettings,
    ) -> ActionResult {
        let ehr = tri!(ehr_launch_of(run));
        // The EHR launches a new app instance: a new user agent, like every authorization.
        if let Some(used) = self.session.take() {
            settings.browser.release(used).await;
        }
        self.session_authorized = false;
        let launch_uri = match self.listener(run).await {
            Ok(l) => l.launch_uri(),
            Err(e) => return ActionResult::error(e),
        };
        let url = ehr_launch_url(ehr, &launch_uri);
        let outcome = match run.target.browser.mode {
            BrowserMode::Manual => match manual_ehr_launch(run, &launch_uri, step_id).await {
                Ok(launch) => LaunchOutcome {
                    launch: Some(launch),
                    ..Default::default()
                },
                Err(end) => return end.into(),
            },
            BrowserMode::Webdriver => {
                let started = std::time::Instant::now();
                let opened = self.open_ehr_launch(run, settings, step_id).await;
                self.browser_time += started.elapsed();
                match opened {
                    Ok(o) => o,
                    Err(end) => return end.into(),
                }
            }
        };
        let mut document = json!({ "url": url });
        if let Some(launch) = &outcome.launch {
            document["iss"] = json!(launch.get("iss"));
            document["launch"] = json!(launch.get("launch"));
            document["params"] = launch.to_json();
        }
        if let Some(page) = &outcome.final_url {
            document["final_url"] = json!(page);
            settings.redactor.learn_from_url(page);
        }
        if let Some(error) = &outcome.error {
            // It quotes the page the EHR stopped on, which may carry a credential.
            settings.redactor.learn_from_text(error);
        }
        ActionResult {
            document: Some(document),
            artifacts: outcome.artifacts,
            end: outcome.error.map(ActionEnd::Error),
            ..Default::default()
        }
    }
}

impl CaseState {
    /// The EHR launch in this case's browser session (started here if need be).
    async fn open_ehr_launch(
        &mut self,
        run: &TargetRun,
        settings: &RunSettings,
        step_id: &str,
    ) -> Result<LaunchOutcome, ActionEnd> {
        let artifacts_dir = self.artifacts_dir(settings);
        self.session(run, settings)
            .await
            .map_err(ActionEnd::Error)?;
        let (Some(session), Some(listener)) = (self.session.as_ref(), self.listener.as_ref())
        else {
            return Err(ActionEnd::Error(
                "the browser session or listener is gone".into(),
            ));
        };
        open_ehr_launch(session, listener, run, settings, &artifacts_dir, step_id).await
    }
}

impl Flow<'_> {
    /// The authorization request sent the way the browser would send it first, over plain
    /// HTTP, to find out whether a page for a person comes back at all. A server that
    /// redirects straight to the redirect URI (an error, or a code without asking anyone) is
    /// followed to the harness's listener, as the browser would be; a server that answers a
    /// request it must refuse with an error page (4xx or 5xx, no redirect) has refused it.
    /// Either way no browser is needed. Anything else (a sign-in page, a redirect to a login
    /// elsewhere, an error page with something to act on, no answer) is the browser's to play,
    /// and `Err` says so, with the request sent over plain HTTP, if one was, for the report. An
    /// EHR launch's authorization stays in the EHR's browser session.
    async fn without_browser(
        &self,
        state: &CaseState,
        request: &AuthorizationRequest,
        launched: &Option<Callback>,
    ) -> Result<FlowOutcome, Option<crate::http::Exchange>> {
        if launched.is_some() || self.action.launch == LaunchKind::Ehr {
            return Err(None);
        }
        let Some(listener) = state.listener.as_ref() else {
            return Err(None);
        };
        let browser_headers = vec![
            (
                "Accept".to_string(),
                "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8".to_string(),
            ),
            ("Upgrade-Insecure-Requests".to_string(), "1".to_string()),
        ];
        let outgoing = match self.action.method {
            AuthorizeMethod::Get => crate::http::OutgoingRequest {
                method: "GET".into(),
                url: request.url().to_string(),
                headers: browser_headers,
                body: None,
            },
            AuthorizeMethod::Post => {
                let mut headers = browser_headers;
                headers.push((
                    "Content-Type".into(),
                    "application/x-www-form-urlencoded".into(),
                ));
                let body = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(request.params())
                    .finish();
                crate::http::OutgoingRequest {
                    method: "POST".into(),
                    url: request.endpoint.to_string(),
                    headers,
                    body: Some(body),
                }
            }
        };
        let exchange = self.run.client.send(outgoing, &self.settings.cancel).await;
        match self.settle(listener, request, &exchange).await {
            Some(mut outcome) => {
                outcome.exchanges.push(exchange);
                Ok(outcome)
            }
            None => Err(Some(exchange)),
        }
    }

    /// The answer to the look over plain HTTP, when it settles the authorization: a redirect
    /// to the harness (delivered to the listener), or an error page with nothing to act on
    /// for a request the server must refuse.
    async fn settle(
        &self,
        listener: &listener::Listener,
        request: &AuthorizationRequest,
        exchange: &crate::http::Exchange,
    ) -> Option<FlowOutcome> {
        let response = exchange.response.as_ref()?;
        let mut outcome = FlowOutcome {
            without_browser: true,
            ..FlowOutcome::default()
        };
        if (300..400).contains(&response.status) {
            let location = response.header("location")?;
            let target = url::Url::parse(&exchange.request.url)
                .ok()?
                .join(location)
                .ok()?;
            // Only a redirect to the harness itself is settled: the listener gets it as if
            // from the browser.
            let is = |uri: &str| {
                url::Url::parse(uri).is_ok_and(|u| {
                    u.host_str() == target.host_str()
                        && u.port_or_known_default() == target.port_or_known_default()
                        && u.path() == target.path()
                })
            };
            // The unregistered URI first: a request that sends it as its redirect_uri must
            // not be answered there, and a server that does is caught at that path.
            let watched_uri = listener.url_of(self.watched);
            let path = if is(&watched_uri) {
                self.watched
            } else if is(&request.redirect_uri) || is(&listener.redirect_uri()) {
                listener.callback_path()
            } else {
                return None;
            };
            let mut delivered = listener.url_of(path);
            if let Some(query) = target.query() {
                delivered.push('?');
                delivered.push_str(query);
            }
            if !listener.deliver(&delivered).await {
                return None;
            }
            outcome.final_url = Some(target.to_string());
        } else if response.status >= 400 {
            // An error answer settles a request to refuse (a refusal) and a valid one alike
            // (a finding of the checks: no code came), unless a person could act on the page.
            if let Some(why) = page_for_a_person(&response.body) {
                // A sign-in form under a 401 may still lead to a code once someone signs in:
                // only the browser can tell.
                tracing::debug!(
                    "a {} answer to an authorization request has {why}: played in the browser",
                    response.status
                );
                return None;
            }
            outcome.final_url = Some(exchange.request.url.clone());
            outcome.stopped = Some(format!(
                "the server answered {} with a page and no redirect (seen over plain HTTP; no browser was needed)",
                response.status
            ));
            if self.action.expect_refusal {
                outcome.refusal = Some(format!("an error answer (HTTP {})", response.status));
            }
        } else {
            return None;
        }
        Some(outcome)
    }

    /// A person at the terminal: print the URL, read the redirect URL back.
    async fn manual(
        &self,
        request: &mut AuthorizationRequest,
        launch_uri: &str,
    ) -> Result<FlowOutcome, ActionEnd> {
        let mut outcome = FlowOutcome::default();
        if self.action.launch == LaunchKind::Ehr {
            let launch = manual_ehr_launch(self.run, launch_uri, self.step_id).await?;
            continue_launch(request, &launch, self.action);
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
    /// the wait for the redirect; the time of each goes into the case's browser phases.
    async fn browser(
        &self,
        state: &mut CaseState,
        request: &mut AuthorizationRequest,
    ) -> Result<FlowOutcome, ActionEnd> {
        let mut phases = crate::report::model::BrowserPhases::default();
        let outcome = self.play_in_browser(state, request, &mut phases).await;
        state.browser_phases.add(&phases);
        outcome
    }

    async fn play_in_browser(
        &self,
        state: &mut CaseState,
        request: &mut AuthorizationRequest,
        phases: &mut crate::report::model::BrowserPhases,
    ) -> Result<FlowOutcome, ActionEnd> {
        let settings = self.settings;
        let cancel = &settings.cancel;
        let target = &self.run.target;
        let artifacts_dir = state.artifacts_dir(settings);
        let ms = |since: std::time::Instant| since.elapsed().as_millis() as u64;
        let getting = std::time::Instant::now();
        let got = state.session(self.run, settings).await;
        phases.session_ms += ms(getting);
        if let Err(e) = got {
            return Err(ActionEnd::Error(e));
        }
        let pages = std::time::Instant::now();
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
            let launched = open_ehr_launch(
                session,
                listener,
                self.run,
                settings,
                &artifacts_dir,
                self.step_id,
            )
            .await?;
            let Some(launch) = launched.launch else {
                outcome.artifacts = launched.artifacts;
                outcome.final_url = launched.final_url;
                outcome.error = launched.error;
                phases.pages_ms += ms(pages);
                return Ok(outcome);
            };
            continue_launch(request, &launch, self.action);
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
        let slow = open_page(session, &open, cancel).await?;
        let redirect_paths = [listener.callback_path(), self.watched];
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
        for (index, (name, steps)) in screens.iter().enumerate() {
            let ahead = screens_ahead(&screens[index + 1..]);
            match browser::screens::play(
                session,
                name,
                steps,
                &ahead,
                step_timeout,
                &redirected,
                cancel,
                &mut outcome.passed_over,
            )
            .await
            {
                Ok(ScreenOutcome::Done) => {}
                Ok(ScreenOutcome::Redirected) => break,
                Ok(ScreenOutcome::Cancelled) => {
                    return Err(ActionEnd::Skip(crate::interrupt::reason()));
                }
                Err(failure) => {
                    let shown = PageSummary::read(session).await;
                    let reason = format!(
                        "the screen step {} could not be played: {}{}; {}",
                        failure.step,
                        failure.reason,
                        slow.as_deref()
                            .map(|s| format!(" (before that: {s})"))
                            .unwrap_or_default(),
                        shown.describe()
                    );
                    if self.action.expect_refusal {
                        self.judge_stop(session, &artifacts_dir, &shown, reason, &mut outcome)
                            .await;
                        phases.pages_ms += ms(pages);
                        return Ok(outcome);
                    }
                    let (files, page) = session.capture(&artifacts_dir, self.step_id).await;
                    outcome.artifacts = files.iter().map(|f| f.display().to_string()).collect();
                    outcome.final_url = page;
                    fail(&mut outcome, reason);
                    phases.pages_ms += ms(pages);
                    return Ok(outcome);
                }
            }
        }
        let wait = match self.action.interaction {
            Interaction::None => target.browser.redirect_timeout,
            _ => timeout,
        };
        phases.pages_ms += ms(pages);
        let waiting = std::time::Instant::now();
        listener.wait(&redirect_paths, wait, cancel).await;
        phases.redirect_ms += ms(waiting);
        outcome.final_url = session.current_url().await;
        if !redirected() && self.action.expect_refusal {
            // The screens were played and no redirect came: the page shows whether the
            // server refused.
            let shown = PageSummary::read(session).await;
            let reason = format!(
                "every screen was played and no redirect came within {}; {}",
                humantime::format_duration(wait),
                shown.describe()
            );
            self.judge_stop(session, &artifacts_dir, &shown, reason, &mut outcome)
                .await;
            return Ok(outcome);
        }
        // The last screen (consent, or deny) has no steps in the target and no redirect came:
        // the harness stopped, not the server (after steps the target gives, a dead end is the
        // server's). The step errors with what the page offers, so that the person can write
        // the steps; no check judges a flow nobody finished.
        let unplayed: Vec<&str> = screens
            .iter()
            .filter(|(name, steps)| steps.is_empty() && *name != "patient")
            .map(|(name, _)| *name)
            .collect();
        let last_unplayed = screens.last().is_some_and(|(_, steps)| steps.is_empty());
        if !redirected() && last_unplayed {
            // Whatever the page shows (a form, or a spinner that would become one), nobody
            // played it: no verdict on the server follows from this stop.
            let controls = browser::page::Control::read_all(session).await;
            let shown = PageSummary::read(session).await;
            let (files, _) = session.capture(&artifacts_dir, self.step_id).await;
            outcome.artifacts = files.iter().map(|f| f.display().to_string()).collect();
            let names: Vec<String> = unplayed.iter().map(|n| format!("`browser.{n}`")).collect();
            let offered = if controls.is_empty() {
                "no input or button shows on it yet".to_string()
            } else {
                format!(
                    "its controls: {}",
                    browser::page::Control::describe(&controls)
                )
            };
            let suggested = browser::learn::suggestion(session)
                .await
                .map(|s| format!("; suggested steps: {s}"))
                .unwrap_or_default();
            fail(
                &mut outcome,
                format!(
                    "no redirect came within {} and the target has no {} steps: {}, waiting for a person; {offered}{suggested}. Write the steps for this screen under `browser:` in the target, or let `smartcheck init --screens` learn them",
                    humantime::format_duration(wait),
                    names.join(" or "),
                    shown.describe(),
                ),
            );
            session
                .park(&listener.url_of("/"), outcome.final_url.as_deref())
                .await;
            return Ok(outcome);
        }
        if !redirected() && self.action.interaction != Interaction::None {
            // A server that never redirects is a finding of the checks; the picture and what
            // the page says (a bare JSON error, a spinner) help the person find out why.
            let shown = PageSummary::read(session).await;
            outcome.stopped = Some(format!(
                "every screen was played and no redirect came within {}; {}",
                humantime::format_duration(wait),
                shown.describe()
            ));
            let (files, _) = session.capture(&artifacts_dir, self.step_id).await;
            outcome.artifacts = files.iter().map(|f| f.display().to_string()).collect();
        }
        // No server's page stays open for the next authorization: the browser stays on the
        // harness's own page where the redirect brought it, or leaves for a blank one.
        session
            .park(&listener.url_of("/"), outcome.final_url.as_deref())
            .await;
        Ok(outcome)
    }
}

impl Flow<'_> {
    /// A request the server must refuse stopped in the browser without a redirect (`how`
    /// says where). Only a page that shows a refusal (an error status, or words that name
    /// one) proves it; any other stop (a screen that never came, a patient list that never
    /// loaded) is what a server that accepted the request and then failed would show too, so
    /// the step errors as inconclusive, with the screenshot, and no check of it can pass.
    async fn judge_stop(
        &self,
        session: &Session,
        artifacts_dir: &std::path::Path,
        shown: &PageSummary,
        how: String,
        outcome: &mut FlowOutcome,
    ) {
        match shown.refusal() {
            Some(refusal) => {
                outcome.final_url = session.current_url().await;
                outcome.stopped = Some(how);
                outcome.refusal = Some(refusal);
            }
            None => {
                let (files, page) = session.capture(artifacts_dir, self.step_id).await;
                outcome.artifacts = files.iter().map(|f| f.display().to_string()).collect();
                outcome.final_url = page;
                outcome.error = Some(format!(
                    "refusal not proven: {how}. No error redirect, error answer or error page \
                     came; a server that accepted the request and then could not complete its \
                     screens would look the same (see the screenshot)"
                ));
            }
        }
        let _ = session.goto("about:blank").await;
    }
}

/// What makes an error page (4xx or 5xx) one that a person, or the page itself, could still act
/// on: a form or a field (a sign-in form served under 401, after which the server might yet
/// issue a code), a script (which may draw one, or navigate), a frame, or a refresh that leads
/// elsewhere. `None` for a page with nothing to act on, which settles a refusal without a
/// browser.
fn page_for_a_person(body: &str) -> Option<&'static str> {
    static REFRESH: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#"(?i)http-equiv\s*=\s*["']?refresh"#).expect("a valid pattern")
    });
    let lower = body.to_ascii_lowercase();
    let marks = [
        ("<form", "a form"),
        ("<input", "a field to fill"),
        ("<textarea", "a field to fill"),
        ("<select", "a field to fill"),
        ("<script", "a script"),
        ("<iframe", "a frame"),
        ("<frame", "a frame"),
    ];
    marks
        .iter()
        .find(|(mark, _)| lower.contains(mark))
        .map(|(_, what)| *what)
        .or_else(|| {
            REFRESH
                .is_match(body)
                .then_some("a refresh to another page")
        })
}

/// The first step of each screen in `later`, up to the first screen whose first step is
/// required (the screen that must come next): once one of them shows, an optional step of the
/// screen before them has no reason to wait longer.
fn screens_ahead<'a>(
    later: &[(&str, &'a [crate::suite::target::ScreenStep])],
) -> Vec<&'a crate::suite::target::ScreenStep> {
    let mut ahead = Vec::new();
    for (_, steps) in later {
        if let Some(first) = steps.first() {
            ahead.push(first);
            if !first.optional {
                break;
            }
        }
    }
    ahead
}

/// Opens a page in the browser. A page that has not finished loading within the page timeout
/// is no error by itself (its form may work while a script or an image still loads): the
/// screens poll for their elements, and the note returned goes into their failure message.
async fn open_page(
    session: &Session,
    url: &str,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<Option<String>, ActionEnd> {
    tokio::select! {
        opened = session.goto(url) => match opened {
            Ok(()) => Ok(None),
            Err(e) if e.starts_with("timed out") => Ok(Some(e)),
            Err(e) => Err(ActionEnd::Error(e)),
        },
        _ = cancel.cancelled() => Err(ActionEnd::Skip(crate::interrupt::reason())),
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

impl Builtin for EhrLaunchAction {
    async fn run(&self, i: StepInput<'_>) -> ActionResult {
        i.state.ehr_launch(i.step_id, i.run, i.settings).await
    }
}

impl Builtin for AuthorizeAction {
    async fn run(&self, i: StepInput<'_>) -> ActionResult {
        i.state
            .authorize(i.step_id, self, i.run, i.context, i.settings)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_page_with_something_to_act_on_is_left_to_the_browser() {
        let inert = [
            "<html><body><h1>Bad request</h1><p>invalid_client</p></body></html>",
            r#"{"error":"invalid_request"}"#,
            "",
            "<a href=\"/help\">Help</a>",
        ];
        for body in inert {
            assert_eq!(page_for_a_person(body), None, "{body}");
        }
        let live = [
            ("<FORM method=post><input name=u></FORM>", "a form"),
            ("<div><INPUT type=\"password\"></div>", "a field to fill"),
            ("<div id=app></div><script src=app.js></script>", "a script"),
            ("<iframe src=/login></iframe>", "a frame"),
            (
                "<meta http-equiv='Refresh' content='0; url=/login'>",
                "a refresh to another page",
            ),
        ];
        for (body, why) in live {
            assert_eq!(page_for_a_person(body), Some(why), "{body}");
        }
    }
}
