//! The site visit (实地体验, 三看): a deputy group sees an office at work and rates its work
//! discipline, service quality and efficiency. An incognito visit (暗访) stays hidden from the
//! appointee until the committee issues its visit report; nothing about a visit is ever edited —
//! a correction or a retraction is a further event with a reason.
//!
//! Stream: `visit-<visit id>`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{AppointeeId, CommitteeId, DeputyGroupId, VisitId};
use super::lookup::{AppointeeRef, DeputyGroupRef, require_appointee_of};
use super::supervision_policy::SupervisionPolicy;
use super::{Aggregate, Context, DomainEvent, Rejection, validate};

/// How the group visited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitMode {
    /// 暗访: unannounced and unrecognised; hidden from the appointee until the visit report.
    Incognito,
    /// 随机抽查.
    RandomCheck,
    /// 旁听庭审.
    TrialAttendance,
    /// An announced visit.
    Open,
}

/// The three things a visit looks at (三看); each optional, at least one given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ratings {
    /// 看工作纪律.
    pub work_discipline: Option<u8>,
    /// 看服务质量.
    pub service_quality: Option<u8>,
    /// 看办事效率.
    pub efficiency: Option<u8>,
}

/// The rating scale in force when ratings were given, recorded so averages stay comparable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatingScale {
    /// Lowest rating.
    pub min: u8,
    /// Highest rating.
    pub max: u8,
}

