//! `vigil live` against the local mock exchange (127.0.0.1): an agent that is
//! killed (SIGKILL) while its orders work, whose orders fill while it is down, and
//! that is started again, never duplicates an order and journals the fills it
//! missed. Also: no confirmation, no live trading.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rust_decimal_macros::dec;
use vigil_binance::mock::{
    spot_filters, usdm_filters, MockConfig, MockExchange, MockSymbol, MockUsdm, MockUsdmConfig,
};

const KEY: &str = "live-test-key";
const SECRET: &str = "live-test-secret-0123456789";

async fn mock() -> MockExchange {
    MockExchange::start(MockConfig {
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
    .await
}

/// Four one-minute bars around 47,200 and a live grid agent on them.
fn setup(dir: &Path, url: &str, confirm: bool) -> PathBuf {
    let mut csv = String::from("ts,open,high,low,close,volume\n");
    for i in 0..4 {
        csv.push_str(&format!(
            "2022-01-01T00:{i:02}:00Z,47200,47250,47150,47200,1.5\n"
        ));
    }
    std::fs::write(dir.join("bars.csv"), csv).unwrap();
    let confirm = if confirm {
        "confirm = \"I understand this agent trades real money\"\n"
    } else {
        ""
    };
    let cfg = format!(
        r#"name = "grid-live"
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
speed = 120
[[feed.bars]]
instrument = "BTCUSDT"
path = "bars.csv"
interval = "1m"

[venue]
maker_fee_bps = 10
taker_fee_bps = 10

[strategy]
name = "grid"
low = 45000
high = 47500
levels = 6
order_qty = 0.01

[live]
exchange = "binance"
{confirm}base_url = "{url}"
poll_every = "1s"
"#
    );
    let path = dir.join("agent.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}

/// The same agent, with its credentials in an encrypted keystore instead.
fn use_keystore(config: &Path) {
    let text = std::fs::read_to_string(config).unwrap();
    let text = text.replace("[live]\n", "[live]\nkeystore = \"creds.json\"\n");
    std::fs::write(config, text).unwrap();
}

fn vigil(args: &[&str], config: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vigil"));
    c.args(args)
        .arg(config)
        .env("BINANCE_API_KEY", KEY)
        .env("BINANCE_API_SECRET", SECRET)
        .env("RUST_LOG", "warn");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_and_restarted_live_agent_never_duplicates_and_picks_up_fills() {
    let m = mock().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), &m.url(), true);

    // Run 1: wait until the first bar's grid buys were sent, then SIGKILL.
    let mut child = vigil(&["live", "--progress-every", "1", "-q"], &cfg)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("agent exited early: {seen:#?}"))
            .unwrap();
        let progressed = line.starts_with("progress seq=");
        seen.push(line);
        if progressed && m.orders().len() >= 5 {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let placed = m.orders();
    assert_eq!(placed.len(), 5, "five grid buys: {placed:#?}");
    assert!(placed.iter().all(|o| o.status == "NEW" && o.side == "BUY"));

    // While it is down the price falls: the buys at 47,000 and 46,500 fill.
    m.set_price("BTCUSDT", dec!(46200));
    assert_eq!(
        m.orders().iter().filter(|o| o.status == "FILLED").count(),
        2
    );

    // Run 2: reconcile, finish the replay.
    let out = vigil(&["live", "-q"], &cfg).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // No order was sent twice: every client order id is unique, and the five
    // original buys are still exactly five.
    let orders = m.orders();
    assert_each_sent_once(&ids(&orders), &ids(&placed));
    // The fills that happened while it was down are in the journal.
    let st = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["status", "--json"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(v["fills"], 2, "{v}");
    let positions = v["snapshot"]["positions"].as_str().unwrap();
    assert!(positions.contains(r#""qty":"0.02""#), "{positions}");
    // Cash as the exchange charged it: 470 + 465 + 0.1 % commission.
    assert_eq!(v["snapshot"]["cash"], "9064.06500");
    assert_eq!(m.balance("BTC").0 + m.balance("BTC").1, dec!(0.02));
    // The grid then offered the bought units one line up (new orders, new ids).
    assert!(
        orders
            .iter()
            .any(|o| o.side == "SELL" && o.price == dec!(47500)),
        "{orders:#?}"
    );
}

#[tokio::test]
async fn live_trading_needs_the_confirmation_and_the_live_command() {
    let m = mock().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), &m.url(), false);
    let out = vigil(&["live", "-q"], &cfg).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("confirmation"), "{err}");
    assert!(
        m.orders().is_empty() && m.requests().is_empty(),
        "nothing reached the exchange"
    );
    let cfg = setup(dir.path(), &m.url(), true);
    let out = vigil(&["paper", "-q"], &cfg).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("vigil live"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_can_come_from_an_encrypted_keystore() {
    let m = mock().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), &m.url(), true);
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["keystore"])
        .arg(dir.path().join("creds.json"))
        .env("BINANCE_API_KEY", KEY)
        .env("BINANCE_API_SECRET", SECRET)
        .env("VIGIL_KEYSTORE_PASSWORD", "a long enough password")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stored = std::fs::read_to_string(dir.path().join("creds.json")).unwrap();
    assert!(!stored.contains(SECRET) && !stored.contains(KEY));
    use_keystore(&cfg);
    // No credentials in the environment, only the keystore's password.
    let run = |password: &str| {
        Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args(["live", "-q"])
            .arg(&cfg)
            .env_remove("BINANCE_API_KEY")
            .env_remove("BINANCE_API_SECRET")
            .env("VIGIL_KEYSTORE_PASSWORD", password)
            .output()
            .unwrap()
    };
    let wrong = run("not the password");
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("wrong password"));
    assert!(m.requests().is_empty());
    let ok = run("a long enough password");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(
        m.orders().len(),
        5,
        "the grid's buys were placed with the keystore's key"
    );
}

/// Fills found at start-up are applied before the balances are compared, and a
/// shortfall they do not explain is refused, per asset (any fill used to excuse
/// every shortfall with a warning).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_shortfall_is_refused_after_the_fills_found_at_start() {
    let m = mock().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), &m.url(), true);
    let mut child = vigil(&["live", "--progress-every", "1", "-q"], &cfg)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    while m.orders().len() < 5 {
        lines.next().expect("the agent exited early").unwrap();
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // While it is down two buys fill, and 100 USDT leave the account.
    m.set_price("BTCUSDT", dec!(46200));
    assert_eq!(
        m.orders().iter().filter(|o| o.status == "FILLED").count(),
        2
    );
    let (free, locked) = m.balance("USDT");
    assert_eq!(free + locked, dec!(9064.06500), "the fills as charged");
    m.set_balance("USDT", free - dec!(100));
    let before = m.orders().len();

    let out = vigil(&["live", "-q"], &cfg).output().unwrap();
    assert!(!out.status.success(), "a shortfall must stop the agent");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("8964.06500 USDT held, 9064.06500 journaled"),
        "{err}"
    );
    assert!(err.contains("2 fill(s) found at start-up applied"), "{err}");
    assert_eq!(m.orders().len(), before, "nothing new reached the exchange");
}

