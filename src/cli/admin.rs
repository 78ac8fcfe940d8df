//! `oversight admin …`: operating a server — export and import of the log, backup and
//! restore, view rebuilds. Each subcommand's flags and code live in its own module
//! (`export`, `backup`, this file for `rebuild`); a new admin subcommand adds one variant to
//! [`AdminCommand`] and one arm to [`run`].

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use oversight::proto;

use super::backup::{self, BackupArgs, RestoreArgs};
use super::connect::{Connection, progress};
use super::export::{self, ExportArgs, ImportArgs};

/// `oversight admin …`.
#[derive(Debug, Args)]
pub struct AdminArgs {
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Write the whole log as JSON Lines (one record per line, with the previous hash and its
    /// own), from a running server or, with --data-dir, from a stopped server's files.
    Export(ExportArgs),
    /// Import an export into an empty data directory, keeping the original positions, times
    /// and hashes (every hash is checked; views are rebuilt when the server starts).
    Import(ImportArgs),
    /// Take a consistent backup of a running server's log into a new file.
    Backup(BackupArgs),
    /// Restore a backup into a stopped server's data directory, after checking its hash chain.
    Restore(RestoreArgs),
    /// Drop a view and refold it from the log on a running server, showing progress.
    Rebuild(RebuildArgs),
    /// Show a running server's log head and how far each view is behind it
    /// (Operations/Status).
    Status(StatusArgs),
    /// Issue, list and revoke bearer tokens in the data directory (on the server's host; a
    /// running server picks changes up on its next call).
    Token(super::admin_token::TokenArgs),
    /// Issue one-time sign-in links to the pages (with a QR code) for tokens in the data
    /// directory.
    Link(super::admin_link::LinkArgs),
    /// Show the log's public signing key, or prepare a new one (on the server's host).
    Key(super::checkpoint::KeyArgs),
    /// Set up a committee's office and members: a token each (clerk, chair, every member) in
    /// a file of its own under tokens/ (0600), and each one's sign-in link to the pages.
    Setup(super::admin_setup::SetupArgs),
}

/// Flags of `oversight admin status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print one JSON document instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    connection: Connection,
}

/// Flags of `oversight admin rebuild`.
#[derive(Debug, Args)]
pub struct RebuildArgs {
    /// The view to rebuild, as `oversight log`'s Operations/Status names it (e.g. registry).
    view: String,
    #[command(flatten)]
    connection: Connection,
}

/// Runs an admin command.
pub fn run(args: AdminArgs) -> anyhow::Result<()> {
    let command = match args.command {
        AdminCommand::Token(args) => return super::admin_token::run(args),
        AdminCommand::Link(args) => return super::admin_link::run(args),
        AdminCommand::Key(args) => return super::checkpoint::key(args),
        AdminCommand::Setup(args) => return super::admin_setup::run(args),
        command => command,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match command {
        AdminCommand::Export(args) => runtime.block_on(export::export(args)),
        AdminCommand::Import(args) => export::import(args),
        AdminCommand::Backup(args) => runtime.block_on(backup::backup(args)),
        AdminCommand::Restore(args) => runtime.block_on(backup::restore(args)),
        AdminCommand::Rebuild(args) => runtime.block_on(rebuild(args)),
        AdminCommand::Status(args) => runtime.block_on(status(args)),
        AdminCommand::Token(args) => super::admin_token::run(args),
        AdminCommand::Link(args) => super::admin_link::run(args),
        AdminCommand::Key(args) => super::checkpoint::key(args),
        AdminCommand::Setup(args) => super::admin_setup::run(args),
    }
}

async fn status(args: StatusArgs) -> anyhow::Result<()> {
    let mut client =
        proto::operations_client::OperationsClient::new(args.connection.connect().await?);
    let status = client.status(proto::StatusRequest {}).await?.into_inner();
    if args.json {
        let views: Vec<_> = status
            .views
            .iter()
            .map(|v| {
                serde_json::json!({
                    "name": v.name,
                    "checkpoint": v.checkpoint,
                    "behind_positions": v.behind_positions,
                    "behind_seconds": v.behind_seconds,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "head_position": status.head_position,
                "head_hash": hex::encode(&status.head_hash),
                "log_writable": status.log_writable,
                "views": views,
            })
        );
        return Ok(());
    }
    println!(
        "head {} {}",
        status.head_position,
        hex::encode(&status.head_hash)
    );
    if status.log_writable {
        println!("log writable");
    } else {
        println!(
            "log NOT WRITABLE after a storage failure (a full disk?): appends are refused and \
             reads are served as the log stood; the next append tries to reopen it"
        );
    }
    let width = status.views.iter().map(|v| v.name.len()).max().unwrap_or(4);
    println!(
        "{:<width$}  {:>10}  {:>16}  {:>14}",
        "view", "checkpoint", "behind positions", "behind seconds"
    );
    for v in &status.views {
        println!(
            "{:<width$}  {:>10}  {:>16}  {:>14.1}",
            v.name, v.checkpoint, v.behind_positions, v.behind_seconds
        );
    }
    Ok(())
}

async fn rebuild(args: RebuildArgs) -> anyhow::Result<()> {
    let mut client =
        proto::operations_client::OperationsClient::new(args.connection.connect().await?);
    let mut stream = client
        .rebuild_view(proto::RebuildViewRequest {
            name: args.view.clone(),
        })
        .await?
        .into_inner();
    let bar = progress(0, "rebuilding");
    let mut last = None;
    let outcome = async {
        while let Some(step) = stream.message().await? {
            bar.set_length(step.target);
            bar.set_position(step.checkpoint);
            let done = step.done;
            last = Some(step);
            if done {
                break;
            }
        }
        anyhow::Ok(())
    }
    .await;
    bar.finish_and_clear();
    outcome?;
    match last {
        Some(step) if step.done => {
            println!(
                "view {} rebuilt up to position {} (target {})",
                args.view, step.checkpoint, step.target
            );
            Ok(())
        }
        _ => bail!(
            "the server ended the rebuild of {} before it was done; it resumes from its checkpoint",
            args.view
        ),
    }
}
