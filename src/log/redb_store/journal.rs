//! The journal: what makes an append durable with one small write and one flush.
//!
//! A redb commit with `Durability::Immediate` writes every B-tree page the commit dirtied and the
//! header, then flushes; on a disk that flushes page by page that is a dozen device requests per
//! append. So the writer commits redb with `Durability::None` and makes each batch durable in
//! this journal instead: the batch's stored records (canonical bytes ‖ hash) and payload digests
//! as one checksummed frame, written at the journal's end and flushed with `sync_data` before any
//! append of the batch is acknowledged. Every so often (a checkpoint) the writer makes redb's
//! state durable with one `Durability::Immediate` commit and starts the journal over.
//!
//! On open, [`Journal::open`] returns the records of the frames written since the last
//! checkpoint; the store writes those beyond redb's durable head back into redb (they are the
//! commits a crash took from it), checking each one continues the hash chain.
//!
//! Layout (all integers little-endian; `docs/STORAGE.md` has the same):
//!
//! * header, 32 bytes at offset 0: magic `OVSJRNL\0` ‖ version u32 ‖ reserved u32 ‖ epoch u64 ‖
//!   CRC-32 of the previous 24 bytes ‖ 4 zero bytes;
//! * frames from offset 32: body length u32 ‖ CRC-32 of the body ‖ body, where the body is
//!   epoch u64 ‖ record count u32 ‖ for each record: payload digest (32 bytes) ‖ stored length
//!   u32 ‖ stored bytes.
//!
//! The journal ends at the first frame that is cut short, fails its checksum, has a length of
//! zero (the file is grown with zeros ahead of the frames) or carries another epoch. Starting
//! over only rewrites the header with the next epoch, so the frames of earlier epochs left in the
//! file are never read again, and the file's blocks are reused in place: a frame then costs its
//! own pages and no change of the file's size.

use std::time::{Duration, Instant};

use redb::StorageBackend;
use thiserror::Error;

use crate::log::codec::HASH_LEN;

const MAGIC: &[u8; 8] = b"OVSJRNL\0";
/// The journal layout written by this code.
pub(crate) const JOURNAL_VERSION: u32 = 1;
/// Bytes of the header.
pub(crate) const HEADER_LEN: u64 = 32;
/// Bytes before a frame's body: length and checksum.
const FRAME_PREFIX: usize = 8;
/// The file grows by at least this much at a time, written as zeros, so that frames overwrite
/// allocated blocks instead of extending the file.
const GROW_BY: u64 = 4 * 1024 * 1024;

/// Why a journal could not be opened.
#[derive(Debug, Error)]
pub(crate) enum JournalError {
    /// Reading or writing the file failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The header is not a journal's header this code can read.
    #[error("{0}")]
    Corrupt(String),
}

/// A frame could not be written.
#[derive(Debug)]
pub(crate) struct FrameWriteError {
    /// What failed.
    pub(crate) error: std::io::Error,
    /// Whether the journal is as it was before the frame (nothing of it readable).
    pub(crate) clean: bool,
}

/// One record as the journal holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JournalRecord {
    /// The payload digest, as in `event_ids`.
    pub(crate) digest: [u8; HASH_LEN],
    /// Canonical bytes ‖ hash, as in `events`.
    pub(crate) stored: Vec<u8>,
}

/// The journal file, open for appending frames.
#[derive(Debug)]
pub(crate) struct Journal {
    file: Box<dyn StorageBackend>,
    epoch: u64,
    /// Where the next frame goes.
    end: u64,
    /// Bytes of the file (zeros beyond `end`).
    allocated: u64,
    /// When the first frame after the last start-over was written.
    oldest: Option<Instant>,
}

/// What the frames of a journal file hold.
struct Scan {
    epoch: u64,
    /// Where the next frame goes.
    end: u64,
    records: Vec<JournalRecord>,
}

