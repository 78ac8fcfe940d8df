//! The RFC 6962 / RFC 9162 Merkle tree over the log, as pure arithmetic: hashing, the nodes a
//! growing tree stores, the roots, inclusion and consistency proofs built from stored nodes, and
//! their verification. No I/O: a backend keeps the nodes (the redb store in its file, another
//! backend in its database) and hands them over through [`NodeSource`], or reads the nodes a
//! [`Plan`] names in one query and calls [`Plan::assemble`].
//!
//! Hashing (RFC 6962 §2.1): `leaf = SHA-256(0x00 ‖ leaf data)`, `node = SHA-256(0x01 ‖ left ‖
//! right)`, the root of the empty tree is `SHA-256("")`. The log's leaf data is each record's
//! canonical bytes (`docs/STORAGE.md`, "The Merkle tree"); leaf index = position − 1.
//!
//! **Stored nodes.** Only the roots of *complete* subtrees are stored: the node at `level` h and
//! `index` i covers leaves `i·2^h .. (i+1)·2^h`. Appending a leaf completes the leaf itself and
//! one parent per trailing one-bit of its index, so a tree of n leaves stores `2n − popcount(n)`
//! nodes, and numbering them in the order they are completed (post-order, [`NodeId::storage_index`])
//! makes storage append-only: a batch of appends adds keys only at the end. Every hash a root or
//! a proof needs is a stored node or a fold of O(log n) of them ([`Plan`]).

use base64::Engine as _;
use sha2::{Digest, Sha256};
use thiserror::Error;

/// A SHA-256 hash of the tree.
pub type Hash = [u8; 32];

/// `SHA-256(0x00 ‖ data)`: the hash of a leaf.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(data);
    hasher.finalize().into()
}

/// `SHA-256(0x01 ‖ left ‖ right)`: the hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// `SHA-256("")`: the root of the tree of no leaves.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// A complete subtree: `2^level` leaves starting at leaf `index · 2^level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// 0 for a leaf.
    pub level: u8,
    /// The subtree's place among those of its level.
    pub index: u64,
}

impl NodeId {
    /// The leaf at 0-based `index`.
    pub fn leaf(index: u64) -> Self {
        Self { level: 0, index }
    }

    /// Where the node is kept: its number in the order nodes are completed as leaves are
    /// appended (post-order), so storage grows only at its end. The nodes completed before the
    /// subtree's first leaf `s` are `2s − popcount(s)`; the subtree's own `2^(level+1) − 1` nodes
    /// follow, its root last.
    pub fn storage_index(self) -> u64 {
        let start = self.index << self.level;
        2 * start - u64::from(start.count_ones()) + (2u64 << self.level) - 2
    }
}

/// How many nodes a tree of `size` leaves stores: `2·size − popcount(size)`.
pub fn stored_nodes(size: u64) -> u64 {
    2 * size - u64::from(size.count_ones())
}

