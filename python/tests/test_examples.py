"""The examples run as documented."""

import importlib.util
import subprocess
import sys

import pytest

from conftest import REPO, subprocess_env
from llm_audit_trail import iter_events, verify_log

EXAMPLES = REPO / "examples"


def test_register_and_train_against_a_server(server):
    env = subprocess_env(AUDIT_LOG_URL=server.url, AUDIT_LOG_TOKEN=server.token)
    r = subprocess.run([sys.executable, str(EXAMPLES / "register_and_train.py"), "--vkey", server.vkey],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "inclusion proof verified:" in r.stdout and "merkle-sha256:" in r.stdout
    assert server.get("/healthz")["tree_size"] == 8


def test_register_and_train_locally(tmp_path):
    r = subprocess.run([sys.executable, str(EXAMPLES / "register_and_train.py"), "--local", "ledger.jsonl"],
                       env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    types = [e["event_type"] for e in iter_events("ledger.jsonl")]
    assert types[0] == "DatasetRegistered" and types[-1] == "Approval" and len(types) == 8
    assert verify_log("ledger.jsonl")[0]


def test_fastapi_example(tmp_path, monkeypatch):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    monkeypatch.setenv("AUDIT_LOG_PATH", str(tmp_path / "serve.jsonl"))
    spec = importlib.util.spec_from_file_location("fastapi_app_example", EXAMPLES / "fastapi_app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    client = TestClient(module.app)
    assert client.post("/predict", json={"text": "A great film"}).json()["label"] == "positive"
    assert client.get("/generate", params={"prompt": "hi"}).text.startswith("Thanks for asking")
    evs = list(iter_events(str(tmp_path / "serve.jsonl")))
    assert [e["event_type"] for e in evs] == ["InferenceRequest", "InferenceResponse"] * 2
    assert "great film" not in (tmp_path / "serve.jsonl").read_text()
