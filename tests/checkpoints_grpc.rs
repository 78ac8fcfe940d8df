//! Signed checkpoints and Merkle proofs over gRPC, against the real server: what a verifier
//! holding only the log's public key can check.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{TestServer, TokenSpec};
use oversight::checkpoints::{LOG_KEY_FILE, read_key};
use oversight::log::checkpoint::SignedCheckpoint;
use oversight::log::merkle::{leaf_hash, verify_consistency, verify_inclusion};
use oversight::log::note::NoteVerifier;
use oversight::proto::{
    self, AppendRequest, GetCheckpointRequest, GetConsistencyProofRequest,
    GetInclusionProofRequest, ProposedEvent,
};
use tonic::Code;

fn append(stream: &str, n: u64) -> AppendRequest {
    AppendRequest {
        stream: stream.into(),
        expected_revision: None,
        events: (0..n)
            .map(|i| ProposedEvent {
                event_id: String::new(),
                event_type: "Thing.Happened.v1".into(),
                data: format!("{{\"n\":{i}}}").into_bytes(),
                content_type: proto::ContentType::Json as i32,
                metadata: None,
            })
            .collect(),
    }
}

/// The log's public key, as `oversight admin key show` prints it.
fn log_key(server: &TestServer) -> NoteVerifier {
    let key = read_key(&server.dir.path().join("data").join(LOG_KEY_FILE)).unwrap();
    NoteVerifier::parse(&key.verifier().to_string()).unwrap()
}

#[tokio::test]
async fn a_reader_with_the_public_key_checks_checkpoints_and_proofs() {
    let reporter = TokenSpec::new("ovs_reporter", "reporter", Some("xiangfang"));
    let server = TestServer::start_with(|settings| {
        settings.checkpoints.log_name = "xiangfang.example/oversight".into();
        common::write_token_specs(&settings.data_dir, &[reporter]);
    })
    .await;
    let key = log_key(&server);
    assert_eq!(key.name(), "xiangfang.example/oversight");
    let mut admin = server.client().await;
    admin.append(append("a-1", 3)).await.unwrap();
    admin.append(append("b-1", 4)).await.unwrap();

    // A reporter (the public's client) may fetch the checkpoint and proofs.
    let mut public = server.client_with(Some("ovs_reporter".into())).await;
    let first = public
        .get_checkpoint(GetCheckpointRequest { size: 0 })
        .await
        .unwrap()
        .into_inner();
    let first_signed = SignedCheckpoint::parse(&first.checkpoint).unwrap();
    first_signed.verify(std::slice::from_ref(&key)).unwrap();
    assert_eq!(first.origin, "xiangfang.example/oversight");
    let size = first.size;
    assert!(size >= 7, "{size}");
    assert_eq!(first_signed.checkpoint.root.to_vec(), first.root_hash);

    // Every record is proven in it, with the leaf recomputed from the record read.
    let records = server
        .store()
        .read_all(oversight::log::ReadAll {
            from_position: Some(1),
            direction: oversight::log::Direction::Forwards,
            max_count: size as usize,
            filter: oversight::log::Filter::default(),
        })
        .await
        .unwrap();
    assert_eq!(records.len() as u64, size);
    for record in records.iter().filter(|r| r.position <= size) {
        let proof = public
            .get_inclusion_proof(GetInclusionProofRequest {
                position: record.position,
                size,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(proof.checkpoint, first.checkpoint);
        let leaf = leaf_hash(&oversight::log::codec::encode_canonical(record));
        assert_eq!(proof.leaf_hash, leaf.to_vec());
        verify_inclusion(
            record.position - 1,
            size,
            &leaf,
            &proof.hashes,
            &first_signed.checkpoint.root,
        )
        .unwrap();
    }

    // The log grows; the next checkpoint extends the first.
    admin.append(append("a-1", 5)).await.unwrap();
    let later = server.checkpointer().sign_now().await.unwrap();
    let proof = public
        .get_consistency_proof(GetConsistencyProofRequest {
            old_size: size,
            new_size: later.checkpoint.size,
        })
        .await
        .unwrap()
        .into_inner();
    verify_consistency(
        size,
        later.checkpoint.size,
        &proof.hashes,
        &first_signed.checkpoint.root,
        &later.checkpoint.root,
    )
    .unwrap();
    // The latest is now the later one, and the first is still served by its size.
    let latest = public
        .get_checkpoint(GetCheckpointRequest { size: 0 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(latest.checkpoint, later.to_text());
    let again = public
        .get_checkpoint(GetCheckpointRequest { size })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.checkpoint, first.checkpoint);

    // Requests beyond the log are refused as invalid, sizes never signed as not found.
    let beyond = public
        .get_inclusion_proof(GetInclusionProofRequest {
            position: 1,
            size: 10_000,
        })
        .await
        .unwrap_err();
    assert_eq!(beyond.code(), Code::InvalidArgument, "{beyond:?}");
    let empty = public
        .get_consistency_proof(GetConsistencyProofRequest {
            old_size: 0,
            new_size: 3,
        })
        .await
        .unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument, "{empty:?}");
    let unsigned = public
        .get_checkpoint(GetCheckpointRequest { size: 2 })
        .await
        .unwrap_err();
    assert_eq!(unsigned.code(), Code::NotFound, "{unsigned:?}");
}

#[tokio::test]
async fn checkpoints_survive_a_restart_and_keep_the_key() {
    let server = TestServer::start().await;
    let key = log_key(&server);
    let mut client = server.client().await;
    client.append(append("a-1", 2)).await.unwrap();
    let before = client
        .get_checkpoint(GetCheckpointRequest { size: 0 })
        .await
        .unwrap()
        .into_inner();
    let server = server.restart(None).await;
    assert_eq!(log_key(&server), key);
    let mut client = server.client().await;
    let after = client
        .get_checkpoint(GetCheckpointRequest { size: before.size })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.checkpoint, before.checkpoint);
}
