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
