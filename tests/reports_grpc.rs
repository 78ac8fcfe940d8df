//! The Reports service over gRPC: a session with known ballots gives a scorecard whose committee
//! vote and composite equal the values computed by hand (exact fractions), whose provenance points
//! at the real tally and announcement records, which is embargoed before the announcement for a
//! reporter but not for the clerk, and rankings in score order.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use common::{Bearer, TestServer};
use oversight::api::Clock;
use oversight::domain::Context;
use oversight::domain::committee::{Committee, CommitteeCommand, CommitteeLevel};
use oversight::domain::ids::{CommitteeId, MemberId, committee_stream};
use oversight::domain::lookup::{CommitteeFacts, Lookup};
use oversight::handler::Handler;
use oversight::log::{Metadata, StreamName};
use oversight::proto::evaluation_client::EvaluationClient;
use oversight::proto::reports_client::ReportsClient;
use oversight::proto::{self, ReadAllRequest};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

const COMMITTEE: &str = "xiangfang";
/// The city whose child the district is.
const CITY: &str = "harbin";
const MEMBERS: usize = 6;

fn member(i: usize) -> String {
    format!("cm-{i}")
}

async fn setup() -> TestServer {
    setup_with_clock(None).await
}

/// The committee, its 6 members, appointees a-1 and a-2 and tokens for the clerk, the chair,
/// a reporter, the members and a deputy of group g-1; optionally with the test's clock.
async fn setup_with_clock(clock: Option<Arc<dyn Clock>>) -> TestServer {
    use sha2::{Digest, Sha256};
    let digest = |token: &str| hex::encode(Sha256::digest(token.as_bytes()));
    let write_tokens = |settings: &mut oversight::config::Settings| {
        std::fs::create_dir_all(&settings.data_dir).unwrap();
        std::fs::write(settings.data_dir.join("admin.token"), "ovs_admin\n").unwrap();
        let mut tokens = vec![
            serde_json::json!({ "subject": "admin", "role": "admin", "sha256": digest("ovs_admin") }),
            serde_json::json!({ "subject": "clerk-1", "role": "clerk", "committee": COMMITTEE, "sha256": digest("ovs_clerk") }),
            serde_json::json!({ "subject": "chair-1", "role": "chair", "committee": COMMITTEE, "sha256": digest("ovs_chair") }),
            serde_json::json!({ "subject": "press-1", "role": "reporter", "committee": COMMITTEE, "sha256": digest("ovs_reporter") }),
            serde_json::json!({ "subject": "city-clerk", "role": "clerk", "committee": CITY, "sha256": digest("ovs_city_clerk") }),
            serde_json::json!({ "subject": "dep-1", "role": "deputy", "committee": COMMITTEE, "deputy_group": "g-1", "sha256": digest("ovs_deputy") }),
        ];
        for i in 0..MEMBERS {
            tokens.push(serde_json::json!({
                "subject": member(i), "role": "committee_member", "committee": COMMITTEE,
                "sha256": digest(&format!("ovs_member_{i}")),
            }));
        }
        let file = serde_json::json!({ "tokens": tokens });
        std::fs::write(settings.data_dir.join("tokens.json"), file.to_string()).unwrap();
    };
    let server = TestServer::start_in(tempfile::tempdir().unwrap(), write_tokens, clock).await;
    let handler = Handler::new(server.store());
    let ctx = Context {
        now: Utc::now(),
        actor: "admin".into(),
        role: oversight::domain::Role::Admin,
    };
    let id = CommitteeId::parse(COMMITTEE).unwrap();
    let stream = StreamName::new(committee_stream(&id)).unwrap();
    let meta = Metadata::default();
    // The city first: the district is one of its children.
    let city = CommitteeId::parse(CITY).unwrap();
    handler
        .execute::<Committee>(
            &StreamName::new(committee_stream(&city)).unwrap(),
            &CommitteeCommand::Create {
                id: city.clone(),
                name: "哈尔滨市人大常委会".into(),
                level: CommitteeLevel::City,
                parent: None,
            },
            &ctx,
            &meta,
        )
        .await
        .unwrap();
    let mut commands = vec![CommitteeCommand::Create {
        id: id.clone(),
        name: "香坊区人大常委会".into(),
        level: CommitteeLevel::District,
        parent: Some(Lookup::found(
            city,
            CommitteeFacts {
                level: CommitteeLevel::City,
            },
        )),
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
        command_id: String::new(),
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
            command_id: String::new(),
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
            command_id: String::new(),
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
                command_id: String::new(),
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
            ..Default::default()
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

fn timestamp(y: i32, m: u32, d: u32) -> Option<prost_types::Timestamp> {
    use chrono::TimeZone;
    let t = Utc.with_ymd_and_hms(y, m, d, 3, 0, 0).unwrap();
    Some(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

fn component<'a>(score: &'a proto::SessionScore, name: &str) -> &'a proto::ComponentScore {
    score
        .components
        .iter()
        .find(|c| c.component == name)
        .unwrap_or_else(|| panic!("no component {name} in {score:?}"))
}

fn fraction(rate: &Option<proto::ExactRate>) -> (u64, u64) {
    let rate = rate.as_ref().expect("a value");
    (rate.numerator, rate.denominator)
}

#[tokio::test]
async fn site_visits_findings_and_feedback_components_match_hand_computed_values_and_small_groups_are_suppressed()
 {
    use common::setup::TestClock;
    use oversight::proto::findings_client::FindingsClient;
    use oversight::proto::hearings_client::HearingsClient;
    use oversight::proto::supervision_client::SupervisionClient;

    let clock = TestClock::at(2026, 6, 1);
    let server = setup_with_clock(Some(clock.shared())).await;
    common::setup::deputy_group(&server.store(), COMMITTEE, "g-1").await;
    let channel = server.channel().await;
    let bearer = |token: &str| Bearer(Some(token.into()));
    let mut clerk = eval(&server, "ovs_clerk").await;
    let mut hearings = HearingsClient::with_interceptor(channel.clone(), bearer("ovs_clerk"));
    let mut deputy = SupervisionClient::with_interceptor(channel.clone(), bearer("ovs_deputy"));
    let mut clerk_findings = FindingsClient::with_interceptor(channel.clone(), bearer("ovs_clerk"));
    let mut chair_findings = FindingsClient::with_interceptor(channel.clone(), bearer("ovs_chair"));
    let session = "s-1";
    clerk
        .schedule_session(proto::ScheduleSessionRequest {
            committee_id: COMMITTEE.into(),
            session_id: session.into(),
            meeting_name: "第八次会议".into(),
            date: "2026-11-27".into(),
            subjects: vec!["a-1".into(), "a-2".into()],
            ..Default::default()
        })
        .await
        .unwrap();

    // Stakeholder feedback for this session: a-1 from a forum of 30 (22 satisfied, 6 basically
    // satisfied, 1 dissatisfied, 1 abstaining); a-2 from 3 people only.
    let feedback = |id: &str, appointee: &str, participants: u32, counts: &[(&str, u32)]| {
        proto::RecordStakeholderFeedbackRequest {
            command_id: String::new(),
            feedback_id: id.into(),
            appointee_id: appointee.into(),
            session_ref: session.into(),
            source: proto::FeedbackSource::ServiceRecipients as i32,
            method: proto::FeedbackMethod::Forum as i32,
            participants,
            counts: counts
                .iter()
                .map(|(option, count)| proto::RatingCount {
                    option: option.to_string(),
                    count: *count,
                })
                .collect(),
            summary: "座谈会".into(),
            confidential: false,
            correlation_id: String::new(),
        }
    };
    let forum = hearings
        .record_stakeholder_feedback(feedback(
            "fb-a1",
            "a-1",
            30,
            &[
                ("satisfied", 22),
                ("basically_satisfied", 6),
                ("dissatisfied", 1),
            ],
        ))
        .await
        .unwrap()
        .into_inner();
    hearings
        .record_stakeholder_feedback(feedback("fb-a2", "a-2", 3, &[("satisfied", 3)]))
        .await
        .unwrap();

    // Site visits on the 1–5 scale: one of a-1 rated 4, 5, 3; one of both rated 2, –, 5.
    for (id, appointees, day, ratings) in [
        ("v-1", vec!["a-1"], 10, [Some(4), Some(5), Some(3)]),
        ("v-2", vec!["a-1", "a-2"], 20, [Some(2), None, Some(5)]),
    ] {
        deputy
            .file_site_visit(proto::FileSiteVisitRequest {
                visit_id: id.into(),
                group_id: "g-1".into(),
                target_organ: "区政务服务中心".into(),
                appointee_ids: appointees.into_iter().map(String::from).collect(),
                mode: proto::VisitMode::Open as i32,
                visited_at: timestamp(2026, 5, day),
                ratings: Some(proto::VisitRatings {
                    work_discipline: ratings[0],
                    service_quality: ratings[1],
                    efficiency: ratings[2],
                }),
                notes: "窗口秩序良好".into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }

    // Findings naming a-1, raised on 2026-06-01: one open and not yet due, one overdue at the
    // session date, one rectified (not yet verified) after its due date, one closed.
    for (id, due_on) in [
        ("f-open", "2026-12-31"),
        ("f-overdue", "2026-09-30"),
        ("f-rectified", "2026-08-31"),
        ("f-closed", "2026-10-31"),
    ] {
        clerk_findings
            .raise_finding(proto::RaiseFindingRequest {
                command_id: String::new(),
                finding_id: id.into(),
                committee_id: COMMITTEE.into(),
                source: proto::FindingSource::Audit as i32,
                source_ref: "audit-2026".into(),
                organ: "区政务服务中心".into(),
                appointee_id: "a-1".into(),
                severity: proto::FindingSeverity::Moderate as i32,
                description: "办件超期".into(),
                rectification_required: true,
                correlation_id: String::new(),
                raised_on: String::new(),
            })
            .await
            .unwrap();
        clerk_findings
            .assign_finding(proto::AssignFindingRequest {
                command_id: String::new(),
                finding_id: id.into(),
                assignee: "区政务服务中心".into(),
                due_on: due_on.into(),
                correlation_id: String::new(),
            })
            .await
            .unwrap();
    }
    for (id, rectification) in [
        ("f-rectified", proto::FindingRectification::Done),
        ("f-closed", proto::FindingRectification::InProgress),
    ] {
        clerk_findings
            .respond_to_finding(proto::RespondToFindingRequest {
                command_id: String::new(),
                finding_id: id.into(),
                explanation: proto::FindingExplanation::Explained as i32,
                rectification: rectification as i32,
                note: "已整改".into(),
                correlation_id: String::new(),
            })
            .await
            .unwrap();
    }
    chair_findings
        .verify_finding(proto::VerifyFindingRequest {
            command_id: String::new(),
            finding_id: "f-closed".into(),
            verdict: proto::FindingVerdict::Accept as i32,
            reason: String::new(),
            correlation_id: String::new(),
        })
        .await
        .unwrap();

    // The vote (announced at once): a-1 4 / 1 / 1, a-2 all satisfied.
    clerk
        .record_roll_call(proto::RecordRollCallRequest {
            command_id: String::new(),
            session_id: session.into(),
            present: (0..MEMBERS).map(member).collect(),
        })
        .await
        .unwrap();
    clerk.open_voting(session_ref(session)).await.unwrap();
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
        voter
            .cast_ballot(proto::CastBallotRequest {
                command_id: String::new(),
                session_id: session.into(),
                choices: [
                    ("a-1".to_string(), choice.to_string()),
                    ("a-2".to_string(), "satisfied".to_string()),
                ]
                .into_iter()
                .collect(),
            })
            .await
            .unwrap();
    }
    clerk.close_voting(session_ref(session)).await.unwrap();
    clerk.tally(session_ref(session)).await.unwrap();

    // A finding raised after the session date does not count for it.
    clock.set(2026, 12, 5);
    let late = clerk_findings
        .raise_finding(proto::RaiseFindingRequest {
            command_id: String::new(),
            finding_id: "f-late".into(),
            committee_id: COMMITTEE.into(),
            source: proto::FindingSource::Audit as i32,
            source_ref: "audit-2026".into(),
            organ: "区政务服务中心".into(),
            appointee_id: "a-1".into(),
            severity: proto::FindingSeverity::Minor as i32,
            description: "档案不全".into(),
            rectification_required: false,
            correlation_id: String::new(),
            raised_on: String::new(),
        })
        .await
        .unwrap()
        .into_inner();

    let mut reporter = reports(&server, "ovs_reporter").await;
    let card = |id: &str| proto::GetScorecardRequest {
        appointee_id: id.into(),
        min_position: late.position,
    };
    let a1 = reporter
        .get_scorecard(card("a-1"))
        .await
        .unwrap()
        .into_inner();
    let score = &a1.sessions[0];
    // Vote: (4 × 100 + 70 + 0) / 6 = 235/3 over 6 valid ballots.
    let vote = component(score, "committee_vote");
    assert_eq!((fraction(&vote.score), vote.basis), ((235, 3), 6));
    // Feedback: (22 × 100 + 6 × 70 + 1 × 0) / 29 marks = 2620/29, from 30 people.
    let fb = component(score, "stakeholder_feedback");
    assert_eq!(
        (fraction(&fb.score), fb.basis, fb.suppressed),
        ((2620, 29), 30, false)
    );
    // Visits: 100 × mean of (r − 1) / 4 over 4, 5, 3, 2, 5 = 100 × (14/4) / 5 = 70, 5 ratings.
    let visits = component(score, "site_visits");
    assert_eq!((fraction(&visits.score), visits.basis), ((70, 1), 5));
    // Findings: resolved = f-rectified + f-closed = 2 of 4 (f-late is later), overdue = f-overdue
    // only (f-rectified is rectified, f-closed is closed): 100 × 2 / (4 + 1) = 40.
    let findings = component(score, "findings");
    assert_eq!((fraction(&findings.score), findings.basis), ((40, 1), 4));
    // Composite: (50 × 235/3 + 20 × 2620/29 + 20 × 70 + 10 × 40) / 100 = 13091/174.
    assert_eq!(fraction(&score.score), (13091, 174));
    assert_eq!(score.score.as_ref().unwrap().display, "75.24");
    for c in &score.components {
        assert_eq!(
            fraction(&c.effective_weight),
            (u64::from(c.weight), 1),
            "{c:?}"
        );
    }
    // Provenance: the feedback batch, both visits and the four findings (not f-late).
    let provenance = score.provenance.as_ref().unwrap();
    assert_eq!(provenance.feedback_positions, [forum.position]);
    assert!(provenance.visit_positions.len() >= 2, "{provenance:?}");
    assert!(
        !provenance.finding_positions.contains(&late.position),
        "{provenance:?}"
    );

    // a-2: the feedback of 3 people is under the threshold of 5: suppressed, no score, and left
    // out of the composite; visits: 100 × ((2 − 1) / 4 + (5 − 1) / 4) / 2 = 125/2; no findings.
    let a2 = reporter
        .get_scorecard(card("a-2"))
        .await
        .unwrap()
        .into_inner();
    let score = &a2.sessions[0];
    let fb = component(score, "stakeholder_feedback");
    assert!(fb.suppressed, "{fb:?}");
    assert!(fb.score.is_none(), "{fb:?}");
    assert_eq!(fb.basis, 3);
    assert_eq!(fraction(&fb.effective_weight), (0, 1));
    let visits = component(score, "site_visits");
    assert_eq!((fraction(&visits.score), visits.basis), ((125, 2), 2));
    assert!(component(score, "findings").score.is_none());
    // (50 × 100 + 20 × 125/2) / 70 = 625/7; the vote weighs 50/70, the visits 20/70.
    assert_eq!(fraction(&score.score), (625, 7));
    assert_eq!(
        fraction(&component(score, "committee_vote").effective_weight),
        (500, 7)
    );
    assert_eq!(fraction(&visits.effective_weight), (200, 7));
}

#[tokio::test]
async fn a_city_committee_sees_its_districts_in_aggregate_only() {
    let server = setup().await;
    // A second district of the city, with one appointee and no session.
    let daoli = CommitteeId::parse("daoli").unwrap();
    Handler::new(server.store())
        .execute::<Committee>(
            &StreamName::new(committee_stream(&daoli)).unwrap(),
            &CommitteeCommand::Create {
                id: daoli.clone(),
                name: "道里区人大常委会".into(),
                level: CommitteeLevel::District,
                parent: Some(Lookup::found(
                    CommitteeId::parse(CITY).unwrap(),
                    CommitteeFacts {
                        level: CommitteeLevel::City,
                    },
                )),
            },
            &Context {
                now: Utc::now(),
                actor: "admin".into(),
                role: oversight::domain::Role::Admin,
            },
            &Metadata::default(),
        )
        .await
        .unwrap();
    common::setup::appointee(&server.store(), "daoli", "d-1").await;

    // Xiangfang evaluates a-1 (235/3) and a-2 (100), announced at once.
    let mut clerk = eval(&server, "ovs_clerk").await;
    let session = "s-1";
    clerk
        .schedule_session(proto::ScheduleSessionRequest {
            committee_id: COMMITTEE.into(),
            session_id: session.into(),
            meeting_name: "第八次会议".into(),
            date: "2026-11-27".into(),
            subjects: vec!["a-1".into(), "a-2".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    clerk
        .record_roll_call(proto::RecordRollCallRequest {
            command_id: String::new(),
            session_id: session.into(),
            present: (0..MEMBERS).map(member).collect(),
        })
        .await
        .unwrap();
    clerk.open_voting(session_ref(session)).await.unwrap();
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
        voter
            .cast_ballot(proto::CastBallotRequest {
                command_id: String::new(),
                session_id: session.into(),
                choices: [
                    ("a-1".to_string(), choice.to_string()),
                    ("a-2".to_string(), "satisfied".to_string()),
                ]
                .into_iter()
                .collect(),
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

    let mut city = reports(&server, "ovs_city_clerk").await;
    let rankings = |min_position| proto::RankingsRequest {
        committee_id: CITY.into(),
        child_aggregates: true,
        min_position,
        ..Default::default()
    };
    // Two scored appointees are fewer than the threshold of 5: the mean is withheld.
    let ranked = city
        .rankings(rankings(tallied.position))
        .await
        .unwrap()
        .into_inner();
    assert!(ranked.entries.is_empty(), "{ranked:?}");
    let children: Vec<(&str, u64, u64, bool, u32)> = ranked
        .children
        .iter()
        .map(|c| {
            (
                c.committee_id.as_str(),
                c.appointees,
                c.scored,
                c.suppressed,
                c.suppression_threshold,
            )
        })
        .collect();
    assert_eq!(
        children,
        [("daoli", 1, 0, false, 5), ("xiangfang", 2, 2, true, 5)]
    );
    assert!(ranked.children.iter().all(|c| c.mean_score.is_none()));
    // Without the flag, no aggregates.
    let plain = city
        .rankings(proto::RankingsRequest {
            child_aggregates: false,
            ..rankings(tallied.position)
        })
        .await
        .unwrap()
        .into_inner();
    assert!(plain.children.is_empty());

    // With a threshold of 2 in the district's current policy, the mean is shown:
    // (235/3 + 100) / 2 = 535/6.
    let mut chair = eval(&server, "ovs_chair").await;
    let mut policy = chair
        .get_scoring_policy(proto::GetScoringPolicyRequest {
            committee_id: COMMITTEE.into(),
            min_position: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .policy
        .unwrap();
    policy.suppression_threshold = 2;
    let adopted = chair
        .adopt_scoring_policy(proto::AdoptScoringPolicyRequest {
            command_id: String::new(),
            committee_id: COMMITTEE.into(),
            policy: Some(policy),
        })
        .await
        .unwrap()
        .into_inner();
    let ranked = city
        .rankings(rankings(adopted.position))
        .await
        .unwrap()
        .into_inner();
    let xiangfang = &ranked.children[1];
    assert!(!xiangfang.suppressed);
    assert_eq!(xiangfang.suppression_threshold, 2);
    assert_eq!(fraction(&xiangfang.mean_score), (535, 6));
    assert_eq!(xiangfang.mean_score.as_ref().unwrap().display, "89.17");

    // Coverage: the city itself has no appointees; per district, counts only.
    let coverage = city
        .coverage(proto::CoverageRequest {
            committee_id: CITY.into(),
            min_position: adopted.position,
            child_aggregates: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((coverage.serving, coverage.gaps.len()), (0, 0));
    let children: Vec<(&str, u64, u64, u64, u64)> = coverage
        .children
        .iter()
        .map(|c| {
            (
                c.committee_id.as_str(),
                c.serving,
                c.with_duty_report,
                c.evaluated,
                c.gaps,
            )
        })
        .collect();
    assert_eq!(children, [("daoli", 1, 0, 0, 1), ("xiangfang", 2, 0, 2, 2)]);
}

/// Schedules `session` of a-1 and a-2 on `date`; every member rates both satisfied; the vote is
/// closed and tallied. The tally's position.
async fn tallied_session(server: &TestServer, clerk: &mut Eval, session: &str, date: &str) -> u64 {
    tallied_session_of(server, clerk, session, date, MEMBERS).await
}

/// Like [`tallied_session`], with only the first `voters` members present and voting.
async fn tallied_session_of(
    server: &TestServer,
    clerk: &mut Eval,
    session: &str,
    date: &str,
    voters: usize,
) -> u64 {
    clerk
        .schedule_session(proto::ScheduleSessionRequest {
            committee_id: COMMITTEE.into(),
            session_id: session.into(),
            meeting_name: format!("会议 {session}"),
            date: date.into(),
            subjects: vec!["a-1".into(), "a-2".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    clerk
        .record_roll_call(proto::RecordRollCallRequest {
            command_id: String::new(),
            session_id: session.into(),
            present: (0..voters).map(member).collect(),
        })
        .await
        .unwrap();
    clerk.open_voting(session_ref(session)).await.unwrap();
    for i in 0..voters {
        let mut voter = eval(server, &format!("ovs_member_{i}")).await;
        voter
            .cast_ballot(proto::CastBallotRequest {
                command_id: String::new(),
                session_id: session.into(),
                choices: [
                    ("a-1".to_string(), "satisfied".to_string()),
                    ("a-2".to_string(), "satisfied".to_string()),
                ]
                .into_iter()
                .collect(),
            })
            .await
            .unwrap();
    }
    clerk.close_voting(session_ref(session)).await.unwrap();
    clerk
        .tally(session_ref(session))
        .await
        .unwrap()
        .into_inner()
        .position
}

/// Two sessions of a-1: the first tallied but never announced (results held for the clerk), the
/// second announced. The second period starts the day after the first session for every role,
/// so a visit before it counts for nobody there; an unannounced result counts in neither the
/// rankings nor the coverage; rankings filter by organ kind; a filed duty report and an
/// announced evaluation take an appointee out of the coverage gaps.
#[tokio::test]
async fn the_period_starts_after_the_previous_tallied_session_for_every_role_and_unannounced_results_count_nowhere()
 {
    use oversight::proto::hearings_client::HearingsClient;
    use oversight::proto::registry_client::RegistryClient;
    use oversight::proto::supervision_client::SupervisionClient;

    let server = setup().await;
    common::setup::deputy_group(&server.store(), COMMITTEE, "g-1").await;
    let channel = server.channel().await;
    let bearer = |token: &str| Bearer(Some(token.into()));
    let mut clerk = eval(&server, "ovs_clerk").await;
    let mut chair = eval(&server, "ovs_chair").await;
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
            command_id: String::new(),
            committee_id: COMMITTEE.into(),
            policy: Some(policy),
        })
        .await
        .unwrap();
    // A court appointee besides the two of the government.
    RegistryClient::with_interceptor(channel.clone(), bearer("ovs_clerk"))
        .register_appointee(proto::RegisterAppointeeRequest {
            appointee_id: "a-3".into(),
            committee_id: COMMITTEE.into(),
            name: "official a-3".into(),
            post: "区法院副院长".into(),
            organ_kind: proto::OrganKind::Court as i32,
            organ_name: "香坊区人民法院".into(),
            appointed_on: "2016-12-01".into(),
            appointing_meeting: "5th meeting".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    // A visit of a-1 on 2026-05-10, in the period of the first session.
    SupervisionClient::with_interceptor(channel.clone(), bearer("ovs_deputy"))
        .file_site_visit(proto::FileSiteVisitRequest {
            visit_id: "v-1".into(),
            group_id: "g-1".into(),
            target_organ: "区政务服务中心".into(),
            appointee_ids: vec!["a-1".into()],
            mode: proto::VisitMode::Open as i32,
            visited_at: timestamp(2026, 5, 10),
            ratings: Some(proto::VisitRatings {
                work_discipline: Some(4),
                service_quality: Some(5),
                efficiency: Some(3),
            }),
            notes: "窗口秩序良好".into(),
            ..Default::default()
        })
        .await
        .unwrap();

    // The first session, tallied and held: for a reporter it neither scores nor covers anyone.
    let first = tallied_session(&server, &mut clerk, "s-1", "2026-06-15").await;
    let mut reporter = reports(&server, "ovs_reporter").await;
    let ranked = reporter
        .rankings(proto::RankingsRequest {
            committee_id: COMMITTEE.into(),
            min_position: first,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ranked.entries.len(), 3, "{ranked:?}");
    assert!(
        ranked
            .entries
            .iter()
            .all(|e| e.score.is_none() && e.session_id.is_empty()),
        "{ranked:?}"
    );
    let coverage = |min_position| proto::CoverageRequest {
        committee_id: COMMITTEE.into(),
        min_position,
        ..Default::default()
    };
    let held = reporter
        .coverage(coverage(first))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(held.serving, 3);
    let gaps: Vec<(&str, bool, bool)> = held
        .gaps
        .iter()
        .map(|g| (g.appointee_id.as_str(), g.has_duty_report, g.evaluated))
        .collect();
    assert_eq!(
        gaps,
        [
            ("a-1", false, false),
            ("a-2", false, false),
            ("a-3", false, false)
        ]
    );

    // The second session, announced; a-1 files a duty report.
    tallied_session(&server, &mut clerk, "s-2", "2026-11-27").await;
    clerk.announce(session_ref("s-2")).await.unwrap();
    let filed = HearingsClient::with_interceptor(channel.clone(), bearer("ovs_clerk"))
        .file_duty_report(proto::FileDutyReportRequest {
            command_id: String::new(),
            duty_report_id: "r-1".into(),
            appointee_id: "a-1".into(),
            title: "2026年度履职报告".into(),
            document_sha256: "a".repeat(64),
            filed_at: timestamp(2026, 6, 1),
            session_ref: "s-2".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();

    // The clerk sees both sessions, the reporter the announced one; the second period starts
    // on 2026-06-16 for both, so the visit of 2026-05-10 counts for the first session only.
    let card = || proto::GetScorecardRequest {
        appointee_id: "a-1".into(),
        min_position: filed.position,
    };
    let inside = reports(&server, "ovs_clerk")
        .await
        .get_scorecard(card())
        .await
        .unwrap()
        .into_inner();
    let public = reporter.get_scorecard(card()).await.unwrap().into_inner();
    let sessions: Vec<(&str, &str, bool)> = inside
        .sessions
        .iter()
        .map(|s| (s.session_id.as_str(), s.period_start.as_str(), s.announced))
        .collect();
    assert_eq!(
        sessions,
        [("s-1", "2016-12-01", false), ("s-2", "2026-06-16", true)]
    );
    assert_eq!(component(&inside.sessions[0], "site_visits").basis, 3);
    assert_eq!(public.sessions.len(), 1);
    let second = &public.sessions[0];
    assert_eq!(second.period_start, "2026-06-16");
    let visits = component(second, "site_visits");
    assert!(visits.score.is_none(), "{visits:?}");
    assert_eq!(visits.basis, 0);
    assert!(
        second
            .provenance
            .as_ref()
            .unwrap()
            .visit_positions
            .is_empty(),
        "{second:?}"
    );
    assert_eq!(second, &inside.sessions[1]);

    // Rankings of one organ kind only.
    let kind = |organ_kind: &str| proto::RankingsRequest {
        committee_id: COMMITTEE.into(),
        organ_kind: organ_kind.into(),
        min_position: filed.position,
        ..Default::default()
    };
    for (organ_kind, expected) in [
        ("court", vec![("a-3", "")]),
        ("government", vec![("a-1", "s-2"), ("a-2", "s-2")]),
    ] {
        let ranked = reporter
            .rankings(kind(organ_kind))
            .await
            .unwrap()
            .into_inner();
        let rows: Vec<(&str, &str)> = ranked
            .entries
            .iter()
            .map(|e| (e.appointee_id.as_str(), e.session_id.as_str()))
            .collect();
        assert_eq!(rows, expected, "{organ_kind}");
    }

    // Coverage: a-1 reported and was evaluated, so it leaves the gaps; a-2 was evaluated only;
    // a-3 neither.
    let covered = reporter
        .coverage(coverage(filed.position))
        .await
        .unwrap()
        .into_inner();
    let gaps: Vec<(&str, bool, bool)> = covered
        .gaps
        .iter()
        .map(|g| (g.appointee_id.as_str(), g.has_duty_report, g.evaluated))
        .collect();
    assert_eq!(gaps, [("a-2", false, true), ("a-3", false, false)]);
}

/// A session's visits are those of the days from its period's start through its date, to the
/// nanosecond: a visit at the last instant of the session's date counts for it, one at midnight
/// after counts for the next session only, and one after the last session for none.
#[tokio::test]
async fn a_period_holds_the_visits_of_its_first_and_last_days_to_the_nanosecond() {
    use chrono::TimeZone;
    use oversight::proto::supervision_client::SupervisionClient;

    let server = setup().await;
    common::setup::deputy_group(&server.store(), COMMITTEE, "g-1").await;
    let mut deputy = SupervisionClient::with_interceptor(
        server.channel().await,
        Bearer(Some("ovs_deputy".into())),
    );
    let last_nanosecond = |d: u32| (d, 23, 59, 59, 999_999_999);
    // Work discipline rated 1..=5 on the 1–5 scale: (rating − 1) / 4 of a visit's score.
    for (id, (month, (day, h, m, s, nanos)), rating) in [
        ("v-june-15-last", (6, last_nanosecond(15)), 1),
        ("v-june-16-first", (6, (16, 0, 0, 0, 0)), 2),
        ("v-nov-20-last", (11, last_nanosecond(20)), 3),
        ("v-nov-21-first", (11, (21, 0, 0, 0, 0)), 5),
    ] {
        let at = Utc.with_ymd_and_hms(2026, month, day, h, m, s).unwrap()
            + chrono::TimeDelta::nanoseconds(nanos);
        deputy
            .file_site_visit(proto::FileSiteVisitRequest {
                visit_id: id.into(),
                group_id: "g-1".into(),
                target_organ: "区政务服务中心".into(),
                appointee_ids: vec!["a-1".into()],
                mode: proto::VisitMode::Open as i32,
                visited_at: Some(prost_types::Timestamp {
                    seconds: at.timestamp(),
                    nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap(),
                }),
                ratings: Some(proto::VisitRatings {
                    work_discipline: Some(rating),
                    service_quality: None,
                    efficiency: None,
                }),
                notes: id.into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let mut clerk = eval(&server, "ovs_clerk").await;
    tallied_session(&server, &mut clerk, "s-1", "2026-06-15").await;
    let last = tallied_session(&server, &mut clerk, "s-2", "2026-11-20").await;
    let card = reports(&server, "ovs_clerk")
        .await
        .get_scorecard(proto::GetScorecardRequest {
            appointee_id: "a-1".into(),
            min_position: last,
        })
        .await
        .unwrap()
        .into_inner();
    let periods: Vec<(&str, &str)> = card
        .sessions
        .iter()
        .map(|s| (s.session_id.as_str(), s.period_start.as_str()))
        .collect();
    assert_eq!(periods, [("s-1", "2016-12-01"), ("s-2", "2026-06-16")]);
    // s-1: the visit of 15 June 23:59:59.999999999 alone, rated 1: 0 %.
    let first = component(&card.sessions[0], "site_visits");
    assert_eq!((fraction(&first.score), first.basis), ((0, 1), 1));
    // s-2: 16 June 00:00 (rated 2) and 20 November 23:59:59.999999999 (rated 3), not
    // 21 November: (25 + 50) / 2 = 75/2 %.
    let second = component(&card.sessions[1], "site_visits");
    assert_eq!((fraction(&second.score), second.basis), ((75, 2), 2));
}

/// A later session whose score is withheld (4 voters, under the default suppression threshold
/// of 5, and no other component) does not hide the earlier scored one from the rankings: each
/// appointee is ranked by the latest session with a publishable score, and the entry says which
/// later session was passed over. The scorecard says why the later session has no score.
#[tokio::test]
async fn rankings_show_the_latest_publishable_score_and_name_the_session_passed_over() {
    let server = setup().await;
    let mut clerk = eval(&server, "ovs_clerk").await;
    // The default policy announces at once.
    tallied_session(&server, &mut clerk, "s-1", "2026-06-15").await;
    let small = tallied_session_of(&server, &mut clerk, "s-2", "2026-11-27", 4).await;

    let mut reporter = reports(&server, "ovs_reporter").await;
    let ranked = reporter
        .rankings(proto::RankingsRequest {
            committee_id: COMMITTEE.into(),
            min_position: small,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let rows: Vec<(&str, &str, Option<&str>, &str)> = ranked
        .entries
        .iter()
        .map(|e| {
            (
                e.appointee_id.as_str(),
                e.session_id.as_str(),
                e.score.as_ref().map(|s| s.display.as_str()),
                e.latest_session_id.as_str(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("a-1", "s-1", Some("100.00"), "s-2"),
            ("a-2", "s-1", Some("100.00"), "s-2"),
        ]
    );

    // Asked for the small session itself, the rankings answer it, without a score.
    let asked = reporter
        .rankings(proto::RankingsRequest {
            committee_id: COMMITTEE.into(),
            session_id: "s-2".into(),
            min_position: small,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        asked
            .entries
            .iter()
            .all(|e| e.session_id == "s-2" && e.score.is_none() && e.latest_session_id.is_empty()),
        "{asked:?}"
    );

    // The scorecard says why s-2 has no score.
    let card = reporter
        .get_scorecard(proto::GetScorecardRequest {
            appointee_id: "a-1".into(),
            min_position: small,
        })
        .await
        .unwrap()
        .into_inner();
    let s2 = &card.sessions[1];
    assert_eq!(s2.session_id, "s-2");
    assert!(s2.score.is_none());
    let vote = component(s2, "committee_vote");
    assert!(vote.suppressed);
    assert!(vote.note.contains("4 people"), "{vote:?}");
    assert!(vote.note.contains("threshold of 5"), "{vote:?}");
    for name in ["stakeholder_feedback", "site_visits", "findings"] {
        let empty = component(s2, name);
        assert!(empty.score.is_none() && !empty.note.is_empty(), "{empty:?}");
    }
    assert!(
        component(&card.sessions[0], "committee_vote")
            .note
            .is_empty()
    );
}
