//! The one HTTP client of a target: timeouts, a body size cap, redirects recorded rather than
//! followed, and every exchange kept.
//!
//! Connections: servers close idle keep-alive connections without saying so, and a request
//! sent on such a connection dies with "connection closed" or "reset" before any answer. So
//! that verdicts do not depend on that race, a request that may change state (POST, PATCH) always
//! goes on a new connection, and an idempotent one (RFC 9110 §9.2.2: GET, HEAD, OPTIONS, PUT,
//! DELETE) reuses pooled connections and is sent once more, on a new connection, when the
//! pooled one closed before any byte of an answer came back. The exchange records that retry.

use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::exchange::{Exchange, RecordedRequest, RecordedResponse};
use crate::suite::Target;

/// Why a client could not be made for a target.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot read the CA file `{path}`: {source}")]
    CaFile {
        path: String,
        source: std::io::Error,
    },
    #[error("the CA file `{path}` holds no usable PEM certificate: {source}")]
    CaPem {
        path: String,
        source: reqwest::Error,
    },
    #[error("cannot build the HTTP client: {0}")]
    Build(#[source] reqwest::Error),
}

/// A request ready to send (templates already rendered).
#[derive(Debug, Clone)]
pub struct OutgoingRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

/// The HTTP clients of a run, one pair per set of connection settings (connect and request
/// timeouts, TLS verification, CA file): a fleet of a thousand targets of one kind holds one
/// TLS configuration and one connection pool, not a thousand. Requests carry their target's
/// own headers; a pooled connection carries nothing from one request to the next.
#[derive(Default)]
pub struct Connections(
    std::collections::HashMap<ConnectionSettings, (reqwest::Client, reqwest::Client)>,
);

/// Connect timeout, request timeout, `tls.insecure`, and the CA file's path and contents.
type ConnectionSettings = (
    std::time::Duration,
    std::time::Duration,
    bool,
    Option<(String, Vec<u8>)>,
);

/// Sends requests for one target and records each exchange.
#[derive(Clone)]
pub struct HttpClient {
    /// Keeps idle connections: for idempotent requests.
    client: reqwest::Client,
    /// Never reuses a connection: for requests that may change state, and for retries.
    fresh: reqwest::Client,
    max_response_bytes: u64,
    request_timeout: std::time::Duration,
    /// The target's own headers, sent with every request to an origin allowed credentials.
    default_headers: Vec<(String, String)>,
    /// Which origins may receive the target's credentials.
    guard: std::sync::Arc<super::CredentialGuard>,
}

impl HttpClient {
    pub fn for_target(target: &Target) -> Result<HttpClient, ClientError> {
        Self::for_target_in(target, &mut Connections::default())
    }

    /// The client of `target`, sharing the connection pools and TLS configuration of the
    /// run's other targets with the same connection settings.
    pub fn for_target_in(
        target: &Target,
        connections: &mut Connections,
    ) -> Result<HttpClient, ClientError> {
        let ca = match &target.tls.ca_file {
            Some(path) => Some((
                path.clone(),
                std::fs::read(path).map_err(|source| ClientError::CaFile {
                    path: path.clone(),
                    source,
                })?,
            )),
            None => None,
        };
        let key = (
            target.timeouts.connect,
            target.timeouts.request,
            target.tls.insecure,
            ca,
        );
        let (client, fresh) = match connections.0.get(&key) {
            Some(pair) => pair.clone(),
            None => {
                let pair = (
                    Self::builder(target, key.3.as_ref())?
                        .build()
                        .map_err(ClientError::Build)?,
                    Self::builder(target, key.3.as_ref())?
                        .pool_max_idle_per_host(0)
                        .build()
                        .map_err(ClientError::Build)?,
                );
                connections.0.insert(key, pair.clone());
                pair
            }
        };
        Ok(HttpClient {
            client,
            fresh,
            max_response_bytes: target.max_response_bytes,
            request_timeout: target.timeouts.request,
            default_headers: target
                .headers
                .iter()
                .map(|(n, v)| (n.clone(), v.expose_secret().to_string()))
                .collect(),
            guard: std::sync::Arc::new(target.credential_guard()),
        })
    }

