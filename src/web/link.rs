//! One-time sign-in links. A link names a token of the token store by its id, carries its
//! expiry and a random nonce, and is signed with the pages' key ([`super::keys`]):
//!
//! ```text
//! <public_url>/signin/<token id>.<expiry, Unix seconds>.<nonce, base64url>.<HMAC, base64url>
//! ```
//!
//! Issuing one ([`issue_sign_in_link`]) writes nothing: it needs only the data directory (the
//! key and `tokens.json`), so it works with the server stopped. Spending one appends a
//! `SignInLinkSpent.v1` event to the link's own stream, `web-signin-<SHA-256 of the link>`,
//! expecting that stream not to exist: the log refuses a second spend — on this server, after a
//! restart, or on another server of the same log. That stream is also the session's: signing
//! out appends `SignedOut.v1` to it.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::auth::Role;
use crate::auth::tokens::{self, TokenAdminError};
use crate::web::keys::{KeyError, Purpose, WebKeys};

/// The stream prefix of sign-in links and their sessions. Only the pages write there; the
/// projections fold nothing from it.
pub const SIGN_IN_STREAM_PREFIX: &str = "web-signin-";
/// The event that spends a link and starts its session.
pub const LINK_SPENT_EVENT: &str = "SignInLinkSpent.v1";
/// The event that ends a session.
pub const SIGNED_OUT_EVENT: &str = "SignedOut.v1";

/// Why a sign-in link could not be issued.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LinkError {
    /// `tokens.json` could not be read.
    #[error(transparent)]
    Tokens(#[from] TokenAdminError),
    /// The pages' key could not be read or made.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// No token has this id.
    #[error("no token has the id {0}; `oversight admin token list` shows them")]
    UnknownToken(String),
    /// The token cannot be used any more.
    #[error("token {id} is {status}; issue a new token first (`oversight admin token issue`)")]
    Inactive {
        /// The token's id.
        id: String,
        /// `revoked` or `expired`.
        status: &'static str,
    },
    /// The token id has characters a link cannot carry.
    #[error(
        "token id {0:?} cannot be put in a link (only letters, digits, `_` and `-`); issue a new token"
    )]
    Unlinkable(String),
    /// The lifetime is not positive.
    #[error("a sign-in link must live at least a second")]
    Lifetime,
    /// The base URL is not http(s).
    #[error("{0:?} is not an http:// or https:// URL; set web.public_url")]
    BaseUrl(String),
    /// The QR code could not be drawn.
    #[error("cannot draw the QR code of the link: {0}")]
    Qr(String),
}

/// A sign-in link as issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignInLink {
    /// The whole URL to hand out.
    pub url: String,
    /// The token it signs in as.
    pub token_id: String,
    /// That token's subject.
    pub subject: String,
    /// That token's role.
    pub role: Role,
    /// That token's committee.
    pub committee: Option<String>,
    /// From when it is refused.
    pub expires_at: DateTime<Utc>,
}

impl SignInLink {
    /// The link's URL as a QR code, an SVG document (black modules on white, with a quiet zone).
    pub fn qr_svg(&self) -> Result<String, LinkError> {
        qr_svg(&self.url)
    }
}

/// `text` as a QR code in SVG (medium error correction).
pub fn qr_svg(text: &str) -> Result<String, LinkError> {
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| LinkError::Qr(e.to_string()))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(256, 256)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .quiet_zone(true)
        .build())
}

