//! The `sessions` view: evaluation sessions (state, counts and results with their embargo flag)
//! and each committee's current scoring policy.
//!
//! Tables (`sessions/<table>` in the view file):
//! * `sessions` — session id → [`SessionDoc`];
//! * `policies` — committee id → [`PolicyDoc`].
//!
//! Ballot secrecy: the view holds **no member id at all** — attendance and participation are kept
//! as counts, and results as counts per option. The embargo is a flag on the result
//! ([`ResultDoc::announced`]); the query side decides who may read an unannounced result.

use serde::{Deserialize, Serialize};

use super::{Projection, ProjectionError, ViewWrite};
use crate::domain::evaluation::policy::{PolicyEvent, RatingOption};
use crate::domain::evaluation::session::{Correction, Phase, SessionEvent};
use crate::domain::evaluation::tally::{Electorate, SubjectTally};
use crate::log::RecordedEvent;

/// The view's name (what queries wait for).
pub const NAME: &str = "sessions";
/// Session id → [`SessionDoc`].
pub const SESSIONS: &str = "sessions";
/// Committee id → [`PolicyDoc`].
pub const POLICIES: &str = "policies";

const SESSION_PREFIX: &str = "session-";
const POLICY_PREFIX: &str = "policy-";

/// One session, without any member id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionDoc {
    /// The session id.
    pub session_id: String,
    /// The committee holding it.
    pub committee: Option<String>,
    /// The meeting.
    pub meeting_name: String,
    /// The meeting date, `YYYY-MM-DD`.
    pub date: String,
    /// The appointees rated, in ballot order.
    pub subjects: Vec<String>,
    /// The frozen policy version.
    pub policy_version: u32,
    /// The frozen scale, for labels.
    pub scale: Vec<RatingOption>,
    /// Where it is.
    pub phase: Phase,
    /// The current round (0 before the first opening).
    pub round: u32,
    /// The roster size.
    pub entitled: u64,
    /// Present at the last roll call.
    pub present: u64,
    /// How many have voted in the current round.
    pub participants: u64,
    /// Rounds voided.
    pub voided_rounds: u32,
    /// The standing result, if tallied.
    pub result: Option<ResultDoc>,
    /// The position of the session's last event.
    pub last_position: u64,
    /// The frozen scoring policy (weights, suppression threshold) the session was scheduled with.
    #[serde(default)]
    pub policy: Option<crate::domain::evaluation::policy::ScoringPolicy>,
    /// The position of `SessionScheduled.v1`.
    #[serde(default)]
    pub scheduled_position: u64,
}

/// A tallied result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultDoc {
    /// The round.
    pub round: u32,
    /// The policy version it was counted under.
    pub policy_version: u32,
    /// The hash of the ballot set counted.
    pub ballot_set_hash: String,
    /// Membership and presence used.
    pub electorate: Electorate,
    /// Per subject.
    pub subjects: Vec<SubjectTally>,
    /// Whether the embargo is lifted.
    pub announced: bool,
    /// Whether a correction replaced the tally.
    pub corrected: bool,
    /// The position of the tally.
    pub tallied_position: u64,
    /// The position of the announcement (0 while under embargo).
    pub announced_position: u64,
}

/// A committee's current policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyDoc {
    /// The version.
    pub version: u32,
    /// The document.
    pub document: crate::domain::evaluation::policy::ScoringPolicy,
}

/// The projection.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sessions;

fn decode<T: serde::de::DeserializeOwned>(event: &RecordedEvent) -> Result<T, ProjectionError> {
    serde_json::from_slice(&event.data).map_err(|e| ProjectionError::Decode {
        what: format!(
            "{} at position {}",
            event.event_type.as_str(),
            event.position
        ),
        detail: e.to_string(),
    })
}

impl Projection for Sessions {
    fn name(&self) -> &'static str {
        NAME
    }

    fn apply(
        &self,
        view: &mut ViewWrite<'_>,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let stream = event.stream.as_str();
        if let Some(committee) = stream.strip_prefix(POLICY_PREFIX) {
            let PolicyEvent::PolicyAdopted { version, document } = decode(event)?;
            return view.put(POLICIES, committee, &PolicyDoc { version, document });
        }
        let Some(session_id) = stream.strip_prefix(SESSION_PREFIX) else {
            return Ok(());
        };
        let session_event: SessionEvent = decode(event)?;
        let mut doc: SessionDoc = view.get(SESSIONS, session_id)?.unwrap_or_default();
        fold(&mut doc, &session_event, event.position);
        view.put(SESSIONS, session_id, &doc)
    }
}

/// Folds one session event into its document.
fn fold(doc: &mut SessionDoc, event: &SessionEvent, position: u64) {
    doc.last_position = position;
    match event {
        SessionEvent::SessionScheduled(s) => {
            *doc = SessionDoc {
                session_id: s.session_id.to_string(),
                committee: s.committee.as_ref().map(|c| c.as_str().to_owned()),
                meeting_name: s.meeting_name.clone(),
                date: s.date.format("%Y-%m-%d").to_string(),
                subjects: s.subjects.iter().map(|a| a.to_string()).collect(),
                policy_version: s.policy_version,
                scale: s.policy.scale.clone(),
                phase: Phase::Scheduled,
                entitled: s.roster.len() as u64,
                last_position: position,
                policy: Some(s.policy.clone()),
                scheduled_position: position,
                ..SessionDoc::default()
            };
        }
        SessionEvent::RollCallRecorded { entitled, present } => {
            doc.phase = Phase::RollCalled;
            doc.entitled = *entitled;
            doc.present = present.len() as u64;
        }
        SessionEvent::VotingOpened { round, .. } => {
            doc.phase = Phase::VotingOpen;
            doc.round = *round;
            doc.participants = 0;
            doc.result = None;
        }
        SessionEvent::ParticipationRecorded { .. } => doc.participants += 1,
        SessionEvent::VotingVoided { .. } => {
            doc.phase = Phase::RollCalled;
            doc.voided_rounds += 1;
            doc.participants = 0;
        }
        SessionEvent::BallotsPublished { .. }
        | SessionEvent::BallotsPublishedV2 { .. }
        | SessionEvent::CorrectionProposed { .. }
        | SessionEvent::CorrectionApproved { .. } => {}
        SessionEvent::VotingClosed { .. } => doc.phase = Phase::VotingClosed,
        SessionEvent::TallyRecorded {
            round,
            policy_version,
            ballot_set_hash,
            electorate,
            results,
        } => {
            doc.phase = Phase::Tallied;
            doc.result = Some(ResultDoc {
                round: *round,
                policy_version: *policy_version,
                ballot_set_hash: ballot_set_hash.clone(),
                electorate: *electorate,
                subjects: results.clone(),
                announced: false,
                corrected: false,
                tallied_position: position,
                announced_position: 0,
            });
        }
        SessionEvent::ResultsAnnounced { .. } => {
            doc.phase = Phase::Announced;
            if let Some(result) = doc.result.as_mut() {
                result.announced = true;
                result.announced_position = position;
            }
        }
        SessionEvent::ResultCorrected { correction, .. } => match correction {
            Correction::AnnulRound => {
                doc.phase = Phase::RollCalled;
                doc.participants = 0;
                doc.result = None;
            }
            Correction::Retally {
                results,
                ballot_set_hash,
            } => {
                if let Some(result) = doc.result.as_mut() {
                    result.subjects = results.clone();
                    result.ballot_set_hash = ballot_set_hash.clone();
                    result.corrected = true;
                }
            }
        },
    }
}
