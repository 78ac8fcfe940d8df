//! What every command carries besides its content: who asks ([`Caller`]), the command id that
//! makes a retry safe, and the ids the server mints for it.
//!
//! A client may send a command id (a UUID) with any command. The handler then records the
//! command's events under ids derived from (principal, command id) and the digest of the
//! validated command's canonical encoding ([`digest`]), so that a retry — after a lost reply, a
//! timeout, a server restart — finds what the first attempt wrote and gets the same answer
//! (positions, minted ids), and the same id with other content is refused (ALREADY_EXISTS).
//! Ids the server mints for a command with a command id are derived from it too ([`Caller::mint`]),
//! so the retry's content — and its answer — is the same.

use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::auth::Principal;
use crate::domain::Rejection;
use crate::handler::CommandKey;

/// What a command wrote: the position a query passes as `min_position` to see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// The position of the last event written (or of the target's last event when nothing
    /// changed).
    pub position: u64,
}

/// What a command that creates something wrote: the new record's id (given or minted) and the
/// position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created<I> {
    /// The record's id.
    pub id: I,
    /// The position written.
    pub position: u64,
}

/// The caller of a command: the authenticated principal, the optional command id, and the
/// correlation id recorded with the events.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who acts.
    pub principal: Principal,
    /// Sent by the client to make retries safe; `None`: every call is a new command.
    pub command_id: Option<Uuid>,
    /// Ties the events of one user action together (recorded in metadata), if given.
    pub correlation_id: String,
}

impl Caller {
    /// A caller with no command id and no correlation id.
    pub fn new(principal: Principal) -> Self {
        Self {
            principal,
            command_id: None,
            correlation_id: String::new(),
        }
    }

    /// The principal, as a stable text that scopes command ids: its subject, role and
    /// committee.
    fn scope(&self) -> String {
        format!(
            "{}\u{0}{}\u{0}{}",
            self.principal.subject,
            self.principal.role.as_str(),
            self.principal.committee.as_deref().unwrap_or("")
        )
    }

    /// The key that recognises a retry of the command named `kind` with validated content
    /// `content`; `None` without a command id.
    pub fn key<T: Serialize>(&self, kind: &str, content: &T) -> Option<CommandKey> {
        let command_id = self.command_id?;
        Some(CommandKey::new(
            &self.scope(),
            command_id,
            Some(digest(kind, content)),
        ))
    }

    /// The key of a command whose content must never be recorded next to the caller (a
    /// ballot): a retry is recognised by the command id alone.
    pub fn key_without_content(&self) -> Option<CommandKey> {
        let command_id = self.command_id?;
        Some(CommandKey::new(&self.scope(), command_id, None))
    }

    /// `given`, or an id minted for the field named `field`: a version-7 UUID, whose text sorts
    /// in the order ids were minted (a new document lands at the end of its view table). With a
    /// command id, the id is derived from it (its time, if it is itself a version-7 UUID, and a
    /// hash of the principal, the command id and the field), so a retry mints the same id.
    pub fn mint<I>(
        &self,
        field: &str,
        given: Option<I>,
        parse: impl Fn(String) -> Result<I, Rejection>,
    ) -> Result<I, Rejection> {
        if let Some(id) = given {
            return Ok(id);
        }
        let minted = match self.command_id {
            None => Uuid::now_v7(),
            Some(command_id) => {
                let mut hasher = Sha256::new();
                hasher.update(b"oversight minted id v1\0");
                hasher.update(self.scope().as_bytes());
                hasher.update(b"\0");
                hasher.update(command_id.as_bytes());
                hasher.update(b"\0");
                hasher.update(field.as_bytes());
                let hash: [u8; 32] = hasher.finalize().into();
                let millis = command_id
                    .get_timestamp()
                    .map(|ts| {
                        let (seconds, nanos) = ts.to_unix();
                        seconds * 1000 + u64::from(nanos) / 1_000_000
                    })
                    .unwrap_or(0);
                let mut random = [0u8; 10];
                random.copy_from_slice(&hash[..10]);
                uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
            }
        };
        parse(minted.to_string())
    }
}

/// The digest of a validated command: SHA-256 over its kind and its canonical JSON encoding
/// (serde's, in field order: the same content always encodes the same way).
pub fn digest<T: Serialize>(kind: &str, content: &T) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(kind.as_bytes());
    hasher.update(b"\0");
    // Serializing plain validated data cannot fail; a failure would only make retries of
    // this one command unrecognisable, never wrong.
    match serde_json::to_vec(content) {
        Ok(json) => hasher.update(&json),
        Err(error) => {
            tracing::error!(%error, kind, "a validated command cannot be encoded for its digest");
        }
    }
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;
    use crate::domain::ids::CommitteeId;

    fn caller(subject: &str, command_id: Option<Uuid>) -> Caller {
        Caller {
            principal: Principal {
                subject: subject.into(),
                role: Role::Clerk,
                committee: Some("c".into()),
                deputy_group: None,
            },
            command_id,
            correlation_id: String::new(),
        }
    }

    #[test]
    fn ids_minted_under_a_command_id_are_the_same_on_a_retry_and_differ_otherwise() {
        let command_id = Uuid::now_v7();
        let first = caller("a", Some(command_id));
        let mint = |c: &Caller, field: &str| c.mint(field, None, CommitteeId::parse).unwrap();
        assert_eq!(mint(&first, "committee_id"), mint(&first, "committee_id"));
        assert_ne!(mint(&first, "committee_id"), mint(&first, "other_id"));
        assert_ne!(
            mint(&first, "committee_id"),
            mint(&caller("b", Some(command_id)), "committee_id")
        );
        assert_ne!(
            mint(&first, "committee_id"),
            mint(&caller("a", Some(Uuid::now_v7())), "committee_id")
        );
        // Without a command id every mint is new.
        let plain = caller("a", None);
        assert_ne!(mint(&plain, "committee_id"), mint(&plain, "committee_id"));
        // A given id is kept.
        let given = CommitteeId::parse("harbin").unwrap();
        assert_eq!(
            first
                .mint("committee_id", Some(given.clone()), CommitteeId::parse)
                .unwrap(),
            given
        );
    }

    #[test]
    fn ids_minted_under_a_time_ordered_command_id_keep_its_time() {
        let early = caller("a", Some(Uuid::now_v7()));
        std::thread::sleep(std::time::Duration::from_millis(2));
        let late = caller("a", Some(Uuid::now_v7()));
        let mint = |c: &Caller| c.mint("x", None, CommitteeId::parse).unwrap();
        assert!(mint(&early).as_str()[..13] < mint(&late).as_str()[..13]);
    }

    #[test]
    fn keys_differ_by_principal_and_content_and_ballot_keys_record_no_content() {
        let command_id = Uuid::now_v7();
        let a = caller("a", Some(command_id));
        let b = caller("b", Some(command_id));
        let key = |c: &Caller, content: &str| c.key("Kind", &content).unwrap();
        assert_eq!(key(&a, "x").event_id(0), key(&a, "y").event_id(0));
        assert_ne!(key(&a, "x").event_id(0), key(&b, "x").event_id(0));
        assert_ne!(key(&a, "x").event_id(0), key(&a, "x").event_id(1));
        assert_ne!(digest("Kind", &"x"), digest("Kind", &"y"));
        assert_ne!(digest("Kind", &"x"), digest("Other", &"x"));
        assert!(caller("a", None).key("Kind", &"x").is_none());
        assert_eq!(
            a.key_without_content().unwrap().event_id(0),
            key(&a, "x").event_id(0)
        );
    }
}
