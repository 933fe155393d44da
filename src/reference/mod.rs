//! The embedded SMART reference server: a conforming server with fault switches, so that
//! every check is proven both ways. (So far: the discovery documents.)

pub mod discovery;
pub mod faults;
pub mod server;

pub use faults::{Fault, Faults, FAULTS};
pub use server::ReferenceServer;
