//! The one place where errors become gRPC statuses. Every conversion is an exhaustive `match`,
//! so a new error variant cannot reach a client without a deliberate code. Storage and
//! corruption causes are logged here and never sent: clients get a generic message.

use tonic::{Code, Status};

use crate::auth::AuthError;
use crate::log::{AppendError, InvalidInput, ReadError, SubscriptionError};

/// The message sent for storage failures; the cause is logged, not sent.
const STORAGE_UNAVAILABLE: &str =
    "the event log is temporarily unavailable; retry later (the cause is in the server log)";
/// The message sent for corrupt records; the cause is logged, not sent.
const DATA_LOSS: &str = "a stored record failed its integrity check; run `oversight log verify` to find the first bad position";

impl From<InvalidInput> for Status {
    fn from(error: InvalidInput) -> Self {
        invalid_field(&error.field, &error.rule, error.to_string())
    }
}

/// `google.rpc.Status` (google/rpc/status.proto): what `grpc-status-details-bin` carries.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<prost_types::Any>,
}

/// `google.rpc.BadRequest` (google/rpc/error_details.proto): which fields of a request are
/// invalid, so a client can point at its own flag or form field.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BadRequest {
    /// One per invalid field.
    #[prost(message, repeated, tag = "1")]
    pub field_violations: Vec<FieldViolation>,
}

/// `google.rpc.BadRequest.FieldViolation`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FieldViolation {
    /// The field's path in the request, e.g. `ratings.work_discipline`.
    #[prost(string, tag = "1")]
    pub field: String,
    /// What is wrong with it, e.g. `must be between 1 and 5`.
    #[prost(string, tag = "2")]
    pub description: String,
}

/// The type URL of [`BadRequest`] in an `Any`.
const BAD_REQUEST_TYPE: &str = "type.googleapis.com/google.rpc.BadRequest";

/// INVALID_ARGUMENT with `message`, carrying the field path and the broken rule as a
/// `google.rpc.BadRequest` field violation in the status details.
pub fn invalid_field(field: &str, rule: &str, message: String) -> Status {
    use prost::Message;
    let violation = BadRequest {
        field_violations: vec![FieldViolation {
            field: field.to_string(),
            description: rule.to_string(),
        }],
    };
    let details = RpcStatus {
        code: Code::InvalidArgument as i32,
        message: message.clone(),
        details: vec![prost_types::Any {
            type_url: BAD_REQUEST_TYPE.to_string(),
            value: violation.encode_to_vec(),
        }],
    };
    Status::with_details(
        Code::InvalidArgument,
        message,
        details.encode_to_vec().into(),
    )
}

/// The field violations a status carries (none when it carries no `google.rpc.BadRequest`).
pub fn field_violations(status: &Status) -> Vec<FieldViolation> {
    use prost::Message;
    RpcStatus::decode(status.details())
        .map(|details| {
            details
                .details
                .iter()
                .filter(|any| any.type_url == BAD_REQUEST_TYPE)
                .filter_map(|any| BadRequest::decode(any.value.as_slice()).ok())
                .flat_map(|bad| bad.field_violations)
                .collect()
        })
        .unwrap_or_default()
}

impl From<AppendError> for Status {
    fn from(error: AppendError) -> Self {
        match error {
            AppendError::Invalid(invalid) => invalid.into(),
            AppendError::WrongExpectedRevision { .. } => Status::aborted(error.to_string()),
            AppendError::IdempotencyConflict { .. } => Status::already_exists(error.to_string()),
            AppendError::Storage(cause) => {
                tracing::error!(%cause, "append failed in storage");
                Status::unavailable(STORAGE_UNAVAILABLE)
            }
            AppendError::StorageFull(cause) => {
                tracing::error!(%cause, "append failed: storage is full");
                Status::resource_exhausted("the event log's disk is full; the append was not made")
            }
            AppendError::ShuttingDown => Status::unavailable(
                "the server is shutting down; the append was not made, retry against a running server",
            ),
        }
    }
}

impl From<ReadError> for Status {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::Invalid(invalid) => invalid.into(),
            ReadError::StreamNotFound(_) => Status::not_found(error.to_string()),
            ReadError::Corrupt { position, detail } => {
                tracing::error!(position, %detail, "stored record is corrupt");
                Status::new(Code::DataLoss, DATA_LOSS)
            }
            ReadError::Storage(cause) => {
                tracing::error!(%cause, "read failed in storage");
                Status::unavailable(STORAGE_UNAVAILABLE)
            }
        }
    }
}

