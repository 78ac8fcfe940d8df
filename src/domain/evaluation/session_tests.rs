//! Given/when/then tests of the evaluation-session aggregate: the whole lifecycle, every
//! rejection, policy freezing, recount, the published order and the secrecy of ballots.

use std::collections::BTreeMap;

use chrono::{NaiveDate, TimeZone, Utc};
use num_rational::Ratio;
use proptest::prelude::*;

use super::policy::{
    Advisory, Announcement, BlankHandling, Grade, PolicyAggregate, PolicyCommand, RateDenominator,
    ScoringPolicy,
};
use super::session::{
    CastBallot, Constituency, Correction, CorrectionRequest, Phase, Schedule, SealedBallot,
    SessionAggregate, SessionCommand, SessionEvent, VoidReason, recount_from_events,
};
use super::tally::{
    BallotColumns, Choice, PublishedBallot, receipt_commitment, receipt_in_published_set,
    zhenhai_grade,
};
use super::{AppointeeId, BallotId, MemberId, SessionId};
use crate::domain::{Aggregate, Context, DomainEvent, Rejection, Role};

const SEED: [u8; 32] = [42; 32];

fn ctx(actor: &str, role: Role) -> Context {
    Context {
        now: Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap(),
        actor: actor.into(),
        role,
    }
}

fn clerk() -> Context {
    ctx("clerk-1", Role::Clerk)
}

fn member_id(i: usize) -> MemberId {
    MemberId::parse(format!("member-{i:02}")).unwrap()
}

fn subject(i: usize) -> AppointeeId {
    AppointeeId::parse(format!("appointee-{i}")).unwrap()
}

fn schedule(members: usize, subjects: usize, policy: ScoringPolicy, version: u32) -> Schedule {
    Schedule {
        session_id: SessionId::parse("s-2026-08").unwrap(),
        committee: None,
        meeting_name: "第十六届常委会第八次会议".into(),
        date: NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
        subjects: (1..=subjects).map(subject).collect(),
        constituency: Constituency::CommitteeMembers,
        roster: (1..=members).map(member_id).collect(),
        policy_version: version,
        policy,
    }
}

fn opt(code: &str) -> Choice {
    Choice::Option(code.into())
}

/// The aggregate, its log and the handler's sealed store, as a handler would hold them.
#[derive(Default)]
struct World {
    agg: SessionAggregate,
    log: Vec<SessionEvent>,
    sealed: Vec<SealedBallot>,
    next_ballot: usize,
    /// The ballots handed over at the last close, as whole ballots.
    cast_ballots: Vec<PublishedBallot>,
}

impl World {
    fn given(events: &[SessionEvent]) -> World {
        let mut w = World::default();
        for e in events {
            w.agg.apply(e);
            w.log.push(e.clone());
        }
        w
    }

    fn run_as(
        &mut self,
        cmd: SessionCommand,
        ctx: &Context,
    ) -> Result<Vec<SessionEvent>, Rejection> {
        let events = self.agg.decide(&cmd, ctx)?;
        for e in &events {
            self.agg.apply(e);
            self.log.push(e.clone());
        }
        Ok(events)
    }

    fn run(&mut self, cmd: SessionCommand) -> Result<Vec<SessionEvent>, Rejection> {
        self.run_as(cmd, &clerk())
    }

    /// Schedules, calls the roll with members `1..=present` and opens voting.
    fn opened(members: usize, present: usize, subjects: usize, policy: ScoringPolicy) -> World {
        let mut w = World::default();
        w.run(SessionCommand::Schedule(schedule(
            members, subjects, policy, 0,
        )))
        .unwrap();
        w.run(SessionCommand::RollCall {
            present: (1..=present).map(member_id).collect(),
        })
        .unwrap();
        w.run(SessionCommand::OpenVoting).unwrap();
        w
    }

    fn cast(
        &mut self,
        member: &MemberId,
        choices: BTreeMap<AppointeeId, Choice>,
    ) -> Result<BallotId, Rejection> {
        // Sequential ids keep the test readable; a handler must use random ones (see session.rs).
        let ballot_id = BallotId::parse(format!("ballot-{:04}", self.next_ballot)).unwrap();
        let cmd = CastBallot {
            member: member.clone(),
            choices,
            ballot_id,
        };
        let out = self
            .agg
            .cast_ballot(&cmd, &ctx(member.as_str(), Role::CommitteeMember))?;
        self.next_ballot += 1;
        for e in &out.events {
            self.agg.apply(e);
            self.log.push(e.clone());
        }
        self.sealed.push(out.sealed);
        Ok(out.receipt)
    }

    fn close(&mut self) -> Result<Vec<SessionEvent>, Rejection> {
        let sealed = std::mem::take(&mut self.sealed);
        self.cast_ballots = sealed
            .iter()
            .map(|b| PublishedBallot {
                ballot_id: b.ballot_id.clone(),
                choices: b.choices.clone(),
            })
            .collect();
        self.run(SessionCommand::CloseVoting {
            sealed,
            unreadable: 0,
            shuffle_seed: SEED,
        })
    }

    fn columns(&self) -> &BallotColumns {
        self.agg.published_columns.as_ref().unwrap()
    }
}

fn one(s: usize, c: Choice) -> BTreeMap<AppointeeId, Choice> {
    BTreeMap::from([(subject(s), c)])
}

/// Asserts a rejection whose message contains `needle`, is lowercase and has no final period.
fn assert_rejected<T: std::fmt::Debug>(result: Result<T, Rejection>, needle: &str) -> Rejection {
    let r = result.expect_err("expected a rejection");
    let msg = r.to_string();
    assert!(msg.contains(needle), "`{msg}` does not contain `{needle}`");
    assert!(
        !msg.starts_with(|c: char| c.is_uppercase()) && !msg.ends_with('.'),
        "`{msg}` is not a lowercase message without a final period"
    );
    r
}

/// The hand-computed table for 45 members, 40 present and voting, 6 subjects:
/// (satisfied, basically satisfied, dissatisfied, blank, spoiled).
const MARKS: [(usize, usize, usize, usize, usize); 6] = [
    (30, 8, 2, 0, 0),
    (22, 10, 8, 0, 0),
    (23, 0, 17, 0, 0),
    (10, 12, 18, 0, 0),
    (15, 5, 10, 10, 0),
    (20, 3, 15, 0, 2),
];

