//! What evaluation sessions show: the scoring policy in force, results (under the embargo of
//! [`crate::app::embargo`]), the list of sessions, recounts and receipt checks recomputed from
//! the log as an auditor would, and the stream of announcements for the board.

use futures::{Stream, StreamExt};
use tokio_util::sync::CancellationToken;

use super::{check_committee, listed_committee};
use crate::app::embargo::{not_announced, sees_unannounced};
use crate::app::{App, AppError, Page, Wait};
use crate::auth::Principal;
use crate::domain::evaluation::policy::{PolicyAggregate, RatingOption, ScoringPolicy};
use crate::domain::evaluation::session::{Phase, RecountReport};
use crate::domain::evaluation::tally::{SubjectTally, receipt_commitment};
use crate::domain::evaluation::{BallotId, SessionId};
use crate::domain::ids::CommitteeId;
use crate::log::{Filter, SubscribeFrom, SubscriptionError, SubscriptionItem};
use crate::projection::sessions::{self, PolicyDoc, ResultDoc, SessionDoc};

/// The event type the announcement stream follows.
const ANNOUNCED: &str = "ResultsAnnounced.v1";
/// Sessions examined per view read while filling a filtered page.
const SCAN_CHUNK: usize = 500;

/// A recount: the standing tally and the one recomputed from the published ballots.
#[derive(Debug, Clone)]
pub struct Recount {
    /// What the domain recomputed.
    pub report: RecountReport,
    /// The standing (recorded) results.
    pub recorded: Vec<SubjectTally>,
    /// The standing ballot-set hash.
    pub recorded_ballot_set_hash: String,
    /// The frozen scale, for labels.
    pub scale: Vec<RatingOption>,
}

/// What checking a receipt tells: whether a ballot of its holder's is in the published set, and
/// nothing of what that ballot holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptCheck {
    /// The receipt is among the published ballots of the current round.
    pub published: bool,
    /// The current round.
    pub round: u32,
    /// How many ballots were published.
    pub published_ballots: u64,
    /// The receipt's commitment as the published set lists it (`None` for a round published
    /// before commitments, as whole ballots).
    pub commitment: Option<String>,
}

/// One announcement for the board: the session and its standing, announced result.
#[derive(Debug, Clone)]
pub struct Announcement {
    /// The position of `ResultsAnnounced.v1`.
    pub position: u64,
    /// The session.
    pub session: SessionDoc,
    /// Its announced result.
    pub result: ResultDoc,
}

impl App {
    /// The scoring policy in force for `committee` (the shipped default, version 0, when none
    /// was adopted).
    pub async fn scoring_policy(
        &self,
        principal: &Principal,
        wait: Wait,
        committee: &CommitteeId,
    ) -> Result<(u32, ScoringPolicy), AppError> {
        check_committee(principal, committee.as_str(), "read")?;
        self.wait_view(sessions::NAME, wait).await?;
        let doc: Option<PolicyDoc> =
            self.views
                .read()?
                .get(sessions::NAME, sessions::POLICIES, committee.as_str())?;
        Ok(match doc {
            Some(doc) => (doc.version, doc.document),
            None => {
                let default = PolicyAggregate::default();
                (default.version, default.document)
            }
        })
    }

    /// A session's standing result. Outside the embargo an unannounced result and no result at
    /// all are the same NOT_FOUND.
    pub async fn session_result(
        &self,
        principal: &Principal,
        wait: Wait,
        session: &SessionId,
    ) -> Result<(SessionDoc, ResultDoc), AppError> {
        self.wait_view(sessions::NAME, wait).await?;
        let doc: Option<SessionDoc> =
            self.views
                .read()?
                .get(sessions::NAME, sessions::SESSIONS, session.as_str())?;
        // Another committee's session is refused whatever its phase, so the refusal tells
        // nothing of a tally under embargo.
        if let Some(committee) = doc.as_ref().and_then(|d| d.committee.as_deref()) {
            check_committee(principal, committee, "read")?;
        }
        let privileged = match &doc {
            Some(doc) => sees_unannounced(principal, doc.committee.as_deref()),
            None => sees_unannounced(principal, principal.committee.as_deref()),
        };
        let Some(doc) = doc else {
            return Err(if privileged {
                AppError::not_found(format!("session {session} does not exist"))
            } else {
                not_announced(session.as_str(), "")
            });
        };
        match doc.result.clone() {
            Some(result) if result.announced || privileged => Ok((doc, result)),
            None if privileged => Err(AppError::not_found(format!(
                "session {session} has no tally yet"
            ))),
            _ => Err(not_announced(session.as_str(), "")),
        }
    }

