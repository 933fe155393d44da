//! Diagnostics of the harness itself (`SMARTCHECK_LOG=debug`), on stderr.

use crate::app::Environment;

/// Installs the tracing subscriber; `SMARTCHECK_LOG` takes an `EnvFilter` directive.
pub fn init(env: &Environment) {
    let filter = env
        .var("SMARTCHECK_LOG")
        .unwrap_or_else(|| "warn".to_string());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(env.stderr_is_terminal)
        .try_init();
}