/// The choice of voter `v` (0-based) for subject `s` (0-based), walking the table's counts.
fn table_choice(s: usize, v: usize) -> Choice {
    let (sat, basic, dis, blank, _spoiled) = MARKS[s];
    let v = v % 40;
    if v < sat {
        opt("satisfied")
    } else if v < sat + basic {
        opt("basically_satisfied")
    } else if v < sat + basic + dis {
        opt("dissatisfied")
    } else if v < sat + basic + dis + blank {
        Choice::Blank
    } else {
        Choice::Spoiled
    }
}

fn table_ballot(v: usize) -> BTreeMap<AppointeeId, Choice> {
    (0..6)
        .map(|s| (subject(s + 1), table_choice(s, v)))
        .collect()
}

/// Runs the full session of the table up to announcement.
fn full_session() -> (World, Vec<BallotId>) {
    let mut w = World::opened(45, 40, 6, ScoringPolicy::default());
    let receipts: Vec<BallotId> = (0..40)
        .map(|v| w.cast(&member_id(v + 1), table_ballot(v)).unwrap())
        .collect();
    w.close().unwrap();
    // the default policy announces on the spot: tally and announcement in one decision
    let events = w.run(SessionCommand::Tally).unwrap();
    assert_eq!(events[1], SessionEvent::ResultsAnnounced { round: 1 });
    (w, receipts)
}

#[test]
fn forty_members_six_subjects_match_the_hand_computed_table() {
    // given 45 members, 40 present; when all 40 vote by the table and the clerk tallies
    let (w, _) = full_session();
    assert_eq!(w.agg.phase, Phase::Announced);
    let tally = w.agg.tally.as_ref().unwrap();
    assert_eq!(tally.electorate.membership, 45);
    assert_eq!(tally.electorate.present, 40);
    // then, computed by hand (N = 45 members, so a majority needs 2·count > 45, i.e. ≥ 23):
    // (valid, invalid, rate, grade, weighted score = (100·S + 70·B) / rated)
    let expected = [
        (
            40,
            0,
            Ratio::new(38, 40),
            Grade::Satisfied,
            Ratio::new(3560, 40),
        ),
        (
            40,
            0,
            Ratio::new(32, 40),
            Grade::BasicallySatisfied,
            Ratio::new(2900, 40),
        ),
        (
            40,
            0,
            Ratio::new(23, 40),
            Grade::Satisfied,
            Ratio::new(2300, 40),
        ),
        (
            40,
            0,
            Ratio::new(22, 40),
            Grade::Dissatisfied,
            Ratio::new(1840, 40),
        ),
        (
            30,
            10,
            Ratio::new(20, 30),
            Grade::Dissatisfied,
            Ratio::new(1850, 30),
        ),
        (
            38,
            2,
            Ratio::new(23, 38),
            Grade::BasicallySatisfied,
            Ratio::new(2210, 38),
        ),
    ];
    assert_eq!(tally.results.len(), 6);
    for (i, (r, (valid, invalid, rate, grade, weighted))) in
        tally.results.iter().zip(expected).enumerate()
    {
        let (s, b, d, _, _) = MARKS[i];
        assert_eq!(r.subject, subject(i + 1));
        assert_eq!(r.cast, 40, "subject {i}");
        assert_eq!(r.counts["satisfied"], s as u64);
        assert_eq!(r.counts["basically_satisfied"], b as u64);
        assert_eq!(r.counts["dissatisfied"], d as u64);
        assert_eq!(
            (r.valid, r.invalid, r.abstain),
            (valid, invalid, 0),
            "subject {i}"
        );
        assert_eq!(r.satisfaction_rate, Some(rate), "subject {i}");
        assert_eq!(r.grade, grade, "subject {i}");
        assert_eq!(r.weighted_score, Some(weighted), "subject {i}");
        assert_eq!(r.grade_base, 45);
    }
    // 19/20 = 95%, 89 points; advisory consequences follow the grade
    assert_eq!(
        tally.results[0].weighted_score,
        Some(Ratio::from_integer(89))
    );
    assert_eq!(
        tally.results[3].consequence,
        Advisory::RectifyAndReportAgainAtNextSession
    );
    assert_eq!(
        tally.results[1].consequence,
        Advisory::RectifyPerDeliberationOpinions
    );
}

#[test]
fn recount_equals_the_recorded_tally() {
    let (w, _) = full_session();
    let report = w.agg.recount().unwrap();
    assert!(report.matches);
    // an auditor with only the log gets the same
    let audit = recount_from_events(&w.log).unwrap();
    assert!(audit.matches);
    assert_eq!(audit.recomputed, w.agg.tally.as_ref().unwrap().results);
    let hash = w
        .log
        .iter()
        .find_map(|e| match e {
            SessionEvent::TallyRecorded {
                ballot_set_hash,
                policy_version,
                ..
            } => Some((ballot_set_hash.clone(), *policy_version)),
            _ => None,
        })
        .unwrap();
    assert_eq!(hash, (audit.ballot_set_hash, 0));
}

#[test]
fn every_receipt_is_in_the_published_set_by_its_commitment_alone() {
    let (w, receipts) = full_session();
    let session = SessionId::parse("s-2026-08").unwrap();
    let columns = w.columns();
    assert_eq!(columns.ballots(), receipts.len() as u64);
    assert!(columns.commitments.is_sorted());
    for r in &receipts {
        assert!(w.agg.receipt_published(r));
        assert!(
            columns
                .commitments
                .contains(&receipt_commitment(&session, 1, r))
        );
    }
    assert!(!w.agg.receipt_published(&BallotId::parse("forged").unwrap()));
    // A receipt's commitment is bound to its session and round.
    assert_ne!(
        receipt_commitment(&session, 2, &receipts[0]),
        receipt_commitment(&session, 1, &receipts[0])
    );
    // No receipt is published, only commitments.
    for event in &w.log {
        let json = serde_json::to_string(event).unwrap();
        assert!(
            !receipts.iter().any(|r| json.contains(r.as_str())),
            "{json}"
        );
    }
}

