//! The scoring policy: a versioned document that holds every number of the evaluation vote —
//! rating scale, blank handling, quorum, satisfaction-rate denominator, grade rule, weights,
//! small-group suppression and advisory consequences — plus the per-committee aggregate that
//! adopts new versions.
//!
//! No national rule fixes these numbers, so none of them is a constant in the tally code: the
//! defaults below (Zhenhai 2022 grade rule, three-tier scale 100 / 70 / 0, composite 50/20/20/10)
//! ship as [`ScoringPolicy::default`], version 0, and a committee replaces them by adopting a
//! new version. A session freezes the document it was scheduled with.
//!
//! What counts as an invalid ballot is only partly policy: a blank is invalid or an abstention
//! as the document says (`blank`), but a spoiled mark (several marks, or unreadable) and a code
//! not on the scale are always invalid (see [`super::tally`]).

use std::collections::BTreeSet;

use num_rational::Ratio;
use serde::{Deserialize, Serialize};

use crate::domain::Role;
use crate::domain::{Aggregate, Context, DomainEvent, Rejection};

/// The document format this code writes; bumped only by an upcaster, never in place.
pub const POLICY_SCHEMA: u32 = 1;

/// The version number of the shipped default policy; adopted versions count from 1.
pub const DEFAULT_POLICY_VERSION: u32 = 0;

/// Which grade an option counts towards in the grade rule and the satisfaction rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GradeClass {
    /// Counts as S (satisfied, or "competent or better" on the four-tier scale).
    Satisfied,
    /// Counts as B (basically satisfied / basically competent).
    BasicallySatisfied,
    /// Counts towards neither.
    Neither,
}

/// One option on the rating scale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatingOption {
    /// Stable code on ballots, e.g. `satisfied`: lowercase ascii letters, digits and `_`.
    pub code: String,
    /// The label printed on the ballot, e.g. 满意.
    pub label_zh: String,
    /// The English label.
    pub label_en: String,
    /// Points for the weighted score, 0–100.
    pub weight: u32,
    /// What the option counts as in the grade rule.
    pub class: GradeClass,
    /// "Don't know" (不了解): a deliberate non-rating, excluded from valid ballots.
    #[serde(default)]
    pub dont_know: bool,
}

/// What an unmarked subject on a ballot means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlankHandling {
    /// A blank is an invalid vote for that subject (not a valid ballot).
    Invalid,
    /// A blank is an abstention: a valid ballot that rates nobody, so it stays in the valid
    /// denominator (as 弃权 does on a valid ballot in Chinese election practice).
    Abstain,
}

/// The quorum needed to open voting: `present > entitled × fraction` (or `≥` when inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumRule {
    /// The share of the entitled roster, in (0, 1].
    pub fraction: Ratio<u64>,
    /// `false` (default): strictly more than the share — exactly half is not a quorum.
    pub inclusive: bool,
}

impl QuorumRule {
    /// Whether `present` of `entitled` make a quorum; exact integer arithmetic.
    pub fn is_met(&self, present: u64, entitled: u64) -> bool {
        // present > entitled × n / d  ⇔  present × d > entitled × n (d > 0 after validation).
        let lhs = u128::from(present) * u128::from(*self.fraction.denom());
        let rhs = u128::from(entitled) * u128::from(*self.fraction.numer());
        if self.inclusive {
            lhs >= rhs
        } else {
            lhs > rhs
        }
    }

    /// The rule in words, for rejections.
    pub fn describe(&self) -> String {
        let op = if self.inclusive { "≥" } else { ">" };
        format!(
            "present {op} entitled × {}/{}",
            self.fraction.numer(),
            self.fraction.denom()
        )
    }
}

/// The denominator of the satisfaction rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateDenominator {
    /// Valid ballots for the subject (rated + abstentions).
    Valid,
    /// Every ballot cast (invalid, abstaining and "don't know" included).
    Cast,
    /// The full entitled membership (the roster snapshot).
    Membership,
}

