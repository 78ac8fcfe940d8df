//! Every RPC refuses another committee's data.
//!
//! Two committees, `xiangfang` (A) and `daowai` (B), are set up with real records through the
//! gRPC API: members, appointees, a deputy group with a deputy, a site visit, an inspection with
//! its report, an assigned finding, a duty report, stakeholder feedback, both policies and an
//! evaluation session run to its announced result. Then every RPC of the descriptor set is
//! called by each of A's committee-scoped principals the policy table admits for it (clerk,
//! chair, committee member, deputy, appointee, reporter), with a well-formed request naming B's
//! ids. `docs/SECURITY.md` ("Scope beyond the role") documents the answer: PERMISSION_DENIED,
//! with a message naming the caller's role and what it may not do. NOT_FOUND is kept for what
//! must not be revealed to exist (embargoed results, incognito visits) inside a committee; the
//! committee check comes first, so across committees the answer is PERMISSION_DENIED even for
//! a session whose result would be under embargo. A list that takes no committee argument
//! answers with A's records only, and nothing of B (every B id contains `daowai`) appears in
//! any reply.
//!
//! Roles not scoped to a committee — admin, an auditor or reporter whose token names no
//! committee — read everywhere by design and are out of scope of this check. RPCs that no
//! committee-scoped role may call, or that carry no committee data, are listed in [`EXEMPT`]
//! with the reason; the coverage check fails for any other RPC without a case here, so a new
//! RPC needs a cross-committee case before the test passes.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures::future::BoxFuture;
use oversight::api::Role;
use oversight::api::rules::rule;
use oversight::proto;
use oversight::proto::evaluation_client::EvaluationClient;
use oversight::proto::findings_client::FindingsClient;
use oversight::proto::reports_client::ReportsClient;
use oversight::proto::supervision_client::SupervisionClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::common::{self, Bearer, TestServer, TokenSpec};

const A: &str = "xiangfang";
const B: &str = "daowai";
const A_MEMBER: &str = "xf-cm1";
const A_APPOINTEE: &str = "xf-ap1";
const A_GROUP: &str = "xf-g1";
const A_DEPUTY: &str = "xf-dep1";
const A_SESSION: &str = "xf-s1";
const B_MEMBER: &str = "daowai-cm1";
const B_APPOINTEE: &str = "daowai-ap1";
const B_GROUP: &str = "daowai-g1";
const B_DEPUTY: &str = "daowai-dep1";
const B_ORGAN: &str = "daowai-organ";
const B_VISIT: &str = "daowai-v1";
const B_INSPECTION: &str = "daowai-i1";
const B_FINDING: &str = "daowai-f1";
const B_REPORT: &str = "daowai-dr1";
const B_FEEDBACK: &str = "daowai-fb1";
const B_SESSION: &str = "daowai-s1";
/// A session of B scheduled and not yet voted on: its result would be under embargo.
const B_SESSION_PENDING: &str = "daowai-s2";
const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

/// A's committee-scoped principals: every role but admin and auditor, each with a token naming
/// committee A.
const A_ROLES: [(Role, &str); 6] = [
    (Role::Clerk, "ovs_xf_clerk"),
    (Role::Chair, "ovs_xf_chair"),
    (Role::CommitteeMember, "ovs_xf_member"),
    (Role::Deputy, "ovs_xf_deputy"),
    (Role::Appointee, "ovs_xf_appointee"),
    (Role::Reporter, "ovs_xf_reporter"),
];

/// RPCs without a cross-committee case, and why.
const EXEMPT: &[(&str, &str)] = &[
    (
        "/oversight.v1.EventLog/Append",
        "admin only: no committee-scoped role may call it",
    ),
    (
        "/oversight.v1.EventLog/AppendMulti",
        "admin only: no committee-scoped role may call it",
    ),
    (
        "/oversight.v1.EventLog/ReadStream",
        "raw log reads are for admins and auditors only, both unscoped readers",
    ),
    (
        "/oversight.v1.EventLog/ReadAll",
        "raw log reads are for admins and auditors only, both unscoped readers",
    ),
    (
        "/oversight.v1.EventLog/Subscribe",
        "raw log reads are for admins and auditors only, both unscoped readers",
    ),
    (
        "/oversight.v1.EventLog/Head",
        "admins and auditors only; the head position carries no committee data",
    ),
    (
        "/oversight.v1.EventLog/Verify",
        "admins and auditors only; the hash chain's verdict carries no committee data",
    ),
    (
        "/oversight.v1.EventLog/GetCheckpoint",
        "the log's signed tree head: a size and a hash, no committee data",
    ),
    (
        "/oversight.v1.EventLog/GetInclusionProof",
        "hashes of the log's Merkle tree only, no record and no committee data",
    ),
    (
        "/oversight.v1.EventLog/GetConsistencyProof",
        "hashes of the log's Merkle tree only, no committee data",
    ),
    (
        "/oversight.v1.Operations/Status",
        "the log head and the views' lag: no committee data",
    ),
    (
        "/oversight.v1.Operations/RebuildView",
        "admin only: no committee-scoped role may call it",
    ),
    (
        "/oversight.v1.Registry/CreateCommittee",
        "admin only: no committee-scoped role may call it",
    ),
    (
        "/oversight.v1.Evaluation/CorrectResult",
        "retired: refuses every caller with FAILED_PRECONDITION before reading anything",
    ),
];

type Svc = InterceptedService<Channel, Bearer>;

