//! The documentation cannot drift from the code: every relative link of README.md and docs/
//! leads to a file and a heading that exist; the target keys' table is the target schema
//! (`UPDATE_DOCS=1 cargo test --test docs` writes it again); the built-in steps' table names
//! every built-in step and each of its fields; the fault table has one row per fault, of its
//! kind, with what it breaks and the checks that catch it; the exit codes are exit.rs's.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use smartcheck::reference::FAULTS;

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The documents: README.md, BENCHMARKS.md and every page of docs/.
fn documents() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir("docs")
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    files.sort();
    files.insert(0, "BENCHMARKS.md".into());
    files.insert(0, "README.md".into());
    files
}

/// The text outside fenced code blocks.
fn prose(text: &str) -> String {
    let mut fenced = false;
    let mut out = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// GitHub's anchor of a heading: lower case, punctuation but `-` and `_` dropped, spaces as `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    prose(text)
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|l| slug(l.trim_start_matches('#')))
        .collect()
}

#[test]
fn every_relative_link_leads_to_a_file_and_a_heading() {
    let link = regex::Regex::new(r"\]\(([^)\s]+)\)").unwrap();
    let mut broken = Vec::new();
    let mut count = 0;
    for doc in documents() {
        let text = read(doc.to_str().unwrap());
        for cap in link.captures_iter(&prose(&text)) {
            let target = &cap[1];
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            count += 1;
            let (file, anchor) = match target.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (target, None),
            };
            let path = if file.is_empty() {
                doc.clone()
            } else {
                doc.parent().unwrap_or(Path::new("")).join(file)
            };
            if !path.exists() {
                broken.push(format!("{}: {target}: no such file", doc.display()));
                continue;
            }
            if let Some(anchor) = anchor {
                let headings = anchors(&std::fs::read_to_string(&path).unwrap_or_default());
                if !headings.contains(anchor) {
                    broken.push(format!("{}: {target}: no such heading", doc.display()));
                }
            }
        }
    }
    assert!(count > 30, "only {count} links read");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

fn schema(kind: &str) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_smartcheck"))
        .args(["schema", kind])
        .output()
        .unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

/// One line of a table cell: no line breaks, `|` escaped.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// The target keys' table, from the target schema.
fn keys_table() -> String {
    let schema = schema("target");
    let required: BTreeSet<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut table = String::from("| key | what it is |\n| --- | --- |\n");
    let properties = schema["properties"].as_object().unwrap();
    for (key, property) in properties {
        let mut what = property["description"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if what.is_empty() {
            // A key whose type carries the description.
            what = property["allOf"][0]["$ref"]
                .as_str()
                .or(property["$ref"].as_str())
                .and_then(|r| r.rsplit('/').next())
                .map(|name| {
                    schema["definitions"][name]["description"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string()
                })
                .unwrap_or_default();
        }
        assert!(
            !what.is_empty(),
            "target key `{key}` has no description in the schema"
        );
        let flag = if required.contains(key.as_str()) {
            " (required)"
        } else {
            ""
        };
        table.push_str(&format!("| `{key}`{flag} | {} |\n", cell(&what)));
    }
    table
}

/// The part of `text` between `<!-- NAME:begin -->` and `<!-- NAME:end -->`.
fn block<'t>(text: &'t str, name: &str) -> (usize, usize, &'t str) {
    let begin = format!("<!-- {name}:begin -->\n");
    let start = text.find(&begin).unwrap_or_else(|| panic!("no {begin}")) + begin.len();
    let end = text[start..]
        .find(&format!("<!-- {name}:end -->"))
        .unwrap_or_else(|| panic!("no end of {name}"))
        + start;
    (start, end, &text[start..end])
}

#[test]
fn the_target_keys_table_is_the_schema() {
    let path = "docs/targets.md";
    let text = read(path);
    let (start, end, written) = block(&text, "keys");
    let table = keys_table();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(path, format!("{}{table}{}", &text[..start], &text[end..])).unwrap();
        return;
    }
    assert_eq!(
        written, table,
        "{path}'s key table differs from `smartcheck schema target`: UPDATE_DOCS=1 cargo test --test docs writes it again"
    );
    // The keys that are claims about the server say so: setting one turns skips into failures.
    for claim in ["supports", "introspection-scope"] {
        let row = table
            .lines()
            .find(|l| l.starts_with(&format!("| `{claim}`")))
            .unwrap();
        assert!(row.contains("A claim about the server"), "{row}");
    }
}

