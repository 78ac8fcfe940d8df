//! Prometheus metrics, served as text on their own address (`metrics_listen`, off by default)
//! at `/metrics`.
//!
//! | metric | type | what |
//! |---|---|---|
//! | `oversight_appends_total{outcome}` | counter | appends by outcome: `ok`, `replayed`, `rejected`, `failed` |
//! | `oversight_appended_events_total` | counter | events written by appends that succeeded |
//! | `oversight_append_duration_seconds` | histogram | time an append waited, durable commit included |
//! | `oversight_commit_batch_events` | histogram | events per write transaction (group commit) |
//! | `oversight_log_head_position` | gauge | the log's head |
//! | `oversight_log_writable` | gauge | 1 while the log file is open for writes; 0 while a storage failure keeps it closed or read-only |
//! | `oversight_projection_lag_positions{view}` | gauge | positions a view is behind the head |
//! | `oversight_projection_lag_seconds{view}` | gauge | seconds since a view was last level |
//! | `oversight_active_subscriptions` | gauge | open log subscriptions (clients' and the views') |
//! | `oversight_rpc_requests_total{method,code}` | counter | finished gRPC calls by method and status |
//!
//! The gauges are read when scraped; the counters and histograms move as the work happens
//! ([`crate::log::StoreObserver`] for the log, [`RpcMetricsLayer`] around the gRPC server).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::Frame;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;
use tower::{Layer, Service};

use crate::log::{EventStore, RedbStore, StoreObserver};
use crate::projection::Views;

type Labels = Vec<(String, String)>;

/// Every metric of the server, registered in one registry.
pub struct Metrics {
    registry: Registry,
    appends: Family<Labels, Counter>,
    appended_events: Counter,
    append_seconds: Histogram,
    batch_events: Histogram,
    head: Gauge,
    writable: Gauge,
    lag_positions: Family<Labels, Gauge>,
    lag_seconds: Family<Labels, Gauge<f64, AtomicU64>>,
    subscriptions: Gauge,
    rpcs: Family<Labels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every metric at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("oversight");
        let appends = Family::<Labels, Counter>::default();
        registry.register("appends", "Appends by outcome", appends.clone());
        let appended_events = Counter::default();
        registry.register(
            "appended_events",
            "Events written by successful appends",
            appended_events.clone(),
        );
        // 100 µs to ~3.3 s.
        let append_seconds = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        registry.register(
            "append_duration_seconds",
            "Time an append waited, durable commit included",
            append_seconds.clone(),
        );
        // 1 to 4096 events.
        let batch_events = Histogram::new(exponential_buckets(1.0, 2.0, 13));
        registry.register(
            "commit_batch_events",
            "Events per write transaction of the log (group commit)",
            batch_events.clone(),
        );
        let head = Gauge::default();
        registry.register("log_head_position", "The log's head position", head.clone());
        let lag_positions = Family::<Labels, Gauge>::default();
        registry.register(
            "projection_lag_positions",
            "Log positions a view is behind the head",
            lag_positions.clone(),
        );
        let lag_seconds = Family::<Labels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "projection_lag_seconds",
            "Seconds since a view was last level with the head",
            lag_seconds.clone(),
        );
        let writable = Gauge::default();
        registry.register(
            "log_writable",
            "1 while the log file is open for writes; 0 while a storage failure keeps it closed \
             or open for reads only (appends are refused until a reopen succeeds)",
            writable.clone(),
        );
        let subscriptions = Gauge::default();
        registry.register(
            "active_subscriptions",
            "Open log subscriptions, the views' own included",
            subscriptions.clone(),
        );
        let rpcs = Family::<Labels, Counter>::default();
        registry.register(
            "rpc_requests",
            "Finished gRPC calls by method and status code",
            rpcs.clone(),
        );
        Self {
            registry,
            appends,
            appended_events,
            append_seconds,
            batch_events,
            head,
            writable,
            lag_positions,
            lag_seconds,
            subscriptions,
            rpcs,
        }
    }

    /// Counts a finished gRPC call.
    pub fn rpc_finished(&self, method: &str, code: tonic::Code) {
        self.rpcs
            .get_or_create(&vec![
                ("method".to_string(), method.to_string()),
                ("code".to_string(), format!("{code:?}")),
            ])
            .inc();
    }

    /// Reads the gauges from the log and the views, then renders everything as Prometheus text.
    pub async fn render(&self, store: &RedbStore, views: &Views) -> String {
        if let Ok(head) = store.head().await {
            self.head
                .set(i64::try_from(head.position).unwrap_or(i64::MAX));
        }
        self.writable.set(i64::from(store.is_writable()));
        self.subscriptions
            .set(i64::try_from(store.active_subscriptions()).unwrap_or(i64::MAX));
        match views.lag().await {
            Ok(lags) => {
                for lag in lags {
                    let labels = vec![("view".to_string(), lag.projection.clone())];
                    self.lag_positions
                        .get_or_create(&labels)
                        .set(i64::try_from(lag.behind_positions).unwrap_or(i64::MAX));
                    self.lag_seconds
                        .get_or_create(&labels)
                        .set(lag.behind_seconds);
                }
            }
            Err(error) => tracing::warn!(%error, "cannot read the views' lag for metrics"),
        }
        let mut text = String::new();
        if let Err(error) = encode(&mut text, &self.registry) {
            tracing::error!(%error, "cannot encode the metrics");
        }
        text
    }
}

