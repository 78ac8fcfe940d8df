//! The flags of `oversight session policy adopt` that reshape the rating scale and the tally —
//! the scale, the 不了解 "don't know" option, option weights, the rate denominator, the grade
//! base and the advisory consequences — and how they change the current policy document.

use anyhow::bail;
use clap::{Args, ValueEnum};
use oversight::api::evaluation_convert::policy_to_proto;
use oversight::domain::evaluation::policy::{
    self as domain, dont_know_option, four_tier_scale, three_tier_scale,
};
use oversight::proto::{AdvisoryConsequence, RatingOption, ScoringPolicy, TallyBase};

/// A shipped rating scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scale {
    /// 满意 / 基本满意 / 不满意, weights 100 / 70 / 0
    ThreeTier,
    /// 优秀 / 称职 / 基本称职 / 不称职, weights 100 / 80 / 60 / 0
    FourTier,
}

/// The satisfaction rate's denominator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RateBase {
    /// 有效票 valid ballots for the subject
    Valid,
    /// 投票数 ballots cast
    Cast,
    /// 应到人数 the entitled membership
    Membership,
}

/// N of the grade rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GradeBase {
    /// 有效票 valid ballots for the subject
    Valid,
    /// 投票数 ballots cast
    Cast,
    /// 应到人数 the entitled membership
    Membership,
    /// 实到人数 members present
    Present,
}

/// A grade whose advisory consequence is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grade {
    /// 满意
    Satisfied,
    /// 基本满意
    BasicallySatisfied,
    /// 不满意
    Dissatisfied,
}

/// Flags that change the scale and the tally rules of the adopted policy; each one left out
/// keeps the current value.
#[derive(Debug, Default, Args)]
pub struct ScaleArgs {
    /// The rating scale, replacing the current options (and their weights) with a shipped one:
    /// three-tier 满意/基本满意/不满意 (100/70/0) or four-tier 优秀/称职/基本称职/不称职
    /// (100/80/60/0). A "don't know" option already on the scale is kept.
    #[arg(long, value_enum)]
    pub scale: Option<Scale>,
    /// Whether ballots offer 不了解 "don't know" (code dont_know): counted, but never a valid
    /// ballot.
    #[arg(long, value_name = "BOOL")]
    pub dont_know: Option<bool>,
    /// The points (0-100) of one option of the scale by its code, e.g.
    /// basically_satisfied=60; applied after --scale; repeat for several options.
    #[arg(long, value_name = "OPTION=N", value_parser = parse_option_weight)]
    pub option_weight: Vec<(String, u32)>,
    /// The satisfaction rate's denominator: valid ballots, ballots cast or the membership.
    #[arg(long, value_enum)]
    pub rate_denominator: Option<RateBase>,
    /// N of the grade rule (satisfied if S > N/2, basically satisfied if S + B > N/2): valid,
    /// cast, membership or present.
    #[arg(long, value_enum)]
    pub grade_base: Option<GradeBase>,
    /// The advisory consequence of a grade, GRADE=CONSEQUENCE with GRADE satisfied,
    /// basically-satisfied or dissatisfied and CONSEQUENCE none, rectify (per the deliberation
    /// opinions) or report-again (rectify and report again at the next session); repeatable.
    #[arg(long, value_name = "GRADE=CONSEQUENCE", value_parser = parse_consequence)]
    pub consequence: Vec<(Grade, AdvisoryConsequence)>,
}

impl ScaleArgs {
    /// Changes `policy` as the flags say: the scale first, then "don't know", then the option
    /// weights, so a weight may name an option of the new scale.
    pub fn apply(&self, policy: &mut ScoringPolicy) -> anyhow::Result<()> {
        if let Some(scale) = self.scale {
            let kept: Vec<RatingOption> = policy
                .scale
                .iter()
                .filter(|o| o.dont_know)
                .cloned()
                .collect();
            policy.scale = shipped(match scale {
                Scale::ThreeTier => three_tier_scale(),
                Scale::FourTier => four_tier_scale(),
            });
            policy.scale.extend(kept);
        }
        if let Some(wanted) = self.dont_know {
            policy.scale.retain(|o| !o.dont_know);
            if wanted {
                policy.scale.extend(shipped(vec![dont_know_option()]));
            }
        }
        for (code, weight) in &self.option_weight {
            let codes: Vec<&str> = policy.scale.iter().map(|o| o.code.as_str()).collect();
            let codes = codes.join(", ");
            let Some(option) = policy.scale.iter_mut().find(|o| &o.code == code) else {
                bail!("--option-weight {code}={weight}: {code} is not on the scale ({codes})");
            };
            option.weight = *weight;
        }
        if let Some(base) = self.rate_denominator {
            policy.rate_denominator = match base {
                RateBase::Valid => TallyBase::Valid,
                RateBase::Cast => TallyBase::Cast,
                RateBase::Membership => TallyBase::Membership,
            } as i32;
        }
        if let Some(base) = self.grade_base {
            policy.grade_base = match base {
                GradeBase::Valid => TallyBase::Valid,
                GradeBase::Cast => TallyBase::Cast,
                GradeBase::Membership => TallyBase::Membership,
                GradeBase::Present => TallyBase::Present,
            } as i32;
        }
        for (grade, consequence) in &self.consequence {
            let slot = match grade {
                Grade::Satisfied => &mut policy.consequence_satisfied,
                Grade::BasicallySatisfied => &mut policy.consequence_basically_satisfied,
                Grade::Dissatisfied => &mut policy.consequence_dissatisfied,
            };
            *slot = *consequence as i32;
        }
        Ok(())
    }
}

