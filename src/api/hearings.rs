//! The `oversight.v1.Hearings` service: duty reports and stakeholder feedback, the inputs of the
//! hearing before the evaluation vote. Commands are validated here into domain commands, the
//! appointee they concern is looked up for the domain's rules (exists, in office) and for the
//! scope check; queries read the `hearings` view after waiting for `min_position`.
//!
//! Confidentiality: a feedback batch flagged confidential (always for interviews) keeps its
//! summary from every role but clerk, chair and admin, and summaries are never logged.
//! Feedback is counted under the rating options of the committee's supervision policy in force
//! when it is recorded (see [`crate::api::policy`]).

use std::collections::BTreeMap;

use tonic::{Request, Response, Status};

use crate::api::context::{LegacyCommands, Page, RequestExt};
use crate::api::fields::{id_or_new, scan_page, stream, timestamp, timestamp_proto};
use crate::app::App;
use crate::app::policy::committee_policy;
use crate::app::scope::{require_acting_on, require_reading_records};
use crate::auth::{Principal, Role};
use crate::domain::Rejection;
use crate::domain::hearing::{
    DutyReport, DutyReportCommand, FeedbackCommand, FeedbackMethod, FeedbackSource,
    StakeholderFeedback,
};
use crate::domain::ids::{
    AppointeeId, DutyReportId, FeedbackId, duty_report_stream, feedback_stream,
};
use crate::domain::supervision_policy::SupervisionPolicy;
use crate::projection::ViewRead;
use crate::projection::hearings::{self as view, DutyReportDoc, FeedbackDoc, appointee_prefix};
use crate::projection::registry::{self as registry_view, AppointeeDoc};
use crate::proto;
use crate::proto::hearings_server::Hearings;

/// Duty reports and stakeholder feedback.
#[derive(Clone)]
pub struct HearingsService {
    state: App,
}

impl HearingsService {
    /// The service over the shared state.
    pub fn new(state: App) -> Self {
        Self { state }
    }

    /// The generated tonic server around this service.
    pub fn into_server(self) -> proto::hearings_server::HearingsServer<Self> {
        proto::hearings_server::HearingsServer::new(self)
    }

    /// What both list RPCs do first: wait for the registry view (the scope check reads it) and
    /// the hearings view, check the caller may read the appointee's records, and open one
    /// snapshot of the views.
    async fn open_listing<T>(
        &self,
        request: &Request<T>,
        min_position: u64,
        page_size: u32,
        page_token: &str,
        appointee_id: String,
    ) -> Result<(Principal, Page, AppointeeId, ViewRead), Status> {
        let principal = self.state.principal(request)?;
        self.state
            .wait_for(request, registry_view::NAME, min_position)
            .await?;
        self.state
            .wait_for(request, view::NAME, min_position)
            .await?;
        let page = Page::from_request(page_size, page_token)?;
        let appointee = AppointeeId::parse(appointee_id)?;
        record("appointee", appointee.as_str());
        require_reading_appointee(&self.state, &principal, &appointee)?;
        let read = self.state.views.read()?;
        Ok((principal, page, appointee, read))
    }

    /// Runs a command on an existing duty report, in the scope of its appointee.
    async fn report_command(
        &self,
        principal: &Principal,
        correlation_id: &str,
        report: DutyReportId,
        command: DutyReportCommand,
    ) -> Result<Response<proto::HearingWriteResponse>, Status> {
        let stream_name = duty_report_stream(&report);
        let loaded = self
            .state
            .handler
            .load::<DutyReport>(&stream(stream_name.clone())?)
            .await?;
        let filed = loaded.state.filed.as_ref();
        if let Some(filed) = filed {
            record("committee", filed.committee.as_str());
            record("appointee", filed.appointee.as_str());
        }
        require_acting_on(
            principal,
            filed.map(|f| f.committee.as_str()),
            // A missing report is reported as not found by the domain, whoever asks.
            Some(filed.map_or(principal.subject.as_str(), |f| f.appointee.as_str())),
        )?;
        let position = self
            .state
            .execute_legacy::<DutyReport>(
                principal,
                correlation_id,
                filed.map(|f| f.committee.as_str()),
                stream_name,
                &command,
            )
            .await?;
        Ok(written(position))
    }
}