/// Issues a one-time sign-in link for the token named `token_id` in `data_dir`'s
/// `tokens.json`, valid for `ttl` from `now` (never beyond the token's own expiry), rooted at
/// `base_url` (`web.public_url`; [`crate::config::Settings::web_base_url`] gives it, and
/// `web.link_ttl_hours` the usual `ttl`). Writes nothing but the pages' key on first use, so it
/// can run beside a running server or without one.
pub fn issue_sign_in_link(
    data_dir: &Path,
    token_id: &str,
    base_url: &str,
    ttl: chrono::Duration,
    now: DateTime<Utc>,
) -> Result<SignInLink, LinkError> {
    if ttl <= chrono::Duration::zero() {
        return Err(LinkError::Lifetime);
    }
    let base = base_url.trim_end_matches('/');
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(LinkError::BaseUrl(base_url.to_string()));
    }
    if !linkable(token_id) {
        return Err(LinkError::Unlinkable(token_id.to_string()));
    }
    let token = tokens::list(data_dir, now)?
        .into_iter()
        .find(|t| t.id == token_id)
        .ok_or_else(|| LinkError::UnknownToken(token_id.to_string()))?;
    if token.status != "active" {
        return Err(LinkError::Inactive {
            id: token.id,
            status: token.status,
        });
    }
    let keys = WebKeys::open(data_dir)?;
    let mut expires_at = now + ttl;
    if let Some(token_expiry) = token.expires_at {
        expires_at = expires_at.min(token_expiry);
    }
    let claim = LinkClaim {
        token_id: token.id.clone(),
        expires_at: expires_at.timestamp(),
        nonce: rand::random(),
    };
    Ok(SignInLink {
        url: format!("{base}/signin/{}", claim.encode(&keys)),
        token_id: token.id,
        subject: token.subject,
        role: token.role,
        committee: token.committee,
        expires_at: DateTime::from_timestamp(claim.expires_at, 0).unwrap_or(expires_at),
    })
}

fn linkable(token_id: &str) -> bool {
    !token_id.is_empty()
        && token_id.len() <= 64
        && token_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// What a link says, once its signature is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkClaim {
    /// The token it signs in as.
    pub token_id: String,
    /// Unix seconds from which it is refused.
    pub expires_at: i64,
    nonce: [u8; 16],
}

