//! The sealed ballot box: cast ballots held durably, apart from the log, until voting closes —
//! encrypted under a key that exists only in the server's memory.
//!
//! Its own redb file (`ballots.redb` in the data directory, never the log's file) with one
//! table, `sealed_ballots_v2`: key `(session id, round, record id)`, value `nonce ‖ ciphertext`.
//!
//! * **Each round has its own key**, 32 random bytes drawn from the operating system when the
//!   round's first ballot is sealed and held only in memory. Nothing writes it anywhere; it is
//!   forgotten when the round's ballots are deleted (published or voided) and when the process
//!   stops. Every record is sealed with ChaCha20-Poly1305 (ring's AEAD, the one TLS already uses)
//!   under that key with a fresh random 96-bit nonce, and the record's place (session, round,
//!   record id) as associated data, so a record moved to another round fails to open.
//! * **The record id is HMAC-SHA-256 of the ballot's id under a second key of the round**: it
//!   says nothing about the ballot, the voter or the moment, and without the key nobody can tell
//!   which record holds which ballot — once the round is over, nobody at all.
//! * **Every record of a round has the same length**: the plaintext (the ballot's JSON behind its
//!   length) is padded to a size fixed by the session's subjects and scale
//!   ([`crate::domain::evaluation::session::SessionAggregate::sealed_len`]), so a long ballot
//!   and a blank one look alike.
//!
//! redb writes copy-on-write: pages left behind in the file (free pages) keep earlier states of
//! the table, so a reader of the file can tell which *record* was written after which. That is
//! harmless here by construction: a record is opaque bytes under a key that is gone by the time
//! the ballots are published, and nothing published (receipt, commitment, choices) is derived
//! from a record's id, nonce or ciphertext. See docs/SECURITY.md, "Ballot secrecy".
//!
//! **A stop during an open round loses its key**: its sealed records can no longer be read.
//! The start-up sweep ([`BallotBox::sweep_closed_rounds`]) voids such a round (reason
//! `ballots_do_not_match_participation`) when anyone had voted in it, so that it is voted again —
//! a partial ballot set is never published; a close that meets unreadable records voids the
//! round the same way.
//!
//! Each write is its own transaction with `Durability::Immediate`: a ballot is acknowledged to the
//! voter only once it is on disk. The session handler seals a ballot *before* appending the
//! voter's participation event and deletes the round once its ballots are published (or the round
//! is voided); see `domain::evaluation::session` for the whole protocol.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use thiserror::Error;

use crate::domain::evaluation::session::{Phase, SealedBallot, SessionAggregate, SessionCommand};
use crate::domain::evaluation::{BallotId, SessionId, session_stream};
use crate::domain::{Context, Role};
use crate::handler::Handler;
use crate::log::{Actor, Metadata, StreamName};
use crate::reopen::{Reopenable, is_out_of_space};

/// The ballot box's file in the data directory.
pub const BALLOTS_FILE: &str = "ballots.redb";

/// `(session id, round, record id)` → `nonce ‖ ciphertext ‖ tag`.
const SEALED: TableDefinition<(&str, u32, &[u8]), &[u8]> =
    TableDefinition::new("sealed_ballots_v2");

/// The table of earlier versions, which held ballots in plaintext.
const LEGACY: TableDefinition<(&str, u32, &str), &[u8]> = TableDefinition::new("sealed_ballots");

/// What binds a record to its place, as associated data.
const AAD_TAG: &[u8] = b"oversight sealed ballot v2";

/// The subject the server writes its own events under (a round voided at start).
pub const SERVER_ACTOR: &str = "oversight-server";

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
    /// A ballot could not be encoded or sealed, or a stored entry decoded.
    #[error("a sealed ballot of session {session} round {round} cannot be decoded: {detail}")]
    Decode {
        /// The session.
        session: String,
        /// The round.
        round: u32,
        /// Why.
        detail: String,
    },
    /// The operating system's random source failed.
    #[error("no randomness for the ballot box: {0}")]
    Random(String),
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

/// A round's keys: one seals the records, one names them. Held in memory only.
struct RoundKey {
    aead: LessSafeKey,
    name: hmac::Key,
}