fn record(field: &str, value: &str) {
    tracing::Span::current().record(field, value);
}

fn written(position: u64) -> Response<proto::HearingWriteResponse> {
    Response::new(proto::HearingWriteResponse { position })
}

// --- enums -----------------------------------------------------------------------------------

fn source(value: i32) -> Result<FeedbackSource, Rejection> {
    match proto::FeedbackSource::try_from(value) {
        Ok(proto::FeedbackSource::ServiceRecipients) => Ok(FeedbackSource::ServiceRecipients),
        Ok(proto::FeedbackSource::Staff) => Ok(FeedbackSource::Staff),
        _ => Err(Rejection::invalid(
            "source",
            "must be one of service_recipients, staff",
        )),
    }
}

fn source_proto(source: FeedbackSource) -> proto::FeedbackSource {
    match source {
        FeedbackSource::ServiceRecipients => proto::FeedbackSource::ServiceRecipients,
        FeedbackSource::Staff => proto::FeedbackSource::Staff,
    }
}

fn method(value: i32) -> Result<FeedbackMethod, Rejection> {
    match proto::FeedbackMethod::try_from(value) {
        Ok(proto::FeedbackMethod::Forum) => Ok(FeedbackMethod::Forum),
        Ok(proto::FeedbackMethod::Survey) => Ok(FeedbackMethod::Survey),
        Ok(proto::FeedbackMethod::Interview) => Ok(FeedbackMethod::Interview),
        _ => Err(Rejection::invalid(
            "method",
            "must be one of forum, survey, interview",
        )),
    }
}

fn method_proto(method: FeedbackMethod) -> proto::FeedbackMethod {
    match method {
        FeedbackMethod::Forum => proto::FeedbackMethod::Forum,
        FeedbackMethod::Survey => proto::FeedbackMethod::Survey,
        FeedbackMethod::Interview => proto::FeedbackMethod::Interview,
    }
}

// --- validated commands ----------------------------------------------------------------------

/// A validated FileDutyReport: the appointee is still to be looked up.
struct FileDutyReport {
    id: DutyReportId,
    appointee: AppointeeId,
    title: String,
    document_sha256: String,
    filed_at: chrono::DateTime<chrono::Utc>,
    session_ref: String,
}

impl TryFrom<proto::FileDutyReportRequest> for FileDutyReport {
    type Error = Rejection;
    fn try_from(req: proto::FileDutyReportRequest) -> Result<Self, Rejection> {
        Ok(Self {
            id: id_or_new(&req.duty_report_id, DutyReportId::parse)?,
            appointee: AppointeeId::parse(req.appointee_id)?,
            title: req.title,
            document_sha256: req.document_sha256,
            filed_at: timestamp("filed_at", req.filed_at.as_ref())?,
            session_ref: req.session_ref,
        })
    }
}

impl TryFrom<proto::ReviseDutyReportRequest> for (DutyReportId, DutyReportCommand) {
    type Error = Rejection;
    fn try_from(req: proto::ReviseDutyReportRequest) -> Result<Self, Rejection> {
        Ok((
            DutyReportId::parse(req.duty_report_id)?,
            DutyReportCommand::Revise {
                title: req.title,
                document_sha256: req.document_sha256,
                reason: req.reason,
            },
        ))
    }
}

impl TryFrom<proto::WithdrawDutyReportRequest> for (DutyReportId, DutyReportCommand) {
    type Error = Rejection;
    fn try_from(req: proto::WithdrawDutyReportRequest) -> Result<Self, Rejection> {
        Ok((
            DutyReportId::parse(req.duty_report_id)?,
            DutyReportCommand::Withdraw { reason: req.reason },
        ))
    }
}

/// A validated RecordStakeholderFeedback: the appointee is still to be looked up.
struct RecordFeedback {
    id: FeedbackId,
    appointee: AppointeeId,
    session_ref: String,
    source: FeedbackSource,
    method: FeedbackMethod,
    participants: u32,
    counts: BTreeMap<String, u32>,
    summary: String,
    confidential: bool,
}

