//! The Evaluation service over gRPC against the real server: a full session of 40 members × 6
//! subjects from roll call to announcement with a table computed by hand, recount, receipts,
//! every lifecycle rejection, quorum, embargo, policy freezing, the announcement stream with
//! resume, and the secrecy scan of the log, the views, the ballot box file and the traces.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{NaiveDate, Utc};
use common::{Bearer, TestServer};
use futures::StreamExt;
use oversight::config::Settings;
use oversight::domain::Context;
use oversight::domain::committee::{Committee, CommitteeCommand, CommitteeLevel};
use oversight::domain::ids::{CommitteeId, MemberId, committee_stream};
use oversight::handler::Handler;
use oversight::log::{Direction, Metadata, ReadStream, StreamName};
use oversight::projection::Views;
use oversight::proto::evaluation_client::EvaluationClient;
use oversight::proto::operations_client::OperationsClient;
use oversight::proto::{self, ReadAllRequest, RebuildViewRequest};
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

type Client = EvaluationClient<InterceptedService<Channel, Bearer>>;

const MEMBERS: usize = 40;
const COMMITTEE: &str = "xiangfang";
const SUBJECTS: [&str; 6] = ["a-1", "a-2", "a-3", "a-4", "a-5", "a-6"];
/// Every option code a ballot may carry (three- and four-tier scales).
const CHOICE_CODES: [&str; 6] = [
    "satisfied",
    "basically_satisfied",
    "dissatisfied",
    "excellent",
    "competent",
    "incompetent",
];

fn member(i: usize) -> String {
    format!("cm-{i:02}-qz")
}

fn member_token(i: usize) -> String {
    format!("ovs_member_{i:02}")
}

// ---------------------------------------------------------------------------------------------
// Captured tracing output: every line the server traces at debug level, for the secrecy scan.

fn trace_buffer() -> Arc<Mutex<Vec<u8>>> {
    static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUFFER
        .get_or_init(|| {
            let buffer = Arc::new(Mutex::new(Vec::new()));
            let sink = Arc::clone(&buffer);
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::DEBUG)
                .with_ansi(false)
                .with_writer(move || SharedWriter(Arc::clone(&sink)))
                .finish();
            tracing::subscriber::set_global_default(subscriber).unwrap();
            buffer
        })
        .clone()
}

struct SharedWriter(Arc<Mutex<Vec<u8>>>);

impl Write for SharedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Setup

/// The deputies with tokens (role deputy): `dep-1` … `dep-5`.
const DEPUTIES: usize = 5;

fn deputy(i: usize) -> String {
    format!("dep-{i}")
}

fn deputy_token(i: usize) -> String {
    format!("ovs_deputy_{i}")
}

/// Tokens for the admin, clerk, chair, reporter, auditor, 40 members and 5 deputies.
fn write_eval_tokens(settings: &mut Settings) {
    use sha2::{Digest, Sha256};
    let digest = |token: &str| hex::encode(Sha256::digest(token.as_bytes()));
    std::fs::create_dir_all(&settings.data_dir).unwrap();
    std::fs::write(settings.data_dir.join("admin.token"), "ovs_admin\n").unwrap();
    let mut tokens = vec![
        serde_json::json!({ "subject": "admin", "role": "admin", "sha256": digest("ovs_admin") }),
        serde_json::json!({ "subject": "clerk-1", "role": "clerk", "committee": COMMITTEE, "sha256": digest("ovs_clerk") }),
        serde_json::json!({ "subject": "chair-1", "role": "chair", "committee": COMMITTEE, "sha256": digest("ovs_chair") }),
        serde_json::json!({ "subject": "clerk-9", "role": "clerk", "committee": "daoli", "sha256": digest("ovs_other_clerk") }),
        serde_json::json!({ "subject": "press-1", "role": "reporter", "sha256": digest("ovs_reporter") }),
        serde_json::json!({ "subject": "audit-1", "role": "auditor", "sha256": digest("ovs_auditor") }),
    ];
    for i in 0..MEMBERS {
        tokens.push(serde_json::json!({
            "subject": member(i), "role": "committee_member", "committee": COMMITTEE,
            "sha256": digest(&member_token(i)),
        }));
    }
    for i in 1..=DEPUTIES {
        tokens.push(serde_json::json!({
            "subject": deputy(i), "role": "deputy", "committee": COMMITTEE,
            "sha256": digest(&deputy_token(i)),
        }));
    }
    let file = serde_json::json!({ "tokens": tokens });
    std::fs::write(settings.data_dir.join("tokens.json"), file.to_string()).unwrap();
}

/// A server with the tokens of [`write_eval_tokens`] and a committee of 40 serving members
/// (plus one whose term has ended).
async fn setup() -> (TestServer, Views) {
    trace_buffer();
    let (server, views) = TestServer::start_with_views(write_eval_tokens).await;
    seed_committee(&server).await;
    (server, views)
}

/// The committee of 40 serving members (plus one whose term has ended).
async fn seed_committee(server: &TestServer) {
    let handler = Handler::new(server.store());
    let ctx = Context {
        now: Utc::now(),
        actor: "admin".into(),
        role: oversight::domain::Role::Admin,
    };
    let id = CommitteeId::parse(COMMITTEE).unwrap();
    let stream = StreamName::new(committee_stream(&id)).unwrap();
    let meta = Metadata::default();
    let run = |command: CommitteeCommand| {
        let handler = handler.clone();
        let stream = stream.clone();
        let ctx = ctx.clone();
        let meta = meta.clone();
        async move {
            handler
                .execute::<Committee>(&stream, &command, &ctx, &meta)
                .await
                .unwrap();
        }
    };
    run(CommitteeCommand::Create {
        id: id.clone(),
        name: "哈尔滨市香坊区人大常委会".into(),
        level: CommitteeLevel::District,
        parent: None,
    })
    .await;
    let seated = NaiveDate::from_ymd_opt(2023, 1, 1).unwrap();
    for i in 0..MEMBERS {
        run(CommitteeCommand::AddMember {
            member: MemberId::parse(member(i)).unwrap(),
            name: format!("委员{i}"),
            from: seated,
            to: None,
        })
        .await;
    }
    // A member whose term ended before the meeting is not on the roster.
    run(CommitteeCommand::AddMember {
        member: MemberId::parse("cm-old-qz").unwrap(),
        name: "前委员".into(),
        from: seated,
        to: NaiveDate::from_ymd_opt(2025, 12, 31),
    })
    .await;
    // The subjects: the committee's appointees, serving since 2016-12-01.
    for subject in SUBJECTS {
        common::setup::appointee(&server.store(), COMMITTEE, subject).await;
    }
}

async fn client(server: &TestServer, token: &str) -> Client {
    EvaluationClient::with_interceptor(server.channel().await, Bearer(Some(token.into())))
}

fn schedule(session: &str) -> proto::ScheduleSessionRequest {
    proto::ScheduleSessionRequest {
        committee_id: COMMITTEE.into(),
        session_id: session.into(),
        meeting_name: "第十六届常委会第八次会议".into(),
        date: "2026-11-27".into(),
        subjects: SUBJECTS.iter().map(|s| s.to_string()).collect(),
        constituency: proto::Constituency::CommitteeMembers as i32,
        ..Default::default()
    }
}

fn session_ref(session: &str) -> proto::SessionRef {
    proto::SessionRef {
        command_id: String::new(),
        session_id: session.into(),
    }
}

