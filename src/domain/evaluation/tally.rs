//! Tally arithmetic: pure functions from a frozen policy and the published ballots of one round
//! to counts, satisfaction rate, grade, advisory consequence and weighted score per subject; the
//! composite evaluation score; the ballot-set hash; and voter receipts.
//!
//! Every decision is exact: counts are integers, rates and scores are `Ratio<u64>`, and the grade
//! compares `2 × S` with `N` so "exactly half" can never round into a majority. Rounding exists
//! only in [`percent_display`], which no decision calls.
//!
//! Counting rules (a subject on one ballot):
//! * one option on the scale → counted for that option; a "don't know" option is counted but
//!   excluded from valid ballots;
//! * blank → invalid or abstain, as the policy says; an abstention stays a valid ballot;
//! * spoiled (several marks, or a code not on the scale) → invalid.
//!
//! So `cast = valid + invalid + dont_know` and `valid = rated + abstain`.

use std::collections::BTreeMap;

use num_rational::Ratio;
use num_traits::{CheckedAdd, CheckedDiv, CheckedMul};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::policy::{
    Advisory, BlankHandling, Grade, GradeBase, GradeClass, GradeRule, MissingComponent,
    RateDenominator, ScoringPolicy,
};
use super::{AppointeeId, BallotId, SessionId};

/// The mark a ballot carries for one subject.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    /// One option on the scale, by code.
    Option(String),
    /// No mark.
    Blank,
    /// More than one mark, or otherwise unreadable (paper ballots entered by tellers).
    Spoiled,
}

/// A ballot as published after voting closes: a receipt id and a choice per subject, no voter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedBallot {
    /// The random receipt id the voter holds.
    pub ballot_id: BallotId,
    /// One choice per subject of the session.
    pub choices: BTreeMap<AppointeeId, Choice>,
}

/// The head-counts a tally needs besides the ballots, frozen in the round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Electorate {
    /// The entitled roster (the membership).
    pub membership: u64,
    /// Present at the roll call that opened the round.
    pub present: u64,
}

/// The result for one subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectTally {
    /// The appointee rated.
    pub subject: AppointeeId,
    /// Count per option code, every option of the scale listed (zeros included).
    pub counts: BTreeMap<String, u64>,
    /// Ballots cast.
    pub cast: u64,
    /// Valid ballots (rated + abstentions).
    pub valid: u64,
    /// Invalid: spoiled, unknown codes, and blanks when the policy says blank is invalid.
    pub invalid: u64,
    /// Abstentions (blanks when the policy says blank is abstain).
    pub abstain: u64,
    /// "Don't know" marks, excluded from valid.
    pub dont_know: u64,
    /// S: marks on options that count as satisfied.
    pub satisfied: u64,
    /// B: marks on options that count as basically satisfied.
    pub basically_satisfied: u64,
    /// The rate's denominator as counted (valid, cast or membership per the policy).
    pub rate_denominator: u64,
    /// (S + B) / denominator; `None` when the denominator is zero.
    pub satisfaction_rate: Option<Ratio<u64>>,
    /// N of the grade rule as counted.
    pub grade_base: u64,
    /// The grade.
    pub grade: Grade,
    /// The advisory consequence of the grade.
    pub consequence: Advisory,
    /// Mean option weight over rated ballots (0–100); `None` when nothing was rated.
    pub weighted_score: Option<Ratio<u64>>,
}

/// The grade by the Zhenhai rule, in integers: S > N/2 ⇔ 2S > N.
pub fn zhenhai_grade(s: u64, b: u64, n: u64) -> Grade {
    let n = u128::from(n);
    let s = u128::from(s);
    let b = u128::from(b);
    if 2 * s > n {
        Grade::Satisfied
    } else if 2 * (s + b) > n {
        Grade::BasicallySatisfied
    } else {
        Grade::Dissatisfied
    }
}

/// A fraction, or `None` for a zero denominator (never a panic).
fn ratio(numer: u64, denom: u64) -> Option<Ratio<u64>> {
    (denom != 0).then(|| Ratio::new(numer, denom))
}

/// Tallies one subject from the published ballots of a round under the frozen policy.
pub fn tally_subject(
    policy: &ScoringPolicy,
    electorate: Electorate,
    subject: &AppointeeId,
    ballots: &[PublishedBallot],
) -> SubjectTally {
    // A ballot missing the subject is read as blank: the session normalises ballots so this
    // only happens to hand-built input.
    let marks: Vec<&Choice> = ballots
        .iter()
        .map(|b| b.choices.get(subject).unwrap_or(&Choice::Blank))
        .collect();
    tally_marks(policy, electorate, subject, &marks)
}

