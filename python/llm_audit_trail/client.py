"""HTTP client of ``tlog serve`` (``spec/api.md``), standard library only.

Life of an event emitted with ``AuditLogger(url=...)``:

1. :meth:`TlogClient.emit` validates it against the server's rules (``spec/entry.md``
   §2-§5) so that one bad event never poisons a batch, gives it a uuid4 ``event_id``
   and a timestamp *now* (both part of the server's duplicate check, so a retry is
   byte-identical), and puts it on a bounded in-memory queue (``emit`` blocks while
   the queue is full: back-pressure, not loss).
2. A background thread takes up to ``batch_size`` (≤ 1000) events, lingering a few
   milliseconds to fill a batch, and POSTs them as one JSON array over a keep-alive
   connection. The server answers once they are fsync'd.
3. A failed POST (connection refused, timeout, 408/429/5xx) is retried with
   exponential backoff and jitter for ``retry_for`` seconds. A retry carries the same
   event ids, so the server returns the original indexes (``"existing": true``) for
   events it already has: nothing is appended twice.
4. If the server stays unreachable the batch is appended to the **spool** (a JSONL
   file, fsync'd, under an exclusive lock) and the client goes offline: later batches
   go straight to the spool, in order, while a probe (``GET /healthz``) checks every
   ``probe_interval`` seconds. When the server answers, the spool is replayed (same
   event ids) before new events are sent. :meth:`replay_spool` does it on demand.
5. An event the server refuses (422 invalid, 409 conflict) is written with the error to
   ``<spool>.rejected.jsonl`` and a warning is issued: never silently dropped.
6. :meth:`flush` waits until every event emitted so far is acknowledged or spooled; it
   runs at interpreter exit too (``atexit``).

``emit(..., wait=True)`` skips the queue: it posts with ``?wait=checkpoint`` and returns
the event with its ``index``, ``leaf_hash``, ``tree_size``, ``inclusion_proof`` (base64)
and the signed ``checkpoint`` note.
"""

from __future__ import annotations

import atexit
import collections
import hashlib
import http.client
import json
import math
import os
import random
import re
import threading
import time
import urllib.parse
import uuid
import warnings
import weakref
from typing import Any, Deque, Dict, List, Optional, Tuple

from .core import AuditLogError, _file_lock, _now, normalise

__all__ = [
    "TlogClient",
    "HttpError",
    "ServerUnreachable",
    "resolve_token",
    "validate_event",
    "sanitize_details",
    "MAX_EVENTS_PER_REQUEST",
]

#: Most events in one POST (the server's limit).
MAX_EVENTS_PER_REQUEST = 1000
#: Largest request body sent (the server accepts 4 MiB).
MAX_REQUEST_BYTES = 3 << 20
#: Largest response body read.
MAX_RESPONSE_BYTES = 16 << 20
_RETRYABLE = {408, 429, 500, 502, 503, 504}
_EVENT_TYPE_RE = re.compile(r"[A-Za-z0-9_.:\-]{1,128}\Z")
_MAX_FIELD_BYTES = 256
_MAX_BODY_BYTES = 262144
_MAX_DEPTH = 63  # the body map itself is the 64th level
_CBOR_MAX = 2**64


