//! What a redb file needs to come back after a storage failure.
//!
//! redb refuses every operation on a database that saw an I/O error, reads included, until it is
//! closed and opened again, and an open after such a failure must write (and flush) the file to
//! repair it. Three pieces, used by the log (`log::redb_store`), the views and the ballot box:
//!
//! * [`Overlay`] — a read-only view of a file for the time a reopen cannot write it (a full
//!   disk): reads come from the file, writes (redb's repair, whatever else the open writes) stay
//!   in memory, flushes do nothing. A database opened on it serves reads of what the file holds;
//!   it never changes the file. Before a real reopen writes the file, the view is
//!   [retired](Overlay::retire): from then on it refuses to read the file (an I/O error to any
//!   read still using it), so that no reader sees pages the reopen is rewriting.
//! * [`Backoff`] — spaces out reopens while a fault lasts: a reopen reads the whole file (redb's
//!   repair), and reads wait while it runs.
//! * [`Reopenable`] — a database that a failed write marks broken and the next write reopens
//!   (within the back-off), served through an [`Overlay`] for reads while the reopen fails.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use redb::{Database, StorageBackend};
use thiserror::Error;

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
pub struct Overlay {
    inner: Box<dyn StorageBackend>,
    state: Mutex<State>,
    retired: Arc<AtomicBool>,
}

impl Overlay {
    /// A view of `inner`, which it will only read; `retired` set makes it stop reading it.
    pub fn new(inner: Box<dyn StorageBackend>, retired: Arc<AtomicBool>) -> std::io::Result<Self> {
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
    pub fn retire(flag: &AtomicBool) {
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

    /// Block `index` of the overlay, first copied from the file if nothing wrote it yet.
    fn block<'a>(&self, state: &'a mut State, index: u64) -> std::io::Result<&'a mut [u8]> {
        let from_file = state.from_file;
        Ok(match state.blocks.entry(index) {
            std::collections::hash_map::Entry::Occupied(block) => block.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                let mut block = vec![0u8; BLOCK as usize].into_boxed_slice();
                self.read_file(from_file, index * BLOCK, &mut block)?;
                slot.insert(block)
            }
        })
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
            let from = (at - offset) as usize;
            self.block(&mut state, index)?[in_block..in_block + n]
                .copy_from_slice(&data[from..from + n]);
            at += n as u64;
        }
        state.len = state.len.max(end);
        Ok(())
    }
}

/// The first wait after a failed reopen; each further failure doubles it, up to
/// [`BACKOFF_MAX`].
pub const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// The longest wait between two reopens while a fault lasts: how long, at most, writes take to
/// resume after it clears.
pub const BACKOFF_MAX: Duration = Duration::from_millis(3200);

/// When the next reopen may be tried, after failed ones.
#[derive(Debug)]
pub struct Backoff {
    /// No reopen before this instant; `None` after a success.
    next_try: Option<Instant>,
    /// The wait after the next failure.
    delay: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            next_try: None,
            delay: BACKOFF_MIN,
        }
    }
}

impl Backoff {
    /// Whether a reopen may be tried now.
    pub fn due(&self) -> bool {
        self.next_try.is_none_or(|next| Instant::now() >= next)
    }

    /// A reopen failed: the next one waits, twice as long as the last wait.
    pub fn failed(&mut self) {
        self.next_try = Some(Instant::now() + self.delay);
        self.delay = (self.delay * 2).min(BACKOFF_MAX);
    }

    /// A reopen succeeded: the next failure starts the waits over.
    pub fn succeeded(&mut self) {
        *self = Self::default();
    }
}

/// How long a reopen waits for reads that still hold the database it replaces.
const REOPEN_WAIT: Duration = Duration::from_secs(10);

/// A redb file is closed after a storage failure and cannot be used now.
#[derive(Debug, Error)]
#[error("{path} is closed after a storage failure: {detail}")]
pub struct Unavailable {
    /// The file.
    pub path: PathBuf,
    /// Why, and when it is tried again.
    pub detail: String,
}

/// The database as it is open.
struct Opened {
    db: Arc<Database>,
    /// For a read-only view ([`Overlay`]): the flag that retires it.
    retired: Option<Arc<AtomicBool>>,
}

