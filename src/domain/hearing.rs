//! The hearing inputs (三听) gathered before the evaluation vote: the appointee's duty report
//! (述职报告) and the stakeholder feedback the office collects from service recipients and staff
//! (座谈会, 民主测评, 个别谈话). The vote itself belongs to the evaluation session.
//!
//! Two aggregates live here because both are small and both feed the same hearing:
//! * [`DutyReport`] — stream `duty-report-<report id>`;
//! * [`StakeholderFeedback`] — stream `feedback-<feedback id>`, one per batch gathered by one
//!   method from one source.
//!
//! Interview content is confidential: the event carries a `confidential` flag that views must
//! honour (show counts, hide the summary from anyone but the office and auditors).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{AppointeeId, CommitteeId, DutyReportId, FeedbackId};
use super::lookup::{AppointeeRef, require_appointee_of};
use super::supervision_policy::SupervisionPolicy;
use super::{Aggregate, Context, DomainEvent, Rejection, validate};

/// Requires an appointee who exists and is in office, and returns their committee.
fn committee_of(field: &str, appointee: &AppointeeRef) -> Result<CommitteeId, Rejection> {
    let committee = appointee.require("appointee")?.committee.clone();
    require_appointee_of(field, appointee, &committee)?;
    Ok(committee)
}

// ---------------------------------------------------------------------------------------------
// Duty report
// ---------------------------------------------------------------------------------------------

/// What can be asked about a duty report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DutyReportCommand {
    /// Files a duty report, by or for the appointee.
    File {
        /// The report's id.
        id: DutyReportId,
        /// The reporting appointee, looked up by the handler.
        appointee: AppointeeRef,
        /// Its title.
        title: String,
        /// SHA-256 of the document (the document itself is kept outside the log).
        document_sha256: String,
        /// When it was handed in; not after the moment of filing.
        filed_at: DateTime<Utc>,
        /// The evaluation session it is for.
        session_ref: String,
    },
    /// Replaces the document with a revised one, saying why.
    Revise {
        /// The revised title.
        title: String,
        /// SHA-256 of the revised document.
        document_sha256: String,
        /// Why.
        reason: String,
    },
    /// Withdraws the report, saying why.
    Withdraw {
        /// Why.
        reason: String,
    },
}

/// What happened to a duty report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum DutyReportEvent {
    /// A duty report was filed.
    #[serde(rename = "DutyReportFiled.v1")]
    Filed {
        /// The report.
        report: DutyReportId,
        /// The appointee's committee.
        committee: CommitteeId,
        /// The appointee.
        appointee: AppointeeId,
        /// Its title.
        title: String,
        /// SHA-256 of the document.
        document_sha256: String,
        /// When it was handed in.
        filed_at: DateTime<Utc>,
        /// The evaluation session it is for.
        session_ref: String,
        /// Who filed it (the appointee or the office for them).
        filed_by: String,
    },
    /// The document was replaced.
    #[serde(rename = "DutyReportRevised.v1")]
    Revised {
        /// The report.
        report: DutyReportId,
        /// The committee.
        committee: CommitteeId,
        /// The appointee.
        appointee: AppointeeId,
        /// The revised title.
        title: String,
        /// SHA-256 of the document it replaces.
        previous_document_sha256: String,
        /// SHA-256 of the revised document.
        document_sha256: String,
        /// Why.
        reason: String,
        /// Who revised it.
        revised_by: String,
    },
    /// The report was withdrawn.
    #[serde(rename = "DutyReportWithdrawn.v1")]
    Withdrawn {
        /// The report.
        report: DutyReportId,
        /// The committee.
        committee: CommitteeId,
        /// The appointee.
        appointee: AppointeeId,
        /// Why.
        reason: String,
        /// Who withdrew it.
        withdrawn_by: String,
    },
}

impl DomainEvent for DutyReportEvent {
    fn event_type(&self) -> &'static str {
        match self {
            DutyReportEvent::Filed { .. } => "DutyReportFiled.v1",
            DutyReportEvent::Revised { .. } => "DutyReportRevised.v1",
            DutyReportEvent::Withdrawn { .. } => "DutyReportWithdrawn.v1",
        }
    }
}

