//! Raw reads of the log by a principal whose token names a committee: ReadStream, ReadAll,
//! Subscribe and Verify return only that committee's events (by the committee in their
//! metadata), never another committee's nor those that name none, and every answer says it is
//! filtered (`filtered_to_committee`). An auditor whose token names no committee reads all.

use oversight::proto::event_log_client::EventLogClient;
use oversight::proto::subscribe_request::Start;
use oversight::proto::subscribe_response::Message;
use oversight::proto::{
    self, AppendRequest, EventMetadata, ProposedEvent, ReadAllRequest, ReadStreamRequest,
    SubscribeRequest, VerifyRequest,
};

use crate::common::{Bearer, Client, TestServer, TokenSpec};

fn create(id: &str) -> proto::CreateCommitteeRequest {
    proto::CreateCommitteeRequest {
        committee_id: id.into(),
        name: format!("committee {id}"),
        level: proto::CommitteeLevel::District as i32,
        parent_committee_id: String::new(),
        correlation_id: String::new(),
        command_id: String::new(),
    }
}

/// A raw note in `stream` whose metadata names `committee` (none when empty).
fn note(stream: &str, committee: &str) -> AppendRequest {
    AppendRequest {
        stream: stream.into(),
        events: vec![ProposedEvent {
            event_type: "Note.v1".into(),
            data: br#"{"text":"a note"}"#.to_vec(),
            metadata: Some(EventMetadata {
                committee: committee.into(),
                ..Default::default()
            }),
            ..Default::default()
        }],
        ..Default::default()
    }
}

async fn client(server: &TestServer, token: &str) -> Client {
    EventLogClient::with_interceptor(server.channel().await, Bearer(Some(token.into())))
}

