//! The `rebuild` scenario of `oversight bench`: how fast the projection runner folds a log of
//! domain events into every view.
//!
//! It opens a fresh log ([`RedbStore`]) in a directory of its own and fills it, in this process
//! and without gRPC, with N events of the supervision domain — per committee: its creation and
//! five members, two deputy groups of three deputies, twenty appointees, then site visits (one
//! `VisitFiled.v1` per visit) and findings (`FindingRaised.v1` + `FindingAssigned.v1`) in a ratio
//! of three visits to one finding — in multi-stream appends of up to [`APPEND_EVENTS`] events,
//! several in flight. Then it starts the [`ProjectionRunner`] with every projection the server
//! runs on an empty view file and times the fold until every view's checkpoint reaches the head
//! (`rebuild-fold`), and then asks the runner to rebuild every view (`Views::rebuild`, the code
//! path of `Operations/RebuildView` and `oversight admin rebuild`: drop the view, checkpoint 0,
//! refold) and times that until every view is level with the head again (`rebuild`).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, TimeZone, Utc};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::ScenarioResult;
use crate::domain::DomainEvent;
use crate::domain::appointee::{AppointeeEvent, OrganKind};
use crate::domain::committee::{CommitteeEvent, CommitteeLevel};
use crate::domain::deputy_group::DeputyGroupEvent;
use crate::domain::finding::{
    FindingAssigned, FindingEvent, FindingRaised, FindingSource, FindingSubject, Rectification,
    Severity,
};
use crate::domain::ids::{
    AppointeeId, CommitteeId, DeputyGroupId, DeputyId, FindingId, MemberId, VisitId,
    appointee_stream, committee_stream, deputy_group_stream, finding_stream, visit_stream,
};
use crate::domain::visit::{RatingScale, Ratings, VisitEvent, VisitFiled, VisitMode};
use crate::handler::to_proposed;
use crate::log::{
    Actor, AppendRequest, EventStore, ExpectedRevision, Metadata, ProposedEvent, RedbStore,
    StoreOptions, StreamAppend, StreamName,
};
use crate::projection::{ProjectionRunner, Views, registry};

/// The scenario's name on the command line.
pub const NAME: &str = "rebuild";
/// Most events in one append while filling the log.
pub const APPEND_EVENTS: usize = 960;
/// Appends in flight while filling the log.
const IN_FLIGHT: usize = 4;
/// Appointees per committee.
const APPOINTEES: usize = 20;
/// Deputy groups per committee.
const GROUPS: usize = 2;
/// Events per committee (its registry events, then visits and findings).
const PER_COMMITTEE: u64 = 2_000;
/// The longest a fold may take before the scenario gives up.
const FOLD_TIMEOUT: Duration = Duration::from_secs(3_600);

