//! What the reference server's OAuth endpoints share: request parameters, error and token
//! responses (RFC 6749 §5), and client authentication (RFC 6749 §2.3, RFC 7523, SMART Backend
//! Services / asymmetric client authentication).

use std::collections::BTreeMap;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};

use super::server::Shared;
use super::store::{now, AuthMethod, Client};

/// `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Form parameters, each at most once (RFC 6749 §3.1: "Request and response parameters MUST NOT
/// be included more than once").
#[derive(Debug, Default, Clone)]
pub struct Params(BTreeMap<String, String>);

impl Params {
    pub fn parse(raw: &str) -> Result<Params, String> {
        let mut map = BTreeMap::new();
        for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
            if map.insert(k.to_string(), v.to_string()).is_some() {
                return Err(format!("parameter `{k}` is repeated"));
            }
        }
        Ok(Params(map))
    }

    /// The names of the parameters sent.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// A parameter; an empty value counts as absent (RFC 6749 §3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// Whether a request carries a form body.
pub fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        })
}

/// A JSON response that must not be cached (RFC 6749 §5.1: "Cache-Control: no-store",
/// "Pragma: no-cache"), with the faults that drop either header.
pub fn no_store_json(shared: &Shared, status: StatusCode, body: &Value) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    let headers = response.headers_mut();
    if !shared.faults.has("token-no-cache-control") {
        headers.insert(header::CACHE_CONTROL, "no-store".parse().expect("valid"));
    }
    if !shared.faults.has("token-no-pragma") {
        headers.insert(header::PRAGMA, "no-cache".parse().expect("valid"));
    }
    response
}

/// An OAuth error response (RFC 6749 §5.2). `invalid_client` is 401 with `WWW-Authenticate`.
pub fn error(shared: &Shared, code: &str, description: &str) -> Response {
    let status = if shared.faults.has("token-error-status-200") {
        StatusCode::OK
    } else if code == "invalid_client" {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    let body = if shared.faults.has("token-error-without-description") {
        json!({ "error": code })
    } else {
        json!({"error": code, "error_description": description})
    };
    let mut response = no_store_json(shared, status, &body);
    if code == "invalid_client" && !shared.faults.has("token-no-www-authenticate") {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            "Basic realm=\"smartcheck-reference\""
                .parse()
                .expect("valid"),
        );
    }
    response
}

/// Why client authentication failed; every variant is `invalid_client` except where noted.
#[derive(Debug, thiserror::Error)]
pub enum ClientAuthError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidClient(String),
}

impl ClientAuthError {
    pub fn respond(&self, shared: &Shared) -> Response {
        match self {
            ClientAuthError::InvalidRequest(d) => error(shared, "invalid_request", d),
            ClientAuthError::InvalidClient(d) => error(shared, "invalid_client", d),
        }
    }
}

fn invalid(msg: impl Into<String>) -> ClientAuthError {
    ClientAuthError::InvalidClient(msg.into())
}

/// `client_id:client_secret` from `Authorization: Basic`, each form-urlencoded (RFC 6749 §2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, ClientAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| invalid("unreadable Authorization header"))?;
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Err(invalid("malformed Authorization header"));
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(invalid(
            "the token endpoint takes Basic client authentication",
        ));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| invalid("Basic credentials are not base64"))?;
    let decoded =
        String::from_utf8(decoded).map_err(|_| invalid("Basic credentials are not UTF-8"))?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or_else(|| invalid("Basic credentials lack a `:`"))?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((unescape(id), unescape(secret))))
}

/// The claims of a client assertion this server looks at.
#[derive(Debug, serde::Deserialize)]
struct AssertionClaims {
    iss: Option<String>,
    sub: Option<String>,
    #[serde(default)]
    aud: Option<Value>,
    jti: Option<String>,
    exp: Option<i64>,
}

