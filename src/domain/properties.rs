//! Property tests over whole command sequences, deepest for the committee, the site visit and the
//! finding (the aggregates with the richest state), lighter for the appointee, the annual plan and
//! stakeholder feedback:
//! * folding the accepted events one decision at a time gives the same state as
//!   `replay(all events)` — so a handler that caches state and one that rebuilds it agree;
//! * every recorded event survives its JSON round trip, tagged with its own `event_type()`;
//! * `decide` never panics, whatever the input: arbitrary text, dates at the ends of the
//!   calendar, ratings off any scale, broken policies, missing or foreign references.
//!
//! Commands are drawn from small pools of ids, actors and values so that many of them are
//! accepted and the sequences reach deep states (assigned, answered, reopened, closed …), with
//! arbitrary values mixed in so that rejections are exercised too.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use proptest::prelude::*;

use super::annual_plan::{AnnualPlan, AnnualPlanCommand};
use super::appointee::{Appointee, AppointeeCommand, OrganKind, TermEndKind};
use super::committee::{Committee, CommitteeCommand, CommitteeLevel};
use super::finding::{
    Explanation, Finding, FindingCommand, FindingSource, Rectification, Severity, Verdict,
};
use super::hearing::{FeedbackCommand, FeedbackMethod, FeedbackSource, StakeholderFeedback};
use super::ids::{
    AppointeeId, CommitteeId, DeputyGroupId, FeedbackId, FindingId, MemberId, VisitId,
};
use super::lookup::{
    AppointeeFacts, AppointeeRef, CommitteeFacts, CommitteeRef, DeputyGroupFacts, DeputyGroupRef,
};
use super::supervision_policy::SupervisionPolicy;
use super::visit::{Ratings, Visit, VisitCommand, VisitMode};
use super::{Aggregate, Context, DomainEvent};

// --- shared strategies ---

fn moment() -> impl Strategy<Value = DateTime<Utc>> {
    prop_oneof![
        // Mostly around the seed's time, so dates interact (due dates, visits, extensions) …
        4 => (0i64..3 * 365 * 24).prop_map(|h| {
            DateTime::from_timestamp(1_483_228_800, 0).unwrap_or_default() + Duration::hours(h)
        }),
        // … and sometimes anywhere chrono can represent, to reach the calendar's ends.
        1 => (-8_000_000_000_000i64..8_000_000_000_000)
            .prop_map(|s| DateTime::from_timestamp(s, 0).unwrap_or_default()),
    ]
}

fn date() -> impl Strategy<Value = NaiveDate> {
    prop_oneof![
        4 => (0i64..3 * 365).prop_map(|d| {
            NaiveDate::from_ymd_opt(2017, 1, 1).unwrap_or_default() + Duration::days(d)
        }),
        1 => prop_oneof![Just(NaiveDate::MIN), Just(NaiveDate::MAX)],
    ]
}

fn context() -> impl Strategy<Value = Context> {
    (
        moment(),
        prop::sample::select(vec!["clerk-1", "clerk-2", "organ-1", "organ-2"]),
    )
        .prop_map(|(now, actor)| Context {
            now,
            actor: actor.into(),
            role: crate::domain::Role::Clerk,
        })
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => Just("有效的文字".to_string()),
        1 => Just(String::new()),
        1 => ".{0,30}",
    ]
}

fn policy() -> impl Strategy<Value = SupervisionPolicy> {
    prop_oneof![
        10 => Just(SupervisionPolicy::default()),
        1 => (0u8..8, 0u8..8, 0u32..200, -900i32..900).prop_map(|(min, max, months, offset)| {
            SupervisionPolicy {
                visit_rating_min: min,
                visit_rating_max: max,
                finding_due_months: months,
                utc_offset_minutes: offset,
                ..Default::default()
            }
        }),
    ]
}

fn committee_id() -> CommitteeId {
    CommitteeId::parse("xiangfang").unwrap()
}

fn committee_ref() -> impl Strategy<Value = CommitteeRef> {
    prop_oneof![
        10 => Just(CommitteeRef::found(committee_id(), CommitteeFacts { level: CommitteeLevel::City })),
        1 => Just(CommitteeRef::missing(committee_id())),
    ]
}

