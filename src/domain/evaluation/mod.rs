//! The evaluation vote of 三听 (履职测评): scoring policy, exact tally arithmetic and the
//! evaluation-session aggregate with ballot secrecy.
//!
//! # Layout, in the order a session uses it
//! * [`policy`] — the versioned [`ScoringPolicy`](policy::ScoringPolicy) document, its validation
//!   and the per-committee policy aggregate that adopts new versions.
//! * [`session`] — the evaluation-session aggregate (stream `session-<id>`): schedule, roll call,
//!   voting with sealed ballots, close, tally, announce and corrections.
//! * [`tally`] — pure functions over published ballots: counts, satisfaction rate, grade,
//!   advisory consequence, weighted score, composite score, ballot-set hash and receipts.
//!
//! Every number a committee may change lives in the policy; every decision uses exact rational
//! arithmetic. Ballot secrecy is structural: participation events carry a member and no choice,
//! sealed and published ballots carry a choice and no member.

pub mod policy;
pub mod session;
pub mod tally;

#[cfg(test)]
mod session_tests;

pub use crate::domain::ids::{AppointeeId, BallotId, MemberId, SessionId};

/// The stream of an evaluation session.
pub fn session_stream(id: &SessionId) -> String {
    format!("session-{id}")
}
