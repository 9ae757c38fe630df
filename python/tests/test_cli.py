"""The decision CLI, through a pseudo-terminal (answers, bad answers asked again, Ctrl-C,
end of input, declining) and without a terminal (flags only; missing field -> exit 2)."""

import json
import os
import pty
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import subprocess_env
from llm_audit_trail import AuditLogger, iter_events, verify_inclusion, verify_log

CLI = [sys.executable, "-m", "llm_audit_trail_cli.main"]


def run(args, **env):
    """The CLI with stdin not a terminal."""
    return subprocess.run(CLI + args, env=subprocess_env(**env), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)


class Pty:
    """A child CLI on a pseudo-terminal; `expect` waits for text, `send` types."""

    def __init__(self, args, env, timeout=20.0):
        self.timeout = timeout
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # child
            try:
                os.execve(CLI[0], CLI + args, env)
            finally:
                os._exit(127)
        self.out = b""
        self.cursor = 0
        self.status = None

    def _read(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        ready, _, _ = select.select([self.fd], [], [], remaining)
        if not ready:
            return False
        try:
            data = os.read(self.fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            return None
        if not data:
            return None
        self.out += data
        return True

    def expect(self, text):
        needle = text.encode()
        deadline = time.monotonic() + self.timeout
        while True:
            i = self.out.find(needle, self.cursor)
            if i >= 0:
                self.cursor = i + len(needle)
                return
            got = self._read(deadline)
            if not got:
                raise AssertionError(f"did not see {text!r}; output so far:\n{self.out.decode(errors='replace')}")

    def send(self, text):
        os.write(self.fd, text.encode())

    def answer(self, prompt, text):
        self.expect(prompt)
        self.send(text + "\n")

    def wait(self):
        deadline = time.monotonic() + self.timeout
        while self._read(deadline):
            pass
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        while pid == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid == 0:
            os.kill(self.pid, 9)
            os.waitpid(self.pid, 0)
            os.close(self.fd)
            raise AssertionError(f"the CLI did not exit; output:\n{self.text}")
        os.close(self.fd)
        self.status = os.waitstatus_to_exitcode(status)
        return self.status

    @property
    def text(self):
        return self.out.decode(errors="replace")


@pytest.fixture
def ledger(tmp_path):
    """A ledger with recent model ids (the newest, demo-imdb-v1, is choice 1)."""
    path = tmp_path / "audit_trail.jsonl"
    log = AuditLogger(path=str(path), url="")
    log.emit("FineTuneStart", {}, model_id="other-model", dataset_id="imdb")
    log.emit("Evaluation", {"accuracy": 0.9}, model_id="demo-imdb-v1")
    return path


def pty_env(ledger, **extra):
    return subprocess_env(AUDIT_LOG_PATH=str(ledger), TERM="dumb", **extra)


def test_interactive_approval_with_bad_answers_asked_again(ledger):
    before = ledger.read_bytes()
    p = Pty(["approve", "--interactive"], pty_env(ledger, AUDIT_OWNER="Model Risk Committee"))
    p.answer("Owner (person or committee) [Model Risk Committee]: ", "")  # Enter keeps AUDIT_OWNER
    p.answer("Rationale: ", "ok")
    p.expect("rationale needs at least 3 characters; try again.")
    p.answer("Rationale: ", "clears thresholds")
    p.expect("Recent model_ids:")
    p.expect("1. demo-imdb-v1")
    p.expect("2. other-model")
    p.answer("Model ID (a number above or a new value, Enter to skip): ", "7")
    p.expect("7 is not one of the numbers 1-2")
    p.answer("Model ID (a number above or a new value, Enter to skip): ", "1")
    p.expect("1. imdb")
    p.answer("Dataset ID (a number above or a new value, Enter to skip): ", "")
    p.answer("Deployment ID (Enter to skip): ", "")
    p.answer("Constraints (JSON object, Enter to skip): ", "{rollout: 10%}")
    p.expect("constraints is not valid JSON")
    p.answer("Constraints (JSON object, Enter to skip): ", '["not", "an object"]')
    p.expect("constraints must be a JSON object")
    p.answer("Constraints (JSON object, Enter to skip): ", '{"rollout": "10% for 48h"}')
    p.answer("References (URLs, comma-separated, Enter to skip): ", "JIRA-123")
    p.expect("is not a URL")
    p.answer("References (URLs, comma-separated, Enter to skip): ", "https://example.com/mrc/42")
    p.expect("About to record Approval:")
    p.expect("model_id: demo-imdb-v1")
    p.answer("Record this? [y/N]: ", "y")
    assert p.wait() == 0, p.text
    records = list(iter_events(str(ledger)))
    assert len(records) == 3 and ledger.read_bytes().startswith(before)
    rec = records[-1]
    assert rec["event_type"] == "Approval" and rec["system"] == "governance"
    assert rec["actor"] == "Model Risk Committee" and rec["model_id"] == "demo-imdb-v1"
    assert rec["dataset_id"] is None and rec["deployment_id"] is None
    assert rec["details"] == {
        "decision": "approved",
        "rationale": "clears thresholds",
        "owner": "Model Risk Committee",
        "constraints": {"rollout": "10% for 48h"},
        "references": ["https://example.com/mrc/42"],
    }
    assert verify_log(str(ledger))[0]


def test_interactive_waiver_validates_dates(ledger):
    p = Pty(["waive", "--owner", "MRC", "--rationale", "pilot run", "--waived-control", "SLO:latency_p95",
             "--model-id", "m", "--dataset-id", "d", "--deployment-id", "prod", "--reference", "https://a.example/1",
             "-i"], pty_env(ledger))
    p.answer("Waiver ends on (YYYY-MM-DD, in the future, Enter to skip): ", "2020-01-01")
    p.expect("is not in the future")
    p.answer("Waiver ends on (YYYY-MM-DD, in the future, Enter to skip): ", "2031-02-30")
    p.expect("is not a real date")
    p.answer("Waiver ends on (YYYY-MM-DD, in the future, Enter to skip): ", "2099-12-31")
    p.answer("Record this? [y/N]: ", "yes")
    assert p.wait() == 0, p.text
    rec = list(iter_events(str(ledger)))[-1]
    assert rec["event_type"] == "RiskWaiver" and rec["deployment_id"] == "prod"
    assert rec["details"]["decision"] == "waived" and rec["details"]["waived_controls"] == ["SLO:latency_p95"]
    assert rec["details"]["time_bound_until"] == "2099-12-31"


def test_missing_required_field_on_a_terminal_prompts_without_the_flag(ledger):
    p = Pty(["attest", "--owner", "Compliance", "--model-id", "m", "--dataset-id", "d", "--deployment-id", "x"],
            pty_env(ledger))
    p.answer("Statement: ", "Data licensed and in scope")
    p.answer("References (URLs, comma-separated, Enter to skip): ", "")
    p.answer("Record this? [y/N]: ", "y")
    assert p.wait() == 0, p.text
    rec = list(iter_events(str(ledger)))[-1]
    assert rec["event_type"] == "Attestation" and rec["details"]["statement"] == "Data licensed and in scope"
    assert rec["details"]["references"] == []


def test_ctrl_c_exits_130_and_writes_nothing(ledger):
    before = ledger.read_bytes()
    p = Pty(["approve", "--interactive"], pty_env(ledger, AUDIT_OWNER="MRC"))
    p.answer("Owner (person or committee) [MRC]: ", "")
    p.expect("Rationale: ")
    p.send("half an answ\x03")
    assert p.wait() == 130, p.text
    assert "nothing was recorded" in p.text
    assert ledger.read_bytes() == before


def test_end_of_input_exits_130_and_writes_nothing(ledger):
    before = ledger.read_bytes()
    p = Pty(["approve", "-i"], pty_env(ledger))
    p.expect("Owner (person or committee): ")
    p.send("\x04")
    assert p.wait() == 130, p.text
    assert ledger.read_bytes() == before


def test_declining_the_summary_writes_nothing(ledger):
    before = ledger.read_bytes()
    p = Pty(["attest", "--owner", "C", "--statement", "all good", "--model-id", "m", "--dataset-id", "d",
             "--deployment-id", "x", "--reference", "https://e.example/1"], pty_env(ledger))
    p.answer("Record this? [y/N]: ", "n")
    assert p.wait() == 1, p.text
    assert ledger.read_bytes() == before


def test_yes_skips_the_confirmation_on_a_terminal(ledger):
    p = Pty(["attest", "--owner", "C", "--statement", "all good", "--model-id", "m", "--dataset-id", "d",
             "--deployment-id", "x", "--reference", "https://e.example/1", "--yes"], pty_env(ledger))
    assert p.wait() == 0, p.text
    assert "Record this?" not in p.text
    assert list(iter_events(str(ledger)))[-1]["event_type"] == "Attestation"


# ---- without a terminal ----

def test_flags_only_as_the_seed_readme_shows(tmp_path):
    env = {"AUDIT_LOG_PATH": str(tmp_path / "audit_trail.jsonl")}
    r = run(["approve", "--owner", "Model Risk Committee", "--rationale", "clears thresholds",
             "--model-id", "demo-imdb-v1", "--constraints", '{"rollout": "10% for 48h"}'], **env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["details"]["constraints"] == {"rollout": "10% for 48h"}
    r = run(["waive", "--owner", "MRC", "--rationale", "pilot", "--waived-control", "SLO:latency_p95"], **env)
    assert r.returncode == 0, r.stderr
    r = run(["attest", "--owner", "Compliance", "--statement", "Data licensed and in scope"], **env)
    assert r.returncode == 0, r.stderr
    recs = list(iter_events(str(tmp_path / "audit_trail.jsonl")))
    assert [x["event_type"] for x in recs] == ["Approval", "RiskWaiver", "Attestation"]
    assert recs[1]["details"]["waived_controls"] == ["SLO:latency_p95"] and recs[1]["details"]["time_bound_until"] is None
    assert verify_log(str(tmp_path / "audit_trail.jsonl"))[0]


@pytest.mark.parametrize("args,field", [
    (["approve", "--owner", "MRC"], "rationale"),
    (["approve", "--rationale", "clears thresholds"], "owner"),
    (["waive", "--owner", "MRC", "--rationale", "pilot"], "waived_controls"),
    (["attest", "--owner", "C"], "statement"),
    (["approve", "--owner", "MRC", "--interactive"], "rationale"),
])
def test_missing_field_without_a_terminal_exits_2_naming_it(tmp_path, args, field):
    r = run(args, AUDIT_LOG_PATH=str(tmp_path / "a.jsonl"))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and field in lines[0], r.stderr
    assert not (tmp_path / "a.jsonl").exists()


@pytest.mark.parametrize("args,flag", [
    (["approve", "--owner", "MRC", "--rationale", "fine", "--constraints", "{oops"], "--constraints"),
    (["approve", "--owner", "MRC", "--rationale", "fine", "--constraints", "[1]"], "--constraints"),
    (["approve", "--owner", "MRC", "--rationale", "fine", "--reference", "JIRA-1"], "--reference"),
    (["waive", "--owner", "MRC", "--rationale", "fine", "--waived-control", "x", "--until", "2001-01-01"], "--until"),
    (["waive", "--owner", "MRC", "--rationale", "fine", "--waived-control", "x", "--until", "soon"], "--until"),
    (["approve", "--owner", "MRC", "--rationale", "ok"], "--rationale"),
])
def test_invalid_flags_exit_2(tmp_path, args, flag):
    r = run(args, AUDIT_LOG_PATH=str(tmp_path / "a.jsonl"))
    assert r.returncode == 2 and flag in r.stderr, r.stderr
    assert not (tmp_path / "a.jsonl").exists()


def test_audit_owner_fills_the_owner(tmp_path):
    r = run(["attest", "--statement", "all in scope"], AUDIT_LOG_PATH=str(tmp_path / "a.jsonl"), AUDIT_OWNER="Compliance")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["actor"] == "Compliance"


def test_anchor_and_verify_subcommands(tmp_path):
    path = tmp_path / "audit_trail.jsonl"
    log = AuditLogger(path=str(path), url="")
    for i in range(4):
        log.emit("E", {"i": i})
    env = {"AUDIT_LOG_PATH": str(path)}
    r = run(["anchor", "--out", str(tmp_path / "head.json")], **env)
    assert r.returncode == 0 and json.loads(r.stdout)["seq"] == 3, r.stderr
    r = run(["verify", "--anchor", str(tmp_path / "head.json")], **env)
    assert r.returncode == 0 and r.stdout.startswith("OK"), r.stderr
    r = run(["verify", "--json"], **env)
    assert r.returncode == 0 and json.loads(r.stdout)["events"] == 4
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:2]) + "\n")
    r = run(["verify", "--anchor", str(tmp_path / "head.json")], **env)
    assert r.returncode == 1 and "anchor_missing" in r.stderr
    r = run(["--log-path", str(path), "verify"])
    assert r.returncode == 0


