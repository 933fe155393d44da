//! Unit tests of `eval`.

use super::*;
use serde_json::json;

fn op(op: Op, v: Option<Value>) -> Result<(), Mismatch> {
    match apply(
        &op,
        v.as_ref(),
        &json!({"steps": {"a": {"json": {"x": "http://h/t"}}}}),
    ) {
        Ok(r) => r,
        Err(_) => panic!("problem"),
    }
}

#[test]
fn a_body_that_is_not_json_holds_no_member() {
    let plain = RecordedResponse {
        status: 400,
        headers: vec![("Content-Type".into(), "text/plain".into())],
        body: "invalid_redirect_uri: not an absolute URL".into(),
        body_bytes: 41,
    };
    let check = |yaml: &str| {
        let json: JsonCheck = serde_yaml::from_str(yaml).unwrap();
        json_check(&json, &plain, &json!({}))
    };
    assert!(matches!(
        check("{ path: $.client_id, absent: true }"),
        Evaluation::Matched
    ));
    assert!(matches!(
        check("{ path: $.scope, equals: x, or-absent: true }"),
        Evaluation::Matched
    ));
    // Any other question of a body that is not JSON cannot be answered.
    assert!(matches!(
        check("{ path: $.error, equals: invalid_redirect_uri }"),
        Evaluation::Error(_)
    ));
}

#[test]
fn json_nested_past_the_parsers_depth_is_not_called_not_json() {
    let deep = format!("{}{}", "[".repeat(130), "]".repeat(130));
    let response = RecordedResponse {
        status: 200,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body_bytes: deep.len(),
        body: deep,
    };
    let json: JsonCheck = serde_yaml::from_str("{ path: $.issuer, present: true }").unwrap();
    match json_check(&json, &response, &json!({})) {
        Evaluation::Error(e) => {
            assert!(e.contains("nested deeper than 128 levels"), "{e}");
            assert!(!e.contains("not JSON"), "{e}");
        }
        _ => panic!("a body smartcheck cannot read is no verdict"),
    }
}

#[test]
fn an_absent_value_is_judged_against_the_expected_value_shown() {
    let m = op(Op::Equals(json!("access_denied")), None).unwrap_err();
    assert_eq!(
        (m.expected.as_str(), m.actual.as_str()),
        ("\"access_denied\"", "absent")
    );
    let m = op(Op::OneOf(vec![json!("a"), json!("b")]), None).unwrap_err();
    assert_eq!(m.expected, "one of [\"a\",\"b\"]");
    let m = op(Op::Equals(json!("{{ steps.a.json.x }}")), None).unwrap_err();
    assert_eq!(m.expected, "\"http://h/t\"");
    let m = op(Op::Matches("^(?i)bearer$".into()), None).unwrap_err();
    assert_eq!(m.expected, "a string matching /^(?i)bearer$/");
    let m = op(Op::AtMost(3600.0), None).unwrap_err();
    assert_eq!(m.expected, "a number no greater than 3600");
    // An operator that a null would meet still fails on an absent value.
    let m = op(Op::Equals(json!(null)), None).unwrap_err();
    assert_eq!(
        (m.expected.as_str(), m.actual.as_str()),
        ("a value for `equals`", "absent")
    );
    assert_eq!(
        op(Op::Type(JsonType::String), None).unwrap_err().expected,
        "a value of type string"
    );
    // Absent fails even when the value to compare with is not available.
    let m = op(Op::Equals(json!("{{ steps.none.json.x }}")), None).unwrap_err();
    assert_eq!(
        (m.expected.as_str(), m.actual.as_str()),
        ("a value for `equals`", "absent")
    );
}

#[test]
fn operators_pass_and_fail() {
    assert!(op(Op::Present, Some(json!(1))).is_ok());
    assert_eq!(op(Op::Present, None).unwrap_err().actual, "absent");
    assert!(op(Op::Absent, None).is_ok());
    assert!(op(Op::Type(JsonType::Integer), Some(json!(3))).is_ok());
    assert!(op(Op::Type(JsonType::Integer), Some(json!(3.5))).is_err());
    assert!(op(
        Op::Equals(json!("{{ steps.a.json.x }}")),
        Some(json!("http://h/t"))
    )
    .is_ok());
    assert!(op(
        Op::Equals(json!("{{ steps.a.json.x }}")),
        Some(json!("http://h/u"))
    )
    .is_err());
    assert!(op(Op::OneOf(vec![json!("a"), json!("b")]), Some(json!("b"))).is_ok());
    assert!(op(Op::Contains(json!("S256")), Some(json!(["S256"]))).is_ok());
    let m = op(Op::Contains(json!("S256")), Some(json!(["plain"]))).unwrap_err();
    assert_eq!(m.expected, "an array containing \"S256\"");
    assert_eq!(m.actual, "[\"plain\"]");
    assert!(op(Op::Excludes(json!("plain")), Some(json!(["S256"]))).is_ok());
    assert!(op(Op::Excludes(json!("plain")), None).is_ok());
    assert!(op(Op::Excludes(json!("plain")), Some(json!(["S256", "plain"]))).is_err());
    assert!(op(
        Op::ContainsAny(vec![json!("RS384"), json!("ES384")]),
        Some(json!(["ES384"]))
    )
    .is_ok());
    assert!(op(
        Op::ContainsAny(vec![json!("RS384"), json!("ES384")]),
        Some(json!(["RS256"]))
    )
    .is_err());
    assert!(op(
        Op::StartsWith("application/json".into()),
        Some(json!("application/json; charset=utf-8"))
    )
    .is_ok());
    assert!(op(Op::AbsoluteUrl, Some(json!("https://h/x"))).is_ok());
    assert!(op(Op::AbsoluteUrl, Some(json!("/token"))).is_err());
    assert!(op(Op::AbsoluteUrl, Some(json!("urn:x:y"))).is_err());
    assert!(op(Op::Matches("^a+$".into()), Some(json!("aaa"))).is_ok());
    assert!(op(
        Op::SubsetOf("openid fhirUser launch/patient".into()),
        Some(json!("launch/patient openid"))
    )
    .is_ok());
    let m = op(
        Op::SubsetOf("openid".into()),
        Some(json!("openid patient/*.rs")),
    )
    .unwrap_err();
    assert!(
        m.expected.contains("not within: patient/*.rs"),
        "{}",
        m.expected
    );
    assert!(op(Op::EqualsAsSet("a b".into()), Some(json!("b a"))).is_ok());
    assert!(op(Op::EqualsAsSet("a b".into()), Some(json!("a"))).is_err());
    assert!(op(Op::ItemsType(JsonType::String), Some(json!(["a", "b"]))).is_ok());
    assert!(op(Op::ItemsType(JsonType::String), Some(json!(["a", 1]))).is_err());
    assert!(op(Op::NotEmpty, Some(json!([]))).is_err());
}

