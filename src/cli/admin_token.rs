//! `oversight admin token …`: issue, list and revoke bearer tokens in a server's data
//! directory. Run on the server's host as the user that owns the data directory: the commands
//! edit `tokens.json` atomically, and the running server re-reads it on its next call, so a
//! revocation takes effect at once. The secret of an issued token is printed once and never
//! stored.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::Utc;
use clap::{Args, Subcommand};
use oversight::api::Role;
use oversight::auth::tokens::{self, IssueRequest, Revoke, TokenInfo};
use oversight::config::LOG_FILE_NAME;
use oversight::domain::ids::{CommitteeId, committee_stream};
use oversight::log::{
    Direction, EventStore, ReadError, ReadStream, RedbStore, StoreOptions, StreamName,
};
use oversight::proto::GetCommitteeRequest;
use oversight::proto::registry_client::RegistryClient;

/// Flags of `oversight admin token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The server's data directory (where tokens.json and admin.token are).
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        env = "OVERSIGHT_DATA_DIR",
        default_value = "./data"
    )]
    data_dir: PathBuf,
    /// Print JSON instead of aligned columns.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Issue a token and print it once; only its SHA-256 digest is kept.
    Issue {
        /// Who the token is for (for role appointee, use --appointee instead).
        #[arg(long, required_unless_present = "appointee")]
        subject: Option<String>,
        /// admin, clerk, chair, committee_member, deputy, appointee, reporter or auditor.
        #[arg(long)]
        role: Role,
        /// The committee the token acts for (needed by clerk, chair, committee_member).
        #[arg(long, value_name = "ID")]
        committee: Option<String>,
        /// The deputy group of a deputy.
        #[arg(long, value_name = "ID")]
        group: Option<String>,
        /// The appointee id of an appointee token (becomes its subject).
        #[arg(long, value_name = "ID", conflicts_with = "subject")]
        appointee: Option<String>,
        /// When the token stops working: an RFC 3339 time or a duration (90m, 12h, 30d, 8w).
        #[arg(long, value_name = "WHEN")]
        expires: Option<String>,
        /// Issue the token even when --committee does not exist (yet): it reaches nothing until
        /// the committee is created.
        #[arg(long)]
        force: bool,
        /// The running server, asked (with the data directory's admin token) whether
        /// --committee exists; when none answers, the log of the stopped server is read.
        #[arg(
            long,
            env = "OVERSIGHT_SERVER",
            default_value = "http://127.0.0.1:50051"
        )]
        server: String,
        #[command(flatten)]
        tls: super::tls::TlsArgs,
    },
    /// List the tokens (never their secrets or digests).
    List,
    /// Revoke a token by id, or every token of a subject; applies to the next call.
    Revoke {
        /// The token's id, as listed.
        #[arg(required_unless_present = "subject", conflicts_with = "subject")]
        id: Option<String>,
        /// Revoke every active token of this subject.
        #[arg(long)]
        subject: Option<String>,
    },
}

/// Runs an `admin` command.
pub fn run(args: TokenArgs) -> anyhow::Result<()> {
    let now = Utc::now();
    match args.command {
        TokenCommand::Issue {
            subject,
            role,
            committee,
            group,
            appointee,
            expires,
            force,
            server,
            tls,
        } => {
            let subject = match (role, appointee, subject) {
                (Role::Appointee, Some(appointee), _) => appointee,
                (Role::Appointee, None, _) => {
                    bail!("role appointee needs --appointee ID: the token acts as that appointee")
                }
                (_, Some(_), _) => bail!("--appointee is only for role appointee"),
                (_, None, Some(subject)) => subject,
                (_, None, None) => bail!("--subject is required"),
            };
            let expires_at = expires
                .map(|text| tokens::parse_expiry(&text, now))
                .transpose()?;
            // An admin naming a committee is refused by the issue itself, whatever exists.
            if let Some(committee) = &committee
                && role != Role::Admin
                && !force
            {
                check_committee(&args.data_dir, &server, &tls, committee)?;
            }
            let request = IssueRequest {
                subject,
                role,
                committee,
                deputy_group: group,
                expires_at,
            };
            let (token, info) = tokens::issue(&args.data_dir, request, now)?;
            if args.json {
                let out = serde_json::json!({ "token": token, "info": info });
                println!("{out}");
            } else {
                println!("{token}");
                eprintln!(
                    "issued {} for {} ({}); this is the only time the token is shown",
                    info.id, info.subject, info.role
                );
            }
        }
        TokenCommand::List => {
            let listed = tokens::list(&args.data_dir, now)?;
            if args.json {
                for info in &listed {
                    println!("{}", serde_json::to_string(info)?);
                }
            } else {
                print_table(&listed);
            }
        }
        TokenCommand::Revoke { id, subject } => {
            let which = match (id, subject) {
                (Some(id), _) => Revoke::Id(id),
                (None, Some(subject)) => Revoke::Subject(subject),
                (None, None) => bail!("give a token id or --subject"),
            };
            let revoked = tokens::revoke(&args.data_dir, &which, now)?;
            for info in &revoked {
                if args.json {
                    println!("{}", serde_json::to_string(info)?);
                } else {
                    println!("revoked {} ({}, {})", info.id, info.subject, info.role);
                }
            }
        }
    }
    Ok(())
}

