//! The `oversight.v1.Evaluation` service over [`crate::app::evaluation`]: scoring policies,
//! evaluation sessions, secret ballots, tallies, announcements and corrections. Each method
//! validates its request once (a `TryFrom` per message), calls the application layer and
//! encodes the answer; the embargo, the ballot box and the session locks are the application
//! layer's.
//!
//! Nothing here logs or traces a member next to a choice or a receipt: the spans carry the
//! method and the session only.

use std::collections::BTreeMap;
use std::pin::Pin;

use futures::{Stream, StreamExt};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::api::context::{RequestExt, caller, wait};
use crate::api::evaluation_convert::{
    policy_from_proto, policy_to_proto, result_to_proto, subject_to_proto, summary_to_proto,
};
use crate::api::fields::{date, nfc, optional_id};
use crate::app::evaluation::{
    AdoptScoringPolicy, ApproveCorrection, CastBallot, ProposeCorrection, RollCall,
    ScheduleSession, Step,
};
use crate::app::{App, Page};
use crate::domain::Rejection;
use crate::domain::evaluation::session::{Constituency, CorrectionRequest, VoidReason};
use crate::domain::evaluation::tally::Choice;
use crate::domain::evaluation::{AppointeeId, BallotId, MemberId, SessionId};
use crate::domain::ids::{CommitteeId, DeputyGroupId};
use crate::proto;
use crate::proto::evaluation_server::Evaluation;

type RpcStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Scoring policies and evaluation sessions.
#[derive(Clone)]
pub struct EvaluationService {
    app: App,
    shutdown: CancellationToken,
}

impl EvaluationService {
    /// The service over the application layer; `shutdown` ends the announcement streams.
    pub fn new(app: App, shutdown: CancellationToken) -> Self {
        Self { app, shutdown }
    }

    /// The generated tonic server around this service.
    pub fn into_server(self) -> proto::evaluation_server::EvaluationServer<Self> {
        proto::evaluation_server::EvaluationServer::new(self)
    }

    /// A session step that carries nothing but the session.
    async fn step(
        &self,
        request: Request<proto::SessionRef>,
        step: Step,
    ) -> Result<Response<proto::SessionCommandReply>, Status> {
        let caller = caller(&request, |r| (&r.command_id, &NO_CORRELATION))?;
        let session = SessionId::parse(request.into_inner().session_id)?;
        let written = self.app.session_step(&caller, &session, step).await?;
        Ok(Response::new(proto::SessionCommandReply {
            position: written.position,
        }))
    }
}

/// The correlation id of requests that carry none.
static NO_CORRELATION: String = String::new();

/// Renames the field of an id rejection to the request's, e.g. `subjects[2]`.
fn field_as<T>(field: String, parsed: Result<T, Rejection>) -> Result<T, Rejection> {
    parsed.map_err(|rejection| match rejection {
        Rejection::Invalid { rule, .. } => Rejection::invalid(field, rule),
        other => other,
    })
}

/// The correction a request names.
fn correction_kind(kind: i32) -> Result<CorrectionRequest, Rejection> {
    match proto::CorrectionKind::try_from(kind) {
        Ok(proto::CorrectionKind::Retally) => Ok(CorrectionRequest::Retally),
        Ok(proto::CorrectionKind::AnnulRound) => Ok(CorrectionRequest::AnnulRound),
        Ok(proto::CorrectionKind::Unspecified) => Err(Rejection::invalid("kind", "must be set")),
        Err(_) => Err(Rejection::invalid(
            "kind",
            format!("{kind} is not a known value"),
        )),
    }
}

fn void_reason(reason: VoidReason) -> &'static str {
    match reason {
        VoidReason::MoreBallotsThanPresent => "more_ballots_than_present",
        VoidReason::BallotsDoNotMatchParticipation => "ballots_do_not_match_participation",
    }
}

impl TryFrom<proto::AdoptScoringPolicyRequest> for AdoptScoringPolicy {
    type Error = Status;
    fn try_from(req: proto::AdoptScoringPolicyRequest) -> Result<Self, Status> {
        let committee = CommitteeId::parse(req.committee_id)?;
        let policy = policy_from_proto(
            req.policy
                .ok_or_else(|| Status::invalid_argument("policy must be set"))?,
        )?;
        Ok(Self { committee, policy })
    }
}

