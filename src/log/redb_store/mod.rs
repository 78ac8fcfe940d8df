//! The embedded event log on redb: one file of four tables and its journal, one group-commit
//! writer thread.
//!
//! The file format (tables, keys, values, the hash chain and the invariants) is documented in
//! `docs/STORAGE.md`.
//!
//! * [`mod@self`] — options, opening the file, the [`EventStore`] implementation, shutdown.
//! * `writer` — the one thread that owns the write side and batches appends (group commit).
//! * `read` — stream and log reads and the hash-chain verification, on blocking threads.
//! * `subscribe` — catch-up subscriptions that turn into a live feed.
//! * `journal` — the journal that makes each batch durable with one write and one flush.
//! * `import` — writing records with their original positions, times and hashes into an empty
//!   log (import of an export, backups).
//! * `tree` — the Merkle tree's nodes in the file, built and checked at open.

mod import;
mod journal;
mod read;
mod subscribe;
mod tree;
mod writer;

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock, mpsc};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redb::{
    Database, DatabaseError, ReadableDatabase, ReadableTable, StorageBackend, StorageError,
    TableDefinition,
};
use tokio::sync::{broadcast, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{error, warn};

use super::codec::{GENESIS_HASH, HASH_LEN, Unplaced, payload_digest};
use super::merkle::Frontier;
use super::*;

pub use import::{ImportError, Importer};

/// `position → canonical record ‖ hash` (see `docs/STORAGE.md`).
pub(crate) const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
/// `stream name → last revision`: storage format 1 only. Format 2 reads a stream's last
/// revision off the last `stream_index` key of the stream, which saves a B-tree page per stream
/// in every commit; opening a format-1 file drops this table.
pub(crate) const LEGACY_STREAMS: TableDefinition<&str, u64> = TableDefinition::new("streams");
/// `(stream name, revision) → position`; its last key for a stream holds the stream's last
/// revision.
pub(crate) const STREAM_INDEX: TableDefinition<(&str, u64), u64> =
    TableDefinition::new("stream_index");
/// `event id (UUID as u128) → (position, payload digest)`.
pub(crate) const EVENT_IDS: TableDefinition<u128, (u64, [u8; HASH_LEN])> =
    TableDefinition::new("event_ids");
/// `tree size → signed checkpoint` (note text): the checkpoints the log's key signed.
pub(crate) const CHECKPOINTS: TableDefinition<u64, &str> = TableDefinition::new("checkpoints");
/// `sequence → signed checkpoint` announcing a new key, oldest first.
pub(crate) const KEY_ROTATIONS: TableDefinition<u64, &str> = TableDefinition::new("key_rotations");
/// `key → value`: the storage format version and the chain head.
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// `meta` key of the storage layout version (one byte).
pub(crate) const META_FORMAT_VERSION: &str = "format_version";
/// `meta` key of the head: position (u64 big-endian) ‖ hash (32 bytes).
pub(crate) const META_HEAD: &str = "head";
/// The storage layout version written by this code. Format 4 keeps the Merkle tree's nodes
/// (`merkle_nodes`, `tree.rs`), which a build that does not know the tree would not extend.
/// Format 3 keeps the records of the commits since the last checkpoint in the journal beside the
/// file (`journal.rs`), so a build that does not read the journal must not open it. Formats 1
/// (which also kept a `streams` table), 2 and 3 are upgraded to it on open (the tree is built
/// from the records).
pub const STORAGE_FORMAT_VERSION: u8 = 4;

/// Tuning of the redb backend.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Most events the writer puts into one redb transaction (group commit).
    pub max_batch_events: usize,
    /// How many committed batches the live feed buffers before a lagging subscriber is cut off.
    pub live_buffer: usize,
    /// Most events in one append request.
    pub max_append_events: usize,
    /// Most payload bytes (sum of `data`) in one append request.
    pub max_append_bytes: usize,
    /// Most records one `read_all` call looks at, matching or not, so that a selective filter
    /// over a long log still answers promptly (the caller continues from `next_position`).
    pub max_read_scan: usize,
    /// Events per storage page while a subscription catches up.
    pub subscription_page: usize,
    /// Items buffered between a subscription's task and its consumer.
    pub subscription_buffer: usize,
    /// The writer checkpoints (one durable commit of the log file, then the journal starts
    /// over) once the journal holds this many bytes ...
    pub checkpoint_bytes: u64,
    /// ... or its oldest frame is this old. Both bound the work of a restart after a crash.
    pub checkpoint_interval: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_batch_events: 4096,
            live_buffer: 4096,
            max_append_events: 1000,
            max_append_bytes: 4 * 1024 * 1024,
            max_read_scan: 100_000,
            subscription_page: 1024,
            subscription_buffer: 256,
            checkpoint_bytes: 32 * 1024 * 1024,
            checkpoint_interval: Duration::from_secs(2),
        }
    }
}

/// Opens the database again after a storage failure (see [`Shared::reopen`]).
type Reopen = Box<dyn Fn() -> Result<Database, OpenError> + Send + Sync>;
/// Opens the database for reads only, on an [`Overlay`](crate::reopen::Overlay) of the file,
/// checking every page first if told to (at start); returns it with the flag that retires the
/// view (see [`Shared::reopen`]).
type OpenForReads =
    Box<dyn Fn(bool) -> Result<(Database, Arc<AtomicBool>), OpenError> + Send + Sync>;
