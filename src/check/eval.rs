//! Evaluates matchers and checks against a recorded response and the case context.

use serde_json::Value;

use super::verdict::Mismatch;
use crate::http::RecordedResponse;
use crate::suite::model::{BodyCheck, Check, Condition, HeaderCheck, JsonCheck, When};
use crate::suite::ops::{JsonType, Op};
use crate::suite::template::{stringify, Missing, Template};

/// What evaluating a check came to, before the level decides failed or warned.
#[derive(Debug, Clone, PartialEq)]
pub enum Evaluation {
    Matched,
    Mismatched(Mismatch),
    /// Not evaluable: the reason.
    Error(String),
    /// Not applicable: the reason.
    Skip(String),
}

/// Whether a `when` condition holds; `Err` carries the reason it does not.
pub fn condition_holds(cond: &Condition, context: &Value) -> Result<(), String> {
    let value = Template::parse(&cond.value)
        .map_err(|e| e.message)?
        .render_value(context)
        .ok();
    if cond.if_absent && value.as_ref().is_none_or(Value::is_null) {
        return Ok(());
    }
    for op in cond.operators() {
        match apply(&op, value.as_ref(), context) {
            Ok(Ok(())) => {}
            Ok(Err(m)) => {
                return Err(format!(
                    "condition not met: {} is {}, not {}",
                    cond.value, m.actual, m.expected
                ))
            }
            Err(Problem::Missing(m)) => return Err(format!("condition not met: {m}")),
            Err(Problem::Error(e)) => return Err(format!("condition cannot be evaluated: {e}")),
        }
    }
    Ok(())
}

/// Whether every condition of a `when` holds; `Err` carries the first reason one does not.
pub fn when_holds(when: &When, context: &Value) -> Result<(), String> {
    when.conditions
        .iter()
        .try_for_each(|c| condition_holds(c, context))
}

/// Evaluates one check on a response.
pub fn evaluate(check: &Check, response: &RecordedResponse, context: &Value) -> Evaluation {
    if let Some(status) = &check.status {
        return if status.accepts(response.status) {
            Evaluation::Matched
        } else {
            // A redirect is not followed (a conformance check reads the answer it got): say
            // where it pointed, so an off-host or looping redirect is seen for what it is.
            let redirect = match response.header("location") {
                Some(to) if (300..400).contains(&response.status) => {
                    format!(" (a redirect to {to}, not followed)")
                }
                _ => String::new(),
            };
            Evaluation::Mismatched(Mismatch {
                expected: format!("status {}", status.describe()),
                actual: format!("status {}{redirect}", response.status),
            })
        };
    }
    if let Some(header) = &check.header {
        return header_check(header, response, context);
    }
    if let Some(json) = &check.json {
        return json_check(json, response, context);
    }
    if let Some(body) = &check.body {
        return body_check(body, response);
    }
    Evaluation::Error("the check names nothing to check".to_string())
}

fn run_ops(ops: &[Op], value: Option<&Value>, context: &Value) -> Evaluation {
    for op in ops {
        match apply(op, value, context) {
            Ok(Ok(())) => {}
            Ok(Err(m)) => return Evaluation::Mismatched(m),
            Err(Problem::Missing(m)) => {
                return Evaluation::Skip(format!("the value to compare with is not available: {m}"))
            }
            Err(Problem::Error(e)) => return Evaluation::Error(e),
        }
    }
    Evaluation::Matched
}

fn header_check(header: &HeaderCheck, response: &RecordedResponse, context: &Value) -> Evaluation {
    // RFC 9110 §5.3: several fields of one name combine into one comma-separated value.
    let values: Vec<&str> = response
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(&header.name))
        .map(|(_, v)| v.as_str())
        .collect();
    let value = (!values.is_empty()).then(|| Value::String(values.join(", ")));
    run_ops(&header.operators(), value.as_ref(), context)
}

/// What is wrong with a body that did not parse: not JSON at all, or JSON nested deeper than
/// the parser reads (serde_json stops at 128 levels, so that a hostile answer cannot exhaust
/// the stack). Said after "the response body".
pub fn json_problem(e: &serde_json::Error) -> &'static str {
    if e.to_string().starts_with("recursion limit exceeded") {
        "is nested deeper than 128 levels, more than smartcheck reads (it may be valid JSON)"
    } else {
        "is not JSON"
    }
}

