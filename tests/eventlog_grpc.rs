//! The EventLog over gRPC, against the real server booted on 127.0.0.1:0 in a temp dir.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestServer;
use oversight::proto::{
    self, AppendMultiRequest, AppendRequest, ExpectedRevision, HeadRequest, ProposedEvent,
    ReadAllRequest, ReadStreamRequest, StreamAppend, SubscribeRequest, VerifyRequest,
    expected_revision::Kind, subscribe_request::Start, subscribe_response::Message,
};
use tonic::Code;

fn event(n: u64) -> ProposedEvent {
    ProposedEvent {
        event_id: String::new(),
        event_type: "Thing.Happened.v1".into(),
        data: format!("{{\"n\":{n}}}").into_bytes(),
        content_type: proto::ContentType::Json as i32,
        metadata: None,
    }
}

fn with_id(id: &str, data: &str) -> ProposedEvent {
    ProposedEvent {
        event_id: id.into(),
        data: data.as_bytes().to_vec(),
        ..event(0)
    }
}

fn expected(kind: Kind) -> Option<ExpectedRevision> {
    Some(ExpectedRevision { kind: Some(kind) })
}

fn append(
    stream: &str,
    expected: Option<ExpectedRevision>,
    events: Vec<ProposedEvent>,
) -> AppendRequest {
    AppendRequest {
        stream: stream.into(),
        expected_revision: expected,
        events,
    }
}

async fn collect(
    mut stream: tonic::Streaming<proto::ReadResponse>,
) -> (Vec<proto::RecordedEvent>, usize) {
    let mut events = Vec::new();
    let mut messages = 0;
    while let Some(message) = stream.message().await.unwrap() {
        messages += 1;
        events.extend(message.events);
    }
    (events, messages)
}

