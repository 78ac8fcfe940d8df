//! The `oversight.v1.Registry` service: committees and their members, appointees and their
//! terms, deputy groups. Commands are validated into domain commands here (ids, dates, enums;
//! the domain checks texts and rules), the handler fills their [`crate::domain::lookup::Lookup`]s
//! by loading the referenced aggregates, and the reply carries the position written. Queries
//! read the `registry` view after waiting for `min_position`.
//!
//! Scope (see [`crate::app::scope`]): commands need the principal's committee to be the target's
//! (admins excepted); reads also allow auditors without a committee, and the parent committee
//! reads the committee itself, the committee list and the supervision policy — not the
//! appointees or deputy groups (individual records).

use tonic::{Request, Response, Status};

use crate::api::context::{LegacyCommands, Page, RequestExt};
use crate::api::fields::{date, date_text, id_or_new, optional_date, scan_page, stream};
use crate::app::App;
use crate::app::scope::{
    reads_everything, require_acting_on, require_reading, require_reading_records,
};
use crate::auth::{Principal, Role};
use crate::domain::Rejection;
use crate::domain::appointee::{Appointee, AppointeeCommand, OrganKind, TermEndKind};
use crate::domain::committee::{Committee, CommitteeCommand, CommitteeLevel};
use crate::domain::deputy_group::{DeputyGroup, DeputyGroupCommand};
use crate::domain::ids::{
    AppointeeId, CommitteeId, DeputyGroupId, DeputyId, MemberId, appointee_stream,
    committee_stream, deputy_group_stream,
};
use crate::domain::lookup::{AppointeeRef, CommitteeRef, DeputyGroupRef};
use crate::projection::registry::{
    self as view, AppointeeDoc, CommitteeDoc, GroupDoc, MemberDoc, PostDoc,
};
use crate::proto;
use crate::proto::registry_server::Registry;

/// Committees, appointees and deputy groups.
#[derive(Clone)]
pub struct RegistryService {
    state: App,
}

impl RegistryService {
    /// The service over the shared state.
    pub fn new(state: App) -> Self {
        Self { state }
    }

    /// The generated tonic server around this service.
    pub fn into_server(self) -> proto::registry_server::RegistryServer<Self> {
        proto::registry_server::RegistryServer::new(self)
    }
}

/// Loads a committee and returns what commands need to know about it.
pub async fn committee_ref(state: &App, id: CommitteeId) -> Result<CommitteeRef, Status> {
    let loaded = state
        .handler
        .load::<Committee>(&stream(committee_stream(&id))?)
        .await?;
    Ok(match loaded.state.facts() {
        Some(facts) => CommitteeRef::found(id, facts),
        None => CommitteeRef::missing(id),
    })
}

/// Loads an appointee and returns what commands need to know about them.
pub async fn appointee_ref(state: &App, id: AppointeeId) -> Result<AppointeeRef, Status> {
    let loaded = state
        .handler
        .load::<Appointee>(&stream(appointee_stream(&id))?)
        .await?;
    Ok(match loaded.state.facts() {
        Some(facts) => AppointeeRef::found(id, facts),
        None => AppointeeRef::missing(id),
    })
}

async fn group_ref(state: &App, id: DeputyGroupId) -> Result<DeputyGroupRef, Status> {
    let loaded = state
        .handler
        .load::<DeputyGroup>(&stream(deputy_group_stream(&id))?)
        .await?;
    Ok(match loaded.state.facts() {
        Some(facts) => DeputyGroupRef::found(id, facts),
        None => DeputyGroupRef::missing(id),
    })
}

fn record(field: &str, value: &str) {
    tracing::Span::current().record(field, value);
}

// --- enums -----------------------------------------------------------------------------------

fn level(value: i32) -> Result<CommitteeLevel, Rejection> {
    match proto::CommitteeLevel::try_from(value) {
        Ok(proto::CommitteeLevel::City) => Ok(CommitteeLevel::City),
        Ok(proto::CommitteeLevel::District) => Ok(CommitteeLevel::District),
        Ok(proto::CommitteeLevel::County) => Ok(CommitteeLevel::County),
        Ok(proto::CommitteeLevel::Township) => Ok(CommitteeLevel::Township),
        _ => Err(Rejection::invalid(
            "level",
            "must be one of city, district, county, township",
        )),
    }
}

