//! Boots the real server in-process on `127.0.0.1:0` in a fresh temporary data directory and
//! builds authenticated clients for it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod faults;
pub mod process;
pub mod setup;

use std::net::SocketAddr;
use std::sync::{Arc, Weak};

use oversight::api::Clock;
use oversight::config::Settings;
use oversight::log::EventStore;
use oversight::projection::Views;
use oversight::proto::event_log_client::EventLogClient;
use oversight::server::{Server, ServerError, ShutdownHandle};
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
pub struct Bearer(pub Option<String>);

impl Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(token) = &self.0 {
            let value: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
            request.metadata_mut().insert("authorization", value);
        }
        Ok(request)
    }
}

pub type Client = EventLogClient<InterceptedService<Channel, Bearer>>;

pub struct TestServer {
    pub addr: SocketAddr,
    /// The pages' address.
    pub web_addr: SocketAddr,
    pub token: String,
    pub shutdown: ShutdownHandle,
    pub task: tokio::task::JoinHandle<Result<(), ServerError>>,
    pub dir: tempfile::TempDir,
    /// The server's log, held weakly so that a shut-down server closes its files.
    store: Weak<dyn EventStore>,
    /// Signs the log's checkpoints (held weakly, like the log).
    checkpointer: Weak<oversight::checkpoints::Checkpointer>,
}

impl TestServer {
    /// A server with default settings.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A server whose settings `adjust` may change (data dir and address are set already).
    pub async fn start_with(adjust: impl FnOnce(&mut Settings)) -> Self {
        Self::start_in(tempfile::tempdir().unwrap(), adjust, None).await
    }

    /// Like [`TestServer::start_with`], and also hands out the server's read models, for tests
    /// that scan view documents. Holding them keeps the files open after shutdown, so such a
    /// server is not restarted.
    pub async fn start_with_views(adjust: impl FnOnce(&mut Settings)) -> (Self, Views) {
        Self::boot(tempfile::tempdir().unwrap(), adjust, None).await
    }

    /// A server in `dir` (fresh or left by a previous server), with `adjust`ed settings and
    /// optionally a clock of the test's own.
    pub async fn start_in(
        dir: tempfile::TempDir,
        adjust: impl FnOnce(&mut Settings),
        clock: Option<Arc<dyn Clock>>,
    ) -> Self {
        Self::boot(dir, adjust, clock).await.0
    }

    async fn boot(
        dir: tempfile::TempDir,
        adjust: impl FnOnce(&mut Settings),
        clock: Option<Arc<dyn Clock>>,
    ) -> (Self, Views) {
        let mut settings = Settings {
            data_dir: dir.path().join("data"),
            listen: "127.0.0.1:0".parse().unwrap(),
            shutdown_grace_secs: 5,
            ..Settings::default()
        };
        settings.web.listen = "127.0.0.1:0".parse().unwrap();
        adjust(&mut settings);
        let mut server = Server::build(settings).await.expect("server builds");
        if let Some(clock) = clock {
            server = server.with_clock(clock);
        }
        let store = Arc::downgrade(&server.store());
        let checkpointer = Arc::downgrade(&server.checkpointer());
        let addr = server.local_addr();
        let web_addr = server.web_addr();
        let token = std::fs::read_to_string(server.admin_token_path())
            .unwrap()
            .trim()
            .to_string();
        let shutdown = server.shutdown_handle();
        let views = server.views();
        let task = tokio::spawn(server.with_signals(false).run_until_stopped());
        let server = Self {
            addr,
            web_addr,
            token,
            shutdown,
            task,
            dir,
            store,
            checkpointer,
        };
        (server, views)
    }

    /// Shuts the server down gracefully and starts a new one on the same data directory.
    pub async fn restart(self, clock: Option<Arc<dyn Clock>>) -> Self {
        self.shutdown.trigger();
        self.task.await.unwrap().unwrap();
        Self::start_in(self.dir, |_| {}, clock).await
    }

    /// The running server's log, for setting up records in-process (e.g. with
    /// `oversight::handler`).
    pub fn store(&self) -> Arc<dyn EventStore> {
        self.store.upgrade().expect("the server is running")
    }

    /// The running server's checkpoint signer (to sign one on demand).
    pub fn checkpointer(&self) -> Arc<oversight::checkpoints::Checkpointer> {
        self.checkpointer.upgrade().expect("the server is running")
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.url())
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// A client authenticated with the admin token.
    pub async fn client(&self) -> Client {
        self.client_with(Some(self.token.clone())).await
    }

    /// A client sending `token` (or none).
    pub async fn client_with(&self, token: Option<String>) -> Client {
        EventLogClient::with_interceptor(self.channel().await, Bearer(token))
    }
}

