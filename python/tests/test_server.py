"""Server mode against a REAL `tlog serve` subprocess: batching, flush, idempotent
retries, wait=True proofs checked with our own verifier, verify_log(url) with the
remembered checkpoint, spooling while the server is down and replay, the mirror and
proof bundles."""

import json
import os
import time
import urllib.parse
import warnings

import pytest

from llm_audit_trail import AuditLogError, AuditLogger, verify_bundle, verify_inclusion, verify_log
from llm_audit_trail.client import HttpError, TlogClient
from llm_audit_trail.note import open_checkpoint
from llm_audit_trail.verify import load_state, state_path_for


def all_events(server, **query):
    out, after = [], None
    while True:
        q = dict(query, limit=1000)
        if after is not None:
            q["after"] = after
        doc = server.get("/v1/events?" + urllib.parse.urlencode(q))
        out.extend(doc["events"])
        if doc["next_after"] is None:
            return out
        after = doc["next_after"]


def logger_for(server, tmp_path, **kw):
    kw.setdefault("spool_path", str(tmp_path / "spool.jsonl"))
    return AuditLogger(url=server.url, token=server.token, system="test", **kw)


def test_server_prints_its_verifier_key(server):
    assert server.vkey and server.vkey == server.get("/v1/checkpoint")["vkey"]
    assert oct((server.dir / "default.token").stat().st_mode & 0o777) == "0o600"


def test_batching_and_flush(server, tmp_path):
    # A long linger: batches fill to batch_size (1000) whatever the machine's speed.
    log = logger_for(server, tmp_path, linger=2.0)
    ids = [log.emit("Evaluation", {"i": i, "loss": 1.0 / (i + 1)}, model_id="m-batch")["event_id"] for i in range(2500)]
    assert log.flush(timeout=60) is True
    stats = log.client.stats
    assert stats["posted"] == 2500 and stats["spooled"] == 0
    assert 3 <= stats["requests"] <= 60, stats  # batches of up to 1000, not 2500 requests
    events = all_events(server, model_id="m-batch")
    assert sorted(e["event_id"] for e in events) == sorted(ids)
    assert len({e["index"] for e in events}) == 2500
    by_id = {e["event_id"]: e for e in events}
    assert by_id[ids[7]]["details"] == {"i": 7, "loss": 0.125}
    assert by_id[ids[7]]["system"] == "test" and by_id[ids[7]]["submitter"] == "default"
    log.close()


def test_idempotent_retries_return_the_original_index(server, tmp_path):
    log = logger_for(server, tmp_path)
    client: TlogClient = log.client
    events = [
        {"event_id": f"retry-{i}", "timestamp": "2026-01-02T09:15:04.123456Z",
         "event_type": "Evaluation", "details": {"i": i}}
        for i in range(5)
    ]
    first = client._post(events)["results"]
    again = client._post(events)["results"]  # e.g. the first answer was lost
    assert [r["index"] for r in first] == [r["index"] for r in again]
    assert not any(r["existing"] for r in first) and all(r["existing"] for r in again)
    assert server.get("/healthz")["tree_size"] == 5
    # The same id with other contents is a conflict, never a second event.
    with pytest.raises(HttpError) as err:
        client._post(dict(events[0], details={"i": "changed"}))
    assert err.value.status == 409
    # Through the background sender, replaying an already-sent batch appends nothing.
    client.spool.append(events)
    assert log.replay_spool() == 5
    assert server.get("/healthz")["tree_size"] == 5


def test_wait_returns_a_proof_that_our_verifier_accepts(server, tmp_path):
    log = logger_for(server, tmp_path, vkey=server.vkey)  # vkey: emit() checks it too
    rec = log.emit("Evaluation", {"accuracy": 0.88}, model_id="demo-imdb-v1", wait=True)
    for k in ("index", "leaf_hash", "tree_size", "inclusion_proof", "checkpoint"):
        assert k in rec, k
    ok, report = verify_inclusion(rec, server.vkey)
    assert ok, report
    assert report["leaf_index"] == rec["index"] and report["tree_size"] >= rec["index"] + 1
    cp = open_checkpoint(rec["checkpoint"], server.vkey)
    assert cp.tree_size == rec["tree_size"]
    # More events, then a proof fetched from the server by event id.
    for i in range(6):
        log.emit("Evaluation", {"i": i}, wait=True)
    ok, report = verify_inclusion(url=server.url, event_id=rec["event_id"], vkey=server.vkey)
    assert ok and report["leaf_index"] == rec["index"] and report["tree_size"] >= 7
    # Tampering is caught.
    bad = dict(rec, leaf_hash="00" * 32)
    assert verify_inclusion(bad, server.vkey)[1]["error"] == "inclusion_invalid"
    other = "other+" + server.vkey.split("+", 1)[1]
    assert verify_inclusion(rec, other)[1]["error"] == "checkpoint_invalid"


