//! The `oversight.v1.Evaluation` service: scoring policies and evaluation sessions.
//!
//! Commands go through the [`Handler`](crate::handler::Handler) like every other aggregate,
//! except two that touch the sealed [`BallotBox`]:
//! * **CastBallot** — load the session, let the domain decide (`cast_ballot`), seal the ballot
//!   durably under a fresh random id, *then* append the participation event with the revision
//!   that was loaded; if that append fails the sealed ballot is removed again.
//! * **CloseVoting** — read the round's sealed ballots, draw a 32-byte shuffle seed from the
//!   operating system's CSPRNG, let the domain publish (or void) them, then delete the round.
//!
//! Both run under a per-session lock, so a close can never see a ballot whose participation is
//! still being appended, and concurrent voters never race for the session's revision.
//!
//! Nothing here logs or traces a member next to a choice or a receipt: the spans carry the
//! method and the session only.
//!
//! Queries read the `sessions` view (waiting for `min_position`), except Recount and
//! CheckReceipt, which recompute from the log itself as an auditor would. **The embargo is
//! enforced in the query**: an unannounced result is NOT_FOUND for every role but clerk, chair
//! and admin.

use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use futures::{Stream, StreamExt};
use rand::TryRngCore;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::api::context::{LegacyCommands, Page, RequestExt};
use crate::api::evaluation_convert::{
    policy_from_proto, policy_to_proto, result_to_proto, subject_to_proto, summary_to_proto,
};
use crate::api::evaluation_roster::{check_subjects, deputy_roster};
use crate::app::App;
use crate::app::scope;
use crate::auth::{Principal, Role};
use crate::ballot_box::BallotBox;
use crate::domain::Rejection;
use crate::domain::committee::Committee;
use crate::domain::evaluation::policy::{PolicyAggregate, PolicyCommand, PolicyEvent};
use crate::domain::evaluation::session::{
    CastBallot, Constituency, CorrectionRequest, Phase, Schedule, SessionAggregate, SessionCommand,
    SessionEvent,
};
use crate::domain::evaluation::tally::{Choice, receipt_in_published_set};
use crate::domain::evaluation::{AppointeeId, BallotId, MemberId, SessionId, session_stream};
use crate::domain::ids::{CommitteeId, committee_stream};
use crate::handler::{HandlerError, to_proposed};
use crate::log::{
    AppendError, AppendRequest, Direction, ExpectedRevision, Filter, ReadError, ReadStream,
    StreamAppend, StreamName, SubscribeFrom, SubscriptionItem,
};
use crate::projection::sessions::{self, PolicyDoc, SessionDoc};
use crate::proto;
use crate::proto::evaluation_server::Evaluation;

type RpcStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// How often a ballot is re-decided after losing a race for the session's revision.
const CAST_ATTEMPTS: usize = 5;
/// How often scheduling a session checks its subjects, roster and policy again after one of
/// them changed between the check and the write.
const SCHEDULE_ATTEMPTS: usize = 3;
/// The event type WatchAnnouncements follows.
const ANNOUNCED: &str = "ResultsAnnounced.v1";
/// Sessions examined per view read while filling a filtered page.
const SCAN_CHUNK: usize = 500;

/// The stream of a committee's scoring policy.
pub fn policy_stream(committee: &CommitteeId) -> String {
    format!("policy-{committee}")
}

