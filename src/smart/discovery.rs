//! Where a server's SMART endpoints and capabilities come from, the way real servers publish
//! them: `.well-known/smart-configuration` (SMART 1.0 and 2.x), the `oauth-uris` extension of
//! the CapabilityStatement (R4) or Conformance (DSTU2) security section (the only place STU1-era
//! servers name them), and values the target file supplies where a server publishes nothing or
//! something wrong. Sans-IO: the runner fetches the documents.

use serde_json::{Map, Value};

/// The extension of `rest[].security` that carries the OAuth endpoints (SMART 1.0
/// conformance, SMART 2.2 "conformance.html#using-cors"); still read by clients of old servers.
pub const OAUTH_URIS: &str =
    "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris";

/// The oauth-uris sub-extensions and the smart-configuration fields they stand for.
pub const OAUTH_URI_FIELDS: &[(&str, &str)] = &[
    ("authorize", "authorization_endpoint"),
    ("token", "token_endpoint"),
    ("register", "registration_endpoint"),
    ("manage", "management_endpoint"),
    ("introspect", "introspection_endpoint"),
    ("revoke", "revocation_endpoint"),
];

/// The smart-configuration fields a target may supply (SMART 2.2 conformance.html#metadata,
/// plus the RFC 8414 fields the built-in suites read).
pub const FIELDS: &[&str] = &[
    "issuer",
    "jwks_uri",
    "authorization_endpoint",
    "token_endpoint",
    "registration_endpoint",
    "management_endpoint",
    "introspection_endpoint",
    "revocation_endpoint",
    "user_access_brand_bundle",
    "user_access_brand_identifier",
    "capabilities",
    "grant_types_supported",
    "response_types_supported",
    "scopes_supported",
    "code_challenge_methods_supported",
    "token_endpoint_auth_methods_supported",
    "token_endpoint_auth_signing_alg_values_supported",
    "associated_endpoints",
];

/// Where a discovered value came from.
pub const FROM_SMART_CONFIGURATION: &str = "smart-configuration";
pub const FROM_CAPABILITY_STATEMENT: &str = "capability-statement";
pub const FROM_TARGET: &str = "target";

/// The endpoints named by a CapabilityStatement's (or DSTU2 Conformance's) oauth-uris
/// extension, as smart-configuration field names. Only string URIs are taken.
pub fn oauth_uris(metadata: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    let rests = metadata["rest"].as_array().into_iter().flatten();
    for rest in rests {
        let extensions = rest["security"]["extension"]
            .as_array()
            .into_iter()
            .flatten();
        for extension in extensions.filter(|e| e["url"] == OAUTH_URIS) {
            for inner in extension["extension"].as_array().into_iter().flatten() {
                let Some(name) = inner["url"].as_str() else {
                    continue;
                };
                let Some((_, field)) = OAUTH_URI_FIELDS.iter().find(|(n, _)| *n == name) else {
                    continue;
                };
                if let Some(uri) = inner["valueUri"].as_str().or(inner["valueUrl"].as_str()) {
                    out.entry(field.to_string())
                        .or_insert_with(|| Value::String(uri.to_string()));
                }
            }
        }
    }
    out
}

/// The values the flows use, and where each came from: the target's values override, then
/// smart-configuration, then the CapabilityStatement's oauth-uris fill what is still missing.
/// The document has every field of smart-configuration (so suites read it as they would the
/// document itself) and `sources`: field -> where it came from.
pub fn merge(
    smart_configuration: Option<&Value>,
    metadata: Option<&Value>,
    target: &Map<String, Value>,
) -> Value {
    let mut fields = Map::new();
    let mut sources = Map::new();
    if let Some(Value::Object(config)) = smart_configuration {
        for (key, value) in config {
            fields.insert(key.clone(), value.clone());
            sources.insert(key.clone(), Value::from(FROM_SMART_CONFIGURATION));
        }
    }
    if let Some(metadata) = metadata {
        for (key, value) in oauth_uris(metadata) {
            if !fields.contains_key(&key) {
                fields.insert(key.clone(), value);
                sources.insert(key, Value::from(FROM_CAPABILITY_STATEMENT));
            }
        }
    }
    for (key, value) in target {
        fields.insert(key.clone(), value.clone());
        sources.insert(key.clone(), Value::from(FROM_TARGET));
    }
    fields.insert("sources".into(), Value::Object(sources));
    Value::Object(fields)
}

