//! End-to-end backtests: hand-checked fills, determinism, no look-ahead, and an
//! independent re-implementation of the textbook SMA cross on the shipped data.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use vigil_backtest::{Backtest, BacktestError, BacktestReport};
use vigil_core::{GradeKind, MarketEvent, Side, Timestamp};
use vigil_strategy::{
    BuildContext, Context, Registry, Strategy, StrategyDescriptor, StrategyError,
};

fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(vigil_sma_cross::descriptor()).unwrap();
    r
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

const FIXTURE: &str = "ts,open,high,low,close,volume
2022-01-01T00:00:00Z,10,10,10,10,1
2022-01-01T00:01:00Z,10,10,9,9,1
2022-01-01T00:02:00Z,9,11,9,11,1
2022-01-01T00:03:00Z,11.5,12,11,12,1
2022-01-01T00:04:00Z,12,12,8,8,1
2022-01-01T00:05:00Z,9,9.5,8.5,9,1
";

fn config(bars: &str, extra: &str) -> String {
    format!(
        r#"
account_currency = "USDT"
starting_cash = 1000
[[instruments]]
symbol = "BTCUSDT"
base = "BTC"
quote = "USDT"
[[data.bars]]
instrument = "BTCUSDT"
path = "{bars}"
interval = "1m"
[venue]
taker_fee_bps = 10
maker_fee_bps = 10
slippage_bps = 0
{extra}
[strategy]
name = "sma-cross"
fast = 1
slow = 2
"#
    )
}

fn run_fixture(dir: &Path, csv: &str, extra: &str) -> Result<BacktestReport, BacktestError> {
    std::fs::write(dir.join("bars.csv"), csv).unwrap();
    std::fs::write(dir.join("bt.toml"), config("bars.csv", extra)).unwrap();
    Backtest::from_file(dir.join("bt.toml"), &registry())?.run()
}

#[test]
fn hand_checked_fills_fees_and_pnl() {
    let dir = tempfile::tempdir().unwrap();
    let r = run_fixture(dir.path(), FIXTURE, "").unwrap();
    // Cross up on the 00:02 bar (fast 11 > slow 10, before 9 < 9.5) → buy at the
    // next open, 11.5: qty = 1000 / (11.5 × 1.001) rounded down to 1e-8.
    assert_eq!(r.fills.len(), 2);
    let buy = &r.fills[0];
    assert_eq!(buy.side, Side::Buy);
    assert_eq!(
        buy.ts,
        Timestamp::parse("2022-01-01T00:03:00Z", None).unwrap()
    );
    assert_eq!(buy.price, dec!(11.5));
    assert_eq!(buy.qty, dec!(86.86965208));
    assert_eq!(buy.fee, dec!(0.999000998920));
    // Cross down on the 00:04 bar (8 < 10) → sell everything at the next open, 9.
    let sell = &r.fills[1];
    assert_eq!(sell.side, Side::Sell);
    assert_eq!(
        sell.ts,
        Timestamp::parse("2022-01-01T00:05:00Z", None).unwrap()
    );
    assert_eq!(sell.price, dec!(9));
    assert_eq!(sell.qty, dec!(86.86965208));
    assert_eq!(sell.fee, dec!(0.78182686872));
    assert_eq!(r.metrics.final_equity, dec!(781.045041932360));
    assert_eq!(r.final_cash, dec!(781.045041932360));
    assert_eq!(r.trades.len(), 1);
    assert_eq!(r.trades[0].pnl, dec!(-218.954958067640));
    assert_eq!(
        r.metrics.fees_paid,
        dec!(0.999000998920) + dec!(0.78182686872)
    );
    assert_eq!(r.metrics.trade_count, 1);
    assert_eq!(r.metrics.win_rate, Some(0.0));
    // The last bar crosses up again (9 > 8.5): a third order, still working when the
    // data ends — never filled at a price that does not exist.
    assert_eq!(r.orders.submitted, 3);
    assert_eq!(r.orders.filled, 2);
    assert_eq!(r.orders.open_at_end, 1);
    assert_eq!(r.verdicts.get("approved"), Some(&3));
    // Exposure: long for two minutes (fills at 00:03 and 00:05) of a five-minute
    // span of events (00:01–00:06).
    assert!(
        (r.metrics.exposure - 2.0 / 5.0).abs() < 1e-9,
        "{}",
        r.metrics.exposure
    );
}