/// The largest tree size whose stored nodes number at most `count` (inverse of
/// [`stored_nodes`], which is increasing).
pub fn size_for_stored_nodes(count: u64) -> u64 {
    // stored_nodes(s) ≥ s, so the answer is at most `count`; binary search.
    let (mut low, mut high) = (0u64, count);
    while low < high {
        let mid = low + (high - low).div_ceil(2);
        if stored_nodes(mid) <= count {
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    low
}

/// The complete subtrees that make up leaves `start..end`, largest first, when `start` is a
/// multiple of the largest power of two not above `end − start` (true of every range the RFC's
/// recursion visits). Their right fold ([`fold`]) is the range's hash.
fn decompose(mut start: u64, end: u64, out: &mut Vec<NodeId>) {
    while start < end {
        let level = 63 - (end - start).leading_zeros();
        let level_u8 = level as u8;
        out.push(NodeId {
            level: level_u8,
            index: start >> level,
        });
        start += 1u64 << level;
    }
}

/// The hash of consecutive complete subtrees given largest first:
/// `H(h0, H(h1, … H(h(n−2), h(n−1))))`.
pub fn fold(hashes: &[Hash]) -> Option<Hash> {
    let (last, rest) = hashes.split_last()?;
    Some(rest.iter().rev().fold(*last, |acc, h| node_hash(h, &acc)))
}

/// The stored nodes whose [`fold`] is the root of a tree of `size` leaves (none for 0).
pub fn root_nodes(size: u64) -> Vec<NodeId> {
    let mut out = Vec::new();
    decompose(0, size, &mut out);
    out
}

/// The largest power of two strictly below `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Why a proof cannot be made or does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The leaf is not in a tree of that size.
    #[error("leaf index {index} is not in a tree of {size} leaves")]
    IndexOutOfRange {
        /// The 0-based leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The sizes of a consistency proof are not `0 < old ≤ new`.
    #[error(
        "no consistency proof from size {old} to size {new}: the old size must be at least 1 and not above the new one"
    )]
    Sizes {
        /// The older tree's size.
        old: u64,
        /// The newer tree's size.
        new: u64,
    },
    /// A hash given to a check is not 32 bytes long.
    #[error("a hash is {0} bytes long, not 32")]
    HashLength(usize),
    /// The proof has the wrong number of hashes for the sizes.
    #[error("the proof has {found} hashes; a proof for these sizes has {expected}")]
    Length {
        /// What the sizes call for.
        expected: usize,
        /// What the proof holds.
        found: usize,
    },
    /// The hashes recomputed from the proof differ from the root given.
    #[error("the proof does not lead to the root hash given (it leads to {computed})")]
    Mismatch {
        /// What the proof led to, base64.
        computed: String,
    },
}

/// One element of a proof: a stored node, or the fold of consecutive stored nodes (the hash
/// of an incomplete right-hand subtree).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Element {
    /// Offset of its first node in [`Plan::nodes`].
    first: usize,
    /// How many nodes it folds (1: the node itself).
    count: usize,
}

/// The stored nodes a proof (or a root) needs, and how to combine them: read [`Plan::nodes`]
/// in one go, in any way the backend likes, then [`Plan::assemble`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    nodes: Vec<NodeId>,
    elements: Vec<Element>,
}

impl Plan {
    /// The stored nodes to read, in the order [`Plan::assemble`] wants their hashes.
    pub fn nodes(&self) -> &[NodeId] {
        &self.nodes
    }

    /// The proof's hashes from the hashes of [`Plan::nodes`], in that order; `None` if there are
    /// not as many hashes as nodes.
    pub fn assemble(&self, hashes: &[Hash]) -> Option<Vec<Hash>> {
        if hashes.len() != self.nodes.len() {
            return None;
        }
        self.elements
            .iter()
            .map(|e| fold(hashes.get(e.first..e.first + e.count)?))
            .collect()
    }

    /// Adds the hash of leaves `start..end` as one element.
    fn push_range(&mut self, start: u64, end: u64) {
        let first = self.nodes.len();
        decompose(start, end, &mut self.nodes);
        self.elements.push(Element {
            first,
            count: self.nodes.len() - first,
        });
    }
}

/// The plan of the inclusion proof of leaf `index` (0-based) in the tree of `size` leaves:
/// RFC 6962 §2.1.1 `PATH(m, D[n])`, nearest sibling first.
pub fn inclusion_plan(index: u64, size: u64) -> Result<Plan, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    // The RFC's recursion from the top appends each sibling after the path below it; walking
    // down and reversing gives the same order.
    let mut siblings = Vec::new();
    let (mut start, mut end) = (0u64, size);
    while end - start > 1 {
        let k = split(end - start);
        if index - start < k {
            siblings.push((start + k, end));
            end = start + k;
        } else {
            siblings.push((start, start + k));
            start += k;
        }
    }
    let mut plan = Plan::default();
    for (s, e) in siblings.into_iter().rev() {
        plan.push_range(s, e);
    }
    Ok(plan)
}

