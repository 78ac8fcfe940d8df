//! Managing the issued tokens in a data directory's `tokens.json`: issue, list, revoke. Used by
//! `oversight admin token …` on the server's host; the running server re-reads the file when
//! it changes (see [`crate::auth::TokenStore`]), so a revocation applies to the next call.
//!
//! Only the SHA-256 digest of a token is stored; the secret is returned once by [`issue`] and
//! never written. Every change replaces the file atomically (a private temporary file, fsync,
//! rename) under a lock file, so the server never reads half a file and two commands never
//! lose each other's change.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;
use thiserror::Error;

use crate::auth::principal::Role;
use crate::auth::store::{
    ADMIN_TOKEN_FILE, TOKENS_FILE, TokenEntry, TokenFile, digest, new_token, write_secret,
};

/// Why a token command failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TokenAdminError {
    /// The data directory has no token file yet.
    #[error(
        "{path} does not exist; start the server once with this data directory (it creates the admin token) or pass the server's --data-dir"
    )]
    NoTokenFile {
        /// The missing file.
        path: PathBuf,
    },
    /// Reading or writing a file failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was attempted.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Another token command holds the lock.
    #[error(
        "another token command is changing {path}; retry, or delete {lock} if no such command is running"
    )]
    Locked {
        /// The token file.
        path: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// The token file does not parse.
    #[error("{path} is not a valid token file: {detail}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The request is not a valid token.
    #[error("{0}")]
    Invalid(String),
    /// Nothing matched the revocation.
    #[error("no active token {0}; `oversight admin token list` shows them")]
    NotFound(String),
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let roles = [
            Role::Admin,
            Role::Clerk,
            Role::Chair,
            Role::CommitteeMember,
            Role::Deputy,
            Role::Appointee,
            Role::Reporter,
            Role::Auditor,
        ];
        let wanted = s.trim().replace('-', "_");
        roles
            .into_iter()
            .find(|role| role.as_str() == wanted)
            .ok_or_else(|| {
                let names: Vec<_> = roles.iter().map(|r| r.as_str()).collect();
                format!("unknown role {s:?}; choose one of {}", names.join(", "))
            })
    }
}

/// A token to issue.
#[derive(Debug, Clone)]
pub struct IssueRequest {
    /// Who it is for (for an appointee: the appointee id).
    pub subject: String,
    /// The role it acts in.
    pub role: Role,
    /// Its committee.
    pub committee: Option<String>,
    /// Its deputy group.
    pub deputy_group: Option<String>,
    /// From when it is refused.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A token as listed: everything but the secret and its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// The token's public name (`-` for entries written by hand).
    pub id: String,
    /// Who it is for.
    pub subject: String,
    /// Its role.
    pub role: Role,
    /// Its committee.
    pub committee: Option<String>,
    /// Its deputy group.
    pub deputy_group: Option<String>,
    /// When it was issued.
    pub issued_at: Option<DateTime<Utc>>,
    /// From when it is refused.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// `active`, `expired` or `revoked`, judged at the time of listing.
    pub status: &'static str,
}

impl TokenInfo {
    fn of(entry: &TokenEntry, now: DateTime<Utc>) -> Self {
        let status = if entry.revoked_at.is_some() {
            "revoked"
        } else if entry.expires_at.is_some_and(|at| at <= now) {
            "expired"
        } else {
            "active"
        };
        Self {
            id: entry.id.clone().unwrap_or_else(|| "-".to_string()),
            subject: entry.subject.clone(),
            role: entry.role,
            committee: entry.committee.clone(),
            deputy_group: entry.deputy_group.clone(),
            issued_at: entry.issued_at,
            expires_at: entry.expires_at,
            revoked_at: entry.revoked_at,
            status,
        }
    }
}

/// Which tokens to revoke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoke {
    /// The token with this id.
    Id(String),
    /// Every active token of this subject.
    Subject(String),
}

/// Issues a token: stores its digest and returns the secret (shown once) with its listing.
pub fn issue(
    data_dir: &Path,
    request: IssueRequest,
    now: DateTime<Utc>,
) -> Result<(String, TokenInfo), TokenAdminError> {
    validate(&request, now)?;
    change(data_dir, |file| {
        let token = new_token();
        let id = loop {
            let candidate = format!("tok_{}", hex::encode(rand::random::<[u8; 6]>()));
            if !file
                .tokens
                .iter()
                .any(|t| t.id.as_deref() == Some(&candidate))
            {
                break candidate;
            }
        };
        let entry = TokenEntry {
            id: Some(id),
            subject: request.subject.clone(),
            role: request.role,
            committee: request.committee.clone(),
            deputy_group: request.deputy_group.clone(),
            sha256: hex::encode(digest(&token)),
            issued_at: Some(now),
            expires_at: request.expires_at,
            revoked_at: None,
        };
        let info = TokenInfo::of(&entry, now);
        file.tokens.push(entry);
        Ok((token, info))
    })
}

