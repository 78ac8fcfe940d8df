//! Tails the log and keeps every projection's views and checkpoint moving together.
//!
//! Each projection has a redb file of its own (`<dir>/<projection>.redb`) holding its tables and
//! its checkpoint, and a thread of its own (a *view worker*) that alone writes that file. The
//! runner task subscribes to the log from the lowest checkpoint, gathers whatever events are
//! ready into a batch (up to [`MAX_BATCH`]; while it replays history, up to [`CATCH_UP_BATCH`],
//! waiting for the history to fill it) and hands the batch to every worker. A worker applies
//! the events above its checkpoint in one transaction of its file that also writes its new
//! checkpoint, then publishes the checkpoint on its watch channel (queries wait on it for
//! read-your-writes). The workers run side by side and apart: each has up to
//! [`WORKER_QUEUE`] batches waiting, so a fast view never waits for a slow one batch by batch,
//! and the log is read ahead of them all. A worker applies a batch only if it continues its
//! checkpoint with no gap; after a failure the runner resubscribes from the lowest checkpoint.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};
use redb::{Database, Durability, ReadableDatabase};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::store::{CHECKPOINTS, Shape, ViewRead, ViewWrite, check_shape, read_checkpoint};
use super::{Projection, ProjectionError};
use crate::log::{
    EventStore, Filter, RecordedEvent, SubscribeFrom, Subscription, SubscriptionItem,
};
use crate::reopen::Reopenable;

/// Most events applied in one view transaction once the views follow the live log.
pub const MAX_BATCH: usize = 1024;
/// Most events applied in one view transaction while the runner catches up with the log's
/// history (after a start behind the head, or a rebuild): the batch waits for the history to
/// fill it instead of taking only what the feed has ready, so a catch-up costs one commit per
/// this many events, not one per feed buffer.
pub const CATCH_UP_BATCH: usize = 8192;
/// Events the runner reads ahead of the batch it is applying: the log is read and decoded on
/// one core while the views fold the previous batch on the other.
const READ_AHEAD: usize = 2 * CATCH_UP_BATCH;
/// Batches a view worker may have waiting besides the one it applies: a view this many batches
/// ahead of the slowest holds the runner back.
pub const WORKER_QUEUE: usize = 2;
/// Bytes of redb's page cache for each projection's view file (its default is 1 GiB; see
/// `LOG_CACHE_BYTES` of the log).
pub const VIEW_CACHE_BYTES: usize = 32 * 1024 * 1024;
/// The file name extension of a projection's view file (`<projection>.redb`).
pub const VIEW_FILE_EXTENSION: &str = "redb";
/// How often the close of a replaced view file checks whether queries still read it.
const CLOSE_POLL: Duration = Duration::from_millis(50);
/// Pause before resubscribing after a failure.
const RETRY_PAUSE: Duration = Duration::from_millis(200);
/// Longest time between two durable commits of a view file. The commits in between are made
/// without an fsync (`Durability::None`): the views are derived from the log and keep their
/// checkpoint in the same transaction, so a crash only takes a view back to its last durable
/// commit, from where the fold replays the log; a clean close makes the last commit durable.
/// Without this every log commit would cost the disk a second flush, for the views.
const DURABLE_EVERY: Duration = Duration::from_secs(1);

/// How far a projection is behind the log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lag {
    /// The projection.
    pub projection: String,
    /// The last position it applied.
    pub checkpoint: u64,
    /// The log's head.
    pub head: u64,
    /// `head - checkpoint`.
    pub behind_positions: u64,
    /// Seconds since the projection was last level with the head (0 when level).
    pub behind_seconds: f64,
}

/// One projection's view file.
struct ViewFile {
    /// Where it lives.
    path: PathBuf,
    /// The shape of the projection's documents ([`Projection::version`]).
    version: u32,
    /// The open file. A rebuild puts a fresh file in its place; a reader that holds the old
    /// one keeps its snapshot, and the old file is closed when the last such reader ends. A
    /// failed write (a full disk) has the next one reopen it; until then queries read it
    /// through a read-only view (`crate::reopen`).
    db: Reopenable,
    /// When it was last committed durably.
    durable_at: Mutex<Instant>,
}

impl ViewFile {
    /// The file as it is now, for a query.
    fn current(&self) -> Result<Arc<Database>, ProjectionError> {
        self.db
            .read()
            .map_err(|e| ProjectionError::Storage(e.to_string()))
    }
}

