//! The log's signing key and its signed checkpoints: the key file (created on first start beside
//! the admin token, mode 0600, or named in the configuration), the task that signs the Merkle
//! tree's head every `checkpoints.interval_secs` while the log grows, signing on demand
//! ([`Checkpointer::sign_now`]), key rotation, and the check at start that the log still holds
//! the tree its last signed checkpoint states.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio_util::sync::CancellationToken;

use crate::log::checkpoint::{Checkpoint, KEY_ROTATION, SignedCheckpoint};
use crate::log::note::{ED25519, Note, NoteSigner, NoteVerifier};
use crate::log::{AppendError, EventStore, ReadError, StoredCheckpoint};

/// The key file's name in the data directory.
pub const LOG_KEY_FILE: &str = "log.key";
/// Appended to the key file's name for the next key (`oversight admin key rotate` writes it;
/// the next start rotates to it).
pub const NEXT_KEY_SUFFIX: &str = "next";

/// Why the key or the checkpoints could not be used.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The key file could not be read or written.
    #[error("cannot {action} the log's signing key {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The key file does not hold a usable key.
    #[error("{path} is not a usable signing key: {detail}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The log no longer holds the tree its last signed checkpoint states.
    #[error(
        "the log does not match its last signed checkpoint (size {size}): {detail}; the log was changed after it was signed — restore it from a backup, or compare it with the checkpoints its witnesses hold"
    )]
    Mismatch {
        /// The checkpoint's size.
        size: u64,
        /// What differs.
        detail: String,
    },
    /// Reading the log failed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// Storing a checkpoint failed.
    #[error("cannot store a signed checkpoint: {0}")]
    Store(#[from] AppendError),
}

/// The path of the next key for the key file `key`: `<key>.next`.
pub fn next_key_path(key: &Path) -> PathBuf {
    let mut name = key.as_os_str().to_os_string();
    name.push(".");
    name.push(NEXT_KEY_SUFFIX);
    PathBuf::from(name)
}

/// Reads the signing key in `path`.
pub fn read_key(path: &Path) -> Result<NoteSigner, CheckpointError> {
    let text = std::fs::read_to_string(path).map_err(|source| CheckpointError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })?;
    NoteSigner::parse(&text).map_err(|e| CheckpointError::Key {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })
}

