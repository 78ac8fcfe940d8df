//! Evaluation (三听's vote, 履职测评): scoring policies and evaluation sessions — scheduling,
//! roll call, the secret ballot, closing, tally, announcement and corrections. Its queries
//! (results, lists, recounts, receipts, the announcement stream) are in [`results`].
//!
//! Every command runs through the handler like any other; casting a ballot too, with the
//! sealed [`BallotBox`](crate::ballot_box::BallotBox) as a staged step of its decision
//! ([`Ballot`]): the ballot is sealed durably (encrypted under the round's key, which lives in
//! memory only) under a fresh random id *before* the
//! participation event is appended with the revision that was loaded, and removed again if that
//! append fails. Closing reads the round's sealed ballots, draws a shuffle seed from the
//! operating system's CSPRNG, lets the domain publish (or void) them, then deletes the round.
//! Both run under a per-session lock, so a close can never see a ballot whose participation is
//! still being appended.
//!
//! Nothing here logs or traces a member next to a choice or a receipt: spans carry the session.

pub mod results;
mod roster;
pub mod standing;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;
use rand::TryRngCore;
use serde::Serialize;
use uuid::Uuid;

use crate::app::{App, AppError, Caller, Target, Written};
use crate::auth::{Principal, Role};
use crate::ballot_box::BallotBox;
use crate::domain::committee::Committee;
use crate::domain::evaluation::policy::{
    PolicyAggregate, PolicyCommand, PolicyEvent, ScoringPolicy,
};
use crate::domain::evaluation::session::{
    CastBallot as DomainBallot, CastOutcome, Constituency, CorrectionRequest, Phase, Schedule,
    SessionAggregate, SessionCommand, SessionEvent, VoidReason,
};
use crate::domain::evaluation::tally::Choice;
use crate::domain::evaluation::{AppointeeId, BallotId, MemberId, SessionId, session_stream};
use crate::domain::ids::{CommitteeId, DeputyGroupId, committee_stream};
use crate::domain::{Context, Rejection};
use crate::handler::{Decided, Decision, HandlerError};
use crate::log::{Direction, ReadError, ReadStream, StreamName};

/// How often scheduling a session checks its subjects, roster and policy again after one of
/// them changed between the check and the write.
const SCHEDULE_ATTEMPTS: usize = 3;

/// The stream of a committee's scoring policy.
pub fn policy_stream(committee: &CommitteeId) -> String {
    format!("policy-{committee}")
}

/// One lock per session, serialising the writes that touch the ballot box.
#[derive(Default)]
pub struct SessionLocks(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl SessionLocks {
    fn get(&self, session: &SessionId) -> Arc<tokio::sync::Mutex<()>> {
        // A poisoned map only means another request panicked while inserting; its entries are
        // still usable.
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Arc::clone(map.entry(session.to_string()).or_default())
    }
}

/// A validated AdoptScoringPolicy.
#[derive(Debug, Clone, Serialize)]
pub struct AdoptScoringPolicy {
    /// The committee adopting it.
    pub committee: CommitteeId,
    /// The policy document, validated.
    pub policy: ScoringPolicy,
}

/// What adopting a scoring policy wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScoringPolicyAdopted {
    /// The version it got.
    pub version: u32,
    /// The position written.
    pub position: u64,
}

/// A validated ScheduleSession.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduleSession {
    /// The committee holding it.
    pub committee: CommitteeId,
    /// The session's id; `None`: minted.
    pub session: Option<SessionId>,
    /// The meeting.
    pub meeting_name: String,
    /// The meeting date.
    pub date: NaiveDate,
    /// The appointees rated, in ballot order.
    pub subjects: Vec<AppointeeId>,
    /// Who votes.
    pub constituency: Constituency,
    /// For deputies: the groups whose deputies vote (empty: every group of the committee).
    pub deputy_groups: Vec<DeputyGroupId>,
}

/// What scheduling wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheduled {
    /// The session.
    pub session: SessionId,
    /// The roster size.
    pub entitled: u64,
    /// The policy version frozen for it.
    pub policy_version: u32,
    /// The position written.
    pub position: u64,
}

/// A validated RecordRollCall.
#[derive(Debug, Clone, Serialize)]
pub struct RollCall {
    /// The session.
    pub session: SessionId,
    /// Who is present.
    pub present: Vec<MemberId>,
}

