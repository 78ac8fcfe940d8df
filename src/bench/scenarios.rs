//! The load scenarios, each driving a server over gRPC with the generated client.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::Mutex;
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::transport::Channel;
use tonic::{Request, Status};
use uuid::Uuid;

use super::{Percentiles, ScenarioResult};
use crate::proto::event_log_client::EventLogClient;
use crate::proto::{
    AppendRequest, ContentType, ExpectedRevision, HeadRequest, ProposedEvent, ReadAllRequest,
    expected_revision,
};

/// Every scenario name, in the order `all` runs them.
pub const ALL: &[&str] = &[
    "round-trip-1",
    "round-trip-64",
    "append-1",
    "append-8",
    "append-64",
    "append-256",
    "batch",
    "read-all",
];

/// The name of the scenarios that time a call that touches no disk (`Head`): the transport's
/// share of every append, `round-trip-N` for N clients.
const ROUND_TRIP: &str = "round-trip";
/// Events per request in the `batch` scenario.
pub(crate) const BATCH_SIZE: usize = 100;
/// Concurrent clients in the `batch` scenario.
const BATCH_CLIENTS: usize = 8;
/// HTTP/2 connections shared by the clients of a scenario.
pub(crate) const CONNECTIONS: usize = 4;

/// The server to drive.
#[derive(Debug, Clone)]
pub struct Target {
    /// e.g. `http://127.0.0.1:50051`.
    pub endpoint: String,
    /// Bearer token of an admin.
    pub token: String,
    /// TLS options for an `https://` endpoint.
    pub tls: crate::transport::ClientTls,
    /// How the clients choose their events' ids.
    pub event_ids: EventIds,
}

/// How the benchmark's clients choose their events' ids (`--event-ids`). The log's idempotency
/// index is keyed by event id, so the choice decides whether each event's entry lands on a page
/// of its own (random ids) or next to the previous one (time-ordered ids).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventIds {
    /// UUIDv4: random, the least favourable case for the log.
    #[default]
    Random,
    /// UUIDv7: time-ordered, as the server assigns when a client leaves the id empty.
    TimeOrdered,
}

impl EventIds {
    /// A fresh id of this kind.
    pub fn next(self) -> Uuid {
        match self {
            EventIds::Random => Uuid::new_v4(),
            EventIds::TimeOrdered => Uuid::now_v7(),
        }
    }
}

/// Why a scenario could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The scenario name is not one of [`ALL`].
    #[error("unknown scenario {name:?}; choose one of: {}", ALL.join(", "))]
    UnknownScenario {
        /// The name given.
        name: String,
    },
    /// The server could not be reached.
    #[error("cannot connect to {endpoint}: {source}")]
    Connect {
        /// Where.
        endpoint: String,
        /// Why.
        source: tonic::transport::Error,
    },
    /// The TLS options or the endpoint are not usable.
    #[error(transparent)]
    Tls(#[from] crate::transport::TransportError),
    /// The token is not a valid header value.
    #[error("the token contains characters that cannot be sent in a header")]
    BadToken,
    /// The latency histogram could not be created.
    #[error("cannot create a latency histogram: {0}")]
    Histogram(hdrhistogram::CreationError),
    /// A streaming read failed.
    #[error("read failed: {0}")]
    Read(Status),
    /// Filling the log before `read-all` failed.
    #[error("cannot fill the log before read-all: {0}")]
    Prefill(Status),
}