/// A filed duty report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiledReport {
    /// The report.
    pub id: DutyReportId,
    /// The committee.
    pub committee: CommitteeId,
    /// The appointee.
    pub appointee: AppointeeId,
    /// SHA-256 of the current document.
    pub document_sha256: String,
    /// Whether it was withdrawn.
    pub withdrawn: bool,
}

/// A duty report as far as deciding needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DutyReport {
    /// The report, once filed.
    pub filed: Option<FiledReport>,
}

impl DutyReport {
    fn standing(&self) -> Result<&FiledReport, Rejection> {
        let report = self
            .filed
            .as_ref()
            .ok_or_else(|| Rejection::NotFound("duty report does not exist".into()))?;
        if report.withdrawn {
            return Err(Rejection::precondition(format!(
                "duty report {} has been withdrawn",
                report.id
            )));
        }
        Ok(report)
    }
}

impl Aggregate for DutyReport {
    type Command = DutyReportCommand;
    type Event = DutyReportEvent;

    fn decide(
        &self,
        command: &DutyReportCommand,
        ctx: &Context,
    ) -> Result<Vec<DutyReportEvent>, Rejection> {
        match command {
            DutyReportCommand::File {
                id,
                appointee,
                title,
                document_sha256,
                filed_at,
                session_ref,
            } => {
                validate::name("title", title)?;
                validate::sha256_hex("document_sha256", document_sha256)?;
                validate::not_in_future("filed_at", *filed_at, ctx.now)?;
                validate::name("session_ref", session_ref)?;
                if let Some(existing) = &self.filed {
                    return Err(Rejection::precondition(format!(
                        "duty report {} is already filed",
                        existing.id
                    )));
                }
                let committee = committee_of("appointee", appointee)?;
                Ok(vec![DutyReportEvent::Filed {
                    report: id.clone(),
                    committee,
                    appointee: appointee.id.clone(),
                    title: title.clone(),
                    document_sha256: document_sha256.clone(),
                    filed_at: *filed_at,
                    session_ref: session_ref.clone(),
                    filed_by: ctx.actor.clone(),
                }])
            }
            DutyReportCommand::Revise {
                title,
                document_sha256,
                reason,
            } => {
                validate::name("title", title)?;
                validate::sha256_hex("document_sha256", document_sha256)?;
                validate::text("reason", reason)?;
                let report = self.standing()?;
                if *document_sha256 == report.document_sha256 {
                    return Err(Rejection::precondition("the document is unchanged"));
                }
                Ok(vec![DutyReportEvent::Revised {
                    report: report.id.clone(),
                    committee: report.committee.clone(),
                    appointee: report.appointee.clone(),
                    title: title.clone(),
                    previous_document_sha256: report.document_sha256.clone(),
                    document_sha256: document_sha256.clone(),
                    reason: reason.clone(),
                    revised_by: ctx.actor.clone(),
                }])
            }
            DutyReportCommand::Withdraw { reason } => {
                validate::text("reason", reason)?;
                let report = self.standing()?;
                Ok(vec![DutyReportEvent::Withdrawn {
                    report: report.id.clone(),
                    committee: report.committee.clone(),
                    appointee: report.appointee.clone(),
                    reason: reason.clone(),
                    withdrawn_by: ctx.actor.clone(),
                }])
            }
        }
    }

