"""Shared fixtures: a clean environment per test, and a REAL ``tlog serve`` subprocess.

The server binary comes from ``$TLOG_BIN`` (default
``~/.cache/llm-audit-trail/target/debug/tlog``); tests that need it are skipped, with
the reason printed, when it is missing.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import List, Optional

import pytest

REPO = Path(__file__).resolve().parents[2]
PYTHON_DIR = REPO / "python"
SEED_TESTDATA = REPO / "testdata" / "seed"
DEFAULT_TLOG = Path.home() / ".cache" / "llm-audit-trail" / "target" / "debug" / "tlog"

# Test the package in this checkout even when it is not pip-installed.
if str(PYTHON_DIR) not in sys.path:
    sys.path.insert(0, str(PYTHON_DIR))

_ENV_VARS = (
    "AUDIT_LOG_PATH",
    "AUDIT_LOG_URL",
    "AUDIT_LOG_TOKEN",
    "AUDIT_HMAC_KEY",
    "AUDIT_OWNER",
    "AUDIT_SPOOL_PATH",
    "AUDIT_CHECKPOINT_DIR",
    "AUDIT_LOG_VKEY",
    "AUDIT_HASH_SALT",
    "TLOG_TOKEN",
    "TLOG_DIR",
    "TLOG_LISTEN",
    "TLOG_CONFIG",
    "TLOG_ORIGIN",
)


def tlog_binary() -> Optional[str]:
    """The tlog binary to test against, or None."""
    path = os.environ.get("TLOG_BIN") or str(DEFAULT_TLOG)
    return path if os.path.isfile(path) and os.access(path, os.X_OK) else None


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No audit/tlog variables from the caller; caches and cwd inside tmp_path."""
    for var in _ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    yield


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def subprocess_env(**extra: str) -> dict:
    """The environment for a child Python: this checkout first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(PYTHON_DIR) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def server_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in _ENV_VARS}
    env.setdefault("TLOG_LOG", "warn")
    return env


class TlogServer:
    """A ``tlog serve --dir <dir> --listen 127.0.0.1:<port>`` child process."""

    def __init__(self, binary: str, data_dir: Path, port: int, extra_args: Optional[List[str]] = None):
        self.binary = binary
        self.dir = data_dir
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.extra_args = list(extra_args or [])
        self.proc: Optional[subprocess.Popen] = None
        self.stdout_lines: List[str] = []
        self.stderr_path = data_dir.parent / f"tlog-{port}.stderr"
        self.vkey: Optional[str] = None

    def start(self, timeout: float = 60.0) -> "TlogServer":
        self.stdout_lines = []
        stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--dir", str(self.dir), "--listen", f"127.0.0.1:{self.port}",
             "--checkpoint-interval-ms", "50", *self.extra_args],
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=server_env(),
            text=True,
        )
        stderr.close()
        threading.Thread(target=self._pump, args=(self.proc,), daemon=True).start()
        # Ours is listening once it printed its key (after binding): only then is a
        # /healthz answer on this port known to come from it, not from another process.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tlog serve exited with {self.proc.returncode}: {self.stderr()}")
            vk = [l for l in self.stdout_lines if l.startswith("verifier key: ")]
            if vk:
                self.vkey = vk[-1].split(": ", 1)[1].strip()
                break
            time.sleep(0.02)
        else:
            self.stop()
            raise RuntimeError(f"tlog serve did not start in {timeout}s: {self.stderr()}")
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)
        else:
            self.stop()
            raise RuntimeError(f"tlog serve did not answer /healthz in {timeout}s: {self.stderr()}")
        return self

    def _pump(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            self.stdout_lines.append(line.rstrip("\n"))

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    @property
    def token(self) -> str:
        return (self.dir / "default.token").read_text().strip()

    @property
    def mirror_path(self) -> Path:
        return self.dir / "audit_trail.jsonl"

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def get(self, path: str):
        with urllib.request.urlopen(self.url + path, timeout=10) as r:
            data = r.read()
        return json.loads(data) if data[:1] in (b"{", b"[") else data.decode()


@pytest.fixture
def tlog_bin():
    binary = tlog_binary()
    if binary is None:
        reason = (
            f"no tlog binary at {os.environ.get('TLOG_BIN') or DEFAULT_TLOG} "
            "(build it with `cargo build --bin tlog` or set TLOG_BIN)"
        )
        print(f"SKIP: {reason}", file=sys.stderr)
        pytest.skip(reason)
    return binary


@pytest.fixture
def make_server(tlog_bin, tmp_path):
    """Factory: ``make_server(start=True)`` -> TlogServer; every server is stopped after."""
    servers: List[TlogServer] = []

    def make(start: bool = True, port: Optional[int] = None, name: str = "tlog-data") -> TlogServer:
        srv = TlogServer(tlog_bin, tmp_path / name, port or free_port())
        servers.append(srv)
        if start:
            srv.start()
        return srv

    yield make
    for srv in servers:
        srv.stop()


@pytest.fixture
def server(make_server) -> TlogServer:
    """A running tlog serve in tmp_path/tlog-data."""
    return make_server()