fn level_proto(level: CommitteeLevel) -> proto::CommitteeLevel {
    match level {
        CommitteeLevel::City => proto::CommitteeLevel::City,
        CommitteeLevel::District => proto::CommitteeLevel::District,
        CommitteeLevel::County => proto::CommitteeLevel::County,
        CommitteeLevel::Township => proto::CommitteeLevel::Township,
    }
}

/// `None` for unspecified (any kind, in filters).
fn organ_kind(field: &str, value: i32) -> Result<Option<OrganKind>, Rejection> {
    match proto::OrganKind::try_from(value) {
        Ok(proto::OrganKind::Unspecified) => Ok(None),
        Ok(proto::OrganKind::Government) => Ok(Some(OrganKind::Government)),
        Ok(proto::OrganKind::Court) => Ok(Some(OrganKind::Court)),
        Ok(proto::OrganKind::Procuratorate) => Ok(Some(OrganKind::Procuratorate)),
        Ok(proto::OrganKind::SupervisoryCommission) => Ok(Some(OrganKind::SupervisoryCommission)),
        Err(_) => Err(organ_kind_rule(field)),
    }
}

fn organ_kind_rule(field: &str) -> Rejection {
    Rejection::invalid(
        field,
        "must be one of government, court, procuratorate, supervisory_commission",
    )
}

fn organ_kind_proto(kind: OrganKind) -> proto::OrganKind {
    match kind {
        OrganKind::Government => proto::OrganKind::Government,
        OrganKind::Court => proto::OrganKind::Court,
        OrganKind::Procuratorate => proto::OrganKind::Procuratorate,
        OrganKind::SupervisoryCommission => proto::OrganKind::SupervisoryCommission,
    }
}

fn term_end_kind(value: i32) -> Result<TermEndKind, Rejection> {
    match proto::TermEndKind::try_from(value) {
        Ok(proto::TermEndKind::Removal) => Ok(TermEndKind::Removal),
        Ok(proto::TermEndKind::Resignation) => Ok(TermEndKind::Resignation),
        Ok(proto::TermEndKind::Transfer) => Ok(TermEndKind::Transfer),
        Ok(proto::TermEndKind::TermEnd) => Ok(TermEndKind::TermEnd),
        _ => Err(Rejection::invalid(
            "kind",
            "must be one of removal, resignation, transfer, term_end",
        )),
    }
}

fn term_end_kind_proto(kind: TermEndKind) -> proto::TermEndKind {
    match kind {
        TermEndKind::Removal => proto::TermEndKind::Removal,
        TermEndKind::Resignation => proto::TermEndKind::Resignation,
        TermEndKind::Transfer => proto::TermEndKind::Transfer,
        TermEndKind::TermEnd => proto::TermEndKind::TermEnd,
    }
}

/// `None` for unspecified (either status).
fn status_filter(value: i32) -> Result<Option<bool>, Rejection> {
    match proto::AppointeeStatus::try_from(value) {
        Ok(proto::AppointeeStatus::Unspecified) => Ok(None),
        Ok(proto::AppointeeStatus::Serving) => Ok(Some(true)),
        Ok(proto::AppointeeStatus::Ended) => Ok(Some(false)),
        Err(_) => Err(Rejection::invalid(
            "status",
            "must be unspecified, serving or ended",
        )),
    }
}

// --- validated commands ----------------------------------------------------------------------

/// A validated CreateCommittee: the parent is still to be looked up.
struct CreateCommittee {
    id: CommitteeId,
    name: String,
    level: CommitteeLevel,
    parent: Option<CommitteeId>,
}

impl TryFrom<proto::CreateCommitteeRequest> for CreateCommittee {
    type Error = Rejection;
    fn try_from(req: proto::CreateCommitteeRequest) -> Result<Self, Rejection> {
        let parent = if req.parent_committee_id.is_empty() {
            None
        } else {
            Some(parse_as(
                "parent_committee_id",
                CommitteeId::parse(req.parent_committee_id),
            )?)
        };
        Ok(Self {
            id: id_or_new(&req.committee_id, CommitteeId::parse)?,
            name: req.name,
            level: level(req.level)?,
            parent,
        })
    }
}

/// Renames the field of an id rejection (ids name their own kind, e.g. `committee_id`, which
/// is not always the request's field, e.g. `parent_committee_id`).
fn parse_as<T>(field: &str, parsed: Result<T, Rejection>) -> Result<T, Rejection> {
    parsed.map_err(|rejection| match rejection {
        Rejection::Invalid { rule, .. } => Rejection::invalid(field, rule),
        other => other,
    })
}

