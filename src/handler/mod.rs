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
/// The events the kept states may have folded together, least recently used dropped first: a
/// state's memory grows with its stream (a committee's members, a session's participations), so
/// this bounds what the cache holds whatever streams are loaded. A stream longer than this is
/// folded for each load and not kept.
const CACHED_EVENTS: u64 = 65_536;

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
    /// A decision's staged step (the sealed ballot box) failed; nothing was written.
    #[error(transparent)]
    Staging(#[from] crate::ballot_box::BallotBoxError),
    /// The caller's command id was used before for a command with other content.
    #[error(
        "command id {command_id} was already used for a different command; use a new command id for a new command"
    )]
    CommandIdReused {
        /// The reused command id.
        command_id: Uuid,
    },
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
    /// True when the command had been carried out before under the same command id: `events`
    /// and `position` are what that first execution wrote, and nothing new was written.
    pub replayed: bool,
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
    states: Arc<Mutex<StateCache>>,
}

/// The states [`Handler`] keeps: at most `max_states` of them, which have folded at most
/// `max_events` events together (a state of revision `r` counts `r + 1`).
struct StateCache {
    states: LruCache<(TypeId, StreamName), Folded>,
    max_states: NonZeroUsize,
    max_events: u64,
    /// The events the kept states have folded together.
    events: u64,
}

impl StateCache {
    fn new(max_states: NonZeroUsize, max_events: u64) -> Self {
        Self {
            states: LruCache::unbounded(),
            max_states,
            max_events,
            events: 0,
        }
    }

    fn get(&mut self, key: &(TypeId, StreamName)) -> Option<&Folded> {
        self.states.get(key)
    }

    /// Keeps `folded` unless a later revision of it is kept already or it alone folded more
    /// than `max_events`; then drops the least recently used states until both bounds hold.
    fn put(&mut self, key: (TypeId, StreamName), folded: Folded) {
        let weight = folded.events();
        if weight > self.max_events
            || self
                .states
                .peek(&key)
                .is_some_and(|kept| kept.revision >= folded.revision)
        {
            return;
        }
        if let Some(replaced) = self.states.put(key, folded) {
            self.events -= replaced.events();
        }
        self.events += weight;
        while self.events > self.max_events || self.states.len() > self.max_states.get() {
            match self.states.pop_lru() {
                Some((_, dropped)) => self.events -= dropped.events(),
                None => break,
            }
        }
    }
}

/// A stream's state as folded up to `revision` (whose event is at `position`).
struct Folded {
    state: Arc<dyn Any + Send + Sync>,
    revision: u64,
    position: u64,
}

impl Folded {
    /// The events folded into it.
    fn events(&self) -> u64 {
        self.revision.saturating_add(1)
    }
}