/// A redb file that comes back after a storage failure: a write that fails marks it broken
/// ([`Reopenable::failed`]), and the next write reopens it first (no more often than the
/// [`Backoff`] allows). While the reopen cannot write the file, reads are served by a read-only
/// [`Overlay`] of it, holding what the file held at its last durable commit.
pub struct Reopenable {
    path: PathBuf,
    /// redb's page cache for the file.
    cache_bytes: usize,
    /// Opens the file for writes (a plain redb open; another in tests).
    open_for_writes: OpenForWrites,
    /// `None` only if neither a reopen nor the read-only view could open the file.
    slot: RwLock<Option<Opened>>,
    /// A write failed since the last (re)open.
    broken: AtomicBool,
    backoff: Mutex<Backoff>,
}

impl std::fmt::Debug for Reopenable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reopenable")
            .field("path", &self.path)
            .field("broken", &self.broken.load(Ordering::Relaxed))
            .finish()
    }
}

/// How a [`Reopenable`] opens its file for writes: path, page cache bytes.
type OpenForWrites = fn(&Path, usize) -> Result<Database, redb::DatabaseError>;

fn open_for_writes(path: &Path, cache_bytes: usize) -> Result<Database, redb::DatabaseError> {
    redb::Builder::new()
        .set_cache_size(cache_bytes)
        .create(path)
}

impl Reopenable {
    /// `db`, open for writes on the file at `path`, reopened with a page cache of
    /// `cache_bytes`.
    pub fn new(path: &Path, db: Database, cache_bytes: usize) -> Self {
        Self::opened_by(path, db, cache_bytes, open_for_writes)
    }

    fn opened_by(
        path: &Path,
        db: Database,
        cache_bytes: usize,
        open_for_writes: OpenForWrites,
    ) -> Self {
        Self {
            path: path.to_path_buf(),
            cache_bytes,
            open_for_writes,
            slot: RwLock::new(Some(Opened {
                db: Arc::new(db),
                retired: None,
            })),
            broken: AtomicBool::new(false),
            backoff: Mutex::new(Backoff::default()),
        }
    }

    fn unavailable(&self, detail: impl Into<String>) -> Unavailable {
        Unavailable {
            path: self.path.clone(),
            detail: detail.into(),
        }
    }

    /// The database for a read: the read-only view while the file cannot be written.
    pub fn read(&self) -> Result<Arc<Database>, Unavailable> {
        let slot = self
            .slot
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        slot.as_ref()
            .map(|opened| Arc::clone(&opened.db))
            .ok_or_else(|| self.unavailable("it cannot be read until a write reopens it"))
    }

    /// Whether the file is open for writes and no write failed since.
    pub fn is_writable(&self) -> bool {
        !self.broken.load(Ordering::SeqCst)
            && self
                .slot
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .as_ref()
                .is_some_and(|opened| opened.retired.is_none())
    }

    /// The database for a write, and whether it was just reopened (the caller then reads again
    /// what the file holds: commits since its last durable one are gone). After a failed write
    /// the file is reopened first, unless a reopen failed too recently.
    pub fn write(&self) -> Result<(Arc<Database>, bool), Unavailable> {
        if !self.broken.load(Ordering::SeqCst) {
            let slot = self
                .slot
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(opened) = slot.as_ref().filter(|opened| opened.retired.is_none()) {
                return Ok((Arc::clone(&opened.db), false));
            }
        }
        if !lock(&self.backoff).due() {
            return Err(
                self.unavailable("a reopen failed moments ago; the next write tries again shortly")
            );
        }
        self.reopen()
    }

    /// Records that a write failed: redb refuses everything after an I/O error, so the next
    /// write reopens the file.
    pub fn failed(&self) {
        self.broken.store(true, Ordering::SeqCst);
    }

    /// Puts `db` in place of the database (a fresh file renamed over the old one) and returns the
    /// one it replaces, if any.
    pub fn replace(&self, db: Database) -> Option<Arc<Database>> {
        let mut slot = self
            .slot
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let old = slot.replace(Opened {
            db: Arc::new(db),
            retired: None,
        });
        self.broken.store(false, Ordering::SeqCst);
        lock(&self.backoff).succeeded();
        old.map(|old| {
            if let Some(retired) = &old.retired {
                Overlay::retire(retired);
            }
            old.db
        })
    }