/// Reads the journal in `file` without changing it; `None` if it has no header yet (an empty
/// file, or one whose first header was never flushed).
fn scan(file: &dyn StorageBackend) -> Result<Option<Scan>, JournalError> {
    let allocated = file.len()?;
    if allocated == 0 {
        return Ok(None);
    }
    if allocated < HEADER_LEN {
        return Err(JournalError::Corrupt(format!(
            "the journal is {allocated} bytes, shorter than its header"
        )));
    }
    let mut header = [0u8; HEADER_LEN as usize];
    file.read(0, &mut header)?;
    if header.iter().all(|b| *b == 0) {
        return Ok(None);
    }
    let epoch = decode_header(&header)?;
    let mut records = Vec::new();
    let mut end = HEADER_LEN;
    let mut prefix = [0u8; FRAME_PREFIX];
    while end + FRAME_PREFIX as u64 <= allocated {
        file.read(end, &mut prefix)?;
        let len = u64::from(u32::from_le_bytes([
            prefix[0], prefix[1], prefix[2], prefix[3],
        ]));
        let crc = u32::from_le_bytes([prefix[4], prefix[5], prefix[6], prefix[7]]);
        let body_start = end + FRAME_PREFIX as u64;
        if len == 0 || body_start + len > allocated {
            break;
        }
        let Ok(size) = usize::try_from(len) else {
            break;
        };
        let mut body = vec![0u8; size];
        file.read(body_start, &mut body)?;
        if crc32fast::hash(&body) != crc {
            break;
        }
        match decode_body(&body, epoch) {
            Some(frame) => records.extend(frame),
            None => break,
        }
        end = body_start + len;
    }
    Ok(Some(Scan {
        epoch,
        end,
        records,
    }))
}

/// The records of the journal in `file`, in order, read without changing the file (for the
/// log's read-only view while it cannot be written; see `overlay.rs`).
pub(crate) fn read_records(file: &dyn StorageBackend) -> Result<Vec<JournalRecord>, JournalError> {
    Ok(scan(file)?.map(|scan| scan.records).unwrap_or_default())
}

impl Journal {
    /// Opens the journal in `file` (an empty file becomes an empty journal) and returns the
    /// records of its frames in order. A frame cut short at the end (a crash during its write)
    /// ends the journal; it was never acknowledged.
    pub(crate) fn open(
        file: Box<dyn StorageBackend>,
    ) -> Result<(Self, Vec<JournalRecord>), JournalError> {
        let allocated = file.len()?;
        match scan(file.as_ref())? {
            Some(Scan {
                epoch,
                end,
                records,
            }) => {
                let journal = Self {
                    file,
                    epoch,
                    end,
                    allocated,
                    oldest: (end > HEADER_LEN).then(Instant::now),
                };
                Ok((journal, records))
            }
            None => {
                // An empty file, or a crash before the first header was flushed: no frame can
                // have been written after it, so the journal is empty.
                let mut journal = Self {
                    file,
                    epoch: 0,
                    end: HEADER_LEN,
                    allocated,
                    oldest: None,
                };
                journal.write_header(1)?;
                Ok((journal, Vec::new()))
            }
        }
    }

    /// Bytes of frames written since the last start-over.
    pub(crate) fn pending_bytes(&self) -> u64 {
        self.end - HEADER_LEN
    }

    /// Whether the writer should checkpoint now: the journal holds `bytes` or more, or its
    /// oldest frame is `after` old.
    pub(crate) fn checkpoint_due(&self, bytes: u64, after: Duration) -> bool {
        self.pending_bytes() >= bytes || self.oldest.is_some_and(|t| t.elapsed() >= after)
    }

    /// A builder for the next frame.
    pub(crate) fn frame(&self) -> FrameBuilder {
        FrameBuilder::new(self.epoch)
    }

    /// Where the next frame goes (to take a frame back with [`Journal::take_back`]).
    pub(crate) fn mark(&self) -> u64 {
        self.end
    }

    /// Writes `frame` at the end and flushes it. On failure the frame is made unreadable again
    /// (its length zeroed and flushed) if the file allows it, and the error says whether that
    /// worked: if not, nothing may be written before the journal is opened again, which decides
    /// from the file what the frame became.
    pub(crate) fn append(&mut self, frame: FrameBuilder) -> Result<(), FrameWriteError> {
        let bytes = frame.finish();
        let len = bytes.len() as u64;
        match self.write_frame(&bytes, len) {
            Ok(()) => {
                self.end += len;
                self.oldest.get_or_insert_with(Instant::now);
                Ok(())
            }
            Err(error) => {
                let clean = self.end + FRAME_PREFIX as u64 > self.allocated
                    || self.erase_at(self.end).is_ok();
                Err(FrameWriteError { error, clean })
            }
        }
    }

