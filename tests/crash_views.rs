//! Crash safety of the views: the real binary is killed with SIGKILL while commands are being
//! decided and folded into the views, several times. After the last restart the views must equal
//! a rebuild from position 0, and hold exactly one entry per registration in the log — nothing
//! lost, nothing applied twice.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::process::{authed, connect, free_port, start};
use oversight::proto::event_log_client::EventLogClient;
use oversight::proto::operations_client::OperationsClient;
use oversight::proto::registry_client::RegistryClient;
use oversight::proto::{
    Appointee, ChangeAppointeePostRequest, CommitteeLevel, CreateCommitteeRequest, Filter,
    HeadRequest, ListAppointeesRequest, OrganKind, ReadAllRequest, RebuildViewRequest,
    RegisterAppointeeRequest,
};
use rand::Rng;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;

const CYCLES: usize = 4;
const WRITERS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_equal_a_rebuild_after_sigkill_mid_batch() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let port = free_port();

    for cycle in 0..CYCLES {
        let mut child = start(&data_dir, port);
        let (channel, bearer) = connect(&data_dir, port).await;
        if cycle == 0 {
            RegistryClient::new(channel.clone())
                .create_committee(authed(
                    CreateCommitteeRequest {
                        committee_id: "xiangfang".into(),
                        name: "Xiangfang District Standing Committee".into(),
                        level: CommitteeLevel::District as i32,
                        ..Default::default()
                    },
                    &bearer,
                ))
                .await
                .unwrap();
        }
        let mut writers = Vec::new();
        for w in 0..WRITERS {
            let mut registry = RegistryClient::new(channel.clone());
            let bearer = bearer.clone();
            writers.push(tokio::spawn(async move {
                for seq in 0u64.. {
                    let id = format!("a-{cycle}-{w}-{seq}");
                    let registered = registry
                        .register_appointee(authed(
                            RegisterAppointeeRequest {
                                appointee_id: id.clone(),
                                committee_id: "xiangfang".into(),
                                name: format!("Appointee {id}"),
                                post: "deputy director".into(),
                                organ_kind: OrganKind::Government as i32,
                                organ_name: "district housing bureau".into(),
                                appointed_on: "2024-01-15".into(),
                                appointing_meeting: "12th session".into(),
                                ..Default::default()
                            },
                            &bearer,
                        ))
                        .await;
                    if registered.is_err() {
                        return;
                    }
                    let changed = registry
                        .change_appointee_post(authed(
                            ChangeAppointeePostRequest {
                                appointee_id: id,
                                post: "director".into(),
                                organ_name: "district housing bureau".into(),
                                on: "2025-03-01".into(),
                                appointing_meeting: "20th session".into(),
                                ..Default::default()
                            },
                            &bearer,
                        ))
                        .await;
                    if changed.is_err() {
                        return;
                    }
                }
            }));
        }
        let pause = rand::rng().random_range(100..400);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        child.kill().unwrap();
        child.wait().unwrap();
        for writer in writers {
            writer.await.unwrap();
        }
    }

    let mut child = start(&data_dir, port);
    let (channel, bearer) = connect(&data_dir, port).await;
    let head = EventLogClient::new(channel.clone())
        .head(authed(HeadRequest {}, &bearer))
        .await
        .unwrap()
        .into_inner()
        .position;
    let incremental = list_all(&channel, &bearer, head).await;

    // Every registration in the log is in the view exactly once.
    let registrations = count_events(&channel, &bearer, "AppointeeRegistered.v1").await;
    assert!(
        registrations > CYCLES as u64,
        "too little load to test anything"
    );
    assert_eq!(incremental.len() as u64, registrations);

    let mut progress = OperationsClient::new(channel.clone())
        .rebuild_view(authed(
            RebuildViewRequest {
                name: "registry".into(),
            },
            &bearer,
        ))
        .await
        .unwrap()
        .into_inner();
    while let Some(step) = progress.message().await.unwrap() {
        if step.done {
            break;
        }
    }
    let rebuilt = list_all(&channel, &bearer, head).await;
    assert_eq!(
        rebuilt, incremental,
        "views after the crashes differ from a rebuild"
    );

    child.kill().unwrap();
    child.wait().unwrap();
}

async fn list_all(
    channel: &Channel,
    bearer: &MetadataValue<Ascii>,
    min_position: u64,
) -> Vec<Appointee> {
    let mut registry = RegistryClient::new(channel.clone());
    let mut out = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = registry
            .list_appointees(authed(
                ListAppointeesRequest {
                    committee_id: "xiangfang".into(),
                    page_size: 500,
                    page_token: page_token.clone(),
                    min_position,
                    ..Default::default()
                },
                bearer,
            ))
            .await
            .unwrap()
            .into_inner();
        out.extend(page.appointees);
        if page.next_page_token.is_empty() {
            return out;
        }
        page_token = page.next_page_token;
    }
}

async fn count_events(channel: &Channel, bearer: &MetadataValue<Ascii>, event_type: &str) -> u64 {
    let mut stream = EventLogClient::new(channel.clone())
        .read_all(authed(
            ReadAllRequest {
                filter: Some(Filter {
                    event_types: vec![event_type.into()],
                    ..Default::default()
                }),
                ..Default::default()
            },
            bearer,
        ))
        .await
        .unwrap()
        .into_inner();
    let mut n = 0;
    while let Some(chunk) = stream.message().await.unwrap() {
        n += chunk.events.len() as u64;
    }
    n
}