/// An all-in quote-sized buy on an exchange that charges its commission in the
/// quote asset: the buy keeps the commission back, so the agent's cash never goes
/// short and the fill is booked (it used to stop the agent for good with
/// `insufficient USDT cash: need 200.20, have 200`).
/// A live sma-cross 2/3 agent with 200 USDT whose closes rise after three flat
/// bars (one all-in buy at 40,000, where 200 buy exactly 0.005 BTC: no lot
/// rounding leaves room for the commission by chance), its `[venue]` taker fee
/// set to `taker_bps`. Returns the config's path.
fn all_in_buy_agent(dir: &Path, m: &MockExchange, taker_bps: u32) -> PathBuf {
    let cfg = setup(dir, &m.url(), true);
    let mut csv = String::from("ts,open,high,low,close,volume\n");
    for (i, close) in [47000, 47000, 47000, 47100, 47200, 47300]
        .iter()
        .enumerate()
    {
        csv.push_str(&format!(
            "2022-01-01T00:{i:02}:00Z,{close},{close},{close},{close},1.5\n"
        ));
    }
    std::fs::write(dir.join("bars.csv"), csv).unwrap();
    let text = std::fs::read_to_string(&cfg).unwrap();
    let text = text
        .replace("starting_cash = 10000", "starting_cash = 200")
        .replace(
            "taker_fee_bps = 10",
            &format!("taker_fee_bps = {taker_bps}"),
        )
        .replace(
            "name = \"grid\"\nlow = 45000\nhigh = 47500\nlevels = 6\norder_qty = 0.01",
            "name = \"sma-cross\"\nfast = 2\nslow = 3",
        );
    std::fs::write(&cfg, text).unwrap();
    m.set_price("BTCUSDT", dec!(40000));
    cfg
}

fn status_json(cfg: &Path) -> serde_json::Value {
    let st = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["status", "--json"])
        .arg(cfg)
        .output()
        .unwrap();
    serde_json::from_slice(&st.stdout).unwrap()
}

