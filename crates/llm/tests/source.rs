//! The LLM decision source against the local mock LLM server (127.0.0.1): both
//! wire formats, the faults real providers have, the tape and its replay, the
//! knowledge cutoff and the budgets.

use std::path::Path;

use rust_decimal_macros::dec;
use serde_json::{json, Value};
use vigil_core::{Bar, InstrumentSpec, MarketEvent, Portfolio, Signal, Timestamp, Universe};
use vigil_llm::mock::{MockLlm, Reply};
use vigil_llm::{LlmConfig, LlmError, LlmSource, TapeMode};

fn server(key: Option<&str>) -> (tokio::runtime::Runtime, MockLlm) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let m = rt.block_on(MockLlm::start(key));
    (rt, m)
}

fn universe() -> Universe {
    let mut u = Universe::new();
    u.add(&InstrumentSpec::spot("BTCUSDT", "BTC", "USDT"))
        .unwrap();
    u.add(&InstrumentSpec::spot("ETHUSDT", "ETH", "USDT"))
        .unwrap();
    u
}

fn config(provider: &str, url: &str, extra: &str) -> LlmConfig {
    toml::from_str(&format!(
        r#"provider = "{provider}"
base_url = "{url}"
model = "mock-model"
every_bars = 2
history_bars = 3
prompt = "Time {{{{time}}}}. Bars:\n{{{{bars}}}}\nPositions: {{{{positions}}}}\nEarlier: {{{{previous}}}}"
seed = 7
tape = "tape.jsonl"
timeout = "2s"
{extra}"#
    ))
    .unwrap()
}

/// Hourly BTC and ETH bars from 2024-01-01, BTC rising.
fn bars(u: &Universe, n: i64) -> Vec<MarketEvent> {
    let t0 = 1_704_067_200; // 2024-01-01
    let mut out = Vec::new();
    for i in 0..n {
        for (sym, base) in [("BTCUSDT", 42000 + 100 * i), ("ETHUSDT", 2200 + i)] {
            let p = rust_decimal::Decimal::from(base);
            out.push(MarketEvent::Bar(Bar {
                instrument: u.id(sym).unwrap(),
                open_time: Timestamp::from_secs(t0 + 3600 * i),
                close_time: Timestamp::from_secs(t0 + 3600 * (i + 1)),
                open: p,
                high: p,
                low: p,
                close: p,
                volume: dec!(1),
            }));
        }
    }
    out
}

/// Drives the source over the events as an engine would: after each event,
/// a decision when due; returns every signal with its arrival.
fn drive(
    src: &mut LlmSource,
    u: &Universe,
    events: &[MarketEvent],
) -> Result<Vec<Signal>, LlmError> {
    let usdt = u.asset_id("USDT").unwrap();
    let portfolio = Portfolio::new(u, usdt, &[(usdt, dec!(10000))]).unwrap();
    for e in events {
        if src.observe(e, u) {
            let p = src.prepare(e.ts(), &portfolio, u);
            src.resolve_blocking(p)?;
        }
    }
    Ok(src
        .due(Timestamp::MAX)
        .into_iter()
        .filter_map(|e| match e {
            MarketEvent::Signal(s) => Some(s),
            _ => None,
        })
        .collect())
}

fn answer(items: &[(&str, &str)]) -> Reply {
    Reply::Answer(json!({"decisions": items.iter().map(|(s, d)| json!(
        {"symbol": s, "direction": d, "confidence": 0.7, "rationale": "because"})).collect::<Vec<_>>()}))
}

