//! The built-in steps' own fields: one type per action (`client`, `authorize`,
//! `exchange-code`, ...) and the choices they take.

use super::*;

/// How a client authenticates at the token endpoint (RFC 7591 §2 `token_endpoint_auth_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
pub enum AuthMethod {
    /// A public client: `client_id` in the body, no authentication.
    #[serde(rename = "none")]
    None,
    #[serde(rename = "client_secret_basic")]
    ClientSecretBasic,
    #[serde(rename = "client_secret_post")]
    ClientSecretPost,
    #[serde(rename = "private_key_jwt")]
    PrivateKeyJwt,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::None => "none",
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
        }
    }

    pub fn has_secret(self) -> bool {
        matches!(
            self,
            AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost
        )
    }
}

/// Signing algorithms for client assertions (SMART App Launch: RS384 and ES384).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema, serde::Serialize)]
pub enum AssertionAlg {
    #[default]
    RS384,
    ES384,
}

impl AssertionAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            AssertionAlg::RS384 => "RS384",
            AssertionAlg::ES384 => "ES384",
        }
    }
}

/// `client`: the client a case uses. With the target's `registration: dynamic` it is registered
/// (RFC 7591) at the start of the case and deleted (RFC 7592) at its end; with
/// `registration: static` it is the target's client for this authentication method.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ClientAction {
    pub auth_method: AuthMethod,
    /// The assertion algorithm of a `private_key_jwt` client.
    #[serde(default)]
    pub alg: AssertionAlg,
    /// The registration endpoint (dynamic registration), usually
    /// `"{{ steps.config.json.registration_endpoint }}"`.
    #[serde(default)]
    pub registration_endpoint: Option<String>,
    /// The scope to register (dynamic registration).
    #[serde(default)]
    pub scope: Option<String>,
    /// The grant types to register.
    #[serde(default = "default_grant_types")]
    pub grant_types: Vec<String>,
    /// The `client_name` registered (dynamic registration; default `smartcheck CASE`).
    #[serde(default)]
    pub client_name: Option<String>,
    /// A second client of this kind, for cases that present one client's code or token as
    /// another's: registered anew (dynamic), or the target's `other-clients` entry (static;
    /// skipped with the reason when it names none).
    #[serde(default)]
    pub second: bool,
    /// How a `private_key_jwt` client registers its keys: `inline` (`jwks`) or `uri` (`jwks_uri`:
    /// the target's `client-jwks-url`, else the case's listener when the server is on
    /// loopback; otherwise the step is skipped with the reason).
    #[serde(default)]
    pub jwks: JwksChoice,
    /// What discovery must say for the server to offer this kind of client (conditions as in
    /// `when`). A client to be registered is skipped, with the reason, when they do not hold;
    /// a static client the target names is used whatever discovery says (the target's client
    /// shows the server has it, and a server that serves it unadvertised is still tested).
    #[serde(default)]
    pub offered: Option<When>,
    /// Register a second redirect URI besides the listener's callback (dynamic registration
    /// only), for `redirect-uri: omitted`.
    #[serde(default)]
    pub second_redirect_uri: bool,
}

/// How a client registers its JWK Set (SMART 2.2 §Client Authentication: Asymmetric).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum JwksChoice {
    #[default]
    Inline,
    Uri,
    /// Inline, with a second RSA key (not the client's) under the client's RS384 `kid`: a
    /// server must refuse an assertion whose `kid` matches more than one key (SMART 2.2
    /// asymmetric client authentication, step 3), or refuse the set at registration.
    DuplicateKid,
}

