//! smartcheck: checks that a FHIR server's SMART App Launch authorization works as the
//! specification says, end to end, from YAML suites run against YAML targets.

pub mod app;
pub mod browser;
pub mod builtin;
pub mod check;
pub mod cli;
pub mod doctor;
pub mod environment;
pub mod exit;
pub(crate) mod files;
pub mod history;
pub mod http;
pub mod init;
pub mod interrupt;
pub mod logging;
pub mod markup;
pub mod redact;
pub mod reference;
pub mod report;
pub mod requirements;
pub mod runner;
pub mod secret;
pub mod smart;
pub mod suite;
