//! Alerts as a user meets them: `vigil alerts test` against Telegram, Slack,
//! Discord and Standard Webhooks receivers speaking their wire formats on
//! 127.0.0.1 (no secret in the output), and alerts pending at a SIGKILL
//! delivered after the restart.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use support::{free_port, paper_until, vigil};
use vigil_testkit::{shipped, write_head, ConfigToml, BTCUSDT_1M};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const TOKEN: &str = "123456:telegram-test-token";

/// Requests by route: (path, webhook-id header, body).
type Log = Arc<Mutex<Vec<(String, String, String)>>>;

fn record(log: &Log, path: &str, headers: &HeaderMap, body: &Bytes) {
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    log.lock().unwrap().push((
        path.to_string(),
        id,
        String::from_utf8_lossy(body).into_owned(),
    ));
}

/// Telegram (`/bot<token>/sendMessage`), Slack, Discord and a webhook, on a
/// runtime of their own; returns the address.
fn receivers(log: Log) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let app = axum::Router::new()
        .route(
            "/{bot}/sendMessage",
            post(|State(l): State<Log>, UrlPath(bot): UrlPath<String>, h: HeaderMap, b: Bytes| async move {
                record(&l, &format!("/{bot}/sendMessage"), &h, &b);
                let ok = bot == format!("bot{TOKEN}");
                let body = if ok {
                    serde_json::json!({"ok": true, "result": {"message_id": 1}})
                } else {
                    serde_json::json!({"ok": false, "error_code": 401, "description": "Unauthorized"})
                };
                (if ok { StatusCode::OK } else { StatusCode::UNAUTHORIZED }, axum::Json(body))
            }),
        )
        .route(
            "/slack/{rest}",
            post(|State(l): State<Log>, h: HeaderMap, b: Bytes| async move {
                record(&l, "/slack", &h, &b);
                (StatusCode::OK, "ok")
            }),
        )
        .route(
            "/discord/{rest}",
            post(|State(l): State<Log>, h: HeaderMap, b: Bytes| async move {
                record(&l, "/discord", &h, &b);
                StatusCode::NO_CONTENT.into_response()
            }),
        )
        .route(
            "/hook",
            post(|State(l): State<Log>, h: HeaderMap, b: Bytes| async move {
                record(&l, "/hook", &h, &b);
                StatusCode::OK
            }),
        )
        .with_state(log);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(l, app).await.unwrap();
        });
    });
    addr
}

