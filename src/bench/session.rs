//! The `session` scenario of `oversight bench`: one evaluation session of [`VOTERS`] members and
//! [`SUBJECTS`] subjects by default (`--session-voters`, `--session-subjects`) driven end to end
//! over gRPC — schedule, roll call, open, one secret ballot per member (rating every subject),
//! close, tally, announce, and the announced result read back through the view. The `domain`
//! scenario ([`DOMAIN`]) runs site visits and findings first ([`super::supervision`]), on the
//! same committee and appointees, then the session.
//!
//! It needs principals of three roles besides the admin (a clerk runs the session, a chair adopts
//! a policy that holds results for the clerk so that tally and announcement are separate steps,
//! and every member casts their own ballot), so it runs only against the in-process server, whose
//! fresh data directory gets their tokens from [`write_tokens`] before the server starts.
//!
//! It reports these rows: `session` (the whole run, schedule to readable result), `ballots` (the
//! casting, with per-ballot latency percentiles), `close-announce` (close + tally + announce,
//! then each of the three on its own) and `announce-read` (close to the announced result
//! readable through `GetSessionResult`).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use hdrhistogram::Histogram;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;
use tonic::Status;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use uuid::Uuid;

use super::scenarios::{Bearer, Target};
use super::{Percentiles, ScenarioResult};
use crate::proto;
use crate::proto::evaluation_client::EvaluationClient;
use crate::proto::registry_client::RegistryClient;

/// The scenario's name on the command line.
pub const NAME: &str = "session";
/// The scenario of visits, findings and then the session.
pub const DOMAIN: &str = "domain";
/// Members voting.
pub const VOTERS: usize = 500;
/// Subjects rated on every ballot.
pub const SUBJECTS: usize = 30;
/// Ballots in flight at once (the server serialises a session's ballots anyway).
const CONCURRENT_BALLOTS: usize = 8;
/// HTTP/2 connections the voters share.
const CONNECTIONS: usize = 4;
/// The committee the scenario creates.
pub(super) const COMMITTEE: &str = "bench-committee";

/// How large the session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSize {
    /// Members present and voting.
    pub voters: usize,
    /// Subjects (appointees) rated on every ballot.
    pub subjects: usize,
}

impl Default for SessionSize {
    fn default() -> Self {
        Self {
            voters: VOTERS,
            subjects: SUBJECTS,
        }
    }
}

/// Why the session scenario could not run.
#[derive(Debug, thiserror::Error)]
pub enum SessionBenchError {
    /// The token files could not be written.
    #[error("cannot write {path}: {source}")]
    Tokens {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The data directory already holds tokens the scenario must not replace.
    #[error(
        "{0} already holds tokens; the session and domain scenarios need a fresh data directory (omit --data-dir)"
    )]
    NotFresh(std::path::PathBuf),
    /// The scenario was asked to drive an external server.
    #[error(
        "the session and domain scenarios need clerk, chair and member tokens they can only issue to the in-process server; run them without --server"
    )]
    NeedsInProcess,
    /// The server could not be reached.
    #[error("cannot connect to {endpoint}: {source}")]
    Connect {
        /// Where.
        endpoint: String,
        /// Why.
        source: tonic::transport::Error,
    },
    /// A call of the scenario failed.
    #[error("{step} failed: {status}")]
    Call {
        /// Which step.
        step: &'static str,
        /// The status.
        status: Status,
    },
    /// The latency histogram could not be created.
    #[error("cannot create a latency histogram: {0}")]
    Histogram(#[from] hdrhistogram::CreationError),
}

/// The tokens the scenario's principals present.
#[derive(Debug, Clone)]
pub struct SessionTokens {
    clerk: String,
    chair: String,
    members: Vec<String>,
}

impl SessionTokens {
    /// The clerk's token.
    pub(super) fn clerk(&self) -> &str {
        &self.clerk
    }

    /// The chair's token.
    pub(super) fn chair(&self) -> &str {
        &self.chair
    }
}

fn member_id(i: usize) -> String {
    format!("bench-member-{i:03}")
}

fn subject_id(j: usize) -> String {
    format!("bench-subject-{j:02}")
}

fn new_token() -> String {
    format!("ovs_bench_{}", Uuid::new_v4().simple())
}

