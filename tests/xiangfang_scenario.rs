//! A full Xiangfang-style scenario over gRPC against the real server (issue 3, Tests): a district
//! committee under its city, six appointees over the three organ kinds, two deputy groups,
//! incognito and open site visits (三看), an annual plan and an inspection whose findings are
//! walked through both facets, an extension, a rejected and an accepted verification (三查), a
//! duty report and stakeholder feedback (三听). Every command is sent with the role that does it in
//! practice, and every view is read back with `min_position` = the position the command returned.
//! The clock is the test's own, moved by hand to judge overdue and due-soon findings.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{TimeZone, Utc};
use common::setup::TestClock;
use common::{Bearer, TestServer, TokenSpec};
use oversight::proto::finding_scope::Scope as FindScope;
use oversight::proto::findings_client::FindingsClient;
use oversight::proto::list_site_visits_request::Scope as VisitScope;
use oversight::proto::supervision_client::SupervisionClient;
use oversight::proto::visit_averages_request::Scope as AvgScope;
use oversight::proto::*;
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

type Supervision = SupervisionClient<InterceptedService<Channel, Bearer>>;
type Findings = FindingsClient<InterceptedService<Channel, Bearer>>;

const XF: &str = "xiangfang";
const SESSION: &str = "香坊区十六届人大常委会第八次会议履职测评";

// Appointees: three of the government, two of the court, one of the procuratorate.
const PSB: &str = "xf-psb-director";
const GOV_SERVICE: &str = "xf-service-centre-director";
const HOUSING: &str = "xf-housing-director";
const COURT_VP: &str = "xf-court-vice-president";
const COURT_JUDGE: &str = "xf-court-criminal-judge";
const PROCURATOR: &str = "xf-deputy-procurator";

const PSB_ORGAN: &str = "哈尔滨市公安局香坊分局";
const COURT_ORGAN: &str = "哈尔滨市香坊区人民法院";
const PROC_ORGAN: &str = "哈尔滨市香坊区人民检察院";

const PHOTO: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const REPORT_DOC: &str = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";

fn tokens() -> Vec<TokenSpec> {
    vec![
        TokenSpec {
            subject: "clerk-zhao",
            ..TokenSpec::new("ovs_clerk", "clerk", Some(XF))
        },
        TokenSpec {
            subject: "chair-sun",
            ..TokenSpec::new("ovs_chair", "chair", Some(XF))
        },
        TokenSpec {
            subject: "member-qian",
            ..TokenSpec::new("ovs_member", "committee_member", Some(XF))
        },
        TokenSpec {
            subject: "press",
            ..TokenSpec::new("ovs_reporter", "reporter", None)
        },
        TokenSpec {
            subject: "deputy-li",
            deputy_group: Some("xf-group-1"),
            ..TokenSpec::new("ovs_deputy_g1", "deputy", Some(XF))
        },
        TokenSpec {
            subject: "deputy-zhou",
            deputy_group: Some("xf-group-3"),
            ..TokenSpec::new("ovs_deputy_g3", "deputy", Some(XF))
        },
        TokenSpec {
            subject: PSB,
            ..TokenSpec::new("ovs_psb", "appointee", Some(XF))
        },
        TokenSpec {
            subject: COURT_VP,
            ..TokenSpec::new("ovs_court_vp", "appointee", Some(XF))
        },
    ]
}

async fn supervision(server: &TestServer, token: &str) -> Supervision {
    SupervisionClient::with_interceptor(server.channel().await, Bearer(Some(token.into())))
}

async fn findings(server: &TestServer, token: &str) -> Findings {
    FindingsClient::with_interceptor(server.channel().await, Bearer(Some(token.into())))
}

