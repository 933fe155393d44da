//! A private key parsed once, that signs JWTs. jsonwebtoken parses and checks its key again for
//! every signature: for P-384 that check is a scalar multiplication as dear as the signature
//! itself, and an RSA key's costs about as much again too. A client signs some thirty
//! assertions a case, a fleet a thousand clients' worth, so the harness holds key pairs of its
//! own, in aws-lc-rs: its P-384 and RSA arithmetic has the assembly ring's lacks (a P-384
//! signature in half the time or less, an RSA-2048 one in about half).

use std::sync::{Arc, OnceLock};

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

use crate::secret::Secret;

/// A signing key for one JWT algorithm.
#[derive(Clone)]
pub struct Signer(Arc<Kind>);

enum Kind {
    Rs384(aws_lc_rs::signature::RsaKeyPair),
    Es384(aws_lc_rs::signature::EcdsaKeyPair),
    /// Another algorithm, or a key form aws-lc-rs does not read (jsonwebtoken signs).
    Other(EncodingKey, Algorithm),
}

fn rng() -> &'static aws_lc_rs::rand::SystemRandom {
    static RNG: OnceLock<aws_lc_rs::rand::SystemRandom> = OnceLock::new();
    RNG.get_or_init(aws_lc_rs::rand::SystemRandom::new)
}

