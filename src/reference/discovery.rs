//! Discovery documents of the reference server: smart-configuration, the CapabilityStatement,
//! the OpenID configuration and the JWKS (SMART App Launch 2.2 §Conformance; OIDC Discovery §3).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::faults::Faults;
use super::server::Shared;

/// The public JWK set of the reference server's signing key.
const JWKS: &str = include_str!("../../fixtures/keys/reference-jwks.json");

/// The oauth-uris extension URL (SMART App Launch 1.0 and 2.x CapabilityStatement).
pub const OAUTH_URIS: &str =
    "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris";

pub(super) fn cors(request: &HeaderMap, response: &mut Response) {
    // SMART App Launch 2.2: discovery is read by browser apps, so allow their origin.
    let origin = request
        .get(header::ORIGIN)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("*"));
    response
        .headers_mut()
        .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
}

fn json_response(status: StatusCode, content_type: &'static str, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// The endpoint URLs both discovery documents advertise.
struct Endpoints {
    authorize: String,
    token: String,
    register: String,
    manage: String,
    introspect: String,
    revoke: String,
}

impl Endpoints {
    fn of(shared: &Shared) -> Self {
        let o = &shared.origin;
        Endpoints {
            authorize: format!("{o}/authorize"),
            token: format!("{o}/token"),
            register: format!("{o}/register"),
            manage: format!("{o}/manage"),
            introspect: format!("{o}/introspect"),
            revoke: format!("{o}/revoke"),
        }
    }
}

pub async fn smart_configuration(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    configuration(&shared, &headers, false)
}

/// The smart-configuration of the EHR tenant's base (`ehr-tenant-base`): the only one that
/// offers the EHR launch.
pub async fn smart_configuration_ehr_tenant(
    State(shared): State<Shared>,
    headers: HeaderMap,
) -> Response {
    configuration(&shared, &headers, true)
}

fn configuration(shared: &Shared, headers: &HeaderMap, ehr_tenant: bool) -> Response {
    let faults = &shared.faults;
    // An STU1-era server: its endpoints are only in the CapabilityStatement's oauth-uris.
    if faults.has("no-smart-configuration") {
        return (StatusCode::NOT_FOUND, "Not Found").into_response();
    }
    let mut doc = configuration_document(shared);
    let obj = doc.as_object_mut().expect("an object literal");
    // Each fault changes the document as a server with that deviation would, in this order.
    break_endpoints_and_types(shared, obj);
    break_capabilities(faults, obj, ehr_tenant);
    break_grants_and_scopes(faults, obj);
    let status = if faults.has("smart-config-status-203") {
        StatusCode::NON_AUTHORITATIVE_INFORMATION
    } else {
        StatusCode::OK
    };
    let content_type = if faults.has("smart-config-content-type") {
        "text/plain"
    } else {
        "application/json"
    };
    let body = if faults.has("smart-config-not-json") {
        "<html><body>SMART configuration</body></html>".to_string()
    } else {
        doc.to_string()
    };
    let mut response = json_response(status, content_type, body);
    if !faults.has("smart-config-no-cors") {
        cors(headers, &mut response);
    }
    response
}

/// The smart-configuration of the conforming server, with the fault that makes an endpoint
/// relative applied.
fn configuration_document(shared: &Shared) -> Value {
    let faults = &shared.faults;
    let e = Endpoints::of(shared);
    let relative = |fault: &str, absolute: &str, path: &str| {
        if faults.has(fault) {
            path.to_string()
        } else {
            absolute.to_string()
        }
    };
    json!({
        "issuer": shared.issuer(),
        "jwks_uri": format!("{}/jwks.json", shared.origin),
        "authorization_endpoint": relative("authorization-endpoint-relative", &e.authorize, "/authorize"),
        "token_endpoint": e.token,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "registration_endpoint": relative("registration-endpoint-relative", &e.register, "/register"),
        "management_endpoint": relative("management-endpoint-relative", &e.manage, "/manage"),
        "introspection_endpoint": relative("introspection-endpoint-relative", &e.introspect, "/introspect"),
        "revocation_endpoint": relative("revocation-endpoint-relative", &e.revoke, "/revoke"),
        "scopes_supported": [
            "openid", "fhirUser", "profile", "launch", "launch/patient", "launch/encounter",
            "offline_access", "online_access", "patient/*.rs", "user/*.rs", "system/*.rs",
            "patient/*.read", "user/*.read", "system/*.read"
        ],
        "response_types_supported": ["code"],
        "capabilities": [
            "launch-ehr", "launch-standalone", "authorize-post", "client-public",
            "client-confidential-symmetric", "client-confidential-asymmetric", "sso-openid-connect",
            "context-banner", "context-style", "context-ehr-patient", "context-ehr-encounter",
            "context-standalone-patient", "permission-offline", "permission-online",
            "permission-patient", "permission-user", "permission-v1", "permission-v2",
            "smart-app-state"
        ],
        "code_challenge_methods_supported": ["S256"],
    })
}

/// The faults of the endpoints, the brand fields, the PKCE methods, the issuer and the keys.
fn break_endpoints_and_types(shared: &Shared, obj: &mut serde_json::Map<String, Value>) {
    let faults = &shared.faults;
    if !faults.has("brand-bundle-not-advertised") {
        obj.insert(
            "user_access_brand_bundle".into(),
            json!(super::brands::bundle_url(shared)),
        );
    }
    if let Some(id) = super::brands::primary_identifier(shared) {
        obj.insert("user_access_brand_identifier".into(), id);
    }
    if faults.has("token-endpoint-missing") {
        obj.remove("token_endpoint");
    }
    for (fault, field) in [
        ("management-endpoint-absent", "management_endpoint"),
        ("introspection-endpoint-absent", "introspection_endpoint"),
        ("revocation-endpoint-absent", "revocation_endpoint"),
        ("pkce-methods-absent", "code_challenge_methods_supported"),
        (
            "auth-methods-absent",
            "token_endpoint_auth_methods_supported",
        ),
    ] {
        if faults.has(fault) {
            obj.remove(field);
        }
    }
    if faults.has("capabilities-not-array") {
        let joined = obj["capabilities"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        obj.insert("capabilities".into(), Value::String(joined));
    }
    if faults.has("grant-types-no-authorization-code") {
        obj.insert(
            "grant_types_supported".into(),
            json!(["client_credentials"]),
        );
    }
    if faults.has("pkce-s256-not-advertised") {
        obj.insert("code_challenge_methods_supported".into(), json!([]));
    }
    if faults.has("pkce-plain-advertised") {
        obj.insert(
            "code_challenge_methods_supported".into(),
            json!(["S256", "plain"]),
        );
    }
    if faults.has("issuer-missing") {
        obj.remove("issuer");
    }
    if faults.has("jwks-uri-missing") {
        obj.remove("jwks_uri");
    }
}

/// The faults of the capabilities (and of the keys that go with `sso-openid-connect`).
fn break_capabilities(faults: &Faults, obj: &mut serde_json::Map<String, Value>, ehr_tenant: bool) {
    if faults.has("openid-granted-no-id-token") || faults.has("openid-unadvertised") {
        if let Some(caps) = obj.get_mut("capabilities").and_then(Value::as_array_mut) {
            caps.retain(|c| c != "sso-openid-connect");
        }
    }
    if faults.has("id-token-keys-unpublished") {
        // Wrong on purpose: id_tokens are issued, but neither sso-openid-connect nor the keys
        // that sign them are published.
        obj.remove("jwks_uri");
        if let Some(caps) = obj.get_mut("capabilities").and_then(Value::as_array_mut) {
            caps.retain(|c| c != "sso-openid-connect");
        }
    }
    if faults.has("asymmetric-algs-rs256-only") {
        obj.insert(
            "token_endpoint_auth_signing_alg_values_supported".into(),
            json!(["RS256"]),
        );
    }
    if faults.has("ehr-tenant-base") && !ehr_tenant {
        // The public base offers standalone launches; EHR launches happen at the tenant's.
        if let Some(caps) = obj.get_mut("capabilities").and_then(Value::as_array_mut) {
            caps.retain(|c| {
                c != "launch-ehr" && c != "context-ehr-patient" && c != "context-ehr-encounter"
            });
        }
    }
    if faults.has("app-state-not-advertised") {
        if let Some(caps) = obj.get_mut("capabilities").and_then(Value::as_array_mut) {
            caps.retain(|c| c != "smart-app-state");
        }
    }
    if faults.has("permission-v1-not-advertised") {
        if let Some(caps) = obj.get_mut("capabilities").and_then(Value::as_array_mut) {
            caps.retain(|c| c != "permission-v1");
        }
    }
    if faults.has("capability-sets-none") {
        if let Some(caps) = obj.get_mut("capabilities").and_then(Value::as_array_mut) {
            caps.retain(|c| c != "permission-patient");
        }
    }
    if faults.has("no-standalone-launch") {
        if let Some(caps) = obj.get_mut("capabilities").and_then(Value::as_array_mut) {
            caps.retain(|c| c != "launch-standalone" && c != "context-standalone-patient");
        }
    }
    if faults.has("backend-only") {
        // Conforming: a server for backend services only, with no launch and no authorization
        // endpoint (SMART 2.2: authorization_endpoint is required only with a launch).
        obj.remove("authorization_endpoint");
        obj.insert(
            "capabilities".into(),
            json!([
                "client-confidential-asymmetric",
                "permission-v2",
                "smart-app-state"
            ]),
        );
        obj.insert(
            "grant_types_supported".into(),
            json!(["client_credentials"]),
        );
        obj.insert("response_types_supported".into(), json!([]));
    }
}

/// The faults of the grant types, the response types and the scopes.
fn break_grants_and_scopes(faults: &Faults, obj: &mut serde_json::Map<String, Value>) {
    if faults.has("no-backend-services") {
        if let Some(grants) = obj
            .get_mut("grant_types_supported")
            .and_then(Value::as_array_mut)
        {
            grants.retain(|g| g != "client_credentials");
        }
    }
    if faults.has("grant-types-missing") {
        obj.remove("grant_types_supported");
    }
    if faults.has("response-types-unserved") {
        // Wrong on purpose: the authorization endpoint refuses this type as unsupported.
        obj.insert(
            "response_types_supported".into(),
            json!(["code", "code id_token"]),
        );
    }
    if faults.has("response-types-token-registered-only") {
        obj.insert("response_types_supported".into(), json!(["code", "token"]));
    }
    if faults.has("response-types-no-code") {
        obj.insert("response_types_supported".into(), json!(["token"]));
    }
    if faults.has("scopes-supported-not-supported") {
        if let Some(list) = obj
            .get_mut("scopes_supported")
            .and_then(Value::as_array_mut)
        {
            list.push(json!(super::authorize::UNSUPPORTED_LISTED_SCOPE));
        }
    }
    if faults.has("own-scope-vocabulary") {
        // Resource scopes by type only: the patient wildcards give way to one scope per type
        // this server holds.
        if let Some(list) = obj
            .get_mut("scopes_supported")
            .and_then(Value::as_array_mut)
        {
            list.retain(|s| !s.as_str().is_some_and(|s| s.starts_with("patient/*.")));
            for resource_type in super::authorize::OWN_VOCABULARY_TYPES {
                list.push(json!(format!("patient/{resource_type}.rs")));
                list.push(json!(format!("patient/{resource_type}.read")));
            }
        }
    }
    if faults.has("offline-access-refused") {
        if let Some(list) = obj
            .get_mut("scopes_supported")
            .and_then(Value::as_array_mut)
        {
            list.retain(|s| s != "offline_access");
        }
    }
    if faults.has("scopes-supported-missing") {
        obj.remove("scopes_supported");
    }
}

pub async fn metadata(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    let faults = &shared.faults;
    let oauth_uris = oauth_uris(&shared);
    let service_code = if faults.has("metadata-no-smart-service") {
        "OAuth"
    } else {
        "SMART-on-FHIR"
    };
    let doc = json!({
        "resourceType": if faults.has("metadata-wrong-resource-type") { "Bundle" } else { "CapabilityStatement" },
        "status": "active",
        "date": "2026-01-01",
        "kind": "instance",
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "implementation": {"description": "smartcheck reference server", "url": shared.fhir_base()},
        "rest": [{
            "mode": "server",
            "security": {
                "cors": true,
                "service": [{
                    "coding": [{
                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": service_code
                    }],
                    "text": "OAuth2 using SMART-on-FHIR profile (see http://docs.smarthealthit.org)"
                }],
                "extension": [oauth_uris]
            },
            "resource": [
                {"type": "Patient", "interaction": [{"code": "read"}, {"code": "search-type"}]},
                {"type": "Observation", "interaction": [{"code": "read"}, {"code": "search-type"}]},
                {"type": "Condition", "interaction": [{"code": "read"}, {"code": "search-type"}]},
                {"type": "Encounter", "interaction": [{"code": "read"}]},
                {"type": "Practitioner", "interaction": [{"code": "read"}]},
                {"type": "Basic", "interaction": [{"code": "create"}, {"code": "update"}, {"code": "delete"}, {"code": "search-type"}]}
            ]
        }]
    });
    let status = if faults.has("metadata-status-203") {
        StatusCode::NON_AUTHORITATIVE_INFORMATION
    } else {
        StatusCode::OK
    };
    let content_type = if faults.has("metadata-content-type") {
        "text/html"
    } else {
        "application/fhir+json"
    };
    let mut response = json_response(status, content_type, doc.to_string());
    if !faults.has("metadata-no-cors") {
        cors(&headers, &mut response);
    }
    response
}

/// The CapabilityStatement's `oauth-uris` extension, with the faults that change it.
fn oauth_uris(shared: &Shared) -> Value {
    let faults = &shared.faults;
    let e = Endpoints::of(shared);
    let pick = |fault: &str, normal: &str, broken: String| {
        if faults.has(fault) {
            broken
        } else {
            normal.to_string()
        }
    };
    let o = &shared.origin;
    let uri = |name: &str, value: String| json!({"url": name, "valueUri": value});
    let oauth_uris = json!({
        "url": OAUTH_URIS,
        "extension": [
            uri("authorize", if faults.has("authorization-endpoint-relative") { e.authorize.clone() }
                else { pick("metadata-authorize-relative", &e.authorize, "/authorize".into()) }),
            uri("token", pick("metadata-token-relative", &e.token, "/token".into())),
            uri("register", if faults.has("registration-endpoint-relative") { "/register".into() }
                else { pick("metadata-register-differs", &e.register, format!("{o}/other/register")) }),
            uri("manage", if faults.has("management-endpoint-relative") { "/manage".into() }
                else { pick("metadata-manage-differs", &e.manage, format!("{o}/other/manage")) }),
            uri("introspect", if faults.has("introspection-endpoint-relative") { "/introspect".into() }
                else { pick("metadata-introspect-differs", &e.introspect, format!("{o}/other/introspect")) }),
            uri("revoke", if faults.has("revocation-endpoint-relative") { "/revoke".into() }
                else { pick("metadata-revoke-differs", &e.revoke, format!("{o}/other/revoke")) }),
        ]
    });
    let mut oauth_uris = oauth_uris;
    if faults.has("backend-only") {
        if let Some(list) = oauth_uris["extension"].as_array_mut() {
            list.retain(|u| u["url"] != "authorize");
        }
    }
    if faults.has("metadata-authorize-differs") {
        oauth_uris["extension"][0]["valueUri"] = json!(format!("{o}/other/authorize"));
    }
    if faults.has("metadata-token-differs") {
        oauth_uris["extension"][1]["valueUri"] = json!(format!("{o}/other/token"));
    }
    oauth_uris
}

pub async fn openid_configuration(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    let faults = &shared.faults;
    if faults.has("oidc-config-missing") {
        return json_response(
            StatusCode::NOT_FOUND,
            "application/json",
            json!({"error": "not_found"}).to_string(),
        );
    }
    let o = &shared.origin;
    let mut doc = json!({
        "issuer": if faults.has("oidc-issuer-differs") { format!("{o}/other-issuer") } else { shared.issuer() },
        "authorization_endpoint": format!("{o}/authorize"),
        "token_endpoint": format!("{o}/token"),
        "jwks_uri": format!("{o}/jwks.json"),
        "registration_endpoint": format!("{o}/register"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "fhirUser", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nonce", "fhirUser"],
        "code_challenge_methods_supported": ["S256"],
    });
    let obj = doc.as_object_mut().expect("an object literal");
    for (fault, key) in [
        (
            "oidc-authorization-endpoint-missing",
            "authorization_endpoint",
        ),
        ("oidc-jwks-uri-missing", "jwks_uri"),
        ("oidc-no-response-types", "response_types_supported"),
        ("oidc-no-subject-types", "subject_types_supported"),
    ] {
        if faults.has(fault) {
            obj.remove(key);
        }
    }
    if faults.has("oidc-no-rs256") {
        obj.insert(
            "id_token_signing_alg_values_supported".into(),
            json!(["ES256"]),
        );
    }
    let mut response = json_response(StatusCode::OK, "application/json", doc.to_string());
    cors(&headers, &mut response);
    response
}

pub async fn jwks(State(shared): State<Shared>) -> Response {
    let faults = &shared.faults;
    let status = if faults.has("jwks-status-203") {
        StatusCode::NON_AUTHORITATIVE_INFORMATION
    } else {
        StatusCode::OK
    };
    let body = if faults.has("jwks-bad-key") {
        json!({"keys": [{"kty": "RSA", "kid": "broken", "e": "AQAB"}]}).to_string()
    } else {
        JWKS.to_string()
    };
    json_response(status, "application/json", body)
}
