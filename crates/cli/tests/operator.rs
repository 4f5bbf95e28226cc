//! The operator's hold on a running paper agent, through `vigil ctl` as a user
//! types it: held orders approved once (and never twice across a SIGKILL),
//! flatten, reset-risk, and key rotation without a restart.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use support::{free_port, start_controlled, vigil, CONTROL_SECRET};
use vigil_testkit::{shipped, write_head, ConfigToml, BTCUSDT_1M};

/// An sma-cross paper agent whose buys (all-in, ~10,000 USDT) all need an
/// approval; `[control]` with key `ops`.
fn approvals_agent(dir: &Path, extra_control: &str) -> (PathBuf, u16) {
    write_head(&shipped(BTCUSDT_1M), 3000, &dir.join("bars.csv"));
    let cfg = ConfigToml::btcusdt("sma-cross", "fast = 5\nslow = 15").with(
        "[venue]\ntaker_fee_bps = 10\nmaker_fee_bps = 2\nslippage_bps = 1\n\n\
         [risk]\nmax_position_weight = 1.0\napproval_notional = 100\napproval_ttl = \"1d\"",
    );
    let port = free_port();
    let agent = cfg.agent("approvals", "bars.csv", "1m", Some(3000))
        + &format!("\n[status]\nlisten = \"127.0.0.1:{port}\"\n\n[control]\nkeys = \"control-keys.toml\"\n{extra_control}");
    std::fs::write(dir.join("agent.toml"), agent).unwrap();
    std::fs::write(
        dir.join("control-keys.toml"),
        format!("[[keys]]\nid = \"ops\"\nhmac_secret = \"{CONTROL_SECRET}\"\n"),
    )
    .unwrap();
    (dir.join("agent.toml"), port)
}

/// `vigil ctl <agent> <args…>` signed with key `id`/`secret`.
fn ctl_as(agent: &Path, id: &str, secret: &str, args: &[&str]) -> Output {
    vigil()
        .arg("ctl")
        .arg(agent)
        .args(args)
        .env("VIGIL_CONTROL_KEY_ID", id)
        .env("VIGIL_CONTROL_SECRET", secret)
        .output()
        .unwrap()
}

