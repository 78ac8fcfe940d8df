//! The register: committees and their members, appointees and their terms, deputy groups.
//!
//! Commands check scope ([`crate::app::scope`]: the principal's committee must be the
//! target's, admins excepted), look up the aggregates they refer to into the domain command's
//! [`Lookup`](crate::domain::lookup::Lookup)s, and run through the handler. Queries read the
//! `registry` view: reads also allow auditors without a committee, and a parent committee reads
//! the committee itself and the committee list — not the appointees or deputy groups
//! (individual records).

use chrono::NaiveDate;
use serde::Serialize;

use crate::app::page::scan_page;
use crate::app::scope::{
    reads_everything, require_acting_on, require_reading, require_reading_records,
};
use crate::app::{App, AppError, Caller, Created, Page, Target, Wait, Written};
use crate::auth::{Principal, Role};
use crate::domain::appointee::{Appointee, AppointeeCommand, OrganKind};
use crate::domain::committee::{Committee, CommitteeCommand, CommitteeLevel};
use crate::domain::deputy_group::{DeputyGroup, DeputyGroupCommand};
use crate::domain::ids::{
    AppointeeId, CommitteeId, DeputyGroupId, DeputyId, MemberId, appointee_stream,
    committee_stream, deputy_group_stream,
};
use crate::domain::lookup::{AppointeeRef, CommitteeRef, DeputyGroupRef};
use crate::log::StreamName;
use crate::projection::ViewRead;
use crate::projection::registry::{self as view, AppointeeDoc, CommitteeDoc, GroupDoc};

/// A validated CreateCommittee.
#[derive(Debug, Clone, Serialize)]
pub struct CreateCommittee {
    /// The id to give it; `None`: minted.
    pub id: Option<CommitteeId>,
    /// Its name.
    pub name: String,
    /// Its level.
    pub level: CommitteeLevel,
    /// The committee above it (a city above its districts), if any.
    pub parent: Option<CommitteeId>,
}

/// A validated AddCommitteeMember.
#[derive(Debug, Clone, Serialize)]
pub struct AddCommitteeMember {
    /// The committee.
    pub committee: CommitteeId,
    /// The member's id; `None`: minted.
    pub member: Option<MemberId>,
    /// The member's name.
    pub name: String,
    /// Seated from.
    pub from: NaiveDate,
    /// Seated until, if known.
    pub to: Option<NaiveDate>,
}

/// A validated RemoveCommitteeMember.
#[derive(Debug, Clone, Serialize)]
pub struct RemoveCommitteeMember {
    /// The committee.
    pub committee: CommitteeId,
    /// The member.
    pub member: MemberId,
    /// The last day seated.
    pub to: NaiveDate,
}

/// A validated RegisterAppointee.
#[derive(Debug, Clone, Serialize)]
pub struct RegisterAppointee {
    /// The appointee's id; `None`: minted.
    pub id: Option<AppointeeId>,
    /// The appointing committee.
    pub committee: CommitteeId,
    /// Name.
    pub name: String,
    /// Post.
    pub post: String,
    /// Kind of organ.
    pub organ_kind: OrganKind,
    /// The organ.
    pub organ_name: String,
    /// Appointed on.
    pub appointed_on: NaiveDate,
    /// The appointing meeting.
    pub appointing_meeting: String,
}

/// A validated command on an existing appointee (ChangeAppointeePost, EndAppointeeTerm).
#[derive(Debug, Clone, Serialize)]
pub struct AppointeeChange {
    /// The appointee.
    pub appointee: AppointeeId,
    /// What to do.
    pub command: AppointeeCommand,
}

/// A validated FormDeputyGroup.
#[derive(Debug, Clone, Serialize)]
pub struct FormDeputyGroup {
    /// The group's id; `None`: minted.
    pub id: Option<DeputyGroupId>,
    /// The committee it works with.
    pub committee: CommitteeId,
    /// Its name.
    pub name: String,
}

/// A validated AddDeputy.
#[derive(Debug, Clone, Serialize)]
pub struct AddDeputy {
    /// The group.
    pub group: DeputyGroupId,
    /// The deputy's id; `None`: minted.
    pub deputy: Option<DeputyId>,
    /// The deputy's name.
    pub name: String,
}

