//! Records and the validated inputs and outputs of log operations.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::InvalidInput;

/// Longest accepted stream name, in bytes.
pub const MAX_STREAM_NAME_BYTES: usize = 256;
/// Longest accepted event type, in bytes.
pub const MAX_EVENT_TYPE_BYTES: usize = 128;
/// Longest accepted correlation or causation id, in bytes.
pub const MAX_METADATA_ID_BYTES: usize = 128;
/// Most entries in [`Metadata::extra`].
pub const MAX_METADATA_EXTRA: usize = 32;

/// A validated stream name: 1–256 bytes of UTF-8 without control characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StreamName(String);

impl StreamName {
    /// Validates a stream name.
    pub fn new(name: impl Into<String>) -> Result<Self, InvalidInput> {
        let name = name.into();
        if name.is_empty() {
            return Err(InvalidInput::new("stream", "must not be empty"));
        }
        if name.len() > MAX_STREAM_NAME_BYTES {
            return Err(InvalidInput::new(
                "stream",
                format!(
                    "is {} bytes long; at most {MAX_STREAM_NAME_BYTES} are allowed",
                    name.len()
                ),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(InvalidInput::new(
                "stream",
                "must not contain control characters",
            ));
        }
        Ok(Self(name))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for StreamName {
    type Error = InvalidInput;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<StreamName> for String {
    fn from(value: StreamName) -> Self {
        value.0
    }
}

impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A validated event type: 1–128 characters of ASCII letters, digits, `.`, `_` and `-`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EventType(String);

impl EventType {
    /// Validates an event type.
    pub fn new(name: impl Into<String>) -> Result<Self, InvalidInput> {
        let name = name.into();
        if name.is_empty() {
            return Err(InvalidInput::new("event_type", "must not be empty"));
        }
        if name.len() > MAX_EVENT_TYPE_BYTES {
            return Err(InvalidInput::new(
                "event_type",
                format!("is longer than {MAX_EVENT_TYPE_BYTES} characters"),
            ));
        }
        if let Some(bad) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(InvalidInput::new(
                "event_type",
                format!(
                    "contains {bad:?}; only ASCII letters, digits, '.', '_' and '-' are allowed"
                ),
            ));
        }
        Ok(Self(name))
    }

    /// The type as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EventType {
    type Error = InvalidInput;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<EventType> for String {
    fn from(value: EventType) -> Self {
        value.0
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How an event's payload bytes are to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentType {
    /// UTF-8 JSON, checked on append.
    Json,
    /// Opaque bytes.
    Binary,
}

impl ContentType {
    /// The byte used for this content type in the canonical encoding.
    pub fn code(self) -> u8 {
        match self {
            ContentType::Json => 1,
            ContentType::Binary => 2,
        }
    }

    /// The content type for a canonical-encoding byte.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(ContentType::Json),
            2 => Some(ContentType::Binary),
            _ => None,
        }
    }
}

/// The revision a stream must be at for an append to be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpectedRevision {
    /// Whatever the revision is.
    Any,
    /// The stream must not exist.
    NoStream,
    /// The stream must hold at least one event.
    StreamExists,
    /// The stream's last event must have exactly this revision.
    Exact(u64),
}

impl ExpectedRevision {
    /// Whether a stream whose last revision is `actual` (None: no stream) satisfies this.
    pub fn admits(self, actual: Option<u64>) -> bool {
        match self {
            ExpectedRevision::Any => true,
            ExpectedRevision::NoStream => actual.is_none(),
            ExpectedRevision::StreamExists => actual.is_some(),
            ExpectedRevision::Exact(n) => actual == Some(n),
        }
    }
}

impl fmt::Display for ExpectedRevision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedRevision::Any => f.write_str("any"),
            ExpectedRevision::NoStream => f.write_str("no_stream"),
            ExpectedRevision::StreamExists => f.write_str("stream_exists"),
            ExpectedRevision::Exact(n) => write!(f, "exact({n})"),
        }
    }
}

