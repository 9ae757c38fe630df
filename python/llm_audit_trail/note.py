"""Signed notes, verifier keys and checkpoints (pure, no I/O).

Implements the client side of:

* C2SP ``signed-note`` v1.0.0: a note is UTF-8 text ending in a newline, a blank line,
  then signature lines ``— <key name> base64(key ID || signature)``; the key ID is
  ``SHA-256(key name || 0x0A || 0x01 || public key)[:4]`` for Ed25519 (type 0x01);
* verifier keys ``<name>+<hex8 key ID>+base64(0x01 || 32-byte public key)`` (the format
  of Go's ``golang.org/x/mod/sumdb/note``);
* C2SP ``tlog-checkpoint`` v1.0.0: the note text is ``origin``, the decimal tree size,
  the base64 root hash, then optional extension lines.

Out of scope: signing, witness cosignatures (``cosignature/v1``; recognised and ignored
here, like any signature by another key), and key types other than Ed25519.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field
from typing import List, Tuple

from . import ed25519

__all__ = [
    "NoteError",
    "VerifierKey",
    "Checkpoint",
    "parse_verifier_key",
    "split_note",
    "open_note",
    "parse_checkpoint",
    "open_checkpoint",
    "MAX_NOTE_SIZE",
]

#: Largest note accepted (checked before parsing anything).
MAX_NOTE_SIZE = 1 << 20
#: Most signature lines accepted on one note.
MAX_NOTE_SIGNATURES = 100
_SIG_TYPE_ED25519 = 0x01
_EM_DASH_PREFIX = "\u2014 "


class NoteError(ValueError):
    """A note, key or checkpoint that is malformed or does not verify."""


def _b64decode(s: str, what: str) -> bytes:
    try:
        return base64.b64decode(s.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise NoteError(f"{what} is not valid base64") from exc


def _check_key_name(name: str) -> None:
    # signed-note: a key name is non-empty, has no whitespace and no "+".
    if not name or "+" in name or any(c.isspace() for c in name):
        raise NoteError(f"invalid key name {name!r}")


def key_id(name: str, public_key: bytes) -> bytes:
    """``SHA-256(key name || 0x0A || 0x01 || public key)[:4]`` (signed-note §Signatures)."""
    return hashlib.sha256(
        name.encode("utf-8") + b"\n" + bytes([_SIG_TYPE_ED25519]) + public_key
    ).digest()[:4]


@dataclass(frozen=True)
class VerifierKey:
    """An Ed25519 note verifier key: a name and a 32-byte public key."""

    name: str
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        """The 4-byte key ID of this key."""
        return key_id(self.name, self.public_key)

    def to_vkey(self) -> str:
        """The encoded form ``name+hex8+base64(0x01 || public key)``."""
        return "%s+%s+%s" % (
            self.name,
            self.key_id.hex(),
            base64.b64encode(bytes([_SIG_TYPE_ED25519]) + self.public_key).decode("ascii"),
        )

    def __str__(self) -> str:
        return self.to_vkey()


def parse_verifier_key(vkey: str) -> VerifierKey:
    """Parses ``name+hex8(keyID)+base64(0x01 || public key)``; checks the key ID."""
    if not isinstance(vkey, str):
        raise NoteError("a verifier key is a string")
    vkey = vkey.strip()
    parts = vkey.split("+", 2)  # the base64 key may itself contain "+"
    if len(parts) != 3:
        raise NoteError("a verifier key has the form name+hex8+base64")
    name, id_hex, key_b64 = parts
    _check_key_name(name)
    if len(id_hex) != 8 or any(c not in "0123456789abcdef" for c in id_hex):
        raise NoteError("the key ID of a verifier key is 8 lower-case hex digits")
    raw = _b64decode(key_b64, "verifier key")
    if len(raw) != 33 or raw[0] != _SIG_TYPE_ED25519:
        raise NoteError("only Ed25519 (type 0x01) verifier keys with 32-byte keys are supported")
    vk = VerifierKey(name, raw[1:])
    if vk.key_id.hex() != id_hex:
        raise NoteError("the verifier key's key ID does not match its name and key")
    return vk


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, 4-byte key ID, signature bytes."""

    name: str
    key_id: bytes
    signature: bytes


