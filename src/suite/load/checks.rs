//! A check of a suite file read and checked: its requirements and their level, its operators, its
//! templates, JSONPaths, patterns and conditions.

use super::*;

/// Resolves a check's requirement ids in the catalogue and holds its level to its first
/// (primary) one, the requirement the check tests; the others are context and do not raise
/// it. A SHALL check needs a primary SHALL requirement that binds a server; any check needs a
/// primary server requirement at SHOULD or above unless it says what it infers (`implied`), and
/// then it is at most SHOULD.
pub(super) fn requirements(p: &mut Problems, path: &str, check: &mut Check) {
    let catalogue = crate::requirements::Catalogue::builtin();
    let rpath = format!("{path}.requirement");
    if check.requirement.0.is_empty() {
        p.at_value(&rpath, format!("check `{}` cites no requirement", check.id))
            .add_expected(
                "a requirement id of the catalogue (`smartcheck requirements` lists them)",
            );
        return;
    }
    let Some(cited) = cited_entries(p, &rpath, check, catalogue) else {
        return;
    };
    level_bound(p, path, &rpath, check, &cited);
    check.cited = cited
        .iter()
        .map(|e| Requirement {
            id: e.id.as_str().into(),
            url: e.url.as_str().into(),
            level: e.level.as_str().into(),
            text: e.text.as_str().into(),
        })
        .collect();
}

/// The catalogue's entry of each requirement the check cites, or `None` (each unknown id
/// reported) when one is not there.
pub(super) fn cited_entries<'c>(
    p: &mut Problems,
    rpath: &str,
    check: &Check,
    catalogue: &'c crate::requirements::Catalogue,
) -> Option<Vec<&'c crate::requirements::Entry>> {
    let mut cited = Vec::new();
    for (i, id) in check.requirement.0.iter().enumerate() {
        let ipath = if check.requirement.0.len() > 1 {
            format!("{rpath}[{i}]")
        } else {
            rpath.to_string()
        };
        match catalogue.get(id) {
            Some(entry) => cited.push(entry),
            None => {
                p.at_value(&ipath, format!("no requirement `{id}` in the catalogue"))
                    .add_expected("an id that `smartcheck requirements` lists")
                    .add_help_opt(did_you_mean(id, catalogue.ids()));
            }
        }
    }
    (cited.len() == check.requirement.0.len()).then_some(cited)
}

