//! Unit tests of the redb backend: every guarantee of `docs/STORAGE.md` against a real file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;
use tempfile::TempDir;
use uuid::Uuid;

use super::*;

fn name(s: &str) -> StreamName {
    StreamName::new(s).unwrap()
}

fn event(data: &str) -> ProposedEvent {
    typed_event("Thing.v1", data)
}

fn typed_event(event_type: &str, data: &str) -> ProposedEvent {
    ProposedEvent {
        event_id: Uuid::new_v4(),
        event_type: EventType::new(event_type).unwrap(),
        data: data.as_bytes().to_vec(),
        content_type: ContentType::Json,
        metadata: Metadata::default(),
    }
}

fn events(n: usize) -> Vec<ProposedEvent> {
    (0..n).map(|i| event(&format!("{{\"i\":{i}}}"))).collect()
}

fn single(stream: &str, expected: ExpectedRevision, events: Vec<ProposedEvent>) -> AppendRequest {
    AppendRequest::single(name(stream), expected, events)
}

fn path(dir: &TempDir) -> PathBuf {
    dir.path().join("data").join("log.redb")
}

fn open(dir: &TempDir) -> Arc<RedbStore> {
    RedbStore::open(&path(dir), StoreOptions::default()).unwrap()
}

async fn all(store: &RedbStore) -> Vec<RecordedEvent> {
    let mut out = Vec::new();
    let mut from = Some(1);
    while let Some(position) = from {
        let page = store
            .read_all_page(ReadAll {
                from_position: Some(position),
                direction: Direction::Forwards,
                max_count: 1000,
                filter: Filter::default(),
            })
            .await
            .unwrap();
        out.extend(page.events);
        from = page.next_position;
    }
    out
}

fn assert_conflict(
    result: Result<AppendOutcome, AppendError>,
    stream: &str,
    want_actual: Option<u64>,
) {
    match result {
        Err(AppendError::WrongExpectedRevision {
            stream: s, actual, ..
        }) => {
            assert_eq!(s.as_str(), stream);
            assert_eq!(actual, want_actual);
        }
        other => panic!("expected a revision conflict, got {other:?}"),
    }
}

#[tokio::test]
async fn every_expected_revision_mode_and_conflict() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    use ExpectedRevision::*;

    assert_conflict(
        store.append(single("s", StreamExists, events(1))).await,
        "s",
        None,
    );
    assert_conflict(
        store.append(single("s", Exact(0), events(1))).await,
        "s",
        None,
    );
    let first = store
        .append(single("s", NoStream, events(2)))
        .await
        .unwrap();
    assert_eq!(first.results[0].first_revision, 0);
    assert_eq!(first.results[0].last_revision, 1);
    assert_eq!(first.results[0].first_position, 1);
    assert_eq!(first.results[0].last_position, 2);
    assert!(!first.replayed);

    assert_conflict(
        store.append(single("s", NoStream, events(1))).await,
        "s",
        Some(1),
    );
    assert_conflict(
        store.append(single("s", Exact(0), events(1))).await,
        "s",
        Some(1),
    );
    assert_conflict(
        store.append(single("s", Exact(7), events(1))).await,
        "s",
        Some(1),
    );

    let exact = store
        .append(single("s", Exact(1), events(1)))
        .await
        .unwrap();
    assert_eq!(exact.results[0].first_revision, 2);
    let exists = store
        .append(single("s", StreamExists, events(1)))
        .await
        .unwrap();
    assert_eq!(exists.results[0].first_revision, 3);
    let any = store.append(single("s", Any, events(1))).await.unwrap();
    assert_eq!(any.results[0].first_revision, 4);
    let any_new = store.append(single("t", Any, events(1))).await.unwrap();
    assert_eq!(any_new.results[0].first_revision, 0);
    assert_eq!(any_new.results[0].first_position, 6);
    assert_eq!(store.head().await.unwrap().position, 6);
}

#[tokio::test]
async fn idempotent_retry_returns_the_original_positions() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    store
        .append(single("other", ExpectedRevision::Any, events(3)))
        .await
        .unwrap();
    let request = AppendRequest {
        appends: vec![
            StreamAppend {
                stream: name("a"),
                expected: ExpectedRevision::NoStream,
                events: events(2),
            },
            StreamAppend {
                stream: name("b"),
                expected: ExpectedRevision::NoStream,
                events: events(1),
            },
        ],
    };
    let original = store.append(request.clone()).await.unwrap();
    let head = store.head().await.unwrap();
    // The expected revision (no_stream) no longer holds, but a replay is not re-checked.
    let retry = store.append(request.clone()).await.unwrap();
    assert!(retry.replayed);
    assert_eq!(retry.results, original.results);
    assert_eq!(store.head().await.unwrap(), head);
    assert_eq!(all(&store).await.len(), 6);
}

#[tokio::test]
async fn same_id_with_a_different_payload_is_rejected() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let original = event(r#"{"v":1}"#);
    store
        .append(single("a", ExpectedRevision::Any, vec![original.clone()]))
        .await
        .unwrap();
    let mut changed = original.clone();
    changed.data = br#"{"v":2}"#.to_vec();
    let result = store
        .append(single("a", ExpectedRevision::Any, vec![changed]))
        .await;
    assert!(
        matches!(result, Err(AppendError::IdempotencyConflict { event_id }) if event_id == original.event_id)
    );
    // The same id and payload on another stream is different content too.
    let result = store
        .append(single("elsewhere", ExpectedRevision::Any, vec![original]))
        .await;
    assert!(matches!(
        result,
        Err(AppendError::IdempotencyConflict { .. })
    ));
    assert_eq!(store.head().await.unwrap().position, 1);
}

#[tokio::test]
async fn partially_existing_ids_are_rejected() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let known = event("1");
    store
        .append(single("a", ExpectedRevision::Any, vec![known.clone()]))
        .await
        .unwrap();
    let result = store
        .append(single(
            "a",
            ExpectedRevision::Any,
            vec![event("2"), known.clone()],
        ))
        .await;
    assert!(
        matches!(result, Err(AppendError::IdempotencyConflict { event_id }) if event_id == known.event_id)
    );
    assert_eq!(store.head().await.unwrap().position, 1);
}

