//! The finding: a problem raised against an organ (and optionally an appointee) by an inspection,
//! a visit, a view, an opinion, a budget doubt or an audit, then assigned with a due date,
//! answered, verified and closed (销号).
//!
//! A finding has **two independent facets**, because practice counts them separately: the seed's
//! budget ledger has 838 doubtful items of which 756 were explained, 139 rectified and 5 being
//! rectified — 756 + 139 + 5 > 838, so one item can be both explained and rectified. The
//! explanation facet (none / explained) and the rectification facet (none / required /
//! in_progress / done / not_done / ongoing) therefore change independently, and neither implies
//! the other. Being overdue is never stored: it is derived from the due date and a clock.
//!
//! Stream: `finding-<finding id>`.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{AppointeeId, CommitteeId, FindingId, InspectionId, VisitId};
use super::lookup::{AppointeeRef, CommitteeRef, require_appointee_of};
use super::supervision_policy::{SupervisionPolicy, local_date};
use super::{Aggregate, Context, DomainEvent, Rejection, validate};

/// Where a finding came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingSource {
    /// An inspection (`source_ref` is its inspection id).
    Inspection,
    /// A site visit (`source_ref` is its visit id).
    Visit,
    /// A deputies' view (视察).
    View,
    /// A deliberation opinion (审议意见) or a deputy's suggestion.
    Opinion,
    /// A doubt raised by online budget supervision (预算联网监督 疑点).
    BudgetDoubt,
    /// An audit.
    Audit,
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// A minor irregularity.
    Minor,
    /// A problem to be put right.
    Moderate,
    /// A serious problem.
    Serious,
}

/// The explanation facet: has the organ accounted for the item (说清)?
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Explanation {
    /// Not yet explained.
    #[default]
    None,
    /// Explained.
    Explained,
}

/// The rectification facet: is the problem being put right (整改)?
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rectification {
    /// No rectification asked or reported.
    #[default]
    None,
    /// Rectification is required.
    Required,
    /// 正在整改.
    InProgress,
    /// 已经整改.
    Done,
    /// The organ reports it will not or cannot rectify.
    NotDone,
    /// Rectification is a standing, continuing effort (长期坚持).
    Ongoing,
}

/// Where a finding stands in its handling (independent of the two facets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingStatus {
    /// Raised, not yet assigned.
    Raised,
    /// Assigned to the handling organ, awaiting a response.
    Assigned,
    /// Answered, awaiting verification.
    Responded,
    /// Verification rejected the response; awaiting a new response.
    Reopened,
    /// Verified and closed (销号).
    Closed,
}

/// The verifier's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The response is accepted: the finding closes.
    Accept,
    /// The response is not accepted: the finding reopens.
    Reject {
        /// Why.
        reason: String,
    },
}

/// What a finding is about and where it is counted: carried by every finding event, so that a
/// board per committee, organ, source (e.g. one inspection) or year can update its counts from
/// the event alone, without looking anything up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingSubject {
    /// The committee.
    pub committee: CommitteeId,
    /// Where the finding came from.
    pub source: FindingSource,
    /// The source's reference (inspection id, visit id, document number …).
    pub source_ref: String,
    /// The organ it is raised against.
    pub organ: String,
    /// The appointee, if named.
    pub appointee: Option<AppointeeId>,
    /// The committee's calendar year when raised.
    pub year: i32,
}

/// What can be asked about a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FindingCommand {
    /// Raises a finding.
    Raise {
        /// The finding's id.
        id: FindingId,
        /// The committee, looked up by the handler.
        committee: CommitteeRef,
        /// Where it came from.
        source: FindingSource,
        /// The id or reference of the source (inspection id, visit id, document number …).
        source_ref: String,
        /// The organ it is raised against.
        organ: String,
        /// The appointee responsible, if one is named; looked up by the handler.
        appointee: Option<AppointeeRef>,
        /// How serious it is.
        severity: Severity,
        /// What the problem is.
        description: String,
        /// Whether rectification is required from the start (else the facet starts at none).
        rectification_required: bool,
        /// The day it was raised on the committee's calendar, when it is recorded after the fact
        /// (not after today); `None`: today.
        raised_on: Option<NaiveDate>,
        /// The committee's current supervision policy (its calendar).
        policy: SupervisionPolicy,
    },
    /// Assigns the finding to a handling organ with a due date.
    Assign {
        /// Who handles it (the organ or office).
        assignee: String,
        /// The due date; when absent, the assignment date plus the policy's months.
        due_on: Option<NaiveDate>,
        /// The committee's current supervision policy.
        policy: SupervisionPolicy,
    },
    /// Moves the due date later, with an approver (主任会议) and a reason.
    ExtendDeadline {
        /// The new due date; later than the current one.
        due_on: NaiveDate,
        /// Who approved the extension.
        approved_by: String,
        /// Why.
        reason: String,
    },
    /// The handling organ responds on either facet or both.
    Respond {
        /// The explanation facet, if the response addresses it.
        explanation: Option<Explanation>,
        /// The rectification facet, if the response addresses it.
        rectification: Option<Rectification>,
        /// What the organ says.
        note: String,
    },
    /// Someone other than the responders verifies the response.
    Verify {
        /// Accept (closes) or reject (reopens).
        verdict: Verdict,
    },
}

/// A finding was raised (`FindingRaised.v1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingRaised {
    /// The finding.
    pub finding: FindingId,
    /// What it is about.
    pub subject: FindingSubject,
    /// Severity.
    pub severity: Severity,
    /// Description.
    pub description: String,
    /// The rectification facet at the start (none or required).
    pub rectification: Rectification,
    /// Who raised it.
    pub raised_by: String,
    /// When it was recorded.
    pub raised_at: DateTime<Utc>,
    /// The day it was raised on the committee's calendar: the day given when it was recorded
    /// after the fact, else the day of `raised_at`. Absent from events recorded before the day
    /// was kept (read them by `raised_at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raised_on: Option<NaiveDate>,
}

