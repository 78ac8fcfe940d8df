//! The standing committee (人大常委会): the tenant every other aggregate belongs to, and its
//! members (常委会组成人员), who are the constituency of the evaluation vote.
//!
//! Stream: `committee-<committee id>`.
//!
//! The committee also carries its supervision policy ([`SupervisionPolicy`]): the chair adopts
//! a whole policy document with `AdoptSupervisionPolicy`, which records
//! `SupervisionPolicyAdopted.v1` with the next version (1, 2, …; version 0 is the shipped
//! default, in force until the first adoption). The policy lives on the committee stream, not a
//! stream of its own, because every command that needs it already names the committee and one
//! load gives both the committee's existence and its policy.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::ids::{CommitteeId, MemberId};
use super::lookup::{CommitteeFacts, CommitteeRef};
use super::supervision_policy::SupervisionPolicy;
use super::{Aggregate, Context, DomainEvent, Rejection, validate};

/// The level of government a committee sits at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommitteeLevel {
    /// 市 — may host the committees of its districts and counties.
    City,
    /// 区.
    District,
    /// 县 (or county-level city).
    County,
    /// 乡镇 (its 人大主席团 plays the committee's role).
    Township,
}

impl CommitteeLevel {
    /// The level as written on the wire.
    pub fn name(self) -> &'static str {
        match self {
            CommitteeLevel::City => "city",
            CommitteeLevel::District => "district",
            CommitteeLevel::County => "county",
            CommitteeLevel::Township => "township",
        }
    }

    /// Higher ranks oversee lower ones; districts and counties are peers.
    fn rank(self) -> u8 {
        match self {
            CommitteeLevel::City => 3,
            CommitteeLevel::District | CommitteeLevel::County => 2,
            CommitteeLevel::Township => 1,
        }
    }
}

/// What can be asked of a committee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommitteeCommand {
    /// Registers a committee as a tenant.
    Create {
        /// The new committee's id.
        id: CommitteeId,
        /// Its name, e.g. 哈尔滨市香坊区人大常委会.
        name: String,
        /// Its level.
        level: CommitteeLevel,
        /// The committee one level up (a city for a district), looked up by the handler.
        parent: Option<CommitteeRef>,
    },
    /// Seats a member.
    AddMember {
        /// The member's id.
        member: MemberId,
        /// The member's name.
        name: String,
        /// First day of membership.
        from: NaiveDate,
        /// Last day of membership, when already known (end of the term).
        to: Option<NaiveDate>,
    },
    /// Ends a membership.
    RemoveMember {
        /// The member's id.
        member: MemberId,
        /// Last day of membership.
        to: NaiveDate,
    },
    /// Adopts a whole supervision policy, replacing the one in force.
    AdoptSupervisionPolicy {
        /// The new policy (validated before it is recorded).
        policy: SupervisionPolicy,
    },
}

/// What happened to a committee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum CommitteeEvent {
    /// A committee was registered.
    #[serde(rename = "CommitteeCreated.v1")]
    Created {
        /// Its id.
        committee: CommitteeId,
        /// Its name.
        name: String,
        /// Its level.
        level: CommitteeLevel,
        /// The committee one level up, if any.
        parent: Option<CommitteeId>,
    },
    /// A member was seated.
    #[serde(rename = "CommitteeMemberAdded.v1")]
    MemberAdded {
        /// The committee.
        committee: CommitteeId,
        /// The member.
        member: MemberId,
        /// The member's name.
        name: String,
        /// First day of membership.
        from: NaiveDate,
        /// Last day of membership, if known.
        to: Option<NaiveDate>,
    },
    /// A membership ended.
    #[serde(rename = "CommitteeMemberRemoved.v1")]
    MemberRemoved {
        /// The committee.
        committee: CommitteeId,
        /// The member.
        member: MemberId,
        /// The member's name (so views need not look it up).
        name: String,
        /// First day of the membership that ended.
        from: NaiveDate,
        /// Last day of membership.
        to: NaiveDate,
    },
    /// A supervision policy was adopted and is in force from now on; events decided earlier keep
    /// the values they applied.
    #[serde(rename = "SupervisionPolicyAdopted.v1")]
    SupervisionPolicyAdopted {
        /// The committee.
        committee: CommitteeId,
        /// The policy's version: one more than the previous (the shipped default is 0).
        version: u32,
        /// The whole policy document.
        policy: SupervisionPolicy,
    },
}

impl DomainEvent for CommitteeEvent {
    fn event_type(&self) -> &'static str {
        match self {
            CommitteeEvent::Created { .. } => "CommitteeCreated.v1",
            CommitteeEvent::MemberAdded { .. } => "CommitteeMemberAdded.v1",
            CommitteeEvent::MemberRemoved { .. } => "CommitteeMemberRemoved.v1",
            CommitteeEvent::SupervisionPolicyAdopted { .. } => "SupervisionPolicyAdopted.v1",
        }
    }
}

