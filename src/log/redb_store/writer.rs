//! The writer: the one thread that owns the write side of the log (group commit).
//!
//! It blocks for the first queued append, drains whatever else is queued (up to
//! `max_batch_events`) and makes all of them in ONE redb write transaction, so N concurrent
//! clients share one flush. Each request is checked on its own inside that transaction, seeing
//! the requests before it in the batch; all checks of a request happen before anything of it is
//! written, so a rejected request writes nothing and never fails its neighbours.
//!
//! The batch is made durable by its frame in the journal (`journal.rs`: one write and one
//! `sync_data`), written before the redb transaction commits with `Durability::None`; replies go
//! out only after both. Every so often the writer checkpoints: one `Durability::Immediate`
//! commit makes redb's state durable and the journal starts over. A clean stop checkpoints too.

use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use redb::{Database, Durability, ReadableDatabase, ReadableTable, Table};
use tokio::sync::oneshot;
use tracing::{debug, error, info, warn};
use uuid::Uuid;

use super::journal::{FrameBuilder, Journal};
use super::read::peek;
use super::tree::{self, MERKLE};
use super::{
    CHECKPOINTS, EVENT_IDS, EVENTS, Job, KEY_ROTATIONS, LiveBatch, META, META_HEAD, Pending,
    STREAM_INDEX, Shared, decode_head, encode_head, last_revision,
};
use crate::log::codec::{GENESIS_HASH, HASH_LEN, Unplaced, chain_hash};
use crate::log::merkle::Frontier;
use crate::log::{
    AppendError, AppendOutcome, AppendRequest, Direction, Filter, Head, OpenError, ReadAll,
    RecordedEvent, StoredCheckpoint, StreamAppended,
};
use crate::reopen::is_out_of_space;

type Reply = oneshot::Sender<Result<AppendOutcome, AppendError>>;
type Outcome = Result<AppendOutcome, AppendError>;

/// Runs until every sender of the queue is gone and the queue is empty.
pub(super) fn run(shared: Arc<Shared>, queue: mpsc::Receiver<Job>, mut head: Head) {
    let max_events = shared.options.max_batch_events.max(1);
    let mut checkpoints = Vec::new();
    while let Ok(first) = queue.recv() {
        let first = match first {
            Job::Append(pending) => pending,
            Job::Checkpoint { checkpoint, reply } => {
                let _ = reply.send(put_checkpoint(&shared, &checkpoint));
                continue;
            }
        };
        let mut events = first.request.event_count();
        let mut batch = vec![first];
        while events < max_events {
            match queue.try_recv() {
                Ok(Job::Append(next)) => {
                    events += next.request.event_count();
                    batch.push(next);
                }
                // Kept after the batch, which is what it may have been signed over.
                Ok(Job::Checkpoint { checkpoint, reply }) => checkpoints.push((checkpoint, reply)),
                Err(_) => break,
            }
        }
        commit_batch(&shared, &mut head, batch, events);
        for (checkpoint, reply) in checkpoints.drain(..) {
            let _ = reply.send(put_checkpoint(&shared, &checkpoint));
        }
    }
    checkpoint(&shared, &mut head);
    if let Some(path) = &shared.journal_file {
        let mut journal = super::lock(&shared.journal);
        if journal.as_ref().is_some_and(|j| j.pending_bytes() == 0) {
            // Everything is durable in the log file: the journal is not needed until the next
            // start (which makes a new one). Left behind, it would only be read and found empty.
            *journal = None;
            if let Err(e) = std::fs::remove_file(path) {
                debug!(error = %e, path = %path.display(), "the empty journal was not removed");
            }
        }
    }
    debug!("event-log writer stopped");
}

/// Makes every commit so far durable in the log file and starts the journal over, if the
/// journal holds anything. A failure leaves the journal as it is (it still holds every record
/// since the last checkpoint) and the database is reopened from it.
fn checkpoint(shared: &Shared, head: &mut Head) {
    let mut journal = super::lock(&shared.journal);
    let Some(j) = journal.as_mut() else {
        return;
    };
    if j.pending_bytes() == 0 {
        return;
    }
    let Some(db) = shared.current_db() else {
        return;
    };
    let started = Instant::now();
    let durable = (|| -> Result<(), redb::Error> {
        let mut txn = db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        {
            let mut meta = txn.open_table(META)?;
            meta.insert(META_HEAD, encode_head(head).as_slice())?;
        }
        txn.commit()?;
        Ok(())
    })();
    match durable {
        Ok(()) => {
            let pending = j.pending_bytes();
            if let Err(e) = j.reset() {
                // The records are durable in the log file; the journal is reopened (and what it
                // holds is found there already) before the next frame.
                warn!(error = %e, "the journal could not be started over after a checkpoint");
                *journal = None;
            }
            debug!(
                journal_bytes = pending,
                checkpoint_micros = started.elapsed().as_micros() as u64,
                "checkpoint"
            );
        }
        Err(e) => {
            error!(error = %e, "checkpoint failed; the journal keeps every record since the last one");
            drop(journal);
            drop(db);
            if let Err(e) = reopen(shared, head) {
                error!(error = %e, "the event log could not be reopened after a failed checkpoint");
            }
        }
    }
}

