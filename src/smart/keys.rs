//! The public half of a client's signing key, in the forms a server holds it: the JWK the
//! client registers (RFC 7517) and the SubjectPublicKeyInfo PEM (RFC 5280 §4.1.2.7, RFC 7468
//! §13) that libraries turn a JWK into before they verify with it. The HMAC confusion probe
//! signs with that PEM: a verifier that takes "the key" for whatever `alg` a JWT names would
//! use the registered public key as an HMAC secret.

use base64::Engine;
use serde_json::{json, Value};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// `rsaEncryption` (RFC 8017 Appendix C), DER-encoded with its tag.
const OID_RSA: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
];
/// `id-ecPublicKey` (RFC 5480 §2.1.1).
const OID_EC: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// `secp256r1` (RFC 5480 §2.1.1.1).
const OID_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// `secp384r1`.
const OID_P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];

/// The public JWK of a PEM private key (PKCS#8 `PRIVATE KEY`, or PKCS#1 `RSA PRIVATE KEY`),
/// with `kid` and `alg` (`RS384` or `ES384`).
pub fn public_jwk_of_private_pem(pem_text: &[u8], kid: &str, alg: &str) -> Result<Value, String> {
    let block = pem::parse(pem_text).map_err(|e| format!("not a PEM private key: {e}"))?;
    let der = block.contents();
    let rejected = |e: ring::error::KeyRejected| format!("the private key is not usable: {e}");
    match (alg, block.tag()) {
        ("RS384", "PRIVATE KEY" | "RSA PRIVATE KEY") => {
            let pair = if block.tag() == "PRIVATE KEY" {
                ring::rsa::KeyPair::from_pkcs8(der)
            } else {
                ring::rsa::KeyPair::from_der(der)
            }
            .map_err(rejected)?;
            let parts = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(pair.public());
            Ok(json!({
                "kty": "RSA",
                "kid": kid,
                "alg": alg,
                "n": B64.encode(&parts.n),
                "e": B64.encode(&parts.e),
            }))
        }
        ("ES384", "PRIVATE KEY") => {
            use ring::signature::KeyPair;
            let pair = ring::signature::EcdsaKeyPair::from_pkcs8(
                &ring::signature::ECDSA_P384_SHA384_FIXED_SIGNING,
                der,
                &ring::rand::SystemRandom::new(),
            )
            .map_err(rejected)?;
            // An uncompressed point: 0x04, then x and y (48 octets each).
            let point = pair.public_key().as_ref();
            let (x, y) = point[1..].split_at((point.len() - 1) / 2);
            Ok(json!({
                "kty": "EC",
                "kid": kid,
                "alg": alg,
                "crv": "P-384",
                "x": B64.encode(x),
                "y": B64.encode(y),
            }))
        }
        (alg, tag) => Err(format!(
            "a `{tag}` PEM block is no {alg} private key this harness reads (PKCS#8 `PRIVATE KEY`, or PKCS#1 `RSA PRIVATE KEY` for RS384)"
        )),
    }
}

/// The SubjectPublicKeyInfo PEM of a public RSA or EC (P-256, P-384) JWK, as OpenSSL and
/// Node.js write it: `-----BEGIN PUBLIC KEY-----`, 64 characters a line, `\n` line ends.
pub fn spki_pem_of_jwk(jwk: &Value) -> Result<String, String> {
    let member = |name: &str| -> Result<Vec<u8>, String> {
        let text = jwk[name]
            .as_str()
            .ok_or_else(|| format!("the JWK has no `{name}`"))?;
        B64.decode(text)
            .map_err(|e| format!("the JWK's `{name}` is not base64url: {e}"))
    };
    let (algorithm, key) = match jwk["kty"].as_str() {
        Some("RSA") => {
            let rsa_public_key = der(
                0x30,
                &[der_integer(&member("n")?), der_integer(&member("e")?)].concat(),
            );
            (
                der(0x30, &[OID_RSA, &[0x05, 0x00]].concat()),
                rsa_public_key,
            )
        }
        Some("EC") => {
            let curve = match jwk["crv"].as_str() {
                Some("P-256") => OID_P256,
                Some("P-384") => OID_P384,
                other => return Err(format!("an EC JWK on curve {other:?}, not P-256 or P-384")),
            };
            let point = [&[0x04][..], &member("x")?, &member("y")?].concat();
            (der(0x30, &[OID_EC, curve].concat()), point)
        }
        other => return Err(format!("a JWK of kty {other:?}, not RSA or EC")),
    };
    // The key's octets in a BIT STRING with no unused bits.
    let bits = der(0x03, &[&[0x00][..], &key].concat());
    let spki = der(0x30, &[algorithm, bits].concat());
    let body = base64::engine::general_purpose::STANDARD.encode(spki);
    let mut out = String::from("-----BEGIN PUBLIC KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END PUBLIC KEY-----\n");
    Ok(out)
}

