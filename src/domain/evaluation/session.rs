//! The evaluation-session aggregate (stream `session-<id>`): schedule → roll call → open voting →
//! cast ballots → close voting → tally → announce, with corrections only by compensating events.
//!
//! # Ballot secrecy
//! Casting is not an ordinary command: [`SessionAggregate::cast_ballot`] returns the
//! participation event (member, no choice) for the log **and** a [`SealedBallot`] (choice, no
//! member, no time) that the handler keeps in a separate sealed store until voting closes. The
//! aggregate never sees a sealed ballot again until [`SessionCommand::CloseVoting`] hands the whole
//! set back; it then publishes them as `BallotsPublished.v2`: the commitments of the receipts
//! (sorted) and, per subject, a column of marks shuffled on its own by a supplied seed — never a
//! whole ballot, never a receipt. So no record links a ballot to a voter, a receipt to its
//! choices, or one subject's mark to another's on the same ballot; a voter checks a receipt
//! against the commitments and learns only that a ballot of theirs was counted. The aggregate's
//! state holds only who has voted and how many.
//!
//! # What the handler must do with sealed ballots
//! * **Ballot ids are random** (UUID v4 from a CSPRNG). Never sequential, never time-ordered (no
//!   UUID v7, no ULID): a ballot id is the voter's receipt, a secret of the voter's; only its
//!   commitment is published, and guessable ids would make commitments guessable.
//! * **Store the sealed ballot durably, apart from the log**: a table keyed by
//!   `(session id, round, ballot id)` whose value is the [`SealedBallot`] alone — no member, no
//!   timestamp, no insertion counter, no log position. Insert-if-absent (an id collision means
//!   generate a new id and decide again).
//! * **Write it with the participation event** — ideally in the same storage transaction; if the
//!   two writes cannot share one, write the sealed ballot first. Either way a mismatch is caught:
//!   [`SessionCommand::CloseVoting`] voids the round when the sealed count differs from the
//!   recorded participations.
//! * **Never log or trace** a sealed ballot, a receipt or a choice next to the principal; return
//!   the receipt to the voter only.
//! * **At close**, hand every sealed ballot of the round (any order) and 32 fresh random bytes as
//!   the shuffle seed; after `BallotsPublished` (or `VotingVoided`) the sealed entries of that round
//!   can be deleted — the published ballots are the durable record, a voided round's are never
//!   published.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::policy::{Announcement, ScoringPolicy};
use super::tally::{
    BallotColumns, Choice, Electorate, PublishedBallot, SubjectColumn, SubjectTally,
    ballot_set_hash, column_set_hash, publish_columns, receipt_commitment, tally_all,
    tally_columns,
};
use super::{AppointeeId, BallotId, MemberId, SessionId};
use crate::domain::Role;
use crate::domain::ids::CommitteeId;
use crate::domain::{Aggregate, Context, DomainEvent, Rejection};

/// Who votes in the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Constituency {
    /// Standing-committee members (default).
    #[default]
    CommitteeMembers,
    /// People's congress deputies.
    Deputies,
}

impl CorrectionRequest {
    /// The correction in words, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            CorrectionRequest::Retally => "retally",
            CorrectionRequest::AnnulRound => "annulment",
        }
    }
}

impl Constituency {
    /// The role a voter of this constituency acts in.
    fn voter_role(self) -> Role {
        match self {
            Constituency::CommitteeMembers => Role::CommitteeMember,
            Constituency::Deputies => Role::Deputy,
        }
    }
}

/// Where the session is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Nothing recorded yet.
    #[default]
    Unscheduled,
    /// Scheduled; the policy is frozen.
    Scheduled,
    /// Roll call recorded (also after a voided or annulled round).
    RollCalled,
    /// Ballots are being cast.
    VotingOpen,
    /// Ballots are published.
    VotingClosed,
    /// The tally is recorded, under embargo.
    Tallied,
    /// The results are public.
    Announced,
}

/// Everything a session is scheduled with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// The session id (its stream is `session-<id>`).
    pub session_id: SessionId,
    /// The committee holding the session, whose members form the roster (absent in sessions
    /// scheduled before committees were recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committee: Option<CommitteeId>,
    /// The meeting, e.g. 第十六届常委会第八次会议.
    pub meeting_name: String,
    /// The meeting date.
    pub date: NaiveDate,
    /// The appointees rated, in ballot order.
    pub subjects: Vec<AppointeeId>,
    /// Who votes.
    pub constituency: Constituency,
    /// The roster snapshot: everyone entitled to vote.
    pub roster: Vec<MemberId>,
    /// The policy version frozen for the session (0 = the shipped default).
    pub policy_version: u32,
    /// The frozen policy document, copied so later adoptions cannot reach it.
    pub policy: ScoringPolicy,
}

/// A ballot cast by a member. Its `Debug` hides the choices and the ballot id, so a handler that
/// traces its commands cannot print a member next to a choice or a receipt.
#[derive(Clone, PartialEq, Eq)]
pub struct CastBallot {
    /// The voter; must be the acting principal.
    pub member: MemberId,
    /// A choice per subject; subjects left out are read as blank.
    pub choices: BTreeMap<AppointeeId, Choice>,
    /// The random receipt id, generated by the handler (e.g. a UUID v4).
    pub ballot_id: BallotId,
}

