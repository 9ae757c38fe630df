"""ASGI middleware that records inference requests and responses (FastAPI, Starlette).

``pip install 'llm-audit-trail[fastapi]'`` — although the middleware itself is pure
ASGI and imports neither.

Per HTTP request it writes an ``InferenceRequest`` and an ``InferenceResponse`` event,
correlated by ``request_id`` (the caller's ``X-Request-ID`` when it is sane, else a new
one; always returned in the response's ``X-Request-ID`` header):

* request: ``method``, ``path``, ``body_bytes``, ``body_hash``; the client IP only with
  ``log_client_ip=True``; a ``body_preview`` only with ``redact_previews=False``;
* response: ``status_code``, ``latency_ms``, ``resp_bytes``, ``resp_hash``,
  ``streamed``, and ``error`` (the exception type) when the endpoint raised — then the
  status is recorded as 500 and the exception re-raised.

Bodies are hashed incrementally as they pass, with a salt:
``salted-sha256:<hex SHA-256(salt || body)>`` (``hash_salt_id`` names the salt), so a
short prompt cannot be confirmed by hashing guesses without the salt. The salt comes
from ``hash_salt=``, else ``$AUDIT_HASH_SALT``, else is random per process.
``hash_salt=b""`` gives the seed's unsalted ``sha256:<hex>``.

With ``buffer_response=True`` (default) a response is held until complete (up to
``max_buffer_bytes``), its event written, then sent — so with ``fail_open=False`` an
unrecorded response is never delivered. Event streams (``text/event-stream``), bodies
over the limit and every response with ``buffer_response=False`` are passed through
chunk by chunk, never held whole. Writes run on a worker thread, off the event loop, in
order. With ``fail_open=True`` (default) a logging failure is reported with ``logging``
and the request goes on; with ``fail_open=False`` it fails the request (503 if nothing
was sent yet).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
import os
import re
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Union

from .core import AuditLogger

__all__ = ["AuditMiddleware"]

log = logging.getLogger("llm_audit_trail.fastapi")

_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:\-]{1,128}\Z")
_PROCESS_SALT = os.urandom(32)


class _AuditWriteFailed(Exception):
    """A ledger write failed and ``fail_open`` is off."""


class _BodyHash:
    """Counts and hashes a body incrementally; keeps a short preview if asked."""

    def __init__(self, salt: bytes, preview_chars: Optional[int]) -> None:
        self._h = hashlib.sha256(salt)
        self._salted = bool(salt)
        self.size = 0
        self._preview = bytearray() if preview_chars else None
        self._preview_limit = (preview_chars or 0) * 4  # UTF-8 is at most 4 bytes a char
        self._preview_chars = preview_chars or 0

    def update(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._h.update(chunk)
        self.size += len(chunk)
        if self._preview is not None and len(self._preview) < self._preview_limit:
            self._preview += chunk[: self._preview_limit - len(self._preview)]

    @property
    def digest(self) -> str:
        return ("salted-sha256:" if self._salted else "sha256:") + self._h.hexdigest()

    @property
    def preview(self) -> Optional[str]:
        if self._preview is None:
            return None
        return bytes(self._preview).decode("utf-8", errors="replace")[: self._preview_chars]


class AuditMiddleware:
    """Pure ASGI middleware; use ``app.add_middleware(AuditMiddleware, logger=..., ...)``.

    Args:
        app: The ASGI app to wrap.
        logger: Where events go (default: ``AuditLogger(system="fastapi")``).
        model_id: Stamped on every event.
        redact_previews: Keep body text out of the ledger (default); only hashes.
        log_client_ip: Record the caller's IP (off: personal data, append-only log).
        buffer_response: Hold each response until its event is written (see module doc).
        fail_open: A logging failure does not fail the request (default).
        preview_chars: Preview length when ``redact_previews=False``.
        hash_salt: Salt of the body hashes (see module doc).
        max_buffer_bytes: Largest response held back when buffering.
        deployment_id: Stamped on every event.
        system: The events' ``system`` (default ``"fastapi"``).
    """

    def __init__(
        self,
        app,
        logger: Optional[AuditLogger] = None,
        model_id: Optional[str] = None,
        redact_previews: bool = True,
        log_client_ip: bool = False,
        buffer_response: bool = True,
        fail_open: bool = True,
        preview_chars: int = 64,
        hash_salt: Union[bytes, str, None] = None,
        max_buffer_bytes: int = 1 << 20,
        deployment_id: Optional[str] = None,
        system: str = "fastapi",
    ) -> None:
        self.app = app
        self.log = logger if logger is not None else AuditLogger(system=system)
        self.model_id = model_id
        self.deployment_id = deployment_id
        self.redact = redact_previews
        self.log_client_ip = log_client_ip
        self.buffer_response = buffer_response
        self.fail_open = fail_open
        self.preview_chars = preview_chars
        self.max_buffer_bytes = max_buffer_bytes
        self.system = system
        if hash_salt is None:
            env = os.environ.get("AUDIT_HASH_SALT")
            hash_salt = env.encode("utf-8") if env else _PROCESS_SALT
        elif isinstance(hash_salt, str):
            hash_salt = hash_salt.encode("utf-8")
        self.salt = bytes(hash_salt)
        self.salt_id = hashlib.sha256(self.salt).hexdigest()[:8] if self.salt else None
        # One worker: events are written in the order they are submitted.
        self._executor: Optional[concurrent.futures.ThreadPoolExecutor] = None
        self._executor_lock = threading.Lock()

    def _pool(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._executor_lock:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="llm-audit-trail-asgi"
                )
            return self._executor

    def _submit(self, event_type: str, details: Dict[str, Any]) -> "concurrent.futures.Future":
        def write() -> None:
            self.log.emit(
                event_type,
                details,
                model_id=self.model_id,
                deployment_id=self.deployment_id,
                system=self.system,
            )

        return self._pool().submit(write)

    async def _emit(self, event_type: str, details: Dict[str, Any], wait: bool = True) -> None:
        """Writes on the worker thread. The write itself is never cancelled: if the
        request is (client gone, server shutting down), the event is still written."""
        future = self._submit(event_type, details)
        if not wait:
            future.add_done_callback(self._report_background_failure)
            return
        try:
            await asyncio.shield(asyncio.wrap_future(future))
        except asyncio.CancelledError:
            future.add_done_callback(self._report_background_failure)
            raise
        except Exception as exc:
            if self.fail_open:
                log.warning("audit log write failed (%s); request continues", exc, exc_info=True)
                return
            raise _AuditWriteFailed(str(exc)) from exc

    @staticmethod
    def _report_background_failure(future: "concurrent.futures.Future") -> None:
        exc = future.exception()
        if exc is not None:
            log.error("audit log write failed: %s", exc)

    async def __call__(self, scope, receive, send) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = None
        for name, value in scope.get("headers") or []:
            if name.lower() == b"x-request-id":
                candidate = value.decode("latin-1").strip()
                if _REQUEST_ID_RE.match(candidate):
                    request_id = candidate
                break
        request_id = request_id or uuid.uuid4().hex
        preview = None if self.redact else self.preview_chars
        req_hash = _BodyHash(self.salt, preview)
        resp_hash = _BodyHash(self.salt, preview)
        state: Dict[str, Any] = {
            "request_logged": False,
            "body_complete": False,
            "response_started": False,  # sent to the client
            "status": None,
            "streamed": not self.buffer_response,
            "error": None,
        }
        held: List[Dict[str, Any]] = []  # response messages held back while buffering
        held_bytes = 0

        async def log_request(wait: bool = True) -> None:
            if state["request_logged"]:
                return
            state["request_logged"] = True
            details: Dict[str, Any] = {
                "request_id": request_id,
                "method": scope.get("method"),
                "path": scope.get("path"),
                "started_at": started_at,
                "body_bytes": req_hash.size,
                "body_hash": req_hash.digest,
                "body_complete": state["body_complete"],
                "body_preview": req_hash.preview,
            }
            if self.salt_id:
                details["hash_salt_id"] = self.salt_id
            if self.log_client_ip:
                client = scope.get("client")
                details["client_ip"] = client[0] if client else None
            await self._emit("InferenceRequest", details, wait)

        async def log_response(wait: bool = True) -> None:
            details: Dict[str, Any] = {
                "request_id": request_id,
                "status_code": state["status"],
                "latency_ms": round((time.perf_counter() - started) * 1000, 3),
                "resp_bytes": resp_hash.size,
                "resp_hash": resp_hash.digest,
                "resp_preview": resp_hash.preview,
                "streamed": state["streamed"],
            }
            if self.salt_id:
                details["hash_salt_id"] = self.salt_id
            if state["error"]:
                details["error"] = state["error"]
            await self._emit("InferenceResponse", details, wait)

        started_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

        async def audited_receive():
            message = await receive()
            if message.get("type") == "http.request":
                req_hash.update(message.get("body", b""))
                if not message.get("more_body", False):
                    state["body_complete"] = True
                    await log_request()
            return message

        async def release(final: bool) -> None:
            nonlocal held_bytes
            for m in held:
                await send(m)
            held.clear()
            held_bytes = 0

        async def audited_send(message) -> None:
            nonlocal held_bytes
            kind = message.get("type")
            if kind == "http.response.start":
                await log_request()
                state["status"] = message.get("status")
                headers = list(message.get("headers") or [])
                if not any(k.lower() == b"x-request-id" for k, _ in headers):
                    headers.append((b"x-request-id", request_id.encode("latin-1")))
                message = dict(message, headers=headers)
                ctype = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if b"text/event-stream" in ctype.lower():
                    state["streamed"] = True
                if state["streamed"]:
                    state["response_started"] = True
                    await send(message)
                else:
                    held.append(message)
                return
            if kind == "http.response.body":
                body = message.get("body", b"")
                resp_hash.update(body)
                more = message.get("more_body", False)
                if state["streamed"]:
                    if not more:
                        # Before the last chunk: once the client has it, the server may
                        # report a disconnect and the app's task be cancelled.
                        await log_response()
                    await send(message)
                    return
                held.append(message)
                held_bytes += len(body)
                if not more:
                    await log_response()  # fail_open=False: raises before anything is sent
                    state["response_started"] = True
                    await release(True)
                elif held_bytes > self.max_buffer_bytes:
                    state["streamed"] = True  # too big to hold: pass the rest through
                    state["response_started"] = True
                    await release(False)
                return
            await send(message)

        try:
            await self.app(scope, audited_receive, audited_send)
        except _AuditWriteFailed as exc:
            await self._refuse(send, state, request_id, exc)
            return
        except BaseException as exc:
            state["error"] = type(exc).__name__
            if not state["response_started"]:
                state["status"] = 500
                held.clear()
            # A cancelled task cannot await: queue the events without waiting.
            wait = not isinstance(exc, asyncio.CancelledError)
            try:
                await log_request(wait)
                await log_response(wait)
            except _AuditWriteFailed:
                pass  # the endpoint's own error is the one to report
            raise
        if not state["request_logged"]:
            try:
                await log_request()
            except _AuditWriteFailed as exc:
                await self._refuse(send, state, request_id, exc)
                return
        if held:
            # The app returned without finishing its body: send what it gave.
            state["response_started"] = True
            await release(True)

    @staticmethod
    async def _refuse(send, state: Dict[str, Any], request_id: str, exc: Exception) -> None:
        log.error("audit log write failed and fail_open is off: %s", exc)
        if state["response_started"]:
            raise RuntimeError(f"audit log write failed: {exc}") from exc
        body = b'{"error":"unavailable","message":"the audit log could not record this request"}'
        await send({
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", request_id.encode("latin-1")),
            ],
        })
        await send({"type": "http.response.body", "body": body})
