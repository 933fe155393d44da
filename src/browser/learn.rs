//! Learned screens (`smartcheck init --screens`): a real authorization played in the browser
//! with no steps given, each screen read (its inputs, buttons, links, their labels, roles and
//! the words on them), recognised (a cookie banner, a sign-in in one or two steps, a patient
//! picker, a consent screen), answered with steps written as a target writes them, and those
//! steps played by the same code that plays a target's (`screens::play`), so that what is
//! written is what worked. Each step names its element by the most stable selector that finds
//! it alone: an id, a name, another identifying attribute, and only then a position.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::page::Control;
use super::screens::{self, ScreenOutcome};
use super::{PageSummary, Session};
use crate::suite::target::{ClickVia, ScreenStep};

/// The words of a control that approves (a consent screen's "Allow"), compared in lower case
/// as whole words at the start of the control's text. `--approve-word` adds more.
pub const APPROVE_WORDS: &[&str] = &[
    "allow",
    "approve",
    "authorize",
    "authorise",
    "accept",
    "grant",
    "agree",
    "continue",
    "launch",
    "confirm",
    "yes",
    "ok",
    "submit",
];

/// The words of a control that refuses.
pub const DENY_WORDS: &[&str] = &[
    "deny",
    "decline",
    "reject",
    "cancel",
    "don't allow",
    "do not allow",
    "disallow",
    "refuse",
    "no",
];

/// The words of a control that sends a sign-in form, or its first step.
const SIGN_IN_WORDS: &[&str] = &[
    "sign in", "signin", "log in", "login", "next", "continue", "submit", "ok", "go",
];

/// The words of a control that confirms a patient choice.
const CHOOSE_WORDS: &[&str] = &[
    "select", "choose", "continue", "next", "launch", "open", "ok", "submit", "use",
];

/// The most screens one authorization may show before init gives up.
const MAX_SCREENS: usize = 12;

/// One control of the page, as the page script reads it.
#[derive(Debug, Clone, Deserialize)]
pub struct Element {
    pub tag: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    pub selector: String,
    /// What a person reads on or beside it: its label, text, value or placeholder.
    #[serde(default)]
    pub words: String,
    /// Its id, name, autocomplete, placeholder, ARIA label and label, in lower case.
    #[serde(default)]
    pub hints: String,
    /// Drawn with no size or fully transparent (a styled check box).
    #[serde(default)]
    pub zero: bool,
    #[serde(default)]
    pub checked: bool,
    /// Which form it is in (-1: none).
    #[serde(default)]
    pub form: i64,
    /// Inside something about cookies (a banner).
    #[serde(default)]
    pub cookie: bool,
    #[serde(default)]
    pub href: String,
    /// A select's options: (value, text).
    #[serde(default)]
    pub options: Vec<(String, String)>,
    #[serde(default)]
    pub value: String,
}

/// The page as the learner reads it.
#[derive(Debug, Clone, Deserialize)]
pub struct Page {
    pub url: String,
    /// The visible text, in lower case, cut short.
    pub text: String,
    pub elements: Vec<Element>,
}

impl Page {
    /// What identifies this state of the page: its address and its controls.
    fn fingerprint(&self) -> String {
        let mut f = self.url.clone();
        for e in &self.elements {
            f.push('\n');
            f.push_str(&e.selector);
        }
        f
    }
}

/// The page script (a function body WebDriver runs; its value is the [`Page`]).
const PAGE_SCRIPT: &str = include_str!("learn_page.js");

/// Reads the page, or `None` when it cannot answer (a script that never ends, no document).
pub async fn read_page(session: &Session) -> Option<Page> {
    let answer = tokio::time::timeout(
        session.page_timeout(),
        session.driver.execute(PAGE_SCRIPT, Vec::new()),
    )
    .await
    .ok()?
    .ok()?;
    serde_json::from_value(answer.json().clone()).ok()
}

/// Which screen a page is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    /// The target's `sign-in:` (a cookie banner shown first goes there too, optional).
    SignIn,
    /// `patient:`.
    Patient,
    /// `authorize:`.
    Authorize,
}

