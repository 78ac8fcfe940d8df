//! The `oversight.v1.Supervision` service: site visits (三看), inspections and annual plans
//! (三查) — commands through the [`Handler`](crate::handler::Handler), queries from the
//! `visits` and `inspections` views.
//!
//! Each command is validated once, here, into a domain command; the aggregates it refers to
//! (deputy group, appointees, committee) are loaded and their facts put into the command's
//! `Lookup`s, so the domain decides purely. The supervision policy (rating scale, plan size) is
//! the committee's, in force when the command is decided (see [`crate::api::policy`]).
//!
//! Checks beyond the role table ([`crate::api::rules::rule`]), made here:
//! * a deputy files, corrects and retracts visits only for their own `principal.deputy_group`;
//! * a deputy lists only their own group's visits;
//! * an appointee lists and averages only their own visits (their subject is their appointee
//!   id), and never sees an incognito visit before its visit report is issued;
//! * a principal whose token names a committee reads that committee's visits and inspections;
//!   the parent committee (the city) gets a child's visit averages and inspections but not its
//!   visits themselves (see [`crate::app::scope::committee_access`]).
//!
//! Visit notes are never logged: spans carry only ids.

use chrono::{DateTime, Utc};
use tonic::{Request, Response, Status};

use crate::api::context::{LegacyCommands, Page, RequestExt};
use crate::app::App;
use crate::app::policy::committee_policy;
use crate::app::scope::{
    require_acting_on, require_committee_aggregates, require_committee_records,
};
use crate::auth::{Principal, Role};
use crate::domain::annual_plan::{AnnualPlan, AnnualPlanCommand};
use crate::domain::appointee::Appointee;
use crate::domain::committee::Committee;
use crate::domain::deputy_group::DeputyGroup;
use crate::domain::ids::{
    AppointeeId, CommitteeId, DeputyGroupId, InspectionId, VisitId, annual_plan_stream,
    appointee_stream, committee_stream, deputy_group_stream, inspection_stream, visit_stream,
};
use crate::domain::inspection::{Inspection, InspectionCommand, InspectionKind};
use crate::domain::lookup::{AppointeeRef, CommitteeRef, DeputyGroupRef, Lookup};
use crate::domain::supervision_policy::SupervisionPolicy;
use crate::domain::visit::{Ratings, Visit, VisitCommand, VisitMode};
use crate::domain::{Rejection, validate};
use crate::log::StreamName;
use crate::projection::inspections::{self, InspectionDoc, PlanChangeKind, PlanDoc};
use crate::projection::registry::{self, AppointeeDoc, GroupDoc};
use crate::projection::visits::{self, VisitDoc};
use crate::projection::{KeyRange, ViewRead, indexed_id};
use crate::proto;
use crate::proto::supervision_server::Supervision;

/// Site visits, inspections and annual plans.
#[derive(Clone)]
pub struct SupervisionService {
    state: App,
}

impl SupervisionService {
    /// The service over the shared state.
    pub fn new(state: App) -> Self {
        Self { state }
    }

    /// The generated tonic server around this service.
    pub fn into_server(self) -> proto::supervision_server::SupervisionServer<Self> {
        proto::supervision_server::SupervisionServer::new(self)
    }
}

// ---- shared helpers of the supervision and findings services ----

pub(crate) use crate::api::fields::{id_or_new, stream};

/// A timestamp that must be present and valid.
pub(crate) fn instant(
    field: &str,
    value: Option<prost_types::Timestamp>,
) -> Result<DateTime<Utc>, Status> {
    let value = value.ok_or_else(|| Rejection::invalid(field, "is required"))?;
    optional_instant(field, Some(value))
        .and_then(|v| v.ok_or_else(|| Status::from(Rejection::invalid(field, "is required"))))
}

/// A timestamp that may be absent.
pub(crate) fn optional_instant(
    field: &str,
    value: Option<prost_types::Timestamp>,
) -> Result<Option<DateTime<Utc>>, Status> {
    value
        .map(|ts| {
            u32::try_from(ts.nanos)
                .ok()
                .and_then(|nanos| DateTime::from_timestamp(ts.seconds, nanos))
                .ok_or_else(|| Status::from(Rejection::invalid(field, "is not a valid timestamp")))
        })
        .transpose()
}

/// A moment as a protobuf timestamp.
pub(crate) fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// Refuses a principal whose role is one of `roles` unless `allowed` holds.
pub(crate) fn scope_check(principal: &Principal, allowed: bool, what: &str) -> Result<(), Status> {
    if allowed {
        Ok(())
    } else {
        Err(Status::permission_denied(format!(
            "{} {} may not {what}",
            principal.role, principal.subject
        )))
    }
}

