//! Disk full and I/O errors, over gRPC: the server runs on a log file whose storage backend
//! injects faults. Appends fail with RESOURCE_EXHAUSTED (disk full) or UNAVAILABLE (I/O error)
//! and a message a person can act on, reads keep working with every acknowledged event (even
//! when the log file cannot be written to reopen it: it is then read through a read-only view),
//! nothing acknowledged is lost, and writes resume once the fault clears — the store reopens
//! the database itself. (A real small filesystem needs root to mount here; see
//! `docs/RELIABILITY.md`.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::faults::{append_after_fault, probe, verify};
use common::{Bearer, Client};
use oversight::config::Settings;
use oversight::log::{RedbStore, StoreOptions, journal_path};
use oversight::proto::event_log_client::EventLogClient;
use oversight::proto::{AppendRequest, HeadRequest, ReadAllRequest};
use oversight::server::{Server, ShutdownHandle};
use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};
use tonic::Code;

/// Which faults are armed.
#[derive(Debug, Default)]
struct Faults {
    /// ENOSPC on every write or resize that would grow the file (writes inside it and syncs
    /// still succeed, as on a real full disk).
    full: AtomicBool,
    /// EIO on every write and sync.
    io: AtomicBool,
    /// While `full`, also refuse writes to any byte never written before, even inside the
    /// file's length: a real file system gives a file grown by `set_len` its blocks only when
    /// they are first written, so on a full disk it is the first write that fails.
    sparse: AtomicBool,
    /// ENOSPC on every flush of the log file (not the journal), as a file system that
    /// allocates blocks only at writeback reports a full disk: the checkpoints fail.
    log_flush_full: AtomicBool,
    /// Writes and resizes refused for want of space so far.
    refused: std::sync::atomic::AtomicU64,
    /// Flushes of the log file refused for want of space so far.
    flushes_refused: std::sync::atomic::AtomicU64,
}

/// The log file through redb's own file backend, with [`Faults`] in front of it.
#[derive(Debug)]
struct FaultyFile {
    file: FileBackend,
    faults: Arc<Faults>,
    /// The log file (not the journal).
    log: bool,
    /// One past the highest byte ever written (the file's length when opened).
    written: std::sync::atomic::AtomicU64,
}

impl FaultyFile {
    fn open(path: &Path, faults: Arc<Faults>, log: bool) -> Self {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .unwrap();
        let written = file.metadata().unwrap().len();
        Self {
            file: FileBackend::new(file).unwrap(),
            faults,
            log,
            written: std::sync::atomic::AtomicU64::new(written),
        }
    }

    fn check(&self, grows: bool) -> Result<(), std::io::Error> {
        if self.faults.io.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("injected I/O error"));
        }
        if grows && self.faults.full.load(Ordering::SeqCst) {
            self.faults.refused.fetch_add(1, Ordering::SeqCst);
            return Err(std::io::Error::from(std::io::ErrorKind::StorageFull));
        }
        Ok(())
    }
}

impl StorageBackend for FaultyFile {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.file.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        self.file.read(offset, out)
    }
    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        self.check(len > self.file.len()?)?;
        self.file.set_len(len)
    }
    fn sync_data(&self) -> Result<(), std::io::Error> {
        self.check(false)?;
        if self.log && self.faults.log_flush_full.load(Ordering::SeqCst) {
            self.faults.flushes_refused.fetch_add(1, Ordering::SeqCst);
            return Err(std::io::Error::from(std::io::ErrorKind::StorageFull));
        }
        self.file.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        let end = offset + data.len() as u64;
        let fresh =
            self.faults.sparse.load(Ordering::SeqCst) && end > self.written.load(Ordering::SeqCst);
        self.check(fresh || end > self.file.len()?)?;
        self.file.write(offset, data)?;
        self.written.fetch_max(end, Ordering::SeqCst);
        Ok(())
    }
    fn close(&self) -> Result<(), std::io::Error> {
        self.file.close()
    }
    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.file.try_lock_range(start, end)
    }
    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.file.try_lock_shared_range(start, end)
    }
    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.lock_range(start, end)
    }
    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.lock_shared_range(start, end)
    }
    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.unlock_range(start, end)
    }
    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.file.query_lock_range(start, end)
    }
}

struct Running {
    client: Client,
    shutdown: ShutdownHandle,
    task: tokio::task::JoinHandle<Result<(), oversight::server::ServerError>>,
    _dir: tempfile::TempDir,
}

/// The real server, its log on a [`FaultyFile`].
async fn start(faults: Arc<Faults>) -> Running {
    start_with(faults, StoreOptions::default().checkpoint_interval).await
}