impl Ratings {
    fn validate(&self, policy: &SupervisionPolicy) -> Result<(), Rejection> {
        let dimensions = [
            ("ratings.work_discipline", self.work_discipline),
            ("ratings.service_quality", self.service_quality),
            ("ratings.efficiency", self.efficiency),
        ];
        if dimensions.iter().all(|(_, r)| r.is_none()) {
            return Err(Rejection::invalid(
                "ratings",
                "must rate at least one of work_discipline, service_quality, efficiency",
            ));
        }
        for (field, rating) in dimensions {
            if let Some(rating) = rating
                && !policy.rating_on_scale(rating)
            {
                return Err(Rejection::invalid(
                    field,
                    format!(
                        "must be between {} and {}",
                        policy.visit_rating_min, policy.visit_rating_max
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn validate_findings(
    ratings: &Ratings,
    notes: &str,
    evidence: &[String],
    policy: &SupervisionPolicy,
) -> Result<(), Rejection> {
    policy.validate()?;
    ratings.validate(policy)?;
    validate::optional_text("notes", notes)?;
    validate::items("evidence", evidence.len())?;
    for (i, hash) in evidence.iter().enumerate() {
        let field = format!("evidence[{i}]");
        validate::sha256_hex(&field, hash)?;
        if evidence[..i].contains(hash) {
            return Err(Rejection::invalid(
                field,
                "must not repeat an earlier entry",
            ));
        }
    }
    Ok(())
}

fn scale(policy: &SupervisionPolicy) -> RatingScale {
    RatingScale {
        min: policy.visit_rating_min,
        max: policy.visit_rating_max,
    }
}

/// What can be asked about a site visit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum VisitCommand {
    /// A deputy group files what it saw.
    File {
        /// The visit's id.
        id: VisitId,
        /// The filing group, looked up by the handler.
        group: DeputyGroupRef,
        /// The office visited, e.g. 区政务服务中心不动产登记窗口.
        target_organ: String,
        /// Appointees responsible for that office, looked up by the handler.
        appointees: Vec<AppointeeRef>,
        /// How the group visited.
        mode: VisitMode,
        /// When the visit took place; not after the moment of filing.
        visited_at: DateTime<Utc>,
        /// The ratings.
        ratings: Ratings,
        /// What the deputies saw.
        notes: String,
        /// SHA-256 digests of photos, recordings or documents kept elsewhere.
        evidence: Vec<String>,
        /// The committee's current supervision policy (the rating scale).
        policy: SupervisionPolicy,
    },
    /// Replaces the ratings, notes and evidence, saying why.
    Correct {
        /// The corrected ratings.
        ratings: Ratings,
        /// The corrected notes.
        notes: String,
        /// The corrected evidence.
        evidence: Vec<String>,
        /// Why the correction is made.
        reason: String,
        /// The committee's current supervision policy.
        policy: SupervisionPolicy,
    },
    /// Withdraws the visit, saying why; it stays in the log but counts nowhere.
    Retract {
        /// Why.
        reason: String,
    },
    /// The committee issues its visit report, which lifts an incognito visit's secrecy.
    IssueReport {
        /// The report's reference, e.g. 香人常函〔2017〕12号.
        report_ref: String,
    },
}

/// A visit was filed (`VisitFiled.v1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitFiled {
    /// The visit.
    pub visit: VisitId,
    /// The committee of the filing group.
    pub committee: CommitteeId,
    /// The filing group.
    pub group: DeputyGroupId,
    /// Who filed it (the acting deputy or clerk).
    pub filed_by: String,
    /// The office visited.
    pub target_organ: String,
    /// Appointees responsible for it.
    pub appointees: Vec<AppointeeId>,
    /// How the group visited.
    pub mode: VisitMode,
    /// When.
    pub visited_at: DateTime<Utc>,
    /// The ratings.
    pub ratings: Ratings,
    /// The scale the ratings are on.
    pub scale: RatingScale,
    /// Notes.
    pub notes: String,
    /// Evidence digests.
    pub evidence: Vec<String>,
    /// Whether the appointees may see it now (false for an incognito visit).
    pub visible_to_appointee: bool,
}

/// What happened to a site visit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum VisitEvent {
    /// A visit was filed.
    #[serde(rename = "VisitFiled.v1")]
    Filed(VisitFiled),
    /// Ratings, notes and evidence were replaced.
    #[serde(rename = "VisitCorrected.v1")]
    Corrected {
        /// The visit.
        visit: VisitId,
        /// Its committee.
        committee: CommitteeId,
        /// The filing group (so per-group views need no lookup).
        group: DeputyGroupId,
        /// The appointees it concerns (so per-appointee views need no lookup).
        appointees: Vec<AppointeeId>,
        /// Which correction of this visit this is (1 for the first), so views can order them.
        correction: u32,
        /// The ratings in force before, so averages can be adjusted without re-reading history.
        previous_ratings: Ratings,
        /// The ratings now in force.
        ratings: Ratings,
        /// Their scale.
        scale: RatingScale,
        /// The notes now in force.
        notes: String,
        /// The evidence now in force.
        evidence: Vec<String>,
        /// Why.
        reason: String,
        /// Who corrected it.
        corrected_by: String,
    },
    /// The visit was withdrawn.
    #[serde(rename = "VisitRetracted.v1")]
    Retracted {
        /// The visit.
        visit: VisitId,
        /// Its committee.
        committee: CommitteeId,
        /// The filing group (so per-group views need no lookup).
        group: DeputyGroupId,
        /// The appointees it concerns (so per-appointee views need no lookup).
        appointees: Vec<AppointeeId>,
        /// Why.
        reason: String,
        /// Who withdrew it.
        retracted_by: String,
    },
    /// The committee issued its visit report; the visit is now visible to its appointees.
    #[serde(rename = "VisitReportIssued.v1")]
    ReportIssued {
        /// The visit.
        visit: VisitId,
        /// Its committee.
        committee: CommitteeId,
        /// The filing group (so per-group views need no lookup).
        group: DeputyGroupId,
        /// The appointees it concerns (so per-appointee views need no lookup).
        appointees: Vec<AppointeeId>,
        /// The report's reference.
        report_ref: String,
        /// When it was issued.
        issued_at: DateTime<Utc>,
        /// Who issued it.
        issued_by: String,
    },
}

impl DomainEvent for VisitEvent {
    fn event_type(&self) -> &'static str {
        match self {
            VisitEvent::Filed(_) => VisitFiled::TYPE,
            VisitEvent::Corrected { .. } => "VisitCorrected.v1",
            VisitEvent::Retracted { .. } => "VisitRetracted.v1",
            VisitEvent::ReportIssued { .. } => "VisitReportIssued.v1",
        }
    }

    fn from_json(data: &[u8]) -> Result<Self, serde_json::Error> {
        // Filing is most of a visit stream: read it without the enum's buffering.
        if super::tagged_first(data, VisitFiled::TYPE) {
            return serde_json::from_slice(data).map(VisitEvent::Filed);
        }
        serde_json::from_slice(data)
    }
}

impl VisitFiled {
    /// The event's type name.
    pub const TYPE: &str = "VisitFiled.v1";
}

/// A filed visit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiledVisit {
    /// The visit.
    pub id: VisitId,
    /// Its committee.
    pub committee: CommitteeId,
    /// The filing group.
    pub group: DeputyGroupId,
    /// The appointees it concerns.
    pub appointees: Vec<AppointeeId>,
    /// Its mode.
    pub mode: VisitMode,
    /// The ratings in force.
    pub ratings: Ratings,
    /// Corrections so far.
    pub corrections: u32,
    /// Whether the appointees may see it.
    pub visible_to_appointee: bool,
    /// Whether the visit report has been issued.
    pub report_issued: bool,
    /// Whether it was retracted.
    pub retracted: bool,
}

/// A site visit as far as deciding needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Visit {
    /// The visit, once filed.
    pub filed: Option<FiledVisit>,
}

impl Visit {
    /// Whether the appointees may see this visit: always for a visit that is not incognito, and
    /// for an incognito one once the committee has issued its report.
    pub fn visible_to_appointee(&self) -> bool {
        self.filed.as_ref().is_some_and(|v| v.visible_to_appointee)
    }

