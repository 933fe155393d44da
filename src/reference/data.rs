//! The reference server's fixture data: its users (`fixtures/reference/users.json`) and its FHIR
//! R4 resources (`fixtures/reference/fhir.json`), compiled into the binary.

use serde::Deserialize;
use serde_json::Value;

const USERS: &str = include_str!("../../fixtures/reference/users.json");
const FHIR: &str = include_str!("../../fixtures/reference/fhir.json");

/// A person who can sign in on the login page.
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub username: String,
    pub password: String,
    pub name: String,
    /// The user's own FHIR resource, relative (`Patient/smart-1288992`).
    #[serde(rename = "fhirUser")]
    pub fhir_user: String,
    /// The patients the user may pick and see.
    pub patients: Vec<String>,
}

#[derive(Deserialize)]
struct UsersFile {
    users: Vec<User>,
}

#[derive(Deserialize)]
struct FhirFile {
    resources: Vec<Value>,
}

/// Users and resources.
pub struct Data {
    pub users: Vec<User>,
    pub resources: Vec<Value>,
}

impl Data {
    /// The compiled-in fixtures; they are checked by this crate's tests, so parsing cannot fail
    /// at run time.
    pub fn fixtures() -> Data {
        let users: UsersFile = serde_json::from_str(USERS).expect("fixtures/reference/users.json");
        let fhir: FhirFile = serde_json::from_str(FHIR).expect("fixtures/reference/fhir.json");
        Data {
            users: users.users,
            resources: fhir.resources,
        }
    }

    pub fn user(&self, username: &str) -> Option<&User> {
        self.users.iter().find(|u| u.username == username)
    }

    pub fn resource(&self, resource_type: &str, id: &str) -> Option<&Value> {
        self.resources
            .iter()
            .find(|r| r["resourceType"] == resource_type && r["id"] == id)
    }

    pub fn of_type<'a>(&'a self, resource_type: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.resources
            .iter()
            .filter(move |r| r["resourceType"] == resource_type)
    }

    pub fn patient_name(&self, id: &str) -> String {
        self.resource("Patient", id)
            .and_then(|p| p["name"][0].as_object())
            .map(|n| {
                let given = n
                    .get("given")
                    .and_then(|g| g[0].as_str())
                    .unwrap_or_default();
                let family = n.get("family").and_then(Value::as_str).unwrap_or_default();
                format!("{given} {family}")
            })
            .unwrap_or_else(|| id.to_string())
    }
}

/// The patient a resource belongs to (FHIR R4 Patient compartment, for the types served here):
/// the Patient itself, or the `subject` / `patient` reference.
pub fn patient_of(resource: &Value) -> Option<&str> {
    if resource["resourceType"] == "Patient" {
        return resource["id"].as_str();
    }
    ["subject", "patient"]
        .iter()
        .filter_map(|field| resource[field]["reference"].as_str())
        .find_map(|r| r.strip_prefix("Patient/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures_parse_and_users_see_existing_patients() {
        let data = Data::fixtures();
        let daniel = data.user("daniel-adams").unwrap();
        assert_eq!(daniel.password, "demo-password");
        assert_eq!(daniel.patients, ["smart-1288992", "smart-1032702"]);
        for user in &data.users {
            let (kind, id) = user.fhir_user.split_once('/').unwrap();
            assert!(data.resource(kind, id).is_some(), "{}", user.fhir_user);
            for p in &user.patients {
                assert!(data.resource("Patient", p).is_some(), "{p}");
            }
        }
        assert_eq!(data.patient_name("smart-1288992"), "Daniel Adams");
    }

    #[test]
    fn compartment_membership() {
        let data = Data::fixtures();
        let obs = data
            .resource("Observation", "smart-obs-1288992-bp")
            .unwrap();
        assert_eq!(patient_of(obs), Some("smart-1288992"));
        let pr = data
            .resource("Practitioner", "smart-practitioner-71482713")
            .unwrap();
        assert_eq!(patient_of(pr), None);
    }
}
