//! Signed notes (C2SP signed-note) with Ed25519 keys, and timestamped Ed25519 cosignatures
//! (C2SP tlog-cosignature): the envelope of the log's checkpoints and of witnesses'
//! cosignatures. Pure: no files, no clock (a cosignature's time is given).
//!
//! ```text
//! <text, ending in a newline>
//!
//! — <key name> base64(key id (4 bytes, big-endian) ‖ signature)
//! ```
//!
//! A key is named; its id is `SHA-256(name ‖ "\n" ‖ type ‖ public key)[..4]`, with type `0x01`
//! for a note signature and `0x04` for a cosignature. A verifier key is written
//! `<name>+<hex id>+<base64(type ‖ public key)>`; a signer key (this program's key files)
//! `PRIVATE+KEY+<name>+<hex id>+<base64(type ‖ seed)>`, the form Go's `golang.org/x/mod/sumdb/note`
//! reads too.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// Signature type of an Ed25519 note signature.
pub const ED25519: u8 = 0x01;
/// Signature type of a timestamped Ed25519 cosignature (tlog-cosignature).
pub const COSIGNATURE_V1: u8 = 0x04;
/// Most signatures a note may carry before it is refused.
pub const MAX_SIGNATURES: usize = 64;

/// The em dash that starts a signature line.
const DASH: &str = "\u{2014} ";

/// Why a note, key or signature is not usable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum NoteError {
    /// The text is not a signed note.
    #[error("not a signed note: {0}")]
    Malformed(String),
    /// A key is not in the expected format.
    #[error("not a key: {0}")]
    Key(String),
    /// No signature of a trusted key is on the note.
    #[error("the note has no signature by a trusted key (it is signed by: {0})")]
    Unverified(String),
    /// A signature of a trusted key does not verify: the note was changed or forged.
    #[error(
        "the signature of {name} does not verify: the note was changed after signing, or was not signed by that key"
    )]
    BadSignature {
        /// The key's name.
        name: String,
    },
}

/// `SHA-256(name ‖ "\n" ‖ type ‖ public key)[..4]`, big-endian.
pub fn key_id(name: &str, kind: u8, public: &[u8; 32]) -> u32 {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update(b"\n");
    hasher.update([kind]);
    hasher.update(public);
    let digest = hasher.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Checks a key name: non-empty, no spaces, no `+`.
fn check_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '+') {
        return Err(NoteError::Key(format!(
            "the name {name:?} must be non-empty, without spaces or '+'"
        )));
    }
    Ok(())
}

/// A private key that signs notes (type 0x01) or cosignatures (type 0x04).
#[derive(Clone)]
pub struct NoteSigner {
    name: String,
    kind: u8,
    key: SigningKey,
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("key_id", &format_args!("{:08x}", self.key_id()))
            .finish_non_exhaustive()
    }
}

impl NoteSigner {
    /// A signer named `name` of the given type from a 32-byte Ed25519 seed.
    pub fn from_seed(name: &str, kind: u8, seed: [u8; 32]) -> Result<Self, NoteError> {
        check_name(name)?;
        if kind != ED25519 && kind != COSIGNATURE_V1 {
            return Err(NoteError::Key(format!(
                "unknown signature type {kind:#04x}"
            )));
        }
        Ok(Self {
            name: name.to_string(),
            kind,
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// A new signer with a seed from the operating system's random source.
    pub fn generate(name: &str, kind: u8) -> Result<Self, NoteError> {
        let mut seed = [0u8; 32];
        rand::fill(&mut seed);
        Self::from_seed(name, kind, seed)
    }

    /// Reads `PRIVATE+KEY+<name>+<hex id>+<base64(type ‖ seed)>`.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let text = text.trim();
        let rest = text
            .strip_prefix("PRIVATE+KEY+")
            .ok_or_else(|| NoteError::Key("a signer key starts with PRIVATE+KEY+".into()))?;
        let (name, id, material) = split_key(rest)?;
        let (&kind, seed) = material
            .split_first()
            .ok_or_else(|| NoteError::Key("the key material is empty".into()))?;
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| NoteError::Key(format!("the seed is {} bytes, not 32", seed.len())))?;
        let signer = Self::from_seed(name, kind, seed)?;
        if signer.key_id() != id {
            return Err(NoteError::Key(format!(
                "the key id {id:08x} does not match the key ({:08x})",
                signer.key_id()
            )));
        }
        Ok(signer)
    }

    /// `PRIVATE+KEY+<name>+<hex id>+<base64(type ‖ seed)>`: what a key file holds. Secret.
    pub fn to_private_text(&self) -> String {
        let mut material = vec![self.kind];
        material.extend_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.key_id(),
            B64.encode(material)
        )
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        key_id(&self.name, self.kind, self.key.verifying_key().as_bytes())
    }

