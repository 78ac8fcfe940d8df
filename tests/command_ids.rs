//! Every command can be retried safely: sent twice with the same command id it gets the same
//! answer (positions and minted ids) and writes once; sent again with the same id and other
//! content it is refused with ALREADY_EXISTS; another principal's id tells nothing; and it
//! still holds after a restart (the command id is recorded in the log).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{TestServer, TokenSpec};
use oversight::proto;
use tonic::Code;

fn id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Sends `first` twice and `changed` once, all under one fresh command id, through `send`;
/// checks the two answers are equal and the changed one is ALREADY_EXISTS. Returns the answer.
macro_rules! retried {
    ($client:expr, $method:ident, $request:expr, |$r:ident| $change:expr) => {{
        let command_id = id();
        let mut request = $request;
        request.command_id = command_id.clone();
        let first = $client
            .$method(request.clone())
            .await
            .unwrap_or_else(|e| panic!("{}: {e:?}", stringify!($method)))
            .into_inner();
        let again = $client
            .$method(request.clone())
            .await
            .unwrap_or_else(|e| panic!("{} retried: {e:?}", stringify!($method)))
            .into_inner();
        assert_eq!(first, again, "{} retried", stringify!($method));
        let mut $r = request.clone();
        $change;
        let refused = $client.$method($r).await.unwrap_err();
        assert_eq!(
            refused.code(),
            Code::AlreadyExists,
            "{} with other content: {refused:?}",
            stringify!($method)
        );
        assert!(
            refused.message().contains(&command_id),
            "{}",
            refused.message()
        );
        (first, request)
    }};
}

#[tokio::test]
async fn registry_commands_retried_with_their_command_id_are_answered_once() {
    let server =
        TestServer::start_with_tokens(&[TokenSpec::new("ovs_clerk", "clerk", Some("c1"))]).await;
    let mut admin = server.registry("ovs_admin").await;
    let mut clerk = server.registry("ovs_clerk").await;

    let (created, _) = retried!(
        admin,
        create_committee,
        proto::CreateCommitteeRequest {
            committee_id: "c1".into(),
            name: "Xiangfang".into(),
            level: proto::CommitteeLevel::District as i32,
            ..Default::default()
        },
        |r| r.name = "Daowai".into()
    );
    assert_eq!(created.committee_id, "c1");

    // A minted id is the same on a retry.
    let (member, _) = retried!(
        clerk,
        add_committee_member,
        proto::AddCommitteeMemberRequest {
            committee_id: "c1".into(),
            name: "王明".into(),
            from: "2021-01-01".into(),
            ..Default::default()
        },
        |r| r.name = "李华".into()
    );
    assert!(!member.member_id.is_empty());
    retried!(
        clerk,
        remove_committee_member,
        proto::RemoveCommitteeMemberRequest {
            committee_id: "c1".into(),
            member_id: member.member_id.clone(),
            to: "2026-01-01".into(),
            ..Default::default()
        },
        |r| r.to = "2026-01-02".into()
    );
    let (appointee, register) = retried!(
        clerk,
        register_appointee,
        proto::RegisterAppointeeRequest {
            committee_id: "c1".into(),
            name: "张三".into(),
            post: "局长".into(),
            organ_kind: proto::OrganKind::Government as i32,
            organ_name: "民政局".into(),
            appointed_on: "2022-03-01".into(),
            appointing_meeting: "第五次会议".into(),
            ..Default::default()
        },
        |r| r.post = "副局长".into()
    );
    retried!(
        clerk,
        change_appointee_post,
        proto::ChangeAppointeePostRequest {
            appointee_id: appointee.appointee_id.clone(),
            post: "副区长".into(),
            on: "2023-01-01".into(),
            appointing_meeting: "第八次会议".into(),
            ..Default::default()
        },
        |r| r.post = "区长".into()
    );
    let (group, _) = retried!(
        clerk,
        form_deputy_group,
        proto::FormDeputyGroupRequest {
            committee_id: "c1".into(),
            name: "第一代表小组".into(),
            ..Default::default()
        },
        |r| r.name = "第二代表小组".into()
    );
    let (deputy, _) = retried!(
        clerk,
        add_deputy,
        proto::AddDeputyRequest {
            group_id: group.group_id.clone(),
            name: "赵六".into(),
            ..Default::default()
        },
        |r| r.name = "钱七".into()
    );
    retried!(
        clerk,
        remove_deputy,
        proto::RemoveDeputyRequest {
            group_id: group.group_id.clone(),
            deputy_id: deputy.deputy_id.clone(),
            ..Default::default()
        },
        |r| r.deputy_id = "someone-else".into()
    );
    retried!(
        clerk,
        end_appointee_term,
        proto::EndAppointeeTermRequest {
            appointee_id: appointee.appointee_id.clone(),
            kind: proto::TermEndKind::Transfer as i32,
            on: "2025-06-30".into(),
            reason: "调任".into(),
            ..Default::default()
        },
        |r| r.reason = "辞职".into()
    );

    // Another principal's command id is another command: the admin registering with the
    // clerk's id registers a new appointee (minted anew).
    let mut other = register.clone();
    other.name = "李四".into();
    let theirs = admin.register_appointee(other).await.unwrap().into_inner();
    assert_ne!(theirs.appointee_id, appointee.appointee_id);

    // The record is in the log: a restart changes nothing.
    let server = server.restart(None).await;
    let mut clerk = server.registry("ovs_clerk").await;
    let again = clerk
        .register_appointee(register)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, appointee);

    // A command id that is not a UUID is refused before anything is done.
    let refused = clerk
        .form_deputy_group(proto::FormDeputyGroupRequest {
            committee_id: "c1".into(),
            name: "x".into(),
            command_id: "not-a-uuid".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().starts_with("command_id "), "{refused:?}");
}

