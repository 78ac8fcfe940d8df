//! The log's Merkle tree in its redb file: the `merkle_nodes` table (storage index → node hash,
//! see [`crate::log::merkle`]), written in the same transaction as the records it covers, and
//! what opening a file does with it — build what is missing (a file of an earlier format, or
//! one whose build was interrupted), then check its right edge against the records.

use std::path::Path;

use redb::{Database, Durability, ReadableDatabase, ReadableTable, StorageError, Table};
use tracing::info;

use super::{EVENTS, Shared, storage_error};
use crate::log::codec::split_stored;
use crate::log::merkle::{self, Frontier, Hash, NodeId, NodeSource};
use crate::log::{
    Head, InvalidInput, OpenError, ReadError, check_sizes, check_tree_size, leaf_index,
};

/// `storage index → node hash` (see `docs/STORAGE.md`, "The Merkle tree").
pub(crate) const MERKLE: redb::TableDefinition<u64, [u8; 32]> =
    redb::TableDefinition::new("merkle_nodes");

/// Leaves added per transaction while the tree is built at open.
const BUILD_CHUNK: u64 = 16_384;

/// A table of stored nodes as a [`NodeSource`]; a node the tree should have and the table
/// lacks is [`StorageError::Corrupted`].
pub(crate) struct Nodes<'t, T>(pub(crate) &'t T);

impl<T: ReadableTable<u64, [u8; 32]>> NodeSource for Nodes<'_, T> {
    type Error = StorageError;
    fn nodes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, StorageError> {
        ids.iter()
            .map(|id| {
                self.0
                    .get(id.storage_index())?
                    .map(|v| v.value())
                    .ok_or_else(|| {
                        StorageError::Corrupted(format!(
                            "the Merkle tree lacks its node at level {} index {}",
                            id.level, id.index
                        ))
                    })
            })
            .collect()
    }
}

/// The error of a source that answered with fewer hashes than asked for.
pub(crate) fn short() -> StorageError {
    StorageError::Corrupted("the Merkle tree answered with too few nodes".into())
}

/// The frontier of the tree of `size` leaves, read from its stored root nodes.
pub(crate) fn frontier(
    table: &impl ReadableTable<u64, [u8; 32]>,
    size: u64,
) -> Result<Frontier, StorageError> {
    let peaks = Nodes(table).nodes(&merkle::root_nodes(size))?;
    Frontier::from_peaks(size, peaks).ok_or_else(short)
}

/// Adds the record whose canonical bytes are `canonical` as the next leaf: pushes it onto
/// `frontier` and inserts every node it completes.
pub(crate) fn append_leaf(
    table: &mut Table<'_, u64, [u8; 32]>,
    frontier: &mut Frontier,
    canonical: &[u8],
) -> Result<(), StorageError> {
    let mut failed = None;
    frontier.push(merkle::leaf_hash(canonical), |id, hash| {
        if failed.is_none()
            && let Err(e) = table.insert(id.storage_index(), hash)
        {
            failed = Some(e);
        }
    });
    failed.map_or(Ok(()), Err)
}

/// How many leaves the stored nodes cover, or why they are not a tree's nodes.
fn stored_size(
    table: &impl ReadableTable<u64, [u8; 32]>,
) -> Result<Result<u64, String>, StorageError> {
    let count = match table.last()? {
        Some((key, _)) => key.value() + 1,
        None => 0,
    };
    let size = merkle::size_for_stored_nodes(count);
    if merkle::stored_nodes(size) != count {
        return Ok(Err(format!(
            "the Merkle tree ends with {count} nodes, which no tree has (a tree of {size} leaves \
             has {})",
            merkle::stored_nodes(size)
        )));
    }
    Ok(Ok(size))
}

