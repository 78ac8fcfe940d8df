//! A read-only view of the log file for the time a reopen cannot write it.
//!
//! redb refuses every operation on a database that saw an I/O error, reads included, and must
//! write (and flush) the file to open it again after an unclean close. While that flush fails —
//! a full disk met by a checkpoint — the log could not be read at all. [`Overlay`] lets redb
//! open the file anyway: reads come from the file, writes (redb's repair, the journal's records
//! written back) stay in memory, flushes do nothing. The database opened on it serves reads of
//! everything acknowledged until a real reopen succeeds; it never changes the file.
//!
//! Before the real reopen writes the file, the view is [retired](Overlay::retire): from then on
//! it refuses to read the file (an I/O error to any read still using it), so that no reader sees
//! pages the reopen is rewriting.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use redb::StorageBackend;

/// Bytes of one block of the overlay: redb's page size.
const BLOCK: u64 = 4096;

/// Blocks written since the view was opened, and the storage's length.
#[derive(Debug)]
struct State {
    /// Block index → its bytes as last written (always `BLOCK` long).
    blocks: HashMap<u64, Box<[u8]>>,
    /// The storage's length as redb sees it.
    len: u64,
    /// Bytes at the start of the file still read from it: its length at open, less anything a
    /// shrink cut off (bytes beyond read as zeros unless written).
    from_file: u64,
}

/// A storage backend that reads `inner` and keeps every write in memory.
#[derive(Debug)]
pub(crate) struct Overlay {
    inner: Box<dyn StorageBackend>,
    state: Mutex<State>,
    retired: Arc<AtomicBool>,
}

impl Overlay {
    /// A view of `inner`, which it will only read; `retired` set makes it stop reading it.
    pub(crate) fn new(
        inner: Box<dyn StorageBackend>,
        retired: Arc<AtomicBool>,
    ) -> std::io::Result<Self> {
        let len = inner.len()?;
        Ok(Self {
            inner,
            state: Mutex::new(State {
                blocks: HashMap::new(),
                len,
                from_file: len,
            }),
            retired,
        })
    }

