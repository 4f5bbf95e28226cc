//! Paper trading as a user runs it: parity with the backtest, crash recovery under
//! SIGKILL, graceful SIGTERM (keeping or cancelling the working orders).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod support;

use support::{free_port, paper_until, setup, start_controlled, vigil, CONTROL_SECRET};
use vigil_store::Journal;
use vigil_testkit::{shipped, write_head, ConfigToml, BTCUSDT_1M};

/// (order id, side, price, qty, fee, ts in ns).
type FillKey = (i64, String, String, String, String, i64);

/// (order id, side, price, qty, fee, ts in ns) of every fill of the backtest.
fn backtest_fills(cfg: &Path, dir: &Path) -> (Vec<FillKey>, String) {
    let out = dir.join("bt.json");
    let st = vigil()
        .arg("backtest")
        .arg(cfg)
        .arg("--json")
        .arg(&out)
        .arg("-q")
        .status()
        .unwrap();
    assert!(st.success());
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap();
    let fills = v["fills"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["order_id"].as_i64().unwrap(),
                f["side"].as_str().unwrap().to_string(),
                f["price"].as_str().unwrap().to_string(),
                f["qty"].as_str().unwrap().to_string(),
                f["fee"].as_str().unwrap().to_string(),
                vigil_core::Timestamp::parse(f["ts"].as_str().unwrap(), None)
                    .unwrap()
                    .nanos(),
            )
        })
        .collect();
    (
        fills,
        v["metrics"]["final_equity"].as_str().unwrap().to_string(),
    )
}

fn journal_fills(dir: &Path) -> (Vec<FillKey>, Vec<i64>, Option<String>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let j = Journal::open(dir.join("crash-test.sqlite").to_str().unwrap())
            .await
            .unwrap();
        let fills = j
            .fills("crash-test")
            .await
            .unwrap()
            .into_iter()
            .map(|f| (f.order_id, f.side, f.price, f.qty, f.fee, f.ts))
            .collect();
        let orders = j
            .orders("crash-test")
            .await
            .unwrap()
            .iter()
            .map(|o| o.order_id)
            .collect();
        let equity = j
            .latest_snapshot("crash-test")
            .await
            .unwrap()
            .map(|s| s.equity);
        (fills, orders, equity)
    })
}

/// Runs the paper agent to the end of its replay and checks its journal
/// against the backtest: the same fills and the same final equity. Returns
/// the fills.
fn paper_equals_backtest(dir: &Path, agent: &Path, backtest: &Path) -> Vec<FillKey> {
    let out = vigil().arg("paper").arg(agent).arg("-q").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (bt_fills, bt_equity) = backtest_fills(backtest, dir);
    let (fills, _, equity) = journal_fills(dir);
    assert_eq!(fills, bt_fills);
    let (a, b): (rust_decimal::Decimal, rust_decimal::Decimal) =
        (equity.unwrap().parse().unwrap(), bt_equity.parse().unwrap());
    assert_eq!(a, b);
    bt_fills
}

/// Agent and backtest configs for a perpetual trading `bars.csv` (already in
/// `dir`) with sma-cross `params` at `leverage`, replayed at `speed`; with
/// `funding`, the shipped constant-rate funding file in both.
fn perp_setup(
    dir: &Path,
    params: &str,
    leverage: u32,
    speed: u64,
    funding: bool,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let cfg = ConfigToml::btcusdt("sma-cross", params)
        .perpetual(leverage)
        .with("[venue]\ntaker_fee_bps = 5\nmaker_fee_bps = 2\nslippage_bps = 1");
    let file = vigil_testkit::root()
        .join("backtests/data/generated-btcusdt-funding-constant-0.01pct-8h-2022-01.csv");
    let source = |table: &str| match funding {
        true => format!(
            "\n[[{table}.funding]]\ninstrument = \"BTCUSDT\"\npath = \"{}\"\n",
            file.display()
        ),
        false => String::new(),
    };
    let (agent, backtest) = (dir.join("agent.toml"), dir.join("backtest.toml"));
    let text = cfg.agent("crash-test", "bars.csv", "1m", Some(speed)) + &source("feed");
    std::fs::write(&agent, text).unwrap();
    std::fs::write(&backtest, cfg.backtest("bars.csv", "1m") + &source("data")).unwrap();
    (agent, backtest)
}

#[test]
fn paper_replay_matches_the_backtest_fill_for_fill() {
    let dir = tempfile::tempdir().unwrap();
    let (agent, backtest) = setup(dir.path(), 4000, 0);
    let bt_fills = paper_equals_backtest(dir.path(), &agent, &backtest);
    assert!(
        bt_fills.len() > 20,
        "too few fills to compare: {}",
        bt_fills.len()
    );
}

