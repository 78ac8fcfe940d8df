//! The roles people act in. The domain decides some rules by role (only the clerk runs a
//! session, only the chair adopts a scoring policy); the principal's role arrives in the
//! command's [`Context`](crate::domain::Context).

use std::fmt;

use serde::{Deserialize, Serialize};

/// What a principal may act as: the roles of the committee's practice (DOMAIN.md, "who may see
/// what") and the operator's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Operates the service; full access.
    Admin,
    /// The committee office (办事机构).
    Clerk,
    /// The council of chairpersons (主任会议).
    Chair,
    /// A member of the standing committee; votes in evaluation sessions.
    CommitteeMember,
    /// A deputy in a deputy group; files site visits.
    Deputy,
    /// An appointee under supervision.
    Appointee,
    /// Reads announced results.
    Reporter,
    /// Reads the log to check it.
    Auditor,
}

impl Role {
    /// The role's name as recorded in event metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Clerk => "clerk",
            Role::Chair => "chair",
            Role::CommitteeMember => "committee_member",
            Role::Deputy => "deputy",
            Role::Appointee => "appointee",
            Role::Reporter => "reporter",
            Role::Auditor => "auditor",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