    /// A page of sessions of `committee` (the caller's own when `None`). Outside the embargo a
    /// tallied session reads as closed until announced, so the list does not reveal that a
    /// tally exists either.
    pub async fn sessions(
        &self,
        principal: &Principal,
        wait: Wait,
        committee: Option<&CommitteeId>,
        page: &Page,
    ) -> Result<(Vec<SessionDoc>, String), AppError> {
        let committee = listed_committee(principal, committee)?;
        self.wait_view(sessions::NAME, wait).await?;
        let read = self.views.read()?;
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
            for (key, mut doc) in chunk {
                after = Some(key.clone());
                if committee
                    .as_deref()
                    .is_none_or(|c| doc.committee.as_deref() == Some(c))
                {
                    if doc.phase == Phase::Tallied
                        && !sees_unannounced(principal, doc.committee.as_deref())
                    {
                        doc.phase = Phase::VotingClosed;
                        doc.result = None;
                    }
                    out.push(doc);
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
        Ok((out, next_page_token))
    }

    /// Recounts the current round from the published ballots in the log, as an auditor would.
    /// Under the embargo a standing tally and a session without one get the same answer.
    pub async fn recount(
        &self,
        principal: &Principal,
        session: &SessionId,
    ) -> Result<Recount, AppError> {
        let state = self.session_for(principal, session, "read").await?;
        let committee = state
            .schedule
            .as_ref()
            .and_then(|s| s.committee.as_ref())
            .map(CommitteeId::as_str);
        if !sees_unannounced(principal, committee) && state.phase != Phase::Announced {
            return Err(not_announced(session.as_str(), ""));
        }
        let report = state.recount()?;
        let scale = state.policy().map(|p| p.scale.clone()).unwrap_or_default();
        let (recorded, recorded_ballot_set_hash) = state
            .tally
            .as_ref()
            .map(|t| (t.results.clone(), t.ballot_set_hash.clone()))
            .unwrap_or_default();
        Ok(Recount {
            report,
            recorded,
            recorded_ballot_set_hash,
            scale,
        })
    }

    /// Whether a receipt is among the published ballots; told once the result is announced
    /// (the published set is part of the result).
    pub async fn check_receipt(
        &self,
        principal: &Principal,
        session: &SessionId,
        receipt: &BallotId,
    ) -> Result<ReceiptCheck, AppError> {
        let state = self.session_for(principal, session, "read").await?;
        let committee = state
            .schedule
            .as_ref()
            .and_then(|s| s.committee.as_ref())
            .map(CommitteeId::as_str);
        if !sees_unannounced(principal, committee) && state.phase != Phase::Announced {
            return Err(not_announced(
                session.as_str(),
                "; check the receipt once it is announced",
            ));
        }
        let commitment = state
            .published_columns
            .as_ref()
            .map(|_| receipt_commitment(session, state.round, receipt));
        Ok(ReceiptCheck {
            published: state.receipt_published(receipt),
            round: state.round,
            published_ballots: state.published_ballots(),
            commitment,
        })
    }

    /// The announcements of `committee` (the caller's own when `None`) from `from` (0: from
    /// now), as they happen; a result annulled since is not sent. Ends with
    /// [`SubscriptionError::ShuttingDown`] (naming where to resume) when `shutdown` fires.
    pub async fn watch_announcements(
        &self,
        principal: &Principal,
        committee: Option<&CommitteeId>,
        from: u64,
        shutdown: CancellationToken,
    ) -> Result<impl Stream<Item = Result<Announcement, AppError>> + Send + 'static, AppError> {
        let committee = listed_committee(principal, committee)?;
        let start = if from == 0 {
            SubscribeFrom::Now
        } else {
            SubscribeFrom::Position(from)
        };
        if shutdown.is_cancelled() {
            return Err(SubscriptionError::ShuttingDown { resume_from: from }.into());
        }
        let mut resume_from = match start {
            SubscribeFrom::Position(p) => p,
            SubscribeFrom::Now => self.store.head().await?.position + 1,
        };
        let mut subscription = self.store.subscribe(
            start,
            Filter {
                stream_prefixes: vec!["session-".into()],
                event_types: vec![ANNOUNCED.into()],
            },
        );
        let app = self.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            let shutting_down = |resume_from| {
                Err(AppError::from(SubscriptionError::ShuttingDown {
                    resume_from,
                }))
            };
            loop {
                let item = tokio::select! {
                    () = shutdown.cancelled() => {
                        let _ = tx.send(shutting_down(resume_from)).await;
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
                        let _ = tx.send(shutting_down(resume_from)).await;
                        return;
                    }
                };
                let Some(session) = event.stream.as_str().strip_prefix("session-") else {
                    continue;
                };
                let doc = async {
                    app.views
                        .wait_for(sessions::NAME, event.position, app.default_wait)
                        .await?;
                    let doc: Option<SessionDoc> =
                        app.views
                            .read()?
                            .get(sessions::NAME, sessions::SESSIONS, session)?;
                    Ok::<_, crate::projection::ProjectionError>(doc)
                }
                .await;
                let doc = match doc {
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
                let Some(result) = doc.result.clone().filter(|r| r.announced) else {
                    continue;
                };
                let announcement = Announcement {
                    position: event.position,
                    session: doc,
                    result,
                };
                if tx.send(Ok(announcement)).await.is_err() {
                    return;
                }
            }
        });
        Ok(tokio_stream::wrappers::ReceiverStream::new(rx))
    }
}