/// A step of the session that carries nothing but the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Step {
    /// Open a voting round.
    OpenVoting,
    /// Record the tally.
    Tally,
    /// Lift the embargo.
    Announce,
}

/// A ballot as validated: a choice per subject (blank where none). Deliberately neither
/// `Debug` nor `Serialize`: nothing may print it or digest it next to its voter.
pub struct CastBallot {
    /// The session.
    pub session: SessionId,
    /// The choices.
    pub choices: BTreeMap<AppointeeId, Choice>,
}

/// What casting a ballot answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cast {
    /// The receipt; `None` when this answers a retry of a ballot already recorded (nothing
    /// stored pairs a voter with a ballot, so it cannot be given again).
    pub receipt: Option<BallotId>,
    /// The round voted in.
    pub round: u32,
    /// The position of the participation record.
    pub position: u64,
}

/// What closing a round wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    /// The round.
    pub round: u32,
    /// Ballots published (0 when voided).
    pub ballots: u64,
    /// Why the round was voided, if it was.
    pub voided: Option<VoidReason>,
    /// The position written.
    pub position: u64,
}

/// A validated ProposeCorrection.
#[derive(Debug, Clone, Serialize)]
pub struct ProposeCorrection {
    /// The session.
    pub session: SessionId,
    /// The round corrected.
    pub round: u32,
    /// What to do.
    pub correction: CorrectionRequest,
    /// Why.
    pub reason: String,
}

/// What proposing a correction wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proposed {
    /// The proposal's number.
    pub proposal: u32,
    /// The position written.
    pub position: u64,
}

/// A validated ApproveCorrection.
#[derive(Debug, Clone, Serialize)]
pub struct ApproveCorrection {
    /// The session.
    pub session: SessionId,
    /// The proposal number approved.
    pub proposal: u32,
    /// The round the approver expects it to correct.
    pub round: u32,
    /// The correction the approver expects.
    pub correction: CorrectionRequest,
}

/// Refusal of a committee-scoped principal on another committee's session or policy.
///
/// A principal whose token names a committee acts on and reads that committee's sessions and
/// policy only; the admin any committee's. A token naming no committee is unscoped only for the
/// readers that need none (an auditor, the public reporting client, an appointee, who reads only
/// announced results); a clerk, chair, member or deputy without one is refused.
pub(crate) fn check_committee(
    principal: &Principal,
    committee: &str,
    verb: &str,
) -> Result<(), AppError> {
    let allowed = principal.role == Role::Admin
        || match principal.committee.as_deref() {
            Some(own) => own == committee,
            None => unscoped_reader(principal.role),
        };
    if allowed {
        Ok(())
    } else {
        Err(AppError::denied(
            principal,
            &format!("{verb} committee {committee}"),
        ))
    }
}

/// Roles whose token may name no committee and then read every committee's published records.
fn unscoped_reader(role: Role) -> bool {
    matches!(role, Role::Auditor | Role::Reporter | Role::Appointee)
}

/// The committee a list or stream is about: the one asked for (checked with
/// [`check_committee`]), or the principal's own when it asks for none; `None`: every committee
/// (the admin and unscoped readers).
pub(crate) fn listed_committee(
    principal: &Principal,
    requested: Option<&CommitteeId>,
) -> Result<Option<String>, AppError> {
    if let Some(committee) = requested {
        check_committee(principal, committee.as_str(), "read")?;
        return Ok(Some(committee.to_string()));
    }
    match principal.committee.as_deref() {
        _ if principal.role == Role::Admin => Ok(None),
        Some(own) => Ok(Some(own.to_string())),
        None if unscoped_reader(principal.role) => Ok(None),
        None => Err(AppError::denied(
            principal,
            "read every committee's sessions (the token names no committee)",
        )),
    }
}

/// A ballot's subjects and options are judged against the session's frozen subjects and scale,
/// so their rejections are rules of state (FAILED_PRECONDITION), not malformed input.
fn cast_rejection(rejection: Rejection) -> Rejection {
    match rejection {
        Rejection::Invalid { field, rule } if field.starts_with("choices") => {
            Rejection::precondition(format!("{field} {rule}"))
        }
        other => other,
    }
}

