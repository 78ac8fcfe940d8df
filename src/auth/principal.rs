//! Who is calling: the [`Principal`] a credential stands for, its [`Role`], and the
//! [`Authenticator`] that turns a bearer token into one. Shared by every client (gRPC and the
//! pages); nothing here knows a transport.

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use crate::domain::Role;

/// The authenticated caller of an RPC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// Who: a user or token name.
    pub subject: String,
    /// In which role.
    pub role: Role,
    /// The committee (tenant) the principal belongs to, if any.
    pub committee: Option<String>,
    /// The deputy group the principal belongs to, if any.
    pub deputy_group: Option<String>,
}

/// Why a call was refused before reaching its handler.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No `authorization` header.
    #[error(
        "missing bearer token: pass `authorization: Bearer <token>` with a token from the server's administrator"
    )]
    Missing,
    /// The header is not `Bearer <token>`.
    #[error("malformed authorization header: expected `authorization: Bearer <token>`")]
    Malformed,
    /// The token is unknown or revoked.
    #[error("invalid bearer token")]
    Invalid,
    /// The token is longer than any token the server accepts: refused without being looked up.
    #[error("invalid bearer token: {bytes} bytes, more than the {max} a token may have")]
    TooLong {
        /// The length of the token sent.
        bytes: usize,
        /// The longest token accepted.
        max: usize,
    },
    /// A JWT that fails verification (signature, issuer, audience, expiry or claims).
    #[error("invalid JWT: {reason}")]
    Jwt {
        /// What is wrong with it.
        reason: String,
    },
    /// The token is past its expiry.
    #[error("the bearer token of {subject} has expired; ask an administrator for a new one")]
    Expired {
        /// Whose token it is.
        subject: String,
    },
    /// The principal's role may not call this RPC.
    #[error("role {role} may not call {path}")]
    Forbidden {
        /// The RPC's full path.
        path: String,
        /// The caller's role.
        role: Role,
    },
    /// The path has no entry in the policy table.
    #[error("{path} is not an RPC this server offers to callers")]
    UnknownMethod {
        /// The requested path.
        path: String,
    },
    /// An admin credential that names a committee: an admin acts on every committee, so the
    /// scope could not be honoured and the credential is refused rather than taken as global.
    #[error(
        "the admin credential of {subject} names committee {committee}, but an admin acts on every committee; it is refused: use an admin token that names no committee, or a clerk or auditor token for {committee}"
    )]
    ScopedAdmin {
        /// Whose credential it is.
        subject: String,
        /// The committee it names.
        committee: String,
    },
}

impl Principal {
    /// Refuses an admin that names a committee ([`AuthError::ScopedAdmin`]): every way of
    /// becoming a principal (the token store, a provider's JWT) checks it.
    pub fn refuse_scoped_admin(self) -> Result<Self, AuthError> {
        match (&self.role, &self.committee) {
            (Role::Admin, Some(committee)) => Err(AuthError::ScopedAdmin {
                subject: self.subject,
                committee: committee.clone(),
            }),
            _ => Ok(self),
        }
    }
}

/// Turns a bearer token into a principal.
pub trait Authenticator: Send + Sync + 'static {
    /// The principal the token stands for, or [`AuthError::Invalid`].
    fn authenticate(&self, bearer: &str) -> Result<Principal, AuthError>;
}
