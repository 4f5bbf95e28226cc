//! The output file: what an earlier run left, and writing the new one whole.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use vigil_core::{Interval, Timestamp};

use crate::error::DataError;

/// The first and last row times of an existing output file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// First row's time.
    pub first: Timestamp,
    /// Last row's time.
    pub last: Timestamp,
}

fn row_time(line: &str, path: &Path, what: &str) -> Result<Timestamp, DataError> {
    let ts = line.split(',').next().unwrap_or("");
    Timestamp::parse_rfc3339(ts).map_err(|e| DataError::Output {
        path: path.to_path_buf(),
        message: format!("its {what} row does not start with an RFC 3339 time ({e}); it was not written by `vigil data download` — move it away"),
    })
}

/// Reads the span of an existing output file (`None` when there is none). Its
/// header must be `header`: a file of another shape is never appended to.
pub fn existing_span(path: &Path, header: &str) -> Result<Option<Span>, DataError> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(DataError::io(path, e)),
    };
    let mut reader = BufReader::new(&mut file);
    let (mut head, mut first) = (String::new(), String::new());
    reader
        .read_line(&mut head)
        .map_err(|e| DataError::io(path, e))?;
    reader
        .read_line(&mut first)
        .map_err(|e| DataError::io(path, e))?;
    if head != header {
        return Err(DataError::Output {
            path: path.to_path_buf(),
            message: format!(
                "its header is `{}`, expected `{}`; it was not written by `vigil data download` for this series — move it away",
                head.trim_end(),
                header.trim_end()
            ),
        });
    }
    if first.trim().is_empty() {
        return Ok(None);
    }
    let first = row_time(&first, path, "first")?;
    let last = row_time(&last_line(&mut file, path)?, path, "last")?;
    Ok(Some(Span { first, last }))
}

/// The file's last non-empty line (the file ends with a newline).
fn last_line(file: &mut File, path: &Path) -> Result<String, DataError> {
    let len = file
        .seek(SeekFrom::End(0))
        .map_err(|e| DataError::io(path, e))?;
    let back = len.min(4096);
    file.seek(SeekFrom::Start(len - back))
        .map_err(|e| DataError::io(path, e))?;
    let mut tail = String::new();
    file.read_to_string(&mut tail)
        .map_err(|e| DataError::io(path, e))?;
    if !tail.ends_with('\n') {
        return Err(DataError::Output {
            path: path.to_path_buf(),
            message: "it does not end with a newline (cut short?); move it away and download again"
                .into(),
        });
    }
    Ok(tail
        .trim_end()
        .rsplit('\n')
        .next()
        .unwrap_or("")
        .to_string())
}

/// Gaps seen while writing bars.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gaps {
    /// Places where bars are missing.
    pub gaps: u64,
    /// Bars missing in all.
    pub missing_bars: u64,
}

/// Writes the output file: a temporary file beside it, renamed over it once
/// complete, so no reader ever sees half a file.
pub struct OutputWriter {
    tmp: PathBuf,
    path: PathBuf,
    out: BufWriter<File>,
    prev: Option<Timestamp>,
    step: Option<Interval>,
    rows: u64,
    gaps: Gaps,
}

impl OutputWriter {
    /// Starts `path` with `header`; `step` is the bar interval (for counting
    /// gaps), `None` for funding rates.
    pub fn create(path: &Path, header: &str, step: Option<Interval>) -> Result<Self, DataError> {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let tmp = path.with_file_name(format!(".{name}.tmp"));
        let file = File::create(&tmp).map_err(|e| DataError::io(&tmp, e))?;
        let mut out = BufWriter::with_capacity(1 << 16, file);
        out.write_all(header.as_bytes())
            .map_err(|e| DataError::io(&tmp, e))?;
        Ok(OutputWriter {
            tmp,
            path: path.to_path_buf(),
            out,
            prev: None,
            step,
            rows: 0,
            gaps: Gaps::default(),
        })
    }

    /// Appends the rows of `src` whose time lies in `[from, to)`, checking that
    /// times keep increasing. `src` holds rows without a header (or with one,
    /// when `skip_header`).
    pub fn append(
        &mut self,
        src: &Path,
        from: Timestamp,
        to: Timestamp,
        skip_header: bool,
    ) -> Result<u64, DataError> {
        let file = File::open(src).map_err(|e| DataError::io(src, e))?;
        let mut reader = BufReader::with_capacity(1 << 16, file);
        let mut line = String::new();
        let mut n = 0;
        let mut line_no = 0u64;
        loop {
            line.clear();
            if reader
                .read_line(&mut line)
                .map_err(|e| DataError::io(src, e))?
                == 0
            {
                break;
            }
            line_no += 1;
            if skip_header && line_no == 1 {
                continue;
            }
            let t = row_time(&line, src, "a")?;
            if t < from || t >= to {
                continue;
            }
            self.push(t, &line, src, line_no)?;
            n += 1;
        }
        Ok(n)
    }

    fn push(
        &mut self,
        t: Timestamp,
        line: &str,
        src: &Path,
        line_no: u64,
    ) -> Result<(), DataError> {
        if let Some(prev) = self.prev {
            if t <= prev {
                return Err(DataError::Row {
                    file: src.display().to_string(),
                    line: line_no,
                    field: "ts".into(),
                    message: format!(
                        "{} is not after the previous row's {} (overlapping downloads)",
                        t.to_rfc3339(),
                        prev.to_rfc3339()
                    ),
                });
            }
            if let Some(step) = self.step {
                let missing = (t.nanos() - prev.nanos()) / step.nanos() - 1;
                if missing > 0 {
                    self.gaps.gaps += 1;
                    self.gaps.missing_bars += missing as u64;
                }
            }
        }
        self.prev = Some(t);
        self.rows += 1;
        self.out
            .write_all(line.as_bytes())
            .map_err(|e| DataError::io(&self.tmp, e))
    }

    /// Flushes, syncs and renames the file into place; returns rows and gaps.
    pub fn finish(self) -> Result<(u64, Gaps), DataError> {
        let OutputWriter {
            tmp,
            path,
            out,
            rows,
            gaps,
            ..
        } = self;
        let file = out
            .into_inner()
            .map_err(|e| DataError::io(&tmp, e.into_error()))?;
        file.sync_all().map_err(|e| DataError::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| DataError::io(&path, e))?;
        Ok((rows, gaps))
    }

    /// The temporary file's path (removed by the caller on failure).
    pub fn tmp_path(&self) -> &Path {
        &self.tmp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_of_existing_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.csv");
        let h = "ts,open,high,low,close,volume\n";
        assert_eq!(existing_span(&p, h).unwrap(), None);
        std::fs::write(
            &p,
            format!("{h}2024-01-01T00:00:00Z,1,1,1,1,1\n2024-01-01T00:01:00Z,1,1,1,1,1\n"),
        )
        .unwrap();
        let s = existing_span(&p, h).unwrap().unwrap();
        assert_eq!(
            s.first,
            Timestamp::parse_rfc3339("2024-01-01T00:00:00Z").unwrap()
        );
        assert_eq!(
            s.last,
            Timestamp::parse_rfc3339("2024-01-01T00:01:00Z").unwrap()
        );
        std::fs::write(&p, "time,o\n").unwrap();
        assert!(existing_span(&p, h)
            .unwrap_err()
            .to_string()
            .contains("move it away"));
        std::fs::write(&p, format!("{h}2024-01-01T00:00:00Z,1,1,1,1,1")).unwrap();
        assert!(existing_span(&p, h)
            .unwrap_err()
            .to_string()
            .contains("newline"));
    }
}
