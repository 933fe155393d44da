//! Case variants: a case written once and run as several, each with its own values
//! (`{{ variant.NAME }}`), such as every backend refusal once per signing algorithm. Expanded
//! on the parsed YAML before the suite is read into its model, so that every later check of
//! the loader (ids, templates, steps) sees ordinary cases.

use std::collections::BTreeMap;

use regex::Regex;
use serde_yaml::{Mapping, Value};

/// A problem with a case's `variants`: the path it is at (in the text's numbering) and what.
pub type Problem = (String, String);

/// Expands every case with `variants` into one case per variant, in place: a variant with an
/// `id` gets the case id and each of its own check ids with `-ID` added; `{{ variant.NAME }}`
/// in any string of the case becomes the variant's value. Returns, per case of the expanded
/// suite, the index of the case of the text it came from; `None` when no case has variants
/// (the document is untouched).
pub fn expand(doc: &mut Value) -> Result<Option<Vec<usize>>, Vec<Problem>> {
    let Some(cases) = doc.get_mut("cases").and_then(Value::as_sequence_mut) else {
        return Ok(None);
    };
    if !cases.iter().any(|c| c.get("variants").is_some()) {
        return Ok(None);
    }
    let mut problems = Vec::new();
    let mut expanded = Vec::with_capacity(cases.len());
    let mut origin = Vec::with_capacity(cases.len());
    for (ci, mut case) in std::mem::take(cases).into_iter().enumerate() {
        let given = case.as_mapping_mut().and_then(|m| m.remove("variants"));
        let Some(given) = given else {
            expanded.push(case);
            origin.push(ci);
            continue;
        };
        let path = format!("cases[{ci}].variants");
        let variants = match read_variants(&path, &given) {
            Ok(v) => v,
            Err(mut p) => {
                problems.append(&mut p);
                continue;
            }
        };
        for variant in &variants {
            let mut copy = case.clone();
            substitute(&format!("cases[{ci}]"), &mut copy, variant, &mut problems);
            if let Some(suffix) = &variant.id {
                add_suffix(&mut copy, suffix);
            }
            expanded.push(copy);
            origin.push(ci);
        }
    }
    *cases = expanded;
    // One report per unknown name, not one per variant.
    let mut seen = std::collections::HashSet::new();
    problems.retain(|p| seen.insert(p.clone()));
    if problems.is_empty() {
        Ok(Some(origin))
    } else {
        Err(problems)
    }
}

struct Variant {
    id: Option<String>,
    vars: BTreeMap<String, String>,
}