/// Tallies one subject from its marks, one per ballot cast.
pub fn tally_marks(
    policy: &ScoringPolicy,
    electorate: Electorate,
    subject: &AppointeeId,
    marks: &[&Choice],
) -> SubjectTally {
    let mut counts: BTreeMap<String, u64> =
        policy.scale.iter().map(|o| (o.code.clone(), 0)).collect();
    let (mut invalid, mut abstain, mut dont_know, mut s, mut b) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut weight_sum = 0u64;
    let mut rated = 0u64;
    for choice in marks {
        match choice {
            Choice::Option(code) => match policy.option(code) {
                Some(opt) => {
                    *counts.entry(opt.code.clone()).or_insert(0) += 1;
                    if opt.dont_know {
                        dont_know += 1;
                    } else {
                        rated += 1;
                        weight_sum += u64::from(opt.weight);
                        match opt.class {
                            GradeClass::Satisfied => s += 1,
                            GradeClass::BasicallySatisfied => b += 1,
                            GradeClass::Neither => {}
                        }
                    }
                }
                None => invalid += 1,
            },
            Choice::Blank => match policy.blank {
                BlankHandling::Invalid => invalid += 1,
                BlankHandling::Abstain => abstain += 1,
            },
            Choice::Spoiled => invalid += 1,
        }
    }
    let cast = marks.len() as u64;
    let valid = rated + abstain;
    let rate_denominator = match policy.rate_denominator {
        RateDenominator::Valid => valid,
        RateDenominator::Cast => cast,
        RateDenominator::Membership => electorate.membership,
    };
    let GradeRule::Zhenhai { base } = policy.grade_rule;
    let grade_base = match base {
        GradeBase::Membership => electorate.membership,
        GradeBase::Present => electorate.present,
        GradeBase::Cast => cast,
        GradeBase::Valid => valid,
    };
    let grade = zhenhai_grade(s, b, grade_base);
    SubjectTally {
        subject: subject.clone(),
        counts,
        cast,
        valid,
        invalid,
        abstain,
        dont_know,
        satisfied: s,
        basically_satisfied: b,
        rate_denominator,
        satisfaction_rate: ratio(s + b, rate_denominator),
        grade_base,
        grade,
        consequence: policy.consequence(grade),
        weighted_score: ratio(weight_sum, rated),
    }
}

/// Tallies every subject, in the order given.
pub fn tally_all(
    policy: &ScoringPolicy,
    electorate: Electorate,
    subjects: &[AppointeeId],
    ballots: &[PublishedBallot],
) -> Vec<SubjectTally> {
    subjects
        .iter()
        .map(|subject| tally_subject(policy, electorate, subject, ballots))
        .collect()
}

/// Whether a recorded tally is exactly what the published ballots and frozen policy give.
pub fn recount_matches(
    recorded: &[SubjectTally],
    policy: &ScoringPolicy,
    electorate: Electorate,
    subjects: &[AppointeeId],
    ballots: &[PublishedBallot],
) -> bool {
    tally_all(policy, electorate, subjects, ballots) == recorded
}

/// An exact fraction as a percentage rounded half-up to `decimals` places, e.g. `2/3` →
/// `66.67%`. For display only; no decision may use it.
pub fn percent_display(value: Ratio<u64>, decimals: u32) -> String {
    format!("{}%", scaled_display(value, 100, decimals))
}

/// An exact value (e.g. a 0–100 score) rounded half-up to `decimals` places, e.g. `1105/19` →
/// `58.16`. For display only; no decision may use it.
pub fn decimal_display(value: Ratio<u64>, decimals: u32) -> String {
    scaled_display(value, 1, decimals)
}

fn scaled_display(value: Ratio<u64>, factor: u128, decimals: u32) -> String {
    // 12 places keep every intermediate inside u128 (u64::MAX × 100 × 10^12 < 2^127).
    let decimals = decimals.min(12);
    let scale = 10u128.pow(decimals);
    let numer = u128::from(*value.numer()) * factor * scale;
    let denom = u128::from(*value.denom()).max(1);
    // Half-up: add half a unit before the integer division.
    let scaled = (2 * numer + denom) / (2 * denom);
    let whole = scaled / scale;
    if decimals == 0 {
        return whole.to_string();
    }
    let frac = scaled % scale;
    format!("{whole}.{frac:0width$}", width = decimals as usize)
}

/// The components of the composite evaluation score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Component {
    /// The committee vote (weighted vote score).
    CommitteeVote,
    /// Stakeholder feedback.
    StakeholderFeedback,
    /// Site visits.
    SiteVisits,
    /// Findings.
    Findings,
}

