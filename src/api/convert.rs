//! Conversions between the generated proto messages and log types. Input is validated here,
//! once, with errors that name the offending field (`events[2].event_id is not a UUID: …`);
//! the server, not the client, records the actor from the authenticated principal.

use std::collections::HashSet;

use uuid::Uuid;

use crate::auth::Principal;
use crate::config::Limits;
use crate::log::{
    self, Actor, AppendOutcome, ContentType, Direction, EventType, ExpectedRevision, Filter, Head,
    InvalidInput, MAX_METADATA_EXTRA, MAX_METADATA_ID_BYTES, Metadata, ReadAll, ReadStream,
    RecordedEvent, StreamAppend, StreamAppended, StreamName, SubscribeFrom, VerifyReport,
};
use crate::proto;

/// Longest accepted key or value in `metadata.extra`, in bytes.
pub const MAX_METADATA_EXTRA_BYTES: usize = 256;
/// Most prefixes or types in one filter.
pub const MAX_FILTER_ENTRIES: usize = 64;

impl TryFrom<Option<proto::ExpectedRevision>> for ExpectedRevision {
    type Error = InvalidInput;
    fn try_from(value: Option<proto::ExpectedRevision>) -> Result<Self, Self::Error> {
        use proto::expected_revision::Kind;
        Ok(match value.and_then(|v| v.kind) {
            None | Some(Kind::Any(())) => ExpectedRevision::Any,
            Some(Kind::NoStream(())) => ExpectedRevision::NoStream,
            Some(Kind::StreamExists(())) => ExpectedRevision::StreamExists,
            Some(Kind::Exact(n)) => ExpectedRevision::Exact(n),
        })
    }
}

/// Reads the `direction` field.
pub fn direction(value: i32) -> Result<Direction, InvalidInput> {
    match proto::Direction::try_from(value) {
        Ok(proto::Direction::Unspecified | proto::Direction::Forwards) => Ok(Direction::Forwards),
        Ok(proto::Direction::Backwards) => Ok(Direction::Backwards),
        Err(_) => Err(InvalidInput::new(
            "direction",
            format!("{value} is not a direction; use FORWARDS (1) or BACKWARDS (2)"),
        )),
    }
}

/// Reads the `content_type` field.
pub fn content_type(value: i32) -> Result<ContentType, InvalidInput> {
    match proto::ContentType::try_from(value) {
        Ok(proto::ContentType::Unspecified | proto::ContentType::Json) => Ok(ContentType::Json),
        Ok(proto::ContentType::Binary) => Ok(ContentType::Binary),
        Err(_) => Err(InvalidInput::new(
            "content_type",
            format!("{value} is not a content type; use JSON (1) or BINARY (2)"),
        )),
    }
}

impl TryFrom<Option<proto::Filter>> for Filter {
    type Error = InvalidInput;
    fn try_from(value: Option<proto::Filter>) -> Result<Self, Self::Error> {
        let value = value.unwrap_or_default();
        if value.stream_prefixes.len() > MAX_FILTER_ENTRIES {
            return Err(InvalidInput::new(
                "filter.stream_prefixes",
                format!("holds more than {MAX_FILTER_ENTRIES} entries"),
            ));
        }
        if value.event_types.len() > MAX_FILTER_ENTRIES {
            return Err(InvalidInput::new(
                "filter.event_types",
                format!("holds more than {MAX_FILTER_ENTRIES} entries"),
            ));
        }
        for (i, t) in value.event_types.iter().enumerate() {
            EventType::new(t.clone())
                .map_err(|e| InvalidInput::new(format!("filter.event_types[{i}]"), e.rule))?;
        }
        Ok(Filter {
            stream_prefixes: value.stream_prefixes,
            event_types: value.event_types,
        })
    }
}

/// Whether an entry without events is a condition on its stream (`AppendMulti`) or refused
/// (`Append`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NoEvents {
    Refused,
    Condition,
}