    fn reopen(&self) -> Result<(Arc<Database>, bool), Unavailable> {
        let mut slot = self
            .slot
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Another writer may have reopened it while this one waited for the lock.
        if !self.broken.load(Ordering::SeqCst)
            && let Some(opened) = slot.as_ref().filter(|opened| opened.retired.is_none())
        {
            return Ok((Arc::clone(&opened.db), false));
        }
        if let Some(old) = slot.take() {
            let deadline = Instant::now() + REOPEN_WAIT;
            while Arc::strong_count(&old.db) > 1 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            if Arc::strong_count(&old.db) > 1 && old.retired.is_none() {
                // Still read: it holds the file's lock, so no reopen can succeed yet.
                *slot = Some(old);
                lock(&self.backoff).failed();
                return Err(self.unavailable("it is still being read; the reopen is tried later"));
            }
            if let Some(retired) = &old.retired {
                // Reads that outlived the wait must not see the file while it is rewritten.
                Overlay::retire(retired);
            }
            drop(old);
        }
        let reopened = (self.open_for_writes)(&self.path, self.cache_bytes);
        match reopened {
            Ok(db) => {
                let db = Arc::new(db);
                *slot = Some(Opened {
                    db: Arc::clone(&db),
                    retired: None,
                });
                self.broken.store(false, Ordering::SeqCst);
                lock(&self.backoff).succeeded();
                tracing::info!(path = %self.path.display(), "reopened after a storage failure");
                Ok((db, true))
            }
            Err(e) => {
                lock(&self.backoff).failed();
                match open_read_only(&self.path, self.cache_bytes, false) {
                    Ok((db, retired)) => {
                        tracing::warn!(
                            path = %self.path.display(), error = %e,
                            "cannot reopen the file for writes; it is read through a read-only \
                             view until a later write reopens it"
                        );
                        *slot = Some(Opened {
                            db: Arc::new(db),
                            retired: Some(retired),
                        });
                    }
                    Err(view) => tracing::error!(
                        path = %self.path.display(), error = %e, view = %view,
                        "cannot reopen the file, not even for reads; a later write tries again"
                    ),
                }
                Err(self.unavailable(format!("it could not be reopened: {e}")))
            }
        }
    }
}

/// Opens the file at `path` for reads only, on an [`Overlay`], checking every page first if
/// `check_integrity`; returns the database and the flag that retires the view.
pub fn open_read_only(
    path: &Path,
    cache_bytes: usize,
    check_integrity: bool,
) -> Result<(Database, Arc<AtomicBool>), redb::DatabaseError> {
    let retired = Arc::new(AtomicBool::new(false));
    let file = std::fs::File::open(path)?;
    let file = redb::backends::FileBackend::new(file)?;
    let view = Overlay::new(Box::new(file), Arc::clone(&retired))?;
    let db = redb::Builder::new()
        .set_cache_size(cache_bytes)
        .set_check_integrity_on_open(check_integrity)
        .create_with_backend(view)?;
    Ok((db, retired))
}