/// `client-jwks`: what the case's listener serves as the client's JWK Set (for a client
/// registered with `jwks: uri`), and how often the server fetched it. Without `keys` it only
/// reports. The result: `fetches`, `fetches_since_change` (since the content or header last
/// changed), `url`, and `token_status` when asked for.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ClientJwksAction {
    /// The `kid`s of the harness's client keys to serve (`client-rs384`, `client-es384`).
    #[serde(default)]
    pub keys: Option<Vec<String>>,
    /// The `Cache-Control` header served with it (`no-store` unless given).
    #[serde(default)]
    pub cache_control: Option<String>,
    /// The status of the token request to judge, e.g. `"{{ steps.token.status }}"` (result
    /// `token_status`). When given and the server never fetched the set, the step is skipped:
    /// a server may refuse to fetch from loopback (SSRF protection), which says nothing about
    /// its support for `jwks_uri`.
    #[serde(default)]
    pub token_status: Option<String>,
}

pub(super) fn default_grant_types() -> Vec<String> {
    vec!["authorization_code".into(), "refresh_token".into()]
}

/// How the authorization starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LaunchKind {
    /// The app opens the authorize endpoint itself.
    #[default]
    Standalone,
    /// The EHR opens the app's launch URL with `iss` and `launch` (the target's `ehr-launch`),
    /// within this step; an `ehr-launch` step before it (named by `authorize.ehr-launch`) lets
    /// the case discover from the launch's `iss` first, as an app does.
    Ehr,
}

/// How the authorization request is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AuthorizeMethod {
    #[default]
    Get,
    /// A form POST (`authorize-post` capability).
    Post,
}

/// The PKCE parameters sent (RFC 7636).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PkceMode {
    #[default]
    S256,
    Plain,
    /// No `code_challenge` at all.
    None,
}

/// Which redirect URI the authorization request names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RedirectChoice {
    #[default]
    Registered,
    /// A URI on the listener that was never registered: the server must not redirect to it.
    Unregistered,
    /// The registered URI with one more path segment (`/smartcheck-extra`): a server that
    /// compares by prefix redirects there (RFC 6749 §3.1.2.3 asks for simple string comparison).
    ExtraSegment,
    /// The registered URI with a query parameter added (`smartcheck-extra=1`).
    ExtraQuery,
    /// The registered URI with its path in upper case: paths compare case-sensitively.
    OtherCase,
    /// No `redirect_uri` at all, from a client that registered two (`second-redirect-uri`):
    /// the server cannot know where to send the answer.
    Omitted,
}

/// What the person in the browser does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Interaction {
    /// Sign in, choose the patient, approve (the target's `sign-in`, `patient`, `authorize`).
    #[default]
    Approve,
    /// Sign in, choose the patient, deny (the target's `deny` steps).
    Deny,
    /// Nothing: open the URL and see whether the server redirects by itself (refusals).
    None,
}

/// `authorize`: state, nonce and PKCE made fresh, the browser through the target's screens, and
/// the redirect caught on the case's loopback listener.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AuthorizeAction {
    /// The authorization endpoint, usually `"{{ steps.config.json.authorization_endpoint }}"`.
    pub endpoint: String,
    /// The id of the `client` step whose client asks.
    #[serde(default = "default_client_step")]
    pub client: String,
    pub scope: String,
    #[serde(default)]
    pub launch: LaunchKind,
    /// The earlier `ehr-launch` step this authorization continues: its `launch` is sent, its
    /// `iss` is the `aud` (unless `aud` is given), and the browser session the EHR opened is
    /// kept.
    #[serde(default)]
    pub ehr_launch: Option<String>,
    #[serde(default)]
    pub method: AuthorizeMethod,
    #[serde(default)]
    pub pkce: PkceMode,
    /// The `aud` sent; the target's FHIR base unless given.
    #[serde(default)]
    pub aud: Option<String>,
    /// Send no `aud` at all (a negative case: SMART requires the app to send one).
    #[serde(default)]
    pub without_aud: bool,
    /// Send no `scope` at all (RFC 6749 §3.3: the server uses a default or fails with
    /// `invalid_scope`).
    #[serde(default)]
    pub without_scope: bool,
    /// Parameters added to the request as they are (a negative case's unknown parameter, which
    /// RFC 6749 §3.1 says the server MUST ignore); a SMART parameter is never replaced.
    #[serde(default)]
    pub extra_params: BTreeMap<String, String>,
    #[serde(default)]
    pub redirect_uri: RedirectChoice,
    #[serde(default)]
    pub interaction: Interaction,
    /// The server is expected to stop this authorization: a screen step that cannot be played
    /// (an error page instead of the login) is a finding for the checks, not an error.
    #[serde(default)]
    pub expect_refusal: bool,
    /// Send this `client_id` instead of the client's (a client the server never registered).
    #[serde(default)]
    pub client_id: Option<String>,
    /// Send this `response_type` instead of `code` (a template).
    #[serde(default)]
    pub response_type: Option<String>,
}