fn unverified_claims(jwt: &str) -> Option<Value> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Authenticates the client of a token, introspection or revocation request. The method used
/// must be the one the client registered.
pub async fn authenticate(
    shared: &Shared,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Client, ClientAuthError> {
    let basic = basic_credentials(headers)?;
    let assertion = params.get("client_assertion");
    let post_secret = params.get("client_secret");
    let used = [basic.is_some(), assertion.is_some(), post_secret.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if used > 1 {
        // RFC 6749 §2.3: "The client MUST NOT use more than one authentication method in each request."
        return Err(ClientAuthError::InvalidRequest(
            "more than one client authentication method".into(),
        ));
    }
    let claimed_id = claimed_client_id(shared, params, basic.as_ref(), assertion)?;
    if let Some(param_id) = params.get("client_id") {
        if param_id != claimed_id {
            return Err(invalid(
                "client_id does not match the client authentication",
            ));
        }
    }
    let (client, sub_known) = {
        let store = shared.store.lock();
        let sub_known = assertion
            .and_then(unverified_claims)
            .and_then(|c| c["sub"].as_str().map(|s| store.clients.contains_key(s)));
        (store.clients.get(&claimed_id).cloned(), sub_known)
    };
    let client = client.ok_or_else(|| {
        // Wrong on purpose: an assertion naming no client this server issued, by `iss` or
        // `sub`, is taken for a malformed request rather than a failed client authentication.
        if sub_known == Some(false) && shared.faults.has("token-unknown-client-invalid-request") {
            ClientAuthError::InvalidRequest("no such client".into())
        } else {
            invalid("unknown client")
        }
    })?;
    let method = if basic.is_some() {
        AuthMethod::ClientSecretBasic
    } else if assertion.is_some() {
        AuthMethod::PrivateKeyJwt
    } else if post_secret.is_some() {
        AuthMethod::ClientSecretPost
    } else {
        AuthMethod::None
    };
    if method != client.auth_method {
        return Err(invalid(format!(
            "the client is registered for {}, the request used {}",
            client.auth_method.as_str(),
            method.as_str()
        )));
    }
    check_credentials(shared, params, &client, method, basic.as_ref(), post_secret).await?;
    Ok(client)
}

/// The client a request names: by its Basic credentials, its assertion (`iss`) or its
/// `client_id`.
fn claimed_client_id(
    shared: &Shared,
    params: &Params,
    basic: Option<&(String, String)>,
    assertion: Option<&str>,
) -> Result<String, ClientAuthError> {
    Ok(if let Some((id, _)) = basic {
        id.clone()
    } else if let Some(jwt) = assertion {
        // Under `client-assertion-iss-not-checked` the client is named by `sub` instead.
        let names = if shared.faults.has("client-assertion-iss-not-checked") {
            "sub"
        } else {
            "iss"
        };
        // Under `client-assertion-claims-optional` an assertion without `iss` names its
        // client by `sub`.
        let optional = shared.faults.has("client-assertion-claims-optional");
        unverified_claims(jwt)
            .and_then(|c| {
                let named = c[names]
                    .as_str()
                    .or(optional.then(|| c["sub"].as_str()).flatten());
                named.map(str::to_string)
            })
            .ok_or_else(|| invalid("the client assertion is not a JWT with an `iss`"))?
    } else {
        params
            .get("client_id")
            .ok_or_else(|| invalid("no client authentication and no client_id"))?
            .to_string()
    })
}

/// The credentials of the method the client registered: its secret, or its assertion.
async fn check_credentials(
    shared: &Shared,
    params: &Params,
    client: &Client,
    method: AuthMethod,
    basic: Option<&(String, String)>,
    post_secret: Option<&str>,
) -> Result<(), ClientAuthError> {
    let assertion = params.get("client_assertion");
    match method {
        AuthMethod::None => {}
        AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost => {
            let given = basic
                .map(|(_, s)| s.as_str())
                .or(post_secret)
                .unwrap_or_default();
            let expected = client.client_secret.as_deref().unwrap_or_default();
            if !shared.faults.has("client-secret-not-checked") && given != expected {
                return Err(invalid("wrong client secret"));
            }
        }
        AuthMethod::PrivateKeyJwt => {
            if params.get("client_assertion_type") != Some(JWT_BEARER)
                && !shared.faults.has("client-assertion-type-not-checked")
            {
                return Err(ClientAuthError::InvalidRequest(format!(
                    "client_assertion_type must be {JWT_BEARER}"
                )));
            }
            verify_assertion(shared, client, assertion.unwrap_or_default())
                .await
                .map_err(|e| match e {
                    // Wrong on purpose: a failed assertion is an invalid_client.
                    ClientAuthError::InvalidClient(d)
                        if shared.faults.has("client-assertion-error-invalid-request") =>
                    {
                        ClientAuthError::InvalidRequest(d)
                    }
                    other => other,
                })?;
        }
    }
    Ok(())
}

/// The keys a client registered, by value or by URL.
async fn client_keys(shared: &Shared, client: &Client) -> Result<Value, ClientAuthError> {
    if let Some(jwks) = &client.jwks {
        return Ok(jwks.clone());
    }
    let Some(uri) = &client.jwks_uri else {
        return Err(invalid("the client registered no keys"));
    };
    let faults = &shared.faults;
    if let Some((jwks, fresh_until)) = shared.store.lock().jwks_cache.get(uri) {
        if *fresh_until > now() {
            return Ok(jwks.clone());
        }
    }
    let response = shared
        .http
        .get(uri)
        .send()
        .await
        .map_err(|e| invalid(format!("cannot fetch the client's jwks_uri: {e}")))?;
    let lifetime = cache_lifetime(
        response
            .headers()
            .get(header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok()),
    );
    let jwks: Value = response
        .json()
        .await
        .map_err(|e| invalid(format!("the client's jwks_uri is not a JWK set: {e}")))?;
    if faults.has("jwks-uri-keys-not-used") {
        return Err(invalid("this server does not take keys from jwks_uri"));
    }
    // SMART 2.2 §Signature Verification: cached as the client's Cache-Control says, no longer.
    let fetched_before = !shared.store.lock().jwks_fetched.insert(uri.clone());
    let lifetime = if faults.has("jwks-cached-beyond-header")
        || (faults.has("jwks-refetched-set-kept") && fetched_before)
    {
        3600
    } else if faults.has("jwks-never-cached") {
        0
    } else {
        lifetime
    };
    if lifetime > 0 {
        shared
            .store
            .lock()
            .jwks_cache
            .insert(uri.clone(), (jwks.clone(), now() + lifetime));
    }
    Ok(jwks)
}

/// How long a response may be cached by its `Cache-Control`: `max-age`, and nothing for
/// `no-store`, `no-cache` or no header.
fn cache_lifetime(cache_control: Option<&str>) -> i64 {
    let Some(value) = cache_control else { return 0 };
    let mut max_age = 0;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return 0;
        }
        if let Some(n) = lower.strip_prefix("max-age=") {
            max_age = n.trim_matches('"').parse().unwrap_or(0);
        }
    }
    max_age
}

