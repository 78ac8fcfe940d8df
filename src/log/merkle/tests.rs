use std::collections::HashMap;
use std::convert::Infallible;

use base64::Engine as _;
use serde::Deserialize;

use super::*;

fn b64d(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .unwrap_or_else(|e| panic!("{s:?} is not base64: {e}"))
}

/// The nodes of a tree built leaf by leaf with [`Frontier::push`], by storage index.
#[derive(Default)]
struct Memory {
    nodes: HashMap<u64, Hash>,
    frontier: Frontier,
}

impl Memory {
    fn with_leaves(leaves: &[Hash]) -> Self {
        let mut memory = Self::default();
        for leaf in leaves {
            memory.push(*leaf);
        }
        memory
    }

    fn push(&mut self, leaf: Hash) {
        let expected_next = stored_nodes(self.frontier.size()) as usize;
        assert_eq!(self.nodes.len(), expected_next);
        let nodes = &mut self.nodes;
        self.frontier.push(leaf, |id, hash| {
            // Storage is append-only: every node completed takes the next storage index.
            assert_eq!(id.storage_index(), nodes.len() as u64, "{id:?}");
            nodes.insert(id.storage_index(), *hash);
        });
    }
}

impl NodeSource for Memory {
    type Error = Infallible;
    fn nodes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, Infallible> {
        Ok(ids
            .iter()
            .map(|id| {
                *self
                    .nodes
                    .get(&id.storage_index())
                    .unwrap_or_else(|| panic!("{id:?} is not stored"))
            })
            .collect())
    }
}

fn never() -> Infallible {
    panic!("short answer")
}

/// RFC 6962 §2.1's MTH, straight from the definition.
fn reference_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n as u64) as usize;
            node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
        }
    }
}

fn leaves(n: usize) -> Vec<Hash> {
    (0..n)
        .map(|i| leaf_hash(format!("leaf {i}").as_bytes()))
        .collect()
}

#[derive(Deserialize)]
struct Tree {
    leaves_hex: Vec<String>,
    roots_hex: Vec<String>,
}

