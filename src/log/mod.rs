//! The event log: an append-only, gapless, hash-chained sequence of records.
//!
//! Everything Oversight knows is an event in this log. The rest of the program talks to it only
//! through the [`EventStore`] trait (append / read / subscribe / head / verify), never to the
//! storage engine directly, so that another backend can be added with the same guarantees.
//!
//! * [`types`] — records, expected revisions, filters and the validated inputs of an append.
//! * [`error`] — the typed errors of every log operation.
//! * [`codec`] — the canonical byte encoding of a record and the hash chain over it.
//! * [`redb_store`] — the embedded backend on redb, with its group-commit writer.
//! * [`export`] — the JSON Lines export format and the offline check of its hash chain.
//! * [`merkle`] — the RFC 6962 Merkle tree over the records: nodes, roots, proofs, checks.
//! * [`json`] — the one check of a JSON payload (it parses, and nests at most 64 deep).
//! * [`note`], [`checkpoint`] — signed notes, checkpoints and cosignatures (C2SP formats).

pub mod checkpoint;
pub mod codec;
pub mod error;
pub mod export;
pub mod json;
pub mod merkle;
pub mod note;
pub mod redb_store;
pub mod types;

use std::pin::Pin;

use async_trait::async_trait;
use futures::Stream;

pub use error::{AppendError, InvalidInput, OpenError, ReadError, SubscriptionError};
pub use redb_store::{ImportError, Importer, RedbStore, StoreOptions, journal_path};
pub use types::*;

use merkle::{Frontier, NodeId, NodeSource};

/// A live subscription: history, one [`SubscriptionItem::CaughtUp`], then live events.
pub type Subscription =
    Pin<Box<dyn Stream<Item = Result<SubscriptionItem, SubscriptionError>> + Send + 'static>>;

/// Told about the log's work as it happens, e.g. to export metrics. Calls are made on the
/// append path and the writer thread: they must be quick and must not block.
pub trait StoreObserver: Send + Sync + 'static {
    /// An append finished: how many events it asked for, its outcome (`ok`, `replayed`,
    /// `rejected` or `failed`) and how long the caller waited, including the durable commit.
    fn append_finished(&self, events: usize, outcome: &'static str, elapsed: std::time::Duration);
    /// The writer committed one transaction holding `events` new events (group commit).
    fn batch_committed(&self, events: usize);
}

/// The operations every log backend provides, with the guarantees documented in
/// `docs/STORAGE.md`: gapless commit-ordered positions, expected revisions, durable
/// idempotency, atomic multi-stream appends and a verifiable hash chain.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends atomically to one or more streams. Acknowledged only once durable.
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, AppendError>;

    /// Reads one stream. Fails with [`ReadError::StreamNotFound`] if it holds no event.
    async fn read_stream(&self, request: ReadStream) -> Result<Vec<RecordedEvent>, ReadError>;

    /// The event appended under `event_id`, if any (the log's idempotency index). Commands
    /// retried with the same command id find what they wrote through it.
    async fn find_event(&self, event_id: uuid::Uuid) -> Result<Option<RecordedEvent>, ReadError>;

    /// Reads a page of the whole log. Returns at most `request.max_count` matching events, and
    /// possibly fewer even before the end of the log; use [`EventStore::read_all_page`] to
    /// learn where to continue.
    async fn read_all(&self, request: ReadAll) -> Result<Vec<RecordedEvent>, ReadError>;

    /// Like [`EventStore::read_all`], and says where to continue: `next_position` is `None`
    /// only when the read reached the end of the log in its direction.
    ///
    /// The default suits a backend whose `read_all` returns fewer than `max_count` events only
    /// at the end of the log.
    async fn read_all_page(&self, request: ReadAll) -> Result<ReadAllPage, ReadError> {
        let direction = request.direction;
        let max_count = request.max_count;
        let events = self.read_all(request).await?;
        let next_position = match (events.last(), events.len() >= max_count) {
            (Some(last), true) => match direction {
                Direction::Forwards => Some(last.position + 1),
                Direction::Backwards => last.position.checked_sub(1).filter(|p| *p > 0),
            },
            _ => None,
        };
        Ok(ReadAllPage {
            events,
            next_position,
        })
    }

    /// Subscribes from a position (or from now), optionally filtered.
    fn subscribe(&self, start: SubscribeFrom, filter: Filter) -> Subscription;

    /// The newest position and its hash.
    async fn head(&self) -> Result<Head, ReadError>;

    /// Recomputes the hash chain over `from..=to` (0 for `to` means the head).
    async fn verify(&self, from: u64, to: u64) -> Result<VerifyReport, ReadError>;

    /// The Merkle tree's head now: size (= the head's position) and RFC 6962 root.
    ///
    /// The default recomputes the tree from the records (O(n)); a backend that keeps the tree's
    /// nodes ([`merkle`]) answers from them.
    async fn tree_head(&self) -> Result<TreeHead, ReadError> {
        let size = self.head().await?.position;
        let tree = RecordsTree::read(self, size).await?;
        Ok(TreeHead {
            size,
            root: tree.frontier.root(),
        })
    }

    /// The root of the tree of the first `size` records (`size` at most the head's position).
    async fn tree_root(&self, size: u64) -> Result<merkle::Hash, ReadError> {
        check_tree_size(size, self.head().await?.position)?;
        Ok(RecordsTree::read(self, size).await?.frontier.root())
    }

    /// The inclusion proof of the record at `position` in the tree of `size` records (RFC 6962
    /// audit path, nearest sibling first; the leaf index is `position − 1`).
    async fn inclusion_proof(
        &self,
        position: u64,
        size: u64,
    ) -> Result<Vec<merkle::Hash>, ReadError> {
        check_tree_size(size, self.head().await?.position)?;
        let index = leaf_index(position, size)?;
        let tree = RecordsTree::read(self, size).await?;
        merkle::inclusion_proof(&tree, index, size, || ())
            .map_err(|()| {
                ReadError::Storage("the tree recomputed from the records is short".into())
            })?
            .map_err(|e| InvalidInput::new("position", e).into())
    }

    /// The consistency proof from the tree of `old_size` records to the tree of `new_size`
    /// (RFC 6962; empty when the sizes are equal).
    async fn consistency_proof(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<Vec<merkle::Hash>, ReadError> {
        check_tree_size(new_size, self.head().await?.position)?;
        check_sizes(old_size, new_size)?;
        let tree = RecordsTree::read(self, new_size).await?;
        merkle::consistency_proof(&tree, old_size, new_size, || ())
            .map_err(|()| {
                ReadError::Storage("the tree recomputed from the records is short".into())
            })?
            .map_err(|e| InvalidInput::new("old_size", e).into())
    }

    /// Keeps a checkpoint signed by the log's key, so that it can be served later. The
    /// default refuses: a backend that keeps none cannot serve them.
    async fn put_checkpoint(&self, checkpoint: StoredCheckpoint) -> Result<(), AppendError> {
        let _ = checkpoint;
        Err(AppendError::Storage(
            "this log backend keeps no signed checkpoints".into(),
        ))
    }

    /// The signed checkpoint kept for tree size `size`, or the latest one (`None`).
    async fn checkpoint(&self, size: Option<u64>) -> Result<Option<StoredCheckpoint>, ReadError> {
        let _ = size;
        Ok(None)
    }

    /// The key rotations kept (checkpoints announcing a new key), oldest first.
    async fn key_rotations(&self) -> Result<Vec<StoredCheckpoint>, ReadError> {
        Ok(Vec::new())
    }

    /// Whether appends can be made now: `false` while a storage failure keeps the log closed or
    /// open for reads only (appends are refused until a reopen succeeds). A backend that cannot
    /// tell answers `true`.
    fn is_writable(&self) -> bool {
        true
    }
}