    fn standing(&self) -> Result<&FiledVisit, Rejection> {
        let visit = self
            .filed
            .as_ref()
            .ok_or_else(|| Rejection::NotFound("visit does not exist".into()))?;
        if visit.retracted {
            return Err(Rejection::precondition(format!(
                "visit {} has been retracted",
                visit.id
            )));
        }
        Ok(visit)
    }
}

impl Aggregate for Visit {
    type Command = VisitCommand;
    type Event = VisitEvent;

    fn decide(&self, command: &VisitCommand, ctx: &Context) -> Result<Vec<VisitEvent>, Rejection> {
        match command {
            VisitCommand::File {
                id,
                group,
                target_organ,
                appointees,
                mode,
                visited_at,
                ratings,
                notes,
                evidence,
                policy,
            } => {
                validate::name("target_organ", target_organ)?;
                validate::not_in_future("visited_at", *visited_at, ctx.now)?;
                validate_findings(ratings, notes, evidence, policy)?;
                validate::items("appointees", appointees.len())?;
                for (i, appointee) in appointees.iter().enumerate() {
                    if appointees[..i].iter().any(|a| a.id == appointee.id) {
                        return Err(Rejection::invalid(
                            format!("appointees[{i}]"),
                            "must not repeat an earlier entry",
                        ));
                    }
                }
                if let Some(existing) = &self.filed {
                    return Err(Rejection::precondition(format!(
                        "visit {} is already filed",
                        existing.id
                    )));
                }
                let committee = &group.require("deputy group")?.committee;
                for (i, appointee) in appointees.iter().enumerate() {
                    require_appointee_of(&format!("appointees[{i}]"), appointee, committee)?;
                }
                Ok(vec![VisitEvent::Filed(VisitFiled {
                    visit: id.clone(),
                    committee: committee.clone(),
                    group: group.id.clone(),
                    filed_by: ctx.actor.clone(),
                    target_organ: target_organ.clone(),
                    appointees: appointees.iter().map(|a| a.id.clone()).collect(),
                    mode: *mode,
                    visited_at: *visited_at,
                    ratings: *ratings,
                    scale: scale(policy),
                    notes: notes.clone(),
                    evidence: evidence.clone(),
                    visible_to_appointee: *mode != VisitMode::Incognito,
                })])
            }
            VisitCommand::Correct {
                ratings,
                notes,
                evidence,
                reason,
                policy,
            } => {
                validate_findings(ratings, notes, evidence, policy)?;
                validate::text("reason", reason)?;
                let visit = self.standing()?;
                Ok(vec![VisitEvent::Corrected {
                    visit: visit.id.clone(),
                    committee: visit.committee.clone(),
                    group: visit.group.clone(),
                    appointees: visit.appointees.clone(),
                    correction: visit.corrections.saturating_add(1),
                    previous_ratings: visit.ratings,
                    ratings: *ratings,
                    scale: scale(policy),
                    notes: notes.clone(),
                    evidence: evidence.clone(),
                    reason: reason.clone(),
                    corrected_by: ctx.actor.clone(),
                }])
            }
            VisitCommand::Retract { reason } => {
                validate::text("reason", reason)?;
                let visit = self.standing()?;
                Ok(vec![VisitEvent::Retracted {
                    visit: visit.id.clone(),
                    committee: visit.committee.clone(),
                    group: visit.group.clone(),
                    appointees: visit.appointees.clone(),
                    reason: reason.clone(),
                    retracted_by: ctx.actor.clone(),
                }])
            }
            VisitCommand::IssueReport { report_ref } => {
                validate::name("report_ref", report_ref)?;
                let visit = self.standing()?;
                if visit.report_issued {
                    return Err(Rejection::precondition(format!(
                        "the report on visit {} has already been issued",
                        visit.id
                    )));
                }
                Ok(vec![VisitEvent::ReportIssued {
                    visit: visit.id.clone(),
                    committee: visit.committee.clone(),
                    group: visit.group.clone(),
                    appointees: visit.appointees.clone(),
                    report_ref: report_ref.clone(),
                    issued_at: ctx.now,
                    issued_by: ctx.actor.clone(),
                }])
            }
        }
    }