impl TryFrom<proto::RecordStakeholderFeedbackRequest> for RecordFeedback {
    type Error = Rejection;
    fn try_from(req: proto::RecordStakeholderFeedbackRequest) -> Result<Self, Rejection> {
        let mut counts = BTreeMap::new();
        for (i, count) in req.counts.into_iter().enumerate() {
            if count.option.is_empty() {
                return Err(Rejection::invalid(
                    format!("counts[{i}].option"),
                    "must not be empty",
                ));
            }
            if counts.insert(count.option, count.count).is_some() {
                return Err(Rejection::invalid(
                    format!("counts[{i}].option"),
                    "must not repeat an earlier option",
                ));
            }
        }
        Ok(Self {
            id: id_or_new(&req.feedback_id, FeedbackId::parse)?,
            appointee: AppointeeId::parse(req.appointee_id)?,
            session_ref: req.session_ref,
            source: source(req.source)?,
            method: method(req.method)?,
            participants: req.participants,
            counts,
            summary: req.summary,
            confidential: req.confidential,
        })
    }
}

impl TryFrom<proto::RetractStakeholderFeedbackRequest> for (FeedbackId, FeedbackCommand) {
    type Error = Rejection;
    fn try_from(req: proto::RetractStakeholderFeedbackRequest) -> Result<Self, Rejection> {
        Ok((
            FeedbackId::parse(req.feedback_id)?,
            FeedbackCommand::Retract { reason: req.reason },
        ))
    }
}

// --- documents to messages -------------------------------------------------------------------

fn report_message(doc: DutyReportDoc) -> proto::DutyReport {
    proto::DutyReport {
        duty_report_id: doc.id,
        appointee_id: doc.appointee,
        committee_id: doc.committee,
        title: doc.title,
        document_sha256: doc.document_sha256,
        filed_at: Some(timestamp_proto(doc.filed_at)),
        session_ref: doc.session_ref,
        filed_by: doc.filed_by,
        revisions: doc
            .revisions
            .into_iter()
            .map(|r| proto::DutyReportRevision {
                title: r.title,
                previous_document_sha256: r.previous_document_sha256,
                document_sha256: r.document_sha256,
                reason: r.reason,
                revised_by: r.revised_by,
            })
            .collect(),
        withdrawn: doc.withdrawn.is_some(),
        withdrawal_reason: doc.withdrawn.unwrap_or_default(),
        position: doc.position,
    }
}

/// Whether a role may read confidential feedback summaries.
fn sees_confidential(role: Role) -> bool {
    matches!(role, Role::Clerk | Role::Chair | Role::Admin)
}

fn feedback_message(doc: FeedbackDoc, role: Role) -> proto::StakeholderFeedback {
    let hidden = doc.confidential && !sees_confidential(role);
    proto::StakeholderFeedback {
        feedback_id: doc.id,
        appointee_id: doc.appointee,
        committee_id: doc.committee,
        session_ref: doc.session_ref,
        source: source_proto(doc.source) as i32,
        method: method_proto(doc.method) as i32,
        participants: doc.participants,
        counts: doc
            .counts
            .into_iter()
            .map(|(option, count)| proto::RatingCount { option, count })
            .collect(),
        summary: if hidden { String::new() } else { doc.summary },
        confidential: doc.confidential,
        summary_hidden: hidden,
        recorded_by: doc.recorded_by,
        recorded_at: Some(timestamp_proto(doc.recorded_at)),
        retracted: doc.retracted.is_some(),
        retraction_reason: doc.retracted.unwrap_or_default(),
        position: doc.position,
    }
}

/// The appointee a list is about, after the scope check: their committee comes from the
/// registry view (an unknown appointee is NOT_FOUND).
fn require_reading_appointee(
    state: &App,
    principal: &Principal,
    appointee: &AppointeeId,
) -> Result<(), Status> {
    if principal.role == Role::Appointee && principal.subject != appointee.as_str() {
        return Err(Status::permission_denied(
            "role appointee may read only their own records (token subject = appointee id)",
        ));
    }
    let read = state.views.read()?;
    let doc = read
        .get::<AppointeeDoc>(
            registry_view::NAME,
            registry_view::APPOINTEES,
            appointee.as_str(),
        )?
        .ok_or_else(|| Status::not_found(format!("appointee {appointee} does not exist")))?;
    record("committee", &doc.committee);
    Ok(require_reading_records(
        principal,
        &read,
        &doc.committee,
        Some(appointee.as_str()),
    )?)
}