    /// A client builder for `target`, trusting the CA file's certificates (`ca`: its path
    /// and contents).
    fn builder(
        target: &Target,
        ca: Option<&(String, Vec<u8>)>,
    ) -> Result<reqwest::ClientBuilder, ClientError> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(target.timeouts.connect)
            .timeout(target.timeouts.request)
            .user_agent(concat!("smartcheck/", env!("CARGO_PKG_VERSION")))
            .danger_accept_invalid_certs(target.tls.insecure);
        if let Some((path, pem)) = ca {
            let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|source| {
                ClientError::CaPem {
                    path: path.clone(),
                    source,
                }
            })?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        Ok(builder)
    }

    /// Sends a request and records the exchange. Never fails: a transport problem is
    /// recorded as the exchange's `error`.
    pub async fn send(&self, request: OutgoingRequest, cancel: &CancellationToken) -> Exchange {
        let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let start = Instant::now();
        let allowed = reqwest::Url::parse(&request.url)
            .map(|u| self.guard.allows(&u))
            .unwrap_or(true);
        let mut headers = if allowed {
            self.default_headers.clone()
        } else {
            Vec::new()
        };
        let withheld = (!allowed && !self.default_headers.is_empty()).then(|| {
            let names: Vec<&str> = self.default_headers.iter().map(|(n, _)| n.as_str()).collect();
            format!(
                "the target's headers ({}) were not sent: this origin is not among those allowed the target's credentials ({}); list it under `credential-origins` in the target if it should get them",
                names.join(", "),
                self.guard.describe()
            )
        });
        for (name, value) in &request.headers {
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            headers.push((name.clone(), value.clone()));
        }
        let recorded = RecordedRequest {
            method: request.method.clone(),
            url: request.url.clone(),
            headers: headers.clone(),
            body: request.body.clone(),
        };
        if !allowed {
            let carried = self
                .guard
                .carried(&request.url, &headers, request.body.as_deref());
            if !carried.is_empty() {
                return Exchange {
                    request: recorded,
                    response: None,
                    error: Some(format!(
                        "not sent: the request carries {} and its origin is not among those allowed the target's credentials ({}); list it under `credential-origins` in the target if it should get them",
                        carried.join(" and "),
                        self.guard.describe()
                    )),
                    started_at,
                    duration_ms: 0,
                    retried_after: None,
                    withheld,
                };
            }
        }
        if let Some(why) = forbidden_header_value(&headers) {
            return Exchange {
                request: recorded,
                response: None,
                error: Some(why),
                started_at,
                duration_ms: 0,
                retried_after: None,
                withheld,
            };
        }
        let (outcome, retried_after) = self.perform_once_or_twice(&request, &headers, cancel).await;
        let duration_ms = start.elapsed().as_millis() as u64;
        let (response, error) = match outcome {
            Ok(response) => (Some(response), None),
            Err(failure) => (None, Some(failure.text)),
        };
        Exchange {
            request: recorded,
            response,
            error,
            started_at,
            duration_ms,
            retried_after,
            withheld,
        }
    }

    /// Sends the request; an idempotent request whose connection closed unanswered (a
    /// pooled connection the server had dropped) is sent once more on a fresh one, and the
    /// reason is returned with the outcome.
    async fn perform_once_or_twice(
        &self,
        request: &OutgoingRequest,
        headers: &[(String, String)],
        cancel: &CancellationToken,
    ) -> (Result<RecordedResponse, Failure>, Option<String>) {
        let idempotent = matches!(
            request.method.to_ascii_uppercase().as_str(),
            "GET" | "HEAD" | "OPTIONS" | "PUT" | "DELETE" | "TRACE"
        );
        let first = if idempotent {
            &self.client
        } else {
            &self.fresh
        };
        let interrupted = || Failure {
            text: format!("{} before the server answered", crate::interrupt::reason()),
            closed_unanswered: false,
        };
        let outcome = tokio::select! {
            outcome = self.perform(first, request, headers) => outcome,
            _ = cancel.cancelled() => Err(interrupted()),
        };
        match &outcome {
            Err(failure) if idempotent && failure.closed_unanswered => {
                let retried_after = Some(failure.text.clone());
                let again = tokio::select! {
                    outcome = self.perform(&self.fresh, request, headers) => outcome,
                    _ = cancel.cancelled() => Err(interrupted()),
                };
                (again, retried_after)
            }
            _ => (outcome, None),
        }
    }

    async fn perform(
        &self,
        client: &reqwest::Client,
        request: &OutgoingRequest,
        headers: &[(String, String)],
    ) -> Result<RecordedResponse, Failure> {
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| Failure::plain(format!("`{}` is not an HTTP method", request.method)))?;
        let url = reqwest::Url::parse(&request.url)
            .map_err(|e| Failure::plain(format!("`{}` is not a URL: {e}", request.url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Failure::plain(format!(
                "`{}` is not an http(s) URL",
                request.url
            )));
        }
        let mut builder = client.request(method, url);
        for (name, value) in headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        let mut response = builder.send().await.map_err(|e| Failure {
            text: self.describe(&e),
            closed_unanswered: closed_before_answer(&e),
        })?;
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| Failure::plain(self.describe(&e)))?
        {
            if (body.len() + chunk.len()) as u64 > self.max_response_bytes {
                return Err(Failure::plain(format!(
                    "the response body is larger than the limit of {} bytes (target `max-response-bytes`)",
                    self.max_response_bytes
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(RecordedResponse {
            status,
            headers,
            body_bytes: body.len(),
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }

    fn describe(&self, error: &reqwest::Error) -> String {
        let mut chain = Vec::new();
        let mut source = std::error::Error::source(error);
        while let Some(s) = source {
            let text = s.to_string();
            if !chain.contains(&text) {
                chain.push(text);
            }
            source = s.source();
        }
        let detail = if chain.is_empty() {
            String::new()
        } else {
            format!(": {}", chain.join(": "))
        };
        let lower_chain = chain.join(": ").to_ascii_lowercase();
        if let Some(cause) = tls_cause(&lower_chain) {
            return format!("{cause}{detail}");
        }
        if error.is_timeout() {
            format!(
                "no complete answer within {:?} (target `timeouts`){detail}",
                self.request_timeout
            )
        } else if error.is_connect() {
            format!("cannot connect{detail}")
        } else if lower_chain.contains("message head is too large") {
            format!(
                "the answer's head (status line and header fields) is larger than smartcheck reads: more than 100 header fields, or some 400 KB of them{detail}"
            )
        } else if lower_chain.contains("reset by peer") {
            format!("the server reset the connection before answering{detail}")
        } else if lower_chain.contains("connection closed before message completed") {
            format!("the server closed the connection without answering{detail}")
        } else if error.is_body() || error.is_decode() {
            format!("the response body could not be read{detail}")
        } else {
            format!("the request failed{detail}")
        }
    }
}

/// Why a request cannot be sent as its headers stand: RFC 9110 §5.5 allows no control
/// character but horizontal tab in a field value (a token a server issued with a line feed in
/// it, say). Said as such, not as the HTTP library's "failed to parse header value".
fn forbidden_header_value(headers: &[(String, String)]) -> Option<String> {
    headers.iter().find_map(|(name, value)| {
        let c = value
            .chars()
            .find(|c| (c.is_ascii_control() && *c != '\t') || *c == '\u{7f}')?;
        Some(format!(
            "not sent: the value of header `{name}` holds the control character U+{:04X}, which HTTP does not allow in a header (RFC 9110 §5.5); it came from the server (a token it issued) or from the target",
            c as u32
        ))
    })
}

/// What a TLS failure means for the person running the check, from the error chain's text
/// (rustls and hyper name the failures, not their usual causes).
fn tls_cause(chain: &str) -> Option<String> {
    let lower = chain.to_ascii_lowercase();
    let cause = if lower.contains("invalidcontenttype") || lower.contains("corrupt message") {
        "no TLS answer on this port: the URL says https, but the server speaks something else there (plain http?)"
    } else if lower.contains("causedasendentity") || lower.contains("ca used as end entity") {
        "the server's TLS certificate is itself a CA certificate (basicConstraints CA:TRUE: a self-signed certificate made as a CA), which smartcheck's TLS library (rustls) refuses as a server's own, as many clients do; give the server a certificate issued by that CA and keep the CA as the target's `tls.ca-file`"
    } else if lower.contains("unknownissuer") || lower.contains("unknown issuer") {
        "the server's TLS certificate is not signed by an authority this machine trusts (self-signed, or a private CA): give that CA as the target's `tls.ca-file`"
    } else if lower.contains("certificate") && lower.contains("expired") {
        "the server's TLS certificate has expired"
    } else if lower.contains("notvalidforname") || lower.contains("not valid for name") {
        "the server's TLS certificate is not valid for this host name"
    } else if lower.contains("notvalidyet") || lower.contains("not valid yet") {
        "the server's TLS certificate is not valid yet"
    } else if lower.contains("invalid http version") || lower.contains("invalid http response") {
        "the answer is not HTTP: the server on this port speaks another protocol (if it is TLS, the URL should be https)"
    } else {
        return None;
    };
    Some(cause.to_string())
}

/// Why a request got no response.
struct Failure {
    text: String,
    /// The connection closed (or was reset) before any byte of an answer: the request may be
    /// sent again if it is idempotent.
    closed_unanswered: bool,
}

impl Failure {
    fn plain(text: String) -> Failure {
        Failure {
            text,
            closed_unanswered: false,
        }
    }
}

/// Whether the connection was closed under the request before an answer began: hyper's
/// "connection closed before message completed", or a reset, abort or broken pipe. A timeout
/// or a refused connection is not that (the server is slow or absent, and saying so is the
/// verdict).
fn closed_before_answer(error: &reqwest::Error) -> bool {
    if error.is_timeout() || error.is_connect() || error.is_body() || error.is_decode() {
        return false;
    }
    let mut source = std::error::Error::source(error);
    while let Some(s) = source {
        if let Some(h) = s.downcast_ref::<hyper::Error>() {
            if h.is_incomplete_message() || h.is_canceled() {
                return true;
            }
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            if matches!(
                io.kind(),
                ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof
            ) {
                return true;
            }
        }
        source = s.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::tls_cause;

    #[test]
    fn tls_failures_are_named_by_their_cause() {
        let plain = "client error (Connect): received corrupt message of type InvalidContentType";
        assert!(tls_cause(plain).unwrap().contains("plain http?"));
        let self_signed = "client error (Connect): invalid peer certificate: UnknownIssuer";
        assert!(tls_cause(self_signed).unwrap().contains("`tls.ca-file`"));
        let expired = "invalid peer certificate: certificate expired: verification time 1, but certificate is not valid after 0";
        assert!(tls_cause(expired).unwrap().contains("has expired"));
        assert_eq!(tls_cause("connection refused"), None);
        // Only a certificate expires here.
        assert_eq!(tls_cause("the session expired"), None);
    }
}