/// Checks a `private_key_jwt` assertion (SMART Backend Services §Authenticating to the token
/// endpoint): RS384 or ES384, a registered `kid`, `iss` = `sub` = client_id, `aud` = the token
/// endpoint, `exp` at most five minutes ahead, a `jti` not seen before.
/// Wrong on purpose (fault `client-assertion-alg-confusion`): an HS256 assertion is verified
/// with the registered public key as the HMAC secret, in the PEM form libraries turn a JWK
/// into, as verifiers that take "the key" for whatever `alg` a JWT names once did.
async fn alg_confusion_claims(
    shared: &Shared,
    client: &Client,
    jwt: &str,
) -> Result<AssertionClaims, ClientAuthError> {
    let kid = jsonwebtoken::decode_header(jwt)
        .ok()
        .and_then(|h| h.kid)
        .ok_or_else(|| invalid("the client assertion has no `kid`"))?;
    let keys = client_keys(shared, client).await?;
    let jwk = keys["keys"]
        .as_array()
        .and_then(|all| all.iter().find(|k| k["kid"] == kid.as_str()))
        .ok_or_else(|| invalid(format!("no registered key has kid `{kid}`")))?;
    let pem = crate::smart::keys::spki_pem_of_jwk(jwk).map_err(invalid)?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 30;
    validation.set_audience(&[shared.token_endpoint()]);
    jsonwebtoken::decode::<AssertionClaims>(
        jwt,
        &DecodingKey::from_secret(pem.as_bytes()),
        &validation,
    )
    .map(|data| data.claims)
    .map_err(|e| invalid(format!("the client assertion is not valid: {e}")))
}

