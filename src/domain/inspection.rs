//! The inspection (三查): an enforcement inspection of a law (执法检查), a deputies' view (视察) or a
//! check of officials' competence, over the organs in scope, ending in an inspection report.
//! Findings raised from it live in their own streams (see `finding`).
//!
//! Stream: `inspection-<inspection id>`.

use chrono::Datelike;
use serde::{Deserialize, Serialize};

use super::ids::{CommitteeId, InspectionId};
use super::lookup::CommitteeRef;
use super::{Aggregate, Context, DomainEvent, Rejection, validate};

/// The earliest year accepted: the first standing committees of local people's congresses date
/// from 1979, so nothing earlier can be a supervision record.
pub const FIRST_YEAR: i32 = 1979;

/// What kind of inspection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InspectionKind {
    /// 执法检查: how a law is enforced; names the law.
    LawEnforcement,
    /// 代表视察.
    DeputiesView,
    /// Leaders' and enforcement officers' competence (业务素质、能力与水平).
    CompetenceCheck,
}

/// Checks a plan or inspection year: from [`FIRST_YEAR`] to next year (plans are adopted ahead).
pub fn validate_year(field: &str, year: i32, ctx: &Context) -> Result<(), Rejection> {
    let next = ctx.now.year().saturating_add(1);
    if !(FIRST_YEAR..=next).contains(&year) {
        return Err(Rejection::invalid(
            field,
            format!("must be between {FIRST_YEAR} and {next}"),
        ));
    }
    Ok(())
}

/// What can be asked about an inspection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum InspectionCommand {
    /// Opens an inspection.
    Open {
        /// The inspection's id.
        id: InspectionId,
        /// The committee, looked up by the handler.
        committee: CommitteeRef,
        /// Its kind.
        kind: InspectionKind,
        /// Its title, e.g. 《食品安全法》执法检查.
        title: String,
        /// The law inspected; required for a law-enforcement inspection.
        law_reference: Option<String>,
        /// The year it belongs to (of the annual plan).
        year: i32,
        /// Names of the organs in scope.
        organs: Vec<String>,
    },
    /// Records the inspection report.
    RecordReport {
        /// The overall evaluation.
        evaluation: String,
        /// Problems found (each may become a finding).
        problems: Vec<String>,
        /// Suggestions to the organs.
        suggestions: Vec<String>,
    },
}

/// What happened to an inspection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum InspectionEvent {
    /// An inspection was opened.
    #[serde(rename = "InspectionOpened.v1")]
    Opened {
        /// The inspection.
        inspection: InspectionId,
        /// Its committee.
        committee: CommitteeId,
        /// Its kind.
        kind: InspectionKind,
        /// Its title.
        title: String,
        /// The law inspected, if any.
        law_reference: Option<String>,
        /// Its year.
        year: i32,
        /// Organs in scope.
        organs: Vec<String>,
        /// Who opened it.
        opened_by: String,
    },
    /// The inspection report was recorded.
    #[serde(rename = "InspectionReportRecorded.v1")]
    ReportRecorded {
        /// The inspection.
        inspection: InspectionId,
        /// Its committee.
        committee: CommitteeId,
        /// Its year (for per-year views).
        year: i32,
        /// The overall evaluation.
        evaluation: String,
        /// Problems found.
        problems: Vec<String>,
        /// Suggestions.
        suggestions: Vec<String>,
        /// Who recorded it.
        recorded_by: String,
    },
}

impl DomainEvent for InspectionEvent {
    fn event_type(&self) -> &'static str {
        match self {
            InspectionEvent::Opened { .. } => "InspectionOpened.v1",
            InspectionEvent::ReportRecorded { .. } => "InspectionReportRecorded.v1",
        }
    }
}

/// An opened inspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedInspection {
    /// The inspection.
    pub id: InspectionId,
    /// Its committee.
    pub committee: CommitteeId,
    /// Its year.
    pub year: i32,
    /// Whether its report is recorded.
    pub reported: bool,
}

/// An inspection as far as deciding needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inspection {
    /// The inspection, once opened.
    pub opened: Option<OpenedInspection>,
}

impl Aggregate for Inspection {
    type Command = InspectionCommand;
    type Event = InspectionEvent;