impl TryFrom<proto::ScheduleSessionRequest> for ScheduleSession {
    type Error = Rejection;
    fn try_from(req: proto::ScheduleSessionRequest) -> Result<Self, Rejection> {
        let constituency = match proto::Constituency::try_from(req.constituency) {
            Ok(proto::Constituency::Unspecified | proto::Constituency::CommitteeMembers) => {
                Constituency::CommitteeMembers
            }
            Ok(proto::Constituency::Deputies) => Constituency::Deputies,
            Err(_) => {
                return Err(Rejection::invalid(
                    "constituency",
                    format!("{} is not a known value", req.constituency),
                ));
            }
        };
        Ok(Self {
            committee: CommitteeId::parse(req.committee_id)?,
            session: optional_id(&req.session_id, SessionId::parse)?,
            meeting_name: nfc(req.meeting_name),
            date: date("date", &req.date)?,
            subjects: req
                .subjects
                .into_iter()
                .enumerate()
                .map(|(i, s)| field_as(format!("subjects[{i}]"), AppointeeId::parse(s)))
                .collect::<Result<_, _>>()?,
            constituency,
            deputy_groups: req
                .deputy_groups
                .into_iter()
                .enumerate()
                .map(|(i, g)| field_as(format!("deputy_groups[{i}]"), DeputyGroupId::parse(g)))
                .collect::<Result<_, _>>()?,
        })
    }
}

impl TryFrom<proto::RecordRollCallRequest> for RollCall {
    type Error = Rejection;
    fn try_from(req: proto::RecordRollCallRequest) -> Result<Self, Rejection> {
        Ok(Self {
            session: SessionId::parse(req.session_id)?,
            present: req
                .present
                .into_iter()
                .enumerate()
                .map(|(i, m)| field_as(format!("present[{i}]"), MemberId::parse(m)))
                .collect::<Result<_, _>>()?,
        })
    }
}

impl TryFrom<proto::CastBallotRequest> for CastBallot {
    type Error = Rejection;
    fn try_from(req: proto::CastBallotRequest) -> Result<Self, Rejection> {
        let mut choices = BTreeMap::new();
        for (subject, code) in req.choices {
            // An id that cannot be one is no subject of any session: a rule of the session's
            // frozen subjects, as for an unknown one.
            let subject = AppointeeId::parse(subject.as_str()).map_err(|_| {
                Rejection::precondition(format!("choices: unknown subject {subject:?}"))
            })?;
            let choice = if code.is_empty() {
                Choice::Blank
            } else {
                Choice::Option(code)
            };
            choices.insert(subject, choice);
        }
        Ok(Self {
            session: SessionId::parse(req.session_id)?,
            choices,
        })
    }
}

impl TryFrom<proto::ProposeCorrectionRequest> for ProposeCorrection {
    type Error = Rejection;
    fn try_from(req: proto::ProposeCorrectionRequest) -> Result<Self, Rejection> {
        Ok(Self {
            session: SessionId::parse(req.session_id)?,
            round: req.round,
            correction: correction_kind(req.kind)?,
            reason: req.reason,
        })
    }
}

impl TryFrom<proto::ApproveCorrectionRequest> for ApproveCorrection {
    type Error = Rejection;
    fn try_from(req: proto::ApproveCorrectionRequest) -> Result<Self, Rejection> {
        Ok(Self {
            session: SessionId::parse(req.session_id)?,
            proposal: req.proposal,
            round: req.round,
            correction: correction_kind(req.kind)?,
        })
    }
}

#[tonic::async_trait]
impl Evaluation for EvaluationService {
    #[tracing::instrument(skip_all, fields(method = "AdoptScoringPolicy", committee))]
    async fn adopt_scoring_policy(
        &self,
        request: Request<proto::AdoptScoringPolicyRequest>,
    ) -> Result<Response<proto::AdoptScoringPolicyResponse>, Status> {
        let caller = caller(&request, |r| (&r.command_id, &NO_CORRELATION))?;
        let adopted = self
            .app
            .adopt_scoring_policy(&caller, request.into_inner().try_into()?)
            .await?;
        Ok(Response::new(proto::AdoptScoringPolicyResponse {
            version: adopted.version,
            position: adopted.position,
        }))
    }