/// A cast ballot held sealed until voting closes. It carries no member and no time on purpose:
/// the handler stores it keyed by its random id, apart from the log. Its `Debug` hides the id and
/// the choices: it is traced, if at all, inside a voter's request.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedBallot {
    /// The session.
    pub session_id: SessionId,
    /// The voting round it belongs to.
    pub round: u32,
    /// The random receipt id.
    pub ballot_id: BallotId,
    /// A choice for every subject of the session (blanks filled in).
    pub choices: BTreeMap<AppointeeId, Choice>,
}

/// What casting a ballot produces: the log events, the sealed ballot and the voter's receipt.
/// Its `Debug` shows the events only.
#[derive(Clone, PartialEq, Eq)]
pub struct CastOutcome {
    /// Participation only, for the session stream.
    pub events: Vec<SessionEvent>,
    /// For the sealed store, never for the log.
    pub sealed: SealedBallot,
    /// For the voter alone.
    pub receipt: BallotId,
    /// The length every sealed ballot of the session is padded to before it is encrypted
    /// ([`SessionAggregate::sealed_len`]).
    pub sealed_len: usize,
}

/// What a redacting `Debug` prints in place of a secret.
const SEALED: &str = "<sealed>";

impl fmt::Debug for CastBallot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CastBallot")
            .field("member", &self.member)
            .field("choices", &SEALED)
            .field("ballot_id", &SEALED)
            .finish()
    }
}

impl fmt::Debug for SealedBallot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedBallot")
            .field("session_id", &self.session_id)
            .field("round", &self.round)
            .field("ballot_id", &SEALED)
            .field("choices", &SEALED)
            .finish()
    }
}

impl fmt::Debug for CastOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CastOutcome")
            .field("events", &self.events)
            .field("sealed", &SEALED)
            .field("receipt", &SEALED)
            .finish()
    }
}

/// A compensating correction a clerk or chair may propose (a second principal approves it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CorrectionRequest {
    /// Replace the recorded tally with a recount of the published ballots under the frozen
    /// policy (corrects `TallyRecorded.v1`).
    Retally,
    /// Annul the round's result (corrects `BallotsPublished.v1` and what followed); the session
    /// returns to roll call and a revote is a new round.
    AnnulRound,
}

/// What a correction did, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Correction {
    /// The tally was replaced by these results.
    Retally {
        /// The recounted results.
        results: Vec<SubjectTally>,
        /// The hash of the ballot set they were counted from.
        ballot_set_hash: String,
    },
    /// The round's result no longer stands.
    AnnulRound,
}

/// What can be asked of a session (casting a ballot is [`SessionAggregate::cast_ballot`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionCommand {
    /// Schedule the session and freeze its policy (clerk).
    Schedule(Schedule),
    /// Record who is present (clerk); may be repeated until voting opens.
    RollCall {
        /// Members present, a subset of the roster.
        present: Vec<MemberId>,
    },
    /// Open a voting round if the quorum is met (clerk).
    OpenVoting,
    /// Close the round with the sealed ballots the handler kept (clerk).
    CloseVoting {
        /// Every sealed ballot of the round, in any order.
        sealed: Vec<SealedBallot>,
        /// Sealed ballots the handler holds but can no longer read (their key was lost when
        /// the server stopped during the round): any voids the round.
        unreadable: u64,
        /// Randomness for the published order, from the handler.
        shuffle_seed: [u8; 32],
    },
    /// Void the open round because its sealed ballots were lost (the server, at start, for a
    /// round open when it stopped: the key that sealed them lived only in memory).
    VoidLostRound {
        /// The round, which must be the open one.
        round: u32,
    },
    /// Record the tally (clerk); announces it too when the policy says at once.
    Tally,
    /// Lift the embargo (clerk) when the policy holds results for the clerk.
    Announce,
    /// Propose a compensating correction (clerk or chair). It takes effect only when a second,
    /// different principal approves it ([`SessionCommand::ApproveCorrection`]); the proposer is
    /// its first approver. A new proposal replaces a pending one.
    ProposeCorrection {
        /// The round corrected (the current one).
        round: u32,
        /// What to do.
        correction: CorrectionRequest,
        /// Why.
        reason: String,
    },
    /// Approve the pending correction proposal (clerk or chair, not its proposer); the
    /// correction takes effect in the same write. The approver states the proposal number, the
    /// round and the kind they approve, so they never approve something they did not see.
    ApproveCorrection {
        /// The proposal number, as returned to the proposer.
        proposal: u32,
        /// The round the approver expects it to correct.
        round: u32,
        /// The correction the approver expects.
        correction: CorrectionRequest,
    },
}

/// A correction proposed and waiting for its second approver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCorrection {
    /// Its number in the session (1, 2, …).
    pub proposal: u32,
    /// The round it corrects.
    pub round: u32,
    /// What it does.
    pub correction: CorrectionRequest,
    /// Why.
    pub reason: String,
    /// The authenticated principal who proposed it (its first approver).
    pub proposed_by: String,
}

