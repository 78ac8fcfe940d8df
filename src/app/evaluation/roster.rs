//! The roster snapshot of a session whose constituency is the people's deputies: the current
//! deputies of the committee's deputy groups (or of the groups the clerk names), taken when the
//! session is scheduled.
//!
//! The groups of a committee come from the `registry` view (waited for up to the log's head, so a
//! group formed just before is seen); each group's deputies are folded from its own stream in the
//! log, so the roster never lags behind an `AddDeputy` the clerk has been told succeeded. A
//! deputy in two groups is on the roster once.

use std::collections::BTreeSet;

use crate::app::{App, AppError};
use crate::domain::appointee::Appointee;
use crate::domain::deputy_group::DeputyGroup;
use crate::domain::evaluation::{AppointeeId, MemberId};
use crate::domain::ids::{CommitteeId, DeputyGroupId, appointee_stream, deputy_group_stream};
use crate::log::{ExpectedRevision, StreamName};
use crate::projection::registry::{self, GroupDoc};

/// Groups read per view scan.
const GROUP_CHUNK: usize = 500;

/// Every subject of a session must be an appointee of the holding committee whose term covers
/// the meeting date (the last day in office included), read from the appointee's own stream.
/// As in every service: an unknown appointee is NOT_FOUND; another committee's, or one not
/// serving on the date, is FAILED_PRECONDITION. Each error names `subjects[i]` and the rule.
///
/// Returns each subject's stream at the revision it was checked at: the conditions under which
/// the session may be scheduled (an appointment ended in between refuses the append).
pub(super) async fn check_subjects(
    state: &App,
    committee: &CommitteeId,
    date: chrono::NaiveDate,
    subjects: &[AppointeeId],
) -> Result<Vec<(StreamName, ExpectedRevision)>, AppError> {
    let mut checked = Vec::with_capacity(subjects.len());
    for (i, subject) in subjects.iter().enumerate() {
        let field = format!("subjects[{i}]");
        let stream = StreamName::new(appointee_stream(subject))?;
        let loaded = state.handler.load::<Appointee>(&stream).await?;
        checked.push((stream, loaded.expected()));
        let Some(appointment) = loaded.state.appointment else {
            return Err(AppError::not_found(format!(
                "{field}: appointee {subject} does not exist; register the appointee first"
            )));
        };
        if &appointment.committee != committee {
            return Err(AppError::precondition(format!(
                "{field}: appointee {subject} belongs to committee {}, not {committee}; a \
                 committee evaluates only its own appointees",
                appointment.committee
            )));
        }
        if date < appointment.appointed_on {
            return Err(AppError::precondition(format!(
                "{field}: appointee {subject} is not serving on the meeting date {date}: the \
                 term starts on {}",
                appointment.appointed_on
            )));
        }
        if let Some((_, ended)) = appointment.ended.filter(|(_, on)| *on < date) {
            return Err(AppError::precondition(format!(
                "{field}: appointee {subject} is not serving on the meeting date {date}: the \
                 term ended on {ended}"
            )));
        }
    }
    Ok(checked)
}

/// The deputies entitled to vote: of `groups`, or of every deputy group of `committee` when
/// `groups` is empty. Every group must belong to the committee. With the roster, each group's
/// stream at the revision its deputies were read at (conditions of the scheduling append).
pub(super) async fn deputy_roster(
    state: &App,
    committee: &CommitteeId,
    groups: &[DeputyGroupId],
) -> Result<(Vec<MemberId>, Vec<(StreamName, ExpectedRevision)>), AppError> {
    let groups = if groups.is_empty() {
        committee_groups(state, committee).await?
    } else {
        let mut named = Vec::with_capacity(groups.len());
        for raw in groups {
            if named.contains(raw) {
                return Err(AppError::invalid(
                    "deputy_groups",
                    format!("lists {raw} twice"),
                ));
            }
            named.push(raw.clone());
        }
        named
    };
    let mut roster = BTreeSet::new();
    let mut read = Vec::with_capacity(groups.len());
    for group in &groups {
        let stream = StreamName::new(deputy_group_stream(group))?;
        let loaded = state.handler.load::<DeputyGroup>(&stream).await?;
        read.push((stream, loaded.expected()));
        let Some((_, owner)) = loaded.state.formed.as_ref() else {
            return Err(AppError::not_found(format!(
                "deputy group {group} does not exist"
            )));
        };
        if owner != committee {
            return Err(AppError::invalid(
                "deputy_groups",
                format!("group {group} belongs to committee {owner}, not {committee}"),
            ));
        }
        for deputy in loaded.state.deputies.keys() {
            roster.insert(MemberId::parse(deputy.as_str())?);
        }
    }
    if roster.is_empty() {
        return Err(AppError::precondition(format!(
            "committee {committee} has no deputies in {}; add deputies to its deputy groups first",
            if groups.is_empty() {
                "any deputy group".to_owned()
            } else {
                format!("the deputy groups {}", join(&groups))
            }
        )));
    }
    Ok((roster.into_iter().collect(), read))
}

/// Every deputy group of the committee, from the `registry` view caught up to the log's head.
async fn committee_groups(
    state: &App,
    committee: &CommitteeId,
) -> Result<Vec<DeputyGroupId>, AppError> {
    let head = state.store.head().await?.position;
    if head > 0 {
        state
            .views
            .wait_for(registry::NAME, head, state.default_wait)
            .await?;
    }
    let read = state.views.read()?;
    let prefix = registry::committee_key(committee.as_str(), "");
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let chunk: Vec<(String, GroupDoc)> = read.scan(
            registry::NAME,
            registry::GROUPS_BY_COMMITTEE,
            &prefix,
            after.as_deref(),
            GROUP_CHUNK,
        )?;
        let exhausted = chunk.len() < GROUP_CHUNK;
        for (key, doc) in chunk {
            out.push(DeputyGroupId::parse(doc.id.as_str())?);
            after = Some(key);
        }
        if exhausted {
            return Ok(out);
        }
    }
}

fn join(groups: &[DeputyGroupId]) -> String {
    groups
        .iter()
        .map(DeputyGroupId::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}