/// A finding was assigned (`FindingAssigned.v1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingAssigned {
    /// The finding.
    pub finding: FindingId,
    /// What it is about.
    pub subject: FindingSubject,
    /// Who handles it.
    pub assignee: String,
    /// The committee's calendar day of the assignment.
    pub assigned_on: NaiveDate,
    /// The due date.
    pub due_on: NaiveDate,
    /// The policy months applied when no due date was given; `None` when it was given.
    pub due_months_applied: Option<u32>,
    /// The committee's UTC offset, so "today" and "overdue" are judged on its calendar.
    pub utc_offset_minutes: i32,
    /// Who assigned it.
    pub assigned_by: String,
}

/// What happened to a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum FindingEvent {
    /// A finding was raised.
    #[serde(rename = "FindingRaised.v1")]
    Raised(FindingRaised),
    /// The finding was assigned.
    #[serde(rename = "FindingAssigned.v1")]
    Assigned(FindingAssigned),
    /// The due date moved later.
    #[serde(rename = "FindingDeadlineExtended.v1")]
    DeadlineExtended {
        /// The finding.
        finding: FindingId,
        /// What it is about.
        subject: FindingSubject,
        /// The due date before.
        previous_due_on: NaiveDate,
        /// The new due date.
        due_on: NaiveDate,
        /// Who approved it.
        approved_by: String,
        /// Why.
        reason: String,
        /// Who recorded it.
        extended_by: String,
    },
    /// The handling organ responded.
    #[serde(rename = "FindingResponded.v1")]
    Responded {
        /// The finding.
        finding: FindingId,
        /// What it is about.
        subject: FindingSubject,
        /// The explanation facet before.
        previous_explanation: Explanation,
        /// The explanation facet now.
        explanation: Explanation,
        /// The rectification facet before.
        previous_rectification: Rectification,
        /// The rectification facet now.
        rectification: Rectification,
        /// What the organ said.
        note: String,
        /// Who responded.
        responded_by: String,
        /// When.
        responded_at: DateTime<Utc>,
    },
    /// A verifier accepted the response: the finding is closed (销号).
    #[serde(rename = "FindingClosed.v1")]
    Closed {
        /// The finding.
        finding: FindingId,
        /// What it is about.
        subject: FindingSubject,
        /// The explanation facet at closing.
        explanation: Explanation,
        /// The rectification facet at closing.
        rectification: Rectification,
        /// Who verified.
        verified_by: String,
        /// When.
        closed_at: DateTime<Utc>,
    },
    /// A verifier rejected the response: the finding is open again.
    #[serde(rename = "FindingReopened.v1")]
    Reopened {
        /// The finding.
        finding: FindingId,
        /// What it is about.
        subject: FindingSubject,
        /// Why the response was not accepted.
        reason: String,
        /// Who verified.
        verified_by: String,
        /// When.
        reopened_at: DateTime<Utc>,
    },
}

impl DomainEvent for FindingEvent {
    fn event_type(&self) -> &'static str {
        match self {
            FindingEvent::Raised(_) => FindingRaised::TYPE,
            FindingEvent::Assigned(_) => FindingAssigned::TYPE,
            FindingEvent::DeadlineExtended { .. } => "FindingDeadlineExtended.v1",
            FindingEvent::Responded { .. } => "FindingResponded.v1",
            FindingEvent::Closed { .. } => "FindingClosed.v1",
            FindingEvent::Reopened { .. } => "FindingReopened.v1",
        }
    }

    fn from_json(data: &[u8]) -> Result<Self, serde_json::Error> {
        // Raising and assigning are most of a finding stream: read them without the enum's
        // buffering.
        if super::tagged_first(data, FindingRaised::TYPE) {
            return serde_json::from_slice(data).map(FindingEvent::Raised);
        }
        if super::tagged_first(data, FindingAssigned::TYPE) {
            return serde_json::from_slice(data).map(FindingEvent::Assigned);
        }
        serde_json::from_slice(data)
    }
}

impl FindingRaised {
    /// The event's type name.
    pub const TYPE: &str = "FindingRaised.v1";
}

impl FindingAssigned {
    /// The event's type name.
    pub const TYPE: &str = "FindingAssigned.v1";
}

/// A raised finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaisedFinding {
    /// The finding.
    pub id: FindingId,
    /// What it is about.
    pub subject: FindingSubject,
    /// Handling status.
    pub status: FindingStatus,
    /// The explanation facet.
    pub explanation: Explanation,
    /// The rectification facet.
    pub rectification: Rectification,
    /// The due date, once assigned.
    pub due_on: Option<NaiveDate>,
    /// The committee's UTC offset recorded at assignment.
    pub utc_offset_minutes: i32,
    /// Everyone who has responded: none of them may verify (no one closes their own item).
    pub responders: BTreeSet<String>,
}

/// A finding as far as deciding needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Finding {
    /// The finding, once raised.
    pub raised: Option<RaisedFinding>,
}

impl Finding {
    /// Whether the finding is past its due date at `now` (on the committee's calendar) and still
    /// not closed. The due date itself is not overdue. Derived, never stored: the answer changes
    /// with the clock, not with events.
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        self.raised.as_ref().is_some_and(|f| {
            f.status != FindingStatus::Closed
                && f.due_on
                    .is_some_and(|due| local_date(now, f.utc_offset_minutes) > due)
        })
    }

    /// Whether an open finding falls due within the policy's due-soon window at `now` (and is not
    /// yet overdue).
    pub fn is_due_soon(&self, now: DateTime<Utc>, policy: &SupervisionPolicy) -> bool {
        self.raised.as_ref().is_some_and(|f| {
            let today = local_date(now, f.utc_offset_minutes);
            f.status != FindingStatus::Closed
                && f.due_on.is_some_and(|due| {
                    today <= due
                        && (due - today).num_days() <= i64::from(policy.finding_due_soon_days)
                })
        })
    }

    fn require(&self) -> Result<&RaisedFinding, Rejection> {
        self.raised
            .as_ref()
            .ok_or_else(|| Rejection::NotFound("finding does not exist".into()))
    }

    fn require_open(&self) -> Result<&RaisedFinding, Rejection> {
        let finding = self.require()?;
        if finding.status == FindingStatus::Closed {
            return Err(Rejection::precondition(format!(
                "finding {} is closed",
                finding.id
            )));
        }
        Ok(finding)
    }
}

