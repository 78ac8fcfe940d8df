//! The projection runner against the real log: read-your-writes, restart without double
//! application, and rebuild from position 0 equal to the incremental fold.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use oversight::log::{
    AppendRequest, ContentType, EventStore, EventType, ExpectedRevision, Metadata, ProposedEvent,
    RecordedEvent, RedbStore, StoreOptions, StreamName,
};
use oversight::projection::runner::view_file_path;
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

/// Folds a `Counted.v1` event into its stream's tally, its number weighed by `weight`.
fn count(
    view: &mut ViewWrite<'_>,
    event: &RecordedEvent,
    weight: u64,
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
        t.sum += n * weight;
        t.last_position = event.position;
    })
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
        count(view, event, 1)
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

/// Starts a runner with the [`Tally`] projection alone on the views directory `views_dir`.
fn start_tally(
    views_dir: &std::path::Path,
    store: &Arc<RedbStore>,
) -> (
    oversight::projection::Views,
    tokio::task::JoinHandle<()>,
    CancellationToken,
) {
    let cancel = CancellationToken::new();
    let (views, task) = ProjectionRunner::start(
        views_dir,
        store.clone(),
        vec![Arc::new(Tally)],
        cancel.clone(),
    )
    .unwrap();
    (views, task, cancel)
}

#[tokio::test]
async fn views_follow_the_log_survive_restart_and_rebuild_identically() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("log.redb"), StoreOptions::default()).unwrap();
    let views_path = dir.path().join("views");
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

/// The tally, each payload's number weighed, at a version of the test's choosing: a projection
/// whose documents changed shape between two starts.
struct WeighedTally {
    version: u32,
    weight: u64,
}

impl Projection for WeighedTally {
    fn name(&self) -> &'static str {
        "tally"
    }

    fn version(&self) -> u32 {
        self.version
    }

    fn apply(
        &self,
        view: &mut ViewWrite<'_>,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        count(view, event, self.weight)
    }
}

/// Starts the runner with `projection`, waits until it is level with `head`, and returns the
/// view's total sum; the runner is stopped again.
async fn sum_after_start(
    views_path: &std::path::Path,
    store: &Arc<dyn EventStore>,
    projection: WeighedTally,
    head: u64,
) -> u64 {
    let cancel = CancellationToken::new();
    let (views, task) = ProjectionRunner::start(
        views_path,
        Arc::clone(store),
        vec![Arc::new(projection)],
        cancel.clone(),
    )
    .unwrap();
    views.wait_for("tally", head, WAIT).await.unwrap();
    let sum = snapshot(&views).iter().map(|(_, t)| t.sum).sum();
    cancel.cancel();
    task.await.unwrap();
    drop(views);
    sum
}

#[tokio::test]
async fn a_view_folded_at_another_version_is_rebuilt_at_start_and_only_then() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("log.redb"), StoreOptions::default()).unwrap();
    let views_path = dir.path().join("views");
    let dyn_store: Arc<dyn EventStore> = store.clone();
    let mut head = 0;
    for i in 1..=40u64 {
        head = append(&store, &format!("s-{}", i % 3), i).await;
    }
    let base: u64 = (1..=40).sum();
    let weighed = |version, weight| WeighedTally { version, weight };
    assert_eq!(
        sum_after_start(&views_path, &dyn_store, weighed(1, 1), head).await,
        base
    );

    // The same version: the documents are kept (folding again would give 40 × base).
    let head = append(&store, "s-0", 1_000).await;
    assert_eq!(
        sum_after_start(&views_path, &dyn_store, weighed(1, 40), head).await,
        base + 40_000
    );

    // A file from before versions were recorded is taken as version 1: kept as well.
    {
        let db = redb::Database::open(view_file_path(&views_path, "tally")).unwrap();
        let txn = db.begin_write().unwrap();
        assert!(
            txn.delete_table(redb::TableDefinition::<&str, u32>::new("_versions"))
                .unwrap()
        );
        txn.commit().unwrap();
    }
    assert_eq!(
        sum_after_start(&views_path, &dyn_store, weighed(1, 40), head).await,
        base + 40_000
    );

    // Another version: an empty file takes the view file's place and the view is folded again
    // from position 0, every document in the new shape; no file is left beside it.
    assert_eq!(
        sum_after_start(&views_path, &dyn_store, weighed(2, 40), head).await,
        40 * (base + 1_000)
    );
    let mut files: Vec<String> = std::fs::read_dir(&views_path)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["tally.redb"]);
    // And once rebuilt, kept at that version.
    assert_eq!(
        sum_after_start(&views_path, &dyn_store, weighed(2, 7), head).await,
        40 * (base + 1_000)
    );
    store.shutdown().await;
}

