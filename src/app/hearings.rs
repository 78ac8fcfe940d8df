//! The hearing inputs before the evaluation vote: duty reports and stakeholder feedback.
//!
//! Commands look up the appointee they concern (the domain checks that they exist and are in
//! office; the scope check needs their committee), and record the committee on every event.
//! Queries read the `hearings` view, after the scope check on the appointee (the `registry`
//! view gives their committee).
//!
//! **Invariant:** a confidential feedback summary leaves the application layer only for clerks,
//! chairs and admins ([`sees_confidential`]); the view keeps it, the query hides it, nothing logs
//! it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::app::page::scan_page;
use crate::app::policy::committee_policy;
use crate::app::scope::{require_acting_on, require_reading_records};
use crate::app::{App, AppError, Caller, Created, Page, Target, Wait, Written, record};
use crate::auth::{Principal, Role};
use crate::domain::hearing::{
    DutyReport, DutyReportCommand, FeedbackCommand, FeedbackMethod, FeedbackSource,
    StakeholderFeedback,
};
use crate::domain::ids::{
    AppointeeId, DutyReportId, FeedbackId, duty_report_stream, feedback_stream,
};
use crate::domain::supervision_policy::SupervisionPolicy;
use crate::log::StreamName;
use crate::projection::hearings::{self as view, DutyReportDoc, FeedbackDoc, appointee_prefix};
use crate::projection::registry::{self as registry_view, AppointeeDoc};

/// A validated FileDutyReport.
#[derive(Debug, Clone, Serialize)]
pub struct FileDutyReport {
    /// The report's id; `None`: minted.
    pub id: Option<DutyReportId>,
    /// The reporting appointee.
    pub appointee: AppointeeId,
    /// Its title.
    pub title: String,
    /// SHA-256 of the document.
    pub document_sha256: String,
    /// When it was handed in.
    pub filed_at: DateTime<Utc>,
    /// The evaluation session it is for.
    pub session_ref: String,
}

/// A validated ReviseDutyReport.
#[derive(Debug, Clone, Serialize)]
pub struct ReviseDutyReport {
    /// The report.
    pub report: DutyReportId,
    /// The revised title.
    pub title: String,
    /// SHA-256 of the revised document.
    pub document_sha256: String,
    /// Why.
    pub reason: String,
}

/// A validated WithdrawDutyReport.
#[derive(Debug, Clone, Serialize)]
pub struct WithdrawDutyReport {
    /// The report.
    pub report: DutyReportId,
    /// Why.
    pub reason: String,
}

/// A validated RecordStakeholderFeedback.
#[derive(Debug, Clone, Serialize)]
pub struct RecordFeedback {
    /// The batch's id; `None`: minted.
    pub id: Option<FeedbackId>,
    /// The appointee it concerns.
    pub appointee: AppointeeId,
    /// The evaluation session it is for.
    pub session_ref: String,
    /// Whose opinion.
    pub source: FeedbackSource,
    /// How gathered.
    pub method: FeedbackMethod,
    /// How many people took part.
    pub participants: u32,
    /// How many chose each rating option (each option once).
    pub counts: BTreeMap<String, u32>,
    /// What was said, summarised by the office.
    pub summary: String,
    /// Whether the content is confidential.
    pub confidential: bool,
}

/// A validated RetractStakeholderFeedback.
#[derive(Debug, Clone, Serialize)]
pub struct RetractFeedback {
    /// The batch.
    pub feedback: FeedbackId,
    /// Why.
    pub reason: String,
}

/// A feedback batch as the caller may see it.
#[derive(Debug, Clone)]
pub struct FeedbackRecord {
    /// The batch; its summary is empty when hidden.
    pub doc: FeedbackDoc,
    /// Whether the summary was withheld from the caller (confidential).
    pub summary_hidden: bool,
}

/// Whether a role may read confidential feedback summaries.
pub fn sees_confidential(role: Role) -> bool {
    matches!(role, Role::Clerk | Role::Chair | Role::Admin)
}