/// A committee `c1` with an appointee, registered by the admin without command ids; returns
/// the appointee's id.
async fn committee_with_appointee(server: &TestServer) -> String {
    let mut admin = server.registry("ovs_admin").await;
    admin
        .create_committee(proto::CreateCommitteeRequest {
            committee_id: "c1".into(),
            name: "Xiangfang".into(),
            level: proto::CommitteeLevel::District as i32,
            ..Default::default()
        })
        .await
        .unwrap();
    admin
        .register_appointee(proto::RegisterAppointeeRequest {
            appointee_id: "a1".into(),
            committee_id: "c1".into(),
            name: "张三".into(),
            post: "局长".into(),
            organ_kind: proto::OrganKind::Government as i32,
            organ_name: "民政局".into(),
            appointed_on: "2016-03-01".into(),
            appointing_meeting: "第五次会议".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .appointee_id
}

/// Asserts that every event of the streams starting with one of `prefixes` records the
/// committee `committee` in its metadata, whoever wrote it (an admin's token names none).
async fn assert_events_record_committee(server: &TestServer, prefixes: &[&str], committee: &str) {
    use oversight::log::{Direction, Filter, ReadAll};
    let events = server
        .store()
        .read_all(ReadAll {
            from_position: None,
            direction: Direction::Forwards,
            max_count: usize::MAX,
            filter: Filter {
                stream_prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
                event_types: Vec::new(),
            },
        })
        .await
        .unwrap();
    for prefix in prefixes {
        assert!(
            events.iter().any(|e| e.stream.as_str().starts_with(prefix)),
            "no events under {prefix}"
        );
    }
    for event in events {
        assert_eq!(
            event.metadata.committee.as_deref(),
            Some(committee),
            "{} at position {} by {:?}",
            event.event_type.as_str(),
            event.position,
            event.metadata.actor
        );
    }
}

fn at(rfc3339: &str) -> prost_types::Timestamp {
    let at = chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap();
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: 0,
    }
}

#[tokio::test]
async fn hearings_commands_retried_with_their_command_id_are_answered_once() {
    let server =
        TestServer::start_with_tokens(&[TokenSpec::new("ovs_clerk", "clerk", Some("c1"))]).await;
    let appointee = committee_with_appointee(&server).await;
    let mut admin = server.hearings("ovs_admin").await;
    let mut clerk = server.hearings("ovs_clerk").await;

    // A minted id is the same on a retry.
    let (report, _) = retried!(
        admin,
        file_duty_report,
        proto::FileDutyReportRequest {
            appointee_id: appointee.clone(),
            title: "2017年度履职报告".into(),
            document_sha256: "a".repeat(64),
            filed_at: Some(at("2017-12-20T02:00:00Z")),
            session_ref: "s-2017-12".into(),
            ..Default::default()
        },
        |r| r.title = "2017年度述职报告".into()
    );
    assert!(!report.duty_report_id.is_empty());
    retried!(
        clerk,
        revise_duty_report,
        proto::ReviseDutyReportRequest {
            duty_report_id: report.duty_report_id.clone(),
            title: "2017年度履职报告（修订）".into(),
            document_sha256: "b".repeat(64),
            reason: "数字更正".into(),
            ..Default::default()
        },
        |r| r.reason = "措辞修改".into()
    );
    retried!(
        admin,
        withdraw_duty_report,
        proto::WithdrawDutyReportRequest {
            duty_report_id: report.duty_report_id.clone(),
            reason: "提交错误".into(),
            ..Default::default()
        },
        |r| r.reason = "重复提交".into()
    );
    let (feedback, _) = retried!(
        clerk,
        record_stakeholder_feedback,
        proto::RecordStakeholderFeedbackRequest {
            appointee_id: appointee.clone(),
            session_ref: "s-2017-12".into(),
            source: proto::FeedbackSource::ServiceRecipients as i32,
            method: proto::FeedbackMethod::Survey as i32,
            participants: 30,
            counts: vec![proto::RatingCount {
                option: "satisfied".into(),
                count: 25,
            }],
            summary: "群众反映办事效率较高".into(),
            ..Default::default()
        },
        |r| r.participants = 31
    );
    assert!(!feedback.feedback_id.is_empty());
    retried!(
        admin,
        retract_stakeholder_feedback,
        proto::RetractStakeholderFeedbackRequest {
            feedback_id: feedback.feedback_id.clone(),
            reason: "录入对象错误".into(),
            ..Default::default()
        },
        |r| r.reason = "重复录入".into()
    );
    assert_events_record_committee(&server, &["duty-report-", "feedback-"], "c1").await;
}

type Evaluation = oversight::proto::evaluation_client::EvaluationClient<
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, common::Bearer>,
>;

async fn evaluation(server: &TestServer, token: &str) -> Evaluation {
    oversight::proto::evaluation_client::EvaluationClient::with_interceptor(
        server.channel().await,
        common::Bearer(Some(token.to_string())),
    )
}

fn session_ref(session: &str) -> proto::SessionRef {
    proto::SessionRef {
        session_id: session.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn evaluation_commands_retried_with_their_command_id_are_answered_once() {
    let server = TestServer::start_with_tokens(&[
        TokenSpec::new("ovs_clerk", "clerk", Some("c1")),
        TokenSpec::new("ovs_clerk2", "clerk", Some("c1")),
        TokenSpec::new("ovs_chair", "chair", Some("c1")),
        TokenSpec::new("m1", "committee_member", Some("c1")),
        TokenSpec::new("m2", "committee_member", Some("c1")),
    ])
    .await;
    let mut registry = server.registry("ovs_admin").await;
    registry
        .create_committee(proto::CreateCommitteeRequest {
            committee_id: "c1".into(),
            name: "Xiangfang".into(),
            level: proto::CommitteeLevel::District as i32,
            ..Default::default()
        })
        .await
        .unwrap();
    for member in ["m1", "m2"] {
        registry
            .add_committee_member(proto::AddCommitteeMemberRequest {
                committee_id: "c1".into(),
                member_id: member.into(),
                name: member.into(),
                from: "2021-01-01".into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    registry
        .register_appointee(proto::RegisterAppointeeRequest {
            appointee_id: "a1".into(),
            committee_id: "c1".into(),
            name: "张三".into(),
            post: "局长".into(),
            organ_kind: proto::OrganKind::Government as i32,
            organ_name: "民政局".into(),
            appointed_on: "2022-03-01".into(),
            appointing_meeting: "第五次会议".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut clerk = evaluation(&server, "ovs_clerk").await;
    let mut chair = evaluation(&server, "ovs_chair").await;

    // Results held for the clerk to announce, so that Announce is a command of its own.
    let mut policy = chair
        .get_scoring_policy(proto::GetScoringPolicyRequest {
            committee_id: "c1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .policy
        .unwrap();
    policy.announcement = proto::AnnouncementTiming::ByClerk as i32;
    let mut other = policy.clone();
    other.suppression_threshold += 1;
    let (adopted, _) = retried!(
        chair,
        adopt_scoring_policy,
        proto::AdoptScoringPolicyRequest {
            committee_id: "c1".into(),
            policy: Some(policy),
            ..Default::default()
        },
        |r| r.policy = Some(other)
    );
    assert_eq!(adopted.version, 1);

    let (scheduled, _) = retried!(
        clerk,
        schedule_session,
        proto::ScheduleSessionRequest {
            committee_id: "c1".into(),
            meeting_name: "第九次会议".into(),
            date: "2026-11-27".into(),
            subjects: vec!["a1".into()],
            ..Default::default()
        },
        |r| r.meeting_name = "第十次会议".into()
    );
    let session = scheduled.session_id.clone();
    assert_eq!(scheduled.entitled, 2);
    retried!(
        clerk,
        record_roll_call,
        proto::RecordRollCallRequest {
            session_id: session.clone(),
            present: vec!["m1".into(), "m2".into()],
            ..Default::default()
        },
        |r| r.present = vec!["m1".into()]
    );
    retried!(clerk, open_voting, session_ref(&session), |r| r
        .session_id =
        "another".into());

    // A ballot retried with its command id is answered from the participation alone.
    let mut member = evaluation(&server, "m1").await;
    let ballot = proto::CastBallotRequest {
        session_id: session.clone(),
        choices: [("a1".to_string(), "satisfied".to_string())].into(),
        command_id: id(),
    };
    let cast = member
        .cast_ballot(ballot.clone())
        .await
        .unwrap()
        .into_inner();
    assert!(!cast.already_voted);
    assert!(!cast.ballot_id.is_empty());
    let again = member
        .cast_ballot(ballot.clone())
        .await
        .unwrap()
        .into_inner();
    assert!(again.already_voted);
    assert_eq!(again.ballot_id, "", "no receipt can be given again");
    assert_eq!((again.round, again.position), (cast.round, cast.position));
    // Without the command id a second ballot is refused.
    let mut second = ballot.clone();
    second.command_id = String::new();
    let refused = member.cast_ballot(second).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    let mut other_member = evaluation(&server, "m2").await;
    other_member
        .cast_ballot(proto::CastBallotRequest {
            session_id: session.clone(),
            choices: [("a1".to_string(), "satisfied".to_string())].into(),
            command_id: id(),
        })
        .await
        .unwrap();

    let (closed, _) = retried!(clerk, close_voting, session_ref(&session), |r| r
        .session_id =
        "another".into());
    assert_eq!(
        closed.ballots, 2,
        "the retry did not add a ballot: {closed:?}"
    );
    assert!(!closed.voided, "{closed:?}");
    retried!(clerk, tally, session_ref(&session), |r| r.session_id =
        "another".into());
    retried!(clerk, announce, session_ref(&session), |r| r.session_id =
        "another".into());
    let (proposed, _) = retried!(
        clerk,
        propose_correction,
        proto::ProposeCorrectionRequest {
            session_id: session.clone(),
            round: closed.round,
            kind: proto::CorrectionKind::AnnulRound as i32,
            reason: "复核".into(),
            ..Default::default()
        },
        |r| r.reason = "另一理由".into()
    );
    let mut second_clerk = evaluation(&server, "ovs_clerk2").await;
    retried!(
        second_clerk,
        approve_correction,
        proto::ApproveCorrectionRequest {
            session_id: session.clone(),
            proposal: proposed.proposal,
            round: closed.round,
            kind: proto::CorrectionKind::AnnulRound as i32,
            ..Default::default()
        },
        |r| r.kind = proto::CorrectionKind::Retally as i32
    );
}