#[tokio::test]
async fn malformed_requests_are_rejected_before_queuing() {
    let dir = TempDir::new().unwrap();
    let store = RedbStore::open(
        &path(&dir),
        StoreOptions {
            max_append_events: 5,
            max_append_bytes: 100,
            ..StoreOptions::default()
        },
    )
    .unwrap();
    let invalid = |r: Result<AppendOutcome, AppendError>| match r {
        Err(AppendError::Invalid(e)) => e.to_string(),
        other => panic!("expected invalid input, got {other:?}"),
    };
    let msg = invalid(store.append(AppendRequest { appends: vec![] }).await);
    assert!(msg.starts_with("appends "), "{msg}");
    let msg = invalid(
        store
            .append(single("a", ExpectedRevision::Any, vec![]))
            .await,
    );
    assert!(
        msg.starts_with("appends must hold at least one event"),
        "{msg}"
    );
    // Conditions alone write nothing: still no event.
    let msg = invalid(
        store
            .append(single("a", ExpectedRevision::NoStream, vec![]))
            .await,
    );
    assert!(
        msg.starts_with("appends must hold at least one event"),
        "{msg}"
    );
    let unchecked = AppendRequest {
        appends: vec![
            StreamAppend {
                stream: name("a"),
                expected: ExpectedRevision::Any,
                events: events(1),
            },
            StreamAppend::condition(name("b"), ExpectedRevision::Any),
        ],
    };
    let msg = invalid(store.append(unchecked).await);
    assert!(
        msg.starts_with("appends[1].expected is any on an entry with no events"),
        "{msg}"
    );
    let msg = invalid(
        store
            .append(single("a", ExpectedRevision::Any, events(6)))
            .await,
    );
    assert!(msg.contains("at most 5"), "{msg}");
    let big = event(&format!("\"{}\"", "x".repeat(200)));
    let msg = invalid(
        store
            .append(single("a", ExpectedRevision::Any, vec![big]))
            .await,
    );
    assert!(msg.contains("at most 100"), "{msg}");
    let msg = invalid(
        store
            .append(single(
                "a",
                ExpectedRevision::Any,
                vec![event("1"), event("{nope")],
            ))
            .await,
    );
    assert!(
        msg.starts_with("appends[0].events[1].data is not valid JSON: "),
        "{msg}"
    );
    let mut binary = event("{nope");
    binary.content_type = ContentType::Binary;
    store
        .append(single("a", ExpectedRevision::Any, vec![binary]))
        .await
        .unwrap();
    let dup = event("1");
    let msg = invalid(
        store
            .append(single("a", ExpectedRevision::Any, vec![dup.clone(), dup]))
            .await,
    );
    assert!(msg.starts_with("appends[0].events[1].event_id "), "{msg}");
    let twice = AppendRequest {
        appends: vec![
            StreamAppend {
                stream: name("a"),
                expected: ExpectedRevision::Any,
                events: events(1),
            },
            StreamAppend {
                stream: name("a"),
                expected: ExpectedRevision::Any,
                events: events(1),
            },
        ],
    };
    let msg = invalid(store.append(twice).await);
    assert!(msg.starts_with("appends[1].stream "), "{msg}");
    assert_eq!(store.head().await.unwrap().position, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rejected_request_in_a_batch_does_not_fail_its_neighbours() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let mut tasks = Vec::new();
    for i in 0..64 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                // Only one of these can win.
                store
                    .append(single("contested", ExpectedRevision::NoStream, events(2)))
                    .await
            } else {
                store
                    .append(single(
                        &format!("free-{i}"),
                        ExpectedRevision::NoStream,
                        events(3),
                    ))
                    .await
            }
        }));
    }
    let mut won = 0;
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await.unwrap() {
            Ok(_) if i % 2 == 0 => won += 1,
            Ok(outcome) => assert_eq!(outcome.results[0].first_revision, 0),
            Err(e) if i % 2 == 0 => {
                assert!(matches!(
                    e,
                    AppendError::WrongExpectedRevision {
                        actual: Some(1),
                        ..
                    }
                ))
            }
            Err(e) => panic!("free append {i} failed: {e}"),
        }
    }
    assert_eq!(won, 1);
    // 33 requests wrote something; group commit put several of them into one transaction.
    let commits = store.committed_batches();
    assert!(commits < 33, "{commits} commits for 33 writing requests");
    let log = all(&store).await;
    assert_eq!(log.len(), 2 + 32 * 3);
    for (i, e) in log.iter().enumerate() {
        assert_eq!(e.position, i as u64 + 1);
    }
    assert!(store.verify(0, 0).await.unwrap().first_bad.is_none());
}

#[tokio::test]
async fn a_condition_writes_nothing_and_refuses_the_append_once_its_stream_moved() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    store
        .append(single("checked", ExpectedRevision::NoStream, events(1)))
        .await
        .unwrap();
    let decided = |checked_at| AppendRequest {
        appends: vec![
            StreamAppend {
                stream: name("decision"),
                expected: ExpectedRevision::Any,
                events: events(2),
            },
            StreamAppend::condition(name("checked"), checked_at),
            StreamAppend::condition(name("absent"), ExpectedRevision::NoStream),
        ],
    };
    // The conditions hold: only the decision is written, and only it has a result.
    let request = decided(ExpectedRevision::Exact(0));
    let outcome = store.append(request.clone()).await.unwrap();
    assert_eq!(
        outcome.results,
        vec![StreamAppended {
            stream: name("decision"),
            first_revision: 0,
            last_revision: 1,
            first_position: 2,
            last_position: 3,
        }]
    );
    let streams: Vec<String> = all(&store)
        .await
        .iter()
        .map(|e| e.stream.to_string())
        .collect();
    assert_eq!(streams, ["checked", "decision", "decision"]);

    // The checked stream moves on: a decision made on what it held before is refused, whole.
    store
        .append(single("checked", ExpectedRevision::Exact(0), events(1)))
        .await
        .unwrap();
    assert_conflict(
        store.append(decided(ExpectedRevision::Exact(0))).await,
        "checked",
        Some(1),
    );
    store
        .append(single("absent", ExpectedRevision::NoStream, events(1)))
        .await
        .unwrap();
    assert_conflict(
        store.append(decided(ExpectedRevision::Exact(1))).await,
        "absent",
        Some(0),
    );
    assert_eq!(store.head().await.unwrap().position, 5);

    // A retry of the append that was made returns its positions, whatever its conditions say now.
    let replayed = store.append(request).await.unwrap();
    assert!(replayed.replayed);
    assert_eq!(replayed.results, outcome.results);
    assert_eq!(store.head().await.unwrap().position, 5);
}

