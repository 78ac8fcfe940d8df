//! `oversight admin link issue`: a one-time sign-in link to the pages (and its QR code) for a
//! token of the data directory, printed with `web.public_url` as its base. Like `admin token`,
//! it runs on the server's host and needs no running server: the link is signed with the
//! pages' key in the data directory and spent in the log when opened.

use std::path::PathBuf;

use anyhow::{Context, bail};
use chrono::Utc;
use clap::{Args, Subcommand};
use oversight::auth::tokens;
use oversight::config::{Overrides, Settings, WebOverrides};
use oversight::web::issue_sign_in_link;

/// Flags of `oversight admin link`.
#[derive(Debug, Args)]
pub struct LinkArgs {
    #[command(subcommand)]
    command: LinkCommand,
}

#[derive(Debug, Subcommand)]
enum LinkCommand {
    /// Issue a one-time sign-in link for a token and print its URL (the token's own secret is
    /// never needed or shown).
    Issue(IssueArgs),
}

/// Flags of `oversight admin link issue`.
#[derive(Debug, Args)]
pub struct IssueArgs {
    /// The token's id, as `oversight admin token list` shows it.
    #[arg(long, value_name = "ID", required_unless_present = "subject")]
    token_id: Option<String>,
    /// Instead of --token-id: the subject whose one active token the link signs in as.
    #[arg(long, conflicts_with = "token_id")]
    subject: Option<String>,
    /// How long the link stays usable, e.g. 90m, 12h, 3d [default: web.link_ttl_hours].
    #[arg(long, value_name = "DURATION")]
    expires: Option<String>,
    /// The base of the printed URL [default: web.public_url, else the pages' listen address].
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// Also write the link as a QR code to this SVG file.
    #[arg(long, value_name = "FILE")]
    qr: Option<PathBuf>,
    /// The server's data directory [default: ./data] [env: OVERSIGHT_DATA_DIR].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The server's TOML settings file (for web.public_url and web.link_ttl_hours); also
    /// OVERSIGHT_CONFIG.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print one JSON document instead of the URL.
    #[arg(long)]
    json: bool,
}

/// Runs an `admin link` command.
pub fn run(args: LinkArgs) -> anyhow::Result<()> {
    let LinkCommand::Issue(args) = args.command;
    let overrides = Overrides {
        data_dir: args.data_dir.clone(),
        web: WebOverrides {
            public_url: args.public_url.clone(),
            ..WebOverrides::default()
        },
        ..Overrides::default()
    };
    let settings = Settings::load(args.config.as_deref(), std::env::vars(), &overrides)?;
    let now = Utc::now();
    let token_id = match (args.token_id, args.subject) {
        (Some(id), _) => id,
        (None, Some(subject)) => {
            let active: Vec<_> = tokens::list(&settings.data_dir, now)?
                .into_iter()
                .filter(|t| t.subject == subject && t.status == "active")
                .collect();
            match active.as_slice() {
                [one] => one.id.clone(),
                [] => bail!(
                    "{subject} has no active token; issue one with `oversight admin token issue`"
                ),
                many => bail!(
                    "{subject} has {} active tokens ({}); choose one with --token-id",
                    many.len(),
                    many.iter()
                        .map(|t| t.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }
        (None, None) => bail!("give --token-id or --subject"),
    };
    let ttl = match args.expires {
        Some(text) => tokens::parse_expiry(&text, now)? - now,
        None => chrono::Duration::hours(
            i64::try_from(settings.web.link_ttl_hours)
                .context("web.link_ttl_hours is too large")?,
        ),
    };
    let base = settings.web_base_url(settings.web.listen);
    let link = issue_sign_in_link(&settings.data_dir, &token_id, &base, ttl, now)?;
    if let Some(path) = &args.qr {
        std::fs::write(path, link.qr_svg()?)
            .with_context(|| format!("cannot write the QR code to {}", path.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string(&link)?);
    } else {
        println!("{}", link.url);
        eprintln!(
            "sign-in link for {} ({}{}), usable once until {}",
            link.subject,
            link.role,
            link.committee
                .as_deref()
                .map_or_else(String::new, |c| format!(", committee {c}")),
            link.expires_at.format("%Y-%m-%dT%H:%M:%SZ")
        );
    }
    Ok(())
}
