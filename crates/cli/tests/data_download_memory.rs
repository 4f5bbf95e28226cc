//! `vigil data download` streams: twelve months of 1-minute bars take no more
//! memory than one. Runs the CLI as a child process and reads its peak resident
//! set size from the kernel (getrusage).
//!
//! This file holds a single test on purpose: RUSAGE_CHILDREN covers every child
//! the test process has waited for, so no other test may spawn processes here.

// The kernel's getrusage through libc (std has no API for a child's peak memory).
#![allow(unsafe_code)]

#[path = "../../data/tests/support/mod.rs"]
mod support;

use std::process::Command;
use std::sync::{Arc, Mutex};

use support::Exchange;

/// Peak RSS (bytes) over all children waited for so far.
fn children_peak_rss() -> u64 {
    // SAFETY: rusage is a plain C struct of integers; all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    assert_eq!(rc, 0);
    usage.ru_maxrss as u64 * 1024 // Linux reports KiB
}

fn download(url: &str, to: &str, out: &std::path::Path) {
    let o = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args([
            "data",
            "download",
            "--symbols",
            "BTCUSDT",
            "--interval",
            "1m",
        ])
        .args([
            "--from",
            "2023-01",
            "--to",
            to,
            "--now",
            "2024-03-01T00:00:00Z",
            "--out",
        ])
        .arg(out)
        .env("VIGIL_BINANCE_DATA_URL", url)
        .env("VIGIL_BINANCE_API_URL", url)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_flat_in_the_length_of_the_download() {
    let ex = Arc::new(Mutex::new(Exchange {
        interval_ms: 60_000,
        listed_ms: 0,
        now_ms: support::ms("2024-03-01T00:00:00Z"),
        stored: true,
        ..Exchange::default()
    }));
    let months: Vec<(i32, u32)> = (1..=12).map(|m| (2023, m)).collect();
    ex.lock()
        .unwrap()
        .publish_spot("BTCUSDT", "1m", &months, &[]);
    let url = support::serve(ex.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let (short, long) = (dir.path().join("short"), dir.path().join("long"));
    let u = url.clone();
    let s = short.clone();
    tokio::task::spawn_blocking(move || download(&u, "2023-02", &s))
        .await
        .unwrap();
    let one_month = children_peak_rss();
    let l = long.clone();
    tokio::task::spawn_blocking(move || download(&url, "2024-01", &l))
        .await
        .unwrap();
    let twelve = children_peak_rss();
    let rows = |d: &std::path::Path| {
        std::fs::read_to_string(d.join("binance-spot-BTCUSDT-1m.csv"))
            .unwrap()
            .lines()
            .count()
            - 1
    };
    assert_eq!(rows(&short), 31 * 1440);
    assert_eq!(rows(&long), 365 * 1440);
    // Twelve times the data (≈ 50 MB of CSV); the peak may not grow by more than
    // 16 MB (buffers of files in flight), far below the data's size.
    assert!(
        twelve <= one_month + 16 * 1024 * 1024,
        "peak RSS {one_month} B for one month, {twelve} B for twelve"
    );
    eprintln!(
        "peak RSS: one month {} MB, twelve months {} MB",
        one_month >> 20,
        twelve >> 20
    );
}
