//! Checkpoints (C2SP tlog-checkpoint): the signed statement "the log named *origin* holds *size*
//! records whose Merkle tree has root *root*". Pure: text format, parsing, the key-rotation
//! extension and verification against trusted keys ([`super::note`]).
//!
//! ```text
//! <origin: the log's name>
//! <size, decimal>
//! <base64 root hash>
//! [extension lines]
//!
//! — <key name> base64(key id ‖ Ed25519 signature)
//! ```
//!
//! **Key rotation.** A new key is announced by a checkpoint carrying the extension line
//! `oversight-key <verifier key of the new key>`, signed by the old key (and by the new one).
//! A verifier that trusts the old key learns the new one from it ([`follow_rotations`]); a
//! checkpoint signed by the old key before the rotation still verifies with the old key.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use thiserror::Error;

use super::merkle::Hash;
use super::note::{Note, NoteError, NoteVerifier, Verified};

/// The extension line that announces a new key.
pub const KEY_ROTATION: &str = "oversight-key ";

/// Why a checkpoint is not usable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The note's text is not a checkpoint.
    #[error("not a checkpoint: {0}")]
    Malformed(String),
    /// The note is not validly signed by a trusted key.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// The checkpoint is of another log.
    #[error("the checkpoint is of the log {found:?}, not {expected:?}")]
    Origin {
        /// The origin expected.
        expected: String,
        /// The checkpoint's origin.
        found: String,
    },
}

/// A checkpoint's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's name.
    pub origin: String,
    /// The number of records.
    pub size: u64,
    /// The Merkle tree's root hash over them.
    pub root: Hash,
    /// Extension lines (non-empty), e.g. a key rotation.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: &str, size: u64, root: Hash) -> Self {
        Self {
            origin: origin.to_string(),
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// The note text: origin, size, base64 root, extension lines, each ending in a newline.
    pub fn text(&self) -> String {
        let mut out = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        );
        for line in &self.extensions {
            out.push_str(line);
            out.push('\n');
        }
        out
    }

    /// Reads a checkpoint's note text.
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        let bad = |m: &str| CheckpointError::Malformed(m.to_string());
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| bad("the text must end with a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or_else(|| bad("no origin line"))?;
        let size = lines.next().ok_or_else(|| bad("no size line"))?;
        if size.is_empty()
            || !size.bytes().all(|b| b.is_ascii_digit())
            || (size.len() > 1 && size.starts_with('0'))
        {
            return Err(bad(
                "the size is not a decimal number without leading zeros",
            ));
        }
        let size = size
            .parse::<u64>()
            .map_err(|_| bad("the size is out of range"))?;
        let root = lines.next().ok_or_else(|| bad("no root hash line"))?;
        let root: Hash = B64
            .decode(root)
            .ok()
            .and_then(|r| r.try_into().ok())
            .ok_or_else(|| bad("the root hash is not 32 bytes of base64"))?;
        let extensions: Vec<String> = lines.map(str::to_string).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(bad("an extension line is empty"));
        }
        Ok(Self {
            origin: origin.to_string(),
            size,
            root,
            extensions,
        })
    }

    /// The new key this checkpoint announces, if it is a key rotation.
    pub fn announced_key(&self) -> Result<Option<NoteVerifier>, CheckpointError> {
        self.extensions
            .iter()
            .find_map(|line| line.strip_prefix(KEY_ROTATION))
            .map(NoteVerifier::parse)
            .transpose()
            .map_err(CheckpointError::from)
    }
}

/// A checkpoint with its signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// What it says.
    pub checkpoint: Checkpoint,
    /// The signed note (its text is `checkpoint.text()`).
    pub note: Note,
}

impl SignedCheckpoint {
    /// Reads a signed checkpoint.
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        let note = Note::parse(text)?;
        let checkpoint = Checkpoint::parse(&note.text)?;
        Ok(Self { checkpoint, note })
    }

    /// Checks the signatures by `trusted` keys (at least one, every one present valid) and
    /// returns those that verified.
    pub fn verify(&self, trusted: &[NoteVerifier]) -> Result<Vec<Verified>, CheckpointError> {
        Ok(self.note.verify(trusted)?)
    }

    /// The signed note as text.
    pub fn to_text(&self) -> String {
        self.note.to_string()
    }
}

/// The trusted keys grown by the key rotations (oldest first) that a trusted key signed: each
/// rotation's new key is trusted from then on. A rotation no trusted key signed is skipped.
pub fn follow_rotations(
    trusted: &[NoteVerifier],
    rotations: &[SignedCheckpoint],
) -> Vec<NoteVerifier> {
    let mut keys = trusted.to_vec();
    for rotation in rotations {
        let Ok(Some(new)) = rotation.checkpoint.announced_key() else {
            continue;
        };
        let signed_by_old = rotation
            .note
            .verify(&keys)
            .map(|v| v.iter().any(|v| v.verifier != new))
            .unwrap_or(false);
        if signed_by_old && !keys.contains(&new) {
            keys.push(new);
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::note::{ED25519, NoteSigner};

    /// The example of C2SP tlog-checkpoint.
    const SPEC: &str = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";

    #[test]
    fn the_specification_s_example_reads_back_to_the_same_text() {
        let signed = SignedCheckpoint::parse(SPEC).unwrap();
        assert_eq!(signed.checkpoint.origin, "example.com/behind-the-sofa");
        assert_eq!(signed.checkpoint.size, 20_852_163);
        assert_eq!(signed.checkpoint.text(), signed.note.text);
        assert_eq!(signed.to_text(), SPEC);
    }

    #[test]
    fn bad_texts_are_refused() {
        for bad in [
            "o\n1\n",
            "o\n01\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
            "o\n-1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
            "o\n1\nCsUY\n",
            "\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
            "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=",
        ] {
            assert!(Checkpoint::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_rotation_signed_by_the_old_key_makes_the_new_key_trusted() {
        let old = NoteSigner::generate("city.example/log", ED25519).unwrap();
        let new = NoteSigner::generate("city.example/log", ED25519).unwrap();
        let before = Checkpoint::new("city.example/log", 5, [1; 32]);
        let mut before_note = Note::new(before.text()).unwrap();
        before_note.add(old.sign(&before_note.text));

        let mut rotation = Checkpoint::new("city.example/log", 6, [2; 32]);
        rotation
            .extensions
            .push(format!("{KEY_ROTATION}{}", new.verifier()));
        let mut note = Note::new(rotation.text()).unwrap();
        note.add(old.sign(&note.text));
        note.add(new.sign(&note.text));
        let rotation = SignedCheckpoint::parse(&note.to_string()).unwrap();
        assert_eq!(
            rotation.checkpoint.announced_key().unwrap(),
            Some(new.verifier())
        );

        let after = Checkpoint::new("city.example/log", 9, [3; 32]);
        let mut after_note = Note::new(after.text()).unwrap();
        after_note.add(new.sign(&after_note.text));

        let trusted = vec![old.verifier()];
        assert!(after_note.verify(&trusted).is_err());
        let grown = follow_rotations(&trusted, std::slice::from_ref(&rotation));
        assert!(after_note.verify(&grown).is_ok());
        // The old key's checkpoints still verify.
        assert!(before_note.verify(&grown).is_ok());

        // A rotation signed only by the new key (anyone can make one) is not followed.
        let mut forged = Note::new(rotation.note.text.clone()).unwrap();
        forged.add(new.sign(&forged.text));
        let forged = SignedCheckpoint::parse(&forged.to_string()).unwrap();
        assert_eq!(follow_rotations(&trusted, &[forged]), trusted);
    }
}
