//! `oversight.v1.Findings` over gRPC against the real server: the seed's budget ledger (838
//! doubtful items, 756 explained, 139 rectified, 5 being rectified) on the board; a finding
//! walked through both facets, an extension and a verification; overdue and due-soon judged by a
//! fixed test clock; roles; rebuild and restart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::setup::{self, TestClock};
use common::{Bearer, TestServer};
use oversight::proto::finding_scope::Scope;
use oversight::proto::findings_client::FindingsClient;
use oversight::proto::supervision_client::SupervisionClient;
use oversight::proto::*;
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

type Client = FindingsClient<InterceptedService<Channel, Bearer>>;

async fn start() -> (TestServer, Arc<TestClock>) {
    let clock = TestClock::at(2017, 12, 1);
    let dir = tempfile::tempdir().unwrap();
    setup::write_tokens(
        &dir.path().join("data"),
        &[
            ("ovs_clerk", "clerk", "clerk-1", None, "wc"),
            ("ovs_clerk2", "clerk", "clerk-2", None, "wc"),
            ("ovs_chair", "chair", "chair-1", None, "wc"),
            ("ovs_a1", "appointee", "a1", None, "wc"),
            ("ovs_a2", "appointee", "a2", None, "wc"),
            ("ovs_reporter", "reporter", "press", None, "wc"),
            ("ovs_clerk_other", "clerk", "clerk-9", None, "other"),
            ("ovs_chair_other", "chair", "chair-9", None, "other"),
        ],
    );
    let server = TestServer::start_in(dir, |_| {}, Some(clock.shared())).await;
    setup::committee(&server.store(), "wc").await;
    setup::appointee(&server.store(), "wc", "a1").await;
    setup::appointee(&server.store(), "wc", "a2").await;
    (server, clock)
}

async fn client(server: &TestServer, token: &str) -> Client {
    FindingsClient::with_interceptor(server.channel().await, Bearer(Some(token.into())))
}

fn raise(
    id: &str,
    source: FindingSource,
    source_ref: &str,
    appointee: &str,
) -> RaiseFindingRequest {
    RaiseFindingRequest {
        command_id: String::new(),
        finding_id: id.into(),
        committee_id: "wc".into(),
        source: source as i32,
        source_ref: source_ref.into(),
        organ: "财政局".into(),
        appointee_id: appointee.into(),
        severity: FindingSeverity::Moderate as i32,
        description: "expense without contract".into(),
        rectification_required: false,
        correlation_id: String::new(),
        raised_on: String::new(),
    }
}

fn board(scope: Option<Scope>, min_position: u64) -> FindingsBoardRequest {
    FindingsBoardRequest {
        committee_id: "wc".into(),
        scope: scope.map(|s| FindingScope { scope: Some(s) }),
        list_limit: 0,
        min_position,
    }
}

fn count(counts: &[FindingCount], state: &str) -> u64 {
    counts
        .iter()
        .find(|c| c.state == state)
        .unwrap_or_else(|| panic!("no state {state} in {counts:?}"))
        .count
}

fn assert_status(
    result: Result<impl std::fmt::Debug, tonic::Status>,
    code: Code,
    needles: &[&str],
) {
    let status = result.unwrap_err();
    assert_eq!(status.code(), code, "{status:?}");
    for needle in needles {
        assert!(
            status.message().contains(needle),
            "{needle:?} not in {:?}",
            status.message()
        );
    }
}