/// A DER INTEGER of an unsigned big-endian number: leading zero octets dropped, and one zero
/// octet put back where the top bit would make it negative (X.690 §8.3).
fn der_integer(unsigned: &[u8]) -> Vec<u8> {
    let start = unsigned
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(unsigned.len().saturating_sub(1));
    let digits = &unsigned[start.min(unsigned.len())..];
    let mut content = Vec::with_capacity(digits.len() + 1);
    if digits.first().is_none_or(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(digits);
    der(0x02, &content)
}

/// One DER element: tag, definite length (X.690 §8.1.3), content.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let octets: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | octets.len() as u8);
        out.extend(octets);
    }
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_jwk(kid: &str) -> Value {
        let set: Value =
            serde_json::from_str(include_str!("../../fixtures/keys/client-jwks.json")).unwrap();
        set["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid)
            .unwrap()
            .clone()
    }

    #[test]
    fn the_public_jwk_of_a_private_key_is_the_one_published_for_it() {
        for (pem_text, kid, alg, members) in [
            (
                &include_bytes!("../../fixtures/keys/client-rs384.key.pem")[..],
                "client-rs384",
                "RS384",
                &["kty", "n", "e"][..],
            ),
            (
                &include_bytes!("../../fixtures/keys/client-es384.key.pem")[..],
                "client-es384",
                "ES384",
                &["kty", "crv", "x", "y"][..],
            ),
        ] {
            let derived = public_jwk_of_private_pem(pem_text, kid, alg).unwrap();
            let published = fixture_jwk(kid);
            for m in members {
                assert_eq!(derived[*m], published[*m], "{kid}: {m}");
            }
            assert_eq!(derived["kid"], kid);
        }
    }

    #[test]
    fn the_spki_pem_carries_the_key_a_verifier_reads() {
        // Signed with the private key, verified with the PEM made from the public JWK: a
        // wrong DER element anywhere and the key does not parse, or does not verify.
        for (pem_text, kid, alg) in [
            (
                &include_bytes!("../../fixtures/keys/client-rs384.key.pem")[..],
                "client-rs384",
                jsonwebtoken::Algorithm::RS384,
            ),
            (
                &include_bytes!("../../fixtures/keys/client-es384.key.pem")[..],
                "client-es384",
                jsonwebtoken::Algorithm::ES384,
            ),
        ] {
            let signing = match alg {
                jsonwebtoken::Algorithm::RS384 => {
                    jsonwebtoken::EncodingKey::from_rsa_pem(pem_text).unwrap()
                }
                _ => jsonwebtoken::EncodingKey::from_ec_pem(pem_text).unwrap(),
            };
            let claims = json!({"sub": "x", "exp": 4_000_000_000u64});
            let jwt =
                jsonwebtoken::encode(&jsonwebtoken::Header::new(alg), &claims, &signing).unwrap();
            let pem_out = spki_pem_of_jwk(&fixture_jwk(kid)).unwrap();
            assert!(
                pem_out.starts_with("-----BEGIN PUBLIC KEY-----\n"),
                "{pem_out}"
            );
            assert!(pem_out.lines().all(|l| l.len() <= 64));
            let verifying = match alg {
                jsonwebtoken::Algorithm::RS384 => {
                    jsonwebtoken::DecodingKey::from_rsa_pem(pem_out.as_bytes()).unwrap()
                }
                _ => jsonwebtoken::DecodingKey::from_ec_pem(pem_out.as_bytes()).unwrap(),
            };
            let mut validation = jsonwebtoken::Validation::new(alg);
            validation.set_required_spec_claims(&["exp"]);
            jsonwebtoken::decode::<Value>(&jwt, &verifying, &validation)
                .unwrap_or_else(|e| panic!("{kid}: {e}"));
        }
    }

    #[test]
    fn integers_and_lengths_are_minimal_der() {
        assert_eq!(
            der_integer(&[0x00, 0x01, 0x00, 0x01]),
            [0x02, 0x03, 0x01, 0x00, 0x01]
        );
        assert_eq!(der_integer(&[0x80]), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(der_integer(&[]), [0x02, 0x01, 0x00]);
        assert_eq!(der(0x04, &[0; 200])[..3], [0x04, 0x81, 200]);
        assert_eq!(der(0x04, &[0; 300])[..4], [0x04, 0x82, 0x01, 0x2c]);
    }

    #[test]
    fn keys_it_cannot_read_are_named() {
        let e = public_jwk_of_private_pem(b"not pem", "k", "RS384").unwrap_err();
        assert!(e.contains("not a PEM private key"), "{e}");
        let ec = include_bytes!("../../fixtures/keys/client-es384.key.pem");
        let e = public_jwk_of_private_pem(ec, "k", "RS384").unwrap_err();
        assert!(e.contains("not usable"), "{e}");
        let e = spki_pem_of_jwk(&json!({"kty": "oct", "k": "AA"})).unwrap_err();
        assert!(e.contains("kty"), "{e}");
    }
}
