//! `{{ path | filter }}` templates over the case context, and `${NAME}` environment references.

use serde_json::Value;

/// The roots a template path may start with.
pub const ROOTS: &[&str] = &["target", "steps", "vars", "secrets", "newest"];

/// Filters a template expression may apply, in order.
pub const FILTERS: &[&str] = &[
    "no-trailing-slash",
    "urlencode",
    "json",
    "other-host",
    "other-scheme",
    "origin",
    "standalone-scopes",
    "first-not-code",
];

/// A parsed template: text with `{{ ... }}` expressions.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Expr(Expr),
}

/// One `{{ path | filter }}` expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// The dotted path, split (`steps`, `config`, `json`, `issuer`).
    pub path: Vec<String>,
    pub filters: Vec<String>,
    /// Byte offset of the expression in the template text.
    pub offset: usize,
    /// The expression as written, for messages.
    pub source: String,
}

/// A template that does not parse: what and at which byte offset.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    pub offset: usize,
    pub message: String,
}

/// Rendering needs a value the context does not hold (a skipped step, an absent field).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("`{{{{ {expr} }}}}` has no value: {why}")]
pub struct Missing {
    pub expr: String,
    pub why: String,
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut pieces = Vec::new();
        let mut rest = text;
        let mut base = 0;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                pieces.push(Piece::Text(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else {
                return Err(TemplateError {
                    offset: base + start,
                    message: "`{{` is not closed by `}}`".to_string(),
                });
            };
            let inner = &after[..end];
            pieces.push(Piece::Expr(parse_expr(inner, base + start)?));
            let consumed = start + 2 + end + 2;
            rest = &rest[consumed..];
            base += consumed;
        }
        if let Some(stray) = rest.find("}}") {
            return Err(TemplateError {
                offset: base + stray,
                message: "`}}` without an opening `{{`".to_string(),
            });
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_string()));
        }
        Ok(Template { pieces })
    }

    /// The expressions of the template.
    pub fn exprs(&self) -> impl Iterator<Item = &Expr> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Expr(e) => Some(e),
            Piece::Text(_) => None,
        })
    }

    /// Renders to a JSON value: a template that is one expression and nothing else yields
    /// the value itself (an array stays an array); anything else yields a string.
    pub fn render_value(&self, context: &Value) -> Result<Value, Missing> {
        if let [Piece::Expr(expr)] = self.pieces.as_slice() {
            return expr.evaluate(context);
        }
        self.render_string(context).map(Value::String)
    }

    pub fn render_string(&self, context: &Value) -> Result<String, Missing> {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Expr(expr) => out.push_str(&stringify(&expr.evaluate(context)?)),
            }
        }
        Ok(out)
    }
}