/// One lock per session, serialising the writes that touch the ballot box.
#[derive(Default)]
struct SessionLocks(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl SessionLocks {
    fn get(&self, session: &SessionId) -> Arc<tokio::sync::Mutex<()>> {
        match self.0.lock() {
            Ok(mut map) => Arc::clone(map.entry(session.to_string()).or_default()),
            // A poisoned map only means another request panicked while inserting; its entries
            // are still usable.
            Err(poisoned) => Arc::clone(
                poisoned
                    .into_inner()
                    .entry(session.to_string())
                    .or_default(),
            ),
        }
    }
}

/// Scoring policies and evaluation sessions.
#[derive(Clone)]
pub struct EvaluationService {
    state: App,
    ballots: BallotBox,
    locks: Arc<SessionLocks>,
    shutdown: CancellationToken,
}

impl EvaluationService {
    /// The service over the shared state and the sealed ballot box; `shutdown` ends the
    /// announcement streams.
    pub fn new(state: App, ballots: BallotBox, shutdown: CancellationToken) -> Self {
        Self {
            state,
            ballots,
            locks: Arc::default(),
            shutdown,
        }
    }

    /// The generated tonic server around this service.
    pub fn into_server(self) -> proto::evaluation_server::EvaluationServer<Self> {
        proto::evaluation_server::EvaluationServer::new(self)
    }

    /// A session command that carries nothing but the session: check the caller may run the
    /// session, decide, and reply with the position written.
    async fn simple_command(
        &self,
        request: Request<proto::SessionRef>,
        command: SessionCommand,
    ) -> Result<Response<proto::SessionCommandReply>, Status> {
        let principal = self.state.principal(&request)?;
        let session = parse_session(&request.get_ref().session_id)?;
        self.authorized_by_schedule(&principal, &session).await?;
        let (_, position) = self.run(&principal, &session, command).await?;
        Ok(Response::new(proto::SessionCommandReply { position }))
    }

    /// Like [`Self::authorized_session`] for a command that needs nothing of the session but its
    /// committee: reads only the session's first event (the schedule, which names the committee
    /// and never changes) instead of folding the whole stream, whose published ballots are
    /// the bulk of it once voting has closed. The command itself folds the stream once more.
    async fn authorized_by_schedule(
        &self,
        principal: &Principal,
        session: &SessionId,
    ) -> Result<(), Status> {
        let missing = || Status::not_found(format!("session {session} does not exist"));
        let first = match self
            .state
            .store
            .read_stream(ReadStream {
                stream: stream_of(session)?,
                from_revision: Some(0),
                direction: Direction::Forwards,
                max_count: 1,
            })
            .await
        {
            Ok(events) => events,
            Err(ReadError::StreamNotFound(_)) => return Err(missing()),
            Err(error) => return Err(error.into()),
        };
        let Some(recorded) = first.first() else {
            return Err(missing());
        };
        let event: SessionEvent = serde_json::from_slice(&recorded.data).map_err(|error| {
            tracing::error!(%error, position = recorded.position, "a session event cannot be decoded");
            Status::data_loss(format!(
                "the first event of session {session} cannot be decoded"
            ))
        })?;
        match event {
            SessionEvent::SessionScheduled(schedule) => {
                if let Some(committee) = schedule.committee.as_ref() {
                    check_committee(principal, committee.as_str(), "act on")?;
                }
                Ok(())
            }
            _ => Err(missing()),
        }
    }

    async fn run(
        &self,
        principal: &Principal,
        session: &SessionId,
        command: SessionCommand,
    ) -> Result<(Vec<SessionEvent>, u64), Status> {
        let (ctx, metadata) = self.state.command_context_legacy(principal, "");
        let executed = self
            .state
            .handler
            .execute::<SessionAggregate>(&stream_of(session)?, &command, &ctx, &metadata)
            .await?;
        Ok((executed.events, executed.position))
    }

    async fn load_session(&self, session: &SessionId) -> Result<SessionAggregate, Status> {
        let loaded = self
            .state
            .handler
            .load::<SessionAggregate>(&stream_of(session)?)
            .await?;
        if loaded.state.schedule.is_none() {
            return Err(Status::not_found(format!(
                "session {session} does not exist"
            )));
        }
        Ok(loaded.state)
    }

    /// Loads a session for a command and checks that a principal tied to a committee acts on
    /// its own committee's session.
    async fn authorized_session(
        &self,
        principal: &Principal,
        session: &SessionId,
    ) -> Result<SessionAggregate, Status> {
        self.session_for(principal, session, "act on").await
    }

    /// Loads a session and checks that a principal tied to a committee `verb`s (acts on,
    /// reads) its own committee's session only.
    async fn session_for(
        &self,
        principal: &Principal,
        session: &SessionId,
        verb: &str,
    ) -> Result<SessionAggregate, Status> {
        let state = self.load_session(session).await?;
        if let Some(committee) = state.schedule.as_ref().and_then(|s| s.committee.as_ref()) {
            check_committee(principal, committee.as_str(), verb)?;
        }
        Ok(state)
    }

    async fn session_doc<T>(
        &self,
        request: &Request<T>,
        session: &SessionId,
        min_position: u64,
    ) -> Result<Option<SessionDoc>, Status> {
        self.state
            .wait_for(request, sessions::NAME, min_position)
            .await?;
        Ok(self
            .state
            .views
            .read()?
            .get(sessions::NAME, sessions::SESSIONS, session.as_str())?)
    }
}

fn stream_of(session: &SessionId) -> Result<StreamName, Status> {
    Ok(StreamName::new(session_stream(session))?)
}

fn parse_session(raw: &str) -> Result<SessionId, Status> {
    Ok(SessionId::parse(raw)?)
}

fn parse_committee(raw: &str) -> Result<CommitteeId, Status> {
    CommitteeId::parse(raw).map_err(|r| Status::invalid_argument(format!("committee_{r}")))
}

/// A principal whose token names a committee acts on and reads that committee's sessions and
/// policy only; the admin any committee's. A token naming no committee is unscoped only for the
/// readers that need none (an auditor, the public reporting client, an appointee, who reads only
/// announced results); a clerk, chair, member or deputy without one is refused. The refusal is
/// PERMISSION_DENIED naming the role and committee, as in every service (`api::scope`).
fn check_committee(principal: &Principal, committee: &str, verb: &str) -> Result<(), Status> {
    let allowed = principal.role == Role::Admin
        || match principal.committee.as_deref() {
            Some(own) => own == committee,
            None => unscoped_reader(principal.role),
        };
    if allowed {
        Ok(())
    } else {
        Err(scope::denied(principal, &format!("{verb} committee {committee}")).into())
    }
}

/// Roles whose token may name no committee and then read every committee's published records.
fn unscoped_reader(role: Role) -> bool {
    matches!(role, Role::Auditor | Role::Reporter | Role::Appointee)
}

/// The committee a list or stream is about: the one asked for (checked with
/// [`check_committee`]), or the principal's own when it asks for none; `None`: every committee
/// (the admin and unscoped readers).
fn listed_committee(principal: &Principal, requested: &str) -> Result<Option<String>, Status> {
    if !requested.is_empty() {
        let committee = parse_committee(requested)?;
        check_committee(principal, committee.as_str(), "read")?;
        return Ok(Some(committee.to_string()));
    }
    match principal.committee.as_deref() {
        _ if principal.role == Role::Admin => Ok(None),
        Some(own) => Ok(Some(own.to_string())),
        None if unscoped_reader(principal.role) => Ok(None),
        None => Err(scope::denied(
            principal,
            "read every committee's sessions (the token names no committee)",
        )
        .into()),
    }
}

/// Whether the role sees results under embargo.
fn sees_embargoed(role: Role) -> bool {
    matches!(role, Role::Clerk | Role::Chair | Role::Admin)
}

/// The answer outside the embargo, the same for a result not announced and for no result at all
/// (so it reveals neither); `then` says what to do once it is announced, if anything.
fn no_announced_result(session: &SessionId, then: &str) -> Status {
    Status::not_found(format!(
        "session {session} has no announced result yet{then}"
    ))
}

/// Embargo, as in GetSessionResult, for what is read off the session's stream (a recount, the
/// published ballot set): outside clerk, chair and admin, nothing until it is announced.
fn require_announced(
    principal: &Principal,
    state: &SessionAggregate,
    session: &SessionId,
    then: &str,
) -> Result<(), Status> {
    if sees_embargoed(principal.role) || state.phase == Phase::Announced {
        Ok(())
    } else {
        Err(no_announced_result(session, then))
    }
}

/// A ballot's subjects and options are judged against the session's frozen subjects and scale,
/// so their rejections are rules of state (FAILED_PRECONDITION), not malformed input.
fn cast_rejection(rejection: Rejection) -> Status {
    match rejection {
        Rejection::Invalid { field, rule } if field.starts_with("choices") => {
            Status::failed_precondition(format!("{field} {rule}"))
        }
        other => other.into(),
    }
}

/// The correction a request names.
fn correction_kind(kind: i32) -> Result<CorrectionRequest, Status> {
    match proto::CorrectionKind::try_from(kind) {
        Ok(proto::CorrectionKind::Retally) => Ok(CorrectionRequest::Retally),
        Ok(proto::CorrectionKind::AnnulRound) => Ok(CorrectionRequest::AnnulRound),
        Ok(proto::CorrectionKind::Unspecified) => Err(Status::invalid_argument("kind must be set")),
        Err(_) => Err(Status::invalid_argument(format!(
            "kind {kind} is not a known value"
        ))),
    }
}

fn void_reason(reason: crate::domain::evaluation::session::VoidReason) -> &'static str {
    use crate::domain::evaluation::session::VoidReason;
    match reason {
        VoidReason::MoreBallotsThanPresent => "more_ballots_than_present",
        VoidReason::BallotsDoNotMatchParticipation => "ballots_do_not_match_participation",
    }
}

