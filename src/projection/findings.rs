//! The `findings` view: every finding's current state, and the findings board — counts per
//! explanation facet, per rectification facet and per status — for each scope a board is asked
//! for: the whole committee, one organ, one inspection, one year, one appointee.
//!
//! Being overdue or due soon is **not** stored: it changes with the clock, not with events. The
//! view keeps an index of open, assigned findings ordered by due date per scope, and the query
//! judges it against the clock when it is asked.
//!
//! # Tables
//! | table | key | value |
//! |---|---|---|
//! | `findings` | `<finding id>` | [`FindingDoc`] |
//! | `counts` | `<scope>` | [`BoardCounts`] |
//! | `members` | `<scope>/<finding id>` | empty (an index: the key ends with the id) |
//! | `due` | `<scope>/<due on YYYY-MM-DD>/<finding id>` | [`DueDoc`] (open, assigned findings only) |
//!
//! A scope is written `c|<committee>`, `o|<committee>|<hex of organ>`, `i|<committee>|<inspection
//! id>`, `y|<committee>|<year>` or `a|<committee>|<appointee id>` (see [`scope_key`]). Ids contain
//! no `/` or `|`, so one scope's prefix never matches another's.
//!
//! Every event is applied the same way: take the finding's contribution out of each of its
//! scopes, change the document, put the new contribution back. So the counts are always a sum
//! over the documents, whatever the order of events.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{Projection, ProjectionError, ViewWrite};
use crate::domain::catalog::{AggregateKind, SupervisionEvent};
use crate::domain::finding::{
    Explanation, FindingAssigned, FindingEvent, FindingRaised, FindingSource, FindingStatus,
    FindingSubject, Rectification, Severity,
};
use crate::domain::ids::FindingId;
use crate::log::RecordedEvent;

/// The view's name.
pub const NAME: &str = "findings";
/// Finding documents by id.
pub const FINDINGS: &str = "findings";
/// Board counts per scope.
pub const COUNTS: &str = "counts";
/// Findings per scope.
pub const MEMBERS: &str = "members";
/// Open, assigned findings per scope by due date.
pub const DUE: &str = "due";

/// What a board or a list covers, within one committee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The whole committee.
    Committee,
    /// One organ, by exact name.
    Organ(String),
    /// One inspection.
    Inspection(String),
    /// One calendar year.
    Year(i32),
    /// One appointee.
    Appointee(String),
}

/// The key of a scope within a committee.
pub fn scope_key(committee: &str, scope: &Scope) -> String {
    match scope {
        Scope::Committee => format!("c|{committee}"),
        Scope::Organ(organ) => format!("o|{committee}|{}", super::hex_key(organ)),
        Scope::Inspection(id) => format!("i|{committee}|{id}"),
        Scope::Year(year) => format!("y|{committee}|{year:04}"),
        Scope::Appointee(id) => format!("a|{committee}|{id}"),
    }
}

fn scopes_of(subject: &FindingSubject) -> Vec<String> {
    let committee = subject.committee.as_str();
    let mut scopes = vec![
        scope_key(committee, &Scope::Committee),
        scope_key(committee, &Scope::Organ(subject.organ.clone())),
        scope_key(committee, &Scope::Year(subject.year)),
    ];
    if subject.source == FindingSource::Inspection {
        scopes.push(scope_key(
            committee,
            &Scope::Inspection(subject.source_ref.clone()),
        ));
    }
    if let Some(appointee) = &subject.appointee {
        scopes.push(scope_key(
            committee,
            &Scope::Appointee(appointee.to_string()),
        ));
    }
    scopes
}

