//! THE results embargo: who sees an evaluation result before it is announced. Every query that
//! can show a figure of an unannounced result (session results, lists of sessions, recounts,
//! receipts, scorecards, rankings, the announcement board) asks [`sees_unannounced`].
//!
//! Only the holding committee's clerk and chair, and the operator (admin), see a tallied result
//! before the announcement. Outside the embargo an unannounced result and no result at all get
//! the same answer ([`not_announced`]), so the answer reveals neither.

use crate::app::AppError;
use crate::auth::{Principal, Role};

/// Whether `principal` sees unannounced results of a session held by `committee` (`None`: a
/// session scheduled before sessions recorded their committee).
pub fn sees_unannounced(principal: &Principal, committee: Option<&str>) -> bool {
    match principal.role {
        Role::Admin => true,
        Role::Clerk | Role::Chair => match committee {
            Some(committee) => principal.committee.as_deref() == Some(committee),
            None => true,
        },
        _ => false,
    }
}

/// The answer outside the embargo, the same for a result not announced and for no result at all
/// (so it reveals neither); `then` says what to do once it is announced, if anything.
pub fn not_announced(session: &str, then: &str) -> AppError {
    AppError::NotFound(format!(
        "session {session} has no announced result yet{then}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role, committee: Option<&str>) -> Principal {
        Principal {
            subject: "p".into(),
            role,
            committee: committee.map(str::to_string),
            deputy_group: None,
        }
    }

    #[test]
    fn only_the_holding_committees_office_and_the_admin_see_inside_the_embargo() {
        assert!(sees_unannounced(&principal(Role::Admin, None), Some("a")));
        for role in [Role::Clerk, Role::Chair] {
            assert!(sees_unannounced(&principal(role, Some("a")), Some("a")));
            assert!(!sees_unannounced(&principal(role, Some("b")), Some("a")));
            assert!(!sees_unannounced(&principal(role, None), Some("a")));
        }
        for role in [
            Role::CommitteeMember,
            Role::Deputy,
            Role::Appointee,
            Role::Reporter,
            Role::Auditor,
        ] {
            assert!(!sees_unannounced(&principal(role, Some("a")), Some("a")));
            assert!(!sees_unannounced(&principal(role, None), None));
        }
    }
}
