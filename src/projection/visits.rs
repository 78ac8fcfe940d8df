//! The `visits` view: every site visit with the ratings, notes and evidence in force, its
//! incognito visibility and its retraction, indexed per appointee, per deputy group and per organ
//! in the order of `visited_at`.
//!
//! # Tables
//! | table | key | value |
//! |---|---|---|
//! | `visits` | `<visit id>` | [`VisitDoc`] |
//! | `by_appointee` | `<appointee id>|<visited_at>|<visit id>` | empty |
//! | `by_group` | `<group id>|<visited_at>|<visit id>` | empty |
//! | `by_organ` | `<committee id>|<hex of organ name>|<visited_at>|<visit id>` | empty |
//!
//! The three indexes hold no value: each key ends with the visit's id
//! ([`crate::projection::indexed_id`]).
//!
//! `visited_at` is written `YYYYMMDDTHHMMSS.ffffffZ`, so keys sort by time. Ids contain no `|`,
//! and the organ name is hex-encoded, so one scope's prefix never matches another's.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{KeyRange, Projection, ProjectionError, ViewWrite};
use crate::domain::catalog::{AggregateKind, SupervisionEvent};
use crate::domain::ids::{AppointeeId, CommitteeId, DeputyGroupId, VisitId};
use crate::domain::visit::{RatingScale, Ratings, VisitEvent, VisitFiled, VisitMode};
use crate::log::RecordedEvent;

/// The view's name (for `min_position` waits and rebuilds).
pub const NAME: &str = "visits";
/// Visit documents by id.
pub const VISITS: &str = "visits";
/// Index per appointee.
pub const BY_APPOINTEE: &str = "by_appointee";
/// Index per deputy group.
pub const BY_GROUP: &str = "by_group";
/// Index per organ within a committee.
pub const BY_ORGAN: &str = "by_organ";

/// A site visit as the view holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitDoc {
    /// The visit.
    pub visit: VisitId,
    /// Its committee.
    pub committee: CommitteeId,
    /// The filing group.
    pub group: DeputyGroupId,
    /// The office visited.
    pub target_organ: String,
    /// The appointees it concerns.
    pub appointees: Vec<AppointeeId>,
    /// How the group visited.
    pub mode: VisitMode,
    /// When.
    pub visited_at: DateTime<Utc>,
    /// The ratings in force.
    pub ratings: Ratings,
    /// Their scale.
    pub scale: RatingScale,
    /// The notes in force.
    pub notes: String,
    /// The evidence in force.
    pub evidence: Vec<String>,
    /// Who filed it.
    pub filed_by: String,
    /// Corrections made.
    pub corrections: u32,
    /// Whether it was retracted.
    pub retracted: bool,
    /// The visit report's reference, once issued.
    pub report_ref: Option<String>,
    /// Whether its appointees may see it.
    pub visible_to_appointee: bool,
    /// The log positions of every event that shaped this document, oldest first (provenance of
    /// scores computed from it).
    #[serde(default)]
    pub positions: Vec<u64>,
}

/// The format of [`time_key`].
const TIME_KEY_FORMAT: &str = "%Y%m%dT%H%M%S%.6fZ";

/// The sortable form of a moment used in index keys: `YYYYMMDDTHHMMSS.ffffffZ`.
pub fn time_key(at: DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike};
    let year = at.year();
    let nanos = at.nanosecond();
    // The same characters as chrono's `TIME_KEY_FORMAT`, without interpreting the format string
    // for every key; years outside 0..=9999 and leap seconds are left to chrono.
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return at.format(TIME_KEY_FORMAT).to_string();
    }
    let mut key = String::with_capacity(TIME_KEY_LEN);
    push_digits(&mut key, year.unsigned_abs(), 4);
    push_digits(&mut key, at.month(), 2);
    push_digits(&mut key, at.day(), 2);
    key.push('T');
    push_digits(&mut key, at.hour(), 2);
    push_digits(&mut key, at.minute(), 2);
    push_digits(&mut key, at.second(), 2);
    key.push('.');
    push_digits(&mut key, nanos / 1_000, 6);
    key.push('Z');
    key
}

/// The length of a [`time_key`] of a year in 0..=9999.
const TIME_KEY_LEN: usize = "YYYYMMDDTHHMMSS.ffffffZ".len();

/// Appends the last `width` decimal digits of `n`, zero-padded (what `{n:0width$}` writes for an
/// `n` below `10^width`, without the formatter's machinery).
fn push_digits(out: &mut String, n: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = (n / 10u32.pow(place)) % 10;
        out.push(char::from(b'0' + digit as u8));
    }
}