/// A round published before commitments (whole ballots with their receipts) still counts,
/// recounts and checks receipts as it did.
#[test]
fn a_round_published_as_whole_ballots_still_recounts_and_checks_receipts() {
    let (w, receipts) = full_session();
    let mut log = Vec::new();
    for event in &w.log {
        match event {
            SessionEvent::BallotsPublishedV2 { round, .. } => {
                // The same ballots as v1 published them: rebuilt from the sealed set's tally.
                let ballots: Vec<PublishedBallot> = w.cast_ballots.clone();
                log.push(SessionEvent::BallotsPublished {
                    round: *round,
                    ballots,
                });
            }
            SessionEvent::TallyRecorded { .. } => {
                let mut legacy = SessionAggregate::replay(&log);
                let events = legacy.decide(&SessionCommand::Tally, &clerk()).unwrap();
                for e in &events {
                    legacy.apply(e);
                }
                log.extend(events);
                break;
            }
            other => log.push(other.clone()),
        }
    }
    let legacy = SessionAggregate::replay(&log);
    assert!(legacy.published_columns.is_none());
    assert_eq!(legacy.published_ballots(), receipts.len() as u64);
    for r in &receipts {
        assert!(legacy.receipt_published(r));
        assert!(receipt_in_published_set(r, &legacy.published));
    }
    let report = legacy.recount().unwrap();
    assert!(report.matches);
    // The same results as the columns give.
    assert_eq!(report.recomputed, w.agg.tally.as_ref().unwrap().results);
}

/// Every subject's column is shuffled on its own: no subject's marks come in the casting
/// order, and no two subjects share an order, so no row across subjects can be rebuilt.
#[test]
fn each_subjects_column_is_shuffled_on_its_own() {
    // given 24 ballots whose marks spell each ballot's casting position on three subjects
    let codes = ["satisfied", "basically_satisfied", "dissatisfied"];
    let mut w = World::opened(30, 24, 3, ScoringPolicy::default());
    let mut cast = Vec::new();
    for m in 1..=24 {
        let marks: Vec<Choice> = (0..3)
            .map(|s| opt(codes[(m / 3usize.pow(s)) % 3]))
            .collect();
        let mut choices = BTreeMap::new();
        for (s, mark) in marks.iter().enumerate() {
            choices.insert(subject(s + 1), mark.clone());
        }
        w.cast(&member_id(m), choices).unwrap();
        cast.push(marks);
    }
    // when voting closes with a fixed seed
    w.close().unwrap();
    let columns = w.columns().columns.clone();
    assert_eq!(columns.len(), 3);
    for (s, column) in columns.iter().enumerate() {
        assert_eq!(column.subject, subject(s + 1));
        let casting: Vec<Choice> = cast.iter().map(|marks| marks[s].clone()).collect();
        // a permutation of the subject's marks …
        let mut sorted = column.marks.clone();
        sorted.sort();
        let mut expected = casting.clone();
        expected.sort();
        assert_eq!(sorted, expected);
        // … that is not the casting order
        assert_ne!(column.marks, casting, "subject {s}");
    }
    // and the rows read across the columns are not the ballots cast
    let rows: Vec<Vec<Choice>> = (0..24)
        .map(|i| columns.iter().map(|c| c.marks[i].clone()).collect())
        .collect();
    let same = rows.iter().zip(&cast).filter(|(a, b)| a == b).count();
    assert!(same < 6, "{same} rows are whole ballots");
}

/// Counts that do not agree (a column short of a mark) fail the recount and refuse a tally.
#[test]
fn published_counts_that_do_not_agree_fail_the_recount() {
    let (w, _) = full_session();
    let mut log = w.log.clone();
    for e in &mut log {
        if let SessionEvent::BallotsPublishedV2 { columns, .. } = e {
            columns[1].marks.pop();
        }
    }
    let tampered = SessionAggregate::replay(&log);
    assert!(!tampered.recount().unwrap().matches);
    let before_tally: Vec<SessionEvent> = log
        .iter()
        .take_while(|e| !matches!(e, SessionEvent::TallyRecorded { .. }))
        .cloned()
        .collect();
    let closed = SessionAggregate::replay(&before_tally);
    assert_rejected(
        closed.decide(&SessionCommand::Tally, &clerk()),
        "counts do not agree",
    );
}

#[test]
fn no_event_links_a_member_to_a_choice_or_a_ballot() {
    let (w, receipts) = full_session();
    let members: Vec<String> = (1..=45).map(|i| format!("\"{}\"", member_id(i))).collect();
    let ballots: Vec<String> = receipts.iter().map(|r| format!("\"{}\"", r)).collect();
    let mut saw_ballots = false;
    let mut saw_participation = false;
    for event in &w.log {
        let json = serde_json::to_string(event).unwrap();
        let has_member = members.iter().any(|m| json.contains(m.as_str()));
        let has_ballot = ballots.iter().any(|b| json.contains(b.as_str()));
        let has_choice = json.contains("\"choices\"") || json.contains("\"marks\"");
        assert!(
            !has_ballot,
            "{} holds a receipt: {json}",
            event.event_type()
        );
        saw_ballots |= matches!(event, SessionEvent::BallotsPublishedV2 { .. });
        saw_participation |= matches!(event, SessionEvent::ParticipationRecorded { .. });
        assert!(
            !(has_member && (has_ballot || has_choice)),
            "{} links a member to a ballot: {json}",
            event.event_type()
        );
        if let SessionEvent::ParticipationRecorded { .. } = event {
            assert!(!has_choice && !has_ballot && !json.contains("satisfied"));
        }
    }
    assert!(saw_ballots && saw_participation);
    // the sealed ballots the handler stored carry no member either
    let mut w2 = World::opened(5, 5, 1, ScoringPolicy::default());
    w2.cast(&member_id(1), one(1, opt("satisfied"))).unwrap();
    let json = serde_json::to_string(&w2.sealed[0]).unwrap();
    assert!(!json.contains("member-01"), "{json}");
}

#[test]
fn every_event_has_a_versioned_type_and_round_trips() {
    let (w, _) = full_session();
    for event in &w.log {
        let version = event.event_type().rsplit('.').next().unwrap();
        assert!(["v1", "v2"].contains(&version), "{}", event.event_type());
        let json = serde_json::to_string(event).unwrap();
        let back: SessionEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(&back, event);
    }
    assert_eq!(SessionAggregate::replay(&w.log), w.agg);
}