    fn apply(&mut self, event: &VisitEvent) {
        match event {
            VisitEvent::Filed(VisitFiled {
                visit,
                committee,
                group,
                appointees,
                mode,
                ratings,
                visible_to_appointee,
                ..
            }) => {
                self.filed = Some(FiledVisit {
                    id: visit.clone(),
                    committee: committee.clone(),
                    group: group.clone(),
                    appointees: appointees.clone(),
                    mode: *mode,
                    ratings: *ratings,
                    corrections: 0,
                    visible_to_appointee: *visible_to_appointee,
                    report_issued: false,
                    retracted: false,
                });
            }
            VisitEvent::Corrected {
                correction,
                ratings,
                ..
            } => {
                if let Some(v) = &mut self.filed {
                    v.corrections = *correction;
                    v.ratings = *ratings;
                }
            }
            VisitEvent::Retracted { .. } => {
                if let Some(v) = &mut self.filed {
                    v.retracted = true;
                }
            }
            VisitEvent::ReportIssued { .. } => {
                if let Some(v) = &mut self.filed {
                    v.report_issued = true;
                    v.visible_to_appointee = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::lookup::{AppointeeFacts, DeputyGroupFacts};
    use crate::domain::testing::{given, noon, now};

    fn cid() -> CommitteeId {
        CommitteeId::parse("xiangfang").unwrap()
    }

    fn vid() -> VisitId {
        VisitId::parse("v1").unwrap()
    }

    fn gid() -> DeputyGroupId {
        DeputyGroupId::parse("g3").unwrap()
    }

    fn aid(s: &str) -> AppointeeId {
        AppointeeId::parse(s).unwrap()
    }

    fn group() -> DeputyGroupRef {
        DeputyGroupRef::found(gid(), DeputyGroupFacts { committee: cid() })
    }

    fn appointee(id: &str) -> AppointeeRef {
        AppointeeRef::found(
            aid(id),
            AppointeeFacts {
                committee: cid(),
                in_office: true,
            },
        )
    }

    fn hash(c: char) -> String {
        c.to_string().repeat(64)
    }

    fn rated(w: u8) -> Ratings {
        Ratings {
            work_discipline: Some(w),
            service_quality: None,
            efficiency: Some(3),
        }
    }

    fn file(mode: VisitMode) -> VisitCommand {
        VisitCommand::File {
            id: vid(),
            group: group(),
            target_organ: "区政务服务中心".into(),
            appointees: vec![appointee("a1")],
            mode,
            visited_at: noon(2017, 12, 20),
            ratings: rated(4),
            notes: "窗口排队较长".into(),
            evidence: vec![hash('a')],
            policy: SupervisionPolicy::default(),
        }
    }

    fn filed(mode: VisitMode) -> VisitEvent {
        VisitEvent::Filed(VisitFiled {
            visit: vid(),
            committee: cid(),
            group: gid(),
            filed_by: "clerk-1".into(),
            target_organ: "区政务服务中心".into(),
            appointees: vec![aid("a1")],
            mode,
            visited_at: noon(2017, 12, 20),
            ratings: rated(4),
            scale: RatingScale { min: 1, max: 5 },
            notes: "窗口排队较长".into(),
            evidence: vec![hash('a')],
            visible_to_appointee: mode != VisitMode::Incognito,
        })
    }

    fn with_file(change: impl FnOnce(&mut VisitCommand)) -> VisitCommand {
        let mut command = file(VisitMode::Open);
        change(&mut command);
        command
    }

    fn retracted() -> VisitEvent {
        VisitEvent::Retracted {
            visit: vid(),
            committee: cid(),
            group: gid(),
            appointees: vec![aid("a1")],
            reason: "录入错误".into(),
            retracted_by: "clerk-1".into(),
        }
    }

    fn issue() -> VisitCommand {
        VisitCommand::IssueReport {
            report_ref: "香人常函〔2017〕12号".into(),
        }
    }

    fn issued() -> VisitEvent {
        VisitEvent::ReportIssued {
            visit: vid(),
            committee: cid(),
            group: gid(),
            appointees: vec![aid("a1")],
            report_ref: "香人常函〔2017〕12号".into(),
            issued_at: now(),
            issued_by: "clerk-1".into(),
        }
    }

    fn correct(ratings: Ratings, reason: &str) -> VisitCommand {
        VisitCommand::Correct {
            ratings,
            notes: "更正".into(),
            evidence: vec![],
            reason: reason.into(),
            policy: SupervisionPolicy::default(),
        }
    }

    #[test]
    fn an_open_visit_is_filed_and_visible_at_once() {
        let state = given::<Visit>(vec![])
            .when(file(VisitMode::Open))
            .then_events(vec![filed(VisitMode::Open)]);
        assert!(state.visible_to_appointee());
    }

    #[test]
    fn an_incognito_visit_is_hidden_until_the_committee_issues_its_report() {
        let state = given::<Visit>(vec![])
            .when(file(VisitMode::Incognito))
            .then_events(vec![filed(VisitMode::Incognito)]);
        assert!(!state.visible_to_appointee());
        let state = given::<Visit>(vec![filed(VisitMode::Incognito)])
            .when(issue())
            .then_events(vec![issued()]);
        assert!(state.visible_to_appointee());
    }

    #[test]
    fn a_visit_without_appointees_is_filed() {
        let events = given::<Visit>(vec![])
            .when(with_file(|c| {
                if let VisitCommand::File { appointees, .. } = c {
                    appointees.clear();
                }
            }))
            .then_ok();
        assert!(
            matches!(&events[0], VisitEvent::Filed(VisitFiled { appointees, .. }) if appointees.is_empty())
        );
    }

    #[test]
    fn a_visit_in_the_future_is_refused() {
        given::<Visit>(vec![])
            .when(with_file(|c| {
                if let VisitCommand::File { visited_at, .. } = c {
                    *visited_at = now() + chrono::Duration::seconds(1);
                }
            }))
            .then_invalid("visited_at");
    }

    #[test]
    fn a_visit_at_the_moment_of_filing_is_accepted() {
        given::<Visit>(vec![])
            .at(noon(2017, 12, 20))
            .when(file(VisitMode::RandomCheck))
            .then_ok();
    }

    #[test]
    fn a_visit_without_any_rating_is_refused() {
        given::<Visit>(vec![])
            .when(with_file(|c| {
                if let VisitCommand::File { ratings, .. } = c {
                    *ratings = Ratings::default();
                }
            }))
            .then_invalid("ratings");
    }

    #[test]
    fn a_rating_off_the_scale_is_refused_naming_the_dimension() {
        given::<Visit>(vec![])
            .when(with_file(|c| {
                if let VisitCommand::File { ratings, .. } = c {
                    ratings.service_quality = Some(6);
                }
            }))
            .then_rejects(Rejection::invalid(
                "ratings.service_quality",
                "must be between 1 and 5",
            ));
        given::<Visit>(vec![])
            .when(with_file(|c| {
                if let VisitCommand::File { ratings, .. } = c {
                    ratings.work_discipline = Some(0);
                }
            }))
            .then_invalid("ratings.work_discipline");
    }

    #[test]
    fn the_rating_scale_is_the_policys() {
        let policy = SupervisionPolicy {
            visit_rating_min: 0,
            visit_rating_max: 10,
            ..Default::default()
        };
        let events = given::<Visit>(vec![])
            .when(with_file(|c| {
                if let VisitCommand::File {
                    ratings, policy: p, ..
                } = c
                {
                    ratings.efficiency = Some(9);
                    *p = policy;
                }
            }))
            .then_ok();
        assert!(matches!(
            &events[0],
            VisitEvent::Filed(VisitFiled {
                scale: RatingScale { min: 0, max: 10 },
                ..
            })
        ));
        given::<Visit>(vec![])
            .when(with_file(|c| {
                if let VisitCommand::File { ratings, .. } = c {
                    ratings.efficiency = Some(9);
                }
            }))
            .then_invalid("ratings.efficiency");
    }

    #[test]
    fn a_malformed_evidence_hash_is_refused() {
        given::<Visit>(vec![])
            .when(with_file(|c| {
                if let VisitCommand::File { evidence, .. } = c {
                    evidence.push("ABC".into());
                }
            }))
            .then_invalid("evidence[1]");
        given::<Visit>(vec![])
            .when(with_file(|c| {
                if let VisitCommand::File { evidence, .. } = c {
                    evidence.push(hash('a'));
                }
            }))
            .then_invalid("evidence[1]");
    }

    #[test]
    fn a_visit_needs_a_target_organ() {
        given::<Visit>(vec![])
            .when(with_file(|c| {
                if let VisitCommand::File { target_organ, .. } = c {
                    target_organ.clear();
                }
            }))
            .then_invalid("target_organ");
    }

    #[test]
    fn a_repeated_appointee_is_refused() {
        given::<Visit>(vec![])
            .when(with_file(|c| {
                if let VisitCommand::File { appointees, .. } = c {
                    appointees.push(appointee("a1"));
                }
            }))
            .then_invalid("appointees[1]");
    }

    #[test]
    fn a_visit_is_not_filed_twice() {
        given::<Visit>(vec![filed(VisitMode::Open)])
            .when(file(VisitMode::Open))
            .then_precondition("already filed");
    }

    #[test]
    fn a_visit_by_an_unknown_group_is_refused() {
        given::<Visit>(vec![])
            .when(with_file(|c| {
                if let VisitCommand::File { group, .. } = c {
                    *group = DeputyGroupRef::missing(gid());
                }
            }))
            .then_not_found("deputy group g3");
    }

    #[test]
    fn an_unknown_appointee_is_refused() {
        given::<Visit>(vec![])
            .when(with_file(|c| {
                if let VisitCommand::File { appointees, .. } = c {
                    appointees.push(AppointeeRef::missing(aid("a9")));
                }
            }))
            .then_not_found("appointee a9");
    }

    #[test]
    fn an_appointee_of_another_committee_is_refused() {
        given::<Visit>(vec![])
            .when(with_file(|c| {
                if let VisitCommand::File { appointees, .. } = c {
                    appointees.push(AppointeeRef::found(
                        aid("a9"),
                        AppointeeFacts {
                            committee: CommitteeId::parse("daowai").unwrap(),
                            in_office: true,
                        },
                    ));
                }
            }))
            .then_precondition("belongs to committee daowai");
    }

    #[test]
    fn an_appointee_out_of_office_is_refused() {
        given::<Visit>(vec![])
            .when(with_file(|c| {
                if let VisitCommand::File { appointees, .. } = c {
                    appointees[0] = AppointeeRef::found(
                        aid("a1"),
                        AppointeeFacts {
                            committee: cid(),
                            in_office: false,
                        },
                    );
                }
            }))
            .then_precondition("term has ended");
    }

    #[test]
    fn a_broken_policy_is_refused() {
        given::<Visit>(vec![])
            .when(with_file(|c| {
                if let VisitCommand::File { policy, .. } = c {
                    policy.visit_rating_min = 9;
                }
            }))
            .then_invalid("policy.visit_rating_min");
    }

    #[test]
    fn a_correction_replaces_the_ratings_and_is_numbered() {
        let state = given::<Visit>(vec![filed(VisitMode::Open)])
            .by("deputy-7")
            .when(correct(rated(2), "误录评分"))
            .then_events(vec![VisitEvent::Corrected {
                visit: vid(),
                committee: cid(),
                group: gid(),
                appointees: vec![aid("a1")],
                correction: 1,
                previous_ratings: rated(4),
                ratings: rated(2),
                scale: RatingScale { min: 1, max: 5 },
                notes: "更正".into(),
                evidence: vec![],
                reason: "误录评分".into(),
                corrected_by: "deputy-7".into(),
            }]);
        let events = given::<Visit>(vec![]).when(file(VisitMode::Open)).then_ok();
        let mut history = events;
        history.extend(
            given::<Visit>(vec![filed(VisitMode::Open)])
                .when(correct(rated(2), "误录评分"))
                .then_ok(),
        );
        let again = given::<Visit>(history)
            .when(correct(rated(3), "再次更正"))
            .then_ok();
        assert!(matches!(
            &again[0],
            VisitEvent::Corrected { correction: 2, .. }
        ));
        assert_eq!(state.filed.map(|v| v.ratings), Some(rated(2)));
    }

    #[test]
    fn a_correction_without_a_reason_is_refused() {
        given::<Visit>(vec![filed(VisitMode::Open)])
            .when(correct(rated(2), " "))
            .then_invalid("reason");
    }

    #[test]
    fn a_correction_is_validated_like_a_filing() {
        given::<Visit>(vec![filed(VisitMode::Open)])
            .when(correct(Ratings::default(), "误录评分"))
            .then_invalid("ratings");
    }

    #[test]
    fn correcting_an_unknown_visit_is_refused() {
        given::<Visit>(vec![])
            .when(correct(rated(2), "误录评分"))
            .then_not_found("visit");
    }

    #[test]
    fn a_visit_is_retracted_with_a_reason() {
        given::<Visit>(vec![filed(VisitMode::Open)])
            .when(VisitCommand::Retract {
                reason: "录入错误".into(),
            })
            .then_events(vec![retracted()]);
    }

    #[test]
    fn a_retraction_without_a_reason_is_refused() {
        given::<Visit>(vec![filed(VisitMode::Open)])
            .when(VisitCommand::Retract { reason: "".into() })
            .then_invalid("reason");
    }

    #[test]
    fn retracting_an_unknown_visit_is_refused() {
        given::<Visit>(vec![])
            .when(VisitCommand::Retract {
                reason: "录入错误".into(),
            })
            .then_not_found("visit");
    }

    #[test]
    fn a_retracted_visit_cannot_be_retracted_corrected_or_reported() {
        let history = vec![filed(VisitMode::Incognito), retracted()];
        given::<Visit>(history.clone())
            .when(VisitCommand::Retract {
                reason: "again".into(),
            })
            .then_precondition("retracted");
        given::<Visit>(history.clone())
            .when(correct(rated(2), "误录评分"))
            .then_precondition("retracted");
        given::<Visit>(history)
            .when(issue())
            .then_precondition("retracted");
    }

    #[test]
    fn a_report_is_issued_once() {
        given::<Visit>(vec![filed(VisitMode::Incognito), issued()])
            .when(issue())
            .then_precondition("already been issued");
    }

    #[test]
    fn a_report_needs_a_reference() {
        given::<Visit>(vec![filed(VisitMode::Incognito)])
            .when(VisitCommand::IssueReport {
                report_ref: "".into(),
            })
            .then_invalid("report_ref");
    }

    #[test]
    fn a_report_on_an_unknown_visit_is_refused() {
        given::<Visit>(vec![]).when(issue()).then_not_found("visit");
    }

    #[test]
    fn overlong_notes_are_refused() {
        given::<Visit>(vec![])
            .when(with_file(|c| {
                if let VisitCommand::File { notes, .. } = c {
                    *notes = "字".repeat(validate::MAX_TEXT_CHARS + 1);
                }
            }))
            .then_invalid("notes");
    }

    #[test]
    fn a_filed_visit_decodes_alike_through_its_struct_and_through_the_enum() {
        for mode in [VisitMode::Open, VisitMode::Incognito] {
            let event = filed(mode);
            let data = serde_json::to_vec(&event).unwrap();
            // As written by this program: the fast path applies, and agrees with the enum.
            assert!(crate::domain::tagged_first(&data, VisitFiled::TYPE));
            assert_eq!(VisitEvent::from_json(&data).unwrap(), event);
            assert_eq!(serde_json::from_slice::<VisitEvent>(&data).unwrap(), event);
            // Written with spaces (a raw append): read through the enum, the same event.
            let spaced = serde_json::to_vec_pretty(&event).unwrap();
            assert!(!crate::domain::tagged_first(&spaced, VisitFiled::TYPE));
            assert_eq!(VisitEvent::from_json(&spaced).unwrap(), event);
        }
        // What the enum refuses, the fast path refuses too: a missing field, a wrong value.
        let data = serde_json::to_string(&filed(VisitMode::Open)).unwrap();
        let missing = crate::domain::testing::without_member(&data, "visited_at");
        assert!(crate::domain::tagged_first(
            missing.as_bytes(),
            VisitFiled::TYPE
        ));
        assert!(missing.len() < data.len() && !missing.contains("visited_at"));
        assert!(VisitEvent::from_json(missing.as_bytes()).is_err());
        assert!(serde_json::from_str::<VisitEvent>(&missing).is_err());
        let wrong = data.replace(r#""mode":"open""#, r#""mode":"parachute""#);
        assert!(crate::domain::tagged_first(
            wrong.as_bytes(),
            VisitFiled::TYPE
        ));
        assert_ne!(wrong, data);
        assert!(VisitEvent::from_json(wrong.as_bytes()).is_err());
        // Other events of the stream go through the enum.
        let retracted = VisitEvent::Retracted {
            visit: vid(),
            committee: cid(),
            group: gid(),
            appointees: vec![aid("a1")],
            reason: "filed twice".into(),
            retracted_by: "clerk-1".into(),
        };
        let data = serde_json::to_vec(&retracted).unwrap();
        assert_eq!(VisitEvent::from_json(&data).unwrap(), retracted);
    }
}
