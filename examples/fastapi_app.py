#!/usr/bin/env python3
"""A FastAPI model server whose every request and response is recorded.

Each call writes an ``InferenceRequest`` and an ``InferenceResponse`` event (salted body
hashes, never the bodies) to ``$AUDIT_LOG_URL`` (a ``tlog serve``) if set, else to the
local ledger ``$AUDIT_LOG_PATH`` or ``audit_trail.jsonl``.

    pip install 'llm-audit-trail[fastapi]' uvicorn
    AUDIT_LOG_URL=http://127.0.0.1:8080 uvicorn examples.fastapi_app:app --port 8000
    # or: python examples/fastapi_app.py
    curl -s localhost:8000/predict -H 'content-type: application/json' -d '{"text": "great film"}'
    curl -sN localhost:8000/generate?prompt=hello     # streamed, passed through unbuffered
"""

from __future__ import annotations

import asyncio

from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from llm_audit_trail import AuditLogger, AuditMiddleware

MODEL_ID = "demo-imdb-v1"

app = FastAPI(title="demo-imdb-v1")
app.add_middleware(
    AuditMiddleware,
    logger=AuditLogger(system="fastapi"),
    model_id=MODEL_ID,
    redact_previews=True,  # default: hashes only, never prompt or completion text
    log_client_ip=False,   # default: an IP is personal data, and this log is append-only
)

_POSITIVE = {"great", "good", "moving", "beautiful", "excellent", "love"}


class Review(BaseModel):
    text: str


@app.post("/predict")
def predict(review: Review) -> dict:
    """A stand-in sentiment model (no weights to download)."""
    words = {w.strip(".,!?").lower() for w in review.text.split()}
    score = len(words & _POSITIVE) / max(1, len(words))
    return {"model_id": MODEL_ID, "label": "positive" if score > 0 else "negative", "score": round(score, 3)}


@app.get("/generate")
async def generate(prompt: str = "") -> StreamingResponse:
    """Token streaming: passed through chunk by chunk, hashed as it goes."""

    async def tokens():
        for word in ("Thanks", "for", "asking", "about", repr(prompt)):
            yield word + " "
            await asyncio.sleep(0.05)

    return StreamingResponse(tokens(), media_type="text/plain")


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=8000)
