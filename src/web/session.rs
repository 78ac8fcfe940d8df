//! Signing in and out, and who is signed in. A spent link starts a session; the session cookie
//! names the token (by id), the link's stream and the session's expiry, signed with the pages'
//! key:
//!
//! ```text
//! <token id>.<stream key, 64 hex>.<expiry, Unix seconds>.<HMAC, base64url>
//! ```
//!
//! Every request re-checks it: the signature, the expiry, the token in the token store (so a
//! revoked or expired token ends the session at once) and the link's stream in the log (so a
//! session signed out — on any server of the log — stays out). Nothing of the session is kept
//! in memory: sessions survive restarts.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::auth::{Principal, TokenStore};
use crate::log::{
    Actor, AppendError, AppendRequest, ContentType, Direction, EventStore, EventType,
    ExpectedRevision, Metadata, ProposedEvent, ReadError, ReadStream, StreamName,
};
use crate::web::keys::{Purpose, WebKeys};
use crate::web::link::{
    LINK_SPENT_EVENT, LinkClaim, LinkSpent, SIGNED_OUT_EVENT, SignedOut, stream_of,
};

/// Why a sign-in link was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SignInRefused {
    /// Not a link of this server (or damaged).
    #[error("not a valid sign-in link")]
    Invalid,
    /// Past its expiry.
    #[error("the sign-in link expired at {0}")]
    Expired(DateTime<Utc>),
    /// Its token is revoked, expired or gone.
    #[error("the sign-in link's token is revoked, expired or unknown")]
    Withdrawn,
    /// Used before, at that time if known.
    #[error("the sign-in link was used before")]
    Spent(Option<DateTime<Utc>>),
    /// The log could not be read or written.
    #[error("the event log failed: {0}")]
    Storage(String),
}

/// Why a session cookie no longer signs anyone in.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SessionEnded {
    /// Not a cookie of this server (or damaged).
    #[error("not a valid session")]
    Invalid,
    /// Past its expiry.
    #[error("the session expired")]
    Expired,
    /// Its token is revoked, expired or gone.
    #[error("the session's token is revoked, expired or unknown")]
    Withdrawn,
    /// Signed out.
    #[error("the session was signed out")]
    SignedOut,
    /// The log could not be read.
    #[error("the event log failed: {0}")]
    Storage(String),
}

/// The signed-in principal of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    /// Who.
    pub principal: Principal,
    /// The token signed in with.
    pub token_id: String,
    /// The session's key (its link's stream key), also what CSRF tokens are bound to.
    pub session_key: String,
    /// When the session ends.
    pub expires_at: DateTime<Utc>,
}

/// Signing in and out over the log and the token store.
#[derive(Clone)]
pub struct Sessions {
    store: Arc<dyn EventStore>,
    tokens: Arc<TokenStore>,
    keys: WebKeys,
    session_ttl: chrono::Duration,
}

impl Sessions {
    /// Sessions that last `session_ttl` (at most until their token expires).
    pub fn new(
        store: Arc<dyn EventStore>,
        tokens: Arc<TokenStore>,
        keys: WebKeys,
        session_ttl: chrono::Duration,
    ) -> Self {
        Self {
            store,
            tokens,
            keys,
            session_ttl,
        }
    }

    /// The pages' keys.
    pub fn keys(&self) -> &WebKeys {
        &self.keys
    }

