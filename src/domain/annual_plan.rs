//! The annual inspection plan: the laws a committee will inspect in a year (每年围绕3—5部法律法规
//! 进行执法检查). A plan outside the policy's range is accepted with a warning, not refused — the
//! council of chairpersons decides, and the warning is recorded in the event so the gRPC reply
//! (and any later reader) can show it.
//!
//! Stream: `plan-<committee id>-<year>`.

use serde::{Deserialize, Serialize};

use super::ids::CommitteeId;
use super::inspection::validate_year;
use super::lookup::CommitteeRef;
use super::supervision_policy::SupervisionPolicy;
use super::{Aggregate, Context, DomainEvent, Rejection, validate};

/// What can be asked about a year's plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AnnualPlanCommand {
    /// Adopts the plan for a year.
    Adopt {
        /// The committee, looked up by the handler.
        committee: CommitteeRef,
        /// The year planned.
        year: i32,
        /// The laws to inspect.
        laws: Vec<String>,
        /// The committee's current supervision policy (the expected number of laws).
        policy: SupervisionPolicy,
    },
    /// Replaces the list of laws, saying why.
    Revise {
        /// The laws now planned.
        laws: Vec<String>,
        /// Why the plan changes.
        reason: String,
        /// The committee's current supervision policy.
        policy: SupervisionPolicy,
    },
}

/// What happened to a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum AnnualPlanEvent {
    /// A plan was adopted.
    #[serde(rename = "AnnualPlanAdopted.v1")]
    Adopted {
        /// The committee.
        committee: CommitteeId,
        /// The year.
        year: i32,
        /// The laws to inspect.
        laws: Vec<String>,
        /// Warnings the decision raised (e.g. fewer laws than the policy expects).
        warnings: Vec<String>,
        /// Who adopted it.
        adopted_by: String,
    },
    /// The plan's laws were replaced.
    #[serde(rename = "AnnualPlanRevised.v1")]
    Revised {
        /// The committee.
        committee: CommitteeId,
        /// The year.
        year: i32,
        /// The laws now planned.
        laws: Vec<String>,
        /// Why.
        reason: String,
        /// Warnings the decision raised.
        warnings: Vec<String>,
        /// Who revised it.
        revised_by: String,
    },
}

impl AnnualPlanEvent {
    /// The warnings this event carries, for the reply to the command that produced it.
    pub fn warnings(&self) -> &[String] {
        match self {
            AnnualPlanEvent::Adopted { warnings, .. }
            | AnnualPlanEvent::Revised { warnings, .. } => warnings,
        }
    }
}

impl DomainEvent for AnnualPlanEvent {
    fn event_type(&self) -> &'static str {
        match self {
            AnnualPlanEvent::Adopted { .. } => "AnnualPlanAdopted.v1",
            AnnualPlanEvent::Revised { .. } => "AnnualPlanRevised.v1",
        }
    }
}

/// The warnings a list of laws raises under a policy.
pub fn plan_warnings(laws: &[String], policy: &SupervisionPolicy) -> Vec<String> {
    let count = u32::try_from(laws.len()).unwrap_or(u32::MAX);
    if count < policy.annual_plan_min_laws || count > policy.annual_plan_max_laws {
        let noun = if count == 1 { "law" } else { "laws" };
        vec![format!(
            "the plan lists {count} {noun}; the policy expects {} to {}",
            policy.annual_plan_min_laws, policy.annual_plan_max_laws
        )]
    } else {
        vec![]
    }
}

/// A year's plan as far as deciding needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnnualPlan {
    /// Committee and year, once adopted.
    pub adopted: Option<(CommitteeId, i32)>,
    /// The laws in force.
    pub laws: Vec<String>,
}

impl Aggregate for AnnualPlan {
    type Command = AnnualPlanCommand;
    type Event = AnnualPlanEvent;

