//! Helpers of the tests that fill the disk or fail its writes.

use std::time::{Duration, Instant};

use oversight::proto::{AppendRequest, ContentType, ProposedEvent, VerifyRequest};
use tonic::Code;

use super::Client;

/// An append of one event to `stream` whose payload carries `bytes` of filler.
pub fn probe(stream: &str, bytes: usize) -> AppendRequest {
    AppendRequest {
        stream: stream.into(),
        expected_revision: None,
        events: vec![ProposedEvent {
            event_id: uuid::Uuid::new_v4().to_string(),
            event_type: "FaultProbeRecorded.v1".into(),
            data: format!(r#"{{"filler":"{}"}}"#, "x".repeat(bytes)).into_bytes(),
            content_type: ContentType::Json as i32,
            metadata: None,
        }],
    }
}

/// Appends `request` after a fault cleared, as a client would: a log closed by the fault is
/// reopened by an append, and appends soon after a failed reopen are refused without a new try
/// (a back-off of at most 3.2 s), so the same request (same event id) is retried while it is
/// refused as RESOURCE_EXHAUSTED or UNAVAILABLE, for at most 10 s. Returns (event id,
/// position).
pub async fn append_after_fault(client: &mut Client, request: &AppendRequest) -> (String, u64) {
    let started = Instant::now();
    loop {
        match client.append(request.clone()).await {
            Ok(reply) => {
                let position = reply.into_inner().result.unwrap().last_position;
                return (request.events[0].event_id.clone(), position);
            }
            Err(status)
                if matches!(status.code(), Code::ResourceExhausted | Code::Unavailable)
                    && started.elapsed() < Duration::from_secs(10) =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => panic!("writes did not resume: {status:?}"),
        }
    }
}

/// Verifies the whole chain: it must be intact; returns how many records it checked.
pub async fn verify(client: &mut Client) -> u64 {
    let report = client
        .verify(VerifyRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(report.ok, "{report:?}");
    report.checked
}