impl Aggregate for Finding {
    type Command = FindingCommand;
    type Event = FindingEvent;

    fn decide(
        &self,
        command: &FindingCommand,
        ctx: &Context,
    ) -> Result<Vec<FindingEvent>, Rejection> {
        match command {
            FindingCommand::Raise {
                id,
                committee,
                source,
                source_ref,
                organ,
                appointee,
                severity,
                description,
                rectification_required,
                raised_on,
                policy,
            } => {
                policy.validate()?;
                let today = policy.local_date(ctx.now);
                let raised_on = match raised_on {
                    Some(day) if *day > today => {
                        return Err(Rejection::invalid(
                            "raised_on",
                            format!("must not be after today ({today})"),
                        ));
                    }
                    Some(day) => *day,
                    None => today,
                };
                validate::name("source_ref", source_ref)?;
                // An inspection or a visit is an aggregate of ours: its reference is its id, so
                // the board can group findings by it.
                let id_rule = match source {
                    FindingSource::Inspection => InspectionId::parse(source_ref.as_str())
                        .err()
                        .map(|_| "must be an inspection id for a finding from an inspection"),
                    FindingSource::Visit => VisitId::parse(source_ref.as_str())
                        .err()
                        .map(|_| "must be a visit id for a finding from a visit"),
                    _ => None,
                };
                if let Some(rule) = id_rule {
                    return Err(Rejection::invalid("source_ref", rule));
                }
                validate::name("organ", organ)?;
                validate::text("description", description)?;
                if let Some(existing) = &self.raised {
                    return Err(Rejection::precondition(format!(
                        "finding {} is already raised",
                        existing.id
                    )));
                }
                committee.require("committee")?;
                if let Some(appointee) = appointee {
                    require_appointee_of("appointee", appointee, &committee.id)?;
                }
                let subject = FindingSubject {
                    committee: committee.id.clone(),
                    source: *source,
                    source_ref: source_ref.clone(),
                    organ: organ.clone(),
                    appointee: appointee.as_ref().map(|a| a.id.clone()),
                    // The committee's calendar year: a finding raised at 01:00 on 1 January in
                    // Harbin belongs to the new year although it is still 31 December in UTC.
                    year: raised_on.year(),
                };
                Ok(vec![FindingEvent::Raised(FindingRaised {
                    finding: id.clone(),
                    subject,
                    severity: *severity,
                    description: description.clone(),
                    rectification: if *rectification_required {
                        Rectification::Required
                    } else {
                        Rectification::None
                    },
                    raised_by: ctx.actor.clone(),
                    raised_at: ctx.now,
                    raised_on: Some(raised_on),
                })])
            }
            FindingCommand::Assign {
                assignee,
                due_on,
                policy,
            } => {
                policy.validate()?;
                validate::name("assignee", assignee)?;
                let finding = self.require_open()?;
                if finding.status != FindingStatus::Raised {
                    return Err(Rejection::precondition(format!(
                        "finding {} is already assigned",
                        finding.id
                    )));
                }
                let assigned_on = policy.local_date(ctx.now);
                let (due_on, due_months_applied) = match due_on {
                    Some(due) if *due <= assigned_on => {
                        return Err(Rejection::invalid(
                            "due_on",
                            format!("must be after the assignment date {assigned_on}"),
                        ));
                    }
                    Some(due) => (*due, None),
                    None => {
                        let due = assigned_on
                            .checked_add_months(Months::new(policy.finding_due_months))
                            .ok_or_else(|| {
                                Rejection::invalid(
                                    "policy.finding_due_months",
                                    "overflows the calendar",
                                )
                            })?;
                        (due, Some(policy.finding_due_months))
                    }
                };
                Ok(vec![FindingEvent::Assigned(FindingAssigned {
                    finding: finding.id.clone(),
                    subject: finding.subject.clone(),
                    assignee: assignee.clone(),
                    assigned_on,
                    due_on,
                    due_months_applied,
                    utc_offset_minutes: policy.utc_offset_minutes,
                    assigned_by: ctx.actor.clone(),
                })])
            }
            FindingCommand::ExtendDeadline {
                due_on,
                approved_by,
                reason,
            } => {
                if approved_by.trim().is_empty() {
                    return Err(Rejection::invalid(
                        "approved_by",
                        "is required to extend a deadline",
                    ));
                }
                validate::name("approved_by", approved_by)?;
                validate::text("reason", reason)?;
                let finding = self.require_open()?;
                let Some(current) = finding.due_on else {
                    return Err(Rejection::precondition(format!(
                        "finding {} has no due date to extend; assign it first",
                        finding.id
                    )));
                };
                if *due_on <= current {
                    return Err(Rejection::invalid(
                        "due_on",
                        format!("must be later than the current due date {current}"),
                    ));
                }
                Ok(vec![FindingEvent::DeadlineExtended {
                    finding: finding.id.clone(),
                    subject: finding.subject.clone(),
                    previous_due_on: current,
                    due_on: *due_on,
                    approved_by: approved_by.clone(),
                    reason: reason.clone(),
                    extended_by: ctx.actor.clone(),
                }])
            }
            FindingCommand::Respond {
                explanation,
                rectification,
                note,
            } => {
                if explanation.is_none() && rectification.is_none() {
                    return Err(Rejection::invalid(
                        "explanation",
                        "or rectification must be given",
                    ));
                }
                // A response reports progress; taking a facet back to "none" would erase history
                // that only a verifier's rejection may question.
                if *explanation == Some(Explanation::None) {
                    return Err(Rejection::invalid(
                        "explanation",
                        "must not be none in a response",
                    ));
                }
                if matches!(
                    rectification,
                    Some(Rectification::None | Rectification::Required)
                ) {
                    return Err(Rejection::invalid(
                        "rectification",
                        "must be in_progress, done, not_done or ongoing in a response",
                    ));
                }
                validate::optional_text("note", note)?;
                let finding = self.require_open()?;
                if finding.status == FindingStatus::Raised {
                    return Err(Rejection::precondition(format!(
                        "finding {} must be assigned before it is answered",
                        finding.id
                    )));
                }
                Ok(vec![FindingEvent::Responded {
                    finding: finding.id.clone(),
                    subject: finding.subject.clone(),
                    previous_explanation: finding.explanation,
                    explanation: explanation.unwrap_or(finding.explanation),
                    previous_rectification: finding.rectification,
                    rectification: rectification.unwrap_or(finding.rectification),
                    note: note.clone(),
                    responded_by: ctx.actor.clone(),
                    responded_at: ctx.now,
                }])
            }
            FindingCommand::Verify { verdict } => {
                if let Verdict::Reject { reason } = verdict {
                    validate::text("verdict.reason", reason)?;
                }
                let finding = self.require_open()?;
                if finding.status != FindingStatus::Responded {
                    return Err(Rejection::precondition(format!(
                        "finding {} has no response to verify",
                        finding.id
                    )));
                }
                if finding.responders.contains(&ctx.actor) {
                    return Err(Rejection::precondition(format!(
                        "{} responded to finding {} and cannot verify it",
                        ctx.actor, finding.id
                    )));
                }
                Ok(vec![match verdict {
                    Verdict::Accept => FindingEvent::Closed {
                        finding: finding.id.clone(),
                        subject: finding.subject.clone(),
                        explanation: finding.explanation,
                        rectification: finding.rectification,
                        verified_by: ctx.actor.clone(),
                        closed_at: ctx.now,
                    },
                    Verdict::Reject { reason } => FindingEvent::Reopened {
                        finding: finding.id.clone(),
                        subject: finding.subject.clone(),
                        reason: reason.clone(),
                        verified_by: ctx.actor.clone(),
                        reopened_at: ctx.now,
                    },
                }])
            }
        }
    }