/// Typed clients of every domain service for one token.
#[derive(Clone)]
struct Clients {
    registry: common::RegistryClient,
    hearings: common::HearingsClient,
    supervision: SupervisionClient<Svc>,
    findings: FindingsClient<Svc>,
    evaluation: EvaluationClient<Svc>,
    reports: ReportsClient<Svc>,
}

impl Clients {
    fn new(channel: &Channel, token: &str) -> Self {
        let bearer = Bearer(Some(token.to_string()));
        Self {
            registry: proto::registry_client::RegistryClient::with_interceptor(
                channel.clone(),
                bearer.clone(),
            ),
            hearings: proto::hearings_client::HearingsClient::with_interceptor(
                channel.clone(),
                bearer.clone(),
            ),
            supervision: SupervisionClient::with_interceptor(channel.clone(), bearer.clone()),
            findings: FindingsClient::with_interceptor(channel.clone(), bearer.clone()),
            evaluation: EvaluationClient::with_interceptor(channel.clone(), bearer.clone()),
            reports: ReportsClient::with_interceptor(channel.clone(), bearer),
        }
    }
}

/// What B's records left for the cases to name, known only once they exist.
struct Fixture {
    ballot: String,
    supervision_policy: proto::SupervisionPolicy,
    scoring_policy: proto::ScoringPolicy,
}

type Call = Box<dyn Fn(Clients, &'static Fixture) -> BoxFuture<'static, Result<String, Status>>>;

/// What the call must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Refused with this code and a message naming the caller's role and what it may (not) do.
    Refused(Code),
    /// Answered with A's records only (a list without a committee argument).
    OwnOnly,
}

struct Case {
    path: &'static str,
    expect: Expect,
    call: Call,
}

/// `service.method(request)` as a [`Call`] whose reply is rendered with `Debug`.
macro_rules! call {
    (|$f:ident| $service:ident . $method:ident ($request:expr)) => {
        Box::new(move |mut c: Clients, $f: &'static Fixture| {
            let _ = $f;
            let request = $request;
            Box::pin(async move {
                c.$service
                    .$method(request)
                    .await
                    .map(|reply| format!("{:?}", reply.into_inner()))
            }) as BoxFuture<'static, Result<String, Status>>
        }) as Call
    };
}

fn denied(path: &'static str, call: Call) -> Case {
    Case {
        path,
        expect: Expect::Refused(Code::PermissionDenied),
        call,
    }
}

fn own_only(path: &'static str, call: Call) -> Case {
    Case {
        path,
        expect: Expect::OwnOnly,
        call,
    }
}

fn s(value: &str) -> String {
    value.to_string()
}