/// Loads a committee's facts.
pub(crate) async fn committee_ref(state: &App, raw: &str) -> Result<CommitteeRef, Status> {
    let id = CommitteeId::parse(raw)?;
    let loaded = state
        .handler
        .load::<Committee>(&stream(committee_stream(&id))?)
        .await?;
    Ok(Lookup {
        id,
        found: loaded.state.facts(),
    })
}

/// Loads an appointee's facts; `field` names the id in errors.
pub(crate) async fn appointee_ref(
    state: &App,
    field: &str,
    raw: &str,
) -> Result<AppointeeRef, Status> {
    let id = AppointeeId::parse(raw)
        .map_err(|_| Rejection::invalid(field, "must be 1-64 ascii letters, digits, '_' or '-'"))?;
    let loaded = state
        .handler
        .load::<Appointee>(&stream(appointee_stream(&id))?)
        .await?;
    Ok(Lookup {
        id,
        found: loaded.state.facts(),
    })
}

/// Waits for `view` to reach `min_position`, then opens a snapshot of the views.
pub(crate) async fn read_at<T>(
    state: &App,
    request: &Request<T>,
    view: &str,
    min_position: u64,
) -> Result<ViewRead, Status> {
    state.wait_for(request, view, min_position).await?;
    Ok(state.views.read()?)
}

