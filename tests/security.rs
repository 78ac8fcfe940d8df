//! Security of the real server: TLS and mutual TLS with certificates made in the test, the
//! plaintext rule, the limits (rate, message size), tokens issued, used, revoked and expired
//! (also through the `oversight admin token` binary), audit events of log reads, every RPC
//! of the descriptor set refused without a token and for every role the policy table leaves
//! out, and every RPC refusing another committee's data (`security/cross_committee.rs`), and raw reads
//! held to a scoped token's committee (`security/scopes.rs`), the data directory's modes
//! (`security/at_rest.rs`) and idle connections (`security/idle.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "security/at_rest.rs"]
mod at_rest;
mod common;
#[path = "security/cross_committee.rs"]
mod cross_committee;
#[path = "security/idle.rs"]
mod idle;
#[path = "security/input.rs"]
mod input;
#[path = "security/refusals.rs"]
mod refusals;
#[path = "security/scopes.rs"]
mod scopes;

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{Duration as ChronoDuration, Utc};
use common::{Bearer, TestServer, TokenSpec};
use oversight::api::Role;
use oversight::api::rules::rule;
use oversight::auth::tokens::{self, IssueRequest};
use oversight::config::Settings;
use oversight::proto::event_log_client::EventLogClient;
use oversight::proto::{self, AppendRequest, HeadRequest, ProposedEvent};
use oversight::server::{Server, ServerError};
use oversight::transport::{ClientTls, TransportError, client_endpoint};
use prost::Message;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa, KeyPair,
};
use tonic::Code;

/// A CA, a server certificate for `localhost` and a client certificate, as PEM files.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        for (name, usage) in [
            ("server", ExtendedKeyUsagePurpose::ServerAuth),
            ("client", ExtendedKeyUsagePurpose::ClientAuth),
        ] {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
            params.extended_key_usages = vec![usage];
            let cert = params.signed_by(&key, &ca).unwrap();
            std::fs::write(dir.path().join(format!("{name}.pem")), cert.pem()).unwrap();
            std::fs::write(dir.path().join(format!("{name}.key")), key.serialize_pem()).unwrap();
        }
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn server_settings(&self, settings: &mut Settings, mutual: bool) {
        settings.tls.cert = Some(self.path("server.pem"));
        settings.tls.key = Some(self.path("server.key"));
        if mutual {
            settings.tls.client_ca = Some(self.path("ca.pem"));
        }
    }

    fn client(&self, with_certificate: bool) -> ClientTls {
        ClientTls {
            ca: Some(self.path("ca.pem")),
            cert: with_certificate.then(|| self.path("client.pem")),
            key: with_certificate.then(|| self.path("client.key")),
            domain: Some("localhost".to_string()),
        }
    }
}

/// `Head` over a fresh connection to `url`; the connection error or the call's status.
async fn head(url: &str, tls: &ClientTls, token: &str) -> Result<u64, String> {
    let channel = client_endpoint(url, tls)
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let mut client = EventLogClient::with_interceptor(channel, Bearer(Some(token.to_string())));
    client
        .head(HeadRequest {})
        .await
        .map(|r| r.into_inner().position)
        .map_err(|status| format!("{:?}: {}", status.code(), status.message()))
}

// Multi-threaded: the client commands run as blocking child processes next to the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_round_trip_and_a_plaintext_client_is_refused() {
    let pki = Pki::new();
    let server = TestServer::start_with(|s| pki.server_settings(s, false)).await;
    let https = format!("https://{}", server.addr);
    assert_eq!(head(&https, &pki.client(false), &server.token).await, Ok(0));

    let plaintext = head(&server.url(), &ClientTls::default(), &server.token).await;
    assert!(plaintext.is_err(), "plaintext against TLS: {plaintext:?}");

    // The client commands take the https:// URL and the CA.
    let ca = pki.path("ca.pem");
    let tls_flags = [
        "--tls-ca",
        ca.to_str().unwrap(),
        "--tls-domain",
        "localhost",
    ];
    let health = Command::new(env!("CARGO_BIN_EXE_oversight"))
        .args(["health", "--server", &https])
        .args(tls_flags)
        .output()
        .unwrap();
    assert!(health.status.success(), "{health:?}");
    assert_eq!(String::from_utf8_lossy(&health.stdout).trim(), "SERVING");
    let log_head = Command::new(env!("CARGO_BIN_EXE_oversight"))
        .args([
            "log",
            "head",
            "--json",
            "--server",
            &https,
            "--token",
            &server.token,
        ])
        .args(tls_flags)
        .output()
        .unwrap();
    assert!(log_head.status.success(), "{log_head:?}");
    let without_ca = Command::new(env!("CARGO_BIN_EXE_oversight"))
        .args(["health", "--server", &https])
        .output()
        .unwrap();
    assert!(!without_ca.status.success());
    assert!(
        String::from_utf8_lossy(&without_ca.stderr).contains("--tls-ca"),
        "{without_ca:?}"
    );

    // A client command given the plaintext URL of this TLS server is told what to do instead.
    let url = server.url();
    for command in [
        &["log", "head", "--token", &server.token, "--server", &url][..],
        &["health", "--server", &url][..],
    ] {
        let plaintext = Command::new(env!("CARGO_BIN_EXE_oversight"))
            .args(command)
            .env_remove("OVERSIGHT_TLS_CA")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&plaintext.stderr);
        assert!(!plaintext.status.success(), "{command:?}: {plaintext:?}");
        assert!(err.contains("speaks TLS"), "{command:?}: {err}");
        assert!(err.contains(&https), "{command:?}: {err}");
        assert!(err.contains("--tls-ca"), "{command:?}: {err}");
    }
}