/// Why a round was voided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoidReason {
    /// More ballots than members present (the rule in every local regulation).
    MoreBallotsThanPresent,
    /// The sealed ballots do not match the recorded participations: the sealed store and the
    /// log disagree, so the round cannot be trusted.
    BallotsDoNotMatchParticipation,
}

/// What a session records. No variant holds both a member and a choice or a ballot id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SessionEvent {
    /// The session was scheduled and its policy frozen.
    SessionScheduled(Schedule),
    /// Attendance was recorded.
    RollCallRecorded {
        /// The roster size.
        entitled: u64,
        /// Who is present.
        present: Vec<MemberId>,
    },
    /// A voting round opened.
    VotingOpened {
        /// 1, 2, … (a revote is a new round).
        round: u32,
        /// The roster size.
        entitled: u64,
        /// Present at opening.
        present: u64,
    },
    /// A member voted (what they voted is not here, by design).
    ParticipationRecorded {
        /// The round.
        round: u32,
        /// Who voted.
        member: MemberId,
    },
    /// The round was voided; its ballots are never published.
    VotingVoided {
        /// The round.
        round: u32,
        /// Why.
        reason: VoidReason,
        /// Sealed ballots handed over.
        ballots: u64,
        /// Present at opening.
        present: u64,
        /// Recorded participations.
        participants: u64,
    },
    /// The round's ballots, in shuffled order, with no voter anywhere (rounds closed before
    /// `BallotsPublished.v2`: whole ballots with their receipts).
    BallotsPublished {
        /// The round.
        round: u32,
        /// The ballots.
        ballots: Vec<PublishedBallot>,
    },
    /// The round's ballots as the commitments of their receipts (sorted) and one column of
    /// marks per subject, each shuffled on its own: no whole ballot, no receipt, no voter.
    BallotsPublishedV2 {
        /// The round.
        round: u32,
        /// [`receipt_commitment`] of every ballot, sorted.
        commitments: Vec<String>,
        /// Per subject, in the session's order.
        columns: Vec<SubjectColumn>,
    },
    /// The round closed.
    VotingClosed {
        /// The round.
        round: u32,
        /// Ballots published.
        ballots: u64,
        /// Recorded participations.
        participants: u64,
    },
    /// The tally, under embargo until announced.
    TallyRecorded {
        /// The round.
        round: u32,
        /// The frozen policy version used.
        policy_version: u32,
        /// SHA-256 of the canonical ballot set counted.
        ballot_set_hash: String,
        /// Membership and presence used by the formulas.
        electorate: Electorate,
        /// Per subject.
        results: Vec<SubjectTally>,
    },
    /// The embargo lifted.
    ResultsAnnounced {
        /// The round.
        round: u32,
    },
    /// A correction was proposed; it waits for a second, different principal.
    CorrectionProposed {
        /// Its number in the session (1, 2, …).
        proposal: u32,
        /// The round it corrects.
        round: u32,
        /// What it does.
        correction: CorrectionRequest,
        /// Why.
        reason: String,
        /// The authenticated proposer (the first approver).
        proposed_by: String,
    },
    /// A second principal approved a proposed correction; the `ResultCorrected` it causes
    /// follows in the same write.
    CorrectionApproved {
        /// The proposal approved.
        proposal: u32,
        /// The authenticated approver (the second approver).
        approved_by: String,
    },
    /// A compensating correction.
    ResultCorrected {
        /// The round corrected.
        round: u32,
        /// The event type it corrects.
        corrects: String,
        /// What was done.
        correction: Correction,
        /// Why.
        reason: String,
        /// The distinct approvers, sorted.
        approvers: Vec<String>,
    },
}

impl DomainEvent for SessionEvent {
    fn event_type(&self) -> &'static str {
        match self {
            SessionEvent::SessionScheduled(_) => "SessionScheduled.v1",
            SessionEvent::RollCallRecorded { .. } => "RollCallRecorded.v1",
            SessionEvent::VotingOpened { .. } => "VotingOpened.v1",
            SessionEvent::ParticipationRecorded { .. } => "ParticipationRecorded.v1",
            SessionEvent::VotingVoided { .. } => "VotingVoided.v1",
            SessionEvent::BallotsPublished { .. } => "BallotsPublished.v1",
            SessionEvent::BallotsPublishedV2 { .. } => "BallotsPublished.v2",
            SessionEvent::VotingClosed { .. } => "VotingClosed.v1",
            SessionEvent::TallyRecorded { .. } => "TallyRecorded.v1",
            SessionEvent::ResultsAnnounced { .. } => "ResultsAnnounced.v1",
            SessionEvent::ResultCorrected { .. } => "ResultCorrected.v1",
            SessionEvent::CorrectionProposed { .. } => "CorrectionProposed.v1",
            SessionEvent::CorrectionApproved { .. } => "CorrectionApproved.v1",
        }
    }
}

/// The tally that currently stands for the round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandingTally {
    /// The round.
    pub round: u32,
    /// The hash of the ballot set counted.
    pub ballot_set_hash: String,
    /// Membership and presence used.
    pub electorate: Electorate,
    /// Per subject.
    pub results: Vec<SubjectTally>,
}

