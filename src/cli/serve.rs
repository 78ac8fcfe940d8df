//! `oversight serve`: loads the layered settings, installs tracing and runs the server.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use oversight::config::{
    LimitOverrides, LogFormat, Overrides, Settings, TlsOverrides, WebOverrides,
};
use oversight::server::Server;

/// Flags of `oversight serve`; each overrides the file and the environment.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML file with settings (keys as in the flags, with `_`; limits under `[limits]`).
    /// Also OVERSIGHT_CONFIG.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Directory of the log (`oversight.redb`) and the token files [default: ./data]
    /// [env: OVERSIGHT_DATA_DIR].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free one [default: 127.0.0.1:50051]
    /// [env: OVERSIGHT_LISTEN].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Log line format: human or json [default: human] [env: OVERSIGHT_LOG_FORMAT].
    #[arg(long, value_name = "FORMAT")]
    log_format: Option<LogFormat>,
    /// Which log lines to keep, EnvFilter syntax, e.g. `info,oversight=debug` [default: info]
    /// [env: OVERSIGHT_LOG_LEVEL].
    #[arg(long, value_name = "FILTER")]
    log_level: Option<String>,
    /// Seconds in-flight calls get to finish after SIGINT/SIGTERM [default: 10]
    /// [env: OVERSIGHT_SHUTDOWN_GRACE_SECS].
    #[arg(long, value_name = "SECS")]
    shutdown_grace_secs: Option<u64>,
    /// Serve Prometheus metrics at http://ADDR/metrics [default: off]
    /// [env: OVERSIGHT_METRICS_LISTEN].
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
    /// Most events in one append [default: 1000] [env: OVERSIGHT_LIMITS__MAX_APPEND_EVENTS].
    #[arg(long, value_name = "N")]
    max_append_events: Option<usize>,
    /// Most payload bytes in one append [default: 4194304]
    /// [env: OVERSIGHT_LIMITS__MAX_APPEND_BYTES].
    #[arg(long, value_name = "BYTES")]
    max_append_bytes: Option<usize>,
    /// Largest gRPC message accepted or sent [default: 8388608]
    /// [env: OVERSIGHT_LIMITS__MAX_MESSAGE_BYTES].
    #[arg(long, value_name = "BYTES")]
    max_message_bytes: Option<usize>,
    /// Events per streamed message of reads and subscriptions [default: 256]
    /// [env: OVERSIGHT_LIMITS__READ_CHUNK].
    #[arg(long, value_name = "N")]
    read_chunk: Option<usize>,
    /// Committed batches buffered for live subscribers before a slow one is cut off
    /// [default: 4096] [env: OVERSIGHT_LIMITS__LIVE_BUFFER].
    #[arg(long, value_name = "N")]
    live_buffer: Option<usize>,
    /// Most events written in one storage transaction (group commit) [default: 4096]
    /// [env: OVERSIGHT_LIMITS__MAX_BATCH_EVENTS].
    #[arg(long, value_name = "N")]
    max_batch_events: Option<usize>,
    /// PEM certificate chain of the server; with --tls-key, the server speaks TLS only
    /// [env: OVERSIGHT_TLS__CERT].
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of the server [env: OVERSIGHT_TLS__KEY].
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// PEM CA certificates of client certificates; every client must then present one
    /// (mutual TLS) [env: OVERSIGHT_TLS__CLIENT_CA].
    #[arg(long, value_name = "FILE")]
    tls_client_ca: Option<PathBuf>,
    /// Serve plaintext on a non-loopback address (only behind a TLS-terminating proxy or on a
    /// private network) [env: OVERSIGHT_TLS__ALLOW_PLAINTEXT].
    #[arg(long)]
    allow_plaintext: bool,
    /// Address the pages are served on; port 0 picks a free one [default: 127.0.0.1:8080]
    /// [env: OVERSIGHT_WEB__LISTEN].
    #[arg(long, value_name = "ADDR")]
    web_listen: Option<SocketAddr>,
    /// The address people open, the base of every printed link, e.g.
    /// https://oversight.example.gov.cn [default: the pages' listen address]
    /// [env: OVERSIGHT_WEB__PUBLIC_URL].
    #[arg(long, value_name = "URL")]
    web_public_url: Option<String>,
}

impl ServeArgs {
    /// The `--config` file, if given.
    pub(super) fn config_file(&self) -> Option<&std::path::Path> {
        self.config.as_deref()
    }

    /// The flags as the top layer of the settings.
    pub(super) fn overrides(&self) -> Overrides {
        Overrides {
            data_dir: self.data_dir.clone(),
            listen: self.listen,
            log_format: self.log_format,
            log_level: self.log_level.clone(),
            shutdown_grace_secs: self.shutdown_grace_secs,
            metrics_listen: self.metrics_listen,
            limits: LimitOverrides {
                max_append_events: self.max_append_events,
                max_append_bytes: self.max_append_bytes,
                max_message_bytes: self.max_message_bytes,
                read_chunk: self.read_chunk,
                live_buffer: self.live_buffer,
                max_batch_events: self.max_batch_events,
            },
            tls: TlsOverrides {
                cert: self.tls_cert.clone(),
                key: self.tls_key.clone(),
                client_ca: self.tls_client_ca.clone(),
                allow_plaintext: self.allow_plaintext.then_some(true),
            },
            web: WebOverrides {
                listen: self.web_listen,
                public_url: self.web_public_url.clone(),
            },
        }
    }
}

/// Runs the server until it is stopped.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let settings = Settings::load(args.config.as_deref(), std::env::vars(), &args.overrides())?;
    oversight::telemetry::init(settings.log_format, &settings.log_level)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let server = Server::build(settings).await?;
        server.run_until_stopped().await?;
        anyhow::Ok(())
    })
}