impl RoundKey {
    fn generate(random: &SystemRandom) -> Result<Self, BallotBoxError> {
        // Zeroed again once the keys are built (ring keeps its own expanded copies, which it
        // does not expose).
        let mut bytes = [0u8; 64];
        random
            .fill(&mut bytes)
            .map_err(|_| BallotBoxError::Random("the system random source failed".into()))?;
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, &bytes[..32])
            .map_err(|_| BallotBoxError::Random("cannot build the round's key".into()));
        let name = hmac::Key::new(hmac::HMAC_SHA256, &bytes[32..]);
        bytes.fill(0);
        Ok(Self {
            aead: LessSafeKey::new(unbound?),
            name,
        })
    }

    /// The record id of a ballot: HMAC-SHA-256 of its id.
    fn record_id(&self, ballot: &BallotId) -> Vec<u8> {
        hmac::sign(&self.name, ballot.as_str().as_bytes())
            .as_ref()
            .to_vec()
    }
}

/// The associated data of a record: its place in the table.
fn aad(session: &str, round: u32, record: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(AAD_TAG.len() + session.len() + 48);
    out.extend_from_slice(AAD_TAG);
    out.extend_from_slice(&(session.len() as u64).to_be_bytes());
    out.extend_from_slice(session.as_bytes());
    out.extend_from_slice(&round.to_be_bytes());
    out.extend_from_slice(record);
    out
}

/// The padded plaintext of a ballot: its JSON's length (u32, big-endian), the JSON, zeros up to
/// `len` bytes.
fn pad(json: &[u8], len: usize) -> Option<Vec<u8>> {
    let size = u32::try_from(json.len()).ok()?;
    if json.len() + 4 > len {
        return None;
    }
    let mut out = Vec::with_capacity(len + CHACHA20_POLY1305.tag_len());
    out.extend_from_slice(&size.to_be_bytes());
    out.extend_from_slice(json);
    out.resize(len, 0);
    Some(out)
}

/// The JSON inside a padded plaintext.
fn unpad(plain: &[u8]) -> Option<&[u8]> {
    let size = u32::from_be_bytes(plain.get(..4)?.try_into().ok()?) as usize;
    plain.get(4..4 + size)
}

/// The keys of the rounds being voted, by `(session, round)`.
type Keys = Mutex<HashMap<(String, u32), Arc<RoundKey>>>;

/// The sealed ballot box; cheap to clone.
#[derive(Clone)]
pub struct BallotBox {
    /// Reopened after a failed write (a full disk) by the next one; read through a read-only
    /// view until then (`crate::reopen`).
    db: Arc<Reopenable>,
    /// The rounds' keys: never written anywhere.
    keys: Arc<Keys>,
    random: SystemRandom,
}

/// redb's page cache for the ballot box: it holds the ballots of the rounds being voted, a few
/// hundred kilobytes.
const BALLOT_CACHE_BYTES: usize = 16 * 1024 * 1024;

impl std::fmt::Debug for BallotBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BallotBox")
    }
}

/// The sealed ballots of a round, as far as they could be opened.
#[derive(Default)]
pub struct Opened {
    /// The ballots whose records opened, ordered by record id (random).
    pub ballots: Vec<SealedBallot>,
    /// Records that could not be opened: the round's key was lost (the server stopped while it
    /// was open) or a record was damaged.
    pub unreadable: u64,
}

