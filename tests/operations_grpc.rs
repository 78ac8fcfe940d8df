//! The Operations service over gRPC: the head and view lag, rebuild refusals, and its policy.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Bearer, TestServer, sample, scrape};
use oversight::proto::operations_client::OperationsClient;
use oversight::proto::{
    AppendRequest, ContentType, ProposedEvent, RebuildViewRequest, StatusRequest,
};
use tonic::Code;

#[tokio::test]
async fn status_reports_the_head_and_unknown_views_are_not_found() {
    let server = TestServer::start().await;
    let mut log = server.client().await;
    let mut last = 0;
    for i in 0..3 {
        last = log
            .append(AppendRequest {
                stream: "ops-1".into(),
                expected_revision: None,
                events: vec![ProposedEvent {
                    event_id: String::new(),
                    event_type: "Probe.v1".into(),
                    data: format!(r#"{{"i":{i}}}"#).into_bytes(),
                    content_type: ContentType::Json as i32,
                    metadata: None,
                }],
            })
            .await
            .unwrap()
            .into_inner()
            .result
            .unwrap()
            .last_position;
    }
    let mut ops = OperationsClient::with_interceptor(
        server.channel().await,
        Bearer(Some(server.token.clone())),
    );
    let status = ops.status(StatusRequest {}).await.unwrap().into_inner();
    assert_eq!(status.head_position, last);
    assert!(status.log_writable);
    assert_eq!(status.head_hash.len(), 32);
    for view in &status.views {
        assert!(view.checkpoint <= status.head_position, "{view:?}");
        assert_eq!(
            view.behind_positions,
            status.head_position - view.checkpoint
        );
    }

    let missing = ops
        .rebuild_view(RebuildViewRequest {
            name: "no-such-view".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound, "{missing:?}");
    assert!(
        missing.message().contains("no-such-view"),
        "{}",
        missing.message()
    );

    let mut anonymous = OperationsClient::with_interceptor(server.channel().await, Bearer(None));
    let refused = anonymous.status(StatusRequest {}).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn metrics_count_appends_batches_rpcs_lag_and_subscriptions() {
    let port = common::process::free_port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let server = TestServer::start_with(|settings| settings.metrics_listen = Some(addr)).await;

    let before = scrape(addr).await;
    assert_eq!(
        sample(&before, "oversight_appended_events_total"),
        Some(0.0),
        "{before}"
    );

    let mut log = server.client().await;
    let event = |i: u32| ProposedEvent {
        event_id: String::new(),
        event_type: "Probe.v1".into(),
        data: format!(r#"{{"i":{i}}}"#).into_bytes(),
        content_type: ContentType::Json as i32,
        metadata: None,
    };
    let append = |events| AppendRequest {
        stream: "metrics-1".into(),
        expected_revision: None,
        events,
    };
    log.append(append(vec![event(1), event(2)])).await.unwrap();
    log.append(append(vec![event(3)])).await.unwrap();
    let mut conflicting = append(vec![event(4)]);
    conflicting.expected_revision = Some(oversight::proto::ExpectedRevision {
        kind: Some(oversight::proto::expected_revision::Kind::NoStream(())),
    });
    let refused = log.append(conflicting).await.unwrap_err();
    assert_eq!(refused.code(), Code::Aborted);
    let unauthenticated = server
        .client_with(None)
        .await
        .head(oversight::proto::HeadRequest {})
        .await
        .unwrap_err();
    assert_eq!(unauthenticated.code(), Code::Unauthenticated);

    let text = scrape(addr).await;
    let value = |series: &str| sample(&text, series).unwrap_or_else(|| panic!("{series}: {text}"));
    assert_eq!(value("oversight_appends_total{outcome=\"ok\"}"), 2.0);
    assert_eq!(value("oversight_appends_total{outcome=\"rejected\"}"), 1.0);
    assert_eq!(value("oversight_appended_events_total"), 3.0);
    assert_eq!(value("oversight_append_duration_seconds_count"), 3.0);
    assert!(value("oversight_commit_batch_events_count") >= 1.0);
    assert_eq!(value("oversight_commit_batch_events_sum"), 3.0);
    assert_eq!(value("oversight_log_head_position"), 3.0);
    assert_eq!(value("oversight_log_writable"), 1.0);
    assert_eq!(
        value("oversight_rpc_requests_total{method=\"oversight.v1.EventLog/Append\",code=\"Ok\"}"),
        2.0
    );
    assert_eq!(
        value(
            "oversight_rpc_requests_total{method=\"oversight.v1.EventLog/Append\",code=\"Aborted\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            "oversight_rpc_requests_total{method=\"oversight.v1.EventLog/Head\",code=\"Unauthenticated\"}"
        ),
        1.0
    );
    // The view runner's own subscription is open, and every view is listed with its lag.
    assert!(value("oversight_active_subscriptions") >= 1.0);
    assert!(
        sample(
            &text,
            "oversight_projection_lag_positions{view=\"registry\"}"
        )
        .is_some()
    );
}

#[tokio::test]
async fn health_reports_the_views_within_their_lag_bound_and_not_serving_at_shutdown() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    let server = TestServer::start().await;
    let mut health = HealthClient::new(server.channel().await);
    // Every view is level with the empty log, so each is within the default bounds.
    for service in [
        "",
        "oversight.v1.Projections",
        "oversight.v1.Projections/registry",
        "oversight.v1.Projections/findings",
    ] {
        let reply = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(reply.status(), ServingStatus::Serving, "{service:?}");
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "oversight.v1.Projections/no-such-view".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);

    let mut watch = health
        .watch(HealthCheckRequest {
            service: "oversight.v1.Projections".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        watch.message().await.unwrap().unwrap().status(),
        ServingStatus::Serving
    );
    server.shutdown.trigger();
    assert_eq!(
        watch.message().await.unwrap().unwrap().status(),
        ServingStatus::NotServing
    );
    drop(watch);
    server.task.await.unwrap().unwrap();
}