/// Opens the journal's file (again).
type OpenJournal = Box<dyn Fn() -> Result<Box<dyn StorageBackend>, OpenError> + Send + Sync>;

/// The journal file beside the log file `path` (`oversight.redb` → `oversight.journal`).
pub fn journal_path(path: &Path) -> std::path::PathBuf {
    path.with_extension("journal")
}

/// Bytes of redb's page cache for the log file. redb's default (1 GiB) keeps nearly every page
/// of a log of a million events resident; reads beyond the cache come from the kernel's page
/// cache instead, so the server's memory stays bounded as the log grows.
pub const LOG_CACHE_BYTES: usize = 64 * 1024 * 1024;

/// How long a reopen waits for reads that still hold the failed database.
const REOPEN_WAIT: Duration = Duration::from_secs(10);

/// State shared by the store, its writer thread and its subscriptions.
pub(crate) struct Shared {
    /// The open database; read-only while a reopen after a storage failure cannot write the
    /// file, `None` if it cannot even be read.
    db: RwLock<Option<OpenDb>>,
    reopen: Reopen,
    open_for_reads: OpenForReads,
    /// The journal; `None` after a failed write left it in doubt, until a reopen.
    pub(crate) journal: Mutex<Option<journal::Journal>>,
    open_journal: OpenJournal,
    /// The journal's file, if it is one: removed after the checkpoint of a clean stop, so a
    /// stopped log is one file again.
    journal_file: Option<std::path::PathBuf>,
    /// Names the log in errors.
    label: std::path::PathBuf,
    /// The last committed head; updated by the writer after each commit.
    head: Mutex<Head>,
    /// The Merkle tree's right edge as of the last commit (its size is the head's position);
    /// updated by the writer with `head`.
    tree: Mutex<Frontier>,
    /// Committed batches, published after commit and after `head` is updated.
    pub(crate) live: broadcast::Sender<LiveBatch>,
    /// Cancelled when the store shuts down.
    pub(crate) shutdown: CancellationToken,
    pub(crate) options: StoreOptions,
    /// Write transactions committed since open (group commit makes this less than appends).
    pub(crate) commits: AtomicU64,
    /// Subscriptions whose stream has not been dropped yet.
    pub(crate) subscriptions: Arc<AtomicU64>,
    /// Told about appends and commits, once set.
    pub(crate) observer: OnceLock<Arc<dyn StoreObserver>>,
    /// When the writer may next try a reopen after failed ones (see `writer::reopen`).
    pub(crate) backoff: Mutex<writer::Backoff>,
    /// Reopens tried since open, failed or not.
    pub(crate) reopens: AtomicU64,
}

/// The database as it is open.
struct OpenDb {
    db: Arc<Database>,
    /// For a read-only view ([`Overlay`](crate::reopen::Overlay)): the flag that retires it.
    read_only: Option<Arc<AtomicBool>>,
}

/// One committed batch as published to subscribers, in position order.
pub(crate) type LiveBatch = Arc<[Arc<RecordedEvent>]>;

impl Shared {
    pub(crate) fn head(&self) -> Head {
        *lock(&self.head)
    }

    pub(crate) fn set_head(&self, head: Head) {
        *lock(&self.head) = head;
    }

    /// The Merkle tree's right edge as of the last commit.
    pub(crate) fn tree(&self) -> Frontier {
        lock(&self.tree).clone()
    }

    pub(crate) fn set_tree(&self, tree: Frontier) {
        *lock(&self.tree) = tree;
    }

    /// The database open for writing, or `None` while a storage failure keeps it closed or
    /// open for reads only.
    pub(crate) fn current_db(&self) -> Option<Arc<Database>> {
        self.db
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .as_ref()
            .filter(|open| open.read_only.is_none())
            .map(|open| Arc::clone(&open.db))
    }

    /// The open database for a read: the read-only view while the file cannot be written.
    pub(crate) fn db(&self) -> Result<Arc<Database>, ReadError> {
        self.db
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .as_ref()
            .map(|open| Arc::clone(&open.db))
            .ok_or_else(|| {
                ReadError::Storage(
                    "the event log is closed after a storage failure; it is reopened with the \
                     next append"
                        .into(),
                )
            })
    }

