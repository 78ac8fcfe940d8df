//! `oversight log …`: client commands for the EventLog of a running server.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use oversight::proto::event_log_client::EventLogClient;
use oversight::proto::{
    self, AppendMultiRequest, AppendRequest, ExpectedRevision, HeadRequest, ProposedEvent,
    ReadAllRequest, ReadStreamRequest, SubscribeRequest, VerifyRequest, expected_revision::Kind,
    subscribe_request::Start, subscribe_response::Message,
};
use serde_json::{Value, json};

use super::client::{ClientArgs, block_on};
use super::output::Format;

/// Flags of `oversight log`.
#[derive(Debug, Args)]
pub struct LogArgs {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    command: LogCommand,
}

#[derive(Debug, Subcommand)]
enum LogCommand {
    /// Append one event to a stream.
    Append {
        /// The stream, e.g. notes-42.
        #[arg(long)]
        stream: String,
        /// The event type, e.g. NoteTaken.v1.
        #[arg(long = "type", value_name = "TYPE")]
        event_type: String,
        /// The payload, as JSON.
        #[arg(long, value_name = "JSON")]
        data: String,
        /// The revision the stream must be at: any, no-stream, exists, or a number.
        #[arg(long, default_value = "any", value_name = "any|no-stream|exists|N")]
        expected: String,
        /// A UUID that makes the append idempotent (default: a fresh one per call).
        #[arg(long, value_name = "UUID")]
        event_id: Option<String>,
    },
    /// Append to several streams at once, all or nothing (AppendMulti), from a JSON file: a
    /// list of `{"stream": "...", "expected": "any|no-stream|exists|N", "events": [{"type":
    /// "...", "data": {...}, "event_id": "UUID (optional)"}]}`. An entry with `"events": []` is
    /// a condition: nothing is written unless its stream is at `expected`.
    AppendMulti {
        /// The JSON file (`-` for standard input).
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Read one stream from its first revision.
    ReadStream {
        /// The stream.
        stream: String,
        /// First revision to print.
        #[arg(long, value_name = "N")]
        from: Option<u64>,
        /// Read from newest to oldest.
        #[arg(long)]
        backwards: bool,
        /// Print at most this many events (0: all).
        #[arg(long, default_value_t = 0, value_name = "N")]
        max: u64,
    },
    /// Read the whole log, optionally filtered.
    Read {
        /// First position to print.
        #[arg(long, value_name = "N")]
        from: Option<u64>,
        /// Keep only streams starting with this prefix (repeatable).
        #[arg(long, value_name = "P")]
        stream_prefix: Vec<String>,
        /// Keep only events of this type (repeatable).
        #[arg(long = "type", value_name = "TYPE")]
        event_type: Vec<String>,
        /// Read from newest to oldest.
        #[arg(long)]
        backwards: bool,
        /// Print at most this many events (0: all).
        #[arg(long, default_value_t = 0, value_name = "N")]
        max: u64,
    },
    /// Follow the log: history from a position, then live events until Ctrl-C.
    Tail {
        /// First position to print (default: 1).
        #[arg(long, value_name = "N", conflicts_with = "now")]
        from: Option<u64>,
        /// Only print events committed from now on.
        #[arg(long)]
        now: bool,
        /// Keep only streams starting with this prefix (repeatable).
        #[arg(long, value_name = "P")]
        stream_prefix: Vec<String>,
        /// Keep only events of this type (repeatable).
        #[arg(long = "type", value_name = "TYPE")]
        event_type: Vec<String>,
    },
    /// Print the newest position and the chain head hash.
    ///
    /// Reads move the head too: every EventLog read and subscription (`log read`,
    /// `read-stream`, `tail` …) is recorded as a `LogRead.v1` event in the `audit` stream before
    /// it is served (unless the server's `audit.log_reads` is off). After one append and two
    /// reads the head is 3. `head` and `verify` themselves are not recorded.
    Head,
    /// Print the log's latest signed checkpoint (or the one of --size); with --key, check its
    /// signature (following the log's key rotations).
    Checkpoint {
        /// The checkpoint's size (0: the latest).
        #[arg(long, default_value_t = 0, value_name = "N")]
        size: u64,
        /// The log's verifier key (`oversight admin key show`), or a file of them; repeatable.
        #[arg(long, value_name = "KEY")]
        key: Vec<String>,
    },
    /// Prove that the record at a position is in the log: fetch its inclusion proof and the
    /// signed checkpoint, check the signature with --key and the proof against the root.
    Prove {
        /// The record's position.
        position: u64,
        /// The checkpoint's size (0: the latest).
        #[arg(long, default_value_t = 0, value_name = "N")]
        size: u64,
        /// The log's verifier key, or a file of them; repeatable.
        #[arg(long, value_name = "KEY", required = true)]
        key: Vec<String>,
    },
    /// Check that the log extends an older signed checkpoint (a file, e.g. kept from `log
    /// checkpoint`): no record of it was changed or removed since (exit 1 if not).
    Consistency {
        /// The older checkpoint, as text.
        #[arg(value_name = "FILE")]
        old: PathBuf,
        /// The newer checkpoint's size (0: the latest).
        #[arg(long, default_value_t = 0, value_name = "N")]
        size: u64,
        /// The log's verifier key, or a file of them; repeatable.
        #[arg(long, value_name = "KEY", required = true)]
        key: Vec<String>,
    },
    /// Recompute the hash chain and name the first bad record, if any (exit 1 if one is bad).
    Verify {
        /// First position to check (default: 1).
        #[arg(long, default_value_t = 0, value_name = "N")]
        from: u64,
        /// Last position to check (default: the head).
        #[arg(long, default_value_t = 0, value_name = "N")]
        to: u64,
    },
}

/// Runs a client command.
pub fn run(args: LogArgs) -> anyhow::Result<()> {
    block_on(run_async(args))
}

fn expected(text: &str) -> anyhow::Result<ExpectedRevision> {
    let kind = match text {
        "any" => Kind::Any(()),
        "no-stream" | "no_stream" => Kind::NoStream(()),
        "exists" | "stream-exists" | "stream_exists" => Kind::StreamExists(()),
        n => Kind::Exact(n.parse().with_context(|| {
            format!("--expected {n:?} is not any, no-stream, exists or a revision number")
        })?),
    };
    Ok(ExpectedRevision { kind: Some(kind) })
}

/// Reads an AppendMulti request from a JSON file (or standard input for `-`).
fn multi_request(file: &std::path::Path) -> anyhow::Result<Vec<proto::StreamAppend>> {
    let text = if file == std::path::Path::new("-") {
        std::io::read_to_string(std::io::stdin()).context("cannot read standard input")?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?
    };
    let document: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
    let Some(entries) = document.as_array() else {
        bail!("{} must hold a JSON list of stream appends", file.display());
    };
    let mut appends = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let Some(stream) = entry["stream"].as_str() else {
            bail!("entry {i}: \"stream\" must be a string");
        };
        let expected_text = entry["expected"].as_str().unwrap_or("any");
        let Some(events) = entry["events"].as_array() else {
            bail!("entry {i}: \"events\" must be a list");
        };
        let mut proposed = Vec::with_capacity(events.len());
        for (j, event) in events.iter().enumerate() {
            let Some(event_type) = event["type"].as_str() else {
                bail!("entry {i}, event {j}: \"type\" must be a string");
            };
            let Some(data) = event.get("data") else {
                bail!("entry {i}, event {j}: \"data\" is missing");
            };
            proposed.push(ProposedEvent {
                event_id: event["event_id"].as_str().unwrap_or_default().to_string(),
                event_type: event_type.to_string(),
                data: data.to_string().into_bytes(),
                content_type: proto::ContentType::Json as i32,
                metadata: None,
            });
        }
        appends.push(proto::StreamAppend {
            stream: stream.to_string(),
            expected_revision: Some(expected(expected_text).with_context(|| format!("entry {i}"))?),
            events: proposed,
        });
    }
    Ok(appends)
}

