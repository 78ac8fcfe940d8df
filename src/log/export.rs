//! The export format of the log: JSON Lines, one record per line, in position order, holding
//! everything needed to recompute the hash chain without the server (`docs/OPERATIONS.md`).
//!
//! A line carries the record's fields, its recorded time both as microseconds (what is hashed)
//! and as RFC 3339 text (for people), the previous record's hash and its own. A JSON payload is
//! kept as its exact text in `data` (re-encoding it would change its bytes and so its hash); a
//! binary payload is hex in `data_hex`. [`ChainCheck`] recomputes every hash with
//! [`super::codec::encode_canonical`], the same encoding the store hashes.

use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

use super::codec::{GENESIS_HASH, HASH_LEN, chain_hash, encode_canonical};
use super::merkle::{self, Frontier, Hash};
use super::types::{ContentType, EventType, Head, Metadata, RecordedEvent, StreamName, hex_hash};

/// One line of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportLine {
    /// Global position, 1-based and gapless.
    pub position: u64,
    /// The stream.
    pub stream: StreamName,
    /// 0-based revision within the stream.
    pub revision: u64,
    /// The event's id.
    pub event_id: Uuid,
    /// The event's type.
    pub event_type: EventType,
    /// `json` or `binary`.
    pub content_type: ContentType,
    /// Context, exactly as stored (and hashed).
    pub metadata: Metadata,
    /// The payload's exact text, for JSON payloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// The payload as hex, for binary payloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_hex: Option<String>,
    /// Commit time, microseconds since the Unix epoch (UTC); this is what is hashed.
    pub recorded_at_micros: i64,
    /// The same time as RFC 3339 text, for people; not hashed, not checked.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub recorded_at: String,
    /// The hash of the previous record (zeros before position 1).
    #[serde(with = "hex_hash")]
    pub previous_hash: [u8; HASH_LEN],
    /// `SHA-256(previous_hash ‖ canonical bytes)`.
    #[serde(with = "hex_hash")]
    pub hash: [u8; HASH_LEN],
}

/// Why a line of an export is not a valid record of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ExportLineError {
    /// The line is not JSON of the export format.
    #[error("not a record of the export format: {0}")]
    Malformed(String),
    /// The payload fields do not fit the content type.
    #[error("{0}")]
    Payload(String),
    /// The position does not continue the previous line's.
    #[error("position {found} follows position {previous}; positions must be gapless from 1")]
    Gap {
        /// The previous line's position (0 before the first).
        previous: u64,
        /// This line's.
        found: u64,
    },
    /// `previous_hash` is not the previous record's hash.
    #[error("previous_hash {found} is not the hash of the record before it ({expected})")]
    PreviousHash {
        /// The previous record's hash, hex.
        expected: String,
        /// What the line says, hex.
        found: String,
    },
    /// `hash` does not match the recomputed hash of the record's content.
    #[error(
        "hash {found} does not match the record's content (recomputed {computed}); the record was changed after it was written"
    )]
    Hash {
        /// The recomputed hash, hex.
        computed: String,
        /// What the line says, hex.
        found: String,
    },
}

impl ExportLine {
    /// The line for `record`, whose predecessor in the log has hash `previous_hash`.
    pub fn new(record: &RecordedEvent, previous_hash: [u8; HASH_LEN]) -> Self {
        let (data, data_hex) = match record.content_type {
            ContentType::Json => match String::from_utf8(record.data.clone()) {
                Ok(text) => (Some(text), None),
                // Checked JSON is UTF-8; should a stored record hold other bytes, keep them.
                Err(e) => (None, Some(hex::encode(e.as_bytes()))),
            },
            ContentType::Binary => (None, Some(hex::encode(&record.data))),
        };
        let recorded_at = chrono::DateTime::from_timestamp_micros(record.recorded_at_micros)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
            .unwrap_or_default();
        Self {
            position: record.position,
            stream: record.stream.clone(),
            revision: record.revision,
            event_id: record.event_id,
            event_type: record.event_type.clone(),
            content_type: record.content_type,
            metadata: record.metadata.clone(),
            data,
            data_hex,
            recorded_at_micros: record.recorded_at_micros,
            recorded_at,
            previous_hash,
            hash: record.hash,
        }
    }

    /// Parses one line of an export.
    pub fn parse(line: &str) -> Result<Self, ExportLineError> {
        serde_json::from_str(line).map_err(|e| ExportLineError::Malformed(e.to_string()))
    }

