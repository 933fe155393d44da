//! Starting and stopping the reference server on a loopback port.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use tokio::sync::oneshot;

use super::discovery;
use super::faults::Faults;

/// What every handler reads.
#[derive(Clone)]
pub struct Shared(Arc<Inner>);

pub struct Inner {
    /// `http://127.0.0.1:PORT`
    pub origin: String,
    pub faults: Faults,
}

impl std::ops::Deref for Shared {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl Inner {
    pub fn fhir_base(&self) -> String {
        format!("{}/fhir", self.origin)
    }
}

fn router(shared: Shared) -> Router {
    Router::new()
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
        .with_state(shared)
}

/// A running reference server; it stops when dropped.
pub struct ReferenceServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ReferenceServer {
    /// Starts the server on `host:port` (port 0 picks a free one) on a thread of its own.
    pub fn start(host: &str, port: u16, faults: Faults) -> std::io::Result<ReferenceServer> {
        let listener = std::net::TcpListener::bind((host, port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Shared(Arc::new(Inner {
            origin: format!("http://{addr}"),
            faults,
        }));
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
                    let _ = axum::serve(listener, router(shared))
                        .with_graceful_shutdown(async {
                            let _ = stopped.await;
                        })
                        .await;
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