/// A perpetual strategy — `sma-cross` long and short at 3×, flipping in one
/// order, with funding — paper-traded on a replay equals its backtest fill for
/// fill, and in final equity (so in funding too).
#[test]
fn a_perpetual_paper_replay_matches_the_backtest_fill_for_fill() {
    let dir = tempfile::tempdir().unwrap();
    write_head(&shipped(BTCUSDT_1M), 3000, &dir.path().join("bars.csv"));
    let (agent, backtest) =
        perp_setup(dir.path(), "fast = 10\nslow = 30\nshort = true", 3, 0, true);
    let bt_fills = paper_equals_backtest(dir.path(), &agent, &backtest);
    assert!(bt_fills.len() > 50, "too few fills: {}", bt_fills.len());
    // Flips happened: one order closing a position and opening the other.
    let qty = |f: &FillKey| f.3.parse::<f64>().unwrap();
    assert!(bt_fills.windows(2).any(|w| qty(&w[1]) > 1.5 * qty(&w[0])));
}

/// A 10× long liquidated by a crash, in a paper replay and in its backtest:
/// the same fills, the liquidation's (order id 0) included, and the same equity.
#[test]
fn a_liquidation_in_a_paper_replay_matches_the_backtest() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("ts,open,high,low,close,volume\n");
    for (i, c) in [
        100, 99, 98, 97, 99, 102, 104, 105, 106, 106, 80, 80, 81, 83, 85,
    ]
    .iter()
    .enumerate()
    {
        let low = if *c == 80 { 79 } else { *c };
        csv.push_str(&format!("2022-01-01T00:{i:02}:00Z,{c},{c},{low},{c},1\n"));
    }
    std::fs::write(dir.path().join("bars.csv"), csv).unwrap();
    let (agent, backtest) =
        perp_setup(dir.path(), "fast = 2\nslow = 3\nshort = true", 10, 0, false);
    let bt_fills = paper_equals_backtest(dir.path(), &agent, &backtest);
    assert!(
        bt_fills.iter().any(|f| f.0 == 0),
        "a liquidation: {bt_fills:?}"
    );
}

/// Kills the agent with SIGKILL at pseudo-random points of a replay, restarts it,
/// and checks that the end result is the uninterrupted one with no duplicate order.
#[test]
fn sigkill_at_random_points_then_restart_gives_the_uninterrupted_result() {
    let dir = tempfile::tempdir().unwrap();
    // 3000 one-minute bars at 200 000× real time: about a second per full run.
    let (agent, backtest) = setup(dir.path(), 3000, 200_000);
    kill_restart_and_compare(dir.path(), &agent, &backtest);
}

/// The same with a perpetual flipping long and short at 3× with funding:
/// every restart replays marks, funding and flips to the same state.
#[test]
fn a_perpetual_agent_killed_at_random_points_ends_as_the_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    write_head(&shipped(BTCUSDT_1M), 3000, &dir.path().join("bars.csv"));
    let params = "fast = 10\nslow = 30\nshort = true";
    let (agent, backtest) = perp_setup(dir.path(), params, 3, 200_000, true);
    kill_restart_and_compare(dir.path(), &agent, &backtest);
}

fn kill_restart_and_compare(dir: &Path, agent: &Path, backtest: &Path) {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("crash test seed {seed}");
    let mut rng = seed | 1;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut target = 0u64;
    let mut kills = 0;
    for _ in 0..8 {
        target += 50 + next() % 400;
        let mut child = vigil()
            .arg("paper")
            .arg(agent)
            .arg("-q")
            .arg("--progress-every")
            .arg("10")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let mut killed = false;
        for line in stderr.lines() {
            let line = line.unwrap();
            let seq = line
                .strip_prefix("progress seq=")
                .and_then(|r| r.split_whitespace().next())
                .and_then(|s| s.parse::<u64>().ok());
            if seq.is_some_and(|s| s >= target) {
                child.kill().unwrap(); // SIGKILL
                killed = true;
                break;
            }
        }
        let status = child.wait().unwrap();
        if killed {
            kills += 1;
        } else {
            assert!(status.success(), "agent failed after restart");
            break; // it finished before reaching the target
        }
    }
    assert!(kills >= 3, "only {kills} kills landed");
    // Finish the run.
    let out = vigil().arg("paper").arg(agent).arg("-q").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (bt_fills, bt_equity) = backtest_fills(backtest, dir);
    let (fills, orders, equity) = journal_fills(dir);
    assert_eq!(
        fills, bt_fills,
        "fills differ from the uninterrupted run (seed {seed})"
    );
    let mut unique = orders.clone();
    unique.dedup();
    assert_eq!(
        unique.len(),
        orders.len(),
        "duplicate orders in the journal"
    );
    assert_eq!(
        orders,
        (1..=orders.len() as i64).collect::<Vec<_>>(),
        "order ids not contiguous"
    );
    let (a, b): (rust_decimal::Decimal, rust_decimal::Decimal) =
        (equity.unwrap().parse().unwrap(), bt_equity.parse().unwrap());
    assert_eq!(a, b, "final equity differs (seed {seed})");
}