    /// The matching verifier.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            kind: self.kind,
            key: self.key.verifying_key(),
        }
    }

    /// Signs a note's text (a note signer) and returns the signature line's value.
    pub fn sign(&self, text: &str) -> NoteSignature {
        let signature = self.key.sign(text.as_bytes()).to_bytes();
        NoteSignature {
            name: self.name.clone(),
            key_id: self.key_id(),
            bytes: signature.to_vec(),
        }
    }

    /// Cosigns a note's text at `timestamp` (POSIX seconds): `timestamp ‖ Ed25519 signature` of
    /// `"cosignature/v1\ntime <timestamp>\n" ‖ text` (tlog-cosignature).
    pub fn cosign(&self, text: &str, timestamp: u64) -> NoteSignature {
        let message = cosigned_message(text, timestamp);
        let signature = self.key.sign(message.as_bytes()).to_bytes();
        let mut bytes = timestamp.to_be_bytes().to_vec();
        bytes.extend_from_slice(&signature);
        NoteSignature {
            name: self.name.clone(),
            key_id: self.key_id(),
            bytes,
        }
    }
}

/// What a cosigner signs.
fn cosigned_message(text: &str, timestamp: u64) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{text}")
}

/// Splits `<name>+<hex id>+<base64>`.
fn split_key(text: &str) -> Result<(&str, u32, Vec<u8>), NoteError> {
    let mut parts = text.splitn(3, '+');
    let (Some(name), Some(id), Some(material)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(NoteError::Key(
            "expected <name>+<hex key id>+<base64 key>".into(),
        ));
    };
    check_name(name)?;
    if id.len() != 8 {
        return Err(NoteError::Key(format!(
            "the key id {id:?} is not 8 hex digits"
        )));
    }
    let id = u32::from_str_radix(id, 16)
        .map_err(|_| NoteError::Key(format!("the key id {id:?} is not hex")))?;
    let material = B64
        .decode(material)
        .map_err(|e| NoteError::Key(format!("the key is not base64: {e}")))?;
    Ok((name, id, material))
}

/// A public key that checks note signatures (type 0x01) or cosignatures (type 0x04).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    kind: u8,
    key: VerifyingKey,
}

impl NoteVerifier {
    /// Reads a verifier key `<name>+<hex id>+<base64(type ‖ public key)>`.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let (name, id, material) = split_key(text.trim())?;
        let (&kind, public) = material
            .split_first()
            .ok_or_else(|| NoteError::Key("the key material is empty".into()))?;
        if kind != ED25519 && kind != COSIGNATURE_V1 {
            return Err(NoteError::Key(format!(
                "signature type {kind:#04x} is not Ed25519 (0x01) or an Ed25519 cosignature (0x04)"
            )));
        }
        let public: [u8; 32] = public.try_into().map_err(|_| {
            NoteError::Key(format!("the public key is {} bytes, not 32", public.len()))
        })?;
        let key = VerifyingKey::from_bytes(&public)
            .map_err(|e| NoteError::Key(format!("not an Ed25519 public key: {e}")))?;
        let verifier = Self {
            name: name.to_string(),
            kind,
            key,
        };
        if verifier.key_id() != id {
            return Err(NoteError::Key(format!(
                "the key id {id:08x} does not match the key ({:08x})",
                verifier.key_id()
            )));
        }
        Ok(verifier)
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        key_id(&self.name, self.kind, self.key.as_bytes())
    }

    /// Whether this key checks cosignatures (type 0x04) rather than note signatures.
    pub fn is_cosigner(&self) -> bool {
        self.kind == COSIGNATURE_V1
    }

    /// Whether `signature` is this key's name and id.
    fn names(&self, signature: &NoteSignature) -> bool {
        signature.name == self.name && signature.key_id == self.key_id()
    }

    /// Checks this key's `signature` of `text`; for a cosignature returns its timestamp.
    fn check(&self, text: &str, signature: &NoteSignature) -> Result<Option<u64>, NoteError> {
        let bad = || NoteError::BadSignature {
            name: self.name.clone(),
        };
        if self.kind == COSIGNATURE_V1 {
            let (time, sig) = signature.bytes.split_at_checked(8).ok_or_else(bad)?;
            let timestamp = u64::from_be_bytes(time.try_into().map_err(|_| bad())?);
            let sig = ed25519_dalek::Signature::from_slice(sig).map_err(|_| bad())?;
            self.key
                .verify_strict(cosigned_message(text, timestamp).as_bytes(), &sig)
                .map_err(|_| bad())?;
            Ok(Some(timestamp))
        } else {
            let sig = ed25519_dalek::Signature::from_slice(&signature.bytes).map_err(|_| bad())?;
            self.key
                .verify_strict(text.as_bytes(), &sig)
                .map_err(|_| bad())?;
            Ok(None)
        }
    }
}