/// A seated member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Name.
    pub name: String,
    /// First day.
    pub from: NaiveDate,
    /// Last day, if known.
    pub to: Option<NaiveDate>,
}

/// A committee as far as deciding needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Committee {
    /// Its id, once created.
    pub id: Option<CommitteeId>,
    /// Its level, once created.
    pub level: Option<CommitteeLevel>,
    /// Its parent, if any.
    pub parent: Option<CommitteeId>,
    /// Current members.
    pub members: BTreeMap<MemberId, Member>,
    /// The supervision policy in force (the shipped default until one is adopted).
    pub policy: SupervisionPolicy,
    /// The version of the policy in force (0: the shipped default).
    pub policy_version: u32,
}

impl Committee {
    /// What other commands need to know about this committee; `None` before it is created.
    pub fn facts(&self) -> Option<CommitteeFacts> {
        self.level.map(|level| CommitteeFacts { level })
    }

    fn require_created(&self) -> Result<&CommitteeId, Rejection> {
        self.id
            .as_ref()
            .ok_or_else(|| Rejection::NotFound("committee does not exist".into()))
    }
}

impl Aggregate for Committee {
    type Command = CommitteeCommand;
    type Event = CommitteeEvent;

    fn decide(
        &self,
        command: &CommitteeCommand,
        _ctx: &Context,
    ) -> Result<Vec<CommitteeEvent>, Rejection> {
        match command {
            CommitteeCommand::Create {
                id,
                name,
                level,
                parent,
            } => {
                validate::name("name", name)?;
                if let Some(existing) = &self.id {
                    return Err(Rejection::precondition(format!(
                        "committee {existing} already exists"
                    )));
                }
                if let Some(parent) = parent {
                    if &parent.id == id {
                        return Err(Rejection::invalid(
                            "parent",
                            "must not be the committee itself",
                        ));
                    }
                    let facts = parent.require("parent committee")?;
                    if facts.level.rank() <= level.rank() {
                        return Err(Rejection::precondition(format!(
                            "parent committee {} ({}) must be at a higher level than {}",
                            parent.id,
                            facts.level.name(),
                            level.name()
                        )));
                    }
                }
                Ok(vec![CommitteeEvent::Created {
                    committee: id.clone(),
                    name: name.clone(),
                    level: *level,
                    parent: parent.as_ref().map(|p| p.id.clone()),
                }])
            }
            CommitteeCommand::AddMember {
                member,
                name,
                from,
                to,
            } => {
                validate::name("name", name)?;
                if to.is_some_and(|to| to < *from) {
                    return Err(Rejection::invalid("to", "must not be before from"));
                }
                let committee = self.require_created()?;
                if self.members.contains_key(member) {
                    return Err(Rejection::precondition(format!(
                        "member {member} is already seated"
                    )));
                }
                Ok(vec![CommitteeEvent::MemberAdded {
                    committee: committee.clone(),
                    member: member.clone(),
                    name: name.clone(),
                    from: *from,
                    to: *to,
                }])
            }
            CommitteeCommand::RemoveMember { member, to } => {
                let committee = self.require_created()?;
                let Some(seated) = self.members.get(member) else {
                    return Err(Rejection::NotFound(format!(
                        "member {member} is not seated"
                    )));
                };
                if *to < seated.from {
                    return Err(Rejection::invalid(
                        "to",
                        "must not be before the member's from date",
                    ));
                }
                Ok(vec![CommitteeEvent::MemberRemoved {
                    committee: committee.clone(),
                    member: member.clone(),
                    name: seated.name.clone(),
                    from: seated.from,
                    to: *to,
                }])
            }
            CommitteeCommand::AdoptSupervisionPolicy { policy } => {
                policy.validate()?;
                let committee = self.require_created()?;
                let version = self.policy_version.checked_add(1).ok_or_else(|| {
                    Rejection::precondition("policy version has reached its maximum")
                })?;
                Ok(vec![CommitteeEvent::SupervisionPolicyAdopted {
                    committee: committee.clone(),
                    version,
                    policy: policy.clone(),
                }])
            }
        }
    }

