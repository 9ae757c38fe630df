"""Layered configuration for the CLI.

Precedence, lowest to highest: built-in defaults, ``/etc/llm-audit``, the user's home
directory, the current project, an explicit ``--config`` path, then environment
variables (``AUDIT_LOG_PATH``, ``AUDIT_OWNER``, ``AUDIT_LOG_URL``).

Config files are YAML. PyYAML is optional: without it, flat ``key: value`` files are
still read (strings, integers, ``null``); anything else is skipped with a warning.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Dict, List, Optional

__all__ = ["DEFAULTS", "SEARCH_PATHS", "load_config", "load_yaml"]

DEFAULTS: Dict[str, Any] = {
    "log_path": "audit_trail.jsonl",
    "scan_limit": 100,
    "owner": None,
    "decisions_path": None,
    "url": None,
}

SEARCH_PATHS: List[str] = [
    "/etc/llm-audit/config.yaml",
    os.path.expanduser("~/.llm-audit/config.yaml"),
    ".llm-audit/config.yaml",
]

_ENV_OVERRIDES = {
    "log_path": "AUDIT_LOG_PATH",
    "owner": "AUDIT_OWNER",
    "url": "AUDIT_LOG_URL",
}


def _flat_yaml(text: str, path: str) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0].rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0].isspace() or ":" not in line:
            warnings.warn(f"{path}:{n}: needs PyYAML to read (pip install pyyaml); file skipped")
            return {}
        key, _, value = line.partition(":")
        value = value.strip()
        if value in ("", "null", "~"):
            out[key.strip()] = None
        elif value.isdigit():
            out[key.strip()] = int(value)
        else:
            out[key.strip()] = value.strip("\"'")
    return out


def load_yaml(path: str) -> Any:
    """Reads a YAML file with PyYAML if installed, else the flat subset."""
    with open(path, "r", encoding="utf-8") as fh:
        text = fh.read()
    try:
        import yaml
    except ImportError:
        return _flat_yaml(text, path)
    return yaml.safe_load(text)


def load_config(extra_path: Optional[str] = None) -> Dict[str, Any]:
    """Merges config files and environment variables into one mapping."""
    config = dict(DEFAULTS)
    for path in SEARCH_PATHS + ([extra_path] if extra_path else []):
        if not path or not os.path.exists(path):
            continue
        loaded = load_yaml(path) or {}
        if isinstance(loaded, dict):
            config.update(loaded)
    for key, env_var in _ENV_OVERRIDES.items():
        value = os.environ.get(env_var)
        if value:
            config[key] = value
    return config
