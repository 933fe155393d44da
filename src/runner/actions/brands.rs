//! `brand-bundle`: a User Access Brand Bundle (SMART App Launch 2.2 §User Access Brands) read
//! against the smart-configuration that links it. What a JSONPath cannot say (which Endpoint
//! no Brand references, how many Brands carry the primary identifier) is worked out here; the
//! suite's checks read the result.

use serde_json::{json, Value};

use super::{render, render_value, ActionEnd, ActionResult, Builtin, StepInput};
use crate::suite::model::BrandBundleAction;
use crate::suite::template::Template;

impl Builtin for BrandBundleAction {
    async fn run(&self, i: StepInput<'_>) -> ActionResult {
        let bundle = tri!(render_value(&self.bundle, i.context));
        if bundle["resourceType"] != "Bundle" {
            return ActionResult::error(format!(
                "what user_access_brand_bundle links is not a FHIR Bundle (resourceType {})",
                crate::check::eval::show(&bundle["resourceType"])
            ));
        }
        let identifier = match &self.identifier {
            // An identifier the server leaves out is the case the checks judge, not a reason
            // to skip them.
            Some(t) => match Template::parse(t) {
                Ok(t) => t.render_value(i.context).unwrap_or(Value::Null),
                Err(e) => return ActionResult::from(ActionEnd::Error(e.message)),
            },
            None => Value::Null,
        };
        let fhir_base = match &self.fhir_base {
            Some(t) => tri!(render(t, i.context)),
            None => i.run.target.fhir_base_str(),
        };
        ActionResult {
            document: Some(analyse(&bundle, &identifier, &fhir_base)),
            ..Default::default()
        }
    }
}

/// The resources of the Bundle's entries, with their `fullUrl`.
fn resources(bundle: &Value) -> Vec<(&Value, Option<&str>)> {
    bundle["entry"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter(|e| e["resource"].is_object())
                .map(|e| (&e["resource"], e["fullUrl"].as_str()))
                .collect()
        })
        .unwrap_or_default()
}

/// Every `reference` an Organization makes to an Endpoint: `Organization.endpoint` and the
/// `portalEndpoint` extensions of its portals.
fn endpoint_references(organization: &Value) -> Vec<String> {
    let mut refs: Vec<String> = organization["endpoint"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["reference"].as_str().map(str::to_string))
        .collect();
    for portal in organization["extension"].as_array().into_iter().flatten() {
        for part in portal["extension"].as_array().into_iter().flatten() {
            if part["url"] == "portalEndpoint" {
                if let Some(r) = part["valueReference"]["reference"].as_str() {
                    refs.push(r.to_string());
                }
            }
        }
    }
    refs
}

/// Whether a reference points at this Endpoint: `Endpoint/id`, an absolute URL ending in it,
/// or the entry's `fullUrl`.
fn refers_to(reference: &str, id: Option<&str>, full_url: Option<&str>) -> bool {
    if full_url.is_some_and(|u| u == reference) {
        return true;
    }
    let Some(id) = id else { return false };
    let relative = format!("Endpoint/{id}");
    reference == relative || reference.ends_with(&format!("/{relative}"))
}

/// Whether an Organization identifier is the one smart-configuration names: the same `value`,
/// and the same `system` when the named one has a system.
fn identifier_matches(candidate: &Value, named: &Value) -> bool {
    let Some(value) = named["value"].as_str() else {
        return false;
    };
    if candidate["value"].as_str() != Some(value) {
        return false;
    }
    match named["system"].as_str() {
        Some(system) => candidate["system"].as_str() == Some(system),
        None => true,
    }
}

/// The Bundle against smart-configuration; see [`BrandBundleAction`].
pub fn analyse(bundle: &Value, identifier: &Value, fhir_base: &str) -> Value {
    let entries = resources(bundle);
    let of_type = |t: &str| -> Vec<(&Value, Option<&str>)> {
        entries
            .iter()
            .filter(|(r, _)| r["resourceType"] == t)
            .copied()
            .collect()
    };
    let organizations = of_type("Organization");
    let endpoints = of_type("Endpoint");
    let unreferenced = unreferenced_endpoints(&organizations, &endpoints);
    let other: Vec<Value> = entries
        .iter()
        .filter(|(r, _)| r["resourceType"] != "Organization" && r["resourceType"] != "Endpoint")
        .map(|(r, _)| {
            json!(format!(
                "{}/{}",
                r["resourceType"].as_str().unwrap_or("(no resourceType)"),
                r["id"].as_str().unwrap_or("(no id)")
            ))
        })
        .collect();
    let addresses: Vec<Value> = endpoints
        .iter()
        .filter_map(|(e, _)| e["address"].as_str().map(|a| json!(a)))
        .collect();
    let base = fhir_base.trim_end_matches('/');
    let lists_fhir_base = addresses
        .iter()
        .any(|a| a.as_str().map(|a| a.trim_end_matches('/')) == Some(base));
    let matches = (!identifier.is_null()).then(|| {
        organizations
            .iter()
            .filter(|(o, _)| {
                o["identifier"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| identifier_matches(c, identifier))
            })
            .count()
    });
    let last_updated_missing = last_updated_missing(&entries);
    let mut doc = json!({
        "last_updated_missing": last_updated_missing,
        "brands": organizations.len(),
        "endpoints": endpoints.len(),
        "unreferenced_endpoints": unreferenced,
        "other_resources": other,
        "endpoint_addresses": addresses,
        "lists_fhir_base": lists_fhir_base,
        "identifier": identifier,
        "identifier_matches": matches,
    });
    if organizations.len() > 1 && identifier.is_null() {
        doc["missing_identifier"] = json!(format!(
            "the Bundle has {} Brands and smart-configuration has no user_access_brand_identifier to say which is this server's",
            organizations.len()
        ));
    }
    doc
}