fn ballot(session: &str, choices: &[(&str, &str)]) -> proto::CastBallotRequest {
    proto::CastBallotRequest {
        command_id: String::new(),
        session_id: session.into(),
        choices: choices
            .iter()
            .map(|(s, c)| (s.to_string(), c.to_string()))
            .collect::<HashMap<_, _>>(),
    }
}

#[track_caller]
fn assert_status(result: Result<impl std::fmt::Debug, tonic::Status>, code: Code, needle: &str) {
    let status = result.expect_err("the call should fail");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(
        status.message().contains(needle),
        "{:?} does not contain {needle:?}",
        status.message()
    );
}

/// The committee's current policy document.
async fn default_policy(clerk: &mut Client) -> proto::ScoringPolicy {
    clerk
        .get_scoring_policy(proto::GetScoringPolicyRequest {
            committee_id: COMMITTEE.into(),
            min_position: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .policy
        .unwrap()
}

/// The hand-computed votes: per subject (satisfied, basically satisfied, dissatisfied, blank)
/// over the 38 members present.
const VOTES: [(usize, usize, usize, usize); 6] = [
    (30, 6, 2, 0),
    (20, 10, 8, 0),
    (21, 5, 10, 2),
    (5, 15, 18, 0),
    (10, 11, 17, 0),
    (38, 0, 0, 0),
];

/// What member `i` marks for subject `j`: the first S satisfied, the next B basically
/// satisfied, the next D dissatisfied, the rest blank (left out).
fn choice_of(i: usize, j: usize) -> Option<&'static str> {
    let (s, b, d, _) = VOTES[j];
    if i < s {
        Some("satisfied")
    } else if i < s + b {
        Some("basically_satisfied")
    } else if i < s + b + d {
        Some("dissatisfied")
    } else {
        None
    }
}

struct Expected {
    counts: [u64; 3],
    valid: u64,
    invalid: u64,
    rate: (u64, u64, &'static str),
    grade: proto::EvaluationGrade,
    consequence: proto::AdvisoryConsequence,
}

/// The table, computed by hand. Membership N = 40 (the grade base), 38 present and voting, blank
/// counts as invalid, the rate is (S + B) / valid:
/// | subject | S  | B  | D  | blank | valid | rate          | 2S vs 40 | 2(S+B) vs 40 | grade |
/// | a-1     | 30 |  6 |  2 | 0     | 38    | 36/38 = 18/19 | 60 > 40  |              | satisfied |
/// | a-2     | 20 | 10 |  8 | 0     | 38    | 30/38 = 15/19 | 40 = 40  | 60 > 40      | basically |
/// | a-3     | 21 |  5 | 10 | 2     | 36    | 26/36 = 13/18 | 42 > 40  |              | satisfied |
/// | a-4     |  5 | 15 | 18 | 0     | 38    | 20/38 = 10/19 | 10       | 40 = 40      | dissatisfied |
/// | a-5     | 10 | 11 | 17 | 0     | 38    | 21/38         | 20       | 42 > 40      | basically |
/// | a-6     | 38 |  0 |  0 | 0     | 38    | 38/38 = 1/1   | 76 > 40  |              | satisfied |
fn expected() -> [Expected; 6] {
    use proto::AdvisoryConsequence as A;
    use proto::EvaluationGrade as G;
    [
        Expected {
            counts: [30, 6, 2],
            valid: 38,
            invalid: 0,
            rate: (18, 19, "94.74%"),
            grade: G::Satisfied,
            consequence: A::None,
        },
        Expected {
            counts: [20, 10, 8],
            valid: 38,
            invalid: 0,
            rate: (15, 19, "78.95%"),
            grade: G::BasicallySatisfied,
            consequence: A::RectifyPerDeliberationOpinions,
        },
        Expected {
            counts: [21, 5, 10],
            valid: 36,
            invalid: 2,
            rate: (13, 18, "72.22%"),
            grade: G::Satisfied,
            consequence: A::None,
        },
        Expected {
            counts: [5, 15, 18],
            valid: 38,
            invalid: 0,
            rate: (10, 19, "52.63%"),
            grade: G::Dissatisfied,
            consequence: A::RectifyAndReportAgainAtNextSession,
        },
        Expected {
            counts: [10, 11, 17],
            valid: 38,
            invalid: 0,
            rate: (21, 38, "55.26%"),
            grade: G::BasicallySatisfied,
            consequence: A::RectifyPerDeliberationOpinions,
        },
        Expected {
            counts: [38, 0, 0],
            valid: 38,
            invalid: 0,
            rate: (1, 1, "100.00%"),
            grade: G::Satisfied,
            consequence: A::None,
        },
    ]
}

fn assert_table(result: &proto::SessionResult) {
    assert_eq!(result.subjects.len(), 6);
    for (j, (got, want)) in result.subjects.iter().zip(expected()).enumerate() {
        let ctx = format!("subject {}", SUBJECTS[j]);
        assert_eq!(got.appointee_id, SUBJECTS[j], "{ctx}");
        let counts: Vec<(&str, &str, u64)> = got
            .counts
            .iter()
            .map(|c| (c.code.as_str(), c.label_zh.as_str(), c.count))
            .collect();
        assert_eq!(
            counts,
            vec![
                ("satisfied", "满意", want.counts[0]),
                ("basically_satisfied", "基本满意", want.counts[1]),
                ("dissatisfied", "不满意", want.counts[2]),
            ],
            "{ctx}"
        );
        assert_eq!(got.cast, 38, "{ctx}");
        assert_eq!(got.valid, want.valid, "{ctx}");
        assert_eq!(got.invalid, want.invalid, "{ctx}");
        assert_eq!(got.abstain, 0, "{ctx}");
        let rate = got.satisfaction_rate.as_ref().unwrap();
        assert_eq!(
            (rate.numerator, rate.denominator, rate.display.as_str()),
            want.rate,
            "{ctx}"
        );
        assert_eq!(got.grade, want.grade as i32, "{ctx}");
        assert_eq!(got.grade_base, 40, "{ctx}");
        assert_eq!(got.consequence, want.consequence as i32, "{ctx}");
    }
}

// ---------------------------------------------------------------------------------------------
// The full session

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_session_of_40_members_and_6_subjects_is_secret_exact_and_embargoed() {
    let (server, views) = setup().await;
    let mut clerk = client(&server, "ovs_clerk").await;
    let mut chair = client(&server, "ovs_chair").await;
    let mut reporter = client(&server, "ovs_reporter").await;
    let mut auditor = client(&server, "ovs_auditor").await;
    let mut members = Vec::new();
    for i in 0..MEMBERS {
        members.push(client(&server, &member_token(i)).await);
    }
    let session = "s-2026-08";

    // Policy v1 holds results for the clerk (so the embargo can be seen).
    let mut v1 = default_policy(&mut clerk).await;
    v1.announcement = proto::AnnouncementTiming::ByClerk as i32;
    let adopted = chair
        .adopt_scoring_policy(proto::AdoptScoringPolicyRequest {
            command_id: String::new(),
            committee_id: COMMITTEE.into(),
            policy: Some(v1),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(adopted.version, 1);
    // Only the chair adopts policies.
    let document = default_policy(&mut clerk).await;
    assert_status(
        clerk
            .adopt_scoring_policy(proto::AdoptScoringPolicyRequest {
                command_id: String::new(),
                committee_id: COMMITTEE.into(),
                policy: Some(document),
            })
            .await,
        Code::PermissionDenied,
        "AdoptScoringPolicy",
    );

    // Schedule: the roster is the 40 members serving on the date; policy v1 is frozen.
    let scheduled = clerk
        .schedule_session(schedule(session))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(scheduled.entitled, 40);
    assert_eq!(scheduled.policy_version, 1);

    // A later policy v2 (announce at once, rate over the membership) must not reach the session.
    let mut v2 = default_policy(&mut clerk).await;
    v2.rate_denominator = proto::TallyBase::Membership as i32;
    v2.announcement = proto::AnnouncementTiming::AtOnce as i32;
    let adopted = chair
        .adopt_scoring_policy(proto::AdoptScoringPolicyRequest {
            command_id: String::new(),
            committee_id: COMMITTEE.into(),
            policy: Some(v2),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(adopted.version, 2);
    let current = clerk
        .get_scoring_policy(proto::GetScoringPolicyRequest {
            committee_id: COMMITTEE.into(),
            min_position: adopted.position,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(current.version, 2);

    // The announcement stream, opened before anything is announced.
    let mut watch = reporter
        .watch_announcements(proto::WatchAnnouncementsRequest {
            from_position: 1,
            committee_id: COMMITTEE.into(),
        })
        .await
        .unwrap()
        .into_inner();

    // Before opening, no ballot.
    assert_status(
        members[0]
            .cast_ballot(ballot(session, &[("a-1", "satisfied")]))
            .await,
        Code::FailedPrecondition,
        "voting has not opened",
    );

    // Roll call: 38 present; members 38 and 39 absent.
    let present: Vec<String> = (0..38).map(member).collect();
    clerk
        .record_roll_call(proto::RecordRollCallRequest {
            command_id: String::new(),
            session_id: session.into(),
            present: present.clone(),
        })
        .await
        .unwrap();
    clerk.open_voting(session_ref(session)).await.unwrap();

    // Lifecycle rejections while voting is open.
    assert_status(
        members[39]
            .cast_ballot(ballot(session, &[("a-1", "satisfied")]))
            .await,
        Code::FailedPrecondition,
        "is not present",
    );
    assert_status(
        members[0]
            .cast_ballot(ballot(session, &[("a-9", "satisfied")]))
            .await,
        Code::FailedPrecondition,
        "unknown subject `a-9`",
    );
    assert_status(
        members[0]
            .cast_ballot(ballot(session, &[("a-1", "excellent")]))
            .await,
        Code::FailedPrecondition,
        "option `excellent` is not on the scale",
    );
    assert_status(
        clerk
            .cast_ballot(ballot(session, &[("a-1", "satisfied")]))
            .await,
        Code::PermissionDenied,
        "CastBallot",
    );

    // The 38 present vote, in member order; receipts are kept in voting order.
    let mut receipts = Vec::new();
    let mut last_position = 0;
    for (i, client) in members.iter_mut().enumerate().take(38) {
        let choices: Vec<(&str, &str)> = SUBJECTS
            .iter()
            .enumerate()
            .filter_map(|(j, s)| choice_of(i, j).map(|c| (*s, c)))
            .collect();
        let reply = client
            .cast_ballot(ballot(session, &choices))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(reply.round, 1);
        assert!(reply.position > last_position);
        last_position = reply.position;
        uuid::Uuid::parse_str(&reply.ballot_id).expect("a receipt is a uuid");
        receipts.push(reply.ballot_id);
    }
    // A second ballot from the same member.
    assert_status(
        members[0]
            .cast_ballot(ballot(session, &[("a-1", "dissatisfied")]))
            .await,
        Code::FailedPrecondition,
        "has already voted",
    );
    // Participation is a count in the view, never a list next to choices.
    let listed = clerk
        .list_sessions(proto::ListSessionsRequest {
            committee_id: COMMITTEE.into(),
            min_position: last_position,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let summary = listed
        .sessions
        .iter()
        .find(|s| s.session_id == session)
        .unwrap();
    assert_eq!(summary.participants, 38);
    assert_eq!(summary.phase, proto::SessionPhase::VotingOpen as i32);

    let closed = clerk
        .close_voting(session_ref(session))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((closed.ballots, closed.voided), (38, false));
    assert_status(
        members[38 - 1]
            .cast_ballot(ballot(session, &[("a-1", "satisfied")]))
            .await,
        Code::FailedPrecondition,
        "voting is closed",
    );

    let tallied = clerk
        .tally(session_ref(session))
        .await
        .unwrap()
        .into_inner();

    // The list keeps the embargo too: a tallied session looks closed from outside.
    for (who, phase) in [
        (&mut reporter, proto::SessionPhase::VotingClosed),
        (&mut clerk, proto::SessionPhase::Tallied),
    ] {
        let listed = who
            .list_sessions(proto::ListSessionsRequest {
                min_position: tallied.position,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.sessions[0].session_id, session);
        assert_eq!(listed.sessions[0].phase, phase as i32);
        // No announcement position before the announcement, for anyone.
        assert_eq!(listed.sessions[0].announced_position, 0);
    }

    // Embargo: under policy v1 the result waits for the clerk. Reporter and member see
    // NOT_FOUND; this committee's clerk and chair see it, unannounced. Another committee's
    // clerk is refused the session whatever its phase, which tells nothing of the tally.
    let mut other_clerk = client(&server, "ovs_other_clerk").await;
    assert_status(
        other_clerk
            .get_session_result(proto::GetSessionResultRequest {
                session_id: session.into(),
                min_position: tallied.position,
            })
            .await,
        Code::PermissionDenied,
        "role clerk of committee daoli may not read committee xiangfang",
    );
    for outsider in [&mut reporter, &mut members[0]] {
        assert_status(
            outsider
                .get_session_result(proto::GetSessionResultRequest {
                    session_id: session.into(),
                    min_position: tallied.position,
                })
                .await,
            Code::NotFound,
            "has no announced result yet",
        );
    }
    let embargoed = chair
        .get_session_result(proto::GetSessionResultRequest {
            session_id: session.into(),
            min_position: tallied.position,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!embargoed.announced);
    // Frozen: counted under v1 (rate over valid ballots), not v2 (over the membership).
    assert_eq!(embargoed.policy_version, 1);
    assert_table(&embargoed);
    // Recount keeps the embargo too: the auditor gets the same NOT_FOUND until the
    // announcement; the chair recounts the embargoed tally.
    assert_status(
        auditor
            .recount(proto::RecountRequest {
                session_id: session.into(),
            })
            .await,
        Code::NotFound,
        "has no announced result yet",
    );
    let embargoed_recount = chair
        .recount(proto::RecountRequest {
            session_id: session.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(embargoed_recount.matches);
    // A receipt too: the published set (that voting closed, how many ballots) is part of the
    // result, so a member checks it once announced; the clerk may check it now.
    let receipt = |ballot_id: &String| proto::CheckReceiptRequest {
        session_id: session.into(),
        ballot_id: ballot_id.clone(),
    };
    assert_status(
        members[5].check_receipt(receipt(&receipts[0])).await,
        Code::NotFound,
        "has no announced result yet",
    );
    let checked = clerk
        .check_receipt(receipt(&receipts[0]))
        .await
        .unwrap()
        .into_inner();
    assert!(checked.published);
    assert_eq!(checked.published_ballots, 38);

    let announced = clerk
        .announce(session_ref(session))
        .await
        .unwrap()
        .into_inner();
    // A reader learns the announcement's position from the list (without watching the
    // announcements) and waits for it: the result is there, never "not announced yet".
    let listed = reporter
        .list_sessions(proto::ListSessionsRequest {
            committee_id: COMMITTEE.into(),
            min_position: announced.position,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let announced_position = listed.sessions[0].announced_position;
    assert_eq!(announced_position, announced.position);
    let public = reporter
        .get_session_result(proto::GetSessionResultRequest {
            session_id: session.into(),
            min_position: announced_position,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(public.announced);
    assert_eq!(public.announced_position, announced.position);
    assert_eq!((public.membership, public.present), (40, 38));
    assert_table(&public);
    assert_eq!(public.ballot_set_hash.len(), 64);
    let first = watch.next().await.unwrap().unwrap();
    assert_eq!(first.position, announced.position);
    assert_eq!(first.result.as_ref().unwrap().session_id, session);
    assert_table(first.result.as_ref().unwrap());
    drop(watch);

    // Recount by the auditor equals the tally.
    let recount = auditor
        .recount(proto::RecountRequest {
            session_id: session.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(recount.matches);
    assert_eq!(recount.recorded, recount.recomputed);
    assert_eq!(recount.recomputed_ballot_set_hash, public.ballot_set_hash);
    assert_status(
        reporter
            .recount(proto::RecountRequest {
                session_id: session.into(),
            })
            .await,
        Code::PermissionDenied,
        "Recount",
    );

    // Every receipt is in the published set; a made-up one is not.
    for receipt in &receipts {
        let check = members[5]
            .check_receipt(proto::CheckReceiptRequest {
                session_id: session.into(),
                ballot_id: receipt.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(check.published, "{receipt}");
        assert_eq!(check.published_ballots, 38);
    }
    let stranger = members[5]
        .check_receipt(proto::CheckReceiptRequest {
            session_id: session.into(),
            ballot_id: uuid::Uuid::new_v4().to_string(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!stranger.published);

    // A second session, scheduled under v2 (announced at once), while the watcher is away.
    let second = "s-2026-09";
    let scheduled = clerk
        .schedule_session(schedule(second))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(scheduled.policy_version, 2);
    clerk
        .record_roll_call(proto::RecordRollCallRequest {
            command_id: String::new(),
            session_id: second.into(),
            present: (0..21).map(member).collect(),
        })
        .await
        .unwrap();
    clerk.open_voting(session_ref(second)).await.unwrap();
    // 21 members vote at once: the per-session lock lets every one of them through.
    let casts = members.iter_mut().take(21).map(|client| {
        client.cast_ballot(ballot(
            second,
            &[("a-1", "satisfied"), ("a-2", "dissatisfied")],
        ))
    });
    let replies = futures::future::join_all(casts).await;
    assert!(replies.iter().all(|r| r.is_ok()), "{replies:?}");
    clerk.close_voting(session_ref(second)).await.unwrap();
    let tallied_second = clerk.tally(session_ref(second)).await.unwrap().into_inner();
    let result = reporter
        .get_session_result(proto::GetSessionResultRequest {
            session_id: second.into(),
            min_position: tallied_second.position,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(result.announced, "v2 announces on the spot");
    assert_eq!(result.policy_version, 2);
    // v2 rates over the membership: 21 satisfied of 40.
    let rate = result.subjects[0].satisfaction_rate.clone().unwrap();
    assert_eq!((rate.numerator, rate.denominator), (21, 40));

    // Reconnect after the first announcement: the next one arrives, nothing skipped or repeated.
    let mut resumed = reporter
        .watch_announcements(proto::WatchAnnouncementsRequest {
            from_position: first.position + 1,
            committee_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let next = resumed.next().await.unwrap().unwrap();
    assert_eq!(next.result.as_ref().unwrap().session_id, second);
    assert_eq!(next.position, tallied_second.position);

    // The view rebuilt from position 0 equals the view folded incrementally.
    let scan_view = |views: &Views| -> Vec<(String, serde_json::Value)> {
        let read = views.read().unwrap();
        let mut docs: Vec<(String, serde_json::Value)> =
            read.scan("sessions", "sessions", "", None, 10_000).unwrap();
        docs.extend(read.scan("sessions", "policies", "", None, 10_000).unwrap());
        docs
    };
    let incremental = scan_view(&views);
    let mut ops = OperationsClient::with_interceptor(
        server.channel().await,
        Bearer(Some(server.token.clone())),
    );
    let mut progress = ops
        .rebuild_view(RebuildViewRequest {
            name: "sessions".into(),
        })
        .await
        .unwrap()
        .into_inner();
    while let Some(step) = progress.next().await {
        if step.unwrap().done {
            break;
        }
    }
    assert_eq!(scan_view(&views), incremental);

    // -----------------------------------------------------------------------------------------
    // The secrecy scan.
    let member_ids: Vec<String> = (0..MEMBERS).map(member).collect();
    let has_member = |text: &str| member_ids.iter().any(|m| text.contains(m.as_str()));
    let has_receipt = |text: &str| receipts.iter().any(|r| text.contains(r.as_str()));

    // 1. Every log record: a record naming a member carries no choice and no receipt.
    let mut log = server.client().await;
    let mut records = log
        .read_all(ReadAllRequest {
            from_position: Some(1),
            direction: 0,
            max_count: 0,
            filter: None,
        })
        .await
        .unwrap()
        .into_inner();
    let mut published = None;
    let mut scanned = 0;
    while let Some(chunk) = records.next().await {
        for record in chunk.unwrap().events {
            scanned += 1;
            let data = String::from_utf8(record.data.clone()).unwrap();
            let text = format!("{data} {:?}", record.metadata);
            assert!(
                !has_receipt(&text),
                "record {} holds a receipt: receipts are the voters' alone",
                record.position
            );
            if has_member(&text) {
                assert!(
                    !text.contains("\"choices\"") && !text.contains("\"option\""),
                    "record {} links a member to a choice: {text}",
                    record.position
                );
                assert!(
                    !has_receipt(&text),
                    "record {} links a member to a receipt",
                    record.position
                );
            }
            assert_ne!(record.event_type, "BallotsPublished.v1");
            if record.event_type == "BallotsPublished.v2"
                && record.stream == format!("session-{session}")
            {
                published = Some(serde_json::from_str::<serde_json::Value>(&data).unwrap());
            }
        }
    }
    assert!(scanned > 100, "{scanned}");
    // The published set: the receipts' commitments, sorted, and one column of marks per
    // subject — never a receipt, never a whole ballot.
    let published = published.expect("BallotsPublished.v2 of the session");
    assert!(published.get("ballots").is_none(), "{published}");
    let commitments: Vec<String> = published["commitments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let mut expected: Vec<String> = receipts
        .iter()
        .map(|r| {
            oversight::domain::evaluation::tally::receipt_commitment(
                &oversight::domain::evaluation::SessionId::parse(session).unwrap(),
                1,
                &oversight::domain::evaluation::BallotId::parse(r.as_str()).unwrap(),
            )
        })
        .collect();
    expected.sort();
    assert_eq!(commitments, expected);
    let columns = published["columns"].as_array().unwrap();
    assert_eq!(columns.len(), SUBJECTS.len());
    for column in columns {
        assert_eq!(column["marks"].as_array().unwrap().len(), receipts.len());
    }

    // 2. Every document of the sessions view: no member id at all.
    let read = views.read().unwrap();
    for table in ["sessions", "policies"] {
        let docs: Vec<(String, serde_json::Value)> =
            read.scan("sessions", table, "", None, 10_000).unwrap();
        assert!(!docs.is_empty(), "{table}");
        for (key, doc) in docs {
            let text = doc.to_string();
            assert!(
                !has_member(&text),
                "view {table}/{key} names a member: {text}"
            );
        }
    }

    // 3. The ballot box file: never a member id in it, and the published rounds are gone.
    let ballots = std::fs::read(server.dir.path().join("data").join("ballots.redb")).unwrap();
    for id in &member_ids {
        assert!(
            !ballots.windows(id.len()).any(|w| w == id.as_bytes()),
            "the ballot box holds {id}"
        );
    }

    // 4. The traces: no line names a member together with a choice code or a receipt.
    let traces = String::from_utf8_lossy(&trace_buffer().lock().unwrap()).to_string();
    assert!(traces.contains("CastBallot"), "tracing was captured");
    for line in traces.lines() {
        if has_member(line) {
            assert!(
                !CHOICE_CODES.iter().any(|c| line.contains(c)),
                "a trace line links a member to a choice: {line}"
            );
            assert!(
                !has_receipt(line),
                "a trace line links a member to a receipt: {line}"
            );
        }
    }
    // Every session and policy event, participations and published ballots included, names
    // the principal that wrote it (for ballots: the clerk who closed the vote, never a voter).
    common::assert_events_name_their_actor(&server.store(), &["session-", "policy-"]).await;
}

// ---------------------------------------------------------------------------------------------
// Quorum and the remaining rejections

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn below_quorum_the_vote_cannot_open_and_lifecycle_errors_are_clear() {
    let (server, _views) = setup().await;
    let mut clerk = client(&server, "ovs_clerk").await;
    let session = "s-quorum";

    // Only the clerk schedules, for its own committee; a malformed date; a session that does
    // not exist.
    let mut admin = client(&server, "ovs_admin").await;
    assert_status(
        admin.schedule_session(schedule("s-x")).await,
        Code::PermissionDenied,
        "ScheduleSession",
    );
    let mut other = schedule("s-x");
    other.committee_id = "daoli".into();
    assert_status(
        clerk.schedule_session(other).await,
        Code::PermissionDenied,
        "role clerk of committee xiangfang may not act on committee daoli",
    );
    let mut bad_date = schedule("s-x");
    bad_date.date = "27/11/2026".into();
    assert_status(
        clerk.schedule_session(bad_date).await,
        Code::InvalidArgument,
        "date",
    );
    assert_status(
        clerk.open_voting(session_ref("s-none")).await,
        Code::NotFound,
        "session s-none does not exist",
    );

    // Subjects are this committee's appointees serving on the meeting date: not an unknown id,
    // not another committee's appointee, not one whose term ended before the date.
    common::setup::appointee(&server.store(), "daoli", "d-1").await;
    common::setup::appointee(&server.store(), COMMITTEE, "a-gone").await;
    let gone = oversight::domain::ids::AppointeeId::parse("a-gone").unwrap();
    Handler::new(server.store())
        .execute::<oversight::domain::appointee::Appointee>(
            &StreamName::new(oversight::domain::ids::appointee_stream(&gone)).unwrap(),
            &oversight::domain::appointee::AppointeeCommand::EndTerm {
                kind: oversight::domain::appointee::TermEndKind::Transfer,
                on: NaiveDate::from_ymd_opt(2026, 6, 30).unwrap(),
                reason: "调任".into(),
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
    let with_subject = |subject: &str| proto::ScheduleSessionRequest {
        subjects: vec!["a-1".into(), subject.into()],
        ..schedule("s-x")
    };
    for (subject, code, needle) in [
        (
            "a-9",
            Code::NotFound,
            "subjects[1]: appointee a-9 does not exist",
        ),
        (
            "d-1",
            Code::FailedPrecondition,
            "subjects[1]: appointee d-1 belongs to committee daoli, not xiangfang",
        ),
        (
            "a-gone",
            Code::FailedPrecondition,
            "subjects[1]: appointee a-gone is not serving on the meeting date 2026-11-27: the \
             term ended on 2026-06-30",
        ),
    ] {
        assert_status(
            clerk.schedule_session(with_subject(subject)).await,
            code,
            needle,
        );
    }
    // Serving up to the last day in office: a meeting on that day may rate the appointee.
    let last_day = proto::ScheduleSessionRequest {
        date: "2026-06-30".into(),
        ..with_subject("a-gone")
    };
    clerk.schedule_session(last_day).await.unwrap();
    // Nor before the appointment.
    let early = proto::ScheduleSessionRequest {
        date: "2016-11-30".into(),
        ..schedule("s-early")
    };
    assert_status(
        clerk.schedule_session(early).await,
        Code::FailedPrecondition,
        "subjects[0]: appointee a-1 is not serving on the meeting date 2016-11-30: the term \
         starts on 2016-12-01",
    );

    clerk.schedule_session(schedule(session)).await.unwrap();
    assert_status(
        clerk.schedule_session(schedule(session)).await,
        Code::FailedPrecondition,
        "already scheduled",
    );
    assert_status(
        clerk.open_voting(session_ref(session)).await,
        Code::FailedPrecondition,
        "roll call comes first",
    );
    // 20 of 40 is exactly half: not more than half, so no quorum.
    clerk
        .record_roll_call(proto::RecordRollCallRequest {
            command_id: String::new(),
            session_id: session.into(),
            present: (0..20).map(member).collect(),
        })
        .await
        .unwrap();
    assert_status(
        clerk.open_voting(session_ref(session)).await,
        Code::FailedPrecondition,
        "no quorum: 20 present of 40 entitled",
    );
    assert_status(
        clerk
            .record_roll_call(proto::RecordRollCallRequest {
                command_id: String::new(),
                session_id: session.into(),
                present: vec!["cm-old-qz".into()],
            })
            .await,
        Code::InvalidArgument,
        "is not on the roster",
    );
    assert_status(
        clerk.tally(session_ref(session)).await,
        Code::FailedPrecondition,
        "voting has not closed",
    );
    assert_status(
        clerk.close_voting(session_ref(session)).await,
        Code::FailedPrecondition,
        "voting has not opened",
    );
    // Another committee's clerk may not run this committee's session.
    let mut stranger = client(&server, "ovs_other_clerk").await;
    assert_status(
        stranger
            .record_roll_call(proto::RecordRollCallRequest {
                command_id: String::new(),
                session_id: session.into(),
                present: (0..21).map(member).collect(),
            })
            .await,
        Code::PermissionDenied,
        "role clerk of committee daoli may not act on committee xiangfang",
    );
    // 21 of 40 is a quorum.
    let reply = clerk
        .record_roll_call(proto::RecordRollCallRequest {
            command_id: String::new(),
            session_id: session.into(),
            present: (0..21).map(member).collect(),
        })
        .await
        .unwrap()
        .into_inner();
    clerk.open_voting(session_ref(session)).await.unwrap();
    assert_status(
        clerk.open_voting(session_ref(session)).await,
        Code::FailedPrecondition,
        "voting is already open",
    );
    // Until a tally, the chair gets NOT_FOUND naming the missing tally, a reporter the embargo
    // answer.
    let mut chair = client(&server, "ovs_chair").await;
    assert_status(
        chair
            .get_session_result(proto::GetSessionResultRequest {
                session_id: session.into(),
                min_position: reply.position,
            })
            .await,
        Code::NotFound,
        "has no tally yet",
    );
    let mut reporter = client(&server, "ovs_reporter").await;
    assert_status(
        reporter
            .get_session_result(proto::GetSessionResultRequest {
                session_id: session.into(),
                min_position: reply.position,
            })
            .await,
        Code::NotFound,
        "has no announced result yet",
    );
    // Closing with no ballot voids nothing: 0 ballots of 0 participations is an empty round.
    let closed = clerk
        .close_voting(session_ref(session))
        .await
        .unwrap()
        .into_inner();
    assert!(!closed.voided);
    assert_eq!(closed.ballots, 0);
    // An empty round tallies (announced at once under the default policy). Annulling it takes
    // two authenticated principals: one proposes, a different one approves.
    clerk.tally(session_ref(session)).await.unwrap();
    // Named approvers prove nothing: the old one-step correction is retired.
    assert_status(
        chair
            .correct_result(proto::CorrectResultRequest {
                command_id: String::new(),
                session_id: session.into(),
                round: 1,
                kind: proto::CorrectionKind::AnnulRound as i32,
                reason: "the voting machine was misconfigured".into(),
                approvers: vec!["chair-1".into(), "clerk-1".into()],
            })
            .await,
        Code::FailedPrecondition,
        "ProposeCorrection",
    );
    let annul = |proposal: u32| proto::ApproveCorrectionRequest {
        command_id: String::new(),
        session_id: session.into(),
        proposal,
        round: 1,
        kind: proto::CorrectionKind::AnnulRound as i32,
    };
    let propose = proto::ProposeCorrectionRequest {
        command_id: String::new(),
        session_id: session.into(),
        round: 1,
        kind: proto::CorrectionKind::AnnulRound as i32,
        reason: "the voting machine was misconfigured".into(),
    };
    // Only a clerk or chair proposes or approves, of this committee.
    let mut member_0 = client(&server, &member_token(0)).await;
    assert_status(
        member_0.propose_correction(propose.clone()).await,
        Code::PermissionDenied,
        "ProposeCorrection",
    );
    assert_status(
        reporter.approve_correction(annul(1)).await,
        Code::PermissionDenied,
        "ApproveCorrection",
    );
    assert_status(
        clerk
            .propose_correction(proto::ProposeCorrectionRequest {
                reason: " ".into(),
                ..propose.clone()
            })
            .await,
        Code::InvalidArgument,
        "reason",
    );
    let proposed = clerk
        .propose_correction(propose.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(proposed.proposal, 1);
    // Proposed, not yet in effect: the result still stands.
    let standing = reporter
        .get_session_result(proto::GetSessionResultRequest {
            session_id: session.into(),
            min_position: proposed.position,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(standing.announced);
    // The same principal cannot be both approvers.
    assert_status(
        clerk.approve_correction(annul(1)).await,
        Code::FailedPrecondition,
        "clerk-1 proposed this correction and cannot approve it too",
    );
    let mut stranger = client(&server, "ovs_other_clerk").await;
    assert_status(
        stranger.approve_correction(annul(1)).await,
        Code::PermissionDenied,
        "role clerk of committee daoli may not act on committee xiangfang",
    );
    // The approver names what they approve.
    assert_status(
        chair
            .approve_correction(proto::ApproveCorrectionRequest {
                kind: proto::CorrectionKind::Retally as i32,
                ..annul(1)
            })
            .await,
        Code::FailedPrecondition,
        "is a annulment of round 1",
    );
    assert_status(
        chair.approve_correction(annul(2)).await,
        Code::FailedPrecondition,
        "proposal 2 is not pending",
    );
    // A second, different principal approves: the result is gone and the session is back at
    // roll call.
    let annulled = chair
        .approve_correction(annul(1))
        .await
        .unwrap()
        .into_inner();
    assert_status(
        reporter
            .get_session_result(proto::GetSessionResultRequest {
                session_id: session.into(),
                min_position: annulled.position,
            })
            .await,
        Code::NotFound,
        "has no announced result yet",
    );
    let listed = clerk
        .list_sessions(proto::ListSessionsRequest {
            committee_id: COMMITTEE.into(),
            min_position: annulled.position,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let summary = listed
        .sessions
        .iter()
        .find(|s| s.session_id == session)
        .unwrap();
    assert_eq!(summary.phase, proto::SessionPhase::RollCalled as i32);
    // The log records both authenticated approvers on the correction.
    let corrected = read_session_events(&server, session)
        .await
        .into_iter()
        .filter(|(t, _)| t == "ResultCorrected.v1" || t == "CorrectionApproved.v1")
        .collect::<Vec<_>>();
    assert_eq!(corrected.len(), 2, "{corrected:?}");
    assert_eq!(corrected[0].1["approved_by"], "chair-1");
    assert_eq!(
        corrected[1].1["approvers"],
        serde_json::json!(["chair-1", "clerk-1"])
    );
    // Approved once; a second approval finds nothing pending.
    assert_status(
        chair.approve_correction(annul(1)).await,
        Code::FailedPrecondition,
        "no pending correction proposal 1",
    );
}

/// The type and JSON payload of every event of a session's stream, read as an auditor would.
async fn read_session_events(
    server: &TestServer,
    session: &str,
) -> Vec<(String, serde_json::Value)> {
    let events = server
        .store()
        .read_stream(ReadStream {
            stream: StreamName::new(format!("session-{session}")).unwrap(),
            from_revision: None,
            direction: Direction::Forwards,
            max_count: 10_000,
        })
        .await
        .unwrap();
    events
        .into_iter()
        .map(|e| {
            (
                e.event_type.to_string(),
                serde_json::from_slice(&e.data).unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn an_announcement_stream_ends_with_unavailable_and_its_resume_position_at_shutdown() {
    let (server, _views) = setup().await;
    let mut reporter = client(&server, "ovs_reporter").await;
    let mut watch = reporter
        .watch_announcements(proto::WatchAnnouncementsRequest {
            from_position: 7,
            committee_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    server.shutdown.trigger();
    let ended = watch.next().await.unwrap().unwrap_err();
    assert_eq!(ended.code(), Code::Unavailable, "{ended:?}");
    assert!(
        ended.message().contains("from position 7"),
        "{}",
        ended.message()
    );
}

/// Forms deputy group `group` of `committee` with `deputies`, straight through the handler.
async fn deputy_group_with(server: &TestServer, committee: &str, group: &str, deputies: &[usize]) {
    use oversight::domain::deputy_group::{DeputyGroup, DeputyGroupCommand};
    use oversight::domain::ids::{DeputyGroupId, DeputyId, deputy_group_stream};
    let store = server.store();
    common::setup::deputy_group(&store, committee, group).await;
    let gid = DeputyGroupId::parse(group).unwrap();
    let stream = StreamName::new(deputy_group_stream(&gid)).unwrap();
    let ctx = Context {
        now: Utc::now(),
        actor: "admin".into(),
        role: oversight::domain::Role::Admin,
    };
    for i in deputies {
        Handler::new(store.clone())
            .execute::<DeputyGroup>(
                &stream,
                &DeputyGroupCommand::AddDeputy {
                    deputy: DeputyId::parse(deputy(*i)).unwrap(),
                    name: format!("代表{i}"),
                },
                &ctx,
                &Metadata::default(),
            )
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deputies_vote_as_their_own_constituency_with_a_roster_from_the_deputy_groups() {
    let (server, _views) = setup().await;
    let mut clerk = client(&server, "ovs_clerk").await;
    // Two groups share dep-3; a group of another committee; a deputy group without deputies.
    deputy_group_with(&server, COMMITTEE, "g-1", &[1, 2, 3]).await;
    deputy_group_with(&server, COMMITTEE, "g-2", &[3, 4, 5]).await;
    deputy_group_with(&server, "daoli", "g-daoli", &[1]).await;
    let deputies_session = |session: &str, groups: &[&str]| proto::ScheduleSessionRequest {
        constituency: proto::Constituency::Deputies as i32,
        deputy_groups: groups.iter().map(|g| g.to_string()).collect(),
        ..schedule(session)
    };

    // The roster snapshot: every deputy of the committee's groups, once each.
    let scheduled = clerk
        .schedule_session(deputies_session("s-dep", &[]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(scheduled.entitled, 5);
    // Or of the groups named.
    let one_group = clerk
        .schedule_session(deputies_session("s-dep-g1", &["g-1"]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(one_group.entitled, 3);
    assert_status(
        clerk
            .schedule_session(deputies_session("s-x", &["g-none"]))
            .await,
        Code::NotFound,
        "deputy group g-none does not exist",
    );
    assert_status(
        clerk
            .schedule_session(deputies_session("s-x", &["g-daoli"]))
            .await,
        Code::InvalidArgument,
        "group g-daoli belongs to committee daoli, not xiangfang",
    );
    assert_status(
        clerk
            .schedule_session(proto::ScheduleSessionRequest {
                deputy_groups: vec!["g-1".into()],
                ..schedule("s-x")
            })
            .await,
        Code::InvalidArgument,
        "deputy_groups is only for constituency deputies",
    );

    // The committee members' session of the same meeting, for the other constituency.
    clerk.schedule_session(schedule("s-cm")).await.unwrap();
    for (session, present) in [
        ("s-dep", (1..=4).map(deputy).collect::<Vec<_>>()),
        ("s-cm", (0..21).map(member).collect()),
    ] {
        clerk
            .record_roll_call(proto::RecordRollCallRequest {
                command_id: String::new(),
                session_id: session.into(),
                present,
            })
            .await
            .unwrap();
        clerk.open_voting(session_ref(session)).await.unwrap();
    }
    // A member of the roll call of the wrong constituency is refused.
    assert_status(
        clerk
            .record_roll_call(proto::RecordRollCallRequest {
                command_id: String::new(),
                session_id: "s-dep-g1".into(),
                present: vec![deputy(4)],
            })
            .await,
        Code::InvalidArgument,
        "`dep-4` is not on the roster",
    );

    // Each constituency votes in its own session only.
    let mut member_0 = client(&server, &member_token(0)).await;
    assert_status(
        member_0
            .cast_ballot(ballot("s-dep", &[("a-1", "satisfied")]))
            .await,
        Code::FailedPrecondition,
        "role `committee_member` may not cast a ballot; it needs deputy",
    );
    let mut deputy_1 = client(&server, &deputy_token(1)).await;
    assert_status(
        deputy_1
            .cast_ballot(ballot("s-cm", &[("a-1", "satisfied")]))
            .await,
        Code::FailedPrecondition,
        "role `deputy` may not cast a ballot; it needs committee_member",
    );
    let mut deputy_5 = client(&server, &deputy_token(5)).await;
    assert_status(
        deputy_5
            .cast_ballot(ballot("s-dep", &[("a-1", "satisfied")]))
            .await,
        Code::FailedPrecondition,
        "member `dep-5` is not present",
    );
    // Deputies 1–3 satisfied with a-1, deputy 4 dissatisfied; a-2 … a-6 left blank.
    for i in 1..=4 {
        let mut voter = client(&server, &deputy_token(i)).await;
        let choice = if i == 4 { "dissatisfied" } else { "satisfied" };
        voter
            .cast_ballot(ballot("s-dep", &[("a-1", choice)]))
            .await
            .unwrap();
    }
    assert_status(
        deputy_1
            .cast_ballot(ballot("s-dep", &[("a-1", "satisfied")]))
            .await,
        Code::FailedPrecondition,
        "has already voted in round 1",
    );
    // 21 members all dissatisfied with a-1.
    for i in 0..21 {
        let mut voter = client(&server, &member_token(i)).await;
        voter
            .cast_ballot(ballot("s-cm", &[("a-1", "dissatisfied")]))
            .await
            .unwrap();
    }

    // Each session tallies its own constituency (announced at once by default).
    let mut reporter = client(&server, "ovs_reporter").await;
    let mut results = HashMap::new();
    for session in ["s-dep", "s-cm"] {
        let closed = clerk
            .close_voting(session_ref(session))
            .await
            .unwrap()
            .into_inner();
        assert!(!closed.voided);
        let tallied = clerk
            .tally(session_ref(session))
            .await
            .unwrap()
            .into_inner();
        let result = reporter
            .get_session_result(proto::GetSessionResultRequest {
                session_id: session.into(),
                min_position: tallied.position,
            })
            .await
            .unwrap()
            .into_inner();
        results.insert(session, (closed.ballots, result));
    }
    let (ballots, dep) = &results["s-dep"];
    assert_eq!(*ballots, 4);
    assert_eq!((dep.membership, dep.present), (5, 4));
    let a1 = &dep.subjects[0];
    assert_eq!(a1.appointee_id, "a-1");
    let count = |r: &proto::SubjectResult, code: &str| {
        r.counts.iter().find(|c| c.code == code).unwrap().count
    };
    assert_eq!((count(a1, "satisfied"), count(a1, "dissatisfied")), (3, 1));
    assert_eq!((a1.cast, a1.valid, a1.invalid), (4, 4, 0));
    // 3 of 4 valid; S = 3 > 5/2 of the deputies entitled: satisfied.
    let rate = a1.satisfaction_rate.as_ref().unwrap();
    assert_eq!((rate.numerator, rate.denominator), (3, 4));
    assert_eq!(rate.display, "75.00%");
    assert_eq!(a1.grade, proto::EvaluationGrade::Satisfied as i32);
    // a-2 left blank by all: 4 invalid, no rate, dissatisfied.
    let a2 = &dep.subjects[1];
    assert_eq!((a2.cast, a2.valid, a2.invalid), (4, 0, 4));
    assert!(a2.satisfaction_rate.is_none());
    let (ballots, cm) = &results["s-cm"];
    assert_eq!(*ballots, 21);
    assert_eq!((cm.membership, cm.present), (40, 21));
    assert_eq!(count(&cm.subjects[0], "dissatisfied"), 21);
    assert_eq!(count(&cm.subjects[0], "satisfied"), 0);
    assert_eq!(
        cm.subjects[0].grade,
        proto::EvaluationGrade::Dissatisfied as i32
    );
}

/// At start, the sealed leftovers of a published round (a crash between publishing and
/// deleting) are removed; an open round's sealed ballots cannot be read any more (their key
/// lived in the stopped process), so a round anyone voted in is voided, to be voted again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_start_sealed_leftovers_of_published_rounds_are_swept_and_open_rounds_are_voided() {
    use oversight::ballot_box::{BALLOTS_FILE, BallotBox};
    use oversight::domain::evaluation::session::SealedBallot;
    use oversight::domain::evaluation::tally::Choice;
    use oversight::domain::evaluation::{AppointeeId, BallotId, SessionId};

    let server = TestServer::start_with(write_eval_tokens).await;
    seed_committee(&server).await;
    let mut clerk = client(&server, "ovs_clerk").await;
    for session in ["s-open", "s-published", "s-empty"] {
        clerk.schedule_session(schedule(session)).await.unwrap();
        clerk
            .record_roll_call(proto::RecordRollCallRequest {
                command_id: String::new(),
                session_id: session.into(),
                present: (0..21).map(member).collect(),
            })
            .await
            .unwrap();
        clerk.open_voting(session_ref(session)).await.unwrap();
        if session == "s-empty" {
            continue;
        }
        for i in 0..3 {
            let mut voter = client(&server, &member_token(i)).await;
            voter
                .cast_ballot(ballot(session, &[("a-1", "satisfied")]))
                .await
                .unwrap();
        }
    }
    let closed = clerk
        .close_voting(session_ref("s-published"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(closed.ballots, 3);
    drop(clerk);
    server.shutdown.trigger();
    let TestServer { dir, task, .. } = server;
    task.await.unwrap().unwrap();

    // The state a crash between publishing and deleting leaves: the published round's sealed
    // ballots are still in the box; and one sealed before its participation was recorded in the
    // round nobody voted in.
    let path = dir.path().join("data").join(BALLOTS_FILE);
    let published = SessionId::parse("s-published").unwrap();
    let open = SessionId::parse("s-open").unwrap();
    let empty = SessionId::parse("s-empty").unwrap();
    {
        let ballots = BallotBox::open(&path).unwrap();
        for (session, id) in [
            (&published, "leftover-1"),
            (&published, "leftover-2"),
            (&empty, "orphan"),
        ] {
            assert!(
                ballots
                    .seal(
                        &SealedBallot {
                            session_id: session.clone(),
                            round: 1,
                            ballot_id: BallotId::parse(id).unwrap(),
                            choices: [(AppointeeId::parse("a-1").unwrap(), Choice::Blank)].into(),
                        },
                        1024
                    )
                    .await
                    .unwrap()
            );
        }
        assert_eq!(
            ballots.held_rounds().await.unwrap(),
            vec![
                (empty.clone(), 1, 1),
                (open.clone(), 1, 3),
                (published.clone(), 1, 2)
            ]
        );
    }

    // When the server starts again, the sweep empties the box: the published round's leftovers
    // go, the open round is voided, the orphan of the round nobody voted in goes.
    let server = TestServer::start_in(dir, |_| {}, None).await;
    let mut clerk = client(&server, "ovs_clerk").await;
    let closed = clerk
        .close_voting(session_ref("s-empty"))
        .await
        .unwrap()
        .into_inner();
    assert!(!closed.voided, "nobody voted in it: it goes on");
    assert_status(
        clerk.close_voting(session_ref("s-open")).await,
        Code::FailedPrecondition,
        "voting has not opened",
    );
    let events = read_session_events(&server, "s-open").await;
    assert!(
        events.iter().any(|(t, data)| t == "VotingVoided.v1"
            && data["reason"] == "ballots_do_not_match_participation"
            && data["participants"] == 3),
        "{events:?}"
    );
    drop(clerk);
    server.shutdown.trigger();
    let TestServer { task, .. } = server;
    task.await.unwrap().unwrap();
}

/// A term ended while a session naming the appointee is being scheduled: either the session is
/// written first (and the term's end after it), or the schedule sees the end and is refused —
/// never a session written after the end of a term it was checked against.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_term_ended_while_a_session_is_scheduled_never_leaves_a_session_after_the_end() {
    use oversight::domain::appointee::{Appointee, AppointeeCommand, TermEndKind};
    use oversight::domain::ids::{AppointeeId, appointee_stream};

    let (server, _views) = setup().await;
    let handler = Handler::new(server.store());
    let ctx = Context {
        now: Utc::now(),
        actor: "admin".into(),
        role: oversight::domain::Role::Admin,
    };
    let (mut scheduled, mut refused) = (0, 0);
    for round in 0..40usize {
        let subject = format!("race-{round}");
        common::setup::appointee(&server.store(), COMMITTEE, &subject).await;
        let stream = StreamName::new(appointee_stream(
            &AppointeeId::parse(subject.as_str()).unwrap(),
        ))
        .unwrap();
        let mut clerk = client(&server, "ovs_clerk").await;
        let session = format!("race-s-{round}");
        let mut request = schedule(&session);
        request.subjects = vec![subject.clone()];
        let schedule = tokio::spawn(async move { clerk.schedule_session(request).await });
        // Let the schedule get under way by a varying amount before the term ends.
        let pause = std::time::Duration::from_micros(150 * round as u64);
        tokio::task::spawn_blocking(move || std::thread::sleep(pause))
            .await
            .unwrap();
        let ended = handler
            .execute::<Appointee>(
                &stream,
                &AppointeeCommand::EndTerm {
                    kind: TermEndKind::Resignation,
                    on: NaiveDate::from_ymd_opt(2026, 1, 31).unwrap(),
                    reason: "辞职".into(),
                },
                &ctx,
                &Metadata::default(),
            )
            .await
            .unwrap()
            .position;
        match schedule.await.unwrap() {
            Ok(reply) => {
                let written = reply.into_inner().position;
                assert!(
                    written < ended,
                    "round {round}: session written at {written}, after the term ended at {ended}"
                );
                scheduled += 1;
            }
            Err(status) => {
                assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
                assert!(
                    status.message().contains("term ended on 2026-01-31"),
                    "{status:?}"
                );
                refused += 1;
            }
        }
    }
    println!("scheduled {scheduled}, refused {refused}");
}

#[tokio::test]
async fn a_rating_option_names_its_grade_class_in_a_field_every_client_language_can_use() {
    let (server, _views) = setup().await;
    let mut clerk = client(&server, "ovs_clerk").await;
    let mut chair = client(&server, "ovs_chair").await;
    let mut policy = default_policy(&mut clerk).await;
    // Served in both fields: `class` for old clients, `grade_class` for the rest.
    for option in &policy.scale {
        assert_ne!(
            option.grade_class,
            proto::GradeClass::Unspecified as i32,
            "{option:?}"
        );
        assert_eq!(option.grade_class, option.class, "{option:?}");
    }
    // A client that cannot write `class` sets `grade_class` alone.
    for option in &mut policy.scale {
        option.class = proto::GradeClass::Unspecified as i32;
    }
    let adopted = chair
        .adopt_scoring_policy(proto::AdoptScoringPolicyRequest {
            committee_id: COMMITTEE.into(),
            policy: Some(policy.clone()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let current = clerk
        .get_scoring_policy(proto::GetScoringPolicyRequest {
            committee_id: COMMITTEE.into(),
            min_position: adopted.position,
        })
        .await
        .unwrap()
        .into_inner()
        .policy
        .unwrap();
    assert_eq!(
        current.scale[0].grade_class,
        proto::GradeClass::Satisfied as i32
    );
    assert_eq!(current.scale[0].class, proto::GradeClass::Satisfied as i32);
    // The two fields may not say different things.
    policy.scale[0].class = proto::GradeClass::Neither as i32;
    assert_status(
        chair
            .adopt_scoring_policy(proto::AdoptScoringPolicyRequest {
                committee_id: COMMITTEE.into(),
                policy: Some(policy),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "scale[0].grade_class",
    );
}
