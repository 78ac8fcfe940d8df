//! Bounds on the gRPC listener's connections, so that idle or half-open sockets cannot lock new
//! clients out: at most `max_connections` at once (kept below the process's file limit), at
//! most `max_connections_per_address` from one address, and none silent for longer than
//! `idle_timeout_secs`. HTTP/2 keepalive pings (set on the server builder) close connections
//! whose peer is gone; what a ping cannot reach, the bounds close.
//!
//! When a new connection would exceed a bound, the connection that has been silent the
//! longest (from that address, or from any) is closed to make room: a newcomer is always
//! served, and the ones that pay are those that sent nothing for the longest time. A hall of
//! 500 tablets behind one NAT address fits in the per-address default (1 024).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tonic::transport::server::{Connected, TcpConnectInfo};

/// File descriptors kept for everything but gRPC connections: the log, its journal, the views,
/// the ballot box, the pages' connections, the metrics listener.
pub const RESERVED_FILES: u64 = 64;

/// The bounds in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Connections at once.
    pub total: usize,
    /// Connections at once from one address.
    pub per_address: usize,
    /// How long a connection may stay silent.
    pub idle: Duration,
}

impl Bounds {
    /// `max_connections` (0: as many as the file limit allows) held below `file_limit` minus
    /// [`RESERVED_FILES`], at least one.
    pub fn new(
        max_connections: usize,
        per_address: usize,
        idle: Duration,
        file_limit: Option<u64>,
    ) -> Self {
        let room = file_limit
            .map(|limit| limit.saturating_sub(RESERVED_FILES).max(1))
            .and_then(|room| usize::try_from(room).ok())
            .unwrap_or(usize::MAX);
        let total = match max_connections {
            0 => room,
            n => n.min(room),
        }
        .max(1);
        Self {
            total,
            per_address: per_address.max(1),
            idle,
        }
    }
}

/// The soft limit on open files of this process, if it can be read.
pub fn file_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit(2) writes one rlimit into the struct it is given, which lives here.
    let read = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (read == 0 && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

struct Entry {
    address: IpAddr,
    /// Milliseconds since the tracker started, at the connection's last byte in or out.
    last_active: Arc<AtomicU64>,
    close: CancellationToken,
}

struct Table {
    next: u64,
    open: HashMap<u64, Entry>,
}

/// The open connections of one listener.
#[derive(Clone)]
pub struct Tracker {
    bounds: Bounds,
    started: Instant,
    table: Arc<Mutex<Table>>,
}

impl Tracker {
    /// A tracker holding connections to `bounds`.
    pub fn new(bounds: Bounds) -> Self {
        Self {
            bounds,
            started: Instant::now(),
            table: Arc::new(Mutex::new(Table {
                next: 0,
                open: HashMap::new(),
            })),
        }
    }

    /// The bounds in force.
    pub fn bounds(&self) -> Bounds {
        self.bounds
    }

    fn now(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        // A panic while holding the lock leaves the table usable: it holds no invariant that a
        // half-done change could break beyond a stale entry.
        self.table
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How many connections are open.
    pub fn open(&self) -> usize {
        self.lock().open.len()
    }

    /// Admits `stream`, first closing the longest-silent connection of its address, or of
    /// all, when a bound is reached.
    pub fn admit(&self, stream: TcpStream) -> Guarded {
        let address = stream
            .peer_addr()
            .map(|a| a.ip())
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let last_active = Arc::new(AtomicU64::new(self.now()));
        let close = CancellationToken::new();
        let id = {
            let mut table = self.lock();
            let same = table.open.values().filter(|e| e.address == address).count();
            if same >= self.bounds.per_address {
                evict(&mut table, Some(address), "from its address");
            }
            if table.open.len() >= self.bounds.total {
                evict(&mut table, None, "in all");
            }
            let id = table.next;
            table.next += 1;
            table.open.insert(
                id,
                Entry {
                    address,
                    last_active: last_active.clone(),
                    close: close.clone(),
                },
            );
            id
        };
        Guarded {
            inner: stream,
            id,
            tracker: self.clone(),
            last_active,
            now: self.started,
            closed: Box::pin(close.cancelled_owned()),
        }
    }

    /// Closes every connection silent for longer than the idle bound; returns how many.
    pub fn close_idle(&self) -> usize {
        let limit = u64::try_from(self.bounds.idle.as_millis()).unwrap_or(u64::MAX);
        let now = self.now();
        let mut table = self.lock();
        let idle: Vec<u64> = table
            .open
            .iter()
            .filter(|(_, e)| now.saturating_sub(e.last_active.load(Ordering::Relaxed)) > limit)
            .map(|(id, _)| *id)
            .collect();
        for id in &idle {
            if let Some(entry) = table.open.remove(id) {
                entry.close.cancel();
            }
        }
        idle.len()
    }

    /// Wraps a listener's accepted sockets, and closes idle connections until `stop`.
    pub fn guard<S>(
        self,
        incoming: S,
        stop: CancellationToken,
    ) -> impl Stream<Item = Result<Guarded, io::Error>> + Send + 'static
    where
        S: Stream<Item = Result<TcpStream, io::Error>> + Send + 'static,
    {
        let sweeper = self.clone();
        tokio::spawn(async move {
            // Checking four times per idle bound closes a silent connection at most a quarter
            // of the bound late.
            let period = (sweeper.bounds.idle / 4).max(Duration::from_secs(1));
            let mut tick = tokio::time::interval(period);
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = tick.tick() => {
                        let closed = sweeper.close_idle();
                        if closed > 0 {
                            tracing::info!(closed, idle_secs = sweeper.bounds.idle.as_secs(), "closed connections that stayed silent");
                        }
                    }
                }
            }
        });
        incoming.map(move |accepted| accepted.map(|stream| self.admit(stream)))
    }
}