/// Who did something: recorded by the server from the authenticated principal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Actor {
    /// The principal's subject (user or token name).
    pub subject: String,
    /// The role the principal acted in.
    pub role: String,
}

/// Context recorded with every event. Serialized canonically (sorted keys) as JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Metadata {
    /// The authenticated caller; `None` only for events the system writes itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    /// Ties together the events of one user action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// The event or command that caused this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<String>,
    /// The committee (tenant) the event belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committee: Option<String>,
    /// Further context.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

/// An event to append, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposedEvent {
    /// Idempotency key.
    pub event_id: Uuid,
    /// The event's type.
    pub event_type: EventType,
    /// The payload.
    pub data: Vec<u8>,
    /// How to read the payload.
    pub content_type: ContentType,
    /// Context; the actor is set by the caller of the store from the principal.
    pub metadata: Metadata,
}

/// Events bound for one stream — or, with no events, a **condition**: the stream must be at
/// `expected` for the request's other streams to be written, and nothing is written to it.
/// A decision checked against several streams (a session scheduled for appointees serving on its
/// date) names the streams it read as conditions, so a write to any of them in between refuses
/// the append instead of letting the decision stand on what it no longer holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamAppend {
    /// Target stream.
    pub stream: StreamName,
    /// Required revision. A condition must say something: not [`ExpectedRevision::Any`].
    pub expected: ExpectedRevision,
    /// The events; none for a condition (and a request needs at least one event in all).
    pub events: Vec<ProposedEvent>,
}

impl StreamAppend {
    /// A condition: `stream` must be at `expected`; nothing is written to it.
    pub fn condition(stream: StreamName, expected: ExpectedRevision) -> Self {
        Self {
            stream,
            expected,
            events: Vec::new(),
        }
    }

    /// Whether this entry is a condition (it holds no events).
    pub fn is_condition(&self) -> bool {
        self.events.is_empty()
    }
}

/// An atomic append over one or more distinct streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendRequest {
    /// One entry per stream.
    pub appends: Vec<StreamAppend>,
}

impl AppendRequest {
    /// An append to a single stream.
    pub fn single(
        stream: StreamName,
        expected: ExpectedRevision,
        events: Vec<ProposedEvent>,
    ) -> Self {
        Self {
            appends: vec![StreamAppend {
                stream,
                expected,
                events,
            }],
        }
    }

    /// The number of events across all streams.
    pub fn event_count(&self) -> usize {
        self.appends.iter().map(|a| a.events.len()).sum()
    }
}

/// Where one stream's events landed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamAppended {
    /// The stream.
    pub stream: StreamName,
    /// Revision of the first event written.
    pub first_revision: u64,
    /// Revision of the last event written.
    pub last_revision: u64,
    /// Position of the first event written.
    pub first_position: u64,
    /// Position of the last event written.
    pub last_position: u64,
}

/// The result of an append.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendOutcome {
    /// One entry per stream of the request written to, in request order (conditions, which
    /// write nothing, have none).
    pub results: Vec<StreamAppended>,
    /// True when the append had already been made and nothing new was written.
    pub replayed: bool,
}

impl AppendOutcome {
    /// The highest position written (or found, for a replay).
    pub fn last_position(&self) -> u64 {
        self.results
            .iter()
            .map(|r| r.last_position)
            .max()
            .unwrap_or(0)
    }
}

/// An event as stored in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedEvent {
    /// Global, gapless, 1-based position.
    pub position: u64,
    /// The stream.
    pub stream: StreamName,
    /// 0-based revision within the stream.
    pub revision: u64,
    /// The event's id.
    pub event_id: Uuid,
    /// The event's type.
    pub event_type: EventType,
    /// Commit time, microseconds since the Unix epoch (UTC).
    pub recorded_at_micros: i64,
    /// Context.
    pub metadata: Metadata,
    /// The payload.
    pub data: Vec<u8>,
    /// How to read the payload.
    pub content_type: ContentType,
    /// `SHA-256(previous hash ‖ canonical bytes)`.
    #[serde(with = "hex_hash")]
    pub hash: [u8; 32],
}