#[test]
fn adopting_a_policy_after_scheduling_does_not_change_the_session() {
    // given the committee adopted v1: blanks abstain
    let mut committee = PolicyAggregate::default();
    let chair = ctx("chair-1", Role::Chair);
    let v1 = ScoringPolicy {
        blank: BlankHandling::Abstain,
        ..ScoringPolicy::default()
    };
    for e in committee
        .decide(&PolicyCommand::AdoptPolicy { document: v1 }, &chair)
        .unwrap()
    {
        committee.apply(&e);
    }
    // and a session scheduled under it
    let mut w = World::default();
    let sched = schedule(10, 1, committee.document.clone(), committee.version);
    w.run(SessionCommand::Schedule(sched)).unwrap();
    // when v2 (blanks invalid, rate over membership) is adopted afterwards
    let v2 = ScoringPolicy {
        rate_denominator: RateDenominator::Membership,
        ..ScoringPolicy::default()
    };
    for e in committee
        .decide(&PolicyCommand::AdoptPolicy { document: v2 }, &chair)
        .unwrap()
    {
        committee.apply(&e);
    }
    assert_eq!(committee.version, 2);
    w.run(SessionCommand::RollCall {
        present: (1..=8).map(member_id).collect(),
    })
    .unwrap();
    w.run(SessionCommand::OpenVoting).unwrap();
    for m in 1..=6 {
        w.cast(&member_id(m), one(1, opt("satisfied"))).unwrap();
    }
    for m in 7..=8 {
        w.cast(&member_id(m), one(1, Choice::Blank)).unwrap();
    }
    w.close().unwrap();
    let events = w.run(SessionCommand::Tally).unwrap();
    // then the tally follows v1: 2 abstentions, rate 6/8 over valid ballots
    let SessionEvent::TallyRecorded {
        policy_version,
        results,
        ..
    } = &events[0]
    else {
        panic!("expected a tally");
    };
    assert_eq!(*policy_version, 1);
    assert_eq!((results[0].abstain, results[0].invalid), (2, 0));
    assert_eq!(results[0].satisfaction_rate, Some(Ratio::new(6, 8)));
}

#[test]
fn schedule_rejections() {
    let mut w = World::default();
    let good = schedule(5, 2, ScoringPolicy::default(), 0);
    assert_rejected(
        w.run_as(
            SessionCommand::Schedule(good.clone()),
            &ctx("member-01", Role::CommitteeMember),
        ),
        "may not schedule a session",
    );
    let mut bad = good.clone();
    bad.subjects.clear();
    assert_rejected(w.run(SessionCommand::Schedule(bad)), "subjects");
    let mut bad = good.clone();
    bad.roster.push(member_id(1));
    assert_rejected(
        w.run(SessionCommand::Schedule(bad)),
        "lists `member-01` twice",
    );
    let mut bad = good.clone();
    bad.policy.composite.findings = 0;
    let r = assert_rejected(w.run(SessionCommand::Schedule(bad)), "sum to 100");
    assert!(matches!(r, Rejection::Invalid { field, .. } if field == "policy.composite"));
    w.run(SessionCommand::Schedule(good.clone())).unwrap();
    assert_rejected(
        w.run(SessionCommand::Schedule(good)),
        "session is already scheduled",
    );
}

#[test]
fn roll_call_rejections() {
    let mut w = World::default();
    let r = assert_rejected(
        w.run(SessionCommand::RollCall { present: vec![] }),
        "session is not scheduled",
    );
    assert!(matches!(r, Rejection::NotFound(_)));
    w.run(SessionCommand::Schedule(schedule(
        5,
        1,
        ScoringPolicy::default(),
        0,
    )))
    .unwrap();
    assert_rejected(
        w.run(SessionCommand::RollCall {
            present: vec![member_id(9)],
        }),
        "`member-09` is not on the roster",
    );
    // a roll call may be repeated until voting opens
    for present in [3, 4] {
        w.run(SessionCommand::RollCall {
            present: (1..=present).map(member_id).collect(),
        })
        .unwrap();
    }
    assert_eq!(w.agg.present.len(), 4);
    w.run(SessionCommand::OpenVoting).unwrap();
    assert_rejected(
        w.run(SessionCommand::RollCall { present: vec![] }),
        "roll call is closed while voting is open",
    );
}

#[test]
fn quorum_fail_and_exact_half_quorum() {
    let mut w = World::default();
    w.run(SessionCommand::Schedule(schedule(
        10,
        1,
        ScoringPolicy::default(),
        0,
    )))
    .unwrap();
    assert_rejected(w.run(SessionCommand::OpenVoting), "roll call comes first");
    // given exactly half present: 5 of 10 is not more than half
    w.run(SessionCommand::RollCall {
        present: (1..=5).map(member_id).collect(),
    })
    .unwrap();
    assert_rejected(
        w.run(SessionCommand::OpenVoting),
        "no quorum: 5 present of 10 entitled, the rule is present > entitled × 1/2",
    );
    // 6 of 10 opens round 1
    w.run(SessionCommand::RollCall {
        present: (1..=6).map(member_id).collect(),
    })
    .unwrap();
    let events = w.run(SessionCommand::OpenVoting).unwrap();
    assert_eq!(
        events,
        vec![SessionEvent::VotingOpened {
            round: 1,
            entitled: 10,
            present: 6
        }]
    );
    assert_rejected(w.run(SessionCommand::OpenVoting), "voting is already open");
}

