//! `vigil mcp` driven by a client nobody here wrote: the MCP Inspector from npm
//! (`@modelcontextprotocol/inspector`, its CLI mode) lists the tools and calls
//! them over stdio and over Streamable HTTP; `propose_order` holds an order in
//! a live agent (against the local mock exchange) that reaches the exchange
//! only after an operator's signed approval.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rust_decimal_macros::dec;
use serde_json::Value;
use vigil_binance::mock::{spot_filters, MockConfig, MockExchange, MockSymbol};
use vigil_testkit::{npm_package, shipped, write_head, ConfigToml, BTCUSDT_1M};

/// Runs the Inspector against `vigil mcp --root <root>`; its JSON answer.
fn inspector(cli: &Path, root: &Path, args: &[&str]) -> Value {
    run_inspector(cli, root, args, true)
}

/// The same; `ok`: whether the Inspector must exit 0 (it does not when a tool
/// answers with an error).
fn run_inspector(cli: &Path, root: &Path, args: &[&str], ok: bool) -> Value {
    let mut target = vec![
        env!("CARGO_BIN_EXE_vigil").to_string(),
        "mcp".into(),
        "--root".into(),
        root.display().to_string(),
    ];
    target.extend(args.iter().map(|a| a.to_string()));
    inspect(cli, &target, ok)
}

