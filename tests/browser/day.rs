//! The evaluation day's fixtures for the browser tests: committee xf with members m1–m5 and
//! appointees a1, a2 (written through the handler), tokens and sign-in links for people, and
//! the clerk over gRPC where a step is not what the test is about.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use chrono::{NaiveDate, Utc};
use oversight::auth::Role;
use oversight::auth::tokens::{self, IssueRequest};
use oversight::domain::Context;
use oversight::domain::committee::{Committee, CommitteeCommand, CommitteeLevel};
use oversight::domain::ids::{CommitteeId, MemberId, committee_stream};
use oversight::handler::Handler;
use oversight::log::{Metadata, StreamName};
use oversight::proto::{self, evaluation_client::EvaluationClient};
use oversight::web::issue_sign_in_link;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::common::{Bearer, TestServer};

/// The committee.
pub const COMMITTEE: &str = "xf";
/// Its members.
pub const MEMBERS: [&str; 5] = ["m1", "m2", "m3", "m4", "m5"];
/// The subjects rated.
pub const SUBJECTS: [&str; 2] = ["a1", "a2"];

/// An Evaluation client with a bearer token.
pub type Evaluation = EvaluationClient<InterceptedService<Channel, Bearer>>;

/// Committee xf, its members and the subjects.
pub async fn seed(server: &TestServer) {
    let handler = Handler::new(server.store());
    let ctx = Context {
        now: Utc::now(),
        actor: "setup".into(),
        role: oversight::domain::Role::Admin,
    };
    let id = CommitteeId::parse(COMMITTEE).unwrap();
    let stream = StreamName::new(committee_stream(&id)).unwrap();
    let mut commands = vec![CommitteeCommand::Create {
        id,
        name: "香坊区人大常委会".into(),
        level: CommitteeLevel::District,
        parent: None,
    }];
    for member in MEMBERS {
        commands.push(CommitteeCommand::AddMember {
            member: MemberId::parse(member).unwrap(),
            name: format!("委员{member}"),
            from: NaiveDate::from_ymd_opt(2023, 1, 1).unwrap(),
            to: None,
        });
    }
    for command in commands {
        handler
            .execute::<Committee>(&stream, &command, &ctx, &Metadata::default())
            .await
            .unwrap();
    }
    for subject in SUBJECTS {
        crate::common::setup::appointee(&server.store(), COMMITTEE, subject).await;
    }
}

/// A token of `subject` in `role` of xf: its secret, and a sign-in link (path only: the
/// server's port changes on restart).
pub fn person(server: &TestServer, subject: &str, role: Role) -> (String, String) {
    let data = server.dir.path().join("data");
    let request = IssueRequest {
        subject: subject.to_string(),
        role,
        committee: Some(COMMITTEE.to_string()),
        deputy_group: None,
        expires_at: None,
    };
    let (secret, info) = tokens::issue(&data, request, Utc::now()).unwrap();
    let base = format!("http://{}", server.web_addr);
    let link = issue_sign_in_link(
        &data,
        &info.id,
        &base,
        chrono::Duration::hours(24),
        Utc::now(),
    )
    .unwrap();
    (secret, link.url.strip_prefix(&base).unwrap().to_string())
}

/// The Evaluation service as the holder of `secret`.
pub async fn evaluation(server: &TestServer, secret: &str) -> Evaluation {
    EvaluationClient::with_interceptor(server.channel().await, Bearer(Some(secret.to_string())))
}

/// Schedules session `id` for today with both subjects.
pub async fn schedule(clerk: &mut Evaluation, id: &str) {
    clerk
        .schedule_session(proto::ScheduleSessionRequest {
            committee_id: COMMITTEE.into(),
            session_id: id.into(),
            meeting_name: "第十六届常委会第八次会议".into(),
            date: Utc::now().date_naive().to_string(),
            subjects: SUBJECTS.iter().map(|s| s.to_string()).collect(),
            constituency: proto::Constituency::CommitteeMembers as i32,
            ..Default::default()
        })
        .await
        .unwrap();
}

/// Records `present` at the roll call and opens voting.
pub async fn roll_call_and_open(clerk: &mut Evaluation, id: &str, present: &[&str]) {
    clerk
        .record_roll_call(proto::RecordRollCallRequest {
            session_id: id.into(),
            present: present.iter().map(|m| m.to_string()).collect(),
            ..Default::default()
        })
        .await
        .unwrap();
    clerk
        .open_voting(proto::SessionRef {
            command_id: String::new(),
            session_id: id.into(),
        })
        .await
        .unwrap();
}