#[test]
fn the_built_in_steps_table_names_every_step_and_field() {
    let schema = schema("suite");
    let definitions = &schema["definitions"];
    let text = read("docs/suites.md");
    let (_, section) = text.split_once("## Built-in steps").unwrap();
    let rows: Vec<&str> = section
        .lines()
        .take_while(|l| !l.starts_with("## "))
        .filter(|l| l.starts_with("| `"))
        .collect();
    let mut missing = Vec::new();
    let mut steps = BTreeSet::new();
    for (step, property) in definitions["Step"]["properties"].as_object().unwrap() {
        if !property["description"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Built-in")
        {
            continue;
        }
        steps.insert(step.clone());
        let Some(row) = rows.iter().find(|r| {
            let first = r.split(" | ").next().unwrap_or_default();
            first.contains(&format!("`{step}:")) || first.contains(&format!("`{step}`"))
        }) else {
            missing.push(format!("no row for `{step}`"));
            continue;
        };
        let action = property["anyOf"][0]["$ref"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap();
        for field in definitions[action]["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(f, _)| f)
        {
            let word = regex::Regex::new(&format!(r"(^|[^\w-]){}([^\w-]|$)", regex::escape(field)))
                .unwrap();
            if !word.is_match(row) {
                missing.push(format!("`{step}` row does not mention `{field}`"));
            }
        }
    }
    // And no row for a step that is not there.
    let named = regex::Regex::new(r"`([a-z-]+)(:|`)").unwrap();
    for row in &rows {
        let first = row.split(" | ").next().unwrap_or_default();
        for cap in named.captures_iter(first) {
            if !steps.contains(&cap[1]) {
                missing.push(format!(
                    "a row names `{}`, which is no built-in step",
                    &cap[1]
                ));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/suites.md, Built-in steps:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_fault_table_has_every_fault_with_its_kind_what_it_breaks_and_its_checks() {
    let text = read("docs/reference-server.md");
    let rows: BTreeMap<String, (String, String, String)> = text
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| fault ") && !l.starts_with("| ---"))
        .filter_map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").map(str::trim).collect();
            let (name, kind) = match cells.first()?.split_once(" (*") {
                Some((n, k)) => (n.to_string(), k.trim_end_matches("*)").to_string()),
                None => (cells[0].to_string(), String::new()),
            };
            Some((
                name,
                (kind, cells.get(1)?.to_string(), cells.get(2)?.to_string()),
            ))
        })
        .collect();
    let mut wrong = Vec::new();
    for fault in FAULTS {
        let Some((kind, breaks, caught)) = rows.get(fault.name) else {
            wrong.push(format!("no row for {}", fault.name));
            continue;
        };
        let expected_kind = if fault.is_variant() {
            "conforming"
        } else if !fault.unproven.is_empty() {
            "stalls"
        } else if fault.collateral {
            "wide"
        } else {
            ""
        };
        if kind != expected_kind {
            wrong.push(format!(
                "{}: marked `{kind}`, is `{expected_kind}`",
                fault.name
            ));
        }
        if cell(fault.breaks) != *breaks {
            wrong.push(format!(
                "{}: breaks {:?}, the table says {breaks:?}",
                fault.name, fault.breaks
            ));
        }
        for check in fault.caught_by {
            // An ES384 copy may be named once for all: "also as its `-es384` copy".
            let base = check.strip_suffix("-es384");
            let named = caught.contains(check)
                || base.is_some_and(|b| caught.contains(b) && caught.contains("-es384"));
            if !named {
                wrong.push(format!(
                    "{}: caught by {check}, not in the table",
                    fault.name
                ));
            }
        }
    }
    for name in rows.keys() {
        if !FAULTS.iter().any(|f| f.name == name) {
            wrong.push(format!("a row for {name}, which is no fault"));
        }
    }
    assert!(
        wrong.is_empty(),
        "docs/reference-server.md's fault table:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_exit_codes_are_the_ones_the_binary_uses() {
    use smartcheck::exit::*;
    let text = read("README.md");
    let (_, section) = text.split_once("## Exit codes").unwrap();
    let codes: Vec<String> = section
        .lines()
        .skip_while(|l| !l.starts_with("| code"))
        .skip(2)
        .take_while(|l| l.starts_with("| "))
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .next()
                .unwrap()
                .trim()
                .to_string()
        })
        .collect();
    let expected: Vec<String> = [SUCCESS, CHECKS_FAILED, USAGE, HARNESS]
        .iter()
        .map(u8::to_string)
        .chain([format!("{INTERRUPTED}, 143, 129")])
        .collect();
    assert_eq!(codes, expected);
}
