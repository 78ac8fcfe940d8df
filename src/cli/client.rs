//! What every client command shares: where the server is, which token to present, how to print
//! the answer, and the one place a connection is made ([`ClientArgs::connect`]).

use std::future::Future;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use super::output::Format;

/// Options shared by every client command.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Connection and output")]
pub struct ClientArgs {
    /// The server's gRPC address.
    #[arg(
        long,
        global = true,
        env = "OVERSIGHT_SERVER",
        default_value = "http://127.0.0.1:50051"
    )]
    pub server: String,
    /// Bearer token (default: the contents of --token-file, or of <data-dir>/admin.token).
    #[arg(long, global = true, env = "OVERSIGHT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// File holding the bearer token.
    #[arg(long, global = true, value_name = "FILE", env = "OVERSIGHT_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// The server's data directory, where the admin token is found when neither --token nor
    /// --token-file is given.
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        env = "OVERSIGHT_DATA_DIR",
        default_value = "./data"
    )]
    pub data_dir: PathBuf,
    /// Print JSON instead of aligned tables: one object per line for lists, one document for a
    /// single record or command.
    #[arg(long, global = true, conflicts_with = "csv")]
    pub json: bool,
    /// Print lists as CSV with a header row (for spreadsheets and scripts).
    #[arg(long, global = true)]
    pub csv: bool,
    #[command(flatten)]
    pub tls: super::tls::TlsArgs,
}

/// An authenticated channel: every call carries `authorization: Bearer <token>`.
pub type AuthChannel = InterceptedService<Channel, Bearer>;

/// Adds the bearer header to every call.
#[derive(Clone)]
pub struct Bearer(MetadataValue<Ascii>);

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

impl ClientArgs {
    /// How answers are printed.
    pub fn format(&self) -> Format {
        if self.json {
            Format::Json
        } else if self.csv {
            Format::Csv
        } else {
            Format::Table
        }
    }

    /// The bearer token: --token, else the file of --token-file, else `<data-dir>/admin.token`.
    pub fn token(&self) -> anyhow::Result<String> {
        if let Some(token) = &self.token {
            return Ok(token.trim().to_string());
        }
        let path = self
            .token_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join(oversight::auth::ADMIN_TOKEN_FILE));
        read_token(&path, "--token, --token-file or the server's --data-dir")
    }

    /// Connects to the server; every client command connects here and nowhere else.
    pub async fn connect(&self) -> anyhow::Result<AuthChannel> {
        super::positions::use_server(&self.server);
        authenticated(&self.server, &self.token()?, &self.tls).await
    }
}

/// Reads a bearer token from `path`; `hint` names the flags that supply one.
pub fn read_token(path: &std::path::Path, hint: &str) -> anyhow::Result<String> {
    let token = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the token from {}; pass {hint}", path.display()))?;
    Ok(token.trim().to_string())
}

/// Connects to `server` (over TLS for https://) with a channel that sends `token` with every
/// call: the one connection code of the client commands and the admin commands.
pub async fn authenticated(
    server: &str,
    token: &str,
    tls: &super::tls::TlsArgs,
) -> anyhow::Result<AuthChannel> {
    let bearer: MetadataValue<_> = format!("Bearer {token}")
        .parse()
        .context("the token contains characters not allowed in a header")?;
    let channel = tls.connect(server).await?;
    Ok(InterceptedService::new(channel, Bearer(bearer)))
}

/// The log position a query waits for so that it sees what this client's commands wrote: the
/// position of its latest command on this server (see [`super::positions`]), 0 when none.
pub fn fresh_position() -> u64 {
    super::positions::kept()
}

/// Runs a client command on a single-threaded runtime.
pub fn block_on(future: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(future)
}
