//! The deputy group (代表小组): the people's deputies who file site visits and inspection notes
//! for a committee.
//!
//! Stream: `group-<group id>`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ids::{CommitteeId, DeputyGroupId, DeputyId};
use super::lookup::{CommitteeRef, DeputyGroupFacts};
use super::{Aggregate, Context, DomainEvent, Rejection, validate};

/// What can be asked of a deputy group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeputyGroupCommand {
    /// Forms a group under a committee.
    Form {
        /// The group's id.
        id: DeputyGroupId,
        /// The committee it works with, looked up by the handler.
        committee: CommitteeRef,
        /// Its name, e.g. 第三代表小组.
        name: String,
    },
    /// Adds a deputy.
    AddDeputy {
        /// The deputy's id.
        deputy: DeputyId,
        /// The deputy's name.
        name: String,
    },
    /// Removes a deputy.
    RemoveDeputy {
        /// The deputy's id.
        deputy: DeputyId,
    },
}

/// What happened to a deputy group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum DeputyGroupEvent {
    /// A group was formed.
    #[serde(rename = "DeputyGroupFormed.v1")]
    Formed {
        /// The group.
        group: DeputyGroupId,
        /// Its committee.
        committee: CommitteeId,
        /// Its name.
        name: String,
    },
    /// A deputy joined.
    #[serde(rename = "DeputyAdded.v1")]
    DeputyAdded {
        /// The group.
        group: DeputyGroupId,
        /// Its committee.
        committee: CommitteeId,
        /// The deputy.
        deputy: DeputyId,
        /// The deputy's name.
        name: String,
    },
    /// A deputy left.
    #[serde(rename = "DeputyRemoved.v1")]
    DeputyRemoved {
        /// The group.
        group: DeputyGroupId,
        /// Its committee.
        committee: CommitteeId,
        /// The deputy.
        deputy: DeputyId,
        /// The deputy's name.
        name: String,
    },
}

impl DomainEvent for DeputyGroupEvent {
    fn event_type(&self) -> &'static str {
        match self {
            DeputyGroupEvent::Formed { .. } => "DeputyGroupFormed.v1",
            DeputyGroupEvent::DeputyAdded { .. } => "DeputyAdded.v1",
            DeputyGroupEvent::DeputyRemoved { .. } => "DeputyRemoved.v1",
        }
    }
}

/// A deputy group as far as deciding needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeputyGroup {
    /// Its id and committee, once formed.
    pub formed: Option<(DeputyGroupId, CommitteeId)>,
    /// Current deputies and their names.
    pub deputies: BTreeMap<DeputyId, String>,
}

impl DeputyGroup {
    /// What other commands need to know; `None` before it is formed.
    pub fn facts(&self) -> Option<DeputyGroupFacts> {
        self.formed.as_ref().map(|(_, committee)| DeputyGroupFacts {
            committee: committee.clone(),
        })
    }

    fn require_formed(&self) -> Result<&(DeputyGroupId, CommitteeId), Rejection> {
        self.formed
            .as_ref()
            .ok_or_else(|| Rejection::NotFound("deputy group does not exist".into()))
    }
}

impl Aggregate for DeputyGroup {
    type Command = DeputyGroupCommand;
    type Event = DeputyGroupEvent;

    fn decide(
        &self,
        command: &DeputyGroupCommand,
        _ctx: &Context,
    ) -> Result<Vec<DeputyGroupEvent>, Rejection> {
        match command {
            DeputyGroupCommand::Form {
                id,
                committee,
                name,
            } => {
                validate::name("name", name)?;
                if let Some((existing, _)) = &self.formed {
                    return Err(Rejection::precondition(format!(
                        "deputy group {existing} already exists"
                    )));
                }
                committee.require("committee")?;
                Ok(vec![DeputyGroupEvent::Formed {
                    group: id.clone(),
                    committee: committee.id.clone(),
                    name: name.clone(),
                }])
            }
            DeputyGroupCommand::AddDeputy { deputy, name } => {
                validate::name("name", name)?;
                let (group, committee) = self.require_formed()?;
                if self.deputies.contains_key(deputy) {
                    return Err(Rejection::precondition(format!(
                        "deputy {deputy} is already in the group"
                    )));
                }
                Ok(vec![DeputyGroupEvent::DeputyAdded {
                    group: group.clone(),
                    committee: committee.clone(),
                    deputy: deputy.clone(),
                    name: name.clone(),
                }])
            }
            DeputyGroupCommand::RemoveDeputy { deputy } => {
                let (group, committee) = self.require_formed()?;
                let Some(name) = self.deputies.get(deputy) else {
                    return Err(Rejection::NotFound(format!(
                        "deputy {deputy} is not in the group"
                    )));
                };
                Ok(vec![DeputyGroupEvent::DeputyRemoved {
                    group: group.clone(),
                    committee: committee.clone(),
                    deputy: deputy.clone(),
                    name: name.clone(),
                }])
            }
        }
    }

