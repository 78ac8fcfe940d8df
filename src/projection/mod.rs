//! Read models folded from the log.
//!
//! Each [`Projection`] folds events into documents of its own tables in a redb file of its own
//! (`views/<projection>.redb`), so view updates never contend with the log's writer nor with
//! each other. The [`runner`] tails the log from the lowest checkpoint and commits every view
//! update **together with** the projection's checkpoint in one transaction of that file: a crash
//! can neither lose nor double-apply an update. A projection is rebuilt by putting an empty
//! file (checkpoint 0) in place of its own and folding the log into it again.
//!
//! * [`store`] — the view files: document tables per projection, checkpoints, read access.
//! * [`runner`] — the task that tails the log, applies batches, serves read-your-writes waits,
//!   rebuilds and lag reports.
//! * [`sessions`] — evaluation sessions, their results under embargo, and scoring policies.
//! * [`visits`], [`inspections`], [`findings`] — the supervision views: site visits per
//!   appointee / group / organ, inspections and plans, the findings board.

//! * [`registry`] — the `registry` view: committees, appointees with term history, deputy groups.
//! * [`hearings`] — the `hearings` view: duty reports and stakeholder feedback per appointee.

pub mod findings;
pub mod inspections;

pub mod hearings;
pub mod registry;
pub mod runner;
mod select;
pub mod sessions;
pub mod store;
pub mod visits;

use thiserror::Error;

use crate::log::RecordedEvent;
pub use runner::{Lag, ProjectionRunner, Views};
pub use store::{KeyRange, ViewRead, ViewWrite, hex_key, indexed_id};

/// A read model: a pure fold of log events into documents.
pub trait Projection: Send + Sync + 'static {
    /// A stable name, used as the prefix of its tables and the key of its checkpoint.
    fn name(&self) -> &'static str;

    /// The shape of its documents and keys. Raise it with any change a stored document or key of
    /// an earlier version does not have (a new field filled from events, a new table or index): at
    /// start the runner finds the view folded at another version and rebuilds it from position 0,
    /// so no reader sees documents of the old shape next to ones of the new.
    fn version(&self) -> u32 {
        1
    }

    /// Folds one event. Events the projection does not know must be ignored (return `Ok`), so
    /// that newer event types never stall an older view.
    fn apply(&self, view: &mut ViewWrite<'_>, event: &RecordedEvent)
    -> Result<(), ProjectionError>;
}

/// Why a view could not be read or updated.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ProjectionError {
    /// The view file failed.
    #[error("view storage failure: {0}")]
    Storage(String),
    /// A stored document or an event payload could not be decoded.
    #[error("cannot decode {what}: {detail}")]
    Decode {
        /// What was being decoded.
        what: String,
        /// Why it failed.
        detail: String,
    },
    /// The view file could not be opened.
    #[error("cannot open the view file {path}: {detail}")]
    Open {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        detail: String,
    },
    /// No projection has this name.
    #[error("unknown view {0:?}")]
    UnknownProjection(String),
    /// The view did not reach the requested position before the deadline.
    #[error(
        "view {projection} has reached position {reached}, not yet {wanted}; retry, or raise the deadline"
    )]
    NotYetAt {
        /// The projection.
        projection: String,
        /// Where it is.
        reached: u64,
        /// Where the caller wanted it.
        wanted: u64,
    },
    /// The runner has stopped (the server is shutting down).
    #[error("the view runner has stopped")]
    Stopped,
}

macro_rules! storage_error {
    ($($t:ty),*) => {$(
        impl From<$t> for ProjectionError {
            fn from(e: $t) -> Self {
                ProjectionError::Storage(e.to_string())
            }
        }
    )*};
}
storage_error!(
    redb::Error,
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError
);

/// Every projection the server runs. Each query RPC names the projection it reads.
pub fn registry() -> Vec<std::sync::Arc<dyn Projection>> {
    vec![
        // Supervision: site visits, inspections and plans, findings.
        std::sync::Arc::new(visits::VisitsProjection),
        std::sync::Arc::new(inspections::InspectionsProjection),
        std::sync::Arc::new(findings::FindingsProjection),
        // Registry and hearings (committees, appointees, deputy groups, hearing inputs).
        std::sync::Arc::new(registry::RegistryProjection),
        std::sync::Arc::new(hearings::HearingsProjection),
        // Evaluation: sessions, embargoed results, scoring policies.
        std::sync::Arc::new(sessions::Sessions),
    ]
}
