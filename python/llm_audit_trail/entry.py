"""Entries (Merkle leaves) and private bodies, format version 1 (``spec/entry.md``).

Pure, no I/O. The entry is a canonical CBOR map of the public header; the body holds
``actor`` and ``details`` and is committed to by ``body_digest = SHA-256(salt || body)``.
The leaf hash is ``SHA-256(0x00 || entry bytes)`` over the stored bytes.

Used by the verifiers: to check a bundle's body against its entry, and to rebuild the
leaf of a JSONL mirror record (which carries ``salt`` and ``leaf_hash``) so the mirror can
be checked against a signed checkpoint. Field syntax rules are checked by the server; here
a decoded entry is checked for version, known keys and types.
"""

from __future__ import annotations

import hashlib
from typing import Any, Dict, Optional

from . import cbor
from .merkle import leaf_hash

__all__ = [
    "EntryError",
    "ENTRY_VERSION",
    "HEADER_TEXT_FIELDS",
    "encode_entry",
    "decode_entry",
    "encode_body",
    "decode_body",
    "body_digest",
    "record_leaf_hash",
]

ENTRY_VERSION = 1
MAX_ENTRY_SIZE = 4096
MAX_BODY_SIZE = 262144
#: Optional text fields of the header, omitted when absent.
HEADER_TEXT_FIELDS = ("system", "model_id", "dataset_id", "deployment_id", "submitter")
_REQUIRED_TEXT = ("event_id", "timestamp", "event_type")


class EntryError(ValueError):
    """An entry or body that does not follow ``spec/entry.md``."""


def body_digest(salt: bytes, body: bytes) -> bytes:
    """``SHA-256(salt || body bytes)`` (spec/entry.md §3, Commitment)."""
    return hashlib.sha256(bytes(salt) + bytes(body)).digest()


def encode_body(actor: Optional[str], details: Any) -> bytes:
    """The canonical CBOR body ``{actor?, details}``."""
    m: Dict[str, Any] = {"details": details}
    if actor is not None:
        m["actor"] = actor
    try:
        b = cbor.encode(m)
    except cbor.CborError as exc:
        raise EntryError(f"body: {exc}") from exc
    if len(b) > MAX_BODY_SIZE:
        raise EntryError(f"body is larger than {MAX_BODY_SIZE} bytes")
    return b


def decode_body(data: bytes) -> Dict[str, Any]:
    """Decodes a body strictly; returns ``{"actor": str|None, "details": ...}``."""
    try:
        m = cbor.decode(data, MAX_BODY_SIZE)
    except cbor.CborError as exc:
        raise EntryError(f"body: {exc}") from exc
    if not isinstance(m, dict) or "details" not in m or set(m) - {"actor", "details"}:
        raise EntryError("body must be a map of details and an optional actor")
    actor = m.get("actor")
    if actor is not None and not isinstance(actor, str):
        raise EntryError("body actor must be text")
    return {"actor": actor, "details": m["details"]}


def encode_entry(header: Dict[str, Any]) -> bytes:
    """The canonical CBOR entry of a header dict (``body_digest`` as 32 bytes)."""
    m: Dict[str, Any] = {"version": ENTRY_VERSION}
    for k in _REQUIRED_TEXT:
        v = header.get(k)
        if not isinstance(v, str) or not v:
            raise EntryError(f"entry needs a text {k}")
        m[k] = v
    for k in HEADER_TEXT_FIELDS:
        v = header.get(k)
        if v is not None:
            if not isinstance(v, str):
                raise EntryError(f"entry {k} must be text")
            m[k] = v
    d = header.get("body_digest")
    if not isinstance(d, (bytes, bytearray)) or len(d) != 32:
        raise EntryError("entry needs a 32-byte body_digest")
    m["body_digest"] = bytes(d)
    b = cbor.encode(m)
    if len(b) > MAX_ENTRY_SIZE:
        raise EntryError(f"entry is larger than {MAX_ENTRY_SIZE} bytes")
    return b


def decode_entry(data: bytes) -> Dict[str, Any]:
    """Decodes a version-1 entry strictly; absent optional fields come back as None."""
    try:
        m = cbor.decode(data, MAX_ENTRY_SIZE)
    except cbor.CborError as exc:
        raise EntryError(f"entry: {exc}") from exc
    if not isinstance(m, dict):
        raise EntryError("entry is not a map")
    if m.get("version") != ENTRY_VERSION:
        raise EntryError(f"unsupported entry version {m.get('version')!r}")
    known = {"version", "body_digest", *_REQUIRED_TEXT, *HEADER_TEXT_FIELDS}
    unknown = set(m) - known
    if unknown:
        raise EntryError(f"unknown entry key {sorted(unknown)[0]!r}")
    out: Dict[str, Any] = {}
    for k in _REQUIRED_TEXT:
        if not isinstance(m.get(k), str):
            raise EntryError(f"entry {k} is missing or not text")
        out[k] = m[k]
    for k in HEADER_TEXT_FIELDS:
        v = m.get(k)
        if v is not None and not isinstance(v, str):
            raise EntryError(f"entry {k} is not text")
        out[k] = v
    d = m.get("body_digest")
    if not isinstance(d, bytes) or len(d) != 32:
        raise EntryError("entry body_digest is missing or not 32 bytes")
    out["body_digest"] = d
    return out


def record_leaf_hash(record: Dict[str, Any]) -> Optional[bytes]:
    """Rebuilds the leaf hash of a tlog JSONL mirror record.

    A mirror record carries ``salt`` (hex) while its body is present: the body and entry
    are re-encoded from the record and hashed, and a ``leaf_hash`` field, if any, must
    match. An erased record (no ``salt``) can only give its stated ``leaf_hash``. Returns
    None for a record with neither (a plain seed ledger line).
    """
    claimed = record.get("leaf_hash")
    if claimed is not None:
        if not isinstance(claimed, str) or len(claimed) != 64:
            raise EntryError("leaf_hash is not 64 hex digits")
        try:
            claimed_b = bytes.fromhex(claimed)
        except ValueError:
            raise EntryError("leaf_hash is not 64 hex digits") from None
    else:
        claimed_b = None
    salt_hex = record.get("salt")
    if salt_hex is None:
        return claimed_b
    try:
        salt = bytes.fromhex(salt_hex) if isinstance(salt_hex, str) else b""
    except ValueError:
        salt = b""
    if len(salt) != 32:
        raise EntryError("salt is not 64 hex digits")
    body = encode_body(record.get("actor"), record.get("details"))
    header = {k: record.get(k) for k in (*_REQUIRED_TEXT, *HEADER_TEXT_FIELDS)}
    header["body_digest"] = body_digest(salt, body)
    leaf = leaf_hash(encode_entry(header))
    if claimed_b is not None and claimed_b != leaf:
        raise EntryError(
            f"leaf_hash {claimed} is not the hash of this record's entry ({leaf.hex()})"
        )
    return leaf