fn json_check(json: &JsonCheck, response: &RecordedResponse, context: &Value) -> Evaluation {
    let body: Value = match serde_json::from_str(&response.body) {
        Ok(v) => v,
        // A body that is not JSON holds no member at all: a check that asks for the member's
        // absence (a refusal answered with a plain-text error issues no `client_id`) holds.
        Err(_) if json.or_absent || json.operators().iter().all(|o| matches!(o, Op::Absent)) => {
            return Evaluation::Matched
        }
        Err(e) => {
            let content_type = response.header("content-type").unwrap_or("none");
            return Evaluation::Error(format!(
                "the response body {} (Content-Type: {content_type}; {e}); it starts with {}",
                json_problem(&e),
                preview(&response.body)
            ));
        }
    };
    let value = match select(&json.path, &body) {
        Ok(v) => v,
        Err(e) => return Evaluation::Error(e),
    };
    if value.is_none() && json.or_absent {
        return Evaluation::Matched;
    }
    if value.is_none() && json.if_present {
        return Evaluation::Skip(format!(
            "`{}` is not in the response (an optional field)",
            json.path
        ));
    }
    let ops = json.operators();
    // A path with wildcards or filters selects a list. Operators on one value (absolute-url,
    // equals...) need exactly one node there; list operators (contains...) take the list.
    if !is_singular(&json.path) && ops.iter().any(is_single_value_op) {
        if let Some(Value::Array(nodes)) = &value {
            if nodes.len() != 1 {
                return Evaluation::Mismatched(Mismatch {
                    expected: format!("exactly one value at `{}`", json.path),
                    actual: format!(
                        "{} values: {}",
                        nodes.len(),
                        show(&Value::Array(nodes.clone()))
                    ),
                });
            }
            return run_ops(&ops, nodes.first(), context);
        }
    }
    run_ops(&ops, value.as_ref(), context)
}

fn body_check(body: &BodyCheck, response: &RecordedResponse) -> Evaluation {
    let parsed = serde_json::from_str::<Value>(&response.body);
    let mismatch = |expected: &str| {
        Evaluation::Mismatched(Mismatch {
            expected: expected.to_string(),
            actual: match &parsed {
                Ok(v) => format!("JSON {}", JsonType::of(v)),
                Err(e) => format!("not JSON ({e}): {}", preview(&response.body)),
            },
        })
    };
    if body.is_json == Some(true) {
        return if parsed.is_ok() {
            Evaluation::Matched
        } else {
            mismatch("a JSON body")
        };
    }
    if body.is_json_object == Some(true) {
        return match &parsed {
            Ok(Value::Object(_)) => Evaluation::Matched,
            _ => mismatch("a JSON object body"),
        };
    }
    if let Some(text) = &body.contains {
        return if response.body.contains(text.as_str()) {
            Evaluation::Matched
        } else {
            Evaluation::Mismatched(Mismatch {
                expected: format!("a body containing {}", Value::String(text.clone())),
                actual: preview(&response.body),
            })
        };
    }
    if let Some(pattern) = &body.matches {
        return match regex::Regex::new(pattern) {
            Ok(re) if re.is_match(&response.body) => Evaluation::Matched,
            Ok(_) => Evaluation::Mismatched(Mismatch {
                expected: format!("a body matching /{pattern}/"),
                actual: preview(&response.body),
            }),
            Err(e) => Evaluation::Error(format!("bad regular expression: {e}")),
        };
    }
    Evaluation::Error("the body check names nothing to check".to_string())
}

/// Selects the value at a JSONPath: nothing → `None`; a singular path → the node; a path
/// with wildcards, filters, slices, unions or descendants → the array of the nodes.
pub fn select(path: &str, document: &Value) -> Result<Option<Value>, String> {
    let parsed = serde_json_path::JsonPath::parse(path)
        .map_err(|e| format!("`{path}` is not a JSONPath: {e}"))?;
    let nodes = parsed.query(document).all();
    if nodes.is_empty() {
        return Ok(None);
    }
    if is_singular(path) && nodes.len() == 1 {
        return Ok(Some(nodes[0].clone()));
    }
    Ok(Some(Value::Array(nodes.into_iter().cloned().collect())))
}

