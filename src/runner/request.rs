//! Renders a step's request templates against the case context.

use serde_json::Value;

use crate::http::OutgoingRequest;
use crate::suite::model::HttpRequest;
use crate::suite::template::{Missing, Template};

/// Why a request could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A template needs a value the context does not hold: the step is skipped.
    #[error(transparent)]
    Missing(#[from] Missing),
    /// The rendered request is unusable: the step errors.
    #[error("{0}")]
    Invalid(String),
}

fn text(template: &str, context: &Value) -> Result<String, RenderError> {
    Template::parse(template)
        .map_err(|e| RenderError::Invalid(e.message))?
        .render_string(context)
        .map_err(RenderError::Missing)
}

/// Renders the templates in the string values of a JSON value.
pub fn json(value: &Value, context: &Value) -> Result<Value, RenderError> {
    Ok(match value {
        Value::String(s) if s.contains("{{") => Template::parse(s)
            .map_err(|e| RenderError::Invalid(e.message))?
            .render_value(context)?,
        Value::Array(items) => items
            .iter()
            .map(|v| json(v, context))
            .collect::<Result<_, _>>()?,
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| json(v, context).map(|v| (k.clone(), v)))
            .collect::<Result<_, _>>()?,
        other => other.clone(),
    })
}

/// Builds the outgoing request of a step.
pub fn render(request: &HttpRequest, context: &Value) -> Result<OutgoingRequest, RenderError> {
    let url_text = text(&request.url, context)?;
    let mut url = url::Url::parse(&url_text).map_err(|e| {
        RenderError::Invalid(format!(
            "the request URL `{url_text}` is not an absolute URL: {e}"
        ))
    })?;
    if !request.query.is_empty() {
        let mut pairs = url.query_pairs_mut();
        for (name, value) in &request.query {
            pairs.append_pair(name, &text(value, context)?);
        }
    }
    let mut headers = Vec::new();
    for (name, value) in &request.headers {
        headers.push((name.clone(), text(value, context)?));
    }
    let has = |headers: &[(String, String)], name: &str| {
        headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    let mut body = None;
    if let Some(form) = &request.form {
        let mut encoder = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in form {
            encoder.append_pair(name, &text(value, context)?);
        }
        body = Some(encoder.finish());
        if !has(&headers, "content-type") {
            headers.push((
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            ));
        }
    }
    if let Some(value) = &request.json {
        body = Some(json(value, context)?.to_string());
        if !has(&headers, "content-type") {
            headers.push(("Content-Type".into(), "application/json".into()));
        }
    }
    if let Some(raw) = &request.body {
        body = Some(text(raw, context)?);
    }
    Ok(OutgoingRequest {
        method: request.method.as_str().to_string(),
        url: url.to_string(),
        headers,
        body,
    })
}