/// Tallies like [`Tally`], but fails (a storage error, as a full disk would give) the first
/// time it meets position `fail_at`.
struct Flaky {
    fail_at: u64,
    failed: std::sync::atomic::AtomicBool,
}

impl Projection for Flaky {
    fn name(&self) -> &'static str {
        "flaky"
    }

    fn apply(
        &self,
        view: &mut ViewWrite<'_>,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        if event.position == self.fail_at
            && !self.failed.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return Err(ProjectionError::Storage("injected failure".into()));
        }
        count(view, event, 1)
    }
}

fn tallies(views: &oversight::projection::Views, projection: &str) -> Vec<(String, StreamTally)> {
    views
        .read()
        .unwrap()
        .scan(projection, "streams", "", None, usize::MAX)
        .unwrap()
}

#[tokio::test]
async fn a_view_that_fails_a_batch_is_retried_from_its_checkpoint_while_the_others_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("log.redb"), StoreOptions::default()).unwrap();
    // Several catch-up batches of history, so that later batches are queued behind the one
    // that fails.
    let mut head = 0;
    for i in 0..40u64 {
        head = store
            .append(AppendRequest::single(
                StreamName::new(format!("s-{}", i % 7)).unwrap(),
                ExpectedRevision::Any,
                (0..500).map(|n| counted(i * 500 + n)).collect(),
            ))
            .await
            .unwrap()
            .last_position();
    }
    assert_eq!(head, 20_000);
    let flaky = Arc::new(Flaky {
        fail_at: 10_000,
        failed: std::sync::atomic::AtomicBool::new(false),
    });
    let cancel = CancellationToken::new();
    let (views, task) = ProjectionRunner::start(
        &dir.path().join("views"),
        store.clone(),
        vec![Arc::new(Tally), flaky.clone()],
        cancel.clone(),
    )
    .unwrap();
    // Live events after the history as well.
    head = append(&store, "s-live", 20_000).await;
    for projection in ["tally", "flaky"] {
        views.wait_for(projection, head, WAIT).await.unwrap();
    }
    assert!(flaky.failed.load(std::sync::atomic::Ordering::SeqCst));
    let expected = tallies(&views, "tally");
    assert_eq!(expected.iter().map(|(_, t)| t.events).sum::<u64>(), 20_001);
    assert_eq!(
        expected.iter().map(|(_, t)| t.sum).sum::<u64>(),
        (0..=20_000).sum::<u64>()
    );
    // Every event applied once, none skipped, none twice.
    assert_eq!(tallies(&views, "flaky"), expected);
    cancel.cancel();
    task.await.unwrap();
    store.shutdown().await;
}

#[tokio::test]
async fn a_rebuild_puts_an_empty_file_in_place_while_an_earlier_snapshot_keeps_the_old_one() {
    use std::os::unix::fs::MetadataExt;

    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("log.redb"), StoreOptions::default()).unwrap();
    let mut head = 0;
    for i in 1..=30u64 {
        head = append(&store, &format!("s-{}", i % 4), i).await;
    }
    let views_dir = dir.path().join("views");
    let file = view_file_path(&views_dir, "tally");
    let start = || start_tally(&views_dir, &store);
    let (views, task, cancel) = start();
    views.wait_for("tally", head, WAIT).await.unwrap();
    let expected = tallies(&views, "tally");
    assert_eq!(
        expected.iter().map(|(_, t)| t.sum).sum::<u64>(),
        (1..=30u64).sum::<u64>()
    );
    let before = views.read().unwrap();
    let inode = std::fs::metadata(&file).unwrap().ino();

    views.rebuild("tally").await.unwrap();
    assert_ne!(
        std::fs::metadata(&file).unwrap().ino(),
        inode,
        "the view file was not replaced"
    );
    // The snapshot taken before still reads the old file, whole.
    assert_eq!(
        before
            .scan::<StreamTally>("tally", "streams", "", None, usize::MAX)
            .unwrap(),
        expected
    );
    assert_eq!(before.checkpoint("tally").unwrap(), head);
    drop(before);
    views.wait_for("tally", head, WAIT).await.unwrap();
    assert_eq!(tallies(&views, "tally"), expected);
    cancel.cancel();
    task.await.unwrap();
    drop(views);

    // The empty file of a rebuild stopped before its rename is removed at the next start.
    let leftover = views_dir.join("tally.redb.new");
    std::fs::write(&leftover, b"half made").unwrap();
    let (views, task, cancel) = start();
    assert!(!leftover.exists());
    views.wait_for("tally", head, WAIT).await.unwrap();
    assert_eq!(tallies(&views, "tally"), expected);
    cancel.cancel();
    task.await.unwrap();
    store.shutdown().await;
}

