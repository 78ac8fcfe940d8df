//! The supervision domain: commands, events and aggregates. Pure and synchronous: no I/O, no
//! clock, no tokio, no redb. Time, ids and the acting principal arrive with each command in a
//! [`Context`]; every number a committee may change is a policy setting, never a constant.
//!
//! An aggregate turns a command into events with [`Aggregate::decide`] (or rejects it with a
//! typed [`Rejection`] and emits nothing) and folds its own events with the infallible
//! [`Aggregate::apply`].

pub mod annual_plan;
pub mod appointee;
pub mod catalog;
pub mod committee;
pub mod deputy_group;
pub mod evaluation;
pub mod finding;
pub mod hearing;
pub mod ids;
pub mod inspection;
pub mod lookup;
#[cfg(test)]
mod properties;
pub mod role;
pub mod supervision_policy;
#[cfg(test)]
mod testing;
pub mod validate;
pub mod visit;

use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use role::Role;

/// Who acts, and when: supplied by the caller, recorded in event metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    /// The moment the command is decided (the server's clock, read outside the domain).
    pub now: DateTime<Utc>,
    /// The principal's subject.
    pub actor: String,
    /// The role the principal acts in.
    pub role: Role,
}

/// Why a command was refused. Nothing is emitted when a command is rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The command is malformed: a field breaks a rule of form (→ INVALID_ARGUMENT).
    #[error("{field} {rule}")]
    Invalid {
        /// The field, e.g. `ratings.service_quality`.
        field: String,
        /// The rule broken, lowercase, e.g. `must be between 1 and 5`.
        rule: String,
    },
    /// The command is well-formed but breaks a rule of the current state (→ FAILED_PRECONDITION).
    #[error("{0}")]
    Precondition(String),
    /// The thing the command addresses does not exist (→ NOT_FOUND).
    #[error("{0}")]
    NotFound(String),
}

impl Rejection {
    /// A malformed field.
    pub fn invalid(field: impl Into<String>, rule: impl fmt::Display) -> Self {
        Rejection::Invalid {
            field: field.into(),
            rule: rule.to_string(),
        }
    }

    /// A broken rule of state.
    pub fn precondition(rule: impl fmt::Display) -> Self {
        Rejection::Precondition(rule.to_string())
    }
}

/// An event of the domain: past-tense, versioned, serialized as JSON in the log.
pub trait DomainEvent: Serialize + DeserializeOwned + Clone + fmt::Debug {
    /// The versioned type name stored in the log, e.g. `AppointeeRegistered.v1`.
    fn event_type(&self) -> &'static str;

    /// Decodes a stored payload. An aggregate's events are an internally tagged enum, which
    /// serde decodes by first buffering the whole document to find its tag; an event type that
    /// is folded often may read its own struct directly when the tag comes first (see
    /// [`tagged_first`]), accepting the same documents (but for one with a second `type`
    /// member, which the enum refuses and the struct reads by its first).
    fn from_json(data: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(data)
    }
}

/// Whether `data` opens with the member `"type":"<tag>"`, as this program writes an event (serde
/// writes an internally tagged enum's tag first, with no spaces). A payload written otherwise,
/// e.g. by a client appending raw JSON, is decoded through the enum.
pub fn tagged_first(data: &[u8], tag: &str) -> bool {
    data.strip_prefix(br#"{"type":""#)
        .and_then(|rest| rest.strip_prefix(tag.as_bytes()))
        .is_some_and(|rest| rest.starts_with(b"\","))
}

/// A consistency boundary with its own stream in the log.
pub trait Aggregate: Default + Clone + fmt::Debug + Send + Sync + 'static {
    /// What can be asked of it.
    type Command: Send + Sync;
    /// What it records.
    type Event: DomainEvent + Send + Sync;

    /// Decides what happens; never mutates, never fails silently.
    fn decide(&self, command: &Self::Command, ctx: &Context)
    -> Result<Vec<Self::Event>, Rejection>;

    /// Folds one of its own events into its state. Infallible: events are history.
    fn apply(&mut self, event: &Self::Event);

    /// Folds a sequence of events from the default state.
    fn replay<'a>(events: impl IntoIterator<Item = &'a Self::Event>) -> Self
    where
        Self::Event: 'a,
    {
        let mut state = Self::default();
        for event in events {
            state.apply(event);
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::tagged_first;

    #[test]
    fn only_a_leading_exact_tag_member_counts_as_tagged_first() {
        assert!(tagged_first(
            br#"{"type":"VisitFiled.v1","visit":"v"}"#,
            "VisitFiled.v1"
        ));
        for data in [
            &br#"{"type":"VisitFiled.v10","visit":"v"}"#[..],
            br#"{"type":"VisitFiled.v1"}"#,
            br#"{ "type":"VisitFiled.v1","visit":"v"}"#,
            br#"{"visit":"v","type":"VisitFiled.v1"}"#,
            br#"{"type":"VisitCorrected.v1","visit":"v"}"#,
            br#"{"type":"VisitFiled"#,
            b"",
        ] {
            assert!(
                !tagged_first(data, "VisitFiled.v1"),
                "{}",
                String::from_utf8_lossy(data)
            );
        }
    }
}