    /// Closes the database and opens it again. redb refuses every later operation on a database
    /// that saw an I/O error ("previous I/O error"), reads included, until it is reopened; the
    /// reopen recovers the last durable commit and the journal's records beyond it. Waits
    /// (bounded) for reads that still hold the old handle, because the file stays locked while
    /// any does.
    ///
    /// A reopen must write the file (redb's repair after an unclean close, the journal's
    /// records); if it fails — the disk is still full — the log is opened for reads only, on an
    /// [`Overlay`](crate::reopen::Overlay) that keeps those writes in memory, so reads go on
    /// answering with every acknowledged record while appends are refused; a later append tries
    /// again. Only if that fails too are reads refused (UNAVAILABLE).
    pub(crate) fn reopen(&self) -> Result<Head, OpenError> {
        let mut slot = self
            .db
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(old) = slot.take() {
            let deadline = Instant::now() + REOPEN_WAIT;
            while Arc::strong_count(&old.db) > 1 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            if let Some(retired) = &old.read_only {
                // Reads that outlived the wait must not see the file while it is rewritten.
                crate::reopen::Overlay::retire(retired);
            }
            drop(old);
        }
        *lock(&self.journal) = None;
        let failure = match self.open_for_writes() {
            Ok((db, journal, head, tree)) => {
                *lock(&self.journal) = Some(journal);
                *slot = Some(OpenDb {
                    db: Arc::new(db),
                    read_only: None,
                });
                self.set_tree(tree);
                return Ok(head);
            }
            Err(failure) => failure,
        };
        match self.open_read_only() {
            Ok((open, tree)) => {
                self.set_tree(tree);
                warn!(
                    head = self.head().position,
                    "the event log is open for reads only until a reopen can write its file; \
                     appends are refused until then"
                );
                *slot = Some(open);
            }
            Err(e) => error!(
                error = %e,
                "the event log could not be opened for reads either; reads are refused until a \
                 reopen succeeds"
            ),
        }
        Err(failure)
    }

    /// Opens the database and the journal for writing, with the journal's records restored.
    fn open_for_writes(&self) -> Result<(Database, journal::Journal, Head, Frontier), OpenError> {
        let db = (self.reopen)()?;
        let head = writer::load_head(&db).map_err(|e| storage_error(&self.label, e))?;
        let (journal, head) = recover(&db, head, (self.open_journal)()?, &self.label)?;
        let tree = load_tree(&db, head, &self.label)?;
        Ok((db, journal, head, tree))
    }

    /// Opens the read-only view of the log ([`open_read_only`]), with its tree.
    fn open_read_only(&self) -> Result<(OpenDb, Frontier), OpenError> {
        open_read_only(&self.open_for_reads, &self.open_journal, &self.label, false)
            .map(|(open, _, tree)| (open, tree))
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked (plain values only).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// An append validated and waiting for the writer.
pub(crate) struct Pending {
    pub(crate) request: AppendRequest,
    /// `payload_digest` of every event, in request order (computed off the writer thread).
    pub(crate) digests: Vec<[u8; HASH_LEN]>,
    /// The canonical bytes of every event but its place, in request order (encoded off the
    /// writer thread; the writer fills in position, revision and time).
    pub(crate) encoded: Vec<Unplaced>,
    pub(crate) reply: oneshot::Sender<Result<AppendOutcome, AppendError>>,
}

/// Work for the writer thread.
pub(crate) enum Job {
    /// An append.
    Append(Pending),
    /// A signed checkpoint to keep.
    Checkpoint {
        checkpoint: StoredCheckpoint,
        reply: oneshot::Sender<Result<(), AppendError>>,
    },
}

/// The embedded event log.
pub struct RedbStore {
    shared: Arc<Shared>,
    /// `None` once shutdown has begun.
    queue: Mutex<Option<mpsc::Sender<Job>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl RedbStore {
    /// Opens (or creates) the log in the file `path`, creating its directory if needed.
    pub fn open(path: &Path, options: StoreOptions) -> Result<Arc<Self>, OpenError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| OpenError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        // The integrity check reads every page and compares it with its checksum, so a file
        // damaged while the server was down (a flipped byte in a record, a torn page) is refused
        // at start instead of being served.
        let db = guarded_open(path, || {
            redb::Builder::new()
                .set_check_integrity_on_open(true)
                .set_cache_size(LOG_CACHE_BYTES)
                .create(path)
        });
        let owned = path.to_path_buf();
        let reopen: Reopen = Box::new(move || {
            guarded_open(&owned, || {
                redb::Builder::new()
                    .set_cache_size(LOG_CACHE_BYTES)
                    .create(&owned)
            })
        });
        let owned = path.to_path_buf();
        let open_for_reads: OpenForReads = Box::new(move |check_integrity| {
            guarded_open(&owned, || {
                crate::reopen::open_read_only(&owned, LOG_CACHE_BYTES, check_integrity)
            })
        });
        let journal = journal_path(path);
        let journal_file = Some(journal.clone());
        let open_journal: OpenJournal = Box::new(move || {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&journal)
                .map_err(|source| OpenError::Io {
                    path: journal.clone(),
                    source,
                })?;
            // The journal may have just been created: its directory entry must be durable
            // before a frame in it is acknowledged.
            if let Some(dir) = journal.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::File::open(dir)
                    .and_then(|d| d.sync_all())
                    .map_err(|source| OpenError::Io {
                        path: dir.to_path_buf(),
                        source,
                    })?;
            }
            let backend =
                redb::backends::FileBackend::new(file).map_err(|e| OpenError::Storage {
                    path: journal.clone(),
                    detail: e.to_string(),
                })?;
            Ok(Box::new(backend) as Box<dyn StorageBackend>)
        });
        Self::start(
            db,
            path,
            options,
            (reopen, open_for_reads, open_journal),
            journal_file,
        )
    }

