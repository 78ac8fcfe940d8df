//! The redb event log against a simple in-memory model, under random sequences of appends over
//! a few streams with every expected-revision mode and retries of earlier requests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;
use uuid::Uuid;

use oversight::log::{
    AppendError, AppendOutcome, AppendRequest, ContentType, Direction, EventStore, EventType,
    ExpectedRevision, Filter, Metadata, ProposedEvent, ReadAll, ReadStream, RedbStore,
    StoreOptions, StreamAppend, StreamAppended, StreamName,
};

const STREAMS: [&str; 3] = ["appointee-1", "appointee-2", "committee-1"];

#[derive(Debug, Clone)]
enum Op {
    /// A new request: (stream index, expected revision, event count) per distinct stream.
    Append(Vec<(usize, ExpectedRevision, usize)>),
    /// Sends an earlier request again; `changed` alters the first event's payload.
    Retry { index: usize, changed: bool },
}

fn expected() -> impl Strategy<Value = ExpectedRevision> {
    prop_oneof![
        Just(ExpectedRevision::Any),
        Just(ExpectedRevision::NoStream),
        Just(ExpectedRevision::StreamExists),
        (0u64..4).prop_map(ExpectedRevision::Exact),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => proptest::sample::subsequence(vec![0usize, 1, 2], 1..=2)
            .prop_flat_map(|streams| {
                let n = streams.len();
                (
                    Just(streams),
                    proptest::collection::vec((expected(), 1usize..=3), n),
                )
            })
            .prop_map(|(streams, rest)| Op::Append(
                streams
                    .into_iter()
                    .zip(rest)
                    .map(|(s, (e, n))| (s, e, n))
                    .collect()
            )),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(index, changed)| Op::Retry { index, changed }),
    ]
}

/// What the model expects of one append.
#[derive(Debug, PartialEq, Eq)]
enum Expect {
    Ok(AppendOutcome),
    WrongRevision { stream: String, actual: Option<u64> },
    IdConflict(Uuid),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    stream: String,
    revision: u64,
    event_id: Uuid,
    data: Vec<u8>,
}

#[derive(Default)]
struct Model {
    log: Vec<Row>,
    streams: BTreeMap<String, u64>,
    /// id → (position, stream, data)
    ids: HashMap<Uuid, (u64, String, Vec<u8>)>,
}

impl Model {
    fn apply(&mut self, request: &AppendRequest) -> Expect {
        let mut known = Vec::new();
        let mut first_known = None;
        for append in &request.appends {
            for e in &append.events {
                if let Some((position, stream, data)) = self.ids.get(&e.event_id) {
                    if stream != append.stream.as_str() || *data != e.data {
                        return Expect::IdConflict(e.event_id);
                    }
                    first_known.get_or_insert(e.event_id);
                    known.push(*position);
                }
            }
        }
        if !known.is_empty() && known.len() == request.event_count() {
            let mut results = Vec::new();
            let mut positions = known.into_iter();
            for append in &request.appends {
                let mine: Vec<u64> = positions.by_ref().take(append.events.len()).collect();
                let first = mine[0];
                let last = *mine.last().unwrap();
                results.push(StreamAppended {
                    stream: append.stream.clone(),
                    first_revision: self.log[first as usize - 1].revision,
                    last_revision: self.log[last as usize - 1].revision,
                    first_position: first,
                    last_position: last,
                });
            }
            return Expect::Ok(AppendOutcome {
                results,
                replayed: true,
            });
        }
        if let Some(id) = first_known {
            return Expect::IdConflict(id);
        }
        for append in &request.appends {
            let actual = self.streams.get(append.stream.as_str()).copied();
            if !append.expected.admits(actual) {
                return Expect::WrongRevision {
                    stream: append.stream.to_string(),
                    actual,
                };
            }
        }
        let mut results = Vec::new();
        for append in &request.appends {
            let stream = append.stream.to_string();
            let first_revision = self.streams.get(&stream).map_or(0, |r| r + 1);
            let first_position = self.log.len() as u64 + 1;
            let mut revision = first_revision;
            for e in &append.events {
                self.log.push(Row {
                    stream: stream.clone(),
                    revision,
                    event_id: e.event_id,
                    data: e.data.clone(),
                });
                self.ids.insert(
                    e.event_id,
                    (self.log.len() as u64, stream.clone(), e.data.clone()),
                );
                revision += 1;
            }
            self.streams.insert(stream, revision - 1);
            results.push(StreamAppended {
                stream: append.stream.clone(),
                first_revision,
                last_revision: revision - 1,
                first_position,
                last_position: self.log.len() as u64,
            });
        }
        Expect::Ok(AppendOutcome {
            results,
            replayed: false,
        })
    }
}