fn timestamp(y: i32, m: u32, d: u32) -> Option<prost_types::Timestamp> {
    use chrono::TimeZone;
    let t = chrono::Utc.with_ymd_and_hms(y, m, d, 2, 0, 0).unwrap();
    Some(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

fn ratings() -> Option<proto::VisitRatings> {
    Some(proto::VisitRatings {
        work_discipline: Some(3),
        service_quality: Some(3),
        efficiency: Some(3),
    })
}

fn whole_committee() -> Option<proto::FindingScope> {
    Some(proto::FindingScope {
        scope: Some(proto::finding_scope::Scope::WholeCommittee(true)),
    })
}

fn visit(id: &str, group: &str, appointee: &str) -> proto::FileSiteVisitRequest {
    proto::FileSiteVisitRequest {
        command_id: String::new(),
        visit_id: s(id),
        group_id: s(group),
        target_organ: s(B_ORGAN),
        appointee_ids: vec![s(appointee)],
        mode: proto::VisitMode::Open as i32,
        visited_at: timestamp(2017, 12, 5),
        ratings: ratings(),
        notes: s("long queue at window 3"),
        evidence_sha256: vec![s(SHA)],
        correlation_id: String::new(),
    }
}

fn inspection(id: &str, committee: &str) -> proto::OpenInspectionRequest {
    proto::OpenInspectionRequest {
        command_id: String::new(),
        inspection_id: s(id),
        committee_id: s(committee),
        kind: proto::InspectionKind::LawEnforcement as i32,
        title: s("food safety law enforcement inspection"),
        law_reference: Some(s("food safety law")),
        year: 2017,
        organs: vec![s(B_ORGAN)],
        correlation_id: String::new(),
    }
}

fn finding(id: &str, committee: &str, appointee: &str) -> proto::RaiseFindingRequest {
    proto::RaiseFindingRequest {
        command_id: String::new(),
        finding_id: s(id),
        committee_id: s(committee),
        source: proto::FindingSource::Audit as i32,
        source_ref: s("audit 1"),
        organ: s(B_ORGAN),
        appointee_id: s(appointee),
        severity: proto::FindingSeverity::Moderate as i32,
        description: s("expense without contract"),
        rectification_required: false,
        correlation_id: String::new(),
        raised_on: String::new(),
    }
}

fn duty_report(id: &str, appointee: &str) -> proto::FileDutyReportRequest {
    proto::FileDutyReportRequest {
        command_id: String::new(),
        duty_report_id: s(id),
        appointee_id: s(appointee),
        title: s("duty report 2017"),
        document_sha256: s(SHA),
        filed_at: timestamp(2017, 12, 20),
        session_ref: s("s-2017-12"),
        correlation_id: String::new(),
    }
}

fn feedback(id: &str, appointee: &str) -> proto::RecordStakeholderFeedbackRequest {
    proto::RecordStakeholderFeedbackRequest {
        command_id: String::new(),
        feedback_id: s(id),
        appointee_id: s(appointee),
        session_ref: s("s-2017-12"),
        source: proto::FeedbackSource::ServiceRecipients as i32,
        method: proto::FeedbackMethod::Survey as i32,
        participants: 30,
        counts: vec![
            proto::RatingCount {
                option: s("satisfied"),
                count: 25,
            },
            proto::RatingCount {
                option: s("basically_satisfied"),
                count: 4,
            },
        ],
        summary: s("the office answers quickly"),
        confidential: false,
        correlation_id: String::new(),
    }
}

fn schedule(committee: &str, session: &str, subject: &str) -> proto::ScheduleSessionRequest {
    proto::ScheduleSessionRequest {
        committee_id: s(committee),
        session_id: s(session),
        meeting_name: s("8th meeting of the standing committee"),
        date: s("2026-11-27"),
        subjects: vec![s(subject)],
        constituency: proto::Constituency::CommitteeMembers as i32,
        ..Default::default()
    }
}

fn session_ref(session: &str) -> proto::SessionRef {
    proto::SessionRef {
        command_id: String::new(),
        session_id: s(session),
    }
}

fn ballot(session: &str, subject: &str) -> proto::CastBallotRequest {
    proto::CastBallotRequest {
        command_id: String::new(),
        session_id: s(session),
        choices: HashMap::from([(s(subject), s("satisfied"))]),
    }
}

/// One case per RPC (and per way of naming B's data), each naming B's records.
fn cases() -> Vec<Case> {
    use proto::list_site_visits_request::Scope as VisitScope;
    use proto::visit_averages_request::Scope as AverageScope;
    vec![
        // Registry
        denied(
            "/oversight.v1.Registry/AddCommitteeMember",
            call!(
                |f| registry.add_committee_member(proto::AddCommitteeMemberRequest {
                    committee_id: s(B),
                    member_id: s("daowai-cm9"),
                    name: s("new member"),
                    from: s("2024-01-01"),
                    ..Default::default()
                })
            ),
        ),
        denied(
            "/oversight.v1.Registry/RemoveCommitteeMember",
            call!(
                |f| registry.remove_committee_member(proto::RemoveCommitteeMemberRequest {
                    committee_id: s(B),
                    member_id: s(B_MEMBER),
                    to: s("2026-12-31"),
                    ..Default::default()
                })
            ),
        ),
        denied(
            "/oversight.v1.Registry/RegisterAppointee",
            call!(
                |f| registry.register_appointee(proto::RegisterAppointeeRequest {
                    appointee_id: s("daowai-ap9"),
                    committee_id: s(B),
                    name: s("official"),
                    post: s("deputy director"),
                    organ_kind: proto::OrganKind::Government as i32,
                    organ_name: s(B_ORGAN),
                    appointed_on: s("2016-12-01"),
                    appointing_meeting: s("5th meeting"),
                    ..Default::default()
                })
            ),
        ),
        denied(
            "/oversight.v1.Registry/ChangeAppointeePost",
            call!(
                |f| registry.change_appointee_post(proto::ChangeAppointeePostRequest {
                    appointee_id: s(B_APPOINTEE),
                    post: s("director"),
                    organ_name: s(B_ORGAN),
                    on: s("2018-01-01"),
                    appointing_meeting: s("9th meeting"),
                    ..Default::default()
                })
            ),
        ),
        denied(
            "/oversight.v1.Registry/EndAppointeeTerm",
            call!(
                |f| registry.end_appointee_term(proto::EndAppointeeTermRequest {
                    appointee_id: s(B_APPOINTEE),
                    kind: proto::TermEndKind::Resignation as i32,
                    on: s("2018-01-01"),
                    reason: s("resigned"),
                    ..Default::default()
                })
            ),
        ),
        denied(
            "/oversight.v1.Registry/FormDeputyGroup",
            call!(
                |f| registry.form_deputy_group(proto::FormDeputyGroupRequest {
                    group_id: s("daowai-g9"),
                    committee_id: s(B),
                    name: s("group 9"),
                    ..Default::default()
                })
            ),
        ),
        denied(
            "/oversight.v1.Registry/AddDeputy",
            call!(|f| registry.add_deputy(proto::AddDeputyRequest {
                group_id: s(B_GROUP),
                deputy_id: s("daowai-dep9"),
                name: s("deputy 9"),
                ..Default::default()
            })),
        ),
        denied(
            "/oversight.v1.Registry/RemoveDeputy",
            call!(|f| registry.remove_deputy(proto::RemoveDeputyRequest {
                group_id: s(B_GROUP),
                deputy_id: s(B_DEPUTY),
                ..Default::default()
            })),
        ),
        denied(
            "/oversight.v1.Registry/GetCommittee",
            call!(|f| registry.get_committee(proto::GetCommitteeRequest {
                committee_id: s(B),
                min_position: 0,
            })),
        ),
        denied(
            "/oversight.v1.Registry/ListCommittees",
            call!(|f| registry.list_committees(proto::ListCommitteesRequest {
                parent_committee_id: s(B),
                ..Default::default()
            })),
        ),
        own_only(
            "/oversight.v1.Registry/ListCommittees",
            call!(|f| registry.list_committees(proto::ListCommitteesRequest::default())),
        ),
        denied(
            "/oversight.v1.Registry/GetAppointee",
            call!(|f| registry.get_appointee(proto::GetAppointeeRequest {
                appointee_id: s(B_APPOINTEE),
                min_position: 0,
            })),
        ),
        denied(
            "/oversight.v1.Registry/ListAppointees",
            call!(|f| registry.list_appointees(proto::ListAppointeesRequest {
                committee_id: s(B),
                ..Default::default()
            })),
        ),
        own_only(
            "/oversight.v1.Registry/ListAppointees",
            call!(|f| registry.list_appointees(proto::ListAppointeesRequest::default())),
        ),
        denied(
            "/oversight.v1.Registry/GetDeputyGroup",
            call!(|f| registry.get_deputy_group(proto::GetDeputyGroupRequest {
                group_id: s(B_GROUP),
                min_position: 0,
            })),
        ),
        denied(
            "/oversight.v1.Registry/ListDeputyGroups",
            call!(
                |f| registry.list_deputy_groups(proto::ListDeputyGroupsRequest {
                    committee_id: s(B),
                    ..Default::default()
                })
            ),
        ),
        own_only(
            "/oversight.v1.Registry/ListDeputyGroups",
            call!(|f| registry.list_deputy_groups(proto::ListDeputyGroupsRequest::default())),
        ),
        denied(
            "/oversight.v1.Registry/AdoptSupervisionPolicy",
            call!(
                |f| registry.adopt_supervision_policy(proto::AdoptSupervisionPolicyRequest {
                    command_id: String::new(),
                    committee_id: s(B),
                    policy: Some(f.supervision_policy.clone()),
                    correlation_id: String::new(),
                })
            ),
        ),
        denied(
            "/oversight.v1.Registry/GetSupervisionPolicy",
            call!(
                |f| registry.get_supervision_policy(proto::GetSupervisionPolicyRequest {
                    committee_id: s(B),
                    min_position: 0,
                })
            ),
        ),
        // Hearings
        denied(
            "/oversight.v1.Hearings/FileDutyReport",
            call!(|f| hearings.file_duty_report(duty_report("daowai-dr9", B_APPOINTEE))),
        ),
        denied(
            "/oversight.v1.Hearings/ReviseDutyReport",
            call!(
                |f| hearings.revise_duty_report(proto::ReviseDutyReportRequest {
                    command_id: String::new(),
                    duty_report_id: s(B_REPORT),
                    title: s("duty report 2017, revised"),
                    document_sha256: s(&SHA.replace('9', "8")),
                    reason: s("typo"),
                    correlation_id: String::new(),
                })
            ),
        ),
        denied(
            "/oversight.v1.Hearings/WithdrawDutyReport",
            call!(
                |f| hearings.withdraw_duty_report(proto::WithdrawDutyReportRequest {
                    command_id: String::new(),
                    duty_report_id: s(B_REPORT),
                    reason: s("filed twice"),
                    correlation_id: String::new(),
                })
            ),
        ),
        denied(
            "/oversight.v1.Hearings/RecordStakeholderFeedback",
            call!(|f| hearings.record_stakeholder_feedback(feedback("daowai-fb9", B_APPOINTEE))),
        ),
        denied(
            "/oversight.v1.Hearings/RetractStakeholderFeedback",
            call!(|f| hearings.retract_stakeholder_feedback(
                proto::RetractStakeholderFeedbackRequest {
                    command_id: String::new(),
                    feedback_id: s(B_FEEDBACK),
                    reason: s("recorded twice"),
                    correlation_id: String::new(),
                }
            )),
        ),
        denied(
            "/oversight.v1.Hearings/ListDutyReports",
            call!(
                |f| hearings.list_duty_reports(proto::ListDutyReportsRequest {
                    appointee_id: s(B_APPOINTEE),
                    ..Default::default()
                })
            ),
        ),
        denied(
            "/oversight.v1.Hearings/ListStakeholderFeedback",
            call!(
                |f| hearings.list_stakeholder_feedback(proto::ListStakeholderFeedbackRequest {
                    appointee_id: s(B_APPOINTEE),
                    ..Default::default()
                })
            ),
        ),
        // Supervision
        denied(
            "/oversight.v1.Supervision/FileSiteVisit",
            call!(|f| supervision.file_site_visit(visit("daowai-v9", B_GROUP, B_APPOINTEE))),
        ),
        denied(
            "/oversight.v1.Supervision/CorrectSiteVisit",
            call!(
                |f| supervision.correct_site_visit(proto::CorrectSiteVisitRequest {
                    command_id: String::new(),
                    visit_id: s(B_VISIT),
                    ratings: ratings(),
                    notes: s("corrected"),
                    evidence_sha256: vec![s(SHA)],
                    reason: s("typo"),
                    correlation_id: String::new(),
                })
            ),
        ),
        denied(
            "/oversight.v1.Supervision/RetractSiteVisit",
            call!(
                |f| supervision.retract_site_visit(proto::RetractSiteVisitRequest {
                    command_id: String::new(),
                    visit_id: s(B_VISIT),
                    reason: s("filed twice"),
                    correlation_id: String::new(),
                })
            ),
        ),
        denied(
            "/oversight.v1.Supervision/IssueVisitReport",
            call!(
                |f| supervision.issue_visit_report(proto::IssueVisitReportRequest {
                    command_id: String::new(),
                    visit_id: s(B_VISIT),
                    report_ref: s("report 1"),
                    correlation_id: String::new(),
                })
            ),
        ),
        denied(
            "/oversight.v1.Supervision/OpenInspection",
            call!(|f| supervision.open_inspection(inspection("daowai-i9", B))),
        ),
        denied(
            "/oversight.v1.Supervision/RecordInspectionReport",
            call!(
                |f| supervision.record_inspection_report(proto::RecordInspectionReportRequest {
                    command_id: String::new(),
                    inspection_id: s(B_INSPECTION),
                    evaluation: s("mostly enforced"),
                    problems: vec![s("late checks")],
                    suggestions: vec![s("check monthly")],
                    correlation_id: String::new(),
                })
            ),
        ),
        denied(
            "/oversight.v1.Supervision/AdoptAnnualPlan",
            call!(
                |f| supervision.adopt_annual_plan(proto::AdoptAnnualPlanRequest {
                    command_id: String::new(),
                    committee_id: s(B),
                    year: 2018,
                    laws: vec![s("food safety law"), s("environmental protection law")],
                    correlation_id: String::new(),
                })
            ),
        ),
        denied(
            "/oversight.v1.Supervision/ReviseAnnualPlan",
            call!(
                |f| supervision.revise_annual_plan(proto::ReviseAnnualPlanRequest {
                    command_id: String::new(),
                    committee_id: s(B),
                    year: 2018,
                    laws: vec![s("food safety law")],
                    reason: s("council of chairpersons"),
                    correlation_id: String::new(),
                })
            ),
        ),
        denied(
            "/oversight.v1.Supervision/GetAnnualPlan",
            call!(
                |f| supervision.get_annual_plan(proto::GetAnnualPlanRequest {
                    committee_id: s(B),
                    year: 2018,
                    min_position: 0,
                })
            ),
        ),
        denied(
            "/oversight.v1.Supervision/ListSiteVisits",
            call!(
                |f| supervision.list_site_visits(proto::ListSiteVisitsRequest {
                    scope: Some(VisitScope::AppointeeId(s(B_APPOINTEE))),
                    ..Default::default()
                })
            ),
        ),
        denied(
            "/oversight.v1.Supervision/ListSiteVisits",
            call!(
                |f| supervision.list_site_visits(proto::ListSiteVisitsRequest {
                    scope: Some(VisitScope::GroupId(s(B_GROUP))),
                    ..Default::default()
                })
            ),
        ),
        denied(
            "/oversight.v1.Supervision/ListSiteVisits",
            call!(
                |f| supervision.list_site_visits(proto::ListSiteVisitsRequest {
                    scope: Some(VisitScope::Organ(s(B_ORGAN))),
                    committee_id: s(B),
                    ..Default::default()
                })
            ),
        ),
        denied(
            "/oversight.v1.Supervision/VisitAverages",
            call!(|f| supervision.visit_averages(proto::VisitAveragesRequest {
                scope: Some(AverageScope::AppointeeId(s(B_APPOINTEE))),
                ..Default::default()
            })),
        ),
        denied(
            "/oversight.v1.Supervision/VisitAverages",
            call!(|f| supervision.visit_averages(proto::VisitAveragesRequest {
                scope: Some(AverageScope::Organ(s(B_ORGAN))),
                committee_id: s(B),
                ..Default::default()
            })),
        ),
        denied(
            "/oversight.v1.Supervision/VisitAverages",
            call!(|f| supervision.visit_averages(proto::VisitAveragesRequest {
                scope: Some(AverageScope::GroupId(s(B_GROUP))),
                ..Default::default()
            })),
        ),
        denied(
            "/oversight.v1.Supervision/GetInspection",
            call!(|f| supervision.get_inspection(proto::GetInspectionRequest {
                inspection_id: s(B_INSPECTION),
                min_position: 0,
            })),
        ),
        denied(
            "/oversight.v1.Supervision/ListInspections",
            call!(
                |f| supervision.list_inspections(proto::ListInspectionsRequest {
                    committee_id: s(B),
                    ..Default::default()
                })
            ),
        ),
        // Findings
        denied(
            "/oversight.v1.Findings/RaiseFinding",
            call!(|f| findings.raise_finding(finding("daowai-f9", B, B_APPOINTEE))),
        ),
        denied(
            "/oversight.v1.Findings/AssignFinding",
            call!(|f| findings.assign_finding(proto::AssignFindingRequest {
                command_id: String::new(),
                finding_id: s(B_FINDING),
                assignee: s(B_ORGAN),
                due_on: String::new(),
                correlation_id: String::new(),
            })),
        ),
        denied(
            "/oversight.v1.Findings/ExtendFindingDeadline",
            call!(
                |f| findings.extend_finding_deadline(proto::ExtendFindingDeadlineRequest {
                    command_id: String::new(),
                    finding_id: s(B_FINDING),
                    due_on: s("2030-03-01"),
                    approved_by: s("council of chairpersons"),
                    reason: s("complex"),
                    correlation_id: String::new(),
                })
            ),
        ),
        denied(
            "/oversight.v1.Findings/RespondToFinding",
            call!(
                |f| findings.respond_to_finding(proto::RespondToFindingRequest {
                    command_id: String::new(),
                    finding_id: s(B_FINDING),
                    explanation: proto::FindingExplanation::Explained as i32,
                    rectification: proto::FindingRectification::InProgress as i32,
                    note: s("explained"),
                    correlation_id: String::new(),
                })
            ),
        ),
        denied(
            "/oversight.v1.Findings/VerifyFinding",
            call!(|f| findings.verify_finding(proto::VerifyFindingRequest {
                command_id: String::new(),
                finding_id: s(B_FINDING),
                verdict: proto::FindingVerdict::Accept as i32,
                reason: s("done"),
                correlation_id: String::new(),
            })),
        ),
        denied(
            "/oversight.v1.Findings/GetFinding",
            call!(|f| findings.get_finding(proto::GetFindingRequest {
                finding_id: s(B_FINDING),
                min_position: 0,
            })),
        ),
        denied(
            "/oversight.v1.Findings/FindingsBoard",
            call!(|f| findings.findings_board(proto::FindingsBoardRequest {
                committee_id: s(B),
                scope: whole_committee(),
                ..Default::default()
            })),
        ),
        denied(
            "/oversight.v1.Findings/ListFindings",
            call!(|f| findings.list_findings(proto::ListFindingsRequest {
                committee_id: s(B),
                scope: whole_committee(),
                ..Default::default()
            })),
        ),
        // Evaluation
        denied(
            "/oversight.v1.Evaluation/AdoptScoringPolicy",
            call!(
                |f| evaluation.adopt_scoring_policy(proto::AdoptScoringPolicyRequest {
                    command_id: String::new(),
                    committee_id: s(B),
                    policy: Some(f.scoring_policy.clone()),
                })
            ),
        ),
        denied(
            "/oversight.v1.Evaluation/GetScoringPolicy",
            call!(
                |f| evaluation.get_scoring_policy(proto::GetScoringPolicyRequest {
                    committee_id: s(B),
                    min_position: 0,
                })
            ),
        ),
        denied(
            "/oversight.v1.Evaluation/ScheduleSession",
            call!(|f| evaluation.schedule_session(schedule(B, "daowai-s9", B_APPOINTEE))),
        ),
        denied(
            "/oversight.v1.Evaluation/RecordRollCall",
            call!(
                |f| evaluation.record_roll_call(proto::RecordRollCallRequest {
                    command_id: String::new(),
                    session_id: s(B_SESSION),
                    present: vec![s(B_MEMBER)],
                })
            ),
        ),
        denied(
            "/oversight.v1.Evaluation/OpenVoting",
            call!(|f| evaluation.open_voting(session_ref(B_SESSION))),
        ),
        denied(
            "/oversight.v1.Evaluation/CastBallot",
            call!(|f| evaluation.cast_ballot(ballot(B_SESSION, B_APPOINTEE))),
        ),
        denied(
            "/oversight.v1.Evaluation/CloseVoting",
            call!(|f| evaluation.close_voting(session_ref(B_SESSION))),
        ),
        denied(
            "/oversight.v1.Evaluation/Tally",
            call!(|f| evaluation.tally(session_ref(B_SESSION))),
        ),
        denied(
            "/oversight.v1.Evaluation/Announce",
            call!(|f| evaluation.announce(session_ref(B_SESSION))),
        ),
        denied(
            "/oversight.v1.Evaluation/ProposeCorrection",
            call!(
                |f| evaluation.propose_correction(proto::ProposeCorrectionRequest {
                    command_id: String::new(),
                    session_id: s(B_SESSION),
                    round: 1,
                    kind: proto::CorrectionKind::Retally as i32,
                    reason: s("miscount"),
                })
            ),
        ),
        denied(
            "/oversight.v1.Evaluation/ApproveCorrection",
            call!(
                |f| evaluation.approve_correction(proto::ApproveCorrectionRequest {
                    command_id: String::new(),
                    session_id: s(B_SESSION),
                    proposal: 1,
                    round: 1,
                    kind: proto::CorrectionKind::Retally as i32,
                })
            ),
        ),
        denied(
            "/oversight.v1.Evaluation/Recount",
            call!(|f| evaluation.recount(proto::RecountRequest {
                session_id: s(B_SESSION),
            })),
        ),
        denied(
            "/oversight.v1.Evaluation/CheckReceipt",
            call!(|f| evaluation.check_receipt(proto::CheckReceiptRequest {
                session_id: s(B_SESSION),
                ballot_id: f.ballot.clone(),
            })),
        ),
        denied(
            "/oversight.v1.Evaluation/GetSessionResult",
            call!(
                |f| evaluation.get_session_result(proto::GetSessionResultRequest {
                    session_id: s(B_SESSION),
                    min_position: 0,
                })
            ),
        ),
        denied(
            "/oversight.v1.Evaluation/GetSessionResult",
            call!(
                |f| evaluation.get_session_result(proto::GetSessionResultRequest {
                    session_id: s(B_SESSION_PENDING),
                    min_position: 0,
                })
            ),
        ),
        denied(
            "/oversight.v1.Evaluation/ListSessions",
            call!(|f| evaluation.list_sessions(proto::ListSessionsRequest {
                committee_id: s(B),
                ..Default::default()
            })),
        ),
        own_only(
            "/oversight.v1.Evaluation/ListSessions",
            call!(|f| evaluation.list_sessions(proto::ListSessionsRequest::default())),
        ),
        denied(
            "/oversight.v1.Evaluation/WatchAnnouncements",
            Box::new(|mut c: Clients, _: &'static Fixture| {
                Box::pin(async move {
                    c.evaluation
                        .watch_announcements(proto::WatchAnnouncementsRequest {
                            from_position: 1,
                            committee_id: s(B),
                        })
                        .await
                        .map(|_| s("the announcement stream opened"))
                }) as BoxFuture<'static, Result<String, Status>>
            }),
        ),
        // From the log's start: B's result was announced before A's, so a stream that let B's
        // through would send it first.
        own_only(
            "/oversight.v1.Evaluation/WatchAnnouncements",
            Box::new(|mut c: Clients, _: &'static Fixture| {
                Box::pin(async move {
                    let mut stream = c
                        .evaluation
                        .watch_announcements(proto::WatchAnnouncementsRequest {
                            from_position: 1,
                            committee_id: String::new(),
                        })
                        .await?
                        .into_inner();
                    let first = stream.message().await?;
                    Ok(format!("{first:?}"))
                }) as BoxFuture<'static, Result<String, Status>>
            }),
        ),
        // Reports
        denied(
            "/oversight.v1.Reports/GetScorecard",
            call!(|f| reports.get_scorecard(proto::GetScorecardRequest {
                appointee_id: s(B_APPOINTEE),
                min_position: 0,
            })),
        ),
        denied(
            "/oversight.v1.Reports/Rankings",
            call!(|f| reports.rankings(proto::RankingsRequest {
                committee_id: s(B),
                ..Default::default()
            })),
        ),
        denied(
            "/oversight.v1.Reports/Coverage",
            call!(|f| reports.coverage(proto::CoverageRequest {
                committee_id: s(B),
                ..Default::default()
            })),
        ),
    ]
}