impl TryFrom<proto::AddCommitteeMemberRequest> for (CommitteeId, CommitteeCommand) {
    type Error = Rejection;
    fn try_from(req: proto::AddCommitteeMemberRequest) -> Result<Self, Rejection> {
        Ok((
            CommitteeId::parse(req.committee_id)?,
            CommitteeCommand::AddMember {
                member: id_or_new(&req.member_id, MemberId::parse)?,
                name: req.name,
                from: date("from", &req.from)?,
                to: optional_date("to", &req.to)?,
            },
        ))
    }
}

impl TryFrom<proto::RemoveCommitteeMemberRequest> for (CommitteeId, CommitteeCommand) {
    type Error = Rejection;
    fn try_from(req: proto::RemoveCommitteeMemberRequest) -> Result<Self, Rejection> {
        Ok((
            CommitteeId::parse(req.committee_id)?,
            CommitteeCommand::RemoveMember {
                member: MemberId::parse(req.member_id)?,
                to: date("to", &req.to)?,
            },
        ))
    }
}

/// A validated RegisterAppointee: the committee is still to be looked up.
struct RegisterAppointee {
    id: AppointeeId,
    committee: CommitteeId,
    name: String,
    post: String,
    organ_kind: OrganKind,
    organ_name: String,
    appointed_on: chrono::NaiveDate,
    appointing_meeting: String,
}

impl TryFrom<proto::RegisterAppointeeRequest> for RegisterAppointee {
    type Error = Rejection;
    fn try_from(req: proto::RegisterAppointeeRequest) -> Result<Self, Rejection> {
        Ok(Self {
            id: id_or_new(&req.appointee_id, AppointeeId::parse)?,
            committee: CommitteeId::parse(req.committee_id)?,
            name: req.name,
            post: req.post,
            organ_kind: organ_kind("organ_kind", req.organ_kind)?
                .ok_or_else(|| organ_kind_rule("organ_kind"))?,
            organ_name: req.organ_name,
            appointed_on: date("appointed_on", &req.appointed_on)?,
            appointing_meeting: req.appointing_meeting,
        })
    }
}

impl TryFrom<proto::ChangeAppointeePostRequest> for (AppointeeId, AppointeeCommand) {
    type Error = Rejection;
    fn try_from(req: proto::ChangeAppointeePostRequest) -> Result<Self, Rejection> {
        Ok((
            AppointeeId::parse(req.appointee_id)?,
            AppointeeCommand::ChangePost {
                post: req.post,
                organ_name: (!req.organ_name.is_empty()).then_some(req.organ_name),
                on: date("on", &req.on)?,
                appointing_meeting: req.appointing_meeting,
            },
        ))
    }
}

impl TryFrom<proto::EndAppointeeTermRequest> for (AppointeeId, AppointeeCommand) {
    type Error = Rejection;
    fn try_from(req: proto::EndAppointeeTermRequest) -> Result<Self, Rejection> {
        Ok((
            AppointeeId::parse(req.appointee_id)?,
            AppointeeCommand::EndTerm {
                kind: term_end_kind(req.kind)?,
                on: date("on", &req.on)?,
                reason: req.reason,
            },
        ))
    }
}

impl TryFrom<proto::AddDeputyRequest> for (DeputyGroupId, DeputyGroupCommand) {
    type Error = Rejection;
    fn try_from(req: proto::AddDeputyRequest) -> Result<Self, Rejection> {
        Ok((
            DeputyGroupId::parse(req.group_id)?,
            DeputyGroupCommand::AddDeputy {
                deputy: id_or_new(&req.deputy_id, DeputyId::parse)?,
                name: req.name,
            },
        ))
    }
}

impl TryFrom<proto::RemoveDeputyRequest> for (DeputyGroupId, DeputyGroupCommand) {
    type Error = Rejection;
    fn try_from(req: proto::RemoveDeputyRequest) -> Result<Self, Rejection> {
        Ok((
            DeputyGroupId::parse(req.group_id)?,
            DeputyGroupCommand::RemoveDeputy {
                deputy: DeputyId::parse(req.deputy_id)?,
            },
        ))
    }
}

// --- documents to messages -------------------------------------------------------------------

