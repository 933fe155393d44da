//! The life of a token after it is issued: `refresh` (RFC 6749 §6), `introspect` (RFC 7662),
//! `revoke` (RFC 7009), and the bearer-protected FHIR requests `fhir-read`, `fhir-search` and
//! `target-reads`; and `wait-for-expiry`, which lets an access token run out.

use serde_json::{json, Value};

use super::{
    render, render_value, send, with_auth_choice, ActionEnd, ActionResult, Builtin, CaseState,
    StepInput,
};
use crate::http::OutgoingRequest;
use crate::runner::context::{RunSettings, TargetRun};
use crate::smart::{pkce, token};
use crate::suite::model::{
    CallerAuth, FhirReadAction, FhirSearchAction, IntrospectAction, RefreshAction,
    RefreshTokenChoice, RevokeAction, TargetReadsAction, TokenPlacement, WaitForExpiryAction,
};

/// The refresh tokens of one grant as the case has seen them.
pub struct RefreshChain {
    /// The newest refresh token.
    current: String,
    /// The refresh token the last rotation replaced.
    rotated: Option<String>,
    /// Whether any refresh of the chain succeeded (so rotation, or its absence, was observed).
    refreshed: bool,
}

impl RefreshChain {
    /// The refresh token a step presents: the chain's current one, one never issued, or the
    /// one a rotation replaced; a skip when no rotation was seen.
    fn presented(&self, action: &RefreshAction, root: &str) -> Result<String, ActionEnd> {
        match action.refresh_token {
            RefreshTokenChoice::Current => Ok(self.current.clone()),
            RefreshTokenChoice::Garbage => Ok(format!(
                "smartcheck-not-a-token-{}",
                pkce::random_urlsafe(16)
            )),
            RefreshTokenChoice::Rotated => match (&self.rotated, self.refreshed) {
                (Some(old), _) => Ok(old.clone()),
                (None, true) => Err(ActionEnd::Skip(
                    "the server does not rotate refresh tokens (a refresh returned the same one, or none), so there is no replaced one to refuse".into(),
                )),
                (None, false) => Err(ActionEnd::Skip(format!(
                    "prerequisite missing: no refresh of step `{root}`'s token succeeded, so rotation was not observed"
                ))),
            },
        }
    }
}

impl CaseState {
    /// The refresh-token chain a `refresh` step continues (started by the step that got the
    /// first refresh token), joined by this step; a skip when that step got none.
    fn join_chain(
        &mut self,
        step_id: &str,
        action: &RefreshAction,
        context: &Value,
    ) -> Result<String, ActionEnd> {
        let root = self
            .chain_of
            .get(&action.from)
            .cloned()
            .unwrap_or_else(|| action.from.clone());
        if !self.refresh_chains.contains_key(&root) {
            let issued = context["steps"][root.as_str()]["json"]["refresh_token"].as_str();
            let Some(issued) = issued else {
                return Err(ActionEnd::Skip(format!(
                    "prerequisite missing: step `{root}` returned no refresh_token"
                )));
            };
            self.refresh_chains.insert(
                root.clone(),
                RefreshChain {
                    current: issued.to_string(),
                    rotated: None,
                    refreshed: false,
                },
            );
        }
        self.chain_of.insert(step_id.to_string(), root.clone());
        Ok(root)
    }

    /// `refresh`.
    pub async fn refresh(
        &mut self,
        step_id: &str,
        action: &RefreshAction,
        run: &TargetRun,
        context: &Value,
        settings: &RunSettings,
    ) -> ActionResult {
        let endpoint = tri!(render(&action.endpoint, context));
        let scope = match &action.scope {
            Some(s) => Some(tri!(render(s, context))),
            None => None,
        };
        let client = tri!(with_auth_choice(
            tri!(self.client_of(&action.client)),
            action.client_auth
        ));
        let root = tri!(self.join_chain(step_id, action, context));
        let presented = tri!(self.refresh_chains[&root].presented(action, &root));
        let request = match token::refresh_request(&endpoint, &client, &presented, scope.as_deref())
        {
            Ok(r) => r,
            Err(e) => return ActionResult::error(e),
        };
        let result = send(run, request, settings).await;
        // Any successful answer that names a new refresh token moves the chain on: the server
        // may have spent the old one whatever else its answer gets wrong.
        let answer: Option<Value> = result
            .exchange
            .as_ref()
            .and_then(|e| e.response.as_ref())
            .filter(|r| (200..300).contains(&r.status))
            .and_then(|r| serde_json::from_str(&r.body).ok());
        if let (Some(answer), Some(chain)) = (answer, self.refresh_chains.get_mut(&root)) {
            chain.refreshed = true;
            if let Some(new) = answer["refresh_token"].as_str() {
                if new != presented && action.refresh_token != RefreshTokenChoice::Garbage {
                    chain.rotated = Some(std::mem::replace(&mut chain.current, new.into()));
                }
            }
        }
        result
    }

