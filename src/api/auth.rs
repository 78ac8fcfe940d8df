//! Authentication and authorization: the bearer token becomes a [`Principal`], and one
//! declarative table ([`rule`]) says which roles may call each RPC.
//!
//! [`AuthLayer`] wraps the whole tonic server, so no RPC can be added without passing through
//! it: health checks and reflection go through unauthenticated, every other path needs a valid
//! token and an entry in the table (a path without one is refused). The principal is put into the
//! request's extensions for the handlers.
//!
//! Tokens are never stored: [`TokenStore`] keeps only their SHA-256 digests (in memory and in
//! `tokens.json`). On first start it creates the admin token in `admin.token` (mode 0600), the
//! one place the secret is ever written. Tokens may carry an expiry and a revocation time;
//! `oversight admin token …` ([`crate::api::tokens`]) edits `tokens.json` atomically and the
//! running server re-reads it when the file changes, checked on every call, so a revocation
//! takes effect on the next call.

use std::fmt;
use std::fs::OpenOptions;
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::SystemTime;

use chrono::{DateTime, Utc};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;
use tonic::Status;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tower::{Layer, Service};

/// The file in the data directory that holds the admin token.
pub const ADMIN_TOKEN_FILE: &str = "admin.token";
/// The file in the data directory that holds the digests of all tokens.
pub const TOKENS_FILE: &str = "tokens.json";
/// The prefix of every token, so that leaked tokens are easy to recognise.
pub const TOKEN_PREFIX: &str = "ovs_";

/// What a principal may act as. Only [`Role::Admin`] tokens are issued so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Operates the service; full access.
    Admin,
    /// The committee office (办事机构).
    Clerk,
    /// The council of chairpersons (主任会议).
    Chair,
    /// A member of the standing committee; votes in evaluation sessions.
    CommitteeMember,
    /// A deputy in a deputy group; files site visits.
    Deputy,
    /// An appointee under supervision.
    Appointee,
    /// Reads announced results.
    Reporter,
    /// Reads the log to check it.
    Auditor,
}

impl Role {
    /// The role's name as recorded in event metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Clerk => "clerk",
            Role::Chair => "chair",
            Role::CommitteeMember => "committee_member",
            Role::Deputy => "deputy",
            Role::Appointee => "appointee",
            Role::Reporter => "reporter",
            Role::Auditor => "auditor",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The authenticated caller of an RPC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// Who: a user or token name.
    pub subject: String,
    /// In which role.
    pub role: Role,
    /// The committee (tenant) the principal belongs to, if any.
    pub committee: Option<String>,
    /// The deputy group the principal belongs to, if any.
    pub deputy_group: Option<String>,
}

/// Why a call was refused before reaching its handler.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No `authorization` header.
    #[error(
        "missing bearer token: pass `authorization: Bearer <token>`; the admin token is in {hint}"
    )]
    Missing {
        /// Where the admin token is.
        hint: String,
    },
    /// The header is not `Bearer <token>`.
    #[error(
        "malformed authorization header: expected `authorization: Bearer <token>`; the admin token is in {hint}"
    )]
    Malformed {
        /// Where the admin token is.
        hint: String,
    },
    /// The token is unknown or revoked.
    #[error("invalid bearer token; the admin token is in {hint}")]
    Invalid {
        /// Where the admin token is.
        hint: String,
    },
    /// A JWT that fails verification (signature, issuer, audience, expiry or claims).
    #[error("invalid JWT: {reason}")]
    Jwt {
        /// What is wrong with it.
        reason: String,
    },
    /// The token is past its expiry.
    #[error("the bearer token of {subject} has expired; ask an administrator for a new one")]
    Expired {
        /// Whose token it is.
        subject: String,
    },
    /// The principal's role may not call this RPC.
    #[error("role {role} may not call {path}")]
    Forbidden {
        /// The RPC's full path.
        path: String,
        /// The caller's role.
        role: Role,
    },
    /// The path has no entry in the policy table.
    #[error("{path} is not an RPC this server offers to callers")]
    UnknownMethod {
        /// The requested path.
        path: String,
    },
}

