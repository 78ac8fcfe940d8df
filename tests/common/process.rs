//! Runs the real `oversight` binary as a child process, for tests that kill it with SIGKILL.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use oversight::proto::HeadRequest;
use oversight::proto::event_log_client::EventLogClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `oversight serve` on `127.0.0.1:port` with its data in `data_dir`.
pub fn start(data_dir: &Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_oversight"))
        .args(["serve", "--data-dir"])
        .arg(data_dir)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--web-listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the server binary")
}

/// Starts `oversight serve` on `127.0.0.1:port` with its data in `data_dir`, from the directory
/// `cwd`, its log lines (standard output and error) written to the file `log`.
pub fn start_logged(data_dir: &Path, port: u16, cwd: &Path, log: &Path) -> Child {
    let file = std::fs::File::create(log).expect("create the server's log file");
    Command::new(env!("CARGO_BIN_EXE_oversight"))
        .args(["serve", "--data-dir"])
        .arg(data_dir)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--web-listen", "127.0.0.1:0"])
        .current_dir(cwd)
        .env_remove("OVERSIGHT_CONFIG")
        .env_remove("OVERSIGHT_LOG_LEVEL")
        .env_remove("OVERSIGHT_LOG_FORMAT")
        .env("NO_COLOR", "1")
        .stdout(file.try_clone().expect("clone the log file"))
        .stderr(file)
        .spawn()
        .expect("start the server binary")
}

/// The lines of a server's log at `WARN` or `ERROR` level.
pub fn warnings_and_errors(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .expect("read the server's log")
        .lines()
        .filter(|line| {
            line.split_whitespace()
                .take(3)
                .any(|word| word == "WARN" || word == "ERROR")
        })
        .map(str::to_string)
        .collect()
}

/// Waits until the server answers an authenticated `Head`; returns a channel and the bearer
/// header of the admin token it wrote.
pub async fn connect(data_dir: &Path, port: u16) -> (Channel, MetadataValue<Ascii>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "server did not come up");
        if let Ok(token) = std::fs::read_to_string(data_dir.join("admin.token")) {
            let bearer: MetadataValue<_> = format!("Bearer {}", token.trim()).parse().unwrap();
            if let Ok(channel) = Channel::from_shared(format!("http://127.0.0.1:{port}"))
                .unwrap()
                .connect()
                .await
            {
                let mut client = EventLogClient::new(channel.clone());
                if client.head(authed(HeadRequest {}, &bearer)).await.is_ok() {
                    return (channel, bearer);
                }
            }
        }
        // Polling a process that is starting up: there is nothing to wait on but the port.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A request carrying the bearer header.
pub fn authed<T>(message: T, bearer: &MetadataValue<Ascii>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", bearer.clone());
    request
}
