//! Where a run's high-water mark lives outside the database, and the lock that
//! keeps a second agent off a running run.
//!
//! For an SQLite journal `agent.sqlite`, run `R` keeps:
//! * `agent.sqlite.R.mark`: its last input and chain value, rewritten in place
//!   after every committed batch — a database file truncated, replaced by an
//!   older copy, or with its `-wal` lost cannot take this file with it;
//! * `agent.sqlite.R.lock`: held with an exclusive file lock (and holding the
//!   holder's pid) while an agent runs `R`.
//!
//! PostgreSQL keeps the mark in its `run_marks` row (written in the batch's own
//! transaction) and the lock as a session advisory lock.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::chain::{from_hex, to_hex, ChainHash};

/// A run's last journaled input and the chain value after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    /// The input's sequence number.
    pub seq: i64,
    /// The chain value after it.
    pub chain: ChainHash,
}

/// Fixed size of a mark file: rewritten in place, never truncated, so a crash
/// mid-write cannot leave it empty.
const MARK_SIZE: usize = 256;

/// A run id as a file-name part: letters, digits, `-`, `_`, `.` kept, anything
/// else as `_xx` hex.
fn file_part(run_id: &str) -> String {
    let mut s = String::with_capacity(run_id.len());
    for b in run_id.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.' {
            s.push(b as char);
        } else {
            s.push_str(&format!("_{b:02x}"));
        }
    }
    s
}

/// The mark file of `run_id` in the SQLite journal at `db`.
pub fn mark_path(db: &Path, run_id: &str) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(format!(".{}.mark", file_part(run_id)));
    PathBuf::from(p)
}

/// The lock file of `run_id` in the SQLite journal at `db`.
pub fn lock_path(db: &Path, run_id: &str) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(format!(".{}.lock", file_part(run_id)));
    PathBuf::from(p)
}

/// Writes the mark in place (no fsync per batch: the journal itself commits
/// with `synchronous=NORMAL`; [`sync_mark`] makes it durable at shutdown).
pub fn write_mark(path: &Path, run_id: &str, mark: &Mark) -> std::io::Result<()> {
    let text = format!(
        "vigil-mark 1\n{}\n{}\n{}\n",
        file_part(run_id),
        mark.seq,
        to_hex(&mark.chain)
    );
    let mut buf = text.into_bytes();
    if buf.len() > MARK_SIZE {
        return Err(std::io::Error::other("run id too long for a mark file"));
    }
    buf.resize(MARK_SIZE, b' ');
    let mut f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    f.seek(SeekFrom::Start(0))?;
    f.write_all(&buf)
}

/// Flushes a mark file to disk.
pub fn sync_mark(path: &Path) -> std::io::Result<()> {
    File::options().write(true).open(path)?.sync_all()
}

/// Reads a mark file: `Ok(None)` when there is none, an error naming the file
/// when it is unreadable.
pub fn read_mark(path: &Path) -> Result<Option<Mark>, String> {
    let mut text = String::new();
    match File::open(path) {
        Ok(mut f) => f
            .read_to_string(&mut text)
            .map_err(|e| format!("{}: {e}", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let lines: Vec<&str> = text.lines().collect();
    let bad = || format!("{}: not a vigil mark file", path.display());
    if lines.len() < 4 || lines[0] != "vigil-mark 1" {
        return Err(bad());
    }
    let seq = lines[2].trim().parse().map_err(|_| bad())?;
    let chain = from_hex(lines[3].trim()).ok_or_else(bad)?;
    Ok(Some(Mark { seq, chain }))
}

/// An exclusive lock on a lock file, released when dropped.
#[derive(Debug)]
pub struct FileLock {
    _file: File,
}

/// Takes the lock at `path` without waiting; `Err(Some(pid))` or `Err(None)`
/// (pid unknown) when another process holds it.
pub fn try_lock(path: &Path) -> std::io::Result<Result<FileLock, Option<u32>>> {
    let mut file = File::options()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            write!(file, "{}", std::process::id())?;
            Ok(Ok(FileLock { _file: file }))
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            Ok(Err(text.trim().parse().ok()))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_round_trips_and_is_rewritten_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let p = mark_path(&dir.path().join("j.sqlite"), "a run/1");
        assert!(p.to_string_lossy().ends_with("j.sqlite.a_20run_2f1.mark"));
        assert_eq!(read_mark(&p), Ok(None));
        let m = Mark {
            seq: 795,
            chain: [7; 32],
        };
        write_mark(&p, "a run/1", &m).unwrap();
        write_mark(&p, "a run/1", &Mark { seq: 3, ..m }).unwrap();
        assert_eq!(read_mark(&p), Ok(Some(Mark { seq: 3, ..m })));
        assert_eq!(std::fs::metadata(&p).unwrap().len(), MARK_SIZE as u64);
        std::fs::write(&p, "garbage").unwrap();
        assert!(read_mark(&p).unwrap_err().contains("not a vigil mark file"));
    }

    #[test]
    fn a_second_lock_is_refused_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let p = lock_path(&dir.path().join("j.sqlite"), "r");
        let held = try_lock(&p).unwrap().unwrap();
        assert_eq!(try_lock(&p).unwrap().unwrap_err(), Some(std::process::id()));
        drop(held);
        assert!(try_lock(&p).unwrap().is_ok());
    }
}