    /// `introspect`.
    pub async fn introspect(
        &mut self,
        action: &IntrospectAction,
        run: &TargetRun,
        context: &Value,
        settings: &RunSettings,
    ) -> ActionResult {
        let endpoint = tri!(render(&action.endpoint, context));
        let mut form = vec![("token".to_string(), tri!(render(&action.token, context)))];
        if let Some(hint) = &action.token_type_hint {
            form.push(("token_type_hint".into(), hint.clone()));
        }
        let bearer = match &action.bearer {
            Some(t) => Some(tri!(render(t, context))),
            None => None,
        };
        let (client, headers) = match (action.auth, &run.target.introspection_auth) {
            _ if bearer.is_some() => (
                None,
                vec![(
                    "Authorization".to_string(),
                    format!("Bearer {}", bearer.unwrap_or_default()),
                )],
            ),
            (CallerAuth::None, _) => (None, Vec::new()),
            (CallerAuth::Client, Some((name, value))) => (
                None,
                vec![(name.clone(), value.expose_secret().to_string())],
            ),
            (CallerAuth::Client, None) => (Some(tri!(self.client_of(&action.client))), Vec::new()),
        };
        match token::form_post(&endpoint, client.as_ref(), form, headers) {
            Ok(request) => send(run, request, settings).await,
            Err(e) => ActionResult::error(e),
        }
    }

    /// `revoke`.
    pub async fn revoke(
        &mut self,
        action: &RevokeAction,
        run: &TargetRun,
        context: &Value,
        settings: &RunSettings,
    ) -> ActionResult {
        let endpoint = tri!(render(&action.endpoint, context));
        let client = tri!(with_auth_choice(
            tri!(self.client_of(&action.client)),
            action.client_auth
        ));
        let mut form = vec![("token".to_string(), tri!(render(&action.token, context)))];
        if let Some(hint) = &action.token_type_hint {
            form.push(("token_type_hint".into(), hint.clone()));
        }
        match token::form_post(&endpoint, Some(&client), form, Vec::new()) {
            Ok(request) => send(run, request, settings).await,
            Err(e) => ActionResult::error(e),
        }
    }
}

/// The FHIR base a request uses: the step's, else the target's.
fn fhir_base(
    given: Option<&String>,
    run: &TargetRun,
    context: &Value,
) -> Result<String, ActionEnd> {
    Ok(match given {
        Some(b) => render(b, context)?.trim_end_matches('/').to_string(),
        None => run.target.fhir_base_str(),
    })
}

/// A FHIR GET with the token where the step puts it.
fn fhir_get(mut url: url::Url, token: Option<&str>, placement: TokenPlacement) -> OutgoingRequest {
    let mut headers = vec![("Accept".to_string(), "application/fhir+json".to_string())];
    match (token, placement) {
        (Some(t), TokenPlacement::Header) => {
            headers.push(("Authorization".into(), format!("Bearer {t}")))
        }
        (Some(t), TokenPlacement::Query) => {
            url.query_pairs_mut().append_pair("access_token", t);
        }
        (None, _) => {}
    }
    OutgoingRequest {
        method: "GET".into(),
        url: url.to_string(),
        headers,
        body: None,
    }
}

fn parse_url(text: &str) -> Result<url::Url, ActionEnd> {
    url::Url::parse(text).map_err(|e| ActionEnd::Error(format!("`{text}` is not a URL: {e}")))
}