#[derive(Clone)]
pub(crate) struct Bearer(pub(crate) MetadataValue<tonic::metadata::Ascii>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

pub(crate) type Client =
    EventLogClient<tonic::service::interceptor::InterceptedService<Channel, Bearer>>;

pub(crate) async fn clients(target: &Target, n: usize) -> Result<Vec<Client>, BenchError> {
    let bearer = Bearer(
        format!("Bearer {}", target.token)
            .parse()
            .map_err(|_| BenchError::BadToken)?,
    );
    let mut channels = Vec::new();
    for _ in 0..CONNECTIONS.min(n.max(1)) {
        let endpoint = crate::transport::client_endpoint(&target.endpoint, &target.tls)?;
        let channel = endpoint
            .tcp_nodelay(true)
            .connect()
            .await
            .map_err(|source| BenchError::Connect {
                endpoint: target.endpoint.clone(),
                source,
            })?;
        channels.push(channel);
    }
    Ok((0..n)
        .map(|i| {
            EventLogClient::with_interceptor(channels[i % channels.len()].clone(), bearer.clone())
        })
        .collect())
}

/// A JSON payload of about 300 bytes.
pub(crate) fn payload(client: usize, seq: u64) -> Vec<u8> {
    format!(
        r#"{{"client":{client},"seq":{seq},"organ":"district public security bureau","mode":"incognito","ratings":{{"work_discipline":4,"service_quality":5,"efficiency":3}},"notes":"queue moved steadily; staff explained the procedure clearly; waiting area clean and signposted"}}"#
    )
    .into_bytes()
}

pub(crate) fn event(ids: EventIds, client: usize, seq: u64) -> ProposedEvent {
    ProposedEvent {
        event_id: ids.next().to_string(),
        event_type: "BenchEventRecorded.v1".to_string(),
        data: payload(client, seq),
        content_type: ContentType::Json as i32,
        metadata: None,
    }
}

/// Runs one scenario by name for about `duration`.
pub async fn run_scenario(
    target: &Target,
    name: &str,
    duration: Duration,
    fsync_per_sec: f64,
) -> Result<ScenarioResult, BenchError> {
    let mut result = match name {
        "append-1" => appends(target, name, 1, 1, duration).await?,
        "append-8" => appends(target, name, 8, 1, duration).await?,
        "append-64" => appends(target, name, 64, 1, duration).await?,
        "append-256" => appends(target, name, 256, 1, duration).await?,
        "batch" => appends(target, name, BATCH_CLIENTS, BATCH_SIZE, duration).await?,
        "read-all" => read_all(target).await?,
        "round-trip-1" => round_trips(target, name, 1, duration).await?,
        "round-trip-64" => round_trips(target, name, 64, duration).await?,
        other => {
            return Err(BenchError::UnknownScenario {
                name: other.to_string(),
            });
        }
    };
    let appends = name != "read-all" && !name.starts_with(ROUND_TRIP);
    if appends && fsync_per_sec > 0.0 {
        result.fsync_ratio = Some(result.events_per_sec / fsync_per_sec);
    }
    Ok(result)
}

async fn appends(
    target: &Target,
    name: &str,
    n_clients: usize,
    per_request: usize,
    duration: Duration,
) -> Result<ScenarioResult, BenchError> {
    let run = Uuid::new_v4().simple().to_string();
    let ids = target.event_ids;
    let histogram = Arc::new(Mutex::new(new_histogram()?));
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for (i, mut client) in clients(target, n_clients).await?.into_iter().enumerate() {
        let histogram = Arc::clone(&histogram);
        let stream = format!("bench-{run}-{name}-{i}");
        let mut local = new_histogram()?;
        tasks.push(tokio::spawn(async move {
            let (mut events, mut requests, mut errors) = (0u64, 0u64, 0u64);
            let mut next_revision: Option<u64> = None;
            let mut seq = 0u64;
            while Instant::now() < deadline {
                let expected = match next_revision {
                    None => expected_revision::Kind::NoStream(()),
                    Some(r) => expected_revision::Kind::Exact(r),
                };
                let batch: Vec<ProposedEvent> = (0..per_request)
                    .map(|_| {
                        seq += 1;
                        event(ids, i, seq)
                    })
                    .collect();
                let request = AppendRequest {
                    stream: stream.clone(),
                    expected_revision: Some(ExpectedRevision {
                        kind: Some(expected),
                    }),
                    events: batch,
                };
                let sent = Instant::now();
                let reply = client.append(request).await;
                let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                requests += 1;
                match reply {
                    Ok(reply) => {
                        let _ = local.record(micros.max(1));
                        events += per_request as u64;
                        next_revision = reply.into_inner().result.map(|r| r.last_revision);
                    }
                    Err(_) => errors += 1,
                }
            }
            let _ = histogram.lock().await.add(&local);
            (events, requests, errors)
        }));
    }
    let (mut events, mut requests, mut errors) = (0, 0, 0);
    for task in tasks {
        if let Ok((e, r, x)) = task.await {
            events += e;
            requests += r;
            errors += x;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let histogram = histogram.lock().await;
    Ok(ScenarioResult {
        name: name.to_string(),
        clients: n_clients,
        events,
        requests,
        errors,
        seconds,
        events_per_sec: events as f64 / seconds,
        latency_us: Some(Percentiles::of(&histogram)),
        fsync_ratio: None,
    })
}

/// `n_clients` clients calling `Head` back to back for `duration`. `Head` reads the head the
/// writer keeps in memory, so each call is a gRPC round trip with authentication and no disk:
/// one client's append costs this plus the writer's work and the journal's flush, and N clients'
/// appends cannot go faster than N clients' calls. The row counts calls as events.
async fn round_trips(
    target: &Target,
    name: &str,
    n_clients: usize,
    duration: Duration,
) -> Result<ScenarioResult, BenchError> {
    let histogram = Arc::new(Mutex::new(new_histogram()?));
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for mut client in clients(target, n_clients).await? {
        let histogram = Arc::clone(&histogram);
        let mut local = new_histogram()?;
        tasks.push(tokio::spawn(async move {
            let (mut calls, mut errors) = (0u64, 0u64);
            while Instant::now() < deadline {
                let sent = Instant::now();
                let reply = client.head(HeadRequest {}).await;
                let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                match reply {
                    Ok(_) => {
                        let _ = local.record(micros.max(1));
                        calls += 1;
                    }
                    Err(_) => errors += 1,
                }
            }
            let _ = histogram.lock().await.add(&local);
            (calls, errors)
        }));
    }
    let (mut calls, mut errors) = (0u64, 0u64);
    for task in tasks {
        if let Ok((c, e)) = task.await {
            calls += c;
            errors += e;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let histogram = histogram.lock().await;
    Ok(ScenarioResult {
        name: name.to_string(),
        clients: n_clients,
        events: calls,
        requests: calls + errors,
        errors,
        seconds,
        events_per_sec: calls as f64 / seconds.max(f64::EPSILON),
        latency_us: Some(Percentiles::of(&histogram)),
        fsync_ratio: None,
    })
}

/// Makes sure the log holds at least `at_least` events, appending batches of 100 events from
/// [`BATCH_CLIENTS`] clients until it does, so that `read-all` has something to read when it
/// runs alone. Returns the head position.
pub async fn prefill(target: &Target, at_least: u64) -> Result<u64, BenchError> {
    let mut all = clients(target, BATCH_CLIENTS).await?;
    let head = match all.first_mut() {
        Some(client) => {
            client
                .head(HeadRequest {})
                .await
                .map_err(BenchError::Prefill)?
                .into_inner()
                .position
        }
        None => return Ok(0),
    };
    if head >= at_least {
        return Ok(head);
    }
    let missing = at_least - head;
    let requests = missing.div_ceil(BATCH_SIZE as u64);
    let run = Uuid::new_v4().simple().to_string();
    let ids = target.event_ids;
    let mut tasks = Vec::new();
    for (i, mut client) in all.into_iter().enumerate() {
        let stream = format!("bench-{run}-prefill-{i}");
        let mine = requests / BATCH_CLIENTS as u64
            + u64::from((i as u64) < requests % BATCH_CLIENTS as u64);
        tasks.push(tokio::spawn(async move {
            let mut seq = 0u64;
            for _ in 0..mine {
                let events = (0..BATCH_SIZE)
                    .map(|_| {
                        seq += 1;
                        event(ids, i, seq)
                    })
                    .collect();
                client
                    .append(AppendRequest {
                        stream: stream.clone(),
                        expected_revision: Some(ExpectedRevision {
                            kind: Some(expected_revision::Kind::Any(())),
                        }),
                        events,
                    })
                    .await?;
            }
            Ok::<_, Status>(())
        }));
    }
    for task in tasks {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(status)) => return Err(BenchError::Prefill(status)),
            Err(e) => return Err(BenchError::Prefill(Status::internal(e.to_string()))),
        }
    }
    Ok(head + requests * BATCH_SIZE as u64)
}

async fn read_all(target: &Target) -> Result<ScenarioResult, BenchError> {
    let mut client = clients(target, 1)
        .await?
        .into_iter()
        .next()
        .ok_or(BenchError::BadToken)?;
    let started = Instant::now();
    let mut stream = client
        .read_all(ReadAllRequest::default())
        .await
        .map_err(BenchError::Read)?
        .into_inner();
    let (mut events, mut chunks) = (0u64, 0u64);
    while let Some(chunk) = stream.message().await.map_err(BenchError::Read)? {
        events += chunk.events.len() as u64;
        chunks += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(ScenarioResult {
        name: "read-all".to_string(),
        clients: 1,
        events,
        requests: chunks,
        errors: 0,
        seconds,
        events_per_sec: events as f64 / seconds.max(f64::EPSILON),
        latency_us: None,
        fsync_ratio: None,
    })
}

pub(crate) fn new_histogram() -> Result<Histogram<u64>, BenchError> {
    // Auto-resizing, so any latency can be recorded; 3 significant figures.
    let mut histogram = Histogram::new(3).map_err(BenchError::Histogram)?;
    histogram.auto(true);
    Ok(histogram)
}