/// The session's state, folded from its events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionAggregate {
    /// Where it is.
    pub phase: Phase,
    /// The schedule, once scheduled (holds the frozen policy).
    pub schedule: Option<Schedule>,
    /// The roster snapshot.
    pub roster: BTreeSet<MemberId>,
    /// Present at the last roll call.
    pub present: BTreeSet<MemberId>,
    /// The current (or last) round; 0 before the first opening.
    pub round: u32,
    /// Present when the current round opened.
    pub round_present: u64,
    /// Who has voted in the current round — never what.
    pub voted: BTreeSet<MemberId>,
    /// The published ballots of the current round, when it was closed before
    /// `BallotsPublished.v2` (whole ballots).
    pub published: Vec<PublishedBallot>,
    /// The published columns of the current round (`BallotsPublished.v2`).
    pub published_columns: Option<BallotColumns>,
    /// The tally that stands, after any correction.
    pub tally: Option<StandingTally>,
    /// Correction proposals filed so far (the last proposal's number).
    pub proposals: u32,
    /// The proposal waiting for its second approver, if any.
    pub pending_correction: Option<PendingCorrection>,
}

/// The outcome of a recount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecountReport {
    /// The round.
    pub round: u32,
    /// Recomputed from the published ballots and the frozen policy.
    pub recomputed: Vec<SubjectTally>,
    /// The hash of the published ballots.
    pub ballot_set_hash: String,
    /// Whether results and hash equal the standing tally.
    pub matches: bool,
}

fn require_role(ctx: &Context, allowed: &[Role], action: &str) -> Result<(), Rejection> {
    if allowed.contains(&ctx.role) {
        return Ok(());
    }
    Err(Rejection::precondition(format!(
        "role `{}` may not {action}; it needs {}",
        ctx.role,
        allowed
            .iter()
            .map(|role| role.as_str())
            .collect::<Vec<_>>()
            .join(" or ")
    )))
}

fn duplicate<T: Ord + Clone>(items: &[T]) -> Option<T> {
    let mut seen = BTreeSet::new();
    items.iter().find(|i| !seen.insert(*i)).cloned()
}

impl SessionAggregate {
    fn scheduled(&self) -> Result<&Schedule, Rejection> {
        self.schedule
            .as_ref()
            .ok_or_else(|| Rejection::NotFound("session is not scheduled".into()))
    }

    /// The frozen policy, once scheduled.
    pub fn policy(&self) -> Option<&ScoringPolicy> {
        self.schedule.as_ref().map(|s| &s.policy)
    }

    fn electorate(&self) -> Electorate {
        Electorate {
            membership: self.roster.len() as u64,
            present: self.round_present,
        }
    }

    /// A rejection for a ballot outside the voting window, naming the window.
    fn voting_window_error(&self) -> Rejection {
        match self.phase {
            Phase::Unscheduled | Phase::Scheduled | Phase::RollCalled => {
                Rejection::precondition("voting has not opened")
            }
            _ => Rejection::precondition("voting is closed"),
        }
    }

    /// Checks a choice map against the subjects and the scale and fills blanks in.
    fn normalise_choices(
        &self,
        choices: &BTreeMap<AppointeeId, Choice>,
        field: &str,
    ) -> Result<BTreeMap<AppointeeId, Choice>, Rejection> {
        let schedule = self.scheduled()?;
        let mut full: BTreeMap<AppointeeId, Choice> = schedule
            .subjects
            .iter()
            .map(|s| (s.clone(), Choice::Blank))
            .collect();
        for (subject, choice) in choices {
            let Some(slot) = full.get_mut(subject) else {
                return Err(Rejection::invalid(
                    field,
                    format!("unknown subject `{subject}`"),
                ));
            };
            if let Choice::Option(code) = choice
                && schedule.policy.option(code).is_none()
            {
                return Err(Rejection::invalid(
                    format!("{field}.{subject}"),
                    format!("option `{code}` is not on the scale"),
                ));
            }
            *slot = choice.clone();
        }
        Ok(full)
    }

    /// Casts a ballot: the participation event for the log, the sealed ballot for the sealed
    /// store, and the receipt for the voter. Rejected outside the voting window, for a member
    /// who is not present or has already voted this round, for another principal, an unknown
    /// subject or an option not on the scale.
    pub fn cast_ballot(&self, cmd: &CastBallot, ctx: &Context) -> Result<CastOutcome, Rejection> {
        let schedule = self.scheduled()?;
        if self.phase != Phase::VotingOpen {
            return Err(self.voting_window_error());
        }
        require_role(ctx, &[schedule.constituency.voter_role()], "cast a ballot")?;
        if ctx.actor != cmd.member.as_str() {
            return Err(Rejection::precondition(
                "a voter may cast only their own ballot",
            ));
        }
        if !self.roster.contains(&cmd.member) {
            return Err(Rejection::precondition(format!(
                "member `{}` is not on the roster",
                cmd.member
            )));
        }
        if !self.present.contains(&cmd.member) {
            return Err(Rejection::precondition(format!(
                "member `{}` is not present",
                cmd.member
            )));
        }
        if self.voted.contains(&cmd.member) {
            return Err(Rejection::precondition(format!(
                "member `{}` has already voted in round {}",
                cmd.member, self.round
            )));
        }
        let choices = self.normalise_choices(&cmd.choices, "choices")?;
        Ok(CastOutcome {
            events: vec![SessionEvent::ParticipationRecorded {
                round: self.round,
                member: cmd.member.clone(),
            }],
            sealed: SealedBallot {
                session_id: schedule.session_id.clone(),
                round: self.round,
                ballot_id: cmd.ballot_id.clone(),
                choices,
            },
            receipt: cmd.ballot_id.clone(),
            sealed_len: self.sealed_len(),
        })
    }