#[test]
fn same_config_same_data_gives_byte_identical_json() {
    let root = repo_root();
    let cfg = root.join("backtests/btc-sma-cross.toml");
    let a = Backtest::from_file(&cfg, &registry())
        .unwrap()
        .run()
        .unwrap()
        .to_json();
    let b = Backtest::from_file(&cfg, &registry())
        .unwrap()
        .run()
        .unwrap()
        .to_json();
    assert!(a.len() > 10_000);
    assert!(a == b, "two runs of the same backtest differ");
}

#[test]
fn malformed_csv_names_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let bad = FIXTURE.replace(
        "2022-01-01T00:02:00Z,9,11,9,11,1",
        "2022-01-01T00:02:00Z,9,11,nine,11,1",
    );
    let e = run_fixture(dir.path(), &bad, "").unwrap_err().to_string();
    assert!(
        e.ends_with("bars.csv:4: field `low`: not a number (value `nine`)"),
        "{e}"
    );
}

#[test]
fn config_errors_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bars.csv"), FIXTURE).unwrap();
    let text = config("bars.csv", "").replace("slow = 2", "slow = 1");
    std::fs::write(dir.path().join("bt.toml"), &text).unwrap();
    let e = Backtest::from_file(dir.path().join("bt.toml"), &registry())
        .err()
        .unwrap()
        .to_string();
    let line = text.lines().position(|l| l.starts_with("slow")).unwrap() + 1;
    assert!(
        e.ends_with(&format!(
            "bt.toml:{line}: strategy `sma-cross`: `slow` (1) must be greater than `fast` (1)"
        )),
        "{e}"
    );

    let text = config("bars.csv", "").replace("name = \"sma-cross\"", "name = \"sma-crosss\"");
    std::fs::write(dir.path().join("bt.toml"), &text).unwrap();
    let e = Backtest::from_file(dir.path().join("bt.toml"), &registry())
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("unknown strategy `sma-crosss` (registered: sma-cross)"),
        "{e}"
    );

    let text = config("missing.csv", "");
    std::fs::write(dir.path().join("bt.toml"), &text).unwrap();
    let e = Backtest::from_file(dir.path().join("bt.toml"), &registry())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("missing.csv"), "{e}");
}

/// (engine time, publication time of the grade visible then).
type Sightings = Arc<Mutex<Vec<(Timestamp, Option<Timestamp>)>>>;

/// Records, for every event, the grades the strategy could see; buys on the first
/// grade it sees.
struct GradeSpy {
    seen: Sightings,
    bought: bool,
}

impl Strategy for GradeSpy {
    fn on_event(&mut self, _event: &MarketEvent, ctx: &mut Context<'_>) {
        let inst = ctx.instrument("BTCUSDT").unwrap().id;
        let g = ctx
            .grade_for(inst, &GradeKind::Trader)
            .map(|g| g.published_at);
        self.seen.lock().unwrap().push((ctx.now(), g));
        if g.is_some() && !self.bought {
            self.bought = true;
            ctx.buy(inst, dec!(1));
        }
    }
}

static SEEN: Mutex<Option<Sightings>> = Mutex::new(None);

fn build_spy(_: &toml::Table, _: &BuildContext<'_>) -> Result<Box<dyn Strategy>, StrategyError> {
    let seen = SEEN.lock().unwrap().clone().unwrap();
    Ok(Box::new(GradeSpy {
        seen,
        bought: false,
    }))
}