    /// Makes the frames from `mark` on unreadable again (a commit that failed after its frame
    /// was written).
    pub(crate) fn take_back(&mut self, mark: u64) -> std::io::Result<()> {
        if mark >= self.end {
            return Ok(());
        }
        self.erase_at(mark)?;
        self.end = mark;
        if self.end == HEADER_LEN {
            self.oldest = None;
        }
        Ok(())
    }

    fn erase_at(&self, at: u64) -> std::io::Result<()> {
        self.file.write(at, &[0u8; FRAME_PREFIX])?;
        self.file.sync_data()
    }

    fn write_frame(&mut self, bytes: &[u8], len: u64) -> std::io::Result<()> {
        let needed = self.end + len + FRAME_PREFIX as u64;
        if needed > self.allocated {
            // Zeros after the frame, so the frame is followed by a length of zero.
            // The new space is written with zeros, not only set as the length, so that its
            // blocks are allocated now and later frames do not change the file's metadata.
            let target = needed + GROW_BY;
            let zeros_from = self.allocated;
            let zeros = usize::try_from(target - zeros_from)
                .map_err(|_| std::io::Error::other("journal growth too large"))?;
            self.file.set_len(target)?;
            self.file.write(zeros_from, &vec![0u8; zeros])?;
            self.allocated = target;
        }
        self.file.write(self.end, bytes)?;
        self.file.sync_data()
    }

    /// Starts the journal over (after a checkpoint made everything in it durable in redb): the
    /// header gets the next epoch, so the frames written so far are never read again.
    pub(crate) fn reset(&mut self) -> std::io::Result<()> {
        if self.end == HEADER_LEN {
            return Ok(());
        }
        self.write_header(self.epoch.wrapping_add(1))
    }

    fn write_header(&mut self, epoch: u64) -> std::io::Result<()> {
        let mut header = [0u8; HEADER_LEN as usize];
        header[..8].copy_from_slice(MAGIC);
        header[8..12].copy_from_slice(&JOURNAL_VERSION.to_le_bytes());
        header[16..24].copy_from_slice(&epoch.to_le_bytes());
        let crc = crc32fast::hash(&header[..24]);
        header[24..28].copy_from_slice(&crc.to_le_bytes());
        if self.allocated < HEADER_LEN {
            self.file.set_len(HEADER_LEN)?;
            self.allocated = HEADER_LEN;
        }
        self.file.write(0, &header)?;
        self.file.sync_data()?;
        self.epoch = epoch;
        self.end = HEADER_LEN;
        self.oldest = None;
        Ok(())
    }
}

fn decode_header(header: &[u8]) -> Result<u64, JournalError> {
    if &header[..8] != MAGIC {
        return Err(JournalError::Corrupt(
            "the file does not start like an oversight journal".into(),
        ));
    }
    let crc = u32::from_le_bytes([header[24], header[25], header[26], header[27]]);
    if crc32fast::hash(&header[..24]) != crc {
        return Err(JournalError::Corrupt(
            "the journal's header fails its checksum".into(),
        ));
    }
    let version = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
    if version != JOURNAL_VERSION {
        return Err(JournalError::Corrupt(format!(
            "unsupported journal version {version}: this build reads version {JOURNAL_VERSION}"
        )));
    }
    let mut epoch = [0u8; 8];
    epoch.copy_from_slice(&header[16..24]);
    Ok(u64::from_le_bytes(epoch))
}

/// The records of a frame body of `epoch`; `None` if the body is of another epoch or malformed.
fn decode_body(body: &[u8], epoch: u64) -> Option<Vec<JournalRecord>> {
    let (frame_epoch, rest) = body.split_first_chunk::<8>()?;
    if u64::from_le_bytes(*frame_epoch) != epoch {
        return None;
    }
    let (count, mut rest) = rest.split_first_chunk::<4>()?;
    let count = u32::from_le_bytes(*count);
    let mut records = Vec::with_capacity(usize::try_from(count).ok()?.min(4096));
    for _ in 0..count {
        let (digest, tail) = rest.split_first_chunk::<HASH_LEN>()?;
        let (len, tail) = tail.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
        if tail.len() < len {
            return None;
        }
        let (stored, tail) = tail.split_at(len);
        records.push(JournalRecord {
            digest: *digest,
            stored: stored.to_vec(),
        });
        rest = tail;
    }
    rest.is_empty().then_some(records)
}

