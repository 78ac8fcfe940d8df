//! Committee-adopted supervision policies: `Registry.AdoptSupervisionPolicy` and
//! `Registry.GetSupervisionPolicy`, and the one way every service finds the policy in force.
//!
//! * Commands (filing a visit, raising or assigning a finding, adopting an annual plan,
//!   recording feedback) load the committee's aggregate with [`committee_policy`] and put the
//!   policy into the domain command, so the decision and the event record the values in force
//!   at that moment. A later adoption never changes what was decided: a finding's due date is
//!   fixed when it is assigned.
//! * Queries (the findings board's due-soon window, "today" at the committee) read the
//!   `registry` view's `policies` table with [`policy_in_view`]; no entry means the shipped
//!   default, version 0.

use tonic::{Request, Response, Status};

use crate::api::context::{LegacyCommands, RequestExt};
use crate::api::fields::stream;
use crate::app::App;
use crate::app::scope::{require_acting_on, require_reading};
use crate::auth::Principal;
use crate::domain::Rejection;
use crate::domain::committee::{Committee, CommitteeCommand, CommitteeEvent};
use crate::domain::ids::{CommitteeId, committee_stream};
use crate::domain::lookup::{CommitteeRef, Lookup};
use crate::domain::supervision_policy::SupervisionPolicy;
use crate::log::StreamName;
use crate::projection::ViewRead;
use crate::projection::registry::{self as view, PolicyDoc};
use crate::proto;

/// Loads a committee and returns its facts (for the command's lookup) with the supervision
/// policy in force (the shipped default for a committee that does not exist: the domain then
/// refuses the command as not found).
pub async fn committee_policy(
    state: &App,
    id: CommitteeId,
) -> Result<(CommitteeRef, SupervisionPolicy), Status> {
    let loaded = state
        .handler
        .load::<Committee>(&stream(committee_stream(&id))?)
        .await?;
    let facts = loaded.state.facts();
    Ok((Lookup { id, found: facts }, loaded.state.policy))
}

/// The policy in force for `committee` as the `registry` view has it (the shipped default when
/// the committee never adopted one).
pub fn policy_in_view(read: &ViewRead, committee: &str) -> Result<SupervisionPolicy, Status> {
    Ok(read
        .get::<PolicyDoc>(view::NAME, view::POLICIES, committee)?
        .map(|doc| doc.policy)
        .unwrap_or_default())
}

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

/// `Registry.AdoptSupervisionPolicy`: validated, scoped to the principal's committee, recorded
/// as `SupervisionPolicyAdopted.v1` on the committee's stream.
pub async fn adopt(
    state: &App,
    principal: &Principal,
    req: proto::AdoptSupervisionPolicyRequest,
) -> Result<Response<proto::AdoptSupervisionPolicyResponse>, Status> {
    let committee = CommitteeId::parse(req.committee_id)?;
    tracing::Span::current().record("committee", committee.as_str());
    require_acting_on(principal, Some(committee.as_str()), None)?;
    let policy = policy_from(req.policy)?;
    let (ctx, mut metadata) = state.command_context_legacy(principal, &req.correlation_id);
    metadata.committee = Some(committee.to_string());
    let stream = StreamName::new(committee_stream(&committee)).map_err(Status::from)?;
    let executed = state
        .handler
        .execute::<Committee>(
            &stream,
            &CommitteeCommand::AdoptSupervisionPolicy { policy },
            &ctx,
            &metadata,
        )
        .await?;
    let version = executed
        .events
        .iter()
        .find_map(|e| match e {
            CommitteeEvent::SupervisionPolicyAdopted { version, .. } => Some(*version),
            _ => None,
        })
        .ok_or_else(|| {
            tracing::error!("AdoptSupervisionPolicy wrote no SupervisionPolicyAdopted.v1 event");
            Status::internal("the policy was not recorded; retry the command")
        })?;
    Ok(Response::new(proto::AdoptSupervisionPolicyResponse {
        version,
        position: executed.position,
    }))
}

/// `Registry.GetSupervisionPolicy`: the policy in force from the `registry` view.
pub async fn get(
    state: &App,
    principal: &Principal,
    request: Request<proto::GetSupervisionPolicyRequest>,
) -> Result<Response<proto::SupervisionPolicyInForce>, Status> {
    let min_position = request.get_ref().min_position;
    state.wait_for(&request, view::NAME, min_position).await?;
    let committee = CommitteeId::parse(request.into_inner().committee_id)?;
    tracing::Span::current().record("committee", committee.as_str());
    let read = state.views.read()?;
    // Scope first, so that other committees' callers cannot probe which ids exist. The policy
    // is the committee's rule book, not a record about anyone: a parent committee reads it too.
    require_reading(principal, &read, committee.as_str(), None)?;
    if read
        .get::<crate::projection::registry::CommitteeDoc>(
            view::NAME,
            view::COMMITTEES,
            committee.as_str(),
        )?
        .is_none()
    {
        return Err(Status::not_found(format!(
            "committee {committee} does not exist"
        )));
    }
    let (version, policy, position) =
        match read.get::<PolicyDoc>(view::NAME, view::POLICIES, committee.as_str())? {
            Some(doc) => (doc.version, doc.policy, doc.position),
            None => (0, SupervisionPolicy::default(), 0),
        };
    Ok(Response::new(proto::SupervisionPolicyInForce {
        committee_id: committee.to_string(),
        version,
        policy: Some(policy_message(policy)),
        position,
    }))
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