#[test]
fn a_grade_published_at_t_is_invisible_before_t() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bars.csv"), FIXTURE).unwrap();
    // Describes 00:00, but is only published at 00:02:30 — mid-bar.
    std::fs::write(
        dir.path().join("grades.csv"),
        "symbol,kind,score,as_of,published_at,source\nBTC,trader,90,2022-01-01T00:00:00Z,2022-01-01T00:02:30Z,test\n",
    )
    .unwrap();
    let text = config("bars.csv", "")
        .replace("[venue]", "[[data.grades]]\npath = \"grades.csv\"\n[venue]")
        .replace("name = \"sma-cross\"\nfast = 1\nslow = 2", "name = \"spy\"");
    std::fs::write(dir.path().join("bt.toml"), text).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    *SEEN.lock().unwrap() = Some(seen.clone());
    let mut reg = registry();
    reg.register(StrategyDescriptor {
        name: "spy",
        summary: "test",
        params: &[],
        build: build_spy,
    })
    .unwrap();
    let r = Backtest::from_file(dir.path().join("bt.toml"), &reg)
        .unwrap()
        .run()
        .unwrap();
    let published = Timestamp::parse("2022-01-01T00:02:30Z", None).unwrap();
    let seen = seen.lock().unwrap();
    for (now, g) in seen.iter() {
        assert_eq!(g.is_some(), *now >= published, "at {now}: saw {g:?}");
    }
    assert!(
        seen.iter().any(|(now, _)| *now == published),
        "the grade itself is an event at its publication time"
    );
    // The order placed on seeing the grade fills at the first bar that *opens* after
    // publication (00:03), not at the open of the bar in progress (00:02).
    assert_eq!(r.fills.len(), 1);
    assert_eq!(
        r.fills[0].ts,
        Timestamp::parse("2022-01-01T00:03:00Z", None).unwrap()
    );
    assert_eq!(r.fills[0].price, dec!(11.5));
}

/// An independent, naive implementation of the textbook rule (recomputes both
/// averages from scratch on every bar, exact decimals) — the engine must agree with
/// it exactly on the shipped BTC data.
#[test]
fn engine_matches_naive_reference_on_shipped_data() {
    let root = repo_root();
    let path = root.join("backtests/data/binance-btcusdt-perp-1m-2022-01.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let bars: Vec<(Decimal, Decimal)> = text
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[1].parse().unwrap(), f[4].parse().unwrap())
        })
        .collect();
    let (fast, slow) = (10usize, 30usize);
    let fee = dec!(0.001);
    let slip = dec!(0.0001);
    let mut cash = dec!(10000);
    let mut qty = Decimal::ZERO;
    let mut fills = 0;
    let mut pending: Option<Side> = None;
    let mut prev: Option<std::cmp::Ordering> = None;
    for i in 0..bars.len() {
        let (open, close) = bars[i];
        if let Some(side) = pending.take() {
            match side {
                Side::Buy => {
                    let px = open * (Decimal::ONE + slip);
                    let q = (cash / (px * (Decimal::ONE + fee))).trunc_with_scale(8);
                    cash -= q * px + q * px * fee;
                    qty = q;
                }
                Side::Sell => {
                    let px = open * (Decimal::ONE - slip);
                    cash += qty * px - qty * px * fee;
                    qty = Decimal::ZERO;
                }
            }
            fills += 1;
        }
        if i + 1 < slow {
            continue;
        }
        let f: Decimal =
            bars[i + 1 - fast..=i].iter().map(|b| b.1).sum::<Decimal>() / Decimal::from(fast);
        let s: Decimal =
            bars[i + 1 - slow..=i].iter().map(|b| b.1).sum::<Decimal>() / Decimal::from(slow);
        let now = f.cmp(&s);
        if let Some(p) = prev {
            if now.is_gt() && !p.is_gt() && qty.is_zero() {
                pending = Some(Side::Buy);
            } else if now.is_lt() && !p.is_lt() && qty > Decimal::ZERO {
                pending = Some(Side::Sell);
            }
        }
        prev = Some(now);
        let _ = close;
    }
    let equity = cash + qty * bars.last().unwrap().1;
    let r = Backtest::from_file(root.join("backtests/btc-sma-cross.toml"), &registry())
        .unwrap()
        .run()
        .unwrap();
    assert_eq!(r.metrics.fill_count, fills);
    // Averages divided by 10 and 30 are rounded to 28 digits in the reference, so
    // compare to a hundredth of a cent.
    assert!(
        (r.metrics.final_equity - equity).abs() < dec!(0.0001),
        "engine {} vs reference {}",
        r.metrics.final_equity,
        equity
    );
}

