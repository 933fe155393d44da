//! Plays a target's screen steps (`fill`, `click`, `select`, `check`, `wait-for`,
//! `wait-for-url`) with real waits: each step polls for its element until its timeout, and the
//! whole screen stops as soon as the redirect has arrived. An optional step also stops
//! waiting once a later screen shows (see [`play`]).

use std::time::Duration;

use thirtyfour::prelude::*;
use tokio_util::sync::CancellationToken;

use super::Session;
use crate::suite::target::{ClickVia, ScreenStep};

/// The longest pause between two looks at the page.
const POLL: Duration = Duration::from_millis(100);

/// Pauses between looks at the page: 20 ms at first, doubling up to [`POLL`], so that a page
/// that is there a moment later is seen at once, and a slow one is not asked too often.
struct Backoff(Duration);

impl Backoff {
    fn new() -> Self {
        Backoff(Duration::from_millis(20))
    }

    async fn pause(&mut self) {
        tokio::time::sleep(self.0).await;
        self.0 = (self.0 * 2).min(POLL);
    }
}

/// How playing a screen ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ScreenOutcome {
    /// Every step ran (optional ones that did not show up were passed over).
    Done,
    /// The redirect arrived before the steps ran out.
    Redirected,
    /// The run was interrupted.
    Cancelled,
}

/// A required step that could not be played.
#[derive(Debug, Clone, PartialEq)]
pub struct StepFailure {
    /// e.g. `sign-in[2] click "#sign-in"`.
    pub step: String,
    pub reason: String,
}

/// What a step waits for: its selector, or the URL pattern of `wait-for-url`.
fn what(step: &ScreenStep) -> String {
    match (&step.wait_for_url, selector_of(step)) {
        (Some(pattern), _) => format!("a page URL matching /{pattern}/"),
        (None, Some(selector)) => format!("{selector:?}"),
        (None, None) => "nothing".into(),
    }
}

fn selector_of(step: &ScreenStep) -> Option<&String> {
    step.fill
        .as_ref()
        .or(step.click.as_ref())
        .or(step.select.as_ref())
        .or(step.check.as_ref())
        .or(step.wait_for.as_ref())
}

fn describe(screen: &str, index: usize, step: &ScreenStep) -> String {
    let (action, target) = step.action().unwrap_or(("nothing", ""));
    format!("{screen}[{index}] {action} {target:?}")
}

/// Plays `steps` of the screen `screen`. `redirected` says whether the redirect has arrived.
///
/// `ahead` are the first steps of the screens that come after this one: an optional step
/// whose element is not there is passed over once one of them has shown for [`AHEAD_GRACE`]
/// (so that a page still being drawn gets a moment), instead of waiting its whole timeout. A
/// patient picker that an EHR launch never shows costs a poll, not its timeout.
/// Each optional step passed over goes into `passed_over`, with the reason.
#[allow(clippy::too_many_arguments)]
pub async fn play(
    session: &Session,
    screen: &str,
    steps: &[ScreenStep],
    ahead: &[&ScreenStep],
    default_timeout: Duration,
    redirected: &(dyn Fn() -> bool + Sync),
    cancel: &CancellationToken,
    passed_over: &mut Vec<String>,
) -> Result<ScreenOutcome, StepFailure> {
    for (index, step) in steps.iter().enumerate() {
        if redirected() {
            return Ok(ScreenOutcome::Redirected);
        }
        let timeout = step.timeout.unwrap_or(default_timeout);
        let label = describe(screen, index, step);
        // The screen's last click usually submits it: mark the page, so that the next screen
        // starts on the page that comes after, not on this one while it is still showing.
        let submits = step.click.is_some() && index + 1 == steps.len();
        if submits {
            mark_page(session).await;
        }
        // The step polls within `timeout`; one WebDriver command stuck on a page that never
        // loads must not hold it longer.
        let bounded = tokio::time::timeout(
            timeout + Duration::from_secs(2),
            play_step(
                session,
                step,
                timeout,
                redirected,
                if step.optional { ahead } else { &[] },
            ),
        );
        let result = tokio::select! {
            r = bounded => r.unwrap_or_else(|_| Err(format!(
                "timed out after {} waiting for {} (the browser did not answer)",
                humantime::format_duration(timeout),
                what(step)
            ))),
            _ = cancel.cancelled() => return Ok(ScreenOutcome::Cancelled),
        };
        match result {
            Ok(StepResult::Played) => {
                if submits {
                    left_page(session, timeout.min(LEAVE_WAIT), redirected).await;
                }
            }
            Ok(StepResult::Redirected) => return Ok(ScreenOutcome::Redirected),
            Err(reason) if step.optional => {
                tracing::debug!("optional step {label} passed over: {reason}");
                passed_over.push(format!("{label}: {reason}"));
            }
            Err(reason) => {
                return Err(StepFailure {
                    step: label,
                    reason,
                })
            }
        }
    }
    Ok(ScreenOutcome::Done)
}

