"""The HTTP client with no server at all: validation, spooling, verify of a dead URL."""

import json

import pytest

from conftest import free_port
from llm_audit_trail import AuditLogger, verify_log
from llm_audit_trail.client import resolve_token, sanitize_details


def test_nothing_is_lost_when_no_server_ever_answers(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    spool = tmp_path / "spool.jsonl"
    log = AuditLogger(url=url, token="t", spool_path=str(spool), retry_for=0.2, probe_interval=0.2, timeout=1)
    with pytest.warns(RuntimeWarning):
        ids = [log.emit("E", {"i": i}, model_id="m")["event_id"] for i in range(25)]
        assert log.flush(timeout=30) is False
        log.close(timeout=10)
    lines = [json.loads(l) for l in spool.read_text().splitlines()]
    assert [l["event_id"] for l in lines] == ids  # in order, once each
    assert lines[3]["details"] == {"i": 3} and lines[3]["model_id"] == "m"
    assert all(l["timestamp"].endswith("Z") and len(l["timestamp"]) == 27 for l in lines)
    assert oct(spool.stat().st_mode & 0o777) == "0o600"


def test_verify_log_of_an_unreachable_url(tmp_path):
    ok, report = verify_log(f"http://127.0.0.1:{free_port()}", timeout=1)
    assert not ok and report["error"] == "unreadable"


def test_token_resolution_order(tmp_path, monkeypatch):
    assert resolve_token() is None
    (tmp_path / "tlog-data").mkdir()
    (tmp_path / "tlog-data" / "default.token").write_text("from-cwd\n")
    assert resolve_token() == "from-cwd"
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "default.token").write_text("from-dir\n")
    monkeypatch.setenv("TLOG_DIR", str(tmp_path / "d"))
    assert resolve_token() == "from-dir"
    monkeypatch.setenv("TLOG_TOKEN", "tlog-env")
    assert resolve_token() == "tlog-env"
    monkeypatch.setenv("AUDIT_LOG_TOKEN", "audit-env")
    assert resolve_token() == "audit-env"
    assert resolve_token("explicit") == "explicit"


def test_details_are_made_acceptable_to_the_server():
    np = pytest.importorskip("numpy")
    out = sanitize_details({"a": np.float64("nan"), "b": float("-inf"), "c": np.int64(5), "d": (1, 2), "e": 2**64})
    assert out == {"a": "NaN", "b": "-Infinity", "c": 5, "d": [1, 2], "e": str(2**64)}
    deep = {}
    cur = deep
    for _ in range(70):
        cur["x"] = {}
        cur = cur["x"]
    with pytest.raises(ValueError, match="nest"):
        sanitize_details(deep)