/// Why the rebuild scenario could not run.
#[derive(Debug, thiserror::Error)]
pub enum RebuildBenchError {
    /// The scenario's directory could not be made or removed.
    #[error("cannot use {path}: {source}")]
    Dir {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The log could not be opened.
    #[error(transparent)]
    Open(#[from] crate::log::OpenError),
    /// Filling the log failed.
    #[error("cannot fill the log: {0}")]
    Append(#[from] crate::log::AppendError),
    /// An event could not be built.
    #[error("cannot build a domain event: {0}")]
    Event(String),
    /// The projection runner failed.
    #[error(transparent)]
    Projection(#[from] crate::projection::ProjectionError),
}

/// One stream's events, written with `NoStream` (every stream is new).
struct Unit {
    stream: String,
    events: Vec<ProposedEvent>,
}

/// Generates the domain events of committee after committee.
struct Generator {
    committee: u64,
    /// Events of the current committee so far.
    in_committee: u64,
    /// Visits and findings of the current committee so far.
    item: u64,
}

fn id<T>(parsed: Result<T, crate::domain::Rejection>) -> Result<T, RebuildBenchError> {
    parsed.map_err(|e| RebuildBenchError::Event(e.to_string()))
}

fn proposed<E: DomainEvent>(
    events: &[E],
    metadata: &Metadata,
) -> Result<Vec<ProposedEvent>, RebuildBenchError> {
    events
        .iter()
        .map(|e| to_proposed(e, metadata).map_err(RebuildBenchError::Event))
        .collect()
}

impl Generator {
    fn new() -> Self {
        Self {
            committee: 0,
            in_committee: 0,
            item: 0,
        }
    }

    fn next_units(&mut self) -> Result<Vec<Unit>, RebuildBenchError> {
        let c = self.committee;
        let committee = id(CommitteeId::parse(format!("c{c}")))?;
        let metadata = Metadata {
            actor: Some(Actor {
                subject: format!("clerk-{c}"),
                role: "clerk".to_string(),
            }),
            committee: Some(committee.to_string()),
            ..Metadata::default()
        };
        let day = |n: u64| {
            NaiveDate::from_ymd_opt(2024, 1, 1)
                .and_then(|d| d.checked_add_days(chrono::Days::new(n % 700)))
                .ok_or_else(|| RebuildBenchError::Event("date out of range".to_string()))
        };
        let appointee = |n: u64| {
            id(AppointeeId::parse(format!(
                "c{c}-a{}",
                n % APPOINTEES as u64
            )))
        };
        let group = |n: u64| id(DeputyGroupId::parse(format!("c{c}-g{}", n % GROUPS as u64)));
        let mut units = Vec::new();
        if self.in_committee == 0 {
            // The committee, its members, groups and appointees.
            let mut events = vec![CommitteeEvent::Created {
                committee: committee.clone(),
                name: format!("第{c}区人大常委会"),
                level: CommitteeLevel::District,
                parent: None,
            }];
            for m in 0..5 {
                events.push(CommitteeEvent::MemberAdded {
                    committee: committee.clone(),
                    member: id(MemberId::parse(format!("c{c}-m{m}")))?,
                    name: format!("委员{m}"),
                    from: day(m)?,
                    to: None,
                });
            }
            units.push(Unit {
                stream: committee_stream(&committee),
                events: proposed(&events, &metadata)?,
            });
            for g in 0..GROUPS as u64 {
                let group = group(g)?;
                let mut events = vec![DeputyGroupEvent::Formed {
                    group: group.clone(),
                    committee: committee.clone(),
                    name: format!("第{g}代表小组"),
                }];
                for d in 0..3 {
                    events.push(DeputyGroupEvent::DeputyAdded {
                        group: group.clone(),
                        committee: committee.clone(),
                        deputy: id(DeputyId::parse(format!("c{c}-g{g}-d{d}")))?,
                        name: format!("代表{d}"),
                    });
                }
                units.push(Unit {
                    stream: deputy_group_stream(&group),
                    events: proposed(&events, &metadata)?,
                });
            }
            for a in 0..APPOINTEES as u64 {
                let appointee = appointee(a)?;
                let event = AppointeeEvent::Registered {
                    appointee: appointee.clone(),
                    committee: committee.clone(),
                    name: format!("干部{a}"),
                    post: "副局长".to_string(),
                    organ_kind: OrganKind::Government,
                    organ_name: format!("第{c}区第{}局", a % 7),
                    appointed_on: day(a)?,
                    appointing_meeting: "区人大常委会第五次会议".to_string(),
                };
                units.push(Unit {
                    stream: appointee_stream(&appointee),
                    events: proposed(&[event], &metadata)?,
                });
            }
        } else {
            // Three visits, then one finding.
            let n = self.item;
            self.item += 1;
            let at = Utc
                .timestamp_opt(1_704_067_200 + (n as i64) * 3_600, 0)
                .single()
                .ok_or_else(|| RebuildBenchError::Event("time out of range".to_string()))?;
            if n % 4 != 3 {
                let visit = id(VisitId::parse(format!("c{c}-v{n}")))?;
                let event = VisitEvent::Filed(VisitFiled {
                    visit: visit.clone(),
                    committee: committee.clone(),
                    group: group(n)?,
                    filed_by: format!("c{c}-g{}-d{}", n % GROUPS as u64, n % 3),
                    target_organ: format!("第{c}区第{}局", n % 7),
                    appointees: vec![appointee(n)?],
                    mode: if n.is_multiple_of(2) {
                        VisitMode::Incognito
                    } else {
                        VisitMode::Open
                    },
                    visited_at: at,
                    ratings: Ratings {
                        work_discipline: Some((n % 5 + 1) as u8),
                        service_quality: Some(((n + 1) % 5 + 1) as u8),
                        efficiency: Some(((n + 2) % 5 + 1) as u8),
                    },
                    scale: RatingScale { min: 1, max: 5 },
                    notes: "窗口排队有序，工作人员解释清楚，等候区整洁，标识清晰".to_string(),
                    evidence: vec![format!("sha256:{n:064x}")],
                    visible_to_appointee: n % 2 == 1,
                });
                units.push(Unit {
                    stream: visit_stream(&visit),
                    events: proposed(&[event], &metadata)?,
                });
            } else {
                let finding = id(FindingId::parse(format!("c{c}-f{n}")))?;
                let subject = FindingSubject {
                    committee: committee.clone(),
                    source: FindingSource::Visit,
                    source_ref: format!("c{c}-v{}", n - 1),
                    organ: format!("第{c}区第{}局", n % 7),
                    appointee: Some(appointee(n)?),
                    year: 2024,
                };
                let raised_on = day(n)?;
                let events = vec![
                    FindingEvent::Raised(FindingRaised {
                        finding: finding.clone(),
                        subject: subject.clone(),
                        severity: Severity::Moderate,
                        description: "办事指南未及时更新，群众需多次往返".to_string(),
                        rectification: Rectification::Required,
                        raised_by: format!("clerk-{c}"),
                        raised_at: at,
                        raised_on: None,
                    }),
                    FindingEvent::Assigned(FindingAssigned {
                        finding: finding.clone(),
                        subject,
                        assignee: format!("第{c}区第{}局", n % 7),
                        assigned_on: raised_on,
                        due_on: raised_on
                            .checked_add_months(chrono::Months::new(3))
                            .ok_or_else(|| {
                                RebuildBenchError::Event("date out of range".to_string())
                            })?,
                        due_months_applied: Some(3),
                        utc_offset_minutes: 480,
                        assigned_by: format!("clerk-{c}"),
                    }),
                ];
                units.push(Unit {
                    stream: finding_stream(&finding),
                    events: proposed(&events, &metadata)?,
                });
            }
        }
        let written: u64 = units.iter().map(|u| u.events.len() as u64).sum();
        self.in_committee += written;
        if self.in_committee >= PER_COMMITTEE {
            self.committee += 1;
            self.in_committee = 0;
            self.item = 0;
        }
        Ok(units)
    }

    /// The next append: whole units up to [`APPEND_EVENTS`] events and `budget` events.
    fn next_request(&mut self, budget: u64) -> Result<Option<AppendRequest>, RebuildBenchError> {
        let mut appends = Vec::new();
        let mut events = 0u64;
        while events < budget && events + 40 <= APPEND_EVENTS as u64 {
            for unit in self.next_units()? {
                events += unit.events.len() as u64;
                appends.push(StreamAppend {
                    stream: StreamName::new(unit.stream)
                        .map_err(|e| RebuildBenchError::Event(e.to_string()))?,
                    expected: ExpectedRevision::NoStream,
                    events: unit.events,
                });
            }
        }
        Ok((!appends.is_empty()).then_some(AppendRequest { appends }))
    }
}

/// Fills a fresh log in `dir` with about `events` domain events and times the folds. Returns
/// the rows `rebuild-fill`, `rebuild-fold` and `rebuild`. The directory is removed afterwards.
pub async fn run(dir: &Path, events: u64) -> Result<Vec<ScenarioResult>, RebuildBenchError> {
    std::fs::create_dir_all(dir).map_err(|source| RebuildBenchError::Dir {
        path: dir.to_path_buf(),
        source,
    })?;
    let outcome = measure(dir, events).await;
    let removed = std::fs::remove_dir_all(dir).map_err(|source| RebuildBenchError::Dir {
        path: dir.to_path_buf(),
        source,
    });
    let rows = outcome?;
    removed?;
    Ok(rows)
}

async fn measure(dir: &Path, events: u64) -> Result<Vec<ScenarioResult>, RebuildBenchError> {
    let store = RedbStore::open(&dir.join("oversight.redb"), StoreOptions::default())?;
    let filled = fill(&store, events).await;
    let rows = match filled {
        Ok(fill_row) => fold(&store, dir, fill_row).await,
        Err(e) => Err(e),
    };
    store.shutdown().await;
    rows
}

async fn fill(store: &Arc<RedbStore>, events: u64) -> Result<ScenarioResult, RebuildBenchError> {
    let started = Instant::now();
    let mut generator = Generator::new();
    let mut requests = Vec::new();
    let mut planned = 0u64;
    // Built ahead in slices, so that generation does not hold the writer up.
    let mut written = 0u64;
    let mut appends = 0u64;
    while planned < events {
        requests.clear();
        while planned < events && requests.len() < 64 {
            match generator.next_request(events - planned)? {
                Some(request) => {
                    planned += request.event_count() as u64;
                    requests.push(request);
                }
                None => break,
            }
        }
        let mut in_flight = futures::stream::iter(requests.drain(..).map(|request| {
            let store = Arc::clone(store);
            async move { store.append(request).await }
        }))
        .buffer_unordered(IN_FLIGHT);
        while let Some(outcome) = in_flight.next().await {
            let outcome = outcome?;
            appends += 1;
            written += outcome
                .results
                .iter()
                .map(|r| r.last_position - r.first_position + 1)
                .sum::<u64>();
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(row("rebuild-fill", IN_FLIGHT, written, appends, seconds))
}

async fn fold(
    store: &Arc<RedbStore>,
    dir: &Path,
    fill_row: ScenarioResult,
) -> Result<Vec<ScenarioResult>, RebuildBenchError> {
    let head = store
        .head()
        .await
        .map_err(|e| crate::projection::ProjectionError::Storage(e.to_string()))?
        .position;
    let cancel = CancellationToken::new();
    let log: Arc<dyn EventStore> = Arc::clone(store) as Arc<dyn EventStore>;
    let started = Instant::now();
    let (views, task) =
        ProjectionRunner::start(&dir.join("views"), log, registry(), cancel.clone())?;
    let first = level(&views, head).await;
    let first_seconds = started.elapsed().as_secs_f64();
    let again = match first {
        Ok(()) => {
            let started = Instant::now();
            let mut outcome = Ok(());
            for projection in views.projections() {
                if let Err(e) = views.rebuild(projection).await {
                    outcome = Err(e);
                    break;
                }
            }
            match outcome {
                Ok(()) => level(&views, head)
                    .await
                    .map(|()| started.elapsed().as_secs_f64()),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    };
    cancel.cancel();
    let _ = task.await;
    let again_seconds = again?;
    let views_count = views.projections().len();
    Ok(vec![
        fill_row,
        row("rebuild-fold", views_count, head, 0, first_seconds),
        row(NAME, views_count, head, 0, again_seconds),
    ])
}

/// Waits until every view has applied `head`.
async fn level(views: &Views, head: u64) -> Result<(), crate::projection::ProjectionError> {
    for projection in views.projections() {
        views.wait_for(projection, head, FOLD_TIMEOUT).await?;
    }
    Ok(())
}

fn row(name: &str, clients: usize, events: u64, requests: u64, seconds: f64) -> ScenarioResult {
    ScenarioResult {
        name: name.to_string(),
        clients,
        events,
        requests,
        errors: 0,
        seconds,
        events_per_sec: events as f64 / seconds.max(f64::EPSILON),
        latency_us: None,
        fsync_ratio: None,
    }
}