/// A validated RemoveDeputy.
#[derive(Debug, Clone, Serialize)]
pub struct RemoveDeputy {
    /// The group.
    pub group: DeputyGroupId,
    /// The deputy.
    pub deputy: DeputyId,
}

/// Which appointees a list shows.
#[derive(Debug, Clone, Default)]
pub struct AppointeeFilter {
    /// Of this committee; `None`: the caller's own (every committee for those who read
    /// everything).
    pub committee: Option<CommitteeId>,
    /// Of this kind of organ only.
    pub organ_kind: Option<OrganKind>,
    /// Serving (`true`) or ended (`false`) only.
    pub serving: Option<bool>,
}

/// A committee with the ids of its children.
#[derive(Debug, Clone)]
pub struct CommitteeRecord {
    /// The committee.
    pub doc: CommitteeDoc,
    /// Its child committees' ids.
    pub children: Vec<String>,
}

fn record(field: &str, value: &str) {
    tracing::Span::current().record(field, value);
}

fn stream(name: String) -> Result<StreamName, AppError> {
    Ok(StreamName::new(name)?)
}

impl App {
    /// Loads a committee and returns what commands need to know about it.
    pub(crate) async fn committee_ref(&self, id: CommitteeId) -> Result<CommitteeRef, AppError> {
        let loaded = self
            .handler
            .load::<Committee>(&stream(committee_stream(&id))?)
            .await?;
        Ok(match loaded.state.facts() {
            Some(facts) => CommitteeRef::found(id, facts),
            None => CommitteeRef::missing(id),
        })
    }

    /// Loads an appointee and returns what commands need to know about them.
    pub(crate) async fn appointee_ref(&self, id: AppointeeId) -> Result<AppointeeRef, AppError> {
        let loaded = self
            .handler
            .load::<Appointee>(&stream(appointee_stream(&id))?)
            .await?;
        Ok(match loaded.state.facts() {
            Some(facts) => AppointeeRef::found(id, facts),
            None => AppointeeRef::missing(id),
        })
    }

    /// Loads a deputy group and returns what commands need to know about it.
    pub(crate) async fn group_ref(&self, id: DeputyGroupId) -> Result<DeputyGroupRef, AppError> {
        let loaded = self
            .handler
            .load::<DeputyGroup>(&stream(deputy_group_stream(&id))?)
            .await?;
        Ok(match loaded.state.facts() {
            Some(facts) => DeputyGroupRef::found(id, facts),
            None => DeputyGroupRef::missing(id),
        })
    }

    /// Creates a committee (admin, or the committee's own principal).
    pub async fn create_committee(
        &self,
        caller: &Caller,
        create: CreateCommittee,
    ) -> Result<Created<CommitteeId>, AppError> {
        let id = caller.mint("committee_id", create.id.clone(), CommitteeId::parse)?;
        record("committee", id.as_str());
        require_acting_on(&caller.principal, Some(id.as_str()), None)?;
        let parent = match create.parent.clone() {
            Some(parent) => Some(self.committee_ref(parent).await?),
            None => None,
        };
        let command = CommitteeCommand::Create {
            id: id.clone(),
            name: create.name.clone(),
            level: create.level,
            parent,
        };
        let target = Target::<Committee>::new(committee_stream(&id), Some(id.as_str()))?;
        let executed = self
            .execute(caller, target, &command, "CreateCommittee", &create)
            .await?;
        Ok(Created {
            id,
            position: executed.position,
        })
    }

    /// Seats a member on a committee.
    pub async fn add_committee_member(
        &self,
        caller: &Caller,
        add: AddCommitteeMember,
    ) -> Result<Created<MemberId>, AppError> {
        let committee = &add.committee;
        record("committee", committee.as_str());
        require_acting_on(&caller.principal, Some(committee.as_str()), None)?;
        let member = caller.mint("member_id", add.member.clone(), MemberId::parse)?;
        let command = CommitteeCommand::AddMember {
            member: member.clone(),
            name: add.name.clone(),
            from: add.from,
            to: add.to,
        };
        let target =
            Target::<Committee>::new(committee_stream(committee), Some(committee.as_str()))?;
        let executed = self
            .execute(caller, target, &command, "AddCommitteeMember", &add)
            .await?;
        Ok(Created {
            id: member,
            position: executed.position,
        })
    }