/// The frame of one batch, built while the writer places its records.
#[derive(Debug)]
pub(crate) struct FrameBuilder {
    bytes: Vec<u8>,
    count: u32,
}

impl FrameBuilder {
    fn new(epoch: u64) -> Self {
        let mut bytes = Vec::with_capacity(4096);
        bytes.extend_from_slice(&[0u8; FRAME_PREFIX]);
        bytes.extend_from_slice(&epoch.to_le_bytes());
        bytes.extend_from_slice(&0u32.to_le_bytes());
        Self { bytes, count: 0 }
    }

    /// Adds a record (canonical bytes ‖ hash) and its payload digest.
    pub(crate) fn push(&mut self, digest: &[u8; HASH_LEN], stored: &[u8]) {
        self.bytes.extend_from_slice(digest);
        // A stored record is bounded by the append byte limit, far below 4 GiB.
        self.bytes.extend_from_slice(
            &u32::try_from(stored.len())
                .unwrap_or(u32::MAX)
                .to_le_bytes(),
        );
        self.bytes.extend_from_slice(stored);
        self.count += 1;
    }

    /// How many records the frame holds.
    pub(crate) fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn finish(mut self) -> Vec<u8> {
        let count_at = FRAME_PREFIX + 8;
        self.bytes[count_at..count_at + 4].copy_from_slice(&self.count.to_le_bytes());
        let body_len = u32::try_from(self.bytes.len() - FRAME_PREFIX).unwrap_or(u32::MAX);
        let crc = crc32fast::hash(&self.bytes[FRAME_PREFIX..]);
        self.bytes[..4].copy_from_slice(&body_len.to_le_bytes());
        self.bytes[4..8].copy_from_slice(&crc.to_le_bytes());
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::Arc;

    use redb::backends::InMemoryBackend;

    use super::*;

    /// An in-memory file that can be shared between two opens.
    #[derive(Debug, Clone)]
    struct Shared(Arc<InMemoryBackend>);

    impl StorageBackend for Shared {
        fn len(&self) -> std::io::Result<u64> {
            self.0.len()
        }
        fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
            self.0.read(offset, out)
        }
        fn set_len(&self, len: u64) -> std::io::Result<()> {
            self.0.set_len(len)
        }
        fn sync_data(&self) -> std::io::Result<()> {
            self.0.sync_data()
        }
        fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
            self.0.write(offset, data)
        }
    }

    fn record(n: u8, len: usize) -> JournalRecord {
        JournalRecord {
            digest: [n; HASH_LEN],
            stored: vec![n; len],
        }
    }

    fn write(journal: &mut Journal, records: &[JournalRecord]) {
        let mut frame = journal.frame();
        for r in records {
            frame.push(&r.digest, &r.stored);
        }
        journal.append(frame).unwrap();
    }

    #[test]
    fn frames_come_back_in_order_after_reopening() {
        let file = Shared(Arc::new(InMemoryBackend::new()));
        let (mut journal, none) = Journal::open(Box::new(file.clone())).unwrap();
        assert!(none.is_empty());
        write(&mut journal, &[record(1, 10), record(2, 300)]);
        write(&mut journal, &[record(3, 0)]);
        drop(journal);
        let (_, back) = Journal::open(Box::new(file)).unwrap();
        assert_eq!(back, vec![record(1, 10), record(2, 300), record(3, 0)]);
    }

    #[test]
    fn a_frame_cut_short_or_damaged_ends_the_journal() {
        let file = Shared(Arc::new(InMemoryBackend::new()));
        let (mut journal, _) = Journal::open(Box::new(file.clone())).unwrap();
        write(&mut journal, &[record(1, 10)]);
        let second_at = journal.end;
        write(&mut journal, &[record(2, 10)]);
        write(&mut journal, &[record(3, 10)]);
        drop(journal);
        // A flipped byte in the second frame's body: the first frame survives, nothing after.
        let mut byte = [0u8];
        file.read(second_at + 20, &mut byte).unwrap();
        file.write(second_at + 20, &[byte[0] ^ 0xff]).unwrap();
        let (journal, back) = Journal::open(Box::new(file.clone())).unwrap();
        assert_eq!(back, vec![record(1, 10)]);
        assert_eq!(
            journal.end, second_at,
            "the next frame overwrites the bad one"
        );
    }

    #[test]
    fn a_frame_whose_length_runs_past_the_file_ends_the_journal() {
        let file = Shared(Arc::new(InMemoryBackend::new()));
        let (mut journal, _) = Journal::open(Box::new(file.clone())).unwrap();
        write(&mut journal, &[record(1, 10)]);
        let end = journal.end;
        drop(journal);
        file.write(end, &u32::MAX.to_le_bytes()).unwrap();
        let (_, back) = Journal::open(Box::new(file)).unwrap();
        assert_eq!(back, vec![record(1, 10)]);
    }

    #[test]
    fn starting_over_hides_the_earlier_frames_and_reuses_the_space() {
        let file = Shared(Arc::new(InMemoryBackend::new()));
        let (mut journal, _) = Journal::open(Box::new(file.clone())).unwrap();
        write(&mut journal, &[record(1, 100)]);
        write(&mut journal, &[record(2, 100)]);
        let size = file.len().unwrap();
        journal.reset().unwrap();
        assert_eq!(journal.pending_bytes(), 0);
        // The first frame of the new epoch is shorter than the old ones it overwrites; the old
        // second frame still has a valid checksum but its epoch is the old one.
        write(&mut journal, &[record(3, 10)]);
        drop(journal);
        let (_, back) = Journal::open(Box::new(file.clone())).unwrap();
        assert_eq!(back, vec![record(3, 10)]);
        assert_eq!(file.len().unwrap(), size, "the file did not grow");
    }

    #[test]
    fn a_header_never_flushed_is_an_empty_journal() {
        let file = Shared(Arc::new(InMemoryBackend::new()));
        file.set_len(HEADER_LEN).unwrap();
        let (mut journal, none) = Journal::open(Box::new(file.clone())).unwrap();
        assert!(none.is_empty());
        write(&mut journal, &[record(1, 10)]);
        drop(journal);
        let (_, back) = Journal::open(Box::new(file)).unwrap();
        assert_eq!(back, vec![record(1, 10)]);
    }

    #[test]
    fn a_file_that_is_not_a_journal_is_refused() {
        let file = Shared(Arc::new(InMemoryBackend::new()));
        file.set_len(64).unwrap();
        file.write(0, &[7u8; 64]).unwrap();
        let err = Journal::open(Box::new(file.clone())).unwrap_err();
        assert!(err.to_string().contains("journal"), "{err}");
        let short = Shared(Arc::new(InMemoryBackend::new()));
        short.set_len(5).unwrap();
        short.write(0, &[7u8; 5]).unwrap();
        assert!(matches!(
            Journal::open(Box::new(short)),
            Err(JournalError::Corrupt(_))
        ));
    }

    #[test]
    fn a_failed_write_leaves_no_frame_behind() {
        #[derive(Debug)]
        struct FailsSync(Shared, Arc<std::sync::atomic::AtomicBool>);
        impl StorageBackend for FailsSync {
            fn len(&self) -> std::io::Result<u64> {
                self.0.len()
            }
            fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
                self.0.read(offset, out)
            }
            fn set_len(&self, len: u64) -> std::io::Result<()> {
                self.0.set_len(len)
            }
            fn sync_data(&self) -> std::io::Result<()> {
                if self.1.swap(false, std::sync::atomic::Ordering::SeqCst) {
                    return Err(std::io::Error::other("injected"));
                }
                self.0.sync_data()
            }
            fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
                self.0.write(offset, data)
            }
        }
        let file = Shared(Arc::new(InMemoryBackend::new()));
        let fail = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (mut journal, _) =
            Journal::open(Box::new(FailsSync(file.clone(), Arc::clone(&fail)))).unwrap();
        write(&mut journal, &[record(1, 10)]);
        fail.store(true, std::sync::atomic::Ordering::SeqCst);
        let mut frame = journal.frame();
        frame.push(&[2; HASH_LEN], &[2; 10]);
        let failed = journal.append(frame).unwrap_err();
        assert!(failed.clean, "{failed:?}");
        drop(journal);
        let (_, back) = Journal::open(Box::new(file)).unwrap();
        assert_eq!(back, vec![record(1, 10)]);
    }
}
