//! The application layer: one function per command and per query, shared by every client — the
//! gRPC services (`api`), the pages (`web`) and the CLI through them. Transports decode a request
//! into the validated types here, call, and encode the answer; they decide nothing.
//!
//! A command takes the [`Caller`] (the authenticated principal, the optional command id that
//! makes a retry safe, the correlation id) and a validated command; it checks scope
//! ([`scope`]), loads what the decision needs, runs it through the handler (the only way to
//! the log) and returns what was written. A query takes the principal and a [`Wait`]
//! (read-your-writes), checks scope and the embargo, and reads the views.
//!
//! **Invariant:** scope is decided in [`scope`] and the results embargo in [`embargo`], once
//! each; every query that can show an unannounced figure asks [`embargo`].

pub mod command;
pub mod embargo;
pub mod error;
pub mod evaluation;
pub mod hearings;
pub mod page;
pub mod policy;
pub mod registry;
pub mod scope;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use command::{Caller, Created, Written};
pub use error::AppError;
pub use page::Page;

use crate::auth::Principal;
use crate::ballot_box::BallotBox;
use crate::domain::{Aggregate, Context};
use crate::handler::{Executed, Handler, Plain};
use crate::log::{Actor, EventStore, ExpectedRevision, Metadata, StreamName};
use crate::projection::Views;

/// The key of the event metadata's `extra` map that records when a command was decided: the
/// clock's "now" the domain decided with, RFC 3339 in UTC.
pub const DECIDED_AT: &str = "decided_at";

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

/// How long a query may wait for the views to reach the position the caller last wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Wait {
    /// The position to wait for (0: no wait).
    pub min_position: u64,
    /// At most this long (`None`: the server's default).
    pub timeout: Option<Duration>,
}

impl Wait {
    /// Waits for `min_position` within the server's default time.
    pub fn at(min_position: u64) -> Self {
        Self {
            min_position,
            timeout: None,
        }
    }
}

/// Everything the application layer works with; cheap to clone.
#[derive(Clone)]
pub struct App {
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
    /// Cast ballots, sealed apart from the log until their round closes.
    pub ballots: BallotBox,
    /// One lock per session, serialising the writes that touch the ballot box.
    pub session_locks: Arc<evaluation::SessionLocks>,
}

/// Where a command is written: its stream, the committee its events record, and the streams it
/// was checked against.
pub struct Target<A: Aggregate> {
    /// The aggregate's stream.
    pub stream: StreamName,
    /// The committee the target belongs to, recorded in every event's metadata (`None` only
    /// when it does not exist yet, which the domain then refuses).
    pub committee: Option<String>,
    /// The state just loaded to check the caller (decided against first, not loaded again).
    pub loaded: Option<crate::handler::Loaded<A>>,
    /// Streams the decision was checked against, at the revisions read.
    pub conditions: Vec<(StreamName, ExpectedRevision)>,
}

impl<A: Aggregate> Target<A> {
    /// The stream named `stream`, of `committee`.
    pub fn new(stream: String, committee: Option<&str>) -> Result<Self, AppError> {
        Ok(Self {
            stream: StreamName::new(stream)?,
            committee: committee.map(str::to_string),
            loaded: None,
            conditions: Vec::new(),
        })
    }
}

impl App {
    /// The domain context and the event metadata for a command by `caller`. The metadata
    /// records who acted (`actor`), for which committee, the correlation id, and the moment
    /// the command was decided (`extra["decided_at"]`, RFC 3339 in UTC).
    pub(crate) fn command_context(
        &self,
        caller: &Caller,
        committee: Option<&str>,
    ) -> (Context, Metadata) {
        let principal = &caller.principal;
        let ctx = Context {
            now: self.clock.now(),
            actor: principal.subject.clone(),
            role: principal.role,
        };
        let metadata = Metadata {
            actor: Some(Actor {
                subject: principal.subject.clone(),
                role: principal.role.as_str().to_string(),
            }),
            correlation_id: (!caller.correlation_id.is_empty())
                .then(|| caller.correlation_id.clone()),
            causation_id: None,
            committee: committee
                .map(str::to_string)
                .or_else(|| principal.committee.clone()),
            extra: [(
                DECIDED_AT.to_string(),
                ctx.now.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            )]
            .into(),
        };
        (ctx, metadata)
    }

    /// Decides `command` on `target` as `caller` and appends what it decides. `kind` and
    /// `content` (the validated request) identify the command when the caller retries it with
    /// the same command id.
    pub(crate) async fn execute<A: Aggregate, T: serde::Serialize>(
        &self,
        caller: &Caller,
        target: Target<A>,
        command: &A::Command,
        kind: &str,
        content: &T,
    ) -> Result<Executed<A::Event>, AppError> {
        let (ctx, metadata) = self.command_context(caller, target.committee.as_deref());
        let key = caller.key(kind, content);
        let (executed, _) = self
            .handler
            .execute_keyed(
                &target.stream,
                target.loaded,
                &target.conditions,
                &Plain::<A> { command },
                &ctx,
                &metadata,
                key.as_ref(),
            )
            .await?;
        Ok(executed)
    }

    /// Refuses a command id the caller used before for a command with other content. A command
    /// whose target is looked up from its content (a session) asks this first, so that a
    /// reused id is told as such rather than as a missing target.
    pub(crate) async fn recall<T: serde::Serialize>(
        &self,
        caller: &Caller,
        kind: &str,
        content: &T,
    ) -> Result<(), AppError> {
        match caller.key(kind, content) {
            Some(key) => Ok(self.handler.check_key(&key).await?),
            None => Ok(()),
        }
    }

    /// Waits until `view` has applied `wait.min_position` (0: no wait), within `wait.timeout`
    /// or the default wait.
    pub async fn wait_view(&self, view: &str, wait: Wait) -> Result<(), AppError> {
        if wait.min_position == 0 {
            return Ok(());
        }
        let timeout = wait.timeout.unwrap_or(self.default_wait);
        Ok(self
            .views
            .wait_for(view, wait.min_position, timeout)
            .await?)
    }
}

/// Records `value` as the field `field` of the current span (the transport's, which names the
/// fields: ids only, never content).
pub(crate) fn record(field: &str, value: &str) {
    tracing::Span::current().record(field, value);
}

/// The principal of a caller, for queries that take one.
impl AsRef<Principal> for Caller {
    fn as_ref(&self) -> &Principal {
        &self.principal
    }
}