def split_note(note: str) -> Tuple[str, List[NoteSignature]]:
    """Splits a signed note into its text (with its final newline) and signatures."""
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NoteError("a note is UTF-8 text") from exc
    if len(note.encode("utf-8")) > MAX_NOTE_SIZE:
        raise NoteError(f"note is larger than {MAX_NOTE_SIZE} bytes")
    for ch in note:
        if ch != "\n" and (ord(ch) < 0x20 or ord(ch) == 0x7F):
            raise NoteError("note contains a control character")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise NoteError("note has no blank line before its signatures")
    text, sig_block = note[: cut + 1], note[cut + 2 :]
    if not sig_block.endswith("\n"):
        raise NoteError("note does not end with a newline")
    sigs: List[NoteSignature] = []
    for i, line in enumerate(sig_block[:-1].split("\n"), 1):
        if not line.startswith(_EM_DASH_PREFIX):
            raise NoteError(f"signature line {i} does not start with '\u2014 '")
        rest = line[len(_EM_DASH_PREFIX) :]
        name, sep, b64 = rest.partition(" ")
        if not sep:
            raise NoteError(f"signature line {i} has no signature")
        _check_key_name(name)
        raw = _b64decode(b64, f"signature line {i}")
        if len(raw) < 5:
            raise NoteError(f"signature line {i} is too short")
        sigs.append(NoteSignature(name, raw[:4], raw[4:]))
    if not sigs:
        raise NoteError("note has no signatures")
    if len(sigs) > MAX_NOTE_SIGNATURES:
        raise NoteError("note has too many signatures")
    return text, sigs


def open_note(note: str, vkey) -> str:
    """Verifies ``note`` with ``vkey`` (a :class:`VerifierKey` or its string form).

    Returns the note's text. Signatures by other keys (witnesses) are ignored; at least
    one signature must be by ``vkey`` (same name and key ID) and verify.
    """
    key = vkey if isinstance(vkey, VerifierKey) else parse_verifier_key(vkey)
    text, sigs = split_note(note)
    mine = [s for s in sigs if s.name == key.name and s.key_id == key.key_id]
    if not mine:
        raise NoteError(f"note has no signature by {key.name} ({key.key_id.hex()})")
    message = text.encode("utf-8")
    for s in mine:
        if ed25519.verify(key.public_key, message, s.signature):
            return text
    raise NoteError(f"the signature by {key.name} does not verify")


@dataclass(frozen=True)
class Checkpoint:
    """A tlog-checkpoint: origin, tree size, root hash, extension lines, the full note."""

    origin: str
    tree_size: int
    root_hash: bytes
    extensions: Tuple[str, ...] = ()
    note: str = field(default="", compare=False)

    def to_dict(self) -> dict:
        """A JSON-friendly view (root hash in hex)."""
        return {
            "origin": self.origin,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
        }


def parse_checkpoint(text: str) -> Checkpoint:
    """Parses checkpoint text (tlog-checkpoint §Note text). Does not check signatures."""
    if not text.endswith("\n"):
        raise NoteError("checkpoint text does not end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError("checkpoint text has fewer than three lines")
    origin, size_s, root_b64 = lines[0], lines[1], lines[2]
    if not origin:
        raise NoteError("checkpoint origin is empty")
    if not size_s.isdigit() or not size_s.isascii() or (len(size_s) > 1 and size_s[0] == "0"):
        raise NoteError(f"checkpoint tree size {size_s!r} is not a decimal number")
    size = int(size_s)
    if size >= 2**64:
        raise NoteError("checkpoint tree size is out of range")
    root = _b64decode(root_b64, "checkpoint root hash")
    if len(root) != 32:
        raise NoteError("checkpoint root hash is not 32 bytes")
    ext = tuple(lines[3:])
    if any(not e for e in ext):
        raise NoteError("checkpoint has an empty extension line")
    return Checkpoint(origin, size, root, ext)


def open_checkpoint(note: str, vkey) -> Checkpoint:
    """Verifies a signed checkpoint note with ``vkey`` and parses it.

    The checkpoint's origin must be the key's name (DESIGN.md §4: key name = origin).
    """
    key = vkey if isinstance(vkey, VerifierKey) else parse_verifier_key(vkey)
    text = open_note(note, key)
    cp = parse_checkpoint(text)
    if cp.origin != key.name:
        raise NoteError(f"checkpoint origin {cp.origin!r} is not the key name {key.name!r}")
    return Checkpoint(cp.origin, cp.tree_size, cp.root_hash, cp.extensions, note)
