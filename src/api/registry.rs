//! The `oversight.v1.Registry` service over [`crate::app::registry`]: committees and their
//! members, appointees and their terms, deputy groups, supervision policies. Each method
//! validates its request once (a `TryFrom` per message: ids, dates, enums), calls the
//! application layer and encodes the answer.

use tonic::{Request, Response, Status};

use crate::api::context::{RequestExt, caller, wait};
use crate::api::fields::{date, date_text, nfc, optional_date, optional_id};
use crate::app::registry::{
    AddCommitteeMember, AddDeputy, AppointeeChange, AppointeeFilter, CommitteeRecord,
    CreateCommittee, FormDeputyGroup, RegisterAppointee, RemoveCommitteeMember, RemoveDeputy,
};
use crate::app::{App, Page};
use crate::domain::Rejection;
use crate::domain::appointee::{AppointeeCommand, OrganKind, TermEndKind};
use crate::domain::committee::CommitteeLevel;
use crate::domain::ids::{AppointeeId, CommitteeId, DeputyGroupId, DeputyId, MemberId};
use crate::projection::registry::{AppointeeDoc, GroupDoc, MemberDoc, PostDoc};
use crate::proto;
use crate::proto::registry_server::Registry;

/// Committees, appointees and deputy groups.
#[derive(Clone)]
pub struct RegistryService {
    app: App,
}

impl RegistryService {
    /// The service over the application layer.
    pub fn new(app: App) -> Self {
        Self { app }
    }

    /// The generated tonic server around this service.
    pub fn into_server(self) -> proto::registry_server::RegistryServer<Self> {
        proto::registry_server::RegistryServer::new(self)
    }
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

/// Renames the field of an id rejection (ids name their own kind, e.g. `committee_id`, which
/// is not always the request's field, e.g. `parent_committee_id`).
fn parse_as<T>(field: &str, parsed: Result<T, Rejection>) -> Result<T, Rejection> {
    parsed.map_err(|rejection| match rejection {
        Rejection::Invalid { rule, .. } => Rejection::invalid(field, rule),
        other => other,
    })
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
            id: optional_id(&req.committee_id, CommitteeId::parse)?,
            name: nfc(req.name),
            level: level(req.level)?,
            parent,
        })
    }
}

impl TryFrom<proto::AddCommitteeMemberRequest> for AddCommitteeMember {
    type Error = Rejection;
    fn try_from(req: proto::AddCommitteeMemberRequest) -> Result<Self, Rejection> {
        Ok(Self {
            committee: CommitteeId::parse(req.committee_id)?,
            member: optional_id(&req.member_id, MemberId::parse)?,
            name: nfc(req.name),
            from: date("from", &req.from)?,
            to: optional_date("to", &req.to)?,
        })
    }
}

impl TryFrom<proto::RemoveCommitteeMemberRequest> for RemoveCommitteeMember {
    type Error = Rejection;
    fn try_from(req: proto::RemoveCommitteeMemberRequest) -> Result<Self, Rejection> {
        Ok(Self {
            committee: CommitteeId::parse(req.committee_id)?,
            member: MemberId::parse(req.member_id)?,
            to: date("to", &req.to)?,
        })
    }
}

impl TryFrom<proto::RegisterAppointeeRequest> for RegisterAppointee {
    type Error = Rejection;
    fn try_from(req: proto::RegisterAppointeeRequest) -> Result<Self, Rejection> {
        Ok(Self {
            id: optional_id(&req.appointee_id, AppointeeId::parse)?,
            committee: CommitteeId::parse(req.committee_id)?,
            name: nfc(req.name),
            post: nfc(req.post),
            organ_kind: organ_kind("organ_kind", req.organ_kind)?
                .ok_or_else(|| organ_kind_rule("organ_kind"))?,
            organ_name: nfc(req.organ_name),
            appointed_on: date("appointed_on", &req.appointed_on)?,
            appointing_meeting: nfc(req.appointing_meeting),
        })
    }
}