/// Why a whole batch failed.
enum BatchError {
    Full(String),
    Storage(String),
    /// Writing or flushing the batch's journal frame failed; `clean` if the frame was made
    /// unreadable again, so that the journal is as it was before.
    Journal {
        error: std::io::Error,
        clean: bool,
    },
}

impl BatchError {
    fn to_append_error(&self) -> AppendError {
        match self {
            BatchError::Full(m) => AppendError::StorageFull(m.clone()),
            BatchError::Storage(m) => AppendError::Storage(m.clone()),
            BatchError::Journal { error, .. } if is_out_of_space(error) => {
                AppendError::StorageFull(format!("writing the journal: {error}"))
            }
            BatchError::Journal { error, .. } => {
                AppendError::Storage(format!("writing the journal: {error}"))
            }
        }
    }
}

impl From<redb::Error> for BatchError {
    fn from(e: redb::Error) -> Self {
        let full = match &e {
            redb::Error::Io(io) => is_out_of_space(io),
            _ => false,
        };
        if full {
            BatchError::Full(e.to_string())
        } else {
            BatchError::Storage(e.to_string())
        }
    }
}

fn commit_batch(shared: &Shared, head: &mut Head, batch: Vec<Pending>, events: usize) {
    let started = Instant::now();
    let requests = batch.len();
    let mut replies: Vec<Reply> = Vec::with_capacity(requests);
    let mut work = Vec::with_capacity(requests);
    for pending in batch {
        replies.push(pending.reply);
        work.push(Work {
            request: pending.request,
            digests: pending.digests,
            encoded: pending.encoded,
        });
    }
    // A database closed by an earlier failure, or a journal left in doubt by one, is reopened
    // before anything is written.
    let ready = shared
        .current_db()
        .filter(|_| super::lock(&shared.journal).is_some());
    let db = match ready {
        Some(db) => db,
        None => match reopen_when_due(shared, head) {
            Ok(db) => db,
            Err(failure) => {
                warn!(requests, error = %failure, "append refused: the event log is still closed");
                for reply in replies {
                    let _ = reply.send(Err(copy(&failure)));
                }
                return;
            }
        },
    };
    let mut new_head = *head;
    let mut new_tree = shared.tree();
    let mut published = Vec::with_capacity(events);
    let result = {
        let mut journal = super::lock(&shared.journal);
        match journal.as_mut() {
            Some(j) => {
                let result =
                    write_batch(&db, j, (&mut new_head, &mut new_tree), work, &mut published);
                if let Err(BatchError::Journal { clean: false, .. }) = &result {
                    // The file may hold part of the frame: only a reopen can tell.
                    *journal = None;
                }
                result
            }
            None => Err(BatchError::Storage(
                "the journal closed while the batch was prepared".into(),
            )),
        }
    };
    if result.is_ok() && !published.is_empty() {
        // Only a batch with records commits (rejections and replays alone are aborted).
        shared.commits.fetch_add(1, Ordering::Relaxed);
    }
    match result {
        Ok(outcomes) => {
            *head = new_head;
            shared.set_head(new_head);
            shared.set_tree(new_tree);
            let written = published.len();
            if written > 0
                && let Some(observer) = shared.observer.get()
            {
                observer.batch_committed(written);
            }
            if !published.is_empty() {
                let batch: LiveBatch = published.into();
                // An error only means nobody is listening; writers never wait for subscribers.
                let _ = shared.live.send(batch);
            }
            debug!(
                requests,
                events = written,
                head = new_head.position,
                commit_micros = started.elapsed().as_micros() as u64,
                "committed batch"
            );
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                // The caller may have gone away; the append is durable either way.
                let _ = reply.send(outcome);
            }
            let due = super::lock(&shared.journal).as_ref().is_some_and(|j| {
                j.checkpoint_due(
                    shared.options.checkpoint_bytes,
                    shared.options.checkpoint_interval,
                )
            });
            if due {
                drop(db);
                checkpoint(shared, head);
            }
        }
        Err(e) => {
            let failure = e.to_append_error();
            error!(requests, error = %failure, "event-log batch failed; none of its appends was made");
            // A journal frame taken back cleanly left the log file untouched and the journal as
            // it was: no reopen (reads go on, e.g. while the disk is full). Otherwise redb
            // refuses everything after an I/O error until the database is reopened.
            if !matches!(e, BatchError::Journal { clean: true, .. }) {
                drop(db);
                if let Err(e) = reopen(shared, head) {
                    error!(
                        error = %e,
                        "the event log could not be reopened after the failure; appends fail \
                         until a later append reopens it"
                    );
                }
            }
            for reply in replies {
                let _ = reply.send(Err(e.to_append_error()));
            }
        }
    }
}

