//! `oversight bench`: measures the disk's fsync rate, then drives a server over gRPC with the
//! load scenarios of [`oversight::bench`] and prints their figures (never asserts them).
//!
//! By default the server runs in this process, on the same multi-threaded runtime as the
//! clients, in a fresh temporary data directory that is removed afterwards; `--server` drives a
//! running server instead.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use oversight::bench::{self, BenchReport, Target, extended, scenarios, session};
use oversight::config::{LogFormat, Settings};
use oversight::server::Server;

/// Flags of `oversight bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Scenarios to run, in order (repeatable or comma-separated). all runs round-trip-1,
    /// round-trip-64, append-1, append-8, append-64, append-256, batch, read-all, catch-up and
    /// live. round-trip-N: N clients calling Head, which touches no disk (the transport's share
    /// of an append; calls counted as events); append-N: N clients, one ~300-byte event per
    /// request, each to its own stream with an exact expected revision;
    /// batch: 8 clients appending 100 events per request; read-all: one full ReadAll stream of
    /// the whole log; catch-up: one Subscribe from position 1 until CaughtUp; live: appends at
    /// --live-rate for --duration, delay from each append's acknowledgement to its delivery to a
    /// subscriber. Not part of all (they take minutes): session, one evaluation session of 500
    /// members × 30 subjects end to end (in-process server only); domain, site visits filed and
    /// findings raised, assigned, answered and closed by 8 clients for --duration each, their
    /// views read back, then the session (in-process server only); mixed, appends + committee
    /// creations read back with min_position + 4 live subscriptions for --mixed-duration;
    /// rebuild, a fold of every view over --rebuild-events domain events (in this process);
    /// rss, the memory of an `oversight serve` child process after --rss-events events.
    #[arg(
        long,
        value_name = "NAME",
        value_delimiter = ',',
        default_value = "all"
    )]
    scenario: Vec<String>,
    /// Seconds each append scenario runs.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    duration: u64,
    /// Least number of events read-all reads: if the log holds fewer when read-all starts, it
    /// is first filled with batch appends up to this many (0: read whatever is there).
    #[arg(long, value_name = "N", default_value_t = 200_000)]
    events: u64,
    /// catch-up: least number of events in the log it reads (filled with batch appends first
    /// if it holds fewer).
    #[arg(long, value_name = "N", default_value_t = 200_000)]
    catch_up_events: u64,
    /// live: events appended per second (batches from 8 clients every 20 ms).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    live_rate: u64,
    /// mixed: seconds the load runs.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    mixed_duration: u64,
    /// rebuild: domain events in the log whose views are rebuilt.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    rebuild_events: u64,
    /// rss: events appended to the server process before its memory is read.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    rss_events: u64,
    /// session, domain: members present and voting.
    #[arg(long, value_name = "N", default_value_t = session::VOTERS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000))]
    session_voters: usize,
    /// session, domain: subjects (appointees) rated on every ballot.
    #[arg(long, value_name = "N", default_value_t = session::SUBJECTS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000))]
    session_subjects: usize,
    /// Seconds the fsync probe (4 KiB write + fdatasync in a loop) runs.
    #[arg(long, value_name = "SECS", default_value_t = 3)]
    fsync_duration: u64,
    /// Drive the server at this URL (e.g. http://127.0.0.1:50051) instead of starting one in
    /// this process.
    #[arg(long, value_name = "URL", requires = "token")]
    server: Option<String>,
    /// Admin bearer token of the server given by --server.
    #[arg(long, env = "OVERSIGHT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Data directory: where the fsync rate is measured and, without --server, where the
    /// in-process server keeps its log (kept afterwards). Default without --server: a fresh
    /// temporary directory, removed afterwards; with --server: ./data.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// How the clients choose their events' ids. random (UUIDv4) is the least favourable case
    /// for the log, whose idempotency index is keyed by id: each event's entry lands on a page of
    /// its own. time-ordered (UUIDv7, what the server assigns to events sent without an id)
    /// keeps the entries of one commit together.
    #[arg(long, value_enum, value_name = "KIND", default_value_t = IdKind::Random)]
    event_ids: IdKind,
    /// Print the report as one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    tls: super::tls::TlsArgs,
}

/// `--event-ids`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum IdKind {
    /// UUIDv4.
    Random,
    /// UUIDv7.
    TimeOrdered,
}

