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

// ---------------------------------------------------------------------------------------------
// The client commands of the supervision services.

/// Runs `oversight <args>` against the in-process server with its admin token.
async fn client(server: &TestServer, args: &[&str]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_oversight"));
    command
        .args(args)
        .env("OVERSIGHT_SERVER", server.url())
        .env("OVERSIGHT_DATA_DIR", server.dir.path().join("data"))
        .env_remove("OVERSIGHT_TOKEN")
        .env_remove("OVERSIGHT_TOKEN_FILE");
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

/// Runs a command that must succeed and returns its standard output.
async fn ok(server: &TestServer, args: &[&str]) -> String {
    let output = client(server, args).await;
    assert!(
        output.status.success(),
        "oversight {args:?} failed: {}",
        stderr(&output)
    );
    stdout(&output)
}

async fn committee_with_appointees(server: &TestServer) {
    ok(
        server,
        &[
            "committee",
            "create",
            "--id",
            "xf",
            "--name",
            "香坊区人大常委会",
            "--level",
            "district",
        ],
    )
    .await;
    committee_with_appointees_after_create(server).await;
}

#[tokio::test]
async fn json_output_parses_for_commands_records_and_lists() {
    let server = TestServer::start().await;
    let created = ok(
        &server,
        &[
            "committee",
            "create",
            "--id",
            "xf",
            "--name",
            "香坊区人大常委会",
            "--level",
            "district",
            "--json",
        ],
    )
    .await;
    let created: serde_json::Value = serde_json::from_str(created.trim()).unwrap();
    assert_eq!(created["committee_id"], "xf");
    assert!(created["position"].as_u64().unwrap() >= 1, "{created}");

    let member = ok(
        &server,
        &[
            "committee",
            "add-member",
            "--committee",
            "xf",
            "--id",
            "m1",
            "--name",
            "王明",
            "--from",
            "2024-01-01",
            "--json",
        ],
    )
    .await;
    let member: serde_json::Value = serde_json::from_str(member.trim()).unwrap();
    assert_eq!(member["member_id"], "m1");

    let shown = ok(&server, &["committee", "show", "xf", "--json"]).await;
    let shown: serde_json::Value = serde_json::from_str(shown.trim()).unwrap();
    assert_eq!(shown["level"], "district");
    assert_eq!(shown["seated_members"], 1);
    assert_eq!(shown["members"][0]["name"], "王明");

    committee_with_appointees_after_create(&server).await;
    let listed = ok(
        &server,
        &["appointee", "list", "--committee", "xf", "--json"],
    )
    .await;
    let rows: Vec<serde_json::Value> = listed
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(rows.len(), 2, "{listed}");
    assert_eq!(rows[0]["appointee_id"], "a1");
    assert_eq!(rows[1]["status"], "serving");

    let board = ok(
        &server,
        &["finding", "board", "--committee", "xf", "--json"],
    )
    .await;
    let board: serde_json::Value = serde_json::from_str(board.trim()).unwrap();
    assert_eq!(board["total"], 0);
    assert_eq!(board["status"]["closed"], 0);

    let policy = ok(
        &server,
        &["session", "policy", "show", "--committee", "xf", "--json"],
    )
    .await;
    let policy: serde_json::Value = serde_json::from_str(policy.trim()).unwrap();
    assert_eq!(policy["version"], 0);
}

async fn committee_with_appointees_after_create(server: &TestServer) {
    for (id, name, kind) in [("a1", "张伟", "government"), ("a2", "赵敏", "court")] {
        ok(
            server,
            &[
                "appointee",
                "register",
                "--id",
                id,
                "--committee",
                "xf",
                "--name",
                name,
                "--post",
                "局长",
                "--organ-kind",
                kind,
                "--organ",
                "香坊区人民政府",
                "--appointed-on",
                "2024-01-15",
                "--meeting",
                "第五次会议",
            ],
        )
        .await;
    }
}

#[tokio::test]
async fn csv_has_a_header_row_and_xlsx_is_a_workbook() {
    let server = TestServer::start().await;
    committee_with_appointees(&server).await;
    let csv = ok(
        &server,
        &["appointee", "list", "--committee", "xf", "--csv"],
    )
    .await;
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "appointee_id,committee_id,name,post,organ,appointed_on,status"
    );
    assert!(lines.next().unwrap().starts_with("a1,xf,张伟,"), "{csv}");

    let sheet = server.dir.path().join("coverage.xlsx");
    let table = ok(
        &server,
        &[
            "report",
            "coverage",
            "--committee",
            "xf",
            "--xlsx",
            sheet.to_str().unwrap(),
        ],
    )
    .await;
    assert!(table.contains("2 of 2 serving appointees"), "{table}");
    let bytes = std::fs::read(&sheet).unwrap();
    assert_eq!(&bytes[..4], b"PK\x03\x04", "an .xlsx file is a zip archive");
    let names = String::from_utf8_lossy(&bytes);
    assert!(names.contains("xl/worksheets/sheet1.xml"), "no worksheet");
    assert!(names.contains("[Content_Types].xml"), "no content types");
}

