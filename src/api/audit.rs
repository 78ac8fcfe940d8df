//! Reads of the raw log are themselves recorded in the log: every `ReadStream`, `ReadAll` and
//! `Subscribe` of `oversight.v1.EventLog` (callable by admins and auditors) first appends a
//! `LogRead.v1` event to the stream [`AUDIT_STREAM`] naming who read (subject, role,
//! committee), which RPC and which range. The token is never part of it. If the record cannot
//! be written, the read is refused: no raw read goes unrecorded.

use std::sync::Arc;

use serde::Serialize;
use tonic::Status;
use uuid::Uuid;

use crate::auth::Principal;
use crate::log::{
    self, Actor, AppendRequest, ContentType, Direction, EventStore, EventType, ExpectedRevision,
    Filter, Metadata, ProposedEvent, StreamAppend, StreamName, SubscribeFrom,
};

/// The stream that holds the records of log reads.
pub const AUDIT_STREAM: &str = "audit";
/// The event type of a recorded log read.
pub const LOG_READ_EVENT: &str = "LogRead.v1";

/// The payload of a `LogRead.v1` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogRead {
    /// Who read.
    pub subject: String,
    /// In which role.
    pub role: String,
    /// The reader's committee, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub committee: Option<String>,
    /// `ReadStream`, `ReadAll` or `Subscribe`.
    pub rpc: &'static str,
    /// What was asked for.
    pub range: Range,
}

/// The range of a log read, as requested.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Range {
    /// One stream.
    Stream {
        /// The stream.
        stream: String,
        /// The first revision asked for, if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        from_revision: Option<u64>,
        /// `forwards` or `backwards`.
        direction: &'static str,
        /// At most this many events (0: no limit given).
        max_count: u64,
    },
    /// The whole log.
    All {
        /// The first position asked for, if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        from_position: Option<u64>,
        /// `forwards` or `backwards`.
        direction: &'static str,
        /// At most this many events.
        max_count: u64,
        /// Stream prefixes of the filter.
        stream_prefixes: Vec<String>,
        /// Event types of the filter.
        event_types: Vec<String>,
    },
    /// A subscription.
    Subscription {
        /// The first position, or none for "from now on".
        #[serde(skip_serializing_if = "Option::is_none")]
        from_position: Option<u64>,
        /// Stream prefixes of the filter.
        stream_prefixes: Vec<String>,
        /// Event types of the filter.
        event_types: Vec<String>,
    },
}

fn direction(direction: Direction) -> &'static str {
    match direction {
        Direction::Forwards => "forwards",
        Direction::Backwards => "backwards",
    }
}

impl Range {
    /// The range of a `ReadStream`.
    pub fn stream(read: &log::ReadStream) -> Self {
        Range::Stream {
            stream: read.stream.as_str().to_string(),
            from_revision: read.from_revision,
            direction: direction(read.direction),
            max_count: u64::try_from(read.max_count).unwrap_or(u64::MAX),
        }
    }

    /// The range of a `ReadAll`.
    pub fn all(read: &log::ReadAll) -> Self {
        Range::All {
            from_position: read.from_position,
            direction: direction(read.direction),
            max_count: u64::try_from(read.max_count).unwrap_or(u64::MAX),
            stream_prefixes: read.filter.stream_prefixes.clone(),
            event_types: read.filter.event_types.clone(),
        }
    }

    /// The range of a `Subscribe`.
    pub fn subscription(start: SubscribeFrom, filter: &Filter) -> Self {
        Range::Subscription {
            from_position: match start {
                SubscribeFrom::Position(p) => Some(p),
                SubscribeFrom::Now => None,
            },
            stream_prefixes: filter.stream_prefixes.clone(),
            event_types: filter.event_types.clone(),
        }
    }
}

/// Appends the record of `principal` reading `range` through `rpc`; returns its position.
pub async fn record_log_read(
    store: &Arc<dyn EventStore>,
    principal: &Principal,
    rpc: &'static str,
    range: Range,
) -> Result<u64, Status> {
    let record = LogRead {
        subject: principal.subject.clone(),
        role: principal.role.as_str().to_string(),
        committee: principal.committee.clone(),
        rpc,
        range,
    };
    let data = serde_json::to_vec(&record).map_err(|e| {
        tracing::error!(error = %e, "cannot serialise a log-read record");
        Status::internal("cannot record the read in the audit stream")
    })?;
    let event = ProposedEvent {
        event_id: Uuid::now_v7(),
        event_type: EventType::new(LOG_READ_EVENT).map_err(Status::from)?,
        data,
        content_type: ContentType::Json,
        metadata: Metadata {
            actor: Some(Actor {
                subject: principal.subject.clone(),
                role: principal.role.as_str().to_string(),
            }),
            committee: principal.committee.clone(),
            ..Metadata::default()
        },
    };
    let outcome = store
        .append(AppendRequest {
            appends: vec![StreamAppend {
                stream: StreamName::new(AUDIT_STREAM).map_err(Status::from)?,
                expected: ExpectedRevision::Any,
                events: vec![event],
            }],
        })
        .await?;
    Ok(outcome.last_position())
}
