//! `oversight.v1.Reports`: evaluation scorecards and rankings, computed at query time from one
//! consistent snapshot of the `sessions`, `visits`, `findings`, `hearings` and `registry` views
//! (formulas documented in `proto/oversight/v1/reports.proto`). Exact rationals throughout; only
//! the `display` strings are rounded. The result embargo is enforced here: an unannounced result
//! reaches only the clerk and chair of its committee and the admin.

use chrono::{Days, NaiveDate};
use num_rational::Ratio;
use tonic::{Request, Response, Status};

use crate::api::context::{Page, RequestExt};
use crate::app::App;
use crate::app::scope;
use crate::auth::{Principal, Role};
use crate::domain::evaluation::policy::ScoringPolicy;
use crate::domain::evaluation::tally::{
    Component, ComponentScores, composite_score, decimal_display,
};
use crate::domain::finding::{FindingStatus, Rectification};
use crate::projection::findings::{self, FindingDoc, Scope};
use crate::projection::hearings::{self, DutyReportDoc, FeedbackDoc};
use crate::projection::registry::{self, AppointeeDoc, CommitteeDoc};
use crate::projection::sessions::{self, PolicyDoc, SessionDoc};
use crate::projection::visits::{self, VisitDoc};
use crate::projection::{ProjectionError, ViewRead};
use crate::proto;

const DISPLAY_DECIMALS: u32 = 2;
const SCAN_ALL: usize = usize::MAX;
const VIEWS: [&str; 5] = [
    sessions::NAME,
    visits::NAME,
    findings::NAME,
    hearings::NAME,
    registry::NAME,
];

/// The Reports service.
#[derive(Clone)]
pub struct ReportsService {
    state: App,
}

impl ReportsService {
    /// A service over the shared state.
    pub fn new(state: App) -> Self {
        Self { state }
    }

    /// The tonic server.
    pub fn into_server(self) -> proto::reports_server::ReportsServer<Self> {
        proto::reports_server::ReportsServer::new(self)
    }

    async fn wait_all<T>(&self, request: &Request<T>, min_position: u64) -> Result<(), Status> {
        for view in VIEWS {
            self.state.wait_for(request, view, min_position).await?;
        }
        Ok(())
    }
}

fn view_error(e: ProjectionError) -> Status {
    Status::from(e)
}

fn exact(value: Ratio<u64>) -> proto::ExactRate {
    proto::ExactRate {
        numerator: *value.numer(),
        denominator: *value.denom(),
        display: decimal_display(value, DISPLAY_DECIMALS),
    }
}

fn parse_date(raw: &str) -> Option<NaiveDate> {
    crate::domain::validate::date("date", raw).ok()
}

/// Sessions with a tallied result naming `appointee`, by date then id.
fn sessions_of(read: &ViewRead, appointee: &str) -> Result<Vec<SessionDoc>, Status> {
    let mut docs: Vec<SessionDoc> = read
        .scan::<SessionDoc>(sessions::NAME, sessions::SESSIONS, "", None, SCAN_ALL)
        .map_err(view_error)?
        .into_iter()
        .map(|(_, doc)| doc)
        .filter(|doc| doc.result.is_some() && doc.subjects.iter().any(|s| s == appointee))
        .collect();
    docs.sort_by(|a, b| (&a.date, &a.session_id).cmp(&(&b.date, &b.session_id)));
    Ok(docs)
}

/// Everything computed for one appointee in one session.
struct Computed {
    composite: Option<Ratio<u64>>,
    message: proto::SessionScore,
}

/// A component's raw score, the size of the group it came from, and why it has no score when
/// it has none.
struct Raw {
    score: Option<Ratio<u64>>,
    basis: u64,
    people: bool,
    empty: String,
}

fn mean_percent(sum: Ratio<u64>, n: u64) -> Option<Ratio<u64>> {
    (n > 0).then(|| sum * Ratio::from_integer(100) / Ratio::from_integer(n))
}

