//! The supervision half of the `domain` scenario of `oversight bench`: site visits filed and
//! findings walked from raising to closing (销号) over gRPC, then the views that report them read
//! back while the log is level with the last write. The evaluation session follows in
//! [`super::session`].
//!
//! Rows: `visits` (`FileSiteVisit` from [`CLIENTS`] clients for `--duration`), `findings` (each
//! client raising a finding, assigning it, responding as the clerk and verifying as the chair,
//! again and again for `--duration`; a row event is one command), `supervision-read`
//! (`VisitAverages` and `FindingsBoard` in turn, each with `min_position` at the last write, for
//! `--duration`) and `period-read` (`VisitAverages` of an appointee over the last
//! [`PERIOD_DAYS`] days, for `--duration`). The visits are dated over the year before the run,
//! a day apart in turn, so a period holds about `PERIOD_DAYS / 365` of an appointee's visits.
//! Before the reads, the views are checked against what was written: every visit filed is
//! counted and every finding walked through is closed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::Mutex;
use tonic::Status;
use tonic::transport::Channel;

use super::ScenarioResult;
use super::session::{COMMITTEE, SessionBenchError, SessionTokens, bearer, call, first, micros};
use crate::proto;
use crate::proto::findings_client::FindingsClient;
use crate::proto::registry_client::RegistryClient;
use crate::proto::supervision_client::SupervisionClient;

/// Concurrent clients of each phase.
pub const CLIENTS: usize = 8;
/// The deputy group that files the visits.
const GROUP: &str = "bench-deputy-group";
/// The visits are dated up to this many days before the run.
const YEAR_DAYS: u64 = 365;
/// The period `period-read` averages: the last this many days.
pub const PERIOD_DAYS: u64 = 30;

/// The appointees visited and named in findings, and the organ each one heads.
pub(super) struct Subjects {
    /// `(appointee id, organ name)`.
    pub(super) list: Vec<(String, String)>,
}

impl Subjects {
    fn len(&self) -> u64 {
        u64::try_from(self.list.len()).unwrap_or(u64::MAX).max(1)
    }

    fn pick(&self, n: u64) -> Option<&(String, String)> {
        let at = usize::try_from(n % self.len()).ok()?;
        self.list.get(at)
    }
}

/// What the writing phases left: the highest position written and what the views must show.
struct Written {
    position: u64,
    visits: u64,
    /// The visits dated within the last [`PERIOD_DAYS`] days.
    recent: u64,
    closed: u64,
}

/// Runs the phases against the set-up committee (its appointees in `subjects`) and returns
/// their rows.
pub(super) async fn run(
    channels: &[Channel],
    admin: &str,
    tokens: &SessionTokens,
    subjects: Subjects,
    duration: Duration,
) -> Result<Vec<ScenarioResult>, SessionBenchError> {
    let channel = first(channels)?;
    let mut registry = RegistryClient::with_interceptor(channel, bearer(admin)?);
    registry
        .form_deputy_group(proto::FormDeputyGroupRequest {
            group_id: GROUP.into(),
            committee_id: COMMITTEE.into(),
            name: "bench deputy group".into(),
            ..Default::default()
        })
        .await
        .map_err(call("FormDeputyGroup"))?;
    let subjects = Arc::new(subjects);

    let (visits_row, visits) = visits(channels, admin, &subjects, duration).await?;
    let (findings_row, closed, position) =
        findings(channels, admin, tokens, &subjects, duration).await?;
    let written = Written {
        position: position.max(visits.1),
        visits: visits.0,
        recent: visits.2,
        closed,
    };
    check(channels, admin, &written).await?;
    let read_row = reads(channels, admin, &subjects, written.position, duration, None).await?;
    let period = Some(chrono::Duration::days(PERIOD_DAYS.cast_signed()));
    let period_row = reads(
        channels,
        admin,
        &subjects,
        written.position,
        duration,
        period,
    )
    .await?;
    Ok(vec![visits_row, findings_row, read_row, period_row])
}

