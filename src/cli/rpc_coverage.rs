//! Every RPC of the wire contract has a client command: a test walks the file descriptor set
//! against [`COMMANDS`] and the clap command tree, so an RPC added without its command (or a
//! command renamed away from its RPC) fails the build's tests.

/// Each RPC (`Service/Method`) and the subcommand path that calls it.
const COMMANDS: &[(&str, &[&str])] = &[
    ("EventLog/Append", &["log", "append"]),
    ("EventLog/AppendMulti", &["log", "append-multi"]),
    ("EventLog/ReadStream", &["log", "read-stream"]),
    ("EventLog/ReadAll", &["log", "read"]),
    ("EventLog/Subscribe", &["log", "tail"]),
    ("EventLog/Head", &["log", "head"]),
    ("EventLog/Verify", &["log", "verify"]),
    ("EventLog/GetCheckpoint", &["log", "checkpoint"]),
    ("EventLog/GetInclusionProof", &["log", "prove"]),
    ("EventLog/GetConsistencyProof", &["log", "consistency"]),
    ("Operations/Status", &["admin", "status"]),
    ("Operations/RebuildView", &["admin", "rebuild"]),
    ("Registry/CreateCommittee", &["committee", "create"]),
    ("Registry/AddCommitteeMember", &["committee", "add-member"]),
    (
        "Registry/RemoveCommitteeMember",
        &["committee", "remove-member"],
    ),
    ("Registry/GetCommittee", &["committee", "show"]),
    ("Registry/ListCommittees", &["committee", "list"]),
    (
        "Registry/AdoptSupervisionPolicy",
        &["committee", "adopt-policy"],
    ),
    ("Registry/GetSupervisionPolicy", &["committee", "policy"]),
    ("Registry/RegisterAppointee", &["appointee", "register"]),
    (
        "Registry/ChangeAppointeePost",
        &["appointee", "change-post"],
    ),
    ("Registry/EndAppointeeTerm", &["appointee", "end-term"]),
    ("Registry/GetAppointee", &["appointee", "show"]),
    ("Registry/ListAppointees", &["appointee", "list"]),
    ("Registry/FormDeputyGroup", &["group", "form"]),
    ("Registry/AddDeputy", &["group", "add-deputy"]),
    ("Registry/RemoveDeputy", &["group", "remove-deputy"]),
    ("Registry/GetDeputyGroup", &["group", "show"]),
    ("Registry/ListDeputyGroups", &["group", "list"]),
    ("Supervision/FileSiteVisit", &["visit", "file"]),
    ("Supervision/CorrectSiteVisit", &["visit", "correct"]),
    ("Supervision/RetractSiteVisit", &["visit", "retract"]),
    ("Supervision/IssueVisitReport", &["visit", "report"]),
    ("Supervision/ListSiteVisits", &["visit", "list"]),
    ("Supervision/VisitAverages", &["visit", "averages"]),
    ("Supervision/OpenInspection", &["inspection", "open"]),
    (
        "Supervision/RecordInspectionReport",
        &["inspection", "report"],
    ),
    ("Supervision/AdoptAnnualPlan", &["inspection", "plan"]),
    (
        "Supervision/ReviseAnnualPlan",
        &["inspection", "plan-revise"],
    ),
    ("Supervision/GetAnnualPlan", &["inspection", "plan-show"]),
    ("Supervision/GetInspection", &["inspection", "show"]),
    ("Supervision/ListInspections", &["inspection", "list"]),
    ("Findings/RaiseFinding", &["finding", "raise"]),
    ("Findings/AssignFinding", &["finding", "assign"]),
    ("Findings/ExtendFindingDeadline", &["finding", "extend"]),
    ("Findings/RespondToFinding", &["finding", "respond"]),
    ("Findings/VerifyFinding", &["finding", "verify"]),
    ("Findings/GetFinding", &["finding", "show"]),
    ("Findings/ListFindings", &["finding", "list"]),
    ("Findings/FindingsBoard", &["finding", "board"]),
    ("Hearings/FileDutyReport", &["hearing", "duty-report"]),
    ("Hearings/ReviseDutyReport", &["hearing", "revise-report"]),
    (
        "Hearings/WithdrawDutyReport",
        &["hearing", "withdraw-report"],
    ),
    (
        "Hearings/RecordStakeholderFeedback",
        &["hearing", "feedback"],
    ),
    (
        "Hearings/RetractStakeholderFeedback",
        &["hearing", "retract-feedback"],
    ),
    ("Hearings/ListDutyReports", &["hearing", "reports"]),
    (
        "Hearings/ListStakeholderFeedback",
        &["hearing", "feedback-list"],
    ),
    (
        "Evaluation/AdoptScoringPolicy",
        &["session", "policy", "adopt"],
    ),
    (
        "Evaluation/GetScoringPolicy",
        &["session", "policy", "show"],
    ),
    ("Evaluation/ScheduleSession", &["session", "schedule"]),
    ("Evaluation/RecordRollCall", &["session", "roll-call"]),
    ("Evaluation/OpenVoting", &["session", "open"]),
    ("Evaluation/CastBallot", &["session", "vote"]),
    ("Evaluation/CloseVoting", &["session", "close"]),
    ("Evaluation/Tally", &["session", "tally"]),
    ("Evaluation/Announce", &["session", "announce"]),
    (
        "Evaluation/ProposeCorrection",
        &["session", "propose-correction"],
    ),
    (
        "Evaluation/ApproveCorrection",
        &["session", "approve-correction"],
    ),
    ("Evaluation/Recount", &["session", "recount"]),
    ("Evaluation/CheckReceipt", &["session", "receipt"]),
    ("Evaluation/GetSessionResult", &["session", "result"]),
    ("Evaluation/ListSessions", &["session", "list"]),
    ("Evaluation/WatchAnnouncements", &["session", "watch"]),
    ("Reports/GetScorecard", &["report", "scorecard"]),
    ("Reports/Rankings", &["report", "rankings"]),
    ("Reports/Coverage", &["report", "coverage"]),
];

