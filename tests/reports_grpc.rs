//! The Reports service over gRPC: a session with known ballots gives a scorecard whose committee
//! vote and composite equal the values computed by hand (exact fractions), whose provenance points
//! at the real tally and announcement records, which is embargoed before the announcement for a
//! reporter but not for the clerk, and rankings in score order.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;

use chrono::{NaiveDate, Utc};
use common::{Bearer, TestServer};
use oversight::domain::Context;
use oversight::domain::committee::{Committee, CommitteeCommand, CommitteeLevel};
use oversight::domain::ids::{CommitteeId, MemberId, committee_stream};
use oversight::handler::Handler;
use oversight::log::{Metadata, StreamName};
use oversight::proto::evaluation_client::EvaluationClient;
use oversight::proto::reports_client::ReportsClient;
use oversight::proto::{self, ReadAllRequest};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

const COMMITTEE: &str = "xiangfang";
const MEMBERS: usize = 6;

fn member(i: usize) -> String {
    format!("cm-{i}")
}

async fn setup() -> TestServer {
    use sha2::{Digest, Sha256};
    let digest = |token: &str| hex::encode(Sha256::digest(token.as_bytes()));
    let server = TestServer::start_with(|settings| {
        std::fs::create_dir_all(&settings.data_dir).unwrap();
        std::fs::write(settings.data_dir.join("admin.token"), "ovs_admin\n").unwrap();
        let mut tokens = vec![
            serde_json::json!({ "subject": "admin", "role": "admin", "sha256": digest("ovs_admin") }),
            serde_json::json!({ "subject": "clerk-1", "role": "clerk", "committee": COMMITTEE, "sha256": digest("ovs_clerk") }),
            serde_json::json!({ "subject": "chair-1", "role": "chair", "committee": COMMITTEE, "sha256": digest("ovs_chair") }),
            serde_json::json!({ "subject": "press-1", "role": "reporter", "committee": COMMITTEE, "sha256": digest("ovs_reporter") }),
        ];
        for i in 0..MEMBERS {
            tokens.push(serde_json::json!({
                "subject": member(i), "role": "committee_member", "committee": COMMITTEE,
                "sha256": digest(&format!("ovs_member_{i}")),
            }));
        }
        let file = serde_json::json!({ "tokens": tokens });
        std::fs::write(settings.data_dir.join("tokens.json"), file.to_string()).unwrap();
    })
    .await;
    let handler = Handler::new(server.store());
    let ctx = Context {
        now: Utc::now(),
        actor: "admin".into(),
        role: "admin".into(),
    };
    let id = CommitteeId::parse(COMMITTEE).unwrap();
    let stream = StreamName::new(committee_stream(&id)).unwrap();
    let meta = Metadata::default();
    let mut commands = vec![CommitteeCommand::Create {
        id: id.clone(),
        name: "香坊区人大常委会".into(),
        level: CommitteeLevel::District,
        parent: None,
    }];
    for i in 0..MEMBERS {
        commands.push(CommitteeCommand::AddMember {
            member: MemberId::parse(member(i)).unwrap(),
            name: format!("委员{i}"),
            from: NaiveDate::from_ymd_opt(2023, 1, 1).unwrap(),
            to: None,
        });
    }
    for command in commands {
        handler
            .execute::<Committee>(&stream, &command, &ctx, &meta)
            .await
            .unwrap();
    }
    common::setup::appointee(&server.store(), COMMITTEE, "a-1").await;
    common::setup::appointee(&server.store(), COMMITTEE, "a-2").await;
    server
}

type Eval = EvaluationClient<InterceptedService<Channel, Bearer>>;
type Reports = ReportsClient<InterceptedService<Channel, Bearer>>;

async fn eval(server: &TestServer, token: &str) -> Eval {
    EvaluationClient::with_interceptor(server.channel().await, Bearer(Some(token.into())))
}

async fn reports(server: &TestServer, token: &str) -> Reports {
    ReportsClient::with_interceptor(server.channel().await, Bearer(Some(token.into())))
}

fn session_ref(session: &str) -> proto::SessionRef {
    proto::SessionRef {
        session_id: session.into(),
    }
}

