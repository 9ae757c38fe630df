//! Dataset content hashes (`merkle-sha256`, `spec/dataset.md`) and their comparison.
//!
//! [`list_files`] walks a file or directory (refusing links and other non-regular entries,
//! spec step 1), [`hash_files`] streams every file through SHA-256 on [`HASH_THREADS`]
//! threads while reporting progress, and [`content_hash`] builds the RFC 6962 Merkle root
//! over the leaves `path ‖ 0x00 ‖ size_be64 ‖ SHA-256(content)` (steps 2–5). [`diff`]
//! compares a recorded manifest with the files on disk.
//!
//! Row counts (`.csv`/`.tsv`: lines after the header; `.jsonl`: non-empty lines) are
//! computed in the same pass; they are informational and not part of the hash.
//!
//! Out of scope: remote datasets (`hf:` ids, object stores); the CLI hashes what is on disk.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::core::hash::{empty_root, hex_decode, hex_encode, leaf_hash, Hash};
use crate::core::json::{JsonNumber, JsonValue};
use crate::core::merkle::Frontier;

/// Prefix of a content hash string (spec step 5).
pub const CONTENT_HASH_PREFIX: &str = "merkle-sha256:";
/// Datasets of at most this many files record a `manifest` (`spec/dataset.md`).
pub const MAX_MANIFEST_FILES: usize = 10_000;
/// Most files a dataset may have (bounds the in-memory file list: ~100 bytes a file).
pub const MAX_DATASET_FILES: usize = 10_000_000;
/// Threads hashing files in parallel.
pub const HASH_THREADS: usize = 2;
/// Bytes read from a file at a time.
pub const READ_BUFFER_BYTES: usize = 1 << 20;
/// Deepest directory nesting walked.
pub const MAX_DIR_DEPTH: usize = 256;

/// Why a dataset could not be hashed or compared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatasetError {
    /// A file or directory could not be read.
    #[error("{path}: {message}")]
    Io {
        /// The path.
        path: String,
        /// What failed.
        message: String,
    },
    /// An entry that is not a regular file or directory (spec step 1).
    #[error("{path} is a {kind}; a dataset may hold only regular files and directories")]
    NotRegular {
        /// The path.
        path: String,
        /// What it is (`symbolic link`, `socket`, ...).
        kind: &'static str,
    },
    /// A relative path that is not UTF-8 (spec step 1).
    #[error("{0} is not a UTF-8 path")]
    NotUtf8(String),
    /// More files than [`MAX_DATASET_FILES`] or deeper than [`MAX_DIR_DEPTH`].
    #[error("{0}")]
    TooLarge(String),
    /// A recorded manifest or content hash is malformed.
    #[error("recorded manifest: {0}")]
    BadManifest(String),
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> DatasetError {
    DatasetError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// A file of the dataset, before hashing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetFile {
    /// Relative path, components joined by `/` (spec step 1).
    pub path: String,
    /// Where it is on disk.
    pub abs: PathBuf,
    /// Its size when listed (for the progress total; the hash uses the bytes read).
    pub size: u64,
}

/// A hashed file: one leaf of the content hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDigest {
    /// Relative path.
    pub path: String,
    /// Number of bytes hashed.
    pub size: u64,
    /// SHA-256 of the content.
    pub sha256: [u8; 32],
    /// Rows, for `.csv`, `.tsv` and `.jsonl` files.
    pub rows: Option<u64>,
}

impl FileDigest {
    /// The leaf bytes: `path_utf8 ‖ 0x00 ‖ size (u64 big-endian) ‖ SHA-256(content)` (step 3).
    pub fn leaf(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.path.len() + 41);
        v.extend_from_slice(self.path.as_bytes());
        v.push(0);
        v.extend_from_slice(&self.size.to_be_bytes());
        v.extend_from_slice(&self.sha256);
        v
    }
}