#[tokio::test]
async fn the_budget_ledger_reports_838_756_139_5() {
    let (server, _clock) = start().await;
    // 838 doubtful items; items 0..756 are explained; of those, 0..139 are also rectified and
    // 139..144 are being rectified (the facets overlap: 756 + 139 + 5 > 838).
    const WORKERS: usize = 32;
    let mut tasks = Vec::new();
    for worker in 0..WORKERS {
        let mut clerk = client(&server, "ovs_clerk").await;
        tasks.push(tokio::spawn(async move {
            let mut last = 0;
            for i in (worker..838).step_by(WORKERS) {
                let id = format!("doubt-{i:04}");
                let mut request = raise(&id, FindingSource::BudgetDoubt, "五常预算联网监督", "");
                request.organ = format!("budget unit {}", i % 15);
                last = last.max(
                    clerk
                        .raise_finding(request)
                        .await
                        .unwrap()
                        .into_inner()
                        .position,
                );
                if i >= 756 {
                    continue;
                }
                clerk
                    .assign_finding(AssignFindingRequest {
                        command_id: String::new(),
                        finding_id: id.clone(),
                        assignee: "财政局".into(),
                        due_on: String::new(),
                        correlation_id: String::new(),
                    })
                    .await
                    .unwrap();
                let rectification = match i {
                    0..139 => FindingRectification::Done,
                    139..144 => FindingRectification::InProgress,
                    _ => FindingRectification::Unspecified,
                };
                let reply = clerk
                    .respond_to_finding(RespondToFindingRequest {
                        command_id: String::new(),
                        finding_id: id,
                        explanation: FindingExplanation::Explained as i32,
                        rectification: rectification as i32,
                        note: "说清".into(),
                        correlation_id: String::new(),
                    })
                    .await
                    .unwrap()
                    .into_inner();
                last = last.max(reply.position);
            }
            last
        }));
    }
    let mut last = 0;
    for task in tasks {
        last = last.max(task.await.unwrap());
    }

    let mut reporter = client(&server, "ovs_reporter").await;
    let b = reporter
        .findings_board(board(None, last))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(b.total, 838);
    assert_eq!(count(&b.explanation, "explained"), 756);
    assert_eq!(count(&b.explanation, "none"), 82);
    assert_eq!(count(&b.rectification, "done"), 139);
    assert_eq!(count(&b.rectification, "in_progress"), 5);
    assert_eq!(count(&b.rectification, "none"), 838 - 144);
    assert_eq!(count(&b.status, "responded"), 756);
    assert_eq!(count(&b.status, "raised"), 82);
    assert!(
        b.overdue.is_empty() && b.due_soon.is_empty(),
        "reporters get counts only"
    );
    let by_year = reporter
        .findings_board(board(Some(Scope::Year(2017)), last))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_year.total, 838);

    // Rebuilding the view from position 0 gives the same board.
    setup::rebuild_view(&server, "findings").await;
    let rebuilt = reporter
        .findings_board(board(None, last))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rebuilt, b);
}

