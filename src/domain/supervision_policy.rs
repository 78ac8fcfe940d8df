//! The supervision policy: every number a committee may change about site visits, inspections,
//! findings and stakeholder feedback. No national rule fixes any of them (see DOMAIN.md), so the
//! defaults below are the practice of the sources, and code never hides a number of its own.
//!
//! The policy reaches `decide` inside the commands that need it (the handler reads the committee's
//! current policy), and the events record the values that were applied, so a view or an auditor
//! never has to guess which policy was in force. (The evaluation vote has its own, frozen policy.)

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::Rejection;

/// Settings of supervision after appointment, per committee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SupervisionPolicy {
    /// Lowest rating of a site-visit dimension (default 1).
    pub visit_rating_min: u8,
    /// Highest rating of a site-visit dimension (default 5).
    pub visit_rating_max: u8,
    /// Months from assignment to the due date of a finding when none is given (default 3).
    pub finding_due_months: u32,
    /// Days before the due date from which a finding counts as due soon (default 14).
    pub finding_due_soon_days: u32,
    /// Fewest laws an annual inspection plan should list before a warning (default 3).
    pub annual_plan_min_laws: u32,
    /// Most laws an annual inspection plan should list before a warning (default 5).
    pub annual_plan_max_laws: u32,
    /// The rating options stakeholder feedback is counted under (default 满意 / 基本满意 / 不满意).
    pub feedback_rating_options: Vec<String>,
    /// The committee's offset from UTC in minutes (default 480, China Standard Time): due dates are
    /// calendar days where the committee sits, not in UTC.
    pub utc_offset_minutes: i32,
}

impl Default for SupervisionPolicy {
    fn default() -> Self {
        SupervisionPolicy {
            visit_rating_min: 1,
            visit_rating_max: 5,
            finding_due_months: 3,
            finding_due_soon_days: 14,
            annual_plan_min_laws: 3,
            annual_plan_max_laws: 5,
            feedback_rating_options: vec![
                "satisfied".into(),
                "basically_satisfied".into(),
                "dissatisfied".into(),
            ],
            utc_offset_minutes: 480,
        }
    }
}

impl SupervisionPolicy {
    /// Checks that the settings make sense together; a command carrying a broken policy is refused.
    pub fn validate(&self) -> Result<(), Rejection> {
        if self.visit_rating_min > self.visit_rating_max {
            return Err(Rejection::invalid(
                "policy.visit_rating_min",
                "must not exceed policy.visit_rating_max",
            ));
        }
        if self.finding_due_months == 0 || self.finding_due_months > 120 {
            return Err(Rejection::invalid(
                "policy.finding_due_months",
                "must be between 1 and 120",
            ));
        }
        if self.annual_plan_min_laws > self.annual_plan_max_laws {
            return Err(Rejection::invalid(
                "policy.annual_plan_min_laws",
                "must not exceed policy.annual_plan_max_laws",
            ));
        }
        if !(-720..=840).contains(&self.utc_offset_minutes) {
            return Err(Rejection::invalid(
                "policy.utc_offset_minutes",
                "must be between -720 and 840",
            ));
        }
        super::validate::names(
            "policy.feedback_rating_options",
            &self.feedback_rating_options,
            true,
        )
    }

    /// The calendar day at the committee at a moment.
    pub fn local_date(&self, now: DateTime<Utc>) -> NaiveDate {
        local_date(now, self.utc_offset_minutes)
    }

    /// Whether a rating lies on the visit scale.
    pub fn rating_on_scale(&self, rating: u8) -> bool {
        (self.visit_rating_min..=self.visit_rating_max).contains(&rating)
    }
}

/// The calendar day at a UTC offset (minutes) at a moment.
pub fn local_date(now: DateTime<Utc>, utc_offset_minutes: i32) -> NaiveDate {
    let shifted = now
        .checked_add_signed(Duration::minutes(i64::from(utc_offset_minutes)))
        .unwrap_or(now);
    shifted.date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_sources_practice() {
        let p = SupervisionPolicy::default();
        assert_eq!((p.visit_rating_min, p.visit_rating_max), (1, 5));
        assert_eq!(p.finding_due_months, 3);
        assert_eq!((p.annual_plan_min_laws, p.annual_plan_max_laws), (3, 5));
        assert!(p.validate().is_ok());
    }

    #[test]
    fn the_local_date_is_the_committees_calendar_day() {
        use chrono::TimeZone;
        let late_evening_utc = Utc.with_ymd_and_hms(2017, 12, 22, 17, 0, 0).unwrap();
        let p = SupervisionPolicy::default();
        assert_eq!(
            p.local_date(late_evening_utc),
            NaiveDate::from_ymd_opt(2017, 12, 23).unwrap()
        );
        assert_eq!(
            local_date(late_evening_utc, 0),
            NaiveDate::from_ymd_opt(2017, 12, 22).unwrap()
        );
    }

    #[test]
    fn a_partial_policy_fills_in_the_defaults() {
        let p: SupervisionPolicy = serde_json::from_str(r#"{"finding_due_months":6}"#).unwrap();
        assert_eq!(p.finding_due_months, 6);
        assert_eq!(p.visit_rating_max, 5);
    }

    #[test]
    fn inconsistent_settings_are_refused() {
        let p = SupervisionPolicy {
            visit_rating_min: 6,
            ..Default::default()
        };
        assert!(
            matches!(p.validate(), Err(Rejection::Invalid { field, .. }) if field == "policy.visit_rating_min")
        );
        let p = SupervisionPolicy {
            finding_due_months: 0,
            ..Default::default()
        };
        assert!(p.validate().is_err());
        let p = SupervisionPolicy {
            feedback_rating_options: vec![],
            ..Default::default()
        };
        assert!(p.validate().is_err());
    }
}
