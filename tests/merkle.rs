//! Tests of the Merkle tree, proof generation and proof verification: exhaustive on small
//! trees, against transparency-dev/merkle's vectors, against `rs_merkle` roots and
//! `tlog_tiles` (a port of Go's sumdb/tlog) proofs, and property tests.

use std::path::{Path, PathBuf};

use base64::prelude::*;
use llm_audit_trail::core::hash::{empty_root, leaf_hash, node_hash, Hash};
use llm_audit_trail::core::merkle::{
    range_nodes, tree_root, Frontier, HashReadError, HashReader, MemoryHashStore, NodeId,
};
use llm_audit_trail::core::proof::{
    consistency_proof_len, inclusion_proof_len, prove_consistency, prove_inclusion,
    verify_consistency, verify_inclusion, ProofError,
};
use proptest::prelude::*;

fn leaf(i: u64) -> Hash {
    leaf_hash(&i.to_be_bytes())
}

fn store(n: u64) -> MemoryHashStore {
    let mut s = MemoryHashStore::new();
    for i in 0..n {
        assert_eq!(s.push_leaf(leaf(i)), i);
    }
    s
}

/// RFC 9162 §2.1.1 MTH, computed recursively from the leaf hashes: the reference.
fn mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

/// A reader that counts its calls, to check the one-read rule.
struct Counting<'a> {
    inner: &'a MemoryHashStore,
    calls: std::cell::Cell<usize>,
    nodes: std::cell::Cell<usize>,
}

impl HashReader for Counting<'_> {
    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, HashReadError> {
        self.calls.set(self.calls.get() + 1);
        self.nodes.set(self.nodes.get() + nodes.len());
        self.inner.read_hashes(nodes)
    }
}

fn flip(h: &Hash, byte: usize) -> Hash {
    let mut b = *h;
    b.0[byte] ^= 0x01;
    b
}

#[test]
fn range_nodes_cover_range_with_maximal_aligned_subtrees() {
    for lo in 0..70u64 {
        for hi in lo..140u64 {
            let nodes = range_nodes(lo, hi);
            let mut at = lo;
            for n in &nodes {
                let size = 1u64 << n.level;
                assert_eq!(n.index << n.level, at, "contiguous, left to right");
                assert_eq!(at % size, 0, "aligned");
                at += size;
            }
            assert_eq!(at, hi, "covers [{lo},{hi})");
            // Maximal: no two neighbours of the same level could merge into an aligned parent.
            for w in nodes.windows(2) {
                assert!(
                    !(w[0].level == w[1].level && w[0].index % 2 == 0),
                    "[{lo},{hi}) not maximal: {nodes:?}"
                );
            }
        }
    }
    assert!(range_nodes(5, 5).is_empty());
    assert!(range_nodes(6, 5).is_empty());
    // The biggest possible tree: one node per 1-bit.
    assert_eq!(range_nodes(0, u64::MAX).len(), 64);
    assert_eq!(range_nodes(0, 1 << 63), vec![NodeId::new(63, 0)]);
}

#[test]
fn every_tree_up_to_128_roots_frontier_and_stored_hashes() {
    let mut s = MemoryHashStore::new();
    let mut f = Frontier::new();
    let mut leaves = Vec::new();
    assert_eq!(f.root(), empty_root());
    assert_eq!(tree_root(0, &s).unwrap(), empty_root());
    for n in 0..128u64 {
        let h = leaf(n);
        leaves.push(h);
        s.push_leaf(h);
        let mut out = Vec::new();
        f.append(h, &mut out);
        // StoredHashes order: the leaf, then one parent per trailing 1-bit of n.
        assert_eq!(out.len() as u32, 1 + n.trailing_ones());
        assert_eq!(out[0], (NodeId::new(0, n), h));
        for (i, (node, hash)) in out.iter().enumerate() {
            assert_eq!(node.level as usize, i);
            assert_eq!(node.index, n >> i);
            assert_eq!(s.read_hashes(&[*node]).unwrap(), vec![*hash]);
            let lo = (node.index << node.level) as usize;
            assert_eq!(*hash, mth(&leaves[lo..lo + (1 << node.level)]));
        }
        let want = mth(&leaves);
        assert_eq!(f.size(), n + 1);
        assert_eq!(f.root(), want);
        assert_eq!(s.root(), want);
        assert_eq!(s.tree_size(), n + 1);
        assert_eq!(f.nodes(), range_nodes(0, n + 1));
        for size in 0..=n + 1 {
            assert_eq!(tree_root(size, &s).unwrap(), mth(&leaves[..size as usize]));
            let loaded = Frontier::load(size, &s).unwrap();
            assert_eq!(loaded.size(), size);
            assert_eq!(loaded.root(), mth(&leaves[..size as usize]));
        }
        // A loaded frontier keeps appending like the original.
        let mut g = Frontier::load(n + 1, &s).unwrap();
        let mut h1 = Vec::new();
        let mut h2 = Vec::new();
        g.append(leaf(999), &mut h1);
        f.clone().append(leaf(999), &mut h2);
        assert_eq!(h1, h2);
    }
    // Nodes the store does not have are errors, never made-up hashes.
    assert!(s.read_hashes(&[NodeId::new(0, 128)]).is_err());
    assert!(s.read_hashes(&[NodeId::new(8, 0)]).is_err());
    assert!(tree_root(129, &s).is_err());
    assert!(Frontier::load(200, &s).is_err());
}