#[tonic::async_trait]
impl Hearings for HearingsService {
    #[tracing::instrument(skip_all, fields(method = "FileDutyReport", committee, appointee))]
    async fn file_duty_report(
        &self,
        request: Request<proto::FileDutyReportRequest>,
    ) -> Result<Response<proto::FileDutyReportResponse>, Status> {
        let principal = self.state.principal(&request)?;
        let req = request.into_inner();
        let correlation_id = req.correlation_id.clone();
        let file = FileDutyReport::try_from(req)?;
        record("appointee", file.appointee.as_str());
        let appointee = self.state.appointee_ref(file.appointee.clone()).await?;
        let committee = appointee.found.as_ref().map(|f| f.committee.to_string());
        if let Some(committee) = &committee {
            record("committee", committee);
        }
        require_acting_on(
            &principal,
            committee.as_deref(),
            Some(file.appointee.as_str()),
        )?;
        let command = DutyReportCommand::File {
            id: file.id.clone(),
            appointee,
            title: file.title,
            document_sha256: file.document_sha256,
            filed_at: file.filed_at,
            session_ref: file.session_ref,
        };
        let position = self
            .state
            .execute_legacy::<DutyReport>(
                &principal,
                &correlation_id,
                committee.as_deref(),
                duty_report_stream(&file.id),
                &command,
            )
            .await?;
        Ok(Response::new(proto::FileDutyReportResponse {
            duty_report_id: file.id.to_string(),
            position,
        }))
    }

    #[tracing::instrument(skip_all, fields(method = "ReviseDutyReport", committee, appointee))]
    async fn revise_duty_report(
        &self,
        request: Request<proto::ReviseDutyReportRequest>,
    ) -> Result<Response<proto::HearingWriteResponse>, Status> {
        let principal = self.state.principal(&request)?;
        let req = request.into_inner();
        let correlation_id = req.correlation_id.clone();
        let (report, command) = <(DutyReportId, DutyReportCommand)>::try_from(req)?;
        self.report_command(&principal, &correlation_id, report, command)
            .await
    }

    #[tracing::instrument(skip_all, fields(method = "WithdrawDutyReport", committee, appointee))]
    async fn withdraw_duty_report(
        &self,
        request: Request<proto::WithdrawDutyReportRequest>,
    ) -> Result<Response<proto::HearingWriteResponse>, Status> {
        let principal = self.state.principal(&request)?;
        let req = request.into_inner();
        let correlation_id = req.correlation_id.clone();
        let (report, command) = <(DutyReportId, DutyReportCommand)>::try_from(req)?;
        self.report_command(&principal, &correlation_id, report, command)
            .await
    }

