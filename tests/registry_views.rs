//! The `registry`, `hearings`, `visits`, `inspections` and `findings` views under a
//! deterministic random sequence of commands: rebuilding them from position 0
//! (Operations/RebuildView) gives exactly the query results the incrementally maintained views
//! gave, and so does a restart of the server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::setup::TestClock;
use common::{Bearer, HearingsClient, OperationsClient, RegistryClient, TestServer, TokenSpec};
use oversight::proto;
use oversight::proto::findings_client::FindingsClient;
use oversight::proto::supervision_client::SupervisionClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

type Registry = RegistryClient;
type Hearings = HearingsClient;
type Operations = OperationsClient;
type Supervision = SupervisionClient<InterceptedService<Channel, Bearer>>;
type Findings = FindingsClient<InterceptedService<Channel, Bearer>>;

/// The clients the scenario drives: the admin's, and a clerk's findings client per committee
/// (a finding's response comes from its committee's clerk, so that the admin may verify it).
struct Clients {
    registry: Registry,
    hearings: Hearings,
    supervision: Supervision,
    findings: Findings,
    clerks: Vec<Findings>,
}

impl Clients {
    async fn connect(server: &TestServer) -> Self {
        let admin = Bearer(Some(server.token.clone()));
        let mut clerks = Vec::new();
        for committee in COMMITTEES {
            let bearer = Bearer(Some(format!("ovs_clerk_{committee}")));
            clerks.push(FindingsClient::with_interceptor(
                server.channel().await,
                bearer,
            ));
        }
        Self {
            registry: server.registry(&server.token).await,
            hearings: server.hearings(&server.token).await,
            supervision: SupervisionClient::with_interceptor(server.channel().await, admin.clone()),
            findings: FindingsClient::with_interceptor(server.channel().await, admin),
            clerks,
        }
    }
}

/// A clerk of each committee, for the findings' responses.
fn clerk_tokens() -> Vec<TokenSpec> {
    vec![
        TokenSpec::new("ovs_clerk_harbin", "clerk", Some("harbin")),
        TokenSpec::new("ovs_clerk_xiangfang", "clerk", Some("xiangfang")),
        TokenSpec::new("ovs_clerk_daowai", "clerk", Some("daowai")),
    ]
}

/// xorshift64: a fixed seed gives the same sequence on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

const COMMITTEES: [&str; 3] = ["harbin", "xiangfang", "daowai"];

