//! The application layer's one error type. Every client maps it once: the gRPC boundary to a
//! status (`api::status`), the pages to an HTTP answer. Messages are for people: lowercase, in
//! the words of the request, saying what to do.

use thiserror::Error;

use crate::auth::Principal;
use crate::ballot_box::BallotBoxError;
use crate::domain::Rejection;
use crate::handler::HandlerError;
use crate::log::{AppendError, InvalidInput, ReadError, SubscriptionError};
use crate::projection::ProjectionError;

/// Why a command or a query was not carried out. Nothing is written when a command returns one.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AppError {
    /// The request breaks a rule of form, or the domain refused it.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The principal may not do this (the role may, but not here: another committee, another
    /// appointee's records, a parent reading a child's records).
    #[error("{0}")]
    Denied(String),
    /// What the request addresses does not exist, or is not visible to the caller (an
    /// unannounced result outside the embargo's readers).
    #[error("{0}")]
    NotFound(String),
    /// The request is well-formed but the state does not allow it.
    #[error("{0}")]
    Precondition(String),
    /// Something the server needs is not available now; retrying later may work.
    #[error("{0}")]
    Unavailable(String),
    /// A raw append or read input that breaks a rule of the log.
    #[error(transparent)]
    Input(#[from] InvalidInput),
    /// The command handler failed (a rejection, a conflict, a reused command id, storage).
    #[error(transparent)]
    Handler(#[from] HandlerError),
    /// A read model failed or is not yet at the position asked for.
    #[error(transparent)]
    Projection(#[from] ProjectionError),
    /// Reading the log failed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// Appending to the log failed.
    #[error(transparent)]
    Append(#[from] AppendError),
    /// A subscription to the log ended.
    #[error(transparent)]
    Subscription(#[from] SubscriptionError),
    /// The sealed ballot box failed.
    #[error(transparent)]
    BallotBox(#[from] BallotBoxError),
}

impl AppError {
    /// A field that breaks a rule of form, e.g. `AppError::invalid("date", "must be …")`.
    pub fn invalid(field: impl Into<String>, rule: impl std::fmt::Display) -> Self {
        AppError::Rejected(Rejection::invalid(field, rule))
    }

    /// A broken rule of state.
    pub fn precondition(rule: impl std::fmt::Display) -> Self {
        AppError::Precondition(rule.to_string())
    }

    /// Something that does not exist.
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        AppError::NotFound(what.to_string())
    }

    /// A refusal naming the principal's role and committee and what it may not do, e.g.
    /// `role clerk of committee a may not act on committee b`.
    pub fn denied(principal: &Principal, what: &str) -> Self {
        let own = principal.committee.as_deref().unwrap_or("none");
        AppError::Denied(format!(
            "role {} of committee {own} may not {what}",
            principal.role
        ))
    }
}
