//! Measures how many durable 4 KiB writes per second the disk under the data directory takes.

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// Writes 4 KiB and calls `fdatasync` in a loop for about `duration`; returns syncs per second.
/// The probe file is removed afterwards.
pub fn measure_fsync_rate(dir: &Path, duration: Duration) -> std::io::Result<f64> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(".fsync-probe");
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)?;
    let block = [0x5au8; 4096];
    let started = Instant::now();
    let mut syncs: u64 = 0;
    let result = loop {
        if let Err(e) = file
            .seek(SeekFrom::Start(0))
            .and_then(|_| file.write_all(&block))
            .and_then(|_| file.sync_data())
        {
            break Err(e);
        }
        syncs += 1;
        if started.elapsed() >= duration {
            break Ok(syncs as f64 / started.elapsed().as_secs_f64());
        }
    };
    drop(file);
    // The probe is scratch; failing to remove it must not hide the measurement.
    let _ = std::fs::remove_file(&path);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_a_positive_rate_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let rate = measure_fsync_rate(dir.path(), Duration::from_millis(50)).unwrap();
        assert!(rate > 0.0);
        assert!(!dir.path().join(".fsync-probe").exists());
    }
}