async fn verify_assertion(
    shared: &Shared,
    client: &Client,
    jwt: &str,
) -> Result<(), ClientAuthError> {
    let faults = &shared.faults;
    let claims: AssertionClaims = if faults.has("client-assertion-signature-not-checked") {
        unchecked_signature_claims(shared, jwt)?
    } else if faults.has("client-assertion-alg-confusion")
        && jsonwebtoken::decode_header(jwt).is_ok_and(|h| h.alg == Algorithm::HS256)
    {
        alg_confusion_claims(shared, client, jwt).await?
    } else {
        verified_claims(shared, client, jwt).await?
    };
    check_claims(shared, client, claims)
}

/// Under `client-assertion-signature-not-checked`: the claims, with the signature unchecked
/// and `aud` and `exp` still checked.
fn unchecked_signature_claims(
    shared: &Shared,
    jwt: &str,
) -> Result<AssertionClaims, ClientAuthError> {
    let faults = &shared.faults;
    // The signature goes unchecked; the claims are still checked as below.
    let claims: AssertionClaims = unverified_claims(jwt)
        .and_then(|c| serde_json::from_value(c).ok())
        .ok_or_else(|| invalid("the client assertion's claims do not parse"))?;
    let endpoint = shared.token_endpoint();
    let aud_ok = match &claims.aud {
        Some(Value::String(a)) => *a == endpoint,
        Some(Value::Array(items)) => items.iter().any(|a| a == endpoint.as_str()),
        _ => false,
    };
    if !aud_ok && !faults.has("client-assertion-aud-not-checked") {
        return Err(invalid(
            "the client assertion's aud is not the token endpoint",
        ));
    }
    if claims.exp.is_some_and(|e| e + 30 < now())
        && !faults.has("client-assertion-expired-accepted")
    {
        return Err(invalid("the client assertion has expired"));
    }
    Ok(claims)
}

/// The claims of an assertion whose signature verifies with the client's registered key
/// (SMART 2.2 client-confidential-asymmetric, steps 1 to 3).
async fn verified_claims(
    shared: &Shared,
    client: &Client,
    jwt: &str,
) -> Result<AssertionClaims, ClientAuthError> {
    let faults = &shared.faults;
    let header = jsonwebtoken::decode_header(jwt)
        .map_err(|e| invalid(format!("the client assertion's header does not parse: {e}")))?;
    if !matches!(header.alg, Algorithm::RS384 | Algorithm::ES384) {
        return Err(invalid(format!(
            "client assertions must be signed with RS384 or ES384, not {:?}",
            header.alg
        )));
    }
    if header.jku.is_none() && faults.has("client-assertion-jku-required") {
        // Wrong on purpose: without `jku` the keys registered with the client are used.
        return Err(invalid("the client assertion has no `jku` header"));
    }
    // SMART 2.2 client-confidential-asymmetric, step 1: a `jku` must be the JWK Set URL
    // registered for the client, else "the signature verification fails".
    if let Some(jku) = &header.jku {
        if client.jwks_uri.as_deref() != Some(jku.as_str())
            && !faults.has("client-assertion-jku-not-checked")
        {
            return Err(invalid(
                "the client assertion's jku is not the JWK Set URL registered for the client",
            ));
        }
    }
    let kid = header
        .kid
        .ok_or_else(|| invalid("the client assertion has no `kid`"))?;
    let keys = client_keys(shared, client).await?;
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(keys)
        .map_err(|e| invalid(format!("the client's JWK set does not parse: {e}")))?;
    let jwk = registered_key(faults, &set, &kid, header.alg)?;
    let key = DecodingKey::from_jwk(jwk)
        .map_err(|e| invalid(format!("the registered key `{kid}` is unusable: {e}")))?;
    let mut validation = assertion_validation(shared, header.alg, jwt);
    if !(header.alg == Algorithm::ES384 && faults.has("es384-signature-not-checked")) {
        // The signature first, as jsonwebtoken would check it, but with aws-lc-rs (see
        // `signature_verifies`); then jsonwebtoken checks the claims.
        if !signature_verifies(jwt, jwk, header.alg) {
            let e = jsonwebtoken::errors::Error::from(
                jsonwebtoken::errors::ErrorKind::InvalidSignature,
            );
            return Err(invalid(format!("the client assertion is not valid: {e}")));
        }
        validation.insecure_disable_signature_validation();
    }
    jsonwebtoken::decode::<AssertionClaims>(jwt, &key, &validation)
        .map(|data| data.claims)
        .map_err(|e| invalid(format!("the client assertion is not valid: {e}")))
}