    /// The length every sealed ballot of the session is padded to, so that no ballot's record is
    /// longer than another's: an upper bound of a [`SealedBallot`]'s JSON, fixed by the session,
    /// the subjects and the longest option code of the frozen scale — never by the choices.
    /// Every character is counted six times over, for JSON's worst escape (`\u0000`).
    pub fn sealed_len(&self) -> usize {
        let Some(schedule) = self.schedule.as_ref() else {
            return 0;
        };
        let longest_code = schedule
            .policy
            .scale
            .iter()
            .map(|o| o.code.len())
            .max()
            .unwrap_or(0)
            .max("basically_satisfied".len());
        let subjects: usize = schedule
            .subjects
            .iter()
            .map(|s| 6 * (s.as_str().len() + longest_code) + 32)
            .sum();
        // Session id, round, ballot id (at most 128 characters), field names and the
        // length prefix.
        4 + 256 + 6 * (schedule.session_id.as_str().len() + 128) + subjects
    }

    /// Recomputes the tally from the published ballots and the frozen policy and compares it
    /// with the tally that stands. Pure; anyone holding the log can run it.
    pub fn recount(&self) -> Result<RecountReport, Rejection> {
        self.scheduled()?;
        let standing = self
            .tally
            .as_ref()
            .ok_or_else(|| Rejection::precondition("no tally has been recorded"))?;
        let recomputed = self.count(standing.electorate);
        let hash = self.published_hash();
        Ok(RecountReport {
            round: standing.round,
            matches: recomputed == standing.results
                && hash == standing.ballot_set_hash
                && self.counts_agree(),
            recomputed,
            ballot_set_hash: hash,
        })
    }

    /// The results counted from the round's published ballots (columns or, for rounds closed
    /// before them, whole ballots) under the frozen policy.
    fn count(&self, electorate: Electorate) -> Vec<SubjectTally> {
        let Some(schedule) = self.schedule.as_ref() else {
            return Vec::new();
        };
        match &self.published_columns {
            Some(columns) => {
                tally_columns(&schedule.policy, electorate, &schedule.subjects, columns)
            }
            None => tally_all(
                &schedule.policy,
                electorate,
                &schedule.subjects,
                &self.published,
            ),
        }
    }

    /// The hash of the round's published ballot set.
    fn published_hash(&self) -> String {
        match &self.published_columns {
            Some(columns) => column_set_hash(columns),
            None => ballot_set_hash(&self.published),
        }
    }

    /// Whether the published counts agree: as many marks in every subject's column as there
    /// are commitments (always true of whole ballots).
    fn counts_agree(&self) -> bool {
        match (&self.published_columns, self.schedule.as_ref()) {
            (Some(columns), Some(schedule)) => columns.counts_agree(&schedule.subjects),
            (Some(_), None) => false,
            (None, _) => true,
        }
    }

    /// How many ballots the current round published.
    pub fn published_ballots(&self) -> u64 {
        match &self.published_columns {
            Some(columns) => columns.ballots(),
            None => self.published.len() as u64,
        }
    }

    /// Whether `receipt` belongs to a ballot published in the current round: its commitment is
    /// among the published ones (or, for rounds closed before `BallotsPublished.v2`, the
    /// receipt itself). Says nothing of what the ballot holds.
    pub fn receipt_published(&self, receipt: &BallotId) -> bool {
        match (&self.published_columns, self.schedule.as_ref()) {
            (Some(columns), Some(schedule)) => {
                let commitment = receipt_commitment(&schedule.session_id, self.round, receipt);
                columns.commitments.binary_search(&commitment).is_ok()
            }
            (Some(_), None) => false,
            (None, _) => self.published.iter().any(|b| &b.ballot_id == receipt),
        }
    }

