//! Choosing, from the stream name a record carries, the events a projection folds, so that a
//! projection decodes only the payloads it reads. Each supervision projection folds a few
//! aggregate kinds; decoding every event in each of them made the fold decode every payload five
//! times.

use super::ProjectionError;
use crate::domain::catalog::{AggregateKind, SupervisionEvent};
use crate::log::RecordedEvent;

/// Decodes `event` if its stream is of one of `kinds`; `None` for any other stream, without
/// reading the payload.
pub(crate) fn decode_if(
    event: &RecordedEvent,
    kinds: &[AggregateKind],
) -> Result<Option<SupervisionEvent>, ProjectionError> {
    let stream = event.stream.as_str();
    match AggregateKind::of_stream(stream) {
        Some(kind) if kinds.contains(&kind) => {}
        _ => return Ok(None),
    }
    SupervisionEvent::decode(stream, &event.data).map_err(|e| ProjectionError::Decode {
        what: format!("event at position {}", event.position),
        detail: e.to_string(),
    })
}
