//! The sealed ballot box and the published set as an attacker who reads the data directory sees
//! them: every file's raw bytes scanned after each ballot, at close and after a stop, for any
//! receipt (never stored anywhere: only its commitment is published) or ballot plaintext; and a server killed with SIGKILL (or stopped) during an open round, whose round is
//! then voided — never published with part of its ballots — and voted again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, TimeZone, Utc};
use common::process::{connect, free_port, start};
use common::{Bearer, TestServer, TokenSpec};
use oversight::domain::committee::{Committee, CommitteeCommand};
use oversight::domain::ids::{CommitteeId, MemberId, committee_stream};
use oversight::domain::{Context, Role};
use oversight::handler::Handler;
use oversight::log::{Metadata, StreamName};
use oversight::proto::evaluation_client::EvaluationClient;
use oversight::proto::{self, ReadStreamRequest};
use tonic::transport::Channel;

const COMMITTEE: &str = "xiangfang";
const SUBJECTS: [&str; 3] = ["subject-a1", "subject-a2", "subject-a3"];
const CODES: [&str; 3] = ["satisfied", "basically_satisfied", "dissatisfied"];
const MEMBERS: [&str; 8] = [
    "cm-01", "cm-02", "cm-03", "cm-04", "cm-05", "cm-06", "cm-07", "cm-08",
];

fn tokens() -> Vec<TokenSpec> {
    let mut tokens = vec![TokenSpec {
        token: "ovs_clerk",
        subject: "clerk-1",
        role: "clerk",
        committee: Some(COMMITTEE),
        deputy_group: None,
    }];
    for member in MEMBERS {
        tokens.push(TokenSpec {
            token: member,
            subject: member,
            role: "committee_member",
            committee: Some(COMMITTEE),
            deputy_group: None,
        });
    }
    tokens
}

/// A server of the committee, its members and the subjects.
async fn server() -> TestServer {
    let tokens = tokens();
    let server = TestServer::start_with(move |settings| {
        common::write_token_specs(&settings.data_dir, &tokens);
    })
    .await;
    let store = server.store();
    common::setup::committee(&store, COMMITTEE).await;
    let id = CommitteeId::parse(COMMITTEE).unwrap();
    let stream = StreamName::new(committee_stream(&id)).unwrap();
    let ctx = Context {
        now: Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap(),
        actor: "setup".into(),
        role: Role::Admin,
    };
    for member in MEMBERS {
        Handler::new(store.clone())
            .execute::<Committee>(
                &stream,
                &CommitteeCommand::AddMember {
                    member: MemberId::parse(member).unwrap(),
                    name: format!("委员 {member}"),
                    from: NaiveDate::from_ymd_opt(2023, 1, 1).unwrap(),
                    to: None,
                },
                &ctx,
                &Metadata::default(),
            )
            .await
            .unwrap();
    }
    for subject in SUBJECTS {
        common::setup::appointee(&store, COMMITTEE, subject).await;
    }
    server
}

type Client = EvaluationClient<tonic::service::interceptor::InterceptedService<Channel, Bearer>>;

fn client(channel: Channel, token: &str) -> Client {
    EvaluationClient::with_interceptor(channel, Bearer(Some(token.into())))
}

fn session_ref(session: &str) -> proto::SessionRef {
    proto::SessionRef {
        command_id: String::new(),
        session_id: session.into(),
    }
}

/// Schedules `session`, calls every member present and opens voting.
async fn open_round(clerk: &mut Client, session: &str) {
    clerk
        .schedule_session(proto::ScheduleSessionRequest {
            committee_id: COMMITTEE.into(),
            session_id: session.into(),
            meeting_name: "第十六届常委会第八次会议".into(),
            date: "2026-11-27".into(),
            subjects: SUBJECTS.iter().map(|s| s.to_string()).collect(),
            constituency: proto::Constituency::CommitteeMembers as i32,
            ..Default::default()
        })
        .await
        .unwrap();
    clerk
        .record_roll_call(proto::RecordRollCallRequest {
            command_id: String::new(),
            session_id: session.into(),
            present: MEMBERS.iter().map(|m| m.to_string()).collect(),
        })
        .await
        .unwrap();
    clerk.open_voting(session_ref(session)).await.unwrap();
}

