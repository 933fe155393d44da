//! Fault switches of the reference server: each breaks exactly one requirement, and names
//! the checks that must catch it.

/// One fault: a named way to break one requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    pub name: &'static str,
    /// The requirement broken, in a few words.
    pub breaks: &'static str,
    /// The check ids that must fail (or warn, for SHOULD checks) under this fault.
    pub caught_by: &'static [&'static str],
    /// Whether other checks may be errored or skipped as a consequence (a document that no
    /// longer parses cannot be read further); they may never fail.
    pub collateral: bool,
    /// For a conforming alternative (the spec allows this behaviour too): the cases (ids) that
    /// meet it, every check of which must still pass. Empty for a fault.
    pub variant_cases: &'static [&'static str],
    /// The target file the switch is run with, when the reference target does not describe
    /// the server under it (`fixtures/targets/reference.yaml` when `None`).
    pub target: Option<&'static str>,
    /// For a server that offers less (conforming too): what its discovery leaves out (the
    /// skip reasons name it) and the cases that must then skip the part that needs it, with
    /// no check failed or errored.
    pub offers_less: Option<(&'static str, &'static [&'static str])>,
    /// For a server that accepts a request it must refuse and then stalls without showing
    /// an error (no code, no error redirect, no error page): the checks of the refusal, each
    /// of which must be errored as "refusal not proven", never passed. A stall proves nothing.
    pub unproven: &'static [&'static str],
    /// For a conforming alternative: checks of its cases that judge only the other allowed
    /// behaviour and are skipped under this one, by their `when` or for a prerequisite this
    /// behaviour does not give (a refusal's error code when the server ignores the request
    /// instead; the assertion of a client whose registration was refused). Every other check
    /// must still pass.
    pub may_skip: &'static [&'static str],
    /// Checks that only this behaviour reaches (the clean server shows the other one, where
    /// their `when` skips them): under a conforming alternative they must pass; under a fault
    /// that leaves that part conforming they may.
    pub exercises: &'static [&'static str],
}

impl Fault {
    /// A switch to another conforming behaviour, not a fault: no check may fail under it.
    pub fn is_variant(&self) -> bool {
        !self.variant_cases.is_empty() || self.offers_less.is_some()
    }
}

/// A conforming alternative: the server behaves in another way the spec allows.
const fn variant(
    name: &'static str,
    behaves: &'static str,
    cases: &'static [&'static str],
) -> Fault {
    Fault {
        name,
        breaks: behaves,
        caught_by: &[],
        collateral: false,
        variant_cases: cases,
        target: None,
        offers_less: None,
        unproven: &[],
        may_skip: &[],
        exercises: &[],
    }
}

/// A conforming server that does not offer a feature and says so in its discovery: the
/// cases that need the feature skip that part, with a reason that names `missing`.
const fn offers_less(
    name: &'static str,
    behaves: &'static str,
    missing: &'static str,
    cases: &'static [&'static str],
) -> Fault {
    Fault {
        offers_less: Some((missing, cases)),
        ..variant(name, behaves, &[])
    }
}

/// A conforming alternative that needs its own target file (the target says what the server
/// does differently, as a real server's target would).
const fn variant_for(
    name: &'static str,
    behaves: &'static str,
    target: &'static str,
    cases: &'static [&'static str],
) -> Fault {
    Fault {
        target: Some(target),
        ..variant(name, behaves, cases)
    }
}

const fn f(name: &'static str, breaks: &'static str, caught_by: &'static [&'static str]) -> Fault {
    Fault {
        name,
        breaks,
        caught_by,
        collateral: false,
        variant_cases: &[],
        target: None,
        offers_less: None,
        unproven: &[],
        may_skip: &[],
        exercises: &[],
    }
}

const fn wide(
    name: &'static str,
    breaks: &'static str,
    caught_by: &'static [&'static str],
) -> Fault {
    Fault {
        name,
        breaks,
        caught_by,
        collateral: true,
        variant_cases: &[],
        target: None,
        offers_less: None,
        unproven: &[],
        may_skip: &[],
        exercises: &[],
    }
}

/// A conforming alternative of two the spec allows: the checks `may_skip` judge only the clean
/// server's behaviour and are skipped by their `when` under this one; the checks `exercises`
/// judge only this one (skipped on the clean server) and must pass under it.
const fn other_allowed(
    name: &'static str,
    behaves: &'static str,
    cases: &'static [&'static str],
    may_skip: &'static [&'static str],
    exercises: &'static [&'static str],
) -> Fault {
    Fault {
        may_skip,
        exercises,
        ..variant(name, behaves, cases)
    }
}

/// A server that accepts a request it must refuse and then stalls on a screen with no error
/// on it: the refusal checks `unproven` are errored as inconclusive, never passed.
const fn stalls(
    name: &'static str,
    breaks: &'static str,
    unproven: &'static [&'static str],
) -> Fault {
    Fault {
        unproven,
        ..f(name, breaks, &[])
    }
}