/// The Capability Sets of SMART App Launch 2.2 (§Conformance: Capability Sets), each the
/// capabilities it needs; every set also needs `client-public` or `client-confidential-symmetric`.
pub const CAPABILITY_SETS: &[(&str, &[&str])] = &[
    (
        "Patient Access for Standalone Apps",
        &[
            "launch-standalone",
            "context-standalone-patient",
            "permission-patient",
        ],
    ),
    (
        "Patient Access for EHR Launch",
        &["launch-ehr", "context-ehr-patient", "permission-patient"],
    ),
    (
        "Clinician Access for Standalone",
        &["launch-standalone", "permission-user", "permission-patient"],
    ),
    (
        "Clinician Access for EHR Launch",
        &[
            "launch-ehr",
            "context-ehr-patient",
            "context-ehr-encounter",
            "permission-user",
            "permission-patient",
        ],
    ),
];

/// The Capability Sets a list of capabilities satisfies, by name.
pub fn capability_sets(capabilities: &[&str]) -> Vec<&'static str> {
    let client = capabilities
        .iter()
        .any(|c| *c == "client-public" || *c == "client-confidential-symmetric");
    CAPABILITY_SETS
        .iter()
        .filter(|(_, needs)| client && needs.iter().all(|n| capabilities.contains(n)))
        .map(|(name, _)| *name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_sets_need_every_capability_and_a_client_type() {
        let standalone = [
            "launch-standalone",
            "client-public",
            "context-standalone-patient",
            "permission-patient",
        ];
        assert_eq!(
            capability_sets(&standalone),
            vec!["Patient Access for Standalone Apps"]
        );
        // Asymmetric clients alone do not make a set.
        let asym = [
            "launch-standalone",
            "client-confidential-asymmetric",
            "context-standalone-patient",
            "permission-patient",
        ];
        assert!(capability_sets(&asym).is_empty());
        assert!(capability_sets(&["launch-ehr", "client-public"]).is_empty());
    }
    use serde_json::json;

    fn capability_statement(resource_type: &str) -> Value {
        json!({
            "resourceType": resource_type,
            "rest": [{"mode": "server", "security": {"extension": [{
                "url": OAUTH_URIS,
                "extension": [
                    {"url": "authorize", "valueUri": "https://ehr/auth"},
                    {"url": "token", "valueUri": "https://ehr/token"},
                    {"url": "register", "valueUri": "https://ehr/register"},
                    {"url": "unknown", "valueUri": "https://ehr/x"}
                ]
            }]}}]
        })
    }

    #[test]
    fn oauth_uris_of_r4_and_dstu2_documents() {
        for kind in ["CapabilityStatement", "Conformance"] {
            let uris = oauth_uris(&capability_statement(kind));
            assert_eq!(
                Value::Object(uris),
                json!({
                    "authorization_endpoint": "https://ehr/auth",
                    "token_endpoint": "https://ehr/token",
                    "registration_endpoint": "https://ehr/register"
                })
            );
        }
        assert!(oauth_uris(&json!({"resourceType": "CapabilityStatement"})).is_empty());
    }

    #[test]
    fn target_overrides_then_smart_configuration_then_oauth_uris() {
        let config = json!({"token_endpoint": "https://ehr/t2", "capabilities": ["launch-ehr"]});
        let mut target = Map::new();
        target.insert("capabilities".into(), json!(["launch-standalone"]));
        let merged = merge(
            Some(&config),
            Some(&capability_statement("CapabilityStatement")),
            &target,
        );
        assert_eq!(merged["token_endpoint"], "https://ehr/t2");
        assert_eq!(merged["authorization_endpoint"], "https://ehr/auth");
        assert_eq!(merged["capabilities"], json!(["launch-standalone"]));
        assert_eq!(
            merged["sources"],
            json!({
                "token_endpoint": "smart-configuration",
                "capabilities": "target",
                "authorization_endpoint": "capability-statement",
                "registration_endpoint": "capability-statement"
            })
        );
        // STU1: no smart-configuration at all.
        let stu1 = merge(
            None,
            Some(&capability_statement("Conformance")),
            &Map::new(),
        );
        assert_eq!(stu1["token_endpoint"], "https://ehr/token");
        assert!(stu1.get("capabilities").is_none());
    }
}