/// Checks that `verify` rejects a flip in each of `bytes` of every hash, each dropped hash and an
/// added hash at every position (Go `TestTree` habit).
fn check_mutations(
    proof: &[Hash],
    bytes: &[usize],
    verify: impl Fn(&[Hash]) -> Result<(), ProofError>,
) {
    for i in 0..proof.len() {
        for &byte in bytes {
            let mut p = proof.to_vec();
            p[i] = flip(&p[i], byte);
            assert!(verify(&p).is_err(), "flipped byte {byte} of hash {i}");
        }
        let mut p = proof.to_vec();
        p.remove(i);
        assert!(verify(&p).is_err(), "dropped hash {i}");
    }
    for at in 0..=proof.len() {
        let mut p = proof.to_vec();
        p.insert(at, Hash([7; 32]));
        assert!(verify(&p).is_err(), "added hash at {at}");
    }
}

#[test]
fn every_inclusion_and_consistency_proof_up_to_128() {
    let s = store(128);
    let roots: Vec<Hash> = (0..=128).map(|n| tree_root(n, &s).unwrap()).collect();
    for n in 1..=128u64 {
        let root = roots[n as usize];
        // Every byte of every hash up to 64 leaves; first, middle and last byte beyond, to
        // keep the test fast.
        let bytes: Vec<usize> = if n <= 64 {
            (0..32).collect()
        } else {
            vec![0, 13, 31]
        };
        for i in 0..n {
            let c = Counting {
                inner: &s,
                calls: 0.into(),
                nodes: 0.into(),
            };
            let proof = prove_inclusion(i, n, &c).unwrap();
            assert!(c.calls.get() <= 1, "one read_hashes call");
            assert!(c.nodes.get() <= 2 * 64);
            assert_eq!(proof.len(), inclusion_proof_len(i, n));
            let lh = leaf(i);
            verify_inclusion(i, n, &lh, &proof, &root).unwrap();
            check_mutations(&proof, &bytes, |p| verify_inclusion(i, n, &lh, p, &root));
            for &byte in &bytes {
                assert!(verify_inclusion(i, n, &flip(&lh, byte), &proof, &root).is_err());
                assert!(verify_inclusion(i, n, &lh, &proof, &flip(&root, byte)).is_err());
            }
            // Wrong index. (A wrong tree size can verify, e.g. (0, 3) and (0, 4) share the
            // path shape: the root alone fixes the size, which the checkpoint signs.)
            if n > 1 {
                assert!(verify_inclusion((i + 1) % n, n, &lh, &proof, &root).is_err());
            }
        }
        assert_eq!(
            prove_inclusion(n, n, &s),
            Err(ProofError::IndexOutOfRange {
                leaf_index: n,
                tree_size: n
            })
        );
        for m in 1..=n {
            let old = roots[m as usize];
            let c = Counting {
                inner: &s,
                calls: 0.into(),
                nodes: 0.into(),
            };
            let proof = prove_consistency(m, n, &c).unwrap();
            assert!(c.calls.get() <= 1, "one read_hashes call");
            assert_eq!(proof.len(), consistency_proof_len(m, n));
            verify_consistency(m, n, &old, &root, &proof).unwrap();
            check_mutations(&proof, &bytes, |p| verify_consistency(m, n, &old, &root, p));
            for &byte in &bytes {
                assert!(verify_consistency(m, n, &flip(&old, byte), &root, &proof).is_err());
                assert!(verify_consistency(m, n, &old, &flip(&root, byte), &proof).is_err());
            }
        }
        assert!(matches!(
            prove_consistency(0, n, &s),
            Err(ProofError::BadSizes { .. })
        ));
        assert!(matches!(
            prove_consistency(n + 1, n, &s),
            Err(ProofError::BadSizes { .. })
        ));
    }
    // Asking past the stored tree is a read error, not a panic or a made-up proof.
    assert!(matches!(
        prove_inclusion(3, 200, &s),
        Err(ProofError::Read(_))
    ));
    assert!(matches!(
        prove_consistency(3, 200, &s),
        Err(ProofError::Read(_))
    ));
}