/// One phase: [`CLIENTS`] tasks, each running `work` with its index and the deadline and
/// recording latencies into the shared histogram; returns the histogram, what each task returned
/// and the phase's seconds.
async fn phase<F, Fut>(
    duration: Duration,
    work: F,
) -> Result<(Histogram<u64>, Vec<(u64, u64, u64)>, f64), SessionBenchError>
where
    F: Fn(usize, Instant, Arc<Mutex<Histogram<u64>>>) -> Fut,
    Fut: std::future::Future<Output = Result<(u64, u64, u64), SessionBenchError>> + Send + 'static,
{
    let histogram = Arc::new(Mutex::new(super::session::new_histogram()?));
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|i| tokio::spawn(work(i, deadline, Arc::clone(&histogram))))
        .collect();
    let mut totals = Vec::with_capacity(CLIENTS);
    for task in tasks {
        let done = task.await.map_err(|e| SessionBenchError::Call {
            step: "client task",
            status: Status::internal(e.to_string()),
        })?;
        totals.push(done?);
    }
    let seconds = started.elapsed().as_secs_f64();
    let histogram = histogram.lock().await.clone();
    Ok((histogram, totals, seconds))
}

fn row(name: &str, events: u64, histogram: &Histogram<u64>, seconds: f64) -> ScenarioResult {
    ScenarioResult {
        name: name.to_string(),
        clients: CLIENTS,
        events,
        requests: events,
        errors: 0,
        seconds,
        events_per_sec: events as f64 / seconds.max(f64::EPSILON),
        latency_us: Some(super::Percentiles::of(histogram)),
        fsync_ratio: None,
    }
}

/// `FileSiteVisit` from every client until the deadline. Returns the row and (visits filed,
/// highest position written, visits dated within the last [`PERIOD_DAYS`] days).
async fn visits(
    channels: &[Channel],
    admin: &str,
    subjects: &Arc<Subjects>,
    duration: Duration,
) -> Result<(ScenarioResult, (u64, u64, u64)), SessionBenchError> {
    let modes = [
        proto::VisitMode::Incognito,
        proto::VisitMode::RandomCheck,
        proto::VisitMode::TrialAttendance,
        proto::VisitMode::Open,
    ];
    let (histogram, totals, seconds) = phase(duration, |i, deadline, histogram| {
        let channel = channels[i % channels.len()].clone();
        let client = bearer(admin).map(|b| SupervisionClient::with_interceptor(channel, b));
        let subjects = Arc::clone(subjects);
        async move {
            let mut client = client?;
            let (mut filed, mut last, mut recent) = (0u64, 0u64, 0u64);
            let mut n = i as u64;
            while Instant::now() < deadline {
                let Some((appointee, organ)) = subjects.pick(n) else {
                    break;
                };
                // Each appointee's visits a day apart in turn over the year before the run.
                let days_ago = (n / subjects.len()) % YEAR_DAYS;
                let visited_at = chrono::Utc::now()
                    - chrono::Duration::hours(1)
                    - chrono::Duration::days(days_ago.cast_signed());
                let rating = |k: u64| Some(u32::try_from(1 + (n + k) % 5).unwrap_or(3));
                let request = proto::FileSiteVisitRequest {
                    group_id: GROUP.into(),
                    target_organ: organ.clone(),
                    appointee_ids: vec![appointee.clone()],
                    mode: modes[usize::try_from(n % 4).unwrap_or(0)] as i32,
                    visited_at: Some(crate::api::supervision::timestamp(visited_at)),
                    ratings: Some(proto::VisitRatings {
                        work_discipline: rating(0),
                        service_quality: rating(1),
                        efficiency: rating(2),
                    }),
                    notes: "queue moved steadily; the procedure was explained clearly".into(),
                    ..Default::default()
                };
                let sent = Instant::now();
                let reply = client
                    .file_site_visit(request)
                    .await
                    .map_err(call("FileSiteVisit"))?;
                record(&histogram, sent).await;
                last = last.max(reply.into_inner().position);
                filed += 1;
                recent += u64::from(days_ago < PERIOD_DAYS);
                n += CLIENTS as u64;
            }
            Ok((filed, last, recent))
        }
    })
    .await?;
    let filed = totals.iter().map(|t| t.0).sum();
    let last = totals.iter().map(|t| t.1).max().unwrap_or(0);
    let recent = totals.iter().map(|t| t.2).sum();
    Ok((
        row("visits", filed, &histogram, seconds),
        (filed, last, recent),
    ))
}

