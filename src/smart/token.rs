//! Token-endpoint requests: the code exchange (RFC 6749 §4.1.3, SMART App Launch 2.2 "obtain
//! access token"), the refresh (RFC 6749 §6), and the form POST that introspection (RFC 7662)
//! and revocation (RFC 7009) share, each with the client's authentication.

use super::client::{authenticate, Client};
use crate::http::OutgoingRequest;

/// What a code exchange sends; `None` leaves a parameter out on purpose.
#[derive(Debug, Clone)]
pub struct CodeExchange {
    pub code: String,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
}

/// The token request for a code exchange.
pub fn code_exchange_request(
    token_endpoint: &str,
    client: &Client,
    exchange: &CodeExchange,
) -> Result<OutgoingRequest, String> {
    let mut form = vec![
        ("grant_type".to_string(), "authorization_code".to_string()),
        ("code".to_string(), exchange.code.clone()),
    ];
    if let Some(uri) = &exchange.redirect_uri {
        form.push(("redirect_uri".into(), uri.clone()));
    }
    if let Some(v) = &exchange.code_verifier {
        form.push(("code_verifier".into(), v.clone()));
    }
    form_post(token_endpoint, Some(client), form, Vec::new())
}

/// The refresh request (RFC 6749 §6): the refresh token, an optional narrower `scope`.
pub fn refresh_request(
    token_endpoint: &str,
    client: &Client,
    refresh_token: &str,
    scope: Option<&str>,
) -> Result<OutgoingRequest, String> {
    let mut form = vec![
        ("grant_type".to_string(), "refresh_token".to_string()),
        ("refresh_token".to_string(), refresh_token.to_string()),
    ];
    if let Some(scope) = scope {
        form.push(("scope".into(), scope.to_string()));
    }
    form_post(token_endpoint, Some(client), form, Vec::new())
}

/// A form POST to an OAuth endpoint (token, introspection, revocation), with the client's
/// authentication when a client is given. A client assertion's `aud` is the endpoint.
pub fn form_post(
    endpoint: &str,
    client: Option<&Client>,
    mut form: Vec<(String, String)>,
    extra_headers: Vec<(String, String)>,
) -> Result<OutgoingRequest, String> {
    let mut headers = vec![
        (
            "Content-Type".to_string(),
            "application/x-www-form-urlencoded".to_string(),
        ),
        ("Accept".to_string(), "application/json".to_string()),
    ];
    headers.extend(extra_headers);
    if let Some(client) = client {
        authenticate(client, endpoint, &mut form, &mut headers)?;
    }
    let mut encoder = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in &form {
        encoder.append_pair(k, v);
    }
    Ok(OutgoingRequest {
        method: "POST".into(),
        url: endpoint.to_string(),
        headers,
        body: Some(encoder.finish()),
    })
}

#[cfg(test)]
mod tests {
    use super::super::client::ClientAuth;
    use super::*;
    use crate::secret::Secret;

    fn exchange() -> CodeExchange {
        CodeExchange {
            code: "c1".into(),
            redirect_uri: Some("http://127.0.0.1:9/cb".into()),
            code_verifier: Some("v1".into()),
        }
    }

    #[test]
    fn a_public_client_sends_its_id_in_the_body() {
        let client = Client {
            client_id: "app".into(),
            auth: ClientAuth::None,
            redirect_uri: String::new(),
        };
        let r = code_exchange_request("https://as/token", &client, &exchange()).unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(
            r.body.as_deref(),
            Some("grant_type=authorization_code&code=c1&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&code_verifier=v1&client_id=app")
        );
        assert!(!r.headers.iter().any(|(n, _)| n == "Authorization"));
    }

    #[test]
    fn basic_puts_the_secret_in_the_header_and_post_in_the_body() {
        let mut client = Client {
            client_id: "app".into(),
            auth: ClientAuth::Basic(Secret::new("s3")),
            redirect_uri: String::new(),
        };
        let mut ex = exchange();
        ex.code_verifier = None;
        let r = code_exchange_request("https://as/token", &client, &ex).unwrap();
        assert!(r
            .headers
            .contains(&("Authorization".into(), "Basic YXBwOnMz".into())));
        assert!(!r.body.as_deref().unwrap().contains("client_id"));
        assert!(!r.body.as_deref().unwrap().contains("code_verifier"));
        client.auth = ClientAuth::Post(Secret::new("s3"));
        let r = code_exchange_request("https://as/token", &client, &ex).unwrap();
        assert!(r
            .body
            .as_deref()
            .unwrap()
            .ends_with("&client_id=app&client_secret=s3"));
    }

    #[test]
    fn a_refresh_sends_the_token_and_the_scope_only_when_given() {
        let client = Client {
            client_id: "app".into(),
            auth: ClientAuth::Basic(Secret::new("s3")),
            redirect_uri: String::new(),
        };
        let r = refresh_request("https://as/token", &client, "rt1", None).unwrap();
        assert_eq!(
            r.body.as_deref(),
            Some("grant_type=refresh_token&refresh_token=rt1")
        );
        assert!(r
            .headers
            .contains(&("Authorization".into(), "Basic YXBwOnMz".into())));
        let r = refresh_request(
            "https://as/token",
            &client,
            "rt1",
            Some("patient/Patient.rs"),
        )
        .unwrap();
        assert_eq!(
            r.body.as_deref(),
            Some("grant_type=refresh_token&refresh_token=rt1&scope=patient%2FPatient.rs")
        );
    }

    #[test]
    fn a_form_post_without_a_client_carries_no_credentials() {
        let r = form_post(
            "https://as/introspect",
            None,
            vec![("token".into(), "t".into())],
            vec![("Authorization".into(), "Bearer rs".into())],
        )
        .unwrap();
        assert_eq!(r.body.as_deref(), Some("token=t"));
        assert_eq!(
            r.headers
                .iter()
                .filter(|(n, _)| n == "Authorization")
                .count(),
            1
        );
    }
}