impl Screen {
    pub fn key(self) -> &'static str {
        match self {
            Screen::SignIn => "sign-in",
            Screen::Patient => "patient",
            Screen::Authorize => "authorize",
        }
    }
}

/// What the learner is told: who signs in, the patient to choose, the words of approval.
pub struct Person<'a> {
    pub user: &'a str,
    /// The password, typed; and how the written target reads it (`${VAR}`).
    pub password: &'a str,
    pub password_ref: &'a str,
    pub patient: Option<&'a str>,
    pub approve_words: &'a [String],
}

/// The steps of one screen, as played and as written (a password is `${VAR}` in the file).
#[derive(Debug, Clone)]
pub struct Learned {
    pub screen: Screen,
    pub steps: Vec<ScreenStep>,
    /// What the page was taken for, in a few words (for the summary).
    pub seen: String,
}

/// What one authorization taught: the screens' steps in order, the deny control found on the
/// consent screen, and the screenshot of every screen.
#[derive(Debug, Default)]
pub struct Lesson {
    pub screens: Vec<Learned>,
    pub deny: Option<ScreenStep>,
    pub screenshots: Vec<PathBuf>,
}

/// Why learning stopped: what the page was, its controls with their selectors, a screenshot.
#[derive(Debug)]
pub struct Stuck {
    pub reason: String,
    pub page: String,
    pub controls: String,
    pub screenshots: Vec<PathBuf>,
}

fn matches_words(text: &str, words: &[impl AsRef<str>]) -> bool {
    // "[ Cancel ]", "» Continue": the words without the marks around them.
    let text = text
        .trim_matches(|c: char| !c.is_alphanumeric())
        .to_lowercase();
    words.iter().any(|w| {
        let w = w.as_ref().to_lowercase();
        text == w
            || text
                .strip_prefix(&w)
                .is_some_and(|rest| rest.starts_with(|c: char| !c.is_alphanumeric()))
    })
}

fn is_text_input(e: &Element) -> bool {
    e.tag == "input" && matches!(e.kind.as_str(), "" | "text" | "email" | "tel")
}

fn is_button(e: &Element) -> bool {
    e.tag == "button"
        || (e.tag == "input" && matches!(e.kind.as_str(), "submit" | "button" | "image"))
        || e.hints.split_whitespace().any(|h| h == "button")
}

fn fill(selector: &str, value: &str) -> ScreenStep {
    ScreenStep {
        fill: Some(selector.to_string()),
        value: Some(value.to_string()),
        ..ScreenStep::default()
    }
}

fn click(e: &Element) -> ScreenStep {
    ScreenStep {
        click: Some(e.selector.clone()),
        ..ScreenStep::default()
    }
}

/// The button that sends `form` (or any on the page when the form has none) whose words say
/// so, else the form's only submit control.
fn sender<'p>(page: &'p Page, form: i64, words: &[&str]) -> Option<&'p Element> {
    let buttons: Vec<&Element> = page
        .elements
        .iter()
        .filter(|e| is_button(e) && !e.cookie)
        .collect();
    let in_form: Vec<&Element> = buttons
        .iter()
        .copied()
        .filter(|e| form >= 0 && e.form == form)
        .collect();
    let worded = |list: &[&'p Element]| {
        list.iter()
            .copied()
            .find(|e| matches_words(&e.words, words))
    };
    worded(&in_form)
        .or_else(|| {
            let submits: Vec<&Element> = in_form
                .iter()
                .copied()
                .filter(|e| e.kind == "submit" || (e.tag == "button" && e.kind.is_empty()))
                .collect();
            (submits.len() == 1).then(|| submits[0])
        })
        .or_else(|| worded(&buttons))
}

/// A cookie banner's accepting button.
fn cookie_banner(page: &Page) -> Option<&Element> {
    page.elements.iter().find(|e| {
        e.cookie
            && (is_button(e) || e.tag == "a")
            && matches_words(
                &e.words,
                &[
                    "accept",
                    "accept all",
                    "agree",
                    "allow all",
                    "ok",
                    "got it",
                    "i agree",
                    "allow",
                ],
            )
    })
}