impl Signer {
    /// Reads a PEM private key (PKCS#8; PKCS#1 for RSA too) for RS384 or ES384.
    pub fn from_pem(pem: &[u8], alg: Algorithm) -> Result<Signer, String> {
        let parsed = pem::parse(pem).ok().and_then(|block| {
            let der = block.contents();
            match (alg, block.tag()) {
                (Algorithm::RS384, "PRIVATE KEY") => {
                    aws_lc_rs::signature::RsaKeyPair::from_pkcs8(der)
                        .ok()
                        .map(Kind::Rs384)
                }
                (Algorithm::RS384, "RSA PRIVATE KEY") => {
                    aws_lc_rs::signature::RsaKeyPair::from_der(der)
                        .ok()
                        .map(Kind::Rs384)
                }
                (Algorithm::ES384, "PRIVATE KEY") => {
                    aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
                        &aws_lc_rs::signature::ECDSA_P384_SHA384_FIXED_SIGNING,
                        der,
                    )
                    .ok()
                    .map(Kind::Es384)
                }
                _ => None,
            }
        });
        if let Some(kind) = parsed {
            return Ok(Signer(Arc::new(kind)));
        }
        // What aws-lc-rs does not read, jsonwebtoken may (and says why not when it does not).
        let key = match alg {
            Algorithm::RS384 => EncodingKey::from_rsa_pem(pem),
            Algorithm::ES384 => EncodingKey::from_ec_pem(pem),
            other => return Err(format!("{other:?} is not a SMART assertion algorithm")),
        }
        .map_err(|e| format!("cannot read the private key: {e}"))?;
        Ok(Signer(Arc::new(Kind::Other(key, alg))))
    }

    /// An HMAC key (HS256), for the probe that signs with a public key as the secret.
    pub fn hmac(secret: &[u8]) -> Signer {
        Signer(Arc::new(Kind::Other(
            EncodingKey::from_secret(secret),
            Algorithm::HS256,
        )))
    }

    /// The algorithm it signs with.
    pub fn alg(&self) -> Algorithm {
        match &*self.0 {
            Kind::Rs384(_) => Algorithm::RS384,
            Kind::Es384(_) => Algorithm::ES384,
            Kind::Other(_, alg) => *alg,
        }
    }

    /// A compact JWT of `claims` with `typ: JWT`, the `kid` and, when given, a `jku`.
    pub fn sign(
        &self,
        claims: &serde_json::Value,
        kid: &str,
        jku: Option<&str>,
    ) -> Result<Secret, String> {
        let fail = |e: String| format!("cannot sign the client assertion: {e}");
        let (own_alg, key) = match &*self.0 {
            Kind::Rs384(_) => ("RS384", None),
            Kind::Es384(_) => ("ES384", None),
            Kind::Other(key, alg) => ("", Some((key, *alg))),
        };
        if let Some((key, alg)) = key {
            let mut header = Header::new(alg);
            header.kid = Some(kid.to_string());
            header.typ = Some("JWT".into());
            header.jku = jku.map(str::to_string);
            return jsonwebtoken::encode(&header, claims, key)
                .map(Secret::new)
                .map_err(|e| fail(e.to_string()));
        }
        let mut header = serde_json::json!({ "typ": "JWT", "alg": own_alg, "kid": kid });
        if let Some(jku) = jku {
            header["jku"] = serde_json::json!(jku);
        }
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let message = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature = match &*self.0 {
            Kind::Rs384(pair) => {
                let mut out = vec![0; pair.public_modulus_len()];
                pair.sign(
                    &aws_lc_rs::signature::RSA_PKCS1_SHA384,
                    rng(),
                    message.as_bytes(),
                    &mut out,
                )
                .map_err(|_| fail("the RSA key could not sign".into()))?;
                out
            }
            Kind::Es384(pair) => pair
                .sign(rng(), message.as_bytes())
                .map_err(|_| fail("the EC key could not sign".into()))?
                .as_ref()
                .to_vec(),
            Kind::Other(..) => unreachable!("signed by jsonwebtoken above"),
        };
        Ok(Secret::new(format!("{message}.{}", b64(&signature))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{decode, decode_header, DecodingKey, Validation};

    /// What aws-lc-rs signs, jsonwebtoken verifies with the public key, header fields included.
    #[test]
    fn own_signed_jwts_verify_with_the_public_keys() {
        let jwks: serde_json::Value =
            serde_json::from_str(include_str!("../../fixtures/keys/client-jwks.json")).unwrap();
        let claims = serde_json::json!({ "sub": "c", "aud": "https://t", "exp": 4_000_000_000u64 });
        for (pem, alg, kid) in [
            (
                &include_bytes!("../../fixtures/keys/client-rs384.key.pem")[..],
                Algorithm::RS384,
                "client-rs384",
            ),
            // The same RSA key in PKCS#1 form (`BEGIN RSA PRIVATE KEY`), read as it is.
            (
                &include_bytes!("../../fixtures/keys/client-rs384.pkcs1.key.pem")[..],
                Algorithm::RS384,
                "client-rs384",
            ),
            (
                &include_bytes!("../../fixtures/keys/client-es384.key.pem")[..],
                Algorithm::ES384,
                "client-es384",
            ),
        ] {
            let signer = Signer::from_pem(pem, alg).unwrap();
            assert!(matches!(*signer.0, Kind::Rs384(_) | Kind::Es384(_)));
            assert_eq!(signer.alg(), alg);
            let jwt = signer
                .sign(&claims, kid, Some("https://k/jwks.json"))
                .unwrap();
            let jwt = jwt.expose_secret();
            let header = decode_header(jwt).unwrap();
            assert_eq!(header.alg, alg);
            assert_eq!(header.kid.as_deref(), Some(kid));
            assert_eq!(header.jku.as_deref(), Some("https://k/jwks.json"));
            let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(
                jwks["keys"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|k| k["kid"] == kid)
                    .unwrap()
                    .clone(),
            )
            .unwrap();
            let mut validation = Validation::new(alg);
            validation.set_audience(&["https://t"]);
            let data = decode::<serde_json::Value>(
                jwt,
                &DecodingKey::from_jwk(&jwk).unwrap(),
                &validation,
            )
            .unwrap();
            assert_eq!(data.claims["sub"], "c");
            // Another key's signature does not verify.
            let other = Signer::from_pem(
                if alg == Algorithm::RS384 {
                    include_bytes!("../../fixtures/keys/reference-rs256.key.pem")
                } else {
                    include_bytes!("../../fixtures/keys/other-es384.key.pem")
                },
                alg,
            )
            .unwrap();
            let forged = other.sign(&claims, kid, None).unwrap();
            assert!(decode::<serde_json::Value>(
                forged.expose_secret(),
                &DecodingKey::from_jwk(&jwk).unwrap(),
                &validation
            )
            .is_err());
        }
    }

    #[test]
    fn a_key_of_the_wrong_kind_is_refused_with_the_reason() {
        let e = Signer::from_pem(
            include_bytes!("../../fixtures/keys/client-es384.key.pem"),
            Algorithm::RS384,
        )
        .err()
        .unwrap();
        assert!(e.contains("cannot read the private key"), "{e}");
        let hmac = Signer::hmac(b"secret");
        assert_eq!(hmac.alg(), Algorithm::HS256);
        let jwt = hmac.sign(&serde_json::json!({}), "k", None).unwrap();
        assert_eq!(
            decode_header(jwt.expose_secret()).unwrap().alg,
            Algorithm::HS256
        );
    }
}
