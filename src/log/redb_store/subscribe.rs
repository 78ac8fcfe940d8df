//! Catch-up subscriptions that turn into a live feed without a gap or a duplicate.
//!
//! A spawned task feeds a bounded channel that the consumer reads as a stream:
//! 1. subscribe to the writer's broadcast of committed batches FIRST, so that every batch
//!    committed after the storage reads below is also in the receiver;
//! 2. read history from storage in pages from `next` until the end (before each page the
//!    receiver is renewed: whatever it dropped was committed before the page is read, so storage
//!    has it — a receiver that lagged while catching up costs nothing);
//! 3. yield `CaughtUp { head }`;
//! 4. live: deliver broadcast events with position >= `next`, in order. A consumer that falls
//!    more than `live_buffer` batches behind is ended with `TooSlow`; writers never wait.
//!
//! The task stops when the consumer drops the stream, and ends the stream with `ShuttingDown`
//! when the store shuts down.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::read::scan;
use super::{LiveBatch, Shared};
use crate::log::{
    Direction, Filter, ReadError, SubscribeFrom, Subscription, SubscriptionError, SubscriptionItem,
};

type Item = Result<SubscriptionItem, SubscriptionError>;

pub(super) fn subscribe(shared: Arc<Shared>, start: SubscribeFrom, filter: Filter) -> Subscription {
    // Establish the live receiver and the starting point now, not when the task first runs.
    let live = shared.live.subscribe();
    let next = match start {
        SubscribeFrom::Position(p) => p.max(1),
        SubscribeFrom::Now => shared.head().position + 1,
    };
    let (tx, rx) = mpsc::channel(shared.options.subscription_buffer.max(1));
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(run(shared, live, next, filter, tx));
            Box::pin(ReceiverStream::new(rx))
        }
        Err(_) => Box::pin(futures::stream::once(async {
            Err(SubscriptionError::Read(ReadError::Storage(
                "subscriptions need a tokio runtime".into(),
            )))
        })),
    }
}

/// Why the feed stopped.
enum Stop {
    /// The consumer dropped the stream: nothing to say.
    Gone,
    /// End the stream with this error.
    Error(SubscriptionError),
}

async fn run(
    shared: Arc<Shared>,
    live: broadcast::Receiver<LiveBatch>,
    next: u64,
    filter: Filter,
    tx: mpsc::Sender<Item>,
) {
    let Stop::Error(error) = feed(&shared, live, next, Arc::new(filter), &tx).await else {
        return;
    };
    // Bounded, so a consumer that holds the stream but never reads cannot keep the task alive.
    let _ = tokio::time::timeout(Duration::from_secs(5), tx.send(Err(error))).await;
}

async fn emit(shared: &Shared, tx: &mpsc::Sender<Item>, item: Item, next: u64) -> Result<(), Stop> {
    tokio::select! {
        biased;
        sent = tx.send(item) => sent.map_err(|_| Stop::Gone),
        () = shared.shutdown.cancelled() => Err(Stop::Error(SubscriptionError::ShuttingDown {
            resume_from: next,
        })),
    }
}

async fn feed(
    shared: &Arc<Shared>,
    mut live: broadcast::Receiver<LiveBatch>,
    mut next: u64,
    filter: Arc<Filter>,
    tx: &mpsc::Sender<Item>,
) -> Stop {
    // Catch up from storage.
    let mut scanned_any = false;
    loop {
        if shared.shutdown.is_cancelled() {
            return Stop::Error(SubscriptionError::ShuttingDown { resume_from: next });
        }
        live = live.resubscribe();
        let page = {
            let shared = Arc::clone(shared);
            let filter = Arc::clone(&filter);
            tokio::task::spawn_blocking(move || {
                scan(
                    &*shared.db()?,
                    Some(next),
                    Direction::Forwards,
                    shared.options.subscription_page.max(1),
                    &filter,
                    shared.options.max_read_scan.max(1),
                )
            })
            .await
        };
        let page = match page {
            Ok(Ok(page)) => page,
            Ok(Err(e)) => return Stop::Error(e.into()),
            Err(e) => {
                return Stop::Error(
                    ReadError::Storage(format!("subscription read task failed: {e}")).into(),
                );
            }
        };
        for event in page.events {
            let position = event.position;
            let item = Ok(SubscriptionItem::Event(Arc::new(event)));
            if let Err(stop) = emit(shared, tx, item, position).await {
                return stop;
            }
        }
        if let Some(last) = page.last_scanned {
            next = last + 1;
            scanned_any = true;
        }
        if page.exhausted {
            break;
        }
    }
    // What the pages read is committed, even if the writer has not yet published its new head:
    // never report a head below an event already delivered. Only a start beyond everything read
    // is capped at the published head, so it does not claim positions that do not exist yet.
    let head = if scanned_any {
        next - 1
    } else {
        (next - 1).min(shared.head().position)
    };
    let caught_up = Ok(SubscriptionItem::CaughtUp { head });
    if let Err(stop) = emit(shared, tx, caught_up, next).await {
        return stop;
    }

    // Live.
    loop {
        let received = tokio::select! {
            biased;
            () = shared.shutdown.cancelled() => {
                return Stop::Error(SubscriptionError::ShuttingDown { resume_from: next });
            }
            () = tx.closed() => return Stop::Gone,
            received = live.recv() => received,
        };
        let batch = match received {
            Ok(batch) => batch,
            Err(broadcast::error::RecvError::Lagged(_)) => {
                return Stop::Error(SubscriptionError::TooSlow { resume_from: next });
            }
            Err(broadcast::error::RecvError::Closed) => {
                return Stop::Error(SubscriptionError::ShuttingDown { resume_from: next });
            }
        };
        for event in batch.iter() {
            if event.position < next {
                continue;
            }
            if filter.matches(event.stream.as_str(), event.event_type.as_str()) {
                let item = Ok(SubscriptionItem::Event(Arc::clone(event)));
                if let Err(stop) = emit(shared, tx, item, next).await {
                    return stop;
                }
            }
            next = event.position + 1;
        }
    }
}

/// A subscription counted in `Shared::subscriptions` while its stream is alive.
pub(super) struct Counted {
    inner: crate::log::Subscription,
    open: Arc<std::sync::atomic::AtomicU64>,
}

impl Counted {
    pub(super) fn new(
        inner: crate::log::Subscription,
        open: Arc<std::sync::atomic::AtomicU64>,
    ) -> Self {
        open.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self { inner, open }
    }
}

impl futures::Stream for Counted {
    type Item = Item;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.open.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}