struct Shared {
    files: BTreeMap<&'static str, ViewFile>,
    progress: BTreeMap<&'static str, watch::Sender<u64>>,
    /// When each projection was last seen level with the head.
    level_at: Mutex<BTreeMap<&'static str, Instant>>,
}

struct RebuildRequest {
    projection: &'static str,
    done: oneshot::Sender<Result<(), ProjectionError>>,
}

/// The query side of the views: snapshots, read-your-writes waits, lag and rebuilds.
#[derive(Clone)]
pub struct Views {
    shared: Arc<Shared>,
    store: Arc<dyn EventStore>,
    rebuilds: mpsc::Sender<RebuildRequest>,
}

impl Views {
    /// A snapshot of every view: each projection's documents as of its own checkpoint.
    pub fn read(&self) -> Result<ViewRead, ProjectionError> {
        let files = self
            .shared
            .files
            .iter()
            .map(|(name, file)| Ok((*name, file.current()?)))
            .collect::<Result<Vec<_>, ProjectionError>>()?;
        ViewRead::begin(files)
    }

    /// The names of the projections, in order.
    pub fn projections(&self) -> Vec<&'static str> {
        self.shared.progress.keys().copied().collect()
    }

    fn name(&self, projection: &str) -> Result<&'static str, ProjectionError> {
        self.shared
            .progress
            .keys()
            .find(|name| **name == projection)
            .copied()
            .ok_or_else(|| ProjectionError::UnknownProjection(projection.to_string()))
    }

    /// The last position a projection has applied.
    pub fn checkpoint(&self, projection: &str) -> Result<u64, ProjectionError> {
        let name = self.name(projection)?;
        Ok(self
            .shared
            .progress
            .get(name)
            .map_or(0, |sender| *sender.borrow()))
    }

    /// Waits until `projection` has applied `min_position`, or `timeout` passes.
    pub async fn wait_for(
        &self,
        projection: &str,
        min_position: u64,
        timeout: Duration,
    ) -> Result<(), ProjectionError> {
        let name = self.name(projection)?;
        let Some(sender) = self.shared.progress.get(name) else {
            return Err(ProjectionError::UnknownProjection(projection.to_string()));
        };
        let mut receiver = sender.subscribe();
        let reached = tokio::time::timeout(timeout, receiver.wait_for(|cp| *cp >= min_position))
            .await
            .map(|r| r.is_ok());
        match reached {
            Ok(true) => Ok(()),
            Ok(false) => Err(ProjectionError::Stopped),
            Err(_) => Err(ProjectionError::NotYetAt {
                projection: name.to_string(),
                reached: *sender.borrow(),
                wanted: min_position,
            }),
        }
    }

    /// How far each projection is behind the head.
    pub async fn lag(&self) -> Result<Vec<Lag>, ProjectionError> {
        let head = self
            .store
            .head()
            .await
            .map_err(|e| ProjectionError::Storage(e.to_string()))?
            .position;
        let level_at = self
            .shared
            .level_at
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default();
        Ok(self
            .shared
            .progress
            .iter()
            .map(|(name, sender)| {
                let checkpoint = *sender.borrow();
                let behind_positions = head.saturating_sub(checkpoint);
                let behind_seconds = if behind_positions == 0 {
                    0.0
                } else {
                    level_at
                        .get(name)
                        .map_or(0.0, |at| at.elapsed().as_secs_f64())
                };
                Lag {
                    projection: name.to_string(),
                    checkpoint,
                    head,
                    behind_positions,
                    behind_seconds,
                }
            })
            .collect())
    }

    /// Drops a projection's views and starts refolding it from position 0. Returns a receiver
    /// of its checkpoint, to report progress against the head.
    pub async fn rebuild(&self, projection: &str) -> Result<watch::Receiver<u64>, ProjectionError> {
        let name = self.name(projection)?;
        let (done, reply) = oneshot::channel();
        self.rebuilds
            .send(RebuildRequest {
                projection: name,
                done,
            })
            .await
            .map_err(|_| ProjectionError::Stopped)?;
        reply.await.map_err(|_| ProjectionError::Stopped)??;
        self.shared
            .progress
            .get(name)
            .map(watch::Sender::subscribe)
            .ok_or_else(|| ProjectionError::UnknownProjection(projection.to_string()))
    }
}