/// Every fault, in the order of the table in docs/reference-server.md.
pub const FAULTS: &[Fault] = &[
    f(
        "smart-config-status-203",
        "smart-configuration answers 200",
        &["smart-config-status"],
    ),
    f(
        "smart-config-content-type",
        "smart-configuration has Content-Type application/json",
        &["smart-config-content-type"],
    ),
    wide(
        "no-smart-configuration",
        "smart-configuration is served (this server, like STU1-era servers, names its endpoints only in the CapabilityStatement's oauth-uris)",
        &["smart-config-status"],
    ),
    wide(
        "smart-config-not-json",
        "smart-configuration is a JSON object",
        &["smart-config-json-object"],
    ),
    f(
        "authorization-endpoint-relative",
        "authorization_endpoint is an absolute URL",
        &[
            "smart-config-authorization-endpoint",
        ],
    ),
    wide(
        "token-endpoint-missing",
        "token_endpoint is present",
        &["smart-config-token-endpoint"],
    ),
    wide(
        "capabilities-not-array",
        "capabilities is an array of strings",
        &["smart-config-capabilities"],
    ),
    f(
        "grant-types-missing",
        "grant_types_supported is REQUIRED of every server (SMART 2.2 conformance); this server leaves it out",
        &["smart-config-grant-types-listed", "smart-config-grant-types"],
    ),
    f(
        "grant-types-no-authorization-code",
        "grant_types_supported has authorization_code",
        &["smart-config-grant-types"],
    ),
    f(
        "pkce-s256-not-advertised",
        "code_challenge_methods_supported has S256",
        &["smart-config-pkce-s256"],
    ),
    f(
        "pkce-plain-advertised",
        "code_challenge_methods_supported excludes plain",
        &["smart-config-pkce-no-plain"],
    ),
    wide(
        "issuer-missing",
        "issuer is present with sso-openid-connect",
        &["smart-config-issuer"],
    ),
    f(
        "jwks-uri-missing",
        "jwks_uri is present with sso-openid-connect",
        &["smart-config-jwks-uri"],
    ),
    // Wide: the OpenID configuration and the id_token presence check judge sso-openid-connect
    // servers only, and skip.
    // Its id_token still comes with the granted openid scope, as the check for servers
    // without sso-openid-connect sees.
    Fault {
        exercises: &["standalone-basic-token-id-token-openid-granted"],
        ..wide(
            "id-token-keys-unpublished",
            "a server that issues id_tokens publishes the keys to verify them; this one lists neither sso-openid-connect nor a jwks_uri, and its id_tokens cannot be checked",
            &["standalone-basic-id-token-signature"],
        )
    },
    f(
        "asymmetric-algs-rs256-only",
        "RS384 or ES384 advertised with client-confidential-asymmetric",
        &["smart-config-asymmetric-algs"],
    ),
    f(
        "response-types-no-code",
        "response_types_supported has code (SHOULD)",
        &["smart-config-response-types"],
    ),
    f(
        "response-types-unserved",
        "a response type response_types_supported lists is not refused as unsupported (this server lists `code id_token` and answers it with unsupported_response_type)",
        &["listed-response-type-not-unsupported"],
    ),
    other_allowed(
        "response-types-token-registered-only",
        "response_types_supported lists token, which this server grants only to clients that registered it (RFC 7591 §2: response_types defaults to code), so the harness's clients get unauthorized_client",
        &["refuse-authorize"],
        &[
            "refuse-response-type-no-code",
            "refuse-response-type-no-access-token",
            "refuse-response-type-error",
        ],
        &["listed-response-type-not-unsupported"],
    ),
    f(
        "scopes-supported-missing",
        "scopes_supported is present (SHOULD)",
        &["smart-config-scopes-supported"],
    ),
    wide(
        "registration-endpoint-relative",
        "registration_endpoint is an absolute URL",
        &[
            "smart-config-registration-endpoint",
            "metadata-oauth-register",
        ],
    ),
    f(
        "management-endpoint-relative",
        "management_endpoint is an absolute URL",
        &["smart-config-management-endpoint", "metadata-oauth-manage"],
    ),
    f(
        "introspection-endpoint-relative",
        "introspection_endpoint is an absolute URL",
        &[
            "smart-config-introspection-endpoint",
            "metadata-oauth-introspect",
        ],
    ),
    f(
        "revocation-endpoint-relative",
        "revocation_endpoint is an absolute URL",
        &["smart-config-revocation-endpoint", "metadata-oauth-revoke"],
    ),
    f(
        "smart-config-no-cors",
        "smart-configuration allows the app's origin (CORS)",
        &["smart-config-cors"],
    ),
    f(
        "metadata-status-203",
        "metadata answers 200",
        &["metadata-status"],
    ),
    f(
        "metadata-content-type",
        "metadata has a FHIR JSON Content-Type",
        &["metadata-content-type"],
    ),
    f(
        "metadata-wrong-resource-type",
        "metadata is a CapabilityStatement",
        &["metadata-resource-type"],
    ),
    variant(
        "metadata-no-smart-service",
        "the CapabilityStatement security service is not coded SMART-on-FHIR (2.2 deprecates that mechanism)",
        &["capability-statement"],
    ),
    f(
        "metadata-authorize-relative",
        "oauth-uris authorize is an absolute URL",
        &["metadata-oauth-authorize"],
    ),
    f(
        "metadata-token-relative",
        "oauth-uris token is an absolute URL",
        &["metadata-oauth-token"],
    ),
    f(
        "metadata-no-cors",
        "metadata allows the app's origin (CORS)",
        &["metadata-cors"],
    ),
    variant(
        "metadata-authorize-differs",
        "oauth-uris authorize differs from smart-configuration (no requirement ties the two documents)",
        &["capability-statement", "smart-configuration"],
    ),
    variant(
        "metadata-token-differs",
        "oauth-uris token differs from smart-configuration (no requirement ties the two documents)",
        &["capability-statement", "smart-configuration"],
    ),
    variant(
        "metadata-register-differs",
        "oauth-uris register differs from smart-configuration (no requirement ties the two documents)",
        &["capability-statement", "smart-configuration"],
    ),
    variant(
        "metadata-manage-differs",
        "oauth-uris manage differs from smart-configuration (no requirement ties the two documents)",
        &["capability-statement", "smart-configuration"],
    ),
    variant(
        "metadata-introspect-differs",
        "oauth-uris introspect differs from smart-configuration (no requirement ties the two documents)",
        &["capability-statement", "smart-configuration"],
    ),
    variant(
        "metadata-revoke-differs",
        "oauth-uris revoke differs from smart-configuration (no requirement ties the two documents)",
        &["capability-statement", "smart-configuration"],
    ),
    wide(
        "oidc-config-missing",
        "openid-configuration answers 200",
        &["oidc-config-status", "standalone-basic-oidc-config-status"],
    ),
    variant(
        "issuer-trailing-slash",
        "the issuer ends in `/` (smart-configuration, openid-configuration, id_token and introspection alike); the OpenID configuration is found with the `/` removed",
        &["smart-configuration", "openid-configuration", "standalone-basic"],
    ),
    variant(
        "ehr-launch-iss-trailing-slash",
        "the EHR launches with iss = the FHIR base and a trailing `/`",
        &["ehr-basic", "ehr-public"],
    ),
    f(
        "oidc-issuer-differs",
        "the OIDC issuer equals the SMART issuer",
        &["oidc-config-issuer"],
    ),
    f(
        "oidc-authorization-endpoint-missing",
        "OIDC authorization_endpoint is present",
        &["oidc-config-authorization-endpoint"],
    ),
    wide(
        "oidc-jwks-uri-missing",
        "OIDC jwks_uri is present",
        &["oidc-config-jwks-uri"],
    ),
    f(
        "oidc-no-response-types",
        "OIDC response_types_supported is present",
        &["oidc-config-response-types"],
    ),
    f(
        "oidc-no-subject-types",
        "OIDC subject_types_supported is present",
        &["oidc-config-subject-types"],
    ),
    f(
        "oidc-no-rs256",
        "OIDC id_token algorithms include RS256",
        &["oidc-config-rs256"],
    ),
    f("jwks-status-203", "the JWKS answers 200", &["jwks-status"]),
    f(
        "jwks-bad-key",
        "every JWKS key parses",
        &["jwks-keys-parse"],
    ),
    // Dynamic registration (suites/smart-registration.yaml).
    wide(
        "app-state-create-status-200",
        "POST /Basic answers 201 Created (FHIR create)",
        &["app-state-create-status", "app-state-create-global-status"],
    ),
    wide(
        "app-state-create-no-id",
        "the created App State has a server-assigned id",
        &["app-state-create-id"],
    ),
    wide(
        "app-state-no-version-id",
        "the created App State has meta.versionId",
        &["app-state-create-version"],
    ),
    wide(
        "app-state-update-refused",
        "App State can be updated (this server answers every update 405)",
        &[
            "app-state-update-status",
            "app-state-deleted-update-412",
        ],
    ),
    wide(
        "app-state-one-per-code",
        "App State allows a resource per state code and one per (state code, subject)",
        &["app-state-create-global-status"],
    ),
    f(
        "app-state-subject-not-echoed",
        "the created App State keeps Basic.subject",
        &["app-state-create-subject"],
    ),
    f(
        "app-state-code-not-echoed",
        "the created App State keeps Basic.code",
        &["app-state-create-code"],
    ),
    f(
        "app-state-extension-dropped",
        "the App State keeps its top-level extensions",
        &["app-state-create-extension", "app-state-update-persisted"],
    ),
    f(
        "app-state-search-relative-subject-only",
        "an App State query matches Basic.subject.reference exactly (absolute)",
        &["app-state-search-subject-finds"],
    ),
    f(
        "app-state-search-ignores-subject",
        "an App State query by subject finds only that subject's state",
        &["app-state-search-subject-only"],
    ),
    f(
        "app-state-search-missing-unsupported",
        "App State queries support subject:missing=true",
        &["app-state-search-global-finds"],
    ),
    f(
        "app-state-search-no-missing-modifier",
        "subject:missing=true finds only state without a subject",
        &["app-state-search-global-only"],
    ),
    f(
        "app-state-search-ignores-code",
        "an App State query finds only its state code",
        &["app-state-search-code-exact"],
    ),
    f(
        "app-state-no-token-accepted",
        "App State needs an access token",
        &["app-state-no-token-refused"],
    ),
    f(
        "app-state-update-ignored",
        "an App State update is persisted",
        &["app-state-update-persisted"],
    ),
    f(
        "app-state-put-stale-accepted",
        "an App State update with a stale ETag is refused with 412",
        &["app-state-update-stale-refused"],
    ),
    f(
        "app-state-code-change-accepted",
        "an App State update may not change Basic.code (412)",
        &["app-state-update-code-refused"],
    ),
    f(
        "app-state-subject-change-accepted",
        "an App State update may not change Basic.subject (412)",
        &["app-state-update-subject-refused"],
    ),
    f(
        "app-state-put-without-if-match",
        "an App State update needs If-Match",
        &["app-state-update-needs-if-match"],
    ),
    f(
        "app-state-delete-stale-accepted",
        "an App State delete with a stale ETag is refused with 412",
        &["app-state-delete-stale-refused"],
    ),
    f(
        "app-state-delete-without-if-match",
        "an App State delete needs If-Match",
        &["app-state-delete-needs-if-match"],
    ),
    wide(
        "app-state-delete-refused",
        "App State can be deleted (this server answers every delete 405)",
        &["app-state-delete-status"],
    ),
    f(
        "app-state-deleted-resurrectable",
        "an update of deleted App State is a failed precondition (this server creates it again, so the second delete succeeds too)",
        &["app-state-deleted-update-412", "app-state-deleted-delete-412"],
    ),
    f(
        "app-state-deleted-delete-404",
        "a delete of deleted App State is a failed precondition",
        &["app-state-deleted-delete-412"],
    ),
    f(
        "app-state-not-advertised",
        "a server that supports smart-app-state lists it in capabilities",
        &["smart-config-app-state-advertised"],
    ),
    f(
        "capability-sets-none",
        "the capabilities make at least one Capability Set (this server lists no permission-patient)",
        &["smart-config-capability-sets"],
    ),
    wide(
        "management-endpoint-absent",
        "smart-configuration lists a management_endpoint (RECOMMENDED)",
        &["smart-config-management-endpoint-listed"],
    ),
    wide(
        "introspection-endpoint-absent",
        "smart-configuration lists an introspection_endpoint (RECOMMENDED)",
        &["smart-config-introspection-endpoint-listed"],
    ),
    wide(
        "revocation-endpoint-absent",
        "smart-configuration lists a revocation_endpoint (RECOMMENDED)",
        &["smart-config-revocation-endpoint-listed"],
    ),
    wide(
        "pkce-methods-absent",
        "smart-configuration lists code_challenge_methods_supported (REQUIRED)",
        &["smart-config-pkce-s256"],
    ),
    wide(
        "brand-bundle-not-advertised",
        "smart-configuration links a Brand Bundle and names the primary Brand (RECOMMENDED)",
        &["smart-config-brand-bundle", "smart-config-brand-identifier"],
    ),
    wide(
        "brand-bundle-not-found",
        "the Brand Bundle smart-configuration links is served",
        &["brands-bundle-served"],
    ),
    f(
        "brand-bundle-other-resources",
        "the Brand Bundle holds only Organizations and Endpoints",
        &["brands-only-brands-and-endpoints"],
    ),
    wide(
        "brand-identifier-missing",
        "smart-configuration that links a Brand Bundle also names the primary Brand's identifier",
        &["brands-identifier-advertised"],
    ),
    wide(
        "brand-many-brands-no-identifier",
        "user_access_brand_identifier is given when the Brand Bundle holds several Brands",
        &["brands-identifier-advertised", "brands-identifier-for-many-brands"],
    ),
    f(
        "brand-identifier-no-value",
        "user_access_brand_identifier has a value (and so matches an Organization identifier)",
        &["brands-identifier-value", "brands-identifier-matches-one-brand"],
    ),
    f(
        "brand-identifier-no-system",
        "user_access_brand_identifier has a system",
        &["brands-identifier-system"],
    ),
    f(
        "brand-identifier-unmatched",
        "user_access_brand_identifier matches exactly one Organization identifier in the Bundle",
        &["brands-identifier-matches-one-brand"],
    ),
    f(
        "brand-no-url-identifier",
        "a Brand has an identifier with system urn:ietf:rfc:3986",
        &["brands-url-identifier"],
    ),
    f(
        "brand-endpoint-unreferenced",
        "a Brand references each Endpoint of the Bundle",
        &["brands-endpoints-referenced"],
    ),
    f(
        "brand-bundle-no-timestamp",
        "the Brand Bundle has Bundle.timestamp",
        &["brands-bundle-timestamp"],
    ),
    f(
        "brand-bundle-no-last-updated",
        "the Brand Bundle's resources carry meta.lastUpdated",
        &["brands-last-updated"],
    ),
    f(
        "brand-bundle-no-cors",
        "the Brand Bundle allows the app's origin (CORS)",
        &["brands-bundle-cors"],
    ),
    f(
        "brand-bundle-strong-etag",
        "the Brand Bundle has a weak ETag",
        &["brands-bundle-weak-etag"],
    ),
    f(
        "brand-data-absent-reason",
        "the Brand Bundle uses no Data Absent Reason but asked-declined and asked-unknown",
        &["brands-data-absent-reasons"],
    ),
    f(
        "brand-country-not-alpha2",
        "Address.country is an ISO 3166-1 alpha-2 code",
        &["brands-country-alpha2"],
    ),
    f(
        "brand-bundle-foreign",
        "the Brand Bundle linked from this server lists this server's endpoint",
        &["brands-lists-this-server"],
    ),
    f(
        "registration-status-200",
        "registration answers 201 Created",
        &[
            "reg-symmetric-status",
            "reg-public-status",
            "reg-asymmetric-status",
            "reg-refuse-valid-status",
        ],
    ),
    f(
        "registration-content-type",
        "the registration response is application/json",
        &[
            "reg-symmetric-content-type",
            "reg-public-content-type",
            "reg-asymmetric-content-type",
        ],
    ),
    f(
        "registration-no-cache-control",
        "the registration response carries Cache-Control: no-store",
        &[
            "reg-symmetric-cache-control",
            "reg-public-cache-control",
            "reg-asymmetric-cache-control",
        ],
    ),
    wide(
        "registration-client-id-missing",
        "the registration response has a client_id",
        &[
            "reg-symmetric-client-id",
            "reg-public-client-id",
            "reg-asymmetric-client-id",
            "reg-read-client-id",
        ],
    ),
    wide(
        "registration-no-secret-for-confidential",
        "a client_secret is issued to client_secret_* clients",
        &["reg-symmetric-client-secret"],
    ),
    f(
        "registration-needless-secret",
        "no client_secret is issued to clients that do not authenticate with one",
        &[
            "reg-asymmetric-no-client-secret",
            "reg-public-no-client-secret",
        ],
    ),
    f(
        "registration-no-secret-expiry",
        "client_secret_expires_at comes with a client_secret",
        &["reg-symmetric-secret-expires-at"],
    ),
    f(
        "registration-issued-at-string",
        "client_id_issued_at is a number of seconds",
        &[
            "reg-symmetric-issued-at",
            "reg-public-issued-at",
            "reg-asymmetric-issued-at",
        ],
    ),
    // Wide: the secret checks judge the auth method the answer states, so without it they skip.
    wide(
        "registration-metadata-not-echoed",
        "registered metadata is echoed",
        &[
            "reg-symmetric-echo-auth-method",
            "reg-public-echo-auth-method",
            "reg-asymmetric-echo-auth-method",
            "reg-symmetric-echo-client-name",
            "reg-public-echo-client-name",
            "reg-asymmetric-echo-client-name",
            "reg-symmetric-echo-grant-types",
            "reg-public-echo-grant-types",
            "reg-asymmetric-echo-grant-types",
            "reg-symmetric-echo-redirect-uris",
            "reg-public-echo-redirect-uris",
            "reg-asymmetric-echo-redirect-uris",
            "reg-symmetric-echo-response-types",
            "reg-public-echo-response-types",
            "reg-asymmetric-echo-response-types",
            "reg-read-client-name",
            "reg-read-redirect-uris",
            "reg-update-auth-method",
            "reg-update-client-name",
            "reg-reread-client-name",
            "reg-reread-redirect-uris",
        ],
    ),
    wide(
        "registration-no-access-token",
        "a registration_access_token comes with the registration_client_uri",
        &[
            "reg-symmetric-management-token",
            "reg-public-management-token",
            "reg-asymmetric-management-token",
        ],
    ),
    f(
        "registration-fragment-redirect-accepted",
        "redirect URIs with a fragment are refused",
        &["reg-refuse-fragment-status", "reg-refuse-fragment-error"],
    ),
    f(
        "registration-missing-redirect-accepted",
        "authorization_code clients must register redirect URIs",
        &[
            "reg-refuse-no-redirect-status",
            "reg-refuse-no-redirect-error",
        ],
    ),
    f(
        "registration-schemeless-redirect-accepted",
        "redirect URIs are absolute (RFC 6749 §3.1.2); this server registers host:port/path",
        &[
            "reg-refuse-no-scheme-no-client",
            "reg-refuse-no-scheme-status",
            "reg-refuse-no-scheme-error",
        ],
    ),
    f(
        "registration-non-url-redirect-accepted",
        "redirect URIs must be URLs",
        &[
            "reg-refuse-not-url-status",
            "reg-refuse-not-url-error",
            "reg-refuse-no-scheme-no-client",
            "reg-refuse-no-scheme-status",
            "reg-refuse-no-scheme-error",
        ],
    ),
    // Wide: a 500 is no refusal with an error to judge (those checks skip).
    wide(
        "registration-unknown-auth-method-500",
        "an unknown token_endpoint_auth_method is refused with 400 or replaced; this server fails with 500",
        &["reg-refuse-auth-method-status"],
    ),
    f(
        "registration-form-body-wrong-error",
        "a form-encoded registration request is refused with invalid_request or invalid_client_metadata; this server says invalid_redirect_uri",
        &["reg-refuse-form-error"],
    ),
    f(
        "registration-metadata-error-code-wrong",
        "invalid client metadata is refused with invalid_client_metadata; this server says invalid_request",
        &["reg-refuse-auth-method-error"],
    ),
    // Wide: a registration that was not refused has no error to judge (those checks skip).
    wide(
        "registration-unknown-auth-method-kept",
        "an unknown token_endpoint_auth_method is refused or replaced (RFC 7591 §3.2.1); this server registers it as asked",
        &["reg-refuse-auth-method-not-kept"],
    ),
    other_allowed(
        "registration-replaces-unknown-auth-method",
        "an unknown token_endpoint_auth_method is replaced with client_secret_basic (201) rather than refused: RFC 7591 §3.2.1 lets the server replace a requested value",
        &["refuse-bad-metadata"],
        &["reg-refuse-auth-method-json", "reg-refuse-auth-method-error"],
        &["reg-refuse-auth-method-not-kept"],
    ),
    other_allowed(
        "registration-replaces-metadata",
        "a public client's registration is answered with a confidential client (client_secret_basic and a secret), and every client gets a name of the server's: RFC 7591 §3.2.1 lets the server replace requested values",
        &["create-public", "manage-lifecycle"],
        &["reg-public-no-client-secret"],
        &[],
    ),
    other_allowed(
        "registration-form-body-415",
        "a form-encoded registration request is refused with 415 Unsupported Media Type and a plain-text page, not a 400 JSON error",
        &["refuse-bad-metadata"],
        &["reg-refuse-form-json", "reg-refuse-form-error"],
        &[],
    ),
    // Wide: an accepted form has no error to judge (those checks skip).
    wide(
        "registration-form-body-accepted",
        "registration requests are JSON",
        &["reg-refuse-form-status"],
    ),
    f(
        "registration-wrong-error-code",
        "bad redirect URIs get invalid_redirect_uri",
        &[
            "reg-refuse-fragment-error",
            "reg-refuse-not-url-error",
            "reg-refuse-no-redirect-error",
            "reg-refuse-no-scheme-error",
        ],
    ),
    wide(
        "registration-error-not-json",
        "registration errors are JSON objects",
        &[
            "reg-refuse-fragment-json",
            "reg-refuse-no-redirect-json",
            "reg-refuse-not-url-json",
            "reg-refuse-auth-method-json",
            "reg-refuse-form-json",
        ],
    ),
    wide(
        "registration-read-not-found",
        "RFC 7592 read answers 200 with the client information",
        &[
            "reg-read-status",
            "reg-reread-client-name",
            "reg-reread-redirect-uris",
        ],
    ),
    f(
        "registration-token-not-checked",
        "RFC 7592 requests need the registration_access_token",
        &["reg-read-no-token-401", "reg-read-wrong-token-401"],
    ),
    wide(
        "registration-update-not-allowed",
        "RFC 7592 update is supported",
        &[
            "reg-update-status",
        ],
    ),
    f(
        "registration-update-ignored",
        "an update replaces the registered metadata",
        &[
            "reg-update-auth-method",
            "reg-update-client-name",
            "reg-reread-client-name",
            "reg-reread-redirect-uris",
            "reg-client-known-before-delete",
        ],
    ),
    variant(
        "registration-update-keeps-secret",
        "an RFC 7592 update that omits client_secret keeps it (RFC 7592 §2.2: the server MAY ignore empty values)",
        &["manage-lifecycle"],
    ),
    f(
        "registration-update-client-id-not-checked",
        "an RFC 7592 update whose client_id is not the client's is refused; this server applies it",
        &["reg-update-wrong-client-id-400"],
    ),
    f(
        "registration-update-accepts-token-field",
        "an update carrying registration_access_token is refused",
        &["reg-update-token-field-400"],
    ),
    f(
        "registration-delete-status-200",
        "RFC 7592 delete answers 204",
        &["reg-delete-status"],
    ),
    f(
        "registration-delete-ignored",
        "a deleted client is gone",
        &["reg-read-after-delete-401", "reg-deleted-client-refused"],
    ),
    f(
        "registration-deleted-client-usable",
        "a deleted client can no longer get tokens",
        &["reg-deleted-client-refused"],
    ),
    // SMART App Launch flows in the browser (suites/smart-app-launch.yaml).
    wide(
        "authorize-refuses-everything",
        "a valid authorization request gets a code (this server refuses every one)",
        &[
            "standalone-basic-redirect-code",
            "standalone-public-redirect-code",
            "standalone-post-redirect-code",
            "standalone-rs384-redirect-code",
            "standalone-es384-redirect-code",
            "ehr-basic-redirect-code",
            "ehr-public-redirect-code",
            "authorize-post-redirect-code",
            "refuse-authorize-control-code",
            "refuse-pkce-control-code",
            "unknown-parameter-code",
            "refuse-authorize-two-uris-control-code",
        ],
    ),
    f(
        "authorize-aud-path-only",
        "aud is the FHIR base: its scheme and host too, not only its path",
        &["refuse-wrong-aud-no-code", "refuse-aud-other-scheme-no-code", "refuse-post-wrong-aud-no-code"],
    ),
    f(
        "authorize-redirect-uri-defaulted",
        "an authorization request without redirect_uri from a client that registered two gets no code (RFC 6749 §3.1.2.3, §4.1.2.1); this server sends one to the first registered URI",
        &["refuse-no-redirect-uri-no-code"],
    ),
    f(
        "authorize-post-error-no-state",
        "an error redirect after a form-POST authorization carries the state",
        &["refuse-post-wrong-aud-state", "refuse-post-plain-pkce-state"],
    ),
    f(
        "authorize-unknown-client-redirected",
        "an unknown client_id is not redirected to the redirect_uri it names",
        &["refuse-unknown-client-not-redirected"],
    ),
    wide(
        "authorize-code-missing",
        "an approved authorization redirects with a code",
        &[
            "standalone-basic-redirect-code",
            "standalone-public-redirect-code",
            "standalone-post-redirect-code",
            "standalone-rs384-redirect-code",
            "standalone-es384-redirect-code",
            "ehr-basic-redirect-code",
            "ehr-public-redirect-code",
            "authorize-post-redirect-code",
        ],
    ),
    f(
        "token-success-status-201",
        "a successful code exchange answers 200",
        &[
            "standalone-basic-token-status",
            "standalone-public-token-status",
            "standalone-post-token-status",
            "standalone-rs384-token-status",
            "standalone-es384-token-status",
            "ehr-basic-token-status",
            "ehr-public-token-status",
            "authorize-post-token-status",
            "backend-rs384-status",
            "backend-es384-status",
            "backend-refusals-first-status", "backend-refusals-first-status-es384",
            "backend-unsupported-type-control",
            "scopes-supported-token",
            "refresh-status",
            "s4s-refresh-status",
            "standalone-basic-refresh-status",
            "standalone-public-refresh-status",
            "standalone-post-refresh-status",
            "standalone-rs384-refresh-status",
            "standalone-es384-refresh-status",
            "refresh-same-scope-status",
            "refresh-narrower-status",
            "revoke-refresh-before-status",
            "revoke-no-client-auth-token-works",
            "revoke-other-client-token-works",
            "backend-duplicate-kid-control-status",
        ],
    ),
    wide(
        "token-access-token-missing",
        "the token response has an access_token",
        &[
            "standalone-basic-token-access-token",
            "standalone-public-token-access-token",
            "standalone-post-token-access-token",
            "standalone-rs384-token-access-token",
            "standalone-es384-token-access-token",
            "ehr-basic-token-access-token",
            "ehr-public-token-access-token",
            "authorize-post-token-access-token",
            "backend-rs384-access-token",
            "backend-es384-access-token",
            "refresh-access-token",
            "s4s-refresh-access-token",
            "standalone-basic-refresh-access-token",
            "standalone-public-refresh-access-token",
            "standalone-post-refresh-access-token",
            "standalone-rs384-refresh-access-token",
            "standalone-es384-refresh-access-token",
            "token-refusals-control-token-issued",
            "token-other-client-control-token-issued",
            "refuse-pkce-control-token-issued",
            "token-verifier-missing-confidential-control-token-issued",
            "token-refusals-asymmetric-control-token-issued",
            "code-expiry-control-token-issued",
        ],
    ),
    f(
        "token-type-mac",
        "token_type is Bearer",
        &[
            "standalone-basic-token-type",
            "standalone-public-token-type",
            "standalone-post-token-type",
            "standalone-rs384-token-type",
            "standalone-es384-token-type",
            "ehr-basic-token-type",
            "ehr-public-token-type",
            "authorize-post-token-type",
            "backend-rs384-token-type",
            "backend-es384-token-type",
            "refresh-token-type",
        ],
    ),
    f(
        "token-content-type-wrong",
        "a successful code exchange is application/json",
        &[
            "standalone-basic-token-content-type",
            "standalone-public-token-content-type",
            "standalone-post-token-content-type",
            "standalone-rs384-token-content-type",
            "standalone-es384-token-content-type",
            "ehr-basic-token-content-type",
            "ehr-public-token-content-type",
            "refresh-content-type",
        ],
    ),
    wide(
        "token-expires-in-string",
        "expires_in is a number",
        &[
            "standalone-basic-token-expires-in",
            "standalone-public-token-expires-in",
            "standalone-post-token-expires-in",
            "standalone-rs384-token-expires-in",
            "standalone-es384-token-expires-in",
            "ehr-basic-token-expires-in",
            "ehr-public-token-expires-in",
            "backend-rs384-expires-in",
            "backend-es384-expires-in",
            "backend-rs384-expires-in-stated",
            "backend-es384-expires-in-stated",
            "refresh-expires-in",
        ],
    ),
    wide(
        "token-scope-missing",
        "the token response states the granted scope",
        &[
            "standalone-basic-token-scope",
            "standalone-public-token-scope",
            "standalone-post-token-scope",
            "standalone-rs384-token-scope",
            "standalone-es384-token-scope",
            "ehr-basic-token-scope",
            "ehr-public-token-scope",
            "backend-rs384-scope",
            "backend-es384-scope",
            "backend-rs384-scope-stated",
            "backend-es384-scope-stated",
        ],
    ),
    f(
        "token-banner-string",
        "need_patient_banner is a boolean",
        &["standalone-basic-token-patient-banner"],
    ),
    wide(
        "token-style-url-relative",
        "smart_style_url is an absolute URL",
        &["standalone-basic-token-style-url"],
    ),
    wide(
        "token-no-id-token",
        "an id_token is issued for the openid scope",
        &["standalone-basic-token-id-token"],
    ),
    f(
        "token-patient-unresolvable",
        "the context patient exists",
        &[
            "standalone-basic-patient-resolves",
            "standalone-public-patient-resolves",
            "standalone-post-patient-resolves",
            "standalone-rs384-patient-resolves",
            "standalone-es384-patient-resolves",
            "ehr-basic-patient-resolves",
            "ehr-public-patient-resolves",
            "bearer-read-patient",
            "revoke-read-before-status",
            "token-expiry-read-before",
        ],
    ),
    f(
        "refresh-id-token-other-iss",
        "an id_token returned by a refresh has the original iss",
        &["standalone-basic-refreshed-id-token-iss"],
    ),
    f(
        "refresh-id-token-other-sub",
        "an id_token returned by a refresh has the original sub",
        &["standalone-basic-refreshed-id-token-sub"],
    ),
    f(
        "refresh-id-token-no-aud",
        "a refreshed id_token keeps the original aud (OpenID Connect Core §12.2)",
        &["standalone-basic-refreshed-id-token-aud"],
    ),
    f(
        "id-token-rs384",
        "an id_token for a client that registered no id_token_signed_response_alg is signed with RS256 (the default; SMART: the EHR SHALL support RS256); this server signs with RS384, which it does not advertise",
        &[
            "standalone-basic-id-token-rs256",
            "standalone-basic-id-token-alg",
        ],
    ),
    f(
        "id-token-wrong-iss",
        "the id_token's iss is the issuer",
        &["standalone-basic-id-token-iss"],
    ),
    f(
        "id-token-expired",
        "the id_token has not expired",
        &["standalone-basic-id-token-exp"],
    ),
    f(
        "id-token-iat-future",
        "the id_token's iat is not in the future",
        &["standalone-basic-id-token-iat"],
    ),
    f(
        "id-token-fhir-user-wrong-type",
        "the id_token's fhirUser is the URL of a Patient, Practitioner, PractitionerRole, RelatedPerson or Person",
        &["standalone-basic-id-token-fhir-user"],
    ),
    variant(
        "id-token-fhir-user-relative",
        "the id_token's fhirUser is relative to the FHIR base (SMART 2.2 allows it)",
        &["standalone-basic"],
    ),
    variant(
        "id-token-fhir-user-unresolvable",
        "the fhirUser resource is not readable with the app's token (nothing grants that read)",
        &["standalone-basic"],
    ),
    // An app sends `aud` = the `iss` it was launched with, so the server then refuses the
    // authorization too (it is not for its FHIR base).
    wide(
        "ehr-launch-no-launch-param",
        "the EHR launch carries a launch identifier",
        &["ehr-basic-launch-param", "ehr-public-launch-param"],
    ),
    wide(
        "ehr-launch-iss-wrong",
        "the EHR launch's iss is the FHIR base (the app then discovers from a base that serves nothing)",
        &["ehr-basic-launch-iss", "ehr-public-launch-iss"],
    ),
    f(
        "token-no-encounter-context",
        "the token response carries encounter when the EHR launched with one",
        &["ehr-basic-token-encounter"],
    ),
    f(
        "token-fhir-context-strings",
        "fhirContext is an array of objects (2.2 form)",
        &["ehr-basic-token-fhir-context"],
    ),
    f(
        "token-fhir-context-empty-role",
        "a fhirContext role is never the empty string",
        &["ehr-basic-token-fhir-context-role"],
    ),
    f(
        "token-fhir-context-identifier-no-type",
        "a fhirContext item named by identifier says its type",
        &["ehr-basic-token-fhir-context-type"],
    ),
    f(
        "token-authorization-details-incomplete",
        "authorization_details entries have type smart_on_fhir, locations and fhirVersions",
        &[
            "standalone-basic-token-details-type",
            "standalone-basic-token-details-locations",
            "standalone-basic-token-details-fhir-versions",
        ],
    ),
    f(
        "token-lifetime-two-hours",
        "access tokens live at most an hour",
        &["standalone-basic-token-lifetime"],
    ),
    f(
        "style-url-not-a-style",
        "smart_style_url serves a SMART Style JSON object",
        &["standalone-basic-style-object"],
    ),
    wide(
        "token-error-not-json",
        "token errors are JSON objects",
        &[
            "token-garbage-code-json",
            "token-reused-code-json",
            "token-other-client-json",
            "token-wrong-redirect-uri-json",
            "token-verifier-missing-json",
            "token-verifier-blank-json",
            "token-verifier-wrong-json",
            "token-verifier-challenge-json",
            "token-wrong-secret-json",
            "token-verifier-missing-confidential-json",
            "token-no-client-auth-json",
            "token-without-redirect-uri-json",
        ],
    ),
    f(
        "token-error-code-wrong",
        "a bad grant is refused with invalid_grant",
        &[
            "token-garbage-code-error",
            "token-reused-code-error",
            "token-other-client-error",
            "token-wrong-redirect-uri-error",
            "token-verifier-wrong-error",
            "token-verifier-challenge-error",
            "refresh-garbage-error",
            "refresh-other-client-error",
            "refresh-rotated-error",
            "revoke-refresh-refused-error",
            "token-other-assertion-error",
            "code-expiry-error",
        ],
    ),
    f(
        "pkce-verifier-optional",
        "a code with a code_challenge needs the code_verifier",
        &[
            "token-verifier-missing-status",
            "token-verifier-missing-error",
            "token-verifier-blank-status",
            "token-verifier-blank-error",
            "token-verifier-missing-confidential-status",
            "token-verifier-missing-confidential-error",
        ],
    ),
    // Authorization, token, introspection, revocation and FHIR faults.
    f(
        "redirect-uri-prefix-match",
        "the redirect_uri is compared with the registered one as a simple string (RFC 6749 §3.1.2.3); this server accepts any URI that starts with a registered one",
        &[
            "refuse-redirect-extra-segment-not-redirected",
            "refuse-redirect-extra-query-not-redirected",
        ],
    ),
    f(
        "redirect-uri-case-insensitive",
        "the redirect_uri is compared with the registered one as a simple string (RFC 6749 §3.1.2.3); this server ignores case",
        &["refuse-redirect-other-case-not-redirected"],
    ),
    f(
        "authorize-aud-origin-only",
        "aud must be the FHIR base; this server takes any URL on its origin",
        &["refuse-aud-other-path-no-code"],
    ),
    f(
        "authorize-aud-optional",
        "an authorization request without aud gets no code; this server issues one",
        &["refuse-no-aud-no-code"],
    ),
    f(
        "authorize-unknown-redirect-redirected",
        "an unregistered redirect_uri is never redirected to",
        &[
            "refuse-unregistered-redirect-not-redirected",
            "refuse-redirect-extra-segment-not-redirected",
            "refuse-redirect-extra-query-not-redirected",
            "refuse-redirect-other-case-not-redirected",
        ],
    ),
    f(
        "authorize-response-type-not-checked",
        "response_type other than code is refused",
        &["refuse-response-type-no-code", "refuse-response-type-error"],
    ),
    variant(
        "authorize-response-type-error-in-fragment",
        "response_type=token is refused with error=unsupported_response_type in the redirect's fragment, as the implicit grant returns its errors (RFC 6749 §4.2.2.1)",
        &["refuse-authorize"],
    ),
    f(
        "authorize-response-type-error-page",
        "an unsupported response_type is returned to the app as error=unsupported_response_type on its redirect URI (this server shows an error page: no code, and nothing the app can read)",
        &["refuse-response-type-error"],
    ),
    f(
        "authorize-aud-not-checked",
        "aud must be the FHIR base URL",
        &[
            "refuse-wrong-aud-no-code",
            "refuse-aud-other-scheme-no-code",
            "refuse-post-wrong-aud-no-code",
            "refuse-aud-other-path-no-code",
            "refuse-no-aud-no-code",
        ],
    ),
    f(
        "authorize-implicit-grant",
        "response_type=token, which the server does not list, gets no access token; this server answers with one in the fragment (the implicit grant)",
        &[
            "refuse-response-type-no-access-token",
            "refuse-response-type-error",
        ],
    ),
    f(
        "authorize-unknown-param-refused",
        "an authorization request's unrecognized parameters are ignored (RFC 6749 §3.1); this server refuses them with invalid_request",
        &["unknown-parameter-code"],
    ),
    f(
        "authorize-no-scope-error-page",
        "an authorization request without scope is answered at the redirect URI (a default scope, or invalid_scope); this server shows an error page the app never sees",
        &["no-scope-answered"],
    ),
    f(
        "authorize-no-scope-wrong-error",
        "an authorization request without scope is processed with a default scope or failed as invalid_scope (RFC 6749 §3.3); this server answers invalid_request",
        &["no-scope-invalid-scope"],
    ),
    // Wide: without sso-openid-connect the OpenID configuration case and the id_token checks
    // of the other flows skip.
    wide(
        "openid-granted-no-id-token",
        "a token response for a granted openid scope carries an id_token (OpenID Connect Core §3.1.3.3), whatever the capabilities say; this server lists no sso-openid-connect, grants openid and issues none",
        &["standalone-basic-token-id-token-openid-granted"],
    ),
    f(
        "consent-redirect-307",
        "the redirect that answers the sign-in or consent form is not a 307 (RFC 9700 §4.12: the browser would re-send the form, credentials and all, to the app); this server answers the consent form with 307",
        &["standalone-basic-redirect-not-307"],
    ),
    f(
        "sign-in-page-framable",
        "other sites may not frame the sign-in and consent pages (RFC 6749 §10.13, clickjacking); this server's pages say nothing about framing",
        &["standalone-basic-sign-in-not-framable"],
    ),
    variant(
        "sign-in-x-frame-options",
        "the sign-in and consent pages limit framing with X-Frame-Options: SAMEORIGIN instead of a CSP frame-ancestors directive",
        &["standalone-basic"],
    ),
    other_allowed(
        "openid-unadvertised",
        "a server that grants openid and issues id_tokens without listing sso-openid-connect (the id_token is still checked, against the keys its jwks_uri names)",
        &["standalone-basic"],
        &[
            "standalone-basic-oidc-config-status",
            "standalone-basic-token-id-token",
        ],
        &["standalone-basic-token-id-token-openid-granted"],
    ),
    wide(
        "offline-access-refused",
        "a server that lists permission-offline supports offline_access (SMART: permission-offline is 'support for refresh tokens (requested by offline_access scope)'); this server leaves it out of scopes_supported and refuses every authorization that asks for it",
        &["standalone-basic-redirect-code"],
    ),
    variant(
        "own-scope-vocabulary",
        "a server with a scope vocabulary of its own: scopes_supported lists patient scopes per resource type and no patient/* wildcard, and an authorization asking for a wildcard is refused with invalid_scope (SMART lets a server support only the scopes it lists)",
        &["standalone-basic", "standalone-public", "ehr-basic", "refresh"],
    ),
    variant(
        "authorize-default-scope",
        "an authorization request without scope is processed with the server's default scope (RFC 6749 §3.3 allows it) and gets a code",
        &["refuse-authorize"],
    ),
    other_allowed(
        "backend-only",
        "a server for backend services only: no launch capability, no authorization endpoint in smart-configuration or the CapabilityStatement, client_credentials its only grant (SMART 2.2 requires authorization_endpoint only with a launch)",
        &["smart-configuration", "capability-statement", "backend-rs384"],
        &[
            "smart-config-authorization-endpoint",
            "smart-config-grant-types",
            "smart-config-issuer",
            "smart-config-jwks-uri",
            "smart-config-response-types",
            "smart-config-capability-sets",
            "metadata-oauth-authorize",
        ],
        &[],
    ),
    variant(
        "auth-methods-absent",
        "smart-configuration leaves out token_endpoint_auth_methods_supported (OPTIONAL in SMART 2.2): RFC 8414's default, client_secret_basic, holds, so the client_secret_basic cases run",
        &["standalone-basic", "token-refusals", "refresh"],
    ),
    variant(
        "authorize-error-page-200",
        "an unknown client_id or an unregistered redirect_uri is shown on an error page answered 200, which only a browser reading the page can tell from a sign-in page",
        &["refuse-authorize"],
    ),
    Fault {
        target: Some("fixtures/targets/reference-no-deny.yaml"),
        ..offers_less(
            "consent-no-deny",
            "the consent page has no deny control (no source requires one), and the target names no `deny:` steps: the deny at consent is skipped, never failed",
            "`browser.deny`",
            &["refuse-authorize"],
        )
    },
    stalls(
        "authorize-foreign-aud-stalls",
        "a foreign aud is refused (this server accepts it, signs the person in, then shows a patient list that never loads: no code and no error, which proves no refusal)",
        &[
            "refuse-wrong-aud-no-code",
            "refuse-aud-other-scheme-no-code",
            "refuse-post-wrong-aud-no-code",
            "refuse-post-wrong-aud-state",
            "refuse-aud-other-path-no-code",
            "refuse-no-aud-no-code",
        ],
    ),
    f(
        "authorize-state-not-echoed",
        "state is echoed on the redirect",
        &[
            "standalone-basic-redirect-state",
            "standalone-public-redirect-state",
            "standalone-post-redirect-state",
            "standalone-rs384-redirect-state",
            "standalone-es384-redirect-state",
            "ehr-basic-redirect-state",
            "ehr-public-redirect-state",
            "authorize-post-redirect-state",
            "deny-consent-state",
        ],
    ),
    f(
        "authorize-deny-no-error",
        "Deny redirects with error=access_denied",
        &["deny-consent-access-denied"],
    ),
    wide(
        "pkce-optional",
        "public clients must send a PKCE code_challenge",
        &["refuse-missing-pkce-no-code"],
    ),
    f(
        "pkce-missing-wrong-error",
        "an authorization request without a code_challenge is refused with error=invalid_request (RFC 7636 §4.4.1; this server says access_denied)",
        &["refuse-missing-pkce-invalid-request"],
    ),
    f(
        "pkce-plain-accepted",
        "the plain PKCE method is refused",
        &["refuse-plain-pkce-no-code", "refuse-post-plain-pkce-no-code"],
    ),
    f(
        "code-reusable",
        "an authorization code is single-use",
        &["token-reused-code-status", "token-reused-code-error"],
    ),
    f(
        "code-not-bound-to-client",
        "a code is bound to the client it was issued to",
        &["token-other-client-status", "token-other-client-error", "token-other-assertion-no-token", "token-other-assertion-error"],
    ),
    f(
        "redirect-uri-not-checked-at-token",
        "the token request's redirect_uri must match",
        &[
            "token-wrong-redirect-uri-status",
            "token-wrong-redirect-uri-error",
            "token-without-redirect-uri-no-token",
            "token-without-redirect-uri-error",
        ],
    ),
    f(
        "pkce-verifier-not-checked",
        "the code_verifier must match the code_challenge",
        &[
            "token-verifier-wrong-status",
            "token-verifier-wrong-error",
            "token-verifier-challenge-status",
            "token-verifier-challenge-error",
        ],
    ),
    f(
        "token-no-cache-control",
        "token responses carry Cache-Control: no-store",
        &[
            "standalone-basic-token-cache-control",
            "standalone-public-token-cache-control",
            "standalone-post-token-cache-control",
            "standalone-rs384-token-cache-control",
            "standalone-es384-token-cache-control",
            "ehr-basic-token-cache-control",
            "ehr-public-token-cache-control",
            "refresh-cache-control",
            "backend-rs384-cache-control",
            "backend-es384-cache-control",
        ],
    ),
    f(
        "token-no-pragma",
        "token responses carry Pragma: no-cache",
        &[
            "standalone-basic-token-pragma",
            "standalone-public-token-pragma",
            "standalone-post-token-pragma",
            "standalone-rs384-token-pragma",
            "standalone-es384-token-pragma",
            "ehr-basic-token-pragma",
            "ehr-public-token-pragma",
            "refresh-pragma",
        ],
    ),
    f(
        "token-error-status-200",
        "token errors answer 400 (401 for invalid_client)",
        &[
            "token-garbage-code-status",
            "token-reused-code-status",
            "token-other-client-status",
            "token-wrong-redirect-uri-status",
            "token-verifier-missing-status",
            "token-verifier-blank-status",
            "token-verifier-wrong-status",
            "token-verifier-challenge-status",
            "token-wrong-secret-status",
            "backend-grant-type-status", "backend-grant-type-status-es384",
            "backend-assertion-type-status", "backend-assertion-type-status-es384",
            "backend-wrong-signature-status", "backend-wrong-signature-status-es384",
            "backend-unknown-kid-status", "backend-unknown-kid-status-es384",
            "backend-alg-none-status", "backend-alg-none-status-es384",
            "backend-hs256-status", "backend-hs256-status-es384",
            "backend-wrong-aud-status", "backend-wrong-aud-status-es384",
            "backend-expired-status", "backend-expired-status-es384",
            "backend-replayed-jti-status", "backend-replayed-jti-status-es384",
            "backend-sub-not-iss-status", "backend-sub-not-iss-status-es384",
            "backend-iss-not-client-status", "backend-iss-not-client-status-es384",
            "backend-beyond-registered-refused", "backend-beyond-registered-refused-es384",
            "backend-unsupported-type-refused",
            "backend-jwks-uri-dropped-key-refused",
            "refresh-garbage-status",
            "refresh-broader-not-granted",
            "refresh-other-client-status",
            "refresh-no-client-auth-status",
            "refresh-rotated-status",
            "revoke-refresh-refused-status",
            "introspect-unauthenticated-refused",
            "backend-no-exp-status", "backend-no-exp-status-es384",
            "backend-no-aud-status", "backend-no-aud-status-es384",
            "backend-no-sub-status", "backend-no-sub-status-es384",
            "backend-no-iss-status", "backend-no-iss-status-es384",
            "backend-not-yet-valid-status", "backend-not-yet-valid-status-es384",
            "revoke-no-client-auth-refused",
            "backend-no-grant-type-status", "backend-no-grant-type-status-es384",
            "backend-unknown-client-status", "backend-unknown-client-status-es384",
            "revoke-other-client-refused",
            "backend-unregistered-jku-status", "backend-unregistered-jku-status-es384",
            "backend-duplicate-kid-status",
        ],
    ),
    f(
        "token-no-www-authenticate",
        "invalid_client answers carry WWW-Authenticate",
        &["token-wrong-secret-www-authenticate"],
    ),
    f(
        "client-secret-not-checked",
        "a wrong client_secret is refused",
        &[
            "token-wrong-secret-status",
            "token-wrong-secret-error",
            "token-wrong-secret-www-authenticate",
        ],
    ),
    wide(
        "token-no-patient-context",
        "the token response carries patient when launch/patient was granted",
        &[
            "standalone-basic-token-patient",
            "standalone-public-token-patient",
            "standalone-post-token-patient",
            "standalone-rs384-token-patient",
            "standalone-es384-token-patient",
            "ehr-basic-token-patient",
            "ehr-public-token-patient",
        ],
    ),
    f(
        "id-token-wrong-aud",
        "the id_token's aud is the client_id",
        &["standalone-basic-id-token-aud"],
    ),
    f(
        "id-token-unsigned",
        "the id_token is signed (RS256)",
        &[
            "standalone-basic-id-token-signature",
            "standalone-basic-id-token-alg",
            "standalone-basic-id-token-rs256",
        ],
    ),
    f(
        "id-token-no-nonce",
        "the id_token carries the nonce sent",
        &["standalone-basic-id-token-nonce"],
    ),
    wide(
        "refresh-broadens-scope",
        "a refresh cannot broaden the scope",
        &["refresh-broader-not-granted"],
    ),
    wide(
        "refresh-broader-server-error",
        "a refresh asking for more than was granted is refused with 400 or answered with the original grant (this server answers 500 server_error)",
        &["refresh-broader-status"],
    ),
    f(
        "refresh-broader-wrong-error",
        "a refresh refused for asking more than was granted says invalid_scope (RFC 6749 §5.2; this server says invalid_grant)",
        &["refresh-broader-error"],
    ),
    other_allowed(
        "refresh-broader-ignored",
        "a refresh asking for more than was granted is answered with the original grant (scope stated), not refused: RFC 6749 §6 forbids the client to ask, and the server may refuse or ignore it",
        &["refresh"],
        &["refresh-broader-error"],
        &["refresh-broader-not-granted"],
    ),
    f(
        "redirect-uri-optional-at-token",
        "a code exchange without the redirect_uri its authorization request sent is refused (RFC 6749 §4.1.3)",
        &[
            "token-without-redirect-uri-no-token",
            "token-without-redirect-uri-error",
        ],
    ),
    f(
        "code-without-client-auth",
        "a confidential client's code exchange needs client authentication",
        &[
            "token-no-client-auth-no-token",
            "token-no-client-auth-error",
            "token-no-assertion-no-token",
            "token-no-assertion-error",
        ],
    ),
    f(
        "refresh-without-client-auth",
        "a confidential client's refresh needs client authentication",
        &[
            "refresh-no-client-auth-status",
            "refresh-no-client-auth-error",
        ],
    ),
    f(
        "refresh-other-client",
        "a refresh token works only for its client",
        &["refresh-other-client-status", "refresh-other-client-error"],
    ),
    f(
        "refresh-old-token-reusable",
        "a rotated refresh token is refused",
        &["refresh-rotated-status", "refresh-rotated-error"],
    ),
    wide(
        "client-assertion-signature-not-checked",
        "a client assertion's signature is verified",
        &[
            "backend-wrong-signature-status", "backend-wrong-signature-status-es384",
            "backend-wrong-signature-error", "backend-wrong-signature-error-es384",
            "backend-unknown-kid-status", "backend-unknown-kid-status-es384",
            "backend-unknown-kid-error", "backend-unknown-kid-error-es384",
            "backend-alg-none-status", "backend-alg-none-status-es384",
            "backend-alg-none-error", "backend-alg-none-error-es384",
            "backend-hs256-status", "backend-hs256-status-es384",
            "backend-hs256-error", "backend-hs256-error-es384",
            "backend-not-yet-valid-status", "backend-not-yet-valid-status-es384",
            "backend-not-yet-valid-error", "backend-not-yet-valid-error-es384",
            "token-forged-assertion-no-token",
            "token-forged-assertion-error",
            "backend-unregistered-jku-status", "backend-unregistered-jku-status-es384",
            "backend-unregistered-jku-error", "backend-unregistered-jku-error-es384",
            "backend-duplicate-kid-status",
            "backend-duplicate-kid-error",
        ],
    ),
    // Signature checks differ by key type: only the per-algorithm copy of the backend
    // refusals (backend-refusals-es384) can see this one.
    wide(
        "es384-signature-not-checked",
        "an ES384 client assertion's signature is verified (this server verifies RS384 signatures and takes any ES384 one)",
        &[
            "backend-wrong-signature-status-es384",
            "backend-wrong-signature-error-es384",
        ],
    ),
    f(
        "client-assertion-aud-not-checked",
        "a client assertion's aud is the token endpoint",
        &["backend-wrong-aud-status", "backend-wrong-aud-status-es384", "backend-wrong-aud-error", "backend-wrong-aud-error-es384"],
    ),
    variant(
        "client-assertion-long-exp-accepted",
        "client assertions whose exp is an hour ahead are accepted (RFC 7523 §3: the server may reject them)",
        &["backend-refusals", "backend-refusals-es384"],
    ),
    f(
        "client-assertion-jti-replay",
        "a client assertion's jti cannot be replayed",
        &["backend-replayed-jti-status", "backend-replayed-jti-status-es384", "backend-replayed-jti-error", "backend-replayed-jti-error-es384"],
    ),
    f(
        "backend-token-lifetime-long",
        "backend access tokens live at most five minutes",
        &["backend-rs384-expires-in", "backend-es384-expires-in"],
    ),
    f(
        "backend-expires-in-missing",
        "a backend token response states expires_in (required by SMART Backend Services)",
        &[
            "backend-rs384-expires-in",
            "backend-es384-expires-in",
            "backend-rs384-expires-in-stated",
            "backend-es384-expires-in-stated",
        ],
    ),
    wide(
        "jwks-uri-keys-not-used",
        "a client registered by its JWK Set URL authenticates with the keys there (this server fetches the set, then refuses)",
        &["backend-jwks-uri-status"],
    ),
    f(
        "jwks-cached-beyond-header",
        "a client JWK Set is not kept longer than its Cache-Control allows (this server keeps every one an hour)",
        &["backend-jwks-uri-dropped-key-refused"],
    ),
    wide(
        "jwks-refetched-set-kept",
        "a client JWK Set served no-store is not kept (this server keeps every set it fetches after the first for an hour)",
        &["backend-jwks-uri-restored-status"],
    ),
    f(
        "jwks-never-cached",
        "a client JWK Set is cached as its Cache-Control allows (this server fetches it for every assertion)",
        &["backend-jwks-uri-cached"],
    ),
    f(
        "backend-unsupported-type-granted",
        "a backend request for a resource type the server does not serve fails",
        &["backend-unsupported-type-refused"],
    ),
    f(
        "backend-refresh-token-issued",
        "no refresh token is issued to a backend service",
        &["backend-rs384-no-refresh-token"],
    ),
    f(
        "backend-scope-not-mediated",
        "a backend token is never granted beyond the client's authorized scope (this server grants what is asked)",
        &["backend-beyond-registered-mediated", "backend-beyond-registered-mediated-es384", "backend-beyond-registered-refused", "backend-beyond-registered-refused-es384"],
    ),
    f(
        "client-assertion-iss-not-checked",
        "the client assertion's iss is the client_id (this server names the client by sub)",
        &["backend-iss-not-client-status", "backend-iss-not-client-status-es384", "backend-iss-not-client-error", "backend-iss-not-client-error-es384"],
    ),
    f(
        "client-assertion-alg-confusion",
        "an HS256 client assertion is refused (this server verifies one with the client's registered public key, as the PEM a JWK becomes, as the HMAC secret)",
        &["backend-hs256-status", "backend-hs256-status-es384", "backend-hs256-error", "backend-hs256-error-es384"],
    ),
    f(
        "token-error-without-description",
        "token endpoint errors carry error_description or error_uri",
        &["backend-wrong-signature-description", "backend-wrong-signature-description-es384"],
    ),
    // Proven by tests/fault_matrix.rs's own test, which holds a code ten minutes and a second
    // (the matrix's target holds one for 3 s, which judges only a refusal's error code).
    f(
        "code-never-expires",
        "an authorization code is refused once it has lived longer than the recommended ten minutes (this server's codes never expire)",
        &["code-expiry-refused"],
    ),
    f(
        "introspection-no-auth-required",
        "introspection requires client authentication",
        &["introspect-unauthenticated-refused"],
    ),
    f(
        "introspection-garbage-active",
        "an unknown token introspects as active: false",
        &[
            "introspect-garbage-inactive",
            "introspect-garbage-nothing-else",
        ],
    ),
    f(
        "introspection-scope-wrong",
        "introspection reports the token's scope",
        &["introspect-scope"],
    ),
    f(
        "revoked-token-still-accepted",
        "a revoked access token no longer works",
        &["revoke-access-inactive", "revoke-access-read-refused"],
    ),
    f(
        "revocation-without-client-auth",
        "a confidential client's revocation is refused without its authentication (RFC 7009 §2.1); this server revokes on a bare client_id",
        &[
            "revoke-no-client-auth-refused",
            "revoke-no-client-auth-token-works",
            "revoke-other-client-refused",
            "revoke-other-client-token-works",
        ],
    ),
    f(
        "revocation-hint-trusted",
        "a token revoked under a wrong token_type_hint is found and revoked (RFC 7009 §2.1: the server MUST extend its search); this server looks only where the hint says",
        &[
            "revoke-refresh-refused-status",
            "revoke-refresh-refused-error",
        ],
    ),
    f(
        "revoked-refresh-still-usable",
        "a revoked refresh token no longer works",
        &[
            "revoke-refresh-refused-status",
            "revoke-refresh-refused-error",
        ],
    ),
    f(
        "revocation-other-client-accepted",
        "a revocation is refused when the token was issued to another client (RFC 7009 §2.1), and the token keeps working; this server revokes any client's token",
        &["revoke-other-client-refused", "revoke-other-client-token-works"],
    ),
    f(
        "revocation-unknown-token-error",
        "revoking an unknown token answers 200",
        &["revoke-unknown-status"],
    ),
    wide(
        "refresh-scope-param-refused",
        "a refresh may ask for the granted scope or a narrower one",
        &["refresh-same-scope-status", "refresh-narrower-status"],
    ),
    variant(
        "refresh-narrower-scope-ignored",
        "a narrower scope asked on refresh is ignored (RFC 6749 §3.3 MAY; SMART 2.2: the refresh scope is the original one)",
        &["refresh"],
    ),
    wide(
        "refresh-scope-missing",
        "a refresh response states its scope (required by SMART 2.2)",
        &["refresh-scope-stated"],
    ),
    f(
        "refresh-scope-grows",
        "a refreshed token's scope stays within the original grant",
        &[
            "refresh-scope-subset",
            "refresh-same-scope-subset",
        ],
    ),
    f(
        "refresh-access-token-unusable",
        "a refreshed access token reads FHIR data",
        &["refresh-new-token-reads"],
    ),
    wide(
        "refresh-token-not-issued",
        "offline_access brings a refresh token",
        &["refresh-token-issued"],
    ),
    wide(
        "introspection-always-inactive",
        "an active token introspects as active",
        &[
            "introspect-active",
            "introspect-scope",
            "introspect-client-id",
            "introspect-exp",
            "introspect-patient",
            "introspect-fhir-user",
        ],
    ),
    f(
        "introspection-client-id-missing",
        "introspection reports the token's client_id",
        &["introspect-client-id"],
    ),
    f(
        "introspection-exp-missing",
        "introspection reports the token's exp",
        &["introspect-exp"],
    ),
    f(
        "introspection-no-patient",
        "introspection reports the launch's patient",
        &["introspect-patient"],
    ),
    f(
        "introspection-no-fhir-user",
        "introspection reports fhirUser when the fhirUser scope was granted",
        &["introspect-fhir-user"],
    ),
    f(
        "introspection-inactive-explained",
        "nothing but active: false is said of an inactive token",
        &["introspect-garbage-nothing-else"],
    ),
    f(
        "revocation-success-204",
        "revocation answers 200",
        &[
            "revoke-access-status",
            "revoke-refresh-status",
            "revoke-unknown-status",
        ],
    ),
    f(
        "debug-token-lifetime-ignored",
        "the S4S debug token honours access_lifetime",
        &["s4s-debug-token-lifetime", "s4s-debug-introspect-lifetime"],
    ),
    f(
        "debug-token-approval-ignored",
        "the S4S debug token honours approval_expires (debug introspection shows the approval's end)",
        &["s4s-debug-introspect-approval"],
    ),
    other_allowed(
        "debug-token-bare",
        "the S4S debug token endpoint answers the two tokens and nothing else, as the S4S reference stack does (no expires_in, no patient): the lifetime is judged from debug introspection",
        &["s4s-debug-endpoints"],
        &["s4s-debug-token-lifetime"],
        &[],
    ),
    wide(
        "debug-token-no-refresh",
        "the S4S debug token comes with a refresh token",
        &["s4s-debug-token-refresh-token"],
    ),
    f(
        "debug-introspect-inactive",
        "S4S debug introspection reports a live token active",
        &["s4s-debug-introspect-active"],
    ),
    wide(
        "scopes-supported-not-supported",
        "every scope in scopes_supported is supported (this server lists patient/*.cruds and refuses it)",
        &["scopes-supported-code"],
    ),
    f(
        "fhir-v1-read-not-search",
        "a v1 .read scope allows searches too (v2 .rs)",
        &["v1-scopes-search"],
    ),
    wide(
        "launch-role-refused",
        "an authorization asking for a launch scope with an unknown role is not refused",
        &["launch-role-code"],
    ),
    f(
        "launch-role-unknown-dropped",
        "a launch context scope with an unsupported role still brings the type's context",
        &["launch-role-patient"],
    ),
    wide(
        "v1-scopes-refused-at-authorize",
        "an authorization asking for v1 scopes gets a code",
        &["v1-scopes-code"],
    ),
    f(
        "permission-v1-not-advertised",
        "permission-v1 is advertised",
        &["v1-scopes-advertised"],
    ),
    f(
        "v1-scopes-returned-as-v2",
        "granted v1 scopes are returned in v1 form",
        &["v1-scopes-returned"],
    ),
    f(
        "fhir-v1-scopes-refused",
        "SMART v1 `.read` scopes still grant reads",
        &["s4s-read-with-token-200", "v1-scopes-read"],
    ),
    f(
        "fhir-category-search-unsupported",
        "an Observation search by category works",
        &["bearer-target-reads"],
    ),
    f(
        "fhir-read-without-token",
        "FHIR reads need a bearer token",
        &[
            "bearer-no-token-401",
            "bearer-no-token-www-authenticate",
            "s4s-read-without-token-401",
            "s4s-read-without-token-www-authenticate",
        ],
    ),
    f(
        "fhir-invalid-token-accepted",
        "FHIR reads refuse tokens the server never issued",
        &[
            "bearer-garbage-token-401",
            "bearer-garbage-token-www-authenticate",
        ],
    ),
    f(
        "fhir-any-issued-token-accepted",
        "only an access token opens the FHIR API; this server also takes its refresh tokens and id_tokens as bearer tokens",
        &[
            "standalone-basic-id-token-not-bearer",
            "standalone-basic-refresh-token-not-bearer",
        ],
    ),
    f(
        "fhir-no-www-authenticate",
        "FHIR 401/403 answers carry WWW-Authenticate: Bearer",
        &[
            "bearer-no-token-www-authenticate",
            "bearer-garbage-token-www-authenticate",
            "s4s-read-without-token-www-authenticate",
        ],
    ),
    variant(
        "fhir-token-in-query-accepted",
        "access tokens in the query string are accepted (RFC 6750 §2.3: resource servers MAY support it)",
        &["bearer-reads"],
    ),
    f(
        "token-no-cors",
        "the token endpoint allows a browser app's registered origin (CORS), preflight included",
        &["standalone-public-token-preflight-cors", "standalone-public-token-cors"],
    ),
    f(
        "fhir-no-cors",
        "the FHIR API allows a browser app's registered origin (CORS), preflight included",
        &["standalone-public-fhir-preflight-cors", "standalone-public-patient-cors"],
    ),
    f(
        "fhir-aud-not-checked",
        "a token issued for one FHIR base (aud) is refused at another base of the server",
        &["bearer-other-audience-refused"],
    ),
    f(
        "fhir-expired-token-accepted",
        "the FHIR server refuses expired access tokens",
        &[
            "token-expiry-read-refused",
            "token-expiry-read-no-data",
            "backend-token-expiry-read-refused",
        ],
    ),
    f(
        "introspection-bearer-sees-nothing",
        "introspection with a bearer token describes the token (this server calls every token inactive then)",
        &["introspect-bearer-active"],
    ),
    f(
        "introspection-bearer-unchecked",
        "introspection takes only an appropriately scoped access token as the bearer (this server takes any bearer value, an id_token or a refresh token too)",
        &[
            "introspect-id-token-bearer-refused",
            "introspect-refresh-token-bearer-refused",
        ],
    ),
    wide(
        "introspection-bearer-refused",
        "a SMART Backend Service bearer token authenticates an introspection",
        &["introspect-bearer-status"],
    ),
    f(
        "introspection-no-iss",
        "introspection of a token issued with an id_token carries the id_token's iss",
        &["introspect-iss"],
    ),
    f(
        "introspection-sub-differs",
        "introspection of a token issued with an id_token carries the id_token's sub",
        &["introspect-sub"],
    ),
    f(
        "introspection-expired-active",
        "introspection calls an expired token inactive",
        &["token-expiry-introspect-inactive"],
    ),
    // Wide: the checks of the other Observation searches skip.
    wide(
        "fhir-granted-observations-refused",
        "a token serves what the scope granted in its token response names (patient/Observation); this resource server refuses every Observation search",
        &[
            "bearer-granted-scope-searches",
            "bearer-target-reads",
            "v1-scopes-search",
        ],
    ),
    variant(
        "fhir-out-of-scope-search-empty",
        "a search for a resource type outside the granted scopes is answered 200 with an empty searchset: no data, which enforces the scopes as a refusal does",
        &["bearer-reads", "backend-rs384"],
    ),
    wide(
        "fhir-out-of-scope-500",
        "a request outside the token's scopes gets 403 (RFC 6750 §3.1 insufficient_scope; this server answers 500, with no data)",
        &["bearer-out-of-scope-refused", "backend-rs384-out-of-scope-refused"],
    ),
    f(
        "fhir-scope-not-enforced",
        "reads outside the granted resource types are refused",
        &[
            "bearer-out-of-scope-no-data",
            "backend-rs384-out-of-scope-no-data",
        ],
    ),
    f(
        "fhir-compartment-not-enforced",
        "patient/ scopes reach only the patient's compartment",
        &[
            "bearer-other-patient-refused",
            "bearer-other-patient-no-data",
            "bearer-search-compartment",
        ],
    ),
    f(
        "fhir-search-leaks-other-patients",
        "searches return only resources the token may see",
        &["bearer-search-compartment"],
    ),
    // SMART Backend Services (suites/smart-backend-services.yaml).
    f(
        "fhir-system-scopes-refused",
        "system/ scopes read data",
        &[
            "backend-rs384-read",
            "backend-es384-read",
            "backend-token-expiry-read-before",
        ],
    ),
    f(
        "token-unknown-grant-type-accepted",
        "an unknown grant_type is refused",
        &["backend-grant-type-status", "backend-grant-type-status-es384", "backend-grant-type-error", "backend-grant-type-error-es384"],
    ),
    f(
        "token-missing-grant-type-unsupported",
        "a token request without grant_type is missing a required parameter: invalid_request (RFC 6749 §5.2); this server answers unsupported_grant_type",
        &["backend-no-grant-type-error", "backend-no-grant-type-error-es384"],
    ),
    f(
        "token-unknown-client-invalid-request",
        "an assertion of a client the server never issued fails client authentication: invalid_client (RFC 6749 §5.2, 'e.g., unknown client'); this server answers invalid_request",
        &["backend-unknown-client-error", "backend-unknown-client-error-es384"],
    ),
    f(
        "client-assertion-type-not-checked",
        "client_assertion_type is the JWT bearer type",
        &[
            "backend-assertion-type-status", "backend-assertion-type-status-es384",
            "backend-assertion-type-error", "backend-assertion-type-error-es384",
        ],
    ),
    f(
        "client-assertion-claims-optional",
        "a client assertion carries iss, sub, aud and exp (RFC 7523 §3); this server takes them as optional",
        &[
            "backend-no-exp-status", "backend-no-exp-status-es384",
            "backend-no-exp-error", "backend-no-exp-error-es384",
            "backend-no-aud-status", "backend-no-aud-status-es384",
            "backend-no-aud-error", "backend-no-aud-error-es384",
            "backend-no-sub-status", "backend-no-sub-status-es384",
            "backend-no-sub-error", "backend-no-sub-error-es384",
            "backend-no-iss-status", "backend-no-iss-status-es384",
            "backend-no-iss-error", "backend-no-iss-error-es384",
        ],
    ),
    f(
        "client-assertion-nbf-not-checked",
        "a client assertion is not accepted before its nbf (RFC 7523 §3)",
        &["backend-not-yet-valid-status", "backend-not-yet-valid-status-es384", "backend-not-yet-valid-error", "backend-not-yet-valid-error-es384"],
    ),
    f(
        "client-assertion-expired-accepted",
        "an expired client assertion is refused",
        &["backend-expired-status", "backend-expired-status-es384", "backend-expired-error", "backend-expired-error-es384"],
    ),
    f(
        "client-assertion-sub-not-checked",
        "a client assertion's sub is the client_id",
        &["backend-sub-not-iss-status", "backend-sub-not-iss-status-es384", "backend-sub-not-iss-error", "backend-sub-not-iss-error-es384"],
    ),
    // A screen a person can use but WebDriver's own click cannot: tests/browser.rs plays it
    // with `via: pointer` and `via: script`, and shows the default click failing.
    f(
        "consent-zero-size-checkbox",
        "approving needs no more than the Approve button (this consent page also wants an \"I agree\" check box drawn at zero size under a styled label)",
        &[],
    ),
    // Proven by tests/server_behaviours.rs (no refusal check passes against it) and a probe.
    f(
        "refuses-everything",
        "valid requests are accepted: this server refuses every token, registration, management, introspection, revocation and FHIR request, and every authorization request",
        &[],
    ),
    variant(
        "refresh-ends-old-access-tokens",
        "a refresh ends the access tokens issued with the spent refresh token (no requirement keeps them alive)",
        &[
            "standalone-basic",
            "standalone-public",
            "standalone-post",
            "standalone-rs384",
            "standalone-es384",
            "refresh",
            "revocation",
        ],
    ),
    variant_for(
        "ehr-tenant-base",
        "the EHR launches with its tenant's own FHIR base (`iss` = `/ehr/fhir`, whose smart-configuration alone offers launch-ehr) and wants that base as `aud`",
        "fixtures/targets/reference-ehr-tenant.yaml",
        &["ehr-basic", "ehr-public"],
    ),
    offers_less(
        "no-standalone-launch",
        "offers EHR launches only: capabilities lists no launch-standalone, and an authorization request without `launch` is refused",
        "launch-standalone",
        &[
            "standalone-basic",
            "standalone-public",
            "standalone-post",
            "standalone-rs384",
            "standalone-es384",
            "authorize-post",
            "refuse-authorize",
            "refuse-pkce",
            "token-refusals",
            "token-refusals-asymmetric",
            "token-other-client",
            "token-verifier-missing-confidential",
            "bearer-reads",
            "refresh",
            "introspection",
            "revocation",
            "scopes-supported",
            "launch-role",
            "token-expiry",
            "v1-scopes",
            "introspection-bearer",
            "app-state",
        ],
    ),
    offers_less(
        "no-backend-services",
        "offers no SMART Backend Services: grant_types_supported lists no client_credentials, and the token endpoint refuses that grant",
        "client_credentials",
        &[
            "backend-rs384",
            "backend-es384",
            "backend-refusals",
            "backend-duplicate-kid",
            "backend-unsupported-type",
            "backend-jwks-uri",
            "backend-token-expiry",
            "introspection-bearer",
        ],
    ),
    // Transport (RFC 9112 §9.6: a server may close an idle connection at any time).
    variant(
        "closes-connections",
        "every connection closes after one response, without `Connection: close`, resetting the next request sent on it",
        &[
            "smart-configuration",
            "capability-statement",
            "openid-configuration",
            "manage-lifecycle",
            "refresh",
            "introspection",
            "revocation",
            "bearer-reads",
            "backend-refusals",
            "standalone-basic",
        ],
    ),
    // Faults that prove a statement the checks above cite beside their primary requirement.
    wide(
        "authorize-post-refused",
        "the authorization endpoint supports POST as well as GET (smart-al-07; this server answers a form POST with 405)",
        &["authorize-post-redirect-code", "authorize-post-redirect-state"],
    ),
    wide(
        "registration-jwks-refused",
        "a client's JWK Set may be registered by value (smart-ca-03; this server accepts only jwks_uri)",
        &["reg-asymmetric-status"],
    ),
    other_allowed(
        "registration-duplicate-kid-refused",
        "a registration whose JWK Set has two keys under one kid is refused (invalid_client_metadata) instead of failing the ambiguous assertions later",
        &["backend-duplicate-kid"],
        &["backend-duplicate-kid-status", "backend-duplicate-kid-error"],
        &[],
    ),
    other_allowed(
        "registration-duplicate-kid-kept-one",
        "a registration whose JWK Set has two keys under one kid is answered with the first key of each kid (RFC 7591 §3.2.1: the server may replace metadata), so no assertion is ambiguous",
        &["backend-duplicate-kid"],
        &["backend-duplicate-kid-status", "backend-duplicate-kid-error"],
        &[],
    ),
    f(
        "client-assertion-duplicate-kid-accepted",
        "an assertion whose kid names more than one registered key fails verification (SMART 2.2, smart-ca-13 step 3); this server takes the first key with that kid",
        &["backend-duplicate-kid-status", "backend-duplicate-kid-error"],
    ),
    f(
        "client-assertion-jku-not-checked",
        "a client assertion whose jku is not the client's registered JWK Set URL fails verification (SMART 2.2, smart-ca-13 step 1); this server ignores jku and verifies with the registered keys",
        &["backend-unregistered-jku-status", "backend-unregistered-jku-status-es384", "backend-unregistered-jku-error", "backend-unregistered-jku-error-es384"],
    ),
    wide(
        "client-assertion-jku-required",
        "a client assertion without jku is verified with the keys registered (smart-ca-09; this server refuses it)",
        &["backend-rs384-status", "backend-es384-status"],
    ),
    f(
        "client-assertion-error-invalid-request",
        "a client assertion that fails authentication is answered invalid_client (smart-ca-14; this server answers invalid_request)",
        &[
            "backend-wrong-signature-error", "backend-wrong-signature-error-es384",
            "backend-unknown-kid-error", "backend-unknown-kid-error-es384",
            "backend-alg-none-error", "backend-alg-none-error-es384",
            "backend-hs256-error", "backend-hs256-error-es384",
            "backend-wrong-aud-error", "backend-wrong-aud-error-es384",
            "backend-expired-error", "backend-expired-error-es384",
            "backend-replayed-jti-error", "backend-replayed-jti-error-es384",
            "backend-sub-not-iss-error", "backend-sub-not-iss-error-es384",
            "backend-no-exp-error", "backend-no-exp-error-es384",
            "backend-no-aud-error", "backend-no-aud-error-es384",
            "backend-no-sub-error", "backend-no-sub-error-es384",
            "backend-not-yet-valid-error", "backend-not-yet-valid-error-es384",
            "backend-unregistered-jku-error", "backend-unregistered-jku-error-es384",
            "backend-duplicate-kid-error",
        ],
    ),
    wide(
        "introspection-active-missing",
        "an introspection answer carries `active` (RFC 7662 §2.2, smart-ti-02; this server leaves it out)",
        &[
            "introspect-active",
            "introspect-garbage-inactive",
            "introspect-garbage-nothing-else",
            "token-expiry-introspect-inactive",
        ],
    ),
    wide(
        "app-state-patient-subject-refused",
        "App State is kept for a Patient subject (smart-as-09, smart-as-12; this server refuses it)",
        &["app-state-create-status", "app-state-search-subject-finds"],
    ),
];