impl Handler {
    /// A handler over the given log.
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        Self {
            store,
            states: Arc::new(Mutex::new(StateCache::new(CACHED_STATES, CACHED_EVENTS))),
        }
    }

    fn states(&self) -> std::sync::MutexGuard<'_, StateCache> {
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
            // A load that ran alongside may have kept a later revision already.
            self.states().put(key, folded);
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
        loaded: Option<Loaded<A>>,
        conditions: &[(StreamName, ExpectedRevision)],
        command: &A::Command,
        ctx: &Context,
        metadata: &Metadata,
    ) -> Result<Executed<A::Event>, HandlerError> {
        let plain = Plain::<A> { command };
        self.execute_keyed(stream, loaded, conditions, &plain, ctx, metadata, None)
            .await
            .map(|(executed, _)| executed)
    }

    /// The one loop every command runs through: decide `decision` against the stream's state
    /// (the `loaded` one first, if given), stage its side output, append its events with the
    /// revision read (and the `conditions`), and retry on a race for the stream.
    ///
    /// With a `key`, the command is recognised when retried: before each decision the log is
    /// asked for the event the first execution under that key would have written; if it is
    /// there, its events and position are returned as [`Executed::replayed`] (after checking
    /// the key's digest against the one recorded: another content is
    /// [`HandlerError::CommandIdReused`]) and nothing is decided or staged. The events written
    /// under a key take their ids from it, so two concurrent executions of one command cannot
    /// both be written: the log's idempotency refuses the second, which then finds the first.
    #[allow(clippy::too_many_arguments)]
    pub async fn execute_keyed<A: Aggregate, D: Decision<A>>(
        &self,
        stream: &StreamName,
        mut loaded: Option<Loaded<A>>,
        conditions: &[(StreamName, ExpectedRevision)],
        decision: &D,
        ctx: &Context,
        metadata: &Metadata,
        key: Option<&CommandKey>,
    ) -> Result<(Executed<A::Event>, Option<D::Staged>), HandlerError> {
        let metadata = match key {
            Some(key) => &key.stamp(metadata),
            None => metadata,
        };
        for _ in 0..MAX_ATTEMPTS {
            if let Some(key) = key
                && let Some(done) = self.replay::<A>(key).await?
            {
                return Ok((done, None));
            }
            let loaded = match loaded.take() {
                Some(loaded) => loaded,
                None => self.load::<A>(stream).await?,
            };
            let (events, staged) = decision.decide(&loaded.state, ctx)?;
            if events.is_empty() {
                return Ok((
                    Executed {
                        events,
                        position: loaded.position,
                        replayed: false,
                    },
                    None,
                ));
            }
            let mut metadata = metadata.clone();
            if key.is_some() {
                metadata
                    .extra
                    .insert(COMMAND_EVENTS.to_string(), events.len().to_string());
            }
            let proposed = events
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    let mut proposed = to_proposed(e, &metadata)
                        .map_err(|detail| decode_error(stream, i, detail))?;
                    if let Some(key) = key {
                        proposed.event_id = key.event_id(i);
                    }
                    Ok(proposed)
                })
                .collect::<Result<Vec<_>, HandlerError>>()?;
            if let Some(staged) = &staged
                && !decision.stage(staged).await?
            {
                continue;
            }
            let mut appends = Vec::with_capacity(1 + conditions.len());
            appends.push(StreamAppend {
                stream: stream.clone(),
                expected: loaded.expected(),
                events: proposed,
            });
            // A stream named twice, or the command's own (whose revision is checked anyway),
            // is a condition once or not at all: the log refuses a stream twice in one append.
            for (name, at) in conditions {
                if !appends.iter().any(|append| append.stream == *name) {
                    appends.push(StreamAppend::condition(name.clone(), *at));
                }
            }
            let appended = self.store.append(AppendRequest { appends }).await;
            if appended.is_err()
                && let Some(staged) = &staged
            {
                // Not written: what was staged for it must not count.
                decision.unstage(staged).await?;
            }
            match appended {
                Ok(outcome) => {
                    return Ok((
                        Executed {
                            events,
                            position: outcome.last_position(),
                            replayed: false,
                        },
                        staged,
                    ));
                }
                Err(AppendError::WrongExpectedRevision {
                    stream: changed, ..
                }) => {
                    if changed != *stream {
                        return Err(HandlerError::ConditionChanged(changed.to_string()));
                    }
                }
                // Another execution under the same key was written first: the next round
                // finds it.
                Err(AppendError::IdempotencyConflict { .. }) if key.is_some() => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(HandlerError::Contended(stream.to_string()))
    }

    /// Refuses `key` if a command was executed under it with other content
    /// ([`HandlerError::CommandIdReused`]); a command whose target is found from its content
    /// asks before looking the target up, so that other content is told as such.
    pub async fn check_key(&self, key: &CommandKey) -> Result<(), HandlerError> {
        let Some(first) = self.store.find_event(key.event_id(0)).await? else {
            return Ok(());
        };
        match (&key.digest, first.metadata.extra.get(COMMAND_DIGEST)) {
            (Some(digest), recorded)
                if recorded.map(String::as_str) != Some(hex::encode(digest).as_str()) =>
            {
                Err(HandlerError::CommandIdReused {
                    command_id: key.command_id,
                })
            }
            _ => Ok(()),
        }
    }

    /// What a command executed before under `key` wrote, if it was executed.
    async fn replay<A: Aggregate>(
        &self,
        key: &CommandKey,
    ) -> Result<Option<Executed<A::Event>>, HandlerError> {
        let Some(first) = self.store.find_event(key.event_id(0)).await? else {
            return Ok(None);
        };
        let recorded_digest = first.metadata.extra.get(COMMAND_DIGEST);
        if let Some(digest) = &key.digest
            && recorded_digest.map(String::as_str) != Some(hex::encode(digest).as_str())
        {
            return Err(HandlerError::CommandIdReused {
                command_id: key.command_id,
            });
        }
        let count = first
            .metadata
            .extra
            .get(COMMAND_EVENTS)
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(1);
        let mut recorded = vec![first];
        for index in 1..count {
            match self.store.find_event(key.event_id(index)).await? {
                Some(event) => recorded.push(event),
                None => {
                    return Err(HandlerError::Decode {
                        stream: recorded[0].stream.to_string(),
                        position: recorded[0].position,
                        detail: format!(
                            "event {index} of command {} is missing from the log",
                            key.command_id
                        ),
                    });
                }
            }
        }
        let mut events = Vec::with_capacity(recorded.len());
        let mut position = 0;
        for event in &recorded {
            let decoded = <A::Event as DomainEvent>::from_json(&event.data).map_err(|e| {
                HandlerError::Decode {
                    stream: event.stream.to_string(),
                    position: event.position,
                    detail: e.to_string(),
                }
            })?;
            events.push(decoded);
            position = position.max(event.position);
        }
        Ok(Some(Executed {
            events,
            position,
            replayed: true,
        }))
    }
}

