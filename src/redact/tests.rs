//! Unit tests of `redact`.

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

/// A secret with every character that changes under some encoding, and longer than
/// any line a report keeps whole.
fn awkward() -> String {
    format!("p/a+s=s\"w&o<r>d%20 \\'x{}", "Z9".repeat(220))
}

#[test]
fn every_encoded_form_of_a_secret_is_masked() {
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    let r = Redactor::new();
    let secret = awkward();
    r.register(&Secret::new(secret.clone()));
    let mut url = url::Url::parse("https://h.example/fhir").unwrap();
    url.set_password(Some(&secret)).unwrap();
    url.set_username("u").unwrap();
    let mut query = url::Url::parse("https://h.example/cb").unwrap();
    query.query_pairs_mut().append_pair("state", &secret);
    let forms = [
        secret.clone(),
        url::form_urlencoded::byte_serialize(secret.as_bytes()).collect::<String>(),
        utf8_percent_encode(&secret, NON_ALPHANUMERIC).to_string(),
        utf8_percent_encode(&secret, NON_ALPHANUMERIC)
            .to_string()
            .to_ascii_lowercase(),
        serde_json::to_string(&secret).unwrap(),
        format!("{secret:?}"),
        secret
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('"', "&quot;"),
        url.to_string(),
        query.to_string(),
        serde_json::to_string(&serde_json::json!({"url": query.to_string()})).unwrap(),
    ];
    for form in forms {
        let shown = r.redact(&format!("before {form} after"));
        assert!(
            !shown.contains("Z9Z9Z9Z9") && shown.contains("before") && shown.contains("after"),
            "{form} -> {shown}"
        );
    }
}

#[test]
fn a_secret_cut_short_is_masked_but_an_unrelated_start_is_kept() {
    let r = Redactor::new();
    let code = format!("code-{}", "abcdef0123".repeat(40));
    r.register_str(&code);
    let cut: String = code.chars().take(300).collect();
    assert_eq!(r.redact(&format!("\"{cut}…")), "\"[redacted]…");
    assert_eq!(r.redact(&format!("x={}", &code[..50])), "x=[redacted]");
    assert_eq!(
        r.redact(&format!("{}\n[... 99 more bytes not shown]", &code[..120])),
        "[redacted]\n[... 99 more bytes not shown]"
    );
    // The same start followed by other text is not the secret.
    assert_eq!(r.redact("code-abcdef01 other"), "code-abcdef01 other");
    // Too short a start to mean anything.
    assert_eq!(r.redact("code-ab"), "code-ab");
}

#[test]
fn control_characters_are_made_visible_even_without_secrets() {
    let r = Redactor::new();
    assert_eq!(
        r.redact("tok\u{1b}[2J\u{7}en\r\nline\rover\ttab"),
        "tok\\u{1b}[2J\\u{7}en\nline\\u{d}over\ttab"
    );
    r.register_str("secret-token");
    assert_eq!(r.redact("a\u{0}secret-token"), "a\\u{0}[redacted]");
    r.register_str("tok\u{1b}[31m-with-escape");
    assert_eq!(r.redact("x tok\u{1b}[31m-with-escape y"), "x [redacted] y");
}

#[test]
fn basic_credentials_are_masked_in_base64() {
    use base64::Engine;
    let r = Redactor::new();
    r.register_basic("my client", &Secret::new("s&cr:t/+="));
    let encoded = base64::engine::general_purpose::STANDARD.encode("my+client:s%26cr%3At%2F%2B%3D");
    assert_eq!(r.redact(&format!("Basic {encoded}")), "Basic [redacted]");
}

#[test]
fn cookie_values_are_masked_and_their_names_and_attributes_kept() {
    let r = Redactor::new();
    assert_eq!(
        r.redact_header("Set-Cookie", "sessionid=s3ss10n-v4lue; Path=/; HttpOnly"),
        "sessionid=[redacted]; Path=/; HttpOnly"
    );
    assert_eq!(
        r.redact_header("cookie", "a=1234567; sessionid=s3ss10n-v4lue"),
        "a=[redacted]; sessionid=[redacted]"
    );
    r.learn_from_cookie_header("set-cookie", "sessionid=s3ss10n-v4lue; Path=/");
    assert_eq!(r.redact("page with s3ss10n-v4lue"), "page with [redacted]");
    assert_eq!(
        r.redact_header("Authorization", "Bearer abc"),
        "Bearer [redacted]"
    );
}

#[test]
fn credentials_named_in_free_text_and_urls_are_learned() {
    let r = Redactor::new();
    r.learn_from_text("went to http://h/cb?state=s1&code=c0de%2Bxyz-123#frag");
    r.learn_from_url("http://h/cb#access_token=fr4gment-t0ken&token_type=bearer");
    assert_eq!(
        r.redact("c0de+xyz-123 fr4gment-t0ken"),
        "[redacted] [redacted]"
    );
    // A name that merely ends in a credential name is not one.
    r.learn_from_text("status_code=20000 postcode=NW16XE");
    assert_eq!(r.redact("20000 NW16XE"), "20000 NW16XE");
    // Short values found by name are not taken for credentials.
    // A JSON member in free text (a JSON page quoted in a message) is learned too.
    r.learn_from_text(
        r#"the page shows a JSON body {"access_token": "js0n-t0ken-1", "scope":"openid"}"#,
    );
    assert_eq!(r.redact("js0n-t0ken-1 openid"), "[redacted] openid");
    r.learn_from_text("?token=true&code=abc1");
    r.learn_from_cookie_header("cookie", "lang=en-US");
    assert_eq!(r.redact("true abc1 en-US"), "true abc1 en-US");
}

#[test]
fn overlapping_secrets_are_masked_as_one() {
    let r = Redactor::new();
    r.register_str("abcdXYZ1");
    r.redact("x");
    r.register_str("XYZ1efgh");
    assert_eq!(r.redact("<abcdXYZ1efgh>"), "<[redacted]>");
}

/// The masking's work grows with the secrets registered, not with their square: each form
/// is compiled O(log n) times however registrations and masking interleave.
#[test]
fn masking_work_per_secret_does_not_grow_with_the_secrets_registered() {
    let per_secret = |n: usize| {
        let r = Redactor::new();
        let mut registered = 0;
        for i in 0..n {
            let secret = format!("secret-token-{i:06}-abcdefghij");
            r.register_str(&secret);
            registered += encoded_forms(&secret)
                .iter()
                .map(String::len)
                .sum::<usize>();
            assert_eq!(r.redact(&format!("x {secret} y")), "x [redacted] y");
        }
        r.compiled_bytes() as f64 / registered as f64
    };
    let (small, large) = (per_secret(16), per_secret(1024));
    // About log2(1024) = 10 merges of any one form, and its first build; a rebuild per
    // registration would compile each form about 500 times.
    assert!(
        large <= 12.0,
        "each form compiled {large:.1} times at 1024 secrets"
    );
    assert!(large <= small + 8.0, "{small:.1} -> {large:.1}");
}
