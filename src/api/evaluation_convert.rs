//! Conversions of the `oversight.v1.Evaluation` messages: the scoring policy document both ways,
//! and session results (exact fractions with a rounded display, bilingual labels) to the wire.

use num_rational::Ratio;
use tonic::Status;

use crate::domain::evaluation::policy::{
    Advisory, Announcement, BlankHandling, CompositeWeights, ConsequenceRules, Grade, GradeBase,
    GradeClass, GradeRule, MissingComponent, POLICY_SCHEMA, QuorumRule, RateDenominator,
    RatingOption, ScoringPolicy,
};
use crate::domain::evaluation::session::Phase;
use crate::domain::evaluation::tally::{SubjectTally, decimal_display, percent_display};
use crate::projection::sessions::{ResultDoc, SessionDoc};
use crate::proto;

/// Decimal places of every displayed rate and score.
const DISPLAY_DECIMALS: u32 = 2;

fn unknown(field: &str, value: i32) -> Status {
    Status::invalid_argument(format!("{field} {value} is not a known value"))
}

fn required(field: &str) -> Status {
    Status::invalid_argument(format!("{field} must be set"))
}

/// Validates the wire policy into the domain document (the domain then checks its rules).
pub fn policy_from_proto(p: proto::ScoringPolicy) -> Result<ScoringPolicy, Status> {
    use proto::{AdvisoryConsequence as A, TallyBase as B};
    let scale = p
        .scale
        .into_iter()
        .enumerate()
        .map(|(i, o)| {
            // `grade_class` is `class` under a name every client language can write; either
            // may be set, both only when they agree.
            let unspecified = proto::GradeClass::Unspecified as i32;
            let (field, wire) = match (o.grade_class, o.class) {
                (g, c) if g != unspecified && c != unspecified && g != c => {
                    return Err(Status::invalid_argument(format!(
                        "scale[{i}].grade_class and scale[{i}].class disagree; set grade_class alone"
                    )));
                }
                (g, _) if g != unspecified => ("grade_class", g),
                (_, c) => ("class", c),
            };
            let class = match proto::GradeClass::try_from(wire) {
                Ok(proto::GradeClass::Satisfied) => GradeClass::Satisfied,
                Ok(proto::GradeClass::BasicallySatisfied) => GradeClass::BasicallySatisfied,
                Ok(proto::GradeClass::Neither) => GradeClass::Neither,
                Ok(proto::GradeClass::Unspecified) => {
                    return Err(required(&format!("scale[{i}].grade_class")));
                }
                Err(_) => return Err(unknown(&format!("scale[{i}].{field}"), wire)),
            };
            Ok(RatingOption {
                code: o.code,
                label_zh: o.label_zh,
                label_en: o.label_en,
                weight: o.weight,
                class,
                dont_know: o.dont_know,
            })
        })
        .collect::<Result<Vec<_>, Status>>()?;
    let blank = match proto::BlankHandling::try_from(p.blank) {
        Ok(proto::BlankHandling::Invalid) => BlankHandling::Invalid,
        Ok(proto::BlankHandling::Abstain) => BlankHandling::Abstain,
        Ok(proto::BlankHandling::Unspecified) => return Err(required("blank")),
        Err(_) => return Err(unknown("blank", p.blank)),
    };
    if p.quorum_denominator == 0 {
        return Err(Status::invalid_argument(
            "quorum_denominator must be greater than 0",
        ));
    }
    let rate_denominator = match B::try_from(p.rate_denominator) {
        Ok(B::Valid) => RateDenominator::Valid,
        Ok(B::Cast) => RateDenominator::Cast,
        Ok(B::Membership) => RateDenominator::Membership,
        Ok(B::Present) => {
            return Err(Status::invalid_argument(
                "rate_denominator must be valid, cast or membership",
            ));
        }
        Ok(B::Unspecified) => return Err(required("rate_denominator")),
        Err(_) => return Err(unknown("rate_denominator", p.rate_denominator)),
    };
    let base = match B::try_from(p.grade_base) {
        Ok(B::Valid) => GradeBase::Valid,
        Ok(B::Cast) => GradeBase::Cast,
        Ok(B::Membership) => GradeBase::Membership,
        Ok(B::Present) => GradeBase::Present,
        Ok(B::Unspecified) => return Err(required("grade_base")),
        Err(_) => return Err(unknown("grade_base", p.grade_base)),
    };
    let missing = match proto::MissingComponent::try_from(p.missing_component) {
        Ok(proto::MissingComponent::Renormalise) => MissingComponent::Renormalise,
        Ok(proto::MissingComponent::Zero) => MissingComponent::Zero,
        Ok(proto::MissingComponent::Unspecified) => return Err(required("missing_component")),
        Err(_) => return Err(unknown("missing_component", p.missing_component)),
    };
    let advisory = |field: &str, value: i32| match A::try_from(value) {
        Ok(A::None) => Ok(Advisory::None),
        Ok(A::RectifyPerDeliberationOpinions) => Ok(Advisory::RectifyPerDeliberationOpinions),
        Ok(A::RectifyAndReportAgainAtNextSession) => {
            Ok(Advisory::RectifyAndReportAgainAtNextSession)
        }
        Ok(A::Unspecified) => Err(required(field)),
        Err(_) => Err(unknown(field, value)),
    };
    let announcement = match proto::AnnouncementTiming::try_from(p.announcement) {
        Ok(proto::AnnouncementTiming::AtOnce) => Announcement::AtOnce,
        Ok(proto::AnnouncementTiming::ByClerk) => Announcement::ByClerk,
        Ok(proto::AnnouncementTiming::Unspecified) => return Err(required("announcement")),
        Err(_) => return Err(unknown("announcement", p.announcement)),
    };
    Ok(ScoringPolicy {
        schema: POLICY_SCHEMA,
        scale,
        blank,
        quorum: QuorumRule {
            fraction: Ratio::new(p.quorum_numerator, p.quorum_denominator),
            inclusive: p.quorum_inclusive,
        },
        rate_denominator,
        grade_rule: GradeRule::Zhenhai { base },
        composite: CompositeWeights {
            committee_vote: p.weight_committee_vote,
            stakeholder_feedback: p.weight_stakeholder_feedback,
            site_visits: p.weight_site_visits,
            findings: p.weight_findings,
            missing,
        },
        suppression_threshold: p.suppression_threshold,
        consequences: ConsequenceRules {
            satisfied: advisory("consequence_satisfied", p.consequence_satisfied)?,
            basically_satisfied: advisory(
                "consequence_basically_satisfied",
                p.consequence_basically_satisfied,
            )?,
            dissatisfied: advisory("consequence_dissatisfied", p.consequence_dissatisfied)?,
        },
        announcement,
    })
}

