//! Projection lag in the gRPC health service.
//!
//! Next to the whole server (`""`) and `oversight.v1.EventLog`, the health service reports
//! `oversight.v1.Projections` (every view) and `oversight.v1.Projections/<view>` (one view, e.g.
//! `oversight.v1.Projections/findings`): SERVING while the view is within the bounds of
//! [`HealthSettings`] — no more than `max_view_lag_positions` positions behind the log's head
//! and behind for no more than `max_view_lag_secs` seconds — and NOT_SERVING beyond them. The
//! lag is measured every [`CHECK_INTERVAL`]; a change is logged once, not on every check.
//!
//! A lagging view never turns the whole server NOT_SERVING: the log still takes appends and
//! answers reads, and an orchestrator that restarted the process on `""` would only make the
//! views start over. Route query traffic on `oversight.v1.Projections` instead.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::config::HealthSettings;
use crate::projection::{Lag, Views};

/// The health service name that covers every view.
pub const PROJECTIONS_SERVICE: &str = "oversight.v1.Projections";
/// How often the lag is measured.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// The health service name of one view.
pub fn view_service(projection: &str) -> String {
    format!("{PROJECTIONS_SERVICE}/{projection}")
}

/// Whether a view's lag is within the bounds.
pub fn within_bounds(lag: &Lag, bounds: &HealthSettings) -> bool {
    // Seconds are compared as reported (fractions count: 30.5 s is beyond a 30 s bound).
    #[allow(clippy::cast_precision_loss)]
    let max_secs = bounds.max_view_lag_secs as f64;
    lag.behind_positions <= bounds.max_view_lag_positions && lag.behind_seconds <= max_secs
}

/// Turns lag measurements into health statuses.
pub struct LagHealth {
    reporter: HealthReporter,
    bounds: HealthSettings,
    /// The status last reported per service, so that only changes are sent and logged.
    last: BTreeMap<String, ServingStatus>,
}

impl LagHealth {
    /// Reports into `reporter` against `bounds`.
    pub fn new(reporter: HealthReporter, bounds: HealthSettings) -> Self {
        Self {
            reporter,
            bounds,
            last: BTreeMap::new(),
        }
    }

    /// Reports every view and the whole from one measurement; returns the status of
    /// `oversight.v1.Projections`.
    pub async fn report(&mut self, lags: &[Lag]) -> ServingStatus {
        let mut all = ServingStatus::Serving;
        for lag in lags {
            let status = if within_bounds(lag, &self.bounds) {
                ServingStatus::Serving
            } else {
                all = ServingStatus::NotServing;
                ServingStatus::NotServing
            };
            self.set(&view_service(&lag.projection), status, Some(lag))
                .await;
        }
        self.set(PROJECTIONS_SERVICE, all, None).await;
        all
    }

    /// Measures the lag of `views` and reports it; a failed measurement reports the views as
    /// NOT_SERVING.
    pub async fn refresh(&mut self, views: &Views) {
        match views.lag().await {
            Ok(lags) => {
                self.report(&lags).await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot measure the views' lag; reporting them NOT_SERVING");
                self.set(PROJECTIONS_SERVICE, ServingStatus::NotServing, None)
                    .await;
            }
        }
    }

