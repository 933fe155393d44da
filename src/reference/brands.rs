//! The reference server's User Access Brand Bundle (SMART App Launch 2.2 §User Access Brands):
//! one primary Brand with its portal and this server's FHIR endpoint, served with CORS and a
//! weak ETag, and linked from smart-configuration.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::server::Shared;

/// The primary Brand's identifier: its web presence as a URL (the RECOMMENDED form).
const BRAND_SYSTEM: &str = "urn:ietf:rfc:3986";
const BRAND_VALUE: &str = "https://reference.smartcheck.example";
/// Another identifier system, for the switch that leaves the RECOMMENDED one out.
const OTHER_SYSTEM: &str = "https://reference.smartcheck.example/brand-ids";
const UPDATED: &str = "2026-11-01T09:30:00Z";

pub fn bundle_url(shared: &Shared) -> String {
    format!("{}/brands/bundle.json", shared.origin)
}

/// `user_access_brand_identifier` for smart-configuration, or `None` when a switch leaves it out.
pub fn primary_identifier(shared: &Shared) -> Option<Value> {
    let faults = &shared.faults;
    if faults.has("brand-identifier-missing")
        || faults.has("brand-many-brands-no-identifier")
        || faults.has("brand-bundle-not-advertised")
    {
        return None;
    }
    let mut id = json!({"system": BRAND_SYSTEM, "value": BRAND_VALUE});
    if faults.has("brand-no-url-identifier") {
        id["system"] = json!(OTHER_SYSTEM);
    }
    if faults.has("brand-identifier-no-value") {
        id.as_object_mut().map(|o| o.remove("value"));
    }
    if faults.has("brand-identifier-no-system") {
        id.as_object_mut().map(|o| o.remove("system"));
    }
    if faults.has("brand-identifier-unmatched") {
        id["value"] = json!("https://other-brand.smartcheck.example");
    }
    Some(id)
}

fn entry(shared: &Shared, resource: Value) -> Value {
    let full_url = format!(
        "{}/brands/{}/{}",
        shared.origin,
        resource["resourceType"].as_str().unwrap_or_default(),
        resource["id"].as_str().unwrap_or_default()
    );
    json!({"fullUrl": full_url, "resource": resource})
}

fn brand(id: &str, name: &str, value: &str, system: &str, endpoints: &[&str]) -> Value {
    let refs: Vec<Value> = endpoints
        .iter()
        .map(|e| json!({"reference": format!("Endpoint/{e}")}))
        .collect();
    let portal_endpoints: Vec<Value> = endpoints
        .iter()
        .map(|e| json!({"url": "portalEndpoint", "valueReference": {"reference": format!("Endpoint/{e}")}}))
        .collect();
    let mut portal = vec![
        json!({"url": "portalName", "valueString": format!("{name} Portal")}),
        json!({"url": "portalUrl", "valueUrl": format!("{value}/portal")}),
    ];
    portal.extend(portal_endpoints);
    json!({
        "resourceType": "Organization",
        "id": id,
        "meta": {"lastUpdated": UPDATED},
        "active": true,
        "name": name,
        "identifier": [{"system": system, "value": value}],
        "telecom": [{"system": "url", "value": value}],
        "address": [{"city": "Boston", "state": "MA", "postalCode": "02111", "country": "US"}],
        "extension": [
            {"url": "http://hl7.org/fhir/StructureDefinition/organization-brand",
             "extension": [{"url": "brandLogo", "valueUrl": format!("{value}/logo.svg")}]},
            {"url": "http://hl7.org/fhir/StructureDefinition/organization-portal", "extension": portal}
        ],
        "endpoint": refs
    })
}

fn endpoint(id: &str, address: String) -> Value {
    json!({
        "resourceType": "Endpoint",
        "id": id,
        "meta": {"lastUpdated": UPDATED},
        "status": "active",
        "name": "FHIR R4 endpoint of the smartcheck reference server",
        "address": address,
        "connectionType": {
            "system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
            "code": "hl7-fhir-rest"
        },
        "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/endpoint-fhir-version", "valueCode": "4.0.1"}],
        "payloadType": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/endpoint-payload-type", "code": "none"}]}]
    })
}

/// The Bundle as the switches shape it.
fn document(shared: &Shared) -> Value {
    let faults = &shared.faults;
    let system = if faults.has("brand-no-url-identifier") {
        OTHER_SYSTEM
    } else {
        BRAND_SYSTEM
    };
    let address = if faults.has("brand-bundle-foreign") {
        "https://fhir.other-provider.smartcheck.example/r4".to_string()
    } else {
        shared.fhir_base()
    };
    let mut primary = brand(
        "reference",
        "smartcheck Reference Health",
        BRAND_VALUE,
        system,
        &["r4"],
    );
    if faults.has("brand-country-not-alpha2") {
        primary["address"][0]["country"] = json!("USA");
    }
    if faults.has("brand-data-absent-reason") {
        // A portal URL the brand administrator never gave, marked with a reason the Brand
        // Bundle may not use (only asked-declined and asked-unknown are allowed).
        primary["extension"][1]["extension"][1] = json!({
            "url": "portalUrl",
            "_valueUrl": {"extension": [{
                "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                "valueCode": "unknown"
            }]}
        });
    }
    let mut resources = vec![primary, endpoint("r4", address)];
    if faults.has("brand-many-brands-no-identifier") {
        resources.push(brand(
            "reference-east",
            "smartcheck Reference Health East",
            "https://east.reference.smartcheck.example",
            system,
            &["r4"],
        ));
    }
    if faults.has("brand-endpoint-unreferenced") {
        resources.push(endpoint("dstu2", format!("{}/dstu2", shared.origin)));
    }
    if faults.has("brand-bundle-other-resources") {
        resources.push(json!({
            "resourceType": "Practitioner",
            "id": "brand-contact",
            "meta": {"lastUpdated": UPDATED},
            "name": [{"family": "Contact", "given": ["Brand"]}]
        }));
    }
    if faults.has("brand-bundle-no-last-updated") {
        // The Brand carries its timestamp, the Endpoint none.
        resources[1].as_object_mut().map(|o| o.remove("meta"));
    }
    let mut bundle = json!({
        "resourceType": "Bundle",
        "id": "smartcheck-reference-brands",
        "type": "collection",
        "timestamp": UPDATED,
        "entry": resources.into_iter().map(|r| entry(shared, r)).collect::<Vec<_>>()
    });
    if faults.has("brand-bundle-no-timestamp") {
        bundle.as_object_mut().map(|o| o.remove("timestamp"));
    }
    bundle
}

/// `GET /brands/bundle.json`.
pub async fn bundle(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    let faults = &shared.faults;
    if faults.has("brand-bundle-not-found") {
        return (axum::http::StatusCode::NOT_FOUND, "Not Found").into_response();
    }
    let body = document(&shared).to_string();
    let mut response = ([(header::CONTENT_TYPE, "application/fhir+json")], body).into_response();
    let etag = if faults.has("brand-bundle-strong-etag") {
        "\"brands-2026-11-01\""
    } else {
        "W/\"brands-2026-11-01\""
    };
    response
        .headers_mut()
        .insert(header::ETAG, HeaderValue::from_static(etag));
    if !faults.has("brand-bundle-no-cors") {
        super::discovery::cors(&headers, &mut response);
    }
    response
}