fn observed(result: Result<AppendOutcome, AppendError>) -> Expect {
    match result {
        Ok(outcome) => Expect::Ok(outcome),
        Err(AppendError::WrongExpectedRevision { stream, actual, .. }) => Expect::WrongRevision {
            stream: stream.to_string(),
            actual,
        },
        Err(AppendError::IdempotencyConflict { event_id }) => Expect::IdConflict(event_id),
        Err(other) => panic!("unexpected error {other}"),
    }
}

fn run(ops: Vec<Op>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let dir = tempfile::TempDir::new().unwrap();
        let store = RedbStore::open(&dir.path().join("log.redb"), StoreOptions::default()).unwrap();
        let mut model = Model::default();
        let mut history: Vec<AppendRequest> = Vec::new();
        let mut next_id = 1u128;
        for (step, op) in ops.into_iter().enumerate() {
            let request = match op {
                Op::Append(appends) => {
                    let request = AppendRequest {
                        appends: appends
                            .into_iter()
                            .map(|(s, expected, n)| StreamAppend {
                                stream: StreamName::new(STREAMS[s]).unwrap(),
                                expected,
                                events: (0..n)
                                    .map(|i| {
                                        next_id += 1;
                                        ProposedEvent {
                                            event_id: Uuid::from_u128(next_id),
                                            event_type: EventType::new("Modelled.v1").unwrap(),
                                            data: format!("{{\"step\":{step},\"i\":{i}}}")
                                                .into_bytes(),
                                            content_type: ContentType::Json,
                                            metadata: Metadata::default(),
                                        }
                                    })
                                    .collect(),
                            })
                            .collect(),
                    };
                    history.push(request.clone());
                    request
                }
                Op::Retry { index, changed } => {
                    if history.is_empty() {
                        continue;
                    }
                    let mut request = history[index % history.len()].clone();
                    if changed {
                        request.appends[0].events[0].data = b"{\"changed\":true}".to_vec();
                    }
                    request
                }
            };
            let want = model.apply(&request);
            let got = observed(store.append(request.clone()).await);
            assert_eq!(got, want, "step {step}: {request:?}");
        }

        let events = store
            .read_all(ReadAll {
                from_position: None,
                direction: Direction::Forwards,
                max_count: 10_000,
                filter: Filter::default(),
            })
            .await
            .unwrap();
        let rows: Vec<Row> = events
            .iter()
            .map(|e| Row {
                stream: e.stream.to_string(),
                revision: e.revision,
                event_id: e.event_id,
                data: e.data.clone(),
            })
            .collect();
        assert_eq!(rows, model.log);
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e.position, i as u64 + 1);
        }
        for stream in STREAMS {
            let read = store
                .read_stream(ReadStream {
                    stream: StreamName::new(stream).unwrap(),
                    from_revision: None,
                    direction: Direction::Forwards,
                    max_count: 10_000,
                })
                .await;
            let want: Vec<&Row> = model.log.iter().filter(|r| r.stream == stream).collect();
            match read {
                Ok(got) => {
                    let got: Vec<(u64, Uuid)> =
                        got.iter().map(|e| (e.revision, e.event_id)).collect();
                    let want: Vec<(u64, Uuid)> =
                        want.iter().map(|r| (r.revision, r.event_id)).collect();
                    assert_eq!(got, want, "stream {stream}");
                }
                Err(_) => assert!(want.is_empty(), "stream {stream} not found"),
            }
        }
        let report = store.verify(0, 0).await.unwrap();
        assert_eq!(report.first_bad, None);
        assert_eq!(report.checked, model.log.len() as u64);
        assert_eq!(report.head.position, model.log.len() as u64);
        store.shutdown().await;
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn the_store_behaves_like_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        run(ops);
    }
}