/// The text of a JSON value as it goes into a string: strings bare, the rest as JSON.
pub fn stringify(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn parse_expr(inner: &str, offset: usize) -> Result<Expr, TemplateError> {
    let mut parts = inner.split('|').map(str::trim);
    let path_text = parts.next().unwrap_or_default();
    if path_text.is_empty() {
        return Err(TemplateError {
            offset,
            message: "empty `{{ }}` expression".to_string(),
        });
    }
    let path: Vec<String> = path_text.split('.').map(str::to_string).collect();
    if path
        .iter()
        .any(|s| s.is_empty() || s.contains(char::is_whitespace))
    {
        return Err(TemplateError {
            offset,
            message: format!("`{path_text}` is not a dotted path like `steps.config.json.issuer`"),
        });
    }
    if !ROOTS.contains(&path[0].as_str()) {
        let mut message = format!(
            "`{}` is not a context root; expected one of: {}",
            path[0],
            ROOTS.join(", ")
        );
        if let Some(hint) = super::error::did_you_mean(&path[0], ROOTS.iter().copied()) {
            message.push_str(&format!(" ({hint})"));
        }
        return Err(TemplateError { offset, message });
    }
    let filters: Vec<String> = parts.map(str::to_string).collect();
    for filter in &filters {
        if !FILTERS.contains(&filter.as_str()) {
            return Err(TemplateError {
                offset,
                message: format!(
                    "unknown filter `{filter}`; expected one of: {}",
                    FILTERS.join(", ")
                ),
            });
        }
    }
    Ok(Expr {
        path,
        filters,
        offset,
        source: inner.trim().to_string(),
    })
}

impl Expr {
    pub fn evaluate(&self, context: &Value) -> Result<Value, Missing> {
        let mut current = context;
        for (depth, segment) in self.path.iter().enumerate() {
            let next = match current {
                Value::Object(map) => map.get(segment),
                Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => None,
            };
            current = match next {
                Some(v) => v,
                None => {
                    let at = self.path[..=depth].join(".");
                    let why = if depth <= 1 && self.path[0] == "steps" {
                        format!("step `{segment}` has no result (it did not run or did not answer)")
                    } else {
                        format!("`{at}` is not present")
                    };
                    return Err(Missing {
                        expr: self.source.clone(),
                        why,
                    });
                }
            };
        }
        let mut value = current.clone();
        for filter in &self.filters {
            value = apply_filter(filter, value);
        }
        Ok(value)
    }
}

fn apply_filter(filter: &str, value: Value) -> Value {
    match filter {
        "no-trailing-slash" => Value::String(stringify(&value).trim_end_matches('/').to_string()),
        "urlencode" => Value::String(
            url::form_urlencoded::byte_serialize(stringify(&value).as_bytes()).collect(),
        ),
        "json" => Value::String(value.to_string()),
        // The same URL on a host nobody owns (`.invalid`, RFC 6761), or with the other of
        // http and https: an `aud` that has the right path but is not the FHIR base.
        "other-host" => Value::String(with_url(&value, |u| {
            let _ = u.set_host(Some("counterfeit.smartcheck.invalid"));
        })),
        "other-scheme" => Value::String(with_url(&value, |u| {
            let other = if u.scheme() == "https" {
                "http"
            } else {
                "https"
            };
            let _ = u.set_scheme(other);
        })),
        // The scopes of a list (or space-separated string) that an app may ask for in a
        // standalone launch, space-separated: all but `system/` scopes (backend services) and
        // the bare `launch` scope (an EHR launch's).
        "standalone-scopes" => {
            let all: Vec<String> = match &value {
                Value::Array(items) => items.iter().map(stringify).collect(),
                other => stringify(other)
                    .split_ascii_whitespace()
                    .map(str::to_string)
                    .collect(),
            };
            let kept: Vec<String> = all
                .into_iter()
                .filter(|s| s != "launch" && !s.starts_with("system/"))
                .collect();
            Value::String(kept.join(" "))
        }
        // The first entry of a list (or space-separated string) other than `code`, or an
        // empty string: a response type the server lists beside the authorization code.
        "first-not-code" => {
            let first = match &value {
                Value::Array(items) => items.iter().map(stringify).find(|t| t != "code"),
                other => stringify(other)
                    .split_ascii_whitespace()
                    .find(|t| *t != "code")
                    .map(str::to_string),
            };
            Value::String(first.unwrap_or_default())
        }
        // A URL's origin (RFC 6454): scheme, host and port, as a browser sends it in `Origin`.
        "origin" => match url::Url::parse(&stringify(&value)) {
            Ok(u) => Value::String(u.origin().ascii_serialization()),
            Err(_) => value,
        },
        _ => value,
    }
}

/// Applies a change to a URL value; a value that is not a URL is left as it is.
fn with_url(value: &Value, change: impl FnOnce(&mut url::Url)) -> String {
    let text = stringify(value);
    match url::Url::parse(&text) {
        Ok(mut u) => {
            change(&mut u);
            let out = u.to_string();
            // `Url` adds a slash to an empty path; keep the value's own form.
            if text.ends_with('/') {
                out
            } else {
                out.trim_end_matches('/').to_string()
            }
        }
        Err(_) => text,
    }
}

/// An `${NAME}` reference in a target file.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvRef {
    pub name: String,
    pub offset: usize,
}

/// Finds `${NAME}` references (`$${` escapes a literal `${`).
pub fn env_refs(text: &str) -> Result<Vec<EnvRef>, TemplateError> {
    let mut refs = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] == b'$' && bytes[i + 1] == b'$' {
            i += 2;
            continue;
        }
        if bytes[i] == b'$' && bytes[i + 1] == b'{' {
            let Some(end) = text[i + 2..].find('}') else {
                return Err(TemplateError {
                    offset: i,
                    message: "`${` is not closed by `}`".to_string(),
                });
            };
            let name = &text[i + 2..i + 2 + end];
            let valid = !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit());
            if !valid {
                return Err(TemplateError {
                    offset: i,
                    message: format!(
                        "`${{{name}}}` is not an environment variable name (letters, digits, `_`)"
                    ),
                });
            }
            refs.push(EnvRef {
                name: name.to_string(),
                offset: i,
            });
            i += 3 + end;
            continue;
        }
        i += 1;
    }
    Ok(refs)
}

