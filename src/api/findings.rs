//! The `oversight.v1.Findings` service: findings raised, assigned, extended, answered on two
//! facets and verified — commands through the [`Handler`](crate::handler::Handler), queries from
//! the `findings` view, with overdue and due-soon judged against [`App::clock`] when a query
//! is answered (never stored).
//!
//! Checks beyond the role table ([`crate::api::rules::rule`]), made here:
//! * an appointee responds to, reads and lists only findings naming them (their subject is
//!   their appointee id);
//! * a reporter gets the board's counts only, never its lists of findings;
//! * a principal whose token names a committee reads that committee's findings; the parent
//!   committee (the city) gets a child's board counts only (as a reporter does) and is refused
//!   its findings themselves (see [`crate::app::scope::committee_access`]).
//!
//! The supervision policy is the committee's, in force when the command is decided (see
//! [`crate::api::policy`]): an assignment's due date is computed from it and recorded, so a later
//! adoption leaves it alone; queries judge due-soon by the policy in force when they answer.

use chrono::NaiveDate;
use tonic::{Request, Response, Status};

use crate::api::context::{DEFAULT_PAGE_SIZE, LegacyCommands, MAX_PAGE_SIZE, Page, RequestExt};
use crate::api::supervision::{
    appointee_ref, id_or_new, index_page, read_at, scope_check, stream, timestamp,
};
use crate::app::App;
use crate::app::policy::{committee_policy, policy_in_view};
use crate::app::scope::{
    Access, require_acting_on, require_committee_aggregates, require_committee_records,
};
use crate::auth::{Principal, Role};
use crate::domain::finding::{
    Explanation, Finding, FindingAssigned, FindingCommand, FindingEvent, FindingSource,
    FindingStatus, Rectification, Severity, Verdict,
};
use crate::domain::ids::{AppointeeId, CommitteeId, FindingId, InspectionId, finding_stream};
use crate::domain::supervision_policy::{SupervisionPolicy, local_date};
use crate::domain::{Rejection, validate};
use crate::handler::Loaded;
use crate::projection::findings::{
    self, BoardCounts, DueDoc, FindingDoc, Scope, scope_key, state_name,
};
use crate::proto;
use crate::proto::findings_server::Findings;

/// Findings and the findings board.
#[derive(Clone)]
pub struct FindingsService {
    state: App,
}

impl FindingsService {
    /// The service over the shared state.
    pub fn new(state: App) -> Self {
        Self { state }
    }

    /// The generated tonic server around this service.
    pub fn into_server(self) -> proto::findings_server::FindingsServer<Self> {
        proto::findings_server::FindingsServer::new(self)
    }

    async fn execute(
        &self,
        principal: &Principal,
        id: FindingId,
        command: FindingCommand,
        loaded: Option<Loaded<Finding>>,
        correlation_id: &str,
    ) -> Result<Response<proto::FindingReply>, Status> {
        // A finding belongs to the committee that raised it: only that committee's principals
        // (and the appointee it names, where the policy table lets them) act on it. The state
        // checked is the one the command is decided against (unless the stream changes in
        // between, when the handler decides again on a fresh load).
        let stream = stream(finding_stream(&id))?;
        let loaded = match (&command, loaded) {
            (FindingCommand::Raise { .. }, _) => None,
            (_, Some(loaded)) => Some(loaded),
            (_, None) => Some(self.state.handler.load::<Finding>(&stream).await?),
        };
        let target = match &command {
            FindingCommand::Raise {
                committee,
                appointee,
                ..
            } => Some((
                committee.id.clone(),
                appointee.as_ref().map(|a| a.id.to_string()),
            )),
            _ => loaded
                .as_ref()
                .and_then(|loaded| loaded.state.raised.as_ref())
                .map(|raised| {
                    (
                        raised.subject.committee.clone(),
                        raised.subject.appointee.as_ref().map(|a| a.to_string()),
                    )
                }),
        };
        match &target {
            Some((committee, appointee)) => {
                require_acting_on(principal, Some(committee.as_str()), appointee.as_deref())?
            }
            // Not raised: the domain refuses the command as not found.
            None => require_acting_on(principal, None, None)?,
        }
        let (ctx, metadata) = self.state.command_context_legacy(principal, correlation_id);
        let executed = self
            .state
            .handler
            .execute_from::<Finding>(&stream, loaded, &command, &ctx, &metadata)
            .await?;
        let due_on = executed
            .events
            .iter()
            .find_map(|e| match e {
                FindingEvent::Assigned(FindingAssigned { due_on, .. })
                | FindingEvent::DeadlineExtended { due_on, .. } => Some(due_on.to_string()),
                _ => None,
            })
            .unwrap_or_default();
        Ok(Response::new(proto::FindingReply {
            finding_id: id.to_string(),
            position: executed.position,
            due_on,
        }))
    }
}