fn advisory_to_proto(a: Advisory) -> proto::AdvisoryConsequence {
    match a {
        Advisory::None => proto::AdvisoryConsequence::None,
        Advisory::RectifyPerDeliberationOpinions => {
            proto::AdvisoryConsequence::RectifyPerDeliberationOpinions
        }
        Advisory::RectifyAndReportAgainAtNextSession => {
            proto::AdvisoryConsequence::RectifyAndReportAgainAtNextSession
        }
    }
}

/// The domain document on the wire.
pub fn policy_to_proto(p: &ScoringPolicy) -> proto::ScoringPolicy {
    use proto::TallyBase as B;
    let GradeRule::Zhenhai { base } = p.grade_rule;
    proto::ScoringPolicy {
        scale: p
            .scale
            .iter()
            .map(|o| {
                let class = match o.class {
                    GradeClass::Satisfied => proto::GradeClass::Satisfied,
                    GradeClass::BasicallySatisfied => proto::GradeClass::BasicallySatisfied,
                    GradeClass::Neither => proto::GradeClass::Neither,
                } as i32;
                proto::RatingOption {
                    code: o.code.clone(),
                    label_zh: o.label_zh.clone(),
                    label_en: o.label_en.clone(),
                    weight: o.weight,
                    class,
                    dont_know: o.dont_know,
                    grade_class: class,
                }
            })
            .collect(),
        blank: match p.blank {
            BlankHandling::Invalid => proto::BlankHandling::Invalid,
            BlankHandling::Abstain => proto::BlankHandling::Abstain,
        } as i32,
        quorum_numerator: *p.quorum.fraction.numer(),
        quorum_denominator: *p.quorum.fraction.denom(),
        quorum_inclusive: p.quorum.inclusive,
        rate_denominator: match p.rate_denominator {
            RateDenominator::Valid => B::Valid,
            RateDenominator::Cast => B::Cast,
            RateDenominator::Membership => B::Membership,
        } as i32,
        grade_base: match base {
            GradeBase::Valid => B::Valid,
            GradeBase::Cast => B::Cast,
            GradeBase::Membership => B::Membership,
            GradeBase::Present => B::Present,
        } as i32,
        weight_committee_vote: p.composite.committee_vote,
        weight_stakeholder_feedback: p.composite.stakeholder_feedback,
        weight_site_visits: p.composite.site_visits,
        weight_findings: p.composite.findings,
        missing_component: match p.composite.missing {
            MissingComponent::Renormalise => proto::MissingComponent::Renormalise,
            MissingComponent::Zero => proto::MissingComponent::Zero,
        } as i32,
        suppression_threshold: p.suppression_threshold,
        consequence_satisfied: advisory_to_proto(p.consequences.satisfied) as i32,
        consequence_basically_satisfied: advisory_to_proto(p.consequences.basically_satisfied)
            as i32,
        consequence_dissatisfied: advisory_to_proto(p.consequences.dissatisfied) as i32,
        announcement: match p.announcement {
            Announcement::AtOnce => proto::AnnouncementTiming::AtOnce,
            Announcement::ByClerk => proto::AnnouncementTiming::ByClerk,
        } as i32,
    }
}