/// The single registered key with `kid` and a kty the algorithm needs (SMART 2.2 step 3);
/// none, or more than one, and "the verification fails".
fn registered_key<'s>(
    faults: &super::faults::Faults,
    set: &'s jsonwebtoken::jwk::JwkSet,
    kid: &str,
    alg: Algorithm,
) -> Result<&'s jsonwebtoken::jwk::Jwk, ClientAuthError> {
    let kty_fits = |jwk: &&jsonwebtoken::jwk::Jwk| {
        matches!(
            (&jwk.algorithm, alg),
            (
                jsonwebtoken::jwk::AlgorithmParameters::RSA(_),
                Algorithm::RS384
            ) | (
                jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_),
                Algorithm::ES384
            )
        )
    };
    let matching: Vec<&jsonwebtoken::jwk::Jwk> = set
        .keys
        .iter()
        .filter(|k| k.common.key_id.as_deref() == Some(kid))
        .filter(kty_fits)
        .collect();
    match matching.as_slice() {
        [] => Err(invalid(format!("no registered key has kid `{kid}`"))),
        [one] => Ok(*one),
        [first, ..] if faults.has("client-assertion-duplicate-kid-accepted") => Ok(*first),
        _ => Err(invalid(format!(
            "more than one registered key has kid `{kid}`"
        ))),
    }
}

/// Whether a JWT's RS384 or ES384 signature verifies with the registered key: the check
/// jsonwebtoken makes (RSASSA-PKCS1-v1_5 with SHA-384 and a modulus of 2048 to 8192 bits;
/// ECDSA P-384 with SHA-384, `r || s`), made with aws-lc-rs, whose P-384 arithmetic has the
/// assembly ring's lacks: a fleet's servers verify tens of thousands of assertions.
fn signature_verifies(jwt: &str, jwk: &jsonwebtoken::jwk::Jwk, alg: Algorithm) -> bool {
    use aws_lc_rs::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
    use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve};
    let b64 = |s: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .ok()
    };
    let Some((message, signature)) = jwt.rsplit_once('.') else {
        return false;
    };
    let Some(signature) = b64(signature) else {
        return false;
    };
    match (&jwk.algorithm, alg) {
        (AlgorithmParameters::RSA(rsa), Algorithm::RS384) => match (b64(&rsa.n), b64(&rsa.e)) {
            (Some(n), Some(e)) => RsaPublicKeyComponents { n: &n, e: &e }
                .verify(
                    &signature::RSA_PKCS1_2048_8192_SHA384,
                    message.as_bytes(),
                    &signature,
                )
                .is_ok(),
            _ => false,
        },
        (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES384)
            if ec.curve == EllipticCurve::P384 =>
        {
            let (Some(x), Some(y)) = (b64(&ec.x), b64(&ec.y)) else {
                return false;
            };
            let point: Vec<u8> = [&[4u8][..], &x, &y].concat();
            UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, point)
                .verify(message.as_bytes(), &signature)
                .is_ok()
        }
        _ => false,
    }
}