#[tokio::test]
async fn a_scorecard_is_exact_embargoed_and_traceable_and_rankings_follow_it() {
    let server = setup().await;
    let mut clerk = eval(&server, "ovs_clerk").await;
    let mut chair = eval(&server, "ovs_chair").await;
    let session = "s-1";

    // Results held for the clerk, so the embargo can be seen.
    let mut policy = clerk
        .get_scoring_policy(proto::GetScoringPolicyRequest {
            committee_id: COMMITTEE.into(),
            min_position: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .policy
        .unwrap();
    policy.announcement = proto::AnnouncementTiming::ByClerk as i32;
    chair
        .adopt_scoring_policy(proto::AdoptScoringPolicyRequest {
            committee_id: COMMITTEE.into(),
            policy: Some(policy),
        })
        .await
        .unwrap();
    clerk
        .schedule_session(proto::ScheduleSessionRequest {
            committee_id: COMMITTEE.into(),
            session_id: session.into(),
            meeting_name: "第八次会议".into(),
            date: "2026-11-27".into(),
            subjects: vec!["a-1".into(), "a-2".into()],
            constituency: proto::Constituency::CommitteeMembers as i32,
            ..Default::default()
        })
        .await
        .unwrap();
    clerk
        .record_roll_call(proto::RecordRollCallRequest {
            session_id: session.into(),
            present: (0..MEMBERS).map(member).collect(),
        })
        .await
        .unwrap();
    clerk.open_voting(session_ref(session)).await.unwrap();
    // a-1: 4 satisfied, 1 basically satisfied, 1 dissatisfied; a-2: all satisfied.
    let a1 = [
        "satisfied",
        "satisfied",
        "satisfied",
        "satisfied",
        "basically_satisfied",
        "dissatisfied",
    ];
    for (i, choice) in a1.iter().enumerate() {
        let mut voter = eval(&server, &format!("ovs_member_{i}")).await;
        let choices: HashMap<String, String> = [
            ("a-1".to_string(), choice.to_string()),
            ("a-2".to_string(), "satisfied".to_string()),
        ]
        .into_iter()
        .collect();
        voter
            .cast_ballot(proto::CastBallotRequest {
                session_id: session.into(),
                choices,
            })
            .await
            .unwrap();
    }
    clerk.close_voting(session_ref(session)).await.unwrap();
    let tallied = clerk
        .tally(session_ref(session))
        .await
        .unwrap()
        .into_inner();

    // Embargo: before the announcement a reporter sees no session, the clerk sees it unannounced.
    let mut reporter = reports(&server, "ovs_reporter").await;
    let mut clerk_reports = reports(&server, "ovs_clerk").await;
    let request = |min_position| proto::GetScorecardRequest {
        appointee_id: "a-1".into(),
        min_position,
    };
    let hidden = reporter
        .get_scorecard(request(tallied.position))
        .await
        .unwrap()
        .into_inner();
    assert!(hidden.sessions.is_empty(), "{hidden:?}");
    let inside = clerk_reports
        .get_scorecard(request(tallied.position))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(inside.sessions.len(), 1);
    assert!(!inside.sessions[0].announced);

    let announced = clerk
        .announce(session_ref(session))
        .await
        .unwrap()
        .into_inner();
    let card = reporter
        .get_scorecard(request(announced.position))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(card.sessions.len(), 1);
    let score = &card.sessions[0];
    assert!(score.announced);
    // By hand: (4 × 100 + 1 × 70 + 1 × 0) / 6 = 470 / 6 = 235 / 3; the only component with data,
    // so its effective weight is 100 and the composite equals it.
    let composite = score.score.as_ref().unwrap();
    assert_eq!((composite.numerator, composite.denominator), (235, 3));
    assert_eq!(composite.display, "78.33");
    let vote = &score.components[0];
    assert_eq!(vote.component, "committee_vote");
    assert_eq!(vote.weight, 50);
    assert!(!vote.suppressed);
    assert_eq!(vote.basis, 6);
    let v = vote.score.as_ref().unwrap();
    assert_eq!((v.numerator, v.denominator), (235, 3));
    for other in &score.components[1..] {
        assert!(other.score.is_none(), "{other:?}");
    }
    assert_eq!(score.period_start, "2016-12-01");

    // Provenance: the positions are the real tally and announcement records.
    let provenance = score.provenance.as_ref().unwrap();
    assert_eq!(provenance.policy_version, 1);
    assert_eq!(provenance.suppression_threshold, 5);
    let mut log = oversight::proto::event_log_client::EventLogClient::with_interceptor(
        server.channel().await,
        Bearer(Some("ovs_admin".into())),
    );
    let mut types = HashMap::new();
    let mut stream = log
        .read_all(ReadAllRequest::default())
        .await
        .unwrap()
        .into_inner();
    while let Some(batch) = futures::StreamExt::next(&mut stream).await {
        for event in batch.unwrap().events {
            types.insert(event.position, event.event_type);
        }
    }
    assert_eq!(
        types.get(&provenance.tallied_position).map(String::as_str),
        Some("TallyRecorded.v1")
    );
    assert_eq!(
        types
            .get(&provenance.announced_position)
            .map(String::as_str),
        Some("ResultsAnnounced.v1")
    );
    assert_eq!(
        types
            .get(&provenance.scheduled_position)
            .map(String::as_str),
        Some("SessionScheduled.v1")
    );

    // Rankings: a-2 (100) before a-1 (235/3).
    let ranked = reporter
        .rankings(proto::RankingsRequest {
            committee_id: COMMITTEE.into(),
            min_position: announced.position,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let order: Vec<&str> = ranked
        .entries
        .iter()
        .map(|e| e.appointee_id.as_str())
        .collect();
    assert_eq!(order, ["a-2", "a-1"]);
    assert_eq!(ranked.entries[0].score.as_ref().unwrap().numerator, 100);

    // Coverage: both were evaluated, neither filed a duty report.
    let coverage = reporter
        .coverage(proto::CoverageRequest {
            committee_id: COMMITTEE.into(),
            min_position: announced.position,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(coverage.serving, 2);
    let gaps: Vec<(&str, bool, bool)> = coverage
        .gaps
        .iter()
        .map(|g| (g.appointee_id.as_str(), g.has_duty_report, g.evaluated))
        .collect();
    assert_eq!(gaps, [("a-1", false, true), ("a-2", false, true)]);
}
