//! The sealed ballot box: cast ballots held durably, apart from the log, until voting closes.
//!
//! Its own redb file (`ballots.redb` in the data directory, never the log's file) with one
//! table, `sealed_ballots`: key `(session id, round, ballot id)`, value the ballot's choices as
//! JSON. That is all it holds — **no member, no timestamp, no insertion counter, no log
//! position** — so nothing in it can link a ballot to a voter. Ballot ids are random (UUID v4), and
//! redb's B-tree orders entries by key, so even the file's page layout follows the random ids and
//! not the order the ballots were cast in.
//!
//! Each write is its own transaction with `Durability::Immediate`: a ballot is acknowledged to the
//! voter only once it is on disk. The session handler seals a ballot *before* appending the
//! voter's participation event and deletes the round once its ballots are published (or the round
//! is voided); see `domain::evaluation::session` for the whole protocol.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use thiserror::Error;

use crate::domain::evaluation::session::{Phase, SealedBallot, SessionAggregate};
use crate::domain::evaluation::tally::Choice;
use crate::domain::evaluation::{AppointeeId, BallotId, SessionId, session_stream};
use crate::handler::Handler;
use crate::log::StreamName;
use crate::reopen::{Reopenable, is_out_of_space};

/// The ballot box's file in the data directory.
pub const BALLOTS_FILE: &str = "ballots.redb";

/// `(session id, round, ballot id)` → JSON object `{appointee id: choice}`.
const SEALED: TableDefinition<(&str, u32, &str), &[u8]> = TableDefinition::new("sealed_ballots");

/// Why the ballot box failed. Causes are for the server log; clients get a generic message.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BallotBoxError {
    /// The file could not be opened or created.
    #[error("cannot open the ballot box {path}: {detail}")]
    Open {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        detail: String,
    },
    /// A read or write failed.
    #[error("ballot box storage failure: {0}")]
    Storage(String),
    /// A write failed for want of space on the disk.
    #[error("the ballot box's disk is full: {0}")]
    StorageFull(String),
    /// A stored entry could not be decoded.
    #[error("a sealed ballot of session {session} round {round} cannot be decoded: {detail}")]
    Decode {
        /// The session.
        session: String,
        /// The round.
        round: u32,
        /// Why.
        detail: String,
    },
}

macro_rules! storage_error {
    ($($t:ty),*) => {$(
        impl From<$t> for BallotBoxError {
            fn from(e: $t) -> Self {
                storage_failure(redb::Error::from(e))
            }
        }
    )*};
}

/// A failure of the ballot box's file: a full disk is told apart, so that the voter hears it.
fn storage_failure(e: redb::Error) -> BallotBoxError {
    match &e {
        redb::Error::Io(io) if is_out_of_space(io) => BallotBoxError::StorageFull(e.to_string()),
        _ => BallotBoxError::Storage(e.to_string()),
    }
}
storage_error!(
    redb::Error,
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError,
    redb::SetDurabilityError
);

/// The sealed ballot box; cheap to clone.
#[derive(Clone)]
pub struct BallotBox {
    /// Reopened after a failed write (a full disk) by the next one; read through a read-only
    /// view until then (`crate::reopen`).
    db: Arc<Reopenable>,
}

/// redb's page cache for the ballot box: it holds the ballots of the rounds being voted, a few
/// hundred kilobytes.
const BALLOT_CACHE_BYTES: usize = 16 * 1024 * 1024;

impl std::fmt::Debug for BallotBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BallotBox")
    }
}