/// Turns a bearer token into a principal.
pub trait Authenticator: Send + Sync + 'static {
    /// The principal the token stands for, or [`AuthError::Invalid`].
    fn authenticate(&self, bearer: &str) -> Result<Principal, AuthError>;
}

/// Which roles may call an RPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// The roles allowed.
    pub allowed: &'static [Role],
}

impl Rule {
    /// Whether `role` may call.
    pub fn admits(&self, role: Role) -> bool {
        self.allowed.contains(&role)
    }
}

const ADMIN: &[Role] = &[Role::Admin];
const LOG_READERS: &[Role] = &[Role::Admin, Role::Auditor];
const EVERY_ROLE: &[Role] = &[
    Role::Admin,
    Role::Clerk,
    Role::Chair,
    Role::CommitteeMember,
    Role::Deputy,
    Role::Appointee,
    Role::Reporter,
    Role::Auditor,
];
const VISIT_READERS: &[Role] = &[
    Role::Admin,
    Role::Clerk,
    Role::Chair,
    Role::CommitteeMember,
    Role::Deputy,
    Role::Appointee,
    Role::Auditor,
];
/// The committee office's writes (clerk, and admin for set-up and repairs).
const OFFICE: &[Role] = &[Role::Admin, Role::Clerk];
/// Who reads the register and the hearing inputs (scope checked in `api::scope`).
const REGISTER_READERS: &[Role] = &[
    Role::Admin,
    Role::Clerk,
    Role::Chair,
    Role::CommitteeMember,
    Role::Auditor,
];
/// The register readers and the appointee concerned (their own records only).
const RECORD_READERS: &[Role] = &[
    Role::Admin,
    Role::Clerk,
    Role::Chair,
    Role::CommitteeMember,
    Role::Auditor,
    Role::Appointee,
];

