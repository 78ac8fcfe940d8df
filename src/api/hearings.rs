//! The `oversight.v1.Hearings` service over [`crate::app::hearings`]: duty reports and
//! stakeholder feedback, the inputs of the hearing before the evaluation vote. Each method
//! validates its request once (a `TryFrom` per message), calls the application layer and encodes
//! the answer. Confidential summaries are withheld by the application layer; summaries are never
//! logged.

use std::collections::BTreeMap;

use tonic::{Request, Response, Status};

use crate::api::context::{caller, principal, wait};
use crate::api::fields::{nfc, optional_id, timestamp, timestamp_proto};
use crate::app::hearings::{
    FeedbackRecord, FileDutyReport, RecordFeedback, RetractFeedback, ReviseDutyReport,
    WithdrawDutyReport,
};
use crate::app::{App, Page};
use crate::domain::Rejection;
use crate::domain::hearing::{FeedbackMethod, FeedbackSource};
use crate::domain::ids::{AppointeeId, DutyReportId, FeedbackId};
use crate::projection::hearings::DutyReportDoc;
use crate::proto;
use crate::proto::hearings_server::Hearings;

/// Duty reports and stakeholder feedback.
#[derive(Clone)]
pub struct HearingsService {
    app: App,
}

impl HearingsService {
    /// The service over the application layer.
    pub fn new(app: App) -> Self {
        Self { app }
    }

    /// The generated tonic server around this service.
    pub fn into_server(self) -> proto::hearings_server::HearingsServer<Self> {
        proto::hearings_server::HearingsServer::new(self)
    }
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

impl TryFrom<proto::FileDutyReportRequest> for FileDutyReport {
    type Error = Rejection;
    fn try_from(req: proto::FileDutyReportRequest) -> Result<Self, Rejection> {
        Ok(Self {
            id: optional_id(&req.duty_report_id, DutyReportId::parse)?,
            appointee: AppointeeId::parse(req.appointee_id)?,
            title: nfc(req.title),
            document_sha256: req.document_sha256,
            filed_at: timestamp("filed_at", req.filed_at.as_ref())?,
            session_ref: nfc(req.session_ref),
        })
    }
}

impl TryFrom<proto::ReviseDutyReportRequest> for ReviseDutyReport {
    type Error = Rejection;
    fn try_from(req: proto::ReviseDutyReportRequest) -> Result<Self, Rejection> {
        Ok(Self {
            report: DutyReportId::parse(req.duty_report_id)?,
            title: nfc(req.title),
            document_sha256: req.document_sha256,
            reason: req.reason,
        })
    }
}

impl TryFrom<proto::WithdrawDutyReportRequest> for WithdrawDutyReport {
    type Error = Rejection;
    fn try_from(req: proto::WithdrawDutyReportRequest) -> Result<Self, Rejection> {
        Ok(Self {
            report: DutyReportId::parse(req.duty_report_id)?,
            reason: req.reason,
        })
    }
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
            id: optional_id(&req.feedback_id, FeedbackId::parse)?,
            appointee: AppointeeId::parse(req.appointee_id)?,
            session_ref: nfc(req.session_ref),
            source: source(req.source)?,
            method: method(req.method)?,
            participants: req.participants,
            counts,
            summary: req.summary,
            confidential: req.confidential,
        })
    }
}

impl TryFrom<proto::RetractStakeholderFeedbackRequest> for RetractFeedback {
    type Error = Rejection;
    fn try_from(req: proto::RetractStakeholderFeedbackRequest) -> Result<Self, Rejection> {
        Ok(Self {
            feedback: FeedbackId::parse(req.feedback_id)?,
            reason: req.reason,
        })
    }
}

/// A validated list request: the appointee and the page.
pub struct Listing {
    /// Whose records.
    pub appointee: AppointeeId,
    /// Which page.
    pub page: Page,
}

impl TryFrom<&proto::ListDutyReportsRequest> for Listing {
    type Error = crate::app::AppError;
    fn try_from(req: &proto::ListDutyReportsRequest) -> Result<Self, Self::Error> {
        Ok(Self {
            page: Page::from_request(req.page_size, &req.page_token)?,
            appointee: AppointeeId::parse(req.appointee_id.as_str())?,
        })
    }
}