/// Replaces `${NAME}` with the variable's value (and `$${` with `${`). Missing variables are
/// reported by the caller before this is called, with their position.
pub fn expand_env(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("$$") {
            out.push('$');
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let end = after
                .find('}')
                .ok_or_else(|| "`${` is not closed".to_string())?;
            let name = &after[..end];
            let value = lookup(name).ok_or_else(|| name.to_string())?;
            out.push_str(&value);
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_host_and_other_scheme_keep_the_path() {
        let base = Value::String("http://127.0.0.1:8080/fhir".into());
        assert_eq!(
            apply_filter("other-host", base.clone()),
            "http://counterfeit.smartcheck.invalid:8080/fhir"
        );
        assert_eq!(
            apply_filter("other-scheme", base),
            "https://127.0.0.1:8080/fhir"
        );
        assert_eq!(apply_filter("other-host", json!("not a url")), "not a url");
        assert_eq!(
            apply_filter("origin", json!("http://127.0.0.1:4567/callback?x=1")),
            "http://127.0.0.1:4567"
        );
        assert_eq!(
            apply_filter("origin", json!("https://app.example.org/cb")),
            "https://app.example.org"
        );
        assert_eq!(
            apply_filter(
                "standalone-scopes",
                json!([
                    "openid",
                    "launch",
                    "launch/patient",
                    "system/*.rs",
                    "patient/*.rs"
                ])
            ),
            "openid launch/patient patient/*.rs"
        );
        assert_eq!(
            apply_filter("first-not-code", json!(["code", "code id_token", "token"])),
            "code id_token"
        );
        assert_eq!(apply_filter("first-not-code", json!(["code"])), "");
        assert_eq!(apply_filter("first-not-code", json!([])), "");
    }
    use serde_json::json;

    fn ctx() -> Value {
        json!({"target": {"fhir-base": "http://h/fhir"}, "steps": {"c": {"json": {"caps": ["a", "b"], "iss": "http://i/"}}}})
    }

    #[test]
    fn renders_strings_and_whole_values() {
        let t = Template::parse("{{ target.fhir-base }}/metadata").unwrap();
        assert_eq!(t.render_string(&ctx()).unwrap(), "http://h/fhir/metadata");
        let t = Template::parse("{{ steps.c.json.caps }}").unwrap();
        assert_eq!(t.render_value(&ctx()).unwrap(), json!(["a", "b"]));
        let t = Template::parse("{{steps.c.json.caps.1}}").unwrap();
        assert_eq!(t.render_value(&ctx()).unwrap(), json!("b"));
        let t =
            Template::parse("{{ steps.c.json.iss | no-trailing-slash }}/.well-known/x").unwrap();
        assert_eq!(t.render_string(&ctx()).unwrap(), "http://i/.well-known/x");
        let t = Template::parse("no templates").unwrap();
        assert_eq!(t.render_value(&ctx()).unwrap(), json!("no templates"));
    }

    #[test]
    fn missing_values_say_why() {
        let t = Template::parse("{{ steps.d.json.x }}").unwrap();
        let err = t.render_value(&ctx()).unwrap_err();
        assert!(err.to_string().contains("step `d` has no result"), "{err}");
        let t = Template::parse("{{ steps.c.json.nope }}").unwrap();
        assert!(t
            .render_value(&ctx())
            .unwrap_err()
            .to_string()
            .contains("`steps.c.json.nope` is not present"));
    }

    #[test]
    fn rejects_bad_templates() {
        assert!(Template::parse("{{ target.x ")
            .unwrap_err()
            .message
            .contains("not closed"));
        let err = Template::parse("x {{ trget.x }}").unwrap_err();
        assert_eq!(err.offset, 2);
        assert!(
            err.message.contains("did you mean `target`"),
            "{}",
            err.message
        );
        assert!(Template::parse("{{ target.x | upper }}")
            .unwrap_err()
            .message
            .contains("unknown filter"));
        assert!(Template::parse("}}").is_err());
    }

    #[test]
    fn env_references_and_expansion() {
        let refs = env_refs("a ${ONE} $${LITERAL} ${TWO_2}").unwrap();
        assert_eq!(
            refs.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            ["ONE", "TWO_2"]
        );
        assert_eq!(refs[0].offset, 2);
        assert!(env_refs("${1X}").is_err());
        assert!(env_refs("${OPEN").is_err());
        let lookup = |n: &str| (n == "ONE").then(|| "1".to_string());
        assert_eq!(
            expand_env("a ${ONE} $${X} $5", &lookup).unwrap(),
            "a 1 ${X} $5"
        );
        assert_eq!(expand_env("${TWO}", &lookup).unwrap_err(), "TWO");
    }
}
