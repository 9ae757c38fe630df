"""Verifying a ``tlog serve`` log, one event's proof, or an offline proof bundle.

* :func:`verify_url`: the log's latest signed checkpoint (Ed25519, C2SP signed-note)
  and its consistency (RFC 9162 §2.1.4.2) with the checkpoint remembered from the
  previous run, kept in a small state file
  (``~/.cache/llm-audit-trail/checkpoints/<sha256(url)[:16]>.json``), so a log that
  rewrote or dropped history is caught; optionally the whole tree rebuilt from the
  C2SP tlog-tiles entry bundles (``full=True``).
* :func:`verify_inclusion`: an inclusion proof (RFC 9162 §2.1.3.2) against a signed
  checkpoint, as returned by ``emit(..., wait=True)`` or ``GET /v1/proof/inclusion``.
* :func:`verify_bundle`: the offline proof bundle of ``spec/bundle.md``, steps 1-5,
  including the private body against the entry's salted digest.

All return ``(ok, report)`` and never raise for bad input. The verifier key comes from
the caller (``vkey=``), else from the state file, else — trust on first use, reported as
``"trust": "first_use"`` — from the server's ``/v1/checkpoint``; a key that later changes
is an error (``vkey_changed``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import tempfile
import urllib.parse
from typing import Any, Dict, List, Optional, Tuple

from .core import _now
from .merkle import (
    Frontier,
    ProofError,
    empty_root,
    leaf_hash,
    verify_consistency_proof,
    verify_inclusion_proof,
)
from .note import Checkpoint, NoteError, open_checkpoint, parse_verifier_key

__all__ = [
    "verify_url",
    "verify_inclusion",
    "verify_bundle",
    "state_path_for",
    "load_state",
    "BUNDLE_FORMAT",
]

BUNDLE_FORMAT = "llm-audit-trail/bundle/v1"
#: Largest bundle accepted (spec/bundle.md).
MAX_BUNDLE_BYTES = 1 << 20
#: Leaves per tlog-tiles tile.
TILE_WIDTH = 256

Report = Tuple[bool, Dict[str, Any]]


def _fail(code: str, detail: str, **extra: Any) -> Report:
    report = {"error": code, "detail": detail}
    report.update(extra)
    return False, report


def _b64(s: Any, what: str) -> bytes:
    if not isinstance(s, str):
        raise ValueError(f"{what} is not a base64 string")
    try:
        return base64.b64decode(s.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError(f"{what} is not valid base64") from exc


def _hex32(s: Any, what: str) -> bytes:
    try:
        b = bytes.fromhex(s) if isinstance(s, str) else b""
    except ValueError:
        b = b""
    if len(b) != 32:
        raise ValueError(f"{what} is not 64 hex digits")
    return b


# --------------------------------------------------------------------------
# remembered checkpoints
# --------------------------------------------------------------------------


def state_path_for(url: str, state_dir: Optional[str] = None) -> str:
    """Where the last verified checkpoint of ``url`` is kept."""
    if state_dir is None:
        state_dir = os.environ.get("AUDIT_CHECKPOINT_DIR")
    if state_dir is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        state_dir = os.path.join(base, "llm-audit-trail", "checkpoints")
    name = hashlib.sha256(url.rstrip("/").encode("utf-8")).hexdigest()[:16] + ".json"
    return os.path.join(state_dir, name)


def load_state(path: str) -> Optional[Dict[str, Any]]:
    """The remembered state, or None if there is none (or it is unreadable)."""
    try:
        with open(path, "r", encoding="utf-8") as fh:
            state = json.load(fh)
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def _save_state(path: str, state: Dict[str, Any]) -> None:
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(state, fh, indent=2, sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _http(url: str, timeout: float):
    from .client import _Http

    return _Http(url, timeout)


def _resolve_vkey(
    http, vkey: Optional[str], state: Optional[Dict[str, Any]]
) -> Tuple[str, str]:
    """``(vkey, trust)``: the caller's key, the remembered one, or the server's (TOFU)."""
    if vkey:
        return vkey.strip(), "pinned"
    if state and state.get("vkey"):
        return state["vkey"], "remembered"
    doc = http.json("GET", "/v1/checkpoint")
    served = doc.get("vkey") if isinstance(doc, dict) else None
    if not served:
        raise ValueError("the server did not say its verifier key; pass vkey=")
    return served, "first_use"


def _fetch_checkpoint_note(http) -> str:
    from .client import HttpError

    status, data = http.request("GET", "/checkpoint", headers={"Accept": "text/plain"})
    if status != 200:
        raise HttpError(status, "checkpoint", data[:200].decode("utf-8", "replace"))
    return data.decode("utf-8")


def _tile_index(n: int) -> str:
    # C2SP tlog-tiles: the index in groups of three digits, all but the last prefixed "x".
    s = "%03d" % (n % 1000)
    while n >= 1000:
        n //= 1000
        s = "x%03d/%s" % (n % 1000, s)
    return s


def _entries_root(http, tree_size: int) -> bytes:
    """Rebuilds the Merkle root from ``/tile/entries/...`` (every leaf is downloaded)."""
    from .client import HttpError

    f = Frontier()
    for tile in range((tree_size + TILE_WIDTH - 1) // TILE_WIDTH):
        width = min(TILE_WIDTH, tree_size - tile * TILE_WIDTH)
        path = "/tile/entries/" + _tile_index(tile) + ("" if width == TILE_WIDTH else ".p/%d" % width)
        status, data = http.request("GET", path)
        if status != 200:
            raise HttpError(status, "tile", f"{path}: {data[:200].decode('utf-8', 'replace')}")
        pos = count = 0
        while pos < len(data):
            if pos + 2 > len(data):
                raise ValueError(f"{path}: truncated entry bundle")
            n = int.from_bytes(data[pos : pos + 2], "big")
            if pos + 2 + n > len(data):
                raise ValueError(f"{path}: truncated entry bundle")
            f.append(leaf_hash(data[pos + 2 : pos + 2 + n]))
            pos += 2 + n
            count += 1
        if count != width:
            raise ValueError(f"{path}: {count} entries, expected {width}")
    return f.root()


# --------------------------------------------------------------------------
# verify_url
# --------------------------------------------------------------------------


def verify_url(
    url: str,
    *,
    vkey: Optional[str] = None,
    checkpoint: Any = None,
    state_dir: Optional[str] = None,
    remember: bool = True,
    full: bool = False,
    timeout: float = 10.0,
) -> Report:
    """Verifies the log at ``url``: its signed checkpoint, and consistency with what was
    seen before.

    1. ``GET /checkpoint``; its signature must verify with the log's key (``vkey``, or the
       remembered key, or on first use the server's), and its origin be the key name.
    2. For the remembered checkpoint (state file) and for ``checkpoint`` (an older signed
       checkpoint note, or a ``/v1/checkpoint`` dict, the caller kept): the new tree must
       extend it, proven by ``GET /v1/proof/consistency`` (RFC 9162 §2.1.4.2). A smaller
       tree, or another root at the same size, is a rewritten history.
    3. ``full=True``: the root is recomputed from every entry (tlog-tiles entry bundles).
    4. With ``remember`` the new checkpoint replaces the state, but only after 1-3 pass.

    Error codes: ``unreadable`` (network or HTTP failure), ``checkpoint_invalid``,
    ``vkey_changed``, ``inconsistent`` (history rewritten), ``root_mismatch``.
    Success: ``{"events", "head", "checkpoint", "vkey", "trust", "consistency", "state"}``.
    """
    from .client import AuditLogError

    url = url.rstrip("/")
    state_file = state_path_for(url, state_dir)
    state = load_state(state_file)
    try:
        http = _http(url, timeout)
        key, trust = _resolve_vkey(http, vkey, state)
        note = _fetch_checkpoint_note(http)
    except (AuditLogError, ValueError) as exc:
        return _fail("unreadable", str(exc), url=url)
    try:
        vk = parse_verifier_key(key)
    except NoteError as exc:
        return _fail("checkpoint_invalid", f"bad verifier key: {exc}", url=url)
    if state and state.get("vkey") and state["vkey"] != vk.to_vkey():
        return _fail(
            "vkey_changed",
            f"the log's key is not the one remembered in {state_file}; a different log "
            "answers at this URL, or its key was replaced (delete the file to start over)",
            remembered_vkey=state["vkey"],
            vkey=vk.to_vkey(),
        )
    try:
        cp = open_checkpoint(note, vk)
    except NoteError as exc:
        if trust == "remembered":
            try:
                served = http.json("GET", "/v1/checkpoint").get("vkey")
            except (AuditLogError, ValueError, AttributeError):
                served = None
            if served and served != vk.to_vkey():
                return _fail(
                    "vkey_changed",
                    f"the log now answers with another key than the one remembered in "
                    f"{state_file}: a different log answers at this URL, or its key was "
                    "replaced (delete the file to start over)",
                    remembered_vkey=vk.to_vkey(),
                    vkey=served,
                )
        return _fail("checkpoint_invalid", f"the served checkpoint does not verify: {exc}", url=url)

    olds: List[Tuple[str, Checkpoint]] = []
    if state and state.get("note"):
        try:
            olds.append(("remembered", open_checkpoint(state["note"], vk)))
        except NoteError as exc:
            return _fail("checkpoint_invalid", f"the remembered checkpoint in {state_file} does not verify: {exc}")
    if checkpoint is not None:
        from .core import _as_checkpoint

        try:
            olds.append(("given", _as_checkpoint(checkpoint, vk)))
        except (ValueError, NoteError) as exc:
            return _fail("checkpoint_invalid", f"the given checkpoint does not verify: {exc}")

    consistency = []
    for source, old in olds:
        entry = {"from": old.tree_size, "to": cp.tree_size, "source": source}
        if old.tree_size > cp.tree_size:
            return _fail(
                "inconsistent",
                f"the log shrank from {old.tree_size} ({source} checkpoint) to {cp.tree_size} events",
                old=old.to_dict(),
                new=cp.to_dict(),
            )
        if old.tree_size == cp.tree_size:
            if old.root_hash != cp.root_hash:
                return _fail(
                    "inconsistent",
                    f"two different roots signed for size {cp.tree_size}: the log forked",
                    old=old.to_dict(),
                    new=cp.to_dict(),
                )
        elif old.tree_size > 0:
            try:
                doc = http.json(
                    "GET",
                    "/v1/proof/consistency?" + urllib.parse.urlencode({"from": old.tree_size, "to": cp.tree_size}),
                )
                proof = [_b64(h, "consistency proof hash") for h in doc.get("consistency_proof", [])]
            except (AuditLogError, ValueError, AttributeError) as exc:
                return _fail("unreadable", f"fetching the consistency proof: {exc}", url=url)
            try:
                verify_consistency_proof(old.tree_size, cp.tree_size, old.root_hash, cp.root_hash, proof)
            except ProofError as exc:
                return _fail(
                    "inconsistent",
                    f"the log at size {cp.tree_size} does not extend the {source} checkpoint "
                    f"at size {old.tree_size}: {exc}",
                    old=old.to_dict(),
                    new=cp.to_dict(),
                )
        entry["verified"] = True
        consistency.append(entry)

    if full:
        try:
            root = _entries_root(http, cp.tree_size) if cp.tree_size else empty_root()
        except (AuditLogError, ValueError) as exc:
            return _fail("unreadable", f"fetching the entries: {exc}", url=url)
        if root != cp.root_hash:
            return _fail(
                "root_mismatch",
                f"the {cp.tree_size} entries served do not hash to the checkpoint's root",
                checkpoint=cp.to_dict(),
            )

    if remember:
        try:
            _save_state(
                state_file,
                {
                    "url": url,
                    "vkey": vk.to_vkey(),
                    "origin": cp.origin,
                    "tree_size": cp.tree_size,
                    "root_hash": cp.root_hash.hex(),
                    "note": cp.note,
                    "verified_at": _now(),
                },
            )
        except OSError:
            pass
    head = (
        {"seq": cp.tree_size - 1, "hash": cp.root_hash.hex(), "timestamp": None}
        if cp.tree_size
        else None
    )
    return True, {
        "events": cp.tree_size,
        "head": head,
        "checkpoint": cp.to_dict(),
        "vkey": vk.to_vkey(),
        "trust": trust,
        "consistency": consistency,
        "full": bool(full),
        "state": state_file if remember else None,
    }


# --------------------------------------------------------------------------
# verify_inclusion
# --------------------------------------------------------------------------


def verify_inclusion(
    proof: Optional[Dict[str, Any]] = None,
    vkey: Optional[str] = None,
    *,
    url: Optional[str] = None,
    index: Optional[int] = None,
    event_id: Optional[str] = None,
    leaf_hash: Optional[str] = None,
    state_dir: Optional[str] = None,
    timeout: float = 10.0,
) -> Report:
    """Verifies that one event is in the log under a signed checkpoint.

    ``proof`` is a dict with ``leaf_index`` (or ``index``), ``leaf_hash`` (hex),
    ``inclusion_proof`` (base64 hashes) and ``checkpoint`` (the signed note), as returned
    by ``AuditLogger.emit(..., wait=True)`` or ``GET /v1/proof/inclusion``. Without it,
    it is fetched from ``url`` by ``index``, ``event_id`` or ``leaf_hash``. ``leaf_hash``
    given by the caller (computed from the entry bytes) must match the proof's.

    Error codes: ``key_required``, ``unreadable``, ``malformed_proof``,
    ``checkpoint_invalid``, ``leaf_hash_mismatch``, ``inclusion_invalid``.
    """
    from .client import AuditLogError

    http = None
    if url:
        url = url.rstrip("/")
        http = _http(url, timeout)
    if proof is None:
        if http is None:
            return _fail("malformed_proof", "give a proof, or url= and index=, event_id= or leaf_hash=")
        query = {}
        if index is not None:
            query["index"] = str(index)
        elif event_id is not None:
            query["event_id"] = event_id
        elif leaf_hash is not None:
            query["leaf_hash"] = leaf_hash
        else:
            return _fail("malformed_proof", "give index=, event_id= or leaf_hash=")
        try:
            proof = http.json("GET", "/v1/proof/inclusion?" + urllib.parse.urlencode(query))
        except AuditLogError as exc:
            return _fail("unreadable", str(exc))
    if not vkey:
        if http is None:
            return _fail("key_required", "pass the log's verifier key (vkey=) or url=")
        try:
            vkey, _ = _resolve_vkey(http, None, load_state(state_path_for(url, state_dir)))  # type: ignore[arg-type]
        except (AuditLogError, ValueError) as exc:
            return _fail("unreadable", str(exc))
    if not isinstance(proof, dict):
        return _fail("malformed_proof", "a proof is a JSON object")
    try:
        idx = proof.get("leaf_index", proof.get("index"))
        if not isinstance(idx, int) or isinstance(idx, bool) or idx < 0:
            raise ValueError("leaf_index is missing or not a non-negative integer")
        leaf = _hex32(proof.get("leaf_hash"), "leaf_hash")
        path = proof.get("inclusion_proof")
        if not isinstance(path, list):
            raise ValueError("inclusion_proof is not a list")
        hashes = [_b64(h, "inclusion proof hash") for h in path]
        note = proof.get("checkpoint")
        if not isinstance(note, str):
            raise ValueError("checkpoint is not a signed note")
    except ValueError as exc:
        return _fail("malformed_proof", str(exc))
    try:
        cp = open_checkpoint(note, vkey)
    except NoteError as exc:
        return _fail("checkpoint_invalid", str(exc))
    size = proof.get("tree_size")
    if size is not None and size != cp.tree_size:
        return _fail("malformed_proof", f"tree_size {size} is not the checkpoint's {cp.tree_size}")
    if leaf_hash is not None and leaf_hash.lower() != leaf.hex():
        return _fail("leaf_hash_mismatch", "the proof is for another leaf", expected=leaf_hash, found=leaf.hex())
    try:
        verify_inclusion_proof(idx, cp.tree_size, leaf, hashes, cp.root_hash)
    except ProofError as exc:
        return _fail("inclusion_invalid", str(exc), leaf_index=idx, tree_size=cp.tree_size)
    return True, {
        "leaf_index": idx,
        "tree_size": cp.tree_size,
        "leaf_hash": leaf.hex(),
        "checkpoint": cp.to_dict(),
    }


# --------------------------------------------------------------------------
# verify_bundle
# --------------------------------------------------------------------------

_VIEW_HEADER = ("event_id", "timestamp", "event_type", "system", "model_id", "dataset_id", "deployment_id", "submitter")


def verify_bundle(bundle_json: Any, vkey: str) -> Report:
    """Verifies an offline proof bundle (``spec/bundle.md`` §Verification, steps 1-5).

    ``bundle_json`` is the bundle as text, bytes or a dict. Checks the checkpoint's
    signature, decodes the entry strictly (canonical CBOR), verifies the inclusion proof
    of ``SHA-256(0x00 || entry)``, checks ``SHA-256(salt || body)`` against the entry's
    ``body_digest`` and decodes the body, and requires the informational ``leaf_hash``
    and ``event`` view to match the verified bytes.

    Error codes: ``malformed_bundle``, ``checkpoint_invalid``, ``entry_invalid``,
    ``leaf_hash_mismatch``, ``inclusion_invalid``, ``body_invalid``, ``event_mismatch``.
    Success: ``{"leaf_index", "tree_size", "leaf_hash", "event", "body_verified",
    "erased", "checkpoint"}``.
    """
    from .entry import EntryError, body_digest, decode_body, decode_entry

    try:
        if isinstance(bundle_json, (bytes, bytearray)):
            if len(bundle_json) > MAX_BUNDLE_BYTES:
                raise ValueError(f"bundle is larger than {MAX_BUNDLE_BYTES} bytes")
            bundle_json = bundle_json.decode("utf-8")
        if isinstance(bundle_json, str):
            if len(bundle_json.encode("utf-8")) > MAX_BUNDLE_BYTES:
                raise ValueError(f"bundle is larger than {MAX_BUNDLE_BYTES} bytes")
            bundle = json.loads(bundle_json)
        else:
            bundle = bundle_json
        if not isinstance(bundle, dict):
            raise ValueError("a bundle is a JSON object")
        if bundle.get("format") != BUNDLE_FORMAT:
            raise ValueError(f"format is not {BUNDLE_FORMAT!r}")
        idx = bundle.get("leaf_index")
        if not isinstance(idx, int) or isinstance(idx, bool) or idx < 0:
            raise ValueError("leaf_index is not a non-negative integer")
        entry_bytes = _b64(bundle.get("entry"), "entry")
        path = bundle.get("inclusion_proof")
        if not isinstance(path, list) or len(path) > 64:
            raise ValueError("inclusion_proof is not a list of at most 64 hashes")
        hashes = [_b64(h, "inclusion proof hash") for h in path]
        note = bundle.get("checkpoint")
        if not isinstance(note, str):
            raise ValueError("checkpoint is not a signed note")
        body_b64, salt_hex = bundle.get("body"), bundle.get("salt")
    except (ValueError, UnicodeDecodeError) as exc:
        return _fail("malformed_bundle", str(exc))

    # 1. The checkpoint, signed by the log.
    try:
        cp = open_checkpoint(note, vkey)
    except NoteError as exc:
        return _fail("checkpoint_invalid", str(exc))
    # 2. The entry, strictly decoded.
    try:
        header = decode_entry(entry_bytes)
    except EntryError as exc:
        return _fail("entry_invalid", str(exc))
    # 3. Inclusion of SHA-256(0x00 || entry) at leaf_index.
    leaf = leaf_hash(entry_bytes)
    stated = bundle.get("leaf_hash")
    if stated is not None and (not isinstance(stated, str) or stated.lower() != leaf.hex()):
        return _fail("leaf_hash_mismatch", "leaf_hash is not SHA-256(0x00 || entry)", expected=leaf.hex(), found=stated)
    try:
        verify_inclusion_proof(idx, cp.tree_size, leaf, hashes, cp.root_hash)
    except ProofError as exc:
        return _fail("inclusion_invalid", str(exc), leaf_index=idx, tree_size=cp.tree_size)
    # 4. The body against the entry's body_digest.
    body = None
    if (body_b64 is None) != (salt_hex is None):
        return _fail("body_invalid", "a body needs its salt and a salt needs its body")
    if body_b64 is not None:
        try:
            body_bytes = _b64(body_b64, "body")
            salt = _hex32(salt_hex, "salt")
        except ValueError as exc:
            return _fail("body_invalid", str(exc))
        if body_digest(salt, body_bytes) != header["body_digest"]:
            return _fail("body_invalid", "SHA-256(salt || body) is not the entry's body_digest")
        try:
            body = decode_body(body_bytes)
        except EntryError as exc:
            return _fail("body_invalid", str(exc))
    # 5. The informational view must say what the verified bytes say.
    view = bundle.get("event")
    if view is not None:
        if not isinstance(view, dict):
            return _fail("event_mismatch", "event is not an object")
        for k in _VIEW_HEADER:
            if view.get(k) != header.get(k):
                return _fail("event_mismatch", f"event.{k} is not what the entry says", field=k)
        if body is not None:
            for k in ("actor", "details"):
                if not _same_json(view.get(k), body[k]):
                    return _fail("event_mismatch", f"event.{k} is not what the body says", field=k)
        elif view.get("actor") is not None or view.get("details") not in (None,):
            return _fail("event_mismatch", "event shows a body that the bundle does not carry")
    event = {k: header.get(k) for k in _VIEW_HEADER}
    if body is not None:
        event.update(actor=body["actor"], details=body["details"])
    return True, {
        "leaf_index": idx,
        "tree_size": cp.tree_size,
        "leaf_hash": leaf.hex(),
        "event": event,
        "body_verified": body is not None,
        "erased": bundle.get("erased"),
        "checkpoint": cp.to_dict(),
    }


def _same_json(a: Any, b: Any) -> bool:
    """JSON equality that keeps ints and floats apart (1 and 1.0 are different values)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b))
    return a == b
