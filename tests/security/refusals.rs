//! What a refused caller is told: nothing about the server's files, and an oversized token is
//! an authentication failure like any other wrong token.

use oversight::proto::HeadRequest;
use tonic::Code;

use crate::common::TestServer;

#[tokio::test]
async fn a_refused_caller_learns_no_server_path() {
    let server = TestServer::start().await;
    let data_dir = server.dir.path().to_string_lossy().to_string();
    let channel = server.channel().await;
    for token in [None, Some("ovs_wrong"), Some("")] {
        let mut client = oversight::proto::event_log_client::EventLogClient::with_interceptor(
            channel.clone(),
            crate::common::Bearer(token.map(str::to_string)),
        );
        let refused = client.head(HeadRequest {}).await.unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
        let message = refused.message();
        assert!(
            !message.contains("admin.token") && !message.contains(&data_dir),
            "a network caller must not learn where the admin token is: {message}"
        );
    }
}

#[tokio::test]
async fn a_huge_bearer_token_is_unauthenticated() {
    let server = TestServer::start().await;
    for len in [20 * 1024, 100 * 1024, 200 * 1024] {
        let token = format!("ovs_{}", "a".repeat(len));
        let refused = server
            .client_with(Some(token))
            .await
            .head(HeadRequest {})
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated, "{len}: {refused:?}");
    }
    // The connection and the server are fine afterwards.
    server.client().await.head(HeadRequest {}).await.unwrap();
}
