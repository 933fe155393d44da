//! `smartcheck init --screens` on many kinds of screens: a front server here forwards every
//! request to a reference server (which knows the front's origin as its own) and serves the
//! sign-in, patient and consent pages in another shape each time: a two-step sign-in, a
//! sign-in built by script after a fetch, fields known only by their labels, a cookie banner
//! over the page, a patient picker as a select and as links, a consent screen with a
//! zero-size check box per scope that must be ticked. For each, the target init writes holds
//! no password and runs the standalone launch with nothing failed or errored, unedited. A page
//! it cannot read stops init with the page's controls and a screenshot.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use smartcheck::reference::{Config, Faults, ReferenceServer};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// The reference server's own pages, passed through.
    Plain,
    TwoStep,
    Script,
    Labels,
    CookieBanner,
    SelectPicker,
    LinkPicker,
    ScopeBoxes,
    Captcha,
}

#[derive(Clone)]
struct Front {
    kind: Kind,
    reference: SocketAddr,
    http: reqwest::Client,
}

/// A front server and the reference server behind it.
struct Served {
    origin: String,
    _reference: ReferenceServer,
    /// The front server's runtime, when there is a front.
    _front: Option<tokio::runtime::Runtime>,
}

/// The reference server itself, no front: its own origin.
fn reference_alone() -> Served {
    let reference = common::reference_server(&[]);
    Served {
        origin: reference.origin(),
        _reference: reference,
        _front: None,
    }
}

fn serve(kind: Kind) -> Served {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let reference = ReferenceServer::start(
        "127.0.0.1",
        0,
        Config {
            faults: Faults::none(),
            debug_endpoints: true,
            password: None,
            public_origin: Some(origin.clone()),
        },
    )
    .unwrap();
    let reference_addr: SocketAddr = reference.origin()["http://".len()..].parse().unwrap();
    let front = Front {
        kind,
        reference: reference_addr,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    };
    let app = axum::Router::new().fallback(forward).with_state(front);
    runtime.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Served {
        origin,
        _reference: reference,
        _front: Some(runtime),
    }
}

