//! What every case of a run shares: its target with the connections made for it, and the
//! run's settings. The case runner and the built-in steps both read these; they live apart
//! from both so that neither has to import the other for them.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::browser::BrowserPool;
use crate::http::HttpClient;
use crate::redact::Redactor;
use crate::suite::Target;

/// Everything a case needs from its target.
pub struct TargetRun {
    pub target: Target,
    pub client: HttpClient,
    /// Taken by a case while it listens on the target's fixed redirect URI port.
    pub listener_lock: Arc<tokio::sync::Mutex<()>>,
    /// What a TLS handshake found before the cases ran (https targets).
    pub tls: std::sync::OnceLock<crate::http::tls::TlsFacts>,
}

impl TargetRun {
    pub fn new(target: Target, client: HttpClient) -> Self {
        TargetRun {
            target,
            client,
            listener_lock: Arc::default(),
            tls: std::sync::OnceLock::new(),
        }
    }
}

/// Settings shared by every case of a run.
#[derive(Clone)]
pub struct RunSettings {
    pub strict: bool,
    pub redactor: Redactor,
    pub cancel: CancellationToken,
    /// Where browser sessions come from.
    pub browser: Arc<BrowserPool>,
    /// Where screenshots and page sources are saved.
    pub artifacts_dir: std::path::PathBuf,
    /// How many times a case whose step errored (or met a 5xx) is run again (`--retries`).
    pub retries: u32,
    /// The cases running now and their steps, for the live progress lines.
    pub board: Arc<super::live::Board>,
}