/// Every token in the file, revoked and expired ones included.
pub fn list(data_dir: &Path, now: DateTime<Utc>) -> Result<Vec<TokenInfo>, TokenAdminError> {
    let path = data_dir.join(TOKENS_FILE);
    let file = read(&path)?;
    Ok(file.tokens.iter().map(|t| TokenInfo::of(t, now)).collect())
}

/// Marks the matching active tokens revoked; returns them.
pub fn revoke(
    data_dir: &Path,
    which: &Revoke,
    now: DateTime<Utc>,
) -> Result<Vec<TokenInfo>, TokenAdminError> {
    change(data_dir, |file| {
        let mut revoked = Vec::new();
        for entry in &mut file.tokens {
            let matches = match which {
                Revoke::Id(id) => entry.id.as_deref() == Some(id.as_str()),
                Revoke::Subject(subject) => entry.subject == *subject,
            };
            if matches && entry.revoked_at.is_none() {
                entry.revoked_at = Some(now);
                revoked.push(TokenInfo::of(entry, now));
            }
        }
        if revoked.is_empty() {
            return Err(TokenAdminError::NotFound(match which {
                Revoke::Id(id) => format!("with id {id}"),
                Revoke::Subject(subject) => format!("of subject {subject}"),
            }));
        }
        Ok(revoked)
    })
}

fn validate(request: &IssueRequest, now: DateTime<Utc>) -> Result<(), TokenAdminError> {
    let invalid = |text: String| Err(TokenAdminError::Invalid(text));
    if request.subject.trim().is_empty() {
        return invalid("the subject must not be empty".to_string());
    }
    if request.expires_at.is_some_and(|at| at <= now) {
        return invalid("the expiry is in the past; give a later time or a duration".to_string());
    }
    match request.role {
        Role::Clerk | Role::Chair | Role::CommitteeMember if request.committee.is_none() => {
            invalid(format!(
                "role {} needs --committee: it acts only on its own committee",
                request.role
            ))
        }
        Role::Admin if request.committee.is_some() => invalid(
            "role admin acts on every committee and cannot be held to one: leave out --committee, or issue role clerk (the committee's office) or auditor with --committee"
                .to_string(),
        ),
        Role::Deputy if request.deputy_group.is_none() => {
            invalid("role deputy needs --group: a deputy acts for their deputy group".to_string())
        }
        _ => Ok(()),
    }
}

fn read(path: &Path) -> Result<TokenFile, TokenAdminError> {
    let bytes = std::fs::read(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            TokenAdminError::NoTokenFile {
                path: path.to_path_buf(),
            }
        } else {
            TokenAdminError::Io {
                action: "read",
                path: path.to_path_buf(),
                source,
            }
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| TokenAdminError::Corrupt {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })
}

/// Reads the file under the lock, applies `f` and, if it succeeds, replaces the file.
fn change<T>(
    data_dir: &Path,
    f: impl FnOnce(&mut TokenFile) -> Result<T, TokenAdminError>,
) -> Result<T, TokenAdminError> {
    let path = data_dir.join(TOKENS_FILE);
    if !path.exists() && !data_dir.join(ADMIN_TOKEN_FILE).exists() {
        return Err(TokenAdminError::NoTokenFile { path });
    }
    let lock = data_dir.join(format!("{TOKENS_FILE}.lock"));
    match OpenOptions::new().write(true).create_new(true).open(&lock) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(TokenAdminError::Locked { path, lock });
        }
        Err(source) => {
            return Err(TokenAdminError::Io {
                action: "create",
                path: lock,
                source,
            });
        }
    }
    let result = read(&path).and_then(|mut file| {
        let value = f(&mut file)?;
        replace(&path, &file)?;
        Ok(value)
    });
    if let Err(error) = std::fs::remove_file(&lock) {
        tracing::warn!(path = %lock.display(), %error, "cannot remove the lock file");
    }
    result
}