/// The user-name field: by `autocomplete`, then by what its name, id or label says; the only
/// text field of a page about something else than patients (whose one field is a search).
fn user_field(page: &Page) -> Option<&Element> {
    let inputs: Vec<&Element> = page
        .elements
        .iter()
        .filter(|e| is_text_input(e) && !e.hints.contains("search"))
        .collect();
    inputs
        .iter()
        .copied()
        .find(|e| e.hints.contains("username") || e.kind == "email")
        .or_else(|| {
            inputs.iter().copied().find(|e| {
                ["user", "login", "email", "e-mail", "account", "name"]
                    .iter()
                    .any(|w| e.hints.contains(w))
            })
        })
        .or_else(|| (inputs.len() == 1 && !page.text.contains("patient")).then(|| inputs[0]))
}

/// A check box that changes what later authorizations show ("Remember my decision", "Keep me
/// signed in"): never ticked, since the cases after must meet the same screens.
fn remembers(e: &Element) -> bool {
    let about = format!("{} {}", e.words, e.hints).to_lowercase();
    [
        "remember",
        "keep me",
        "stay signed",
        "trust",
        "don't ask",
        "do not ask",
        "save",
    ]
    .iter()
    .any(|w| about.contains(w))
}

/// Recognises the page and gives the steps that answer it, or `None` for a page it does not
/// know.
pub fn answer(page: &Page, person: &Person<'_>) -> Option<Learned> {
    if let Some(button) = cookie_banner(page) {
        let mut step = click(button);
        step.optional = true;
        step.timeout = Some(Duration::from_secs(2));
        return Some(Learned {
            screen: Screen::SignIn,
            steps: vec![step],
            seen: format!("a cookie banner (\u{201c}{}\u{201d})", button.words),
        });
    }
    let password = page
        .elements
        .iter()
        .find(|e| e.tag == "input" && e.kind == "password");
    let user = user_field(page).filter(|u| password.is_none_or(|p| u.form == p.form || p.form < 0));
    if let Some(password) = password {
        let mut steps = Vec::new();
        if let Some(user) = user {
            steps.push(fill(&user.selector, person.user));
        }
        steps.push(fill(&password.selector, person.password_ref));
        let send = sender(page, password.form, SIGN_IN_WORDS)?;
        steps.push(click(send));
        return Some(Learned {
            screen: Screen::SignIn,
            steps,
            seen: format!(
                "a sign-in form{}",
                if user.is_some() {
                    ""
                } else {
                    " (password only)"
                }
            ),
        });
    }
    if let Some(user) = user {
        let send = sender(page, user.form, SIGN_IN_WORDS)?;
        return Some(Learned {
            screen: Screen::SignIn,
            steps: vec![fill(&user.selector, person.user), click(send)],
            seen: "the first step of a two-step sign-in (the user name)".into(),
        });
    }
    if let Some(learned) = patient_picker(page, person) {
        return Some(learned);
    }
    let approve = approve_control(page, person)?;
    let mut steps: Vec<ScreenStep> = page
        .elements
        .iter()
        .filter(|e| e.kind == "checkbox" && !e.checked && !e.cookie && !remembers(e))
        .map(|e| ScreenStep {
            check: Some(e.selector.clone()),
            via: if e.zero {
                ClickVia::Script
            } else {
                ClickVia::Webdriver
            },
            ..ScreenStep::default()
        })
        .collect();
    let ticked = steps.len();
    steps.push(click(approve));
    Some(Learned {
        screen: Screen::Authorize,
        steps,
        seen: format!(
            "a consent screen (approve: \u{201c}{}\u{201d}{})",
            approve.words,
            if ticked > 0 {
                format!(", {ticked} box(es) to tick")
            } else {
                String::new()
            }
        ),
    })
}

