//! What every gRPC service needs around the application layer: the caller, read-your-writes
//! waits bounded by the call's deadline, and page tokens.

use std::time::Duration;

use tonic::{Request, Status};

use crate::app::{App, Wait};
use crate::auth::Principal;

/// Default page size of list RPCs.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// Largest page size a list RPC returns.
pub const MAX_PAGE_SIZE: usize = 500;

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

/// A page request: how many, and the key after which to continue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// At most this many items.
    pub size: usize,
    /// Continue after this key (decoded from the page token).
    pub after: Option<String>,
}

impl Page {
    /// Validates `page_size` (0: the default) and `page_token` (empty: the first page).
    pub fn from_request(page_size: u32, page_token: &str) -> Result<Self, Status> {
        let size = match page_size as usize {
            0 => DEFAULT_PAGE_SIZE,
            n if n > MAX_PAGE_SIZE => {
                return Err(Status::invalid_argument(format!(
                    "page_size {n} is too large; at most {MAX_PAGE_SIZE} items per page"
                )));
            }
            n => n,
        };
        let after = if page_token.is_empty() {
            None
        } else {
            let bytes = hex::decode(page_token).map_err(|_| {
                Status::invalid_argument("page_token is not a token this server issued; pass the next_page_token of the previous reply")
            })?;
            Some(String::from_utf8(bytes).map_err(|_| {
                Status::invalid_argument("page_token is not a token this server issued; pass the next_page_token of the previous reply")
            })?)
        };
        Ok(Self { size, after })
    }

    /// The token for the page after the one ending with `last_key`, or "" when `returned` is
    /// short of a full page (no more items).
    pub fn next_token(&self, returned: usize, last_key: Option<&str>) -> String {
        match last_key {
            Some(key) if returned >= self.size => hex::encode(key.as_bytes()),
            _ => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_reject_garbage() {
        let page = Page::from_request(2, "").unwrap();
        assert_eq!(page.size, 2);
        let token = page.next_token(2, Some("committee-1/appointee-7"));
        let next = Page::from_request(2, &token).unwrap();
        assert_eq!(next.after.as_deref(), Some("committee-1/appointee-7"));
        assert_eq!(page.next_token(1, Some("x")), "");
        assert_eq!(Page::from_request(0, "").unwrap().size, DEFAULT_PAGE_SIZE);
        assert_eq!(
            Page::from_request(10_000, "").unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
        assert_eq!(
            Page::from_request(1, "zz").unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
    }

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
