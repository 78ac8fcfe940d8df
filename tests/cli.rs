//! The `oversight log …` client commands, run as the real binary against an in-process server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Output;

use common::TestServer;

async fn oversight(server: &TestServer, args: &[&str]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_oversight"));
    command
        .arg("log")
        .args(args)
        .arg("--server")
        .arg(server.url())
        .arg("--data-dir")
        .arg(server.dir.path().join("data"))
        .env_remove("OVERSIGHT_TOKEN")
        .env_remove("OVERSIGHT_TOKEN_FILE")
        .env_remove("OVERSIGHT_SERVER");
    // The server runs on this test's runtime, so wait for the child off the runtime thread.
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn append_read_head_verify_with_the_admin_token_from_the_data_dir() {
    let server = TestServer::start().await;
    let append = oversight(
        &server,
        &[
            "append",
            "--stream",
            "appointee-42",
            "--type",
            "AppointeeRegistered.v1",
            "--data",
            r#"{"name":"Zhang Wei"}"#,
            "--expected",
            "no-stream",
            "--json",
        ],
    )
    .await;
    assert!(append.status.success(), "{}", stderr(&append));
    let result: serde_json::Value = serde_json::from_str(stdout(&append).trim()).unwrap();
    assert_eq!(result["position"], 1);
    assert_eq!(result["revision"], 0);

    let again = oversight(
        &server,
        &[
            "append",
            "--stream",
            "appointee-42",
            "--type",
            "AppointeeRegistered.v1",
            "--data",
            "{}",
            "--expected",
            "no-stream",
        ],
    )
    .await;
    assert!(!again.status.success());
    let message = stderr(&again);
    assert!(message.contains("Aborted"), "{message}");
    assert!(message.contains("actual 0"), "{message}");

    let read = oversight(&server, &["read-stream", "appointee-42"]).await;
    assert!(read.status.success(), "{}", stderr(&read));
    let text = stdout(&read);
    assert!(text.contains("POSITION"), "{text}");
    assert!(text.contains("AppointeeRegistered.v1"), "{text}");
    assert!(text.contains("Zhang Wei"), "{text}");

    let all = oversight(
        &server,
        &["read", "--stream-prefix", "appointee-", "--json"],
    )
    .await;
    assert!(all.status.success(), "{}", stderr(&all));
    let line: serde_json::Value = serde_json::from_str(stdout(&all).trim()).unwrap();
    assert_eq!(line["data"]["name"], "Zhang Wei");
    assert_eq!(line["actor"], "admin");

    let head = oversight(&server, &["head", "--json"]).await;
    let head: serde_json::Value = serde_json::from_str(stdout(&head).trim()).unwrap();
    assert_eq!(head["position"], 1);

    let verify = oversight(&server, &["verify"]).await;
    assert!(verify.status.success(), "{}", stderr(&verify));
    assert!(
        stdout(&verify).starts_with("ok: 1 records checked"),
        "{}",
        stdout(&verify)
    );
}

#[tokio::test]
async fn bad_input_and_bad_token_exit_non_zero_with_code_and_message() {
    let server = TestServer::start().await;
    let bad = oversight(
        &server,
        &["append", "--stream", "s", "--type", "T", "--data", "{nope"],
    )
    .await;
    assert!(!bad.status.success());
    let message = stderr(&bad);
    assert!(message.contains("InvalidArgument"), "{message}");
    assert!(
        message.contains("events[0].data is not valid JSON"),
        "{message}"
    );

    let wrong = oversight(&server, &["head", "--token", "ovs_wrong"]).await;
    assert!(!wrong.status.success());
    assert!(
        stderr(&wrong).contains("Unauthenticated"),
        "{}",
        stderr(&wrong)
    );
}

// Damaged data files at start: the real `oversight serve` refuses them with a non-zero exit and
// a message naming the file and what to do, never a panic and never serving the damage.

const MARKER: &str = "MARKER-7-abcdefghij";

/// A data directory holding 20 events (one carrying [`MARKER`]) written by a server that then
/// shut down cleanly.
async fn closed_data_dir() -> tempfile::TempDir {
    use oversight::proto::{AppendRequest, ContentType, ProposedEvent};
    let server = TestServer::start().await;
    let mut client = server.client().await;
    for i in 0..20 {
        client
            .append(AppendRequest {
                stream: format!("s-{i}"),
                expected_revision: None,
                events: vec![ProposedEvent {
                    event_id: uuid::Uuid::new_v4().to_string(),
                    event_type: "Probe.v1".into(),
                    data: format!(r#"{{"marker":"MARKER-{i}-abcdefghij"}}"#).into_bytes(),
                    content_type: ContentType::Json as i32,
                    metadata: None,
                }],
            })
            .await
            .unwrap();
    }
    server.shutdown.trigger();
    server.task.await.unwrap().unwrap();
    server.dir
}

/// Runs `oversight serve` on `data_dir` and returns its output once it exits; a server that keeps
/// running on a damaged file fails the test.
async fn serve_damaged(data_dir: std::path::PathBuf) -> Output {
    tokio::task::spawn_blocking(move || {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_oversight"))
            .arg("serve")
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--listen", "127.0.0.1:0"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // A hang guard, not a timing assertion: a server that starts serves until killed.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                child.kill().unwrap();
                let output = child.wait_with_output().unwrap();
                panic!(
                    "the server started on a damaged file: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

fn assert_refused(output: &Output, file: &str, remedy: &str) {
    let err = stderr(output);
    assert!(!output.status.success(), "exit status {}", output.status);
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains(file), "stderr does not name {file}: {err}");
    assert!(
        err.contains(remedy),
        "stderr does not say {remedy:?}: {err}"
    );
}

fn edit(path: &std::path::Path, change: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(path).unwrap();
    change(&mut bytes);
    std::fs::write(path, bytes).unwrap();
}

#[tokio::test]
async fn a_truncated_log_file_is_refused_at_start() {
    let dir = closed_data_dir().await;
    let log = dir.path().join("data/oversight.redb");
    edit(&log, |bytes| bytes.truncate(bytes.len() / 2));
    let output = serve_damaged(dir.path().join("data")).await;
    assert_refused(&output, "oversight.redb", "restore the file from a backup");
}

#[tokio::test]
async fn a_log_file_with_a_damaged_header_is_refused_at_start() {
    let dir = closed_data_dir().await;
    let log = dir.path().join("data/oversight.redb");
    edit(&log, |bytes| bytes[..4].iter_mut().for_each(|b| *b ^= 0xff));
    let output = serve_damaged(dir.path().join("data")).await;
    assert_refused(&output, "oversight.redb", "restore the file from a backup");
}

#[tokio::test]
async fn a_flipped_byte_in_a_stored_record_is_refused_at_start() {
    let dir = closed_data_dir().await;
    let log = dir.path().join("data/oversight.redb");
    edit(&log, |bytes| {
        // Every copy of the record's bytes in the file (copy-on-write keeps old pages around).
        let mut flipped = 0;
        let mut at = 0;
        while let Some(found) = bytes[at..]
            .windows(MARKER.len())
            .position(|w| w == MARKER.as_bytes())
        {
            bytes[at + found + 2] ^= 0x01;
            at += found + MARKER.len();
            flipped += 1;
        }
        assert!(flipped > 0, "the record is not in the file");
    });
    let output = serve_damaged(dir.path().join("data")).await;
    assert_refused(&output, "oversight.redb", "restore the file from a backup");
}

#[tokio::test]
async fn a_damaged_view_file_is_refused_at_start_with_the_way_to_rebuild_it() {
    let dir = closed_data_dir().await;
    let views = dir.path().join("data/views.redb");
    edit(&views, |bytes| {
        bytes[..4].iter_mut().for_each(|b| *b ^= 0xff)
    });
    let output = serve_damaged(dir.path().join("data")).await;
    assert_refused(&output, "views.redb", "delete it and start again");

    // Following the advice works: the views are rebuilt from the log.
    std::fs::remove_file(&views).unwrap();
    let server = TestServer::start_in(dir, |_| {}, None).await;
    let head = server
        .client()
        .await
        .head(oversight::proto::HeadRequest {})
        .await
        .unwrap()
        .into_inner()
        .position;
    assert_eq!(head, 20);
    server.shutdown.trigger();
    server.task.await.unwrap().unwrap();
}
