//! Command handling: load an aggregate's stream, let the pure domain decide, append the events
//! with the revision that was read as the expected revision, and retry when another writer got
//! there first. The only place where the domain meets the log.

use std::any::{Any, TypeId};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;
use thiserror::Error;
use uuid::Uuid;

use crate::domain::{Aggregate, Context, DomainEvent, Rejection};
use crate::log::{
    AppendError, AppendRequest, ContentType, Direction, EventStore, EventType, ExpectedRevision,
    Metadata, ProposedEvent, ReadError, ReadStream, StreamAppend, StreamName,
};

/// How often a command is re-decided after losing a race for its stream.
const MAX_ATTEMPTS: usize = 5;
/// Events read per page when loading a stream.
const PAGE: usize = 1024;
/// Folded states kept between loads (one per aggregate type and stream, least recently used
/// dropped first).
const CACHED_STATES: NonZeroUsize = NonZeroUsize::new(1024).unwrap();

/// Why a command was not carried out. Nothing is written when any of these is returned.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum HandlerError {
    /// The domain refused the command.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// Appending failed.
    #[error(transparent)]
    Append(#[from] AppendError),
    /// Loading the stream failed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// A stored event of the stream could not be decoded as the aggregate's event.
    #[error("event at position {position} of stream {stream} cannot be read: {detail}")]
    Decode {
        /// The stream.
        stream: String,
        /// The position.
        position: u64,
        /// Why.
        detail: String,
    },
    /// Other writers kept changing the stream.
    #[error("stream {0} kept changing while the command was decided; retry the command")]
    Contended(String),
    /// A stream the command was checked against (one of its conditions) changed before the
    /// command's events were written; nothing was written. The caller checks again.
    #[error("stream {0}, which the command was checked against, changed while it was decided")]
    ConditionChanged(String),
}

/// An aggregate's state as loaded from its stream.
#[derive(Debug, Clone)]
pub struct Loaded<A> {
    /// The folded state.
    pub state: A,
    /// The stream's last revision, `None` if it does not exist.
    pub revision: Option<u64>,
    /// The position of the stream's last event (0 if none).
    pub position: u64,
}

impl<A> Loaded<A> {
    /// The revision the stream was loaded at, as an append expects it: exactly that revision,
    /// or no stream.
    pub fn expected(&self) -> ExpectedRevision {
        self.revision
            .map_or(ExpectedRevision::NoStream, ExpectedRevision::Exact)
    }
}

/// What a command wrote.
#[derive(Debug, Clone)]
pub struct Executed<E> {
    /// The events appended (empty if the command changed nothing).
    pub events: Vec<E>,
    /// The position of the last event written, or of the stream's last event if nothing was
    /// written: a query with this `min_position` sees the command's effect.
    pub position: u64,
}

/// Runs commands against aggregates stored in the log.
#[derive(Clone)]
pub struct Handler {
    store: Arc<dyn EventStore>,
    /// The states of recently loaded streams with the revision each was folded to. A stream's
    /// history never changes (the log is append-only), so a later load of the same stream folds
    /// only the events after that revision instead of the whole stream again — a committee of
    /// 500 members or a session of 500 ballots is not decoded for every command on it.
    /// Clones of the handler share it.
    states: Arc<Mutex<LruCache<(TypeId, StreamName), Folded>>>,
}

/// A stream's state as folded up to `revision` (whose event is at `position`).
struct Folded {
    state: Arc<dyn Any + Send + Sync>,
    revision: u64,
    position: u64,
}