/// The URL of a read: `[base]/[type]/[id]`, or `type` alone as a reference (`Type/id`,
/// relative to the base, or an absolute URL such as a `fhirUser` claim).
fn read_url(base: &str, resource_type: &str, id: Option<&str>) -> Result<url::Url, ActionEnd> {
    match id {
        Some(id) => {
            let mut url = parse_url(&format!("{base}/{resource_type}"))?;
            url.path_segments_mut()
                .map_err(|_| ActionEnd::Error(format!("`{base}` cannot be a FHIR base")))?
                .push(id);
            Ok(url)
        }
        None if resource_type.contains("://") => parse_url(resource_type),
        None => parse_url(&format!("{base}/{}", resource_type.trim_start_matches('/'))),
    }
}

/// `fhir-read`.
pub async fn fhir_read(
    action: &FhirReadAction,
    run: &TargetRun,
    context: &Value,
    settings: &RunSettings,
) -> ActionResult {
    let base = tri!(fhir_base(action.base.as_ref(), run, context));
    let resource_type = tri!(render(&action.resource_type, context));
    let id = match &action.id {
        Some(i) => Some(tri!(render(i, context))),
        None => None,
    };
    let url = tri!(read_url(&base, &resource_type, id.as_deref()));
    fhir_send(
        url,
        action.token.as_ref(),
        action.token_in,
        run,
        context,
        settings,
    )
    .await
}

/// Sends a FHIR GET with the step's token (rendered) where the step puts it.
async fn fhir_send(
    url: url::Url,
    token: Option<&String>,
    placement: TokenPlacement,
    run: &TargetRun,
    context: &Value,
    settings: &RunSettings,
) -> ActionResult {
    let token = match token {
        Some(t) => Some(tri!(render(t, context))),
        None => None,
    };
    send(run, fhir_get(url, token.as_deref(), placement), settings).await
}

/// `fhir-search`.
pub async fn fhir_search(
    action: &FhirSearchAction,
    run: &TargetRun,
    context: &Value,
    settings: &RunSettings,
) -> ActionResult {
    let base = tri!(fhir_base(action.base.as_ref(), run, context));
    let resource_type = tri!(render(&action.resource_type, context));
    let mut url = tri!(parse_url(&format!("{base}/{resource_type}")));
    for (name, value) in &action.params {
        let value = tri!(render(value, context));
        url.query_pairs_mut().append_pair(name, &value);
    }
    fhir_send(
        url,
        action.token.as_ref(),
        action.token_in,
        run,
        context,
        settings,
    )
    .await
}

/// `target-reads`: each read the target lists, judged on what came back.
pub async fn target_reads(
    action: &TargetReadsAction,
    run: &TargetRun,
    context: &Value,
    settings: &RunSettings,
) -> ActionResult {
    if run.target.reads.is_empty() {
        return ActionResult::skip(format!(
            "the target lists no extra `reads` ({})",
            run.target.file
        ));
    }
    let token = tri!(render(&action.token, context));
    let base = run.target.fhir_base_str();
    let mut related = Vec::new();
    let mut reads = Vec::new();
    let mut failures = Vec::new();
    for read in &run.target.reads {
        let path = tri!(render(&read.path, context));
        let (resource_part, _) = path.split_once('?').unwrap_or((&path, ""));
        let mut segments = resource_part.trim_end_matches('/').split('/');
        let resource_type = segments.next().unwrap_or_default().to_string();
        let is_search = segments.next().is_none();
        let expected = if is_search {
            "Bundle"
        } else {
            resource_type.as_str()
        };
        let url = tri!(parse_url(&format!("{base}/{path}")));
        let exchange = run
            .client
            .send(
                fhir_get(url, Some(&token), TokenPlacement::Header),
                &settings.cancel,
            )
            .await;
        exchange.learn_secrets(&settings.redactor);
        let (status, got) = match &exchange.response {
            Some(r) => (
                Some(r.status),
                serde_json::from_str::<Value>(&r.body)
                    .ok()
                    .and_then(|v| v["resourceType"].as_str().map(str::to_string)),
            ),
            None => (None, None),
        };
        let problem = match (status, got.as_deref()) {
            (None, _) => Some(format!(
                "no answer: {}",
                exchange.error.clone().unwrap_or_default()
            )),
            (Some(200), Some(t)) if t == expected => None,
            (Some(200), Some(t)) => Some(format!("answered a {t}, not a {expected}")),
            (Some(200), None) => Some(format!("answered 200 without a FHIR {expected}")),
            (Some(s), _) => Some(format!("answered {s}")),
        };
        if let Some(p) = &problem {
            failures.push(format!("GET {path}: {p}"));
        }
        reads.push(json!({
            "path": path,
            "title": read.title,
            "status": status,
            "resourceType": got,
            "expected": expected,
        }));
        related.push(exchange);
    }
    ActionResult {
        document: Some(json!({
            "count": reads.len(),
            "reads": reads,
            "failures": failures,
        })),
        related,
        ..Default::default()
    }
}

