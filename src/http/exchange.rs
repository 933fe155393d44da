//! One recorded HTTP exchange: what was sent, what came back, how long it took.

use serde::{Deserialize, Serialize};

use crate::redact::Redactor;

/// Largest body text kept in a report, per message.
const REPORT_BODY_LIMIT: usize = 64 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordedRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordedResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The body as text (lossy UTF-8).
    pub body: String,
    /// The body's size in bytes as received.
    pub body_bytes: usize,
}

/// A request, its response (or why there was none), and its timing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Exchange {
    pub request: RecordedRequest,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<RecordedResponse>,
    /// Why no response came (connection refused, timeout, body too large).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// RFC 3339 time the request started.
    pub started_at: String,
    pub duration_ms: u64,
    /// Set when an idempotent request was sent a second time, on a new connection, because
    /// the first connection closed before any byte of an answer came back: the first error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retried_after: Option<String>,
    /// Set when the target's headers were left out because the request's origin may not
    /// receive the target's credentials: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub withheld: Option<String>,
}

impl Exchange {
    /// Cuts a large body (request or response) to what the reports show, once the step that
    /// read it is done: a run does not hold megabytes an answer brought until the reports
    /// are written. Named credential fields are masked now; every secret the run learns is
    /// still masked when the reports are written.
    pub fn shape_for_report(&mut self) {
        let content_type = self.request.header("content-type").map(str::to_string);
        if let Some(body) = self.request.body.as_mut().filter(|b| b.len() > SHAPE_ABOVE) {
            *body = shaped(content_type.as_deref(), body);
        }
        if let Some(response) = &mut self.response {
            if response.body.len() > SHAPE_ABOVE {
                let content_type = response.header("content-type").map(str::to_string);
                response.body = shaped(content_type.as_deref(), &response.body);
            }
        }
    }

    /// Drops the headers and bodies (what a light case in a run's memory does without); the
    /// request line, status, sizes, timing and errors stay.
    pub fn lighten(&mut self) {
        self.request.headers = Vec::new();
        self.request.body = None;
        if let Some(response) = &mut self.response {
            response.headers = Vec::new();
            response.body = String::new();
        }
    }
}

impl RecordedResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn is_form(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|c| {
        c.to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    })
}

fn redact_body(redactor: &Redactor, content_type: Option<&str>, body: &str) -> String {
    let text = if is_form(content_type) {
        redactor.redact_form_text(body)
    } else if body.trim_start().starts_with(['{', '[']) {
        redactor.redact_json_text(body)
    } else {
        redactor.redact(body)
    };
    truncate(text)
}

/// A body this large is cut to what the reports show once its step is done with it.
const SHAPE_ABOVE: usize = 2 * REPORT_BODY_LIMIT;

/// The end of a body cut for the reports.
const CUT_MARK_END: &str = " more bytes not shown]";

/// `body` as the reports will show it, but for the secrets the run knows: named credential
/// fields masked, a JSON document pretty-printed, cut to [`REPORT_BODY_LIMIT`].
fn shaped(content_type: Option<&str>, body: &str) -> String {
    let text = if is_form(content_type) {
        crate::redact::mask_named_form_fields(body)
    } else if body.trim_start().starts_with(['{', '[']) {
        crate::redact::mask_named_json_fields(body).unwrap_or_else(|| body.to_string())
    } else {
        body.to_string()
    };
    truncate(text)
}

fn truncate(mut text: String) -> String {
    // Cut already (a large body shaped when its step was done): as it is.
    if let Some(mark) = text.rfind("\n[... ") {
        if mark <= REPORT_BODY_LIMIT && text.ends_with(CUT_MARK_END) {
            return text;
        }
    }
    if text.len() > REPORT_BODY_LIMIT {
        let mut cut = REPORT_BODY_LIMIT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let total = text.len();
        text.truncate(cut);
        text.push_str(&format!("\n[... {}{CUT_MARK_END}", total - cut));
    }
    text
}

impl Exchange {
    /// Learns the credentials this exchange carries, so that they are masked everywhere.
    pub fn learn_secrets(&self, redactor: &Redactor) {
        if let Some(auth) = self.request.header("authorization") {
            redactor.learn_from_authorization(auth);
        }
        redactor.learn_from_url(&self.request.url);
        for (name, value) in &self.request.headers {
            if name.eq_ignore_ascii_case("cookie") {
                redactor.learn_from_cookie_header(name, value);
            }
        }
        if let Some(body) = &self.request.body {
            if is_form(self.request.header("content-type")) {
                redactor.learn_from_form(body);
            } else if let Ok(value) = serde_json::from_str(body) {
                redactor.learn_from_json(&value);
            }
        }
        if let Some(response) = &self.response {
            match serde_json::from_str(&response.body) {
                Ok(value) => redactor.learn_from_json(&value),
                // A page or form body: a link or a refresh can carry a code or a token.
                Err(_) => redactor.learn_from_text(&response.body),
            }
            for (name, value) in &response.headers {
                if name.eq_ignore_ascii_case("set-cookie") {
                    redactor.learn_from_cookie_header(name, value);
                } else if name.eq_ignore_ascii_case("location") {
                    redactor.learn_from_url(value);
                }
            }
        }
    }