/// Every message of a read, in order.
async fn read_all(client: &mut Client) -> Vec<proto::ReadResponse> {
    let mut stream = client
        .read_all(ReadAllRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut messages = Vec::new();
    while let Some(message) = stream.message().await.unwrap() {
        messages.push(message);
    }
    messages
}

async fn read_stream(client: &mut Client, stream: &str) -> Vec<proto::ReadResponse> {
    let mut read = client
        .read_stream(ReadStreamRequest {
            stream: stream.into(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("{stream}: {e:?}"))
        .into_inner();
    let mut messages = Vec::new();
    while let Some(message) = read.message().await.unwrap() {
        messages.push(message);
    }
    messages
}

fn committees(messages: &[proto::ReadResponse]) -> Vec<String> {
    messages
        .iter()
        .flat_map(|m| &m.events)
        .map(|e| e.metadata.clone().unwrap_or_default().committee)
        .collect()
}

/// Asserts that `messages` open with an empty message naming `committee` and all name it.
fn assert_filtered(messages: &[proto::ReadResponse], committee: &str) {
    let first = messages.first().expect("a scoped read says it is filtered");
    assert!(first.events.is_empty(), "{first:?}");
    for message in messages {
        assert_eq!(message.filtered_to_committee, committee, "{message:?}");
    }
}

#[tokio::test]
async fn a_scoped_auditor_reads_only_its_committees_events_and_is_told_so() {
    let server = TestServer::start_with_tokens(&[
        TokenSpec::new("ovs_audit_a", "auditor", Some("a")),
        TokenSpec::new("ovs_audit", "auditor", None),
    ])
    .await;
    let mut registry = server.registry("ovs_admin").await;
    registry.create_committee(create("a")).await.unwrap();
    registry.create_committee(create("b")).await.unwrap();
    let mut admin = client(&server, "ovs_admin").await;
    admin.append(note("notes-1", "b")).await.unwrap();
    admin.append(note("notes-2", "")).await.unwrap();
    admin.append(note("notes-3", "a")).await.unwrap();

    let mut scoped = client(&server, "ovs_audit_a").await;
    // ReadAll: a's committee record and note, nothing of b's, nothing without a committee.
    let all = read_all(&mut scoped).await;
    assert_filtered(&all, "a");
    let seen = committees(&all);
    assert!(seen.len() >= 2, "{seen:?}");
    assert!(seen.iter().all(|c| c == "a"), "{seen:?}");

    // ReadStream: b's streams read as empty, like a stream that does not exist; a's are read.
    for stream in ["committee-b", "notes-1", "notes-2", "no-such-stream"] {
        let read = read_stream(&mut scoped, stream).await;
        assert_filtered(&read, "a");
        assert_eq!(committees(&read), Vec::<String>::new(), "{stream}");
    }
    let own = read_stream(&mut scoped, "committee-a").await;
    assert_filtered(&own, "a");
    assert!(!committees(&own).is_empty());

    // Subscribe: history filtered, the caught-up marker names the committee, and live events
    // of another committee are passed over.
    let mut feed = scoped
        .subscribe(SubscribeRequest {
            start: Some(Start::FromPosition(1)),
            filter: None,
        })
        .await
        .unwrap()
        .into_inner();
    let mut history = Vec::new();
    loop {
        match feed.message().await.unwrap().unwrap().message.unwrap() {
            Message::Events(chunk) => {
                assert_eq!(chunk.filtered_to_committee, "a");
                history.push(chunk);
            }
            Message::CaughtUp(caught_up) => {
                assert_eq!(caught_up.filtered_to_committee, "a");
                break;
            }
        }
    }
    // (The reads above are recorded in the audit stream under a's name, so there is more.)
    let history = committees(&history);
    assert!(history.len() > seen.len(), "{history:?}");
    assert!(history.iter().all(|c| c == "a"), "{history:?}");
    admin.append(note("notes-4", "b")).await.unwrap();
    admin.append(note("notes-5", "")).await.unwrap();
    let last = admin
        .append(note("notes-6", "a"))
        .await
        .unwrap()
        .into_inner();
    let Message::Events(live) = feed.message().await.unwrap().unwrap().message.unwrap() else {
        panic!("expected events");
    };
    let streams: Vec<_> = live.events.iter().map(|e| e.stream.as_str()).collect();
    assert_eq!(streams, ["notes-6"]);
    assert_eq!(live.events[0].position, last.result.unwrap().first_position);

    // Verify: the chain is checked whole, and the report says it was asked by a scoped reader.
    let report = scoped
        .verify(VerifyRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.filtered_to_committee, "a");

    // An auditor whose token names no committee reads everything, unfiltered.
    let mut auditor = client(&server, "ovs_audit").await;
    let everything = read_all(&mut auditor).await;
    assert!(
        everything
            .iter()
            .all(|m| m.filtered_to_committee.is_empty())
    );
    let seen = committees(&everything);
    assert!(seen.iter().any(|c| c == "b"), "{seen:?}");
    assert!(seen.iter().any(String::is_empty), "{seen:?}");
    let report = auditor
        .verify(VerifyRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(report.filtered_to_committee, "");
}

#[tokio::test]
async fn an_admin_token_naming_a_committee_is_refused_rather_than_taken_as_global() {
    // Written into tokens.json by hand (or by an earlier version, which issued such tokens and
    // then let them act on every committee).
    let server =
        TestServer::start_with_tokens(&[TokenSpec::new("ovs_admin_a", "admin", Some("a"))]).await;
    let mut registry = server.registry("ovs_admin").await;
    registry.create_committee(create("a")).await.unwrap();
    registry.create_committee(create("b")).await.unwrap();
    let mut scoped = server.registry("ovs_admin_a").await;
    let refused = scoped.create_committee(create("c")).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
    assert!(
        refused
            .message()
            .contains("names committee a, but an admin acts on every committee"),
        "{refused:?}"
    );
    let mut raw = client(&server, "ovs_admin_a").await;
    let refused = raw.append(note("notes-1", "b")).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
    // And `oversight admin token issue` no longer writes one.
    let issued = std::process::Command::new(env!("CARGO_BIN_EXE_oversight"))
        .args([
            "admin",
            "token",
            "issue",
            "--subject",
            "ops",
            "--role",
            "admin",
        ])
        .args(["--committee", "a", "--data-dir"])
        .arg(server.dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!issued.status.success());
    let stderr = String::from_utf8_lossy(&issued.stderr);
    assert!(
        stderr.contains("role admin acts on every committee"),
        "{stderr}"
    );
}

/// `oversight admin token issue` for a clerk of `committee`, against the running `server`
/// (off the runtime's thread, which serves the server the command asks).
async fn issue_clerk(server: &TestServer, committee: &str, extra: &[&str]) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_oversight"));
    command
        .args([
            "admin",
            "token",
            "issue",
            "--subject",
            "wang",
            "--role",
            "clerk",
        ])
        .args(["--committee", committee, "--server", &server.url()])
        .args(extra)
        .arg("--data-dir")
        .arg(server.dir.path().join("data"))
        .env_remove("OVERSIGHT_SERVER");
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_token_for_a_committee_that_does_not_exist_is_refused_unless_forced() {
    let server = TestServer::start_with_tokens(&[]).await;
    let mut registry = server.registry("ovs_admin").await;
    registry.create_committee(create("a")).await.unwrap();
    let refused = issue_clerk(&server, "nope", &[]).await;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(
        stderr.contains("committee nope does not exist") && stderr.contains("--force"),
        "{stderr}"
    );
    let forced = issue_clerk(&server, "nope", &["--force"]).await;
    assert!(forced.status.success(), "{forced:?}");
    let issued = issue_clerk(&server, "a", &[]).await;
    assert!(issued.status.success(), "{issued:?}");
    assert!(
        !String::from_utf8_lossy(&issued.stderr).contains("warning"),
        "{issued:?}"
    );
}
