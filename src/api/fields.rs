//! Field parsing shared by the domain services' boundaries: ids (given or minted), calendar
//! dates and names (the domain's one parser of each, [`crate::domain::validate`]), timestamps,
//! and paged scans of a view with a filter. Every failure is a
//! [`Rejection::Invalid`] naming the field and the rule, which becomes INVALID_ARGUMENT.

use chrono::{DateTime, NaiveDate, Utc};

pub use crate::app::page::scan_page;
use crate::domain::Rejection;
pub use crate::domain::validate::{date, nfc, optional_date};
use crate::log::StreamName;

/// The id given, parsed, or a fresh one when the field is empty: a UUID of version 7, whose
/// text sorts in the order the ids were minted, so that documents keyed by a minted id are
/// listed oldest first and a new one lands at the end of its view table, not on a random page.
pub fn id_or_new<I>(
    raw: &str,
    parse: impl Fn(String) -> Result<I, Rejection>,
) -> Result<I, Rejection> {
    if raw.is_empty() {
        parse(uuid::Uuid::now_v7().to_string())
    } else {
        parse(raw.to_string())
    }
}

/// The id given, parsed, or `None` when the field is empty (the application layer mints one).
pub fn optional_id<I>(
    raw: &str,
    parse: impl Fn(String) -> Result<I, Rejection>,
) -> Result<Option<I>, Rejection> {
    if raw.is_empty() {
        Ok(None)
    } else {
        parse(raw.to_string()).map(Some)
    }
}

/// A calendar day as written on the wire.
pub fn date_text(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// A required instant.
pub fn timestamp(
    field: &str,
    raw: Option<&prost_types::Timestamp>,
) -> Result<DateTime<Utc>, Rejection> {
    let raw = raw.ok_or_else(|| Rejection::invalid(field, "must be set"))?;
    u32::try_from(raw.nanos)
        .ok()
        .and_then(|nanos| DateTime::from_timestamp(raw.seconds, nanos))
        .ok_or_else(|| Rejection::invalid(field, "must be a valid timestamp"))
}

/// An instant as written on the wire.
pub fn timestamp_proto(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// A stream name built from validated ids.
pub fn stream(name: String) -> Result<StreamName, tonic::Status> {
    StreamName::new(name).map_err(tonic::Status::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::CommitteeId;

    #[test]
    fn an_empty_id_is_minted_and_a_given_one_checked() {
        let minted = id_or_new("", CommitteeId::parse).unwrap();
        assert_eq!(minted.as_str().len(), 36);
        // Minted ids sort in the order they were minted.
        let later: Vec<CommitteeId> = (0..100)
            .map(|_| id_or_new("", CommitteeId::parse).unwrap())
            .collect();
        assert!(
            later
                .windows(2)
                .all(|pair| pair[0].as_str() < pair[1].as_str())
        );
        assert!(minted.as_str() < later[0].as_str());
        assert_eq!(
            id_or_new("harbin", CommitteeId::parse).unwrap().as_str(),
            "harbin"
        );
        assert!(matches!(
            id_or_new("a/b", CommitteeId::parse),
            Err(Rejection::Invalid { field, .. }) if field == "committee_id"
        ));
    }

    #[test]
    fn dates_are_iso_calendar_days() {
        let day = date("on", "2017-12-23").unwrap();
        assert_eq!(date_text(day), "2017-12-23");
        for bad in ["", "2017/12/23", "2017-02-30", "23-12-2017"] {
            assert!(
                date("on", bad)
                    .unwrap_err()
                    .to_string()
                    .starts_with("on must be a date written YYYY-MM-DD"),
                "{bad}"
            );
        }
        assert_eq!(optional_date("to", "").unwrap(), None);
        assert!(optional_date("to", "x").is_err());
    }

    #[test]
    fn timestamps_are_required_and_valid() {
        assert_eq!(
            timestamp("filed_at", None).unwrap_err(),
            Rejection::invalid("filed_at", "must be set")
        );
        let bad = prost_types::Timestamp {
            seconds: 0,
            nanos: -1,
        };
        assert!(timestamp("filed_at", Some(&bad)).is_err());
        let at = DateTime::from_timestamp(1_513_728_000, 5).unwrap();
        assert_eq!(
            timestamp("filed_at", Some(&timestamp_proto(at))).unwrap(),
            at
        );
    }
}
