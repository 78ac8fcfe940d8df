//! `oversight admin setup`: one command that gives a committee's office and members what they
//! need to start: a token each (clerk, chair, every member), written to a file of its own that
//! only its owner can read, and a one-time sign-in link to the pages for each. Like `admin token`
//! it runs on the server's host, on the data directory, and needs no running server.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::Utc;
use clap::Args;
use oversight::api::Role;
use oversight::auth::tokens::{self, IssueRequest};
use oversight::config::{Overrides, Settings, WebOverrides};
use oversight::web::issue_sign_in_link;
use serde_json::json;

/// Flags of `oversight admin setup`.
#[derive(Debug, Args)]
pub struct SetupArgs {
    /// The committee the tokens act for.
    #[arg(long, value_name = "ID")]
    committee: String,
    /// The members' ids (their tokens' subjects), comma-separated, e.g. m1,m2,m3.
    #[arg(long, value_name = "IDS", value_delimiter = ',', required = true)]
    members: Vec<String>,
    /// The clerk's subject [default: clerk-<committee>].
    #[arg(long, value_name = "SUBJECT")]
    clerk: Option<String>,
    /// The chair's subject [default: chair-<committee>].
    #[arg(long, value_name = "SUBJECT")]
    chair: Option<String>,
    /// Where the token files go (created, readable by you only): clerk.token, chair.token and
    /// <member>.token.
    #[arg(long, value_name = "DIR", default_value = "tokens")]
    dir: PathBuf,
    /// When the tokens stop working: an RFC 3339 time or a duration (90m, 12h, 30d, 8w)
    /// [default: never].
    #[arg(long, value_name = "WHEN")]
    expires: Option<String>,
    /// The base of the sign-in links [default: web.public_url, else the pages' listen address].
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// The server's data directory [default: ./data] [env: OVERSIGHT_DATA_DIR].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The server's TOML settings file (data_dir, web.public_url, web.link_ttl_hours); also
    /// OVERSIGHT_CONFIG.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print one JSON object per person instead of a table.
    #[arg(long)]
    json: bool,
}

/// One person of the office.
struct Person {
    /// The token file's name without `.token`.
    stem: String,
    subject: String,
    role: Role,
}

/// Runs `admin setup`.
pub fn run(args: SetupArgs) -> anyhow::Result<()> {
    let overrides = Overrides {
        data_dir: args.data_dir.clone(),
        web: WebOverrides {
            public_url: args.public_url.clone(),
            ..WebOverrides::default()
        },
        ..Overrides::default()
    };
    let settings = Settings::load(args.config.as_deref(), std::env::vars(), &overrides)?;
    let committee = args.committee;
    let mut people = vec![
        Person {
            stem: "clerk".into(),
            subject: args.clerk.unwrap_or_else(|| format!("clerk-{committee}")),
            role: Role::Clerk,
        },
        Person {
            stem: "chair".into(),
            subject: args.chair.unwrap_or_else(|| format!("chair-{committee}")),
            role: Role::Chair,
        },
    ];
    for member in args.members {
        let member = member.trim().to_string();
        if member.is_empty() || member.contains(['/', '\\']) || member.starts_with('.') {
            bail!("--members: {member:?} is not a member id (a token file is named after it)");
        }
        people.push(Person {
            stem: member.clone(),
            subject: member,
            role: Role::CommitteeMember,
        });
    }
    let mut stems: Vec<&str> = people.iter().map(|p| p.stem.as_str()).collect();
    stems.sort_unstable();
    if let Some(twice) = stems.windows(2).find(|w| w[0] == w[1]) {
        bail!(
            "--members names {} twice (or names the clerk or the chair)",
            twice[0]
        );
    }

    // Nothing is issued unless every file can be written: an existing one is never replaced.
    let now = Utc::now();
    tokens::list(&settings.data_dir, now)?;
    create_private_dir(&args.dir)?;
    let path = |p: &Person| args.dir.join(format!("{}.token", p.stem));
    let taken: Vec<String> = people
        .iter()
        .map(path)
        .filter(|f| f.exists())
        .map(|f| f.display().to_string())
        .collect();
    if !taken.is_empty() {
        bail!(
            "{} already exist; move them away (and revoke their tokens with `oversight admin \
             token revoke`) before setting up again",
            taken.join(", ")
        );
    }

    let expires_at = args
        .expires
        .map(|text| tokens::parse_expiry(&text, now))
        .transpose()?;
    let ttl = chrono::Duration::hours(
        i64::try_from(settings.web.link_ttl_hours).context("web.link_ttl_hours is too large")?,
    );
    let base = settings.web_base_url(settings.web.listen);
    if !args.json {
        println!(
            "{:<8} {:<16} {:<18} {:<24} SIGN-IN LINK (once, until {})",
            "WHO",
            "SUBJECT",
            "ROLE",
            "TOKEN FILE",
            (now + ttl).format("%Y-%m-%dT%H:%M:%SZ")
        );
    }
    for person in &people {
        let (token, info) = tokens::issue(
            &settings.data_dir,
            IssueRequest {
                subject: person.subject.clone(),
                role: person.role,
                committee: Some(committee.clone()),
                deputy_group: None,
                expires_at,
            },
            now,
        )?;
        let file = path(person);
        write_private(&file, format!("{token}\n").as_bytes())?;
        let link = issue_sign_in_link(&settings.data_dir, &info.id, &base, ttl, now)?;
        if args.json {
            println!(
                "{}",
                json!({ "subject": info.subject, "role": info.role.as_str(),
                        "committee": committee, "token_id": info.id,
                        "token_file": file.display().to_string(), "sign_in_link": link.url })
            );
        } else {
            println!(
                "{:<8} {:<16} {:<18} {:<24} {}",
                person.stem,
                info.subject,
                info.role.as_str(),
                file.display(),
                link.url
            );
        }
    }
    if !args.json {
        eprintln!(
            "issued {} tokens for committee {committee}; each is in its file only (the data \
             directory keeps its SHA-256); a link is spent when opened, `oversight admin link \
             issue --subject SUBJECT` issues another",
            people.len()
        );
    }
    Ok(())
}

/// Creates `dir` (and its parents) readable by its owner only, or checks that it exists.
fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}

/// Writes a new file readable and writable by its owner only (0600).
fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}