fn date(field: &str, raw: &str) -> Result<NaiveDate, Status> {
    Ok(validate::date(field, raw)?)
}

fn source_from(source: proto::FindingSource) -> Result<FindingSource, Status> {
    Ok(match source {
        proto::FindingSource::Unspecified => {
            return Err(Rejection::invalid(
                "source",
                "must be inspection, visit, view, opinion, budget_doubt or audit",
            )
            .into());
        }
        proto::FindingSource::Inspection => FindingSource::Inspection,
        proto::FindingSource::Visit => FindingSource::Visit,
        proto::FindingSource::View => FindingSource::View,
        proto::FindingSource::Opinion => FindingSource::Opinion,
        proto::FindingSource::BudgetDoubt => FindingSource::BudgetDoubt,
        proto::FindingSource::Audit => FindingSource::Audit,
    })
}

fn source_to(source: FindingSource) -> proto::FindingSource {
    match source {
        FindingSource::Inspection => proto::FindingSource::Inspection,
        FindingSource::Visit => proto::FindingSource::Visit,
        FindingSource::View => proto::FindingSource::View,
        FindingSource::Opinion => proto::FindingSource::Opinion,
        FindingSource::BudgetDoubt => proto::FindingSource::BudgetDoubt,
        FindingSource::Audit => proto::FindingSource::Audit,
    }
}

fn severity_from(severity: proto::FindingSeverity) -> Result<Severity, Status> {
    Ok(match severity {
        proto::FindingSeverity::Unspecified => {
            return Err(
                Rejection::invalid("severity", "must be minor, moderate or serious").into(),
            );
        }
        proto::FindingSeverity::Minor => Severity::Minor,
        proto::FindingSeverity::Moderate => Severity::Moderate,
        proto::FindingSeverity::Serious => Severity::Serious,
    })
}

fn severity_to(severity: Severity) -> proto::FindingSeverity {
    match severity {
        Severity::Minor => proto::FindingSeverity::Minor,
        Severity::Moderate => proto::FindingSeverity::Moderate,
        Severity::Serious => proto::FindingSeverity::Serious,
    }
}

fn explanation_from(value: proto::FindingExplanation) -> Option<Explanation> {
    match value {
        proto::FindingExplanation::Unspecified => None,
        proto::FindingExplanation::None => Some(Explanation::None),
        proto::FindingExplanation::Explained => Some(Explanation::Explained),
    }
}

fn explanation_to(value: Explanation) -> proto::FindingExplanation {
    match value {
        Explanation::None => proto::FindingExplanation::None,
        Explanation::Explained => proto::FindingExplanation::Explained,
    }
}

fn rectification_from(value: proto::FindingRectification) -> Option<Rectification> {
    match value {
        proto::FindingRectification::Unspecified => None,
        proto::FindingRectification::None => Some(Rectification::None),
        proto::FindingRectification::Required => Some(Rectification::Required),
        proto::FindingRectification::InProgress => Some(Rectification::InProgress),
        proto::FindingRectification::Done => Some(Rectification::Done),
        proto::FindingRectification::NotDone => Some(Rectification::NotDone),
        proto::FindingRectification::Ongoing => Some(Rectification::Ongoing),
    }
}

fn rectification_to(value: Rectification) -> proto::FindingRectification {
    match value {
        Rectification::None => proto::FindingRectification::None,
        Rectification::Required => proto::FindingRectification::Required,
        Rectification::InProgress => proto::FindingRectification::InProgress,
        Rectification::Done => proto::FindingRectification::Done,
        Rectification::NotDone => proto::FindingRectification::NotDone,
        Rectification::Ongoing => proto::FindingRectification::Ongoing,
    }
}

