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

    // The event, then the audit records of the two reads (read-stream, read).
    let head = oversight(&server, &["head", "--json"]).await;
    let head: serde_json::Value = serde_json::from_str(stdout(&head).trim()).unwrap();
    assert_eq!(head["position"], 3);

    let verify = oversight(&server, &["verify"]).await;
    assert!(verify.status.success(), "{}", stderr(&verify));
    assert!(
        stdout(&verify).starts_with("ok: 3 records checked"),
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