    #[tracing::instrument(
        skip_all,
        fields(method = "RecordStakeholderFeedback", committee, appointee)
    )]
    async fn record_stakeholder_feedback(
        &self,
        request: Request<proto::RecordStakeholderFeedbackRequest>,
    ) -> Result<Response<proto::RecordStakeholderFeedbackResponse>, Status> {
        let principal = self.state.principal(&request)?;
        let req = request.into_inner();
        let correlation_id = req.correlation_id.clone();
        let batch = RecordFeedback::try_from(req)?;
        record("appointee", batch.appointee.as_str());
        let appointee = self.state.appointee_ref(batch.appointee.clone()).await?;
        let committee = appointee.found.as_ref().map(|f| f.committee.to_string());
        if let Some(committee) = &committee {
            record("committee", committee);
        }
        require_acting_on(
            &principal,
            committee.as_deref(),
            Some(batch.appointee.as_str()),
        )?;
        let policy = match appointee.found.as_ref() {
            Some(facts) => {
                committee_policy(&self.state, facts.committee.clone())
                    .await?
                    .1
            }
            // No such appointee: the domain refuses the command as not found.
            None => SupervisionPolicy::default(),
        };
        let command = FeedbackCommand::Record {
            id: batch.id.clone(),
            appointee,
            session_ref: batch.session_ref,
            source: batch.source,
            method: batch.method,
            participants: batch.participants,
            counts: batch.counts,
            summary: batch.summary,
            confidential: batch.confidential,
            policy,
        };
        let position = self
            .state
            .execute_legacy::<StakeholderFeedback>(
                &principal,
                &correlation_id,
                committee.as_deref(),
                feedback_stream(&batch.id),
                &command,
            )
            .await?;
        Ok(Response::new(proto::RecordStakeholderFeedbackResponse {
            feedback_id: batch.id.to_string(),
            position,
        }))
    }

    #[tracing::instrument(
        skip_all,
        fields(method = "RetractStakeholderFeedback", committee, appointee)
    )]
    async fn retract_stakeholder_feedback(
        &self,
        request: Request<proto::RetractStakeholderFeedbackRequest>,
    ) -> Result<Response<proto::HearingWriteResponse>, Status> {
        let principal = self.state.principal(&request)?;
        let req = request.into_inner();
        let correlation_id = req.correlation_id.clone();
        let (feedback, command) = <(FeedbackId, FeedbackCommand)>::try_from(req)?;
        let stream_name = feedback_stream(&feedback);
        let loaded = self
            .state
            .handler
            .load::<StakeholderFeedback>(&stream(stream_name.clone())?)
            .await?;
        let recorded = loaded.state.recorded.as_ref();
        if let Some(recorded) = recorded {
            record("committee", recorded.committee.as_str());
            record("appointee", recorded.appointee.as_str());
        }
        require_acting_on(
            &principal,
            recorded.map(|r| r.committee.as_str()),
            recorded.map(|r| r.appointee.as_str()),
        )?;
        let position = self
            .state
            .execute_legacy::<StakeholderFeedback>(
                &principal,
                &correlation_id,
                recorded.map(|r| r.committee.as_str()),
                stream_name,
                &command,
            )
            .await?;
        Ok(written(position))
    }

    #[tracing::instrument(skip_all, fields(method = "ListDutyReports", committee, appointee))]
    async fn list_duty_reports(
        &self,
        request: Request<proto::ListDutyReportsRequest>,
    ) -> Result<Response<proto::ListDutyReportsResponse>, Status> {
        let req = request.get_ref();
        let (min_position, page_size) = (req.min_position, req.page_size);
        let (page_token, appointee_id) = (req.page_token.clone(), req.appointee_id.clone());
        let (_, page, appointee, read) = self
            .open_listing(&request, min_position, page_size, &page_token, appointee_id)
            .await?;
        let (docs, next_page_token) = scan_page(
            &read,
            (view::NAME, view::DUTY_REPORTS),
            &appointee_prefix(appointee.as_str()),
            &page,
            |_: &DutyReportDoc| true,
        )?;
        Ok(Response::new(proto::ListDutyReportsResponse {
            reports: docs.into_iter().map(report_message).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(
        skip_all,
        fields(method = "ListStakeholderFeedback", committee, appointee)
    )]
    async fn list_stakeholder_feedback(
        &self,
        request: Request<proto::ListStakeholderFeedbackRequest>,
    ) -> Result<Response<proto::ListStakeholderFeedbackResponse>, Status> {
        let req = request.get_ref();
        let (min_position, page_size) = (req.min_position, req.page_size);
        let (page_token, appointee_id) = (req.page_token.clone(), req.appointee_id.clone());
        let (principal, page, appointee, read) = self
            .open_listing(&request, min_position, page_size, &page_token, appointee_id)
            .await?;
        let (docs, next_page_token) = scan_page(
            &read,
            (view::NAME, view::FEEDBACK),
            &appointee_prefix(appointee.as_str()),
            &page,
            |_: &FeedbackDoc| true,
        )?;
        Ok(Response::new(proto::ListStakeholderFeedbackResponse {
            feedback: docs
                .into_iter()
                .map(|doc| feedback_message(doc, principal.role))
                .collect(),
            next_page_token,
        }))
    }
}
