//! The issued tokens: [`TokenStore`] keeps only their SHA-256 digests (in memory and in
//! `tokens.json`). On first start it creates the admin token in `admin.token` (mode 0600), the
//! one place the secret is ever written. Tokens may carry an expiry and a revocation time;
//! `oversight admin token …` ([`crate::auth::tokens`]) edits `tokens.json` atomically and the
//! running server re-reads it when the file changes, checked on every call, so a revocation
//! takes effect on the next call.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::auth::principal::{AuthError, Authenticator, Principal, Role};

/// The file in the data directory that holds the admin token.
pub const ADMIN_TOKEN_FILE: &str = "admin.token";
/// The file in the data directory that holds the digests of all tokens.
pub const TOKENS_FILE: &str = "tokens.json";
/// The prefix of every token, so that leaked tokens are easy to recognise.
pub const TOKEN_PREFIX: &str = "ovs_";

/// Why the token files could not be set up.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TokenStoreError {
    /// A token file could not be read or written.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was attempted.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// `tokens.json` does not parse.
    #[error(
        "{path} is not a valid token file ({detail}); restore it or delete it and admin.token to issue a new admin token"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

/// One issued token, by digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TokenEntry {
    /// A public name of the token, for listing and revoking (absent on hand-written entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<String>,
    pub(crate) subject: String,
    pub(crate) role: Role,
    #[serde(default)]
    pub(crate) committee: Option<String>,
    #[serde(default)]
    pub(crate) deputy_group: Option<String>,
    /// Hex SHA-256 of the token.
    pub(crate) sha256: String,
    /// When it was issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) issued_at: Option<DateTime<Utc>>,
    /// From when it is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) expires_at: Option<DateTime<Utc>>,
    /// When it was revoked; a revoked token is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct TokenFile {
    pub(crate) tokens: Vec<TokenEntry>,
}

/// A token the store accepts until `expires_at`.
#[derive(Debug, Clone)]
struct Accepted {
    /// The token's public name, when it has one.
    id: Option<String>,
    hash: [u8; 32],
    principal: Principal,
    expires_at: Option<DateTime<Utc>>,
}

/// What identifies a version of a file the server follows (`tokens.json`, the OpenID Connect
/// key set): a change of any part means a re-read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl FileStamp {
    /// The stamp of the file at `path` now, `None` if it cannot be read.
    pub(crate) fn of(path: &Path) -> Option<Self> {
        let meta = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let inode = 0;
        Some(Self {
            modified: meta.modified().ok(),
            len: meta.len(),
            inode,
        })
    }
}

/// Entries read from a file the server follows, read again whenever the file's
/// [`FileStamp`] changes. A version that cannot be read or used keeps the entries read before
/// in force and is reported once per change.
#[derive(Debug)]
pub(crate) struct Followed<T> {
    path: PathBuf,
    /// What the file is, for the log ("token file").
    what: &'static str,
    current: RwLock<(Arc<Vec<T>>, Option<FileStamp>)>,
}

impl<T> Followed<T> {
    /// Follows `path`, whose version `stamp` (taken before the read) gave `entries`.
    pub(crate) fn new(
        path: PathBuf,
        what: &'static str,
        entries: Vec<T>,
        stamp: Option<FileStamp>,
    ) -> Self {
        Self {
            path,
            what,
            current: RwLock::new((Arc::new(entries), stamp)),
        }
    }

    /// The entries in force, read again with `read` first if the file changed since the last
    /// read.
    pub(crate) fn current<E: std::fmt::Display>(
        &self,
        read: impl FnOnce(&Path) -> Result<Vec<T>, E>,
    ) -> Arc<Vec<T>> {
        let stamp = FileStamp::of(&self.path);
        {
            let current = self.current.read().unwrap_or_else(|e| e.into_inner());
            if current.1 == stamp {
                return Arc::clone(&current.0);
            }
        }
        let reread = read(&self.path);
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        current.1 = stamp;
        match reread {
            Ok(entries) => {
                tracing::info!(path = %self.path.display(), entries = entries.len(),
                    "{} re-read", self.what);
                current.0 = Arc::new(entries);
            }
            Err(error) => tracing::error!(
                path = %self.path.display(),
                %error,
                "cannot re-read the {}; what was read before stays in force",
                self.what
            ),
        }
        Arc::clone(&current.0)
    }
}

/// The issued tokens, by SHA-256 digest; follows changes of `tokens.json`.
#[derive(Debug)]
pub struct TokenStore {
    accepted: Followed<Accepted>,
    admin_token_path: PathBuf,
}