enum StepResult {
    Played,
    Redirected,
}

/// How long a screen's last click may take to lead to another page before the next screen
/// starts anyway (a click that changes the page in place, without a new document).
const LEAVE_WAIT: Duration = Duration::from_secs(3);

/// A mark on the page's document, gone when another document replaces it.
async fn mark_page(session: &Session) {
    let _ = session
        .driver
        .execute("window.__smartcheckScreen = true;", vec![])
        .await;
}

/// Waits, at most `limit`, until the marked document is gone (or the redirect came).
async fn left_page(session: &Session, limit: Duration, redirected: &(dyn Fn() -> bool + Sync)) {
    let deadline = tokio::time::Instant::now() + limit;
    let mut backoff = Backoff::new();
    while tokio::time::Instant::now() < deadline && !redirected() {
        let still = session
            .driver
            .execute("return window.__smartcheckScreen === true;", vec![])
            .await
            .ok()
            .and_then(|v| v.json().as_bool());
        if still != Some(true) {
            return;
        }
        backoff.pause().await;
    }
}

/// A page that re-renders or navigates between finding an element and acting on it.
fn is_stale(e: &WebDriverError) -> bool {
    e.to_string().to_ascii_lowercase().contains("stale")
}

/// Polls for an element at `selector`: a visible one, or with `any` the first in the page
/// (a zero-size check box that a pointer or a script reaches).
async fn element(
    session: &Session,
    selector: &str,
    timeout: Duration,
    watch: &Watch<'_>,
    any: bool,
) -> Result<Option<WebElement>, String> {
    let deadline = tokio::time::Instant::now() + timeout;
    element_until(session, selector, deadline, timeout, watch, any).await
}

/// What a step watches while it waits for its own element: the redirect, and (for an optional
/// step) the first steps of the screens after it.
struct Watch<'a> {
    redirected: &'a (dyn Fn() -> bool + Sync),
    ahead: &'a [&'a ScreenStep],
}

impl Watch<'_> {
    /// The first of `ahead` that the page shows: a visible element at its selector, or a page
    /// address that matches its `wait-for-url`.
    async fn next_screen(&self, session: &Session) -> Option<String> {
        for step in self.ahead {
            if let Some(pattern) = &step.wait_for_url {
                let url = session.current_url().await.unwrap_or_default();
                if regex::Regex::new(pattern).is_ok_and(|re| re.is_match(&url)) {
                    return Some(what(step));
                }
            } else if let Some(selector) = selector_of(step) {
                if let Ok(found) = session.driver.find_all(By::Css(selector)).await {
                    for el in found {
                        if el.is_displayed().await.unwrap_or(false) {
                            return Some(what(step));
                        }
                    }
                }
            }
        }
        None
    }
}

/// How long a later screen must have been showing before an optional step is passed over.
const AHEAD_GRACE: Duration = Duration::from_millis(200);

