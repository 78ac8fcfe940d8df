//! The register view (`registry`): committees with their members and children, appointees with
//! their term history, and deputy groups, folded from the `committee-`, `appointee-` and `group-`
//! streams.
//!
//! # Tables and keys
//! | table | key | document |
//! |---|---|---|
//! | `committees` | `<committee>` | [`CommitteeDoc`] (members included) |
//! | `children` | `<parent>/<child>` | [`CommitteeDoc`] of the child (members left out) |
//! | `appointees` | `<appointee>` | [`AppointeeDoc`] |
//! | `appointees_by_committee` | `<committee>/<appointee>` | [`AppointeeDoc`] (same document) |
//! | `groups` | `<group>` | [`GroupDoc`] |
//! | `groups_by_committee` | `<committee>/<group>` | [`GroupDoc`] (same document) |
//! | `policies` | `<committee>` | [`PolicyDoc`]: the supervision policy in force (absent: the shipped default) |
//!
//! Ids never contain `/` (see `domain::ids`), so a `<committee>/` prefix selects exactly one
//! committee's entries. The duplicated documents are written in the same transaction, so the
//! by-id and by-committee tables never disagree.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{Projection, ProjectionError, ViewWrite};
use crate::domain::appointee::{AppointeeEvent, OrganKind, TermEndKind};
use crate::domain::catalog::{AggregateKind, SupervisionEvent};
use crate::domain::committee::{CommitteeEvent, CommitteeLevel};
use crate::domain::deputy_group::DeputyGroupEvent;
use crate::domain::supervision_policy::SupervisionPolicy;
use crate::log::RecordedEvent;

/// The projection's name, as passed to `Views::wait_for` and `RebuildView`.
pub const NAME: &str = "registry";
/// Committees by id.
pub const COMMITTEES: &str = "committees";
/// Children by `<parent>/<child>`.
pub const CHILDREN: &str = "children";
/// Appointees by id.
pub const APPOINTEES: &str = "appointees";
/// Appointees by `<committee>/<appointee>`.
pub const APPOINTEES_BY_COMMITTEE: &str = "appointees_by_committee";
/// Deputy groups by id.
pub const GROUPS: &str = "groups";
/// Deputy groups by `<committee>/<group>`.
pub const GROUPS_BY_COMMITTEE: &str = "groups_by_committee";
/// The supervision policy in force, by committee (no entry: the shipped default, version 0).
pub const POLICIES: &str = "policies";

/// A committee member's seat, kept after removal as history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberDoc {
    /// The member's id.
    pub member: String,
    /// The member's name.
    pub name: String,
    /// First day.
    pub from: NaiveDate,
    /// Last day, if known.
    pub to: Option<NaiveDate>,
    /// Whether still seated.
    pub seated: bool,
}

/// A committee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitteeDoc {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its level.
    pub level: CommitteeLevel,
    /// Its parent, if any.
    pub parent: Option<String>,
    /// Members in id order, seated and former.
    pub members: Vec<MemberDoc>,
    /// Position of the last event that changed it.
    pub position: u64,
}

/// The supervision policy a committee adopted last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyDoc {
    /// The committee.
    pub committee: String,
    /// The policy's version (1, 2, …).
    pub version: u32,
    /// The whole policy.
    pub policy: SupervisionPolicy,
    /// Position of the adoption.
    pub position: u64,
}

/// One post of a term.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostDoc {
    /// The post.
    pub post: String,
    /// The organ.
    pub organ_name: String,
    /// First day.
    pub from: NaiveDate,
    /// Last day, once left.
    pub to: Option<NaiveDate>,
    /// The appointing meeting.
    pub appointing_meeting: String,
}

/// How a term ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TermEndDoc {
    /// How.
    pub kind: TermEndKind,
    /// Last day in office.
    pub on: NaiveDate,
    /// Why.
    pub reason: String,
}

