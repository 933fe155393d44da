//! The browser that plays the person at the login and consent screens. The only module that
//! names the WebDriver crate.

pub mod driver;
pub mod learn;
pub mod page;
pub mod screens;

pub use driver::{kill_all_local_drivers, BrowserPool, Network, Session};
pub use page::PageSummary;
pub use screens::{ScreenOutcome, StepFailure};
