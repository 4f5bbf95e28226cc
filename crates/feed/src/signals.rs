//! The signals CSV: every signal an agent received, one row each, in the order
//! the engine applied them — and what a backtest reads back to replay them
//! point-in-time (each delivered at its `received_at`).
//!
//! ```text
//! received_at,id,instrument,direction,score,source,expires_at
//! 2024-03-01T10:15:00.000000000Z,msg_2Nf…,BTCUSDT,1,,tradingview,
//! ```

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use vigil_core::{Signal, Timestamp, Universe};

use crate::error::FeedError;

/// The header the writer puts first and the reader expects.
pub const SIGNALS_HEADER: &str = "received_at,id,instrument,direction,score,source,expires_at";

/// Reads a signals CSV; instruments must be in `universe`. Rows must be in
/// time order (equal times keep their order). Errors name the file, line and
/// field.
pub fn read_signals_csv(path: &Path, universe: &Universe) -> Result<Vec<Signal>, FeedError> {
    let file = File::open(path).map_err(|source| FeedError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    read_signals(BufReader::new(file), path, universe)
}

fn read_signals<R: Read>(
    reader: R,
    path: &Path,
    universe: &Universe,
) -> Result<Vec<Signal>, FeedError> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(reader);
    let row_error = |line: u64, message: String| FeedError::Row {
        path: path.to_path_buf(),
        line,
        message,
    };
    let headers = rdr.headers().map_err(|e| row_error(1, e.to_string()))?;
    let found: Vec<&str> = headers.iter().collect();
    if found.join(",").trim_start_matches('\u{feff}') != SIGNALS_HEADER {
        return Err(FeedError::MissingColumn {
            path: path.to_path_buf(),
            column: SIGNALS_HEADER.into(),
            found: found.join(","),
        });
    }
    let mut out: Vec<Signal> = Vec::new();
    for (i, record) in rdr.records().enumerate() {
        let line = i as u64 + 2;
        let r = record.map_err(|e| row_error(line, e.to_string()))?;
        let field = |col: usize, name: &str, reason: String| FeedError::Field {
            path: path.to_path_buf(),
            line,
            field: name.into(),
            value: r.get(col).unwrap_or("").into(),
            reason,
        };
        let time = |col: usize, name: &str| -> Result<Option<Timestamp>, FeedError> {
            let text = r.get(col).unwrap_or("");
            if text.is_empty() {
                return Ok(None);
            }
            Timestamp::parse(text, None)
                .map(Some)
                .map_err(|e| field(col, name, e.to_string()))
        };
        let received_at =
            time(0, "received_at")?.ok_or_else(|| field(0, "received_at", "empty".into()))?;
        let symbol = r.get(2).unwrap_or("");
        let instrument = universe
            .id(symbol)
            .ok_or_else(|| field(2, "instrument", "not an instrument of this run".into()))?;
        let direction = match r.get(3).unwrap_or("") {
            "" => None,
            d => Some(
                d.parse::<i8>()
                    .map_err(|_| field(3, "direction", "must be -1, 0 or 1".into()))?,
            ),
        };
        let score = match r.get(4).unwrap_or("") {
            "" => None,
            s => Some(
                s.parse::<f64>()
                    .map_err(|_| field(4, "score", "not a number".into()))?,
            ),
        };
        let signal = Signal {
            id: r.get(1).unwrap_or("").into(),
            instrument,
            direction,
            score,
            source: r.get(5).unwrap_or("").into(),
            received_at,
            expires_at: time(6, "expires_at")?,
        };
        signal
            .validate()
            .map_err(|e| field(0, "signal", e.to_string()))?;
        if let Some(prev) = out.last() {
            if received_at < prev.received_at {
                return Err(FeedError::OutOfOrder {
                    path: path.to_path_buf(),
                    line,
                    field: "received_at".into(),
                    ts: received_at.to_string(),
                    prev: prev.received_at.to_string(),
                });
            }
        }
        out.push(signal);
    }
    Ok(out)
}

/// One signal as a CSV row (no newline).
pub fn signal_row(signal: &Signal, universe: &Universe) -> String {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let opt_time = |t: Option<Timestamp>| t.map(|t| t.to_string()).unwrap_or_default();
    let _ = w.write_record([
        signal.received_at.to_string(),
        signal.id.to_string(),
        universe.get(signal.instrument).symbol.clone(),
        signal.direction.map(|d| d.to_string()).unwrap_or_default(),
        signal.score.map(|s| s.to_string()).unwrap_or_default(),
        signal.source.to_string(),
        opt_time(signal.expires_at),
    ]);
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8_lossy(&bytes).trim_end().to_string()
}

