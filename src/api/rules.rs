//! THE policy table of the gRPC server: every RPC's full path and the roles that may call it
//! ([`rule`]); the paths that need no token ([`is_public`]). Finer checks (which committee, whose
//! records) are the application layer's.

use crate::auth::Role;

/// Which roles may call an RPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// The roles allowed.
    pub allowed: &'static [Role],
}

impl Rule {
    /// Whether `role` may call.
    pub fn admits(&self, role: Role) -> bool {
        self.allowed.contains(&role)
    }
}

const ADMIN: &[Role] = &[Role::Admin];
const LOG_READERS: &[Role] = &[Role::Admin, Role::Auditor];
const EVERY_ROLE: &[Role] = &[
    Role::Admin,
    Role::Clerk,
    Role::Chair,
    Role::CommitteeMember,
    Role::Deputy,
    Role::Appointee,
    Role::Reporter,
    Role::Auditor,
];
const VISIT_READERS: &[Role] = &[
    Role::Admin,
    Role::Clerk,
    Role::Chair,
    Role::CommitteeMember,
    Role::Deputy,
    Role::Appointee,
    Role::Auditor,
];
/// The committee office's writes (clerk, and admin for set-up and repairs).
const OFFICE: &[Role] = &[Role::Admin, Role::Clerk];
/// Who reads the register and the hearing inputs (scope checked in `api::scope`).
const REGISTER_READERS: &[Role] = &[
    Role::Admin,
    Role::Clerk,
    Role::Chair,
    Role::CommitteeMember,
    Role::Auditor,
];
/// The register readers and the appointee concerned (their own records only).
const RECORD_READERS: &[Role] = &[
    Role::Admin,
    Role::Clerk,
    Role::Chair,
    Role::CommitteeMember,
    Role::Auditor,
    Role::Appointee,
];

