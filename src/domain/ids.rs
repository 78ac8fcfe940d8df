//! Identifiers of the domain and the names of the log streams they address.
//!
//! Ids are chosen by the caller (the handler mints them, usually UUIDs) and arrive inside commands,
//! so deciding stays pure. They are checked once, when parsed: an id becomes part of a stream name,
//! so it must be short and made of characters that cannot be confused with the `-` separator rules
//! of other streams' prefixes or with anything a shell or URL would mangle.
//!
//! # Stream naming
//! | aggregate | stream |
//! |---|---|
//! | committee | `committee-<committee id>` |
//! | appointee | `appointee-<appointee id>` |
//! | deputy group | `group-<group id>` |
//! | site visit | `visit-<visit id>` |
//! | inspection | `inspection-<inspection id>` |
//! | annual inspection plan | `plan-<committee id>-<year>` (one plan per committee and year) |
//! | finding | `finding-<finding id>` |
//! | duty report | `duty-report-<report id>` |
//! | stakeholder feedback | `feedback-<feedback id>` |
//!
//! | evaluation session | `session-<session id>` |
//! | scoring policy | `policy-<committee id>` |
//!
//! The prefix is the aggregate kind, so a subscription can filter streams by prefix. These
//! streams are written only by the domain's commands ([`stream_owner`]): the raw log refuses
//! appends to them, so a view never meets an event it cannot read.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Rejection;

/// The longest id accepted: long enough for a UUID with a prefix, short enough for a key.
pub const MAX_ID_LEN: usize = 64;

/// Checks the form every id shares: 1..=64 ASCII letters, digits, `_` or `-`.
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
    /// An evaluation session; its stream is `session-<id>`.
    SessionId,
    "session_id"
);
define_id!(
    /// The random receipt a voter gets back: the only handle on a ballot, and it names no voter.
    BallotId,
    "ballot_id"
);
define_id!(
    /// A standing committee (the tenant).
    CommitteeId,
    "committee_id"
);
define_id!(
    /// A voter: a member of a standing committee (常委会组成人员), or a deputy when deputies are
    /// a session's constituency.
    MemberId,
    "member_id"
);
define_id!(
    /// An official appointed by a committee (任命人员).
    AppointeeId,
    "appointee_id"
);
define_id!(
    /// A deputy group (代表小组).
    DeputyGroupId,
    "group_id"
);
define_id!(
    /// A people's deputy, member of a deputy group.
    DeputyId,
    "deputy_id"
);
define_id!(
    /// A site visit (实地体验).
    VisitId,
    "visit_id"
);
define_id!(
    /// An inspection (执法检查, 视察, 能力检查).
    InspectionId,
    "inspection_id"
);
define_id!(
    /// A finding raised against an organ or appointee.
    FindingId,
    "finding_id"
);
define_id!(
    /// A duty report (述职报告).
    DutyReportId,
    "duty_report_id"
);
define_id!(
    /// A batch of stakeholder feedback gathered by the office.
    FeedbackId,
    "feedback_id"
);

/// Stream of a committee.
pub fn committee_stream(id: &CommitteeId) -> String {
    format!("committee-{id}")
}

/// Stream of an appointee.
pub fn appointee_stream(id: &AppointeeId) -> String {
    format!("appointee-{id}")
}

/// Stream of a deputy group.
pub fn deputy_group_stream(id: &DeputyGroupId) -> String {
    format!("group-{id}")
}

/// Stream of a site visit.
pub fn visit_stream(id: &VisitId) -> String {
    format!("visit-{id}")
}

/// Stream of an inspection.
pub fn inspection_stream(id: &InspectionId) -> String {
    format!("inspection-{id}")
}

/// Stream of a committee's annual inspection plan for one year.
pub fn annual_plan_stream(committee: &CommitteeId, year: i32) -> String {
    format!("plan-{committee}-{year}")
}

/// Stream of a finding.
pub fn finding_stream(id: &FindingId) -> String {
    format!("finding-{id}")
}

/// Stream of a duty report.
pub fn duty_report_stream(id: &DutyReportId) -> String {
    format!("duty-report-{id}")
}

