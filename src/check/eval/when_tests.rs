//! Unit tests of `eval`.

use super::*;
use serde_json::json;

fn when(yaml: &str) -> When {
    serde_yaml::from_str(yaml).expect("a when")
}

fn context() -> Value {
    json!({"steps": {"config": {"json": {
        "capabilities": ["launch-standalone"],
        "grant_types_supported": ["authorization_code"],
        "nothing": null
    }}}})
}

#[test]
fn one_condition_or_a_list_that_must_all_hold() {
    let one =
        when(r#"{ value: "{{ steps.config.json.capabilities }}", contains: launch-standalone }"#);
    assert!(!one.list);
    assert!(when_holds(&one, &context()).is_ok());
    let both = when(
        r#"
- { value: "{{ steps.config.json.capabilities }}", contains: launch-standalone }
- { value: "{{ steps.config.json.grant_types_supported }}", contains: client_credentials }
"#,
    );
    assert!(both.list);
    let reason = when_holds(&both, &context()).unwrap_err();
    assert!(reason.contains("grant_types_supported"), "{reason}");
    assert!(reason.contains("client_credentials"), "{reason}");
    assert_eq!(
        both.each("cases[0].steps[1].when")
            .iter()
            .map(|(at, _)| at.as_str())
            .collect::<Vec<_>>(),
        ["cases[0].steps[1].when[0]", "cases[0].steps[1].when[1]"]
    );
}

#[test]
fn if_absent_holds_only_for_what_the_server_left_out() {
    let absent = when(
        r#"{ value: "{{ steps.config.json.scopes_supported }}", contains: x, if-absent: true }"#,
    );
    assert!(when_holds(&absent, &context()).is_ok());
    let null =
        when(r#"{ value: "{{ steps.config.json.nothing }}", contains: x, if-absent: true }"#);
    assert!(when_holds(&null, &context()).is_ok());
    // Present but without the value: the server said it does not offer it.
    let said_no = when(
        r#"{ value: "{{ steps.config.json.grant_types_supported }}", contains: client_credentials, if-absent: true }"#,
    );
    assert!(when_holds(&said_no, &context()).is_err());
    // Without if-absent, absence does not hold.
    let strict = when(r#"{ value: "{{ steps.config.json.scopes_supported }}", contains: x }"#);
    assert!(when_holds(&strict, &context()).is_err());
}