fn filled_buys(m: &MockExchange) -> Vec<vigil_binance::mock::MockOrder> {
    m.orders()
        .into_iter()
        .filter(|o| o.side == "BUY" && o.status == "FILLED")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_all_in_buy_leaves_room_for_a_commission_in_the_quote_asset() {
    let m = mock().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = all_in_buy_agent(dir.path(), &m, 10);
    let out = vigil(&["live", "-q"], &cfg).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let buys = filled_buys(&m);
    assert_eq!(buys.len(), 1, "{buys:#?}");
    // 200 / 1.001, so that the 0.1 % commission in USDT fits in the 200.
    assert!(buys[0].quote_qty * dec!(1.001) <= dec!(200), "{buys:#?}");
    assert!(buys[0].quote_qty > dec!(199), "{buys:#?}");
    let v = status_json(&cfg);
    assert_eq!(v["fills"], 1, "{v}");
    let cash: rust_decimal::Decimal = v["snapshot"]["cash"].as_str().unwrap().parse().unwrap();
    // What is left: the lot rounding and the reserve, never below zero.
    assert!(cash >= rust_decimal::Decimal::ZERO && cash < dec!(1), "{v}");
}

/// The fallback when the configured fee is below the exchange's commission: the
/// fill the exchange made is booked as reported (cash overdrawn by the excess
/// commission, with a warning), never refused, and a restart recovers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commission_above_the_configured_fee_is_booked_not_fatal() {
    let m = mock().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = all_in_buy_agent(dir.path(), &m, 0);
    for run in 0..2 {
        let out = vigil(&["live", "-q"], &cfg).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "run {run}: {stderr}");
        assert!(!stderr.contains("accounting error"), "run {run}: {stderr}");
        if run == 0 {
            assert!(
                stderr.contains("booked as the exchange reported it"),
                "{stderr}"
            );
        }
    }
    let buys = filled_buys(&m);
    assert_eq!(buys.len(), 1, "the restart sent nothing again: {buys:#?}");
    assert_eq!(buys[0].quote_qty, dec!(200), "{buys:#?}");
    let v = status_json(&cfg);
    assert_eq!(v["fills"], 1, "{v}");
    let cash: rust_decimal::Decimal = v["snapshot"]["cash"].as_str().unwrap().parse().unwrap();
    // The exchange's 0.1 % commission on 200, beyond the 200 the agent held.
    assert_eq!(cash, dec!(-0.2), "{v}");
}

/// The futures mock: BTCUSDT perpetual at 47,300, 10,000 USDT.
async fn usdm_mock() -> MockUsdm {
    MockUsdm::start(MockUsdmConfig {
        api_key: KEY.into(),
        secret: SECRET.into(),
        symbols: vec![MockSymbol {
            filters: usdm_filters("BTC", "USDT"),
            price: dec!(47300),
        }],
        wallet: ("USDT".into(), dec!(10000)),
        taker_rate: dec!(0.0005),
        maker_rate: dec!(0.0002),
        dual_side: false,
    })
    .await
}

/// The grid agent on the BTCUSDT perpetual (2×, cross), live on USDⓈ-M.
fn setup_usdm(dir: &Path, m: &MockUsdm) -> PathBuf {
    let cfg = setup(dir, &m.url(), true);
    let text = std::fs::read_to_string(&cfg).unwrap()
        .replace(
            "lot_size = 0.00001\ntick_size = 0.01\nmin_notional = 5",
            "kind = \"perpetual\"\nleverage = 2\nmargin = \"cross\"\nlot_size = 0.001\ntick_size = 0.1\nmin_notional = 100",
        )
        .replace("maker_fee_bps = 10\ntaker_fee_bps = 10", "maker_fee_bps = 2\ntaker_fee_bps = 5")
        .replace(
            "exchange = \"binance\"",
            &format!("exchange = \"binance-usdm\"\nws_url = \"{}\"", m.ws_url()),
        );
    std::fs::write(&cfg, text).unwrap();
    cfg
}