impl std::fmt::Display for NoteVerifier {
    /// `<name>+<hex id>+<base64(type ‖ public key)>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut material = vec![self.kind];
        material.extend_from_slice(self.key.as_bytes());
        write!(
            f,
            "{}+{:08x}+{}",
            self.name,
            self.key_id(),
            B64.encode(material)
        )
    }
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key's name.
    pub name: String,
    /// The key id.
    pub key_id: u32,
    /// The signature (for a cosignature: timestamp ‖ signature).
    pub bytes: Vec<u8>,
}

/// A signed note: text and signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The text, ending in a newline.
    pub text: String,
    /// The signatures, in the order they appear.
    pub signatures: Vec<NoteSignature>,
}

/// A signature that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The key that made it.
    pub verifier: NoteVerifier,
    /// The cosignature's time (POSIX seconds), for a cosignature.
    pub timestamp: Option<u64>,
}

impl Note {
    /// A note of `text` (which must end in a newline) with no signature yet.
    pub fn new(text: impl Into<String>) -> Result<Self, NoteError> {
        let text = text.into();
        check_text(&text)?;
        Ok(Self {
            text,
            signatures: Vec::new(),
        })
    }

    /// Reads a signed note.
    pub fn parse(note: &str) -> Result<Self, NoteError> {
        if note.chars().any(|c| c < ' ' && c != '\n') {
            return Err(NoteError::Malformed(
                "it holds control characters other than newlines".into(),
            ));
        }
        // The text ends at the last blank line.
        let split = note
            .rfind("\n\n")
            .ok_or_else(|| NoteError::Malformed("no blank line before the signatures".into()))?;
        let text = &note[..split + 1];
        let lines = &note[split + 2..];
        if !lines.ends_with('\n') {
            return Err(NoteError::Malformed(
                "it does not end with a newline".into(),
            ));
        }
        let mut signatures = Vec::new();
        for line in lines.lines() {
            let rest = line
                .strip_prefix(DASH)
                .ok_or_else(|| NoteError::Malformed(format!("{line:?} is not a signature line")))?;
            let (name, sig) = rest.split_once(' ').ok_or_else(|| {
                NoteError::Malformed(format!("{line:?} is not `— <name> <signature>`"))
            })?;
            check_name(name).map_err(|e| NoteError::Malformed(e.to_string()))?;
            let bytes = B64
                .decode(sig)
                .map_err(|e| NoteError::Malformed(format!("a signature is not base64: {e}")))?;
            let (id, bytes) = bytes
                .split_at_checked(4)
                .ok_or_else(|| NoteError::Malformed("a signature is too short".into()))?;
            let key_id = u32::from_be_bytes(
                id.try_into()
                    .map_err(|_| NoteError::Malformed("a signature is too short".into()))?,
            );
            signatures.push(NoteSignature {
                name: name.to_string(),
                key_id,
                bytes: bytes.to_vec(),
            });
        }
        if signatures.is_empty() {
            return Err(NoteError::Malformed("it has no signature".into()));
        }
        if signatures.len() > MAX_SIGNATURES {
            return Err(NoteError::Malformed(format!(
                "it has {} signatures; at most {MAX_SIGNATURES} are read",
                signatures.len()
            )));
        }
        check_text(text)?;
        Ok(Self {
            text: text.to_string(),
            signatures,
        })
    }

    /// Adds `signer`'s signature (a note signature or a cosignature at `timestamp`), replacing
    /// one of the same key.
    pub fn add(&mut self, signature: NoteSignature) {
        self.signatures
            .retain(|s| !(s.name == signature.name && s.key_id == signature.key_id));
        self.signatures.push(signature);
    }