    /// Ends a member's seat.
    pub async fn remove_committee_member(
        &self,
        caller: &Caller,
        remove: RemoveCommitteeMember,
    ) -> Result<Written, AppError> {
        let committee = &remove.committee;
        record("committee", committee.as_str());
        require_acting_on(&caller.principal, Some(committee.as_str()), None)?;
        let command = CommitteeCommand::RemoveMember {
            member: remove.member.clone(),
            to: remove.to,
        };
        let target =
            Target::<Committee>::new(committee_stream(committee), Some(committee.as_str()))?;
        let executed = self
            .execute(caller, target, &command, "RemoveCommitteeMember", &remove)
            .await?;
        Ok(Written {
            position: executed.position,
        })
    }

    /// Registers an appointee of a committee.
    pub async fn register_appointee(
        &self,
        caller: &Caller,
        register: RegisterAppointee,
    ) -> Result<Created<AppointeeId>, AppError> {
        let id = caller.mint("appointee_id", register.id.clone(), AppointeeId::parse)?;
        let committee = &register.committee;
        record("committee", committee.as_str());
        record("appointee", id.as_str());
        require_acting_on(&caller.principal, Some(committee.as_str()), None)?;
        let command = AppointeeCommand::Register {
            id: id.clone(),
            committee: self.committee_ref(committee.clone()).await?,
            name: register.name.clone(),
            post: register.post.clone(),
            organ_kind: register.organ_kind,
            organ_name: register.organ_name.clone(),
            appointed_on: register.appointed_on,
            appointing_meeting: register.appointing_meeting.clone(),
        };
        let target = Target::<Appointee>::new(appointee_stream(&id), Some(committee.as_str()))?;
        let executed = self
            .execute(caller, target, &command, "RegisterAppointee", &register)
            .await?;
        Ok(Created {
            id,
            position: executed.position,
        })
    }

    /// Runs a command on an existing appointee (a change of post, the end of the term), in the
    /// scope of their committee.
    pub async fn change_appointee(
        &self,
        caller: &Caller,
        change: AppointeeChange,
    ) -> Result<Written, AppError> {
        let appointee = &change.appointee;
        record("appointee", appointee.as_str());
        let found = self.appointee_ref(appointee.clone()).await?;
        let committee = found.found.as_ref().map(|facts| facts.committee.as_str());
        if let Some(committee) = committee {
            record("committee", committee);
        }
        require_acting_on(&caller.principal, committee, None)?;
        let kind = match change.command {
            AppointeeCommand::ChangePost { .. } => "ChangeAppointeePost",
            AppointeeCommand::EndTerm { .. } => "EndAppointeeTerm",
            AppointeeCommand::Register { .. } => "RegisterAppointee",
        };
        let target = Target::<Appointee>::new(appointee_stream(appointee), committee)?;
        let executed = self
            .execute(caller, target, &change.command, kind, &change)
            .await?;
        Ok(Written {
            position: executed.position,
        })
    }

    /// Forms a deputy group working with a committee.
    pub async fn form_deputy_group(
        &self,
        caller: &Caller,
        form: FormDeputyGroup,
    ) -> Result<Created<DeputyGroupId>, AppError> {
        let id = caller.mint("group_id", form.id.clone(), DeputyGroupId::parse)?;
        let committee = &form.committee;
        record("committee", committee.as_str());
        record("group", id.as_str());
        require_acting_on(&caller.principal, Some(committee.as_str()), None)?;
        let command = DeputyGroupCommand::Form {
            id: id.clone(),
            committee: self.committee_ref(committee.clone()).await?,
            name: form.name.clone(),
        };
        let target =
            Target::<DeputyGroup>::new(deputy_group_stream(&id), Some(committee.as_str()))?;
        let executed = self
            .execute(caller, target, &command, "FormDeputyGroup", &form)
            .await?;
        Ok(Created {
            id,
            position: executed.position,
        })
    }