/// Member `i`'s ballot: a different pattern for every member.
fn ballot(session: &str, i: usize) -> proto::CastBallotRequest {
    proto::CastBallotRequest {
        command_id: String::new(),
        session_id: session.into(),
        choices: SUBJECTS
            .iter()
            .enumerate()
            .map(|(s, subject)| (subject.to_string(), CODES[(i + s) % 3].to_string()))
            .collect::<HashMap<_, _>>(),
    }
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Scans every file of the data directory, free pages included: no receipt anywhere, ever, and
/// nothing of a ballot ever in the ballot box.
fn scan(data_dir: &Path, receipts: &[String], moment: &str) {
    let all = files(data_dir);
    assert!(
        all.iter().any(|p| p.ends_with("ballots.redb")),
        "{moment}: {all:?}"
    );
    for path in all {
        let bytes = std::fs::read(&path).unwrap();
        let name = path.display();
        if path.ends_with("ballots.redb") {
            for needle in SUBJECTS.iter().chain(&CODES).chain(&["option", "choices"]) {
                assert!(
                    !contains(&bytes, needle),
                    "{moment}: {name} holds {needle:?}"
                );
            }
            for receipt in receipts {
                assert!(
                    !contains(&bytes, receipt),
                    "{moment}: {name} holds a receipt"
                );
            }
        } else {
            for receipt in receipts {
                assert!(
                    !contains(&bytes, receipt),
                    "{moment}: {name} holds a receipt"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_file_of_the_data_directory_holds_a_ballot_after_each_ballot_at_close_and_after_a_stop()
{
    let server = server().await;
    let data_dir = server.dir.path().join("data");
    let channel = server.channel().await;
    let mut clerk = client(channel.clone(), "ovs_clerk");
    open_round(&mut clerk, "s-scan").await;
    let mut receipts = Vec::new();
    for (i, member) in MEMBERS.iter().enumerate() {
        let cast = client(channel.clone(), member)
            .cast_ballot(ballot("s-scan", i))
            .await
            .unwrap()
            .into_inner();
        receipts.push(cast.ballot_id);
        scan(&data_dir, &receipts, &format!("after ballot {i}"));
    }
    let closed = clerk
        .close_voting(session_ref("s-scan"))
        .await
        .unwrap()
        .into_inner();
    assert!(!closed.voided);
    assert_eq!(closed.ballots, MEMBERS.len() as u64);
    scan(&data_dir, &receipts, "at close");

    // A round open when the server stops: scanned after the stop, then voided by the next start.
    open_round(&mut clerk, "s-stopped").await;
    let mut open_receipts = Vec::new();
    for (i, member) in MEMBERS.iter().enumerate().take(3) {
        let cast = client(channel.clone(), member)
            .cast_ballot(ballot("s-stopped", i))
            .await
            .unwrap()
            .into_inner();
        open_receipts.push(cast.ballot_id);
    }
    drop((clerk, channel));
    server.shutdown.trigger();
    let TestServer { dir, task, .. } = server;
    task.await.unwrap().unwrap();
    scan(&data_dir, &receipts, "after a stop");
    scan(&data_dir, &open_receipts, "after a stop, the open round");

    let server = TestServer::start_in(dir, |_| {}, None).await;
    let channel = server.channel().await;
    assert_voided_and_voted_again(channel, "s-stopped").await;
    scan(&data_dir, &open_receipts, "after the round was voided");
}

/// The round was voided for its lost ballots, publishes nothing, and is voted again.
async fn assert_voided_and_voted_again(channel: Channel, session: &str) {
    let mut log = oversight::proto::event_log_client::EventLogClient::with_interceptor(
        channel.clone(),
        Bearer(Some("ovs_admin".into())),
    );
    let mut chunks = log
        .read_stream(ReadStreamRequest {
            stream: format!("session-{session}"),
            from_revision: Some(0),
            direction: 0,
            max_count: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let mut events = Vec::new();
    while let Some(chunk) = chunks.message().await.unwrap() {
        events.extend(chunk.events);
    }
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert!(
        !types.iter().any(|t| t.starts_with("BallotsPublished")),
        "{types:?}"
    );
    let voided = events
        .iter()
        .find(|e| e.event_type == "VotingVoided.v1")
        .unwrap_or_else(|| panic!("the round was not voided: {types:?}"));
    let data: serde_json::Value = serde_json::from_slice(&voided.data).unwrap();
    assert_eq!(data["reason"], "ballots_do_not_match_participation");
    assert_eq!(data["round"], 1);
    assert_eq!(data["participants"], 3);

    let mut clerk = client(channel.clone(), "ovs_clerk");
    let refused = clerk.close_voting(session_ref(session)).await.unwrap_err();
    assert_eq!(
        refused.code(),
        tonic::Code::FailedPrecondition,
        "{refused:?}"
    );
    clerk.open_voting(session_ref(session)).await.unwrap();
    for (i, member) in MEMBERS.iter().enumerate() {
        let cast = client(channel.clone(), member)
            .cast_ballot(ballot(session, i))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(cast.round, 2);
    }
    let closed = clerk
        .close_voting(session_ref(session))
        .await
        .unwrap()
        .into_inner();
    assert!(!closed.voided, "{closed:?}");
    assert_eq!((closed.round, closed.ballots), (2, MEMBERS.len() as u64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_during_an_open_round_voids_it_at_start_and_it_is_voted_again() {
    // The committee and an open round, set up in-process and stopped before any ballot.
    let server = server().await;
    let mut clerk = client(server.channel().await, "ovs_clerk");
    open_round(&mut clerk, "s-killed").await;
    drop(clerk);
    server.shutdown.trigger();
    let TestServer { dir, task, .. } = server;
    task.await.unwrap().unwrap();
    let data_dir = dir.path().join("data");

    // The binary takes three ballots and is killed.
    let port = free_port();
    let mut child = start(&data_dir, port);
    let (channel, _) = connect(&data_dir, port).await;
    for (i, member) in MEMBERS.iter().enumerate().take(3) {
        client(channel.clone(), member)
            .cast_ballot(ballot("s-killed", i))
            .await
            .unwrap();
    }
    child.kill().unwrap();
    child.wait().unwrap();
    drop(channel);

    let port = free_port();
    let mut child = start(&data_dir, port);
    let (channel, _) = connect(&data_dir, port).await;
    assert_voided_and_voted_again(channel, "s-killed").await;
    child.kill().unwrap();
    child.wait().unwrap();
}
