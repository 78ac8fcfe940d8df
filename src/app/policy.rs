//! Committee-adopted supervision policies: adopting one, reading the one in force, and the one
//! way every command and query finds it.
//!
//! * Commands (filing a visit, raising or assigning a finding, adopting an annual plan,
//!   recording feedback) load the committee's aggregate with [`committee_policy`] and put the
//!   policy into the domain command, so the decision and the event record the values in force
//!   at that moment. A later adoption never changes what was decided: a finding's due date is
//!   fixed when it is assigned.
//! * Queries (the findings board's due-soon window, "today" at the committee) read the
//!   `registry` view's `policies` table with [`policy_in_view`]; no entry means the shipped
//!   default, version 0.

use serde::Serialize;

use crate::app::scope::{require_acting_on, require_reading};
use crate::app::{App, AppError, Caller, Target, Wait};
use crate::auth::Principal;
use crate::domain::committee::{Committee, CommitteeCommand, CommitteeEvent};
use crate::domain::ids::{CommitteeId, committee_stream};
use crate::domain::lookup::{CommitteeRef, Lookup};
use crate::domain::supervision_policy::SupervisionPolicy;
use crate::log::StreamName;
use crate::projection::ViewRead;
use crate::projection::registry::{self as view, CommitteeDoc, PolicyDoc};

/// Loads a committee and returns its facts (for the command's lookup) with the supervision
/// policy in force (the shipped default for a committee that does not exist: the domain then
/// refuses the command as not found).
pub async fn committee_policy(
    app: &App,
    id: CommitteeId,
) -> Result<(CommitteeRef, SupervisionPolicy), AppError> {
    let loaded = app
        .handler
        .load::<Committee>(&StreamName::new(committee_stream(&id))?)
        .await?;
    let facts = loaded.state.facts();
    Ok((Lookup { id, found: facts }, loaded.state.policy))
}

/// The policy in force for `committee` as the `registry` view has it (the shipped default when
/// the committee never adopted one).
pub fn policy_in_view(read: &ViewRead, committee: &str) -> Result<SupervisionPolicy, AppError> {
    Ok(read
        .get::<PolicyDoc>(view::NAME, view::POLICIES, committee)?
        .map(|doc| doc.policy)
        .unwrap_or_default())
}

/// A validated AdoptSupervisionPolicy.
#[derive(Debug, Clone, Serialize)]
pub struct AdoptSupervisionPolicy {
    /// The committee adopting it.
    pub committee: CommitteeId,
    /// The policy, checked by [`SupervisionPolicy::validate`].
    pub policy: SupervisionPolicy,
}

/// What adopting a policy wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyAdopted {
    /// The version the policy got (1, 2, …).
    pub version: u32,
    /// The position written.
    pub position: u64,
}

/// The policy in force for a committee.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyInForce {
    /// The committee.
    pub committee: CommitteeId,
    /// Its version (0: the shipped default).
    pub version: u32,
    /// The policy.
    pub policy: SupervisionPolicy,
    /// The position of its adoption (0 for the default).
    pub position: u64,
}

impl App {
    /// Adopts a supervision policy for the caller's committee (chair or admin): recorded as
    /// `SupervisionPolicyAdopted.v1` on the committee's stream.
    pub async fn adopt_supervision_policy(
        &self,
        caller: &Caller,
        command: AdoptSupervisionPolicy,
    ) -> Result<PolicyAdopted, AppError> {
        let committee = &command.committee;
        tracing::Span::current().record("committee", committee.as_str());
        require_acting_on(&caller.principal, Some(committee.as_str()), None)?;
        let target =
            Target::<Committee>::new(committee_stream(committee), Some(committee.as_str()))?;
        let executed = self
            .execute(
                caller,
                target,
                &CommitteeCommand::AdoptSupervisionPolicy {
                    policy: command.policy.clone(),
                },
                "AdoptSupervisionPolicy",
                &command,
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
                tracing::error!(
                    "AdoptSupervisionPolicy wrote no SupervisionPolicyAdopted.v1 event"
                );
                AppError::Unavailable("the policy was not recorded; retry the command".into())
            })?;
        Ok(PolicyAdopted {
            version,
            position: executed.position,
        })
    }

    /// The supervision policy in force for `committee`, from the `registry` view.
    pub async fn supervision_policy(
        &self,
        principal: &Principal,
        wait: Wait,
        committee: &CommitteeId,
    ) -> Result<PolicyInForce, AppError> {
        self.wait_view(view::NAME, wait).await?;
        tracing::Span::current().record("committee", committee.as_str());
        let read = self.views.read()?;
        // Scope first, so that other committees' callers cannot probe which ids exist. The
        // policy is the committee's rule book, not a record about anyone: a parent committee
        // reads it too.
        require_reading(principal, &read, committee.as_str(), None)?;
        if read
            .get::<CommitteeDoc>(view::NAME, view::COMMITTEES, committee.as_str())?
            .is_none()
        {
            return Err(AppError::not_found(format!(
                "committee {committee} does not exist"
            )));
        }
        let (version, policy, position) =
            match read.get::<PolicyDoc>(view::NAME, view::POLICIES, committee.as_str())? {
                Some(doc) => (doc.version, doc.policy, doc.position),
                None => (0, SupervisionPolicy::default(), 0),
            };
        Ok(PolicyInForce {
            committee: committee.clone(),
            version,
            policy,
            position,
        })
    }
}
