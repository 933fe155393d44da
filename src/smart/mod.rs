//! The SMART App Launch client side as protocol code: it builds requests and reads answers;
//! the transport is passed in by the runner.

pub mod authorize;
pub mod callback;
pub mod client;
pub mod discovery;
pub mod framing;
pub mod id_token;
pub mod keys;
pub mod pkce;
pub mod scopes;
pub mod signer;
pub mod token;
