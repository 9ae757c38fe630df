"""Dataset registration and the merkle-sha256 content hash of spec/dataset.md."""

import os

import pytest

from llm_audit_trail import AuditLogger, dataset_content_hash, register_dataset, verify_log
from llm_audit_trail.datasets import DatasetHashError
from llm_audit_trail.registry import EventTypes, available_schemas, load_schema

SPEC_EXAMPLE = "merkle-sha256:7baae407d628fd4d71cd981ed66a878264e391e600146f9fd7278fa5f12ad3cd"


def _spec_dir(root):
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"hello\n")
    (root / "sub" / "b.csv").write_bytes(b"x,y\n1,2\n")
    return root


def test_the_example_of_spec_dataset_md(tmp_path):
    d = _spec_dir(tmp_path / "ds")
    out = dataset_content_hash(str(d))
    assert out["content_hash"] == SPEC_EXAMPLE
    assert out["files"] == 2 and out["bytes"] == 14
    assert out["manifest"] == [
        ["a.txt", 6, "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"],
        ["sub/b.csv", 8, out["manifest"][1][2]],
    ]
    assert out["rows"] == 1  # one data row after the CSV header


def test_hash_changes_with_content_names_and_order(tmp_path):
    d = _spec_dir(tmp_path / "ds")
    (d / "a.txt").write_bytes(b"hello!\n")
    assert dataset_content_hash(str(d))["content_hash"] != SPEC_EXAMPLE
    (d / "a.txt").write_bytes(b"hello\n")
    (d / "a.txt").rename(d / "A.txt")
    assert dataset_content_hash(str(d))["content_hash"] != SPEC_EXAMPLE
    (d / "A.txt").rename(d / "a.txt")
    assert dataset_content_hash(str(d))["content_hash"] == SPEC_EXAMPLE


def test_single_file_empty_dir_and_hidden_files(tmp_path):
    f = tmp_path / "one.jsonl"
    f.write_text('{"a":1}\n\n{"a":2}\n')
    out = dataset_content_hash(str(f))
    assert out["files"] == 1 and out["rows"] == 2 and out["manifest"][0][0] == "one.jsonl"
    empty = tmp_path / "empty"
    empty.mkdir()
    # An empty directory hashes to SHA-256("").
    assert dataset_content_hash(str(empty))["content_hash"] == (
        "merkle-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    (empty / ".hidden").write_text("x")
    assert dataset_content_hash(str(empty))["files"] == 1


def test_symlinks_are_refused_by_name(tmp_path):
    d = _spec_dir(tmp_path / "ds")
    os.symlink(d / "a.txt", d / "link.txt")
    with pytest.raises(DatasetHashError, match="link.txt"):
        dataset_content_hash(str(d))


def test_register_dataset_with_a_path_fills_hash_and_rows(tmp_path):
    d = tmp_path / "imdb"
    d.mkdir()
    (d / "train.csv").write_text("text,label\ngood,1\nbad,0\nok,1\n")
    (d / "test.tsv").write_text("text\tlabel\nfine\t1\n")
    log = AuditLogger(path="a.jsonl", url="")
    rec = register_dataset(log, dataset_id="hf:stanfordnlp/imdb", version="latest",
                           source="huggingface://datasets/stanfordnlp/imdb", path=str(d),
                           license="other", owner="stanfordnlp")
    det = rec["details"]
    assert det["content_hash"] == dataset_content_hash(str(d))["content_hash"]
    assert det["rows"] == 4 and det["files"] == 2 and len(det["manifest"]) == 2
    assert rec["event_type"] == EventTypes.DATASET_REGISTERED and rec["dataset_id"] == "hf:stanfordnlp/imdb"
    assert rec["system"] == "data_engineering" and rec["actor"] == "stanfordnlp"
    assert verify_log("a.jsonl")[0]


def test_register_dataset_as_the_seed_readme_shows(tmp_path):
    log = AuditLogger(path="a.jsonl", url="")
    rec = register_dataset(log, dataset_id="hf:stanfordnlp/imdb", version="latest",
                           source="huggingface://datasets/stanfordnlp/imdb", rows=100000,
                           content_hash="sha256:abc", preprocessing={"splits": ["train", "test"]},
                           owner="stanfordnlp")
    assert rec["details"]["rows"] == 100000 and rec["details"]["content_hash"] == "sha256:abc"
    assert "manifest" not in rec["details"]
    required = load_schema("DatasetRegistered")["required"]
    assert all(k in rec["details"] for k in required)


def test_register_dataset_never_invents_a_hash_or_rows(tmp_path):
    log = AuditLogger(path="a.jsonl", url="")
    with pytest.raises(ValueError, match="content_hash"):
        register_dataset(log, dataset_id="d", version="1", source="s", rows=1)
    (tmp_path / "w.parquet").write_bytes(b"PAR1")
    with pytest.raises(ValueError, match="rows"):
        register_dataset(log, dataset_id="d", version="1", source="s", path=str(tmp_path / "w.parquet"))
    assert not os.path.exists("a.jsonl") or os.path.getsize("a.jsonl") == 0


def test_schemas_ship_with_the_package():
    assert set(available_schemas()) == {"Approval", "RiskWaiver", "Attestation", "DatasetRegistered"}
    assert load_schema("Approval")["properties"]["decision"]["const"] == "approved"
    with pytest.raises(KeyError):
        load_schema("Nope")