pub(super) fn default_client_step() -> String {
    "client".into()
}

/// The `code_verifier` a code exchange sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum VerifierChoice {
    /// The verifier of the authorization.
    #[default]
    Match,
    Missing,
    Blank,
    /// A fresh verifier that does not belong to the challenge.
    Wrong,
    /// The `code_challenge` sent as the verifier.
    Challenge,
}

/// How the client authenticates in a token request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ClientAuthChoice {
    /// As the client is registered.
    #[default]
    Registered,
    /// A wrong client secret (confidential symmetric clients).
    WrongSecret,
    /// No client authentication at all: only `client_id` in the body, as a public client sends.
    None,
    /// A client assertion signed with a key that is not the client's, its `kid` kept
    /// (confidential asymmetric clients signing with RS384).
    WrongKey,
}

/// `exchange-code`: the authorization-code token request (RFC 6749 §4.1.3) with the client's
/// authentication.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ExchangeCodeAction {
    /// The token endpoint, usually `"{{ steps.config.json.token_endpoint }}"`.
    pub endpoint: String,
    /// The id of the `authorize` step whose code, verifier and redirect URI are used.
    pub from: String,
    /// The id of the `client` step that asks; the authorizing client unless given.
    #[serde(default)]
    pub client: Option<String>,
    /// Send this code instead of the one the authorization returned.
    #[serde(default)]
    pub code: Option<String>,
    /// Send this redirect_uri instead of the authorization's.
    #[serde(default)]
    pub redirect_uri: Option<String>,
    /// Leave `redirect_uri` out, although the authorization request sent one (RFC 6749 §4.1.3
    /// requires it then).
    #[serde(default)]
    pub without_redirect_uri: bool,
    #[serde(default)]
    pub verifier: VerifierChoice,
    #[serde(default)]
    pub client_auth: ClientAuthChoice,
    /// The `Origin` header a browser app's request carries, e.g.
    /// `"{{ steps.client.json.redirect_uris.0 | origin }}"` (for CORS checks).
    #[serde(default)]
    pub origin: Option<String>,
}

/// `verify-id-token`: the id_token's signature against the issuer's JWKS, and its claims.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct VerifyIdTokenAction {
    /// The id_token, usually `"{{ steps.token.json.id_token }}"`.
    pub token: String,
    /// The JWKS URL, usually `"{{ steps.config.json.jwks_uri }}"`.
    pub jwks_uri: String,
    /// The `client` step whose client_id must be in `aud`.
    #[serde(default = "default_client_step")]
    pub client: String,
    /// The signing algorithms the server advertises (a template naming a JSON array, e.g.
    /// OpenID discovery's `id_token_signing_alg_values_supported`); `RS256` unless given.
    #[serde(default)]
    pub algs: Option<String>,
}

/// `debug-token`: a token from an S4S-style debug endpoint, for targets a browser cannot drive.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DebugTokenAction {
    /// The debug endpoint; the target's `debug-token-endpoint` unless given.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The `client` step the token is issued to.
    #[serde(default = "default_client_step")]
    pub client: String,
    pub scope: String,
    /// The user; the target's `vars.user` unless given.
    #[serde(default)]
    pub user: Option<String>,
    /// The patient; the target's `vars.patient` unless given.
    #[serde(default)]
    pub patient: Option<String>,
    /// `access_lifetime`: the access token's lifetime in seconds.
    #[serde(default)]
    pub access_lifetime: Option<u64>,
    /// `approval_expires`: when the approval (and the refresh token) ends, in seconds from now.
    #[serde(default)]
    pub approval_expires_in: Option<u64>,
}

