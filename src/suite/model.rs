//! The suite file format: suites of cases of steps with declarative checks (serde + JSON Schema).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::ops::{JsonType, Op};
use super::position::Location;

mod actions;

pub use actions::*;

/// A suite: reusable cases that check one specification.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Suite {
    /// Stable kebab-case id; the middle part of every test name (`target::suite::case`).
    pub suite: String,
    /// One line saying what the suite checks.
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The specification the suite checks.
    pub spec: SpecRef,
    /// The SMART major versions (a target's `smart-version`) the suite runs against; the
    /// spec's major version unless given (`[1, 2]` for flows that STU1 servers have too).
    #[serde(default)]
    pub smart_versions: Vec<u32>,
    /// Reusable check lists, used by steps with `use-checks: [NAME]` (besides the built-in
    /// groups of `suites/lib/check-groups.yaml`). Each use prefixes the check ids with the case id.
    #[serde(default)]
    pub groups: BTreeMap<String, Vec<Check>>,
    pub cases: Vec<Case>,
    /// The file the suite came from (set by the loader).
    #[serde(skip)]
    #[schemars(skip)]
    pub file: String,
    /// Where the suite reads a target's `secrets` and `vars` (set by the loader): a run
    /// checks them against each target before it starts.
    #[serde(skip)]
    #[schemars(skip)]
    pub target_refs: Vec<TargetRef>,
}

/// A `{{ secrets.NAME }}` or `{{ target.vars.NAME }}` in a suite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRef {
    /// `secrets` or `vars`.
    pub map: &'static str,
    pub name: String,
    pub location: Location,
}

/// Which specification a suite checks.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SpecRef {
    /// e.g. `SMART App Launch`.
    pub name: String,
    /// e.g. `2.2.0`. The major version decides which targets run the suite
    /// (see the target's `smart-version`).
    pub version: String,
    pub url: String,
}

impl SpecRef {
    /// The major version number (`2` for `2.2.0`), if the version starts with one.
    pub fn major(&self) -> Option<u32> {
        self.version.split('.').next().and_then(|m| m.parse().ok())
    }
}

/// One flow with its own state: steps run in order, later steps read what earlier ones kept.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Case {
    /// Stable kebab-case id, unique in the suite.
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The SMART major versions the case applies to, when fewer than the suite's (PKCE
    /// refusals are SMART 2 rules).
    #[serde(default)]
    pub smart_versions: Vec<u32>,
    pub steps: Vec<Step>,
    /// The case run once per variant, each with its own values for `{{ variant.NAME }}` (read
    /// when the suite loads, anywhere in the case): `[{ vars: { alg: RS384 } }, { id: es384,
    /// vars: { alg: ES384 } }]`. A variant with an `id` adds `-ID` to the case id and to the
    /// id of each check the case writes out; one variant may go without, keeping the ids.
    #[serde(default)]
    pub variants: Vec<CaseVariant>,
    #[serde(skip)]
    #[schemars(skip)]
    pub location: Location,
}

/// One variant of a case (see [`Case::variants`]); the loader expands them into cases.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CaseVariant {
    /// Added, after a `-`, to the case id and its check ids (`es384`).
    #[serde(default)]
    pub id: Option<String>,
    /// The values of `{{ variant.NAME }}`; every variant of a case gives the same names.
    pub vars: BTreeMap<String, String>,
}

impl Suite {
    /// The target `smart-version`s the suite runs against.
    pub fn versions(&self) -> Vec<u32> {
        if self.smart_versions.is_empty() {
            self.spec.major().into_iter().collect()
        } else {
            self.smart_versions.clone()
        }
    }

    /// Whether a case of the suite applies to a target of this SMART major version.
    pub fn case_applies(&self, case: &Case, version: u32) -> bool {
        self.versions().contains(&version)
            && (case.smart_versions.is_empty() || case.smart_versions.contains(&version))
    }
}

