"""The Hugging Face callback with a REAL transformers.Trainer training a tiny, randomly
initialised GPT-2 on CPU (no downloads), logging to a real tlog serve; every event's
inclusion proof is then fetched and verified with our verifier."""

import hashlib
import os
import time
import urllib.parse

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainerState, TrainingArguments  # noqa: E402

from llm_audit_trail import AuditLogger, AuditTrailCallback, hf_audit_callback, iter_events, verify_inclusion, verify_log  # noqa: E402


class Synthetic(torch.utils.data.Dataset):
    """Random token sequences; optionally fails after `fail_after` items were read."""

    def __init__(self, n=4, length=16, fail_after=None):
        g = torch.Generator().manual_seed(0)
        self.data = torch.randint(0, 128, (n, length), generator=g)
        self.fail_after = fail_after
        self.reads = 0

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        self.reads += 1
        if self.fail_after is not None and self.reads > self.fail_after:
            raise RuntimeError("corrupt shard")
        ids = self.data[i]
        return {"input_ids": ids, "labels": ids.clone()}


def tiny_model():
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=128, n_positions=32))


def training_args(out, eval_strategy="steps", **kw):
    base = dict(
        output_dir=str(out), max_steps=2, per_device_train_batch_size=2, per_device_eval_batch_size=2,
        logging_steps=1, save_strategy="steps", save_steps=2, eval_steps=2, use_cpu=True,
        report_to=[], seed=0, learning_rate=1e-3, disable_tqdm=True, dataloader_num_workers=0,
    )
    base.update(kw)
    try:
        return TrainingArguments(eval_strategy=eval_strategy, **base)
    except TypeError:  # transformers < 4.41
        return TrainingArguments(evaluation_strategy=eval_strategy, **base)


def sha256_file(path):
    return "sha256:" + hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_a_real_training_run_is_recorded_and_proven(server, tmp_path):
    log = AuditLogger(url=server.url, token=server.token, spool_path=str(tmp_path / "spool.jsonl"))
    trainer = Trainer(
        model=tiny_model(),
        args=training_args(tmp_path / "out"),
        train_dataset=Synthetic(),
        eval_dataset=Synthetic(n=2),
        callbacks=[hf_audit_callback(model_id="tiny-gpt2", dataset_id="synthetic", logger=log)],
    )
    trainer.train()
    assert log.flush(timeout=60)

    evs = server.get("/v1/events?" + urllib.parse.urlencode({"model_id": "tiny-gpt2", "limit": 1000}))["events"]
    types = [e["event_type"] for e in evs]
    assert types[0] == "FineTuneStart" and types[-1] == "FineTuneEnd", types
    assert {"EpochEnd", "Evaluation", "Checkpoint"} <= set(types), types
    by_type = {e["event_type"]: e["details"] for e in evs}
    assert all(e["system"] == "hf_trainer" and e["dataset_id"] == "synthetic" for e in evs)

    start = by_type["FineTuneStart"]
    assert start["hyperparameters"]["learning_rate"] == 1e-3 and start["seed"] == 0
    assert start["hyperparameters"]["per_device_train_batch_size"] == 2
    assert start["versions"]["torch"] == torch.__version__
    assert start["versions"]["transformers"] == transformers.__version__
    assert start["model_class"] == "GPT2LMHeadModel" and start["num_parameters"] > 0
    assert "git" in start

    epoch = by_type["EpochEnd"]
    assert epoch["epoch"] == 1.0 and epoch["global_step"] == 2
    assert isinstance(epoch["loss"], float) and isinstance(epoch["learning_rate"], float)

    evaluation = by_type["Evaluation"]
    assert isinstance(evaluation["eval_loss"], float) and evaluation["global_step"] == 2

    ckpt = by_type["Checkpoint"]
    folder = ckpt["checkpoint_dir"]
    assert os.path.basename(folder) == "checkpoint-2" and os.path.isdir(folder) and ckpt["exists"]
    assert ckpt["weights"], ckpt
    for name, digest in ckpt["weights"].items():
        assert digest == sha256_file(os.path.join(folder, name))
    assert ckpt["content_hash"].startswith("merkle-sha256:")

    end = by_type["FineTuneEnd"]
    assert end["status"] == "completed" and end["global_step"] == 2
    assert "train_loss" in end.get("train_metrics", {})

    # Every event's inclusion proof, fetched from the server, checks with our verifier.
    deadline = time.monotonic() + 10
    while server.get("/healthz")["checkpoint_size"] < max(e["index"] for e in evs) + 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    for e in evs:
        ok, report = verify_inclusion(url=server.url, event_id=e["event_id"], vkey=server.vkey)
        assert ok, (e["event_type"], report)
        assert report["leaf_index"] == e["index"] and report["leaf_hash"] == e["leaf_hash"]
    assert verify_log(server.url, vkey=server.vkey)[0]