async fn scenario(clients: &mut Clients, seed: u64) {
    let Clients {
        registry,
        hearings,
        supervision,
        findings,
        clerks,
    } = clients;
    let mut rng = Rng(seed);
    registry
        .create_committee(proto::CreateCommitteeRequest {
            command_id: String::new(),
            committee_id: "harbin".into(),
            name: "哈尔滨市人大常委会".into(),
            level: proto::CommitteeLevel::City as i32,
            parent_committee_id: String::new(),
            correlation_id: String::new(),
        })
        .await
        .unwrap();
    for district in &COMMITTEES[1..] {
        registry
            .create_committee(proto::CreateCommitteeRequest {
                command_id: String::new(),
                committee_id: (*district).into(),
                name: format!("{district}区人大常委会"),
                level: proto::CommitteeLevel::District as i32,
                parent_committee_id: "harbin".into(),
                correlation_id: String::new(),
            })
            .await
            .unwrap();
    }
    for step in 0..600u64 {
        let committee = COMMITTEES[rng.below(3) as usize].to_string();
        let appointee = format!("a{}", rng.below(12));
        let group = format!("g{}", rng.below(3));
        let person = format!("p{}", rng.below(6));
        let report = format!("r{}", rng.below(10));
        let batch = format!("f{}", rng.below(10));
        let day = format!(
            "20{:02}-0{}-1{}",
            17 + rng.below(3),
            1 + rng.below(9),
            rng.below(10)
        );
        // Rejected commands are part of the sequence too: they must leave no trace.
        let _ = match rng.below(35) {
            0 | 1 => registry
                .register_appointee(proto::RegisterAppointeeRequest {
                    command_id: String::new(),
                    appointee_id: appointee,
                    committee_id: committee,
                    name: format!("name {step}"),
                    post: "副区长".into(),
                    organ_kind: 1 + rng.below(4) as i32,
                    organ_name: "人民政府".into(),
                    appointed_on: "2017-01-01".into(),
                    appointing_meeting: "第五次会议".into(),
                    correlation_id: String::new(),
                })
                .await
                .map(|_| ()),
            2 => registry
                .change_appointee_post(proto::ChangeAppointeePostRequest {
                    command_id: String::new(),
                    appointee_id: appointee,
                    post: format!("post {step}"),
                    organ_name: String::new(),
                    on: day,
                    appointing_meeting: "会议".into(),
                    correlation_id: String::new(),
                })
                .await
                .map(|_| ()),
            3 => registry
                .end_appointee_term(proto::EndAppointeeTermRequest {
                    command_id: String::new(),
                    appointee_id: appointee,
                    kind: 1 + rng.below(4) as i32,
                    on: day,
                    reason: "决定".into(),
                    correlation_id: String::new(),
                })
                .await
                .map(|_| ()),
            4 => registry
                .form_deputy_group(proto::FormDeputyGroupRequest {
                    command_id: String::new(),
                    group_id: group,
                    committee_id: committee,
                    name: format!("group {step}"),
                    correlation_id: String::new(),
                })
                .await
                .map(|_| ()),
            5 => registry
                .add_deputy(proto::AddDeputyRequest {
                    command_id: String::new(),
                    group_id: group,
                    deputy_id: person,
                    name: format!("deputy {step}"),
                    correlation_id: String::new(),
                })
                .await
                .map(|_| ()),
            6 => registry
                .remove_deputy(proto::RemoveDeputyRequest {
                    command_id: String::new(),
                    group_id: group,
                    deputy_id: person,
                    correlation_id: String::new(),
                })
                .await
                .map(|_| ()),
            7 => registry
                .add_committee_member(proto::AddCommitteeMemberRequest {
                    command_id: String::new(),
                    committee_id: committee,
                    member_id: person,
                    name: format!("member {step}"),
                    from: "2017-01-01".into(),
                    to: String::new(),
                    correlation_id: String::new(),
                })
                .await
                .map(|_| ()),
            8 => registry
                .remove_committee_member(proto::RemoveCommitteeMemberRequest {
                    command_id: String::new(),
                    committee_id: committee,
                    member_id: person,
                    to: day,
                    correlation_id: String::new(),
                })
                .await
                .map(|_| ()),
            9 => hearings
                .file_duty_report(proto::FileDutyReportRequest {
                    command_id: String::new(),
                    duty_report_id: report,
                    appointee_id: appointee,
                    title: format!("report {step}"),
                    document_sha256: format!("{:064x}", step),
                    filed_at: Some(prost_types::Timestamp {
                        seconds: 1_513_728_000 + step as i64,
                        nanos: 0,
                    }),
                    session_ref: "s-2017-12".into(),
                    correlation_id: String::new(),
                })
                .await
                .map(|_| ()),
            10 => hearings
                .revise_duty_report(proto::ReviseDutyReportRequest {
                    command_id: String::new(),
                    duty_report_id: report,
                    title: format!("revised {step}"),
                    document_sha256: format!("{:064x}", 1000 + step),
                    reason: "补充".into(),
                    correlation_id: String::new(),
                })
                .await
                .map(|_| ()),
            11 => hearings
                .record_stakeholder_feedback(proto::RecordStakeholderFeedbackRequest {
                    command_id: String::new(),
                    feedback_id: batch,
                    appointee_id: appointee,
                    session_ref: "s-2017-12".into(),
                    source: 1 + rng.below(2) as i32,
                    method: 3,
                    participants: 5,
                    counts: vec![proto::RatingCount {
                        option: "satisfied".into(),
                        count: rng.below(6) as u32,
                    }],
                    summary: "谈话内容".into(),
                    confidential: true,
                    correlation_id: String::new(),
                })
                .await
                .map(|_| ()),
            12 => hearings
                .retract_stakeholder_feedback(proto::RetractStakeholderFeedbackRequest {
                    command_id: String::new(),
                    feedback_id: batch,
                    reason: "有误".into(),
                    correlation_id: String::new(),
                })
                .await
                .map(|_| ()),
            choice => supervise(supervision, findings, clerks, &mut rng, choice - 13, step).await,
        };
    }
}