/// `client-credentials`: the SMART Backend Services token request (RFC 6749 §4.4 with an RFC 7523
/// client assertion), with overrides that make the assertion wrong in one way for negative cases.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ClientCredentialsAction {
    /// The token endpoint, usually `"{{ steps.config.json.token_endpoint }}"`.
    pub endpoint: String,
    /// The `client` step of a `private_key_jwt` client.
    #[serde(default = "default_client_step")]
    pub client: String,
    pub scope: String,
    #[serde(default)]
    pub assertion: AssertionTweaks,
    /// Send again the very assertion of this earlier `client-credentials` step (a replayed `jti`).
    #[serde(default)]
    pub replay: Option<String>,
    /// Send this `grant_type` instead of `client_credentials`.
    #[serde(default)]
    pub grant_type: Option<String>,
    /// Send no `grant_type` at all (a request missing a required parameter).
    #[serde(default)]
    pub without_grant_type: bool,
    /// Send this `client_assertion_type` instead of the JWT bearer type (RFC 7523 §2.2).
    #[serde(default)]
    pub assertion_type: Option<String>,
}

/// Ways to make a client assertion wrong on purpose.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AssertionTweaks {
    /// `aud` other than the token endpoint.
    #[serde(default)]
    pub aud: Option<String>,
    /// Seconds from now to `exp` (300 unless given; negative for an expired assertion).
    #[serde(default)]
    pub lifetime: Option<i64>,
    /// `sub` other than the client_id (`iss` stays the client_id, which names the client).
    #[serde(default)]
    pub sub: Option<String>,
    /// `iss` other than the client_id (`sub` stays the client_id).
    #[serde(default)]
    pub iss: Option<String>,
    /// This `kid` in the header instead of the client's.
    #[serde(default)]
    pub kid: Option<String>,
    /// HS256, with the client's own public key as the HMAC secret, in the SPKI PEM a server turns
    /// a registered JWK into (an algorithm-confusion attack).
    #[serde(default)]
    pub hs256_with_public_key: bool,
    /// `alg: none` and no signature.
    #[serde(default)]
    pub unsigned: bool,
    /// Signed with a key that is not the client's (its `kid` kept).
    #[serde(default)]
    pub wrong_key: bool,
    /// Claims left out of the assertion (RFC 7523 §3 requires `iss`, `sub`, `aud` and `exp`).
    #[serde(default)]
    pub omit: Vec<AssertionClaim>,
    /// Seconds from now to an `nbf` (not before) claim: a positive value makes an assertion
    /// that is not valid yet.
    #[serde(default)]
    pub not_before: Option<i64>,
    /// A `jku` header naming this JWK Set URL (one the client never registered: the server
    /// must not fetch keys from it, SMART 2.2 client-confidential-asymmetric step 1).
    #[serde(default)]
    pub jku: Option<String>,
}

/// A claim of a client assertion that a negative case may leave out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AssertionClaim {
    Iss,
    Sub,
    Aud,
    Exp,
    Jti,
}

impl AssertionClaim {
    pub fn name(self) -> &'static str {
        match self {
            AssertionClaim::Iss => "iss",
            AssertionClaim::Sub => "sub",
            AssertionClaim::Aud => "aud",
            AssertionClaim::Exp => "exp",
            AssertionClaim::Jti => "jti",
        }
    }
}

/// Which refresh token a `refresh` step presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RefreshTokenChoice {
    /// The newest refresh token of the chain: the `from` step's, or the one a later refresh
    /// of it returned when the server rotates them.
    #[default]
    Current,
    /// The refresh token a rotation replaced (skipped when the server does not rotate).
    Rotated,
    /// A refresh token the server never issued.
    Garbage,
}

