"""The audit logger and the JSONL hash chain of llm-audit-trail 0.1.0 ("the seed").

Two modes, one API:

* **Local file** (no ``url``): every event is appended to a JSONL ledger in the seed's
  exact record format (``spec/mirror.md``; DESIGN.md §6), so ledgers written by the seed
  and by this package verify with either's ``verify_log``. Appends hold an exclusive
  ``fcntl`` lock for the read-previous-hash / write cycle; a torn last line (a crash in
  the middle of a write) is cut and kept aside in ``<path>.torn`` instead of refusing
  every later append as the seed did.
* **Server** (``url=`` or ``$AUDIT_LOG_URL``): events go to ``tlog serve`` over HTTP
  (:mod:`llm_audit_trail.client`): batched by a background thread, retried, idempotent by
  a client-chosen ``event_id``, spooled locally when the server is unreachable.

Threat model of the local chain (read this before relying on it):

* It detects accidental corruption, in-place edits, deletions and reordering *within*
  the file. A plain SHA-256 chain does not stop someone who can write the file: they can
  recompute every hash. ``key=`` (or ``$AUDIT_HMAC_KEY``) makes it HMAC-SHA256.
* :func:`verify_log` pins the algorithm (the key you pass decides it, not each line),
  closing the seed's HMAC-to-SHA-256 downgrade.
* Deleting the newest events is invisible to a self-contained chain: keep an anchor
  (:func:`write_anchor`) elsewhere, or verify a tlog mirror against a signed checkpoint.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import uuid
import warnings
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

__all__ = [
    "AuditLogger",
    "AuditLogError",
    "verify_log",
    "iter_events",
    "read_head",
    "write_anchor",
    "read_anchor",
    "stable_json",
    "chain_digest",
    "DEFAULT_LOG_PATH",
    "SCHEMA_VERSION",
    "GENESIS",
]

GENESIS = "GENESIS"
SCHEMA_VERSION = "0.2.0"
#: The ledger used when neither ``path=`` nor ``$AUDIT_LOG_PATH`` says otherwise.
DEFAULT_LOG_PATH = "audit_trail.jsonl"
LOG_PATH_ENV = "AUDIT_LOG_PATH"
HMAC_KEY_ENV = "AUDIT_HMAC_KEY"
URL_ENV = "AUDIT_LOG_URL"

SHA256 = "sha256"
HMAC_SHA256 = "hmac-sha256"

#: Longest ledger line read (a longer one is reported, never read whole).
MAX_LINE_BYTES = 16 << 20


class AuditLogError(RuntimeError):
    """Raised when the ledger or the log server cannot be safely appended to or read."""


def _env_log_path() -> str:
    return os.environ.get(LOG_PATH_ENV) or DEFAULT_LOG_PATH


# --------------------------------------------------------------------------
# cross-process locking
# --------------------------------------------------------------------------

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

try:  # Windows
    import msvcrt
except ImportError:  # pragma: no cover - POSIX
    msvcrt = None  # type: ignore[assignment]

_WIN_LOCK_OFFSET = 0x7FFFFFFF00000000


@contextmanager
def _file_lock(fh, shared: bool = False) -> Iterator[None]:
    """Advisory lock held for a whole read-then-append cycle.

    ``flock`` is per open file description, so separate handles on one path exclude
    each other across threads and processes.
    """
    if fcntl is not None:
        fcntl.flock(fh.fileno(), fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return
    if msvcrt is not None:  # pragma: no cover - Windows only
        saved = fh.tell()
        fh.seek(_WIN_LOCK_OFFSET)
        msvcrt.locking(fh.fileno(), msvcrt.LK_LOCK, 1)
        try:
            fh.seek(saved)
            yield
        finally:
            fh.seek(_WIN_LOCK_OFFSET)
            msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)
            fh.seek(saved)
        return
    yield  # pragma: no cover


# --------------------------------------------------------------------------
# serialisation: the seed's bytes
# --------------------------------------------------------------------------


def _json_default(obj: Any) -> Any:
    """Coerces values json cannot encode: numpy/torch scalars via ``.item()``, else str."""
    item = getattr(obj, "item", None)
    if callable(item):
        try:
            return item()
        except Exception:
            pass
    tolist = getattr(obj, "tolist", None)
    if callable(tolist):
        try:
            return tolist()
        except Exception:
            pass
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=repr)
    return str(obj)


def stable_json(obj: Any) -> str:
    """``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=True)``.

    The exact bytes the seed hashes and writes (spec/mirror.md §3).
    """
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=_json_default
    )


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _resolve_key(key: Union[str, bytes, None]) -> Optional[bytes]:
    if key is None:
        key = os.environ.get(HMAC_KEY_ENV) or None
    if key is None:
        return None
    if isinstance(key, str):
        key = key.encode("utf-8")
    return bytes(key) or None


def chain_digest(prev_hash: str, body: Dict[str, Any], key: Optional[bytes]) -> str:
    """``hex(SHA-256(prev_hash || stable_json(body)))``, or HMAC-SHA256 with ``key``."""
    payload = (prev_hash + stable_json(body)).encode("utf-8")
    if key is not None:
        return hmac.new(key, payload, hashlib.sha256).hexdigest()
    return hashlib.sha256(payload).hexdigest()


_digest = chain_digest  # the seed's private name


def normalise(value: Any) -> Any:
    """A JSON-only copy of ``value`` (numpy/torch scalars, tuples, paths... converted).

    Round-trips through :func:`stable_json`, so what is returned is exactly what gets
    hashed; raises ``ValueError`` for values json cannot represent at all (cycles).
    """
    return json.loads(stable_json(value))


# --------------------------------------------------------------------------
# tail reading and torn-tail repair
# --------------------------------------------------------------------------


def _last_line_span(fh) -> Tuple[Optional[bytes], int, bool]:
    """The last non-blank line of a binary handle.

    Returns ``(line, start_offset, terminated)``: the stripped line (None for an empty
    or all-blank file), the offset where it starts, and whether a newline follows it.
    """
    fh.seek(0, os.SEEK_END)
    end = fh.tell()
    pos = end
    buf = b""
    while pos > 0:
        step = min(65536, pos)
        pos -= step
        fh.seek(pos)
        buf = fh.read(step) + buf
        trimmed = buf.rstrip(b"\r\n \t")
        if not trimmed:
            if pos == 0:
                return None, 0, True
            continue
        cut = max(trimmed.rfind(b"\n"), trimmed.rfind(b"\r"))
        if cut != -1 or pos == 0:
            start = pos + cut + 1
            terminated = buf[len(trimmed):].find(b"\n") != -1 or buf[len(trimmed):].find(b"\r") != -1
            return trimmed[cut + 1 :].strip(), start, terminated
        if end - pos > MAX_LINE_BYTES:
            raise AuditLogError("the ledger's last line is longer than MAX_LINE_BYTES")
    return None, 0, True


def _parse_record(line: bytes) -> Optional[Dict[str, Any]]:
    try:
        record = json.loads(line.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("curr_hash"), str):
        return None
    return record


def _read_tail(fh, path: str, repair: bool) -> Optional[Dict[str, Any]]:
    """The last record, repairing a torn tail when ``repair`` (the handle is writable).

    A torn tail is a last line with no newline after it that is not a whole record: a
    write cut short by a crash or a full disk. It is cut off (and appended to
    ``<path>.torn`` for inspection) and the chain continues from the line before.
    A last line that *is* newline-terminated but not a record is real corruption:
    refuse, like the seed, rather than silently restart the chain.
    """
    line, start, terminated = _last_line_span(fh)
    if line is None:
        return None
    record = _parse_record(line)
    if record is not None:
        if not terminated and repair:
            fh.seek(0, os.SEEK_END)
            fh.write(b"\n")
        return record
    if terminated:
        raise AuditLogError(
            f"{path}: final line is not a valid record, refusing to append to a corrupt ledger"
        )
    if not repair:
        # A reader: the torn line is not part of the chain; report the one before it.
        return _record_before(fh, start, path)
    fh.seek(start)
    torn = fh.read()
    with open(path + ".torn", "ab") as side:
        side.write(torn + b"\n")
    fh.truncate(start)
    fh.flush()
    os.fsync(fh.fileno())
    warnings.warn(
        f"{path}: cut a torn last line of {len(torn)} bytes (kept in {path}.torn)",
        RuntimeWarning,
        stacklevel=4,
    )
    return _record_before(fh, start, path)


def _record_before(fh, start: int, path: str) -> Optional[Dict[str, Any]]:
    # Look at the file as if it ended at `start`.
    fh.seek(0)
    view = _Prefix(fh, start)
    line, _, _ = _last_line_span(view)
    if line is None:
        return None
    record = _parse_record(line)
    if record is None:
        raise AuditLogError(
            f"{path}: the line before a torn tail is not a valid record, refusing to append"
        )
    return record


class _Prefix:
    """A read-only view of the first ``size`` bytes of a binary handle."""

    def __init__(self, fh, size: int) -> None:
        self._fh, self._size, self._pos = fh, size, 0

    def seek(self, pos: int, whence: int = 0) -> int:
        self._pos = self._size + pos if whence == os.SEEK_END else pos
        return self._pos

    def tell(self) -> int:
        return self._pos

    def read(self, n: int) -> bytes:
        n = max(0, min(n, self._size - self._pos))
        self._fh.seek(self._pos)
        data = self._fh.read(n)
        self._pos += len(data)
        return data


# --------------------------------------------------------------------------
# the logger
# --------------------------------------------------------------------------


class AuditLogger:
    """Appends audit events to a local hash-chained JSONL ledger or to ``tlog serve``.

    Safe to share across threads and processes.

    Args:
        path: Local ledger. Defaults to ``$AUDIT_LOG_PATH`` (read now, when the logger
            is created), else ``audit_trail.jsonl``. Parent folders are created.
        system: Default ``system`` of emitted events (e.g. ``"fastapi"``).
        actor: Default ``actor`` of emitted events.
        url: Base URL of a ``tlog serve`` (e.g. ``http://127.0.0.1:8080``). Defaults to
            ``$AUDIT_LOG_URL``; pass ``url=""`` to force the local file.
        token: Writer token for the server. Defaults to ``$AUDIT_LOG_TOKEN``, then
            ``$TLOG_TOKEN``, then the file ``$TLOG_DIR/default.token`` or
            ``./tlog-data/default.token``.
        key: HMAC secret of a local ledger. Defaults to ``$AUDIT_HMAC_KEY``; unset means
            a plain SHA-256 chain that anyone can recompute.
        fsync: Local mode: fsync each event before returning (durable across power
            loss, slower). The server always fsyncs before acknowledging.
        on_unreachable: Server mode: ``"spool"`` (default) keeps events in a local spool
            file and replays them when the server is back; ``"raise"`` makes
            :meth:`emit`/:meth:`flush` raise :class:`AuditLogError` (events already
            handed over are still spooled, never dropped).
        spool_path: Server mode spool file. Defaults to ``$AUDIT_SPOOL_PATH``, else
            ``~/.cache/llm-audit-trail/spool/<sha256(url)[:16]>.jsonl``.
        vkey: The log's verifier key; when given, ``emit(wait=True)`` checks the
            returned proof and checkpoint signature before returning.
        **client_options: Tuning of the HTTP client (``batch_size``, ``max_queue``,
            ``timeout``, ``linger``, ``retry_for``); see :class:`~llm_audit_trail.client.TlogClient`.
    """

    def __init__(
        self,
        path: Optional[str] = None,
        system: Optional[str] = None,
        actor: Optional[str] = None,
        *,
        url: Optional[str] = None,
        token: Optional[str] = None,
        key: Union[str, bytes, None] = None,
        fsync: bool = False,
        schema_version: str = SCHEMA_VERSION,
        on_unreachable: str = "spool",
        spool_path: Optional[str] = None,
        vkey: Optional[str] = None,
        **client_options: Any,
    ) -> None:
        self.path = os.fspath(path) if path is not None else _env_log_path()
        self.system = system
        self.actor = actor
        self.schema_version = schema_version
        self.key = _resolve_key(key)
        self.fsync = fsync
        self._lock = threading.Lock()
        if url is None:
            url = os.environ.get(URL_ENV) or None
        self.url = url.rstrip("/") if url else None
        self.client = None
        if self.url:
            if on_unreachable not in ("spool", "raise"):
                raise ValueError('on_unreachable must be "spool" or "raise"')
            from .client import TlogClient

            self.client = TlogClient(
                self.url,
                token=token,
                on_unreachable=on_unreachable,
                spool_path=spool_path,
                vkey=vkey,
                **client_options,
            )
        else:
            if client_options:
                raise TypeError(f"unexpected arguments {sorted(client_options)} without url")
            parent = os.path.dirname(os.path.abspath(self.path))
            if parent:
                os.makedirs(parent, exist_ok=True)

    def __repr__(self) -> str:
        where = f"url={self.url!r}" if self.url else f"path={self.path!r}"
        return f"AuditLogger({where}, system={self.system!r}, actor={self.actor!r})"

    @property
    def remote(self) -> bool:
        """True when events go to a ``tlog serve``."""
        return self.client is not None

    def emit(
        self,
        event_type: str,
        details: Optional[Dict[str, Any]] = None,
        *,
        model_id: Optional[str] = None,
        dataset_id: Optional[str] = None,
        deployment_id: Optional[str] = None,
        system: Optional[str] = None,
        actor: Optional[str] = None,
        wait: bool = False,
    ) -> Dict[str, Any]:
        """Records one event and returns it.

        Local mode: the returned dict is the chained record as written (with ``seq``,
        ``prev_hash``, ``curr_hash``). Server mode: the event as submitted (with its
        ``event_id`` and ``timestamp``); it is sent in the background unless
        ``wait=True``, which posts now, waits for a signed checkpoint covering it, and
        adds ``index``, ``leaf_hash``, ``tree_size``, ``inclusion_proof`` and
        ``checkpoint`` (``wait`` has no effect in local mode).
        """
        if not isinstance(event_type, str) or not event_type:
            raise ValueError("event_type must be a non-empty string")
        actor = actor if actor is not None else self.actor
        system = system if system is not None else self.system
        if self.client is not None:
            return self.client.emit(
                event_type,
                details if details is not None else {},
                model_id=model_id,
                dataset_id=dataset_id,
                deployment_id=deployment_id,
                system=system,
                actor=actor,
                wait=wait,
            )
        return self._append_local(
            event_type,
            details if details is not None else {},
            model_id=model_id,
            dataset_id=dataset_id,
            deployment_id=deployment_id,
            system=system,
            actor=actor,
        )

    def _append_local(self, event_type: str, details: Any, **fields: Any) -> Dict[str, Any]:
        with self._lock, open(self.path, "ab+") as fh, _file_lock(fh):
            previous = _read_tail(fh, self.path, repair=True)
            if previous is None:
                prev_hash, seq = GENESIS, 0
            else:
                prev_hash = previous["curr_hash"]
                prev_seq = previous.get("seq")
                seq = prev_seq + 1 if isinstance(prev_seq, int) else 0
            event: Dict[str, Any] = {
                "schema_version": self.schema_version,
                "seq": seq,
                "event_id": str(uuid.uuid4()),
                "timestamp": _now(),
                "event_type": event_type,
                "actor": fields["actor"],
                "system": fields["system"],
                "model_id": fields["model_id"],
                "dataset_id": fields["dataset_id"],
                "deployment_id": fields["deployment_id"],
                "details": details,
                "hash_alg": HMAC_SHA256 if self.key else SHA256,
                "prev_hash": prev_hash,
            }
            line = stable_json(event)  # may raise: nothing is written then
            event = json.loads(line)
            event["curr_hash"] = chain_digest(prev_hash, event, self.key)
            fh.seek(0, os.SEEK_END)
            fh.write((stable_json(event) + "\n").encode("utf-8"))
            fh.flush()
            if self.fsync:
                os.fsync(fh.fileno())
        return event

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Server mode: blocks until every event emitted so far is acknowledged by the
        server or safely spooled. Returns True if none is waiting in the spool.
        Local mode: nothing to do (each emit is written before it returns)."""
        if self.client is None:
            return True
        return self.client.flush(timeout)

    def replay_spool(self) -> int:
        """Server mode: sends the spooled events now (same event ids, so nothing is
        appended twice). Returns how many were acknowledged."""
        if self.client is None:
            return 0
        return self.client.replay_spool()

    def close(self, timeout: Optional[float] = 30.0) -> None:
        """Flushes and stops the background sender (also done at interpreter exit)."""
        if self.client is not None:
            self.client.close(timeout)

    def __enter__(self) -> "AuditLogger":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def head(self) -> Optional[Dict[str, Any]]:
        """The chain head ``{"seq", "hash", "timestamp"}``, or None for an empty ledger.

        Server mode: the latest checkpoint (``seq`` = tree size - 1, ``hash`` = its root
        hash in hex) with ``tree_size`` and ``origin``; None before the first event.
        """
        if self.client is not None:
            return self.client.head()
        return read_head(self.path)

    def verify(self, **kwargs: Any) -> Tuple[bool, Dict[str, Any]]:
        """Verifies this ledger (or the server's log). See :func:`verify_log`."""
        if self.client is not None:
            kwargs.setdefault("vkey", self.client.vkey)
            return verify_log(self.url, **kwargs)
        kwargs.setdefault("key", self.key)
        return verify_log(self.path, **kwargs)


# --------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------


def iter_events(path: Optional[str] = None) -> Iterator[Dict[str, Any]]:
    """Yields each record of a ledger (``$AUDIT_LOG_PATH`` by default); blank lines skipped."""
    path = path or _env_log_path()
    with open(path, "r", encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line:
                yield json.loads(line)


def read_head(path: Optional[str] = None) -> Optional[Dict[str, Any]]:
    """The chain head ``{"seq", "hash", "timestamp"}`` without scanning the whole ledger.

    A torn last line (an interrupted write) is ignored, as the next append will cut it.
    """
    path = path or _env_log_path()
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return None
    with open(path, "rb") as fh, _file_lock(fh, shared=True):
        record = _read_tail(fh, path, repair=False)
    if record is None:
        return None
    return {"seq": record.get("seq"), "hash": record["curr_hash"], "timestamp": record.get("timestamp")}


def write_anchor(
    path: Optional[str] = None, anchor_path: Optional[str] = None
) -> Optional[Dict[str, Any]]:
    """Records the current head in ``anchor_path`` (default ``<path>.anchor``).

    An anchor only helps if it is kept where whoever writes the ledger cannot rewrite
    it too (another host, an append-only bucket, a signed commit, a ticket).
    """
    path = path or _env_log_path()
    head = read_head(path)
    if head is None:
        return None
    anchor = dict(head, path=os.path.abspath(path), anchored_at=_now())
    target = anchor_path or (path + ".anchor")
    with open(target, "w", encoding="utf-8") as fh:
        json.dump(anchor, fh, indent=2, sort_keys=True)
        fh.write("\n")
    return anchor


def read_anchor(anchor_path: str) -> Dict[str, Any]:
    """Loads an anchor written by :func:`write_anchor`."""
    with open(anchor_path, "r", encoding="utf-8") as fh:
        return json.load(fh)


# --------------------------------------------------------------------------
# verification of a local ledger
# --------------------------------------------------------------------------


def _split_lines(fh) -> Iterator[Tuple[int, bytes, bytes]]:
    """Yields ``(line_no, line, terminator)`` like Python's universal newlines.

    Lines are bounded: a line over MAX_LINE_BYTES comes back truncated with the
    terminator ``b"!"`` so the caller can report it.
    """
    line_no = 0
    while True:
        chunk = fh.readline(MAX_LINE_BYTES + 2)
        if not chunk:
            return
        if len(chunk) > MAX_LINE_BYTES + 1 and not chunk.endswith(b"\n"):
            yield line_no + 1, chunk, b"!"
            return
        if chunk.endswith(b"\r\n"):
            body, term = chunk[:-2], b"\r\n"
        elif chunk.endswith(b"\n"):
            body, term = chunk[:-1], b"\n"
        else:
            body, term = chunk, b""
        parts = body.split(b"\r")
        for i, part in enumerate(parts):
            line_no += 1
            yield line_no, part, (b"\r" if i < len(parts) - 1 else term)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name}")


def _no_duplicates(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    seen: Dict[str, Any] = {}
    for k, v in pairs:
        if k in seen:
            raise ValueError(f"duplicate key {k!r}")
        seen[k] = v
    return seen


def _as_checkpoint(checkpoint: Any, vkey: Any):
    """Opens a checkpoint given as note text, a /v1/checkpoint dict or a Checkpoint."""
    from .note import Checkpoint, open_checkpoint

    if isinstance(checkpoint, Checkpoint):
        note = checkpoint.note
    elif isinstance(checkpoint, dict):
        note = checkpoint.get("note") or checkpoint.get("checkpoint")
    else:
        note = checkpoint
    if isinstance(note, bytes):
        note = note.decode("utf-8")
    if not isinstance(note, str) or not note:
        raise ValueError("checkpoint must be a signed note (text), a dict with 'note', or a Checkpoint")
    if vkey is None:
        raise ValueError("checking a checkpoint needs the log's verifier key (vkey=)")
    return open_checkpoint(note, vkey)


def verify_log(
    path: Optional[str] = None,
    *,
    key: Union[str, bytes, None] = None,
    expected_head: Optional[Dict[str, Any]] = None,
    checkpoint: Any = None,
    vkey: Optional[str] = None,
    strict: bool = False,
    **url_options: Any,
) -> Tuple[bool, Dict[str, Any]]:
    """Verifies a ledger file, or a ``tlog serve`` log given by its URL.

    Never raises for bad input: it returns ``(ok, report)``. On success the report has
    ``events`` and ``head``; on failure an ``error`` code, the ``line`` and context, with
    the seed's codes (``malformed_json``, ``malformed_record``, ``missing_curr_hash``,
    ``broken_link``, ``unknown_hash_alg``, ``key_required``, ``hash_mismatch``,
    ``seq_gap``, ``anchor_mismatch``, ``anchor_missing``, ``unreadable``) plus:

    * ``hash_alg_mismatch``: the algorithm is pinned by ``key`` (HMAC-SHA256 with a
      key, SHA-256 without), never taken from the line; a keyed ledger with lines
      rewritten as plain ``sha256`` fails here (the seed accepted it);
    * ``non_canonical`` (``strict=True``): a line that is not exactly
      ``stable_json(record)`` + ``"\\n"``, a duplicate key, ``NaN``;
    * ``line_too_long``;
    * with ``checkpoint`` (signed note text or a ``/v1/checkpoint`` dict) and ``vkey``,
      for a ``tlog serve`` JSONL mirror: ``checkpoint_invalid`` (signature or format),
      ``record_check_failed`` (a record's ``leaf_hash`` is not the hash of its entry),
      ``truncated`` (fewer records than the checkpoint's tree size), and
      ``checkpoint_mismatch`` (the records' Merkle root is not the checkpoint's). The
      ledger may grow past the checkpoint (reported as ``uncovered_events``).

    For a URL (``http://`` or ``https://``) see
    :func:`llm_audit_trail.verify.verify_url` (signed checkpoint and consistency with
    the checkpoint remembered from the previous run).

    Args:
        path: Ledger file (default ``$AUDIT_LOG_PATH``) or log URL.
        key: HMAC secret; defaults to ``$AUDIT_HMAC_KEY``. Pins the algorithm.
        expected_head: An anchor from :func:`write_anchor`: the anchored record must
            still be there, at its ``seq``, with its hash.
        checkpoint: A signed checkpoint that the file must match (needs ``vkey``).
        vkey: The log's verifier key ``name+hex8+base64``.
        strict: Also require canonical bytes.
    """
    path = path or _env_log_path()
    if isinstance(path, str) and path.startswith(("http://", "https://")):
        from .verify import verify_url

        return verify_url(path, vkey=vkey, checkpoint=checkpoint, **url_options)
    if url_options:
        raise TypeError(f"unexpected arguments {sorted(url_options)} for a file")
    try:
        resolved_key = _resolve_key(key)
    except Exception as exc:  # pragma: no cover - odd key types
        return False, {"error": "unreadable", "path": path, "detail": f"bad key: {exc}"}
    pinned = HMAC_SHA256 if resolved_key is not None else SHA256

    cp = None
    frontier = None
    if checkpoint is not None:
        try:
            cp = _as_checkpoint(checkpoint, vkey)
        except ValueError as exc:
            return False, {"error": "checkpoint_invalid", "detail": str(exc)}
        from .merkle import Frontier

        frontier = Frontier()
        root_at_size: Optional[bytes] = None

    prev_hash = GENESIS
    prev_seq: Optional[int] = None
    count = 0
    last: Optional[Dict[str, Any]] = None
    anchor_seen = expected_head is None
    try:
        handle = open(path, "rb")
    except OSError as exc:
        return False, {"error": "unreadable", "path": path, "detail": str(exc)}

    with handle:
        for line_no, raw, term in _split_lines(handle):
            if term == b"!":
                return False, {
                    "error": "line_too_long",
                    "line": line_no,
                    "length": len(raw),
                    "max": MAX_LINE_BYTES,
                }
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return False, {"error": "malformed_json", "line": line_no, "detail": str(exc)}
            line = text.strip()
            if not line:
                if strict:
                    return False, {
                        "error": "non_canonical",
                        "line": line_no,
                        "event_id": None,
                        "detail": "blank line",
                    }
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                return False, {"error": "malformed_json", "line": line_no, "detail": str(exc)}
            if not isinstance(record, dict):
                return False, {"error": "malformed_record", "line": line_no}

            claimed = record.get("curr_hash")
            if not isinstance(claimed, str):
                return False, {
                    "error": "missing_curr_hash",
                    "line": line_no,
                    "event_id": record.get("event_id"),
                }
            if record.get("prev_hash") != prev_hash:
                return False, {
                    "error": "broken_link",
                    "line": line_no,
                    "event_id": record.get("event_id"),
                    "expected_prev_hash": prev_hash,
                    "found_prev_hash": record.get("prev_hash"),
                    "detail": "an event was deleted, reordered or inserted here",
                }
            alg = record.get("hash_alg", SHA256)
            if alg not in (SHA256, HMAC_SHA256):
                return False, {"error": "unknown_hash_alg", "line": line_no, "hash_alg": alg}
            if alg != pinned:
                if alg == HMAC_SHA256:
                    return False, {
                        "error": "key_required",
                        "line": line_no,
                        "detail": f"ledger is HMAC-chained; pass key= or set ${HMAC_KEY_ENV}",
                    }
                return False, {
                    "error": "hash_alg_mismatch",
                    "line": line_no,
                    "event_id": record.get("event_id"),
                    "expected_hash_alg": pinned,
                    "found_hash_alg": alg,
                    "detail": (
                        "a key was given, so every line must be HMAC-SHA256; this one "
                        "claims plain SHA-256 (a downgrade anyone can forge)"
                    ),
                }
            body = {k: v for k, v in record.items() if k != "curr_hash"}
            calculated = chain_digest(prev_hash, body, resolved_key)
            if not hmac.compare_digest(calculated, claimed):
                return False, {
                    "error": "hash_mismatch",
                    "line": line_no,
                    "event_id": record.get("event_id"),
                    "expected": calculated,
                    "found": claimed,
                    "detail": "this event's contents were modified after it was written",
                }
            if strict:
                problem = None
                if term != b"\n":
                    problem = "line does not end with a single \\n"
                elif text != stable_json(record):
                    problem = "line is not the canonical stable_json of its record"
                else:
                    try:
                        json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
                    except ValueError as exc:
                        problem = str(exc)
                if problem:
                    return False, {
                        "error": "non_canonical",
                        "line": line_no,
                        "event_id": record.get("event_id"),
                        "detail": problem,
                    }
            seq = record.get("seq")
            if isinstance(seq, int) and not isinstance(seq, bool):
                if prev_seq is not None and seq != prev_seq + 1:
                    return False, {
                        "error": "seq_gap",
                        "line": line_no,
                        "expected_seq": prev_seq + 1,
                        "found_seq": seq,
                    }
                prev_seq = seq
                if not anchor_seen and seq == expected_head.get("seq"):  # type: ignore[union-attr]
                    if claimed != expected_head.get("hash"):  # type: ignore[union-attr]
                        return False, {
                            "error": "anchor_mismatch",
                            "line": line_no,
                            "seq": seq,
                            "expected": expected_head.get("hash"),  # type: ignore[union-attr]
                            "found": claimed,
                            "detail": "the anchored event was rewritten",
                        }
                    anchor_seen = True
            if frontier is not None and cp is not None and frontier.size < cp.tree_size:
                from .entry import EntryError, record_leaf_hash

                try:
                    leaf = record_leaf_hash(record)
                except (EntryError, ValueError) as exc:
                    leaf, problem = None, str(exc)
                else:
                    problem = (
                        "record has no leaf_hash or salt: only a tlog mirror can be "
                        "checked against a checkpoint"
                        if leaf is None
                        else None
                    )
                if leaf is None or record.get("seq") != frontier.size:
                    return False, {
                        "error": "record_check_failed",
                        "line": line_no,
                        "event_id": record.get("event_id"),
                        "seq": record.get("seq"),
                        "detail": problem or f"seq is not the leaf index {frontier.size}",
                    }
                frontier.append(leaf)
                if frontier.size == cp.tree_size:
                    root_at_size = frontier.root()

            prev_hash = claimed
            last = record
            count += 1

    head = (
        {"seq": last.get("seq"), "hash": last["curr_hash"], "timestamp": last.get("timestamp")}
        if last is not None
        else None
    )
    if not anchor_seen:
        return False, {
            "error": "anchor_missing",
            "detail": "the anchored event is no longer in the ledger; its tail was truncated or rewritten",
            "expected_head": expected_head,
            "events": count,
            "head": head,
        }
    report: Dict[str, Any] = {"events": count, "head": head}
    if cp is not None and frontier is not None:
        if frontier.size < cp.tree_size:
            return False, {
                "error": "truncated",
                "detail": (
                    f"the ledger has {frontier.size} records but the signed checkpoint "
                    f"covers {cp.tree_size}: its tail was cut"
                ),
                "events": count,
                "tree_size": cp.tree_size,
            }
        from .merkle import empty_root

        root = root_at_size if cp.tree_size else empty_root()
        if root != cp.root_hash:
            return False, {
                "error": "checkpoint_mismatch",
                "detail": f"the first {cp.tree_size} records do not have the checkpoint's root hash",
                "events": count,
                "tree_size": cp.tree_size,
            }
        report["checkpoint"] = cp.to_dict()
        report["uncovered_events"] = count - cp.tree_size
    return True, report