/// THE policy table: every RPC's full path and the roles that may call it. A path missing here
/// is refused (and a unit test fails if a service in the descriptor set has a method without an
/// entry).
pub fn rule(path: &str) -> Option<Rule> {
    let allowed = match path {
        "/oversight.v1.EventLog/Append" | "/oversight.v1.EventLog/AppendMulti" => ADMIN,
        "/oversight.v1.EventLog/ReadStream"
        | "/oversight.v1.EventLog/ReadAll"
        | "/oversight.v1.EventLog/Subscribe"
        | "/oversight.v1.EventLog/Head"
        | "/oversight.v1.EventLog/Verify" => LOG_READERS,
        "/oversight.v1.Operations/Status" => &[Role::Admin, Role::Auditor, Role::Clerk],
        "/oversight.v1.Operations/RebuildView" => ADMIN,
        "/oversight.v1.Evaluation/AdoptScoringPolicy" => &[Role::Chair],
        "/oversight.v1.Evaluation/ScheduleSession"
        | "/oversight.v1.Evaluation/RecordRollCall"
        | "/oversight.v1.Evaluation/OpenVoting"
        | "/oversight.v1.Evaluation/CloseVoting"
        | "/oversight.v1.Evaluation/Tally"
        | "/oversight.v1.Evaluation/Announce" => &[Role::Clerk],
        // The session's constituency decides which of the two may vote (see api::evaluation).
        "/oversight.v1.Evaluation/CastBallot" => &[Role::CommitteeMember, Role::Deputy],
        "/oversight.v1.Evaluation/CorrectResult"
        | "/oversight.v1.Evaluation/ProposeCorrection"
        | "/oversight.v1.Evaluation/ApproveCorrection" => &[Role::Clerk, Role::Chair],
        "/oversight.v1.Evaluation/Recount" => {
            &[Role::Auditor, Role::Clerk, Role::Chair, Role::Admin]
        }
        // Results are embargoed inside the query until announced (see api::evaluation).
        "/oversight.v1.Evaluation/GetScoringPolicy"
        | "/oversight.v1.Evaluation/CheckReceipt"
        | "/oversight.v1.Evaluation/GetSessionResult"
        | "/oversight.v1.Evaluation/ListSessions"
        | "/oversight.v1.Evaluation/WatchAnnouncements" => EVERY_ROLE,
        // Reports: the embargo and the committee scope are enforced inside (see api::reports).
        "/oversight.v1.Reports/GetScorecard"
        | "/oversight.v1.Reports/Rankings"
        | "/oversight.v1.Reports/Coverage" => EVERY_ROLE,
        // Supervision: site visits, inspections, annual plans (see api::supervision for the
        // checks of group and appointee made beyond the role).
        "/oversight.v1.Supervision/FileSiteVisit"
        | "/oversight.v1.Supervision/CorrectSiteVisit"
        | "/oversight.v1.Supervision/RetractSiteVisit" => &[Role::Admin, Role::Deputy],
        "/oversight.v1.Supervision/IssueVisitReport"
        | "/oversight.v1.Supervision/OpenInspection"
        | "/oversight.v1.Supervision/RecordInspectionReport" => {
            &[Role::Admin, Role::Clerk, Role::Chair]
        }
        "/oversight.v1.Supervision/AdoptAnnualPlan"
        | "/oversight.v1.Supervision/ReviseAnnualPlan" => &[Role::Admin, Role::Chair],
        "/oversight.v1.Supervision/ListSiteVisits" => VISIT_READERS,
        "/oversight.v1.Supervision/VisitAverages" => &[
            Role::Admin,
            Role::Clerk,
            Role::Chair,
            Role::CommitteeMember,
            Role::Appointee,
            Role::Auditor,
        ],
        "/oversight.v1.Supervision/GetInspection"
        | "/oversight.v1.Supervision/ListInspections"
        | "/oversight.v1.Supervision/GetAnnualPlan" => &[
            Role::Admin,
            Role::Clerk,
            Role::Chair,
            Role::CommitteeMember,
            Role::Deputy,
            Role::Auditor,
        ],
        // Findings (see api::findings for the appointee and reporter checks).
        "/oversight.v1.Findings/RaiseFinding" | "/oversight.v1.Findings/VerifyFinding" => {
            &[Role::Admin, Role::Clerk, Role::Chair]
        }
        "/oversight.v1.Findings/AssignFinding" => &[Role::Admin, Role::Clerk],
        "/oversight.v1.Findings/ExtendFindingDeadline" => &[Role::Admin, Role::Chair],
        "/oversight.v1.Findings/RespondToFinding" => &[Role::Admin, Role::Clerk, Role::Appointee],
        "/oversight.v1.Findings/GetFinding" | "/oversight.v1.Findings/ListFindings" => &[
            Role::Admin,
            Role::Clerk,
            Role::Chair,
            Role::CommitteeMember,
            Role::Appointee,
            Role::Auditor,
        ],
        "/oversight.v1.Findings/FindingsBoard" => &[
            Role::Admin,
            Role::Clerk,
            Role::Chair,
            Role::CommitteeMember,
            Role::Auditor,
            Role::Reporter,
        ],
        // Registry: committees, appointees, deputy groups.
        "/oversight.v1.Registry/CreateCommittee" => ADMIN,
        "/oversight.v1.Registry/AddCommitteeMember"
        | "/oversight.v1.Registry/RemoveCommitteeMember"
        | "/oversight.v1.Registry/RegisterAppointee"
        | "/oversight.v1.Registry/ChangeAppointeePost"
        | "/oversight.v1.Registry/EndAppointeeTerm"
        | "/oversight.v1.Registry/FormDeputyGroup"
        | "/oversight.v1.Registry/AddDeputy"
        | "/oversight.v1.Registry/RemoveDeputy" => OFFICE,
        "/oversight.v1.Registry/GetCommittee"
        | "/oversight.v1.Registry/ListCommittees"
        | "/oversight.v1.Registry/ListAppointees"
        | "/oversight.v1.Registry/ListDeputyGroups" => REGISTER_READERS,
        "/oversight.v1.Registry/GetAppointee" => RECORD_READERS,
        // Supervision policies: adopted by the council of chairpersons (主任会议), like annual
        // plans; read by everyone who works under them (scope checked in `api::policy`).
        "/oversight.v1.Registry/AdoptSupervisionPolicy" => &[Role::Admin, Role::Chair],
        "/oversight.v1.Registry/GetSupervisionPolicy" => &[
            Role::Admin,
            Role::Clerk,
            Role::Chair,
            Role::CommitteeMember,
            Role::Deputy,
            Role::Auditor,
        ],
        "/oversight.v1.Registry/GetDeputyGroup" => &[
            Role::Admin,
            Role::Clerk,
            Role::Chair,
            Role::CommitteeMember,
            Role::Auditor,
            Role::Deputy,
        ],
        // Hearings: duty reports and stakeholder feedback.
        "/oversight.v1.Hearings/FileDutyReport"
        | "/oversight.v1.Hearings/ReviseDutyReport"
        | "/oversight.v1.Hearings/WithdrawDutyReport" => {
            &[Role::Admin, Role::Clerk, Role::Appointee]
        }
        "/oversight.v1.Hearings/RecordStakeholderFeedback"
        | "/oversight.v1.Hearings/RetractStakeholderFeedback" => OFFICE,
        "/oversight.v1.Hearings/ListDutyReports"
        | "/oversight.v1.Hearings/ListStakeholderFeedback" => RECORD_READERS,
        _ => return None,
    };
    Some(Rule { allowed })
}