fn agent(dir: &Path, name: &str, speed: Option<u64>, extra: &str) -> std::path::PathBuf {
    write_head(&shipped(BTCUSDT_1M), 3000, &dir.join("bars.csv"));
    let cfg = ConfigToml::btcusdt("sma-cross", "fast = 10\nslow = 30")
        .agent(name, "bars.csv", "1m", speed)
        + extra;
    let path = dir.join("agent.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}

#[test]
fn alerts_test_reaches_every_channel_in_its_format_and_shows_no_secret() {
    let log: Log = Arc::default();
    let addr = receivers(log.clone());
    let dir = tempfile::tempdir().unwrap();
    let base = format!("http://{addr}");
    let channels = format!(
        "\n[[alerts]]\ntype = \"webhook\"\nurl = \"{base}/hook\"\n\
         \n[[alerts]]\ntype = \"telegram\"\nchat_id = \"-100123\"\napi_url = \"{base}\"\n\
         \n[[alerts]]\ntype = \"slack\"\nurl_env = \"TEST_SLACK_URL\"\n\
         \n[[alerts]]\nname = \"discord-ops\"\ntype = \"discord\"\nurl_env = \"TEST_DISCORD_URL\"\n"
    );
    let path = agent(dir.path(), "alerts-test", None, &channels);
    let run = |token: &str| {
        vigil()
            .args(["alerts", "test"])
            .arg(&path)
            .env("VIGIL_ALERT_SECRET", SECRET)
            .env("TELEGRAM_BOT_TOKEN", token)
            .env("TEST_SLACK_URL", format!("{base}/slack/T000-secret-path"))
            .env(
                "TEST_DISCORD_URL",
                format!("{base}/discord/999-secret-path"),
            )
            .output()
            .unwrap()
    };
    let out = run(TOKEN);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    for name in ["webhook", "telegram", "slack", "discord-ops"] {
        assert!(
            said.lines()
                .any(|l| l.starts_with(name) && l.contains("delivered")),
            "{name}: {said}"
        );
    }
    let seen: BTreeMap<String, (String, String)> = log
        .lock()
        .unwrap()
        .iter()
        .map(|(p, id, b)| (p.clone(), (id.clone(), b.clone())))
        .collect();
    let json = |p: &str| serde_json::from_str::<serde_json::Value>(&seen[p].1).unwrap();
    let tg = json(&format!("/bot{TOKEN}/sendMessage"));
    assert_eq!(tg["chat_id"], "-100123");
    assert!(tg["text"].as_str().unwrap().contains("test alert"), "{tg}");
    assert!(json("/slack")["text"]
        .as_str()
        .unwrap()
        .starts_with("[INFO] alerts-test: test alert"));
    assert!(json("/discord")["content"]
        .as_str()
        .unwrap()
        .contains("test alert"));
    assert_eq!(
        json("/discord")["allowed_mentions"]["parse"],
        serde_json::json!([])
    );
    let hook = json("/hook");
    assert_eq!(hook["type"], "vigil.alert");
    assert_eq!(hook["kind"], "test");
    assert_eq!(
        seen["/hook"].0,
        hook["id"].as_str().unwrap(),
        "webhook-id is the alert's id"
    );

    // A refused token: a failure, said in one line, the token never shown.
    let out = run("999:wrong-token");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("telegram") && said.contains("FAILED: HTTP 401"),
        "{said}"
    );
    for secret in ["wrong-token", "secret-path", SECRET] {
        assert!(!said.contains(secret), "{secret} in: {said}");
    }
}

#[test]
fn alerts_pending_at_a_sigkill_are_delivered_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port(); // nothing listens there yet
    let channel = format!(
        "\n[[alerts]]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:{port}/hook\"\nretry_initial_ms = 50\nretry_max_ms = 200\n"
    );
    let path = agent(dir.path(), "alerts-kill", Some(600), &channel);
    let start = || {
        std::env::set_var("VIGIL_ALERT_SECRET", SECRET);
        let (child, lines) = paper_until(&path, 10, "progress seq=", std::process::Stdio::null());
        std::thread::spawn(move || for _ in lines {});
        child
    };
    // Running: its start alert is journaled (before the first input) and
    // cannot be delivered. SIGKILL.
    let mut first = start();
    first.kill().unwrap();
    first.wait().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let pending: Vec<String> = rt.block_on(async {
        let j = vigil_store::Journal::open(dir.path().join("alerts-kill.sqlite").to_str().unwrap())
            .await
            .unwrap();
        let all = j.alerts("alerts-kill").await.unwrap();
        j.close().await;
        all.into_iter()
            .filter(|(_, state)| state == "pending")
            .map(|(a, _)| a.alert_id)
            .collect()
    });
    assert!(!pending.is_empty(), "the start alert is in the outbox");

    // The receiver comes up; the agent restarts and delivers them.
    let log: Log = Arc::default();
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    listener.set_nonblocking(true).unwrap();
    let l2 = log.clone();
    std::thread::spawn(move || {
        let app = axum::Router::new()
            .route(
                "/hook",
                post(|State(l): State<Log>, h: HeaderMap, b: Bytes| async move {
                    record(&l, "/hook", &h, &b);
                    StatusCode::OK
                }),
            )
            .with_state(l2);
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                let l = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(l, app).await.unwrap();
            });
    });
    let mut second = start();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let ids: Vec<String> = log.lock().unwrap().iter().map(|r| r.1.clone()).collect();
        if pending.iter().all(|p| ids.contains(p)) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "pending {pending:?}, delivered {ids:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    second.kill().unwrap();
    second.wait().unwrap();
    let ids: Vec<String> = log.lock().unwrap().iter().map(|r| r.1.clone()).collect();
    for p in &pending {
        assert_eq!(
            ids.iter().filter(|i| *i == p).count(),
            1,
            "{p} delivered once: {ids:?}"
        );
    }
}