/// Whether `at` is at or after `from` and before `to` (`None`: no bound).
fn in_period(at: DateTime<Utc>, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> bool {
    from.is_none_or(|from| at >= from) && to.is_none_or(|to| at < to)
}

/// One page of an index table (keys ending with document ids, [`indexed_id`]): `resolve` turns an id into the
/// item to return, or `None` to skip it (hidden from the caller); skipped entries do not count
/// towards the page.
pub(crate) fn index_page<T>(
    read: &ViewRead,
    projection: &str,
    table: &str,
    prefix: &str,
    page: &Page,
    resolve: impl FnMut(&str) -> Result<Option<T>, Status>,
) -> Result<(Vec<T>, String), Status> {
    index_page_in(
        read,
        projection,
        table,
        prefix,
        &[KeyRange::all()],
        page,
        resolve,
    )
}

/// [`index_page`] of the entries within `ranges`, which must be in key order and apart (as
/// [`visits::period_ranges`] makes them), so that the page token (the last key returned) resumes
/// in the right one.
pub(crate) fn index_page_in<T>(
    read: &ViewRead,
    projection: &str,
    table: &str,
    prefix: &str,
    ranges: &[KeyRange],
    page: &Page,
    mut resolve: impl FnMut(&str) -> Result<Option<T>, Status>,
) -> Result<(Vec<T>, String), Status> {
    let mut out = Vec::new();
    let mut after = page.after.clone();
    for range in ranges {
        loop {
            let want = page.size.saturating_sub(out.len());
            let keys =
                read.scan_keys_in(projection, table, prefix, range, after.as_deref(), want)?;
            let exhausted = keys.len() < want;
            for key in keys {
                if let Some(item) = resolve(indexed_id(&key))? {
                    out.push(item);
                }
                after = Some(key);
            }
            if out.len() >= page.size && !exhausted {
                let returned = out.len();
                return Ok((out, page.next_token(returned, after.as_deref())));
            }
            if exhausted {
                break;
            }
        }
    }
    Ok((out, String::new()))
}

/// The committee of an appointee as the registry view has it (`None`: not registered, so
/// there is nothing of theirs to read).
/// Runs a command on the annual plan of `year` of the committee `committee_id` (made from the
/// committee and its supervision policy in force) and answers with the plan's id, the position
/// written and the warnings of its events (a plan outside 3–5 laws).
async fn execute_plan(
    state: &App,
    principal: &Principal,
    committee_id: &str,
    year: i32,
    correlation_id: &str,
    command: impl FnOnce(CommitteeRef, SupervisionPolicy) -> AnnualPlanCommand,
) -> Result<proto::AdoptAnnualPlanReply, Status> {
    let committee_id = CommitteeId::parse(committee_id)?;
    require_acting_on(principal, Some(committee_id.as_str()), None)?;
    let (committee, policy) = committee_policy(state, committee_id).await?;
    let stream = stream(annual_plan_stream(&committee.id, year))?;
    let id = format!("{}-{}", committee.id, year);
    let command = command(committee, policy);
    let (ctx, metadata) = state.command_context_legacy(principal, correlation_id);
    let executed = state
        .handler
        .execute::<AnnualPlan>(&stream, &command, &ctx, &metadata)
        .await?;
    let warnings = executed
        .events
        .iter()
        .flat_map(|e| e.warnings().iter().cloned())
        .collect();
    Ok(proto::AdoptAnnualPlanReply {
        id,
        position: executed.position,
        warnings,
    })
}

fn appointee_committee(read: &ViewRead, id: &str) -> Result<Option<String>, Status> {
    Ok(read
        .get::<AppointeeDoc>(registry::NAME, registry::APPOINTEES, id)?
        .map(|doc| doc.committee))
}

// ---- conversions ----

fn mode_from(mode: proto::VisitMode) -> Result<VisitMode, Status> {
    Ok(match mode {
        proto::VisitMode::Unspecified => {
            return Err(Rejection::invalid(
                "mode",
                "must be incognito, random_check, trial_attendance or open",
            )
            .into());
        }
        proto::VisitMode::Incognito => VisitMode::Incognito,
        proto::VisitMode::RandomCheck => VisitMode::RandomCheck,
        proto::VisitMode::TrialAttendance => VisitMode::TrialAttendance,
        proto::VisitMode::Open => VisitMode::Open,
    })
}

fn mode_to(mode: VisitMode) -> proto::VisitMode {
    match mode {
        VisitMode::Incognito => proto::VisitMode::Incognito,
        VisitMode::RandomCheck => proto::VisitMode::RandomCheck,
        VisitMode::TrialAttendance => proto::VisitMode::TrialAttendance,
        VisitMode::Open => proto::VisitMode::Open,
    }
}

fn rating(field: &str, value: Option<u32>) -> Result<Option<u8>, Status> {
    value
        .map(|v| {
            u8::try_from(v).map_err(|_| Status::from(Rejection::invalid(field, "is out of range")))
        })
        .transpose()
}

fn ratings_from(ratings: Option<proto::VisitRatings>) -> Result<Ratings, Status> {
    let r = ratings.unwrap_or_default();
    Ok(Ratings {
        work_discipline: rating("ratings.work_discipline", r.work_discipline)?,
        service_quality: rating("ratings.service_quality", r.service_quality)?,
        efficiency: rating("ratings.efficiency", r.efficiency)?,
    })
}

fn ratings_to(r: Ratings) -> proto::VisitRatings {
    proto::VisitRatings {
        work_discipline: r.work_discipline.map(u32::from),
        service_quality: r.service_quality.map(u32::from),
        efficiency: r.efficiency.map(u32::from),
    }
}

fn visit_to(doc: VisitDoc) -> proto::SiteVisit {
    proto::SiteVisit {
        visit_id: doc.visit.to_string(),
        committee_id: doc.committee.to_string(),
        group_id: doc.group.to_string(),
        target_organ: doc.target_organ,
        appointee_ids: doc.appointees.iter().map(|a| a.to_string()).collect(),
        mode: mode_to(doc.mode) as i32,
        visited_at: Some(timestamp(doc.visited_at)),
        ratings: Some(ratings_to(doc.ratings)),
        scale_min: u32::from(doc.scale.min),
        scale_max: u32::from(doc.scale.max),
        notes: doc.notes,
        evidence_sha256: doc.evidence,
        filed_by: doc.filed_by,
        corrections: doc.corrections,
        retracted: doc.retracted,
        report_ref: doc.report_ref.unwrap_or_default(),
        visible_to_appointee: doc.visible_to_appointee,
    }
}

fn kind_from(kind: proto::InspectionKind) -> Result<InspectionKind, Status> {
    Ok(match kind {
        proto::InspectionKind::Unspecified => {
            return Err(Rejection::invalid(
                "kind",
                "must be law_enforcement, deputies_view or competence_check",
            )
            .into());
        }
        proto::InspectionKind::LawEnforcement => InspectionKind::LawEnforcement,
        proto::InspectionKind::DeputiesView => InspectionKind::DeputiesView,
        proto::InspectionKind::CompetenceCheck => InspectionKind::CompetenceCheck,
    })
}

fn kind_to(kind: InspectionKind) -> proto::InspectionKind {
    match kind {
        InspectionKind::LawEnforcement => proto::InspectionKind::LawEnforcement,
        InspectionKind::DeputiesView => proto::InspectionKind::DeputiesView,
        InspectionKind::CompetenceCheck => proto::InspectionKind::CompetenceCheck,
    }
}

fn inspection_to(doc: InspectionDoc) -> proto::InspectionRecord {
    proto::InspectionRecord {
        inspection_id: doc.inspection.to_string(),
        committee_id: doc.committee.to_string(),
        kind: kind_to(doc.kind) as i32,
        title: doc.title,
        law_reference: doc.law_reference,
        year: doc.year,
        organs: doc.organs,
        opened_by: doc.opened_by,
        report: doc.report.map(|r| proto::InspectionReport {
            evaluation: r.evaluation,
            problems: r.problems,
            suggestions: r.suggestions,
            recorded_by: r.recorded_by,
        }),
    }
}

/// An exact average as numerator / denominator in lowest terms, with a display string.
pub(crate) fn average(sum: u64, count: u32) -> proto::RatingAverage {
    if count == 0 {
        return proto::RatingAverage::default();
    }
    let den = u64::from(count);
    let g = gcd(sum, den);
    // Hundredths rounded half up, for display only.
    let hundredths = (u128::from(sum) * 200 + u128::from(den)) / (u128::from(den) * 2);
    proto::RatingAverage {
        numerator: sum / g,
        denominator: den / g,
        ratings: count,
        display: format!("{}.{:02}", hundredths / 100, hundredths % 100),
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

impl SupervisionService {
    /// Loads a visit and checks that a deputy acts for its group.
    /// Loads a filed visit and checks who may change it: only its committee's principals, and
    /// of a deputy only their own group's. `None`: not filed (the domain refuses the command as
    /// not found).
    async fn visit_to_change(
        &self,
        principal: &Principal,
        raw: &str,
    ) -> Result<(VisitId, StreamName, Option<CommitteeId>), Status> {
        let id = VisitId::parse(raw)?;
        let stream = stream(visit_stream(&id))?;
        let filed = self.state.handler.load::<Visit>(&stream).await?.state.filed;
        if let Some(filed) = &filed {
            require_acting_on(principal, Some(filed.committee.as_str()), None)?;
            if principal.role == Role::Deputy {
                scope_check(
                    principal,
                    principal.deputy_group.as_deref() == Some(filed.group.as_str()),
                    "change a visit filed by another deputy group",
                )?;
            }
        }
        Ok((id, stream, filed.map(|filed| filed.committee)))
    }

    async fn execute_visit(
        &self,
        principal: &Principal,
        id: VisitId,
        stream: &StreamName,
        command: VisitCommand,
        correlation_id: &str,
    ) -> Result<Response<proto::SupervisionReply>, Status> {
        // A visit belongs to its group's committee: only that committee's principals file it
        // (changes are checked by `visit_to_change`).
        if let VisitCommand::File { group, .. } = &command {
            let committee = group.found.as_ref().map(|g| g.committee.as_str());
            require_acting_on(principal, committee, None)?;
        }
        let (ctx, metadata) = self.state.command_context_legacy(principal, correlation_id);
        let executed = self
            .state
            .handler
            .execute::<Visit>(stream, &command, &ctx, &metadata)
            .await?;
        Ok(Response::new(proto::SupervisionReply {
            id: id.to_string(),
            position: executed.position,
        }))
    }
}

#[tonic::async_trait]
impl Supervision for SupervisionService {
    #[tracing::instrument(skip_all, fields(method = "FileSiteVisit", visit, group))]
    async fn file_site_visit(
        &self,
        request: Request<proto::FileSiteVisitRequest>,
    ) -> Result<Response<proto::SupervisionReply>, Status> {
        let principal = self.state.principal(&request)?;
        let r = request.into_inner();
        let id = id_or_new(&r.visit_id, VisitId::parse)?;
        let group_id = DeputyGroupId::parse(r.group_id.as_str())?;
        let span = tracing::Span::current();
        span.record("visit", id.as_str());
        span.record("group", group_id.as_str());
        if principal.role == Role::Deputy {
            scope_check(
                &principal,
                principal.deputy_group.as_deref() == Some(group_id.as_str()),
                &format!("file a visit for deputy group {group_id}"),
            )?;
        }
        let mode = mode_from(r.mode())?;
        let visited_at = instant("visited_at", r.visited_at)?;
        let ratings = ratings_from(r.ratings)?;
        validate::items("appointee_ids", r.appointee_ids.len())?;
        let loaded = self
            .state
            .handler
            .load::<DeputyGroup>(&stream(deputy_group_stream(&group_id))?)
            .await?;
        let policy = match loaded.state.facts() {
            Some(facts) => committee_policy(&self.state, facts.committee).await?.1,
            // No such group: the domain refuses the command as not found.
            None => SupervisionPolicy::default(),
        };
        let group: DeputyGroupRef = Lookup {
            id: group_id,
            found: loaded.state.facts(),
        };
        let mut appointees = Vec::with_capacity(r.appointee_ids.len());
        for (i, raw) in r.appointee_ids.iter().enumerate() {
            appointees.push(appointee_ref(&self.state, &format!("appointee_ids[{i}]"), raw).await?);
        }
        let command = VisitCommand::File {
            id: id.clone(),
            group,
            target_organ: validate::nfc(r.target_organ),
            appointees,
            mode,
            visited_at,
            ratings,
            notes: r.notes,
            evidence: r.evidence_sha256,
            policy,
        };
        let stream = stream(visit_stream(&id))?;
        self.execute_visit(&principal, id, &stream, command, &r.correlation_id)
            .await
    }

    #[tracing::instrument(skip_all, fields(method = "CorrectSiteVisit", visit))]
    async fn correct_site_visit(
        &self,
        request: Request<proto::CorrectSiteVisitRequest>,
    ) -> Result<Response<proto::SupervisionReply>, Status> {
        let principal = self.state.principal(&request)?;
        let r = request.into_inner();
        tracing::Span::current().record("visit", r.visit_id.as_str());
        let ratings = ratings_from(r.ratings)?;
        let (id, stream, committee) = self.visit_to_change(&principal, &r.visit_id).await?;
        let policy = match committee {
            Some(committee) => committee_policy(&self.state, committee).await?.1,
            // Not filed: the domain refuses the command as not found.
            None => SupervisionPolicy::default(),
        };
        let command = VisitCommand::Correct {
            ratings,
            notes: r.notes,
            evidence: r.evidence_sha256,
            reason: r.reason,
            policy,
        };
        self.execute_visit(&principal, id, &stream, command, &r.correlation_id)
            .await
    }

    #[tracing::instrument(skip_all, fields(method = "RetractSiteVisit", visit))]
    async fn retract_site_visit(
        &self,
        request: Request<proto::RetractSiteVisitRequest>,
    ) -> Result<Response<proto::SupervisionReply>, Status> {
        let principal = self.state.principal(&request)?;
        let r = request.into_inner();
        tracing::Span::current().record("visit", r.visit_id.as_str());
        let (id, stream, _) = self.visit_to_change(&principal, &r.visit_id).await?;
        let command = VisitCommand::Retract { reason: r.reason };
        self.execute_visit(&principal, id, &stream, command, &r.correlation_id)
            .await
    }

    #[tracing::instrument(skip_all, fields(method = "IssueVisitReport", visit))]
    async fn issue_visit_report(
        &self,
        request: Request<proto::IssueVisitReportRequest>,
    ) -> Result<Response<proto::SupervisionReply>, Status> {
        let principal = self.state.principal(&request)?;
        let r = request.into_inner();
        tracing::Span::current().record("visit", r.visit_id.as_str());
        let (id, stream, _) = self.visit_to_change(&principal, &r.visit_id).await?;
        let command = VisitCommand::IssueReport {
            report_ref: validate::nfc(r.report_ref),
        };
        self.execute_visit(&principal, id, &stream, command, &r.correlation_id)
            .await
    }

    #[tracing::instrument(skip_all, fields(method = "OpenInspection", inspection))]
    async fn open_inspection(
        &self,
        request: Request<proto::OpenInspectionRequest>,
    ) -> Result<Response<proto::SupervisionReply>, Status> {
        let principal = self.state.principal(&request)?;
        let r = request.into_inner();
        let id = id_or_new(&r.inspection_id, InspectionId::parse)?;
        tracing::Span::current().record("inspection", id.as_str());
        let kind = kind_from(r.kind())?;
        let committee = committee_ref(&self.state, &r.committee_id).await?;
        require_acting_on(&principal, Some(committee.id.as_str()), None)?;
        let command = InspectionCommand::Open {
            id: id.clone(),
            committee,
            kind,
            title: validate::nfc(r.title),
            law_reference: r.law_reference.map(validate::nfc),
            year: r.year,
            organs: validate::nfc_all(r.organs),
        };
        let (ctx, metadata) = self
            .state
            .command_context_legacy(&principal, &r.correlation_id);
        let executed = self
            .state
            .handler
            .execute::<Inspection>(&stream(inspection_stream(&id))?, &command, &ctx, &metadata)
            .await?;
        Ok(Response::new(proto::SupervisionReply {
            id: id.to_string(),
            position: executed.position,
        }))
    }

    #[tracing::instrument(skip_all, fields(method = "RecordInspectionReport", inspection))]
    async fn record_inspection_report(
        &self,
        request: Request<proto::RecordInspectionReportRequest>,
    ) -> Result<Response<proto::SupervisionReply>, Status> {
        let principal = self.state.principal(&request)?;
        let r = request.into_inner();
        tracing::Span::current().record("inspection", r.inspection_id.as_str());
        let id = InspectionId::parse(r.inspection_id.as_str())?;
        let opened = self
            .state
            .handler
            .load::<Inspection>(&stream(inspection_stream(&id))?)
            .await?
            .state
            .opened;
        require_acting_on(
            &principal,
            opened.as_ref().map(|o| o.committee.as_str()),
            None,
        )?;
        let command = InspectionCommand::RecordReport {
            evaluation: r.evaluation,
            problems: r.problems,
            suggestions: r.suggestions,
        };
        let (ctx, metadata) = self
            .state
            .command_context_legacy(&principal, &r.correlation_id);
        let executed = self
            .state
            .handler
            .execute::<Inspection>(&stream(inspection_stream(&id))?, &command, &ctx, &metadata)
            .await?;
        Ok(Response::new(proto::SupervisionReply {
            id: id.to_string(),
            position: executed.position,
        }))
    }

    #[tracing::instrument(skip_all, fields(method = "AdoptAnnualPlan", committee, year))]
    async fn adopt_annual_plan(
        &self,
        request: Request<proto::AdoptAnnualPlanRequest>,
    ) -> Result<Response<proto::AdoptAnnualPlanReply>, Status> {
        let principal = self.state.principal(&request)?;
        let r = request.into_inner();
        let span = tracing::Span::current();
        span.record("committee", r.committee_id.as_str());
        span.record("year", r.year);
        let year = r.year;
        let reply = execute_plan(
            &self.state,
            &principal,
            &r.committee_id,
            year,
            &r.correlation_id,
            |committee, policy| AnnualPlanCommand::Adopt {
                committee,
                year,
                laws: validate::nfc_all(r.laws),
                policy,
            },
        )
        .await?;
        Ok(Response::new(reply))
    }

    #[tracing::instrument(skip_all, fields(method = "ReviseAnnualPlan", committee, year))]
    async fn revise_annual_plan(
        &self,
        request: Request<proto::ReviseAnnualPlanRequest>,
    ) -> Result<Response<proto::AdoptAnnualPlanReply>, Status> {
        let principal = self.state.principal(&request)?;
        let r = request.into_inner();
        let span = tracing::Span::current();
        span.record("committee", r.committee_id.as_str());
        span.record("year", r.year);
        let reply = execute_plan(
            &self.state,
            &principal,
            &r.committee_id,
            r.year,
            &r.correlation_id,
            |_, policy| AnnualPlanCommand::Revise {
                laws: validate::nfc_all(r.laws),
                reason: r.reason,
                policy,
            },
        )
        .await?;
        Ok(Response::new(reply))
    }

    #[tracing::instrument(skip_all, fields(method = "GetAnnualPlan", committee, year))]
    async fn get_annual_plan(
        &self,
        request: Request<proto::GetAnnualPlanRequest>,
    ) -> Result<Response<proto::AnnualPlanRecord>, Status> {
        let principal = self.state.principal(&request)?;
        let r = request.get_ref().clone();
        let span = tracing::Span::current();
        span.record("committee", r.committee_id.as_str());
        span.record("year", r.year);
        CommitteeId::parse(r.committee_id.as_str())?;
        let read = read_at(&self.state, &request, inspections::NAME, r.min_position).await?;
        require_committee_aggregates(&principal, &read, &r.committee_id)?;
        let doc: PlanDoc = read
            .get(
                inspections::NAME,
                inspections::PLANS,
                &inspections::plan_key(&r.committee_id, r.year),
            )?
            .ok_or_else(|| {
                Status::not_found(format!(
                    "committee {} has adopted no annual plan for {}",
                    r.committee_id, r.year
                ))
            })?;
        Ok(Response::new(proto::AnnualPlanRecord {
            committee_id: r.committee_id,
            year: r.year,
            laws: doc.laws,
            warnings: doc.warnings,
            changes: doc
                .changes
                .into_iter()
                .map(|change| proto::AnnualPlanChange {
                    kind: match change.kind {
                        PlanChangeKind::Adopted => proto::AnnualPlanChangeKind::Adopted,
                        PlanChangeKind::Revised => proto::AnnualPlanChangeKind::Revised,
                    }
                    .into(),
                    laws: change.laws,
                    reason: change.reason,
                    decided_by: change.decided_by,
                    position: change.position,
                })
                .collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(method = "ListSiteVisits"))]
    async fn list_site_visits(
        &self,
        request: Request<proto::ListSiteVisitsRequest>,
    ) -> Result<Response<proto::ListSiteVisitsReply>, Status> {
        use proto::list_site_visits_request::Scope;
        let principal = self.state.principal(&request)?;
        let r = request.get_ref().clone();
        let page = Page::from_request(r.page_size, &r.page_token)?;
        let (table, prefix) = match &r.scope {
            Some(Scope::AppointeeId(id)) => {
                AppointeeId::parse(id.as_str())?;
                (visits::BY_APPOINTEE, visits::appointee_prefix(id))
            }
            Some(Scope::GroupId(id)) => {
                DeputyGroupId::parse(id.as_str())?;
                (visits::BY_GROUP, visits::group_prefix(id))
            }
            Some(Scope::Organ(organ)) => {
                let organ = &validate::nfc(organ.clone());
                validate::name("organ", organ)?;
                CommitteeId::parse(r.committee_id.as_str())?;
                (
                    visits::BY_ORGAN,
                    visits::organ_prefix(&r.committee_id, organ),
                )
            }
            None => {
                return Err(Rejection::invalid(
                    "scope",
                    "must name one of appointee_id, group_id or organ",
                )
                .into());
            }
        };
        match principal.role {
            Role::Appointee => scope_check(
                &principal,
                matches!(&r.scope, Some(Scope::AppointeeId(id)) if *id == principal.subject),
                "list visits other than their own",
            )?,
            Role::Deputy => scope_check(
                &principal,
                matches!(&r.scope, Some(Scope::GroupId(id)) if Some(id.as_str()) == principal.deputy_group.as_deref()),
                "list visits of another deputy group",
            )?,
            _ => {}
        }
        let from = optional_instant("from", r.from)?;
        let to = optional_instant("to", r.to)?;
        let hide_incognito = principal.role == Role::Appointee;
        let read = read_at(&self.state, &request, visits::NAME, r.min_position).await?;
        let committee = match &r.scope {
            Some(Scope::AppointeeId(id)) => appointee_committee(&read, id)?,
            Some(Scope::GroupId(id)) => read
                .get::<GroupDoc>(registry::NAME, registry::GROUPS, id)?
                .map(|doc| doc.committee),
            _ => Some(r.committee_id.clone()),
        };
        if let Some(committee) = &committee {
            require_committee_records(&principal, &read, committee)?;
        }
        let ranges = visits::period_ranges(&prefix, from, to);
        let (items, next_page_token) =
            index_page_in(&read, visits::NAME, table, &prefix, &ranges, &page, |id| {
                let doc: Option<VisitDoc> = read.get(visits::NAME, visits::VISITS, id)?;
                Ok(doc
                    .filter(|d| !hide_incognito || d.visible_to_appointee)
                    .filter(|d| in_period(d.visited_at, from, to))
                    .map(visit_to))
            })?;
        Ok(Response::new(proto::ListSiteVisitsReply {
            visits: items,
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(method = "VisitAverages"))]
    async fn visit_averages(
        &self,
        request: Request<proto::VisitAveragesRequest>,
    ) -> Result<Response<proto::VisitAveragesReply>, Status> {
        use proto::visit_averages_request::Scope;
        let principal = self.state.principal(&request)?;
        let r = request.get_ref().clone();
        let (table, prefix) = match &r.scope {
            Some(Scope::AppointeeId(id)) => {
                AppointeeId::parse(id.as_str())?;
                (visits::BY_APPOINTEE, visits::appointee_prefix(id))
            }
            Some(Scope::Organ(organ)) => {
                let organ = &validate::nfc(organ.clone());
                validate::name("organ", organ)?;
                CommitteeId::parse(r.committee_id.as_str())?;
                (
                    visits::BY_ORGAN,
                    visits::organ_prefix(&r.committee_id, organ),
                )
            }
            Some(Scope::GroupId(id)) => {
                DeputyGroupId::parse(id.as_str())?;
                (visits::BY_GROUP, visits::group_prefix(id))
            }
            None => {
                return Err(Rejection::invalid(
                    "scope",
                    "must name one of appointee_id, organ or group_id",
                )
                .into());
            }
        };
        if principal.role == Role::Appointee {
            scope_check(
                &principal,
                matches!(&r.scope, Some(Scope::AppointeeId(id)) if *id == principal.subject),
                "average visits other than their own",
            )?;
        }
        let from = optional_instant("from", r.from)?;
        let to = optional_instant("to", r.to)?;
        let hide_incognito = principal.role == Role::Appointee;
        let read = read_at(&self.state, &request, visits::NAME, r.min_position).await?;
        let committee = match &r.scope {
            Some(Scope::AppointeeId(id)) => appointee_committee(&read, id)?,
            Some(Scope::GroupId(id)) => read
                .get::<GroupDoc>(registry::NAME, registry::GROUPS, id)?
                .map(|doc| doc.committee),
            _ => Some(r.committee_id.clone()),
        };
        if let Some(committee) = &committee {
            require_committee_aggregates(&principal, &read, committee)?;
        }
        let mut sums = [(0u64, 0u32); 3];
        let mut counted = 0u32;
        let ranges = visits::period_ranges(&prefix, from, to);
        read.for_each_indexed_in(
            visits::NAME,
            table,
            &prefix,
            &ranges,
            visits::VISITS,
            |doc: VisitDoc| -> Result<(), Status> {
                if doc.retracted
                    || (hide_incognito && !doc.visible_to_appointee)
                    || !in_period(doc.visited_at, from, to)
                {
                    return Ok(());
                }
                counted = counted.saturating_add(1);
                let dims = [
                    doc.ratings.work_discipline,
                    doc.ratings.service_quality,
                    doc.ratings.efficiency,
                ];
                for (sum, value) in sums.iter_mut().zip(dims) {
                    if let Some(v) = value {
                        sum.0 = sum.0.saturating_add(u64::from(v));
                        sum.1 = sum.1.saturating_add(1);
                    }
                }
                Ok(())
            },
        )?;
        let [wd, sq, ef] = sums;
        Ok(Response::new(proto::VisitAveragesReply {
            visits: counted,
            work_discipline: Some(average(wd.0, wd.1)),
            service_quality: Some(average(sq.0, sq.1)),
            efficiency: Some(average(ef.0, ef.1)),
        }))
    }

    #[tracing::instrument(skip_all, fields(method = "GetInspection", inspection))]
    async fn get_inspection(
        &self,
        request: Request<proto::GetInspectionRequest>,
    ) -> Result<Response<proto::InspectionRecord>, Status> {
        let principal = self.state.principal(&request)?;
        let r = request.get_ref().clone();
        tracing::Span::current().record("inspection", r.inspection_id.as_str());
        InspectionId::parse(r.inspection_id.as_str())?;
        let read = read_at(&self.state, &request, inspections::NAME, r.min_position).await?;
        let doc: InspectionDoc = read
            .get(
                inspections::NAME,
                inspections::INSPECTIONS,
                &r.inspection_id,
            )?
            .ok_or_else(|| {
                Status::not_found(format!("inspection {} does not exist", r.inspection_id))
            })?;
        require_committee_aggregates(&principal, &read, doc.committee.as_str())?;
        Ok(Response::new(inspection_to(doc)))
    }

    #[tracing::instrument(skip_all, fields(method = "ListInspections", committee))]
    async fn list_inspections(
        &self,
        request: Request<proto::ListInspectionsRequest>,
    ) -> Result<Response<proto::ListInspectionsReply>, Status> {
        let principal = self.state.principal(&request)?;
        let r = request.get_ref().clone();
        tracing::Span::current().record("committee", r.committee_id.as_str());
        CommitteeId::parse(r.committee_id.as_str())?;
        let page = Page::from_request(r.page_size, &r.page_token)?;
        let year = (r.year != 0).then_some(r.year);
        let prefix = inspections::year_prefix(&r.committee_id, year);
        let read = read_at(&self.state, &request, inspections::NAME, r.min_position).await?;
        require_committee_aggregates(&principal, &read, &r.committee_id)?;
        let (items, next_page_token) = index_page(
            &read,
            inspections::NAME,
            inspections::BY_YEAR,
            &prefix,
            &page,
            |id| {
                let doc: Option<InspectionDoc> =
                    read.get(inspections::NAME, inspections::INSPECTIONS, id)?;
                Ok(doc.map(inspection_to))
            },
        )?;
        Ok(Response::new(proto::ListInspectionsReply {
            inspections: items,
            next_page_token,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_are_exact_fractions_with_a_rounded_display() {
        let a = average(13, 3);
        assert_eq!((a.numerator, a.denominator, a.ratings), (13, 3, 3));
        assert_eq!(a.display, "4.33");
        let a = average(9, 2);
        assert_eq!((a.numerator, a.denominator), (9, 2));
        assert_eq!(a.display, "4.50");
        let a = average(10, 2);
        assert_eq!((a.numerator, a.denominator), (5, 1));
        assert_eq!(average(0, 0), proto::RatingAverage::default());
        // 2/3 = 0.666… rounds half up to 0.67.
        assert_eq!(average(2, 3).display, "0.67");
    }
}