fn committee_message(doc: CommitteeDoc, children: Vec<String>) -> proto::Committee {
    let seated = doc.members.iter().filter(|m| m.seated).count();
    proto::Committee {
        committee_id: doc.id,
        name: doc.name,
        level: level_proto(doc.level) as i32,
        parent_committee_id: doc.parent.unwrap_or_default(),
        child_committee_ids: children,
        seated_members: u32::try_from(seated).unwrap_or(u32::MAX),
        members: doc.members.into_iter().map(member_message).collect(),
        position: doc.position,
    }
}

fn member_message(doc: MemberDoc) -> proto::CommitteeMember {
    proto::CommitteeMember {
        member_id: doc.member,
        name: doc.name,
        from: date_text(doc.from),
        to: doc.to.map(date_text).unwrap_or_default(),
        seated: doc.seated,
    }
}

fn appointee_message(doc: AppointeeDoc) -> proto::Appointee {
    let current = doc.posts.last().cloned();
    proto::Appointee {
        appointee_id: doc.id,
        committee_id: doc.committee,
        name: doc.name,
        post: current.as_ref().map(|p| p.post.clone()).unwrap_or_default(),
        organ_kind: organ_kind_proto(doc.organ_kind) as i32,
        organ_name: current.map(|p| p.organ_name).unwrap_or_default(),
        appointed_on: date_text(doc.appointed_on),
        status: if doc.term_end.is_some() {
            proto::AppointeeStatus::Ended
        } else {
            proto::AppointeeStatus::Serving
        } as i32,
        posts: doc.posts.into_iter().map(post_message).collect(),
        term_end: doc.term_end.map(|end| proto::TermEnd {
            kind: term_end_kind_proto(end.kind) as i32,
            on: date_text(end.on),
            reason: end.reason,
        }),
        position: doc.position,
    }
}

fn post_message(doc: PostDoc) -> proto::PostHeld {
    proto::PostHeld {
        post: doc.post,
        organ_name: doc.organ_name,
        from: date_text(doc.from),
        to: doc.to.map(date_text).unwrap_or_default(),
        appointing_meeting: doc.appointing_meeting,
    }
}

fn group_message(doc: GroupDoc) -> proto::DeputyGroup {
    proto::DeputyGroup {
        group_id: doc.id,
        committee_id: doc.committee,
        name: doc.name,
        deputies: doc
            .deputies
            .into_iter()
            .map(|d| proto::Deputy {
                deputy_id: d.deputy,
                name: d.name,
            })
            .collect(),
        position: doc.position,
    }
}

fn written(position: u64) -> Response<proto::RegistryWriteResponse> {
    Response::new(proto::RegistryWriteResponse { position })
}

/// The committee a scoped list is about: the one asked for, or the caller's own when the caller
/// does not read everything; `None`: every committee.
fn list_committee(principal: &Principal, requested: &str) -> Result<Option<String>, Status> {
    if !requested.is_empty() {
        CommitteeId::parse(requested)?;
        return Ok(Some(requested.to_string()));
    }
    if reads_everything(principal) {
        return Ok(None);
    }
    principal.committee.clone().map(Some).ok_or_else(|| {
        Status::permission_denied(format!(
            "role {} has no committee; name the committee_id to list",
            principal.role
        ))
    })
}

#[tonic::async_trait]
impl Registry for RegistryService {
    #[tracing::instrument(skip_all, fields(method = "CreateCommittee", committee))]
    async fn create_committee(
        &self,
        request: Request<proto::CreateCommitteeRequest>,
    ) -> Result<Response<proto::CreateCommitteeResponse>, Status> {
        let principal = self.state.principal(&request)?;
        let req = request.into_inner();
        let correlation_id = req.correlation_id.clone();
        let create = CreateCommittee::try_from(req)?;
        record("committee", create.id.as_str());
        require_acting_on(&principal, Some(create.id.as_str()), None)?;
        let parent = match create.parent {
            Some(parent) => Some(committee_ref(&self.state, parent).await?),
            None => None,
        };
        let command = CommitteeCommand::Create {
            id: create.id.clone(),
            name: create.name,
            level: create.level,
            parent,
        };
        let position = self
            .state
            .execute_legacy::<Committee>(
                &principal,
                &correlation_id,
                Some(create.id.as_str()),
                committee_stream(&create.id),
                &command,
            )
            .await?;
        Ok(Response::new(proto::CreateCommitteeResponse {
            committee_id: create.id.to_string(),
            position,
        }))
    }

