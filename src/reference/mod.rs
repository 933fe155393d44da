//! The embedded SMART reference server: a conforming SMART App Launch 2.2 server with fault
//! switches, so that every check is proven both ways.

// Handlers return an early `Response` as the error of small helpers; boxing it would only add noise.
#[allow(clippy::result_large_err)]
pub mod app_state;
#[allow(clippy::result_large_err)]
pub mod authorize;
pub mod brands;
pub mod connections;
pub mod cors;
pub mod data;
pub mod debug;
pub mod discovery;
pub mod faults;
#[allow(clippy::result_large_err)]
pub mod fhir;
#[allow(clippy::result_large_err)]
pub mod introspection;
pub mod oauth;
pub mod pages;
pub mod refusals;
#[allow(clippy::result_large_err)]
pub mod registration;
pub mod scopes;
pub mod server;
pub mod store;
#[allow(clippy::result_large_err)]
pub mod token;

pub use faults::{Fault, Faults, ALSO_BREAKS, FAULTS};
pub use server::{Config, ReferenceServer};