impl App {
    /// Files a duty report, by or for the appointee.
    pub async fn file_duty_report(
        &self,
        caller: &Caller,
        file: FileDutyReport,
    ) -> Result<Created<DutyReportId>, AppError> {
        let id = caller.mint("duty_report_id", file.id.clone(), DutyReportId::parse)?;
        record("appointee", file.appointee.as_str());
        let appointee = self.appointee_ref(file.appointee.clone()).await?;
        let committee = appointee.found.as_ref().map(|f| f.committee.to_string());
        if let Some(committee) = &committee {
            record("committee", committee);
        }
        require_acting_on(
            &caller.principal,
            committee.as_deref(),
            Some(file.appointee.as_str()),
        )?;
        let command = DutyReportCommand::File {
            id: id.clone(),
            appointee,
            title: file.title.clone(),
            document_sha256: file.document_sha256.clone(),
            filed_at: file.filed_at,
            session_ref: file.session_ref.clone(),
        };
        let target = Target::<DutyReport>::new(duty_report_stream(&id), committee.as_deref())?;
        let executed = self
            .execute(caller, target, &command, "FileDutyReport", &file)
            .await?;
        Ok(Created {
            id,
            position: executed.position,
        })
    }

    /// Replaces a duty report's document, saying why.
    pub async fn revise_duty_report(
        &self,
        caller: &Caller,
        revise: ReviseDutyReport,
    ) -> Result<Written, AppError> {
        let command = DutyReportCommand::Revise {
            title: revise.title.clone(),
            document_sha256: revise.document_sha256.clone(),
            reason: revise.reason.clone(),
        };
        self.report_command(caller, &revise.report, command, "ReviseDutyReport", &revise)
            .await
    }

    /// Withdraws a duty report, saying why.
    pub async fn withdraw_duty_report(
        &self,
        caller: &Caller,
        withdraw: WithdrawDutyReport,
    ) -> Result<Written, AppError> {
        let command = DutyReportCommand::Withdraw {
            reason: withdraw.reason.clone(),
        };
        self.report_command(
            caller,
            &withdraw.report,
            command,
            "WithdrawDutyReport",
            &withdraw,
        )
        .await
    }

    /// Runs a command on an existing duty report, in the scope of its appointee.
    async fn report_command<T: Serialize>(
        &self,
        caller: &Caller,
        report: &DutyReportId,
        command: DutyReportCommand,
        kind: &str,
        content: &T,
    ) -> Result<Written, AppError> {
        let stream = StreamName::new(duty_report_stream(report))?;
        let loaded = self.handler.load::<DutyReport>(&stream).await?;
        let filed = loaded.state.filed.as_ref();
        if let Some(filed) = filed {
            record("committee", filed.committee.as_str());
            record("appointee", filed.appointee.as_str());
        }
        let principal = &caller.principal;
        let committee = filed.map(|f| f.committee.to_string());
        require_acting_on(
            principal,
            committee.as_deref(),
            // A missing report is reported as not found by the domain, whoever asks.
            Some(filed.map_or(principal.subject.as_str(), |f| f.appointee.as_str())),
        )?;
        let mut target = Target::<DutyReport>::new(stream.to_string(), committee.as_deref())?;
        target.loaded = Some(loaded);
        let executed = self
            .execute(caller, target, &command, kind, content)
            .await?;
        Ok(Written {
            position: executed.position,
        })
    }

    /// Records a batch of stakeholder feedback, counted under the rating options of the
    /// committee's supervision policy in force.
    pub async fn record_stakeholder_feedback(
        &self,
        caller: &Caller,
        batch: RecordFeedback,
    ) -> Result<Created<FeedbackId>, AppError> {
        let id = caller.mint("feedback_id", batch.id.clone(), FeedbackId::parse)?;
        record("appointee", batch.appointee.as_str());
        let appointee = self.appointee_ref(batch.appointee.clone()).await?;
        let committee = appointee.found.as_ref().map(|f| f.committee.clone());
        if let Some(committee) = &committee {
            record("committee", committee.as_str());
        }
        require_acting_on(
            &caller.principal,
            committee.as_ref().map(|c| c.as_str()),
            Some(batch.appointee.as_str()),
        )?;
        let policy = match &committee {
            Some(committee) => committee_policy(self, committee.clone()).await?.1,
            // No such appointee: the domain refuses the command as not found.
            None => SupervisionPolicy::default(),
        };
        let command = FeedbackCommand::Record {
            id: id.clone(),
            appointee,
            session_ref: batch.session_ref.clone(),
            source: batch.source,
            method: batch.method,
            participants: batch.participants,
            counts: batch.counts.clone(),
            summary: batch.summary.clone(),
            confidential: batch.confidential,
            policy,
        };
        let target = Target::<StakeholderFeedback>::new(
            feedback_stream(&id),
            committee.as_ref().map(|c| c.as_str()),
        )?;
        let executed = self
            .execute(
                caller,
                target,
                &command,
                "RecordStakeholderFeedback",
                &batch,
            )
            .await?;
        Ok(Created {
            id,
            position: executed.position,
        })
    }

