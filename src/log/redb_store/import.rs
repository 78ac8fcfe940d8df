//! Importing records that already exist elsewhere (an export, a backup) into an empty log.
//!
//! An ordinary append assigns positions, revisions and commit times; an import must keep the
//! original ones, or every hash would change. So the importer writes the records as they are,
//! after checking that each one continues the chain: the next position, the next revision of its
//! stream, an event id not seen before, and a hash equal to
//! `SHA-256(previous hash ‖ canonical bytes)`. It refuses a log that already holds records. It
//! writes the same tables as the writer (`docs/STORAGE.md`), one transaction per batch, and the
//! head with each batch, so an interrupted import leaves a valid (shorter) log.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use redb::{Database, Durability, ReadableTable};
use thiserror::Error;

use super::tree::{self, MERKLE};
use super::{
    EVENT_IDS, EVENTS, META, META_HEAD, STREAM_INDEX, encode_head, guarded_open, initialize,
};
use crate::log::codec::{chain_hash, encode_canonical, encode_stored, payload_digest};
use crate::log::merkle::Frontier;
use crate::log::{Head, OpenError, ProposedEvent, RecordedEvent};

/// Why an import stopped. Records of batches committed before the error stay in the log.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The log could not be opened.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The log already holds records.
    #[error(
        "{path} already holds {head} records; import only into an empty log (a new data directory)"
    )]
    NotEmpty {
        /// The log file.
        path: PathBuf,
        /// Its head position.
        head: u64,
    },
    /// A record does not continue the chain.
    #[error("record at position {position} cannot be imported: {detail}")]
    Chain {
        /// The record's position.
        position: u64,
        /// What is wrong.
        detail: String,
    },
    /// The storage engine failed.
    #[error("storage failure while importing into {path}: {detail}")]
    Storage {
        /// The log file.
        path: PathBuf,
        /// What failed.
        detail: String,
    },
}

/// Writes records with their original positions, times and hashes into an empty log.
pub struct Importer {
    db: Database,
    path: PathBuf,
    head: Head,
    /// Last revision of every stream imported so far.
    streams: HashMap<String, u64>,
    /// The Merkle tree's right edge over the records imported so far.
    tree: Frontier,
}

