//! Read-your-own-writes for the client commands: every command's answer names the log position
//! it wrote; the client keeps the highest one per server in a small file, and a later query asks
//! the server to wait for it (`min_position`). The client never asks the server for its head
//! (Operations/Status is for the office and the auditors; a head every member could read during a
//! vote would show when others vote), so every role reads its own writes without a refused call.
//!
//! The file is `<state dir>/positions/<digest of the server address>`, the state dir being
//! `$OVERSIGHT_STATE_DIR`, else `$XDG_STATE_HOME/oversight`, else `~/.local/state/oversight`;
//! without any of them nothing is kept (queries do not wait). The latest command's position is
//! kept, not the highest: positions only grow on one log, so a lower one means the server now
//! holds another log (its data directory was replaced), whose positions are the ones to wait for.

use std::path::PathBuf;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// The file of the server this process talks to, set when it connects.
static FILE: OnceLock<Option<PathBuf>> = OnceLock::new();

/// The directory the client keeps its state in, if the environment names one.
fn state_dir() -> Option<PathBuf> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("OVERSIGHT_STATE_DIR")
        .or_else(|| var("XDG_STATE_HOME").map(|d| d.join("oversight")))
        .or_else(|| var("HOME").map(|d| d.join(".local/state/oversight")))
}

/// Names the server this process talks to (its address as given).
pub fn use_server(server: &str) {
    let file = state_dir().map(|dir| {
        let digest = hex::encode(Sha256::digest(server.trim_end_matches('/').as_bytes()));
        dir.join("positions").join(&digest[..32])
    });
    let _ = FILE.set(file);
}

fn file() -> Option<&'static PathBuf> {
    FILE.get().and_then(Option::as_ref)
}

/// The highest position this client's commands wrote on the server (0: none kept).
pub fn kept() -> u64 {
    file()
        .and_then(|path| std::fs::read_to_string(path).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(0)
}

/// Keeps `position`, written by a command. Best effort: a client that cannot write its state still works,
/// its queries only do not wait for its writes.
pub fn keep(position: u64) {
    let Some(path) = file() else {
        return;
    };
    if position == 0 || position == kept() {
        return;
    }
    let Some(dir) = path.parent() else {
        return;
    };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    // Written aside and renamed, so a concurrent reader sees the old number or the new one.
    let aside = dir.join(format!(".{}.{}", std::process::id(), rand::random::<u32>()));
    if std::fs::write(&aside, format!("{position}\n")).is_ok()
        && std::fs::rename(&aside, path).is_err()
    {
        let _ = std::fs::remove_file(&aside);
    }
}