/// The key of `extra` in an event's metadata that holds the command id it was written under.
pub const COMMAND_ID: &str = "command_id";
/// The key of `extra` that holds the hex SHA-256 of the command's content (absent for ballots,
/// whose content must never be paired with a voter).
pub const COMMAND_DIGEST: &str = "command_digest";
/// The key of `extra` that holds how many events the command wrote.
pub const COMMAND_EVENTS: &str = "command_events";

/// Recognises a command when it is retried: its caller's command id, scoped to the principal
/// (another principal's id never finds it), and the digest of its validated content.
#[derive(Clone)]
pub struct CommandKey {
    command_id: Uuid,
    /// SHA-256 of the principal and the command id: the seed of the events' ids.
    seed: [u8; 32],
    digest: Option<[u8; 32]>,
}

impl std::fmt::Debug for CommandKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandKey")
            .field("command_id", &self.command_id)
            .finish_non_exhaustive()
    }
}

impl CommandKey {
    /// The key of `command_id` sent by `principal` (a stable text naming the principal), for a
    /// command whose validated content hashes to `digest` (`None`: the content is not
    /// recorded, and a retry is recognised by the id alone).
    pub fn new(principal: &str, command_id: Uuid, digest: Option<[u8; 32]>) -> Self {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        hasher.update(b"oversight command key v1\0");
        hasher.update(principal.as_bytes());
        hasher.update(b"\0");
        hasher.update(command_id.as_bytes());
        Self {
            command_id,
            seed: hasher.finalize().into(),
            digest,
        }
    }

    /// The command id.
    pub fn command_id(&self) -> Uuid {
        self.command_id
    }

    /// The id of the `index`-th event the command writes: a version-8 UUID derived from the key.
    pub fn event_id(&self, index: usize) -> Uuid {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        hasher.update(self.seed);
        hasher.update((index as u64).to_be_bytes());
        let hash: [u8; 32] = hasher.finalize().into();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&hash[..16]);
        uuid::Builder::from_custom_bytes(bytes).into_uuid()
    }

    /// `metadata` with the command id and digest recorded.
    fn stamp(&self, metadata: &Metadata) -> Metadata {
        let mut metadata = metadata.clone();
        metadata
            .extra
            .insert(COMMAND_ID.to_string(), self.command_id.to_string());
        if let Some(digest) = &self.digest {
            metadata
                .extra
                .insert(COMMAND_DIGEST.to_string(), hex::encode(digest));
        }
        metadata
    }
}