/// Ratings drawn from 0 (not rated) to 5; all three unrated is refused.
fn ratings(rng: &mut Rng) -> Option<proto::VisitRatings> {
    let mut rate = || Some(rng.below(6) as u32).filter(|r| *r > 0);
    Some(proto::VisitRatings {
        work_discipline: rate(),
        service_quality: rate(),
        efficiency: rate(),
    })
}

/// One command on visits (filed by the admin for a deputy group), inspections or findings.
/// Ids are drawn from small sets so that later commands meet earlier records; a finding's id
/// names its committee, so that its committee's clerk can respond to it.
async fn supervise(
    supervision: &mut Supervision,
    findings: &mut Findings,
    clerks: &mut [Findings],
    rng: &mut Rng,
    choice: u64,
    step: u64,
) -> Result<(), tonic::Status> {
    let visit = format!("v{}", rng.below(8));
    let inspection = format!("i{}", rng.below(6));
    let c = rng.below(3) as usize;
    let committee = COMMITTEES[c].to_string();
    let finding = format!("{committee}-f{}", rng.below(3));
    // Visits between 2017-01-01 and the clock's 2017-12-31.
    let visited_at = Some(prost_types::Timestamp {
        seconds: 1_483_228_800 + rng.below(330) as i64 * 86_400,
        nanos: 0,
    });
    match choice {
        0 | 1 => {
            let appointee_ids = match rng.below(3) {
                0 => vec![format!("a{}", rng.below(12))],
                _ => Vec::new(),
            };
            supervision
                .file_site_visit(proto::FileSiteVisitRequest {
                    command_id: String::new(),
                    visit_id: visit,
                    group_id: format!("g{}", rng.below(3)),
                    target_organ: format!("organ {}", rng.below(3)),
                    appointee_ids,
                    mode: 1 + rng.below(4) as i32,
                    visited_at,
                    ratings: ratings(rng),
                    notes: format!("notes {step}"),
                    evidence_sha256: vec![format!("{:064x}", step)],
                    correlation_id: String::new(),
                })
                .await
                .map(|_| ())
        }
        2 => supervision
            .correct_site_visit(proto::CorrectSiteVisitRequest {
                command_id: String::new(),
                visit_id: visit,
                ratings: ratings(rng),
                notes: format!("corrected {step}"),
                evidence_sha256: Vec::new(),
                reason: "核实".into(),
                correlation_id: String::new(),
            })
            .await
            .map(|_| ()),
        3 => supervision
            .retract_site_visit(proto::RetractSiteVisitRequest {
                command_id: String::new(),
                visit_id: visit,
                reason: "误报".into(),
                correlation_id: String::new(),
            })
            .await
            .map(|_| ()),
        4 => supervision
            .issue_visit_report(proto::IssueVisitReportRequest {
                command_id: String::new(),
                visit_id: visit,
                report_ref: format!("香人常函〔2017〕{step}号"),
                correlation_id: String::new(),
            })
            .await
            .map(|_| ()),
        5 => supervision
            .open_inspection(proto::OpenInspectionRequest {
                command_id: String::new(),
                inspection_id: inspection,
                committee_id: committee,
                kind: 1 + rng.below(3) as i32,
                title: format!("inspection {step}"),
                law_reference: Some("《食品安全法》".into()),
                year: 2016 + rng.below(3) as i32,
                organs: vec![format!("organ {}", rng.below(3))],
                correlation_id: String::new(),
            })
            .await
            .map(|_| ()),
        6 => supervision
            .record_inspection_report(proto::RecordInspectionReportRequest {
                command_id: String::new(),
                inspection_id: inspection,
                evaluation: format!("evaluation {step}"),
                problems: vec!["问题".into()],
                suggestions: vec!["建议".into()],
                correlation_id: String::new(),
            })
            .await
            .map(|_| ()),
        7 | 8 => {
            let (source, source_ref) = match rng.below(3) {
                0 => (proto::FindingSource::Inspection, inspection),
                1 => (proto::FindingSource::Visit, visit),
                _ => (
                    proto::FindingSource::BudgetDoubt,
                    "预算联网监督".to_string(),
                ),
            };
            findings
                .raise_finding(proto::RaiseFindingRequest {
                    command_id: String::new(),
                    finding_id: finding,
                    committee_id: committee,
                    source: source as i32,
                    source_ref,
                    organ: format!("organ {}", rng.below(3)),
                    appointee_id: String::new(),
                    severity: 1 + rng.below(3) as i32,
                    description: format!("finding {step}"),
                    rectification_required: rng.below(2) == 0,
                    correlation_id: String::new(),
                    raised_on: String::new(),
                })
                .await
                .map(|_| ())
        }
        9..=11 => findings
            .assign_finding(proto::AssignFindingRequest {
                command_id: String::new(),
                finding_id: finding,
                assignee: format!("office {}", rng.below(3)),
                due_on: String::new(),
                correlation_id: String::new(),
            })
            .await
            .map(|_| ()),
        12 | 13 => findings
            .extend_finding_deadline(proto::ExtendFindingDeadlineRequest {
                command_id: String::new(),
                finding_id: finding,
                due_on: format!("2018-{:02}-15", 1 + rng.below(12)),
                approved_by: "主任会议".into(),
                reason: "延期".into(),
                correlation_id: String::new(),
            })
            .await
            .map(|_| ()),
        14..=17 => clerks[c]
            .respond_to_finding(proto::RespondToFindingRequest {
                command_id: String::new(),
                finding_id: finding,
                explanation: rng.below(3) as i32,
                rectification: rng.below(7) as i32,
                note: format!("response {step}"),
                correlation_id: String::new(),
            })
            .await
            .map(|_| ()),
        _ => findings
            .verify_finding(proto::VerifyFindingRequest {
                command_id: String::new(),
                finding_id: finding,
                verdict: 1 + rng.below(2) as i32,
                reason: "整改不到位".into(),
                correlation_id: String::new(),
            })
            .await
            .map(|_| ()),
    }
}

