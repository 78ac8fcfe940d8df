//! The canonical byte encoding of a record and the hash chain over it.
//!
//! The layout is documented byte by byte in `docs/STORAGE.md`; changing it changes every hash,
//! so a new layout gets a new format version byte and the decoder keeps reading the old ones.

use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::types::{ContentType, EventType, Metadata, ProposedEvent, RecordedEvent, StreamName};

/// The version byte that starts every canonical record.
pub const FORMAT_VERSION: u8 = 1;
/// Length of a SHA-256 hash.
pub const HASH_LEN: usize = 32;
/// The "previous hash" of the first record.
pub const GENESIS_HASH: [u8; HASH_LEN] = [0u8; HASH_LEN];

/// Why stored bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);

/// The canonical bytes of a record: everything but its hash.
pub fn encode_canonical(record: &RecordedEvent) -> Vec<u8> {
    let metadata = metadata_json(&record.metadata);
    let mut out = Vec::with_capacity(
        64 + record.stream.as_str().len()
            + record.event_type.as_str().len()
            + metadata.len()
            + record.data.len(),
    );
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&record.position.to_be_bytes());
    put_bytes(&mut out, record.stream.as_str().as_bytes());
    out.extend_from_slice(&record.revision.to_be_bytes());
    out.extend_from_slice(record.event_id.as_bytes());
    put_bytes(&mut out, record.event_type.as_str().as_bytes());
    out.extend_from_slice(&record.recorded_at_micros.to_be_bytes());
    out.push(record.content_type.code());
    put_bytes(&mut out, &metadata);
    put_bytes(&mut out, &record.data);
    out
}

/// The canonical bytes of an event before the writer gives it its place: everything is encoded
/// (metadata JSON, payload) but position, revision and time, which [`Unplaced::place`] writes in
/// at fixed offsets. This keeps the encoding off the single writer thread; the bytes placed are
/// exactly [`encode_canonical`]'s.
#[derive(Debug, Clone)]
pub struct Unplaced {
    bytes: Vec<u8>,
    revision_at: usize,
    recorded_at_at: usize,
}

impl Unplaced {
    /// Encodes `event` of `stream`, whose metadata already names its actor.
    pub fn new(stream: &StreamName, event: &ProposedEvent) -> Self {
        let metadata = metadata_json(&event.metadata);
        let mut out = Vec::with_capacity(
            64 + stream.as_str().len()
                + event.event_type.as_str().len()
                + metadata.len()
                + event.data.len()
                + HASH_LEN,
        );
        out.push(FORMAT_VERSION);
        out.extend_from_slice(&0u64.to_be_bytes());
        put_bytes(&mut out, stream.as_str().as_bytes());
        let revision_at = out.len();
        out.extend_from_slice(&0u64.to_be_bytes());
        out.extend_from_slice(event.event_id.as_bytes());
        put_bytes(&mut out, event.event_type.as_str().as_bytes());
        let recorded_at_at = out.len();
        out.extend_from_slice(&0i64.to_be_bytes());
        out.push(event.content_type.code());
        put_bytes(&mut out, &metadata);
        put_bytes(&mut out, &event.data);
        Self {
            bytes: out,
            revision_at,
            recorded_at_at,
        }
    }

    /// The canonical bytes of the record at `position` and `revision`, recorded at
    /// `recorded_at_micros` (with room left for the hash that follows them when stored).
    pub fn place(mut self, position: u64, revision: u64, recorded_at_micros: i64) -> Vec<u8> {
        self.bytes[1..9].copy_from_slice(&position.to_be_bytes());
        self.bytes[self.revision_at..self.revision_at + 8].copy_from_slice(&revision.to_be_bytes());
        self.bytes[self.recorded_at_at..self.recorded_at_at + 8]
            .copy_from_slice(&recorded_at_micros.to_be_bytes());
        self.bytes
    }
}

/// `SHA-256(previous ‖ canonical)`.
pub fn chain_hash(previous: &[u8; HASH_LEN], canonical: &[u8]) -> [u8; HASH_LEN] {
    let mut hasher = Sha256::new();
    hasher.update(previous);
    hasher.update(canonical);
    hasher.finalize().into()
}

/// The stored value of a record: canonical bytes followed by the record's hash.
pub fn encode_stored(record: &RecordedEvent) -> Vec<u8> {
    let mut out = encode_canonical(record);
    out.extend_from_slice(&record.hash);
    out
}

/// Splits a stored value into its canonical bytes and stored hash.
pub fn split_stored(stored: &[u8]) -> Result<(&[u8], [u8; HASH_LEN]), DecodeError> {
    if stored.len() < HASH_LEN + 1 {
        return Err(DecodeError(format!(
            "record is {} bytes, shorter than the smallest possible record",
            stored.len()
        )));
    }
    let (canonical, hash) = stored.split_at(stored.len() - HASH_LEN);
    let mut out = [0u8; HASH_LEN];
    out.copy_from_slice(hash);
    Ok((canonical, out))
}