impl From<crate::checkpoints::CheckpointError> for Status {
    fn from(error: crate::checkpoints::CheckpointError) -> Self {
        use crate::checkpoints::CheckpointError;
        match error {
            CheckpointError::Read(read) => read.into(),
            CheckpointError::Store(append) => append.into(),
            CheckpointError::Io { .. }
            | CheckpointError::Key { .. }
            | CheckpointError::Mismatch { .. } => {
                tracing::error!(%error, "a checkpoint could not be signed");
                Status::unavailable(
                    "the log's checkpoint cannot be signed now; retry later (the cause is in the server log)",
                )
            }
        }
    }
}

impl From<SubscriptionError> for Status {
    fn from(error: SubscriptionError) -> Self {
        match error {
            SubscriptionError::TooSlow { .. } => Status::resource_exhausted(error.to_string()),
            SubscriptionError::ShuttingDown { .. } => Status::unavailable(error.to_string()),
            SubscriptionError::Read(read) => read.into(),
        }
    }
}

impl From<AuthError> for Status {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Missing
            | AuthError::Malformed
            | AuthError::Invalid
            | AuthError::TooLong { .. }
            | AuthError::Expired { .. }
            | AuthError::ScopedAdmin { .. }
            | AuthError::Jwt { .. } => Status::unauthenticated(error.to_string()),
            AuthError::Forbidden { .. } | AuthError::UnknownMethod { .. } => {
                Status::permission_denied(error.to_string())
            }
        }
    }
}

impl From<crate::app::AppError> for Status {
    fn from(error: crate::app::AppError) -> Self {
        use crate::app::AppError;
        match error {
            AppError::Rejected(rejection) => rejection.into(),
            AppError::Denied(message) => Status::permission_denied(message),
            AppError::NotFound(message) => Status::not_found(message),
            AppError::Precondition(message) => Status::failed_precondition(message),
            AppError::Unavailable(message) => Status::unavailable(message),
            AppError::Input(invalid) => invalid.into(),
            AppError::Handler(error) => error.into(),
            AppError::Projection(error) => error.into(),
            AppError::Read(error) => error.into(),
            AppError::Append(error) => error.into(),
            AppError::Subscription(error) => error.into(),
            AppError::BallotBox(error) => error.into(),
        }
    }
}

/// The status sent to subscribers when the server shuts down.
pub fn shutting_down(resume_from: u64) -> Status {
    SubscriptionError::ShuttingDown { resume_from }.into()
}

impl From<crate::domain::Rejection> for Status {
    fn from(rejection: crate::domain::Rejection) -> Self {
        use crate::domain::Rejection;
        match rejection {
            Rejection::Invalid {
                ref field,
                ref rule,
            } => invalid_field(field, rule, rejection.to_string()),
            Rejection::Precondition(_) => Status::failed_precondition(rejection.to_string()),
            Rejection::NotFound(_) => Status::not_found(rejection.to_string()),
        }
    }
}

impl From<crate::handler::HandlerError> for Status {
    fn from(error: crate::handler::HandlerError) -> Self {
        use crate::handler::HandlerError;
        match error {
            HandlerError::Rejected(rejection) => rejection.into(),
            HandlerError::Append(append) => append.into(),
            HandlerError::Read(read) => read.into(),
            HandlerError::Decode {
                stream,
                position,
                detail,
            } => {
                tracing::error!(%stream, position, %detail, "a stored event cannot be decoded");
                Status::internal(
                    "a stored event of this record cannot be read by this server version (the cause is in the server log)",
                )
            }
            HandlerError::Contended(_) => Status::aborted(error.to_string()),
            HandlerError::ConditionChanged(_) => {
                Status::aborted(format!("{error}; retry the command"))
            }
            HandlerError::CommandIdReused { .. } => Status::already_exists(error.to_string()),
            HandlerError::Staging(error) => error.into(),
        }
    }
}