fn rate(
    value: Option<Ratio<u64>>,
    display: fn(Ratio<u64>, u32) -> String,
) -> Option<proto::ExactRate> {
    value.map(|r| proto::ExactRate {
        numerator: *r.numer(),
        denominator: *r.denom(),
        display: display(r, DISPLAY_DECIMALS),
    })
}

/// The grade's labels, Chinese and English.
pub fn grade_labels(grade: Grade) -> (proto::EvaluationGrade, &'static str, &'static str) {
    match grade {
        Grade::Satisfied => (proto::EvaluationGrade::Satisfied, "满意", "satisfied"),
        Grade::BasicallySatisfied => (
            proto::EvaluationGrade::BasicallySatisfied,
            "基本满意",
            "basically satisfied",
        ),
        Grade::Dissatisfied => (
            proto::EvaluationGrade::Dissatisfied,
            "不满意",
            "dissatisfied",
        ),
    }
}

/// One subject's tally on the wire, with the scale's labels, in scale order.
pub fn subject_to_proto(t: &SubjectTally, scale: &[RatingOption]) -> proto::SubjectResult {
    let (grade, grade_label_zh, grade_label_en) = grade_labels(t.grade);
    proto::SubjectResult {
        appointee_id: t.subject.to_string(),
        counts: scale
            .iter()
            .map(|o| proto::OptionCount {
                code: o.code.clone(),
                label_zh: o.label_zh.clone(),
                label_en: o.label_en.clone(),
                count: t.counts.get(&o.code).copied().unwrap_or(0),
            })
            .collect(),
        cast: t.cast,
        valid: t.valid,
        invalid: t.invalid,
        abstain: t.abstain,
        dont_know: t.dont_know,
        satisfaction_rate: rate(t.satisfaction_rate, percent_display),
        grade: grade as i32,
        grade_label_zh: grade_label_zh.into(),
        grade_label_en: grade_label_en.into(),
        grade_base: t.grade_base,
        consequence: advisory_to_proto(t.consequence) as i32,
        weighted_score: rate(t.weighted_score, decimal_display),
    }
}

/// A session's result on the wire.
pub fn result_to_proto(doc: &SessionDoc, result: &ResultDoc) -> proto::SessionResult {
    proto::SessionResult {
        session_id: doc.session_id.clone(),
        committee_id: doc.committee.clone().unwrap_or_default(),
        meeting_name: doc.meeting_name.clone(),
        date: doc.date.clone(),
        round: result.round,
        policy_version: result.policy_version,
        ballot_set_hash: result.ballot_set_hash.clone(),
        membership: result.electorate.membership,
        present: result.electorate.present,
        announced: result.announced,
        corrected: result.corrected,
        subjects: result
            .subjects
            .iter()
            .map(|t| subject_to_proto(t, &doc.scale))
            .collect(),
        tallied_position: result.tallied_position,
        announced_position: result.announced_position,
    }
}

/// A session's summary on the wire.
pub fn summary_to_proto(doc: &SessionDoc) -> proto::SessionSummary {
    let phase = match doc.phase {
        Phase::Unscheduled => proto::SessionPhase::Unspecified,
        Phase::Scheduled => proto::SessionPhase::Scheduled,
        Phase::RollCalled => proto::SessionPhase::RollCalled,
        Phase::VotingOpen => proto::SessionPhase::VotingOpen,
        Phase::VotingClosed => proto::SessionPhase::VotingClosed,
        Phase::Tallied => proto::SessionPhase::Tallied,
        Phase::Announced => proto::SessionPhase::Announced,
    };
    proto::SessionSummary {
        session_id: doc.session_id.clone(),
        committee_id: doc.committee.clone().unwrap_or_default(),
        meeting_name: doc.meeting_name.clone(),
        date: doc.date.clone(),
        phase: phase as i32,
        round: doc.round,
        subjects: doc.subjects.clone(),
        policy_version: doc.policy_version,
        entitled: doc.entitled,
        present: doc.present,
        participants: doc.participants,
        voided_rounds: doc.voided_rounds,
        announced_position: doc
            .result
            .as_ref()
            .filter(|r| r.announced)
            .map_or(0, |r| r.announced_position),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_round_trip_and_a_zero_quorum_denominator_is_refused() {
        for policy in [ScoringPolicy::default(), ScoringPolicy::four_tier()] {
            assert_eq!(policy_from_proto(policy_to_proto(&policy)).unwrap(), policy);
        }
        let mut wire = policy_to_proto(&ScoringPolicy::default());
        wire.quorum_denominator = 0;
        let status = policy_from_proto(wire).unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(status.message().contains("quorum_denominator"));
        let mut wire = policy_to_proto(&ScoringPolicy::default());
        wire.blank = 0;
        assert!(
            policy_from_proto(wire)
                .unwrap_err()
                .message()
                .contains("blank must be set")
        );
    }
}