    fn apply(&mut self, event: &FindingEvent) {
        if let FindingEvent::Raised(FindingRaised {
            finding,
            subject,
            rectification,
            ..
        }) = event
        {
            self.raised = Some(RaisedFinding {
                id: finding.clone(),
                subject: subject.clone(),
                status: FindingStatus::Raised,
                explanation: Explanation::None,
                rectification: *rectification,
                due_on: None,
                utc_offset_minutes: 0,
                responders: BTreeSet::new(),
            });
            return;
        }
        let Some(f) = &mut self.raised else {
            return;
        };
        match event {
            FindingEvent::Raised(FindingRaised { .. }) => {}
            FindingEvent::Assigned(FindingAssigned {
                due_on,
                utc_offset_minutes,
                ..
            }) => {
                f.status = FindingStatus::Assigned;
                f.due_on = Some(*due_on);
                f.utc_offset_minutes = *utc_offset_minutes;
            }
            FindingEvent::DeadlineExtended { due_on, .. } => f.due_on = Some(*due_on),
            FindingEvent::Responded {
                explanation,
                rectification,
                responded_by,
                ..
            } => {
                f.status = FindingStatus::Responded;
                f.explanation = *explanation;
                f.rectification = *rectification;
                f.responders.insert(responded_by.clone());
            }
            FindingEvent::Closed { .. } => f.status = FindingStatus::Closed,
            FindingEvent::Reopened { .. } => f.status = FindingStatus::Reopened,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::committee::CommitteeLevel;
    use crate::domain::lookup::{AppointeeFacts, CommitteeFacts};
    use crate::domain::testing::{day, given, now};

    fn cid() -> CommitteeId {
        CommitteeId::parse("wuchang").unwrap()
    }

    fn fid() -> FindingId {
        FindingId::parse("f1").unwrap()
    }

    fn aid() -> AppointeeId {
        AppointeeId::parse("a1").unwrap()
    }

    fn known() -> CommitteeRef {
        CommitteeRef::found(
            cid(),
            CommitteeFacts {
                level: CommitteeLevel::County,
            },
        )
    }

    fn appointee(committee: &str, in_office: bool) -> AppointeeRef {
        AppointeeRef::found(
            aid(),
            AppointeeFacts {
                committee: CommitteeId::parse(committee).unwrap(),
                in_office,
            },
        )
    }

    fn raise() -> FindingCommand {
        FindingCommand::Raise {
            id: fid(),
            committee: known(),
            source: FindingSource::BudgetDoubt,
            source_ref: "疑点-0001".into(),
            organ: "市财政局".into(),
            appointee: Some(appointee("wuchang", true)),
            severity: Severity::Moderate,
            description: "专项资金拨付无依据".into(),
            rectification_required: false,
            raised_on: None,
            policy: SupervisionPolicy::default(),
        }
    }

    fn with_raise(change: impl FnOnce(&mut FindingCommand)) -> FindingCommand {
        let mut command = raise();
        change(&mut command);
        command
    }

    fn raised() -> FindingEvent {
        FindingEvent::Raised(FindingRaised {
            finding: fid(),
            subject: subject(),
            severity: Severity::Moderate,
            description: "专项资金拨付无依据".into(),
            rectification: Rectification::None,
            raised_by: "clerk-1".into(),
            raised_at: now(),
            raised_on: Some(SupervisionPolicy::default().local_date(now())),
        })
    }

    fn subject() -> FindingSubject {
        FindingSubject {
            committee: cid(),
            source: FindingSource::BudgetDoubt,
            source_ref: "疑点-0001".into(),
            organ: "市财政局".into(),
            appointee: Some(aid()),
            year: 2017,
        }
    }

    fn assign(due_on: Option<NaiveDate>) -> FindingCommand {
        FindingCommand::Assign {
            assignee: "市财政局".into(),
            due_on,
            policy: SupervisionPolicy::default(),
        }
    }

    fn assigned() -> FindingEvent {
        FindingEvent::Assigned(FindingAssigned {
            finding: fid(),
            subject: subject(),
            assignee: "市财政局".into(),
            assigned_on: day(2017, 12, 23),
            due_on: day(2018, 3, 23),
            due_months_applied: Some(3),
            utc_offset_minutes: 480,
            assigned_by: "clerk-1".into(),
        })
    }

    fn respond(e: Option<Explanation>, r: Option<Rectification>) -> FindingCommand {
        FindingCommand::Respond {
            explanation: e,
            rectification: r,
            note: "已说明并整改".into(),
        }
    }

    fn responded(
        from: (Explanation, Rectification),
        to: (Explanation, Rectification),
        by: &str,
    ) -> FindingEvent {
        FindingEvent::Responded {
            finding: fid(),
            subject: subject(),
            previous_explanation: from.0,
            explanation: to.0,
            previous_rectification: from.1,
            rectification: to.1,
            note: "已说明并整改".into(),
            responded_by: by.into(),
            responded_at: now(),
        }
    }

    fn answered() -> Vec<FindingEvent> {
        vec![
            raised(),
            assigned(),
            responded(
                (Explanation::None, Rectification::None),
                (Explanation::Explained, Rectification::Done),
                "organ-1",
            ),
        ]
    }

    fn closed() -> FindingEvent {
        FindingEvent::Closed {
            finding: fid(),
            subject: subject(),
            explanation: Explanation::Explained,
            rectification: Rectification::Done,
            verified_by: "clerk-2".into(),
            closed_at: now(),
        }
    }

    fn extend(due_on: NaiveDate, approved_by: &str, reason: &str) -> FindingCommand {
        FindingCommand::ExtendDeadline {
            due_on,
            approved_by: approved_by.into(),
            reason: reason.into(),
        }
    }

    fn reject(reason: &str) -> FindingCommand {
        FindingCommand::Verify {
            verdict: Verdict::Reject {
                reason: reason.into(),
            },
        }
    }

    fn accept() -> FindingCommand {
        FindingCommand::Verify {
            verdict: Verdict::Accept,
        }
    }

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    // --- raise ---

    #[test]
    fn a_finding_is_raised_against_an_organ_and_appointee() {
        let state = given::<Finding>(vec![])
            .when(raise())
            .then_events(vec![raised()]);
        assert_eq!(state.raised.map(|f| f.status), Some(FindingStatus::Raised));
    }

    #[test]
    fn a_finding_may_require_rectification_from_the_start() {
        let events = given::<Finding>(vec![])
            .when(with_raise(|c| {
                if let FindingCommand::Raise {
                    rectification_required,
                    appointee,
                    ..
                } = c
                {
                    *rectification_required = true;
                    *appointee = None;
                }
            }))
            .then_ok();
        assert!(matches!(
            &events[0],
            FindingEvent::Raised(FindingRaised {
                rectification: Rectification::Required,
                subject: FindingSubject {
                    appointee: None,
                    ..
                },
                ..
            })
        ));
    }

    #[test]
    fn the_year_is_the_committees_calendar_year() {
        let events = given::<Finding>(vec![])
            .at(at(2017, 12, 31, 17))
            .when(raise())
            .then_ok();
        assert!(matches!(
            &events[0],
            FindingEvent::Raised(FindingRaised {
                subject: FindingSubject { year: 2018, .. },
                ..
            })
        ));
    }

    #[test]
    fn a_finding_is_not_raised_twice() {
        given::<Finding>(vec![raised()])
            .when(raise())
            .then_precondition("already raised");
    }

    #[test]
    fn a_finding_of_an_unknown_committee_is_refused() {
        given::<Finding>(vec![])
            .when(with_raise(|c| {
                if let FindingCommand::Raise { committee, .. } = c {
                    *committee = CommitteeRef::missing(cid());
                }
            }))
            .then_not_found("committee wuchang");
    }

    #[test]
    fn an_unknown_appointee_is_refused() {
        given::<Finding>(vec![])
            .when(with_raise(|c| {
                if let FindingCommand::Raise { appointee, .. } = c {
                    *appointee = Some(AppointeeRef::missing(aid()));
                }
            }))
            .then_not_found("appointee a1");
    }

    #[test]
    fn an_appointee_of_another_committee_is_refused() {
        given::<Finding>(vec![])
            .when(with_raise(|c| {
                if let FindingCommand::Raise { appointee, .. } = c {
                    *appointee = Some(appointee_of_daowai());
                }
            }))
            .then_precondition("belongs to committee daowai");
    }

    fn appointee_of_daowai() -> AppointeeRef {
        appointee("daowai", true)
    }

    #[test]
    fn an_appointee_out_of_office_is_refused() {
        given::<Finding>(vec![])
            .when(with_raise(|c| {
                if let FindingCommand::Raise { appointee: a, .. } = c {
                    *a = Some(appointee("wuchang", false));
                }
            }))
            .then_precondition("term has ended");
    }

    #[test]
    fn a_finding_needs_a_description_an_organ_and_a_source_ref() {
        given::<Finding>(vec![])
            .when(with_raise(|c| {
                if let FindingCommand::Raise { description, .. } = c {
                    description.clear();
                }
            }))
            .then_invalid("description");
        given::<Finding>(vec![])
            .when(with_raise(|c| {
                if let FindingCommand::Raise { organ, .. } = c {
                    organ.clear();
                }
            }))
            .then_invalid("organ");
        given::<Finding>(vec![])
            .when(with_raise(|c| {
                if let FindingCommand::Raise { source_ref, .. } = c {
                    source_ref.clear();
                }
            }))
            .then_invalid("source_ref");
    }

    #[test]
    fn a_finding_from_an_inspection_refers_to_it_by_id() {
        let from_inspection = |r: &str| {
            with_raise(|c| {
                if let FindingCommand::Raise {
                    source, source_ref, ..
                } = c
                {
                    *source = FindingSource::Inspection;
                    *source_ref = r.into();
                }
            })
        };
        given::<Finding>(vec![])
            .when(from_inspection("i-2017-food"))
            .then_ok();
        given::<Finding>(vec![])
            .when(from_inspection("《食品安全法》检查"))
            .then_rejects(Rejection::invalid(
                "source_ref",
                "must be an inspection id for a finding from an inspection",
            ));
    }

    #[test]
    fn a_finding_from_a_visit_refers_to_it_by_id() {
        given::<Finding>(vec![])
            .when(with_raise(|c| {
                if let FindingCommand::Raise {
                    source, source_ref, ..
                } = c
                {
                    *source = FindingSource::Visit;
                    *source_ref = "visit 1".into();
                }
            }))
            .then_invalid("source_ref");
    }

    #[test]
    fn a_finding_with_a_broken_policy_is_refused() {
        given::<Finding>(vec![])
            .when(with_raise(|c| {
                if let FindingCommand::Raise { policy, .. } = c {
                    policy.utc_offset_minutes = 10_000;
                }
            }))
            .then_invalid("policy.utc_offset_minutes");
    }

    // --- assign ---

    #[test]
    fn assignment_defaults_the_due_date_to_the_policy_months() {
        given::<Finding>(vec![raised()])
            .when(assign(None))
            .then_events(vec![assigned()]);
    }

    #[test]
    fn the_due_months_are_the_policys() {
        let events = given::<Finding>(vec![raised()])
            .when(FindingCommand::Assign {
                assignee: "市财政局".into(),
                due_on: None,
                policy: SupervisionPolicy {
                    finding_due_months: 6,
                    ..Default::default()
                },
            })
            .then_ok();
        assert!(matches!(
            &events[0],
            FindingEvent::Assigned(FindingAssigned { due_on, due_months_applied: Some(6), .. }) if *due_on == day(2018, 6, 23)
        ));
    }

    #[test]
    fn the_assignment_date_is_the_committees_calendar_day() {
        // 17:00 UTC on 22 December is 01:00 on 23 December in Harbin.
        let events = given::<Finding>(vec![raised()])
            .at(at(2017, 12, 22, 17))
            .when(assign(None))
            .then_ok();
        assert!(matches!(
            &events[0],
            FindingEvent::Assigned(FindingAssigned { assigned_on, .. }) if *assigned_on == day(2017, 12, 23)
        ));
    }

    #[test]
    fn a_given_due_date_is_used_as_is() {
        let events = given::<Finding>(vec![raised()])
            .when(assign(Some(day(2018, 1, 31))))
            .then_ok();
        assert!(matches!(
            &events[0],
            FindingEvent::Assigned(FindingAssigned { due_on, due_months_applied: None, .. }) if *due_on == day(2018, 1, 31)
        ));
    }

    #[test]
    fn a_due_date_not_after_the_assignment_is_refused() {
        given::<Finding>(vec![raised()])
            .when(assign(Some(day(2017, 12, 23))))
            .then_rejects(Rejection::invalid(
                "due_on",
                "must be after the assignment date 2017-12-23",
            ));
    }

    #[test]
    fn an_assignment_needs_an_assignee() {
        given::<Finding>(vec![raised()])
            .when(FindingCommand::Assign {
                assignee: " ".into(),
                due_on: None,
                policy: SupervisionPolicy::default(),
            })
            .then_invalid("assignee");
    }

    #[test]
    fn a_finding_is_assigned_once() {
        given::<Finding>(vec![raised(), assigned()])
            .when(assign(None))
            .then_precondition("already assigned");
    }

    #[test]
    fn assigning_an_unknown_finding_is_refused() {
        given::<Finding>(vec![])
            .when(assign(None))
            .then_not_found("finding");
    }

    #[test]
    fn assigning_with_a_broken_policy_is_refused() {
        given::<Finding>(vec![raised()])
            .when(FindingCommand::Assign {
                assignee: "市财政局".into(),
                due_on: None,
                policy: SupervisionPolicy {
                    finding_due_months: 0,
                    ..Default::default()
                },
            })
            .then_invalid("policy.finding_due_months");
    }

    // --- extend ---

    #[test]
    fn a_deadline_is_extended_with_an_approver_and_a_reason() {
        let state = given::<Finding>(vec![raised(), assigned()])
            .when(extend(day(2018, 6, 30), "主任会议", "涉及跨年度资金清算"))
            .then_events(vec![FindingEvent::DeadlineExtended {
                finding: fid(),
                subject: subject(),
                previous_due_on: day(2018, 3, 23),
                due_on: day(2018, 6, 30),
                approved_by: "主任会议".into(),
                reason: "涉及跨年度资金清算".into(),
                extended_by: "clerk-1".into(),
            }]);
        assert_eq!(state.raised.and_then(|f| f.due_on), Some(day(2018, 6, 30)));
    }

    #[test]
    fn an_extension_without_an_approver_is_refused() {
        given::<Finding>(vec![raised(), assigned()])
            .when(extend(day(2018, 6, 30), "", "涉及跨年度资金清算"))
            .then_rejects(Rejection::invalid(
                "approved_by",
                "is required to extend a deadline",
            ));
    }

    #[test]
    fn an_extension_without_a_reason_is_refused() {
        given::<Finding>(vec![raised(), assigned()])
            .when(extend(day(2018, 6, 30), "主任会议", ""))
            .then_invalid("reason");
    }

    #[test]
    fn an_extension_must_move_the_date_later() {
        given::<Finding>(vec![raised(), assigned()])
            .when(extend(day(2018, 3, 23), "主任会议", "x"))
            .then_rejects(Rejection::invalid(
                "due_on",
                "must be later than the current due date 2018-03-23",
            ));
    }

    #[test]
    fn an_unassigned_finding_has_no_deadline_to_extend() {
        given::<Finding>(vec![raised()])
            .when(extend(day(2018, 6, 30), "主任会议", "x"))
            .then_precondition("no due date");
    }

    #[test]
    fn a_closed_finding_is_not_extended() {
        let mut history = answered();
        history.push(closed());
        given::<Finding>(history)
            .when(extend(day(2018, 6, 30), "主任会议", "x"))
            .then_precondition("closed");
    }

    #[test]
    fn extending_an_unknown_finding_is_refused() {
        given::<Finding>(vec![])
            .when(extend(day(2018, 6, 30), "主任会议", "x"))
            .then_not_found("finding");
    }

    // --- respond: two independent facets ---

    #[test]
    fn one_response_can_explain_and_rectify_the_same_item() {
        // The budget ledger: an item can be among the 756 explained and the 139 rectified.
        let state = given::<Finding>(vec![raised(), assigned()])
            .by("organ-1")
            .when(respond(
                Some(Explanation::Explained),
                Some(Rectification::Done),
            ))
            .then_events(vec![responded(
                (Explanation::None, Rectification::None),
                (Explanation::Explained, Rectification::Done),
                "organ-1",
            )]);
        let f = state.raised.unwrap();
        assert_eq!(
            (f.explanation, f.rectification),
            (Explanation::Explained, Rectification::Done)
        );
        assert_eq!(f.status, FindingStatus::Responded);
    }

    #[test]
    fn each_facet_moves_without_touching_the_other() {
        let explained = responded(
            (Explanation::None, Rectification::Required),
            (Explanation::Explained, Rectification::Required),
            "organ-1",
        );
        let mut raised_required = raised();
        if let FindingEvent::Raised(FindingRaised { rectification, .. }) = &mut raised_required {
            *rectification = Rectification::Required;
        }
        // Explaining leaves the rectification facet as it was …
        given::<Finding>(vec![raised_required.clone(), assigned()])
            .by("organ-1")
            .when(respond(Some(Explanation::Explained), None))
            .then_events(vec![explained.clone()]);
        // … and rectifying leaves the explanation facet as it was.
        let state = given::<Finding>(vec![raised_required, assigned(), explained])
            .by("organ-1")
            .when(respond(None, Some(Rectification::InProgress)))
            .then_events(vec![responded(
                (Explanation::Explained, Rectification::Required),
                (Explanation::Explained, Rectification::InProgress),
                "organ-1",
            )]);
        let f = state.raised.unwrap();
        assert_eq!(f.explanation, Explanation::Explained);
        assert_eq!(f.rectification, Rectification::InProgress);
    }

    #[test]
    fn rectification_may_be_reported_without_any_explanation() {
        let state = given::<Finding>(vec![raised(), assigned()])
            .by("organ-1")
            .when(respond(None, Some(Rectification::Ongoing)))
            .then_ok();
        assert!(matches!(
            &state[0],
            FindingEvent::Responded {
                explanation: Explanation::None,
                rectification: Rectification::Ongoing,
                ..
            }
        ));
    }

    #[test]
    fn a_response_on_neither_facet_is_refused() {
        given::<Finding>(vec![raised(), assigned()])
            .when(respond(None, None))
            .then_invalid("explanation");
    }

    #[test]
    fn a_response_cannot_take_a_facet_back_to_none_or_required() {
        given::<Finding>(vec![raised(), assigned()])
            .when(respond(Some(Explanation::None), None))
            .then_invalid("explanation");
        for r in [Rectification::None, Rectification::Required] {
            given::<Finding>(vec![raised(), assigned()])
                .when(respond(None, Some(r)))
                .then_invalid("rectification");
        }
    }

    #[test]
    fn an_unassigned_finding_is_not_answered() {
        given::<Finding>(vec![raised()])
            .when(respond(Some(Explanation::Explained), None))
            .then_precondition("must be assigned");
    }

    #[test]
    fn a_closed_finding_is_not_answered() {
        let mut history = answered();
        history.push(closed());
        given::<Finding>(history)
            .when(respond(Some(Explanation::Explained), None))
            .then_precondition("closed");
    }

    #[test]
    fn answering_an_unknown_finding_is_refused() {
        given::<Finding>(vec![])
            .when(respond(Some(Explanation::Explained), None))
            .then_not_found("finding");
    }

    #[test]
    fn the_budget_ledger_counts_overlapping_facets() {
        // 五常: 838 doubtful items, 756 explained, 139 rectified, 5 being rectified. The sum
        // exceeds 838, so some items are both explained and rectified; with two independent
        // facets each finding carries both answers and every figure comes out exactly.
        let mut findings = Vec::new();
        for i in 0..838usize {
            let mut state = Finding::replay(&[raised(), assigned()]);
            let explanation = (i < 756).then_some(Explanation::Explained);
            let rectification = match i {
                694..833 => Some(Rectification::Done),
                833.. => Some(Rectification::InProgress),
                _ => None,
            };
            if explanation.is_some() || rectification.is_some() {
                let ctx = crate::domain::testing::ctx();
                for event in state
                    .decide(&respond(explanation, rectification), &ctx)
                    .unwrap()
                {
                    state.apply(&event);
                }
            }
            findings.push(state.raised.unwrap());
        }
        let count = |p: &dyn Fn(&RaisedFinding) -> bool| findings.iter().filter(|f| p(f)).count();
        assert_eq!(count(&|f| f.explanation == Explanation::Explained), 756);
        assert_eq!(count(&|f| f.rectification == Rectification::Done), 139);
        assert_eq!(count(&|f| f.rectification == Rectification::InProgress), 5);
        assert_eq!(
            count(&|f| f.explanation == Explanation::Explained
                && f.rectification == Rectification::Done),
            62
        );
    }

    // --- verify ---

    #[test]
    fn a_verifier_other_than_the_responder_accepts_and_closes() {
        let state = given::<Finding>(answered())
            .by("clerk-2")
            .when(accept())
            .then_events(vec![closed()]);
        assert_eq!(state.raised.map(|f| f.status), Some(FindingStatus::Closed));
    }

    #[test]
    fn the_responder_cannot_verify() {
        given::<Finding>(answered())
            .by("organ-1")
            .when(accept())
            .then_precondition("organ-1 responded to finding f1 and cannot verify it");
    }

    #[test]
    fn a_rejection_reopens_with_a_reason() {
        let state = given::<Finding>(answered())
            .by("clerk-2")
            .when(reject("整改材料不全"))
            .then_events(vec![FindingEvent::Reopened {
                finding: fid(),
                subject: subject(),
                reason: "整改材料不全".into(),
                verified_by: "clerk-2".into(),
                reopened_at: now(),
            }]);
        assert_eq!(
            state.raised.map(|f| f.status),
            Some(FindingStatus::Reopened)
        );
    }

    #[test]
    fn a_rejection_without_a_reason_is_refused() {
        given::<Finding>(answered())
            .by("clerk-2")
            .when(reject(""))
            .then_invalid("verdict.reason");
    }

    #[test]
    fn a_finding_without_a_response_cannot_be_verified() {
        given::<Finding>(vec![raised(), assigned()])
            .by("clerk-2")
            .when(accept())
            .then_precondition("no response to verify");
    }

    #[test]
    fn a_reopened_finding_needs_a_new_response_before_verification() {
        let mut history = answered();
        history.push(FindingEvent::Reopened {
            finding: fid(),
            subject: subject(),
            reason: "整改材料不全".into(),
            verified_by: "clerk-2".into(),
            reopened_at: now(),
        });
        given::<Finding>(history.clone())
            .by("clerk-2")
            .when(accept())
            .then_precondition("no response to verify");
        history.push(responded(
            (Explanation::Explained, Rectification::Done),
            (Explanation::Explained, Rectification::Done),
            "organ-2",
        ));
        // Anyone who ever responded is barred, not only the latest responder.
        given::<Finding>(history.clone())
            .by("organ-1")
            .when(accept())
            .then_precondition("cannot verify");
        given::<Finding>(history)
            .by("clerk-2")
            .when(accept())
            .then_ok();
    }

    #[test]
    fn a_closed_finding_is_not_verified_again() {
        let mut history = answered();
        history.push(closed());
        given::<Finding>(history)
            .by("clerk-3")
            .when(accept())
            .then_precondition("closed");
    }

    #[test]
    fn verifying_an_unknown_finding_is_refused() {
        given::<Finding>(vec![])
            .when(accept())
            .then_not_found("finding");
    }

    // --- overdue and due soon: derived from the due date and a clock ---

    #[test]
    fn overdue_is_derived_across_the_due_date_on_the_committees_calendar() {
        let f = Finding::replay(&[raised(), assigned()]);
        // Due 2018-03-23 (Harbin). 15:59 UTC on the 23rd is 23:59 in Harbin: still due today.
        assert!(!f.is_overdue(at(2018, 3, 23, 15)));
        // 16:00 UTC on the 23rd is 00:00 on the 24th in Harbin: overdue.
        assert!(f.is_overdue(at(2018, 3, 23, 16)));
        assert!(f.is_overdue(at(2018, 4, 1, 0)));
    }

    #[test]
    fn an_extension_lifts_overdue() {
        let extended = FindingEvent::DeadlineExtended {
            finding: fid(),
            subject: subject(),
            previous_due_on: day(2018, 3, 23),
            due_on: day(2018, 6, 30),
            approved_by: "主任会议".into(),
            reason: "x".into(),
            extended_by: "clerk-1".into(),
        };
        let f = Finding::replay(&[raised(), assigned(), extended]);
        assert!(!f.is_overdue(at(2018, 4, 1, 0)));
        assert!(f.is_overdue(at(2018, 7, 1, 0)));
    }

    #[test]
    fn unassigned_closed_and_unknown_findings_are_never_overdue() {
        assert!(!Finding::replay(&[raised()]).is_overdue(at(2030, 1, 1, 0)));
        let mut history = answered();
        history.push(closed());
        assert!(!Finding::replay(&history).is_overdue(at(2030, 1, 1, 0)));
        assert!(!Finding::default().is_overdue(at(2030, 1, 1, 0)));
    }

    #[test]
    fn a_responded_but_unverified_finding_can_still_be_overdue() {
        assert!(Finding::replay(&answered()).is_overdue(at(2018, 4, 1, 0)));
    }

    #[test]
    fn due_soon_is_the_policy_window_before_the_due_date() {
        let f = Finding::replay(&[raised(), assigned()]);
        let policy = SupervisionPolicy::default();
        assert!(!f.is_due_soon(at(2018, 3, 1, 0), &policy));
        assert!(f.is_due_soon(at(2018, 3, 9, 0), &policy));
        assert!(f.is_due_soon(at(2018, 3, 23, 0), &policy));
        assert!(!f.is_due_soon(at(2018, 3, 24, 0), &policy));
    }

    #[test]
    fn a_closed_finding_is_not_assigned() {
        let mut history = answered();
        history.push(closed());
        given::<Finding>(history)
            .when(assign(None))
            .then_precondition("closed");
    }

    #[test]
    fn an_overlong_note_is_refused() {
        given::<Finding>(vec![raised(), assigned()])
            .when(FindingCommand::Respond {
                explanation: Some(Explanation::Explained),
                rectification: None,
                note: "字".repeat(validate::MAX_TEXT_CHARS + 1),
            })
            .then_invalid("note");
    }

    #[test]
    fn raised_and_assigned_decode_alike_through_their_structs_and_through_the_enum() {
        for (event, tag) in [
            (raised(), FindingRaised::TYPE),
            (assigned(), FindingAssigned::TYPE),
        ] {
            let data = serde_json::to_vec(&event).unwrap();
            assert!(crate::domain::tagged_first(&data, tag), "{tag}");
            assert_eq!(FindingEvent::from_json(&data).unwrap(), event);
            assert_eq!(
                serde_json::from_slice::<FindingEvent>(&data).unwrap(),
                event
            );
            let spaced = serde_json::to_vec_pretty(&event).unwrap();
            assert_eq!(FindingEvent::from_json(&spaced).unwrap(), event);
            let text = String::from_utf8(data).unwrap();
            let missing = crate::domain::testing::without_member(&text, "subject");
            assert!(
                crate::domain::tagged_first(missing.as_bytes(), tag),
                "{tag}"
            );
            assert!(!missing.contains("subject"), "{missing}");
            assert!(
                FindingEvent::from_json(missing.as_bytes()).is_err(),
                "{tag}"
            );
        }
        // The tag decides the struct: an assignment is not read as a raising.
        let data = serde_json::to_vec(&assigned()).unwrap();
        assert!(!crate::domain::tagged_first(&data, FindingRaised::TYPE));
        let closed = closed();
        let data = serde_json::to_vec(&closed).unwrap();
        assert_eq!(FindingEvent::from_json(&data).unwrap(), closed);
    }
}