#[test]
fn dex_swaps_follow_the_constant_product_formula_with_fee_gas_and_impact() {
    let run = |quote_reserve: &str| {
        let dir = tempfile::tempdir().unwrap();
        let dex = format!(
            "[dex]\nfee_bps = 30\ngas_cost = 0.5\n[[dex.pools]]\ninstrument = \"BTCUSDT\"\nquote_reserve = {quote_reserve}\n"
        );
        run_fixture(dir.path(), FIXTURE, &dex).unwrap()
    };
    let shallow = run("5000");
    let buy = &shallow.fills[0];
    assert_eq!(buy.side, Side::Buy);
    assert_eq!(
        buy.ts,
        Timestamp::parse("2022-01-01T00:03:00Z", None).unwrap()
    );
    // Independently: the pool's liquidity L = 5000/√10 is fixed at the first open;
    // at the 11.5 open its reserves are L/√11.5 BTC and L·√11.5 USDT; the swap spends
    // the budget less gas: out = 0.997·s·r_base / (r_quote + 0.997·s).
    let l = 5000.0 / 10f64.sqrt();
    let (rb, rq) = (l / 11.5f64.sqrt(), l * 11.5f64.sqrt());
    let s = 1000.0 - 0.5;
    let out = 0.997 * s * rb / (rq + 0.997 * s);
    let qty: f64 = buy.qty.to_string().parse().unwrap();
    assert!(qty <= out && out - qty < 1e-7, "qty {qty} vs formula {out}");
    // Cash moved by exactly what the swap and its gas cost, never more than the budget.
    let cost = buy.price * buy.qty + buy.fee;
    assert!(cost <= dec!(1000) && cost > dec!(999.99), "{cost}");
    assert!(buy.fee > dec!(0.5), "gas plus the pool fee: {}", buy.fee);
    // Impact: a fifth of the pool's quote side moves the price ~20 %.
    assert!(buy.price > dec!(13), "{}", buy.price);
    // A deeper pool gives more BTC for the same budget.
    let deep = run("50000000");
    assert!(deep.fills[0].qty > buy.qty);
    let deep_price: f64 = deep.fills[0].price.to_string().parse().unwrap();
    assert!((deep_price / 11.5 - 1.0).abs() < 0.001, "{deep_price}");
    // The report says which venue and costs it assumed.
    assert!(shallow.assumptions.fill_model.contains("constant-product"));
    assert_eq!(shallow.assumptions.taker_fee_bps, dec!(30));
}

/// Orders above `approval_notional` are held, not sent and not silently lost:
/// with no operator in a backtest they expire, and the report says so.
#[test]
fn held_orders_expire_in_a_backtest_and_the_report_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let r = run_fixture(
        dir.path(),
        FIXTURE,
        "[risk]\napproval_notional = 500\napproval_ttl = \"2m\"",
    )
    .unwrap();
    assert!(r.fills.is_empty(), "{:?}", r.fills);
    // Both cross-ups (see `hand_checked_fills_fees_and_pnl`) ask to buy for 1000.
    assert_eq!(
        r.verdicts.get("held:approval_required"),
        Some(&2),
        "{:?}",
        r.verdicts
    );
    assert!(
        r.warnings.iter().any(|w| w.contains("2 orders were held")),
        "{:?}",
        r.warnings
    );
    assert_eq!(r.metrics.final_equity, dec!(1000));
}

/// Every parameter set of `sets` run on its own, then all of them over one
/// shared data pass: the same JSON report (or error message) for each.
fn assert_shared_equals_independent(cfg: &Path, sets: &[toml::Table]) -> usize {
    let base = vigil_backtest::LoadedConfig::load(cfg).unwrap();
    let reg = registry();
    let text = |r: Result<BacktestReport, BacktestError>| match r {
        Ok(r) => serde_json::to_string(&r).unwrap(),
        Err(e) => format!("error: {e}"),
    };
    let alone: Vec<String> = sets
        .iter()
        .map(|s| text(base.with_params(s).build(&reg).and_then(|b| b.run())))
        .collect();
    let refs: Vec<&toml::Table> = sets.iter().collect();
    let (stream, built) = base.build_batch(&refs, &reg);
    let mut shared = Vec::new();
    let mut ready = Vec::new();
    for b in built {
        match b {
            Ok(b) => {
                assert!(b.can_share());
                ready.push(b);
                shared.push(None);
            }
            Err(e) => shared.push(Some(text(Err(e)))),
        }
    }
    let mut reports = match stream {
        Some(s) => vigil_backtest::run_shared(ready, s).into_iter(),
        None => Vec::new().into_iter(),
    };
    let shared: Vec<String> = shared
        .into_iter()
        .map(|s| s.unwrap_or_else(|| text(reports.next().unwrap())))
        .collect();
    assert!(reports.next().is_none());
    for (i, (a, b)) in alone.iter().zip(&shared).enumerate() {
        assert_eq!(a, b, "set {i}: {}", sets[i]);
    }
    alone.iter().filter(|t| t.starts_with("error")).count()
}