/// Each client walks findings through raise → assign → respond (clerk) → verify (chair) until
/// the deadline. Returns the row (one event per command), the findings closed and the highest
/// position written.
async fn findings(
    channels: &[Channel],
    admin: &str,
    tokens: &SessionTokens,
    subjects: &Arc<Subjects>,
    duration: Duration,
) -> Result<(ScenarioResult, u64, u64), SessionBenchError> {
    let (histogram, totals, seconds) = phase(duration, |i, deadline, histogram| {
        let channel = channels[i % channels.len()].clone();
        let clients = (
            bearer(admin).map(|b| FindingsClient::with_interceptor(channel.clone(), b)),
            bearer(tokens.clerk()).map(|b| FindingsClient::with_interceptor(channel.clone(), b)),
            bearer(tokens.chair()).map(|b| FindingsClient::with_interceptor(channel, b)),
        );
        let subjects = Arc::clone(subjects);
        async move {
            let (mut office, mut clerk, mut chair) = (clients.0?, clients.1?, clients.2?);
            let (mut commands, mut closed, mut last) = (0u64, 0u64, 0u64);
            let mut n = i as u64;
            while Instant::now() < deadline {
                let Some((appointee, organ)) = subjects.pick(n) else {
                    break;
                };
                let sent = Instant::now();
                let raised = office
                    .raise_finding(proto::RaiseFindingRequest {
                        committee_id: COMMITTEE.into(),
                        source: proto::FindingSource::Opinion as i32,
                        source_ref: format!("bench opinion {n}"),
                        organ: organ.clone(),
                        appointee_id: appointee.clone(),
                        severity: proto::FindingSeverity::Moderate as i32,
                        description: "applications wait past the statutory time limit".into(),
                        rectification_required: true,
                        ..Default::default()
                    })
                    .await
                    .map_err(call("RaiseFinding"))?
                    .into_inner();
                record(&histogram, sent).await;
                let finding_id = raised.finding_id;
                let sent = Instant::now();
                office
                    .assign_finding(proto::AssignFindingRequest {
                        finding_id: finding_id.clone(),
                        assignee: organ.clone(),
                        ..Default::default()
                    })
                    .await
                    .map_err(call("AssignFinding"))?;
                record(&histogram, sent).await;
                let sent = Instant::now();
                clerk
                    .respond_to_finding(proto::RespondToFindingRequest {
                        finding_id: finding_id.clone(),
                        explanation: proto::FindingExplanation::Explained as i32,
                        rectification: proto::FindingRectification::Done as i32,
                        note: "the backlog is cleared and a second window opened".into(),
                        ..Default::default()
                    })
                    .await
                    .map_err(call("RespondToFinding"))?;
                record(&histogram, sent).await;
                let sent = Instant::now();
                let verified = chair
                    .verify_finding(proto::VerifyFindingRequest {
                        finding_id,
                        verdict: proto::FindingVerdict::Accept as i32,
                        ..Default::default()
                    })
                    .await
                    .map_err(call("VerifyFinding"))?
                    .into_inner();
                record(&histogram, sent).await;
                last = last.max(verified.position);
                commands += 4;
                closed += 1;
                n += CLIENTS as u64;
            }
            Ok((commands, closed, last))
        }
    })
    .await?;
    let commands = totals.iter().map(|t| t.0).sum();
    let closed = totals.iter().map(|t| t.1).sum();
    let last = totals.iter().map(|t| t.2).max().unwrap_or(0);
    Ok((row("findings", commands, &histogram, seconds), closed, last))
}

