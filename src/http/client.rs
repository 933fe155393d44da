//! The one HTTP client of a target: timeouts, a body size cap, redirects recorded rather than
//! followed, and every exchange kept.

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

/// Sends requests for one target and records each exchange.
#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    max_response_bytes: u64,
    request_timeout: std::time::Duration,
    /// The target's own headers, sent with every request.
    default_headers: Vec<(String, String)>,
}

impl HttpClient {
    pub fn for_target(target: &Target) -> Result<HttpClient, ClientError> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(target.timeouts.connect)
            .timeout(target.timeouts.request)
            .user_agent(concat!("smartcheck/", env!("CARGO_PKG_VERSION")))
            .danger_accept_invalid_certs(target.tls.insecure);
        if let Some(path) = &target.tls.ca_file {
            let pem = std::fs::read(path).map_err(|source| ClientError::CaFile {
                path: path.clone(),
                source,
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|source| {
                ClientError::CaPem {
                    path: path.clone(),
                    source,
                }
            })?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        Ok(HttpClient {
            client: builder.build().map_err(ClientError::Build)?,
            max_response_bytes: target.max_response_bytes,
            request_timeout: target.timeouts.request,
            default_headers: target
                .headers
                .iter()
                .map(|(n, v)| (n.clone(), v.expose_secret().to_string()))
                .collect(),
        })
    }

    /// Sends a request and records the exchange. Never fails: a transport problem is
    /// recorded as the exchange's `error`.
    pub async fn send(&self, request: OutgoingRequest, cancel: &CancellationToken) -> Exchange {
        let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let start = Instant::now();
        let mut headers = self.default_headers.clone();
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
        let outcome = tokio::select! {
            outcome = self.perform(&request, &headers) => outcome,
            _ = cancel.cancelled() => Err("interrupted (Ctrl-C) before the server answered".to_string()),
        };
        let duration_ms = start.elapsed().as_millis() as u64;
        match outcome {
            Ok(response) => Exchange {
                request: recorded,
                response: Some(response),
                error: None,
                started_at,
                duration_ms,
            },
            Err(error) => Exchange {
                request: recorded,
                response: None,
                error: Some(error),
                started_at,
                duration_ms,
            },
        }
    }

    async fn perform(
        &self,
        request: &OutgoingRequest,
        headers: &[(String, String)],
    ) -> Result<RecordedResponse, String> {
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| format!("`{}` is not an HTTP method", request.method))?;
        let url = reqwest::Url::parse(&request.url)
            .map_err(|e| format!("`{}` is not a URL: {e}", request.url))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("`{}` is not an http(s) URL", request.url));
        }
        let mut builder = self.client.request(method, url);
        for (name, value) in headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        let mut response = builder.send().await.map_err(|e| self.describe(&e))?;
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
        while let Some(chunk) = response.chunk().await.map_err(|e| self.describe(&e))? {
            if (body.len() + chunk.len()) as u64 > self.max_response_bytes {
                return Err(format!(
                    "the response body is larger than the limit of {} bytes (target `max-response-bytes`)",
                    self.max_response_bytes
                ));
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
        if error.is_timeout() {
            format!(
                "no complete answer within {:?} (target `timeouts`){detail}",
                self.request_timeout
            )
        } else if error.is_connect() {
            format!("cannot connect{detail}")
        } else if error.is_body() || error.is_decode() {
            format!("the response body could not be read{detail}")
        } else {
            format!("the request failed{detail}")
        }
    }
}
