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