    #[tracing::instrument(skip_all, fields(method = "AddCommitteeMember", committee))]
    async fn add_committee_member(
        &self,
        request: Request<proto::AddCommitteeMemberRequest>,
    ) -> Result<Response<proto::AddCommitteeMemberResponse>, Status> {
        let principal = self.state.principal(&request)?;
        let req = request.into_inner();
        let correlation_id = req.correlation_id.clone();
        let (committee, command) = <(CommitteeId, CommitteeCommand)>::try_from(req)?;
        record("committee", committee.as_str());
        require_acting_on(&principal, Some(committee.as_str()), None)?;
        let member_id = match &command {
            CommitteeCommand::AddMember { member, .. } => member.to_string(),
            _ => String::new(),
        };
        let position = self
            .state
            .execute_legacy::<Committee>(
                &principal,
                &correlation_id,
                Some(committee.as_str()),
                committee_stream(&committee),
                &command,
            )
            .await?;
        Ok(Response::new(proto::AddCommitteeMemberResponse {
            member_id,
            position,
        }))
    }

    #[tracing::instrument(skip_all, fields(method = "RemoveCommitteeMember", committee))]
    async fn remove_committee_member(
        &self,
        request: Request<proto::RemoveCommitteeMemberRequest>,
    ) -> Result<Response<proto::RegistryWriteResponse>, Status> {
        let principal = self.state.principal(&request)?;
        let req = request.into_inner();
        let correlation_id = req.correlation_id.clone();
        let (committee, command) = <(CommitteeId, CommitteeCommand)>::try_from(req)?;
        record("committee", committee.as_str());
        require_acting_on(&principal, Some(committee.as_str()), None)?;
        let position = self
            .state
            .execute_legacy::<Committee>(
                &principal,
                &correlation_id,
                Some(committee.as_str()),
                committee_stream(&committee),
                &command,
            )
            .await?;
        Ok(written(position))
    }

    #[tracing::instrument(skip_all, fields(method = "RegisterAppointee", committee, appointee))]
    async fn register_appointee(
        &self,
        request: Request<proto::RegisterAppointeeRequest>,
    ) -> Result<Response<proto::RegisterAppointeeResponse>, Status> {
        let principal = self.state.principal(&request)?;
        let req = request.into_inner();
        let correlation_id = req.correlation_id.clone();
        let register = RegisterAppointee::try_from(req)?;
        record("committee", register.committee.as_str());
        record("appointee", register.id.as_str());
        require_acting_on(&principal, Some(register.committee.as_str()), None)?;
        let command = AppointeeCommand::Register {
            id: register.id.clone(),
            committee: committee_ref(&self.state, register.committee.clone()).await?,
            name: register.name,
            post: register.post,
            organ_kind: register.organ_kind,
            organ_name: register.organ_name,
            appointed_on: register.appointed_on,
            appointing_meeting: register.appointing_meeting,
        };
        let position = self
            .state
            .execute_legacy::<Appointee>(
                &principal,
                &correlation_id,
                Some(register.committee.as_str()),
                appointee_stream(&register.id),
                &command,
            )
            .await?;
        Ok(Response::new(proto::RegisterAppointeeResponse {
            appointee_id: register.id.to_string(),
            position,
        }))
    }

    #[tracing::instrument(skip_all, fields(method = "ChangeAppointeePost", committee, appointee))]
    async fn change_appointee_post(
        &self,
        request: Request<proto::ChangeAppointeePostRequest>,
    ) -> Result<Response<proto::RegistryWriteResponse>, Status> {
        let principal = self.state.principal(&request)?;
        let req = request.into_inner();
        let correlation_id = req.correlation_id.clone();
        let (appointee, command) = <(AppointeeId, AppointeeCommand)>::try_from(req)?;
        self.appointee_command(&principal, &correlation_id, appointee, command)
            .await
    }

    #[tracing::instrument(skip_all, fields(method = "EndAppointeeTerm", committee, appointee))]
    async fn end_appointee_term(
        &self,
        request: Request<proto::EndAppointeeTermRequest>,
    ) -> Result<Response<proto::RegistryWriteResponse>, Status> {
        let principal = self.state.principal(&request)?;
        let req = request.into_inner();
        let correlation_id = req.correlation_id.clone();
        let (appointee, command) = <(AppointeeId, AppointeeCommand)>::try_from(req)?;
        self.appointee_command(&principal, &correlation_id, appointee, command)
            .await
    }