    fn apply(&mut self, event: &DutyReportEvent) {
        match event {
            DutyReportEvent::Filed {
                report,
                committee,
                appointee,
                document_sha256,
                ..
            } => {
                self.filed = Some(FiledReport {
                    id: report.clone(),
                    committee: committee.clone(),
                    appointee: appointee.clone(),
                    document_sha256: document_sha256.clone(),
                    withdrawn: false,
                });
            }
            DutyReportEvent::Revised {
                document_sha256, ..
            } => {
                if let Some(r) = &mut self.filed {
                    r.document_sha256 = document_sha256.clone();
                }
            }
            DutyReportEvent::Withdrawn { .. } => {
                if let Some(r) = &mut self.filed {
                    r.withdrawn = true;
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Stakeholder feedback
// ---------------------------------------------------------------------------------------------

/// Whose opinion was gathered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackSource {
    /// 服务对象: people the office serves.
    ServiceRecipients,
    /// 干部职工: the appointee's own staff.
    Staff,
}

/// How it was gathered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackMethod {
    /// 座谈会.
    Forum,
    /// 民主测评 / questionnaire.
    Survey,
    /// 个别谈话: one-to-one; its content is confidential.
    Interview,
}

/// What can be asked about a batch of stakeholder feedback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FeedbackCommand {
    /// The office records a batch of feedback.
    Record {
        /// The batch's id.
        id: FeedbackId,
        /// The appointee it concerns, looked up by the handler.
        appointee: AppointeeRef,
        /// The evaluation session it is for.
        session_ref: String,
        /// Whose opinion.
        source: FeedbackSource,
        /// How gathered.
        method: FeedbackMethod,
        /// How many people took part.
        participants: u32,
        /// How many chose each rating option (options from the policy; may be empty when the
        /// method gathered no ratings).
        counts: BTreeMap<String, u32>,
        /// What was said, summarised by the office.
        summary: String,
        /// Whether the content is confidential (always for interviews).
        confidential: bool,
        /// The committee's current supervision policy (the rating options).
        policy: SupervisionPolicy,
    },
    /// Retracts the batch, saying why (a corrected batch is recorded anew).
    Retract {
        /// Why.
        reason: String,
    },
}

/// What happened to a batch of stakeholder feedback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum FeedbackEvent {
    /// A batch was recorded.
    #[serde(rename = "StakeholderFeedbackRecorded.v1")]
    Recorded {
        /// The batch.
        feedback: FeedbackId,
        /// The appointee's committee.
        committee: CommitteeId,
        /// The appointee.
        appointee: AppointeeId,
        /// The evaluation session it is for.
        session_ref: String,
        /// Whose opinion.
        source: FeedbackSource,
        /// How gathered.
        method: FeedbackMethod,
        /// How many took part.
        participants: u32,
        /// Count per rating option.
        counts: BTreeMap<String, u32>,
        /// The office's summary.
        summary: String,
        /// Whether the summary is confidential.
        confidential: bool,
        /// Who recorded it.
        recorded_by: String,
        /// When.
        recorded_at: DateTime<Utc>,
    },
    /// The batch was retracted.
    #[serde(rename = "StakeholderFeedbackRetracted.v1")]
    Retracted {
        /// The batch.
        feedback: FeedbackId,
        /// The committee.
        committee: CommitteeId,
        /// The appointee.
        appointee: AppointeeId,
        /// Why.
        reason: String,
        /// Who retracted it.
        retracted_by: String,
    },
}

impl DomainEvent for FeedbackEvent {
    fn event_type(&self) -> &'static str {
        match self {
            FeedbackEvent::Recorded { .. } => "StakeholderFeedbackRecorded.v1",
            FeedbackEvent::Retracted { .. } => "StakeholderFeedbackRetracted.v1",
        }
    }
}

/// A recorded batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedFeedback {
    /// The batch.
    pub id: FeedbackId,
    /// The committee.
    pub committee: CommitteeId,
    /// The appointee.
    pub appointee: AppointeeId,
    /// Whether it was retracted.
    pub retracted: bool,
}

/// A batch of stakeholder feedback as far as deciding needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StakeholderFeedback {
    /// The batch, once recorded.
    pub recorded: Option<RecordedFeedback>,
}

fn validate_counts(
    participants: u32,
    counts: &BTreeMap<String, u32>,
    policy: &SupervisionPolicy,
) -> Result<(), Rejection> {
    if participants == 0 {
        return Err(Rejection::invalid("participants", "must be at least 1"));
    }
    for option in counts.keys() {
        if !policy.feedback_rating_options.contains(option) {
            return Err(Rejection::invalid(
                format!("counts.{option}"),
                format!(
                    "is not a rating option of the policy ({})",
                    policy.feedback_rating_options.join(", ")
                ),
            ));
        }
    }
    // Summed in u64: u32 counts cannot overflow it, whatever the input.
    let total: u64 = counts.values().map(|&c| u64::from(c)).sum();
    if total > u64::from(participants) {
        return Err(Rejection::invalid(
            "counts",
            format!("add up to {total}, more than the {participants} participants"),
        ));
    }
    Ok(())
}

impl Aggregate for StakeholderFeedback {
    type Command = FeedbackCommand;
    type Event = FeedbackEvent;