fn kind_of(ft: &fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_symlink() {
        "symbolic link"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_fifo() {
        "named pipe"
    } else if ft.is_block_device() || ft.is_char_device() {
        "device"
    } else {
        "non-regular file"
    }
}

/// Lists the files of the dataset at `root`, sorted by the bytes of their relative path
/// (spec steps 1–2). A regular file is a one-file dataset named by its file name.
pub fn list_files(root: &Path) -> Result<Vec<DatasetFile>, DatasetError> {
    let meta = fs::metadata(root).map_err(|e| io_err(root, e))?;
    if meta.is_file() {
        let name = root
            .file_name()
            .ok_or_else(|| io_err(root, "has no file name"))?
            .to_str()
            .ok_or_else(|| DatasetError::NotUtf8(root.display().to_string()))?;
        return Ok(vec![DatasetFile {
            path: name.to_string(),
            abs: root.to_path_buf(),
            size: meta.len(),
        }]);
    }
    if !meta.is_dir() {
        return Err(DatasetError::NotRegular {
            path: root.display().to_string(),
            kind: kind_of(&meta.file_type()),
        });
    }
    let mut out = Vec::new();
    // (directory on disk, its relative path, depth)
    let mut stack: Vec<(PathBuf, String, usize)> = vec![(root.to_path_buf(), String::new(), 0)];
    while let Some((dir, rel, depth)) = stack.pop() {
        if depth > MAX_DIR_DEPTH {
            return Err(DatasetError::TooLarge(format!(
                "{} is nested deeper than {MAX_DIR_DEPTH} directories",
                dir.display()
            )));
        }
        for entry in fs::read_dir(&dir).map_err(|e| io_err(&dir, e))? {
            let entry = entry.map_err(|e| io_err(&dir, e))?;
            let abs = entry.path();
            let name = entry
                .file_name()
                .into_string()
                .map_err(|_| DatasetError::NotUtf8(abs.display().to_string()))?;
            let path = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            // file_type() does not follow symbolic links.
            let ft = entry.file_type().map_err(|e| io_err(&abs, e))?;
            if ft.is_dir() {
                stack.push((abs, path, depth + 1));
            } else if ft.is_file() {
                let size = entry.metadata().map_err(|e| io_err(&abs, e))?.len();
                if out.len() >= MAX_DATASET_FILES {
                    return Err(DatasetError::TooLarge(format!(
                        "{} holds more than {MAX_DATASET_FILES} files",
                        root.display()
                    )));
                }
                out.push(DatasetFile { path, abs, size });
            } else {
                return Err(DatasetError::NotRegular {
                    path: abs.display().to_string(),
                    kind: kind_of(&ft),
                });
            }
        }
    }
    out.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    Ok(out)
}

/// What kind of row count a file gets, by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RowKind {
    /// `.csv`, `.tsv`: lines after the header.
    Table,
    /// `.jsonl`: non-empty lines.
    JsonLines,
}

fn row_kind(path: &str) -> Option<RowKind> {
    let lower = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    if lower.ends_with(".csv") || lower.ends_with(".tsv") {
        Some(RowKind::Table)
    } else if lower.ends_with(".jsonl") {
        Some(RowKind::JsonLines)
    } else {
        None
    }
}

/// Counts rows in a stream of chunks.
#[derive(Debug, Default)]
struct RowCounter {
    /// Completed lines (table) or completed non-empty lines (JSON lines).
    lines: u64,
    /// The current line has a byte (table) / a non-blank byte (JSON lines).
    open: bool,
}

impl RowCounter {
    fn feed(&mut self, kind: RowKind, chunk: &[u8]) {
        for &b in chunk {
            if b == b'\n' {
                if kind == RowKind::Table || self.open {
                    self.lines += 1;
                }
                self.open = false;
            } else if kind == RowKind::Table || !matches!(b, b' ' | b'\t' | b'\r') {
                self.open = true;
            }
        }
    }

    fn finish(self, kind: RowKind) -> u64 {
        let lines = self.lines + u64::from(self.open);
        match kind {
            RowKind::Table => lines.saturating_sub(1),
            RowKind::JsonLines => lines,
        }
    }
}

