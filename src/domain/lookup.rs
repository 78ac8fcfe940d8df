//! Facts about *other* aggregates that a command needs, looked up by the handler before deciding.
//!
//! `decide` sees only its own aggregate's state, so a rule such as "the committee must exist" or
//! "the appointee must belong to the same committee" cannot be checked by reading another stream.
//! Instead the handler loads the other aggregate, takes its `facts()` and puts a [`Lookup`] into
//! the command: the decision stays pure, and the test of the rule is a plain value in a unit test.
//! (The handler appends with an expected revision on the addressed stream only; a fact about
//! another stream may be a moment stale, which is acceptable for these existence/ownership rules
//! because committees, groups and appointees are never deleted.)

use serde::{Deserialize, Serialize};

use super::Rejection;
use super::committee::CommitteeLevel;
use super::ids::{AppointeeId, CommitteeId, DeputyGroupId};

/// What the handler found under `id`: `Some(facts)` when the aggregate exists, `None` when its
/// stream is empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lookup<I, F> {
    /// The id the command refers to.
    pub id: I,
    /// What the referenced aggregate says about itself, if it exists.
    pub found: Option<F>,
}

impl<I: std::fmt::Display, F> Lookup<I, F> {
    /// A reference to something that exists.
    pub fn found(id: I, facts: F) -> Self {
        Lookup {
            id,
            found: Some(facts),
        }
    }

    /// A reference to something the handler did not find.
    pub fn missing(id: I) -> Self {
        Lookup { id, found: None }
    }

    /// The facts, or a not-found rejection naming the kind of thing and its id.
    pub fn require(&self, kind: &str) -> Result<&F, Rejection> {
        self.found
            .as_ref()
            .ok_or_else(|| Rejection::NotFound(format!("{kind} {} does not exist", self.id)))
    }
}

/// What a command needs to know about a committee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitteeFacts {
    /// Its level, to check parent/child relations.
    pub level: CommitteeLevel,
}

/// What a command needs to know about an appointee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppointeeFacts {
    /// The committee that appointed them (all data belongs to exactly one committee).
    pub committee: CommitteeId,
    /// Whether their term is still running.
    pub in_office: bool,
}

/// What a command needs to know about a deputy group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeputyGroupFacts {
    /// The committee the group works with.
    pub committee: CommitteeId,
}

/// A looked-up committee.
pub type CommitteeRef = Lookup<CommitteeId, CommitteeFacts>;
/// A looked-up appointee.
pub type AppointeeRef = Lookup<AppointeeId, AppointeeFacts>;
/// A looked-up deputy group.
pub type DeputyGroupRef = Lookup<DeputyGroupId, DeputyGroupFacts>;

/// Requires an appointee that exists, is in office and belongs to `committee`.
pub fn require_appointee_of(
    field: &str,
    appointee: &AppointeeRef,
    committee: &CommitteeId,
) -> Result<(), Rejection> {
    let facts = appointee.require("appointee")?;
    if &facts.committee != committee {
        return Err(Rejection::precondition(format!(
            "{field}: appointee {} belongs to committee {}, not {committee}",
            appointee.id, facts.committee
        )));
    }
    if !facts.in_office {
        return Err(Rejection::precondition(format!(
            "{field}: appointee {}'s term has ended",
            appointee.id
        )));
    }
    Ok(())
}
