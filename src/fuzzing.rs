//! Entry points for fuzzing: each takes arbitrary bytes, feeds them to one decoder or validator
//! of untrusted input and checks what must hold whatever the bytes are. A panic (or a failed
//! check, which panics) is the finding.
//!
//! They are shared by the cargo-fuzz targets in `fuzz/` and by the bounded property tests run
//! under `cargo test` (this module's unit tests).
//!
//! * [`stored_record`] — the canonical stored-record decoder of the log (`docs/STORAGE.md`);
//! * [`commands`] — protobuf bytes decoded as the requests of the EventLog, Registry and
//!   Hearings services and validated into log and domain commands, as the gRPC layer does;
//! * [`policy_documents`] — scoring and supervision policy documents, as JSON and (scoring) as
//!   protobuf, through their validation;
//! * [`export_line`] — one line of a JSON Lines export, through the parser and the offline chain
//!   check of `oversight verify-export`.

use prost::Message;

use crate::api::{convert, evaluation_convert};
use crate::app::{hearings, policy, registry};
use crate::auth::{Principal, Role};
use crate::config::Limits;
use crate::domain::evaluation::policy::ScoringPolicy;
use crate::domain::supervision_policy::SupervisionPolicy;
use crate::log::codec::{decode_stored, encode_stored};
use crate::log::export::{ChainCheck, ExportLine};
use crate::proto;

/// Decodes `data` as a stored record; whatever decodes must encode back to bytes that decode to
/// the same record.
pub fn stored_record(data: &[u8]) {
    if let Ok(record) = decode_stored(data) {
        let again = encode_stored(&record);
        match decode_stored(&again) {
            Ok(round_trip) => {
                assert_eq!(round_trip, record, "a decoded record does not round-trip")
            }
            Err(e) => panic!("a re-encoded record does not decode: {e}"),
        }
    }
}

/// Parses `data` as one line of an export and checks it the way `verify-export` does; whatever
/// parses must print back to a line that parses to the same text.
pub fn export_line(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(line) = ExportLine::parse(&text) {
        let printed = line.to_json();
        match ExportLine::parse(&printed) {
            Ok(again) => assert_eq!(
                again.to_json(),
                printed,
                "an export line does not round-trip"
            ),
            Err(e) => panic!("a printed export line does not parse: {e}"),
        }
        // The record and the chain check may refuse the line; they must not panic.
        let _ = line.record();
        let _ = ChainCheck::new().accept_line(&line);
    }
}

/// Decodes `data` as each command request the server accepts and validates it the way the gRPC
/// layer does; a validation error is fine, a panic is not.
pub fn commands(data: &[u8]) {
    let principal = Principal {
        subject: "fuzz".into(),
        role: Role::Admin,
        committee: None,
        deputy_group: None,
    };
    let limits = Limits::default();
    if let Ok(request) = proto::AppendRequest::decode(data) {
        let _ = convert::append_request(request, &principal, &limits);
    }
    if let Ok(request) = proto::AppendMultiRequest::decode(data) {
        let _ = convert::append_multi_request(request, &principal, &limits);
    }
    if let Ok(request) = proto::ReadAllRequest::decode(data) {
        let _ = convert::read_all_request(request);
    }
    if let Ok(request) = proto::ReadStreamRequest::decode(data) {
        let _ = convert::read_stream_request(request);
    }
    validate::<proto::CreateCommitteeRequest, registry::CreateCommittee>(data);
    validate::<proto::AddCommitteeMemberRequest, registry::AddCommitteeMember>(data);
    validate::<proto::RemoveCommitteeMemberRequest, registry::RemoveCommitteeMember>(data);
    validate::<proto::RegisterAppointeeRequest, registry::RegisterAppointee>(data);
    validate::<proto::ChangeAppointeePostRequest, registry::AppointeeChange>(data);
    validate::<proto::EndAppointeeTermRequest, registry::AppointeeChange>(data);
    validate::<proto::FormDeputyGroupRequest, registry::FormDeputyGroup>(data);
    validate::<proto::AddDeputyRequest, registry::AddDeputy>(data);
    validate::<proto::RemoveDeputyRequest, registry::RemoveDeputy>(data);
    validate::<proto::AdoptSupervisionPolicyRequest, policy::AdoptSupervisionPolicy>(data);
    validate::<proto::FileDutyReportRequest, hearings::FileDutyReport>(data);
    validate::<proto::ReviseDutyReportRequest, hearings::ReviseDutyReport>(data);
    validate::<proto::WithdrawDutyReportRequest, hearings::WithdrawDutyReport>(data);
    validate::<proto::RecordStakeholderFeedbackRequest, hearings::RecordFeedback>(data);
    validate::<proto::RetractStakeholderFeedbackRequest, hearings::RetractFeedback>(data);
}

