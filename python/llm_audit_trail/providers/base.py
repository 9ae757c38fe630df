"""Sources of known model/dataset/deployment identifiers.

The CLI offers recently seen identifiers instead of asking a human to retype them,
which is where typos silently fragment a ledger.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections import deque
from typing import Any, Dict, Iterable, List

__all__ = ["ScopeProvider", "JSONLLocalProvider", "TlogServerProvider", "load_scope_providers"]

_KEY_FOR = {"model_id": "models", "dataset_id": "datasets", "deployment_id": "deployments"}


def _empty() -> Dict[str, List[str]]:
    return {"models": [], "datasets": [], "deployments": []}


def _collect(records: Iterable[Any]) -> Dict[str, List[str]]:
    """Identifiers of ``records``, most recent first, without repeats."""
    found: Dict[str, List[str]] = _empty()
    for record in reversed(list(records)):
        if not isinstance(record, dict):
            continue
        for field, bucket in _KEY_FOR.items():
            value = record.get(field)
            if value and isinstance(value, str) and value not in found[bucket]:
                found[bucket].append(value)
    return found


class ScopeProvider:
    """Anything that can list known identifiers, most recent first."""

    def recent(self) -> Dict[str, List[str]]:
        return _empty()


class JSONLLocalProvider(ScopeProvider):
    """Reads identifiers from the last ``limit`` lines of a local JSONL ledger."""

    def __init__(self, path: str, limit: int = 100) -> None:
        self.path = path
        self.limit = limit

    def recent(self) -> Dict[str, List[str]]:
        if not os.path.exists(self.path):
            return _empty()
        with open(self.path, "r", encoding="utf-8", errors="replace") as fh:
            tail = deque(fh, maxlen=self.limit)  # memory stays flat whatever the size

        def records():
            for line in tail:
                line = line.strip()
                if not line:
                    continue
                try:
                    yield json.loads(line)
                except ValueError:
                    continue

        return _collect(records())


class TlogServerProvider(ScopeProvider):
    """Reads identifiers from the newest ``limit`` events of a ``tlog serve``."""

    def __init__(self, url: str, limit: int = 100, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.limit = max(1, min(int(limit), 1000))
        self.timeout = timeout

    def recent(self) -> Dict[str, List[str]]:
        from ..client import _Http
        from ..core import AuditLogError

        http = _Http(self.url, self.timeout)
        try:
            cp = http.json("GET", "/v1/checkpoint")
            size = int(cp.get("log_size", cp.get("tree_size", 0)))
            query = {"limit": self.limit}
            if size > self.limit:
                query["after"] = size - self.limit - 1
            doc = http.json("GET", "/v1/events?" + urllib.parse.urlencode(query))
        except (AuditLogError, ValueError, AttributeError):
            return _empty()
        return _collect(doc.get("events", []))


def load_scope_providers(config: Dict[str, Any]) -> List[ScopeProvider]:
    """The provider list for a resolved config."""
    limit = int(config.get("scan_limit", 100))
    if config.get("url"):
        return [TlogServerProvider(config["url"], limit=limit)]
    return [JSONLLocalProvider(config.get("log_path") or "audit_trail.jsonl", limit=limit)]