/// Whether a later screen has now shown for [`AHEAD_GRACE`]; `since` is when it was first
/// seen in an unbroken row of looks.
async fn next_screen_settled(
    watch: &Watch<'_>,
    session: &Session,
    since: &mut Option<tokio::time::Instant>,
) -> Option<String> {
    if watch.ahead.is_empty() {
        return None;
    }
    match watch.next_screen(session).await {
        Some(next) => {
            let first = *since.get_or_insert_with(tokio::time::Instant::now);
            (first.elapsed() >= AHEAD_GRACE).then_some(next)
        }
        None => {
            *since = None;
            None
        }
    }
}

/// [`element`] with a deadline of its own; `timeout` is what a failure says was waited.
async fn element_until(
    session: &Session,
    selector: &str,
    deadline: tokio::time::Instant,
    timeout: Duration,
    watch: &Watch<'_>,
    any: bool,
) -> Result<Option<WebElement>, String> {
    let mut last = String::from("no element matches");
    let mut ahead_since = None;
    let mut backoff = Backoff::new();
    loop {
        if (watch.redirected)() {
            return Ok(None);
        }
        match session.driver.find_all(By::Css(selector)).await {
            Ok(found) => {
                for el in found {
                    if any || el.is_displayed().await.unwrap_or(false) {
                        return Ok(Some(el));
                    }
                    last = "the element is not visible".into();
                }
            }
            Err(e) => last = format!("{e}"),
        }
        if let Some(next) = next_screen_settled(watch, session, &mut ahead_since).await {
            return Err(format!(
                "{selector:?} did not show before the next screen ({next}): {last}"
            ));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "timed out after {} waiting for {selector:?}: {last} (page: {})",
                humantime::format_duration(timeout),
                session.current_url().await.unwrap_or_default()
            ));
        }
        backoff.pause().await;
    }
}

async fn play_step(
    session: &Session,
    step: &ScreenStep,
    timeout: Duration,
    redirected: &(dyn Fn() -> bool + Sync),
    ahead: &[&ScreenStep],
) -> Result<StepResult, String> {
    let watch = Watch { redirected, ahead };
    if let Some(pattern) = &step.wait_for_url {
        return wait_for_url(session, pattern, timeout, &watch).await;
    }
    let selector = selector_of(step).ok_or("the step has no action")?;
    let reach = step.click.is_some() || step.check.is_some();
    let any = reach && step.via != ClickVia::Webdriver;
    if step.fill.is_some() || step.click.is_some() {
        return fill_or_click(session, step, selector, timeout, &watch, any).await;
    }
    let fail = |what: &str, e: WebDriverError| format!("cannot {what} {selector:?}: {e}");
    let Some(el) = element(session, selector, timeout, &watch, any).await? else {
        return Ok(StepResult::Redirected);
    };
    if step.select.is_some() {
        let wanted = step.value.as_deref().unwrap_or_default();
        let Some(option) = option_of(&el, selector, wanted, timeout, redirected).await? else {
            return Ok(StepResult::Redirected);
        };
        option
            .click()
            .await
            .map_err(|e| fail("choose an option of", e))?;
        if !option.is_selected().await.unwrap_or(false) {
            return Err(format!(
                "{selector:?}: the option {wanted:?} did not become selected"
            ));
        }
    } else if step.check.is_some() && !el.is_selected().await.map_err(|e| fail("read", e))? {
        click(session, &el, step.via)
            .await
            .map_err(|e| fail("tick", e))?;
        if !el.is_selected().await.unwrap_or(false) {
            return Err(format!("{selector:?} did not become ticked"));
        }
    }
    Ok(StepResult::Played)
}

/// A `wait-for-url` step: the page's URL comes to match `pattern`.
async fn wait_for_url(
    session: &Session,
    pattern: &str,
    timeout: Duration,
    watch: &Watch<'_>,
) -> Result<StepResult, String> {
    let re = regex::Regex::new(pattern).map_err(|e| e.to_string())?;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut ahead_since = None;
    let mut backoff = Backoff::new();
    loop {
        if (watch.redirected)() {
            return Ok(StepResult::Redirected);
        }
        let url = session.current_url().await.unwrap_or_default();
        if re.is_match(&url) {
            return Ok(StepResult::Played);
        }
        if let Some(next) = next_screen_settled(watch, session, &mut ahead_since).await {
            return Err(format!(
                "no page URL matching /{pattern}/ before the next screen ({next}); the page is at {url}"
            ));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "timed out after {} waiting for a page URL matching /{pattern}/ (the page is at {url})",
                humantime::format_duration(timeout)
            ));
        }
        backoff.pause().await;
    }
}

