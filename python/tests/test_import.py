"""Importing the package stays fast: integrations load lazily, on first use."""

import subprocess
import sys

import pytest

from conftest import subprocess_env


def _run(code):
    out = subprocess.run([sys.executable, "-c", code], env=subprocess_env(), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_import_does_not_pull_in_frameworks():
    out = _run(
        "import sys, llm_audit_trail\n"
        "heavy = [m for m in ('transformers', 'torch', 'fastapi', 'starlette', 'numpy', 'yaml') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    assert out == "[]"


def test_integrations_load_on_first_access():
    pytest.importorskip("starlette")
    out = _run(
        "import sys, llm_audit_trail\n"
        "from llm_audit_trail import AuditMiddleware\n"
        "print(AuditMiddleware.__module__, 'transformers' in sys.modules)\n"
    )
    assert out == "llm_audit_trail.fastapi False"


def test_missing_extra_names_it():
    out = _run(
        "import sys\n"
        "sys.modules['transformers'] = None  # as if not installed\n"
        "import llm_audit_trail\n"
        "try:\n"
        "    llm_audit_trail.hf_audit_callback\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    assert "pip install 'llm-audit-trail[hf]'" in out


def test_public_api():
    import llm_audit_trail as lat

    for name in ("AuditLogger", "verify_log", "verify_inclusion", "verify_bundle", "iter_events",
                 "read_head", "write_anchor", "read_anchor", "register_dataset", "dataset_attestation",
                 "record_approval", "record_waiver", "record_attestation", "EventTypes"):
        assert hasattr(lat, name), name
    with pytest.raises(AttributeError):
        lat.no_such_name
