//! `oversight admin export`, `oversight admin import` and `oversight verify-export`: the whole
//! log as JSON Lines (format in `oversight::log::export`), checked offline by recomputing every
//! hash, and imported into an empty log with the original positions, times and hashes.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use indicatif::ProgressBar;
use oversight::config::LOG_FILE_NAME;
use oversight::log::checkpoint::SignedCheckpoint;
use oversight::log::export::{ChainCheck, ExportLine, TreeCheck};
use oversight::log::{
    Direction, EventStore, Filter, Head, Importer, ReadAll, RecordedEvent, RedbStore, StoreOptions,
};
use oversight::proto;
use oversight::server::view_paths;

use super::connect::{Connection, progress, record_from_proto};

/// Records per page of an offline read and per import transaction.
const BATCH: usize = 1024;

/// Flags of `oversight admin export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The file to write (JSON Lines, one record per line); it must not exist yet.
    file: PathBuf,
    /// Read the log file of this (stopped) server's data directory instead of a running server.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(flatten)]
    connection: Connection,
}

/// Flags of `oversight admin import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// An export written by `oversight admin export`.
    file: PathBuf,
    /// The data directory to import into; its log must be empty (or absent).
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
}

/// Flags of `oversight verify-export`.
#[derive(Debug, Args)]
pub struct VerifyExportArgs {
    /// An export written by `oversight admin export`.
    file: PathBuf,
    /// Also check the export against a signed checkpoint (the text `oversight log checkpoint`
    /// prints): its signature, and the Merkle root of the export's first records, which must
    /// be the one it states.
    #[arg(long, value_name = "FILE", requires = "key")]
    checkpoint: Option<PathBuf>,
    /// The log's verifier key (`oversight admin key show`), or a file of them; repeatable.
    #[arg(long, value_name = "KEY")]
    key: Vec<String>,
}

/// Where records are read from.
pub enum Source {
    /// A running server, over EventLog/ReadAll.
    Server(Connection),
    /// The log file of a stopped server.
    Offline(PathBuf),
}

/// Reads every record up to the head as it was when the read started, in position order, and
/// hands them to `sink` in batches; returns that head. The log is append-only, so this is a
/// consistent snapshot even while appends go on. `bar`'s length is set to the head position.
pub async fn read_log(
    source: &Source,
    bar: &ProgressBar,
    mut sink: impl FnMut(Vec<RecordedEvent>) -> anyhow::Result<()>,
) -> anyhow::Result<Head> {
    match source {
        Source::Server(connection) => {
            let mut client = connection.event_log().await?;
            let head = client.head(proto::HeadRequest {}).await?.into_inner();
            let hash = head.hash.as_slice().try_into().with_context(|| {
                format!(
                    "{} sent a head hash of {} bytes",
                    connection.server(),
                    head.hash.len()
                )
            })?;
            let head = Head {
                position: head.position,
                hash,
            };
            bar.set_length(head.position);
            if head.position == 0 {
                return Ok(head);
            }
            let mut stream = client
                .read_all(proto::ReadAllRequest {
                    from_position: Some(1),
                    direction: proto::Direction::Forwards as i32,
                    max_count: head.position,
                    filter: None,
                })
                .await?
                .into_inner();
            while let Some(chunk) = stream.message().await? {
                if !chunk.filtered_to_committee.is_empty() {
                    bail!(
                        "the token is scoped to committee {}: {} sends only that committee's events, which are not the whole hash chain an export holds; export with an admin or auditor token that names no committee, or read the committee's events with `oversight log read`",
                        chunk.filtered_to_committee,
                        connection.server()
                    );
                }
                let records = chunk
                    .events
                    .into_iter()
                    .map(record_from_proto)
                    .collect::<anyhow::Result<Vec<_>>>()?;
                sink(records)?;
            }
            Ok(head)
        }
        Source::Offline(data_dir) => {
            let path = data_dir.join(LOG_FILE_NAME);
            if !path.exists() {
                bail!("there is no log at {}", path.display());
            }
            let store = RedbStore::open(&path, StoreOptions::default())?;
            let result = read_store(&store, bar, &mut sink).await;
            store.shutdown().await;
            result
        }
    }
}