#[test]
fn ballot_rejections() {
    let mut w = World::default();
    w.run(SessionCommand::Schedule(schedule(
        6,
        2,
        ScoringPolicy::default(),
        0,
    )))
    .unwrap();
    w.run(SessionCommand::RollCall {
        present: (1..=4).map(member_id).collect(),
    })
    .unwrap();
    // before opening
    assert_rejected(
        w.cast(&member_id(1), one(1, opt("satisfied"))),
        "voting has not opened",
    );
    w.run(SessionCommand::OpenVoting).unwrap();
    // a member who is not present, or not on the roster
    assert_rejected(
        w.cast(&member_id(5), one(1, opt("satisfied"))),
        "member `member-05` is not present",
    );
    assert_rejected(
        w.cast(&member_id(7), one(1, opt("satisfied"))),
        "member `member-07` is not on the roster",
    );
    // unknown subject, option not on the scale
    let r = assert_rejected(
        w.cast(&member_id(1), one(3, opt("satisfied"))),
        "unknown subject `appointee-3`",
    );
    assert!(matches!(r, Rejection::Invalid { .. }));
    let r = assert_rejected(
        w.cast(&member_id(1), one(1, opt("excellent"))),
        "option `excellent` is not on the scale",
    );
    assert!(matches!(r, Rejection::Invalid { field, .. } if field == "choices.appointee-1"));
    // someone else's ballot, or the clerk voting
    let cmd = CastBallot {
        member: member_id(2),
        choices: one(1, opt("satisfied")),
        ballot_id: BallotId::parse("x").unwrap(),
    };
    assert_rejected(
        w.agg
            .cast_ballot(&cmd, &ctx("member-01", Role::CommitteeMember)),
        "only their own ballot",
    );
    assert_rejected(
        w.agg.cast_ballot(&cmd, &ctx("member-02", Role::Clerk)),
        "may not cast a ballot",
    );
    // a malformed ballot id cannot even be built, nor read back from a sealed store
    assert_rejected(BallotId::parse(" "), "ballot_id must contain only");
    assert_rejected(BallotId::parse(""), "ballot_id must not be empty");
    assert!(
        serde_json::from_str::<SealedBallot>(
            r#"{"session_id":"s","round":1,"ballot_id":"a b","choices":{}}"#
        )
        .is_err()
    );
    // a second ballot from the same member in the round
    w.cast(&member_id(1), one(1, opt("satisfied"))).unwrap();
    assert_rejected(
        w.cast(&member_id(1), one(1, opt("dissatisfied"))),
        "member `member-01` has already voted in round 1",
    );
    // after closing
    w.close().unwrap();
    assert_rejected(
        w.cast(&member_id(2), one(1, opt("satisfied"))),
        "voting is closed",
    );
}

#[test]
fn missing_subjects_are_sealed_as_blank() {
    let mut w = World::opened(3, 3, 3, ScoringPolicy::default());
    w.cast(&member_id(1), one(2, opt("satisfied"))).unwrap();
    let choices = &w.sealed[0].choices;
    assert_eq!(choices.len(), 3);
    assert_eq!(choices[&subject(1)], Choice::Blank);
    assert_eq!(choices[&subject(2)], opt("satisfied"));
}

#[test]
fn more_ballots_than_present_voids_the_round_and_a_revote_is_a_new_round() {
    // given 4 present, 4 voted
    let mut w = World::opened(6, 4, 1, ScoringPolicy::default());
    for m in 1..=4 {
        w.cast(&member_id(m), one(1, opt("satisfied"))).unwrap();
    }
    // when a fifth ballot turns up in the box
    let mut extra = w.sealed[0].clone();
    extra.ballot_id = BallotId::parse("stuffed").unwrap();
    w.sealed.push(extra);
    let events = w.close().unwrap();
    // then the round is voided and nothing is published
    assert_eq!(
        events,
        vec![SessionEvent::VotingVoided {
            round: 1,
            reason: VoidReason::MoreBallotsThanPresent,
            ballots: 5,
            present: 4,
            participants: 4
        }]
    );
    assert_eq!(w.agg.phase, Phase::RollCalled);
    assert!(w.agg.published.is_empty());
    assert_rejected(w.run(SessionCommand::Tally), "voting has not closed");
    // a revote is round 2, and the same members may vote again
    let events = w.run(SessionCommand::OpenVoting).unwrap();
    assert!(matches!(
        events[0],
        SessionEvent::VotingOpened { round: 2, .. }
    ));
    w.cast(&member_id(1), one(1, opt("dissatisfied"))).unwrap();
    assert_eq!(w.sealed[0].round, 2);
    w.close().unwrap();
    w.run(SessionCommand::Tally).unwrap();
    assert_eq!(w.agg.tally.as_ref().unwrap().round, 2);
}

#[test]
fn a_sealed_store_that_disagrees_with_participation_voids_the_round() {
    let mut w = World::opened(6, 4, 1, ScoringPolicy::default());
    for m in 1..=3 {
        w.cast(&member_id(m), one(1, opt("satisfied"))).unwrap();
    }
    w.sealed.pop();
    let events = w.close().unwrap();
    assert!(matches!(
        events[0],
        SessionEvent::VotingVoided {
            reason: VoidReason::BallotsDoNotMatchParticipation,
            ballots: 2,
            participants: 3,
            ..
        }
    ));
}

/// Sealed ballots that cannot be read (their key died with the server) void the round even when
/// the readable ones are as many as the participations: a partial set is never published.
#[test]
fn unreadable_sealed_ballots_void_the_round() {
    let mut w = World::opened(6, 4, 1, ScoringPolicy::default());
    for m in 1..=3 {
        w.cast(&member_id(m), one(1, opt("satisfied"))).unwrap();
    }
    let sealed = std::mem::take(&mut w.sealed);
    let events = w
        .run(SessionCommand::CloseVoting {
            sealed,
            unreadable: 1,
            shuffle_seed: SEED,
        })
        .unwrap();
    assert!(matches!(
        events[..],
        [SessionEvent::VotingVoided {
            reason: VoidReason::BallotsDoNotMatchParticipation,
            ballots: 3,
            participants: 3,
            ..
        }]
    ));
    assert_eq!(w.agg.phase, Phase::RollCalled);
}

