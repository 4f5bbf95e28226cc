//! The human-readable backtest summary.

use std::fmt::Write;

use rust_decimal::Decimal;
use vigil_backtest::BacktestReport;

fn pct(x: Option<f64>) -> String {
    x.map_or("n/a".into(), |v| format!("{:.2} %", v * 100.0))
}

fn num(x: Option<f64>) -> String {
    x.map_or("n/a".into(), |v| format!("{v:.2}"))
}

fn money(d: Decimal, ccy: &str) -> String {
    format!("{} {ccy}", d.round_dp(2))
}

/// Renders the summary table.
pub fn render(r: &BacktestReport) -> String {
    let m = &r.metrics;
    let a = &r.assumptions;
    let ccy = &a.account_currency;
    let mut s = String::new();
    let _ = writeln!(s, "vigil backtest — {}", r.name);
    let params = match &r.strategy_params {
        serde_json::Value::Object(map) if !map.is_empty() => {
            let items: Vec<String> = map.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!(" ({})", items.join(", "))
        }
        _ => String::new(),
    };
    let _ = writeln!(s, "  strategy   {}{}", r.strategy, params);
    for d in &a.data {
        let _ = writeln!(
            s,
            "  data       {} {} bars {} → {}",
            d.instrument,
            d.bars,
            d.first.map_or("-".into(), |t| t.to_rfc3339()),
            d.last.map_or("-".into(), |t| t.to_rfc3339())
        );
    }
    let _ = writeln!(
        s,
        "  costs      taker {} bps, maker {} bps, slippage {} bps",
        a.taker_fee_bps, a.maker_fee_bps, a.slippage_bps
    );
    let _ = writeln!(s);
    let rows: Vec<(&str, String)> = vec![
        ("Starting equity", money(m.starting_equity, ccy)),
        ("Final equity", money(m.final_equity, ccy)),
        ("Total return", pct(Some(m.total_return))),
        ("Buy & hold return", pct(m.buy_and_hold_return)),
        ("CAGR", pct(m.cagr)),
        ("Annualised volatility", pct(m.annualised_volatility)),
        ("Sharpe (daily, ×√365)", num(m.sharpe)),
        ("Sortino", num(m.sortino)),
        ("Max drawdown", pct(Some(m.max_drawdown))),
        (
            "Max drawdown duration",
            format!("{:.1} days", m.max_drawdown_duration_days),
        ),
        ("Calmar", num(m.calmar)),
        (
            "Trades (closed / open)",
            format!("{} / {}", m.trade_count, m.open_trades),
        ),
        ("Win rate", pct(m.win_rate)),
        ("Profit factor", num(m.profit_factor)),
        ("Exposure", pct(Some(m.exposure))),
        ("Turnover", format!("{:.2}×", m.turnover)),
        ("Fees paid", money(m.fees_paid, ccy)),
        ("Fills", m.fill_count.to_string()),
        ("Events", m.events.to_string()),
    ];
    let _ = writeln!(s, "  {:<26} {:>20}", "Metric", "Value");
    let _ = writeln!(s, "  {:─<26} {:─>20}", "", "");
    for (k, v) in rows {
        let _ = writeln!(s, "  {k:<26} {v:>20}");
    }
    if let Some(real) = &r.realism {
        let _ = writeln!(
            s,
            "\n  realism: same data, harsher costs      {:>12} {:>9} {:>10}",
            "return", "Sharpe", "max DD"
        );
        for sc in &real.scenarios {
            let _ = writeln!(
                s,
                "    {:<35} {:>12} {:>9} {:>10}",
                sc.name,
                pct(Some(sc.total_return)),
                num(sc.sharpe),
                pct(Some(sc.max_drawdown))
            );
        }
        let _ = writeln!(s, "  → {}", real.verdict);
    }
    if !r.verdicts.is_empty() {
        let v: Vec<String> = r.verdicts.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(s, "\n  risk verdicts: {}", v.join(", "));
    }
    if !r.risk_events.is_empty() {
        let v: Vec<String> = r
            .risk_events
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let _ = writeln!(s, "  risk actions: {}", v.join(", "));
    }
    if !r.orders.close_reasons.is_empty() {
        let v: Vec<String> = r
            .orders
            .close_reasons
            .iter()
            .map(|(k, n)| format!("{k} ({n})"))
            .collect();
        let _ = writeln!(s, "  orders not filled: {}", v.join(", "));
    }
    s
}