    /// Opens (or creates) the log on a redb storage backend made by `backend`, e.g. one that
    /// injects faults, with its journal on the storage made by `journal`; both are called again
    /// to reopen the log after a storage failure. `label` only names the storage in errors.
    pub fn open_with_backend<B: StorageBackend, J: StorageBackend>(
        backend: impl Fn() -> B + Send + Sync + 'static,
        journal: impl Fn() -> J + Send + Sync + 'static,
        label: &Path,
        options: StoreOptions,
    ) -> Result<Arc<Self>, OpenError> {
        let backend = Arc::new(backend);
        let first = Arc::clone(&backend);
        let db = guarded_open(label, move || {
            redb::Builder::new().create_with_backend(first())
        });
        let owned = label.to_path_buf();
        let for_writes = Arc::clone(&backend);
        let reopen: Reopen = Box::new(move || {
            let backend = Arc::clone(&for_writes);
            guarded_open(&owned, move || {
                redb::Builder::new().create_with_backend(backend())
            })
        });
        let owned = label.to_path_buf();
        let open_for_reads: OpenForReads = Box::new(move |check_integrity| {
            let retired = Arc::new(AtomicBool::new(false));
            let view = crate::reopen::Overlay::new(Box::new(backend()), Arc::clone(&retired))
                .map_err(|source| OpenError::Io {
                    path: owned.clone(),
                    source,
                })?;
            let db = guarded_open(&owned, move || {
                redb::Builder::new()
                    .set_check_integrity_on_open(check_integrity)
                    .create_with_backend(view)
            })?;
            Ok((db, retired))
        });
        let open_journal: OpenJournal =
            Box::new(move || Ok(Box::new(journal()) as Box<dyn StorageBackend>));
        Self::start(
            db,
            label,
            options,
            (reopen, open_for_reads, open_journal),
            None,
        )
    }

    /// Starts the store on `first`, the database as first opened (or why it could not be);
    /// `opens`: how to reopen it for writes and for reads only, and its journal.
    ///
    /// A disk too full to open the log for writes (redb's open, the journal's records written
    /// back, a new journal) does not stop the start: the log is opened for reads only, as after a
    /// failed reopen (see [`Shared::reopen`]), and the first append tries to open it for writes.
    fn start(
        first: Result<Database, OpenError>,
        path: &Path,
        options: StoreOptions,
        opens: (Reopen, OpenForReads, OpenJournal),
        journal_file: Option<std::path::PathBuf>,
    ) -> Result<Arc<Self>, OpenError> {
        let (reopen, open_for_reads, open_journal) = opens;
        let writable = first.and_then(|db| {
            let head = initialize(&db, path)?;
            let (journal, head) = recover(&db, head, open_journal()?, path)?;
            let tree = load_tree(&db, head, path)?;
            Ok((db, journal, head, tree))
        });
        let (open, journal, head, tree) = match writable {
            Ok((db, journal, head, tree)) => (
                OpenDb {
                    db: Arc::new(db),
                    read_only: None,
                },
                Some(journal),
                head,
                tree,
            ),
            Err(full) if full.is_out_of_space() => {
                let (open, head, tree) =
                    open_read_only(&open_for_reads, &open_journal, path, true)?;
                warn!(
                    error = %full,
                    head = head.position,
                    "the disk is full: the event log is open for reads only; appends are refused \
                     until space is freed (the next append after that opens it for writes)"
                );
                (open, None, head, tree)
            }
            Err(e) => return Err(e),
        };
        let (live, _) = broadcast::channel(options.live_buffer.max(1));
        let shared = Arc::new(Shared {
            db: RwLock::new(Some(open)),
            reopen,
            open_for_reads,
            journal: Mutex::new(journal),
            open_journal,
            journal_file,
            label: path.to_path_buf(),
            head: Mutex::new(head),
            tree: Mutex::new(tree),
            live,
            shutdown: CancellationToken::new(),
            commits: AtomicU64::new(0),
            subscriptions: Arc::new(AtomicU64::new(0)),
            observer: OnceLock::new(),
            backoff: Mutex::new(writer::Backoff::default()),
            reopens: AtomicU64::new(0),
            options,
        });
        let (tx, rx) = mpsc::channel();
        let writer_shared = Arc::clone(&shared);
        let writer = std::thread::Builder::new()
            .name("oversight-log-writer".into())
            .spawn(move || writer::run(writer_shared, rx, head))
            .map_err(|source| OpenError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Arc::new(Self {
            shared,
            queue: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
        }))
    }

    /// How many write transactions the writer has committed since open; with concurrent
    /// appends this grows slower than the number of appends (group commit).
    pub fn committed_batches(&self) -> u64 {
        self.shared.commits.load(Ordering::Relaxed)
    }

    /// How many subscriptions are open (their streams not yet dropped).
    pub fn active_subscriptions(&self) -> u64 {
        self.shared.subscriptions.load(Ordering::Relaxed)
    }

    /// Sets the observer told about every append and commit from now on; only the first call
    /// has an effect.
    pub fn set_observer(&self, observer: Arc<dyn StoreObserver>) {
        let _ = self.shared.observer.set(observer);
    }