/// Casting a ballot as a decision of the session: the domain decides the participation event
/// and the sealed ballot; the ballot is sealed in the box before the event is appended (and
/// removed if it is not).
struct Ballot<'a> {
    member: MemberId,
    choices: &'a BTreeMap<AppointeeId, Choice>,
    ballots: &'a BallotBox,
}

#[async_trait::async_trait]
impl Decision<SessionAggregate> for Ballot<'_> {
    type Staged = CastOutcome;

    fn decide(
        &self,
        state: &SessionAggregate,
        ctx: &Context,
    ) -> Result<Decided<SessionAggregate, CastOutcome>, Rejection> {
        // A random v4 id: the receipt, and the only key of the sealed ballot.
        let ballot_id = BallotId::parse(Uuid::new_v4().to_string())?;
        let command = DomainBallot {
            member: self.member.clone(),
            choices: self.choices.clone(),
            ballot_id,
        };
        let outcome = state.cast_ballot(&command, ctx).map_err(cast_rejection)?;
        Ok((outcome.events.clone(), Some(outcome)))
    }

    async fn stage(&self, outcome: &CastOutcome) -> Result<bool, HandlerError> {
        Ok(self
            .ballots
            .seal(&outcome.sealed, outcome.sealed_len)
            .await?)
    }

    async fn unstage(&self, outcome: &CastOutcome) -> Result<(), HandlerError> {
        self.ballots
            .remove(
                &outcome.sealed.session_id,
                outcome.sealed.round,
                &outcome.receipt,
            )
            .await?;
        Ok(())
    }
}

fn session_target(
    session: &SessionId,
    committee: Option<&str>,
) -> Result<Target<SessionAggregate>, AppError> {
    Target::new(session_stream(session), committee)
}

fn record_session(session: &SessionId) {
    tracing::Span::current().record("session", session.as_str());
}

impl App {
    /// Adopts a scoring policy for a committee (the chair; the domain checks the role).
    pub async fn adopt_scoring_policy(
        &self,
        caller: &Caller,
        adopt: AdoptScoringPolicy,
    ) -> Result<ScoringPolicyAdopted, AppError> {
        let committee = &adopt.committee;
        tracing::Span::current().record("committee", committee.as_str());
        check_committee(&caller.principal, committee.as_str(), "act on")?;
        let target =
            Target::<PolicyAggregate>::new(policy_stream(committee), Some(committee.as_str()))?;
        let command = PolicyCommand::AdoptPolicy {
            document: adopt.policy.clone(),
        };
        let executed = self
            .execute(caller, target, &command, "AdoptScoringPolicy", &adopt)
            .await?;
        let version = executed
            .events
            .iter()
            .map(|PolicyEvent::PolicyAdopted { version, .. }| *version)
            .next_back()
            .unwrap_or_default();
        Ok(ScoringPolicyAdopted {
            version,
            position: executed.position,
        })
    }

