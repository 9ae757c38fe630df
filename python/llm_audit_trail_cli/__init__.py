"""Command-line interface for llm-audit-trail.

The entry point lives in :mod:`llm_audit_trail_cli.main`. It is deliberately
not re-exported here: binding the name ``main`` on the package would shadow
the submodule of the same name.
"""

__all__: list = []
