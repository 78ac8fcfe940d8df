//! Crash loop: the real binary is driven with concurrent raw appends AND domain commands
//! (committees, appointees, deputy groups, site visits, findings), killed with SIGKILL at a random
//! moment and restarted, over and over on the same data directory. After every kill:
//!
//! * every acknowledged append is present at the position it was acknowledged with, and every
//!   acknowledged command's event is at the position its reply named;
//! * positions are gapless and the hash chain verifies;
//! * every view, caught up from the checkpoint the crash left, equals a rebuild of it from
//!   position 0 into a fresh file (document by document, as JSON values).
//!
//! The number of cycles is `OVERSIGHT_CRASH_CYCLES` (default 20); see `docs/RELIABILITY.md`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::process::{authed, connect, free_port, start};

use oversight::config::LOG_FILE_NAME;
use oversight::log::{EventStore, Filter, ReadAll, RedbStore, StoreOptions};
use oversight::projection::{self, ProjectionRunner};
use oversight::proto::event_log_client::EventLogClient;
use oversight::proto::findings_client::FindingsClient;
use oversight::proto::registry_client::RegistryClient;
use oversight::proto::supervision_client::SupervisionClient;
use oversight::proto::{
    AddDeputyRequest, AppendRequest, CommitteeLevel, ContentType, CreateCommitteeRequest,
    FileSiteVisitRequest, FindingSeverity, FindingSource, FormDeputyGroupRequest, HeadRequest,
    OrganKind, ProposedEvent, RaiseFindingRequest, RegisterAppointeeRequest, VerifyRequest,
    VisitMode, VisitRatings,
};
use oversight::server::VIEWS_DIR;
use rand::Rng;
use redb::{ReadableDatabase, ReadableTable, TableDefinition, TableHandle};
use tokio_util::sync::CancellationToken;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;

const DEFAULT_CYCLES: usize = 20;
/// Clients appending raw probe events.
const APPENDERS: usize = 4;
/// Clients running domain commands (register an appointee, file a visit, raise a finding).
const COMMANDERS: usize = 3;
const COMMITTEE: &str = "xiangfang";
const GROUP: &str = "dg-crash";

/// Something the server acknowledged: the position it named and a string the stream name of the
/// event at that position must contain.
#[derive(Debug, Clone)]
struct Ack {
    position: u64,
    stream_contains: String,
    /// For raw appends, the event id that must be at `position`.
    event_id: Option<String>,
}

type Acks = Arc<Mutex<Vec<Ack>>>;