fn score_session(
    read: &ViewRead,
    appointee: &AppointeeDoc,
    doc: &SessionDoc,
    period_start: NaiveDate,
) -> Result<Computed, Status> {
    let result = doc
        .result
        .as_ref()
        .ok_or_else(|| Status::internal("session without a result"))?;
    let policy: ScoringPolicy = doc.policy.clone().unwrap_or_default();
    let threshold = u64::from(policy.suppression_threshold);
    let session_date = parse_date(&doc.date).unwrap_or(period_start);
    let id = appointee.id.as_str();

    // Committee vote.
    let tally = result.subjects.iter().find(|t| t.subject.as_str() == id);
    let vote = Raw {
        score: tally.and_then(|t| t.weighted_score),
        basis: tally.map_or(0, |t| t.valid),
        people: true,
        empty: "no valid ballots rated the appointee in this session".to_owned(),
    };

    // Stakeholder feedback.
    let feedback: Vec<FeedbackDoc> = read
        .scan::<FeedbackDoc>(
            hearings::NAME,
            hearings::FEEDBACK,
            &hearings::appointee_prefix(id),
            None,
            SCAN_ALL,
        )
        .map_err(view_error)?
        .into_iter()
        .map(|(_, f)| f)
        .filter(|f| f.session_ref == doc.session_id && f.retracted.is_none())
        .collect();
    let (mut points, mut counted, mut participants) = (0u64, 0u64, 0u64);
    for batch in &feedback {
        participants += u64::from(batch.participants);
        for option in doc.scale.iter().filter(|o| !o.dont_know) {
            let count = u64::from(batch.counts.get(&option.code).copied().unwrap_or(0));
            points += count * u64::from(option.weight);
            counted += count;
        }
    }
    let feedback_raw = Raw {
        score: (counted > 0).then(|| Ratio::new(points, counted)),
        basis: participants,
        people: true,
        empty: if feedback.is_empty() {
            format!(
                "no stakeholder feedback filed for session {}",
                doc.session_id
            )
        } else {
            format!(
                "the feedback for session {} counts no option of the session's scale",
                doc.session_id
            )
        },
    };

    // Site visits in the period.
    let midnight = |day: chrono::NaiveDate| day.and_time(chrono::NaiveTime::MIN).and_utc();
    let prefix = visits::appointee_prefix(id);
    let period = visits::period_ranges(
        &prefix,
        Some(midnight(period_start)),
        session_date.succ_opt().map(midnight),
    );
    let visits: Vec<VisitDoc> = read
        .indexed_documents_in::<VisitDoc>(
            visits::NAME,
            visits::BY_APPOINTEE,
            &prefix,
            &period,
            visits::VISITS,
        )
        .map_err(view_error)?
        .into_iter()
        .filter(|v| {
            let day = v.visited_at.date_naive();
            !v.retracted && day >= period_start && day <= session_date
        })
        .collect();
    let (mut sum, mut ratings) = (Ratio::from_integer(0u64), 0u64);
    for visit in &visits {
        let (min, max) = (u64::from(visit.scale.min), u64::from(visit.scale.max));
        if max <= min {
            continue;
        }
        let r = &visit.ratings;
        for rating in [r.work_discipline, r.service_quality, r.efficiency]
            .into_iter()
            .flatten()
        {
            let rating = u64::from(rating).clamp(min, max);
            sum += Ratio::new(rating - min, max - min);
            ratings += 1;
        }
    }
    let visits_raw = Raw {
        score: mean_percent(sum, ratings),
        basis: ratings,
        people: false,
        empty: format!("no site-visit ratings from {period_start} to {session_date}"),
    };

    // Findings.
    let prefix = format!(
        "{}/",
        findings::scope_key(&appointee.committee, &Scope::Appointee(id.to_owned()))
    );
    // A finding counts for the sessions dated on or after the day it was raised.
    let (found, later): (Vec<FindingDoc>, Vec<FindingDoc>) = read
        .indexed_documents::<FindingDoc>(
            findings::NAME,
            findings::MEMBERS,
            &prefix,
            findings::FINDINGS,
        )
        .map_err(view_error)?
        .into_iter()
        .partition(|f| f.raised_day() <= session_date);
    let total = found.len() as u64;
    let is_resolved = |f: &FindingDoc| {
        f.status == FindingStatus::Closed || f.rectification == Rectification::Done
    };
    let resolved = found.iter().filter(|f| is_resolved(f)).count() as u64;
    // A finding rectified before the session counts as resolved, never also as overdue.
    let overdue = found
        .iter()
        .filter(|f| !is_resolved(f) && f.due_on.is_some_and(|due| due < session_date))
        .count() as u64;
    let findings_raw = Raw {
        score: (total > 0).then(|| Ratio::new(100 * resolved, total + overdue)),
        basis: total,
        people: false,
        empty: match later.len() {
            0 => format!("no findings naming the appointee raised on or before {session_date}"),
            n => format!(
                "no findings naming the appointee raised on or before {session_date}; {n} raised \
                 later count for a later session"
            ),
        },
    };

    let suppressed = |raw: &Raw| raw.people && raw.score.is_some() && raw.basis < threshold;
    let note = |raw: &Raw| {
        if suppressed(raw) {
            format!(
                "suppressed: {} people, fewer than the policy's threshold of {threshold}",
                raw.basis
            )
        } else if raw.score.is_none() {
            raw.empty.clone()
        } else {
            String::new()
        }
    };
    let shown = |raw: &Raw| if suppressed(raw) { None } else { raw.score };
    let scores = ComponentScores {
        committee_vote: shown(&vote),
        stakeholder_feedback: shown(&feedback_raw),
        site_visits: shown(&visits_raw),
        findings: shown(&findings_raw),
    };
    let composite = composite_score(&policy, &scores)
        .map_err(|e| Status::failed_precondition(format!("score cannot be computed: {e}")))?;
    let components = composite
        .components
        .iter()
        .map(|line| {
            let (name, raw) = match line.component {
                Component::CommitteeVote => ("committee_vote", &vote),
                Component::StakeholderFeedback => ("stakeholder_feedback", &feedback_raw),
                Component::SiteVisits => ("site_visits", &visits_raw),
                Component::Findings => ("findings", &findings_raw),
            };
            proto::ComponentScore {
                component: name.to_owned(),
                weight: line.weight,
                effective_weight: Some(exact(line.effective_weight)),
                score: line.score.map(exact),
                contribution: Some(exact(line.contribution)),
                suppressed: suppressed(raw),
                basis: raw.basis,
                note: note(raw),
            }
        })
        .collect();
    let mut visit_positions: Vec<u64> = visits.iter().flat_map(|v| v.positions.clone()).collect();
    visit_positions.sort_unstable();
    let mut finding_positions: Vec<u64> = found.iter().flat_map(|f| f.positions.clone()).collect();
    finding_positions.sort_unstable();
    let mut feedback_positions: Vec<u64> = feedback.iter().map(|f| f.position).collect();
    feedback_positions.sort_unstable();
    Ok(Computed {
        composite: composite.total,
        message: proto::SessionScore {
            session_id: doc.session_id.clone(),
            date: doc.date.clone(),
            announced: result.announced,
            score: composite.total.map(exact),
            components,
            period_start: period_start.format("%Y-%m-%d").to_string(),
            provenance: Some(proto::Provenance {
                policy_version: result.policy_version,
                tallied_position: result.tallied_position,
                announced_position: result.announced_position,
                visit_positions,
                finding_positions,
                feedback_positions,
                suppression_threshold: policy.suppression_threshold,
                scheduled_position: doc.scheduled_position,
            }),
        },
    })
}