/// One action against the server, and the checks on its result.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Step {
    /// Id, unique in the case; later steps read this step's result as `{{ steps.ID... }}`.
    pub id: String,
    #[serde(default)]
    pub title: Option<String>,
    /// Run the step only when this holds (a condition, or a list that must all hold);
    /// otherwise it and its checks are skipped with a reason.
    #[serde(default)]
    pub when: Option<When>,
    /// Earlier steps that must have succeeded (run, and none of their checks failed or
    /// errored) for this one to mean anything; otherwise it is skipped with the reason. For
    /// order that no template shows: a read that checks a revoked token needs the revocation.
    #[serde(default)]
    pub needs: Vec<String>,
    /// For a refusal: the step of this case (before or after) that sends the matching valid
    /// request. The refusal's checks pass only if that step succeeded; otherwise they are
    /// errored with "no positive control", since a server that refuses everything would pass
    /// them too.
    #[serde(default)]
    pub control: Option<String>,
    /// A plain HTTP request. A step has exactly one action: `request` or one built-in.
    #[serde(default)]
    pub request: Option<HttpRequest>,
    /// Built-in: the server's SMART endpoints and capabilities, from smart-configuration, the
    /// CapabilityStatement's oauth-uris (STU1 servers), and the target's `discovery` values.
    #[serde(default)]
    pub discover: Option<DiscoverAction>,
    /// Built-in: the target's EHR opens the app's launch URL (`ehr-launch` in the target);
    /// the result is the launch's `iss` and `launch`, for `discover` and `authorize`.
    #[serde(default)]
    pub ehr_launch: Option<EhrLaunchAction>,
    /// Built-in: obtain a client for the case (registered per run, or the target's static one).
    #[serde(default)]
    pub client: Option<ClientAction>,
    /// Built-in: an authorization request through the browser, caught by the callback listener.
    #[serde(default)]
    pub authorize: Option<AuthorizeAction>,
    /// Built-in: the token request that exchanges an authorization code.
    #[serde(default)]
    pub exchange_code: Option<ExchangeCodeAction>,
    /// Built-in: verify an OpenID Connect id_token against the issuer's JWKS.
    #[serde(default)]
    pub verify_id_token: Option<VerifyIdTokenAction>,
    /// Built-in: a token from an S4S-style debug endpoint (`POST /oauth/debug/token`).
    #[serde(default)]
    pub debug_token: Option<DebugTokenAction>,
    /// Built-in: SMART Backend Services, a client_credentials token request with a signed
    /// assertion.
    #[serde(default)]
    pub client_credentials: Option<ClientCredentialsAction>,
    /// Built-in: a refresh token request (RFC 6749 §6) with the client's authentication.
    #[serde(default)]
    pub refresh: Option<RefreshAction>,
    /// Built-in: a token introspection request (RFC 7662).
    #[serde(default)]
    pub introspect: Option<IntrospectAction>,
    /// Built-in: a token revocation request (RFC 7009).
    #[serde(default)]
    pub revoke: Option<RevokeAction>,
    /// Built-in: a FHIR read (`GET [base]/[type]/[id]`) with a bearer token.
    #[serde(default)]
    pub fhir_read: Option<FhirReadAction>,
    /// Built-in: a FHIR search (`GET [base]/[type]?params`) with a bearer token.
    #[serde(default)]
    pub fhir_search: Option<FhirSearchAction>,
    /// Built-in: the extra reads the target lists (`reads`), each with the token.
    #[serde(default)]
    pub target_reads: Option<TargetReadsAction>,
    /// Built-in: set what the case's listener serves as the client's JWK Set; report fetches.
    #[serde(default)]
    pub client_jwks: Option<ClientJwksAction>,
    /// Built-in: wait until an access token has expired, if the target allows that long.
    #[serde(default)]
    pub wait_for_expiry: Option<WaitForExpiryAction>,
    /// Built-in: a User Access Brand Bundle read against the smart-configuration linking it.
    #[serde(default)]
    pub brand_bundle: Option<BrandBundleAction>,
    /// Built-in: an RFC 7591 registration request.
    #[serde(default)]
    pub register: Option<RegisterAction>,
    /// Built-in: RFC 7592 read of a registration.
    #[serde(default)]
    pub read_registration: Option<ManageAction>,
    /// Built-in: RFC 7592 update (full replacement) of a registration.
    #[serde(default)]
    pub update_registration: Option<ManageAction>,
    /// Built-in: RFC 7592 delete of a registration.
    #[serde(default)]
    pub delete_registration: Option<ManageAction>,
    /// Values kept in the case context as `{{ vars.NAME }}`.
    #[serde(default)]
    pub capture: BTreeMap<String, Capture>,
    /// Check groups (the suite's `groups` or the built-in ones) whose checks this step runs
    /// before its own, each id prefixed with the case id (`token-status` in case `standalone`
    /// is `standalone-token-status`).
    #[serde(default)]
    pub use_checks: Vec<String>,
    #[serde(default)]
    pub checks: Vec<Check>,
    #[serde(skip)]
    #[schemars(skip)]
    pub location: Location,
}