    /// A copy fit for a report: credentials masked, long bodies cut.
    pub fn redacted(&self, redactor: &Redactor) -> Exchange {
        let headers = |hs: &[(String, String)]| -> Vec<(String, String)> {
            hs.iter()
                .map(|(n, v)| (n.clone(), redactor.redact_header(n, v)))
                .collect()
        };
        Exchange {
            request: RecordedRequest {
                method: self.request.method.clone(),
                url: redactor.redact_url(&self.request.url),
                headers: headers(&self.request.headers),
                body: self
                    .request
                    .body
                    .as_deref()
                    .map(|b| redact_body(redactor, self.request.header("content-type"), b)),
            },
            response: self.response.as_ref().map(|r| RecordedResponse {
                status: r.status,
                headers: r
                    .headers
                    .iter()
                    .map(|(n, v)| {
                        let v = if n.eq_ignore_ascii_case("location") {
                            redactor.redact_url(v)
                        } else {
                            redactor.redact_header(n, v)
                        };
                        (n.clone(), v)
                    })
                    .collect(),
                body: redact_body(redactor, r.header("content-type"), &r.body),
                body_bytes: r.body_bytes,
            }),
            error: self.error.as_deref().map(|e| redactor.redact(e)),
            started_at: self.started_at.clone(),
            duration_ms: self.duration_ms,
            retried_after: self.retried_after.as_deref().map(|e| redactor.redact(e)),
            withheld: self.withheld.clone(),
        }
    }

    /// The exchange as HTTP-like text, for JUnit `<system-out>` and the console.
    /// Call it on a [`Exchange::redacted`] copy.
    pub fn to_text(&self) -> String {
        let mut out = format!("> {} {}\n", self.request.method, self.request.url);
        if let Some(first) = &self.retried_after {
            out.push_str(&format!(
                "! sent again on a new connection after the first closed without an answer: {first}\n"
            ));
        }
        if let Some(why) = &self.withheld {
            out.push_str(&format!("! {why}\n"));
        }
        for (n, v) in &self.request.headers {
            out.push_str(&format!("> {n}: {v}\n"));
        }
        if let Some(body) = &self.request.body {
            out.push_str(">\n");
            for line in body.lines() {
                out.push_str(&format!("> {line}\n"));
            }
        }
        match (&self.response, &self.error) {
            (Some(r), _) => {
                out.push_str(&format!("< {} ({} ms)\n", r.status, self.duration_ms));
                for (n, v) in &r.headers {
                    out.push_str(&format!("< {n}: {v}\n"));
                }
                if !r.body.is_empty() {
                    out.push_str("<\n");
                    for line in r.body.lines() {
                        out.push_str(&format!("< {line}\n"));
                    }
                }
            }
            (None, Some(e)) => out.push_str(&format!(
                "! no response after {} ms: {e}\n",
                self.duration_ms
            )),
            (None, None) => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A large answer cut when its step is done reads in the reports as one cut at the time
    /// of writing would: named credentials masked, the document pretty-printed, one mark.
    #[test]
    fn a_large_body_is_cut_when_its_step_is_done_and_reported_alike() {
        let filler = "v".repeat(SHAPE_ABOVE);
        let body = format!(r#"{{"access_token": "abc", "filler": "{filler}"}}"#);
        let mut exchange = Exchange {
            request: RecordedRequest {
                method: "GET".into(),
                url: "http://127.0.0.1:9/x".into(),
                headers: Vec::new(),
                body: None,
            },
            response: Some(RecordedResponse {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body_bytes: body.len(),
                body: body.clone(),
            }),
            error: None,
            started_at: String::new(),
            duration_ms: 0,
            retried_after: None,
            withheld: None,
        };
        let redactor = Redactor::new();
        let whole = exchange.redacted(&redactor).response.unwrap().body;
        exchange.shape_for_report();
        let kept = exchange.response.as_ref().unwrap().body.clone();
        assert!(kept.len() < REPORT_BODY_LIMIT + 100, "{}", kept.len());
        assert!(
            !kept.contains("\"abc\""),
            "a named credential is masked at once"
        );
        let reported = exchange.redacted(&redactor).response.unwrap().body;
        assert_eq!(reported, whole);
        assert_eq!(reported.matches("more bytes not shown]").count(), 1);
        // A small body is kept whole.
        let mut small = exchange.clone();
        small.response.as_mut().unwrap().body = "{\"a\": 1}".into();
        small.shape_for_report();
        assert_eq!(small.response.unwrap().body, "{\"a\": 1}");
    }
}