fn appointee_ref() -> impl Strategy<Value = AppointeeRef> {
    let valid = prop::sample::select(vec!["a1", "a2"]).prop_map(|id| {
        AppointeeRef::found(
            AppointeeId::parse(id).unwrap(),
            AppointeeFacts {
                committee: committee_id(),
                in_office: true,
            },
        )
    });
    let any_ref = (
        prop::sample::select(vec!["a1", "a2"]),
        prop::sample::select(vec!["xiangfang", "daowai"]),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(id, committee, exists, in_office)| {
            let id = AppointeeId::parse(id).unwrap();
            if exists {
                AppointeeRef::found(
                    id,
                    AppointeeFacts {
                        committee: CommitteeId::parse(committee).unwrap(),
                        in_office,
                    },
                )
            } else {
                AppointeeRef::missing(id)
            }
        });
    prop_oneof![8 => valid, 1 => any_ref]
}

// --- committee ---

fn committee_command() -> impl Strategy<Value = CommitteeCommand> {
    let member =
        prop::sample::select(vec!["m1", "m2", "m3"]).prop_map(|m| MemberId::parse(m).unwrap());
    prop_oneof![
        1 => (committee_ref(), text(), prop::sample::select(vec![
            CommitteeLevel::City, CommitteeLevel::District, CommitteeLevel::County, CommitteeLevel::Township,
        ]), any::<bool>())
            .prop_map(|(parent, name, level, has_parent)| CommitteeCommand::Create {
                id: CommitteeId::parse("c1").unwrap(),
                name,
                level,
                parent: has_parent.then_some(parent),
            }),
        3 => (member.clone(), text(), date(), prop::option::of(date()))
            .prop_map(|(member, name, from, to)| CommitteeCommand::AddMember { member, name, from, to }),
        2 => (member, date()).prop_map(|(member, to)| CommitteeCommand::RemoveMember { member, to }),
    ]
}

// --- visit ---

fn ratings() -> impl Strategy<Value = Ratings> {
    let rating = prop::option::of(prop_oneof![8 => 1u8..=5, 1 => any::<u8>()]);
    (rating.clone(), rating.clone(), rating).prop_map(|(w, s, e)| Ratings {
        work_discipline: w,
        service_quality: s,
        efficiency: e,
    })
}

fn evidence() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(
        prop_oneof![
            10 => prop::sample::select(vec!["a", "b", "c"]).prop_map(|c| c.repeat(64)),
            1 => ".{0,70}",
        ],
        0..3,
    )
}

fn visit_command() -> impl Strategy<Value = VisitCommand> {
    let group = prop_oneof![
        10 => Just(DeputyGroupRef::found(
            DeputyGroupId::parse("g1").unwrap(),
            DeputyGroupFacts { committee: committee_id() },
        )),
        1 => Just(DeputyGroupRef::missing(DeputyGroupId::parse("g1").unwrap())),
    ];
    prop_oneof![
        2 => (group, text(), prop::collection::vec(appointee_ref(), 0..3),
              prop::sample::select(vec![VisitMode::Incognito, VisitMode::RandomCheck, VisitMode::TrialAttendance, VisitMode::Open]),
              moment(), ratings(), text(), evidence(), policy())
            .prop_map(|(group, target_organ, appointees, mode, visited_at, ratings, notes, evidence, policy)| {
                VisitCommand::File {
                    id: VisitId::parse("v1").unwrap(),
                    group, target_organ, appointees, mode, visited_at, ratings, notes, evidence, policy,
                }
            }),
        2 => (ratings(), text(), evidence(), text(), policy())
            .prop_map(|(ratings, notes, evidence, reason, policy)| VisitCommand::Correct { ratings, notes, evidence, reason, policy }),
        1 => text().prop_map(|reason| VisitCommand::Retract { reason }),
        2 => text().prop_map(|report_ref| VisitCommand::IssueReport { report_ref }),
    ]
}

// --- finding ---

