//! OpenID Connect id_token verification (OIDC Core §3.1.3.7, SMART App Launch 2.2 "scopes for
//! requesting identity data"): the signature against the issuer's JWKS with an advertised
//! asymmetric algorithm, and the time and audience claims. The result is a document of
//! findings that suite checks read, so every requirement is its own check.

use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::{json, Value};

/// Allowed clock difference for `iat` and `exp`.
const SKEW_SECONDS: i64 = 60;

/// What verifying an id_token found. Each finding is the word the suite expects when the
/// requirement holds (`valid`, `advertised`, ...), else what is wrong.
pub fn verify(
    token: &str,
    jwks: &Value,
    client_id: &str,
    advertised: &[String],
    now: i64,
) -> Value {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return json!({
            "verdict": {
                "signature": format!("not a signed JWT: {} part(s), a JWS has 3", parts.len()),
                "alg": "not evaluated", "aud": "not evaluated", "exp": "not evaluated", "iat": "not evaluated",
            }
        });
    }
    let decode = |part: &str| -> Option<Value> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part.trim_end_matches('='))
            .ok()?;
        serde_json::from_slice(&bytes).ok()
    };
    let header = decode(parts[0]).unwrap_or(Value::Null);
    let claims = decode(parts[1]).unwrap_or(Value::Null);
    let alg = header["alg"].as_str().unwrap_or("").to_string();
    let alg_finding = if alg.is_empty() {
        "the header has no alg".to_string()
    } else if alg.eq_ignore_ascii_case("none") {
        "alg none: the token is unsigned".to_string()
    } else if alg.starts_with("HS") {
        format!(
            "{alg} is an HMAC algorithm: a client cannot verify it with the server's public keys"
        )
    } else if !advertised.iter().any(|a| a == &alg) {
        format!("{alg} is not among the advertised algorithms {advertised:?}")
    } else {
        "advertised".to_string()
    };
    let signature = signature(token, &header, &alg, jwks);
    let aud = match &claims["aud"] {
        Value::String(a) if a == client_id => "includes the client_id".to_string(),
        Value::Array(items) if items.iter().any(|a| a == client_id) => {
            "includes the client_id".to_string()
        }
        Value::Null => "no aud claim".to_string(),
        other => format!("{other} does not include the client_id {client_id}"),
    };
    let exp = match claims["exp"].as_i64() {
        Some(exp) if exp + SKEW_SECONDS > now => "in the future".to_string(),
        Some(exp) => format!("expired {} s ago", now - exp),
        None => "no numeric exp claim".to_string(),
    };
    let iat = match claims["iat"].as_i64() {
        Some(iat) if iat <= now + SKEW_SECONDS => "not in the future".to_string(),
        Some(iat) => format!("issued {} s in the future", iat - now),
        None => "no numeric iat claim".to_string(),
    };
    json!({
        "header": header,
        "claims": claims,
        "verdict": {
            "signature": signature,
            "alg": alg_finding,
            "aud": aud,
            "exp": exp,
            "iat": iat,
        }
    })
}

fn signature(token: &str, header: &Value, alg: &str, jwks: &Value) -> String {
    let algorithm = match alg.parse::<jsonwebtoken::Algorithm>() {
        Ok(a) if !alg.starts_with("HS") => a,
        _ => return format!("not verifiable: alg {alg:?} is not an asymmetric JWS algorithm"),
    };
    let set: JwkSet = match serde_json::from_value(jwks.clone()) {
        Ok(s) => s,
        Err(e) => return format!("the JWKS does not parse: {e}"),
    };
    let kid = header["kid"].as_str();
    let candidates: Vec<_> = set
        .keys
        .iter()
        .filter(|k| match kid {
            Some(kid) => k.common.key_id.as_deref() == Some(kid),
            None => true,
        })
        .collect();
    if candidates.is_empty() {
        return match kid {
            Some(kid) => format!("no key with kid {kid:?} in the JWKS"),
            None => "the JWKS has no keys".to_string(),
        };
    }
    let mut validation = Validation::new(algorithm);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let mut last = String::new();
    for jwk in candidates {
        let key = match DecodingKey::from_jwk(jwk) {
            Ok(k) => k,
            Err(e) => {
                last = format!("key {:?} is unusable: {e}", jwk.common.key_id);
                continue;
            }
        };
        match jsonwebtoken::decode::<Value>(token, &key, &validation) {
            Ok(_) => return "valid".to_string(),
            Err(e) => last = format!("does not verify: {e}"),
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};

    fn jwks() -> Value {
        serde_json::from_str(include_str!("../../fixtures/keys/reference-jwks.json")).unwrap()
    }

    fn token(claims: Value, kid: &str) -> String {
        let key = EncodingKey::from_rsa_pem(include_bytes!(
            "../../fixtures/keys/reference-rs256.key.pem"
        ))
        .unwrap();
        let mut h = Header::new(jsonwebtoken::Algorithm::RS256);
        h.kid = Some(kid.into());
        encode(&h, &claims, &key).unwrap()
    }

    #[test]
    fn a_good_token_has_only_good_findings() {
        let t = token(
            json!({"iss": "i", "aud": "app", "exp": 2000, "iat": 1000}),
            "reference-rs256",
        );
        let r = verify(&t, &jwks(), "app", &["RS256".into()], 1500);
        assert_eq!(
            r["verdict"],
            json!({"signature": "valid", "alg": "advertised", "aud": "includes the client_id", "exp": "in the future", "iat": "not in the future"})
        );
        assert_eq!(r["claims"]["iss"], "i");
    }

    #[test]
    fn each_broken_requirement_has_its_own_finding() {
        let t = token(
            json!({"aud": ["other"], "exp": 1000, "iat": 3000}),
            "reference-rs256",
        );
        let r = verify(&t, &jwks(), "app", &["ES256".into()], 2000);
        assert_eq!(r["verdict"]["signature"], "valid");
        assert!(r["verdict"]["alg"].as_str().unwrap().contains("not among"));
        assert!(r["verdict"]["aud"]
            .as_str()
            .unwrap()
            .contains("does not include"));
        assert!(r["verdict"]["exp"].as_str().unwrap().starts_with("expired"));
        assert!(r["verdict"]["iat"].as_str().unwrap().contains("future"));
        let unknown = token(json!({}), "nope");
        assert!(
            verify(&unknown, &jwks(), "app", &[], 0)["verdict"]["signature"]
                .as_str()
                .unwrap()
                .contains("no key with kid")
        );
    }

    #[test]
    fn unsigned_and_tampered_tokens_are_refused() {
        let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let none = format!(
            "{}.{}.",
            b64(json!({"alg": "none"})),
            b64(json!({"aud": "app"}))
        );
        let r = verify(&none, &jwks(), "app", &["RS256".into()], 0);
        assert!(r["verdict"]["alg"].as_str().unwrap().contains("unsigned"));
        assert_ne!(r["verdict"]["signature"], "valid");
        let good = token(json!({"aud": "app"}), "reference-rs256");
        let mut parts: Vec<&str> = good.split('.').collect();
        let forged = b64(json!({"aud": "app", "sub": "someone-else"}));
        parts[1] = &forged;
        let r = verify(&parts.join("."), &jwks(), "app", &["RS256".into()], 0);
        assert!(r["verdict"]["signature"]
            .as_str()
            .unwrap()
            .starts_with("does not verify"));
    }
}