#[tokio::test]
async fn bad_input_prints_the_status_and_message_and_exits_non_zero() {
    let server = TestServer::start().await;
    committee_with_appointees(&server).await;
    let bad_date = client(
        &server,
        &[
            "appointee",
            "register",
            "--id",
            "a9",
            "--committee",
            "xf",
            "--name",
            "某某",
            "--post",
            "局长",
            "--organ-kind",
            "government",
            "--organ",
            "区政府",
            "--appointed-on",
            "2024-13-45",
            "--meeting",
            "第五次会议",
        ],
    )
    .await;
    assert!(!bad_date.status.success());
    let message = stderr(&bad_date);
    assert!(message.contains("InvalidArgument"), "{message}");
    assert!(message.contains("appointed_on"), "{message}");

    let missing = client(&server, &["committee", "show", "nowhere"]).await;
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("NotFound"),
        "{}",
        stderr(&missing)
    );

    let no_choice = client(
        &server,
        &["session", "vote", "--session", "s1", "--choice", "a1"],
    )
    .await;
    assert!(!no_choice.status.success());
    assert!(
        stderr(&no_choice).contains("is not APPOINTEE=OPTION"),
        "{}",
        stderr(&no_choice)
    );
}

/// The lines of the README's ```sh walkthrough block, continuation lines joined, comments and
/// blank lines left out.
fn walkthrough() -> Vec<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("```sh walkthrough\n")
        .expect("README.md has a ```sh walkthrough block");
    let block = &readme[start + "```sh walkthrough\n".len()..];
    let block = &block[..block.find("```").expect("the walkthrough block ends")];
    let mut lines = Vec::new();
    let mut current = String::new();
    for line in block.lines() {
        if let Some(head) = line.strip_suffix('\\') {
            current.push_str(head);
            continue;
        }
        current.push_str(line);
        let command = std::mem::take(&mut current);
        let trimmed = command.trim();
        if !trimmed.is_empty() && !trimmed.starts_with('#') {
            lines.push(trimmed.to_string());
        }
    }
    lines
}

/// Tokens of the walkthrough's people: `(file stem, role, subject)`, all of committee xf.
const PEOPLE: &[(&str, &str, &str)] = &[
    ("clerk", "clerk", "clerk-xf"),
    ("chair", "chair", "chair-xf"),
    ("m1", "committee_member", "m1"),
    ("m2", "committee_member", "m2"),
    ("m3", "committee_member", "m3"),
    ("m4", "committee_member", "m4"),
    ("m5", "committee_member", "m5"),
];

/// Writes the admin token and the people's tokens into `data`, and each person's token into
/// `tokens/<stem>.token` under `work`.
fn write_people(data: &std::path::Path, work: &std::path::Path) {
    use sha2::{Digest, Sha256};
    let digest = |token: &str| hex::encode(Sha256::digest(token.as_bytes()));
    std::fs::create_dir_all(data).unwrap();
    std::fs::create_dir_all(work.join("tokens")).unwrap();
    std::fs::write(data.join("admin.token"), "ovs_admin\n").unwrap();
    let mut entries = vec![serde_json::json!(
        { "subject": "admin", "role": "admin", "sha256": digest("ovs_admin") }
    )];
    for (stem, role, subject) in PEOPLE {
        let token = format!("ovs_walkthrough_{stem}");
        std::fs::write(work.join("tokens").join(format!("{stem}.token")), &token).unwrap();
        entries.push(serde_json::json!({
            "subject": subject, "role": role, "committee": "xf", "sha256": digest(&token),
        }));
    }
    let file = serde_json::json!({ "tokens": entries });
    std::fs::write(data.join("tokens.json"), file.to_string()).unwrap();
}

