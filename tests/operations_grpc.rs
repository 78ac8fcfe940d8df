//! The Operations service over gRPC: the head and view lag, rebuild refusals, and its policy.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Bearer, TestServer};
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