/// Streams one file through SHA-256, adding each chunk's length to `progress`.
pub fn hash_file(
    file: &DatasetFile,
    progress: &AtomicU64,
    stop: &AtomicBool,
) -> Result<FileDigest, DatasetError> {
    let mut f = File::open(&file.abs).map_err(|e| io_err(&file.abs, e))?;
    let kind = row_kind(&file.path);
    let mut rows = RowCounter::default();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; READ_BUFFER_BYTES];
    let mut size = 0u64;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Err(io_err(&file.abs, "stopped"));
        }
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(&file.abs, e)),
        };
        h.update(&buf[..n]);
        if let Some(k) = kind {
            rows.feed(k, &buf[..n]);
        }
        size += n as u64;
        progress.fetch_add(n as u64, Ordering::Relaxed);
    }
    Ok(FileDigest {
        path: file.path.clone(),
        size,
        sha256: h.finalize().into(),
        rows: kind.map(|k| rows.finish(k)),
    })
}

/// Hashes `files` on [`HASH_THREADS`] threads, in their order. `on_progress(bytes_done)`
/// is called from the calling thread about ten times a second.
pub fn hash_files(
    files: &[DatasetFile],
    on_progress: &mut dyn FnMut(u64),
) -> Result<Vec<FileDigest>, DatasetError> {
    let next = AtomicUsize::new(0);
    let done = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let mut slots: Vec<Option<FileDigest>> = vec![None; files.len()];
    let (tx, rx) = mpsc::channel::<(usize, Result<FileDigest, DatasetError>)>();
    let mut first_err = None;
    std::thread::scope(|scope| {
        for _ in 0..HASH_THREADS.min(files.len().max(1)) {
            let tx = tx.clone();
            let (next, done, stop) = (&next, &done, &stop);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= files.len() || stop.load(Ordering::Relaxed) {
                    break;
                }
                let r = hash_file(&files[i], done, stop);
                if tx.send((i, r)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok((i, Ok(d))) => slots[i] = Some(d),
                Ok((_, Err(e))) => {
                    stop.store(true, Ordering::Relaxed);
                    first_err.get_or_insert(e);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            on_progress(done.load(Ordering::Relaxed));
        }
    });
    if let Some(e) = first_err {
        return Err(e);
    }
    slots
        .into_iter()
        .enumerate()
        .map(|(i, d)| d.ok_or_else(|| io_err(&files[i].abs, "was not hashed")))
        .collect()
}

/// The content hash of hashed files, in the order given (spec steps 4–5):
/// `"merkle-sha256:" + hex(MTH(leaves))`, `SHA-256("")` for no files.
pub fn content_hash(files: &[FileDigest]) -> String {
    let root = if files.is_empty() {
        empty_root()
    } else {
        let mut f = Frontier::new();
        let mut scratch = Vec::new();
        for d in files {
            scratch.clear();
            // leaf hash = SHA-256(0x00 ‖ leaf) (RFC 6962 §2.1)
            f.append(leaf_hash(&d.leaf()), &mut scratch);
        }
        f.root()
    };
    format!("{CONTENT_HASH_PREFIX}{}", root.to_hex())
}

/// A dataset on disk, hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetDigest {
    /// `merkle-sha256:<hex>`.
    pub content_hash: String,
    /// Every file, sorted.
    pub files: Vec<FileDigest>,
    /// Total bytes.
    pub bytes: u64,
    /// Total rows over `.csv`, `.tsv` and `.jsonl` files.
    pub rows: u64,
}

impl DatasetDigest {
    /// The `manifest` of `spec/dataset.md`: `[[path, size, sha256hex], ...]`, or `None`
    /// for datasets of more than [`MAX_MANIFEST_FILES`] files.
    pub fn manifest(&self) -> Option<JsonValue> {
        (self.files.len() <= MAX_MANIFEST_FILES).then(|| {
            JsonValue::Array(
                self.files
                    .iter()
                    .map(|f| {
                        JsonValue::Array(vec![
                            JsonValue::String(f.path.clone()),
                            JsonValue::Number(JsonNumber::Int(i128::from(f.size))),
                            JsonValue::String(hex_encode(&f.sha256)),
                        ])
                    })
                    .collect(),
            )
        })
    }
}

/// Lists and hashes the dataset at `root` (see [`hash_files`] for `on_progress`, which
/// also receives the total size).
pub fn hash_dataset(
    root: &Path,
    on_progress: &mut dyn FnMut(u64, u64),
) -> Result<DatasetDigest, DatasetError> {
    let files = list_files(root)?;
    let total: u64 = files.iter().map(|f| f.size).sum();
    let digests = hash_files(&files, &mut |done| on_progress(done, total))?;
    Ok(DatasetDigest {
        content_hash: content_hash(&digests),
        bytes: digests.iter().map(|d| d.size).sum(),
        rows: digests.iter().filter_map(|d| d.rows).sum(),
        files: digests,
    })
}

/// One recorded manifest line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    /// Relative path.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the content.
    pub sha256: [u8; 32],
}

