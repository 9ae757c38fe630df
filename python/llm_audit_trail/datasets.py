"""Dataset provenance events, with a content hash of the data actually on disk.

:func:`dataset_content_hash` implements ``spec/dataset.md`` (``merkle-sha256``): each
regular file below the dataset path is one leaf
``path_utf8 || 0x00 || size (u64 big-endian) || SHA-256(content)``, files sorted by the
bytes of their UTF-8 relative path, and the content hash is the RFC 6962 Merkle tree hash
of those leaves. Symbolic links and other non-regular entries are refused by name, since
a hash that skipped or followed them would not say what was trained on.
"""

from __future__ import annotations

import hashlib
import os
import stat
from typing import Any, Dict, List, Optional, Tuple

from .merkle import Frontier, leaf_hash
from .registry import EventTypes

__all__ = ["register_dataset", "dataset_attestation", "dataset_content_hash", "DatasetHashError"]

#: Datasets of at most this many files get a per-file manifest in the event.
MAX_MANIFEST_FILES = 10000
_ROW_EXTENSIONS = {".csv": "header", ".tsv": "header", ".jsonl": "lines"}
_CHUNK = 1 << 20


class DatasetHashError(ValueError):
    """A dataset path that cannot be hashed (a symlink, a device, a non-UTF-8 name...)."""


def _walk(root: str) -> List[Tuple[bytes, str]]:
    """``(relative path as UTF-8 bytes, absolute path)`` of every regular file."""
    st = os.lstat(root)
    if stat.S_ISREG(st.st_mode):
        name = os.path.basename(os.path.abspath(root))
        return [(_utf8(name, root), root)]
    if not stat.S_ISDIR(st.st_mode):
        raise DatasetHashError(f"{root}: not a regular file or directory")
    out: List[Tuple[bytes, str]] = []
    stack = [("", root)]
    while stack:
        rel_dir, abs_dir = stack.pop()
        with os.scandir(abs_dir) as it:
            for entry in it:
                rel = entry.name if not rel_dir else rel_dir + "/" + entry.name
                mode = entry.stat(follow_symlinks=False).st_mode
                if stat.S_ISDIR(mode):
                    stack.append((rel, entry.path))
                elif stat.S_ISREG(mode):
                    out.append((_utf8(rel, entry.path), entry.path))
                elif stat.S_ISLNK(mode):
                    raise DatasetHashError(f"{entry.path}: symbolic links are refused")
                else:
                    raise DatasetHashError(f"{entry.path}: not a regular file (socket, device or fifo)")
    return out


def _utf8(rel: str, where: str) -> bytes:
    try:
        return rel.encode("utf-8")
    except UnicodeEncodeError:  # surrogate-escaped bytes from a non-UTF-8 file name
        raise DatasetHashError(f"{where}: file name is not valid UTF-8") from None


def _rows_of(path: str, kind: str) -> int:
    n = 0
    with open(path, "rb") as fh:
        for line in fh:
            if line.strip():
                n += 1
    return max(0, n - 1) if kind == "header" else n


def dataset_content_hash(path: str, *, count_rows: bool = True) -> Dict[str, Any]:
    """Hashes a dataset file or folder per ``spec/dataset.md``.

    Returns ``{"content_hash": "merkle-sha256:<hex>", "files": n, "bytes": total,
    "manifest": [[path, size, sha256hex], ...] | None, "rows": n | None}`` where ``rows``
    sums the data rows of ``.csv``/``.tsv`` (lines after the header) and ``.jsonl``
    (non-empty lines) files, None when there are none.
    """
    files = sorted(_walk(os.fspath(path)))
    tree = Frontier()
    manifest: List[List[Any]] = []
    total = 0
    rows: Optional[int] = None
    for rel, abs_path in files:
        h = hashlib.sha256()
        size = 0
        with open(abs_path, "rb") as fh:
            while True:
                chunk = fh.read(_CHUNK)
                if not chunk:
                    break
                h.update(chunk)
                size += len(chunk)
        digest = h.digest()
        # leaf = path_utf8 || 0x00 || size (u64 big-endian) || SHA-256(content)
        tree.append(leaf_hash(rel + b"\x00" + size.to_bytes(8, "big") + digest))
        total += size
        manifest.append([rel.decode("utf-8"), size, digest.hex()])
        kind = _ROW_EXTENSIONS.get(os.path.splitext(abs_path)[1].lower())
        if count_rows and kind:
            rows = (rows or 0) + _rows_of(abs_path, kind)
    return {
        "content_hash": "merkle-sha256:" + tree.root().hex(),
        "files": len(files),
        "bytes": total,
        "manifest": manifest if len(files) <= MAX_MANIFEST_FILES else None,
        "rows": rows,
    }


def register_dataset(
    log,
    *,
    dataset_id: str,
    version: str,
    source: str,
    rows: Optional[int] = None,
    license: Optional[str] = None,
    datasheet_url: Optional[str] = None,
    content_hash: Optional[str] = None,
    preprocessing: Optional[Dict[str, Any]] = None,
    pii_residual_risk: Optional[str] = None,
    owner: Optional[str] = None,
    path: Optional[str] = None,
) -> Dict[str, Any]:
    """Records a ``DatasetRegistered`` event so training and evaluation can cite it.

    As the seed: ``content_hash`` and ``rows`` are what you give. With ``path`` (a file
    or folder of the snapshot you train on), a missing ``content_hash`` is computed
    (``merkle-sha256:...``, ``spec/dataset.md``), the details also get ``files``,
    ``bytes`` and (up to 10,000 files) the per-file ``manifest``, and a missing ``rows``
    is counted from ``.csv``/``.tsv``/``.jsonl`` files. A content hash or rows that
    cannot be known is an error, never a placeholder.
    """
    extra: Dict[str, Any] = {}
    if path is not None and (content_hash is None or rows is None):
        computed = dataset_content_hash(path, count_rows=rows is None)
        if content_hash is None:
            content_hash = computed["content_hash"]
            extra = {"files": computed["files"], "bytes": computed["bytes"]}
            if computed["manifest"] is not None:
                extra["manifest"] = computed["manifest"]
        if rows is None:
            rows = computed["rows"]
    if content_hash is None:
        raise ValueError("register_dataset needs content_hash= or path= to compute it")
    if rows is None:
        raise ValueError(
            "register_dataset needs rows= (it can only be counted for .csv, .tsv and .jsonl files)"
        )
    details: Dict[str, Any] = {
        "version": version,
        "source": source,
        "rows": rows,
        "license": license,
        "datasheet_url": datasheet_url,
        "content_hash": content_hash,
        "preprocessing": preprocessing or {},
        "pii_residual_risk": pii_residual_risk,
        "owner": owner,
    }
    details.update(extra)
    return log.emit(
        EventTypes.DATASET_REGISTERED,
        details=details,
        dataset_id=dataset_id,
        system="data_engineering",
        actor=owner,
    )


def dataset_attestation(
    log,
    *,
    dataset_id: str,
    statement: str,
    owner: str,
    references: Optional[List[str]] = None,
) -> Dict[str, Any]:
    """Records a human statement about a dataset (provenance, consent, PII)."""
    return log.emit(
        EventTypes.DATASET_ATTESTATION,
        details={"statement": statement, "owner": owner, "references": references or []},
        dataset_id=dataset_id,
        system="governance",
        actor=owner,
    )