    #[tracing::instrument(skip_all, fields(method = "FormDeputyGroup", committee, group))]
    async fn form_deputy_group(
        &self,
        request: Request<proto::FormDeputyGroupRequest>,
    ) -> Result<Response<proto::FormDeputyGroupResponse>, Status> {
        let principal = self.state.principal(&request)?;
        let req = request.into_inner();
        let id = id_or_new(&req.group_id, DeputyGroupId::parse)?;
        let committee = CommitteeId::parse(req.committee_id)?;
        record("committee", committee.as_str());
        record("group", id.as_str());
        require_acting_on(&principal, Some(committee.as_str()), None)?;
        let command = DeputyGroupCommand::Form {
            id: id.clone(),
            committee: committee_ref(&self.state, committee.clone()).await?,
            name: req.name,
        };
        let position = self
            .state
            .execute_legacy::<DeputyGroup>(
                &principal,
                &req.correlation_id,
                Some(committee.as_str()),
                deputy_group_stream(&id),
                &command,
            )
            .await?;
        Ok(Response::new(proto::FormDeputyGroupResponse {
            group_id: id.to_string(),
            position,
        }))
    }

    #[tracing::instrument(skip_all, fields(method = "AddDeputy", committee, group))]
    async fn add_deputy(
        &self,
        request: Request<proto::AddDeputyRequest>,
    ) -> Result<Response<proto::AddDeputyResponse>, Status> {
        let principal = self.state.principal(&request)?;
        let req = request.into_inner();
        let correlation_id = req.correlation_id.clone();
        let (group, command) = <(DeputyGroupId, DeputyGroupCommand)>::try_from(req)?;
        let deputy_id = match &command {
            DeputyGroupCommand::AddDeputy { deputy, .. } => deputy.to_string(),
            _ => String::new(),
        };
        let position = self
            .group_command(&principal, &correlation_id, group, command)
            .await?;
        Ok(Response::new(proto::AddDeputyResponse {
            deputy_id,
            position,
        }))
    }

    #[tracing::instrument(skip_all, fields(method = "RemoveDeputy", committee, group))]
    async fn remove_deputy(
        &self,
        request: Request<proto::RemoveDeputyRequest>,
    ) -> Result<Response<proto::RegistryWriteResponse>, Status> {
        let principal = self.state.principal(&request)?;
        let req = request.into_inner();
        let correlation_id = req.correlation_id.clone();
        let (group, command) = <(DeputyGroupId, DeputyGroupCommand)>::try_from(req)?;
        let position = self
            .group_command(&principal, &correlation_id, group, command)
            .await?;
        Ok(written(position))
    }

    #[tracing::instrument(skip_all, fields(method = "GetCommittee", committee))]
    async fn get_committee(
        &self,
        request: Request<proto::GetCommitteeRequest>,
    ) -> Result<Response<proto::Committee>, Status> {
        let principal = self.state.principal(&request)?;
        let min_position = request.get_ref().min_position;
        self.state
            .wait_for(&request, view::NAME, min_position)
            .await?;
        let id = CommitteeId::parse(request.into_inner().committee_id)?;
        record("committee", id.as_str());
        let read = self.state.views.read()?;
        // Scope first, so that other committees' callers cannot probe which ids exist.
        require_reading(&principal, &read, id.as_str(), None)?;
        let doc = read
            .get::<CommitteeDoc>(view::NAME, view::COMMITTEES, id.as_str())?
            .ok_or_else(|| Status::not_found(format!("committee {id} does not exist")))?;
        let children = read
            .scan::<CommitteeDoc>(
                view::NAME,
                view::CHILDREN,
                &format!("{id}/"),
                None,
                usize::MAX,
            )?
            .into_iter()
            .map(|(_, child)| child.id)
            .collect();
        Ok(Response::new(committee_message(doc, children)))
    }