/// How an assertion signed with `alg` is validated: its signature, `exp` and `nbf` with 30
/// seconds of leeway, the claims RFC 7523 §3 requires, and `aud` the token endpoint.
fn assertion_validation(shared: &Shared, alg: Algorithm, jwt: &str) -> Validation {
    let faults = &shared.faults;
    let mut validation = Validation::new(alg);
    if alg == Algorithm::ES384 && faults.has("es384-signature-not-checked") {
        // Wrong on purpose: the key is found, the claims checked, the signature not.
        validation.insecure_disable_signature_validation();
    }
    validation.leeway = 30;
    validation.validate_exp = !faults.has("client-assertion-expired-accepted");
    // RFC 7523 §3: a JWT with an `nbf` "MUST NOT be accepted for processing" before it.
    validation.validate_nbf = !faults.has("client-assertion-nbf-not-checked");
    // Fault: the claims RFC 7523 §3 requires are taken as optional.
    let optional = faults.has("client-assertion-claims-optional");
    let has = |claim: &str| unverified_claims(jwt).is_some_and(|c| !c[claim].is_null());
    if optional {
        validation.set_required_spec_claims::<&str>(&[]);
        validation.validate_exp &= has("exp");
    } else {
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    }
    if faults.has("client-assertion-aud-not-checked") || optional && !has("aud") {
        validation.validate_aud = false;
    } else {
        validation.set_audience(&[shared.token_endpoint()]);
    }
    validation
}

/// The checks of the claims, whichever way the signature was judged: `iss` and `sub` the
/// client_id, `exp` at most five minutes ahead, a `jti` not used before.
fn check_claims(
    shared: &Shared,
    client: &Client,
    claims: AssertionClaims,
) -> Result<(), ClientAuthError> {
    let faults = &shared.faults;
    let optional = faults.has("client-assertion-claims-optional");
    let sub_ok = claims.sub.as_deref() == Some(&client.client_id)
        || faults.has("client-assertion-sub-not-checked")
        || optional && claims.sub.is_none();
    let iss_ok = claims.iss.as_deref() == Some(&client.client_id)
        || faults.has("client-assertion-iss-not-checked")
        || optional && claims.iss.is_none();
    if !iss_ok || !sub_ok {
        return Err(invalid(
            "the client assertion's iss and sub must be the client_id",
        ));
    }
    let exp = match claims.exp {
        Some(exp) => exp,
        None if optional => now(),
        None => return Err(invalid("the client assertion has no exp")),
    };
    if exp > now() + 300 + 30 && !faults.has("client-assertion-long-exp-accepted") {
        return Err(invalid(
            "the client assertion's exp is more than five minutes ahead",
        ));
    }
    let jti = claims
        .jti
        .ok_or_else(|| invalid("the client assertion has no jti"))?;
    let fresh = shared
        .store
        .lock()
        .seen_jtis
        .insert((client.client_id.clone(), jti));
    if !fresh && !faults.has("client-assertion-jti-replay") {
        return Err(invalid("the client assertion's jti was used before"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused() {
        assert!(Params::parse("a=1&b=2").is_ok());
        assert!(Params::parse("a=1&a=2").is_err());
        let p = Params::parse("a=&b=x%20y").unwrap();
        assert_eq!(p.get("a"), None);
        assert_eq!(p.get("b"), Some("x y"));
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let mut headers = HeaderMap::new();
        let raw = base64::engine::general_purpose::STANDARD.encode("my%3Aid:s%2Bcret");
        headers.insert(
            header::AUTHORIZATION,
            format!("Basic {raw}").parse().unwrap(),
        );
        let (id, secret) = basic_credentials(&headers).unwrap().unwrap();
        assert_eq!((id.as_str(), secret.as_str()), ("my:id", "s+cret"));
    }
}
