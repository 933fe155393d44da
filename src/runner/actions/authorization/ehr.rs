//! The EHR launch: the EHR's launch URL opened (in the browser or by a person), its own
//! screens played, and the app's launch URL it opens caught by the listener; and the
//! authorization request that continues it.

use super::*;

/// The launch an `ehr-launch` step received, read back from its result (`params`).
pub(super) fn launch_of_step(context: &Value, step: &str) -> Option<Callback> {
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
pub(super) fn ehr_launch_of(run: &TargetRun) -> Result<&EhrLaunch, ActionEnd> {
    run.target.ehr_launch.as_ref().ok_or_else(|| {
        ActionEnd::Skip(format!(
            "the target does not say how to start an EHR launch (`ehr-launch` in {})",
            run.target.file
        ))
    })
}

/// The EHR's launch URL with the app's launch URL and the target's launch parameters.
pub(super) fn ehr_launch_url(ehr: &EhrLaunch, launch_uri: &str) -> String {
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
pub(super) fn continue_launch(
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
pub(super) struct LaunchOutcome {
    pub(super) launch: Option<Callback>,
    pub(super) error: Option<String>,
    pub(super) artifacts: Vec<String>,
    pub(super) final_url: Option<String>,
}

/// Opens the EHR's launch URL, plays the EHR's own screens (`ehr-launch.sign-in`) and waits
/// until the EHR opens the app's launch URL.
pub(super) async fn open_ehr_launch(
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
            super::in_browser::loading_hint(slow.as_deref(), &failure.reason),
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
pub(super) async fn manual_ehr_launch(
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

impl Builtin for EhrLaunchAction {
    async fn run(&self, i: StepInput<'_>) -> ActionResult {
        i.state.ehr_launch(i.step_id, i.run, i.settings).await
    }
}
