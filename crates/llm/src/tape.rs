//! The tape: one JSON line per model call — the request and its hash, the raw
//! response (or why there was none), model and fingerprint, latency, tokens,
//! and when. A backtest replays it; paper and live agents append to it.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::request::ChatRequest;

/// One recorded call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TapeEntry {
    /// The request's hash (the key).
    pub hash: String,
    /// The decision time (event time, RFC 3339).
    pub decided_at: String,
    /// The request.
    pub request: ChatRequest,
    /// The raw response, when there was one.
    #[serde(default)]
    pub response: Option<Value>,
    /// Why there was none.
    #[serde(default)]
    pub error: Option<String>,
    /// The model that answered.
    #[serde(default)]
    pub model: Option<String>,
    /// OpenAI's `system_fingerprint`.
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// How long the call took (retries included), ms.
    pub latency_ms: u64,
    /// Prompt tokens.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Completion tokens.
    #[serde(default)]
    pub completion_tokens: u64,
    /// When it was recorded (wall clock, RFC 3339).
    pub recorded_at: String,
}

/// A tape error, naming the file (and line).
#[derive(Debug, thiserror::Error)]
pub enum TapeError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A line is not a tape entry.
    #[error("{path}:{line}: not a tape entry: {message}")]
    Bad {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// A tape, indexed by request hash.
pub struct Tape {
    path: PathBuf,
    entries: HashMap<String, TapeEntry>,
    out: Option<File>,
}

impl Tape {
    /// Opens `path` (a missing file is an empty tape); `record` opens it for
    /// appending too.
    pub fn open(path: &Path, record: bool) -> Result<Tape, TapeError> {
        let io = |source| TapeError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut entries = HashMap::new();
        match File::open(path) {
            Ok(f) => {
                for (i, line) in BufReader::new(f).lines().enumerate() {
                    let line = line.map_err(io)?;
                    if line.trim().is_empty() {
                        continue;
                    }
                    let e: TapeEntry = serde_json::from_str(&line).map_err(|e| TapeError::Bad {
                        path: path.to_path_buf(),
                        line: i + 1,
                        message: e.to_string(),
                    })?;
                    // A later recording of the same request supersedes an earlier one.
                    entries.insert(e.hash.clone(), e);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        let out = if record {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
            Some(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(io)?,
            )
        } else {
            None
        };
        Ok(Tape {
            path: path.to_path_buf(),
            entries,
            out,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry for a request hash.
    pub fn get(&self, hash: &str) -> Option<&TapeEntry> {
        self.entries.get(hash)
    }

    /// Appends an entry (one line, flushed and synced before returning).
    pub fn append(&mut self, entry: TapeEntry) -> Result<(), TapeError> {
        let io = |source| TapeError::Io {
            path: self.path.clone(),
            source,
        };
        let Some(out) = self.out.as_mut() else {
            return Err(io(std::io::Error::other(
                "the tape is open for replay only",
            )));
        };
        let mut line = serde_json::to_string(&entry).map_err(|e| io(std::io::Error::other(e)))?;
        line.push('\n');
        out.write_all(line.as_bytes()).map_err(io)?;
        out.sync_data().map_err(io)?;
        self.entries.insert(entry.hash.clone(), entry);
        Ok(())
    }
}
