//! Oversight: an event-sourced gRPC service for post-appointment supervision (任后监督) by the
//! standing committees of people's congresses.
//!
//! # Layout, in the order a request flows
//! * [`api`] — the gRPC boundary: the only module that knows tonic and prost types.
//! * [`web`] — the pages: the only module that knows HTTP forms, cookies and templates.
//! * [`app`] — the application layer: one function per command and query, shared by every
//!   client; scope, embargo and command ids decided once.
//! * [`auth`] — identity: principals, roles, the token store.
//! * [`handler`] — load a stream, let the domain decide, append with the expected revision.
//! * [`domain`] — pure commands, events and aggregates of supervision.
//! * [`log`] — the append-only, hash-chained event log on redb.
//! * [`checkpoints`] — the log's signing key and its signed checkpoints.
//! * [`ballot_box`] — cast ballots sealed apart from the log until voting closes.
//! * [`projection`] — read models folded from the log, with checkpoints and read-your-writes.
//! * [`config`], [`telemetry`], [`server`] — settings, tracing and the wiring of the service
//! * [`data_dir`] — the data directory's modes: 0700, every file 0600, whatever the umask.
//! * [`transport`] — TLS on both sides and the plaintext rule.
//! * [`connections`] — bounds on the gRPC listener's connections: total, per address, idle.
//! * [`metrics`] — Prometheus metrics and their `/metrics` endpoint.
//! * [`view_health`] — the views' lag in the gRPC health service.
//! * [`fuzzing`] — entry points for fuzzing the decoders and validators of untrusted input.

pub mod api;
pub mod app;
pub mod auth;
pub mod ballot_box;
pub mod bench;
pub mod checkpoints;
pub mod config;
pub mod connections;
pub mod data_dir;
pub mod domain;
pub mod fuzzing;
pub mod handler;
pub mod log;
pub mod metrics;
pub mod projection;
pub mod reopen;
pub mod server;
pub mod telemetry;
pub mod transport;
pub mod view_health;
pub mod web;

/// The generated protobuf and gRPC code. Only [`api`] and the client commands use it.
pub mod proto {
    #![allow(missing_docs, clippy::all, clippy::unwrap_used, clippy::expect_used)]
    tonic::include_proto!("oversight.v1");

    /// The file descriptor set for gRPC server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("oversight_descriptor");
}
