//! The authorization played in the browser: the EHR launch if asked, the request opened, the
//! target's screens played, the wait for the redirect, and what a stop without one proves.

use super::*;

impl Flow<'_> {
    /// The browser: EHR launch if asked, the authorization request, the target's screens, and
    /// the wait for the redirect; the time of each goes into the case's browser phases.
    pub(super) async fn browser(
        &self,
        state: &mut CaseState,
        request: &mut AuthorizationRequest,
    ) -> Result<FlowOutcome, ActionEnd> {
        let mut phases = crate::report::model::BrowserPhases::default();
        let outcome = self.play_in_browser(state, request, &mut phases).await;
        state.browser_phases.add(&phases);
        outcome
    }

    /// The screens of a flow, in order, for the step's interaction.
    fn screens(&self) -> Vec<Screen<'_>> {
        let browser = &self.run.target.browser;
        match self.action.interaction {
            Interaction::Approve => vec![
                ("sign-in", &browser.sign_in[..]),
                ("patient", &browser.patient[..]),
                ("authorize", &browser.authorize[..]),
            ],
            Interaction::Deny => vec![
                ("sign-in", &browser.sign_in[..]),
                ("patient", &browser.patient[..]),
                ("deny", &browser.deny[..]),
            ],
            Interaction::None => vec![],
        }
    }

    async fn play_in_browser(
        &self,
        state: &mut CaseState,
        request: &mut AuthorizationRequest,
        phases: &mut crate::report::model::BrowserPhases,
    ) -> Result<FlowOutcome, ActionEnd> {
        let ms = |since: std::time::Instant| since.elapsed().as_millis() as u64;
        let artifacts_dir = state.artifacts_dir(self.settings);
        let getting = std::time::Instant::now();
        let got = state.session(self.run, self.settings).await;
        phases.session_ms += ms(getting);
        got.map_err(ActionEnd::Error)?;
        let pages = std::time::Instant::now();
        let (Some(session), Some(listener)) = (state.session.as_ref(), state.listener.as_ref())
        else {
            return Err(ActionEnd::Error(
                "the browser session or listener is gone".into(),
            ));
        };
        let tab = Tab {
            session,
            listener,
            artifacts_dir: &artifacts_dir,
        };
        let screens = self.screens();
        let mut outcome = FlowOutcome::default();
        let went_on = self
            .open_and_play(&tab, request, &screens, &mut outcome)
            .await?;
        phases.pages_ms += ms(pages);
        if !went_on {
            return Ok(outcome);
        }
        let target = &self.run.target;
        let wait = match self.action.interaction {
            Interaction::None => target.browser.redirect_timeout,
            _ => target.browser.redirect_timeout + target.browser.step_timeout,
        };
        let waiting = std::time::Instant::now();
        let redirect_paths = [listener.callback_path(), self.watched];
        listener
            .wait(&redirect_paths, wait, &self.settings.cancel)
            .await;
        phases.redirect_ms += ms(waiting);
        outcome.final_url = session.current_url().await;
        self.after_the_wait(&tab, &screens, wait, outcome).await
    }

    /// A redirect to the request's `redirect_uri` or the watched one has arrived.
    fn redirected(&self, listener: &Listener) -> bool {
        [listener.callback_path(), self.watched]
            .iter()
            .any(|p| listener.has(p))
    }

    /// The EHR launch if asked, the request opened and the screens played; `false` when the
    /// flow ended there (with `outcome` saying how), `true` when the redirect is to be waited
    /// for.
    async fn open_and_play(
        &self,
        tab: &Tab<'_>,
        request: &mut AuthorizationRequest,
        screens: &[Screen<'_>],
        outcome: &mut FlowOutcome,
    ) -> Result<bool, ActionEnd> {
        let Tab {
            session, listener, ..
        } = *tab;
        if self.action.launch == LaunchKind::Ehr {
            let launched = open_ehr_launch(
                session,
                listener,
                self.run,
                self.settings,
                tab.artifacts_dir,
                self.step_id,
            )
            .await?;
            let Some(launch) = launched.launch else {
                outcome.artifacts = launched.artifacts;
                outcome.final_url = launched.final_url;
                outcome.error = launched.error;
                return Ok(false);
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
        let slow = open_page(session, &open, &self.settings.cancel).await?;
        self.play_screens(tab, screens, slow.as_deref(), outcome)
            .await
    }

    /// The target's screens, one after another, until a redirect comes; `false` when one
    /// could not be played (with `outcome` saying why).
    async fn play_screens(
        &self,
        tab: &Tab<'_>,
        screens: &[Screen<'_>],
        slow: Option<&str>,
        outcome: &mut FlowOutcome,
    ) -> Result<bool, ActionEnd> {
        let target = &self.run.target;
        let session = tab.session;
        let redirected = || self.redirected(tab.listener);
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
            let failure = match browser::screens::play(
                session,
                name,
                steps,
                &ahead,
                step_timeout,
                &redirected,
                &self.settings.cancel,
                &mut outcome.passed_over,
            )
            .await
            {
                Ok(ScreenOutcome::Done) => continue,
                Ok(ScreenOutcome::Redirected) => break,
                Ok(ScreenOutcome::Cancelled) => {
                    return Err(ActionEnd::Skip(crate::interrupt::reason()));
                }
                Err(failure) => failure,
            };
            let shown = PageSummary::read(session).await;
            let reason = format!(
                "the screen step {} could not be played: {}{}; {}",
                failure.step,
                failure.reason,
                loading_hint(slow, &failure.reason),
                shown.describe()
            );
            if self.action.expect_refusal {
                self.judge_stop(session, tab.artifacts_dir, &shown, reason, outcome)
                    .await;
                return Ok(false);
            }
            let (files, page) = session.capture(tab.artifacts_dir, self.step_id).await;
            outcome.artifacts = files.iter().map(|f| f.display().to_string()).collect();
            outcome.final_url = page;
            outcome.error = Some(reason);
            return Ok(false);
        }
        Ok(true)
    }

    /// What a flow that waited for the redirect came to: a refusal judged by the page, a screen
    /// without steps that nobody played, or a server that never redirected.
    async fn after_the_wait(
        &self,
        tab: &Tab<'_>,
        screens: &[Screen<'_>],
        wait: std::time::Duration,
        mut outcome: FlowOutcome,
    ) -> Result<FlowOutcome, ActionEnd> {
        let Tab {
            session,
            listener,
            artifacts_dir,
        } = *tab;
        let redirected = self.redirected(listener);
        if !redirected && self.action.expect_refusal {
            // The screens were played and no redirect came: the page shows whether the
            // server refused.
            let shown = PageSummary::read(session).await;
            let reason = format!(
                "every screen was played and no redirect came within {}; {}",
                humantime::format_duration(wait),
                shown.describe()
            );
            self.judge_stop(session, artifacts_dir, &shown, reason, &mut outcome)
                .await;
            return Ok(outcome);
        }
        // The last screen (consent, or deny) has no steps in the target and no redirect came:
        // the harness stopped, not the server (after steps the target gives, a dead end is the
        // server's). The step errors with what the page offers, so that the person can write
        // the steps; no check judges a flow nobody finished.
        let last_unplayed = screens.last().is_some_and(|(_, steps)| steps.is_empty());
        if !redirected && last_unplayed {
            outcome.error = Some(self.no_steps(tab, screens, wait, &mut outcome).await);
        } else if !redirected && self.action.interaction != Interaction::None {
            // A server that never redirects is a finding of the checks; the picture and what
            // the page says (a bare JSON error, a spinner) help the person find out why.
            let shown = PageSummary::read(session).await;
            outcome.stopped = Some(format!(
                "every screen was played and no redirect came within {}; {}",
                humantime::format_duration(wait),
                shown.describe()
            ));
            let (files, _) = session.capture(artifacts_dir, self.step_id).await;
            outcome.artifacts = files.iter().map(|f| f.display().to_string()).collect();
        }
        // No server's page stays open for the next authorization: the browser stays on the
        // harness's own page where the redirect brought it, or leaves for a blank one.
        session
            .park(&listener.url_of("/"), outcome.final_url.as_deref())
            .await;
        Ok(outcome)
    }

    /// Whatever the page shows (a form, or a spinner that would become one), nobody played it:
    /// the message that says what it offers, and the steps that would play it.
    async fn no_steps(
        &self,
        tab: &Tab<'_>,
        screens: &[Screen<'_>],
        wait: std::time::Duration,
        outcome: &mut FlowOutcome,
    ) -> String {
        let session = tab.session;
        let unplayed: Vec<String> = screens
            .iter()
            .filter(|(name, steps)| steps.is_empty() && *name != "patient")
            .map(|(name, _)| format!("`browser.{name}`"))
            .collect();
        let controls = browser::page::Control::read_all(session).await;
        let shown = PageSummary::read(session).await;
        let (files, _) = session.capture(tab.artifacts_dir, self.step_id).await;
        outcome.artifacts = files.iter().map(|f| f.display().to_string()).collect();
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
        format!(
            "no redirect came within {} and the target has no {} steps: {}, waiting for a person; {offered}{suggested}. Write the steps for this screen under `browser:` in the target, or let `smartcheck init --screens` learn them",
            humantime::format_duration(wait),
            unplayed.join(" or "),
            shown.describe(),
        )
    }
}

/// One screen of a flow: its name (`sign-in`, `patient`, `authorize`, `deny`) and its steps.
type Screen<'a> = (&'a str, &'a [crate::suite::target::ScreenStep]);

/// The browser tab a flow plays in, the listener the redirect comes to, and where the
/// screenshots go.
#[derive(Clone, Copy)]
struct Tab<'a> {
    session: &'a Session,
    listener: &'a Listener,
    artifacts_dir: &'a std::path::Path,
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

/// The first step of each screen in `later`, up to the first screen whose first step is
/// required (the screen that must come next): once one of them shows, an optional step of the
/// screen before them has no reason to wait longer.
pub(super) fn screens_ahead<'a>(
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

/// Why a screen step may have found no page to play: the page's load timed out before it
/// (`slow`), or, where the browser called the page loaded (Chromium 150 does under load while
/// it still waits for the server), its renderer did not answer the step.
pub(super) fn loading_hint(slow: Option<&str>, failure: &str) -> String {
    match slow {
        Some(slow) => format!(" (before that: {slow})"),
        None if failure.contains("Timed out receiving message from renderer") => {
            " (the page never answered: it was still loading, or its script still running)".into()
        }
        None => String::new(),
    }
}

/// Opens a page in the browser. A page that has not finished loading within the page timeout
/// is no error by itself (its form may work while a script or an image still loads): the
/// screens poll for their elements, and the note returned goes into their failure message.
pub(super) async fn open_page(
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

#[cfg(test)]
mod tests {
    use super::loading_hint;

    #[test]
    fn a_step_on_a_page_that_never_loaded_says_so_either_way() {
        let slow = "timed out after 2s waiting for http://127.0.0.1:1/login to load";
        assert_eq!(
            loading_hint(Some(slow), "timed out after 2s waiting for \"#username\""),
            format!(" (before that: {slow})")
        );
        let renderer = "timed out after 2s waiting for \"#username\": Operation timed out: \
            timeout: Timed out receiving message from renderer: 2.000";
        assert!(loading_hint(None, renderer).starts_with(" (the page never answered"));
        // A missing control on a page that loaded: no hint.
        assert_eq!(
            loading_hint(None, "timed out after 2s waiting for \"#username\""),
            ""
        );
    }
}