fn status_from(value: proto::FindingStatus) -> Option<FindingStatus> {
    match value {
        proto::FindingStatus::Unspecified => None,
        proto::FindingStatus::Raised => Some(FindingStatus::Raised),
        proto::FindingStatus::Assigned => Some(FindingStatus::Assigned),
        proto::FindingStatus::Responded => Some(FindingStatus::Responded),
        proto::FindingStatus::Reopened => Some(FindingStatus::Reopened),
        proto::FindingStatus::Closed => Some(FindingStatus::Closed),
    }
}

fn status_to(value: FindingStatus) -> proto::FindingStatus {
    match value {
        FindingStatus::Raised => proto::FindingStatus::Raised,
        FindingStatus::Assigned => proto::FindingStatus::Assigned,
        FindingStatus::Responded => proto::FindingStatus::Responded,
        FindingStatus::Reopened => proto::FindingStatus::Reopened,
        FindingStatus::Closed => proto::FindingStatus::Closed,
    }
}

/// Whether an open finding due on `due` is overdue, or due soon, on `today`.
fn due_state(due: NaiveDate, today: NaiveDate, policy: &SupervisionPolicy) -> (bool, bool) {
    let overdue = today > due;
    let soon = !overdue && (due - today).num_days() <= i64::from(policy.finding_due_soon_days);
    (overdue, soon)
}

fn finding_to(
    doc: FindingDoc,
    now: chrono::DateTime<chrono::Utc>,
    policy: &SupervisionPolicy,
) -> proto::FindingRecord {
    let (overdue, due_soon) = match doc.due_on {
        Some(due) if doc.status != FindingStatus::Closed => {
            due_state(due, local_date(now, doc.utc_offset_minutes), policy)
        }
        _ => (false, false),
    };
    let raised_on = doc.raised_day().to_string();
    proto::FindingRecord {
        finding_id: doc.finding.to_string(),
        committee_id: doc.subject.committee.to_string(),
        source: source_to(doc.subject.source) as i32,
        source_ref: doc.subject.source_ref,
        organ: doc.subject.organ,
        appointee_id: doc
            .subject
            .appointee
            .map(|a| a.to_string())
            .unwrap_or_default(),
        year: doc.subject.year,
        severity: severity_to(doc.severity) as i32,
        description: doc.description,
        status: status_to(doc.status) as i32,
        explanation: explanation_to(doc.explanation) as i32,
        rectification: rectification_to(doc.rectification) as i32,
        assignee: doc.assignee.unwrap_or_default(),
        due_on: doc.due_on.map(|d| d.to_string()).unwrap_or_default(),
        extensions: doc.extensions,
        raised_by: doc.raised_by,
        raised_at: Some(timestamp(doc.raised_at)),
        responders: doc.responders,
        last_note: doc.last_note,
        verified_by: doc.verified_by.unwrap_or_default(),
        overdue,
        due_soon,
        raised_on,
    }
}

/// The committee and scope key a board or list request names; checks an appointee asks only
/// for their own scope.
fn scope_of(
    principal: &Principal,
    committee_id: &str,
    scope: Option<proto::FindingScope>,
) -> Result<String, Status> {
    use proto::finding_scope::Scope as S;
    CommitteeId::parse(committee_id)?;
    let scope = match scope.and_then(|s| s.scope) {
        None | Some(S::WholeCommittee(_)) => Scope::Committee,
        Some(S::Organ(organ)) => {
            let organ = validate::nfc(organ);
            validate::name("scope.organ", &organ)?;
            Scope::Organ(organ)
        }
        Some(S::InspectionId(id)) => {
            InspectionId::parse(id.as_str())
                .map_err(|_| Rejection::invalid("scope.inspection_id", "is not a valid id"))?;
            Scope::Inspection(id)
        }
        Some(S::Year(year)) => Scope::Year(year),
        Some(S::AppointeeId(id)) => {
            AppointeeId::parse(id.as_str())
                .map_err(|_| Rejection::invalid("scope.appointee_id", "is not a valid id"))?;
            Scope::Appointee(id)
        }
    };
    if principal.role == Role::Appointee {
        scope_check(
            principal,
            matches!(&scope, Scope::Appointee(id) if *id == principal.subject),
            "see findings other than their own",
        )?;
    }
    Ok(scope_key(committee_id, &scope))
}

fn counts(
    map: &std::collections::BTreeMap<String, u64>,
    states: &[String],
) -> Vec<proto::FindingCount> {
    states
        .iter()
        .map(|state| proto::FindingCount {
            state: state.clone(),
            count: map.get(state).copied().unwrap_or(0),
        })
        .collect()
}

