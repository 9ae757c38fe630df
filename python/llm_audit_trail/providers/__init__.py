"""Sources of recently used model, dataset and deployment ids (for the CLI's prompts)."""

from .base import JSONLLocalProvider, ScopeProvider, TlogServerProvider, load_scope_providers

__all__ = ["ScopeProvider", "JSONLLocalProvider", "TlogServerProvider", "load_scope_providers"]