/// The same error again, for another waiting append.
fn copy(error: &AppendError) -> AppendError {
    match error {
        AppendError::StorageFull(m) => AppendError::StorageFull(m.clone()),
        other => AppendError::Storage(other.to_string()),
    }
}

/// Spaces out reopens while a fault lasts ([`crate::reopen::Backoff`]). A reopen reads the whole
/// log file (redb's repair after an unclean close, about a second for 600 MB) twice when it
/// fails — once to try, once for the read-only view — and reads wait while it runs; so appends
/// arriving soon after a failed reopen are refused with its error instead of trying again.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    waits: crate::reopen::Backoff,
    /// The last failure, repeated to the appends refused while the back-off lasts.
    last: Option<AppendError>,
}

/// [`reopen`], unless a failed one was tried too recently: then its error.
fn reopen_when_due(shared: &Shared, head: &mut Head) -> Result<Arc<Database>, AppendError> {
    {
        let backoff = super::lock(&shared.backoff);
        if let Some(last) = &backoff.last
            && !backoff.waits.due()
        {
            return Err(copy(last));
        }
    }
    reopen(shared, head)
}

/// Reopens the database after a storage failure and sets the head to what the reopened file
/// holds. A commit reported as failed may turn out durable (its data reached the disk though
/// the sync reported an error): its events are then published, so that subscribers see no gap
/// (and its appends, retried, are answered as replays).
fn reopen(shared: &Shared, head: &mut Head) -> Result<Arc<Database>, AppendError> {
    shared.reopens.fetch_add(1, Ordering::Relaxed);
    let reloaded = shared.reopen().map_err(|e| {
        let failure = match &e {
            OpenError::Io { source, .. } if is_out_of_space(source) => {
                AppendError::StorageFull(e.to_string())
            }
            _ => AppendError::Storage(format!(
                "the event log could not be reopened after a storage failure: {e}"
            )),
        };
        let mut backoff = super::lock(&shared.backoff);
        backoff.waits.failed();
        backoff.last = Some(copy(&failure));
        failure
    })?;
    *super::lock(&shared.backoff) = Backoff::default();
    let before = head.position;
    *head = reloaded;
    shared.set_head(reloaded);
    info!(
        head = reloaded.position,
        "event log reopened after a storage failure"
    );
    if reloaded.position > before {
        let request = ReadAll {
            from_position: Some(before + 1),
            direction: Direction::Forwards,
            max_count: usize::try_from(reloaded.position - before).unwrap_or(usize::MAX),
            filter: Filter::default(),
        };
        match super::read::read_all(shared, &request) {
            Ok(page) => {
                let batch: LiveBatch = page.events.into_iter().map(Arc::new).collect();
                let _ = shared.live.send(batch);
            }
            Err(e) => error!(error = %e, "could not publish the events of a recovered commit"),
        }
    }
    shared
        .current_db()
        .ok_or_else(|| AppendError::Storage("the event log closed again after reopening".into()))
}

/// One request of a batch with what was computed for it before it reached the writer.
struct Work {
    request: AppendRequest,
    digests: Vec<[u8; HASH_LEN]>,
    encoded: Vec<Unplaced>,
}

/// The tables of one write transaction, opened once.
struct Tables<'txn> {
    events: Table<'txn, u64, &'static [u8]>,
    stream_index: Table<'txn, (&'static str, u64), u64>,
    event_ids: Table<'txn, u128, (u64, [u8; HASH_LEN])>,
    merkle: Table<'txn, u64, [u8; 32]>,
    /// The Merkle tree's right edge, advanced with every record written.
    tree: &'txn mut Frontier,
    /// The batch's journal frame.
    frame: &'txn mut FrameBuilder,
}