impl BallotBox {
    /// Opens (or creates) the ballot box at `path`.
    pub fn open(path: &Path) -> Result<Self, BallotBoxError> {
        let open_error = |detail: String| BallotBoxError::Open {
            path: path.to_path_buf(),
            detail,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| open_error(e.to_string()))?;
        }
        let db = redb::Builder::new()
            .set_cache_size(BALLOT_CACHE_BYTES)
            .create(path)
            .map_err(|e| open_error(e.to_string()))?;
        // Create the table up front so readers never meet a missing table; only when it is
        // missing, so that a start writes nothing (and succeeds on a full disk).
        let exists = {
            let txn = db.begin_read().map_err(|e| open_error(e.to_string()))?;
            match txn.open_table(SEALED) {
                Ok(_) => true,
                Err(redb::TableError::TableDoesNotExist(_)) => false,
                Err(e) => return Err(open_error(e.to_string())),
            }
        };
        if !exists {
            let txn = db.begin_write().map_err(|e| open_error(e.to_string()))?;
            txn.open_table(SEALED)
                .map_err(|e| open_error(e.to_string()))?;
            txn.commit().map_err(|e| open_error(e.to_string()))?;
        }
        Ok(Self {
            db: Arc::new(Reopenable::new(path, db, BALLOT_CACHE_BYTES)),
        })
    }

    /// Runs `work` on the file open for writes, reopened first if a write failed; a storage
    /// failure of `work` has the next write reopen it.
    async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Database) -> Result<T, BallotBoxError> + Send + 'static,
    ) -> Result<T, BallotBoxError> {
        let file = Arc::clone(&self.db);
        blocking(move || {
            let (db, _) = file
                .write()
                .map_err(|e| BallotBoxError::Storage(e.to_string()))?;
            let result = work(&db);
            if let Err(BallotBoxError::Storage(_) | BallotBoxError::StorageFull(_)) = &result {
                file.failed();
            }
            result
        })
        .await
    }

    /// Runs `work` on the file as it can be read.
    async fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Database) -> Result<T, BallotBoxError> + Send + 'static,
    ) -> Result<T, BallotBoxError> {
        let file = Arc::clone(&self.db);
        blocking(move || {
            let db = file
                .read()
                .map_err(|e| BallotBoxError::Storage(e.to_string()))?;
            work(&db)
        })
        .await
    }

    /// Seals a ballot durably. Returns `false` (and writes nothing) when its id is already taken
    /// in the round: the caller draws a new id and decides again.
    pub async fn seal(&self, ballot: &SealedBallot) -> Result<bool, BallotBoxError> {
        let session = ballot.session_id.as_str().to_owned();
        let round = ballot.round;
        let id = ballot.ballot_id.as_str().to_owned();
        let value = serde_json::to_vec(&ballot.choices).map_err(|e| BallotBoxError::Decode {
            session: session.clone(),
            round,
            detail: e.to_string(),
        })?;
        self.write(move |db| {
            let mut txn = db.begin_write()?;
            txn.set_durability(Durability::Immediate)?;
            {
                let mut table = txn.open_table(SEALED)?;
                if table.get((session.as_str(), round, id.as_str()))?.is_some() {
                    return Ok(false);
                }
                table.insert((session.as_str(), round, id.as_str()), value.as_slice())?;
            }
            txn.commit()?;
            Ok(true)
        })
        .await
    }

    /// Every sealed ballot of a round, ordered by (random) ballot id.
    pub async fn take_all(
        &self,
        session: &SessionId,
        round: u32,
    ) -> Result<Vec<SealedBallot>, BallotBoxError> {
        let session = session.clone();
        self.read(move |db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(SEALED)?;
            let mut out = Vec::new();
            for entry in table.range((session.as_str(), round, "")..)? {
                let (key, value) = entry?;
                let (s, r, id) = key.value();
                if s != session.as_str() || r != round {
                    break;
                }
                let decode = |detail: String| BallotBoxError::Decode {
                    session: session.to_string(),
                    round,
                    detail,
                };
                let ballot_id = BallotId::parse(id).map_err(|e| decode(e.to_string()))?;
                let choices: BTreeMap<AppointeeId, Choice> =
                    serde_json::from_slice(value.value()).map_err(|e| decode(e.to_string()))?;
                out.push(SealedBallot {
                    session_id: session.clone(),
                    round,
                    ballot_id,
                    choices,
                });
            }
            Ok(out)
        })
        .await
    }

    /// Removes one sealed ballot (its participation could not be recorded).
    pub async fn remove(
        &self,
        session: &SessionId,
        round: u32,
        ballot_id: &BallotId,
    ) -> Result<(), BallotBoxError> {
        let session = session.as_str().to_owned();
        let id = ballot_id.as_str().to_owned();
        self.write(move |db| {
            let mut txn = db.begin_write()?;
            txn.set_durability(Durability::Immediate)?;
            txn.open_table(SEALED)?
                .remove((session.as_str(), round, id.as_str()))?;
            txn.commit()?;
            Ok(())
        })
        .await
    }

    /// Removes every sealed ballot of a round (after publication or voiding). Returns how many.
    pub async fn delete(&self, session: &SessionId, round: u32) -> Result<u64, BallotBoxError> {
        let session = session.as_str().to_owned();
        self.write(move |db| {
            let mut txn = db.begin_write()?;
            txn.set_durability(Durability::Immediate)?;
            let removed = {
                let mut table = txn.open_table(SEALED)?;
                let mut keys: Vec<String> = Vec::new();
                for entry in table.range((session.as_str(), round, "")..)? {
                    let (key, _) = entry?;
                    let (s, r, id) = key.value();
                    if s != session.as_str() || r != round {
                        break;
                    }
                    keys.push(id.to_owned());
                }
                for id in &keys {
                    table.remove((session.as_str(), round, id.as_str()))?;
                }
                keys.len() as u64
            };
            txn.commit()?;
            Ok(removed)
        })
        .await
    }
}