    /// Tells the observer, if any, how an append ended.
    fn observe_append(
        &self,
        events: usize,
        result: &Result<AppendOutcome, AppendError>,
        started: Instant,
    ) {
        let Some(observer) = self.shared.observer.get() else {
            return;
        };
        let outcome = match result {
            Ok(outcome) if outcome.replayed => "replayed",
            Ok(_) => "ok",
            Err(
                AppendError::Invalid(_)
                | AppendError::WrongExpectedRevision { .. }
                | AppendError::IdempotencyConflict { .. },
            ) => "rejected",
            Err(_) => "failed",
        };
        observer.append_finished(events, outcome, started.elapsed());
    }

    /// Stops accepting appends, finishes the ones in flight (durably) and ends subscriptions.
    pub async fn shutdown(&self) {
        // Dropping the only sender lets the writer drain what is queued, then stop.
        drop(lock(&self.queue).take());
        let writer = lock(&self.writer).take();
        if let Some(writer) = writer {
            match tokio::task::spawn_blocking(move || writer.join()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => error!("the event-log writer thread panicked"),
                Err(e) => error!(error = %e, "could not join the event-log writer thread"),
            }
        }
        self.shared.shutdown.cancel();
    }
}

impl Drop for RedbStore {
    /// A store dropped without [`RedbStore::shutdown`] still ends its subscriptions; its writer
    /// finishes what is queued and stops on its own once the queue's sender is gone.
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}

/// Opens the database, turning redb's errors (and a panic on a damaged file) into [`OpenError`].
fn guarded_open<T>(
    path: &Path,
    open: impl FnOnce() -> Result<T, DatabaseError>,
) -> Result<T, OpenError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(open)) {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(e)) => Err(open_error(path, e)),
        Err(_) => Err(OpenError::Corrupt {
            path: path.to_path_buf(),
            detail: "the storage engine could not read the file".into(),
        }),
    }
}

fn open_error(path: &Path, e: DatabaseError) -> OpenError {
    let path = path.to_path_buf();
    match e {
        DatabaseError::DatabaseAlreadyOpen => OpenError::Locked { path },
        DatabaseError::Storage(StorageError::Corrupted(detail)) => {
            OpenError::Corrupt { path, detail }
        }
        DatabaseError::Storage(StorageError::Io(source)) => match source.kind() {
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData => {
                OpenError::Corrupt {
                    path,
                    detail: source.to_string(),
                }
            }
            _ => OpenError::Io { path, source },
        },
        DatabaseError::UpgradeRequired(version) => OpenError::Corrupt {
            path,
            detail: format!("unsupported redb file format version {version}"),
        },
        other => OpenError::Storage {
            path,
            detail: other.to_string(),
        },
    }
}

/// A storage engine's failure on the log file `path`: an I/O error stays one (a full disk must
/// be told as such), anything else is described.
fn storage_error(path: &Path, e: redb::Error) -> OpenError {
    match e {
        redb::Error::Io(source) => OpenError::Io {
            path: path.to_path_buf(),
            source,
        },
        other => OpenError::Storage {
            path: path.to_path_buf(),
            detail: other.to_string(),
        },
    }
}

/// Creates the tables on first open, checks the format version and the head, returns the head.
fn initialize(db: &Database, path: &Path) -> Result<Head, OpenError> {
    let storage = |e: redb::Error| storage_error(path, e);
    let corrupt = |detail: String| OpenError::Corrupt {
        path: path.to_path_buf(),
        detail,
    };
    let txn = db.begin_write().map_err(|e| storage(e.into()))?;
    let head = {
        let events = txn.open_table(EVENTS).map_err(|e| storage(e.into()))?;
        txn.open_table(STREAM_INDEX)
            .map_err(|e| storage(e.into()))?;
        txn.open_table(EVENT_IDS).map_err(|e| storage(e.into()))?;
        txn.open_table(tree::MERKLE)
            .map_err(|e| storage(e.into()))?;
        txn.open_table(CHECKPOINTS).map_err(|e| storage(e.into()))?;
        txn.open_table(KEY_ROTATIONS)
            .map_err(|e| storage(e.into()))?;
        let mut meta = txn.open_table(META).map_err(|e| storage(e.into()))?;
        let version = meta
            .get(META_FORMAT_VERSION)
            .map_err(|e| storage(e.into()))?
            .map(|v| v.value().to_vec());
        match version.as_deref() {
            None => {
                meta.insert(META_FORMAT_VERSION, [STORAGE_FORMAT_VERSION].as_slice())
                    .map_err(|e| storage(e.into()))?;
            }
            Some([STORAGE_FORMAT_VERSION]) => {}
            Some([old @ 1..=3]) => {
                let old = *old;
                // Format 1 differs from 2 only by the `streams` table, which `stream_index` makes
                // redundant: drop it, in the same transaction as the new version. Format 2
                // differs from 3 only by the journal, which a format-2 file never had; format 3
                // from 4 only by the Merkle tree, built below from the records.
                if old == 1 {
                    txn.delete_table(LEGACY_STREAMS)
                        .map_err(|e| storage(e.into()))?;
                }
                meta.insert(META_FORMAT_VERSION, [STORAGE_FORMAT_VERSION].as_slice())
                    .map_err(|e| storage(e.into()))?;
                warn!(
                    path = %path.display(),
                    "event log upgraded from storage format {old} to {STORAGE_FORMAT_VERSION}; \
                     older builds of oversight cannot open it any more"
                );
            }
            Some(other) => {
                return Err(corrupt(format!(
                    "unsupported storage format version {other:?}: this build reads formats 1 \
                     to {STORAGE_FORMAT_VERSION}; the file was written by a newer oversight"
                )));
            }
        }
        let head = match meta.get(META_HEAD).map_err(|e| storage(e.into()))? {
            None => Head {
                position: 0,
                hash: GENESIS_HASH,
            },
            Some(value) => decode_head(value.value())
                .ok_or_else(|| corrupt(format!("meta head is {} bytes", value.value().len())))?,
        };
        let last = events
            .last()
            .map_err(|e| storage(e.into()))?
            .map_or(0, |(k, _)| k.value());
        if last != head.position {
            return Err(corrupt(format!(
                "the head says position {} but the last stored event is {last}",
                head.position
            )));
        }
        head
    };
    txn.commit().map_err(|e| storage(e.into()))?;
    tree::complete(db, head, path)?;
    Ok(head)
}