#[tokio::test]
async fn a_multi_stream_append_is_all_or_nothing() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    store
        .append(single("b", ExpectedRevision::NoStream, events(1)))
        .await
        .unwrap();
    let request = |b_expected| AppendRequest {
        appends: vec![
            StreamAppend {
                stream: name("a"),
                expected: ExpectedRevision::NoStream,
                events: events(2),
            },
            StreamAppend {
                stream: name("b"),
                expected: b_expected,
                events: events(1),
            },
        ],
    };
    assert_conflict(
        store.append(request(ExpectedRevision::NoStream)).await,
        "b",
        Some(0),
    );
    let missing = store
        .read_stream(ReadStream {
            stream: name("a"),
            from_revision: None,
            direction: Direction::Forwards,
            max_count: 10,
        })
        .await;
    assert!(matches!(missing, Err(ReadError::StreamNotFound(_))));
    assert_eq!(store.head().await.unwrap().position, 1);

    let outcome = store
        .append(request(ExpectedRevision::Exact(0)))
        .await
        .unwrap();
    assert_eq!(
        outcome.results,
        vec![
            StreamAppended {
                stream: name("a"),
                first_revision: 0,
                last_revision: 1,
                first_position: 2,
                last_position: 3,
            },
            StreamAppended {
                stream: name("b"),
                first_revision: 1,
                last_revision: 1,
                first_position: 4,
                last_position: 4,
            },
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn concurrent_writers_get_gapless_positions_and_contiguous_revisions() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let writers = 8;
    let appends = 500;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            for i in 0..appends {
                let stream = format!("stream-{}", (w + i) % 5);
                store
                    .append(single(&stream, ExpectedRevision::Any, events(1)))
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let log = all(&store).await;
    assert_eq!(log.len(), writers * appends);
    let mut revisions: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for (i, e) in log.iter().enumerate() {
        assert_eq!(e.position, i as u64 + 1);
        revisions
            .entry(e.stream.to_string())
            .or_default()
            .push(e.revision);
    }
    for (stream, revs) in revisions {
        let want: Vec<u64> = (0..revs.len() as u64).collect();
        assert_eq!(revs, want, "stream {stream}");
    }
    let report = store.verify(0, 0).await.unwrap();
    assert_eq!(report.checked, (writers * appends) as u64);
    assert!(report.first_bad.is_none());
}

#[tokio::test]
async fn reads_forwards_backwards_and_filtered() {
    let dir = TempDir::new().unwrap();
    let store = RedbStore::open(
        &path(&dir),
        StoreOptions {
            max_read_scan: 7,
            ..StoreOptions::default()
        },
    )
    .unwrap();
    for i in 0..30 {
        let stream = if i % 3 == 0 {
            "appointee-1"
        } else {
            "committee-1"
        };
        let kind = if i % 5 == 0 { "Rare.v1" } else { "Common.v1" };
        store
            .append(single(
                stream,
                ExpectedRevision::Any,
                vec![typed_event(kind, &i.to_string())],
            ))
            .await
            .unwrap();
    }
    let read = |stream: &str, from_revision, direction, max_count| ReadStream {
        stream: name(stream),
        from_revision,
        direction,
        max_count,
    };
    let fwd = store
        .read_stream(read("appointee-1", None, Direction::Forwards, 100))
        .await
        .unwrap();
    assert_eq!(
        fwd.iter().map(|e| e.position).collect::<Vec<_>>(),
        vec![1, 4, 7, 10, 13, 16, 19, 22, 25, 28]
    );
    let some = store
        .read_stream(read("appointee-1", Some(2), Direction::Forwards, 3))
        .await
        .unwrap();
    assert_eq!(
        some.iter().map(|e| e.revision).collect::<Vec<_>>(),
        vec![2, 3, 4]
    );
    let back = store
        .read_stream(read("appointee-1", None, Direction::Backwards, 2))
        .await
        .unwrap();
    assert_eq!(
        back.iter().map(|e| e.revision).collect::<Vec<_>>(),
        vec![9, 8]
    );
    let back_from = store
        .read_stream(read("appointee-1", Some(1), Direction::Backwards, 5))
        .await
        .unwrap();
    assert_eq!(
        back_from.iter().map(|e| e.revision).collect::<Vec<_>>(),
        vec![1, 0]
    );
    assert!(matches!(
        store
            .read_stream(read("nobody", None, Direction::Forwards, 5))
            .await,
        Err(ReadError::StreamNotFound(_))
    ));

    // Backwards over the whole log.
    let page = store
        .read_all_page(ReadAll {
            from_position: None,
            direction: Direction::Backwards,
            max_count: 3,
            filter: Filter::default(),
        })
        .await
        .unwrap();
    assert_eq!(
        page.events.iter().map(|e| e.position).collect::<Vec<_>>(),
        vec![30, 29, 28]
    );
    assert_eq!(page.next_position, Some(27));

    // A selective filter: the scan cap (7) makes pages short; following next_position finds all.
    for direction in [Direction::Forwards, Direction::Backwards] {
        let filter = Filter {
            stream_prefixes: vec!["appointee-".into()],
            event_types: vec!["Rare.v1".into()],
        };
        let mut found = Vec::new();
        let mut from = None;
        let mut pages = 0;
        loop {
            let page = store
                .read_all_page(ReadAll {
                    from_position: from,
                    direction,
                    max_count: 100,
                    filter: filter.clone(),
                })
                .await
                .unwrap();
            pages += 1;
            assert!(page.events.len() <= 7);
            found.extend(page.events.iter().map(|e| e.position));
            match page.next_position {
                Some(next) => from = Some(next),
                None => break,
            }
        }
        assert!(pages >= 4, "{pages}");
        let mut want = vec![1, 16];
        if direction == Direction::Backwards {
            want.reverse();
        }
        assert_eq!(found, want);
    }
}

async fn next_item(sub: &mut Subscription) -> Result<SubscriptionItem, SubscriptionError> {
    tokio::time::timeout(Duration::from_secs(20), sub.next())
        .await
        .expect("subscription stalled")
        .expect("subscription ended")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscription_started_during_writes_sees_every_event_once_in_order() {
    let dir = TempDir::new().unwrap();
    let store = RedbStore::open(
        &path(&dir),
        StoreOptions {
            subscription_page: 16,
            ..StoreOptions::default()
        },
    )
    .unwrap();
    for _ in 0..50 {
        store
            .append(single("pre", ExpectedRevision::Any, events(2)))
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for w in 0..4 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            for _ in 0..150 {
                store
                    .append(single(&format!("w-{w}"), ExpectedRevision::Any, events(1)))
                    .await
                    .unwrap();
            }
        }));
    }
    let mut sub = store.subscribe(SubscribeFrom::Position(1), Filter::default());
    let total = 100 + 4 * 150;
    let mut positions = Vec::new();
    let mut caught_up = 0;
    while positions.len() < total {
        match next_item(&mut sub).await.unwrap() {
            SubscriptionItem::Event(e) => positions.push(e.position),
            SubscriptionItem::CaughtUp { head } => {
                caught_up += 1;
                assert_eq!(head, positions.last().copied().unwrap_or(0));
            }
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(caught_up, 1);
    assert_eq!(positions, (1..=total as u64).collect::<Vec<_>>());
}

#[tokio::test]
async fn caught_up_never_reports_a_head_below_what_was_delivered() {
    // A commit is readable a moment before the writer publishes its new head: a catch-up read
    // in that moment delivers events beyond the published head.
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    store
        .append(single("a", ExpectedRevision::Any, events(5)))
        .await
        .unwrap();
    let committed = store.shared.head();
    store.shared.set_head(Head {
        position: 3,
        ..committed
    });
    let mut sub = store.subscribe(SubscribeFrom::Position(1), Filter::default());
    let mut delivered = Vec::new();
    loop {
        match next_item(&mut sub).await.unwrap() {
            SubscriptionItem::Event(e) => delivered.push(e.position),
            SubscriptionItem::CaughtUp { head } => {
                assert_eq!(head, 5);
                break;
            }
        }
    }
    assert_eq!(delivered, vec![1, 2, 3, 4, 5]);
    store.shared.set_head(committed);
}

#[tokio::test]
async fn a_subscription_from_now_sees_only_new_events() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    store
        .append(single("a", ExpectedRevision::Any, events(3)))
        .await
        .unwrap();
    let mut sub = store.subscribe(SubscribeFrom::Now, Filter::default());
    let filter = Filter {
        stream_prefixes: vec!["b".into()],
        event_types: vec![],
    };
    let mut filtered = store.subscribe(SubscribeFrom::Position(0), filter);
    store
        .append(single("b", ExpectedRevision::Any, events(1)))
        .await
        .unwrap();
    store
        .append(single("a", ExpectedRevision::Any, events(1)))
        .await
        .unwrap();
    store
        .append(single("b", ExpectedRevision::Any, events(1)))
        .await
        .unwrap();
    // The subscription starts after position 3. Its task may first run after some of the
    // appends above were committed: it then reads them as history, so the caught-up marker
    // comes after them, its head the last of them.
    let (mut positions, mut caught_up) = (Vec::new(), None);
    while positions.len() < 3 {
        match next_item(&mut sub).await.unwrap() {
            SubscriptionItem::Event(e) => positions.push(e.position),
            SubscriptionItem::CaughtUp { head } => {
                assert!(caught_up.is_none(), "caught up twice");
                assert_eq!(head, positions.last().copied().unwrap_or(3));
                caught_up = Some(head);
            }
        }
    }
    assert_eq!(positions, vec![4, 5, 6]);
    if caught_up.is_none() {
        // All three were history.
        assert_eq!(
            next_item(&mut sub).await.unwrap(),
            SubscriptionItem::CaughtUp { head: 6 }
        );
    }
    let mut ahead = store.subscribe(SubscribeFrom::Position(100), Filter::default());
    assert_eq!(
        next_item(&mut ahead).await.unwrap(),
        SubscriptionItem::CaughtUp { head: 6 }
    );
    let mut seen = Vec::new();
    while seen.len() < 2 {
        if let SubscriptionItem::Event(e) = next_item(&mut filtered).await.unwrap() {
            seen.push(e.position);
        }
    }
    assert_eq!(seen, vec![4, 6]);
}

#[tokio::test]
async fn a_slow_subscriber_is_cut_off_and_writers_do_not_wait() {
    let dir = TempDir::new().unwrap();
    let store = RedbStore::open(
        &path(&dir),
        StoreOptions {
            live_buffer: 2,
            subscription_buffer: 1,
            ..StoreOptions::default()
        },
    )
    .unwrap();
    let mut sub = store.subscribe(SubscribeFrom::Now, Filter::default());
    assert!(matches!(
        next_item(&mut sub).await.unwrap(),
        SubscriptionItem::CaughtUp { head: 0 }
    ));
    for _ in 0..20 {
        store
            .append(single("a", ExpectedRevision::Any, events(1)))
            .await
            .unwrap();
    }
    let mut last = 0;
    let resume = loop {
        match next_item(&mut sub).await {
            Ok(SubscriptionItem::Event(e)) => {
                assert_eq!(e.position, last + 1);
                last = e.position;
            }
            Ok(other) => panic!("unexpected {other:?}"),
            Err(SubscriptionError::TooSlow { resume_from }) => break resume_from,
            Err(e) => panic!("unexpected {e}"),
        }
    };
    assert_eq!(resume, last + 1);
    assert!(resume <= 20);
}

#[tokio::test]
async fn shutdown_drains_appends_and_ends_subscriptions() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    store
        .append(single("a", ExpectedRevision::Any, events(2)))
        .await
        .unwrap();
    let mut sub = store.subscribe(SubscribeFrom::Position(1), Filter::default());
    for _ in 0..3 {
        next_item(&mut sub).await.unwrap();
    }
    store.shutdown().await;
    match next_item(&mut sub).await {
        Err(SubscriptionError::ShuttingDown { resume_from }) => assert_eq!(resume_from, 3),
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(
        store
            .append(single("a", ExpectedRevision::Any, events(1)))
            .await,
        Err(AppendError::ShuttingDown)
    ));
}

