//! `vigil indicators <bars.csv> --indicator rsi:14 …`: each bar with the
//! indicators' values, to compare with a charting tool.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use vigil_core::{InstrumentId, Interval};
use vigil_feed::{BarCsvOptions, CsvBarReader};
use vigil_indicators::{spec, Candle};

use super::write_file;

/// `vigil indicators <bars.csv> --indicator …`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A bar CSV (header `ts,open,high,low,close[,volume]`).
    pub bars: PathBuf,
    /// An indicator, `name[:p1,p2,…]` (repeat the flag for more), e.g.
    /// `rsi:14`, `macd:12,26,9`, `bbands:20,2`. Missing parameters take their
    /// defaults; `--indicator help` lists every name.
    #[arg(long = "indicator", short = 'i', required = true)]
    pub indicators: Vec<String>,
    /// The bars' interval.
    #[arg(long, default_value = "1m")]
    pub interval: Interval,
    /// Write every row as CSV to this file instead of printing a table.
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Print only the last N rows (the table; the CSV has them all).
    #[arg(long)]
    pub tail: Option<usize>,
}

/// Runs it.
pub fn run(a: Args) -> anyhow::Result<()> {
    if a.indicators.iter().any(|s| s == "help") {
        println!("indicators (name:defaults): {}", spec::KNOWN);
        return Ok(());
    }
    let mut columns = a
        .indicators
        .iter()
        .map(|s| spec::parse(s).map_err(anyhow::Error::new))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let names: Vec<String> = columns.iter().flat_map(|c| c.names()).collect();
    let reader = CsvBarReader::open(
        &a.bars,
        BarCsvOptions {
            instrument: InstrumentId(0),
            interval: a.interval,
            ts_unit: None,
        },
    )?;
    let mut rows: Vec<(String, f64, Vec<Option<f64>>)> = Vec::new();
    for bar in reader {
        let bar = bar?;
        let candle = Candle::from(&bar);
        let mut values = Vec::with_capacity(names.len());
        for c in &mut columns {
            c.update(&candle, &mut values);
        }
        rows.push((bar.open_time.to_rfc3339(), candle.close, values));
    }
    let cell = |v: &Option<f64>| v.map_or(String::new(), |x| format!("{x:.8}"));
    match &a.csv {
        Some(path) => {
            let mut out = format!("ts,close,{}\n", names.join(","));
            for (ts, close, values) in &rows {
                let vs: Vec<String> = values.iter().map(cell).collect();
                let _ = writeln!(out, "{ts},{close},{}", vs.join(","));
            }
            write_file(path, out)?;
            println!(
                "{}: {} bars, {} columns",
                path.display(),
                rows.len(),
                names.len()
            );
        }
        None => {
            let skip = a.tail.map_or(0, |n| rows.len().saturating_sub(n));
            let width = names.iter().map(|n| n.len().max(14)).collect::<Vec<_>>();
            let mut out = format!("{:<20}  {:>12}", "ts", "close");
            for (n, w) in names.iter().zip(&width) {
                let _ = write!(out, "  {n:>w$}");
            }
            out.push('\n');
            for (ts, close, values) in rows.iter().skip(skip) {
                let _ = write!(out, "{ts:<20}  {close:>12}");
                for (v, w) in values.iter().zip(&width) {
                    let _ = write!(out, "  {:>w$}", v.map_or("-".into(), |x| format!("{x:.4}")));
                }
                out.push('\n');
            }
            print!("{out}");
        }
    }
    let _ = std::io::Write::flush(&mut std::io::stdout()).context("stdout");
    Ok(())
}