/// The Merkle tree's right edge at `head`, read from the file.
fn load_tree(db: &Database, head: Head, path: &Path) -> Result<Frontier, OpenError> {
    let txn = db.begin_read().map_err(|e| storage_error(path, e.into()))?;
    let table = txn
        .open_table(tree::MERKLE)
        .map_err(|e| storage_error(path, e.into()))?;
    tree::frontier(&table, head.position).map_err(|e| OpenError::Corrupt {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })
}

/// Opens the read-only view of the log at `path`: the file under an overlay (every page checked
/// first if `check_integrity`), its tables checked, and the journal's records restored into the
/// overlay; neither file is changed. Returns it with its head and its tree.
fn open_read_only(
    open_for_reads: &OpenForReads,
    open_journal: &OpenJournal,
    path: &Path,
    check_integrity: bool,
) -> Result<(OpenDb, Head, Frontier), OpenError> {
    let (db, retired) = open_for_reads(check_integrity)?;
    let head = initialize(&db, path)?;
    let records =
        journal::read_records(open_journal()?.as_ref()).map_err(|e| journal_error(path, e))?;
    let head = restore(&db, head, &records, path)?;
    let tree = load_tree(&db, head, path)?;
    let open = OpenDb {
        db: Arc::new(db),
        read_only: Some(retired),
    };
    Ok((open, head, tree))
}

/// Why the journal beside the log file `path` could not be read.
fn journal_error(path: &Path, e: journal::JournalError) -> OpenError {
    let path = journal_path(path);
    match e {
        journal::JournalError::Io(source) => OpenError::Io { path, source },
        journal::JournalError::Corrupt(detail) => OpenError::Corrupt { path, detail },
    }
}

/// Opens the journal in `file` and writes the records it holds beyond `head` (the durable head
/// of the log file) back into the log ([`restore`]); then starts the journal over.
fn recover(
    db: &Database,
    head: Head,
    file: Box<dyn StorageBackend>,
    path: &Path,
) -> Result<(journal::Journal, Head), OpenError> {
    let (mut journal, records) =
        journal::Journal::open(file).map_err(|e| journal_error(path, e))?;
    if records.is_empty() {
        return Ok((journal, head));
    }
    let recovered = restore(db, head, &records, path)?;
    journal.reset().map_err(|source| OpenError::Io {
        path: journal_path(path),
        source,
    })?;
    if recovered.position != head.position {
        tracing::info!(
            from = head.position + 1,
            to = recovered.position,
            "event log: records of commits not yet checkpointed restored from the journal"
        );
    }
    Ok((journal, recovered))
}