/// How a command is decided against its aggregate's state, and what must be kept elsewhere
/// before its events are written (the sealed ballot box): [`Handler::execute_keyed`] runs it.
#[async_trait::async_trait]
pub trait Decision<A: Aggregate>: Send + Sync {
    /// Kept apart from the log, staged before the events are appended.
    type Staged: Send + Sync;

    /// The events, and what to stage before they are appended (if anything).
    fn decide(&self, state: &A, ctx: &Context) -> Result<Decided<A, Self::Staged>, Rejection>;

    /// Keeps `staged` durably; `false` asks for a new decision (e.g. its random id was taken).
    async fn stage(&self, staged: &Self::Staged) -> Result<bool, HandlerError> {
        let _ = staged;
        Ok(true)
    }

    /// Removes what [`Decision::stage`] kept, because the events were not written.
    async fn unstage(&self, staged: &Self::Staged) -> Result<(), HandlerError> {
        let _ = staged;
        Ok(())
    }
}

/// A decision's events and what it stages.
pub type Decided<A, S> = (Vec<<A as Aggregate>::Event>, Option<S>);

/// A plain command: the aggregate's own `decide`, nothing staged.
pub struct Plain<'a, A: Aggregate> {
    /// The command.
    pub command: &'a A::Command,
}

impl<A: Aggregate> Decision<A> for Plain<'_, A> {
    type Staged = ();

    fn decide(&self, state: &A, ctx: &Context) -> Result<Decided<A, ()>, Rejection> {
        Ok((state.decide(self.command, ctx)?, None))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn key(stream: &str) -> (TypeId, StreamName) {
        (TypeId::of::<u8>(), StreamName::new(stream).unwrap())
    }

    fn folded(revision: u64) -> Folded {
        Folded {
            state: Arc::new(revision),
            revision,
            position: revision + 1,
        }
    }

    fn kept(cache: &StateCache) -> Vec<(String, u64)> {
        let mut kept: Vec<_> = cache
            .states
            .iter()
            .map(|((_, stream), f)| (stream.to_string(), f.revision))
            .collect();
        kept.sort();
        kept
    }

    #[test]
    fn the_kept_states_stay_within_their_events_least_recently_used_dropped_first() {
        let mut cache = StateCache::new(NonZeroUsize::new(10).unwrap(), 100);
        cache.put(key("a"), folded(39)); // 40 events
        cache.put(key("b"), folded(29)); // 30
        cache.put(key("c"), folded(19)); // 20
        assert_eq!(cache.events, 90);
        // `a` used last: `b` is the least recently used and goes when `d` comes.
        assert!(cache.get(&key("a")).is_some());
        cache.put(key("d"), folded(19));
        assert_eq!(
            kept(&cache),
            [("a".into(), 39), ("c".into(), 19), ("d".into(), 19)]
        );
        assert_eq!(cache.events, 80);
        // A later revision replaces the state and counts its events once.
        cache.put(key("c"), folded(29));
        assert_eq!(cache.events, 90);
        // An older one is not kept over it.
        cache.put(key("c"), folded(9));
        assert_eq!(cache.states.peek(&key("c")).map(|f| f.revision), Some(29));
        // A stream longer than the whole budget is not kept, and nothing is dropped for it.
        cache.put(key("huge"), folded(100));
        assert_eq!(kept(&cache).len(), 3);
        assert_eq!(cache.events, 90);
        // A state of exactly the budget is kept alone.
        cache.put(key("full"), folded(99));
        assert_eq!(kept(&cache), [("full".into(), 99)]);
        assert_eq!(cache.events, 100);
    }

    #[test]
    fn the_kept_states_stay_within_their_count() {
        let mut cache = StateCache::new(NonZeroUsize::new(2).unwrap(), 1_000);
        for stream in ["a", "b", "c"] {
            cache.put(key(stream), folded(0));
        }
        assert_eq!(kept(&cache), [("b".into(), 0), ("c".into(), 0)]);
        assert_eq!(cache.events, 2);
    }
}
