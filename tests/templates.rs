//! The target templates in fixtures/targets/templates/ are starting points people copy: each
//! explains itself in its leading comment and validates once its environment variables are set.

use std::process::Command;

/// A plausible value for a template's `${NAME}`, by what the name says it is.
fn value_for(name: &str) -> String {
    if name.ends_with("_FILE") {
        std::fs::canonicalize("fixtures/keys/client-rs384.key.pem")
            .unwrap()
            .display()
            .to_string()
    } else if name.ends_with("_BASE") {
        "https://ehr.example.org/fhir".into()
    } else if name.ends_with("_ORIGIN") || name.ends_with("_URL") {
        "https://ehr.example.org/launch".into()
    } else {
        format!("value-of-{}", name.to_ascii_lowercase())
    }
}

#[test]
fn every_template_is_documented_and_validates() {
    let mut templates: Vec<_> = std::fs::read_dir("fixtures/targets/templates")
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    templates.sort();
    assert_eq!(templates.len(), 4, "{templates:?}");
    let reference = regex::Regex::new(r"\$\{([A-Z0-9_]+)\}").unwrap();
    for path in templates {
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("# Template: "),
            "{} does not say what it is for",
            path.display()
        );
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_smartcheck"));
        cmd.arg("validate").arg(&path);
        for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
            let code = line.split(" #").next().unwrap_or(line);
            for c in reference.captures_iter(code) {
                cmd.env(&c[1], value_for(&c[1]));
            }
        }
        let out = cmd.output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A suite that reads a target's secret and var by names the target does not have: the run
/// refuses to start (exit 2) and says where, rather than skipping the checks and passing.
#[test]
fn a_secret_or_var_no_target_can_supply_stops_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("suite.yaml");
    std::fs::write(
        &suite,
        r#"suite: s
title: t
spec: { name: SMART App Launch, version: 2.2.0, url: https://hl7.org/fhir/smart-app-launch/ }
cases:
  - id: c
    title: c
    steps:
      - id: read
        request:
          url: "{{ target.fhir-base }}/Patient/{{ target.vars.pateint }}"
          headers: { X-Api-Key: "{{ secrets.api-kye }}" }
        checks:
          - id: a
            title: t
            requirement: rfc6749-5.1-no-store
            status: 200
"#,
    )
    .unwrap();
    let run = |target: &str| {
        let path = dir.path().join("target.yaml");
        std::fs::write(&path, target).unwrap();
        Command::new(env!("CARGO_BIN_EXE_smartcheck"))
            .args(["run", "--color", "never", "--target"])
            .arg(&path)
            .arg("--suite")
            .arg(&suite)
            .arg("--report-dir")
            .arg(dir.path().join("reports"))
            .output()
            .unwrap()
    };
    let base =
        "name: t\nfhir-base: http://127.0.0.1:9/fhir\ntimeouts:\n  connect: 1s\n  request: 1s\n";
    let out = run(&format!(
        "{base}vars:\n  patient: p1\nsecrets:\n  api-key: k-123456789\n"
    ));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for expected in [
        "`{{ secrets.api-kye }}` names no secret of target `t`",
        "did you mean `api-key`?",
        "`{{ target.vars.pateint }}` names no var of target `t`",
        "did you mean `patient`?",
        "suite.yaml:10:",
    ] {
        assert!(stderr.contains(expected), "{expected:?} not in:\n{stderr}");
    }
    // A target with no var of a like name left `patient` out: the check is skipped (the
    // secret is still required).
    let out = run(&format!("{base}secrets:\n  api-kye: k-123456789\n"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("names no"), "{stderr}");
}

/// A binary without this repository has the templates too: `templates export DIR` writes the
/// same files, with the client JWK Set, and keeps existing ones unless `--force`.
#[test]
fn the_templates_are_exported_from_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let export = |force: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_smartcheck"));
        cmd.args(["templates", "export"]).arg(dir.path());
        if force {
            cmd.arg("--force");
        }
        cmd.current_dir(std::env::temp_dir()).output().unwrap()
    };
    let out = export(false);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for entry in std::fs::read_dir("fixtures/targets/templates")
        .unwrap()
        .flatten()
    {
        let exported = std::fs::read_to_string(dir.path().join(entry.file_name())).unwrap();
        assert_eq!(exported, std::fs::read_to_string(entry.path()).unwrap());
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join("client-jwks.json")).unwrap(),
        std::fs::read_to_string("fixtures/keys/client-jwks.json").unwrap()
    );
    let again = export(false);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("pass --force to replace"));
    assert_eq!(export(true).status.code(), Some(0));
}