/// The set of faults a server runs with.
#[derive(Debug, Clone, Default)]
pub struct Faults(Vec<&'static str>);

/// The requirements a fault breaks besides the primary (first) citation of the checks it is
/// caught by, where those checks cite them too: most often a SMART sentence that restates
/// RFC 6749 (Cache-Control on token responses), or a broader duty the narrower check's
/// failure shows broken. `smartcheck requirements` counts a requirement as proven only by a
/// fault that breaks it; a test asserts that every pair here is backed by a check that cites
/// the requirement and that the fault matrix makes fail.
pub const ALSO_BREAKS: &[(&str, &[&str])] = &[
    ("token-endpoint-missing", &["smart-cf-03"]),
    ("pkce-methods-absent", &["smart-cf-21"]),
    ("introspection-endpoint-absent", &["smart-ti-01"]),
    ("app-state-not-advertised", &["smart-cf-03"]),
    ("smart-config-content-type", &["smart-cf-05"]),
    ("pkce-verifier-not-checked", &["smart-al-01"]),
    ("authorize-code-missing", &["smart-al-10"]),
    ("authorize-state-not-echoed", &["smart-al-11"]),
    ("token-error-not-json", &["smart-al-12"]),
    ("token-no-cache-control", &["smart-al-18"]),
    ("token-no-pragma", &["smart-al-19"]),
    ("fhir-read-without-token", &["smart-al-24", "smart-bs-16"]),
    (
        "fhir-invalid-token-accepted",
        &["smart-al-24", "smart-bs-16"],
    ),
    (
        "fhir-expired-token-accepted",
        &["smart-al-25", "smart-bs-16"],
    ),
    ("refresh-other-client", &["smart-al-27"]),
    ("refresh-broadens-scope", &["smart-al-28"]),
    ("refresh-scope-grows", &["smart-al-28"]),
    (
        "token-no-patient-context",
        &["smart-sc-06", "smart-sc-07", "smart-sc-08"],
    ),
    ("jwks-bad-key", &["smart-sc-15"]),
    ("id-token-unsigned", &["smart-sc-17"]),
    ("oidc-no-rs256", &["smart-sc-17"]),
    ("token-error-status-200", &["smart-bs-05"]),
    ("token-access-token-missing", &["smart-bs-08"]),
    ("backend-token-lifetime-long", &["smart-bs-14"]),
    ("registration-client-id-missing", &["smart-ca-07"]),
    ("app-state-one-per-code", &["smart-as-08"]),
    ("app-state-extension-dropped", &["smart-as-14"]),
    ("authorize-post-refused", &["smart-al-07"]),
    // The code flow with the identity scopes (openid fhirUser) does not work at all.
    ("authorize-refuses-everything", &["smart-sc-14"]),
    ("registration-jwks-refused", &["smart-ca-03"]),
    ("client-assertion-jku-required", &["smart-ca-09"]),
    ("client-assertion-error-invalid-request", &["smart-ca-14"]),
    ("introspection-active-missing", &["smart-ti-02"]),
    (
        "app-state-patient-subject-refused",
        &["smart-as-09", "smart-as-12"],
    ),
];

/// A fault name that is not in [`FAULTS`].
#[derive(Debug, thiserror::Error)]
#[error("unknown fault `{name}`{hint}")]
pub struct UnknownFault {
    pub name: String,
    hint: String,
}

impl Faults {
    pub fn none() -> Self {
        Faults(Vec::new())
    }

    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Self, UnknownFault> {
        let mut out = Vec::new();
        for name in names {
            let name = name.as_ref();
            match FAULTS.iter().find(|f| f.name == name) {
                Some(f) => out.push(f.name),
                None => {
                    let hint =
                        crate::suite::error::did_you_mean(name, FAULTS.iter().map(|f| f.name))
                            .map(|h| format!(" ({h})"))
                            .unwrap_or_default();
                    return Err(UnknownFault {
                        name: name.to_string(),
                        hint,
                    });
                }
            }
        }
        Ok(Faults(out))
    }

    pub fn has(&self, name: &str) -> bool {
        debug_assert!(
            FAULTS.iter().any(|f| f.name == name),
            "fault `{name}` is not in the table"
        );
        self.0.contains(&name)
    }
}
