//! Unit tests of `load`.

use super::*;

#[test]
fn every_target_context_key_is_one_templates_may_name() {
    let text = "name: t\nfhir-base: https://ehr.example.org/fhir\ndebug-token-endpoint: https://ehr.example.org/debug/token\ndebug-introspect-endpoint: https://ehr.example.org/debug/introspect\nintrospection-scope: system/*.rs\nother-fhir-base: https://ehr.example.org/other\ncode-expiry-wait: 11m\n";
    let target = parse_target("t.yaml", text, &|_| None).unwrap_or_else(|e| panic!("{e:?}"));
    let context = target.context();
    let keys: Vec<&str> = context
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut known = crate::suite::target::CONTEXT_KEYS.to_vec();
    known.sort_unstable();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, known);
}

#[test]
fn an_endless_file_is_refused_after_the_size_limit() {
    let errors = load_suite(Path::new("/dev/zero")).unwrap_err();
    assert!(
        errors[0].message.contains("larger than 8 MiB"),
        "{errors:?}"
    );
}

#[test]
fn flow_nesting_is_counted_outside_quotes_and_comments_only() {
    let deep = "[".repeat(65);
    assert_eq!(too_deep(&format!("a: {deep}")), Some((1, 68)));
    assert_eq!(too_deep(&format!("a: '{deep}'")), None);
    assert_eq!(too_deep(&format!("a: \"{deep}\"")), None);
    assert_eq!(too_deep(&format!("a: 1 # {deep}")), None);
    // An apostrophe inside a word starts no quoted string.
    assert_eq!(too_deep(&format!("a: it's {deep}")), Some((1, 73)));
    assert_eq!(too_deep("a: [[1], {b: [2]}]"), None);
}

#[test]
fn kebab_ids() {
    assert!(is_kebab("token-response-cache-control"));
    assert!(is_kebab("s256"));
    assert!(!is_kebab("Token"));
    assert!(!is_kebab("a--b"));
    assert!(!is_kebab("-a"));
    assert!(!is_kebab(""));
}

#[test]
fn comments_are_stripped_outside_quotes() {
    assert_eq!(strip_comment("a: b # c ${X}"), "a: b ");
    assert_eq!(strip_comment("a: \"b # c\""), "a: \"b # c\"");
    assert_eq!(strip_comment("a: b#c"), "a: b#c");
}

#[test]
fn builtin_groups_load_and_every_check_cites_known_requirements() {
    let groups = builtin_groups();
    assert!(groups.contains_key("token-response"));
    for (name, checks) in groups {
        assert!(!checks.is_empty(), "{name}");
        for check in checks {
            assert_eq!(check.subject_count(), 1, "{name}: {}", check.id);
            for id in &check.requirement.0 {
                assert!(
                    crate::requirements::Catalogue::builtin().get(id).is_some(),
                    "{name}: {} cites unknown {id}",
                    check.id
                );
            }
        }
    }
}

const GROUP_SUITE: &str = "suite: s\ntitle: t\nspec: { name: S, version: 2.2.0, url: https://x.example/ }\ngroups:\n  mine:\n    - id: status\n      title: t\n      requirement: rfc6749-5.1-no-store\n      status: 200\ncases:\n  - id: one\n    title: t\n    steps:\n      - id: token\n        request: { url: https://x.example/token }\n        use-checks: [mine, token-response]\n        checks:\n          - id: own\n            title: t\n            requirement: rfc6749-5.1-no-store\n            header: { name: Cache-Control, contains: no-store }\n";

#[test]
fn used_groups_come_first_with_the_case_id_as_prefix_and_their_requirements_resolved() {
    let suite = parse_suite("s.yaml", GROUP_SUITE).unwrap();
    let checks = &suite.cases[0].steps[0].checks;
    let ids: Vec<&str> = checks.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids[0], "one-status");
    assert_eq!(ids[1], "one-token-access-token");
    assert_eq!(ids.last(), Some(&"own"));
    assert_eq!(checks.len(), 2 + builtin_groups()["token-response"].len());
    // A group check is located at the `use-checks` line that runs it.
    assert_eq!(checks[0].location.line, 16);
    assert_eq!(&*checks[0].cited[0].id, "rfc6749-5.1-no-store");
    assert_eq!(&*checks[0].cited[0].level, "SHALL");
}

#[test]
fn a_group_used_twice_in_a_case_is_a_duplicate_check_id() {
    let text = GROUP_SUITE.replace("[mine, token-response]", "[mine, mine]");
    let errors = parse_suite("s.yaml", &text).unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| e.message.contains("check id `one-status` is used twice")),
        "{errors:?}"
    );
}