/// Scores every tallied session of the appointee the principal may see, oldest first.
fn scorecard(
    read: &ViewRead,
    principal: &Principal,
    appointee: &AppointeeDoc,
) -> Result<Vec<Computed>, Status> {
    let privileged = crate::app::embargo::sees_unannounced(principal, Some(&appointee.committee));
    let mut out = Vec::new();
    let mut period_start = appointee.appointed_on;
    for doc in sessions_of(read, &appointee.id)? {
        // The period runs from the day after the previous tallied session, whether or not the
        // caller may see that session: every role gets the same score for the same session.
        let start = period_start;
        if let Some(next) = parse_date(&doc.date).and_then(|d| d.checked_add_days(Days::new(1))) {
            period_start = next;
        }
        let announced = doc.result.as_ref().is_some_and(|r| r.announced);
        if !announced && !privileged {
            continue;
        }
        out.push(score_session(read, appointee, &doc, start)?);
    }
    Ok(out)
}

/// A committee's appointees, by id.
fn appointees_of(read: &ViewRead, committee: &str) -> Result<Vec<AppointeeDoc>, Status> {
    Ok(read
        .scan::<AppointeeDoc>(
            registry::NAME,
            registry::APPOINTEES_BY_COMMITTEE,
            &format!("{committee}/"),
            None,
            SCAN_ALL,
        )
        .map_err(view_error)?
        .into_iter()
        .map(|(_, doc)| doc)
        .collect())
}