/// `refresh`: `grant_type=refresh_token` at the token endpoint (RFC 6749 §6; SMART App Launch
/// "refresh access token"). The refresh tokens of one chain are followed: when a refresh returns
/// a new refresh token, the next `refresh` of the chain presents that one.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RefreshAction {
    /// The token endpoint, usually `"{{ steps.config.json.token_endpoint }}"`.
    pub endpoint: String,
    /// The step whose token response holds the refresh token (`exchange-code`, `debug-token`,
    /// or an earlier `refresh` of the chain).
    pub from: String,
    /// The `client` step that asks.
    #[serde(default = "default_client_step")]
    pub client: String,
    /// The `scope` sent; none unless given.
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub refresh_token: RefreshTokenChoice,
    #[serde(default)]
    pub client_auth: ClientAuthChoice,
}

/// How an introspection or revocation request is authorized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CallerAuth {
    /// The target's `introspection-auth` header when it has one (introspection only), else the
    /// client's token-endpoint authentication.
    #[default]
    Client,
    /// Nothing: no header, no client credentials (only `client_id` for revocation by a public
    /// client).
    None,
}

/// `introspect`: POST `token` to the introspection endpoint (RFC 7662 §2.1).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct IntrospectAction {
    /// The introspection endpoint, usually `"{{ steps.config.json.introspection_endpoint }}"`.
    pub endpoint: String,
    /// The token to introspect, e.g. `"{{ steps.token.json.access_token }}"`.
    pub token: String,
    #[serde(default)]
    pub token_type_hint: Option<String>,
    /// The `client` step whose authentication is used.
    #[serde(default = "default_client_step")]
    pub client: String,
    #[serde(default)]
    pub auth: CallerAuth,
    /// Authenticate with this bearer token (a SMART App or Backend Service access token, SMART
    /// 2.2 §Token Introspection) instead of the client's authentication.
    #[serde(default)]
    pub bearer: Option<String>,
}

/// `revoke`: POST `token` to the revocation endpoint (RFC 7009 §2.1) with the client's
/// authentication.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RevokeAction {
    /// The revocation endpoint, usually `"{{ steps.config.json.revocation_endpoint }}"`.
    pub endpoint: String,
    /// The token to revoke.
    pub token: String,
    /// `access_token` or `refresh_token` (RFC 7009 §2.1).
    #[serde(default)]
    pub token_type_hint: Option<String>,
    /// The `client` step the token was issued to.
    #[serde(default = "default_client_step")]
    pub client: String,
    /// `none` sends no client authentication (only `client_id`), which a confidential client's
    /// revocation must not be taken without (RFC 7009 §2.1).
    #[serde(default)]
    pub client_auth: ClientAuthChoice,
}

/// How a FHIR request carries its access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TokenPlacement {
    /// `Authorization: Bearer <token>` (RFC 6750 §2.1).
    #[default]
    Header,
    /// `?access_token=<token>` (RFC 6750 §2.3, which servers should not accept).
    Query,
}

/// `discover`: the SMART endpoints and capabilities of a FHIR base, wherever the server
/// publishes them.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DiscoverAction {
    /// The FHIR base whose documents are read; the target's unless given (an EHR launch's
    /// `iss`, for example).
    #[serde(default)]
    pub base: Option<String>,
}

/// `ehr-launch`: the target's EHR launch (`ehr-launch.url` with the app's launch URL, and its
/// `sign-in` screens), up to the moment the EHR opens the app's launch URL. The result:
/// `iss`, `launch`, `params` (every launch parameter) and `url` (the EHR URL opened).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct EhrLaunchAction {}

/// `wait-for-expiry`: waits until a token's `expires_in` (plus a second) has passed, when the
/// target's `token-expiry-wait` allows that long; otherwise the step (and the steps that need
/// it) is skipped with the token's lifetime as the reason. With `code: true` it holds an
/// authorization code instead: for the target's `code-expiry-wait`, at most ten minutes and a
/// second (RFC 6749 §4.1.2's recommended longest lifetime, past which any code may be judged).
/// The result: `waited_seconds`, and for a code `past_recommended_lifetime`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WaitForExpiryAction {
    /// The token's lifetime in seconds, e.g. `"{{ steps.token.json.expires_in }}"`.
    #[serde(default)]
    pub expires_in: Option<String>,
    /// Wait for an authorization code, whose lifetime no answer states.
    #[serde(default)]
    pub code: bool,
}