    /// The event type the round's published ballots were recorded as.
    fn published_event_type(&self) -> &'static str {
        if self.published_columns.is_some() {
            "BallotsPublished.v2"
        } else {
            "BallotsPublished.v1"
        }
    }

    fn decide_schedule(&self, s: &Schedule) -> Result<Vec<SessionEvent>, Rejection> {
        if self.phase != Phase::Unscheduled {
            return Err(Rejection::precondition("session is already scheduled"));
        }
        crate::domain::validate::name("meeting_name", &s.meeting_name)?;
        if s.subjects.is_empty() {
            return Err(Rejection::invalid(
                "subjects",
                "must name at least one appointee",
            ));
        }
        if let Some(d) = duplicate(&s.subjects) {
            return Err(Rejection::invalid("subjects", format!("lists `{d}` twice")));
        }
        if s.roster.is_empty() {
            return Err(Rejection::invalid("roster", "must name at least one voter"));
        }
        if let Some(d) = duplicate(&s.roster) {
            return Err(Rejection::invalid("roster", format!("lists `{d}` twice")));
        }
        s.policy.validate().map_err(|r| match r {
            Rejection::Invalid { field, rule } => Rejection::Invalid {
                field: format!("policy.{field}"),
                rule,
            },
            other => other,
        })?;
        Ok(vec![SessionEvent::SessionScheduled(s.clone())])
    }

    fn decide_roll_call(&self, present: &[MemberId]) -> Result<Vec<SessionEvent>, Rejection> {
        match self.phase {
            Phase::Scheduled | Phase::RollCalled => {}
            Phase::VotingOpen => {
                return Err(Rejection::precondition(
                    "roll call is closed while voting is open",
                ));
            }
            _ => {
                return Err(Rejection::precondition(
                    "roll call is only possible before voting opens",
                ));
            }
        }
        if let Some(d) = duplicate(present) {
            return Err(Rejection::invalid("present", format!("lists `{d}` twice")));
        }
        if let Some(stranger) = present.iter().find(|m| !self.roster.contains(*m)) {
            return Err(Rejection::invalid(
                "present",
                format!("`{stranger}` is not on the roster"),
            ));
        }
        let mut sorted = present.to_vec();
        sorted.sort();
        Ok(vec![SessionEvent::RollCallRecorded {
            entitled: self.roster.len() as u64,
            present: sorted,
        }])
    }

    fn decide_open(&self) -> Result<Vec<SessionEvent>, Rejection> {
        let schedule = self.scheduled()?;
        match self.phase {
            Phase::RollCalled => {}
            Phase::Scheduled => return Err(Rejection::precondition("roll call comes first")),
            Phase::VotingOpen => return Err(Rejection::precondition("voting is already open")),
            _ => return Err(Rejection::precondition("voting is closed")),
        }
        let present = self.present.len() as u64;
        let entitled = self.roster.len() as u64;
        let quorum = schedule.policy.quorum;
        if !quorum.is_met(present, entitled) {
            return Err(Rejection::precondition(format!(
                "no quorum: {present} present of {entitled} entitled, the rule is {}",
                quorum.describe()
            )));
        }
        let round = self
            .round
            .checked_add(1)
            .ok_or_else(|| Rejection::precondition("round numbers are exhausted"))?;
        Ok(vec![SessionEvent::VotingOpened {
            round,
            entitled,
            present,
        }])
    }

    fn decide_close(
        &self,
        sealed: &[SealedBallot],
        unreadable: u64,
        seed: &[u8; 32],
    ) -> Result<Vec<SessionEvent>, Rejection> {
        let schedule = self.scheduled()?;
        if self.phase != Phase::VotingOpen {
            return Err(self.voting_window_error());
        }
        let mut ids = BTreeSet::new();
        let mut ballots = Vec::with_capacity(sealed.len());
        for ballot in sealed {
            if ballot.session_id != schedule.session_id || ballot.round != self.round {
                return Err(Rejection::invalid(
                    "sealed",
                    format!(
                        "ballot `{}` belongs to another session or round",
                        ballot.ballot_id
                    ),
                ));
            }
            if !ids.insert(&ballot.ballot_id) {
                return Err(Rejection::invalid(
                    "sealed",
                    format!("ballot id `{}` appears twice", ballot.ballot_id),
                ));
            }
            // Sealed ballots were checked when cast; checking again guards the sealed store.
            let choices = self.normalise_choices(&ballot.choices, "sealed.choices")?;
            if choices != ballot.choices {
                return Err(Rejection::invalid(
                    "sealed.choices",
                    format!("ballot `{}` does not cover every subject", ballot.ballot_id),
                ));
            }
            ballots.push(PublishedBallot {
                ballot_id: ballot.ballot_id.clone(),
                choices,
            });
        }
        let count = ballots.len() as u64;
        let participants = self.voted.len() as u64;
        let void_reason = if count > self.round_present {
            Some(VoidReason::MoreBallotsThanPresent)
        } else if count != participants || unreadable > 0 {
            Some(VoidReason::BallotsDoNotMatchParticipation)
        } else {
            None
        };
        if let Some(reason) = void_reason {
            return Ok(vec![SessionEvent::VotingVoided {
                round: self.round,
                reason,
                ballots: count,
                present: self.round_present,
                participants,
            }]);
        }
        let published = publish_columns(
            &schedule.session_id,
            self.round,
            &schedule.subjects,
            &ballots,
            seed,
        );
        Ok(vec![
            SessionEvent::BallotsPublishedV2 {
                round: self.round,
                commitments: published.commitments,
                columns: published.columns,
            },
            SessionEvent::VotingClosed {
                round: self.round,
                ballots: count,
                participants,
            },
        ])
    }

    fn decide_tally(&self) -> Result<Vec<SessionEvent>, Rejection> {
        let schedule = self.scheduled()?;
        match self.phase {
            Phase::VotingClosed => {}
            Phase::Tallied | Phase::Announced => {
                return Err(Rejection::precondition("the round is already tallied"));
            }
            _ => return Err(Rejection::precondition("voting has not closed")),
        }
        if !self.counts_agree() {
            return Err(Rejection::precondition(
                "the published counts do not agree (a column's marks differ from the commitments); the round must be annulled",
            ));
        }
        let electorate = self.electorate();
        let mut events = vec![SessionEvent::TallyRecorded {
            round: self.round,
            policy_version: schedule.policy_version,
            ballot_set_hash: self.published_hash(),
            electorate,
            results: self.count(electorate),
        }];
        // 当场公布: by default the result is announced on the spot, in the same append, so no
        // handler can forget to lift the embargo.
        if schedule.policy.announcement == Announcement::AtOnce {
            events.push(SessionEvent::ResultsAnnounced { round: self.round });
        }
        Ok(events)
    }

    fn decide_announce(&self) -> Result<Vec<SessionEvent>, Rejection> {
        match self.phase {
            Phase::Tallied => Ok(vec![SessionEvent::ResultsAnnounced { round: self.round }]),
            Phase::Announced => Err(Rejection::precondition("results are already announced")),
            _ => Err(Rejection::precondition("there is no tally to announce")),
        }
    }

    /// What a correction of `round` would record, judged against the standing result.
    fn correction_effect(
        &self,
        round: u32,
        request: CorrectionRequest,
    ) -> Result<(&'static str, Correction), Rejection> {
        if !matches!(self.phase, Phase::Tallied | Phase::Announced) {
            return Err(Rejection::precondition("there is no result to correct"));
        }
        if round != self.round {
            return Err(Rejection::precondition(format!(
                "only the current round {} can be corrected",
                self.round
            )));
        }
        match request {
            CorrectionRequest::AnnulRound => {
                Ok((self.published_event_type(), Correction::AnnulRound))
            }
            CorrectionRequest::Retally => {
                let report = self.recount()?;
                if report.matches {
                    return Err(Rejection::precondition(
                        "the recount equals the recorded tally; there is nothing to correct",
                    ));
                }
                Ok((
                    "TallyRecorded.v1",
                    Correction::Retally {
                        results: report.recomputed,
                        ballot_set_hash: report.ballot_set_hash,
                    },
                ))
            }
        }
    }

    fn decide_propose(
        &self,
        round: u32,
        request: CorrectionRequest,
        reason: &str,
        ctx: &Context,
    ) -> Result<Vec<SessionEvent>, Rejection> {
        if reason.trim().is_empty() {
            return Err(Rejection::invalid("reason", "must not be empty"));
        }
        self.correction_effect(round, request)?;
        let proposal = self
            .proposals
            .checked_add(1)
            .ok_or_else(|| Rejection::precondition("proposal numbers are exhausted"))?;
        Ok(vec![SessionEvent::CorrectionProposed {
            proposal,
            round,
            correction: request,
            reason: reason.trim().to_owned(),
            proposed_by: ctx.actor.clone(),
        }])
    }

    fn decide_approve(
        &self,
        proposal: u32,
        round: u32,
        request: CorrectionRequest,
        ctx: &Context,
    ) -> Result<Vec<SessionEvent>, Rejection> {
        let Some(pending) = self.pending_correction.as_ref() else {
            return Err(Rejection::precondition(format!(
                "there is no pending correction proposal {proposal}"
            )));
        };
        if pending.proposal != proposal {
            return Err(Rejection::precondition(format!(
                "proposal {proposal} is not pending; the pending proposal is {}",
                pending.proposal
            )));
        }
        if pending.round != round || pending.correction != request {
            return Err(Rejection::precondition(format!(
                "proposal {proposal} is a {} of round {}, not what the approval names",
                pending.correction.describe(),
                pending.round
            )));
        }
        if pending.proposed_by == ctx.actor {
            return Err(Rejection::precondition(format!(
                "{} proposed this correction and cannot approve it too; a second, different clerk or chair must approve",
                ctx.actor
            )));
        }
        let (corrects, correction) = self.correction_effect(pending.round, pending.correction)?;
        let mut approvers = vec![pending.proposed_by.clone(), ctx.actor.clone()];
        approvers.sort();
        Ok(vec![
            SessionEvent::CorrectionApproved {
                proposal,
                approved_by: ctx.actor.clone(),
            },
            SessionEvent::ResultCorrected {
                round: pending.round,
                corrects: corrects.to_owned(),
                correction,
                reason: pending.reason.clone(),
                approvers,
            },
        ])
    }

    /// Ends the current round without a standing result; a revote is a new round.
    fn reset_round(&mut self) {
        self.pending_correction = None;
        self.phase = Phase::RollCalled;
        self.voted.clear();
        self.published.clear();
        self.published_columns = None;
        self.tally = None;
    }
}