/// What the runner hands a view worker, in log order.
enum Work {
    /// Events to apply above the view's checkpoint; `level`: the position the feed had reached
    /// when the batch was cut, if the views are level with the log once it is applied.
    Batch {
        events: Arc<[Arc<RecordedEvent>]>,
        level: Option<u64>,
    },
    /// Put an empty file (checkpoint 0) in place of the view's ([`ViewWorker::drop_views`]).
    Drop {
        done: oneshot::Sender<Result<(), ProjectionError>>,
    },
}

/// The runner's end of one view worker.
struct Worker {
    projection: &'static str,
    work: mpsc::Sender<Work>,
    thread: std::thread::JoinHandle<()>,
}

/// Starts and owns the projection task.
pub struct ProjectionRunner {
    shared: Arc<Shared>,
    store: Arc<dyn EventStore>,
    workers: Vec<Worker>,
    /// Why a worker failed to apply a batch (the runner then resubscribes).
    failures: mpsc::UnboundedReceiver<String>,
    rebuilds: mpsc::Receiver<RebuildRequest>,
    cancel: CancellationToken,
}

impl ProjectionRunner {
    /// Opens (or creates) the view file of each projection in the directory `dir`
    /// (`<projection>.redb`) and starts folding the log into them. The task ends when `cancel`
    /// fires.
    pub fn start(
        dir: &Path,
        store: Arc<dyn EventStore>,
        projections: Vec<Arc<dyn Projection>>,
        cancel: CancellationToken,
    ) -> Result<(Views, JoinHandle<()>), ProjectionError> {
        std::fs::create_dir_all(dir).map_err(|e| ProjectionError::Open {
            path: dir.to_path_buf(),
            detail: e.to_string(),
        })?;
        let mut files = BTreeMap::new();
        let mut progress = BTreeMap::new();
        for projection in &projections {
            let name = projection.name();
            let path = view_file_path(dir, name);
            // Left by a rebuild that stopped before its fresh file took the view's place.
            remove_if_present(&fresh_file_path(&path))?;
            let version = projection.version();
            let (db, checkpoint) = open_view_file(&path, name, version)?;
            files.insert(
                name,
                ViewFile {
                    db: Reopenable::new(&path, db, VIEW_CACHE_BYTES),
                    path,
                    version,
                    durable_at: Mutex::new(Instant::now()),
                },
            );
            progress.insert(name, watch::Sender::new(checkpoint));
        }
        let shared = Arc::new(Shared {
            files,
            progress,
            level_at: Mutex::new(BTreeMap::new()),
        });
        let (failed, failures) = mpsc::unbounded_channel();
        let mut workers = Vec::with_capacity(projections.len());
        for projection in projections {
            let name = projection.name();
            let (work, queue) = mpsc::channel(WORKER_QUEUE);
            let worker = ViewWorker {
                shared: Arc::clone(&shared),
                projection,
                failed: failed.clone(),
                cancel: cancel.clone(),
            };
            let thread = std::thread::Builder::new()
                .name(format!("view-{name}"))
                .spawn(move || worker.run(queue))
                .map_err(|e| {
                    ProjectionError::Storage(format!("cannot start the view worker of {name}: {e}"))
                })?;
            workers.push(Worker {
                projection: name,
                work,
                thread,
            });
        }
        let (rebuild_sender, rebuilds) = mpsc::channel(8);
        let views = Views {
            shared: Arc::clone(&shared),
            store: Arc::clone(&store),
            rebuilds: rebuild_sender,
        };
        let runner = ProjectionRunner {
            shared,
            store,
            workers,
            failures,
            rebuilds,
            cancel,
        };
        Ok((views, tokio::spawn(runner.run())))
    }

    fn lowest_checkpoint(&self) -> u64 {
        self.shared
            .progress
            .values()
            .map(|sender| *sender.borrow())
            .min()
            .unwrap_or(0)
    }

    async fn run(mut self) {
        self.follow().await;
        // Each worker finishes the batch in hand and closes its file (a clean close makes its
        // last commit durable) before the task ends.
        let threads: Vec<_> = self.workers.drain(..).map(|worker| worker.thread).collect();
        let joined = tokio::task::spawn_blocking(move || {
            for thread in threads {
                if thread.join().is_err() {
                    tracing::error!("a view worker panicked");
                }
            }
        })
        .await;
        if let Err(e) = joined {
            tracing::error!(error = %e, "waiting for the view workers failed");
        }
    }