    /// Measures and reports every [`CHECK_INTERVAL`] until `cancel` fires, then reports every
    /// view NOT_SERVING (the server is going down).
    pub async fn run(mut self, views: Views, cancel: CancellationToken) {
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep(CHECK_INTERVAL) => self.refresh(&views).await,
            }
        }
        for service in self.last.keys() {
            self.reporter
                .set_service_status(service, ServingStatus::NotServing)
                .await;
        }
    }

    async fn set(&mut self, service: &str, status: ServingStatus, lag: Option<&Lag>) {
        let previous = self.last.get(service).copied();
        if previous == Some(status) {
            return;
        }
        if let Some(lag) = lag {
            match status {
                ServingStatus::NotServing => tracing::warn!(
                    view = %lag.projection,
                    behind_positions = lag.behind_positions,
                    behind_seconds = lag.behind_seconds,
                    max_positions = self.bounds.max_view_lag_positions,
                    max_seconds = self.bounds.max_view_lag_secs,
                    "view is behind the log beyond the health bound; reporting NOT_SERVING"
                ),
                _ if previous.is_some() => tracing::info!(
                    view = %lag.projection,
                    "view is within the health bound again; reporting SERVING"
                ),
                _ => {}
            }
        }
        self.reporter.set_service_status(service, status).await;
        self.last.insert(service.to_string(), status);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Request;
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus as Wire;
    use tonic_health::pb::health_server::Health;
    use tonic_health::server::HealthService;

    fn lag(projection: &str, behind_positions: u64, behind_seconds: f64) -> Lag {
        Lag {
            projection: projection.into(),
            checkpoint: 100 - behind_positions,
            head: 100,
            behind_positions,
            behind_seconds,
        }
    }

    async fn check(service: &HealthService, name: &str) -> Wire {
        let reply = service
            .check(Request::new(HealthCheckRequest {
                service: name.into(),
            }))
            .await
            .unwrap()
            .into_inner();
        Wire::try_from(reply.status).unwrap()
    }

    #[test]
    fn the_bounds_come_from_the_health_table_and_the_environment() {
        use crate::config::{Overrides, Settings};
        let defaults = Settings::load(None, Vec::new(), &Overrides::default()).unwrap();
        assert_eq!(defaults.health.max_view_lag_positions, 10_000);
        assert_eq!(defaults.health.max_view_lag_secs, 30);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("oversight.toml");
        std::fs::write(&path, "[health]\nmax_view_lag_positions = 50\n").unwrap();
        let env = vec![(
            "OVERSIGHT_HEALTH__MAX_VIEW_LAG_SECS".to_string(),
            "7".to_string(),
        )];
        let settings = Settings::load(Some(&path), env, &Overrides::default()).unwrap();
        assert_eq!(settings.health.max_view_lag_positions, 50);
        assert_eq!(settings.health.max_view_lag_secs, 7);
    }

    #[tokio::test]
    async fn a_view_beyond_a_bound_is_not_serving_and_the_server_stays_serving() {
        let reporter = HealthReporter::new();
        reporter
            .set_service_status("", ServingStatus::Serving)
            .await;
        let service = HealthService::from_health_reporter(reporter.clone());
        let bounds = HealthSettings {
            max_view_lag_positions: 10,
            max_view_lag_secs: 5,
        };
        let mut health = LagHealth::new(reporter, bounds);

        let level = [lag("registry", 0, 0.0), lag("findings", 10, 5.0)];
        assert_eq!(health.report(&level).await, ServingStatus::Serving);
        assert_eq!(check(&service, PROJECTIONS_SERVICE).await, Wire::Serving);
        assert_eq!(
            check(&service, "oversight.v1.Projections/findings").await,
            Wire::Serving
        );

        // Eleven positions behind: beyond the bound of ten.
        let behind = [lag("registry", 0, 0.0), lag("findings", 11, 1.0)];
        assert_eq!(health.report(&behind).await, ServingStatus::NotServing);
        assert_eq!(check(&service, PROJECTIONS_SERVICE).await, Wire::NotServing);
        assert_eq!(
            check(&service, "oversight.v1.Projections/findings").await,
            Wire::NotServing
        );
        assert_eq!(
            check(&service, "oversight.v1.Projections/registry").await,
            Wire::Serving
        );
        assert_eq!(
            check(&service, "").await,
            Wire::Serving,
            "the server keeps serving"
        );

        // Few positions, but behind for longer than the bound.
        let slow = [lag("registry", 1, 5.5), lag("findings", 0, 0.0)];
        assert_eq!(health.report(&slow).await, ServingStatus::NotServing);
        assert_eq!(
            check(&service, "oversight.v1.Projections/registry").await,
            Wire::NotServing
        );
        assert_eq!(
            check(&service, "oversight.v1.Projections/findings").await,
            Wire::Serving
        );

        // Caught up again.
        let level = [lag("registry", 0, 0.0), lag("findings", 0, 0.0)];
        assert_eq!(health.report(&level).await, ServingStatus::Serving);
        assert_eq!(check(&service, PROJECTIONS_SERVICE).await, Wire::Serving);
    }
}