fn read_variants(path: &str, given: &Value) -> Result<Vec<Variant>, Vec<Problem>> {
    let Some(list) = given.as_sequence().filter(|l| !l.is_empty()) else {
        return Err(vec![(
            path.to_string(),
            "`variants` is a non-empty list, like `[{ vars: { alg: RS384 } }, { id: es384, vars: { alg: ES384 } }]`".into(),
        )]);
    };
    let mut problems = Vec::new();
    let mut variants: Vec<Variant> = Vec::new();
    for (vi, entry) in list.iter().enumerate() {
        let vpath = format!("{path}[{vi}]");
        let Some(map) = entry.as_mapping() else {
            problems.push((
                vpath,
                "a variant is a mapping with `vars` and, but for one, an `id`".into(),
            ));
            continue;
        };
        let mut variant = Variant {
            id: None,
            vars: BTreeMap::new(),
        };
        for (key, value) in map {
            match key.as_str() {
                Some("id") => match value.as_str() {
                    Some(id) => variant.id = Some(id.to_string()),
                    None => problems.push((format!("{vpath}.id"), "a variant id is a string, added to the case id and its check ids (`es384`)".into())),
                },
                Some("vars") => match vars(value) {
                    Some(v) => variant.vars = v,
                    None => problems.push((format!("{vpath}.vars"), "`vars` maps names to text values, like `{ alg: ES384 }`".into())),
                },
                other => problems.push((
                    format!("{vpath}.{}", other.unwrap_or("?")),
                    format!("unknown key `{}` in a variant: a variant has `id` and `vars`", other.unwrap_or("?")),
                )),
            }
        }
        if let Some(id) = &variant.id {
            if let Some(problem) = super::load::id_problem(id) {
                problems.push((format!("{vpath}.id"), format!("variant id {problem}")));
            } else if variants.iter().any(|v| v.id.as_deref() == Some(id)) {
                problems.push((
                    format!("{vpath}.id"),
                    format!("variant id `{id}` is used twice in the case"),
                ));
            }
        } else if variants.iter().any(|v| v.id.is_none()) {
            problems.push((vpath.clone(), "only one variant may go without an `id` (it keeps the case's ids); give this one an `id`".into()));
        }
        if let Some(first) = variants.first() {
            let names = |v: &BTreeMap<String, String>| v.keys().cloned().collect::<Vec<_>>();
            if names(&first.vars) != names(&variant.vars) {
                problems.push((
                    format!("{vpath}.vars"),
                    format!(
                        "every variant gives the same names; the first gives {}",
                        list_names(&first.vars)
                    ),
                ));
            }
        }
        variants.push(variant);
    }
    if problems.is_empty() {
        Ok(variants)
    } else {
        Err(problems)
    }
}

fn vars(value: &Value) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (k, v) in value.as_mapping()? {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return None,
        };
        out.insert(k.as_str()?.to_string(), text);
    }
    Some(out)
}

fn list_names(vars: &BTreeMap<String, String>) -> String {
    if vars.is_empty() {
        "none".into()
    } else {
        vars.keys()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn variant_ref() -> &'static Regex {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"\{\{\s*variant\.([A-Za-z0-9_-]*)\s*\}\}").expect("a valid pattern")
    })
}

/// Replaces `{{ variant.NAME }}` in every string value under `node` (keys stay as written).
fn substitute(path: &str, node: &mut Value, variant: &Variant, problems: &mut Vec<Problem>) {
    match node {
        Value::String(text) => {
            if !text.contains("variant.") {
                return;
            }
            let mut unknown = None;
            let replaced = variant_ref().replace_all(text, |c: &regex::Captures| {
                match variant.vars.get(&c[1]) {
                    Some(v) => v.clone(),
                    None => {
                        unknown.get_or_insert_with(|| c[1].to_string());
                        c[0].to_string()
                    }
                }
            });
            if let Some(name) = unknown {
                problems.push((
                    path.to_string(),
                    format!(
                        "no variant value `{name}`: the case's variants give {}",
                        list_names(&variant.vars)
                    ),
                ));
            }
            *text = replaced.into_owned();
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                substitute(&format!("{path}[{i}]"), item, variant, problems);
            }
        }
        Value::Mapping(map) => {
            for (key, value) in map.iter_mut() {
                let key = key.as_str().unwrap_or("?").to_string();
                substitute(&format!("{path}.{key}"), value, variant, problems);
            }
        }
        Value::Tagged(tagged) => substitute(path, &mut tagged.value, variant, problems),
        _ => {}
    }
}

