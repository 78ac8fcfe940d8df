//! What every domain RPC needs around its handler: the caller, the clock, read-your-writes
//! waits and page tokens.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tonic::{Request, Status};

use crate::auth::Principal;
use crate::domain::{Aggregate, Context};
use crate::handler::Handler;
use crate::log::{Actor, EventStore, Metadata, StreamName};
use crate::projection::Views;

/// The key of the event metadata's `extra` map that records when a command was decided: the
/// clock's "now" the domain decided with, RFC 3339 in UTC.
pub const DECIDED_AT: &str = "decided_at";

/// Default page size of list RPCs.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// Largest page size a list RPC returns.
pub const MAX_PAGE_SIZE: usize = 500;

/// The source of "now" for decisions: the system clock in production, a fixed or stepped
/// clock in tests (overdue findings, visits "not in the future").
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Everything the domain services share.
#[derive(Clone)]
pub struct AppState {
    /// The log.
    pub store: Arc<dyn EventStore>,
    /// Runs commands against aggregates in the log.
    pub handler: Handler,
    /// The read models.
    pub views: Views,
    /// The clock decisions are made with.
    pub clock: Arc<dyn Clock>,
    /// How long a query waits for `min_position` when the call has no deadline.
    pub default_wait: Duration,
}

impl AppState {
    /// The principal the auth layer attached.
    pub fn principal<T>(&self, request: &Request<T>) -> Result<Principal, Status> {
        principal(request)
    }

    /// The domain context and the event metadata for a command by `principal`. The metadata
    /// records who acted (`actor`), for which committee, the correlation id, and the moment
    /// the command was decided (`extra["decided_at"]`, RFC 3339 in UTC).
    pub fn command_context(
        &self,
        principal: &Principal,
        correlation_id: &str,
    ) -> (Context, Metadata) {
        let ctx = Context {
            now: self.clock.now(),
            actor: principal.subject.clone(),
            role: principal.role.as_str().to_string(),
        };
        let metadata = Metadata {
            actor: Some(Actor {
                subject: principal.subject.clone(),
                role: principal.role.as_str().to_string(),
            }),
            correlation_id: (!correlation_id.is_empty()).then(|| correlation_id.to_string()),
            causation_id: None,
            committee: principal.committee.clone(),
            extra: [(
                DECIDED_AT.to_string(),
                ctx.now.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            )]
            .into(),
        };
        (ctx, metadata)
    }

    /// Decides `command` on the stream named `stream_name` as `principal` and returns the
    /// position written. The event's metadata names `committee`, the committee the target
    /// belongs to, whoever acts (an admin's token names none).
    pub async fn execute<A: Aggregate>(
        &self,
        principal: &Principal,
        correlation_id: &str,
        committee: Option<&str>,
        stream_name: String,
        command: &A::Command,
    ) -> Result<u64, Status> {
        let (ctx, mut metadata) = self.command_context(principal, correlation_id);
        if let Some(committee) = committee {
            metadata.committee = Some(committee.to_string());
        }
        let stream = StreamName::new(stream_name).map_err(Status::from)?;
        let executed = self
            .handler
            .execute::<A>(&stream, command, &ctx, &metadata)
            .await?;
        Ok(executed.position)
    }

    /// Waits until `view` has applied `min_position` (0: no wait), bounded by the call's
    /// deadline (`grpc-timeout`) or the default wait.
    pub async fn wait_for<T>(
        &self,
        request: &Request<T>,
        view: &str,
        min_position: u64,
    ) -> Result<(), Status> {
        if min_position == 0 {
            return Ok(());
        }
        let timeout = deadline(request).unwrap_or(self.default_wait);
        self.views
            .wait_for(view, min_position, timeout)
            .await
            .map_err(Status::from)
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