fn validate<P, C>(data: &[u8])
where
    P: Message + Default,
    C: TryFrom<P>,
{
    if let Ok(request) = P::decode(data) {
        let _ = C::try_from(request);
    }
}

/// Reads `data` as policy documents (JSON scoring and supervision policies, a protobuf scoring
/// policy) and validates what parses; a policy that validates must survive a JSON round trip.
pub fn policy_documents(data: &[u8]) {
    if let Ok(policy) = serde_json::from_slice::<ScoringPolicy>(data) {
        check_scoring(&policy);
    }
    if let Ok(policy) = proto::ScoringPolicy::decode(data)
        && let Ok(policy) = evaluation_convert::policy_from_proto(policy)
    {
        check_scoring(&policy);
    }
    if let Ok(policy) = serde_json::from_slice::<SupervisionPolicy>(data)
        && policy.validate().is_ok()
    {
        let json = serde_json::to_vec(&policy).unwrap_or_default();
        let again = serde_json::from_slice::<SupervisionPolicy>(&json).ok();
        assert_eq!(
            again.as_ref(),
            Some(&policy),
            "a valid supervision policy does not round-trip"
        );
    }
}

fn check_scoring(policy: &ScoringPolicy) {
    if policy.validate().is_ok() {
        let json = serde_json::to_vec(policy).unwrap_or_default();
        let again = serde_json::from_slice::<ScoringPolicy>(&json).ok();
        assert_eq!(
            again.as_ref(),
            Some(policy),
            "a valid scoring policy does not round-trip"
        );
        // Exact arithmetic at the extremes must not overflow.
        let _ = policy.quorum.is_met(u64::MAX, u64::MAX);
        let _ = policy.quorum.describe();
    }
}

/// Valid inputs for the targets to start from, so that mutations reach past the first check.
pub mod seeds {
    use prost::Message;

    use crate::domain::evaluation::policy::ScoringPolicy;
    use crate::domain::supervision_policy::SupervisionPolicy;
    use crate::log::codec::encode_stored;
    use crate::log::{Actor, ContentType, EventType, Metadata, RecordedEvent, StreamName};
    use crate::proto;

