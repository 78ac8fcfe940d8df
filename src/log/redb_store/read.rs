//! Reads and verification. Everything here is synchronous redb work; the store runs it on the
//! blocking pool. The log is append-only, so positions at or below a head seen once never change
//! and a long walk may use several read transactions.

use redb::{Database, ReadableDatabase, ReadableTable};

use super::tree::{self, MERKLE};
use super::{
    CHECKPOINTS, EVENT_IDS, EVENTS, KEY_ROTATIONS, META, META_HEAD, STREAM_INDEX, Shared,
    decode_head, last_revision,
};
use crate::log::codec::{GENESIS_HASH, chain_hash, decode_stored, split_stored};
use crate::log::merkle::{self, NodeId};
use crate::log::{
    BadRecord, Direction, Filter, Head, ReadAll, ReadAllPage, ReadError, ReadStream, RecordedEvent,
    StoredCheckpoint, VerifyReport,
};

/// Records checked per read transaction by `verify`.
const VERIFY_CHUNK: u64 = 4096;

fn storage(e: impl Into<redb::Error>) -> ReadError {
    ReadError::Storage(e.into().to_string())
}

/// What a filter needs from a stored record, without decoding the rest.
pub(super) struct Peek<'a> {
    pub(super) position: u64,
    pub(super) stream: &'a str,
    pub(super) revision: u64,
    pub(super) event_id: u128,
    pub(super) event_type: &'a str,
}

/// Reads stream, revision and type from a stored record (layout in `docs/STORAGE.md`).
pub(super) fn peek(stored: &[u8]) -> Option<Peek<'_>> {
    fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        if bytes.len() < n {
            return None;
        }
        let (head, tail) = bytes.split_at(n);
        *bytes = tail;
        Some(head)
    }
    fn string<'a>(bytes: &mut &'a [u8]) -> Option<&'a str> {
        let len = u32::from_be_bytes(take(bytes, 4)?.try_into().ok()?) as usize;
        std::str::from_utf8(take(bytes, len)?).ok()
    }
    let mut bytes = stored;
    take(&mut bytes, 1)?; // version
    let position = u64::from_be_bytes(take(&mut bytes, 8)?.try_into().ok()?);
    let stream = string(&mut bytes)?;
    let revision = u64::from_be_bytes(take(&mut bytes, 8)?.try_into().ok()?);
    let event_id = u128::from_be_bytes(take(&mut bytes, 16)?.try_into().ok()?);
    let event_type = string(&mut bytes)?;
    Some(Peek {
        position,
        stream,
        revision,
        event_id,
        event_type,
    })
}

fn decode_at(position: u64, stored: &[u8]) -> Result<RecordedEvent, ReadError> {
    let record = decode_stored(stored).map_err(|e| ReadError::Corrupt {
        position,
        detail: e.0,
    })?;
    if record.position != position {
        return Err(ReadError::Corrupt {
            position,
            detail: format!("the record says it is at position {}", record.position),
        });
    }
    Ok(record)
}

pub(super) fn read_stream(
    shared: &Shared,
    request: &ReadStream,
) -> Result<Vec<RecordedEvent>, ReadError> {
    let db = shared.db()?;
    let txn = db.begin_read().map_err(storage)?;
    let index = txn.open_table(STREAM_INDEX).map_err(storage)?;
    let name = request.stream.as_str();
    let Some(last) = last_revision(&index, name).map_err(storage)? else {
        return Err(ReadError::StreamNotFound(request.stream.clone()));
    };
    let events = txn.open_table(EVENTS).map_err(storage)?;
    let mut positions = Vec::with_capacity(request.max_count.min(4096));
    match request.direction {
        Direction::Forwards => {
            let from = request.from_revision.unwrap_or(0);
            if from <= last {
                for entry in index
                    .range((name, from)..=(name, last))
                    .map_err(storage)?
                    .take(request.max_count)
                {
                    positions.push(entry.map_err(storage)?.1.value());
                }
            }
        }
        Direction::Backwards => {
            let from = request.from_revision.unwrap_or(last).min(last);
            for entry in index
                .range((name, 0)..=(name, from))
                .map_err(storage)?
                .rev()
                .take(request.max_count)
            {
                positions.push(entry.map_err(storage)?.1.value());
            }
        }
    }
    let mut out = Vec::with_capacity(positions.len());
    for position in positions {
        let stored = events
            .get(position)
            .map_err(storage)?
            .ok_or_else(|| ReadError::Corrupt {
                position,
                detail: format!("stream {name} lists this position but no event is stored there"),
            })?;
        out.push(decode_at(position, stored.value())?);
    }
    Ok(out)
}

