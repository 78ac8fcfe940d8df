//! The `mixed` scenario of `oversight bench`: for a duration, at the same time
//!
//! * [`APPENDERS`] clients append one event per request to their own streams (`mixed-append`);
//! * [`WRITERS`] clients each create a committee through `Registry/CreateCommittee`
//!   (`mixed-write`) and at once read it back with `Registry/GetCommittee` and `min_position` =
//!   the position the creation returned (`mixed-query`: a read-your-writes query, which waits for
//!   the `registry` view to apply that position); a reply without the committee is an error;
//! * [`SUBSCRIBERS`] live subscriptions to the whole log receive everything (`mixed-sub`); a gap
//!   in the positions they receive, a failed stream, or an event they have not received within
//!   10 s of the end is an error.
//!
//! Every failed call counts as an error of its row.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::{Mutex, watch};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use uuid::Uuid;

use super::scenarios::{Bearer, BenchError, Target, clients, event, new_histogram};
use super::{Percentiles, ScenarioResult};
use crate::proto::registry_client::RegistryClient;
use crate::proto::{
    AppendRequest, CommitteeLevel, CreateCommitteeRequest, ExpectedRevision, GetCommitteeRequest,
    HeadRequest, SubscribeRequest, expected_revision, subscribe_request, subscribe_response,
};

/// Clients appending raw events.
pub const APPENDERS: usize = 8;
/// Clients creating committees and reading them back.
pub const WRITERS: usize = 4;
/// Live subscriptions.
pub const SUBSCRIBERS: usize = 4;
/// How long subscribers get after the load stops to receive the last events.
const DRAIN: Duration = Duration::from_secs(10);

type Registry = RegistryClient<InterceptedService<Channel, Bearer>>;

async fn registry_clients(target: &Target, n: usize) -> Result<Vec<Registry>, BenchError> {
    let bearer = Bearer(
        format!("Bearer {}", target.token)
            .parse()
            .map_err(|_| BenchError::BadToken)?,
    );
    let endpoint = crate::transport::client_endpoint(&target.endpoint, &target.tls)?;
    let channel = endpoint
        .tcp_nodelay(true)
        .connect()
        .await
        .map_err(|source| BenchError::Connect {
            endpoint: target.endpoint.clone(),
            source,
        })?;
    Ok((0..n)
        .map(|_| RegistryClient::with_interceptor(channel.clone(), bearer.clone()))
        .collect())
}

#[derive(Default)]
struct Tally {
    requests: u64,
    events: u64,
    errors: u64,
}

