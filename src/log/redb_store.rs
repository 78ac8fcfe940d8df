//! PLACEHOLDER: the redb backend is being written.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

use super::*;

/// Tuning of the redb backend.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Most events the writer puts into one redb transaction (group commit).
    pub max_batch_events: usize,
    /// How many committed batches the live feed buffers before a lagging subscriber is cut off.
    pub live_buffer: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_batch_events: 4096,
            live_buffer: 4096,
        }
    }
}

/// The embedded event log.
pub struct RedbStore {}

impl RedbStore {
    /// Opens (or creates) the log in `path`.
    pub fn open(_path: &Path, _options: StoreOptions) -> Result<Arc<Self>, OpenError> {
        Ok(Arc::new(Self {}))
    }

    /// Stops accepting appends, finishes the ones in flight (durably) and ends subscriptions.
    pub async fn shutdown(&self) {}
}

#[async_trait]
impl EventStore for RedbStore {
    async fn append(&self, _request: AppendRequest) -> Result<AppendOutcome, AppendError> {
        Err(AppendError::Storage("placeholder".into()))
    }
    async fn read_stream(&self, _request: ReadStream) -> Result<Vec<RecordedEvent>, ReadError> {
        Err(ReadError::Storage("placeholder".into()))
    }
    async fn read_all(&self, _request: ReadAll) -> Result<Vec<RecordedEvent>, ReadError> {
        Err(ReadError::Storage("placeholder".into()))
    }
    fn subscribe(&self, _start: SubscribeFrom, _filter: Filter) -> Subscription {
        Box::pin(futures::stream::empty())
    }
    async fn head(&self) -> Result<Head, ReadError> {
        Err(ReadError::Storage("placeholder".into()))
    }
    async fn verify(&self, _from: u64, _to: u64) -> Result<VerifyReport, ReadError> {
        Err(ReadError::Storage("placeholder".into()))
    }
}