    /// Retracts a batch of stakeholder feedback, saying why.
    pub async fn retract_stakeholder_feedback(
        &self,
        caller: &Caller,
        retract: RetractFeedback,
    ) -> Result<Written, AppError> {
        let stream = StreamName::new(feedback_stream(&retract.feedback))?;
        let loaded = self.handler.load::<StakeholderFeedback>(&stream).await?;
        let recorded = loaded.state.recorded.as_ref();
        if let Some(recorded) = recorded {
            record("committee", recorded.committee.as_str());
            record("appointee", recorded.appointee.as_str());
        }
        let committee = recorded.map(|r| r.committee.to_string());
        require_acting_on(
            &caller.principal,
            committee.as_deref(),
            recorded.map(|r| r.appointee.as_str()),
        )?;
        let command = FeedbackCommand::Retract {
            reason: retract.reason.clone(),
        };
        let mut target =
            Target::<StakeholderFeedback>::new(stream.to_string(), committee.as_deref())?;
        target.loaded = Some(loaded);
        let executed = self
            .execute(
                caller,
                target,
                &command,
                "RetractStakeholderFeedback",
                &retract,
            )
            .await?;
        Ok(Written {
            position: executed.position,
        })
    }

    /// A page of an appointee's duty reports.
    pub async fn duty_reports(
        &self,
        principal: &Principal,
        wait: Wait,
        appointee: &AppointeeId,
        page: &Page,
    ) -> Result<(Vec<DutyReportDoc>, String), AppError> {
        self.open_listing(principal, wait, appointee).await?;
        let read = self.views.read()?;
        Ok(scan_page(
            &read,
            (view::NAME, view::DUTY_REPORTS),
            &appointee_prefix(appointee.as_str()),
            page,
            |_: &DutyReportDoc| true,
        )?)
    }

    /// A page of the feedback gathered about an appointee, confidential summaries withheld from
    /// all but clerks, chairs and admins.
    pub async fn stakeholder_feedback(
        &self,
        principal: &Principal,
        wait: Wait,
        appointee: &AppointeeId,
        page: &Page,
    ) -> Result<(Vec<FeedbackRecord>, String), AppError> {
        self.open_listing(principal, wait, appointee).await?;
        let read = self.views.read()?;
        let (docs, next_page_token) = scan_page(
            &read,
            (view::NAME, view::FEEDBACK),
            &appointee_prefix(appointee.as_str()),
            page,
            |_: &FeedbackDoc| true,
        )?;
        let records = docs
            .into_iter()
            .map(|mut doc| {
                let summary_hidden = doc.confidential && !sees_confidential(principal.role);
                if summary_hidden {
                    doc.summary.clear();
                }
                FeedbackRecord {
                    doc,
                    summary_hidden,
                }
            })
            .collect();
        Ok((records, next_page_token))
    }

    /// What both lists do first: wait for the registry view (the scope check reads it) and the
    /// hearings view, and check the caller may read the appointee's records (an unknown
    /// appointee is not found).
    async fn open_listing(
        &self,
        principal: &Principal,
        wait: Wait,
        appointee: &AppointeeId,
    ) -> Result<(), AppError> {
        self.wait_view(registry_view::NAME, wait).await?;
        self.wait_view(view::NAME, wait).await?;
        record("appointee", appointee.as_str());
        if principal.role == Role::Appointee && principal.subject != appointee.as_str() {
            return Err(AppError::Denied(
                "role appointee may read only their own records (token subject = appointee id)"
                    .into(),
            ));
        }
        let read = self.views.read()?;
        let doc = read
            .get::<AppointeeDoc>(
                registry_view::NAME,
                registry_view::APPOINTEES,
                appointee.as_str(),
            )?
            .ok_or_else(|| AppError::not_found(format!("appointee {appointee} does not exist")))?;
        record("committee", &doc.committee);
        require_reading_records(principal, &read, &doc.committee, Some(appointee.as_str()))
    }
}