    /// Follows the log until `cancel` fires.
    async fn follow(&mut self) {
        loop {
            if self.cancel.is_cancelled() {
                return;
            }
            // A failure reported before this subscription is answered by it.
            while self.failures.try_recv().is_ok() {}
            let from = self.lowest_checkpoint() + 1;
            let mut subscription = read_ahead(
                self.store
                    .subscribe(SubscribeFrom::Position(from), Filter::default()),
                READ_AHEAD,
            );
            // Until the feed says `CaughtUp`, it is replaying history.
            let mut catching_up = true;
            loop {
                tokio::select! {
                    _ = self.cancel.cancelled() => return,
                    Some(request) = self.rebuilds.recv() => {
                        let result = self.drop_views(request.projection).await;
                        let _ = request.done.send(result);
                        break;
                    }
                    Some(reason) = self.failures.recv() => {
                        if !self.cancel.is_cancelled() {
                            tracing::warn!(%reason, "view runner resubscribing");
                            tokio::time::sleep(RETRY_PAUSE).await;
                        }
                        break;
                    }
                    item = subscription.next() => {
                        let mut batch = Vec::new();
                        let mut level_with = None;
                        let mut failure = None;
                        let limit = if catching_up { CATCH_UP_BATCH } else { MAX_BATCH };
                        let mut next = Some(item);
                        while let Some(item) = next.take() {
                            match item {
                                Some(Ok(SubscriptionItem::Event(event))) => batch.push(event),
                                Some(Ok(SubscriptionItem::CaughtUp { head })) => {
                                    level_with = Some(head);
                                    catching_up = false;
                                }
                                Some(Err(e)) => failure = Some(e.to_string()),
                                None => failure = Some("subscription ended".to_string()),
                            }
                            if failure.is_none() && batch.len() < limit {
                                next = subscription.next().now_or_never();
                                if next.is_none() && catching_up {
                                    // History is still coming: wait for it to fill the batch.
                                    next = tokio::select! {
                                        _ = self.cancel.cancelled() => None,
                                        item = subscription.next() => Some(item),
                                    };
                                }
                            }
                        }
                        // The batch ended because the feed had nothing more ready (not because it
                        // was full): once applied, the views are level with the live head. (The
                        // feed says `CaughtUp` only once, after the history.)
                        let drained = failure.is_none() && batch.len() < limit && !catching_up;
                        let level = level_with.or_else(|| {
                            batch.last().map(|event| event.position).filter(|_| drained)
                        });
                        if (!batch.is_empty() || level.is_some())
                            && let Err(e) = self.dispatch(batch, level).await
                        {
                            failure = Some(e.to_string());
                        }
                        if let Some(reason) = failure {
                            if !self.cancel.is_cancelled() {
                                tracing::warn!(%reason, "view runner resubscribing");
                                tokio::time::sleep(RETRY_PAUSE).await;
                            }
                            break;
                        }
                    }
                }
            }
        }
    }

    /// Has the worker of `projection` drop its views (after the batches it already holds).
    async fn drop_views(&self, projection: &'static str) -> Result<(), ProjectionError> {
        let worker = self
            .workers
            .iter()
            .find(|worker| worker.projection == projection)
            .ok_or_else(|| ProjectionError::UnknownProjection(projection.to_string()))?;
        let (done, dropped) = oneshot::channel();
        worker
            .work
            .send(Work::Drop { done })
            .await
            .map_err(|_| ProjectionError::Stopped)?;
        dropped.await.map_err(|_| ProjectionError::Stopped)?
    }

    /// Hands a batch to every worker, waiting while one has [`WORKER_QUEUE`] batches waiting
    /// already (or until `cancel` fires).
    async fn dispatch(
        &self,
        batch: Vec<Arc<RecordedEvent>>,
        level: Option<u64>,
    ) -> Result<(), ProjectionError> {
        let events: Arc<[Arc<RecordedEvent>]> = batch.into();
        for worker in &self.workers {
            let work = Work::Batch {
                events: Arc::clone(&events),
                level,
            };
            tokio::select! {
                _ = self.cancel.cancelled() => return Ok(()),
                sent = worker.work.send(work) => {
                    sent.map_err(|_| {
                        ProjectionError::Storage(format!(
                            "the view worker of {} has stopped",
                            worker.projection
                        ))
                    })?;
                }
            }
        }
        Ok(())
    }
}