#[tokio::test]
async fn reopening_keeps_the_head_and_every_event() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    for i in 0..10 {
        store
            .append(single(
                &format!("s-{}", i % 3),
                ExpectedRevision::Any,
                events(2),
            ))
            .await
            .unwrap();
    }
    let head = store.head().await.unwrap();
    let before = all(&store).await;
    store.shutdown().await;
    drop(store);

    let store = open(&dir);
    assert_eq!(store.head().await.unwrap(), head);
    assert_eq!(all(&store).await, before);
    let next = store
        .append(single("s-0", ExpectedRevision::Exact(7), events(1)))
        .await
        .unwrap();
    assert_eq!(next.results[0].first_position, 21);
    let report = store.verify(0, 0).await.unwrap();
    assert_eq!(report.checked, 21);
    assert!(report.first_bad.is_none());
    store.shutdown().await;
}

#[tokio::test]
async fn verify_names_the_position_of_a_flipped_byte() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    for _ in 0..10 {
        store
            .append(single("a", ExpectedRevision::Any, events(1)))
            .await
            .unwrap();
    }
    assert!(store.verify(0, 0).await.unwrap().first_bad.is_none());
    store.shutdown().await;
    drop(store);

    {
        let db = redb::Database::open(path(&dir)).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut table = txn.open_table(EVENTS).unwrap();
            let mut value = table.get(6).unwrap().unwrap().value().to_vec();
            // The last byte of the payload, just before the 32-byte hash.
            let at = value.len() - HASH_LEN - 1;
            value[at] ^= 0x01;
            table.insert(6, value.as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }

    let store = open(&dir);
    let report = store.verify(0, 0).await.unwrap();
    let bad = report.first_bad.expect("the flip must be found");
    assert_eq!(bad.position, 6);
    assert!(bad.problem.contains("hash mismatch"), "{}", bad.problem);
    assert_eq!(report.checked, 5);
    let clean = store.verify(1, 5).await.unwrap();
    assert!(clean.first_bad.is_none());
    assert_eq!(clean.checked, 5);
    let later = store.verify(7, 0).await.unwrap();
    assert!(later.first_bad.is_none());
    assert_eq!(later.checked, 4);
}

#[tokio::test]
async fn verify_reports_an_undecodable_record_and_reads_report_corruption() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    store
        .append(single("a", ExpectedRevision::Any, events(3)))
        .await
        .unwrap();
    store.shutdown().await;
    drop(store);
    {
        let db = redb::Database::open(path(&dir)).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut table = txn.open_table(EVENTS).unwrap();
            table.insert(2, [1u8, 2, 3].as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    let store = open(&dir);
    let bad = store.verify(0, 0).await.unwrap().first_bad.unwrap();
    assert_eq!(bad.position, 2);
    let read = store
        .read_all(ReadAll {
            from_position: None,
            direction: Direction::Forwards,
            max_count: 10,
            filter: Filter::default(),
        })
        .await;
    assert!(matches!(read, Err(ReadError::Corrupt { position: 2, .. })));
}

#[test]
fn opening_a_garbage_file_is_corrupt_not_a_panic() {
    let dir = TempDir::new().unwrap();
    for (i, garbage) in [
        b"hello, this is not a database".to_vec(),
        vec![0xA5u8; 64 * 1024],
        (0..10_000u32).map(|i| (i * 7919 % 251) as u8).collect(),
    ]
    .into_iter()
    .enumerate()
    {
        let file = dir.path().join(format!("garbage-{i}.redb"));
        std::fs::write(&file, garbage).unwrap();
        match RedbStore::open(&file, StoreOptions::default()) {
            Err(OpenError::Corrupt { path, detail }) => {
                eprintln!("garbage {i}: {detail}");
                assert_eq!(path, file)
            }
            Err(other) => panic!("garbage {i}: expected corrupt, got {other}"),
            Ok(_) => panic!("garbage {i}: opened"),
        }
    }
}

#[tokio::test]
async fn opening_a_redb_file_with_a_damaged_header_is_an_error_not_a_panic() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    store
        .append(single("a", ExpectedRevision::Any, events(3)))
        .await
        .unwrap();
    store.shutdown().await;
    drop(store);
    let mut bytes = std::fs::read(path(&dir)).unwrap();
    for b in bytes.iter_mut().skip(16).take(4096) {
        *b = 0x5A;
    }
    std::fs::write(path(&dir), bytes).unwrap();
    match RedbStore::open(&path(&dir), StoreOptions::default()) {
        Err(OpenError::Corrupt { detail, .. }) => eprintln!("damaged header: {detail}"),
        Err(other) => panic!("expected corrupt, got {other}"),
        Ok(_) => panic!("a damaged file opened"),
    }
}

#[tokio::test]
async fn a_second_open_of_the_same_file_is_locked() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    assert!(matches!(
        RedbStore::open(&path(&dir), StoreOptions::default()),
        Err(OpenError::Locked { .. })
    ));
    store.shutdown().await;
}

/// An in-memory redb backend whose writes and syncs can be made to fail with "disk full"; clones
/// share the memory (a reopen sees what was written).
#[derive(Debug, Clone)]
struct FlakyBackend {
    inner: Arc<redb::backends::InMemoryBackend>,
    full: Arc<std::sync::atomic::AtomicBool>,
}

impl FlakyBackend {
    /// A log file and a journal on fresh memory, both full while the flag returned is set.
    fn log_and_journal() -> (Arc<std::sync::atomic::AtomicBool>, Self, Self) {
        let full = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let file = || FlakyBackend {
            inner: Arc::new(redb::backends::InMemoryBackend::new()),
            full: Arc::clone(&full),
        };
        let (log, journal) = (file(), file());
        (full, log, journal)
    }

    fn check(&self) -> Result<(), std::io::Error> {
        if self.full.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(std::io::Error::from(std::io::ErrorKind::StorageFull));
        }
        Ok(())
    }
}

impl StorageBackend for FlakyBackend {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.inner.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        self.inner.read(offset, out)
    }
    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        self.check()?;
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> Result<(), std::io::Error> {
        self.check()?;
        self.inner.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        self.check()?;
        self.inner.write(offset, data)
    }
}