/// The control that approves, on a page that asks for approval.
fn approve_control<'p>(page: &'p Page, person: &Person<'_>) -> Option<&'p Element> {
    let mut words: Vec<String> = person.approve_words.to_vec();
    words.extend(APPROVE_WORDS.iter().map(|w| w.to_string()));
    page.elements
        .iter()
        .filter(|e| (is_button(e) || e.tag == "a") && !e.cookie)
        .find(|e| matches_words(&e.words, &words) && !matches_words(&e.words, DENY_WORDS))
}

/// The control that refuses on a consent page.
pub fn deny_control(page: &Page) -> Option<ScreenStep> {
    page.elements
        .iter()
        .filter(|e| (is_button(e) || e.tag == "a") && !e.cookie)
        .find(|e| matches_words(&e.words, DENY_WORDS))
        .map(click)
}

/// A patient picker: a select, radio buttons or links on a page about patients. The patient
/// given is chosen where it can be found, else the first one.
fn patient_picker(page: &Page, person: &Person<'_>) -> Option<Learned> {
    let about_patients = page.text.contains("patient");
    let wanted = |text: &str| person.patient.is_some_and(|p| text.contains(p));
    if let Some((step, form, seen)) = patient_select(page, about_patients, &wanted) {
        return Some(choose_patient(page, step, form, seen));
    }
    if !about_patients {
        return None;
    }
    if let Some((step, form, seen)) = patient_radio(page, &wanted) {
        return Some(choose_patient(page, step, form, seen));
    }
    patient_link(page, &wanted)
}

/// A choice and what confirms it (when the form has a button for that), both optional: an
/// EHR launch may not show the picker.
fn choose_patient(page: &Page, choice: ScreenStep, form: i64, seen: String) -> Learned {
    let mut steps = vec![choice];
    if let Some(send) = sender(page, form, CHOOSE_WORDS) {
        steps.push(click(send));
    }
    for step in &mut steps {
        step.optional = true;
        step.timeout = Some(Duration::from_secs(3));
    }
    Learned {
        screen: Screen::Patient,
        steps,
        seen,
    }
}

/// A select of patients: the wanted one's option, else the first with a value.
fn patient_select(
    page: &Page,
    about_patients: bool,
    wanted: &dyn Fn(&str) -> bool,
) -> Option<(ScreenStep, i64, String)> {
    let select = page.elements.iter().find(|e| {
        e.tag == "select" && e.options.len() > 1 && (e.hints.contains("patient") || about_patients)
    })?;
    let options: Vec<&(String, String)> = select
        .options
        .iter()
        .filter(|(v, _)| !v.is_empty())
        .collect();
    let option = options
        .iter()
        .find(|(v, t)| wanted(v) || wanted(t))
        .or(options.first())?;
    let step = ScreenStep {
        select: Some(select.selector.clone()),
        value: Some(option.0.clone()),
        ..ScreenStep::default()
    };
    let seen = format!(
        "a patient picker (a select; chose \u{201c}{}\u{201d})",
        option.1
    );
    Some((step, select.form, seen))
}

/// Radio buttons of patients: the wanted one, else the first.
fn patient_radio(page: &Page, wanted: &dyn Fn(&str) -> bool) -> Option<(ScreenStep, i64, String)> {
    let radios: Vec<&Element> = page.elements.iter().filter(|e| e.kind == "radio").collect();
    let radio = radios
        .iter()
        .find(|e| wanted(&e.value) || wanted(&e.words) || wanted(&e.selector))
        .or(radios.first())?;
    let step = ScreenStep {
        click: Some(radio.selector.clone()),
        via: if radio.zero {
            ClickVia::Script
        } else {
            ClickVia::Webdriver
        },
        ..ScreenStep::default()
    };
    let seen = format!(
        "a patient picker (radio buttons; chose \u{201c}{}\u{201d})",
        radio.words
    );
    Some((step, radio.form, seen))
}