    /// The line as JSON text (no newline).
    pub fn to_json(&self) -> String {
        // Plain strings, numbers and maps: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The record this line describes, with the hash the line states.
    pub fn record(&self) -> Result<RecordedEvent, ExportLineError> {
        let data = match (&self.data, &self.data_hex) {
            (Some(text), None) => text.as_bytes().to_vec(),
            (None, Some(hex_text)) => hex::decode(hex_text)
                .map_err(|e| ExportLineError::Payload(format!("data_hex is not hex: {e}")))?,
            (Some(_), Some(_)) => {
                return Err(ExportLineError::Payload(
                    "has both data and data_hex; a record has one payload".into(),
                ));
            }
            (None, None) => {
                return Err(ExportLineError::Payload(
                    "has neither data nor data_hex".into(),
                ));
            }
        };
        Ok(RecordedEvent {
            position: self.position,
            stream: self.stream.clone(),
            revision: self.revision,
            event_id: self.event_id,
            event_type: self.event_type.clone(),
            recorded_at_micros: self.recorded_at_micros,
            metadata: self.metadata.clone(),
            data,
            content_type: self.content_type,
            hash: self.hash,
        })
    }
}

/// Follows the hash chain record by record, as an export is written or read.
#[derive(Debug, Clone)]
pub struct ChainCheck {
    head: Head,
}

impl Default for ChainCheck {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainCheck {
    /// A check starting before position 1.
    pub fn new() -> Self {
        Self {
            head: Head {
                position: 0,
                hash: GENESIS_HASH,
            },
        }
    }

    /// The last record accepted (position 0 and zeros before the first).
    pub fn head(&self) -> Head {
        self.head
    }

    /// Checks that `record` continues the chain and that its hash is the hash of its content;
    /// on success it becomes the new head.
    pub fn accept(&mut self, record: &RecordedEvent) -> Result<(), ExportLineError> {
        if record.position != self.head.position + 1 {
            return Err(ExportLineError::Gap {
                previous: self.head.position,
                found: record.position,
            });
        }
        let computed = chain_hash(&self.head.hash, &encode_canonical(record));
        if computed != record.hash {
            return Err(ExportLineError::Hash {
                computed: hex::encode(computed),
                found: hex::encode(record.hash),
            });
        }
        self.head = Head {
            position: record.position,
            hash: record.hash,
        };
        Ok(())
    }

    /// Checks a parsed line: its `previous_hash`, then its record (see [`ChainCheck::accept`]).
    /// Returns the record.
    pub fn accept_line(&mut self, line: &ExportLine) -> Result<RecordedEvent, ExportLineError> {
        let record = line.record()?;
        if record.position == self.head.position + 1 && line.previous_hash != self.head.hash {
            return Err(ExportLineError::PreviousHash {
                expected: hex::encode(self.head.hash),
                found: hex::encode(line.previous_hash),
            });
        }
        self.accept(&record)?;
        Ok(record)
    }
}

/// Recomputes the Merkle tree over an export's first records, to compare its root with the one
/// a signed checkpoint states: the check that a chain recomputed after a change or a removal
/// cannot pass.
#[derive(Debug, Clone)]
pub struct TreeCheck {
    size: u64,
    tree: Frontier,
    root: Option<Hash>,
}

/// Why an export does not hold the records a checkpoint states.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TreeCheckError {
    /// The export ends before the checkpoint's size.
    #[error("the export holds {records} records; the checkpoint states {size}")]
    Short {
        /// Records in the export.
        records: u64,
        /// The checkpoint's size.
        size: u64,
    },
    /// The root recomputed from the export differs from the signed one.
    #[error(
        "the Merkle root of the export's first {size} records is {computed}, not the checkpoint's {signed}: the records are not the ones that were signed"
    )]
    Root {
        /// The checkpoint's size.
        size: u64,
        /// The root recomputed, hex.
        computed: String,
        /// The root signed, hex.
        signed: String,
    },
}

impl TreeCheck {
    /// A check of the first `size` records.
    pub fn new(size: u64) -> Self {
        Self {
            size,
            tree: Frontier::default(),
            root: (size == 0).then(merkle::empty_root),
        }
    }

    /// Takes the next record, in position order (records beyond the size are not needed).
    pub fn accept(&mut self, record: &RecordedEvent) {
        if self.tree.size() < self.size {
            self.tree
                .push(merkle::leaf_hash(&encode_canonical(record)), |_, _| {});
            if self.tree.size() == self.size {
                self.root = Some(self.tree.root());
            }
        }
    }