/// Writes the journal's `records` beyond `head` (the durable head of the log file) into the
/// log, each checked to continue the hash chain, in one durable commit, and returns the new
/// head. Records at or below `head` must equal the stored ones: a journal that disagrees with
/// its log file belongs to another log and is refused.
fn restore(
    db: &Database,
    head: Head,
    records: &[journal::JournalRecord],
    path: &Path,
) -> Result<Head, OpenError> {
    if records.is_empty() {
        return Ok(head);
    }
    let journal_file = journal_path(path);
    let corrupt = |detail: String| OpenError::Corrupt {
        path: journal_file.clone(),
        detail,
    };
    let storage = |e: redb::Error| storage_error(path, e);
    let mut recovered = head;
    let mut txn = db.begin_write().map_err(|e| storage(e.into()))?;
    txn.set_durability(redb::Durability::Immediate)
        .map_err(|e| storage(e.into()))?;
    {
        let mut events = txn.open_table(EVENTS).map_err(|e| storage(e.into()))?;
        let mut stream_index = txn
            .open_table(STREAM_INDEX)
            .map_err(|e| storage(e.into()))?;
        let mut event_ids = txn.open_table(EVENT_IDS).map_err(|e| storage(e.into()))?;
        let mut merkle = txn
            .open_table(tree::MERKLE)
            .map_err(|e| storage(e.into()))?;
        let mut tree = tree::frontier(&merkle, head.position).map_err(|e| storage(e.into()))?;
        for record in records {
            let peeked = read::peek(&record.stored)
                .ok_or_else(|| corrupt("a journal record cannot be read".into()))?;
            let position = peeked.position;
            if position <= recovered.position {
                let stored = events.get(position).map_err(|e| storage(e.into()))?;
                if stored.as_ref().map(|v| v.value()) != Some(record.stored.as_slice()) {
                    return Err(corrupt(format!(
                        "the journal's record at position {position} differs from the log's; \
                         the journal belongs to another log: move it aside and start again"
                    )));
                }
                continue;
            }
            if position != recovered.position + 1 {
                return Err(corrupt(format!(
                    "the journal continues at position {position} but the log ends at {}",
                    recovered.position
                )));
            }
            let (canonical, hash) =
                super::codec::split_stored(&record.stored).map_err(|e| corrupt(e.0))?;
            if super::codec::chain_hash(&recovered.hash, canonical) != hash {
                return Err(corrupt(format!(
                    "the journal's record at position {position} does not continue the hash chain"
                )));
            }
            events
                .insert(position, record.stored.as_slice())
                .map_err(|e| storage(e.into()))?;
            stream_index
                .insert((peeked.stream, peeked.revision), position)
                .map_err(|e| storage(e.into()))?;
            event_ids
                .insert(peeked.event_id, (position, record.digest))
                .map_err(|e| storage(e.into()))?;
            tree::append_leaf(&mut merkle, &mut tree, canonical).map_err(|e| storage(e.into()))?;
            recovered = Head { position, hash };
        }
        if recovered.position != head.position {
            let mut meta = txn.open_table(META).map_err(|e| storage(e.into()))?;
            meta.insert(META_HEAD, encode_head(&recovered).as_slice())
                .map_err(|e| storage(e.into()))?;
        }
    }
    txn.commit().map_err(|e| storage(e.into()))?;
    Ok(recovered)
}

/// The last revision of `stream`: the revision of its last `stream_index` key.
pub(crate) fn last_revision(
    index: &impl ReadableTable<(&'static str, u64), u64>,
    stream: &str,
) -> Result<Option<u64>, StorageError> {
    let last = index.range((stream, 0)..=(stream, u64::MAX))?.next_back();
    Ok(match last {
        Some(entry) => Some(entry?.0.value().1),
        None => None,
    })
}

/// `position (u64 BE) ‖ hash`.
pub(crate) fn encode_head(head: &Head) -> [u8; 8 + HASH_LEN] {
    let mut out = [0u8; 8 + HASH_LEN];
    out[..8].copy_from_slice(&head.position.to_be_bytes());
    out[8..].copy_from_slice(&head.hash);
    out
}

pub(crate) fn decode_head(bytes: &[u8]) -> Option<Head> {
    let (position, hash) = bytes.split_first_chunk::<8>()?;
    Some(Head {
        position: u64::from_be_bytes(*position),
        hash: hash.try_into().ok()?,
    })
}

/// Runs synchronous redb work on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ReadError> + Send + 'static,
) -> Result<T, ReadError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ReadError::Storage(format!("read task failed: {e}")))?
}

/// Checks everything about a request that does not need the database.
/// Returns every event's payload digest and canonical bytes (but its place), in request order.
#[allow(clippy::type_complexity)]
fn validate(
    request: &AppendRequest,
    options: &StoreOptions,
) -> Result<(Vec<[u8; HASH_LEN]>, Vec<Unplaced>), InvalidInput> {
    if request.appends.is_empty() {
        return Err(InvalidInput::new(
            "appends",
            "must name at least one stream",
        ));
    }
    let total = request.event_count();
    if total == 0 {
        return Err(InvalidInput::new(
            "appends",
            "must hold at least one event (entries with none are only conditions on the others)",
        ));
    }
    if total > options.max_append_events {
        return Err(InvalidInput::new(
            "appends",
            format!(
                "hold {total} events; at most {} are allowed in one append",
                options.max_append_events
            ),
        ));
    }
    let bytes: usize = request
        .appends
        .iter()
        .flat_map(|a| &a.events)
        .map(|e| e.data.len())
        .sum();
    if bytes > options.max_append_bytes {
        return Err(InvalidInput::new(
            "appends",
            format!(
                "hold {bytes} bytes of data; at most {} are allowed in one append",
                options.max_append_bytes
            ),
        ));
    }
    let mut streams = HashSet::with_capacity(request.appends.len());
    let mut ids = HashSet::with_capacity(total);
    let mut digests = Vec::with_capacity(total);
    let mut encoded = Vec::with_capacity(total);
    for (i, append) in request.appends.iter().enumerate() {
        if !streams.insert(append.stream.as_str()) {
            return Err(InvalidInput::new(
                format!("appends[{i}].stream"),
                format!(
                    "repeats stream {}; put all of a stream's events in one entry",
                    append.stream
                ),
            ));
        }
        if append.is_condition() && append.expected == ExpectedRevision::Any {
            return Err(InvalidInput::new(
                format!("appends[{i}].expected"),
                "is any on an entry with no events, a condition that checks nothing; give the \
                 events to write, or the revision the stream must be at",
            ));
        }
        for (j, event) in append.events.iter().enumerate() {
            if !ids.insert(event.event_id) {
                return Err(InvalidInput::new(
                    format!("appends[{i}].events[{j}].event_id"),
                    format!(
                        "repeats {} from earlier in the same append; every event needs its own id",
                        event.event_id
                    ),
                ));
            }
            if event.content_type == ContentType::Json
                && let Err(rule) = crate::log::json::check_json(&event.data)
            {
                return Err(InvalidInput::new(
                    format!("appends[{i}].events[{j}].data"),
                    rule,
                ));
            }
            digests.push(payload_digest(&append.stream, event));
            encoded.push(Unplaced::new(&append.stream, event));
        }
    }
    Ok((digests, encoded))
}