/// The server voids a round whose sealed ballots it lost; nobody else may, and only the open
/// round.
#[test]
fn the_server_voids_an_open_round_whose_ballots_were_lost() {
    let mut w = World::opened(6, 4, 1, ScoringPolicy::default());
    w.cast(&member_id(1), one(1, opt("satisfied"))).unwrap();
    let lost = SessionCommand::VoidLostRound { round: 1 };
    assert!(w.run(lost.clone()).is_err(), "a clerk may not");
    assert!(
        w.run_as(
            SessionCommand::VoidLostRound { round: 2 },
            &ctx("oversight-server", Role::Admin)
        )
        .is_err()
    );
    let events = w
        .run_as(lost.clone(), &ctx("oversight-server", Role::Admin))
        .unwrap();
    assert_eq!(
        events,
        vec![SessionEvent::VotingVoided {
            round: 1,
            reason: VoidReason::BallotsDoNotMatchParticipation,
            ballots: 0,
            present: 4,
            participants: 1,
        }]
    );
    assert_eq!(w.agg.phase, Phase::RollCalled);
    assert!(
        w.run_as(lost, &ctx("oversight-server", Role::Admin))
            .is_err()
    );
    // Voted again in a new round.
    w.run(SessionCommand::OpenVoting).unwrap();
    w.cast(&member_id(1), one(1, opt("satisfied"))).unwrap();
}

/// Every sealed ballot of a session pads to the same length, whatever it holds.
#[test]
fn every_sealed_ballot_of_a_session_fits_one_length() {
    let mut w = World::opened(6, 4, 3, ScoringPolicy::default());
    let len = w.agg.sealed_len();
    w.cast(&member_id(1), BTreeMap::new()).unwrap();
    let mut full = one(1, opt("basically_satisfied"));
    full.extend(one(2, opt("basically_satisfied")));
    full.extend(one(3, Choice::Spoiled));
    w.cast(&member_id(2), full).unwrap();
    for sealed in &w.sealed {
        assert!(serde_json::to_vec(sealed).unwrap().len() + 4 <= len);
    }
}

#[test]
fn close_rejects_a_corrupt_sealed_set() {
    let mut w = World::opened(6, 4, 2, ScoringPolicy::default());
    w.cast(&member_id(1), one(1, opt("satisfied"))).unwrap();
    w.cast(&member_id(2), one(1, opt("satisfied"))).unwrap();
    let good = w.sealed.clone();
    // a duplicate id
    let mut dup = good.clone();
    dup[1].ballot_id = dup[0].ballot_id.clone();
    assert_rejected(
        w.run(SessionCommand::CloseVoting {
            sealed: dup,
            unreadable: 0,
            shuffle_seed: SEED,
        }),
        "appears twice",
    );
    // a ballot from another round
    let mut other = good.clone();
    other[0].round = 7;
    assert_rejected(
        w.run(SessionCommand::CloseVoting {
            sealed: other,
            unreadable: 0,
            shuffle_seed: SEED,
        }),
        "another session or round",
    );
    // a ballot that lost a subject
    let mut short = good.clone();
    short[0].choices.remove(&subject(2));
    assert_rejected(
        w.run(SessionCommand::CloseVoting {
            sealed: short,
            unreadable: 0,
            shuffle_seed: SEED,
        }),
        "does not cover every subject",
    );
    // the clerk alone closes
    assert_rejected(
        w.run_as(
            SessionCommand::CloseVoting {
                sealed: good,
                unreadable: 0,
                shuffle_seed: SEED,
            },
            &ctx("member-01", Role::CommitteeMember),
        ),
        "may not close voting",
    );
}

#[test]
fn tally_and_announce_rejections() {
    // given a policy that holds results under embargo for the clerk
    let policy = ScoringPolicy {
        announcement: Announcement::ByClerk,
        ..ScoringPolicy::default()
    };
    let mut w = World::opened(3, 3, 1, policy);
    assert_rejected(w.run(SessionCommand::Tally), "voting has not closed");
    assert_rejected(
        w.run(SessionCommand::Announce),
        "there is no tally to announce",
    );
    w.cast(&member_id(1), one(1, opt("satisfied"))).unwrap();
    w.close().unwrap();
    assert_rejected(w.close(), "voting is closed");
    assert_rejected(
        w.run(SessionCommand::Announce),
        "there is no tally to announce",
    );
    assert_rejected(
        w.run_as(SessionCommand::Tally, &ctx("chair-1", Role::Chair)),
        "may not record a tally",
    );
    let events = w.run(SessionCommand::Tally).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(w.agg.phase, Phase::Tallied);
    assert_rejected(w.run(SessionCommand::Tally), "already tallied");
    assert_rejected(
        w.run_as(
            SessionCommand::Announce,
            &ctx("member-01", Role::CommitteeMember),
        ),
        "may not announce results",
    );
    w.run(SessionCommand::Announce).unwrap();
    assert_eq!(w.agg.phase, Phase::Announced);
    assert_rejected(w.run(SessionCommand::Announce), "already announced");
    assert_rejected(w.run(SessionCommand::OpenVoting), "voting is closed");
}

fn chair() -> Context {
    ctx("chair-1", Role::Chair)
}

/// Proposes a correction as the clerk and returns its number.
fn propose(w: &mut World, round: u32, correction: CorrectionRequest) -> Result<u32, Rejection> {
    let events = w.run(SessionCommand::ProposeCorrection {
        round,
        correction,
        reason: "a teller misread the ballot box seal".into(),
    })?;
    match &events[..] {
        [SessionEvent::CorrectionProposed { proposal, .. }] => Ok(*proposal),
        other => panic!("unexpected events {other:?}"),
    }
}

fn approve(
    w: &mut World,
    proposal: u32,
    round: u32,
    correction: CorrectionRequest,
    as_: &Context,
) -> Result<Vec<SessionEvent>, Rejection> {
    w.run_as(
        SessionCommand::ApproveCorrection {
            proposal,
            round,
            correction,
        },
        as_,
    )
}