impl Step {
    /// The names of the actions set on the step (exactly one is valid).
    pub fn actions(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.request.is_some() {
            names.push("request");
        }
        if self.discover.is_some() {
            names.push("discover");
        }
        if self.ehr_launch.is_some() {
            names.push("ehr-launch");
        }
        if self.client.is_some() {
            names.push("client");
        }
        if self.authorize.is_some() {
            names.push("authorize");
        }
        if self.exchange_code.is_some() {
            names.push("exchange-code");
        }
        if self.verify_id_token.is_some() {
            names.push("verify-id-token");
        }
        if self.debug_token.is_some() {
            names.push("debug-token");
        }
        if self.client_credentials.is_some() {
            names.push("client-credentials");
        }
        if self.refresh.is_some() {
            names.push("refresh");
        }
        if self.introspect.is_some() {
            names.push("introspect");
        }
        if self.revoke.is_some() {
            names.push("revoke");
        }
        if self.fhir_read.is_some() {
            names.push("fhir-read");
        }
        if self.fhir_search.is_some() {
            names.push("fhir-search");
        }
        if self.target_reads.is_some() {
            names.push("target-reads");
        }
        if self.wait_for_expiry.is_some() {
            names.push("wait-for-expiry");
        }
        if self.client_jwks.is_some() {
            names.push("client-jwks");
        }
        if self.brand_bundle.is_some() {
            names.push("brand-bundle");
        }
        if self.register.is_some() {
            names.push("register");
        }
        if self.read_registration.is_some() {
            names.push("read-registration");
        }
        if self.update_registration.is_some() {
            names.push("update-registration");
        }
        if self.delete_registration.is_some() {
            names.push("delete-registration");
        }
        names
    }

    /// Whether the step's result is a document the harness made (not an HTTP response of the
    /// server), so that `status` and `header` checks do not apply.
    pub fn result_is_document(&self) -> bool {
        self.authorize.is_some()
            || self.ehr_launch.is_some()
            || self.verify_id_token.is_some()
            || self.target_reads.is_some()
            || self.brand_bundle.is_some()
            || self.wait_for_expiry.is_some()
            || self.client_jwks.is_some()
    }
}

/// The step names every action a step may take.
pub const ACTIONS: &[&str] = &[
    "request",
    "discover",
    "ehr-launch",
    "client",
    "authorize",
    "exchange-code",
    "verify-id-token",
    "debug-token",
    "client-credentials",
    "refresh",
    "introspect",
    "revoke",
    "fhir-read",
    "fhir-search",
    "target-reads",
    "wait-for-expiry",
    "client-jwks",
    "brand-bundle",
    "register",
    "read-registration",
    "update-registration",
    "delete-registration",
];

