//! The `registry` and `hearings` views under a deterministic random sequence of commands:
//! rebuilding them from position 0 (Operations/RebuildView) gives exactly the query results the
//! incrementally maintained views gave, and so does a restart of the server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{HearingsClient, OperationsClient, RegistryClient, TestServer};
use oversight::proto;

type Registry = RegistryClient;
type Hearings = HearingsClient;
type Operations = OperationsClient;

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

async fn scenario(registry: &mut Registry, hearings: &mut Hearings, seed: u64) {
    let mut rng = Rng(seed);
    registry
        .create_committee(proto::CreateCommitteeRequest {
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
                committee_id: (*district).into(),
                name: format!("{district}区人大常委会"),
                level: proto::CommitteeLevel::District as i32,
                parent_committee_id: "harbin".into(),
                correlation_id: String::new(),
            })
            .await
            .unwrap();
    }
    for step in 0..120u64 {
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
        let _ = match rng.below(13) {
            0 | 1 => registry
                .register_appointee(proto::RegisterAppointeeRequest {
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
                    group_id: group,
                    committee_id: committee,
                    name: format!("group {step}"),
                    correlation_id: String::new(),
                })
                .await
                .map(|_| ()),
            5 => registry
                .add_deputy(proto::AddDeputyRequest {
                    group_id: group,
                    deputy_id: person,
                    name: format!("deputy {step}"),
                    correlation_id: String::new(),
                })
                .await
                .map(|_| ()),
            6 => registry
                .remove_deputy(proto::RemoveDeputyRequest {
                    group_id: group,
                    deputy_id: person,
                    correlation_id: String::new(),
                })
                .await
                .map(|_| ()),
            7 => registry
                .add_committee_member(proto::AddCommitteeMemberRequest {
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
                    committee_id: committee,
                    member_id: person,
                    to: day,
                    correlation_id: String::new(),
                })
                .await
                .map(|_| ()),
            9 => hearings
                .file_duty_report(proto::FileDutyReportRequest {
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
            _ => hearings
                .retract_stakeholder_feedback(proto::RetractStakeholderFeedbackRequest {
                    feedback_id: batch,
                    reason: "有误".into(),
                    correlation_id: String::new(),
                })
                .await
                .map(|_| ()),
        };
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
async fn snapshot(registry: &mut Registry, hearings: &mut Hearings, at: u64) -> Vec<String> {
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
    for seed in [0x9e37_79b9_7f4a_7c15, 0x2545_f491_4f6c_dd1d, 42] {
        rebuild_and_restart(seed).await;
    }
}

async fn rebuild_and_restart(seed: u64) {
    let server = TestServer::start().await;
    let token = server.token.clone();
    let mut registry = server.registry(&token).await;
    let mut hearings = server.hearings(&token).await;
    let mut operations = server.operations(&token).await;
    scenario(&mut registry, &mut hearings, seed).await;
    let at = head(&mut operations).await;
    let incremental = snapshot(&mut registry, &mut hearings, at).await;
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

    rebuild(&mut operations, "registry").await;
    rebuild(&mut operations, "hearings").await;
    let rebuilt = snapshot(&mut registry, &mut hearings, at).await;
    assert_eq!(rebuilt, incremental, "seed {seed}");

    let server = server.restart(None).await;
    let token = server.token.clone();
    let mut registry = server.registry(&token).await;
    let mut hearings = server.hearings(&token).await;
    let restarted = snapshot(&mut registry, &mut hearings, at).await;
    assert_eq!(restarted, incremental, "seed {seed}");

    // The views keep following the log after the restart.
    let written = registry
        .register_appointee(proto::RegisterAppointeeRequest {
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
    let after = registry
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
}