/// Whether the appointee serves in an organ of `kind` (empty: any).
fn of_kind(appointee: &AppointeeDoc, kind: &str) -> bool {
    kind.is_empty() || crate::projection::findings::state_name(&appointee.organ_kind) == kind
}

/// A committee's child committees (a city's districts and counties), by id.
fn children_of(read: &ViewRead, committee: &str) -> Result<Vec<CommitteeDoc>, Status> {
    Ok(read
        .scan::<CommitteeDoc>(
            registry::NAME,
            registry::CHILDREN,
            &format!("{committee}/"),
            None,
            SCAN_ALL,
        )
        .map_err(view_error)?
        .into_iter()
        .map(|(_, doc)| doc)
        .collect())
}

/// The latest session of a scorecard with a score that may be published: a later session whose
/// composite is withheld (every component suppressed or without data) does not hide an earlier
/// score.
fn latest_scored(card: &[Computed]) -> Option<&Computed> {
    card.iter().rev().find(|c| c.composite.is_some())
}

/// A child committee's rankings in aggregate: how many appointees, how many scored and the
/// mean of their latest announced scores, withheld under the child's suppression threshold.
fn child_scores(
    read: &ViewRead,
    public: &Principal,
    child: CommitteeDoc,
    organ_kind: &str,
) -> Result<proto::ChildCommitteeScores, Status> {
    let threshold = read
        .get::<PolicyDoc>(sessions::NAME, sessions::POLICIES, &child.id)
        .map_err(view_error)?
        .map_or_else(
            || ScoringPolicy::default().suppression_threshold,
            |doc| doc.document.suppression_threshold,
        );
    let mut appointees = 0u64;
    let mut scores = Vec::new();
    for appointee in appointees_of(read, &child.id)? {
        if !of_kind(&appointee, organ_kind) {
            continue;
        }
        appointees += 1;
        if let Some(score) =
            latest_scored(&scorecard(read, public, &appointee)?).and_then(|c| c.composite)
        {
            scores.push(score);
        }
    }
    let scored = scores.len() as u64;
    let suppressed = scored > 0 && scored < u64::from(threshold);
    Ok(proto::ChildCommitteeScores {
        committee_id: child.id,
        name: child.name,
        appointees,
        scored,
        mean_score: if suppressed {
            None
        } else {
            mean(&scores).map(exact)
        },
        suppressed,
        suppression_threshold: threshold,
    })
}

/// The mean of exact scores: exact when the fraction fits 64 bits, else rounded down to
/// millionths (many distinct denominators can outgrow 64 bits).
fn mean(scores: &[Ratio<u64>]) -> Option<Ratio<u64>> {
    use num_traits::{CheckedAdd, CheckedDiv};
    let n = u128::try_from(scores.len()).ok().filter(|n| *n > 0)?;
    let exact = scores
        .iter()
        .try_fold(Ratio::<u128>::from_integer(0), |sum, s| {
            sum.checked_add(&Ratio::new(u128::from(*s.numer()), u128::from(*s.denom())))
        })
        .and_then(|sum| sum.checked_div(&Ratio::from_integer(n)))
        .and_then(|m| {
            Some(Ratio::new(
                u64::try_from(*m.numer()).ok()?,
                u64::try_from(*m.denom()).ok()?,
            ))
        });
    exact.or_else(|| {
        const MILLION: u128 = 1_000_000;
        let total: u128 = scores
            .iter()
            .map(|s| u128::from(*s.numer()) * MILLION / u128::from(*s.denom()))
            .sum();
        let m = Ratio::new(total, n * MILLION);
        Some(Ratio::new(
            u64::try_from(*m.numer()).ok()?,
            u64::try_from(*m.denom()).ok()?,
        ))
    })
}