#[tonic::async_trait]
impl Evaluation for EvaluationService {
    #[tracing::instrument(skip_all, fields(method = "AdoptScoringPolicy", committee))]
    async fn adopt_scoring_policy(
        &self,
        request: Request<proto::AdoptScoringPolicyRequest>,
    ) -> Result<Response<proto::AdoptScoringPolicyResponse>, Status> {
        let principal = self.state.principal(&request)?;
        let request = request.into_inner();
        let committee = parse_committee(&request.committee_id)?;
        tracing::Span::current().record("committee", committee.as_str());
        check_committee(&principal, committee.as_str(), "act on")?;
        let document = policy_from_proto(
            request
                .policy
                .ok_or_else(|| Status::invalid_argument("policy must be set"))?,
        )?;
        let (ctx, metadata) = self.state.command_context_legacy(&principal, "");
        let executed = self
            .state
            .handler
            .execute::<PolicyAggregate>(
                &StreamName::new(policy_stream(&committee))?,
                &PolicyCommand::AdoptPolicy { document },
                &ctx,
                &metadata,
            )
            .await?;
        let version = executed
            .events
            .iter()
            .map(|PolicyEvent::PolicyAdopted { version, .. }| *version)
            .next_back()
            .unwrap_or_default();
        Ok(Response::new(proto::AdoptScoringPolicyResponse {
            version,
            position: executed.position,
        }))
    }

    #[tracing::instrument(skip_all, fields(method = "GetScoringPolicy"))]
    async fn get_scoring_policy(
        &self,
        request: Request<proto::GetScoringPolicyRequest>,
    ) -> Result<Response<proto::ScoringPolicyReply>, Status> {
        let principal = self.state.principal(&request)?;
        let committee = parse_committee(&request.get_ref().committee_id)?;
        check_committee(&principal, committee.as_str(), "read")?;
        self.state
            .wait_for(&request, sessions::NAME, request.get_ref().min_position)
            .await?;
        let doc: Option<PolicyDoc> =
            self.state
                .views
                .read()?
                .get(sessions::NAME, sessions::POLICIES, committee.as_str())?;
        let doc = doc.unwrap_or_else(|| {
            let default = PolicyAggregate::default();
            PolicyDoc {
                version: default.version,
                document: default.document,
            }
        });
        Ok(Response::new(proto::ScoringPolicyReply {
            committee_id: committee.to_string(),
            version: doc.version,
            policy: Some(policy_to_proto(&doc.document)),
        }))
    }