/// Whether an I/O error says the disk (or the user's quota) is full.
pub fn is_out_of_space(e: &std::io::Error) -> bool {
    // 28 is ENOSPC on Linux and macOS.
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    ) || e.raw_os_error() == Some(28)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
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

    const T: redb::TableDefinition<u64, u64> = redb::TableDefinition::new("t");

    fn get(db: &Database, key: u64) -> Option<u64> {
        use redb::ReadableDatabase;
        let txn = db.begin_read().unwrap();
        let table = txn.open_table(T).unwrap();
        table.get(key).unwrap().map(|v| v.value())
    }

    fn put(db: &Database, key: u64, value: u64) {
        let txn = db.begin_write().unwrap();
        txn.open_table(T).unwrap().insert(key, value).unwrap();
        txn.commit().unwrap();
    }

    #[test]
    fn the_back_off_doubles_up_to_its_bound_and_a_success_starts_it_over() {
        let mut backoff = Backoff::default();
        assert!(backoff.due());
        backoff.failed();
        assert!(!backoff.due());
        assert_eq!(backoff.delay, BACKOFF_MIN * 2);
        for _ in 0..10 {
            backoff.failed();
        }
        assert_eq!(backoff.delay, BACKOFF_MAX);
        backoff.succeeded();
        assert!(backoff.due());
        assert_eq!(backoff.delay, BACKOFF_MIN);
    }

    #[test]
    fn a_failed_write_has_the_next_one_reopen_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file.redb");
        let file = Reopenable::new(&path, Database::create(&path).unwrap(), 1 << 20);
        let (db, reopened) = file.write().unwrap();
        assert!(!reopened);
        put(&db, 1, 10);
        drop(db);
        file.failed();
        assert!(!file.is_writable());
        let (db, reopened) = file.write().unwrap();
        assert!(reopened, "a write after a failure reopens the file");
        assert_eq!(get(&db, 1), Some(10));
        assert!(file.is_writable());
        let (_, reopened) = file.write().unwrap();
        assert!(!reopened);
    }

    #[test]
    fn a_reopen_that_fails_is_tried_again_after_the_back_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file.redb");
        let file = Reopenable::new(&path, Database::create(&path).unwrap(), 1 << 20);
        put(&file.write().unwrap().0, 1, 10);
        file.failed();
        // The file cannot be opened at all (a directory stands in its place).
        let aside = dir.path().join("aside.redb");
        std::fs::rename(&path, &aside).unwrap();
        std::fs::create_dir(&path).unwrap();
        let error = file.write().unwrap_err();
        assert!(error.detail.contains("could not be reopened"), "{error}");
        assert!(file.read().is_err(), "nothing can be read");
        // Right after a failed reopen the next write does not try again.
        let error = file.write().unwrap_err();
        assert!(error.detail.contains("moments ago"), "{error}");

        std::fs::remove_dir(&path).unwrap();
        std::fs::rename(&aside, &path).unwrap();
        std::thread::sleep(BACKOFF_MIN * 2);
        let (db, reopened) = file.write().unwrap();
        assert!(reopened);
        assert_eq!(get(&db, 1), Some(10));
        assert_eq!(get(&file.read().unwrap(), 1), Some(10));
    }

    #[test]
    fn while_the_file_cannot_be_written_it_is_read_through_a_read_only_view() {
        fn refuse(_: &Path, _: usize) -> Result<Database, redb::DatabaseError> {
            Err(std::io::Error::from(std::io::ErrorKind::StorageFull).into())
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file.redb");
        let file = Reopenable::opened_by(&path, Database::create(&path).unwrap(), 1 << 20, refuse);
        put(&file.write().unwrap().0, 1, 10);
        file.failed();
        let error = file.write().unwrap_err();
        assert!(error.detail.contains("could not be reopened"), "{error}");
        assert!(!file.is_writable());
        let before = std::fs::read(&path).unwrap();
        let view = file.read().unwrap();
        assert_eq!(get(&view, 1), Some(10));
        drop(view);
        assert!(
            std::fs::read(&path).unwrap() == before,
            "the view wrote the file"
        );
        // Writes still wait for a real reopen.
        std::thread::sleep(BACKOFF_MIN * 2);
        assert!(file.write().is_err());
        assert_eq!(get(&file.read().unwrap(), 1), Some(10));
    }

    #[test]
    fn a_reopen_waits_for_reads_of_the_old_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file.redb");
        let file = Reopenable::new(&path, Database::create(&path).unwrap(), 1 << 20);
        put(&file.write().unwrap().0, 1, 10);
        let reader = file.read().unwrap();
        file.failed();
        let released = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            drop(reader);
        });
        let (db, reopened) = file.write().unwrap();
        assert!(reopened);
        assert_eq!(get(&db, 1), Some(10));
        released.join().unwrap();
    }

    #[test]
    fn the_read_only_view_of_a_file_left_open_by_a_crash_reads_its_last_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file.redb");
        let db = Database::create(&path).unwrap();
        put(&db, 1, 10);
        let before = std::fs::read(&path).unwrap();
        // Left open, as a crash leaves it (a repair is needed to open it; its lock stays held,
        // which the view does not take).
        std::mem::forget(db);
        let (view, retired) = open_read_only(&path, 1 << 20, true).unwrap();
        assert_eq!(get(&view, 1), Some(10));
        put(&view, 2, 20);
        assert_eq!(get(&view, 2), Some(20));
        drop(view);
        assert!(
            std::fs::read(&path).unwrap() == before,
            "the view wrote the file"
        );
        assert!(!retired.load(Ordering::SeqCst));
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