impl TryFrom<proto::ChangeAppointeePostRequest> for AppointeeChange {
    type Error = Rejection;
    fn try_from(req: proto::ChangeAppointeePostRequest) -> Result<Self, Rejection> {
        Ok(Self {
            appointee: AppointeeId::parse(req.appointee_id)?,
            command: AppointeeCommand::ChangePost {
                post: nfc(req.post),
                organ_name: (!req.organ_name.is_empty()).then(|| nfc(req.organ_name)),
                on: date("on", &req.on)?,
                appointing_meeting: nfc(req.appointing_meeting),
            },
        })
    }
}

impl TryFrom<proto::EndAppointeeTermRequest> for AppointeeChange {
    type Error = Rejection;
    fn try_from(req: proto::EndAppointeeTermRequest) -> Result<Self, Rejection> {
        Ok(Self {
            appointee: AppointeeId::parse(req.appointee_id)?,
            command: AppointeeCommand::EndTerm {
                kind: term_end_kind(req.kind)?,
                on: date("on", &req.on)?,
                reason: req.reason,
            },
        })
    }
}

impl TryFrom<proto::FormDeputyGroupRequest> for FormDeputyGroup {
    type Error = Rejection;
    fn try_from(req: proto::FormDeputyGroupRequest) -> Result<Self, Rejection> {
        Ok(Self {
            id: optional_id(&req.group_id, DeputyGroupId::parse)?,
            committee: CommitteeId::parse(req.committee_id)?,
            name: nfc(req.name),
        })
    }
}

impl TryFrom<proto::AddDeputyRequest> for AddDeputy {
    type Error = Rejection;
    fn try_from(req: proto::AddDeputyRequest) -> Result<Self, Rejection> {
        Ok(Self {
            group: DeputyGroupId::parse(req.group_id)?,
            deputy: optional_id(&req.deputy_id, DeputyId::parse)?,
            name: nfc(req.name),
        })
    }
}

impl TryFrom<proto::RemoveDeputyRequest> for RemoveDeputy {
    type Error = Rejection;
    fn try_from(req: proto::RemoveDeputyRequest) -> Result<Self, Rejection> {
        Ok(Self {
            group: DeputyGroupId::parse(req.group_id)?,
            deputy: DeputyId::parse(req.deputy_id)?,
        })
    }
}

/// A validated ListAppointees: the filter and the page.
impl TryFrom<&proto::ListAppointeesRequest> for AppointeeFilter {
    type Error = Rejection;
    fn try_from(req: &proto::ListAppointeesRequest) -> Result<Self, Rejection> {
        Ok(Self {
            committee: optional_id(&req.committee_id, CommitteeId::parse)?,
            organ_kind: organ_kind("organ_kind", req.organ_kind)?,
            serving: status_filter(req.status)?,
        })
    }
}

// --- documents to messages -------------------------------------------------------------------

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

