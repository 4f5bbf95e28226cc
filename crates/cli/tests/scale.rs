//! Backtests stream their data: doubling the data length must not double the
//! peak memory. Runs `vigil synth` and `vigil backtest` as child processes and
//! reads their peak resident set size from the kernel (getrusage).
//!
//! This file holds a single test on purpose: RUSAGE_CHILDREN covers every child
//! the test process has waited for, so no other test may spawn processes here.

// The one unsafe use in the workspace: the kernel's getrusage through libc, to
// read the children's peak memory (std has no API for it).
#![allow(unsafe_code)]

use std::path::Path;
use std::process::Command;

/// Peak RSS (bytes) over all children waited for so far.
fn children_peak_rss() -> u64 {
    // SAFETY: rusage is a plain C struct of integers; all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    assert_eq!(rc, 0);
    usage.ru_maxrss as u64 * 1024 // Linux reports KiB
}

fn vigil(args: &[&str], dir: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .args(args)
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn backtest(dir: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("backtest")
        .arg(dir.join("backtest.toml"))
        .args(["--no-realism", "-q"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn doubling_the_data_does_not_double_peak_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let (short, long) = (tmp.path().join("short"), tmp.path().join("long"));
    // 40 instruments × 10 / 20 days of 1-minute bars: 576,000 and 1,152,000 bars.
    vigil(
        &["synth", "--instruments", "40", "--days", "10", "--out"],
        &short,
    );
    vigil(
        &["synth", "--instruments", "40", "--days", "20", "--out"],
        &long,
    );
    let synth_peak = children_peak_rss();
    backtest(&short);
    let short_peak = children_peak_rss();
    backtest(&long);
    let long_peak = children_peak_rss();
    // The maximum only grows, so each reading is the largest child so far.
    assert!(short_peak >= synth_peak);
    let data_bytes = |d: &Path| -> u64 {
        std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum()
    };
    let (short_data, long_data) = (data_bytes(&short), data_bytes(&long));
    assert!(long_data > short_data * 19 / 10);
    eprintln!(
        "peak RSS: {} KiB for {} MB of bars, {} KiB for {} MB",
        short_peak / 1024,
        short_data >> 20,
        long_peak / 1024,
        long_data >> 20
    );
    // Streaming: the longer run's peak is well under twice the shorter's, and the
    // extra memory is a small fraction of the extra data.
    assert!(
        long_peak < short_peak * 3 / 2,
        "peak memory grew from {short_peak} to {long_peak} bytes"
    );
    assert!(
        long_peak.saturating_sub(short_peak) < (long_data - short_data) / 10,
        "peak memory grew by {} bytes for {} more bytes of data",
        long_peak - short_peak,
        long_data - short_data
    );
}