/// Appends signals to a CSV, writing the header first when the file is new.
#[derive(Debug)]
pub struct SignalCsvWriter {
    path: PathBuf,
    file: File,
}

impl SignalCsvWriter {
    /// Opens (or creates) the file for appending. An existing file must be a
    /// signals CSV (its first line the header): appending to another file
    /// would corrupt it.
    pub fn open(path: &Path) -> Result<SignalCsvWriter, FeedError> {
        let io = |source| FeedError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Ok(f) = File::open(path) {
            let mut first = String::new();
            std::io::BufRead::read_line(&mut BufReader::new(f), &mut first).map_err(io)?;
            let first = first.trim_end().trim_start_matches('\u{feff}');
            if !first.is_empty() && first != SIGNALS_HEADER {
                return Err(FeedError::MissingColumn {
                    path: path.to_path_buf(),
                    column: SIGNALS_HEADER.into(),
                    found: first.to_string(),
                });
            }
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        if file.metadata().map_err(io)?.len() == 0 {
            writeln!(file, "{SIGNALS_HEADER}").map_err(io)?;
        }
        Ok(SignalCsvWriter {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Appends one row and flushes it.
    pub fn append(&mut self, signal: &Signal, universe: &Universe) -> Result<(), FeedError> {
        let row = signal_row(signal, universe);
        writeln!(self.file, "{row}")
            .and_then(|_| self.file.flush())
            .map_err(|source| FeedError::Io {
                path: self.path.clone(),
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_core::InstrumentSpec;

    fn universe() -> Universe {
        let mut u = Universe::new();
        u.add(&InstrumentSpec {
            symbol: "BTCUSDT".into(),
            base: "BTC".into(),
            quote: "USDT".into(),
            lot_size: None,
            tick_size: None,
            min_notional: None,
            kind: vigil_core::InstrumentKind::Spot,
            leverage: None,
            margin: None,
            brackets: None,
        })
        .unwrap();
        u
    }

    #[test]
    fn written_rows_read_back_equal() {
        let u = universe();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signals.csv");
        let a = Signal {
            id: "msg_1,with comma".into(),
            instrument: u.id("BTCUSDT").unwrap(),
            direction: Some(-1),
            score: None,
            source: "tradingview".into(),
            received_at: Timestamp(1_700_000_000_123_456_789),
            expires_at: Some(Timestamp(1_700_000_060_000_000_000)),
        };
        let b = Signal {
            id: "msg_2".into(),
            direction: None,
            score: Some(81.5),
            expires_at: None,
            ..a.clone()
        };
        let mut w = SignalCsvWriter::open(&path).unwrap();
        w.append(&a, &u).unwrap();
        drop(w);
        // Reopened: appends without a second header.
        SignalCsvWriter::open(&path)
            .unwrap()
            .append(&b, &u)
            .unwrap();
        assert_eq!(read_signals_csv(&path, &u).unwrap(), vec![a, b]);
        // Another file is never appended to.
        let bars = dir.path().join("bars.csv");
        std::fs::write(&bars, "ts,open,high,low,close,volume\n").unwrap();
        let e = SignalCsvWriter::open(&bars).unwrap_err().to_string();
        assert!(e.contains("bars.csv:1") && e.contains("received_at"), "{e}");
        assert_eq!(
            std::fs::read_to_string(&bars).unwrap(),
            "ts,open,high,low,close,volume\n"
        );
    }

    #[test]
    fn bad_rows_name_the_line_and_field() {
        let u = universe();
        let read = |body: &str| {
            let text = format!("{SIGNALS_HEADER}\n{body}");
            read_signals(text.as_bytes(), Path::new("s.csv"), &u)
                .unwrap_err()
                .to_string()
        };
        let e = read("2024-01-01T00:00:00Z,a,ETHUSDT,1,,x,\n");
        assert!(e.contains("s.csv:2") && e.contains("`instrument`"), "{e}");
        let e = read("2024-01-01T00:00:00Z,a,BTCUSDT,2,,x,\n");
        assert!(e.contains("must be -1, 0 or 1"), "{e}");
        let e = read("2024-01-01T00:00:00Z,a,BTCUSDT,,,x,\n");
        assert!(e.contains("needs a `direction`"), "{e}");
        let e =
            read("2024-01-02T00:00:00Z,a,BTCUSDT,1,,x,\n2024-01-01T00:00:00Z,b,BTCUSDT,1,,x,\n");
        assert!(e.contains("s.csv:3") && e.contains("received_at"), "{e}");
        let e = read_signals("time,x\n".as_bytes(), Path::new("s.csv"), &u)
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing column"), "{e}");
    }
}