fn write_batch(
    db: &Database,
    journal: &mut Journal,
    (head, tree): (&mut Head, &mut Frontier),
    work: Vec<Work>,
    published: &mut Vec<Arc<RecordedEvent>>,
) -> Result<Vec<Outcome>, BatchError> {
    let recorded_at = now_micros();
    let mut txn = db.begin_write().map_err(redb::Error::from)?;
    txn.set_durability(Durability::None)
        .map_err(redb::Error::from)?;
    let before = head.position;
    let mut frame = journal.frame();
    let mut outcomes = Vec::with_capacity(work.len());
    {
        let mut tables = Tables {
            events: txn.open_table(EVENTS).map_err(redb::Error::from)?,
            stream_index: txn.open_table(STREAM_INDEX).map_err(redb::Error::from)?,
            event_ids: txn.open_table(EVENT_IDS).map_err(redb::Error::from)?,
            merkle: txn.open_table(MERKLE).map_err(redb::Error::from)?,
            tree,
            frame: &mut frame,
        };
        for work in work {
            let outcome = apply(&mut tables, head, work, recorded_at, published)?;
            outcomes.push(outcome);
        }
        if head.position != before {
            let mut meta = txn.open_table(META).map_err(redb::Error::from)?;
            meta.insert(META_HEAD, encode_head(head).as_slice())
                .map_err(redb::Error::from)?;
        }
    }
    if head.position == before || frame.is_empty() {
        // Only rejections and replays: nothing to make durable, no flush.
        txn.abort().map_err(redb::Error::from)?;
        return Ok(outcomes);
    }
    // Durable first, in the journal; then visible, in the log file.
    let mark = journal.mark();
    if let Err(failed) = journal.append(frame) {
        let _ = txn.abort();
        return Err(BatchError::Journal {
            error: failed.error,
            clean: failed.clean,
        });
    }
    if let Err(e) = txn.commit() {
        // The records are durable in the journal but not in the log file: the reopen that
        // follows restores them from the journal unless the frame can still be taken back.
        if journal.take_back(mark).is_err() {
            warn!("a frame of a failed commit stays in the journal; the reopen restores it");
        }
        return Err(redb::Error::from(e).into());
    }
    Ok(outcomes)
}

/// Checks one request against the state left by the requests before it, then writes it.
/// The outer error fails the whole batch; the inner one rejects this request only.
fn apply(
    t: &mut Tables<'_>,
    head: &mut Head,
    work: Work,
    recorded_at: i64,
    published: &mut Vec<Arc<RecordedEvent>>,
) -> Result<Outcome, redb::Error> {
    let Work {
        request,
        digests,
        encoded,
    } = work;
    if encoded.len() != digests.len() || digests.len() != request.event_count() {
        return Ok(Err(AppendError::Storage(
            "an append reached the writer without the encoding of each of its events".into(),
        )));
    }
    // 1. Idempotency: all ids new, or all known with the same digest (a replay).
    let total = digests.len();
    let mut known = Vec::new();
    let mut first_known: Option<Uuid> = None;
    let events = request.appends.iter().flat_map(|a| &a.events);
    for (event, digest) in events.zip(&digests) {
        if let Some(found) = t.event_ids.get(event.event_id.as_u128())? {
            let (position, stored_digest) = found.value();
            if stored_digest != *digest {
                return Ok(Err(AppendError::IdempotencyConflict {
                    event_id: event.event_id,
                }));
            }
            first_known.get_or_insert(event.event_id);
            known.push(position);
        }
    }
    if !known.is_empty() && known.len() == total {
        return replay(t, &request, &known);
    }
    if let Some(event_id) = first_known {
        return Ok(Err(AppendError::IdempotencyConflict { event_id }));
    }

    // 2. Expected revisions, every stream before any write.
    let mut current = Vec::with_capacity(request.appends.len());
    for append in &request.appends {
        let actual = last_revision(&t.stream_index, append.stream.as_str())?;
        if !append.expected.admits(actual) {
            return Ok(Err(AppendError::WrongExpectedRevision {
                stream: append.stream.clone(),
                expected: append.expected,
                actual,
            }));
        }
        current.push(actual);
    }

    // 3. Write: positions continue the chain inside this transaction.
    let mut results = Vec::with_capacity(request.appends.len());
    let mut digests = digests.iter();
    let mut encoded = encoded.into_iter();
    for (append, actual) in request.appends.into_iter().zip(current) {
        if append.is_condition() {
            continue;
        }
        let first_revision = actual.map_or(0, |r| r + 1);
        let first_position = head.position + 1;
        let mut revision = first_revision;
        // `encoded` holds one entry per event (checked above), so this pairs every event.
        for (event, unplaced) in append.events.into_iter().zip(encoded.by_ref()) {
            let digest = digests.next().copied().unwrap_or(GENESIS_HASH);
            let position = head.position + 1;
            let mut record = RecordedEvent {
                position,
                stream: append.stream.clone(),
                revision,
                event_id: event.event_id,
                event_type: event.event_type,
                recorded_at_micros: recorded_at,
                metadata: event.metadata,
                data: event.data,
                content_type: event.content_type,
                hash: GENESIS_HASH,
            };
            let mut stored = unplaced.place(position, revision, recorded_at);
            let hash = chain_hash(&head.hash, &stored);
            tree::append_leaf(&mut t.merkle, t.tree, &stored)?;
            stored.extend_from_slice(&hash);
            record.hash = hash;
            t.events.insert(position, stored.as_slice())?;
            t.stream_index
                .insert((append.stream.as_str(), revision), position)?;
            t.event_ids
                .insert(event.event_id.as_u128(), (position, digest))?;
            t.frame.push(&digest, &stored);
            *head = Head { position, hash };
            published.push(Arc::new(record));
            revision += 1;
        }
        let last_revision = revision - 1;
        results.push(StreamAppended {
            stream: append.stream,
            first_revision,
            last_revision,
            first_position,
            last_position: head.position,
        });
    }
    Ok(Ok(AppendOutcome {
        results,
        replayed: false,
    }))
}

