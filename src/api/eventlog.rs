//! The `oversight.v1.EventLog` service: raw access to the event log for administrators and
//! auditors. Reads are streamed in chunks of `read_chunk` events, paging through the store so
//! that no read holds more than one page in memory; subscriptions end with UNAVAILABLE when
//! the server shuts down. Every read and subscription is first recorded in the `audit` stream
//! ([`crate::api::audit`]).
//!
//! A caller whose token names a committee reads only that committee's events on every raw path
//! (ReadStream, ReadAll, Subscribe, Verify's report): the rule is
//! [`crate::app::scope::raw_read_committee`], and every answer names the committee in
//! `filtered_to_committee`, so a reader never takes a filtered read for the whole log.

use std::pin::Pin;
use std::sync::Arc;

use futures::{FutureExt, Stream, StreamExt};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use tracing::Span;

use crate::api::audit::{self, Range};
use crate::api::context::principal;
use crate::api::{convert, status};
use crate::app::scope::{raw_read_committee, shows_event};
use crate::checkpoints::Checkpointer;
use crate::config::Limits;
use crate::log::checkpoint::SignedCheckpoint;
use crate::log::{self, Direction, EventStore, Filter, ReadAll, RecordedEvent, SubscriptionItem};
use crate::proto;
use crate::proto::event_log_server::EventLog;

type RpcStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// The EventLog service over any [`EventStore`].
#[derive(Clone)]
pub struct EventLogService {
    store: Arc<dyn EventStore>,
    limits: Limits,
    shutdown: CancellationToken,
    audit_reads: bool,
    checkpointer: Option<Arc<Checkpointer>>,
}

impl EventLogService {
    /// A service over `store`; `shutdown` ends open subscriptions when cancelled.
    pub fn new(store: Arc<dyn EventStore>, limits: Limits, shutdown: CancellationToken) -> Self {
        Self {
            store,
            limits,
            shutdown,
            audit_reads: true,
            checkpointer: None,
        }
    }

    /// Whether reads and subscriptions are recorded in the `audit` stream first (the default).
    pub fn with_read_audit(mut self, audit_reads: bool) -> Self {
        self.audit_reads = audit_reads;
        self
    }

    /// Signs a first checkpoint with `checkpointer` when one is asked for and none is stored.
    pub fn with_checkpointer(mut self, checkpointer: Arc<Checkpointer>) -> Self {
        self.checkpointer = Some(checkpointer);
        self
    }

    /// The stored checkpoint of `size`, or for 0 the latest (signed now if none was yet; the
    /// checkpointer signs a new one every interval while the log grows).
    async fn signed_checkpoint(&self, size: u64) -> Result<Option<SignedCheckpoint>, Status> {
        let stored = self.store.checkpoint((size != 0).then_some(size)).await?;
        let stored = match (stored, size, &self.checkpointer) {
            (None, 0, Some(checkpointer)) => return Ok(Some(checkpointer.sign_now().await?)),
            (stored, _, _) => stored,
        };
        stored
            .map(|c| SignedCheckpoint::parse(&c.note))
            .transpose()
            .map_err(|e| {
                tracing::error!(error = %e, size, "a stored checkpoint cannot be read");
                Status::new(tonic::Code::DataLoss, "a stored checkpoint cannot be read")
            })
    }

    /// The size asked for, or for 0 the size of the latest signed checkpoint.
    async fn size_or_latest(&self, size: u64) -> Result<u64, Status> {
        if size != 0 {
            return Ok(size);
        }
        match self.signed_checkpoint(0).await {
            Ok(Some(latest)) => Ok(latest.checkpoint.size),
            Ok(None) => Ok(self.store.tree_head().await?.size),
            Err(status) => Err(status),
        }
    }

    /// The stored checkpoint of `size` as text, or empty.
    async fn stored_checkpoint_text(&self, size: u64) -> Result<String, Status> {
        Ok(self
            .store
            .checkpoint(Some(size))
            .await?
            .map(|c| c.note)
            .unwrap_or_default())
    }

    /// The leaf hash of `position`: the hash of its record's canonical bytes.
    async fn leaf_hash(&self, position: u64, size: u64) -> Result<[u8; 32], Status> {
        let records = self
            .store
            .read_all(ReadAll {
                from_position: Some(position),
                direction: Direction::Forwards,
                max_count: 1,
                filter: Filter::default(),
            })
            .await?;
        match records.first() {
            Some(record) if record.position == position && position <= size => Ok(
                log::merkle::leaf_hash(&log::codec::encode_canonical(record)),
            ),
            _ => Err(Status::invalid_argument(format!(
                "position {position} is not in the tree of size {size}"
            ))),
        }
    }