/// What N is in the grade rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GradeBase {
    /// The full entitled membership (Zhenhai default).
    Membership,
    /// Members present at roll call.
    Present,
    /// Ballots cast.
    Cast,
    /// Valid ballots for the subject.
    Valid,
}

/// How the grade follows from the counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GradeRule {
    /// Zhenhai 2022: satisfied if S > N/2; basically satisfied if S + B > N/2; else
    /// dissatisfied. Exactly half is not more than half.
    Zhenhai {
        /// What N counts.
        base: GradeBase,
    },
}

/// The weights of the composite evaluation score, in percent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompositeWeights {
    /// The committee vote (weighted vote score).
    pub committee_vote: u32,
    /// Stakeholder feedback (forums, surveys, interviews).
    pub stakeholder_feedback: u32,
    /// Site visits (三看).
    pub site_visits: u32,
    /// Findings (三查).
    pub findings: u32,
    /// What a missing component does to the others.
    pub missing: MissingComponent,
}

/// The treatment of a component with no data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingComponent {
    /// The present components' weights are scaled up to sum to 100 (default): an appointee
    /// with no site visit in the period is neither rewarded nor punished for it.
    Renormalise,
    /// A missing component scores 0.
    Zero,
}

/// The advisory consequence the committee is reminded of. Removal is deliberately not a
/// variant: the domain never decides it, the committee does by its own vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Advisory {
    /// Nothing follows.
    None,
    /// Rectify according to the deliberation opinions (审议意见).
    RectifyPerDeliberationOpinions,
    /// Rectify and report again at the next session.
    RectifyAndReportAgainAtNextSession,
}

/// The advisory consequence for each grade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsequenceRules {
    /// For a satisfied grade.
    pub satisfied: Advisory,
    /// For a basically-satisfied grade.
    pub basically_satisfied: Advisory,
    /// For a dissatisfied grade.
    pub dissatisfied: Advisory,
}

/// When results are announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Announcement {
    /// On the spot (当场公布): the tally is announced in the same decision (default).
    #[default]
    AtOnce,
    /// Held under embargo until the clerk announces.
    ByClerk,
}

/// The scoring policy document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoringPolicy {
    /// The document format ([`POLICY_SCHEMA`]).
    pub schema: u32,
    /// The rating scale, in ballot order.
    pub scale: Vec<RatingOption>,
    /// What a blank means.
    pub blank: BlankHandling,
    /// The quorum to open voting.
    pub quorum: QuorumRule,
    /// The satisfaction-rate denominator.
    pub rate_denominator: RateDenominator,
    /// The grade rule.
    pub grade_rule: GradeRule,
    /// The composite score weights.
    pub composite: CompositeWeights,
    /// Breakdowns of groups smaller than this are suppressed.
    pub suppression_threshold: u32,
    /// Advisory consequences per grade.
    pub consequences: ConsequenceRules,
    /// When results are announced; absent in older documents means at once.
    #[serde(default)]
    pub announcement: Announcement,
}

impl Default for ScoringPolicy {
    /// The shipped default (version 0): three-tier scale, blank invalid, quorum > 1/2, rate over
    /// valid ballots, Zhenhai grade over the membership, composite 50/20/20/10, threshold 5,
    /// results announced at once.
    fn default() -> Self {
        ScoringPolicy {
            schema: POLICY_SCHEMA,
            scale: three_tier_scale(),
            blank: BlankHandling::Invalid,
            quorum: QuorumRule {
                fraction: Ratio::new_raw(1, 2),
                inclusive: false,
            },
            rate_denominator: RateDenominator::Valid,
            grade_rule: GradeRule::Zhenhai {
                base: GradeBase::Membership,
            },
            composite: CompositeWeights {
                committee_vote: 50,
                stakeholder_feedback: 20,
                site_visits: 20,
                findings: 10,
                missing: MissingComponent::Renormalise,
            },
            suppression_threshold: 5,
            consequences: ConsequenceRules {
                satisfied: Advisory::None,
                basically_satisfied: Advisory::RectifyPerDeliberationOpinions,
                dissatisfied: Advisory::RectifyAndReportAgainAtNextSession,
            },
            announcement: Announcement::AtOnce,
        }
    }
}