fn rfc_tree() -> (Vec<Hash>, Vec<Hash>) {
    let tree: Tree =
        serde_json::from_str(include_str!("../../../tests/data/rfc6962/tree.json")).unwrap();
    let leaves = tree
        .leaves_hex
        .iter()
        .map(|h| leaf_hash(&hex::decode(h).unwrap()))
        .collect();
    let roots = tree
        .roots_hex
        .iter()
        .map(|h| hex::decode(h).unwrap().try_into().unwrap())
        .collect();
    (leaves, roots)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InclusionVector {
    leaf_idx: u64,
    tree_size: u64,
    root: String,
    leaf_hash: String,
    proof: Option<Vec<String>>,
    want_err: bool,
    file: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConsistencyVector {
    size1: u64,
    size2: u64,
    root1: String,
    root2: String,
    proof: Option<Vec<String>>,
    want_err: bool,
    file: String,
}

fn vectors<T: for<'de> Deserialize<'de>>(text: &str) -> Vec<T> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn decoded(proof: &Option<Vec<String>>) -> Vec<Vec<u8>> {
    proof.iter().flatten().map(|p| b64d(p)).collect()
}

#[test]
fn roots_of_the_rfc_6962_test_tree_are_the_reference_roots() {
    let (leaves, roots) = rfc_tree();
    let memory = Memory::with_leaves(&leaves);
    for (size, expected) in (1..=8u64).zip(&roots) {
        assert_eq!(
            root(&memory, size, never).unwrap(),
            *expected,
            "size {size}"
        );
        let mut frontier = Frontier::default();
        for leaf in &leaves[..size as usize] {
            frontier.push(*leaf, |_, _| {});
        }
        assert_eq!(frontier.root(), *expected, "frontier of size {size}");
    }
    assert_eq!(
        hex::encode(empty_root()),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[test]
fn inclusion_vectors_verify_or_fail_as_the_reference_says() {
    let all: Vec<InclusionVector> =
        vectors(include_str!("../../../tests/data/rfc6962/inclusion.jsonl"));
    assert!(all.len() > 90);
    let (leaves, _) = rfc_tree();
    let memory = Memory::with_leaves(&leaves);
    let mut generated = 0;
    for v in &all {
        let proof = decoded(&v.proof);
        let result = verify_inclusion(
            v.leaf_idx,
            v.tree_size,
            &b64d(&v.leaf_hash),
            &proof,
            &b64d(&v.root),
        );
        assert_eq!(result.is_err(), v.want_err, "{}: {result:?}", v.file);
        if !v.want_err && v.tree_size <= 8 {
            // The reference's proof is the one built from stored nodes.
            let ours = inclusion_proof(&memory, v.leaf_idx, v.tree_size, never)
                .unwrap()
                .unwrap();
            let ours: Vec<Vec<u8>> = ours.iter().map(|h| h.to_vec()).collect();
            assert_eq!(ours, proof, "{}", v.file);
            generated += 1;
        }
    }
    assert!(generated >= 5, "only {generated} happy paths");
}

#[test]
fn consistency_vectors_verify_or_fail_as_the_reference_says() {
    let all: Vec<ConsistencyVector> = vectors(include_str!(
        "../../../tests/data/rfc6962/consistency.jsonl"
    ));
    assert!(all.len() > 90);
    let (leaves, _) = rfc_tree();
    let memory = Memory::with_leaves(&leaves);
    let mut generated = 0;
    for v in &all {
        let proof = decoded(&v.proof);
        let result = verify_consistency(v.size1, v.size2, &proof, &b64d(&v.root1), &b64d(&v.root2));
        assert_eq!(result.is_err(), v.want_err, "{}: {result:?}", v.file);
        if !v.want_err && v.size2 <= 8 && v.size1 > 0 {
            let ours = consistency_proof(&memory, v.size1, v.size2, never)
                .unwrap()
                .unwrap();
            let ours: Vec<Vec<u8>> = ours.iter().map(|h| h.to_vec()).collect();
            assert_eq!(ours, proof, "{}", v.file);
            generated += 1;
        }
    }
    assert!(generated >= 4, "only {generated} happy paths");
}

#[test]
fn proofs_from_stored_nodes_verify_for_every_leaf_and_size() {
    let all = leaves(70);
    let memory = Memory::with_leaves(&all);
    for size in 1..=all.len() as u64 {
        let expected = reference_root(&all[..size as usize]);
        assert_eq!(root(&memory, size, never).unwrap(), expected, "root {size}");
        for index in 0..size {
            let proof = inclusion_proof(&memory, index, size, never)
                .unwrap()
                .unwrap();
            verify_inclusion(index, size, &all[index as usize], &proof, &expected)
                .unwrap_or_else(|e| panic!("leaf {index} of {size}: {e}"));
            // Any other leaf at that place fails.
            let other = all[(index as usize + 1) % all.len()];
            assert!(verify_inclusion(index, size, &other, &proof, &expected).is_err());
        }
        for old in 1..=size {
            let old_root = reference_root(&all[..old as usize]);
            let proof = consistency_proof(&memory, old, size, never)
                .unwrap()
                .unwrap();
            verify_consistency(old, size, &proof, &old_root, &expected)
                .unwrap_or_else(|e| panic!("{old} → {size}: {e}"));
            if old < size {
                // A different older tree of the same size is refused.
                let forked = leaf_hash(b"another history");
                let mut other = all[..old as usize].to_vec();
                other[old as usize - 1] = forked;
                assert!(
                    verify_consistency(old, size, &proof, &reference_root(&other), &expected)
                        .is_err(),
                    "{old} → {size}"
                );
            }
        }
    }
}

#[test]
fn storage_indexes_count_nodes_and_invert() {
    for size in 0..300u64 {
        assert_eq!(size_for_stored_nodes(stored_nodes(size)), size);
        if size > 0 {
            // One short of a complete tree's nodes is the size before.
            assert_eq!(size_for_stored_nodes(stored_nodes(size) - 1), size - 1);
        }
    }
    assert_eq!(NodeId { level: 2, index: 0 }.storage_index(), 6);
    assert_eq!(NodeId { level: 1, index: 1 }.storage_index(), 5);
    assert_eq!(NodeId::leaf(3).storage_index(), 4);
}

#[test]
fn bad_requests_are_refused() {
    assert_eq!(
        inclusion_plan(5, 5),
        Err(ProofError::IndexOutOfRange { index: 5, size: 5 })
    );
    assert_eq!(
        consistency_plan(0, 3),
        Err(ProofError::Sizes { old: 0, new: 3 })
    );
    assert_eq!(
        consistency_plan(4, 3),
        Err(ProofError::Sizes { old: 4, new: 3 })
    );
    assert!(consistency_plan(3, 3).unwrap().nodes().is_empty());
    assert!(matches!(
        verify_inclusion(0, 1, &[0u8; 31], &[] as &[Hash], &[0u8; 32]),
        Err(ProofError::HashLength(31))
    ));
}