/// The head of the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// The newest position; 0 for an empty log.
    pub position: u64,
    /// The hash at that position; zeros for an empty log.
    #[serde(with = "hex_hash")]
    pub hash: [u8; 32],
}

/// The Merkle tree over the records (RFC 6962, `docs/STORAGE.md`): how many records it covers
/// and its root hash. What a signed checkpoint states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeHead {
    /// The number of records, i.e. the last position (0 for an empty log).
    pub size: u64,
    /// The root hash of the tree over positions `1..=size`.
    #[serde(with = "hex_hash")]
    pub root: [u8; 32],
}

/// A signed checkpoint as the log keeps it (see [`super::checkpoint`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// The tree size it states.
    pub size: u64,
    /// The signed note, as text.
    pub note: String,
    /// Whether it announces a new key.
    pub rotation: bool,
}

/// Direction of a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Older to newer.
    #[default]
    Forwards,
    /// Newer to older.
    Backwards,
}

/// Restricts which events a read or subscription returns; empty lists match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Keep events whose stream starts with one of these.
    pub stream_prefixes: Vec<String>,
    /// Keep events of one of these types.
    pub event_types: Vec<String>,
}

impl Filter {
    /// Whether the filter lets every event through.
    pub fn is_empty(&self) -> bool {
        self.stream_prefixes.is_empty() && self.event_types.is_empty()
    }

    /// Whether an event with this stream and type passes.
    pub fn matches(&self, stream: &str, event_type: &str) -> bool {
        (self.stream_prefixes.is_empty()
            || self
                .stream_prefixes
                .iter()
                .any(|p| stream.starts_with(p.as_str())))
            && (self.event_types.is_empty() || self.event_types.iter().any(|t| t == event_type))
    }
}

/// A read of one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadStream {
    /// The stream.
    pub stream: StreamName,
    /// First revision (inclusive); `None`: the first forwards, the last backwards.
    pub from_revision: Option<u64>,
    /// Direction.
    pub direction: Direction,
    /// At most this many events.
    pub max_count: usize,
}

/// A read of the whole log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadAll {
    /// First position (inclusive); `None`: the start forwards, the head backwards.
    pub from_position: Option<u64>,
    /// Direction.
    pub direction: Direction,
    /// At most this many matching events.
    pub max_count: usize,
    /// Which events to return.
    pub filter: Filter,
}

/// A page of [`super::EventStore::read_all_page`] and where to continue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadAllPage {
    /// At most `max_count` matching events, in the direction of the read.
    pub events: Vec<RecordedEvent>,
    /// The position to pass as `from_position` to continue in the same direction, or `None`
    /// when the read reached the end of the log (the head forwards, position 1 backwards).
    /// A page may hold fewer than `max_count` events (even none) and still have a
    /// `next_position`: the read stops after `max_read_scan` records so that a selective filter
    /// over a long log answers promptly.
    pub next_position: Option<u64>,
}

/// Where a subscription starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscribeFrom {
    /// From this position, inclusive (0 is treated as 1).
    Position(u64),
    /// Only events committed after the subscription is established.
    Now,
}

/// What a subscription delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionItem {
    /// An event, in position order.
    Event(Arc<RecordedEvent>),
    /// Every event up to `head` has been delivered; what follows is live.
    CaughtUp {
        /// The head at that moment.
        head: u64,
    },
}

/// The outcome of [`super::EventStore::verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// Records checked.
    pub checked: u64,
    /// The first bad record and what is wrong with it.
    pub first_bad: Option<BadRecord>,
    /// The head when the check ran.
    pub head: Head,
}

/// A record that failed verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BadRecord {
    /// Its position.
    pub position: u64,
    /// What is wrong.
    pub problem: String,
}

/// Serializes 32-byte hashes as lowercase hex.
pub mod hex_hash {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes as hex.
    pub fn serialize<S: Serializer>(hash: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(hash))
    }

    /// Deserializes from hex.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(&text, &mut out).map_err(serde::de::Error::custom)?;
        Ok(out)
    }
}