/// Stream of a batch of stakeholder feedback.
pub fn feedback_stream(id: &FeedbackId) -> String {
    format!("feedback-{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_parsed_and_named_in_its_stream() {
        let id = CommitteeId::parse("xiangfang").unwrap();
        assert_eq!(committee_stream(&id), "committee-xiangfang");
        assert_eq!(annual_plan_stream(&id, 2017), "plan-xiangfang-2017");
    }

    #[test]
    fn a_malformed_id_names_its_field() {
        assert_eq!(
            AppointeeId::parse("").unwrap_err(),
            Rejection::invalid("appointee_id", "must not be empty")
        );
        assert!(matches!(
            VisitId::parse("a b"),
            Err(Rejection::Invalid { field, .. }) if field == "visit_id"
        ));
        assert!(FindingId::parse("x".repeat(65)).is_err());
    }

    #[test]
    fn ids_round_trip_through_json_and_are_checked_on_the_way_in() {
        let id = DeputyGroupId::parse("g-1").unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"g-1\"");
        assert_eq!(serde_json::from_str::<DeputyGroupId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<DeputyGroupId>("\"no/slash\"").is_err());
    }
}

/// The streams written only by the domain's commands (and the server's own records), each with
/// who writes it, in the words a refused raw append is told.
const OWNED_STREAMS: &[(&str, &str)] = &[
    (
        "committee-",
        "the Registry service (CreateCommittee, AddCommitteeMember, RemoveCommitteeMember, \
         AdoptSupervisionPolicy)",
    ),
    (
        "appointee-",
        "the Registry service (RegisterAppointee, ChangeAppointeePost, EndAppointeeTerm)",
    ),
    (
        "group-",
        "the Registry service (FormDeputyGroup, AddDeputy, RemoveDeputy)",
    ),
    (
        "visit-",
        "the Supervision service (FileSiteVisit, CorrectSiteVisit, RetractSiteVisit, \
         IssueVisitReport)",
    ),
    (
        "inspection-",
        "the Supervision service (OpenInspection, RecordInspectionReport)",
    ),
    (
        "plan-",
        "the Supervision service (AdoptAnnualPlan, ReviseAnnualPlan)",
    ),
    (
        "finding-",
        "the Findings service (RaiseFinding, AssignFinding, ExtendFindingDeadline, \
         RespondToFinding, VerifyFinding)",
    ),
    (
        "duty-report-",
        "the Hearings service (FileDutyReport, ReviseDutyReport, WithdrawDutyReport)",
    ),
    (
        "feedback-",
        "the Hearings service (RecordStakeholderFeedback, RetractStakeholderFeedback)",
    ),
    (
        "session-",
        "the Evaluation service (ScheduleSession, RecordRollCall, OpenVoting, CastBallot, \
         CloseVoting, Tally, Announce, ProposeCorrection, ApproveCorrection)",
    ),
    ("policy-", "the Evaluation service (AdoptScoringPolicy)"),
    ("web-signin-", "the pages' sign-in"),
];

/// Who writes `stream`, if the domain (or the server) owns it: `None` for a stream the raw log
/// may write.
pub fn stream_owner(stream: &str) -> Option<&'static str> {
    if stream == "audit" {
        return Some("the server itself (its record of raw reads)");
    }
    OWNED_STREAMS
        .iter()
        .find(|(prefix, _)| stream.starts_with(prefix))
        .map(|(_, owner)| *owner)
}

#[cfg(test)]
mod owner_tests {
    use super::*;

    #[test]
    fn the_domains_streams_name_their_writer_and_others_are_free() {
        let committee = CommitteeId::parse("xiangfang").unwrap();
        let appointee = AppointeeId::parse("a1").unwrap();
        for stream in [committee_stream(&committee), appointee_stream(&appointee)] {
            assert!(stream_owner(&stream).is_some(), "{stream}");
        }
        assert!(
            stream_owner("session-s1")
                .unwrap()
                .contains("ScheduleSession")
        );
        assert!(stream_owner("audit").is_some());
        for kind in crate::domain::catalog::AggregateKind::ALL {
            assert!(
                stream_owner(&format!("{}x", kind.prefix())).is_some(),
                "{kind:?}"
            );
        }
        for free in ["notes-1", "crash-0-1", "audits", "committees", "imports"] {
            assert_eq!(stream_owner(free), None, "{free}");
        }
    }
}
