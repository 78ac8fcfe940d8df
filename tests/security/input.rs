//! Input the services refuse, whoever sends it: names with spaces at the ends, invisible or
//! bidirectional control characters and line breaks; dates not written `YYYY-MM-DD` with a
//! four-digit year; JSON payloads nested without bound. And the real names they keep
//! accepting (Uyghur, Mongolian, Tibetan, with a middle dot), stored in NFC.

use oversight::proto::{self, AppendRequest, ProposedEvent};
use tonic::Code;

use crate::common::{TestServer, TokenSpec};

fn create(id: &str, name: &str) -> proto::CreateCommitteeRequest {
    proto::CreateCommitteeRequest {
        committee_id: id.into(),
        name: name.into(),
        level: proto::CommitteeLevel::District as i32,
        parent_committee_id: String::new(),
        correlation_id: String::new(),
        command_id: String::new(),
    }
}

fn member(id: &str, name: &str, from: &str) -> proto::AddCommitteeMemberRequest {
    proto::AddCommitteeMemberRequest {
        committee_id: "xf".into(),
        member_id: id.into(),
        name: name.into(),
        from: from.into(),
        to: String::new(),
        correlation_id: String::new(),
        command_id: String::new(),
    }
}

#[tokio::test]
async fn names_with_hidden_or_misleading_characters_are_refused_naming_the_field() {
    let server = TestServer::start().await;
    let mut registry = server.registry(&server.token).await;
    for bad in [
        " 香坊区人大常委会",
        "香坊区人大常委会 ",
        "香坊区\u{202e}会委常",
        "\u{feff}香坊区",
        "香坊\u{0}区",
        "香坊\u{1b}[2J区",
        "香坊\u{85}区",
        "香坊\n区",
    ] {
        let refused = registry
            .create_committee(create("xf", bad))
            .await
            .unwrap_err();
        assert_eq!(
            refused.code(),
            Code::InvalidArgument,
            "{bad:?}: {refused:?}"
        );
        assert!(
            refused.message().starts_with("name "),
            "{bad:?}: {refused:?}"
        );
    }
    registry
        .create_committee(create("xf", "香坊区人大常委会"))
        .await
        .unwrap();
    let refused = registry
        .add_committee_member(member("m1", "王明\u{2066}", "2024-01-01"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(refused.message().starts_with("name "), "{refused:?}");
}

#[tokio::test]
async fn real_names_are_accepted_and_kept_in_nfc() {
    let server = TestServer::start().await;
    let mut registry = server.registry(&server.token).await;
    registry
        .create_committee(create("xf", "Comite\u{301} de Xiangfang"))
        .await
        .unwrap();
    let names = [
        ("uyghur", "ئابدۇرېشىت ئەخمەت"),
        ("mongolian", "ᠪᠠᠲᠤ\u{180b}ᠮᠥᠩ\u{200d}ᠬᠡ\u{202f}ᠶᠢᠨ\u{fe00}"),
        ("tibetan", "བསྟན་འཛིན་རྒྱ་མཚོ"),
        ("dot", "阿卜杜热西提·买买提"),
    ];
    let mut position = 0;
    for (id, name) in names {
        position = registry
            .add_committee_member(member(id, name, "2024-01-01"))
            .await
            .unwrap_or_else(|e| panic!("{id}: {e:?}"))
            .into_inner()
            .position;
    }
    let committee = registry
        .get_committee(proto::GetCommitteeRequest {
            committee_id: "xf".into(),
            min_position: position,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(committee.name, "Comit\u{e9} de Xiangfang", "stored in NFC");
    for (id, name) in names {
        let stored = committee
            .members
            .iter()
            .find(|m| m.member_id == id)
            .unwrap();
        assert_eq!(stored.name, name, "{id}");
    }
}

#[tokio::test]
async fn dates_must_be_yyyy_mm_dd_with_a_four_digit_year() {
    let server =
        TestServer::start_with_tokens(&[TokenSpec::new("ovs_clerk", "clerk", Some("xf"))]).await;
    let mut registry = server.registry(&server.token).await;
    registry
        .create_committee(create("xf", "香坊区人大常委会"))
        .await
        .unwrap();
    for bad in ["2026-1-5", "-0001-01-01", "+10000-01-01", "1899-12-31"] {
        let refused = registry
            .add_committee_member(member("m1", "王明", bad))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{bad}: {refused:?}");
        assert_eq!(
            refused.message(),
            format!(
                "from must be a date written YYYY-MM-DD with a year from 1900 to 9999, not {bad:?}"
            ),
        );
    }
    let mut evaluation = oversight::proto::evaluation_client::EvaluationClient::with_interceptor(
        server.channel().await,
        crate::common::Bearer(Some("ovs_clerk".into())),
    );
    let refused = evaluation
        .schedule_session(proto::ScheduleSessionRequest {
            committee_id: "xf".into(),
            session_id: "s1".into(),
            date: "+10000-01-01".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(
        refused
            .message()
            .starts_with("date must be a date written YYYY-MM-DD"),
        "{refused:?}"
    );
    // The session's meeting name is a name like the others.
    let refused = evaluation
        .schedule_session(proto::ScheduleSessionRequest {
            committee_id: "xf".into(),
            session_id: "s1".into(),
            meeting_name: "第八次会议\u{202e}".into(),
            date: "2026-01-05".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(
        refused.message().starts_with("meeting_name "),
        "{refused:?}"
    );
}

#[tokio::test]
async fn json_payloads_are_bounded_in_depth() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let append = |data: Vec<u8>| AppendRequest {
        stream: "deep".into(),
        events: vec![ProposedEvent {
            event_type: "Deep.v1".into(),
            data,
            ..Default::default()
        }],
        ..Default::default()
    };
    for depth in [100, 1_000_000] {
        let data = format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes();
        let refused = client.append(append(data)).await.unwrap_err();
        assert_eq!(
            refused.code(),
            Code::InvalidArgument,
            "{depth}: {refused:?}"
        );
        assert!(
            refused.message().contains("nested deeper than 64"),
            "{depth}: {refused:?}"
        );
    }
    let fine = format!(r#"{}"x{{[\"]"{}"#, "[".repeat(64), "]".repeat(64));
    client.append(append(fine.into_bytes())).await.unwrap();
}
