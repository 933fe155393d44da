//! The requirement catalogue: every requirement a check may cite, from the published texts.

pub mod catalogue;
pub mod citation;
pub mod coverage;
pub mod levels;

pub use catalogue::{Binds, Catalogue, Entry, ReqLevel, Source, Verification};