/// Brings the tree level with the records up to `head` and checks it; returns its frontier.
///
/// A file of storage format 3 or earlier has no tree, and a build cut short leaves part of one:
/// the leaves missing are added from the records, [`BUILD_CHUNK`] per durable transaction, so an
/// interrupted build goes on where it stopped. Then the tree's last leaf must be the hash of the
/// last record — a tree with more leaves than the log has records, or whose last leaf is
/// another record's, is refused as corrupt. (`verify` checks every node.)
pub(crate) fn complete(db: &Database, head: Head, path: &Path) -> Result<Frontier, OpenError> {
    let storage = |e: redb::Error| storage_error(path, e);
    let corrupt = |detail: String| OpenError::Corrupt {
        path: path.to_path_buf(),
        detail,
    };
    let built = {
        let txn = db.begin_read().map_err(|e| storage(e.into()))?;
        let table = txn.open_table(MERKLE).map_err(|e| storage(e.into()))?;
        stored_size(&table)
            .map_err(|e| storage(e.into()))?
            .map_err(corrupt)?
    };
    if built > head.position {
        return Err(corrupt(format!(
            "the Merkle tree has {built} leaves but the log only {} records",
            head.position
        )));
    }
    if built < head.position {
        info!(
            from = built + 1,
            to = head.position,
            "event log: building the Merkle tree over records that lack it"
        );
    }
    let mut done = built;
    while done < head.position {
        let end = head.position.min(done + BUILD_CHUNK);
        let mut txn = db.begin_write().map_err(|e| storage(e.into()))?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| storage(e.into()))?;
        {
            let mut table = txn.open_table(MERKLE).map_err(|e| storage(e.into()))?;
            let mut tree = frontier(&table, done).map_err(|e| storage(e.into()))?;
            let events = txn.open_table(EVENTS).map_err(|e| storage(e.into()))?;
            for entry in events
                .range(done + 1..=end)
                .map_err(|e| storage(e.into()))?
            {
                let (key, value) = entry.map_err(|e| storage(e.into()))?;
                if key.value() != tree.size() + 1 {
                    return Err(corrupt(format!(
                        "position {} is missing; positions must be gapless",
                        tree.size() + 1
                    )));
                }
                let (canonical, _) = split_stored(value.value())
                    .map_err(|e| corrupt(format!("position {}: {e}", key.value())))?;
                append_leaf(&mut table, &mut tree, canonical).map_err(|e| storage(e.into()))?;
            }
            if tree.size() != end {
                return Err(corrupt(format!(
                    "position {} is missing; positions must be gapless",
                    tree.size() + 1
                )));
            }
        }
        txn.commit().map_err(|e| storage(e.into()))?;
        done = end;
    }
    let txn = db.begin_read().map_err(|e| storage(e.into()))?;
    let table = txn.open_table(MERKLE).map_err(|e| storage(e.into()))?;
    let tree = frontier(&table, head.position).map_err(|e| corrupt(e.to_string()))?;
    if head.position > 0 {
        let events = txn.open_table(EVENTS).map_err(|e| storage(e.into()))?;
        let last = events
            .get(head.position)
            .map_err(|e| storage(e.into()))?
            .ok_or_else(|| {
                corrupt(format!(
                    "the record at the head {} is missing",
                    head.position
                ))
            })?;
        let (canonical, _) = split_stored(last.value())
            .map_err(|e| corrupt(format!("position {}: {e}", head.position)))?;
        let stored = Nodes(&table)
            .nodes(&[NodeId::leaf(head.position - 1)])
            .map_err(|e| corrupt(e.to_string()))?;
        if stored.first() != Some(&merkle::leaf_hash(canonical)) {
            return Err(corrupt(format!(
                "the Merkle tree's leaf for position {} is not the hash of the record there",
                head.position
            )));
        }
    }
    Ok(tree)
}

/// A failure of the tree's storage as a read's error.
fn read_failure(e: impl Into<redb::Error>) -> ReadError {
    let e = e.into();
    ReadError::Storage(format!("reading the Merkle tree: {e}"))
}

/// Runs `work` on the stored nodes of the tree as committed now, after checking that `size`
/// is within it.
fn with_nodes<T>(
    shared: &Shared,
    size: u64,
    work: impl FnOnce(&Nodes<'_, redb::ReadOnlyTable<u64, [u8; 32]>>) -> Result<T, ReadError>,
) -> Result<T, ReadError> {
    // The tree is published after its commit, so every node of a size up to it is readable.
    check_tree_size(size, shared.tree().size())?;
    let db = shared.db()?;
    let txn = db.begin_read().map_err(read_failure)?;
    let table = txn.open_table(MERKLE).map_err(read_failure)?;
    work(&Nodes(&table))
}

/// The root of the tree of the first `size` records.
pub(super) fn root_at(shared: &Shared, size: u64) -> Result<Hash, ReadError> {
    with_nodes(shared, size, |nodes| {
        merkle::root(nodes, size, short).map_err(read_failure)
    })
}

/// The inclusion proof of `position` in the tree of `size` records.
pub(super) fn inclusion(shared: &Shared, position: u64, size: u64) -> Result<Vec<Hash>, ReadError> {
    let index = leaf_index(position, size)?;
    with_nodes(shared, size, |nodes| {
        merkle::inclusion_proof(nodes, index, size, short)
            .map_err(read_failure)?
            .map_err(|e| InvalidInput::new("position", e).into())
    })
}

/// The consistency proof from `old` to `new` records.
pub(super) fn consistency(shared: &Shared, old: u64, new: u64) -> Result<Vec<Hash>, ReadError> {
    check_sizes(old, new)?;
    with_nodes(shared, new, |nodes| {
        merkle::consistency_proof(nodes, old, new, short)
            .map_err(read_failure)?
            .map_err(|e| InvalidInput::new("old_size", e).into())
    })
}