/// [`start`], checkpointing the log every `checkpoint_interval`.
async fn start_with(faults: Arc<Faults>, checkpoint_interval: Duration) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings {
        data_dir: dir.path().join("data"),
        listen: "127.0.0.1:0".parse().unwrap(),
        shutdown_grace_secs: 5,
        ..Settings::default()
    };
    settings.web.listen = "127.0.0.1:0".parse().unwrap();
    // Raw reads are recorded in the audit stream first, and a read whose record cannot be
    // written is refused: these tests count positions and read through a full disk, so they
    // turn the records off (docs/RELIABILITY.md says what that means in production).
    settings.audit.log_reads = false;
    std::fs::create_dir_all(&settings.data_dir).unwrap();
    let path = settings.log_path();
    let server = Server::build_with_log(settings, move |options| {
        let options = StoreOptions {
            checkpoint_interval,
            ..options
        };
        let file = path.clone();
        let journal = journal_path(&path);
        let journal_faults = Arc::clone(&faults);
        RedbStore::open_with_backend(
            move || FaultyFile::open(&file, Arc::clone(&faults), true),
            move || FaultyFile::open(&journal, Arc::clone(&journal_faults), false),
            &path,
            options,
        )
    })
    .await
    .unwrap();
    let token = std::fs::read_to_string(server.admin_token_path())
        .unwrap()
        .trim()
        .to_string();
    let url = format!("http://{}", server.local_addr());
    let shutdown = server.shutdown_handle();
    let task = tokio::spawn(server.with_signals(false).run_until_stopped());
    let channel = tonic::transport::Channel::from_shared(url)
        .unwrap()
        .connect()
        .await
        .unwrap();
    Running {
        client: EventLogClient::with_interceptor(channel, Bearer(Some(token))),
        shutdown,
        task,
        _dir: dir,
    }
}

/// Appends and returns the acknowledged (event id, position).
async fn append(client: &mut Client, request: AppendRequest) -> (String, u64) {
    let id = request.events[0].event_id.clone();
    let reply = client.append(request).await.unwrap().into_inner();
    (id, reply.result.unwrap().last_position)
}