/// Writes a new key named `name` to `path` (mode 0600), refusing to overwrite a file.
pub fn create_key(path: &Path, name: &str) -> Result<NoteSigner, CheckpointError> {
    let signer = NoteSigner::generate(name, ED25519).map_err(|e| CheckpointError::Key {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    crate::auth::write_secret(path, format!("{}\n", signer.to_private_text()).as_bytes()).map_err(
        |e| CheckpointError::Key {
            path: path.to_path_buf(),
            detail: e.to_string(),
        },
    )?;
    Ok(signer)
}

/// The key in `path`, created (named `name`) if the file does not exist. A key of another
/// name is refused: the key's name is the log's name, which every verifier was given.
pub fn load_or_create_key(path: &Path, name: &str) -> Result<NoteSigner, CheckpointError> {
    let signer = if path.exists() {
        read_key(path)?
    } else {
        let signer = create_key(path, name)?;
        tracing::info!(path = %path.display(), key = %signer.verifier(), "created the log's signing key");
        signer
    };
    if signer.name() != name {
        return Err(CheckpointError::Key {
            path: path.to_path_buf(),
            detail: format!(
                "it is named {:?} but the log is named {name:?} (checkpoints.log_name); set the \
                 name back, or give the log a new key",
                signer.name()
            ),
        });
    }
    Ok(signer)
}

/// Signs and keeps the log's checkpoints.
pub struct Checkpointer {
    store: Arc<dyn EventStore>,
    origin: String,
    signer: NoteSigner,
    /// Held while a checkpoint is signed and stored, so two callers do not sign the same size.
    signing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Checkpointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpointer")
            .field("origin", &self.origin)
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

impl Checkpointer {
    /// A checkpointer for the log `origin` signing with `signer`.
    pub fn new(store: Arc<dyn EventStore>, origin: &str, signer: NoteSigner) -> Self {
        Self {
            store,
            origin: origin.to_string(),
            signer,
            signing: tokio::sync::Mutex::new(()),
        }
    }

    /// The log's name (every checkpoint's origin line).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The verifier key of the signing key.
    pub fn verifier(&self) -> NoteVerifier {
        self.signer.verifier()
    }

    /// Checks that the log still holds the tree its last signed checkpoint states (the root at
    /// that size is the signed one), so a log whose history was rewritten in its file is
    /// refused at start instead of signed anew. A log with no checkpoint yet passes.
    pub async fn check_log(&self) -> Result<(), CheckpointError> {
        let Some(last) = self.store.checkpoint(None).await? else {
            return Ok(());
        };
        let mismatch = |detail: String| CheckpointError::Mismatch {
            size: last.size,
            detail,
        };
        let signed = SignedCheckpoint::parse(&last.note).map_err(|e| mismatch(e.to_string()))?;
        if signed.checkpoint.size != last.size {
            return Err(mismatch(format!(
                "it is stored under size {} but states size {}",
                last.size, signed.checkpoint.size
            )));
        }
        let head = self.store.tree_head().await?;
        if head.size < last.size {
            return Err(mismatch(format!(
                "the log holds only {} records",
                head.size
            )));
        }
        let root = self.store.tree_root(last.size).await?;
        if root != signed.checkpoint.root {
            return Err(mismatch(
                "the Merkle tree's root at that size is not the one signed".into(),
            ));
        }
        Ok(())
    }

    /// A signed checkpoint of the log as it is now: the stored one if the latest is of the
    /// current size, else a new one, signed and stored. What an announcement asks for.
    pub async fn sign_now(&self) -> Result<SignedCheckpoint, CheckpointError> {
        let _signing = self.signing.lock().await;
        let head = self.store.tree_head().await?;
        if let Some(last) = self.store.checkpoint(None).await?
            && last.size == head.size
            && let Ok(signed) = SignedCheckpoint::parse(&last.note)
            && signed.checkpoint.root == head.root
        {
            return Ok(signed);
        }
        let checkpoint = Checkpoint::new(&self.origin, head.size, head.root);
        let signed = self.sign(checkpoint, &[&self.signer])?;
        self.store
            .put_checkpoint(StoredCheckpoint {
                size: head.size,
                note: signed.to_text(),
                rotation: false,
            })
            .await?;
        Ok(signed)
    }

    /// Signs `checkpoint` with `signers`.
    fn sign(
        &self,
        checkpoint: Checkpoint,
        signers: &[&NoteSigner],
    ) -> Result<SignedCheckpoint, CheckpointError> {
        let mut note = Note::new(checkpoint.text()).map_err(|e| CheckpointError::Key {
            path: PathBuf::from(&self.origin),
            detail: e.to_string(),
        })?;
        for signer in signers {
            note.add(signer.sign(&note.text));
        }
        Ok(SignedCheckpoint { checkpoint, note })
    }

    /// Rotates to `next`: signs the current tree head with an extension line announcing `next`,
    /// by the current key and by `next`, stores it as a key rotation, and returns the
    /// checkpointer that signs with `next` from now on.
    pub async fn rotate(
        self,
        next: NoteSigner,
    ) -> Result<(Self, SignedCheckpoint), CheckpointError> {
        let head = self.store.tree_head().await?;
        let mut checkpoint = Checkpoint::new(&self.origin, head.size, head.root);
        checkpoint
            .extensions
            .push(format!("{KEY_ROTATION}{}", next.verifier()));
        let signed = self.sign(checkpoint, &[&self.signer, &next])?;
        self.store
            .put_checkpoint(StoredCheckpoint {
                size: head.size,
                note: signed.to_text(),
                rotation: true,
            })
            .await?;
        Ok((
            Self::new(Arc::clone(&self.store), &self.origin, next),
            signed,
        ))
    }

    /// Signs a checkpoint every `interval` while the log grows (none while it is idle), until
    /// `shutdown`; a failure is logged and tried again at the next tick.
    pub async fn run(self: Arc<Self>, interval: Duration, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(interval.max(Duration::from_millis(10)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut signed = match self.store.checkpoint(None).await {
            Ok(last) => last.map_or(0, |c| c.size),
            Err(_) => 0,
        };
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = shutdown.cancelled() => return,
            }
            let size = match self.store.tree_head().await {
                Ok(head) => head.size,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the tree head to sign a checkpoint");
                    continue;
                }
            };
            if size == 0 || size == signed {
                continue;
            }
            match self.sign_now().await {
                Ok(checkpoint) => {
                    signed = checkpoint.checkpoint.size;
                    tracing::debug!(size = signed, "signed a checkpoint");
                }
                Err(e) => tracing::warn!(error = %e, "a checkpoint could not be signed"),
            }
        }
    }
}

/// Sets up the checkpointer of a server: the key (created if missing), a rotation to
/// `<key>.next` if that file exists (the old key's file is kept as `<key>.<key id>.retired`),
/// and the check of the log against its last signed checkpoint.
pub async fn start(
    store: Arc<dyn EventStore>,
    origin: &str,
    key_path: &Path,
) -> Result<Checkpointer, CheckpointError> {
    let signer = load_or_create_key(key_path, origin)?;
    let checkpointer = Checkpointer::new(store, origin, signer);
    checkpointer.check_log().await?;
    let next = next_key_path(key_path);
    if !next.exists() {
        return Ok(checkpointer);
    }
    let next_signer = read_key(&next)?;
    if next_signer.name() != origin {
        return Err(CheckpointError::Key {
            path: next,
            detail: format!(
                "it is named {:?} but the log is named {origin:?}",
                next_signer.name()
            ),
        });
    }
    let old_id = checkpointer.verifier().key_id();
    let (checkpointer, rotation) = checkpointer.rotate(next_signer).await?;
    let mut retired = key_path.as_os_str().to_os_string();
    retired.push(format!(".{old_id:08x}.retired"));
    let io = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| CheckpointError::Io {
            action,
            path,
            source,
        }
    };
    // Keep the old key under a second name before the next one replaces it, so that a crash
    // in between leaves either both files as they were (the rotation is made again) or the
    // rotation done.
    match std::fs::hard_link(key_path, &retired) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io("retire", key_path)(e)),
    }
    std::fs::rename(&next, key_path).map_err(io("install", &next))?;
    tracing::warn!(
        size = rotation.checkpoint.size,
        key = %checkpointer.verifier(),
        "the log's signing key was rotated; the rotation is announced by a checkpoint signed with both keys"
    );
    Ok(checkpointer)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use tempfile::TempDir;

    use super::*;
    use crate::log::{
        AppendRequest, ContentType, EventType, ExpectedRevision, Metadata, ProposedEvent,
        RedbStore, StoreOptions, StreamName,
    };

    const ORIGIN: &str = "city.example/log";

    async fn append(store: &RedbStore, n: usize) {
        for i in 0..n {
            store
                .append(AppendRequest::single(
                    StreamName::new("s").unwrap(),
                    ExpectedRevision::Any,
                    vec![ProposedEvent {
                        event_id: uuid::Uuid::new_v4(),
                        event_type: EventType::new("Thing.v1").unwrap(),
                        data: format!("{{\"i\":{i}}}").into_bytes(),
                        content_type: ContentType::Json,
                        metadata: Metadata::default(),
                    }],
                ))
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    async fn the_key_is_created_once_private_and_signs_checkpoints_of_the_tree() {
        let dir = TempDir::new().unwrap();
        let store = RedbStore::open(&dir.path().join("log.redb"), StoreOptions::default()).unwrap();
        append(&store, 5).await;
        let key = dir.path().join(LOG_KEY_FILE);
        let checkpointer = start(store.clone(), ORIGIN, &key).await.unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let signed = checkpointer.sign_now().await.unwrap();
        assert_eq!(signed.checkpoint.size, 5);
        assert_eq!(
            signed.checkpoint.root,
            store.tree_head().await.unwrap().root
        );
        assert!(signed.verify(&[checkpointer.verifier()]).is_ok());
        // Asked again with nothing new, the stored one is handed out.
        assert_eq!(checkpointer.sign_now().await.unwrap(), signed);
        let stored = store.checkpoint(None).await.unwrap().unwrap();
        assert_eq!((stored.size, stored.note), (5, signed.to_text()));

        // The same key comes back at the next start; a key of another name is refused.
        let again = start(store.clone(), ORIGIN, &key).await.unwrap();
        assert_eq!(again.verifier(), checkpointer.verifier());
        assert!(matches!(
            start(store.clone(), "other.example/log", &key).await,
            Err(CheckpointError::Key { .. })
        ));
        store.shutdown().await;
    }

    #[tokio::test]
    async fn a_rotation_is_signed_by_both_keys_and_old_checkpoints_still_verify() {
        let dir = TempDir::new().unwrap();
        let store = RedbStore::open(&dir.path().join("log.redb"), StoreOptions::default()).unwrap();
        append(&store, 3).await;
        let key = dir.path().join(LOG_KEY_FILE);
        let first = start(store.clone(), ORIGIN, &key).await.unwrap();
        let old_checkpoint = first.sign_now().await.unwrap();
        let old_key = first.verifier();
        create_key(&next_key_path(&key), ORIGIN).unwrap();
        append(&store, 2).await;

        let second = start(store.clone(), ORIGIN, &key).await.unwrap();
        assert_ne!(second.verifier(), old_key);
        assert!(!next_key_path(&key).exists());
        let rotations = store.key_rotations().await.unwrap();
        assert_eq!(rotations.len(), 1);
        let rotation = SignedCheckpoint::parse(&rotations[0].note).unwrap();
        assert_eq!(rotation.checkpoint.size, 5);
        assert_eq!(
            rotation.checkpoint.announced_key().unwrap(),
            Some(second.verifier())
        );
        append(&store, 1).await;
        let new_checkpoint = second.sign_now().await.unwrap();
        let trusted =
            crate::log::checkpoint::follow_rotations(std::slice::from_ref(&old_key), &[rotation]);
        assert!(new_checkpoint.verify(&trusted).is_ok());
        assert!(old_checkpoint.verify(&trusted).is_ok());
        assert!(new_checkpoint.verify(&[old_key]).is_err());
        store.shutdown().await;
    }

    #[tokio::test]
    async fn a_log_rewritten_after_its_checkpoint_is_refused_at_start() {
        use crate::log::codec::{chain_hash, split_stored};
        use redb::ReadableTable;
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("log.redb");
        let key = dir.path().join(LOG_KEY_FILE);
        let store = RedbStore::open(&path, StoreOptions::default()).unwrap();
        append(&store, 8).await;
        start(store.clone(), ORIGIN, &key)
            .await
            .unwrap()
            .sign_now()
            .await
            .unwrap();
        store.shutdown().await;
        drop(store);

        // Change record 4, recompute the chain after it and the head, and drop the Merkle tree
        // so that the next open builds it again from the changed records: every check inside
        // the file passes.
        {
            let db = redb::Database::open(&path).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let events: redb::TableDefinition<u64, &[u8]> =
                    redb::TableDefinition::new("events");
                let mut table = txn.open_table(events).unwrap();
                let mut prev = split_stored(table.get(3).unwrap().unwrap().value())
                    .unwrap()
                    .1;
                for position in 4..=8u64 {
                    let stored = table.get(position).unwrap().unwrap().value().to_vec();
                    let mut canonical = split_stored(&stored).unwrap().0.to_vec();
                    if position == 4 {
                        let at = canonical.len() - 2;
                        canonical[at] = b'7';
                    }
                    let hash = chain_hash(&prev, &canonical);
                    canonical.extend_from_slice(&hash);
                    table.insert(position, canonical.as_slice()).unwrap();
                    prev = hash;
                }
                let meta: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta");
                let mut meta = txn.open_table(meta).unwrap();
                let mut head = 8u64.to_be_bytes().to_vec();
                head.extend_from_slice(&prev);
                meta.insert("head", head.as_slice()).unwrap();
            }
            let merkle: redb::TableDefinition<u64, [u8; 32]> =
                redb::TableDefinition::new("merkle_nodes");
            txn.delete_table(merkle).unwrap();
            txn.commit().unwrap();
        }
        let store = RedbStore::open(&path, StoreOptions::default()).unwrap();
        assert!(store.verify(0, 0).await.unwrap().first_bad.is_none());
        let refused = start(store.clone(), ORIGIN, &key).await;
        assert!(
            matches!(refused, Err(CheckpointError::Mismatch { size: 8, .. })),
            "{refused:?}"
        );
        store.shutdown().await;
    }
}
