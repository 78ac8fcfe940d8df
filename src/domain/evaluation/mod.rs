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

use serde::{Deserialize, Serialize};

/// A voter (a committee member, or a deputy when deputies are the constituency).
///
/// Local to this module until the domain grows shared id types.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MemberId(pub String);

/// An appointee rated in a session (a subject of the vote).
///
/// Local to this module until the domain grows shared id types.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AppointeeRef(pub String);

/// The random receipt a voter gets back: the only handle on a ballot, and it names no voter.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BallotId(pub String);

/// The roles this module checks; they match the principal's role string in the context.
pub mod roles {
    /// The committee office: runs sessions and files corrections.
    pub const CLERK: &str = "clerk";
    /// The council of chairpersons: adopts scoring policies.
    pub const CHAIR: &str = "chair";
    /// A standing-committee member: casts own ballots.
    pub const MEMBER: &str = "member";
    /// A deputy: casts own ballots when deputies are the constituency.
    pub const DEPUTY: &str = "deputy";
}

impl std::fmt::Display for MemberId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Display for AppointeeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Display for BallotId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