fn finding_command() -> impl Strategy<Value = FindingCommand> {
    let explanation = prop::option::of(prop::sample::select(vec![
        Explanation::None,
        Explanation::Explained,
    ]));
    let rectification = prop::option::of(prop::sample::select(vec![
        Rectification::None,
        Rectification::Required,
        Rectification::InProgress,
        Rectification::Done,
        Rectification::NotDone,
        Rectification::Ongoing,
    ]));
    prop_oneof![
        1 => (committee_ref(), text(), text(), prop::option::of(appointee_ref()), text(), any::<bool>(), policy(),
              prop::sample::select(vec![FindingSource::Inspection, FindingSource::Visit, FindingSource::View,
                  FindingSource::Opinion, FindingSource::BudgetDoubt, FindingSource::Audit]),
              prop::sample::select(vec![Severity::Minor, Severity::Moderate, Severity::Serious]))
            .prop_map(|(committee, source_ref, organ, appointee, description, rectification_required, policy, source, severity)| {
                FindingCommand::Raise {
                    id: FindingId::parse("f1").unwrap(),
                    committee, source, source_ref, organ, appointee, severity, description,
                    rectification_required, raised_on: None, policy,
                }
            }),
        2 => (text(), prop::option::of(date()), policy())
            .prop_map(|(assignee, due_on, policy)| FindingCommand::Assign { assignee, due_on, policy }),
        1 => (date(), text(), text())
            .prop_map(|(due_on, approved_by, reason)| FindingCommand::ExtendDeadline { due_on, approved_by, reason }),
        3 => (explanation, rectification, text())
            .prop_map(|(explanation, rectification, note)| FindingCommand::Respond { explanation, rectification, note }),
        2 => prop_oneof![Just(Verdict::Accept), text().prop_map(|reason| Verdict::Reject { reason })]
            .prop_map(|verdict| FindingCommand::Verify { verdict }),
    ]
}

/// Finding sequences: most start with a valid raise, so that the random tail reaches assignment,
/// answers, extensions and verification rather than bouncing off "finding does not exist".
fn finding_steps() -> impl Strategy<Value = Vec<(FindingCommand, Context)>> {
    (
        prop::bool::weighted(0.8),
        context(),
        prop::collection::vec((finding_command(), context()), 0..30),
    )
        .prop_map(|(start, ctx, mut steps)| {
            if start {
                let raise = FindingCommand::Raise {
                    id: FindingId::parse("f1").unwrap(),
                    committee: CommitteeRef::found(
                        committee_id(),
                        CommitteeFacts {
                            level: CommitteeLevel::District,
                        },
                    ),
                    source: FindingSource::BudgetDoubt,
                    source_ref: "疑点-1".into(),
                    organ: "财政局".into(),
                    appointee: None,
                    severity: Severity::Minor,
                    description: "无依据拨付".into(),
                    rectification_required: true,
                    raised_on: None,
                    policy: SupervisionPolicy::default(),
                };
                steps.insert(0, (raise, ctx));
            }
            steps
        })
}

// --- the remaining aggregates: arbitrary commands, checked for panics and replay ---

fn appointee_command() -> impl Strategy<Value = AppointeeCommand> {
    let kind = prop::sample::select(vec![
        TermEndKind::Removal,
        TermEndKind::Resignation,
        TermEndKind::Transfer,
        TermEndKind::TermEnd,
    ]);
    prop_oneof![
        1 => (committee_ref(), text(), text(), text(), date(), text()).prop_map(
            |(committee, name, post, organ_name, appointed_on, appointing_meeting)| {
                AppointeeCommand::Register {
                    id: AppointeeId::parse("a1").unwrap(),
                    committee,
                    name,
                    post,
                    organ_kind: OrganKind::Court,
                    organ_name,
                    appointed_on,
                    appointing_meeting,
                }
            }
        ),
        2 => (prop::sample::select(vec!["院长", "副院长"]), prop::option::of(text()), date(), text())
            .prop_map(|(post, organ_name, on, appointing_meeting)| AppointeeCommand::ChangePost {
                post: post.into(),
                organ_name,
                on,
                appointing_meeting,
            }),
        1 => (kind, date(), text()).prop_map(|(kind, on, reason)| AppointeeCommand::EndTerm { kind, on, reason }),
    ]
}

fn annual_plan_command() -> impl Strategy<Value = AnnualPlanCommand> {
    let laws = prop::collection::vec(
        prop_oneof![8 => prop::sample::select(vec!["食品安全法", "环境保护法", "道路交通安全法", "义务教育法", "消防法", "禁毒法"]).prop_map(String::from), 1 => ".{0,10}"],
        0..8,
    );
    prop_oneof![
        1 => (committee_ref(), -3000i32..3000, laws.clone(), policy())
            .prop_map(|(committee, year, laws, policy)| AnnualPlanCommand::Adopt { committee, year, laws, policy }),
        2 => (laws, text(), policy()).prop_map(|(laws, reason, policy)| AnnualPlanCommand::Revise { laws, reason, policy }),
    ]
}

