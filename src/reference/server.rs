//! Starting and stopping the reference server on a loopback port.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::header;
use axum::routing::{get, post};
use axum::Router;
use jsonwebtoken::EncodingKey;
use tokio::sync::oneshot;

use super::data::Data;
use super::faults::Faults;
use super::store::Store;
use super::{
    app_state, authorize, brands, debug, discovery, fhir, introspection, registration, token,
};

/// The private key behind the id_token signatures (a published test key).
const SIGNING_KEY: &str = include_str!("../../fixtures/keys/reference-rs256.key.pem");

/// How a reference server is set up.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub faults: Faults,
    /// Serve the S4S development endpoints `/oauth/debug/token` and `/oauth/debug/introspect`.
    pub debug_endpoints: bool,
    /// Every user's password instead of the fixtures' `demo-password` (to test how awkward
    /// passwords are typed and masked).
    pub password: Option<String>,
    /// The origin apps reach the server at, when it is not its own address (behind a proxy
    /// that forwards every request as it is): every URL it publishes and every `iss` and
    /// `aud` it checks is of this origin.
    pub public_origin: Option<String>,
}

/// What every handler reads.
#[derive(Clone)]
pub struct Shared(Arc<Inner>);

pub struct Inner {
    /// `http://127.0.0.1:PORT`
    pub origin: String,
    pub faults: Faults,
    pub store: Store,
    pub data: Data,
    /// For fetching clients' `jwks_uri`.
    pub http: reqwest::Client,
    pub signing_key: EncodingKey,
}

impl std::ops::Deref for Shared {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl Inner {
    /// The OpenID issuer: the origin, with a trailing `/` under the conforming switch
    /// `issuer-trailing-slash` (an issuer is a URL; OpenID Connect Discovery §4 removes a
    /// terminating `/` before appending `/.well-known/openid-configuration`).
    pub fn issuer(&self) -> String {
        if self.faults.has("issuer-trailing-slash") {
            format!("{}/", self.origin)
        } else {
            self.origin.clone()
        }
    }

    pub fn fhir_base(&self) -> String {
        format!("{}/fhir", self.origin)
    }

    /// The FHIR base the EHR launches apps with: a tenant's own base under the
    /// `ehr-tenant-base` switch, else the one base.
    pub fn ehr_fhir_base(&self) -> String {
        if self.faults.has("ehr-tenant-base") {
            format!("{}/ehr/fhir", self.origin)
        } else {
            self.fhir_base()
        }
    }

    pub fn token_endpoint(&self) -> String {
        format!("{}/token", self.origin)
    }
}

async fn smart_style(
    axum::extract::State(shared): axum::extract::State<Shared>,
) -> impl axum::response::IntoResponse {
    let body = if shared.faults.has("style-url-not-a-style") {
        // JSON, but none of the SMART Style properties.
        r##"{"theme":"dark","accent":"#69b5ce"}"##
    } else {
        r##"{"color_background":"#edeae3","color_highlight":"#69b5ce","color_text":"#303030","dim_border_radius":"6px","font_family_body":"sans-serif"}"##
    };
    ([(header::CONTENT_TYPE, "application/json")], body)
}

fn router(shared: Shared, debug_endpoints: bool) -> Router {
    let mut router = Router::new()
        .route(
            "/fhir/.well-known/smart-configuration",
            get(discovery::smart_configuration),
        )
        .route("/fhir/metadata", get(discovery::metadata))
        .route(
            "/.well-known/openid-configuration",
            get(discovery::openid_configuration),
        )
        .route("/jwks.json", get(discovery::jwks))
        .route("/smart-style.json", get(smart_style))
        .route("/brands/bundle.json", get(brands::bundle))
        .route("/register", post(registration::register))
        .route(
            "/manage/{client_id}",
            get(registration::read)
                .put(registration::update)
                .delete(registration::delete),
        )
        .route(
            "/authorize",
            get(authorize::authorize_get).post(authorize::authorize_post),
        )
        .route("/authorize/login", post(authorize::login))
        .route("/authorize/patient", post(authorize::choose_patient))
        .route("/authorize/consent", post(authorize::consent))
        .route("/ehr/launch", get(authorize::ehr_launch))
        .route("/token", post(token::token))
        .route("/introspect", post(introspection::introspect))
        .route("/revoke", post(introspection::revoke))
        .route(
            "/fhir/Basic",
            get(app_state::search).post(app_state::create),
        )
        .route(
            "/fhir/Basic/{id}",
            axum::routing::put(app_state::update).delete(app_state::delete),
        )
        .route("/fhir/{resource_type}", get(fhir::search))
        .route("/fhir/{resource_type}/{id}", get(fhir::read))
        // A second FHIR base over the same data and authorization server: tokens issued for
        // `/fhir` are not for it (an access token is bound to its `aud`).
        .route("/second/fhir/{resource_type}", get(fhir::search))
        .route("/second/fhir/{resource_type}/{id}", get(fhir::read));
    if shared.faults.has("ehr-tenant-base") {
        // The EHR's tenant base: its own discovery documents over the same data.
        router = router
            .route(
                "/ehr/fhir/.well-known/smart-configuration",
                get(discovery::smart_configuration_ehr_tenant),
            )
            .route("/ehr/fhir/metadata", get(discovery::metadata))
            .route("/ehr/fhir/{resource_type}", get(fhir::search))
            .route("/ehr/fhir/{resource_type}/{id}", get(fhir::read));
    }
    if debug_endpoints {
        router = router
            .route("/oauth/debug/token", post(debug::token))
            .route("/oauth/debug/introspect", get(debug::introspect));
    }
    router
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            super::refusals::refuse_everything,
        ))
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            super::cors::cors,
        ))
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            framing,
        ))
        .with_state(shared)
}

