//! The data folder: where a log keeps its database, its key and its mirror.
//!
//! ```text
//! <dir>/db/                 RocksDB (see `storage`)
//! <dir>/log.key             the signing key, Go note format `PRIVATE+KEY+<origin>+...` (mode 0600)
//! <dir>/log.vkey            the verifier key (public)
//! <dir>/audit_trail.jsonl   the JSONL mirror (unless AUDIT_LOG_PATH says otherwise)
//! ```
//!
//! Secrets are written with mode 0600 from the moment the file exists, never printed, never
//! logged.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::core::note::{parse_signer_key, Ed25519Signer};
use crate::log::{Log, LogConfig};
use crate::storage::rocks::RocksStore;

/// Default data folder.
pub const DEFAULT_DIR: &str = "./tlog-data";
/// Default mirror file name inside the data folder.
pub const MIRROR_FILE: &str = "audit_trail.jsonl";
/// Environment variable that overrides the mirror path (as in the seed).
pub const AUDIT_LOG_PATH_ENV: &str = "AUDIT_LOG_PATH";
/// Largest key file accepted.
const MAX_KEY_FILE: u64 = 4096;

/// Errors about the data folder, phrased for the person at the terminal.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// No key in the folder.
    #[error("{0} is not an initialised data folder (run `tlog init --dir {0} --origin ORIGIN`)")]
    NotInitialised(String),
    /// `init` on an initialised folder.
    #[error("{0} is already initialised (its key is {1})")]
    AlreadyInitialised(String, String),
    /// A file could not be read or written.
    #[error("{path}: {message}")]
    Io {
        /// The path.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The key file is unusable.
    #[error("key file {path}: {message}")]
    BadKey {
        /// The path.
        path: String,
        /// What is wrong (never the key itself).
        message: String,
    },
    /// The log could not be opened.
    #[error("{0}")]
    Log(#[from] crate::log::LogError),
}

fn io_err(path: &Path, e: std::io::Error) -> DataDirError {
    DataDirError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// A data folder.
#[derive(Debug, Clone)]
pub struct DataDir {
    /// The folder.
    pub path: PathBuf,
}

impl DataDir {
    /// The folder at `path` (nothing is read yet).
    pub fn new(path: impl Into<PathBuf>) -> DataDir {
        DataDir { path: path.into() }
    }

    /// Path of the signing key.
    pub fn key_path(&self) -> PathBuf {
        self.path.join("log.key")
    }

    /// Path of the verifier key.
    pub fn vkey_path(&self) -> PathBuf {
        self.path.join("log.vkey")
    }

    /// Path of the database.
    pub fn db_path(&self) -> PathBuf {
        self.path.join("db")
    }

    /// Path of the mirror: `$AUDIT_LOG_PATH` if set, else `<dir>/audit_trail.jsonl`.
    pub fn mirror_path(&self) -> PathBuf {
        match std::env::var_os(AUDIT_LOG_PATH_ENV) {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => self.path.join(MIRROR_FILE),
        }
    }

    /// Whether the folder has a key.
    pub fn is_initialised(&self) -> bool {
        self.key_path().exists()
    }

    /// Creates the folder and a fresh Ed25519 key for `origin`; returns the verifier key.
    pub fn init(&self, origin: &str) -> Result<String, DataDirError> {
        let mut seed = [0u8; 32];
        crate::os::fill_random(&mut seed);
        let signer = Ed25519Signer::from_seed(origin, &seed).map_err(|e| DataDirError::BadKey {
            path: self.key_path().display().to_string(),
            message: format!("origin {origin:?} is not a valid key name: {e}"),
        });
        seed.fill(0);
        let signer = signer?;
        if self.is_initialised() {
            let vkey = fs::read_to_string(self.vkey_path()).unwrap_or_default();
            return Err(DataDirError::AlreadyInitialised(
                self.path.display().to_string(),
                vkey.trim().to_string(),
            ));
        }
        fs::create_dir_all(&self.path).map_err(|e| io_err(&self.path, e))?;
        let _ = fs::set_permissions(&self.path, fs::Permissions::from_mode(0o700));
        write_secret(&self.key_path(), &signer.to_signer_string())?;
        let vkey = signer.to_vkey();
        fs::write(self.vkey_path(), format!("{vkey}\n"))
            .map_err(|e| io_err(&self.vkey_path(), e))?;
        // Create the database and record the origin now, so `init` fails loudly if it can't.
        let store = RocksStore::open(&self.db_path()).map_err(crate::log::LogError::from)?;
        let log = Log::open(Arc::new(store), signer, LogConfig::default())?;
        log.close();
        Ok(vkey)
    }

    /// Loads the signing key, refusing a key file others can read.
    pub fn load_signer(&self) -> Result<Ed25519Signer, DataDirError> {
        let path = self.key_path();
        let meta = match fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(DataDirError::NotInitialised(
                    self.path.display().to_string(),
                ))
            }
            Err(e) => return Err(io_err(&path, e)),
        };
        let bad = |message: String| DataDirError::BadKey {
            path: path.display().to_string(),
            message,
        };
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(bad(format!(
                "readable by other users (mode {:o}); run `chmod 600 {}`",
                meta.permissions().mode() & 0o777,
                path.display()
            )));
        }
        if meta.len() > MAX_KEY_FILE {
            return Err(bad("too large to be a key".into()));
        }
        let text = fs::read_to_string(&path).map_err(|e| io_err(&path, e))?;
        parse_signer_key(text.trim())
            .map_err(|_| bad("not a PRIVATE+KEY+... Ed25519 signer key".into()))
    }

    /// Rewrites every stored table of the log with the current storage options (a full
    /// RocksDB compaction): logs written by older versions get, e.g., the hash table's
    /// 4 KiB blocks. Needs the folder to itself (not while `tlog serve` runs on it).
    /// Returns the database's size in bytes before and after.
    pub fn compact(&self) -> Result<(u64, u64), DataDirError> {
        // Needs no key, only a log: the same refusal as every other command's.
        if !self.is_initialised() {
            return Err(DataDirError::NotInitialised(
                self.path.display().to_string(),
            ));
        }
        let db = self.db_path();
        let before = dir_bytes(&db)?;
        let store = RocksStore::open(&db).map_err(crate::log::LogError::from)?;
        for table in crate::storage::Table::ALL {
            store.compact(table);
        }
        drop(store);
        Ok((before, dir_bytes(&db)?))
    }

    /// Opens the log (the folder must be initialised).
    pub fn open_log(&self, config: LogConfig) -> Result<Log, DataDirError> {
        let signer = self.load_signer()?;
        let store = RocksStore::open(&self.db_path()).map_err(crate::log::LogError::from)?;
        Ok(Log::open(Arc::new(store), signer, config)?)
    }
}

/// Total size of the files directly in `dir` (a RocksDB folder has no subfolders).
fn dir_bytes(dir: &Path) -> Result<u64, DataDirError> {
    let mut total = 0;
    for e in fs::read_dir(dir).map_err(|e| io_err(dir, e))? {
        let meta = e.and_then(|e| e.metadata()).map_err(|e| io_err(dir, e))?;
        if meta.is_file() {
            total += meta.len();
        }
    }
    Ok(total)
}

/// Writes a secret to a new file created with mode 0600 (never briefly world-readable).
pub fn write_secret(path: &Path, content: &str) -> Result<(), DataDirError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io_err(path, e))?;
    f.write_all(content.as_bytes())
        .and_then(|_| f.write_all(b"\n"))
        .and_then(|_| f.sync_all())
        .map_err(|e| io_err(path, e))
}