impl Aggregate for SessionAggregate {
    type Command = SessionCommand;
    type Event = SessionEvent;

    fn decide(
        &self,
        command: &SessionCommand,
        ctx: &Context,
    ) -> Result<Vec<SessionEvent>, Rejection> {
        match command {
            SessionCommand::Schedule(s) => {
                require_role(ctx, &[Role::Clerk], "schedule a session")?;
                self.decide_schedule(s)
            }
            SessionCommand::RollCall { present } => {
                require_role(ctx, &[Role::Clerk], "record a roll call")?;
                self.scheduled()?;
                self.decide_roll_call(present)
            }
            SessionCommand::OpenVoting => {
                require_role(ctx, &[Role::Clerk], "open voting")?;
                self.decide_open()
            }
            SessionCommand::CloseVoting {
                sealed,
                unreadable,
                shuffle_seed,
            } => {
                require_role(ctx, &[Role::Clerk], "close voting")?;
                self.decide_close(sealed, *unreadable, shuffle_seed)
            }
            SessionCommand::VoidLostRound { round } => {
                require_role(ctx, &[Role::Admin], "void a round whose ballots were lost")?;
                self.scheduled()?;
                if self.phase != Phase::VotingOpen || *round != self.round {
                    return Err(Rejection::precondition(format!(
                        "round {round} is not open for voting"
                    )));
                }
                Ok(vec![SessionEvent::VotingVoided {
                    round: self.round,
                    reason: VoidReason::BallotsDoNotMatchParticipation,
                    ballots: 0,
                    present: self.round_present,
                    participants: self.voted.len() as u64,
                }])
            }
            SessionCommand::Tally => {
                require_role(ctx, &[Role::Clerk], "record a tally")?;
                self.decide_tally()
            }
            SessionCommand::Announce => {
                require_role(ctx, &[Role::Clerk], "announce results")?;
                self.scheduled()?;
                self.decide_announce()
            }
            SessionCommand::ProposeCorrection {
                round,
                correction,
                reason,
            } => {
                require_role(ctx, &[Role::Clerk, Role::Chair], "propose a correction")?;
                self.scheduled()?;
                self.decide_propose(*round, *correction, reason, ctx)
            }
            SessionCommand::ApproveCorrection {
                proposal,
                round,
                correction,
            } => {
                require_role(ctx, &[Role::Clerk, Role::Chair], "approve a correction")?;
                self.scheduled()?;
                self.decide_approve(*proposal, *round, *correction, ctx)
            }
        }
    }

