#!/usr/bin/env python3
"""Generate the golden files under testdata/seed/ with the REAL seed library.

The seed is llm-audit-trail 0.1.0 from PyPI, whose JSONL hash chain our mirror must match
byte for byte (DESIGN.md §6, spec/mirror.md). Run it from a throwaway venv outside the repo:

    python3 -m venv /tmp/seedvenv
    /tmp/seedvenv/bin/pip install llm-audit-trail==0.1.0
    /tmp/seedvenv/bin/python tools/gen_seed_vectors.py testdata/seed

It writes (all consumed by tests/seed_chain.rs and the unit tests of src/core/json.rs):

- float_repr.tsv   `<16 hex digits of the f64 bits>\t<repr(float)>`: tricky doubles and
                   seeded random ones, for `python_float_repr`.
- json_cases.jsonl `{"input": text, "ok": bool, "dumps": stable_json or null}`: what
                   `json.loads` accepts and what `_stable_json` prints for it.
- chains/*.jsonl   ledgers written by `AuditLogger` (uuid4 and the clock are patched to be
                   deterministic), plus tampered copies; `*.anchor` from `write_anchor`.
- cases.json       for every ledger: the key and anchor the seed's `verify_log` was given,
                   and its exact `(ok, report)`.

Python is CPython 3.11 (int digit limit 4300). Re-running rewrites every file; the output
is deterministic except for the absolute `path` inside anchors (fixed to GEN_DIR below).
"""

import json
import math
import os
import random
import shutil
import struct
import sys
import uuid

import llm_audit_trail.core as core

GEN_DIR = "/tmp/llm-audit-trail-seed-gen"


def stable(v):
    return core._stable_json(v)


# ---------------------------------------------------------------- floats
def float_cases():
    tricky = [
        0.0, -0.0, 1.0, -1.0, 0.1, 0.2, 0.1 + 0.2, 1 / 3, 2 / 3, 100.0, 1e-05, 1e-4, 0.0001,
        0.00011, 9.999e-5, 1e15, 1e16, 1e17, 9999999999999998.0, 1e16 - 2, 123456789012345678.0,
        1.5e300, -1.5e300, 5e-324, -5e-324, 2.2250738585072014e-308, 2.225073858507201e-308,
        1.7976931348623157e308, -1.7976931348623157e308, 4.35, 0.3, 2.675, 1e22, 1e23, 9.5,
        0.5, 0.25, 1e-7, 1.2345e-5, 12345678901234567890.0, 0.88, 3.141592653589793,
        2.718281828459045, 1e100, 1e-100, 123.456, 1e-310, 8.98846567431158e307,
        float(2**53), float(2**53 + 1), float(2**63), float(2**64), 1e21, 1e-6, 0.001,
        4.9406564584124654e-324, 9007199254740993.0, 0.30000000000000004,
    ]
    rng = random.Random(6962)
    out = list(tricky)
    for _ in range(1500):  # uniformly random bit patterns (finite only)
        while True:
            f = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
            if math.isfinite(f):
                out.append(f)
                break
    for _ in range(1500):  # short decimals around the fixed/scientific boundaries
        mant = rng.randint(1, 10 ** rng.randint(1, 17))
        exp = rng.randint(-25, 25)
        out.append(float(f"{mant}e{exp}") * rng.choice([1, -1]))
    for e in range(-8, 20):  # every power of ten near the repr switch points
        out.append(float(f"1e{e}"))
        out.append(float(f"9.99e{e}"))
    return out


