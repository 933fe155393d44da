//! One redactor per run: it learns every secret seen (from the target and from the server's
//! answers) and every writer passes its text through it at write time.

use std::sync::{Arc, RwLock};

use crate::secret::Secret;

/// What replaces a secret in every output.
pub const MASK: &str = "[redacted]";

/// Header names whose values are always credentials (compared case-insensitively).
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
];

/// JSON member, form field and query parameter names whose values are credentials
/// (RFC 6749 §4.1.2, §5.1, §6; RFC 7591 §3.2.1; RFC 7636 §4.5; RFC 7523 §2.2; RFC 7662 §2.1).
const SECRET_FIELDS: &[&str] = &[
    "access_token",
    "refresh_token",
    "id_token",
    "code",
    "code_verifier",
    "client_secret",
    "registration_access_token",
    "client_assertion",
    "assertion",
    "password",
    "token",
    "device_code",
    "private_key",
];

/// Values shorter than this are not replaced inside free text (they would mangle every
/// report); they are still masked wherever they appear as a header or a named field.
const MIN_FREE_TEXT_LEN: usize = 4;

/// Shared, thread-safe registry of the secrets of one run.
#[derive(Clone, Default)]
pub struct Redactor {
    values: Arc<RwLock<Vec<String>>>,
}

