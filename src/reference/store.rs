//! The reference server's state, in memory: registered clients, pending authorizations, codes,
//! tokens, launch contexts and seen assertion ids.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use base64::Engine;
use rand::RngCore;
use serde_json::Value;

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A fresh high-entropy opaque value (256 bits, base64url), for ids, secrets, codes and tokens.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// How a client authenticates at the token endpoint (RFC 7591 §2 `token_endpoint_auth_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    None,
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
}

impl AuthMethod {
    pub fn parse(s: &str) -> Option<AuthMethod> {
        match s {
            "none" => Some(AuthMethod::None),
            "client_secret_basic" => Some(AuthMethod::ClientSecretBasic),
            "client_secret_post" => Some(AuthMethod::ClientSecretPost),
            "private_key_jwt" => Some(AuthMethod::PrivateKeyJwt),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::None => "none",
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
        }
    }

    pub fn uses_secret(self) -> bool {
        matches!(
            self,
            AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost
        )
    }
}

/// A registered client (RFC 7591 §2 metadata, validated).
#[derive(Debug, Clone)]
pub struct Client {
    pub client_id: String,
    pub client_secret: Option<String>,
    pub registration_access_token: String,
    pub issued_at: i64,
    pub auth_method: AuthMethod,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub response_types: Vec<String>,
    /// The scopes the client may ask for (space separated), if it registered a limit.
    pub scope: Option<String>,
    pub jwks: Option<Value>,
    pub jwks_uri: Option<String>,
    /// Every metadata field as registered, echoed on read (RFC 7591 §3.2.1).
    pub metadata: serde_json::Map<String, Value>,
}

/// The launch context of one authorization: who, which patient, which encounter.
#[derive(Debug, Clone, Default)]
pub struct Grant {
    pub client_id: String,
    pub scope: String,
    pub username: Option<String>,
    pub fhir_user: Option<String>,
    pub patient: Option<String>,
    pub encounter: Option<String>,
    /// Further launch context (SMART 2.2 `fhirContext`), as relative references.
    pub fhir_context: Vec<String>,
    pub nonce: Option<String>,
    /// Until when a refresh token may renew the grant (Unix seconds).
    pub approval_expires: i64,
    /// The FHIR base the tokens are for (an authorization's `aud`); `None` for tokens that
    /// name none (backend services, debug tokens), which every base of this server takes.
    pub aud: Option<String>,
}

/// An authorization request between the authorize call and the consent decision.
#[derive(Debug, Clone)]
pub struct Pending {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    /// The EHR launch this authorization belongs to.
    pub launch: Option<Launch>,
    pub username: Option<String>,
    pub patient: Option<String>,
    /// The FHIR base the tokens are for (`aud`), without a trailing slash.
    pub aud: Option<String>,
    pub created: i64,
}

/// An EHR launch context made by the EHR simulator.
#[derive(Debug, Clone)]
pub struct Launch {
    pub patient: Option<String>,
    pub encounter: Option<String>,
    pub fhir_context: Vec<String>,
    pub created: i64,
}

#[derive(Debug, Clone)]
pub struct Code {
    pub grant: Grant,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub expires: i64,
    pub used: bool,
    /// Tokens issued for this code, revoked if the code is presented again (RFC 6749 §4.1.2).
    pub issued: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct AccessToken {
    pub grant: Grant,
    pub expires: i64,
    pub issued_at: i64,
    pub refresh_token: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RefreshToken {
    pub grant: Grant,
}

#[derive(Default)]
pub struct State {
    pub clients: HashMap<String, Client>,
    pub pending: HashMap<String, Pending>,
    pub launches: HashMap<String, Launch>,
    pub codes: HashMap<String, Code>,
    pub access_tokens: HashMap<String, AccessToken>,
    pub refresh_tokens: HashMap<String, RefreshToken>,
    /// `(client_id, jti)` of client assertions already accepted, for replay protection.
    pub seen_jtis: HashSet<(String, String)>,
    /// Client JWK Sets fetched from `jwks_uri`, by URL, with when they go stale (Unix seconds).
    pub jwks_cache: HashMap<String, (Value, i64)>,
    /// Every `jwks_uri` fetched so far.
    pub jwks_fetched: HashSet<String>,
    /// SMART App State (`Basic`) resources.
    pub app_states: super::app_state::AppStates,
    /// Sign-in sessions by cookie value: the user, and when they signed in (Unix seconds).
    /// A browser that signed in is not asked again, as at real servers.
    pub sign_ins: HashMap<String, (String, i64)>,
}

/// The server's state behind one lock; handlers hold it only briefly and never across an await.
#[derive(Default)]
pub struct Store(Mutex<State>);

impl Store {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        // A handler that panicked while holding the lock leaves consistent maps behind (every
        // change is a single insert or remove), so a poisoned lock is still usable.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    /// Issues an access token (and a refresh token when `with_refresh`) for a grant.
    pub fn issue(&mut self, grant: &Grant, lifetime: i64, with_refresh: bool) -> IssuedTokens {
        let access = random_token();
        let refresh = with_refresh.then(random_token);
        let issued_at = now();
        self.access_tokens.insert(
            access.clone(),
            AccessToken {
                grant: grant.clone(),
                expires: issued_at + lifetime,
                issued_at,
                refresh_token: refresh.clone(),
            },
        );
        if let Some(refresh) = &refresh {
            self.refresh_tokens.insert(
                refresh.clone(),
                RefreshToken {
                    grant: grant.clone(),
                },
            );
        }
        IssuedTokens {
            access_token: access,
            refresh_token: refresh,
            expires_in: lifetime,
        }
    }

    /// An access token that is known and not expired.
    pub fn active_access_token(&self, token: &str) -> Option<&AccessToken> {
        self.access_tokens.get(token).filter(|t| t.expires > now())
    }

    /// Forgets a client and everything issued to it.
    pub fn remove_client(&mut self, client_id: &str) {
        self.clients.remove(client_id);
        self.access_tokens
            .retain(|_, t| t.grant.client_id != client_id);
        self.refresh_tokens
            .retain(|_, t| t.grant.client_id != client_id);
        self.codes.retain(|_, c| c.grant.client_id != client_id);
    }
}

pub struct IssuedTokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: i64,
}
