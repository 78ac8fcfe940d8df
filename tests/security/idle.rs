//! Idle connections cannot lock new clients out: with the server's file limit lowered to 256,
//! 300 idle sockets are held open while a new client is served.

use std::time::Duration;

use oversight::proto::HeadRequest;
use oversight::proto::event_log_client::EventLogClient;
use tonic::transport::Channel;

use crate::at_rest::serve_after;
use crate::common::process::{authed, connect, free_port};

#[tokio::test]
async fn a_new_client_is_served_while_many_idle_connections_are_held() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let port = free_port();
    let log = root.path().join("server.log");
    let _server = serve_after("ulimit -n 256", &data, port, &log);
    let (_, bearer) = connect(&data, port).await;
    // More idle sockets than the server has file descriptors: connected, never a byte sent.
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap(),
        );
    }
    // A hang guard, not a timing assertion: a server that has run out of file descriptors
    // never answers, and the test must end.
    let served = tokio::time::timeout(Duration::from_secs(120), async {
        let channel = Channel::from_shared(format!("http://127.0.0.1:{port}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        EventLogClient::new(channel)
            .head(authed(HeadRequest {}, &bearer))
            .await
    })
    .await;
    served
        .unwrap_or_else(|_| {
            panic!(
                "a new client was not served: {}",
                std::fs::read_to_string(&log).unwrap()
            )
        })
        .unwrap();
    let lines = std::fs::read_to_string(&log).unwrap();
    assert!(lines.contains("too many connections"), "{lines}");
    drop(idle);
}
