//! Wiring: binds the listener, opens the log and the views, serves the oversight services,
//! health and reflection behind the auth layer, and shuts down gracefully.
//!
//! [`Server::build`] does everything that can fail at start-up and returns a [`RunningServer`]
//! that knows its address (so tests can bind `127.0.0.1:0`); [`RunningServer::run_until_stopped`]
//! serves until SIGINT, SIGTERM or [`ShutdownHandle::trigger`]. Shutdown order: health goes
//! NOT_SERVING, subscriptions end with UNAVAILABLE, the listener closes, in-flight calls get
//! `shutdown_grace_secs` to finish (appends are acknowledged only once durable), the view runner
//! stops after its current transaction, then the store finishes its writer and closes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::api::auth::AuthLayer;
use crate::api::eventlog::EventLogService;
use crate::api::limits::LimitLayer;
use crate::api::{
    App, Clock, EvaluationService, FindingsService, HearingsService, OperationsService,
    RegistryService, ReportsService, SupervisionService, SystemClock,
};
use crate::auth::oidc::{Authenticators, OidcError, OidcVerifier};
use crate::auth::{Authenticator, TokenStore, TokenStoreError};
use crate::ballot_box::{BALLOTS_FILE, BallotBox, BallotBoxError};
use crate::checkpoints::{CheckpointError, Checkpointer};
use crate::config::Settings;
use crate::handler::Handler;
use crate::log::{EventStore, OpenError, RedbStore, StoreOptions};
use crate::metrics::{Metrics, RpcMetricsLayer};
use crate::projection::{self, ProjectionError, ProjectionRunner, Views};
use crate::proto;
use crate::transport::{self, TransportError};
use crate::view_health::LagHealth;
use crate::web::{self, KeyError, Sessions, WebKeys, WebState};

/// The read models' directory in the data directory: one redb file per projection
/// (`views/<projection>.redb`).
pub const VIEWS_DIR: &str = "views";
/// The single view file of earlier versions (`views.redb`); removed at start, as its views are
/// folded again into [`VIEWS_DIR`].
pub const LEGACY_VIEWS_FILE: &str = "views.redb";
/// Where the data directory `data_dir` may hold views: the views directory, and the single view
/// file of earlier versions. (Restore and import clear or refuse both.)
pub fn view_paths(data_dir: &std::path::Path) -> [std::path::PathBuf; 2] {
    [data_dir.join(VIEWS_DIR), data_dir.join(LEGACY_VIEWS_FILE)]
}

/// How long a query waits for its `min_position` when the call sets no deadline.
pub const DEFAULT_QUERY_WAIT: Duration = Duration::from_secs(5);

/// The largest HTTP/2 header list a call may send (bytes). Well above any token the server
/// accepts ([`crate::api::auth::MAX_BEARER_BYTES`]), so that an oversized token reaches the auth
/// layer and is refused as UNAUTHENTICATED instead of failing the connection; HTTP/2 answers
/// a longer list with status 431, and closes a connection sending over four times as much.
pub const MAX_HEADER_LIST_BYTES: u32 = 256 * 1024;

/// How long a peer has to answer an HTTP/2 ping before its connection is taken for gone.
pub const HTTP2_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// Every gRPC service the server registers, as its start-up line names them.
pub const SERVED: [&str; 10] = [
    "oversight.v1.EventLog",
    "oversight.v1.Operations",
    "oversight.v1.Registry",
    "oversight.v1.Supervision",
    "oversight.v1.Findings",
    "oversight.v1.Hearings",
    "oversight.v1.Evaluation",
    "oversight.v1.Reports",
    "grpc.health.v1.Health",
    "grpc.reflection (v1 and v1alpha)",
];

/// The gRPC service name reported by the health service.
pub const EVENT_LOG_SERVICE: &str = "oversight.v1.EventLog";