impl Redactor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a secret so that it is masked wherever it appears later.
    pub fn register(&self, secret: &Secret) {
        self.register_str(secret.expose_secret());
    }

    pub(crate) fn register_str(&self, value: &str) {
        let value = value.trim();
        if value.len() < MIN_FREE_TEXT_LEN {
            return;
        }
        let mut values = self.values.write().unwrap_or_else(|e| e.into_inner());
        if !values.iter().any(|v| v == value) {
            values.push(value.to_string());
            // Longest first, so that a secret containing another is masked whole.
            values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        }
    }

    /// Masks every registered secret in free text.
    pub fn redact(&self, text: &str) -> String {
        let values = self.values.read().unwrap_or_else(|e| e.into_inner());
        let mut out = text.to_string();
        for value in values.iter() {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), MASK);
            }
        }
        out
    }

    /// Whether a header carries credentials by its name alone.
    pub fn is_secret_header(name: &str) -> bool {
        SECRET_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name))
    }

    /// Whether a JSON member, form field or query parameter carries credentials by its name.
    pub fn is_secret_field(name: &str) -> bool {
        SECRET_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(name))
    }

    /// A credential member of a JSON document. `code` is a credential only in forms and
    /// redirect queries (the authorization code); in JSON it is everywhere a FHIR code.
    pub fn is_secret_json_field(name: &str) -> bool {
        Self::is_secret_field(name) && !name.eq_ignore_ascii_case("code")
    }

    /// Masks a header value: whole for credential headers, free-text masking otherwise.
    pub fn redact_header(&self, name: &str, value: &str) -> String {
        if Self::is_secret_header(name) {
            // Keep the scheme ("Bearer", "Basic") as evidence; mask the credentials.
            match value.split_once(' ') {
                Some((scheme, _)) if !scheme.is_empty() && !name.eq_ignore_ascii_case("cookie") => {
                    format!("{scheme} {MASK}")
                }
                _ => MASK.to_string(),
            }
        } else {
            self.redact(value)
        }
    }

    /// Learns the credentials a message carries in named fields (JSON members at any depth,
    /// `application/x-www-form-urlencoded` fields, URL query parameters, and Basic credentials),
    /// so that they are masked wherever they appear afterwards.
    pub fn learn_from_json(&self, value: &serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, member) in map {
                    if Self::is_secret_json_field(key) {
                        if let Some(text) = member.as_str() {
                            self.register_str(text);
                        }
                    }
                    self.learn_from_json(member);
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| self.learn_from_json(v)),
            _ => {}
        }
    }

    /// See [`Redactor::learn_from_json`]; for `a=b&c=d` form bodies and query strings.
    pub fn learn_from_form(&self, encoded: &str) {
        for (key, value) in url::form_urlencoded::parse(encoded.as_bytes()) {
            if Self::is_secret_field(&key) {
                self.register_str(&value);
            }
        }
    }

    /// Learns the credentials of an `Authorization` header (Bearer token, Basic user:password).
    pub fn learn_from_authorization(&self, value: &str) {
        let Some((scheme, credentials)) = value.split_once(' ') else {
            self.register_str(value);
            return;
        };
        let credentials = credentials.trim();
        self.register_str(credentials);
        if scheme.eq_ignore_ascii_case("basic") {
            use base64::Engine;
            if let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(credentials) {
                if let Ok(text) = String::from_utf8(decoded) {
                    if let Some((user, password)) = text.split_once(':') {
                        // RFC 6749 §2.3.1: both parts are form-urlencoded.
                        let decode = |s: &str| {
                            url::form_urlencoded::parse(format!("v={s}").as_bytes())
                                .next()
                                .map(|(_, v)| v.into_owned())
                                .unwrap_or_default()
                        };
                        self.register_str(&decode(password));
                        let _ = user;
                    }
                }
            }
        }
    }

    /// Masks named credential fields in a JSON document, then free text.
    pub fn redact_json_text(&self, body: &str) -> String {
        match serde_json::from_str::<serde_json::Value>(body) {
            Ok(mut value) => {
                mask_json(&mut value);
                self.redact(&serde_json::to_string_pretty(&value).unwrap_or_default())
            }
            Err(_) => self.redact(body),
        }
    }

    /// Masks named credential fields in a JSON value, then every registered secret in its
    /// strings.
    pub fn redact_json_value(&self, value: &serde_json::Value) -> serde_json::Value {
        fn walk(r: &Redactor, v: &mut serde_json::Value) {
            match v {
                serde_json::Value::String(s) => *s = r.redact(s),
                serde_json::Value::Array(items) => items.iter_mut().for_each(|i| walk(r, i)),
                serde_json::Value::Object(map) => map.values_mut().for_each(|i| walk(r, i)),
                _ => {}
            }
        }
        let mut copy = value.clone();
        mask_json(&mut copy);
        walk(self, &mut copy);
        copy
    }

    /// Masks named credential fields in a form body or query string, then free text.
    pub fn redact_form_text(&self, encoded: &str) -> String {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(encoded.as_bytes())
            .map(|(k, v)| {
                let v = if Self::is_secret_field(&k) {
                    MASK.to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &pairs {
            out.append_pair(k, v);
        }
        self.redact(&out.finish())
    }

    /// Masks credential query parameters in a URL, then free text.
    pub fn redact_url(&self, raw: &str) -> String {
        match url::Url::parse(raw) {
            Ok(mut parsed) if parsed.query().is_some() => {
                let query = parsed.query().unwrap_or_default().to_string();
                let masked = self.redact_form_text(&query);
                parsed.set_query(Some(&masked));
                self.redact(parsed.as_str())
            }
            _ => self.redact(raw),
        }
    }
}

fn mask_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, member) in map.iter_mut() {
                if Redactor::is_secret_json_field(key) && member.is_string() {
                    *member = serde_json::Value::String(MASK.to_string());
                } else {
                    mask_json(member);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(mask_json),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_values_are_masked_longest_first() {
        let r = Redactor::new();
        r.register(&Secret::new("abcd"));
        r.register(&Secret::new("abcdefgh"));
        assert_eq!(
            r.redact("x abcdefgh y abcd z"),
            "x [redacted] y [redacted] z"
        );
    }

    #[test]
    fn fhir_codes_in_json_are_not_secrets_but_form_codes_are() {
        let r = Redactor::new();
        let fhir = serde_json::json!({"coding": [{"code": "SMART-on-FHIR"}]});
        r.learn_from_json(&fhir);
        assert!(r
            .redact_json_text(&fhir.to_string())
            .contains("SMART-on-FHIR"));
        r.learn_from_form("grant_type=authorization_code&code=abcdef123456");
        assert_eq!(r.redact("x abcdef123456"), "x [redacted]");
    }

    #[test]
    fn short_values_are_not_free_text_masked() {
        let r = Redactor::new();
        r.register_str("ab");
        assert_eq!(r.redact("abab"), "abab");
    }

    #[test]
    fn learns_tokens_from_json_and_masks_fields() {
        let r = Redactor::new();
        let body = serde_json::json!({"access_token": "tok-123456", "nested": {"refresh_token": "ref-98765"}, "scope": "openid"});
        r.learn_from_json(&body);
        let text = r.redact_json_text(&body.to_string());
        assert!(
            !text.contains("tok-123456") && !text.contains("ref-98765"),
            "{text}"
        );
        assert!(text.contains("openid"));
        assert_eq!(r.redact("Bearer tok-123456"), "Bearer [redacted]");
    }

    #[test]
    fn masks_form_fields_query_parameters_and_basic_credentials() {
        let r = Redactor::new();
        assert_eq!(
            r.redact_form_text("grant_type=authorization_code&code=xyz"),
            "grant_type=authorization_code&code=%5Bredacted%5D"
        );
        let url = r.redact_url("http://127.0.0.1/cb?code=abc&state=s1");
        assert!(
            url.contains("state=s1") && !url.contains("code=abc"),
            "{url}"
        );
        // "client:s3cr3t-pass" in Basic credentials.
        r.learn_from_authorization("Basic Y2xpZW50OnMzY3IzdC1wYXNz");
        assert_eq!(r.redact("pw s3cr3t-pass"), "pw [redacted]");
        assert_eq!(
            r.redact_header("Authorization", "Basic Y2xpZW50OnMzY3IzdC1wYXNz"),
            "Basic [redacted]"
        );
    }
}