/// RPCs kept on the wire for old clients but answered with FAILED_PRECONDITION: no command.
const RETIRED: &[&str] = &["Evaluation/CorrectResult"];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use clap::CommandFactory;
    use prost::Message;

    use super::*;
    use crate::cli::Cli;

    /// `Service/Method` of every RPC of the `oversight.v1` package.
    fn rpcs() -> BTreeSet<String> {
        let set =
            prost_types::FileDescriptorSet::decode(oversight::proto::FILE_DESCRIPTOR_SET).unwrap();
        set.file
            .iter()
            .filter(|file| file.package() == "oversight.v1")
            .flat_map(|file| &file.service)
            .flat_map(|service| {
                service
                    .method
                    .iter()
                    .map(|method| format!("{}/{}", service.name(), method.name()))
            })
            .collect()
    }

    /// The RPCs of the contract without a command and not retired.
    fn missing(rpcs: &BTreeSet<String>, commands: &[(&str, &[&str])]) -> Vec<String> {
        rpcs.iter()
            .filter(|rpc| {
                !RETIRED.contains(&rpc.as_str()) && !commands.iter().any(|(r, _)| r == rpc)
            })
            .cloned()
            .collect()
    }

    #[test]
    fn every_rpc_has_a_client_command() {
        let rpcs = rpcs();
        assert!(rpcs.len() > 60, "only {} RPCs found", rpcs.len());
        assert_eq!(missing(&rpcs, COMMANDS), Vec::<String>::new());
        for (rpc, _) in COMMANDS {
            assert!(
                rpcs.contains(*rpc),
                "{rpc} is in the table but not in the contract"
            );
        }
        for rpc in RETIRED {
            assert!(rpcs.contains(*rpc), "retired {rpc} is not in the contract");
        }
    }

    #[test]
    fn an_rpc_left_out_of_the_table_is_reported() {
        let rpcs = rpcs();
        let without_receipt: Vec<(&str, &[&str])> = COMMANDS
            .iter()
            .copied()
            .filter(|(rpc, _)| *rpc != "Evaluation/CheckReceipt")
            .collect();
        assert_eq!(
            missing(&rpcs, &without_receipt),
            vec!["Evaluation/CheckReceipt".to_string()]
        );
    }

    #[test]
    fn every_command_of_the_table_exists() {
        let root = Cli::command();
        for (rpc, path) in COMMANDS {
            let mut command = &root;
            for name in *path {
                command = command.find_subcommand(name).unwrap_or_else(|| {
                    panic!("{rpc}: `oversight {}` does not exist", path.join(" "))
                });
            }
            assert!(
                !command.has_subcommands(),
                "{rpc}: `oversight {}` is a group, not a command",
                path.join(" ")
            );
        }
    }
}