/// HTTP methods a step may use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    #[default]
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    Options,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Head => "HEAD",
            Method::Options => "OPTIONS",
        }
    }
}

/// A plain HTTP request. Every string may hold `{{ context.path }}` templates.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HttpRequest {
    #[serde(default)]
    pub method: Method,
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Query parameters appended to the URL (encoded by the harness).
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// An `application/x-www-form-urlencoded` body.
    #[serde(default)]
    pub form: Option<BTreeMap<String, String>>,
    /// A JSON body (`Content-Type: application/json`).
    #[serde(default)]
    pub json: Option<serde_json::Value>,
    /// A raw text body.
    #[serde(default)]
    pub body: Option<String>,
}

/// Where a captured value comes from: exactly one of `json`, `header`, `status`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Capture {
    /// A JSONPath (RFC 9535) into the response body.
    #[serde(default)]
    pub json: Option<String>,
    /// A response header name (case-insensitive).
    #[serde(default)]
    pub header: Option<String>,
    /// The response status code.
    #[serde(default)]
    pub status: Option<bool>,
}

/// How strong a requirement is (RFC 2119 words).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
pub enum Level {
    /// SHALL / MUST / REQUIRED: a failure fails the run.
    #[default]
    #[serde(rename = "SHALL")]
    Shall,
    /// SHOULD / RECOMMENDED: a failure is a warning unless `--strict`.
    #[serde(rename = "SHOULD")]
    Should,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Shall => "SHALL",
            Level::Should => "SHOULD",
        }
    }
}

/// A catalogue requirement a check cites, resolved by the loader (reports carry it). Every
/// report of the check shares the loader's text: a fleet's thousands of verdicts do not each
/// hold a copy of the source's words.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct Requirement {
    /// The catalogue id, e.g. `smart-cf-22`.
    pub id: std::sync::Arc<str>,
    /// The published section, e.g. `https://hl7.org/fhir/smart-app-launch/conformance.html#metadata`.
    pub url: std::sync::Arc<str>,
    /// SHALL, SHALL NOT, SHOULD, SHOULD NOT or MAY, as the source says.
    pub level: std::sync::Arc<str>,
    /// The source's own words.
    pub text: std::sync::Arc<str>,
}

/// The ids of the catalogue requirements a check tests (`smartcheck requirements` lists them):
/// one id, or a list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequirementIds(pub Vec<String>);

/// How `requirement:` is written: one id or a list of ids.
#[derive(JsonSchema)]
#[schemars(untagged)]
#[allow(dead_code)]
enum RequirementIdsForm {
    One(String),
    Many(Vec<String>),
}

impl JsonSchema for RequirementIds {
    fn schema_name() -> String {
        "RequirementIds".into()
    }

    fn json_schema(gen: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        RequirementIdsForm::json_schema(gen)
    }
}

impl<'de> Deserialize<'de> for RequirementIds {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RequirementIds;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a requirement id of the catalogue (see `smartcheck requirements`) or a list of them")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RequirementIds(vec![v.to_string()]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut ids = Vec::new();
                while let Some(id) = seq.next_element::<String>()? {
                    ids.push(id);
                }
                Ok(RequirementIds(ids))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// One named expectation on a step's result. Exactly one of `status`, `header`, `json`, `body`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Check {
    /// Stable kebab-case id, unique in the suite: the JUnit test name and JSON key.
    pub id: String,
    pub title: String,
    /// SHALL (a failure fails the run) or SHOULD (a warning); never stronger than the
    /// requirements it cites.
    #[serde(default)]
    pub level: Level,
    /// The catalogue requirements the check tests: an id (`smart-cf-22`) or a list of ids.
    pub requirement: RequirementIds,
    /// The check enforces what its requirements imply but do not say; the reason. Such a check
    /// is at most SHOULD.
    #[serde(default)]
    pub implied: Option<String>,
    /// The cited requirements, resolved from the catalogue by the loader.
    #[serde(skip)]
    #[schemars(skip)]
    pub cited: Vec<Requirement>,
    /// Evaluate the check only when this holds (a condition, or a list that must all hold);
    /// otherwise it is skipped with a reason.
    #[serde(default)]
    pub when: Option<When>,
    /// The status code: a number, or a list of acceptable numbers.
    #[serde(default)]
    pub status: Option<StatusMatcher>,
    #[serde(default)]
    pub header: Option<HeaderCheck>,
    #[serde(default)]
    pub json: Option<JsonCheck>,
    #[serde(default)]
    pub body: Option<BodyCheck>,
    #[serde(skip)]
    #[schemars(skip)]
    pub location: Location,
}

