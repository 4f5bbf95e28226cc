//! A backtest driven by an LLM decision source: recorded against the local mock
//! LLM server (127.0.0.1), then replayed from the tape with identical results,
//! no call made, and the look-ahead check passing.

use std::path::{Path, PathBuf};

use serde_json::json;
use vigil_backtest::lookahead::check_lookahead;
use vigil_backtest::Backtest;
use vigil_llm::mock::{start_background, Reply};
use vigil_strategy::Registry;

fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(vigil_signal_follow::descriptor()).unwrap();
    r
}

/// 48 hourly bars, a sine-ish walk, and a config asking the model every 6 bars.
fn setup(dir: &Path, url: &str, mode: &str) -> PathBuf {
    let mut csv = String::from("ts,open,high,low,close,volume\n");
    for i in 0..48 {
        let p = 40000.0 + 800.0 * ((i as f64) / 5.0).sin();
        csv.push_str(&format!(
            "{},{p:.2},{:.2},{:.2},{p:.2},10\n",
            1_704_067_200 + 3600 * i,
            p + 50.0,
            p - 50.0
        ));
    }
    std::fs::write(dir.join("bars.csv"), csv).unwrap();
    let cfg = format!(
        r#"account_currency = "USDT"
starting_cash = 10000

[[instruments]]
symbol = "BTCUSDT"
base = "BTC"
quote = "USDT"

[[data.bars]]
instrument = "BTCUSDT"
path = "bars.csv"
interval = "1h"

[venue]
taker_fee_bps = 10

[strategy]
name = "signal-follow"
sources = ["llm"]
weight = 0.9

[llm]
provider = "openai"
base_url = "{url}"
model = "mock-model"
every_bars = 6
history_bars = 12
prompt = "At {{{{time}}}}, BTCUSDT bars:\n{{{{bars}}}}\nPosition: {{{{positions}}}}. Long or short?"
tape = "tapes/btc.jsonl"
mode = "{mode}"
"#
    );
    let path = dir.join("llm.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}

fn decision(direction: &str) -> Reply {
    Reply::Answer(
        json!({"decisions": [{"symbol": "BTCUSDT", "direction": direction,
        "confidence": 0.6, "rationale": "the mock says so"}]}),
    )
}

#[test]
fn a_recorded_llm_backtest_replays_identically_and_passes_the_lookahead_check() {
    let (_rt, m) = start_background(None);
    m.script((0..8).map(|i| decision(if i % 2 == 0 { "long" } else { "short" })));
    let dir = tempfile::tempdir().unwrap();
    let recorded = Backtest::from_file(setup(dir.path(), &m.openai_url(), "record"), &registry())
        .unwrap()
        .run()
        .unwrap();
    let llm = recorded.llm.as_ref().expect("an llm section");
    assert_eq!((llm.called, llm.decisions), (8, 8), "{llm:?}");
    assert!(recorded.orders.filled >= 6, "{:?}", recorded.orders);
    assert_eq!(m.requests().len(), 8);

    let cfg = setup(dir.path(), &m.openai_url(), "replay");
    let replayed = Backtest::from_file(&cfg, &registry())
        .unwrap()
        .run()
        .unwrap();
    assert_eq!(m.requests().len(), 8, "the replay called nothing");
    assert_eq!(replayed.llm.as_ref().unwrap().replayed, 8);
    let strip = |r: &vigil_backtest::BacktestReport| {
        let mut v = serde_json::to_value(r).unwrap();
        v["llm"] = serde_json::Value::Null; // called vs replayed counts differ, by design
        v
    };
    assert_eq!(
        strip(&replayed),
        strip(&recorded),
        "fills, equity and metrics identical"
    );

    let la = check_lookahead(&cfg, &registry(), 4).unwrap();
    assert!(!la.lookahead_detected, "{la:?}");
}

#[test]
fn a_replay_missing_an_entry_stops_with_the_time_and_hash() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "http://127.0.0.1:9/v1", "replay");
    let e = match Backtest::from_file(&cfg, &registry()).unwrap().run() {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a replay without a tape must fail"),
    };
    assert!(
        e.contains("2024-01-01T06:00:00Z") && e.contains("request hash"),
        "{e}"
    );
}

/// A sweep over prompt variants: recorded one run after another with
/// `record-missing`, then replayed in parallel with the same rows and no call.
#[test]
fn a_sweep_over_prompt_variants_records_once_then_replays_in_parallel() {
    let (_rt, m) = start_background(None);
    m.otherwise(decision("long"));
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), &m.openai_url(), "record-missing");
    let sweep = dir.path().join("sweep.toml");
    std::fs::write(
        &sweep,
        "backtest = \"llm.toml\"\nmetric = \"total_return\"\npbo_blocks = 4\n\n[params]\nweight = [0.5, 0.9]\n\
         \"llm.prompt\" = [\"Cautious. At {{time}}:\\n{{bars}}\", \"Bold. At {{time}}:\\n{{bars}}\"]\n",
    )
    .unwrap();
    let parallel = vigil_backtest::sweep::run_sweep(&sweep, &registry(), 2, false);
    assert!(
        parallel
            .as_ref()
            .is_err_and(|e| e.to_string().contains("--threads 1")),
        "recording in parallel is refused"
    );
    let recorded = vigil_backtest::sweep::run_sweep(&sweep, &registry(), 1, false).unwrap();
    assert_eq!(recorded.rows.len(), 4);
    // 2 prompts × 8 decisions; the weights share the prompts' answers.
    assert_eq!(m.requests().len(), 16);
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("record-missing", "replay");
    std::fs::write(&cfg, text).unwrap();
    let replayed = vigil_backtest::sweep::run_sweep(&sweep, &registry(), 2, false).unwrap();
    assert_eq!(m.requests().len(), 16, "the replay called nothing");
    assert_eq!(
        serde_json::to_value(&replayed.rows).unwrap(),
        serde_json::to_value(&recorded.rows).unwrap()
    );
    // An unknown [llm] field is named.
    std::fs::write(
        &sweep,
        "backtest = \"llm.toml\"\n[params]\n\"llm.tape\" = [\"x\"]\n",
    )
    .unwrap();
    let e = vigil_backtest::sweep::run_sweep(&sweep, &registry(), 1, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("`llm.tape` cannot be swept"), "{e}");
}