    fn decide(
        &self,
        command: &FeedbackCommand,
        ctx: &Context,
    ) -> Result<Vec<FeedbackEvent>, Rejection> {
        match command {
            FeedbackCommand::Record {
                id,
                appointee,
                session_ref,
                source,
                method,
                participants,
                counts,
                summary,
                confidential,
                policy,
            } => {
                policy.validate()?;
                validate::name("session_ref", session_ref)?;
                validate_counts(*participants, counts, policy)?;
                validate::text("summary", summary)?;
                if *method == FeedbackMethod::Interview && !confidential {
                    return Err(Rejection::invalid(
                        "confidential",
                        "must be true for interview content",
                    ));
                }
                if let Some(existing) = &self.recorded {
                    return Err(Rejection::precondition(format!(
                        "feedback {} is already recorded",
                        existing.id
                    )));
                }
                let committee = committee_of("appointee", appointee)?;
                Ok(vec![FeedbackEvent::Recorded {
                    feedback: id.clone(),
                    committee,
                    appointee: appointee.id.clone(),
                    session_ref: session_ref.clone(),
                    source: *source,
                    method: *method,
                    participants: *participants,
                    counts: counts.clone(),
                    summary: summary.clone(),
                    confidential: *confidential,
                    recorded_by: ctx.actor.clone(),
                    recorded_at: ctx.now,
                }])
            }
            FeedbackCommand::Retract { reason } => {
                validate::text("reason", reason)?;
                let recorded = self
                    .recorded
                    .as_ref()
                    .ok_or_else(|| Rejection::NotFound("feedback does not exist".into()))?;
                if recorded.retracted {
                    return Err(Rejection::precondition(format!(
                        "feedback {} has been retracted",
                        recorded.id
                    )));
                }
                Ok(vec![FeedbackEvent::Retracted {
                    feedback: recorded.id.clone(),
                    committee: recorded.committee.clone(),
                    appointee: recorded.appointee.clone(),
                    reason: reason.clone(),
                    retracted_by: ctx.actor.clone(),
                }])
            }
        }
    }