#[tokio::test]
async fn events_that_change_no_document_move_the_view_on_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("log.redb"), StoreOptions::default()).unwrap();
    let views_dir = dir.path().join("views");
    let start = || start_tally(&views_dir, &store);
    let (views, task, cancel) = start();
    for i in 1..=5u64 {
        append(&store, "s-1", i).await;
    }
    // Events the tally does not fold, live, one batch each.
    let mut head = 0;
    for _ in 0..20 {
        let mut other = counted(0);
        other.event_type = EventType::new("Other.v1").unwrap();
        head = store
            .append(AppendRequest::single(
                StreamName::new("s-2").unwrap(),
                ExpectedRevision::Any,
                vec![other],
            ))
            .await
            .unwrap()
            .last_position();
        views.wait_for("tally", head, WAIT).await.unwrap();
    }
    assert_eq!(views.checkpoint("tally").unwrap(), head);
    let expected = tallies(&views, "tally");
    assert_eq!(expected.len(), 1);
    assert_eq!((expected[0].1.events, expected[0].1.sum), (5, 15));
    let in_file = views.read().unwrap().checkpoint("tally").unwrap();
    assert!((5..=head).contains(&in_file), "{in_file}");
    cancel.cancel();
    task.await.unwrap();
    drop(views);

    // After a restart the view resumes from its file and counts nothing twice.
    let (views, task, cancel) = start();
    let head = append(&store, "s-1", 100).await;
    views.wait_for("tally", head, WAIT).await.unwrap();
    let tally = tallies(&views, "tally");
    assert_eq!((tally[0].1.events, tally[0].1.sum), (6, 115));
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
        &dir.path().join("views"),
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

/// The supervision views of a log of visits and findings, table by table.
fn supervision_tables(
    views: &oversight::projection::Views,
) -> Vec<Vec<(String, serde_json::Value)>> {
    let read = views.read().unwrap();
    let mut tables = Vec::new();
    for (projection, table) in [
        ("visits", "visits"),
        ("findings", "findings"),
        ("findings", "counts"),
        ("findings", "due"),
    ] {
        tables.push(read.scan(projection, table, "", None, usize::MAX).unwrap());
    }
    // The indexes: keys only.
    for (projection, table) in [
        ("visits", "by_appointee"),
        ("visits", "by_group"),
        ("visits", "by_organ"),
        ("findings", "members"),
    ] {
        let keys = read
            .scan_keys(projection, table, "", None, usize::MAX)
            .unwrap();
        assert!(!keys.is_empty(), "{projection}/{table} is empty");
        tables.push(
            keys.into_iter()
                .map(|key| (key, serde_json::Value::Null))
                .collect(),
        );
    }
    tables
}