fn option(code: &str, zh: &str, en: &str, weight: u32, class: GradeClass) -> RatingOption {
    RatingOption {
        code: code.to_owned(),
        label_zh: zh.to_owned(),
        label_en: en.to_owned(),
        weight,
        class,
        dont_know: false,
    }
}

/// 满意 / 基本满意 / 不满意 with weights 100 / 70 / 0.
pub fn three_tier_scale() -> Vec<RatingOption> {
    vec![
        option("satisfied", "满意", "satisfied", 100, GradeClass::Satisfied),
        option(
            "basically_satisfied",
            "基本满意",
            "basically satisfied",
            70,
            GradeClass::BasicallySatisfied,
        ),
        option(
            "dissatisfied",
            "不满意",
            "dissatisfied",
            0,
            GradeClass::Neither,
        ),
    ]
}

/// 优秀 / 称职 / 基本称职 / 不称职 with weights 100 / 80 / 60 / 0. Excellent and competent count
/// as S ("competent or better"), basically competent as B.
pub fn four_tier_scale() -> Vec<RatingOption> {
    vec![
        option("excellent", "优秀", "excellent", 100, GradeClass::Satisfied),
        option("competent", "称职", "competent", 80, GradeClass::Satisfied),
        option(
            "basically_competent",
            "基本称职",
            "basically competent",
            60,
            GradeClass::BasicallySatisfied,
        ),
        option(
            "incompetent",
            "不称职",
            "incompetent",
            0,
            GradeClass::Neither,
        ),
    ]
}

/// The optional 不了解 "don't know" option, excluded from valid ballots.
pub fn dont_know_option() -> RatingOption {
    RatingOption {
        dont_know: true,
        ..option("dont_know", "不了解", "don't know", 0, GradeClass::Neither)
    }
}

/// The grade of a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grade {
    /// 满意.
    Satisfied,
    /// 基本满意.
    BasicallySatisfied,
    /// 不满意.
    Dissatisfied,
}

/// Longest option code accepted.
const MAX_CODE_LEN: usize = 32;
/// Most options on a scale; more is a data-entry error, not a scale.
const MAX_OPTIONS: usize = 10;
/// Largest suppression threshold accepted.
const MAX_SUPPRESSION_THRESHOLD: u32 = 1000;

impl ScoringPolicy {
    /// The default with the four-tier scale.
    pub fn four_tier() -> Self {
        ScoringPolicy {
            scale: four_tier_scale(),
            ..ScoringPolicy::default()
        }
    }

    /// The option with `code`, if it is on the scale.
    pub fn option(&self, code: &str) -> Option<&RatingOption> {
        self.scale.iter().find(|o| o.code == code)
    }

    /// The advisory consequence of a grade.
    pub fn consequence(&self, grade: Grade) -> Advisory {
        match grade {
            Grade::Satisfied => self.consequences.satisfied,
            Grade::BasicallySatisfied => self.consequences.basically_satisfied,
            Grade::Dissatisfied => self.consequences.dissatisfied,
        }
    }

    /// Whether a breakdown over `group_size` people may be shown.
    pub fn breakdown_visible(&self, group_size: u64) -> bool {
        group_size >= u64::from(self.suppression_threshold)
    }