/// The Endpoints no Organization of the Bundle refers to, by full URL or `Endpoint/id`.
fn unreferenced_endpoints(
    organizations: &[(&Value, Option<&str>)],
    endpoints: &[(&Value, Option<&str>)],
) -> Vec<Value> {
    let references: Vec<String> = organizations
        .iter()
        .flat_map(|(o, _)| endpoint_references(o))
        .collect();
    endpoints
        .iter()
        .filter(|(e, full_url)| {
            !references
                .iter()
                .any(|r| refers_to(r, e["id"].as_str(), *full_url))
        })
        .map(|(e, full_url)| {
            json!(full_url
                .map(str::to_string)
                .unwrap_or_else(|| format!("Endpoint/{}", e["id"].as_str().unwrap_or("(no id)"))))
        })
        .collect()
}

/// The resources without `meta.lastUpdated` in a Bundle where some have it. Per-resource
/// timestamps are asked for where the system tracks them; one resource that carries
/// meta.lastUpdated shows that it does, so every resource should.
fn last_updated_missing(entries: &[(&Value, Option<&str>)]) -> Vec<Value> {
    let with_last_updated = |r: &Value| r["meta"]["lastUpdated"].is_string();
    let tracks = entries.iter().any(|(r, _)| with_last_updated(r));
    entries
        .iter()
        .filter(|(r, _)| tracks && !with_last_updated(r))
        .map(|(r, full_url)| {
            json!(full_url.map(str::to_string).unwrap_or_else(|| format!(
                "{}/{}",
                r["resourceType"].as_str().unwrap_or("(no resourceType)"),
                r["id"].as_str().unwrap_or("(no id)")
            )))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(orgs: Vec<Value>, endpoints: Vec<Value>) -> Value {
        let entries: Vec<Value> = orgs
            .into_iter()
            .chain(endpoints)
            .map(|r| json!({"fullUrl": format!("https://b.example/{}/{}", r["resourceType"].as_str().unwrap(), r["id"].as_str().unwrap()), "resource": r}))
            .collect();
        json!({"resourceType": "Bundle", "type": "collection", "entry": entries})
    }

    fn org(id: &str, value: &str, endpoints: &[&str]) -> Value {
        json!({
            "resourceType": "Organization", "id": id,
            "identifier": [{"system": "urn:ietf:rfc:3986", "value": value}],
            "endpoint": endpoints.iter().map(|e| json!({"reference": format!("Endpoint/{e}")})).collect::<Vec<_>>()
        })
    }

    fn endpoint(id: &str, address: &str) -> Value {
        json!({"resourceType": "Endpoint", "id": id, "address": address})
    }

    #[test]
    fn every_endpoint_referenced_and_the_identifier_found_once() {
        let b = bundle(
            vec![org("a", "https://a.example", &["r4"])],
            vec![endpoint("r4", "https://fhir.example/r4/")],
        );
        let id = json!({"system": "urn:ietf:rfc:3986", "value": "https://a.example"});
        let doc = analyse(&b, &id, "https://fhir.example/r4");
        assert_eq!(doc["brands"], 1);
        assert_eq!(doc["unreferenced_endpoints"], json!([]));
        assert_eq!(doc["identifier_matches"], 1);
        assert_eq!(doc["lists_fhir_base"], true);
        assert!(doc.get("missing_identifier").is_none());
    }

    #[test]
    fn portal_endpoints_and_absolute_references_count() {
        let mut o = org("a", "https://a.example", &[]);
        o["extension"] = json!([{"url": "http://hl7.org/fhir/StructureDefinition/organization-portal",
            "extension": [{"url": "portalEndpoint", "valueReference": {"reference": "https://b.example/Endpoint/r4"}}]}]);
        let b = bundle(vec![o], vec![endpoint("r4", "https://x")]);
        let doc = analyse(&b, &Value::Null, "https://fhir.example");
        assert_eq!(doc["unreferenced_endpoints"], json!([]));
        assert_eq!(doc["identifier_matches"], Value::Null);
        assert_eq!(doc["lists_fhir_base"], false);
    }

    #[test]
    fn what_breaks_the_rules_is_named() {
        let b = bundle(
            vec![
                org("a", "https://a.example", &["r4"]),
                org("b", "https://a.example", &[]),
            ],
            vec![endpoint("r4", "https://x"), endpoint("dstu2", "https://y")],
        );
        let doc = analyse(&b, &Value::Null, "https://x");
        assert_eq!(
            doc["unreferenced_endpoints"],
            json!(["https://b.example/Endpoint/dstu2"])
        );
        assert!(doc["missing_identifier"]
            .as_str()
            .unwrap()
            .contains("2 Brands"));
        // Two Brands carry the same identifier: it does not pick exactly one.
        let id = json!({"value": "https://a.example"});
        assert_eq!(analyse(&b, &id, "https://x")["identifier_matches"], 2);
        // A system that differs is another identifier.
        let other = json!({"system": "https://ids.example", "value": "https://a.example"});
        assert_eq!(analyse(&b, &other, "https://x")["identifier_matches"], 0);
        // An identifier without a value matches nothing.
        let no_value = json!({"system": "urn:ietf:rfc:3986"});
        assert_eq!(analyse(&b, &no_value, "https://x")["identifier_matches"], 0);
    }

    #[test]
    fn other_resource_types_are_listed() {
        let mut b = bundle(vec![org("a", "v", &[])], vec![]);
        b["entry"]
            .as_array_mut()
            .unwrap()
            .push(json!({"resource": {"resourceType": "Patient", "id": "p"}}));
        assert_eq!(
            analyse(&b, &Value::Null, "x")["other_resources"],
            json!(["Patient/p"])
        );
    }
}
