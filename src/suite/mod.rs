//! The suite language: the file formats of suites and targets, loading, templating and errors.

pub mod error;
pub mod load;
pub mod model;
pub mod ops;
pub mod position;
pub mod target;
pub mod template;
pub mod variants;

pub use error::LoadError;
pub use load::{
    collect_suite_files, collect_target_files, load_any, load_bytes, load_suite, load_target,
    Loaded,
};
pub use model::{Case, Check, Level, Requirement, Step, Suite};
pub use position::Location;
pub use target::Target;