/// The plan of the consistency proof from the tree of `old` leaves to the tree of `new`
/// leaves: RFC 6962 §2.1.2 `PROOF(m, D[n])`. Empty when the sizes are equal.
pub fn consistency_plan(old: u64, new: u64) -> Result<Plan, ProofError> {
    if old == 0 || old > new {
        return Err(ProofError::Sizes { old, new });
    }
    let mut plan = Plan::default();
    if old == new {
        return Ok(plan);
    }
    // SUBPROOF(m, D[start..end], complete): walk down, collecting the right-hand hashes to be
    // appended after the subproof below them.
    let mut after = Vec::new();
    let (mut start, mut end, mut complete) = (0u64, new, true);
    let m = old;
    loop {
        if m - start == end - start {
            // SUBPROOF(m, D[m], b): nothing if b, else MTH(D[m]).
            if !complete {
                plan.push_range(start, end);
            }
            break;
        }
        let k = split(end - start);
        if m - start <= k {
            after.push((start + k, end));
            end = start + k;
        } else {
            after.push((start, start + k));
            start += k;
            complete = false;
        }
    }
    for (s, e) in after.into_iter().rev() {
        plan.push_range(s, e);
    }
    Ok(plan)
}

/// Reads stored nodes: the small interface between the tree arithmetic and a backend.
pub trait NodeSource {
    /// The backend's error.
    type Error;
    /// The hashes of `ids`, in the same order. Every id asked for is a node of the tree the
    /// caller named, so a missing one is the backend's error.
    fn nodes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, Self::Error>;
}

/// A plan answered from `source`; a source that answers with too few hashes yields `short`.
fn answer<S: NodeSource>(
    source: &S,
    plan: &Plan,
    short: impl FnOnce() -> S::Error,
) -> Result<Vec<Hash>, S::Error> {
    let hashes = source.nodes(plan.nodes())?;
    plan.assemble(&hashes).ok_or_else(short)
}

/// The root of the tree of `size` leaves, from stored nodes.
pub fn root<S: NodeSource>(
    source: &S,
    size: u64,
    short: impl FnOnce() -> S::Error,
) -> Result<Hash, S::Error> {
    if size == 0 {
        return Ok(empty_root());
    }
    let nodes = root_nodes(size);
    let hashes = source.nodes(&nodes)?;
    if hashes.len() != nodes.len() {
        return Err(short());
    }
    fold(&hashes).ok_or_else(short)
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves, from stored nodes.
pub fn inclusion_proof<S: NodeSource>(
    source: &S,
    index: u64,
    size: u64,
    short: impl FnOnce() -> S::Error,
) -> Result<Result<Vec<Hash>, ProofError>, S::Error> {
    match inclusion_plan(index, size) {
        Ok(plan) => answer(source, &plan, short).map(Ok),
        Err(e) => Ok(Err(e)),
    }
}

/// The consistency proof from size `old` to size `new`, from stored nodes.
pub fn consistency_proof<S: NodeSource>(
    source: &S,
    old: u64,
    new: u64,
    short: impl FnOnce() -> S::Error,
) -> Result<Result<Vec<Hash>, ProofError>, S::Error> {
    match consistency_plan(old, new) {
        Ok(plan) => answer(source, &plan, short).map(Ok),
        Err(e) => Ok(Err(e)),
    }
}

/// The right edge of a growing tree: the hashes of its [`root_nodes`], enough to append leaves
/// and to know the root without reading anything. The log's writer keeps one in memory.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frontier {
    size: u64,
    /// The hashes of `root_nodes(size)`, largest subtree first.
    peaks: Vec<Hash>,
}

impl Frontier {
    /// The frontier of a tree of `size` leaves whose [`root_nodes`] have these hashes; `None`
    /// if there are not as many hashes as root nodes.
    pub fn from_peaks(size: u64, peaks: Vec<Hash>) -> Option<Self> {
        (peaks.len() == size.count_ones() as usize).then_some(Self { size, peaks })
    }

    /// How many leaves the tree has.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root hash.
    pub fn root(&self) -> Hash {
        fold(&self.peaks).unwrap_or_else(empty_root)
    }

