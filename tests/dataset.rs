//! Dataset content hashes (`spec/dataset.md`) and `tlog dataset register | verify`.

#![cfg(feature = "server")]

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use llm_audit_trail::core::json::{self, JsonValue, ParseOptions};
use llm_audit_trail::dataset::{
    content_hash, diff, hash_dataset, list_files, parse_manifest, DatasetError,
};
use sha2::{Digest, Sha256};

fn sha(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

/// The spec's definition, written out independently of `src/dataset.rs`.
fn reference_hash(files: &[(&str, &[u8])]) -> String {
    let mut sorted: Vec<&(&str, &[u8])> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let leaves: Vec<[u8; 32]> = sorted
        .iter()
        .map(|(p, c)| {
            let mut l = vec![0u8];
            l.extend_from_slice(p.as_bytes());
            l.push(0);
            l.extend_from_slice(&(c.len() as u64).to_be_bytes());
            l.extend_from_slice(&sha(c));
            sha(&l)
        })
        .collect();
    fn mth(h: &[[u8; 32]]) -> [u8; 32] {
        if h.is_empty() {
            return sha(b"");
        }
        if h.len() == 1 {
            return h[0];
        }
        let mut k = 1;
        while k * 2 < h.len() {
            k *= 2;
        }
        let mut n = vec![1u8];
        n.extend_from_slice(&mth(&h[..k]));
        n.extend_from_slice(&mth(&h[k..]));
        sha(&n)
    }
    format!("merkle-sha256:{}", hex(&mth(&leaves)))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn write(root: &Path, rel: &str, content: &[u8]) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, content).unwrap();
}

fn hash(root: &Path) -> String {
    hash_dataset(root, &mut |_, _| {}).unwrap().content_hash
}

#[test]
fn spec_example() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "a.txt", b"hello\n");
    write(tmp.path(), "sub/b.csv", b"x,y\n1,2\n");
    let d = hash_dataset(tmp.path(), &mut |_, _| {}).unwrap();
    assert_eq!(
        d.content_hash,
        "merkle-sha256:7baae407d628fd4d71cd981ed66a878264e391e600146f9fd7278fa5f12ad3cd"
    );
    assert_eq!(
        d.content_hash,
        reference_hash(&[("a.txt", b"hello\n"), ("sub/b.csv", b"x,y\n1,2\n")])
    );
    assert_eq!((d.files.len(), d.bytes, d.rows), (2, 14, 1));
    let paths: Vec<&str> = d.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["a.txt", "sub/b.csv"]);
}

#[test]
fn single_file_empty_dir_and_many_files_match_the_definition() {
    let tmp = tempfile::tempdir().unwrap();
    // A regular file: one leaf named by its file name.
    write(tmp.path(), "one/data.jsonl", b"{\"a\":1}\n\n  \n{\"a\":2}");
    let d = hash_dataset(&tmp.path().join("one/data.jsonl"), &mut |_, _| {}).unwrap();
    assert_eq!(
        d.content_hash,
        reference_hash(&[("data.jsonl", b"{\"a\":1}\n\n  \n{\"a\":2}")])
    );
    assert_eq!(d.rows, 2, "non-empty JSON lines");
    // An empty directory: SHA-256("").
    fs::create_dir(tmp.path().join("empty")).unwrap();
    assert_eq!(
        hash(&tmp.path().join("empty")),
        format!("merkle-sha256:{}", hex(&sha(b"")))
    );
    // Many nested files of several sizes (both threads busy; order is the path bytes',
    // not the walk's: "B" < "a" < "a/..." < "a0").
    let root = tmp.path().join("many");
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..57 {
        let rel = match i % 4 {
            0 => format!("a/{i}.bin"),
            1 => format!("a0/deep/er/{i}.tsv"),
            2 => format!("B{i}"),
            _ => format!(".hidden/{i}"),
        };
        let content: Vec<u8> = (0..(i * 997 % 5000)).map(|j| (j * i) as u8).collect();
        files.push((rel, content));
    }
    files.push(("big.csv".into(), vec![b'x'; 3 << 20]));
    for (r, c) in &files {
        write(&root, r, c);
    }
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(r, c)| (r.as_str(), c.as_slice()))
        .collect();
    let mut calls = 0;
    let mut last = 0;
    let d = hash_dataset(&root, &mut |done, total| {
        calls += 1;
        assert!(done >= last && done <= total);
        last = done;
    })
    .unwrap();
    assert!(calls >= 1);
    assert_eq!(d.content_hash, reference_hash(&refs));
    assert_eq!(d.content_hash, content_hash(&d.files));
    assert_eq!(
        d.bytes,
        files.iter().map(|(_, c)| c.len() as u64).sum::<u64>()
    );
}