    /// Adds a deputy to a group.
    pub async fn add_deputy(
        &self,
        caller: &Caller,
        add: AddDeputy,
    ) -> Result<Created<DeputyId>, AppError> {
        let deputy = caller.mint("deputy_id", add.deputy.clone(), DeputyId::parse)?;
        let command = DeputyGroupCommand::AddDeputy {
            deputy: deputy.clone(),
            name: add.name.clone(),
        };
        let written = self
            .group_command(caller, &add.group, command, "AddDeputy", &add)
            .await?;
        Ok(Created {
            id: deputy,
            position: written.position,
        })
    }

    /// Removes a deputy from a group.
    pub async fn remove_deputy(
        &self,
        caller: &Caller,
        remove: RemoveDeputy,
    ) -> Result<Written, AppError> {
        let command = DeputyGroupCommand::RemoveDeputy {
            deputy: remove.deputy.clone(),
        };
        self.group_command(caller, &remove.group, command, "RemoveDeputy", &remove)
            .await
    }

    /// Runs a command on an existing deputy group, in the scope of its committee.
    async fn group_command<T: Serialize>(
        &self,
        caller: &Caller,
        group: &DeputyGroupId,
        command: DeputyGroupCommand,
        kind: &str,
        content: &T,
    ) -> Result<Written, AppError> {
        record("group", group.as_str());
        let found = self.group_ref(group.clone()).await?;
        let committee = found.found.as_ref().map(|facts| facts.committee.as_str());
        if let Some(committee) = committee {
            record("committee", committee);
        }
        require_acting_on(&caller.principal, committee, None)?;
        let target = Target::<DeputyGroup>::new(deputy_group_stream(group), committee)?;
        let executed = self
            .execute(caller, target, &command, kind, content)
            .await?;
        Ok(Written {
            position: executed.position,
        })
    }

    /// A committee with its children's ids.
    pub async fn committee(
        &self,
        principal: &Principal,
        wait: Wait,
        id: &CommitteeId,
    ) -> Result<CommitteeRecord, AppError> {
        self.wait_view(view::NAME, wait).await?;
        record("committee", id.as_str());
        let read = self.views.read()?;
        // Scope first, so that other committees' callers cannot probe which ids exist.
        require_reading(principal, &read, id.as_str(), None)?;
        let doc = read
            .get::<CommitteeDoc>(view::NAME, view::COMMITTEES, id.as_str())?
            .ok_or_else(|| AppError::not_found(format!("committee {id} does not exist")))?;
        let children = children(&read, id.as_str())?;
        Ok(CommitteeRecord { doc, children })
    }

    /// A page of committees: the children of `parent`, or everything the caller reads (every
    /// committee for those who read everything, else the own committee and its children).
    pub async fn committees(
        &self,
        principal: &Principal,
        wait: Wait,
        parent: Option<&CommitteeId>,
        page: &Page,
    ) -> Result<(Vec<CommitteeRecord>, String), AppError> {
        self.wait_view(view::NAME, wait).await?;
        let read = self.views.read()?;
        let (docs, next_page_token) = match parent {
            None => {
                let own = principal.committee.clone();
                let everything = reads_everything(principal);
                scan_page(
                    &read,
                    (view::NAME, view::COMMITTEES),
                    "",
                    page,
                    |doc: &CommitteeDoc| {
                        everything
                            || own.as_deref().is_some_and(|own| {
                                doc.id == own || doc.parent.as_deref() == Some(own)
                            })
                    },
                )?
            }
            Some(parent) => {
                record("committee", parent.as_str());
                require_reading(principal, &read, parent.as_str(), None)?;
                scan_page(
                    &read,
                    (view::NAME, view::CHILDREN),
                    &format!("{parent}/"),
                    page,
                    |_: &CommitteeDoc| true,
                )?
            }
        };
        let mut committees = Vec::with_capacity(docs.len());
        for doc in docs {
            let children = children(&read, &doc.id)?;
            committees.push(CommitteeRecord { doc, children });
        }
        Ok((committees, next_page_token))
    }