/// Asserts that every event of the streams starting with one of `prefixes` (all streams when
/// empty) names the subject and role that wrote it.
pub async fn assert_events_name_their_actor(store: &Arc<dyn EventStore>, prefixes: &[&str]) {
    use oversight::log::{Direction, Filter, ReadAll};
    let events = store
        .read_all(ReadAll {
            from_position: None,
            direction: Direction::Forwards,
            max_count: usize::MAX,
            filter: Filter {
                stream_prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
                event_types: Vec::new(),
            },
        })
        .await
        .unwrap();
    assert!(!events.is_empty(), "no events under {prefixes:?}");
    for event in events {
        let actor = event.metadata.actor.as_ref().unwrap_or_else(|| {
            panic!(
                "{} at position {} records no actor",
                event.event_type.as_str(),
                event.position
            )
        });
        assert!(
            !actor.subject.is_empty() && !actor.role.is_empty(),
            "{} at position {} records {actor:?}",
            event.event_type.as_str(),
            event.position
        );
    }
}

/// Turns off the `audit` records of log reads, for tests that count the log's positions.
pub fn without_read_audit(settings: &mut Settings) {
    settings.audit.log_reads = false;
}

/// A token to issue next to the admin token: the secret and the principal it stands for.
#[derive(Debug, Clone)]
pub struct TokenSpec {
    pub token: &'static str,
    pub subject: &'static str,
    pub role: &'static str,
    pub committee: Option<&'static str>,
    pub deputy_group: Option<&'static str>,
}

impl TokenSpec {
    /// A token of `role` in `committee`, whose subject is the token itself.
    pub fn new(token: &'static str, role: &'static str, committee: Option<&'static str>) -> Self {
        Self {
            token,
            subject: token,
            role,
            committee,
            deputy_group: None,
        }
    }
}

/// Writes `admin.token` (`ovs_admin`) and a `tokens.json` with the admin and `tokens`, as a
/// later token command will.
pub fn write_token_specs(data_dir: &std::path::Path, tokens: &[TokenSpec]) {
    use sha2::{Digest, Sha256};
    let digest = |token: &str| hex::encode(Sha256::digest(token.as_bytes()));
    std::fs::create_dir_all(data_dir).unwrap();
    std::fs::write(data_dir.join("admin.token"), "ovs_admin\n").unwrap();
    let mut entries = vec![serde_json::json!({
        "subject": "admin", "role": "admin", "sha256": digest("ovs_admin"),
    })];
    for spec in tokens {
        entries.push(serde_json::json!({
            "subject": spec.subject,
            "role": spec.role,
            "committee": spec.committee,
            "deputy_group": spec.deputy_group,
            "sha256": digest(spec.token),
        }));
    }
    let file = serde_json::json!({ "tokens": entries });
    std::fs::write(data_dir.join("tokens.json"), file.to_string()).unwrap();
}

/// Authenticated clients of the Registry, Hearings and Operations services.
pub type RegistryClient =
    oversight::proto::registry_client::RegistryClient<InterceptedService<Channel, Bearer>>;
pub type HearingsClient =
    oversight::proto::hearings_client::HearingsClient<InterceptedService<Channel, Bearer>>;
pub type OperationsClient =
    oversight::proto::operations_client::OperationsClient<InterceptedService<Channel, Bearer>>;

/// Servers with tokens of several roles, and clients of the domain services.
impl TestServer {
    /// A server whose `tokens.json` holds the admin token `ovs_admin` and `tokens`.
    pub async fn start_with_tokens(tokens: &[TokenSpec]) -> Self {
        let tokens = tokens.to_vec();
        Self::start_with(move |settings| write_token_specs(&settings.data_dir, &tokens)).await
    }

    /// A Registry client sending `token`.
    pub async fn registry(&self, token: &str) -> RegistryClient {
        let bearer = Bearer(Some(token.to_string()));
        oversight::proto::registry_client::RegistryClient::with_interceptor(
            self.channel().await,
            bearer,
        )
    }

    /// A Hearings client sending `token`.
    pub async fn hearings(&self, token: &str) -> HearingsClient {
        let bearer = Bearer(Some(token.to_string()));
        oversight::proto::hearings_client::HearingsClient::with_interceptor(
            self.channel().await,
            bearer,
        )
    }

    /// An Operations client sending `token`.
    pub async fn operations(&self, token: &str) -> OperationsClient {
        let bearer = Bearer(Some(token.to_string()));
        oversight::proto::operations_client::OperationsClient::with_interceptor(
            self.channel().await,
            bearer,
        )
    }
}

/// `GET /metrics` over a plain HTTP/1.1 connection; returns the body.
pub async fn scrape(addr: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap()
}

/// The value of the sample whose name and labels are exactly `series`.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.trim().parse().unwrap())
}