    #[tracing::instrument(skip_all, fields(method = "ScheduleSession", session))]
    async fn schedule_session(
        &self,
        request: Request<proto::ScheduleSessionRequest>,
    ) -> Result<Response<proto::ScheduleSessionResponse>, Status> {
        let principal = self.state.principal(&request)?;
        let request = request.into_inner();
        let committee = parse_committee(&request.committee_id)?;
        check_committee(&principal, committee.as_str(), "act on")?;
        let session = if request.session_id.is_empty() {
            parse_session(&Uuid::new_v4().to_string())?
        } else {
            parse_session(&request.session_id)?
        };
        tracing::Span::current().record("session", session.as_str());
        let date = chrono::NaiveDate::parse_from_str(&request.date, "%Y-%m-%d").map_err(|_| {
            Status::invalid_argument(format!("date {:?} must be YYYY-MM-DD", request.date))
        })?;
        let subjects = request
            .subjects
            .iter()
            .map(|s| AppointeeId::parse(s.as_str()))
            .collect::<Result<Vec<_>, _>>()?;
        let constituency = match proto::Constituency::try_from(request.constituency) {
            Ok(proto::Constituency::Unspecified | proto::Constituency::CommitteeMembers) => {
                Constituency::CommitteeMembers
            }
            Ok(proto::Constituency::Deputies) => Constituency::Deputies,
            Err(_) => {
                return Err(Status::invalid_argument(format!(
                    "constituency {} is not a known value",
                    request.constituency
                )));
            }
        };
        if constituency != Constituency::Deputies && !request.deputy_groups.is_empty() {
            return Err(Status::invalid_argument(
                "deputy_groups is only for constituency deputies; leave it empty",
            ));
        }
        let session_stream = stream_of(&session)?;
        let committee_stream = StreamName::new(committee_stream(&committee))?;
        let policy_stream = StreamName::new(policy_stream(&committee))?;
        let mut attempts = 0;
        let (entitled, policy_version, position) = loop {
            attempts += 1;
            let loaded = self
                .state
                .handler
                .load::<Committee>(&committee_stream)
                .await?;
            if loaded.state.id.is_none() {
                return Err(Status::not_found(format!(
                    "committee {committee} does not exist"
                )));
            }
            // What the session is checked against: written only if none of it changes before.
            let mut conditions = vec![(committee_stream.clone(), loaded.expected())];
            conditions.extend(check_subjects(&self.state, &committee, date, &subjects).await?);
            let roster = match constituency {
                // The roster snapshot: the committee's members serving on the meeting date.
                Constituency::CommitteeMembers => loaded
                    .state
                    .members
                    .iter()
                    .filter(|(_, m)| m.from <= date && m.to.is_none_or(|to| date <= to))
                    .map(|(id, _)| MemberId::parse(id.as_str()))
                    .collect::<Result<Vec<_>, _>>()?,
                // Or the current deputies of its deputy groups.
                Constituency::Deputies => {
                    let (roster, groups) =
                        deputy_roster(&self.state, &committee, &request.deputy_groups).await?;
                    conditions.extend(groups);
                    roster
                }
            };
            // The policy version frozen now; later adoptions never reach the session.
            let policy = self
                .state
                .handler
                .load::<PolicyAggregate>(&policy_stream)
                .await?;
            conditions.push((policy_stream.clone(), policy.expected()));
            let entitled = roster.len() as u64;
            let policy_version = policy.state.version;
            let command = SessionCommand::Schedule(Schedule {
                session_id: session.clone(),
                committee: Some(committee.clone()),
                meeting_name: request.meeting_name.clone(),
                date,
                subjects: subjects.clone(),
                constituency,
                roster,
                policy_version,
                policy: policy.state.document,
            });
            let (ctx, metadata) = self.state.command_context_legacy(&principal, "");
            match self
                .state
                .handler
                .execute_checked::<SessionAggregate>(
                    &session_stream,
                    None,
                    &conditions,
                    &command,
                    &ctx,
                    &metadata,
                )
                .await
            {
                Ok(executed) => break (entitled, policy_version, executed.position),
                Err(HandlerError::ConditionChanged(stream)) if attempts < SCHEDULE_ATTEMPTS => {
                    tracing::info!(%stream, "a record the session was checked against changed; checking again");
                }
                Err(e) => return Err(e.into()),
            }
        };
        Ok(Response::new(proto::ScheduleSessionResponse {
            session_id: session.to_string(),
            entitled,
            policy_version,
            position,
        }))
    }

