//! Which committee's data a principal may touch: THE scope rules, for every command and query of
//! the application layer, checked after a transport's role table (e.g. `api::rules`) has let the
//! call in.
//!
//! The rules, cheap to check because the target's committee is at hand:
//! * an admin acts and reads everywhere;
//! * an appointee acts and reads only on their own records: the token's subject is the
//!   appointee id;
//! * anyone else acts only on the committee named in their token, and reads that committee in
//!   full; an auditor without a committee reads everywhere;
//! * a parent committee (the city) reads its children's (districts') **aggregates** only
//!   ([`Access::Aggregates`]): the committee list and committee, the findings board's counts,
//!   visit averages, scorecards, rankings, coverage and the supervision policy — never their
//!   individual records (appointees, deputy groups, visits, findings, duty reports, feedback),
//!   which [`require_reading_records`] refuses.
//!
//! Everything else is PERMISSION_DENIED, naming the role and the committee.

use crate::app::AppError;
use crate::auth::{Principal, Role};
use crate::projection::registry::{self, CommitteeDoc};
use crate::projection::{ProjectionError, ViewRead};

/// PERMISSION_DENIED naming the principal's role and committee and what it may not do, e.g.
/// `role clerk of committee a may not act on committee b`.
pub fn denied(principal: &Principal, what: &str) -> AppError {
    AppError::denied(principal, what)
}

/// Allows a command on `committee`'s data (`None` when the target does not exist yet, which the
/// domain then reports as not found) concerning `appointee`, if any.
pub fn require_acting_on(
    principal: &Principal,
    committee: Option<&str>,
    appointee: Option<&str>,
) -> Result<(), AppError> {
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

/// How much of a committee's data a principal may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Everything, individual records included.
    Records,
    /// Aggregates only: the principal's committee is the parent of this one.
    Aggregates,
    /// Nothing.
    Denied,
}

/// How much of `committee`'s data concerning `appointee`, if any, the principal may read.
pub fn access(
    principal: &Principal,
    read: &ViewRead,
    committee: &str,
    appointee: Option<&str>,
) -> Result<Access, ProjectionError> {
    let records = |allowed: bool| {
        if allowed {
            Access::Records
        } else {
            Access::Denied
        }
    };
    match principal.role {
        Role::Admin => Ok(Access::Records),
        Role::Appointee => Ok(records(appointee == Some(principal.subject.as_str()))),
        _ => match principal.committee.as_deref() {
            None => Ok(records(principal.role == Role::Auditor)),
            Some(own) if own == committee => Ok(Access::Records),
            Some(own) => {
                let child = read
                    .get::<CommitteeDoc>(registry::NAME, registry::COMMITTEES, committee)?
                    .is_some_and(|doc| doc.parent.as_deref() == Some(own));
                Ok(if child {
                    Access::Aggregates
                } else {
                    Access::Denied
                })
            }
        },
    }
}

/// Allows reading `committee`'s individual records concerning `appointee`, if any: a parent
/// committee, which reads its children's aggregates, is refused here.
pub fn require_reading_records(
    principal: &Principal,
    read: &ViewRead,
    committee: &str,
    appointee: Option<&str>,
) -> Result<(), AppError> {
    match access(principal, read, committee, appointee).map_err(AppError::from)? {
        Access::Records => Ok(()),
        Access::Aggregates => Err(aggregates_only(principal, committee)),
        Access::Denied => require_reading(principal, read, committee, appointee),
    }
}

/// The refusal of an individual record to a parent committee.
pub fn aggregates_only(principal: &Principal, committee: &str) -> AppError {
    denied(
        principal,
        &format!(
            "read individual records of committee {committee}: a parent committee reads only its \
             children's aggregates (counts, reports, the committee list)"
        ),
    )
}

/// The access of a principal in the Supervision and Findings services: scoped by [`access`]
/// (a token naming no committee reads nothing but as an auditor). Admins, appointees and
/// reporters without a committee are checked by the services themselves (own records;
/// incognito and embargo filters; counts only).
pub fn committee_access(
    principal: &Principal,
    read: &ViewRead,
    committee: &str,
) -> Result<Access, AppError> {
    // A reporter whose token names a committee is scoped to it like any other member of the
    // committee; one that names none is the public reporting client (counts only).
    if matches!(principal.role, Role::Admin | Role::Appointee)
        || (principal.role == Role::Reporter && principal.committee.is_none())
    {
        return Ok(Access::Records);
    }
    access(principal, read, committee, None).map_err(AppError::from)
}

/// [`committee_access`] that needs individual records.
pub fn require_committee_records(
    principal: &Principal,
    read: &ViewRead,
    committee: &str,
) -> Result<(), AppError> {
    match committee_access(principal, read, committee)? {
        Access::Records => Ok(()),
        Access::Aggregates => Err(aggregates_only(principal, committee)),
        Access::Denied => Err(denied(principal, &format!("read committee {committee}"))),
    }
}

/// [`committee_access`] that needs aggregates only.
pub fn require_committee_aggregates(
    principal: &Principal,
    read: &ViewRead,
    committee: &str,
) -> Result<Access, AppError> {
    match committee_access(principal, read, committee)? {
        Access::Denied => Err(denied(principal, &format!("read committee {committee}"))),
        access => Ok(access),
    }
}

/// Allows reading `committee`'s aggregates (a parent committee included) or, for an appointee,
/// their own records.
pub fn require_reading(
    principal: &Principal,
    read: &ViewRead,
    committee: &str,
    appointee: Option<&str>,
) -> Result<(), AppError> {
    if may_read(principal, read, committee, appointee).map_err(AppError::from)? {
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

/// Whether the principal may read `committee`'s data concerning `appointee`, aggregates at
/// least.
pub fn may_read(
    principal: &Principal,
    read: &ViewRead,
    committee: &str,
    appointee: Option<&str>,
) -> Result<bool, ProjectionError> {
    Ok(access(principal, read, committee, appointee)? != Access::Denied)
}

/// Whether the principal reads every committee (admin, or an auditor without a committee).
pub fn reads_everything(principal: &Principal) -> bool {
    principal.role == Role::Admin
        || (principal.role == Role::Auditor && principal.committee.is_none())
}

/// The committee a principal's raw reads of the log (ReadStream, ReadAll, Subscribe, Verify's
/// report, and the export built on them) are held to: its token's committee. Such a principal
/// sees only the events whose metadata names that committee — never another committee's, nor
/// the events that name none (the tokens, audit and system records); `None` reads everything.
pub fn raw_read_committee(principal: &Principal) -> Option<&str> {
    principal.committee.as_deref()
}

/// Whether an event whose metadata names `event_committee` is shown to a raw read held to
/// `scope` (see [`raw_read_committee`]).
pub fn shows_event(scope: Option<&str>, event_committee: Option<&str>) -> bool {
    match scope {
        None => true,
        Some(own) => event_committee == Some(own),
    }
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
        assert!(matches!(denied, AppError::Denied(_)));
        assert_eq!(
            denied.to_string(),
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

    #[test]
    fn a_scoped_raw_read_shows_only_its_committees_events() {
        let auditor = principal(Role::Auditor, Some("xiangfang"));
        let scope = raw_read_committee(&auditor);
        assert!(shows_event(scope, Some("xiangfang")));
        assert!(!shows_event(scope, Some("daowai")));
        assert!(!shows_event(scope, None));
        let unscoped = principal(Role::Auditor, None);
        assert!(shows_event(raw_read_committee(&unscoped), Some("daowai")));
        assert!(shows_event(raw_read_committee(&unscoped), None));
    }
}
