#!/usr/bin/env python3
"""End-to-end walkthrough: register a dataset, record a (simulated) fine-tuning run and a
human approval, then prove and verify it — no network access except the log server, no
model or dataset downloads.

By default it writes to a ``tlog serve`` at ``$AUDIT_LOG_URL`` or http://127.0.0.1:8080
(start one with ``tlog serve``; its writer token is found in ``./tlog-data/default.token``
or ``$AUDIT_LOG_TOKEN``), and ends by printing a verified inclusion proof of the approval.
With ``--local PATH`` it writes the seed's hash-chained JSONL file instead.

    tlog serve &                      # prints "verifier key: ..."
    python examples/register_and_train.py --vkey "<that key>"
    python examples/register_and_train.py --local audit_trail.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

from llm_audit_trail import (
    AuditLogger,
    EventTypes,
    record_approval,
    register_dataset,
    verify_inclusion,
    verify_log,
)

MODEL_ID = "demo-imdb-v1"
DATASET_ID = "hf:stanfordnlp/imdb"

# A few rows standing in for the snapshot you actually train on: register_dataset hashes
# the files on disk (spec/dataset.md), so the content hash names exactly these bytes.
SAMPLE = {
    "train.csv": "text,label\nA moving, beautifully shot film.,1\nTwo hours I will not get back.,0\n",
    "test.csv": "text,label\nThe cast carries a thin plot.,1\n",
}


def write_sample(folder: str) -> str:
    os.makedirs(folder, exist_ok=True)
    for name, text in SAMPLE.items():
        with open(os.path.join(folder, name), "w", encoding="utf-8") as fh:
            fh.write(text)
    return folder


def run(log: AuditLogger, data_dir: str) -> dict:
    # 1. The dataset card, with a content hash of the files.
    ds = register_dataset(
        log,
        dataset_id=DATASET_ID,
        version="plain_text/1.0.0",
        source="huggingface://datasets/stanfordnlp/imdb",
        license="other (research use)",
        datasheet_url="https://huggingface.co/datasets/stanfordnlp/imdb",
        preprocessing={"splits": ["train", "test"], "lowercase": False},
        owner="data-eng",
        path=data_dir,
    )
    print(f"registered {DATASET_ID}: {ds['details']['content_hash']} ({ds['details']['rows']} rows)")

    # 2. The training run (what the Hugging Face callback records, simulated here).
    def train_event(event_type, details):
        log.emit(event_type, details, model_id=MODEL_ID, dataset_id=DATASET_ID, system="hf_trainer")

    train_event(EventTypes.FINE_TUNE_START, {"hyperparameters": {"learning_rate": 2e-5, "num_train_epochs": 2,
                                                                 "per_device_train_batch_size": 16}, "seed": 42})
    for epoch, loss in ((1.0, 0.41), (2.0, 0.27)):
        train_event(EventTypes.EPOCH_END, {"epoch": epoch, "global_step": int(epoch * 1563), "loss": loss,
                                           "learning_rate": 2e-5 * (2 - epoch) / 2})
    train_event(EventTypes.EVALUATION, {"epoch": 2.0, "eval_accuracy": 0.88, "eval_loss": 0.31})
    train_event(EventTypes.CHECKPOINT, {"global_step": 3126, "checkpoint_dir": "out/checkpoint-3126"})
    train_event(EventTypes.FINE_TUNE_END, {"status": "completed", "global_step": 3126})

    # 3. A person signs off; with a server, wait for the signed checkpoint and proof.
    return record_approval(
        log,
        owner="Model Risk Committee",
        rationale="accuracy 0.88 clears the 0.85 threshold; bias review attached",
        scope={"model_id": MODEL_ID, "dataset_id": DATASET_ID},
        constraints={"rollout": "10% for 48h"},
        references=["https://example.com/reviews/demo-imdb-v1"],
        wait=log.remote,
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("AUDIT_LOG_URL") or "http://127.0.0.1:8080",
                        help="tlog serve to write to (default: $AUDIT_LOG_URL or http://127.0.0.1:8080)")
    parser.add_argument("--vkey", default=os.environ.get("AUDIT_LOG_VKEY"),
                        help="the log's verifier key (default: trust the server's on first use)")
    parser.add_argument("--local", metavar="PATH", help="write a local JSONL ledger instead of a server")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = write_sample(os.path.join(tmp, "imdb-sample"))
        if args.local:
            log = AuditLogger(path=args.local, system="example", url="")
            run(log, data_dir)
            ok, report = verify_log(args.local)
            print(f"verify_log({args.local!r}): ok={ok} {json.dumps(report)}")
            return 0 if ok else 1

        log = AuditLogger(url=args.url, system="example", on_unreachable="raise", vkey=args.vkey)
        approval = run(log, data_dir)
        log.flush()

    # 4. Verify: the approval's inclusion proof against the signed checkpoint...
    vkey = args.vkey or log.client.get("/v1/checkpoint")["vkey"]
    if not args.vkey:
        print(f"note: trusting the server's verifier key on first use: {vkey}")
    ok, report = verify_inclusion(approval, vkey)
    if not ok:
        print(f"inclusion proof FAILED: {report}", file=sys.stderr)
        return 1
    # ... and the whole log's checkpoint, consistent with the one seen last time.
    ok_log, log_report = verify_log(args.url, vkey=vkey)
    print(f"verify_log({args.url!r}): ok={ok_log}, {log_report.get('events')} events")
    print(f"Approval {approval['event_id']} is leaf {approval['index']} of a tree of {report['tree_size']}")
    print("inclusion proof verified:")
    print(json.dumps({
        "leaf_index": approval["index"],
        "leaf_hash": approval["leaf_hash"],
        "tree_size": report["tree_size"],
        "root_hash": report["checkpoint"]["root_hash"],
        "inclusion_proof": approval["inclusion_proof"],
        "checkpoint": approval["checkpoint"],
    }, indent=2))
    return 0 if ok_log else 1


if __name__ == "__main__":
    sys.exit(main())