/// A committee's serving appointees and those of them with a coverage gap.
fn coverage_of(read: &ViewRead, committee: &str) -> Result<(u64, Vec<proto::CoverageGap>), Status> {
    let mut serving = 0u64;
    let mut gaps = Vec::new();
    for appointee in appointees_of(read, committee)? {
        if appointee.term_end.is_some() {
            continue;
        }
        serving += 1;
        let has_duty_report = read
            .scan::<DutyReportDoc>(
                hearings::NAME,
                hearings::DUTY_REPORTS,
                &hearings::appointee_prefix(&appointee.id),
                None,
                SCAN_ALL,
            )
            .map_err(view_error)?
            .iter()
            .any(|(_, r)| {
                r.withdrawn.is_none() && r.filed_at.date_naive() >= appointee.appointed_on
            });
        let evaluated = sessions_of(read, &appointee.id)?.iter().any(|s| {
            s.result.as_ref().is_some_and(|r| r.announced)
                && parse_date(&s.date).is_some_and(|d| d >= appointee.appointed_on)
        });
        if !(has_duty_report && evaluated) {
            gaps.push(proto::CoverageGap {
                appointee_id: appointee.id.clone(),
                name: appointee.name.clone(),
                has_duty_report,
                evaluated,
            });
        }
    }
    Ok((serving, gaps))
}

fn load_appointee(read: &ViewRead, id: &str) -> Result<Option<AppointeeDoc>, Status> {
    read.get::<AppointeeDoc>(registry::NAME, registry::APPOINTEES, id)
        .map_err(view_error)
}

#[tonic::async_trait]
impl proto::reports_server::Reports for ReportsService {
    #[tracing::instrument(skip_all, fields(method = "GetScorecard"))]
    async fn get_scorecard(
        &self,
        request: Request<proto::GetScorecardRequest>,
    ) -> Result<Response<proto::Scorecard>, Status> {
        let principal = self.state.principal(&request)?;
        let id = request.get_ref().appointee_id.clone();
        if id.is_empty() {
            return Err(Status::invalid_argument("appointee_id is required"));
        }
        self.wait_all(&request, request.get_ref().min_position)
            .await?;
        let read = self.state.views.read().map_err(view_error)?;
        let not_found = || Status::not_found(format!("appointee {id} does not exist"));
        let appointee = load_appointee(&read, &id)?.ok_or_else(not_found)?;
        scope::require_reading(&principal, &read, &appointee.committee, Some(&appointee.id))?;
        let sessions = scorecard(&read, &principal, &appointee)?
            .into_iter()
            .map(|c| c.message)
            .collect();
        Ok(Response::new(proto::Scorecard {
            appointee_id: appointee.id.clone(),
            committee_id: appointee.committee.clone(),
            sessions,
        }))
    }