/// Why the server could not start or stopped with an error.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The data directory could not be created, or others can read it.
    #[error(transparent)]
    DataDir(#[from] crate::data_dir::DataDirError),
    /// The log could not be opened.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The token files could not be set up.
    #[error(transparent)]
    Tokens(#[from] TokenStoreError),
    /// The OpenID Connect settings are not usable.
    #[error(transparent)]
    Oidc(#[from] OidcError),
    /// The view file could not be opened.
    #[error(transparent)]
    Views(#[from] ProjectionError),
    /// The sealed ballot box could not be opened.
    #[error(transparent)]
    Ballots(#[from] BallotBoxError),
    /// The signing key could not be set up, or the log does not match its last checkpoint.
    #[error(transparent)]
    Checkpoints(#[from] CheckpointError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}; choose another address with --listen")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The metrics address could not be bound.
    #[error(
        "cannot serve metrics on {addr}: {source}; choose another address with --metrics-listen"
    )]
    MetricsBind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The pages' address could not be bound.
    #[error("cannot serve the pages on {addr}: {source}; choose another address with --web-listen")]
    WebBind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The pages' key could not be read or made.
    #[error(transparent)]
    WebKey(#[from] KeyError),
    /// The reflection service could not be built from the descriptor set.
    #[error("cannot build the reflection service: {0}")]
    Reflection(String),
    /// TLS could not be set up, or plaintext is not allowed on the listen address.
    #[error(transparent)]
    Tls(#[from] TransportError),
    /// The transport failed while serving.
    #[error("the gRPC transport failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Builds the server; see [`Server::build`].
#[derive(Debug)]
pub struct Server;

/// Triggers a graceful shutdown of a [`RunningServer`]; cheap to clone.
#[derive(Debug, Clone)]
pub struct ShutdownHandle(CancellationToken);

impl ShutdownHandle {
    /// Starts the graceful shutdown (the same as SIGTERM).
    pub fn trigger(&self) {
        self.0.cancel();
    }
}

/// A server whose log is open and whose listener is bound, ready to serve.
pub struct RunningServer {
    settings: Settings,
    local_addr: SocketAddr,
    admin_token_path: PathBuf,
    incoming: TcpIncoming,
    store: Arc<RedbStore>,
    views: Views,
    views_task: tokio::task::JoinHandle<()>,
    ballots: BallotBox,
    checkpointer: Arc<Checkpointer>,
    clock: Arc<dyn Clock>,
    tokens: Arc<dyn Authenticator>,
    tls: Option<tonic::transport::ServerTlsConfig>,
    health: HealthReporter,
    lag_health: LagHealth,
    shutdown: CancellationToken,
    handle_signals: bool,
    metrics: Arc<Metrics>,
    metrics_listener: Option<tokio::net::TcpListener>,
    web: WebParts,
}

/// What the pages need to be served, made by [`Server::build`].
struct WebParts {
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    keys: WebKeys,
    token_store: Arc<TokenStore>,
    base_url: String,
}

impl Server {
    /// Binds `settings.listen` (and `metrics_listen`), then opens the log in `settings.data_dir`
    /// and sets up the tokens.
    pub async fn build(settings: Settings) -> Result<RunningServer, ServerError> {
        let path = settings.log_path();
        Self::build_with_log(settings, move |options| RedbStore::open(&path, options)).await
    }

    /// Like [`Server::build`], with the log opened by `open_log` (given the store options from
    /// the settings): the seam for running the server on a storage backend of one's own, e.g.
    /// one that injects I/O faults.
    pub async fn build_with_log(
        settings: Settings,
        open_log: impl FnOnce(StoreOptions) -> Result<Arc<RedbStore>, OpenError>,
    ) -> Result<RunningServer, ServerError> {
        // Refuse plaintext on a reachable address, and take the addresses, before touching any
        // file: a start that cannot serve leaves nothing behind and logs nothing but its error.
        let tls = transport::server_tls(&settings.tls, settings.listen)?;
        let incoming = TcpIncoming::bind(settings.listen)
            .map_err(|source| ServerError::Bind {
                addr: settings.listen,
                source,
            })?
            .with_nodelay(Some(true))
            .with_keepalive(Some(Duration::from_secs(
                settings.limits.http2_keepalive_secs.max(1),
            )));
        let local_addr = incoming.local_addr().map_err(|source| ServerError::Bind {
            addr: settings.listen,
            source,
        })?;
        let metrics_listener = match settings.metrics_listen {
            Some(addr) => Some(
                crate::metrics::bind(addr)
                    .await
                    .map_err(|source| ServerError::MetricsBind { addr, source })?,
            ),
            None => None,
        };
        let web_tls = transport::web_tls(&settings.tls, settings.web.listen)?;
        let web_listener = tokio::net::TcpListener::bind(settings.web.listen)
            .await
            .map_err(|source| ServerError::WebBind {
                addr: settings.web.listen,
                source,
            })?;
        let web_addr = web_listener
            .local_addr()
            .map_err(|source| ServerError::WebBind {
                addr: settings.web.listen,
                source,
            })?;
        // Before any file is made: the umask, the directory's mode, and what is there already.
        crate::data_dir::secure(&settings.data_dir, settings.data_dir_group)?;
        let oidc = OidcVerifier::from_settings(&settings.oidc)?;
        let store_of_tokens = Arc::new(TokenStore::open(&settings.data_dir)?);
        let admin_token_path = store_of_tokens.admin_token_path().to_path_buf();
        // The server's own tokens, and provider JWTs when `[oidc]` is configured.
        let tokens: Arc<dyn Authenticator> =
            Arc::new(Authenticators::new(store_of_tokens.clone(), oidc));
        let web_keys = WebKeys::open(&settings.data_dir)?;

        let options = StoreOptions {
            max_batch_events: settings.limits.max_batch_events,
            live_buffer: settings.limits.live_buffer,
            max_append_events: settings.limits.max_append_events,
            max_append_bytes: settings.limits.max_append_bytes,
            ..StoreOptions::default()
        };
        let store = open_log(options)?;
        tracing::info!(path = %settings.log_path().display(), "event log open");
        let metrics = Arc::new(Metrics::new());
        store.set_observer(metrics.clone());
        // The key is created on first start, beside the admin token; a log that no longer holds
        // what its last checkpoint signed is refused here.
        let checkpointer = Arc::new(
            crate::checkpoints::start(
                store.clone(),
                &settings.checkpoints.log_name,
                &settings.log_key_path(),
            )
            .await?,
        );
        tracing::info!(key = %checkpointer.verifier(), "the log's checkpoints are signed with this key");

        let shutdown = CancellationToken::new();
        let legacy_views = settings.data_dir.join(LEGACY_VIEWS_FILE);
        if legacy_views.exists() {
            std::fs::remove_file(&legacy_views).map_err(|e| {
                ServerError::Views(ProjectionError::Open {
                    path: legacy_views.clone(),
                    detail: format!("cannot remove the view file of an earlier version: {e}"),
                })
            })?;
            tracing::info!(path = %legacy_views.display(),
                "removed the single view file of an earlier version; the views are folded again");
        }
        let views_path = settings.data_dir.join(VIEWS_DIR);
        let (views, views_task) = ProjectionRunner::start(
            &views_path,
            store.clone(),
            projection::registry(),
            shutdown.child_token(),
        )?;
        tracing::info!(path = %views_path.display(), "views open");

        // Sealed ballots live in their own file, never in the log's or the views'.
        let ballots_path = settings.data_dir.join(BALLOTS_FILE);
        let ballots = BallotBox::open(&ballots_path)?;
        tracing::info!(path = %ballots_path.display(), "sealed ballot box open");
        // A crash between publishing a round and deleting it leaves sealed leftovers behind.
        ballots
            .sweep_closed_rounds(&Handler::new(store.clone()))
            .await?;

        let web = WebParts {
            listener: web_listener,
            tls: web_tls.map(tokio_rustls::TlsAcceptor::from),
            keys: web_keys,
            token_store: store_of_tokens,
            base_url: settings.web_base_url(web_addr),
        };

        // Health only reports SERVING now that the log is open.
        let health = HealthReporter::new();
        health
            .set_service_status(EVENT_LOG_SERVICE, ServingStatus::Serving)
            .await;
        health.set_service_status("", ServingStatus::Serving).await;
        // The views' lag has services of its own, so that a lagging view never takes the
        // whole server out of rotation.
        let mut lag_health = LagHealth::new(health.clone(), settings.health);
        lag_health.refresh(&views).await;

        Ok(RunningServer {
            settings,
            local_addr,
            admin_token_path,
            incoming,
            store,
            views,
            views_task,
            ballots,
            checkpointer,
            clock: Arc::new(SystemClock),
            tokens,
            tls,
            health,
            lag_health,
            shutdown,
            handle_signals: true,
            metrics,
            metrics_listener,
            web,
        })
    }
}

impl RunningServer {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.settings.data_dir
    }

    /// The file holding the admin token.
    pub fn admin_token_path(&self) -> &Path {
        &self.admin_token_path
    }

    /// The address of the `/metrics` endpoint, when `metrics_listen` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
    }

    /// The address the pages listen on.
    pub fn web_addr(&self) -> SocketAddr {
        self.web
            .listener
            .local_addr()
            .unwrap_or(self.settings.web.listen)
    }

    /// The base of the pages' links (`web.public_url`, or the listener's own address).
    pub fn web_url(&self) -> &str {
        &self.web.base_url
    }

    /// A handle that starts the graceful shutdown.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.shutdown.clone())
    }

    /// The log, for in-process callers such as command handlers and projections.
    pub fn store(&self) -> Arc<dyn EventStore> {
        self.store.clone()
    }

    /// Signs the log's checkpoints ([`Checkpointer::sign_now`] signs one on demand).
    pub fn checkpointer(&self) -> Arc<Checkpointer> {
        self.checkpointer.clone()
    }

    /// The read models.
    pub fn views(&self) -> Views {
        self.views.clone()
    }

    /// Replaces the clock decisions are made with (tests use a fixed one).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Whether SIGINT and SIGTERM start the shutdown (the default). Tests turn this off so
    /// that Ctrl-C still stops the test binary.
    pub fn with_signals(mut self, handle_signals: bool) -> Self {
        self.handle_signals = handle_signals;
        self
    }

    /// Serves until a signal or the shutdown handle fires, then shuts down gracefully.
    pub async fn run_until_stopped(self) -> Result<(), ServerError> {
        let RunningServer {
            settings,
            local_addr,
            admin_token_path,
            incoming,
            store,
            views,
            views_task,
            ballots,
            checkpointer,
            clock,
            tokens,
            tls,
            health,
            lag_health,
            shutdown,
            handle_signals,
            metrics,
            metrics_listener,
            web,
        } = self;
        let lag_task = tokio::spawn(lag_health.run(views.clone(), shutdown.child_token()));
        let checkpoint_task = tokio::spawn(checkpointer.clone().run(
            Duration::from_secs(settings.checkpoints.interval_secs),
            shutdown.child_token(),
        ));

        if handle_signals {
            let token = shutdown.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = wait_for_signal() => token.cancel(),
                    () = token.cancelled() => {}
                }
            });
        }

        let eventlog = EventLogService::new(
            store.clone(),
            settings.limits.clone(),
            shutdown.child_token(),
        )
        .with_read_audit(settings.audit.log_reads)
        .with_checkpointer(checkpointer)
        .into_server();
        let metrics_task = metrics_listener.map(|listener| {
            let addr = listener.local_addr().ok();
            tracing::info!(address = ?addr, "serving Prometheus metrics at /metrics");
            tokio::spawn(crate::metrics::serve(
                listener,
                metrics.clone(),
                store.clone(),
                views.clone(),
                shutdown.child_token(),
            ))
        });
        let state = App {
            store: store.clone(),
            handler: Handler::new(store.clone()),
            views: views.clone(),
            clock: clock.clone(),
            default_wait: DEFAULT_QUERY_WAIT,
            ballots,
            session_locks: Arc::default(),
        };
        let web_task = {
            let sessions = Sessions::new(
                store.clone(),
                web.token_store,
                web.keys,
                chrono::Duration::hours(
                    i64::try_from(settings.web.session_hours).unwrap_or(i64::MAX / 3_600_000),
                ),
            );
            let scheme = if web.tls.is_some() { "https" } else { "http" };
            tracing::info!(
                address = %web.listener.local_addr().map_or_else(|e| e.to_string(), |a| a.to_string()),
                scheme,
                "serving the pages at {}/",
                web.base_url
            );
            let pages = WebState::new(
                sessions,
                state.clone(),
                web.tls.is_some(),
                web.base_url.clone(),
                shutdown.child_token(),
            );
            tokio::spawn(web::serve(
                web.listener,
                web.tls,
                pages,
                shutdown.child_token(),
                Duration::from_secs(settings.shutdown_grace_secs),
            ))
        };
        // Every service decodes and encodes messages up to the same limit as EventLog.
        let max = settings.limits.max_message_bytes;
        let operations = OperationsService::new(state.clone())
            .into_server()
            .max_decoding_message_size(max)
            .max_encoding_message_size(max);
        let supervision = SupervisionService::new(state.clone())
            .into_server()
            .max_decoding_message_size(max)
            .max_encoding_message_size(max);
        let findings = FindingsService::new(state.clone())
            .into_server()
            .max_decoding_message_size(max)
            .max_encoding_message_size(max);
        let registry = RegistryService::new(state.clone())
            .into_server()
            .max_decoding_message_size(max)
            .max_encoding_message_size(max);
        let hearings = HearingsService::new(state.clone())
            .into_server()
            .max_decoding_message_size(max)
            .max_encoding_message_size(max);
        let reports = ReportsService::new(state.clone())
            .into_server()
            .max_decoding_message_size(max)
            .max_encoding_message_size(max);
        let evaluation = EvaluationService::new(state.clone(), shutdown.child_token())
            .into_server()
            .max_decoding_message_size(max)
            .max_encoding_message_size(max);
        let health_service = tonic_health::pb::health_server::HealthServer::new(
            tonic_health::server::HealthService::from_health_reporter(health.clone()),
        );
        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .map_err(|e| ServerError::Reflection(e.to_string()))?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()
            .map_err(|e| ServerError::Reflection(e.to_string()))?;

        let auth = AuthLayer::new(tokens, admin_token_path.display().to_string());
        let mut builder = tonic::transport::Server::builder()
            .timeout(Duration::from_secs(settings.limits.request_timeout_secs))
            .http2_max_header_list_size(MAX_HEADER_LIST_BYTES)
            // Pings find peers that are gone (half-open connections); the tracker below closes
            // the silent ones and keeps the total under the file limit.
            .http2_keepalive_interval(Some(Duration::from_secs(
                settings.limits.http2_keepalive_secs.max(1),
            )))
            .http2_keepalive_timeout(Some(HTTP2_KEEPALIVE_TIMEOUT));
        let scheme = if let Some(tls) = tls {
            builder = builder.tls_config(tls)?;
            "https"
        } else {
            "http"
        };
        // The metrics layer sees every call's final status; the auth layer runs before the
        // limits, so the limits see the principal.
        let router = builder
            .layer(RpcMetricsLayer::new(metrics))
            .layer(auth)
            .layer(LimitLayer::new(&settings.limits))
            .add_service(eventlog)
            .add_service(operations)
            .add_service(supervision)
            .add_service(findings)
            .add_service(registry)
            .add_service(hearings)
            .add_service(evaluation)
            .add_service(reports)
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha);

        tracing::info!(
            address = %local_addr,
            scheme,
            data_dir = %settings.data_dir.display(),
            token_file = %admin_token_path.display(),
            "serving {}",
            SERVED.join(", ")
        );

        let signal = {
            let shutdown = shutdown.clone();
            let health = health.clone();
            async move {
                shutdown.cancelled().await;
                tracing::info!("shutting down: refusing new calls, finishing in-flight ones");
                health
                    .set_service_status(EVENT_LOG_SERVICE, ServingStatus::NotServing)
                    .await;
                health
                    .set_service_status("", ServingStatus::NotServing)
                    .await;
            }
        };
        let bounds = crate::connections::Bounds::new(
            settings.limits.max_connections,
            settings.limits.max_connections_per_address,
            Duration::from_secs(settings.limits.idle_timeout_secs.max(1)),
            crate::connections::file_limit(),
        );
        tracing::info!(
            max_connections = bounds.total,
            per_address = bounds.per_address,
            idle_timeout_secs = bounds.idle.as_secs(),
            "connection bounds"
        );
        let incoming =
            crate::connections::Tracker::new(bounds).guard(incoming, shutdown.child_token());
        let serve = router.serve_with_incoming_shutdown(incoming, signal);
        tokio::pin!(serve);
        let grace = Duration::from_secs(settings.shutdown_grace_secs);
        let served = tokio::select! {
            result = &mut serve => result,
            () = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
                tracing::warn!(grace_secs = settings.shutdown_grace_secs, "grace period over; closing the remaining connections");
                Ok(())
            }
        };
        // Make sure every subscription sees the shutdown even if serving ended on its own.
        shutdown.cancel();
        if let Err(error) = views_task.await {
            tracing::error!(%error, "the view runner ended abnormally");
        }
        if let Some(task) = metrics_task {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::error!(%error, "the metrics endpoint failed"),
                Err(error) => tracing::error!(%error, "the metrics endpoint ended abnormally"),
            }
        }
        if let Err(error) = web_task.await {
            tracing::error!(%error, "the pages ended abnormally");
        }
        if let Err(error) = lag_task.await {
            tracing::error!(%error, "the view lag check ended abnormally");
        }
        if let Err(error) = checkpoint_task.await {
            tracing::error!(%error, "the checkpoint signer ended abnormally");
        }
        store.shutdown().await;
        tracing::info!("event log closed");
        served.map_err(ServerError::from)
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn wait_for_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("received SIGINT"),
        () = terminate => tracing::info!("received SIGTERM"),
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::SERVED;

    #[test]
    fn the_start_up_line_names_every_service_of_the_contract() {
        let set = prost_types::FileDescriptorSet::decode(crate::proto::FILE_DESCRIPTOR_SET)
            .unwrap_or_default();
        let mut named = 0;
        for file in &set.file {
            for service in &file.service {
                let name = format!("{}.{}", file.package(), service.name());
                assert!(SERVED.contains(&name.as_str()), "{name} is not in SERVED");
                named += 1;
            }
        }
        assert_eq!(named, 8);
    }
}
