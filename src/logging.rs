//! Diagnostics of the harness itself (`SMARTCHECK_LOG=debug`), on stderr, through the run's
//! redactor: the debug output of the HTTP and WebDriver crates carries typed passwords,
//! authorization codes and tokens, and is masked like every report.

use std::io::Write;
use std::sync::RwLock;

use crate::environment::Environment;
use crate::redact::Redactor;

/// The redactor of the run in progress; log lines written before a run starts go out as they
/// are (no secret is known then).
static RUN_REDACTOR: RwLock<Option<Redactor>> = RwLock::new(None);

/// Installs the tracing subscriber; `SMARTCHECK_LOG` takes an `EnvFilter` directive.
pub fn init(env: &Environment) {
    let filter = env
        .var("SMARTCHECK_LOG")
        .unwrap_or_else(|| "warn".to_string());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(RedactingWriter::default)
        .with_ansi(env.stderr_is_terminal)
        .try_init();
}

/// Masks log lines with `redactor` from now on.
pub fn redact_with(redactor: &Redactor) {
    *RUN_REDACTOR.write().unwrap_or_else(|e| e.into_inner()) = Some(redactor.clone());
}

/// Collects one event's text and writes it masked to stderr when dropped.
#[derive(Default)]
pub struct RedactingWriter {
    buffer: Vec<u8>,
}

impl RedactingWriter {
    fn masked(&self) -> String {
        let text = String::from_utf8_lossy(&self.buffer);
        match RUN_REDACTOR
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            Some(r) => {
                // A WebDriver answer can carry a code the run has not registered yet (the
                // browser's URL on the redirect): learn credential parameters first.
                r.learn_from_text(&text);
                r.redact(&text)
            }
            None => text.into_owned(),
        }
    }
}

impl Write for RedactingWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for RedactingWriter {
    fn drop(&mut self) {
        if !self.buffer.is_empty() {
            let _ = std::io::stderr().write_all(self.masked().as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn log_text_is_masked_with_the_run_redactor() {
        let redactor = Redactor::new();
        redactor.register(&Secret::new("typed-pass\"word"));
        redact_with(&redactor);
        let mut writer = RedactingWriter::default();
        write!(writer, "send_keys {{\"text\":\"typed-pass\\\"word\"}}").unwrap();
        assert_eq!(writer.masked(), "send_keys {\"text\":\"[redacted]\"}");
        writer.buffer.clear();
        // A code seen first in a log line (the browser's URL after the redirect) is masked
        // there and from then on.
        write!(
            writer,
            "< {{\"value\":\"http://127.0.0.1:9/callback?code=Zx81-code-never-registered&state=s\"}}"
        )
        .unwrap();
        let shown = writer.masked();
        assert!(!shown.contains("Zx81-code"), "{shown}");
        assert!(shown.contains("state=s"), "{shown}");
        assert_eq!(
            redactor.redact("x Zx81-code-never-registered"),
            "x [redacted]"
        );
        writer.buffer.clear();
    }
}
