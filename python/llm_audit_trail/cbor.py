"""Deterministic CBOR, the subset of ``spec/entry.md`` §1 (pure, no I/O).

RFC 8949 §4.2.1 core deterministic encoding, restricted to: unsigned and negative
integers (-2**64 .. 2**64-1), byte strings, text strings, arrays, maps with text keys,
``false``/``true``/``null``, and finite floats in their shortest exact width (half,
single, double). No tags, no indefinite lengths, no other simple values.

:func:`encode` produces exactly those bytes; :func:`decode` accepts exactly those bytes
(non-shortest arguments, unsorted or repeated keys, non-shortest or non-finite floats,
trailing bytes... are errors naming the offset). Python ``int`` and ``float`` map to CBOR
integers and floats, so JSON's ``1`` and ``1.0`` stay distinct.
"""

from __future__ import annotations

import math
import struct
from typing import Any, List, Tuple

__all__ = ["CborError", "encode", "decode", "MAX_DEPTH"]

#: Deepest container nesting accepted or produced.
MAX_DEPTH = 64


class CborError(ValueError):
    """Bytes that are not canonical CBOR of the subset, or a value that has no encoding."""


def _head(major: int, n: int) -> bytes:
    # §1.2 rule 1: the shortest argument.
    if n < 24:
        return bytes([(major << 5) | n])
    if n < 0x100:
        return bytes([(major << 5) | 24, n])
    if n < 0x10000:
        return bytes([(major << 5) | 25]) + n.to_bytes(2, "big")
    if n < 0x100000000:
        return bytes([(major << 5) | 26]) + n.to_bytes(4, "big")
    if n < 0x10000000000000000:
        return bytes([(major << 5) | 27]) + n.to_bytes(8, "big")
    raise CborError("integer out of CBOR range")


def _float(x: float) -> bytes:
    # §1.2 rules 4-5: finite only; half if exact, else single if exact, else double.
    if not math.isfinite(x):
        raise CborError("NaN and Infinity have no encoding")
    for code, fmt in ((0xF9, ">e"), (0xFA, ">f")):
        try:
            packed = struct.pack(fmt, x)
        except (OverflowError, struct.error):
            continue
        back = struct.unpack(fmt, packed)[0]
        if back == x and math.copysign(1.0, back) == math.copysign(1.0, x):
            return bytes([code]) + packed
    return b"\xfb" + struct.pack(">d", x)


def encode(value: Any) -> bytes:
    """The canonical encoding of ``value`` (None, bool, int, float, str, bytes, list, dict)."""
    out: List[bytes] = []
    _enc(value, out, 0)
    return b"".join(out)


def _enc(v: Any, out: List[bytes], depth: int) -> None:
    if v is None:
        out.append(b"\xf6")
    elif v is True:
        out.append(b"\xf5")
    elif v is False:
        out.append(b"\xf4")
    elif isinstance(v, int):
        if v >= 0:
            out.append(_head(0, v))
        else:
            out.append(_head(1, -1 - v))
    elif isinstance(v, float):
        out.append(_float(v))
    elif isinstance(v, str):
        b = v.encode("utf-8")
        out.append(_head(3, len(b)))
        out.append(b)
    elif isinstance(v, (bytes, bytearray)):
        out.append(_head(2, len(v)))
        out.append(bytes(v))
    elif isinstance(v, (list, tuple)):
        if depth >= MAX_DEPTH:
            raise CborError("nesting deeper than MAX_DEPTH")
        out.append(_head(4, len(v)))
        for item in v:
            _enc(item, out, depth + 1)
    elif isinstance(v, dict):
        if depth >= MAX_DEPTH:
            raise CborError("nesting deeper than MAX_DEPTH")
        items = []
        for k, val in v.items():
            if not isinstance(k, str):
                raise CborError("map keys must be text")
            items.append((encode(k), val))
        # §1.2 rule 3: keys sorted by their encoded bytes.
        items.sort(key=lambda kv: kv[0])
        out.append(_head(5, len(items)))
        for kb, val in items:
            out.append(kb)
            _enc(val, out, depth + 1)
    else:
        raise CborError(f"no CBOR encoding for {type(v).__name__}")