/// The ranges of the index keys under `prefix` (one of the `*_prefix` functions) that hold
/// every visit at or after `from` and before `to` (`None`: no bound), so that a period is read
/// without the visits outside it. The ranges may also hold a few visits just outside the period
/// (a key keeps microseconds), so a reader still tests each visit's time.
///
/// Keys of years 0..=9999 sort by time. A key of another year starts with a sign (`-`, `+`),
/// which sorts before every digit; such keys are all read (the first range) and left to that
/// test, since a year after 9999 would otherwise fall before the period's start.
pub fn period_ranges(
    prefix: &str,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Vec<KeyRange> {
    use chrono::Datelike;
    let four_digits = |at: &DateTime<Utc>| (0..=9999).contains(&at.year());
    let signed = KeyRange {
        start: prefix.to_string(),
        end: Some(format!("{prefix}0")),
    };
    let start = match from {
        None => Some(format!("{prefix}0")),
        Some(from) if from.year() < 0 => Some(format!("{prefix}0")),
        Some(from) if four_digits(&from) => Some(format!("{prefix}{}", time_key(from))),
        Some(_) => None,
    };
    // A visit before `to` has a key below that of `to` plus one microsecond (keys truncate).
    let end = match to.map(|to| to.checked_add_signed(chrono::TimeDelta::microseconds(1))) {
        None | Some(None) => Some(None),
        Some(Some(end)) if end.year() > 9999 => Some(None),
        Some(Some(end)) if four_digits(&end) => Some(Some(format!("{prefix}{}", time_key(end)))),
        Some(Some(_)) => None,
    };
    match (start, end) {
        (Some(start), Some(end)) => vec![signed, KeyRange { start, end }],
        _ => vec![signed],
    }
}

/// The key prefix of one appointee's visits.
pub fn appointee_prefix(appointee: &str) -> String {
    format!("{appointee}|")
}

/// The key prefix of one group's visits.
pub fn group_prefix(group: &str) -> String {
    format!("{group}|")
}

/// The key prefix of one organ's visits within a committee.
pub fn organ_prefix(committee: &str, organ: &str) -> String {
    format!("{committee}|{}|", super::hex_key(organ))
}

/// Folds visit events into the `visits` view.
#[derive(Debug, Clone, Copy, Default)]
pub struct VisitsProjection;

impl Projection for VisitsProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    /// 2: index entries hold no value (their key ends with the visit's id).
    fn version(&self) -> u32 {
        2
    }

    fn apply(
        &self,
        view: &mut ViewWrite<'_>,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let Some(SupervisionEvent::Visit(visit_event)) =
            super::select::decode_if(event, &[AggregateKind::Visit])?
        else {
            return Ok(());
        };
        match visit_event {
            VisitEvent::Filed(VisitFiled {
                visit,
                committee,
                group,
                filed_by,
                target_organ,
                appointees,
                mode,
                visited_at,
                ratings,
                scale,
                notes,
                evidence,
                visible_to_appointee,
            }) => {
                let suffix = format!("{}|{visit}", time_key(visited_at));
                for appointee in &appointees {
                    let key = format!("{}{suffix}", appointee_prefix(appointee.as_str()));
                    view.put_key(BY_APPOINTEE, key);
                }
                let key = format!("{}{suffix}", group_prefix(group.as_str()));
                view.put_key(BY_GROUP, key);
                let key = format!(
                    "{}{suffix}",
                    organ_prefix(committee.as_str(), &target_organ)
                );
                view.put_key(BY_ORGAN, key);
                let doc = VisitDoc {
                    visit: visit.clone(),
                    committee,
                    group,
                    target_organ,
                    appointees,
                    mode,
                    visited_at,
                    ratings,
                    scale,
                    notes,
                    evidence,
                    filed_by,
                    corrections: 0,
                    retracted: false,
                    report_ref: None,
                    visible_to_appointee,
                    positions: vec![event.position],
                };
                view.put_owned(VISITS, visit.as_str(), doc)
            }
            VisitEvent::Corrected {
                visit,
                correction,
                ratings,
                scale,
                notes,
                evidence,
                ..
            } => change(view, &visit, event.position, |doc| {
                doc.corrections = correction;
                doc.ratings = ratings;
                doc.scale = scale;
                doc.notes = notes;
                doc.evidence = evidence;
            }),
            VisitEvent::Retracted { visit, .. } => {
                change(view, &visit, event.position, |doc| doc.retracted = true)
            }
            VisitEvent::ReportIssued {
                visit, report_ref, ..
            } => change(view, &visit, event.position, |doc| {
                doc.report_ref = Some(report_ref);
                doc.visible_to_appointee = true;
            }),
        }
    }
}