    /// An appointee's record.
    pub async fn appointee(
        &self,
        principal: &Principal,
        wait: Wait,
        id: &AppointeeId,
    ) -> Result<AppointeeDoc, AppError> {
        self.wait_view(view::NAME, wait).await?;
        record("appointee", id.as_str());
        if principal.role == Role::Appointee && principal.subject != id.as_str() {
            return Err(AppError::Denied(
                "role appointee may read only their own record (token subject = appointee id)"
                    .into(),
            ));
        }
        let read = self.views.read()?;
        let doc = read
            .get::<AppointeeDoc>(view::NAME, view::APPOINTEES, id.as_str())?
            .ok_or_else(|| AppError::not_found(format!("appointee {id} does not exist")))?;
        record("committee", &doc.committee);
        require_reading_records(principal, &read, &doc.committee, Some(id.as_str()))?;
        Ok(doc)
    }

    /// A page of appointees.
    pub async fn appointees(
        &self,
        principal: &Principal,
        wait: Wait,
        filter: &AppointeeFilter,
        page: &Page,
    ) -> Result<(Vec<AppointeeDoc>, String), AppError> {
        self.wait_view(view::NAME, wait).await?;
        let committee = list_committee(principal, filter.committee.as_ref())?;
        let read = self.views.read()?;
        let prefix = match &committee {
            Some(committee) => {
                record("committee", committee);
                require_reading_records(principal, &read, committee, None)?;
                format!("{committee}/")
            }
            None => String::new(),
        };
        Ok(scan_page(
            &read,
            (view::NAME, view::APPOINTEES_BY_COMMITTEE),
            &prefix,
            page,
            |doc: &AppointeeDoc| {
                filter.organ_kind.is_none_or(|kind| doc.organ_kind == kind)
                    && filter
                        .serving
                        .is_none_or(|serving| doc.term_end.is_none() == serving)
            },
        )?)
    }

    /// A deputy group.
    pub async fn deputy_group(
        &self,
        principal: &Principal,
        wait: Wait,
        id: &DeputyGroupId,
    ) -> Result<GroupDoc, AppError> {
        self.wait_view(view::NAME, wait).await?;
        record("group", id.as_str());
        if principal.role == Role::Deputy && principal.deputy_group.as_deref() != Some(id.as_str())
        {
            return Err(AppError::Denied(
                "role deputy may read only their own deputy group".into(),
            ));
        }
        let read = self.views.read()?;
        let doc = read
            .get::<GroupDoc>(view::NAME, view::GROUPS, id.as_str())?
            .ok_or_else(|| AppError::not_found(format!("deputy group {id} does not exist")))?;
        record("committee", &doc.committee);
        if principal.role != Role::Deputy {
            require_reading_records(principal, &read, &doc.committee, None)?;
        }
        Ok(doc)
    }

    /// A page of deputy groups of `committee` (the caller's own when `None`).
    pub async fn deputy_groups(
        &self,
        principal: &Principal,
        wait: Wait,
        committee: Option<&CommitteeId>,
        page: &Page,
    ) -> Result<(Vec<GroupDoc>, String), AppError> {
        self.wait_view(view::NAME, wait).await?;
        let committee = list_committee(principal, committee)?;
        let read = self.views.read()?;
        let prefix = match &committee {
            Some(committee) => {
                record("committee", committee);
                require_reading_records(principal, &read, committee, None)?;
                format!("{committee}/")
            }
            None => String::new(),
        };
        Ok(scan_page(
            &read,
            (view::NAME, view::GROUPS_BY_COMMITTEE),
            &prefix,
            page,
            |_: &GroupDoc| true,
        )?)
    }
}

/// The ids of `committee`'s children.
fn children(read: &ViewRead, committee: &str) -> Result<Vec<String>, AppError> {
    Ok(read
        .scan::<CommitteeDoc>(
            view::NAME,
            view::CHILDREN,
            &format!("{committee}/"),
            None,
            usize::MAX,
        )?
        .into_iter()
        .map(|(_, child)| child.id)
        .collect())
}

/// The committee a scoped list is about: the one asked for, or the caller's own when the caller
/// does not read everything; `None`: every committee.
fn list_committee(
    principal: &Principal,
    requested: Option<&CommitteeId>,
) -> Result<Option<String>, AppError> {
    if let Some(requested) = requested {
        return Ok(Some(requested.to_string()));
    }
    if reads_everything(principal) {
        return Ok(None);
    }
    principal.committee.clone().map(Some).ok_or_else(|| {
        AppError::Denied(format!(
            "role {} has no committee; name the committee_id to list",
            principal.role
        ))
    })
}
