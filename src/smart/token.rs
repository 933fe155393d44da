//! The authorization-code token request (RFC 6749 §4.1.3, SMART App Launch 2.2 "obtain access
//! token"), with the client's authentication.

use super::client::{authenticate, Client};
use crate::http::OutgoingRequest;

/// What a code exchange sends; `None` leaves a parameter out on purpose.
#[derive(Debug, Clone)]
pub struct CodeExchange {
    pub code: String,
    pub redirect_uri: String,
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
        ("redirect_uri".to_string(), exchange.redirect_uri.clone()),
    ];
    if let Some(v) = &exchange.code_verifier {
        form.push(("code_verifier".into(), v.clone()));
    }
    let mut headers = vec![
        (
            "Content-Type".to_string(),
            "application/x-www-form-urlencoded".to_string(),
        ),
        ("Accept".to_string(), "application/json".to_string()),
    ];
    authenticate(client, token_endpoint, &mut form, &mut headers)?;
    let mut encoder = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in &form {
        encoder.append_pair(k, v);
    }
    Ok(OutgoingRequest {
        method: "POST".into(),
        url: token_endpoint.to_string(),
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
            redirect_uri: "http://127.0.0.1:9/cb".into(),
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
}
