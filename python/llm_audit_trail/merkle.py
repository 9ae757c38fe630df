"""RFC 6962 Merkle tree hashing and RFC 9162 proof verification (pure, no I/O).

Implements:

* leaf hash ``SHA-256(0x00 || d)`` and node hash ``SHA-256(0x01 || l || r)``
  (RFC 6962 §2.1, RFC 9162 §2.1.1);
* the Merkle Tree Hash of a list of leaf hashes, streamed with a frontier so that
  memory is O(log n) (:class:`Frontier`);
* inclusion proof verification, RFC 9162 §2.1.3.2 (:func:`verify_inclusion_proof`);
* consistency proof verification, RFC 9162 §2.1.4.2 (:func:`verify_consistency_proof`).

Out of scope: building proofs from a stored tree (the server does that); tiles.
Every function takes and returns raw 32-byte ``bytes``.
"""

from __future__ import annotations

import hashlib
from typing import Iterable, List, Sequence

__all__ = [
    "HASH_SIZE",
    "MAX_PROOF_HASHES",
    "ProofError",
    "leaf_hash",
    "node_hash",
    "empty_root",
    "root_of",
    "Frontier",
    "verify_inclusion_proof",
    "verify_consistency_proof",
]

HASH_SIZE = 32
#: A proof for a tree of at most 2**64 leaves has at most 64 hashes (128 for consistency).
MAX_PROOF_HASHES = 128


class ProofError(ValueError):
    """A proof does not verify, or its inputs are malformed."""


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``: the hash of one leaf (RFC 6962 §2.1)."""
    return hashlib.sha256(b"\x00" + bytes(data)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``: the hash of an interior node (RFC 6962 §2.1)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def empty_root() -> bytes:
    """``SHA-256("")``: the root hash of the empty tree (RFC 6962 §2.1)."""
    return hashlib.sha256(b"").digest()


class Frontier:
    """The right edge of a Merkle tree being built leaf by leaf.

    Holds one hash per set bit of the size, so memory stays O(log n); :meth:`root`
    folds them right to left, which gives the RFC 6962 MTH of the leaves so far.
    """

    def __init__(self) -> None:
        self.size = 0
        self._stack: List[bytes] = []  # perfect subtree roots, largest first

    def append(self, leaf: bytes) -> None:
        """Adds a leaf *hash* (already ``SHA-256(0x00 || d)``)."""
        _check_hash(leaf, "leaf hash")
        node = leaf
        n = self.size
        # Merge with each complete left sibling: one per trailing 1-bit of the size.
        while n & 1:
            node = node_hash(self._stack.pop(), node)
            n >>= 1
        self._stack.append(node)
        self.size += 1

    def root(self) -> bytes:
        """The Merkle Tree Hash of every leaf appended so far."""
        if not self._stack:
            return empty_root()
        node = self._stack[-1]
        for left in reversed(self._stack[:-1]):
            node = node_hash(left, node)
        return node


def root_of(leaf_hashes: Iterable[bytes]) -> bytes:
    """MTH(D[n]) of a sequence of leaf hashes (RFC 6962 §2.1)."""
    f = Frontier()
    for h in leaf_hashes:
        f.append(h)
    return f.root()


def _check_hash(h: bytes, what: str) -> None:
    if not isinstance(h, (bytes, bytearray)) or len(h) != HASH_SIZE:
        raise ProofError(f"{what} must be {HASH_SIZE} bytes")


def verify_inclusion_proof(
    leaf_index: int, tree_size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Checks that ``leaf`` (a leaf *hash*) is at ``leaf_index`` of the tree ``root``.

    RFC 9162 §2.1.3.2. Raises :class:`ProofError` on any failure, returns None on success.
    """
    _check_hash(leaf, "leaf hash")
    _check_hash(root, "root hash")
    if not 0 <= leaf_index < tree_size:
        raise ProofError(f"leaf index {leaf_index} is not below tree size {tree_size}")
    if len(proof) > MAX_PROOF_HASHES:
        raise ProofError("inclusion proof is too long")
    # 1-3. fn = leaf_index, sn = tree_size - 1, r = leaf hash.
    fn, sn, r = leaf_index, tree_size - 1, bytes(leaf)
    # 4. For each p in the proof:
    for p in proof:
        _check_hash(p, "proof hash")
        # a. If sn is 0, the proof is too long.
        if sn == 0:
            raise ProofError("inclusion proof has too many hashes")
        # b. If LSB(fn) is set, or fn == sn: r = HASH(0x01 || p || r), then, if LSB(fn)
        #    is not set, right-shift fn and sn equally until LSB(fn) is set or fn is 0.
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn != 0 and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        # c. Otherwise r = HASH(0x01 || r || p).
        else:
            r = node_hash(r, p)
        # d. Right-shift fn and sn by one.
        fn >>= 1
        sn >>= 1
    # 5. sn must be 0 and r must equal the root.
    if sn != 0:
        raise ProofError("inclusion proof has too few hashes")
    if r != root:
        raise ProofError("inclusion proof does not lead to the root hash")


def verify_consistency_proof(
    first: int, second: int, first_hash: bytes, second_hash: bytes, proof: Sequence[bytes]
) -> None:
    """Checks that the tree ``second_hash`` (size ``second``) extends ``first_hash``.

    RFC 9162 §2.1.4.2. ``first`` must be at least 1 (a tree of size 0 is consistent with
    everything; callers handle it). Equal sizes need an empty proof and equal roots.
    Raises :class:`ProofError` on any failure.
    """
    _check_hash(first_hash, "first root hash")
    _check_hash(second_hash, "second root hash")
    if first < 1 or first > second:
        raise ProofError(f"need 1 <= first <= second, got {first} and {second}")
    if len(proof) > MAX_PROOF_HASHES:
        raise ProofError("consistency proof is too long")
    for p in proof:
        _check_hash(p, "proof hash")
    if first == second:
        if proof:
            raise ProofError("a proof between equal sizes must be empty")
        if first_hash != second_hash:
            raise ProofError("equal sizes with different root hashes")
        return
    # 1. An empty path fails.
    if not proof:
        raise ProofError("consistency proof is empty")
    path = list(proof)
    # 2. If first is an exact power of 2, prepend first_hash.
    if first & (first - 1) == 0:
        path.insert(0, bytes(first_hash))
    # 3. fn = first - 1, sn = second - 1.
    fn, sn = first - 1, second - 1
    # 4. If LSB(fn) is set, right-shift fn and sn equally until LSB(fn) is not set.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5. fr = sr = path[0].
    fr = sr = path[0]
    # 6. For each subsequent c:
    for c in path[1:]:
        # a. If sn is 0, the proof is too long.
        if sn == 0:
            raise ProofError("consistency proof has too many hashes")
        # b. If LSB(fn) is set or fn == sn: fr = HASH(0x01 || c || fr),
        #    sr = HASH(0x01 || c || sr); then, if LSB(fn) is not set, right-shift fn and sn
        #    equally until either LSB(fn) is set or fn is 0.
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn != 0 and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        # c. Otherwise sr = HASH(0x01 || sr || c).
        else:
            sr = node_hash(sr, c)
        # d. Right-shift fn and sn by one.
        fn >>= 1
        sn >>= 1
    # 7. fr == first_hash, sr == second_hash, sn == 0.
    if sn != 0:
        raise ProofError("consistency proof has too few hashes")
    if fr != first_hash:
        raise ProofError("consistency proof does not lead to the first root hash")
    if sr != second_hash:
        raise ProofError("consistency proof does not lead to the second root hash")
