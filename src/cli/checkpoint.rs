//! `oversight log checkpoint | prove | consistency`: fetch the log's signed checkpoint and its
//! proofs from a running server and check them here, trusting only the keys given with `--key`;
//! and `oversight admin key show | rotate` on the server's host.

use std::path::{Path, PathBuf};

use super::client::AuthChannel;
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use oversight::checkpoints::{LOG_KEY_FILE, create_key, next_key_path, read_key};
use oversight::log::checkpoint::{SignedCheckpoint, follow_rotations};
use oversight::log::merkle::{verify_consistency, verify_inclusion};
use oversight::log::note::NoteVerifier;
use oversight::proto::event_log_client::EventLogClient;
use oversight::proto::{
    GetCheckpointRequest, GetCheckpointResponse, GetConsistencyProofRequest,
    GetInclusionProofRequest,
};
use serde_json::json;

/// Reads `--key` values: verifier keys, or files holding one per line.
pub fn verifier_keys(keys: &[String]) -> anyhow::Result<Vec<NoteVerifier>> {
    let mut out = Vec::new();
    for key in keys {
        let text = if Path::new(key).is_file() {
            std::fs::read_to_string(key).with_context(|| format!("cannot read {key}"))?
        } else {
            key.clone()
        };
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            out.push(NoteVerifier::parse(line).with_context(|| format!("--key {line}"))?);
        }
    }
    Ok(out)
}

/// The trusted keys grown by the server's key rotations, and a check of `signed` with them.
/// Returns the names of the keys whose signatures verified.
pub fn check_signature(
    signed: &SignedCheckpoint,
    trusted: &[NoteVerifier],
    rotations: &[String],
) -> anyhow::Result<Vec<String>> {
    let rotations: Vec<SignedCheckpoint> = rotations
        .iter()
        .filter_map(|r| SignedCheckpoint::parse(r).ok())
        .collect();
    let keys = follow_rotations(trusted, &rotations);
    let verified = signed
        .verify(&keys)
        .context("the checkpoint's signature does not verify with the keys given")?;
    Ok(verified
        .iter()
        .map(|v| format!("{}+{:08x}", v.verifier.name(), v.verifier.key_id()))
        .collect())
}

async fn checkpoint_of(
    client: &mut EventLogClient<AuthChannel>,
    size: u64,
) -> anyhow::Result<(SignedCheckpoint, GetCheckpointResponse)> {
    let response = client
        .get_checkpoint(GetCheckpointRequest { size })
        .await?
        .into_inner();
    let signed = SignedCheckpoint::parse(&response.checkpoint)
        .context("the server sent a checkpoint that cannot be read")?;
    Ok((signed, response))
}

/// `oversight log checkpoint`.
pub async fn checkpoint(
    client: &mut EventLogClient<AuthChannel>,
    size: u64,
    keys: &[String],
    json: bool,
) -> anyhow::Result<()> {
    let trusted = verifier_keys(keys)?;
    let (signed, response) = checkpoint_of(client, size).await?;
    let verified = if trusted.is_empty() {
        Vec::new()
    } else {
        check_signature(&signed, &trusted, &response.key_rotations)?
    };
    if json {
        println!(
            "{}",
            json!({
                "checkpoint": signed.to_text(),
                "origin": signed.checkpoint.origin,
                "size": signed.checkpoint.size,
                "root_hash": hex::encode(signed.checkpoint.root),
                "verified_by": verified,
                "key_rotations": response.key_rotations,
            })
        );
    } else {
        print!("{}", signed.to_text());
        if verified.is_empty() {
            eprintln!("(signature not checked: give the log's key with --key)");
        } else {
            eprintln!("ok: signed by {}", verified.join(", "));
        }
    }
    Ok(())
}

/// `oversight log prove`.
pub async fn prove(
    client: &mut EventLogClient<AuthChannel>,
    position: u64,
    size: u64,
    keys: &[String],
    json: bool,
) -> anyhow::Result<()> {
    let trusted = verifier_keys(keys)?;
    let proof = client
        .get_inclusion_proof(GetInclusionProofRequest { position, size })
        .await?
        .into_inner();
    let (signed, response) = if proof.checkpoint.is_empty() {
        checkpoint_of(client, proof.size).await?
    } else {
        let (_, response) = checkpoint_of(client, 0).await?;
        (SignedCheckpoint::parse(&proof.checkpoint)?, response)
    };
    let verified = check_signature(&signed, &trusted, &response.key_rotations)?;
    if signed.checkpoint.size != proof.size {
        bail!(
            "the proof is for size {} but the checkpoint states {}",
            proof.size,
            signed.checkpoint.size
        );
    }
    verify_inclusion(
        position - 1,
        proof.size,
        &proof.leaf_hash,
        &proof.hashes,
        &signed.checkpoint.root,
    )
    .with_context(|| format!("record {position} is not proven in the checkpoint"))?;
    if json {
        println!(
            "{}",
            json!({
                "ok": true,
                "position": position,
                "size": proof.size,
                "leaf_hash": hex::encode(&proof.leaf_hash),
                "root_hash": hex::encode(signed.checkpoint.root),
                "verified_by": verified,
            })
        );
    } else {
        println!(
            "ok: record {position} (leaf {}) is in the log {} of {} records, root {}, signed by {}",
            hex::encode(&proof.leaf_hash),
            signed.checkpoint.origin,
            proof.size,
            hex::encode(signed.checkpoint.root),
            verified.join(", ")
        );
    }
    Ok(())
}