#[tokio::test]
async fn readme_walkthrough_runs_verbatim_against_the_real_server() {
    let lines = walkthrough();
    assert!(
        lines.len() > 20,
        "the walkthrough has {} commands",
        lines.len()
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let work = dir.path().join("office");
    write_people(&data, &work);
    let port = common::process::free_port();
    let _server = KillOnDrop(common::process::start(&data, port));
    common::process::connect(&data, port).await;

    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_oversight"));
    let path = format!(
        "{}:{}",
        binary.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |line: &str| {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(line)
            .current_dir(&work)
            .env("PATH", &path)
            .env("OVERSIGHT_SERVER", format!("http://127.0.0.1:{port}"))
            .env("OVERSIGHT_TOKEN_FILE", data.join("admin.token"))
            .env_remove("OVERSIGHT_TOKEN")
            .env_remove("OVERSIGHT_DATA_DIR")
            .output()
            .unwrap()
    };
    let mut transcript = String::new();
    for line in &lines {
        let output = run(line);
        transcript.push_str(&format!("$ {line}\n{}", stdout(&output)));
        if !output.status.success() {
            panic!(
                "README walkthrough line failed: {line}\n{}\n--- transcript ---\n{transcript}",
                stderr(&output)
            );
        }
    }
    // What a person reads: the announced grades, bilingual, and the scorecard.
    assert!(transcript.contains("满意 satisfied"), "{transcript}");
    assert!(
        transcript.contains("基本满意 basically satisfied"),
        "{transcript}"
    );
    assert!(transcript.contains("announced 已公布"), "{transcript}");
    assert!(transcript.contains("MATCHES"), "{transcript}");

    // And what a script reads.
    let result = run("oversight session result --session s2026 --json");
    assert!(result.status.success(), "{}", stderr(&result));
    let result: serde_json::Value = serde_json::from_str(stdout(&result).trim()).unwrap();
    assert_eq!(result["announced"], true);
    assert_eq!(result["present"], 5);
    let a1 = &result["subjects"][0];
    assert_eq!(a1["appointee_id"], "a1");
    assert_eq!(a1["counts"]["satisfied"], 4);
    assert_eq!(a1["counts"]["basically_satisfied"], 1);
    assert_eq!(a1["grade"], "satisfied");
    assert_eq!(result["subjects"][1]["grade"], "basically_satisfied");

    let card = run("oversight report scorecard --appointee a1 --json");
    assert!(card.status.success(), "{}", stderr(&card));
    let card: serde_json::Value = serde_json::from_str(stdout(&card).trim()).unwrap();
    let session = &card["sessions"][0];
    assert_eq!(session["session_id"], "s2026");
    assert_eq!(session["announced"], true);
    assert!(session["score"]["display"].is_string(), "{card}");
    let vote = session["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["component"] == "committee_vote")
        .unwrap();
    // (4 × 100 + 1 × 70) / 5 under the default option weights.
    assert_eq!(vote["score"]["display"], "94.00", "{card}");

    // A watcher started from the beginning receives the announcement from the stream.
    let mut watch = std::process::Command::new(binary)
        .args([
            "session",
            "watch",
            "--committee",
            "xf",
            "--from",
            "1",
            "--json",
        ])
        .env("OVERSIGHT_SERVER", format!("http://127.0.0.1:{port}"))
        .env("OVERSIGHT_TOKEN_FILE", data.join("admin.token"))
        .env_remove("OVERSIGHT_TOKEN")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(watch.stdout.take().unwrap()),
        &mut first,
    )
    .unwrap();
    watch.kill().unwrap();
    watch.wait().unwrap();
    let announced: serde_json::Value = serde_json::from_str(first.trim()).unwrap();
    assert_eq!(announced["session_id"], "s2026");
    assert_eq!(
        announced["announced_position"],
        result["announced_position"]
    );
}

/// Stops the server process when the test ends, whether it passed or not.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