    fn apply(&mut self, event: &SessionEvent) {
        match event {
            SessionEvent::SessionScheduled(s) => {
                self.phase = Phase::Scheduled;
                self.roster = s.roster.iter().cloned().collect();
                self.schedule = Some(s.clone());
            }
            SessionEvent::RollCallRecorded { present, .. } => {
                self.phase = Phase::RollCalled;
                self.present = present.iter().cloned().collect();
            }
            SessionEvent::VotingOpened { round, present, .. } => {
                self.phase = Phase::VotingOpen;
                self.round = *round;
                self.round_present = *present;
                self.voted.clear();
                self.published.clear();
                self.published_columns = None;
                self.tally = None;
                self.pending_correction = None;
            }
            SessionEvent::ParticipationRecorded { member, .. } => {
                self.voted.insert(member.clone());
            }
            SessionEvent::VotingVoided { .. } => self.reset_round(),
            SessionEvent::BallotsPublished { ballots, .. } => {
                self.published = ballots.clone();
                self.published_columns = None;
            }
            SessionEvent::BallotsPublishedV2 {
                commitments,
                columns,
                ..
            } => {
                self.published.clear();
                self.published_columns = Some(BallotColumns {
                    commitments: commitments.clone(),
                    columns: columns.clone(),
                });
            }
            SessionEvent::VotingClosed { .. } => self.phase = Phase::VotingClosed,
            SessionEvent::TallyRecorded {
                round,
                ballot_set_hash,
                electorate,
                results,
                ..
            } => {
                self.phase = Phase::Tallied;
                self.tally = Some(StandingTally {
                    round: *round,
                    ballot_set_hash: ballot_set_hash.clone(),
                    electorate: *electorate,
                    results: results.clone(),
                });
            }
            SessionEvent::ResultsAnnounced { .. } => self.phase = Phase::Announced,
            SessionEvent::CorrectionProposed {
                proposal,
                round,
                correction,
                reason,
                proposed_by,
            } => {
                self.proposals = *proposal;
                self.pending_correction = Some(PendingCorrection {
                    proposal: *proposal,
                    round: *round,
                    correction: *correction,
                    reason: reason.clone(),
                    proposed_by: proposed_by.clone(),
                });
            }
            SessionEvent::CorrectionApproved { .. } => self.pending_correction = None,
            SessionEvent::ResultCorrected { correction, .. } => match correction {
                Correction::AnnulRound => self.reset_round(),
                Correction::Retally {
                    results,
                    ballot_set_hash,
                } => {
                    if let Some(t) = self.tally.as_mut() {
                        t.results = results.clone();
                        t.ballot_set_hash = ballot_set_hash.clone();
                    }
                }
            },
        }
    }
}

/// Recounts a session from its events alone — what an auditor does with the log.
pub fn recount_from_events(events: &[SessionEvent]) -> Result<RecountReport, Rejection> {
    SessionAggregate::replay(events).recount()
}