    /// Records `principal`'s read of `range` unless read auditing is off.
    async fn audit(
        &self,
        principal: &crate::auth::Principal,
        rpc: &'static str,
        range: Range,
    ) -> Result<(), Status> {
        if self.audit_reads {
            audit::record_log_read(&self.store, principal, rpc, range).await?;
        }
        Ok(())
    }

    /// The committee named by the metadata of the record at `position`; `None` when it names
    /// none or the record cannot be read.
    async fn committee_at(&self, position: u64) -> Option<String> {
        let page = self
            .store
            .read_all_page(ReadAll {
                from_position: Some(position),
                direction: Direction::Forwards,
                max_count: 1,
                filter: log::Filter::default(),
            })
            .await
            .ok()?;
        page.events
            .into_iter()
            .find(|event| event.position == position)
            .and_then(|event| event.metadata.committee)
    }

    /// The generated tonic server around this service, with the message size limits applied.
    pub fn into_server(self) -> proto::event_log_server::EventLogServer<Self> {
        let max = self.limits.max_message_bytes;
        proto::event_log_server::EventLogServer::new(self)
            .max_decoding_message_size(max)
            .max_encoding_message_size(max)
    }
}

/// Records the outcome of an RPC on the current span.
fn outcome<T>(result: Result<T, Status>) -> Result<T, Status> {
    let span = Span::current();
    match &result {
        Ok(_) => {
            span.record("outcome", "ok");
        }
        Err(status) => {
            span.record("outcome", tracing::field::debug(status.code()));
            tracing::info!(code = ?status.code(), message = status.message(), "rpc failed");
        }
    }
    result
}

/// Payload bytes above which a streamed message is closed even before `read_chunk` events:
/// gRPC clients refuse messages over 4 MiB unless configured otherwise.
pub const MESSAGE_DATA_BUDGET: usize = 3 * 1024 * 1024;

/// The events of `page` a read held to `scope` shows (all of them when `scope` is `None`).
fn shown(page: Vec<RecordedEvent>, scope: Option<&str>) -> Vec<RecordedEvent> {
    if scope.is_none() {
        return page;
    }
    page.into_iter()
        .filter(|event| shows_event(scope, event.metadata.committee.as_deref()))
        .collect()
}

/// The message that opens a read held to `scope`: no events, the committee named, so that a
/// reader learns of the filter even when nothing matches.
fn scope_notice(scope: Option<&str>) -> Option<Result<proto::ReadResponse, Status>> {
    scope.map(|committee| {
        Ok(proto::ReadResponse {
            events: Vec::new(),
            filtered_to_committee: committee.to_string(),
        })
    })
}

/// Splits events into messages of at most `size` events and, unless a single event is larger,
/// at most [`MESSAGE_DATA_BUDGET`] payload bytes; each names `scope`, the committee the read is
/// held to, if any.
fn page_messages(
    page: Vec<RecordedEvent>,
    size: usize,
    scope: Option<&str>,
) -> Vec<Result<proto::ReadResponse, Status>> {
    let filtered_to_committee = scope.unwrap_or_default();
    let size = size.max(1);
    let mut messages = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0;
    for event in page {
        if !current.is_empty()
            && (current.len() >= size || bytes + event.data.len() > MESSAGE_DATA_BUDGET)
        {
            messages.push(Ok(proto::ReadResponse {
                events: std::mem::take(&mut current),
                filtered_to_committee: filtered_to_committee.to_string(),
            }));
            bytes = 0;
        }
        bytes += event.data.len();
        current.push(proto::RecordedEvent::from(event));
    }
    if !current.is_empty() {
        messages.push(Ok(proto::ReadResponse {
            events: current,
            filtered_to_committee: filtered_to_committee.to_string(),
        }));
    }
    messages
}

/// The position after `last` in `direction`; `None` when the read is exhausted.
fn next_from(last: u64, direction: Direction) -> Option<u64> {
    match direction {
        Direction::Forwards => last.checked_add(1),
        Direction::Backwards => last.checked_sub(1),
    }
}

