//! What the CLI's integration tests share: the binary, a paper agent on the
//! shipped data, and starting it until a line of its progress.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use vigil_testkit::{shipped, write_head, ConfigToml, BTCUSDT_1M};

/// The `vigil` binary.
pub fn vigil() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
}

/// Writes the first `bars` bars of the shipped BTC data, an agent config and the
/// equivalent backtest config.
pub fn setup(dir: &Path, bars: usize, speed: u64) -> (PathBuf, PathBuf) {
    write_head(&shipped(BTCUSDT_1M), bars, &dir.join("bars.csv"));
    let cfg = ConfigToml::btcusdt("sma-cross", "fast = 10\nslow = 30").with(
        "[venue]\ntaker_fee_bps = 10\nmaker_fee_bps = 2\nslippage_bps = 1\n\n\
         [risk]\nmax_position_weight = 1.0\nstop_loss_pct = 0.004\nmarket_protection_bps = 30",
    );
    let agent = cfg.agent("crash-test", "bars.csv", "1m", Some(speed));
    std::fs::write(dir.join("agent.toml"), agent).unwrap();
    std::fs::write(dir.join("backtest.toml"), cfg.backtest("bars.csv", "1m")).unwrap();
    (dir.join("agent.toml"), dir.join("backtest.toml"))
}

/// Starts `vigil paper <agent> --progress-every <every>` and reads its stderr up
/// to the first line starting with `prefix`; returns the agent and the rest of
/// its stderr.
pub fn paper_until(
    agent: &Path,
    every: u32,
    prefix: &str,
    stdout: Stdio,
) -> (
    std::process::Child,
    std::io::Lines<BufReader<std::process::ChildStderr>>,
) {
    let mut child = vigil()
        .arg("paper")
        .arg(agent)
        .arg("--progress-every")
        .arg(every.to_string())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    for line in lines.by_ref() {
        if line.unwrap().starts_with(prefix) {
            break;
        }
    }
    (child, lines)
}

pub const CONTROL_SECRET: &str = "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e";

/// A free loopback port (bound, then released for the agent).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts a slow paper agent with `[control]`; returns it once its loop runs
/// (its first progress line: recovery is over and commands are accepted).
pub fn start_controlled(agent: &Path) -> std::process::Child {
    let (child, lines) = paper_until(agent, 10, "progress seq=", Stdio::null());
    // Keep draining stderr so the agent never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    child
}