#[test]
fn sigterm_stops_gracefully_and_a_restart_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let (agent, _) = setup(dir.path(), 3000, 100_000);
    let (child, _stderr) = paper_until(&agent, 100, "progress seq=300 ", Stdio::piped());
    let st = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(st.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "SIGTERM should exit cleanly");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("stopped; restart to resume"), "{stdout}");
    let status = vigil().arg("status").arg(&agent).output().unwrap();
    assert!(status.status.success());
    let s = String::from_utf8_lossy(&status.stdout);
    assert!(s.contains("equity") && s.contains("inputs"), "{s}");
    let out = vigil().arg("paper").arg(&agent).arg("-q").output().unwrap();
    assert!(out.status.success());
    let out = vigil().arg("paper").arg(&agent).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("run complete"));
}

/// A grid agent keeps limit orders working; SIGTERM with `cancel_open_orders`
/// must cancel them, journal the cancels, exit 0, and a restart must resume.
#[test]
fn sigterm_with_cancel_open_orders_cancels_the_grid_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    write_head(&shipped(BTCUSDT_1M), 3000, &dir.path().join("bars.csv"));
    let agent = ConfigToml::btcusdt(
        "grid",
        "low = 45000\nhigh = 48000\nlevels = 7\norder_qty = 0.01",
    )
    .with("[shutdown]\ncancel_open_orders = true")
    .agent("grid-stop", "bars.csv", "1m", Some(100_000));
    let agent_path = dir.path().join("agent.toml");
    std::fs::write(&agent_path, agent).unwrap();
    let (child, stderr) = paper_until(&agent_path, 100, "progress seq=300 ", Stdio::piped());
    let st = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(st.success());
    let rest: Vec<String> = stderr.map_while(Result::ok).collect();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "exit {:?}: {rest:?}", out.status);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let (events, order_events) = rt.block_on(async {
        let j = Journal::open(dir.path().join("grid-stop.sqlite").to_str().unwrap())
            .await
            .unwrap();
        let r = (
            j.events("grid-stop").await.unwrap(),
            j.order_events("grid-stop").await.unwrap(),
        );
        j.close().await;
        r
    });
    let last = events.last().unwrap();
    assert!(last.payload.contains("cancel_all"), "{last:?}");
    let cancelled: Vec<_> = order_events
        .iter()
        .filter(|(_, status, reason)| {
            status == "cancelled" && reason.as_deref() == Some("cancelled at shutdown")
        })
        .collect();
    assert!(
        cancelled.len() >= 2,
        "a grid keeps several orders working; cancelled at stop: {cancelled:?}"
    );
    // The restart replays the cancel and runs to the end of the data.
    let out = vigil().arg("paper").arg(&agent_path).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("run complete"));
}

async fn sql(db: &Path, statement: &str) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query(statement).execute(&pool).await.unwrap();
    pool.close().await;
}