    fn decide(
        &self,
        command: &InspectionCommand,
        ctx: &Context,
    ) -> Result<Vec<InspectionEvent>, Rejection> {
        match command {
            InspectionCommand::Open {
                id,
                committee,
                kind,
                title,
                law_reference,
                year,
                organs,
            } => {
                validate::name("title", title)?;
                match law_reference {
                    Some(law) => validate::name("law_reference", law)?,
                    None if *kind == InspectionKind::LawEnforcement => {
                        return Err(Rejection::invalid(
                            "law_reference",
                            "is required for a law_enforcement inspection",
                        ));
                    }
                    None => {}
                }
                validate_year("year", *year, ctx)?;
                validate::names("organs", organs, true)?;
                if let Some(existing) = &self.opened {
                    return Err(Rejection::precondition(format!(
                        "inspection {} is already open",
                        existing.id
                    )));
                }
                committee.require("committee")?;
                Ok(vec![InspectionEvent::Opened {
                    inspection: id.clone(),
                    committee: committee.id.clone(),
                    kind: *kind,
                    title: title.clone(),
                    law_reference: law_reference.clone(),
                    year: *year,
                    organs: organs.clone(),
                    opened_by: ctx.actor.clone(),
                }])
            }
            InspectionCommand::RecordReport {
                evaluation,
                problems,
                suggestions,
            } => {
                validate::text("evaluation", evaluation)?;
                validate::texts("problems", problems)?;
                validate::texts("suggestions", suggestions)?;
                let opened = self
                    .opened
                    .as_ref()
                    .ok_or_else(|| Rejection::NotFound("inspection does not exist".into()))?;
                if opened.reported {
                    return Err(Rejection::precondition(format!(
                        "the report of inspection {} is already recorded",
                        opened.id
                    )));
                }
                Ok(vec![InspectionEvent::ReportRecorded {
                    inspection: opened.id.clone(),
                    committee: opened.committee.clone(),
                    year: opened.year,
                    evaluation: evaluation.clone(),
                    problems: problems.clone(),
                    suggestions: suggestions.clone(),
                    recorded_by: ctx.actor.clone(),
                }])
            }
        }
    }