/// A check is no stricter than the primary requirement it cites: SHALL only on a SHALL of the
/// server's, an implied check at SHOULD.
pub(super) fn level_bound(
    p: &mut Problems,
    path: &str,
    rpath: &str,
    check: &Check,
    cited: &[&crate::requirements::Entry],
) {
    // Only the primary requirement bounds the level.
    let strongest = cited.first().map(|e| e.server_strength()).unwrap_or(0);
    let describe = |cited: &[&crate::requirements::Entry]| {
        cited
            .iter()
            .map(|e| {
                format!(
                    "`{}` is {} binding {}",
                    e.id,
                    e.level.as_str(),
                    e.binds_text()
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    if check.implied.is_some() {
        if check.level == Level::Shall {
            p.at_key(
                &format!("{path}.implied"),
                format!(
                    "check `{}` is SHALL but says it tests what its requirements imply",
                    check.id
                ),
            )
            .add_expected("`level: SHOULD` for an implied check (a warning, not a failure)");
        }
    } else if strongest == 0 {
        p.at_value(rpath, format!("check `{}` cites no requirement that binds a server at SHOULD or above", check.id))
            .add_expected(describe(cited))
            .add_help("cite the server's own duty, or say what the check infers with `implied: REASON` and `level: SHOULD`");
    } else if check.level == Level::Shall && strongest < 2 {
        p.at_key(
            &format!("{path}.level"),
            format!(
                "check `{}` is SHALL, stricter than its requirements",
                check.id
            ),
        )
        .add_expected(describe(cited))
        .add_help(if cited.iter().skip(1).any(|e| e.server_strength() == 2) {
            "the first requirement is the one the check tests and the only one that bounds its level: put the SHALL requirement it rests on first, or use `level: SHOULD`"
        } else {
            "use `level: SHOULD`, or cite the SHALL requirement the check rests on"
        });
    }
}

pub(super) fn validate_check(p: &mut Problems, path: &str, check: &mut Check, steps: &[&str]) {
    requirements(p, path, check);
    match check.subject_count() {
        1 => {}
        0 => {
            p.at_key(path, format!("check `{}` says nothing to check", check.id))
                .add_expected("one of `status`, `header`, `json`, `body`");
        }
        _ => {
            p.at_key(
                path,
                format!(
                    "check `{}` has more than one of `status`, `header`, `json`, `body`",
                    check.id
                ),
            )
            .add_help("split it into one check per requirement");
        }
    }
    if let Some(w) = &check.when {
        when(p, &format!("{path}.when"), w, steps);
    }
    if let Some(header) = &check.header {
        header_check(p, &format!("{path}.header"), header, steps);
    }
    if let Some(json) = &check.json {
        json_check(p, &format!("{path}.json"), json, steps);
    }
    if let Some(body) = &check.body {
        let bpath = format!("{path}.body");
        if body.count() != 1 {
            p.at_key(&bpath, "a body check needs exactly one of `is-json: true`, `is-json-object: true`, `contains`, `matches`");
        }
        if let Some(re) = &body.matches {
            regex(p, &format!("{bpath}.matches"), re);
        }
    }
}

pub(super) fn operators(
    p: &mut Problems,
    path: &str,
    ops: &[Op],
    false_flags: &[&str],
    steps: &[&str],
) {
    if let Some(flag) = false_flags.first() {
        p.at_value(
            &format!("{path}.{flag}"),
            format!("`{flag}: false` checks nothing"),
        )
        .add_help(match *flag {
            "present" => "write `absent: true` to require that the value is missing",
            "absent" => "write `present: true` to require the value",
            _ => "remove the line, or write `true`",
        });
    }
    match ops.len() {
        1 => {}
        0 if false_flags.is_empty() => {
            p.at_key(path, "no matcher operator")
                .add_expected("one of `present`, `absent`, `type`, `equals`, `one-of`, `contains`, `contains-any`, `excludes`, `starts-with`, `absolute-url`, `matches`, `subset-of`, `equals-as-set`, `items-type`, `not-empty`, `jwk-set`, `at-most`, `at-least`");
        }
        0 => {}
        _ => {
            let names: Vec<String> = ops.iter().map(|o| format!("`{}`", o.name())).collect();
            p.at_key(
                path,
                format!("more than one matcher operator: {}", names.join(", ")),
            )
            .add_help("write one check per operator, each with its own id");
        }
    }
    for op in ops {
        let opath = format!("{path}.{}", op.name());
        match op {
            Op::Matches(re) => regex(p, &opath, re),
            Op::SecondsFromNow(least, most) if least > most => {
                p.at_value(
                    &opath,
                    format!(
                        "`at-least` ({least}) is more than `at-most` ({most}): no time is both"
                    ),
                );
            }
            Op::StartsWith(s) | Op::SubsetOf(s) | Op::EqualsAsSet(s) => {
                p.template(&opath, s, steps)
            }
            Op::Equals(v) | Op::Contains(v) | Op::Excludes(v) => {
                json_templates(p, &opath, v, steps)
            }
            Op::OneOf(vs) | Op::ContainsAny(vs) => {
                for (i, v) in vs.iter().enumerate() {
                    json_templates(p, &format!("{opath}[{i}]"), v, steps);
                }
            }
            _ => {}
        }
    }
}

pub(super) fn json_templates(
    p: &mut Problems,
    path: &str,
    value: &serde_json::Value,
    steps: &[&str],
) {
    if let Some(s) = value.as_str() {
        p.template(path, s, steps);
    }
}

pub(super) fn header_check(p: &mut Problems, path: &str, header: &HeaderCheck, steps: &[&str]) {
    let ops = header.operators();
    operators(p, path, &ops, &header.false_flags(), steps);
    for op in &ops {
        if !op.applies_to_header() {
            p.at_key(
                &format!("{path}.{}", op.name()),
                format!(
                    "`{}` does not apply to a header value (a string)",
                    op.name()
                ),
            );
        }
    }
    if !is_header_name(&header.name) {
        p.at_value(
            &format!("{path}.name"),
            format!("`{}` is not a valid header name", header.name),
        );
    }
}

pub(super) fn json_check(p: &mut Problems, path: &str, json: &JsonCheck, steps: &[&str]) {
    jsonpath(p, &format!("{path}.path"), &json.path);
    let ops = json.operators();
    operators(p, path, &ops, &json.false_flags(), steps);
    if json.if_present && ops.iter().any(|o| matches!(o, Op::Present | Op::Absent)) {
        p.at_key(
            &format!("{path}.if-present"),
            "`if-present` with `present` or `absent` checks nothing",
        );
    }
}

/// A `when`: each of its conditions, and a list that names at least one.
pub(super) fn when(p: &mut Problems, path: &str, w: &When, steps: &[&str]) {
    if w.conditions.is_empty() {
        p.at_value(path, "an empty `when` list holds always")
            .add_expected("one condition, or a list of them, each a `value` and one operator");
    }
    for (at, cond) in w.each(path) {
        condition(p, &at, cond, steps);
    }
}

pub(super) fn condition(p: &mut Problems, path: &str, cond: &Condition, steps: &[&str]) {
    p.template(&format!("{path}.value"), &cond.value, steps);
    operators(p, path, &cond.operators(), &cond.false_flags(), steps);
}

pub(super) fn jsonpath(p: &mut Problems, path: &str, text: &str) {
    if let Err(e) = serde_json_path::JsonPath::parse(text) {
        p.inside_value(
            path,
            e.position(),
            format!("`{text}` is not a JSONPath: {}", e.message()),
        )
        .add_expected("an RFC 9535 JSONPath like `$.token_endpoint` or `$.rest[*].security`");
    }
}

pub(super) fn regex(p: &mut Problems, path: &str, text: &str) {
    if let Err(e) = Regex::new(text) {
        let detail = e.to_string();
        let last = detail.lines().last().unwrap_or_default().trim().to_string();
        p.at_value(
            path,
            format!("`{text}` is not a regular expression: {last}"),
        );
    }
}

/// An absolute http(s) URL with a host, or an error at `path` that says what is wrong.
pub(super) fn http_url(
    p: &mut Problems,
    path: &str,
    text: &str,
    expected: &str,
) -> Option<url::Url> {
    match url::Url::parse(text) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
        Ok(u) => {
            p.at_value(path, format!("`{u}` is not an http(s) URL with a host"))
                .add_expected(expected);
            None
        }
        Err(e) => {
            p.at_value(path, format!("`{text}` is not an absolute URL: {e}"))
                .add_expected(expected);
            None
        }
    }
}