/// Writes `admin.token` and a `tokens.json` with an admin, a clerk, a chair and `voters` members
/// into the fresh `data_dir`, before the server starts. Refuses a directory that already holds
/// tokens.
pub fn write_tokens(data_dir: &Path, voters: usize) -> Result<SessionTokens, SessionBenchError> {
    use std::os::unix::fs::PermissionsExt;
    let tokens_path = data_dir.join(crate::auth::TOKENS_FILE);
    let admin_path = data_dir.join(crate::auth::ADMIN_TOKEN_FILE);
    if tokens_path.exists() || admin_path.exists() {
        return Err(SessionBenchError::NotFresh(data_dir.to_path_buf()));
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SessionBenchError::Tokens { path, source }
    };
    std::fs::create_dir_all(data_dir).map_err(io(data_dir))?;
    let digest = |token: &str| hex::encode(Sha256::digest(token.as_bytes()));
    let admin = new_token();
    let tokens = SessionTokens {
        clerk: new_token(),
        chair: new_token(),
        members: (0..voters).map(|_| new_token()).collect(),
    };
    let mut entries = vec![
        serde_json::json!({ "subject": "admin", "role": "admin", "sha256": digest(&admin) }),
        serde_json::json!({ "subject": "bench-clerk", "role": "clerk", "committee": COMMITTEE, "sha256": digest(&tokens.clerk) }),
        serde_json::json!({ "subject": "bench-chair", "role": "chair", "committee": COMMITTEE, "sha256": digest(&tokens.chair) }),
    ];
    for (i, token) in tokens.members.iter().enumerate() {
        entries.push(serde_json::json!({
            "subject": member_id(i), "role": "committee_member", "committee": COMMITTEE,
            "sha256": digest(token),
        }));
    }
    let file = serde_json::json!({ "tokens": entries });
    for (path, contents) in [
        (&admin_path, format!("{admin}\n")),
        (&tokens_path, file.to_string()),
    ] {
        std::fs::write(path, contents).map_err(io(path))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io(path))?;
    }
    Ok(tokens)
}

pub(super) fn bearer(token: &str) -> Result<Bearer, SessionBenchError> {
    format!("Bearer {token}")
        .parse()
        .map(Bearer)
        .map_err(|_| SessionBenchError::Call {
            step: "token",
            status: Status::invalid_argument("a token cannot be sent in a header"),
        })
}

type Eval = EvaluationClient<InterceptedService<Channel, Bearer>>;

pub(super) fn call(step: &'static str) -> impl Fn(Status) -> SessionBenchError {
    move |status| SessionBenchError::Call { step, status }
}

pub(super) fn micros(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX)
}

fn row(name: &str, clients: usize, events: u64, requests: u64, seconds: f64) -> ScenarioResult {
    ScenarioResult {
        name: name.to_string(),
        clients,
        events,
        requests,
        errors: 0,
        seconds,
        events_per_sec: events as f64 / seconds.max(f64::EPSILON),
        latency_us: None,
        fsync_ratio: None,
    }
}

/// Runs the session end to end against the in-process server; `tokens` come from
/// [`write_tokens`] (none: an external server, refused).
pub async fn run(
    target: &Target,
    tokens: Option<&SessionTokens>,
    size: SessionSize,
) -> Result<Vec<ScenarioResult>, SessionBenchError> {
    let tokens = tokens.ok_or(SessionBenchError::NeedsInProcess)?;
    let channels = connect(target).await?;
    set_up(&channels, target, tokens, size).await?;
    session(&channels, tokens, size).await
}

/// The `domain` scenario: site visits and findings for `duration` each and the views that
/// report them read back ([`super::supervision`]), then the session, all on one committee.
pub async fn run_domain(
    target: &Target,
    tokens: Option<&SessionTokens>,
    size: SessionSize,
    duration: std::time::Duration,
) -> Result<Vec<ScenarioResult>, SessionBenchError> {
    let tokens = tokens.ok_or(SessionBenchError::NeedsInProcess)?;
    let channels = connect(target).await?;
    set_up(&channels, target, tokens, size).await?;
    let subjects = super::supervision::Subjects {
        list: (0..size.subjects)
            .map(|j| (subject_id(j), organ_name(j)))
            .collect(),
    };
    let mut rows =
        super::supervision::run(&channels, &target.token, tokens, subjects, duration).await?;
    rows.extend(session(&channels, tokens, size).await?);
    Ok(rows)
}

fn organ_name(j: usize) -> String {
    format!("bureau {j}")
}