/// Paths that need no token: health checks and server reflection.
pub fn is_public(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/")
        || path.starts_with("/grpc.reflection.v1.ServerReflection/")
        || path.starts_with("/grpc.reflection.v1alpha.ServerReflection/")
}

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
        let entries = self.accepted.current(|path| {
            std::fs::read(path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| {
                    serde_json::from_slice::<TokenFile>(&bytes).map_err(|e| e.to_string())
                })
                .and_then(|file| accepted(file, path).map_err(|e| e.to_string()))
        });
        let presented = digest(bearer);
        // Compare every entry in full (no early exit) so timing reveals nothing about the
        // digests; comparing digests rather than tokens already hides the secret's bytes.
        let mut found = None;
        for entry in entries.iter() {
            if constant_time_eq(&entry.hash, &presented) {
                found = Some(entry);
            }
        }
        let hint = || self.admin_token_path.display().to_string();
        match found {
            None => Err(AuthError::Invalid { hint: hint() }),
            Some(entry) if entry.expires_at.is_some_and(|at| at <= now) => {
                Err(AuthError::Expired {
                    subject: entry.principal.subject.clone(),
                })
            }
            Some(entry) => Ok(entry.principal.clone()),
        }
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
        accepted.push(Accepted {
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

/// The tower layer that authenticates and authorizes every call to the server.
#[derive(Clone)]
pub struct AuthLayer {
    state: Arc<AuthState>,
}

struct AuthState {
    authenticator: Arc<dyn Authenticator>,
    hint: String,
}

impl AuthLayer {
    /// `hint` tells a refused caller where the admin token is (a path, never the token).
    pub fn new(authenticator: Arc<dyn Authenticator>, hint: impl Into<String>) -> Self {
        Self {
            state: Arc::new(AuthState {
                authenticator,
                hint: hint.into(),
            }),
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            state: self.state.clone(),
        }
    }
}

/// The service produced by [`AuthLayer`].
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    state: Arc<AuthState>,
}

impl AuthState {
    /// `Ok(None)`: a public path; `Ok(Some)`: an authorized principal.
    fn check<B>(&self, request: &http::Request<B>) -> Result<Option<Principal>, AuthError> {
        let path = request.uri().path();
        if is_public(path) {
            return Ok(None);
        }
        let header = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .ok_or_else(|| AuthError::Missing {
                hint: self.hint.clone(),
            })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| AuthError::Malformed {
                hint: self.hint.clone(),
            })?;
        let principal = self.authenticator.authenticate(token)?;
        let rule = rule(path).ok_or_else(|| AuthError::UnknownMethod {
            path: path.to_string(),
        })?;
        if !rule.admits(principal.role) {
            return Err(AuthError::Forbidden {
                path: path.to_string(),
                role: principal.role,
            });
        }
        Ok(Some(principal))
    }
}

