//! The gRPC boundary: the only module that knows tonic and prost types.
//!
//! A request flows through, in order:
//! * [`auth`] — a tower layer over the whole server turns the bearer token into a
//!   [`auth::Principal`] and applies the one policy table ([`auth::rule`]);
//! * [`oidc`] — optional verification of OpenID Connect JWTs next to the own tokens;
//! * [`limits`] — the global concurrency limit and the per-principal rate limit;
//! * [`convert`] — validates generated proto messages once, into log types, and back;
//! * [`context`] — what every domain RPC shares: the caller, the clock, read-your-writes waits
//!   and page tokens ([`context::App`]);
//! * [`eventlog`] — the `oversight.v1.EventLog` service over an [`crate::log::EventStore`];
//!   [`audit`] records each of its reads in the log;
//! * [`evaluation`] — the `oversight.v1.Evaluation` service: scoring policies, sessions, secret
//!   ballots (through the sealed [`crate::ballot_box`]), tallies, embargoed results
//!   ([`evaluation_convert`] holds its message conversions);
//! * [`reports`] — the `oversight.v1.Reports` service: scorecards and rankings computed at query
//!   time from one snapshot of the views;
//! * [`operations`] — the `oversight.v1.Operations` service: head, view lag, rebuilds;
//! * [`supervision`] — the `oversight.v1.Supervision` service: site visits, inspections, plans;
//! * [`findings`] — the `oversight.v1.Findings` service: findings and the findings board;
//! * [`registry`] — the `oversight.v1.Registry` service: committees, appointees, deputy groups;
//! * [`hearings`] — the `oversight.v1.Hearings` service: duty reports, stakeholder feedback;
//! * [`policy`] — committee-adopted supervision policies: the two Registry RPCs and how every
//!   service finds the policy in force;
//! * [`fields`] — shared field parsing;
//! * [`status`] — the one place where errors become gRPC statuses;
//! * [`tokens`] — issuing, listing and revoking the tokens of `tokens.json`.

pub mod audit;
pub mod auth;
pub mod context;
pub mod convert;
pub mod evaluation;
pub mod evaluation_convert;
pub mod eventlog;
pub mod fields;
pub mod findings;
pub mod hearings;
pub mod limits;
pub mod operations;
pub mod policy;
pub mod policy_doc;
pub mod registry;
pub mod reports;
pub mod rules;
pub mod status;
pub mod supervision;

pub use crate::app::{App, Clock, SystemClock};
pub use crate::auth::{Authenticator, Principal, Role, TokenStore};
pub use auth::AuthLayer;
pub use evaluation::EvaluationService;
pub use eventlog::EventLogService;
pub use findings::FindingsService;
pub use hearings::HearingsService;
pub use operations::OperationsService;
pub use registry::RegistryService;
pub use reports::ReportsService;
pub use supervision::SupervisionService;