/// Every event of the log as (event id, position); the chain verifies over all of them.
async fn read_back(client: &mut Client) -> Vec<(String, u64)> {
    let mut stream = client
        .read_all(ReadAllRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut out = Vec::new();
    while let Some(chunk) = stream.message().await.unwrap() {
        out.extend(chunk.events.into_iter().map(|e| (e.event_id, e.position)));
    }
    assert_eq!(verify(client).await, out.len() as u64);
    out
}

/// Appends `request` while the disk is full: an acknowledged append joins `acknowledged`, a
/// refused one must be RESOURCE_EXHAUSTED "disk is full". Returns whether it was refused.
async fn append_while_full(
    client: &mut Client,
    request: AppendRequest,
    acknowledged: &mut Vec<(String, u64)>,
) -> bool {
    let id = request.events[0].event_id.clone();
    match client.append(request).await {
        Ok(reply) => {
            acknowledged.push((id, reply.into_inner().result.unwrap().last_position));
            false
        }
        Err(status) => {
            assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
            assert!(status.message().contains("disk is full"), "{status:?}");
            true
        }
    }
}

/// Space has returned: an append is written (retried through the reopen's back-off), appends
/// and checkpoints go on, and every
/// acknowledged event is in the chain; then the server stops cleanly.
async fn resumes_with_everything_and_stops(
    mut server: Running,
    mut acknowledged: Vec<(String, u64)>,
) {
    let client = &mut server.client;
    acknowledged.push(append_after_fault(client, &probe("s-0", 100)).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(read_back(client).await, acknowledged);
    server.shutdown.trigger();
    server.task.await.unwrap().unwrap();
}

const BIG: usize = 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_appends_keeps_reads_and_recovers_when_space_returns() {
    let faults = Arc::new(Faults::default());
    let mut server = start(Arc::clone(&faults)).await;
    let client = &mut server.client;
    let mut acknowledged = Vec::new();
    for i in 0..5 {
        acknowledged.push(append(client, probe(&format!("s-{i}"), 100)).await);
    }

    faults.full.store(true, Ordering::SeqCst);
    // An event of a megabyte cannot fit in the file as it is: the file must grow, and cannot.
    for _ in 0..3 {
        let refused = client.append(probe("big", BIG)).await.unwrap_err();
        assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
        assert!(
            refused.message().contains("disk is full"),
            "{}",
            refused.message()
        );
        // Reads keep working while the disk is full, and show every acknowledged append.
        assert_eq!(read_back(client).await, acknowledged);
        let head = client.head(HeadRequest {}).await.unwrap().into_inner();
        assert_eq!(head.position, 5);
    }

    // Space returns: writes resume where the chain ended.
    faults.full.store(false, Ordering::SeqCst);
    acknowledged.push(append_after_fault(client, &probe("big", BIG)).await);
    acknowledged.push(append(client, probe("s-0", 100)).await);
    assert_eq!(acknowledged[5].1, 6);
    assert_eq!(read_back(client).await, acknowledged);

    server.shutdown.trigger();
    server.task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_io_error_refuses_appends_as_unavailable_and_writes_resume_when_it_clears() {
    let faults = Arc::new(Faults::default());
    let mut server = start(Arc::clone(&faults)).await;
    let client = &mut server.client;
    let mut acknowledged = Vec::new();
    for i in 0..3 {
        acknowledged.push(append(client, probe(&format!("s-{i}"), 100)).await);
    }

    faults.io.store(true, Ordering::SeqCst);
    for _ in 0..3 {
        let refused = client.append(probe("s-0", 100)).await.unwrap_err();
        assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
        assert!(
            refused.message().contains("retry later"),
            "{}",
            refused.message()
        );
        // The log cannot be reopened for writes, but reads answer with every acknowledged event.
        assert_eq!(read_back(client).await, acknowledged);
    }

    faults.io.store(false, Ordering::SeqCst);
    acknowledged.push(append_after_fault(client, &probe("s-0", 100)).await);
    assert_eq!(acknowledged[3].1, 4);
    assert_eq!(read_back(client).await, acknowledged);

    server.shutdown.trigger();
    server.task.await.unwrap().unwrap();
}

/// A full disk on a file system that allocates a block at its first write (as ext4 does for
/// a file grown by `set_len`), met while commits and checkpoints (every 100 ms) run: each
/// append is acknowledged or refused as RESOURCE_EXHAUSTED, reads keep answering with
/// everything acknowledged, and once space returns every acknowledged event is in the chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_that_allocates_blocks_at_first_write_loses_nothing_and_keeps_reads() {
    let faults = Arc::new(Faults::default());
    faults.sparse.store(true, Ordering::SeqCst);
    let mut server = start_with(Arc::clone(&faults), Duration::from_millis(100)).await;
    let client = &mut server.client;
    let mut acknowledged = Vec::new();
    for i in 0..40 {
        acknowledged.push(append(client, probe(&format!("s-{i}"), 20_000)).await);
    }
    faults.full.store(true, Ordering::SeqCst);
    let mut refused = 0;
    for i in 0..20 {
        let request = probe(&format!("t-{i}"), 300_000);
        if append_while_full(client, request, &mut acknowledged).await {
            refused += 1;
        }
        // Reads keep working while the disk is full, and show every acknowledged append.
        let head = client.head(HeadRequest {}).await.unwrap().into_inner();
        assert_eq!(head.position, acknowledged.last().unwrap().1);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refused > 0, "the disk filled up");
    assert!(faults.refused.load(Ordering::SeqCst) > 0);
    assert_eq!(read_back(client).await, acknowledged);

    faults.full.store(false, Ordering::SeqCst);
    resumes_with_everything_and_stops(server, acknowledged).await;
}

/// A full disk met by a checkpoint rather than by an append: the log file's flush fails for want
/// of space while the journal's still works (a file system that allocates blocks only at
/// writeback), so every checkpoint (here every 100 ms) fails. redb refuses every operation on a
/// file after a failed flush and must flush to open it again, so until space returns appends are
/// refused and the log is read through a read-only view (docs/RELIABILITY.md): reads answer with
/// every acknowledged event; nothing acknowledged is lost, and once space returns appends,
/// checkpoints and reads resume with every acknowledged event in the chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_that_cannot_flush_loses_nothing_and_the_log_resumes_when_space_returns() {
    let faults = Arc::new(Faults::default());
    let mut server = start_with(Arc::clone(&faults), Duration::from_millis(100)).await;
    let client = &mut server.client;
    let mut acknowledged = Vec::new();
    for i in 0..5 {
        acknowledged.push(append(client, probe(&format!("s-{i}"), 1_000)).await);
    }
    faults.log_flush_full.store(true, Ordering::SeqCst);
    let mut refused = 0;
    for i in 0..10 {
        if append_while_full(client, probe(&format!("t-{i}"), 10_000), &mut acknowledged).await {
            refused += 1;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
        // Reads answer with every acknowledged append, and the chain verifies.
        assert_eq!(read_back(client).await, acknowledged);
        // The head, kept in memory, always answers: the last acknowledged append.
        let head = client.head(HeadRequest {}).await.unwrap().into_inner();
        assert_eq!(head.position, acknowledged.last().unwrap().1);
    }
    assert!(
        faults.flushes_refused.load(Ordering::SeqCst) > 0,
        "a checkpoint met the full disk"
    );
    // Appends were refused from the first one after the failed checkpoint on: the reads above
    // went through the read-only view.
    assert!(refused >= 5, "{refused} appends refused");

    // Space returns: an append reopens the log (after the back-off) and is written.
    faults.log_flush_full.store(false, Ordering::SeqCst);
    resumes_with_everything_and_stops(server, acknowledged).await;
}
