#!/usr/bin/env python3
"""Independent reference for the example in spec/entry.md.

A deliberately separate, minimal encoder of RFC 8949 §4.2.1 deterministic CBOR (maps with text
keys sorted by their encoded bytes, shortest integer and float forms), written from the RFC
rather than from src/core/cbor.rs. It prints the entry bytes, body bytes, body_digest and leaf
hash of the spec's example; tests/core_entry.rs checks the same values against the Rust code.

Usage: python3 tools/gen_entry_example.py
"""
import hashlib
import math
import struct


def head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    for ai, fmt in ((24, ">B"), (25, ">H"), (26, ">I"), (27, ">Q")):
        if n < 1 << (8 * struct.calcsize(fmt)):
            return bytes([major << 5 | ai]) + struct.pack(fmt, n)
    raise ValueError("integer too large for CBOR")


def enc_float(x):
    assert math.isfinite(x)
    for ai, fmt in ((25, ">e"), (26, ">f"), (27, ">d")):
        try:
            packed = struct.pack(fmt, x)
        except OverflowError:
            continue
        if struct.unpack(fmt, packed)[0] == x and math.copysign(1, struct.unpack(fmt, packed)[0]) == math.copysign(1, x):
            return bytes([0xE0 | ai]) + packed
    raise AssertionError


def enc(v):
    if v is None:
        return b"\xf6"
    if v is True:
        return b"\xf5"
    if v is False:
        return b"\xf4"
    if isinstance(v, int):
        return head(0, v) if v >= 0 else head(1, -1 - v)
    if isinstance(v, float):
        return enc_float(v)
    if isinstance(v, bytes):
        return head(2, len(v)) + v
    if isinstance(v, str):
        b = v.encode("utf-8")
        return head(3, len(b)) + b
    if isinstance(v, list):
        return head(4, len(v)) + b"".join(enc(x) for x in v)
    if isinstance(v, dict):
        items = sorted((enc(k), enc(x)) for k, x in v.items())
        return head(5, len(items)) + b"".join(k + x for k, x in items)
    raise TypeError(type(v))


salt = bytes(range(32))
body = {"actor": "alice", "details": {"accuracy": 0.88, "epochs": 3, "lr": 1e-05, "warmup": 1.5}}
body_bytes = enc(body)
body_digest = hashlib.sha256(salt + body_bytes).digest()
entry = {
    "version": 1,
    "event_id": "00000000-0000-4000-8000-000000000000",
    "timestamp": "2026-01-02T09:15:04.123456Z",
    "event_type": "Evaluation",
    "system": "demo",
    "model_id": "demo-imdb-v1",
    "submitter": "ci",
    "body_digest": body_digest,
}
entry_bytes = enc(entry)
print("salt       ", salt.hex())
print("body       ", body_bytes.hex())
print("body_digest", body_digest.hex())
print("entry      ", entry_bytes.hex())
print("entry_len  ", len(entry_bytes))
print("leaf_hash  ", hashlib.sha256(b"\x00" + entry_bytes).hexdigest())
