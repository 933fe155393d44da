//! Checks: evaluating declarative matchers on responses, and the verdicts they come to.

pub mod eval;
pub mod verdict;

pub use eval::{condition_holds, evaluate, when_holds, Evaluation};
pub use verdict::{Mismatch, Verdict};