impl BallotBox {
    /// Opens (or creates) the ballot box at `path`. A file of an earlier version, which held
    /// ballots in plaintext, is replaced by a new one (its open rounds' ballots are lost, and
    /// those rounds are voided when closed).
    pub fn open(path: &Path) -> Result<Self, BallotBoxError> {
        let open_error = |detail: String| BallotBoxError::Open {
            path: path.to_path_buf(),
            detail,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| open_error(e.to_string()))?;
        }
        let mut db = Self::create(path)?;
        let legacy = {
            let txn = db.begin_read().map_err(|e| open_error(e.to_string()))?;
            match txn.open_table(LEGACY) {
                Ok(_) => true,
                Err(redb::TableError::TableDoesNotExist(_)) => false,
                Err(e) => return Err(open_error(e.to_string())),
            }
        };
        if legacy {
            // Dropping the table would leave its plaintext in free pages: the file goes.
            drop(db);
            std::fs::remove_file(path).map_err(|e| open_error(e.to_string()))?;
            tracing::warn!(path = %path.display(),
                "the ballot box of an earlier version held ballots in plaintext; it was replaced by an encrypted one (a round open across the upgrade is voided when closed)");
            db = Self::create(path)?;
        }
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
            keys: Arc::default(),
            random: SystemRandom::new(),
        })
    }

    fn create(path: &Path) -> Result<Database, BallotBoxError> {
        redb::Builder::new()
            .set_cache_size(BALLOT_CACHE_BYTES)
            .create(path)
            .map_err(|e| BallotBoxError::Open {
                path: path.to_path_buf(),
                detail: e.to_string(),
            })
    }

    fn keys(&self) -> std::sync::MutexGuard<'_, HashMap<(String, u32), Arc<RoundKey>>> {
        // A poisoned map only means another request panicked while holding it; its keys stand.
        self.keys
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The round's key, if this process holds one.
    fn key(&self, session: &str, round: u32) -> Option<Arc<RoundKey>> {
        self.keys().get(&(session.to_owned(), round)).cloned()
    }

    /// The round's key, drawn now if the round has none yet.
    fn key_or_new(&self, session: &str, round: u32) -> Result<Arc<RoundKey>, BallotBoxError> {
        let mut keys = self.keys();
        if let Some(key) = keys.get(&(session.to_owned(), round)) {
            return Ok(Arc::clone(key));
        }
        let key = Arc::new(RoundKey::generate(&self.random)?);
        keys.insert((session.to_owned(), round), Arc::clone(&key));
        Ok(key)
    }

    /// Forgets a round's key: its records can never be opened again.
    fn forget(&self, session: &str, round: u32) {
        self.keys().remove(&(session.to_owned(), round));
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

    /// Seals a ballot durably, its plaintext padded to `len` bytes (the same for every ballot of
    /// the session). Returns `false` (and writes nothing) when its id is already taken in the
    /// round: the caller draws a new id and decides again.
    pub async fn seal(&self, ballot: &SealedBallot, len: usize) -> Result<bool, BallotBoxError> {
        let session = ballot.session_id.as_str().to_owned();
        let round = ballot.round;
        let decode = |detail: &str| BallotBoxError::Decode {
            session: session.clone(),
            round,
            detail: detail.to_owned(),
        };
        let json = serde_json::to_vec(ballot).map_err(|e| decode(&e.to_string()))?;
        let mut sealed = pad(&json, len)
            .ok_or_else(|| decode("the ballot is larger than its round's records"))?;
        let key = self.key_or_new(&session, round)?;
        let record = key.record_id(&ballot.ballot_id);
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .map_err(|_| BallotBoxError::Random("the system random source failed".into()))?;
        key.aead
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(&session, round, &record)),
                &mut sealed,
            )
            .map_err(|_| decode("the ballot cannot be sealed"))?;
        let mut value = nonce.to_vec();
        value.extend_from_slice(&sealed);
        self.write(move |db| {
            let mut txn = db.begin_write()?;
            txn.set_durability(Durability::Immediate)?;
            {
                let mut table = txn.open_table(SEALED)?;
                if table
                    .get((session.as_str(), round, record.as_slice()))?
                    .is_some()
                {
                    return Ok(false);
                }
                table.insert(
                    (session.as_str(), round, record.as_slice()),
                    value.as_slice(),
                )?;
            }
            txn.commit()?;
            Ok(true)
        })
        .await
    }

    /// Every sealed ballot of a round that can be opened, and how many cannot.
    pub async fn take_all(
        &self,
        session: &SessionId,
        round: u32,
    ) -> Result<Opened, BallotBoxError> {
        let session = session.clone();
        let key = self.key(session.as_str(), round);
        self.read(move |db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(SEALED)?;
            let mut out = Opened::default();
            let start: (&str, u32, &[u8]) = (session.as_str(), round, &[]);
            for entry in table.range(start..)? {
                let (stored, value) = entry?;
                let (s, r, record) = stored.value();
                if s != session.as_str() || r != round {
                    break;
                }
                match key
                    .as_deref()
                    .and_then(|key| open(key, &session, round, record, value.value()))
                {
                    Some(ballot) => out.ballots.push(ballot),
                    None => out.unreadable += 1,
                }
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
        let Some(key) = self.key(session.as_str(), round) else {
            return Ok(());
        };
        let record = key.record_id(ballot_id);
        let session = session.as_str().to_owned();
        self.write(move |db| {
            let mut txn = db.begin_write()?;
            txn.set_durability(Durability::Immediate)?;
            txn.open_table(SEALED)?
                .remove((session.as_str(), round, record.as_slice()))?;
            txn.commit()?;
            Ok(())
        })
        .await
    }

    /// Removes every sealed ballot of a round (after publication or voiding) and forgets its
    /// key. Returns how many.
    pub async fn delete(&self, session: &SessionId, round: u32) -> Result<u64, BallotBoxError> {
        self.forget(session.as_str(), round);
        let session = session.as_str().to_owned();
        self.write(move |db| {
            let mut txn = db.begin_write()?;
            txn.set_durability(Durability::Immediate)?;
            let removed = {
                let mut table = txn.open_table(SEALED)?;
                let mut records: Vec<Vec<u8>> = Vec::new();
                let start: (&str, u32, &[u8]) = (session.as_str(), round, &[]);
                for entry in table.range(start..)? {
                    let (stored, _) = entry?;
                    let (s, r, record) = stored.value();
                    if s != session.as_str() || r != round {
                        break;
                    }
                    records.push(record.to_vec());
                }
                for record in &records {
                    table.remove((session.as_str(), round, record.as_slice()))?;
                }
                records.len() as u64
            };
            txn.commit()?;
            Ok(removed)
        })
        .await
    }
}

/// Opens one record with the round's key; `None` when it does not open or decode.
fn open(
    key: &RoundKey,
    session: &SessionId,
    round: u32,
    record: &[u8],
    value: &[u8],
) -> Option<SealedBallot> {
    let (nonce, sealed) = value.split_at_checked(NONCE_LEN)?;
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut buffer = sealed.to_vec();
    let plain = key
        .aead
        .open_in_place(
            nonce,
            Aad::from(aad(session.as_str(), round, record)),
            &mut buffer,
        )
        .ok()?;
    let ballot: SealedBallot = serde_json::from_slice(unpad(plain)?).ok()?;
    // The associated data binds the record to its place; the ballot must say the same.
    (ballot.session_id == *session
        && ballot.round == round
        && key.record_id(&ballot.ballot_id) == record)
        .then_some(ballot)
}

/// What the startup sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Rounds whose sealed ballots were removed (already published or voided) and how many.
    pub removed: Vec<(SessionId, u32, u64)>,
    /// Rounds still open whose sealed ballots could no longer be read (their key died with the
    /// process that held it) and which were voided for it.
    pub voided: Vec<(SessionId, u32)>,
    /// Rounds of sessions the log does not know, whose sealed records were kept.
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

    /// The startup sweep, over every round the box holds records of:
    /// * a round the log shows closed (its ballots published, or the round voided) loses its
    ///   leftovers — what a crash between publishing a round and deleting it leaves behind;
    /// * a round still open lost its key with the process that held it: if anyone voted in it,
    ///   it is voided (`VotingVoided`, reason `ballots_do_not_match_participation`) so that it
    ///   is voted again; if nobody did (a stop between sealing and recording a participation),
    ///   the records are removed and voting goes on;
    /// * a round of a session the log does not know keeps its records (nothing proves it
    ///   closed), which is logged.
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
            if loaded.schedule.is_none() || round > loaded.round {
                tracing::warn!(
                    %session,
                    round,
                    held,
                    "sealed ballots of a round the log does not know are kept"
                );
                report.kept.push((session, round));
                continue;
            }
            if still_voting
                && self.key(session.as_str(), round).is_none()
                && !loaded.voted.is_empty()
            {
                void_lost_round(handler, &stream, &loaded, round).await?;
                tracing::warn!(%session, round, held,
                    "the server stopped while this round was open: its sealed ballots can no longer be read, so the round was voided and is to be voted again");
                report.voided.push((session.clone(), round));
            }
            let removed = self.delete(&session, round).await?;
            tracing::info!(%session, round, removed, "sealed ballots of a closed round removed");
            report.removed.push((session, round, removed));
        }
        Ok(report)
    }
}

