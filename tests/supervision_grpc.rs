//! `oversight.v1.Supervision` over gRPC against the real server: site visits (filed, corrected,
//! retracted, reported; incognito visibility; averages), inspections and annual plans, every
//! accepted path read back with `min_position`, rejections, roles, pagination, rebuild and
//! restart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use common::setup::{self, TestClock};
use common::{Bearer, TestServer};
use oversight::proto::list_site_visits_request::Scope as ListScope;
use oversight::proto::supervision_client::SupervisionClient;
use oversight::proto::visit_averages_request::Scope as AvgScope;
use oversight::proto::*;
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

type Client = SupervisionClient<InterceptedService<Channel, Bearer>>;

const EVIDENCE: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

/// A server at 2017-12-20 with a committee, two appointees, two deputy groups and tokens for
/// every role used below.
async fn start() -> (TestServer, Arc<TestClock>) {
    let clock = TestClock::at(2017, 12, 20);
    let dir = tempfile::tempdir().unwrap();
    setup::write_tokens(
        &dir.path().join("data"),
        &[
            ("ovs_deputy1", "deputy", "deputy-1", Some("g1"), "xf"),
            ("ovs_deputy2", "deputy", "deputy-2", Some("g2"), "xf"),
            ("ovs_clerk", "clerk", "clerk-1", None, "xf"),
            ("ovs_chair", "chair", "chair-1", None, "xf"),
            ("ovs_a1", "appointee", "a1", None, "xf"),
            ("ovs_reporter", "reporter", "press", None, "xf"),
            ("ovs_clerk_other", "clerk", "clerk-9", None, "other"),
            ("ovs_chair_other", "chair", "chair-9", None, "other"),
        ],
    );
    let server = TestServer::start_in(dir, |_| {}, Some(clock.shared())).await;
    setup::committee(&server.store(), "xf").await;
    setup::appointee(&server.store(), "xf", "a1").await;
    setup::appointee(&server.store(), "xf", "a2").await;
    setup::deputy_group(&server.store(), "xf", "g1").await;
    setup::deputy_group(&server.store(), "xf", "g2").await;
    (server, clock)
}

async fn client(server: &TestServer, token: &str) -> Client {
    SupervisionClient::with_interceptor(server.channel().await, Bearer(Some(token.into())))
}