fn is_single_value_op(op: &Op) -> bool {
    !matches!(
        op,
        Op::Present
            | Op::Absent
            | Op::Contains(_)
            | Op::ContainsAny(_)
            | Op::Excludes(_)
            | Op::ItemsType(_)
            | Op::NotEmpty
    )
}

/// RFC 9535 §2.3.5.1: a singular query has only name and index segments.
fn is_singular(path: &str) -> bool {
    let mut quote: Option<char> = None;
    let mut prev = ' ';
    for c in path.chars() {
        match quote {
            Some(q) if c == q && prev != '\\' => quote = None,
            Some(_) => {}
            None => match c {
                '\'' | '"' => quote = Some(c),
                '*' | '?' | ':' | ',' => return false,
                '.' if prev == '.' => return false,
                _ => {}
            },
        }
        prev = c;
    }
    true
}

/// Why an operator could not be applied.
enum Problem {
    /// A template in the operator's argument has no value.
    Missing(Missing),
    Error(String),
}

fn render(value: &Value, context: &Value) -> Result<Value, Problem> {
    match value {
        Value::String(s) if s.contains("{{") => Template::parse(s)
            .map_err(|e| Problem::Error(e.message))?
            .render_value(context)
            .map_err(Problem::Missing),
        other => Ok(other.clone()),
    }
}

fn render_text(text: &str, context: &Value) -> Result<String, Problem> {
    render(&Value::String(text.to_string()), context).map(|v| stringify(&v))
}

/// A short, single-line view of a value for `actual:` lines.
pub fn show(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 300 {
        format!("{}…", text.chars().take(300).collect::<String>())
    } else {
        text
    }
}

fn preview(body: &str) -> String {
    let flat: String = body
        .chars()
        .take(120)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if body.is_empty() {
        "an empty body".to_string()
    } else if body.chars().count() > 120 {
        format!("{flat:?}…")
    } else {
        format!("{flat:?}")
    }
}

fn scopes(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::String(s) => Some(s.split_whitespace().map(str::to_string).collect()),
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => None,
    }
}

fn miss(
    expected: impl Into<String>,
    actual: Option<&Value>,
) -> Result<Result<(), Mismatch>, Problem> {
    Ok(Err(Mismatch {
        expected: expected.into(),
        actual: actual.map(show).unwrap_or_else(|| "absent".to_string()),
    }))
}

fn apply(op: &Op, value: Option<&Value>, context: &Value) -> Outcome {
    let ok = Ok(Ok(()));
    if let Op::Absent = op {
        return if value.is_none() {
            ok
        } else {
            miss("absent", value)
        };
    }
    if let Op::Excludes(needle) = op {
        let needle = render(needle, context)?;
        return match value {
            None => ok,
            Some(Value::Array(items)) if !items.contains(&needle) => ok,
            Some(Value::String(s)) if needle.is_string() && !s.contains(&stringify(&needle)) => ok,
            Some(v @ (Value::Array(_) | Value::String(_))) => {
                miss(format!("no {}", show(&needle)), Some(v))
            }
            Some(v) => miss("an array or a string", Some(v)),
        };
    }
    let Some(v) = value else {
        if let Op::Present = op {
            return miss("present", None);
        }
        // What the operator wants of any value (`"access_denied"`, `one of [...]`), with
        // "absent" as what was found: the operator is applied to a null to word it.
        // An absent value fails even where the value to compare with is not available.
        return match apply(op, Some(&Value::Null), context) {
            Ok(Err(mismatch)) => miss(mismatch.expected, None),
            Ok(Ok(())) | Err(Problem::Missing(_)) => {
                miss(format!("a value for `{}`", op.name()), None)
            }
            Err(problem) => Err(problem),
        };
    };
    match op {
        Op::Present | Op::Absent | Op::Excludes(_) => ok,
        Op::Type(_) | Op::Equals(_) | Op::OneOf(_) => equality(op, v, context),
        Op::Contains(_) | Op::ContainsAny(_) | Op::StartsWith(_) | Op::Matches(_) => {
            membership(op, v, context)
        }
        Op::AtMost(_) | Op::AtLeast(_) | Op::InTheFuture | Op::SecondsFromNow(..) => numeric(op, v),
        Op::SubsetOf(_) | Op::EqualsAsSet(_) => scope_sets(op, v, context),
        Op::AbsoluteUrl | Op::ItemsType(_) | Op::NotEmpty | Op::JwkSet => shape(op, v),
    }
}