/// THE policy table: every RPC's full path and the roles that may call it. A path missing here
/// is refused (and a unit test fails if a service in the descriptor set has a method without an
/// entry).
pub fn rule(path: &str) -> Option<Rule> {
    let allowed = match path {
        "/oversight.v1.EventLog/Append" | "/oversight.v1.EventLog/AppendMulti" => ADMIN,
        "/oversight.v1.EventLog/ReadStream"
        | "/oversight.v1.EventLog/ReadAll"
        | "/oversight.v1.EventLog/Subscribe"
        | "/oversight.v1.EventLog/Head"
        | "/oversight.v1.EventLog/Verify" => LOG_READERS,
        // Checkpoints and proofs are hashes only: anyone who can call may check the log.
        "/oversight.v1.EventLog/GetCheckpoint"
        | "/oversight.v1.EventLog/GetInclusionProof"
        | "/oversight.v1.EventLog/GetConsistencyProof" => EVERY_ROLE,
        "/oversight.v1.Operations/Status" => &[Role::Admin, Role::Auditor, Role::Clerk],
        "/oversight.v1.Operations/RebuildView" => ADMIN,
        "/oversight.v1.Evaluation/AdoptScoringPolicy" => &[Role::Chair],
        "/oversight.v1.Evaluation/ScheduleSession"
        | "/oversight.v1.Evaluation/RecordRollCall"
        | "/oversight.v1.Evaluation/OpenVoting"
        | "/oversight.v1.Evaluation/CloseVoting"
        | "/oversight.v1.Evaluation/Tally"
        | "/oversight.v1.Evaluation/Announce" => &[Role::Clerk],
        // The session's constituency decides which of the two may vote (see api::evaluation).
        "/oversight.v1.Evaluation/CastBallot" => &[Role::CommitteeMember, Role::Deputy],
        "/oversight.v1.Evaluation/CorrectResult"
        | "/oversight.v1.Evaluation/ProposeCorrection"
        | "/oversight.v1.Evaluation/ApproveCorrection" => &[Role::Clerk, Role::Chair],
        "/oversight.v1.Evaluation/Recount" => {
            &[Role::Auditor, Role::Clerk, Role::Chair, Role::Admin]
        }
        // Results are embargoed inside the query until announced (see api::evaluation).
        "/oversight.v1.Evaluation/GetScoringPolicy"
        | "/oversight.v1.Evaluation/CheckReceipt"
        | "/oversight.v1.Evaluation/GetSessionResult"
        | "/oversight.v1.Evaluation/ListSessions"
        | "/oversight.v1.Evaluation/WatchAnnouncements" => EVERY_ROLE,
        // Reports: the embargo and the committee scope are enforced inside (see api::reports).
        "/oversight.v1.Reports/GetScorecard"
        | "/oversight.v1.Reports/Rankings"
        | "/oversight.v1.Reports/Coverage" => EVERY_ROLE,
        // Supervision: site visits, inspections, annual plans (see api::supervision for the
        // checks of group and appointee made beyond the role).
        "/oversight.v1.Supervision/FileSiteVisit"
        | "/oversight.v1.Supervision/CorrectSiteVisit"
        | "/oversight.v1.Supervision/RetractSiteVisit" => &[Role::Admin, Role::Deputy],
        "/oversight.v1.Supervision/IssueVisitReport"
        | "/oversight.v1.Supervision/OpenInspection"
        | "/oversight.v1.Supervision/RecordInspectionReport" => {
            &[Role::Admin, Role::Clerk, Role::Chair]
        }
        "/oversight.v1.Supervision/AdoptAnnualPlan"
        | "/oversight.v1.Supervision/ReviseAnnualPlan" => &[Role::Admin, Role::Chair],
        "/oversight.v1.Supervision/ListSiteVisits" => VISIT_READERS,
        "/oversight.v1.Supervision/VisitAverages" => &[
            Role::Admin,
            Role::Clerk,
            Role::Chair,
            Role::CommitteeMember,
            Role::Appointee,
            Role::Auditor,
        ],
        "/oversight.v1.Supervision/GetInspection"
        | "/oversight.v1.Supervision/ListInspections"
        | "/oversight.v1.Supervision/GetAnnualPlan" => &[
            Role::Admin,
            Role::Clerk,
            Role::Chair,
            Role::CommitteeMember,
            Role::Deputy,
            Role::Auditor,
        ],
        // Findings (see api::findings for the appointee and reporter checks).
        "/oversight.v1.Findings/RaiseFinding" | "/oversight.v1.Findings/VerifyFinding" => {
            &[Role::Admin, Role::Clerk, Role::Chair]
        }
        "/oversight.v1.Findings/AssignFinding" => &[Role::Admin, Role::Clerk],
        "/oversight.v1.Findings/ExtendFindingDeadline" => &[Role::Admin, Role::Chair],
        "/oversight.v1.Findings/RespondToFinding" => &[Role::Admin, Role::Clerk, Role::Appointee],
        "/oversight.v1.Findings/GetFinding" | "/oversight.v1.Findings/ListFindings" => &[
            Role::Admin,
            Role::Clerk,
            Role::Chair,
            Role::CommitteeMember,
            Role::Appointee,
            Role::Auditor,
        ],
        "/oversight.v1.Findings/FindingsBoard" => &[
            Role::Admin,
            Role::Clerk,
            Role::Chair,
            Role::CommitteeMember,
            Role::Auditor,
            Role::Reporter,
        ],
        // Registry: committees, appointees, deputy groups.
        "/oversight.v1.Registry/CreateCommittee" => ADMIN,
        "/oversight.v1.Registry/AddCommitteeMember"
        | "/oversight.v1.Registry/RemoveCommitteeMember"
        | "/oversight.v1.Registry/RegisterAppointee"
        | "/oversight.v1.Registry/ChangeAppointeePost"
        | "/oversight.v1.Registry/EndAppointeeTerm"
        | "/oversight.v1.Registry/FormDeputyGroup"
        | "/oversight.v1.Registry/AddDeputy"
        | "/oversight.v1.Registry/RemoveDeputy" => OFFICE,
        "/oversight.v1.Registry/GetCommittee"
        | "/oversight.v1.Registry/ListCommittees"
        | "/oversight.v1.Registry/ListAppointees"
        | "/oversight.v1.Registry/ListDeputyGroups" => REGISTER_READERS,
        "/oversight.v1.Registry/GetAppointee" => RECORD_READERS,
        // Supervision policies: adopted by the council of chairpersons (主任会议), like annual
        // plans; read by everyone who works under them (scope checked in `api::policy`).
        "/oversight.v1.Registry/AdoptSupervisionPolicy" => &[Role::Admin, Role::Chair],
        "/oversight.v1.Registry/GetSupervisionPolicy" => &[
            Role::Admin,
            Role::Clerk,
            Role::Chair,
            Role::CommitteeMember,
            Role::Deputy,
            Role::Auditor,
        ],
        "/oversight.v1.Registry/GetDeputyGroup" => &[
            Role::Admin,
            Role::Clerk,
            Role::Chair,
            Role::CommitteeMember,
            Role::Auditor,
            Role::Deputy,
        ],
        // Hearings: duty reports and stakeholder feedback.
        "/oversight.v1.Hearings/FileDutyReport"
        | "/oversight.v1.Hearings/ReviseDutyReport"
        | "/oversight.v1.Hearings/WithdrawDutyReport" => {
            &[Role::Admin, Role::Clerk, Role::Appointee]
        }
        "/oversight.v1.Hearings/RecordStakeholderFeedback"
        | "/oversight.v1.Hearings/RetractStakeholderFeedback" => OFFICE,
        "/oversight.v1.Hearings/ListDutyReports"
        | "/oversight.v1.Hearings/ListStakeholderFeedback" => RECORD_READERS,
        _ => return None,
    };
    Some(Rule { allowed })
}

/// Paths that need no token: health checks and server reflection.
pub fn is_public(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/")
        || path.starts_with("/grpc.reflection.v1.ServerReflection/")
        || path.starts_with("/grpc.reflection.v1alpha.ServerReflection/")
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    #[test]
    fn every_rpc_has_a_policy_entry() {
        let set =
            prost_types::FileDescriptorSet::decode(crate::proto::FILE_DESCRIPTOR_SET).unwrap();
        let mut checked = 0;
        for file in &set.file {
            for service in &file.service {
                for method in &service.method {
                    let path = format!("/{}.{}/{}", file.package(), service.name(), method.name());
                    assert!(
                        rule(&path).is_some(),
                        "{path} has no entry in the policy table"
                    );
                    assert!(!is_public(&path));
                    checked += 1;
                }
            }
        }
        assert!(checked >= 7, "only {checked} methods found");
    }

    #[test]
    fn unknown_paths_have_no_rule_and_health_is_public() {
        assert!(rule("/oversight.v1.EventLog/Drop").is_none());
        assert!(is_public("/grpc.health.v1.Health/Check"));
        assert!(is_public(
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
        ));
        assert!(!is_public("/oversight.v1.EventLog/Head"));
    }

    #[test]
    fn appends_are_admin_only_reads_admit_auditors() {
        let append = rule("/oversight.v1.EventLog/Append").unwrap();
        assert!(append.admits(Role::Admin));
        assert!(!append.admits(Role::Auditor));
        let read = rule("/oversight.v1.EventLog/ReadAll").unwrap();
        assert!(read.admits(Role::Auditor));
        assert!(!read.admits(Role::Deputy));
    }
}
