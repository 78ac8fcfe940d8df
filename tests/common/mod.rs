//! Boots the real server in-process on `127.0.0.1:0` in a fresh temporary data directory and
//! builds authenticated clients for it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;

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
    pub token: String,
    pub shutdown: ShutdownHandle,
    pub task: tokio::task::JoinHandle<Result<(), ServerError>>,
    pub dir: tempfile::TempDir,
}

impl TestServer {
    /// A server with default settings.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A server whose settings `adjust` may change (data dir and address are set already).
    pub async fn start_with(adjust: impl FnOnce(&mut Settings)) -> Self {
        Self::start_exposed(adjust).await.0
    }

    /// Like [`TestServer::start_with`], and also hands out the server's log and read models, for
    /// setting up aggregates whose RPCs are not under test and for scanning the views. Holding
    /// them keeps the files open after shutdown, so restart tests use `start_with`.
    pub async fn start_exposed(
        adjust: impl FnOnce(&mut Settings),
    ) -> (Self, Arc<dyn EventStore>, Views) {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings {
            data_dir: dir.path().join("data"),
            listen: "127.0.0.1:0".parse().unwrap(),
            shutdown_grace_secs: 5,
            ..Settings::default()
        };
        adjust(&mut settings);
        let server = Server::build(settings).await.expect("server builds");
        let addr = server.local_addr();
        let token = std::fs::read_to_string(server.admin_token_path())
            .unwrap()
            .trim()
            .to_string();
        let shutdown = server.shutdown_handle();
        let store = server.store();
        let views = server.views();
        let task = tokio::spawn(server.with_signals(false).run_until_stopped());
        let server = Self {
            addr,
            token,
            shutdown,
            task,
            dir,
        };
        (server, store, views)
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