/// Appends `request` once a full disk has space again: appends soon after a failed reopen are
/// refused without a new try (the back-off), so it is retried for at most 10 s.
async fn append_once_space_returns(store: &RedbStore, request: AppendRequest) -> AppendOutcome {
    let started = std::time::Instant::now();
    loop {
        match store.append(request.clone()).await {
            Ok(outcome) => return outcome,
            Err(AppendError::StorageFull(_)) if started.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(other) => panic!("writes did not resume: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_commit_fails_its_whole_batch_and_keeps_the_head() {
    let (full, backend, journal) = FlakyBackend::log_and_journal();
    let store = RedbStore::open_with_backend(
        move || backend.clone(),
        move || journal.clone(),
        Path::new("memory"),
        StoreOptions::default(),
    )
    .unwrap();
    store
        .append(single("a", ExpectedRevision::Any, events(2)))
        .await
        .unwrap();
    let head = store.head().await.unwrap();
    let mut sub = store.subscribe(SubscribeFrom::Now, Filter::default());
    assert_eq!(
        next_item(&mut sub).await.unwrap(),
        SubscriptionItem::CaughtUp { head: 2 }
    );

    full.store(true, std::sync::atomic::Ordering::SeqCst);
    let first = store
        .append(single("a", ExpectedRevision::Any, events(1)))
        .await;
    assert!(
        matches!(first, Err(AppendError::StorageFull(_))),
        "{first:?}"
    );
    // While the disk stays full the log cannot even be reopened: every append fails.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            store
                .append(single(&format!("s-{i}"), ExpectedRevision::Any, events(1)))
                .await
        }));
    }
    for task in tasks {
        match task.await.unwrap() {
            Err(AppendError::StorageFull(_) | AppendError::Storage(_)) => {}
            other => panic!("expected a storage failure, got {other:?}"),
        }
    }
    assert_eq!(store.head().await.unwrap(), head);
    // Closed for writes, the log is read through its read-only view: both events, verified.
    assert!(!store.is_writable());
    assert_eq!(all(&store).await.len(), 2);
    assert!(store.verify(1, 0).await.unwrap().first_bad.is_none());
    // Appends right after a failed reopen are refused with its error, without trying again
    // each time (a reopen reads the whole file).
    let reopens = store.shared.reopens.load(Ordering::Relaxed);
    for _ in 0..5 {
        let refused = store
            .append(single("a", ExpectedRevision::Any, events(1)))
            .await;
        assert!(
            matches!(refused, Err(AppendError::StorageFull(_))),
            "{refused:?}"
        );
    }
    let tried = store.shared.reopens.load(Ordering::Relaxed) - reopens;
    assert!(tried < 5, "{tried} reopens for 5 appends");
    full.store(false, std::sync::atomic::Ordering::SeqCst);

    // Space is back: within the back-off the store reopens the database and writes resume
    // where the chain ended; nothing of the failed batches was published to subscribers.
    let after =
        append_once_space_returns(&store, single("a", ExpectedRevision::Exact(1), events(1))).await;
    assert_eq!(after.results[0].first_position, 3);
    assert!(store.is_writable());
    match next_item(&mut sub).await.unwrap() {
        SubscriptionItem::Event(e) => assert_eq!(e.position, 3),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(all(&store).await.len(), 3);
    assert!(store.verify(1, 0).await.unwrap().first_bad.is_none());
}

/// Turns a closed log into what storage format 1 wrote: the same tables plus `streams`
/// (stream name → last revision), and version byte 1.
fn downgrade_to_format_1(dir: &TempDir, streams: &[(&str, u64)]) {
    let db = redb::Database::open(path(dir)).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut table = txn.open_table(LEGACY_STREAMS).unwrap();
        for (stream, last) in streams {
            table.insert(*stream, *last).unwrap();
        }
        let mut meta = txn.open_table(META).unwrap();
        meta.insert(META_FORMAT_VERSION, [1u8].as_slice()).unwrap();
    }
    txn.commit().unwrap();
}

/// Sets the version byte of a closed log.
fn set_format_version(dir: &TempDir, version: u8) {
    let db = redb::Database::open(path(dir)).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut meta = txn.open_table(META).unwrap();
        meta.insert(META_FORMAT_VERSION, [version].as_slice())
            .unwrap();
    }
    txn.commit().unwrap();
}

fn stored_format(dir: &TempDir) -> (Vec<u8>, bool) {
    use redb::ReadableDatabase;
    let db = redb::Database::open(path(dir)).unwrap();
    let txn = db.begin_read().unwrap();
    let meta = txn.open_table(META).unwrap();
    let version = meta
        .get(META_FORMAT_VERSION)
        .unwrap()
        .unwrap()
        .value()
        .to_vec();
    let has_streams = txn.open_table(LEGACY_STREAMS).is_ok();
    (version, has_streams)
}

#[tokio::test]
async fn a_format_1_file_is_upgraded_on_open_and_keeps_every_stream() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    for i in 0..9 {
        store
            .append(single(
                &format!("s-{}", i % 3),
                ExpectedRevision::Any,
                events(2),
            ))
            .await
            .unwrap();
    }
    let before = all(&store).await;
    store.shutdown().await;
    drop(store);
    downgrade_to_format_1(&dir, &[("s-0", 5), ("s-1", 5), ("s-2", 5)]);
    drop_merkle_tree(&dir);
    assert_eq!(stored_format(&dir), (vec![1], true));

    let store = open(&dir);
    assert_eq!(all(&store).await, before);
    let s1 = store
        .read_stream(ReadStream {
            stream: name("s-1"),
            from_revision: None,
            direction: Direction::Backwards,
            max_count: 2,
        })
        .await
        .unwrap();
    assert_eq!(
        s1.iter().map(|e| e.revision).collect::<Vec<_>>(),
        vec![5, 4]
    );
    assert_conflict(
        store
            .append(single("s-0", ExpectedRevision::Exact(4), events(1)))
            .await,
        "s-0",
        Some(5),
    );
    let next = store
        .append(single("s-0", ExpectedRevision::Exact(5), events(1)))
        .await
        .unwrap();
    assert_eq!(next.results[0].first_revision, 6);
    assert_eq!(next.results[0].first_position, 19);
    assert!(store.verify(0, 0).await.unwrap().first_bad.is_none());
    store.shutdown().await;
    drop(store);
    assert_eq!(stored_format(&dir), (vec![STORAGE_FORMAT_VERSION], false));
}

#[tokio::test]
async fn a_file_of_a_newer_storage_format_is_refused_with_the_versions_named() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    store
        .append(single("a", ExpectedRevision::Any, events(1)))
        .await
        .unwrap();
    store.shutdown().await;
    drop(store);
    set_format_version(&dir, STORAGE_FORMAT_VERSION + 1);
    match RedbStore::open(&path(&dir), StoreOptions::default()) {
        Err(OpenError::Corrupt { detail, .. }) => {
            assert!(detail.contains("newer"), "{detail}");
            assert!(
                detail.contains(&format!("[{}]", STORAGE_FORMAT_VERSION + 1)),
                "{detail}"
            );
        }
        Err(other) => panic!("expected a format error, got {other}"),
        Ok(_) => panic!("a newer format must be refused"),
    }
}

#[tokio::test]
async fn a_stream_s_last_revision_is_its_last_index_key_even_next_to_similar_names() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    // "a" sorts right before "a-" and "ab"; each stream's last revision must be its own.
    for (stream, n) in [("ab", 3), ("a", 2), ("a-", 4), ("b", 1)] {
        store
            .append(single(stream, ExpectedRevision::NoStream, events(n)))
            .await
            .unwrap();
    }
    for (stream, last) in [("a", 1), ("a-", 3), ("ab", 2), ("b", 0)] {
        let next = store
            .append(single(stream, ExpectedRevision::Exact(last), events(1)))
            .await
            .unwrap();
        assert_eq!(next.results[0].first_revision, last + 1, "{stream}");
    }
    assert_conflict(
        store
            .append(single("a-b", ExpectedRevision::StreamExists, events(1)))
            .await,
        "a-b",
        None,
    );
    store.shutdown().await;
}

/// Storage that loses everything not flushed when the power is cut: writes go to `current`, a
/// `sync_data` copies `current` to `durable`, and [`PowerCut::after_cut`] is the storage as it
/// comes back (the durable bytes only).
#[derive(Debug, Clone, Default)]
struct PowerCut {
    current: Arc<Mutex<Vec<u8>>>,
    durable: Arc<Mutex<Vec<u8>>>,
}

impl PowerCut {
    fn after_cut(&self) -> PowerCut {
        let durable = self.durable.lock().unwrap().clone();
        PowerCut {
            current: Arc::new(Mutex::new(durable.clone())),
            durable: Arc::new(Mutex::new(durable)),
        }
    }
}

impl StorageBackend for PowerCut {
    fn len(&self) -> Result<u64, std::io::Error> {
        Ok(self.current.lock().unwrap().len() as u64)
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        let current = self.current.lock().unwrap();
        let start = offset as usize;
        let Some(bytes) = current.get(start..start + out.len()) else {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
        };
        out.copy_from_slice(bytes);
        Ok(())
    }
    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        self.current.lock().unwrap().resize(len as usize, 0);
        Ok(())
    }
    fn sync_data(&self) -> Result<(), std::io::Error> {
        let current = self.current.lock().unwrap().clone();
        *self.durable.lock().unwrap() = current;
        Ok(())
    }
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        let mut current = self.current.lock().unwrap();
        let start = offset as usize;
        let Some(target) = current.get_mut(start..start + data.len()) else {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
        };
        target.copy_from_slice(data);
        Ok(())
    }
}