    #[tracing::instrument(skip_all, fields(method = "RecordRollCall"))]
    async fn record_roll_call(
        &self,
        request: Request<proto::RecordRollCallRequest>,
    ) -> Result<Response<proto::SessionCommandReply>, Status> {
        let principal = self.state.principal(&request)?;
        let request = request.into_inner();
        let session = parse_session(&request.session_id)?;
        let present = request
            .present
            .iter()
            .map(|m| MemberId::parse(m.as_str()))
            .collect::<Result<Vec<_>, _>>()?;
        self.authorized_session(&principal, &session).await?;
        let (_, position) = self
            .run(&principal, &session, SessionCommand::RollCall { present })
            .await?;
        Ok(Response::new(proto::SessionCommandReply { position }))
    }

    #[tracing::instrument(skip_all, fields(method = "OpenVoting"))]
    async fn open_voting(
        &self,
        request: Request<proto::SessionRef>,
    ) -> Result<Response<proto::SessionCommandReply>, Status> {
        self.simple_command(request, SessionCommand::OpenVoting)
            .await
    }

    #[tracing::instrument(skip_all, fields(method = "CastBallot", session))]
    async fn cast_ballot(
        &self,
        request: Request<proto::CastBallotRequest>,
    ) -> Result<Response<proto::CastBallotResponse>, Status> {
        let principal = self.state.principal(&request)?;
        let request = request.into_inner();
        let session = parse_session(&request.session_id)?;
        tracing::Span::current().record("session", session.as_str());
        let member = MemberId::parse(principal.subject.as_str()).map_err(|_| {
            Status::failed_precondition("the caller's subject is not a voter id on any roster")
        })?;
        let mut choices = BTreeMap::new();
        for (subject, code) in request.choices {
            let subject = AppointeeId::parse(subject.as_str()).map_err(|_| {
                Status::failed_precondition(format!("choices: unknown subject {subject:?}"))
            })?;
            let choice = if code.is_empty() {
                Choice::Blank
            } else {
                Choice::Option(code)
            };
            choices.insert(subject, choice);
        }
        self.authorized_session(&principal, &session).await?;
        let stream = stream_of(&session)?;
        let (ctx, metadata) = self.state.command_context_legacy(&principal, "");
        let lock = self.locks.get(&session);
        let _serialised = lock.lock().await;
        for _ in 0..CAST_ATTEMPTS {
            let loaded = self.state.handler.load::<SessionAggregate>(&stream).await?;
            // A random v4 id: the receipt, and the only key of the sealed ballot.
            let ballot_id = BallotId::parse(Uuid::new_v4().to_string())?;
            let command = CastBallot {
                member: member.clone(),
                choices: choices.clone(),
                ballot_id,
            };
            let outcome = loaded
                .state
                .cast_ballot(&command, &ctx)
                .map_err(cast_rejection)?;
            // Sealed first: a participation is never recorded without its ballot.
            if !self.ballots.seal(&outcome.sealed).await? {
                continue;
            }
            let events = outcome
                .events
                .iter()
                .map(|e| to_proposed(e, &metadata))
                .collect::<Result<Vec<_>, String>>();
            let appended = match events {
                Ok(events) => {
                    self.state
                        .store
                        .append(AppendRequest {
                            appends: vec![StreamAppend {
                                stream: stream.clone(),
                                expected: loaded
                                    .revision
                                    .map_or(ExpectedRevision::NoStream, ExpectedRevision::Exact),
                                events,
                            }],
                        })
                        .await
                }
                Err(detail) => {
                    tracing::error!(%detail, "a participation event cannot be serialised");
                    Err(AppendError::Storage(detail))
                }
            };
            match appended {
                Ok(done) => {
                    return Ok(Response::new(proto::CastBallotResponse {
                        already_voted: false,
                        ballot_id: outcome.receipt.to_string(),
                        round: outcome.sealed.round,
                        position: done.last_position(),
                    }));
                }
                Err(error) => {
                    // The participation was not recorded, so its ballot must not be counted.
                    self.ballots
                        .remove(&session, outcome.sealed.round, &outcome.receipt)
                        .await?;
                    if !matches!(error, AppendError::WrongExpectedRevision { .. }) {
                        return Err(error.into());
                    }
                }
            }
        }
        Err(Status::aborted(format!(
            "session {session} kept changing while the ballot was cast; cast it again"
        )))
    }

