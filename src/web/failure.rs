//! The application layer's errors as the pages answer them: one mapping, as `api::status` is
//! for gRPC. A refusal a person can act on (a rule, a missing record, a denial) is shown in the
//! application's own words; a failure of the server is logged and shown as "try again".

use axum::http::StatusCode;

use crate::app::AppError;
use crate::domain::Rejection;
use crate::handler::HandlerError;

/// The HTTP status of `error` and the words to show, `None` for a failure of the server (the
/// page then says to try again; the cause is logged here, never shown).
pub fn explain(error: &AppError) -> (StatusCode, Option<String>) {
    let shown = |status| (status, Some(error.to_string()));
    match error {
        AppError::Rejected(rejection) | AppError::Handler(HandlerError::Rejected(rejection)) => {
            match rejection {
                Rejection::Invalid { .. } => shown(StatusCode::UNPROCESSABLE_ENTITY),
                Rejection::Precondition(_) => shown(StatusCode::CONFLICT),
                Rejection::NotFound(_) => shown(StatusCode::NOT_FOUND),
            }
        }
        AppError::Denied(_) => shown(StatusCode::FORBIDDEN),
        AppError::NotFound(_) => shown(StatusCode::NOT_FOUND),
        AppError::Precondition(_) => shown(StatusCode::CONFLICT),
        AppError::Input(_) => shown(StatusCode::UNPROCESSABLE_ENTITY),
        AppError::Unavailable(_) => shown(StatusCode::SERVICE_UNAVAILABLE),
        AppError::Handler(
            HandlerError::Contended(_)
            | HandlerError::ConditionChanged(_)
            | HandlerError::CommandIdReused { .. },
        ) => shown(StatusCode::CONFLICT),
        _ => {
            tracing::error!(%error, "a page's request failed");
            (StatusCode::SERVICE_UNAVAILABLE, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_shown_in_words_and_failures_are_not() {
        let (status, words) = explain(&AppError::precondition("voting is not open"));
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(words.as_deref(), Some("voting is not open"));
        let (status, words) = explain(&AppError::Handler(HandlerError::Rejected(
            Rejection::Precondition("m1 has already voted".into()),
        )));
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(words.as_deref(), Some("m1 has already voted"));
        let (status, words) = explain(&AppError::Handler(HandlerError::Decode {
            stream: "session-s1".into(),
            position: 3,
            detail: "bad json".into(),
        }));
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(words, None, "a server failure is not shown");
    }
}