impl From<IdKind> for bench::EventIds {
    fn from(kind: IdKind) -> Self {
        match kind {
            IdKind::Random => bench::EventIds::Random,
            IdKind::TimeOrdered => bench::EventIds::TimeOrdered,
        }
    }
}

/// Runs the benchmark and prints the report.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let scenarios = expand(&args.scenario)?;
    // Only warnings: the figures are the output.
    oversight::telemetry::init(LogFormat::Human, "warn")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = runtime.block_on(async {
        tokio::select! {
            report = bench_with_target(&args, &scenarios) => report,
            signal = tokio::signal::ctrl_c() => {
                signal.context("cannot listen for Ctrl-C")?;
                bail!("interrupted")
            }
        }
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_table());
    }
    Ok(())
}

/// The scenario names to run, in order, with `all` expanded and unknown names refused.
fn expand(given: &[String]) -> anyhow::Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for name in given.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        if name == "all" {
            out.extend(scenarios::ALL.iter().map(|s| s.to_string()));
            out.extend(extended::IN_ALL.iter().map(|s| s.to_string()));
        } else if scenarios::ALL.contains(&name)
            || name == session::NAME
            || name == session::DOMAIN
            || extended::knows(name)
        {
            out.push(name.to_string());
        } else {
            bail!(
                "unknown scenario {name:?}; choose all or one of: {}, {}, {}, {}, {}",
                scenarios::ALL.join(", "),
                extended::IN_ALL.join(", "),
                session::NAME,
                session::DOMAIN,
                extended::BY_NAME.join(", ")
            );
        }
    }
    if out.is_empty() {
        bail!("no scenario given; use --scenario all");
    }
    // Its checks count what it wrote against the views of a deputy group it forms once.
    if out.iter().filter(|n| *n == session::DOMAIN).count() > 1 {
        bail!(
            "scenario {} is named more than once; it runs once per run",
            session::DOMAIN
        );
    }
    Ok(out)
}

async fn bench_with_target(args: &BenchArgs, scenarios: &[String]) -> anyhow::Result<BenchReport> {
    if let Some(endpoint) = &args.server {
        let token = args
            .token
            .clone()
            .context("--server needs --token (or OVERSIGHT_TOKEN)")?;
        let dir = args
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("./data"));
        let target = Target {
            endpoint: endpoint.clone(),
            token,
            tls: args.tls.client_tls(),
            event_ids: args.event_ids.into(),
        };
        return measure(args, scenarios, &target, &dir, None).await;
    }
    match &args.data_dir {
        Some(dir) => in_process(args, scenarios, dir).await,
        None => {
            let dir = std::env::temp_dir()
                .join(format!("oversight-bench-{}", uuid::Uuid::new_v4().simple()));
            let report = in_process(args, scenarios, &dir).await;
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                eprintln!(
                    "warning: cannot remove the temporary data directory {}: {e}",
                    dir.display()
                );
            }
            report
        }
    }
}

/// Starts a server on `127.0.0.1:0` in `dir`, benchmarks it and shuts it down.
async fn in_process(
    args: &BenchArgs,
    scenarios: &[String],
    dir: &Path,
) -> anyhow::Result<BenchReport> {
    let settings = Settings {
        data_dir: dir.to_path_buf(),
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        web: oversight::config::WebSettings {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            ..oversight::config::WebSettings::default()
        },
        shutdown_grace_secs: 5,
        // The clients share the admin token: a per-principal rate limit would measure itself.
        limits: oversight::config::Limits {
            rate_limit_per_sec: 0,
            ..oversight::config::Limits::default()
        },
        ..Settings::default()
    };
    // The session and domain scenarios' principals get their tokens before the server reads
    // them.
    let session_tokens = if scenarios
        .iter()
        .any(|s| s == session::NAME || s == session::DOMAIN)
    {
        Some(session::write_tokens(dir, args.session_voters)?)
    } else {
        None
    };
    let server = Server::build(settings)
        .await
        .context("cannot start the in-process server")?;
    let token = std::fs::read_to_string(server.admin_token_path())
        .with_context(|| format!("cannot read {}", server.admin_token_path().display()))?
        .trim()
        .to_string();
    let target = Target {
        endpoint: format!("http://{}", server.local_addr()),
        token,
        tls: oversight::transport::ClientTls::default(),
        event_ids: args.event_ids.into(),
    };
    let shutdown = server.shutdown_handle();
    // Served on this same multi-threaded runtime, next to the clients.
    let serving = tokio::spawn(server.with_signals(false).run_until_stopped());
    let report = measure(args, scenarios, &target, dir, session_tokens.as_ref()).await;
    shutdown.trigger();
    serving
        .await
        .context("the in-process server task failed")?
        .context("the in-process server failed")?;
    report
}