/// Parses a recorded `manifest` (untrusted: it comes from the log).
pub fn parse_manifest(v: &JsonValue) -> Result<Vec<ManifestEntry>, DatasetError> {
    let bad = |m: String| DatasetError::BadManifest(m);
    let JsonValue::Array(items) = v else {
        return Err(bad("not a list".into()));
    };
    if items.len() > MAX_MANIFEST_FILES {
        return Err(bad(format!("more than {MAX_MANIFEST_FILES} entries")));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, it)| match it {
            JsonValue::Array(t) if t.len() == 3 => {
                let path = t[0]
                    .as_str()
                    .ok_or_else(|| bad(format!("entry {i}: path is not a string")))?;
                let size = match &t[1] {
                    JsonValue::Number(JsonNumber::Int(n)) => u64::try_from(*n).ok(),
                    _ => None,
                }
                .ok_or_else(|| bad(format!("entry {i}: size is not a non-negative integer")))?;
                let sha = t[2]
                    .as_str()
                    .and_then(hex_decode)
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .ok_or_else(|| bad(format!("entry {i}: sha256 is not 64 hex digits")))?;
                Ok(ManifestEntry {
                    path: path.to_string(),
                    size,
                    sha256: sha,
                })
            }
            _ => Err(bad(format!("entry {i} is not [path, size, sha256]"))),
        })
        .collect()
}

/// How the files on disk differ from a recorded manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatasetDiff {
    /// In both, with a different size or content.
    pub changed: Vec<String>,
    /// On disk only.
    pub added: Vec<String>,
    /// In the manifest only.
    pub removed: Vec<String>,
}

impl DatasetDiff {
    /// True when nothing differs.
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.added.is_empty() && self.removed.is_empty()
    }
}

/// Compares a recorded manifest with hashed files (both in any order).
pub fn diff(recorded: &[ManifestEntry], now: &[FileDigest]) -> DatasetDiff {
    use std::collections::BTreeMap;
    let old: BTreeMap<&str, (u64, [u8; 32])> = recorded
        .iter()
        .map(|e| (e.path.as_str(), (e.size, e.sha256)))
        .collect();
    let new: BTreeMap<&str, (u64, [u8; 32])> = now
        .iter()
        .map(|d| (d.path.as_str(), (d.size, d.sha256)))
        .collect();
    let mut out = DatasetDiff::default();
    for (p, v) in &new {
        match old.get(p) {
            None => out.added.push(p.to_string()),
            Some(o) if o != v => out.changed.push(p.to_string()),
            Some(_) => {}
        }
    }
    for p in old.keys() {
        if !new.contains_key(p) {
            out.removed.push(p.to_string());
        }
    }
    out
}

/// Parses a `merkle-sha256:<64 hex>` content hash.
pub fn parse_content_hash(s: &str) -> Result<Hash, DatasetError> {
    s.strip_prefix(CONTENT_HASH_PREFIX)
        .and_then(Hash::from_hex)
        .ok_or_else(|| {
            DatasetError::BadManifest(format!(
                "content_hash {s:?} is not {CONTENT_HASH_PREFIX}<64 hex digits>"
            ))
        })
}