/// State of a paged read of a stream or of the whole log.
struct Paging<R> {
    store: Arc<dyn EventStore>,
    request: R,
    remaining: usize,
    page: usize,
    done: bool,
    /// The committee the read is held to, if any.
    scope: Option<String>,
}

impl EventLogService {
    async fn read_stream_page(
        store: &Arc<dyn EventStore>,
        request: &log::ReadStream,
        want: usize,
    ) -> Result<Vec<RecordedEvent>, Status> {
        let mut page = request.clone();
        page.max_count = want;
        Ok(store.read_stream(page).await?)
    }
}

#[tonic::async_trait]
impl EventLog for EventLogService {
    #[tracing::instrument(skip_all, fields(method = "Append", stream, outcome))]
    async fn append(
        &self,
        request: Request<proto::AppendRequest>,
    ) -> Result<Response<proto::AppendResponse>, Status> {
        let result = async {
            let principal = principal(&request)?;
            let request = request.into_inner();
            Span::current().record("stream", request.stream.as_str());
            let append = convert::append_request(request, &principal, &self.limits)?;
            let outcome = self.store.append(append).await?;
            Ok(Response::new(outcome.into()))
        }
        .await;
        outcome(result)
    }

    #[tracing::instrument(skip_all, fields(method = "AppendMulti", stream, outcome))]
    async fn append_multi(
        &self,
        request: Request<proto::AppendMultiRequest>,
    ) -> Result<Response<proto::AppendMultiResponse>, Status> {
        let result = async {
            let principal = principal(&request)?;
            let request = request.into_inner();
            let streams: Vec<&str> = request.appends.iter().map(|a| a.stream.as_str()).collect();
            Span::current().record("stream", streams.join(",").as_str());
            let append = convert::append_multi_request(request, &principal, &self.limits)?;
            let outcome = self.store.append(append).await?;
            Ok(Response::new(outcome.into()))
        }
        .await;
        outcome(result)
    }

    type ReadStreamStream = RpcStream<proto::ReadResponse>;

    #[tracing::instrument(skip_all, fields(method = "ReadStream", stream, outcome))]
    async fn read_stream(
        &self,
        request: Request<proto::ReadStreamRequest>,
    ) -> Result<Response<Self::ReadStreamStream>, Status> {
        let result = async {
            let principal = principal(&request)?;
            let scope = raw_read_committee(&principal).map(str::to_string);
            let request = request.into_inner();
            Span::current().record("stream", request.stream.as_str());
            let read = convert::read_stream_request(request)?;
            self.audit(&principal, "ReadStream", Range::stream(&read))
                .await?;
            let page_size = self.limits.read_chunk;
            // The first page is read before answering, so NOT_FOUND is the RPC's status rather
            // than an error in the middle of a stream.
            let want = read.max_count.min(page_size);
            let first = match Self::read_stream_page(&self.store, &read, want).await {
                Ok(page) => page,
                // A scoped reader is not told whether a stream exists outside its committee:
                // a missing stream reads as one with none of its committee's events.
                Err(status) if scope.is_some() && status.code() == tonic::Code::NotFound => {
                    Vec::new()
                }
                Err(status) => return Err(status),
            };
            let mut state = Paging {
                store: self.store.clone(),
                remaining: read.max_count,
                done: first.len() < want,
                page: page_size,
                request: read,
                scope,
            };
            if let Some(last) = first.last() {
                match next_from(last.revision, state.request.direction) {
                    Some(next) => state.request.from_revision = Some(next),
                    None => state.done = true,
                }
            }
            let first = shown(first, state.scope.as_deref());
            state.remaining = state.remaining.saturating_sub(first.len());
            let notice = futures::stream::iter(scope_notice(state.scope.as_deref()));
            let head =
                futures::stream::iter(page_messages(first, page_size, state.scope.as_deref()));
            let rest = futures::stream::unfold(state, |mut state| async move {
                if state.done || state.remaining == 0 {
                    return None;
                }
                let want = state.remaining.min(state.page);
                let page = match Self::read_stream_page(&state.store, &state.request, want).await {
                    Ok(page) => page,
                    Err(status) => {
                        state.done = true;
                        return Some((vec![Err(status)], state));
                    }
                };
                state.done = page.len() < want;
                match page
                    .last()
                    .map(|l| next_from(l.revision, state.request.direction))
                {
                    Some(Some(next)) => state.request.from_revision = Some(next),
                    _ => state.done = true,
                }
                let page = shown(page, state.scope.as_deref());
                state.remaining = state.remaining.saturating_sub(page.len());
                Some((
                    page_messages(page, state.page, state.scope.as_deref()),
                    state,
                ))
            })
            .flat_map(futures::stream::iter);
            let stream: Self::ReadStreamStream = Box::pin(notice.chain(head).chain(rest));
            Ok(Response::new(stream))
        }
        .await;
        outcome(result)
    }

