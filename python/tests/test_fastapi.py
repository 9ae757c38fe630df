"""AuditMiddleware on a real FastAPI app: through httpx's TestClient, and through
uvicorn on a real socket for streaming."""

import asyncio
import hashlib
import json
import threading
import time

import pytest

fastapi = pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
from fastapi import FastAPI, Request, WebSocket  # noqa: E402
from fastapi.responses import StreamingResponse  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from conftest import free_port  # noqa: E402
from llm_audit_trail import AuditLogger, AuditMiddleware, iter_events, verify_log  # noqa: E402

SALT = b"test-salt"
SECRET_PROMPT = "my secret prompt about patient 1234"


def salted(body: bytes) -> str:
    return "salted-sha256:" + hashlib.sha256(SALT + body).hexdigest()


class RecordingLogger(AuditLogger):
    """A real local logger that also notes which thread wrote each event."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.threads = []

    def emit(self, *a, **kw):
        self.threads.append(threading.current_thread().name)
        return super().emit(*a, **kw)


class FailingLogger(AuditLogger):
    def emit(self, *a, **kw):
        raise OSError("disk full")


def make_app(logger, **options):
    app = FastAPI()
    app.add_middleware(AuditMiddleware, logger=logger, model_id="demo-imdb-v1", hash_salt=SALT, **options)

    @app.post("/predict")
    async def predict(request: Request):
        payload = await request.json()
        return {"label": "positive", "echo_len": len(payload.get("text", ""))}

    @app.get("/boom")
    async def boom():
        raise RuntimeError("model crashed")

    @app.get("/stream")
    async def stream():
        async def gen():
            for i in range(5):
                yield f"token-{i} ".encode()
                await asyncio.sleep(0.01)

        return StreamingResponse(gen(), media_type="text/plain")

    @app.get("/slow-stream")
    async def slow_stream():
        async def gen():
            yield b"first "
            await asyncio.sleep(1.0)
            yield b"second"

        return StreamingResponse(gen(), media_type="text/event-stream")

    return app


def events(path="audit_trail.jsonl"):
    return list(iter_events(path))


def test_request_and_response_events(tmp_path):
    log = RecordingLogger(path="audit_trail.jsonl", system="fastapi", url="")
    client = TestClient(make_app(log))
    body = json.dumps({"text": SECRET_PROMPT}).encode()
    r = client.post("/predict", content=body, headers={"content-type": "application/json", "x-request-id": "req-42"})
    assert r.status_code == 200 and r.json()["label"] == "positive"
    assert r.headers["x-request-id"] == "req-42"
    req, resp = events()
    assert req["event_type"] == "InferenceRequest" and resp["event_type"] == "InferenceResponse"
    assert req["model_id"] == resp["model_id"] == "demo-imdb-v1" and req["system"] == "fastapi"
    d = req["details"]
    assert d["request_id"] == "req-42" and d["method"] == "POST" and d["path"] == "/predict"
    assert d["body_bytes"] == len(body) and d["body_hash"] == salted(body)
    assert d["body_preview"] is None and "client_ip" not in d
    e = resp["details"]
    assert e["request_id"] == "req-42" and e["status_code"] == 200 and e["latency_ms"] >= 0
    assert e["resp_bytes"] == len(r.content) and e["resp_hash"] == salted(r.content)
    assert e["streamed"] is False
    # No raw body anywhere in the ledger, and the ledger verifies.
    assert SECRET_PROMPT not in open("audit_trail.jsonl").read()
    assert verify_log("audit_trail.jsonl")[0]
    # Writes ran on a worker thread, not the event loop's.
    assert log.threads and all(t.startswith("llm-audit-trail-asgi") for t in log.threads)


def test_request_id_is_generated_when_absent_or_insane(tmp_path):
    log = AuditLogger(path="audit_trail.jsonl", url="")
    client = TestClient(make_app(log))
    r1 = client.post("/predict", json={"text": "a"})
    r2 = client.post("/predict", json={"text": "a"}, headers={"x-request-id": "bad id with spaces"})
    ids = {r1.headers["x-request-id"], r2.headers["x-request-id"]}
    assert len(ids) == 2 and "bad id with spaces" not in ids
    evs = events()
    assert [e["details"]["request_id"] for e in evs] == [r1.headers["x-request-id"]] * 2 + [r2.headers["x-request-id"]] * 2


def test_previews_and_client_ip_only_when_asked(tmp_path):
    log = AuditLogger(path="audit_trail.jsonl", url="")
    client = TestClient(make_app(log, redact_previews=False, log_client_ip=True, preview_chars=10))
    body = json.dumps({"text": SECRET_PROMPT}).encode()
    client.post("/predict", content=body, headers={"content-type": "application/json"})
    req, resp = events()
    assert req["details"]["body_preview"] == body[:10].decode()
    assert resp["details"]["resp_preview"].startswith('{"label"')
    assert req["details"]["client_ip"] == "testclient"


def test_an_endpoint_that_raises_is_recorded_as_500_and_reraised(tmp_path):
    log = AuditLogger(path="audit_trail.jsonl", url="")
    app = make_app(log)
    with pytest.raises(RuntimeError, match="model crashed"):
        TestClient(app).get("/boom")
    r = TestClient(app, raise_server_exceptions=False).get("/boom")
    assert r.status_code == 500
    evs = events()
    assert [e["event_type"] for e in evs] == ["InferenceRequest", "InferenceResponse"] * 2
    for resp in evs[1::2]:
        assert resp["details"]["status_code"] == 500
        assert resp["details"]["error"] == "RuntimeError"


def test_streaming_response_is_hashed_incrementally(tmp_path):
    log = AuditLogger(path="audit_trail.jsonl", url="")
    for options in ({}, {"buffer_response": False}):
        client = TestClient(make_app(log, **options))
        r = client.get("/stream")
        assert r.text == "".join(f"token-{i} " for i in range(5))
        resp = events()[-1]
        assert resp["details"]["resp_hash"] == salted(r.content)
        assert resp["details"]["resp_bytes"] == len(r.content)
    assert events()[-1]["details"]["streamed"] is True


def test_logging_failures_do_not_fail_requests_unless_asked(tmp_path):
    r = TestClient(make_app(FailingLogger(path="x.jsonl", url=""))).post("/predict", json={"text": "a"})
    assert r.status_code == 200 and r.json()["label"] == "positive"
    strict = TestClient(make_app(FailingLogger(path="x.jsonl", url=""), fail_open=False))
    r = strict.post("/predict", json={"text": "a"})
    assert r.status_code == 503 and "label" not in r.text
    r = strict.get("/stream")
    assert r.status_code == 503


def test_websocket_and_lifespan_pass_through(tmp_path):
    log = AuditLogger(path="audit_trail.jsonl", url="")
    app = make_app(log)

    @app.websocket("/ws")
    async def ws(websocket: WebSocket):
        await websocket.accept()
        await websocket.send_text("hi")
        await websocket.close()

    with TestClient(app) as client:  # runs lifespan
        with client.websocket_connect("/ws") as s:
            assert s.receive_text() == "hi"
    import os

    assert not os.path.exists("audit_trail.jsonl") or events() == []


def test_streaming_through_uvicorn_is_not_buffered(tmp_path):
    uvicorn = pytest.importorskip("uvicorn")
    log = AuditLogger(path=str(tmp_path / "audit_trail.jsonl"), url="")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(make_app(log), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started
        with httpx.Client(timeout=10) as client:
            start = time.monotonic()
            with client.stream("GET", f"http://127.0.0.1:{port}/slow-stream") as r:
                chunks = r.iter_raw()
                first = next(chunks)
                first_at = time.monotonic() - start
                rest = b"".join(chunks)
                total_at = time.monotonic() - start
            assert first == b"first " and rest == b"second"
            assert first_at < 0.8 <= total_at  # the first chunk came before the stream ended
            assert r.headers["x-request-id"]
        for _ in range(100):
            evs = events(str(tmp_path / "audit_trail.jsonl"))
            if len(evs) == 2:
                break
            time.sleep(0.05)
        resp = evs[-1]["details"]
        assert resp["streamed"] is True and resp["resp_hash"] == salted(b"first second")
        assert resp["latency_ms"] >= 900
    finally:
        server.should_exit = True
        thread.join(10)