fn ctl(agent: &Path, args: &[&str]) -> Output {
    ctl_as(agent, "ops", CONTROL_SECRET, args)
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Asks `vigil ctl <agent> status` until `ready` holds (or 60 s pass).
fn status_until(
    agent: &Path,
    what: &str,
    ready: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = ctl(agent, &["status"]);
        if out.status.success() {
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            if ready(&v) {
                return v;
            }
            assert!(Instant::now() < deadline, "waited 60 s for {what}: {v}");
        } else {
            assert!(
                Instant::now() < deadline,
                "waited 60 s for {what}: {}",
                text(&out)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_held_order_is_approved_once_even_across_a_sigkill_then_flattened() {
    let dir = tempfile::tempdir().unwrap();
    let (agent, _) = approvals_agent(dir.path(), "");
    let mut first = start_controlled(&agent);
    let st = status_until(&agent, "a held order", |v| {
        v["held_orders"].as_array().is_some_and(|h| !h.is_empty())
    });
    let held = &st["held_orders"][0];
    let idn = held["id"].as_u64().unwrap();
    let id = idn.to_string();
    let hash = held["hash"].as_str().unwrap().to_string();
    assert_eq!(held["side"], "buy", "{held}");
    assert_eq!(held["other_rules"], "approved", "{held}");

    let watched = ctl(&agent, &["watch", "--lines", "1"]);
    assert!(watched.status.success(), "{}", text(&watched));
    assert!(text(&watched).contains(" held="), "{}", text(&watched));
    assert!(
        text(&watched).contains("phase=running state=active"),
        "{}",
        text(&watched)
    );
    let listed = ctl(&agent, &["pending"]);
    assert!(listed.status.success(), "{}", text(&listed));
    let listed = text(&listed);
    assert!(
        listed.contains(&format!("order {id}  buy")) && listed.contains(&hash),
        "{listed}"
    );

    // A wrong hash: journaled, not applied, the order stays held.
    let wrong = ctl(&agent, &["approve", &id, &"0".repeat(64)]);
    assert!(!wrong.status.success());
    assert!(
        text(&wrong).contains("held with another hash"),
        "{}",
        text(&wrong)
    );
    // The right one: sent. Then SIGKILL at once.
    let ok = ctl(&agent, &["approve", &id, &hash]);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(
        text(&ok).contains(&format!("order {id} sent")),
        "{}",
        text(&ok)
    );
    first.kill().unwrap();
    let _ = first.wait();

    let mut second = start_controlled(&agent);
    let again = ctl(&agent, &["approve", &id, &hash]);
    assert!(!again.status.success(), "approved twice: {}", text(&again));
    assert!(
        text(&again).contains(&format!("no order {id} is held")),
        "{}",
        text(&again)
    );
    let st = status_until(&agent, "the approved order's fill", |v| {
        v["recent_fills"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["order_id"].as_u64() == Some(idn)))
    });
    assert!(
        st["held_orders"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["id"].as_u64() != Some(idn)),
        "{st}"
    );

    // Halt, then flatten: the closing order passes the halt; the halt stays.
    // (The strategy may have sold on a cross-down already: then there is
    // nothing to close. The engine's tests check flatten's own orders.)
    assert!(ctl(&agent, &["halt"]).status.success());
    let flat = ctl(&agent, &["flatten"]);
    assert!(flat.status.success(), "{}", text(&flat));
    assert!(
        text(&flat).contains("closing orders sent: "),
        "{}",
        text(&flat)
    );
    let st = status_until(&agent, "the position closed", |v| {
        v["positions"].as_array().is_some_and(|p| p.is_empty())
    });
    assert_eq!(st["trading_state"], "halted", "{st}");
    let reset = ctl(&agent, &["reset-risk"]);
    assert!(
        text(&reset).contains("trading state halted"),
        "a manual halt stays: {}",
        text(&reset)
    );
    assert!(text(&ctl(&agent, &["resume"])).contains("trading state active"));
    second.kill().unwrap();
    let _ = second.wait();

    // The journal: one held verdict, one approval, the fill of exactly that order.
    let db = dir.path().join("approvals.sqlite");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (orders, events, fills) = rt.block_on(async {
        let j = vigil_store::Journal::open(db.to_str().unwrap())
            .await
            .unwrap();
        let o = j.orders("approvals").await.unwrap();
        let e = j.order_events("approvals").await.unwrap();
        let f = j.fills("approvals").await.unwrap();
        j.close().await;
        (o, e, f)
    });
    let id: i64 = id.parse().unwrap();
    let order = orders.iter().find(|o| o.order_id == id).unwrap();
    assert!(order.verdict.contains("\"held\""), "{}", order.verdict);
    let approvals: Vec<_> = events
        .iter()
        .filter(|(o, s, _)| *o == id && s.starts_with("approv"))
        .collect();
    assert_eq!(approvals.len(), 1, "{events:?}");
    assert_eq!(approvals[0].1, "approved");
    let bought: rust_decimal::Decimal = fills
        .iter()
        .filter(|f| f.order_id == id)
        .map(|f| f.qty.parse::<rust_decimal::Decimal>().unwrap())
        .sum();
    let sold: rust_decimal::Decimal = fills
        .iter()
        .filter(|f| f.order_id > id && f.side == "sell")
        .map(|f| f.qty.parse::<rust_decimal::Decimal>().unwrap())
        .sum();
    assert!(bought > rust_decimal::Decimal::ZERO);
    assert_eq!(
        bought, sold,
        "bought once (every other buy was held), sold exactly that"
    );
}

#[test]
fn keys_rotate_without_a_restart_by_file_change_and_by_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let (agent, _) = approvals_agent(dir.path(), "backoff_after = 1000\n");
    let mut child = start_controlled(&agent);
    // A new key, added to the agent's key file by the CLI.
    let made = vigil()
        .args(["ctl", "keys", "new", "ops2", "--config"])
        .arg(&agent)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", text(&made));
    let out = String::from_utf8_lossy(&made.stdout).to_string();
    let secret = out
        .lines()
        .find_map(|l| l.strip_prefix("VIGIL_CONTROL_SECRET="))
        .unwrap()
        .to_string();
    let keys_file = dir.path().join("control-keys.toml");
    assert!(std::fs::read_to_string(&keys_file)
        .unwrap()
        .contains("id = \"ops2\""));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&keys_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key file holds secrets");
    }
    let accepted_with = |id: &str, secret: &str, what: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let o = ctl_as(&agent, id, secret, &["reduce-only"]);
            if o.status.success() {
                return;
            }
            assert!(Instant::now() < deadline, "{what}: {}", text(&o));
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    accepted_with("ops2", &secret, "the new key was never accepted");
    // Retire the old key: refused as retired once the file is re-read.
    let retired = vigil()
        .args(["ctl", "keys", "retire"])
        .arg(&agent)
        .arg("ops")
        .output()
        .unwrap();
    assert!(retired.status.success(), "{}", text(&retired));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let o = ctl(&agent, &["resume"]);
        if text(&o).contains("key_retired") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the old key still works: {}",
            text(&o)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let listed = vigil()
        .args(["ctl", "keys", "list"])
        .arg(&agent)
        .output()
        .unwrap();
    let listed = text(&listed);
    assert!(
        listed.contains("retired since") && listed.contains("ops2"),
        "{listed}"
    );
    assert!(
        !listed.contains(&secret) && !listed.contains(CONTROL_SECRET),
        "a secret was listed"
    );

    // SIGHUP: a change the file watcher cannot see (same length, old mtime)
    // is picked up on the signal.
    let before = std::fs::metadata(&keys_file).unwrap();
    let swapped = "7a".repeat(32);
    let body = std::fs::read_to_string(&keys_file)
        .unwrap()
        .replace(&secret, &swapped);
    std::fs::write(&keys_file, body).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&keys_file)
        .unwrap()
        .set_modified(before.modified().unwrap())
        .unwrap();
    assert_eq!(std::fs::metadata(&keys_file).unwrap().len(), before.len());
    let hup = std::process::Command::new("kill")
        .arg("-HUP")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(hup.success());
    accepted_with("ops2", &swapped, "the SIGHUP re-read was not applied");
    let old = ctl_as(&agent, "ops2", &secret, &["resume"]);
    assert!(text(&old).contains("bad_signature"), "{}", text(&old));

    // An operator key kept in an encrypted keystore: never printed, signs all the same.
    let store = dir.path().join("ops3.keystore");
    let made = vigil()
        .args(["ctl", "keys", "new", "ops3", "--config"])
        .arg(&agent)
        .arg("--keystore")
        .arg(&store)
        .env("VIGIL_KEYSTORE_PASSWORD", "correct horse battery")
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", text(&made));
    assert!(
        !text(&made).contains("VIGIL_CONTROL_SECRET="),
        "{}",
        text(&made)
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let o = vigil()
            .arg("ctl")
            .arg(&agent)
            .arg("halt")
            .env("VIGIL_CONTROL_KEYSTORE", &store)
            .env("VIGIL_KEYSTORE_PASSWORD", "correct horse battery")
            .output()
            .unwrap();
        if o.status.success() {
            break;
        }
        assert!(Instant::now() < deadline, "the keystore key: {}", text(&o));
        std::thread::sleep(Duration::from_millis(200));
    }
    child.kill().unwrap();
    let _ = child.wait();
}