    /// Stored records: a JSON event with a little metadata, and a binary one with an actor and
    /// extra context.
    pub fn stored_records() -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        if let (Ok(stream), Ok(event_type)) = (
            StreamName::new("appointee-1"),
            EventType::new("AppointeeRegistered.v1"),
        ) {
            let record = RecordedEvent {
                position: 7,
                stream,
                revision: 2,
                event_id: uuid::Uuid::from_u128(42),
                event_type,
                recorded_at_micros: 1_700_000_000_000_000,
                metadata: Metadata {
                    correlation_id: Some("c".into()),
                    committee: Some("xiangfang".into()),
                    ..Metadata::default()
                },
                data: br#"{"name":"x"}"#.to_vec(),
                content_type: ContentType::Json,
                hash: [9u8; 32],
            };
            out.push(encode_stored(&record));
        }
        if let (Ok(stream), Ok(event_type)) = (
            StreamName::new("dutyreport-3"),
            EventType::new("DutyReportFiled.v1"),
        ) {
            let record = RecordedEvent {
                position: 1_048_576,
                stream,
                revision: 0,
                event_id: uuid::Uuid::from_u128(0x1234_5678_9abc_def0),
                event_type,
                recorded_at_micros: 1_764_288_000_000_000,
                metadata: Metadata {
                    actor: Some(Actor {
                        subject: "clerk".into(),
                        role: "clerk".into(),
                    }),
                    causation_id: Some("cmd-9".into()),
                    extra: [("source".to_string(), "import".to_string())]
                        .into_iter()
                        .collect(),
                    ..Metadata::default()
                },
                data: vec![0, 1, 2, 0xff, 0xfe],
                content_type: ContentType::Binary,
                hash: [0xa5u8; 32],
            };
            out.push(encode_stored(&record));
        }
        out
    }

    /// Export lines: the stored-record seeds as the first positions of a log, each hashed onto
    /// the one before as the log does, so that the lines pass the chain check.
    pub fn export_lines() -> Vec<Vec<u8>> {
        use crate::log::codec::{GENESIS_HASH, chain_hash, decode_stored, encode_canonical};
        let mut previous = GENESIS_HASH;
        stored_records()
            .iter()
            .filter_map(|bytes| decode_stored(bytes).ok())
            .zip(1u64..)
            .map(|(mut record, position)| {
                record.position = position;
                record.hash = chain_hash(&previous, &encode_canonical(&record));
                let line = crate::log::export::ExportLine::new(&record, previous)
                    .to_json()
                    .into_bytes();
                previous = record.hash;
                line
            })
            .collect()
    }

    /// Encoded command requests.
    pub fn commands() -> Vec<Vec<u8>> {
        vec![
            proto::AppendRequest {
                stream: "appointee-1".into(),
                expected_revision: None,
                events: vec![proto::ProposedEvent {
                    event_id: uuid::Uuid::from_u128(7).to_string(),
                    event_type: "AppointeeRegistered.v1".into(),
                    data: br#"{"name":"x"}"#.to_vec(),
                    content_type: proto::ContentType::Json as i32,
                    metadata: None,
                }],
            }
            .encode_to_vec(),
            proto::ChangeAppointeePostRequest {
                command_id: String::new(),
                appointee_id: "a-1".into(),
                post: "director".into(),
                organ_name: "district housing bureau".into(),
                on: "2025-03-01".into(),
                appointing_meeting: "20th session".into(),
                correlation_id: String::new(),
            }
            .encode_to_vec(),
            proto::AddCommitteeMemberRequest {
                command_id: String::new(),
                committee_id: "xiangfang".into(),
                member_id: "m-1".into(),
                name: "Member One".into(),
                from: "2024-01-01".into(),
                to: String::new(),
                correlation_id: String::new(),
            }
            .encode_to_vec(),
            proto::AppendMultiRequest {
                appends: vec![proto::StreamAppend {
                    stream: "committee-xiangfang".into(),
                    expected_revision: Some(proto::ExpectedRevision {
                        kind: Some(proto::expected_revision::Kind::Exact(3)),
                    }),
                    events: vec![proto::ProposedEvent {
                        event_id: uuid::Uuid::from_u128(8).to_string(),
                        event_type: "CommitteeMemberAdded.v1".into(),
                        data: br#"{"member_id":"m-2"}"#.to_vec(),
                        content_type: proto::ContentType::Json as i32,
                        metadata: None,
                    }],
                }],
            }
            .encode_to_vec(),
            proto::ReadAllRequest {
                from_position: Some(10),
                direction: proto::Direction::Backwards as i32,
                max_count: 100,
                filter: Some(proto::Filter {
                    stream_prefixes: vec!["appointee-".into()],
                    event_types: vec!["AppointeeRegistered.v1".into()],
                }),
            }
            .encode_to_vec(),
            proto::ReadStreamRequest {
                stream: "appointee-1".into(),
                from_revision: Some(0),
                direction: proto::Direction::Forwards as i32,
                max_count: 10,
            }
            .encode_to_vec(),
            proto::EndAppointeeTermRequest {
                command_id: String::new(),
                appointee_id: "a-1".into(),
                kind: proto::TermEndKind::Resignation as i32,
                on: "2026-06-30".into(),
                reason: "resigned by letter of 2026-06-20".into(),
                correlation_id: "c-1".into(),
            }
            .encode_to_vec(),
            proto::AddDeputyRequest {
                command_id: String::new(),
                group_id: "g-1".into(),
                deputy_id: "d-1".into(),
                name: "Deputy One".into(),
                correlation_id: String::new(),
            }
            .encode_to_vec(),
            proto::ReviseDutyReportRequest {
                command_id: String::new(),
                duty_report_id: "r-1".into(),
                title: "2026 duty report (revised)".into(),
                document_sha256: "ab".repeat(32),
                reason: "figures corrected".into(),
                correlation_id: String::new(),
            }
            .encode_to_vec(),
            proto::RetractStakeholderFeedbackRequest {
                command_id: String::new(),
                feedback_id: "f-1".into(),
                reason: "entered for the wrong appointee".into(),
                correlation_id: String::new(),
            }
            .encode_to_vec(),
        ]
    }

    /// Policy documents: the shipped defaults as JSON, and the default scoring policy as
    /// protobuf.
    pub fn policy_documents() -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        if let Ok(json) = serde_json::to_vec(&ScoringPolicy::default()) {
            out.push(json);
        }
        if let Ok(json) = serde_json::to_vec(&SupervisionPolicy::default()) {
            out.push(json);
        }
        out.push(
            crate::api::evaluation_convert::policy_to_proto(&ScoringPolicy::default())
                .encode_to_vec(),
        );
        out
    }

    /// The seeds of one target by its name in `fuzz/` (`stored_record`, `commands`,
    /// `policy_documents`, `export_line`); `None` for another name.
    pub fn for_target(target: &str) -> Option<Vec<Vec<u8>>> {
        match target {
            "stored_record" => Some(stored_records()),
            "commands" => Some(commands()),
            "policy_documents" => Some(policy_documents()),
            "export_line" => Some(export_lines()),
            _ => None,
        }
    }

    /// The names of the fuzz targets, as in `fuzz/Cargo.toml`.
    pub const TARGETS: [&str; 4] = [
        "stored_record",
        "commands",
        "policy_documents",
        "export_line",
    ];
}