fn set(fast: i64, slow: i64) -> toml::Table {
    let mut t = toml::Table::new();
    t.insert("fast".into(), toml::Value::Integer(fast));
    t.insert("slow".into(), toml::Value::Integer(slow));
    t
}

#[test]
fn a_shared_data_pass_gives_each_set_its_own_runs_report() {
    let dir = tempfile::tempdir().unwrap();
    vigil_testkit::write_head(
        &vigil_testkit::shipped(vigil_testkit::BTCUSDT_1M),
        5000,
        &dir.path().join("bars.csv"),
    );
    let cfg = vigil_testkit::ConfigToml::btcusdt("sma-cross", "fast = 5\nslow = 20").with(
        "[venue]\ntaker_fee_bps = 10\nmaker_fee_bps = 2\nslippage_bps = 1\n\n\
         [risk]\nmax_position_weight = 0.8\nstop_loss_pct = 0.004",
    );
    let window = "start = \"2022-01-01T02:00:00Z\"\nend = \"2022-01-03T12:00:00Z\"\n";
    std::fs::write(
        dir.path().join("bt.toml"),
        format!("{window}{}", cfg.backtest("bars.csv", "1m")),
    )
    .unwrap();
    // Valid sets, and one the strategy refuses (fast ≥ slow): its error in place.
    let sets = vec![set(3, 10), set(5, 20), set(30, 10), set(8, 50), set(2, 3)];
    let errors = assert_shared_equals_independent(&dir.path().join("bt.toml"), &sets);
    assert_eq!(errors, 1);

    // Bad data part-way: every set fails with the same message as alone.
    let mut csv = std::fs::read_to_string(dir.path().join("bars.csv")).unwrap();
    let at = csv.match_indices('\n').nth(3000).unwrap().0;
    csv.insert_str(at + 1, "2022-01-03T02:00:30Z,1,2,3,not-a-price,5\n");
    std::fs::write(dir.path().join("bars.csv"), csv).unwrap();
    let errors = assert_shared_equals_independent(&dir.path().join("bt.toml"), &sets);
    assert_eq!(errors, sets.len());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(6))]
    /// Any batch of sets, any window: the shared pass changes no report.
    #[test]
    fn shared_passes_match_independent_runs(
        pairs in proptest::collection::vec((1i64..40, 2i64..120), 1..6),
        start_hour in 0u32..30,
        hours in 1u32..60,
    ) {
        let dir = tempfile::tempdir().unwrap();
        vigil_testkit::write_head(
            &vigil_testkit::shipped(vigil_testkit::BTCUSDT_1M),
            4000,
            &dir.path().join("bars.csv"),
        );
        let start = Timestamp::parse("2022-01-01T00:00:00Z", None).unwrap().nanos()
            + i64::from(start_hour) * 3_600_000_000_000;
        let end = start + i64::from(hours) * 3_600_000_000_000;
        let cfg = vigil_testkit::ConfigToml::btcusdt("sma-cross", "fast = 5\nslow = 20")
            .with("[venue]\ntaker_fee_bps = 10\nmaker_fee_bps = 2\nslippage_bps = 1");
        let window = format!(
            "start = \"{}\"\nend = \"{}\"\n",
            Timestamp(start).to_rfc3339(),
            Timestamp(end).to_rfc3339()
        );
        std::fs::write(
            dir.path().join("bt.toml"),
            format!("{window}{}", cfg.backtest("bars.csv", "1m")),
        )
        .unwrap();
        let sets: Vec<toml::Table> = pairs.iter().map(|&(f, s)| set(f, s)).collect();
        assert_shared_equals_independent(&dir.path().join("bt.toml"), &sets);
    }
}