def decode(data: bytes, max_size: int = 1 << 20) -> Any:
    """Decodes one canonical value; rejects anything :func:`encode` would not produce."""
    data = bytes(data)
    if len(data) > max_size:
        raise CborError(f"input of {len(data)} bytes is over the limit of {max_size}")
    value, pos = _dec(data, 0, 0)
    if pos != len(data):
        raise CborError(f"offset {pos}: trailing bytes after the value")
    return value


def _arg(data: bytes, pos: int) -> Tuple[int, int, int]:
    if pos >= len(data):
        raise CborError(f"offset {pos}: truncated input")
    ib = data[pos]
    major, ai = ib >> 5, ib & 31
    pos += 1
    if ai < 24:
        return major, ai, pos
    if ai > 27:
        raise CborError(f"offset {pos - 1}: reserved or indefinite-length argument")
    width = 1 << (ai - 24)
    if pos + width > len(data):
        raise CborError(f"offset {pos}: truncated input")
    n = int.from_bytes(data[pos : pos + width], "big")
    # The shortest argument only.
    if (ai == 24 and n < 24) or (ai > 24 and n < (1 << (8 * (width // 2)))):
        raise CborError(f"offset {pos - 1}: non-shortest argument")
    return major, n, pos + width


def _dec(data: bytes, pos: int, depth: int) -> Tuple[Any, int]:
    if pos >= len(data):
        raise CborError(f"offset {pos}: truncated input")
    start = pos
    ib = data[pos]
    major = ib >> 5
    if major == 7:
        if ib == 0xF4:
            return False, pos + 1
        if ib == 0xF5:
            return True, pos + 1
        if ib == 0xF6:
            return None, pos + 1
        widths = {0xF9: (2, ">e"), 0xFA: (4, ">f"), 0xFB: (8, ">d")}
        if ib not in widths:
            raise CborError(f"offset {pos}: simple value or break not allowed")
        width, fmt = widths[ib]
        if pos + 1 + width > len(data):
            raise CborError(f"offset {pos}: truncated input")
        raw = data[pos + 1 : pos + 1 + width]
        x = struct.unpack(fmt, raw)[0]
        if not math.isfinite(x):
            raise CborError(f"offset {pos}: NaN or Infinity")
        if _float(x) != data[pos : pos + 1 + width]:
            raise CborError(f"offset {pos}: float not in its shortest exact width")
        return x, pos + 1 + width
    if major == 6:
        raise CborError(f"offset {pos}: tags are not allowed")
    major, n, pos = _arg(data, pos)
    if major == 0:
        return n, pos
    if major == 1:
        return -1 - n, pos
    if major in (2, 3):
        if n > len(data) - pos:
            raise CborError(f"offset {start}: length beyond the input")
        raw = data[pos : pos + n]
        if major == 2:
            return raw, pos + n
        try:
            return raw.decode("utf-8"), pos + n
        except UnicodeDecodeError:
            raise CborError(f"offset {start}: invalid UTF-8 in a text string") from None
    if depth >= MAX_DEPTH:
        raise CborError(f"offset {start}: nesting deeper than {MAX_DEPTH}")
    if major == 4:
        if n > len(data) - pos:
            raise CborError(f"offset {start}: count beyond the input")
        items = []
        for _ in range(n):
            item, pos = _dec(data, pos, depth + 1)
            items.append(item)
        return items, pos
    # major == 5
    if 2 * n > len(data) - pos:
        raise CborError(f"offset {start}: count beyond the input")
    result = {}
    prev_key = None
    for _ in range(n):
        kstart = pos
        if pos >= len(data) or data[pos] >> 5 != 3:
            raise CborError(f"offset {pos}: map keys must be text")
        key, pos = _dec(data, pos, depth + 1)
        kb = data[kstart:pos]
        if prev_key is not None and kb <= prev_key:
            raise CborError(f"offset {kstart}: map keys out of order or repeated")
        prev_key = kb
        value, pos = _dec(data, pos, depth + 1)
        result[key] = value
    return result, pos