fn cycles() -> usize {
    std::env::var("OVERSIGHT_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CYCLES)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_and_views_survive_sigkill_loop() {
    let started = Instant::now();
    let cycles = cycles();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let port = free_port();
    let acks: Acks = Arc::default();
    let mut checked_appends = 0;
    let mut checked_commands = 0;

    for cycle in 0..cycles {
        let mut child = start(&data_dir, port);
        let (channel, bearer) = connect(&data_dir, port).await;
        if cycle == 0 {
            set_up(&channel, &bearer, &acks).await;
        }

        let mut workers = Vec::new();
        for w in 0..APPENDERS {
            let client = EventLogClient::new(channel.clone());
            workers.push(tokio::spawn(append_loop(
                client,
                bearer.clone(),
                Arc::clone(&acks),
                format!("crash-{cycle}-{w}"),
            )));
        }
        for w in 0..COMMANDERS {
            workers.push(tokio::spawn(command_loop(
                channel.clone(),
                bearer.clone(),
                Arc::clone(&acks),
                format!("{cycle}-{w}"),
            )));
        }
        let pause = rand::rng().random_range(50..400);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        child.kill().unwrap();
        child.wait().unwrap();
        for worker in workers {
            worker.await.unwrap();
        }

        let so_far = acks.lock().unwrap().clone();
        check_offline(&data_dir, dir.path(), &so_far).await;
        checked_appends = so_far.iter().filter(|a| a.event_id.is_some()).count();
        checked_commands = so_far.len() - checked_appends;
    }

    // One more restart: the server comes up on what the last kill left and the chain verifies
    // over gRPC, up to at least the last acknowledged position.
    let mut child = start(&data_dir, port);
    let (channel, bearer) = connect(&data_dir, port).await;
    let mut log = EventLogClient::new(channel);
    let head = log
        .head(authed(HeadRequest {}, &bearer))
        .await
        .unwrap()
        .into_inner()
        .position;
    let report = log
        .verify(authed(VerifyRequest::default(), &bearer))
        .await
        .unwrap()
        .into_inner();
    assert!(
        report.ok,
        "chain broken at {}: {}",
        report.first_bad_position, report.problem
    );
    assert_eq!(report.checked, head);
    let highest = acks.lock().unwrap().iter().map(|a| a.position).max();
    assert!(highest.unwrap_or(0) <= head);
    child.kill().unwrap();
    child.wait().unwrap();

    assert!(
        checked_appends > cycles && checked_commands > cycles,
        "the load produced too few writes to test anything \
         ({checked_appends} appends, {checked_commands} commands)"
    );
    println!(
        "crash loop: {cycles} cycles, {checked_appends} acknowledged appends and \
         {checked_commands} acknowledged commands checked, 0 lost, head {head}, {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// The committee, one appointee and a deputy group the commands of every cycle refer to.
async fn set_up(channel: &Channel, bearer: &MetadataValue<Ascii>, acks: &Acks) {
    let mut registry = RegistryClient::new(channel.clone());
    let created = registry
        .create_committee(authed(
            CreateCommitteeRequest {
                committee_id: COMMITTEE.into(),
                name: "Xiangfang District Standing Committee".into(),
                level: CommitteeLevel::District as i32,
                ..Default::default()
            },
            bearer,
        ))
        .await
        .unwrap()
        .into_inner();
    let formed = registry
        .form_deputy_group(authed(
            FormDeputyGroupRequest {
                command_id: String::new(),
                group_id: GROUP.into(),
                committee_id: COMMITTEE.into(),
                name: "Crash-loop deputy group".into(),
                correlation_id: String::new(),
            },
            bearer,
        ))
        .await
        .unwrap()
        .into_inner();
    let added = registry
        .add_deputy(authed(
            AddDeputyRequest {
                command_id: String::new(),
                group_id: GROUP.into(),
                deputy_id: "deputy-1".into(),
                name: "Deputy One".into(),
                correlation_id: String::new(),
            },
            bearer,
        ))
        .await
        .unwrap()
        .into_inner();
    let mut acks = acks.lock().unwrap();
    for (position, id) in [
        (created.position, COMMITTEE),
        (formed.position, GROUP),
        (added.position, GROUP),
    ] {
        acks.push(Ack {
            position,
            stream_contains: id.into(),
            event_id: None,
        });
    }
}

/// Appends one probe event after another until the server goes away.
async fn append_loop(
    mut client: EventLogClient<Channel>,
    bearer: MetadataValue<Ascii>,
    acks: Acks,
    stream: String,
) {
    for seq in 0u64.. {
        let event_id = uuid::Uuid::new_v4().to_string();
        let request = AppendRequest {
            stream: stream.clone(),
            expected_revision: None,
            events: vec![ProposedEvent {
                event_id: event_id.clone(),
                event_type: "CrashProbeRecorded.v1".into(),
                data: format!(r#"{{"stream":"{stream}","seq":{seq}}}"#).into_bytes(),
                content_type: ContentType::Json as i32,
                metadata: None,
            }],
        };
        match client.append(authed(request, &bearer)).await {
            Ok(reply) => {
                let position = reply.into_inner().result.unwrap().last_position;
                acks.lock().unwrap().push(Ack {
                    position,
                    stream_contains: stream.clone(),
                    event_id: Some(event_id),
                });
            }
            Err(_) => return,
        }
    }
}

/// Registers an appointee, files a visit to them and raises a finding against them, again and
/// again, until the server goes away.
async fn command_loop(channel: Channel, bearer: MetadataValue<Ascii>, acks: Acks, tag: String) {
    let mut registry = RegistryClient::new(channel.clone());
    let mut supervision = SupervisionClient::new(channel.clone());
    let mut findings = FindingsClient::new(channel);
    let visited_at = Some(prost_types::Timestamp {
        seconds: 1_700_000_000,
        nanos: 0,
    });
    let ack = |position: u64, id: &str| {
        acks.lock().unwrap().push(Ack {
            position,
            stream_contains: id.to_string(),
            event_id: None,
        });
    };
    for seq in 0u64.. {
        let appointee = format!("a-{tag}-{seq}");
        let Ok(reply) = registry
            .register_appointee(authed(
                RegisterAppointeeRequest {
                    appointee_id: appointee.clone(),
                    committee_id: COMMITTEE.into(),
                    name: format!("Appointee {appointee}"),
                    post: "deputy director".into(),
                    organ_kind: OrganKind::Government as i32,
                    organ_name: "district housing bureau".into(),
                    appointed_on: "2024-01-15".into(),
                    appointing_meeting: "12th session".into(),
                    ..Default::default()
                },
                &bearer,
            ))
            .await
        else {
            return;
        };
        ack(reply.into_inner().position, &appointee);

        let visit = format!("v-{tag}-{seq}");
        let Ok(reply) = supervision
            .file_site_visit(authed(
                FileSiteVisitRequest {
                    command_id: String::new(),
                    visit_id: visit.clone(),
                    group_id: GROUP.into(),
                    target_organ: "district housing bureau".into(),
                    appointee_ids: vec![appointee.clone()],
                    mode: VisitMode::Open as i32,
                    visited_at,
                    ratings: Some(VisitRatings {
                        work_discipline: Some(4),
                        service_quality: Some(3),
                        efficiency: None,
                    }),
                    notes: "crash-loop visit".into(),
                    evidence_sha256: Vec::new(),
                    correlation_id: String::new(),
                },
                &bearer,
            ))
            .await
        else {
            return;
        };
        ack(reply.into_inner().position, &visit);

        let finding = format!("f-{tag}-{seq}");
        let Ok(reply) = findings
            .raise_finding(authed(
                RaiseFindingRequest {
                    command_id: String::new(),
                    finding_id: finding.clone(),
                    committee_id: COMMITTEE.into(),
                    source: FindingSource::Visit as i32,
                    source_ref: visit,
                    organ: "district housing bureau".into(),
                    appointee_id: appointee,
                    severity: FindingSeverity::Minor as i32,
                    description: "queue numbers handed out before opening hours".into(),
                    rectification_required: true,
                    correlation_id: String::new(),
                    raised_on: String::new(),
                },
                &bearer,
            ))
            .await
        else {
            return;
        };
        ack(reply.into_inner().position, &finding);
    }
}

/// With the server down: the log holds every acknowledged write, is gapless and verifies, and the
/// views left by the crash, once caught up, equal a rebuild from position 0.
async fn check_offline(data_dir: &Path, scratch: &Path, acks: &[Ack]) {
    let store = RedbStore::open(&data_dir.join(LOG_FILE_NAME), StoreOptions::default()).unwrap();
    let head = store.head().await.unwrap().position;

    let mut at = BTreeMap::new();
    let mut from = Some(1);
    let mut expected = 1;
    while let Some(from_position) = from {
        let page = store
            .read_all_page(ReadAll {
                from_position: Some(from_position),
                direction: Default::default(),
                max_count: 4096,
                filter: Filter::default(),
            })
            .await
            .unwrap();
        for event in page.events {
            assert_eq!(event.position, expected, "positions must be gapless");
            expected += 1;
            at.insert(
                event.position,
                (
                    event.stream.as_str().to_string(),
                    event.event_id.to_string(),
                ),
            );
        }
        from = page.next_position;
    }
    assert_eq!(expected - 1, head, "the head is the last stored position");
    for ack in acks {
        let Some((stream, event_id)) = at.get(&ack.position) else {
            panic!("acknowledged {ack:?} is beyond the head {head}: lost");
        };
        assert!(
            stream.contains(&ack.stream_contains),
            "acknowledged {ack:?} but position {} holds stream {stream}",
            ack.position
        );
        if let Some(id) = &ack.event_id {
            assert_eq!(id, event_id, "acknowledged event moved or lost");
        }
    }
    let report = store.verify(1, 0).await.unwrap();
    assert!(report.first_bad.is_none(), "chain broken: {report:?}");
    assert_eq!(report.checked, head);

    let store: Arc<dyn EventStore> = store;
    let recovered_path = data_dir.join(VIEWS_DIR);
    catch_up(&recovered_path, &store, head).await;
    let recovered = dump(&recovered_path);
    let rebuilt_path = scratch.join("rebuilt-views");
    let _ = std::fs::remove_dir_all(&rebuilt_path);
    catch_up(&rebuilt_path, &store, head).await;
    let rebuilt = dump(&rebuilt_path);
    std::fs::remove_dir_all(&rebuilt_path).unwrap();
    assert!(
        !rebuilt.is_empty(),
        "a rebuild of {head} events wrote no view"
    );
    assert_eq!(
        recovered.keys().collect::<Vec<_>>(),
        rebuilt.keys().collect::<Vec<_>>(),
        "the recovered views and a rebuild have different tables"
    );
    for (table, documents) in &rebuilt {
        assert!(
            recovered[table] == *documents,
            "view table {table} after the crash differs from a rebuild from position 0"
        );
    }

    let log = Arc::downgrade(&store);
    drop(store);
    // Subscription tasks still hold the file for a moment; the next server needs it unlocked.
    while log.strong_count() > 0 || !unlocked(&data_dir.join(LOG_FILE_NAME)) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Starts the projections on the views directory `path` and stops them once all are at `head`.
async fn catch_up(path: &Path, store: &Arc<dyn EventStore>, head: u64) {
    let cancel = CancellationToken::new();
    let (views, task) = ProjectionRunner::start(
        path,
        Arc::clone(store),
        projection::registry(),
        cancel.clone(),
    )
    .unwrap();
    for name in views.projections() {
        views
            .wait_for(name, head, Duration::from_secs(120))
            .await
            .unwrap();
    }
    cancel.cancel();
    task.await.unwrap();
    drop(views);
}

/// Every non-empty view table of the views directory (one file per projection): table → key →
/// document.
fn dump(dir: &Path) -> BTreeMap<String, BTreeMap<String, serde_json::Value>> {
    let mut out = BTreeMap::new();
    for file in std::fs::read_dir(dir).unwrap() {
        dump_file(&file.unwrap().path(), &mut out);
    }
    out
}

/// Adds every non-empty view table of one view file to `out`.
fn dump_file(path: &Path, out: &mut BTreeMap<String, BTreeMap<String, serde_json::Value>>) {
    let db = redb::Database::open(path).unwrap();
    let txn = db.begin_read().unwrap();
    for handle in txn.list_tables().unwrap() {
        let name = handle.name().to_string();
        // The runner's own tables (`_checkpoints`, `_versions`) are not views.
        if name.starts_with('_') {
            continue;
        }
        let definition: TableDefinition<&str, &[u8]> = TableDefinition::new(&name);
        let table = txn.open_table(definition).unwrap();
        let mut documents = BTreeMap::new();
        for entry in table.iter().unwrap() {
            let (key, value) = entry.unwrap();
            // Index entries hold no value: the key is the entry.
            let document: serde_json::Value = match value.value() {
                [] => serde_json::Value::Null,
                bytes => serde_json::from_slice(bytes).unwrap(),
            };
            documents.insert(key.value().to_string(), document);
        }
        if !documents.is_empty() {
            out.insert(name, documents);
        }
    }
}

/// Whether the log file can be opened (no one in this process holds it any more).
fn unlocked(path: &Path) -> bool {
    match redb::Database::open(path) {
        Ok(db) => {
            drop(db);
            true
        }
        Err(redb::DatabaseError::DatabaseAlreadyOpen) => false,
        Err(e) => panic!("cannot open {}: {e}", path.display()),
    }
}