/// A finding as the view holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingDoc {
    /// The finding.
    pub finding: FindingId,
    /// What it is about.
    pub subject: FindingSubject,
    /// Severity.
    pub severity: Severity,
    /// Description.
    pub description: String,
    /// Handling status.
    pub status: FindingStatus,
    /// The explanation facet.
    pub explanation: Explanation,
    /// The rectification facet.
    pub rectification: Rectification,
    /// Who handles it.
    pub assignee: Option<String>,
    /// The due date.
    pub due_on: Option<NaiveDate>,
    /// The committee's UTC offset recorded at assignment.
    pub utc_offset_minutes: i32,
    /// Deadline extensions so far.
    pub extensions: u32,
    /// Who raised it.
    pub raised_by: String,
    /// When it was recorded.
    pub raised_at: DateTime<Utc>,
    /// The day it was raised on the committee's calendar (absent for findings whose event did
    /// not record it: see [`FindingDoc::raised_day`]).
    #[serde(default)]
    pub raised_on: Option<NaiveDate>,
    /// Everyone who responded.
    pub responders: Vec<String>,
    /// The last response's note.
    pub last_note: String,
    /// Who verified the closing.
    pub verified_by: Option<String>,
    /// The log positions of every event that shaped this document, oldest first (provenance of
    /// scores computed from it).
    #[serde(default)]
    pub positions: Vec<u64>,
}

impl FindingDoc {
    /// The day the finding was raised: the day its event recorded, else (events written before
    /// the day was recorded) the UTC day of `raised_at`.
    pub fn raised_day(&self) -> NaiveDate {
        self.raised_on
            .unwrap_or_else(|| self.raised_at.date_naive())
    }
}

/// Counts of one scope. Every state is a key once seen; absent keys count 0.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardCounts {
    /// Findings in the scope.
    pub total: u64,
    /// Per explanation facet.
    pub explanation: BTreeMap<String, u64>,
    /// Per rectification facet.
    pub rectification: BTreeMap<String, u64>,
    /// Per status.
    pub status: BTreeMap<String, u64>,
}

/// An open, assigned finding in the due-date index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DueDoc {
    /// The finding.
    pub finding: FindingId,
    /// The organ.
    pub organ: String,
    /// The appointee named, if any.
    pub appointee: Option<String>,
    /// The due date.
    pub due_on: NaiveDate,
    /// The committee's UTC offset, to judge "today".
    pub utc_offset_minutes: i32,
}

/// The name of a facet or status as counted on the board (its serde name).
pub fn state_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

/// The board names of a document's explanation, rectification and status.
struct States {
    explanation: String,
    rectification: String,
    status: String,
}

impl States {
    fn of(doc: &FindingDoc) -> Self {
        Self {
            explanation: state_name(&doc.explanation),
            rectification: state_name(&doc.rectification),
            status: state_name(&doc.status),
        }
    }
}

fn adjust(counts: &mut BoardCounts, states: &States, add: bool) {
    let step = |map: &mut BTreeMap<String, u64>, key: &String| {
        let entry = match map.get_mut(key) {
            Some(entry) => entry,
            None => map.entry(key.clone()).or_insert(0),
        };
        *entry = if add {
            entry.saturating_add(1)
        } else {
            entry.saturating_sub(1)
        };
    };
    counts.total = if add {
        counts.total.saturating_add(1)
    } else {
        counts.total.saturating_sub(1)
    };
    step(&mut counts.explanation, &states.explanation);
    step(&mut counts.rectification, &states.rectification);
    step(&mut counts.status, &states.status);
}

fn due_key(scope: &str, doc: &FindingDoc) -> Option<String> {
    let due = doc.due_on?;
    (doc.status != FindingStatus::Closed).then(|| format!("{scope}/{due}/{}", doc.finding))
}

/// Takes a document's contribution out of (`add == false`) or puts it into its `scopes` (those of
/// its subject, [`scopes_of`]).
fn contribute(
    view: &mut ViewWrite<'_>,
    doc: &FindingDoc,
    scopes: &[String],
    add: bool,
) -> Result<(), ProjectionError> {
    let states = States::of(doc);
    for scope in scopes {
        view.update(COUNTS, scope, |counts: &mut BoardCounts| {
            adjust(counts, &states, add)
        })?;
        if let Some(key) = due_key(scope, doc) {
            if add {
                let due = DueDoc {
                    finding: doc.finding.clone(),
                    organ: doc.subject.organ.clone(),
                    appointee: doc.subject.appointee.as_ref().map(|a| a.to_string()),
                    due_on: doc.due_on.unwrap_or_default(),
                    utc_offset_minutes: doc.utc_offset_minutes,
                };
                view.put(DUE, &key, &due)?;
            } else {
                view.remove(DUE, &key)?;
            }
        }
    }
    Ok(())
}

