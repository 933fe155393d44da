//! Which origins may receive a target's credentials: the ones the person who wrote the target
//! file named (its FHIR base, the other URLs in the file, the browser's allowed hosts, and
//! `credential-origins`), never one a server's discovery document chose. A request to any
//! other origin goes without the target's headers, and one that would carry another of the
//! target's credentials (the initial access token, a static client secret, a `secrets:`
//! value, in any encoding) is not sent at all; the exchange says why.

use crate::redact::Redactor;

/// The credential origins of one target, and the credentials it owns.
#[derive(Clone, Default)]
pub struct CredentialGuard {
    origins: Vec<url::Origin>,
    /// `browser.allow-hosts`: any scheme and port.
    hosts: Vec<String>,
    /// Each credential with what it is called in messages, and a matcher of its forms.
    owned: Vec<(String, Redactor)>,
}

impl CredentialGuard {
    /// A guard allowing `urls`' origins and `hosts`.
    pub fn new<'a>(urls: impl IntoIterator<Item = &'a str>, hosts: &[String]) -> Self {
        let mut origins: Vec<url::Origin> = Vec::new();
        for raw in urls {
            if let Ok(url) = url::Url::parse(raw) {
                if matches!(url.scheme(), "http" | "https") && !origins.contains(&url.origin()) {
                    origins.push(url.origin());
                }
            }
        }
        CredentialGuard {
            origins,
            hosts: hosts.iter().map(|h| h.to_ascii_lowercase()).collect(),
            owned: Vec::new(),
        }
    }

    /// Adds a credential of the target, called `label` in messages.
    pub fn own(&mut self, label: impl Into<String>, value: &str) {
        let matcher = Redactor::new();
        matcher.register_str(value);
        self.owned.push((label.into(), matcher));
    }

    /// Adds the HTTP Basic forms of a static client's secret.
    pub fn own_basic(
        &mut self,
        label: impl Into<String>,
        user: &str,
        secret: &crate::secret::Secret,
    ) {
        let matcher = Redactor::new();
        matcher.register_basic(user, secret);
        self.owned.push((label.into(), matcher));
    }

    /// Whether `url` may receive the target's credentials.
    pub fn allows(&self, url: &url::Url) -> bool {
        self.origins.contains(&url.origin())
            || url
                .host_str()
                .is_some_and(|h| self.hosts.iter().any(|a| a.eq_ignore_ascii_case(h)))
    }

    /// The allowed origins, for messages.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self
            .origins
            .iter()
            .map(|o| o.ascii_serialization())
            .collect();
        parts.extend(
            self.hosts
                .iter()
                .map(|h| format!("{h} (browser.allow-hosts)")),
        );
        parts.join(", ")
    }

    /// The target's credentials a request carries (in its URL, headers or body).
    pub fn carried(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: Option<&str>,
    ) -> Vec<String> {
        let mut texts = vec![url];
        for (name, value) in headers {
            texts.push(name);
            texts.push(value);
        }
        texts.extend(body);
        self.owned
            .iter()
            .filter(|(_, matcher)| texts.iter().any(|t| matcher.finds_secret(t)))
            .map(|(label, _)| label.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_named_origins_and_hosts_are_allowed() {
        let guard = CredentialGuard::new(
            ["https://ehr.example.org/fhir", "http://127.0.0.1:8080/x"],
            &["login.example.org".to_string()],
        );
        let ok = |u: &str| guard.allows(&url::Url::parse(u).unwrap());
        assert!(ok("https://ehr.example.org:443/auth/token"));
        assert!(ok("http://127.0.0.1:8080/token"));
        assert!(ok("https://login.example.org:8443/authorize"));
        assert!(
            !ok("http://ehr.example.org/fhir"),
            "another scheme is another origin"
        );
        assert!(!ok("https://ehr.example.org:8443/fhir"), "another port");
        assert!(!ok("http://127.0.0.2:8080/token"), "another host");
        assert!(!ok("https://ehr.example.org.evil.example/fhir"));
    }

    #[test]
    fn a_credential_is_found_in_any_form_and_any_part_of_a_request() {
        let mut guard = CredentialGuard::new(["https://ehr.example.org"], &[]);
        guard.own("the initial access token", "iat/+=\"&<%-0123456789");
        guard.own_basic(
            "the client secret of static client `basic`",
            "app",
            &crate::secret::Secret::new("s3cr&t+"),
        );
        let form =
            url::form_urlencoded::byte_serialize(b"iat/+=\"&<%-0123456789").collect::<String>();
        assert_eq!(
            guard.carried(&format!("https://x/?t={form}"), &[], None),
            ["the initial access token"]
        );
        assert_eq!(
            guard.carried(
                "https://x/",
                &[],
                Some("{\"t\":\"iat/+=\\\"&<%-0123456789\"}")
            ),
            ["the initial access token"]
        );
        use base64::Engine;
        let basic = base64::engine::general_purpose::STANDARD.encode("app:s3cr%26t%2B");
        assert_eq!(
            guard.carried(
                "https://x/",
                &[("Authorization".into(), format!("Basic {basic}"))],
                None
            ),
            ["the client secret of static client `basic`"]
        );
        assert!(guard
            .carried(
                "https://x/",
                &[("Accept".into(), "*/*".into())],
                Some("a=b")
            )
            .is_empty());
        // Line ends and other control characters in a body are no credential.
        assert!(guard
            .carried("https://x/", &[], Some("line one\r\nline two\u{1b}"))
            .is_empty());
    }
}