fn open_on(file: &PowerCut, journal: &PowerCut, options: StoreOptions) -> Arc<RedbStore> {
    let (file, journal) = (file.clone(), journal.clone());
    RedbStore::open_with_backend(
        move || file.clone(),
        move || journal.clone(),
        Path::new("power-cut"),
        options,
    )
    .unwrap()
}

/// Options that never checkpoint on their own, so the journal alone holds what was appended.
fn no_checkpoints() -> StoreOptions {
    StoreOptions {
        checkpoint_bytes: u64::MAX,
        checkpoint_interval: Duration::from_secs(3600),
        ..StoreOptions::default()
    }
}

/// Appends `n` single events (concurrently, so that some share a commit) and a multi-stream
/// append; returns every acknowledged record's (position, event id).
async fn acknowledged_appends(store: &Arc<RedbStore>, n: usize) -> Vec<(u64, Uuid)> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let store = Arc::clone(store);
        tasks.push(tokio::spawn(async move {
            let e = event(&format!("{{\"n\":{i}}}"));
            let id = e.event_id;
            let outcome = store
                .append(single(
                    &format!("s-{}", i % 3),
                    ExpectedRevision::Any,
                    vec![e],
                ))
                .await
                .unwrap();
            vec![(outcome.results[0].first_position, id)]
        }));
    }
    let mut out = Vec::new();
    for task in tasks {
        out.extend(task.await.unwrap());
    }
    let a = events(2);
    let b = events(1);
    let ids: Vec<Uuid> = a.iter().chain(&b).map(|e| e.event_id).collect();
    let outcome = store
        .append(AppendRequest {
            appends: vec![
                StreamAppend {
                    stream: name("multi-a"),
                    expected: ExpectedRevision::NoStream,
                    events: a,
                },
                StreamAppend {
                    stream: name("multi-b"),
                    expected: ExpectedRevision::NoStream,
                    events: b,
                },
            ],
        })
        .await
        .unwrap();
    let first = outcome.results[0].first_position;
    out.extend(
        ids.into_iter()
            .enumerate()
            .map(|(i, id)| (first + i as u64, id)),
    );
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_power_cut_loses_nothing_acknowledged_the_journal_restores_it() {
    let (file, journal) = (PowerCut::default(), PowerCut::default());
    let store = open_on(&file, &journal, no_checkpoints());
    let acknowledged = acknowledged_appends(&store, 40).await;
    let head = store.head().await.unwrap();
    assert_eq!(head.position, 43);

    // The power goes while the store runs: only what was flushed survives.
    let (file_after, journal_after) = (file.after_cut(), journal.after_cut());

    // The log file alone lost the commits since the last checkpoint (none was made) ...
    let without_journal = open_on(
        &file_after.after_cut(),
        &PowerCut::default(),
        no_checkpoints(),
    );
    assert_eq!(without_journal.head().await.unwrap().position, 0);
    drop(without_journal);

    // ... and the journal brings every acknowledged record back, chained and indexed.
    let back = open_on(&file_after, &journal_after, no_checkpoints());
    assert_eq!(back.head().await.unwrap(), head);
    let records = all(&back).await;
    let found: Vec<(u64, Uuid)> = records.iter().map(|r| (r.position, r.event_id)).collect();
    assert_eq!(found, acknowledged);
    assert!(back.verify(1, 0).await.unwrap().first_bad.is_none());
    // The Merkle tree came back with the records it covers.
    assert_eq!(
        back.tree_head().await.unwrap(),
        store.tree_head().await.unwrap()
    );
    assert_eq!(back.tree_head().await.unwrap().root, records_root(&records));
    // Stream indexes and idempotency came back too: revisions continue, a retry is a replay.
    let stream = back
        .read_stream(ReadStream {
            stream: name("multi-a"),
            from_revision: Some(0),
            direction: Direction::Forwards,
            max_count: 10,
        })
        .await
        .unwrap();
    assert_eq!(stream.len(), 2);
    let next = back
        .append(single("multi-a", ExpectedRevision::Exact(1), events(1)))
        .await
        .unwrap();
    assert_eq!(next.results[0].first_position, 44);
    let retried = records[0].clone();
    let replay = back
        .append(single(
            retried.stream.as_str(),
            ExpectedRevision::Any,
            vec![ProposedEvent {
                event_id: retried.event_id,
                event_type: retried.event_type.clone(),
                data: retried.data.clone(),
                content_type: retried.content_type,
                metadata: retried.metadata.clone(),
            }],
        ))
        .await
        .unwrap();
    assert!(replay.replayed);
    assert_eq!(replay.results[0].first_position, retried.position);
    back.shutdown().await;
    store.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_frame_torn_by_a_power_cut_is_dropped_and_the_rest_restored() {
    let (file, journal) = (PowerCut::default(), PowerCut::default());
    let store = open_on(&file, &journal, no_checkpoints());
    for _ in 0..5 {
        store
            .append(single("s", ExpectedRevision::Any, events(1)))
            .await
            .unwrap();
    }
    let before = journal.durable.lock().unwrap().clone();
    store
        .append(single("s", ExpectedRevision::Exact(4), events(3)))
        .await
        .unwrap();
    let after = journal.durable.lock().unwrap().clone();
    assert_eq!(
        before.len(),
        after.len(),
        "the frame went into allocated space"
    );
    // The last frame is where the two differ; a crash in the middle of its write leaves its
    // first half only.
    let first = before.iter().zip(&after).position(|(a, b)| a != b).unwrap();
    let last = before
        .iter()
        .zip(&after)
        .rposition(|(a, b)| a != b)
        .unwrap();
    let mut torn = after.clone();
    let middle = first + (last - first) / 2;
    torn[middle..=last].copy_from_slice(&before[middle..=last]);
    let torn = PowerCut {
        current: Arc::new(Mutex::new(torn.clone())),
        durable: Arc::new(Mutex::new(torn)),
    };

    let back = open_on(&file.after_cut(), &torn, no_checkpoints());
    assert_eq!(back.head().await.unwrap().position, 5);
    assert!(back.verify(1, 0).await.unwrap().first_bad.is_none());
    // The torn frame is gone for good: the next append takes its positions.
    let next = back
        .append(single("s", ExpectedRevision::Exact(4), events(1)))
        .await
        .unwrap();
    assert_eq!(next.results[0].first_position, 6);
    back.shutdown().await;

    // The whole frame, flushed, comes back.
    let whole = open_on(&file.after_cut(), &journal.after_cut(), no_checkpoints());
    assert_eq!(whole.head().await.unwrap().position, 8);
    whole.shutdown().await;
    store.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_checkpoint_makes_the_log_file_durable_and_starts_the_journal_over() {
    let (file, journal) = (PowerCut::default(), PowerCut::default());
    let options = StoreOptions {
        checkpoint_bytes: 1,
        ..StoreOptions::default()
    };
    let store = open_on(&file, &journal, options);
    for _ in 0..4 {
        store
            .append(single("s", ExpectedRevision::Any, events(2)))
            .await
            .unwrap();
    }
    // Every commit is checkpointed right after its replies, so by the time the fourth append is
    // acknowledged the third one's checkpoint is done: the log file alone, after a power cut,
    // has at least the first three.
    let alone = open_on(&file.after_cut(), &PowerCut::default(), no_checkpoints());
    assert!(alone.head().await.unwrap().position >= 6);
    alone.shutdown().await;
    // And a clean stop checkpoints what the journal holds.
    let (file2, journal2) = (PowerCut::default(), PowerCut::default());
    let quiet = open_on(&file2, &journal2, no_checkpoints());
    quiet
        .append(single("s", ExpectedRevision::Any, events(2)))
        .await
        .unwrap();
    quiet.shutdown().await;
    let alone = open_on(&file2.after_cut(), &PowerCut::default(), no_checkpoints());
    assert_eq!(alone.head().await.unwrap().position, 2);
    alone.shutdown().await;
    store.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_journal_of_another_log_is_refused() {
    let (file, journal) = (PowerCut::default(), PowerCut::default());
    let store = open_on(&file, &journal, no_checkpoints());
    store
        .append(single("s", ExpectedRevision::Any, events(2)))
        .await
        .unwrap();
    let journal_after = journal.after_cut();
    store.shutdown().await;
    // A different log whose durable file already holds two other records.
    let (other, other_journal) = (PowerCut::default(), PowerCut::default());
    let o = open_on(&other, &other_journal, no_checkpoints());
    o.append(single("t", ExpectedRevision::Any, events(2)))
        .await
        .unwrap();
    o.shutdown().await;
    let (other_file, other_journal) = (other.after_cut(), other_journal.after_cut());
    let _ = other_journal;
    let err = RedbStore::open_with_backend(
        move || other_file.clone(),
        move || journal_after.clone(),
        Path::new("power-cut"),
        no_checkpoints(),
    )
    .err()
    .expect("refused");
    let message = err.to_string();
    assert!(message.contains("belongs to another log"), "{message}");
}

#[tokio::test]
async fn a_format_2_file_is_upgraded_on_open() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    store
        .append(single("a", ExpectedRevision::Any, events(3)))
        .await
        .unwrap();
    store.shutdown().await;
    drop(store);
    set_format_version(&dir, 2);
    drop_merkle_tree(&dir);
    assert_eq!(stored_format(&dir), (vec![2], false));
    let store = open(&dir);
    let next = store
        .append(single("a", ExpectedRevision::Exact(2), events(1)))
        .await
        .unwrap();
    assert_eq!(next.results[0].first_position, 4);
    store.shutdown().await;
    drop(store);
    assert_eq!(stored_format(&dir), (vec![STORAGE_FORMAT_VERSION], false));
}

#[tokio::test]
async fn the_journal_lives_beside_the_log_while_it_runs_and_is_folded_in_at_a_clean_stop() {
    let dir = TempDir::new().unwrap();
    let journal = journal_path(&path(&dir));
    assert_eq!(journal.file_name().unwrap(), "log.journal");
    let store = RedbStore::open(&path(&dir), no_checkpoints()).unwrap();
    store
        .append(single("a", ExpectedRevision::Any, events(2)))
        .await
        .unwrap();
    assert!(journal.exists());
    store.shutdown().await;
    drop(store);
    assert!(!journal.exists(), "a clean stop removes the journal");
    // Everything is in the log file alone.
    let store = open(&dir);
    assert_eq!(all(&store).await.len(), 2);
    store.shutdown().await;
}

/// The read-only view that serves reads while a reopen cannot write the file: opened on the
/// real file beside a running store, it holds every record — those checkpointed into the file
/// and those only in the journal — and changes neither file.
#[tokio::test]
async fn the_read_only_view_holds_every_record_and_changes_no_file() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    store
        .append(single("a", ExpectedRevision::Any, events(5)))
        .await
        .unwrap();
    store.shutdown().await;
    drop(store);
    // Reopened with checkpoints far off: what is appended now is in the journal only.
    let store = RedbStore::open(
        &path(&dir),
        StoreOptions {
            checkpoint_interval: Duration::from_secs(3600),
            ..StoreOptions::default()
        },
    )
    .unwrap();
    for stream in ["a", "b"] {
        store
            .append(single(stream, ExpectedRevision::Any, events(2)))
            .await
            .unwrap();
    }
    let expected = all(&store).await;
    assert_eq!(expected.len(), 9);
    let log_before = std::fs::read(path(&dir)).unwrap();
    let journal_before = std::fs::read(journal_path(&path(&dir))).unwrap();
    assert!(journal_before.len() > journal::HEADER_LEN as usize);

    let (view, tree) = store.shared.open_read_only().unwrap();
    assert_eq!(tree, store.shared.tree());
    assert!(view.read_only.is_some());
    assert_eq!(writer::load_head(&view.db).unwrap(), store.shared.head());
    let scan = read::scan(
        &view.db,
        Some(1),
        Direction::Forwards,
        100,
        &Filter::default(),
        100,
    )
    .unwrap();
    assert_eq!(scan.events, expected);
    drop(view);
    assert!(std::fs::read(path(&dir)).unwrap() == log_before);
    assert!(std::fs::read(journal_path(&path(&dir))).unwrap() == journal_before);
    store.shutdown().await;
}

/// A log opened on a full disk starts for reads only: every event is read back and verified,
/// appends are refused as the disk being full, and once space returns an append opens it for
/// writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_opened_on_a_full_disk_starts_for_reads_and_opens_for_writes_when_space_returns() {
    let (full, backend, journal) = FlakyBackend::log_and_journal();
    let open = || {
        let (backend, journal) = (backend.clone(), journal.clone());
        RedbStore::open_with_backend(
            move || backend.clone(),
            move || journal.clone(),
            Path::new("memory"),
            StoreOptions::default(),
        )
    };
    let store = open().unwrap();
    store
        .append(single("a", ExpectedRevision::Any, events(2)))
        .await
        .unwrap();
    store.shutdown().await;
    drop(store);

    full.store(true, std::sync::atomic::Ordering::SeqCst);
    let store = open().unwrap();
    assert!(!store.is_writable());
    assert_eq!(all(&store).await.len(), 2);
    assert_eq!(store.head().await.unwrap().position, 2);
    assert!(store.verify(1, 0).await.unwrap().first_bad.is_none());
    let refused = store
        .append(single("a", ExpectedRevision::Exact(1), events(1)))
        .await;
    assert!(
        matches!(refused, Err(AppendError::StorageFull(_))),
        "{refused:?}"
    );

    full.store(false, std::sync::atomic::Ordering::SeqCst);
    let written =
        append_once_space_returns(&store, single("a", ExpectedRevision::Exact(1), events(1))).await;
    assert_eq!(written.results[0].first_position, 3);
    assert!(store.is_writable());
    assert_eq!(all(&store).await.len(), 3);
    store.shutdown().await;
}