fn tape_lines(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("tape.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn openai_recorded_then_replayed_gives_the_same_signals_without_a_call() {
    let (_rt, m) = server(Some("sk-test"));
    std::env::set_var("MOCK_OPENAI_KEY", "sk-test");
    m.otherwise(answer(&[("BTCUSDT", "long"), ("ETHUSDT", "flat")]));
    let dir = tempfile::tempdir().unwrap();
    let u = universe();
    let cfg = config(
        "openai",
        &m.openai_url(),
        "api_key_env = \"MOCK_OPENAI_KEY\"",
    );
    let events = bars(&u, 6);
    let mut rec = LlmSource::new(cfg.clone(), dir.path(), &u, TapeMode::Record).unwrap();
    let recorded = drive(&mut rec, &u, &events).unwrap();
    assert_eq!(
        recorded.len(),
        6,
        "3 decisions × 2 instruments: {recorded:#?}"
    );
    assert_eq!(m.requests().len(), 3);
    // The wire format: strict json_schema with the symbols, seed, bearer key.
    let (path, headers, body) = &m.requests()[0];
    assert_eq!(path, "/v1/chat/completions");
    assert_eq!(headers["authorization"], "Bearer sk-test");
    assert_eq!(body["response_format"]["type"], "json_schema");
    assert_eq!(body["response_format"]["json_schema"]["strict"], true);
    assert_eq!(
        body["response_format"]["json_schema"]["schema"]["properties"]["decisions"]["items"]
            ["properties"]["symbol"]["enum"],
        json!(["BTCUSDT", "ETHUSDT"])
    );
    assert_eq!(body["seed"], 7);
    // Signals arrive at the decision time plus the call's latency.
    let lines = tape_lines(dir.path());
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["fingerprint"], "fp_mock01");
    assert_eq!(lines[0]["model"], "mock-model-2026-01");
    let decided = Timestamp::from_secs(1_704_067_200 + 2 * 3600);
    let latency = lines[0]["latency_ms"].as_i64().unwrap();
    assert_eq!(
        recorded[0].received_at,
        Timestamp(decided.nanos() + latency * 1_000_000)
    );
    assert_eq!(recorded[0].direction, Some(1));
    assert!(
        !lines[0].to_string().contains("sk-test"),
        "no key on the tape"
    );

    let mut replay = LlmSource::new(cfg, dir.path(), &u, TapeMode::Replay).unwrap();
    let replayed = drive(&mut replay, &u, &events).unwrap();
    assert_eq!(replayed, recorded, "byte for byte, latency included");
    assert_eq!(m.requests().len(), 3, "replay called nothing");
    assert_eq!(replay.stats().replayed, 3);
}

#[test]
fn the_prompt_never_holds_data_after_its_decision() {
    let (_rt, m) = server(None);
    m.otherwise(answer(&[("BTCUSDT", "long")]));
    let dir = tempfile::tempdir().unwrap();
    let u = universe();
    let mut src = LlmSource::new(
        config("openai", &m.openai_url(), ""),
        dir.path(),
        &u,
        TapeMode::Record,
    )
    .unwrap();
    drive(&mut src, &u, &bars(&u, 8)).unwrap();
    for line in tape_lines(dir.path()) {
        let decided = line["decided_at"].as_str().unwrap().to_string();
        let prompt = line["request"]["messages"][1]["content"].as_str().unwrap();
        // Every bar row starts with its close time, which must not be later.
        for row in prompt.lines().filter(|l| l.starts_with("2024-")) {
            let t = row.split(',').next().unwrap();
            assert!(
                t <= decided.as_str(),
                "{t} after the decision at {decided}:\n{prompt}"
            );
        }
        assert!(prompt.contains(&format!("Time {decided}")), "{prompt}");
    }
}

#[test]
fn a_replay_without_the_entry_fails_with_the_time_and_hash() {
    let (_rt, m) = server(None);
    m.otherwise(answer(&[("BTCUSDT", "long")]));
    let dir = tempfile::tempdir().unwrap();
    let u = universe();
    let events = bars(&u, 4);
    let mut rec = LlmSource::new(
        config("openai", &m.openai_url(), ""),
        dir.path(),
        &u,
        TapeMode::Record,
    )
    .unwrap();
    drive(&mut rec, &u, &events).unwrap();
    // Another temperature: another request, not on the tape.
    let changed = config("openai", &m.openai_url(), "temperature = 0.5");
    let mut replay = LlmSource::new(changed.clone(), dir.path(), &u, TapeMode::Replay).unwrap();
    let e = drive(&mut replay, &u, &events).unwrap_err().to_string();
    assert!(
        e.contains("2024-01-01T02:00:00Z") && e.contains("request hash"),
        "{e}"
    );
    // record-missing fills the gap, and then replay works.
    let mut fill =
        LlmSource::new(changed.clone(), dir.path(), &u, TapeMode::RecordMissing).unwrap();
    drive(&mut fill, &u, &events).unwrap();
    let mut again = LlmSource::new(changed, dir.path(), &u, TapeMode::Replay).unwrap();
    assert_eq!(drive(&mut again, &u, &events).unwrap().len(), 2);
}

#[test]
fn anthropic_answers_through_the_forced_tool() {
    let (_rt, m) = server(Some("ant-key"));
    std::env::set_var("MOCK_ANTHROPIC_KEY", "ant-key");
    m.otherwise(answer(&[("ETHUSDT", "short")]));
    let dir = tempfile::tempdir().unwrap();
    let u = universe();
    let cfg = config(
        "anthropic",
        &m.anthropic_url(),
        "api_key_env = \"MOCK_ANTHROPIC_KEY\"",
    );
    let mut src = LlmSource::new(cfg, dir.path(), &u, TapeMode::Record).unwrap();
    let signals = drive(&mut src, &u, &bars(&u, 2)).unwrap();
    assert_eq!(signals.len(), 1);
    assert_eq!(
        (signals[0].instrument, signals[0].direction),
        (u.id("ETHUSDT").unwrap(), Some(-1))
    );
    let (path, headers, body) = &m.requests()[0];
    assert_eq!(path, "/v1/messages");
    assert_eq!(headers["x-api-key"], "ant-key");
    assert_eq!(headers["anthropic-version"], "2023-06-01");
    assert_eq!(
        body["tool_choice"],
        json!({"type": "tool", "name": "decide"})
    );
    assert!(body["system"].as_str().unwrap().contains("JSON"));
    assert_eq!(src.stats().prompt_tokens, 200);
}