    fn apply(&mut self, event: &InspectionEvent) {
        match event {
            InspectionEvent::Opened {
                inspection,
                committee,
                year,
                ..
            } => {
                self.opened = Some(OpenedInspection {
                    id: inspection.clone(),
                    committee: committee.clone(),
                    year: *year,
                    reported: false,
                });
            }
            InspectionEvent::ReportRecorded { .. } => {
                if let Some(opened) = &mut self.opened {
                    opened.reported = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::committee::CommitteeLevel;
    use crate::domain::lookup::CommitteeFacts;
    use crate::domain::testing::given;

    fn cid() -> CommitteeId {
        CommitteeId::parse("xiangfang").unwrap()
    }

    fn iid() -> InspectionId {
        InspectionId::parse("i1").unwrap()
    }

    fn known() -> CommitteeRef {
        CommitteeRef::found(
            cid(),
            CommitteeFacts {
                level: CommitteeLevel::District,
            },
        )
    }

    fn open() -> InspectionCommand {
        InspectionCommand::Open {
            id: iid(),
            committee: known(),
            kind: InspectionKind::LawEnforcement,
            title: "《食品安全法》执法检查".into(),
            law_reference: Some("中华人民共和国食品安全法".into()),
            year: 2017,
            organs: vec!["区市场监督管理局".into()],
        }
    }

    fn with_open(change: impl FnOnce(&mut InspectionCommand)) -> InspectionCommand {
        let mut command = open();
        change(&mut command);
        command
    }

    fn opened() -> InspectionEvent {
        InspectionEvent::Opened {
            inspection: iid(),
            committee: cid(),
            kind: InspectionKind::LawEnforcement,
            title: "《食品安全法》执法检查".into(),
            law_reference: Some("中华人民共和国食品安全法".into()),
            year: 2017,
            organs: vec!["区市场监督管理局".into()],
            opened_by: "clerk-1".into(),
        }
    }

    fn report() -> InspectionCommand {
        InspectionCommand::RecordReport {
            evaluation: "总体较好".into(),
            problems: vec!["抽检覆盖不足".into()],
            suggestions: vec!["扩大抽检范围".into()],
        }
    }

    fn reported() -> InspectionEvent {
        InspectionEvent::ReportRecorded {
            inspection: iid(),
            committee: cid(),
            year: 2017,
            evaluation: "总体较好".into(),
            problems: vec!["抽检覆盖不足".into()],
            suggestions: vec!["扩大抽检范围".into()],
            recorded_by: "clerk-1".into(),
        }
    }

    #[test]
    fn a_law_enforcement_inspection_is_opened() {
        given::<Inspection>(vec![])
            .when(open())
            .then_events(vec![opened()]);
    }

    #[test]
    fn a_deputies_view_needs_no_law() {
        given::<Inspection>(vec![])
            .when(with_open(|c| {
                if let InspectionCommand::Open {
                    kind,
                    law_reference,
                    ..
                } = c
                {
                    *kind = InspectionKind::DeputiesView;
                    *law_reference = None;
                }
            }))
            .then_ok();
    }

    #[test]
    fn a_law_enforcement_inspection_without_a_law_is_refused() {
        given::<Inspection>(vec![])
            .when(with_open(|c| {
                if let InspectionCommand::Open { law_reference, .. } = c {
                    *law_reference = None;
                }
            }))
            .then_invalid("law_reference");
    }

    #[test]
    fn a_year_out_of_range_is_refused() {
        for bad in [1978, 2019] {
            given::<Inspection>(vec![])
                .when(with_open(|c| {
                    if let InspectionCommand::Open { year, .. } = c {
                        *year = bad;
                    }
                }))
                .then_rejects(Rejection::invalid("year", "must be between 1979 and 2018"));
        }
    }

    #[test]
    fn an_inspection_without_organs_is_refused() {
        given::<Inspection>(vec![])
            .when(with_open(|c| {
                if let InspectionCommand::Open { organs, .. } = c {
                    organs.clear();
                }
            }))
            .then_invalid("organs");
    }

    #[test]
    fn an_inspection_without_a_title_is_refused() {
        given::<Inspection>(vec![])
            .when(with_open(|c| {
                if let InspectionCommand::Open { title, .. } = c {
                    title.clear();
                }
            }))
            .then_invalid("title");
    }

    #[test]
    fn an_inspection_is_not_opened_twice() {
        given::<Inspection>(vec![opened()])
            .when(open())
            .then_precondition("already open");
    }

    #[test]
    fn an_inspection_of_an_unknown_committee_is_refused() {
        given::<Inspection>(vec![])
            .when(with_open(|c| {
                if let InspectionCommand::Open { committee, .. } = c {
                    *committee = CommitteeRef::missing(cid());
                }
            }))
            .then_not_found("committee xiangfang");
    }

    #[test]
    fn the_report_is_recorded() {
        given::<Inspection>(vec![opened()])
            .when(report())
            .then_events(vec![reported()]);
    }

    #[test]
    fn the_report_is_recorded_once() {
        given::<Inspection>(vec![opened(), reported()])
            .when(report())
            .then_precondition("already recorded");
    }

    #[test]
    fn a_report_without_an_evaluation_is_refused() {
        given::<Inspection>(vec![opened()])
            .when(InspectionCommand::RecordReport {
                evaluation: "".into(),
                problems: vec![],
                suggestions: vec![],
            })
            .then_invalid("evaluation");
    }

    #[test]
    fn a_blank_problem_is_refused() {
        given::<Inspection>(vec![opened()])
            .when(InspectionCommand::RecordReport {
                evaluation: "总体较好".into(),
                problems: vec!["".into()],
                suggestions: vec![],
            })
            .then_invalid("problems[0]");
    }

    #[test]
    fn a_report_of_an_unknown_inspection_is_refused() {
        given::<Inspection>(vec![])
            .when(report())
            .then_not_found("inspection");
    }

    #[test]
    fn a_blank_law_reference_is_refused_even_where_optional() {
        given::<Inspection>(vec![])
            .when(with_open(|c| {
                if let InspectionCommand::Open {
                    kind,
                    law_reference,
                    ..
                } = c
                {
                    *kind = InspectionKind::CompetenceCheck;
                    *law_reference = Some(" ".into());
                }
            }))
            .then_invalid("law_reference");
    }

    #[test]
    fn a_blank_suggestion_is_refused() {
        given::<Inspection>(vec![opened()])
            .when(InspectionCommand::RecordReport {
                evaluation: "总体较好".into(),
                problems: vec![],
                suggestions: vec!["ok".into(), "".into()],
            })
            .then_invalid("suggestions[1]");
    }
}