/// The event appended under `event_id`, if any: the idempotency index gives its position.
pub(super) fn find_event(
    shared: &Shared,
    event_id: uuid::Uuid,
) -> Result<Option<RecordedEvent>, ReadError> {
    let db = shared.db()?;
    let txn = db.begin_read().map_err(storage)?;
    let ids = txn.open_table(EVENT_IDS).map_err(storage)?;
    let Some(found) = ids.get(event_id.as_u128()).map_err(storage)? else {
        return Ok(None);
    };
    let (position, _) = found.value();
    let events = txn.open_table(EVENTS).map_err(storage)?;
    let stored = events
        .get(position)
        .map_err(storage)?
        .ok_or_else(|| ReadError::Corrupt {
            position,
            detail: format!("event id {event_id} is indexed here but no event is stored there"),
        })?;
    decode_at(position, stored.value()).map(Some)
}

pub(super) fn read_all(shared: &Shared, request: &ReadAll) -> Result<ReadAllPage, ReadError> {
    let scan = scan(
        &*shared.db()?,
        request.from_position,
        request.direction,
        request.max_count,
        &request.filter,
        shared.options.max_read_scan.max(1),
    )?;
    let next_position = if scan.exhausted {
        None
    } else {
        let start = match request.direction {
            Direction::Forwards => request.from_position.unwrap_or(1).max(1),
            Direction::Backwards => request.from_position.unwrap_or(u64::MAX),
        };
        match (request.direction, scan.last_scanned) {
            (_, None) => Some(start),
            (Direction::Forwards, Some(last)) => Some(last + 1),
            (Direction::Backwards, Some(last)) => last.checked_sub(1).filter(|p| *p > 0),
        }
    };
    Ok(ReadAllPage {
        events: scan.events,
        next_position,
    })
}

/// The result of one bounded walk over `events`.
pub(super) struct Scan {
    pub(super) events: Vec<RecordedEvent>,
    /// The last position looked at, matching or not.
    pub(super) last_scanned: Option<u64>,
    /// Whether the walk reached the end of the log.
    pub(super) exhausted: bool,
}

/// Walks `events` from `from`, keeping at most `max_count` matches and looking at no more than
/// `max_scan` records.
pub(super) fn scan(
    db: &Database,
    from: Option<u64>,
    direction: Direction,
    max_count: usize,
    filter: &Filter,
    max_scan: usize,
) -> Result<Scan, ReadError> {
    let txn = db.begin_read().map_err(storage)?;
    let table = txn.open_table(EVENTS).map_err(storage)?;
    let mut range: Box<dyn Iterator<Item = _>> = match direction {
        Direction::Forwards => Box::new(table.range(from.unwrap_or(1).max(1)..).map_err(storage)?),
        Direction::Backwards => Box::new(
            table
                .range(..=from.unwrap_or(u64::MAX))
                .map_err(storage)?
                .rev(),
        ),
    };
    let mut out = Scan {
        events: Vec::with_capacity(max_count.min(1024)),
        last_scanned: None,
        exhausted: false,
    };
    let mut scanned = 0usize;
    let everything = filter.is_empty();
    loop {
        if out.events.len() >= max_count || scanned >= max_scan {
            break;
        }
        let Some(entry) = range.next() else {
            out.exhausted = true;
            break;
        };
        let (key, value) = entry.map_err(storage)?;
        let position = key.value();
        let stored = value.value();
        scanned += 1;
        out.last_scanned = Some(position);
        if !everything
            && let Some(p) = peek(stored)
            && !filter.matches(p.stream, p.event_type)
        {
            continue;
        }
        out.events.push(decode_at(position, stored)?);
    }
    Ok(out)
}

