//! The reference server's HTML pages: login, patient picker, consent, and errors. Plain forms
//! that work without JavaScript; every field and button has a stable id, documented in docs/reference-server.md.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

pub use crate::markup::escape as esc;

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{title} - smartcheck reference server</title>\
         <style>body{{font-family:sans-serif;max-width:32rem;margin:2rem auto}}\
         label,button{{display:block;margin:.5rem 0}}.error{{color:#a00}}</style></head>\
         <body><h1>{title}</h1>\n{body}\n</body></html>\n",
        title = esc(title)
    );
    // `frame-ancestors 'self'`: no other site may frame the sign-in and consent screens
    // (clickjacking, RFC 6749 §10.13), while the server's own pages (the EHR) still may.
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; script-src {}; frame-ancestors 'self'",
        script_hash(LOCALE_SCRIPT)
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            // Nothing is loaded from elsewhere. No `form-action 'self'`: browsers apply
            // form-action to the redirect that follows a form post too, and the consent form's
            // answer is a redirect to the app's (other-origin) redirect URI.
            (header::CONTENT_SECURITY_POLICY, csp.as_str()),
        ],
        html,
    )
        .into_response()
}

/// An error shown to the person instead of a redirect (RFC 6749 §4.1.2.1: an invalid client or
/// redirect URI is never redirected to).
pub fn error(description: &str) -> Response {
    error_with_status(StatusCode::BAD_REQUEST, description)
}

/// An error page answered with `status` (200 under the `authorize-error-page-200` switch, as
/// some servers answer their error pages).
pub fn error_with_status(status: StatusCode, description: &str) -> Response {
    page(
        status,
        "Authorization error",
        &format!("<p id=\"error\" class=\"error\">{}</p>", esc(description)),
    )
}

/// The EHR's own page before it launches an app (the `ehr-tenant-base` EHR): a chart with a
/// link that opens the app.
pub fn ehr_chart(patient: &str, open_app: &str) -> Response {
    page(
        StatusCode::OK,
        "Patient chart",
        &format!(
            "<p>Chart of <strong id=\"chart-patient\">{}</strong>.</p>\
             <p><a id=\"open-app\" href=\"{}\">Open the app</a></p>",
            esc(patient),
            esc(open_app)
        ),
    )
}

pub fn login(txn: &str, client_name: &str, message: Option<&str>) -> Response {
    let message = message
        .map(|m| format!("<p id=\"login-error\" class=\"error\">{}</p>", esc(m)))
        .unwrap_or_default();
    page(
        StatusCode::OK,
        "Sign in",
        &format!(
            "<p>Sign in to let <strong id=\"client-name\">{client}</strong> see your health records.</p>\
             {message}\
             <form id=\"login-form\" method=\"post\" action=\"/authorize/login\">\
             <input type=\"hidden\" name=\"txn\" value=\"{txn}\">\
             <label for=\"username\">Username</label>\
             <input id=\"username\" name=\"username\" autocomplete=\"username\">\
             <label for=\"password\">Password</label>\
             <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\">\
             <label for=\"locale\">Language</label>\
             <select id=\"locale\" name=\"locale\"><option value=\"en\">English</option><option value=\"de\">Deutsch</option></select>\
             <button id=\"sign-in\" type=\"submit\">Sign in</button></form>\
             <script>{script}</script>",
            client = esc(client_name),
            txn = esc(txn),
            script = LOCALE_SCRIPT,
        ),
    )
}

/// The login page's one script: an option of the language list added after the page loaded,
/// as real pages fill lists by script (screen steps must wait for it). The page's
/// Content-Security-Policy allows this script alone, by its hash.
const LOCALE_SCRIPT: &str = "setTimeout(function () { var o = document.createElement(\"option\"); \
     o.value = \"fr\"; o.text = \"Fran\\u00e7ais\"; \
     document.getElementById(\"locale\").appendChild(o); }, 700);";

/// `'sha256-...'` of a script, for a Content-Security-Policy `script-src`.
fn script_hash(script: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let digest = sha2::Sha256::digest(script.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

pub fn patient_picker(txn: &str, patients: &[(String, String)]) -> Response {
    let options: String = patients
        .iter()
        .enumerate()
        .map(|(i, (id, name))| {
            format!(
                "<label><input type=\"radio\" id=\"patient-{id}\" name=\"patient\" value=\"{id}\"{checked}> {name}</label>",
                id = esc(id),
                name = esc(name),
                checked = if i == 0 { " checked" } else { "" },
            )
        })
        .collect();
    page(
        StatusCode::OK,
        "Choose a patient",
        &format!(
            "<form id=\"patient-form\" method=\"post\" action=\"/authorize/patient\">\
             <input type=\"hidden\" name=\"txn\" value=\"{txn}\">{options}\
             <button id=\"select-patient\" type=\"submit\">Continue</button></form>",
            txn = esc(txn)
        ),
    )
}

/// A patient picker whose list never loads (the `authorize-foreign-aud-stalls` fault): a
/// spinner, no error, nothing to choose.
pub fn patients_loading(txn: &str) -> Response {
    page(
        StatusCode::OK,
        "Choose a patient",
        &format!(
            "<div id=\"patient-list\" data-txn=\"{}\" aria-busy=\"true\">Loading patients\u{2026}</div>",
            esc(txn)
        ),
    )
}

/// The consent page. With `agree_box` it has a check box that must be ticked to approve, drawn
/// at zero size under a styled label (as some real consent pages are): a person clicks the
/// label; WebDriver's own click refuses the invisible input.
pub fn consent(
    txn: &str,
    client_name: &str,
    scopes: &[&str],
    patient: Option<&str>,
    agree_box: bool,
    deny_button: bool,
) -> Response {
    let agree = if agree_box {
        "<span class=\"agree\"><input type=\"checkbox\" id=\"agree\" name=\"agree\" \
         style=\"position:absolute;width:0;height:0;margin:0;opacity:0\">\
         <label for=\"agree\" id=\"agree-label\" style=\"display:inline-block;padding:6px 12px;\
         border:1px solid #777;border-radius:4px\">I agree to share these records</label></span>"
    } else {
        ""
    };
    let items: String = scopes
        .iter()
        .map(|s| format!("<li class=\"scope\">{}</li>", esc(s)))
        .collect();
    let patient = patient
        .map(|p| {
            format!(
                "<p>Patient: <strong id=\"patient-name\">{}</strong></p>",
                esc(p)
            )
        })
        .unwrap_or_default();
    page(
        StatusCode::OK,
        "Allow access?",
        &format!(
            "<p><strong id=\"client-name\">{client}</strong> asks for:</p>\
             <ul id=\"scopes\">{items}</ul>{patient}\
             <form id=\"consent-form\" method=\"post\" action=\"/authorize/consent\">\
             <input type=\"hidden\" name=\"txn\" value=\"{txn}\">\
             <label><input type=\"checkbox\" id=\"remember\" name=\"remember\"> Remember my decision</label>{agree}\
             <button id=\"approve\" name=\"decision\" value=\"approve\" type=\"submit\">Approve</button>\
             {deny}</form>",
            client = esc(client_name),
            txn = esc(txn),
            deny = if deny_button {
                "<button id=\"deny\" name=\"decision\" value=\"deny\" type=\"submit\">Deny</button>"
            } else {
                ""
            }
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