#[cfg(test)]
mod tests {
    //! Bounded runs of the fuzz targets under `cargo test`: random bytes and mutated seeds.

    use proptest::prelude::*;

    use super::*;

    /// A seed with some bytes flipped, some dropped from the end and some appended.
    fn mutated(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
        let count = seeds.len().max(1);
        (
            0..count,
            prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
            any::<prop::sample::Index>(),
            prop::collection::vec(any::<u8>(), 0..16),
        )
            .prop_map(move |(which, flips, cut, tail)| {
                let mut bytes = seeds.get(which).cloned().unwrap_or_default();
                if !bytes.is_empty() {
                    for (at, value) in flips {
                        let i = at.index(bytes.len());
                        bytes[i] ^= value;
                    }
                    bytes.truncate(cut.index(bytes.len() + 1).max(1));
                }
                bytes.extend(tail);
                bytes
            })
    }

    fn input(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![prop::collection::vec(any::<u8>(), 0..256), mutated(seeds)]
    }

    #[test]
    fn seeds_are_valid() {
        for seed in seeds::stored_records() {
            assert!(decode_stored(&seed).is_ok());
        }
        assert!(!seeds::commands().is_empty());
        assert_eq!(seeds::policy_documents().len(), 3);
        for seed in seeds::export_lines() {
            let text = String::from_utf8(seed).unwrap();
            assert!(ExportLine::parse(&text).is_ok(), "{text}");
        }
        assert!(!seeds::export_lines().is_empty());
        let lines = seeds::export_lines();
        let mut chain = ChainCheck::new();
        for seed in &lines {
            let line = ExportLine::parse(std::str::from_utf8(seed).unwrap()).unwrap();
            chain.accept_line(&line).unwrap();
        }
        let policies = seeds::policy_documents();
        let proto_policy = proto::ScoringPolicy::decode(policies[2].as_slice()).unwrap();
        let policy = evaluation_convert::policy_from_proto(proto_policy).unwrap();
        assert!(policy.validate().is_ok());
    }

    /// `fuzz/seeds/<target>/` holds the seeds as files for `cargo fuzz run` (see
    /// docs/RELIABILITY.md). With `OVERSIGHT_WRITE_FUZZ_SEEDS=1` this test writes them first;
    /// otherwise it fails when they no longer match the seeds above.
    #[test]
    fn committed_seed_files_match_the_seeds() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
        let write = std::env::var_os("OVERSIGHT_WRITE_FUZZ_SEEDS").is_some();
        for target in seeds::TARGETS {
            let dir = root.join(target);
            let seeds = seeds::for_target(target).unwrap();
            if write {
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir_all(&dir).unwrap();
                for (i, seed) in seeds.iter().enumerate() {
                    std::fs::write(dir.join(format!("seed-{i}")), seed).unwrap();
                }
            }
            let mut on_disk: Vec<_> = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .map(|entry| entry.unwrap().path())
                .collect();
            on_disk.sort();
            let expected: Vec<_> = (0..seeds.len())
                .map(|i| dir.join(format!("seed-{i}")))
                .collect();
            assert_eq!(on_disk, expected, "rerun with OVERSIGHT_WRITE_FUZZ_SEEDS=1");
            for (path, seed) in expected.iter().zip(&seeds) {
                assert_eq!(
                    &std::fs::read(path).unwrap(),
                    seed,
                    "{} differs from its seed; rerun with OVERSIGHT_WRITE_FUZZ_SEEDS=1",
                    path.display()
                );
            }
        }
    }

    /// Cases per target: `OVERSIGHT_FUZZ_CASES`, default 10 000 (a few seconds in a debug build).
    fn cases() -> u32 {
        std::env::var("OVERSIGHT_FUZZ_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn stored_record_decoding_never_panics(data in input(seeds::stored_records())) {
            stored_record(&data);
        }

        #[test]
        fn command_validation_never_panics(data in input(seeds::commands())) {
            commands(&data);
        }

        #[test]
        fn policy_documents_never_panic(data in input(seeds::policy_documents())) {
            policy_documents(&data);
        }

        #[test]
        fn export_lines_never_panic(data in input(seeds::export_lines())) {
            export_line(&data);
        }
    }
}
