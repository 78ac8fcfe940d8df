//! The scenarios beyond appends and reads: subscriptions, a mixed load, the projection rebuild
//! and the server's memory.
//!
//! * `catch-up` and `live` ([`super::subscribe`]) take seconds and are part of `all`;
//! * `mixed` ([`super::mixed`], 60 s by default), `rebuild` ([`super::rebuild`], 1 000 000
//!   events by default) and `rss` ([`super::rss`], 1 000 000 events by default) take minutes
//!   and run only when asked for by name.

use std::path::PathBuf;
use std::time::Duration;

use super::scenarios::{BenchError, Target};
use super::{Figure, ScenarioResult, mixed, rebuild, rss, subscribe};

/// The scenarios of this module that `all` runs, after [`super::scenarios::ALL`].
pub const IN_ALL: &[&str] = &["catch-up", "live"];
/// The scenarios of this module that run only when named.
pub const BY_NAME: &[&str] = &["mixed", rebuild::NAME, rss::NAME];

/// The sizes of the scenarios of this module.
#[derive(Debug, Clone)]
pub struct Sizes {
    /// `catch-up`: least number of events in the log it subscribes to.
    pub catch_up_events: u64,
    /// `live`: how long it appends.
    pub live_duration: Duration,
    /// `live`: events per second appended.
    pub live_rate: u64,
    /// `mixed`: how long the load runs.
    pub mixed_duration: Duration,
    /// `rebuild`: events in the log it folds.
    pub rebuild_events: u64,
    /// `rss`: events appended to the server before its memory is read.
    pub rss_events: u64,
    /// Where `rebuild` and `rss` make their own directories (removed afterwards).
    pub work_dir: PathBuf,
}

/// Why a scenario of this module failed.
#[derive(Debug, thiserror::Error)]
pub enum ExtendedError {
    /// A gRPC scenario failed.
    #[error(transparent)]
    Bench(#[from] BenchError),
    /// `rebuild` failed.
    #[error(transparent)]
    Rebuild(#[from] rebuild::RebuildBenchError),
    /// `rss` failed.
    #[error(transparent)]
    Rss(#[from] rss::RssBenchError),
    /// This executable's path is unknown (`rss` runs it as the server).
    #[error("cannot find this executable to start it as the server: {0}")]
    Exe(std::io::Error),
    /// Not a scenario of this module.
    #[error("unknown scenario {0:?}")]
    Unknown(String),
}

/// Whether `name` is a scenario of this module.
pub fn knows(name: &str) -> bool {
    IN_ALL.contains(&name) || BY_NAME.contains(&name)
}

/// Runs one scenario of this module; returns its rows and any further figures.
pub async fn run(
    name: &str,
    target: &Target,
    sizes: &Sizes,
) -> Result<(Vec<ScenarioResult>, Vec<Figure>), ExtendedError> {
    let scratch = |what: &str| -> PathBuf {
        sizes
            .work_dir
            .join(format!("bench-{what}-{}", uuid::Uuid::new_v4().simple()))
    };
    Ok(match name {
        "catch-up" => (
            vec![subscribe::catch_up(target, sizes.catch_up_events).await?],
            Vec::new(),
        ),
        "live" => (
            subscribe::live(target, sizes.live_rate, sizes.live_duration).await?,
            Vec::new(),
        ),
        "mixed" => (mixed::run(target, sizes.mixed_duration).await?, Vec::new()),
        rebuild::NAME => (
            rebuild::run(&scratch(rebuild::NAME), sizes.rebuild_events).await?,
            Vec::new(),
        ),
        rss::NAME => {
            let exe = std::env::current_exe().map_err(ExtendedError::Exe)?;
            rss::run(&exe, &scratch(rss::NAME), sizes.rss_events).await?
        }
        other => return Err(ExtendedError::Unknown(other.to_string())),
    })
}