/// One projection's worker: applies the batches the runner hands it to the projection's file,
/// in order, on a thread of its own.
struct ViewWorker {
    shared: Arc<Shared>,
    projection: Arc<dyn Projection>,
    failed: mpsc::UnboundedSender<String>,
    cancel: CancellationToken,
}

impl ViewWorker {
    fn run(self, mut queue: mpsc::Receiver<Work>) {
        let name = self.projection.name();
        let Some(file) = self.shared.files.get(name) else {
            let _ = self.failed.send(format!("no view file for {name}"));
            return;
        };
        while let Some(work) = queue.blocking_recv() {
            if self.cancel.is_cancelled() {
                return;
            }
            match work {
                Work::Batch { events, level } => {
                    let started = Instant::now();
                    // A view already past the batch (the others, while one is rebuilt) has
                    // nothing to do with it.
                    let checkpoint = self.progress().map_or(0, |sender| *sender.borrow());
                    let behind = events
                        .last()
                        .is_some_and(|event| event.position > checkpoint);
                    let applied = if behind {
                        match self.writable(file, checkpoint) {
                            Ok(Some(db)) => std::panic::catch_unwind(AssertUnwindSafe(|| {
                                apply_to(file, &db, self.projection.as_ref(), checkpoint, &events)
                            }))
                            .unwrap_or_else(|_| {
                                Err(ProjectionError::Storage("a view fold panicked".to_string()))
                            }),
                            // Reopened behind the batch: the runner resubscribes from there.
                            Ok(None) => continue,
                            Err(e) => Err(e),
                        }
                    } else {
                        Ok(None)
                    };
                    match applied {
                        Ok(reached) => {
                            if let Some(last) = reached {
                                self.publish(last);
                                tracing::debug!(
                                    projection = name,
                                    events = events.len(),
                                    micros = started.elapsed().as_micros() as u64,
                                    "view updated"
                                );
                            }
                            if let Some(level) = level {
                                self.mark_level(level);
                            }
                        }
                        Err(e) => {
                            // A failed write leaves redb refusing the file until it is reopened:
                            // the next batch reopens it first.
                            file.db.failed();
                            tracing::error!(projection = name, error = %e,
                                "applying a batch to a view failed; retrying");
                            let _ = self.failed.send(format!("{name}: {e}"));
                        }
                    }
                }
                Work::Drop { done } => {
                    let _ = done.send(self.drop_views(file));
                }
            }
        }
    }

    /// The view file open for a write, reopened first if a write failed. A reopened file holds
    /// what its last durable commit held, which may be behind `checkpoint` (the commits since
    /// were not flushed): its checkpoint is then published and the runner is told to resubscribe
    /// from it (`None`).
    fn writable(
        &self,
        file: &ViewFile,
        checkpoint: u64,
    ) -> Result<Option<Arc<Database>>, ProjectionError> {
        let (db, reopened) = file
            .db
            .write()
            .map_err(|e| ProjectionError::Storage(e.to_string()))?;
        if !reopened {
            return Ok(Some(db));
        }
        let name = self.projection.name();
        let txn = db.begin_read()?;
        let reached = read_checkpoint(&txn, name)?;
        drop(txn);
        if let Ok(mut at) = file.durable_at.lock() {
            *at = Instant::now();
        }
        if reached == checkpoint {
            return Ok(Some(db));
        }
        self.publish(reached);
        tracing::warn!(
            projection = name,
            from = checkpoint,
            to = reached,
            "view file reopened at its last durable commit; folding again from there"
        );
        let _ = self
            .failed
            .send(format!("{name}: reopened at position {reached}"));
        Ok(None)
    }

    fn progress(&self) -> Option<&watch::Sender<u64>> {
        self.shared.progress.get(self.projection.name())
    }

    fn publish(&self, checkpoint: u64) {
        if let Some(sender) = self.progress() {
            sender.send_replace(checkpoint);
        }
    }

    /// Records that the view is level with the log, if it has applied `head`.
    fn mark_level(&self, head: u64) {
        let level = self
            .progress()
            .is_some_and(|sender| *sender.borrow() >= head);
        if level && let Ok(mut level_at) = self.shared.level_at.lock() {
            level_at.insert(self.projection.name(), Instant::now());
        }
    }

