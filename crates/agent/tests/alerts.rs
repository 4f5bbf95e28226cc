//! Alerts out, against receivers on 127.0.0.1: a Standard Webhooks receiver
//! that refuses connections, fails with 500 and hangs past the timeout before
//! it recovers — every alert delivered, each acknowledged once under its id,
//! every signature verified by the npm `standardwebhooks` library — and a
//! storm of rejects coalesced into a couple of messages.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use vigil_testkit::{npm_package, shipped, write_head, ConfigToml, BTCUSDT_1M};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// What the receiver saw: every request in order, and the ids it answered
/// 200 to (with the raw headers and body, for verification).
#[derive(Default)]
struct Seen {
    requests: u64,
    accepted: Vec<(String, String, String, String)>, // id, timestamp, signature, body
}

#[derive(Clone)]
struct Receiver {
    seen: Arc<Mutex<Seen>>,
    /// What the first requests get: 500, or no answer at all.
    faults: Arc<Vec<&'static str>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let n = {
        let mut s = r.seen.lock().unwrap();
        s.requests += 1;
        s.requests as usize
    };
    match r.faults.get(n - 1).copied() {
        Some("500") => return StatusCode::INTERNAL_SERVER_ERROR,
        Some("hang") => {
            std::future::pending::<()>().await;
        }
        _ => {}
    }
    let h = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    r.seen.lock().unwrap().accepted.push((
        h("webhook-id"),
        h("webhook-timestamp"),
        h("webhook-signature"),
        String::from_utf8_lossy(&body).into_owned(),
    ));
    StatusCode::OK
}

/// Serves the receiver on `listener`.
fn serve(listener: std::net::TcpListener, r: Receiver) {
    listener.set_nonblocking(true).unwrap();
    let app = axum::Router::new()
        .route("/hook", post(receive))
        .with_state(r);
    tokio::spawn(async move {
        let l = tokio::net::TcpListener::from_std(listener).unwrap();
        axum::serve(l, app).await.unwrap();
    });
}