fn filter(stream_prefixes: Vec<String>, event_types: Vec<String>) -> Option<proto::Filter> {
    Some(proto::Filter {
        stream_prefixes,
        event_types,
    })
}

fn direction(backwards: bool) -> i32 {
    if backwards {
        proto::Direction::Backwards as i32
    } else {
        proto::Direction::Forwards as i32
    }
}

async fn run_async(args: LogArgs) -> anyhow::Result<()> {
    // Events may be as large as the server's append limit; accept any message it sends.
    let mut client =
        EventLogClient::new(args.client.connect().await?).max_decoding_message_size(usize::MAX);
    let format = args.client.format();
    let json = format == Format::Json;
    match args.command {
        LogCommand::Append {
            stream,
            event_type,
            data,
            expected: expected_text,
            event_id,
        } => {
            let response = client
                .append(AppendRequest {
                    stream,
                    expected_revision: Some(expected(&expected_text)?),
                    events: vec![ProposedEvent {
                        event_id: event_id.unwrap_or_default(),
                        event_type,
                        data: data.into_bytes(),
                        content_type: proto::ContentType::Json as i32,
                        metadata: None,
                    }],
                })
                .await?
                .into_inner();
            let result = response.result.unwrap_or_default();
            if json {
                println!(
                    "{}",
                    json!({
                        "stream": result.stream,
                        "revision": result.last_revision,
                        "position": result.last_position,
                        "replayed": response.replayed,
                    })
                );
            } else {
                println!(
                    "{:<10} {:<10} {:<8} STREAM",
                    "POSITION", "REVISION", "REPLAYED"
                );
                println!(
                    "{:<10} {:<10} {:<8} {}",
                    result.last_position, result.last_revision, response.replayed, result.stream
                );
            }
        }
        LogCommand::AppendMulti { file } => {
            let appends = multi_request(&file)?;
            let response = client
                .append_multi(AppendMultiRequest { appends })
                .await?
                .into_inner();
            if json {
                for result in &response.results {
                    println!(
                        "{}",
                        json!({
                            "stream": result.stream,
                            "first_revision": result.first_revision,
                            "revision": result.last_revision,
                            "first_position": result.first_position,
                            "position": result.last_position,
                            "replayed": response.replayed,
                        })
                    );
                }
            } else {
                println!(
                    "{:<10} {:<10} {:<8} STREAM",
                    "POSITION", "REVISION", "REPLAYED"
                );
                for result in &response.results {
                    println!(
                        "{:<10} {:<10} {:<8} {}",
                        result.last_position,
                        result.last_revision,
                        response.replayed,
                        result.stream
                    );
                }
            }
        }
        LogCommand::ReadStream {
            stream,
            from,
            backwards,
            max,
        } => {
            let stream = client
                .read_stream(ReadStreamRequest {
                    stream,
                    from_revision: from,
                    direction: direction(backwards),
                    max_count: max,
                })
                .await?
                .into_inner();
            print_reads(stream, format).await?;
        }
        LogCommand::Read {
            from,
            stream_prefix,
            event_type,
            backwards,
            max,
        } => {
            let stream = client
                .read_all(ReadAllRequest {
                    from_position: from,
                    direction: direction(backwards),
                    max_count: max,
                    filter: filter(stream_prefix, event_type),
                })
                .await?
                .into_inner();
            print_reads(stream, format).await?;
        }
        LogCommand::Tail {
            from,
            now,
            stream_prefix,
            event_type,
        } => {
            let start = if now {
                Start::FromNow(())
            } else {
                Start::FromPosition(from.unwrap_or(1))
            };
            let mut stream = client
                .subscribe(SubscribeRequest {
                    start: Some(start),
                    filter: filter(stream_prefix, event_type),
                })
                .await?
                .into_inner();
            print_header(format);
            let mut told = false;
            while let Some(message) = stream.message().await? {
                match message.message {
                    Some(Message::Events(chunk)) => {
                        tell_filtered(&chunk.filtered_to_committee, &mut told);
                        for event in &chunk.events {
                            print_event(event, format);
                        }
                    }
                    Some(Message::CaughtUp(caught_up)) => {
                        tell_filtered(&caught_up.filtered_to_committee, &mut told);
                        if json {
                            println!("{}", json!({ "caught_up": caught_up.head_position }));
                        } else {
                            eprintln!(
                                "-- caught up at position {}; live from here --",
                                caught_up.head_position
                            );
                        }
                    }
                    None => {}
                }
            }
        }
        LogCommand::Head => {
            let head = client.head(HeadRequest {}).await?.into_inner();
            if json {
                println!(
                    "{}",
                    json!({ "position": head.position, "hash": hex::encode(&head.hash) })
                );
            } else {
                println!("{:<10} HASH", "POSITION");
                println!("{:<10} {}", head.position, hex::encode(&head.hash));
            }
        }
        LogCommand::Checkpoint { size, key } => {
            super::checkpoint::checkpoint(&mut client, size, &key, json).await?;
        }
        LogCommand::Prove {
            position,
            size,
            key,
        } => {
            super::checkpoint::prove(&mut client, position, size, &key, json).await?;
        }
        LogCommand::Consistency { old, size, key } => {
            super::checkpoint::consistency(&mut client, &old, size, &key, json).await?;
        }
        LogCommand::Verify { from, to } => {
            let spinner = super::connect::spinner("verifying the hash chain".to_string());
            let report = client
                .verify(VerifyRequest {
                    from_position: from,
                    to_position: to,
                })
                .await;
            spinner.finish_and_clear();
            let report = report?.into_inner();
            let head = report.head.clone().unwrap_or_default();
            let mut told = false;
            if !json {
                tell_filtered(&report.filtered_to_committee, &mut told);
            }
            if json {
                println!(
                    "{}",
                    json!({
                        "ok": report.ok,
                        "checked": report.checked,
                        "first_bad_position": report.first_bad_position,
                        "problem": report.problem,
                        "head_position": head.position,
                        "head_hash": hex::encode(&head.hash),
                        "filtered_to_committee": report.filtered_to_committee,
                    })
                );
            } else if report.ok {
                println!(
                    "ok: {} records checked; head {} {}",
                    report.checked,
                    head.position,
                    hex::encode(&head.hash)
                );
            } else {
                println!(
                    "BAD: position {}: {} ({} records checked)",
                    report.first_bad_position, report.problem, report.checked
                );
            }
            if !report.ok {
                bail!(
                    "the hash chain is broken at position {}",
                    report.first_bad_position
                );
            }
        }
    }
    Ok(())
}