/// The component scores, each 0–100, `None` when there is no data for the period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ComponentScores {
    /// The committee vote.
    pub committee_vote: Option<Ratio<u64>>,
    /// Stakeholder feedback.
    pub stakeholder_feedback: Option<Ratio<u64>>,
    /// Site visits.
    pub site_visits: Option<Ratio<u64>>,
    /// Findings.
    pub findings: Option<Ratio<u64>>,
}

/// One component as shown next to the composite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentLine {
    /// Which component.
    pub component: Component,
    /// Its weight in the policy (percent).
    pub weight: u32,
    /// Its weight after missing components were handled (a fraction of 100 in total).
    pub effective_weight: Ratio<u64>,
    /// Its own score, if any.
    pub score: Option<Ratio<u64>>,
    /// What it adds to the composite.
    pub contribution: Ratio<u64>,
}

/// The composite evaluation score with its breakdown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompositeScore {
    /// 0–100; `None` when no component with weight has data (renormalising policy).
    pub total: Option<Ratio<u64>>,
    /// Every component, shown on its own.
    pub components: Vec<ComponentLine>,
}

/// Why a composite could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompositeError {
    /// A component score lies outside 0–100.
    #[error("component {0:?} score must be between 0 and 100")]
    OutOfRange(Component),
    /// The exact arithmetic would overflow `u64` (only with absurd denominators).
    #[error("component {0:?} score overflows exact arithmetic")]
    Overflow(Component),
}

/// Combines component scores with the policy's visible weights.
///
/// Missing components follow [`MissingComponent`]: by default the weights of the components that
/// have data are scaled to sum to 100 (each effective weight = weight × 100 / present weight
/// sum), so a missing component neither helps nor hurts; under `Zero` it scores 0.
pub fn composite_score(
    policy: &ScoringPolicy,
    scores: &ComponentScores,
) -> Result<CompositeScore, CompositeError> {
    let w = &policy.composite;
    let parts = [
        (
            Component::CommitteeVote,
            w.committee_vote,
            scores.committee_vote,
        ),
        (
            Component::StakeholderFeedback,
            w.stakeholder_feedback,
            scores.stakeholder_feedback,
        ),
        (Component::SiteVisits, w.site_visits, scores.site_visits),
        (Component::Findings, w.findings, scores.findings),
    ];
    let hundred = Ratio::from_integer(100u64);
    for (component, _, score) in parts {
        // A zero denominator can only be built by hand (serde rejects it); refuse it before any
        // comparison divides by it.
        if score.is_some_and(|s| *s.denom() == 0 || s > hundred) {
            return Err(CompositeError::OutOfRange(component));
        }
    }
    let present_weight: u64 = parts
        .iter()
        .filter(|(_, _, s)| s.is_some())
        .map(|(_, weight, _)| u64::from(*weight))
        .sum();
    let mut components = Vec::with_capacity(parts.len());
    let mut total = Ratio::from_integer(0u64);
    for (component, weight, score) in parts {
        let weight64 = u64::from(weight);
        let effective_weight = match w.missing {
            MissingComponent::Zero => Ratio::from_integer(weight64),
            MissingComponent::Renormalise => match (score, present_weight) {
                (Some(_), p) if p > 0 => Ratio::new(weight64 * 100, p),
                _ => Ratio::from_integer(0),
            },
        };
        // Checked: scores arrive from other components, and a panic is not an answer.
        let overflow = || CompositeError::Overflow(component);
        let contribution = score
            .unwrap_or_default()
            .checked_mul(&effective_weight)
            .and_then(|c| c.checked_div(&hundred))
            .ok_or_else(overflow)?;
        total = total.checked_add(&contribution).ok_or_else(overflow)?;
        components.push(ComponentLine {
            component,
            weight,
            effective_weight,
            score,
            contribution,
        });
    }
    let has_data = match w.missing {
        MissingComponent::Zero => true,
        MissingComponent::Renormalise => present_weight > 0,
    };
    Ok(CompositeScore {
        total: has_data.then_some(total),
        components,
    })
}

/// The domain tag that starts the canonical ballot-set encoding, so the hash of a ballot set can
/// never collide with the hash of another kind of record.
const BALLOT_SET_TAG: &[u8] = b"oversight/ballot-set/v1";
/// The tag of the canonical encoding of published columns ([`column_set_hash`]).
const COLUMN_SET_TAG: &[u8] = b"oversight/ballot-columns/v1";
/// The tag of a receipt's commitment ([`receipt_commitment`]).
const RECEIPT_TAG: &[u8] = b"oversight/receipt/v1";

fn put_bytes(hasher: &mut Sha256, bytes: &[u8]) {
    hasher.update((bytes.len() as u64).to_be_bytes());
    hasher.update(bytes);
}