#[test]
fn row_counts() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "t.csv", b"h1,h2\n1,2\n3,4\n");
    write(tmp.path(), "u.TSV", b"h\n1\n2\n3"); // no final newline, upper-case extension
    write(tmp.path(), "v.csv", b"header only\n");
    write(tmp.path(), "w.csv", b"");
    write(tmp.path(), "x.txt", b"1\n2\n3\n");
    let d = hash_dataset(tmp.path(), &mut |_, _| {}).unwrap();
    let rows: Vec<Option<u64>> = d.files.iter().map(|f| f.rows).collect();
    assert_eq!(rows, [Some(2), Some(3), Some(0), Some(0), None]);
    assert_eq!(d.rows, 5);
}

#[test]
fn links_and_special_files_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "d/a.txt", b"a");
    std::os::unix::fs::symlink(tmp.path().join("d/a.txt"), tmp.path().join("d/link")).unwrap();
    match list_files(&tmp.path().join("d")) {
        Err(DatasetError::NotRegular { path, kind }) => {
            assert!(path.ends_with("link"), "{path}");
            assert_eq!(kind, "symbolic link");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        list_files(&tmp.path().join("missing")),
        Err(DatasetError::Io { .. })
    ));
}

#[test]
fn manifests_parse_strictly_and_diff_names_files() {
    let ok = json::parse(
        br#"[["a",1,"0000000000000000000000000000000000000000000000000000000000000000"]]"#,
        ParseOptions::STRICT,
    )
    .unwrap();
    assert_eq!(parse_manifest(&ok).unwrap().len(), 1);
    for bad in [
        r#"{"a":1}"#,         // not a list
        r#"[["a",1]]"#,       // two fields
        r#"[["a",-1,"00"]]"#, // negative size
        r#"[["a",1,"zz"]]"#,  // not hex
        r#"[[1,1,"0000000000000000000000000000000000000000000000000000000000000000"]]"#, // path
    ] {
        let v = json::parse(bad.as_bytes(), ParseOptions::STRICT).unwrap();
        assert!(parse_manifest(&v).is_err(), "{bad}");
    }
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "keep", b"1");
    write(tmp.path(), "x/change", b"2");
    write(tmp.path(), "x/gone", b"3");
    let before = hash_dataset(tmp.path(), &mut |_, _| {}).unwrap();
    let m = parse_manifest(&before.manifest().unwrap()).unwrap();
    write(tmp.path(), "x/change", b"22");
    fs::remove_file(tmp.path().join("x/gone")).unwrap();
    write(tmp.path(), "y/new", b"4");
    let after = hash_dataset(tmp.path(), &mut |_, _| {}).unwrap();
    let d = diff(&m, &after.files);
    assert_eq!(d.changed, ["x/change"]);
    assert_eq!(d.added, ["y/new"]);
    assert_eq!(d.removed, ["x/gone"]);
}

// ---- the CLI ----