async fn print_reads(
    mut stream: tonic::Streaming<proto::ReadResponse>,
    format: Format,
) -> anyhow::Result<()> {
    print_header(format);
    let mut told = false;
    while let Some(chunk) = stream.message().await? {
        tell_filtered(&chunk.filtered_to_committee, &mut told);
        for event in &chunk.events {
            print_event(event, format);
        }
    }
    Ok(())
}

/// Says once, on stderr, that the server shows only `committee`'s events (the token is scoped
/// to it); nothing when `committee` is empty.
fn tell_filtered(committee: &str, told: &mut bool) {
    if !committee.is_empty() && !*told {
        *told = true;
        eprintln!(
            "-- only events of committee {committee}: the token is scoped to it; a token that names no committee reads the whole log --"
        );
    }
}

/// The columns of an event listing in CSV.
const CSV_COLUMNS: [&str; 10] = [
    "position",
    "revision",
    "stream",
    "event_type",
    "recorded_at",
    "event_id",
    "actor",
    "actor_role",
    "data",
    "hash",
];

/// One CSV row, quoted as needed, without its line end.
fn csv_row<I, T>(fields: I) -> String
where
    I: IntoIterator<Item = T>,
    T: AsRef<[u8]>,
{
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    // Writing into memory cannot fail.
    let _ = writer.write_record(fields);
    let bytes = writer.into_inner().unwrap_or_default();
    String::from_utf8_lossy(&bytes).trim_end().to_string()
}