#[test]
fn proof_lengths_of_degenerate_sizes_are_zero() {
    assert_eq!(inclusion_proof_len(0, 0), 0);
    assert_eq!(inclusion_proof_len(5, 3), 0);
    assert_eq!(consistency_proof_len(0, 5), 0);
    assert_eq!(consistency_proof_len(5, 5), 0);
    assert_eq!(consistency_proof_len(6, 5), 0);
    assert_eq!(inclusion_proof_len(0, u64::MAX), 64);
}

// ---------------------------------------------------------------------------------------
// transparency-dev/merkle vectors.

fn vectors_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/testvectors/transparency-dev-merkle/testdata");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: {} not found", dir.display());
        None
    }
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(json_files(&p));
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn b64(v: &serde_json::Value) -> Vec<u8> {
    BASE64_STANDARD.decode(v.as_str().unwrap_or("")).unwrap()
}

/// A 32-byte hash, or `None` for a value of another length (our `Hash` cannot hold it: such
/// inputs are rejected at decoding, before verification).
fn hash32(v: &serde_json::Value) -> Option<Hash> {
    Hash::from_slice(&b64(v))
}

fn proof_of(v: &serde_json::Value) -> Option<Vec<Hash>> {
    match v.as_array() {
        None => Some(Vec::new()),
        Some(a) => a.iter().map(hash32).collect(),
    }
}

/// The tree of constants.go LeafInputs().
fn vector_store() -> MemoryHashStore {
    let leaves = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];
    let mut s = MemoryHashStore::new();
    for l in leaves {
        s.push_leaf(leaf_hash(
            &llm_audit_trail::core::hash::hex_decode(l).unwrap(),
        ));
    }
    s
}

#[test]
fn constants_roots_match() {
    // constants.go RootHashes() for sizes 0..=8.
    let roots = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    let s = vector_store();
    for (n, r) in roots.iter().enumerate() {
        assert_eq!(tree_root(n as u64, &s).unwrap().to_hex(), *r, "size {n}");
    }
}

#[test]
fn transparency_dev_inclusion_vectors() {
    let Some(dir) = vectors_dir() else { return };
    let s = vector_store();
    let files = json_files(&dir.join("inclusion"));
    assert!(files.len() > 50, "found only {} vectors", files.len());
    let (mut good, mut bad) = (0, 0);
    for f in files {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        let want_err = v["wantErr"].as_bool().unwrap();
        let idx = v["leafIdx"].as_u64().unwrap();
        let size = v["treeSize"].as_u64().unwrap();
        let decoded = (|| {
            Some((
                hash32(&v["root"])?,
                hash32(&v["leafHash"])?,
                proof_of(&v["proof"])?,
            ))
        })();
        let result = match &decoded {
            None => Err(()), // a hash of the wrong length: rejected at decoding
            Some((root, lh, proof)) => verify_inclusion(idx, size, lh, proof, root).map_err(|_| ()),
        };
        assert_eq!(result.is_err(), want_err, "{}", f.display());
        if want_err {
            bad += 1;
            continue;
        }
        good += 1;
        // Regenerate the happy-path proof from the leaves of constants.go (the single-entry
        // case uses its own leaf, a tree of one whose proof is empty).
        let (root, _, proof) = decoded.unwrap();
        if size <= 8 && tree_root(size, &s).unwrap() == root {
            assert_eq!(
                prove_inclusion(idx, size, &s).unwrap(),
                proof,
                "{}",
                f.display()
            );
        } else {
            assert!(proof.is_empty() && size == 1, "{}", f.display());
        }
    }
    assert!(good >= 6 && bad > 50, "good {good} bad {bad}");
}