def test_verify_log_of_a_url_remembers_and_checks_consistency(server, tmp_path):
    log = logger_for(server, tmp_path)
    for i in range(3):
        log.emit("E", {"i": i}, wait=True)
    ok, first = verify_log(server.url)
    assert ok, first
    assert first["trust"] == "first_use" and first["vkey"] == server.vkey
    assert first["events"] >= 3 and first["consistency"] == []
    state = load_state(state_path_for(server.url))
    assert state["tree_size"] == first["events"]
    old_note = state["note"]
    for i in range(10):
        log.emit("E", {"i": i})
    log.flush()
    log.emit("E", {}, wait=True)
    ok, second = verify_log(server.url, checkpoint=old_note, full=True)
    assert ok, second
    assert second["trust"] == "remembered" and second["events"] >= 14
    assert {c["source"] for c in second["consistency"]} == {"remembered", "given"}
    assert all(c["verified"] and c["from"] == first["events"] for c in second["consistency"])
    # AuditLogger.verify() is the same check.
    assert log.verify()[0]
    # A tampered state file (another root under the old signature) is caught.
    path = state_path_for(server.url)
    state = load_state(path)
    json.dump(dict(state, note=_forge_root_note(state["note"])), open(path, "w"))
    ok, report = verify_log(server.url)
    assert not ok and report["error"] == "checkpoint_invalid" and "remembered" in report["detail"]
    json.dump(state, open(path, "w"))
    # A pinned key that is not the log's.
    ok, report = verify_log(server.url, vkey="other+" + server.vkey.split("+", 1)[1])
    assert not ok and report["error"] in ("checkpoint_invalid", "vkey_changed")
    # The log now answers with another key than the one remembered.
    json.dump(dict(state, vkey="PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"), open(path, "w"))
    ok, report = verify_log(server.url)
    assert not ok and report["error"] == "vkey_changed"


def _forge_root_note(note):
    import base64

    text, sigs = note.split("\n\n", 1)
    lines = text.split("\n")
    lines[2] = base64.b64encode(b"\x00" * 32).decode()
    return "\n".join(lines) + "\n\n" + sigs


def test_a_forked_history_is_caught(make_server, tmp_path):
    """Two servers with the same key and a common past, then different events: each
    one's signed checkpoints are valid, but they are not consistent with each other."""
    import shutil

    a = make_server(name="a")
    log_a = logger_for(a, tmp_path)
    for i in range(3):
        log_a.emit("E", {"i": i}, wait=True)
    a.stop()
    shutil.copytree(a.dir, tmp_path / "b")
    a.start()
    b = make_server(name="b", start=False)
    b.start()
    assert b.vkey == a.vkey
    log_b = AuditLogger(url=b.url, token=b.token, spool_path=str(tmp_path / "spool-b.jsonl"))
    for i in range(2):
        log_a.emit("E", {"a": i}, wait=True)
    note_a = a.get("/v1/checkpoint")["note"]
    size_a = a.get("/v1/checkpoint")["tree_size"]
    for i in range(size_a - 3 + 1):
        log_b.emit("E", {"b": i}, wait=True)
    ok, report = verify_log(b.url, vkey=a.vkey, checkpoint=note_a, remember=False)
    assert not ok and report["error"] == "inconsistent", report
    # Same size, different roots: a fork, whatever the proofs say.
    log_a.emit("E", {"a": "more"}, wait=True)
    note_a = a.get("/v1/checkpoint")["note"]
    assert a.get("/v1/checkpoint")["tree_size"] == b.get("/v1/checkpoint")["tree_size"]
    ok, report = verify_log(b.url, vkey=a.vkey, checkpoint=note_a, remember=False)
    assert not ok and report["error"] == "inconsistent" and "forked" in report["detail"]
    # And each log on its own is fine.
    assert verify_log(a.url, vkey=a.vkey, remember=False)[0]
    assert verify_log(b.url, vkey=a.vkey, remember=False)[0]