async fn measure(
    args: &BenchArgs,
    scenarios: &[String],
    target: &Target,
    fsync_dir: &Path,
    session_tokens: Option<&session::SessionTokens>,
) -> anyhow::Result<BenchReport> {
    let fsync_dir = fsync_dir.to_path_buf();
    let fsync_duration = Duration::from_secs(args.fsync_duration.max(1));
    let probe_dir = fsync_dir.clone();
    let fsync_per_sec =
        tokio::task::spawn_blocking(move || bench::measure_fsync_rate(&probe_dir, fsync_duration))
            .await
            .context("the fsync probe task failed")?
            .with_context(|| format!("cannot measure the fsync rate in {}", fsync_dir.display()))?;
    let duration = Duration::from_secs(args.duration.max(1));
    let sizes = extended::Sizes {
        catch_up_events: args.catch_up_events,
        live_duration: duration,
        live_rate: args.live_rate,
        mixed_duration: Duration::from_secs(args.mixed_duration.max(1)),
        rebuild_events: args.rebuild_events,
        rss_events: args.rss_events,
        work_dir: fsync_dir.clone(),
    };
    let mut results = Vec::with_capacity(scenarios.len());
    let mut figures = Vec::new();
    for name in scenarios {
        let spinner = super::connect::spinner(format!("scenario {name}"));
        if extended::knows(name) {
            let outcome = extended::run(name, target, &sizes).await;
            spinner.finish_and_clear();
            let (rows, more) = outcome?;
            results.extend(rows);
            figures.extend(more);
            continue;
        }
        let size = session::SessionSize {
            voters: args.session_voters,
            subjects: args.session_subjects,
        };
        if name == session::NAME {
            let outcome = session::run(target, session_tokens, size).await;
            spinner.finish_and_clear();
            results.extend(outcome?);
            continue;
        }
        if name == session::DOMAIN {
            let outcome = session::run_domain(target, session_tokens, size, duration).await;
            spinner.finish_and_clear();
            results.extend(outcome?);
            continue;
        }
        if name == "read-all" && args.events > 0 {
            spinner.set_message(format!("scenario {name}: filling the log"));
            bench::scenarios::prefill(target, args.events).await?;
            spinner.set_message(format!("scenario {name}"));
        }
        let outcome = bench::run_scenario(target, name, duration, fsync_per_sec).await;
        spinner.finish_and_clear();
        results.push(outcome?);
    }
    Ok(BenchReport {
        fsync_per_sec,
        event_ids: args.event_ids.into(),
        scenarios: results,
        figures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(given: &[&str]) -> anyhow::Result<Vec<String>> {
        expand(&given.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn all_expands_in_order_and_unknown_names_are_refused() {
        let all = names(&["all"]).unwrap();
        assert_eq!(&all[..scenarios::ALL.len()], scenarios::ALL);
        assert_eq!(&all[scenarios::ALL.len()..], extended::IN_ALL);
        for long in extended::BY_NAME {
            assert!(!all.iter().any(|n| n == long), "{long} is in all");
            assert_eq!(names(&[long]).unwrap(), vec![long.to_string()]);
        }
        assert_eq!(
            names(&["batch", "append-1"]).unwrap(),
            vec!["batch", "append-1"]
        );
        // The session and domain scenarios are asked for by name, never part of all.
        assert_eq!(names(&["session"]).unwrap(), vec!["session"]);
        assert_eq!(names(&["domain"]).unwrap(), vec!["domain"]);
        assert_eq!(
            names(&["session", "domain", "session"]).unwrap(),
            vec!["session", "domain", "session"]
        );
        let twice = names(&["domain", "domain"]).unwrap_err().to_string();
        assert!(twice.contains("more than once"), "{twice}");
        assert!(
            !names(&["all"])
                .unwrap()
                .iter()
                .any(|n| n == "session" || n == "domain")
        );
        let error = names(&["append-2"]).unwrap_err().to_string();
        assert!(error.contains("append-64"), "{error}");
        assert!(names(&[" "]).is_err());
    }
}
