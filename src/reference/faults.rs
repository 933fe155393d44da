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
}

const fn f(name: &'static str, breaks: &'static str, caught_by: &'static [&'static str]) -> Fault {
    Fault {
        name,
        breaks,
        caught_by,
        collateral: false,
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
    }
}

/// Every fault, in the order of the table in README.md.
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
        "smart-config-not-json",
        "smart-configuration is a JSON object",
        &["smart-config-json-object"],
    ),
    f(
        "authorization-endpoint-relative",
        "authorization_endpoint is an absolute URL",
        &[
            "smart-config-authorization-endpoint",
            "documents-agree-authorize",
        ],
    ),
    wide(
        "token-endpoint-missing",
        "token_endpoint is present",
        &["smart-config-token-endpoint"],
    ),
    f(
        "capabilities-not-array",
        "capabilities is an array of strings",
        &["smart-config-capabilities"],
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
        "scopes-supported-missing",
        "scopes_supported is present (SHOULD)",
        &["smart-config-scopes-supported"],
    ),
    f(
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
    f(
        "metadata-no-smart-service",
        "the security service is coded SMART-on-FHIR",
        &["metadata-smart-service"],
    ),
    f(
        "metadata-authorize-relative",
        "oauth-uris authorize is an absolute URL",
        &["metadata-oauth-authorize", "documents-agree-authorize"],
    ),
    f(
        "metadata-token-relative",
        "oauth-uris token is an absolute URL",
        &["metadata-oauth-token", "documents-agree-token"],
    ),
    f(
        "metadata-no-cors",
        "metadata allows the app's origin (CORS)",
        &["metadata-cors"],
    ),
    f(
        "metadata-authorize-differs",
        "authorize is the same in both documents",
        &["documents-agree-authorize"],
    ),
    f(
        "metadata-token-differs",
        "token is the same in both documents",
        &["documents-agree-token"],
    ),
    f(
        "metadata-register-differs",
        "register is the same in both documents",
        &["documents-agree-register"],
    ),
    f(
        "metadata-manage-differs",
        "manage is the same in both documents",
        &["documents-agree-manage"],
    ),
    f(
        "metadata-introspect-differs",
        "introspect is the same in both documents",
        &["documents-agree-introspect"],
    ),
    f(
        "metadata-revoke-differs",
        "revoke is the same in both documents",
        &["documents-agree-revoke"],
    ),
    wide(
        "oidc-config-missing",
        "openid-configuration answers 200",
        &["oidc-config-status"],
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
];

/// The set of faults a server runs with.
#[derive(Debug, Clone, Default)]
pub struct Faults(Vec<&'static str>);

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