/// Recomputes the chain over `from..=to` (`to == 0`: up to the head), and the Merkle tree's
/// nodes that those records complete (from the stored right edge of the tree before `from`).
pub(super) fn verify(shared: &Shared, from: u64, to: u64) -> Result<VerifyReport, ReadError> {
    let head = {
        let db = shared.db()?;
        let txn = db.begin_read().map_err(storage)?;
        let meta = txn.open_table(META).map_err(storage)?;
        let stored = meta.get(META_HEAD).map_err(storage)?;
        match stored {
            None => Head {
                position: 0,
                hash: GENESIS_HASH,
            },
            Some(v) => match decode_head(v.value()) {
                Some(head) => head,
                None => {
                    return Ok(VerifyReport {
                        checked: 0,
                        first_bad: Some(BadRecord {
                            position: 0,
                            problem: "the head recorded in meta cannot be decoded".into(),
                        }),
                        head: shared.head(),
                    });
                }
            },
        }
    };
    let to = if to == 0 || to > head.position {
        head.position
    } else {
        to
    };
    let from = from.max(1);
    let mut report = VerifyReport {
        checked: 0,
        first_bad: None,
        head,
    };
    if from > to {
        return Ok(report);
    }
    let bad = |position: u64, problem: String| Some(BadRecord { position, problem });

    let mut prev = if from == 1 {
        GENESIS_HASH
    } else {
        let db = shared.db()?;
        let txn = db.begin_read().map_err(storage)?;
        let table = txn.open_table(EVENTS).map_err(storage)?;
        let stored = table.get(from - 1).map_err(storage)?;
        match stored.as_ref().map(|v| split_stored(v.value())) {
            Some(Ok((_, hash))) => hash,
            Some(Err(e)) => {
                report.first_bad = bad(from - 1, format!("cannot be decoded: {e}"));
                return Ok(report);
            }
            None => {
                report.first_bad = bad(from - 1, "is missing; positions must be gapless".into());
                return Ok(report);
            }
        }
    };

    let mut tree = {
        let db = shared.db()?;
        let txn = db.begin_read().map_err(storage)?;
        let nodes = txn.open_table(MERKLE).map_err(storage)?;
        match tree::frontier(&nodes, from - 1) {
            Ok(tree) => tree,
            Err(e) => {
                report.first_bad = bad(from - 1, format!("its Merkle tree is damaged: {e}"));
                return Ok(report);
            }
        }
    };

    let mut expected = from;
    while expected <= to {
        let chunk_end = to.min(expected.saturating_add(VERIFY_CHUNK - 1));
        let db = shared.db()?;
        let txn = db.begin_read().map_err(storage)?;
        let table = txn.open_table(EVENTS).map_err(storage)?;
        let nodes = txn.open_table(MERKLE).map_err(storage)?;
        for entry in table.range(expected..=chunk_end).map_err(storage)? {
            let (key, value) = entry.map_err(storage)?;
            let key = key.value();
            if key != expected {
                report.first_bad = bad(expected, "is missing; positions must be gapless".into());
                return Ok(report);
            }
            let stored = value.value();
            let record = match decode_stored(stored) {
                Ok(record) => record,
                Err(e) => {
                    report.first_bad = bad(key, format!("cannot be decoded: {e}"));
                    return Ok(report);
                }
            };
            if record.position != key {
                report.first_bad = bad(
                    key,
                    format!(
                        "is stored under {key} but says it is at {}",
                        record.position
                    ),
                );
                return Ok(report);
            }
            let (canonical, hash) = match split_stored(stored) {
                Ok(parts) => parts,
                Err(e) => {
                    report.first_bad = bad(key, format!("cannot be decoded: {e}"));
                    return Ok(report);
                }
            };
            let recomputed = chain_hash(&prev, canonical);
            if recomputed != hash {
                report.first_bad = bad(
                    key,
                    format!(
                        "hash mismatch: stored {}, recomputed {}",
                        hex::encode(hash),
                        hex::encode(recomputed)
                    ),
                );
                return Ok(report);
            }
            let mut differs: Option<Result<NodeId, redb::StorageError>> = None;
            tree.push(merkle::leaf_hash(canonical), |id, recomputed| {
                if differs.is_none() {
                    match nodes.get(id.storage_index()) {
                        Ok(Some(stored)) if stored.value() == *recomputed => {}
                        Ok(_) => differs = Some(Ok(id)),
                        Err(e) => differs = Some(Err(e)),
                    }
                }
            });
            match differs {
                None => {}
                Some(Ok(id)) => {
                    report.first_bad = bad(
                        key,
                        format!(
                            "the Merkle tree's node at level {} index {} (completed by this \
                             record) differs from the one recomputed from the records",
                            id.level, id.index
                        ),
                    );
                    return Ok(report);
                }
                Some(Err(e)) => return Err(storage(e)),
            }
            prev = hash;
            report.checked += 1;
            expected += 1;
        }
        if expected <= chunk_end {
            report.first_bad = bad(expected, "is missing; positions must be gapless".into());
            return Ok(report);
        }
    }
    if to == head.position && prev != head.hash {
        report.first_bad = bad(
            to,
            "the chain hash differs from the head recorded in meta".into(),
        );
    }
    Ok(report)
}

/// The signed checkpoint of `size`, or the latest.
pub(super) fn checkpoint(
    shared: &Shared,
    size: Option<u64>,
) -> Result<Option<StoredCheckpoint>, ReadError> {
    let db = shared.db()?;
    let txn = db.begin_read().map_err(storage)?;
    let table = txn.open_table(CHECKPOINTS).map_err(storage)?;
    let found = match size {
        Some(size) => table
            .get(size)
            .map_err(storage)?
            .map(|v| (size, v.value().to_string())),
        None => table
            .last()
            .map_err(storage)?
            .map(|(k, v)| (k.value(), v.value().to_string())),
    };
    let rotation = |note: &str| note.contains(crate::log::checkpoint::KEY_ROTATION);
    Ok(found.map(|(size, note)| StoredCheckpoint {
        size,
        rotation: rotation(&note),
        note,
    }))
}

/// Every key rotation, oldest first.
pub(super) fn key_rotations(shared: &Shared) -> Result<Vec<StoredCheckpoint>, ReadError> {
    let db = shared.db()?;
    let txn = db.begin_read().map_err(storage)?;
    let table = txn.open_table(KEY_ROTATIONS).map_err(storage)?;
    let mut out = Vec::new();
    for entry in table.range::<u64>(..).map_err(storage)? {
        let (_, note) = entry.map_err(storage)?;
        let note = note.value().to_string();
        let size = crate::log::checkpoint::SignedCheckpoint::parse(&note)
            .map(|c| c.checkpoint.size)
            .unwrap_or(0);
        out.push(StoredCheckpoint {
            size,
            note,
            rotation: true,
        });
    }
    Ok(out)
}