async fn connect(target: &Target) -> Result<Vec<Channel>, SessionBenchError> {
    let mut channels = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let connect = |source| SessionBenchError::Connect {
            endpoint: target.endpoint.clone(),
            source,
        };
        let endpoint = Endpoint::from_shared(target.endpoint.clone()).map_err(connect)?;
        channels.push(
            endpoint
                .tcp_nodelay(true)
                .connect()
                .await
                .map_err(connect)?,
        );
    }
    Ok(channels)
}

/// Set-up (not timed), unless an earlier scenario of the run did it: the committee and its
/// members, the appointees, a policy that holds results for the clerk, so that tally and
/// announcement are two steps.
async fn set_up(
    channels: &[Channel],
    target: &Target,
    tokens: &SessionTokens,
    size: SessionSize,
) -> Result<(), SessionBenchError> {
    let channel = first(channels)?;
    let mut registry = RegistryClient::with_interceptor(channel.clone(), bearer(&target.token)?);
    // An earlier scenario of the same run (session after domain) set it up already.
    let exists = registry
        .get_committee(proto::GetCommitteeRequest {
            committee_id: COMMITTEE.into(),
            ..Default::default()
        })
        .await;
    match exists {
        Ok(_) => return Ok(()),
        Err(status) if status.code() == tonic::Code::NotFound => {}
        Err(status) => return Err(call("GetCommittee")(status)),
    }
    registry
        .create_committee(proto::CreateCommitteeRequest {
            committee_id: COMMITTEE.into(),
            name: "bench standing committee".into(),
            level: proto::CommitteeLevel::District as i32,
            ..Default::default()
        })
        .await
        .map_err(call("CreateCommittee"))?;
    for i in 0..size.voters {
        registry
            .add_committee_member(proto::AddCommitteeMemberRequest {
                committee_id: COMMITTEE.into(),
                member_id: member_id(i),
                name: format!("member {i}"),
                from: "2020-01-01".into(),
                ..Default::default()
            })
            .await
            .map_err(call("AddCommitteeMember"))?;
    }
    // The subjects: appointees of the committee, serving since before the meeting.
    for j in 0..size.subjects {
        registry
            .register_appointee(proto::RegisterAppointeeRequest {
                appointee_id: subject_id(j),
                committee_id: COMMITTEE.into(),
                name: format!("appointee {j}"),
                post: "director".into(),
                organ_kind: proto::OrganKind::Government as i32,
                organ_name: organ_name(j),
                appointed_on: "2020-01-01".into(),
                appointing_meeting: "bench appointing meeting".into(),
                ..Default::default()
            })
            .await
            .map_err(call("RegisterAppointee"))?;
    }
    let mut chair = EvaluationClient::with_interceptor(channel, bearer(&tokens.chair)?);
    let mut policy = chair
        .get_scoring_policy(proto::GetScoringPolicyRequest {
            committee_id: COMMITTEE.into(),
            min_position: 0,
        })
        .await
        .map_err(call("GetScoringPolicy"))?
        .into_inner()
        .policy
        .unwrap_or_default();
    policy.announcement = proto::AnnouncementTiming::ByClerk as i32;
    chair
        .adopt_scoring_policy(proto::AdoptScoringPolicyRequest {
            command_id: String::new(),
            committee_id: COMMITTEE.into(),
            policy: Some(policy),
        })
        .await
        .map_err(call("AdoptScoringPolicy"))?;
    Ok(())
}

pub(super) fn first(channels: &[Channel]) -> Result<Channel, SessionBenchError> {
    channels.first().cloned().ok_or(SessionBenchError::Call {
        step: "connect",
        status: Status::unavailable("no connection to the server"),
    })
}