impl Handler {
    /// A handler over the given log.
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        Self {
            store,
            states: Arc::new(Mutex::new(LruCache::new(CACHED_STATES))),
        }
    }

    fn states(&self) -> std::sync::MutexGuard<'_, LruCache<(TypeId, StreamName), Folded>> {
        // The cache holds only complete folds; a panic elsewhere cannot leave one half-made.
        self.states
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The log the handler writes to.
    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    /// Loads and folds an aggregate's stream: from the state last folded for it, if the handler
    /// still holds one, reading only the events after it.
    pub async fn load<A: Aggregate>(&self, stream: &StreamName) -> Result<Loaded<A>, HandlerError> {
        let key = (TypeId::of::<A>(), stream.clone());
        let cached = self.states().get(&key).and_then(|folded| {
            let state = folded.state.downcast_ref::<A>()?.clone();
            Some((state, folded.revision, folded.position))
        });
        let (mut state, mut revision, mut position) = match cached {
            Some((state, revision, position)) => (state, Some(revision), position),
            None => (A::default(), None, 0),
        };
        let from = revision;
        loop {
            let from_revision = revision.map(|r: u64| r + 1);
            let page = match self
                .store
                .read_stream(ReadStream {
                    stream: stream.clone(),
                    from_revision,
                    direction: Direction::Forwards,
                    max_count: PAGE,
                })
                .await
            {
                Ok(page) => page,
                Err(ReadError::StreamNotFound(_)) => break,
                Err(e) => return Err(e.into()),
            };
            let full = page.len() == PAGE;
            for recorded in &page {
                let event = <A::Event as DomainEvent>::from_json(&recorded.data).map_err(|e| {
                    HandlerError::Decode {
                        stream: stream.to_string(),
                        position: recorded.position,
                        detail: e.to_string(),
                    }
                })?;
                state.apply(&event);
                revision = Some(recorded.revision);
                position = recorded.position;
            }
            if !full {
                break;
            }
        }
        if let Some(at) = revision
            && revision != from
        {
            let folded = Folded {
                state: Arc::new(state.clone()),
                revision: at,
                position,
            };
            let mut states = self.states();
            // A load that ran alongside may have kept a later revision already.
            if states.peek(&key).is_none_or(|kept| kept.revision < at) {
                states.put(key, folded);
            }
        }
        Ok(Loaded {
            state,
            revision,
            position,
        })
    }

    /// Decides `command` against the current state of `stream` and appends the outcome.
    pub async fn execute<A: Aggregate>(
        &self,
        stream: &StreamName,
        command: &A::Command,
        ctx: &Context,
        metadata: &Metadata,
    ) -> Result<Executed<A::Event>, HandlerError> {
        self.execute_from::<A>(stream, None, command, ctx, metadata)
            .await
    }

    /// [`Handler::execute`], deciding first against `loaded` — the state the caller has just
    /// loaded from `stream` (e.g. to check who may act on it) — instead of loading it again. The
    /// append still expects the revision that state was read at, so a write in between is a
    /// conflict, and a retry loads the stream afresh.
    pub async fn execute_from<A: Aggregate>(
        &self,
        stream: &StreamName,
        loaded: Option<Loaded<A>>,
        command: &A::Command,
        ctx: &Context,
        metadata: &Metadata,
    ) -> Result<Executed<A::Event>, HandlerError> {
        self.execute_checked::<A>(stream, loaded, &[], command, ctx, metadata)
            .await
    }

    /// [`Handler::execute_from`], writing the events only if each of `conditions` still holds —
    /// the streams (and the revisions they were read at) that the caller checked the command
    /// against before deciding it, e.g. that its subjects exist and serve. They go into the same
    /// atomic append as conditions ([`StreamAppend::condition`]). A write to the command's own
    /// stream in between is retried here as usual; a write to a condition's stream is
    /// [`HandlerError::ConditionChanged`], for the caller to check again and decide anew.
    pub async fn execute_checked<A: Aggregate>(
        &self,
        stream: &StreamName,
        mut loaded: Option<Loaded<A>>,
        conditions: &[(StreamName, ExpectedRevision)],
        command: &A::Command,
        ctx: &Context,
        metadata: &Metadata,
    ) -> Result<Executed<A::Event>, HandlerError> {
        for _ in 0..MAX_ATTEMPTS {
            let loaded = match loaded.take() {
                Some(loaded) => loaded,
                None => self.load::<A>(stream).await?,
            };
            let events = loaded.state.decide(command, ctx)?;
            if events.is_empty() {
                return Ok(Executed {
                    events,
                    position: loaded.position,
                });
            }
            let expected = loaded.expected();
            let proposed = events
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    to_proposed(e, metadata).map_err(|detail| decode_error(stream, i, detail))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut appends = Vec::with_capacity(1 + conditions.len());
            appends.push(StreamAppend {
                stream: stream.clone(),
                expected,
                events: proposed,
            });
            // A stream named twice, or the command's own (whose revision is checked anyway),
            // is a condition once or not at all: the log refuses a stream twice in one append.
            for (name, at) in conditions {
                if !appends.iter().any(|append| append.stream == *name) {
                    appends.push(StreamAppend::condition(name.clone(), *at));
                }
            }
            match self.store.append(AppendRequest { appends }).await {
                Ok(outcome) => {
                    return Ok(Executed {
                        events,
                        position: outcome.last_position(),
                    });
                }
                Err(AppendError::WrongExpectedRevision {
                    stream: changed, ..
                }) => {
                    if changed != *stream {
                        return Err(HandlerError::ConditionChanged(changed.to_string()));
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(HandlerError::Contended(stream.to_string()))
    }
}

fn decode_error(stream: &StreamName, index: usize, detail: String) -> HandlerError {
    HandlerError::Decode {
        stream: stream.to_string(),
        position: 0,
        detail: format!("event {index} of the decision: {detail}"),
    }
}

/// Serializes a domain event for the log.
pub fn to_proposed<E: DomainEvent>(
    event: &E,
    metadata: &Metadata,
) -> Result<ProposedEvent, String> {
    let event_type = EventType::new(event.event_type()).map_err(|e| e.to_string())?;
    let data = serde_json::to_vec(event).map_err(|e| e.to_string())?;
    Ok(ProposedEvent {
        // Time-ordered: consecutive events' ids sit together in the log's idempotency index.
        event_id: Uuid::now_v7(),
        event_type,
        data,
        content_type: ContentType::Json,
        metadata: metadata.clone(),
    })
}
