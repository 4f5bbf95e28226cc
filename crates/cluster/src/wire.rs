//! What travels between the coordinator and the workers, and the content
//! hashes that tie a job to its files.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use vigil_backtest::sweep::SweepRow;
use vigil_backtest::LoadedConfig;

use crate::ClusterError;

/// A file a job needs: its path relative to the root, and its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileHash {
    /// Path relative to the root, `/`-separated.
    pub path: String,
    /// SHA-256 of its bytes, 64 hex digits.
    pub sha256: String,
}

/// What a job runs on: the base backtest config and every file it reads, by
/// content hash, relative to the root (a worker's own `--root`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The base backtest config.
    pub config: FileHash,
    /// Bar, mark, grade, signal and funding files, an LLM tape.
    pub data: Vec<FileHash>,
}

/// SHA-256 of a file, read in 1 MiB pieces.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

fn relative(path: &Path, root: &Path) -> Result<String, ClusterError> {
    let real = path
        .canonicalize()
        .map_err(|e| ClusterError::Files(format!("{}: {e}", path.display())))?;
    let rel = real.strip_prefix(root).map_err(|_| {
        ClusterError::Files(format!(
            "{}: outside the cluster root {} (workers find files by their path below it; use --root)",
            real.display(),
            root.display()
        ))
    })?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    Ok(parts.join("/"))
}

impl Manifest {
    /// The manifest of `base` under `root` (canonical): every file must be
    /// below it.
    pub fn of(base: &LoadedConfig, root: &Path) -> Result<Manifest, ClusterError> {
        let hash = |p: &Path| -> Result<FileHash, ClusterError> {
            Ok(FileHash {
                path: relative(p, root)?,
                sha256: sha256_file(p)
                    .map_err(|e| ClusterError::Files(format!("{}: {e}", p.display())))?,
            })
        };
        let files = base
            .data_files()
            .map_err(vigil_backtest::BacktestError::from)?;
        Ok(Manifest {
            config: hash(base.path())?,
            data: files.iter().map(|p| hash(p)).collect::<Result<_, _>>()?,
        })
    }
}

/// A worker's check of a manifest against its files, remembering hashes by
/// path, size and modification time so a big file is read once, not once
/// per job.
#[derive(Default)]
pub struct Checker {
    known: HashMap<PathBuf, (u64, Option<SystemTime>, String)>,
}

impl Checker {
    /// The config's path under `root` if every file is there with the hash
    /// the manifest names; otherwise which file differs and how.
    pub fn check(&mut self, manifest: &Manifest, root: &Path) -> Result<PathBuf, String> {
        for f in std::iter::once(&manifest.config).chain(&manifest.data) {
            if f.path.split('/').any(|p| p == "..") || Path::new(&f.path).is_absolute() {
                return Err(format!("{}: not a path below the root", f.path));
            }
            let path = root.join(&f.path);
            let found = self
                .hash(&path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            if found != f.sha256 {
                return Err(format!(
                    "{}: SHA-256 {found}, the job's is {} (another version of the data)",
                    path.display(),
                    f.sha256
                ));
            }
        }
        Ok(root.join(&manifest.config.path))
    }

    fn hash(&mut self, path: &Path) -> std::io::Result<String> {
        let meta = std::fs::metadata(path)?;
        let stamp = (meta.len(), meta.modified().ok());
        if let Some((len, modified, h)) = self.known.get(path) {
            if (*len, *modified) == stamp {
                return Ok(h.clone());
            }
        }
        let h = sha256_file(path)?;
        self.known
            .insert(path.to_path_buf(), (stamp.0, stamp.1, h.clone()));
        Ok(h)
    }
}

/// One job: parameter sets `first`, `first + 1`, … of run `run`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// The sweep run it belongs to.
    pub run: String,
    /// Its number within the run.
    pub job: u32,
    /// The files it runs on.
    pub manifest: Manifest,
    /// Index of its first set in the sweep.
    pub first: usize,
    /// Its parameter sets, each a TOML table as text (exact for floats).
    pub sets: Vec<String>,
}