# ---------------------------------------------------------------- json.loads / dumps
def json_cases():
    good_values = [
        None, True, False, 0, -1, 2**53, 2**63, 2**64, 2**70, -(2**70), 2**127 - 1, 2**127,
        -(2**127), -(2**127) - 1, 10**4299, 0.0, -0.0, 1e-05, 1e16, 0.1, 100.0,
        float("nan"), float("inf"), float("-inf"), "", "ascii", "caf\u00e9", "\u65e5\u672c",
        "emoji \U0001F600 \U0001F4A9", "ctl \x00\x01\x1f\x7f\x80 \b\f\n\r\t", 'q"b\\s/',
        "\u2028\u2029\ufeff\uffff", "\U0010FFFF",
        [], {}, [1, [2, [3, {}]]], {"b": 1, "a": 2, "A": 3, "\u00e9": 4, "\U0001F600": 5, "": 6},
        {"z": {"y": [1.5, "x", None], "a": {"k": -0.0}}},
        {"accuracy": 0.88, "lr": 1e-05, "n": 2**70, "name": "r\u00e9sum\u00e9"},
    ]
    cases = []
    for v in good_values:
        for text in (
            json.dumps(v, ensure_ascii=False),
            json.dumps(v, indent=2),
            json.dumps(v, sort_keys=True, separators=(",", ":")),
        ):
            cases.append(text)
    cases += [
        # Python-only inputs and edge cases.
        '{"a":1,"b":2,"a":3}', '{"a":{"x":1},"a":[2]}', "NaN", "-Infinity", "[Infinity]",
        "1e400", "-1e400", "1E5", "1e-400", "-0", "-0.0", "0.5e1", " \t\n\r1 ",
        '"\\u00e9\\u00E9"', '"\\ud83d\\ude00"', '"\\/"', "123456789012345678901234567890",
        "1" * 4300, "1.0" + "0" * 500, "[" * 100 + "]" * 100,
        # Rejected by json.loads.
        "", " ", "01", "1.", ".5", "-", "+1", "1e", "1e+", "0x10", "[1,]", '{"a":1,}',
        "{'a':1}", '{"a" 1}', "[1 2]", "nul", "tru", "True", "None", "nan", "inf", "-NaN",
        "+Infinity", '"\\x41"', '"\\u12"', '"\\uZZZZ"', '"a\tb"', '"a\nb"', '"\x00"', '"abc',
        "[", "{", "1 2", "\ufeff1", "1" * 4301, "-" + "1" * 4301, '{"a":1}x', "[1]]",
    ]
    out = []
    for text in cases:
        try:
            v = json.loads(text)
            out.append({"input": text, "ok": True, "dumps": stable(v)})
        except ValueError:
            out.append({"input": text, "ok": False, "dumps": None})
    return out


# ---------------------------------------------------------------- chains
class Deterministic:
    def __init__(self):
        self.n = 0

    def uuid4(self):
        self.n += 1
        return uuid.UUID(int=(0x4000 << 64) | (0x8000 << 48) | self.n)

    def now(self):
        return f"2026-01-02T09:15:{self.n % 60:02d}.{self.n:06d}Z"


DETAILS = [
    {"accuracy": 0.88, "lr": 1e-05},
    {"big": 1e16, "tenth": 0.1, "hundred": 100.0, "negzero": -0.0, "tiny": 5e-324},
    {"params": 2**70, "neg": -(2**70), "max": 1.7976931348623157e308},
    {"name": "r\u00e9sum\u00e9 \u65e5\u672c\u8a9e", "note": "na\u00efve \u2014 \u20ac5"},
    {"emoji": "\U0001F600\U0001F4A9", "flag": "\U0001F1EB\U0001F1F7"},
    {"ctl": "tab\there\nnew\rret\x00nul\x1fus\x7fdel\b\f", "quote": '"\\/'},
    {"nested": {"z": [1, 2.5, {"deep": [None, True, False]}], "a": {"b": {"c": "d"}}}},
    {},
]


def emit_chain(path, key, ids, n_extra=0):
    log = core.AuditLogger(path=path, system="demo", actor="alice", key=key)
    for i, d in enumerate(DETAILS):
        log.emit(
            ["DatasetRegistered", "TrainingRun", "Evaluation", "Deployment"][i % 4],
            d,
            model_id="demo-imdb-v1" if i % 2 else None,
            dataset_id="imdb" if i % 3 == 0 else None,
            deployment_id="prod-eu" if i == 3 else None,
        )


