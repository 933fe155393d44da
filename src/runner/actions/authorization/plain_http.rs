//! The look over plain HTTP: the authorization request sent as a browser would send it
//! first, which settles the authorization without a browser when the server redirects straight
//! back to the harness or refuses with a page nobody could act on.

use super::*;

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
    pub(super) async fn without_browser(
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