/// What applying an operator gives: a pass, a mismatch, or why it could not be applied.
type Outcome = Result<Result<(), Mismatch>, Problem>;

/// `type`, `equals`, `one-of`: the value itself.
fn equality(op: &Op, v: &Value, context: &Value) -> Outcome {
    let ok = Ok(Ok(()));
    match op {
        Op::Type(t) => {
            if t.matches(v) {
                ok
            } else {
                miss(format!("a value of type {}", t.as_str()), Some(v))
            }
        }
        Op::Equals(expected) => {
            let expected = render(expected, context)?;
            if *v == expected {
                ok
            } else {
                miss(show(&expected), Some(v))
            }
        }
        Op::OneOf(options) => {
            let options = options
                .iter()
                .map(|o| render(o, context))
                .collect::<Result<Vec<_>, _>>()?;
            if options.contains(v) {
                ok
            } else {
                miss(format!("one of {}", show(&Value::Array(options))), Some(v))
            }
        }
        _ => unreachable!("equality is applied to its own operators only"),
    }
}

/// `contains`, `contains-any`, `starts-with`, `matches`: what an array or a string holds.
fn membership(op: &Op, v: &Value, context: &Value) -> Outcome {
    let ok = Ok(Ok(()));
    match op {
        Op::Contains(needle) => {
            let needle = render(needle, context)?;
            match v {
                Value::Array(items) if items.contains(&needle) => ok,
                Value::String(s) if needle.is_string() && s.contains(&stringify(&needle)) => ok,
                Value::Array(_) => miss(format!("an array containing {}", show(&needle)), Some(v)),
                Value::String(_) => miss(format!("a string containing {}", show(&needle)), Some(v)),
                _ => miss(
                    format!("an array or a string containing {}", show(&needle)),
                    Some(v),
                ),
            }
        }
        Op::ContainsAny(needles) => {
            let needles = needles
                .iter()
                .map(|o| render(o, context))
                .collect::<Result<Vec<_>, _>>()?;
            let found = match v {
                Value::Array(items) => needles.iter().any(|n| items.contains(n)),
                Value::String(s) => needles
                    .iter()
                    .any(|n| n.is_string() && s.contains(&stringify(n))),
                _ => false,
            };
            if found {
                ok
            } else {
                miss(
                    format!(
                        "an array containing at least one of {}",
                        show(&Value::Array(needles))
                    ),
                    Some(v),
                )
            }
        }
        Op::StartsWith(prefix) => {
            let prefix = render_text(prefix, context)?;
            match v {
                Value::String(s) if s.starts_with(&prefix) => ok,
                _ => miss(
                    format!("a string starting with {}", show(&Value::String(prefix))),
                    Some(v),
                ),
            }
        }
        Op::Matches(pattern) => {
            let re = regex::Regex::new(pattern)
                .map_err(|e| Problem::Error(format!("bad regular expression: {e}")))?;
            match v {
                Value::String(s) if re.is_match(s) => ok,
                _ => miss(format!("a string matching /{pattern}/"), Some(v)),
            }
        }
        _ => unreachable!("membership is applied to its own operators only"),
    }
}