impl TryFrom<&proto::ListStakeholderFeedbackRequest> for Listing {
    type Error = crate::app::AppError;
    fn try_from(req: &proto::ListStakeholderFeedbackRequest) -> Result<Self, Self::Error> {
        Ok(Self {
            page: Page::from_request(req.page_size, &req.page_token)?,
            appointee: AppointeeId::parse(req.appointee_id.as_str())?,
        })
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

fn feedback_message(record: FeedbackRecord) -> proto::StakeholderFeedback {
    let FeedbackRecord {
        doc,
        summary_hidden,
    } = record;
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
        summary: doc.summary,
        confidential: doc.confidential,
        summary_hidden,
        recorded_by: doc.recorded_by,
        recorded_at: Some(timestamp_proto(doc.recorded_at)),
        retracted: doc.retracted.is_some(),
        retraction_reason: doc.retracted.unwrap_or_default(),
        position: doc.position,
    }
}

#[tonic::async_trait]
impl Hearings for HearingsService {
    #[tracing::instrument(skip_all, fields(method = "FileDutyReport", committee, appointee))]
    async fn file_duty_report(
        &self,
        request: Request<proto::FileDutyReportRequest>,
    ) -> Result<Response<proto::FileDutyReportResponse>, Status> {
        let caller = caller(&request, |r| (&r.command_id, &r.correlation_id))?;
        let created = self
            .app
            .file_duty_report(&caller, request.into_inner().try_into()?)
            .await?;
        Ok(Response::new(proto::FileDutyReportResponse {
            duty_report_id: created.id.to_string(),
            position: created.position,
        }))
    }

    #[tracing::instrument(skip_all, fields(method = "ReviseDutyReport", committee, appointee))]
    async fn revise_duty_report(
        &self,
        request: Request<proto::ReviseDutyReportRequest>,
    ) -> Result<Response<proto::HearingWriteResponse>, Status> {
        let caller = caller(&request, |r| (&r.command_id, &r.correlation_id))?;
        let done = self
            .app
            .revise_duty_report(&caller, request.into_inner().try_into()?)
            .await?;
        Ok(written(done.position))
    }

    #[tracing::instrument(skip_all, fields(method = "WithdrawDutyReport", committee, appointee))]
    async fn withdraw_duty_report(
        &self,
        request: Request<proto::WithdrawDutyReportRequest>,
    ) -> Result<Response<proto::HearingWriteResponse>, Status> {
        let caller = caller(&request, |r| (&r.command_id, &r.correlation_id))?;
        let done = self
            .app
            .withdraw_duty_report(&caller, request.into_inner().try_into()?)
            .await?;
        Ok(written(done.position))
    }

    #[tracing::instrument(
        skip_all,
        fields(method = "RecordStakeholderFeedback", committee, appointee)
    )]
    async fn record_stakeholder_feedback(
        &self,
        request: Request<proto::RecordStakeholderFeedbackRequest>,
    ) -> Result<Response<proto::RecordStakeholderFeedbackResponse>, Status> {
        let caller = caller(&request, |r| (&r.command_id, &r.correlation_id))?;
        let created = self
            .app
            .record_stakeholder_feedback(&caller, request.into_inner().try_into()?)
            .await?;
        Ok(Response::new(proto::RecordStakeholderFeedbackResponse {
            feedback_id: created.id.to_string(),
            position: created.position,
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
        let caller = caller(&request, |r| (&r.command_id, &r.correlation_id))?;
        let done = self
            .app
            .retract_stakeholder_feedback(&caller, request.into_inner().try_into()?)
            .await?;
        Ok(written(done.position))
    }

    #[tracing::instrument(skip_all, fields(method = "ListDutyReports", committee, appointee))]
    async fn list_duty_reports(
        &self,
        request: Request<proto::ListDutyReportsRequest>,
    ) -> Result<Response<proto::ListDutyReportsResponse>, Status> {
        let principal = principal(&request)?;
        let wait = wait(&request, request.get_ref().min_position);
        let listing = Listing::try_from(request.get_ref())?;
        let (docs, next_page_token) = self
            .app
            .duty_reports(&principal, wait, &listing.appointee, &listing.page)
            .await?;
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
        let principal = principal(&request)?;
        let wait = wait(&request, request.get_ref().min_position);
        let listing = Listing::try_from(request.get_ref())?;
        let (records, next_page_token) = self
            .app
            .stakeholder_feedback(&principal, wait, &listing.appointee, &listing.page)
            .await?;
        Ok(Response::new(proto::ListStakeholderFeedbackResponse {
            feedback: records.into_iter().map(feedback_message).collect(),
            next_page_token,
        }))
    }
}