#[tokio::test]
async fn a_finding_walks_through_both_facets_an_extension_and_verification() {
    let (server, clock) = start().await;
    let mut clerk = client(&server, "ovs_clerk").await;
    let mut clerk2 = client(&server, "ovs_clerk2").await;
    let mut chair = client(&server, "ovs_chair").await;
    let mut a1 = client(&server, "ovs_a1").await;
    let mut a2 = client(&server, "ovs_a2").await;
    let mut sup = SupervisionClient::with_interceptor(
        server.channel().await,
        Bearer(Some("ovs_clerk".into())),
    );
    sup.open_inspection(OpenInspectionRequest {
        command_id: String::new(),
        inspection_id: "food-2017".into(),
        committee_id: "wc".into(),
        kind: InspectionKind::LawEnforcement as i32,
        title: "food safety".into(),
        law_reference: Some("食品安全法".into()),
        year: 2017,
        organs: vec!["财政局".into()],
        correlation_id: String::new(),
    })
    .await
    .unwrap();

    let raised = clerk
        .raise_finding(raise("f1", FindingSource::Inspection, "food-2017", "a1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(raised.finding_id, "f1");
    let generated = clerk
        .raise_finding(raise("", FindingSource::Opinion, "审议意见 3", ""))
        .await
        .unwrap()
        .into_inner();
    assert!(!generated.finding_id.is_empty());

    // Rejections name field and rule.
    assert_status(
        clerk
            .raise_finding(raise("bad", FindingSource::Inspection, "no such/id", ""))
            .await,
        Code::InvalidArgument,
        &["source_ref", "inspection id"],
    );
    assert_status(
        clerk
            .raise_finding(raise("f1", FindingSource::Audit, "audit 1", ""))
            .await,
        Code::FailedPrecondition,
        &["already raised"],
    );
    assert_status(
        clerk
            .raise_finding(raise("f9", FindingSource::Audit, "audit 1", "ghost"))
            .await,
        Code::NotFound,
        &["appointee ghost"],
    );
    assert_status(
        a1.respond_to_finding(RespondToFindingRequest {
            command_id: String::new(),
            finding_id: "f1".into(),
            explanation: FindingExplanation::Explained as i32,
            rectification: 0,
            note: String::new(),
            correlation_id: String::new(),
        })
        .await,
        Code::FailedPrecondition,
        &["must be assigned"],
    );
    assert_status(
        clerk
            .assign_finding(AssignFindingRequest {
                command_id: String::new(),
                finding_id: "f1".into(),
                assignee: "财政局".into(),
                due_on: "2017-13-01".into(),
                correlation_id: String::new(),
            })
            .await,
        Code::InvalidArgument,
        &["due_on must be a date written YYYY-MM-DD"],
    );

    let assigned = clerk
        .assign_finding(AssignFindingRequest {
            command_id: String::new(),
            finding_id: "f1".into(),
            assignee: "财政局".into(),
            due_on: "2017-12-10".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(assigned.due_on, "2017-12-10");
    let default_due = clerk
        .assign_finding(AssignFindingRequest {
            command_id: String::new(),
            finding_id: generated.finding_id.clone(),
            assignee: "办公室".into(),
            due_on: String::new(),
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(default_due.due_on, "2018-03-01", "the policy's 3 months");

    // Due soon on 1 December, overdue on 20 December.
    let b = clerk
        .findings_board(board(None, default_due.position))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(b.as_of, "2017-12-01");
    assert_eq!(b.due_soon.len(), 1);
    assert_eq!(b.due_soon[0].finding_id, "f1");
    assert_eq!(b.due_soon[0].days, 9);
    assert!(b.overdue.is_empty());
    clock.set(2017, 12, 20);
    let b = clerk
        .findings_board(board(None, default_due.position))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(b.overdue.len(), 1);
    assert_eq!(
        (b.overdue[0].finding_id.as_str(), b.overdue[0].days),
        ("f1", 10)
    );
    assert_eq!(b.overdue_total, 1);
    let got = a1
        .get_finding(GetFindingRequest {
            finding_id: "f1".into(),
            min_position: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(got.overdue && !got.due_soon);

    assert_status(
        chair
            .extend_finding_deadline(ExtendFindingDeadlineRequest {
                command_id: String::new(),
                finding_id: "f1".into(),
                due_on: "2018-03-01".into(),
                approved_by: String::new(),
                reason: "complex".into(),
                correlation_id: String::new(),
            })
            .await,
        Code::InvalidArgument,
        &["approved_by", "required"],
    );
    assert_status(
        clerk
            .extend_finding_deadline(ExtendFindingDeadlineRequest {
                command_id: String::new(),
                finding_id: "f1".into(),
                due_on: "2018-03-01".into(),
                approved_by: "主任会议".into(),
                reason: "complex".into(),
                correlation_id: String::new(),
            })
            .await,
        Code::PermissionDenied,
        &["clerk", "ExtendFindingDeadline"],
    );
    let extended = chair
        .extend_finding_deadline(ExtendFindingDeadlineRequest {
            command_id: String::new(),
            finding_id: "f1".into(),
            due_on: "2018-03-01".into(),
            approved_by: "主任会议".into(),
            reason: "complex".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let b = clerk
        .findings_board(board(None, extended.position))
        .await
        .unwrap()
        .into_inner();
    assert!(
        b.overdue.is_empty(),
        "the extension takes it off the overdue list"
    );

    // Both facets, by the appointee named; another appointee may not.
    assert_status(
        a2.respond_to_finding(RespondToFindingRequest {
            command_id: String::new(),
            finding_id: "f1".into(),
            explanation: FindingExplanation::Explained as i32,
            rectification: 0,
            note: String::new(),
            correlation_id: String::new(),
        })
        .await,
        Code::PermissionDenied,
        &["does not name them"],
    );
    assert_status(
        a2.get_finding(GetFindingRequest {
            finding_id: "f1".into(),
            min_position: 0,
        })
        .await,
        Code::PermissionDenied,
        &["does not name them"],
    );
    a1.respond_to_finding(RespondToFindingRequest {
        command_id: String::new(),
        finding_id: "f1".into(),
        explanation: FindingExplanation::Explained as i32,
        rectification: 0,
        note: "explained".into(),
        correlation_id: String::new(),
    })
    .await
    .unwrap();
    let responded = clerk
        .respond_to_finding(RespondToFindingRequest {
            command_id: String::new(),
            finding_id: "f1".into(),
            explanation: 0,
            rectification: FindingRectification::Done as i32,
            note: "rectified".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_status(
        clerk
            .verify_finding(VerifyFindingRequest {
                command_id: String::new(),
                finding_id: "f1".into(),
                verdict: FindingVerdict::Accept as i32,
                reason: String::new(),
                correlation_id: String::new(),
            })
            .await,
        Code::FailedPrecondition,
        &["clerk-1", "cannot verify"],
    );
    assert_status(
        clerk2
            .verify_finding(VerifyFindingRequest {
                command_id: String::new(),
                finding_id: "f1".into(),
                verdict: FindingVerdict::Reject as i32,
                reason: String::new(),
                correlation_id: String::new(),
            })
            .await,
        Code::InvalidArgument,
        &["verdict.reason"],
    );
    let by_inspection = clerk
        .findings_board(board(
            Some(Scope::InspectionId("food-2017".into())),
            responded.position,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_inspection.total, 1);
    assert_eq!(count(&by_inspection.explanation, "explained"), 1);
    assert_eq!(count(&by_inspection.rectification, "done"), 1);
    assert_eq!(count(&by_inspection.status, "responded"), 1);

    // A rejected response reopens the finding; a new response goes back to verification.
    let reopened = clerk2
        .verify_finding(VerifyFindingRequest {
            command_id: String::new(),
            finding_id: "f1".into(),
            verdict: FindingVerdict::Reject as i32,
            reason: "no evidence of the contract".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let b = clerk
        .findings_board(board(
            Some(Scope::AppointeeId("a1".into())),
            reopened.position,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(count(&b.status, "reopened"), 1);
    assert_eq!(count(&b.status, "responded"), 0);
    assert_status(
        clerk2
            .verify_finding(VerifyFindingRequest {
                command_id: String::new(),
                finding_id: "f1".into(),
                verdict: FindingVerdict::Accept as i32,
                reason: String::new(),
                correlation_id: String::new(),
            })
            .await,
        Code::FailedPrecondition,
        &["no response to verify"],
    );
    a1.respond_to_finding(RespondToFindingRequest {
        command_id: String::new(),
        finding_id: "f1".into(),
        explanation: FindingExplanation::Explained as i32,
        rectification: 0,
        note: "contract attached".into(),
        correlation_id: String::new(),
    })
    .await
    .unwrap();

    let closed = clerk2
        .verify_finding(VerifyFindingRequest {
            command_id: String::new(),
            finding_id: "f1".into(),
            verdict: FindingVerdict::Accept as i32,
            reason: String::new(),
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let got = a1
        .get_finding(GetFindingRequest {
            finding_id: "f1".into(),
            min_position: closed.position,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.status(), FindingStatus::Closed);
    assert_eq!(got.explanation(), FindingExplanation::Explained);
    assert_eq!(got.rectification(), FindingRectification::Done);
    assert_eq!(got.verified_by, "clerk-2");
    assert_eq!(got.extensions, 1);
    assert_eq!(got.responders, ["a1", "clerk-1"]);
    assert!(!got.overdue);

    // Lists: the appointee sees their own scope only; filters by status.
    let mine = a1
        .list_findings(ListFindingsRequest {
            committee_id: "wc".into(),
            scope: Some(FindingScope {
                scope: Some(Scope::AppointeeId("a1".into())),
            }),
            min_position: closed.position,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(mine.findings.len(), 1);
    assert_status(
        a1.list_findings(ListFindingsRequest {
            committee_id: "wc".into(),
            ..Default::default()
        })
        .await,
        Code::PermissionDenied,
        &["their own"],
    );
    let open = clerk
        .list_findings(ListFindingsRequest {
            committee_id: "wc".into(),
            status: FindingStatus::Assigned as i32,
            min_position: closed.position,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<_> = open.findings.iter().map(|f| f.finding_id.clone()).collect();
    assert_eq!(ids, std::slice::from_ref(&generated.finding_id));

    let mut reporter = client(&server, "ovs_reporter").await;
    assert_status(
        reporter
            .raise_finding(raise("r", FindingSource::Audit, "x", ""))
            .await,
        Code::PermissionDenied,
        &["reporter", "RaiseFinding"],
    );
    assert_status(
        reporter
            .get_finding(GetFindingRequest {
                finding_id: "f1".into(),
                min_position: 0,
            })
            .await,
        Code::PermissionDenied,
        &["reporter", "GetFinding"],
    );

    // Pages of the whole committee, then the same after a rebuild and after a restart.
    let all = list_all(&server, closed.position).await;
    assert_eq!(all.len(), 2);
    setup::rebuild_view(&server, "findings").await;
    assert_eq!(list_all(&server, closed.position).await, all);
    let server = server.restart(Some(clock.shared())).await;
    assert_eq!(list_all(&server, closed.position).await, all);
}

async fn list_all(server: &TestServer, min_position: u64) -> Vec<FindingRecord> {
    let mut clerk = client(server, "ovs_clerk").await;
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let page = clerk
            .list_findings(ListFindingsRequest {
                committee_id: "wc".into(),
                page_size: 1,
                page_token: token.clone(),
                min_position,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        out.extend(page.findings);
        if page.next_page_token.is_empty() {
            return out;
        }
        token = page.next_page_token;
    }
}

fn policy_with(due_months: u32, due_soon_days: u32) -> SupervisionPolicy {
    SupervisionPolicy {
        visit_rating_min: 1,
        visit_rating_max: 5,
        finding_due_months: due_months,
        finding_due_soon_days: due_soon_days,
        annual_plan_min_laws: 3,
        annual_plan_max_laws: 5,
        feedback_rating_options: vec![
            "satisfied".into(),
            "basically_satisfied".into(),
            "dissatisfied".into(),
        ],
        utc_offset_minutes: 480,
    }
}

#[tokio::test]
async fn an_adopted_policy_sets_new_due_dates_and_leaves_earlier_ones() {
    let (server, _clock) = start().await;
    let mut registry = server.registry(&server.token).await;
    let mut clerk = client(&server, "ovs_clerk").await;
    let get_policy = |min_position| GetSupervisionPolicyRequest {
        committee_id: "wc".into(),
        min_position,
    };

    // Before any adoption: the shipped default, version 0.
    let shipped = registry
        .get_supervision_policy(get_policy(0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((shipped.version, shipped.position), (0, 0));
    assert_eq!(shipped.policy.unwrap(), policy_with(3, 14));

    // Assigned under the default: three months from 2017-12-01.
    clerk
        .raise_finding(raise("early", FindingSource::Inspection, "insp-1", "a1"))
        .await
        .unwrap();
    let early = clerk
        .assign_finding(AssignFindingRequest {
            command_id: String::new(),
            finding_id: "early".into(),
            assignee: "财政局".into(),
            due_on: String::new(),
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(early.due_on, "2018-03-01");

    // The committee adopts one month, and a due-soon window of 40 days.
    let adopted = registry
        .adopt_supervision_policy(AdoptSupervisionPolicyRequest {
            command_id: String::new(),
            committee_id: "wc".into(),
            policy: Some(policy_with(1, 40)),
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(adopted.version, 1);
    let in_force = registry
        .get_supervision_policy(get_policy(adopted.position))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((in_force.version, in_force.position), (1, adopted.position));
    assert_eq!(in_force.policy.unwrap(), policy_with(1, 40));

    // A policy that does not hold together is refused naming the field; nothing is written.
    let head_before = server.store().head().await.unwrap().position;
    let refused = registry
        .adopt_supervision_policy(AdoptSupervisionPolicyRequest {
            command_id: String::new(),
            committee_id: "wc".into(),
            policy: Some(policy_with(0, 14)),
            correlation_id: String::new(),
        })
        .await;
    assert_status(
        refused,
        Code::InvalidArgument,
        &["policy.finding_due_months"],
    );
    assert_eq!(server.store().head().await.unwrap().position, head_before);
    let unchanged = registry
        .get_supervision_policy(get_policy(0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(unchanged.version, 1);

    // A finding assigned now gets the adopted month; the earlier one keeps its date.
    clerk
        .raise_finding(raise("late", FindingSource::Inspection, "insp-1", "a2"))
        .await
        .unwrap();
    let late = clerk
        .assign_finding(AssignFindingRequest {
            command_id: String::new(),
            finding_id: "late".into(),
            assignee: "财政局".into(),
            due_on: String::new(),
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(late.due_on, "2018-01-01");
    let early_now = clerk
        .get_finding(GetFindingRequest {
            finding_id: "early".into(),
            min_position: late.position,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(early_now.due_on, "2018-03-01", "frozen at assignment");

    // The board judges due-soon by the policy in force: 31 days out is within 40, 90 is not
    // (under the shipped 14 days, neither would be).
    let reply = clerk
        .findings_board(board(None, late.position))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.due_soon_total, 1);
    assert_eq!(reply.due_soon[0].finding_id, "late");
    assert_eq!(reply.overdue_total, 0);
}

/// Harbin (city) over the Xiangfang and Daowai districts, created over gRPC, with clerks of all
/// three and an appointee of Xiangfang with one open finding due in ten days.
#[tokio::test]
async fn a_city_reads_its_districts_aggregates_but_not_their_records() {
    use common::TokenSpec;
    use oversight::proto::list_site_visits_request::Scope as ListScope;
    use oversight::proto::visit_averages_request::Scope as AvgScope;
    let clock = TestClock::at(2017, 12, 1);
    let dir = tempfile::tempdir().unwrap();
    common::write_token_specs(
        &dir.path().join("data"),
        &[
            TokenSpec::new("ovs_clerk_hrb", "clerk", Some("harbin")),
            TokenSpec::new("ovs_clerk_xf", "clerk", Some("xf")),
            TokenSpec::new("ovs_clerk_dw", "clerk", Some("dw")),
        ],
    );
    let server = TestServer::start_in(dir, |_| {}, Some(clock.shared())).await;
    let mut admin = server.registry(&server.token).await;
    for (id, level, parent) in [
        ("harbin", CommitteeLevel::City, ""),
        ("xf", CommitteeLevel::District, "harbin"),
        ("dw", CommitteeLevel::District, "harbin"),
    ] {
        admin
            .create_committee(CreateCommitteeRequest {
                command_id: String::new(),
                committee_id: id.into(),
                name: format!("{id} standing committee"),
                level: level as i32,
                parent_committee_id: parent.into(),
                correlation_id: String::new(),
            })
            .await
            .unwrap();
    }
    let mut xf_registry = server.registry("ovs_clerk_xf").await;
    xf_registry
        .register_appointee(RegisterAppointeeRequest {
            command_id: String::new(),
            appointee_id: "a1".into(),
            committee_id: "xf".into(),
            name: "official a1".into(),
            post: "director".into(),
            organ_kind: OrganKind::Government as i32,
            organ_name: "财政局".into(),
            appointed_on: "2016-12-01".into(),
            appointing_meeting: "5th meeting".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap();
    let mut xf = client(&server, "ovs_clerk_xf").await;
    let mut request = raise("f1", FindingSource::Inspection, "insp-1", "a1");
    request.committee_id = "xf".into();
    xf.raise_finding(request).await.unwrap();
    let assigned = xf
        .assign_finding(AssignFindingRequest {
            command_id: String::new(),
            finding_id: "f1".into(),
            assignee: "财政局".into(),
            due_on: "2017-12-11".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let xf_board = |min_position| FindingsBoardRequest {
        committee_id: "xf".into(),
        scope: None,
        list_limit: 0,
        min_position,
    };

    // The district's own clerk sees the counts and the finding due soon.
    let own = xf
        .findings_board(xf_board(assigned.position))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (own.total, own.due_soon_total, own.due_soon.len()),
        (1, 1, 1)
    );

    // The city's clerk gets the same counts, without the finding itself.
    let mut city = client(&server, "ovs_clerk_hrb").await;
    let counts = city
        .findings_board(xf_board(assigned.position))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((counts.total, counts.due_soon_total), (1, 1));
    assert!(counts.due_soon.is_empty() && counts.overdue.is_empty());
    // … and is refused the district's findings, visits and appointees.
    let list = city
        .list_findings(ListFindingsRequest {
            committee_id: "xf".into(),
            scope: None,
            status: 0,
            page_size: 0,
            page_token: String::new(),
            min_position: assigned.position,
        })
        .await;
    assert_status(
        list,
        Code::PermissionDenied,
        &["records of committee xf", "aggregates"],
    );
    let one = city
        .get_finding(GetFindingRequest {
            finding_id: "f1".into(),
            min_position: assigned.position,
        })
        .await;
    assert_status(one, Code::PermissionDenied, &["records of committee xf"]);
    let mut city_supervision = SupervisionClient::with_interceptor(
        server.channel().await,
        Bearer(Some("ovs_clerk_hrb".into())),
    );
    let visits = city_supervision
        .list_site_visits(ListSiteVisitsRequest {
            scope: Some(ListScope::AppointeeId("a1".into())),
            committee_id: String::new(),
            page_size: 0,
            page_token: String::new(),
            min_position: assigned.position,
            ..Default::default()
        })
        .await;
    assert_status(visits, Code::PermissionDenied, &["records of committee xf"]);
    let averages = city_supervision
        .visit_averages(VisitAveragesRequest {
            scope: Some(AvgScope::AppointeeId("a1".into())),
            committee_id: String::new(),
            from: None,
            to: None,
            min_position: assigned.position,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(averages.visits, 0);
    let mut city_registry = server.registry("ovs_clerk_hrb").await;
    let appointee = city_registry
        .get_appointee(GetAppointeeRequest {
            appointee_id: "a1".into(),
            min_position: assigned.position,
        })
        .await;
    assert_status(
        appointee,
        Code::PermissionDenied,
        &["records of committee xf"],
    );

    // A sibling district reads neither.
    let mut dw = client(&server, "ovs_clerk_dw").await;
    let sibling = dw.findings_board(xf_board(assigned.position)).await;
    assert_status(sibling, Code::PermissionDenied, &["read committee xf"]);
}

#[tokio::test]
async fn another_committees_clerk_and_chair_cannot_act_on_its_findings() {
    let (server, _clock) = start().await;
    let mut clerk = client(&server, "ovs_clerk").await;
    let mut other = client(&server, "ovs_clerk_other").await;
    let mut other_chair = client(&server, "ovs_chair_other").await;
    let head = server.store().head().await.unwrap().position;

    // Raising in a committee that is not the token's: refused, nothing written.
    assert_status(
        other
            .raise_finding(raise("f-x", FindingSource::Audit, "audit-1", "a1"))
            .await,
        Code::PermissionDenied,
        &["committee wc"],
    );
    assert_eq!(server.store().head().await.unwrap().position, head);

    // A finding of wc is acted on only by wc's principals.
    clerk
        .raise_finding(raise("f-1", FindingSource::Audit, "audit-1", "a1"))
        .await
        .unwrap();
    let head = server.store().head().await.unwrap().position;
    assert_status(
        other
            .assign_finding(AssignFindingRequest {
                finding_id: "f-1".into(),
                assignee: "财政局".into(),
                ..Default::default()
            })
            .await,
        Code::PermissionDenied,
        &["committee wc"],
    );
    assert_status(
        other_chair
            .verify_finding(VerifyFindingRequest {
                finding_id: "f-1".into(),
                verdict: FindingVerdict::Accept as i32,
                ..Default::default()
            })
            .await,
        Code::PermissionDenied,
        &["committee wc"],
    );
    assert_eq!(server.store().head().await.unwrap().position, head);
    clerk
        .assign_finding(AssignFindingRequest {
            finding_id: "f-1".into(),
            assignee: "财政局".into(),
            ..Default::default()
        })
        .await
        .unwrap();
}

/// A finding recorded after the fact keeps the day it was raised (the visit's or inspection's),
/// never a day after today; without one it is raised today, on the committee's calendar.
#[tokio::test]
async fn a_finding_recorded_after_the_fact_keeps_the_day_it_was_raised() {
    let (server, _clock) = start().await;
    let mut clerk = client(&server, "ovs_clerk").await;
    let earlier = clerk
        .raise_finding(RaiseFindingRequest {
            raised_on: "2017-11-20".into(),
            ..raise("f1", FindingSource::Audit, "audit 1", "a1")
        })
        .await
        .unwrap()
        .into_inner();
    let today = clerk
        .raise_finding(raise("f2", FindingSource::Audit, "audit 2", "a1"))
        .await
        .unwrap()
        .into_inner();
    for (day, needles) in [
        ("2017-12-02", &["raised_on", "after today"][..]),
        ("2017-13-01", &["raised_on"][..]),
    ] {
        assert_status(
            clerk
                .raise_finding(RaiseFindingRequest {
                    raised_on: day.into(),
                    ..raise("f3", FindingSource::Audit, "audit 3", "")
                })
                .await,
            Code::InvalidArgument,
            needles,
        );
    }
    let record = |id: &str, min_position| GetFindingRequest {
        finding_id: id.into(),
        min_position,
    };
    let f1 = clerk
        .get_finding(record("f1", earlier.position))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(f1.raised_on, "2017-11-20");
    assert_eq!(f1.year, 2017);
    let f2 = clerk
        .get_finding(record("f2", today.position))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(f2.raised_on, "2017-12-01");
}
