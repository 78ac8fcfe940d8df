//! Supervision policies on the wire: the message to the domain's policy and back (the policy
//! in force is found by [`crate::app::policy`]).

use crate::app::policy::AdoptSupervisionPolicy;
use crate::domain::Rejection;
use crate::domain::ids::CommitteeId;
use crate::domain::supervision_policy::SupervisionPolicy;
use crate::proto;

fn rating(field: &str, value: u32) -> Result<u8, Rejection> {
    u8::try_from(value).map_err(|_| Rejection::invalid(field, "must be between 0 and 255"))
}

/// Validates a policy message into the domain's policy (ranges of the wire types here, the
/// rules of the policy in [`SupervisionPolicy::validate`]); errors name the field, e.g.
/// `policy.finding_due_months`.
pub fn policy_from(
    message: Option<proto::SupervisionPolicy>,
) -> Result<SupervisionPolicy, Rejection> {
    let p = message.ok_or_else(|| Rejection::invalid("policy", "is required"))?;
    let policy = SupervisionPolicy {
        visit_rating_min: rating("policy.visit_rating_min", p.visit_rating_min)?,
        visit_rating_max: rating("policy.visit_rating_max", p.visit_rating_max)?,
        finding_due_months: p.finding_due_months,
        finding_due_soon_days: p.finding_due_soon_days,
        annual_plan_min_laws: p.annual_plan_min_laws,
        annual_plan_max_laws: p.annual_plan_max_laws,
        feedback_rating_options: p.feedback_rating_options,
        utc_offset_minutes: p.utc_offset_minutes,
    };
    policy.validate()?;
    Ok(policy)
}

/// The domain's policy as a message.
pub fn policy_message(policy: SupervisionPolicy) -> proto::SupervisionPolicy {
    proto::SupervisionPolicy {
        visit_rating_min: u32::from(policy.visit_rating_min),
        visit_rating_max: u32::from(policy.visit_rating_max),
        finding_due_months: policy.finding_due_months,
        finding_due_soon_days: policy.finding_due_soon_days,
        annual_plan_min_laws: policy.annual_plan_min_laws,
        annual_plan_max_laws: policy.annual_plan_max_laws,
        feedback_rating_options: policy.feedback_rating_options,
        utc_offset_minutes: policy.utc_offset_minutes,
    }
}

impl TryFrom<proto::AdoptSupervisionPolicyRequest> for AdoptSupervisionPolicy {
    type Error = Rejection;
    fn try_from(req: proto::AdoptSupervisionPolicyRequest) -> Result<Self, Rejection> {
        Ok(Self {
            committee: CommitteeId::parse(req.committee_id)?,
            policy: policy_from(req.policy)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_round_trips_through_the_message() {
        let message = policy_message(SupervisionPolicy::default());
        assert_eq!(
            policy_from(Some(message)).unwrap(),
            SupervisionPolicy::default()
        );
    }

    #[test]
    fn a_broken_policy_names_its_field() {
        let field = |message: Option<proto::SupervisionPolicy>| match policy_from(message) {
            Err(Rejection::Invalid { field, .. }) => field,
            other => panic!("expected a rejection, got {other:?}"),
        };
        assert_eq!(field(None), "policy");
        let mut message = policy_message(SupervisionPolicy::default());
        message.visit_rating_max = 300;
        assert_eq!(field(Some(message)), "policy.visit_rating_max");
        let mut message = policy_message(SupervisionPolicy::default());
        message.finding_due_months = 0;
        assert_eq!(field(Some(message)), "policy.finding_due_months");
    }
}