    fn apply(&mut self, event: &FeedbackEvent) {
        match event {
            FeedbackEvent::Recorded {
                feedback,
                committee,
                appointee,
                ..
            } => {
                self.recorded = Some(RecordedFeedback {
                    id: feedback.clone(),
                    committee: committee.clone(),
                    appointee: appointee.clone(),
                    retracted: false,
                });
            }
            FeedbackEvent::Retracted { .. } => {
                if let Some(r) = &mut self.recorded {
                    r.retracted = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::lookup::AppointeeFacts;
    use crate::domain::testing::{given, noon, now};

    fn cid() -> CommitteeId {
        CommitteeId::parse("xiangfang").unwrap()
    }

    fn aid() -> AppointeeId {
        AppointeeId::parse("a1").unwrap()
    }

    fn rid() -> DutyReportId {
        DutyReportId::parse("r1").unwrap()
    }

    fn fid() -> FeedbackId {
        FeedbackId::parse("fb1").unwrap()
    }

    fn appointee(in_office: bool) -> AppointeeRef {
        AppointeeRef::found(
            aid(),
            AppointeeFacts {
                committee: cid(),
                in_office,
            },
        )
    }

    fn sha(c: char) -> String {
        c.to_string().repeat(64)
    }

    // --- duty report ---

    fn file() -> DutyReportCommand {
        DutyReportCommand::File {
            id: rid(),
            appointee: appointee(true),
            title: "2017年度履职报告".into(),
            document_sha256: sha('a'),
            filed_at: noon(2017, 12, 20),
            session_ref: "s-2017-12".into(),
        }
    }

    fn with_file(change: impl FnOnce(&mut DutyReportCommand)) -> DutyReportCommand {
        let mut command = file();
        change(&mut command);
        command
    }

    fn filed() -> DutyReportEvent {
        DutyReportEvent::Filed {
            report: rid(),
            committee: cid(),
            appointee: aid(),
            title: "2017年度履职报告".into(),
            document_sha256: sha('a'),
            filed_at: noon(2017, 12, 20),
            session_ref: "s-2017-12".into(),
            filed_by: "a1-user".into(),
        }
    }

    fn withdrawn() -> DutyReportEvent {
        DutyReportEvent::Withdrawn {
            report: rid(),
            committee: cid(),
            appointee: aid(),
            reason: "提交错误版本".into(),
            withdrawn_by: "clerk-1".into(),
        }
    }

    fn revise(hash: char) -> DutyReportCommand {
        DutyReportCommand::Revise {
            title: "2017年度履职报告(修订)".into(),
            document_sha256: sha(hash),
            reason: "补充数据".into(),
        }
    }

    #[test]
    fn a_duty_report_is_filed_by_the_appointee() {
        given::<DutyReport>(vec![])
            .by("a1-user")
            .when(file())
            .then_events(vec![filed()]);
    }

    #[test]
    fn a_duty_report_is_filed_once() {
        given::<DutyReport>(vec![filed()])
            .when(file())
            .then_precondition("already filed");
    }

    #[test]
    fn a_duty_report_of_an_unknown_appointee_is_refused() {
        given::<DutyReport>(vec![])
            .when(with_file(|c| {
                if let DutyReportCommand::File { appointee, .. } = c {
                    *appointee = AppointeeRef::missing(aid());
                }
            }))
            .then_not_found("appointee a1");
    }

    #[test]
    fn a_duty_report_of_an_appointee_out_of_office_is_refused() {
        given::<DutyReport>(vec![])
            .when(with_file(|c| {
                if let DutyReportCommand::File { appointee: a, .. } = c {
                    *a = appointee(false);
                }
            }))
            .then_precondition("term has ended");
    }

    #[test]
    fn a_duty_report_needs_a_sha256_digest() {
        given::<DutyReport>(vec![])
            .when(with_file(|c| {
                if let DutyReportCommand::File {
                    document_sha256, ..
                } = c
                {
                    *document_sha256 = "not-a-digest".into();
                }
            }))
            .then_invalid("document_sha256");
    }

    #[test]
    fn a_duty_report_from_the_future_is_refused() {
        given::<DutyReport>(vec![])
            .when(with_file(|c| {
                if let DutyReportCommand::File { filed_at, .. } = c {
                    *filed_at = now() + chrono::Duration::days(1);
                }
            }))
            .then_invalid("filed_at");
    }

    #[test]
    fn a_duty_report_needs_a_title_and_a_session() {
        given::<DutyReport>(vec![])
            .when(with_file(|c| {
                if let DutyReportCommand::File { title, .. } = c {
                    title.clear();
                }
            }))
            .then_invalid("title");
        given::<DutyReport>(vec![])
            .when(with_file(|c| {
                if let DutyReportCommand::File { session_ref, .. } = c {
                    session_ref.clear();
                }
            }))
            .then_invalid("session_ref");
    }

    #[test]
    fn a_duty_report_is_revised_and_names_the_document_it_replaces() {
        let state = given::<DutyReport>(vec![filed()])
            .when(revise('b'))
            .then_events(vec![DutyReportEvent::Revised {
                report: rid(),
                committee: cid(),
                appointee: aid(),
                title: "2017年度履职报告(修订)".into(),
                previous_document_sha256: sha('a'),
                document_sha256: sha('b'),
                reason: "补充数据".into(),
                revised_by: "clerk-1".into(),
            }]);
        assert_eq!(state.filed.map(|r| r.document_sha256), Some(sha('b')));
    }

    #[test]
    fn a_revision_with_the_same_document_is_refused() {
        given::<DutyReport>(vec![filed()])
            .when(revise('a'))
            .then_precondition("unchanged");
    }

    #[test]
    fn a_revision_without_a_reason_is_refused() {
        given::<DutyReport>(vec![filed()])
            .when(DutyReportCommand::Revise {
                title: "t".into(),
                document_sha256: sha('b'),
                reason: "".into(),
            })
            .then_invalid("reason");
    }

    #[test]
    fn revising_an_unknown_report_is_refused() {
        given::<DutyReport>(vec![])
            .when(revise('b'))
            .then_not_found("duty report");
    }

    #[test]
    fn a_duty_report_is_withdrawn_with_a_reason() {
        given::<DutyReport>(vec![filed()])
            .when(DutyReportCommand::Withdraw {
                reason: "提交错误版本".into(),
            })
            .then_events(vec![withdrawn()]);
    }

    #[test]
    fn a_withdrawal_without_a_reason_is_refused() {
        given::<DutyReport>(vec![filed()])
            .when(DutyReportCommand::Withdraw { reason: "".into() })
            .then_invalid("reason");
    }

    #[test]
    fn a_withdrawn_report_is_neither_revised_nor_withdrawn_again() {
        given::<DutyReport>(vec![filed(), withdrawn()])
            .when(revise('b'))
            .then_precondition("withdrawn");
        given::<DutyReport>(vec![filed(), withdrawn()])
            .when(DutyReportCommand::Withdraw { reason: "x".into() })
            .then_precondition("withdrawn");
    }

    #[test]
    fn withdrawing_an_unknown_report_is_refused() {
        given::<DutyReport>(vec![])
            .when(DutyReportCommand::Withdraw { reason: "x".into() })
            .then_not_found("duty report");
    }

    // --- stakeholder feedback ---

    fn counts(s: u32, b: u32, d: u32) -> BTreeMap<String, u32> {
        BTreeMap::from([
            ("satisfied".to_string(), s),
            ("basically_satisfied".to_string(), b),
            ("dissatisfied".to_string(), d),
        ])
    }

    fn record(method: FeedbackMethod, confidential: bool) -> FeedbackCommand {
        FeedbackCommand::Record {
            id: fid(),
            appointee: appointee(true),
            session_ref: "s-2017-12".into(),
            source: FeedbackSource::ServiceRecipients,
            method,
            participants: 30,
            counts: counts(20, 8, 2),
            summary: "办事效率明显提高".into(),
            confidential,
            policy: SupervisionPolicy::default(),
        }
    }

    fn with_record(change: impl FnOnce(&mut FeedbackCommand)) -> FeedbackCommand {
        let mut command = record(FeedbackMethod::Survey, false);
        change(&mut command);
        command
    }

    fn recorded(method: FeedbackMethod, confidential: bool) -> FeedbackEvent {
        FeedbackEvent::Recorded {
            feedback: fid(),
            committee: cid(),
            appointee: aid(),
            session_ref: "s-2017-12".into(),
            source: FeedbackSource::ServiceRecipients,
            method,
            participants: 30,
            counts: counts(20, 8, 2),
            summary: "办事效率明显提高".into(),
            confidential,
            recorded_by: "clerk-1".into(),
            recorded_at: now(),
        }
    }

    #[test]
    fn survey_feedback_is_recorded_with_counts_per_option() {
        given::<StakeholderFeedback>(vec![])
            .when(record(FeedbackMethod::Survey, false))
            .then_events(vec![recorded(FeedbackMethod::Survey, false)]);
    }

    #[test]
    fn interview_feedback_is_recorded_as_confidential() {
        given::<StakeholderFeedback>(vec![])
            .when(record(FeedbackMethod::Interview, true))
            .then_events(vec![recorded(FeedbackMethod::Interview, true)]);
    }

    #[test]
    fn interview_content_that_is_not_confidential_is_refused() {
        given::<StakeholderFeedback>(vec![])
            .when(record(FeedbackMethod::Interview, false))
            .then_invalid("confidential");
    }

    #[test]
    fn a_forum_without_ratings_is_recorded() {
        let events = given::<StakeholderFeedback>(vec![])
            .when(with_record(|c| {
                if let FeedbackCommand::Record { method, counts, .. } = c {
                    *method = FeedbackMethod::Forum;
                    counts.clear();
                }
            }))
            .then_ok();
        assert!(matches!(&events[0], FeedbackEvent::Recorded { counts, .. } if counts.is_empty()));
    }

    #[test]
    fn counts_above_the_participants_are_refused() {
        given::<StakeholderFeedback>(vec![])
            .when(with_record(|c| {
                if let FeedbackCommand::Record { participants, .. } = c {
                    *participants = 29;
                }
            }))
            .then_rejects(Rejection::invalid(
                "counts",
                "add up to 30, more than the 29 participants",
            ));
    }

    #[test]
    fn huge_counts_do_not_overflow() {
        given::<StakeholderFeedback>(vec![])
            .when(with_record(|c| {
                if let FeedbackCommand::Record { counts: k, .. } = c {
                    *k = counts(u32::MAX, u32::MAX, 1);
                }
            }))
            .then_invalid("counts");
    }

    #[test]
    fn no_participants_is_refused() {
        given::<StakeholderFeedback>(vec![])
            .when(with_record(|c| {
                if let FeedbackCommand::Record { participants, .. } = c {
                    *participants = 0;
                }
            }))
            .then_invalid("participants");
    }

    #[test]
    fn an_option_outside_the_policy_is_refused() {
        given::<StakeholderFeedback>(vec![])
            .when(with_record(|c| {
                if let FeedbackCommand::Record { counts, .. } = c {
                    counts.insert("excellent".into(), 1);
                }
            }))
            .then_invalid("counts.excellent");
    }

    #[test]
    fn the_options_are_the_policys() {
        given::<StakeholderFeedback>(vec![])
            .when(with_record(|c| {
                if let FeedbackCommand::Record { counts, policy, .. } = c {
                    *counts = BTreeMap::from([("excellent".to_string(), 3)]);
                    policy.feedback_rating_options = vec!["excellent".into(), "competent".into()];
                }
            }))
            .then_ok();
    }

    #[test]
    fn feedback_needs_a_summary_and_a_session() {
        given::<StakeholderFeedback>(vec![])
            .when(with_record(|c| {
                if let FeedbackCommand::Record { summary, .. } = c {
                    summary.clear();
                }
            }))
            .then_invalid("summary");
        given::<StakeholderFeedback>(vec![])
            .when(with_record(|c| {
                if let FeedbackCommand::Record { session_ref, .. } = c {
                    session_ref.clear();
                }
            }))
            .then_invalid("session_ref");
    }

    #[test]
    fn feedback_with_a_broken_policy_is_refused() {
        given::<StakeholderFeedback>(vec![])
            .when(with_record(|c| {
                if let FeedbackCommand::Record { policy, .. } = c {
                    policy.feedback_rating_options.clear();
                }
            }))
            .then_invalid("policy.feedback_rating_options");
    }

    #[test]
    fn feedback_on_an_unknown_appointee_is_refused() {
        given::<StakeholderFeedback>(vec![])
            .when(with_record(|c| {
                if let FeedbackCommand::Record { appointee, .. } = c {
                    *appointee = AppointeeRef::missing(aid());
                }
            }))
            .then_not_found("appointee a1");
    }

    #[test]
    fn feedback_is_recorded_once() {
        given::<StakeholderFeedback>(vec![recorded(FeedbackMethod::Survey, false)])
            .when(record(FeedbackMethod::Survey, false))
            .then_precondition("already recorded");
    }

    #[test]
    fn feedback_is_retracted_with_a_reason() {
        given::<StakeholderFeedback>(vec![recorded(FeedbackMethod::Survey, false)])
            .when(FeedbackCommand::Retract {
                reason: "统计有误".into(),
            })
            .then_events(vec![FeedbackEvent::Retracted {
                feedback: fid(),
                committee: cid(),
                appointee: aid(),
                reason: "统计有误".into(),
                retracted_by: "clerk-1".into(),
            }]);
    }

    #[test]
    fn a_retraction_without_a_reason_is_refused() {
        given::<StakeholderFeedback>(vec![recorded(FeedbackMethod::Survey, false)])
            .when(FeedbackCommand::Retract { reason: "".into() })
            .then_invalid("reason");
    }

    #[test]
    fn feedback_is_retracted_once() {
        let retracted = FeedbackEvent::Retracted {
            feedback: fid(),
            committee: cid(),
            appointee: aid(),
            reason: "统计有误".into(),
            retracted_by: "clerk-1".into(),
        };
        given::<StakeholderFeedback>(vec![recorded(FeedbackMethod::Survey, false), retracted])
            .when(FeedbackCommand::Retract { reason: "x".into() })
            .then_precondition("retracted");
    }

    #[test]
    fn retracting_unknown_feedback_is_refused() {
        given::<StakeholderFeedback>(vec![])
            .when(FeedbackCommand::Retract { reason: "x".into() })
            .then_not_found("feedback");
    }

    #[test]
    fn a_revision_is_validated_like_a_filing() {
        given::<DutyReport>(vec![filed()])
            .when(DutyReportCommand::Revise {
                title: "".into(),
                document_sha256: sha('b'),
                reason: "补充数据".into(),
            })
            .then_invalid("title");
        given::<DutyReport>(vec![filed()])
            .when(DutyReportCommand::Revise {
                title: "t".into(),
                document_sha256: "B".repeat(64),
                reason: "补充数据".into(),
            })
            .then_invalid("document_sha256");
    }
}