fn query_value(uri: &Uri, key: &str) -> String {
    url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Every request goes to the reference server as it came; its sign-in, patient and consent
/// pages come back in the front's shape.
async fn forward(
    State(front): State<Front>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    // The script-built sign-in asks for its transaction.
    if path == "/sign-in-form" {
        return axum::Json(serde_json::json!({ "txn": query_value(&uri, "txn") })).into_response();
    }
    // A patient chosen by link: the reference's form post.
    let (method, path_and_query, body) = if path == "/pick" {
        let form = format!(
            "txn={}&patient={}",
            query_value(&uri, "txn"),
            query_value(&uri, "patient")
        );
        (
            Method::POST,
            "/authorize/patient".to_string(),
            Bytes::from(form),
        )
    } else {
        let pq = uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default();
        (method, pq, body)
    };
    if front.kind == Kind::ScopeBoxes && path_and_query == "/authorize/consent" {
        let fields: Vec<(String, String)> =
            url::form_urlencoded::parse(&body).into_owned().collect();
        let approve = fields
            .iter()
            .any(|(k, v)| k == "decision" && v == "approve");
        let ticked = fields
            .iter()
            .filter(|(k, _)| k.starts_with("scope-"))
            .count();
        let listed = fields
            .iter()
            .find(|(k, _)| k == "scopes")
            .map(|(_, v)| v.parse::<usize>().unwrap_or(0))
            .unwrap_or(0);
        if approve && ticked < listed {
            return (
                StatusCode::BAD_REQUEST,
                Html("<p>Tick every scope to continue.</p>"),
            )
                .into_response();
        }
    }
    let mut request = front.http.request(
        method.clone(),
        format!("http://{}{}", front.reference, path_and_query),
    );
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    if path == "/pick" {
        request = request.header("content-type", "application/x-www-form-urlencoded");
    }
    let Ok(answer) = request.body(body).send().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = answer.status();
    let mut out_headers = HeaderMap::new();
    for (name, value) in answer.headers() {
        if name != "content-length" && name != "transfer-encoding" {
            out_headers.append(name, value.clone());
        }
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let cookies = headers
        .get("cookie")
        .and_then(|c| c.to_str().ok())
        .unwrap_or_default()
        .to_string();
    match reshape(front.kind, &text, &cookies) {
        Some(html) => {
            // The front's pages have scripts of their own.
            out_headers.remove("content-security-policy");
            out_headers.insert("content-type", "text/html; charset=utf-8".parse().unwrap());
            (status, out_headers, html).into_response()
        }
        None => (status, out_headers, bytes).into_response(),
    }
}

fn capture(text: &str, pattern: &str) -> String {
    regex::Regex::new(pattern)
        .unwrap()
        .captures(text)
        .map(|c| c[1].to_string())
        .unwrap_or_default()
}

fn page(body: &str) -> String {
    format!("<!doctype html><html><head><title>Sandbox</title></head><body>{body}</body></html>")
}

/// The front's shape of a reference page, when this kind changes it.
fn reshape(kind: Kind, html: &str, cookies: &str) -> Option<String> {
    let txn = capture(html, r#"name="txn" value="([^"]*)""#);
    if html.contains("id=\"login-form\"") {
        return sign_in(kind, html, &txn, cookies);
    }
    if html.contains("id=\"patient-form\"") {
        let patients: Vec<(String, String)> =
            regex::Regex::new(r#"name="patient" value="([^"]+)"[^>]*> ([^<]+)</label>"#)
                .unwrap()
                .captures_iter(html)
                .map(|c| (c[1].to_string(), c[2].to_string()))
                .collect();
        return match kind {
            Kind::SelectPicker => {
                let options: String = patients
                    .iter()
                    .map(|(id, name)| format!("<option value=\"{id}\">{name}</option>"))
                    .collect();
                Some(page(&format!(
                    "<p>Whose records may the app see? Choose a patient.</p>\
                     <form method=\"post\" action=\"/authorize/patient\"><input type=\"hidden\" name=\"txn\" value=\"{txn}\">\
                     <label for=\"who\">Patient</label><select id=\"who\" name=\"patient\"><option value=\"\">Choose\u{2026}</option>{options}</select>\
                     <button type=\"submit\" id=\"choose\">Choose</button></form>"
                )))
            }
            Kind::LinkPicker => {
                let links: String = patients
                    .iter()
                    .map(|(id, name)| {
                        format!("<li><a href=\"/pick?txn={txn}&amp;patient={id}\">{name}</a></li>")
                    })
                    .collect();
                Some(page(&format!(
                    "<h1>Select a patient</h1><ul class=\"patients\">{links}</ul><p><a href=\"/help\">Help</a></p>"
                )))
            }
            _ => None,
        };
    }
    if html.contains("id=\"consent-form\"") && kind == Kind::ScopeBoxes {
        let scopes: Vec<String> = regex::Regex::new(r#"<li class="scope">([^<]+)</li>"#)
            .unwrap()
            .captures_iter(html)
            .map(|c| c[1].to_string())
            .collect();
        let boxes: String = scopes
            .iter()
            .enumerate()
            .map(|(i, s)| {
                format!(
                    "<span class=\"pill\"><input type=\"checkbox\" id=\"scope-{i}\" name=\"scope-{i}\" \
                     style=\"position:absolute;width:0;height:0;margin:0;opacity:0\">\
                     <label for=\"scope-{i}\">{s}</label></span>"
                )
            })
            .collect();
        return Some(page(&format!(
            "<p>The app asks for these permissions. Tick each one you grant.</p>\
             <form method=\"post\" action=\"/authorize/consent\"><input type=\"hidden\" name=\"txn\" value=\"{txn}\">\
             <input type=\"hidden\" name=\"scopes\" value=\"{}\">{boxes}\
             <label><input type=\"checkbox\" id=\"keep\" name=\"keep\"> Remember this app</label>\
             <button type=\"submit\" id=\"cancel\" name=\"decision\" value=\"deny\">Cancel</button>\
             <button type=\"submit\" id=\"allow\" name=\"decision\" value=\"approve\">Allow</button></form>",
            scopes.len()
        )));
    }
    None
}

fn sign_in(kind: Kind, html: &str, txn: &str, cookies: &str) -> Option<String> {
    match kind {
        Kind::TwoStep => Some(page(&format!(
            "<form method=\"post\" action=\"/authorize/login\"><input type=\"hidden\" name=\"txn\" value=\"{txn}\">\
             <div id=\"step-user\"><label for=\"user\">Email or user name</label><input id=\"user\" name=\"username\">\
             <button type=\"button\" id=\"next\" onclick=\"document.getElementById('step-user').style.display='none';\
             document.getElementById('step-password').style.display='block'\">Next</button></div>\
             <div id=\"step-password\" style=\"display:none\"><label for=\"pw\">Password</label>\
             <input id=\"pw\" name=\"password\" type=\"password\"><button type=\"submit\" id=\"go\">Sign in</button></div></form>"
        ))),
        Kind::Script => Some(page(&format!(
            "<div id=\"app\">Loading\u{2026}</div><script>setTimeout(function () {{\
             fetch('/sign-in-form?txn={txn}').then(function (r) {{ return r.json(); }}).then(function (d) {{\
             document.getElementById('app').innerHTML = '<form method=\"post\" action=\"/authorize/login\">' +\
             '<input type=\"hidden\" name=\"txn\" value=\"' + d.txn + '\">' +\
             '<label for=\"u\">User</label><input id=\"u\" name=\"username\">' +\
             '<label for=\"p\">Password</label><input id=\"p\" name=\"password\" type=\"password\">' +\
             '<button type=\"submit\" id=\"login\">Log in</button></form>'; }}); }}, 800);</script>"
        ))),
        Kind::Labels => Some(page(&format!(
            "<form id=\"real\" method=\"post\" action=\"/authorize/login\" style=\"display:none\">\
             <input type=\"hidden\" name=\"txn\" value=\"{txn}\"><input type=\"hidden\" name=\"username\">\
             <input type=\"hidden\" name=\"password\"></form>\
             <div class=\"card\"><label>Your user name <input type=\"text\"></label>\
             <label>Your password <input type=\"password\"></label>\
             <button type=\"button\" onclick=\"var f = document.getElementById('real'); var i = document.querySelectorAll('.card input');\
             f.username.value = i[0].value; f.password.value = i[1].value; f.submit();\">Log in</button></div>"
        ))),
        Kind::CookieBanner if !cookies.contains("cookies=ok") => Some(html.replace(
            "</body>",
            "<div id=\"cookie-consent\" style=\"position:fixed;top:0;left:0;right:0;bottom:0;background:rgba(0,0,0,0.6);z-index:10\">\
             <div style=\"background:#fff;margin:120px auto;width:320px;padding:20px\">We use cookies to keep you signed in.\
             <button type=\"button\" id=\"accept-cookies\" onclick=\"document.cookie='cookies=ok; path=/';\
             document.getElementById('cookie-consent').remove()\">Accept all</button></div></div></body>",
        )),
        Kind::Captcha => Some(page(
            "<p>Verify that you are a person.</p><div role=\"button\" id=\"captcha\" tabindex=\"0\">I am not a robot</div>",
        )),
        _ => None,
    }
}

fn smartcheck(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_smartcheck"))
        .args(args)
        .current_dir(dir)
        .env("SANDBOX_PASSWORD", "demo-password")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `init --screens` against the front of `kind`; the target written and what init said.
fn learn(kind: Kind, served: &Served, dir: &Path) -> (Output, String) {
    // With every debug line (the WebDriver's requests among them): the password never shows.
    let out = Command::new(env!("CARGO_BIN_EXE_smartcheck"))
        .current_dir(dir)
        .env("SANDBOX_PASSWORD", "demo-password")
        .env("SMARTCHECK_LOG", "debug")
        .args([
            "init",
            &format!("{}/fhir", served.origin),
            "--out",
            "t.yaml",
            "--name",
            "sandbox",
            "--screens",
            "--user",
            "daniel-adams",
            "--password-env",
            "SANDBOX_PASSWORD",
        ])
        .output()
        .unwrap();
    assert!(
        !text(&out).contains("demo-password"),
        "{kind:?}: the password showed"
    );
    let target = std::fs::read_to_string(dir.join("t.yaml")).unwrap_or_default();
    (out, target)
}

/// Learns the screens of `kind` and runs the standalone launch with the target as written.
fn learned_target_runs_the_standalone_launch(kind: Kind, expected: &[&str]) {
    let served = serve(kind);
    learned_and_run(kind, &served, expected);
}

fn learned_and_run(kind: Kind, served: &Served, expected: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let (out, target) = learn(kind, served, dir.path());
    assert_eq!(out.status.code(), Some(0), "{kind:?}: {}", text(&out));
    for line in expected {
        assert!(
            target.contains(line),
            "{kind:?}: {line:?} missing from:\n{target}"
        );
    }
    assert!(!target.contains("demo-password"), "{target}");
    assert!(target.contains("value: ${SANDBOX_PASSWORD}"), "{target}");
    let shots = std::fs::read_dir(dir.path().join("reports/init-screens"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "png"))
        .count();
    assert!(shots >= 2, "{kind:?}: {shots} screenshots");
    let valid = smartcheck(dir.path(), &["validate", "t.yaml"]);
    assert_eq!(valid.status.code(), Some(0), "{}", text(&valid));
    let run = smartcheck(
        dir.path(),
        &[
            "run",
            "--target",
            "t.yaml",
            "smart-app-launch::standalone-public",
            "--exact",
            "--color",
            "never",
            "--report-dir",
            "r",
        ],
    );
    let said = text(&run);
    assert_eq!(run.status.code(), Some(0), "{kind:?}:\n{target}\n{said}");
    assert!(
        said.contains(" 0 failed, 0 warned, 0 errored, 0 skipped"),
        "{kind:?}: {said}"
    );
}

/// `smartcheck serve-reference` as it is, no front between: the issue's own test.
#[test]
fn the_reference_server_itself() {
    learned_and_run(
        Kind::Plain,
        &reference_alone(),
        &["    - click: \"#approve\"", "  patient: \"smart-1288992\""],
    );
}

#[test]
fn the_reference_servers_own_screens() {
    learned_target_runs_the_standalone_launch(
        Kind::Plain,
        &[
            "  sign-in:\n    - fill: \"#username\"\n      value: \"daniel-adams\"\n    - fill: \"#password\"\n      value: ${SANDBOX_PASSWORD}\n    - click: \"#sign-in\"",
            "  patient:\n    - click: \"#patient-smart-1288992\"\n      optional: true",
            "    - click: \"#select-patient\"",
            "  authorize:\n    - click: \"#approve\"\n",
            "  deny:\n    - click: \"#deny\"",
            "  patient: \"smart-1288992\"",
            "  user: \"daniel-adams\"",
        ],
    );
}

#[test]
fn a_two_step_sign_in() {
    learned_target_runs_the_standalone_launch(
        Kind::TwoStep,
        &[
            "    - fill: \"#user\"\n      value: \"daniel-adams\"\n    - click: \"#next\"\n    - fill: \"#pw\"",
            "    - click: \"#go\"",
            "  deny:\n    - click: \"#deny\"",
        ],
    );
}

#[test]
fn a_sign_in_drawn_by_script_after_a_fetch() {
    learned_target_runs_the_standalone_launch(
        Kind::Script,
        &[
            "    - fill: \"#u\"",
            "    - fill: \"#p\"",
            "    - click: \"#login\"",
        ],
    );
}

#[test]
fn fields_known_by_their_labels_alone() {
    learned_target_runs_the_standalone_launch(
        Kind::Labels,
        &[
            "    - fill: \"input[type=\\\"text\\\"]\"\n      value: \"daniel-adams\"",
            "    - fill: \"input[type=\\\"password\\\"]\"",
            "    - click: \"button[type=\\\"button\\\"]\"",
        ],
    );
}

#[test]
fn a_cookie_banner_over_the_sign_in() {
    learned_target_runs_the_standalone_launch(
        Kind::CookieBanner,
        &["  sign-in:\n    - click: \"#accept-cookies\"\n      optional: true\n      timeout: 2s\n    - fill: \"#username\""],
    );
}

#[test]
fn a_patient_picker_as_a_select() {
    learned_target_runs_the_standalone_launch(
        Kind::SelectPicker,
        &["  patient:\n    - select: \"#who\"\n      value: \"smart-1288992\"\n      optional: true", "    - click: \"#choose\""],
    );
}

#[test]
fn a_patient_picker_as_links() {
    learned_target_runs_the_standalone_launch(
        Kind::LinkPicker,
        &[
            "  patient:\n    - click: \"a[href*=\\\"patient=smart-1288992\\\"]\"\n      optional: true",
            "  deny:\n    - click: \"#deny\"",
        ],
    );
}

#[test]
fn a_consent_screen_with_a_zero_size_box_per_scope() {
    learned_target_runs_the_standalone_launch(
        Kind::ScopeBoxes,
        &[
            "    - check: \"#scope-0\"\n      via: script",
            "    - click: \"#allow\"",
            "  deny:\n    - click: \"#cancel\"",
        ],
    );
}

/// A page with nothing init knows: it stops, naming the page's controls and a screenshot, and
/// writes no target.
#[test]
fn a_screen_it_cannot_read_stops_init_with_the_pages_controls() {
    let served = serve(Kind::Captcha);
    let dir = tempfile::tempdir().unwrap();
    let (out, target) = learn(Kind::Captcha, &served, dir.path());
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("the screens could not be learned: no sign-in, patient or consent controls were recognised"), "{said}");
    assert!(said.contains("`#captcha`"), "{said}");
    assert!(said.contains("screen-1.png"), "{said}");
    assert!(!said.contains("demo-password"), "{said}");
    assert!(target.is_empty(), "no target is written");
}