class HttpError(AuditLogError):
    """The server answered with an error status (``spec/api.md`` §Errors)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status, self.code, self.message = status, code, message

    @property
    def retryable(self) -> bool:
        """Whether the same request may succeed later."""
        return self.status in _RETRYABLE


class ServerUnreachable(AuditLogError):
    """No answer from the server (connection refused or reset, timeout)."""


def resolve_token(token: Optional[str] = None) -> Optional[str]:
    """The writer token: the argument, ``$AUDIT_LOG_TOKEN``, ``$TLOG_TOKEN``, then the
    file ``$TLOG_DIR/default.token`` or ``./tlog-data/default.token``."""
    if token:
        return token.strip()
    for var in ("AUDIT_LOG_TOKEN", "TLOG_TOKEN"):
        if os.environ.get(var):
            return os.environ[var].strip()
    candidates = []
    if os.environ.get("TLOG_DIR"):
        candidates.append(os.path.join(os.environ["TLOG_DIR"], "default.token"))
    candidates.append(os.path.join("tlog-data", "default.token"))
    for path in candidates:
        try:
            with open(path, "r", encoding="utf-8") as fh:
                value = fh.read().strip()
        except OSError:
            continue
        if value:
            return value
    return None


# --------------------------------------------------------------------------
# validation: the server's rules, checked before queueing
# --------------------------------------------------------------------------


def _check_text(name: str, value: Any) -> Optional[str]:
    if value is None or value == "":
        return None  # absent ("" is how the seed wrote "not set")
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, not {type(value).__name__}")
    if len(value.encode("utf-8")) > _MAX_FIELD_BYTES:
        raise ValueError(f"{name} is longer than {_MAX_FIELD_BYTES} bytes")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in value):
        raise ValueError(f"{name} contains a control character")
    return value


def sanitize_details(details: Any) -> Any:
    """A copy of ``details`` that the server accepts.

    numpy/torch scalars and other objects are converted like the local ledger does
    (``.item()``, else ``str``); ``NaN``/``±Infinity``, which JSON and the server
    refuse, become the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` (a NaN loss is
    worth recording); integers outside CBOR's range become decimal strings.
    Raises ``ValueError`` for nesting deeper than the server allows.
    """

    def fix(v: Any, depth: int) -> Any:
        if isinstance(v, float):
            if math.isnan(v):
                return "NaN"
            if math.isinf(v):
                return "Infinity" if v > 0 else "-Infinity"
            return v
        if isinstance(v, bool) or v is None or isinstance(v, str):
            return v
        if isinstance(v, int):
            return v if -_CBOR_MAX <= v < _CBOR_MAX else str(v)
        if depth >= _MAX_DEPTH:
            raise ValueError(f"details nest deeper than {_MAX_DEPTH} levels")
        if isinstance(v, list):
            return [fix(x, depth + 1) for x in v]
        if isinstance(v, dict):
            return {k: fix(x, depth + 1) for k, x in v.items()}
        return v  # pragma: no cover - normalise() leaves only JSON types

    return fix(normalise(details), 0)


def validate_event(event: Dict[str, Any]) -> Dict[str, Any]:
    """Checks (and cleans) one event dict against ``spec/entry.md``; raises ValueError."""
    et = event.get("event_type")
    if not isinstance(et, str) or not _EVENT_TYPE_RE.match(et):
        raise ValueError(
            f"event_type {et!r} must be 1-128 characters of letters, digits and _.:-"
        )
    out: Dict[str, Any] = {"event_id": event["event_id"], "timestamp": event["timestamp"], "event_type": et}
    for name in ("system", "model_id", "dataset_id", "deployment_id", "actor"):
        v = _check_text(name, event.get(name))
        if v is not None:
            out[name] = v
    out["details"] = sanitize_details(event.get("details", {}))
    encoded = json.dumps(out["details"], separators=(",", ":"), ensure_ascii=False)
    if len(encoded) > _MAX_BODY_BYTES // 4:
        from .entry import EntryError, encode_body

        try:
            encode_body(out.get("actor"), out["details"])
        except EntryError as exc:
            raise ValueError(f"details are too large for one event: {exc}") from exc
    return out


# --------------------------------------------------------------------------
# HTTP: one keep-alive connection per thread
# --------------------------------------------------------------------------


class _Http:
    def __init__(self, base_url: str, timeout: float) -> None:
        u = urllib.parse.urlsplit(base_url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"log URL must be http(s)://host[:port][/prefix], not {base_url!r}")
        self.scheme = u.scheme
        self.host = u.hostname
        self.port = u.port
        self.prefix = u.path.rstrip("/")
        self.timeout = timeout
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
            conn = cls(self.host, self.port, timeout=self.timeout)
            self._local.conn, self._local.pid, self._local.used = conn, os.getpid(), False
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass
        self._local.conn = None

    def request(
        self,
        method: str,
        path: str,
        body: Optional[bytes] = None,
        headers: Optional[Dict[str, str]] = None,
        timeout: Optional[float] = None,
    ) -> Tuple[int, bytes]:
        """One request; a stale keep-alive connection is reopened once."""
        for attempt in (0, 1):
            conn = self._connection()
            reused = self._local.used
            conn.timeout = timeout if timeout is not None else self.timeout
            if conn.sock is not None:
                conn.sock.settimeout(conn.timeout)
            try:
                conn.request(method, self.prefix + path, body=body, headers=headers or {})
                resp = conn.getresponse()
                data = resp.read(MAX_RESPONSE_BYTES + 1)
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                stale = isinstance(
                    exc, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
                )
                if attempt == 0 and reused and stale:
                    continue  # the server closed an idle keep-alive connection
                raise ServerUnreachable(f"{method} {self.prefix + path}: {exc}") from exc
            self._local.used = True
            if resp.will_close or len(data) > MAX_RESPONSE_BYTES:
                self._drop()
            if len(data) > MAX_RESPONSE_BYTES:
                raise ServerUnreachable(f"{method} {path}: response larger than {MAX_RESPONSE_BYTES} bytes")
            return resp.status, data
        raise AssertionError("unreachable")  # pragma: no cover

    def json(self, method: str, path: str, payload: Any = None, headers: Optional[Dict[str, str]] = None,
             timeout: Optional[float] = None) -> Any:
        body = None
        hdrs = {"Accept": "application/json"}
        hdrs.update(headers or {})
        if payload is not None:
            body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
            hdrs["Content-Type"] = "application/json"
        status, data = self.request(method, path, body, hdrs, timeout=timeout)
        try:
            doc = json.loads(data.decode("utf-8")) if data else None
        except (ValueError, UnicodeDecodeError):
            doc = None
        if status >= 400:
            if isinstance(doc, dict):
                raise HttpError(status, str(doc.get("error", "error")), str(doc.get("message", "")))
            raise HttpError(status, "error", data[:200].decode("utf-8", "replace"))
        if doc is None and data:
            raise ServerUnreachable(f"{method} {path}: the answer is not JSON")
        return doc


# --------------------------------------------------------------------------
# the spool
# --------------------------------------------------------------------------


class Spool:
    """Events waiting for the server: a JSONL file, appended under an exclusive lock
    and fsync'd, so several processes can share it and nothing handed to it is lost."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.rejected_path = path[:-6] + ".rejected.jsonl" if path.endswith(".jsonl") else path + ".rejected"

    def _ensure_dir(self) -> None:
        parent = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(parent, mode=0o700, exist_ok=True)

    def append(self, events: List[Dict[str, Any]]) -> None:
        """Appends events durably."""
        if not events:
            return
        self._ensure_dir()
        data = b"".join(
            json.dumps(e, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8") + b"\n"
            for e in events
        )
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "ab") as fh, _file_lock(fh):
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    def reject(self, event: Dict[str, Any], error: str) -> None:
        """Keeps an event the server refused, with the reason."""
        self._ensure_dir()
        line = json.dumps({"event": event, "error": error, "rejected_at": _now()}, ensure_ascii=False)
        fd = os.open(self.rejected_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "ab") as fh, _file_lock(fh):
            fh.write(line.encode("utf-8") + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        warnings.warn(
            f"tlog refused event {event.get('event_id')} ({error}); kept in {self.rejected_path}",
            RuntimeWarning,
            stacklevel=2,
        )

    def pending(self) -> bool:
        """True if the spool holds anything."""
        try:
            return os.path.getsize(self.path) > 0
        except OSError:
            return False

    def count(self) -> int:
        """Number of spooled events."""
        try:
            with open(self.path, "rb") as fh:
                return sum(1 for line in fh if line.strip())
        except OSError:
            return 0

    def replay(self, send) -> int:
        """Sends every spooled event through ``send(batch)`` (which raises on failure),
        in order, in batches; removes what was acknowledged. Returns how many were sent.

        Holds the spool's lock throughout, so concurrent appenders wait and two
        replayers never send the same events at once (a crash between sending and
        truncating only causes an idempotent re-send later).
        """
        if not self.pending():
            return 0
        sent = 0
        with open(self.path, "rb+") as fh, _file_lock(fh):
            raw = fh.read()
            events: List[Dict[str, Any]] = []
            for line in raw.split(b"\n"):
                if not line.strip():
                    continue
                try:
                    events.append(json.loads(line.decode("utf-8")))
                except (ValueError, UnicodeDecodeError):
                    continue  # a torn last line (crash mid-append) was never acknowledged
            try:
                for batch in _batches(events, MAX_EVENTS_PER_REQUEST, MAX_REQUEST_BYTES):
                    send(batch)
                    sent += len(batch)
            finally:
                rest = events[sent:]
                fh.seek(0)
                fh.truncate(0)
                if rest:
                    fh.write(b"".join(
                        json.dumps(e, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"
                        for e in rest
                    ))
                fh.flush()
                os.fsync(fh.fileno())
        return sent


def _size(event: Dict[str, Any]) -> int:
    return len(json.dumps(event, separators=(",", ":"), ensure_ascii=False)) + 1


def _batches(events: List[Dict[str, Any]], max_n: int, max_bytes: int):
    batch: List[Dict[str, Any]] = []
    size = 2
    for e in events:
        s = _size(e)
        if batch and (len(batch) >= max_n or size + s > max_bytes):
            yield batch
            batch, size = [], 2
        batch.append(e)
        size += s
    if batch:
        yield batch


# --------------------------------------------------------------------------
# the client
# --------------------------------------------------------------------------

_CLIENTS: "weakref.WeakSet[TlogClient]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for c in list(_CLIENTS):
        c._reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


@atexit.register
def _flush_all_at_exit() -> None:
    for c in list(_CLIENTS):
        try:
            c.close(timeout=c.exit_timeout)
        except Exception as exc:  # pragma: no cover - never fail interpreter exit
            warnings.warn(f"llm-audit-trail: flushing at exit failed: {exc}", RuntimeWarning)


def default_spool_path(url: str) -> str:
    """``$AUDIT_SPOOL_PATH``, else ``~/.cache/llm-audit-trail/spool/<sha256(url)[:16]>.jsonl``."""
    if os.environ.get("AUDIT_SPOOL_PATH"):
        return os.environ["AUDIT_SPOOL_PATH"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    return os.path.join(base, "llm-audit-trail", "spool", digest + ".jsonl")


class TlogClient:
    """Sends events to a ``tlog serve``; see the module documentation.

    Args:
        url: Base URL of the server.
        token: Writer token (see :func:`resolve_token`).
        on_unreachable: ``"spool"`` or ``"raise"``.
        spool_path: See :func:`default_spool_path`.
        vkey: The log's verifier key; checks ``emit(wait=True)`` answers.
        batch_size: Most events per POST (1-1000).
        max_queue: Most events waiting in memory; ``emit`` blocks beyond it.
        timeout: Socket timeout of one request, seconds.
        linger: How long the sender waits to fill a batch, seconds.
        retry_for: How long a failing POST is retried before spooling, seconds.
        probe_interval: While offline, seconds between health probes.
        exit_timeout: Longest wait for the final flush at interpreter exit.
    """

    def __init__(
        self,
        url: str,
        *,
        token: Optional[str] = None,
        on_unreachable: str = "spool",
        spool_path: Optional[str] = None,
        vkey: Optional[str] = None,
        batch_size: int = MAX_EVENTS_PER_REQUEST,
        max_queue: int = 10000,
        timeout: float = 10.0,
        linger: float = 0.02,
        retry_for: float = 10.0,
        probe_interval: float = 2.0,
        exit_timeout: float = 30.0,
    ) -> None:
        if not 1 <= batch_size <= MAX_EVENTS_PER_REQUEST:
            raise ValueError(f"batch_size must be 1..{MAX_EVENTS_PER_REQUEST}")
        self.url = url.rstrip("/")
        self.token = resolve_token(token)
        self.on_unreachable = on_unreachable
        self.spool = Spool(spool_path or default_spool_path(self.url))
        self.vkey = vkey
        self.batch_size = batch_size
        self.max_queue = max_queue
        self.linger = linger
        self.retry_for = retry_for
        self.probe_interval = probe_interval
        self.exit_timeout = exit_timeout
        self.http = _Http(self.url, timeout)
        self._init_state()
        _CLIENTS.add(self)

    def _init_state(self) -> None:
        self._cond = threading.Condition()
        self._queue: Deque[Dict[str, Any]] = collections.deque()
        self._enqueued = 0
        self._done = 0
        self._flush_requested = 0
        self._thread: Optional[threading.Thread] = None
        self._closing = False
        self._offline_until = 0.0
        self._error: Optional[AuditLogError] = None
        self._pid = os.getpid()
        #: Counters, for tests and monitoring.
        self.stats = {"posted": 0, "requests": 0, "spooled": 0, "replayed": 0, "rejected": 0, "retries": 0}

    def _reset_after_fork(self) -> None:
        # The child has a copy of the queue but no sender thread, and locks that may have
        # been held at fork time: start afresh. Events queued before the fork belong to
        # the parent, which sends them.
        self.http = _Http(self.url, self.http.timeout)
        self._init_state()

    # ---- the event ----------------------------------------------------------

    def _headers(self) -> Dict[str, str]:
        h = {}
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        return h

    def emit(self, event_type: str, details: Any, *, wait: bool = False, **fields: Any) -> Dict[str, Any]:
        """Validates and sends (or queues) one event; returns it (see the module doc)."""
        event = validate_event(
            dict(fields, event_id=str(uuid.uuid4()), timestamp=_now(), event_type=event_type, details=details)
        )
        if wait:
            return self._emit_wait(event)
        self._raise_pending_error()
        with self._cond:
            if self._pid != os.getpid():  # pragma: no cover - covered by register_at_fork
                self._reset_after_fork()
            deadline = time.monotonic() + 60.0
            while len(self._queue) >= self.max_queue and not self._closing:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            stopping = self._closing and self._thread is not None and self._thread.is_alive()
            if len(self._queue) >= self.max_queue or stopping:
                # The sender is stuck, or being stopped: hand the event to the spool.
                self.spool.append([event])
                self.stats["spooled"] += 1
                return dict(event, spooled=True)
            self._queue.append(event)
            self._enqueued += 1
            self._ensure_thread()
            self._cond.notify_all()
        return dict(event)

    def _emit_wait(self, event: Dict[str, Any]) -> Dict[str, Any]:
        failure: Optional[AuditLogError] = None
        try:
            result = self._post_retrying(event, wait=True)
        except HttpError as exc:
            if exc.status in (400, 409, 413, 422):
                raise  # this event itself is refused: nothing to replay
            failure = exc
        except ServerUnreachable as exc:
            failure = exc
        if failure is not None:
            if self.on_unreachable == "raise":
                raise failure
            self.spool.append([event])
            self.stats["spooled"] += 1
            warnings.warn(
                f"tlog unreachable ({failure}); event spooled to {self.spool.path}",
                RuntimeWarning,
                stacklevel=3,
            )
            return dict(event, spooled=True)
        out = dict(event)
        out.update(result)
        if self.vkey:
            from .verify import verify_inclusion

            ok, report = verify_inclusion(out, self.vkey)
            if not ok:
                raise AuditLogError(f"the server's proof for event {event['event_id']} does not verify: {report}")
        return out

    def _raise_pending_error(self) -> None:
        if self.on_unreachable == "raise" and self._error is not None:
            err, self._error = self._error, None
            raise err

    # ---- posting -----------------------------------------------------------

    def _post(self, payload: Any, wait: bool = False) -> Any:
        path = "/v1/events" + ("?wait=checkpoint" if wait else "")
        self.stats["requests"] += 1
        return self.http.json("POST", path, payload, self._headers(), timeout=(45.0 if wait else None))

    def _post_retrying(self, payload: Any, wait: bool = False, retry_for: Optional[float] = None) -> Any:
        """POSTs, retrying unreachable and retryable answers with exponential backoff."""
        budget = self.retry_for if retry_for is None else retry_for
        deadline = time.monotonic() + budget
        delay = 0.05
        while True:
            try:
                return self._post(payload, wait)
            except (ServerUnreachable, HttpError) as exc:
                if isinstance(exc, HttpError) and not exc.retryable:
                    raise
                left = deadline - time.monotonic()
                if left <= 0:
                    raise
                self.stats["retries"] += 1
                time.sleep(min(left, delay * (0.5 + random.random())))
                delay = min(delay * 2, 2.0)

    def _deliver(self, batch: List[Dict[str, Any]], retry_for: Optional[float] = None) -> None:
        """Sends one batch; isolates events the server refuses. Raises ServerUnreachable
        or a retryable/authorisation HttpError when the batch as a whole did not go."""
        try:
            answer = self._post_retrying(batch, retry_for=retry_for)
        except HttpError as exc:
            if exc.status in (400, 413, 422) and len(batch) > 1:
                mid = len(batch) // 2
                self._deliver(batch[:mid], retry_for)
                self._deliver(batch[mid:], retry_for)
                return
            if exc.status in (400, 409, 413, 422):
                self.spool.reject(batch[0], str(exc))
                self.stats["rejected"] += 1
                return
            raise
        results = answer.get("results", []) if isinstance(answer, dict) else []
        for event, result in zip(batch, results):
            if isinstance(result, dict) and "error" in result:
                self.spool.reject(event, f"{result.get('error')}: {result.get('message')}")
                self.stats["rejected"] += 1
        self.stats["posted"] += len(batch)

    # ---- the sender thread -------------------------------------------------

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._closing = False
            self._thread = threading.Thread(target=self._run, name="llm-audit-trail-sender", daemon=True)
            self._thread.start()

    def _take_batch(self) -> List[Dict[str, Any]]:
        batch: List[Dict[str, Any]] = []
        size = 2
        while self._queue and len(batch) < self.batch_size:
            s = _size(self._queue[0])
            if batch and size + s > MAX_REQUEST_BYTES:
                break
            batch.append(self._queue.popleft())
            size += s
        return batch

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    idle_wait = self.probe_interval if self.spool.pending() else None
                    if not self._cond.wait(idle_wait) and idle_wait is not None:
                        break  # idle with a non-empty spool: try to replay it
                if not self._queue and self._closing:
                    return
                # Linger is a deadline, not one wait: every emit notifies the condition,
                # and a single wait would end at the next emit, sending tiny batches.
                deadline = time.monotonic() + self.linger
                while self._queue and len(self._queue) < self.batch_size and not self._closing \
                        and not self._flush_requested and self.linger > 0:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                batch = self._take_batch()
                self._cond.notify_all()  # room in the queue
            if not batch:
                self._maybe_replay()
                continue
            self._send_or_spool(batch)
            with self._cond:
                self._done += len(batch)
                self._cond.notify_all()

    def _send_or_spool(self, batch: List[Dict[str, Any]]) -> None:
        if time.monotonic() < self._offline_until:
            self._spool_batch(batch, None)
            return
        if self.spool.pending() and not self._maybe_replay():
            # Keep order: while older events wait in the spool, newer ones join them.
            self._spool_batch(batch, None)
            return
        try:
            self._deliver(batch)
        except (ServerUnreachable, HttpError) as exc:
            self._spool_batch(batch, exc)

    def _spool_batch(self, batch: List[Dict[str, Any]], exc: Optional[Exception]) -> None:
        self.spool.append(batch)
        self.stats["spooled"] += len(batch)
        if exc is not None:
            self._offline_until = time.monotonic() + self.probe_interval
            err = AuditLogError(
                f"tlog at {self.url} unreachable ({exc}); {len(batch)} event(s) spooled to {self.spool.path}"
            )
            if self.on_unreachable == "raise":
                self._error = err
            warnings.warn(str(err), RuntimeWarning, stacklevel=2)

    def _maybe_replay(self) -> bool:
        """Replays the spool if the server answers; True if the spool is now empty."""
        if not self.spool.pending():
            return True
        if time.monotonic() < self._offline_until:
            return False
        try:
            self.http.json("GET", "/healthz", timeout=min(self.http.timeout, 5.0))
            self.replay_spool()
        except AuditLogError:
            self._offline_until = time.monotonic() + self.probe_interval
            return False
        self._offline_until = 0.0
        return not self.spool.pending()

    # ---- public operations --------------------------------------------------

    def replay_spool(self) -> int:
        """Sends the spooled events now (same event ids); returns how many went."""

        def send(batch: List[Dict[str, Any]]) -> None:
            self._deliver(batch, retry_for=min(self.retry_for, 2.0))

        n = self.spool.replay(send)
        self.stats["replayed"] += n
        return n

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Waits until every event emitted so far is acknowledged or spooled, then tries
        the spool once. Returns True when nothing waits in the spool."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            target = self._enqueued
            self._flush_requested += 1
            self._cond.notify_all()
            try:
                while self._done < target:
                    if self._thread is None or not self._thread.is_alive():
                        break
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        break
                    self._cond.wait(left if left is not None else 1.0)
            finally:
                self._flush_requested -= 1
            drained = self._done >= target
        if self.spool.pending():
            try:
                self.http.json("GET", "/healthz", timeout=min(self.http.timeout, 5.0))
                self.replay_spool()
            except AuditLogError:
                pass
        self._raise_pending_error()
        return drained and not self.spool.pending()

    def close(self, timeout: Optional[float] = 30.0) -> None:
        """Flushes, stops the sender thread, and spools whatever could not be sent."""
        if self._pid != os.getpid():
            return
        try:
            self.flush(timeout)
        except AuditLogError:
            pass
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        with self._cond:
            rest = list(self._queue)
            self._queue.clear()
            if rest:
                self._done += len(rest)
        if rest:
            self.spool.append(rest)
            self.stats["spooled"] += len(rest)

    def head(self) -> Optional[Dict[str, Any]]:
        """The latest checkpoint as a head, or None if the log has none yet."""
        try:
            cp = self.http.json("GET", "/v1/checkpoint")
        except HttpError as exc:
            if exc.status == 404:
                return None
            raise
        size = cp["tree_size"]
        if size == 0:
            return None
        return {
            "seq": size - 1,
            "hash": cp["root_hash"],
            "timestamp": None,
            "tree_size": size,
            "origin": cp.get("origin"),
        }

    def get(self, path: str) -> Any:
        """``GET`` a JSON document of the API (e.g. ``/v1/events/12``)."""
        return self.http.json("GET", path)
