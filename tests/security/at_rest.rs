//! The data directory at rest: 0700 and every file in it 0600 whatever the umask the server is
//! started with, an existing looser directory tightened with a log line.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::common::process::{connect, free_port};

/// Stops the server process when the test ends, whether it passed or not.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `oversight serve` through `sh`, after the shell command `setup` (a umask, a file
/// limit), its log lines written to `log`.
pub fn serve_after(setup: &str, data_dir: &Path, port: u16, log: &Path) -> KillOnDrop {
    let file = std::fs::File::create(log).unwrap();
    let child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{setup}; exec \"$0\" serve --data-dir \"$1\" --listen 127.0.0.1:{port} --web-listen 127.0.0.1:0"
        ))
        .arg(env!("CARGO_BIN_EXE_oversight"))
        .arg(data_dir)
        .env_remove("OVERSIGHT_CONFIG")
        .env_remove("OVERSIGHT_LOG_LEVEL")
        .env_remove("OVERSIGHT_LOG_FORMAT")
        .env_remove("OVERSIGHT_DATA_DIR_GROUP")
        .env("NO_COLOR", "1")
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    KillOnDrop(child)
}

fn modes(dir: &Path, out: &mut Vec<(String, u32)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        out.push((
            path.display().to_string(),
            meta.permissions().mode() & 0o777,
        ));
        if meta.is_dir() {
            modes(&path, out);
        }
    }
}

#[tokio::test]
async fn the_data_directory_is_0700_and_its_files_0600_whatever_the_umask() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    // What an earlier version left: a directory and a file any local user could read.
    std::fs::create_dir_all(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(data.join("notes.txt"), b"left by hand").unwrap();
    std::fs::set_permissions(
        data.join("notes.txt"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let port = free_port();
    let log = root.path().join("server.log");
    let _server = serve_after("umask 000", &data, port, &log);
    connect(&data, port).await;
    let mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "the data directory");
    let mut found = Vec::new();
    modes(&data, &mut found);
    for name in [
        "oversight.redb",
        "ballots.redb",
        "admin.token",
        "tokens.json",
        "views",
    ] {
        assert!(
            found.iter().any(|(path, _)| path.ends_with(name)),
            "{name} is not in {found:?}"
        );
    }
    for (path, mode) in &found {
        let want = if Path::new(path).is_dir() {
            0o700
        } else {
            0o600
        };
        assert_eq!(*mode, want, "{path} is {mode:04o}");
    }
    let lines = std::fs::read_to_string(&log).unwrap();
    assert!(
        lines.contains("tightened the mode") && lines.contains("notes.txt"),
        "{lines}"
    );
}
