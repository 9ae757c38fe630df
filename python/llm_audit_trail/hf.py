"""Hugging Face ``Trainer`` integration (``pip install 'llm-audit-trail[hf]'``).

:class:`AuditTrailCallback` records a training run:

* ``FineTuneStart``: the hyper-parameters of ``TrainingArguments``, the seed, the
  model class and parameter count, versions of Python, torch and transformers, and the
  git commit (and whether the work tree was dirty) of the current folder, if any;
* ``EpochEnd``: epoch, global step, and the latest training ``loss``,
  ``learning_rate`` and ``grad_norm`` (the callback asks the Trainer to log at each
  epoch end, so they are the epoch's own values, not nulls);
* ``Evaluation``: every metric of the evaluation;
* ``Checkpoint``: the real ``checkpoint-N`` folder, the SHA-256 of each weight file in
  it and a ``merkle-sha256`` content hash of the whole folder (``spec/dataset.md``);
* ``FineTuneEnd``: status ``completed``, or ``failed`` with the exception when
  ``trainer.train()`` raises (the callback wraps the ``train`` method of the Trainer it
  is attached to), or ``interrupted`` if the process exits mid-run.

Only the main process (``state.is_world_process_zero``) writes. numpy and torch scalars
are converted to plain numbers.
"""

from __future__ import annotations

import atexit
import enum
import hashlib
import inspect
import os
import platform
import subprocess
import sys
from typing import Any, Dict, List, Optional

from transformers import TrainerCallback

from .core import AuditLogger

__all__ = ["AuditTrailCallback", "hf_audit_callback"]

#: TrainingArguments recorded in FineTuneStart (those that exist in the installed version).
HYPERPARAMETERS = (
    "learning_rate",
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "per_device_eval_batch_size",
    "gradient_accumulation_steps",
    "weight_decay",
    "adam_beta1",
    "adam_beta2",
    "adam_epsilon",
    "max_grad_norm",
    "lr_scheduler_type",
    "warmup_ratio",
    "warmup_steps",
    "optim",
    "seed",
    "data_seed",
    "fp16",
    "bf16",
    "gradient_checkpointing",
    "label_smoothing_factor",
    "logging_steps",
    "save_steps",
    "eval_steps",
    "eval_strategy",
    "evaluation_strategy",
    "save_strategy",
    "output_dir",
)
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".h5", ".msgpack")
_NOT_WEIGHTS = ("training_args.bin", "optimizer.pt", "scheduler.pt", "rng_state.pth", "scaler.pt")


def _plain(value: Any) -> Any:
    """numpy/torch scalars and enums to plain JSON values."""
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return item()
        except Exception:
            pass
    return str(value)


def _git_info(cwd: Optional[str] = None) -> Optional[Dict[str, Any]]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5
        )
        if commit.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}


def _sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _versions() -> Dict[str, Optional[str]]:
    out: Dict[str, Optional[str]] = {"python": platform.python_version()}
    for name in ("torch", "transformers", "accelerate", "datasets", "peft"):
        module = sys.modules.get(name)  # never import anything here
        out[name] = getattr(module, "__version__", None) if module else None
    return out


