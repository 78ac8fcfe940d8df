//! `oversight admin backup` and `oversight admin restore`.
//!
//! A backup is a log file in the store's own format (`docs/STORAGE.md`), written while the
//! server runs: the records up to the head at the start of the backup are read over
//! EventLog/ReadAll and imported with their original positions, times and hashes into a fresh
//! file, each hash checked on the way. The log is append-only, so that prefix is a consistent
//! snapshot however many appends go on meanwhile. Views are not backed up (they are rebuilt from
//! the log), nor are the token files or the sealed ballots of a voting round still open
//! (`docs/OPERATIONS.md`).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use oversight::ballot_box::BALLOTS_FILE;
use oversight::config::LOG_FILE_NAME;
use oversight::log::{EventStore, Importer, RedbStore, StoreOptions};
use oversight::server::view_paths;

use super::connect::{Connection, progress};
use super::export::{Source, check_head, read_log};

/// Records per transaction of the backup file.
const BACKUP_BATCH: usize = 4096;

/// Flags of `oversight admin backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The backup file to write; it must not exist yet.
    file: PathBuf,
    #[command(flatten)]
    connection: Connection,
}

/// Flags of `oversight admin restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A backup written by `oversight admin backup`.
    file: PathBuf,
    /// The data directory of the (stopped) server to restore into.
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// Replace the log of a data directory that is not empty (its views are removed and rebuilt
    /// at the next start; its sealed ballots are set aside as ballots.redb.pre-restore; its
    /// tokens are kept).
    #[arg(long)]
    force: bool,
}

/// Runs `oversight admin backup`.
pub async fn backup(args: BackupArgs) -> anyhow::Result<()> {
    if args.file.exists() {
        bail!("{} exists already; choose a new file", args.file.display());
    }
    let partial = with_suffix(&args.file, ".partial");
    let result = write_backup(&args, &partial).await;
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    let head = result?;
    std::fs::rename(&partial, &args.file).with_context(|| {
        format!(
            "cannot rename {} to {}",
            partial.display(),
            args.file.display()
        )
    })?;
    println!(
        "backed up {} records to {}; head {} {}",
        head.position,
        args.file.display(),
        head.position,
        hex::encode(head.hash)
    );
    Ok(())
}

async fn write_backup(args: &BackupArgs, partial: &Path) -> anyhow::Result<oversight::log::Head> {
    let mut importer = Importer::create(partial)?;
    let bar = progress(0, "backing up");
    let source = Source::Server(args.connection.clone());
    // The server streams small chunks; commit (and fsync) larger batches.
    let mut pending = Vec::with_capacity(BACKUP_BATCH);
    let head = read_log(&source, &bar, |records| {
        pending.extend(records);
        if pending.len() >= BACKUP_BATCH {
            let head = importer.import_batch(&pending)?;
            pending.clear();
            bar.set_position(head.position);
        }
        Ok(())
    })
    .await;
    bar.finish_and_clear();
    let head = head?;
    importer.import_batch(&pending)?;
    check_head(&importer.head(), &head)?;
    Ok(head)
}

/// Removes the views of the data directory `dir` (its views directory, and the single view file
/// of earlier versions); the server folds them again from the log at its next start.
fn remove_views(dir: &Path) -> anyhow::Result<()> {
    for views in view_paths(dir) {
        let removed = if views.is_dir() {
            std::fs::remove_dir_all(&views)
        } else if views.exists() {
            std::fs::remove_file(&views)
        } else {
            continue;
        };
        removed.with_context(|| format!("cannot remove {}", views.display()))?;
    }
    Ok(())
}

/// Runs `oversight admin restore`.
pub async fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    if !args.file.is_file() {
        bail!("{} is not a backup file", args.file.display());
    }
    let dir = &args.data_dir;
    let occupied = match std::fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_some(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    if occupied && !args.force {
        bail!(
            "{} is not empty; pass --force to replace its log (its views are rebuilt, its tokens kept)",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let log = dir.join(LOG_FILE_NAME);
    if log.exists() {
        // Refuses while a server holds the file.
        let store = RedbStore::open(&log, StoreOptions::default())?;
        store.shutdown().await;
    }

    let restoring = with_suffix(&log, ".restoring");
    std::fs::copy(&args.file, &restoring).with_context(|| {
        format!(
            "cannot copy {} to {}",
            args.file.display(),
            restoring.display()
        )
    })?;
    let checked = verify_file(&restoring).await;
    let head = match checked {
        Ok(head) => head,
        Err(e) => {
            let _ = std::fs::remove_file(&restoring);
            return Err(e.context(format!("{} is not a valid backup", args.file.display())));
        }
    };

    remove_views(dir)?;
    let ballots = dir.join(BALLOTS_FILE);
    if ballots.exists() {
        let aside = with_suffix(&ballots, ".pre-restore");
        std::fs::rename(&ballots, &aside)
            .with_context(|| format!("cannot move {} aside", ballots.display()))?;
        eprintln!(
            "warning: the sealed ballots of {} were set aside as {}; they belong to the log that was replaced",
            dir.display(),
            aside.display()
        );
    }
    std::fs::rename(&restoring, &log)
        .with_context(|| format!("cannot rename {} to {}", restoring.display(), log.display()))?;
    println!(
        "restored {} records into {}; head {} {}",
        head.position,
        log.display(),
        head.position,
        hex::encode(head.hash)
    );
    Ok(())
}

/// Opens a log file, recomputes its whole hash chain and returns its head.
async fn verify_file(path: &Path) -> anyhow::Result<oversight::log::Head> {
    let store = RedbStore::open(path, StoreOptions::default())?;
    let report = store.verify(0, 0).await;
    store.shutdown().await;
    let report = report?;
    if let Some(bad) = report.first_bad {
        bail!(
            "the hash chain is broken at position {}: {}",
            bad.position,
            bad.problem
        );
    }
    Ok(report.head)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