fn at(d: u32, h: u32) -> Option<prost_types::Timestamp> {
    let t = Utc.with_ymd_and_hms(2017, 12, d, h, 0, 0).unwrap();
    Some(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

fn visit(id: &str, mode: VisitMode, day: u32, ratings: [Option<u32>; 3]) -> FileSiteVisitRequest {
    FileSiteVisitRequest {
        command_id: String::new(),
        visit_id: id.into(),
        group_id: "g1".into(),
        target_organ: "不动产登记窗口".into(),
        appointee_ids: vec!["a1".into()],
        mode: mode as i32,
        visited_at: at(day, 1),
        ratings: Some(VisitRatings {
            work_discipline: ratings[0],
            service_quality: ratings[1],
            efficiency: ratings[2],
        }),
        notes: "long queue at window 3".into(),
        evidence_sha256: vec![EVIDENCE.into()],
        correlation_id: String::new(),
    }
}

fn by_appointee(id: &str, min_position: u64) -> ListSiteVisitsRequest {
    ListSiteVisitsRequest {
        scope: Some(ListScope::AppointeeId(id.into())),
        min_position,
        ..Default::default()
    }
}

fn averages_of(id: &str, min_position: u64) -> VisitAveragesRequest {
    VisitAveragesRequest {
        scope: Some(AvgScope::AppointeeId(id.into())),
        min_position,
        ..Default::default()
    }
}

fn assert_status(
    result: Result<impl std::fmt::Debug, tonic::Status>,
    code: Code,
    needles: &[&str],
) {
    let status = result.unwrap_err();
    assert_eq!(status.code(), code, "{status:?}");
    for needle in needles {
        assert!(
            status.message().contains(needle),
            "{needle:?} not in {:?}",
            status.message()
        );
    }
}

#[tokio::test]
async fn visits_are_filed_corrected_retracted_and_averaged_exactly() {
    let (server, _clock) = start().await;
    let mut deputy = client(&server, "ovs_deputy1").await;
    let mut clerk = client(&server, "ovs_clerk").await;

    let first = deputy
        .file_site_visit(visit("v1", VisitMode::Open, 5, [Some(4), Some(5), Some(3)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.id, "v1");
    let second = deputy
        .file_site_visit(visit(
            "",
            VisitMode::RandomCheck,
            6,
            [Some(5), Some(4), None],
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!second.id.is_empty(), "a generated id is returned");
    assert!(second.position > first.position);

    let listed = clerk
        .list_site_visits(by_appointee("a1", second.position))
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<_> = listed.visits.iter().map(|v| v.visit_id.as_str()).collect();
    assert_eq!(ids, ["v1", second.id.as_str()]);
    assert_eq!(listed.visits[0].notes, "long queue at window 3");
    assert_eq!(listed.visits[0].filed_by, "deputy-1");

    // (4 + 5) / 2, (5 + 4) / 2, 3 / 1.
    let avg = clerk
        .visit_averages(averages_of("a1", second.position))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(avg.visits, 2);
    let wd = avg.work_discipline.unwrap();
    assert_eq!((wd.numerator, wd.denominator, wd.ratings), (9, 2, 2));
    assert_eq!(wd.display, "4.50");
    let ef = avg.efficiency.unwrap();
    assert_eq!((ef.numerator, ef.denominator, ef.ratings), (3, 1, 1));

    let corrected = deputy
        .correct_site_visit(CorrectSiteVisitRequest {
            command_id: String::new(),
            visit_id: "v1".into(),
            ratings: Some(VisitRatings {
                work_discipline: Some(2),
                service_quality: None,
                efficiency: None,
            }),
            notes: "corrected".into(),
            evidence_sha256: vec![],
            reason: "wrong form".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let avg = clerk
        .visit_averages(averages_of("a1", corrected.position))
        .await
        .unwrap()
        .into_inner();
    let wd = avg.work_discipline.unwrap();
    assert_eq!((wd.numerator, wd.denominator), (7, 2));

    let retracted = deputy
        .retract_site_visit(RetractSiteVisitRequest {
            command_id: String::new(),
            visit_id: second.id.clone(),
            reason: "filed twice".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let avg = clerk
        .visit_averages(averages_of("a1", retracted.position))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(avg.visits, 1);
    let wd = avg.work_discipline.unwrap();
    assert_eq!(
        (wd.numerator, wd.denominator, wd.display.as_str()),
        (2, 1, "2.00")
    );
    assert_eq!(avg.service_quality.unwrap().denominator, 0);

    // Per group and per organ; the period excludes the 5th.
    let by_group = deputy
        .list_site_visits(ListSiteVisitsRequest {
            scope: Some(ListScope::GroupId("g1".into())),
            min_position: retracted.position,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_group.visits.len(), 2);
    assert!(by_group.visits[1].retracted);
    assert_eq!(by_group.visits[0].corrections, 1);
    let by_organ = clerk
        .visit_averages(VisitAveragesRequest {
            scope: Some(AvgScope::Organ("不动产登记窗口".into())),
            committee_id: "xf".into(),
            from: at(6, 0),
            min_position: retracted.position,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_organ.visits, 0, "v1 is before the period, v2 retracted");
    let organ_list = clerk
        .list_site_visits(ListSiteVisitsRequest {
            scope: Some(ListScope::Organ("不动产登记窗口".into())),
            committee_id: "xf".into(),
            min_position: retracted.position,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(organ_list.visits.len(), 2);
    assert_status(
        clerk
            .list_site_visits(ListSiteVisitsRequest {
                scope: Some(ListScope::Organ("不动产登记窗口".into())),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        &["committee_id"],
    );
    assert_status(
        clerk
            .list_site_visits(ListSiteVisitsRequest::default())
            .await,
        Code::InvalidArgument,
        &["scope"],
    );
}

#[tokio::test]
async fn malformed_or_refused_visits_name_the_field_and_rule() {
    let (server, _clock) = start().await;
    let mut deputy = client(&server, "ovs_deputy1").await;

    let mut future = visit("f", VisitMode::Open, 21, [Some(3), None, None]);
    future.visited_at = at(21, 1);
    assert_status(
        deputy.file_site_visit(future).await,
        Code::InvalidArgument,
        &["visited_at", "future"],
    );
    assert_status(
        deputy
            .file_site_visit(visit("n", VisitMode::Open, 5, [None, None, None]))
            .await,
        Code::InvalidArgument,
        &["ratings", "at least one"],
    );
    assert_status(
        deputy
            .file_site_visit(visit("s", VisitMode::Open, 5, [Some(6), None, None]))
            .await,
        Code::InvalidArgument,
        &["ratings.work_discipline", "between 1 and 5"],
    );
    let mut bad_hash = visit("h", VisitMode::Open, 5, [Some(3), None, None]);
    bad_hash.evidence_sha256 = vec!["not-a-hash".into()];
    assert_status(
        deputy.file_site_visit(bad_hash).await,
        Code::InvalidArgument,
        &["evidence[0]", "sha-256"],
    );
    assert_status(
        deputy
            .file_site_visit(visit("a b", VisitMode::Open, 5, [Some(3), None, None]))
            .await,
        Code::InvalidArgument,
        &["visit_id", "ascii"],
    );
    let mut bad_appointee = visit("ba", VisitMode::Open, 5, [Some(3), None, None]);
    bad_appointee.appointee_ids = vec!["a1".into(), "no/slash".into()];
    assert_status(
        deputy.file_site_visit(bad_appointee).await,
        Code::InvalidArgument,
        &["appointee_ids[1]"],
    );
    let mut no_mode = visit("m", VisitMode::Open, 5, [Some(3), None, None]);
    no_mode.mode = 0;
    assert_status(
        deputy.file_site_visit(no_mode).await,
        Code::InvalidArgument,
        &["mode"],
    );
    let mut unknown_appointee = visit("u", VisitMode::Open, 5, [Some(3), None, None]);
    unknown_appointee.appointee_ids = vec!["nobody".into()];
    assert_status(
        deputy.file_site_visit(unknown_appointee).await,
        Code::NotFound,
        &["appointee nobody"],
    );
    let mut other_group = visit("o", VisitMode::Open, 5, [Some(3), None, None]);
    other_group.group_id = "g2".into();
    assert_status(
        deputy.file_site_visit(other_group).await,
        Code::PermissionDenied,
        &["g2"],
    );

    deputy
        .file_site_visit(visit("v", VisitMode::Open, 5, [Some(3), None, None]))
        .await
        .unwrap();
    deputy
        .retract_site_visit(RetractSiteVisitRequest {
            command_id: String::new(),
            visit_id: "v".into(),
            reason: "mistake".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap();
    assert_status(
        deputy
            .retract_site_visit(RetractSiteVisitRequest {
                command_id: String::new(),
                visit_id: "v".into(),
                reason: "again".into(),
                correlation_id: String::new(),
            })
            .await,
        Code::FailedPrecondition,
        &["retracted"],
    );
    assert_status(
        deputy
            .retract_site_visit(RetractSiteVisitRequest {
                command_id: String::new(),
                visit_id: "v".into(),
                reason: String::new(),
                correlation_id: String::new(),
            })
            .await,
        Code::InvalidArgument,
        &["reason"],
    );
    assert_status(
        deputy
            .retract_site_visit(RetractSiteVisitRequest {
                command_id: String::new(),
                visit_id: "missing".into(),
                reason: "x".into(),
                correlation_id: String::new(),
            })
            .await,
        Code::NotFound,
        &["visit"],
    );
    let mut other_deputy = client(&server, "ovs_deputy2").await;
    assert_status(
        other_deputy
            .list_site_visits(ListSiteVisitsRequest {
                scope: Some(ListScope::GroupId("g1".into())),
                ..Default::default()
            })
            .await,
        Code::PermissionDenied,
        &["another deputy group"],
    );
    // Roles outside the table.
    let mut reporter = client(&server, "ovs_reporter").await;
    assert_status(
        reporter.list_site_visits(by_appointee("a1", 0)).await,
        Code::PermissionDenied,
        &["reporter", "ListSiteVisits"],
    );
    let mut clerk = client(&server, "ovs_clerk").await;
    assert_status(
        clerk
            .file_site_visit(visit("c", VisitMode::Open, 5, [Some(3), None, None]))
            .await,
        Code::PermissionDenied,
        &["clerk", "FileSiteVisit"],
    );
}

#[tokio::test]
async fn an_incognito_visit_is_hidden_from_the_appointee_until_the_report() {
    let (server, _clock) = start().await;
    let mut deputy = client(&server, "ovs_deputy1").await;
    let mut appointee = client(&server, "ovs_a1").await;
    let mut clerk = client(&server, "ovs_clerk").await;

    let open = deputy
        .file_site_visit(visit("open", VisitMode::Open, 4, [Some(4), None, None]))
        .await
        .unwrap()
        .into_inner();
    let secret = deputy
        .file_site_visit(visit(
            "secret",
            VisitMode::Incognito,
            5,
            [Some(2), None, None],
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(secret.position > open.position);

    let seen = appointee
        .list_site_visits(by_appointee("a1", secret.position))
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<_> = seen.visits.iter().map(|v| v.visit_id.as_str()).collect();
    assert_eq!(ids, ["open"]);
    let avg = appointee
        .visit_averages(averages_of("a1", secret.position))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(avg.visits, 1);
    // The clerk sees both.
    let all = clerk
        .list_site_visits(by_appointee("a1", secret.position))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.visits.len(), 2);
    assert!(!all.visits[1].visible_to_appointee);
    // Another appointee's visits are not theirs to list.
    assert_status(
        appointee.list_site_visits(by_appointee("a2", 0)).await,
        Code::PermissionDenied,
        &["their own"],
    );

    let report = clerk
        .issue_visit_report(IssueVisitReportRequest {
            command_id: String::new(),
            visit_id: "secret".into(),
            report_ref: "香人常函〔2017〕12号".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let seen = appointee
        .list_site_visits(by_appointee("a1", report.position))
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<_> = seen.visits.iter().map(|v| v.visit_id.as_str()).collect();
    assert_eq!(ids, ["open", "secret"]);
    assert_eq!(seen.visits[1].report_ref, "香人常函〔2017〕12号");
    assert_status(
        clerk
            .issue_visit_report(IssueVisitReportRequest {
                command_id: String::new(),
                visit_id: "secret".into(),
                report_ref: "again".into(),
                correlation_id: String::new(),
            })
            .await,
        Code::FailedPrecondition,
        &["already been issued"],
    );
}

#[tokio::test]
async fn inspections_and_the_annual_plan() {
    let (server, _clock) = start().await;
    let mut clerk = client(&server, "ovs_clerk").await;
    let mut chair = client(&server, "ovs_chair").await;

    let plan = chair
        .adopt_annual_plan(AdoptAnnualPlanRequest {
            command_id: String::new(),
            committee_id: "xf".into(),
            year: 2018,
            laws: vec!["食品安全法".into(), "环境保护法".into()],
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(plan.id, "xf-2018");
    assert_eq!(plan.warnings.len(), 1, "{:?}", plan.warnings);
    assert!(plan.warnings[0].contains("2 laws"), "{:?}", plan.warnings);
    assert_status(
        chair
            .adopt_annual_plan(AdoptAnnualPlanRequest {
                command_id: String::new(),
                committee_id: "xf".into(),
                year: 2018,
                laws: vec!["a".into(), "b".into(), "c".into()],
                correlation_id: String::new(),
            })
            .await,
        Code::FailedPrecondition,
        &["already adopted"],
    );
    assert_status(
        clerk
            .adopt_annual_plan(AdoptAnnualPlanRequest {
                command_id: String::new(),
                committee_id: "xf".into(),
                year: 2017,
                laws: vec!["a".into()],
                correlation_id: String::new(),
            })
            .await,
        Code::PermissionDenied,
        &["clerk"],
    );
    let ok_plan = chair
        .adopt_annual_plan(AdoptAnnualPlanRequest {
            command_id: String::new(),
            committee_id: "xf".into(),
            year: 2017,
            laws: vec!["a".into(), "b".into(), "c".into()],
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ok_plan.warnings.is_empty());

    // Revising replaces the laws; outside 3–5 laws is still only a warning.
    let revise = |laws: &[&str], reason: &str| ReviseAnnualPlanRequest {
        command_id: String::new(),
        committee_id: "xf".into(),
        year: 2017,
        laws: laws.iter().map(|l| l.to_string()).collect(),
        reason: reason.into(),
        correlation_id: String::new(),
    };
    let revised = chair
        .revise_annual_plan(revise(&["a", "b", "c", "d", "e", "f"], "主任会议调整"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(revised.id, "xf-2017");
    assert!(revised.position > ok_plan.position);
    assert_eq!(revised.warnings.len(), 1, "{:?}", revised.warnings);
    assert!(
        revised.warnings[0].contains("6 laws") && revised.warnings[0].contains("3 to 5"),
        "{:?}",
        revised.warnings
    );
    let shown = clerk
        .get_annual_plan(GetAnnualPlanRequest {
            committee_id: "xf".into(),
            year: 2017,
            min_position: revised.position,
        })
        .await
        .unwrap()
        .into_inner();
    // The adoption and the revision, with the reason and who decided each.
    let decided_by = shown
        .changes
        .first()
        .map(|c| c.decided_by.clone())
        .unwrap_or_default();
    assert!(!decided_by.is_empty(), "{shown:?}");
    let change =
        |kind: AnnualPlanChangeKind, laws: &[&str], reason: &str, position| AnnualPlanChange {
            kind: kind.into(),
            laws: laws.iter().map(|l| l.to_string()).collect(),
            reason: reason.into(),
            decided_by: decided_by.clone(),
            position,
        };
    assert_eq!(
        shown,
        AnnualPlanRecord {
            committee_id: "xf".into(),
            year: 2017,
            laws: vec![
                "a".into(),
                "b".into(),
                "c".into(),
                "d".into(),
                "e".into(),
                "f".into()
            ],
            warnings: revised.warnings.clone(),
            changes: vec![
                change(
                    AnnualPlanChangeKind::Adopted,
                    &["a", "b", "c"],
                    "",
                    ok_plan.position
                ),
                change(
                    AnnualPlanChangeKind::Revised,
                    &["a", "b", "c", "d", "e", "f"],
                    "主任会议调整",
                    revised.position
                ),
            ],
        }
    );
    let back = chair
        .revise_annual_plan(revise(&["a", "b", "d"], "恢复"))
        .await
        .unwrap()
        .into_inner();
    assert!(back.warnings.is_empty(), "{:?}", back.warnings);
    let shown = clerk
        .get_annual_plan(GetAnnualPlanRequest {
            committee_id: "xf".into(),
            year: 2017,
            min_position: back.position,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(shown.laws, ["a", "b", "d"]);
    assert!(shown.warnings.is_empty());
    assert_eq!(
        shown.changes.last(),
        Some(&change(
            AnnualPlanChangeKind::Revised,
            &["a", "b", "d"],
            "恢复",
            back.position
        ))
    );
    assert_eq!(shown.changes.len(), 3);
    // Rejections: unchanged laws, no reason, a year never adopted, a clerk, another committee.
    assert_status(
        chair
            .revise_annual_plan(revise(&["a", "b", "d"], "同上"))
            .await,
        Code::FailedPrecondition,
        &["unchanged"],
    );
    assert_status(
        chair.revise_annual_plan(revise(&["a", "b", "c"], "")).await,
        Code::InvalidArgument,
        &["reason"],
    );
    let mut never = revise(&["a", "b", "c"], "新增");
    never.year = 2016;
    assert_status(
        chair.revise_annual_plan(never).await,
        Code::NotFound,
        &["annual plan"],
    );
    assert_status(
        clerk
            .revise_annual_plan(revise(&["a", "b", "c"], "调整"))
            .await,
        Code::PermissionDenied,
        &["clerk"],
    );
    let mut other_chair = client(&server, "ovs_chair_other").await;
    assert_status(
        other_chair
            .revise_annual_plan(revise(&["a", "b", "c"], "调整"))
            .await,
        Code::PermissionDenied,
        &["other"],
    );
    let mut other_clerk = client(&server, "ovs_clerk_other").await;
    assert_status(
        other_clerk
            .get_annual_plan(GetAnnualPlanRequest {
                committee_id: "xf".into(),
                year: 2017,
                min_position: back.position,
            })
            .await,
        Code::PermissionDenied,
        &[],
    );
    assert_status(
        clerk
            .get_annual_plan(GetAnnualPlanRequest {
                committee_id: "xf".into(),
                year: 2016,
                min_position: back.position,
            })
            .await,
        Code::NotFound,
        &["no annual plan for 2016"],
    );
    // The unchanged revision wrote nothing: the plan is as `back` left it.
    let again = clerk
        .get_annual_plan(GetAnnualPlanRequest {
            committee_id: "xf".into(),
            year: 2017,
            min_position: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.laws, ["a", "b", "d"]);

    let opened = clerk
        .open_inspection(OpenInspectionRequest {
            command_id: String::new(),
            inspection_id: "food-2017".into(),
            committee_id: "xf".into(),
            kind: InspectionKind::LawEnforcement as i32,
            title: "《食品安全法》执法检查".into(),
            law_reference: Some("食品安全法".into()),
            year: 2017,
            organs: vec!["区食药监局".into()],
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_status(
        clerk
            .open_inspection(OpenInspectionRequest {
                command_id: String::new(),
                inspection_id: "x".into(),
                committee_id: "xf".into(),
                kind: InspectionKind::LawEnforcement as i32,
                title: "t".into(),
                law_reference: None,
                year: 2017,
                organs: vec!["o".into()],
                correlation_id: String::new(),
            })
            .await,
        Code::InvalidArgument,
        &["law_reference", "required"],
    );
    // A clerk acts only on their own committee, whether or not another exists; an admin is
    // told that it does not.
    let mut admin = client(&server, "ovs_admin").await;
    assert_status(
        clerk
            .open_inspection(OpenInspectionRequest {
                command_id: String::new(),
                inspection_id: "y".into(),
                committee_id: "nowhere".into(),
                kind: InspectionKind::DeputiesView as i32,
                title: "t".into(),
                law_reference: None,
                year: 2017,
                organs: vec!["o".into()],
                correlation_id: String::new(),
            })
            .await,
        Code::PermissionDenied,
        &["committee nowhere"],
    );
    assert_status(
        admin
            .open_inspection(OpenInspectionRequest {
                command_id: String::new(),
                inspection_id: "y".into(),
                committee_id: "nowhere".into(),
                kind: InspectionKind::DeputiesView as i32,
                title: "t".into(),
                law_reference: None,
                year: 2017,
                organs: vec!["o".into()],
                correlation_id: String::new(),
            })
            .await,
        Code::NotFound,
        &["committee nowhere"],
    );
    let got = clerk
        .get_inspection(GetInspectionRequest {
            inspection_id: "food-2017".into(),
            min_position: opened.position,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.title, "《食品安全法》执法检查");
    assert!(got.report.is_none());

    let reported = clerk
        .record_inspection_report(RecordInspectionReportRequest {
            command_id: String::new(),
            inspection_id: "food-2017".into(),
            evaluation: "basically sound".into(),
            problems: vec!["weak rural oversight".into()],
            suggestions: vec!["more inspectors".into()],
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let got = clerk
        .get_inspection(GetInspectionRequest {
            inspection_id: "food-2017".into(),
            min_position: reported.position,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.report.unwrap().problems, ["weak rural oversight"]);
    let listed = clerk
        .list_inspections(ListInspectionsRequest {
            committee_id: "xf".into(),
            year: 2017,
            min_position: reported.position,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.inspections.len(), 1);
    let none = clerk
        .list_inspections(ListInspectionsRequest {
            committee_id: "xf".into(),
            year: 2016,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(none.inspections.is_empty());
    assert_status(
        clerk
            .get_inspection(GetInspectionRequest {
                inspection_id: "missing".into(),
                min_position: 0,
            })
            .await,
        Code::NotFound,
        &["inspection missing"],
    );
}

async fn snapshot(
    server: &TestServer,
    min_position: u64,
) -> (Vec<SiteVisit>, VisitAveragesReply, ListInspectionsReply) {
    let mut clerk = client(server, "ovs_clerk").await;
    let mut visits = Vec::new();
    let mut token = String::new();
    loop {
        let page = clerk
            .list_site_visits(ListSiteVisitsRequest {
                scope: Some(ListScope::GroupId("g1".into())),
                page_size: 3,
                page_token: token.clone(),
                min_position,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        visits.extend(page.visits);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let averages = clerk
        .visit_averages(averages_of("a1", min_position))
        .await
        .unwrap()
        .into_inner();
    let inspections = clerk
        .list_inspections(ListInspectionsRequest {
            committee_id: "xf".into(),
            min_position,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    (visits, averages, inspections)
}

#[tokio::test]
async fn pages_have_no_gaps_or_duplicates_and_views_rebuild_and_survive_a_restart() {
    let (server, _clock) = start().await;
    let mut deputy = client(&server, "ovs_deputy1").await;
    let mut clerk = client(&server, "ovs_clerk").await;
    let mut last = 0;
    let mut expected = Vec::new();
    for i in 0..8u32 {
        let id = format!("v{i}");
        let mode = if i % 3 == 0 {
            VisitMode::Incognito
        } else {
            VisitMode::Open
        };
        let reply = deputy
            .file_site_visit(visit(&id, mode, 1 + i, [Some(1 + i % 5), Some(3), None]))
            .await
            .unwrap()
            .into_inner();
        last = reply.position;
        expected.push(id);
    }
    last = last.max(
        clerk
            .open_inspection(OpenInspectionRequest {
                command_id: String::new(),
                inspection_id: "i1".into(),
                committee_id: "xf".into(),
                kind: InspectionKind::CompetenceCheck as i32,
                title: "competence".into(),
                law_reference: None,
                year: 2017,
                organs: vec!["court".into()],
                correlation_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .position,
    );

    let before = snapshot(&server, last).await;
    let ids: Vec<_> = before.0.iter().map(|v| v.visit_id.clone()).collect();
    assert_eq!(ids, expected, "pages in visit order, no gap, no duplicate");
    assert_status(
        clerk
            .list_site_visits(ListSiteVisitsRequest {
                scope: Some(ListScope::GroupId("g1".into())),
                page_token: "zz".into(),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        &["page_token"],
    );

    setup::rebuild_view(&server, "visits").await;
    setup::rebuild_view(&server, "inspections").await;
    assert_eq!(
        snapshot(&server, last).await,
        before,
        "rebuild equals incremental"
    );

    let server = server.restart(None).await;
    assert_eq!(
        snapshot(&server, last).await,
        before,
        "views survive a restart"
    );
}

#[tokio::test]
async fn another_committees_principals_cannot_plan_open_or_report_its_inspections() {
    let (server, _clock) = start().await;
    let mut clerk = client(&server, "ovs_clerk").await;
    let mut other = client(&server, "ovs_clerk_other").await;
    let mut other_chair = client(&server, "ovs_chair_other").await;
    let open = |id: &str| OpenInspectionRequest {
        command_id: String::new(),
        inspection_id: id.into(),
        committee_id: "xf".into(),
        kind: InspectionKind::LawEnforcement as i32,
        title: "《食品安全法》执法检查".into(),
        law_reference: Some("食品安全法".into()),
        year: 2017,
        organs: vec!["区食药监局".into()],
        correlation_id: String::new(),
    };
    let head = server.store().head().await.unwrap().position;
    assert_status(
        other.open_inspection(open("food-x")).await,
        Code::PermissionDenied,
        &["committee xf"],
    );
    assert_status(
        other_chair
            .adopt_annual_plan(AdoptAnnualPlanRequest {
                command_id: String::new(),
                committee_id: "xf".into(),
                year: 2018,
                laws: vec!["a".into(), "b".into(), "c".into()],
                correlation_id: String::new(),
            })
            .await,
        Code::PermissionDenied,
        &["committee xf"],
    );
    assert_eq!(server.store().head().await.unwrap().position, head);

    clerk.open_inspection(open("food-2017")).await.unwrap();
    let head = server.store().head().await.unwrap().position;
    assert_status(
        other
            .record_inspection_report(RecordInspectionReportRequest {
                inspection_id: "food-2017".into(),
                evaluation: "good".into(),
                ..Default::default()
            })
            .await,
        Code::PermissionDenied,
        &["committee xf"],
    );
    assert_eq!(server.store().head().await.unwrap().position, head);
}

/// `VisitAverages` and `ListSiteVisits` over a period take a visit at its `from` to the
/// nanosecond and none at its `to`, for every scope, with the visits outside it left out (read by
/// a range of the index); a list of a period pages through it one visit at a time.
#[tokio::test]
async fn averages_and_lists_over_a_period_take_its_start_to_the_nanosecond_and_not_its_end() {
    let (server, _clock) = start().await;
    let mut deputy = client(&server, "ovs_deputy1").await;
    let mut clerk = client(&server, "ovs_clerk").await;
    let ts = |day: u32, nanos: i32| {
        at(day, 1).map(|t| prost_types::Timestamp {
            seconds: t.seconds,
            nanos,
        })
    };
    let mut last = 0;
    // Rated 1 on the 3rd, 2 on the 4th, 3 on the 5th, 4 on the 6th (at 01:00 plus 0 or 1 ns).
    for (id, day, nanos, rating) in [
        ("v3", 3, 0, 1),
        ("v4", 4, 1, 2),
        ("v5", 5, 0, 3),
        ("v6", 6, 0, 4),
    ] {
        let mut request = visit(id, VisitMode::Open, day, [Some(rating), None, None]);
        request.visited_at = ts(day, nanos);
        last = deputy
            .file_site_visit(request)
            .await
            .unwrap()
            .into_inner()
            .position;
    }
    let scopes = [
        (AvgScope::AppointeeId("a1".into()), ""),
        (AvgScope::GroupId("g1".into()), ""),
        (AvgScope::Organ("不动产登记窗口".into()), "xf"),
    ];
    let list_scopes = [
        (ListScope::AppointeeId("a1".into()), ""),
        (ListScope::GroupId("g1".into()), ""),
        (ListScope::Organ("不动产登记窗口".into()), "xf"),
    ];
    for (scope, committee) in list_scopes {
        let mut list = async |from, to| {
            let (mut ids, mut token, mut pages) = (Vec::new(), String::new(), 0);
            loop {
                let page = clerk
                    .list_site_visits(ListSiteVisitsRequest {
                        scope: Some(scope.clone()),
                        committee_id: committee.into(),
                        page_size: 1,
                        page_token: token,
                        min_position: last,
                        from,
                        to,
                    })
                    .await
                    .unwrap()
                    .into_inner();
                ids.extend(page.visits.into_iter().map(|v| v.visit_id));
                pages += 1;
                assert!(pages < 10, "{scope:?}: the pages do not end");
                if page.next_page_token.is_empty() {
                    return ids;
                }
                token = page.next_page_token;
            }
        };
        assert_eq!(list(ts(4, 1), ts(6, 0)).await, ["v4", "v5"], "{scope:?}");
        assert_eq!(list(ts(4, 2), ts(6, 0)).await, ["v5"], "{scope:?}");
        assert_eq!(list(ts(4, 0), ts(4, 2)).await, ["v4"], "{scope:?}");
        assert_eq!(list(None, ts(5, 0)).await, ["v3", "v4"], "{scope:?}");
        assert_eq!(list(ts(5, 0), None).await, ["v5", "v6"], "{scope:?}");
        assert_eq!(
            list(None, None).await,
            ["v3", "v4", "v5", "v6"],
            "{scope:?}"
        );
        assert!(list(ts(5, 0), ts(5, 0)).await.is_empty(), "{scope:?}");
        assert!(list(ts(6, 0), ts(3, 0)).await.is_empty(), "{scope:?}");
    }
    for (scope, committee) in scopes {
        let mut average = async |from, to| {
            let reply = clerk
                .visit_averages(VisitAveragesRequest {
                    scope: Some(scope.clone()),
                    committee_id: committee.into(),
                    from,
                    to,
                    min_position: last,
                })
                .await
                .unwrap()
                .into_inner();
            let wd = reply.work_discipline.unwrap();
            (reply.visits, wd.numerator, wd.denominator)
        };
        // [4th 01:00:00.000000001, 6th 01:00): v4 (its exact moment) and v5.
        assert_eq!(average(ts(4, 1), ts(6, 0)).await, (2, 5, 2), "{scope:?}");
        // One nanosecond later, v4 is out; v6 at `to` is never in.
        assert_eq!(average(ts(4, 2), ts(6, 0)).await, (1, 3, 1), "{scope:?}");
        // `to` one nanosecond after v4: v4 alone.
        assert_eq!(average(ts(4, 0), ts(4, 2)).await, (1, 2, 1), "{scope:?}");
        // Open-ended on either side.
        assert_eq!(average(None, ts(5, 0)).await, (2, 3, 2), "{scope:?}");
        assert_eq!(average(ts(5, 0), None).await, (2, 7, 2), "{scope:?}");
        assert_eq!(average(None, None).await, (4, 5, 2), "{scope:?}");
        // An empty or inverted period counts nothing.
        assert_eq!(average(ts(5, 0), ts(5, 0)).await, (0, 0, 0), "{scope:?}");
        assert_eq!(average(ts(6, 0), ts(3, 0)).await, (0, 0, 0), "{scope:?}");
    }
}