#[async_trait]
impl EventStore for RedbStore {
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, AppendError> {
        let started = Instant::now();
        let events = request.event_count();
        let result = async {
            let (digests, encoded) = validate(&request, &self.shared.options)?;
            let (reply, answer) = oneshot::channel();
            {
                let queue = lock(&self.queue);
                let Some(queue) = queue.as_ref() else {
                    return Err(AppendError::ShuttingDown);
                };
                if queue
                    .send(Job::Append(Pending {
                        request,
                        digests,
                        encoded,
                        reply,
                    }))
                    .is_err()
                {
                    warn!("append refused: the event-log writer has stopped");
                    return Err(AppendError::ShuttingDown);
                }
            }
            answer.await.map_err(|_| {
                AppendError::Storage("the event-log writer stopped before answering".into())
            })?
        }
        .await;
        self.observe_append(events, &result, started);
        result
    }

    async fn read_stream(&self, request: ReadStream) -> Result<Vec<RecordedEvent>, ReadError> {
        let shared = Arc::clone(&self.shared);
        blocking(move || read::read_stream(&shared, &request)).await
    }

    async fn find_event(&self, event_id: uuid::Uuid) -> Result<Option<RecordedEvent>, ReadError> {
        let shared = Arc::clone(&self.shared);
        blocking(move || read::find_event(&shared, event_id)).await
    }

    async fn read_all(&self, request: ReadAll) -> Result<Vec<RecordedEvent>, ReadError> {
        Ok(self.read_all_page(request).await?.events)
    }

    async fn read_all_page(&self, request: ReadAll) -> Result<ReadAllPage, ReadError> {
        let shared = Arc::clone(&self.shared);
        blocking(move || read::read_all(&shared, &request)).await
    }

    fn subscribe(&self, start: SubscribeFrom, filter: Filter) -> Subscription {
        let inner = subscribe::subscribe(Arc::clone(&self.shared), start, filter);
        let open = Arc::clone(&self.shared.subscriptions);
        Box::pin(subscribe::Counted::new(inner, open))
    }

    async fn head(&self) -> Result<Head, ReadError> {
        Ok(self.shared.head())
    }

    async fn verify(&self, from: u64, to: u64) -> Result<VerifyReport, ReadError> {
        let shared = Arc::clone(&self.shared);
        blocking(move || read::verify(&shared, from, to)).await
    }

    async fn tree_head(&self) -> Result<TreeHead, ReadError> {
        let tree = self.shared.tree();
        Ok(TreeHead {
            size: tree.size(),
            root: tree.root(),
        })
    }

    async fn tree_root(&self, size: u64) -> Result<merkle::Hash, ReadError> {
        let shared = Arc::clone(&self.shared);
        blocking(move || tree::root_at(&shared, size)).await
    }

    async fn inclusion_proof(
        &self,
        position: u64,
        size: u64,
    ) -> Result<Vec<merkle::Hash>, ReadError> {
        let shared = Arc::clone(&self.shared);
        blocking(move || tree::inclusion(&shared, position, size)).await
    }

    async fn consistency_proof(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<Vec<merkle::Hash>, ReadError> {
        let shared = Arc::clone(&self.shared);
        blocking(move || tree::consistency(&shared, old_size, new_size)).await
    }

    async fn put_checkpoint(&self, checkpoint: StoredCheckpoint) -> Result<(), AppendError> {
        let (reply, answer) = oneshot::channel();
        {
            let queue = lock(&self.queue);
            let Some(queue) = queue.as_ref() else {
                return Err(AppendError::ShuttingDown);
            };
            if queue.send(Job::Checkpoint { checkpoint, reply }).is_err() {
                return Err(AppendError::ShuttingDown);
            }
        }
        answer.await.map_err(|_| {
            AppendError::Storage("the event-log writer stopped before answering".into())
        })?
    }

    async fn checkpoint(&self, size: Option<u64>) -> Result<Option<StoredCheckpoint>, ReadError> {
        let shared = Arc::clone(&self.shared);
        blocking(move || read::checkpoint(&shared, size)).await
    }

    async fn key_rotations(&self) -> Result<Vec<StoredCheckpoint>, ReadError> {
        let shared = Arc::clone(&self.shared);
        blocking(move || read::key_rotations(&shared)).await
    }

    /// `false` while a storage failure keeps the log file closed, or open for reads only
    /// ([`Overlay`](crate::reopen::Overlay)); a later append tries the reopen.
    fn is_writable(&self) -> bool {
        self.shared.current_db().is_some()
    }
}