def test_server_down_spooling_and_replay(make_server, tmp_path):
    srv = make_server(start=False)
    log = AuditLogger(url=srv.url, token="will-be-replaced", spool_path=str(tmp_path / "spool.jsonl"),
                      retry_for=0.3, probe_interval=0.2, timeout=2)
    with pytest.warns(RuntimeWarning, match="spooled"):
        emitted = [log.emit("Evaluation", {"i": i}, model_id="m-spool")["event_id"] for i in range(30)]
        assert log.flush(timeout=30) is False  # nothing acknowledged: all in the spool
        rec = log.emit("Evaluation", {"i": "sync"}, model_id="m-spool", wait=True)
    assert rec.get("spooled") is True
    emitted.append(rec["event_id"])
    assert log.client.spool.count() == 31
    srv.start()
    log.client.token = srv.token  # the token exists once the server created it
    assert log.flush(timeout=30) is True
    events = all_events(srv, model_id="m-spool")
    assert sorted(e["event_id"] for e in events) == sorted(emitted), (log.client.stats, srv.get("/healthz"), srv.url, srv.stdout_lines)  # nothing lost, no duplicates
    assert log.client.spool.count() == 0
    # Restart mid-stream: events emitted while it is down arrive once it is back.
    srv.stop()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # warned once when going offline, maybe earlier
        more = [log.emit("Evaluation", {"j": j}, model_id="m-spool")["event_id"] for j in range(20)]
        log.flush(timeout=30)
    srv.start()
    log.replay_spool()
    for j in range(5):
        more.append(log.emit("Evaluation", {"k": j}, model_id="m-spool")["event_id"])
    assert log.flush(timeout=30) is True
    ids = [e["event_id"] for e in all_events(srv, model_id="m-spool")]
    assert len(ids) == len(set(ids)) == 56 and set(ids) == set(emitted + more)
    log.close()


def test_raise_mode(make_server, tmp_path):
    srv = make_server(start=False)
    log = AuditLogger(url=srv.url, token="t", on_unreachable="raise", spool_path=str(tmp_path / "s.jsonl"),
                      retry_for=0.2, probe_interval=0.2, timeout=1)
    with pytest.raises(AuditLogError):
        log.emit("E", {}, wait=True)
    with pytest.warns(RuntimeWarning):
        log.emit("E", {"async": True})
        with pytest.raises(AuditLogError, match="spooled"):
            log.flush(timeout=20)
    assert log.client.spool.count() == 1  # raised, and still not lost


def test_bad_token_never_loses_events(server, tmp_path):
    log = AuditLogger(url=server.url, token="wrong", spool_path=str(tmp_path / "s.jsonl"), retry_for=0.2)
    with pytest.warns(RuntimeWarning):
        log.emit("E", {"i": 1})
        assert log.flush(timeout=20) is False
    assert log.client.spool.count() == 1
    log.client.token = server.token
    assert log.replay_spool() == 1
    assert server.get("/healthz")["tree_size"] == 1


def test_invalid_events_are_refused_before_sending(server, tmp_path):
    log = logger_for(server, tmp_path)
    with pytest.raises(ValueError, match="event_type"):
        log.emit("has spaces", {})
    with pytest.raises(ValueError, match="model_id"):
        log.emit("E", {}, model_id="x" * 300)
    rec = log.emit("E", {"loss": float("nan"), "big": 2**70}, wait=True)
    got = server.get(f"/v1/events/{rec['index']}")
    assert got["details"] == {"loss": "NaN", "big": str(2**70)}


