//! Tests of `{{name}}` with vigil's strategy harness: a real `Context`, no engine.

use {{crate}}::{Config, {{Type}}};
use rust_decimal::Decimal;
use vigil_core::{InstrumentId, Side};
use vigil_strategy::testing::Harness;
use vigil_strategy::Command;

fn config(toml_text: &str) -> Result<Config, vigil_strategy::StrategyError> {
    let table: toml::Table = toml::from_str(toml_text).expect("valid TOML");
    vigil_strategy::parse_params({{crate}}::NAME, &table)
}

fn harness() -> Harness {
    Harness::new(
        &[("BTCUSD", "BTC")],
        "USD",
        Decimal::from(10_000),
        Decimal::new(1, 3),
    )
}

/// Feeds `closes` one bar a minute; returns every command with the bar index.
fn run(strategy: &mut {{Type}}, h: &mut Harness, closes: &[f64]) -> Vec<(usize, Command)> {
    let btc = h.universe.id("BTCUSD").unwrap();
    let mut out = Vec::new();
    for (i, c) in closes.iter().enumerate() {
        h.advance(60_000_000_000);
        let price = Decimal::try_from(*c).unwrap().round_dp(2);
        let bar = h.bar(btc, price);
        let commands = h.step(strategy, &bar);
        h.fill(&commands).expect("the account can pay");
        out.extend(commands.into_iter().map(|c| (i, c)));
    }
    out
}

/// The sides of the orders placed, with the bar index.
fn sides(commands: &[(usize, Command)]) -> Vec<(usize, Side)> {
    commands
        .iter()
        .filter_map(|(i, c)| match c {
            Command::Submit { request, .. } => Some((*i, request.side)),
            Command::Cancel(_) => None,
        })
        .collect()
}

/// 60 bars up by 1 (100 → 159), then `tail`.
fn uptrend_then(tail: &[f64]) -> Vec<f64> {
    let mut closes: Vec<f64> = (0..60).map(|i| 100.0 + i as f64).collect();
    closes.extend_from_slice(tail);
    closes
}

#[test]
fn buys_a_pullback_in_an_uptrend_and_sells_the_recovery() {
    let cfg = config("trend = 50\nrsi_period = 3\nstop_bars = 5").unwrap();
    let mut s = {{Type}}::new(cfg, InstrumentId(0)).unwrap();
    // A dip to 154 (RSI(3) ≈ 29, far above the 50-bar EMA), then a recovery
    // that stays above the stop (155, the lowest of the 5 bars before the dip).
    let closes = uptrend_then(&[154.0, 156.0, 158.0, 160.0, 162.0]);
    let got = sides(&run(&mut s, &mut harness(), &closes));
    assert_eq!(got.first(), Some(&(60, Side::Buy)), "{got:?}");
    assert!(
        matches!(got.get(1), Some((i, Side::Sell)) if *i > 61),
        "{got:?}"
    );
    assert_eq!(got.len(), 2, "{got:?}");
}

#[test]
fn a_close_under_the_swing_low_stops_the_position_out() {
    // `exit = 99`: only the stop can sell.
    let cfg = config("trend = 50\nrsi_period = 3\nstop_bars = 5\nexit = 99").unwrap();
    let mut s = {{Type}}::new(cfg, InstrumentId(0)).unwrap();
    let got = sides(&run(&mut s, &mut harness(), &uptrend_then(&[154.0, 150.0])));
    assert_eq!(got, [(60, Side::Buy), (61, Side::Sell)]);
}

#[test]
fn typos_and_bad_values_name_the_parameter() {
    let e = config("oversld = 20").unwrap_err();
    assert_eq!(e.param_name(), Some("oversld"), "{e}");
    let e = config("oversold = 70\nexit = 60")
        .unwrap()
        .validate()
        .unwrap_err();
    assert_eq!(e.param_name(), Some("oversold"), "{e}");
    let e = config("trend = 0").unwrap().validate().unwrap_err();
    assert_eq!(e.param_name(), Some("trend"), "{e}");
}

/// Whatever the prices, it never spends more than the cash it has, and never
/// sells what it does not hold: 200 random walks of 300 bars (a fixed seed, so
/// a failure reproduces; add the `proptest` crate for shrinking).
#[test]
fn never_overspends_or_oversells() {
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        // xorshift64*: a few lines instead of a dependency.
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        seed.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    for walk in 0..200 {
        let cfg = config("trend = 20\nrsi_period = 5\nstop_bars = 3").unwrap();
        let mut s = {{Type}}::new(cfg, InstrumentId(0)).unwrap();
        let mut h = harness();
        let btc = h.universe.id("BTCUSD").unwrap();
        let mut price = 1000.0f64;
        for _ in 0..300 {
            let step = (next() % 601) as f64 - 300.0; // −3 % … +3 %
            price = (price * (1.0 + step / 10_000.0)).max(1.0);
            h.advance(60_000_000_000);
            let bar = h.bar(btc, Decimal::try_from(price).unwrap().round_dp(2));
            let commands = h.step(&mut s, &bar);
            let cash = h.portfolio.cash(h.universe.get(btc).quote);
            assert!(h.buy_cost(&commands) <= cash, "walk {walk}: overspends");
            assert!(h.fill(&commands).is_ok(), "walk {walk}: cannot pay");
            assert!(
                h.portfolio.position(btc).qty >= Decimal::ZERO,
                "walk {walk}: short"
            );
        }
    }
}