def test_a_failing_run_still_gets_its_end_event(tmp_path):
    log = AuditLogger(path=str(tmp_path / "audit_trail.jsonl"), url="")
    trainer = Trainer(
        model=tiny_model(),
        args=training_args(tmp_path / "out", eval_strategy="no", max_steps=3, save_strategy="no"),
        train_dataset=Synthetic(fail_after=2),
        callbacks=[AuditTrailCallback(log, model_id="tiny-gpt2")],
    )
    with pytest.raises(RuntimeError, match="corrupt shard"):
        trainer.train()
    evs = list(iter_events(str(tmp_path / "audit_trail.jsonl")))
    assert evs[0]["event_type"] == "FineTuneStart"
    end = evs[-1]
    assert end["event_type"] == "FineTuneEnd" and end["details"]["status"] == "failed"
    assert end["details"]["error"] == {"type": "RuntimeError", "message": "corrupt shard"}
    assert verify_log(str(tmp_path / "audit_trail.jsonl"))[0]


def test_only_the_main_process_writes(tmp_path):
    log = AuditLogger(path=str(tmp_path / "audit_trail.jsonl"), url="")
    cb = AuditTrailCallback(log, model_id="m")
    args = training_args(tmp_path / "out")
    state = TrainerState()
    state.is_world_process_zero = False
    control = transformers.TrainerControl()
    cb.on_train_begin(args, state, control)
    cb.on_evaluate(args, state, control, metrics={"eval_loss": 1.0})
    cb.on_save(args, state, control)
    cb.on_train_end(args, state, control)
    assert not os.path.exists(tmp_path / "audit_trail.jsonl")
    state.is_world_process_zero = True
    import numpy as np

    cb.on_evaluate(args, state, control, metrics={"eval_loss": np.float32(0.5), "eval_n": np.int64(3)})
    (ev,) = iter_events(str(tmp_path / "audit_trail.jsonl"))
    assert ev["details"]["eval_loss"] == 0.5 and ev["details"]["eval_n"] == 3


def test_epoch_end_has_the_epochs_loss_even_with_sparse_logging(tmp_path):
    # logging_steps=50 never logs by itself in this run: the callback asks for a log
    # at each epoch end, so EpochEnd still carries that epoch's loss and learning rate.
    log = AuditLogger(path=str(tmp_path / "audit_trail.jsonl"), url="")
    trainer = Trainer(
        model=tiny_model(),
        args=training_args(tmp_path / "out", eval_strategy="no", max_steps=-1, num_train_epochs=2,
                           logging_steps=50, save_strategy="no"),
        train_dataset=Synthetic(n=6),
        callbacks=[AuditTrailCallback(log, model_id="m")],
    )
    trainer.train()
    epochs = [e["details"] for e in iter_events(str(tmp_path / "audit_trail.jsonl")) if e["event_type"] == "EpochEnd"]
    assert [(d["epoch"], d["global_step"], d["loss_step"]) for d in epochs] == [(1.0, 3, 3), (2.0, 6, 6)]
    assert all(isinstance(d["loss"], float) and isinstance(d["learning_rate"], float) for d in epochs)
    assert epochs[0]["loss"] != epochs[1]["loss"]