    #[tracing::instrument(skip_all, fields(method = "GetScoringPolicy"))]
    async fn get_scoring_policy(
        &self,
        request: Request<proto::GetScoringPolicyRequest>,
    ) -> Result<Response<proto::ScoringPolicyReply>, Status> {
        let principal = self.app.principal(&request)?;
        let wait = wait(&request, request.get_ref().min_position);
        let committee = CommitteeId::parse(request.into_inner().committee_id)?;
        let (version, policy) = self
            .app
            .scoring_policy(&principal, wait, &committee)
            .await?;
        Ok(Response::new(proto::ScoringPolicyReply {
            committee_id: committee.to_string(),
            version,
            policy: Some(policy_to_proto(&policy)),
        }))
    }

    #[tracing::instrument(skip_all, fields(method = "ScheduleSession", session))]
    async fn schedule_session(
        &self,
        request: Request<proto::ScheduleSessionRequest>,
    ) -> Result<Response<proto::ScheduleSessionResponse>, Status> {
        let caller = caller(&request, |r| (&r.command_id, &NO_CORRELATION))?;
        let scheduled = self
            .app
            .schedule_session(&caller, request.into_inner().try_into()?)
            .await?;
        Ok(Response::new(proto::ScheduleSessionResponse {
            session_id: scheduled.session.to_string(),
            entitled: scheduled.entitled,
            policy_version: scheduled.policy_version,
            position: scheduled.position,
        }))
    }

    #[tracing::instrument(skip_all, fields(method = "RecordRollCall", session))]
    async fn record_roll_call(
        &self,
        request: Request<proto::RecordRollCallRequest>,
    ) -> Result<Response<proto::SessionCommandReply>, Status> {
        let caller = caller(&request, |r| (&r.command_id, &NO_CORRELATION))?;
        let written = self
            .app
            .record_roll_call(&caller, request.into_inner().try_into()?)
            .await?;
        Ok(Response::new(proto::SessionCommandReply {
            position: written.position,
        }))
    }

    #[tracing::instrument(skip_all, fields(method = "OpenVoting", session))]
    async fn open_voting(
        &self,
        request: Request<proto::SessionRef>,
    ) -> Result<Response<proto::SessionCommandReply>, Status> {
        self.step(request, Step::OpenVoting).await
    }

    #[tracing::instrument(skip_all, fields(method = "CastBallot", session))]
    async fn cast_ballot(
        &self,
        request: Request<proto::CastBallotRequest>,
    ) -> Result<Response<proto::CastBallotResponse>, Status> {
        let caller = caller(&request, |r| (&r.command_id, &NO_CORRELATION))?;
        let cast = self
            .app
            .cast_ballot(&caller, request.into_inner().try_into()?)
            .await?;
        Ok(Response::new(proto::CastBallotResponse {
            already_voted: cast.receipt.is_none(),
            ballot_id: cast.receipt.map(|r| r.to_string()).unwrap_or_default(),
            round: cast.round,
            position: cast.position,
        }))
    }

    #[tracing::instrument(skip_all, fields(method = "CloseVoting", session))]
    async fn close_voting(
        &self,
        request: Request<proto::SessionRef>,
    ) -> Result<Response<proto::CloseVotingResponse>, Status> {
        let caller = caller(&request, |r| (&r.command_id, &NO_CORRELATION))?;
        let session = SessionId::parse(request.into_inner().session_id)?;
        let closed = self.app.close_voting(&caller, &session).await?;
        Ok(Response::new(proto::CloseVotingResponse {
            round: closed.round,
            ballots: closed.ballots,
            voided: closed.voided.is_some(),
            void_reason: closed.voided.map(void_reason).unwrap_or_default().into(),
            position: closed.position,
        }))
    }

    #[tracing::instrument(skip_all, fields(method = "Tally", session))]
    async fn tally(
        &self,
        request: Request<proto::SessionRef>,
    ) -> Result<Response<proto::SessionCommandReply>, Status> {
        self.step(request, Step::Tally).await
    }

    #[tracing::instrument(skip_all, fields(method = "Announce", session))]
    async fn announce(
        &self,
        request: Request<proto::SessionRef>,
    ) -> Result<Response<proto::SessionCommandReply>, Status> {
        self.step(request, Step::Announce).await
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
        let caller = caller(&request, |r| (&r.command_id, &NO_CORRELATION))?;
        let proposed = self
            .app
            .propose_correction(&caller, request.into_inner().try_into()?)
            .await?;
        Ok(Response::new(proto::ProposeCorrectionResponse {
            proposal: proposed.proposal,
            position: proposed.position,
        }))
    }