class AuditTrailCallback(TrainerCallback):
    """Records the training lifecycle to an audit log (see the module doc).

    Args:
        logger: Where events go (a local ledger or a ``tlog serve``).
        model_id: Stamped on every event.
        dataset_id: Stamped on every event.
        system: The events' ``system`` (default ``"hf_trainer"``).
        hash_checkpoints: Hash the weight files of each checkpoint (default True).
    """

    def __init__(
        self,
        logger: Optional[AuditLogger] = None,
        model_id: Optional[str] = None,
        dataset_id: Optional[str] = None,
        *,
        system: str = "hf_trainer",
        hash_checkpoints: bool = True,
    ) -> None:
        self.log = logger if logger is not None else AuditLogger()
        self.model_id = model_id
        self.dataset_id = dataset_id
        self.system = system
        self.hash_checkpoints = hash_checkpoints
        self._running = False
        self._pending_epoch: Optional[Dict[str, Any]] = None
        self._last_train_log: Dict[str, Any] = {}
        self._trainer = None
        self._state = None
        atexit.register(self._at_exit)

    # ---- plumbing ------------------------------------------------------------

    def _emit(self, event_type: str, details: Dict[str, Any]) -> Dict[str, Any]:
        return self.log.emit(
            event_type,
            details=_plain(details),
            model_id=self.model_id,
            dataset_id=self.dataset_id,
            system=self.system,
        )

    @staticmethod
    def _main(state) -> bool:
        return bool(getattr(state, "is_world_process_zero", True))

    def attach(self, trainer) -> "AuditTrailCallback":
        """Wraps ``trainer.train`` so that a failing run still gets its ``FineTuneEnd``.

        Called automatically when the callback is given to ``Trainer(callbacks=[...])``;
        call it yourself after ``trainer.add_callback(callback)``.
        """
        if self._trainer is trainer:
            return self
        self._trainer = trainer
        original = trainer.train
        callback = self

        def train(*args: Any, **kwargs: Any):
            try:
                return original(*args, **kwargs)
            except BaseException as exc:
                callback._failed(exc, getattr(trainer, "state", None), getattr(trainer, "args", None))
                raise

        train.__wrapped__ = original  # type: ignore[attr-defined]
        train.__doc__ = getattr(original, "__doc__", None)
        trainer.train = train
        return self

    def _find_trainer(self) -> None:
        # on_init_end is called from the end of Trainer.__init__: find that Trainer.
        try:
            from transformers import Trainer
        except ImportError:  # pragma: no cover
            return
        frame = inspect.currentframe()
        try:
            for _ in range(12):
                if frame is None:
                    return
                candidate = frame.f_locals.get("self")
                if isinstance(candidate, Trainer):
                    self.attach(candidate)
                    return
                frame = frame.f_back
        finally:
            del frame

    # ---- TrainerCallback events ---------------------------------------------

    def on_init_end(self, args, state, control, **kwargs):
        self._find_trainer()
        return control

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self._running = True
        self._state = state
        self._pending_epoch = None
        self._last_train_log = {}
        if not self._main(state):
            return control
        hyper = {name: getattr(args, name) for name in HYPERPARAMETERS if hasattr(args, name)}
        details: Dict[str, Any] = {
            "hyperparameters": hyper,
            "seed": getattr(args, "seed", None),
            "world_size": getattr(args, "world_size", None),
            "max_steps": getattr(state, "max_steps", None),
            "num_train_epochs": getattr(state, "num_train_epochs", None),
            "versions": _versions(),
            "git": _git_info(),
        }
        if model is not None:
            details["model_class"] = type(model).__name__
            try:
                details["num_parameters"] = int(sum(p.numel() for p in model.parameters()))
            except Exception:
                pass
            name = getattr(getattr(model, "config", None), "_name_or_path", None)
            if name:
                details["base_model"] = name
        # The seed's flat keys, for readers of 0.1.0 ledgers.
        for k in ("learning_rate", "num_train_epochs", "per_device_train_batch_size",
                  "gradient_accumulation_steps", "output_dir", "fp16", "bf16"):
            if k in hyper:
                details.setdefault(k, hyper[k])
        self._emit("FineTuneStart", details)
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "loss" in logs:
            self._last_train_log = dict(logs, step=getattr(state, "global_step", None))
            if self._pending_epoch is not None:
                self._flush_epoch(state)
        return control

    def on_epoch_end(self, args, state, control, **kwargs):
        self._flush_epoch(state)  # a previous epoch still waiting (should not happen)
        epoch = getattr(state, "epoch", None)
        self._pending_epoch = {
            "epoch": float(epoch) if epoch is not None else None,
            "global_step": getattr(state, "global_step", None),
        }
        latest = self._latest_train_log(state)
        if latest is not None and latest.get("step") == getattr(state, "global_step", None):
            self._flush_epoch(state)
        else:
            # Ask the Trainer to log now: its on_log brings this epoch's loss.
            control.should_log = True
        return control

    def _latest_train_log(self, state) -> Optional[Dict[str, Any]]:
        if self._last_train_log:
            return self._last_train_log
        for entry in reversed(getattr(state, "log_history", None) or []):
            if isinstance(entry, dict) and "loss" in entry:
                return entry
        return None

    def _flush_epoch(self, state) -> None:
        pending, self._pending_epoch = self._pending_epoch, None
        if pending is None or not self._main(state):
            return
        latest = self._latest_train_log(state) or {}
        pending.update(
            loss=latest.get("loss"),
            learning_rate=latest.get("learning_rate"),
            grad_norm=latest.get("grad_norm"),
            loss_step=latest.get("step"),
        )
        self._emit("EpochEnd", pending)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        self._flush_epoch(state)
        if not self._main(state):
            return control
        epoch = getattr(state, "epoch", None)
        details: Dict[str, Any] = {
            "epoch": float(epoch) if epoch is not None else None,
            "global_step": getattr(state, "global_step", None),
        }
        details.update(metrics or {})
        self._emit("Evaluation", details)
        return control

    def on_save(self, args, state, control, **kwargs):
        self._flush_epoch(state)
        if not self._main(state):
            return control
        try:
            from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
        except ImportError:  # pragma: no cover
            PREFIX_CHECKPOINT_DIR = "checkpoint"
        step = getattr(state, "global_step", None)
        folder = os.path.join(args.output_dir, f"{PREFIX_CHECKPOINT_DIR}-{step}")
        details: Dict[str, Any] = {
            "global_step": step,
            "epoch": float(state.epoch) if getattr(state, "epoch", None) is not None else None,
            "output_dir": args.output_dir,
            "checkpoint_dir": folder,
            "exists": os.path.isdir(folder),
        }
        if self.hash_checkpoints and os.path.isdir(folder):
            weights: Dict[str, str] = {}
            files: List[str] = sorted(os.listdir(folder))
            for name in files:
                path = os.path.join(folder, name)
                if (os.path.isfile(path) and name.endswith(_WEIGHT_SUFFIXES)
                        and name not in _NOT_WEIGHTS):
                    weights[name] = "sha256:" + _sha256_file(path)
            details["weights"] = weights
            try:
                from .datasets import dataset_content_hash

                summary = dataset_content_hash(folder, count_rows=False)
                details["content_hash"] = summary["content_hash"]
                details["files"] = summary["files"]
                details["bytes"] = summary["bytes"]
            except (OSError, ValueError) as exc:
                details["content_hash_error"] = str(exc)
        self._emit("Checkpoint", details)
        return control

    def on_train_end(self, args, state, control, **kwargs):
        self._flush_epoch(state)
        if not self._running:
            return control
        self._running = False
        if not self._main(state):
            return control
        details = self._end_details(state, "completed")
        for entry in reversed(getattr(state, "log_history", None) or []):
            if isinstance(entry, dict) and "train_runtime" in entry:
                details["train_metrics"] = dict(entry)
                break
        self._emit("FineTuneEnd", details)
        return control

    # ---- failure paths ---------------------------------------------------------

    def _end_details(self, state, status: str) -> Dict[str, Any]:
        epoch = getattr(state, "epoch", None)
        return {
            "status": status,
            "global_step": getattr(state, "global_step", None),
            "epoch": float(epoch) if epoch is not None else None,
            "best_metric": getattr(state, "best_metric", None),
            "best_model_checkpoint": getattr(state, "best_model_checkpoint", None),
        }

    def _failed(self, exc: BaseException, state, args) -> None:
        if not self._running:
            return  # failed before on_train_begin, or after on_train_end
        self._running = False
        if state is None or not self._main(state):
            return
        details = self._end_details(state, "failed")
        details["error"] = {"type": type(exc).__name__, "message": str(exc)[:2000]}
        try:
            self._emit("FineTuneEnd", details)
        except Exception:
            pass  # never mask the training error with a logging error

    def _at_exit(self) -> None:
        if self._running and self._state is not None and self._main(self._state):
            self._running = False
            try:
                self._emit("FineTuneEnd", self._end_details(self._state, "interrupted"))
                self.log.flush(timeout=10)
            except Exception:
                pass


def hf_audit_callback(
    model_id: Optional[str] = None,
    dataset_id: Optional[str] = None,
    logger: Optional[AuditLogger] = None,
) -> AuditTrailCallback:
    """A callback ready for ``Trainer(callbacks=[...])``.

    Without ``logger`` it writes where ``AuditLogger()`` does: ``$AUDIT_LOG_URL`` if set,
    else ``$AUDIT_LOG_PATH`` or ``audit_trail.jsonl``.
    """
    return AuditTrailCallback(logger=logger, model_id=model_id, dataset_id=dataset_id)