    #[tracing::instrument(skip_all, fields(method = "CloseVoting", session))]
    async fn close_voting(
        &self,
        request: Request<proto::SessionRef>,
    ) -> Result<Response<proto::CloseVotingResponse>, Status> {
        let principal = self.state.principal(&request)?;
        let session = parse_session(&request.get_ref().session_id)?;
        tracing::Span::current().record("session", session.as_str());
        let lock = self.locks.get(&session);
        let _serialised = lock.lock().await;
        let state = self.authorized_session(&principal, &session).await?;
        let round = state.round;
        if state.phase != Phase::VotingOpen {
            // A retry after a crash between publication and deletion: the round's sealed
            // entries are no longer needed. Clean up, then let the domain refuse the close.
            self.ballots.delete(&session, round).await?;
        }
        let sealed = self.ballots.take_all(&session, round).await?;
        let mut shuffle_seed = [0u8; 32];
        rand::rngs::OsRng
            .try_fill_bytes(&mut shuffle_seed)
            .map_err(|error| {
                tracing::error!(%error, "the operating system's random source failed");
                Status::unavailable("no randomness for the shuffle seed; retry later")
            })?;
        let (events, position) = self
            .run(
                &principal,
                &session,
                SessionCommand::CloseVoting {
                    sealed,
                    shuffle_seed,
                },
            )
            .await?;
        let mut reply = proto::CloseVotingResponse {
            round,
            position,
            ..Default::default()
        };
        for event in &events {
            match event {
                SessionEvent::VotingClosed { ballots, .. } => reply.ballots = *ballots,
                SessionEvent::VotingVoided { reason, .. } => {
                    reply.voided = true;
                    reply.void_reason = void_reason(*reason).into();
                }
                _ => {}
            }
        }
        // Published (or voided): the log holds what counts now; the sealed round goes.
        self.ballots.delete(&session, round).await?;
        Ok(Response::new(reply))
    }

    #[tracing::instrument(skip_all, fields(method = "Tally"))]
    async fn tally(
        &self,
        request: Request<proto::SessionRef>,
    ) -> Result<Response<proto::SessionCommandReply>, Status> {
        self.simple_command(request, SessionCommand::Tally).await
    }

    #[tracing::instrument(skip_all, fields(method = "Announce"))]
    async fn announce(
        &self,
        request: Request<proto::SessionRef>,
    ) -> Result<Response<proto::SessionCommandReply>, Status> {
        self.simple_command(request, SessionCommand::Announce).await
    }

    #[tracing::instrument(skip_all, fields(method = "CorrectResult"))]
    async fn correct_result(
        &self,
        request: Request<proto::CorrectResultRequest>,
    ) -> Result<Response<proto::SessionCommandReply>, Status> {
        // Approvers named in a request prove nothing; corrections take two authenticated
        // principals now.
        let _ = request;
        Err(Status::failed_precondition(
            "CorrectResult is retired: propose the correction with ProposeCorrection, then a \
             second, different clerk or chair approves it with ApproveCorrection",
        ))
    }

    #[tracing::instrument(skip_all, fields(method = "ProposeCorrection", session))]
    async fn propose_correction(
        &self,
        request: Request<proto::ProposeCorrectionRequest>,
    ) -> Result<Response<proto::ProposeCorrectionResponse>, Status> {
        let principal = self.state.principal(&request)?;
        let request = request.into_inner();
        let session = parse_session(&request.session_id)?;
        tracing::Span::current().record("session", session.as_str());
        let correction = correction_kind(request.kind)?;
        self.authorized_session(&principal, &session).await?;
        let (events, position) = self
            .run(
                &principal,
                &session,
                SessionCommand::ProposeCorrection {
                    round: request.round,
                    correction,
                    reason: request.reason,
                },
            )
            .await?;
        let proposal = events
            .iter()
            .find_map(|e| match e {
                SessionEvent::CorrectionProposed { proposal, .. } => Some(*proposal),
                _ => None,
            })
            .unwrap_or_default();
        Ok(Response::new(proto::ProposeCorrectionResponse {
            proposal,
            position,
        }))
    }

    #[tracing::instrument(skip_all, fields(method = "ApproveCorrection", session))]
    async fn approve_correction(
        &self,
        request: Request<proto::ApproveCorrectionRequest>,
    ) -> Result<Response<proto::SessionCommandReply>, Status> {
        let principal = self.state.principal(&request)?;
        let request = request.into_inner();
        let session = parse_session(&request.session_id)?;
        tracing::Span::current().record("session", session.as_str());
        let correction = correction_kind(request.kind)?;
        self.authorized_session(&principal, &session).await?;
        let (_, position) = self
            .run(
                &principal,
                &session,
                SessionCommand::ApproveCorrection {
                    proposal: request.proposal,
                    round: request.round,
                    correction,
                },
            )
            .await?;
        Ok(Response::new(proto::SessionCommandReply { position }))
    }

    #[tracing::instrument(skip_all, fields(method = "Recount"))]
    async fn recount(
        &self,
        request: Request<proto::RecountRequest>,
    ) -> Result<Response<proto::RecountResponse>, Status> {
        let principal = self.state.principal(&request)?;
        let session = parse_session(&request.get_ref().session_id)?;
        let state = self.session_for(&principal, &session, "read").await?;
        // A standing tally that is not announced and a session without one get the same
        // answer, so a recount reveals neither.
        require_announced(&principal, &state, &session, "")?;
        let report = state.recount()?;
        let scale = state.policy().map(|p| p.scale.clone()).unwrap_or_default();
        let (recorded, recorded_hash) = state
            .tally
            .as_ref()
            .map(|t| (t.results.clone(), t.ballot_set_hash.clone()))
            .unwrap_or_default();
        Ok(Response::new(proto::RecountResponse {
            round: report.round,
            matches: report.matches,
            recorded: recorded
                .iter()
                .map(|t| subject_to_proto(t, &scale))
                .collect(),
            recomputed: report
                .recomputed
                .iter()
                .map(|t| subject_to_proto(t, &scale))
                .collect(),
            recorded_ballot_set_hash: recorded_hash,
            recomputed_ballot_set_hash: report.ballot_set_hash,
        }))
    }