/// Refuses a committee that does not exist, asking the running server or, when none answers,
/// reading the log of the stopped one; warns when neither can tell.
fn check_committee(
    data_dir: &Path,
    server: &str,
    tls: &super::tls::TlsArgs,
    committee: &str,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match runtime.block_on(committee_exists(data_dir, server, tls, committee)) {
        Ok((true, _)) => Ok(()),
        Ok((false, asked)) => bail!(
            "committee {committee} does not exist ({asked}); create it first, or pass --force to issue the token anyway (it reaches nothing until the committee exists)"
        ),
        Err(why) => {
            eprintln!(
                "warning: could not check that committee {committee} exists ({why}); the token is issued, and reaches nothing until the committee exists"
            );
            Ok(())
        }
    }
}

/// Whether `committee` exists, and whom that was asked; `Err` says why nobody could tell.
async fn committee_exists(
    data_dir: &Path,
    server: &str,
    tls: &super::tls::TlsArgs,
    committee: &str,
) -> Result<(bool, String), String> {
    let online = async {
        let token = super::client::read_token(
            &data_dir.join(oversight::auth::ADMIN_TOKEN_FILE),
            "--data-dir (the server's data directory)",
        )?;
        let channel = super::client::authenticated(server, &token, tls).await?;
        let asked = RegistryClient::new(channel)
            .get_committee(GetCommitteeRequest {
                committee_id: committee.to_string(),
                min_position: 0,
            })
            .await;
        match asked {
            Ok(_) => Ok(true),
            Err(status) if status.code() == tonic::Code::NotFound => Ok(false),
            Err(status) => Err(anyhow::anyhow!("{}", status.message())),
        }
    };
    let online_error = match online.await {
        Ok(found) => return Ok((found, format!("asked {server}"))),
        Err(error) => format!("{server}: {error:#}"),
    };
    let path = data_dir.join(LOG_FILE_NAME);
    if !path.exists() {
        return Ok((false, format!("{} holds no log yet", data_dir.display())));
    }
    let stream = CommitteeId::parse(committee)
        .map_err(|e| e.to_string())
        .and_then(|id| StreamName::new(committee_stream(&id)).map_err(|e| e.to_string()))?;
    let store = RedbStore::open(&path, StoreOptions::default())
        .map_err(|e| format!("{online_error}; and {} cannot be read: {e}", path.display()))?;
    let read = store
        .read_stream(ReadStream {
            stream,
            from_revision: None,
            direction: Direction::Forwards,
            max_count: 1,
        })
        .await;
    store.shutdown().await;
    let read_in = format!("read in {}", path.display());
    match read {
        Ok(events) => Ok((!events.is_empty(), read_in)),
        Err(ReadError::StreamNotFound(_)) => Ok((false, read_in)),
        Err(e) => Err(format!("{online_error}; and {}: {e}", path.display())),
    }
}

fn print_table(listed: &[TokenInfo]) {
    let time = |t: Option<chrono::DateTime<Utc>>| {
        t.map_or_else(
            || "-".to_string(),
            |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        )
    };
    println!(
        "{:<18} {:<20} {:<16} {:<14} {:<14} {:<20} {:<8}",
        "ID", "SUBJECT", "ROLE", "COMMITTEE", "GROUP", "EXPIRES", "STATUS"
    );
    for info in listed {
        println!(
            "{:<18} {:<20} {:<16} {:<14} {:<14} {:<20} {:<8}",
            info.id,
            info.subject,
            info.role.as_str(),
            info.committee.as_deref().unwrap_or("-"),
            info.deputy_group.as_deref().unwrap_or("-"),
            time(info.expires_at),
            info.status
        );
    }
}
