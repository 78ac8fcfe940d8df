//! The Hearings service over gRPC against the real server: duty reports and stakeholder feedback
//! read back with `min_position`, their rejections, confidentiality of interview content,
//! pagination, and who may file, record and read.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::{HearingsClient, RegistryClient, TestServer, TokenSpec};
use oversight::proto;
use tonic::Code;

type Registry = RegistryClient;
type Hearings = HearingsClient;

const ADMIN: &str = "ovs_admin";

#[track_caller]
fn assert_status(status: &tonic::Status, code: Code, needles: &[&str]) {
    assert_eq!(status.code(), code, "{status:?}");
    for needle in needles {
        assert!(
            status.message().contains(needle),
            "{:?} lacks {needle:?}",
            status.message()
        );
    }
}

/// Xiangfang with appointees a1 and a2 (serving) and gone (ended); returns the last position.
async fn setup(registry: &mut Registry) -> u64 {
    registry
        .create_committee(proto::CreateCommitteeRequest {
            command_id: String::new(),
            committee_id: "xiangfang".into(),
            name: "香坊区人大常委会".into(),
            level: proto::CommitteeLevel::District as i32,
            parent_committee_id: String::new(),
            correlation_id: String::new(),
        })
        .await
        .unwrap();
    for id in ["a1", "a2", "gone"] {
        registry
            .register_appointee(proto::RegisterAppointeeRequest {
                command_id: String::new(),
                appointee_id: id.into(),
                committee_id: "xiangfang".into(),
                name: format!("name of {id}"),
                post: "区法院副院长".into(),
                organ_kind: proto::OrganKind::Court as i32,
                organ_name: "香坊区人民法院".into(),
                appointed_on: "2017-01-10".into(),
                appointing_meeting: "第五次会议".into(),
                correlation_id: String::new(),
            })
            .await
            .unwrap();
    }
    registry
        .end_appointee_term(proto::EndAppointeeTermRequest {
            command_id: String::new(),
            appointee_id: "gone".into(),
            kind: proto::TermEndKind::Resignation as i32,
            on: "2017-06-30".into(),
            reason: "辞职".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .position
}

fn at(rfc3339: &str) -> prost_types::Timestamp {
    let at = chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap();
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: 0,
    }
}

fn sha(c: char) -> String {
    c.to_string().repeat(64)
}

fn report(id: &str, appointee: &str) -> proto::FileDutyReportRequest {
    proto::FileDutyReportRequest {
        command_id: String::new(),
        duty_report_id: id.into(),
        appointee_id: appointee.into(),
        title: "2017年度履职报告".into(),
        document_sha256: sha('a'),
        filed_at: Some(at("2017-12-20T02:00:00Z")),
        session_ref: "s-2017-12".into(),
        correlation_id: String::new(),
    }
}

fn feedback(id: &str, method: proto::FeedbackMethod) -> proto::RecordStakeholderFeedbackRequest {
    proto::RecordStakeholderFeedbackRequest {
        command_id: String::new(),
        feedback_id: id.into(),
        appointee_id: "a1".into(),
        session_ref: "s-2017-12".into(),
        source: proto::FeedbackSource::ServiceRecipients as i32,
        method: method as i32,
        participants: 30,
        counts: vec![
            proto::RatingCount {
                option: "satisfied".into(),
                count: 25,
            },
            proto::RatingCount {
                option: "basically_satisfied".into(),
                count: 4,
            },
        ],
        summary: "群众反映办事效率较高".into(),
        confidential: method == proto::FeedbackMethod::Interview,
        correlation_id: String::new(),
    }
}

fn list_reports(appointee: &str, min_position: u64) -> proto::ListDutyReportsRequest {
    proto::ListDutyReportsRequest {
        appointee_id: appointee.into(),
        page_size: 0,
        page_token: String::new(),
        min_position,
    }
}

fn list_feedback(min_position: u64) -> proto::ListStakeholderFeedbackRequest {
    proto::ListStakeholderFeedbackRequest {
        appointee_id: "a1".into(),
        page_size: 0,
        page_token: String::new(),
        min_position,
    }
}

async fn clients(server: &TestServer) -> (Registry, Hearings) {
    (
        server.registry(&server.token).await,
        server.hearings(&server.token).await,
    )
}

#[tokio::test]
async fn duty_reports_are_filed_revised_withdrawn_and_listed() {
    let server = TestServer::start().await;
    let (mut registry, mut hearings) = clients(&server).await;
    setup(&mut registry).await;

    let filed = hearings
        .file_duty_report(report("r1", "a1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(filed.duty_report_id, "r1");
    let generated = hearings
        .file_duty_report(report("", "a1"))
        .await
        .unwrap()
        .into_inner();
    assert!(!generated.duty_report_id.is_empty());
    let revised = hearings
        .revise_duty_report(proto::ReviseDutyReportRequest {
            command_id: String::new(),
            duty_report_id: "r1".into(),
            title: "2017年度履职报告(修订)".into(),
            document_sha256: sha('b'),
            reason: "补充数据".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let withdrawn = hearings
        .withdraw_duty_report(proto::WithdrawDutyReportRequest {
            command_id: String::new(),
            duty_report_id: generated.duty_report_id.clone(),
            reason: "重复提交".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(withdrawn.position > revised.position);

    let reports = hearings
        .list_duty_reports(list_reports("a1", withdrawn.position))
        .await
        .unwrap()
        .into_inner()
        .reports;
    assert_eq!(reports.len(), 2);
    let r1 = reports.iter().find(|r| r.duty_report_id == "r1").unwrap();
    assert_eq!(r1.title, "2017年度履职报告(修订)");
    assert_eq!(r1.document_sha256, sha('b'));
    assert_eq!(r1.revisions.len(), 1);
    assert_eq!(r1.revisions[0].previous_document_sha256, sha('a'));
    assert_eq!(r1.filed_at, Some(at("2017-12-20T02:00:00Z")));
    assert_eq!(r1.committee_id, "xiangfang");
    assert_eq!(r1.filed_by, "admin");
    assert!(!r1.withdrawn);
    let other = reports
        .iter()
        .find(|r| r.duty_report_id == generated.duty_report_id)
        .unwrap();
    assert!(other.withdrawn);
    assert_eq!(other.withdrawal_reason, "重复提交");
    let none = hearings
        .list_duty_reports(list_reports("a2", withdrawn.position))
        .await
        .unwrap()
        .into_inner();
    assert!(none.reports.is_empty());
}

#[tokio::test]
async fn duty_report_rejections_name_field_and_rule() {
    let server = TestServer::start().await;
    let (mut registry, mut hearings) = clients(&server).await;
    setup(&mut registry).await;
    hearings.file_duty_report(report("r1", "a1")).await.unwrap();

    let twice = hearings
        .file_duty_report(report("r1", "a1"))
        .await
        .unwrap_err();
    assert_status(
        &twice,
        Code::FailedPrecondition,
        &["duty report r1 is already filed"],
    );
    let ended = hearings
        .file_duty_report(report("r2", "gone"))
        .await
        .unwrap_err();
    assert_status(
        &ended,
        Code::FailedPrecondition,
        &["appointee gone's term has ended"],
    );
    let unknown = hearings
        .file_duty_report(report("r3", "nobody"))
        .await
        .unwrap_err();
    assert_status(
        &unknown,
        Code::NotFound,
        &["appointee nobody does not exist"],
    );
    let mut bad_hash = report("r4", "a1");
    bad_hash.document_sha256 = "ABC".into();
    let bad_hash = hearings.file_duty_report(bad_hash).await.unwrap_err();
    assert_status(
        &bad_hash,
        Code::InvalidArgument,
        &["document_sha256 must be a sha-256 digest"],
    );
    let mut future = report("r5", "a1");
    future.filed_at = Some(prost_types::Timestamp {
        seconds: chrono::Utc::now().timestamp() + 86_400,
        nanos: 0,
    });
    let future = hearings.file_duty_report(future).await.unwrap_err();
    assert_status(
        &future,
        Code::InvalidArgument,
        &["filed_at must not be in the future"],
    );
    let mut unset = report("r6", "a1");
    unset.filed_at = None;
    let unset = hearings.file_duty_report(unset).await.unwrap_err();
    assert_status(&unset, Code::InvalidArgument, &["filed_at must be set"]);

    let unchanged = hearings
        .revise_duty_report(proto::ReviseDutyReportRequest {
            command_id: String::new(),
            duty_report_id: "r1".into(),
            title: "t".into(),
            document_sha256: sha('a'),
            reason: "r".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_status(
        &unchanged,
        Code::FailedPrecondition,
        &["the document is unchanged"],
    );
    hearings
        .withdraw_duty_report(proto::WithdrawDutyReportRequest {
            command_id: String::new(),
            duty_report_id: "r1".into(),
            reason: "错误版本".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap();
    let after_withdrawal = hearings
        .withdraw_duty_report(proto::WithdrawDutyReportRequest {
            command_id: String::new(),
            duty_report_id: "r1".into(),
            reason: "again".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_status(
        &after_withdrawal,
        Code::FailedPrecondition,
        &["duty report r1 has been withdrawn"],
    );
    let missing = hearings
        .withdraw_duty_report(proto::WithdrawDutyReportRequest {
            command_id: String::new(),
            duty_report_id: "r404".into(),
            reason: "x".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_status(&missing, Code::NotFound, &["duty report does not exist"]);
    let no_reason = hearings
        .withdraw_duty_report(proto::WithdrawDutyReportRequest {
            command_id: String::new(),
            duty_report_id: "r1".into(),
            reason: String::new(),
            correlation_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_status(
        &no_reason,
        Code::InvalidArgument,
        &["reason must not be blank"],
    );
    let unknown_list = hearings
        .list_duty_reports(list_reports("nobody", 0))
        .await
        .unwrap_err();
    assert_status(&unknown_list, Code::NotFound, &["appointee nobody"]);
}

#[tokio::test]
async fn stakeholder_feedback_is_recorded_retracted_and_confidential_content_hidden() {
    let server = TestServer::start_with_tokens(&[
        TokenSpec::new("ovs_clerk", "clerk", Some("xiangfang")),
        TokenSpec::new("ovs_chair", "chair", Some("xiangfang")),
        TokenSpec::new("ovs_member", "committee_member", Some("xiangfang")),
        TokenSpec::new("ovs_auditor", "auditor", None),
        TokenSpec {
            subject: "a1",
            ..TokenSpec::new("ovs_a1", "appointee", Some("xiangfang"))
        },
    ])
    .await;
    let (mut registry, _) = clients(&server).await;
    setup(&mut registry).await;
    let mut clerk = server.hearings("ovs_clerk").await;

    clerk
        .record_stakeholder_feedback(feedback("fb-forum", proto::FeedbackMethod::Forum))
        .await
        .unwrap();
    let interview = clerk
        .record_stakeholder_feedback(feedback("fb-talk", proto::FeedbackMethod::Interview))
        .await
        .unwrap()
        .into_inner();
    let generated = clerk
        .record_stakeholder_feedback(feedback("", proto::FeedbackMethod::Survey))
        .await
        .unwrap()
        .into_inner();
    let retracted = clerk
        .retract_stakeholder_feedback(proto::RetractStakeholderFeedbackRequest {
            command_id: String::new(),
            feedback_id: generated.feedback_id.clone(),
            reason: "问卷统计有误".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(retracted.position > interview.position);

    // The office and the chairs see the interview summary; the others see counts only.
    for (token, sees) in [
        ("ovs_clerk", true),
        ("ovs_chair", true),
        (ADMIN, true),
        ("ovs_member", false),
        ("ovs_auditor", false),
        ("ovs_a1", false),
    ] {
        let mut reader = server.hearings(token).await;
        let batches = reader
            .list_stakeholder_feedback(list_feedback(retracted.position))
            .await
            .unwrap()
            .into_inner()
            .feedback;
        assert_eq!(batches.len(), 3, "{token}");
        let talk = batches.iter().find(|b| b.feedback_id == "fb-talk").unwrap();
        assert!(talk.confidential);
        assert_eq!(talk.summary_hidden, !sees, "{token}");
        assert_eq!(talk.summary.is_empty(), !sees, "{token}");
        assert_eq!(talk.participants, 30);
        assert_eq!(
            talk.counts
                .iter()
                .map(|c| (c.option.as_str(), c.count))
                .collect::<Vec<_>>(),
            vec![("basically_satisfied", 4), ("satisfied", 25)]
        );
        let forum = batches
            .iter()
            .find(|b| b.feedback_id == "fb-forum")
            .unwrap();
        assert_eq!(forum.summary, "群众反映办事效率较高", "{token}");
        assert!(!forum.summary_hidden);
        let survey = batches
            .iter()
            .find(|b| b.feedback_id == generated.feedback_id)
            .unwrap();
        assert!(survey.retracted);
        assert_eq!(survey.retraction_reason, "问卷统计有误");
        assert_eq!(survey.recorded_by, "ovs_clerk");
    }

    // Rejections.
    let mut open_interview = feedback("fb-x", proto::FeedbackMethod::Interview);
    open_interview.confidential = false;
    let open_interview = clerk
        .record_stakeholder_feedback(open_interview)
        .await
        .unwrap_err();
    assert_status(
        &open_interview,
        Code::InvalidArgument,
        &["confidential must be true for interview content"],
    );
    let mut too_many = feedback("fb-x", proto::FeedbackMethod::Forum);
    too_many.participants = 10;
    let too_many = clerk
        .record_stakeholder_feedback(too_many)
        .await
        .unwrap_err();
    assert_status(
        &too_many,
        Code::InvalidArgument,
        &["counts add up to 29, more than the 10 participants"],
    );
    let mut unknown_option = feedback("fb-x", proto::FeedbackMethod::Forum);
    unknown_option.counts[0].option = "excellent".into();
    let unknown_option = clerk
        .record_stakeholder_feedback(unknown_option)
        .await
        .unwrap_err();
    assert_status(
        &unknown_option,
        Code::InvalidArgument,
        &["counts.excellent is not a rating option"],
    );
    let mut repeated = feedback("fb-x", proto::FeedbackMethod::Forum);
    repeated.counts[1].option = "satisfied".into();
    let repeated = clerk
        .record_stakeholder_feedback(repeated)
        .await
        .unwrap_err();
    assert_status(
        &repeated,
        Code::InvalidArgument,
        &["counts[1].option must not repeat"],
    );
    let mut no_method = feedback("fb-x", proto::FeedbackMethod::Forum);
    no_method.method = 0;
    let no_method = clerk
        .record_stakeholder_feedback(no_method)
        .await
        .unwrap_err();
    assert_status(
        &no_method,
        Code::InvalidArgument,
        &["method must be one of"],
    );
    let mut ended = feedback("fb-x", proto::FeedbackMethod::Forum);
    ended.appointee_id = "gone".into();
    let ended = clerk.record_stakeholder_feedback(ended).await.unwrap_err();
    assert_status(&ended, Code::FailedPrecondition, &["term has ended"]);
    let twice = clerk
        .retract_stakeholder_feedback(proto::RetractStakeholderFeedbackRequest {
            command_id: String::new(),
            feedback_id: generated.feedback_id.clone(),
            reason: "again".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_status(&twice, Code::FailedPrecondition, &["has been retracted"]);
    let duplicate = clerk
        .record_stakeholder_feedback(feedback("fb-forum", proto::FeedbackMethod::Forum))
        .await
        .unwrap_err();
    assert_status(
        &duplicate,
        Code::FailedPrecondition,
        &["feedback fb-forum is already recorded"],
    );
}

#[tokio::test]
async fn who_may_file_record_and_read() {
    let server = TestServer::start_with_tokens(&[
        TokenSpec::new("ovs_clerk", "clerk", Some("xiangfang")),
        TokenSpec::new("ovs_clerk_other", "clerk", Some("daowai")),
        TokenSpec::new("ovs_reporter", "reporter", None),
        TokenSpec::new("ovs_deputy", "deputy", Some("xiangfang")),
        TokenSpec {
            subject: "a1",
            ..TokenSpec::new("ovs_a1", "appointee", Some("xiangfang"))
        },
    ])
    .await;
    let (mut registry, _) = clients(&server).await;
    let setup_position = setup(&mut registry).await;

    // An appointee files their own report, not someone else's, and records no feedback.
    let mut a1 = server.hearings("ovs_a1").await;
    let own = a1
        .file_duty_report(report("r1", "a1"))
        .await
        .unwrap()
        .into_inner();
    let other = a1.file_duty_report(report("r2", "a2")).await.unwrap_err();
    assert_status(&other, Code::PermissionDenied, &["only on their own"]);
    let record = a1
        .record_stakeholder_feedback(feedback("fb", proto::FeedbackMethod::Forum))
        .await
        .unwrap_err();
    assert_status(
        &record,
        Code::PermissionDenied,
        &["appointee", "RecordStakeholderFeedback"],
    );
    let listed = a1
        .list_duty_reports(list_reports("a1", own.position))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.reports[0].filed_by, "a1");
    let others = a1
        .list_duty_reports(list_reports("a2", setup_position))
        .await
        .unwrap_err();
    assert_eq!(others.code(), Code::PermissionDenied);

    // The clerk of another committee can neither act on nor read Xiangfang's appointees.
    let mut foreign = server.hearings("ovs_clerk_other").await;
    let denied = foreign
        .file_duty_report(report("r3", "a2"))
        .await
        .unwrap_err();
    assert_status(
        &denied,
        Code::PermissionDenied,
        &["act on committee xiangfang"],
    );
    let denied = foreign
        .revise_duty_report(proto::ReviseDutyReportRequest {
            command_id: String::new(),
            duty_report_id: "r1".into(),
            title: "t".into(),
            document_sha256: sha('c'),
            reason: "r".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let denied = foreign
        .list_stakeholder_feedback(list_feedback(own.position))
        .await
        .unwrap_err();
    assert_status(
        &denied,
        Code::PermissionDenied,
        &["read committee xiangfang"],
    );

    // Reporters and deputies read no hearing inputs.
    for token in ["ovs_reporter", "ovs_deputy"] {
        let mut reader = server.hearings(token).await;
        let denied = reader
            .list_duty_reports(list_reports("a1", 0))
            .await
            .unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied, "{token}");
        let denied = reader
            .file_duty_report(report("r9", "a1"))
            .await
            .unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied, "{token}");
    }

    // The clerk of the committee may do both.
    let mut clerk = server.hearings("ovs_clerk").await;
    let recorded = clerk
        .record_stakeholder_feedback(feedback("fb", proto::FeedbackMethod::Forum))
        .await
        .unwrap()
        .into_inner();
    let batches = clerk
        .list_stakeholder_feedback(list_feedback(recorded.position))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(batches.feedback.len(), 1);
}

#[tokio::test]
async fn duty_reports_page_without_duplicates_or_gaps() {
    let server = TestServer::start().await;
    let (mut registry, mut hearings) = clients(&server).await;
    setup(&mut registry).await;
    let mut expected = BTreeSet::new();
    let mut last = 0;
    for i in 0..12 {
        let id = format!("r{i:02}");
        last = hearings
            .file_duty_report(report(&id, "a1"))
            .await
            .unwrap()
            .into_inner()
            .position;
        expected.insert(id);
    }
    hearings.file_duty_report(report("x", "a2")).await.unwrap();
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = hearings
            .list_duty_reports(proto::ListDutyReportsRequest {
                appointee_id: "a1".into(),
                page_size: 5,
                page_token: token.clone(),
                min_position: last,
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.reports.len() <= 5);
        seen.extend(page.reports.into_iter().map(|r| r.duty_report_id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let unique: BTreeSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len());
    assert_eq!(unique, expected);
}
