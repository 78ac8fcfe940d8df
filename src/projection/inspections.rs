//! The `inspections` view: every inspection with its report, indexed per committee and year,
//! and the annual inspection plans.
//!
//! # Tables
//! | table | key | value |
//! |---|---|---|
//! | `inspections` | `<inspection id>` | [`InspectionDoc`] |
//! | `by_year` | `<committee id>|<year, 4 digits>|<inspection id>` | empty (an index: the key ends with the id) |
//! | `plans` | `<committee id>|<year, 4 digits>` | [`PlanDoc`], with its adoption and revisions |

use serde::{Deserialize, Serialize};

use super::{Projection, ProjectionError, ViewWrite};
use crate::domain::annual_plan::AnnualPlanEvent;
use crate::domain::catalog::{AggregateKind, SupervisionEvent};
use crate::domain::ids::{CommitteeId, InspectionId};
use crate::domain::inspection::{InspectionEvent, InspectionKind};
use crate::log::RecordedEvent;

/// The view's name.
pub const NAME: &str = "inspections";
/// Inspection documents by id.
pub const INSPECTIONS: &str = "inspections";
/// Index per committee and year.
pub const BY_YEAR: &str = "by_year";
/// Annual plans per committee and year.
pub const PLANS: &str = "plans";

/// The report of an inspection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportDoc {
    /// The overall evaluation.
    pub evaluation: String,
    /// Problems found.
    pub problems: Vec<String>,
    /// Suggestions.
    pub suggestions: Vec<String>,
    /// Who recorded it.
    pub recorded_by: String,
}

/// An inspection as the view holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InspectionDoc {
    /// The inspection.
    pub inspection: InspectionId,
    /// Its committee.
    pub committee: CommitteeId,
    /// Its kind.
    pub kind: InspectionKind,
    /// Its title.
    pub title: String,
    /// The law inspected.
    pub law_reference: Option<String>,
    /// Its year.
    pub year: i32,
    /// Organs in scope.
    pub organs: Vec<String>,
    /// Who opened it.
    pub opened_by: String,
    /// The report, once recorded.
    pub report: Option<ReportDoc>,
}

/// An annual plan as the view holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanDoc {
    /// The laws in force.
    pub laws: Vec<String>,
    /// The warnings of the last decision.
    pub warnings: Vec<String>,
    /// Its adoption and every revision, oldest first (since view version 2).
    #[serde(default)]
    pub changes: Vec<PlanChange>,
}

/// One decision on an annual plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanChange {
    /// Whether it was the adoption or a revision.
    pub kind: PlanChangeKind,
    /// The laws it put in force.
    pub laws: Vec<String>,
    /// Why (a revision's reason; empty for the adoption).
    pub reason: String,
    /// Who decided it.
    pub decided_by: String,
    /// The event's position in the log.
    pub position: u64,
}

/// What a [`PlanChange`] was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanChangeKind {
    /// The plan was adopted.
    Adopted,
    /// The plan's laws were replaced.
    Revised,
}

/// The key prefix of a committee's inspections, optionally of one year.
pub fn year_prefix(committee: &str, year: Option<i32>) -> String {
    match year {
        Some(year) => format!("{committee}|{year:04}|"),
        None => format!("{committee}|"),
    }
}

/// The key of a committee's plan of one year in the `plans` table.
pub fn plan_key(committee: &str, year: i32) -> String {
    format!("{committee}|{year:04}")
}

/// Folds inspection and plan events into the `inspections` view.
#[derive(Debug, Clone, Copy, Default)]
pub struct InspectionsProjection;

impl Projection for InspectionsProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    /// 2: plans keep their adoption and revisions ([`PlanDoc::changes`]). 3: `by_year` entries
    /// hold no value (the key ends with the inspection's id).
    fn version(&self) -> u32 {
        3
    }

    fn apply(
        &self,
        view: &mut ViewWrite<'_>,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let decoded = super::select::decode_if(
            event,
            &[AggregateKind::Inspection, AggregateKind::AnnualPlan],
        )?;
        match decoded {
            Some(SupervisionEvent::Inspection(InspectionEvent::Opened {
                inspection,
                committee,
                kind,
                title,
                law_reference,
                year,
                organs,
                opened_by,
            })) => {
                let key = format!(
                    "{}{inspection}",
                    year_prefix(committee.as_str(), Some(year))
                );
                view.put_key(BY_YEAR, key);
                let doc = InspectionDoc {
                    inspection: inspection.clone(),
                    committee,
                    kind,
                    title,
                    law_reference,
                    year,
                    organs,
                    opened_by,
                    report: None,
                };
                view.put(INSPECTIONS, inspection.as_str(), &doc)
            }
            Some(SupervisionEvent::Inspection(InspectionEvent::ReportRecorded {
                inspection,
                evaluation,
                problems,
                suggestions,
                recorded_by,
                ..
            })) => {
                let Some(mut doc) = view.get::<InspectionDoc>(INSPECTIONS, inspection.as_str())?
                else {
                    return Ok(());
                };
                doc.report = Some(ReportDoc {
                    evaluation,
                    problems,
                    suggestions,
                    recorded_by,
                });
                view.put(INSPECTIONS, inspection.as_str(), &doc)
            }
            Some(SupervisionEvent::AnnualPlan(plan_event)) => {
                let (committee, year, warnings, change) = match plan_event {
                    AnnualPlanEvent::Adopted {
                        committee,
                        year,
                        laws,
                        warnings,
                        adopted_by,
                    } => (
                        committee,
                        year,
                        warnings,
                        PlanChange {
                            kind: PlanChangeKind::Adopted,
                            laws,
                            reason: String::new(),
                            decided_by: adopted_by,
                            position: event.position,
                        },
                    ),
                    AnnualPlanEvent::Revised {
                        committee,
                        year,
                        laws,
                        reason,
                        warnings,
                        revised_by,
                    } => (
                        committee,
                        year,
                        warnings,
                        PlanChange {
                            kind: PlanChangeKind::Revised,
                            laws,
                            reason,
                            decided_by: revised_by,
                            position: event.position,
                        },
                    ),
                };
                let key = plan_key(committee.as_str(), year);
                view.update(PLANS, &key, |doc: &mut PlanDoc| {
                    doc.laws.clone_from(&change.laws);
                    doc.warnings = warnings;
                    doc.changes.push(change);
                })
            }
            _ => Ok(()),
        }
    }
}