impl LinkClaim {
    /// The link's last path segment.
    fn encode(&self, keys: &WebKeys) -> String {
        let expiry = self.expires_at.to_string();
        let tag = keys.sign(
            Purpose::Link,
            &[self.token_id.as_bytes(), expiry.as_bytes(), &self.nonce],
        );
        format!(
            "{}.{expiry}.{}.{}",
            self.token_id,
            URL_SAFE_NO_PAD.encode(self.nonce),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The claim of a link's last path segment, if it is well formed and signed with `keys`.
    /// Expiry is not judged here.
    pub fn parse(text: &str, keys: &WebKeys) -> Option<LinkClaim> {
        let mut parts = text.split('.');
        let (token_id, expiry, nonce, tag) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || !linkable(token_id) {
            return None;
        }
        let expires_at: i64 = expiry.parse().ok()?;
        let nonce: [u8; 16] = URL_SAFE_NO_PAD.decode(nonce).ok()?.try_into().ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let claim = LinkClaim {
            token_id: token_id.to_string(),
            expires_at,
            nonce,
        };
        // Only the canonical spelling is accepted, so one link has one stream.
        let signed = keys.verify(
            Purpose::Link,
            &[token_id.as_bytes(), expiry.as_bytes(), &nonce],
            &tag,
        );
        (signed && claim.encode(keys) == text).then_some(claim)
    }

    /// Whether the link is past its expiry at `now`.
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        now.timestamp() >= self.expires_at
    }

    /// The link's expiry as a time.
    pub fn expiry(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.expires_at, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// The key of the link's stream (and session): hex SHA-256 of the link's signed text.
    pub fn key(&self, keys: &WebKeys) -> String {
        hex::encode(Sha256::digest(self.encode(keys).as_bytes()))
    }
}

/// The stream of the link (and session) whose key is `key`.
pub fn stream_of(key: &str) -> String {
    format!("{SIGN_IN_STREAM_PREFIX}{key}")
}

/// The payload of [`LINK_SPENT_EVENT`]. Names the token, never the link or any secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkSpent {
    /// The token signed in as.
    pub token_id: String,
    /// Until when the session it starts lasts.
    pub session_expires_at: DateTime<Utc>,
}

/// The payload of [`SIGNED_OUT_EVENT`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedOut {
    /// The token whose session ended.
    pub token_id: String,
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::auth::TokenStore;
    use crate::auth::tokens::IssueRequest;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 3, 1, hour, 0, 0).unwrap()
    }

    fn member(dir: &Path, expires_at: Option<DateTime<Utc>>) -> String {
        let request = IssueRequest {
            subject: "m1".into(),
            role: Role::CommitteeMember,
            committee: Some("xf".into()),
            deputy_group: None,
            expires_at,
        };
        tokens::issue(dir, request, at(0)).unwrap().1.id
    }

    #[test]
    fn a_link_names_its_token_and_is_checked_by_its_signature() {
        let dir = tempfile::tempdir().unwrap();
        TokenStore::open(dir.path()).unwrap();
        let id = member(dir.path(), None);
        let link = issue_sign_in_link(
            dir.path(),
            &id,
            "https://oversight.example/",
            chrono::Duration::hours(24),
            at(1),
        )
        .unwrap();
        assert!(
            link.url
                .starts_with(&format!("https://oversight.example/signin/{id}.")),
            "{}",
            link.url
        );
        assert_eq!(link.expires_at, at(1) + chrono::Duration::hours(24));
        assert_eq!(
            (link.subject.as_str(), link.role),
            ("m1", Role::CommitteeMember)
        );

        let keys = WebKeys::open(dir.path()).unwrap();
        let text = link.url.rsplit('/').next().unwrap();
        let claim = LinkClaim::parse(text, &keys).unwrap();
        assert_eq!(claim.token_id, id);
        assert!(!claim.expired(at(2)));
        assert!(claim.expired(at(1) + chrono::Duration::hours(24)));
        assert_eq!(claim.key(&keys).len(), 64);

        // Any change to the text breaks the signature.
        let other = issue_sign_in_link(
            dir.path(),
            &id,
            "http://h",
            chrono::Duration::hours(1),
            at(1),
        )
        .unwrap();
        assert_ne!(
            LinkClaim::parse(other.url.rsplit('/').next().unwrap(), &keys)
                .unwrap()
                .key(&keys),
            claim.key(&keys),
            "two links of one token are two streams"
        );
        let longer = text.replacen(".", "1.", 2).replacen("1.", ".", 1);
        assert!(LinkClaim::parse(&longer, &keys).is_none(), "{longer}");
        let admin = text.replacen(&id, "admin", 1);
        assert!(LinkClaim::parse(&admin, &keys).is_none());
        assert!(LinkClaim::parse(&format!("{text}."), &keys).is_none());
        let foreign = WebKeys::from_master(&[7; 32]);
        assert!(LinkClaim::parse(text, &foreign).is_none());

        assert!(link.qr_svg().unwrap().starts_with("<?xml"));
    }

    #[test]
    fn links_are_refused_for_tokens_that_cannot_sign_in() {
        let dir = tempfile::tempdir().unwrap();
        TokenStore::open(dir.path()).unwrap();
        let hour = chrono::Duration::hours(1);
        let short = member(dir.path(), Some(at(3)));
        let link = issue_sign_in_link(
            dir.path(),
            &short,
            "http://h",
            chrono::Duration::hours(24),
            at(1),
        )
        .unwrap();
        assert_eq!(link.expires_at, at(3), "never beyond the token's expiry");
        assert!(matches!(
            issue_sign_in_link(dir.path(), &short, "http://h", hour, at(4)),
            Err(LinkError::Inactive {
                status: "expired",
                ..
            })
        ));
        let revoked = member(dir.path(), None);
        tokens::revoke(dir.path(), &tokens::Revoke::Id(revoked.clone()), at(1)).unwrap();
        assert!(matches!(
            issue_sign_in_link(dir.path(), &revoked, "http://h", hour, at(2)),
            Err(LinkError::Inactive {
                status: "revoked",
                ..
            })
        ));
        assert!(matches!(
            issue_sign_in_link(dir.path(), "tok_nosuchtoken", "http://h", hour, at(2)),
            Err(LinkError::UnknownToken(_))
        ));
        assert!(matches!(
            issue_sign_in_link(dir.path(), "a.b", "http://h", hour, at(2)),
            Err(LinkError::Unlinkable(_))
        ));
        assert!(matches!(
            issue_sign_in_link(dir.path(), &short, "ftp://h", hour, at(2)),
            Err(LinkError::BaseUrl(_))
        ));
        assert!(matches!(
            issue_sign_in_link(
                dir.path(),
                &short,
                "http://h",
                chrono::Duration::zero(),
                at(2)
            ),
            Err(LinkError::Lifetime)
        ));
    }
}