    /// Puts an empty view file (checkpoint 0) in place of the view's file: made next to it,
    /// then renamed over it, so a crash leaves either the old file or the empty one. (Dropping
    /// the tables inside the file instead costs a walk over every page of them.)
    fn drop_views(&self, file: &ViewFile) -> Result<(), ProjectionError> {
        let projection = self.projection.name();
        let started = Instant::now();
        let fresh = put_empty_file(&file.path, projection, file.version)?;
        if let Some(old) = file.db.replace(fresh) {
            // The old file is closed on a thread of its own, once the queries that still read a
            // snapshot of it are done: redb's close writes to the file (a commit), which is of
            // no use once it is unlinked, and would hold up the refold or a query's thread.
            // (Should no thread start, the refused closure drops it here.)
            let _ = std::thread::Builder::new()
                .name(format!("view-close-{projection}"))
                .spawn(move || {
                    let mut old = old;
                    loop {
                        match Arc::try_unwrap(old) {
                            Ok(db) => {
                                drop(db);
                                return;
                            }
                            Err(still_read) => {
                                old = still_read;
                                std::thread::sleep(CLOSE_POLL);
                            }
                        }
                    }
                });
        }
        self.publish(0);
        tracing::info!(
            projection,
            millis = started.elapsed().as_millis() as u64,
            "view dropped; rebuilding from position 0"
        );
        Ok(())
    }
}

/// Forwards `subscription` through a buffer of `depth` items, filled by a task of its own, so
/// that the log is read while the consumer is busy with what it took before. The task ends
/// when the returned stream is dropped or the subscription ends.
fn read_ahead(mut subscription: Subscription, depth: usize) -> Subscription {
    let (tx, rx) = mpsc::channel(depth.max(1));
    tokio::spawn(async move {
        loop {
            let item = tokio::select! {
                () = tx.closed() => return,
                item = subscription.next() => item,
            };
            let Some(item) = item else { return };
            if tx.send(item).await.is_err() {
                return;
            }
        }
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}

/// Folds `batch` into one projection's views in `txn`, from above `checkpoint`; returns the
/// last position it applied and whether it changed any document, or nothing if the batch holds
/// nothing above `checkpoint` or does not continue it.
fn fold(
    txn: &redb::WriteTransaction,
    projection: &dyn Projection,
    checkpoint: u64,
    batch: &[Arc<RecordedEvent>],
) -> Result<Option<(u64, bool)>, ProjectionError> {
    let name = projection.name();
    let mut events = batch
        .iter()
        .filter(|event| event.position > checkpoint)
        .peekable();
    match events.peek() {
        None => return Ok(None),
        // The view must see every position in order. A batch that starts past the next one
        // was cut after a failure of this view (the runner resubscribes from its checkpoint).
        Some(first) if first.position != checkpoint + 1 => {
            tracing::debug!(
                projection = name,
                checkpoint,
                first = first.position,
                "batch skipped: it does not continue the view"
            );
            return Ok(None);
        }
        Some(_) => {}
    }
    let mut view = ViewWrite::new(txn, name);
    let mut last = checkpoint;
    for event in events {
        match projection.apply(&mut view, event) {
            Ok(()) => {}
            Err(ProjectionError::Decode { what, detail }) => {
                // A payload this version cannot read must not stall every view behind it; the
                // skip is logged with its position so it can be investigated and the view
                // rebuilt once fixed.
                tracing::error!(projection = name, position = event.position, %what, %detail,
                    "event skipped by view");
            }
            Err(e) => return Err(e),
        }
        last = event.position;
    }
    let changed = view.has_changes();
    view.flush()?;
    Ok(Some((last, changed)))
}

/// Applies `batch` to one projection, above `checkpoint` (the last position it applied), in one
/// transaction of its file that writes the new checkpoint as well; returns that checkpoint, if
/// the batch moved it. A batch that changes no document of the view (most of them, for a view
/// that folds few kinds of events) is not committed, unless a durable commit is due: the
/// checkpoint in the file may then stay behind the one published, by events that a fold after
/// a restart replays to the same (unchanged) documents.
fn apply_to(
    file: &ViewFile,
    db: &Database,
    projection: &dyn Projection,
    checkpoint: u64,
    batch: &[Arc<RecordedEvent>],
) -> Result<Option<u64>, ProjectionError> {
    let durable = file
        .durable_at
        .lock()
        .map_or(true, |at| at.elapsed() >= DURABLE_EVERY);
    let mut txn = db.begin_write()?;
    txn.set_durability(if durable {
        Durability::Immediate
    } else {
        Durability::None
    })
    .map_err(|e| ProjectionError::Storage(e.to_string()))?;
    let Some((last, changed)) = fold(&txn, projection, checkpoint, batch)? else {
        return Ok(None);
    };
    if !changed && !durable {
        // Nothing to write: the transaction is dropped unused.
        return Ok(Some(last));
    }
    txn.open_table(CHECKPOINTS)?
        .insert(projection.name(), last)?;
    txn.commit()?;
    if durable && let Ok(mut at) = file.durable_at.lock() {
        *at = Instant::now();
    }
    Ok(Some(last))
}

/// Where the view file of `projection` lives in the views directory `dir`.
pub fn view_file_path(dir: &Path, projection: &str) -> PathBuf {
    dir.join(format!("{projection}.{VIEW_FILE_EXTENSION}"))
}

/// Where a rebuild makes the empty file that then takes the place of the view file at `path`.
fn fresh_file_path(path: &Path) -> PathBuf {
    path.with_extension(format!("{VIEW_FILE_EXTENSION}.new"))
}

/// Removes the file at `path`, if there is one.
fn remove_if_present(path: &Path) -> Result<(), ProjectionError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ProjectionError::Open {
            path: path.to_path_buf(),
            detail: format!("cannot remove it: {e}"),
        }),
    }
}