#[tonic::async_trait]
impl Findings for FindingsService {
    #[tracing::instrument(skip_all, fields(method = "RaiseFinding", finding))]
    async fn raise_finding(
        &self,
        request: Request<proto::RaiseFindingRequest>,
    ) -> Result<Response<proto::FindingReply>, Status> {
        let principal = self.state.principal(&request)?;
        let r = request.into_inner();
        let id = id_or_new(&r.finding_id, FindingId::parse)?;
        tracing::Span::current().record("finding", id.as_str());
        let source = source_from(r.source())?;
        let severity = severity_from(r.severity())?;
        let (committee, policy) =
            committee_policy(&self.state, CommitteeId::parse(r.committee_id.as_str())?).await?;
        let appointee = if r.appointee_id.is_empty() {
            None
        } else {
            Some(appointee_ref(&self.state, "appointee_id", &r.appointee_id).await?)
        };
        let raised_on = if r.raised_on.is_empty() {
            None
        } else {
            Some(date("raised_on", &r.raised_on)?)
        };
        let command = FindingCommand::Raise {
            id: id.clone(),
            committee,
            source,
            source_ref: validate::nfc(r.source_ref),
            organ: validate::nfc(r.organ),
            appointee,
            severity,
            description: r.description,
            rectification_required: r.rectification_required,
            raised_on,
            policy,
        };
        self.execute(&principal, id, command, None, &r.correlation_id)
            .await
    }

    #[tracing::instrument(skip_all, fields(method = "AssignFinding", finding))]
    async fn assign_finding(
        &self,
        request: Request<proto::AssignFindingRequest>,
    ) -> Result<Response<proto::FindingReply>, Status> {
        let principal = self.state.principal(&request)?;
        let r = request.into_inner();
        tracing::Span::current().record("finding", r.finding_id.as_str());
        let id = FindingId::parse(r.finding_id.as_str())?;
        let due_on = if r.due_on.is_empty() {
            None
        } else {
            Some(date("due_on", &r.due_on)?)
        };
        // The due date comes from the policy in force now, and is recorded with the assignment.
        let loaded = self
            .state
            .handler
            .load::<Finding>(&stream(finding_stream(&id))?)
            .await?;
        let policy = match &loaded.state.raised {
            Some(raised) => {
                committee_policy(&self.state, raised.subject.committee.clone())
                    .await?
                    .1
            }
            // Not raised: the domain refuses the command as not found.
            None => SupervisionPolicy::default(),
        };
        let command = FindingCommand::Assign {
            assignee: validate::nfc(r.assignee),
            due_on,
            policy,
        };
        self.execute(&principal, id, command, Some(loaded), &r.correlation_id)
            .await
    }

    #[tracing::instrument(skip_all, fields(method = "ExtendFindingDeadline", finding))]
    async fn extend_finding_deadline(
        &self,
        request: Request<proto::ExtendFindingDeadlineRequest>,
    ) -> Result<Response<proto::FindingReply>, Status> {
        let principal = self.state.principal(&request)?;
        let r = request.into_inner();
        tracing::Span::current().record("finding", r.finding_id.as_str());
        let id = FindingId::parse(r.finding_id.as_str())?;
        let command = FindingCommand::ExtendDeadline {
            due_on: date("due_on", &r.due_on)?,
            approved_by: validate::nfc(r.approved_by),
            reason: r.reason,
        };
        self.execute(&principal, id, command, None, &r.correlation_id)
            .await
    }

    #[tracing::instrument(skip_all, fields(method = "RespondToFinding", finding))]
    async fn respond_to_finding(
        &self,
        request: Request<proto::RespondToFindingRequest>,
    ) -> Result<Response<proto::FindingReply>, Status> {
        let principal = self.state.principal(&request)?;
        let r = request.into_inner();
        tracing::Span::current().record("finding", r.finding_id.as_str());
        let id = FindingId::parse(r.finding_id.as_str())?;
        // An appointee responds only to a finding that names them; the state checked is the one
        // the command is decided on.
        let loaded = if principal.role == Role::Appointee {
            let loaded = self
                .state
                .handler
                .load::<Finding>(&stream(finding_stream(&id))?)
                .await?;
            if let Some(raised) = &loaded.state.raised {
                scope_check(
                    &principal,
                    raised.subject.appointee.as_ref().map(|a| a.as_str())
                        == Some(principal.subject.as_str()),
                    &format!("respond to finding {id}, which does not name them"),
                )?;
            }
            Some(loaded)
        } else {
            None
        };
        let command = FindingCommand::Respond {
            explanation: explanation_from(r.explanation()),
            rectification: rectification_from(r.rectification()),
            note: r.note,
        };
        self.execute(&principal, id, command, loaded, &r.correlation_id)
            .await
    }