/// Decodes a stored value (canonical bytes ‖ hash) into a record.
pub fn decode_stored(stored: &[u8]) -> Result<RecordedEvent, DecodeError> {
    let (canonical, hash) = split_stored(stored)?;
    let mut r = Reader { bytes: canonical };
    let version = r.u8("format version")?;
    if version != FORMAT_VERSION {
        return Err(DecodeError(format!(
            "unknown record format version {version}"
        )));
    }
    let position = r.u64("position")?;
    let stream = r.string("stream")?;
    let stream = StreamName::new(stream).map_err(|e| DecodeError(e.to_string()))?;
    let revision = r.u64("revision")?;
    let event_id = Uuid::from_bytes(r.array::<16>("event id")?);
    let event_type = r.string("event type")?;
    let event_type = EventType::new(event_type).map_err(|e| DecodeError(e.to_string()))?;
    let recorded_at_micros = i64::from_be_bytes(r.array::<8>("recorded_at")?);
    let code = r.u8("content type")?;
    let content_type = ContentType::from_code(code)
        .ok_or_else(|| DecodeError(format!("unknown content type code {code}")))?;
    let metadata = r.bytes("metadata")?;
    let metadata: Metadata = serde_json::from_slice(metadata)
        .map_err(|e| DecodeError(format!("metadata is not valid: {e}")))?;
    let data = r.bytes("data")?.to_vec();
    if !r.bytes.is_empty() {
        return Err(DecodeError(format!(
            "{} unexpected trailing bytes",
            r.bytes.len()
        )));
    }
    Ok(RecordedEvent {
        position,
        stream,
        revision,
        event_id,
        event_type,
        recorded_at_micros,
        metadata,
        data,
        content_type,
        hash,
    })
}

/// The digest that makes an append idempotent: what the client asked to store for this event
/// (stream, type, content type, payload and client-supplied metadata), not where it landed or
/// who sent it.
pub fn payload_digest(stream: &StreamName, event: &ProposedEvent) -> [u8; HASH_LEN] {
    let mut client_metadata = event.metadata.clone();
    client_metadata.actor = None;
    let mut hasher = Sha256::new();
    for part in [
        stream.as_str().as_bytes(),
        event.event_type.as_str().as_bytes(),
        &[event.content_type.code()],
        &metadata_json(&client_metadata),
        &event.data,
    ] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.finalize().into()
}

fn metadata_json(metadata: &Metadata) -> Vec<u8> {
    // Struct fields serialize in declaration order and `extra` is a BTreeMap, so the JSON is
    // canonical. Serializing plain strings and maps cannot fail.
    serde_json::to_vec(metadata).unwrap_or_default()
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    // Lengths are bounded by the append limits, far below u32::MAX.
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], DecodeError> {
        if self.bytes.len() < n {
            return Err(DecodeError(format!(
                "record ends inside its {what} (needs {n} bytes, {} left)",
                self.bytes.len()
            )));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u8(&mut self, what: &str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(what)?[0])
    }

    fn u64(&mut self, what: &str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array::<8>(what)?))
    }

    fn bytes(&mut self, what: &str) -> Result<&'a [u8], DecodeError> {
        let len = u32::from_be_bytes(self.array::<4>(what)?) as usize;
        self.take(len, what)
    }

    fn string(&mut self, what: &str) -> Result<String, DecodeError> {
        let bytes = self.bytes(what)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| DecodeError(format!("{what} is not valid UTF-8")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RecordedEvent {
        RecordedEvent {
            position: 7,
            stream: StreamName::new("appointee-1").unwrap(),
            revision: 2,
            event_id: Uuid::from_u128(42),
            event_type: EventType::new("AppointeeRegistered.v1").unwrap(),
            recorded_at_micros: 1_700_000_000_000_000,
            metadata: Metadata {
                correlation_id: Some("c".into()),
                ..Metadata::default()
            },
            data: br#"{"name":"x"}"#.to_vec(),
            content_type: ContentType::Json,
            hash: [9u8; 32],
        }
    }

    #[test]
    fn stored_record_round_trips() {
        let record = sample();
        let decoded = decode_stored(&encode_stored(&record)).unwrap();
        assert_eq!(decoded, record);
    }

    #[test]
    fn truncated_record_is_an_error_not_a_panic() {
        let stored = encode_stored(&sample());
        for len in 0..stored.len() {
            assert!(decode_stored(&stored[..len]).is_err(), "length {len}");
        }
    }

    #[test]
    fn placed_bytes_are_the_canonical_bytes() {
        for record in [
            sample(),
            RecordedEvent {
                position: u64::MAX,
                revision: 0,
                recorded_at_micros: -1,
                metadata: Metadata::default(),
                data: Vec::new(),
                content_type: ContentType::Binary,
                ..sample()
            },
        ] {
            let proposed = ProposedEvent {
                event_id: record.event_id,
                event_type: record.event_type.clone(),
                data: record.data.clone(),
                content_type: record.content_type,
                metadata: record.metadata.clone(),
            };
            let placed = Unplaced::new(&record.stream, &proposed).place(
                record.position,
                record.revision,
                record.recorded_at_micros,
            );
            assert_eq!(placed, encode_canonical(&record));
        }
    }

    #[test]
    fn chain_hash_depends_on_previous_hash_and_content() {
        let canonical = encode_canonical(&sample());
        let a = chain_hash(&GENESIS_HASH, &canonical);
        let b = chain_hash(&[1u8; 32], &canonical);
        let mut changed = canonical.clone();
        let last = changed.len() - 1;
        changed[last] ^= 1;
        let c = chain_hash(&GENESIS_HASH, &changed);
        assert_ne!(a, b);
        assert_ne!(a, c);
    }
}