/// Makes an empty view file of `projection` at `version` (checkpoint 0) next to the one at
/// `path` and renames it over it, so a crash leaves either the old file or the empty one, and
/// returns it open. (Dropping the tables inside the file instead costs a walk over every page of
/// them.)
fn put_empty_file(
    path: &Path,
    projection: &'static str,
    version: u32,
) -> Result<Database, ProjectionError> {
    let fresh_path = fresh_file_path(path);
    remove_if_present(&fresh_path)?;
    let (fresh, _) = open_view_file(&fresh_path, projection, version)?;
    let renamed = std::fs::rename(&fresh_path, path).and_then(|()| match path.parent() {
        // The rename itself made durable, so a crash does not bring the old views back.
        Some(dir) => std::fs::File::open(dir).and_then(|dir| dir.sync_all()),
        None => Ok(()),
    });
    if let Err(e) = renamed {
        drop(fresh);
        let _ = std::fs::remove_file(&fresh_path);
        return Err(ProjectionError::Open {
            path: path.to_path_buf(),
            detail: format!("cannot put an empty view file in its place: {e}"),
        });
    }
    Ok(fresh)
}

/// Opens (or creates) one projection's view file, puts an empty one in its place if its views
/// were folded in another shape ([`Projection::version`]), and returns it with its checkpoint.
fn open_view_file(
    path: &Path,
    projection: &'static str,
    version: u32,
) -> Result<(Database, u64), ProjectionError> {
    let open_error = |detail: String| ProjectionError::Open {
        path: path.to_path_buf(),
        detail,
    };
    // Checked page by page on open (see `RedbStore::open`); the views are derived data, so
    // the remedy for a damaged file is to delete it and let the fold rebuild it.
    let db = redb::Builder::new()
        .set_check_integrity_on_open(true)
        .set_cache_size(VIEW_CACHE_BYTES)
        .create(path)
        .map_err(|e| {
            let damaged = match &e {
                redb::DatabaseError::Storage(redb::StorageError::Corrupted(_)) => true,
                redb::DatabaseError::Storage(redb::StorageError::Io(io)) => matches!(
                    io.kind(),
                    std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData
                ),
                _ => false,
            };
            if damaged {
                open_error(format!(
                    "the file is damaged ({e}); delete it and start again: the view is \
                     rebuilt from the log"
                ))
            } else {
                open_error(e.to_string())
            }
        })?;
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)
        .map_err(|e| ProjectionError::Storage(e.to_string()))?;
    match check_shape(&txn, projection, version)? {
        // Nothing written: no commit (and no flush) at every start.
        Shape::Current => txn.abort()?,
        Shape::Recorded => txn.commit()?,
        Shape::Other { found } => {
            txn.abort()?;
            drop(db);
            let started = Instant::now();
            let db = put_empty_file(path, projection, version)?;
            tracing::info!(
                projection,
                found,
                version,
                millis = started.elapsed().as_millis() as u64,
                "view folded at another version; rebuilding it from position 0"
            );
            return Ok((db, 0));
        }
    }
    let txn = db.begin_read().map_err(|e| open_error(e.to_string()))?;
    let checkpoint = read_checkpoint(&txn, projection)?;
    drop(txn);
    Ok((db, checkpoint))
}
