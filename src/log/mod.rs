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

pub mod codec;
pub mod error;
pub mod export;
pub mod json;
pub mod merkle;
pub mod redb_store;
pub mod types;

use std::pin::Pin;

use async_trait::async_trait;
use futures::Stream;

pub use error::{AppendError, InvalidInput, OpenError, ReadError, SubscriptionError};
pub use redb_store::{ImportError, Importer, RedbStore, StoreOptions, journal_path};
pub use types::*;

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

    /// Whether appends can be made now: `false` while a storage failure keeps the log closed or
    /// open for reads only (appends are refused until a reopen succeeds). A backend that cannot
    /// tell answers `true`.
    fn is_writable(&self) -> bool {
        true
    }
}
