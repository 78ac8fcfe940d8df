//! The `rss` scenario of `oversight bench`: the memory of a server process after N events.
//!
//! It starts `oversight serve` (this same executable) as a child process on a free loopback
//! port with a fresh data directory of its own, appends N events through gRPC (batches of 100
//! from 8 clients, as `read-all` fills the log), and reads the child's peak resident set
//! (`VmHWM`) and current resident set (`VmRSS`) from `/proc/<pid>/status`: once when the server
//! is up, once after the appends, and once more after one `ReadAll` of the whole log. The child is
//! killed and its directory removed at the end.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::scenarios::{BenchError, Target, clients, prefill, run_scenario};
use super::{Figure, ScenarioResult};
use crate::proto::HeadRequest;

/// The scenario's name on the command line.
pub const NAME: &str = "rss";
/// How long the child gets to start answering.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Why the rss scenario could not run.
#[derive(Debug, thiserror::Error)]
pub enum RssBenchError {
    /// The directory could not be made or removed.
    #[error("cannot use {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The server process could not be started or watched.
    #[error("cannot run the server process {exe}: {source}")]
    Spawn {
        /// The executable.
        exe: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The server process did not come up.
    #[error("the server process did not answer within {0:?}{1}")]
    NotUp(Duration, String),
    /// `/proc/<pid>/status` could not be read.
    #[error("cannot read the memory of process {pid}: {detail}")]
    Proc {
        /// The process.
        pid: u32,
        /// Why.
        detail: String,
    },
    /// A gRPC step failed.
    #[error(transparent)]
    Bench(#[from] BenchError),
}

/// The child process, killed when dropped.
struct ServerProcess(Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Memory of a process in KiB, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// Peak resident set (`VmHWM`).
    pub hwm_kib: u64,
    /// Current resident set (`VmRSS`).
    pub rss_kib: u64,
}

/// Reads `VmHWM` and `VmRSS` out of the text of a `/proc/<pid>/status` file.
pub fn parse_status(status: &str) -> Option<Memory> {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
    };
    Some(Memory {
        hwm_kib: field("VmHWM:")?,
        rss_kib: field("VmRSS:")?,
    })
}

fn memory_of(pid: u32) -> Result<Memory, RssBenchError> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).map_err(|e| RssBenchError::Proc {
        pid,
        detail: format!("{path}: {e}"),
    })?;
    parse_status(&text).ok_or_else(|| RssBenchError::Proc {
        pid,
        detail: format!("{path} has no VmHWM or VmRSS line"),
    })
}

fn figures(into: &mut Vec<Figure>, when: &str, memory: Memory) {
    for (what, kib) in [("VmHWM", memory.hwm_kib), ("VmRSS", memory.rss_kib)] {
        into.push(Figure {
            scenario: NAME.to_string(),
            name: format!("{what} {when}"),
            value: kib as f64 / 1024.0,
            unit: "MiB".to_string(),
        });
    }
}

/// Runs the scenario with the server executable `exe` in `dir` (created, removed afterwards).
pub async fn run(
    exe: &Path,
    dir: &Path,
    events: u64,
) -> Result<(Vec<ScenarioResult>, Vec<Figure>), RssBenchError> {
    std::fs::create_dir_all(dir).map_err(|source| RssBenchError::Dir {
        path: dir.to_path_buf(),
        source,
    })?;
    let outcome = measure(exe, dir, events).await;
    let removed = std::fs::remove_dir_all(dir).map_err(|source| RssBenchError::Dir {
        path: dir.to_path_buf(),
        source,
    });
    let result = outcome?;
    removed?;
    Ok(result)
}

async fn measure(
    exe: &Path,
    dir: &Path,
    events: u64,
) -> Result<(Vec<ScenarioResult>, Vec<Figure>), RssBenchError> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|source| RssBenchError::Spawn {
            exe: exe.to_path_buf(),
            source,
        })?
        .port();
    let child = Command::new(exe)
        .arg("serve")
        .arg("--data-dir")
        .arg(dir)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--web-listen", "127.0.0.1:0"])
        .args(["--log-level", "warn"])
        // One admin token drives every client: a per-principal rate limit would measure itself.
        .env("OVERSIGHT_LIMITS__RATE_LIMIT_PER_SEC", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|source| RssBenchError::Spawn {
            exe: exe.to_path_buf(),
            source,
        })?;
    let mut server = ServerProcess(child);
    let pid = server.0.id();
    let target = wait_until_up(&mut server, dir, port).await?;

    let mut memory = Vec::new();
    figures(&mut memory, "at start", memory_of(pid)?);
    let started = Instant::now();
    let head = prefill(&target, events).await?;
    let seconds = started.elapsed().as_secs_f64();
    figures(&mut memory, "after append", memory_of(pid)?);
    let mut read = run_scenario(&target, "read-all", Duration::from_secs(1), 0.0).await?;
    read.name = "rss-read-all".to_string();
    figures(&mut memory, "after read-all", memory_of(pid)?);
    let fill = ScenarioResult {
        name: "rss-fill".to_string(),
        clients: 8,
        events: head,
        requests: head.div_ceil(super::scenarios::BATCH_SIZE as u64),
        errors: 0,
        seconds,
        events_per_sec: head as f64 / seconds.max(f64::EPSILON),
        latency_us: None,
        fsync_ratio: None,
    };
    drop(server);
    Ok((vec![fill, read], memory))
}

async fn wait_until_up(
    server: &mut ServerProcess,
    dir: &Path,
    port: u16,
) -> Result<Target, RssBenchError> {
    let deadline = Instant::now() + START_TIMEOUT;
    let mut last = String::new();
    loop {
        if let Ok(Some(status)) = server.0.try_wait() {
            return Err(RssBenchError::NotUp(
                START_TIMEOUT,
                format!("; it exited with {status}"),
            ));
        }
        if Instant::now() > deadline {
            return Err(RssBenchError::NotUp(START_TIMEOUT, last));
        }
        if let Ok(token) = std::fs::read_to_string(dir.join(crate::auth::ADMIN_TOKEN_FILE)) {
            let target = Target {
                endpoint: format!("http://127.0.0.1:{port}"),
                token: token.trim().to_string(),
                tls: crate::transport::ClientTls::default(),
                event_ids: super::scenarios::EventIds::default(),
            };
            match clients(&target, 1).await {
                Ok(mut all) => {
                    if let Some(client) = all.first_mut() {
                        match client.head(HeadRequest {}).await {
                            Ok(_) => return Ok(target),
                            Err(status) => last = format!("; last: {status}"),
                        }
                    }
                }
                Err(e) => last = format!("; last: {e}"),
            }
        }
        // A process that is starting up: there is nothing to wait on but its port.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_give_the_peak_and_current_resident_set() {
        let status =
            "Name:\toversight\nVmPeak:\t  900000 kB\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n";
        assert_eq!(
            parse_status(status),
            Some(Memory {
                hwm_kib: 204_800,
                rss_kib: 102_400
            })
        );
        assert_eq!(parse_status("Name:\toversight\nVmRSS:\t 1 kB\n"), None);
    }
}
