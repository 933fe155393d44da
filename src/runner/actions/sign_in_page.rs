//! The first screen of an authorization as a browser gets it over plain HTTP, for what its
//! headers say: who may frame the sign-in page (clickjacking, RFC 6749 §10.13). The
//! authorization request's own answer is followed through its redirects (at most five, GET)
//! until a page comes, with the cookies the answers set sent back to their hosts (servers
//! that keep the interaction in a cookie show an error page without it); a redirect back to
//! the app's redirect URI ends the walk with no page.

use serde_json::{json, Value};

use crate::http::{Exchange, OutgoingRequest};
use crate::runner::context::{RunSettings, TargetRun};
use crate::smart::framing::Framing;

const MAX_REDIRECTS: usize = 5;

/// The page the authorization request leads to, summarised (`url`, `status`, the framing
/// headers and `framing`), and the further requests made to reach it; no summary when no HTML
/// page came back.
pub(super) async fn follow(
    run: &TargetRun,
    settings: &RunSettings,
    first: &Exchange,
    redirect_uri: &str,
) -> (Option<Value>, Vec<Exchange>) {
    let mut followed: Vec<Exchange> = Vec::new();
    // (host, name, value) of every cookie set so far.
    let mut jar: Vec<(String, String, String)> = Vec::new();
    for _ in 0..=MAX_REDIRECTS {
        let current = followed.last().unwrap_or(first);
        let Some(response) = &current.response else {
            return (None, followed);
        };
        keep_cookies(&mut jar, &current.request.url, response);
        if (300..400).contains(&response.status) {
            let Some(next) = response
                .header("location")
                .and_then(|l| url::Url::parse(&current.request.url).ok()?.join(l).ok())
            else {
                return (None, followed);
            };
            if !matches!(next.scheme(), "http" | "https") || is_the_app(&next, redirect_uri) {
                return (None, followed);
            }
            let mut headers = vec![("Accept".to_string(), "text/html".to_string())];
            let cookies: Vec<String> = jar
                .iter()
                .filter(|(h, _, _)| Some(h.as_str()) == next.host_str())
                .map(|(_, n, v)| format!("{n}={v}"))
                .collect();
            if !cookies.is_empty() {
                headers.push(("Cookie".to_string(), cookies.join("; ")));
            }
            let exchange = run
                .client
                .send(
                    OutgoingRequest {
                        method: "GET".into(),
                        url: next.to_string(),
                        headers,
                        body: None,
                    },
                    &settings.cancel,
                )
                .await;
            exchange.learn_secrets(&settings.redactor);
            followed.push(exchange);
            continue;
        }
        let html = response
            .header("content-type")
            .is_some_and(|t| t.to_ascii_lowercase().starts_with("text/html"));
        if !(200..300).contains(&response.status) || !html {
            return (None, followed);
        }
        let summary = summary(&current.request.url, response);
        return (Some(summary), followed);
    }
    (None, followed)
}

/// The cookies a response sets, kept by host (a later cookie of the same name replaces the
/// earlier one) for the next request to that host.
fn keep_cookies(
    jar: &mut Vec<(String, String, String)>,
    url: &str,
    response: &crate::http::RecordedResponse,
) {
    let host = url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    for (name, value) in &response.headers {
        if !name.eq_ignore_ascii_case("set-cookie") {
            continue;
        }
        let pair = value.split(';').next().unwrap_or_default();
        if let Some((cookie, content)) = pair.split_once('=') {
            let cookie = cookie.trim().to_string();
            jar.retain(|(h, n, _)| !(h == &host && n == &cookie));
            jar.push((host.clone(), cookie, content.trim().to_string()));
        }
    }
}

/// The page's summary: where it is, its status and its framing headers.
fn summary(url: &str, response: &crate::http::RecordedResponse) -> Value {
    let all = |name: &str| -> Vec<&str> {
        response
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let csp = all("content-security-policy");
    let xfo = all("x-frame-options");
    json!({
        "url": url,
        "status": response.status,
        "content_security_policy": csp,
        "x_frame_options": xfo,
        "framing": Framing::of(&csp, &xfo).as_str(),
    })
}

/// Whether a URL is the app's redirect URI (same origin and path): the authorization ended
/// without a screen.
fn is_the_app(url: &url::Url, redirect_uri: &str) -> bool {
    url::Url::parse(redirect_uri)
        .is_ok_and(|r| r.origin() == url.origin() && r.path() == url.path())
}
