//! `oversight bench`: load figures for the event log, printed, never asserted.
//!
//! Every run first measures the disk's fsync rate in the data directory (4 KiB write +
//! `fdatasync` in a loop), then drives a server over gRPC and prints each append figure as a
//! ratio to that rate too, so results compare across machines. Scenarios:
//! * `round-trip-N` (1 and 64): N clients calling `Head`, which touches no disk: the gRPC round
//!   trip under every append (calls are counted as events);
//! * `append-N`: N concurrent clients, each appending one ~300-byte event per request to its own
//!   stream with an exact expected revision;
//! * `batch`: clients appending 100 events per request;
//! * `read-all`: one full `ReadAll` stream over everything written;
//! * `session` (not part of `all`): one evaluation session of 500 members × 30 subjects end to
//!   end, see [`session`]; `domain` (not part of `all`): site visits and findings, then the
//!   session, see [`supervision`];
//! * `catch-up`, `live` (part of `all`) and `mixed`, `rebuild`, `rss` (not part of `all`): see
//!   [`extended`].

pub mod extended;
pub mod fsync;
pub mod mixed;
pub mod rebuild;
pub mod rss;
pub mod scenarios;
pub mod session;
pub mod subscribe;
pub mod supervision;

use std::path::PathBuf;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

pub use fsync::measure_fsync_rate;
pub use scenarios::{EventIds, Target, run_scenario};

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchPlan {
    /// Scenario names, in order (see [`scenarios::ALL`]).
    pub scenarios: Vec<String>,
    /// How long each timed scenario runs.
    pub duration: Duration,
    /// Where to measure the fsync rate.
    pub fsync_dir: PathBuf,
    /// How long to measure the fsync rate.
    pub fsync_duration: Duration,
}

/// The figures of one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    /// Scenario name.
    pub name: String,
    /// Concurrent clients.
    pub clients: usize,
    /// Events written or read.
    pub events: u64,
    /// Requests made.
    pub requests: u64,
    /// Requests that failed.
    pub errors: u64,
    /// Wall time in seconds.
    pub seconds: f64,
    /// Events per second.
    pub events_per_sec: f64,
    /// Request latency percentiles in microseconds (absent for streaming reads).
    pub latency_us: Option<Percentiles>,
    /// `events_per_sec / fsync rate` for append scenarios.
    pub fsync_ratio: Option<f64>,
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Maximum.
    pub max: u64,
}

impl Percentiles {
    /// Reads the percentiles off a histogram of microseconds.
    pub fn of(histogram: &Histogram<u64>) -> Self {
        Self {
            p50: histogram.value_at_quantile(0.50),
            p90: histogram.value_at_quantile(0.90),
            p99: histogram.value_at_quantile(0.99),
            max: histogram.max(),
        }
    }
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// fsyncs per second measured in the data directory.
    pub fsync_per_sec: f64,
    /// How the clients chose their events' ids.
    pub event_ids: EventIds,
    /// One entry per scenario.
    pub scenarios: Vec<ScenarioResult>,
    /// Figures that are not a throughput, e.g. the server's memory (`rss`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub figures: Vec<Figure>,
}

/// One measured quantity that is not a throughput or a latency.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// The scenario that measured it.
    pub scenario: String,
    /// What it is, e.g. `VmHWM after append`.
    pub name: String,
    /// Its value.
    pub value: f64,
    /// Its unit, e.g. `MiB`.
    pub unit: String,
}

impl BenchReport {
    /// Human-readable table.
    pub fn to_table(&self) -> String {
        let ids = match self.event_ids {
            EventIds::Random => "random (UUIDv4)",
            EventIds::TimeOrdered => "time-ordered (UUIDv7)",
        };
        let mut out = format!(
            "disk fsync rate: {:.0}/s (4 KiB write + fdatasync); event ids: {ids}\n\n{:<16} {:>7} {:>10} {:>8} {:>7} {:>12} {:>9} {:>9} {:>9} {:>9}\n",
            self.fsync_per_sec,
            "scenario",
            "clients",
            "events",
            "errors",
            "secs",
            "events/s",
            "x fsync",
            "p50 us",
            "p90 us",
            "p99 us"
        );
        for s in &self.scenarios {
            let ratio = s
                .fsync_ratio
                .map_or_else(|| "-".to_string(), |r| format!("{r:.1}"));
            let (p50, p90, p99) = s.latency_us.map_or_else(
                || ("-".to_string(), "-".to_string(), "-".to_string()),
                |p| (p.p50.to_string(), p.p90.to_string(), p.p99.to_string()),
            );
            out.push_str(&format!(
                "{:<16} {:>7} {:>10} {:>8} {:>7.2} {:>12.0} {:>9} {:>9} {:>9} {:>9}\n",
                s.name,
                s.clients,
                s.events,
                s.errors,
                s.seconds,
                s.events_per_sec,
                ratio,
                p50,
                p90,
                p99
            ));
        }
        if !self.figures.is_empty() {
            out.push('\n');
            for f in &self.figures {
                out.push_str(&format!(
                    "{:<16} {:<36} {:>12.1} {}\n",
                    f.scenario, f.name, f.value, f.unit
                ));
            }
        }
        out
    }
}