#[test]
fn faults_are_retried_counted_and_never_traded() {
    let (_rt, m) = server(None);
    m.script([
        // 1: rate limited once, then an answer with a hallucinated ticker.
        Reply::RateLimit(1),
        answer(&[("BTCUSDT", "long"), ("DOGEUSDT", "long")]),
        // 2: 500 three times (the retries run out).
        Reply::ServerError,
        Reply::ServerError,
        Reply::ServerError,
        // 3: truncated; 4: not the schema; 5: no answer (timeout); 6: refusal.
        Reply::Truncated(json!({"decisions": [{"symbol": "BTCUSDT", "direction": "long", "confidence": 0.9, "rationale": "x"}]})),
        Reply::Text("{\"decisions\":[{\"symbol\":\"BTCUSDT\",\"side\":\"buy\"}]}".into()),
        Reply::Hang,
        Reply::Refuse,
    ]);
    let dir = tempfile::tempdir().unwrap();
    let u = universe();
    let mut src = LlmSource::new(
        config("openai", &m.openai_url(), ""),
        dir.path(),
        &u,
        TapeMode::Record,
    )
    .unwrap();
    let signals = drive(&mut src, &u, &bars(&u, 12)).unwrap();
    assert_eq!(
        signals.len(),
        1,
        "only BTCUSDT from the first answer: {signals:#?}"
    );
    let d = &src.stats().dropped;
    for (reason, n) in [
        ("unknown_symbol", 1),
        ("call_failed", 2),
        ("truncated", 1),
        ("off_schema", 1),
        ("refused", 1),
    ] {
        assert_eq!(d.get(reason), Some(&n), "{reason}: {d:?}");
    }
    // The 429's Retry-After was waited out: the first answer came ≥ 1 s late.
    let lines = tape_lines(dir.path());
    assert!(
        lines[0]["latency_ms"].as_u64().unwrap() >= 1000,
        "{}",
        lines[0]
    );
    assert!(
        lines[4]["error"]
            .as_str()
            .unwrap()
            .contains("no answer within"),
        "{}",
        lines[4]
    );
    assert!(
        lines[1]["error"].as_str().unwrap().contains("HTTP 500"),
        "{}",
        lines[1]
    );
}

#[test]
fn a_run_before_the_knowledge_cutoff_is_refused_unless_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let u = universe();
    let cfg = config(
        "openai",
        "http://127.0.0.1:9/v1",
        "knowledge_cutoff = \"2024-06-01\"",
    );
    let src = LlmSource::new(cfg.clone(), dir.path(), &u, TapeMode::Replay).unwrap();
    let e = src
        .check_start(Timestamp::from_secs(1_704_067_200))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("knowledge cutoff 2024-06-01") && e.contains("acknowledge_lookahead"),
        "{e}"
    );
    assert!(src.check_start(Timestamp::from_secs(1_720_000_000)).is_ok());
    let mut ack = cfg;
    ack.acknowledge_lookahead = true;
    let src = LlmSource::new(ack, dir.path(), &u, TapeMode::Replay).unwrap();
    assert!(src.check_start(Timestamp::from_secs(1_704_067_200)).is_ok());
}

#[test]
fn a_spent_daily_budget_stops_calls_until_the_next_day() {
    let (_rt, m) = server(None);
    m.otherwise(answer(&[("BTCUSDT", "long")]));
    let dir = tempfile::tempdir().unwrap();
    let u = universe();
    let cfg = config("openai", &m.openai_url(), "[budget]\ncalls_per_day = 2");
    let mut src = LlmSource::new(cfg, dir.path(), &u, TapeMode::Record).unwrap();
    // 30 hours: 15 decision points, 2 calls on day one, 2 on day two.
    let signals = drive(&mut src, &u, &bars(&u, 30)).unwrap();
    assert_eq!(m.requests().len(), 4);
    assert_eq!(signals.len(), 4);
    assert_eq!(src.stats().dropped.get("over_budget"), Some(&11));
    assert_eq!(src.stats().over_budget_days, 2);
}