/// Removes the Merkle tree of a closed log, as files of storage format 3 and earlier lack it.
fn drop_merkle_tree(dir: &TempDir) {
    let db = redb::Database::open(path(dir)).unwrap();
    let txn = db.begin_write().unwrap();
    txn.delete_table(tree::MERKLE).unwrap();
    txn.commit().unwrap();
}

/// Changes a closed log's stored node at `id`.
fn damage_node(dir: &TempDir, id: crate::log::merkle::NodeId) {
    let db = redb::Database::open(path(dir)).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut table = txn.open_table(tree::MERKLE).unwrap();
        let mut hash = table.get(id.storage_index()).unwrap().unwrap().value();
        hash[0] ^= 1;
        table.insert(id.storage_index(), hash).unwrap();
    }
    txn.commit().unwrap();
}

/// The RFC 6962 root over `records`' canonical bytes, computed here from the records alone.
fn records_root(records: &[RecordedEvent]) -> [u8; 32] {
    fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
        use crate::log::merkle::{empty_root, node_hash};
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                // The largest power of two below n.
                let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }
    let leaves: Vec<[u8; 32]> = records
        .iter()
        .map(|r| crate::log::merkle::leaf_hash(&crate::log::codec::encode_canonical(r)))
        .collect();
    mth(&leaves)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_merkle_tree_grows_with_the_log_and_proves_every_record() {
    use crate::log::merkle::{leaf_hash, verify_consistency, verify_inclusion};
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    assert_eq!(store.tree_head().await.unwrap().size, 0);
    assert_eq!(
        store.tree_head().await.unwrap().root,
        crate::log::merkle::empty_root()
    );
    // Batches of every shape: concurrent single appends share commits, a batch of 7, a
    // rejected request in between writes nothing to the tree.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            store
                .append(single(&format!("c-{i}"), ExpectedRevision::Any, events(1)))
                .await
                .unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    store
        .append(single("b", ExpectedRevision::NoStream, events(7)))
        .await
        .unwrap();
    assert!(
        store
            .append(single("b", ExpectedRevision::NoStream, events(2)))
            .await
            .is_err()
    );
    store
        .append(single("b", ExpectedRevision::Exact(6), events(3)))
        .await
        .unwrap();
    let records = all(&store).await;
    let n = records.len() as u64;
    assert_eq!(n, 30);
    let head = store.tree_head().await.unwrap();
    assert_eq!(head.size, n);
    assert_eq!(head.root, records_root(&records));
    for size in 1..=n {
        let root = store.tree_root(size).await.unwrap();
        assert_eq!(root, records_root(&records[..size as usize]), "size {size}");
        for position in 1..=size {
            let proof = store.inclusion_proof(position, size).await.unwrap();
            let leaf = leaf_hash(&crate::log::codec::encode_canonical(
                &records[position as usize - 1],
            ));
            verify_inclusion(position - 1, size, &leaf, &proof, &root)
                .unwrap_or_else(|e| panic!("{position} in {size}: {e}"));
        }
        let proof = store.consistency_proof(size, n).await.unwrap();
        verify_consistency(size, n, &proof, &root, &head.root)
            .unwrap_or_else(|e| panic!("{size} → {n}: {e}"));
    }
    // Sizes beyond the log and empty trees are refused as invalid requests.
    for result in [
        store.tree_root(n + 1).await.map(|_| ()),
        store.inclusion_proof(0, n).await.map(|_| ()),
        store.inclusion_proof(n, n + 1).await.map(|_| ()),
        store.consistency_proof(0, n).await.map(|_| ()),
        store.consistency_proof(5, 4).await.map(|_| ()),
    ] {
        assert!(matches!(result, Err(ReadError::Invalid(_))), "{result:?}");
    }
    assert!(store.verify(0, 0).await.unwrap().first_bad.is_none());
    store.shutdown().await;
    drop(store);
    let store = open(&dir);
    assert_eq!(store.tree_head().await.unwrap(), head);
    store.shutdown().await;
}

