//! Hashes of the RFC 6962 Merkle tree.
//!
//! Implements the leaf and interior-node hashes of RFC 6962 §2.1 (also RFC 9162 §2.1.1),
//! with SHA-256:
//!
//! ```text
//! leaf hash = SHA-256(0x00 || leaf_bytes)
//! node hash = SHA-256(0x01 || left || right)
//! ```
//!
//! Out of scope: anything that reads or writes hashes; see `merkle` and `proof`.

use core::fmt;

use sha2::{Digest, Sha256};

/// Length in bytes of every hash in the tree.
pub const HASH_SIZE: usize = 32;

/// A SHA-256 hash: a leaf hash, an interior node hash or a tree root.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; HASH_SIZE]);

impl Hash {
    /// Hash returns the bytes of the hash.
    pub fn as_bytes(&self) -> &[u8; HASH_SIZE] {
        &self.0
    }

    /// Builds a hash from a slice, which must be exactly [`HASH_SIZE`] bytes long.
    pub fn from_slice(bytes: &[u8]) -> Option<Hash> {
        let arr: [u8; HASH_SIZE] = bytes.try_into().ok()?;
        Some(Hash(arr))
    }

    /// Lower-case hex encoding of the hash (64 characters).
    pub fn to_hex(&self) -> String {
        hex_encode(&self.0)
    }

    /// Parses 64 hex digits (either case) into a hash.
    pub fn from_hex(s: &str) -> Option<Hash> {
        let bytes = hex_decode(s)?;
        Hash::from_slice(&bytes)
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// The hash of the empty tree: `SHA-256()` (RFC 6962 §2.1, `MTH({}) = SHA-256()`).
pub fn empty_root() -> Hash {
    Hash(Sha256::digest([]).into())
}

/// The leaf hash of `leaf_bytes`: `SHA-256(0x00 || leaf_bytes)` (RFC 6962 §2.1).
pub fn leaf_hash(leaf_bytes: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(leaf_bytes);
    Hash(h.finalize().into())
}

/// The interior node hash: `SHA-256(0x01 || left || right)` (RFC 6962 §2.1).
///
/// The 65-byte message is always the same two padded SHA-256 blocks, so they are built
/// here and compressed directly (the hasher's buffering was most of the cost of a proof's
/// derived nodes); `node_hash_matches_the_generic_hasher` checks it against `Sha256`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    use sha2::digest::generic_array::GenericArray;
    let mut blocks = [GenericArray::default(), GenericArray::default()];
    blocks[0][0] = 0x01;
    blocks[0][1..33].copy_from_slice(&left.0);
    blocks[0][33..64].copy_from_slice(&right.0[..31]);
    blocks[1][0] = right.0[31];
    blocks[1][1] = 0x80;
    // Message length in bits (65 × 8 = 520), big-endian, in the last 8 bytes.
    blocks[1][56..64].copy_from_slice(&(65u64 * 8).to_be_bytes());
    let mut state = SHA256_IV;
    sha2::compress256(&mut state, &blocks);
    let mut out = [0u8; HASH_SIZE];
    for (o, w) in out.chunks_exact_mut(4).zip(state) {
        o.copy_from_slice(&w.to_be_bytes());
    }
    Hash(out)
}

/// SHA-256's initial hash value (FIPS 180-4 §5.3.3).
const SHA256_IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// Plain SHA-256 of `data` (not a tree hash).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Lower-case hex encoding of `bytes`.
pub fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    // Bytes first, one UTF-8 check at the end: pushing `char`s one at a time was 4% of the
    // mirror's time (`perf` on `tlog serve`), for the hashes and salts of every record.
    let mut out = vec![0u8; bytes.len() * 2];
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[(b >> 4) as usize];
        pair[1] = DIGITS[(b & 0x0f) as usize];
    }
    String::from_utf8(out).expect("hex digits are ASCII")
}

/// Decodes hex digits (either case); `None` on odd length or a non-hex character.
pub fn hex_decode(s: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let b = s.as_bytes();
    if b.len() % 2 != 0 {
        return None;
    }
    b.chunks_exact(2)
        .map(|p| Some((nibble(p[0])? << 4) | nibble(p[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(
            empty_root().to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn hex_round_trip_and_rejects() {
        let h = leaf_hash(b"");
        assert_eq!(Hash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(Hash::from_hex(&h.to_hex().to_uppercase()), Some(h));
        assert_eq!(hex_decode("abc"), None);
        assert_eq!(hex_decode("zz"), None);
        assert_eq!(Hash::from_hex("00"), None);
    }

    #[test]
    fn leaf_hash_of_empty_matches_rfc6962_vector() {
        // RFC 6962 test vectors (transparency-dev/merkle constants): leaf hash of the empty leaf.
        assert_eq!(
            leaf_hash(b"").to_hex(),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
    }

    #[test]
    fn node_hash_matches_the_generic_hasher() {
        let mut x = 0x9e3779b97f4a7c15u64;
        for _ in 0..200 {
            let mut l = [0u8; 32];
            let mut r = [0u8; 32];
            for b in l.iter_mut().chain(r.iter_mut()) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            let mut h = Sha256::new();
            h.update([0x01]);
            h.update(l);
            h.update(r);
            let want: [u8; 32] = h.finalize().into();
            assert_eq!(node_hash(&Hash(l), &Hash(r)).0, want);
        }
    }
}