/// The session: schedule → roll call → open → ballots → close → tally → announce → read.
async fn session(
    channels: &[Channel],
    tokens: &SessionTokens,
    size: SessionSize,
) -> Result<Vec<ScenarioResult>, SessionBenchError> {
    let channel = first(channels)?;
    let mut clerk = EvaluationClient::with_interceptor(channel.clone(), bearer(&tokens.clerk)?);
    let session = format!("bench-{}", Uuid::new_v4().simple());
    let session_ref = || proto::SessionRef {
        command_id: String::new(),
        session_id: session.clone(),
    };
    let started = Instant::now();
    clerk
        .schedule_session(proto::ScheduleSessionRequest {
            committee_id: COMMITTEE.into(),
            session_id: session.clone(),
            meeting_name: "bench meeting".into(),
            date: chrono::Utc::now().format("%Y-%m-%d").to_string(),
            subjects: (0..size.subjects).map(subject_id).collect(),
            constituency: proto::Constituency::CommitteeMembers as i32,
            ..Default::default()
        })
        .await
        .map_err(call("ScheduleSession"))?;
    clerk
        .record_roll_call(proto::RecordRollCallRequest {
            command_id: String::new(),
            session_id: session.clone(),
            present: (0..size.voters).map(member_id).collect(),
        })
        .await
        .map_err(call("RecordRollCall"))?;
    clerk
        .open_voting(session_ref())
        .await
        .map_err(call("OpenVoting"))?;

    // Ballots: every member rates every subject, CONCURRENT_BALLOTS at a time.
    let codes = ["satisfied", "basically_satisfied", "dissatisfied"];
    let mut voters: Vec<(Eval, proto::CastBallotRequest)> = Vec::with_capacity(size.voters);
    for (i, token) in tokens.members.iter().enumerate() {
        let client = EvaluationClient::with_interceptor(
            channels[i % channels.len()].clone(),
            bearer(token)?,
        );
        let choices = (0..size.subjects)
            .map(|j| (subject_id(j), codes[(i + j) % codes.len()].to_string()))
            .collect();
        voters.push((
            client,
            proto::CastBallotRequest {
                command_id: String::new(),
                session_id: session.clone(),
                choices,
            },
        ));
    }
    let histogram = Arc::new(Mutex::new(new_histogram()?));
    let casting = Instant::now();
    let outcomes: Vec<Result<(), SessionBenchError>> = futures::stream::iter(voters)
        .map(|(mut client, request)| {
            let histogram = Arc::clone(&histogram);
            async move {
                let sent = Instant::now();
                client
                    .cast_ballot(request)
                    .await
                    .map_err(call("CastBallot"))?;
                let _ = histogram.lock().await.record(micros(sent).max(1));
                Ok(())
            }
        })
        .buffer_unordered(CONCURRENT_BALLOTS)
        .collect()
        .await;
    let cast_seconds = casting.elapsed().as_secs_f64();
    outcomes.into_iter().collect::<Result<Vec<()>, _>>()?;

    // Close → tally → announce, then the announced result read through the view.
    let closing = Instant::now();
    let closed = clerk
        .close_voting(session_ref())
        .await
        .map_err(call("CloseVoting"))?
        .into_inner();
    if closed.voided || closed.ballots != size.voters as u64 {
        return Err(SessionBenchError::Call {
            step: "CloseVoting",
            status: Status::internal(format!(
                "expected {} published ballots, got {} (voided: {})",
                size.voters, closed.ballots, closed.voided
            )),
        });
    }
    let close_seconds = closing.elapsed().as_secs_f64();
    let tallying = Instant::now();
    clerk.tally(session_ref()).await.map_err(call("Tally"))?;
    let tally_seconds = tallying.elapsed().as_secs_f64();
    let announcing = Instant::now();
    let announced = clerk
        .announce(session_ref())
        .await
        .map_err(call("Announce"))?
        .into_inner();
    let announce_seconds = announcing.elapsed().as_secs_f64();
    let close_announce = closing.elapsed().as_secs_f64();
    let result = clerk
        .get_session_result(proto::GetSessionResultRequest {
            session_id: session.clone(),
            min_position: announced.position,
        })
        .await
        .map_err(call("GetSessionResult"))?
        .into_inner();
    let readable = closing.elapsed().as_secs_f64();
    let whole = started.elapsed().as_secs_f64();
    if !result.announced || result.subjects.len() != size.subjects {
        return Err(SessionBenchError::Call {
            step: "GetSessionResult",
            status: Status::internal("the announced result is incomplete"),
        });
    }

    let marks = (size.voters * size.subjects) as u64;
    let mut ballots = row(
        "ballots",
        CONCURRENT_BALLOTS,
        size.voters as u64,
        size.voters as u64,
        cast_seconds,
    );
    ballots.latency_us = Some(Percentiles::of(&*histogram.lock().await));
    Ok(vec![
        row(
            NAME,
            CONCURRENT_BALLOTS,
            size.voters as u64,
            size.voters as u64 + 6,
            whole,
        ),
        ballots,
        row("close-announce", 1, marks, 3, close_announce),
        row("  close", 1, marks, 1, close_seconds),
        row("  tally", 1, marks, 1, tally_seconds),
        row("  announce", 1, marks, 1, announce_seconds),
        row("announce-read", 1, marks, 4, readable),
    ])
}

pub(super) fn new_histogram() -> Result<Histogram<u64>, SessionBenchError> {
    let mut histogram = Histogram::new(3)?;
    histogram.auto(true);
    Ok(histogram)
}