/// A receiver that accepts everything, served on a free loopback port.
fn accepting_receiver() -> (Receiver, u16) {
    let receiver = Receiver {
        seen: Arc::default(),
        faults: Arc::new(Vec::new()),
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    serve(listener, receiver.clone());
    (receiver, port)
}

impl Receiver {
    /// The bodies of the alerts it accepted, in order.
    fn alerts(&self) -> Vec<serde_json::Value> {
        self.seen
            .lock()
            .unwrap()
            .accepted
            .iter()
            .map(|a| serde_json::from_str(&a.3).unwrap())
            .collect()
    }
}

fn registry() -> vigil_strategy::Registry {
    let mut r = vigil_strategy::Registry::new();
    r.register(vigil_sma_cross::descriptor()).unwrap();
    r
}

/// An sma-cross paper agent over `bars` rows, unpaced, with `extra` appended.
fn agent(dir: &Path, name: &str, bars: usize, params: &str, extra: &str) -> PathBuf {
    write_head(&shipped(BTCUSDT_1M), bars, &dir.join("bars.csv"));
    let cfg = ConfigToml::btcusdt("sma-cross", params).agent(name, "bars.csv", "1m", None) + extra;
    let path = dir.join("agent.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}

fn webhook(port: u16, more: &str) -> String {
    format!(
        "\n[[alerts]]\nname = \"ops\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:{port}/hook\"\nsecret_env = \"TEST_ALERT_SECRET\"\ntimeout_ms = 300\nretry_initial_ms = 50\nretry_max_ms = 200\n{more}\n"
    )
}

async fn journal(dir: &Path, name: &str) -> vigil_store::Journal {
    vigil_store::Journal::open(dir.join(format!("{name}.sqlite")).to_str().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_reach_a_receiver_that_refuses_fails_and_hangs_then_recovers() {
    // The only test that sets this variable.
    std::env::set_var("TEST_ALERT_SECRET", SECRET);
    let dir = tempfile::tempdir().unwrap();
    // A port with nothing listening yet: the first attempts are refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    // Halted by a drawdown limit on the way, with a stop-loss: several kinds.
    let path = agent(
        dir.path(),
        "alerts-faults",
        3000,
        "fast = 5\nslow = 15",
        &(webhook(port, "")
            + "[alerting]\nshutdown_grace = \"3s\"\n[risk]\nstop_loss_pct = 0.0005\nmax_drawdown_pct = 0.02\n"),
    );
    let summary = vigil_agent::run(
        &path,
        &registry(),
        Default::default(),
        std::future::pending(),
    )
    .await
    .unwrap();
    assert!(summary.finished);
    // The run is over and nothing was delivered: the receiver was not there.
    let j = journal(dir.path(), "alerts-faults").await;
    let counts = j.alert_counts("alerts-faults").await.unwrap();
    assert_eq!(counts.delivered, 0, "{counts:?}");
    assert!(counts.pending >= 3, "{counts:?}");
    let kinds: BTreeMap<String, usize> = j
        .alerts("alerts-faults")
        .await
        .unwrap()
        .iter()
        .map(|(a, _)| {
            serde_json::from_str::<serde_json::Value>(&a.payload).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .fold(BTreeMap::new(), |mut m, k| {
            *m.entry(k).or_insert(0) += 1;
            m
        });
    for k in [
        "agent_started",
        "agent_stopped",
        "protective_exit",
        "trading_state",
    ] {
        assert!(kinds.contains_key(k), "no {k} alert: {kinds:?}");
    }

    // Now the receiver: 500, no answer (the 300 ms timeout), 500, then fine.
    let receiver = Receiver {
        seen: Arc::default(),
        faults: Arc::new(vec!["500", "hang", "500"]),
    };
    serve(
        std::net::TcpListener::bind(("127.0.0.1", port)).unwrap(),
        receiver.clone(),
    );
    // A restart (the run is finished: it replays, finds the end, and stops)
    // delivers what is pending.
    let summary = vigil_agent::run(
        &path,
        &registry(),
        Default::default(),
        std::future::pending(),
    )
    .await
    .unwrap();
    assert!(summary.finished);
    let counts = j.alert_counts("alerts-faults").await.unwrap();
    assert_eq!(counts.pending, 0, "{counts:?}");
    assert_eq!(counts.gave_up, 0, "{counts:?}");
    let stored: Vec<String> = j
        .alerts("alerts-faults")
        .await
        .unwrap()
        .into_iter()
        .map(|(a, state)| {
            assert_eq!(state, "delivered");
            a.alert_id
        })
        .collect();
    let seen = receiver.seen.lock().unwrap();
    let mut acked: Vec<String> = seen.accepted.iter().map(|a| a.0.clone()).collect();
    acked.sort();
    let mut want = stored.clone();
    want.sort();
    assert_eq!(
        acked, want,
        "every alert acknowledged exactly once, under its own id"
    );
    assert!(seen.requests as usize > acked.len(), "the faults were hit");
    let bodies: Vec<(String, String, String, String)> = seen.accepted.clone();
    drop(seen);
    verify_with_npm(&bodies);
}

/// The npm `standardwebhooks` library verifies every alert vigil sent.
fn verify_with_npm(messages: &[(String, String, String, String)]) {
    let Some(npm) = npm_package("standardwebhooks") else {
        return;
    };
    let list = serde_json::to_string(messages).unwrap();
    let script = format!(
        r#"const {{ Webhook }} = require({npm:?});
const wh = new Webhook({SECRET:?});
let ok = 0;
for (const [id, ts, sig, body] of {list}) {{
  const payload = wh.verify(body, {{"webhook-id": id, "webhook-timestamp": ts, "webhook-signature": sig}});
  if (payload.id !== id || payload.type !== "vigil.alert") throw new Error("bad payload " + body);
  ok += 1;
}}
console.log("verified " + ok);"#,
        npm = npm.display().to_string()
    );
    let out = std::process::Command::new("node")
        .arg("-e")
        .arg(script)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.trim(),
        format!("verified {}", messages.len()),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_rejects_is_one_alert_and_one_count() {
    std::env::set_var("TEST_ALERT_SECRET", SECRET);
    let dir = tempfile::tempdir().unwrap();
    let (receiver, port) = accepting_receiver();
    // Every order denied (no grade ever arrives), hundreds of crosses; only the
    // rejects are sent to this channel.
    let path = agent(
        dir.path(),
        "alerts-storm",
        3000,
        "fast = 2\nslow = 3",
        &(webhook(port, "events = [\"rejects\"]\n")
            + "[alerting]\ncoalesce = \"1h\"\n[risk]\ngrade_kind = \"trader\"\nrequire_grade = true\n"),
    );
    let summary = vigil_agent::run(
        &path,
        &registry(),
        Default::default(),
        std::future::pending(),
    )
    .await
    .unwrap();
    assert!(summary.finished);
    let alerts = receiver.alerts();
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
    assert!(alerts.iter().all(|a| a["kind"] == "rejects"));
    let first = alerts
        .iter()
        .find(|a| a["data"]["count"].is_null())
        .unwrap();
    assert!(
        first["title"].as_str().unwrap().contains("missing_grade"),
        "{first}"
    );
    let counted = alerts
        .iter()
        .find_map(|a| a["data"]["count"].as_u64())
        .unwrap();
    assert!(counted >= 100, "a storm: {counted}");
    // The first alert and the count cover every denial, none twice.
    let j = journal(dir.path(), "alerts-storm").await;
    let denied = j
        .orders("alerts-storm")
        .await
        .unwrap()
        .iter()
        .filter(|o| o.verdict.contains("missing_grade"))
        .count() as u64;
    assert_eq!(counted + 1, denied);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_feed_is_reported_once() {
    std::env::set_var("TEST_ALERT_SECRET", SECRET);
    let dir = tempfile::tempdir().unwrap();
    let (receiver, port) = accepting_receiver();
    // Real time: a bar a minute, so after the first the feed is quiet.
    write_head(&shipped(BTCUSDT_1M), 100, &dir.path().join("bars.csv"));
    let cfg = ConfigToml::btcusdt("sma-cross", "fast = 10\nslow = 30").agent(
        "alerts-silent",
        "bars.csv",
        "1m",
        Some(1),
    ) + &webhook(port, "events = [\"feed_silent\"]\n")
        + "[alerting]\nfeed_silent_after = \"1s\"\n";
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, cfg).unwrap();
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let agent = tokio::spawn(async move {
        vigil_agent::run(&path, &registry(), Default::default(), async {
            let _ = stop_rx.await;
        })
        .await
    });
    // Wait (at most 30 s) for the alert to arrive.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let silent = loop {
        let got: Vec<serde_json::Value> = receiver
            .seen
            .lock()
            .unwrap()
            .accepted
            .iter()
            .map(|a| serde_json::from_str(&a.3).unwrap())
            .collect();
        if !got.is_empty() {
            break got;
        }
        assert!(std::time::Instant::now() < deadline, "no feed_silent alert");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    stop.send(()).unwrap();
    agent.await.unwrap().unwrap();
    assert_eq!(silent.len(), 1, "{silent:?}");
    assert_eq!(silent[0]["kind"], "feed_silent");
    assert_eq!(silent[0]["severity"], "warning");
    let after = receiver.seen.lock().unwrap().accepted.len();
    assert_eq!(after, 1, "reported once, not every second");
}

/// A 10× perpetual long in a paper agent, then a crash through its
/// liquidation price: the position is liquidated, the journal holds the
/// closing fill (order id 0) and the event, and a `liquidation` alert goes out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_liquidation_is_journaled_and_alerted() {
    std::env::set_var("TEST_ALERT_SECRET", SECRET);
    let dir = tempfile::tempdir().unwrap();
    let (receiver, port) = accepting_receiver();
    // Falling, then rising (a cross up: long at the next open), then a crash.
    let mut csv = String::from("ts,open,high,low,close,volume\n");
    let closes = [100, 99, 98, 97, 99, 102, 104, 105, 106, 106, 80, 80, 81];
    for (i, c) in closes.iter().enumerate() {
        let low = if *c == 80 { 79 } else { *c };
        csv.push_str(&format!("2022-01-01T00:{i:02}:00Z,{c},{c},{low},{c},1\n"));
    }
    std::fs::write(dir.path().join("bars.csv"), csv).unwrap();
    let cfg = ConfigToml::btcusdt("sma-cross", "fast = 2\nslow = 3\nshort = true")
        .perpetual(10)
        .with("[venue]\ntaker_fee_bps = 5\nslippage_bps = 0")
        .agent("perp-liq", "bars.csv", "1m", None)
        + &webhook(port, "events = [\"liquidation\"]\n");
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, cfg).unwrap();
    let summary = vigil_agent::run(
        &path,
        &registry(),
        Default::default(),
        std::future::pending(),
    )
    .await
    .unwrap();
    assert!(summary.finished);
    let alerts = receiver.alerts();
    let j = journal(dir.path(), "perp-liq").await;
    let fills = j.fills("perp-liq").await.unwrap();
    assert!(
        fills.iter().any(|f| f.order_id == 0 && f.side == "sell"),
        "{fills:?}"
    );
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0]["kind"], "liquidation");
    assert_eq!(alerts[0]["severity"], "critical");
    let j = journal(dir.path(), "perp-liq").await;
    let fills = j.fills("perp-liq").await.unwrap();
    assert!(
        fills.iter().any(|f| f.order_id == 0 && f.side == "sell"),
        "{fills:?}"
    );
}