/// Closes the longest-silent connection (of `address`, if given).
fn evict(table: &mut Table, address: Option<IpAddr>, scope: &'static str) {
    let oldest = table
        .open
        .iter()
        .filter(|(_, e)| address.is_none_or(|a| e.address == a))
        .min_by_key(|(id, e)| (e.last_active.load(Ordering::Relaxed), **id))
        .map(|(id, _)| *id);
    if let Some(entry) = oldest.and_then(|id| table.open.remove(&id)) {
        tracing::info!(address = %entry.address, scope, "too many connections: closed the one silent the longest to serve a new one");
        entry.close.cancel();
    }
}

/// An accepted connection, counted while it is open; closed when the tracker evicts it.
pub struct Guarded {
    inner: TcpStream,
    id: u64,
    tracker: Tracker,
    last_active: Arc<AtomicU64>,
    now: Instant,
    closed: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl Guarded {
    fn touch(&self) {
        let now = u64::try_from(self.now.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_active.store(now, Ordering::Relaxed);
    }

    fn evicted(&mut self, cx: &mut Context<'_>) -> bool {
        self.closed.as_mut().poll(cx).is_ready()
    }
}

fn closed_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connection closed: silent too long, or the oldest silent one when a bound was reached",
    )
}

impl Drop for Guarded {
    fn drop(&mut self) {
        self.tracker.lock().open.remove(&self.id);
    }
}

impl Connected for Guarded {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.evicted(cx) {
            return Poll::Ready(Err(closed_error()));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        polled
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.evicted(cx) {
            return Poll::Ready(Err(closed_error()));
        }
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.evicted(cx) {
            return Poll::Ready(Err(closed_error()));
        }
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_total_stays_below_the_file_limit() {
        let idle = Duration::from_secs(300);
        assert_eq!(Bounds::new(0, 1024, idle, Some(256)).total, 192);
        assert_eq!(Bounds::new(100, 1024, idle, Some(256)).total, 100);
        assert_eq!(Bounds::new(10_000, 1024, idle, Some(1024)).total, 960);
        assert_eq!(Bounds::new(0, 1024, idle, None).total, usize::MAX);
        assert_eq!(Bounds::new(0, 1024, idle, Some(10)).total, 1);
    }

    async fn pair(listener: &tokio::net::TcpListener) -> (TcpStream, TcpStream) {
        let addr = listener.local_addr().unwrap();
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (client.unwrap(), accepted.unwrap().0)
    }

    #[tokio::test]
    async fn a_new_connection_closes_the_one_silent_the_longest() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tracker = Tracker::new(Bounds::new(2, 1024, Duration::from_secs(300), None));
        let (mut silent, first) = pair(&listener).await;
        let mut first = tracker.admit(first);
        let (mut talking, second) = pair(&listener).await;
        let mut second = tracker.admit(second);
        // The second speaks, so the first is the one silent the longest... once the clock has
        // moved; make it move by a byte on the second only.
        talking.write_all(b"x").await.unwrap();
        let mut byte = [0u8; 1];
        second.read_exact(&mut byte).await.unwrap();
        first.last_active.store(0, Ordering::Relaxed);
        second.last_active.store(1, Ordering::Relaxed);
        let (_newcomer, third) = pair(&listener).await;
        let _third = tracker.admit(third);
        assert_eq!(tracker.open(), 2);
        // The evicted connection's reader sees it closed.
        let error = first.read(&mut byte).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::ConnectionAborted);
        drop(first);
        assert_eq!(
            silent.read(&mut byte).await.unwrap(),
            0,
            "the peer sees the close"
        );
        // The one that spoke is still open.
        talking.write_all(b"y").await.unwrap();
        second.read_exact(&mut byte).await.unwrap();
        assert_eq!(&byte, b"y");
    }

    #[tokio::test]
    async fn one_address_is_held_to_its_own_bound() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tracker = Tracker::new(Bounds::new(100, 2, Duration::from_secs(300), None));
        let mut kept = Vec::new();
        for _ in 0..5 {
            let (client, accepted) = pair(&listener).await;
            kept.push((client, tracker.admit(accepted)));
        }
        assert_eq!(tracker.open(), 2);
    }
}