def test_token_and_url_from_the_environment(server, tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIT_LOG_URL", server.url)
    monkeypatch.setenv("TLOG_DIR", str(server.dir))  # token read from $TLOG_DIR/default.token
    monkeypatch.setenv("AUDIT_SPOOL_PATH", str(tmp_path / "s.jsonl"))
    log = AuditLogger(path="ignored.jsonl")
    assert log.remote and log.client.token == server.token
    log.emit("E", {}, wait=True)
    assert not os.path.exists("ignored.jsonl")
    assert log.head()["tree_size"] >= 1


def test_the_mirror_verifies_with_our_verifier_and_the_checkpoint(server, tmp_path):
    log = logger_for(server, tmp_path)
    for i in range(12):
        log.emit("Evaluation", {"i": i, "x": 0.1 * i, "s": "r\u00e9sum\u00e9"}, model_id="m", actor="alice")
    log.flush()
    last = log.emit("Evaluation", {"end": True}, wait=True)
    cp_doc = server.get("/v1/checkpoint")
    deadline = time.monotonic() + 10
    while True:  # the mirror follows the log
        lines = server.mirror_path.read_text().splitlines() if server.mirror_path.exists() else []
        if len(lines) >= cp_doc["tree_size"] or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    ok, report = verify_log(str(server.mirror_path), strict=True)
    assert ok, report
    ok, report = verify_log(str(server.mirror_path), checkpoint=cp_doc["note"], vkey=server.vkey)
    assert ok, report
    assert report["checkpoint"]["tree_size"] == cp_doc["tree_size"] and report["uncovered_events"] >= 0
    # Cut the tail: the signed checkpoint says it was longer.
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines[: cp_doc["tree_size"] - 1]) + "\n")
    ok, report = verify_log(str(cut), checkpoint=cp_doc, vkey=server.vkey)
    assert not ok and report["error"] == "truncated"
    # Re-chain with an edited actor: the chain is valid, the leaf is not.
    from llm_audit_trail.core import chain_digest, stable_json

    recs = [json.loads(l) for l in lines]
    recs[3]["actor"] = "mallory"
    prev = "GENESIS"
    for r in recs:
        r.pop("curr_hash")
        r["prev_hash"] = prev
        r["curr_hash"] = prev = chain_digest(prev, r, None)
    forged = tmp_path / "forged.jsonl"
    forged.write_text("".join(stable_json(r) + "\n" for r in recs))
    assert verify_log(str(forged))[0]  # the seed's check passes...
    ok, report = verify_log(str(forged), checkpoint=cp_doc["note"], vkey=server.vkey)
    assert not ok and report["error"] == "record_check_failed" and report["line"] == 4  # ...ours does not
    assert last["index"] < cp_doc["tree_size"]


def test_proof_bundles(server, tmp_path):
    log = logger_for(server, tmp_path)
    rec = log.emit("Approval", {"decision": "approved", "rationale": "fine"}, model_id="m", actor="bob", wait=True)
    bundle = server.get(f"/v1/bundle/{rec['event_id']}")
    ok, report = verify_bundle(json.dumps(bundle), server.vkey)
    assert ok, report
    assert report["body_verified"] and report["event"]["actor"] == "bob"
    assert report["event"]["details"] == {"decision": "approved", "rationale": "fine"}
    edited = json.loads(json.dumps(bundle))
    edited["event"]["details"]["rationale"] = "edited"
    assert verify_bundle(edited, server.vkey)[1]["error"] == "event_mismatch"
    import base64

    body = bytearray(base64.b64decode(bundle["body"]))
    body[-1] ^= 1
    tampered = dict(bundle, body=base64.b64encode(bytes(body)).decode())
    assert verify_bundle(tampered, server.vkey)[1]["error"] == "body_invalid"
    withheld = dict(bundle, body=None, salt=None, event=None)
    ok, report = verify_bundle(withheld, server.vkey)
    assert ok and not report["body_verified"]
    assert verify_bundle(dict(bundle, leaf_index=bundle["leaf_index"] + 1), server.vkey)[0] is False


def test_events_are_flushed_at_interpreter_exit(server, tmp_path):
    import subprocess
    import sys

    from conftest import subprocess_env

    code = (
        "from llm_audit_trail import AuditLogger\n"
        f"log = AuditLogger(url={server.url!r}, token={server.token!r}, spool_path={str(tmp_path / 's.jsonl')!r})\n"
        "for i in range(300):\n"
        "    log.emit('Evaluation', {'i': i}, model_id='m-exit')\n"
        # no flush(), no close(): the atexit hook must send them
    )
    r = subprocess.run([sys.executable, "-c", code], env=subprocess_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert len(all_events(server, model_id="m-exit")) == 300
    assert not (tmp_path / "s.jsonl").exists() or (tmp_path / "s.jsonl").stat().st_size == 0


def test_emit_after_close_still_sends(server, tmp_path):
    log = logger_for(server, tmp_path)
    log.emit("E", {"n": 1}, model_id="m-close")
    log.close()
    log.emit("E", {"n": 2}, model_id="m-close")
    assert log.flush(timeout=30)
    assert len(all_events(server, model_id="m-close")) == 2
