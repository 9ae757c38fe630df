"""``llm-audit``: record governance decisions, anchor and verify an audit log.

Governance decisions belong to people, not training scripts, so they are recorded
here. Every decision subcommand works from flags (a CI job) and interactively (a
person at a terminal):

* ``--interactive``, or a required field missing while stdin is a terminal, prompts
  for each missing field, offering the model/dataset/deployment ids recently seen in
  the log as numbered choices; ``AUDIT_OWNER`` pre-fills the owner;
* answers are validated as they are typed (JSON must parse to an object, references
  must be URLs, a waiver's end date must be a real date in the future) and a bad
  answer is asked again;
* a required field is never given a default: without a terminal, a missing one exits
  with status 2 and one line naming it;
* a summary is shown and confirmed before anything is written (``--yes`` skips);
  Ctrl-C or end of input exits with status 130 and writes nothing.

Events go to the local ledger (``--log-path``, ``$AUDIT_LOG_PATH``, else
``audit_trail.jsonl``) or, with ``--url``/``$AUDIT_LOG_URL``, to a ``tlog serve``
(posted synchronously: the command prints the event with its index and inclusion proof).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.parse
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Callable, Dict, List, Optional

from llm_audit_trail import (
    AuditLogError,
    AuditLogger,
    read_anchor,
    record_approval,
    record_attestation,
    record_waiver,
    verify_log,
    write_anchor,
)
from llm_audit_trail.config import load_config, load_yaml
from llm_audit_trail.providers import load_scope_providers

SCOPE_FIELDS = ("model_id", "dataset_id", "deployment_id")
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_ABORTED = 0, 1, 2, 130


class CliError(Exception):
    """A user-facing error: one line on stderr, exit status 2."""


# --------------------------------------------------------------------------
# field parsers: the same rules for flags and for typed answers
# --------------------------------------------------------------------------


def _text(min_len: int = 1) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip()
        if len(value) < min_len:
            raise ValueError(f"needs at least {min_len} characters")
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
            raise ValueError("contains a control character")
        return value

    return parse


def _scope_id(raw: str) -> str:
    value = _text()(raw)
    if len(value.encode("utf-8")) > 256:
        raise ValueError("is longer than 256 bytes")
    return value


def _json_object(raw: str) -> Dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ValueError('must be a JSON object, like {"rollout": "10%"}')
    return value


_URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")


def _url(raw: str) -> str:
    value = raw.strip()
    parts = urllib.parse.urlsplit(value)
    if not _URL_RE.match(value) or not parts.netloc or any(c.isspace() for c in value):
        raise ValueError(f"{value!r} is not a URL (like https://host/path)")
    return value


def _urls(raw: str) -> List[str]:
    text = raw.strip()
    if text.startswith("["):
        try:
            items = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"is not valid JSON ({exc})") from None
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise ValueError("must be a list of URL strings")
    else:
        items = [i for i in re.split(r"[,\s]+", text) if i]
    return [_url(i) for i in items]


def _controls(raw: str) -> List[str]:
    items = [i.strip() for i in raw.split(",") if i.strip()]
    if not items:
        raise ValueError("needs at least one control")
    return [_text()(i) for i in items]


def _future_date(raw: str, today: Optional[date] = None) -> str:
    value = raw.strip()
    now = datetime.now(timezone.utc)
    today = today or now.date()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            d = date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value} is not a real date") from None
        if d <= today:
            raise ValueError(f"{value} is not in the future")
        return d.isoformat()
    try:
        dt = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value)
    except ValueError:
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD) or an RFC 3339 time") from None
    if dt.tzinfo is None:
        raise ValueError(f"{value} needs a time zone (e.g. Z)")
    if dt <= now:
        raise ValueError(f"{value} is not in the future")
    return value


@dataclass
class Field:
    """One field of a decision: how it is asked, parsed and shown."""

    name: str
    prompt: str
    parse: Callable[[str], Any]
    required: bool = False
    flag: str = ""
    hint: str = ""


def _fields(event_type: str) -> List[Field]:
    owner = Field("owner", "Owner (person or committee)", _text(), True, "--owner")
    scope = [
        Field("model_id", "Model ID", _scope_id, flag="--model-id"),
        Field("dataset_id", "Dataset ID", _scope_id, flag="--dataset-id"),
        Field("deployment_id", "Deployment ID", _scope_id, flag="--deployment-id"),
    ]
    refs = Field("references", "References", _urls, flag="--reference", hint="URLs, comma-separated")
    if event_type == "Approval":
        return [
            owner,
            Field("rationale", "Rationale", _text(3), True, "--rationale"),
            *scope,
            Field("constraints", "Constraints", _json_object, flag="--constraints", hint="JSON object"),
            refs,
        ]
    if event_type == "RiskWaiver":
        return [
            owner,
            Field("rationale", "Rationale", _text(3), True, "--rationale"),
            *scope,
            Field("waived_controls", "Waived controls", _controls, True, "--waived-control",
                  hint="comma-separated, e.g. SLO:latency_p95"),
            Field("time_bound_until", "Waiver ends on", _future_date, flag="--until",
                  hint="YYYY-MM-DD, in the future"),
            refs,
        ]
    if event_type == "Attestation":
        return [owner, Field("statement", "Statement", _text(3), True, "--statement"), *scope, refs]
    raise ValueError(event_type)


def _custom_prompts(event_type: str, config: Dict[str, Any]) -> Dict[str, str]:
    """Prompt labels from ``decisions.yaml`` (only labels: defaults are never taken)."""
    for path in (
        config.get("decisions_path"),
        ".llm-audit/decisions.yaml",
        os.path.expanduser("~/.llm-audit/decisions.yaml"),
        "/etc/llm-audit/decisions.yaml",
    ):
        if not path or not os.path.exists(path):
            continue
        spec = load_yaml(path) or {}
        fields = (spec.get(event_type) or {}).get("fields") if isinstance(spec, dict) else None
        if isinstance(fields, dict):
            return {k: v["prompt"] for k, v in fields.items() if isinstance(v, dict) and v.get("prompt")}
    return {}


# --------------------------------------------------------------------------
# prompting
# --------------------------------------------------------------------------


def _is_blank(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _recent_scopes(config: Dict[str, Any]) -> Dict[str, List[str]]:
    merged: Dict[str, List[str]] = {"model_id": [], "dataset_id": [], "deployment_id": []}
    bucket = {"model_id": "models", "dataset_id": "datasets", "deployment_id": "deployments"}
    try:
        providers = load_scope_providers(config)
    except Exception:
        return merged
    for provider in providers:
        try:
            recent = provider.recent()
        except Exception:
            continue
        for field, key in bucket.items():
            for value in recent.get(key, []):
                if value not in merged[field]:
                    merged[field].append(value)
    return merged


_pending = bytearray()  # typed-ahead input not yet consumed by a prompt


def _input(prompt: str) -> str:
    """``input()`` for a terminal that stays responsive to Ctrl-C.

    Waits with ``select`` in short slices so that a SIGINT arriving just before the read
    (a race in which CPython's ``input()`` blocks until the next key) is acted on at
    once. End of input (Ctrl-D on an empty line) raises EOFError, like ``input()``.
    """
    if not sys.stdin.isatty():
        return input(prompt)
    import select

    sys.stdout.write(prompt)
    sys.stdout.flush()
    fd = sys.stdin.fileno()
    while b"\n" not in _pending:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            if _pending:
                break
            raise EOFError
        _pending.extend(chunk)
    line, sep, rest = bytes(_pending).partition(b"\n")
    _pending[:] = rest
    return line.decode("utf-8", errors="replace").rstrip("\r")


def _ask(field: Field, label: str, default: Optional[str], choices: List[str]) -> Any:
    """Asks until the answer parses. Raises KeyboardInterrupt/EOFError to abort."""
    if choices:
        print(f"Recent {field.name}s:")
        for i, value in enumerate(choices, 1):
            print(f"  {i}. {value}")
    hint = field.hint
    if choices:
        hint = "a number above or a new value" + ("" if field.required else ", Enter to skip")
    elif not field.required:
        hint = (hint + ", " if hint else "") + "Enter to skip"
    prompt = label + (f" ({hint})" if hint else "") + (f" [{default}]" if default else "") + ": "
    while True:
        raw = _input(prompt).strip()
        if not raw and default:
            raw = default
        if not raw:
            if field.required:
                print(f"  {field.name} is required.")
                continue
            return None
        if choices and raw.isdigit():
            index = int(raw)
            if 1 <= index <= len(choices):
                return choices[index - 1]
            print(f"  {raw} is not one of the numbers 1-{len(choices)}.")
            continue
        try:
            return field.parse(raw)
        except ValueError as exc:
            print(f"  {field.name} {exc}; try again.")


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _collect(event_type: str, args, config: Dict[str, Any], given: Dict[str, Any]) -> Dict[str, Any]:
    """Validates the flags, prompts for what is missing when allowed, confirms."""
    fields = _fields(event_type)
    values: Dict[str, Any] = {}
    for f in fields:
        raw = given.get(f.name)
        if _is_blank(raw):
            values[f.name] = None
            continue
        try:
            if isinstance(raw, list):
                values[f.name] = [x for item in raw for x in f.parse(item)] if f.name in ("references", "waived_controls") else raw
            else:
                values[f.name] = f.parse(raw)
        except ValueError as exc:
            raise CliError(f"{f.flag}: {f.name} {exc}") from None

    owner_default = config.get("owner") or None
    tty = sys.stdin.isatty()
    missing = [f for f in fields if f.required and _is_blank(values[f.name])
               and not (f.name == "owner" and owner_default)]
    interactive = tty and not args.no_interactive and (args.interactive or bool(missing))
    if not interactive:
        if owner_default and _is_blank(values["owner"]):
            values["owner"] = _text()(owner_default)
        if missing:
            names = ", ".join(f"{f.name} ({f.flag})" for f in missing)
            raise CliError(
                f"{event_type} needs {names}"
                + ("" if tty else "; no terminal to ask on, pass it as a flag")
            )
    else:
        labels = _custom_prompts(event_type, config)
        scopes = _recent_scopes(config)
        for f in fields:
            if not _is_blank(values[f.name]):
                continue
            default = owner_default if f.name == "owner" else None
            values[f.name] = _ask(f, labels.get(f.name, f.prompt), default, scopes.get(f.name, []))

    # A person at a terminal confirms what is about to be recorded; scripts (no
    # terminal, --no-interactive) and --yes do not.
    if tty and not args.yes and not args.no_interactive:
        print(f"\nAbout to record {event_type}:")
        for f in fields:
            if not _is_blank(values[f.name]):
                print(f"  {f.name}: {_show(values[f.name])}")
        answer = _input("Record this? [y/N]: ").strip().lower()
        if answer not in ("y", "yes"):
            raise _NotConfirmed()
    return values


class _NotConfirmed(Exception):
    pass


# --------------------------------------------------------------------------
# subcommands
# --------------------------------------------------------------------------


def _url_of(args, config: Dict[str, Any]) -> Optional[str]:
    return args.url or config.get("url") or None


def _log_path(args, config: Dict[str, Any]) -> str:
    return args.log_path or config.get("log_path") or "audit_trail.jsonl"


def _logger(args, config: Dict[str, Any]) -> AuditLogger:
    url = _url_of(args, config)
    if url:
        return AuditLogger(url=url, on_unreachable="raise", retry_for=5.0)
    return AuditLogger(path=_log_path(args, config), url="")


def _scope_of(values: Dict[str, Any]) -> Dict[str, Any]:
    return {name: values.get(name) or None for name in SCOPE_FIELDS}


def _effective_config(args, config: Dict[str, Any]) -> Dict[str, Any]:
    config = dict(config)
    config["log_path"] = _log_path(args, config)
    config["url"] = _url_of(args, config)
    return config


def _given_scope(args) -> Dict[str, Any]:
    return {name: getattr(args, name) for name in SCOPE_FIELDS}


def cmd_approve(args, config: Dict[str, Any]) -> Dict[str, Any]:
    values = _collect("Approval", args, config, {
        "owner": args.owner,
        "rationale": args.rationale,
        "constraints": args.constraints,
        "references": args.reference or [],
        **_given_scope(args),
    })
    log = _logger(args, config)
    return record_approval(
        log,
        owner=values["owner"],
        rationale=values["rationale"],
        scope=_scope_of(values),
        constraints=values.get("constraints") or {},
        references=values.get("references") or [],
        wait=log.remote,
    )


def cmd_waive(args, config: Dict[str, Any]) -> Dict[str, Any]:
    values = _collect("RiskWaiver", args, config, {
        "owner": args.owner,
        "rationale": args.rationale,
        "waived_controls": args.waived_control or [],
        "time_bound_until": args.until,
        "references": args.reference or [],
        **_given_scope(args),
    })
    log = _logger(args, config)
    return record_waiver(
        log,
        owner=values["owner"],
        rationale=values["rationale"],
        scope=_scope_of(values),
        waived_controls=list(values["waived_controls"]),
        time_bound_until=values.get("time_bound_until") or None,
        references=values.get("references") or [],
        wait=log.remote,
    )


def cmd_attest(args, config: Dict[str, Any]) -> Dict[str, Any]:
    values = _collect("Attestation", args, config, {
        "owner": args.owner,
        "statement": args.statement,
        "references": args.reference or [],
        **_given_scope(args),
    })
    log = _logger(args, config)
    return record_attestation(
        log,
        owner=values["owner"],
        statement=values["statement"],
        scope=_scope_of(values),
        references=values.get("references") or [],
        wait=log.remote,
    )


def _read_checkpoint_file(path: str) -> Dict[str, Any]:
    with open(path, "r", encoding="utf-8") as fh:
        text = fh.read()
    try:
        doc = json.loads(text)
    except ValueError:
        return {"note": text}
    if isinstance(doc, dict) and isinstance(doc.get("note"), str):
        return doc
    raise CliError(f"{path}: not a signed checkpoint or a checkpoint anchor")


def cmd_verify(args, config: Dict[str, Any]) -> int:
    url = _url_of(args, config)
    vkey = args.vkey or os.environ.get("AUDIT_LOG_VKEY") or None
    if url:
        target = url
        checkpoint = None
        if args.anchor or args.checkpoint:
            doc = _read_checkpoint_file(args.anchor or args.checkpoint)
            checkpoint = doc["note"]
            vkey = vkey or doc.get("vkey")
        ok, report = verify_log(url, vkey=vkey, checkpoint=checkpoint, full=args.full)
        no_anchor = False
    else:
        target = _log_path(args, config)
        expected_head = read_anchor(args.anchor) if args.anchor else None
        checkpoint = _read_checkpoint_file(args.checkpoint)["note"] if args.checkpoint else None
        if checkpoint is not None and not vkey:
            raise CliError("--checkpoint needs --vkey (or AUDIT_LOG_VKEY)")
        ok, report = verify_log(
            target, expected_head=expected_head, checkpoint=checkpoint, vkey=vkey, strict=args.strict
        )
        no_anchor = expected_head is None and checkpoint is None

    if args.json:
        print(json.dumps({"ok": ok, "path": target, **report}, indent=2, sort_keys=True))
    elif ok:
        head = report.get("head") or {}
        print(f"OK  {target}: {report['events']} events, head {head.get('hash', '-')}")
        if url:
            for c in report.get("consistency", []):
                print(f"consistent with the {c['source']} checkpoint at size {c['from']}")
            if report.get("trust") == "first_use":
                print(f"note: trusting the server's key on first use: {report.get('vkey')}")
        elif no_anchor:
            print("note: without --anchor, deletion of the newest events cannot be detected")
    else:
        print(f"FAILED  {target}: {report.get('error')}", file=sys.stderr)
        for key, value in sorted(report.items()):
            if key != "error":
                print(f"  {key}: {value}", file=sys.stderr)
    return EXIT_OK if ok else EXIT_FAILED


def cmd_anchor(args, config: Dict[str, Any]) -> int:
    url = _url_of(args, config)
    if url:
        vkey = args.vkey or os.environ.get("AUDIT_LOG_VKEY") or None
        ok, report = verify_log(url, vkey=vkey)
        if not ok:
            raise AuditLogError(f"{url} does not verify: {report.get('error')}: {report.get('detail')}")
        from llm_audit_trail.verify import load_state

        state = load_state(report["state"]) if report.get("state") else None
        if not state:
            raise AuditLogError("could not read back the verified checkpoint")
        anchor = {
            "url": url,
            "vkey": report["vkey"],
            "tree_size": state["tree_size"],
            "root_hash": state["root_hash"],
            "note": state["note"],
            "anchored_at": state["verified_at"],
        }
        target = args.out or "checkpoint.anchor"
        with open(target, "w", encoding="utf-8") as fh:
            json.dump(anchor, fh, indent=2, sort_keys=True)
            fh.write("\n")
    else:
        path = _log_path(args, config)
        anchor = write_anchor(path, args.out)
        if anchor is None:
            raise CliError(f"{path} is empty; nothing to anchor")
        target = args.out or (path + ".anchor")
    print(json.dumps(anchor, indent=2, sort_keys=True))
    print(
        f"\nWrote {target}. Store a copy somewhere the log's writer cannot reach, "
        f"then verify with: llm-audit verify --anchor {target}",
        file=sys.stderr,
    )
    return EXIT_OK


# --------------------------------------------------------------------------
# argument parsing
# --------------------------------------------------------------------------


def _add_scope_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-id", dest="model_id")
    parser.add_argument("--dataset-id", dest="dataset_id")
    parser.add_argument("--deployment-id", dest="deployment_id")


def _add_mode_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-i", "--interactive", action="store_true",
                       help="prompt for every field left blank (needs a terminal)")
    group.add_argument("--no-interactive", action="store_true",
                       help="never prompt; fail if a required field is missing")
    parser.add_argument("--reference", action="append", help="supporting URL (repeatable)")
    parser.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``llm-audit``."""
    parser = argparse.ArgumentParser(
        prog="llm-audit",
        description="Record governance decisions and verify an audit log.",
    )
    parser.add_argument("--config", help="path to a config.yaml")
    parser.add_argument("--log-path", help="local ledger to read or append to ($AUDIT_LOG_PATH)")
    parser.add_argument("--url", help="tlog serve to write to or verify ($AUDIT_LOG_URL)")
    sub = parser.add_subparsers(dest="cmd", required=True)

    approve = sub.add_parser("approve", help="record an approval")
    approve.add_argument("--owner", help="who decides ($AUDIT_OWNER)")
    approve.add_argument("--rationale")
    approve.add_argument("--constraints", help="JSON object of deployment constraints")
    _add_scope_args(approve)
    _add_mode_args(approve)

    waive = sub.add_parser("waive", help="record a risk waiver")
    waive.add_argument("--owner", help="who decides ($AUDIT_OWNER)")
    waive.add_argument("--rationale")
    waive.add_argument("--waived-control", action="append", help="control being waived (repeatable)")
    waive.add_argument("--until", help="date the waiver lapses (YYYY-MM-DD, in the future)")
    _add_scope_args(waive)
    _add_mode_args(waive)

    attest = sub.add_parser("attest", help="record an attestation")
    attest.add_argument("--owner", help="who attests ($AUDIT_OWNER)")
    attest.add_argument("--statement")
    _add_scope_args(attest)
    _add_mode_args(attest)

    verify = sub.add_parser("verify", help="verify the ledger's hash chain or the server's log")
    verify.add_argument("--anchor", help="anchor file from `llm-audit anchor`")
    verify.add_argument("--checkpoint", help="signed checkpoint the log must match (needs --vkey)")
    verify.add_argument("--vkey", help="the log's verifier key ($AUDIT_LOG_VKEY)")
    verify.add_argument("--strict", action="store_true", help="also require canonical JSON lines")
    verify.add_argument("--full", action="store_true", help="URL: rebuild the tree from every entry")
    verify.add_argument("--json", action="store_true", help="machine-readable output")

    anchor = sub.add_parser("anchor", help="record the current head (or signed checkpoint)")
    anchor.add_argument("--out", help="where to write the anchor")
    anchor.add_argument("--vkey", help="URL: the log's verifier key ($AUDIT_LOG_VKEY)")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Runs ``llm-audit``; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        config = _effective_config(args, load_config(args.config))
        if args.cmd == "verify":
            return cmd_verify(args, config)
        if args.cmd == "anchor":
            return cmd_anchor(args, config)
        handler = {"approve": cmd_approve, "waive": cmd_waive, "attest": cmd_attest}[args.cmd]
        record = handler(args, config)
        print(json.dumps(record, indent=2, sort_keys=True))
        return EXIT_OK
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except _NotConfirmed:
        print("not confirmed; nothing was recorded", file=sys.stderr)
        return EXIT_FAILED
    except (KeyboardInterrupt, EOFError):
        print("\naborted; nothing was recorded", file=sys.stderr)
        return EXIT_ABORTED
    except (AuditLogError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
