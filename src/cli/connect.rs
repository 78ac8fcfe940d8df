//! What the `admin` commands share: the connection to a running server (address and admin
//! token) and progress bars that are drawn only on a terminal.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use oversight::log::RecordedEvent;
use oversight::log::{Actor, ContentType, EventType, Metadata, StreamName};
use oversight::proto;

/// How to reach a running server.
#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// The server's gRPC address.
    #[arg(
        long,
        env = "OVERSIGHT_SERVER",
        default_value = "http://127.0.0.1:50051"
    )]
    server: String,
    /// Bearer token (default: the contents of --token-file).
    #[arg(long, env = "OVERSIGHT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// File holding the bearer token, e.g. the server's `<data-dir>/admin.token`.
    #[arg(
        long,
        value_name = "FILE",
        env = "OVERSIGHT_TOKEN_FILE",
        default_value = "./data/admin.token"
    )]
    token_file: PathBuf,
    #[command(flatten)]
    tls: super::tls::TlsArgs,
}

/// An authenticated channel.
pub type Authed = super::client::AuthChannel;

impl Connection {
    /// The server's address, for messages.
    pub fn server(&self) -> &str {
        &self.server
    }

    fn token(&self) -> anyhow::Result<String> {
        if let Some(token) = &self.token {
            return Ok(token.trim().to_string());
        }
        super::client::read_token(
            &self.token_file,
            "--token or --token-file (the server's <data-dir>/admin.token)",
        )
    }

    /// Connects and returns a channel that sends the token with every call.
    pub async fn connect(&self) -> anyhow::Result<Authed> {
        super::client::authenticated(&self.server, &self.token()?, &self.tls).await
    }

    /// An EventLog client that accepts messages of any size.
    pub async fn event_log(
        &self,
    ) -> anyhow::Result<proto::event_log_client::EventLogClient<Authed>> {
        Ok(
            proto::event_log_client::EventLogClient::new(self.connect().await?)
                .max_decoding_message_size(usize::MAX),
        )
    }
}

/// A progress bar on stderr, hidden when stderr is not a terminal.
pub fn progress(len: u64, message: &'static str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    let style = ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} ({eta} left)")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(message);
    bar
}

/// A spinner on stderr for work whose length is not known in advance (a server-side verify, a
/// timed bench scenario), hidden when stderr is not a terminal.
pub fn spinner(message: String) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    let style = ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    bar.set_style(style);
    bar.set_message(message);
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// A record as the server sent it, back in the log's own types. The hash is the one the
/// server sent; a caller that recomputes the chain finds out if anything was lost on the way.
pub fn record_from_proto(event: proto::RecordedEvent) -> anyhow::Result<RecordedEvent> {
    let position = event.position;
    let context = || format!("the server sent a record at position {position} that");
    let metadata = event.metadata.unwrap_or_default();
    let has_actor = !metadata.actor_subject.is_empty() || !metadata.actor_role.is_empty();
    let actor = has_actor.then_some(Actor {
        subject: metadata.actor_subject,
        role: metadata.actor_role,
    });
    let some = |text: String| (!text.is_empty()).then_some(text);
    let content_type = match proto::ContentType::try_from(event.content_type) {
        Ok(proto::ContentType::Binary) => ContentType::Binary,
        _ => ContentType::Json,
    };
    let recorded_at = event.recorded_at.unwrap_or_default();
    let hash: [u8; 32] = event
        .hash
        .as_slice()
        .try_into()
        .with_context(|| format!("{} has a hash of {} bytes", context(), event.hash.len()))?;
    Ok(RecordedEvent {
        position,
        stream: StreamName::new(event.stream).with_context(context)?,
        revision: event.revision,
        event_id: uuid::Uuid::parse_str(&event.event_id).with_context(context)?,
        event_type: EventType::new(event.event_type).with_context(context)?,
        recorded_at_micros: recorded_at.seconds * 1_000_000 + i64::from(recorded_at.nanos / 1_000),
        metadata: Metadata {
            actor,
            correlation_id: some(metadata.correlation_id),
            causation_id: some(metadata.causation_id),
            committee: some(metadata.committee),
            extra: metadata.extra.into_iter().collect(),
        },
        data: event.data,
        content_type,
        hash,
    })
}