/// SHA-256 (hex) over the canonical ballot list: ballots sorted by id, choices sorted by subject,
/// every string length-prefixed. The order the ballots were published in does not matter.
pub fn ballot_set_hash(ballots: &[PublishedBallot]) -> String {
    let mut sorted: Vec<&PublishedBallot> = ballots.iter().collect();
    sorted.sort_by(|a, b| a.ballot_id.cmp(&b.ballot_id));
    let mut hasher = Sha256::new();
    hasher.update(BALLOT_SET_TAG);
    hasher.update((sorted.len() as u64).to_be_bytes());
    for ballot in sorted {
        put_bytes(&mut hasher, ballot.ballot_id.as_str().as_bytes());
        hasher.update((ballot.choices.len() as u64).to_be_bytes());
        for (subject, choice) in &ballot.choices {
            put_bytes(&mut hasher, subject.as_str().as_bytes());
            put_choice(&mut hasher, choice);
        }
    }
    hex::encode(hasher.finalize())
}

fn put_choice(hasher: &mut Sha256, choice: &Choice) {
    match choice {
        Choice::Option(code) => {
            hasher.update([1u8]);
            put_bytes(hasher, code.as_bytes());
        }
        Choice::Blank => hasher.update([0u8]),
        Choice::Spoiled => hasher.update([2u8]),
    }
}

/// Whether the voter's receipt is in the published ballot set.
pub fn receipt_in_published_set(ballot_id: &BallotId, published: &[PublishedBallot]) -> bool {
    published.iter().any(|b| &b.ballot_id == ballot_id)
}

/// The published order of a round: a deterministic shuffle by the supplied seed. Each ballot's
/// place is SHA-256(seed ‖ ballot id), so the order depends on the seed and the ids only — never
/// on the order the ballots were cast or handed over in.
pub fn shuffle_ballots(mut ballots: Vec<PublishedBallot>, seed: &[u8; 32]) -> Vec<PublishedBallot> {
    let key = |b: &PublishedBallot| -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(seed);
        put_bytes(&mut hasher, b.ballot_id.as_str().as_bytes());
        hasher.finalize().into()
    };
    // Ids are unique within a round (checked at close), so ties only break equal hashes.
    ballots.sort_by_cached_key(|b| (key(b), b.ballot_id.clone()));
    ballots
}

/// One subject's marks as published for a recount: every ballot's mark for the subject, in an
/// order of the subject's own, so that no row of marks across subjects can be put together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectColumn {
    /// The appointee rated.
    pub subject: AppointeeId,
    /// One mark per ballot, shuffled apart from every other subject's.
    pub marks: Vec<Choice>,
}

/// A round's ballots as published (since `BallotsPublished.v2`): the receipts' commitments,
/// sorted, and each subject's marks in a column shuffled on its own. Whole ballots never appear,
/// so nobody can look a ballot up by its receipt, nor ask a voter for a recognisable pattern of
/// marks across subjects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BallotColumns {
    /// [`receipt_commitment`] of every ballot's receipt, sorted.
    pub commitments: Vec<String>,
    /// One column per subject, in the session's subject order.
    pub columns: Vec<SubjectColumn>,
}

impl BallotColumns {
    /// The ballots published.
    pub fn ballots(&self) -> u64 {
        self.commitments.len() as u64
    }

    /// Whether the counts agree: one column per subject of the session, in its order, and as
    /// many marks in each column as there are commitments.
    pub fn counts_agree(&self, subjects: &[AppointeeId]) -> bool {
        self.columns.len() == subjects.len()
            && self
                .columns
                .iter()
                .zip(subjects)
                .all(|(c, s)| &c.subject == s && c.marks.len() == self.commitments.len())
    }
}

/// What a published receipt is checked against: SHA-256 (hex) of a tag, the session, the round
/// and the receipt. Only the receipt's holder can produce it; it reveals nothing of the ballot.
pub fn receipt_commitment(session: &SessionId, round: u32, receipt: &BallotId) -> String {
    let mut hasher = Sha256::new();
    hasher.update(RECEIPT_TAG);
    put_bytes(&mut hasher, session.as_str().as_bytes());
    hasher.update(round.to_be_bytes());
    put_bytes(&mut hasher, receipt.as_str().as_bytes());
    hex::encode(hasher.finalize())
}