    /// Schedules a session: the subjects must serve on the meeting date, the roster is the
    /// committee's members (or its deputies) serving then, and the policy in force is frozen.
    /// Written only if none of what it was checked against changed; checked again up to three
    /// times when something did.
    pub async fn schedule_session(
        &self,
        caller: &Caller,
        schedule: ScheduleSession,
    ) -> Result<Scheduled, AppError> {
        let committee = &schedule.committee;
        check_committee(&caller.principal, committee.as_str(), "act on")?;
        let session = caller.mint("session_id", schedule.session.clone(), SessionId::parse)?;
        record_session(&session);
        if schedule.constituency != Constituency::Deputies && !schedule.deputy_groups.is_empty() {
            return Err(AppError::invalid(
                "deputy_groups",
                "is only for constituency deputies; leave it empty",
            ));
        }
        let committee_stream = StreamName::new(committee_stream(committee))?;
        let policy_stream = StreamName::new(policy_stream(committee))?;
        let date = schedule.date;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let loaded = self.handler.load::<Committee>(&committee_stream).await?;
            if loaded.state.id.is_none() {
                return Err(AppError::not_found(format!(
                    "committee {committee} does not exist"
                )));
            }
            // What the session is checked against: written only if none of it changes before.
            let mut conditions = vec![(committee_stream.clone(), loaded.expected())];
            conditions
                .extend(roster::check_subjects(self, committee, date, &schedule.subjects).await?);
            let roster = match schedule.constituency {
                // The roster snapshot: the committee's members serving on the meeting date.
                Constituency::CommitteeMembers => loaded
                    .state
                    .members
                    .iter()
                    .filter(|(_, m)| m.from <= date && m.to.is_none_or(|to| date <= to))
                    .map(|(id, _)| id.clone())
                    .collect::<Vec<_>>(),
                // Or the current deputies of its deputy groups.
                Constituency::Deputies => {
                    let (roster, groups) =
                        roster::deputy_roster(self, committee, &schedule.deputy_groups).await?;
                    conditions.extend(groups);
                    roster
                }
            };
            // The policy version frozen now; later adoptions never reach the session.
            let policy = self.handler.load::<PolicyAggregate>(&policy_stream).await?;
            conditions.push((policy_stream.clone(), policy.expected()));
            let entitled = roster.len() as u64;
            let policy_version = policy.state.version;
            let command = SessionCommand::Schedule(Schedule {
                session_id: session.clone(),
                committee: Some(committee.clone()),
                meeting_name: schedule.meeting_name.clone(),
                date,
                subjects: schedule.subjects.clone(),
                constituency: schedule.constituency,
                roster,
                policy_version,
                policy: policy.state.document,
            });
            let mut target = session_target(&session, Some(committee.as_str()))?;
            target.conditions = conditions;
            match self
                .execute(caller, target, &command, "ScheduleSession", &schedule)
                .await
            {
                Ok(executed) => {
                    // A retry answers from the session as it was scheduled.
                    let (entitled, policy_version) = executed
                        .events
                        .iter()
                        .find_map(|event| match event {
                            SessionEvent::SessionScheduled(s) => {
                                Some((s.roster.len() as u64, s.policy_version))
                            }
                            _ => None,
                        })
                        .unwrap_or((entitled, policy_version));
                    return Ok(Scheduled {
                        session,
                        entitled,
                        policy_version,
                        position: executed.position,
                    });
                }
                Err(AppError::Handler(HandlerError::ConditionChanged(stream)))
                    if attempts < SCHEDULE_ATTEMPTS =>
                {
                    tracing::info!(%stream, "a record the session was checked against changed; checking again");
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Records who is present (the clerk), until voting opens.
    pub async fn record_roll_call(
        &self,
        caller: &Caller,
        roll_call: RollCall,
    ) -> Result<Written, AppError> {
        record_session(&roll_call.session);
        self.recall(caller, "RecordRollCall", &roll_call).await?;
        let committee = self
            .session_committee(&caller.principal, &roll_call.session)
            .await?;
        let command = SessionCommand::RollCall {
            present: roll_call.present.clone(),
        };
        let target = session_target(&roll_call.session, committee.as_deref())?;
        let executed = self
            .execute(caller, target, &command, "RecordRollCall", &roll_call)
            .await?;
        Ok(Written {
            position: executed.position,
        })
    }

    /// Opens a voting round, tallies, or announces (the clerk).
    pub async fn session_step(
        &self,
        caller: &Caller,
        session: &SessionId,
        step: Step,
    ) -> Result<Written, AppError> {
        record_session(session);
        let (command, kind) = match step {
            Step::OpenVoting => (SessionCommand::OpenVoting, "OpenVoting"),
            Step::Tally => (SessionCommand::Tally, "Tally"),
            Step::Announce => (SessionCommand::Announce, "Announce"),
        };
        self.recall(caller, kind, &(session, step)).await?;
        let committee = self.session_committee(&caller.principal, session).await?;
        let target = session_target(session, committee.as_deref())?;
        let executed = self
            .execute(caller, target, &command, kind, &(session, step))
            .await?;
        Ok(Written {
            position: executed.position,
        })
    }

    /// Casts the caller's ballot. The member is the caller (a token's subject is the voter
    /// id); the ballot is sealed, the participation recorded. A retry with the same command id
    /// of a ballot already recorded is answered from the participation record alone.
    pub async fn cast_ballot(&self, caller: &Caller, ballot: CastBallot) -> Result<Cast, AppError> {
        let session = &ballot.session;
        record_session(session);
        let member = MemberId::parse(caller.principal.subject.as_str()).map_err(|_| {
            AppError::precondition("the caller's subject is not a voter id on any roster")
        })?;
        let committee = self.session_committee(&caller.principal, session).await?;
        let target = session_target(session, committee.as_deref())?;
        let (ctx, metadata) = self.command_context(caller, committee.as_deref());
        let decision = Ballot {
            member,
            choices: &ballot.choices,
            ballots: &self.ballots,
        };
        // Serialised with the round's close.
        let lock = self.session_locks.get(session);
        let _serialised = lock.lock().await;
        let (executed, staged) = self
            .handler
            .execute_keyed(
                &target.stream,
                None,
                &[],
                &decision,
                &ctx,
                &metadata,
                caller.key_without_content().as_ref(),
            )
            .await?;
        let round = executed
            .events
            .iter()
            .find_map(|event| match event {
                SessionEvent::ParticipationRecorded { round, .. } => Some(*round),
                _ => None,
            })
            .unwrap_or_default();
        Ok(Cast {
            receipt: staged.map(|outcome| outcome.receipt),
            round,
            position: executed.position,
        })
    }

    /// Closes the round: publishes its sealed ballots in a random order (or voids the round)
    /// and deletes them from the box.
    pub async fn close_voting(
        &self,
        caller: &Caller,
        session: &SessionId,
    ) -> Result<Closed, AppError> {
        record_session(session);
        self.recall(caller, "CloseVoting", session).await?;
        let lock = self.session_locks.get(session);
        let _serialised = lock.lock().await;
        let state = self
            .session_for(&caller.principal, session, "act on")
            .await?;
        let committee = state
            .schedule
            .as_ref()
            .and_then(|s| s.committee.as_ref())
            .map(CommitteeId::to_string);
        let round = state.round;
        if state.phase != Phase::VotingOpen {
            // A retry after a crash between publication and deletion: the round's sealed
            // entries are no longer needed. Clean up, then let the domain refuse the close (or
            // the command id find the close that was made).
            self.ballots.delete(session, round).await?;
        }
        let opened = self.ballots.take_all(session, round).await?;
        if opened.unreadable > 0 {
            tracing::warn!(%session, round, unreadable = opened.unreadable,
                "sealed ballots of the round cannot be read (the server stopped while it was open): the round is voided");
        }
        let mut shuffle_seed = [0u8; 32];
        rand::rngs::OsRng
            .try_fill_bytes(&mut shuffle_seed)
            .map_err(|error| {
                tracing::error!(%error, "the operating system's random source failed");
                AppError::Unavailable("no randomness for the shuffle seed; retry later".into())
            })?;
        let target = session_target(session, committee.as_deref())?;
        let command = SessionCommand::CloseVoting {
            sealed: opened.ballots,
            unreadable: opened.unreadable,
            shuffle_seed,
        };
        let executed = self
            .execute(caller, target, &command, "CloseVoting", session)
            .await?;
        let mut closed = Closed {
            round,
            ballots: 0,
            voided: None,
            position: executed.position,
        };
        for event in &executed.events {
            match event {
                SessionEvent::VotingClosed { round, ballots, .. } => {
                    closed.round = *round;
                    closed.ballots = *ballots;
                }
                SessionEvent::VotingVoided { round, reason, .. } => {
                    closed.round = *round;
                    closed.voided = Some(*reason);
                }
                _ => {}
            }
        }
        // Published (or voided): the log holds what counts now; the sealed round goes.
        self.ballots.delete(session, closed.round).await?;
        Ok(closed)
    }

    /// Proposes a compensating correction (a clerk or chair; a second one approves it).
    pub async fn propose_correction(
        &self,
        caller: &Caller,
        propose: ProposeCorrection,
    ) -> Result<Proposed, AppError> {
        record_session(&propose.session);
        self.recall(caller, "ProposeCorrection", &propose).await?;
        let committee = self
            .session_committee(&caller.principal, &propose.session)
            .await?;
        let command = SessionCommand::ProposeCorrection {
            round: propose.round,
            correction: propose.correction,
            reason: propose.reason.clone(),
        };
        let target = session_target(&propose.session, committee.as_deref())?;
        let executed = self
            .execute(caller, target, &command, "ProposeCorrection", &propose)
            .await?;
        let proposal = executed
            .events
            .iter()
            .find_map(|e| match e {
                SessionEvent::CorrectionProposed { proposal, .. } => Some(*proposal),
                _ => None,
            })
            .unwrap_or_default();
        Ok(Proposed {
            proposal,
            position: executed.position,
        })
    }

    /// Approves the pending correction (a different clerk or chair); it takes effect in the
    /// same write.
    pub async fn approve_correction(
        &self,
        caller: &Caller,
        approve: ApproveCorrection,
    ) -> Result<Written, AppError> {
        record_session(&approve.session);
        self.recall(caller, "ApproveCorrection", &approve).await?;
        let committee = self
            .session_committee(&caller.principal, &approve.session)
            .await?;
        let command = SessionCommand::ApproveCorrection {
            proposal: approve.proposal,
            round: approve.round,
            correction: approve.correction,
        };
        let target = session_target(&approve.session, committee.as_deref())?;
        let executed = self
            .execute(caller, target, &command, "ApproveCorrection", &approve)
            .await?;
        Ok(Written {
            position: executed.position,
        })
    }

    /// The committee holding a session, after checking the principal may act on it. Reads only
    /// the session's first event (the schedule, which names the committee and never changes)
    /// instead of folding the whole stream, whose published ballots are the bulk of it once
    /// voting has closed. The command itself folds the stream once more.
    async fn session_committee(
        &self,
        principal: &Principal,
        session: &SessionId,
    ) -> Result<Option<String>, AppError> {
        let missing = || AppError::not_found(format!("session {session} does not exist"));
        let first = match self
            .store
            .read_stream(ReadStream {
                stream: StreamName::new(session_stream(session))?,
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
            AppError::Handler(HandlerError::Decode {
                stream: recorded.stream.to_string(),
                position: recorded.position,
                detail: error.to_string(),
            })
        })?;
        match event {
            SessionEvent::SessionScheduled(schedule) => {
                let committee = schedule.committee.map(|c| c.to_string());
                if let Some(committee) = committee.as_deref() {
                    check_committee(principal, committee, "act on")?;
                }
                Ok(committee)
            }
            _ => Err(missing()),
        }
    }

    /// Loads a session and checks that a principal tied to a committee `verb`s (acts on,
    /// reads) its own committee's session only.
    pub(crate) async fn session_for(
        &self,
        principal: &Principal,
        session: &SessionId,
        verb: &str,
    ) -> Result<SessionAggregate, AppError> {
        let loaded = self
            .handler
            .load::<SessionAggregate>(&StreamName::new(session_stream(session))?)
            .await?;
        let state = loaded.state;
        let Some(schedule) = state.schedule.as_ref() else {
            return Err(AppError::not_found(format!(
                "session {session} does not exist"
            )));
        };
        if let Some(committee) = schedule.committee.as_ref() {
            check_committee(principal, committee.as_str(), verb)?;
        }
        Ok(state)
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
        assert!(matches!(denied, AppError::Denied(_)));
        assert_eq!(
            denied.to_string(),
            "role clerk of committee xiangfang may not act on committee daowai"
        );
        let reporter = principal(Role::Reporter, Some("xiangfang"));
        let denied = check_committee(&reporter, "daowai", "read").unwrap_err();
        assert_eq!(
            denied.to_string(),
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
        let own = CommitteeId::parse("xiangfang").unwrap();
        let other = CommitteeId::parse("daowai").unwrap();
        assert_eq!(
            listed_committee(&member, None).unwrap().as_deref(),
            Some("xiangfang")
        );
        assert_eq!(
            listed_committee(&member, Some(&own)).unwrap().as_deref(),
            Some("xiangfang")
        );
        assert!(matches!(
            listed_committee(&member, Some(&other)),
            Err(AppError::Denied(_))
        ));
        assert_eq!(
            listed_committee(&principal(Role::Admin, None), None).unwrap(),
            None
        );
        assert_eq!(
            listed_committee(&principal(Role::Reporter, None), None).unwrap(),
            None
        );
        assert!(listed_committee(&principal(Role::Clerk, None), None).is_err());
    }
}
