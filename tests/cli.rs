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

/// Each line of `text` (the answer of a command run with `--json`) parsed as JSON.
fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[tokio::test]
async fn append_read_head_verify_with_the_admin_token_from_the_data_dir() {
    let server = TestServer::start().await;
    let append = oversight(
        &server,
        &[
            "append",
            "--stream",
            "notes-42",
            "--type",
            "NoteTaken.v1",
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
            "notes-42",
            "--type",
            "NoteTaken.v1",
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

    let read = oversight(&server, &["read-stream", "notes-42"]).await;
    assert!(read.status.success(), "{}", stderr(&read));
    let text = stdout(&read);
    assert!(text.contains("POSITION"), "{text}");
    assert!(text.contains("NoteTaken.v1"), "{text}");
    assert!(text.contains("Zhang Wei"), "{text}");

    let csv = oversight(&server, &["read-stream", "notes-42", "--csv"]).await;
    assert!(csv.status.success(), "{}", stderr(&csv));
    let text = stdout(&csv);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("position,revision,stream,event_type"),
        "{text}"
    );
    assert!(lines[1].starts_with("1,0,notes-42,NoteTaken.v1,"), "{text}");
    // The JSON payload holds quotes: the field is quoted with its quotes doubled.
    assert!(lines[1].contains(r#""{""name"":""Zhang Wei""}""#), "{text}");

    let all = oversight(&server, &["read", "--stream-prefix", "notes-", "--json"]).await;
    assert!(all.status.success(), "{}", stderr(&all));
    let line: serde_json::Value = serde_json::from_str(stdout(&all).trim()).unwrap();
    assert_eq!(line["data"]["name"], "Zhang Wei");
    assert_eq!(line["actor"], "admin");

    // The event, then the audit records of the three reads (read-stream twice, read).
    let head = oversight(&server, &["head", "--json"]).await;
    let head: serde_json::Value = serde_json::from_str(stdout(&head).trim()).unwrap();
    assert_eq!(head["position"], 4);

    let verify = oversight(&server, &["verify"]).await;
    assert!(verify.status.success(), "{}", stderr(&verify));
    assert!(
        stdout(&verify).starts_with("ok: 4 records checked"),
        "{}",
        stdout(&verify)
    );
}

#[tokio::test]
async fn append_multi_writes_several_streams_at_once_or_nothing() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    // Writes `text` to the file `name` in `dir` and returns its path.
    let file_of = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let file = file_of(
        "appends.json",
        r#"[
            {"stream": "notes-xf", "expected": "no-stream",
             "events": [{"type": "Noted.v1", "data": {"n": 1}}, {"type": "Noted.v1", "data": {"n": 2}}]},
            {"stream": "notes-a1", "events": [{"type": "Noted.v1", "data": {"n": 3}}]}
        ]"#,
    );
    let file = file.as_str();
    let written = oversight(&server, &["append-multi", file, "--json"]).await;
    assert!(written.status.success(), "{}", stderr(&written));
    let lines = json_lines(&stdout(&written));
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["stream"], "notes-xf");
    assert_eq!(lines[0]["position"], 2);
    assert_eq!(lines[1]["position"], 3);

    // The same file again: the first stream exists now, so nothing of it is written.
    let refused = oversight(&server, &["append-multi", file]).await;
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("notes-xf"),
        "{}",
        stderr(&refused)
    );
    let head = oversight(&server, &["head", "--json"]).await;
    let head: serde_json::Value = serde_json::from_str(stdout(&head).trim()).unwrap();
    assert_eq!(head["position"], 3);

    // An entry with no events is a condition on its stream: written while it holds.
    let conditional = file_of(
        "conditional.json",
        r#"[
            {"stream": "notes-xf", "expected": "1", "events": []},
            {"stream": "notes-a1", "expected": "0",
             "events": [{"type": "Noted.v1", "data": {"n": 4}}]}
        ]"#,
    );
    let written = oversight(&server, &["append-multi", &conditional, "--json"]).await;
    assert!(written.status.success(), "{}", stderr(&written));
    let lines = json_lines(&stdout(&written));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["stream"], "notes-a1");
    assert_eq!(lines[0]["position"], 4);
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

/// Reads one line of a command's standard output, closes the pipe as `head -1` does, and
/// returns the command's outcome.
fn first_line_then_close(mut command: std::process::Command) -> (String, Output) {
    use std::io::BufRead;
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    {
        let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
        reader.read_line(&mut first).unwrap();
    } // The read end closes here, while the command still has most of its output to write.
    (first, child.wait_with_output().unwrap())
}

