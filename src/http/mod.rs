//! HTTP transport: one recording client per target.

pub mod client;
pub mod credentials;
pub mod exchange;
pub mod tls;

pub use client::{ClientError, HttpClient, OutgoingRequest};
pub use credentials::CredentialGuard;
pub use exchange::{Exchange, RecordedRequest, RecordedResponse};
