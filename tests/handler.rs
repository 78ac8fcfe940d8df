//! The command handler against the real log: decisions are appended with the revision they were
//! made on, lost races are re-decided, and rejections write nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::Utc;
use oversight::domain::{Aggregate, Context, DomainEvent, Rejection};
use oversight::handler::{Executed, Handler, HandlerError};
use oversight::log::{EventStore, ExpectedRevision, Metadata, RedbStore, StoreOptions, StreamName};
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Clone)]
struct Counter {
    value: u64,
    limit: Option<u64>,
}

enum Command {
    Limit(u64),
    Increment,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type")]
enum Event {
    Limited { limit: u64 },
    Incremented { to: u64 },
}

impl DomainEvent for Event {
    fn event_type(&self) -> &'static str {
        match self {
            Event::Limited { .. } => "Limited.v1",
            Event::Incremented { .. } => "Incremented.v1",
        }
    }
}

impl Aggregate for Counter {
    type Command = Command;
    type Event = Event;

    fn decide(&self, command: &Command, _ctx: &Context) -> Result<Vec<Event>, Rejection> {
        match command {
            Command::Limit(limit) => Ok(vec![Event::Limited { limit: *limit }]),
            Command::Increment => {
                if self.limit.is_some_and(|l| self.value >= l) {
                    return Err(Rejection::precondition("counter is at its limit"));
                }
                Ok(vec![Event::Incremented { to: self.value + 1 }])
            }
        }
    }

    fn apply(&mut self, event: &Event) {
        match event {
            Event::Limited { limit } => self.limit = Some(*limit),
            Event::Incremented { to } => self.value = *to,
        }
    }
}

fn ctx() -> Context {
    Context {
        now: Utc::now(),
        actor: "tester".into(),
        role: oversight::domain::Role::Admin,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commands_are_redecided_and_rejections_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("log.redb"), StoreOptions::default()).unwrap();
    let handler = Handler::new(store.clone() as Arc<dyn EventStore>);
    let stream = StreamName::new("counter-1").unwrap();

    handler
        .execute::<Counter>(&stream, &Command::Limit(20), &ctx(), &Metadata::default())
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let handler = handler.clone();
        let stream = stream.clone();
        tasks.push(tokio::spawn(async move {
            handler
                .execute::<Counter>(&stream, &Command::Increment, &ctx(), &Metadata::default())
                .await
        }));
    }
    let mut positions = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(executed) => positions.push(executed.position),
            // Under heavy contention a command may give up; it must say so and write nothing.
            Err(HandlerError::Contended(_)) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    let loaded = handler.load::<Counter>(&stream).await.unwrap();
    assert_eq!(loaded.state.value, positions.len() as u64);
    assert_eq!(loaded.revision, Some(positions.len() as u64));
    // Each successful increment saw a distinct state: values 1..=n with no lost update.
    positions.sort_unstable();
    positions.dedup();
    assert_eq!(positions.len() as u64, loaded.state.value);

    // Reach the limit, then a rejected command writes nothing.
    while handler.load::<Counter>(&stream).await.unwrap().state.value < 20 {
        handler
            .execute::<Counter>(&stream, &Command::Increment, &ctx(), &Metadata::default())
            .await
            .unwrap();
    }
    let head = store.head().await.unwrap();
    let err = handler
        .execute::<Counter>(&stream, &Command::Increment, &ctx(), &Metadata::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, HandlerError::Rejected(Rejection::Precondition(_))),
        "{err}"
    );
    assert_eq!(store.head().await.unwrap(), head);
    store.shutdown().await;
}

#[tokio::test]
async fn a_command_decided_on_a_state_loaded_before_another_write_is_decided_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("log.redb"), StoreOptions::default()).unwrap();
    let handler = Handler::new(store.clone() as Arc<dyn EventStore>);
    let stream = StreamName::new("counter-1").unwrap();
    let meta = Metadata::default();
    handler
        .execute::<Counter>(&stream, &Command::Increment, &ctx(), &meta)
        .await
        .unwrap();

    // Loaded at value 1 and used as is: decided on it, appended after it.
    let loaded = handler.load::<Counter>(&stream).await.unwrap();
    let executed = handler
        .execute_from::<Counter>(&stream, Some(loaded), &Command::Increment, &ctx(), &meta)
        .await
        .unwrap();
    assert!(matches!(
        executed.events[..],
        [Event::Incremented { to: 2 }]
    ));

    // Loaded at value 2, then another write: the stale state loses the append and the command
    // is decided again on a fresh load (to 4, not a second "to 3").
    let stale = handler.load::<Counter>(&stream).await.unwrap();
    handler
        .execute::<Counter>(&stream, &Command::Increment, &ctx(), &meta)
        .await
        .unwrap();
    let executed = handler
        .execute_from::<Counter>(&stream, Some(stale), &Command::Increment, &ctx(), &meta)
        .await
        .unwrap();
    assert!(
        matches!(executed.events[..], [Event::Incremented { to: 4 }]),
        "{:?}",
        executed.events
    );
    let now = handler.load::<Counter>(&stream).await.unwrap();
    assert_eq!((now.state.value, now.revision), (4, Some(3)));
    store.shutdown().await;
}

/// Increments `counter-1` if every condition still holds.
async fn increment_checked(
    handler: &Handler,
    conditions: &[(StreamName, ExpectedRevision)],
) -> Result<Executed<Event>, HandlerError> {
    let counter = StreamName::new("counter-1").unwrap();
    let meta = Metadata::default();
    handler
        .execute_checked::<Counter>(
            &counter,
            None,
            conditions,
            &Command::Increment,
            &ctx(),
            &meta,
        )
        .await
}

