//! What the evaluation day's pages ask of a session besides results: a voter's own standing
//! (on the roster, present, voted in this round — never how), the roll for whoever runs the
//! session (the roster, who is present, how many ballots were cast — never by whom), and a
//! signal whenever the session changes, for pages that follow it live.

use std::collections::BTreeSet;

use futures::{Stream, StreamExt};
use tokio_util::sync::CancellationToken;

use crate::app::{App, AppError};
use crate::auth::{Principal, Role};
use crate::domain::evaluation::policy::ScoringPolicy;
use crate::domain::evaluation::session::Phase;
use crate::domain::evaluation::{AppointeeId, MemberId, SessionId, session_stream};
use crate::log::{Filter, SubscribeFrom, SubscriptionItem};

/// A session as its ballot paper and its console show it.
#[derive(Debug, Clone)]
pub struct SessionPaper {
    /// The session.
    pub session: SessionId,
    /// The committee holding it.
    pub committee: Option<String>,
    /// The meeting.
    pub meeting_name: String,
    /// The meeting date.
    pub date: chrono::NaiveDate,
    /// The appointees rated, in ballot order.
    pub subjects: Vec<AppointeeId>,
    /// The frozen policy (its scale is the ballot's choices).
    pub policy: ScoringPolicy,
    /// Where the session is.
    pub phase: Phase,
    /// The current (or last) round; 0 before the first opening.
    pub round: u32,
}

/// A voter's own standing in a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// On the roster of the session.
    pub on_roster: bool,
    /// Present at the last roll call.
    pub present: bool,
    /// Has voted in the current round.
    pub voted: bool,
}

/// The roll of a session, for whoever runs it.
#[derive(Debug, Clone)]
pub struct Roll {
    /// Everyone entitled to vote, in roster order.
    pub roster: Vec<MemberId>,
    /// Present at the last roll call.
    pub present: BTreeSet<MemberId>,
    /// Whether the present meet the policy's quorum.
    pub quorum_met: bool,
    /// Ballots cast in the current round (a count: never who).
    pub cast: u64,
}

/// The roles that read a session's roll: those who run it, and the administrator.
const READS_ROLL: &[Role] = &[Role::Clerk, Role::Chair, Role::Admin];

impl App {
    /// The session as its ballot paper shows it, with the caller's own standing: whether the
    /// caller (the token's subject is the voter id) is on the roster, present, and has voted
    /// in the current round. Tells nothing of anyone else.
    pub async fn ballot_paper(
        &self,
        principal: &Principal,
        session: &SessionId,
    ) -> Result<(SessionPaper, Standing), AppError> {
        let state = self.session_for(principal, session, "read").await?;
        let member = MemberId::parse(principal.subject.as_str()).ok();
        let standing = match &member {
            Some(member) => Standing {
                on_roster: state.roster.contains(member),
                present: state.present.contains(member),
                voted: state.voted.contains(member),
            },
            None => Standing {
                on_roster: false,
                present: false,
                voted: false,
            },
        };
        Ok((paper(session, &state)?, standing))
    }

    /// The session with its roll: the roster, who is present, whether that meets the quorum
    /// and how many have voted in the current round. For the clerk, the chair and the
    /// administrator.
    pub async fn session_roll(
        &self,
        principal: &Principal,
        session: &SessionId,
    ) -> Result<(SessionPaper, Roll), AppError> {
        if !READS_ROLL.contains(&principal.role) {
            return Err(AppError::Denied(format!(
                "role {} may not read the roll of a session; the clerk runs it",
                principal.role
            )));
        }
        let state = self.session_for(principal, session, "read").await?;
        let paper = paper(session, &state)?;
        let entitled = state.roster.len() as u64;
        let roll = Roll {
            roster: state
                .schedule
                .as_ref()
                .map(|s| s.roster.clone())
                .unwrap_or_default(),
            quorum_met: paper
                .policy
                .quorum
                .is_met(state.present.len() as u64, entitled),
            present: state.present,
            cast: state.voted.len() as u64,
        };
        Ok((paper, roll))
    }

    /// A signal (the position written) each time the session's stream grows, from now on,
    /// until `shutdown`; a page that follows the session reads it again on each. The caller
    /// must be allowed to read the session.
    pub async fn watch_session(
        &self,
        principal: &Principal,
        session: &SessionId,
        shutdown: CancellationToken,
    ) -> Result<impl Stream<Item = u64> + Send + 'static, AppError> {
        self.session_for(principal, session, "read").await?;
        let stream = session_stream(session);
        let subscription = self.store.subscribe(
            SubscribeFrom::Now,
            Filter {
                stream_prefixes: vec![stream.clone()],
                event_types: Vec::new(),
            },
        );
        Ok(subscription
            .take_until(shutdown.cancelled_owned())
            .take_while(|item| std::future::ready(item.is_ok()))
            .filter_map(move |item| {
                let position = match item {
                    Ok(SubscriptionItem::Event(event)) if event.stream.as_str() == stream => {
                        Some(event.position)
                    }
                    _ => None,
                };
                std::future::ready(position)
            }))
    }
}

fn paper(
    session: &SessionId,
    state: &crate::domain::evaluation::session::SessionAggregate,
) -> Result<SessionPaper, AppError> {
    let schedule = state
        .schedule
        .as_ref()
        .ok_or_else(|| AppError::not_found(format!("session {session} does not exist")))?;
    Ok(SessionPaper {
        session: session.clone(),
        committee: schedule.committee.as_ref().map(|c| c.to_string()),
        meeting_name: schedule.meeting_name.clone(),
        date: schedule.date,
        subjects: schedule.subjects.clone(),
        policy: schedule.policy.clone(),
        phase: state.phase,
        round: state.round,
    })
}