    /// Compares the recomputed root with `signed`, the checkpoint's.
    pub fn finish(&self, signed: &Hash) -> Result<(), TreeCheckError> {
        let Some(root) = self.root else {
            return Err(TreeCheckError::Short {
                records: self.tree.size(),
                size: self.size,
            });
        };
        if root != *signed {
            return Err(TreeCheckError::Root {
                size: self.size,
                computed: hex::encode(root),
                signed: hex::encode(signed),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: u64) -> Vec<RecordedEvent> {
        let mut previous = GENESIS_HASH;
        (1..=n)
            .map(|position| {
                let mut record = RecordedEvent {
                    position,
                    stream: StreamName::new("s-1").unwrap(),
                    revision: position - 1,
                    event_id: Uuid::from_u128(u128::from(position)),
                    event_type: EventType::new("Happened.v1").unwrap(),
                    recorded_at_micros: 1_700_000_000_000_000 + position as i64,
                    metadata: Metadata {
                        committee: Some(String::new()),
                        ..Metadata::default()
                    },
                    data: format!("{{ \"n\" :{position} }}").into_bytes(),
                    content_type: if position % 2 == 0 {
                        ContentType::Binary
                    } else {
                        ContentType::Json
                    },
                    hash: GENESIS_HASH,
                };
                record.hash = chain_hash(&previous, &encode_canonical(&record));
                previous = record.hash;
                record
            })
            .collect()
    }

    #[test]
    fn lines_round_trip_and_verify() {
        let records = chain(4);
        let mut writer = ChainCheck::new();
        let mut reader = ChainCheck::new();
        for record in &records {
            let previous = writer.head().hash;
            writer.accept(record).unwrap();
            let text = ExportLine::new(record, previous).to_json();
            assert!(!text.contains('\n'));
            let back = reader
                .accept_line(&ExportLine::parse(&text).unwrap())
                .unwrap();
            assert_eq!(&back, record);
        }
        assert_eq!(reader.head().hash, records[3].hash);
    }

    #[test]
    fn changed_payload_gap_and_previous_hash_are_named() {
        let records = chain(3);
        let line = ExportLine::new(&records[0], GENESIS_HASH);
        let mut tampered = line.clone();
        tampered.data = Some("{ \"n\" :9 }".into());
        let err = ChainCheck::new().accept_line(&tampered).unwrap_err();
        assert!(matches!(err, ExportLineError::Hash { .. }), "{err}");

        let mut check = ChainCheck::new();
        check.accept_line(&line).unwrap();
        let skip = ExportLine::new(&records[2], records[1].hash);
        let err = check.clone().accept_line(&skip).unwrap_err();
        assert_eq!(
            err,
            ExportLineError::Gap {
                previous: 1,
                found: 3
            }
        );
        let wrong_previous = ExportLine::new(&records[1], [7u8; 32]);
        let err = check.accept_line(&wrong_previous).unwrap_err();
        assert!(matches!(err, ExportLineError::PreviousHash { .. }), "{err}");
    }

    /// The root of `records` as the log's checkpoint would state it.
    fn root(records: &[RecordedEvent]) -> Hash {
        let mut check = TreeCheck::new(records.len() as u64);
        records.iter().for_each(|r| check.accept(r));
        check.root.unwrap()
    }

    /// Renumbers `records` from position 1 and recomputes their chain, as someone rewriting a
    /// log would.
    fn rechain(mut records: Vec<RecordedEvent>) -> Vec<RecordedEvent> {
        let mut previous = GENESIS_HASH;
        for (i, record) in records.iter_mut().enumerate() {
            record.position = i as u64 + 1;
            record.revision = i as u64;
            record.hash = chain_hash(&previous, &encode_canonical(record));
            previous = record.hash;
        }
        records
    }

    #[test]
    fn a_record_removed_and_the_chain_recomputed_fails_the_checkpoint_not_the_chain() {
        let records = chain(6);
        let signed = root(&records);
        let mut check = TreeCheck::new(6);
        records.iter().for_each(|r| check.accept(r));
        check.finish(&signed).unwrap();

        // Record 3 removed, the rest renumbered and re-chained: the chain holds.
        let mut removed = records.clone();
        removed.remove(2);
        let removed = rechain(removed);
        let mut chain_check = ChainCheck::new();
        for record in &removed {
            chain_check.accept(record).unwrap();
        }
        let mut check = TreeCheck::new(6);
        removed.iter().for_each(|r| check.accept(r));
        assert_eq!(
            check.finish(&signed),
            Err(TreeCheckError::Short {
                records: 5,
                size: 6
            })
        );
        // ... and with a record made up to fill the gap, the root differs.
        let mut filled = removed.clone();
        let mut extra = records[5].clone();
        extra.data = b"{}".to_vec();
        filled.push(extra);
        let filled = rechain(filled);
        let mut check = TreeCheck::new(6);
        filled.iter().for_each(|r| check.accept(r));
        assert!(matches!(
            check.finish(&signed),
            Err(TreeCheckError::Root { size: 6, .. })
        ));
    }

    #[test]
    fn a_forked_history_fails_the_checkpoint_of_the_other_branch() {
        let records = chain(5);
        let signed = root(&records);
        // The same first three records, then another history, re-chained: a restore from an
        // older backup continued differently.
        let mut fork = records[..3].to_vec();
        for mut record in records[3..].iter().cloned() {
            record.data = format!("{{\"fork\":{}}}", record.position).into_bytes();
            record.content_type = ContentType::Json;
            fork.push(record);
        }
        let fork = rechain(fork);
        let mut check = TreeCheck::new(5);
        fork.iter().for_each(|r| check.accept(r));
        assert!(matches!(
            check.finish(&signed),
            Err(TreeCheckError::Root { .. })
        ));
        // Its first three records are still those signed at size 3.
        let mut prefix = TreeCheck::new(3);
        fork.iter().for_each(|r| prefix.accept(r));
        prefix.finish(&root(&records[..3])).unwrap();
    }
}
