//! The gRPC boundary: the only module that knows tonic and prost types.
//!
//! A request flows through, in order:
//! * [`auth`] — a tower layer over the whole server turns the bearer token into a
//!   [`auth::Principal`] and applies the one policy table ([`auth::rule`]);
//! * [`convert`] — validates generated proto messages once, into log types, and back;
//! * [`eventlog`] — the `oversight.v1.EventLog` service over an [`crate::log::EventStore`];
//! * [`status`] — the one place where errors become gRPC statuses.

pub mod auth;
pub mod convert;
pub mod eventlog;
pub mod status;

pub use auth::{AuthLayer, Authenticator, Principal, Role, TokenStore};
pub use eventlog::EventLogService;