async fn read_store(
    store: &RedbStore,
    bar: &ProgressBar,
    sink: &mut impl FnMut(Vec<RecordedEvent>) -> anyhow::Result<()>,
) -> anyhow::Result<Head> {
    let head = store.head().await?;
    bar.set_length(head.position);
    let mut next = Some(1);
    while let Some(from) = next.filter(|p| *p <= head.position) {
        let remaining = usize::try_from(head.position - from + 1).unwrap_or(usize::MAX);
        let page = store
            .read_all_page(ReadAll {
                from_position: Some(from),
                direction: Direction::Forwards,
                max_count: remaining.min(BATCH),
                filter: Filter::default(),
            })
            .await?;
        next = page.next_position;
        sink(page.events)?;
    }
    Ok(head)
}

/// Runs `oversight admin export`.
pub async fn export(args: ExportArgs) -> anyhow::Result<()> {
    let source = match args.data_dir {
        Some(dir) => Source::Offline(dir),
        None => Source::Server(args.connection),
    };
    let file = File::create_new(&args.file)
        .with_context(|| format!("cannot create {}", args.file.display()))?;
    let written = write_export(&source, file).await;
    let head = match written {
        Ok(head) => head,
        Err(e) => {
            // An incomplete export must not be mistaken for a whole one.
            let _ = std::fs::remove_file(&args.file);
            return Err(e);
        }
    };
    println!(
        "exported {} records to {}; head {} {}",
        head.position,
        args.file.display(),
        head.position,
        hex::encode(head.hash)
    );
    Ok(())
}

async fn write_export(source: &Source, file: File) -> anyhow::Result<Head> {
    let mut out = BufWriter::new(file);
    let mut chain = ChainCheck::new();
    let bar = progress(0, "exporting");
    let head = read_log(source, &bar, |records| {
        for record in records {
            let previous = chain.head().hash;
            chain.accept(&record).map_err(|e| {
                anyhow::anyhow!(
                    "record at position {} does not continue the chain: {e}; run `oversight log verify`, or export a stopped server's log with --data-dir",
                    record.position
                )
            })?;
            writeln!(out, "{}", ExportLine::new(&record, previous).to_json())?;
            bar.set_position(record.position);
        }
        Ok(())
    })
    .await;
    bar.finish_and_clear();
    let head = head?;
    out.flush()?;
    out.get_ref().sync_all()?;
    check_head(&chain.head(), &head)?;
    Ok(head)
}

/// Fails unless what was written ends at the source's head.
pub fn check_head(written: &Head, source: &Head) -> anyhow::Result<()> {
    if written != source {
        bail!(
            "read up to position {} ({}) but the log's head was {} ({}); nothing was lost in the log, run the command again",
            written.position,
            hex::encode(written.hash),
            source.position,
            hex::encode(source.hash)
        );
    }
    Ok(())
}

