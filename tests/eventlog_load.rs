//! The event log under concurrent load, against the real server booted on 127.0.0.1:0 in a
//! temp dir: gapless positions and contiguous revisions with many writers, a subscription that
//! sees every event exactly once while they write, a slow subscriber that is cut off with the
//! position to resume from, and `oversight health` run as the real binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::process::Output;
use std::time::Duration;

use common::{Bearer, TestServer};
use oversight::proto::event_log_client::EventLogClient;
use oversight::proto::{
    self, AppendRequest, ExpectedRevision, ProposedEvent, ReadAllRequest, SubscribeRequest,
    expected_revision::Kind, subscribe_request::Start, subscribe_response::Message,
};
use tokio::sync::Barrier;
use tokio::task::JoinSet;
use tonic::Code;
use tonic::transport::Endpoint;

const WRITERS: usize = 8;
const APPENDS_PER_WRITER: u64 = 500;
const TOTAL: u64 = WRITERS as u64 * APPENDS_PER_WRITER;
/// A guard against a hang, never a synchronisation: every test finishes far sooner.
const GUARD: Duration = Duration::from_secs(300);

fn event(writer: usize, n: u64) -> ProposedEvent {
    ProposedEvent {
        event_id: String::new(),
        event_type: "Load.Appended.v1".into(),
        data: format!(
            r#"{{"writer":{writer},"n":{n},"pad":"{}"}}"#,
            "x".repeat(200)
        )
        .into_bytes(),
        content_type: proto::ContentType::Json as i32,
        metadata: None,
    }
}

fn append(stream: &str, kind: Kind, events: Vec<ProposedEvent>) -> AppendRequest {
    AppendRequest {
        stream: stream.into(),
        expected_revision: Some(ExpectedRevision { kind: Some(kind) }),
        events,
    }
}

/// Starts `WRITERS` writers, each on its own connection appending `APPENDS_PER_WRITER` single
/// events to its own stream with an exact expected revision; every writer waits at `start`
/// before its first append. Each task returns the positions it was given.
async fn spawn_writers(server: &TestServer, start: &std::sync::Arc<Barrier>) -> JoinSet<Vec<u64>> {
    let mut writers = JoinSet::new();
    for w in 0..WRITERS {
        let mut client = server.client().await;
        let start = std::sync::Arc::clone(start);
        writers.spawn(async move {
            start.wait().await;
            let stream = format!("load-{w}");
            let mut positions = Vec::new();
            for n in 0..APPENDS_PER_WRITER {
                let kind = match n {
                    0 => Kind::NoStream(()),
                    _ => Kind::Exact(n - 1),
                };
                let reply = client
                    .append(append(&stream, kind, vec![event(w, n)]))
                    .await
                    .unwrap()
                    .into_inner()
                    .result
                    .unwrap();
                assert_eq!(reply.first_revision, n, "{stream}");
                assert_eq!(reply.first_position, reply.last_position);
                positions.push(reply.last_position);
            }
            positions
        });
    }
    writers
}

