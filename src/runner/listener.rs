//! The case's loopback listener: the app's redirect URI and launch URL. It records what the
//! browser brings (code, state, error, iss; or iss and launch) and answers with a small page.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{OriginalUri, State};
use axum::response::{Html, IntoResponse, Response};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::smart::callback::Callback;

/// The path of the registered redirect URI when the target does not fix one.
pub const CALLBACK_PATH: &str = "/callback";
/// A redirect URI that is never registered.
pub const UNREGISTERED_PATH: &str = "/unregistered-callback";
/// The second redirect URI a client registers with `second-redirect-uri`.
pub const SECOND_PATH: &str = "/second-callback";
/// The app's launch URL for EHR launches.
pub const LAUNCH_PATH: &str = "/launch";
const PAGE_PREFIX: &str = "/smartcheck-page/";
/// Where the case's client JWK Set is served, for clients registered with a `jwks_uri`.
pub const JWKS_PATH: &str = "/smartcheck-jwks.json";

/// The client JWK Set the listener serves, and how often it was fetched.
#[derive(Default, Clone)]
struct ServedJwks {
    body: String,
    cache_control: String,
    fetches: usize,
    fetches_since_change: usize,
}

#[derive(Default)]
struct Inner {
    hits: Mutex<Vec<Callback>>,
    pages: Mutex<HashMap<String, String>>,
    jwks: Mutex<Option<ServedJwks>>,
    notify: Notify,
}

/// How often the served JWK Set was fetched: in all, and since its content last changed.
#[derive(Debug, Clone, Copy, Default)]
pub struct JwksFetches {
    pub total: usize,
    pub since_change: usize,
}

/// A listener bound on loopback until [`Listener::shutdown`].
pub struct Listener {
    addr: SocketAddr,
    callback_path: String,
    inner: Arc<Inner>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Listener {
    /// Binds `addr` (port 0 for a free port); the redirect URI gets `callback_path`.
    pub async fn bind(addr: SocketAddr, callback_path: &str) -> std::io::Result<Self> {
        let socket = tokio::net::TcpListener::bind(addr).await?;
        let addr = socket.local_addr()?;
        let inner = Arc::new(Inner::default());
        let app = axum::Router::new().fallback(hit).with_state(inner.clone());
        let stop = CancellationToken::new();
        let token = stop.clone();
        let task = tokio::spawn(async move {
            let _ = axum::serve(socket, app)
                .with_graceful_shutdown(async move { token.cancelled().await })
                .await;
        });
        Ok(Listener {
            addr,
            callback_path: callback_path.to_string(),
            inner,
            stop,
            task,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The listener's URL for a path.
    pub fn url_of(&self, path: &str) -> String {
        self.url(path)
    }

    pub fn redirect_uri(&self) -> String {
        self.url(&self.callback_path)
    }

    pub fn unregistered_uri(&self) -> String {
        self.url(UNREGISTERED_PATH)
    }

    pub fn second_uri(&self) -> String {
        self.url(SECOND_PATH)
    }

    pub fn launch_uri(&self) -> String {
        self.url(LAUNCH_PATH)
    }

    /// Serves a page once-named by `id` and returns its URL (e.g. an auto-submitting form).
    pub fn serve_page(&self, id: &str, html: String) -> String {
        self.inner
            .pages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string(), html);
        self.url(&format!("{PAGE_PREFIX}{id}"))
    }

    /// Serves a client JWK Set at [`JWKS_PATH`] with this `Cache-Control`, and returns its URL.
    /// Serving other content starts a new count of fetches since the change.
    pub fn serve_jwks(&self, body: String, cache_control: &str) -> String {
        let mut jwks = self.inner.jwks.lock().unwrap_or_else(|e| e.into_inner());
        let served = jwks.get_or_insert_with(ServedJwks::default);
        if served.body != body || served.cache_control != cache_control {
            served.fetches_since_change = 0;
        }
        served.body = body;
        served.cache_control = cache_control.to_string();
        self.url(JWKS_PATH)
    }

    /// Whether a JWK Set is served, and how often it was fetched.
    pub fn jwks_fetches(&self) -> Option<JwksFetches> {
        let jwks = self.inner.jwks.lock().unwrap_or_else(|e| e.into_inner());
        jwks.as_ref().map(|j| JwksFetches {
            total: j.fetches,
            since_change: j.fetches_since_change,
        })
    }

    /// The first request on `path` that [`Listener::take`] has not handed out yet.
    pub fn take(&self, path: &str) -> Option<Callback> {
        let mut hits = self.inner.hits.lock().unwrap_or_else(|e| e.into_inner());
        let i = hits.iter().position(|h| h.path == path)?;
        Some(hits.remove(i))
    }

    /// Sends a GET to this listener's `url` (a redirect the harness follows itself, as a
    /// browser would); whether the listener answered.
    pub async fn deliver(&self, url: &str) -> bool {
        let Ok(client) = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(5))
            .build()
        else {
            return false;
        };
        client.get(url).send().await.is_ok()
    }

    /// Whether a request reached `path` (without taking it).
    pub fn has(&self, path: &str) -> bool {
        self.inner
            .hits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|h| h.path == path)
    }

    /// The path of the redirect URI.
    pub fn callback_path(&self) -> &str {
        &self.callback_path
    }

    /// Waits until a request reaches one of `paths`, or the time is up, or the run is cancelled.
    pub async fn wait(
        &self,
        paths: &[&str],
        timeout: Duration,
        cancel: &CancellationToken,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.notify.notified();
            if paths.iter().any(|p| self.has(p)) {
                return true;
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(deadline) => return paths.iter().any(|p| self.has(p)),
                _ = cancel.cancelled() => return false,
            }
        }
    }