fn change(
    view: &mut ViewWrite<'_>,
    visit: &VisitId,
    position: u64,
    f: impl FnOnce(&mut VisitDoc),
) -> Result<(), ProjectionError> {
    // An event for a visit the view never saw filed cannot happen in a valid log; skip it
    // rather than stall the view.
    let Some(mut doc) = view.get::<VisitDoc>(VISITS, visit.as_str())? else {
        return Ok(());
    };
    f(&mut doc);
    doc.positions.push(position);
    view.put_owned(VISITS, visit.as_str(), doc)
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone};

    use super::*;

    #[test]
    fn time_keys_are_the_chrono_format() {
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
            .unwrap()
            .and_utc();
        let moments = [
            Utc.timestamp_opt(0, 0).unwrap(),
            Utc.timestamp_opt(1_704_067_200, 123_456_789).unwrap(),
            Utc.timestamp_opt(1_704_067_200 + 3_600 * 7_777, 999_999_999)
                .unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(-5, 3, 4, 5, 6, 7).unwrap(),
            leap,
        ];
        for at in moments {
            assert_eq!(
                time_key(at),
                at.format(TIME_KEY_FORMAT).to_string(),
                "{at:?}"
            );
        }
        assert_eq!(
            time_key(Utc.timestamp_opt(1_704_067_200, 5_000).unwrap()),
            "20240101T000000.000005Z"
        );
    }

    fn in_ranges(ranges: &[KeyRange], prefix: &str, key: &str) -> bool {
        ranges.iter().any(|r| {
            key.starts_with(prefix)
                && key >= r.start.as_str()
                && r.end.as_deref().is_none_or(|end| key < end)
        })
    }

    /// A moment near `base` (seconds since the epoch), nanoseconds apart from its neighbours.
    fn moment(base: i64, offset_nanos: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(base, 0).unwrap() + chrono::TimeDelta::nanoseconds(offset_nanos)
    }

    /// Nanoseconds from a base moment: within a few microseconds (where keys truncate) or
    /// within seconds.
    fn offset() -> impl proptest::strategy::Strategy<Value = i64> {
        use proptest::strategy::Strategy;
        proptest::prop_oneof![
            (-5i64..5, 0i64..1_000).prop_map(|(micros, nanos)| micros * 1_000 + nanos),
            -3_000_000_000i64..3_000_000_000,
        ]
    }

    proptest::proptest! {
        /// Every visit of the period is in its ranges; a visit whose key falls before the
        /// period's first microsecond or from the microsecond after its end is not (for years
        /// written with four digits).
        #[test]
        fn a_period_reads_every_visit_in_it_and_none_far_outside(
            base in proptest::prop_oneof![
                proptest::strategy::Just(1_704_067_200i64),
                proptest::strategy::Just(253_402_300_799i64), // 9999-12-31T23:59:59
                proptest::strategy::Just(-62_167_219_200i64), // 0000-01-01T00:00:00
                -63_000_000_000i64..260_000_000_000,
            ],
            from in proptest::option::of(offset()),
            to in proptest::option::of(offset()),
            visits in proptest::collection::vec(offset(), 1..20),
        ) {
            let prefix = "a1|";
            let from = from.map(|n| moment(base, n));
            let to = to.map(|n| moment(base, n));
            let ranges = period_ranges(prefix, from, to);
            for v in visits {
                let at = moment(base, v);
                let key = format!("{prefix}{}|visit-1", time_key(at));
                let in_period = from.is_none_or(|f| at >= f) && to.is_none_or(|t| at < t);
                let read = in_ranges(&ranges, prefix, &key);
                if in_period {
                    proptest::prop_assert!(read, "{at:?} in [{from:?}, {to:?}) not read: {ranges:?}");
                }
                let four = |t: &DateTime<Utc>| (0..=9999).contains(&chrono::Datelike::year(t));
                let before = from.is_some_and(|f| four(&f) && four(&at) && time_key(at) < time_key(f));
                let after = to.is_some_and(|t| {
                    let end = t + chrono::TimeDelta::microseconds(1);
                    four(&end) && four(&at) && time_key(at) >= time_key(end)
                });
                if before || after {
                    proptest::prop_assert!(!read, "{at:?} outside [{from:?}, {to:?}) read: {ranges:?}");
                }
            }
        }
    }

    #[test]
    fn a_period_past_year_9999_or_before_year_0_still_reads_signed_years() {
        let prefix = "a1|";
        let late = Utc.with_ymd_and_hms(10_001, 1, 1, 0, 0, 0).unwrap();
        let early = Utc.with_ymd_and_hms(-3, 1, 1, 0, 0, 0).unwrap();
        let now = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        let key = |at| format!("{prefix}{}|v", time_key(at));
        let ranges = period_ranges(prefix, Some(now), None);
        assert!(in_ranges(&ranges, prefix, &key(late)), "{ranges:?}");
        assert!(in_ranges(&ranges, prefix, &key(now)));
        let ranges = period_ranges(prefix, Some(late), None);
        assert!(in_ranges(&ranges, prefix, &key(late)));
        assert!(!in_ranges(&ranges, prefix, &key(now)));
        let ranges = period_ranges(prefix, None, Some(early + chrono::TimeDelta::days(1)));
        assert!(in_ranges(&ranges, prefix, &key(early)));
        assert!(!in_ranges(&ranges, prefix, &key(now)));
    }
}