/// How the pages say who may frame them, under the switches that change it: the
/// `sign-in-page-framable` fault drops `frame-ancestors` (any site may frame the sign-in and
/// consent screens); the `sign-in-x-frame-options` switch says it with `X-Frame-Options:
/// SAMEORIGIN` instead.
async fn framing(
    axum::extract::State(shared): axum::extract::State<Shared>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let mut response = next.run(request).await;
    let framable = shared.faults.has("sign-in-page-framable");
    let legacy = shared.faults.has("sign-in-x-frame-options");
    if !framable && !legacy {
        return response;
    }
    let headers = response.headers_mut();
    if let Some(csp) = headers
        .get(axum::http::header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
    {
        let kept: Vec<&str> = csp
            .split(';')
            .map(str::trim)
            .filter(|d| !d.starts_with("frame-ancestors"))
            .collect();
        if let Ok(value) = axum::http::HeaderValue::from_str(&kept.join("; ")) {
            headers.insert(axum::http::header::CONTENT_SECURITY_POLICY, value);
        }
        if legacy {
            headers.insert(
                axum::http::header::X_FRAME_OPTIONS,
                axum::http::HeaderValue::from_static("SAMEORIGIN"),
            );
        }
    }
    response
}

/// A running reference server; it stops when dropped.
pub struct ReferenceServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ReferenceServer {
    /// Starts the server on `host:port` (port 0 picks a free one) on a thread of its own.
    pub fn start(host: &str, port: u16, config: Config) -> std::io::Result<ReferenceServer> {
        Self::start_with_latency(host, port, config, std::time::Duration::ZERO)
    }

    /// [`ReferenceServer::start`], each answer held back `latency` first: a server at a
    /// realistic distance from the harness (for benchmarks; loopback answers in microseconds).
    pub fn start_with_latency(
        host: &str,
        port: u16,
        config: Config,
        latency: std::time::Duration,
    ) -> std::io::Result<ReferenceServer> {
        let signing_key = EncodingKey::from_rsa_pem(SIGNING_KEY.as_bytes())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(std::io::Error::other)?;
        let listener = std::net::TcpListener::bind((host, port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Shared(Arc::new(Inner {
            origin: config
                .public_origin
                .clone()
                .unwrap_or_else(|| format!("http://{addr}")),
            faults: config.faults,
            store: Store::default(),
            data: {
                let mut data = Data::fixtures();
                if let Some(password) = &config.password {
                    for user in &mut data.users {
                        user.password = password.clone();
                    }
                }
                data
            },
            http,
            signing_key,
        }));
        let debug_endpoints = config.debug_endpoints;
        let (stop, stopped) = oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("reference-server".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    let closes = shared.faults.has("closes-connections");
                    let mut app = router(shared, debug_endpoints);
                    if !latency.is_zero() {
                        app = app.layer(axum::middleware::from_fn(
                            move |request: axum::extract::Request, next: axum::middleware::Next| async move {
                                tokio::time::sleep(latency).await;
                                next.run(request).await
                            },
                        ));
                    }
                    let stopped = async {
                        let _ = stopped.await;
                    };
                    if closes {
                        let listener = super::connections::OneResponseListener(listener);
                        let _ = axum::serve(listener, app)
                            .with_graceful_shutdown(stopped)
                            .await;
                    } else {
                        let _ = axum::serve(listener, app)
                            .with_graceful_shutdown(stopped)
                            .await;
                    }
                });
            })?;
        Ok(ReferenceServer {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT/fhir`
    pub fn fhir_base(&self) -> String {
        format!("http://{}/fhir", self.addr)
    }

    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for ReferenceServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