    #[tracing::instrument(skip_all, fields(method = "Rankings"))]
    async fn rankings(
        &self,
        request: Request<proto::RankingsRequest>,
    ) -> Result<Response<proto::RankingsResponse>, Status> {
        let principal = self.state.principal(&request)?;
        let req = request.get_ref();
        if req.committee_id.is_empty() {
            return Err(Status::invalid_argument("committee_id is required"));
        }
        let page = Page::from_request(req.page_size, &req.page_token)?;
        let offset: usize = match &page.after {
            None => 0,
            Some(after) => after.parse().map_err(|_| {
                Status::invalid_argument("page_token is not a token this server issued")
            })?,
        };
        self.wait_all(&request, req.min_position).await?;
        let read = self.state.views.read().map_err(view_error)?;
        scope::require_reading(&principal, &read, &req.committee_id, None)?;
        let appointees = appointees_of(&read, &req.committee_id)?;
        // Rankings are a public listing: announced results only, whatever the role.
        let public = Principal {
            role: Role::Reporter,
            ..principal.clone()
        };
        let mut rows: Vec<(Option<Ratio<u64>>, String, String, String, String)> = Vec::new();
        for appointee in appointees {
            if !of_kind(&appointee, &req.organ_kind) {
                continue;
            }
            let card = scorecard(&read, &public, &appointee)?;
            // The latest session with a score, else the latest session; the latest one is named
            // when it was passed over.
            let (chosen, latest) = if req.session_id.is_empty() {
                (latest_scored(&card).or(card.last()), card.last())
            } else {
                let asked = card.iter().find(|c| c.message.session_id == req.session_id);
                (asked, asked)
            };
            let session = |c: Option<&Computed>| c.map(|c| c.message.session_id.clone());
            let passed_over = session(latest)
                .filter(|latest| Some(latest) != session(chosen).as_ref())
                .unwrap_or_default();
            rows.push((
                chosen.and_then(|c| c.composite),
                appointee.id.clone(),
                appointee.name.clone(),
                session(chosen).unwrap_or_default(),
                passed_over,
            ));
        }
        // Highest score first, unscored last, ties by appointee id.
        rows.sort_by(|a, b| match (a.0, b.0) {
            (Some(x), Some(y)) => y.cmp(&x).then_with(|| a.1.cmp(&b.1)),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.1.cmp(&b.1),
        });
        let entries: Vec<proto::RankingEntry> = rows
            .into_iter()
            .enumerate()
            .skip(offset)
            .take(page.size)
            .map(
                |(i, (score, id, name, session, passed_over))| proto::RankingEntry {
                    rank: u32::try_from(i + 1).unwrap_or(u32::MAX),
                    appointee_id: id,
                    name,
                    session_id: session,
                    score: score.map(exact),
                    latest_session_id: passed_over,
                },
            )
            .collect();
        let next = offset + entries.len();
        let next_page_token = page.next_token(entries.len(), Some(&next.to_string()));
        let children = if req.child_aggregates && offset == 0 {
            children_of(&read, &req.committee_id)?
                .into_iter()
                .map(|child| child_scores(&read, &public, child, &req.organ_kind))
                .collect::<Result<Vec<_>, Status>>()?
        } else {
            Vec::new()
        };
        Ok(Response::new(proto::RankingsResponse {
            entries,
            next_page_token,
            children,
        }))
    }

    #[tracing::instrument(skip_all, fields(method = "Coverage"))]
    async fn coverage(
        &self,
        request: Request<proto::CoverageRequest>,
    ) -> Result<Response<proto::CoverageResponse>, Status> {
        let principal = self.state.principal(&request)?;
        let committee = request.get_ref().committee_id.clone();
        if committee.is_empty() {
            return Err(Status::invalid_argument("committee_id is required"));
        }
        self.wait_all(&request, request.get_ref().min_position)
            .await?;
        let read = self.state.views.read().map_err(view_error)?;
        scope::require_reading(&principal, &read, &committee, None)?;
        let (serving, gaps) = coverage_of(&read, &committee)?;
        let children = if request.get_ref().child_aggregates {
            children_of(&read, &committee)?
                .into_iter()
                .map(|child| {
                    let (serving, gaps) = coverage_of(&read, &child.id)?;
                    let lacking = |f: fn(&proto::CoverageGap) -> bool| {
                        gaps.iter().filter(|g| f(g)).count() as u64
                    };
                    Ok(proto::ChildCoverage {
                        committee_id: child.id,
                        name: child.name,
                        serving,
                        with_duty_report: serving - lacking(|g| !g.has_duty_report),
                        evaluated: serving - lacking(|g| !g.evaluated),
                        gaps: gaps.len() as u64,
                    })
                })
                .collect::<Result<Vec<_>, Status>>()?
        } else {
            Vec::new()
        };
        Ok(Response::new(proto::CoverageResponse {
            gaps,
            serving,
            children,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mean_is_exact_when_it_fits_and_rounded_to_millionths_when_it_does_not() {
        assert_eq!(
            mean(&[Ratio::new(235, 3), Ratio::from_integer(100)]),
            Some(Ratio::new(535, 6))
        );
        assert_eq!(mean(&[]), None);
        // 1/p for the primes below 200: the exact sum's denominator outgrows 128 bits.
        let primes: Vec<u64> = (2..200u64)
            .filter(|n| (2..*n).all(|d| n % d != 0))
            .collect();
        let scores: Vec<Ratio<u64>> = primes.iter().map(|p| Ratio::new(1, *p)).collect();
        let millionths: u64 = primes.iter().map(|p| 1_000_000 / p).sum();
        assert_eq!(
            mean(&scores),
            Some(Ratio::new(millionths, primes.len() as u64 * 1_000_000))
        );
    }
}