#[test]
fn transparency_dev_consistency_vectors() {
    let Some(dir) = vectors_dir() else { return };
    let s = vector_store();
    let files = json_files(&dir.join("consistency"));
    assert!(files.len() > 50, "found only {} vectors", files.len());
    let (mut good, mut bad) = (0, 0);
    for f in files {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        let want_err = v["wantErr"].as_bool().unwrap();
        let m = v["size1"].as_u64().unwrap();
        let n = v["size2"].as_u64().unwrap();
        let proof = proof_of(&v["proof"]);
        let (r1, r2) = (b64(&v["root1"]), b64(&v["root2"]));
        let result = match (Hash::from_slice(&r1), Hash::from_slice(&r2), &proof) {
            (Some(a), Some(b), Some(p)) => verify_consistency(m, n, &a, &b, p).map_err(|_| ()),
            // One vector ("sizes are equal (one) and proof is empty") has equal 12-byte roots
            // and expects success: Go compares the bytes. Our Hash cannot hold 12 bytes, so
            // we check the same rule (equal sizes: empty proof, equal roots) on stand-ins that
            // are equal exactly when the originals are.
            (_, _, Some(p)) if !want_err && m == n => {
                let a = Hash(llm_audit_trail::core::hash::sha256(&r1));
                let b = Hash(llm_audit_trail::core::hash::sha256(&r2));
                verify_consistency(m, n, &a, &b, p).map_err(|_| ())
            }
            _ => Err(()), // a hash of the wrong length: rejected at decoding
        };
        assert_eq!(result.is_err(), want_err, "{}", f.display());
        if want_err {
            bad += 1;
            continue;
        }
        good += 1;
        let proof = proof.unwrap();
        if n <= 8 && Hash::from_slice(&r2) == Some(tree_root(n, &s).unwrap()) {
            assert_eq!(
                prove_consistency(m, n, &s).unwrap(),
                proof,
                "{}",
                f.display()
            );
        }
    }
    assert!(good >= 5 && bad > 50, "good {good} bad {bad}");
}

// ---------------------------------------------------------------------------------------
// Other implementations: rs_merkle roots, tlog_tiles (Go sumdb/tlog port) proofs.

#[derive(Clone)]
struct Rfc6962;

impl rs_merkle::Hasher for Rfc6962 {
    type Hash = [u8; 32];
    fn hash(data: &[u8]) -> [u8; 32] {
        llm_audit_trail::core::hash::sha256(data)
    }
    // RFC 6962 interior node: SHA-256(0x01 || left || right); a lone left node moves up
    // unchanged, which builds the same tree as RFC 6962's largest-power-of-two split.
    fn concat_and_hash(left: &[u8; 32], right: Option<&[u8; 32]>) -> [u8; 32] {
        match right {
            Some(r) => node_hash(&Hash(*left), &Hash(*r)).0,
            None => *left,
        }
    }
}

#[test]
fn roots_match_rs_merkle_up_to_1000() {
    let s = store(1000);
    let leaves: Vec<[u8; 32]> = (0..1000).map(|i| leaf(i).0).collect();
    for n in 1..=1000usize {
        let t = rs_merkle::MerkleTree::<Rfc6962>::from_leaves(&leaves[..n]);
        assert_eq!(
            t.root().unwrap(),
            tree_root(n as u64, &s).unwrap().0,
            "size {n}"
        );
    }
}

struct TlogReader<'a>(&'a MemoryHashStore);

impl tlog_tiles::HashReader for TlogReader<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<tlog_tiles::Hash>, tlog_tiles::Error> {
        let nodes: Vec<NodeId> = indexes
            .iter()
            .map(|&i| {
                let (level, index) = tlog_tiles::split_stored_hash_index(i);
                NodeId::new(level, index)
            })
            .collect();
        let hashes = self
            .0
            .read_hashes(&nodes)
            .map_err(|_| tlog_tiles::Error::IndexesNotInTree)?;
        Ok(hashes.into_iter().map(|h| tlog_tiles::Hash(h.0)).collect())
    }
}