/// 2017-`m`-`d` at `h`:00 UTC.
fn at(m: u32, d: u32, h: u32) -> Option<prost_types::Timestamp> {
    let t = Utc.with_ymd_and_hms(2017, m, d, h, 0, 0).unwrap();
    Some(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

fn count(counts: &[FindingCount], state: &str) -> u64 {
    counts
        .iter()
        .find(|c| c.state == state)
        .unwrap_or_else(|| panic!("no state {state} in {counts:?}"))
        .count
}

/// Asserts every listed count of a facet or status; states not listed must be zero.
fn assert_counts(counts: &[FindingCount], expected: &[(&str, u64)]) {
    for c in counts {
        let want = expected
            .iter()
            .find(|(state, _)| *state == c.state)
            .map_or(0, |(_, n)| *n);
        assert_eq!(c.count, want, "state {} in {counts:?}", c.state);
    }
    for (state, n) in expected {
        assert_eq!(count(counts, state), *n, "state {state} in {counts:?}");
    }
}

fn board(scope: Option<FindScope>, min_position: u64) -> FindingsBoardRequest {
    FindingsBoardRequest {
        committee_id: XF.into(),
        scope: scope.map(|s| FindingScope { scope: Some(s) }),
        list_limit: 0,
        min_position,
    }
}

fn due(list: &[DueFinding]) -> Vec<(&str, &str, i64)> {
    list.iter()
        .map(|d| (d.finding_id.as_str(), d.due_on.as_str(), d.days))
        .collect()
}

fn visits_of(scope: VisitScope, min_position: u64) -> ListSiteVisitsRequest {
    ListSiteVisitsRequest {
        scope: Some(scope),
        min_position,
        ..Default::default()
    }
}

fn averages_of(appointee: &str, min_position: u64) -> VisitAveragesRequest {
    VisitAveragesRequest {
        scope: Some(AvgScope::AppointeeId(appointee.into())),
        min_position,
        ..Default::default()
    }
}

fn ids(visits: &[SiteVisit]) -> Vec<&str> {
    visits.iter().map(|v| v.visit_id.as_str()).collect()
}

/// (numerator, denominator, ratings, display) of an average.
fn avg(a: &Option<RatingAverage>) -> (u64, u64, u32, &str) {
    let a = a.as_ref().expect("an average");
    (a.numerator, a.denominator, a.ratings, a.display.as_str())
}

fn appointee_request(
    id: &str,
    name: &str,
    post: &str,
    kind: OrganKind,
    organ: &str,
) -> RegisterAppointeeRequest {
    RegisterAppointeeRequest {
        command_id: String::new(),
        appointee_id: id.into(),
        committee_id: XF.into(),
        name: name.into(),
        post: post.into(),
        organ_kind: kind as i32,
        organ_name: organ.into(),
        appointed_on: "2017-01-20".into(),
        appointing_meeting: "香坊区十六届人大常委会第二次会议".into(),
        correlation_id: String::new(),
    }
}

fn list_appointees(kind: OrganKind, min_position: u64) -> ListAppointeesRequest {
    ListAppointeesRequest {
        committee_id: XF.into(),
        organ_kind: kind as i32,
        min_position,
        ..Default::default()
    }
}

#[allow(clippy::too_many_arguments)]
fn visit(
    id: &str,
    group: &str,
    organ: &str,
    appointee: &str,
    mode: VisitMode,
    visited_at: Option<prost_types::Timestamp>,
    ratings: [Option<u32>; 3],
    notes: &str,
) -> FileSiteVisitRequest {
    FileSiteVisitRequest {
        command_id: String::new(),
        visit_id: id.into(),
        group_id: group.into(),
        target_organ: organ.into(),
        appointee_ids: vec![appointee.into()],
        mode: mode as i32,
        visited_at,
        ratings: Some(VisitRatings {
            work_discipline: ratings[0],
            service_quality: ratings[1],
            efficiency: ratings[2],
        }),
        notes: notes.into(),
        evidence_sha256: vec![PHOTO.into()],
        correlation_id: String::new(),
    }
}

fn raise(
    id: &str,
    organ: &str,
    appointee: &str,
    severity: FindingSeverity,
    description: &str,
    rectification_required: bool,
) -> RaiseFindingRequest {
    RaiseFindingRequest {
        command_id: String::new(),
        finding_id: id.into(),
        committee_id: XF.into(),
        source: FindingSource::Inspection as i32,
        source_ref: "insp-2017-road-traffic".into(),
        organ: organ.into(),
        appointee_id: appointee.into(),
        severity: severity as i32,
        description: description.into(),
        rectification_required,
        correlation_id: String::new(),
        raised_on: String::new(),
    }
}

fn respond(
    id: &str,
    explanation: FindingExplanation,
    rectification: FindingRectification,
    note: &str,
) -> RespondToFindingRequest {
    RespondToFindingRequest {
        command_id: String::new(),
        finding_id: id.into(),
        explanation: explanation as i32,
        rectification: rectification as i32,
        note: note.into(),
        correlation_id: String::new(),
    }
}

fn verify(id: &str, verdict: FindingVerdict, reason: &str) -> VerifyFindingRequest {
    VerifyFindingRequest {
        command_id: String::new(),
        finding_id: id.into(),
        verdict: verdict as i32,
        reason: reason.into(),
        correlation_id: String::new(),
    }
}

fn get(id: &str, min_position: u64) -> GetFindingRequest {
    GetFindingRequest {
        finding_id: id.into(),
        min_position,
    }
}

#[tokio::test]
async fn a_xiangfang_year_of_post_appointment_supervision() {
    let clock = TestClock::at(2017, 9, 1);
    let dir = tempfile::tempdir().unwrap();
    common::write_token_specs(&dir.path().join("data"), &tokens());
    let server = TestServer::start_in(dir, |_| {}, Some(clock.shared())).await;

    let mut admin = server.registry(&server.token).await;
    let mut registry = server.registry("ovs_clerk").await;
    let mut psb_registry = server.registry("ovs_psb").await;
    let mut deputy_g1_registry = server.registry("ovs_deputy_g1").await;

    // ---- The committee (admin): the city, and Xiangfang district under it. -------------------
    let city = admin
        .create_committee(CreateCommitteeRequest {
            committee_id: "harbin".into(),
            name: "哈尔滨市人大常委会".into(),
            level: CommitteeLevel::City as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let district = admin
        .create_committee(CreateCommitteeRequest {
            committee_id: XF.into(),
            name: "哈尔滨市香坊区人大常委会".into(),
            level: CommitteeLevel::District as i32,
            parent_committee_id: "harbin".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(district.committee_id, XF);
    assert!(district.position > city.position);

    // Members seated by the clerk.
    let mut last = 0;
    for (id, name) in [
        ("member-qian", "钱国华"),
        ("member-wu", "吴立新"),
        ("member-zheng", "郑秀兰"),
    ] {
        let reply = registry
            .add_committee_member(AddCommitteeMemberRequest {
                committee_id: XF.into(),
                member_id: id.into(),
                name: name.into(),
                from: "2016-11-15".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(reply.member_id, id);
        assert!(reply.position > last);
        last = reply.position;
    }
    let committee = registry
        .get_committee(GetCommitteeRequest {
            committee_id: XF.into(),
            min_position: last,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(committee.name, "哈尔滨市香坊区人大常委会");
    assert_eq!(committee.level, CommitteeLevel::District as i32);
    assert_eq!(committee.parent_committee_id, "harbin");
    assert_eq!(committee.seated_members, 3);
    let member_ids: Vec<_> = committee.members.iter().map(|m| &m.member_id[..]).collect();
    assert_eq!(member_ids, ["member-qian", "member-wu", "member-zheng"]);
    let harbin = admin
        .get_committee(GetCommitteeRequest {
            committee_id: "harbin".into(),
            min_position: last,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(harbin.child_committee_ids, [XF]);

    // ---- Six appointees over the three organ kinds (clerk). -------------------------------
    let appointees = [
        appointee_request(
            PSB,
            "王建国",
            "香坊公安分局局长",
            OrganKind::Government,
            PSB_ORGAN,
        ),
        appointee_request(
            GOV_SERVICE,
            "刘淑芬",
            "区政务服务中心主任",
            OrganKind::Government,
            "香坊区政务服务中心",
        ),
        appointee_request(
            HOUSING,
            "陈志强",
            "区住房和城乡建设局局长",
            OrganKind::Government,
            "香坊区住房和城乡建设局",
        ),
        appointee_request(
            COURT_VP,
            "李明",
            "区人民法院副院长",
            OrganKind::Court,
            COURT_ORGAN,
        ),
        appointee_request(
            COURT_JUDGE,
            "张丽华",
            "区人民法院刑事审判庭庭长",
            OrganKind::Court,
            COURT_ORGAN,
        ),
        appointee_request(
            PROCURATOR,
            "赵刚",
            "区人民检察院副检察长",
            OrganKind::Procuratorate,
            PROC_ORGAN,
        ),
    ];
    let mut registered = 0;
    for request in appointees {
        let id = request.appointee_id.clone();
        let reply = registry
            .register_appointee(request)
            .await
            .unwrap()
            .into_inner();
        assert_eq!(reply.appointee_id, id);
        assert!(reply.position > registered);
        registered = reply.position;
    }
    let by_kind = |kind| list_appointees(kind, registered);
    let all = registry
        .list_appointees(by_kind(OrganKind::Unspecified))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.appointees.len(), 6);
    assert!(all.next_page_token.is_empty());
    let government = registry
        .list_appointees(by_kind(OrganKind::Government))
        .await
        .unwrap()
        .into_inner();
    let gov_ids: Vec<_> = government
        .appointees
        .iter()
        .map(|a| &a.appointee_id[..])
        .collect();
    assert_eq!(gov_ids, [HOUSING, PSB, GOV_SERVICE]);
    let court = registry
        .list_appointees(by_kind(OrganKind::Court))
        .await
        .unwrap()
        .into_inner();
    let court_ids: Vec<_> = court
        .appointees
        .iter()
        .map(|a| &a.appointee_id[..])
        .collect();
    assert_eq!(court_ids, [COURT_JUDGE, COURT_VP]);
    let procuratorate = registry
        .list_appointees(by_kind(OrganKind::Procuratorate))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(procuratorate.appointees.len(), 1);
    assert_eq!(procuratorate.appointees[0].appointee_id, PROCURATOR);
    assert_eq!(procuratorate.appointees[0].organ_name, PROC_ORGAN);
    let supervisory = registry
        .list_appointees(by_kind(OrganKind::SupervisoryCommission))
        .await
        .unwrap()
        .into_inner();
    assert!(supervisory.appointees.is_empty());
    let serving = registry
        .list_appointees(ListAppointeesRequest {
            status: AppointeeStatus::Serving as i32,
            ..by_kind(OrganKind::Unspecified)
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(serving.appointees.len(), 6);
    // The appointee reads their own record and no one else's.
    let own = psb_registry
        .get_appointee(GetAppointeeRequest {
            appointee_id: PSB.into(),
            min_position: registered,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(own.name, "王建国");
    assert_eq!(own.organ_kind, OrganKind::Government as i32);
    assert_eq!(own.status, AppointeeStatus::Serving as i32);
    assert_eq!(own.posts.len(), 1);
    assert_eq!(own.posts[0].post, "香坊公安分局局长");
    assert_eq!(own.posts[0].from, "2017-01-20");
    assert_eq!(
        psb_registry
            .get_appointee(GetAppointeeRequest {
                appointee_id: COURT_VP.into(),
                min_position: registered,
            })
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );

    // ---- Two deputy groups (clerk). --------------------------------------------------------
    let mut formed = 0;
    for (group, name, deputies) in [
        (
            "xf-group-1",
            "第一代表小组",
            &[("deputy-li", "李春梅"), ("deputy-he", "何振东")][..],
        ),
        (
            "xf-group-3",
            "第三代表小组",
            &[("deputy-zhou", "周文斌")][..],
        ),
    ] {
        let reply = registry
            .form_deputy_group(FormDeputyGroupRequest {
                command_id: String::new(),
                group_id: group.into(),
                committee_id: XF.into(),
                name: name.into(),
                correlation_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(reply.group_id, group);
        formed = reply.position;
        for (id, name) in deputies {
            let reply = registry
                .add_deputy(AddDeputyRequest {
                    command_id: String::new(),
                    group_id: group.into(),
                    deputy_id: (*id).into(),
                    name: (*name).into(),
                    correlation_id: String::new(),
                })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(reply.deputy_id, *id);
            assert!(reply.position > formed);
            formed = reply.position;
        }
    }
    let groups = registry
        .list_deputy_groups(ListDeputyGroupsRequest {
            committee_id: XF.into(),
            min_position: formed,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let group_sizes: Vec<_> = groups
        .groups
        .iter()
        .map(|g| (&g.group_id[..], &g.name[..], g.deputies.len()))
        .collect();
    assert_eq!(
        group_sizes,
        [
            ("xf-group-1", "第一代表小组", 2),
            ("xf-group-3", "第三代表小组", 1)
        ]
    );
    // A deputy sees their own group, not the other.
    let own_group = deputy_g1_registry
        .get_deputy_group(GetDeputyGroupRequest {
            group_id: "xf-group-1".into(),
            min_position: formed,
        })
        .await
        .unwrap()
        .into_inner();
    let deputy_ids: Vec<_> = own_group
        .deputies
        .iter()
        .map(|d| &d.deputy_id[..])
        .collect();
    assert_eq!(deputy_ids, ["deputy-he", "deputy-li"]);
    assert_eq!(
        deputy_g1_registry
            .get_deputy_group(GetDeputyGroupRequest {
                group_id: "xf-group-3".into(),
                min_position: formed,
            })
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );

    // ---- 三看: site visits filed by each group for itself. ---------------------------------
    let mut deputy_g1 = supervision(&server, "ovs_deputy_g1").await;
    let mut deputy_g3 = supervision(&server, "ovs_deputy_g3").await;
    let mut psb_sup = supervision(&server, "ovs_psb").await;
    let mut clerk_sup = supervision(&server, "ovs_clerk").await;
    let mut chair_sup = supervision(&server, "ovs_chair").await;

    let open = deputy_g1
        .file_site_visit(visit(
            "visit-psb-open",
            "xf-group-1",
            "香坊分局户政服务窗口",
            PSB,
            VisitMode::Open,
            at(8, 8, 2),
            [Some(4), Some(5), Some(3)],
            "窗口秩序良好，办理身份证需等候四十分钟",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(open.id, "visit-psb-open");
    let incognito = deputy_g1
        .file_site_visit(visit(
            "visit-psb-incognito",
            "xf-group-1",
            "香坊分局交警大队车管窗口",
            PSB,
            VisitMode::Incognito,
            at(8, 15, 1),
            [Some(2), Some(3), None],
            "暗访：两名工作人员上班时间玩手机",
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(incognito.position > open.position);
    let random = deputy_g3
        .file_site_visit(visit(
            "visit-psb-random",
            "xf-group-3",
            "香坊分局户政服务窗口",
            PSB,
            VisitMode::RandomCheck,
            at(8, 22, 3),
            [Some(5), Some(4), Some(4)],
            "随机抽查：材料一次告知到位",
        ))
        .await
        .unwrap()
        .into_inner();
    let trial = deputy_g3
        .file_site_visit(visit(
            "visit-court-trial",
            "xf-group-3",
            COURT_ORGAN,
            COURT_VP,
            VisitMode::TrialAttendance,
            at(8, 24, 1),
            [Some(5), Some(4), Some(4)],
            "旁听一起盗窃案庭审，程序规范",
        ))
        .await
        .unwrap()
        .into_inner();
    // A deputy files only for their own group.
    assert_eq!(
        deputy_g1
            .file_site_visit(visit(
                "visit-forged",
                "xf-group-3",
                COURT_ORGAN,
                COURT_VP,
                VisitMode::Open,
                at(8, 25, 1),
                [Some(1), None, None],
                "filed for another group",
            ))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    assert!(random.position > incognito.position);
    assert!(trial.position > random.position);
    let visits_filed = trial.position;

    // Per group: each deputy sees their own group's visits, oldest first.
    let g1_visits = deputy_g1
        .list_site_visits(visits_of(
            VisitScope::GroupId("xf-group-1".into()),
            visits_filed,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        ids(&g1_visits.visits),
        ["visit-psb-open", "visit-psb-incognito"]
    );
    assert_eq!(g1_visits.visits[0].filed_by, "deputy-li");
    assert_eq!(g1_visits.visits[1].mode, VisitMode::Incognito as i32);
    let g3_visits = deputy_g3
        .list_site_visits(visits_of(
            VisitScope::GroupId("xf-group-3".into()),
            visits_filed,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        ids(&g3_visits.visits),
        ["visit-psb-random", "visit-court-trial"]
    );
    assert_eq!(
        deputy_g1
            .list_site_visits(visits_of(
                VisitScope::GroupId("xf-group-3".into()),
                visits_filed
            ))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );

    // The clerk sees all three visits to the police director; the incognito one is not yet
    // visible to him.
    let psb_visits = clerk_sup
        .list_site_visits(visits_of(VisitScope::AppointeeId(PSB.into()), visits_filed))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        ids(&psb_visits.visits),
        ["visit-psb-open", "visit-psb-incognito", "visit-psb-random"]
    );
    let visibility: Vec<_> = psb_visits
        .visits
        .iter()
        .map(|v| v.visible_to_appointee)
        .collect();
    assert_eq!(visibility, [true, false, true]);
    assert_eq!(psb_visits.visits[1].report_ref, "");
    // Averages for the clerk over all three: discipline (4+2+5)/3, service (5+3+4)/3,
    // efficiency (3+4)/2 — the incognito visit did not rate efficiency.
    let clerk_avg = clerk_sup
        .visit_averages(averages_of(PSB, visits_filed))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(clerk_avg.visits, 3);
    assert_eq!(avg(&clerk_avg.work_discipline), (11, 3, 3, "3.67"));
    assert_eq!(avg(&clerk_avg.service_quality), (4, 1, 3, "4.00"));
    assert_eq!(avg(&clerk_avg.efficiency), (7, 2, 2, "3.50"));

    // The police director himself: the incognito visit is hidden, from the list and the averages.
    let seen = psb_sup
        .list_site_visits(visits_of(VisitScope::AppointeeId(PSB.into()), visits_filed))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ids(&seen.visits), ["visit-psb-open", "visit-psb-random"]);
    let his_avg = psb_sup
        .visit_averages(averages_of(PSB, visits_filed))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(his_avg.visits, 2);
    assert_eq!(avg(&his_avg.work_discipline), (9, 2, 2, "4.50"));
    assert_eq!(avg(&his_avg.service_quality), (9, 2, 2, "4.50"));
    assert_eq!(avg(&his_avg.efficiency), (7, 2, 2, "3.50"));
    // Nor may he look at the court's visits.
    assert_eq!(
        psb_sup
            .list_site_visits(visits_of(
                VisitScope::AppointeeId(COURT_VP.into()),
                visits_filed
            ))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    // Averages over a period: only August 10 onwards (the incognito and the random check).
    let period = clerk_sup
        .visit_averages(VisitAveragesRequest {
            from: at(8, 10, 0),
            to: at(9, 1, 0),
            ..averages_of(PSB, visits_filed)
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(period.visits, 2);
    assert_eq!(avg(&period.work_discipline), (7, 2, 2, "3.50"));
    assert_eq!(avg(&period.service_quality), (7, 2, 2, "3.50"));
    assert_eq!(avg(&period.efficiency), (4, 1, 1, "4.00"));
    // The court's vice president: one trial attendance.
    let court_avg = clerk_sup
        .visit_averages(averages_of(COURT_VP, visits_filed))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(court_avg.visits, 1);
    assert_eq!(avg(&court_avg.work_discipline), (5, 1, 1, "5.00"));
    // Per deputy group: group 3's random check and trial attendance; group 1's open and
    // incognito visits (the clerk sees the incognito visit; the police director may not ask
    // for a group at all).
    let group_avg = |group: &str| VisitAveragesRequest {
        scope: Some(AvgScope::GroupId(group.into())),
        min_position: visits_filed,
        ..Default::default()
    };
    let g3_avg = clerk_sup
        .visit_averages(group_avg("xf-group-3"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(g3_avg.visits, 2);
    assert_eq!(avg(&g3_avg.work_discipline), (5, 1, 2, "5.00"));
    assert_eq!(avg(&g3_avg.service_quality), (4, 1, 2, "4.00"));
    assert_eq!(avg(&g3_avg.efficiency), (4, 1, 2, "4.00"));
    let g1_avg = clerk_sup
        .visit_averages(group_avg("xf-group-1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(g1_avg.visits, 2);
    assert_eq!(avg(&g1_avg.work_discipline), (3, 1, 2, "3.00"));
    assert_eq!(avg(&g1_avg.service_quality), (4, 1, 2, "4.00"));
    assert_eq!(avg(&g1_avg.efficiency), (3, 1, 1, "3.00"));
    assert_eq!(
        psb_sup
            .visit_averages(group_avg("xf-group-1"))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );

    // The committee issues its visit report: the incognito visit becomes visible to him.
    let report = clerk_sup
        .issue_visit_report(IssueVisitReportRequest {
            command_id: String::new(),
            visit_id: "visit-psb-incognito".into(),
            report_ref: "香人常函〔2017〕21号".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(report.position > visits_filed);
    let seen = psb_sup
        .list_site_visits(visits_of(
            VisitScope::AppointeeId(PSB.into()),
            report.position,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        ids(&seen.visits),
        ["visit-psb-open", "visit-psb-incognito", "visit-psb-random"]
    );
    assert_eq!(seen.visits[1].report_ref, "香人常函〔2017〕21号");
    assert!(seen.visits[1].visible_to_appointee);
    assert_eq!(seen.visits[1].notes, "暗访：两名工作人员上班时间玩手机");
    let his_avg = psb_sup
        .visit_averages(averages_of(PSB, report.position))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(his_avg.visits, 3);
    assert_eq!(avg(&his_avg.work_discipline), (11, 3, 3, "3.67"));
    assert_eq!(avg(&his_avg.service_quality), (4, 1, 3, "4.00"));
    assert_eq!(avg(&his_avg.efficiency), (7, 2, 2, "3.50"));

    // ---- 三查: the annual plan (chair) and an inspection (clerk). ------------------------------
    let plan = chair_sup
        .adopt_annual_plan(AdoptAnnualPlanRequest {
            command_id: String::new(),
            committee_id: XF.into(),
            year: 2017,
            laws: vec![
                "中华人民共和国道路交通安全法".into(),
                "中华人民共和国食品安全法".into(),
                "中华人民共和国环境保护法".into(),
                "中华人民共和国未成年人保护法".into(),
            ],
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(plan.id, "xiangfang-2017");
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
    let opened = clerk_sup
        .open_inspection(OpenInspectionRequest {
            command_id: String::new(),
            inspection_id: "insp-2017-road-traffic".into(),
            committee_id: XF.into(),
            kind: InspectionKind::LawEnforcement as i32,
            title: "《道路交通安全法》执法检查".into(),
            law_reference: Some("中华人民共和国道路交通安全法".into()),
            year: 2017,
            organs: vec![PSB_ORGAN.into(), COURT_ORGAN.into(), PROC_ORGAN.into()],
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(opened.position > plan.position);
    let reported = clerk_sup
        .record_inspection_report(RecordInspectionReportRequest {
            command_id: String::new(),
            inspection_id: "insp-2017-road-traffic".into(),
            evaluation: "执法总体规范，部分环节有待加强".into(),
            problems: vec![
                "违法停车处罚告知不到位".into(),
                "交通肇事案件审理超期".into(),
                "交通肇事案件批捕程序文书不全".into(),
            ],
            suggestions: vec!["建立执法告知台账".into()],
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let inspection = clerk_sup
        .get_inspection(GetInspectionRequest {
            inspection_id: "insp-2017-road-traffic".into(),
            min_position: reported.position,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(inspection.kind, InspectionKind::LawEnforcement as i32);
    assert_eq!(inspection.year, 2017);
    assert_eq!(inspection.organs.len(), 3);
    assert_eq!(inspection.opened_by, "clerk-zhao");
    let inspection_report = inspection.report.expect("the report is recorded");
    assert_eq!(inspection_report.problems.len(), 3);
    assert_eq!(inspection_report.recorded_by, "clerk-zhao");
    let listed = clerk_sup
        .list_inspections(ListInspectionsRequest {
            committee_id: XF.into(),
            year: 2017,
            min_position: reported.position,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.inspections.len(), 1);

    // ---- Findings raised and assigned by the clerk. -------------------------------------------
    let mut clerk = findings(&server, "ovs_clerk").await;
    let mut chair = findings(&server, "ovs_chair").await;
    let mut member = findings(&server, "ovs_member").await;
    let mut reporter = findings(&server, "ovs_reporter").await;
    let mut psb = findings(&server, "ovs_psb").await;
    let mut court_vp = findings(&server, "ovs_court_vp").await;

    let f_psb = "f-2017-parking-notice";
    let f_court = "f-2017-trial-delay";
    let f_proc = "f-2017-arrest-papers";
    let mut raised = 0;
    for request in [
        raise(
            f_psb,
            PSB_ORGAN,
            PSB,
            FindingSeverity::Serious,
            "违法停车处罚未履行告知程序",
            true,
        ),
        raise(
            f_court,
            COURT_ORGAN,
            COURT_VP,
            FindingSeverity::Moderate,
            "交通肇事案件审理超过法定期限",
            false,
        ),
        raise(
            f_proc,
            PROC_ORGAN,
            "",
            FindingSeverity::Minor,
            "批捕程序文书不全",
            true,
        ),
    ] {
        let id = request.finding_id.clone();
        let reply = clerk.raise_finding(request).await.unwrap().into_inner();
        assert_eq!(reply.finding_id, id);
        assert_eq!(reply.due_on, "");
        raised = reply.position;
    }
    let b = clerk
        .findings_board(board(None, raised))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(b.total, 3);
    assert_counts(&b.explanation, &[("none", 3)]);
    assert_counts(&b.rectification, &[("none", 1), ("required", 2)]);
    assert_counts(&b.status, &[("raised", 3)]);
    assert_eq!(b.as_of, "2017-09-01");
    let by_inspection = clerk
        .findings_board(board(
            Some(FindScope::InspectionId("insp-2017-road-traffic".into())),
            raised,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_inspection.total, 3);

    let assigned_psb = clerk
        .assign_finding(AssignFindingRequest {
            command_id: String::new(),
            finding_id: f_psb.into(),
            assignee: PSB_ORGAN.into(),
            due_on: "2017-10-31".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(assigned_psb.due_on, "2017-10-31");
    let assigned_court = clerk
        .assign_finding(AssignFindingRequest {
            command_id: String::new(),
            finding_id: f_court.into(),
            assignee: COURT_ORGAN.into(),
            due_on: String::new(),
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    // The policy default: three months from the day of assignment.
    assert_eq!(assigned_court.due_on, "2017-12-01");
    let assigned_proc = clerk
        .assign_finding(AssignFindingRequest {
            command_id: String::new(),
            finding_id: f_proc.into(),
            assignee: PROC_ORGAN.into(),
            due_on: "2017-11-15".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let b = clerk
        .findings_board(board(None, assigned_proc.position))
        .await
        .unwrap()
        .into_inner();
    assert_counts(&b.status, &[("assigned", 3)]);
    assert_eq!(b.overdue_total, 0);
    assert!(b.overdue.is_empty());
    assert_eq!(b.due_soon_total, 0);

    // ---- Overdue: the clock moves past the police finding's due date. ----------------------
    clock.set(2017, 11, 5);
    let b = clerk
        .findings_board(board(None, assigned_proc.position))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(b.as_of, "2017-11-05");
    assert_eq!(b.overdue_total, 1);
    assert_eq!(due(&b.overdue), [(f_psb, "2017-10-31", 5)]);
    assert_eq!(b.overdue[0].appointee_id, PSB);
    assert_eq!(b.overdue[0].organ, PSB_ORGAN);
    assert_eq!(b.due_soon_total, 1);
    assert_eq!(due(&b.due_soon), [(f_proc, "2017-11-15", 10)]);
    let overdue_record = clerk
        .get_finding(get(f_psb, assigned_proc.position))
        .await
        .unwrap()
        .into_inner();
    assert!(overdue_record.overdue);
    assert!(!overdue_record.due_soon);
    // A reporter gets the counts, not the lists.
    let public = reporter
        .findings_board(board(None, assigned_proc.position))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(public.total, 3);
    assert_counts(&public.status, &[("assigned", 3)]);
    assert!(public.overdue.is_empty());
    assert!(public.due_soon.is_empty());

    // The council of chairpersons extends the deadline (the clerk may not).
    assert_eq!(
        clerk
            .extend_finding_deadline(ExtendFindingDeadlineRequest {
                command_id: String::new(),
                finding_id: f_psb.into(),
                due_on: "2017-12-29".into(),
                approved_by: "主任会议".into(),
                reason: "需协调交警支队".into(),
                correlation_id: String::new(),
            })
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    let extended = chair
        .extend_finding_deadline(ExtendFindingDeadlineRequest {
            command_id: String::new(),
            finding_id: f_psb.into(),
            due_on: "2017-12-29".into(),
            approved_by: "区人大常委会主任会议（2017年第11次）".into(),
            reason: "告知程序整改需市局交警支队统一更换执法记录系统".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(extended.due_on, "2017-12-29");
    let b = clerk
        .findings_board(board(None, extended.position))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(b.overdue_total, 0);
    assert!(b.overdue.is_empty());
    assert_eq!(due(&b.due_soon), [(f_proc, "2017-11-15", 10)]);
    let record = clerk
        .get_finding(get(f_psb, extended.position))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(record.due_on, "2017-12-29");
    assert_eq!(record.extensions, 1);
    assert!(!record.overdue);
    assert_eq!(record.status, FindingStatus::Assigned as i32);

    // ---- Both facets walked. ----------------------------------------------------------------
    // The police director explains and reports rectification in progress.
    let answered = psb
        .respond_to_finding(respond(
            f_psb,
            FindingExplanation::Explained,
            FindingRectification::InProgress,
            "已制定告知书模板，正在更换执法记录系统",
        ))
        .await
        .unwrap()
        .into_inner();
    // He may not answer a finding that does not name him, nor read it.
    assert_eq!(
        psb.respond_to_finding(respond(
            f_court,
            FindingExplanation::Explained,
            FindingRectification::Unspecified,
            "not mine",
        ))
        .await
        .unwrap_err()
        .code(),
        Code::PermissionDenied
    );
    assert_eq!(
        psb.get_finding(get(f_court, answered.position))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    let own = psb
        .get_finding(get(f_psb, answered.position))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(own.status, FindingStatus::Responded as i32);
    assert_eq!(own.explanation, FindingExplanation::Explained as i32);
    assert_eq!(own.rectification, FindingRectification::InProgress as i32);
    assert_eq!(own.responders, [PSB]);
    assert_eq!(own.year, 2017);
    let b = member
        .findings_board(board(None, answered.position))
        .await
        .unwrap()
        .into_inner();
    assert_counts(&b.explanation, &[("none", 2), ("explained", 1)]);
    assert_counts(
        &b.rectification,
        &[("none", 1), ("required", 1), ("in_progress", 1)],
    );
    assert_counts(&b.status, &[("assigned", 2), ("responded", 1)]);

    // The chair is not satisfied with "in progress": rejected, the finding reopens.
    let rejected = chair
        .verify_finding(verify(
            f_psb,
            FindingVerdict::Reject,
            "整改尚未完成，不予销号",
        ))
        .await
        .unwrap()
        .into_inner();
    let b = clerk
        .findings_board(board(None, rejected.position))
        .await
        .unwrap()
        .into_inner();
    assert_counts(&b.status, &[("assigned", 2), ("reopened", 1)]);
    assert_counts(
        &b.rectification,
        &[("none", 1), ("required", 1), ("in_progress", 1)],
    );

    // He reports rectification done; the clerk (not a responder) accepts and closes it (销号).
    let done = psb
        .respond_to_finding(respond(
            f_psb,
            FindingExplanation::Unspecified,
            FindingRectification::Done,
            "执法记录系统已更换，告知书全面使用",
        ))
        .await
        .unwrap()
        .into_inner();
    let own = psb
        .get_finding(get(f_psb, done.position))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(own.status, FindingStatus::Responded as i32);
    // The explanation facet is untouched by a response that addresses only rectification.
    assert_eq!(own.explanation, FindingExplanation::Explained as i32);
    assert_eq!(own.rectification, FindingRectification::Done as i32);
    let closed_psb = clerk
        .verify_finding(verify(f_psb, FindingVerdict::Accept, ""))
        .await
        .unwrap()
        .into_inner();
    let record = clerk
        .get_finding(get(f_psb, closed_psb.position))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(record.status, FindingStatus::Closed as i32);
    assert_eq!(record.verified_by, "clerk-zhao");
    assert_eq!(record.responders, [PSB]);

    // The court's vice president explains only; rectification stays none.
    let explained = court_vp
        .respond_to_finding(respond(
            f_court,
            FindingExplanation::Explained,
            FindingRectification::Unspecified,
            "系鉴定周期较长所致，已报批延长审限",
        ))
        .await
        .unwrap()
        .into_inner();
    let record = court_vp
        .get_finding(get(f_court, explained.position))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(record.explanation, FindingExplanation::Explained as i32);
    assert_eq!(record.rectification, FindingRectification::None as i32);
    assert_eq!(record.status, FindingStatus::Responded as i32);

    // The procuratorate's finding names no appointee: the clerk answers for the organ, so the
    // clerk may not verify it; the chair does.
    let organ_answer = clerk
        .respond_to_finding(respond(
            f_proc,
            FindingExplanation::Explained,
            FindingRectification::Done,
            "区检察院已补齐文书并建立审查清单",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        clerk
            .verify_finding(verify(f_proc, FindingVerdict::Accept, ""))
            .await
            .unwrap_err()
            .code(),
        Code::FailedPrecondition
    );
    let closed_proc = chair
        .verify_finding(verify(f_proc, FindingVerdict::Accept, ""))
        .await
        .unwrap()
        .into_inner();
    assert!(closed_proc.position > organ_answer.position);
    let record = chair
        .get_finding(get(f_proc, closed_proc.position))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(record.status, FindingStatus::Closed as i32);
    assert_eq!(record.verified_by, "chair-sun");
    assert_eq!(record.responders, ["clerk-zhao"]);

    // The board after the walk: every finding explained, two rectified, two closed.
    let b = clerk
        .findings_board(board(None, closed_proc.position))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(b.total, 3);
    assert_counts(&b.explanation, &[("explained", 3)]);
    assert_counts(&b.rectification, &[("none", 1), ("done", 2)]);
    assert_counts(&b.status, &[("responded", 1), ("closed", 2)]);
    assert_eq!(b.overdue_total, 0);
    // The procuratorate's finding is closed: no longer due soon.
    assert_eq!(b.due_soon_total, 0);
    let of_psb = clerk
        .findings_board(board(
            Some(FindScope::AppointeeId(PSB.into())),
            closed_proc.position,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(of_psb.total, 1);
    assert_counts(&of_psb.status, &[("closed", 1)]);
    let of_court = clerk
        .findings_board(board(
            Some(FindScope::Organ(COURT_ORGAN.into())),
            closed_proc.position,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(of_court.total, 1);
    assert_counts(&of_court.status, &[("responded", 1)]);
    let closed = clerk
        .list_findings(ListFindingsRequest {
            committee_id: XF.into(),
            status: FindingStatus::Closed as i32,
            min_position: closed_proc.position,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let closed_ids: Vec<_> = closed.findings.iter().map(|f| &f.finding_id[..]).collect();
    assert_eq!(closed_ids, [f_proc, f_psb]);
    // The court's finding falls overdue once its default due date passes.
    clock.set(2017, 12, 4);
    let b = clerk
        .findings_board(board(None, closed_proc.position))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(due(&b.overdue), [(f_court, "2017-12-01", 3)]);

    // ---- 三听: duty reports and stakeholder feedback. ---------------------------------------
    let mut psb_hearings = server.hearings("ovs_psb").await;
    let mut clerk_hearings = server.hearings("ovs_clerk").await;
    let mut member_hearings = server.hearings("ovs_member").await;
    let mut court_vp_hearings = server.hearings("ovs_court_vp").await;

    let filed = psb_hearings
        .file_duty_report(FileDutyReportRequest {
            command_id: String::new(),
            duty_report_id: "dr-psb-2017".into(),
            appointee_id: PSB.into(),
            title: "香坊公安分局局长王建国2017年度述职报告".into(),
            document_sha256: REPORT_DOC.into(),
            filed_at: at(12, 3, 8),
            session_ref: SESSION.into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(filed.duty_report_id, "dr-psb-2017");
    // The office files for the court's vice president.
    let filed_for = clerk_hearings
        .file_duty_report(FileDutyReportRequest {
            command_id: String::new(),
            duty_report_id: "dr-court-vp-2017".into(),
            appointee_id: COURT_VP.into(),
            title: "区法院副院长李明2017年度述职报告".into(),
            document_sha256: PHOTO.into(),
            filed_at: at(12, 3, 9),
            session_ref: SESSION.into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    // An appointee may not file for someone else.
    assert_eq!(
        court_vp_hearings
            .file_duty_report(FileDutyReportRequest {
                command_id: String::new(),
                duty_report_id: "dr-forged".into(),
                appointee_id: PSB.into(),
                title: "forged".into(),
                document_sha256: PHOTO.into(),
                filed_at: at(12, 3, 9),
                session_ref: SESSION.into(),
                correlation_id: String::new(),
            })
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    let reports = member_hearings
        .list_duty_reports(ListDutyReportsRequest {
            appointee_id: PSB.into(),
            min_position: filed.position,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reports.reports.len(), 1);
    let r = &reports.reports[0];
    assert_eq!(r.duty_report_id, "dr-psb-2017");
    assert_eq!(r.committee_id, XF);
    assert_eq!(r.document_sha256, REPORT_DOC);
    assert_eq!(r.session_ref, SESSION);
    assert_eq!(r.filed_by, PSB);
    assert_eq!(r.filed_at, at(12, 3, 8));
    assert!(!r.withdrawn);
    let reports = court_vp_hearings
        .list_duty_reports(ListDutyReportsRequest {
            appointee_id: COURT_VP.into(),
            min_position: filed_for.position,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reports.reports.len(), 1);
    assert_eq!(reports.reports[0].filed_by, "clerk-zhao");

    // Feedback gathered by the office: a forum of service recipients and staff interviews.
    let forum = clerk_hearings
        .record_stakeholder_feedback(RecordStakeholderFeedbackRequest {
            command_id: String::new(),
            feedback_id: "fb-psb-forum".into(),
            appointee_id: PSB.into(),
            session_ref: SESSION.into(),
            source: FeedbackSource::ServiceRecipients as i32,
            method: FeedbackMethod::Forum as i32,
            participants: 30,
            counts: vec![
                RatingCount {
                    option: "satisfied".into(),
                    count: 22,
                },
                RatingCount {
                    option: "basically_satisfied".into(),
                    count: 6,
                },
                RatingCount {
                    option: "dissatisfied".into(),
                    count: 1,
                },
            ],
            summary: "群众普遍认为户政窗口服务态度好，车管窗口等候时间长".into(),
            confidential: false,
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let interview = clerk_hearings
        .record_stakeholder_feedback(RecordStakeholderFeedbackRequest {
            command_id: String::new(),
            feedback_id: "fb-psb-interview".into(),
            appointee_id: PSB.into(),
            session_ref: SESSION.into(),
            source: FeedbackSource::Staff as i32,
            method: FeedbackMethod::Interview as i32,
            participants: 5,
            counts: vec![
                RatingCount {
                    option: "satisfied".into(),
                    count: 3,
                },
                RatingCount {
                    option: "basically_satisfied".into(),
                    count: 2,
                },
            ],
            summary: "个别谈话：有干部反映分局班子决策民主不够".into(),
            confidential: true,
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(interview.position > forum.position);
    let feedback = |min_position| ListStakeholderFeedbackRequest {
        appointee_id: PSB.into(),
        min_position,
        ..Default::default()
    };
    // The clerk sees every summary.
    let seen = clerk_hearings
        .list_stakeholder_feedback(feedback(interview.position))
        .await
        .unwrap()
        .into_inner();
    let batches: Vec<_> = seen
        .feedback
        .iter()
        .map(|f| {
            (
                &f.feedback_id[..],
                f.participants,
                f.confidential,
                f.summary_hidden,
            )
        })
        .collect();
    assert_eq!(
        batches,
        [
            ("fb-psb-forum", 30, false, false),
            ("fb-psb-interview", 5, true, false)
        ]
    );
    assert_eq!(
        seen.feedback[1].summary,
        "个别谈话：有干部反映分局班子决策民主不够"
    );
    assert_eq!(seen.feedback[0].recorded_by, "clerk-zhao");
    let forum_counts: Vec<_> = seen.feedback[0]
        .counts
        .iter()
        .map(|c| (&c.option[..], c.count))
        .collect();
    // In option-name order, as the hearings view keeps them (and tests/hearings_grpc.rs pins).
    assert_eq!(
        forum_counts,
        [
            ("basically_satisfied", 6),
            ("dissatisfied", 1),
            ("satisfied", 22)
        ]
    );
    // A committee member and the appointee himself see the counts, not the interview summary.
    for (who, mut client) in [
        ("committee member", member_hearings),
        ("appointee", psb_hearings),
    ] {
        let seen = client
            .list_stakeholder_feedback(feedback(interview.position))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(seen.feedback.len(), 2, "{who}");
        assert_eq!(
            seen.feedback[0].summary, "群众普遍认为户政窗口服务态度好，车管窗口等候时间长",
            "{who}"
        );
        assert!(!seen.feedback[0].summary_hidden, "{who}");
        assert_eq!(seen.feedback[1].summary, "", "{who}");
        assert!(seen.feedback[1].summary_hidden, "{who}");
        assert!(seen.feedback[1].confidential, "{who}");
        assert_eq!(seen.feedback[1].participants, 5, "{who}");
        assert_eq!(seen.feedback[1].counts.len(), 2, "{who}");
    }
    // Another appointee may not read his feedback.
    assert_eq!(
        court_vp_hearings
            .list_stakeholder_feedback(feedback(interview.position))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );

    // ---- The public view of the board (checked last). -----------------------------------------
    // A reporter gets the aggregate counts but not the lists. How many findings are overdue is
    // one of those counts (DOMAIN: reporters see aggregate finding counts; findings.proto marks
    // only the lists "empty for reporters"), so it must not read 0 while the court's finding is
    // overdue.
    let public = reporter
        .findings_board(board(None, interview.position))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(public.total, 3);
    assert_counts(&public.status, &[("responded", 1), ("closed", 2)]);
    assert!(public.overdue.is_empty());
    assert!(public.due_soon.is_empty());
    assert_eq!(public.as_of, "2017-12-04");
    assert_eq!(
        public.overdue_total, 1,
        "a reporter's board must count the overdue finding even though it omits the list"
    );

    // Every event of the year names who acted and in which role, and every command's events
    // record when it was decided: the server's clock at the time, one of the three days the
    // test set it to.
    common::assert_events_name_their_actor(&server.store(), &[]).await;
    assert_events_record_when_decided(
        &server.store(),
        &[
            "2017-09-01T02:00:00Z",
            "2017-11-05T02:00:00Z",
            "2017-12-04T02:00:00Z",
        ],
    )
    .await;
}

/// Asserts that every event but the `audit` stream's records of log reads carries the moment
/// its command was decided (`decided_at`, RFC 3339) and that it is one of `moments`; and that
/// the first visit, filed on the first day, records that day.
async fn assert_events_record_when_decided(
    store: &std::sync::Arc<dyn oversight::log::EventStore>,
    moments: &[&str],
) {
    use oversight::log::{Direction, Filter, ReadAll};
    let events = store
        .read_all(ReadAll {
            from_position: None,
            direction: Direction::Forwards,
            max_count: usize::MAX,
            filter: Filter::default(),
        })
        .await
        .unwrap();
    let mut checked = 0;
    for event in events.iter().filter(|e| e.stream.as_str() != "audit") {
        let decided_at = event.metadata.extra.get("decided_at").unwrap_or_else(|| {
            panic!(
                "{} at position {} records no decided_at: {:?}",
                event.event_type.as_str(),
                event.position,
                event.metadata
            )
        });
        chrono::DateTime::parse_from_rfc3339(decided_at).unwrap();
        assert!(
            moments.contains(&decided_at.as_str()),
            "{} at position {} was decided at {decided_at}, not at one of {moments:?}",
            event.event_type.as_str(),
            event.position
        );
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} events checked");
    let filed = events
        .iter()
        .find(|e| e.stream.as_str() == "visit-visit-psb-open")
        .expect("the first visit's stream");
    assert_eq!(
        filed.metadata.extra.get("decided_at").map(String::as_str),
        Some("2017-09-01T02:00:00Z")
    );
}