/// The views, read at the last write, show every visit filed (and those of the last
/// [`PERIOD_DAYS`] days) and every finding closed.
async fn check(
    channels: &[Channel],
    admin: &str,
    written: &Written,
) -> Result<(), SessionBenchError> {
    let channel = first(channels)?;
    let mut supervision = SupervisionClient::with_interceptor(channel.clone(), bearer(admin)?);
    // Every visit, then those of the period `period-read` reads (each dated a whole number of
    // days and an hour before its filing, so none sits at the period's edge).
    let since = chrono::Utc::now() - chrono::Duration::days(PERIOD_DAYS.cast_signed());
    for (from, filed, which) in [
        (None, written.visits, ""),
        (
            Some(crate::api::supervision::timestamp(since)),
            written.recent,
            " in the last days",
        ),
    ] {
        let counted = supervision
            .visit_averages(proto::VisitAveragesRequest {
                scope: Some(proto::visit_averages_request::Scope::GroupId(GROUP.into())),
                from,
                min_position: written.position,
                ..Default::default()
            })
            .await
            .map_err(call("VisitAverages"))?
            .into_inner()
            .visits;
        if u64::from(counted) != filed {
            return Err(mismatch(
                "VisitAverages",
                format!("the visits view counts {counted} visits{which}, {filed} were filed"),
            ));
        }
    }
    let mut findings = FindingsClient::with_interceptor(channel, bearer(admin)?);
    let board = findings
        .findings_board(proto::FindingsBoardRequest {
            committee_id: COMMITTEE.into(),
            min_position: written.position,
            ..Default::default()
        })
        .await
        .map_err(call("FindingsBoard"))?
        .into_inner();
    let closed = board
        .status
        .iter()
        .find(|c| c.state == "closed")
        .map_or(0, |c| c.count);
    if closed != written.closed || board.total != written.closed {
        return Err(mismatch(
            "FindingsBoard",
            format!(
                "the board counts {closed} of {} findings closed, {} were walked through",
                board.total, written.closed
            ),
        ));
    }
    Ok(())
}

/// From every client until the deadline, each with `min_position` at the last write: without a
/// `period`, `VisitAverages` (per appointee, all its visits) and `FindingsBoard` (the committee)
/// in turn (`supervision-read`); with one, `VisitAverages` per appointee over that period up to
/// now (`period-read`).
async fn reads(
    channels: &[Channel],
    admin: &str,
    subjects: &Arc<Subjects>,
    position: u64,
    duration: Duration,
    period: Option<chrono::Duration>,
) -> Result<ScenarioResult, SessionBenchError> {
    let from = period.map(|period| crate::api::supervision::timestamp(chrono::Utc::now() - period));
    let (histogram, totals, seconds) = phase(duration, |i, deadline, histogram| {
        let channel = channels[i % channels.len()].clone();
        let clients = (
            bearer(admin).map(|b| SupervisionClient::with_interceptor(channel.clone(), b)),
            bearer(admin).map(|b| FindingsClient::with_interceptor(channel, b)),
        );
        let subjects = Arc::clone(subjects);
        async move {
            let (mut supervision, mut findings) = (clients.0?, clients.1?);
            let mut reads = 0u64;
            let mut n = i as u64;
            while Instant::now() < deadline {
                let sent = Instant::now();
                if from.is_some() || n.is_multiple_of(2) {
                    let Some((appointee, _)) = subjects.pick(n / 2) else {
                        break;
                    };
                    supervision
                        .visit_averages(proto::VisitAveragesRequest {
                            scope: Some(proto::visit_averages_request::Scope::AppointeeId(
                                appointee.clone(),
                            )),
                            from,
                            min_position: position,
                            ..Default::default()
                        })
                        .await
                        .map_err(call("VisitAverages"))?;
                } else {
                    findings
                        .findings_board(proto::FindingsBoardRequest {
                            committee_id: COMMITTEE.into(),
                            min_position: position,
                            ..Default::default()
                        })
                        .await
                        .map_err(call("FindingsBoard"))?;
                }
                record(&histogram, sent).await;
                reads += 1;
                n += 1;
            }
            Ok((reads, 0, 0))
        }
    })
    .await?;
    let reads = totals.iter().map(|t| t.0).sum();
    let name = if period.is_some() {
        "period-read"
    } else {
        "supervision-read"
    };
    Ok(row(name, reads, &histogram, seconds))
}

async fn record(histogram: &Mutex<Histogram<u64>>, sent: Instant) {
    let elapsed = micros(sent).max(1);
    let _ = histogram.lock().await.record(elapsed);
}

fn mismatch(step: &'static str, detail: String) -> SessionBenchError {
    SessionBenchError::Call {
        step,
        status: Status::internal(detail),
    }
}