    /// Stops listening and waits for the server task.
    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(2), self.task).await;
    }
}

async fn hit(
    State(inner): State<Arc<Inner>>,
    method: axum::http::Method,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let path = uri.path().to_string();
    if let Some(id) = path.strip_prefix(PAGE_PREFIX) {
        let page = inner
            .pages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned();
        return match page {
            Some(html) => Html(html).into_response(),
            None => (axum::http::StatusCode::NOT_FOUND, "no such page").into_response(),
        };
    }
    if path == JWKS_PATH {
        let mut jwks = inner.jwks.lock().unwrap_or_else(|e| e.into_inner());
        return match jwks.as_mut() {
            Some(served) => {
                served.fetches += 1;
                served.fetches_since_change += 1;
                (
                    [
                        (
                            axum::http::header::CONTENT_TYPE,
                            "application/json".to_string(),
                        ),
                        (
                            axum::http::header::CACHE_CONTROL,
                            served.cache_control.clone(),
                        ),
                    ],
                    served.body.clone(),
                )
                    .into_response()
            }
            None => (axum::http::StatusCode::NOT_FOUND, "no JWK Set").into_response(),
        };
    }
    if path == "/favicon.ico" {
        return axum::http::StatusCode::NOT_FOUND.into_response();
    }
    // A POST's body (a form the browser re-sent after a 307) is never read: it may hold the
    // person's password.
    let mut callback = Callback::parse(&path, uri.query());
    callback.method = method.to_string();
    inner
        .hits
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(callback);
    inner.notify.notify_waiters();
    Html(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>smartcheck</title></head>\
         <body><h1 id=\"smartcheck-received\">smartcheck received the redirect</h1>\
         <p>You may close this window.</p></body></html>",
    )
    .into_response()
}

/// An HTML page whose form posts `fields` to `action` as soon as it loads (the app side of
/// SMART `authorize-post`).
pub fn auto_post_page(action: &str, fields: &[(&str, String)]) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('"', "&quot;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut inputs = String::new();
    for (k, v) in fields {
        inputs.push_str(&format!(
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            esc(k),
            esc(v)
        ));
    }
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>smartcheck authorize-post</title></head>\
         <body onload=\"document.forms[0].submit()\"><form method=\"post\" action=\"{}\">{inputs}\
         <button type=\"submit\" id=\"smartcheck-submit\">Continue</button></form></body></html>",
        esc(action)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_redirect_is_recorded_and_answered() {
        let l = Listener::bind("127.0.0.1:0".parse().unwrap(), CALLBACK_PATH)
            .await
            .unwrap();
        let url = format!("{}?code=c&state=s%20t", l.redirect_uri());
        let cancel = CancellationToken::new();
        let waiter = l.wait(&[CALLBACK_PATH], Duration::from_secs(5), &cancel);
        let (got, resp) = tokio::join!(waiter, reqwest::get(&url));
        assert!(got);
        assert!(resp
            .unwrap()
            .text()
            .await
            .unwrap()
            .contains("smartcheck-received"));
        let cb = l.take(CALLBACK_PATH).unwrap();
        assert_eq!(cb.get("state"), Some("s t"));
        assert!(l.take(CALLBACK_PATH).is_none());
        assert!(
            !l.wait(&[UNREGISTERED_PATH], Duration::from_millis(50), &cancel)
                .await
        );
        l.shutdown().await;
    }
}