/// Runs the mixed load for `duration`; returns the rows `mixed-append`, `mixed-write`,
/// `mixed-query` and `mixed-sub`.
pub async fn run(target: &Target, duration: Duration) -> Result<Vec<ScenarioResult>, BenchError> {
    let run = Uuid::new_v4().simple().to_string();
    let ids = target.event_ids;
    let short = &run[..8];

    // Subscribers first, so they see everything the load writes.
    let (last_tx, last_rx) = watch::channel(0u64);
    let mut subscribers = Vec::new();
    for mut client in clients(target, SUBSCRIBERS).await? {
        let mut feed = client
            .subscribe(SubscribeRequest {
                start: Some(subscribe_request::Start::FromNow(())),
                filter: None,
            })
            .await
            .map_err(BenchError::Read)?
            .into_inner();
        let mut last_rx = last_rx.clone();
        subscribers.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut expected_next: Option<u64> = None;
            loop {
                let target_last = *last_rx.borrow();
                if target_last > 0 && expected_next.is_some_and(|n| n > target_last) {
                    break;
                }
                let wait = if target_last > 0 {
                    DRAIN
                } else {
                    Duration::from_secs(3600)
                };
                tokio::select! {
                    changed = last_rx.changed(), if target_last == 0 => {
                        if changed.is_err() {
                            break;
                        }
                    }
                    message = tokio::time::timeout(wait, feed.message()) => match message {
                        Ok(Ok(Some(m))) => match m.message {
                            Some(subscribe_response::Message::Events(chunk)) => {
                                tally.requests += 1;
                                for e in chunk.events {
                                    if let Some(next) = expected_next
                                        && e.position != next
                                    {
                                        tally.errors += 1;
                                    }
                                    expected_next = Some(e.position + 1);
                                    tally.events += 1;
                                }
                            }
                            Some(subscribe_response::Message::CaughtUp(c)) => {
                                expected_next = Some(c.head_position + 1);
                            }
                            None => {}
                        },
                        _ => {
                            // Ended, failed, or silent past the drain time.
                            tally.errors += 1;
                            break;
                        }
                    },
                }
            }
            tally
        }));
    }

    let started = Instant::now();
    let deadline = started + duration;
    let append_latency = Arc::new(Mutex::new(new_histogram()?));
    let mut appenders = Vec::new();
    for (i, mut client) in clients(target, APPENDERS).await?.into_iter().enumerate() {
        let stream = format!("bench-{run}-mixed-{i}");
        let histogram = Arc::clone(&append_latency);
        let mut local = new_histogram()?;
        appenders.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut seq = 0u64;
            while Instant::now() < deadline {
                seq += 1;
                let sent = Instant::now();
                let reply = client
                    .append(AppendRequest {
                        stream: stream.clone(),
                        expected_revision: Some(ExpectedRevision {
                            kind: Some(expected_revision::Kind::Any(())),
                        }),
                        events: vec![event(ids, i, seq)],
                    })
                    .await;
                tally.requests += 1;
                match reply {
                    Ok(_) => {
                        tally.events += 1;
                        record(&mut local, sent.elapsed());
                    }
                    Err(_) => tally.errors += 1,
                }
            }
            let _ = histogram.lock().await.add(&local);
            tally
        }));
    }
    let write_latency = Arc::new(Mutex::new(new_histogram()?));
    let query_latency = Arc::new(Mutex::new(new_histogram()?));
    let mut writers = Vec::new();
    for (i, mut client) in registry_clients(target, WRITERS)
        .await?
        .into_iter()
        .enumerate()
    {
        let writes = Arc::clone(&write_latency);
        let queries = Arc::clone(&query_latency);
        let (mut local_writes, mut local_queries) = (new_histogram()?, new_histogram()?);
        let prefix = format!("bench-{short}-{i}");
        writers.push(tokio::spawn(async move {
            let (mut written, mut read) = (Tally::default(), Tally::default());
            let mut seq = 0u64;
            while Instant::now() < deadline {
                seq += 1;
                let committee_id = format!("{prefix}-{seq}");
                let sent = Instant::now();
                let created = client
                    .create_committee(CreateCommitteeRequest {
                        command_id: String::new(),
                        committee_id: committee_id.clone(),
                        name: format!("bench committee {committee_id}"),
                        level: CommitteeLevel::District as i32,
                        parent_committee_id: String::new(),
                        correlation_id: String::new(),
                    })
                    .await;
                written.requests += 1;
                let position = match created {
                    Ok(reply) => {
                        record(&mut local_writes, sent.elapsed());
                        written.events += 1;
                        reply.into_inner().position
                    }
                    Err(_) => {
                        written.errors += 1;
                        continue;
                    }
                };
                let asked = Instant::now();
                let got = client
                    .get_committee(GetCommitteeRequest {
                        committee_id: committee_id.clone(),
                        min_position: position,
                    })
                    .await;
                read.requests += 1;
                match got {
                    Ok(reply) if reply.get_ref().committee_id == committee_id => {
                        record(&mut local_queries, asked.elapsed());
                        read.events += 1;
                    }
                    _ => read.errors += 1,
                }
            }
            let _ = writes.lock().await.add(&local_writes);
            let _ = queries.lock().await.add(&local_queries);
            (written, read)
        }));
    }

    let mut append = Tally::default();
    for task in appenders {
        add(&mut append, task.await.unwrap_or_else(failed_task));
    }
    let (mut write, mut query) = (Tally::default(), Tally::default());
    for task in writers {
        match task.await {
            Ok((w, q)) => {
                add(&mut write, w);
                add(&mut query, q);
            }
            Err(_) => write.errors += 1,
        }
    }
    let seconds = started.elapsed().as_secs_f64();

    // Tell the subscribers where the load ended, and let them drain.
    let mut head_client = clients(target, 1)
        .await?
        .into_iter()
        .next()
        .ok_or(BenchError::BadToken)?;
    let head = head_client
        .head(HeadRequest {})
        .await
        .map_err(BenchError::Read)?
        .into_inner()
        .position;
    let _ = last_tx.send(head.max(1));
    let mut sub = Tally::default();
    for task in subscribers {
        add(&mut sub, task.await.unwrap_or_else(failed_task));
    }

    let percentiles = |h: &Histogram<u64>| Some(Percentiles::of(h));
    let row = |name: &str, clients: usize, t: &Tally, latency| ScenarioResult {
        name: name.to_string(),
        clients,
        events: t.events,
        requests: t.requests,
        errors: t.errors,
        seconds,
        events_per_sec: t.events as f64 / seconds.max(f64::EPSILON),
        latency_us: latency,
        fsync_ratio: None,
    };
    Ok(vec![
        row(
            "mixed-append",
            APPENDERS,
            &append,
            percentiles(&*append_latency.lock().await),
        ),
        row(
            "mixed-write",
            WRITERS,
            &write,
            percentiles(&*write_latency.lock().await),
        ),
        row(
            "mixed-query",
            WRITERS,
            &query,
            percentiles(&*query_latency.lock().await),
        ),
        row("mixed-sub", SUBSCRIBERS, &sub, None),
    ])
}

fn add(total: &mut Tally, part: Tally) {
    total.requests += part.requests;
    total.events += part.events;
    total.errors += part.errors;
}

fn failed_task(_: tokio::task::JoinError) -> Tally {
    Tally {
        errors: 1,
        ..Tally::default()
    }
}

fn record(histogram: &mut Histogram<u64>, elapsed: Duration) {
    let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    let _ = histogram.record(micros.max(1));
}
