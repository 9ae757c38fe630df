"""Tamper-evident audit trails for the ML model lifecycle, backed by a transparency log.

The core (logger, hash chain, verifiers, HTTP client) needs only the standard library.
Framework integrations are imported lazily on first use (module ``__getattr__``), so
``import llm_audit_trail`` never imports transformers, torch, fastapi or starlette.
"""

from __future__ import annotations

__version__ = "0.2.0"

from .core import (
    DEFAULT_LOG_PATH,
    GENESIS,
    SCHEMA_VERSION,
    AuditLogError,
    AuditLogger,
    iter_events,
    read_anchor,
    read_head,
    verify_log,
    write_anchor,
)
from .datasets import dataset_attestation, dataset_content_hash, register_dataset
from .decisions import record_approval, record_attestation, record_waiver
from .registry import EventTypes
from .verify import verify_bundle, verify_inclusion

__all__ = [
    "__version__",
    "AuditLogger",
    "AuditLogError",
    "verify_log",
    "verify_inclusion",
    "verify_bundle",
    "iter_events",
    "read_head",
    "write_anchor",
    "read_anchor",
    "register_dataset",
    "dataset_content_hash",
    "dataset_attestation",
    "record_approval",
    "record_waiver",
    "record_attestation",
    "EventTypes",
    "DEFAULT_LOG_PATH",
    "SCHEMA_VERSION",
    "GENESIS",
    "AuditTrailCallback",
    "hf_audit_callback",
    "AuditMiddleware",
]

# name -> (module, optional extra that provides its dependency)
_LAZY = {
    "AuditTrailCallback": (".hf", "hf"),
    "hf_audit_callback": (".hf", "hf"),
    "AuditMiddleware": (".fastapi", "fastapi"),
}


def __getattr__(name: str):
    """Imports an integration on first access (PEP 562)."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module_name, extra = _LAZY[name]
    import importlib

    try:
        module = importlib.import_module(module_name, __name__)
    except ImportError as exc:
        raise ImportError(
            f"{name} requires the '{extra}' extra: pip install 'llm-audit-trail[{extra}]'"
        ) from exc
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