#[tokio::test]
async fn append_then_read_stream_round_trip() {
    let server = TestServer::start().await;
    let mut client = server.client().await;

    let response = client
        .append(append("notes-1", None, vec![event(0), event(1), event(2)]))
        .await
        .unwrap()
        .into_inner();
    let result = response.result.unwrap();
    assert!(!response.replayed);
    assert_eq!((result.first_revision, result.last_revision), (0, 2));
    assert_eq!((result.first_position, result.last_position), (1, 3));

    let stream = client
        .read_stream(ReadStreamRequest {
            stream: "notes-1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let (events, _) = collect(stream).await;
    assert_eq!(events.len(), 3);
    // Sent without ids: the server assigns time-ordered ones (UUIDv7), in the events' order.
    let ids: Vec<uuid::Uuid> = events
        .iter()
        .map(|e| uuid::Uuid::parse_str(&e.event_id).unwrap())
        .collect();
    assert!(
        ids.iter()
            .all(|id| id.get_version() == Some(uuid::Version::SortRand)),
        "{ids:?}"
    );
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.revision, i as u64);
        assert_eq!(e.position, i as u64 + 1);
        assert_eq!(e.stream, "notes-1");
        assert_eq!(e.data, format!("{{\"n\":{i}}}").into_bytes());
        assert_eq!(e.hash.len(), 32);
        let metadata = e.metadata.as_ref().unwrap();
        assert_eq!(
            metadata.actor_subject, "admin",
            "the server records the actor"
        );
        assert_eq!(metadata.actor_role, "admin");
        assert!(uuid::Uuid::parse_str(&e.event_id).is_ok());
    }

    let backwards = client
        .read_stream(ReadStreamRequest {
            stream: "notes-1".into(),
            direction: proto::Direction::Backwards as i32,
            max_count: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let (events, _) = collect(backwards).await;
    let revisions: Vec<u64> = events.iter().map(|e| e.revision).collect();
    assert_eq!(revisions, vec![2, 1]);

    let missing = client
        .read_stream(ReadStreamRequest {
            stream: "nobody".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound, "{missing:?}");
}

#[tokio::test]
async fn append_multi_round_trip() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let response = client
        .append_multi(AppendMultiRequest {
            appends: vec![
                StreamAppend {
                    stream: "a".into(),
                    expected_revision: expected(Kind::NoStream(())),
                    events: vec![event(0), event(1)],
                },
                StreamAppend {
                    stream: "b".into(),
                    expected_revision: expected(Kind::NoStream(())),
                    events: vec![event(2)],
                },
            ],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.results.len(), 2);
    assert_eq!(response.results[0].stream, "a");
    assert_eq!(response.results[0].last_position, 2);
    assert_eq!(response.results[1].stream, "b");
    assert_eq!(response.results[1].first_position, 3);

    // All or nothing: one stream's conflict writes nothing for the other.
    let conflict = client
        .append_multi(AppendMultiRequest {
            appends: vec![
                StreamAppend {
                    stream: "c".into(),
                    expected_revision: None,
                    events: vec![event(3)],
                },
                StreamAppend {
                    stream: "a".into(),
                    expected_revision: expected(Kind::NoStream(())),
                    events: vec![event(4)],
                },
            ],
        })
        .await
        .unwrap_err();
    assert_eq!(conflict.code(), Code::Aborted);
    let head = client.head(HeadRequest {}).await.unwrap().into_inner();
    assert_eq!(head.position, 3);
}

/// An `AppendMulti` entry without events is a condition: the append is made only while its
/// stream is at the expected revision, and nothing is written to it.
#[tokio::test]
async fn append_multi_conditions_on_other_streams_hold_the_append_or_refuse_it_whole() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let condition = |stream: &str, kind: Option<Kind>| StreamAppend {
        stream: stream.into(),
        expected_revision: kind.map(|k| ExpectedRevision { kind: Some(k) }),
        events: vec![],
    };
    let entry = |stream: &str, kind: Kind, events: Vec<ProposedEvent>| StreamAppend {
        stream: stream.into(),
        expected_revision: expected(kind),
        events,
    };
    client
        .append(append("policy", None, vec![event(0)]))
        .await
        .unwrap();

    // The policy is at revision 0: the session is written, the policy is not touched.
    let request = AppendMultiRequest {
        appends: vec![
            condition("policy", Some(Kind::Exact(0))),
            entry(
                "session",
                Kind::NoStream(()),
                vec![with_id("0190b0a0-0000-7000-8000-000000000001", "{}")],
            ),
            condition("absent", Some(Kind::NoStream(()))),
        ],
    };
    let written = client
        .append_multi(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(written.results.len(), 1, "{written:?}");
    assert_eq!(written.results[0].stream, "session");
    assert_eq!(written.results[0].last_position, 2);
    assert!(!written.replayed);
    // A retry is answered with the original positions.
    let again = client.append_multi(request).await.unwrap().into_inner();
    assert!(again.replayed);
    assert_eq!(again.results, written.results);

    // The policy moves on: the same condition now refuses the whole append, naming it.
    client
        .append(append("policy", None, vec![event(1)]))
        .await
        .unwrap();
    for (cond, needles) in [
        (
            condition("policy", Some(Kind::Exact(0))),
            ["policy", "actual 1"],
        ),
        (
            condition("absent", Some(Kind::StreamExists(()))),
            ["absent", "actual no_stream"],
        ),
    ] {
        let refused = client
            .append_multi(AppendMultiRequest {
                appends: vec![cond, entry("session", Kind::Exact(0), vec![event(2)])],
            })
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::Aborted, "{refused:?}");
        for needle in needles {
            assert!(refused.message().contains(needle), "{needle}: {refused:?}");
        }
    }
    let head = client.head(HeadRequest {}).await.unwrap().into_inner();
    assert_eq!(head.position, 3, "nothing written by a refused append");
    for stream in ["absent"] {
        let missing = client
            .read_stream(ReadStreamRequest {
                stream: stream.into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(missing.code(), Code::NotFound, "{stream}: {missing:?}");
    }

    // A condition must name a revision; conditions alone are not an append; `Append` needs
    // events.
    let invalid = [
        (
            vec![
                condition("policy", None),
                entry("session", Kind::Exact(0), vec![event(3)]),
            ],
            "appends[0].expected_revision",
        ),
        (
            vec![
                condition("policy", Some(Kind::Any(()))),
                entry("session", Kind::Exact(0), vec![event(3)]),
            ],
            "appends[0].expected_revision",
        ),
        (
            vec![condition("policy", Some(Kind::Exact(1)))],
            "hold no events",
        ),
    ];
    for (appends, needle) in invalid {
        let status = client
            .append_multi(AppendMultiRequest { appends })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(status.message().contains(needle), "{needle}: {status:?}");
    }
    let status = client
        .append(append("policy", expected(Kind::Exact(1)), vec![]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("events"), "{status:?}");
}

#[tokio::test]
async fn read_all_is_chunked_paged_and_filtered() {
    let server = TestServer::start_with(|s| {
        common::without_read_audit(s);
        s.limits.read_chunk = 10;
    })
    .await;
    let mut client = server.client().await;
    for i in 0..5 {
        let events = (0..10).map(|n| event(i * 10 + n)).collect();
        client
            .append(append(&format!("s-{}", i % 2), None, events))
            .await
            .unwrap();
    }

    let all = client
        .read_all(ReadAllRequest::default())
        .await
        .unwrap()
        .into_inner();
    let (events, messages) = collect(all).await;
    let positions: Vec<u64> = events.iter().map(|e| e.position).collect();
    assert_eq!(positions, (1..=50).collect::<Vec<_>>());
    assert!(
        messages >= 5,
        "read_chunk 10 over 50 events gave {messages} messages"
    );

    let limited = client
        .read_all(ReadAllRequest {
            from_position: Some(5),
            max_count: 23,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let (events, _) = collect(limited).await;
    assert_eq!(events.len(), 23);
    assert_eq!(events[0].position, 5);
    assert_eq!(events[22].position, 27);

    let backwards = client
        .read_all(ReadAllRequest {
            direction: proto::Direction::Backwards as i32,
            max_count: 15,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let (events, _) = collect(backwards).await;
    let positions: Vec<u64> = events.iter().map(|e| e.position).collect();
    assert_eq!(positions, (36..=50).rev().collect::<Vec<_>>());

    let filtered = client
        .read_all(ReadAllRequest {
            filter: Some(proto::Filter {
                stream_prefixes: vec!["s-1".into()],
                event_types: vec![],
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let (events, _) = collect(filtered).await;
    assert_eq!(events.len(), 20);
    assert!(events.iter().all(|e| e.stream == "s-1"));
}

#[tokio::test]
async fn subscribe_delivers_history_caught_up_then_live() {
    let server = TestServer::start_with(common::without_read_audit).await;
    let mut client = server.client().await;
    client
        .append(append("s", None, vec![event(0), event(1)]))
        .await
        .unwrap();

    let mut subscription = client
        .subscribe(SubscribeRequest {
            start: Some(Start::FromPosition(0)),
            filter: None,
        })
        .await
        .unwrap()
        .into_inner();
    let mut positions = Vec::new();
    loop {
        match subscription
            .message()
            .await
            .unwrap()
            .unwrap()
            .message
            .unwrap()
        {
            Message::Events(chunk) => positions.extend(chunk.events.iter().map(|e| e.position)),
            Message::CaughtUp(caught_up) => {
                assert_eq!(caught_up.head_position, 2);
                break;
            }
        }
    }
    assert_eq!(positions, vec![1, 2]);

    client
        .append(append("s", None, vec![event(2)]))
        .await
        .unwrap();
    match subscription
        .message()
        .await
        .unwrap()
        .unwrap()
        .message
        .unwrap()
    {
        Message::Events(chunk) => assert_eq!(chunk.events[0].position, 3),
        other => panic!("expected a live event, got {other:?}"),
    }
}

#[tokio::test]
async fn head_and_verify() {
    let server = TestServer::start_with(common::without_read_audit).await;
    let mut client = server.client().await;
    let empty = client.head(HeadRequest {}).await.unwrap().into_inner();
    assert_eq!(empty.position, 0);
    assert_eq!(empty.hash, vec![0u8; 32]);

    client
        .append(append("s", None, vec![event(0), event(1), event(2)]))
        .await
        .unwrap();
    let head = client.head(HeadRequest {}).await.unwrap().into_inner();
    assert_eq!(head.position, 3);

    let stream = client
        .read_all(ReadAllRequest::default())
        .await
        .unwrap()
        .into_inner();
    let (events, _) = collect(stream).await;
    assert_eq!(
        head.hash, events[2].hash,
        "the head is the last record's hash"
    );

    let report = client
        .verify(VerifyRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.checked, 3);
    assert_eq!(report.first_bad_position, 0);
    assert_eq!(report.head.unwrap().position, 3);
}

#[tokio::test]
async fn every_expected_revision_mode() {
    let server = TestServer::start().await;
    let mut client = server.client().await;

    // no_stream on a new stream, then again: conflict naming actual 0.
    client
        .append(append("s", expected(Kind::NoStream(())), vec![event(0)]))
        .await
        .unwrap();
    let err = client
        .append(append("s", expected(Kind::NoStream(())), vec![event(1)]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    assert!(err.message().contains("no_stream"), "{}", err.message());
    assert!(err.message().contains("actual 0"), "{}", err.message());

    // stream_exists on an existing stream; on a missing one: conflict naming no_stream.
    client
        .append(append(
            "s",
            expected(Kind::StreamExists(())),
            vec![event(1)],
        ))
        .await
        .unwrap();
    let err = client
        .append(append(
            "t",
            expected(Kind::StreamExists(())),
            vec![event(1)],
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    assert!(err.message().contains("stream_exists"), "{}", err.message());
    assert!(
        err.message().contains("actual no_stream"),
        "{}",
        err.message()
    );

    // exact(1) matches; exact(5) and exact on a missing stream conflict.
    let ok = client
        .append(append("s", expected(Kind::Exact(1)), vec![event(2)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ok.result.unwrap().last_revision, 2);
    let err = client
        .append(append("s", expected(Kind::Exact(5)), vec![event(3)]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    assert!(err.message().contains("exact(5)"), "{}", err.message());
    assert!(err.message().contains("actual 2"), "{}", err.message());
    let err = client
        .append(append("u", expected(Kind::Exact(0)), vec![event(3)]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    assert!(
        err.message().contains("actual no_stream"),
        "{}",
        err.message()
    );

    // any, explicit and absent.
    client
        .append(append("s", expected(Kind::Any(())), vec![event(3)]))
        .await
        .unwrap();
    let last = client
        .append(append("s", None, vec![event(4)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(last.result.unwrap().last_revision, 4);
}

#[tokio::test]
async fn idempotent_retry_returns_the_same_positions() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let id = uuid::Uuid::new_v4().to_string();
    let request = append(
        "s",
        expected(Kind::NoStream(())),
        vec![with_id(&id, "{\"x\":1}")],
    );
    let first = client.append(request.clone()).await.unwrap().into_inner();
    let again = client.append(request).await.unwrap().into_inner();
    assert!(!first.replayed);
    assert!(again.replayed);
    assert_eq!(first.result, again.result);
    let head = client.head(HeadRequest {}).await.unwrap().into_inner();
    assert_eq!(head.position, 1, "the retry wrote nothing");

    let err = client
        .append(append("s", None, vec![with_id(&id, "{\"x\":2}")]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists, "{err:?}");
    assert!(err.message().contains(&id), "{}", err.message());
}

#[tokio::test]
async fn bad_inputs_are_invalid_argument_with_actionable_messages() {
    let server = TestServer::start_with(|s| {
        s.limits.max_append_events = 5;
        s.limits.max_append_bytes = 1000;
    })
    .await;
    let mut client = server.client().await;
    let bad_type = ProposedEvent {
        event_type: "has space".into(),
        ..event(0)
    };
    let cases: Vec<(&str, AppendRequest, &str)> = vec![
        (
            "empty stream",
            append("", None, vec![event(0)]),
            "stream must not be empty",
        ),
        (
            "300-byte stream",
            append(&"x".repeat(300), None, vec![event(0)]),
            "stream is 300 bytes long",
        ),
        (
            "bad event type",
            append("s", None, vec![bad_type]),
            "events[0].event_type",
        ),
        (
            "bad uuid",
            append("s", None, vec![event(0), with_id("not-a-uuid", "{}")]),
            "events[1].event_id is not a UUID",
        ),
        (
            "invalid json",
            append("s", None, vec![with_id("", "{oops")]),
            "events[0].data is not valid JSON",
        ),
        (
            "no events",
            append("s", None, vec![]),
            "events must hold at least one event",
        ),
        (
            "too many events",
            append("s", None, (0..6).map(event).collect()),
            "at most 5",
        ),
        (
            "too many bytes",
            append(
                "s",
                None,
                vec![with_id("", &format!("\"{}\"", "y".repeat(1200)))],
            ),
            "at most 1000",
        ),
    ];
    for (name, request, needle) in cases {
        let err = client.append(request).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{name}: {err:?}");
        assert!(
            err.message().contains(needle),
            "{name}: {:?} does not contain {needle:?}",
            err.message()
        );
    }
    let head = client.head(HeadRequest {}).await.unwrap().into_inner();
    assert_eq!(head.position, 0, "nothing invalid was written");
}

#[tokio::test]
async fn calls_without_a_valid_token_are_unauthenticated() {
    let server = TestServer::start().await;
    let mut anonymous = server.client_with(None).await;
    let err = anonymous.head(HeadRequest {}).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    // Told how to send a token, never where the server keeps its own.
    assert!(err.message().contains("Bearer"), "{}", err.message());
    assert!(!err.message().contains("admin.token"), "{}", err.message());
    let err = anonymous
        .append(append("s", None, vec![event(0)]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);

    let mut wrong = server.client_with(Some("ovs_wrong".into())).await;
    let err = wrong.head(HeadRequest {}).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert!(!err.message().contains(&server.token));
}

#[tokio::test]
async fn health_reports_serving() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    let server = TestServer::start().await;
    let mut health = HealthClient::new(server.channel().await);
    for service in ["", "oversight.v1.EventLog"] {
        let response = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            response.status(),
            tonic_health::pb::health_check_response::ServingStatus::Serving,
            "{service:?}"
        );
    }
}

#[tokio::test]
async fn reflection_lists_the_event_log() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let server = TestServer::start().await;
    let mut reflection = ServerReflectionClient::new(server.channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(futures::stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection response {response:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"oversight.v1.EventLog".to_string()),
        "{names:?}"
    );
}

#[tokio::test]
async fn graceful_shutdown_ends_subscriptions_with_unavailable() {
    let server = TestServer::start_with(common::without_read_audit).await;
    let mut client = server.client().await;
    client
        .append(append("s", None, vec![event(0)]))
        .await
        .unwrap();
    let mut subscription = client
        .subscribe(SubscribeRequest {
            start: Some(Start::FromPosition(1)),
            filter: None,
        })
        .await
        .unwrap()
        .into_inner();
    // Wait until the subscription is live.
    loop {
        let message = subscription.message().await.unwrap().unwrap();
        if matches!(message.message, Some(Message::CaughtUp(_))) {
            break;
        }
    }

    server.shutdown.trigger();
    let ended = loop {
        match subscription.message().await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the subscription ended without a status"),
            Err(status) => break status,
        }
    };
    assert_eq!(ended.code(), Code::Unavailable, "{ended:?}");
    assert!(
        ended.message().contains("shutting down"),
        "{}",
        ended.message()
    );
    assert!(
        ended.message().contains("position 2"),
        "{}",
        ended.message()
    );

    let result = server.task.await.unwrap();
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn read_stream_pages_through_the_store_in_chunks() {
    let server = TestServer::start_with(|s| s.limits.read_chunk = 4).await;
    let mut client = server.client().await;
    client
        .append(append("long", None, (0..11).map(event).collect()))
        .await
        .unwrap();
    let stream = client
        .read_stream(ReadStreamRequest {
            stream: "long".into(),
            from_revision: Some(1),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let (events, messages) = collect(stream).await;
    let revisions: Vec<u64> = events.iter().map(|e| e.revision).collect();
    assert_eq!(revisions, (1..11).collect::<Vec<_>>());
    assert_eq!(messages, 3, "10 events in chunks of 4");

    let stream = client
        .read_stream(ReadStreamRequest {
            stream: "long".into(),
            from_revision: Some(9),
            direction: proto::Direction::Backwards as i32,
            max_count: 7,
        })
        .await
        .unwrap()
        .into_inner();
    let (events, _) = collect(stream).await;
    let revisions: Vec<u64> = events.iter().map(|e| e.revision).collect();
    assert_eq!(revisions, (3..=9).rev().collect::<Vec<_>>());
}

#[tokio::test]
async fn filtered_subscription_from_now_sees_only_new_matching_events() {
    let server = TestServer::start_with(common::without_read_audit).await;
    let mut client = server.client().await;
    client
        .append(append("keep-1", None, vec![event(0)]))
        .await
        .unwrap();
    let mut subscription = client
        .subscribe(SubscribeRequest {
            start: Some(Start::FromNow(())),
            filter: Some(proto::Filter {
                stream_prefixes: vec!["keep-".into()],
                event_types: vec![],
            }),
        })
        .await
        .unwrap()
        .into_inner();
    match subscription
        .message()
        .await
        .unwrap()
        .unwrap()
        .message
        .unwrap()
    {
        Message::CaughtUp(caught_up) => assert_eq!(caught_up.head_position, 1),
        other => panic!("expected caught-up first, got {other:?}"),
    }
    client
        .append(append("drop-1", None, vec![event(1)]))
        .await
        .unwrap();
    client
        .append(append("keep-2", None, vec![event(2)]))
        .await
        .unwrap();
    match subscription
        .message()
        .await
        .unwrap()
        .unwrap()
        .message
        .unwrap()
    {
        Message::Events(chunk) => {
            let streams: Vec<&str> = chunk.events.iter().map(|e| e.stream.as_str()).collect();
            assert_eq!(streams, vec!["keep-2"]);
            assert_eq!(chunk.events[0].position, 3);
        }
        other => panic!("expected an event, got {other:?}"),
    }
}

#[tokio::test]
async fn verify_rejects_an_inverted_range() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let err = client
        .verify(VerifyRequest {
            from_position: 5,
            to_position: 2,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("before"), "{}", err.message());
}

#[tokio::test]
async fn shutdown_lets_an_acknowledged_append_survive_a_restart() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let ack = client
        .append(append("durable", None, vec![event(0), event(1)]))
        .await
        .unwrap()
        .into_inner();
    server.shutdown.trigger();
    server.task.await.unwrap().unwrap();

    // Reopen the same data directory: the token and the events are still there.
    let data_dir = server.dir.path().join("data");
    let restarted = oversight::server::Server::build(oversight::config::Settings {
        data_dir,
        listen: "127.0.0.1:0".parse().unwrap(),
        web: oversight::config::WebSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .unwrap();
    let token = std::fs::read_to_string(restarted.admin_token_path()).unwrap();
    assert_eq!(
        token.trim(),
        server.token,
        "the admin token is never replaced"
    );
    let addr = restarted.local_addr();
    let handle = restarted.shutdown_handle();
    let task = tokio::spawn(restarted.with_signals(false).run_until_stopped());
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = proto::event_log_client::EventLogClient::with_interceptor(
        channel,
        common::Bearer(Some(server.token.clone())),
    );
    let head = client.head(HeadRequest {}).await.unwrap().into_inner();
    assert_eq!(head.position, ack.result.unwrap().last_position);
    handle.trigger();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn health_turns_not_serving_on_shutdown() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    let server = TestServer::start().await;
    let mut health = HealthClient::new(server.channel().await);
    let mut watch = health
        .watch(HealthCheckRequest {
            service: "oversight.v1.EventLog".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = watch.message().await.unwrap().unwrap();
    assert_eq!(first.status(), ServingStatus::Serving);

    server.shutdown.trigger();
    let next = watch.message().await.unwrap().unwrap();
    assert_eq!(next.status(), ServingStatus::NotServing);
    drop(watch);
    server.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn an_auditor_may_read_but_not_append() {
    use sha2::{Digest, Sha256};
    let digest = |token: &str| hex::encode(Sha256::digest(token.as_bytes()));
    let server = TestServer::start_with(|settings| {
        // Issue an auditor token next to the admin token, as a later token command will.
        std::fs::create_dir_all(&settings.data_dir).unwrap();
        std::fs::write(settings.data_dir.join("admin.token"), "ovs_admin\n").unwrap();
        let tokens = serde_json::json!({ "tokens": [
            { "subject": "admin", "role": "admin", "sha256": digest("ovs_admin") },
            { "subject": "audit-office", "role": "auditor", "sha256": digest("ovs_auditor") },
        ]});
        std::fs::write(settings.data_dir.join("tokens.json"), tokens.to_string()).unwrap();
    })
    .await;
    assert_eq!(server.token, "ovs_admin");
    let mut auditor = server.client_with(Some("ovs_auditor".into())).await;
    let head = auditor.head(HeadRequest {}).await.unwrap().into_inner();
    assert_eq!(head.position, 0);
    let denied = auditor
        .append(append("s", None, vec![event(0)]))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    assert!(denied.message().contains("auditor"), "{}", denied.message());
    assert!(denied.message().contains("Append"), "{}", denied.message());
}

#[tokio::test]
async fn raw_appends_into_the_domains_streams_are_refused_with_the_commands_to_use() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    for stream in ["appointee-42", "committee-xf", "session-s1", "audit"] {
        let refused = client
            .append(proto::AppendRequest {
                stream: stream.into(),
                expected_revision: None,
                events: vec![proto::ProposedEvent {
                    event_type: "AppointeeRegistered.v1".into(),
                    data: br#"{"n":1}"#.to_vec(),
                    content_type: proto::ContentType::Json as i32,
                    ..Default::default()
                }],
            })
            .await
            .unwrap_err();
        assert_eq!(
            refused.code(),
            Code::InvalidArgument,
            "{stream}: {refused:?}"
        );
        assert!(
            refused
                .message()
                .starts_with(&format!("stream {stream} is written only by")),
            "{refused:?}"
        );
    }
    let refused = client
        .append(proto::AppendRequest {
            stream: "appointee-42".into(),
            events: vec![proto::ProposedEvent {
                event_type: "AppointeeRegistered.v1".into(),
                data: br#"{"n":1}"#.to_vec(),
                content_type: proto::ContentType::Json as i32,
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        refused.message().contains("RegisterAppointee"),
        "{refused:?}"
    );
    // Other streams stay open to the raw log, and nothing was written above.
    let written = client
        .append(proto::AppendRequest {
            stream: "notes-42".into(),
            events: vec![proto::ProposedEvent {
                event_type: "Noted.v1".into(),
                data: br#"{"n":1}"#.to_vec(),
                content_type: proto::ContentType::Json as i32,
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(written.result.unwrap().last_position, 1);
}
