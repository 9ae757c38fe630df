"""Ed25519 signature verification in pure Python (RFC 8032 §5.1).

Only verification: the log signs, clients check. Follows RFC 8032 §5.1.7 with the
"cofactorless" equation ``[S]B = R + [k]A`` checked by comparing encodings, like Go's
``crypto/ed25519``:

* the public key ``A`` and the point ``R`` are decoded per §5.1.3 (a ``y`` coordinate
  not below ``p``, or ``x = 0`` with the sign bit set, is rejected);
* ``S`` must be below the group order ``L`` (§5.1.7 step 1; rejects malleable signatures);
* ``k = SHA-512(R || A || M) mod L``.

Not constant time, which verification does not need (it handles no secret).
Speed: a few milliseconds per signature, enough for checkpoints.
"""

from __future__ import annotations

import hashlib
from typing import Optional, Tuple

__all__ = ["verify", "BadKey"]

# Curve constants, RFC 8032 §5.1.
_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = (-121665 * pow(121666, _P - 2, _P)) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)

# Points in extended homogeneous coordinates (X, Y, Z, T), x = X/Z, y = Y/Z, x*y = T/Z.
_Point = Tuple[int, int, int, int]


class BadKey(ValueError):
    """A public key that is not a valid encoded curve point."""


def _add(p: _Point, q: _Point) -> _Point:
    # RFC 8032 §5.1.4, "add-2008-hwcd-3".
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % _P
    b = (y1 + x1) * (y2 + x2) % _P
    c = 2 * t1 * t2 * _D % _P
    d = 2 * z1 * z2 % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _double(p: _Point) -> _Point:
    # RFC 8032 §5.1.4, "dbl-2008-hwcd".
    x1, y1, z1, _ = p
    a = x1 * x1 % _P
    b = y1 * y1 % _P
    c = 2 * z1 * z1 % _P
    h = a + b
    e = h - (x1 + y1) * (x1 + y1)
    g = a - b
    f = c + g
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


_IDENTITY: _Point = (0, 1, 1, 0)


def _mul(s: int, p: _Point) -> _Point:
    q = _IDENTITY
    while s > 0:
        if s & 1:
            q = _add(q, p)
        p = _double(p)
        s >>= 1
    return q


def _recover_x(y: int, sign: int) -> Optional[int]:
    # RFC 8032 §5.1.3 steps 2-4.
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P != 0:
        return None
    if (x & 1) != sign:
        x = _P - x
    return x


def _decode_point(s: bytes) -> Optional[_Point]:
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % _P)


def _encode_point(p: _Point) -> bytes:
    x, y, z, _ = p
    zi = pow(z, _P - 2, _P)
    x, y = x * zi % _P, y * zi % _P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


_GY = 4 * pow(5, _P - 2, _P) % _P
_GX = _recover_x(_GY, 0)
assert _GX is not None
_G: _Point = (_GX, _GY, 1, _GX * _GY % _P)


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True if ``signature`` is a valid Ed25519 signature of ``message`` by ``public_key``.

    Never raises for malformed input: a bad key or signature length is simply False.
    """
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a = _decode_point(bytes(public_key))
    if a is None:
        return False
    r_bytes = bytes(signature[:32])
    if _decode_point(r_bytes) is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _L:
        return False
    k = int.from_bytes(
        hashlib.sha512(r_bytes + bytes(public_key) + bytes(message)).digest(), "little"
    ) % _L
    # [S]B - [k]A must encode to R.
    ka = _mul(k, a)
    neg_ka = ((-ka[0]) % _P, ka[1], ka[2], (-ka[3]) % _P)
    check = _add(_mul(s, _G), neg_ka)
    return _encode_point(check) == r_bytes