    #[tracing::instrument(skip_all, fields(method = "CheckReceipt"))]
    async fn check_receipt(
        &self,
        request: Request<proto::CheckReceiptRequest>,
    ) -> Result<Response<proto::CheckReceiptResponse>, Status> {
        let principal = self.state.principal(&request)?;
        let session = parse_session(&request.get_ref().session_id)?;
        let ballot_id = BallotId::parse(request.get_ref().ballot_id.as_str())?;
        let state = self.session_for(&principal, &session, "read").await?;
        // The published set (that voting closed, how many ballots) is part of the result.
        require_announced(
            &principal,
            &state,
            &session,
            "; check the receipt once it is announced",
        )?;
        Ok(Response::new(proto::CheckReceiptResponse {
            published: receipt_in_published_set(&ballot_id, &state.published),
            round: state.round,
            published_ballots: state.published.len() as u64,
        }))
    }

    #[tracing::instrument(skip_all, fields(method = "GetSessionResult"))]
    async fn get_session_result(
        &self,
        request: Request<proto::GetSessionResultRequest>,
    ) -> Result<Response<proto::SessionResult>, Status> {
        let principal = self.state.principal(&request)?;
        let session = parse_session(&request.get_ref().session_id)?;
        let doc = self
            .session_doc(&request, &session, request.get_ref().min_position)
            .await?;
        // Another committee's session is refused whatever its phase, so the refusal tells
        // nothing of a tally under embargo.
        if let Some(committee) = doc.as_ref().and_then(|d| d.committee.as_deref()) {
            check_committee(&principal, committee, "read")?;
        }
        // Only the holding committee's clerk and chair (and admin) see inside the embargo.
        let privileged = sees_embargoed(principal.role)
            && doc.as_ref().is_none_or(|d| {
                d.committee.as_deref().is_none_or(|c| {
                    principal.role == Role::Admin
                        || principal.committee.as_deref().is_none_or(|own| own == c)
                })
            });
        // Embargo: the same answer for "no tally" and "tally not announced", so a role outside
        // the embargo cannot even learn that a tally exists.
        let hidden = || no_announced_result(&session, "");
        let Some(doc) = doc else {
            return Err(if privileged {
                Status::not_found(format!("session {session} does not exist"))
            } else {
                hidden()
            });
        };
        match &doc.result {
            Some(result) if result.announced || privileged => {
                Ok(Response::new(result_to_proto(&doc, result)))
            }
            None if privileged => Err(Status::not_found(format!(
                "session {session} has no tally yet"
            ))),
            _ => Err(hidden()),
        }
    }