fn tlog(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tlog"))
        .args(args)
        .env("TLOG_DIR", dir)
        .env_remove("AUDIT_LOG_PATH")
        .env_remove("AUDIT_OWNER")
        .stdin(Stdio::null())
        .output()
        .expect("run tlog")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let o = tlog(dir, args);
    assert!(
        o.status.success(),
        "tlog {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn parse(s: &str) -> JsonValue {
    json::parse(s.trim().as_bytes(), ParseOptions::STRICT).unwrap()
}

#[test]
fn register_then_verify_nested_folder_with_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    ok(&dir, &["init", "--origin", "example.com/ds"]);
    let data = tmp.path().join("data");
    write(&data, "train/part-0.csv", b"text,label\nfoo,1\nbar,0\n");
    write(
        &data,
        "train/nested/part-1.jsonl",
        b"{\"t\":1}\n{\"t\":2}\n",
    );
    write(&data, "README.md", b"# data\n");
    let d = data.to_str().unwrap();
    let out = ok(
        &dir,
        &[
            "--json",
            "dataset",
            "register",
            "--dataset-id",
            "imdb",
            "--path",
            d,
            "--version",
            "1.0",
            "--source",
            "https://example.com/imdb",
            "--license",
            "CC-BY-4.0",
            "--preprocessing",
            r#"{"lower":true}"#,
            "--owner",
            "data-team",
        ],
    );
    let r = parse(&out);
    let index = r.get("index").unwrap().clone();
    let shown = parse(&ok(
        &dir,
        &["--json", "show", &json::to_json_string(&index)],
    ));
    assert_eq!(
        shown.get("event_type").unwrap().as_str(),
        Some("DatasetRegistered")
    );
    assert_eq!(
        shown.get("system").unwrap().as_str(),
        Some("data_engineering")
    );
    assert_eq!(shown.get("actor").unwrap().as_str(), Some("data-team"));
    let det = shown.get("details").unwrap();
    let expect_hash = hash(&data);
    assert_eq!(
        det.get("content_hash").unwrap().as_str(),
        Some(expect_hash.as_str())
    );
    for (k, v) in [
        ("rows", "4"),
        ("files", "3"),
        ("version", "\"1.0\""),
        ("owner", "\"data-team\""),
    ] {
        assert_eq!(json::to_json_string(det.get(k).unwrap()), v, "{k}");
    }
    assert_eq!(
        json::to_json_string(det.get("preprocessing").unwrap()),
        r#"{"lower":true}"#
    );
    assert_eq!(det.get("pii_residual_risk"), Some(&JsonValue::Null));
    assert!(matches!(det.get("manifest"), Some(JsonValue::Array(a)) if a.len() == 3));

    // Unchanged: exit 0.
    let v = ok(
        &dir,
        &["dataset", "verify", "--dataset-id", "imdb", "--path", d],
    );
    assert!(v.starts_with("OK:"), "{v}");

    // One file changed, one added (nested), one removed: exit 1, each named.
    write(&data, "train/part-0.csv", b"text,label\nfoo,1\nbaz,0\n");
    write(&data, "train/nested/deeper/extra.txt", b"new");
    fs::remove_file(data.join("README.md")).unwrap();
    let o = tlog(
        &dir,
        &["dataset", "verify", "--dataset-id", "imdb", "--path", d],
    );
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("changed: train/part-0.csv"), "{text}");
    assert!(
        text.contains("added:   train/nested/deeper/extra.txt"),
        "{text}"
    );
    assert!(text.contains("removed: README.md"), "{text}");
    let o = tlog(
        &dir,
        &[
            "--json",
            "dataset",
            "verify",
            "--dataset-id",
            "imdb",
            "--path",
            d,
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let j = parse(String::from_utf8_lossy(&o.stdout).lines().next().unwrap());
    assert_eq!(j.get("ok"), Some(&JsonValue::Bool(false)));
    assert_eq!(
        json::to_json_string(j.get("removed").unwrap()),
        r#"["README.md"]"#
    );

    // A re-registration becomes the reference.
    ok(
        &dir,
        &[
            "dataset",
            "register",
            "--dataset-id",
            "imdb",
            "--path",
            d,
            "--version",
            "1.1",
            "--source",
            "s",
        ],
    );
    ok(
        &dir,
        &["dataset", "verify", "--dataset-id", "imdb", "--path", d],
    );
    // Unknown dataset: exit 1.
    let o = tlog(
        &dir,
        &["dataset", "verify", "--dataset-id", "nope", "--path", d],
    );
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn bad_register_input_is_a_usage_error_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    ok(&dir, &["init", "--origin", "example.com/ds"]);
    write(tmp.path(), "data/a", b"a");
    let d = tmp.path().join("data");
    let d = d.to_str().unwrap();
    let base = ["dataset", "register", "--dataset-id", "x", "--path"];
    for extra in [
        vec!["--version", "1"], // no --source
        vec!["--version", "1", "--source", "s", "--preprocessing", "[1]"], // not an object
        vec!["--version", "1", "--source", "s", "--preprocessing", "{bad"], // not JSON
        vec![
            "--version",
            "1",
            "--source",
            "s",
            "--datasheet-url",
            "not a url",
        ], // URL
    ] {
        let mut args: Vec<&str> = base.to_vec();
        args.push(d);
        args.extend(extra.iter());
        let o = tlog(&dir, &args);
        assert_eq!(o.status.code(), Some(2), "{extra:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
    let missing = tmp.path().join("missing");
    let o = tlog(
        &dir,
        &[
            "dataset",
            "register",
            "--dataset-id",
            "x",
            "--path",
            missing.to_str().unwrap(),
            "--version",
            "1",
            "--source",
            "s",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(ok(&dir, &["list"]), "", "nothing was written");
}