def test_cli_writes_to_a_tlog_server(server, tmp_path):
    env = {"AUDIT_LOG_URL": server.url, "AUDIT_LOG_TOKEN": server.token}
    r = run(["approve", "--owner", "MRC", "--rationale", "clears thresholds", "--model-id", "demo-imdb-v1",
             "--reference", "https://example.com/1"], **env)
    assert r.returncode == 0, r.stderr
    rec = json.loads(r.stdout)
    assert rec["index"] >= 0 and rec["inclusion_proof"] is not None
    assert verify_inclusion(rec, server.vkey)[0]
    got = server.get(f"/v1/events/{rec['event_id']}")
    assert got["event_type"] == "Approval" and got["actor"] == "MRC" and got["system"] == "governance"
    r = run(["verify", "--vkey", server.vkey], **env)
    assert r.returncode == 0 and "OK" in r.stdout, r.stderr
    r = run(["anchor", "--out", str(tmp_path / "cp.anchor")], **env)
    assert r.returncode == 0, r.stderr
    r = run(["verify", "--anchor", str(tmp_path / "cp.anchor")], **env)
    assert r.returncode == 0, r.stderr
    # An unreachable server is an error, not a silent success.
    r = run(["attest", "--owner", "C", "--statement", "fine words"], AUDIT_LOG_URL="http://127.0.0.1:9", AUDIT_LOG_TOKEN="x")
    assert r.returncode == 1 and "error" in r.stderr