    /// Checks the document; the rejection names the offending field.
    pub fn validate(&self) -> Result<(), Rejection> {
        if self.schema != POLICY_SCHEMA {
            return Err(Rejection::invalid(
                "schema",
                format!("must be {POLICY_SCHEMA}"),
            ));
        }
        self.validate_scale()?;
        let q = self.quorum.fraction;
        if *q.denom() == 0 || *q.numer() == 0 || q.numer() > q.denom() {
            return Err(Rejection::invalid(
                "quorum.fraction",
                "must be greater than 0 and at most 1",
            ));
        }
        let c = &self.composite;
        let sum = u64::from(c.committee_vote)
            + u64::from(c.stakeholder_feedback)
            + u64::from(c.site_visits)
            + u64::from(c.findings);
        if sum != 100 {
            return Err(Rejection::invalid(
                "composite",
                format!("weights must sum to 100, not {sum}"),
            ));
        }
        if self.suppression_threshold == 0 || self.suppression_threshold > MAX_SUPPRESSION_THRESHOLD
        {
            return Err(Rejection::invalid(
                "suppression_threshold",
                format!("must be between 1 and {MAX_SUPPRESSION_THRESHOLD}"),
            ));
        }
        Ok(())
    }

    fn validate_scale(&self) -> Result<(), Rejection> {
        if self.scale.len() < 2 || self.scale.len() > MAX_OPTIONS {
            return Err(Rejection::invalid(
                "scale",
                format!("must have between 2 and {MAX_OPTIONS} options"),
            ));
        }
        let mut codes = BTreeSet::new();
        for (i, o) in self.scale.iter().enumerate() {
            let field = |f: &str| format!("scale[{i}].{f}");
            if !is_code(&o.code) {
                return Err(Rejection::invalid(
                    field("code"),
                    format!(
                        "must be 1 to {MAX_CODE_LEN} lowercase ascii letters, digits or '_', starting with a letter"
                    ),
                ));
            }
            if !codes.insert(o.code.as_str()) {
                return Err(Rejection::invalid(
                    field("code"),
                    format!("duplicates option `{}`", o.code),
                ));
            }
            if o.label_zh.trim().is_empty() {
                return Err(Rejection::invalid(field("label_zh"), "must not be empty"));
            }
            if o.label_en.trim().is_empty() {
                return Err(Rejection::invalid(field("label_en"), "must not be empty"));
            }
            if o.weight > 100 {
                return Err(Rejection::invalid(
                    field("weight"),
                    "must be between 0 and 100",
                ));
            }
            if o.dont_know && o.class != GradeClass::Neither {
                return Err(Rejection::invalid(
                    field("class"),
                    "a don't-know option must count as neither",
                ));
            }
        }
        if self.scale.iter().filter(|o| o.dont_know).count() > 1 {
            return Err(Rejection::invalid(
                "scale",
                "must have at most one don't-know option",
            ));
        }
        let ratings = self.scale.iter().filter(|o| !o.dont_know).count();
        if ratings < 2 {
            return Err(Rejection::invalid(
                "scale",
                "must have at least two rating options besides don't-know",
            ));
        }
        if !self.scale.iter().any(|o| o.class == GradeClass::Satisfied) {
            return Err(Rejection::invalid(
                "scale",
                "must have an option that counts as satisfied",
            ));
        }
        Ok(())
    }
}

fn is_code(code: &str) -> bool {
    let mut chars = code.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    first_ok
        && code.len() <= MAX_CODE_LEN
        && code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The policy of one committee (stream `policy-<committee>`): the current version and document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyAggregate {
    /// The current version: 0 until the first adoption.
    pub version: u32,
    /// The current document.
    pub document: ScoringPolicy,
}

impl Default for PolicyAggregate {
    fn default() -> Self {
        PolicyAggregate {
            version: DEFAULT_POLICY_VERSION,
            document: ScoringPolicy::default(),
        }
    }
}

/// What can be asked of a committee's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyCommand {
    /// Adopt a new document as the next version (council of chairpersons).
    AdoptPolicy {
        /// The document; validated before adoption.
        document: ScoringPolicy,
    },
}

/// What a committee's policy records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PolicyEvent {
    /// A new version was adopted; sessions scheduled from now on may freeze it.
    PolicyAdopted {
        /// 1, 2, … in adoption order.
        version: u32,
        /// The whole document, so a session or an auditor never needs another source.
        document: ScoringPolicy,
    },
}