fn unwrap_tlog(p: Vec<tlog_tiles::Hash>) -> Vec<Hash> {
    p.into_iter().map(|h| Hash(h.0)).collect()
}

#[test]
fn proofs_match_tlog_tiles() {
    let s = store(3000);
    let r = TlogReader(&s);
    let mut pairs: Vec<(u64, u64)> = Vec::new();
    for n in 1..=300u64 {
        for i in (0..n).step_by(7) {
            pairs.push((i, n));
        }
    }
    for n in [511u64, 512, 513, 1000, 1023, 1024, 1025, 2047, 2999, 3000] {
        for i in [0, 1, n / 3, n / 2, n - 2, n - 1] {
            pairs.push((i, n));
        }
    }
    for &(i, n) in &pairs {
        assert_eq!(
            prove_inclusion(i, n, &s).unwrap(),
            unwrap_tlog(tlog_tiles::prove_record(n, i, &r).unwrap()),
            "inclusion {i} in {n}"
        );
        let m = i + 1;
        assert_eq!(
            prove_consistency(m, n, &s).unwrap(),
            unwrap_tlog(tlog_tiles::prove_tree(n, m, &r).unwrap()),
            "consistency {m} -> {n}"
        );
        assert_eq!(
            tree_root(n, &s).unwrap().0,
            tlog_tiles::tree_hash(n, &r).unwrap().0
        );
    }
}

// ---------------------------------------------------------------------------------------
// Property tests.

fn big_store() -> &'static MemoryHashStore {
    static S: std::sync::OnceLock<MemoryHashStore> = std::sync::OnceLock::new();
    S.get_or_init(|| store(5000))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn random_inclusion_proofs_verify(n in 1u64..=5000, i in any::<u64>()) {
        let s = big_store();
        let i = i % n;
        let root = tree_root(n, s).unwrap();
        let proof = prove_inclusion(i, n, s).unwrap();
        prop_assert!(verify_inclusion(i, n, &leaf(i), &proof, &root).is_ok());
        // Any other leaf is refused with the same proof.
        prop_assert!(verify_inclusion(i, n, &leaf(i + 1), &proof, &root).is_err());
    }

    #[test]
    fn random_consistency_proofs_verify(n in 1u64..=5000, m in any::<u64>()) {
        let s = big_store();
        let m = 1 + m % n;
        let proof = prove_consistency(m, n, s).unwrap();
        let (old, new) = (tree_root(m, s).unwrap(), tree_root(n, s).unwrap());
        prop_assert!(verify_consistency(m, n, &old, &new, &proof).is_ok());
        if m < n {
            prop_assert!(verify_consistency(m, n, &new, &new, &proof).is_err());
        }
    }

    #[test]
    fn random_bytes_never_prove_a_wrong_leaf(
        n in 1u64..=5000,
        i in any::<u64>(),
        raw in proptest::collection::vec(any::<[u8; 32]>(), 0..20),
    ) {
        let s = big_store();
        let i = i % n;
        let root = tree_root(n, s).unwrap();
        let proof: Vec<Hash> = raw.into_iter().map(Hash).collect();
        // leaf hashes of the tree are leaf(0..n); a leaf that is not in it never verifies.
        prop_assert!(verify_inclusion(i, n, &leaf_hash(b"not in the tree"), &proof, &root).is_err());
        let old = tree_root(1 + i % n, s).unwrap();
        let wrong_new = leaf_hash(b"not a root");
        prop_assert!(verify_consistency(1 + i % n, n, &old, &wrong_new, &proof).is_err());
    }

    #[test]
    fn range_root_matches_reference(j in 0u64..3, len in 0u64..1000) {
        // Ranges as proofs use them: lo a multiple of a power of two >= their length.
        let s = big_store();
        let lo = j * len.next_power_of_two();
        let hi = lo + len;
        let nodes = range_nodes(lo, hi);
        prop_assert!(nodes.len() <= 2 * 64);
        let hashes = s.read_hashes(&nodes).unwrap();
        let leaves: Vec<Hash> = (lo..hi).map(leaf).collect();
        if !leaves.is_empty() {
            let folded = hashes.iter().rev().skip(1).fold(*hashes.last().unwrap(), |a, h| node_hash(h, &a));
            prop_assert_eq!(folded, mth(&leaves));
        }
    }
}