/// `at-most`, `at-least`, `in-the-future`, `seconds-from-now`: numbers and times.
fn numeric(op: &Op, v: &Value) -> Outcome {
    let ok = Ok(Ok(()));
    match op {
        Op::AtMost(limit) => match v.as_f64() {
            Some(n) if n <= *limit => ok,
            _ => miss(format!("a number no greater than {limit}"), Some(v)),
        },
        Op::AtLeast(limit) => match v.as_f64() {
            Some(n) if n >= *limit => ok,
            _ => miss(format!("a number no smaller than {limit}"), Some(v)),
        },
        Op::InTheFuture => {
            let now = chrono::Utc::now().timestamp() as f64;
            match v.as_f64() {
                Some(n) if n > now => ok,
                _ => miss(
                    format!("a NumericDate in the future (now is {now})"),
                    Some(v),
                ),
            }
        }
        Op::SecondsFromNow(least, most) => {
            let now = chrono::Utc::now().timestamp() as f64;
            let expected = format!(
            "a time {least} to {most} seconds from now (a NumericDate or an HTTP date; now is {now})"
        );
            match time_value(v) {
                Some(t) if (least..=most).contains(&&(t - now)) => ok,
                Some(t) => miss(
                    format!("{expected}; it is {} seconds from now", t - now),
                    Some(v),
                ),
                None => miss(expected, Some(v)),
            }
        }
        _ => unreachable!("numeric is applied to its own operators only"),
    }
}

/// `subset-of`, `equals-as-set`: space-separated scope strings compared as sets.
fn scope_sets(op: &Op, v: &Value, context: &Value) -> Outcome {
    let ok = Ok(Ok(()));
    match op {
        Op::SubsetOf(allowed) | Op::EqualsAsSet(allowed) => {
            let allowed_value = render(&Value::String(allowed.clone()), context)?;
            let Some(allowed_set) = scopes(&allowed_value) else {
                return Err(Problem::Error(format!(
                    "{} is not a scope string",
                    show(&allowed_value)
                )));
            };
            let Some(actual_set) = scopes(v) else {
                return miss("a space-separated scope string", Some(v));
            };
            let subset = actual_set.iter().all(|s| allowed_set.contains(s));
            if let Op::SubsetOf(_) = op {
                if subset {
                    return ok;
                }
                let extra: Vec<&String> = actual_set
                    .iter()
                    .filter(|s| !allowed_set.contains(s))
                    .collect();
                let extra: Vec<&str> = extra.iter().map(|s| s.as_str()).collect();
                return miss(
                    format!(
                        "scopes within {:?} (not within: {})",
                        allowed_set.join(" "),
                        extra.join(" ")
                    ),
                    Some(v),
                );
            }
            let superset = allowed_set.iter().all(|s| actual_set.contains(s));
            if subset && superset {
                ok
            } else {
                miss(
                    format!(
                        "the same scopes as {:?}, in any order",
                        allowed_set.join(" ")
                    ),
                    Some(v),
                )
            }
        }
        _ => unreachable!("scope_sets is applied to its own operators only"),
    }
}

/// `absolute-url`, `items-type`, `not-empty`, `jwk-set`: the form of a value.
fn shape(op: &Op, v: &Value) -> Outcome {
    let ok = Ok(Ok(()));
    match op {
        Op::AbsoluteUrl => match v {
            Value::String(s) if is_absolute_url(s) => ok,
            _ => miss("an absolute URL (scheme and host)", Some(v)),
        },
        Op::ItemsType(t) => match v {
            Value::Array(items) => match items.iter().find(|i| !t.matches(i)) {
                None => ok,
                Some(_) => miss(format!("an array of {}s", t.as_str()), Some(v)),
            },
            _ => miss(format!("an array of {}s", t.as_str()), Some(v)),
        },
        Op::NotEmpty => {
            let empty = match v {
                Value::String(s) => s.is_empty(),
                Value::Array(a) => a.is_empty(),
                Value::Object(o) => o.is_empty(),
                Value::Null => true,
                _ => false,
            };
            if empty {
                miss("a non-empty value", Some(v))
            } else {
                ok
            }
        }
        Op::JwkSet => match jwk_set_problem(v) {
            None => ok,
            Some(problem) => Ok(Err(Mismatch {
                expected: "a JWK set whose every key parses (RFC 7517 §5)".to_string(),
                actual: problem,
            })),
        },
        _ => unreachable!("shape is applied to its own operators only"),
    }
}