#[tokio::test]
async fn a_reader_that_closes_the_pipe_early_ends_the_command_quietly() {
    let server = TestServer::start().await;
    // Far more output than a pipe buffers (64 KiB), so the command writes after the close.
    let text = "x".repeat(2000);
    let events = (0..200)
        .map(|i| oversight::proto::ProposedEvent {
            event_type: "Noted.v1".into(),
            data: format!("{{\"i\": {i}, \"text\": \"{text}\"}}").into_bytes(),
            content_type: oversight::proto::ContentType::Json as i32,
            ..Default::default()
        })
        .collect();
    server
        .client()
        .await
        .append(oversight::proto::AppendRequest {
            stream: "notes-1".into(),
            expected_revision: None,
            events,
        })
        .await
        .unwrap();

    for format in ["--json", "--csv", "--table"] {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_oversight"));
        command
            .args(["log", "read"])
            .args((format != "--table").then_some(format))
            .arg("--server")
            .arg(server.url())
            .arg("--data-dir")
            .arg(server.dir.path().join("data"))
            .env_remove("OVERSIGHT_TOKEN")
            .env_remove("OVERSIGHT_TOKEN_FILE");
        let (first, output) = tokio::task::spawn_blocking(move || first_line_then_close(command))
            .await
            .unwrap();
        assert!(!first.is_empty(), "{format}: no first line");
        let message = stderr(&output);
        assert!(!message.contains("panicked"), "{format}: {message}");
        assert!(!message.contains("Broken pipe"), "{format}: {message}");
        assert_ne!(output.status.code(), Some(101), "{format}: {message}");
        assert!(
            output.status.success(),
            "{format}: {:?} {message}",
            output.status
        );
    }

    // The completion script is written in one piece after it is generated.
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_oversight"));
    command.args(["completions", "zsh"]);
    let (first, output) = tokio::task::spawn_blocking(move || first_line_then_close(command))
        .await
        .unwrap();
    assert_eq!(first, "#compdef oversight\n");
    assert!(
        output.status.success(),
        "{:?} {}",
        output.status,
        stderr(&output)
    );
    assert!(stderr(&output).is_empty(), "{}", stderr(&output));
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
        .env("OVERSIGHT_STATE_DIR", server.dir.path().join("state"))
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
async fn the_supervision_policy_is_shown_and_a_new_version_adopted() {
    let server = TestServer::start().await;
    ok(
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
        ],
    )
    .await;
    let shown = ok(
        &server,
        &["committee", "policy", "--committee", "xf", "--json"],
    )
    .await;
    let shown: serde_json::Value = serde_json::from_str(shown.trim()).unwrap();
    assert_eq!(shown["version"], 0, "{shown}");
    assert_eq!(shown["finding_due_months"], 3, "{shown}");

    let adopted = ok(
        &server,
        &[
            "committee",
            "adopt-policy",
            "--committee",
            "xf",
            "--finding-due-months",
            "2",
            "--json",
        ],
    )
    .await;
    let adopted: serde_json::Value = serde_json::from_str(adopted.trim()).unwrap();
    assert_eq!(adopted["version"], 1, "{adopted}");

    let table = ok(&server, &["committee", "policy", "--committee", "xf"]).await;
    assert!(table.contains("整改期限"), "{table}");
    let shown = ok(
        &server,
        &["committee", "policy", "--committee", "xf", "--json"],
    )
    .await;
    let shown: serde_json::Value = serde_json::from_str(shown.trim()).unwrap();
    assert_eq!(shown["version"], 1, "{shown}");
    assert_eq!(shown["finding_due_months"], 2, "{shown}");
    // The settings not named keep their values.
    assert_eq!(shown["visit_rating_max"], 5, "{shown}");

    // A policy that fails validation is refused with the field named, and nothing changes.
    let refused = client(
        &server,
        &[
            "committee",
            "adopt-policy",
            "--committee",
            "xf",
            "--finding-due-months",
            "0",
        ],
    )
    .await;
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("finding_due_months"),
        "{}",
        stderr(&refused)
    );
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
    let rows = json_lines(&listed);
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
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&sheet).unwrap()).unwrap();
    let mut part = |name: &str| {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut archive.by_name(name).unwrap(), &mut text).unwrap();
        text
    };
    assert!(part("[Content_Types].xml").contains("spreadsheetml"));
    assert!(
        part("xl/workbook.xml").contains(r#"name="结果""#),
        "sheet name"
    );
    // The title, the Chinese headers in column order, then the rows' names.
    let strings = part("xl/sharedStrings.xml");
    let mut at = 0;
    for text in [
        "述职测评覆盖情况 xf",
        "任命人员",
        "姓名",
        "已述职",
        "已测评",
        "张伟",
    ] {
        let found = strings[at..]
            .find(&format!("<t>{text}</t>"))
            .unwrap_or_else(|| panic!("{text} is not in order in {strings}"));
        at += found;
    }
    // The header row is the sheet's third row: its first cell is the shared string 任命人员.
    let index = strings[..strings.find("<t>任命人员</t>").unwrap()]
        .matches("<si>")
        .count()
        - 1;
    let rows = part("xl/worksheets/sheet1.xml");
    let a3 = &rows[rows.find(r#"<c r="A3""#).expect("a cell A3")..];
    let a3 = &a3[..a3.find("</c>").unwrap()];
    assert!(
        a3.contains(r#"t="s""#) && a3.contains(&format!("<v>{index}</v>")),
        "{a3}"
    );
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
    // The status names the field (google.rpc.BadRequest); the client names its flag.
    assert!(message.contains("\n--appointed-on: "), "{message}");

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
    readme_block("```sh walkthrough\n")
}

/// The command lines of the README block that starts with `fence`, continuation lines joined,
/// comments and blank lines left out.
fn readme_block(fence: &str) -> Vec<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find(fence)
        .unwrap_or_else(|| panic!("README.md has no {fence} block"));
    let block = &readme[start + fence.len()..];
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

/// The lines of README's first example (```sh example), run with the built binary instead of
/// `cargo run --release --`.
fn first_example() -> Vec<String> {
    readme_block("```sh example\n")
        .into_iter()
        .map(|line| line.replace("cargo run --release -- ", "oversight "))
        .collect()
}

/// A fresh office as README sets it up: a working directory with the server's data directory
/// `data` in it (so README's commands find `./data`), and a real server process on it whose log
/// lines go to `server.log` beside the working directory.
struct FreshOffice {
    dir: tempfile::TempDir,
    work: std::path::PathBuf,
    data: std::path::PathBuf,
    log: std::path::PathBuf,
    port: u16,
    server: KillOnDrop,
}

impl FreshOffice {
    async fn start() -> FreshOffice {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("office");
        std::fs::create_dir_all(&work).unwrap();
        let data = work.join("data");
        let log = dir.path().join("server.log");
        let port = common::process::free_port();
        let server = KillOnDrop(common::process::start_logged(&data, port, &work, &log));
        common::process::connect(&data, port).await;
        FreshOffice {
            dir,
            work,
            data,
            log,
            port,
            server,
        }
    }
}

#[tokio::test]
async fn readme_walkthrough_runs_verbatim_against_the_real_server() {
    let lines = walkthrough();
    assert!(
        lines.len() > 20,
        "the walkthrough has {} commands",
        lines.len()
    );
    // A fresh data directory: README's own commands issue every token.
    let office = FreshOffice::start().await;
    let (data, work, port) = (&office.data, &office.work, office.port);
    let state = office.dir.path().join("state");

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
            .current_dir(work)
            .env("PATH", &path)
            .env("OVERSIGHT_SERVER", format!("http://127.0.0.1:{port}"))
            .env("OVERSIGHT_TOKEN_FILE", data.join("admin.token"))
            .env("OVERSIGHT_STATE_DIR", &state)
            .env_remove("OVERSIGHT_TOKEN")
            .env_remove("OVERSIGHT_DATA_DIR")
            .env_remove("OVERSIGHT_CONFIG")
            .output()
            .unwrap()
    };
    let mut transcript = String::new();
    // README's first example, then its walkthrough, as a newcomer runs them.
    for line in first_example() {
        let output = run(&line);
        transcript.push_str(&format!("$ {line}\n{}", stdout(&output)));
        assert!(
            output.status.success(),
            "README example line failed: {line}\n{}\n--- transcript ---\n{transcript}",
            stderr(&output)
        );
        // README says the head is 3 after its append and two reads.
        if line == "oversight log head" {
            let head = stdout(&output);
            let position = head
                .lines()
                .nth(1)
                .and_then(|l| l.split_whitespace().next());
            assert_eq!(position, Some("3"), "{transcript}");
        }
    }
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
    // The finding raised from the visit counts, whatever day the walkthrough is run: closed,
    // so resolved.
    let findings = session["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["component"] == "findings")
        .unwrap();
    assert_eq!(findings["score"]["display"], "100.00", "{card}");
    assert_eq!(findings["basis"], 1, "{card}");

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

    // The set-up command's files: a directory and tokens only their owner can read.
    use std::os::unix::fs::PermissionsExt;
    let mode =
        |path: std::path::PathBuf| std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(work.join("tokens")), 0o700);
    for stem in ["clerk", "chair", "m1", "m5"] {
        assert_eq!(
            mode(work.join(format!("tokens/{stem}.token"))),
            0o600,
            "{stem}"
        );
    }
    assert!(
        transcript.contains("/signin/"),
        "no sign-in links in {transcript}"
    );

    // Nothing the newcomer did left an error or a warning in the server's log (a refused call
    // is logged as a warning, a view that skipped an event as an error).
    drop(office.server);
    let noise = common::process::warnings_and_errors(&office.log);
    assert!(noise.is_empty(), "the server logged:\n{}", noise.join("\n"));
}

/// A real server process holding what the README walkthrough left: committee xf with five
/// members, appointees a1 and a2, group g3, visit v1, finding f1, duty report r1, feedback fb1
/// and the announced session s2026.
struct Office {
    _dir: tempfile::TempDir,
    data: std::path::PathBuf,
    work: std::path::PathBuf,
    port: u16,
    _server: KillOnDrop,
    /// What the walkthrough printed.
    transcript: String,
}

impl Office {
    async fn after_walkthrough() -> Office {
        let fresh = FreshOffice::start().await;
        let mut office = Office {
            data: fresh.data,
            work: fresh.work,
            port: fresh.port,
            _server: fresh.server,
            _dir: fresh.dir,
            transcript: String::new(),
        };
        for line in walkthrough() {
            let output = office.sh(&line);
            assert!(output.status.success(), "{line}: {}", stderr(&output));
            office.transcript.push_str(&stdout(&output));
        }
        office
    }

    fn command(&self, program: &std::path::Path) -> std::process::Command {
        let binary = std::path::Path::new(env!("CARGO_BIN_EXE_oversight"));
        let path = format!(
            "{}:{}",
            binary.parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut command = std::process::Command::new(program);
        command
            .current_dir(&self.work)
            .env("PATH", path)
            .env(
                "OVERSIGHT_SERVER",
                format!("http://127.0.0.1:{}", self.port),
            )
            .env("OVERSIGHT_TOKEN_FILE", self.data.join("admin.token"))
            .env("OVERSIGHT_STATE_DIR", self._dir.path().join("state"))
            .env_remove("OVERSIGHT_TOKEN")
            .env_remove("OVERSIGHT_DATA_DIR")
            .env_remove("OVERSIGHT_CONFIG");
        command
    }

    /// Runs a command line as a person types it.
    fn sh(&self, line: &str) -> Output {
        self.command(std::path::Path::new("sh"))
            .arg("-c")
            .arg(line)
            .output()
            .unwrap()
    }

    /// Runs `oversight <line> --json`, which must succeed, and parses each line of its answer.
    fn json(&self, line: &str) -> Vec<serde_json::Value> {
        let output = self.sh(&format!("oversight {line} --json"));
        assert!(
            output.status.success(),
            "oversight {line} --json failed: {}",
            stderr(&output)
        );
        stdout(&output)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{line}: {e}: {l}")))
            .collect()
    }

    /// The one JSON document `oversight <line> --json` answers.
    fn one(&self, line: &str) -> serde_json::Value {
        let mut answer = self.json(line);
        assert_eq!(answer.len(), 1, "{line}: {answer:?}");
        answer.remove(0)
    }
}

#[tokio::test]
async fn every_client_command_answers_json_after_the_walkthrough() {
    let office = Office::after_walkthrough().await;

    // Committees.
    let committees = office.json("committee list");
    assert_eq!(committees[0]["committee_id"], "xf");
    assert_eq!(committees[0]["seated_members"], 5);
    let removed = office.one("committee remove-member --committee xf --id m5 --to 2026-07-01");
    assert_eq!(removed["member_id"], "m5");
    assert_eq!(office.one("committee show xf")["seated_members"], 4);

    // Appointees.
    let moved = office.one(
        "appointee change-post --id a2 --post 区法院院长 --on 2026-07-01 --meeting 第十一次会议",
    );
    assert_eq!(moved["appointee_id"], "a2");
    let shown = office.one("appointee show a2");
    assert_eq!(shown["post"], "区法院院长");
    assert_eq!(shown["posts"].as_array().unwrap().len(), 2, "{shown}");
    let ended =
        office.one("appointee end-term --id a2 --kind transfer --on 2026-08-01 --reason 调任");
    assert_eq!(ended["appointee_id"], "a2");
    assert_eq!(office.one("appointee show a2")["status"], "ended");

    // Deputy groups.
    office.one("group add-deputy --group g3 --id d2 --name 钱七");
    let gone = office.one("group remove-deputy --group g3 --id d2");
    assert_eq!(gone["deputy_id"], "d2");
    let group = office.one("group show g3");
    assert_eq!(group["deputies"].as_array().unwrap().len(), 1, "{group}");
    assert_eq!(office.one("group list --committee xf")["deputies"], 1);

    // Site visits.
    let corrected = office
        .one("visit correct --id v1 --discipline 3 --service 5 --efficiency 4 --reason 复核评分");
    assert_eq!(corrected["visit_id"], "v1");
    let visits = office.json("visit list --appointee a1");
    assert_eq!(visits[0]["discipline"], 3, "{visits:?}");
    let averages = office.one("visit averages --appointee a1");
    assert_eq!(averages["discipline"], "3.00", "{averages}");
    assert_eq!(averages["visits"], 1, "{averages}");
    office.one(
        "visit file --id v2 --group g3 --organ 香坊区人民法院 --appointee a1 --mode incognito \
         --visited-at 2026-05-13 --discipline 4 --service 4 --efficiency 4",
    );
    assert_eq!(
        office.one("visit retract --id v2 --reason 重复录入")["visit_id"],
        "v2"
    );
    let visits = office.json("visit list --group g3");
    assert_eq!(visits[1]["visit_id"], "v2", "{visits:?}");
    assert_eq!(visits[1]["retracted"], true, "{visits:?}");
    // A period: v1 on 12 May, v2 on 13 May.
    let ids = |line: &str| -> Vec<serde_json::Value> {
        office
            .json(line)
            .into_iter()
            .map(|v| v["visit_id"].clone())
            .collect()
    };
    assert_eq!(ids("visit list --group g3 --from 2026-05-13"), ["v2"]);
    assert_eq!(ids("visit list --group g3 --to 2026-05-13"), ["v1"]);
    assert!(ids("visit list --group g3 --from 2026-05-14").is_empty());

    // Inspections.
    let opened = office.one(
        "inspection open --id i1 --committee xf --kind law-enforcement --title 食品安全法执法检查 \
         --law 食品安全法 --year 2026 --organ 香坊区市场监督管理局",
    );
    assert_eq!(opened["inspection_id"], "i1");
    let reported = office.one(
        "inspection report --id i1 --evaluation 基本落实 --problem 抽检不足 --suggestion 加强抽检",
    );
    assert_eq!(reported["inspection_id"], "i1");
    let plan = office.one(
        "inspection plan --committee xf --year 2027 --law 食品安全法 --law 环境保护法 \
         --law 安全生产法",
    );
    assert_eq!(plan["plan_id"], "xf-2027", "{plan}");
    let shown = office.one("inspection plan-show --committee xf --year 2027");
    assert_eq!(shown["laws"][2], "安全生产法", "{shown}");
    assert_eq!(shown["changes"][0]["kind"], "adopted", "{shown}");
    assert_eq!(shown["changes"][0]["laws"], shown["laws"], "{shown}");
    assert!(
        shown["changes"][0]["position"].as_u64() > Some(0),
        "{shown}"
    );
    assert_eq!(
        office.one("inspection list --committee xf")["reported"],
        true
    );
    let inspection = office.one("inspection show i1");
    assert_eq!(inspection["problems"][0], "抽检不足", "{inspection}");

    // Findings.
    office.one(
        "finding raise --id f2 --committee xf --source visit --source-ref v1 \
         --organ 香坊区住房和城乡建设局 --appointee a1 --description 资料不全 \
         --rectification-required",
    );
    office.one("finding assign --id f2 --assignee 香坊区住房和城乡建设局");
    let extended = office
        .one("finding extend --id f2 --due 2099-12-31 --approved-by 主任会议 --reason 需要协调");
    assert_eq!(extended["due_on"], "2099-12-31", "{extended}");
    office.one("finding respond --id f2 --explained --rectification done --note 已补齐");
    let rejected =
        office.one("finding verify --id f2 --reject 未见材料 --token-file tokens/chair.token");
    assert_eq!(rejected["finding_id"], "f2");
    let finding = office.one("finding show f2");
    assert_eq!(finding["status"], "reopened", "{finding}");
    assert_eq!(finding["extensions"], 1, "{finding}");
    let findings = office.json("finding list --committee xf");
    assert_eq!(findings.len(), 2, "{findings:?}");
    assert_eq!(findings[0]["status"], "closed", "{findings:?}");

    // Duty reports and feedback.
    let revised = office.one(
        "hearing revise-report --id r1 --title 2026年度述职报告（修订） --reason 更正数据 \
         --sha256 60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752",
    );
    assert_eq!(revised["duty_report_id"], "r1", "{revised}");
    assert_eq!(office.one("hearing reports --appointee a1")["revisions"], 1);
    let feedback = office.one("hearing feedback-list --appointee a1");
    assert_eq!(feedback["feedback_id"], "fb1", "{feedback}");
    assert_eq!(feedback["participants"], 20, "{feedback}");
    let retracted = office.one("hearing retract-feedback --id fb1 --reason 样本有误");
    assert_eq!(retracted["feedback_id"], "fb1");
    assert_eq!(
        office.one("hearing feedback-list --appointee a1")["retracted"],
        true
    );
    let withdrawn = office.one("hearing withdraw-report --id r1 --reason 重新提交");
    assert_eq!(withdrawn["duty_report_id"], "r1");
    assert_eq!(
        office.one("hearing reports --appointee a1")["withdrawn"],
        true
    );

    // Receipts: a member's receipt is among the published ballots; an unknown one is not, and
    // the command says so with exit code 1.
    let receipt = office
        .transcript
        .split("; receipt ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the walkthrough's votes print receipts")
        .to_string();
    let checked = office.one(&format!(
        "session receipt --session s2026 --ballot {receipt}"
    ));
    assert_eq!(checked["published"], true, "{checked}");
    assert_eq!(checked["published_ballots"], 5, "{checked}");
    let unknown = office.sh(
        "oversight session receipt --session s2026 --ballot 00000000-0000-4000-8000-000000000000",
    );
    assert_eq!(unknown.status.code(), Some(1), "{}", stderr(&unknown));
    assert!(
        stdout(&unknown).contains("is NOT among the 5 ballots"),
        "{}",
        stdout(&unknown)
    );
    assert!(
        stderr(&unknown).contains("not among the published ballots"),
        "{}",
        stderr(&unknown)
    );
    let help = office.sh("oversight session receipt --help");
    assert!(
        stdout(&help).contains("1 when it is not"),
        "{}",
        stdout(&help)
    );

    // Sessions: a correction proposed by the clerk and approved by the chair annuls the round.
    assert_eq!(
        office.one("session list --committee xf")["phase"],
        "announced"
    );
    let proposed = office.one(
        "session propose-correction --session s2026 --round 1 --kind annul-round --reason 复核 \
         --token-file tokens/clerk.token",
    );
    assert_eq!(proposed["proposal"], 1, "{proposed}");
    let approved = office.one(
        "session approve-correction --session s2026 --proposal 1 --round 1 --kind annul-round \
         --token-file tokens/chair.token",
    );
    assert_eq!(approved["session_id"], "s2026");
    let listed = office.one("session list --committee xf");
    assert_eq!(listed["phase"], "roll_called", "{listed}");
    assert_eq!(listed["voted"], 0, "{listed}");

    // Reports: the findings board as JSON, a table and CSV; the districts of a city.
    let board = office.one("report findings-board --committee xf");
    assert_eq!(board["total"], 2, "{board}");
    assert_eq!(board["status"]["reopened"], 1, "{board}");
    let table = office.sh("oversight report findings-board --committee xf");
    assert!(table.status.success(), "{}", stderr(&table));
    assert!(
        stdout(&table).contains("status 办理状态"),
        "{}",
        stdout(&table)
    );
    let csv = office.sh("oversight report findings-board --committee xf --csv");
    assert!(csv.status.success(), "{}", stderr(&csv));
    let csv = stdout(&csv);
    assert_eq!(csv.lines().next(), Some("facet,state,count"), "{csv}");
    assert!(
        csv.lines().any(|l| l == "status 办理状态,reopened,1"),
        "{csv}"
    );
    office.one("committee create --id hrb --name 哈尔滨市人大常委会 --level city");
    office.one("committee create --id dl --name 道里区人大常委会 --level district --parent hrb");
    let rankings = office.one("report rankings --committee hrb --districts");
    assert_eq!(rankings["committee_id"], "dl", "{rankings}");
    assert_eq!(rankings["scored"], 0, "{rankings}");
    let coverage = office.one("report coverage --committee hrb --districts");
    assert_eq!(coverage["committee_id"], "dl", "{coverage}");
    assert_eq!(coverage["serving"], 0, "{coverage}");

    // `log tail --now` receives an event appended after it has caught up.
    let mut tail = office
        .command(std::path::Path::new(env!("CARGO_BIN_EXE_oversight")))
        .args(["log", "tail", "--now", "--json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(tail.stdout.take().unwrap()));
    let caught_up: serde_json::Value =
        serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert!(caught_up["caught_up"].as_u64().is_some(), "{caught_up}");
    let appended = office.one(r#"log append --stream notes-tail --type Noted.v1 --data '{"n":1}'"#);
    let event: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    tail.kill().unwrap();
    tail.wait().unwrap();
    assert_eq!(event["stream"], "notes-tail", "{event}");
    assert_eq!(event["position"], appended["position"], "{event}");
    assert_eq!(event["data"]["n"], 1, "{event}");
}

/// Stops the server process when the test ends, whether it passed or not.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Operations: config show, export/import, backup/restore, rebuild, completions.

/// Runs the binary with `args` (no implicit `log`), off the runtime thread.
async fn run(args: Vec<std::ffi::OsString>, env: &[(&str, &str)]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_oversight"));
    command.args(args);
    for name in [
        "OVERSIGHT_TOKEN",
        "OVERSIGHT_TOKEN_FILE",
        "OVERSIGHT_SERVER",
        "OVERSIGHT_CONFIG",
        "OVERSIGHT_DATA_DIR",
        "OVERSIGHT_LISTEN",
        "OVERSIGHT_LOG_LEVEL",
    ] {
        command.env_remove(name);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn args(list: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<std::ffi::OsString> {
    list.iter().map(|a| a.as_ref().to_os_string()).collect()
}

/// `--server URL --token-file <data>/admin.token`.
fn connection(server: &TestServer) -> Vec<std::ffi::OsString> {
    args(&[
        &"--server",
        &server.url(),
        &"--token-file",
        &server.dir.path().join("data").join("admin.token"),
    ])
}

/// Appends `n` events over gRPC, over a few streams, JSON and binary.
async fn append_some(server: &TestServer, n: usize, tag: &str) {
    let mut client = server.client().await;
    for i in 0..n {
        let binary = i % 3 == 2;
        client
            .append(oversight::proto::AppendRequest {
                stream: format!("{tag}-{}", i % 4),
                expected_revision: None,
                events: vec![oversight::proto::ProposedEvent {
                    event_id: String::new(),
                    event_type: "Noted.v1".into(),
                    data: if binary {
                        vec![0, 159, 146, 150, i as u8]
                    } else {
                        format!("{{ \"i\": {i}, \"text\": \"第{i}条\\n\" }}").into_bytes()
                    },
                    content_type: if binary {
                        oversight::proto::ContentType::Binary as i32
                    } else {
                        oversight::proto::ContentType::Json as i32
                    },
                    metadata: Some(oversight::proto::EventMetadata {
                        correlation_id: format!("c-{i}"),
                        committee: "c1".into(),
                        extra: [("k".to_string(), "v".to_string())].into(),
                        ..Default::default()
                    }),
                }],
            })
            .await
            .unwrap();
    }
}

async fn head_of(server: &TestServer) -> (u64, String) {
    let head = server
        .client()
        .await
        .head(oversight::proto::HeadRequest {})
        .await
        .unwrap()
        .into_inner();
    (head.position, hex::encode(head.hash))
}

/// The `head P HASH` at the end of a command's output line.
fn reported_head(output: &Output) -> (u64, String) {
    let text = stdout(output);
    let words: Vec<&str> = text.split_whitespace().collect();
    let at = words
        .iter()
        .rposition(|w| *w == "head")
        .unwrap_or_else(|| panic!("no head in {text}"));
    (words[at + 1].parse().unwrap(), words[at + 2].to_string())
}

#[tokio::test]
async fn export_verify_import_reproduces_the_head_and_offline_export_is_identical() {
    let server = TestServer::start().await;
    append_some(&server, 40, "export").await;
    let head = head_of(&server).await;
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("log.jsonl");

    let mut export = args(&[&"admin", &"export", &file]);
    export.extend(connection(&server));
    let exported = run(export.clone(), &[]).await;
    assert!(exported.status.success(), "{}", stderr(&exported));
    assert_eq!(reported_head(&exported), head);
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.lines().count(), 40);
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    for field in [
        "position",
        "stream",
        "revision",
        "event_id",
        "event_type",
        "metadata",
        "recorded_at_micros",
        "previous_hash",
        "hash",
    ] {
        assert!(first.get(field).is_some(), "{field} missing in {first}");
    }
    assert_eq!(first["metadata"]["actor"]["subject"], "admin");

    // A second export to an existing file is refused rather than overwriting it.
    let again = run(export, &[]).await;
    assert!(!again.status.success());

    let verified = run(args(&[&"verify-export", &file]), &[]).await;
    assert!(verified.status.success(), "{}", stderr(&verified));
    assert_eq!(reported_head(&verified), head);

    let target = work.path().join("imported");
    let imported = run(
        args(&[&"admin", &"import", &file, &"--data-dir", &target]),
        &[],
    )
    .await;
    assert!(imported.status.success(), "{}", stderr(&imported));
    assert_eq!(reported_head(&imported), head);
    // The imported log is complete: an offline export of it is byte for byte the same.
    let offline = work.path().join("offline.jsonl");
    let exported = run(
        args(&[&"admin", &"export", &offline, &"--data-dir", &target]),
        &[],
    )
    .await;
    assert!(exported.status.success(), "{}", stderr(&exported));
    assert_eq!(std::fs::read_to_string(&offline).unwrap(), text);

    // Importing twice into the same directory is refused.
    let twice = run(
        args(&[&"admin", &"import", &file, &"--data-dir", &target]),
        &[],
    )
    .await;
    assert!(!twice.status.success());
    assert!(stderr(&twice).contains("empty"), "{}", stderr(&twice));

    // A directory holding views (they would be another log's) is refused, in either layout.
    for views in ["views", "views.redb"] {
        let stale = work.path().join(format!("stale-{views}"));
        std::fs::create_dir_all(&stale).unwrap();
        if views == "views" {
            std::fs::create_dir_all(stale.join(views)).unwrap();
        } else {
            std::fs::write(stale.join(views), b"old").unwrap();
        }
        let refused = run(
            args(&[&"admin", &"import", &file, &"--data-dir", &stale]),
            &[],
        )
        .await;
        assert!(!refused.status.success());
        assert!(
            stderr(&refused).contains("views of another log"),
            "{}",
            stderr(&refused)
        );
    }
}

#[tokio::test]
async fn a_tampered_export_line_is_named_with_its_line_number() {
    let server = TestServer::start().await;
    append_some(&server, 10, "tamper").await;
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("log.jsonl");
    let mut export = args(&[&"admin", &"export", &file]);
    export.extend(connection(&server));
    assert!(run(export, &[]).await.status.success());

    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut line: serde_json::Value = serde_json::from_str(&lines[6]).unwrap();
    line["metadata"]["committee"] = "c2".into();
    lines[6] = line.to_string();
    let tampered = work.path().join("tampered.jsonl");
    std::fs::write(&tampered, lines.join("\n") + "\n").unwrap();

    let verified = run(args(&[&"verify-export", &tampered]), &[]).await;
    assert!(!verified.status.success());
    let message = stderr(&verified);
    assert!(message.contains("line 7 (position 7)"), "{message}");
    assert!(message.contains("does not match"), "{message}");

    // An import of it stops at the same line and keeps nothing past it.
    let target = work.path().join("imported");
    let imported = run(
        args(&[&"admin", &"import", &tampered, &"--data-dir", &target]),
        &[],
    )
    .await;
    assert!(!imported.status.success());
    assert!(
        stderr(&imported).contains("line 7"),
        "{}",
        stderr(&imported)
    );

    // A dropped line is a gap.
    lines.remove(3);
    std::fs::write(&tampered, lines.join("\n") + "\n").unwrap();
    let verified = run(args(&[&"verify-export", &tampered]), &[]).await;
    let message = stderr(&verified);
    assert!(message.contains("line 4 (position 5)"), "{message}");
}

#[tokio::test]
async fn backup_while_appending_restores_to_the_head_at_backup() {
    let server = TestServer::start().await;
    append_some(&server, 30, "before").await;
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("backup.redb");

    // Appends go on while the backup runs.
    let writer = {
        let mut client = server.client().await;
        tokio::spawn(async move {
            for i in 0..200 {
                client
                    .append(oversight::proto::AppendRequest {
                        stream: format!("during-{}", i % 5),
                        expected_revision: None,
                        events: vec![oversight::proto::ProposedEvent {
                            event_type: "Noted.v1".into(),
                            data: format!("{{\"i\":{i}}}").into_bytes(),
                            ..Default::default()
                        }],
                    })
                    .await
                    .unwrap();
            }
        })
    };
    let mut backup = args(&[&"admin", &"backup", &file]);
    backup.extend(connection(&server));
    let backed_up = run(backup, &[]).await;
    writer.await.unwrap();
    assert!(backed_up.status.success(), "{}", stderr(&backed_up));
    let (position, hash) = reported_head(&backed_up);
    assert!(position >= 30);
    // The reported head is the log's own record at that position.
    let record = server
        .client()
        .await
        .read_all(oversight::proto::ReadAllRequest {
            from_position: Some(position),
            max_count: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .message()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hex::encode(&record.events[0].hash), hash);

    // A non-empty data directory is not overwritten without --force.
    let occupied = work.path().join("occupied");
    std::fs::create_dir_all(&occupied).unwrap();
    std::fs::create_dir_all(occupied.join("views")).unwrap();
    std::fs::write(occupied.join("views/visits.redb"), b"old").unwrap();
    std::fs::write(occupied.join("views.redb"), b"older").unwrap();
    let refused = run(
        args(&[&"admin", &"restore", &file, &"--data-dir", &occupied]),
        &[],
    )
    .await;
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("--force"), "{}", stderr(&refused));
    let forced = run(
        args(&[
            &"admin",
            &"restore",
            &file,
            &"--data-dir",
            &occupied,
            &"--force",
        ]),
        &[],
    )
    .await;
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert_eq!(reported_head(&forced), (position, hash.clone()));
    assert!(!occupied.join("views").exists());
    assert!(!occupied.join("views.redb").exists());

    // The restored log verifies on its own and serves the same head.
    let restored = TestServer::start_in(
        tempfile::tempdir().unwrap(),
        |settings| settings.data_dir = occupied.clone(),
        None,
    )
    .await;
    let report = restored
        .client()
        .await
        .verify(oversight::proto::VerifyRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(report.ok, "{report:?}");
    assert_eq!(head_of(&restored).await, (position, hash));
}

#[tokio::test]
async fn rebuild_shows_the_view_level_with_the_head() {
    let server = TestServer::start().await;
    append_some(&server, 5, "rebuild").await;
    let mut rebuild = args(&[&"admin", &"rebuild", &"registry"]);
    rebuild.extend(connection(&server));
    let rebuilt = run(rebuild.clone(), &[]).await;
    assert!(rebuilt.status.success(), "{}", stderr(&rebuilt));
    assert!(
        stdout(&rebuilt).contains("view registry rebuilt up to position 5"),
        "{}",
        stdout(&rebuilt)
    );
    let mut unknown = args(&[&"admin", &"rebuild", &"nonesuch"]);
    unknown.extend(connection(&server));
    let failed = run(unknown, &[]).await;
    assert!(!failed.status.success());
    assert!(stderr(&failed).contains("nonesuch"), "{}", stderr(&failed));

    // Status shows the head and every view level with it once the rebuild is done.
    let mut status = args(&[&"admin", &"status", &"--json"]);
    status.extend(connection(&server));
    let shown = run(status, &[]).await;
    assert!(shown.status.success(), "{}", stderr(&shown));
    let shown: serde_json::Value = serde_json::from_str(stdout(&shown).trim()).unwrap();
    assert_eq!(shown["head_position"], 5, "{shown}");
    assert_eq!(shown["log_writable"], true, "{shown}");
    let registry = shown["views"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "registry")
        .unwrap_or_else(|| panic!("no registry view in {shown}"));
    assert_eq!(registry["checkpoint"], 5, "{shown}");
}

#[tokio::test]
async fn config_show_prints_file_env_flag_precedence_and_origins() {
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("oversight.toml");
    std::fs::write(
        &file,
        "log_level = \"debug\"\nshutdown_grace_secs = 3\n[limits]\nread_chunk = 10\nlive_buffer = 11\n",
    )
    .unwrap();
    let shown = run(
        args(&[
            &"config",
            &"show",
            &"--config",
            &file,
            &"--live-buffer",
            &"13",
        ]),
        &[
            ("OVERSIGHT_LIMITS__READ_CHUNK", "12"),
            ("OVERSIGHT_LIMITS__LIVE_BUFFER", "12"),
        ],
    )
    .await;
    assert!(shown.status.success(), "{}", stderr(&shown));
    let text = stdout(&shown);
    let line = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{key} =")))
            .unwrap_or_else(|| panic!("{key} missing in {text}"))
            .to_string()
    };
    assert!(line("shutdown_grace_secs").starts_with("shutdown_grace_secs = 3 "));
    assert!(
        line("shutdown_grace_secs").contains("# config file"),
        "{text}"
    );
    assert!(line("read_chunk").starts_with("read_chunk = 12 "), "{text}");
    assert!(
        line("read_chunk").ends_with("# environment variable OVERSIGHT_LIMITS__READ_CHUNK"),
        "{text}"
    );
    assert!(
        line("live_buffer").starts_with("live_buffer = 13 "),
        "{text}"
    );
    assert!(
        line("live_buffer").ends_with("# flag --live-buffer"),
        "{text}"
    );
    assert!(line("listen").ends_with("# default"), "{text}");
    // The output is the configuration as TOML.
    let parsed: oversight::config::Settings = toml::from_str(&text).unwrap();
    assert_eq!(parsed.limits.read_chunk, 12);
}

#[tokio::test]
async fn completions_print_a_bash_script() {
    let output = run(args(&[&"completions", &"bash"]), &[]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let script = stdout(&output);
    assert!(script.contains("oversight"), "{script}");
    assert!(script.contains("complete -F"), "{script}");
    // bash itself accepts it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oversight.bash");
    std::fs::write(&path, &script).unwrap();
    let checked = std::process::Command::new("bash")
        .arg("-n")
        .arg(&path)
        .output()
        .unwrap();
    assert!(checked.status.success(), "{}", stderr(&checked));
}

#[tokio::test]
async fn completions_print_zsh_and_fish_scripts() {
    let zsh = run(args(&[&"completions", &"zsh"]), &[]).await;
    assert!(zsh.status.success(), "{}", stderr(&zsh));
    let script = stdout(&zsh);
    assert!(script.starts_with("#compdef oversight"), "{script}");
    assert!(script.contains("'receipt:"), "{script}");
    let fish = run(args(&[&"completions", &"fish"]), &[]).await;
    assert!(fish.status.success(), "{}", stderr(&fish));
    let script = stdout(&fish);
    assert!(script.contains("complete -c oversight"), "{script}");
    assert!(script.contains("-a \"receipt\""), "{script}");
    // Where the shells are installed, they accept the scripts.
    let dir = tempfile::tempdir().unwrap();
    for (shell, output) in [("zsh", &zsh), ("fish", &fish)] {
        let path = dir.path().join(format!("oversight.{shell}"));
        std::fs::write(&path, &output.stdout).unwrap();
        match std::process::Command::new(shell)
            .arg("-n")
            .arg(&path)
            .output()
        {
            Ok(checked) => assert!(checked.status.success(), "{shell}: {}", stderr(&checked)),
            Err(_) => {
                eprintln!("SKIPPED: {shell} is not installed here; its script was not parsed")
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Damaged data files at start.

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
            .args(["--listen", "127.0.0.1:0", "--web-listen", "127.0.0.1:0"])
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
    let views = dir.path().join("data/views/visits.redb");
    edit(&views, |bytes| {
        bytes[..4].iter_mut().for_each(|b| *b ^= 0xff)
    });
    let output = serve_damaged(dir.path().join("data")).await;
    assert_refused(&output, "views/visits.redb", "delete it and start again");

    // Following the advice works: the views are rebuilt from the log.
    std::fs::remove_file(&views).unwrap();
    let server = TestServer::start_in(dir, |_| {}, None).await;
    serves_the_closed_log_and_stops(server).await;
}

#[tokio::test]
async fn the_single_view_file_of_an_earlier_version_is_removed_at_start() {
    let dir = closed_data_dir().await;
    let legacy = dir.path().join("data/views.redb");
    std::fs::write(&legacy, b"views of an earlier version").unwrap();
    let server = TestServer::start_in(dir, |_| {}, None).await;
    assert!(!legacy.exists(), "the old view file is still there");
    // The views are made again, in their own directory, and the server serves the log.
    let views_dir: Vec<String> = std::fs::read_dir(server.dir.path().join("data/views"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        views_dir.contains(&"visits.redb".to_string()),
        "{views_dir:?}"
    );
    serves_the_closed_log_and_stops(server).await;
}

/// Checks that `server` serves the 20 records of [`closed_data_dir`], then shuts it down.
async fn serves_the_closed_log_and_stops(server: TestServer) {
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

// `oversight bench --scenario domain`: visits, findings and a session end to end at a tiny size.
// The scenario itself fails unless the views count every visit filed and every finding closed
// and the session announces every subject; here the rows must be there with nothing failed.
#[tokio::test]
async fn bench_runs_the_domain_scenario_at_a_tiny_size() {
    let output = run(
        args(&[
            &"bench",
            &"--scenario",
            &"domain",
            &"--duration",
            &"1",
            &"--fsync-duration",
            &"1",
            &"--session-voters",
            &"5",
            &"--session-subjects",
            &"3",
            &"--json",
        ]),
        &[],
    )
    .await;
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let rows = report["scenarios"].as_array().unwrap();
    let row = |name: &str| {
        rows.iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no row {name} in {report}"))
    };
    for name in [
        "visits",
        "findings",
        "supervision-read",
        "period-read",
        "ballots",
    ] {
        let r = row(name);
        assert!(r["events"].as_u64().unwrap() > 0, "{name}: {r}");
        assert_eq!(r["errors"], 0, "{name}: {r}");
        assert!(r["latency_us"]["p99"].is_u64(), "{name}: {r}");
    }
    // A finding's walk is four commands: raise, assign, respond, verify.
    assert_eq!(row("findings")["events"].as_u64().unwrap() % 4, 0);
    // Every member voted; the tally covers every member's mark on every subject.
    assert_eq!(row("ballots")["events"], 5);
    assert_eq!(row("close-announce")["events"], 15);
}

// ---------------------------------------------------------------------------------------------
// `oversight bench`: the scenarios beyond appends and reads, at tiny sizes. Only the structure of
// the report is checked (rows present, something counted, no errors), never a figure.

#[tokio::test]
async fn bench_runs_the_subscription_mixed_rebuild_and_rss_scenarios_at_tiny_sizes() {
    let output = run(
        args(&[
            &"bench",
            &"--scenario",
            &"round-trip-1,append-256,catch-up,live,mixed,rebuild,rss",
            &"--duration",
            &"1",
            &"--fsync-duration",
            &"1",
            &"--catch-up-events",
            &"300",
            &"--live-rate",
            &"400",
            &"--mixed-duration",
            &"1",
            &"--rebuild-events",
            &"3000",
            &"--rss-events",
            &"300",
            &"--event-ids",
            &"time-ordered",
            &"--json",
        ]),
        &[],
    )
    .await;
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["event_ids"], "time-ordered", "{report}");
    let rows = report["scenarios"].as_array().unwrap();
    let row = |name: &str| {
        rows.iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no row {name} in {report}"))
    };
    for name in [
        "round-trip-1",
        "append-256",
        "catch-up",
        "live",
        "live-send",
        "mixed-append",
        "mixed-write",
        "mixed-query",
        "mixed-sub",
        "rebuild-fill",
        "rebuild-fold",
        "rebuild",
        "rss-fill",
        "rss-read-all",
    ] {
        let r = row(name);
        assert!(r["events"].as_u64().unwrap() > 0, "{name}: {r}");
        assert_eq!(r["errors"], 0, "{name}: {r}");
        assert!(r["events_per_sec"].as_f64().unwrap() > 0.0, "{name}: {r}");
    }
    // A call that touches no disk is not compared with the disk's flush rate; appends are.
    assert!(row("round-trip-1")["fsync_ratio"].is_null(), "{report}");
    assert!(
        row("append-256")["fsync_ratio"].as_f64().unwrap() > 0.0,
        "{report}"
    );
    // The log catch-up reads holds at least what it was asked to fill.
    assert!(row("catch-up")["events"].as_u64().unwrap() >= 300);
    // Latencies where they are meaningful.
    for name in [
        "round-trip-1",
        "append-256",
        "live",
        "live-send",
        "mixed-append",
        "mixed-query",
    ] {
        assert!(row(name)["latency_us"]["p99"].is_u64(), "{name}");
    }
    // Every view folded the whole log, twice.
    let filled = row("rebuild-fill")["events"].as_u64().unwrap();
    assert!(filled >= 3000, "{filled}");
    assert_eq!(row("rebuild-fold")["events"], filled);
    assert_eq!(row("rebuild")["events"], filled);
    // The server process's memory, read three times.
    let figures = report["figures"].as_array().unwrap();
    for when in ["at start", "after append", "after read-all"] {
        for what in ["VmHWM", "VmRSS"] {
            let name = format!("{what} {when}");
            let figure = figures
                .iter()
                .find(|f| f["name"] == name.as_str())
                .unwrap_or_else(|| panic!("no figure {name} in {report}"));
            assert_eq!(figure["scenario"], "rss");
            assert_eq!(figure["unit"], "MiB");
            assert!(figure["value"].as_f64().unwrap() > 0.0, "{name}");
        }
    }
    // The rss scenario's server read back what was appended to it.
    assert!(
        row("rss-read-all")["events"].as_u64().unwrap()
            >= row("rss-fill")["events"].as_u64().unwrap()
    );
}

// ---------------------------------------------------------------------------------------------
// Starting the server: what it says it serves, and a start that cannot bind.

/// Every gRPC service the server registers.
const SERVICES: [&str; 10] = [
    "oversight.v1.EventLog",
    "oversight.v1.Operations",
    "oversight.v1.Registry",
    "oversight.v1.Supervision",
    "oversight.v1.Findings",
    "oversight.v1.Hearings",
    "oversight.v1.Evaluation",
    "oversight.v1.Reports",
    "grpc.health.v1.Health",
    "grpc.reflection",
];

#[tokio::test]
async fn serve_names_every_service_it_serves_in_its_help_and_its_log() {
    let help = run(args(&[&"serve", &"--help"]), &[]).await;
    let text = stdout(&help);
    for service in [
        "EventLog",
        "Operations",
        "Registry",
        "Supervision",
        "Findings",
        "Hearings",
        "Evaluation",
        "Reports",
        "health",
        "reflection",
    ] {
        assert!(
            text.contains(service),
            "serve --help lacks {service}: {text}"
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let port = common::process::free_port();
    let _server = KillOnDrop(common::process::start_logged(&data, port, dir.path(), &log));
    common::process::connect(&data, port).await;
    let lines = std::fs::read_to_string(&log).unwrap();
    let serving = lines
        .lines()
        .find(|line| line.contains("serving oversight.v1"))
        .unwrap_or_else(|| panic!("no serving line in {lines}"));
    for service in SERVICES {
        assert!(serving.contains(service), "{service} is not in {serving}");
    }
}

#[tokio::test]
async fn a_serve_that_cannot_bind_says_so_before_touching_its_data_directory() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fresh");
    let output = run(
        args(&[&"serve", &"--data-dir", &data, &"--listen", &address]),
        &[("NO_COLOR", "1")],
    )
    .await;
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(err.contains("cannot listen on"), "{err}");
    assert!(err.contains("--listen"), "{err}");
    assert!(
        !err.lines()
            .any(|l| l.contains(" WARN ") || l.contains(" ERROR ")),
        "a warning before the error: {err}"
    );
    assert!(!data.exists(), "the data directory was created: {err}");
}

// ---------------------------------------------------------------------------------------------
// Messages a newcomer reads.

#[tokio::test]
async fn verify_export_of_a_missing_file_is_not_a_failed_verification() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere.jsonl");
    let output = run(args(&[&"verify-export", &missing]), &[]).await;
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(!err.contains("does not verify"), "{err}");
    assert!(err.contains("cannot open"), "{err}");
    assert!(err.contains("nothing was verified"), "{err}");

    // A file that fails verification keeps exit code 1.
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "not json\n").unwrap();
    let output = run(args(&[&"verify-export", &bad]), &[]).await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("does not verify"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn log_head_help_says_that_reads_are_recorded_in_the_log() {
    let help = run(args(&[&"log", &"head", &"--help"]), &[]).await;
    let text = stdout(&help);
    assert!(text.contains("LogRead.v1"), "{text}");
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let example =
        &readme[readme.find("## Example").unwrap()..readme.find("## Walkthrough").unwrap()];
    assert!(example.contains("LogRead.v1"), "{example}");
}

#[tokio::test]
async fn an_empty_findings_board_says_what_it_checked() {
    let server = TestServer::start().await;
    committee_with_appointees(&server).await;
    let board = ok(&server, &["finding", "board", "--committee", "xf"]).await;
    assert!(!board.contains("(none)"), "{board}");
    assert!(
        board.contains("no overdue findings, none due within 14 days"),
        "{board}"
    );
    let json = ok(
        &server,
        &["finding", "board", "--committee", "xf", "--json"],
    )
    .await;
    let json: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(json["due_soon_days"], 14, "{json}");
}

// ---------------------------------------------------------------------------------------------
// Reports as files: numbers in number columns, the reason for an empty one in its own column.

/// The cell `at` (e.g. `D4`) of the first sheet of the workbook `path`: its type attribute and
/// its value.
fn xlsx_cell(path: &std::path::Path, at: &str) -> (Option<String>, String) {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut rows = String::new();
    std::io::Read::read_to_string(
        &mut archive.by_name("xl/worksheets/sheet1.xml").unwrap(),
        &mut rows,
    )
    .unwrap();
    let start = rows
        .find(&format!(r#"<c r="{at}""#))
        .unwrap_or_else(|| panic!("no cell {at} in {rows}"));
    let cell = &rows[start..];
    let cell = &cell[..cell
        .find("</c>")
        .unwrap_or_else(|| cell.find("/>").unwrap())];
    let kind = cell
        .split_once(r#" t=""#)
        .map(|(_, rest)| rest[..rest.find('"').unwrap()].to_string());
    let value = cell
        .split_once("<v>")
        .map(|(_, rest)| rest[..rest.find("</v>").unwrap()].to_string())
        .unwrap_or_default();
    (kind, value)
}

#[tokio::test]
async fn reports_put_numbers_in_number_columns_and_say_why_a_cell_is_empty() {
    let office = Office::after_walkthrough().await;

    // a2 has the vote only: the other components' cells are empty, and the notes say why.
    let csv = office.sh("oversight report scorecard --appointee a2 --csv");
    assert!(csv.status.success(), "{}", stderr(&csv));
    let text = stdout(&csv);
    assert!(!text.contains("no data"), "{text}");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let row: Vec<String> = reader
        .records()
        .next()
        .unwrap()
        .unwrap()
        .iter()
        .map(String::from)
        .collect();
    let cell = |name: &str| &row[header.iter().position(|h| h == name).unwrap()];
    // (2 × 100 + 2 × 70 + 1 × 0) / 5.
    assert_eq!(cell("committee_vote"), "68.00", "{text}");
    for empty in ["stakeholder_feedback", "site_visits", "findings"] {
        assert_eq!(cell(empty), "", "{empty}: {text}");
    }
    let notes = cell("notes");
    for reason in ["feedback", "site-visit", "findings"] {
        assert!(notes.contains(reason), "{reason} not in {notes:?}");
    }

    // The workbook holds numbers as numbers: the composite (D) and the vote (E) of a1's row 4.
    let sheet = office.work.join("a1.xlsx");
    let written = office.sh(&format!(
        "oversight report scorecard --appointee a1 --xlsx {}",
        sheet.display()
    ));
    assert!(written.status.success(), "{}", stderr(&written));
    for at in ["D4", "E4"] {
        let (kind, value) = xlsx_cell(&sheet, at);
        assert_eq!(kind, None, "{at} is not a number: {value}");
        value
            .parse::<f64>()
            .unwrap_or_else(|e| panic!("{at}: {value}: {e}"));
    }
    assert_eq!(xlsx_cell(&sheet, "E4").1, "94");

    // The rankings too: the score column (E) holds numbers.
    let ranked = office.work.join("rankings.xlsx");
    let written = office.sh(&format!(
        "oversight report rankings --committee xf --xlsx {}",
        ranked.display()
    ));
    assert!(written.status.success(), "{}", stderr(&written));
    let (kind, value) = xlsx_cell(&ranked, "E4");
    assert_eq!(kind, None, "the score is not a number: {value}");
}

/// `admin setup` run again does not replace a token file or issue a token: it names the files
/// in the way.
#[tokio::test]
async fn admin_setup_never_replaces_a_token_file() {
    let dir = tempfile::tempdir().unwrap();
    let setup = |dir: &std::path::Path| {
        run(
            args(&[
                &"admin",
                &"setup",
                &"--committee",
                &"xf",
                &"--members",
                &"m1,m2",
                &"--dir",
                &dir.join("tokens"),
                &"--data-dir",
                &dir.join("data"),
                &"--json",
            ]),
            &[],
        )
    };
    // What a server's first start leaves: no token but the admin's.
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/tokens.json"), r#"{"tokens":[]}"#).unwrap();
    let first = setup(dir.path()).await;
    assert!(first.status.success(), "{}", stderr(&first));
    let people = json_lines(&stdout(&first));
    assert_eq!(people.len(), 4, "{people:?}");
    assert_eq!(people[0]["subject"], "clerk-xf");
    assert_eq!(people[1]["role"], "chair");
    assert_eq!(people[3]["subject"], "m2");
    assert!(
        people[3]["sign_in_link"]
            .as_str()
            .unwrap()
            .contains("/signin/")
    );
    let tokens = std::fs::read_to_string(dir.path().join("data/tokens.json")).unwrap();

    let again = setup(dir.path()).await;
    assert!(!again.status.success());
    assert!(stderr(&again).contains("m1.token"), "{}", stderr(&again));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("data/tokens.json")).unwrap(),
        tokens,
        "a refused setup issued tokens"
    );
}

/// A rating out of range is refused with the flag the person typed, not the request's field.
#[tokio::test]
async fn an_invalid_rating_names_the_flag_that_gave_it() {
    let office = Office::after_walkthrough().await;
    let refused = office.sh(
        "oversight visit file --id v9 --group g3 --organ 香坊区政务服务中心 --appointee a1 \
         --mode incognito --visited-at 2026-05-13 --discipline 9 --service 5 --efficiency 4",
    );
    assert!(!refused.status.success());
    let message = stderr(&refused);
    assert!(message.contains("InvalidArgument"), "{message}");
    assert!(
        message.contains("\n--discipline: must be between 1 and 5"),
        "{message}"
    );
}