    /// What the link `text` would sign in as at `now`, without spending it: the claim and the
    /// principal, or why it would be refused (including a spend before).
    pub async fn preview(
        &self,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<(LinkClaim, Principal), SignInRefused> {
        let (claim, principal) = self.check_link(text, now)?;
        if let Some(spent) = self.first_event(&claim.key(&self.keys)).await? {
            return Err(SignInRefused::Spent(spent));
        }
        Ok((claim, principal))
    }

    /// Spends the link `text` at `now`: the session it starts and its cookie value.
    pub async fn spend(
        &self,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<(Viewer, String), SignInRefused> {
        let (claim, principal) = self.check_link(text, now)?;
        let key = claim.key(&self.keys);
        let expires_at = now + self.session_ttl;
        let payload = LinkSpent {
            token_id: claim.token_id.clone(),
            session_expires_at: expires_at,
        };
        let event = self
            .event(LINK_SPENT_EVENT, &payload, &principal)
            .map_err(SignInRefused::Storage)?;
        let stream =
            StreamName::new(stream_of(&key)).map_err(|e| SignInRefused::Storage(e.to_string()))?;
        match self
            .store
            .append(AppendRequest::single(
                stream,
                ExpectedRevision::NoStream,
                vec![event],
            ))
            .await
        {
            Ok(_) => {}
            Err(AppendError::WrongExpectedRevision { .. }) => {
                return Err(SignInRefused::Spent(
                    self.first_event(&key).await?.flatten(),
                ));
            }
            Err(error) => return Err(SignInRefused::Storage(error.to_string())),
        }
        let viewer = Viewer {
            principal,
            token_id: claim.token_id,
            session_key: key,
            expires_at,
        };
        let cookie = self.cookie_value(&viewer);
        Ok((viewer, cookie))
    }

    /// The session `cookie` stands for at `now`.
    pub async fn viewer(&self, cookie: &str, now: DateTime<Utc>) -> Result<Viewer, SessionEnded> {
        let mut parts = cookie.split('.');
        let (Some(token_id), Some(key), Some(expiry), Some(tag), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(SessionEnded::Invalid);
        };
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| SessionEnded::Invalid)?;
        if !self.keys.verify(
            Purpose::Session,
            &[token_id.as_bytes(), key.as_bytes(), expiry.as_bytes()],
            &tag,
        ) {
            return Err(SessionEnded::Invalid);
        }
        let expires_at = expiry
            .parse::<i64>()
            .ok()
            .and_then(|secs| DateTime::from_timestamp(secs, 0))
            .ok_or(SessionEnded::Invalid)?;
        if now >= expires_at {
            return Err(SessionEnded::Expired);
        }
        let principal = self
            .tokens
            .principal_by_id(token_id, now)
            .map_err(|_| SessionEnded::Withdrawn)?;
        match self.stream_length(key).await {
            Ok(1) => {}
            Ok(0) => return Err(SessionEnded::Invalid),
            Ok(_) => return Err(SessionEnded::SignedOut),
            Err(error) => return Err(SessionEnded::Storage(error)),
        }
        Ok(Viewer {
            principal,
            token_id: token_id.to_string(),
            session_key: key.to_string(),
            expires_at,
        })
    }

    /// Ends `viewer`'s session: appends `SignedOut.v1` to its stream (a session signed out
    /// twice stays signed out).
    pub async fn sign_out(&self, viewer: &Viewer) -> Result<(), String> {
        let payload = SignedOut {
            token_id: viewer.token_id.clone(),
        };
        let event = self.event(SIGNED_OUT_EVENT, &payload, &viewer.principal)?;
        let stream = StreamName::new(stream_of(&viewer.session_key)).map_err(|e| e.to_string())?;
        match self
            .store
            .append(AppendRequest::single(
                stream,
                ExpectedRevision::Exact(0),
                vec![event],
            ))
            .await
        {
            Ok(_) | Err(AppendError::WrongExpectedRevision { .. }) => Ok(()),
            Err(error) => Err(error.to_string()),
        }
    }

    /// The cookie value of `viewer`'s session.
    fn cookie_value(&self, viewer: &Viewer) -> String {
        let expiry = viewer.expires_at.timestamp().to_string();
        let tag = self.keys.sign(
            Purpose::Session,
            &[
                viewer.token_id.as_bytes(),
                viewer.session_key.as_bytes(),
                expiry.as_bytes(),
            ],
        );
        format!(
            "{}.{}.{expiry}.{}",
            viewer.token_id,
            viewer.session_key,
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    fn check_link(
        &self,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<(LinkClaim, Principal), SignInRefused> {
        let claim = LinkClaim::parse(text, &self.keys).ok_or(SignInRefused::Invalid)?;
        if claim.expired(now) {
            return Err(SignInRefused::Expired(claim.expiry()));
        }
        let principal = self
            .tokens
            .principal_by_id(&claim.token_id, now)
            .map_err(|_| SignInRefused::Withdrawn)?;
        Ok((claim, principal))
    }

    /// `None` when the stream of `key` does not exist; else the time of its first event (if
    /// the log's time can be read).
    async fn first_event(&self, key: &str) -> Result<Option<Option<DateTime<Utc>>>, SignInRefused> {
        let events = match self.read(key, 1).await {
            Ok(events) => events,
            Err(ReadError::StreamNotFound(_)) => return Ok(None),
            Err(error) => return Err(SignInRefused::Storage(error.to_string())),
        };
        Ok(Some(events.first().and_then(|event| {
            DateTime::from_timestamp_micros(event.recorded_at_micros)
        })))
    }

    /// How many events the stream of `key` holds (0, 1 or 2 matter).
    async fn stream_length(&self, key: &str) -> Result<usize, String> {
        match self.read(key, 2).await {
            Ok(events) => Ok(events.len()),
            Err(ReadError::StreamNotFound(_)) => Ok(0),
            Err(error) => Err(error.to_string()),
        }
    }

    async fn read(
        &self,
        key: &str,
        max_count: usize,
    ) -> Result<Vec<crate::log::RecordedEvent>, ReadError> {
        let stream = StreamName::new(stream_of(key)).map_err(ReadError::Invalid)?;
        self.store
            .read_stream(ReadStream {
                stream,
                from_revision: None,
                direction: Direction::Forwards,
                max_count,
            })
            .await
    }

    fn event(
        &self,
        event_type: &str,
        payload: &impl serde::Serialize,
        principal: &Principal,
    ) -> Result<ProposedEvent, String> {
        Ok(ProposedEvent {
            event_id: uuid::Uuid::now_v7(),
            event_type: EventType::new(event_type).map_err(|e| e.to_string())?,
            data: serde_json::to_vec(payload).map_err(|e| e.to_string())?,
            content_type: ContentType::Json,
            metadata: Metadata {
                actor: Some(Actor {
                    subject: principal.subject.clone(),
                    role: principal.role.as_str().to_string(),
                }),
                committee: principal.committee.clone(),
                ..Metadata::default()
            },
        })
    }
}