#[tokio::test]
async fn a_format_3_file_gets_its_merkle_tree_built_on_open() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    for i in 0..13 {
        store
            .append(single(
                &format!("s-{}", i % 4),
                ExpectedRevision::Any,
                events(i % 3 + 1),
            ))
            .await
            .unwrap();
    }
    let head = store.tree_head().await.unwrap();
    store.shutdown().await;
    drop(store);
    set_format_version(&dir, 3);
    drop_merkle_tree(&dir);

    let store = open(&dir);
    assert_eq!(store.tree_head().await.unwrap(), head);
    assert_eq!(head.root, records_root(&all(&store).await));
    assert!(store.verify(0, 0).await.unwrap().first_bad.is_none());
    store.shutdown().await;
    drop(store);
    assert_eq!(stored_format(&dir), (vec![STORAGE_FORMAT_VERSION], false));
}

#[tokio::test]
async fn a_damaged_merkle_node_is_found_by_verify_and_a_damaged_last_leaf_at_open() {
    use crate::log::merkle::NodeId;
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    for _ in 0..12 {
        store
            .append(single("a", ExpectedRevision::Any, events(1)))
            .await
            .unwrap();
    }
    store.shutdown().await;
    drop(store);

    // The node over positions 5..=8 is completed by position 8.
    damage_node(&dir, NodeId { level: 2, index: 1 });
    let store = open(&dir);
    let bad = store.verify(0, 0).await.unwrap().first_bad.expect("found");
    assert_eq!(bad.position, 8);
    assert!(bad.problem.contains("Merkle"), "{}", bad.problem);
    assert!(store.verify(1, 7).await.unwrap().first_bad.is_none());
    store.shutdown().await;
    drop(store);

    // The last leaf is checked against the last record at every open.
    damage_node(&dir, NodeId::leaf(11));
    let refused = RedbStore::open(&path(&dir), StoreOptions::default());
    match refused {
        Err(OpenError::Corrupt { detail, .. }) => {
            assert!(detail.contains("leaf for position 12"), "{detail}")
        }
        other => panic!("expected a corrupt file, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn a_record_changed_and_its_chain_recomputed_is_caught_by_the_merkle_tree() {
    use crate::log::codec::{chain_hash, split_stored};
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    for i in 0..10 {
        store
            .append(single(
                "a",
                ExpectedRevision::Any,
                vec![event(&format!("{{\"v\":{i}}}"))],
            ))
            .await
            .unwrap();
    }
    store.shutdown().await;
    drop(store);
    {
        // Rewrite position 6's payload and re-chain every record after it, and the head.
        let db = redb::Database::open(path(&dir)).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut table = txn.open_table(EVENTS).unwrap();
            let mut prev = split_stored(table.get(5).unwrap().unwrap().value())
                .unwrap()
                .1;
            for position in 6..=10u64 {
                let stored = table.get(position).unwrap().unwrap().value().to_vec();
                let (canonical, _) = split_stored(&stored).unwrap();
                let mut canonical = canonical.to_vec();
                if position == 6 {
                    let at = canonical.len() - 2;
                    canonical[at] = b'9';
                }
                let hash = chain_hash(&prev, &canonical);
                canonical.extend_from_slice(&hash);
                table.insert(position, canonical.as_slice()).unwrap();
                prev = hash;
            }
            let mut meta = txn.open_table(META).unwrap();
            let head = Head {
                position: 10,
                hash: prev,
            };
            meta.insert(META_HEAD, encode_head(&head).as_slice())
                .unwrap();
        }
        txn.commit().unwrap();
    }
    let store = open(&dir);
    let bad = store.verify(0, 0).await.unwrap().first_bad.expect("found");
    assert_eq!(bad.position, 6);
    assert!(bad.problem.contains("Merkle"), "{}", bad.problem);
    store.shutdown().await;
}

/// A backend that keeps no tree: the redb store with the trait's default tree operations.
struct WithoutTree(Arc<RedbStore>);

#[async_trait]
impl EventStore for WithoutTree {
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, AppendError> {
        self.0.append(request).await
    }
    async fn read_stream(&self, request: ReadStream) -> Result<Vec<RecordedEvent>, ReadError> {
        self.0.read_stream(request).await
    }
    async fn find_event(&self, event_id: Uuid) -> Result<Option<RecordedEvent>, ReadError> {
        self.0.find_event(event_id).await
    }
    async fn read_all(&self, request: ReadAll) -> Result<Vec<RecordedEvent>, ReadError> {
        self.0.read_all(request).await
    }
    async fn read_all_page(&self, request: ReadAll) -> Result<ReadAllPage, ReadError> {
        self.0.read_all_page(request).await
    }
    fn subscribe(&self, start: SubscribeFrom, filter: Filter) -> Subscription {
        self.0.subscribe(start, filter)
    }
    async fn head(&self) -> Result<Head, ReadError> {
        self.0.head().await
    }
    async fn verify(&self, from: u64, to: u64) -> Result<VerifyReport, ReadError> {
        self.0.verify(from, to).await
    }
}

#[tokio::test]
async fn the_default_tree_operations_agree_with_the_stored_tree() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    for i in 0..11 {
        store
            .append(single("a", ExpectedRevision::Any, events(i % 2 + 1)))
            .await
            .unwrap();
    }
    let plain = WithoutTree(Arc::clone(&store));
    let n = store.head().await.unwrap().position;
    assert_eq!(
        plain.tree_head().await.unwrap(),
        store.tree_head().await.unwrap()
    );
    for size in 1..=n {
        assert_eq!(
            plain.tree_root(size).await.unwrap(),
            store.tree_root(size).await.unwrap()
        );
        for position in 1..=size {
            assert_eq!(
                plain.inclusion_proof(position, size).await.unwrap(),
                store.inclusion_proof(position, size).await.unwrap()
            );
        }
        assert_eq!(
            plain.consistency_proof(size, n).await.unwrap(),
            store.consistency_proof(size, n).await.unwrap()
        );
    }
    assert!(matches!(
        plain.tree_root(n + 1).await,
        Err(ReadError::Invalid(_))
    ));
    store.shutdown().await;
}