def test_console_script():
    exe = shutil.which("llm-audit") or str(Path(sys.executable).with_name("llm-audit"))
    if not os.path.exists(exe):
        pytest.skip("llm-audit is not installed (pip install -e python)")
    r = subprocess.run([exe, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "approve" in r.stdout and "verify" in r.stdout


def test_decisions_yaml_relabels_prompts_but_never_supplies_required_values(ledger, tmp_path):
    pytest.importorskip("yaml")
    (tmp_path / ".llm-audit").mkdir()
    (tmp_path / ".llm-audit" / "decisions.yaml").write_text(
        "Approval:\n"
        "  fields:\n"
        "    rationale:\n"
        "      prompt: Why is this model fit to ship\n"
        "      default: because\n"  # ignored: a required field never gets a default
    )
    p = Pty(["approve", "--owner", "MRC", "--model-id", "m", "--dataset-id", "d", "--deployment-id", "x",
             "--constraints", "{\"rollout\": \"all\"}", "--reference", "https://e.example/1", "-i"], pty_env(ledger))
    p.answer("Why is this model fit to ship: ", "")
    p.expect("rationale is required.")
    p.answer("Why is this model fit to ship: ", "passes every gate")
    p.answer("Record this? [y/N]: ", "y")
    assert p.wait() == 0, p.text
    assert list(iter_events(str(ledger)))[-1]["details"]["rationale"] == "passes every gate"