    #[tracing::instrument(skip_all, fields(method = "ListCommittees", committee))]
    async fn list_committees(
        &self,
        request: Request<proto::ListCommitteesRequest>,
    ) -> Result<Response<proto::ListCommitteesResponse>, Status> {
        let principal = self.state.principal(&request)?;
        let min_position = request.get_ref().min_position;
        self.state
            .wait_for(&request, view::NAME, min_position)
            .await?;
        let req = request.into_inner();
        let page = Page::from_request(req.page_size, &req.page_token)?;
        let read = self.state.views.read()?;
        let (docs, next_page_token) = if req.parent_committee_id.is_empty() {
            // Everything for those who read everything; otherwise the own committee and its
            // children.
            let own = principal.committee.clone();
            let everything = reads_everything(&principal);
            scan_page(
                &read,
                (view::NAME, view::COMMITTEES),
                "",
                &page,
                |doc: &CommitteeDoc| {
                    everything
                        || own
                            .as_deref()
                            .is_some_and(|own| doc.id == own || doc.parent.as_deref() == Some(own))
                },
            )?
        } else {
            let parent = parse_as(
                "parent_committee_id",
                CommitteeId::parse(req.parent_committee_id),
            )?;
            record("committee", parent.as_str());
            require_reading(&principal, &read, parent.as_str(), None)?;
            scan_page(
                &read,
                (view::NAME, view::CHILDREN),
                &format!("{parent}/"),
                &page,
                |_: &CommitteeDoc| true,
            )?
        };
        let mut committees = Vec::with_capacity(docs.len());
        for doc in docs {
            let children = read
                .scan::<CommitteeDoc>(
                    view::NAME,
                    view::CHILDREN,
                    &format!("{}/", doc.id),
                    None,
                    usize::MAX,
                )?
                .into_iter()
                .map(|(_, child)| child.id)
                .collect();
            let mut message = committee_message(doc, children);
            message.members.clear();
            committees.push(message);
        }
        Ok(Response::new(proto::ListCommitteesResponse {
            committees,
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(method = "GetAppointee", committee, appointee))]
    async fn get_appointee(
        &self,
        request: Request<proto::GetAppointeeRequest>,
    ) -> Result<Response<proto::Appointee>, Status> {
        let principal = self.state.principal(&request)?;
        let min_position = request.get_ref().min_position;
        self.state
            .wait_for(&request, view::NAME, min_position)
            .await?;
        let id = AppointeeId::parse(request.into_inner().appointee_id)?;
        record("appointee", id.as_str());
        if principal.role == Role::Appointee && principal.subject != id.as_str() {
            return Err(Status::permission_denied(
                "role appointee may read only their own record (token subject = appointee id)",
            ));
        }
        let read = self.state.views.read()?;
        let doc = read
            .get::<AppointeeDoc>(view::NAME, view::APPOINTEES, id.as_str())?
            .ok_or_else(|| Status::not_found(format!("appointee {id} does not exist")))?;
        record("committee", &doc.committee);
        require_reading_records(&principal, &read, &doc.committee, Some(id.as_str()))?;
        Ok(Response::new(appointee_message(doc)))
    }

    #[tracing::instrument(skip_all, fields(method = "ListAppointees", committee))]
    async fn list_appointees(
        &self,
        request: Request<proto::ListAppointeesRequest>,
    ) -> Result<Response<proto::ListAppointeesResponse>, Status> {
        let principal = self.state.principal(&request)?;
        let min_position = request.get_ref().min_position;
        self.state
            .wait_for(&request, view::NAME, min_position)
            .await?;
        let req = request.into_inner();
        let page = Page::from_request(req.page_size, &req.page_token)?;
        let kind = organ_kind("organ_kind", req.organ_kind)?;
        let serving = status_filter(req.status)?;
        let committee = list_committee(&principal, &req.committee_id)?;
        let read = self.state.views.read()?;
        let prefix = match &committee {
            Some(committee) => {
                record("committee", committee);
                require_reading_records(&principal, &read, committee, None)?;
                format!("{committee}/")
            }
            None => String::new(),
        };
        let (docs, next_page_token) = scan_page(
            &read,
            (view::NAME, view::APPOINTEES_BY_COMMITTEE),
            &prefix,
            &page,
            |doc: &AppointeeDoc| {
                kind.is_none_or(|kind| doc.organ_kind == kind)
                    && serving.is_none_or(|serving| doc.term_end.is_none() == serving)
            },
        )?;
        Ok(Response::new(proto::ListAppointeesResponse {
            appointees: docs.into_iter().map(appointee_message).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(method = "GetDeputyGroup", committee, group))]
    async fn get_deputy_group(
        &self,
        request: Request<proto::GetDeputyGroupRequest>,
    ) -> Result<Response<proto::DeputyGroup>, Status> {
        let principal = self.state.principal(&request)?;
        let min_position = request.get_ref().min_position;
        self.state
            .wait_for(&request, view::NAME, min_position)
            .await?;
        let id = DeputyGroupId::parse(request.into_inner().group_id)?;
        record("group", id.as_str());
        if principal.role == Role::Deputy && principal.deputy_group.as_deref() != Some(id.as_str())
        {
            return Err(Status::permission_denied(
                "role deputy may read only their own deputy group",
            ));
        }
        let read = self.state.views.read()?;
        let doc = read
            .get::<GroupDoc>(view::NAME, view::GROUPS, id.as_str())?
            .ok_or_else(|| Status::not_found(format!("deputy group {id} does not exist")))?;
        record("committee", &doc.committee);
        if principal.role != Role::Deputy {
            require_reading_records(&principal, &read, &doc.committee, None)?;
        }
        Ok(Response::new(group_message(doc)))
    }

    #[tracing::instrument(skip_all, fields(method = "ListDeputyGroups", committee))]
    async fn list_deputy_groups(
        &self,
        request: Request<proto::ListDeputyGroupsRequest>,
    ) -> Result<Response<proto::ListDeputyGroupsResponse>, Status> {
        let principal = self.state.principal(&request)?;
        let min_position = request.get_ref().min_position;
        self.state
            .wait_for(&request, view::NAME, min_position)
            .await?;
        let req = request.into_inner();
        let page = Page::from_request(req.page_size, &req.page_token)?;
        let committee = list_committee(&principal, &req.committee_id)?;
        let read = self.state.views.read()?;
        let prefix = match &committee {
            Some(committee) => {
                record("committee", committee);
                require_reading_records(&principal, &read, committee, None)?;
                format!("{committee}/")
            }
            None => String::new(),
        };
        let (docs, next_page_token) = scan_page(
            &read,
            (view::NAME, view::GROUPS_BY_COMMITTEE),
            &prefix,
            &page,
            |_: &GroupDoc| true,
        )?;
        Ok(Response::new(proto::ListDeputyGroupsResponse {
            groups: docs.into_iter().map(group_message).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(method = "AdoptSupervisionPolicy", committee))]
    async fn adopt_supervision_policy(
        &self,
        request: Request<proto::AdoptSupervisionPolicyRequest>,
    ) -> Result<Response<proto::AdoptSupervisionPolicyResponse>, Status> {
        let principal = self.state.principal(&request)?;
        crate::api::policy::adopt(&self.state, &principal, request.into_inner()).await
    }

    #[tracing::instrument(skip_all, fields(method = "GetSupervisionPolicy", committee))]
    async fn get_supervision_policy(
        &self,
        request: Request<proto::GetSupervisionPolicyRequest>,
    ) -> Result<Response<proto::SupervisionPolicyInForce>, Status> {
        let principal = self.state.principal(&request)?;
        crate::api::policy::get(&self.state, &principal, request).await
    }
}

impl RegistryService {
    /// Runs a command on an existing appointee, in the scope of their committee.
    async fn appointee_command(
        &self,
        principal: &Principal,
        correlation_id: &str,
        appointee: AppointeeId,
        command: AppointeeCommand,
    ) -> Result<Response<proto::RegistryWriteResponse>, Status> {
        record("appointee", appointee.as_str());
        let found = appointee_ref(&self.state, appointee.clone()).await?;
        let committee = found.found.as_ref().map(|facts| facts.committee.as_str());
        if let Some(committee) = committee {
            record("committee", committee);
        }
        require_acting_on(principal, committee, None)?;
        let position = self
            .state
            .execute_legacy::<Appointee>(
                principal,
                correlation_id,
                committee,
                appointee_stream(&appointee),
                &command,
            )
            .await?;
        Ok(written(position))
    }

    /// Runs a command on an existing deputy group, in the scope of its committee.
    async fn group_command(
        &self,
        principal: &Principal,
        correlation_id: &str,
        group: DeputyGroupId,
        command: DeputyGroupCommand,
    ) -> Result<u64, Status> {
        record("group", group.as_str());
        let found = group_ref(&self.state, group.clone()).await?;
        let committee = found.found.as_ref().map(|facts| facts.committee.as_str());
        if let Some(committee) = committee {
            record("committee", committee);
        }
        require_acting_on(principal, committee, None)?;
        self.state
            .execute_legacy::<DeputyGroup>(
                principal,
                correlation_id,
                committee,
                deputy_group_stream(&group),
                &command,
            )
            .await
    }
}