    type ReadAllStream = RpcStream<proto::ReadResponse>;

    #[tracing::instrument(skip_all, fields(method = "ReadAll", stream, outcome))]
    async fn read_all(
        &self,
        request: Request<proto::ReadAllRequest>,
    ) -> Result<Response<Self::ReadAllStream>, Status> {
        let result = async {
            let principal = principal(&request)?;
            let scope = raw_read_committee(&principal).map(str::to_string);
            let read = convert::read_all_request(request.into_inner())?;
            self.audit(&principal, "ReadAll", Range::all(&read)).await?;
            let notice = futures::stream::iter(scope_notice(scope.as_deref()));
            let state = Paging {
                store: self.store.clone(),
                remaining: read.max_count,
                done: false,
                page: self.limits.read_chunk.max(1),
                request: read,
                scope,
            };
            // The store may return short (even empty) pages when a filter is selective; it says
            // where to continue, and the read ends only when it says the log is exhausted.
            let stream = futures::stream::unfold(state, |mut state| async move {
                while !state.done && state.remaining > 0 {
                    let mut page_request = state.request.clone();
                    page_request.max_count = state.remaining.min(state.page);
                    let page = match state.store.read_all_page(page_request).await {
                        Ok(page) => page,
                        Err(error) => {
                            state.done = true;
                            return Some((vec![Err(Status::from(error))], state));
                        }
                    };
                    let events = shown(page.events, state.scope.as_deref());
                    state.remaining = state.remaining.saturating_sub(events.len());
                    match page.next_position {
                        Some(next) => state.request.from_position = Some(next),
                        None => state.done = true,
                    }
                    if !events.is_empty() {
                        let messages = page_messages(events, state.page, state.scope.as_deref());
                        return Some((messages, state));
                    }
                }
                None
            })
            .flat_map(futures::stream::iter);
            let stream: Self::ReadAllStream = Box::pin(notice.chain(stream));
            Ok(Response::new(stream))
        }
        .await;
        outcome(result)
    }

    type SubscribeStream = RpcStream<proto::SubscribeResponse>;

    #[tracing::instrument(skip_all, fields(method = "Subscribe", stream, outcome))]
    async fn subscribe(
        &self,
        request: Request<proto::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let result = async {
            let principal = principal(&request)?;
            let scope = raw_read_committee(&principal).map(str::to_string);
            let (start, filter) = convert::subscribe_request(request.into_inner())?;
            self.audit(&principal, "Subscribe", Range::subscription(start, &filter))
                .await?;
            if self.shutdown.is_cancelled() {
                return Err(status::shutting_down(match start {
                    log::SubscribeFrom::Position(p) => p,
                    log::SubscribeFrom::Now => 0,
                }));
            }
            let resume_from = match start {
                log::SubscribeFrom::Position(p) => p.max(1),
                // Resuming after the head as it was is safe: nothing after it was delivered.
                log::SubscribeFrom::Now => self.store.head().await?.position + 1,
            };
            let state = SubscribeState {
                inner: self.store.subscribe(start, filter),
                shutdown: self.shutdown.clone(),
                chunk: self.limits.read_chunk.max(1),
                resume_from,
                pending: None,
                done: false,
                scope,
            };
            let stream: Self::SubscribeStream =
                Box::pin(futures::stream::unfold(state, SubscribeState::next));
            Ok(Response::new(stream))
        }
        .await;
        outcome(result)
    }

    #[tracing::instrument(skip_all, fields(method = "Head", stream, outcome))]
    async fn head(
        &self,
        request: Request<proto::HeadRequest>,
    ) -> Result<Response<proto::HeadResponse>, Status> {
        let result = async {
            principal(&request)?;
            let head = self.store.head().await?;
            Ok(Response::new(head.into()))
        }
        .await;
        outcome(result)
    }