/// An appointee with the history of their term.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppointeeDoc {
    /// Their id.
    pub id: String,
    /// The appointing committee.
    pub committee: String,
    /// Full name.
    pub name: String,
    /// Kind of organ.
    pub organ_kind: OrganKind,
    /// Start of the term.
    pub appointed_on: NaiveDate,
    /// Every post, oldest first; the last is the current one.
    pub posts: Vec<PostDoc>,
    /// How the term ended, if it has.
    pub term_end: Option<TermEndDoc>,
    /// Position of the last event that changed it.
    pub position: u64,
}

/// A deputy in a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeputyDoc {
    /// The deputy's id.
    pub deputy: String,
    /// The deputy's name.
    pub name: String,
}

/// A deputy group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupDoc {
    /// Its id.
    pub id: String,
    /// Its committee.
    pub committee: String,
    /// Its name.
    pub name: String,
    /// Current deputies in id order.
    pub deputies: Vec<DeputyDoc>,
    /// Position of the last event that changed it.
    pub position: u64,
}

/// Key of a per-committee entry.
pub fn committee_key(committee: &str, id: &str) -> String {
    format!("{committee}/{id}")
}

/// Folds committees, appointees and deputy groups.
#[derive(Debug, Default, Clone, Copy)]
pub struct RegistryProjection;

impl Projection for RegistryProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn apply(
        &self,
        view: &mut ViewWrite<'_>,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let decoded = super::select::decode_if(
            event,
            &[
                AggregateKind::Committee,
                AggregateKind::Appointee,
                AggregateKind::DeputyGroup,
            ],
        )?;
        match decoded {
            Some(SupervisionEvent::Committee(e)) => committee(view, e, event.position),
            Some(SupervisionEvent::Appointee(e)) => appointee(view, e, event.position),
            Some(SupervisionEvent::DeputyGroup(e)) => group(view, e, event.position),
            _ => Ok(()),
        }
    }
}

fn put_committee(view: &mut ViewWrite<'_>, doc: &CommitteeDoc) -> Result<(), ProjectionError> {
    view.put(COMMITTEES, &doc.id, doc)?;
    if let Some(parent) = &doc.parent {
        let child = CommitteeDoc {
            members: Vec::new(),
            ..doc.clone()
        };
        view.put(CHILDREN, &committee_key(parent, &doc.id), &child)?;
    }
    Ok(())
}

fn committee(
    view: &mut ViewWrite<'_>,
    event: CommitteeEvent,
    position: u64,
) -> Result<(), ProjectionError> {
    match event {
        CommitteeEvent::Created {
            committee,
            name,
            level,
            parent,
        } => put_committee(
            view,
            &CommitteeDoc {
                id: committee.to_string(),
                name,
                level,
                parent: parent.map(|p| p.to_string()),
                members: Vec::new(),
                position,
            },
        ),
        CommitteeEvent::MemberAdded {
            committee,
            member,
            name,
            from,
            to,
        } => {
            let Some(mut doc) = view.get::<CommitteeDoc>(COMMITTEES, committee.as_str())? else {
                return Ok(());
            };
            let seat = MemberDoc {
                member: member.to_string(),
                name,
                from,
                to,
                seated: true,
            };
            // A member re-seated after removal gets a fresh seat in place of the old one.
            match doc
                .members
                .binary_search_by(|m| m.member.as_str().cmp(member.as_str()))
            {
                Ok(i) => doc.members[i] = seat,
                Err(i) => doc.members.insert(i, seat),
            }
            doc.position = position;
            put_committee(view, &doc)
        }
        CommitteeEvent::MemberRemoved {
            committee,
            member,
            to,
            ..
        } => {
            let Some(mut doc) = view.get::<CommitteeDoc>(COMMITTEES, committee.as_str())? else {
                return Ok(());
            };
            if let Some(seat) = doc.members.iter_mut().find(|m| m.member == member.as_str()) {
                seat.to = Some(to);
                seat.seated = false;
            }
            doc.position = position;
            put_committee(view, &doc)
        }
        CommitteeEvent::SupervisionPolicyAdopted {
            committee,
            version,
            policy,
        } => view.put(
            POLICIES,
            committee.as_str(),
            &PolicyDoc {
                committee: committee.to_string(),
                version,
                policy,
                position,
            },
        ),
    }
}

