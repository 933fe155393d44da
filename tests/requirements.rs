//! `smartcheck requirements`: the catalogue against the suites, as JSON for machines and text for
//! people; a suite that does not load is a usage error.

use std::process::Command;

fn smartcheck(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_smartcheck"))
        .args(args)
        .output()
        .expect("smartcheck runs")
}

#[test]
fn json_lists_every_smart_statement_with_the_checks_that_test_it() {
    let out = smartcheck(&["requirements", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v["requirements"].as_array().unwrap();
    for row in rows {
        for key in ["id", "source", "url", "level", "binds", "text", "checks"] {
            assert!(!row[key].is_null(), "{key} missing in {row}");
        }
    }
    let statements = &v["summary"]["smart_statements"];
    assert_eq!(statements["requirements"], 154);
    assert_eq!(
        statements["tested"].as_u64().unwrap()
            + statements["untestable"].as_u64().unwrap()
            + statements["untested"].as_u64().unwrap(),
        154
    );
    // The built-in suites test at least 140 of them, and every other one says why it cannot
    // be tested from outside.
    assert!(
        statements["tested"].as_u64().unwrap() >= 140,
        "{statements}"
    );
    assert_eq!(statements["untested"], 0, "{statements}");
    let s256 = rows.iter().find(|r| r["id"] == "smart-cf-22").unwrap();
    assert_eq!(s256["level"], "SHALL");
    assert!(s256["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "smart-discovery::smart-configuration::smart-config-pkce-s256"));
    // A check used through a group is listed under its case's id.
    let access_token = rows.iter().find(|r| r["id"] == "smart-al-13").unwrap();
    assert!(access_token["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "smart-app-launch::standalone-public::standalone-public-token-access-token"));
    let untestable = rows.iter().find(|r| r["id"] == "smart-as-07").unwrap();
    assert!(untestable["untestable"].is_string());
}

#[test]
fn text_names_levels_checks_and_coverage() {
    let out = smartcheck(&["requirements", "--suite", "suites/smart-discovery.yaml"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("smart-cf-22 [SHALL; resource-server]"),
        "{text}"
    );
    assert!(
        text.contains("    tested by smart-discovery::smart-configuration::smart-config-pkce-s256")
    );
    assert!(text.contains("    untested"));
    assert!(text.contains("SMART App Launch 2.2 server statements, per page:"));
}

#[test]
fn a_suite_that_does_not_load_exits_2() {
    let out = smartcheck(&[
        "requirements",
        "--suite",
        "tests/bad-files/suite-requirement-unknown-id.yaml",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no requirement `rfc6749-5.1-no-stor`"));
}