/// Visits filed and corrected, findings raised, assigned and answered — the events of one
/// finding or visit in one append, so that a batch both writes and reads back a document — give
/// the same views folded append by append (small batches) and rebuilt from position 0 (one
/// catch-up batch, long enough that the projections fold it side by side, every document
/// written once at its end).
#[tokio::test]
async fn supervision_views_rebuilt_in_one_batch_equal_the_incremental_fold() {
    use chrono::{NaiveDate, TimeZone, Utc};
    use oversight::domain::DomainEvent;
    use oversight::domain::finding::{
        Explanation, FindingAssigned, FindingEvent, FindingRaised, FindingSource, FindingSubject,
        Rectification, Severity,
    };
    use oversight::domain::ids::{
        AppointeeId, CommitteeId, DeputyGroupId, FindingId, VisitId, finding_stream, visit_stream,
    };
    use oversight::domain::visit::{RatingScale, Ratings, VisitEvent, VisitFiled, VisitMode};

    fn proposed<E: DomainEvent>(events: &[E]) -> Vec<ProposedEvent> {
        events
            .iter()
            .map(|e| oversight::handler::to_proposed(e, &Metadata::default()).unwrap())
            .collect()
    }

    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("log.redb"), StoreOptions::default()).unwrap();
    let dyn_store: Arc<dyn EventStore> = store.clone();
    let cancel = CancellationToken::new();
    let (views, task) = ProjectionRunner::start(
        &dir.path().join("views"),
        Arc::clone(&dyn_store),
        oversight::projection::registry(),
        cancel.clone(),
    )
    .unwrap();
    let committee = CommitteeId::parse("c1").unwrap();
    let group = DeputyGroupId::parse("c1-g1").unwrap();
    let day = NaiveDate::from_ymd_opt(2025, 3, 1).unwrap();
    let mut last = 0;
    for n in 0..240u32 {
        let appointee = AppointeeId::parse(format!("c1-a{}", n % 3)).unwrap();
        let organ = format!("organ {}", n % 4);
        let at = Utc
            .timestamp_opt(1_740_000_000 + i64::from(n) * 600, 0)
            .unwrap();
        let (stream, events) = if n % 2 == 0 {
            let visit = VisitId::parse(format!("c1-v{n}")).unwrap();
            let ratings = Ratings {
                work_discipline: Some(3),
                service_quality: Some(4),
                efficiency: None,
            };
            let scale = RatingScale { min: 1, max: 5 };
            let mut events = vec![VisitEvent::Filed(VisitFiled {
                visit: visit.clone(),
                committee: committee.clone(),
                group: group.clone(),
                filed_by: "d1".to_string(),
                target_organ: organ,
                appointees: vec![appointee.clone()],
                mode: VisitMode::Open,
                visited_at: at,
                ratings,
                scale,
                notes: "first".to_string(),
                evidence: vec![],
                visible_to_appointee: true,
            })];
            if n % 4 == 0 {
                events.push(VisitEvent::Corrected {
                    visit: visit.clone(),
                    committee: committee.clone(),
                    group: group.clone(),
                    appointees: vec![appointee],
                    correction: 1,
                    previous_ratings: ratings,
                    ratings,
                    scale,
                    notes: "corrected".to_string(),
                    evidence: vec!["sha256:00".to_string()],
                    reason: "typo".to_string(),
                    corrected_by: "d1".to_string(),
                });
            }
            (visit_stream(&visit), proposed(&events))
        } else {
            let finding = FindingId::parse(format!("c1-f{n}")).unwrap();
            let subject = FindingSubject {
                committee: committee.clone(),
                source: FindingSource::Visit,
                source_ref: format!("c1-v{}", n - 1),
                organ,
                appointee: Some(appointee),
                year: 2025,
            };
            let mut events = vec![
                FindingEvent::Raised(FindingRaised {
                    finding: finding.clone(),
                    subject: subject.clone(),
                    severity: Severity::Moderate,
                    description: "late".to_string(),
                    rectification: Rectification::Required,
                    raised_by: "clerk".to_string(),
                    raised_at: at,
                    raised_on: None,
                }),
                FindingEvent::Assigned(FindingAssigned {
                    finding: finding.clone(),
                    subject: subject.clone(),
                    assignee: "organ".to_string(),
                    assigned_on: day,
                    due_on: day + chrono::Days::new(u64::from(n)),
                    due_months_applied: None,
                    utc_offset_minutes: 480,
                    assigned_by: "clerk".to_string(),
                }),
            ];
            if n % 3 == 0 {
                events.push(FindingEvent::Responded {
                    finding: finding.clone(),
                    subject,
                    previous_explanation: Explanation::None,
                    explanation: Explanation::Explained,
                    previous_rectification: Rectification::Required,
                    rectification: Rectification::InProgress,
                    note: "on it".to_string(),
                    responded_by: "organ".to_string(),
                    responded_at: at,
                });
            }
            (finding_stream(&finding), proposed(&events))
        };
        last = store
            .append(AppendRequest::single(
                StreamName::new(stream).unwrap(),
                ExpectedRevision::NoStream,
                events,
            ))
            .await
            .unwrap()
            .last_position();
        for projection in views.projections() {
            views.wait_for(projection, last, WAIT).await.unwrap();
        }
    }
    let incremental = supervision_tables(&views);
    assert_eq!(incremental[0].len(), 120, "every visit is in the view");
    assert_eq!(incremental[4].len(), 120, "every finding is in the view");
    assert!(incremental.iter().all(|table| !table.is_empty()));

    for projection in views.projections() {
        views.rebuild(projection).await.unwrap();
    }
    for projection in views.projections() {
        views.wait_for(projection, last, WAIT).await.unwrap();
    }
    assert_eq!(supervision_tables(&views), incremental);

    // One view rebuilt while the others are level: its batch is folded alone.
    views.rebuild("visits").await.unwrap();
    views.wait_for("visits", last, WAIT).await.unwrap();
    assert_eq!(supervision_tables(&views), incremental);
    cancel.cancel();
    task.await.unwrap();
}
