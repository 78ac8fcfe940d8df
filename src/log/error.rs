//! Typed errors of log operations. The gRPC boundary maps each variant to a status code in one
//! place (`api::status`); messages are lowercase and say what to do.

use std::fmt;

use thiserror::Error;

use super::types::{ExpectedRevision, StreamName};

/// Input that breaks a rule of the log, naming the field and the rule.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field} {rule}")]
pub struct InvalidInput {
    /// The offending field, e.g. `events[3].data`.
    pub field: String,
    /// The rule it breaks, e.g. `is not valid JSON: expected value at line 1 column 1`.
    pub rule: String,
}

impl InvalidInput {
    /// Builds an error for `field` breaking `rule`.
    pub fn new(field: impl Into<String>, rule: impl fmt::Display) -> Self {
        Self {
            field: field.into(),
            rule: rule.to_string(),
        }
    }

    /// Prefixes the field with its container, e.g. `events[2].` + `data`.
    pub fn within(mut self, prefix: impl fmt::Display) -> Self {
        self.field = format!("{prefix}.{}", self.field);
        self
    }
}

/// Why an append was not made. Nothing is written when any of these is returned.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AppendError {
    /// The request is malformed.
    #[error("invalid append: {0}")]
    Invalid(#[from] InvalidInput),
    /// A stream's revision did not match what the caller expected.
    #[error(
        "wrong expected revision on stream {stream}: expected {expected}, actual {}",
        actual.map_or_else(|| "no_stream".to_string(), |r| r.to_string())
    )]
    WrongExpectedRevision {
        /// The stream.
        stream: StreamName,
        /// What the caller expected.
        expected: ExpectedRevision,
        /// The stream's last revision, or `None` if it does not exist.
        actual: Option<u64>,
    },
    /// An event id was already used for a different event.
    #[error(
        "event id {event_id} was already appended with different content; use a new event id for a new event"
    )]
    IdempotencyConflict {
        /// The reused id.
        event_id: uuid::Uuid,
    },
    /// The storage engine failed; the append was not made.
    #[error("storage failure: {0}")]
    Storage(String),
    /// The disk is full; the append was not made.
    #[error("storage is full: {0}")]
    StorageFull(String),
    /// The store is shutting down and accepts no more appends.
    #[error("the event log is shutting down")]
    ShuttingDown,
}

/// Why a read failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The request is malformed.
    #[error("invalid read: {0}")]
    Invalid(#[from] InvalidInput),
    /// The stream holds no event.
    #[error("stream {0} not found")]
    StreamNotFound(StreamName),
    /// A stored record could not be decoded.
    #[error("stored record at position {position} is corrupt: {detail}")]
    Corrupt {
        /// Where.
        position: u64,
        /// What.
        detail: String,
    },
    /// The storage engine failed.
    #[error("storage failure: {0}")]
    Storage(String),
}

/// Why a subscription ended.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SubscriptionError {
    /// The subscriber did not keep up with the live feed and was cut off.
    #[error(
        "subscription fell behind the live feed and was ended; subscribe again from position {resume_from}"
    )]
    TooSlow {
        /// The next position the subscriber had not received.
        resume_from: u64,
    },
    /// The server is shutting down.
    #[error("the server is shutting down; subscribe again from position {resume_from}")]
    ShuttingDown {
        /// The next position the subscriber had not received.
        resume_from: u64,
    },
    /// Reading history failed.
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// Why the log could not be opened.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The data directory or file could not be created or read.
    #[error("cannot open {path}: {source}")]
    Io {
        /// The file or directory.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Another process holds the data file.
    #[error("{path} is in use by another process; stop it or choose another data directory")]
    Locked {
        /// The file.
        path: std::path::PathBuf,
    },
    /// The data file is damaged.
    #[error(
        "{path} is damaged ({detail}); the server will not start on it: restore the file from a backup, then `oversight log verify` on the restored server confirms the hash chain (or names the first bad position)"
    )]
    Corrupt {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The storage engine failed in another way.
    #[error("cannot open {path}: {detail}")]
    Storage {
        /// The file.
        path: std::path::PathBuf,
        /// What failed.
        detail: String,
    },
}

impl OpenError {
    /// Whether the disk (or the quota) is full.
    pub fn is_out_of_space(&self) -> bool {
        matches!(self, OpenError::Io { source, .. } if crate::reopen::is_out_of_space(source))
    }
}