    #[tracing::instrument(skip_all, fields(method = "VerifyFinding", finding))]
    async fn verify_finding(
        &self,
        request: Request<proto::VerifyFindingRequest>,
    ) -> Result<Response<proto::FindingReply>, Status> {
        let principal = self.state.principal(&request)?;
        let r = request.into_inner();
        tracing::Span::current().record("finding", r.finding_id.as_str());
        let id = FindingId::parse(r.finding_id.as_str())?;
        let verdict = match r.verdict() {
            proto::FindingVerdict::Unspecified => {
                return Err(Rejection::invalid("verdict", "must be accept or reject").into());
            }
            proto::FindingVerdict::Accept => Verdict::Accept,
            proto::FindingVerdict::Reject => Verdict::Reject {
                reason: r.reason.clone(),
            },
        };
        let command = FindingCommand::Verify { verdict };
        self.execute(&principal, id, command, None, &r.correlation_id)
            .await
    }

    #[tracing::instrument(skip_all, fields(method = "GetFinding", finding))]
    async fn get_finding(
        &self,
        request: Request<proto::GetFindingRequest>,
    ) -> Result<Response<proto::FindingRecord>, Status> {
        let principal = self.state.principal(&request)?;
        let r = request.get_ref().clone();
        tracing::Span::current().record("finding", r.finding_id.as_str());
        FindingId::parse(r.finding_id.as_str())?;
        let read = read_at(&self.state, &request, findings::NAME, r.min_position).await?;
        let doc: FindingDoc = read
            .get(findings::NAME, findings::FINDINGS, &r.finding_id)?
            .ok_or_else(|| Status::not_found(format!("finding {} does not exist", r.finding_id)))?;
        require_committee_records(&principal, &read, doc.subject.committee.as_str())?;
        if principal.role == Role::Appointee {
            scope_check(
                &principal,
                doc.subject.appointee.as_ref().map(|a| a.as_str())
                    == Some(principal.subject.as_str()),
                "see a finding that does not name them",
            )?;
        }
        let policy = policy_in_view(&read, doc.subject.committee.as_str())?;
        Ok(Response::new(finding_to(
            doc,
            self.state.clock.now(),
            &policy,
        )))
    }

