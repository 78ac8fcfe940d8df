//! Field parsing shared by the domain services' boundaries: ids (given or minted), calendar
//! dates, timestamps, and paged scans of a view with a filter. Every failure is a
//! [`Rejection::Invalid`] naming the field and the rule, which becomes INVALID_ARGUMENT.

use chrono::{DateTime, NaiveDate, Utc};
use serde::de::DeserializeOwned;

use crate::api::context::Page;
use crate::domain::Rejection;
use crate::log::StreamName;
use crate::projection::{ProjectionError, ViewRead};

/// Documents read per scan while filling a filtered page.
const SCAN_CHUNK: usize = 256;

/// The id given, parsed, or a fresh UUID when the field is empty.
pub fn id_or_new<I>(
    raw: &str,
    parse: impl Fn(String) -> Result<I, Rejection>,
) -> Result<I, Rejection> {
    if raw.is_empty() {
        parse(uuid::Uuid::new_v4().to_string())
    } else {
        parse(raw.to_string())
    }
}

/// A required calendar day written `YYYY-MM-DD`.
pub fn date(field: &str, raw: &str) -> Result<NaiveDate, Rejection> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| Rejection::invalid(field, "must be a date written YYYY-MM-DD"))
}

/// An optional calendar day: empty is `None`.
pub fn optional_date(field: &str, raw: &str) -> Result<Option<NaiveDate>, Rejection> {
    if raw.is_empty() {
        Ok(None)
    } else {
        date(field, raw).map(Some)
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

/// Reads one page of documents under `prefix` that `keep` accepts, in key order, continuing
/// after the page token. Returns the documents and the next page token ("" on the last page).
pub fn scan_page<T: DeserializeOwned>(
    read: &ViewRead,
    (projection, table): (&str, &str),
    prefix: &str,
    page: &Page,
    keep: impl Fn(&T) -> bool,
) -> Result<(Vec<T>, String), ProjectionError> {
    let mut out = Vec::new();
    let mut after = page.after.clone();
    loop {
        let chunk = read.scan::<T>(projection, table, prefix, after.as_deref(), SCAN_CHUNK)?;
        let exhausted = chunk.len() < SCAN_CHUNK;
        for (key, doc) in chunk {
            if keep(&doc) {
                out.push(doc);
                if out.len() >= page.size {
                    let token = page.next_token(out.len(), Some(&key));
                    return Ok((out, token));
                }
            }
            after = Some(key);
        }
        if exhausted {
            return Ok((out, String::new()));
        }
    }
}