    /// Checks the signatures by the `trusted` keys: every one present must verify, and at least
    /// one must be present. Signatures by other keys are ignored (C2SP signed-note). Returns
    /// the signatures that verified.
    pub fn verify(&self, trusted: &[NoteVerifier]) -> Result<Vec<Verified>, NoteError> {
        let mut verified = Vec::new();
        for signature in &self.signatures {
            for key in trusted.iter().filter(|k| k.names(signature)) {
                let timestamp = key.check(&self.text, signature)?;
                verified.push(Verified {
                    verifier: key.clone(),
                    timestamp,
                });
            }
        }
        if verified.is_empty() {
            let names: Vec<String> = self
                .signatures
                .iter()
                .map(|s| format!("{} {:08x}", s.name, s.key_id))
                .collect();
            return Err(NoteError::Unverified(names.join(", ")));
        }
        Ok(verified)
    }
}

impl std::fmt::Display for Note {
    /// The note as text: the text, a blank line, one line per signature.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)?;
        f.write_str("\n")?;
        for s in &self.signatures {
            let mut bytes = s.key_id.to_be_bytes().to_vec();
            bytes.extend_from_slice(&s.bytes);
            writeln!(f, "{DASH}{} {}", s.name, B64.encode(bytes))?;
        }
        Ok(())
    }
}

/// A note's text: ends in a newline, no control characters but newlines.
fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::Malformed(
            "the text must end with a newline".into(),
        ));
    }
    if text.chars().any(|c| c < ' ' && c != '\n') {
        return Err(NoteError::Malformed(
            "the text holds control characters other than newlines".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of C2SP signed-note §"Verifier keys": a key and a note it signed.
    const SPEC_VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
    const SPEC_NOTE: &str = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

    #[test]
    fn the_specification_s_example_verifies_and_a_change_does_not() {
        let key = NoteVerifier::parse(SPEC_VKEY).unwrap();
        assert_eq!(key.to_string(), SPEC_VKEY);
        let note = Note::parse(SPEC_NOTE).unwrap();
        assert_eq!(note.text, "This is an example message.\n");
        assert_eq!(note.to_string(), SPEC_NOTE);
        assert_eq!(note.verify(std::slice::from_ref(&key)).unwrap().len(), 1);
        let changed =
            Note::parse(&SPEC_NOTE.replace("example message", "exemplary message")).unwrap();
        assert_eq!(
            changed.verify(std::slice::from_ref(&key)),
            Err(NoteError::BadSignature {
                name: "example.com/foo".into()
            })
        );
        let other = NoteSigner::generate("example.com/bar", ED25519)
            .unwrap()
            .verifier();
        assert!(matches!(
            note.verify(&[other]),
            Err(NoteError::Unverified(_))
        ));
    }

    #[test]
    fn keys_round_trip_and_sign_notes_and_cosignatures() {
        let signer = NoteSigner::generate("oversight.example/log", ED25519).unwrap();
        let again = NoteSigner::parse(&signer.to_private_text()).unwrap();
        assert_eq!(again.verifier(), signer.verifier());
        let vkey = NoteVerifier::parse(&signer.verifier().to_string()).unwrap();
        let mut note = Note::new("a\nb\n").unwrap();
        note.add(signer.sign(&note.text));
        let parsed = Note::parse(&note.to_string()).unwrap();
        assert_eq!(parsed, note);
        assert!(parsed.verify(std::slice::from_ref(&vkey)).is_ok());

        let witness = NoteSigner::generate("witness.example/w1", COSIGNATURE_V1).unwrap();
        let mut cosigned = parsed.clone();
        cosigned.add(witness.cosign(&cosigned.text, 1_679_315_147));
        let cosigned = Note::parse(&cosigned.to_string()).unwrap();
        let found = cosigned.verify(&[vkey, witness.verifier()]).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[1].timestamp, Some(1_679_315_147));
        // A note key and a cosigner key of the same seed have different ids.
        assert_ne!(witness.key_id(), {
            let seed = NoteSigner::parse(&witness.to_private_text()).unwrap();
            key_id(seed.name(), ED25519, seed.key.verifying_key().as_bytes())
        });
    }

    #[test]
    fn malformed_notes_and_keys_are_refused() {
        for bad in [
            "no signatures\n",
            "text\n\n",
            "text\n\nnot a signature\n",
            "text\n\n\u{2014} name !!!\n",
            "text\u{7}\n\n\u{2014} n AAAAAAAA\n",
        ] {
            assert!(Note::parse(bad).is_err(), "{bad:?}");
        }
        assert!(NoteVerifier::parse("name+12345678+AAAA").is_err());
        assert!(
            NoteVerifier::parse("na me+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k")
                .is_err()
        );
        assert!(
            NoteVerifier::parse(
                "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
            )
            .is_err()
        );
        assert!(NoteSigner::parse("PRIVATE+KEY+x+00000000+AA==").is_err());
    }
}