    #[tracing::instrument(skip_all, fields(method = "ApproveCorrection", session))]
    async fn approve_correction(
        &self,
        request: Request<proto::ApproveCorrectionRequest>,
    ) -> Result<Response<proto::SessionCommandReply>, Status> {
        let caller = caller(&request, |r| (&r.command_id, &NO_CORRELATION))?;
        let written = self
            .app
            .approve_correction(&caller, request.into_inner().try_into()?)
            .await?;
        Ok(Response::new(proto::SessionCommandReply {
            position: written.position,
        }))
    }

    #[tracing::instrument(skip_all, fields(method = "Recount"))]
    async fn recount(
        &self,
        request: Request<proto::RecountRequest>,
    ) -> Result<Response<proto::RecountResponse>, Status> {
        let principal = self.app.principal(&request)?;
        let session = SessionId::parse(request.into_inner().session_id)?;
        let recount = self.app.recount(&principal, &session).await?;
        let scale = &recount.scale;
        Ok(Response::new(proto::RecountResponse {
            round: recount.report.round,
            matches: recount.report.matches,
            recorded: recount
                .recorded
                .iter()
                .map(|t| subject_to_proto(t, scale))
                .collect(),
            recomputed: recount
                .report
                .recomputed
                .iter()
                .map(|t| subject_to_proto(t, scale))
                .collect(),
            recorded_ballot_set_hash: recount.recorded_ballot_set_hash,
            recomputed_ballot_set_hash: recount.report.ballot_set_hash,
        }))
    }

    #[tracing::instrument(skip_all, fields(method = "CheckReceipt"))]
    async fn check_receipt(
        &self,
        request: Request<proto::CheckReceiptRequest>,
    ) -> Result<Response<proto::CheckReceiptResponse>, Status> {
        let principal = self.app.principal(&request)?;
        let req = request.into_inner();
        let session = SessionId::parse(req.session_id)?;
        let receipt = BallotId::parse(req.ballot_id)?;
        let check = self
            .app
            .check_receipt(&principal, &session, &receipt)
            .await?;
        Ok(Response::new(proto::CheckReceiptResponse {
            published: check.published,
            round: check.round,
            published_ballots: check.published_ballots,
            commitment: check.commitment.unwrap_or_default(),
        }))
    }

    #[tracing::instrument(skip_all, fields(method = "GetSessionResult"))]
    async fn get_session_result(
        &self,
        request: Request<proto::GetSessionResultRequest>,
    ) -> Result<Response<proto::SessionResult>, Status> {
        let principal = self.app.principal(&request)?;
        let wait = wait(&request, request.get_ref().min_position);
        let session = SessionId::parse(request.into_inner().session_id)?;
        let (doc, result) = self.app.session_result(&principal, wait, &session).await?;
        Ok(Response::new(result_to_proto(&doc, &result)))
    }

    #[tracing::instrument(skip_all, fields(method = "ListSessions"))]
    async fn list_sessions(
        &self,
        request: Request<proto::ListSessionsRequest>,
    ) -> Result<Response<proto::ListSessionsResponse>, Status> {
        let principal = self.app.principal(&request)?;
        let wait = wait(&request, request.get_ref().min_position);
        let req = request.into_inner();
        let page = Page::from_request(req.page_size, &req.page_token)?;
        let committee = optional_id(&req.committee_id, CommitteeId::parse)?;
        let (docs, next_page_token) = self
            .app
            .sessions(&principal, wait, committee.as_ref(), &page)
            .await?;
        Ok(Response::new(proto::ListSessionsResponse {
            sessions: docs.iter().map(summary_to_proto).collect(),
            next_page_token,
        }))
    }

    type WatchAnnouncementsStream = RpcStream<proto::ResultAnnouncement>;

    #[tracing::instrument(skip_all, fields(method = "WatchAnnouncements"))]
    async fn watch_announcements(
        &self,
        request: Request<proto::WatchAnnouncementsRequest>,
    ) -> Result<Response<Self::WatchAnnouncementsStream>, Status> {
        let principal = self.app.principal(&request)?;
        let req = request.into_inner();
        let committee = optional_id(&req.committee_id, CommitteeId::parse)?;
        let announcements = self
            .app
            .watch_announcements(
                &principal,
                committee.as_ref(),
                req.from_position,
                self.shutdown.clone(),
            )
            .await?;
        let messages = announcements.map(|item| {
            item.map(|a| proto::ResultAnnouncement {
                position: a.position,
                result: Some(result_to_proto(&a.session, &a.result)),
            })
            .map_err(Status::from)
        });
        Ok(Response::new(Box::pin(messages)))
    }
}
