//! What the page in the browser shows: its HTTP status, title, content type and visible
//! text. It says where a flow stopped (in a screen step's failure message), and whether a
//! page the browser stopped on under a request the server must refuse is a refusal at all.

use std::sync::LazyLock;

use super::Session;

/// The longest excerpt of the visible text a message quotes.
const EXCERPT: usize = 240;

/// The page as a person would see it, read through WebDriver.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PageSummary {
    /// The HTTP status of the document's last navigation (Navigation Timing's
    /// `responseStatus`); `None` where the browser does not say (older browsers, `about:`).
    pub status: Option<u16>,
    pub title: String,
    /// `document.contentType`: `application/json` when the browser shows a JSON answer.
    pub content_type: String,
    /// The visible text (`innerText`), whitespace collapsed, at most a few thousand characters.
    pub text: String,
    /// The page's address (`chrome-error://…` for the browser's own error page).
    pub url: String,
}

/// Words by which a page says that a request was refused: the OAuth 2.0 error codes, and the
/// phrases error pages use. A page that failed for another reason ("could not load the
/// patients", "something went wrong") says none of them, and proves no refusal.
static REFUSAL: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(
        r"(?ix)
        \b(invalid_request|invalid_client|invalid_scope|invalid_grant|invalid_target
          |invalid_redirect_uri|unauthorized_client|access_denied|unsupported_response_type)\b
        | \binvalid\b
        | \bnot\s+(allowed|permitted|authori[sz]ed|registered|supported|recogni[sz]ed|valid)\b
        | \b(unauthori[sz]ed|forbidden|denied|rejected|refused|unsupported|mismatch(ed)?)\b
        | \bbad\s+request\b
        | \bdoes\s+not\s+match\b
        | \bunknown\s+(client|application|app|audience|aud|redirect|resource|scope)",
    )
    .expect("a valid pattern")
});

impl PageSummary {
    /// Reads the page now in the browser; an empty summary when WebDriver cannot say.
    pub async fn read(session: &Session) -> PageSummary {
        const SCRIPT: &str = r#"
            const nav = (performance.getEntriesByType && performance.getEntriesByType('navigation')[0]) || null;
            const status = nav && typeof nav.responseStatus === 'number' && nav.responseStatus > 0
                ? nav.responseStatus : null;
            const text = document.body ? (document.body.innerText || '') : '';
            return { status: status, title: document.title || '', url: String(location.href),
                     contentType: document.contentType || '', text: text.slice(0, 8000) };
        "#;
        let Some(value) = run_script(session, SCRIPT).await else {
            return PageSummary::default();
        };
        PageSummary {
            status: value["status"].as_u64().and_then(|s| u16::try_from(s).ok()),
            title: collapse(value["title"].as_str().unwrap_or_default()),
            content_type: value["contentType"].as_str().unwrap_or_default().into(),
            text: collapse(value["text"].as_str().unwrap_or_default()),
            url: value["url"].as_str().unwrap_or_default().into(),
        }
    }

    /// The browser's own page (a network error, a blank page): the server said nothing there,
    /// whatever its words ("127.0.0.1 refused to connect").
    fn is_the_browsers_own(&self) -> bool {
        ["chrome-error:", "about:", "data:"]
            .iter()
            .any(|scheme| self.url.starts_with(scheme))
    }

    /// Whether the page shows a refusal, and by what: an error status, or words that name one.
    pub fn refusal(&self) -> Option<String> {
        if self.is_the_browsers_own() {
            return None;
        }
        if let Some(status) = self.status.filter(|s| *s >= 400) {
            return Some(format!(
                "an error page (HTTP {status}): {}",
                self.describe()
            ));
        }
        let said = REFUSAL
            .find(&self.title)
            .or_else(|| REFUSAL.find(&self.text))?;
        Some(format!(
            "an error page (it says \u{201c}{}\u{201d}): {}",
            said.as_str(),
            self.describe()
        ))
    }

    /// One line for a message: status, title, and the start of the visible text (the JSON
    /// body when the page is one).
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(status) = self.status {
            parts.push(format!("HTTP {status}"));
        }
        if self.content_type.contains("json") {
            parts.push(format!("a JSON body {}", excerpt(&self.text)));
        } else {
            if !self.title.is_empty() {
                parts.push(format!("title \u{201c}{}\u{201d}", excerpt(&self.title)));
            }
            if self.text.is_empty() {
                parts.push("no visible text".into());
            } else {
                parts.push(format!("text \u{201c}{}\u{201d}", excerpt(&self.text)));
            }
        }
        format!("the page shows {}", parts.join(", "))
    }
}

/// One control a person could act on: what it is, the most stable selector that finds it
/// alone (an id, then a name, then a type; none when nothing short is unique), and its words
/// (a label, a placeholder, a button's text).
#[derive(Debug, Clone, PartialEq)]
pub struct Control {
    pub kind: String,
    pub selector: Option<String>,
    pub text: String,
}

/// The most controls a message lists.
const CONTROLS: usize = 15;