    #[tracing::instrument(skip_all, fields(method = "FindingsBoard", committee))]
    async fn findings_board(
        &self,
        request: Request<proto::FindingsBoardRequest>,
    ) -> Result<Response<proto::FindingsBoardReply>, Status> {
        let principal = self.state.principal(&request)?;
        let r = request.get_ref().clone();
        tracing::Span::current().record("committee", r.committee_id.as_str());
        let scope = scope_of(&principal, &r.committee_id, r.scope.clone())?;
        let limit = match r.list_limit as usize {
            0 => DEFAULT_PAGE_SIZE,
            n if n > MAX_PAGE_SIZE => {
                return Err(Rejection::invalid(
                    "list_limit",
                    format!("must be at most {MAX_PAGE_SIZE}"),
                )
                .into());
            }
            n => n,
        };
        let now = self.state.clock.now();
        // The policy comes from the registry view: wait for it too.
        self.state
            .wait_for(&request, crate::projection::registry::NAME, r.min_position)
            .await?;
        let read = read_at(&self.state, &request, findings::NAME, r.min_position).await?;
        let access = require_committee_aggregates(&principal, &read, &r.committee_id)?;
        let policy = policy_in_view(&read, &r.committee_id)?;
        let board: BoardCounts = read
            .get(findings::NAME, findings::COUNTS, &scope)?
            .unwrap_or_default();
        let explanation_states =
            [Explanation::None, Explanation::Explained].map(|s| state_name(&s));
        let rectification_states = [
            Rectification::None,
            Rectification::Required,
            Rectification::InProgress,
            Rectification::Done,
            Rectification::NotDone,
            Rectification::Ongoing,
        ]
        .map(|s| state_name(&s));
        let status_states = [
            FindingStatus::Raised,
            FindingStatus::Assigned,
            FindingStatus::Responded,
            FindingStatus::Reopened,
            FindingStatus::Closed,
        ]
        .map(|s| state_name(&s));
        let mut reply = proto::FindingsBoardReply {
            total: board.total,
            explanation: counts(&board.explanation, &explanation_states),
            rectification: counts(&board.rectification, &rectification_states),
            status: counts(&board.status, &status_states),
            as_of: policy.local_date(now).to_string(),
            due_soon_days: policy.finding_due_soon_days,
            ..Default::default()
        };
        // Reporters and parent committees see aggregate counts only: the totals are counted, the
        // lists stay empty.
        let limit = if principal.role == Role::Reporter || access == Access::Aggregates {
            0
        } else {
            limit
        };
        // The due index is ordered by due date: walk it until the dates pass the due-soon window.
        // (A committee has one UTC offset, so "today" is the same for every entry of a scope.)
        let prefix = format!("{scope}/");
        let mut after: Option<String> = None;
        'scan: loop {
            let entries: Vec<(String, DueDoc)> = read.scan(
                findings::NAME,
                findings::DUE,
                &prefix,
                after.as_deref(),
                512,
            )?;
            let exhausted = entries.len() < 512;
            for (key, due) in entries {
                after = Some(key);
                let today = local_date(now, due.utc_offset_minutes);
                let days = (due.due_on - today).num_days();
                let entry = |days: i64| proto::DueFinding {
                    finding_id: due.finding.to_string(),
                    organ: due.organ.clone(),
                    appointee_id: due.appointee.clone().unwrap_or_default(),
                    due_on: due.due_on.to_string(),
                    days,
                };
                match due_state(due.due_on, today, &policy) {
                    (true, _) => {
                        reply.overdue_total += 1;
                        if reply.overdue.len() < limit {
                            reply.overdue.push(entry(-days));
                        }
                    }
                    (false, true) => {
                        reply.due_soon_total += 1;
                        if reply.due_soon.len() < limit {
                            reply.due_soon.push(entry(days));
                        }
                    }
                    (false, false) => break 'scan,
                }
            }
            if exhausted {
                break;
            }
        }
        Ok(Response::new(reply))
    }

    #[tracing::instrument(skip_all, fields(method = "ListFindings", committee))]
    async fn list_findings(
        &self,
        request: Request<proto::ListFindingsRequest>,
    ) -> Result<Response<proto::ListFindingsReply>, Status> {
        let principal = self.state.principal(&request)?;
        let r = request.get_ref().clone();
        tracing::Span::current().record("committee", r.committee_id.as_str());
        let scope = scope_of(&principal, &r.committee_id, r.scope.clone())?;
        let page = Page::from_request(r.page_size, &r.page_token)?;
        let status = status_from(r.status());
        let now = self.state.clock.now();
        // The policy comes from the registry view: wait for it too.
        self.state
            .wait_for(&request, crate::projection::registry::NAME, r.min_position)
            .await?;
        let read = read_at(&self.state, &request, findings::NAME, r.min_position).await?;
        require_committee_records(&principal, &read, &r.committee_id)?;
        let policy = policy_in_view(&read, &r.committee_id)?;
        let prefix = format!("{scope}/");
        let (items, next_page_token) = index_page(
            &read,
            findings::NAME,
            findings::MEMBERS,
            &prefix,
            &page,
            |id| {
                let doc: Option<FindingDoc> = read.get(findings::NAME, findings::FINDINGS, id)?;
                Ok(doc
                    .filter(|d| status.is_none_or(|s| d.status == s))
                    .map(|d| finding_to(d, now, &policy)))
            },
        )?;
        Ok(Response::new(proto::ListFindingsReply {
            findings: items,
            next_page_token,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overdue_starts_the_day_after_the_due_date() {
        let policy = SupervisionPolicy::default();
        let due = NaiveDate::from_ymd_opt(2018, 3, 23).unwrap();
        assert_eq!(due_state(due, due, &policy), (false, true));
        assert_eq!(
            due_state(due, due.succ_opt().unwrap(), &policy),
            (true, false)
        );
        let far = NaiveDate::from_ymd_opt(2018, 1, 1).unwrap();
        assert_eq!(due_state(due, far, &policy), (false, false));
    }
}