    #[tracing::instrument(skip_all, fields(method = "GetCheckpoint", stream, outcome))]
    async fn get_checkpoint(
        &self,
        request: Request<proto::GetCheckpointRequest>,
    ) -> Result<Response<proto::GetCheckpointResponse>, Status> {
        let result = async {
            principal(&request)?;
            let size = request.into_inner().size;
            let signed = self.signed_checkpoint(size).await?.ok_or_else(|| {
                Status::not_found(format!(
                    "no checkpoint was signed at size {size}; ask for size 0 (the latest)"
                ))
            })?;
            let key_rotations = self
                .store
                .key_rotations()
                .await?
                .into_iter()
                .map(|r| r.note)
                .collect();
            Ok(Response::new(proto::GetCheckpointResponse {
                checkpoint: signed.to_text(),
                origin: signed.checkpoint.origin,
                size: signed.checkpoint.size,
                root_hash: signed.checkpoint.root.to_vec(),
                key_rotations,
            }))
        }
        .await;
        outcome(result)
    }

    #[tracing::instrument(skip_all, fields(method = "GetInclusionProof", stream, outcome))]
    async fn get_inclusion_proof(
        &self,
        request: Request<proto::GetInclusionProofRequest>,
    ) -> Result<Response<proto::GetInclusionProofResponse>, Status> {
        let result = async {
            principal(&request)?;
            let request = request.into_inner();
            let size = self.size_or_latest(request.size).await?;
            let hashes = self.store.inclusion_proof(request.position, size).await?;
            let leaf_hash = self.leaf_hash(request.position, size).await?;
            let checkpoint = self.stored_checkpoint_text(size).await?;
            Ok(Response::new(proto::GetInclusionProofResponse {
                position: request.position,
                size,
                leaf_hash: leaf_hash.to_vec(),
                hashes: hashes.iter().map(|h| h.to_vec()).collect(),
                checkpoint,
            }))
        }
        .await;
        outcome(result)
    }

    #[tracing::instrument(skip_all, fields(method = "GetConsistencyProof", stream, outcome))]
    async fn get_consistency_proof(
        &self,
        request: Request<proto::GetConsistencyProofRequest>,
    ) -> Result<Response<proto::GetConsistencyProofResponse>, Status> {
        let result = async {
            principal(&request)?;
            let request = request.into_inner();
            let new_size = self.size_or_latest(request.new_size).await?;
            let hashes = self
                .store
                .consistency_proof(request.old_size, new_size)
                .await?;
            let checkpoint = self.stored_checkpoint_text(new_size).await?;
            Ok(Response::new(proto::GetConsistencyProofResponse {
                old_size: request.old_size,
                new_size,
                hashes: hashes.iter().map(|h| h.to_vec()).collect(),
                checkpoint,
            }))
        }
        .await;
        outcome(result)
    }

    #[tracing::instrument(skip_all, fields(method = "Verify", stream, outcome))]
    async fn verify(
        &self,
        request: Request<proto::VerifyRequest>,
    ) -> Result<Response<proto::VerifyResponse>, Status> {
        let result = async {
            let principal = principal(&request)?;
            let scope = raw_read_committee(&principal).map(str::to_string);
            let request = request.into_inner();
            if request.to_position != 0 && request.to_position < request.from_position {
                return Err(Status::invalid_argument(format!(
                    "to_position {} is before from_position {}",
                    request.to_position, request.from_position
                )));
            }
            let report = self
                .store
                .verify(request.from_position, request.to_position)
                .await?;
            if let Some(bad) = &report.first_bad {
                tracing::warn!(position = bad.position, problem = %bad.problem, "verify found a bad record");
            }
            let bad_position = report.first_bad.as_ref().map(|bad| bad.position);
            let mut response = proto::VerifyResponse::from(report);
            if let Some(own) = scope {
                // The chain links every committee's records, so it is checked whole; what is
                // wrong with another committee's record is not this reader's to learn.
                if let Some(position) = bad_position
                    && self.committee_at(position).await.as_deref() != Some(own.as_str())
                {
                    response.problem = format!(
                        "the record at position {position} is not committee {own}'s (or cannot be read); \
                         an auditor or admin whose token names no committee sees what is wrong with it"
                    );
                }
                response.filtered_to_committee = own;
            }
            Ok(Response::new(response))
        }
        .await;
        outcome(result)
    }
}

/// A subscription being relayed to one client.
struct SubscribeState {
    inner: log::Subscription,
    shutdown: CancellationToken,
    chunk: usize,
    /// The next position the client has not received (for the resume hint).
    resume_from: u64,
    /// An item read while batching that belongs in the next message.
    /// `Some(None)` is a feed that ended while batching.
    pending: Option<Option<Result<SubscriptionItem, log::SubscriptionError>>>,
    done: bool,
    /// The committee the subscription is held to, if any.
    scope: Option<String>,
}