#[tokio::test]
async fn mutual_tls_needs_a_client_certificate_signed_by_the_ca() {
    let pki = Pki::new();
    let server = TestServer::start_with(|s| pki.server_settings(s, true)).await;
    let https = format!("https://{}", server.addr);
    assert_eq!(head(&https, &pki.client(true), &server.token).await, Ok(0));
    let without = head(&https, &pki.client(false), &server.token).await;
    assert!(without.is_err(), "no client certificate: {without:?}");
}

#[tokio::test]
async fn plaintext_on_a_non_loopback_address_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        data_dir: dir.path().join("data"),
        listen: "0.0.0.0:0".parse().unwrap(),
        ..Settings::default()
    };
    let error = match Server::build(settings).await {
        Ok(_) => panic!("a non-loopback plaintext listener must be refused"),
        Err(error) => error,
    };
    assert!(
        matches!(
            error,
            ServerError::Tls(TransportError::PlaintextNotAllowed { .. })
        ),
        "{error}"
    );
    let text = error.to_string();
    assert!(
        text.contains("tls.cert") && text.contains("allow_plaintext"),
        "{text}"
    );
    // Nothing was created before the refusal.
    assert!(!dir.path().join("data").exists());
}

#[tokio::test]
async fn rate_limit_refuses_with_retry_advice_per_principal() {
    let server = TestServer::start_with(|s| {
        s.limits.rate_limit_per_sec = 1;
        s.limits.rate_limit_burst = 2;
        common::write_token_specs(
            &s.data_dir,
            &[TokenSpec::new("ovs_auditor", "auditor", None)],
        );
    })
    .await;
    let mut admin = server.client_with(Some("ovs_admin".into())).await;
    admin.head(HeadRequest {}).await.unwrap();
    admin.head(HeadRequest {}).await.unwrap();
    let refused = admin.head(HeadRequest {}).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(refused.message().contains("retry after"), "{refused:?}");
    let wait: u64 = refused
        .metadata()
        .get(oversight::api::limits::RETRY_AFTER_MS)
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait > 0 && wait <= 1001, "{wait}");
    // Another principal has its own allowance.
    let mut auditor = server.client_with(Some("ovs_auditor".into())).await;
    auditor.head(HeadRequest {}).await.unwrap();
}