/// Voids an open round whose sealed ballots were lost, as the server itself.
async fn void_lost_round(
    handler: &Handler,
    stream: &StreamName,
    state: &SessionAggregate,
    round: u32,
) -> Result<(), BallotBoxError> {
    let ctx = Context {
        now: chrono::Utc::now(),
        actor: SERVER_ACTOR.into(),
        role: Role::Admin,
    };
    let metadata = Metadata {
        actor: Some(Actor {
            subject: SERVER_ACTOR.into(),
            role: Role::Admin.as_str().into(),
        }),
        committee: state
            .schedule
            .as_ref()
            .and_then(|s| s.committee.as_ref())
            .map(ToString::to_string),
        ..Metadata::default()
    };
    handler
        .execute::<SessionAggregate>(
            stream,
            &SessionCommand::VoidLostRound { round },
            &ctx,
            &metadata,
        )
        .await
        .map_err(|e| BallotBoxError::Storage(e.to_string()))?;
    Ok(())
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
    use crate::domain::evaluation::AppointeeId;
    use crate::domain::evaluation::tally::Choice;

    /// Every record of these tests is padded to this.
    const LEN: usize = 512;

    fn ballot(session: &str, round: u32, id: &str, code: &str) -> SealedBallot {
        SealedBallot {
            session_id: SessionId::parse(session).unwrap(),
            round,
            ballot_id: BallotId::parse(id).unwrap(),
            choices: [(
                AppointeeId::parse("subject-a1").unwrap(),
                Choice::Option(code.into()),
            )]
            .into_iter()
            .collect(),
        }
    }

    fn ids(opened: &Opened) -> Vec<String> {
        let mut ids: Vec<String> = opened
            .ballots
            .iter()
            .map(|b| b.ballot_id.as_str().to_owned())
            .collect();
        ids.sort();
        ids
    }

    fn contains(haystack: &[u8], needle: &str) -> bool {
        haystack
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
    }

    #[tokio::test]
    async fn seal_take_delete_keep_rounds_apart() {
        let dir = tempfile::tempdir().unwrap();
        let bx = BallotBox::open(&dir.path().join(BALLOTS_FILE)).unwrap();
        let s = SessionId::parse("s1").unwrap();
        assert!(
            bx.seal(&ballot("s1", 1, "b-2", "satisfied"), LEN)
                .await
                .unwrap()
        );
        assert!(
            bx.seal(&ballot("s1", 1, "b-1", "dissatisfied"), LEN)
                .await
                .unwrap()
        );
        assert!(
            bx.seal(&ballot("s1", 2, "b-3", "satisfied"), LEN)
                .await
                .unwrap()
        );
        assert!(
            bx.seal(&ballot("s10", 1, "b-4", "satisfied"), LEN)
                .await
                .unwrap()
        );
        // an id collision writes nothing
        assert!(
            !bx.seal(&ballot("s1", 1, "b-1", "satisfied"), LEN)
                .await
                .unwrap()
        );
        let round1 = bx.take_all(&s, 1).await.unwrap();
        assert_eq!(ids(&round1), ["b-1", "b-2"]);
        assert_eq!(round1.unreadable, 0);
        assert!(
            round1
                .ballots
                .contains(&ballot("s1", 1, "b-1", "dissatisfied"))
        );
        bx.remove(&s, 1, &BallotId::parse("b-2").unwrap())
            .await
            .unwrap();
        assert_eq!(ids(&bx.take_all(&s, 1).await.unwrap()), ["b-1"]);
        assert_eq!(bx.delete(&s, 1).await.unwrap(), 1);
        assert!(bx.take_all(&s, 1).await.unwrap().ballots.is_empty());
        assert_eq!(ids(&bx.take_all(&s, 2).await.unwrap()), ["b-3"]);
        let s10 = SessionId::parse("s10").unwrap();
        assert_eq!(ids(&bx.take_all(&s10, 1).await.unwrap()), ["b-4"]);
        // A ballot larger than the round's records is refused, not written longer.
        assert!(
            bx.seal(&ballot("s1", 3, "b-5", "satisfied"), 16)
                .await
                .is_err()
        );
    }

    /// The file holds no ballot id, no subject and no choice, free pages included; every record
    /// has the same length whatever its ballot; and another process (a restart) cannot open the
    /// records of a round sealed before.
    #[tokio::test]
    async fn the_file_holds_nothing_readable_and_a_restart_cannot_open_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(BALLOTS_FILE);
        let s = SessionId::parse("s1").unwrap();
        let codes = ["satisfied", "basically_satisfied", "dissatisfied"];
        {
            let bx = BallotBox::open(&path).unwrap();
            for i in 0..30 {
                let id = format!("receipt-{i:03}");
                assert!(
                    bx.seal(&ballot("s1", 1, &id, codes[i % 3]), LEN)
                        .await
                        .unwrap()
                );
                let bytes = std::fs::read(&path).unwrap();
                for needle in ["receipt-", "subject-a1", "satisfied", "option", "choices"] {
                    assert!(!contains(&bytes, needle), "{needle} after ballot {i}");
                }
            }
            let lengths: std::collections::BTreeSet<usize> = {
                let db = bx.db.read().unwrap();
                let txn = db.begin_read().unwrap();
                let table = txn.open_table(SEALED).unwrap();
                table
                    .iter()
                    .unwrap()
                    .map(|e| e.unwrap().1.value().len())
                    .collect()
            };
            assert_eq!(lengths.len(), 1, "{lengths:?}");
            assert_eq!(bx.take_all(&s, 1).await.unwrap().ballots.len(), 30);
        }
        let bx = BallotBox::open(&path).unwrap();
        let opened = bx.take_all(&s, 1).await.unwrap();
        assert!(opened.ballots.is_empty());
        assert_eq!(opened.unreadable, 30);
        assert_eq!(bx.held_rounds().await.unwrap(), vec![(s.clone(), 1, 30)]);
    }

    /// A record copied to another round's place does not open there.
    #[tokio::test]
    async fn a_record_moved_to_another_place_does_not_open() {
        let dir = tempfile::tempdir().unwrap();
        let bx = BallotBox::open(&dir.path().join(BALLOTS_FILE)).unwrap();
        assert!(
            bx.seal(&ballot("s1", 1, "b-1", "satisfied"), LEN)
                .await
                .unwrap()
        );
        assert!(
            bx.seal(&ballot("s1", 1, "b-2", "satisfied"), LEN)
                .await
                .unwrap()
        );
        let db = bx.db.read().unwrap();
        let (record, value) = {
            let txn = db.begin_read().unwrap();
            let table = txn.open_table(SEALED).unwrap();
            let (k, v) = table.first().unwrap().unwrap();
            (k.value().2.to_vec(), v.value().to_vec())
        };
        let key = bx.key("s1", 1).unwrap();
        let s1 = SessionId::parse("s1").unwrap();
        assert!(open(&key, &s1, 1, &record, &value).is_some());
        assert!(open(&key, &s1, 2, &record, &value).is_none());
        let mut other = record.clone();
        other[0] ^= 1;
        assert!(open(&key, &s1, 1, &other, &value).is_none());
        let mut flipped = value.clone();
        flipped[NONCE_LEN + 3] ^= 1;
        assert!(open(&key, &s1, 1, &record, &flipped).is_none());
    }

    /// A file of an earlier version, with ballots in plaintext, is replaced at open.
    #[tokio::test]
    async fn a_plaintext_box_of_an_earlier_version_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(BALLOTS_FILE);
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(LEGACY)
                .unwrap()
                .insert(
                    ("s1", 1, "b-1"),
                    br#"{"a-1":{"option":"satisfied"}}"#.as_slice(),
                )
                .unwrap();
            txn.commit().unwrap();
        }
        assert!(contains(&std::fs::read(&path).unwrap(), "satisfied"));
        let bx = BallotBox::open(&path).unwrap();
        assert!(bx.held_rounds().await.unwrap().is_empty());
        assert!(!contains(&std::fs::read(&path).unwrap(), "satisfied"));
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
        assert!(
            bx.seal(&ballot("s1", 1, "b-1", "satisfied"), LEN)
                .await
                .unwrap()
        );
        let failed = bx
            .write(|_| Err::<(), _>(BallotBoxError::Storage("No space left on device".into())))
            .await;
        assert!(failed.is_err());
        assert!(
            !bx.db.is_writable(),
            "a storage failure marks the box for a reopen"
        );
        // The next seal reopens it.
        assert!(
            bx.seal(&ballot("s1", 1, "b-2", "satisfied"), LEN)
                .await
                .unwrap()
        );
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
        assert_eq!(ids(&bx.take_all(&s, 1).await.unwrap()), ["b-1", "b-2"]);
    }
}