/// A journal edited, cut short or truncated under a run is refused at restart
/// (and by `vigil journal verify`), naming the input, instead of resuming from
/// another history or starting over.
#[test]
fn a_tampered_truncated_or_rolled_back_journal_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (agent, _) = setup(dir.path(), 400, 1_000_000);
    let out = vigil().arg("paper").arg(&agent).arg("-q").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verify = || {
        vigil()
            .args(["journal", "verify"])
            .arg(&agent)
            .output()
            .unwrap()
    };
    let ok = verify();
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        text.contains("run `crash-test` verified: 401 inputs"),
        "{text}"
    );
    let db = dir.path().join("crash-test.sqlite");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let refused = |needle: &str| {
        for cmd in [vec!["paper", "-q"], vec!["journal", "verify"]] {
            let out = vigil().args(&cmd).arg(&agent).output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{cmd:?} accepted it: {err}");
            assert!(err.contains(needle), "{cmd:?}: {err}");
        }
    };
    // An order deleted.
    let first_order: i64 = rt.block_on(async {
        let j = vigil_store::Journal::open(db.to_str().unwrap())
            .await
            .unwrap();
        let o = j.orders("crash-test").await.unwrap();
        j.close().await;
        o.iter().map(|o| o.order_id).max().unwrap()
    });
    let backup = std::fs::read(&db).unwrap();
    rt.block_on(sql(
        &db,
        &format!("DELETE FROM orders WHERE order_id = {first_order}"),
    ));
    refused("the journal was edited or damaged");
    // The last 50 inputs cut off (and their records): rolled back.
    std::fs::write(&db, &backup).unwrap();
    rt.block_on(async {
        for t in [
            "events",
            "orders",
            "order_events",
            "fills",
            "risk_events",
            "snapshots",
        ] {
            sql(&db, &format!("DELETE FROM {t} WHERE seq > 350")).await;
        }
        sql(&db, "UPDATE run_marks SET seq = 350").await;
    });
    refused("holds inputs 0..=350 but its high-water mark");
    // Truncated to zero: the agent used to start a new run.
    std::fs::write(&db, b"").unwrap();
    refused("holds no inputs but its high-water mark");
}

/// A second agent on a running run fails at once, naming the first one's pid.
#[test]
fn a_second_agent_on_a_running_run_is_refused_naming_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let (agent, _) = setup(dir.path(), 3000, 100);
    let (mut first, _lines) = paper_until(&agent, 10, "progress seq=10 ", Stdio::null());
    let second = vigil().arg("paper").arg(&agent).arg("-q").output().unwrap();
    first.kill().unwrap();
    let _ = first.wait();
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "run `crash-test` is already running (pid {})",
            first.id()
        )),
        "{err}"
    );
}