/// Shipped options as they travel in a policy document.
fn shipped(options: Vec<domain::RatingOption>) -> Vec<RatingOption> {
    policy_to_proto(&domain::ScoringPolicy {
        scale: options,
        ..domain::ScoringPolicy::default()
    })
    .scale
}

fn parse_option_weight(text: &str) -> Result<(String, u32), String> {
    let (code, weight) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not OPTION=N, e.g. basically_satisfied=60"))?;
    let weight: u32 = weight
        .trim()
        .parse()
        .map_err(|_| format!("{text:?}: {weight:?} is not a whole number"))?;
    if weight > 100 {
        return Err(format!("{text:?}: points run from 0 to 100"));
    }
    Ok((code.trim().to_owned(), weight))
}

fn parse_consequence(text: &str) -> Result<(Grade, AdvisoryConsequence), String> {
    let (grade, consequence) = text.split_once('=').ok_or_else(|| {
        format!("{text:?} is not GRADE=CONSEQUENCE, e.g. basically-satisfied=rectify")
    })?;
    let grade = match grade.trim() {
        "satisfied" => Grade::Satisfied,
        "basically-satisfied" => Grade::BasicallySatisfied,
        "dissatisfied" => Grade::Dissatisfied,
        other => {
            return Err(format!(
                "{other:?} is not a grade: satisfied, basically-satisfied or dissatisfied"
            ));
        }
    };
    let consequence = match consequence.trim() {
        "none" => AdvisoryConsequence::None,
        "rectify" => AdvisoryConsequence::RectifyPerDeliberationOpinions,
        "report-again" => AdvisoryConsequence::RectifyAndReportAgainAtNextSession,
        other => {
            return Err(format!(
                "{other:?} is not a consequence: none, rectify or report-again"
            ));
        }
    };
    Ok((grade, consequence))
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use oversight::api::evaluation_convert::policy_from_proto;

    use super::*;

    #[derive(Debug, Parser)]
    struct Adopt {
        #[command(flatten)]
        args: ScaleArgs,
    }

    fn parse(flags: &[&str]) -> Result<ScaleArgs, clap::Error> {
        Adopt::try_parse_from(std::iter::once("adopt").chain(flags.iter().copied())).map(|a| a.args)
    }

    fn shipped_default() -> ScoringPolicy {
        policy_to_proto(&domain::ScoringPolicy::default())
    }

    fn adopted(flags: &[&str]) -> ScoringPolicy {
        let mut policy = shipped_default();
        parse(flags).unwrap().apply(&mut policy).unwrap();
        policy
    }

    fn options(policy: &ScoringPolicy) -> Vec<(&str, u32, bool)> {
        policy
            .scale
            .iter()
            .map(|o| (o.code.as_str(), o.weight, o.dont_know))
            .collect()
    }

    #[test]
    fn the_flags_become_the_policy_document_the_server_accepts() {
        let policy = adopted(&[
            "--scale",
            "four-tier",
            "--dont-know",
            "true",
            "--option-weight",
            "competent=75",
            "--option-weight",
            "basically_competent=50",
            "--rate-denominator",
            "membership",
            "--grade-base",
            "present",
            "--consequence",
            "basically-satisfied=report-again",
            "--consequence",
            "satisfied=rectify",
        ]);
        assert_eq!(
            options(&policy),
            [
                ("excellent", 100, false),
                ("competent", 75, false),
                ("basically_competent", 50, false),
                ("incompetent", 0, false),
                ("dont_know", 0, true),
            ]
        );
        assert_eq!(policy.rate_denominator, TallyBase::Membership as i32);
        assert_eq!(policy.grade_base, TallyBase::Present as i32);
        assert_eq!(
            policy.consequence_satisfied,
            AdvisoryConsequence::RectifyPerDeliberationOpinions as i32
        );
        assert_eq!(
            policy.consequence_basically_satisfied,
            AdvisoryConsequence::RectifyAndReportAgainAtNextSession as i32
        );
        // Untouched: the consequence of a dissatisfied grade and everything else.
        let default = shipped_default();
        assert_eq!(
            policy.consequence_dissatisfied,
            default.consequence_dissatisfied
        );
        assert_eq!(policy.blank, default.blank);
        // The server's own conversion and validation accept the document.
        let validated = policy_from_proto(policy).unwrap();
        validated.validate().unwrap();
        assert_eq!(validated.scale.len(), 5);
    }

    #[test]
    fn no_flags_keep_the_current_policy_and_a_new_scale_keeps_dont_know() {
        assert_eq!(adopted(&[]), shipped_default());
        let with_dont_know = adopted(&["--dont-know", "true"]);
        let mut policy = with_dont_know.clone();
        parse(&["--scale", "three-tier"])
            .unwrap()
            .apply(&mut policy)
            .unwrap();
        assert_eq!(policy, with_dont_know);
        parse(&["--dont-know", "false"])
            .unwrap()
            .apply(&mut policy)
            .unwrap();
        assert_eq!(policy, shipped_default());
    }

    #[test]
    fn wrong_flags_say_what_is_expected() {
        let mut policy = shipped_default();
        let error = parse(&["--option-weight", "excellent=90"])
            .unwrap()
            .apply(&mut policy)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("excellent is not on the scale (satisfied, basically_satisfied"),
            "{error}"
        );
        for (flags, needle) in [
            (
                ["--option-weight", "satisfied=101"],
                "points run from 0 to 100",
            ),
            (["--option-weight", "satisfied"], "is not OPTION=N"),
            (["--scale", "five-tier"], "five-tier"),
            (["--consequence", "excellent=none"], "is not a grade"),
            (
                ["--consequence", "satisfied=dismiss"],
                "is not a consequence",
            ),
        ] {
            let error = parse(&flags).unwrap_err().to_string();
            assert!(error.contains(needle), "{flags:?}: {error}");
        }
    }
}