/// Acceptable status codes.
#[derive(Debug, Clone, JsonSchema)]
#[schemars(untagged)]
pub enum StatusMatcher {
    Exact(u16),
    OneOf(Vec<u16>),
}

impl StatusMatcher {
    pub fn accepts(&self, status: u16) -> bool {
        match self {
            StatusMatcher::Exact(code) => *code == status,
            StatusMatcher::OneOf(codes) => codes.contains(&status),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            StatusMatcher::Exact(code) => code.to_string(),
            StatusMatcher::OneOf(codes) => {
                let codes: Vec<String> = codes.iter().map(u16::to_string).collect();
                format!("one of {}", codes.join(", "))
            }
        }
    }
}

impl<'de> Deserialize<'de> for StatusMatcher {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = StatusMatcher;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a status code (100-599) or a list of status codes")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                status_code(v).map(StatusMatcher::Exact)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom(format!("{v} is not a status code (100-599)")))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut codes = Vec::new();
                while let Some(code) = seq.next_element::<u64>()? {
                    codes.push(status_code(code)?);
                }
                if codes.is_empty() {
                    return Err(serde::de::Error::custom(
                        "the list of status codes is empty",
                    ));
                }
                Ok(StatusMatcher::OneOf(codes))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

fn status_code<E: serde::de::Error>(v: u64) -> Result<u16, E> {
    if (100..=599).contains(&v) {
        Ok(v as u16)
    } else {
        Err(E::custom(format!("{v} is not a status code (100-599)")))
    }
}

/// Declares a struct of one subject field plus the shared matcher operators; the loader
/// requires exactly one operator to be set.
/// Bounds of `seconds-from-now`.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SecondsRange {
    pub at_least: f64,
    pub at_most: f64,
}