fn tokens() -> Vec<TokenSpec> {
    let scoped = |token, subject, role, committee, group| TokenSpec {
        token,
        subject,
        role,
        committee: Some(committee),
        deputy_group: group,
    };
    vec![
        scoped("ovs_xf_clerk", "xf-clerk", "clerk", A, None),
        scoped("ovs_xf_chair", "xf-chair", "chair", A, None),
        scoped("ovs_xf_member", A_MEMBER, "committee_member", A, None),
        scoped("ovs_xf_deputy", A_DEPUTY, "deputy", A, Some(A_GROUP)),
        scoped("ovs_xf_appointee", A_APPOINTEE, "appointee", A, None),
        scoped("ovs_xf_reporter", "xf-press", "reporter", A, None),
        scoped("ovs_dw_clerk", "daowai-clerk", "clerk", B, None),
        scoped("ovs_dw_chair", "daowai-chair", "chair", B, None),
        scoped("ovs_dw_member", B_MEMBER, "committee_member", B, None),
    ]
}

/// A committee with a member, an appointee and a deputy group with a deputy, as the admin
/// registers them.
async fn register(admin: &mut Clients, committee: &str, prefix: &str) {
    let r = &mut admin.registry;
    r.create_committee(proto::CreateCommitteeRequest {
        committee_id: s(committee),
        name: format!("{committee} standing committee"),
        level: proto::CommitteeLevel::District as i32,
        ..Default::default()
    })
    .await
    .unwrap();
    r.add_committee_member(proto::AddCommitteeMemberRequest {
        committee_id: s(committee),
        member_id: format!("{prefix}-cm1"),
        name: s("member one"),
        from: s("2023-01-01"),
        ..Default::default()
    })
    .await
    .unwrap();
    r.register_appointee(proto::RegisterAppointeeRequest {
        appointee_id: format!("{prefix}-ap1"),
        committee_id: s(committee),
        name: s("official one"),
        post: s("deputy director"),
        organ_kind: proto::OrganKind::Government as i32,
        organ_name: format!("{prefix}-organ"),
        appointed_on: s("2016-12-01"),
        appointing_meeting: s("5th meeting"),
        ..Default::default()
    })
    .await
    .unwrap();
    r.form_deputy_group(proto::FormDeputyGroupRequest {
        group_id: format!("{prefix}-g1"),
        committee_id: s(committee),
        name: s("group one"),
        ..Default::default()
    })
    .await
    .unwrap();
    r.add_deputy(proto::AddDeputyRequest {
        group_id: format!("{prefix}-g1"),
        deputy_id: format!("{prefix}-dep1"),
        name: s("deputy one"),
        ..Default::default()
    })
    .await
    .unwrap();
}