/// Starts `vigil live` and SIGKILLs it once the exchange holds `orders` orders.
fn run_until_orders(cfg: &Path, orders: impl Fn() -> usize, want: usize) {
    let mut child = vigil(&["live", "--progress-every", "1", "-q"], cfg)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    while orders() < want {
        let line = lines.next();
        match line {
            Some(l) => seen.push(l.unwrap()),
            None => panic!("the agent exited early: {seen:#?}"),
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_perpetual_agent_never_duplicates_and_ends_with_the_exchanges_position() {
    let m = usdm_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup_usdm(dir.path(), &m);
    run_until_orders(&cfg, || m.orders().len(), 5);
    let placed = m.orders();
    assert_eq!(placed.len(), 5, "five grid buys: {placed:#?}");
    assert_eq!(m.settings("BTCUSDT"), Some((2, "cross".into())));

    // While it is down: the buys at 47,000 and 46,500 fill (maker), and the
    // long pays funding at 0.01 % of 0.02 × 47,300.
    m.set_price("BTCUSDT", dec!(46200));
    assert_eq!(m.position("BTCUSDT").0, dec!(0.02));
    assert_eq!(m.charge_funding("BTCUSDT", dec!(0.0001)), dec!(-0.0946));

    let out = vigil(&["live", "-q"], &cfg).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let orders = m.orders();
    assert_each_sent_once(&ids(&orders), &ids(&placed));
    let v = status_json(&cfg);
    assert_eq!(v["fills"], 2, "{v}");
    let positions = v["snapshot"]["positions"].as_str().unwrap();
    assert!(positions.contains(r#""qty":"0.02""#), "{positions}");
    // The wallet as the exchange charged it: maker fees 0.094 + 0.093, funding 0.0946.
    assert_eq!(m.wallet(), dec!(9999.7184));
    let cash: rust_decimal::Decimal = v["snapshot"]["cash"].as_str().unwrap().parse().unwrap();
    assert_eq!(cash, m.wallet(), "{v}");
    assert_eq!(m.position("BTCUSDT").0, dec!(0.02));
}

/// The journal's signed position in BTCUSDT, from `vigil status --json`.
fn journal_position(v: &serde_json::Value) -> rust_decimal::Decimal {
    let text = v["snapshot"]["positions"].as_str().unwrap_or("[]");
    let list: Vec<serde_json::Value> = serde_json::from_str(text).unwrap();
    list.iter()
        .filter_map(|p| p["qty"].as_str())
        .map(|q| q.parse::<rust_decimal::Decimal>().unwrap())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_perpetual_agent_killed_between_any_two_orders_ends_equal_to_the_exchange() {
    for kill_at in 1..=4 {
        let m = usdm_mock().await;
        let dir = tempfile::tempdir().unwrap();
        let cfg = setup_usdm(dir.path(), &m);
        run_until_orders(&cfg, || m.orders().len(), kill_at);
        let placed = m.orders();
        m.set_price("BTCUSDT", dec!(46200));
        m.charge_funding("BTCUSDT", dec!(0.0001));
        let out = vigil(&["live", "-q"], &cfg).output().unwrap();
        assert!(
            out.status.success(),
            "kill at {kill_at}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_each_sent_once(&ids(&m.orders()), &ids(&placed));
        let v = status_json(&cfg);
        assert_eq!(
            journal_position(&v),
            m.position("BTCUSDT").0,
            "kill at {kill_at}: {v}"
        );
        let cash: rust_decimal::Decimal = v["snapshot"]["cash"].as_str().unwrap().parse().unwrap();
        assert_eq!(cash, m.wallet(), "kill at {kill_at}: {v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_position_changed_at_the_exchange_while_down_is_refused_by_name() {
    let m = usdm_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup_usdm(dir.path(), &m);
    run_until_orders(&cfg, || m.orders().len(), 5);
    m.set_price("BTCUSDT", dec!(46200)); // two buys fill: 0.02 long
    m.liquidate("BTCUSDT", dec!(30000)); // … and the exchange closes it
    let before = m.orders().len();
    let out = vigil(&["live", "-q"], &cfg).output().unwrap();
    assert!(
        !out.status.success(),
        "a differing position must stop the agent"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("BTCUSDT: exchange 0, journal 0.02"), "{err}");
    assert_eq!(m.orders().len(), before, "nothing new reached the exchange");
}

#[tokio::test]
async fn a_perpetual_needs_the_usdm_exchange_and_a_spot_pair_the_spot_one() {
    let m = usdm_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup_usdm(dir.path(), &m);
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace("exchange = \"binance-usdm\"", "exchange = \"binance\""),
    )
    .unwrap();
    let out = vigil(&["live", "-q"], &cfg).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("a perpetual cannot trade on `binance` (spot)")
            && err.contains("binance-usdm"),
        "{err}"
    );
    assert!(m.orders().is_empty());
}

/// An order at a mock exchange, by its client order id.
trait Sent {
    fn client_order_id(&self) -> &str;
}

impl Sent for vigil_binance::mock::MockOrder {
    fn client_order_id(&self) -> &str {
        &self.client_order_id
    }
}

impl Sent for vigil_binance::mock::MockFuturesOrder {
    fn client_order_id(&self) -> &str {
        &self.client_order_id
    }
}

fn ids(orders: &[impl Sent]) -> Vec<String> {
    orders
        .iter()
        .map(|o| o.client_order_id().to_string())
        .collect()
}

/// Every client order id reached the exchange once, and the orders placed
/// before a kill are still there exactly once each.
fn assert_each_sent_once(all: &[String], placed: &[String]) {
    let mut unique = all.to_vec();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        all.len(),
        "duplicate client order ids: {all:#?}"
    );
    for id in placed {
        assert_eq!(
            all.iter().filter(|x| *x == id).count(),
            1,
            "{id} sent twice"
        );
    }
}
