//! The pages' secret key: 32 random bytes kept hex-encoded in `web.key` (mode 0600) in the data
//! directory, made on first use and never overwritten. Everything the pages sign — sign-in
//! links, session cookies, CSRF tokens — is an HMAC-SHA256 under a key derived from it for that
//! one purpose, so a value signed for one use is never accepted for another.
//!
//! The key survives restarts, so sessions and unspent links do too. Servers that share one log
//! must share this file as well. Deleting it signs everyone out and voids every unspent link.

use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;

use crate::auth::store::write_secret;

/// The file in the data directory that holds the pages' key.
pub const WEB_KEY_FILE: &str = "web.key";

type HmacSha256 = Hmac<Sha256>;

/// Why the pages' key could not be read or made.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The file could not be read or written.
    #[error("cannot {action} {path}: {detail}")]
    Io {
        /// What was attempted.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        detail: String,
    },
    /// The file does not hold a key.
    #[error(
        "{path} does not hold the pages' key ({detail}); restore it, or delete it to have a new one made (which signs everyone out and voids every unspent sign-in link)"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

/// What a signature is for; each purpose signs under a key of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A one-time sign-in link.
    Link,
    /// A session cookie.
    Session,
    /// A CSRF token of a form.
    Csrf,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::Link => b"oversight web: sign-in link",
            Purpose::Session => b"oversight web: session",
            Purpose::Csrf => b"oversight web: csrf",
        }
    }
}

/// The keys derived from `web.key`, one per [`Purpose`].
#[derive(Clone)]
pub struct WebKeys {
    link: [u8; 32],
    session: [u8; 32],
    csrf: [u8; 32],
}

impl std::fmt::Debug for WebKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebKeys(redacted)")
    }
}

impl WebKeys {
    /// Reads `web.key` from `data_dir`, making it (mode 0600) if it does not exist yet.
    pub fn open(data_dir: &Path) -> Result<Self, KeyError> {
        let path = data_dir.join(WEB_KEY_FILE);
        let io = |action: &'static str, detail: String| KeyError::Io {
            action,
            path: path.clone(),
            detail,
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let master: [u8; 32] = rand::random();
                let text = format!("{}\n", hex::encode(master));
                match write_secret(&path, text.as_bytes()) {
                    Ok(()) => {
                        tracing::info!(path = %path.display(), "created the pages' key");
                        text
                    }
                    // Another process made it first: use theirs.
                    Err(_) if path.exists() => {
                        std::fs::read_to_string(&path).map_err(|e| io("read", e.to_string()))?
                    }
                    Err(e) => return Err(io("create", e.to_string())),
                }
            }
            Err(e) => return Err(io("read", e.to_string())),
        };
        let mut master = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut master).map_err(|e| KeyError::Corrupt {
            path: path.clone(),
            detail: format!("expected 64 hex digits: {e}"),
        })?;
        Ok(Self::from_master(&master))
    }

    /// The keys derived from `master` (tests use a fixed one).
    pub fn from_master(master: &[u8; 32]) -> Self {
        let derive = |purpose: Purpose| mac_with(master, &[purpose.label()]);
        Self {
            link: derive(Purpose::Link),
            session: derive(Purpose::Session),
            csrf: derive(Purpose::Csrf),
        }
    }

    fn key(&self, purpose: Purpose) -> &[u8; 32] {
        match purpose {
            Purpose::Link => &self.link,
            Purpose::Session => &self.session,
            Purpose::Csrf => &self.csrf,
        }
    }

    /// The signature of `parts` for `purpose` (each part length-prefixed, so that parts cannot
    /// be shifted into one another).
    pub fn sign(&self, purpose: Purpose, parts: &[&[u8]]) -> [u8; 32] {
        mac_with(self.key(purpose), parts)
    }

    /// Whether `tag` is the signature of `parts` for `purpose`, compared in constant time.
    pub fn verify(&self, purpose: Purpose, parts: &[&[u8]], tag: &[u8]) -> bool {
        mac_for(self.key(purpose), parts).verify_slice(tag).is_ok()
    }
}

fn mac_for(key: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this never fails; the fallback keeps clippy's
    // no-expect rule without a panic path.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => <HmacSha256 as hmac::digest::KeyInit>::new(&Default::default()),
    };
    for part in parts {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac
}

fn mac_with(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    mac_for(key, parts).finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_is_made_once_private_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let keys = WebKeys::open(dir.path()).unwrap();
        let path = dir.path().join(WEB_KEY_FILE);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = WebKeys::open(dir.path()).unwrap();
        let tag = keys.sign(Purpose::Session, &[b"a", b"b"]);
        assert!(again.verify(Purpose::Session, &[b"a", b"b"], &tag));
        assert!(
            !again.verify(Purpose::Link, &[b"a", b"b"], &tag),
            "one purpose's signature is refused for another"
        );
        assert!(!again.verify(Purpose::Session, &[b"ab", b""], &tag));
        assert!(!again.verify(Purpose::Session, &[b"a", b"b"], &tag[..31]));

        std::fs::write(&path, "not hex\n").unwrap();
        let error = WebKeys::open(dir.path()).unwrap_err();
        assert!(error.to_string().contains("web.key"), "{error}");
    }
}