impl StoreObserver for Metrics {
    fn append_finished(&self, events: usize, outcome: &'static str, elapsed: Duration) {
        self.appends
            .get_or_create(&vec![("outcome".to_string(), outcome.to_string())])
            .inc();
        if outcome == "ok" {
            self.appended_events.inc_by(events as u64);
        }
        self.append_seconds.observe(elapsed.as_secs_f64());
    }

    fn batch_committed(&self, events: usize) {
        self.batch_events.observe(events as f64);
    }
}

/// Serves `GET /metrics` on `listener` until `shutdown` fires.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    store: Arc<RedbStore>,
    views: Views,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let metrics = metrics.clone();
            let store = store.clone();
            let views = views.clone();
            async move {
                let body = metrics.render(&store, &views).await;
                (
                    [(
                        http::header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    body,
                )
            }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

/// Binds the metrics address (port 0 picks a free one).
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

/// Counts every gRPC call by method and final status; wraps the whole tonic server (outside
/// the auth layer, so refused calls are counted too).
#[derive(Clone)]
pub struct RpcMetricsLayer {
    metrics: Arc<Metrics>,
}

impl RpcMetricsLayer {
    /// A layer recording into `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics }
    }
}

impl<S> Layer<S> for RpcMetricsLayer {
    type Service = RpcMetricsService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RpcMetricsService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// The service produced by [`RpcMetricsLayer`].
#[derive(Clone)]
pub struct RpcMetricsService<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S, B> Service<http::Request<B>> for RpcMetricsService<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = request.uri().path().trim_start_matches('/').to_string();
        let metrics = self.metrics.clone();
        // The clone that was polled ready is the one that must be called.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let response = inner.call(request).await?;
            // A call refused up front answers with the status in its headers
            // ("trailers-only"); any other carries it in the trailers at the end of the body.
            if let Some(code) = status_code(response.headers()) {
                metrics.rpc_finished(&method, code);
                return Ok(response);
            }
            if http_body::Body::is_end_stream(response.body()) {
                metrics.rpc_finished(&method, tonic::Code::Unknown);
                return Ok(response);
            }
            Ok(response.map(|body| {
                tonic::body::Body::new(CountedBody {
                    inner: body,
                    call: Some((metrics, method)),
                })
            }))
        })
    }
}

fn status_code(headers: &http::HeaderMap) -> Option<tonic::Code> {
    headers
        .get("grpc-status")
        .map(|value| tonic::Code::from_bytes(value.as_bytes()))
}

/// A response body that counts its call when the trailers pass (or when it is dropped early).
struct CountedBody {
    inner: tonic::body::Body,
    call: Option<(Arc<Metrics>, String)>,
}

impl CountedBody {
    fn finish(&mut self, code: tonic::Code) {
        if let Some((metrics, method)) = self.call.take() {
            metrics.rpc_finished(&method, code);
        }
    }
}

impl http_body::Body for CountedBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(code) = frame.trailers_ref().and_then(status_code) {
                    self.finish(code);
                }
            }
            Poll::Ready(Some(Err(status))) => {
                let code = status.code();
                self.finish(code);
            }
            Poll::Ready(None) => self.finish(tonic::Code::Unknown),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for CountedBody {
    fn drop(&mut self) {
        // The client went away before the end: the call was cancelled.
        self.finish(tonic::Code::Cancelled);
    }
}