    /// Appends the leaf whose hash is `leaf` and passes every node it completes to `stored`,
    /// in storage order (the leaf first, then each parent it completes, bottom up).
    pub fn push(&mut self, leaf: Hash, mut stored: impl FnMut(NodeId, &Hash)) {
        let index = self.size;
        stored(NodeId::leaf(index), &leaf);
        let mut hash = leaf;
        let mut level = 0u8;
        // Each trailing one-bit of the index is a left sibling waiting for this subtree.
        while (index >> level) & 1 == 1 {
            let Some(left) = self.peaks.pop() else {
                break;
            };
            hash = node_hash(&left, &hash);
            level += 1;
            stored(
                NodeId {
                    level,
                    index: index >> level,
                },
                &hash,
            );
        }
        self.peaks.push(hash);
        self.size += 1;
    }
}

/// Checks a hash given as bytes of unknown length.
fn hash_of(bytes: &[u8]) -> Result<Hash, ProofError> {
    bytes
        .try_into()
        .map_err(|_| ProofError::HashLength(bytes.len()))
}

/// Base64 of a hash, for messages.
fn b64(hash: &Hash) -> String {
    base64::engine::general_purpose::STANDARD.encode(hash)
}

/// The root that an inclusion proof of `leaf` at `index` in a tree of `size` leaves leads to
/// (RFC 9162 §2.1.3.2).
pub fn root_from_inclusion(
    index: u64,
    size: u64,
    leaf: &[u8],
    proof: &[impl AsRef<[u8]>],
) -> Result<Hash, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let expected = inclusion_plan(index, size)?.elements.len();
    if proof.len() != expected {
        return Err(ProofError::Length {
            expected,
            found: proof.len(),
        });
    }
    let mut r = hash_of(leaf)?;
    let (mut f, mut s) = (index, size - 1);
    for p in proof {
        let p = hash_of(p.as_ref())?;
        if s == 0 {
            return Err(ProofError::Length {
                expected,
                found: proof.len(),
            });
        }
        if f & 1 == 1 || f == s {
            r = node_hash(&p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, &p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::Length {
            expected,
            found: proof.len(),
        });
    }
    Ok(r)
}

/// Checks that `proof` proves `leaf` (a leaf hash) at `index` in the tree of `size` leaves whose
/// root is `root`.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &[u8],
    proof: &[impl AsRef<[u8]>],
    root: &[u8],
) -> Result<(), ProofError> {
    let root = hash_of(root)?;
    let computed = root_from_inclusion(index, size, leaf, proof)?;
    if computed != root {
        return Err(ProofError::Mismatch {
            computed: b64(&computed),
        });
    }
    Ok(())
}

/// Checks that `proof` proves the tree of `old` leaves with root `old_root` a prefix of the tree
/// of `new` leaves with root `new_root` (RFC 9162 §2.1.4.2). Equal sizes need an empty proof
/// and equal roots; a consistency proof from the empty tree is refused (it proves nothing).
pub fn verify_consistency(
    old: u64,
    new: u64,
    proof: &[impl AsRef<[u8]>],
    old_root: &[u8],
    new_root: &[u8],
) -> Result<(), ProofError> {
    let expected = consistency_plan(old, new)?.elements.len();
    if proof.len() != expected {
        return Err(ProofError::Length {
            expected,
            found: proof.len(),
        });
    }
    if old == new {
        // Nothing to recompute: the two roots are the same tree's.
        return if old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::Mismatch {
                computed: base64::engine::general_purpose::STANDARD.encode(old_root),
            })
        };
    }
    let old_root = hash_of(old_root)?;
    let new_root = hash_of(new_root)?;
    let mut path = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(old_root);
    }
    for p in proof {
        path.push(hash_of(p.as_ref())?);
    }
    let (mut f, mut s) = (old - 1, new - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let Some((first, rest)) = path.split_first() else {
        return Err(ProofError::Length { expected, found: 0 });
    };
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s == 0 {
            return Err(ProofError::Length {
                expected,
                found: proof.len(),
            });
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::Length {
            expected,
            found: proof.len(),
        });
    }
    if fr != old_root {
        return Err(ProofError::Mismatch { computed: b64(&fr) });
    }
    if sr != new_root {
        return Err(ProofError::Mismatch { computed: b64(&sr) });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