/// Refuses a tree size beyond the log's head.
pub(crate) fn check_tree_size(size: u64, head: u64) -> Result<(), ReadError> {
    if size > head {
        return Err(InvalidInput::new(
            "size",
            format!("is {size}, beyond the log's {head} records"),
        )
        .into());
    }
    Ok(())
}

/// Refuses the sizes of a consistency proof unless `0 < old ≤ new`.
pub(crate) fn check_sizes(old: u64, new: u64) -> Result<(), ReadError> {
    if old == 0 || old > new {
        return Err(InvalidInput::new(
            "old_size",
            format!(
                "is {old}; a consistency proof goes from a tree of at least one record to one \
                 at least as large (new_size {new})"
            ),
        )
        .into());
    }
    Ok(())
}

/// The 0-based leaf index of `position` in a tree of `size` records.
pub(crate) fn leaf_index(position: u64, size: u64) -> Result<u64, ReadError> {
    if position == 0 || position > size {
        return Err(InvalidInput::new(
            "position",
            format!("is {position}; it must be between 1 and the tree size {size}"),
        )
        .into());
    }
    Ok(position - 1)
}

/// The tree over the first records of a log recomputed from the records themselves: the
/// default of the tree operations of [`EventStore`] for a backend that keeps no nodes.
struct RecordsTree {
    frontier: Frontier,
    /// Every stored node, by storage index.
    nodes: Vec<merkle::Hash>,
}

impl RecordsTree {
    async fn read<S: EventStore + ?Sized>(store: &S, size: u64) -> Result<Self, ReadError> {
        let mut tree = RecordsTree {
            frontier: Frontier::default(),
            nodes: Vec::new(),
        };
        let mut next = 1;
        while next <= size {
            let page = store
                .read_all_page(ReadAll {
                    from_position: Some(next),
                    direction: Direction::Forwards,
                    max_count: usize::try_from(size - next + 1)
                        .unwrap_or(usize::MAX)
                        .min(4096),
                    filter: Filter::default(),
                })
                .await?;
            for record in page.events.iter().take_while(|r| r.position <= size) {
                if record.position != next {
                    return Err(ReadError::Corrupt {
                        position: next,
                        detail: "missing; positions must be gapless".into(),
                    });
                }
                let leaf = merkle::leaf_hash(&codec::encode_canonical(record));
                let nodes = &mut tree.nodes;
                tree.frontier.push(leaf, |_, hash| nodes.push(*hash));
                next += 1;
            }
            if page.next_position.is_none() {
                break;
            }
        }
        if tree.frontier.size() != size {
            return Err(ReadError::Corrupt {
                position: tree.frontier.size() + 1,
                detail: "missing; positions must be gapless".into(),
            });
        }
        Ok(tree)
    }
}

impl NodeSource for RecordsTree {
    type Error = ();
    fn nodes(&self, ids: &[NodeId]) -> Result<Vec<merkle::Hash>, ()> {
        ids.iter()
            .map(|id| {
                usize::try_from(id.storage_index())
                    .ok()
                    .and_then(|i| self.nodes.get(i).copied())
                    .ok_or(())
            })
            .collect()
    }
}