impl Builtin for RefreshAction {
    async fn run(&self, i: StepInput<'_>) -> ActionResult {
        i.state
            .refresh(i.step_id, self, i.run, i.context, i.settings)
            .await
    }
}

impl Builtin for IntrospectAction {
    async fn run(&self, i: StepInput<'_>) -> ActionResult {
        i.state.introspect(self, i.run, i.context, i.settings).await
    }
}

impl Builtin for RevokeAction {
    async fn run(&self, i: StepInput<'_>) -> ActionResult {
        i.state.revoke(self, i.run, i.context, i.settings).await
    }
}

impl Builtin for FhirReadAction {
    async fn run(&self, i: StepInput<'_>) -> ActionResult {
        fhir_read(self, i.run, i.context, i.settings).await
    }
}

impl Builtin for FhirSearchAction {
    async fn run(&self, i: StepInput<'_>) -> ActionResult {
        fhir_search(self, i.run, i.context, i.settings).await
    }
}

impl Builtin for TargetReadsAction {
    async fn run(&self, i: StepInput<'_>) -> ActionResult {
        target_reads(self, i.run, i.context, i.settings).await
    }
}

/// How long to wait for a token with this `expires_in` to have expired (a second more), or why
/// the case may not wait for it.
fn expiry_wait(
    expires_in: &Value,
    allowed: std::time::Duration,
) -> Result<std::time::Duration, String> {
    // RFC 6749 §5.1 makes expires_in a number; a numeric string is read too, so that a
    // server's wrong type is judged by the check on it, not here.
    let seconds = match expires_in {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    let Some(seconds) = seconds.filter(|s| s.is_finite() && *s >= 0.0) else {
        return Err(format!(
            "the token's expires_in is {expires_in}, not a number of seconds, so its expiry cannot be awaited"
        ));
    };
    // Compared as seconds first: a huge expires_in must not overflow a Duration.
    if seconds + 1.0 > allowed.as_secs_f64() {
        return Err(format!(
            "the access token lives {seconds} s; the target lets a case wait {} for expiry",
            humantime::format_duration(allowed)
        ));
    }
    Ok(std::time::Duration::from_secs_f64(seconds + 1.0))
}

/// RFC 6749 §4.1.2: "A maximum authorization code lifetime of 10 minutes is RECOMMENDED." A
/// code still redeemable after this long (and a second) lives longer than recommended.
pub const RECOMMENDED_CODE_LIFETIME: std::time::Duration = std::time::Duration::from_secs(600);

/// How long to hold an authorization code before presenting it: the target's allowance, but
/// no longer than the recommended longest lifetime and a second (waiting longer judges nothing
/// more); none when the target allows no wait.
fn code_wait(allowed: std::time::Duration) -> Option<std::time::Duration> {
    let longest_useful = RECOMMENDED_CODE_LIFETIME + std::time::Duration::from_secs(1);
    (!allowed.is_zero()).then(|| allowed.min(longest_useful))
}

impl Builtin for WaitForExpiryAction {
    async fn run(&self, i: StepInput<'_>) -> ActionResult {
        let (wait, what) = match &self.expires_in {
            Some(expires_in) => {
                let value = tri!(render_value(expires_in, i.context));
                match expiry_wait(&value, i.run.target.token_expiry_wait) {
                    Ok(wait) => (wait, "token"),
                    Err(why) => {
                        return ActionResult::skip(format!(
                            "{why} (`token-expiry-wait` in {})",
                            i.run.target.file
                        ))
                    }
                }
            }
            None => match code_wait(i.run.target.code_expiry_wait) {
                Some(wait) => (wait, "authorization code"),
                None => {
                    return ActionResult::skip(format!(
                        "the target lets no case hold an authorization code until it expires (`code-expiry-wait` in {}: RFC 6749 §4.1.2 recommends codes live at most 10 minutes, so `11m` judges any server)",
                        i.run.target.file
                    ))
                }
            },
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = i.settings.cancel.cancelled() => {
                return ActionResult::skip(format!("interrupted while waiting for the {what} to expire"));
            }
        }
        let mut document = json!({ "waited_seconds": wait.as_secs_f64() });
        if self.code {
            document["past_recommended_lifetime"] = json!(wait > RECOMMENDED_CODE_LIFETIME);
        }
        ActionResult {
            document: Some(document),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_held_as_long_as_the_target_allows_and_no_longer_than_useful() {
        let s = std::time::Duration::from_secs;
        assert_eq!(code_wait(s(0)), None);
        assert_eq!(code_wait(s(3)), Some(s(3)));
        // Past ten minutes and a second, any code may be judged: no need to wait longer.
        assert_eq!(code_wait(s(3600)), Some(s(601)));
        assert!(code_wait(s(3600)).unwrap() > RECOMMENDED_CODE_LIFETIME);
        assert!(code_wait(s(600)).unwrap() <= RECOMMENDED_CODE_LIFETIME);
    }

    #[test]
    fn expiry_waits_only_as_long_as_the_target_allows() {
        let allowed = std::time::Duration::from_secs(15);
        assert_eq!(
            expiry_wait(&json!(5), allowed).unwrap(),
            std::time::Duration::from_secs(6)
        );
        assert!(expiry_wait(&json!("5"), allowed).is_ok());
        let long = expiry_wait(&json!(3600), allowed).unwrap_err();
        assert!(long.contains("lives 3600 s"), "{long}");
        // Hostile values: no panic, a reason.
        for bad in [
            json!(1e300),
            json!(-1),
            json!("soon"),
            json!(null),
            json!(u64::MAX),
        ] {
            assert!(expiry_wait(&bad, allowed).is_err(), "{bad}");
        }
    }

    #[test]
    fn reads_are_built_from_type_and_id_or_a_reference() {
        let base = "http://127.0.0.1:9/fhir";
        let ok = |r: Result<url::Url, ActionEnd>| match r {
            Ok(u) => u.to_string(),
            Err(_) => panic!("not a URL"),
        };
        assert_eq!(
            ok(read_url(base, "Patient", Some("p 1"))),
            "http://127.0.0.1:9/fhir/Patient/p%201"
        );
        assert_eq!(
            ok(read_url(base, "Practitioner/x", None)),
            "http://127.0.0.1:9/fhir/Practitioner/x"
        );
        assert_eq!(
            ok(read_url(base, "http://h/fhir/Practitioner/x", None)),
            "http://h/fhir/Practitioner/x"
        );
    }

    #[test]
    fn a_token_goes_in_the_header_or_the_query() {
        let url = url::Url::parse("http://h/fhir/Patient/1").unwrap();
        let r = fhir_get(url.clone(), Some("t1"), TokenPlacement::Header);
        assert!(r
            .headers
            .contains(&("Authorization".into(), "Bearer t1".into())));
        assert_eq!(r.url, "http://h/fhir/Patient/1");
        let r = fhir_get(url.clone(), Some("t1"), TokenPlacement::Query);
        assert!(!r.headers.iter().any(|(n, _)| n == "Authorization"));
        assert_eq!(r.url, "http://h/fhir/Patient/1?access_token=t1");
        let r = fhir_get(url, None, TokenPlacement::Header);
        assert_eq!(r.headers.len(), 1);
    }
}