#[test]
fn numeric_bounds() {
    assert!(op(Op::AtMost(300.0), Some(json!(300))).is_ok());
    assert!(op(Op::AtMost(300.0), Some(json!(299.5))).is_ok());
    let over = op(Op::AtMost(300.0), Some(json!(3600))).unwrap_err();
    assert_eq!(over.expected, "a number no greater than 300");
    assert_eq!(over.actual, "3600");
    assert!(op(Op::AtMost(300.0), Some(json!("300"))).is_err());
    assert!(op(Op::AtLeast(1.0), Some(json!(1))).is_ok());
    assert!(op(Op::AtLeast(1.0), Some(json!(0))).is_err());
    let now = chrono::Utc::now().timestamp();
    assert!(op(Op::InTheFuture, Some(json!(now + 600))).is_ok());
    let past = op(Op::InTheFuture, Some(json!(now - 600))).unwrap_err();
    assert!(past.expected.contains("in the future"), "{past:?}");
    assert!(op(Op::InTheFuture, Some(json!("soon"))).is_err());
    let in_three_hours = now + 10800;
    assert!(op(
        Op::SecondsFromNow(10200.0, 11400.0),
        Some(json!(in_three_hours))
    )
    .is_ok());
    let date = chrono::DateTime::from_timestamp(in_three_hours, 0)
        .unwrap()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    assert!(op(Op::SecondsFromNow(10200.0, 11400.0), Some(json!(date))).is_ok());
    let an_hour = op(
        Op::SecondsFromNow(10200.0, 11400.0),
        Some(json!(now + 3600)),
    )
    .unwrap_err();
    assert!(
        format!("{an_hour:?}").contains("seconds from now"),
        "{an_hour:?}"
    );
    assert!(op(Op::SecondsFromNow(0.0, 1.0), Some(json!("tomorrow"))).is_err());
}

#[test]
fn jwk_sets() {
    let good = json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]});
    assert!(op(Op::JwkSet, Some(good)).is_ok());
    assert!(op(Op::JwkSet, Some(json!({"keys": []}))).is_err());
    let bad = op(
        Op::JwkSet,
        Some(json!({"keys": [{"kty": "RSA", "kid": "r1"}]})),
    )
    .unwrap_err();
    assert!(bad.actual.contains("key 0 (r1)"), "{}", bad.actual);
    // Numbers a verifier would refuse: a modulus of zeros (3.5 MB of them in a hostile
    // JWK Set), a 1024-bit modulus, an EC coordinate cut short.
    use base64::Engine;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let rsa = |n: Vec<u8>| json!({"keys": [{"kty": "RSA", "kid": "r", "n": b64(&n), "e": "AQAB"}]});
    let zeros = op(Op::JwkSet, Some(rsa(vec![0; 4096]))).unwrap_err();
    assert!(zeros.actual.contains("zero octet"), "{}", zeros.actual);
    let mut short = vec![0xC5; 128];
    short[127] = 0x01;
    let short = op(Op::JwkSet, Some(rsa(short))).unwrap_err();
    assert!(short.actual.contains("1024 bits"), "{}", short.actual);
    let mut fine = vec![0xC5; 256];
    fine[255] = 0x01;
    assert!(op(Op::JwkSet, Some(rsa(fine))).is_ok());
    let cut = op(
        Op::JwkSet,
        Some(json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1",
            "x": b64(&[7; 31]), "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]})),
    )
    .unwrap_err();
    assert!(cut.actual.contains("`x` coordinate"), "{}", cut.actual);
}

#[test]
fn select_singular_and_not() {
    let doc = json!({"a": {"b": 1}, "list": [{"c": "x"}, {"c": "y"}], "one": [{"c": "z"}]});
    assert_eq!(select("$.a.b", &doc).unwrap(), Some(json!(1)));
    assert_eq!(select("$.nope", &doc).unwrap(), None);
    assert_eq!(
        select("$.list[*].c", &doc).unwrap(),
        Some(json!(["x", "y"]))
    );
    assert_eq!(select("$.one[*].c", &doc).unwrap(), Some(json!(["z"])));
    assert_eq!(
        select("$.list[?@.c == 'y'].c", &doc).unwrap(),
        Some(json!(["y"]))
    );
    assert_eq!(select("$['a']['b']", &doc).unwrap(), Some(json!(1)));
    assert!(!is_singular("$..c"));
}