#[test]
fn a_correction_takes_effect_only_when_a_second_principal_approves_it() {
    let (mut w, _) = full_session();
    assert_rejected(
        propose(&mut w, 2, CorrectionRequest::AnnulRound),
        "only the current round 1",
    );
    assert_rejected(
        w.run(SessionCommand::ProposeCorrection {
            round: 1,
            correction: CorrectionRequest::AnnulRound,
            reason: "  ".into(),
        }),
        "reason must not be empty",
    );
    assert_rejected(
        w.run_as(
            SessionCommand::ProposeCorrection {
                round: 1,
                correction: CorrectionRequest::AnnulRound,
                reason: "x".into(),
            },
            &ctx("member-01", Role::CommitteeMember),
        ),
        "may not propose a correction",
    );
    // a recount that agrees leaves nothing to retally
    assert_rejected(
        propose(&mut w, 1, CorrectionRequest::Retally),
        "nothing to correct",
    );
    assert_rejected(
        approve(&mut w, 1, 1, CorrectionRequest::AnnulRound, &chair()),
        "no pending correction proposal 1",
    );
    // when the clerk proposes an annulment, nothing changes yet
    let first = propose(&mut w, 1, CorrectionRequest::AnnulRound).unwrap();
    assert_eq!(first, 1);
    assert_eq!(w.agg.phase, Phase::Announced);
    assert!(w.agg.tally.is_some());
    // the proposer cannot approve their own proposal
    assert_rejected(
        approve(&mut w, 1, 1, CorrectionRequest::AnnulRound, &clerk()),
        "cannot approve it too",
    );
    // a second proposal replaces the first; the approver must name what is pending
    let second = propose(&mut w, 1, CorrectionRequest::AnnulRound).unwrap();
    assert_eq!(second, 2);
    assert_rejected(
        approve(&mut w, 1, 1, CorrectionRequest::AnnulRound, &chair()),
        "the pending proposal is 2",
    );
    assert_rejected(
        approve(&mut w, 2, 1, CorrectionRequest::Retally, &chair()),
        "annulment of round 1",
    );
    // then a different principal's approval annuls the round: the session is back at roll call
    let events = approve(&mut w, 2, 1, CorrectionRequest::AnnulRound, &chair()).unwrap();
    assert_eq!(
        events[0],
        SessionEvent::CorrectionApproved {
            proposal: 2,
            approved_by: "chair-1".into()
        }
    );
    assert!(matches!(
        &events[1],
        SessionEvent::ResultCorrected { corrects, correction: Correction::AnnulRound, approvers, .. }
            if corrects == "BallotsPublished.v2" && approvers == &["chair-1", "clerk-1"]
    ));
    assert_eq!(w.agg.phase, Phase::RollCalled);
    assert!(w.agg.tally.is_none());
    assert!(w.agg.pending_correction.is_none());
    assert_rejected(
        approve(&mut w, 2, 1, CorrectionRequest::AnnulRound, &chair()),
        "no pending correction proposal 2",
    );
    let events = w.run(SessionCommand::OpenVoting).unwrap();
    assert!(matches!(
        events[0],
        SessionEvent::VotingOpened { round: 2, .. }
    ));
}

#[test]
fn a_wrong_recorded_tally_is_corrected_by_a_retally() {
    // given a log whose tally event disagrees with its ballots (a bug in an older release)
    let (w, _) = full_session();
    let mut log = w.log.clone();
    for e in &mut log {
        if let SessionEvent::TallyRecorded { results, .. } = e {
            results[0].counts.insert("satisfied".into(), 31);
        }
    }
    let mut w = World::given(&log);
    assert!(!w.agg.recount().unwrap().matches);
    // when the clerk proposes a retally and the chair approves it
    let proposal = propose(&mut w, 1, CorrectionRequest::Retally).unwrap();
    let events = approve(&mut w, proposal, 1, CorrectionRequest::Retally, &chair()).unwrap();
    // then it names what it corrects and the recount now agrees
    assert!(matches!(
        &events[1],
        SessionEvent::ResultCorrected { corrects, correction: Correction::Retally { .. }, .. }
            if corrects == "TallyRecorded.v1"
    ));
    assert!(w.agg.recount().unwrap().matches);
    assert_eq!(w.agg.phase, Phase::Announced);
}

#[test]
fn deputies_vote_when_they_are_the_constituency() {
    let mut w = World::default();
    let mut s = schedule(3, 1, ScoringPolicy::default(), 0);
    s.constituency = Constituency::Deputies;
    w.run(SessionCommand::Schedule(s)).unwrap();
    w.run(SessionCommand::RollCall {
        present: (1..=3).map(member_id).collect(),
    })
    .unwrap();
    w.run(SessionCommand::OpenVoting).unwrap();
    let cmd = CastBallot {
        member: member_id(1),
        choices: one(1, opt("satisfied")),
        ballot_id: BallotId::parse("b1").unwrap(),
    };
    assert_rejected(
        w.agg
            .cast_ballot(&cmd, &ctx("member-01", Role::CommitteeMember)),
        "needs deputy",
    );
    assert!(
        w.agg
            .cast_ballot(&cmd, &ctx("member-01", Role::Deputy))
            .is_ok()
    );
}