/// `-SUFFIX` on the case id and on the id of every check the case writes out (checks from
/// `use-checks` groups take the new case id as their prefix already).
fn add_suffix(case: &mut Value, suffix: &str) {
    let append = |map: &mut Mapping| {
        if let Some(Value::String(id)) = map.get_mut("id") {
            id.push('-');
            id.push_str(suffix);
        }
    };
    let Some(case) = case.as_mapping_mut() else {
        return;
    };
    append(case);
    let steps = case.get_mut("steps").and_then(Value::as_sequence_mut);
    for step in steps.into_iter().flatten() {
        let checks = step.get_mut("checks").and_then(Value::as_sequence_mut);
        for check in checks.into_iter().flatten() {
            if let Some(check) = check.as_mapping_mut() {
                append(check);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expanded(text: &str) -> (Value, Result<Option<Vec<usize>>, Vec<Problem>>) {
        let mut doc: Value = serde_yaml::from_str(text).unwrap();
        let r = expand(&mut doc);
        (doc, r)
    }

    #[test]
    fn a_case_with_two_variants_becomes_two_cases_with_their_values_and_ids() {
        let (doc, origin) = expanded(
            "cases:\n  - id: a\n    title: first\n  - id: refusals\n    title: \"refused ({{ variant.alg }})\"\n    variants:\n      - vars: { alg: RS384 }\n      - { id: es384, vars: { alg: ES384 } }\n    steps:\n      - id: client\n        client: { alg: \"{{variant.alg}}\", scope: \"{{ steps.x.json }}\" }\n        checks:\n          - { id: refused-status, status: 400 }\n",
        );
        assert_eq!(origin.unwrap(), Some(vec![0, 1, 1]));
        let cases = doc["cases"].as_sequence().unwrap();
        assert_eq!(cases[1]["id"], "refusals");
        assert_eq!(cases[1]["title"], "refused (RS384)");
        assert_eq!(cases[1]["steps"][0]["client"]["alg"], "RS384");
        assert_eq!(cases[1]["steps"][0]["checks"][0]["id"], "refused-status");
        assert!(cases[1].get("variants").is_none());
        assert_eq!(cases[2]["id"], "refusals-es384");
        assert_eq!(cases[2]["steps"][0]["client"]["alg"], "ES384");
        assert_eq!(
            cases[2]["steps"][0]["checks"][0]["id"],
            "refused-status-es384"
        );
        // Other templates stay for the run.
        assert_eq!(
            cases[2]["steps"][0]["client"]["scope"],
            "{{ steps.x.json }}"
        );
    }

    #[test]
    fn a_suite_without_variants_is_untouched() {
        let (doc, origin) = expanded("cases:\n  - { id: a, title: \"{{ variant.x }}\" }\n");
        assert_eq!(origin.unwrap(), None);
        assert_eq!(doc["cases"][0]["title"], "{{ variant.x }}");
    }

    #[test]
    fn bad_variants_are_reported_where_they_are_written() {
        let (_, r) = expanded(
            "cases:\n  - id: a\n    title: \"{{ variant.algo }}\"\n    variants:\n      - vars: { alg: RS384 }\n      - vars: { alg: ES384 }\n      - { id: Bad_Id, vars: { alg: ES384 } }\n      - { id: x, vars: { other: 1 } }\n      - { id: y, colour: red, vars: { alg: ES384 } }\n",
        );
        let problems = r.unwrap_err();
        let at = |path: &str| -> Vec<&str> {
            problems
                .iter()
                .filter(|(p, _)| p == path)
                .map(|(_, m)| m.as_str())
                .collect()
        };
        assert!(at("cases[0].variants[1]")[0].contains("only one variant may go without an `id`"));
        assert!(at("cases[0].variants[2].id")[0].starts_with("variant id"));
        assert!(at("cases[0].variants[3].vars")[0].contains("the first gives `alg`"));
        assert!(at("cases[0].variants[4].colour")[0].contains("unknown key `colour`"));
        let (_, r) = expanded(
            "cases:\n  - id: a\n    title: \"{{ variant.algo }}\"\n    variants:\n      - vars: { alg: RS384 }\n      - { id: b, vars: { alg: ES384 } }\n",
        );
        assert_eq!(
            r.unwrap_err(),
            [(
                "cases[0].title".to_string(),
                "no variant value `algo`: the case's variants give `alg`".to_string()
            )]
        );
        let (_, r) = expanded("cases:\n  - { id: a, variants: [] }\n");
        assert!(r.unwrap_err()[0].1.contains("non-empty list"));
    }
}