fn committee_message(record: CommitteeRecord) -> proto::Committee {
    let CommitteeRecord { doc, children } = record;
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

#[tonic::async_trait]
impl Registry for RegistryService {
    #[tracing::instrument(skip_all, fields(method = "CreateCommittee", committee))]
    async fn create_committee(
        &self,
        request: Request<proto::CreateCommitteeRequest>,
    ) -> Result<Response<proto::CreateCommitteeResponse>, Status> {
        let caller = caller(&request, |r| (&r.command_id, &r.correlation_id))?;
        let created = self
            .app
            .create_committee(&caller, request.into_inner().try_into()?)
            .await?;
        Ok(Response::new(proto::CreateCommitteeResponse {
            committee_id: created.id.to_string(),
            position: created.position,
        }))
    }

    #[tracing::instrument(skip_all, fields(method = "AddCommitteeMember", committee))]
    async fn add_committee_member(
        &self,
        request: Request<proto::AddCommitteeMemberRequest>,
    ) -> Result<Response<proto::AddCommitteeMemberResponse>, Status> {
        let caller = caller(&request, |r| (&r.command_id, &r.correlation_id))?;
        let created = self
            .app
            .add_committee_member(&caller, request.into_inner().try_into()?)
            .await?;
        Ok(Response::new(proto::AddCommitteeMemberResponse {
            member_id: created.id.to_string(),
            position: created.position,
        }))
    }

    #[tracing::instrument(skip_all, fields(method = "RemoveCommitteeMember", committee))]
    async fn remove_committee_member(
        &self,
        request: Request<proto::RemoveCommitteeMemberRequest>,
    ) -> Result<Response<proto::RegistryWriteResponse>, Status> {
        let caller = caller(&request, |r| (&r.command_id, &r.correlation_id))?;
        let done = self
            .app
            .remove_committee_member(&caller, request.into_inner().try_into()?)
            .await?;
        Ok(written(done.position))
    }

    #[tracing::instrument(skip_all, fields(method = "RegisterAppointee", committee, appointee))]
    async fn register_appointee(
        &self,
        request: Request<proto::RegisterAppointeeRequest>,
    ) -> Result<Response<proto::RegisterAppointeeResponse>, Status> {
        let caller = caller(&request, |r| (&r.command_id, &r.correlation_id))?;
        let created = self
            .app
            .register_appointee(&caller, request.into_inner().try_into()?)
            .await?;
        Ok(Response::new(proto::RegisterAppointeeResponse {
            appointee_id: created.id.to_string(),
            position: created.position,
        }))
    }

    #[tracing::instrument(skip_all, fields(method = "ChangeAppointeePost", committee, appointee))]
    async fn change_appointee_post(
        &self,
        request: Request<proto::ChangeAppointeePostRequest>,
    ) -> Result<Response<proto::RegistryWriteResponse>, Status> {
        let caller = caller(&request, |r| (&r.command_id, &r.correlation_id))?;
        let done = self
            .app
            .change_appointee(&caller, request.into_inner().try_into()?)
            .await?;
        Ok(written(done.position))
    }

    #[tracing::instrument(skip_all, fields(method = "EndAppointeeTerm", committee, appointee))]
    async fn end_appointee_term(
        &self,
        request: Request<proto::EndAppointeeTermRequest>,
    ) -> Result<Response<proto::RegistryWriteResponse>, Status> {
        let caller = caller(&request, |r| (&r.command_id, &r.correlation_id))?;
        let done = self
            .app
            .change_appointee(&caller, request.into_inner().try_into()?)
            .await?;
        Ok(written(done.position))
    }

    #[tracing::instrument(skip_all, fields(method = "FormDeputyGroup", committee, group))]
    async fn form_deputy_group(
        &self,
        request: Request<proto::FormDeputyGroupRequest>,
    ) -> Result<Response<proto::FormDeputyGroupResponse>, Status> {
        let caller = caller(&request, |r| (&r.command_id, &r.correlation_id))?;
        let created = self
            .app
            .form_deputy_group(&caller, request.into_inner().try_into()?)
            .await?;
        Ok(Response::new(proto::FormDeputyGroupResponse {
            group_id: created.id.to_string(),
            position: created.position,
        }))
    }

    #[tracing::instrument(skip_all, fields(method = "AddDeputy", committee, group))]
    async fn add_deputy(
        &self,
        request: Request<proto::AddDeputyRequest>,
    ) -> Result<Response<proto::AddDeputyResponse>, Status> {
        let caller = caller(&request, |r| (&r.command_id, &r.correlation_id))?;
        let created = self
            .app
            .add_deputy(&caller, request.into_inner().try_into()?)
            .await?;
        Ok(Response::new(proto::AddDeputyResponse {
            deputy_id: created.id.to_string(),
            position: created.position,
        }))
    }

    #[tracing::instrument(skip_all, fields(method = "RemoveDeputy", committee, group))]
    async fn remove_deputy(
        &self,
        request: Request<proto::RemoveDeputyRequest>,
    ) -> Result<Response<proto::RegistryWriteResponse>, Status> {
        let caller = caller(&request, |r| (&r.command_id, &r.correlation_id))?;
        let done = self
            .app
            .remove_deputy(&caller, request.into_inner().try_into()?)
            .await?;
        Ok(written(done.position))
    }

    #[tracing::instrument(skip_all, fields(method = "GetCommittee", committee))]
    async fn get_committee(
        &self,
        request: Request<proto::GetCommitteeRequest>,
    ) -> Result<Response<proto::Committee>, Status> {
        let principal = self.app.principal(&request)?;
        let wait = wait(&request, request.get_ref().min_position);
        let id = CommitteeId::parse(request.into_inner().committee_id)?;
        let record = self.app.committee(&principal, wait, &id).await?;
        Ok(Response::new(committee_message(record)))
    }

    #[tracing::instrument(skip_all, fields(method = "ListCommittees", committee))]
    async fn list_committees(
        &self,
        request: Request<proto::ListCommitteesRequest>,
    ) -> Result<Response<proto::ListCommitteesResponse>, Status> {
        let principal = self.app.principal(&request)?;
        let wait = wait(&request, request.get_ref().min_position);
        let req = request.into_inner();
        let page = Page::from_request(req.page_size, &req.page_token)?;
        let parent = if req.parent_committee_id.is_empty() {
            None
        } else {
            Some(parse_as(
                "parent_committee_id",
                CommitteeId::parse(req.parent_committee_id),
            )?)
        };
        let (records, next_page_token) = self
            .app
            .committees(&principal, wait, parent.as_ref(), &page)
            .await?;
        let committees = records
            .into_iter()
            .map(|record| {
                let mut message = committee_message(record);
                message.members.clear();
                message
            })
            .collect();
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
        let principal = self.app.principal(&request)?;
        let wait = wait(&request, request.get_ref().min_position);
        let id = AppointeeId::parse(request.into_inner().appointee_id)?;
        let doc = self.app.appointee(&principal, wait, &id).await?;
        Ok(Response::new(appointee_message(doc)))
    }

    #[tracing::instrument(skip_all, fields(method = "ListAppointees", committee))]
    async fn list_appointees(
        &self,
        request: Request<proto::ListAppointeesRequest>,
    ) -> Result<Response<proto::ListAppointeesResponse>, Status> {
        let principal = self.app.principal(&request)?;
        let wait = wait(&request, request.get_ref().min_position);
        let req = request.into_inner();
        let page = Page::from_request(req.page_size, &req.page_token)?;
        let filter = AppointeeFilter::try_from(&req)?;
        let (docs, next_page_token) = self
            .app
            .appointees(&principal, wait, &filter, &page)
            .await?;
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
        let principal = self.app.principal(&request)?;
        let wait = wait(&request, request.get_ref().min_position);
        let id = DeputyGroupId::parse(request.into_inner().group_id)?;
        let doc = self.app.deputy_group(&principal, wait, &id).await?;
        Ok(Response::new(group_message(doc)))
    }

    #[tracing::instrument(skip_all, fields(method = "ListDeputyGroups", committee))]
    async fn list_deputy_groups(
        &self,
        request: Request<proto::ListDeputyGroupsRequest>,
    ) -> Result<Response<proto::ListDeputyGroupsResponse>, Status> {
        let principal = self.app.principal(&request)?;
        let wait = wait(&request, request.get_ref().min_position);
        let req = request.into_inner();
        let page = Page::from_request(req.page_size, &req.page_token)?;
        let committee = optional_id(&req.committee_id, CommitteeId::parse)?;
        let (docs, next_page_token) = self
            .app
            .deputy_groups(&principal, wait, committee.as_ref(), &page)
            .await?;
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
        let caller = caller(&request, |r| (&r.command_id, &r.correlation_id))?;
        let adopted = self
            .app
            .adopt_supervision_policy(&caller, request.into_inner().try_into()?)
            .await?;
        Ok(Response::new(proto::AdoptSupervisionPolicyResponse {
            version: adopted.version,
            position: adopted.position,
        }))
    }

    #[tracing::instrument(skip_all, fields(method = "GetSupervisionPolicy", committee))]
    async fn get_supervision_policy(
        &self,
        request: Request<proto::GetSupervisionPolicyRequest>,
    ) -> Result<Response<proto::SupervisionPolicyInForce>, Status> {
        let principal = self.app.principal(&request)?;
        let wait = wait(&request, request.get_ref().min_position);
        let committee = CommitteeId::parse(request.into_inner().committee_id)?;
        let found = self
            .app
            .supervision_policy(&principal, wait, &committee)
            .await?;
        Ok(Response::new(proto::SupervisionPolicyInForce {
            committee_id: found.committee.to_string(),
            version: found.version,
            policy: Some(crate::api::policy::policy_message(found.policy)),
            position: found.position,
        }))
    }
}
