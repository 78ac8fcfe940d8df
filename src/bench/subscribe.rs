//! The subscription scenarios of `oversight bench`:
//!
//! * `catch-up`: one `Subscribe` from position 1 over a log of at least N events (filled with
//!   batch appends first if it holds fewer), timed until `CaughtUp`: the events delivered per
//!   second while a subscriber reads history;
//! * `live`: appends paced at a fixed rate (batches from several clients, each on its own
//!   stream) while one subscriber, subscribed from now to the run's streams only, receives them.
//!   For each event it records the delay from the append's acknowledgement to its arrival (0 when
//!   the event arrived before the acknowledgement did), and, as a second row, from the moment the
//!   append was sent.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::oneshot;
use uuid::Uuid;

use super::scenarios::{BenchError, Target, clients, event, new_histogram, prefill};
use super::{Percentiles, ScenarioResult};
use crate::proto::{
    AppendRequest, ExpectedRevision, Filter, SubscribeRequest, expected_revision,
    subscribe_request, subscribe_response,
};

/// Clients appending in the `live` scenario.
pub const LIVE_CLIENTS: usize = 8;
/// How often each `live` client appends one batch.
const LIVE_PERIOD: Duration = Duration::from_millis(20);

/// Runs `catch-up`: fills the log up to `at_least` events if needed, then subscribes from
/// position 1 and counts events until `CaughtUp`.
pub async fn catch_up(target: &Target, at_least: u64) -> Result<ScenarioResult, BenchError> {
    if at_least > 0 {
        prefill(target, at_least).await?;
    }
    let mut client = clients(target, 1)
        .await?
        .into_iter()
        .next()
        .ok_or(BenchError::BadToken)?;
    let started = Instant::now();
    let mut stream = client
        .subscribe(SubscribeRequest {
            start: Some(subscribe_request::Start::FromPosition(1)),
            filter: None,
        })
        .await
        .map_err(BenchError::Read)?
        .into_inner();
    let (mut events, mut chunks) = (0u64, 0u64);
    loop {
        let Some(message) = stream.message().await.map_err(BenchError::Read)? else {
            return Err(BenchError::Read(tonic::Status::aborted(
                "the subscription ended before it caught up",
            )));
        };
        match message.message {
            Some(subscribe_response::Message::Events(chunk)) => {
                events += chunk.events.len() as u64;
                chunks += 1;
            }
            Some(subscribe_response::Message::CaughtUp(_)) => break,
            None => {}
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(ScenarioResult {
        name: "catch-up".to_string(),
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

/// One acknowledged append of the `live` scenario.
struct Acked {
    first_position: u64,
    last_position: u64,
    sent: Instant,
    acked: Instant,
}

/// Runs `live` for `duration` at `rate` events per second. Returns two rows: `live` (append
/// acknowledgement → received) and `live-send` (append sent → received); `events` of the
/// `live` row is what the subscriber received, its `events_per_sec` the rate achieved.
pub async fn live(
    target: &Target,
    rate: u64,
    duration: Duration,
) -> Result<Vec<ScenarioResult>, BenchError> {
    let run = Uuid::new_v4().simple().to_string();
    let ids = target.event_ids;
    let prefix = format!("bench-{run}-live-");
    let per_period = LIVE_PERIOD.as_secs_f64() * rate.max(1) as f64 / LIVE_CLIENTS as f64;
    let per_request = per_period.round().max(1.0) as usize;

    // The subscriber: from now, only this run's streams; it stops when told, after the last ack.
    let mut subscriber = clients(target, 1)
        .await?
        .into_iter()
        .next()
        .ok_or(BenchError::BadToken)?;
    let mut feed = subscriber
        .subscribe(SubscribeRequest {
            start: Some(subscribe_request::Start::FromNow(())),
            filter: Some(Filter {
                stream_prefixes: vec![prefix.clone()],
                event_types: Vec::new(),
            }),
        })
        .await
        .map_err(BenchError::Read)?
        .into_inner();
    // Wait for the subscription to be established (its CaughtUp) before appending.
    loop {
        match feed.message().await.map_err(BenchError::Read)? {
            Some(m) if matches!(m.message, Some(subscribe_response::Message::CaughtUp(_))) => break,
            Some(_) => {}
            None => {
                return Err(BenchError::Read(tonic::Status::aborted(
                    "the subscription ended before it started",
                )));
            }
        }
    }
    let (stop, mut stopped) = oneshot::channel::<u64>();
    let receiving = tokio::spawn(async move {
        let mut received: HashMap<u64, Instant> = HashMap::new();
        let mut until: Option<u64> = None;
        let mut failure = None;
        loop {
            if let Some(last) = until
                && received.len() as u64 >= last
            {
                break;
            }
            tokio::select! {
                expected = &mut stopped, if until.is_none() => {
                    until = Some(expected.unwrap_or(0));
                }
                message = tokio::time::timeout(Duration::from_secs(5), feed.message()) => {
                    match message {
                        Ok(Ok(Some(m))) => {
                            if let Some(subscribe_response::Message::Events(chunk)) = m.message {
                                let now = Instant::now();
                                for e in chunk.events {
                                    received.insert(e.position, now);
                                }
                            }
                        }
                        Ok(Ok(None)) => break,
                        Ok(Err(status)) => {
                            failure = Some(status);
                            break;
                        }
                        // Nothing for 5 s: once the appends have stopped, the rest is lost.
                        Err(_) if until.is_some() => break,
                        Err(_) => {}
                    }
                }
            }
        }
        (received, failure)
    });

    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for (i, mut client) in clients(target, LIVE_CLIENTS).await?.into_iter().enumerate() {
        let stream = format!("{prefix}{i}");
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut errors = 0u64;
            let mut seq = 0u64;
            let mut ticks = tokio::time::interval_at(
                tokio::time::Instant::now() + LIVE_PERIOD.mul_f64(i as f64 / LIVE_CLIENTS as f64),
                LIVE_PERIOD,
            );
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if Instant::now() >= deadline {
                    break;
                }
                let events = (0..per_request)
                    .map(|_| {
                        seq += 1;
                        event(ids, i, seq)
                    })
                    .collect();
                let sent = Instant::now();
                let reply = client
                    .append(AppendRequest {
                        stream: stream.clone(),
                        expected_revision: Some(ExpectedRevision {
                            kind: Some(expected_revision::Kind::Any(())),
                        }),
                        events,
                    })
                    .await;
                let at = Instant::now();
                match reply.map(|r| r.into_inner().result) {
                    Ok(Some(result)) => acked.push(Acked {
                        first_position: result.first_position,
                        last_position: result.last_position,
                        sent,
                        acked: at,
                    }),
                    _ => errors += 1,
                }
            }
            (acked, errors)
        }));
    }
    let mut acked = Vec::new();
    let mut errors = 0u64;
    let mut requests = 0u64;
    for task in tasks {
        match task.await {
            Ok((mine, e)) => {
                requests += mine.len() as u64 + e;
                errors += e;
                acked.extend(mine);
            }
            Err(_) => errors += 1,
        }
    }
    let appended: u64 = acked
        .iter()
        .map(|a| a.last_position - a.first_position + 1)
        .sum();
    let appending_seconds = started.elapsed().as_secs_f64();
    let _ = stop.send(appended);
    let (received, failure) = receiving
        .await
        .map_err(|e| BenchError::Read(tonic::Status::internal(e.to_string())))?;
    if let Some(status) = failure {
        return Err(BenchError::Read(status));
    }

    let mut from_ack = new_histogram()?;
    let mut from_send = new_histogram()?;
    let mut delivered = 0u64;
    for a in &acked {
        for position in a.first_position..=a.last_position {
            let Some(at) = received.get(&position) else {
                continue;
            };
            delivered += 1;
            record(&mut from_ack, at.saturating_duration_since(a.acked));
            record(&mut from_send, at.saturating_duration_since(a.sent));
        }
    }
    // An event appended and never delivered counts as an error of the subscription.
    let lost = appended - delivered;
    let row = |name: &str, histogram: &Histogram<u64>| ScenarioResult {
        name: name.to_string(),
        clients: LIVE_CLIENTS,
        events: delivered,
        requests,
        errors: errors + lost,
        seconds: appending_seconds,
        events_per_sec: appended as f64 / appending_seconds.max(f64::EPSILON),
        latency_us: Some(Percentiles::of(histogram)),
        fsync_ratio: None,
    };
    Ok(vec![row("live", &from_ack), row("live-send", &from_send)])
}

fn record(histogram: &mut Histogram<u64>, delay: Duration) {
    let micros = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
    // A histogram that auto-resizes records any value; 0 is a valid delay here.
    let _ = histogram.record(micros);
}