    /// Makes every later read of the file fail (see the module's documentation).
    pub(crate) fn retire(flag: &AtomicBool) {
        flag.store(true, Ordering::SeqCst);
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Reads `out.len()` bytes at `offset` of the file as it stands under the overlay: the
    /// file's bytes below `from_file`, zeros beyond.
    fn read_file(&self, from_file: u64, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        let available = from_file.saturating_sub(offset).min(out.len() as u64) as usize;
        if available > 0 {
            if self.retired.load(Ordering::SeqCst) {
                return Err(std::io::Error::other(
                    "the read-only view of the event log was closed: the log is being reopened",
                ));
            }
            self.inner.read(offset, &mut out[..available])?;
        }
        out[available..].fill(0);
        Ok(())
    }

    /// The bytes of block `index` as they stand, for a write into it.
    fn block(&self, state: &State, index: u64) -> std::io::Result<Box<[u8]>> {
        if let Some(block) = state.blocks.get(&index) {
            return Ok(block.clone());
        }
        let mut block = vec![0u8; BLOCK as usize].into_boxed_slice();
        self.read_file(state.from_file, index * BLOCK, &mut block)?;
        Ok(block)
    }
}

impl StorageBackend for Overlay {
    fn len(&self) -> Result<u64, std::io::Error> {
        Ok(self.state().len)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        let state = self.state();
        let end = offset
            .checked_add(out.len() as u64)
            .filter(|end| *end <= state.len)
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "read of {} bytes at {offset} beyond the end ({})",
                        out.len(),
                        state.len
                    ),
                )
            })?;
        let mut at = offset;
        while at < end {
            let index = at / BLOCK;
            let in_block = (at % BLOCK) as usize;
            let out_at = (at - offset) as usize;
            if let Some(block) = state.blocks.get(&index) {
                let n = (BLOCK as usize - in_block).min((end - at) as usize);
                out[out_at..out_at + n].copy_from_slice(&block[in_block..in_block + n]);
                at += n as u64;
                continue;
            }
            // A run of blocks nobody wrote is read from the file in one call.
            let mut run_end = (index + 1) * BLOCK;
            while run_end < end && !state.blocks.contains_key(&(run_end / BLOCK)) {
                run_end += BLOCK;
            }
            let run_end = run_end.min(end);
            let n = (run_end - at) as usize;
            self.read_file(state.from_file, at, &mut out[out_at..out_at + n])?;
            at = run_end;
        }
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        let mut state = self.state();
        if len < state.len {
            state.blocks.retain(|index, _| index * BLOCK < len);
            let cut = len % BLOCK;
            if cut != 0
                && let Some(block) = state.blocks.get_mut(&(len / BLOCK))
            {
                block[cut as usize..].fill(0);
            }
            state.from_file = state.from_file.min(len);
        }
        state.len = len;
        Ok(())
    }

    fn sync_data(&self) -> Result<(), std::io::Error> {
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        let mut state = self.state();
        let end = offset + data.len() as u64;
        let mut at = offset;
        while at < end {
            let index = at / BLOCK;
            let in_block = (at % BLOCK) as usize;
            let n = (BLOCK as usize - in_block).min((end - at) as usize);
            let mut block = self.block(&state, index)?;
            let from = (at - offset) as usize;
            block[in_block..in_block + n].copy_from_slice(&data[from..from + n]);
            state.blocks.insert(index, block);
            at += n as u64;
        }
        state.len = state.len.max(end);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use redb::backends::InMemoryBackend;

    fn file_of(bytes: &[u8]) -> Box<dyn StorageBackend> {
        let file = InMemoryBackend::new();
        file.set_len(bytes.len() as u64).unwrap();
        file.write(0, bytes).unwrap();
        Box::new(file)
    }

    fn read(overlay: &Overlay, offset: u64, len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        overlay.read(offset, &mut out).unwrap();
        out
    }

    #[test]
    fn reads_the_file_under_what_was_written_and_never_writes_it() {
        let bytes: Vec<u8> = (0..3 * BLOCK + 100).map(|i| (i % 251) as u8).collect();
        let file = file_of(&bytes);
        let overlay = Overlay::new(file, Arc::new(AtomicBool::new(false))).unwrap();
        assert_eq!(read(&overlay, 0, bytes.len()), bytes);

        // A write across two blocks, then a read across three.
        overlay.write(BLOCK - 10, &[7u8; 20]).unwrap();
        let mut expected = bytes.clone();
        expected[(BLOCK - 10) as usize..(BLOCK + 10) as usize].fill(7);
        assert_eq!(read(&overlay, 0, bytes.len()), expected);
        assert_eq!(
            read(&overlay, BLOCK - 12, 24),
            expected[4084..4108].to_vec()
        );
        overlay.sync_data().unwrap();

        // The file itself is as it was.
        let mut underneath = vec![0u8; bytes.len()];
        overlay.inner.read(0, &mut underneath).unwrap();
        assert_eq!(underneath, bytes);
    }

    #[test]
    fn grows_with_zeros_and_shrinks_cutting_the_file_off() {
        let bytes = vec![9u8; (2 * BLOCK) as usize];
        let overlay = Overlay::new(file_of(&bytes), Arc::new(AtomicBool::new(false))).unwrap();
        overlay.set_len(3 * BLOCK).unwrap();
        assert_eq!(overlay.len().unwrap(), 3 * BLOCK);
        assert_eq!(read(&overlay, 2 * BLOCK - 2, 4), vec![9, 9, 0, 0]);

        // Shrunk into a written block and into the file, then grown: zeros, not old bytes.
        overlay.write(BLOCK, &[5u8; 100]).unwrap();
        overlay.set_len(BLOCK + 50).unwrap();
        overlay.set_len(3 * BLOCK).unwrap();
        assert_eq!(read(&overlay, BLOCK + 48, 4), vec![5, 5, 0, 0]);
        assert_eq!(read(&overlay, BLOCK + 200, 4), vec![0, 0, 0, 0]);
        assert_eq!(read(&overlay, 0, 4), vec![9, 9, 9, 9]);

        // A write past the end extends the length.
        overlay.write(4 * BLOCK, &[1, 2]).unwrap();
        assert_eq!(overlay.len().unwrap(), 4 * BLOCK + 2);
        assert_eq!(read(&overlay, 4 * BLOCK - 1, 3), vec![0, 1, 2]);
    }

    #[test]
    fn refuses_reads_past_the_end() {
        let overlay = Overlay::new(file_of(&[1u8; 10]), Arc::new(AtomicBool::new(false))).unwrap();
        let mut out = [0u8; 4];
        let error = overlay.read(8, &mut out).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn once_retired_reads_of_the_file_fail_but_written_blocks_still_read() {
        let retired = Arc::new(AtomicBool::new(false));
        let overlay = Overlay::new(
            file_of(&vec![3u8; (2 * BLOCK) as usize]),
            Arc::clone(&retired),
        )
        .unwrap();
        overlay.write(0, &[4u8; BLOCK as usize]).unwrap();
        Overlay::retire(&retired);
        assert_eq!(read(&overlay, 0, 8), vec![4u8; 8]);
        let mut out = [0u8; 8];
        assert!(overlay.read(BLOCK, &mut out).is_err());
        assert!(overlay.write(BLOCK, &[1]).is_err());
    }

    #[test]
    fn redb_opens_a_database_on_it_and_the_file_stays_untouched() {
        use redb::{ReadableDatabase, TableDefinition};
        const T: TableDefinition<u64, u64> = TableDefinition::new("t");
        let shared = Arc::new(InMemoryBackend::new());
        // A database left open on the in-memory "file", as a crash leaves it: opening it again
        // needs a repair, which writes.
        let db = redb::Builder::new()
            .create_with_backend(Shared(Arc::clone(&shared)))
            .unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(T).unwrap().insert(1, 10).unwrap();
        txn.commit().unwrap();
        std::mem::forget(db);
        let before = snapshot(&shared);
        let overlay = Overlay::new(
            Box::new(Shared(Arc::clone(&shared))),
            Arc::new(AtomicBool::new(false)),
        )
        .unwrap();
        let db = redb::Builder::new().create_with_backend(overlay).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(T).unwrap().insert(2, 20).unwrap();
        txn.commit().unwrap();
        let read = db.begin_read().unwrap();
        let table = read.open_table(T).unwrap();
        assert_eq!(table.get(1).unwrap().unwrap().value(), 10);
        assert_eq!(table.get(2).unwrap().unwrap().value(), 20);
        drop((table, read, db));
        assert_eq!(snapshot(&shared), before);
    }

    /// The bytes of an in-memory backend.
    fn snapshot(file: &InMemoryBackend) -> Vec<u8> {
        let mut out = vec![0u8; file.len().unwrap() as usize];
        file.read(0, &mut out).unwrap();
        out
    }

    /// An in-memory backend shared between databases opened one after the other.
    #[derive(Debug)]
    struct Shared(Arc<InMemoryBackend>);

    impl StorageBackend for Shared {
        fn len(&self) -> Result<u64, std::io::Error> {
            self.0.len()
        }
        fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
            self.0.read(offset, out)
        }
        fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
            self.0.set_len(len)
        }
        fn sync_data(&self) -> Result<(), std::io::Error> {
            self.0.sync_data()
        }
        fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
            self.0.write(offset, data)
        }
    }
}