/// `brand-bundle`: a User Access Brand Bundle (SMART App Launch 2.2 §User Access Brands) that an
/// earlier step fetched, read against the smart-configuration that links it. The result:
/// `brands` and `endpoints` (how many Organizations and Endpoints), `unreferenced_endpoints`
/// (Endpoints no Organization references), `other_resources` (entries of other types),
/// `endpoint_addresses`, `lists_fhir_base` (an Endpoint's address is the FHIR base),
/// `last_updated_missing` (resources without `meta.lastUpdated` where others have one),
/// `identifier` (the primary Brand's identifier, or null), `identifier_matches` (how many
/// Organization identifiers match it, null without one) and, when the Bundle has several
/// Brands and no identifier says which is primary, `missing_identifier` (why that matters).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BrandBundleAction {
    /// The Bundle, e.g. `"{{ steps.bundle.json }}"`.
    pub bundle: String,
    /// `user_access_brand_identifier`, e.g. `"{{ steps.config.json.user_access_brand_identifier }}"`;
    /// a value that is absent counts as none given.
    #[serde(default)]
    pub identifier: Option<String>,
    /// The FHIR base the Bundle should list; the target's unless given.
    #[serde(default)]
    pub fhir_base: Option<String>,
}

/// `fhir-read`: `GET [base]/[type]/[id]` with `Accept: application/fhir+json`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FhirReadAction {
    /// The FHIR base; the target's unless given.
    #[serde(default)]
    pub base: Option<String>,
    /// The resource type, or a reference `Type/id` (relative or absolute) when `id` is not given.
    #[serde(rename = "type")]
    pub resource_type: String,
    #[serde(default)]
    pub id: Option<String>,
    /// The access token; without it the request carries none.
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub token_in: TokenPlacement,
}

/// `fhir-search`: `GET [base]/[type]?params` with `Accept: application/fhir+json`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FhirSearchAction {
    /// The FHIR base; the target's unless given.
    #[serde(default)]
    pub base: Option<String>,
    #[serde(rename = "type")]
    pub resource_type: String,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub token_in: TokenPlacement,
}

/// `target-reads`: every read the target lists under `reads`, with the token. The result is a
/// document: `count`, `reads` (each with its request, status and what came back) and
/// `failures` (one line per read that did not return its resource). Skipped when the target
/// lists none.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TargetReadsAction {
    /// The access token.
    pub token: String,
}

/// `register`: POST the client metadata as JSON to the registration endpoint (RFC 7591 §3.1),
/// with the target's initial access token when it has one. The registration is deleted at the end
/// of the case unless a `delete-registration` step did it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RegisterAction {
    /// The registration endpoint, usually `"{{ steps.config.json.registration_endpoint }}"`;
    /// the target's `registration-endpoint` wins when set.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The client metadata (templates allowed in string values).
    pub metadata: serde_json::Value,
}

/// The registration access token an RFC 7592 request presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RegistrationToken {
    /// The `registration_access_token` of the registration.
    #[default]
    Registered,
    /// No `Authorization` header.
    None,
    /// A token that is not the registration's.
    Wrong,
}

/// `read-registration`, `update-registration`, `delete-registration` (RFC 7592 §2): a request
/// to the `registration_client_uri` of a `register` step's registration. Skipped when the
/// registration has no `registration_client_uri` (RFC 7591 without RFC 7592).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ManageAction {
    /// The id of the `register` step.
    pub from: String,
    #[serde(default)]
    pub token: RegistrationToken,
    /// `update-registration` only: the full replacement metadata; the registration's
    /// `client_id` is added unless given.
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
}