/// A `fill` or `click` step. An element that went stale (the page re-rendered or moved on) is
/// found again, as long as the step's time lasts.
async fn fill_or_click(
    session: &Session,
    step: &ScreenStep,
    selector: &str,
    timeout: Duration,
    watch: &Watch<'_>,
    any: bool,
) -> Result<StepResult, String> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let found = element_until(session, selector, deadline, timeout, watch, any);
        let Some(el) = found.await? else {
            return Ok(StepResult::Redirected);
        };
        let acted = if step.fill.is_some() {
            let value = step.value.as_deref().unwrap_or_default();
            match el.clear().await {
                Ok(()) => el.send_keys(value).await.map_err(|e| ("type into", e)),
                Err(e) => Err(("clear", e)),
            }
        } else {
            click(session, &el, step.via)
                .await
                .map_err(|e| ("click", e))
        };
        match acted {
            Ok(()) => return Ok(StepResult::Played),
            Err((_, e)) if is_stale(&e) && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(POLL).await;
            }
            Err((what, e)) => return Err(format!("cannot {what} {selector:?}: {e}")),
        }
    }
}

/// The option of a select whose value or text is `wanted`, waited for (a script may fill the
/// options in after the page loads); `None` when a redirect came first.
async fn option_of(
    el: &WebElement,
    selector: &str,
    wanted: &str,
    timeout: Duration,
    redirected: &(dyn Fn() -> bool + Sync),
) -> Result<Option<WebElement>, String> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut backoff = Backoff::new();
    loop {
        if redirected() {
            return Ok(None);
        }
        let options = el
            .find_all(By::Css("option"))
            .await
            .map_err(|e| format!("cannot read the options of {selector:?}: {e}"))?;
        let mut seen = Vec::new();
        for option in options {
            let value = option.attr("value").await.ok().flatten();
            let text = option.text().await.unwrap_or_default();
            if value.as_deref() == Some(wanted) || text.trim() == wanted {
                return Ok(Some(option));
            }
            seen.push(text.trim().to_string());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "{selector:?} has no option with value or text {wanted:?} within {} (options: {})",
                humantime::format_duration(timeout),
                if seen.is_empty() {
                    "none".to_string()
                } else {
                    seen.join(", ")
                }
            ));
        }
        backoff.pause().await;
    }
}

/// Clicks an element the way the step says: WebDriver's element click; the mouse pressed at
/// the middle of the element's box (of its first label's box when the element has no size, as
/// a person clicks the styled label of a hidden check box); or the element's own `click()`.
async fn click(session: &Session, el: &WebElement, via: ClickVia) -> Result<(), WebDriverError> {
    match via {
        ClickVia::Webdriver => el.click().await,
        ClickVia::Script => {
            session
                .driver
                .execute("arguments[0].click();", vec![el.to_json()?])
                .await?;
            Ok(())
        }
        ClickVia::Pointer => {
            let point = session
                .driver
                .execute(
                    r#"const el = arguments[0];
                       el.scrollIntoView({block: "center", inline: "center"});
                       let box = el.getBoundingClientRect();
                       if ((box.width === 0 || box.height === 0) && el.labels && el.labels.length) {
                         el.labels[0].scrollIntoView({block: "center", inline: "center"});
                         box = el.labels[0].getBoundingClientRect();
                       }
                       return [Math.round(box.left + box.width / 2), Math.round(box.top + box.height / 2)];"#,
                    vec![el.to_json()?],
                )
                .await?;
            let (x, y): (i64, i64) = point.convert()?;
            session
                .driver
                .action_chain()
                .move_to(x, y)
                .click()
                .perform()
                .await
        }
    }
}