    fn apply(&mut self, event: &DeputyGroupEvent) {
        match event {
            DeputyGroupEvent::Formed {
                group, committee, ..
            } => self.formed = Some((group.clone(), committee.clone())),
            DeputyGroupEvent::DeputyAdded { deputy, name, .. } => {
                self.deputies.insert(deputy.clone(), name.clone());
            }
            DeputyGroupEvent::DeputyRemoved { deputy, .. } => {
                self.deputies.remove(deputy);
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

    fn gid() -> DeputyGroupId {
        DeputyGroupId::parse("g3").unwrap()
    }

    fn did(s: &str) -> DeputyId {
        DeputyId::parse(s).unwrap()
    }

    fn form(committee: CommitteeRef) -> DeputyGroupCommand {
        DeputyGroupCommand::Form {
            id: gid(),
            committee,
            name: "第三代表小组".into(),
        }
    }

    fn formed() -> DeputyGroupEvent {
        DeputyGroupEvent::Formed {
            group: gid(),
            committee: cid(),
            name: "第三代表小组".into(),
        }
    }

    fn added(d: &str) -> DeputyGroupEvent {
        DeputyGroupEvent::DeputyAdded {
            group: gid(),
            committee: cid(),
            deputy: did(d),
            name: "王五".into(),
        }
    }

    fn known() -> CommitteeRef {
        CommitteeRef::found(
            cid(),
            CommitteeFacts {
                level: CommitteeLevel::District,
            },
        )
    }

    #[test]
    fn a_group_is_formed() {
        let state = given::<DeputyGroup>(vec![])
            .when(form(known()))
            .then_events(vec![formed()]);
        assert_eq!(state.facts(), Some(DeputyGroupFacts { committee: cid() }));
    }

    #[test]
    fn a_group_is_not_formed_twice() {
        given::<DeputyGroup>(vec![formed()])
            .when(form(known()))
            .then_precondition("already exists");
    }

    #[test]
    fn a_group_of_an_unknown_committee_is_refused() {
        given::<DeputyGroup>(vec![])
            .when(form(CommitteeRef::missing(cid())))
            .then_not_found("committee xiangfang");
    }

    #[test]
    fn a_group_needs_a_name() {
        given::<DeputyGroup>(vec![])
            .when(DeputyGroupCommand::Form {
                id: gid(),
                committee: known(),
                name: "".into(),
            })
            .then_invalid("name");
    }

    #[test]
    fn a_deputy_is_added() {
        given::<DeputyGroup>(vec![formed()])
            .when(DeputyGroupCommand::AddDeputy {
                deputy: did("d1"),
                name: "王五".into(),
            })
            .then_events(vec![added("d1")]);
    }

    #[test]
    fn a_deputy_is_not_added_twice() {
        given::<DeputyGroup>(vec![formed(), added("d1")])
            .when(DeputyGroupCommand::AddDeputy {
                deputy: did("d1"),
                name: "王五".into(),
            })
            .then_precondition("already in the group");
    }

    #[test]
    fn a_deputy_needs_a_name() {
        given::<DeputyGroup>(vec![formed()])
            .when(DeputyGroupCommand::AddDeputy {
                deputy: did("d1"),
                name: " ".into(),
            })
            .then_invalid("name");
    }

    #[test]
    fn adding_to_an_unknown_group_is_refused() {
        given::<DeputyGroup>(vec![])
            .when(DeputyGroupCommand::AddDeputy {
                deputy: did("d1"),
                name: "王五".into(),
            })
            .then_not_found("deputy group");
    }

    #[test]
    fn a_deputy_is_removed() {
        let state = given::<DeputyGroup>(vec![formed(), added("d1")])
            .when(DeputyGroupCommand::RemoveDeputy { deputy: did("d1") })
            .then_events(vec![DeputyGroupEvent::DeputyRemoved {
                group: gid(),
                committee: cid(),
                deputy: did("d1"),
                name: "王五".into(),
            }]);
        assert!(state.deputies.is_empty());
    }

    #[test]
    fn removing_an_unknown_deputy_is_refused() {
        given::<DeputyGroup>(vec![formed()])
            .when(DeputyGroupCommand::RemoveDeputy { deputy: did("d9") })
            .then_not_found("deputy d9");
    }

    #[test]
    fn removing_from_an_unknown_group_is_refused() {
        given::<DeputyGroup>(vec![])
            .when(DeputyGroupCommand::RemoveDeputy { deputy: did("d1") })
            .then_not_found("deputy group");
    }
}