macro_rules! with_operators {
    (
        $(#[$meta:meta])*
        pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident : $ty:ty,)* }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields, rename_all = "kebab-case")]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
            /// The value exists (`true`).
            #[serde(default)]
            pub present: Option<bool>,
            /// The value does not exist (`true`).
            #[serde(default)]
            pub absent: Option<bool>,
            /// The JSON type of the value.
            #[serde(default, rename = "type")]
            pub type_: Option<JsonType>,
            /// Equal to this value (templates allowed; `"{{ path }}"` alone compares JSON values).
            #[serde(default)]
            pub equals: Option<serde_json::Value>,
            /// Equal to one of these values.
            #[serde(default)]
            pub one_of: Option<Vec<serde_json::Value>>,
            /// An array holding this element, or a string holding this substring.
            #[serde(default)]
            pub contains: Option<serde_json::Value>,
            /// An array holding at least one of these elements.
            #[serde(default)]
            pub contains_any: Option<Vec<serde_json::Value>>,
            /// An array without this element, or a string without this substring (absent passes).
            #[serde(default)]
            pub excludes: Option<serde_json::Value>,
            /// A string starting with this prefix.
            #[serde(default)]
            pub starts_with: Option<String>,
            /// A string that is an absolute URL (scheme and host) (`true`).
            #[serde(default)]
            pub absolute_url: Option<bool>,
            /// A string matching this regular expression (unanchored; use `^...$`).
            #[serde(default)]
            pub matches: Option<String>,
            /// A space-separated scope string whose scopes are all in this one.
            #[serde(default)]
            pub subset_of: Option<String>,
            /// A space-separated scope string with the same scopes as this one, in any order.
            #[serde(default)]
            pub equals_as_set: Option<String>,
            /// An array whose elements all have this JSON type.
            #[serde(default)]
            pub items_type: Option<JsonType>,
            /// A non-empty string, array or object (`true`).
            #[serde(default)]
            pub not_empty: Option<bool>,
            /// A JSON Web Key Set (RFC 7517 §5) whose every key parses (`true`).
            #[serde(default)]
            pub jwk_set: Option<bool>,
            /// A number no greater than this one.
            #[serde(default)]
            pub at_most: Option<f64>,
            /// A number no smaller than this one.
            #[serde(default)]
            pub at_least: Option<f64>,
            /// A NumericDate (seconds since 1970, RFC 7519 §2) later than now (`true`).
            #[serde(default)]
            pub in_the_future: Option<bool>,
            /// A time (a NumericDate, or an HTTP date such as `Thu, 05 Jul 2018 17:41:24 GMT`)
            /// this many seconds from now, within the bounds (`{ at-least: 10200, at-most:
            /// 11400 }`): a lifetime judged from an expiry time.
            #[serde(default)]
            pub seconds_from_now: Option<SecondsRange>,
        }

        impl $name {
            /// The operators set on this matcher, in declaration order.
            pub fn operators(&self) -> Vec<Op> {
                let mut ops = Vec::new();
                if self.present == Some(true) { ops.push(Op::Present); }
                if self.absent == Some(true) { ops.push(Op::Absent); }
                if let Some(t) = self.type_ { ops.push(Op::Type(t)); }
                if let Some(v) = &self.equals { ops.push(Op::Equals(v.clone())); }
                if let Some(v) = &self.one_of { ops.push(Op::OneOf(v.clone())); }
                if let Some(v) = &self.contains { ops.push(Op::Contains(v.clone())); }
                if let Some(v) = &self.contains_any { ops.push(Op::ContainsAny(v.clone())); }
                if let Some(v) = &self.excludes { ops.push(Op::Excludes(v.clone())); }
                if let Some(v) = &self.starts_with { ops.push(Op::StartsWith(v.clone())); }
                if self.absolute_url == Some(true) { ops.push(Op::AbsoluteUrl); }
                if let Some(v) = &self.matches { ops.push(Op::Matches(v.clone())); }
                if let Some(v) = &self.subset_of { ops.push(Op::SubsetOf(v.clone())); }
                if let Some(v) = &self.equals_as_set { ops.push(Op::EqualsAsSet(v.clone())); }
                if let Some(t) = self.items_type { ops.push(Op::ItemsType(t)); }
                if self.not_empty == Some(true) { ops.push(Op::NotEmpty); }
                if self.jwk_set == Some(true) { ops.push(Op::JwkSet); }
                if let Some(n) = self.at_most { ops.push(Op::AtMost(n)); }
                if let Some(n) = self.at_least { ops.push(Op::AtLeast(n)); }
                if self.in_the_future == Some(true) { ops.push(Op::InTheFuture); }
                if let Some(r) = self.seconds_from_now { ops.push(Op::SecondsFromNow(r.at_least, r.at_most)); }
                ops
            }

            /// Operators written with `false` (`present: false`), which say nothing.
            pub fn false_flags(&self) -> Vec<&'static str> {
                let mut names = Vec::new();
                if self.present == Some(false) { names.push("present"); }
                if self.absent == Some(false) { names.push("absent"); }
                if self.absolute_url == Some(false) { names.push("absolute-url"); }
                if self.not_empty == Some(false) { names.push("not-empty"); }
                if self.jwk_set == Some(false) { names.push("jwk-set"); }
                if self.in_the_future == Some(false) { names.push("in-the-future"); }
                names
            }
        }
    };
}