#[test]
fn operator_commands_are_signed_journaled_and_never_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let (agent, _) = setup(dir.path(), 3000, 200);
    let port = free_port();
    std::fs::write(
        dir.path().join("control-keys.toml"),
        format!("[[keys]]\nid = \"ops\"\nhmac_secret = \"{CONTROL_SECRET}\"\n"),
    )
    .unwrap();
    let text = std::fs::read_to_string(&agent).unwrap();
    std::fs::write(
        &agent,
        format!("{text}\n[status]\nlisten = \"127.0.0.1:{port}\"\n\n[control]\nkeys = \"control-keys.toml\"\n"),
    )
    .unwrap();
    let ctl = |action: &str| {
        vigil()
            .arg("ctl")
            .arg(&agent)
            .arg(action)
            .env("VIGIL_CONTROL_KEY_ID", "ops")
            .env("VIGIL_CONTROL_SECRET", CONTROL_SECRET)
            .output()
            .unwrap()
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let post = |path: &str, headers: Vec<(&str, String)>| {
        rt.block_on(async {
            let mut r = reqwest::Client::new().post(format!("http://127.0.0.1:{port}{path}"));
            for (k, v) in headers {
                r = r.header(k, v);
            }
            let resp = r.body("{}").send().await.unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        })
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let secret = hex::decode(CONTROL_SECRET).unwrap();
    let captured = vigil_control::SignedHeaders::hmac(
        "ops",
        &secret,
        "POST",
        "/v1/control/reduce-only",
        now,
        "captured-1",
        b"{}",
    );
    let headers = |h: &vigil_control::SignedHeaders| {
        vec![
            (vigil_control::HEADER_KEY, h.key_id.clone()),
            (vigil_control::HEADER_TIMESTAMP, h.timestamp.to_string()),
            (vigil_control::HEADER_NONCE, h.nonce.clone()),
            (vigil_control::HEADER_SIGNATURE, h.signature.clone()),
        ]
    };

    let mut first = start_controlled(&agent);
    let out = ctl("halt");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("halt: applied; trading state halted"));
    // Unsigned, and signed with a wrong secret: refused.
    let (code, body) = post("/v1/control/resume", vec![]);
    assert_eq!(code, 401, "{body}");
    let forged = vigil_control::SignedHeaders::hmac(
        "ops",
        &[1; 32],
        "POST",
        "/v1/control/resume",
        now,
        "forged-1",
        b"{}",
    );
    assert_eq!(post("/v1/control/resume", headers(&forged)).0, 401);
    // The captured request: accepted once.
    let (code, body) = post("/v1/control/reduce-only", headers(&captured));
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"trading_state\":\"reducing\""), "{body}");
    let (code, body) = post("/v1/control/reduce-only", headers(&captured));
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("replayed"), "{body}");
    // Killed right after: the commands were journaled before they were answered.
    first.kill().unwrap();
    let _ = first.wait();

    let mut second = start_controlled(&agent);
    let status: serde_json::Value = rt.block_on(async {
        reqwest::get(format!("http://127.0.0.1:{port}/status"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert_eq!(status["trading_state"], "reducing", "{status}");
    let (code, body) = post("/v1/control/reduce-only", headers(&captured));
    assert_eq!(code, 401, "a request captured before the kill: {body}");
    assert!(body.contains("replayed"), "{body}");
    let metrics = rt.block_on(async {
        reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    assert!(
        metrics
            .contains("vigil_control_rejected_total{agent=\"crash-test\",reason=\"replayed\"} 1"),
        "{metrics}"
    );
    second.kill().unwrap();
    let _ = second.wait();
}

/// A mock LLM server answering `n` times, long or short by `short(i)`.
fn llm_server(
    n: usize,
    short: impl Fn(usize) -> bool,
) -> (tokio::runtime::Runtime, vigil_llm::mock::MockLlm) {
    use vigil_llm::mock::{start_background, Reply};
    let (rt, m) = start_background(None);
    m.script((0..n).map(|i| {
        Reply::Answer(serde_json::json!({"decisions": [{"symbol": "BTCUSDT",
            "direction": if short(i) { "short" } else { "long" },
            "confidence": 0.6, "rationale": "mock"}]}))
    }));
    (rt, m)
}

/// Agent and backtest configs trading `bars` shipped 1-minute bars with
/// `signal-follow` on an `[llm]` source at `url` asking every `every` bars,
/// the agent replaying at `speed`.
fn llm_setup(dir: &Path, url: &str, bars: usize, every: u32, speed: u64) -> (PathBuf, PathBuf) {
    write_head(&shipped(BTCUSDT_1M), bars, &dir.join("bars.csv"));
    let llm = format!(
        "[llm]\nprovider = \"openai\"\nbase_url = \"{url}\"\nmodel = \"mock-model\"\nevery_bars = {every}\nhistory_bars = 10\n\
         prompt = \"At {{{{time}}}}:\\n{{{{bars}}}}\\nPosition: {{{{positions}}}}, cash {{{{cash}}}}\\nEarlier: {{{{previous}}}}\"\n\
         tape = \"llm-tape.jsonl\"\n"
    );
    let cfg = ConfigToml::btcusdt("signal-follow", "sources = [\"llm\"]\nweight = 0.9")
        .with("[venue]\ntaker_fee_bps = 10\nslippage_bps = 1");
    let (agent, backtest) = (dir.join("agent.toml"), dir.join("backtest.toml"));
    let text = cfg.agent("crash-test", "bars.csv", "1m", Some(speed)) + &llm;
    std::fs::write(&agent, text).unwrap();
    std::fs::write(&backtest, cfg.backtest("bars.csv", "1m") + &llm).unwrap();
    (agent, backtest)
}

/// An LLM-driven agent (`signal-follow` on `[llm]` signals) paper-trades a
/// replay against the local mock LLM server, recording its tape; the backtest
/// over the same bars replays the tape — no call — and gives the same fills
/// and the same final equity.
#[test]
fn an_llm_paper_run_replays_as_a_backtest_fill_for_fill() {
    let (_rt, m) = llm_server(20, |i| i % 2 == 1);
    let dir = tempfile::tempdir().unwrap();
    let (agent, backtest) = llm_setup(dir.path(), &m.openai_url(), 600, 30, 0);
    let fills = paper_equals_backtest(dir.path(), &agent, &backtest);
    assert!(
        fills.len() >= 10,
        "too few fills to compare: {}",
        fills.len()
    );
    assert_eq!(
        m.requests().len(),
        20,
        "the paper run asked 20 times, the backtest never"
    );
    let tape = std::fs::read_to_string(dir.path().join("llm-tape.jsonl")).unwrap();
    assert_eq!(tape.lines().count(), 20);
}

/// The LLM-driven agent SIGKILLed at random points — some during a call —
/// and restarted: it rebuilds the source from the journal and the tape, asks
/// again for an answer the tape never got, delivers an answer the journal never
/// applied, and ends as the backtest replaying its tape.
#[test]
fn an_llm_agent_killed_at_random_points_ends_as_its_tape_replayed() {
    let (_rt, m) = llm_server(200, |i| i % 3 == 0);
    let dir = tempfile::tempdir().unwrap();
    let (agent, backtest) = llm_setup(dir.path(), &m.openai_url(), 3000, 40, 200_000);
    kill_restart_and_compare(dir.path(), &agent, &backtest);
}