/// Runs an evaluation session of `committee` from scheduling to its announced result; the
/// ballot's receipt.
async fn announced_session(
    clerk: &mut Clients,
    member: &mut Clients,
    committee: &str,
    session: &str,
    member_id: &str,
    subject: &str,
) -> String {
    let e = &mut clerk.evaluation;
    e.schedule_session(schedule(committee, session, subject))
        .await
        .unwrap();
    e.record_roll_call(proto::RecordRollCallRequest {
        command_id: String::new(),
        session_id: s(session),
        present: vec![s(member_id)],
    })
    .await
    .unwrap();
    e.open_voting(session_ref(session)).await.unwrap();
    let receipt = member
        .evaluation
        .cast_ballot(ballot(session, subject))
        .await
        .unwrap()
        .into_inner()
        .ballot_id;
    e.close_voting(session_ref(session)).await.unwrap();
    e.tally(session_ref(session)).await.unwrap();
    // The shipped policy announces with the tally; under another the clerk announces.
    match e.announce(session_ref(session)).await {
        Ok(_) => {}
        Err(status) if status.message().contains("already announced") => {}
        Err(status) => panic!("announcing {session}: {status:?}"),
    }
    receipt
}

/// A's and B's records, written through the API; what the cases need to name B's.
async fn set_up(channel: &Channel) -> Fixture {
    let mut admin = Clients::new(channel, "ovs_admin");
    register(&mut admin, A, "xf").await;
    register(&mut admin, B, B).await;

    admin
        .supervision
        .file_site_visit(visit(B_VISIT, B_GROUP, B_APPOINTEE))
        .await
        .unwrap();
    admin
        .supervision
        .open_inspection(inspection(B_INSPECTION, B))
        .await
        .unwrap();
    admin
        .supervision
        .record_inspection_report(proto::RecordInspectionReportRequest {
            command_id: String::new(),
            inspection_id: s(B_INSPECTION),
            evaluation: s("partly enforced"),
            problems: vec![s("late checks")],
            suggestions: vec![s("check monthly")],
            correlation_id: String::new(),
        })
        .await
        .unwrap();
    admin
        .findings
        .raise_finding(finding(B_FINDING, B, B_APPOINTEE))
        .await
        .unwrap();
    admin
        .findings
        .assign_finding(proto::AssignFindingRequest {
            command_id: String::new(),
            finding_id: s(B_FINDING),
            assignee: s(B_ORGAN),
            due_on: String::new(),
            correlation_id: String::new(),
        })
        .await
        .unwrap();
    admin
        .hearings
        .file_duty_report(duty_report(B_REPORT, B_APPOINTEE))
        .await
        .unwrap();
    admin
        .hearings
        .record_stakeholder_feedback(feedback(B_FEEDBACK, B_APPOINTEE))
        .await
        .unwrap();
    let supervision_policy = admin
        .registry
        .get_supervision_policy(proto::GetSupervisionPolicyRequest {
            committee_id: s(B),
            min_position: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .policy
        .unwrap();
    admin
        .registry
        .adopt_supervision_policy(proto::AdoptSupervisionPolicyRequest {
            command_id: String::new(),
            committee_id: s(B),
            policy: Some(supervision_policy.clone()),
            correlation_id: String::new(),
        })
        .await
        .unwrap();

    let mut b_chair = Clients::new(channel, "ovs_dw_chair");
    let scoring_policy = b_chair
        .evaluation
        .get_scoring_policy(proto::GetScoringPolicyRequest {
            committee_id: s(B),
            min_position: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .policy
        .unwrap();
    b_chair
        .evaluation
        .adopt_scoring_policy(proto::AdoptScoringPolicyRequest {
            command_id: String::new(),
            committee_id: s(B),
            policy: Some(scoring_policy.clone()),
        })
        .await
        .unwrap();

    // B's result is announced first, A's after it.
    let ballot = announced_session(
        &mut Clients::new(channel, "ovs_dw_clerk"),
        &mut Clients::new(channel, "ovs_dw_member"),
        B,
        B_SESSION,
        B_MEMBER,
        B_APPOINTEE,
    )
    .await;
    announced_session(
        &mut Clients::new(channel, "ovs_xf_clerk"),
        &mut Clients::new(channel, "ovs_xf_member"),
        A,
        A_SESSION,
        A_MEMBER,
        A_APPOINTEE,
    )
    .await;
    Clients::new(channel, "ovs_dw_clerk")
        .evaluation
        .schedule_session(schedule(B, B_SESSION_PENDING, B_APPOINTEE))
        .await
        .unwrap();
    Fixture {
        ballot,
        supervision_policy,
        scoring_policy,
    }
}

#[tokio::test]
async fn every_rpc_refuses_another_committees_data_to_every_role_it_admits() {
    let server = TestServer::start_with_tokens(&tokens()).await;
    let channel = server.channel().await;
    let fixture: &'static Fixture = Box::leak(Box::new(set_up(&channel).await));
    let clients: BTreeMap<&str, Clients> = A_ROLES
        .iter()
        .map(|(_, token)| (*token, Clients::new(&channel, token)))
        .collect();

    let all: BTreeSet<String> = super::every_rpc().into_iter().collect();
    let mut exercised = BTreeSet::new();
    let mut holes = Vec::new();
    let mut calls = 0;
    for case in cases() {
        assert!(all.contains(case.path), "{} is not an RPC", case.path);
        let rule = rule(case.path).unwrap();
        for (role, token) in A_ROLES {
            if !rule.admits(role) {
                continue;
            }
            calls += 1;
            exercised.insert(case.path);
            let answer = (case.call)(clients[token].clone(), fixture).await;
            let what = format!("{} as {role} of {A} ({:?})", case.path, case.expect);
            match (case.expect, answer) {
                (Expect::Refused(code), Err(status)) => {
                    if status.code() != code {
                        holes.push(format!("{what}: {status:?}"));
                    } else if !(status.message().contains(role.as_str())
                        && status.message().contains(" may "))
                    {
                        holes.push(format!(
                            "{what}: the message {:?} does not say what the role may not do",
                            status.message()
                        ));
                    }
                }
                (Expect::Refused(_), Ok(reply)) => holes.push(format!("{what}: answered {reply}")),
                (Expect::OwnOnly, Ok(reply)) => {
                    if reply.contains(B) || !reply.contains(A) {
                        holes.push(format!("{what}: answered {reply}"));
                    }
                }
                (Expect::OwnOnly, Err(status)) => holes.push(format!("{what}: {status:?}")),
            }
        }
    }
    assert!(
        holes.is_empty(),
        "{} of {calls} calls let another committee's data through or answered wrongly:\n{}",
        holes.len(),
        holes.join("\n")
    );

    // Coverage: every RPC has a cross-committee case or a reason not to.
    let exempt: BTreeMap<&str, &str> = EXEMPT.iter().copied().collect();
    for (path, reason) in &exempt {
        assert!(all.contains(*path), "exempt {path} is not an RPC");
        assert!(
            !exercised.contains(path),
            "{path} is exempt ({reason}) and has a case"
        );
        let scoped = A_ROLES
            .iter()
            .any(|(role, _)| rule(path).unwrap().admits(*role));
        assert!(
            !scoped || reason.contains("no committee data") || reason.contains("retired"),
            "{path} admits a committee-scoped role: it needs a case, not an exemption"
        );
    }
    let missing: Vec<&String> = all
        .iter()
        .filter(|path| !exercised.contains(path.as_str()) && !exempt.contains_key(path.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "RPCs without a cross-committee case: {missing:?}"
    );
    assert!(calls > 100, "only {calls} cross-committee calls made");
}