/// Links to patients: the one whose address or words name the wanted patient, else the first
/// whose address is about patients. A link leaves the page: no confirming click.
fn patient_link(page: &Page, wanted: &dyn Fn(&str) -> bool) -> Option<Learned> {
    let links: Vec<&Element> = page
        .elements
        .iter()
        .filter(|e| e.tag == "a" && !e.href.is_empty() && !e.href.starts_with('#') && !e.cookie)
        .collect();
    let link = links
        .iter()
        .find(|e| wanted(&e.href) || wanted(&e.words))
        .or_else(|| {
            links
                .iter()
                .find(|e| e.href.to_lowercase().contains("patient"))
        })?;
    let mut step = click(link);
    step.optional = true;
    step.timeout = Some(Duration::from_secs(3));
    Some(Learned {
        screen: Screen::Patient,
        steps: vec![step],
        seen: format!(
            "a patient picker (links; chose \u{201c}{}\u{201d})",
            link.words
        ),
    })
}

/// One step in a few words: `fill "#username" with ${USER}`, `check "#s1" (via script)`.
fn compact(step: &ScreenStep) -> String {
    let (action, selector) = step.action().unwrap_or(("wait-for", ""));
    let mut text = format!("{action} {selector:?}");
    if let Some(value) = &step.value {
        text.push_str(&format!(" with {value}"));
    }
    if step.via != ClickVia::Webdriver {
        text.push_str(" (via script)");
    }
    if step.optional {
        text.push_str(" (optional)");
    }
    text
}

/// The steps `init --screens` would write for the page the session shows, in one line
/// (`` `browser.authorize`: click "#approve" (a consent screen ...) ``), for a person who writes
/// a target's steps by hand.
pub async fn suggestion(session: &Session) -> Option<String> {
    let page = read_page(session).await?;
    let person = Person {
        user: "${USER}",
        password: "${PASSWORD}",
        password_ref: "${PASSWORD}",
        patient: None,
        approve_words: &[],
    };
    let learned = answer(&page, &person)?;
    let steps: Vec<String> = learned.steps.iter().map(compact).collect();
    Some(format!(
        "`browser.{}`: {} (the page looks like {})",
        learned.screen.key(),
        steps.join(", "),
        learned.seen
    ))
}

/// The steps with the password typed in place of its reference.
fn to_play(steps: &[ScreenStep], person: &Person<'_>) -> Vec<ScreenStep> {
    steps
        .iter()
        .cloned()
        .map(|mut s| {
            if s.value.as_deref() == Some(person.password_ref) {
                s.value = Some(person.password.to_string());
            }
            s
        })
        .collect()
}

/// Plays one authorization from the page the session is at until `redirected()`: each
/// screen read, answered and played. `shots` is where each screen's screenshot goes.
pub async fn learn(
    session: &Session,
    person: &Person<'_>,
    step_timeout: Duration,
    redirected: &(dyn Fn() -> bool + Sync),
    shots: &Path,
) -> Result<Lesson, Stuck> {
    let mut lesson = Lesson::default();
    for index in 0..MAX_SCREENS {
        let page = match settled_page(session, step_timeout, redirected, person).await {
            Settled::Redirected => return Ok(lesson),
            Settled::Page(page) => page,
        };
        let (files, _) = session
            .capture(shots, &format!("screen-{}", index + 1))
            .await;
        lesson.screenshots.extend(
            files
                .into_iter()
                .filter(|f| f.extension().is_some_and(|e| e == "png")),
        );
        let Some(learned) = answer(&page, person) else {
            return Err(stuck(
                session,
                "no sign-in, patient or consent controls were recognised",
                &lesson,
            )
            .await);
        };
        tracing::debug!("screen {}: {} at {}", index + 1, learned.seen, page.url);
        if learned.screen == Screen::Authorize && lesson.deny.is_none() {
            lesson.deny = deny_control(&page);
        }
        let played = match play_learned(session, &learned, person, step_timeout, redirected).await {
            Ok(outcome) => outcome,
            Err(reason) => return Err(stuck(session, &reason, &lesson).await),
        };
        let before = page.fingerprint();
        lesson.screens.push(learned);
        if played == ScreenOutcome::Redirected || redirected() {
            return Ok(lesson);
        }
        if !changed(session, &before, step_timeout, redirected).await {
            return Err(stuck(
                session,
                "the page stayed as it was after its steps were played",
                &lesson,
            )
            .await);
        }
    }
    Err(stuck(
        session,
        &format!("no redirect after {MAX_SCREENS} screens"),
        &lesson,
    )
    .await)
}