/// `oversight log consistency`.
pub async fn consistency(
    client: &mut EventLogClient<AuthChannel>,
    old: &Path,
    size: u64,
    keys: &[String],
    json: bool,
) -> anyhow::Result<()> {
    let trusted = verifier_keys(keys)?;
    let text = std::fs::read_to_string(old)
        .with_context(|| format!("cannot read the older checkpoint {}", old.display()))?;
    let older = SignedCheckpoint::parse(&text)
        .with_context(|| format!("{} is not a signed checkpoint", old.display()))?;
    let (newer, response) = checkpoint_of(client, size).await?;
    check_signature(&older, &trusted, &response.key_rotations)
        .with_context(|| format!("the older checkpoint {}", old.display()))?;
    let verified = check_signature(&newer, &trusted, &response.key_rotations)?;
    if older.checkpoint.origin != newer.checkpoint.origin {
        bail!(
            "the older checkpoint is of the log {:?}, the server's of {:?}",
            older.checkpoint.origin,
            newer.checkpoint.origin
        );
    }
    let proof = client
        .get_consistency_proof(GetConsistencyProofRequest {
            old_size: older.checkpoint.size,
            new_size: newer.checkpoint.size,
        })
        .await?
        .into_inner();
    verify_consistency(
        older.checkpoint.size,
        newer.checkpoint.size,
        &proof.hashes,
        &older.checkpoint.root,
        &newer.checkpoint.root,
    )
    .context(
        "the log is NOT consistent with the older checkpoint: its history was rewritten since",
    )?;
    if json {
        println!(
            "{}",
            json!({
                "ok": true,
                "old_size": older.checkpoint.size,
                "new_size": newer.checkpoint.size,
                "verified_by": verified,
            })
        );
    } else {
        println!(
            "ok: the log {} of {} records extends the checkpoint of {} records",
            newer.checkpoint.origin, newer.checkpoint.size, older.checkpoint.size
        );
    }
    Ok(())
}

/// Flags of `oversight admin key`.
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// The server's data directory (where `log.key` is).
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        env = "OVERSIGHT_DATA_DIR",
        default_value = "./data"
    )]
    data_dir: PathBuf,
    /// The key file, when `checkpoints.key_file` names one outside the data directory.
    #[arg(long, global = true, value_name = "FILE")]
    key_file: Option<PathBuf>,
    #[command(subcommand)]
    command: KeyCommand,
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Print the log's public key as a verifier key (`<name>+<hex id>+<base64 key>`), which
    /// verifiers give to `--key`; then the keys it replaced, if any.
    Show,
    /// Make the next key (`<key file>.next`); the server's next start announces it in a
    /// checkpoint signed with both keys and signs with it from then on.
    Rotate,
}

/// Runs `oversight admin key`.
pub fn key(args: KeyArgs) -> anyhow::Result<()> {
    let path = args
        .key_file
        .unwrap_or_else(|| args.data_dir.join(LOG_KEY_FILE));
    let signer = read_key(&path)?;
    match args.command {
        KeyCommand::Show => {
            println!("{}", signer.verifier());
            for retired in retired_keys(&path)? {
                println!("{} (retired)", retired.verifier());
            }
        }
        KeyCommand::Rotate => {
            let next = next_key_path(&path);
            if next.exists() {
                bail!(
                    "{} exists already: the rotation waits for the server's next start",
                    next.display()
                );
            }
            let new = create_key(&next, signer.name())?;
            println!("{}", new.verifier());
            eprintln!(
                "the next key is in {}; restart the server to rotate to it (the rotation is announced by a checkpoint signed with both keys)",
                next.display()
            );
        }
    }
    Ok(())
}

/// The keys retired beside `path` (`<key file>.<id>.retired`).
fn retired_keys(path: &Path) -> anyhow::Result<Vec<oversight::log::note::NoteSigner>> {
    let Some(dir) = path.parent() else {
        return Ok(Vec::new());
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Some(stem) = path.file_name().and_then(|n| n.to_str()) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with(&format!("{stem}.")) && name.ends_with(".retired") {
            out.push(read_key(&entry.path())?);
        }
    }
    Ok(out)
}