fn feedback_command() -> impl Strategy<Value = FeedbackCommand> {
    let counts = prop::collection::btree_map(
        prop_oneof![
            8 => prop::sample::select(vec!["satisfied", "basically_satisfied", "dissatisfied"]).prop_map(String::from),
            1 => ".{0,10}",
        ],
        any::<u32>(),
        0..4,
    );
    prop_oneof![
        2 => (appointee_ref(), text(), any::<u32>(), counts, text(), any::<bool>(), policy(),
              prop::sample::select(vec![FeedbackMethod::Forum, FeedbackMethod::Survey, FeedbackMethod::Interview]),
              prop::sample::select(vec![FeedbackSource::ServiceRecipients, FeedbackSource::Staff]))
            .prop_map(|(appointee, session_ref, participants, counts, summary, confidential, policy, method, source)| {
                FeedbackCommand::Record {
                    id: FeedbackId::parse("fb1").unwrap(),
                    appointee, session_ref, source, method, participants, counts, summary, confidential, policy,
                }
            }),
        1 => text().prop_map(|reason| FeedbackCommand::Retract { reason }),
    ]
}

// --- the properties ---

/// Decides each command against the running state; returns the state folded incrementally and
/// every accepted event in order.
fn run<A: Aggregate>(steps: &[(A::Command, Context)]) -> (A, Vec<A::Event>) {
    let mut state = A::default();
    let mut log = Vec::new();
    for (command, ctx) in steps {
        if let Ok(events) = state.decide(command, ctx) {
            assert!(!events.is_empty(), "an accepted command records something");
            for event in events {
                state.apply(&event);
                log.push(event);
            }
        }
    }
    (state, log)
}

fn round_trips<E: DomainEvent + PartialEq>(log: &[E]) {
    for event in log {
        let json = serde_json::to_value(event).unwrap();
        assert_eq!(json["type"], event.event_type());
        assert!(event.event_type().ends_with(".v1"));
        assert_eq!(&serde_json::from_value::<E>(json).unwrap(), event);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn committee_replay_equals_incremental_state(
        steps in prop::collection::vec((committee_command(), context()), 0..25)
    ) {
        let (state, log) = run::<Committee>(&steps);
        prop_assert_eq!(Committee::replay(&log), state);
        round_trips(&log);
    }

    #[test]
    fn visit_replay_equals_incremental_state(
        steps in prop::collection::vec((visit_command(), context()), 0..25)
    ) {
        let (state, log) = run::<Visit>(&steps);
        prop_assert_eq!(Visit::replay(&log), state);
        round_trips(&log);
    }

    #[test]
    fn finding_replay_equals_incremental_state(
        steps in finding_steps()
    ) {
        let (state, log) = run::<Finding>(&steps);
        let replayed = Finding::replay(&log);
        prop_assert_eq!(&replayed, &state);
        round_trips(&log);
        // Derived answers agree too, and never panic at any clock.
        for (_, ctx) in &steps {
            prop_assert_eq!(replayed.is_overdue(ctx.now), state.is_overdue(ctx.now));
            let _ = state.is_due_soon(ctx.now, &SupervisionPolicy::default());
        }
    }

    #[test]
    fn a_closed_finding_was_verified_by_someone_who_never_responded(
        steps in finding_steps()
    ) {
        let (_, log) = run::<Finding>(&steps);
        let mut responders = std::collections::BTreeSet::new();
        for event in &log {
            match event {
                super::finding::FindingEvent::Responded { responded_by, .. } => {
                    responders.insert(responded_by.clone());
                }
                super::finding::FindingEvent::Closed { verified_by, .. }
                | super::finding::FindingEvent::Reopened { verified_by, .. } => {
                    prop_assert!(!responders.contains(verified_by));
                }
                _ => {}
            }
        }
    }

    #[test]
    fn appointee_replay_equals_incremental_state(
        steps in prop::collection::vec((appointee_command(), context()), 0..20)
    ) {
        let (state, log) = run::<Appointee>(&steps);
        prop_assert_eq!(Appointee::replay(&log), state);
        round_trips(&log);
    }

    #[test]
    fn annual_plan_replay_equals_incremental_state(
        steps in prop::collection::vec((annual_plan_command(), context()), 0..15)
    ) {
        let (state, log) = run::<AnnualPlan>(&steps);
        prop_assert_eq!(AnnualPlan::replay(&log), state);
        round_trips(&log);
    }

    #[test]
    fn feedback_replay_equals_incremental_state(
        steps in prop::collection::vec((feedback_command(), context()), 0..10)
    ) {
        let (state, log) = run::<StakeholderFeedback>(&steps);
        prop_assert_eq!(StakeholderFeedback::replay(&log), state);
        round_trips(&log);
    }
}