/// What a worker publishes for a job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobResult {
    /// The job ran: one row per set.
    Rows {
        /// The run.
        run: String,
        /// The job.
        job: u32,
        /// Which worker ran it.
        worker: String,
        /// Which delivery of the job this was (1: the first).
        delivered: i64,
        /// Its rows.
        rows: Vec<WireRow>,
    },
    /// The worker would not run it (its files differ, the config does not
    /// load): the job goes back to the queue for another worker.
    Refused {
        /// The run.
        run: String,
        /// The job.
        job: u32,
        /// Which worker refused it.
        worker: String,
        /// Why.
        reason: String,
    },
}

/// A sweep row on the wire: every float as its IEEE-754 bits, so the
/// coordinator computes from exactly the numbers the worker had.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WireRow {
    /// The set's index in the sweep.
    pub index: usize,
    /// Total return, Sharpe, Sortino, Calmar, max drawdown, profit factor
    /// and days, as `f64::to_bits`.
    pub metrics: [Option<u64>; 7],
    /// Closed trades.
    pub trades: Option<u64>,
    /// Why the set could not run.
    pub error: Option<String>,
    /// Daily returns, as `f64::to_bits`.
    pub daily_returns: Vec<u64>,
}

impl WireRow {
    /// The wire form of a row.
    pub fn of(r: &SweepRow) -> WireRow {
        let b = |v: Option<f64>| v.map(f64::to_bits);
        WireRow {
            index: r.index,
            metrics: [
                b(r.total_return),
                b(r.sharpe),
                b(r.sortino),
                b(r.calmar),
                b(r.max_drawdown),
                b(r.profit_factor),
                b(r.days),
            ],
            trades: r.trades,
            error: r.error.clone(),
            daily_returns: r.daily_returns.iter().map(|v| v.to_bits()).collect(),
        }
    }

    /// The row, with the parameters the coordinator generated for it.
    pub fn into_row(self, params: serde_json::Value) -> SweepRow {
        let f = |v: Option<u64>| v.map(f64::from_bits);
        let [total_return, sharpe, sortino, calmar, max_drawdown, profit_factor, days] =
            self.metrics;
        SweepRow {
            index: self.index,
            params,
            total_return: f(total_return),
            sharpe: f(sharpe),
            sortino: f(sortino),
            calmar: f(calmar),
            max_drawdown: f(max_drawdown),
            profit_factor: f(profit_factor),
            trades: self.trades,
            days: f(days),
            error: self.error,
            daily_returns: self.daily_returns.into_iter().map(f64::from_bits).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_survives_the_wire_bit_for_bit() {
        let row = SweepRow {
            index: 7,
            params: serde_json::json!({"fast": 3}),
            total_return: Some(0.1 + 0.2),
            sharpe: Some(-1.234_567_890_123_456_7e-7),
            sortino: None,
            calmar: Some(f64::MIN_POSITIVE),
            max_drawdown: Some(0.3),
            profit_factor: Some(1.0 / 3.0),
            trades: Some(12),
            days: Some(30.0),
            error: None,
            daily_returns: vec![0.1, -2.5e-300, 1.0 / 7.0],
        };
        let text = serde_json::to_string(&WireRow::of(&row)).unwrap();
        let back: WireRow = serde_json::from_str(&text).unwrap();
        assert_eq!(back.into_row(row.params.clone()), row);
    }

    #[test]
    fn a_changed_file_is_named_with_both_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::write(root.join("a.csv"), "x").unwrap();
        std::fs::write(root.join("bt.toml"), "y").unwrap();
        let m = Manifest {
            config: FileHash {
                path: "bt.toml".into(),
                sha256: sha256_file(&root.join("bt.toml")).unwrap(),
            },
            data: vec![FileHash {
                path: "a.csv".into(),
                sha256: sha256_file(&root.join("a.csv")).unwrap(),
            }],
        };
        let mut c = Checker::default();
        assert_eq!(c.check(&m, &root).unwrap(), root.join("bt.toml"));
        std::fs::write(root.join("a.csv"), "changed").unwrap();
        let why = c.check(&m, &root).unwrap_err();
        assert!(
            why.contains("a.csv") && why.contains(&m.data[0].sha256),
            "{why}"
        );
        let mut escape = m.clone();
        escape.data[0].path = "../a.csv".into();
        assert!(c
            .check(&escape, &root)
            .unwrap_err()
            .contains("below the root"));
    }
}