/// Publishes a round's ballots as [`BallotColumns`]: the commitments of their receipts, sorted,
/// and for each subject of `subjects` the ballots' marks ordered by SHA-256(seed ‖ subject ‖
/// ballot id) — a permutation of its own per subject, which depends on the seed and the ids
/// only, never on the order the ballots were cast or handed over in.
pub fn publish_columns(
    session: &SessionId,
    round: u32,
    subjects: &[AppointeeId],
    ballots: &[PublishedBallot],
    seed: &[u8; 32],
) -> BallotColumns {
    let mut commitments: Vec<String> = ballots
        .iter()
        .map(|b| receipt_commitment(session, round, &b.ballot_id))
        .collect();
    commitments.sort();
    let columns = subjects
        .iter()
        .map(|subject| {
            let mut keyed: Vec<([u8; 32], Choice)> = ballots
                .iter()
                .map(|b| {
                    let mut hasher = Sha256::new();
                    hasher.update(seed);
                    put_bytes(&mut hasher, subject.as_str().as_bytes());
                    put_bytes(&mut hasher, b.ballot_id.as_str().as_bytes());
                    let mark = b.choices.get(subject).cloned().unwrap_or(Choice::Blank);
                    (hasher.finalize().into(), mark)
                })
                .collect();
            keyed.sort();
            SubjectColumn {
                subject: subject.clone(),
                marks: keyed.into_iter().map(|(_, mark)| mark).collect(),
            }
        })
        .collect();
    BallotColumns {
        commitments,
        columns,
    }
}

/// Tallies every subject from its published column (a subject without one counts no ballot).
pub fn tally_columns(
    policy: &ScoringPolicy,
    electorate: Electorate,
    subjects: &[AppointeeId],
    published: &BallotColumns,
) -> Vec<SubjectTally> {
    subjects
        .iter()
        .map(|subject| {
            let marks: Vec<&Choice> = published
                .columns
                .iter()
                .find(|c| &c.subject == subject)
                .map(|c| c.marks.iter().collect())
                .unwrap_or_default();
            tally_marks(policy, electorate, subject, &marks)
        })
        .collect()
}

/// SHA-256 (hex) over the canonical published columns: the commitments sorted, then per subject
/// (in the order published) its id and its marks sorted. The shuffled order does not matter.
pub fn column_set_hash(published: &BallotColumns) -> String {
    let mut commitments: Vec<&String> = published.commitments.iter().collect();
    commitments.sort();
    let mut hasher = Sha256::new();
    hasher.update(COLUMN_SET_TAG);
    hasher.update((commitments.len() as u64).to_be_bytes());
    for c in commitments {
        put_bytes(&mut hasher, c.as_bytes());
    }
    hasher.update((published.columns.len() as u64).to_be_bytes());
    for column in &published.columns {
        put_bytes(&mut hasher, column.subject.as_str().as_bytes());
        let mut marks: Vec<&Choice> = column.marks.iter().collect();
        marks.sort();
        hasher.update((marks.len() as u64).to_be_bytes());
        for mark in marks {
            put_choice(&mut hasher, mark);
        }
    }
    hex::encode(hasher.finalize())
}