impl TokenStore {
    /// Loads the token digests from `data_dir`, creating the admin token on first start.
    /// Never overwrites an existing `admin.token`.
    pub fn open(data_dir: &Path) -> Result<Self, TokenStoreError> {
        let admin_token_path = data_dir.join(ADMIN_TOKEN_FILE);
        let tokens_path = data_dir.join(TOKENS_FILE);
        let file = match std::fs::read(&tokens_path) {
            Ok(bytes) => serde_json::from_slice::<TokenFile>(&bytes).map_err(|e| {
                TokenStoreError::Corrupt {
                    path: tokens_path.clone(),
                    detail: e.to_string(),
                }
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let token = match std::fs::read_to_string(&admin_token_path) {
                    // A previous start wrote the token but not the digest file: adopt it.
                    Ok(existing) => existing.trim().to_string(),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        let token = new_token();
                        write_secret(&admin_token_path, format!("{token}\n").as_bytes())?;
                        tracing::info!(path = %admin_token_path.display(), "created the admin token");
                        token
                    }
                    Err(source) => {
                        return Err(TokenStoreError::Io {
                            action: "read",
                            path: admin_token_path,
                            source,
                        });
                    }
                };
                let file = TokenFile {
                    tokens: vec![TokenEntry {
                        id: Some("admin".to_string()),
                        subject: "admin".to_string(),
                        role: Role::Admin,
                        committee: None,
                        deputy_group: None,
                        sha256: hex::encode(digest(&token)),
                        issued_at: Some(Utc::now()),
                        expires_at: None,
                        revoked_at: None,
                    }],
                };
                let json =
                    serde_json::to_vec_pretty(&file).map_err(|e| TokenStoreError::Corrupt {
                        path: tokens_path.clone(),
                        detail: e.to_string(),
                    })?;
                write_secret(&tokens_path, &json)?;
                file
            }
            Err(source) => {
                return Err(TokenStoreError::Io {
                    action: "read",
                    path: tokens_path,
                    source,
                });
            }
        };
        let stamp = FileStamp::of(&tokens_path);
        let accepted = accepted(file, &tokens_path)?;
        tracing::info!(path = %admin_token_path.display(), "the admin token is in this file");
        Ok(Self {
            accepted: Followed::new(tokens_path, "token file", accepted, stamp),
            admin_token_path,
        })
    }

    /// The principal `bearer` stands for at `now`: known, not revoked and not expired.
    pub fn authenticate_at(
        &self,
        bearer: &str,
        now: DateTime<Utc>,
    ) -> Result<Principal, AuthError> {
        let entries = self.current();
        let presented = digest(bearer);
        // Compare every entry in full (no early exit) so timing reveals nothing about the
        // digests; comparing digests rather than tokens already hides the secret's bytes.
        let mut found = None;
        for entry in entries.iter() {
            if constant_time_eq(&entry.hash, &presented) {
                found = Some(entry);
            }
        }
        match found {
            None => Err(AuthError::Invalid),
            Some(entry) if entry.expires_at.is_some_and(|at| at <= now) => {
                Err(AuthError::Expired {
                    subject: entry.principal.subject.clone(),
                })
            }
            Some(entry) => entry.principal.clone().refuse_scoped_admin(),
        }
    }

    /// The principal of the token whose public name is `id`, at `now`: known, not revoked and
    /// not expired. The pages' sign-in links and sessions name their token this way, never by
    /// its secret, so revoking the token ends them on their next use.
    pub fn principal_by_id(&self, id: &str, now: DateTime<Utc>) -> Result<Principal, AuthError> {
        let entries = self.current();
        match entries.iter().find(|entry| entry.id.as_deref() == Some(id)) {
            None => Err(AuthError::Invalid),
            Some(entry) if entry.expires_at.is_some_and(|at| at <= now) => {
                Err(AuthError::Expired {
                    subject: entry.principal.subject.clone(),
                })
            }
            Some(entry) => entry.principal.clone().refuse_scoped_admin(),
        }
    }

    /// The accepted tokens, read again first if `tokens.json` changed.
    fn current(&self) -> Arc<Vec<Accepted>> {
        self.accepted.current(|path| {
            std::fs::read(path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| {
                    serde_json::from_slice::<TokenFile>(&bytes).map_err(|e| e.to_string())
                })
                .and_then(|file| accepted(file, path).map_err(|e| e.to_string()))
        })
    }

    /// Where the admin token is written.
    pub fn admin_token_path(&self) -> &Path {
        &self.admin_token_path
    }
}

impl Authenticator for TokenStore {
    fn authenticate(&self, bearer: &str) -> Result<Principal, AuthError> {
        self.authenticate_at(bearer, Utc::now())
    }
}

/// The tokens of `file` that are not revoked, with their digests decoded.
fn accepted(file: TokenFile, tokens_path: &Path) -> Result<Vec<Accepted>, TokenStoreError> {
    let mut accepted = Vec::with_capacity(file.tokens.len());
    for entry in file.tokens {
        let mut hash = [0u8; 32];
        hex::decode_to_slice(&entry.sha256, &mut hash).map_err(|e| TokenStoreError::Corrupt {
            path: tokens_path.to_path_buf(),
            detail: format!("digest of {}: {e}", entry.subject),
        })?;
        if entry.revoked_at.is_some() {
            continue;
        }
        if let (Role::Admin, Some(committee)) = (entry.role, &entry.committee) {
            // Written by hand or by an earlier version: refused when presented (see
            // `Principal::refuse_scoped_admin`); said here so the operator can fix the file.
            tracing::warn!(
                subject = %entry.subject,
                committee = %committee,
                path = %tokens_path.display(),
                "an admin token names a committee, which an admin cannot be held to; it is refused until revoked and reissued without a committee"
            );
        }
        accepted.push(Accepted {
            id: entry.id,
            hash,
            principal: Principal {
                subject: entry.subject,
                role: entry.role,
                committee: entry.committee,
                deputy_group: entry.deputy_group,
            },
            expires_at: entry.expires_at,
        });
    }
    Ok(accepted)
}

pub(crate) fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

pub(crate) fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Creates `path` with mode 0600, failing if it exists.
pub(crate) fn write_secret(path: &Path, contents: &[u8]) -> Result<(), TokenStoreError> {
    let io = |source| TokenStoreError::Io {
        action: "create",
        path: path.to_path_buf(),
        source,
    };
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    file.write_all(contents).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(())
}