#[tokio::test]
async fn a_command_checked_against_another_stream_is_refused_once_that_stream_moved() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("log.redb"), StoreOptions::default()).unwrap();
    let handler = Handler::new(store.clone() as Arc<dyn EventStore>);
    let meta = Metadata::default();
    let limits = StreamName::new("limits-1").unwrap();
    handler
        .execute::<Counter>(&limits, &Command::Limit(1), &ctx(), &meta)
        .await
        .unwrap();

    // Checked against `limits` as loaded, and it still stands: the counter's event is written.
    let checked = handler.load::<Counter>(&limits).await.unwrap();
    let conditions = [(limits.clone(), checked.expected())];
    let executed = increment_checked(&handler, &conditions).await.unwrap();
    assert_eq!(executed.position, 2);
    // Named twice, or naming the command's own stream: still one condition, not a refusal.
    let counter = StreamName::new("counter-1").unwrap();
    let now = handler.load::<Counter>(&counter).await.unwrap();
    let repeated = [
        conditions[0].clone(),
        conditions[0].clone(),
        (counter, now.expected()),
    ];
    let executed = increment_checked(&handler, &repeated).await.unwrap();
    assert_eq!(executed.position, 3);

    // `limits` changes after the check: the command is refused as such and writes nothing.
    handler
        .execute::<Counter>(&limits, &Command::Limit(0), &ctx(), &meta)
        .await
        .unwrap();
    let head = store.head().await.unwrap();
    let err = increment_checked(&handler, &conditions).await.unwrap_err();
    assert!(
        matches!(&err, HandlerError::ConditionChanged(stream) if stream == "limits-1"),
        "{err}"
    );
    assert_eq!(store.head().await.unwrap(), head);

    // A condition on a stream that does not exist yet holds until it is created.
    let absent = StreamName::new("limits-2").unwrap();
    let missing = handler.load::<Counter>(&absent).await.unwrap();
    assert_eq!(missing.revision, None);
    let executed = increment_checked(&handler, &[(absent, missing.expected())])
        .await
        .unwrap();
    assert!(matches!(
        executed.events[..],
        [Event::Incremented { to: 3 }]
    ));
    store.shutdown().await;
}

/// Every event any `Watched` state has folded, across the test binary (one test uses it).
static WATCHED_APPLIES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The counter's events folded by another aggregate type, counting each event it folds.
#[derive(Debug, Default, Clone)]
struct Watched {
    increments: u64,
}

impl Aggregate for Watched {
    type Command = Command;
    type Event = Event;

    fn decide(&self, _command: &Command, _ctx: &Context) -> Result<Vec<Event>, Rejection> {
        Ok(Vec::new())
    }

    fn apply(&mut self, event: &Event) {
        WATCHED_APPLIES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if let Event::Incremented { .. } = event {
            self.increments += 1;
        }
    }
}

#[tokio::test]
async fn a_stream_loaded_again_folds_only_the_events_written_since() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("log.redb"), StoreOptions::default()).unwrap();
    let writer = Handler::new(store.clone() as Arc<dyn EventStore>);
    let stream = StreamName::new("counter-1").unwrap();
    let meta = Metadata::default();
    writer
        .execute::<Counter>(&stream, &Command::Limit(100), &ctx(), &meta)
        .await
        .unwrap();
    for _ in 0..10 {
        writer
            .execute::<Counter>(&stream, &Command::Increment, &ctx(), &meta)
            .await
            .unwrap();
    }

    // A second handler (its own states): the first load folds all 11 events, the next none.
    let reader = Handler::new(store.clone() as Arc<dyn EventStore>);
    WATCHED_APPLIES.store(0, Ordering::SeqCst);
    let first = reader.load::<Watched>(&stream).await.unwrap();
    assert_eq!((first.state.increments, first.revision), (10, Some(10)));
    assert_eq!(WATCHED_APPLIES.load(Ordering::SeqCst), 11);
    let again = reader.load::<Watched>(&stream).await.unwrap();
    assert_eq!(
        (again.state.increments, again.revision, again.position),
        (10, Some(10), first.position)
    );
    assert_eq!(
        WATCHED_APPLIES.load(Ordering::SeqCst),
        11,
        "nothing folded twice"
    );

    // Three more written through the other handler: the next load folds exactly those three
    // and ends where a fold from the start ends.
    for _ in 0..3 {
        writer
            .execute::<Counter>(&stream, &Command::Increment, &ctx(), &meta)
            .await
            .unwrap();
    }
    let later = reader.load::<Watched>(&stream).await.unwrap();
    assert_eq!((later.state.increments, later.revision), (13, Some(13)));
    assert_eq!(WATCHED_APPLIES.load(Ordering::SeqCst), 14);
    let fresh = Handler::new(store.clone() as Arc<dyn EventStore>)
        .load::<Watched>(&stream)
        .await
        .unwrap();
    assert_eq!(
        (fresh.state.increments, fresh.revision, fresh.position),
        (later.state.increments, later.revision, later.position)
    );

    // The same stream as another aggregate type is folded as that type, not taken from the
    // first one's state.
    let counter = reader.load::<Counter>(&stream).await.unwrap();
    assert_eq!(
        (counter.state.value, counter.state.limit, counter.revision),
        (13, Some(100), Some(13))
    );
    // A stream that does not exist yet is not remembered as empty.
    let missing = StreamName::new("counter-2").unwrap();
    assert_eq!(
        reader.load::<Watched>(&missing).await.unwrap().revision,
        None
    );
    writer
        .execute::<Counter>(&missing, &Command::Increment, &ctx(), &meta)
        .await
        .unwrap();
    let created = reader.load::<Watched>(&missing).await.unwrap();
    assert_eq!((created.state.increments, created.revision), (1, Some(0)));
    store.shutdown().await;
}
