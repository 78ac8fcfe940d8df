//! The projection runner against the real log: read-your-writes, restart without double
//! application, and rebuild from position 0 equal to the incremental fold.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use oversight::log::{
    AppendRequest, ContentType, EventStore, EventType, ExpectedRevision, Metadata, ProposedEvent,
    RecordedEvent, RedbStore, StoreOptions, StreamName,
};
use oversight::projection::{Projection, ProjectionError, ProjectionRunner, ViewWrite};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

/// Counts events per stream and sums a number from each payload.
struct Tally;

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct StreamTally {
    events: u64,
    sum: u64,
    last_position: u64,
}

impl Projection for Tally {
    fn name(&self) -> &'static str {
        "tally"
    }

    fn apply(
        &self,
        view: &mut ViewWrite<'_>,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        if event.event_type.as_str() != "Counted.v1" {
            return Ok(());
        }
        let n: u64 = serde_json::from_slice::<serde_json::Value>(&event.data)
            .ok()
            .and_then(|v| v["n"].as_u64())
            .ok_or_else(|| ProjectionError::Decode {
                what: "Counted.v1".into(),
                detail: "missing n".into(),
            })?;
        view.update("streams", event.stream.as_str(), |t: &mut StreamTally| {
            t.events += 1;
            t.sum += n;
            t.last_position = event.position;
        })
    }
}

fn counted(n: u64) -> ProposedEvent {
    ProposedEvent {
        event_id: uuid::Uuid::new_v4(),
        event_type: EventType::new("Counted.v1").unwrap(),
        data: format!(r#"{{"n":{n}}}"#).into_bytes(),
        content_type: ContentType::Json,
        metadata: Metadata::default(),
    }
}

async fn append(store: &Arc<RedbStore>, stream: &str, n: u64) -> u64 {
    store
        .append(AppendRequest::single(
            StreamName::new(stream).unwrap(),
            ExpectedRevision::Any,
            vec![counted(n)],
        ))
        .await
        .unwrap()
        .last_position()
}

fn snapshot(views: &oversight::projection::Views) -> Vec<(String, StreamTally)> {
    views
        .read()
        .unwrap()
        .scan("tally", "streams", "", None, usize::MAX)
        .unwrap()
}

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn views_follow_the_log_survive_restart_and_rebuild_identically() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("log.redb"), StoreOptions::default()).unwrap();
    let views_path = dir.path().join("views.redb");
    let dyn_store: Arc<dyn EventStore> = store.clone();

    let cancel = CancellationToken::new();
    let (views, task) = ProjectionRunner::start(
        &views_path,
        Arc::clone(&dyn_store),
        vec![Arc::new(Tally)],
        cancel.clone(),
    )
    .unwrap();
    let mut last = 0;
    for i in 0..200u64 {
        last = append(&store, &format!("s-{}", i % 7), i).await;
    }
    // Read-your-writes: once the wait returns, the view holds the last append.
    views.wait_for("tally", last, WAIT).await.unwrap();
    let before = snapshot(&views);
    assert_eq!(before.iter().map(|(_, t)| t.events).sum::<u64>(), 200);
    assert_eq!(
        before.iter().map(|(_, t)| t.sum).sum::<u64>(),
        (0..200).sum::<u64>()
    );
    assert!(before.iter().any(|(_, t)| t.last_position == last));

    // Restart: the runner resumes from its checkpoint and applies nothing twice.
    cancel.cancel();
    task.await.unwrap();
    drop(views);
    let cancel = CancellationToken::new();
    let (views, task) = ProjectionRunner::start(
        &views_path,
        Arc::clone(&dyn_store),
        vec![Arc::new(Tally)],
        cancel.clone(),
    )
    .unwrap();
    last = append(&store, "s-0", 1000).await;
    views.wait_for("tally", last, WAIT).await.unwrap();
    let after_restart = snapshot(&views);
    assert_eq!(
        after_restart.iter().map(|(_, t)| t.events).sum::<u64>(),
        201
    );

    // Rebuild from position 0 gives exactly the incrementally maintained state.
    let progress = views.rebuild("tally").await.unwrap();
    assert!(*progress.borrow() <= last);
    views.wait_for("tally", last, WAIT).await.unwrap();
    assert_eq!(snapshot(&views), after_restart);

    // Lag is visible and zero once level.
    let lag = views.lag().await.unwrap();
    assert_eq!(lag.len(), 1);
    assert_eq!(lag[0].checkpoint, last);
    assert_eq!(lag[0].behind_positions, 0);

    // A position never written is reported as not yet reached, not waited on forever.
    let err = views
        .wait_for("tally", last + 10, Duration::from_millis(50))
        .await
        .unwrap_err();
    assert!(matches!(err, ProjectionError::NotYetAt { .. }), "{err}");
    assert!(matches!(
        views.wait_for("nope", 1, WAIT).await,
        Err(ProjectionError::UnknownProjection(_))
    ));

    cancel.cancel();
    task.await.unwrap();
    store.shutdown().await;
}

/// A projection whose apply of a `Held.v1` event waits until the test opens the gate, to hold
/// it behind the head.
struct Held {
    gate: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
}

impl Projection for Held {
    fn name(&self) -> &'static str {
        "held"
    }

    fn apply(
        &self,
        _view: &mut ViewWrite<'_>,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        if event.event_type.as_str() == "Held.v1" {
            // A closed gate (the test ended) lets it through as well.
            let _ = self.gate.lock().unwrap().recv();
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_projection_held_back_reports_positions_and_seconds_behind() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("log.redb"), StoreOptions::default()).unwrap();
    let dyn_store: Arc<dyn EventStore> = store.clone();
    let (open, gate) = std::sync::mpsc::channel();
    let cancel = CancellationToken::new();
    let (views, task) = ProjectionRunner::start(
        &dir.path().join("views.redb"),
        Arc::clone(&dyn_store),
        vec![Arc::new(Held {
            gate: std::sync::Mutex::new(gate),
        })],
        cancel.clone(),
    )
    .unwrap();

    // Level with the head first.
    let level = append(&store, "s-0", 1).await;
    views.wait_for("held", level, WAIT).await.unwrap();
    assert_eq!(views.lag().await.unwrap()[0].behind_positions, 0);

    // An event the projection cannot get past, then more behind it.
    let mut held = ProposedEvent {
        event_type: EventType::new("Held.v1").unwrap(),
        ..counted(2)
    };
    held.event_id = uuid::Uuid::new_v4();
    store
        .append(AppendRequest::single(
            StreamName::new("s-1").unwrap(),
            ExpectedRevision::Any,
            vec![held],
        ))
        .await
        .unwrap();
    let head = append(&store, "s-2", 3).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let lag = views.lag().await.unwrap();
    assert_eq!(lag.len(), 1);
    assert_eq!(lag[0].head, head);
    assert_eq!(lag[0].checkpoint, level);
    assert!(
        lag[0].behind_positions > 0 && lag[0].behind_seconds >= 1.0,
        "{lag:?}"
    );

    // Let it through: level again, nothing behind.
    open.send(()).unwrap();
    views.wait_for("held", head, WAIT).await.unwrap();
    let lag = views.lag().await.unwrap();
    assert_eq!((lag[0].behind_positions, lag[0].behind_seconds), (0, 0.0));

    cancel.cancel();
    task.await.unwrap();
    store.shutdown().await;
}