    fn decide(
        &self,
        command: &AnnualPlanCommand,
        ctx: &Context,
    ) -> Result<Vec<AnnualPlanEvent>, Rejection> {
        match command {
            AnnualPlanCommand::Adopt {
                committee,
                year,
                laws,
                policy,
            } => {
                policy.validate()?;
                validate_year("year", *year, ctx)?;
                validate::names("laws", laws, true)?;
                if let Some((committee, year)) = &self.adopted {
                    return Err(Rejection::precondition(format!(
                        "the {year} plan of committee {committee} is already adopted; revise it instead"
                    )));
                }
                committee.require("committee")?;
                Ok(vec![AnnualPlanEvent::Adopted {
                    committee: committee.id.clone(),
                    year: *year,
                    laws: laws.clone(),
                    warnings: plan_warnings(laws, policy),
                    adopted_by: ctx.actor.clone(),
                }])
            }
            AnnualPlanCommand::Revise {
                laws,
                reason,
                policy,
            } => {
                policy.validate()?;
                validate::names("laws", laws, true)?;
                validate::text("reason", reason)?;
                let (committee, year) = self
                    .adopted
                    .as_ref()
                    .ok_or_else(|| Rejection::NotFound("annual plan does not exist".into()))?;
                if *laws == self.laws {
                    return Err(Rejection::precondition("the laws are unchanged"));
                }
                Ok(vec![AnnualPlanEvent::Revised {
                    committee: committee.clone(),
                    year: *year,
                    laws: laws.clone(),
                    reason: reason.clone(),
                    warnings: plan_warnings(laws, policy),
                    revised_by: ctx.actor.clone(),
                }])
            }
        }
    }