/// Validates the events of one stream; `prefix` is the path of the stream's entry
/// (empty for `Append`, `appends[i].` for `AppendMulti`).
fn stream_append(
    prefix: &str,
    stream: String,
    expected: Option<proto::ExpectedRevision>,
    events: Vec<proto::ProposedEvent>,
    no_events: NoEvents,
    principal: &Principal,
) -> Result<StreamAppend, InvalidInput> {
    let stream = StreamName::new(stream)
        .map_err(|e| InvalidInput::new(format!("{prefix}{}", e.field), e.rule))?;
    let expected = ExpectedRevision::try_from(expected)?;
    // The domain's streams are written by its commands only; a condition on one writes nothing.
    if let Some(owner) = crate::domain::ids::stream_owner(stream.as_str())
        && !events.is_empty()
    {
        return Err(InvalidInput::new(
            format!("{prefix}stream"),
            format!(
                "{stream} is written only by {owner}; use those commands, or append to a \
                 stream outside the domain's (e.g. notes-1)"
            ),
        ));
    }
    if events.is_empty() {
        if no_events == NoEvents::Refused {
            return Err(InvalidInput::new(
                format!("{prefix}events"),
                "must hold at least one event",
            ));
        }
        if expected == ExpectedRevision::Any {
            return Err(InvalidInput::new(
                format!("{prefix}expected_revision"),
                "is any on an entry with no events, a condition that checks nothing; give the \
                 events to write, or the revision the stream must be at (no_stream, \
                 stream_exists or exact)",
            ));
        }
    }
    let events = events
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            proposed_event(e, principal).map_err(|err| err.within(format!("{prefix}events[{i}]")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(StreamAppend {
        stream,
        expected,
        events,
    })
}

/// Validates one proposed event and records the principal as its actor.
pub fn proposed_event(
    event: proto::ProposedEvent,
    principal: &Principal,
) -> Result<log::ProposedEvent, InvalidInput> {
    let event_id = if event.event_id.is_empty() {
        // Time-ordered, so the log's idempotency index takes it next to the previous ones.
        Uuid::now_v7()
    } else {
        Uuid::parse_str(&event.event_id)
            .map_err(|e| InvalidInput::new("event_id", format!("is not a UUID: {e}")))?
    };
    let event_type = EventType::new(event.event_type)?;
    let content_type = content_type(event.content_type)?;
    if content_type == ContentType::Json {
        crate::log::json::check_json(&event.data).map_err(|rule| {
            InvalidInput::new(
                "data",
                format!("{rule}; send JSON or set content_type to BINARY"),
            )
        })?;
    }
    let metadata = metadata(event.metadata.unwrap_or_default(), principal)
        .map_err(|e| e.within("metadata"))?;
    Ok(log::ProposedEvent {
        event_id,
        event_type,
        data: event.data,
        content_type,
        metadata,
    })
}

fn optional_id(field: &str, value: String) -> Result<Option<String>, InvalidInput> {
    if value.len() > MAX_METADATA_ID_BYTES {
        return Err(InvalidInput::new(
            field,
            format!(
                "is {} bytes long; at most {MAX_METADATA_ID_BYTES} are allowed",
                value.len()
            ),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(InvalidInput::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok((!value.is_empty()).then_some(value))
}

fn metadata(value: proto::EventMetadata, principal: &Principal) -> Result<Metadata, InvalidInput> {
    if value.extra.len() > MAX_METADATA_EXTRA {
        return Err(InvalidInput::new(
            "extra",
            format!(
                "holds {} entries; at most {MAX_METADATA_EXTRA} are allowed",
                value.extra.len()
            ),
        ));
    }
    for (key, val) in &value.extra {
        if key.is_empty() || key.len() > MAX_METADATA_EXTRA_BYTES {
            return Err(InvalidInput::new(
                "extra",
                format!("key {key:?} must be 1–{MAX_METADATA_EXTRA_BYTES} bytes long"),
            ));
        }
        if val.len() > MAX_METADATA_EXTRA_BYTES {
            return Err(InvalidInput::new(
                format!("extra[{key:?}]"),
                format!("is longer than {MAX_METADATA_EXTRA_BYTES} bytes"),
            ));
        }
    }
    Ok(Metadata {
        // Ignore whatever the client sent as actor: the server records who called.
        actor: Some(Actor {
            subject: principal.subject.clone(),
            role: principal.role.as_str().to_string(),
        }),
        correlation_id: optional_id("correlation_id", value.correlation_id)?,
        causation_id: optional_id("causation_id", value.causation_id)?,
        committee: optional_id("committee", value.committee)?,
        extra: value.extra.into_iter().collect(),
    })
}

/// Checks the per-append limits over all streams of a request.
fn check_limits(request: &log::AppendRequest, limits: &Limits) -> Result<(), InvalidInput> {
    let count = request.event_count();
    if count > limits.max_append_events {
        return Err(InvalidInput::new(
            "events",
            format!(
                "holds {count} events; at most {} are allowed in one append, split it",
                limits.max_append_events
            ),
        ));
    }
    let bytes: usize = request
        .appends
        .iter()
        .flat_map(|a| a.events.iter())
        .map(|e| e.data.len())
        .sum();
    if bytes > limits.max_append_bytes {
        return Err(InvalidInput::new(
            "events",
            format!(
                "carry {bytes} bytes of data; at most {} are allowed in one append, split it",
                limits.max_append_bytes
            ),
        ));
    }
    Ok(())
}

/// Validates an `Append` request.
pub fn append_request(
    request: proto::AppendRequest,
    principal: &Principal,
    limits: &Limits,
) -> Result<log::AppendRequest, InvalidInput> {
    if request.events.len() > limits.max_append_events {
        // Fail before validating thousands of events one by one.
        return Err(InvalidInput::new(
            "events",
            format!(
                "holds {} events; at most {} are allowed in one append, split it",
                request.events.len(),
                limits.max_append_events
            ),
        ));
    }
    let append = stream_append(
        "",
        request.stream,
        request.expected_revision,
        request.events,
        NoEvents::Refused,
        principal,
    )?;
    let request = log::AppendRequest {
        appends: vec![append],
    };
    check_limits(&request, limits)?;
    Ok(request)
}

/// Validates an `AppendMulti` request.
pub fn append_multi_request(
    request: proto::AppendMultiRequest,
    principal: &Principal,
    limits: &Limits,
) -> Result<log::AppendRequest, InvalidInput> {
    if request.appends.is_empty() {
        return Err(InvalidInput::new(
            "appends",
            "must hold at least one stream",
        ));
    }
    let total: usize = request.appends.iter().map(|a| a.events.len()).sum();
    if total > limits.max_append_events {
        return Err(InvalidInput::new(
            "appends",
            format!(
                "hold {total} events; at most {} are allowed in one append, split it",
                limits.max_append_events
            ),
        ));
    }
    let mut seen = HashSet::new();
    let mut appends = Vec::with_capacity(request.appends.len());
    for (i, entry) in request.appends.into_iter().enumerate() {
        let append = stream_append(
            &format!("appends[{i}]."),
            entry.stream,
            entry.expected_revision,
            entry.events,
            NoEvents::Condition,
            principal,
        )?;
        if !seen.insert(append.stream.clone()) {
            return Err(InvalidInput::new(
                format!("appends[{i}].stream"),
                format!(
                    "{} appears more than once; put all of a stream's events in one entry",
                    append.stream
                ),
            ));
        }
        appends.push(append);
    }
    if total == 0 {
        return Err(InvalidInput::new(
            "appends",
            "hold no events; at least one entry must hold events (an entry without events is \
             only a condition on its stream)",
        ));
    }
    let request = log::AppendRequest { appends };
    check_limits(&request, limits)?;
    Ok(request)
}

/// Validates a `ReadStream` request; `chunk` is the page size asked of the store.
pub fn read_stream_request(request: proto::ReadStreamRequest) -> Result<ReadStream, InvalidInput> {
    Ok(ReadStream {
        stream: StreamName::new(request.stream)?,
        from_revision: request.from_revision,
        direction: direction(request.direction)?,
        max_count: max_count(request.max_count),
    })
}

/// Validates a `ReadAll` request.
pub fn read_all_request(request: proto::ReadAllRequest) -> Result<ReadAll, InvalidInput> {
    Ok(ReadAll {
        from_position: request.from_position,
        direction: direction(request.direction)?,
        max_count: max_count(request.max_count),
        filter: Filter::try_from(request.filter)?,
    })
}

/// Validates a `Subscribe` request.
pub fn subscribe_request(
    request: proto::SubscribeRequest,
) -> Result<(SubscribeFrom, Filter), InvalidInput> {
    use proto::subscribe_request::Start;
    let start = match request.start {
        None => SubscribeFrom::Position(0),
        Some(Start::FromPosition(p)) => SubscribeFrom::Position(p),
        Some(Start::FromNow(())) => SubscribeFrom::Now,
    };
    Ok((start, Filter::try_from(request.filter)?))
}

/// `0` means "all".
fn max_count(value: u64) -> usize {
    if value == 0 {
        usize::MAX
    } else {
        usize::try_from(value).unwrap_or(usize::MAX)
    }
}

fn timestamp(micros: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: micros.div_euclid(1_000_000),
        // The remainder is below 1_000_000, so the product fits an i32.
        nanos: i32::try_from(micros.rem_euclid(1_000_000) * 1_000).unwrap_or(0),
    }
}

fn content_type_to_proto(value: ContentType) -> proto::ContentType {
    match value {
        ContentType::Json => proto::ContentType::Json,
        ContentType::Binary => proto::ContentType::Binary,
    }
}

impl From<&RecordedEvent> for proto::RecordedEvent {
    fn from(event: &RecordedEvent) -> Self {
        let metadata = &event.metadata;
        proto::RecordedEvent {
            position: event.position,
            stream: event.stream.as_str().to_string(),
            revision: event.revision,
            event_id: event.event_id.to_string(),
            event_type: event.event_type.as_str().to_string(),
            recorded_at: Some(timestamp(event.recorded_at_micros)),
            metadata: Some(proto::EventMetadata {
                correlation_id: metadata.correlation_id.clone().unwrap_or_default(),
                causation_id: metadata.causation_id.clone().unwrap_or_default(),
                committee: metadata.committee.clone().unwrap_or_default(),
                actor_subject: metadata
                    .actor
                    .as_ref()
                    .map(|a| a.subject.clone())
                    .unwrap_or_default(),
                actor_role: metadata
                    .actor
                    .as_ref()
                    .map(|a| a.role.clone())
                    .unwrap_or_default(),
                extra: metadata
                    .extra
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            }),
            data: event.data.clone(),
            content_type: content_type_to_proto(event.content_type) as i32,
            hash: event.hash.to_vec(),
        }
    }
}

/// The owned conversion, for pages read from the store: strings, payload and metadata move
/// into the message instead of being copied.
impl From<RecordedEvent> for proto::RecordedEvent {
    fn from(event: RecordedEvent) -> Self {
        let metadata = event.metadata;
        let (actor_subject, actor_role) = metadata
            .actor
            .map(|a| (a.subject, a.role))
            .unwrap_or_default();
        proto::RecordedEvent {
            position: event.position,
            stream: event.stream.into(),
            revision: event.revision,
            event_id: event.event_id.to_string(),
            event_type: event.event_type.into(),
            recorded_at: Some(timestamp(event.recorded_at_micros)),
            metadata: Some(proto::EventMetadata {
                correlation_id: metadata.correlation_id.unwrap_or_default(),
                causation_id: metadata.causation_id.unwrap_or_default(),
                committee: metadata.committee.unwrap_or_default(),
                actor_subject,
                actor_role,
                extra: metadata.extra.into_iter().collect(),
            }),
            data: event.data,
            content_type: content_type_to_proto(event.content_type) as i32,
            hash: event.hash.to_vec(),
        }
    }
}

impl From<&StreamAppended> for proto::AppendResult {
    fn from(value: &StreamAppended) -> Self {
        proto::AppendResult {
            stream: value.stream.as_str().to_string(),
            first_revision: value.first_revision,
            last_revision: value.last_revision,
            first_position: value.first_position,
            last_position: value.last_position,
        }
    }
}

impl From<AppendOutcome> for proto::AppendResponse {
    fn from(value: AppendOutcome) -> Self {
        proto::AppendResponse {
            result: value.results.first().map(proto::AppendResult::from),
            replayed: value.replayed,
        }
    }
}

impl From<AppendOutcome> for proto::AppendMultiResponse {
    fn from(value: AppendOutcome) -> Self {
        proto::AppendMultiResponse {
            results: value
                .results
                .iter()
                .map(proto::AppendResult::from)
                .collect(),
            replayed: value.replayed,
        }
    }
}

impl From<Head> for proto::HeadResponse {
    fn from(value: Head) -> Self {
        proto::HeadResponse {
            position: value.position,
            hash: value.hash.to_vec(),
        }
    }
}

impl From<VerifyReport> for proto::VerifyResponse {
    fn from(value: VerifyReport) -> Self {
        let ok = value.first_bad.is_none();
        let (first_bad_position, problem) = value
            .first_bad
            .map(|bad| (bad.position, bad.problem))
            .unwrap_or_default();
        proto::VerifyResponse {
            ok,
            checked: value.checked,
            first_bad_position,
            problem,
            head: Some(value.head.into()),
            filtered_to_committee: String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    fn admin() -> Principal {
        Principal {
            subject: "admin".into(),
            role: Role::Admin,
            committee: None,
            deputy_group: None,
        }
    }

    fn event(id: &str, data: &str) -> proto::ProposedEvent {
        proto::ProposedEvent {
            event_id: id.into(),
            event_type: "Thing.v1".into(),
            data: data.as_bytes().to_vec(),
            content_type: 0,
            metadata: None,
        }
    }

    fn append(events: Vec<proto::ProposedEvent>) -> proto::AppendRequest {
        proto::AppendRequest {
            stream: "s-1".into(),
            expected_revision: None,
            events,
        }
    }

    #[test]
    fn bad_uuid_names_the_field() {
        let req = append(vec![event("", "{}"), event("", "{}"), event("nope", "{}")]);
        let err = append_request(req, &admin(), &Limits::default()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("events[2].event_id is not a UUID"),
            "{err}"
        );
    }

    #[test]
    fn empty_id_gets_fresh_uuid_and_actor_is_the_principal() {
        let mut e = event("", "{\"a\":1}");
        e.metadata = Some(proto::EventMetadata {
            actor_subject: "mallory".into(),
            correlation_id: "c-1".into(),
            ..Default::default()
        });
        let req = append_request(append(vec![e]), &admin(), &Limits::default()).unwrap();
        let ev = &req.appends[0].events[0];
        assert_eq!(ev.event_id.get_version_num(), 7);
        let actor = ev.metadata.actor.as_ref().unwrap();
        assert_eq!(actor.subject, "admin");
        assert_eq!(actor.role, "admin");
        assert_eq!(ev.metadata.correlation_id.as_deref(), Some("c-1"));
    }

    #[test]
    fn invalid_json_and_limits() {
        let err = append_request(
            append(vec![event("", "{nope")]),
            &admin(),
            &Limits::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("events[0].data is not valid JSON"),
            "{err}"
        );

        let limits = Limits {
            max_append_events: 2,
            max_append_bytes: 10,
            ..Limits::default()
        };
        let err = append_request(
            append(vec![event("", "1"), event("", "2"), event("", "3")]),
            &admin(),
            &limits,
        )
        .unwrap_err();
        assert!(err.to_string().contains("at most 2"), "{err}");
        let err = append_request(append(vec![event("", "\"0123456789\"")]), &admin(), &limits)
            .unwrap_err();
        assert!(err.to_string().contains("at most 10"), "{err}");
    }

    #[test]
    fn extra_entries_are_limited() {
        let mut e = event("", "{}");
        e.metadata = Some(proto::EventMetadata {
            extra: (0..33)
                .map(|i| (format!("k{i}"), "v".to_string()))
                .collect(),
            ..Default::default()
        });
        let err = append_request(append(vec![e]), &admin(), &Limits::default()).unwrap_err();
        assert!(
            err.to_string().starts_with("events[0].metadata.extra"),
            "{err}"
        );
    }

    #[test]
    fn multi_rejects_duplicate_streams() {
        let entry = proto::StreamAppend {
            stream: "s".into(),
            expected_revision: None,
            events: vec![event("", "{}")],
        };
        let req = proto::AppendMultiRequest {
            appends: vec![entry.clone(), entry],
        };
        let err = append_multi_request(req, &admin(), &Limits::default()).unwrap_err();
        assert!(err.to_string().starts_with("appends[1].stream"), "{err}");
    }

    #[test]
    fn timestamps_split_micros() {
        let ts = timestamp(1_500_000);
        assert_eq!((ts.seconds, ts.nanos), (1, 500_000_000));
        let ts = timestamp(-1);
        assert_eq!((ts.seconds, ts.nanos), (-1, 999_999_000));
    }
}