/// Reads an export line by line, checking the chain, and hands the records to `sink` in
/// batches. A bad line fails with its line number and what is wrong.
fn read_export(
    path: &Path,
    mut sink: impl FnMut(&[RecordedEvent]) -> anyhow::Result<()>,
) -> anyhow::Result<Head> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = progress(size, "reading");
    let mut reader = BufReader::new(file);
    let mut chain = ChainCheck::new();
    let mut batch = Vec::with_capacity(BATCH);
    let mut text = String::new();
    let mut number = 0u64;
    let mut read = 0u64;
    let result = loop {
        text.clear();
        let n = match reader.read_line(&mut text) {
            Ok(n) => n,
            Err(e) => break Err(anyhow::anyhow!("line {}: cannot read: {e}", number + 1)),
        };
        if n == 0 {
            break Ok(());
        }
        number += 1;
        read += n as u64;
        bar.set_position(read);
        let checked = ExportLine::parse(text.trim_end_matches(['\n', '\r']))
            .and_then(|line| chain.accept_line(&line));
        match checked {
            Ok(record) => batch.push(record),
            Err(e) => {
                let position = ExportLine::parse(text.trim_end())
                    .map(|line| format!(" (position {})", line.position))
                    .unwrap_or_default();
                break Err(anyhow::anyhow!("line {number}{position}: {e}"));
            }
        }
        if batch.len() >= BATCH {
            if let Err(e) = sink(&batch) {
                break Err(e);
            }
            batch.clear();
        }
    };
    bar.finish_and_clear();
    result?;
    sink(&batch)?;
    Ok(chain.head())
}

/// Runs `oversight verify-export`.
pub fn verify_export(args: VerifyExportArgs) -> anyhow::Result<()> {
    // A file that cannot be opened was not verified at all: that is not a failed verification.
    if let Err(e) = File::open(&args.file) {
        return Err(super::ExitWith {
            code: 2,
            message: format!(
                "cannot open {}: {e}; nothing was verified",
                args.file.display()
            ),
        }
        .into());
    }
    let checkpoint = match &args.checkpoint {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the checkpoint {}", path.display()))?;
            let signed = SignedCheckpoint::parse(&text)
                .with_context(|| format!("{} is not a signed checkpoint", path.display()))?;
            let keys = super::checkpoint::verifier_keys(&args.key)?;
            let by = super::checkpoint::check_signature(&signed, &keys, &[])
                .with_context(|| format!("the checkpoint {}", path.display()))?;
            Some((signed, by))
        }
        None => None,
    };
    let mut tree = TreeCheck::new(checkpoint.as_ref().map_or(0, |(c, _)| c.checkpoint.size));
    let head = read_export(&args.file, |batch| {
        batch.iter().for_each(|record| tree.accept(record));
        Ok(())
    })
    .with_context(|| format!("{} does not verify", args.file.display()))?;
    println!(
        "ok: {} records, hash chain intact; head {} {}",
        head.position,
        head.position,
        hex::encode(head.hash)
    );
    if let Some((signed, by)) = checkpoint {
        tree.finish(&signed.checkpoint.root).with_context(|| {
            format!(
                "{} does not match the checkpoint of {} records",
                args.file.display(),
                signed.checkpoint.size
            )
        })?;
        println!(
            "ok: its first {} records are those of the checkpoint of {} (root {}), signed by {}",
            signed.checkpoint.size,
            signed.checkpoint.origin,
            hex::encode(signed.checkpoint.root),
            by.join(", ")
        );
    }
    Ok(())
}

/// Refuses a data directory whose views belong to another log.
pub fn refuse_stale_views(data_dir: &Path) -> anyhow::Result<()> {
    if let Some(views) = view_paths(data_dir).iter().find(|views| views.exists()) {
        bail!(
            "{} exists; it holds views of another log. Remove it (views are rebuilt from the log at start) or choose an empty directory",
            views.display()
        );
    }
    Ok(())
}

/// Runs `oversight admin import`.
pub fn import(args: ImportArgs) -> anyhow::Result<()> {
    refuse_stale_views(&args.data_dir)?;
    let path = args.data_dir.join(LOG_FILE_NAME);
    let mut importer = Importer::create(&path)?;
    let head = read_export(&args.file, |batch| {
        importer.import_batch(batch)?;
        Ok(())
    })
    .with_context(|| format!("import of {} stopped", args.file.display()))?;
    check_head(&importer.head(), &head)?;
    println!(
        "imported {} records into {}; head {} {}",
        head.position,
        path.display(),
        head.position,
        hex::encode(head.hash)
    );
    Ok(())
}