    fn apply(&mut self, event: &AnnualPlanEvent) {
        match event {
            AnnualPlanEvent::Adopted {
                committee,
                year,
                laws,
                ..
            } => {
                self.adopted = Some((committee.clone(), *year));
                self.laws = laws.clone();
            }
            AnnualPlanEvent::Revised { laws, .. } => self.laws = laws.clone(),
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

    fn laws(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("法律{i}")).collect()
    }

    fn adopt(n: usize) -> AnnualPlanCommand {
        AnnualPlanCommand::Adopt {
            committee: CommitteeRef::found(
                cid(),
                CommitteeFacts {
                    level: CommitteeLevel::District,
                },
            ),
            year: 2018,
            laws: laws(n),
            policy: SupervisionPolicy::default(),
        }
    }

    fn adopted(n: usize) -> AnnualPlanEvent {
        AnnualPlanEvent::Adopted {
            committee: cid(),
            year: 2018,
            laws: laws(n),
            warnings: vec![],
            adopted_by: "clerk-1".into(),
        }
    }

    fn revise(n: usize, reason: &str) -> AnnualPlanCommand {
        AnnualPlanCommand::Revise {
            laws: laws(n),
            reason: reason.into(),
            policy: SupervisionPolicy::default(),
        }
    }

    #[test]
    fn a_plan_of_four_laws_is_adopted_without_warning() {
        given::<AnnualPlan>(vec![])
            .when(adopt(4))
            .then_events(vec![adopted(4)]);
    }

    #[test]
    fn a_plan_of_two_or_six_laws_is_adopted_with_a_warning() {
        for n in [2, 6] {
            let events = given::<AnnualPlan>(vec![]).when(adopt(n)).then_ok();
            assert_eq!(
                events[0].warnings(),
                [format!(
                    "the plan lists {n} laws; the policy expects 3 to 5"
                )]
            );
        }
    }

    #[test]
    fn the_range_is_the_policys() {
        let events = given::<AnnualPlan>(vec![])
            .when(AnnualPlanCommand::Adopt {
                committee: CommitteeRef::found(
                    cid(),
                    CommitteeFacts {
                        level: CommitteeLevel::District,
                    },
                ),
                year: 2018,
                laws: laws(6),
                policy: SupervisionPolicy {
                    annual_plan_max_laws: 8,
                    ..Default::default()
                },
            })
            .then_ok();
        assert!(events[0].warnings().is_empty());
    }

    #[test]
    fn an_empty_plan_is_refused() {
        given::<AnnualPlan>(vec![])
            .when(adopt(0))
            .then_invalid("laws");
    }

    #[test]
    fn a_repeated_law_is_refused() {
        given::<AnnualPlan>(vec![])
            .when(AnnualPlanCommand::Adopt {
                committee: CommitteeRef::missing(cid()),
                year: 2018,
                laws: vec!["a".into(), "a".into()],
                policy: SupervisionPolicy::default(),
            })
            .then_invalid("laws[1]");
    }

    #[test]
    fn a_plan_far_in_the_future_is_refused() {
        given::<AnnualPlan>(vec![])
            .when(AnnualPlanCommand::Adopt {
                committee: CommitteeRef::missing(cid()),
                year: 2030,
                laws: laws(3),
                policy: SupervisionPolicy::default(),
            })
            .then_invalid("year");
    }

    #[test]
    fn a_plan_of_an_unknown_committee_is_refused() {
        given::<AnnualPlan>(vec![])
            .when(AnnualPlanCommand::Adopt {
                committee: CommitteeRef::missing(cid()),
                year: 2018,
                laws: laws(3),
                policy: SupervisionPolicy::default(),
            })
            .then_not_found("committee xiangfang");
    }

    #[test]
    fn a_plan_is_adopted_once() {
        given::<AnnualPlan>(vec![adopted(4)])
            .when(adopt(4))
            .then_precondition("already adopted");
    }

    #[test]
    fn a_plan_is_revised_with_a_reason_and_warned_about() {
        let state = given::<AnnualPlan>(vec![adopted(4)])
            .when(revise(1, "上级交办任务调整"))
            .then_events(vec![AnnualPlanEvent::Revised {
                committee: cid(),
                year: 2018,
                laws: laws(1),
                reason: "上级交办任务调整".into(),
                warnings: vec!["the plan lists 1 law; the policy expects 3 to 5".into()],
                revised_by: "clerk-1".into(),
            }]);
        assert_eq!(state.laws, laws(1));
    }

    #[test]
    fn a_revision_without_a_reason_is_refused() {
        given::<AnnualPlan>(vec![adopted(4)])
            .when(revise(3, ""))
            .then_invalid("reason");
    }

    #[test]
    fn an_unchanged_revision_is_refused() {
        given::<AnnualPlan>(vec![adopted(4)])
            .when(revise(4, "no change"))
            .then_precondition("unchanged");
    }

    #[test]
    fn revising_a_plan_never_adopted_is_refused() {
        given::<AnnualPlan>(vec![])
            .when(revise(3, "x"))
            .then_not_found("annual plan");
    }

    #[test]
    fn a_broken_policy_is_refused() {
        given::<AnnualPlan>(vec![adopted(4)])
            .when(AnnualPlanCommand::Revise {
                laws: laws(3),
                reason: "x".into(),
                policy: SupervisionPolicy {
                    annual_plan_min_laws: 9,
                    ..Default::default()
                },
            })
            .then_invalid("policy.annual_plan_min_laws");
    }

    #[test]
    fn adopting_with_a_broken_policy_is_refused() {
        given::<AnnualPlan>(vec![])
            .when(AnnualPlanCommand::Adopt {
                committee: CommitteeRef::missing(cid()),
                year: 2018,
                laws: laws(3),
                policy: SupervisionPolicy {
                    annual_plan_min_laws: 9,
                    ..Default::default()
                },
            })
            .then_invalid("policy.annual_plan_min_laws");
    }

    #[test]
    fn a_revision_to_no_laws_is_refused() {
        given::<AnnualPlan>(vec![adopted(4)])
            .when(revise(0, "取消"))
            .then_invalid("laws");
    }
}
