//! The authorization request (RFC 6749 §4.1.1, SMART App Launch 2.2 "obtain authorization
//! code"): parameters, and the URL or form that carries them.

use crate::http::OutgoingRequest;

/// Everything an authorization request sends.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    pub endpoint: url::Url,
    pub client_id: String,
    /// The redirect URI the answer is expected at; not sent when `without_redirect_uri`.
    pub redirect_uri: String,
    /// Leave `redirect_uri` out (a negative case: a client that registered several).
    pub without_redirect_uri: bool,
    pub scope: String,
    pub state: String,
    /// The resource server's URL; empty only when a negative case leaves it out on purpose.
    pub aud: String,
    /// SMART EHR launch: the opaque `launch` the EHR handed over.
    pub launch: Option<String>,
    /// `(code_challenge, code_challenge_method)`, absent when PKCE is left out on purpose.
    pub pkce: Option<(String, String)>,
    /// OpenID Connect `nonce`, sent when `openid` is asked.
    pub nonce: Option<String>,
    /// `code` unless a negative case asks for another.
    pub response_type: String,
    /// Parameters a server wants beyond SMART's (a target's `authorize-params`, such as a
    /// patient preselection); a SMART parameter of the same name is never replaced.
    pub extra: Vec<(String, String)>,
}

impl AuthorizationRequest {
    /// The parameters in the order a person reading the URL expects.
    pub fn params(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .smart_params()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        for (name, value) in &self.extra {
            if !out.iter().any(|(k, _)| k == name) {
                out.push((name.clone(), value.clone()));
            }
        }
        out
    }

    fn smart_params(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![
            ("response_type", self.response_type.clone()),
            ("client_id", self.client_id.clone()),
        ];
        if !self.without_redirect_uri {
            out.push(("redirect_uri", self.redirect_uri.clone()));
        }
        // An empty scope is one a negative case leaves out on purpose (RFC 6749 §3.3).
        if !self.scope.is_empty() {
            out.push(("scope", self.scope.clone()));
        }
        out.push(("state", self.state.clone()));
        if !self.aud.is_empty() {
            out.push(("aud", self.aud.clone()));
        }
        if let Some(launch) = &self.launch {
            out.push(("launch", launch.clone()));
        }
        if let Some((challenge, method)) = &self.pkce {
            out.push(("code_challenge", challenge.clone()));
            out.push(("code_challenge_method", method.clone()));
        }
        if let Some(nonce) = &self.nonce {
            out.push(("nonce", nonce.clone()));
        }
        out
    }

    /// The GET form: the endpoint with the parameters added to its query.
    pub fn url(&self) -> url::Url {
        let mut url = self.endpoint.clone();
        {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in self.params() {
                pairs.append_pair(&k, &v);
            }
        }
        url
    }

    /// The POST form (SMART `authorize-post`): the parameters as a form body.
    pub fn form_body(&self) -> String {
        let mut encoder = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.params() {
            encoder.append_pair(&k, &v);
        }
        encoder.finish()
    }

    /// The POST request, as it would be sent.
    pub fn post_request(&self) -> OutgoingRequest {
        OutgoingRequest {
            method: "POST".into(),
            url: self.endpoint.to_string(),
            headers: vec![(
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body: Some(self.form_body()),
        }
    }

    /// Whether the scope asks for OpenID Connect (and so needs a nonce).
    pub fn wants_openid(scope: &str) -> bool {
        scope.split_whitespace().any(|s| s == "openid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> AuthorizationRequest {
        AuthorizationRequest {
            endpoint: url::Url::parse("https://as.example/authorize?tenant=a").unwrap(),
            client_id: "app".into(),
            redirect_uri: "http://127.0.0.1:9/cb".into(),
            without_redirect_uri: false,
            scope: "launch/patient openid fhirUser".into(),
            state: "s1".into(),
            aud: "https://ehr.example/fhir".into(),
            launch: Some("L1".into()),
            pkce: Some((
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
                "S256".into(),
            )),
            nonce: Some("n1".into()),
            response_type: "code".into(),
            extra: Vec::new(),
        }
    }

    #[test]
    fn the_url_keeps_the_endpoint_query_and_encodes_every_parameter() {
        assert_eq!(
            request().url().as_str(),
            "https://as.example/authorize?tenant=a&response_type=code&client_id=app\
             &redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&scope=launch%2Fpatient+openid+fhirUser\
             &state=s1&aud=https%3A%2F%2Fehr.example%2Ffhir&launch=L1\
             &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
             &code_challenge_method=S256&nonce=n1"
        );
    }

    #[test]
    fn the_post_form_carries_the_same_parameters() {
        let post = request().post_request();
        assert_eq!(post.method, "POST");
        assert_eq!(post.url, "https://as.example/authorize?tenant=a");
        let body = post.body.unwrap();
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(pairs.len(), 10);
        assert!(pairs.contains(&("aud".into(), "https://ehr.example/fhir".into())));
        assert!(AuthorizationRequest::wants_openid("openid fhirUser"));
        assert!(!AuthorizationRequest::wants_openid("openidx"));
    }

    #[test]
    fn extra_parameters_follow_and_never_replace_smart_ones() {
        let mut r = request();
        r.extra = vec![
            ("patient_id".into(), "123".into()),
            ("aud".into(), "https://elsewhere".into()),
        ];
        let url = r.url().to_string();
        assert!(url.ends_with("&nonce=n1&patient_id=123"), "{url}");
        assert_eq!(url.matches("aud=").count(), 1);
    }
}
