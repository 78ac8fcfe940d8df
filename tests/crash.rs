//! Crash safety: the real binary is killed with SIGKILL in the middle of concurrent appends and
//! restarted, several times over the same data directory. Every append that was acknowledged
//! must be present at the position it was acknowledged with, positions stay gapless and the hash
//! chain verifies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::process::{authed, connect, free_port, start};

use oversight::proto::event_log_client::EventLogClient;
use oversight::proto::{AppendRequest, ContentType, ProposedEvent, ReadAllRequest, VerifyRequest};
use rand::Rng;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

const CYCLES: usize = 5;
const WRITERS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_appends_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let port = free_port();
    // event id -> acknowledged position
    let acknowledged: Arc<Mutex<HashMap<String, u64>>> = Arc::default();

    for cycle in 0..CYCLES {
        let mut child = start(&data_dir, port);
        let (channel, bearer) = connect(&data_dir, port).await;
        let client = EventLogClient::new(channel);
        let so_far = acknowledged.lock().unwrap().clone();
        check(&client, &bearer, &so_far).await;

        let mut writers = Vec::new();
        for w in 0..WRITERS {
            let mut client = client.clone();
            let bearer = bearer.clone();
            let acknowledged = Arc::clone(&acknowledged);
            writers.push(tokio::spawn(async move {
                for seq in 0u64.. {
                    let event_id = uuid::Uuid::new_v4().to_string();
                    let request = AppendRequest {
                        stream: format!("crash-{cycle}-{w}"),
                        expected_revision: None,
                        events: vec![ProposedEvent {
                            event_id: event_id.clone(),
                            event_type: "CrashProbeRecorded.v1".into(),
                            data: format!(r#"{{"cycle":{cycle},"writer":{w},"seq":{seq}}}"#)
                                .into_bytes(),
                            content_type: ContentType::Json as i32,
                            metadata: None,
                        }],
                    };
                    match client.append(authed(request, &bearer)).await {
                        Ok(reply) => {
                            let position = reply.into_inner().result.unwrap().last_position;
                            acknowledged.lock().unwrap().insert(event_id, position);
                        }
                        Err(_) => return,
                    }
                }
            }));
        }
        let pause = rand::rng().random_range(50..400);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        child.kill().unwrap();
        child.wait().unwrap();
        for writer in writers {
            writer.await.unwrap();
        }
    }

    let mut child = start(&data_dir, port);
    let (channel, bearer) = connect(&data_dir, port).await;
    let client = EventLogClient::new(channel);
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() > CYCLES,
        "the load produced too few appends to test anything"
    );
    check(&client, &bearer, &acknowledged).await;
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Every acknowledged event is at its position; positions are 1..=head; the chain verifies.
async fn check(
    client: &EventLogClient<Channel>,
    bearer: &MetadataValue<tonic::metadata::Ascii>,
    acknowledged: &HashMap<String, u64>,
) {
    let mut client = client.clone();
    let mut stream = client
        .read_all(authed(ReadAllRequest::default(), bearer))
        .await
        .unwrap()
        .into_inner();
    let mut found = HashMap::new();
    let mut expected_position = 1;
    while let Some(chunk) = stream.message().await.unwrap() {
        for event in chunk.events {
            assert_eq!(
                event.position, expected_position,
                "positions must be gapless"
            );
            expected_position += 1;
            found.insert(event.event_id, event.position);
        }
    }
    for (id, position) in acknowledged {
        assert_eq!(
            found.get(id),
            Some(position),
            "acknowledged event {id} lost or moved"
        );
    }
    let report = client
        .verify(authed(VerifyRequest::default(), bearer))
        .await
        .unwrap()
        .into_inner();
    assert!(
        report.ok,
        "chain broken at {}: {}",
        report.first_bad_position, report.problem
    );
    assert_eq!(report.checked, expected_position - 1);
}
