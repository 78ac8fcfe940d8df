//! Which committee's data a principal may touch, checked by the Registry and Hearings services
//! after the role check of the policy table (`auth::rule`) has let the call in.
//!
//! The rules, cheap to check because the target's committee is at hand:
//! * an admin acts and reads everywhere;
//! * an appointee acts and reads only on their own records: the token's subject is the
//!   appointee id;
//! * anyone else acts only on the committee named in their token, and reads that committee and
//!   its children (the city sees its districts); an auditor without a committee reads everywhere.
//!
//! Everything else is PERMISSION_DENIED, naming the role and the committee.

use tonic::Status;

use crate::api::auth::{Principal, Role};
use crate::projection::registry::{self, CommitteeDoc};
use crate::projection::{ProjectionError, ViewRead};

fn denied(principal: &Principal, what: &str) -> Status {
    let own = principal.committee.as_deref().unwrap_or("none");
    Status::permission_denied(format!(
        "role {} of committee {own} may not {what}",
        principal.role
    ))
}

/// Allows a command on `committee`'s data (`None` when the target does not exist yet, which the
/// domain then reports as not found) concerning `appointee`, if any.
pub fn require_acting_on(
    principal: &Principal,
    committee: Option<&str>,
    appointee: Option<&str>,
) -> Result<(), Status> {
    match principal.role {
        Role::Admin => Ok(()),
        Role::Appointee => {
            if appointee == Some(principal.subject.as_str()) {
                Ok(())
            } else {
                Err(denied(
                    principal,
                    "act on another appointee's records (an appointee acts only on their own)",
                ))
            }
        }
        _ => match committee {
            None => Ok(()),
            Some(target) if principal.committee.as_deref() == Some(target) => Ok(()),
            Some(target) => Err(denied(principal, &format!("act on committee {target}"))),
        },
    }
}

/// Allows reading `committee`'s data concerning `appointee`, if any.
pub fn require_reading(
    principal: &Principal,
    read: &ViewRead,
    committee: &str,
    appointee: Option<&str>,
) -> Result<(), Status> {
    if may_read(principal, read, committee, appointee).map_err(Status::from)? {
        Ok(())
    } else if principal.role == Role::Appointee {
        Err(denied(
            principal,
            "read another appointee's records (an appointee reads only their own)",
        ))
    } else {
        Err(denied(principal, &format!("read committee {committee}")))
    }
}

/// Whether the principal may read `committee`'s data concerning `appointee`.
pub fn may_read(
    principal: &Principal,
    read: &ViewRead,
    committee: &str,
    appointee: Option<&str>,
) -> Result<bool, ProjectionError> {
    match principal.role {
        Role::Admin => Ok(true),
        Role::Appointee => Ok(appointee == Some(principal.subject.as_str())),
        _ => match principal.committee.as_deref() {
            None => Ok(principal.role == Role::Auditor),
            Some(own) if own == committee => Ok(true),
            Some(own) => Ok(read
                .get::<CommitteeDoc>(registry::NAME, registry::COMMITTEES, committee)?
                .is_some_and(|doc| doc.parent.as_deref() == Some(own))),
        },
    }
}

/// Whether the principal reads every committee (admin, or an auditor without a committee).
pub fn reads_everything(principal: &Principal) -> bool {
    principal.role == Role::Admin
        || (principal.role == Role::Auditor && principal.committee.is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role, committee: Option<&str>) -> Principal {
        Principal {
            subject: "a1".into(),
            role,
            committee: committee.map(str::to_string),
            deputy_group: None,
        }
    }

    #[test]
    fn commands_stay_in_the_principals_committee() {
        let clerk = principal(Role::Clerk, Some("xiangfang"));
        assert!(require_acting_on(&clerk, Some("xiangfang"), None).is_ok());
        let denied = require_acting_on(&clerk, Some("daowai"), None).unwrap_err();
        assert_eq!(denied.code(), tonic::Code::PermissionDenied);
        assert_eq!(
            denied.message(),
            "role clerk of committee xiangfang may not act on committee daowai"
        );
        // A target that does not exist is left to the domain to report as not found.
        assert!(require_acting_on(&clerk, None, None).is_ok());
        assert!(require_acting_on(&principal(Role::Admin, None), Some("daowai"), None).is_ok());
        assert!(require_acting_on(&principal(Role::Clerk, None), Some("daowai"), None).is_err());
    }

    #[test]
    fn appointees_act_on_their_own_records_only() {
        let appointee = principal(Role::Appointee, Some("xiangfang"));
        assert!(require_acting_on(&appointee, Some("xiangfang"), Some("a1")).is_ok());
        assert!(require_acting_on(&appointee, Some("xiangfang"), Some("a2")).is_err());
        assert!(require_acting_on(&appointee, Some("xiangfang"), None).is_err());
    }

    #[test]
    fn only_admins_and_unscoped_auditors_read_everything() {
        assert!(reads_everything(&principal(Role::Admin, None)));
        assert!(reads_everything(&principal(Role::Auditor, None)));
        assert!(!reads_everything(&principal(Role::Auditor, Some("x"))));
        assert!(!reads_everything(&principal(Role::Clerk, None)));
    }
}