impl SubscribeState {
    /// Whether the subscription's scope shows `event`.
    fn shows(&self, event: &RecordedEvent) -> bool {
        shows_event(self.scope.as_deref(), event.metadata.committee.as_deref())
    }

    async fn next(mut self) -> Option<(Result<proto::SubscribeResponse, Status>, Self)> {
        if self.done {
            return None;
        }
        let item = loop {
            let item = match self.pending.take() {
                Some(item) => item,
                None => {
                    tokio::select! {
                        biased;
                        () = self.shutdown.cancelled() => {
                            self.done = true;
                            return Some((Err(status::shutting_down(self.resume_from)), self));
                        }
                        item = self.inner.next() => item,
                    }
                }
            };
            // An event the scope hides is passed over, as if a filter had left it out.
            if let Some(Ok(SubscriptionItem::Event(event))) = &item
                && !self.shows(event)
            {
                self.resume_from = event.position + 1;
                continue;
            }
            break item;
        };
        let filtered_to_committee = self.scope.clone().unwrap_or_default();
        let message = match item {
            None => {
                // The store ended the feed without an error: treat as a shutdown.
                self.done = true;
                return Some((Err(status::shutting_down(self.resume_from)), self));
            }
            Some(Err(error)) => {
                self.done = true;
                return Some((Err(error.into()), self));
            }
            Some(Ok(SubscriptionItem::CaughtUp { head })) => {
                // Everything up to the head was delivered or filtered out.
                self.resume_from = self.resume_from.max(head + 1);
                proto::subscribe_response::Message::CaughtUp(proto::CaughtUp {
                    head_position: head,
                    filtered_to_committee,
                })
            }
            Some(Ok(SubscriptionItem::Event(first))) => {
                let mut bytes = first.data.len();
                let mut events = vec![proto::RecordedEvent::from(first.as_ref())];
                self.resume_from = first.position + 1;
                // Batch whatever else is ready, without waiting.
                while events.len() < self.chunk && bytes < MESSAGE_DATA_BUDGET {
                    match self.inner.next().now_or_never() {
                        Some(Some(Ok(SubscriptionItem::Event(event)))) => {
                            self.resume_from = event.position + 1;
                            if !self.shows(&event) {
                                continue;
                            }
                            bytes += event.data.len();
                            events.push(proto::RecordedEvent::from(event.as_ref()));
                        }
                        Some(other) => {
                            self.pending = Some(other);
                            break;
                        }
                        None => break,
                    }
                }
                proto::subscribe_response::Message::Events(proto::ReadResponse {
                    events,
                    filtered_to_committee,
                })
            }
        };
        Some((
            Ok(proto::SubscribeResponse {
                message: Some(message),
            }),
            self,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::{ContentType, EventType, Metadata, StreamName};

    fn recorded(position: u64, bytes: usize) -> RecordedEvent {
        RecordedEvent {
            position,
            stream: StreamName::new("s").unwrap(),
            revision: position - 1,
            event_id: uuid::Uuid::new_v4(),
            event_type: EventType::new("T").unwrap(),
            recorded_at_micros: 0,
            metadata: Metadata::default(),
            data: vec![b'1'; bytes],
            content_type: ContentType::Binary,
            hash: [0; 32],
        }
    }

    fn sizes(messages: Vec<Result<proto::ReadResponse, Status>>) -> Vec<usize> {
        messages
            .into_iter()
            .map(|m| m.unwrap().events.len())
            .collect()
    }

    #[test]
    fn messages_are_bounded_by_count_and_bytes() {
        let small: Vec<_> = (1..=10).map(|p| recorded(p, 10)).collect();
        assert_eq!(sizes(page_messages(small, 4, None)), vec![4, 4, 2]);
        let big: Vec<_> = (1..=3).map(|p| recorded(p, 2 * 1024 * 1024)).collect();
        assert_eq!(sizes(page_messages(big, 256, None)), vec![1, 1, 1]);
        let huge = vec![recorded(1, 5 * 1024 * 1024)];
        assert_eq!(sizes(page_messages(huge, 256, None)), vec![1]);
        assert!(page_messages(Vec::new(), 4, None).is_empty());
    }
}
