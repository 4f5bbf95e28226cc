//! `vigil mcp` driven by a client nobody here wrote: the MCP Inspector from npm
//! (`@modelcontextprotocol/inspector`, its CLI mode) lists the tools and calls
//! them over stdio.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use vigil_testkit::{npm_package, shipped, write_head, ConfigToml, BTCUSDT_1M};

/// Runs the Inspector against `vigil mcp --root <root>`; its JSON answer.
fn inspector(cli: &Path, root: &Path, args: &[&str]) -> Value {
    run_inspector(cli, root, args, true)
}

/// The same; `ok`: whether the Inspector must exit 0 (it does not when a tool
/// answers with an error).
fn run_inspector(cli: &Path, root: &Path, args: &[&str], ok: bool) -> Value {
    let out = Command::new("node")
        .arg(cli.join("clients/launcher/build/index.js"))
        .arg("--cli")
        .arg(env!("CARGO_BIN_EXE_vigil"))
        .args(["mcp", "--root"])
        .arg(root)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success() || !ok,
        "inspector: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = stdout.find('{').map_or("", |i| &stdout[i..]);
    serde_json::from_str(json)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn setup(dir: &Path) -> PathBuf {
    write_head(&shipped(BTCUSDT_1M), 2000, &dir.join("bars.csv"));
    let cfg = ConfigToml::btcusdt("sma-cross", "fast = 10\nslow = 30");
    std::fs::write(dir.join("bt.toml"), cfg.backtest("bars.csv", "1m")).unwrap();
    dir.join("bt.toml")
}

#[test]
fn the_mcp_inspector_lists_and_calls_vigils_read_only_tools() {
    let Some(cli) = npm_package("@modelcontextprotocol/inspector") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let bt = setup(&root);

    let list = inspector(&cli, &root, &["--method", "tools/list"]);
    let tools = list["tools"].as_array().unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "agent_status",
            "check_data",
            "list_strategies",
            "run_backtest",
            "run_sweep"
        ]
    );
    for t in tools {
        assert_eq!(t["annotations"]["readOnlyHint"], true, "{t}");
        assert_eq!(t["annotations"]["destructiveHint"], false, "{t}");
    }

    // A backtest through MCP equals the same backtest run by the CLI.
    let call = inspector(
        &cli,
        &root,
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "run_backtest",
            "--tool-arg",
            "path=bt.toml",
        ],
    );
    assert_eq!(call["isError"], false, "{call}");
    let got: Value = serde_json::from_str(call["content"][0]["text"].as_str().unwrap()).unwrap();
    let json = root.join("direct.json");
    let st = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("backtest")
        .arg(&bt)
        .args(["--no-realism", "-q", "--json"])
        .arg(&json)
        .status()
        .unwrap();
    assert!(st.success());
    let direct: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(
        got["metrics"]["final_equity"],
        direct["metrics"]["final_equity"]
    );
    assert!(got["metrics"]["fill_count"].as_u64().unwrap() > 10, "{got}");

    // The plug-ins, with their parameters.
    let call = inspector(
        &cli,
        &root,
        &["--method", "tools/call", "--tool-name", "list_strategies"],
    );
    let list: Value = serde_json::from_str(call["content"][0]["text"].as_str().unwrap()).unwrap();
    let sma = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "sma-cross")
        .unwrap();
    assert!(sma["params"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "fast"));

    // Data checks, and nothing outside the root.
    let call = inspector(
        &cli,
        &root,
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "check_data",
            "--tool-arg",
            "path=bars.csv",
        ],
    );
    assert_eq!(call["isError"], false, "{call}");
    let call = run_inspector(
        &cli,
        &root,
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "check_data",
            "--tool-arg",
            "path=../../../etc/hostname",
        ],
        false,
    );
    assert_eq!(call["isError"], true, "{call}");
    let why = call["content"][0]["text"].as_str().unwrap();
    assert!(why.contains("outside the server's root"), "{call}");
}