/// Folds finding events into the `findings` view.
#[derive(Debug, Clone, Copy, Default)]
pub struct FindingsProjection;

impl Projection for FindingsProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    /// 2: `members` entries hold no value (their key ends with the finding's id).
    fn version(&self) -> u32 {
        2
    }

    fn apply(
        &self,
        view: &mut ViewWrite<'_>,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let Some(SupervisionEvent::Finding(finding_event)) =
            super::select::decode_if(event, &[AggregateKind::Finding])?
        else {
            return Ok(());
        };
        if let FindingEvent::Raised(FindingRaised {
            finding,
            subject,
            severity,
            description,
            rectification,
            raised_by,
            raised_at,
            raised_on,
        }) = &finding_event
        {
            // A finding is raised by the first event of its stream; a `FindingRaised` further
            // on repeats one already raised and changes nothing.
            if event.revision != 0 {
                return Ok(());
            }
            let doc = FindingDoc {
                finding: finding.clone(),
                subject: subject.clone(),
                severity: *severity,
                description: description.clone(),
                status: FindingStatus::Raised,
                explanation: Explanation::None,
                rectification: *rectification,
                assignee: None,
                due_on: None,
                utc_offset_minutes: 0,
                extensions: 0,
                raised_by: raised_by.clone(),
                raised_at: *raised_at,
                raised_on: *raised_on,
                responders: Vec::new(),
                last_note: String::new(),
                verified_by: None,
                positions: vec![event.position],
            };
            let scopes = scopes_of(subject);
            for scope in &scopes {
                view.put_key(MEMBERS, format!("{scope}/{finding}"));
            }
            contribute(view, &doc, &scopes, true)?;
            return view.put_owned(FINDINGS, finding.as_str(), doc);
        }
        let id = finding_id(&finding_event);
        let Some(mut doc) = view.get::<FindingDoc>(FINDINGS, id.as_str())? else {
            return Ok(());
        };
        // The subject is set when the finding is raised and never changes.
        let scopes = scopes_of(&doc.subject);
        contribute(view, &doc, &scopes, false)?;
        doc.positions.push(event.position);
        match finding_event {
            FindingEvent::Raised(_) => {}
            FindingEvent::Assigned(FindingAssigned {
                assignee,
                due_on,
                utc_offset_minutes,
                ..
            }) => {
                doc.status = FindingStatus::Assigned;
                doc.assignee = Some(assignee);
                doc.due_on = Some(due_on);
                doc.utc_offset_minutes = utc_offset_minutes;
            }
            FindingEvent::DeadlineExtended { due_on, .. } => {
                doc.due_on = Some(due_on);
                doc.extensions = doc.extensions.saturating_add(1);
            }
            FindingEvent::Responded {
                explanation,
                rectification,
                note,
                responded_by,
                ..
            } => {
                doc.status = FindingStatus::Responded;
                doc.explanation = explanation;
                doc.rectification = rectification;
                doc.last_note = note;
                if !doc.responders.contains(&responded_by) {
                    doc.responders.push(responded_by);
                }
            }
            FindingEvent::Closed { verified_by, .. } => {
                doc.status = FindingStatus::Closed;
                doc.verified_by = Some(verified_by);
            }
            FindingEvent::Reopened { .. } => doc.status = FindingStatus::Reopened,
        }
        contribute(view, &doc, &scopes, true)?;
        view.put_owned(FINDINGS, id.as_str(), doc)
    }
}

fn finding_id(event: &FindingEvent) -> FindingId {
    match event {
        FindingEvent::Raised(FindingRaised { finding, .. })
        | FindingEvent::Assigned(FindingAssigned { finding, .. })
        | FindingEvent::DeadlineExtended { finding, .. }
        | FindingEvent::Responded { finding, .. }
        | FindingEvent::Closed { finding, .. }
        | FindingEvent::Reopened { finding, .. } => finding.clone(),
    }
}