    fn apply(&mut self, event: &CommitteeEvent) {
        match event {
            CommitteeEvent::Created {
                committee,
                level,
                parent,
                ..
            } => {
                self.id = Some(committee.clone());
                self.level = Some(*level);
                self.parent = parent.clone();
            }
            CommitteeEvent::MemberAdded {
                member,
                name,
                from,
                to,
                ..
            } => {
                self.members.insert(
                    member.clone(),
                    Member {
                        name: name.clone(),
                        from: *from,
                        to: *to,
                    },
                );
            }
            CommitteeEvent::MemberRemoved { member, .. } => {
                self.members.remove(member);
            }
            CommitteeEvent::SupervisionPolicyAdopted {
                version, policy, ..
            } => {
                self.policy = policy.clone();
                self.policy_version = *version;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::{day, given};

    fn cid(s: &str) -> CommitteeId {
        CommitteeId::parse(s).unwrap()
    }

    fn mid(s: &str) -> MemberId {
        MemberId::parse(s).unwrap()
    }

    fn created(id: &str) -> CommitteeEvent {
        CommitteeEvent::Created {
            committee: cid(id),
            name: "香坊区人大常委会".into(),
            level: CommitteeLevel::District,
            parent: Some(cid("harbin")),
        }
    }

    fn create(id: &str, level: CommitteeLevel, parent: Option<CommitteeRef>) -> CommitteeCommand {
        CommitteeCommand::Create {
            id: cid(id),
            name: "香坊区人大常委会".into(),
            level,
            parent,
        }
    }

    fn city(id: &str) -> CommitteeRef {
        CommitteeRef::found(
            cid(id),
            CommitteeFacts {
                level: CommitteeLevel::City,
            },
        )
    }

    fn add(member: &str, from: NaiveDate, to: Option<NaiveDate>) -> CommitteeCommand {
        CommitteeCommand::AddMember {
            member: mid(member),
            name: "张三".into(),
            from,
            to,
        }
    }

    fn added(member: &str) -> CommitteeEvent {
        CommitteeEvent::MemberAdded {
            committee: cid("xiangfang"),
            member: mid(member),
            name: "张三".into(),
            from: day(2017, 1, 1),
            to: None,
        }
    }

    #[test]
    fn a_district_committee_is_created_under_its_city() {
        given::<Committee>(vec![])
            .when(create(
                "xiangfang",
                CommitteeLevel::District,
                Some(city("harbin")),
            ))
            .then_events(vec![created("xiangfang")]);
    }

    #[test]
    fn a_city_committee_needs_no_parent() {
        let state = given::<Committee>(vec![])
            .when(create("harbin", CommitteeLevel::City, None))
            .then_ok();
        assert!(matches!(
            &state[0],
            CommitteeEvent::Created { parent: None, .. }
        ));
    }

    #[test]
    fn creating_twice_is_refused() {
        given::<Committee>(vec![created("xiangfang")])
            .when(create(
                "xiangfang",
                CommitteeLevel::District,
                Some(city("harbin")),
            ))
            .then_precondition("already exists");
    }

    #[test]
    fn a_blank_name_is_refused() {
        given::<Committee>(vec![])
            .when(CommitteeCommand::Create {
                id: cid("x"),
                name: " ".into(),
                level: CommitteeLevel::City,
                parent: None,
            })
            .then_invalid("name");
    }

    #[test]
    fn an_unknown_parent_is_refused() {
        given::<Committee>(vec![])
            .when(create(
                "xiangfang",
                CommitteeLevel::District,
                Some(CommitteeRef::missing(cid("nowhere"))),
            ))
            .then_not_found("parent committee nowhere");
    }

    #[test]
    fn a_parent_at_the_same_level_is_refused() {
        let peer = CommitteeRef::found(
            cid("daowai"),
            CommitteeFacts {
                level: CommitteeLevel::District,
            },
        );
        given::<Committee>(vec![])
            .when(create("xiangfang", CommitteeLevel::District, Some(peer)))
            .then_rejects(Rejection::precondition(
                "parent committee daowai (district) must be at a higher level than district",
            ));
    }

    #[test]
    fn a_committee_cannot_be_its_own_parent() {
        given::<Committee>(vec![])
            .when(create(
                "harbin",
                CommitteeLevel::District,
                Some(city("harbin")),
            ))
            .then_invalid("parent");
    }

    #[test]
    fn a_member_is_seated() {
        let state = given::<Committee>(vec![created("xiangfang")])
            .when(add("m1", day(2017, 1, 1), None))
            .then_events(vec![added("m1")]);
        assert!(state.members.contains_key(&mid("m1")));
    }

    #[test]
    fn a_member_of_an_unknown_committee_is_refused() {
        given::<Committee>(vec![])
            .when(add("m1", day(2017, 1, 1), None))
            .then_not_found("committee");
    }

    #[test]
    fn a_member_is_not_seated_twice() {
        given::<Committee>(vec![created("xiangfang"), added("m1")])
            .when(add("m1", day(2017, 2, 1), None))
            .then_rejects(Rejection::precondition("member m1 is already seated"));
    }

    #[test]
    fn a_membership_ending_before_it_starts_is_refused() {
        given::<Committee>(vec![created("xiangfang")])
            .when(add("m1", day(2017, 2, 1), Some(day(2017, 1, 31))))
            .then_invalid("to");
    }

    #[test]
    fn a_blank_member_name_is_refused() {
        given::<Committee>(vec![created("xiangfang")])
            .when(CommitteeCommand::AddMember {
                member: mid("m1"),
                name: "".into(),
                from: day(2017, 1, 1),
                to: None,
            })
            .then_invalid("name");
    }

    #[test]
    fn a_member_is_removed_and_the_event_names_them() {
        let state = given::<Committee>(vec![created("xiangfang"), added("m1")])
            .when(CommitteeCommand::RemoveMember {
                member: mid("m1"),
                to: day(2017, 12, 31),
            })
            .then_events(vec![CommitteeEvent::MemberRemoved {
                committee: cid("xiangfang"),
                member: mid("m1"),
                name: "张三".into(),
                from: day(2017, 1, 1),
                to: day(2017, 12, 31),
            }]);
        assert!(state.members.is_empty());
    }

    #[test]
    fn removing_an_unknown_member_is_refused() {
        given::<Committee>(vec![created("xiangfang")])
            .when(CommitteeCommand::RemoveMember {
                member: mid("m9"),
                to: day(2017, 12, 31),
            })
            .then_not_found("member m9");
    }

    #[test]
    fn removing_from_an_unknown_committee_is_refused() {
        given::<Committee>(vec![])
            .when(CommitteeCommand::RemoveMember {
                member: mid("m1"),
                to: day(2017, 12, 31),
            })
            .then_not_found("committee");
    }

    #[test]
    fn a_removal_dated_before_the_seat_is_refused() {
        given::<Committee>(vec![created("xiangfang"), added("m1")])
            .when(CommitteeCommand::RemoveMember {
                member: mid("m1"),
                to: day(2016, 12, 31),
            })
            .then_invalid("to");
    }

    fn adopt(policy: SupervisionPolicy) -> CommitteeCommand {
        CommitteeCommand::AdoptSupervisionPolicy { policy }
    }

    fn ten_point_scale() -> SupervisionPolicy {
        SupervisionPolicy {
            visit_rating_max: 10,
            finding_due_months: 1,
            ..SupervisionPolicy::default()
        }
    }

    #[test]
    fn a_committee_starts_with_the_default_policy_at_version_0() {
        let state = Committee::replay(&[created("xiangfang")]);
        assert_eq!(state.policy, SupervisionPolicy::default());
        assert_eq!(state.policy_version, 0);
    }

    #[test]
    fn a_policy_is_adopted_as_version_1() {
        let state = given::<Committee>(vec![created("xiangfang")])
            .when(adopt(ten_point_scale()))
            .then_events(vec![CommitteeEvent::SupervisionPolicyAdopted {
                committee: cid("xiangfang"),
                version: 1,
                policy: ten_point_scale(),
            }]);
        assert_eq!(state.policy, ten_point_scale());
        assert_eq!(state.policy_version, 1);
    }

    #[test]
    fn each_adoption_increases_the_version() {
        let first = CommitteeEvent::SupervisionPolicyAdopted {
            committee: cid("xiangfang"),
            version: 1,
            policy: ten_point_scale(),
        };
        let state = given::<Committee>(vec![created("xiangfang"), first])
            .when(adopt(SupervisionPolicy::default()))
            .then_events(vec![CommitteeEvent::SupervisionPolicyAdopted {
                committee: cid("xiangfang"),
                version: 2,
                policy: SupervisionPolicy::default(),
            }]);
        assert_eq!(state.policy_version, 2);
        assert_eq!(state.policy, SupervisionPolicy::default());
    }

    #[test]
    fn an_invalid_policy_is_refused_naming_the_field() {
        given::<Committee>(vec![created("xiangfang")])
            .when(adopt(SupervisionPolicy {
                finding_due_months: 0,
                ..SupervisionPolicy::default()
            }))
            .then_invalid("policy.finding_due_months");
        given::<Committee>(vec![created("xiangfang")])
            .when(adopt(SupervisionPolicy {
                visit_rating_min: 6,
                visit_rating_max: 5,
                ..SupervisionPolicy::default()
            }))
            .then_invalid("policy.visit_rating_min");
    }

    #[test]
    fn a_policy_for_an_unknown_committee_is_refused() {
        given::<Committee>(vec![])
            .when(adopt(SupervisionPolicy::default()))
            .then_not_found("committee");
    }

    #[test]
    fn level_names_match_the_wire() {
        for level in [
            CommitteeLevel::City,
            CommitteeLevel::District,
            CommitteeLevel::County,
            CommitteeLevel::Township,
        ] {
            assert_eq!(serde_json::to_value(level).unwrap(), level.name());
        }
    }

    #[test]
    fn events_are_tagged_with_their_versioned_type() {
        let event = created("xiangfang");
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], event.event_type());
        assert_eq!(
            serde_json::from_value::<CommitteeEvent>(json).unwrap(),
            event
        );
    }
}