fn print_header(format: Format) {
    match format {
        Format::Json => {}
        Format::Csv => println!("{}", csv_row(CSV_COLUMNS)),
        Format::Table => println!(
            "{:<10} {:<9} {:<24} {:<28} {:<27} DATA",
            "POSITION", "REVISION", "STREAM", "TYPE", "RECORDED_AT"
        ),
    }
}

fn recorded_at(event: &proto::RecordedEvent) -> String {
    event
        .recorded_at
        .as_ref()
        .and_then(|t| {
            chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0))
        })
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .unwrap_or_default()
}

fn data_value(event: &proto::RecordedEvent) -> Value {
    if event.content_type == proto::ContentType::Binary as i32 {
        return json!({ "hex": hex::encode(&event.data) });
    }
    serde_json::from_slice(&event.data)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&event.data).into_owned()))
}

fn print_event(event: &proto::RecordedEvent, format: Format) {
    if format == Format::Csv {
        let metadata = event.metadata.clone().unwrap_or_default();
        println!(
            "{}",
            csv_row([
                event.position.to_string(),
                event.revision.to_string(),
                event.stream.clone(),
                event.event_type.clone(),
                recorded_at(event),
                event.event_id.clone(),
                metadata.actor_subject,
                metadata.actor_role,
                data_value(event).to_string(),
                hex::encode(&event.hash),
            ])
        );
    } else if format == Format::Json {
        let metadata = event.metadata.clone().unwrap_or_default();
        println!(
            "{}",
            json!({
                "position": event.position,
                "stream": event.stream,
                "revision": event.revision,
                "event_id": event.event_id,
                "event_type": event.event_type,
                "recorded_at": recorded_at(event),
                "actor": metadata.actor_subject,
                "actor_role": metadata.actor_role,
                "correlation_id": metadata.correlation_id,
                "causation_id": metadata.causation_id,
                "committee": metadata.committee,
                "data": data_value(event),
                "hash": hex::encode(&event.hash),
            })
        );
    } else {
        println!(
            "{:<10} {:<9} {:<24} {:<28} {:<27} {}",
            event.position,
            event.revision,
            event.stream,
            event.event_type,
            recorded_at(event),
            data_value(event)
        );
    }
}
