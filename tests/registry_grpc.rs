//! The Registry service over gRPC against the real server: every command read back through its
//! query with `min_position`, rejections with their codes and messages, pagination, roles and
//! committee scope, and views that survive a rebuild and a restart unchanged.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::{RegistryClient, TestServer, TokenSpec};
use oversight::proto;
use tonic::Code;

type Registry = RegistryClient;

const ADMIN: &str = "ovs_admin";

async fn create_committee(
    registry: &mut Registry,
    id: &str,
    level: proto::CommitteeLevel,
    parent: &str,
) -> u64 {
    registry
        .create_committee(proto::CreateCommitteeRequest {
            command_id: String::new(),
            committee_id: id.into(),
            name: format!("{id} 人大常委会"),
            level: level as i32,
            parent_committee_id: parent.into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .position
}

/// Harbin (city) with the Xiangfang and Daowai districts; returns the last position.
async fn harbin(registry: &mut Registry) -> u64 {
    create_committee(registry, "harbin", proto::CommitteeLevel::City, "").await;
    create_committee(
        registry,
        "xiangfang",
        proto::CommitteeLevel::District,
        "harbin",
    )
    .await;
    create_committee(
        registry,
        "daowai",
        proto::CommitteeLevel::District,
        "harbin",
    )
    .await
}

fn register(id: &str, committee: &str, kind: proto::OrganKind) -> proto::RegisterAppointeeRequest {
    proto::RegisterAppointeeRequest {
        command_id: String::new(),
        appointee_id: id.into(),
        committee_id: committee.into(),
        name: format!("name of {id}").trim_end().to_string(),
        post: "副区长".into(),
        organ_kind: kind as i32,
        organ_name: "香坊区人民政府".into(),
        appointed_on: "2017-01-10".into(),
        appointing_meeting: "区十六届人大常委会第五次会议".into(),
        correlation_id: String::new(),
    }
}

async fn register_ok(registry: &mut Registry, request: proto::RegisterAppointeeRequest) -> u64 {
    registry
        .register_appointee(request)
        .await
        .unwrap()
        .into_inner()
        .position
}

fn end_term(id: &str, on: &str) -> proto::EndAppointeeTermRequest {
    proto::EndAppointeeTermRequest {
        command_id: String::new(),
        appointee_id: id.into(),
        kind: proto::TermEndKind::Transfer as i32,
        on: on.into(),
        reason: "调任市司法局".into(),
        correlation_id: String::new(),
    }
}

fn list(committee: &str, page_size: u32, page_token: &str) -> proto::ListAppointeesRequest {
    proto::ListAppointeesRequest {
        committee_id: committee.into(),
        organ_kind: 0,
        status: 0,
        page_size,
        page_token: page_token.into(),
        min_position: 0,
    }
}

#[track_caller]
fn assert_status(status: &tonic::Status, code: Code, needles: &[&str]) {
    assert_eq!(status.code(), code, "{status:?}");
    for needle in needles {
        assert!(
            status.message().contains(needle),
            "{:?} lacks {needle:?}",
            status.message()
        );
    }
}

#[tokio::test]
async fn committees_with_members_and_children_read_back() {
    let server = TestServer::start().await;
    let mut registry = server.registry(&server.token).await;
    harbin(&mut registry).await;

    // A server-chosen id is returned.
    let created = registry
        .create_committee(proto::CreateCommitteeRequest {
            command_id: String::new(),
            committee_id: String::new(),
            name: "呼兰区人大常委会".into(),
            level: proto::CommitteeLevel::District as i32,
            parent_committee_id: "harbin".into(),
            correlation_id: "c-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!created.committee_id.is_empty());

    let added = registry
        .add_committee_member(proto::AddCommitteeMemberRequest {
            command_id: String::new(),
            committee_id: "xiangfang".into(),
            member_id: String::new(),
            name: "张三".into(),
            from: "2017-01-01".into(),
            to: String::new(),
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    for member in ["m1", "m2"] {
        registry
            .add_committee_member(proto::AddCommitteeMemberRequest {
                command_id: String::new(),
                committee_id: "xiangfang".into(),
                member_id: member.into(),
                name: format!("委员 {member}"),
                from: "2017-01-01".into(),
                to: "2021-12-31".into(),
                correlation_id: String::new(),
            })
            .await
            .unwrap();
    }
    let removed = registry
        .remove_committee_member(proto::RemoveCommitteeMemberRequest {
            command_id: String::new(),
            committee_id: "xiangfang".into(),
            member_id: "m2".into(),
            to: "2018-06-30".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(removed.position > added.position);

    let xiangfang = registry
        .get_committee(proto::GetCommitteeRequest {
            committee_id: "xiangfang".into(),
            min_position: removed.position,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(xiangfang.level, proto::CommitteeLevel::District as i32);
    assert_eq!(xiangfang.parent_committee_id, "harbin");
    assert_eq!(xiangfang.members.len(), 3);
    assert_eq!(xiangfang.seated_members, 2);
    assert_eq!(xiangfang.position, removed.position);
    let m2 = xiangfang
        .members
        .iter()
        .find(|m| m.member_id == "m2")
        .unwrap();
    assert!(!m2.seated);
    assert_eq!(m2.to, "2018-06-30");
    let generated = xiangfang
        .members
        .iter()
        .find(|m| m.member_id == added.member_id)
        .unwrap();
    assert_eq!(
        (generated.name.as_str(), generated.to.as_str()),
        ("张三", "")
    );

    // The city sees its districts.
    let city = registry
        .get_committee(proto::GetCommitteeRequest {
            committee_id: "harbin".into(),
            min_position: removed.position,
        })
        .await
        .unwrap()
        .into_inner();
    let mut expected = vec![
        "daowai".to_string(),
        "xiangfang".to_string(),
        created.committee_id.clone(),
    ];
    expected.sort();
    assert_eq!(city.child_committee_ids, expected);
    let children = registry
        .list_committees(proto::ListCommitteesRequest {
            parent_committee_id: "harbin".into(),
            page_size: 0,
            page_token: String::new(),
            min_position: removed.position,
        })
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<_> = children
        .committees
        .iter()
        .map(|c| c.committee_id.clone())
        .collect();
    assert_eq!(ids, expected);
    assert!(children.committees.iter().all(|c| c.members.is_empty()));
    let all = registry
        .list_committees(proto::ListCommitteesRequest {
            parent_committee_id: String::new(),
            page_size: 0,
            page_token: String::new(),
            min_position: removed.position,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.committees.len(), 4);
    assert_eq!(all.next_page_token, "");
}

#[tokio::test]
async fn committee_rejections_name_field_and_rule() {
    let server = TestServer::start().await;
    let mut registry = server.registry(&server.token).await;
    harbin(&mut registry).await;

    let twice = registry
        .create_committee(proto::CreateCommitteeRequest {
            command_id: String::new(),
            committee_id: "xiangfang".into(),
            name: "again".into(),
            level: proto::CommitteeLevel::District as i32,
            parent_committee_id: "harbin".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_status(
        &twice,
        Code::FailedPrecondition,
        &["committee xiangfang already exists"],
    );

    let unknown_parent = registry
        .create_committee(proto::CreateCommitteeRequest {
            command_id: String::new(),
            committee_id: "x".into(),
            name: "x".into(),
            level: proto::CommitteeLevel::District as i32,
            parent_committee_id: "nowhere".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_status(
        &unknown_parent,
        Code::NotFound,
        &["parent committee nowhere does not exist"],
    );

    let no_level = registry
        .create_committee(proto::CreateCommitteeRequest {
            command_id: String::new(),
            committee_id: "x".into(),
            name: "x".into(),
            level: 0,
            parent_committee_id: String::new(),
            correlation_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_status(&no_level, Code::InvalidArgument, &["level must be one of"]);

    let bad_parent_id = registry
        .create_committee(proto::CreateCommitteeRequest {
            command_id: String::new(),
            committee_id: "x".into(),
            name: "x".into(),
            level: proto::CommitteeLevel::District as i32,
            parent_committee_id: "no/slash".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_status(
        &bad_parent_id,
        Code::InvalidArgument,
        &["parent_committee_id"],
    );

    let bad_date = registry
        .add_committee_member(proto::AddCommitteeMemberRequest {
            command_id: String::new(),
            committee_id: "xiangfang".into(),
            member_id: "m1".into(),
            name: "张三".into(),
            from: "2017/01/01".into(),
            to: String::new(),
            correlation_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_status(
        &bad_date,
        Code::InvalidArgument,
        &["from must be a date written YYYY-MM-DD"],
    );

    let ends_before = registry
        .add_committee_member(proto::AddCommitteeMemberRequest {
            command_id: String::new(),
            committee_id: "xiangfang".into(),
            member_id: "m1".into(),
            name: "张三".into(),
            from: "2017-01-01".into(),
            to: "2016-01-01".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_status(
        &ends_before,
        Code::InvalidArgument,
        &["to must not be before from"],
    );

    let not_seated = registry
        .remove_committee_member(proto::RemoveCommitteeMemberRequest {
            command_id: String::new(),
            committee_id: "xiangfang".into(),
            member_id: "m9".into(),
            to: "2018-01-01".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_status(&not_seated, Code::NotFound, &["member m9 is not seated"]);

    let missing = registry
        .get_committee(proto::GetCommitteeRequest {
            committee_id: "nowhere".into(),
            min_position: 0,
        })
        .await
        .unwrap_err();
    assert_status(
        &missing,
        Code::NotFound,
        &["committee nowhere does not exist"],
    );
}

#[tokio::test]
async fn appointees_keep_their_term_history_and_filter_by_kind_and_status() {
    let server = TestServer::start().await;
    let mut registry = server.registry(&server.token).await;
    harbin(&mut registry).await;

    // Six appointees over the organ kinds, as in Xiangfang.
    let kinds = [
        ("gov-1", proto::OrganKind::Government),
        ("gov-2", proto::OrganKind::Government),
        ("court-1", proto::OrganKind::Court),
        ("court-2", proto::OrganKind::Court),
        ("proc-1", proto::OrganKind::Procuratorate),
        ("sup-1", proto::OrganKind::SupervisoryCommission),
    ];
    for (id, kind) in kinds {
        register_ok(&mut registry, register(id, "xiangfang", kind)).await;
    }
    let generated = registry
        .register_appointee(register("", "daowai", proto::OrganKind::Court))
        .await
        .unwrap()
        .into_inner();
    assert!(!generated.appointee_id.is_empty());

    registry
        .change_appointee_post(proto::ChangeAppointeePostRequest {
            command_id: String::new(),
            appointee_id: "gov-1".into(),
            post: "常务副区长".into(),
            organ_name: String::new(),
            on: "2018-03-01".into(),
            appointing_meeting: "区十六届人大常委会第十次会议".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap();
    let ended = registry
        .end_appointee_term(end_term("gov-1", "2019-05-31"))
        .await
        .unwrap()
        .into_inner();

    let gov1 = registry
        .get_appointee(proto::GetAppointeeRequest {
            appointee_id: "gov-1".into(),
            min_position: ended.position,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(gov1.status, proto::AppointeeStatus::Ended as i32);
    assert_eq!(gov1.post, "常务副区长");
    assert_eq!(gov1.appointed_on, "2017-01-10");
    assert_eq!(gov1.position, ended.position);
    let posts: Vec<_> = gov1
        .posts
        .iter()
        .map(|p| (p.post.as_str(), p.from.as_str(), p.to.as_str()))
        .collect();
    assert_eq!(
        posts,
        vec![
            ("副区长", "2017-01-10", "2018-03-01"),
            ("常务副区长", "2018-03-01", "2019-05-31"),
        ]
    );
    let end = gov1.term_end.unwrap();
    assert_eq!(end.kind, proto::TermEndKind::Transfer as i32);
    assert_eq!(
        (end.on.as_str(), end.reason.as_str()),
        ("2019-05-31", "调任市司法局")
    );

    // The events carry the target committee and the acting principal in their metadata.
    let mut log = server.client().await;
    let mut read = log
        .read_stream(proto::ReadStreamRequest {
            stream: "appointee-gov-1".into(),
            from_revision: None,
            direction: 0,
            max_count: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let mut events = Vec::new();
    while let Some(message) = read.message().await.unwrap() {
        events.extend(message.events);
    }
    assert_eq!(events.len(), 3);
    for event in &events {
        let metadata = event.metadata.as_ref().unwrap();
        assert_eq!(metadata.committee, "xiangfang");
        assert_eq!(metadata.actor_role, "admin");
    }
    assert_eq!(events[2].event_type, "AppointeeTermEnded.v1");

    let ids = |response: proto::ListAppointeesResponse| -> Vec<String> {
        response
            .appointees
            .into_iter()
            .map(|a| a.appointee_id)
            .collect()
    };
    let mut request = list("xiangfang", 0, "");
    request.min_position = ended.position;
    let all = registry.list_appointees(request.clone()).await.unwrap();
    assert_eq!(
        ids(all.into_inner()),
        vec!["court-1", "court-2", "gov-1", "gov-2", "proc-1", "sup-1"]
    );
    request.organ_kind = proto::OrganKind::Government as i32;
    let government = registry.list_appointees(request.clone()).await.unwrap();
    assert_eq!(ids(government.into_inner()), vec!["gov-1", "gov-2"]);
    request.status = proto::AppointeeStatus::Serving as i32;
    let serving = registry.list_appointees(request.clone()).await.unwrap();
    assert_eq!(ids(serving.into_inner()), vec!["gov-2"]);
    request.status = proto::AppointeeStatus::Ended as i32;
    let ended_list = registry.list_appointees(request.clone()).await.unwrap();
    assert_eq!(ids(ended_list.into_inner()), vec!["gov-1"]);
    request.organ_kind = 0;
    request.status = 0;
    request.committee_id = "daowai".into();
    let daowai = registry.list_appointees(request.clone()).await.unwrap();
    assert_eq!(
        ids(daowai.into_inner()),
        vec![generated.appointee_id.clone()]
    );
    // The admin lists every committee's appointees when no committee is named.
    request.committee_id = String::new();
    let everyone = registry.list_appointees(request).await.unwrap();
    assert_eq!(everyone.into_inner().appointees.len(), 7);
}

#[tokio::test]
async fn appointee_rejections_name_field_and_rule() {
    let server = TestServer::start().await;
    let mut registry = server.registry(&server.token).await;
    harbin(&mut registry).await;
    register_ok(
        &mut registry,
        register("a1", "xiangfang", proto::OrganKind::Court),
    )
    .await;

    let duplicate = registry
        .register_appointee(register("a1", "xiangfang", proto::OrganKind::Court))
        .await
        .unwrap_err();
    assert_status(
        &duplicate,
        Code::FailedPrecondition,
        &["appointee a1 is already registered"],
    );

    let unknown_committee = registry
        .register_appointee(register("a2", "nowhere", proto::OrganKind::Court))
        .await
        .unwrap_err();
    assert_status(
        &unknown_committee,
        Code::NotFound,
        &["committee nowhere does not exist"],
    );

    let mut no_kind = register("a3", "xiangfang", proto::OrganKind::Court);
    no_kind.organ_kind = 0;
    let no_kind = registry.register_appointee(no_kind).await.unwrap_err();
    assert_status(
        &no_kind,
        Code::InvalidArgument,
        &["organ_kind must be one of"],
    );

    let mut bad_date = register("a3", "xiangfang", proto::OrganKind::Court);
    bad_date.appointed_on = "2017-02-30".into();
    let bad_date = registry.register_appointee(bad_date).await.unwrap_err();
    assert_status(
        &bad_date,
        Code::InvalidArgument,
        &["appointed_on must be a date written YYYY-MM-DD"],
    );

    let mut blank = register("a3", "xiangfang", proto::OrganKind::Court);
    blank.post = " ".into();
    let blank = registry.register_appointee(blank).await.unwrap_err();
    assert_status(&blank, Code::InvalidArgument, &["post must not be blank"]);

    let bad_id = registry
        .register_appointee(register("a 3", "xiangfang", proto::OrganKind::Court))
        .await
        .unwrap_err();
    assert_status(
        &bad_id,
        Code::InvalidArgument,
        &["appointee_id must contain only"],
    );

    let before_start = registry
        .end_appointee_term(end_term("a1", "2016-12-31"))
        .await
        .unwrap_err();
    assert_status(
        &before_start,
        Code::InvalidArgument,
        &["on must not be before the appointment on 2017-01-10"],
    );

    let unknown = registry
        .end_appointee_term(end_term("nobody", "2018-01-01"))
        .await
        .unwrap_err();
    assert_status(&unknown, Code::NotFound, &["appointee does not exist"]);

    registry
        .end_appointee_term(end_term("a1", "2018-01-01"))
        .await
        .unwrap();
    let ended_again = registry
        .end_appointee_term(end_term("a1", "2018-02-01"))
        .await
        .unwrap_err();
    assert_status(
        &ended_again,
        Code::FailedPrecondition,
        &["a1's term ended on 2018-01-01"],
    );
    let post_after_end = registry
        .change_appointee_post(proto::ChangeAppointeePostRequest {
            command_id: String::new(),
            appointee_id: "a1".into(),
            post: "院长".into(),
            organ_name: String::new(),
            on: "2018-03-01".into(),
            appointing_meeting: "第十次会议".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_status(&post_after_end, Code::FailedPrecondition, &["term ended"]);

    let missing = registry
        .get_appointee(proto::GetAppointeeRequest {
            appointee_id: "nobody".into(),
            min_position: 0,
        })
        .await
        .unwrap_err();
    assert_status(
        &missing,
        Code::NotFound,
        &["appointee nobody does not exist"],
    );

    let bad_filter = registry
        .list_appointees(proto::ListAppointeesRequest {
            status: 9,
            ..list("xiangfang", 0, "")
        })
        .await
        .unwrap_err();
    assert_status(&bad_filter, Code::InvalidArgument, &["status"]);
}

#[tokio::test]
async fn deputy_groups_form_and_change() {
    let server = TestServer::start().await;
    let mut registry = server.registry(&server.token).await;
    harbin(&mut registry).await;
    let formed = registry
        .form_deputy_group(proto::FormDeputyGroupRequest {
            command_id: String::new(),
            group_id: "g3".into(),
            committee_id: "xiangfang".into(),
            name: "第三代表小组".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(formed.group_id, "g3");
    let generated = registry
        .add_deputy(proto::AddDeputyRequest {
            command_id: String::new(),
            group_id: "g3".into(),
            deputy_id: String::new(),
            name: "李四".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    for deputy in ["d1", "d2"] {
        registry
            .add_deputy(proto::AddDeputyRequest {
                command_id: String::new(),
                group_id: "g3".into(),
                deputy_id: deputy.into(),
                name: format!("代表 {deputy}"),
                correlation_id: String::new(),
            })
            .await
            .unwrap();
    }
    let removed = registry
        .remove_deputy(proto::RemoveDeputyRequest {
            command_id: String::new(),
            group_id: "g3".into(),
            deputy_id: "d1".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let group = registry
        .get_deputy_group(proto::GetDeputyGroupRequest {
            group_id: "g3".into(),
            min_position: removed.position,
        })
        .await
        .unwrap()
        .into_inner();
    let mut deputies: Vec<_> = group.deputies.iter().map(|d| d.deputy_id.clone()).collect();
    deputies.sort();
    let mut expected = vec!["d2".to_string(), generated.deputy_id.clone()];
    expected.sort();
    assert_eq!(deputies, expected);
    assert_eq!(group.committee_id, "xiangfang");

    let second = registry
        .form_deputy_group(proto::FormDeputyGroupRequest {
            command_id: String::new(),
            group_id: String::new(),
            committee_id: "xiangfang".into(),
            name: "第四代表小组".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let groups = registry
        .list_deputy_groups(proto::ListDeputyGroupsRequest {
            committee_id: "xiangfang".into(),
            page_size: 0,
            page_token: String::new(),
            min_position: second.position,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(groups.groups.len(), 2);

    let twice = registry
        .add_deputy(proto::AddDeputyRequest {
            command_id: String::new(),
            group_id: "g3".into(),
            deputy_id: "d2".into(),
            name: "代表 d2".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_status(
        &twice,
        Code::FailedPrecondition,
        &["deputy d2 is already in the group"],
    );
    let not_in = registry
        .remove_deputy(proto::RemoveDeputyRequest {
            command_id: String::new(),
            group_id: "g3".into(),
            deputy_id: "d1".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_status(&not_in, Code::NotFound, &["deputy d1 is not in the group"]);
    let no_committee = registry
        .form_deputy_group(proto::FormDeputyGroupRequest {
            command_id: String::new(),
            group_id: "g9".into(),
            committee_id: "nowhere".into(),
            name: "x".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_status(
        &no_committee,
        Code::NotFound,
        &["committee nowhere does not exist"],
    );
    let no_group = registry
        .add_deputy(proto::AddDeputyRequest {
            command_id: String::new(),
            group_id: "nogroup".into(),
            deputy_id: "d1".into(),
            name: "x".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_status(&no_group, Code::NotFound, &["deputy group does not exist"]);
}

#[tokio::test]
async fn lists_page_without_duplicates_or_gaps() {
    let server = TestServer::start().await;
    let mut registry = server.registry(&server.token).await;
    let mut last = harbin(&mut registry).await;
    let mut expected = BTreeSet::new();
    for i in 0..23 {
        let id = format!("a{i:02}");
        last = register_ok(
            &mut registry,
            register(&id, "xiangfang", proto::OrganKind::Government),
        )
        .await;
        expected.insert(id);
    }
    // Other committees' appointees must not leak into the page.
    register_ok(
        &mut registry,
        register("other", "daowai", proto::OrganKind::Government),
    )
    .await;
    // Ending every third term makes the status filter skip entries between pages.
    let mut serving = expected.clone();
    for i in (0..23).step_by(3) {
        let id = format!("a{i:02}");
        last = registry
            .end_appointee_term(end_term(&id, "2018-01-01"))
            .await
            .unwrap()
            .into_inner()
            .position;
        serving.remove(&id);
    }

    for (status, want) in [
        (proto::AppointeeStatus::Unspecified, &expected),
        (proto::AppointeeStatus::Serving, &serving),
    ] {
        let mut seen = Vec::new();
        let mut token = String::new();
        let mut pages = 0;
        loop {
            let mut request = list("xiangfang", 5, &token);
            request.status = status as i32;
            request.min_position = last;
            let page = registry
                .list_appointees(request)
                .await
                .unwrap()
                .into_inner();
            assert!(page.appointees.len() <= 5);
            seen.extend(page.appointees.into_iter().map(|a| a.appointee_id));
            pages += 1;
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        let unique: BTreeSet<_> = seen.iter().cloned().collect();
        assert_eq!(unique.len(), seen.len(), "duplicates in {seen:?}");
        assert_eq!(&unique, want);
        assert!(pages >= want.len().div_ceil(5));
    }

    let bad_token = registry
        .list_appointees(list("xiangfang", 5, "zz"))
        .await
        .unwrap_err();
    assert_status(&bad_token, Code::InvalidArgument, &["page_token"]);
    let too_big = registry
        .list_appointees(list("xiangfang", 100_000, ""))
        .await
        .unwrap_err();
    assert_status(&too_big, Code::InvalidArgument, &["page_size"]);
}

fn tokens() -> Vec<TokenSpec> {
    vec![
        TokenSpec::new("ovs_clerk_xf", "clerk", Some("xiangfang")),
        TokenSpec::new("ovs_clerk_dw", "clerk", Some("daowai")),
        TokenSpec::new("ovs_chair_hrb", "chair", Some("harbin")),
        TokenSpec::new("ovs_chair_xf", "chair", Some("xiangfang")),
        TokenSpec::new("ovs_member_xf", "committee_member", Some("xiangfang")),
        TokenSpec::new("ovs_reporter", "reporter", None),
        TokenSpec::new("ovs_auditor", "auditor", None),
        TokenSpec {
            subject: "a1",
            ..TokenSpec::new("ovs_appointee_a1", "appointee", Some("xiangfang"))
        },
        TokenSpec {
            deputy_group: Some("g1"),
            ..TokenSpec::new("ovs_deputy_g1", "deputy", Some("xiangfang"))
        },
    ]
}

#[tokio::test]
async fn roles_and_committee_scope_are_enforced() {
    let server = TestServer::start_with_tokens(&tokens()).await;
    let mut admin = server.registry(ADMIN).await;
    harbin(&mut admin).await;

    // Committee creation is for admins only.
    let mut clerk = server.registry("ovs_clerk_xf").await;
    let denied = clerk
        .create_committee(proto::CreateCommitteeRequest {
            command_id: String::new(),
            committee_id: "x".into(),
            name: "x".into(),
            level: proto::CommitteeLevel::City as i32,
            parent_committee_id: String::new(),
            correlation_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_status(
        &denied,
        Code::PermissionDenied,
        &["clerk", "CreateCommittee"],
    );

    // A clerk registers in their own committee, not in another.
    let own = register_ok(
        &mut clerk,
        register("a1", "xiangfang", proto::OrganKind::Court),
    )
    .await;
    let mut other_clerk = server.registry("ovs_clerk_dw").await;
    let foreign = other_clerk
        .register_appointee(register("a2", "xiangfang", proto::OrganKind::Court))
        .await
        .unwrap_err();
    assert_status(
        &foreign,
        Code::PermissionDenied,
        &["committee daowai", "act on committee xiangfang"],
    );
    let foreign_end = other_clerk
        .end_appointee_term(end_term("a1", "2018-01-01"))
        .await
        .unwrap_err();
    assert_eq!(foreign_end.code(), Code::PermissionDenied);
    let foreign_read = other_clerk
        .get_appointee(proto::GetAppointeeRequest {
            appointee_id: "a1".into(),
            min_position: own,
        })
        .await
        .unwrap_err();
    assert_status(
        &foreign_read,
        Code::PermissionDenied,
        &["read committee xiangfang"],
    );

    // The city's chair reads its district's aggregates, not its appointees.
    let mut city = server.registry("ovs_chair_hrb").await;
    let aggregates_only = city
        .get_appointee(proto::GetAppointeeRequest {
            appointee_id: "a1".into(),
            min_position: own,
        })
        .await
        .unwrap_err();
    assert_status(
        &aggregates_only,
        Code::PermissionDenied,
        &["records of committee xiangfang", "aggregates"],
    );
    let list_denied = city
        .list_appointees(list("xiangfang", 0, ""))
        .await
        .unwrap_err();
    assert_eq!(list_denied.code(), Code::PermissionDenied);
    let district = city
        .get_committee(proto::GetCommitteeRequest {
            committee_id: "xiangfang".into(),
            min_position: own,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(district.parent_committee_id, "harbin");

    // A member reads their committee; the auditor reads all.
    for token in ["ovs_member_xf", "ovs_auditor"] {
        let mut reader = server.registry(token).await;
        let a1 = reader
            .get_appointee(proto::GetAppointeeRequest {
                appointee_id: "a1".into(),
                min_position: own,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(a1.committee_id, "xiangfang");
        let listed = reader
            .list_appointees(list("xiangfang", 0, ""))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.appointees.len(), 1, "{token}");
        let denied = reader
            .register_appointee(register("a9", "xiangfang", proto::OrganKind::Court))
            .await
            .unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied, "{token}");
    }
    // A clerk without a committee named lists their own committee.
    let listed = clerk
        .list_appointees(list("", 0, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.appointees.len(), 1);
    let empty = other_clerk
        .list_appointees(list("", 0, ""))
        .await
        .unwrap()
        .into_inner();
    assert!(empty.appointees.is_empty());

    // Without a parent named, a scoped caller lists its own committee and its children.
    for (token, expected) in [
        ("ovs_chair_hrb", vec!["daowai", "harbin", "xiangfang"]),
        ("ovs_clerk_xf", vec!["xiangfang"]),
        ("ovs_auditor", vec!["daowai", "harbin", "xiangfang"]),
    ] {
        let mut reader = server.registry(token).await;
        let listed = reader
            .list_committees(proto::ListCommitteesRequest {
                parent_committee_id: String::new(),
                page_size: 0,
                page_token: String::new(),
                min_position: own,
            })
            .await
            .unwrap()
            .into_inner();
        let ids: Vec<_> = listed
            .committees
            .iter()
            .map(|c| c.committee_id.as_str())
            .collect();
        assert_eq!(ids, expected, "{token}");
    }
    let foreign_children = clerk
        .list_committees(proto::ListCommitteesRequest {
            parent_committee_id: "harbin".into(),
            page_size: 0,
            page_token: String::new(),
            min_position: 0,
        })
        .await
        .unwrap_err();
    assert_status(
        &foreign_children,
        Code::PermissionDenied,
        &["read committee harbin"],
    );

    // Reporters see aggregates only.
    let mut reporter = server.registry("ovs_reporter").await;
    let denied = reporter
        .list_appointees(list("xiangfang", 0, ""))
        .await
        .unwrap_err();
    assert_status(
        &denied,
        Code::PermissionDenied,
        &["reporter", "ListAppointees"],
    );
    let denied = reporter
        .get_committee(proto::GetCommitteeRequest {
            committee_id: "xiangfang".into(),
            min_position: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    // An appointee reads only their own record.
    register_ok(
        &mut clerk,
        register("a2", "xiangfang", proto::OrganKind::Court),
    )
    .await;
    let mut appointee = server.registry("ovs_appointee_a1").await;
    let mine = appointee
        .get_appointee(proto::GetAppointeeRequest {
            appointee_id: "a1".into(),
            min_position: own,
        })
        .await
        .unwrap();
    assert_eq!(mine.into_inner().appointee_id, "a1");
    let theirs = appointee
        .get_appointee(proto::GetAppointeeRequest {
            appointee_id: "a2".into(),
            min_position: 0,
        })
        .await
        .unwrap_err();
    assert_status(&theirs, Code::PermissionDenied, &["only their own"]);
    let list_denied = appointee
        .list_appointees(list("xiangfang", 0, ""))
        .await
        .unwrap_err();
    assert_eq!(list_denied.code(), Code::PermissionDenied);

    // A deputy reads their own group only.
    let formed = clerk
        .form_deputy_group(proto::FormDeputyGroupRequest {
            command_id: String::new(),
            group_id: "g1".into(),
            committee_id: "xiangfang".into(),
            name: "第一代表小组".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut deputy = server.registry("ovs_deputy_g1").await;
    deputy
        .get_deputy_group(proto::GetDeputyGroupRequest {
            group_id: "g1".into(),
            min_position: formed.position,
        })
        .await
        .unwrap();
    let other_group = deputy
        .get_deputy_group(proto::GetDeputyGroupRequest {
            group_id: "g2".into(),
            min_position: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(other_group.code(), Code::PermissionDenied);
    let add_denied = deputy
        .add_deputy(proto::AddDeputyRequest {
            command_id: String::new(),
            group_id: "g1".into(),
            deputy_id: "d1".into(),
            name: "x".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(add_denied.code(), Code::PermissionDenied);
    let foreign_group = other_clerk
        .add_deputy(proto::AddDeputyRequest {
            command_id: String::new(),
            group_id: "g1".into(),
            deputy_id: "d1".into(),
            name: "x".into(),
            correlation_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(foreign_group.code(), Code::PermissionDenied);
}

fn months(due_months: u32) -> proto::SupervisionPolicy {
    proto::SupervisionPolicy {
        visit_rating_min: 1,
        visit_rating_max: 5,
        finding_due_months: due_months,
        finding_due_soon_days: 14,
        annual_plan_min_laws: 3,
        annual_plan_max_laws: 5,
        feedback_rating_options: vec!["satisfied".into(), "dissatisfied".into()],
        utc_offset_minutes: 480,
    }
}

fn adopt(
    committee: &str,
    policy: Option<proto::SupervisionPolicy>,
) -> proto::AdoptSupervisionPolicyRequest {
    proto::AdoptSupervisionPolicyRequest {
        command_id: String::new(),
        committee_id: committee.into(),
        policy,
        correlation_id: String::new(),
    }
}

fn get_policy(committee: &str, min_position: u64) -> proto::GetSupervisionPolicyRequest {
    proto::GetSupervisionPolicyRequest {
        committee_id: committee.into(),
        min_position,
    }
}

#[tokio::test]
async fn supervision_policies_are_adopted_by_the_committees_chair_and_versioned() {
    let server = TestServer::start_with_tokens(&tokens()).await;
    let mut admin = server.registry(ADMIN).await;
    let created = harbin(&mut admin).await;
    let mut chair = server.registry("ovs_chair_xf").await;

    // The shipped default, version 0, until the committee adopts one.
    let shipped = chair
        .get_supervision_policy(get_policy("xiangfang", created))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((shipped.version, shipped.position), (0, 0));
    let default = shipped.policy.unwrap();
    assert_eq!(default.finding_due_months, 3);
    assert_eq!(default.utc_offset_minutes, 480);

    // Another committee's chair (even the city's) and the committee's clerk may not adopt.
    let mut city_chair = server.registry("ovs_chair_hrb").await;
    let foreign = city_chair
        .adopt_supervision_policy(adopt("xiangfang", Some(months(6))))
        .await
        .unwrap_err();
    assert_status(
        &foreign,
        Code::PermissionDenied,
        &["committee harbin", "act on committee xiangfang"],
    );
    let mut clerk = server.registry("ovs_clerk_xf").await;
    let clerk_denied = clerk
        .adopt_supervision_policy(adopt("xiangfang", Some(months(6))))
        .await
        .unwrap_err();
    assert_status(
        &clerk_denied,
        Code::PermissionDenied,
        &["clerk", "AdoptSupervisionPolicy"],
    );

    // The chair adopts version 1.
    let first = chair
        .adopt_supervision_policy(adopt("xiangfang", Some(months(6))))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.version, 1);
    let in_force = chair
        .get_supervision_policy(get_policy("xiangfang", first.position))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((in_force.version, in_force.position), (1, first.position));
    assert_eq!(in_force.policy.unwrap(), months(6));

    // Refusals name the field and write nothing: the next adoption is version 2.
    let missing = chair
        .adopt_supervision_policy(adopt("xiangfang", None))
        .await
        .unwrap_err();
    assert_status(&missing, Code::InvalidArgument, &["policy", "is required"]);
    let mut broken = months(6);
    broken.visit_rating_min = 7;
    let broken = chair
        .adopt_supervision_policy(adopt("xiangfang", Some(broken)))
        .await
        .unwrap_err();
    assert_status(&broken, Code::InvalidArgument, &["policy.visit_rating_min"]);
    let mut no_options = months(6);
    no_options.feedback_rating_options.clear();
    let no_options = chair
        .adopt_supervision_policy(adopt("xiangfang", Some(no_options)))
        .await
        .unwrap_err();
    assert_status(
        &no_options,
        Code::InvalidArgument,
        &["policy.feedback_rating_options"],
    );
    let second = chair
        .adopt_supervision_policy(adopt("xiangfang", Some(months(2))))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.version, 2);

    // Daowai keeps the default; its clerk may not read Xiangfang's policy, the city may.
    let mut daowai = server.registry("ovs_clerk_dw").await;
    let own = daowai
        .get_supervision_policy(get_policy("daowai", second.position))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(own.version, 0);
    let foreign_read = daowai
        .get_supervision_policy(get_policy("xiangfang", 0))
        .await
        .unwrap_err();
    assert_status(
        &foreign_read,
        Code::PermissionDenied,
        &["read committee xiangfang"],
    );
    let city = city_chair
        .get_supervision_policy(get_policy("xiangfang", 0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(city.version, 2);
    let unknown = admin
        .get_supervision_policy(get_policy("nowhere", 0))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);

    // The policy view survives a rebuild unchanged.
    common::setup::rebuild_view(&server, "registry").await;
    let rebuilt = chair
        .get_supervision_policy(get_policy("xiangfang", 0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((rebuilt.version, rebuilt.position), (2, second.position));
}