async fn read_everything(server: &TestServer) -> Vec<proto::RecordedEvent> {
    let mut client = server.client().await;
    let mut stream = client
        .read_all(ReadAllRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut events = Vec::new();
    while let Some(chunk) = stream.message().await.unwrap() {
        events.extend(chunk.events);
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_get_gapless_positions_and_contiguous_revisions() {
    let server = TestServer::start_with(common::without_read_audit).await;
    let start = std::sync::Arc::new(Barrier::new(WRITERS));
    let writers = spawn_writers(&server, &start).await;
    let mut acknowledged: Vec<u64> = tokio::time::timeout(GUARD, writers.join_all())
        .await
        .unwrap()
        .into_iter()
        .flatten()
        .collect();
    acknowledged.sort_unstable();
    assert_eq!(acknowledged, (1..=TOTAL).collect::<Vec<_>>());

    let events = read_everything(&server).await;
    let positions: Vec<u64> = events.iter().map(|e| e.position).collect();
    assert_eq!(positions, (1..=TOTAL).collect::<Vec<_>>());
    let mut revisions: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for event in &events {
        revisions
            .entry(event.stream.as_str())
            .or_default()
            .push(event.revision);
    }
    assert_eq!(revisions.len(), WRITERS);
    for (stream, revisions) in revisions {
        assert_eq!(
            revisions,
            (0..APPENDS_PER_WRITER).collect::<Vec<_>>(),
            "{stream}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_started_while_writers_run_sees_every_event_once_in_order() {
    let server = TestServer::start_with(common::without_read_audit).await;
    // The writers and the subscriber start together: the subscription begins while they write.
    let start = std::sync::Arc::new(Barrier::new(WRITERS + 1));
    let writers = spawn_writers(&server, &start).await;
    let mut client = server.client().await;
    start.wait().await;
    let mut subscription = client
        .subscribe(SubscribeRequest {
            start: Some(Start::FromPosition(1)),
            filter: None,
        })
        .await
        .unwrap()
        .into_inner();

    let received = async {
        let mut positions = Vec::new();
        let mut caught_up = Vec::new();
        // One event past the writers' (appended once they are done) proves that nothing
        // arrives twice after the last of theirs.
        while positions.len() < TOTAL as usize + 1 || caught_up.is_empty() {
            match subscription
                .message()
                .await
                .unwrap()
                .unwrap()
                .message
                .unwrap()
            {
                Message::Events(chunk) => positions.extend(chunk.events.iter().map(|e| e.position)),
                Message::CaughtUp(marker) => {
                    caught_up.push((positions.len(), marker.head_position))
                }
            }
        }
        (positions, caught_up)
    };
    let appended_after = async {
        writers.join_all().await;
        let mut client = server.client().await;
        client
            .append(append("load-after", Kind::NoStream(()), vec![event(99, 0)]))
            .await
            .unwrap()
            .into_inner()
            .result
            .unwrap()
            .last_position
    };
    let ((positions, caught_up), last) =
        tokio::time::timeout(GUARD, async { tokio::join!(received, appended_after) })
            .await
            .unwrap();

    assert_eq!(last, TOTAL + 1);
    assert_eq!(positions, (1..=TOTAL + 1).collect::<Vec<_>>());
    assert_eq!(caught_up.len(), 1, "{caught_up:?}");
    let (delivered_before, head) = caught_up[0];
    // The marker names exactly the events delivered before it.
    assert_eq!(head, delivered_before as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_stops_reading_is_cut_off_with_a_resume_position() {
    let server = TestServer::start_with(|settings| {
        common::without_read_audit(settings);
        settings.limits.live_buffer = 4;
    })
    .await;
    // Small HTTP/2 windows, so the server can push only a little ahead of a client that does
    // not read; everything else waits in the server's bounded buffers.
    let channel = Endpoint::from_shared(server.url())
        .unwrap()
        .initial_stream_window_size(65_535)
        .initial_connection_window_size(65_535)
        .connect()
        .await
        .unwrap();
    let mut slow = EventLogClient::with_interceptor(channel, Bearer(Some(server.token.clone())));
    let mut subscription = slow
        .subscribe(SubscribeRequest {
            start: Some(Start::FromNow(())),
            filter: None,
        })
        .await
        .unwrap()
        .into_inner();
    // Reading the marker proves the subscription is live before anything is appended.
    match subscription
        .message()
        .await
        .unwrap()
        .unwrap()
        .message
        .unwrap()
    {
        Message::CaughtUp(marker) => assert_eq!(marker.head_position, 0),
        other => panic!("expected the caught-up marker, got {other:?}"),
    }

    // 300 commits of 100 events (~9 MB): far more than the windows, the subscription's buffers
    // and the 4 batches of the live feed hold together. Writers never wait for the subscriber.
    let mut writer = server.client().await;
    let batches = 300u64;
    for b in 0..batches {
        let events = (0..100).map(|n| event(0, b * 100 + n)).collect();
        tokio::time::timeout(GUARD, writer.append(append("flood", Kind::Any(()), events)))
            .await
            .unwrap()
            .unwrap();
    }

    let mut positions = Vec::new();
    let status = tokio::time::timeout(GUARD, async {
        loop {
            match subscription.message().await {
                Ok(Some(message)) => match message.message.unwrap() {
                    Message::Events(chunk) => {
                        positions.extend(chunk.events.iter().map(|e| e.position));
                    }
                    Message::CaughtUp(marker) => panic!("a second marker: {marker:?}"),
                },
                Ok(None) => panic!("the stream ended without an error"),
                Err(status) => break status,
            }
        }
    })
    .await
    .unwrap();

    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let received = positions.len() as u64;
    assert!(received < batches * 100, "it was not cut off");
    assert_eq!(positions, (1..=received).collect::<Vec<_>>());
    let resume = format!("subscribe again from position {}", received + 1);
    assert!(status.message().contains(&resume), "{}", status.message());
}

async fn oversight_health(args: &[&str]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_oversight"));
    command
        .arg("health")
        .args(args)
        .env_remove("OVERSIGHT_SERVER");
    // The server runs on this test's runtime, so wait for the child off the runtime thread.
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn health_command_exits_zero_only_when_serving() {
    let server = TestServer::start_with(common::without_read_audit).await;
    let url = server.url();

    for service in ["", "oversight.v1.EventLog"] {
        let output = oversight_health(&["--server", &url, "--service", service]).await;
        assert!(output.status.success(), "{output:?}");
        assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "SERVING");
    }

    let unknown = oversight_health(&["--server", &url, "--service", "no.such.Service"]).await;
    assert!(!unknown.status.success(), "{unknown:?}");
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("NotFound"),
        "{unknown:?}"
    );

    server.shutdown.trigger();
    server.task.await.unwrap().unwrap();
    let stopped = oversight_health(&["--server", &url, "--timeout", "2"]).await;
    assert!(!stopped.status.success(), "{stopped:?}");
    assert!(
        String::from_utf8_lossy(&stopped.stderr).contains("cannot connect"),
        "{stopped:?}"
    );
}