/// The original outcome of a request whose events are all stored already.
fn replay(
    t: &Tables<'_>,
    request: &AppendRequest,
    positions: &[u64],
) -> Result<Outcome, redb::Error> {
    let mut results = Vec::with_capacity(request.appends.len());
    let mut positions = positions.iter().copied();
    for append in request.appends.iter().filter(|a| !a.is_condition()) {
        let mine: Vec<u64> = positions.by_ref().take(append.events.len()).collect();
        let (Some(&first_position), Some(&last_position)) = (mine.first(), mine.last()) else {
            return Ok(Err(AppendError::Storage(
                "replay lost track of positions".into(),
            )));
        };
        let (Some(first_revision), Some(last_revision)) = (
            revision_at(t, first_position)?,
            revision_at(t, last_position)?,
        ) else {
            warn!(
                first_position,
                last_position, "an event id points to an unreadable record"
            );
            return Ok(Err(AppendError::Storage(format!(
                "the stored record at position {first_position} or {last_position} is unreadable"
            ))));
        };
        results.push(StreamAppended {
            stream: append.stream.clone(),
            first_revision,
            last_revision,
            first_position,
            last_position,
        });
    }
    Ok(Ok(AppendOutcome {
        results,
        replayed: true,
    }))
}

fn revision_at(t: &Tables<'_>, position: u64) -> Result<Option<u64>, redb::Error> {
    let Some(stored) = t.events.get(position)? else {
        return Ok(None);
    };
    Ok(peek(stored.value()).map(|p| p.revision))
}

/// The head as persisted in `meta` (used after a failed commit).
pub(super) fn load_head(db: &Database) -> Result<Head, redb::Error> {
    let txn = db.begin_read()?;
    let meta = txn.open_table(META)?;
    let head = meta.get(META_HEAD)?.and_then(|v| decode_head(v.value()));
    Ok(head.unwrap_or(Head {
        position: 0,
        hash: GENESIS_HASH,
    }))
}

fn now_micros() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

/// Keeps a signed checkpoint (and, for a key rotation, adds it to the rotations) in one durable
/// transaction: a checkpoint is signed every few seconds at most, and one that was handed out
/// must survive a crash.
fn put_checkpoint(shared: &Shared, checkpoint: &StoredCheckpoint) -> Result<(), AppendError> {
    let db = shared.current_db().ok_or_else(|| {
        AppendError::Storage(
            "the event log cannot be written now (a storage failure); the checkpoint is signed \
             again at the next interval"
                .into(),
        )
    })?;
    let written = (|| -> Result<(), redb::Error> {
        let mut txn = db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        {
            let mut table = txn.open_table(CHECKPOINTS)?;
            table.insert(checkpoint.size, checkpoint.note.as_str())?;
            if checkpoint.rotation {
                let mut rotations = txn.open_table(KEY_ROTATIONS)?;
                let next = rotations.last()?.map_or(0, |(k, _)| k.value() + 1);
                rotations.insert(next, checkpoint.note.as_str())?;
            }
        }
        txn.commit()?;
        Ok(())
    })();
    written.map_err(|e| match BatchError::from(e) {
        BatchError::Full(m) => AppendError::StorageFull(m),
        BatchError::Storage(m) => AppendError::Storage(m),
        BatchError::Journal { error, .. } => AppendError::Storage(error.to_string()),
    })
}