impl<S, B> Service<http::Request<B>> for AuthService<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        match self.state.check(&request) {
            Ok(Some(principal)) => {
                request.extensions_mut().insert(principal);
            }
            Ok(None) => {}
            Err(error) => {
                let extensions = request.extensions();
                let peer = extensions
                    .get::<TcpConnectInfo>()
                    .or_else(|| {
                        extensions
                            .get::<TlsConnectInfo<TcpConnectInfo>>()
                            .map(TlsConnectInfo::get_ref)
                    })
                    .and_then(TcpConnectInfo::remote_addr)
                    .map_or_else(|| "unknown".to_string(), |a| a.to_string());
                tracing::warn!(
                    %peer,
                    path = request.uri().path(),
                    reason = %error,
                    "call refused"
                );
                let response = Status::from(error).into_http();
                return Box::pin(async move { Ok(response) });
            }
        }
        // The clone that was polled ready is the one that must be called.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(inner.call(request))
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    #[test]
    fn every_rpc_has_a_policy_entry() {
        let set =
            prost_types::FileDescriptorSet::decode(crate::proto::FILE_DESCRIPTOR_SET).unwrap();
        let mut checked = 0;
        for file in &set.file {
            for service in &file.service {
                for method in &service.method {
                    let path = format!("/{}.{}/{}", file.package(), service.name(), method.name());
                    assert!(
                        rule(&path).is_some(),
                        "{path} has no entry in the policy table"
                    );
                    assert!(!is_public(&path));
                    checked += 1;
                }
            }
        }
        assert!(checked >= 7, "only {checked} methods found");
    }

    #[test]
    fn unknown_paths_have_no_rule_and_health_is_public() {
        assert!(rule("/oversight.v1.EventLog/Drop").is_none());
        assert!(is_public("/grpc.health.v1.Health/Check"));
        assert!(is_public(
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
        ));
        assert!(!is_public("/oversight.v1.EventLog/Head"));
    }

    #[test]
    fn appends_are_admin_only_reads_admit_auditors() {
        let append = rule("/oversight.v1.EventLog/Append").unwrap();
        assert!(append.admits(Role::Admin));
        assert!(!append.admits(Role::Auditor));
        let read = rule("/oversight.v1.EventLog/ReadAll").unwrap();
        assert!(read.admits(Role::Auditor));
        assert!(!read.admits(Role::Deputy));
    }

    struct Fixed(Role);

    impl Authenticator for Fixed {
        fn authenticate(&self, bearer: &str) -> Result<Principal, AuthError> {
            if bearer != "good" {
                return Err(AuthError::Invalid { hint: "x".into() });
            }
            Ok(Principal {
                subject: "someone".into(),
                role: self.0,
                committee: None,
                deputy_group: None,
            })
        }
    }

    #[test]
    fn a_role_outside_the_rule_is_permission_denied() {
        let state = AuthState {
            authenticator: Arc::new(Fixed(Role::Auditor)),
            hint: "x".into(),
        };
        let request = |path: &str| {
            http::Request::builder()
                .uri(path)
                .header("authorization", "Bearer good")
                .body(())
                .unwrap()
        };
        let denied = state
            .check(&request("/oversight.v1.EventLog/Append"))
            .unwrap_err();
        assert!(matches!(
            denied,
            AuthError::Forbidden {
                role: Role::Auditor,
                ..
            }
        ));
        assert!(denied.to_string().contains("auditor"), "{denied}");
        assert_eq!(Status::from(denied).code(), tonic::Code::PermissionDenied);
        let allowed = state
            .check(&request("/oversight.v1.EventLog/ReadAll"))
            .unwrap();
        assert_eq!(allowed.unwrap().role, Role::Auditor);
        let unknown = state
            .check(&request("/oversight.v1.Other/Thing"))
            .unwrap_err();
        assert_eq!(Status::from(unknown).code(), tonic::Code::PermissionDenied);
    }

    #[test]
    fn first_start_creates_a_private_admin_token_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::open(dir.path()).unwrap();
        let path = dir.path().join(ADMIN_TOKEN_FILE);
        assert_eq!(store.admin_token_path(), path);
        let token = std::fs::read_to_string(&path).unwrap().trim().to_string();
        assert!(token.starts_with(TOKEN_PREFIX));
        assert_eq!(token.len(), TOKEN_PREFIX.len() + 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for file in [ADMIN_TOKEN_FILE, TOKENS_FILE] {
                let mode = std::fs::metadata(dir.path().join(file))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600, "{file}");
            }
        }
        let tokens = std::fs::read_to_string(dir.path().join(TOKENS_FILE)).unwrap();
        assert!(
            !tokens.contains(&token),
            "the token itself must not be stored"
        );

        let principal = store.authenticate(&token).unwrap();
        assert_eq!(principal.role, Role::Admin);
        assert!(matches!(
            store.authenticate("ovs_wrong"),
            Err(AuthError::Invalid { .. })
        ));

        // A restart keeps the same token.
        let again = TokenStore::open(dir.path()).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap().trim(), token);
        assert!(again.authenticate(&token).is_ok());
    }

    #[test]
    fn checks_header_then_rule() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::open(dir.path()).unwrap();
        let token = std::fs::read_to_string(store.admin_token_path())
            .unwrap()
            .trim()
            .to_string();
        let state = AuthState {
            authenticator: Arc::new(store),
            hint: "data/admin.token".into(),
        };
        let request = |path: &str, auth: Option<&str>| {
            let mut builder = http::Request::builder().uri(path);
            if let Some(auth) = auth {
                builder = builder.header("authorization", auth);
            }
            builder.body(()).unwrap()
        };
        let bearer = format!("Bearer {token}");
        assert!(matches!(
            state.check(&request("/oversight.v1.EventLog/Head", None)),
            Err(AuthError::Missing { .. })
        ));
        assert!(matches!(
            state.check(&request("/oversight.v1.EventLog/Head", Some(&token))),
            Err(AuthError::Malformed { .. })
        ));
        assert!(matches!(
            state.check(&request("/oversight.v1.EventLog/Head", Some("Bearer nope"))),
            Err(AuthError::Invalid { .. })
        ));
        assert!(matches!(
            state.check(&request("/oversight.v1.EventLog/Nope", Some(&bearer))),
            Err(AuthError::UnknownMethod { .. })
        ));
        assert!(matches!(
            state.check(&request("/grpc.health.v1.Health/Check", None)),
            Ok(None)
        ));
        let principal = state
            .check(&request("/oversight.v1.EventLog/Append", Some(&bearer)))
            .unwrap()
            .unwrap();
        assert_eq!(principal.subject, "admin");
        let missing = state
            .check(&request("/oversight.v1.EventLog/Head", None))
            .unwrap_err();
        assert_eq!(Status::from(missing).code(), tonic::Code::Unauthenticated);
    }

    mod fuzz {
        use proptest::prelude::*;

        use super::*;

        fn state() -> (tempfile::TempDir, AuthState) {
            let dir = tempfile::tempdir().unwrap();
            let store = TokenStore::open(dir.path()).unwrap();
            let state = AuthState {
                authenticator: Arc::new(store),
                hint: "admin.token".into(),
            };
            (dir, state)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// Any bytes as the authorization header, on any path: refused or admitted, never a
            /// panic, and never admitted without the real token.
            #[test]
            fn random_headers_never_panic(
                header in proptest::collection::vec(any::<u8>(), 0..200),
                path in "/[a-zA-Z./]{0,60}",
            ) {
                let (_dir, state) = state();
                let mut builder = http::Request::builder().uri(path.as_str());
                if let Ok(value) = http::HeaderValue::from_bytes(&header) {
                    builder = builder.header(http::header::AUTHORIZATION, value);
                }
                if let Ok(request) = builder.body(()) {
                    let outcome = state.check(&request);
                    prop_assert!(!matches!(outcome, Ok(Some(_))));
                }
            }

            /// Any string as a bearer token is refused without a panic.
            #[test]
            fn random_tokens_are_refused(token in "\\PC{0,120}") {
                let (_dir, state) = state();
                prop_assert!(state.authenticator.authenticate(&token).is_err());
            }

            /// Any bytes as `tokens.json`: an error naming the file or a store, never a panic.
            #[test]
            fn random_token_files_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
                let dir = tempfile::tempdir().unwrap();
                std::fs::write(dir.path().join(TOKENS_FILE), &bytes).unwrap();
                if let Err(error) = TokenStore::open(dir.path()) {
                    prop_assert!(error.to_string().contains(TOKENS_FILE));
                }
            }
        }
    }
}