/// Runs the Inspector's CLI with `args` (a server command or URL, then
/// options); its JSON answer.
fn inspect(cli: &Path, args: &[String], ok: bool) -> Value {
    let out = Command::new("node")
        .arg(cli.join("clients/launcher/build/index.js"))
        .arg("--cli")
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
            "propose_order",
            "read_grades",
            "run_backtest",
            "run_sweep"
        ]
    );
    for t in tools {
        // One tool acts (it asks an agent to hold an order); none destroys.
        let acting = t["name"] == "propose_order";
        assert_eq!(t["annotations"]["readOnlyHint"], !acting, "{t}");
        assert_eq!(t["annotations"]["destructiveHint"], false, "{t}");
        let schema = t["inputSchema"]["properties"].to_string();
        assert!(
            !schema.contains("secret") && !schema.contains("key"),
            "no tool takes a secret: {t}"
        );
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

    // Grades, point in time: what was published by 01:00 only.
    std::fs::write(
        root.join("grades.csv"),
        "symbol,kind,score,as_of,published_at,source\n\
         BTC,trader,40,2022-01-01T00:00:00Z,2022-01-01T00:30:00Z,tm\n\
         ETH,trader,55,2022-01-01T00:00:00Z,2022-01-01T00:30:00Z,tm\n\
         BTC,trader,70,2022-01-01T01:00:00Z,2022-01-01T01:30:00Z,tm\n",
    )
    .unwrap();
    let call = inspector(
        &cli,
        &root,
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "read_grades",
            "--tool-arg",
            "path=grades.csv",
            "asset=BTC",
            "known_at=2022-01-01T01:00:00Z",
        ],
    );
    assert_eq!(call["isError"], false, "{call}");
    let g: Value = serde_json::from_str(call["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(g["grades_in_file"], 3, "{g}");
    let tokens = g["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 1, "only BTC: {g}");
    let latest = tokens[0]["latest_first"].as_array().unwrap();
    assert_eq!(
        latest.len(),
        1,
        "the 01:30 grade was not known at 01:00: {g}"
    );
    assert_eq!(latest[0]["score"], 40.0, "{g}");

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

const KEY: &str = "mcp-test-key";
const SECRET: &str = "mcp-test-secret-0123456789";
const OPERATOR: &str = "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e";
const PROPOSER: &str = "7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a";

/// A live agent on the mock exchange that never trades by itself (flat
/// prices: its SMAs never cross), with `[control]` keys `ops` (operator) and
/// `mcp` (proposer).
fn live_agent(dir: &Path, url: &str) -> PathBuf {
    let mut csv = String::from("ts,open,high,low,close,volume\n");
    for i in 0..600 {
        let (h, m) = (i / 60, i % 60);
        csv.push_str(&format!(
            "2022-01-01T{h:02}:{m:02}:00Z,47300,47300,47300,47300,1.5\n"
        ));
    }
    std::fs::write(dir.join("bars.csv"), csv).unwrap();
    std::fs::write(
        dir.join("keys.toml"),
        format!(
            "[[keys]]\nid = \"ops\"\nhmac_secret = \"{OPERATOR}\"\n\n\
             [[keys]]\nid = \"mcp\"\nhmac_secret = \"{PROPOSER}\"\nrole = \"proposer\"\n"
        ),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = format!(
        r#"name = "mcp-live"
mode = "live"
account_currency = "USDT"
starting_cash = 10000

[[instruments]]
symbol = "BTCUSDT"
base = "BTC"
quote = "USDT"
lot_size = 0.00001
tick_size = 0.01
min_notional = 5

[feed]
type = "replay"
speed = 60
[[feed.bars]]
instrument = "BTCUSDT"
path = "bars.csv"
interval = "1m"

[venue]
maker_fee_bps = 10
taker_fee_bps = 10

[risk]
max_position_weight = 0.5
per_order_cap = 5000
approval_ttl = "1d"

[strategy]
name = "sma-cross"
fast = 2
slow = 3

[live]
exchange = "binance"
confirm = "I understand this agent trades real money"
base_url = "{url}"
poll_every = "1s"

[status]
listen = "127.0.0.1:{port}"

[control]
keys = "keys.toml"
"#
    );
    std::fs::write(dir.join("agent.toml"), cfg).unwrap();
    dir.join("agent.toml")
}

/// `vigil ctl <agent> <args…>` signed with key `id`/`secret`.
fn ctl(agent: &Path, id: &str, secret: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("ctl")
        .arg(agent)
        .args(args)
        .env("VIGIL_CONTROL_KEY_ID", id)
        .env("VIGIL_CONTROL_SECRET", secret)
        .output()
        .unwrap()
}

fn both(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Waits (up to 60 s) until `ready` holds for the mock's orders.
fn orders_until(m: &MockExchange, ready: impl Fn(usize) -> bool) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = m.orders().len();
        if ready(n) {
            return n;
        }
        assert!(Instant::now() < deadline, "waited 60 s: {n} orders");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn propose_order_holds_an_order_that_reaches_the_exchange_only_when_an_operator_approves() {
    let Some(cli) = npm_package("@modelcontextprotocol/inspector") else {
        return;
    };
    let m = MockExchange::start(MockConfig {
        api_key: KEY.into(),
        secret: SECRET.into(),
        symbols: vec![MockSymbol {
            filters: spot_filters("BTC", "USDT"),
            price: dec!(47300),
        }],
        balances: vec![("USDT".into(), dec!(10000))],
        key_can_withdraw: false,
        commission_rate: dec!(0.001),
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let agent = live_agent(&root, &m.url());
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["live", "--progress-every", "5"])
        .arg(&agent)
        .env("BINANCE_API_KEY", KEY)
        .env("BINANCE_API_SECRET", SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("the agent stopped: {}", seen.join("\n")))
            .unwrap();
        if line.starts_with("progress seq=") {
            break;
        }
        seen.push(line);
    }
    std::thread::spawn(move || for _ in lines {});

    let propose = |args: &[&str], ok: bool| -> Value {
        let mut a: Vec<String> = [
            "-e",
            "VIGIL_CONTROL_KEY_ID=mcp",
            "-e",
            &format!("VIGIL_CONTROL_SECRET={PROPOSER}"),
            env!("CARGO_BIN_EXE_vigil"),
            "mcp",
            "--root",
            root.to_str().unwrap(),
            "--method",
            "tools/call",
            "--tool-name",
            "propose_order",
            "--tool-arg",
            "agent=agent.toml",
        ]
        .map(String::from)
        .to_vec();
        a.extend(args.iter().map(|s| s.to_string()));
        inspect(&cli, &a, ok)
    };

    // Risk still decides: a halted agent takes no proposal.
    let halt = ctl(&agent, "ops", OPERATOR, &["halt"]);
    assert!(halt.status.success(), "{}", both(&halt));
    let refused = propose(&["instrument=BTCUSDT", "side=buy", "quantity=0.01"], false);
    assert_eq!(refused["isError"], true, "{refused}");
    let why = refused["content"][0]["text"].as_str().unwrap();
    assert!(why.contains("denied by risk: halted"), "{why}");
    let resume = ctl(&agent, "ops", OPERATOR, &["resume"]);
    assert!(resume.status.success(), "{}", both(&resume));
    // An instrument the agent does not trade is named.
    let unknown = propose(&["instrument=DOGEUSDT", "side=buy", "quantity=1"], false);
    assert!(
        unknown["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("DOGEUSDT"),
        "{unknown}"
    );

    // 0.01 BTC: held, not sent.
    let held = propose(
        &[
            "instrument=BTCUSDT",
            "side=buy",
            "quantity=0.01",
            "note=momentum looks strong",
        ],
        true,
    );
    assert_eq!(held["isError"], false, "{held}");
    let h: Value = serde_json::from_str(held["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(h["held"], true, "{h}");
    let id = h["id"].as_u64().unwrap().to_string();
    let hash = h["hash"].as_str().unwrap().to_string();
    assert_eq!(hash.len(), 64, "{h}");

    let pending = ctl(&agent, "ops", OPERATOR, &["pending"]);
    let listed = both(&pending);
    assert!(
        listed.contains(&hash)
            && listed.contains("proposed (not by the strategy): momentum looks strong"),
        "{listed}"
    );
    assert_eq!(
        m.orders().len(),
        0,
        "nothing reaches the exchange while held"
    );

    // The proposer's key cannot approve, reject or halt.
    for args in [vec!["approve", &id, &hash], vec!["halt"]] {
        let out = ctl(&agent, "mcp", PROPOSER, &args);
        assert!(!out.status.success(), "{}", both(&out));
        assert!(both(&out).contains("not_permitted"), "{}", both(&out));
    }
    // Nor can a forged approval (the operator's key id, a wrong secret).
    let forged = ctl(&agent, "ops", PROPOSER, &["approve", &id, &hash]);
    assert!(!forged.status.success(), "{}", both(&forged));
    // Let the agent run a few more polls: still nothing at the exchange.
    let seq = |v: &Value| v["seq"].as_u64().unwrap_or(0);
    let status = || -> Value {
        serde_json::from_slice(&ctl(&agent, "ops", OPERATOR, &["status"]).stdout).unwrap()
    };
    let before = seq(&status());
    let deadline = Instant::now() + Duration::from_secs(60);
    while seq(&status()) < before + 3 {
        assert!(Instant::now() < deadline, "the agent stopped moving");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        m.orders().len(),
        0,
        "nothing reaches the exchange while held"
    );

    // The operator approves: the order goes to the exchange, once.
    let ok = ctl(&agent, "ops", OPERATOR, &["approve", &id, &hash]);
    assert!(ok.status.success(), "{}", both(&ok));
    orders_until(&m, |n| n >= 1);
    let orders = m.orders();
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(orders[0].side, "BUY");
    assert_eq!(orders[0].orig_qty, dec!(0.01), "{orders:?}");
    child.kill().unwrap();
    let _ = child.wait();
}

#[test]
fn the_http_transport_serves_the_tools_and_refuses_foreign_origins() {
    let Some(cli) = npm_package("@modelcontextprotocol/inspector") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    setup(&root);
    let mut server = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args([
            "mcp",
            "--http",
            "127.0.0.1:0",
            "--allow-origin",
            "http://localhost:6274",
            "--root",
        ])
        .arg(&root)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("vigil mcp --http ended").unwrap();
        if let Some(u) = line.strip_prefix("vigil mcp: listening on ") {
            break u.to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});

    let list = inspect(
        &cli,
        &[url.clone(), "--method".into(), "tools/list".into()],
        true,
    );
    assert_eq!(list["tools"].as_array().unwrap().len(), 7, "{list}");
    let call = inspect(
        &cli,
        &[
            url.clone(),
            "--method".into(),
            "tools/call".into(),
            "--tool-name".into(),
            "run_backtest".into(),
            "--tool-arg".into(),
            "path=bt.toml".into(),
        ],
        true,
    );
    assert_eq!(call["isError"], false, "{call}");

    // A page on another origin (DNS rebinding) is refused before any tool
    // runs; an allowed origin and a client without `Origin` pass.
    let init = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "t", "version": "1"}}});
    let post = |origin: Option<&str>, host: Option<&str>| {
        let mut r = reqwest::blocking::Client::new()
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(init.to_string());
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        if let Some(h) = host {
            r = r.header("host", h);
        }
        r.send().unwrap().status().as_u16()
    };
    assert_eq!(post(Some("http://evil.example"), None), 403);
    assert_eq!(post(Some("http://localhost:9999"), None), 403);
    assert_eq!(
        post(None, Some("evil.example")),
        403,
        "a foreign Host is refused"
    );
    assert_eq!(post(Some("http://localhost:6274"), None), 200);
    // The server's own origin (what the conformance suite's check sends).
    let own = url.trim_end_matches("/mcp").to_string();
    assert_eq!(post(Some(&own), None), 200);
    assert_eq!(post(None, None), 200);
    server.kill().unwrap();
    let _ = server.wait();

    // Not on a public address without naming the host.
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["mcp", "--http", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(both(&out).contains("--allow-host"), "{}", both(&out));
}
