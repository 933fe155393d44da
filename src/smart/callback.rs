//! What the authorization server hands back on the redirect URI (RFC 6749 §4.1.2 and
//! §4.1.2.1, RFC 9207 `iss`), and what an EHR hands the app's launch URL (SMART EHR launch).

use std::collections::BTreeMap;

/// The query of a request that reached the listener, decoded, with repeated names kept.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Callback {
    pub path: String,
    pub params: Vec<(String, String)>,
    /// How the browser came: `GET` after a 302 or 303, `POST` when a form post was answered
    /// with a 307 or 308 (the form, which may hold the person's credentials, is then sent to
    /// the app). Empty where no request was seen (a pasted URL, a launch read back).
    pub method: String,
}

impl Callback {
    pub fn parse(path: &str, query: Option<&str>) -> Self {
        Callback {
            path: path.to_string(),
            params: url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
            method: String::new(),
        }
    }

    /// The first value of a parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The parameters as a JSON object (the first value of each name; names given twice are
    /// listed under `repeated`).
    pub fn to_json(&self) -> serde_json::Value {
        let mut map = BTreeMap::new();
        let mut repeated = Vec::new();
        for (k, v) in &self.params {
            if map.contains_key(k) {
                repeated.push(k.clone());
            } else {
                map.insert(k.clone(), serde_json::Value::String(v.clone()));
            }
        }
        let mut out = serde_json::to_value(map).unwrap_or_default();
        if !repeated.is_empty() {
            out["repeated"] = serde_json::json!(repeated);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_decoded_and_state_kept_byte_for_byte() {
        let cb = Callback::parse(
            "/callback",
            Some("code=a%2Bb&state=x~y_z-1.&iss=https%3A%2F%2Fas"),
        );
        assert_eq!(cb.get("code"), Some("a+b"));
        assert_eq!(cb.get("state"), Some("x~y_z-1."));
        assert_eq!(cb.to_json()["iss"], "https://as");
    }

    #[test]
    fn repeated_parameters_are_reported() {
        let cb = Callback::parse("/callback", Some("state=a&state=b"));
        assert_eq!(cb.get("state"), Some("a"));
        assert_eq!(cb.to_json()["repeated"], serde_json::json!(["state"]));
    }
}