def read_lines(path):
    with open(path, "r", encoding="utf-8", newline="") as fh:
        return fh.read().split("\n")[:-1]


def write_lines(path, lines, end="\n"):
    with open(path, "w", encoding="utf-8", newline="") as fh:
        for ln in lines:
            fh.write(ln + end)


def rehash_from(lines, start, key, alg, mutate=None):
    """Rewrite lines[start:] with a valid chain (an attacker who can write the file)."""
    out = list(lines)
    prev = json.loads(out[start - 1])["curr_hash"] if start > 0 else core.GENESIS
    for i in range(start, len(out)):
        rec = json.loads(out[i])
        rec.pop("curr_hash")
        rec["hash_alg"] = alg
        rec["prev_hash"] = prev
        if mutate and i == start:
            mutate(rec)
        rec["curr_hash"] = core._digest(prev, rec, key)
        out[i] = stable(rec)
        prev = rec["curr_hash"]
    return out


def chains(out_dir):
    shutil.rmtree(GEN_DIR, ignore_errors=True)
    os.makedirs(GEN_DIR)
    det = Deterministic()
    uuid.uuid4 = det.uuid4
    core._now = det.now
    g = lambda name: os.path.join(GEN_DIR, name)  # noqa: E731

    emit_chain(g("sha256.jsonl"), None, det)
    core.write_anchor(g("sha256.jsonl"), g("sha256.jsonl.anchor"))
    emit_chain(g("hmac.jsonl"), "k-secret", det)
    core.write_anchor(g("hmac.jsonl"), g("hmac.jsonl.anchor"))
    base = read_lines(g("sha256.jsonl"))
    hbase = read_lines(g("hmac.jsonl"))

    # Extra fields (allowed and hashed): built with the seed's own _digest/_stable_json.
    prev, lines = core.GENESIS, []
    for i, extra in enumerate([{"run_id": "r1"}, {"tags": ["a", "b"], "x_score": 0.5}]):
        rec = {
            "schema_version": "0.2.0", "seq": i, "event_id": str(det.uuid4()),
            "timestamp": det.now(), "event_type": "Evaluation", "actor": None,
            "system": "demo", "model_id": "m", "dataset_id": None, "deployment_id": None,
            "details": {}, "hash_alg": "sha256", "prev_hash": prev, **extra,
        }
        rec["curr_hash"] = core._digest(prev, rec, None)
        prev = rec["curr_hash"]
        lines.append(stable(rec))
    write_lines(g("extra_fields.jsonl"), lines)

    def variant(name, lines, end="\n"):
        write_lines(g(name), lines, end)

    # Tampered copies of the SHA-256 chain.
    edited = list(base)
    edited[2] = edited[2].replace('"params":1180591620717411303424', '"params":1180591620717411303425')
    assert edited[2] != base[2]
    variant("edited_detail.jsonl", edited)
    variant("deleted_line.jsonl", base[:3] + base[4:])
    variant("swapped_lines.jsonl", base[:2] + [base[3], base[2]] + base[4:])
    variant("truncated_tail.jsonl", base[:-2])
    reformatted = list(base)
    reformatted[4] = json.dumps(json.loads(base[4]), indent=None)  # spaces, unsorted, ensure_ascii
    variant("reformatted_line.jsonl", reformatted)
    dup = list(base)
    dup[1] = dup[1].replace('{"actor":"alice"', '{"actor":"mallory","actor":"alice"', 1)
    assert dup[1] != base[1]
    variant("duplicate_key.jsonl", dup)
    variant("blank_lines_crlf.jsonl", [base[0], "", "   ", base[1]] + base[2:], end="\r\n")
    variant("malformed_json.jsonl", base[:3] + ['{"seq": 3, oops'] + base[4:])
    variant("non_object.jsonl", base[:1] + ["[1,2,3]"] + base[1:])
    nocurr = json.loads(base[2])
    del nocurr["curr_hash"]
    variant("missing_curr_hash.jsonl", base[:2] + [stable(nocurr)] + base[3:])
    variant("unknown_hash_alg.jsonl", rehash_from(base, 3, None, "md5"))
    variant("seq_gap.jsonl", rehash_from(base, 3, None, "sha256", lambda r: r.update(seq=7)))
    rewritten = rehash_from(base, 5, None, "sha256", lambda r: r["details"].update(x=1))
    variant("anchor_mismatch.jsonl", rewritten)
    nan_chain = rehash_from(base, 6, None, "sha256", lambda r: r["details"].update(v=float("nan")))
    variant("nan_detail.jsonl", nan_chain)
    # HMAC chain downgraded to plain SHA-256 from line 4 on: the seed accepts it.
    variant("hmac_downgraded.jsonl", rehash_from(hbase, 3, None, "sha256"))
    variant("hmac_truncated.jsonl", hbase[:-1])

    K = "k-secret"
    cases = [
        ("sha256.jsonl", None, None, "sha256"),
        ("sha256.jsonl", None, "sha256.jsonl.anchor", "sha256"),
        ("hmac.jsonl", K, None, "hmac-sha256"),
        ("hmac.jsonl", K, "hmac.jsonl.anchor", "hmac-sha256"),
        ("hmac.jsonl", None, None, "hmac-sha256"),  # key_required
        ("hmac.jsonl", "wrong-key", None, "hmac-sha256"),  # hash_mismatch
        ("extra_fields.jsonl", None, None, "sha256"),
        ("edited_detail.jsonl", None, None, "sha256"),
        ("deleted_line.jsonl", None, None, "sha256"),
        ("swapped_lines.jsonl", None, None, "sha256"),
        ("truncated_tail.jsonl", None, None, "sha256"),
        ("truncated_tail.jsonl", None, "sha256.jsonl.anchor", "sha256"),
        ("reformatted_line.jsonl", None, None, "sha256"),
        ("duplicate_key.jsonl", None, None, "sha256"),
        ("blank_lines_crlf.jsonl", None, None, "sha256"),
        ("malformed_json.jsonl", None, None, "sha256"),
        ("non_object.jsonl", None, None, "sha256"),
        ("missing_curr_hash.jsonl", None, None, "sha256"),
        ("unknown_hash_alg.jsonl", None, None, "sha256"),
        ("seq_gap.jsonl", None, None, "sha256"),
        ("anchor_mismatch.jsonl", None, "sha256.jsonl.anchor", "sha256"),
        ("nan_detail.jsonl", None, None, "sha256"),
        ("hmac_downgraded.jsonl", K, None, "hmac-sha256"),
        ("hmac_truncated.jsonl", K, "hmac.jsonl.anchor", "hmac-sha256"),
    ]
    manifest = []
    for file, key, anchor, alg in cases:
        expected_head = core.read_anchor(g(anchor)) if anchor else None
        ok, report = core.verify_log(g(file), key=key, expected_head=expected_head)
        manifest.append({
            "file": file, "key": key, "anchor": anchor, "writer_hash_alg": alg,
            "seed_ok": ok, "seed_report": report,
        })
    chains_dir = os.path.join(out_dir, "chains")
    shutil.rmtree(chains_dir, ignore_errors=True)
    shutil.copytree(GEN_DIR, chains_dir)
    return manifest


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "testdata/seed"
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "float_repr.tsv"), "w") as fh:
        for f in float_cases():
            fh.write(f"{struct.unpack('<Q', struct.pack('<d', f))[0]:016x}\t{f!r}\n")
    with open(os.path.join(out_dir, "json_cases.jsonl"), "w") as fh:
        for c in json_cases():
            fh.write(json.dumps(c) + "\n")
    manifest = chains(out_dir)
    with open(os.path.join(out_dir, "cases.json"), "w") as fh:
        json.dump(manifest, fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    main()