    #[tracing::instrument(skip_all, fields(method = "ListSessions"))]
    async fn list_sessions(
        &self,
        request: Request<proto::ListSessionsRequest>,
    ) -> Result<Response<proto::ListSessionsResponse>, Status> {
        let principal = self.state.principal(&request)?;
        let page = Page::from_request(request.get_ref().page_size, &request.get_ref().page_token)?;
        let committee = listed_committee(&principal, &request.get_ref().committee_id)?;
        self.state
            .wait_for(&request, sessions::NAME, request.get_ref().min_position)
            .await?;
        let read = self.state.views.read()?;
        let mut out = Vec::new();
        let mut after = page.after.clone();
        let mut last_key = None;
        'scan: loop {
            let chunk: Vec<(String, SessionDoc)> = read.scan(
                sessions::NAME,
                sessions::SESSIONS,
                "",
                after.as_deref(),
                SCAN_CHUNK,
            )?;
            let exhausted = chunk.len() < SCAN_CHUNK;
            for (key, doc) in chunk {
                after = Some(key.clone());
                if committee
                    .as_deref()
                    .is_none_or(|c| doc.committee.as_deref() == Some(c))
                {
                    let mut summary = summary_to_proto(&doc);
                    // Embargo: outside it, a tallied session looks closed until announced, so
                    // the list does not reveal that a tally exists either.
                    if !sees_embargoed(principal.role)
                        && summary.phase == proto::SessionPhase::Tallied as i32
                    {
                        summary.phase = proto::SessionPhase::VotingClosed as i32;
                    }
                    out.push(summary);
                    last_key = Some(key);
                    if out.len() >= page.size {
                        break 'scan;
                    }
                }
            }
            if exhausted {
                break;
            }
        }
        let next_page_token = page.next_token(out.len(), last_key.as_deref());
        Ok(Response::new(proto::ListSessionsResponse {
            sessions: out,
            next_page_token,
        }))
    }

    type WatchAnnouncementsStream = RpcStream<proto::ResultAnnouncement>;

    #[tracing::instrument(skip_all, fields(method = "WatchAnnouncements"))]
    async fn watch_announcements(
        &self,
        request: Request<proto::WatchAnnouncementsRequest>,
    ) -> Result<Response<Self::WatchAnnouncementsStream>, Status> {
        let principal = self.state.principal(&request)?;
        let committee = listed_committee(&principal, &request.get_ref().committee_id)?;
        let from = request.get_ref().from_position;
        let start = if from == 0 {
            SubscribeFrom::Now
        } else {
            SubscribeFrom::Position(from)
        };
        if self.shutdown.is_cancelled() {
            return Err(crate::api::status::shutting_down(from));
        }
        let mut resume_from = match start {
            SubscribeFrom::Position(p) => p,
            SubscribeFrom::Now => self.state.store.head().await?.position + 1,
        };
        let mut subscription = self.state.store.subscribe(
            start,
            Filter {
                stream_prefixes: vec!["session-".into()],
                event_types: vec![ANNOUNCED.into()],
            },
        );
        let state = self.state.clone();
        let shutdown = self.shutdown.clone();
        let wait = self.state.default_wait;
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            loop {
                let item = tokio::select! {
                    () = shutdown.cancelled() => {
                        let _ = tx.send(Err(crate::api::status::shutting_down(resume_from))).await;
                        return;
                    }
                    () = tx.closed() => return,
                    item = subscription.next() => item,
                };
                let event = match item {
                    Some(Ok(SubscriptionItem::Event(event))) => event,
                    Some(Ok(SubscriptionItem::CaughtUp { .. })) => continue,
                    Some(Err(error)) => {
                        let _ = tx.send(Err(error.into())).await;
                        return;
                    }
                    None => {
                        let _ = tx
                            .send(Err(crate::api::status::shutting_down(resume_from)))
                            .await;
                        return;
                    }
                };
                let Some(session) = event.stream.as_str().strip_prefix("session-") else {
                    continue;
                };
                let announcement = async {
                    state
                        .views
                        .wait_for(sessions::NAME, event.position, wait)
                        .await?;
                    let doc: Option<SessionDoc> =
                        state
                            .views
                            .read()?
                            .get(sessions::NAME, sessions::SESSIONS, session)?;
                    Ok::<_, crate::projection::ProjectionError>(doc)
                }
                .await;
                let doc = match announcement {
                    Ok(doc) => doc,
                    Err(error) => {
                        let _ = tx.send(Err(error.into())).await;
                        return;
                    }
                };
                resume_from = event.position + 1;
                let Some(doc) = doc else { continue };
                if committee
                    .as_deref()
                    .is_some_and(|c| doc.committee.as_deref() != Some(c))
                {
                    continue;
                }
                // A result annulled since is no longer standing; nothing is sent for it.
                let Some(result) = doc.result.as_ref().filter(|r| r.announced) else {
                    continue;
                };
                let message = proto::ResultAnnouncement {
                    position: event.position,
                    result: Some(result_to_proto(&doc, result)),
                };
                if tx.send(Ok(message)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role, committee: Option<&str>) -> Principal {
        Principal {
            subject: "p1".into(),
            role,
            committee: committee.map(str::to_string),
            deputy_group: None,
        }
    }

    #[test]
    fn a_committees_principal_acts_on_and_reads_its_own_sessions_only() {
        let clerk = principal(Role::Clerk, Some("xiangfang"));
        assert!(check_committee(&clerk, "xiangfang", "act on").is_ok());
        let denied = check_committee(&clerk, "daowai", "act on").unwrap_err();
        assert_eq!(denied.code(), tonic::Code::PermissionDenied);
        assert_eq!(
            denied.message(),
            "role clerk of committee xiangfang may not act on committee daowai"
        );
        let reporter = principal(Role::Reporter, Some("xiangfang"));
        let denied = check_committee(&reporter, "daowai", "read").unwrap_err();
        assert_eq!(
            denied.message(),
            "role reporter of committee xiangfang may not read committee daowai"
        );
        assert!(check_committee(&principal(Role::Admin, None), "daowai", "act on").is_ok());
        // A token naming no committee: unscoped readers read, committee roles are refused.
        for role in [Role::Auditor, Role::Reporter, Role::Appointee] {
            assert!(check_committee(&principal(role, None), "daowai", "read").is_ok());
        }
        for role in [
            Role::Clerk,
            Role::Chair,
            Role::CommitteeMember,
            Role::Deputy,
        ] {
            assert!(check_committee(&principal(role, None), "daowai", "act on").is_err());
        }
    }

    #[test]
    fn a_list_asked_for_no_committee_is_the_tokens_own() {
        let member = principal(Role::CommitteeMember, Some("xiangfang"));
        assert_eq!(
            listed_committee(&member, "").unwrap().as_deref(),
            Some("xiangfang")
        );
        assert_eq!(
            listed_committee(&member, "xiangfang").unwrap().as_deref(),
            Some("xiangfang")
        );
        let denied = listed_committee(&member, "daowai").unwrap_err();
        assert_eq!(denied.code(), tonic::Code::PermissionDenied);
        assert_eq!(
            listed_committee(&principal(Role::Admin, None), "").unwrap(),
            None
        );
        assert_eq!(
            listed_committee(&principal(Role::Reporter, None), "").unwrap(),
            None
        );
        assert!(listed_committee(&principal(Role::Clerk, None), "").is_err());
    }
}
