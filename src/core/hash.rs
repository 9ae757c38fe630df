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
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left.0);
    h.update(right.0);
    Hash(h.finalize().into())
}

/// Plain SHA-256 of `data` (not a tree hash).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Lower-case hex encoding of `bytes`.
pub fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0x0f) as usize] as char);
    }
    s
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
}