/// Writes `file` next to `path` (mode 0600), syncs it and renames it over `path`.
fn replace(path: &Path, file: &TokenFile) -> Result<(), TokenAdminError> {
    let json = serde_json::to_vec_pretty(file).map_err(|e| TokenAdminError::Corrupt {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    let temp = path.with_extension(format!(
        "json.{}.tmp",
        hex::encode(rand::random::<[u8; 4]>())
    ));
    write_secret(&temp, &json).map_err(|e| TokenAdminError::Io {
        action: "write",
        path: temp.clone(),
        source: std::io::Error::other(e.to_string()),
    })?;
    std::fs::rename(&temp, path).map_err(|source| TokenAdminError::Io {
        action: "replace",
        path: path.to_path_buf(),
        source,
    })?;
    if let Some(dir) = path.parent()
        && let Ok(dir) = std::fs::File::open(dir)
    {
        // Make the rename durable; a failure here leaves the new file in place anyway.
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Parses an expiry: an RFC 3339 time, or a duration from `now` such as `90m`, `12h`, `30d`,
/// `8w`.
pub fn parse_expiry(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, TokenAdminError> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let invalid = || {
        TokenAdminError::Invalid(format!(
            "--expires {text:?} is neither an RFC 3339 time (2027-01-31T00:00:00Z) nor a duration such as 90m, 12h, 30d or 8w"
        ))
    };
    let text = text.trim();
    let (digits, unit) = text.split_at(text.len().checked_sub(1).ok_or_else(invalid)?);
    let amount: i64 = digits.parse().map_err(|_| invalid())?;
    let duration = match unit {
        "s" => chrono::Duration::try_seconds(amount),
        "m" => chrono::Duration::try_minutes(amount),
        "h" => chrono::Duration::try_hours(amount),
        "d" => chrono::Duration::try_days(amount),
        "w" => chrono::Duration::try_weeks(amount),
        _ => None,
    }
    .filter(|d| *d > chrono::Duration::zero())
    .ok_or_else(invalid)?;
    now.checked_add_signed(duration).ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::auth::{AuthError, TokenStore};

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 3, day, 0, 0, 0).unwrap()
    }

    fn clerk(expires_at: Option<DateTime<Utc>>) -> IssueRequest {
        IssueRequest {
            subject: "wang.clerk".into(),
            role: Role::Clerk,
            committee: Some("xiangfang".into()),
            deputy_group: None,
            expires_at,
        }
    }

    #[test]
    fn issue_use_revoke_and_expiry_through_a_running_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::open(dir.path()).unwrap();
        let (token, info) = issue(dir.path(), clerk(Some(at(10))), at(1)).unwrap();
        assert!(token.starts_with("ovs_"));
        assert_eq!(info.status, "active");
        let file = std::fs::read_to_string(dir.path().join(TOKENS_FILE)).unwrap();
        assert!(!file.contains(&token), "the secret is never stored");

        // The open store picks the new token up without a restart.
        let principal = store.authenticate_at(&token, at(2)).unwrap();
        assert_eq!(principal.role, Role::Clerk);
        assert_eq!(principal.committee.as_deref(), Some("xiangfang"));
        assert!(matches!(
            store.authenticate_at(&token, at(10)),
            Err(AuthError::Expired { .. })
        ));
        // The pages name a token by its id.
        assert_eq!(store.principal_by_id(&info.id, at(2)).unwrap(), principal);
        assert!(matches!(
            store.principal_by_id(&info.id, at(10)),
            Err(AuthError::Expired { .. })
        ));
        assert!(store.principal_by_id("tok_000000000000", at(2)).is_err());

        let listed = list(dir.path(), at(2)).unwrap();
        assert_eq!(listed.len(), 2);
        let json = serde_json::to_string(&listed).unwrap();
        assert!(!json.contains(&token) && !json.contains(&hex::encode(digest(&token))));

        let revoked = revoke(dir.path(), &Revoke::Id(info.id.clone()), at(3)).unwrap();
        assert_eq!(revoked.len(), 1);
        assert!(matches!(
            store.authenticate_at(&token, at(3)),
            Err(AuthError::Invalid)
        ));
        assert!(matches!(
            store.principal_by_id(&info.id, at(3)),
            Err(AuthError::Invalid)
        ));
        assert_eq!(list(dir.path(), at(3)).unwrap()[1].status, "revoked");
        assert!(matches!(
            revoke(dir.path(), &Revoke::Id(info.id), at(4)),
            Err(TokenAdminError::NotFound(_))
        ));
        assert!(!dir.path().join("tokens.json.lock").exists());
    }

    #[test]
    fn requests_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        TokenStore::open(dir.path()).unwrap();
        let mut no_committee = clerk(None);
        no_committee.committee = None;
        assert!(issue(dir.path(), no_committee, at(1)).is_err());
        assert!(issue(dir.path(), clerk(Some(at(1))), at(2)).is_err());
        // An admin acts everywhere: a committee on its token would be a scope never honoured.
        let mut scoped_admin = clerk(None);
        scoped_admin.role = Role::Admin;
        let refused = issue(dir.path(), scoped_admin, at(1)).unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("role admin acts on every committee"),
            "{refused}"
        );
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            issue(empty.path(), clerk(None), at(1)),
            Err(TokenAdminError::NoTokenFile { .. })
        ));
        assert_eq!(
            "committee-member".parse::<Role>(),
            Ok(Role::CommitteeMember)
        );
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn expiry_accepts_times_and_durations() {
        assert_eq!(parse_expiry("2027-03-05T00:00:00Z", at(1)).unwrap(), at(5));
        assert_eq!(parse_expiry("4d", at(1)).unwrap(), at(5));
        assert_eq!(parse_expiry("1w", at(1)).unwrap(), at(8));
        for bad in ["", "d", "-1d", "3y", "soon"] {
            assert!(parse_expiry(bad, at(1)).is_err(), "{bad}");
        }
    }
}
