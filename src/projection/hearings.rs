//! The hearings view (`hearings`): duty reports and stakeholder feedback per appointee, folded
//! from the `duty-report-` and `feedback-` streams.
//!
//! # Tables and keys
//! | table | key | document |
//! |---|---|---|
//! | `duty_reports` | `<appointee>/<report>` | [`DutyReportDoc`] |
//! | `feedback` | `<appointee>/<feedback>` | [`FeedbackDoc`] |
//!
//! Every event of both aggregates names its appointee, so no index by report id is needed.
//! The view keeps a confidential summary: hiding it from callers who may not see it is the
//! query's job, which knows the caller's role.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Projection, ProjectionError, ViewWrite};
use crate::domain::catalog::{AggregateKind, SupervisionEvent};
use crate::domain::hearing::{DutyReportEvent, FeedbackEvent, FeedbackMethod, FeedbackSource};
use crate::log::RecordedEvent;

/// The projection's name.
pub const NAME: &str = "hearings";
/// Duty reports by `<appointee>/<report>`.
pub const DUTY_REPORTS: &str = "duty_reports";
/// Stakeholder feedback by `<appointee>/<feedback>`.
pub const FEEDBACK: &str = "feedback";

/// Key of an appointee's report or feedback batch.
pub fn appointee_key(appointee: &str, id: &str) -> String {
    format!("{appointee}/{id}")
}

/// Prefix of every key of an appointee.
pub fn appointee_prefix(appointee: &str) -> String {
    format!("{appointee}/")
}

/// One revision of a duty report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevisionDoc {
    /// The revised title.
    pub title: String,
    /// The document it replaced.
    pub previous_document_sha256: String,
    /// The revised document.
    pub document_sha256: String,
    /// Why.
    pub reason: String,
    /// Who.
    pub revised_by: String,
}

/// A duty report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DutyReportDoc {
    /// Its id.
    pub id: String,
    /// The appointee.
    pub appointee: String,
    /// The committee.
    pub committee: String,
    /// Current title.
    pub title: String,
    /// Current document.
    pub document_sha256: String,
    /// When handed in.
    pub filed_at: DateTime<Utc>,
    /// The session it is for.
    pub session_ref: String,
    /// Who filed it.
    pub filed_by: String,
    /// Revisions, oldest first.
    pub revisions: Vec<RevisionDoc>,
    /// Why it was withdrawn, if it was.
    pub withdrawn: Option<String>,
    /// Position of the last event that changed it.
    pub position: u64,
}

/// A batch of stakeholder feedback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedbackDoc {
    /// Its id.
    pub id: String,
    /// The appointee.
    pub appointee: String,
    /// The committee.
    pub committee: String,
    /// The session it is for.
    pub session_ref: String,
    /// Whose opinion.
    pub source: FeedbackSource,
    /// How gathered.
    pub method: FeedbackMethod,
    /// How many took part.
    pub participants: u32,
    /// Count per option.
    pub counts: BTreeMap<String, u32>,
    /// The summary (confidential when flagged).
    pub summary: String,
    /// Whether the summary is confidential.
    pub confidential: bool,
    /// Who recorded it.
    pub recorded_by: String,
    /// When.
    pub recorded_at: DateTime<Utc>,
    /// Why it was retracted, if it was.
    pub retracted: Option<String>,
    /// Position of the last event that changed it.
    pub position: u64,
}

/// Folds duty reports and stakeholder feedback.
#[derive(Debug, Default, Clone, Copy)]
pub struct HearingsProjection;

impl Projection for HearingsProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn apply(
        &self,
        view: &mut ViewWrite<'_>,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let decoded =
            super::select::decode_if(event, &[AggregateKind::DutyReport, AggregateKind::Feedback])?;
        match decoded {
            Some(SupervisionEvent::DutyReport(e)) => duty_report(view, e, event.position),
            Some(SupervisionEvent::Feedback(e)) => feedback(view, e, event.position),
            _ => Ok(()),
        }
    }
}

fn duty_report(
    view: &mut ViewWrite<'_>,
    event: DutyReportEvent,
    position: u64,
) -> Result<(), ProjectionError> {
    match event {
        DutyReportEvent::Filed {
            report,
            committee,
            appointee,
            title,
            document_sha256,
            filed_at,
            session_ref,
            filed_by,
        } => {
            let key = appointee_key(appointee.as_str(), report.as_str());
            view.put(
                DUTY_REPORTS,
                &key,
                &DutyReportDoc {
                    id: report.to_string(),
                    appointee: appointee.to_string(),
                    committee: committee.to_string(),
                    title,
                    document_sha256,
                    filed_at,
                    session_ref,
                    filed_by,
                    revisions: Vec::new(),
                    withdrawn: None,
                    position,
                },
            )
        }
        DutyReportEvent::Revised {
            report,
            appointee,
            title,
            previous_document_sha256,
            document_sha256,
            reason,
            revised_by,
            ..
        } => {
            let key = appointee_key(appointee.as_str(), report.as_str());
            let Some(mut doc) = view.get::<DutyReportDoc>(DUTY_REPORTS, &key)? else {
                return Ok(());
            };
            doc.title = title.clone();
            doc.document_sha256 = document_sha256.clone();
            doc.revisions.push(RevisionDoc {
                title,
                previous_document_sha256,
                document_sha256,
                reason,
                revised_by,
            });
            doc.position = position;
            view.put(DUTY_REPORTS, &key, &doc)
        }
        DutyReportEvent::Withdrawn {
            report,
            appointee,
            reason,
            ..
        } => {
            let key = appointee_key(appointee.as_str(), report.as_str());
            let Some(mut doc) = view.get::<DutyReportDoc>(DUTY_REPORTS, &key)? else {
                return Ok(());
            };
            doc.withdrawn = Some(reason);
            doc.position = position;
            view.put(DUTY_REPORTS, &key, &doc)
        }
    }
}

fn feedback(
    view: &mut ViewWrite<'_>,
    event: FeedbackEvent,
    position: u64,
) -> Result<(), ProjectionError> {
    match event {
        FeedbackEvent::Recorded {
            feedback,
            committee,
            appointee,
            session_ref,
            source,
            method,
            participants,
            counts,
            summary,
            confidential,
            recorded_by,
            recorded_at,
        } => {
            let key = appointee_key(appointee.as_str(), feedback.as_str());
            view.put(
                FEEDBACK,
                &key,
                &FeedbackDoc {
                    id: feedback.to_string(),
                    appointee: appointee.to_string(),
                    committee: committee.to_string(),
                    session_ref,
                    source,
                    method,
                    participants,
                    counts,
                    summary,
                    confidential,
                    recorded_by,
                    recorded_at,
                    retracted: None,
                    position,
                },
            )
        }
        FeedbackEvent::Retracted {
            feedback,
            appointee,
            reason,
            ..
        } => {
            let key = appointee_key(appointee.as_str(), feedback.as_str());
            let Some(mut doc) = view.get::<FeedbackDoc>(FEEDBACK, &key)? else {
                return Ok(());
            };
            doc.retracted = Some(reason);
            doc.position = position;
            view.put(FEEDBACK, &key, &doc)
        }
    }
}