fn choice_strategy() -> impl Strategy<Value = Choice> {
    prop_oneof![
        4 => Just(opt("satisfied")),
        3 => Just(opt("basically_satisfied")),
        2 => Just(opt("dissatisfied")),
        1 => Just(Choice::Blank),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn recount_equals_tally_and_the_grade_is_the_integer_rule(
        members in 1usize..40,
        present_share in 51u32..=100,
        ballots in proptest::collection::vec(proptest::collection::vec(choice_strategy(), 3), 40),
        seed in any::<[u8; 32]>(),
    ) {
        check_recount_and_grade(members, present_share, ballots, seed)?;
    }
}

fn check_recount_and_grade(
    members: usize,
    present_share: u32,
    ballots: Vec<Vec<Choice>>,
    seed: [u8; 32],
) -> Result<(), TestCaseError> {
    let present = (members * present_share as usize).div_ceil(100).max(1);
    let policy = ScoringPolicy::default();
    prop_assume!(policy.quorum.is_met(present as u64, members as u64));
    let mut w = World::opened(members, present, 3, policy);
    for (m, marks) in ballots.iter().take(present).enumerate() {
        let choices = marks
            .iter()
            .enumerate()
            .map(|(s, c)| (subject(s + 1), c.clone()))
            .collect();
        w.cast(&member_id(m + 1), choices).unwrap();
    }
    let sealed = std::mem::take(&mut w.sealed);
    w.run(SessionCommand::CloseVoting {
        sealed,
        unreadable: 0,
        shuffle_seed: seed,
    })
    .unwrap();
    w.run(SessionCommand::Tally).unwrap();
    let report = recount_from_events(&w.log).unwrap();
    prop_assert!(report.matches);
    for (s, r) in w.agg.tally.as_ref().unwrap().results.iter().enumerate() {
        let count = |code: &str| {
            ballots
                .iter()
                .take(present)
                .filter(|b| b[s] == opt(code))
                .count() as u64
        };
        let (sat, basic, n) = (
            count("satisfied"),
            count("basically_satisfied"),
            members as u64,
        );
        let expected = if 2 * sat > n {
            Grade::Satisfied
        } else if 2 * (sat + basic) > n {
            Grade::BasicallySatisfied
        } else {
            Grade::Dissatisfied
        };
        prop_assert_eq!(r.grade, expected);
        prop_assert_eq!(zhenhai_grade(sat, basic, n), expected);
        prop_assert_eq!(r.cast, present as u64);
    }
    Ok(())
}

#[test]
fn debug_output_never_shows_a_member_next_to_a_choice_or_receipt() {
    let w = World::opened(3, 3, 1, ScoringPolicy::default());
    let cmd = CastBallot {
        member: member_id(1),
        choices: one(1, opt("basically_satisfied")),
        ballot_id: BallotId::parse("receipt-7f3a").unwrap(),
    };
    let out = w
        .agg
        .cast_ballot(&cmd, &ctx("member-01", Role::CommitteeMember))
        .unwrap();
    for text in [
        format!("{cmd:?}"),
        format!("{out:?}"),
        format!("{:?}", out.sealed),
    ] {
        assert!(!text.contains("basically_satisfied"), "{text}");
        assert!(!text.contains("receipt-7f3a"), "{text}");
    }
    assert!(format!("{cmd:?}").contains("member-01"));
}

#[test]
fn the_scale_on_the_ballot_is_the_frozen_one() {
    // given a four-tier policy with don't-know
    let mut policy = ScoringPolicy::four_tier();
    policy.scale.push(super::policy::dont_know_option());
    let mut w = World::opened(5, 5, 1, policy);
    // then three-tier codes are not on the scale, four-tier and don't-know are
    assert_rejected(
        w.cast(&member_id(1), one(1, opt("satisfied"))),
        "option `satisfied` is not on the scale",
    );
    for (m, code) in [
        (1, "excellent"),
        (2, "competent"),
        (3, "dont_know"),
        (4, "incompetent"),
    ] {
        w.cast(&member_id(m), one(1, opt(code))).unwrap();
    }
    w.close().unwrap();
    w.run(SessionCommand::Tally).unwrap();
    let r = &w.agg.tally.as_ref().unwrap().results[0];
    // S = 2 of N = 5 members is not a majority; valid = 3 (don't-know excluded)
    assert_eq!((r.satisfied, r.valid, r.dont_know), (2, 3, 1));
    assert_eq!(r.satisfaction_rate, Some(Ratio::new(2, 3)));
    assert_eq!(r.grade, Grade::Dissatisfied);
    assert_eq!(r.weighted_score, Some(Ratio::new(180, 3)));
}

#[derive(Debug, Clone)]
enum Op {
    RollCall(usize),
    Open,
    Cast(usize, usize),
    Close { stuff: bool, drop: bool },
    Tally,
    Announce,
    Annul,
    Retally,
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (0usize..=8).prop_map(Op::RollCall),
        1 => Just(Op::Open),
        6 => (1usize..=9, 0usize..5).prop_map(|(m, c)| Op::Cast(m, c)),
        1 => (any::<bool>(), any::<bool>()).prop_map(|(stuff, drop)| Op::Close { stuff, drop }),
        1 => Just(Op::Tally),
        1 => Just(Op::Announce),
        1 => Just(Op::Annul),
        1 => Just(Op::Retally),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_command_sequence_keeps_the_invariants(
        ops in proptest::collection::vec(op_strategy(), 0..80),
    ) {
        check_command_sequence(ops)?;
    }
}

fn check_command_sequence(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let codes = [
        opt("satisfied"),
        opt("basically_satisfied"),
        opt("dissatisfied"),
        Choice::Blank,
        opt("bogus"),
    ];
    let policy = ScoringPolicy {
        announcement: Announcement::ByClerk,
        ..ScoringPolicy::default()
    };
    // Start with voting open (6 of 8 present) so most sequences reach close and tally.
    let mut w = World::opened(8, 6, 2, policy);
    for op in ops {
        let round = w.agg.round;
        // Rejections are fine; panics and broken invariants are not.
        let _ = match op {
            Op::RollCall(k) => w
                .run(SessionCommand::RollCall {
                    present: (1..=k).map(member_id).collect(),
                })
                .map(drop),
            Op::Open => w.run(SessionCommand::OpenVoting).map(drop),
            Op::Cast(m, c) => {
                let choices = BTreeMap::from([
                    (subject(1), codes[c].clone()),
                    (subject(2), codes[(c + 1) % 4].clone()),
                ]);
                w.cast(&member_id(m), choices).map(drop)
            }
            Op::Close { stuff, drop: lose } => {
                if stuff && let Some(first) = w.sealed.first().cloned() {
                    let mut extra = first;
                    extra.ballot_id = BallotId::parse(format!("extra-{}", w.next_ballot)).unwrap();
                    w.next_ballot += 1;
                    w.sealed.push(extra);
                }
                if lose {
                    w.sealed.pop();
                }
                w.close().map(drop)
            }
            Op::Tally => w.run(SessionCommand::Tally).map(drop),
            Op::Announce => w.run(SessionCommand::Announce).map(drop),
            Op::Annul => propose(&mut w, round, CorrectionRequest::AnnulRound).and_then(|p| {
                approve(&mut w, p, round, CorrectionRequest::AnnulRound, &chair()).map(drop)
            }),
            Op::Retally => propose(&mut w, round, CorrectionRequest::Retally).and_then(|p| {
                approve(&mut w, p, round, CorrectionRequest::Retally, &chair()).map(drop)
            }),
        };
        // invariants after every step
        prop_assert_eq!(&SessionAggregate::replay(&w.log), &w.agg);
        prop_assert!(w.agg.voted.is_subset(&w.agg.present));
        prop_assert!(w.agg.published.len() as u64 <= w.agg.round_present);
        if w.agg.tally.is_some() {
            prop_assert!(w.agg.recount().unwrap().matches);
        }
    }
    Ok(())
}