impl Control {
    /// The visible inputs, selects, text areas and buttons of the page, in document order.
    pub async fn read_all(session: &Session) -> Vec<Control> {
        const SCRIPT: &str = r#"
            const shown = e => {
                const r = e.getBoundingClientRect(), s = getComputedStyle(e);
                const box = (r.width > 0 && r.height > 0) || e.type === 'checkbox' || e.type === 'radio';
                return box && s.visibility !== 'hidden' && s.display !== 'none';
            };
            const unique = s => { try { return document.querySelectorAll(s).length === 1; } catch (_) { return false; } };
            const selector = e => {
                const tag = e.tagName.toLowerCase();
                if (e.id && unique('#' + CSS.escape(e.id))) return '#' + CSS.escape(e.id);
                const name = e.getAttribute('name');
                if (name) { const s = tag + '[name="' + CSS.escape(name) + '"]'; if (unique(s)) return s; }
                const type = e.getAttribute('type');
                if (type) { const s = tag + '[type="' + CSS.escape(type) + '"]'; if (unique(s)) return s; }
                return null;
            };
            const words = e => {
                const tag = e.tagName.toLowerCase();
                if (tag === 'button' || e.getAttribute('role') === 'button') return e.innerText || e.value || e.getAttribute('aria-label') || '';
                if (tag === 'input' && (e.type === 'submit' || e.type === 'button')) return e.value || '';
                if (e.labels && e.labels.length) return e.labels[0].innerText || '';
                return e.getAttribute('aria-label') || e.getAttribute('placeholder') || '';
            };
            const out = [];
            for (const e of document.querySelectorAll('input, select, textarea, button, [role=button]')) {
                if (out.length >= 15) break;
                if (e.type === 'hidden' || !shown(e)) continue;
                const tag = e.tagName.toLowerCase();
                out.push({ kind: tag === 'input' ? (e.type || 'text') + ' input' : tag,
                           selector: selector(e), text: words(e).trim().replace(/\s+/g, ' ').slice(0, 60) });
            }
            return out;
        "#;
        let Some(value) = run_script(session, SCRIPT).await else {
            return Vec::new();
        };
        value
            .as_array()
            .into_iter()
            .flatten()
            .take(CONTROLS)
            .map(|c| Control {
                kind: c["kind"].as_str().unwrap_or_default().to_string(),
                selector: c["selector"].as_str().map(str::to_string),
                text: c["text"].as_str().unwrap_or_default().to_string(),
            })
            .collect()
    }

    /// The controls in one line: `password input #password ("Password"), button #sign-in
    /// ("Sign in")`.
    pub fn describe(controls: &[Control]) -> String {
        controls
            .iter()
            .map(|c| {
                let mut line = c.kind.clone();
                match &c.selector {
                    Some(s) => line.push_str(&format!(" `{s}`")),
                    None => line.push_str(" (no short unique selector)"),
                }
                if !c.text.is_empty() {
                    line.push_str(&format!(" (\u{201c}{}\u{201d})", c.text));
                }
                line
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// What a script returns. A page whose script never ends cannot answer: within the page
/// timeout, or nothing.
async fn run_script(session: &Session, script: &str) -> Option<serde_json::Value> {
    let answer = tokio::time::timeout(
        session.page_timeout(),
        session.driver.execute(script, Vec::new()),
    )
    .await
    .ok()?
    .ok()?;
    Some(answer.json().clone())
}

/// Runs of whitespace (line breaks of the layout) become one space.
fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The start of `text`, cut at a character boundary, with an ellipsis when cut.
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT) {
        Some((cut, _)) => format!("{}\u{2026}", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(status: Option<u16>, title: &str, text: &str) -> PageSummary {
        PageSummary {
            status,
            title: title.into(),
            content_type: "text/html".into(),
            text: text.into(),
            url: "http://127.0.0.1:9/authorize".into(),
        }
    }

    #[test]
    fn an_error_status_or_an_error_word_is_a_refusal() {
        assert!(page(Some(400), "Sign in", "Welcome").refusal().is_some());
        assert!(page(Some(200), "Error", "error=invalid_request")
            .refusal()
            .is_some());
        assert!(
            page(Some(200), "Oops", "The aud parameter is not recognized")
                .refusal()
                .is_some()
        );
        assert!(page(None, "Authorization error", "Unknown client")
            .refusal()
            .is_some());
        assert!(page(Some(200), "", "Access denied.").refusal().is_some());
    }

    #[test]
    fn a_page_that_merely_failed_is_no_refusal() {
        assert_eq!(
            page(Some(200), "Choose a patient", "Loading patients…").refusal(),
            None
        );
        assert_eq!(
            page(
                Some(200),
                "Sign in",
                "Something went wrong. Could not load the patient list."
            )
            .refusal(),
            None
        );
        assert_eq!(page(None, "", "").refusal(), None);
        // The browser's own error page is no answer of the server's, whatever it says.
        let unreachable = PageSummary {
            url: "chrome-error://chromewebdata/".into(),
            ..page(
                None,
                "127.0.0.1",
                "This site can't be reached 127.0.0.1 refused to connect.",
            )
        };
        assert_eq!(unreachable.refusal(), None);
        // "invalidated" is no "invalid"; a word inside another is no word.
        assert_eq!(
            page(Some(200), "", "Your cache was invalidated").refusal(),
            None
        );
    }

    #[test]
    fn the_description_quotes_title_and_text_and_cuts_long_text() {
        let long = "word ".repeat(200);
        let shown = page(Some(200), "Consent", &collapse(&long)).describe();
        assert!(shown.starts_with(
            "the page shows HTTP 200, title \u{201c}Consent\u{201d}, text \u{201c}word word"
        ));
        assert!(shown.ends_with("\u{2026}\u{201d}"), "{shown}");
        let json = PageSummary {
            status: Some(400),
            title: String::new(),
            content_type: "application/json".into(),
            text: r#"{"error":"invalid_scope"}"#.into(),
            url: "http://127.0.0.1:9/authorize".into(),
        };
        assert_eq!(
            json.describe(),
            r#"the page shows HTTP 400, a JSON body {"error":"invalid_scope"}"#
        );
        assert_eq!(
            page(None, "", "").describe(),
            "the page shows no visible text"
        );
    }
}