#[tokio::test]
async fn oversized_messages_are_refused_by_every_service() {
    let server = TestServer::start_with(|s| {
        s.limits.max_message_bytes = 4096;
        s.limits.max_append_bytes = 4096;
    })
    .await;
    let mut client = server.client().await;
    let big = ProposedEvent {
        event_id: String::new(),
        event_type: "Big.v1".into(),
        data: vec![b'x'; 8192],
        content_type: proto::ContentType::Binary as i32,
        metadata: None,
    };
    let refused = client
        .append(AppendRequest {
            stream: "big".into(),
            expected_revision: None,
            events: vec![big],
        })
        .await
        .unwrap_err();
    assert!(
        matches!(refused.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{refused:?}"
    );
    let mut registry = server.registry(&server.token).await;
    let refused = registry
        .create_committee(proto::CreateCommitteeRequest {
            name: "x".repeat(8192),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(refused.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{refused:?}"
    );
}

fn oversight(args: &[&str], data_dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_oversight"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap()
}

#[tokio::test]
async fn issued_token_works_until_revoked_and_listing_shows_no_secret() {
    let server = TestServer::start().await;
    let data_dir = server.dir.path().join("data");
    let issued = oversight(
        &[
            "admin",
            "token",
            "issue",
            "--subject",
            "li.auditor",
            "--role",
            "auditor",
            "--expires",
            "30d",
        ],
        &data_dir,
    );
    assert!(issued.status.success(), "{issued:?}");
    let token = String::from_utf8(issued.stdout).unwrap().trim().to_string();
    assert!(token.starts_with("ovs_"), "{token}");

    let mut client = server.client_with(Some(token.clone())).await;
    client.head(HeadRequest {}).await.unwrap();
    // The role is the issued one: an auditor may not append.
    let denied = client
        .append(AppendRequest {
            stream: "s".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    let listed = oversight(&["admin", "token", "list", "--json"], &data_dir);
    assert!(listed.status.success(), "{listed:?}");
    let listed = String::from_utf8(listed.stdout).unwrap();
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(token.as_bytes()));
    assert!(listed.contains("li.auditor"), "{listed}");
    assert!(
        !listed.contains(&token) && !listed.contains(&digest[..16]),
        "{listed}"
    );
    assert!(!listed.contains(&server.token), "{listed}");

    let revoked = oversight(
        &["admin", "token", "revoke", "--subject", "li.auditor"],
        &data_dir,
    );
    assert!(revoked.status.success(), "{revoked:?}");
    let refused = client.head(HeadRequest {}).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    // The admin token is untouched.
    server.client().await.head(HeadRequest {}).await.unwrap();
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let server = TestServer::start().await;
    let data_dir = server.dir.path().join("data");
    let issued_at = Utc::now() - ChronoDuration::hours(2);
    let (token, _) = tokens::issue(
        &data_dir,
        IssueRequest {
            subject: "old.auditor".into(),
            role: Role::Auditor,
            committee: None,
            deputy_group: None,
            expires_at: Some(issued_at + ChronoDuration::hours(1)),
        },
        issued_at,
    )
    .unwrap();
    let refused = server
        .client_with(Some(token))
        .await
        .head(HeadRequest {})
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    assert!(refused.message().contains("expired"), "{refused:?}");
}

/// Every RPC path in the descriptor set.
fn every_rpc() -> Vec<String> {
    let set =
        prost_types::FileDescriptorSet::decode(oversight::proto::FILE_DESCRIPTOR_SET).unwrap();
    let mut paths = Vec::new();
    for file in &set.file {
        for service in &file.service {
            for method in &service.method {
                paths.push(format!(
                    "/{}.{}/{}",
                    file.package(),
                    service.name(),
                    method.name()
                ));
            }
        }
    }
    assert!(paths.len() > 50, "only {} RPCs found", paths.len());
    paths
}

/// Calls `path` with an empty message: the auth layer answers before anything is decoded.
async fn raw_call(channel: &tonic::transport::Channel, path: &str, token: Option<&str>) -> Code {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    let mut request = tonic::Request::new(());
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    let codec = tonic_prost::ProstCodec::<(), ()>::default();
    let path = http::uri::PathAndQuery::try_from(path.to_string()).unwrap();
    match grpc.unary(request, path, codec).await {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

const ROLES: [(Role, &str); 8] = [
    (Role::Admin, "ovs_admin"),
    (Role::Clerk, "ovs_clerk"),
    (Role::Chair, "ovs_chair"),
    (Role::CommitteeMember, "ovs_member"),
    (Role::Deputy, "ovs_deputy"),
    (Role::Appointee, "ovs_appointee"),
    (Role::Reporter, "ovs_reporter"),
    (Role::Auditor, "ovs_auditor"),
];

#[tokio::test]
async fn every_rpc_refuses_no_token_and_every_role_the_table_leaves_out() {
    let specs: Vec<TokenSpec> = ROLES[1..]
        .iter()
        .map(|(role, token)| TokenSpec::new(token, role.as_str(), Some("xiangfang")))
        .collect();
    let server = TestServer::start_with_tokens(&specs).await;
    let channel = server.channel().await;
    let mut denials = 0;
    for path in every_rpc() {
        assert_eq!(
            raw_call(&channel, &path, None).await,
            Code::Unauthenticated,
            "{path} without a token"
        );
        assert_eq!(
            raw_call(&channel, &path, Some("ovs_forged")).await,
            Code::Unauthenticated,
            "{path} with an unknown token"
        );
        let rule = rule(&path).unwrap();
        for (role, token) in ROLES {
            if !rule.admits(role) {
                assert_eq!(
                    raw_call(&channel, &path, Some(token)).await,
                    Code::PermissionDenied,
                    "{path} as {role}"
                );
                denials += 1;
            }
        }
    }
    assert!(denials > 100, "only {denials} denials checked");
}

#[tokio::test]
async fn log_reads_are_recorded_in_the_audit_stream_without_the_token() {
    let auditor = TokenSpec {
        token: "ovs_auditor_secret",
        subject: "zhao.auditor",
        role: "auditor",
        committee: Some("xiangfang"),
        deputy_group: None,
    };
    let server = TestServer::start_with_tokens(&[auditor]).await;
    let mut client = server.client_with(Some("ovs_auditor_secret".into())).await;
    let mut all = client
        .read_all(proto::ReadAllRequest {
            from_position: Some(1),
            max_count: 10,
            filter: Some(proto::Filter {
                stream_prefixes: vec!["committee-".into()],
                event_types: vec![],
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    while all.message().await.unwrap().is_some() {}
    // A read of a stream that does not exist is recorded too: the attempt is what counts. (A
    // scoped auditor is not told whether it exists: the read is empty and says it is filtered.)
    let mut missing = client
        .read_stream(proto::ReadStreamRequest {
            stream: "appointee-nobody".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let first = missing.message().await.unwrap().unwrap();
    assert!(first.events.is_empty(), "{first:?}");
    assert_eq!(first.filtered_to_committee, "xiangfang");
    drop(
        client
            .subscribe(proto::SubscribeRequest {
                start: Some(proto::subscribe_request::Start::FromNow(())),
                filter: None,
            })
            .await
            .unwrap(),
    );

    // The admin reads the audit stream (and that read is recorded as well).
    let mut admin = server.client().await;
    let mut stream = admin
        .read_stream(proto::ReadStreamRequest {
            stream: "audit".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut records = Vec::new();
    while let Some(chunk) = stream.message().await.unwrap() {
        records.extend(chunk.events);
    }
    let rpcs: Vec<(String, String)> = records
        .iter()
        .map(|event| {
            assert_eq!(event.event_type, "LogRead.v1");
            let text = String::from_utf8(event.data.clone()).unwrap();
            assert!(!text.contains("ovs_auditor_secret") && !text.contains("ovs_admin"));
            let data: serde_json::Value = serde_json::from_str(&text).unwrap();
            let metadata = event.metadata.as_ref().unwrap();
            assert_eq!(metadata.actor_subject, data["subject"].as_str().unwrap());
            assert_eq!(metadata.actor_role, data["role"].as_str().unwrap());
            (
                data["subject"].as_str().unwrap().to_string(),
                data["rpc"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("zhao.auditor", "ReadAll"),
        ("zhao.auditor", "ReadStream"),
        ("zhao.auditor", "Subscribe"),
        ("admin", "ReadStream"),
    ]
    .iter()
    .map(|(s, r)| (s.to_string(), r.to_string()))
    .collect();
    assert_eq!(rpcs, expected);
    let first: serde_json::Value = serde_json::from_slice(&records[0].data).unwrap();
    assert_eq!(first["role"], "auditor");
    assert_eq!(first["committee"], "xiangfang");
    assert_eq!(first["range"]["kind"], "all");
    assert_eq!(first["range"]["from_position"], 1);
    assert_eq!(first["range"]["max_count"], 10);
    assert_eq!(first["range"]["stream_prefixes"][0], "committee-");
    let second: serde_json::Value = serde_json::from_slice(&records[1].data).unwrap();
    assert_eq!(second["range"]["stream"], "appointee-nobody");
}

#[tokio::test]
async fn the_server_request_timeout_ends_a_call_that_waits_longer() {
    let server = TestServer::start_with(|s| s.limits.request_timeout_secs = 1).await;
    let mut registry = server.registry(&server.token).await;
    // A query for a log position far ahead waits for the views; the server's own limit (1 s,
    // shorter than the 5 s such a wait is allowed without a client deadline) ends it first.
    let ended = registry
        .get_committee(proto::GetCommitteeRequest {
            committee_id: "xf".into(),
            min_position: 1_000_000,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(ended.code(), Code::Cancelled | Code::DeadlineExceeded),
        "{ended:?}"
    );
    assert!(
        ended.message().to_lowercase().contains("timeout"),
        "{ended:?}"
    );
}
