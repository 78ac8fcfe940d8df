//! What every gRPC service needs around the application layer: the caller, read-your-writes
//! waits bounded by the call's deadline, and page tokens.

use std::time::Duration;

use tonic::{Request, Status};

use crate::app::{App, Caller, Wait};
use crate::auth::Principal;

pub use crate::app::page::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page};

/// What the gRPC services need of the application layer beyond its functions: the principal of
/// a request and read-your-writes waits bounded by the call's deadline.
pub trait RequestExt {
    /// The principal the auth layer attached.
    fn principal<T>(&self, request: &Request<T>) -> Result<Principal, Status>;

    /// Waits until `view` has applied `min_position` (0: no wait), bounded by the call's
    /// deadline (`grpc-timeout`) or the default wait.
    fn wait_for<T>(
        &self,
        request: &Request<T>,
        view: &str,
        min_position: u64,
    ) -> impl std::future::Future<Output = Result<(), Status>> + Send + 'static;
}

/// The command path of the services not yet moved onto the application layer's functions.
pub trait LegacyCommands {
    /// The domain context and metadata of a command by `principal`.
    fn command_context_legacy(
        &self,
        principal: &Principal,
        correlation_id: &str,
    ) -> (crate::domain::Context, crate::log::Metadata);

    /// Decides `command` on `stream_name` as `principal`, recording `committee`.
    fn execute_legacy<A: crate::domain::Aggregate>(
        &self,
        principal: &Principal,
        correlation_id: &str,
        committee: Option<&str>,
        stream_name: String,
        command: &A::Command,
    ) -> impl std::future::Future<Output = Result<u64, Status>> + Send;
}

impl LegacyCommands for App {
    fn command_context_legacy(
        &self,
        principal: &Principal,
        correlation_id: &str,
    ) -> (crate::domain::Context, crate::log::Metadata) {
        let caller = crate::app::Caller {
            principal: principal.clone(),
            command_id: None,
            correlation_id: correlation_id.to_string(),
        };
        self.command_context(&caller, None)
    }

    async fn execute_legacy<A: crate::domain::Aggregate>(
        &self,
        principal: &Principal,
        correlation_id: &str,
        committee: Option<&str>,
        stream_name: String,
        command: &A::Command,
    ) -> Result<u64, Status> {
        let caller = crate::app::Caller {
            principal: principal.clone(),
            command_id: None,
            correlation_id: correlation_id.to_string(),
        };
        let target = crate::app::Target::<A>::new(stream_name, committee)?;
        Ok(self
            .execute(&caller, target, command, "", &())
            .await?
            .position)
    }
}

impl RequestExt for App {
    fn principal<T>(&self, request: &Request<T>) -> Result<Principal, Status> {
        principal(request)
    }

    fn wait_for<T>(
        &self,
        request: &Request<T>,
        view: &str,
        min_position: u64,
    ) -> impl std::future::Future<Output = Result<(), Status>> + Send + 'static {
        let wait = wait(request, min_position);
        let (app, view) = (self.clone(), view.to_string());
        async move { Ok(app.wait_view(&view, wait).await?) }
    }
}

/// The caller of a command request: the principal the auth layer attached, the command id
/// (`fields` picks it and the correlation id out of the message; an empty one is none, anything
/// else must be a UUID).
pub fn caller<T>(
    request: &Request<T>,
    fields: impl FnOnce(&T) -> (&String, &String),
) -> Result<Caller, Status> {
    let principal = principal(request)?;
    let (command_id, correlation_id) = fields(request.get_ref());
    let command_id = if command_id.is_empty() {
        None
    } else {
        Some(uuid::Uuid::parse_str(command_id).map_err(|_| {
            Status::from(crate::domain::Rejection::invalid(
                "command_id",
                "must be a UUID, e.g. 0190a4b2-8f1e-7c3d-9a5b-1e2f3a4b5c6d",
            ))
        })?)
    };
    Ok(Caller {
        principal,
        command_id,
        correlation_id: correlation_id.clone(),
    })
}

/// The read-your-writes wait of a request: `min_position`, within the call's deadline.
pub fn wait<T>(request: &Request<T>, min_position: u64) -> Wait {
    Wait {
        min_position,
        timeout: deadline(request),
    }
}

/// The principal the auth layer attached; its absence means the layer is missing.
pub fn principal<T>(request: &Request<T>) -> Result<Principal, Status> {
    request
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| {
            tracing::error!("no principal on the request: the auth layer is not installed");
            Status::unauthenticated("no authenticated principal")
        })
}

/// The time left before the call's `grpc-timeout`, if the client set one.
pub fn deadline<T>(request: &Request<T>) -> Option<Duration> {
    let value = request.metadata().get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let amount: u64 = digits.parse().ok()?;
    let duration = match unit {
        "H" => Duration::from_secs(amount.saturating_mul(3600)),
        "M" => Duration::from_secs(amount.saturating_mul(60)),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    };
    // Leave a little time to answer before the client gives up.
    Some(duration.mul_f64(0.9))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_header_is_read() {
        let mut request = Request::new(());
        assert_eq!(deadline(&request), None);
        request
            .metadata_mut()
            .insert("grpc-timeout", "2000m".parse().unwrap());
        assert_eq!(deadline(&request), Some(Duration::from_millis(1800)));
        request
            .metadata_mut()
            .insert("grpc-timeout", "bogus".parse().unwrap());
        assert_eq!(deadline(&request), None);
    }
}
