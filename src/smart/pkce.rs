//! PKCE (RFC 7636): a fresh high-entropy verifier and its S256 challenge.

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::secret::Secret;

/// 32 random bytes, base64url without padding: 43 characters, the RFC 7636 §4.1 minimum
/// length, from the unreserved set.
pub fn random_urlsafe(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::Rng::fill(&mut rand::rng(), buf.as_mut_slice());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// A fresh `code_verifier` (RFC 7636 §4.1).
pub fn new_verifier() -> Secret {
    Secret::new(random_urlsafe(32))
}

/// `code_challenge = BASE64URL(SHA256(ASCII(code_verifier)))` (RFC 7636 §4.2).
pub fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_rfc_7636_appendix_b() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn verifiers_are_fresh_and_in_the_rfc_alphabet() {
        let a = new_verifier();
        let b = new_verifier();
        assert_ne!(a, b);
        let v = a.expose_secret();
        assert!((43..=128).contains(&v.len()), "{v}");
        assert!(v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c)));
    }
}
