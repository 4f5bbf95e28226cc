//! Signals in by webhook, against a running paper agent: Standard Webhooks
//! verification (refusals counted, nothing changed), ids remembered across a
//! restart, TradingView mode, a signal signed by the npm `standardwebhooks`
//! package (code nobody here wrote), and a paper run driven by signals equal
//! to the backtest of the signals CSV it recorded.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use vigil_control::webhooks::WebhookSecret;
use vigil_testkit::{npm_package, shipped, write_head, ConfigToml, BTCUSDT_1M};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OLD_SECRET: &str = "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const PASSPHRASE: &str = "correct horse battery staple";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn registry() -> vigil_strategy::Registry {
    let mut r = vigil_strategy::Registry::new();
    r.register(vigil_signal_follow::descriptor()).unwrap();
    r
}

struct Agent {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<Result<vigil_agent::AgentSummary, vigil_agent::AgentError>>,
}

/// Writes `agent.toml` in `dir`: signal-follow on the shipped 1-minute bars
/// at `speed`, the status server on a free port, and `[signals]` `signals`.
fn write_config(dir: &Path, name: &str, speed: Option<u64>, bars: &str, signals: &str) -> PathBuf {
    std::fs::write(
        dir.join("secrets.toml"),
        format!("secrets = [\"{OLD_SECRET}\", \"{SECRET}\"]\n"),
    )
    .unwrap();
    let cfg = ConfigToml::btcusdt("signal-follow", "").agent(name, bars, "1m", speed)
        + &format!("[status]\nlisten = \"127.0.0.1:0\"\n[signals]\n{signals}\n");
    let path = dir.join("agent.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}

fn start(
    path: PathBuf,
    notify: Option<tokio::sync::mpsc::UnboundedSender<vigil_agent::Notice>>,
) -> (Agent, tokio::sync::oneshot::Receiver<SocketAddr>) {
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let options = vigil_agent::RunOptions {
        status_addr: Some(addr_tx),
        notify,
        ..Default::default()
    };
    let handle = tokio::spawn(async move {
        vigil_agent::run(&path, &registry(), options, async {
            let _ = stop_rx.await;
        })
        .await
    });
    (
        Agent {
            addr: "0.0.0.0:0".parse().unwrap(),
            stop,
            handle,
        },
        addr_rx,
    )
}

/// Starts the agent and waits until it has applied an input (a signal needs
/// the replay's time).
async fn started(path: PathBuf) -> Agent {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (mut a, addr) = start(path, Some(tx));
    a.addr = addr.await.unwrap();
    while let Some(n) = rx.recv().await {
        if matches!(n, vigil_agent::Notice::Processed { .. }) {
            break;
        }
    }
    a
}

/// The signature with one base64 digit changed.
fn tamper(sig: &str) -> String {
    let mut b = sig.as_bytes().to_vec();
    b[10] = if b[10] == b'A' { b'B' } else { b'A' };
    String::from_utf8(b).unwrap()
}

impl Agent {
    async fn stop(self) -> vigil_agent::AgentSummary {
        self.stop.send(()).unwrap();
        self.handle.await.unwrap().unwrap()
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// POSTs a Standard Webhooks message; (status, body).
    async fn post(&self, id: &str, ts: i64, signature: &str, body: &str) -> (u16, String) {
        let r = reqwest::Client::new()
            .post(self.url("/v1/signals"))
            .header("webhook-id", id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signature)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// POSTs `body` signed with `secret` under `id`, now.
    async fn signed(&self, secret: &str, id: &str, body: &str) -> (u16, String) {
        let ts = now();
        let sig = WebhookSecret::parse(secret)
            .unwrap()
            .sign(id, ts, body.as_bytes());
        self.post(id, ts, &sig, body).await
    }

    async fn metric(&self, name: &str) -> u64 {
        let text = reqwest::get(self.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }
}

fn csv_rows(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .skip(1)
        .map(String::from)
        .collect()
}

const LONG: &str = r#"{"instrument": "BTCUSDT", "direction": 1, "source": "my-model"}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signals_are_refused_counted_and_change_nothing_also_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let bars = shipped(BTCUSDT_1M).display().to_string();
    let path = write_config(
        dir.path(),
        "sig-refusals",
        Some(60),
        &bars,
        "secrets = \"secrets.toml\"\nmax_body_bytes = 1024",
    );
    let a = started(path.clone()).await;
    let csv = dir.path().join("sig-refusals-signals.csv");
    let (code, body) = a.signed(SECRET, "msg_first", LONG).await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"accepted\":true"), "{body}");
    assert_eq!(csv_rows(&csv).len(), 1);
    assert_eq!(a.metric("vigil_signals_accepted_total").await, 1);

    let ts = now();
    let secret = WebhookSecret::parse(SECRET).unwrap();
    let good = secret.sign("msg_2", ts, LONG.as_bytes());
    let cases: Vec<(&str, String, i64, String, &str, u16)> = vec![
        (
            "bad_signature",
            "msg_2".into(),
            ts,
            tamper(&good),
            LONG,
            401,
        ),
        ("bad_signature", "msg_2".into(), ts, "v1,".into(), LONG, 401),
        (
            "bad_signature",
            "msg_2".into(),
            ts,
            good[..good.len() - 8].to_string(),
            LONG,
            401,
        ),
        ("bad_signature", "msg_3".into(), ts, good.clone(), LONG, 401), // signed for another id
        (
            "stale",
            "msg_4".into(),
            ts - 301,
            secret.sign("msg_4", ts - 301, LONG.as_bytes()),
            LONG,
            401,
        ),
        (
            "stale",
            "msg_5".into(),
            ts + 301,
            secret.sign("msg_5", ts + 301, LONG.as_bytes()),
            LONG,
            401,
        ),
        (
            "duplicate",
            "msg_first".into(),
            ts,
            secret.sign("msg_first", ts, LONG.as_bytes()),
            LONG,
            409,
        ),
    ];
    for (reason, id, t, sig, body, want) in &cases {
        let (code, text) = a.post(id, *t, sig, body).await;
        assert_eq!(code, *want, "{reason}: {text}");
        assert!(text.contains(reason), "{reason}: {text}");
    }
    let unknown = r#"{"instrument": "ETHUSDT", "direction": 1}"#;
    let (code, text) = a.signed(SECRET, "msg_6", unknown).await;
    assert_eq!(code, 422, "{text}");
    assert!(text.contains("unknown_instrument"), "{text}");
    let big = format!(
        r#"{{"instrument": "BTCUSDT", "direction": 1, "source": "{}"}}"#,
        "x".repeat(2000)
    );
    let (code, text) = a.signed(SECRET, "msg_7", &big).await;
    assert_eq!(code, 413, "{text}");
    let (code, text) = a
        .signed(
            SECRET,
            "msg_8",
            r#"{"instrument": "BTCUSDT", "direction": 3}"#,
        )
        .await;
    assert_eq!(code, 422, "{text}");
    // Nothing changed; every refusal counted.
    assert_eq!(a.metric("vigil_signals_accepted_total").await, 1);
    assert_eq!(
        a.metric("vigil_signals_rejected_total{agent=\"sig-refusals\",reason=\"bad_signature\"")
            .await,
        4
    );
    assert_eq!(a.metric("vigil_signals_rejected_total").await, 10);
    assert_eq!(csv_rows(&csv).len(), 1);
    // Rotation: the old secret verifies too.
    let (code, text) = a.signed(OLD_SECRET, "msg_9", LONG).await;
    assert_eq!(code, 200, "{text}");
    a.stop().await;

    // After a restart, the ids applied before it are still refused.
    let a = started(path).await;
    let (code, text) = a.signed(SECRET, "msg_first", LONG).await;
    assert_eq!(code, 409, "{text}");
    let (code, text) = a.signed(SECRET, "msg_10", LONG).await;
    assert_eq!(code, 200, "{text}");
    a.stop().await;
    let rows = csv_rows(&csv);
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(
        rows[0].contains(",msg_first,BTCUSDT,1,,my-model,"),
        "{rows:?}"
    );
    let journal =
        vigil_store::Journal::open(dir.path().join("sig-refusals.sqlite").to_str().unwrap())
            .await
            .unwrap();
    let signals = journal
        .events("sig-refusals")
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == vigil_store::EventKind::Signal)
        .count();
    assert_eq!(signals, 3, "every applied signal is a journaled input");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tradingview_mode_checks_the_passphrase_and_the_source_address() {
    // The only test that sets this variable.
    std::env::set_var("TEST_TV_PASSPHRASE", PASSPHRASE);
    let dir = tempfile::tempdir().unwrap();
    let bars = shipped(BTCUSDT_1M).display().to_string();
    let tv = "[signals.tradingview]\npassphrase_env = \"TEST_TV_PASSPHRASE\"\n";
    let path = write_config(
        dir.path(),
        "sig-tv",
        Some(60),
        &bars,
        &format!("{tv}allow_ips = [\"127.0.0.1\"]\n"),
    );
    let a = started(path).await;
    let post = |body: String| {
        let url = a.url("/v1/signals/tradingview");
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let body = |pass: &str, id: &str| {
        format!(r#"{{"passphrase": "{pass}", "ticker": "BTCUSDT", "action": "buy", "id": "{id}"}}"#)
    };
    let (code, text) = post(body("wrong passphrase", "1")).await;
    assert_eq!(code, 401, "{text}");
    assert!(text.contains("bad_passphrase"));
    let (code, text) = post(body(PASSPHRASE, "1")).await;
    assert_eq!(code, 200, "{text}");
    let (code, text) = post(body(PASSPHRASE, "1")).await;
    assert_eq!(code, 409, "{text}");
    // Signed signals are off here.
    let (code, _) = a.signed(SECRET, "m", LONG).await;
    assert_eq!(code, 404);
    assert_eq!(a.metric("vigil_signals_accepted_total").await, 1);
    a.stop().await;

    // An agent that allows only TradingView's addresses refuses 127.0.0.1.
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), "sig-tv-ip", Some(60), &bars, tv);
    let a = started(path).await;
    let r = reqwest::Client::new()
        .post(a.url("/v1/signals/tradingview"))
        .body(body(PASSPHRASE, "2"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert!(r.text().await.unwrap().contains("ip_not_allowed"));
    assert_eq!(
        a.metric("vigil_signals_rejected_total{agent=\"sig-tv-ip\",reason=\"ip_not_allowed\"")
            .await,
        1
    );
    a.stop().await;
}

/// The npm `standardwebhooks` package (installed by scripts/test.sh into
/// .vigil-cache/npm) signs; vigil verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_signed_by_the_npm_standardwebhooks_package_is_accepted() {
    let Some(npm) = npm_package("standardwebhooks") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let bars = shipped(BTCUSDT_1M).display().to_string();
    let path = write_config(
        dir.path(),
        "sig-npm",
        Some(60),
        &bars,
        "secrets = \"secrets.toml\"",
    );
    let a = started(path).await;
    let script = format!(
        r#"const {{ Webhook }} = require({npm:?});
const wh = new Webhook({SECRET:?});
const id = "msg_from_npm";
const ts = new Date();
const body = JSON.stringify({{instrument: "BTCUSDT", score: 90, source: "npm"}});
const sig = wh.sign(id, ts, body);
fetch("{url}", {{method: "POST", body, headers: {{
  "webhook-id": id, "webhook-timestamp": String(Math.floor(ts.getTime() / 1000)),
  "webhook-signature": sig, "content-type": "application/json"}}}})
  .then(async r => {{ console.log(r.status + " " + await r.text()); }})
  .catch(e => {{ console.log("error " + e); process.exit(1); }});"#,
        npm = npm.display().to_string(),
        url = a.url("/v1/signals"),
    );
    let out = tokio::process::Command::new("node")
        .arg("-e")
        .arg(script)
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text.starts_with("200 "),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    a.stop().await;
    let rows = csv_rows(&dir.path().join("sig-npm-signals.csv"));
    assert!(
        rows.iter()
            .any(|r| r.contains(",msg_from_npm,BTCUSDT,,90,npm,")),
        "{rows:?}"
    );
}

/// Signals posted while a paper agent replays the bars, then the signals CSV
/// it recorded replayed by a backtest over the same bars: the same fills.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paper_run_driven_by_signals_equals_the_backtest_of_its_signals_csv() {
    let dir = tempfile::tempdir().unwrap();
    write_head(&shipped(BTCUSDT_1M), 600, &dir.path().join("bars.csv"));
    let path = write_config(
        dir.path(),
        "sig-parity",
        Some(6000),
        "bars.csv",
        "secrets = \"secrets.toml\"",
    );
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (mut a, addr) = start(path, Some(tx));
    a.addr = addr.await.unwrap();
    // Long at input 60, out at 150, long at 240, out at 330.
    let plan = [(60, 1), (150, -1), (240, 1), (330, -1)];
    let mut next = 0;
    while let Some(n) = rx.recv().await {
        let vigil_agent::Notice::Processed { seq } = n else {
            continue;
        };
        if next < plan.len() && seq >= plan[next].0 {
            let body = format!(
                r#"{{"instrument": "BTCUSDT", "direction": {}}}"#,
                plan[next].1
            );
            let (code, text) = a.signed(SECRET, &format!("parity_{next}"), &body).await;
            assert_eq!(code, 200, "{text}");
            next += 1;
        }
        if seq >= 400 {
            break;
        }
    }
    assert_eq!(next, plan.len());
    drop(rx);
    let summary = a.handle.await.unwrap().unwrap();
    assert!(summary.finished);
    let csv = dir.path().join("sig-parity-signals.csv");
    assert_eq!(csv_rows(&csv).len(), 4);

    let bt = ConfigToml::btcusdt("signal-follow", "").backtest("bars.csv", "1m")
        + "[[data.signals]]\npath = \"sig-parity-signals.csv\"\n";
    std::fs::write(dir.path().join("bt.toml"), bt).unwrap();
    let report = vigil_backtest::Backtest::from_file(dir.path().join("bt.toml"), &registry())
        .unwrap()
        .run()
        .unwrap();
    assert_eq!(report.fills.len(), 4, "{:?}", report.fills);
    let journal =
        vigil_store::Journal::open(dir.path().join("sig-parity.sqlite").to_str().unwrap())
            .await
            .unwrap();
    let paper: Vec<(i64, String, String, String)> = journal
        .fills("sig-parity")
        .await
        .unwrap()
        .iter()
        .map(|f| (f.ts, f.side.clone(), f.price.clone(), f.qty.clone()))
        .collect();
    let backtest: Vec<(i64, String, String, String)> = report
        .fills
        .iter()
        .map(|f| {
            (
                f.ts.nanos(),
                f.side.to_string(),
                f.price.to_string(),
                f.qty.to_string(),
            )
        })
        .collect();
    assert_eq!(paper, backtest);
    assert_eq!(summary.equity, report.metrics.final_equity);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_rotate_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let bars = shipped(BTCUSDT_1M).display().to_string();
    let path = write_config(
        dir.path(),
        "sig-rotate",
        Some(60),
        &bars,
        "secrets = \"secrets.toml\"",
    );
    let a = started(path).await;
    let (code, _) = a.signed(SECRET, "r1", LONG).await;
    assert_eq!(code, 200);
    // Retire both secrets for a new one; the agent notices the file change.
    const NEW: &str = "whsec_c2VjcmV0LXJvdGF0ZWQtaW4tYnktdGhlLXRlc3Q=";
    std::fs::write(
        dir.path().join("secrets.toml"),
        format!("secrets = [\"{NEW}\"]\n"),
    )
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut n = 0;
    loop {
        n += 1;
        let (code, text) = a.signed(NEW, &format!("r-new-{n}"), LONG).await;
        if code == 200 {
            break;
        }
        assert!(text.contains("bad_signature"), "{text}");
        assert!(
            std::time::Instant::now() < deadline,
            "the new secret never took effect"
        );
        // (Slowly: failed signatures count against the source's back-off.)
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let (code, text) = a.signed(SECRET, "r-old", LONG).await;
    assert_eq!(code, 401, "the retired secret is refused: {text}");
    // A broken file keeps the secrets in force.
    std::fs::write(
        dir.path().join("secrets.toml"),
        "secrets = [\"not-a-secret\"]\n",
    )
    .unwrap();
    loop {
        let status: serde_json::Value = reqwest::get(a.url("/status"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status["recent_errors"]
            .to_string()
            .contains("signal secrets re-read failed")
        {
            assert!(
                !status.to_string().contains("not-a-secret"),
                "no secret in the status"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the broken file was never read: {status}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (code, _) = a.signed(NEW, "r-after-bad-file", LONG).await;
    assert_eq!(code, 200);
    a.stop().await;
}
