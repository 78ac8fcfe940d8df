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

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::domain::Rejection;

/// The longest id accepted: a UUID with a prefix fits, and it stays a short key.
pub const MAX_ID_LEN: usize = 64;

/// The form every id shares: 1..=64 ascii letters, digits, `_` or `-` (an id ends up in stream
/// names and store keys).
fn check_id(field: &str, raw: &str) -> Result<(), Rejection> {
    if raw.is_empty() {
        return Err(Rejection::invalid(field, "must not be empty"));
    }
    if raw.len() > MAX_ID_LEN {
        return Err(Rejection::invalid(
            field,
            format!("must be at most {MAX_ID_LEN} characters"),
        ));
    }
    if !raw
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(Rejection::invalid(
            field,
            "must contain only ascii letters, digits, '_' or '-'",
        ));
    }
    Ok(())
}

// Local until the shared `domain::ids` module lands; the API (`parse`, `as_str`, serde as a
// checked string, `Display`) mirrors it so the swap is a change of `use` lines.
macro_rules! define_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses an id, naming the field it came from when it is malformed.
            pub fn parse(raw: impl Into<String>) -> Result<Self, Rejection> {
                let raw = raw.into();
                check_id($field, &raw)?;
                Ok(Self(raw))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = Rejection;
            fn try_from(raw: String) -> Result<Self, Rejection> {
                Self::parse(raw)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

define_id!(
    /// A voter: a committee member, or a deputy when deputies are the constituency.
    MemberId,
    "member_id"
);
define_id!(
    /// An appointee rated in a session (a subject of the vote).
    AppointeeId,
    "appointee_id"
);
define_id!(
    /// An evaluation session; its stream is `session-<id>`.
    SessionId,
    "session_id"
);
define_id!(
    /// The random receipt a voter gets back: the only handle on a ballot, and it names no voter.
    BallotId,
    "ballot_id"
);

/// The stream of an evaluation session.
pub fn session_stream(id: &SessionId) -> String {
    format!("session-{id}")
}

/// The roles this module checks; they match the principal's role string in the context.
pub mod roles {
    /// The committee office: runs sessions and files corrections.
    pub const CLERK: &str = "clerk";
    /// The council of chairpersons: adopts scoring policies.
    pub const CHAIR: &str = "chair";
    /// A standing-committee member: casts own ballots (the API's `committee_member` role).
    pub const MEMBER: &str = "committee_member";
    /// A deputy: casts own ballots when deputies are the constituency.
    pub const DEPUTY: &str = "deputy";
}