with_operators! {
    /// A check on a response header (names compare case-insensitively).
    pub struct HeaderCheck {
        /// The header name.
        pub name: String,
    }
}

with_operators! {
    /// A check on the JSON response body at a JSONPath (RFC 9535). A path that selects one
    /// node is that value; a path with wildcards, filters or descendants selects an array.
    pub struct JsonCheck {
        /// The JSONPath, e.g. `$.token_endpoint` or `$.rest[*].security.service[*].coding[*].code`.
        pub path: String,
        /// When nothing is at the path, skip the check (for OPTIONAL fields) instead of failing.
        #[serde(default)]
        pub if_present: bool,
        /// When nothing is at the path, the check passes: for a rule with two allowed outcomes,
        /// one of which leaves the value out (a refused request grants no `scope`).
        #[serde(default)]
        pub or_absent: bool,
    }
}

with_operators! {
    /// A condition on a value of the case context.
    pub struct Condition {
        /// A template naming the value, e.g. `"{{ steps.config.json.capabilities }}"`.
        pub value: String,
        /// The condition also holds when the value is absent (or null): for what a server
        /// should say but may leave out, where saying nothing is no reason to skip
        /// (`grant_types_supported` of a server that omits it).
        #[serde(default)]
        pub if_absent: bool,
    }
}

/// A `when`: one condition, or a list of conditions that must all hold.
#[derive(Debug, Clone, Default)]
pub struct When {
    pub conditions: Vec<Condition>,
    /// Written as a list (so the loader's paths name `when[i]`).
    pub list: bool,
}

impl When {
    /// Each condition with the path it is written at, under `path` (the `when` key).
    pub fn each(&self, path: &str) -> Vec<(String, &Condition)> {
        self.conditions
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let at = if self.list {
                    format!("{path}[{i}]")
                } else {
                    path.to_string()
                };
                (at, c)
            })
            .collect()
    }
}

/// How `when:` is written: one condition or a list of them.
#[derive(JsonSchema)]
#[schemars(untagged)]
#[allow(dead_code)]
enum WhenForm {
    One(Box<Condition>),
    Many(Vec<Condition>),
}

impl JsonSchema for When {
    fn schema_name() -> String {
        "When".into()
    }

    fn json_schema(gen: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        WhenForm::json_schema(gen)
    }
}

impl<'de> Deserialize<'de> for When {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = When;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a condition (`value` and one operator) or a list of conditions")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<When, A::Error> {
                let one =
                    Condition::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(When {
                    conditions: vec![one],
                    list: false,
                })
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<When, A::Error> {
                let mut conditions = Vec::new();
                while let Some(c) = seq.next_element::<Condition>()? {
                    conditions.push(c);
                }
                Ok(When {
                    conditions,
                    list: true,
                })
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// A check on the raw response body. Exactly one of the fields.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BodyCheck {
    /// The body parses as JSON (`true`).
    #[serde(default)]
    pub is_json: Option<bool>,
    /// The body parses as a JSON object (`true`).
    #[serde(default)]
    pub is_json_object: Option<bool>,
    /// The body holds this text.
    #[serde(default)]
    pub contains: Option<String>,
    /// The body matches this regular expression.
    #[serde(default)]
    pub matches: Option<String>,
}

impl BodyCheck {
    pub fn count(&self) -> usize {
        [
            self.is_json == Some(true),
            self.is_json_object == Some(true),
            self.contains.is_some(),
            self.matches.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count()
    }
}

impl Check {
    /// How many subjects (`status`, `header`, `json`, `body`) the check names.
    pub fn subject_count(&self) -> usize {
        [
            self.status.is_some(),
            self.header.is_some(),
            self.json.is_some(),
            self.body.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count()
    }
}

/// A file of reusable check groups (the built-in one is `suites/lib/check-groups.yaml`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct GroupLibrary {
    pub groups: BTreeMap<String, Vec<Check>>,
}