impl Importer {
    /// Opens (or creates) the log file `path` for an import; refuses one that holds records.
    /// The file must not be open elsewhere (a running server holds it).
    pub fn create(path: &Path) -> Result<Self, ImportError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| OpenError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let db = guarded_open(path, || redb::Builder::new().create(path))?;
        let journal = super::journal_path(path);
        if journal.exists() {
            return Err(ImportError::Open(OpenError::Storage {
                path: journal,
                detail: "the log beside this journal was not stopped cleanly and may hold records \
                         only the journal has; start and stop the server once on it, or import \
                         into a new data directory"
                    .into(),
            }));
        }
        let head = initialize(&db, path)?;
        if head.position != 0 {
            return Err(ImportError::NotEmpty {
                path: path.to_path_buf(),
                head: head.position,
            });
        }
        Ok(Self {
            db,
            path: path.to_path_buf(),
            head,
            streams: HashMap::new(),
            tree: Frontier::default(),
        })
    }

    /// The last record imported (position 0 before the first).
    pub fn head(&self) -> Head {
        self.head
    }

    /// Checks and writes `records` (the next ones of the chain, in position order) in one
    /// durable transaction. Nothing of the batch is written if any record fails its check.
    pub fn import_batch(&mut self, records: &[RecordedEvent]) -> Result<Head, ImportError> {
        if records.is_empty() {
            return Ok(self.head);
        }
        let storage = |e: redb::Error| ImportError::Storage {
            path: self.path.clone(),
            detail: e.to_string(),
        };
        let mut head = self.head;
        let mut streams = self.streams.clone();
        let mut tree = self.tree.clone();
        let mut txn = self.db.begin_write().map_err(|e| storage(e.into()))?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| storage(e.into()))?;
        {
            let mut events = txn.open_table(EVENTS).map_err(|e| storage(e.into()))?;
            let mut stream_index = txn
                .open_table(STREAM_INDEX)
                .map_err(|e| storage(e.into()))?;
            let mut event_ids = txn.open_table(EVENT_IDS).map_err(|e| storage(e.into()))?;
            let mut merkle = txn.open_table(MERKLE).map_err(|e| storage(e.into()))?;
            for record in records {
                let chain = |detail: String| ImportError::Chain {
                    position: record.position,
                    detail,
                };
                if record.position != head.position + 1 {
                    return Err(chain(format!(
                        "expected position {} next; positions must be gapless from 1",
                        head.position + 1
                    )));
                }
                let expected_revision = streams
                    .get(record.stream.as_str())
                    .map_or(0, |last| last + 1);
                if record.revision != expected_revision {
                    return Err(chain(format!(
                        "stream {} is at revision {}, not {}",
                        record.stream, expected_revision, record.revision
                    )));
                }
                let canonical = encode_canonical(record);
                let computed = chain_hash(&head.hash, &canonical);
                if computed != record.hash {
                    return Err(chain(format!(
                        "its hash {} is not SHA-256(previous hash ‖ canonical bytes) = {}",
                        hex::encode(record.hash),
                        hex::encode(computed)
                    )));
                }
                let id = record.event_id.as_u128();
                if event_ids.get(id).map_err(|e| storage(e.into()))?.is_some() {
                    return Err(chain(format!(
                        "event id {} appears twice in the log",
                        record.event_id
                    )));
                }
                let digest = payload_digest(
                    &record.stream,
                    &ProposedEvent {
                        event_id: record.event_id,
                        event_type: record.event_type.clone(),
                        data: record.data.clone(),
                        content_type: record.content_type,
                        metadata: record.metadata.clone(),
                    },
                );
                events
                    .insert(record.position, encode_stored(record).as_slice())
                    .map_err(|e| storage(e.into()))?;
                stream_index
                    .insert((record.stream.as_str(), record.revision), record.position)
                    .map_err(|e| storage(e.into()))?;
                event_ids
                    .insert(id, (record.position, digest))
                    .map_err(|e| storage(e.into()))?;
                tree::append_leaf(&mut merkle, &mut tree, &canonical)
                    .map_err(|e| storage(e.into()))?;
                streams.insert(record.stream.as_str().to_string(), record.revision);
                head = Head {
                    position: record.position,
                    hash: record.hash,
                };
            }
            let mut meta = txn.open_table(META).map_err(|e| storage(e.into()))?;
            meta.insert(META_HEAD, encode_head(&head).as_slice())
                .map_err(|e| storage(e.into()))?;
        }
        txn.commit().map_err(|e| storage(e.into()))?;
        self.head = head;
        self.streams = streams;
        self.tree = tree;
        Ok(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::codec::GENESIS_HASH;
    use crate::log::{
        AppendRequest, ContentType, EventStore, EventType, ExpectedRevision, Metadata, RedbStore,
        StoreOptions, StreamName,
    };

    fn event(n: u8) -> ProposedEvent {
        ProposedEvent {
            event_id: uuid::Uuid::from_u128(u128::from(n) + 1),
            event_type: EventType::new("Happened.v1").unwrap(),
            data: format!("{{\"n\":{n}}}").into_bytes(),
            content_type: ContentType::Json,
            metadata: Metadata::default(),
        }
    }

    async fn records_of(store: &RedbStore) -> Vec<RecordedEvent> {
        store
            .read_all(crate::log::ReadAll {
                from_position: None,
                direction: crate::log::Direction::Forwards,
                max_count: usize::MAX,
                filter: crate::log::Filter::default(),
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn import_reproduces_the_head_and_an_idempotent_replay() {
        let dir = tempfile::tempdir().unwrap();
        let source = RedbStore::open(&dir.path().join("a.redb"), StoreOptions::default()).unwrap();
        for stream in ["a-1", "b-1", "a-1"] {
            let n = source.head().await.unwrap().position as u8;
            source
                .append(AppendRequest::single(
                    StreamName::new(stream).unwrap(),
                    ExpectedRevision::Any,
                    vec![event(n)],
                ))
                .await
                .unwrap();
        }
        let records = records_of(&source).await;
        let head = source.head().await.unwrap();

        let target = dir.path().join("b.redb");
        let mut importer = Importer::create(&target).unwrap();
        importer.import_batch(&records[..1]).unwrap();
        assert_eq!(importer.import_batch(&records[1..]).unwrap(), head);
        drop(importer);

        let imported = RedbStore::open(&target, StoreOptions::default()).unwrap();
        assert_eq!(imported.head().await.unwrap(), head);
        assert_eq!(
            imported.tree_head().await.unwrap(),
            source.tree_head().await.unwrap()
        );
        assert_eq!(records_of(&imported).await, records);
        let report = imported.verify(0, 0).await.unwrap();
        assert!(report.first_bad.is_none(), "{report:?}");
        // The imported event ids and revisions work like appended ones.
        let replay = imported
            .append(AppendRequest::single(
                StreamName::new("a-1").unwrap(),
                ExpectedRevision::Exact(1),
                vec![event(2)],
            ))
            .await
            .unwrap();
        assert!(replay.replayed);
        imported.shutdown().await;
        drop(imported);
        assert!(matches!(
            Importer::create(&target),
            Err(ImportError::NotEmpty { head: 3, .. })
        ));
    }

    #[tokio::test]
    async fn a_log_left_with_a_journal_is_not_imported_into() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("c.redb");
        std::fs::write(crate::log::journal_path(&target), b"").unwrap();
        let err = Importer::create(&target).err().expect("refused");
        assert!(err.to_string().contains("not stopped cleanly"), "{err}");
    }

    #[tokio::test]
    async fn a_record_that_breaks_the_chain_is_refused_whole_batch() {
        let dir = tempfile::tempdir().unwrap();
        let mut record = RecordedEvent {
            position: 1,
            stream: StreamName::new("s").unwrap(),
            revision: 0,
            event_id: uuid::Uuid::from_u128(1),
            event_type: EventType::new("T").unwrap(),
            recorded_at_micros: 5,
            metadata: Metadata::default(),
            data: b"{}".to_vec(),
            content_type: ContentType::Json,
            hash: GENESIS_HASH,
        };
        record.hash = chain_hash(&GENESIS_HASH, &encode_canonical(&record));
        let mut bad = record.clone();
        bad.position = 2;
        bad.revision = 1;
        bad.event_id = uuid::Uuid::from_u128(2);
        bad.recorded_at_micros = 6; // hash not recomputed
        let mut importer = Importer::create(&dir.path().join("x.redb")).unwrap();
        let err = importer
            .import_batch(&[record.clone(), bad])
            .unwrap_err()
            .to_string();
        assert!(err.contains("position 2"), "{err}");
        assert_eq!(importer.head().position, 0);
        assert_eq!(importer.import_batch(&[record]).unwrap().position, 1);
    }
}