/// What the startup sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Rounds whose sealed ballots were removed (already published or voided) and how many.
    pub removed: Vec<(SessionId, u32, u64)>,
    /// Rounds still open for voting, whose sealed ballots were kept.
    pub kept: Vec<(SessionId, u32)>,
}

impl BallotBox {
    /// Every `(session, round)` that holds sealed ballots, with their number.
    pub async fn held_rounds(&self) -> Result<Vec<(SessionId, u32, u64)>, BallotBoxError> {
        self.read(move |db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(SEALED)?;
            let mut out: Vec<(SessionId, u32, u64)> = Vec::new();
            for entry in table.iter()? {
                let (key, _) = entry?;
                let (session, round, _) = key.value();
                match out.last_mut() {
                    Some((s, r, n)) if s.as_str() == session && *r == round => *n += 1,
                    _ => {
                        let id = SessionId::parse(session).map_err(|e| BallotBoxError::Decode {
                            session: session.to_owned(),
                            round,
                            detail: e.to_string(),
                        })?;
                        out.push((id, round, 1));
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    /// The startup sweep: removes the sealed leftovers of rounds the log shows closed (their
    /// ballots published, or the round voided) — what a crash between publishing a round and
    /// deleting it leaves behind. The round a session is still voting in keeps its ballots; so
    /// does a round of a session the log does not know (nothing proves it closed), which is
    /// logged.
    pub async fn sweep_closed_rounds(
        &self,
        handler: &Handler,
    ) -> Result<SweepReport, BallotBoxError> {
        let mut report = SweepReport::default();
        for (session, round, held) in self.held_rounds().await? {
            let stream = StreamName::new(session_stream(&session))
                .map_err(|e| BallotBoxError::Storage(e.to_string()))?;
            let loaded = handler
                .load::<SessionAggregate>(&stream)
                .await
                .map_err(|e| BallotBoxError::Storage(e.to_string()))?
                .state;
            let still_voting = loaded.phase == Phase::VotingOpen && loaded.round == round;
            if loaded.schedule.is_none() {
                tracing::warn!(
                    %session,
                    round,
                    held,
                    "sealed ballots of a session the log does not know are kept"
                );
                report.kept.push((session, round));
            } else if still_voting || round > loaded.round {
                report.kept.push((session, round));
            } else {
                let removed = self.delete(&session, round).await?;
                tracing::info!(%session, round, removed, "sealed ballots of a closed round removed");
                report.removed.push((session, round, removed));
            }
        }
        Ok(report)
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, BallotBoxError> + Send + 'static,
) -> Result<T, BallotBoxError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| BallotBoxError::Storage(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ballot(session: &str, round: u32, id: &str, code: &str) -> SealedBallot {
        SealedBallot {
            session_id: SessionId::parse(session).unwrap(),
            round,
            ballot_id: BallotId::parse(id).unwrap(),
            choices: [(
                AppointeeId::parse("a-1").unwrap(),
                Choice::Option(code.into()),
            )]
            .into_iter()
            .collect(),
        }
    }

    #[tokio::test]
    async fn seal_take_delete_survive_reopening_and_keep_rounds_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(BALLOTS_FILE);
        let s = SessionId::parse("s1").unwrap();
        {
            let bx = BallotBox::open(&path).unwrap();
            assert!(bx.seal(&ballot("s1", 1, "b-2", "satisfied")).await.unwrap());
            assert!(
                bx.seal(&ballot("s1", 1, "b-1", "dissatisfied"))
                    .await
                    .unwrap()
            );
            assert!(bx.seal(&ballot("s1", 2, "b-3", "satisfied")).await.unwrap());
            assert!(
                bx.seal(&ballot("s10", 1, "b-4", "satisfied"))
                    .await
                    .unwrap()
            );
            // an id collision writes nothing
            assert!(!bx.seal(&ballot("s1", 1, "b-1", "satisfied")).await.unwrap());
        }
        let bx = BallotBox::open(&path).unwrap();
        let round1 = bx.take_all(&s, 1).await.unwrap();
        let ids: Vec<&str> = round1.iter().map(|b| b.ballot_id.as_str()).collect();
        assert_eq!(ids, ["b-1", "b-2"], "ordered by id, not by sealing");
        assert_eq!(round1[0], ballot("s1", 1, "b-1", "dissatisfied"));
        bx.remove(&s, 1, &BallotId::parse("b-2").unwrap())
            .await
            .unwrap();
        assert_eq!(bx.take_all(&s, 1).await.unwrap().len(), 1);
        assert_eq!(bx.delete(&s, 1).await.unwrap(), 1);
        assert!(bx.take_all(&s, 1).await.unwrap().is_empty());
        assert_eq!(bx.take_all(&s, 2).await.unwrap().len(), 1);
        let s10 = SessionId::parse("s10").unwrap();
        assert_eq!(bx.take_all(&s10, 1).await.unwrap().len(), 1);
    }

    #[test]
    fn a_full_disk_is_told_apart_from_other_storage_failures() {
        let full = std::io::Error::from(std::io::ErrorKind::StorageFull);
        assert!(matches!(
            storage_failure(redb::Error::Io(full)),
            BallotBoxError::StorageFull(_)
        ));
        let enospc = std::io::Error::from_raw_os_error(28);
        assert!(matches!(
            BallotBoxError::from(redb::StorageError::Io(enospc)),
            BallotBoxError::StorageFull(_)
        ));
        let eio = std::io::Error::from_raw_os_error(5);
        assert!(matches!(
            storage_failure(redb::Error::Io(eio)),
            BallotBoxError::Storage(_)
        ));
    }

    /// A storage failure of a write (a full disk) leaves redb refusing the file: the next write
    /// reopens it, and every ballot sealed before is still there.
    #[tokio::test]
    async fn a_failed_write_has_the_next_one_reopen_the_box_with_every_sealed_ballot() {
        let dir = tempfile::tempdir().unwrap();
        let bx = BallotBox::open(&dir.path().join(BALLOTS_FILE)).unwrap();
        let s = SessionId::parse("s1").unwrap();
        assert!(bx.seal(&ballot("s1", 1, "b-1", "satisfied")).await.unwrap());
        let failed = bx
            .write(|_| Err::<(), _>(BallotBoxError::Storage("No space left on device".into())))
            .await;
        assert!(failed.is_err());
        assert!(
            !bx.db.is_writable(),
            "a storage failure marks the box for a reopen"
        );
        // The next seal reopens it.
        assert!(bx.seal(&ballot("s1", 1, "b-2", "satisfied")).await.unwrap());
        assert!(bx.db.is_writable());
        // A decoding error is not a storage failure: no reopen.
        let _ = bx
            .write(|_| {
                Err::<(), _>(BallotBoxError::Decode {
                    session: "s1".into(),
                    round: 1,
                    detail: "bad".into(),
                })
            })
            .await;
        assert!(bx.db.is_writable());
        let ids: Vec<String> = bx
            .take_all(&s, 1)
            .await
            .unwrap()
            .iter()
            .map(|b| b.ballot_id.as_str().to_owned())
            .collect();
        assert_eq!(ids, ["b-1", "b-2"]);
    }
}