/// Plays a learned screen as a target's is played; a step that failed, or an optional one
/// passed over, is why learning stops.
async fn play_learned(
    session: &Session,
    learned: &Learned,
    person: &Person<'_>,
    step_timeout: Duration,
    redirected: &(dyn Fn() -> bool + Sync),
) -> Result<ScreenOutcome, String> {
    let mut passed_over = Vec::new();
    let played = screens::play(
        session,
        learned.screen.key(),
        &to_play(&learned.steps, person),
        &[],
        step_timeout,
        redirected,
        &CancellationToken::new(),
        &mut passed_over,
    )
    .await
    .map_err(|failure| format!("{}: {}", failure.step, failure.reason))?;
    if passed_over.is_empty() {
        Ok(played)
    } else {
        Err(format!("a step did not work: {}", passed_over.join("; ")))
    }
}

enum Settled {
    Redirected,
    Page(Page),
}

/// The page once it shows something to answer (a page built by script after a fetch gets
/// until `timeout`), else as it is then.
async fn settled_page(
    session: &Session,
    timeout: Duration,
    redirected: &(dyn Fn() -> bool + Sync),
    person: &Person<'_>,
) -> Settled {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = None;
    loop {
        if redirected() {
            return Settled::Redirected;
        }
        if let Some(page) = read_page(session).await {
            if answer(&page, person).is_some() {
                return Settled::Page(page);
            }
            last = Some(page);
        }
        if tokio::time::Instant::now() >= deadline {
            return Settled::Page(last.unwrap_or(Page {
                url: session.current_url().await.unwrap_or_default(),
                text: String::new(),
                elements: Vec::new(),
            }));
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// Whether the page changed (or the redirect came) within `timeout`.
async fn changed(
    session: &Session,
    before: &str,
    timeout: Duration,
    redirected: &(dyn Fn() -> bool + Sync),
) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if redirected() {
            return true;
        }
        match read_page(session).await {
            Some(page) if page.fingerprint() != before => return true,
            // A page between documents cannot answer: it is changing.
            None => return true,
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    false
}

async fn stuck(session: &Session, reason: &str, lesson: &Lesson) -> Stuck {
    let page = PageSummary::read(session).await;
    let controls = Control::read_all(session).await;
    Stuck {
        reason: reason.to_string(),
        page: format!(
            "{} ({})",
            page.describe(),
            session.current_url().await.unwrap_or_default()
        ),
        controls: if controls.is_empty() {
            "no visible inputs or buttons".into()
        } else {
            Control::describe(&controls)
        },
        screenshots: lesson.screenshots.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(tag: &str, kind: &str, selector: &str, words: &str, hints: &str, form: i64) -> Element {
        Element {
            tag: tag.into(),
            kind: kind.into(),
            selector: selector.into(),
            words: words.into(),
            hints: hints.into(),
            zero: false,
            checked: false,
            form,
            cookie: false,
            href: String::new(),
            options: Vec::new(),
            value: String::new(),
        }
    }

    fn person() -> Person<'static> {
        Person {
            user: "alice",
            password: "pw",
            password_ref: "${PW}",
            patient: Some("p-2"),
            approve_words: &[],
        }
    }

    fn page(text: &str, elements: Vec<Element>) -> Page {
        Page {
            url: "http://127.0.0.1/x".into(),
            text: text.into(),
            elements,
        }
    }

    #[test]
    fn words_match_whole_words_at_the_start() {
        assert!(matches_words("Allow access", APPROVE_WORDS));
        assert!(matches_words("OK", APPROVE_WORDS));
        assert!(!matches_words("Allowance", APPROVE_WORDS));
        assert!(matches_words("Don't allow", DENY_WORDS));
        assert!(!matches_words("Nothing", DENY_WORDS));
        assert!(matches_words("[ Cancel ]", DENY_WORDS));
    }

    #[test]
    fn a_sign_in_form_is_filled_and_sent_by_its_own_button() {
        let p = page(
            "sign in",
            vec![
                el("input", "text", "#login", "", "login user name", 0),
                el("input", "password", "input[name=\"pw\"]", "", "pw", 0),
                el("button", "submit", "#go", "Sign in", "go", 0),
                el("button", "submit", "#help", "Help", "help", -1),
            ],
        );
        let learned = answer(&p, &person()).unwrap();
        assert_eq!(learned.screen, Screen::SignIn);
        let steps: Vec<(Option<String>, Option<String>, Option<String>)> = learned
            .steps
            .iter()
            .map(|s| (s.fill.clone(), s.value.clone(), s.click.clone()))
            .collect();
        assert_eq!(
            steps,
            [
                (Some("#login".into()), Some("alice".into()), None),
                (
                    Some("input[name=\"pw\"]".into()),
                    Some("${PW}".into()),
                    None
                ),
                (None, None, Some("#go".into())),
            ]
        );
    }

    #[test]
    fn a_consent_screen_ticks_every_box_and_approves_and_knows_its_deny() {
        let mut zero = el("input", "checkbox", "#s2", "patient/*.rs", "s2", 0);
        zero.zero = true;
        let mut ticked = el("input", "checkbox", "#s1", "openid", "s1", 0);
        ticked.checked = true;
        let p = page(
            "the app asks for",
            vec![
                ticked,
                zero,
                el("button", "submit", "#no", "Deny", "no", 0),
                el("button", "submit", "#yes", "Allow", "yes", 0),
            ],
        );
        let learned = answer(&p, &person()).unwrap();
        assert_eq!(learned.screen, Screen::Authorize);
        assert_eq!(learned.steps.len(), 2);
        assert_eq!(learned.steps[0].check.as_deref(), Some("#s2"));
        assert_eq!(learned.steps[0].via, ClickVia::Script);
        assert_eq!(learned.steps[1].click.as_deref(), Some("#yes"));
        assert_eq!(deny_control(&p).unwrap().click.as_deref(), Some("#no"));
    }

    #[test]
    fn a_patient_picker_chooses_the_patient_given_or_the_first() {
        let mut select = el("select", "select-one", "#who", "Patient", "who patient", 0);
        select.options = vec![
            ("".into(), "Choose".into()),
            ("p-1".into(), "Ann".into()),
            ("p-2".into(), "Bob".into()),
        ];
        let p = page(
            "choose a patient",
            vec![select, el("button", "submit", "#ok", "Continue", "ok", 0)],
        );
        let learned = answer(&p, &person()).unwrap();
        assert_eq!(learned.screen, Screen::Patient);
        assert_eq!(learned.steps[0].value.as_deref(), Some("p-2"));
        assert_eq!(learned.steps[1].click.as_deref(), Some("#ok"));
        assert!(learned.steps.iter().all(|s| s.optional));
        let mut link = el("a", "", "a[href=\"/pick?patient=p-1\"]", "Ann", "", -1);
        link.href = "/pick?patient=p-1".into();
        let p = page("select a patient", vec![link]);
        let learned = answer(
            &p,
            &Person {
                patient: None,
                ..person()
            },
        )
        .unwrap();
        assert_eq!(
            learned.steps[0].click.as_deref(),
            Some("a[href=\"/pick?patient=p-1\"]")
        );
    }

    #[test]
    fn a_cookie_banner_comes_first_and_a_page_of_nothing_known_is_none() {
        let mut accept = el("button", "", "#cookies-ok", "Accept all", "cookies-ok", -1);
        accept.cookie = true;
        let p = page(
            "we use cookies",
            vec![accept, el("input", "password", "#pw", "", "pw", 0)],
        );
        let learned = answer(&p, &person()).unwrap();
        assert_eq!(learned.steps[0].click.as_deref(), Some("#cookies-ok"));
        assert!(learned.steps[0].optional);
        assert!(answer(
            &page("hello", vec![el("a", "", "#home", "Home", "", -1)]),
            &person()
        )
        .is_none());
    }
}