impl From<crate::ballot_box::BallotBoxError> for Status {
    fn from(error: crate::ballot_box::BallotBoxError) -> Self {
        use crate::ballot_box::BallotBoxError;
        match error {
            BallotBoxError::StorageFull(_) => {
                tracing::error!(%error, "the sealed ballot box failed");
                Status::resource_exhausted(
                    "the server's disk is full; the ballot box could not be written: retry once space is freed",
                )
            }
            BallotBoxError::Open { .. }
            | BallotBoxError::Storage(_)
            | BallotBoxError::Decode { .. }
            | BallotBoxError::Random(_) => {
                // The cause names a session and a round, never a voter or a choice.
                tracing::error!(%error, "the sealed ballot box failed");
                Status::unavailable(
                    "the sealed ballot box is temporarily unavailable; retry later (the cause is in the server log)",
                )
            }
        }
    }
}

impl From<crate::projection::ProjectionError> for Status {
    fn from(error: crate::projection::ProjectionError) -> Self {
        use crate::projection::ProjectionError;
        match error {
            ProjectionError::NotYetAt { .. } => Status::deadline_exceeded(error.to_string()),
            ProjectionError::UnknownProjection(_) => Status::not_found(error.to_string()),
            ProjectionError::Stopped => {
                Status::unavailable("the server is shutting down; retry against a running server")
            }
            ProjectionError::Storage(_)
            | ProjectionError::Decode { .. }
            | ProjectionError::Open { .. } => {
                tracing::error!(%error, "view read failed");
                Status::unavailable(
                    "the read models are temporarily unavailable; retry later (the cause is in the server log)",
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::{ExpectedRevision, StreamName};

    #[test]
    fn codes() {
        let stream = StreamName::new("s").unwrap();
        let cases: Vec<(Status, Code)> = vec![
            (
                AppendError::Invalid(InvalidInput::new("stream", "must not be empty")).into(),
                Code::InvalidArgument,
            ),
            (
                AppendError::WrongExpectedRevision {
                    stream: stream.clone(),
                    expected: ExpectedRevision::Exact(3),
                    actual: Some(5),
                }
                .into(),
                Code::Aborted,
            ),
            (
                AppendError::IdempotencyConflict {
                    event_id: uuid::Uuid::nil(),
                }
                .into(),
                Code::AlreadyExists,
            ),
            (
                AppendError::Storage("disk on fire".into()).into(),
                Code::Unavailable,
            ),
            (
                AppendError::StorageFull("ENOSPC".into()).into(),
                Code::ResourceExhausted,
            ),
            (AppendError::ShuttingDown.into(), Code::Unavailable),
            (
                crate::ballot_box::BallotBoxError::StorageFull("ENOSPC".into()).into(),
                Code::ResourceExhausted,
            ),
            (
                crate::ballot_box::BallotBoxError::Storage("EIO".into()).into(),
                Code::Unavailable,
            ),
            (ReadError::StreamNotFound(stream).into(), Code::NotFound),
            (
                ReadError::Corrupt {
                    position: 3,
                    detail: "bad".into(),
                }
                .into(),
                Code::DataLoss,
            ),
            (
                SubscriptionError::TooSlow { resume_from: 9 }.into(),
                Code::ResourceExhausted,
            ),
            (shutting_down(4), Code::Unavailable),
        ];
        for (status, code) in cases {
            assert_eq!(status.code(), code, "{status:?}");
        }
    }

    #[test]
    fn conflict_names_expected_and_actual() {
        let status: Status = AppendError::WrongExpectedRevision {
            stream: StreamName::new("s").unwrap(),
            expected: ExpectedRevision::Exact(3),
            actual: Some(5),
        }
        .into();
        assert!(
            status.message().contains("exact(3)"),
            "{}",
            status.message()
        );
        assert!(
            status.message().contains("actual 5"),
            "{}",
            status.message()
        );
    }

    #[test]
    fn storage_causes_are_not_sent() {
        let status: Status = AppendError::Storage("secret path /var/x".into()).into();
        assert!(!status.message().contains("secret"));
        let status: Status = ReadError::Corrupt {
            position: 1,
            detail: "secret".into(),
        }
        .into();
        assert!(!status.message().contains("secret"));
    }

    #[test]
    fn too_slow_names_resume_position() {
        let status: Status = SubscriptionError::TooSlow { resume_from: 77 }.into();
        assert!(status.message().contains("77"));
    }
}
