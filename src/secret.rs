//! Secret values as types: they never print, never serialize, and are read only on purpose.

use std::fmt;

/// A value that must never reach a console, a log or a report in clear text: a client
/// secret, a password, a token, an authorization code, a PKCE verifier, a private key.
///
/// `Debug` prints `[redacted]`; there is no `Display` and no `Serialize`. The clear value is
/// available only through [`Secret::expose_secret`], so every use is visible in review.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The clear value. Call it only where the value goes on the wire or into the redactor.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let secret = Secret::new("hunter2-very-secret");
        let shown = format!("{secret:?} {:?}", vec![secret.clone()]);
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(secret.expose_secret(), "hunter2-very-secret");
    }
}