/// An absolute URL: a scheme, a host, no spaces (RFC 3986 §4.3).
/// A time as a NumericDate (RFC 7519 §2) or an HTTP date (RFC 9110 §5.6.7, IMF-fixdate), in
/// seconds since 1970.
fn time_value(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => chrono::DateTime::parse_from_rfc2822(s)
            .ok()
            .map(|t| t.timestamp() as f64),
        _ => None,
    }
}

pub fn is_absolute_url(s: &str) -> bool {
    !s.contains(char::is_whitespace)
        && url::Url::parse(s).is_ok_and(|u| u.has_host() && !u.cannot_be_a_base())
}

/// What is wrong with a JWK set, if anything.
fn jwk_set_problem(value: &Value) -> Option<String> {
    let Some(keys) = value.get("keys").and_then(Value::as_array) else {
        return Some(format!("no `keys` array in {}", show(value)));
    };
    if keys.is_empty() {
        return Some("`keys` is empty".to_string());
    }
    for (i, key) in keys.iter().enumerate() {
        let kid = key.get("kid").and_then(Value::as_str).unwrap_or("(no kid)");
        let jwk: jsonwebtoken::jwk::Jwk = match serde_json::from_value(key.clone()) {
            Ok(jwk) => jwk,
            Err(e) => return Some(format!("key {i} ({kid}) does not parse: {e}")),
        };
        if let Err(e) = jsonwebtoken::DecodingKey::from_jwk(&jwk) {
            return Some(format!("key {i} ({kid}) is not a usable public key: {e}"));
        }
        // jsonwebtoken takes the numbers as they are; a verifier refuses what follows.
        if let Some(problem) = key_numbers_problem(key) {
            return Some(format!(
                "key {i} ({kid}) is not a usable public key: {problem}"
            ));
        }
    }
    None
}

/// What a verifier would refuse in a key's numbers: an RSA modulus with leading zero octets
/// (RFC 7518 §6.3.1.1: "MUST utilize the minimum number of octets"), shorter than 2048 bits
/// (§3.3: "A key of size 2048 bits or larger MUST be used") or longer than 16384, even; an
/// exponent that is not odd and at least 3; EC coordinates not of the curve's length
/// (§6.2.1.2: "the full coordinate size").
fn key_numbers_problem(key: &Value) -> Option<String> {
    use base64::Engine;
    let number = |name: &str| -> Option<Vec<u8>> {
        let text = key.get(name)?.as_str()?;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text.trim_end_matches('='))
            .ok()
    };
    match key.get("kty").and_then(Value::as_str) {
        Some("RSA") => {
            let n = number("n").unwrap_or_default();
            let e = number("e").unwrap_or_default();
            if n.first() == Some(&0) {
                let zeros = n.iter().take_while(|b| **b == 0).count();
                return Some(format!(
                    "its modulus `n` starts with {zeros} zero octet(s) (RFC 7518 §6.3.1.1: the minimum number of octets)"
                ));
            }
            let bits = n.len() * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize);
            if bits < 2048 {
                return Some(format!(
                    "its modulus `n` has {bits} bits; RSA keys for RS256/RS384/RS512 are 2048 bits or more (RFC 7518 §3.3)"
                ));
            }
            if bits > 16384 {
                return Some(format!(
                    "its modulus `n` has {bits} bits; common verifiers take RSA keys of at most 8192 or 16384 bits"
                ));
            }
            if n.last().is_some_and(|b| b % 2 == 0) {
                return Some("its modulus `n` is even, so it is no product of two primes".into());
            }
            let e_small = e.iter().skip_while(|b| **b == 0).count() <= 1
                && e.last().copied().unwrap_or(0) < 3;
            if e.last().is_none_or(|b| b % 2 == 0) || e_small {
                return Some("its exponent `e` is not an odd number of at least 3".into());
            }
            None
        }
        Some("EC") => {
            let size = match key.get("crv").and_then(Value::as_str) {
                Some("P-256") => 32,
                Some("P-384") => 48,
                Some("P-521") => 66,
                _ => return None,
            };
            for name in ["x", "y"] {
                let len = number(name).map_or(0, |c| c.len());
                if len != size {
                    return Some(format!(
                        "its `{name}` coordinate has {len} octets; on this curve it has {size} (RFC 7518 §6.2.1.2)"
                    ));
                }
            }
            None
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod when_tests;
