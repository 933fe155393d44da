//! A client as the harness holds it, and how it authenticates at the token endpoint
//! (RFC 6749 §2.3.1, RFC 7523 / SMART App Launch "asymmetric client authentication").

use base64::Engine;
use jsonwebtoken::Algorithm;

pub use super::signer::Signer;

use crate::secret::Secret;

/// How the client authenticates.
#[derive(Clone)]
pub enum ClientAuth {
    /// A public client: `client_id` in the body.
    None,
    /// `Authorization: Basic` with the client secret (RFC 6749 §2.3.1).
    Basic(Secret),
    /// `client_id` and `client_secret` in the body.
    Post(Secret),
    /// A signed JWT assertion (RFC 7523 §2.2; SMART: RS384 or ES384).
    PrivateKeyJwt {
        key: Signer,
        kid: String,
        alg: Algorithm,
        /// The public key as the server holds it, in SPKI PEM (for the HMAC confusion
        /// probe), or why the harness could not derive it from the private key.
        public_pem: std::sync::Arc<Result<String, String>>,
    },
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.method())
    }
}

impl ClientAuth {
    /// The RFC 7591 `token_endpoint_auth_method` name.
    pub fn method(&self) -> &'static str {
        match self {
            ClientAuth::None => "none",
            ClientAuth::Basic(_) => "client_secret_basic",
            ClientAuth::Post(_) => "client_secret_post",
            ClientAuth::PrivateKeyJwt { .. } => "private_key_jwt",
        }
    }
}

/// A client a case uses.
#[derive(Debug, Clone)]
pub struct Client {
    pub client_id: String,
    pub auth: ClientAuth,
    pub redirect_uri: String,
}

/// The form fields and headers a token request gets for the client's authentication.
pub fn authenticate(
    client: &Client,
    token_endpoint: &str,
    form: &mut Vec<(String, String)>,
    headers: &mut Vec<(String, String)>,
) -> Result<(), String> {
    match &client.auth {
        ClientAuth::None => form.push(("client_id".into(), client.client_id.clone())),
        ClientAuth::Basic(secret) => headers.push((
            "Authorization".into(),
            basic_authorization(&client.client_id, secret.expose_secret()),
        )),
        ClientAuth::Post(secret) => {
            form.push(("client_id".into(), client.client_id.clone()));
            form.push(("client_secret".into(), secret.expose_secret().to_string()));
        }
        ClientAuth::PrivateKeyJwt { key, kid, .. } => {
            let assertion = client_assertion(&client.client_id, token_endpoint, key, kid)?;
            form.push((
                "client_assertion_type".into(),
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
            ));
            form.push((
                "client_assertion".into(),
                assertion.expose_secret().to_string(),
            ));
        }
    }
    Ok(())
}

/// `Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1 form-encodes both).
pub fn basic_authorization(client_id: &str, secret: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            enc(client_id),
            enc(secret)
        ))
    )
}

/// The claims of a client assertion: `iss` = `sub` = client_id, `aud`, `exp` `lifetime` seconds
/// ahead, `iat`, a fresh `jti`.
pub fn assertion_claims(client_id: &str, aud: &str, lifetime: i64) -> serde_json::Value {
    let now = chrono::Utc::now().timestamp();
    serde_json::json!({
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "exp": now + lifetime,
        "iat": now,
        "jti": super::pkce::random_urlsafe(24),
    })
}

/// An unsigned JWT (`alg: none`), for negative cases only.
pub fn unsigned_jwt(kid: &str, claims: &serde_json::Value) -> Secret {
    let b64 = |v: &serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    Secret::new(format!(
        "{}.{}.",
        b64(&serde_json::json!({"alg": "none", "typ": "JWT", "kid": kid})),
        b64(claims)
    ))
}

/// Signs assertion claims.
pub fn sign_assertion(
    claims: &serde_json::Value,
    key: &Signer,
    kid: &str,
) -> Result<Secret, String> {
    key.sign(claims, kid, None)
}

/// [`sign_assertion`] with a `jku` header (SMART 2.2: a server verifies it against the JWK
/// Set URL registered for the client before it dereferences it).
pub fn sign_assertion_with_jku(
    claims: &serde_json::Value,
    key: &Signer,
    kid: &str,
    jku: Option<&str>,
) -> Result<Secret, String> {
    key.sign(claims, kid, jku)
}

/// A client assertion (SMART App Launch 2.2 "authenticating a client with a JWT"):
/// `iss` = `sub` = client_id, `aud` = the token endpoint, `exp` five minutes ahead, a unique
/// `jti`, and the `kid` in the header.
pub fn client_assertion(
    client_id: &str,
    token_endpoint: &str,
    key: &Signer,
    kid: &str,
) -> Result<Secret, String> {
    sign_assertion(&assertion_claims(client_id, token_endpoint, 300), key, kid)
}

/// A `private_key_jwt` client's authentication from its PEM private key: the signing key, and
/// its public key's SPKI PEM (derived; a key the harness signs with but cannot derive a
/// public key of only loses the HMAC confusion probe). Made once per key: every client of a
/// run registered with the harness's own key shares it.
pub fn private_key_jwt(pem: &[u8], kid: &str, alg: Algorithm) -> Result<ClientAuth, String> {
    type Made = std::collections::HashMap<(Vec<u8>, String, &'static str), ClientAuth>;
    static MADE: std::sync::OnceLock<std::sync::Mutex<Made>> = std::sync::OnceLock::new();
    let made = MADE.get_or_init(Default::default);
    let key = (pem.to_vec(), kid.to_string(), alg_name(alg));
    if let Some(auth) = made.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(auth.clone());
    }
    let signer = Signer::from_pem(pem, alg)?;
    let public_pem = super::keys::public_jwk_of_private_pem(pem, kid, alg_name(alg))
        .and_then(|jwk| super::keys::spki_pem_of_jwk(&jwk));
    let auth = ClientAuth::PrivateKeyJwt {
        key: signer,
        kid: kid.to_string(),
        alg,
        public_pem: std::sync::Arc::new(public_pem),
    };
    made.lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, auth.clone());
    Ok(auth)
}

fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::ES384 => "ES384",
        _ => "RS384",
    }
}

/// A signing key from a PEM private key, parsed once (see [`Signer`]).
pub fn encoding_key(pem: &[u8], alg: Algorithm) -> Result<Signer, String> {
    Signer::from_pem(pem, alg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_encoded_then_base64() {
        // RFC 6749 §2.3.1: both parts are application/x-www-form-urlencoded first.
        assert_eq!(
            basic_authorization("a b", "s:1"),
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("a+b:s%3A1")
            )
        );
    }

    #[test]
    fn assertions_carry_the_smart_claims() {
        let pem = include_bytes!("../../fixtures/keys/client-es384.key.pem");
        let key = encoding_key(pem, Algorithm::ES384).unwrap();
        let a = client_assertion("app", "https://as/token", &key, "client-es384").unwrap();
        let b = client_assertion("app", "https://as/token", &key, "client-es384").unwrap();
        let header = jsonwebtoken::decode_header(a.expose_secret()).unwrap();
        assert_eq!(header.alg, Algorithm::ES384);
        assert_eq!(header.kid.as_deref(), Some("client-es384"));
        let payload = a.expose_secret().split('.').nth(1).unwrap();
        let claims: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["iss"], "app");
        assert_eq!(claims["sub"], "app");
        assert_eq!(claims["aud"], "https://as/token");
        let ttl = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
        assert!(ttl <= 300, "{ttl}");
        assert_ne!(a, b, "every assertion has its own jti");
    }
}