fn put_appointee(view: &mut ViewWrite<'_>, doc: &AppointeeDoc) -> Result<(), ProjectionError> {
    view.put(APPOINTEES, &doc.id, doc)?;
    view.put(
        APPOINTEES_BY_COMMITTEE,
        &committee_key(&doc.committee, &doc.id),
        doc,
    )
}

fn appointee(
    view: &mut ViewWrite<'_>,
    event: AppointeeEvent,
    position: u64,
) -> Result<(), ProjectionError> {
    match event {
        AppointeeEvent::Registered {
            appointee,
            committee,
            name,
            post,
            organ_kind,
            organ_name,
            appointed_on,
            appointing_meeting,
        } => put_appointee(
            view,
            &AppointeeDoc {
                id: appointee.to_string(),
                committee: committee.to_string(),
                name,
                organ_kind,
                appointed_on,
                posts: vec![PostDoc {
                    post,
                    organ_name,
                    from: appointed_on,
                    to: None,
                    appointing_meeting,
                }],
                term_end: None,
                position,
            },
        ),
        AppointeeEvent::PostChanged {
            appointee,
            post,
            organ_name,
            on,
            appointing_meeting,
            ..
        } => {
            let Some(mut doc) = view.get::<AppointeeDoc>(APPOINTEES, appointee.as_str())? else {
                return Ok(());
            };
            if let Some(current) = doc.posts.last_mut() {
                current.to = Some(on);
            }
            doc.posts.push(PostDoc {
                post,
                organ_name,
                from: on,
                to: None,
                appointing_meeting,
            });
            doc.position = position;
            put_appointee(view, &doc)
        }
        AppointeeEvent::TermEnded {
            appointee,
            kind,
            on,
            reason,
            ..
        } => {
            let Some(mut doc) = view.get::<AppointeeDoc>(APPOINTEES, appointee.as_str())? else {
                return Ok(());
            };
            if let Some(current) = doc.posts.last_mut() {
                current.to = Some(on);
            }
            doc.term_end = Some(TermEndDoc { kind, on, reason });
            doc.position = position;
            put_appointee(view, &doc)
        }
    }
}

fn put_group(view: &mut ViewWrite<'_>, doc: &GroupDoc) -> Result<(), ProjectionError> {
    view.put(GROUPS, &doc.id, doc)?;
    view.put(
        GROUPS_BY_COMMITTEE,
        &committee_key(&doc.committee, &doc.id),
        doc,
    )
}

fn group(
    view: &mut ViewWrite<'_>,
    event: DeputyGroupEvent,
    position: u64,
) -> Result<(), ProjectionError> {
    match event {
        DeputyGroupEvent::Formed {
            group,
            committee,
            name,
        } => put_group(
            view,
            &GroupDoc {
                id: group.to_string(),
                committee: committee.to_string(),
                name,
                deputies: Vec::new(),
                position,
            },
        ),
        DeputyGroupEvent::DeputyAdded {
            group,
            deputy,
            name,
            ..
        } => {
            let Some(mut doc) = view.get::<GroupDoc>(GROUPS, group.as_str())? else {
                return Ok(());
            };
            let entry = DeputyDoc {
                deputy: deputy.to_string(),
                name,
            };
            match doc
                .deputies
                .binary_search_by(|d| d.deputy.as_str().cmp(deputy.as_str()))
            {
                Ok(i) => doc.deputies[i] = entry,
                Err(i) => doc.deputies.insert(i, entry),
            }
            doc.position = position;
            put_group(view, &doc)
        }
        DeputyGroupEvent::DeputyRemoved { group, deputy, .. } => {
            let Some(mut doc) = view.get::<GroupDoc>(GROUPS, group.as_str())? else {
                return Ok(());
            };
            doc.deputies.retain(|d| d.deputy != deputy.as_str());
            doc.position = position;
            put_group(view, &doc)
        }
    }
}