async fn head(operations: &mut Operations) -> u64 {
    operations
        .status(proto::StatusRequest {})
        .await
        .unwrap()
        .into_inner()
        .head_position
}

/// Everything the queries return, paging through the lists in pages of 3.
async fn snapshot(clients: &mut Clients, at: u64) -> Vec<String> {
    let Clients {
        registry,
        hearings,
        supervision,
        findings,
        ..
    } = clients;
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let page = registry
            .list_committees(proto::ListCommitteesRequest {
                parent_committee_id: String::new(),
                page_size: 3,
                page_token: token,
                min_position: at,
            })
            .await
            .unwrap()
            .into_inner();
        for committee in page.committees {
            let full = registry
                .get_committee(proto::GetCommitteeRequest {
                    committee_id: committee.committee_id.clone(),
                    min_position: at,
                })
                .await
                .unwrap()
                .into_inner();
            out.push(format!("{committee:?}"));
            out.push(format!("{full:?}"));
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let mut token = String::new();
    loop {
        let page = registry
            .list_deputy_groups(proto::ListDeputyGroupsRequest {
                committee_id: String::new(),
                page_size: 3,
                page_token: token,
                min_position: at,
            })
            .await
            .unwrap()
            .into_inner();
        out.extend(page.groups.iter().map(|g| format!("{g:?}")));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let mut appointees = Vec::new();
    let mut token = String::new();
    loop {
        let page = registry
            .list_appointees(proto::ListAppointeesRequest {
                committee_id: String::new(),
                organ_kind: 0,
                status: 0,
                page_size: 3,
                page_token: token,
                min_position: at,
            })
            .await
            .unwrap()
            .into_inner();
        appointees.extend(page.appointees);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    for appointee in appointees {
        let id = appointee.appointee_id.clone();
        out.push(format!("{appointee:?}"));
        let reports = hearings
            .list_duty_reports(proto::ListDutyReportsRequest {
                appointee_id: id.clone(),
                page_size: 0,
                page_token: String::new(),
                min_position: at,
            })
            .await
            .unwrap()
            .into_inner();
        out.push(format!("{reports:?}"));
        let feedback = hearings
            .list_stakeholder_feedback(proto::ListStakeholderFeedbackRequest {
                appointee_id: id,
                page_size: 0,
                page_token: String::new(),
                min_position: at,
            })
            .await
            .unwrap()
            .into_inner();
        out.push(format!("{feedback:?}"));
    }
    out.extend(supervision_snapshot(supervision, findings, at).await);
    out
}

/// The `visits`, `inspections` and `findings` views as their queries return them: the visits
/// of every group and every appointee id the scenario draws (paged by 3), their averages, and
/// per committee its inspections, its findings board and its findings (paged by 3).
async fn supervision_snapshot(
    supervision: &mut Supervision,
    findings: &mut Findings,
    at: u64,
) -> Vec<String> {
    use proto::list_site_visits_request::Scope as ListScope;
    use proto::visit_averages_request::Scope as AvgScope;
    let mut out = Vec::new();
    let scopes = (0..3)
        .map(|g| ListScope::GroupId(format!("g{g}")))
        .chain((0..12).map(|a| ListScope::AppointeeId(format!("a{a}"))))
        .chain((0..3).map(|o| ListScope::Organ(format!("organ {o}"))));
    for scope in scopes {
        for committee in COMMITTEES {
            let mut token = String::new();
            loop {
                let page = supervision
                    .list_site_visits(proto::ListSiteVisitsRequest {
                        scope: Some(scope.clone()),
                        committee_id: committee.into(),
                        page_size: 3,
                        page_token: token,
                        min_position: at,
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .into_inner();
                out.extend(page.visits.iter().map(|v| format!("{scope:?} {v:?}")));
                if page.next_page_token.is_empty() {
                    break;
                }
                token = page.next_page_token;
            }
            if !matches!(scope, ListScope::Organ(_)) {
                // The committee is ignored but for the organ scope: list once.
                break;
            }
        }
    }
    let averages = (0..12)
        .map(|a| (AvgScope::AppointeeId(format!("a{a}")), ""))
        .chain(
            COMMITTEES
                .iter()
                .flat_map(|c| (0..3).map(move |o| (AvgScope::Organ(format!("organ {o}")), *c))),
        );
    for (scope, committee) in averages {
        let reply = supervision
            .visit_averages(proto::VisitAveragesRequest {
                scope: Some(scope.clone()),
                committee_id: committee.into(),
                from: None,
                to: None,
                min_position: at,
            })
            .await
            .unwrap()
            .into_inner();
        out.push(format!("{scope:?} {committee} {reply:?}"));
    }
    for committee in COMMITTEES {
        let mut token = String::new();
        loop {
            let page = supervision
                .list_inspections(proto::ListInspectionsRequest {
                    committee_id: committee.into(),
                    year: 0,
                    page_size: 3,
                    page_token: token,
                    min_position: at,
                })
                .await
                .unwrap()
                .into_inner();
            out.extend(page.inspections.iter().map(|i| format!("{i:?}")));
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        let board = findings
            .findings_board(proto::FindingsBoardRequest {
                committee_id: committee.into(),
                scope: None,
                list_limit: 0,
                min_position: at,
            })
            .await
            .unwrap()
            .into_inner();
        out.push(format!("{committee} {board:?}"));
        let mut token = String::new();
        loop {
            let page = findings
                .list_findings(proto::ListFindingsRequest {
                    committee_id: committee.into(),
                    scope: None,
                    status: 0,
                    page_size: 3,
                    page_token: token,
                    min_position: at,
                })
                .await
                .unwrap()
                .into_inner();
            out.extend(page.findings.iter().map(|f| format!("{f:?}")));
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
    }
    out
}

async fn rebuild(operations: &mut Operations, name: &str) {
    let mut progress = operations
        .rebuild_view(proto::RebuildViewRequest { name: name.into() })
        .await
        .unwrap()
        .into_inner();
    let mut done = false;
    while let Some(message) = progress.message().await.unwrap() {
        done = message.done;
    }
    assert!(done, "rebuild of {name} did not finish");
}

#[tokio::test]
async fn rebuild_and_restart_give_the_same_query_results() {
    let mut seen = Vec::new();
    for seed in [0x9e37_79b9_7f4a_7c15, 0x2545_f491_4f6c_dd1d, 42] {
        seen.extend(rebuild_and_restart(seed).await);
    }
    // Between them the sequences drove the supervision views through every kind of command.
    for needle in [
        "SiteVisit {",
        "corrections: 1",
        "retracted: true",
        "report_ref: \"香人常函",
        "InspectionRecord {",
        "report: Some(",
        "FindingRecord {",
        "extensions: 1",
        "verified_by: \"admin\"",
        "status: Reopened",
        "status: Closed",
        "explanation: Explained",
        "rectification: Ongoing",
    ] {
        assert!(
            seen.iter().any(|s| s.contains(needle)),
            "no {needle} in {seen:#?}"
        );
    }
}

/// Runs the sequence of `seed`, compares the views' query results after a rebuild and after a
/// restart with the incremental ones, and returns those.
async fn rebuild_and_restart(seed: u64) -> Vec<String> {
    // A fixed clock: the findings board judges due dates against it, and visits are dated
    // before it.
    let clock = TestClock::at(2017, 12, 31);
    let tokens = clerk_tokens();
    let server = TestServer::start_in(
        tempfile::tempdir().unwrap(),
        |settings| common::write_token_specs(&settings.data_dir, &tokens),
        Some(clock.shared()),
    )
    .await;
    let token = server.token.clone();
    let mut clients = Clients::connect(&server).await;
    let mut operations = server.operations(&token).await;
    scenario(&mut clients, seed).await;
    let at = head(&mut operations).await;
    let incremental = snapshot(&mut clients, at).await;
    assert!(
        incremental.len() > 20,
        "the scenario should produce data: {incremental:?}"
    );
    assert!(
        incremental.iter().any(|s| s.contains("DutyReport {")),
        "seed {seed}"
    );
    assert!(
        incremental
            .iter()
            .any(|s| s.contains("StakeholderFeedback {")),
        "seed {seed}"
    );

    for view in ["registry", "hearings", "visits", "inspections", "findings"] {
        rebuild(&mut operations, view).await;
    }
    let rebuilt = snapshot(&mut clients, at).await;
    assert_eq!(rebuilt, incremental, "seed {seed}");

    let server = server.restart(Some(clock.shared())).await;
    let mut clients = Clients::connect(&server).await;
    let restarted = snapshot(&mut clients, at).await;
    assert_eq!(restarted, incremental, "seed {seed}");

    // The views keep following the log after the restart.
    let written = clients
        .registry
        .register_appointee(proto::RegisterAppointeeRequest {
            command_id: String::new(),
            appointee_id: "after-restart".into(),
            committee_id: "daowai".into(),
            name: "王五".into(),
            post: "区长".into(),
            organ_kind: proto::OrganKind::Government as i32,
            organ_name: "道外区人民政府".into(),
            appointed_on: "2018-01-01".into(),
            appointing_meeting: "第一次会议".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let after = clients
        .registry
        .get_appointee(proto::GetAppointeeRequest {
            appointee_id: "after-restart".into(),
            min_position: written.position,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.position, written.position);
    server.shutdown.trigger();
    server.task.await.unwrap().unwrap();
    incremental
}