// Tests read best as "the default, with one change".
#[cfg(test)]
#[allow(clippy::field_reassign_with_default)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::evaluation::policy::dont_know_option;

    fn subject() -> AppointeeId {
        AppointeeId::parse("a1").unwrap()
    }

    /// Ballots for the single subject `a1`, one per choice.
    fn ballots(choices: &[Choice]) -> Vec<PublishedBallot> {
        choices
            .iter()
            .enumerate()
            .map(|(i, c)| PublishedBallot {
                ballot_id: BallotId::parse(format!("b{i:03}")).unwrap(),
                choices: BTreeMap::from([(subject(), c.clone())]),
            })
            .collect()
    }

    fn marks(spec: &[(&str, usize)]) -> Vec<Choice> {
        spec.iter()
            .flat_map(|(code, n)| {
                let c = match *code {
                    "blank" => Choice::Blank,
                    "spoiled" => Choice::Spoiled,
                    code => Choice::Option(code.to_owned()),
                };
                std::iter::repeat_n(c, *n)
            })
            .collect()
    }

    fn electorate(membership: u64, present: u64) -> Electorate {
        Electorate {
            membership,
            present,
        }
    }

    fn run(policy: &ScoringPolicy, e: Electorate, spec: &[(&str, usize)]) -> SubjectTally {
        tally_subject(policy, e, &subject(), &ballots(&marks(spec)))
    }

    #[test]
    fn exactly_half_satisfied_is_not_a_majority() {
        // given 10 members; when 5 satisfied, 5 dissatisfied
        let t = run(
            &ScoringPolicy::default(),
            electorate(10, 10),
            &[("satisfied", 5), ("dissatisfied", 5)],
        );
        // then S = N/2 is not more than half, and S + B = N/2 is not either
        assert_eq!(t.grade, Grade::Dissatisfied);
        assert_eq!(t.consequence, Advisory::RectifyAndReportAgainAtNextSession);
        // one basically-satisfied more tips S + B over half
        let t = run(
            &ScoringPolicy::default(),
            electorate(10, 10),
            &[
                ("satisfied", 5),
                ("basically_satisfied", 1),
                ("dissatisfied", 4),
            ],
        );
        assert_eq!(t.grade, Grade::BasicallySatisfied);
        assert_eq!(t.consequence, Advisory::RectifyPerDeliberationOpinions);
        let t = run(
            &ScoringPolicy::default(),
            electorate(10, 10),
            &[("satisfied", 6), ("dissatisfied", 4)],
        );
        assert_eq!(t.grade, Grade::Satisfied);
        assert_eq!(t.consequence, Advisory::None);
    }

    #[test]
    fn membership_is_n_so_absentees_count_against() {
        // given 20 members, 12 present, all 12 satisfied: 12 > 10
        let t = run(
            &ScoringPolicy::default(),
            electorate(20, 12),
            &[("satisfied", 12)],
        );
        assert_eq!(t.grade, Grade::Satisfied);
        // 10 satisfied of 20 members is exactly half even though all valid ballots say so
        let t = run(
            &ScoringPolicy::default(),
            electorate(20, 12),
            &[("satisfied", 10), ("blank", 2)],
        );
        assert_eq!(t.satisfaction_rate, Some(Ratio::from_integer(1)));
        // S + B = 10 is exactly half of the membership: dissatisfied
        assert_eq!(t.grade, Grade::Dissatisfied);
    }

    #[test]
    fn all_abstain() {
        let mut p = ScoringPolicy::default();
        p.blank = BlankHandling::Abstain;
        let t = run(&p, electorate(7, 7), &[("blank", 7)]);
        assert_eq!((t.cast, t.valid, t.abstain, t.invalid), (7, 7, 7, 0));
        assert_eq!(t.satisfaction_rate, Some(Ratio::from_integer(0)));
        assert_eq!(t.weighted_score, None);
        assert_eq!(t.grade, Grade::Dissatisfied);
    }

    #[test]
    fn blank_as_invalid_versus_abstain() {
        let spec = [("satisfied", 3), ("basically_satisfied", 1), ("blank", 2)];
        // blank invalid: valid = 4, rate 4/4
        let t = run(&ScoringPolicy::default(), electorate(6, 6), &spec);
        assert_eq!((t.valid, t.invalid, t.abstain), (4, 2, 0));
        assert_eq!(t.satisfaction_rate, Some(Ratio::from_integer(1)));
        // blank abstain: the abstentions stay valid, rate 4/6
        let mut p = ScoringPolicy::default();
        p.blank = BlankHandling::Abstain;
        let t = run(&p, electorate(6, 6), &spec);
        assert_eq!((t.valid, t.invalid, t.abstain), (6, 0, 2));
        assert_eq!(t.satisfaction_rate, Some(Ratio::new(2, 3)));
        // the weighted score ignores abstentions either way: (300 + 70) / 4
        assert_eq!(t.weighted_score, Some(Ratio::new(370, 4)));
    }

    #[test]
    fn spoiled_and_unknown_codes_are_invalid() {
        let t = run(
            &ScoringPolicy::default(),
            electorate(4, 4),
            &[("satisfied", 2), ("spoiled", 1), ("excellent", 1)],
        );
        assert_eq!((t.valid, t.invalid), (2, 2));
        assert_eq!(t.counts.get("excellent"), None);
    }

    #[test]
    fn dont_know_is_excluded_from_valid() {
        let mut p = ScoringPolicy::default();
        p.scale.push(dont_know_option());
        let t = run(
            &p,
            electorate(10, 10),
            &[("satisfied", 4), ("dissatisfied", 2), ("dont_know", 4)],
        );
        assert_eq!((t.cast, t.valid, t.dont_know), (10, 6, 4));
        assert_eq!(t.counts["dont_know"], 4);
        assert_eq!(t.satisfaction_rate, Some(Ratio::new(4, 6)));
        assert_eq!(t.weighted_score, Some(Ratio::new(400, 6)));
        // all don't-know: no valid ballot, no rate
        let t = run(&p, electorate(3, 3), &[("dont_know", 3)]);
        assert_eq!(t.satisfaction_rate, None);
    }

    #[test]
    fn four_tier_scale() {
        let p = ScoringPolicy::four_tier();
        let t = run(
            &p,
            electorate(10, 10),
            &[
                ("excellent", 2),
                ("competent", 3),
                ("basically_competent", 3),
                ("incompetent", 2),
            ],
        );
        // S = excellent + competent = 5 (not > 5); S + B = 8 > 5
        assert_eq!((t.satisfied, t.basically_satisfied), (5, 3));
        assert_eq!(t.grade, Grade::BasicallySatisfied);
        assert_eq!(t.satisfaction_rate, Some(Ratio::new(8, 10)));
        // (200 + 240 + 180 + 0) / 10 = 62
        assert_eq!(t.weighted_score, Some(Ratio::from_integer(62)));
    }

    #[test]
    fn each_rate_denominator() {
        let spec = [("satisfied", 5), ("dissatisfied", 1), ("blank", 2)];
        let e = electorate(10, 9);
        let mut p = ScoringPolicy::default();
        p.rate_denominator = RateDenominator::Valid;
        assert_eq!(run(&p, e, &spec).satisfaction_rate, Some(Ratio::new(5, 6)));
        p.rate_denominator = RateDenominator::Cast;
        assert_eq!(run(&p, e, &spec).satisfaction_rate, Some(Ratio::new(5, 8)));
        p.rate_denominator = RateDenominator::Membership;
        let t = run(&p, e, &spec);
        assert_eq!(t.satisfaction_rate, Some(Ratio::new(1, 2)));
        assert_eq!(t.rate_denominator, 10);
    }

    #[test]
    fn each_grade_base() {
        // 5 satisfied of 8 cast, 9 present, 10 members, 6 valid
        let spec = [("satisfied", 5), ("dissatisfied", 1), ("blank", 2)];
        let e = electorate(10, 9);
        let mut p = ScoringPolicy::default();
        let cases = [
            (GradeBase::Membership, 10, Grade::Dissatisfied),
            (GradeBase::Present, 9, Grade::Satisfied),
            (GradeBase::Cast, 8, Grade::Satisfied),
            (GradeBase::Valid, 6, Grade::Satisfied),
        ];
        for (base, n, grade) in cases {
            p.grade_rule = GradeRule::Zhenhai { base };
            let t = run(&p, e, &spec);
            assert_eq!((t.grade_base, t.grade), (n, grade), "{base:?}");
        }
    }

    #[test]
    fn shanxi_2011_sixty_one_of_sixty_one() {
        let t = run(
            &ScoringPolicy::default(),
            electorate(61, 61),
            &[("satisfied", 61)],
        );
        assert_eq!(t.satisfaction_rate, Some(Ratio::from_integer(1)));
        assert_eq!(percent_display(Ratio::from_integer(1), 2), "100.00%");
    }

    #[test]
    fn percent_display_rounds_half_up_for_display_only() {
        assert_eq!(percent_display(Ratio::new(2, 3), 2), "66.67%");
        assert_eq!(percent_display(Ratio::new(1, 3), 2), "33.33%");
        assert_eq!(percent_display(Ratio::new(1, 8), 2), "12.50%");
        assert_eq!(percent_display(Ratio::new(1, 8), 0), "13%");
        assert_eq!(percent_display(Ratio::new(1, 200_000), 2), "0.00%");
        assert_eq!(percent_display(Ratio::new(1, 20_000), 2), "0.01%");
        assert_eq!(decimal_display(Ratio::new(1105, 19), 2), "58.16");
        assert_eq!(decimal_display(Ratio::new(145, 2), 0), "73");
        assert_eq!(decimal_display(Ratio::from_integer(89), 1), "89.0");
        // the largest value at the most places stays inside u128
        assert_eq!(
            percent_display(Ratio::from_integer(u64::MAX), 20),
            "1844674407370955161500.000000000000%"
        );
    }

    #[test]
    fn composite_renormalises_missing_components() {
        let p = ScoringPolicy::default();
        let all = ComponentScores {
            committee_vote: Some(Ratio::from_integer(90)),
            stakeholder_feedback: Some(Ratio::from_integer(80)),
            site_visits: Some(Ratio::from_integer(70)),
            findings: Some(Ratio::from_integer(100)),
        };
        // 45 + 16 + 14 + 10 = 85
        let c = composite_score(&p, &all).unwrap();
        assert_eq!(c.total, Some(Ratio::from_integer(85)));
        assert_eq!(c.components.len(), 4);
        assert_eq!(c.components[0].contribution, Ratio::from_integer(45));
        // without site visits: weights 50/20/10 scale to 100 over 80 → (4500 + 1600 + 1000) / 80
        let partial = ComponentScores {
            site_visits: None,
            ..all
        };
        let c = composite_score(&p, &partial).unwrap();
        assert_eq!(c.total, Some(Ratio::new(7100, 80)));
        assert_eq!(c.components[2].effective_weight, Ratio::from_integer(0));
        assert_eq!(c.components[0].effective_weight, Ratio::new(5000, 80));
        // nothing at all: no total
        let c = composite_score(&p, &ComponentScores::default()).unwrap();
        assert_eq!(c.total, None);
    }

    #[test]
    fn composite_can_count_missing_as_zero_and_rejects_out_of_range() {
        let mut p = ScoringPolicy::default();
        p.composite.missing = MissingComponent::Zero;
        let s = ComponentScores {
            committee_vote: Some(Ratio::from_integer(80)),
            ..ComponentScores::default()
        };
        assert_eq!(
            composite_score(&p, &s).unwrap().total,
            Some(Ratio::from_integer(40))
        );
        let bad = ComponentScores {
            findings: Some(Ratio::from_integer(101)),
            ..ComponentScores::default()
        };
        assert_eq!(
            composite_score(&p, &bad),
            Err(CompositeError::OutOfRange(Component::Findings))
        );
        let zero_denominator = ComponentScores {
            site_visits: Some(Ratio::new_raw(1, 0)),
            ..ComponentScores::default()
        };
        assert_eq!(
            composite_score(&p, &zero_denominator),
            Err(CompositeError::OutOfRange(Component::SiteVisits))
        );
        let huge = ComponentScores {
            committee_vote: Some(Ratio::new(u64::MAX - 1, u64::MAX)),
            stakeholder_feedback: Some(Ratio::new(u64::MAX - 2, u64::MAX - 1)),
            ..ComponentScores::default()
        };
        assert!(matches!(
            composite_score(&p, &huge),
            Err(CompositeError::Overflow(_))
        ));
    }

    #[test]
    fn ballot_set_hash_ignores_order_but_not_content() {
        let mut bs = ballots(&marks(&[("satisfied", 3), ("blank", 1)]));
        let h = ballot_set_hash(&bs);
        bs.reverse();
        assert_eq!(ballot_set_hash(&bs), h);
        bs[0].choices.insert(subject(), Choice::Spoiled);
        assert_ne!(ballot_set_hash(&bs), h);
        assert_eq!(h.len(), 64);
    }

    #[test]
    fn receipts_are_found_in_the_published_set() {
        let bs = ballots(&marks(&[("satisfied", 3)]));
        assert!(receipt_in_published_set(
            &BallotId::parse("b001").unwrap(),
            &bs
        ));
        assert!(!receipt_in_published_set(
            &BallotId::parse("b999").unwrap(),
            &bs
        ));
    }

    #[test]
    fn shuffle_is_deterministic_and_independent_of_input_order() {
        let bs = ballots(&marks(&[("satisfied", 25)]));
        let seed = [7u8; 32];
        let a = shuffle_ballots(bs.clone(), &seed);
        let mut reversed = bs.clone();
        reversed.reverse();
        assert_eq!(shuffle_ballots(reversed, &seed), a);
        assert_ne!(a, bs);
        assert_ne!(shuffle_ballots(bs, &[8u8; 32]), a);
    }

    fn choice_strategy() -> impl Strategy<Value = Choice> {
        prop_oneof![
            Just(Choice::Option("satisfied".into())),
            Just(Choice::Option("basically_satisfied".into())),
            Just(Choice::Option("dissatisfied".into())),
            Just(Choice::Option("dont_know".into())),
            Just(Choice::Blank),
            Just(Choice::Spoiled),
        ]
    }

    proptest! {
        #[test]
        fn grade_and_counts_match_a_straightforward_count(
            choices in proptest::collection::vec(choice_strategy(), 0..80),
            extra_members in 0u64..40,
            abstain in any::<bool>(),
        ) {
            check_counts(choices, extra_members, abstain)?;
        }
    }

    fn check_counts(
        choices: Vec<Choice>,
        extra_members: u64,
        abstain: bool,
    ) -> Result<(), TestCaseError> {
        let mut p = ScoringPolicy::default();
        p.scale.push(dont_know_option());
        if abstain {
            p.blank = BlankHandling::Abstain;
        }
        let n = choices.len() as u64 + extra_members;
        let t = tally_subject(
            &p,
            electorate(n, choices.len() as u64),
            &subject(),
            &ballots(&choices),
        );
        let count = |c: &str| {
            choices
                .iter()
                .filter(|x| **x == Choice::Option(c.into()))
                .count() as u64
        };
        let s = count("satisfied");
        let b = count("basically_satisfied");
        let expected = if 2 * s > n {
            Grade::Satisfied
        } else if 2 * (s + b) > n {
            Grade::BasicallySatisfied
        } else {
            Grade::Dissatisfied
        };
        prop_assert_eq!(t.grade, expected);
        prop_assert_eq!((t.satisfied, t.basically_satisfied), (s, b));
        prop_assert_eq!(t.cast, t.valid + t.invalid + t.dont_know);
        let rated = s + b + count("dissatisfied");
        prop_assert_eq!(t.valid, rated + t.abstain);
        if t.valid > 0 {
            prop_assert_eq!(t.satisfaction_rate, Some(Ratio::new(s + b, t.valid)));
        }
        Ok(())
    }
}