impl DomainEvent for PolicyEvent {
    fn event_type(&self) -> &'static str {
        match self {
            PolicyEvent::PolicyAdopted { .. } => "PolicyAdopted.v1",
        }
    }
}

impl Aggregate for PolicyAggregate {
    type Command = PolicyCommand;
    type Event = PolicyEvent;

    fn decide(
        &self,
        command: &PolicyCommand,
        ctx: &Context,
    ) -> Result<Vec<PolicyEvent>, Rejection> {
        match command {
            PolicyCommand::AdoptPolicy { document } => {
                if ctx.role != Role::Chair {
                    return Err(Rejection::precondition(format!(
                        "only the chair may adopt a scoring policy, not role `{}`",
                        ctx.role
                    )));
                }
                document.validate()?;
                let version = self.version.checked_add(1).ok_or_else(|| {
                    Rejection::precondition("policy version numbers are exhausted")
                })?;
                Ok(vec![PolicyEvent::PolicyAdopted {
                    version,
                    document: document.clone(),
                }])
            }
        }
    }

    fn apply(&mut self, event: &PolicyEvent) {
        match event {
            PolicyEvent::PolicyAdopted { version, document } => {
                self.version = *version;
                self.document = document.clone();
            }
        }
    }
}

// Tests read best as "the default, with one change".
#[cfg(test)]
#[allow(clippy::field_reassign_with_default)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn ctx(role: Role) -> Context {
        Context {
            now: Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap(),
            actor: "chair-1".into(),
            role,
        }
    }

    fn field_of(r: Rejection) -> String {
        match r {
            Rejection::Invalid { field, .. } => field,
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn default_and_four_tier_policies_are_valid() {
        ScoringPolicy::default().validate().unwrap();
        ScoringPolicy::four_tier().validate().unwrap();
        let mut with_dk = ScoringPolicy::default();
        with_dk.scale.push(dont_know_option());
        with_dk.validate().unwrap();
    }

    #[test]
    fn default_matches_the_documented_numbers() {
        let p = ScoringPolicy::default();
        let weights: Vec<u32> = p.scale.iter().map(|o| o.weight).collect();
        assert_eq!(weights, vec![100, 70, 0]);
        assert_eq!(
            p.option("basically_satisfied").unwrap().label_zh,
            "基本满意"
        );
        assert_eq!(p.suppression_threshold, 5);
        assert_eq!(
            p.consequence(Grade::Dissatisfied),
            Advisory::RectifyAndReportAgainAtNextSession
        );
        assert_eq!(p.consequence(Grade::Satisfied), Advisory::None);
        assert!(p.breakdown_visible(5));
        assert!(!p.breakdown_visible(4));
    }

    #[test]
    fn composite_weights_must_sum_to_100() {
        let mut p = ScoringPolicy::default();
        p.composite.findings = 11;
        assert_eq!(field_of(p.validate().unwrap_err()), "composite");
    }

    #[test]
    fn option_codes_must_be_unique_and_well_formed() {
        let mut p = ScoringPolicy::default();
        p.scale[1].code = "satisfied".into();
        assert_eq!(field_of(p.validate().unwrap_err()), "scale[1].code");
        let mut p = ScoringPolicy::default();
        p.scale[0].code = "Satisfied!".into();
        assert_eq!(field_of(p.validate().unwrap_err()), "scale[0].code");
    }

    #[test]
    fn thresholds_and_weights_must_be_in_range() {
        let mut p = ScoringPolicy::default();
        p.scale[0].weight = 101;
        assert_eq!(field_of(p.validate().unwrap_err()), "scale[0].weight");
        let mut p = ScoringPolicy::default();
        p.quorum.fraction = Ratio::new_raw(3, 2);
        assert_eq!(field_of(p.validate().unwrap_err()), "quorum.fraction");
        let mut p = ScoringPolicy::default();
        p.quorum.fraction = Ratio::new_raw(1, 0);
        assert_eq!(field_of(p.validate().unwrap_err()), "quorum.fraction");
        let mut p = ScoringPolicy::default();
        p.suppression_threshold = 0;
        assert_eq!(field_of(p.validate().unwrap_err()), "suppression_threshold");
        let mut p = ScoringPolicy::default();
        p.schema = 9;
        assert_eq!(field_of(p.validate().unwrap_err()), "schema");
    }

    #[test]
    fn scale_shape_is_checked() {
        let mut p = ScoringPolicy::default();
        p.scale.truncate(1);
        assert_eq!(field_of(p.validate().unwrap_err()), "scale");
        let mut p = ScoringPolicy::default();
        p.scale.push(dont_know_option());
        let mut second = dont_know_option();
        second.code = "unsure".into();
        p.scale.push(second);
        assert_eq!(field_of(p.validate().unwrap_err()), "scale");
        let mut p = ScoringPolicy::default();
        for o in &mut p.scale {
            o.class = GradeClass::Neither;
        }
        assert_eq!(field_of(p.validate().unwrap_err()), "scale");
        let mut p = ScoringPolicy::default();
        let mut dk = dont_know_option();
        dk.class = GradeClass::Satisfied;
        p.scale.push(dk);
        assert_eq!(field_of(p.validate().unwrap_err()), "scale[3].class");
    }

    #[test]
    fn quorum_exact_half_is_not_more_than_half() {
        let q = ScoringPolicy::default().quorum;
        assert!(!q.is_met(5, 10));
        assert!(q.is_met(6, 10));
        assert!(!q.is_met(0, 0));
        let inclusive = QuorumRule {
            fraction: Ratio::new_raw(2, 3),
            inclusive: true,
        };
        assert!(inclusive.is_met(20, 30));
        assert!(!inclusive.is_met(19, 30));
    }

    #[test]
    fn policy_versions_count_up_from_the_default() {
        // given the shipped default (version 0)
        let mut agg = PolicyAggregate::default();
        assert_eq!(agg.version, 0);
        // when the chair adopts twice
        for expected in 1..=2 {
            let events = agg
                .decide(
                    &PolicyCommand::AdoptPolicy {
                        document: ScoringPolicy::four_tier(),
                    },
                    &ctx(Role::Chair),
                )
                .unwrap();
            // then versions are 1, 2
            assert_eq!(events.len(), 1);
            let PolicyEvent::PolicyAdopted { version, .. } = &events[0];
            assert_eq!(*version, expected);
            assert_eq!(events[0].event_type(), "PolicyAdopted.v1");
            agg.apply(&events[0]);
        }
        assert_eq!(agg.document, ScoringPolicy::four_tier());
    }

    #[test]
    fn adoption_is_rejected_for_other_roles_and_invalid_documents() {
        let agg = PolicyAggregate::default();
        let cmd = PolicyCommand::AdoptPolicy {
            document: ScoringPolicy::default(),
        };
        assert!(matches!(
            agg.decide(&cmd, &ctx(Role::Clerk)),
            Err(Rejection::Precondition(_))
        ));
        let mut bad = ScoringPolicy::default();
        bad.composite.committee_vote = 0;
        let cmd = PolicyCommand::AdoptPolicy { document: bad };
        assert_eq!(
            field_of(agg.decide(&cmd, &ctx(Role::Chair)).unwrap_err()),
            "composite"
        );
    }

    #[test]
    fn a_document_without_announcement_announces_at_once() {
        let mut json = serde_json::to_value(ScoringPolicy::default()).unwrap();
        json.as_object_mut().unwrap().remove("announcement");
        let back: ScoringPolicy = serde_json::from_value(json).unwrap();
        assert_eq!(back.announcement, Announcement::AtOnce);
    }

    #[test]
    fn policy_round_trips_through_json() {
        let mut p = ScoringPolicy::four_tier();
        p.scale.push(dont_know_option());
        let json = serde_json::to_string(&p).unwrap();
        let back: ScoringPolicy = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);
    }
}
