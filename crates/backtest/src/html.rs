//! The HTML report: one self-contained file (inline CSS and SVG, no script, no
//! network) with the equity curve against buy-and-hold, the drawdown curve, monthly
//! returns, metrics, the realism stresses, risk verdicts, the exact assumptions and
//! the trade list.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::Datelike;
use rust_decimal::Decimal;
use vigil_core::Timestamp;

use crate::chart::{escape, LineChart, Series, YFormat};
use crate::report::{BacktestReport, EquityPoint};
use crate::stats::approx_f64;

/// Trades listed in the HTML (all of them are in the JSON report).
pub const MAX_TRADE_ROWS: usize = 2_000;

/// Colour of the strategy's equity line.
pub const EQUITY_COLOR: &str = "#1f77b4";
/// Colour of the buy-and-hold line.
pub const BENCHMARK_COLOR: &str = "#ff7f0e";
/// Colour of the drawdown area.
pub const DRAWDOWN_COLOR: &str = "#d62728";

/// One month's return, from the sampled equity curve.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MonthlyReturn {
    /// Calendar year (UTC).
    pub year: i32,
    /// Month, 1–12.
    pub month: u32,
    /// Return over the month: last equity of the month / last equity of the previous
    /// month (the starting equity for the first) − 1.
    pub ret: f64,
}

/// Monthly returns from the equity curve. They compound to the total return,
/// because the curve's last point is the final equity.
pub fn monthly_returns(starting_equity: Decimal, curve: &[EquityPoint]) -> Vec<MonthlyReturn> {
    let mut out = Vec::new();
    let mut prev_close = approx_f64(starting_equity);
    let mut current: Option<(i32, u32, f64)> = None;
    for p in curve {
        let dt = p.ts.to_datetime();
        let (y, m) = (dt.year(), dt.month());
        let e = approx_f64(p.equity);
        match current {
            Some((cy, cm, last)) if (cy, cm) != (y, m) => {
                out.push(MonthlyReturn {
                    year: cy,
                    month: cm,
                    ret: ratio(last, prev_close),
                });
                prev_close = last;
                current = Some((y, m, e));
            }
            _ => current = Some((y, m, e)),
        }
    }
    if let Some((y, m, last)) = current {
        out.push(MonthlyReturn {
            year: y,
            month: m,
            ret: ratio(last, prev_close),
        });
    }
    out
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b - 1.0
    } else {
        f64::NAN
    }
}

fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.2}%", x * 100.0)
    } else {
        "—".into()
    }
}

fn opt_pct(x: Option<f64>) -> String {
    x.map(pct).unwrap_or_else(|| "—".into())
}

fn opt_num(x: Option<f64>) -> String {
    match x {
        Some(v) if v.is_finite() => format!("{v:.2}"),
        _ => "—".into(),
    }
}

fn ts(t: Option<Timestamp>) -> String {
    t.map(|t| t.to_rfc3339()).unwrap_or_else(|| "—".into())
}

/// Amounts with enough digits for the account currency: 2 decimals from 100 up,
/// 8 below (BTC-quoted accounts deal in fractions).
fn money(d: Decimal) -> String {
    let dp = if d.abs() >= Decimal::ONE_HUNDRED {
        2
    } else {
        8
    };
    d.round_dp(dp).normalize().to_string()
}

fn class_of(x: f64) -> &'static str {
    if !x.is_finite() || x == 0.0 {
        ""
    } else if x > 0.0 {
        "pos"
    } else {
        "neg"
    }
}

const STYLE: &str = "body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1100px}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}\
.sub{color:#666;margin:0 0 12px}table{border-collapse:collapse;font-size:13px}\
td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f4f4f4}td.l,th.l{text-align:left}\
.pos{color:#1a7f37}.neg{color:#c62828}.flag{background:#fdecea;border:1px solid #c62828;padding:8px;margin:8px 0}\
.ok{background:#eaf6ec;border:1px solid #1a7f37;padding:8px;margin:8px 0}\
.grid{display:grid;grid-template-columns:repeat(4,1fr);gap:8px}.m{border:1px solid #ddd;padding:6px 10px}\
.m b{display:block;font-size:18px}.m span{color:#666;font-size:12px}svg.chart{display:block;margin:8px 0}\
td.mr{min-width:52px}";

/// Writes the report as one HTML document.
pub fn render_html(report: &BacktestReport) -> String {
    let m = &report.metrics;
    let mut h = String::with_capacity(64 * 1024 + report.trades.len() * 200);
    let title = format!("{} — vigil backtest", report.name);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>",
        escape(&title)
    );
    let _ = write!(
        h,
        "<h1>{}</h1><p class=\"sub\">strategy <b>{}</b> {} · {} → {} ({:.1} days, {} events) · vigil {}</p>",
        escape(&report.name),
        escape(&report.strategy),
        escape(&report.strategy_params.to_string()),
        ts(m.start),
        ts(m.end),
        m.duration_days,
        m.events,
        report.vigil_version
    );

    metrics_section(&mut h, report);
    charts_section(&mut h, report);
    monthly_section(&mut h, report);
    realism_section(&mut h, report);
    risk_section(&mut h, report);
    assumptions_section(&mut h, report);
    perpetuals_section(&mut h, report);
    trades_section(&mut h, report);
    h.push_str("</table></body></html>\n");
    h
}

/// The headline metrics: tiles and a table.
fn metrics_section(h: &mut String, report: &BacktestReport) {
    let m = &report.metrics;
    h.push_str("<h2>Metrics</h2><div class=\"grid\">");
    let tiles: [(&str, String, f64); 12] = [
        ("total return", pct(m.total_return), m.total_return),
        (
            "buy & hold",
            opt_pct(m.buy_and_hold_return),
            m.buy_and_hold_return.unwrap_or(0.0),
        ),
        ("CAGR", opt_pct(m.cagr), m.cagr.unwrap_or(0.0)),
        ("Sharpe", opt_num(m.sharpe), 0.0),
        ("Sortino", opt_num(m.sortino), 0.0),
        ("Calmar", opt_num(m.calmar), 0.0),
        ("max drawdown", pct(m.max_drawdown), -m.max_drawdown),
        (
            "max drawdown duration",
            format!("{:.1} days", m.max_drawdown_duration_days),
            0.0,
        ),
        ("volatility (ann.)", opt_pct(m.annualised_volatility), 0.0),
        ("win rate", opt_pct(m.win_rate), 0.0),
        ("profit factor", opt_num(m.profit_factor), 0.0),
        ("exposure", pct(m.exposure), 0.0),
    ];
    for (label, value, sign) in tiles {
        let _ = write!(
            h,
            "<div class=\"m\"><span>{label}</span><b class=\"{}\">{value}</b></div>",
            class_of(sign)
        );
    }
    h.push_str("</div><table style=\"margin-top:8px\">");
    let rows: [(&str, String); 9] = [
        ("starting equity", money(m.starting_equity)),
        ("final equity", money(m.final_equity)),
        ("realised PnL (before fees)", money(m.realised_pnl)),
        ("unrealised PnL", money(m.unrealised_pnl)),
        ("fees paid", money(m.fees_paid)),
        ("turnover", format!("{:.2}×", m.turnover)),
        ("closed trades", m.trade_count.to_string()),
        ("open trades at end", m.open_trades.to_string()),
        ("fills", m.fill_count.to_string()),
    ];
    for (k, v) in rows {
        let _ = write!(h, "<tr><td class=\"l\">{k}</td><td>{v}</td></tr>");
    }
    h.push_str("</table>");
}

/// Equity against buy-and-hold, and the drawdown.
fn charts_section(h: &mut String, report: &BacktestReport) {
    let drawdown: Vec<(Timestamp, f64)> = report
        .equity_curve
        .iter()
        .map(|p| (p.ts, -p.drawdown))
        .collect();
    h.push_str("<h2>Equity</h2>");
    h.push_str(
        &equity_chart(
            report,
            format!("Equity ({})", report.assumptions.account_currency),
            1060,
            360,
        )
        .to_svg(),
    );
    h.push_str(
        &LineChart {
            title: "Drawdown from peak".into(),
            width: 1060,
            height: 220,
            y_format: YFormat::Percent,
            series: vec![Series {
                name: "drawdown".into(),
                color: DRAWDOWN_COLOR,
                points: drawdown,
                fill: true,
            }],
        }
        .to_svg(),
    );
}

/// Monthly returns by year.
fn monthly_section(h: &mut String, report: &BacktestReport) {
    let m = &report.metrics;
    h.push_str("<h2>Monthly returns</h2>");
    let months = monthly_returns(m.starting_equity, &report.equity_curve);
    let mut by_year: BTreeMap<i32, [Option<f64>; 12]> = BTreeMap::new();
    for r in &months {
        by_year.entry(r.year).or_insert([None; 12])[(r.month - 1) as usize] = Some(r.ret);
    }
    h.push_str("<table><tr><th class=\"l\">year</th>");
    for name in [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ] {
        let _ = write!(h, "<th>{name}</th>");
    }
    h.push_str("<th>year</th></tr>");
    for (year, cells) in &by_year {
        let _ = write!(h, "<tr><td class=\"l\">{year}</td>");
        let mut compound = 1.0;
        for cell in cells {
            match cell {
                Some(r) => {
                    compound *= 1.0 + r;
                    let _ = write!(h, "<td class=\"mr {}\">{}</td>", class_of(*r), pct(*r));
                }
                None => h.push_str("<td class=\"mr\"></td>"),
            }
        }
        let y = compound - 1.0;
        let _ = write!(
            h,
            "<td class=\"{}\"><b>{}</b></td></tr>",
            class_of(y),
            pct(y)
        );
    }
    h.push_str("</table><p class=\"sub\">From the sampled equity curve (the last sample of each month).</p>");
}

/// The realism report, when there is one.
fn realism_section(h: &mut String, report: &BacktestReport) {
    if let Some(realism) = &report.realism {
        h.push_str("<h2>Realism: the same run under harsher costs</h2>");
        let _ = write!(
            h,
            "<div class=\"{}\">{}</div><table><tr><th class=\"l\">scenario</th><th>total return</th><th>Sharpe</th><th>max drawdown</th><th>fees paid</th><th>trades</th></tr>",
            if realism.flagged { "flag" } else { "ok" },
            escape(&realism.verdict)
        );
        for s in &realism.scenarios {
            let _ = write!(
                h,
                "<tr><td class=\"l\">{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&s.name),
                class_of(s.total_return),
                pct(s.total_return),
                opt_num(s.sharpe),
                pct(s.max_drawdown),
                money(s.fees_paid),
                s.trades
            );
        }
        h.push_str("</table>");
    }
}

/// Risk verdicts, risk events and order outcomes.
fn risk_section(h: &mut String, report: &BacktestReport) {
    h.push_str("<h2>Risk manager verdicts and orders</h2><table><tr><th class=\"l\">verdict</th><th>count</th></tr>");
    for (k, v) in &report.verdicts {
        let _ = write!(h, "<tr><td class=\"l\">{}</td><td>{v}</td></tr>", escape(k));
    }
    for (k, v) in &report.risk_events {
        let _ = write!(
            h,
            "<tr><td class=\"l\">risk event {}</td><td>{v}</td></tr>",
            escape(k)
        );
    }
    let o = &report.orders;
    let _ = write!(
        h,
        "</table><table style=\"margin-top:8px\"><tr><th class=\"l\">orders</th><th>count</th></tr>\
<tr><td class=\"l\">submitted</td><td>{}</td></tr><tr><td class=\"l\">filled</td><td>{}</td></tr>\
<tr><td class=\"l\">cancelled</td><td>{}</td></tr><tr><td class=\"l\">rejected</td><td>{}</td></tr>\
<tr><td class=\"l\">open at end</td><td>{}</td></tr>",
        o.submitted, o.filled, o.cancelled, o.rejected, o.open_at_end
    );
    for (k, v) in &o.close_reasons {
        let _ = write!(
            h,
            "<tr><td class=\"l\">closed: {}</td><td>{v}</td></tr>",
            escape(k)
        );
    }
    h.push_str("</table>");
}

/// Costs, the fill model and the data span.
fn assumptions_section(h: &mut String, report: &BacktestReport) {
    let a = &report.assumptions;
    let _ = write!(
        h,
        "<h2>Assumptions</h2><table>\
<tr><td class=\"l\">account currency</td><td>{}</td></tr><tr><td class=\"l\">starting cash</td><td>{}</td></tr>\
<tr><td class=\"l\">maker fee</td><td>{} bps</td></tr><tr><td class=\"l\">taker fee</td><td>{} bps</td></tr>\
<tr><td class=\"l\">slippage (taker)</td><td>{} bps</td></tr><tr><td class=\"l\">fill model</td><td class=\"l\">{}</td></tr>\
<tr><td class=\"l\">periods per year</td><td>{}</td></tr></table>",
        escape(&a.account_currency),
        money(a.starting_cash),
        a.maker_fee_bps,
        a.taker_fee_bps,
        a.slippage_bps,
        escape(&a.fill_model),
        a.periods_per_year
    );
    h.push_str("<table style=\"margin-top:8px\"><tr><th class=\"l\">instrument</th><th>bars</th><th>first open</th><th>last close</th><th>buy &amp; hold</th></tr>");
    for d in &a.data {
        let bh = d.buy_and_hold_return.unwrap_or(f64::NAN);
        let _ = write!(
            h,
            "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
            escape(&d.instrument),
            d.bars,
            ts(d.first),
            ts(d.last),
            class_of(bh),
            pct(bh)
        );
    }
    h.push_str("</table>");
}

/// Perpetuals: how each was simulated, funding, and every liquidation.
fn perpetuals_section(h: &mut String, report: &BacktestReport) {
    let (Some(assumed), Some(p)) = (&report.assumptions.perpetuals, &report.perpetuals) else {
        return;
    };
    h.push_str("<h2>Perpetuals</h2><table><tr><th class=\"l\">instrument</th><th>leverage</th><th>margin</th><th class=\"l\">mark price</th><th class=\"l\">funding</th><th>liquidation fee</th></tr>");
    for a in assumed {
        let _ = write!(
            h,
            "<tr><td class=\"l\">{}</td><td>{}×</td><td>{:?}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{} bps</td></tr>",
            escape(&a.instrument),
            a.leverage,
            a.margin,
            escape(&a.mark_price),
            escape(&a.funding),
            a.liquidation_fee_bps
        );
    }
    let _ = write!(
        h,
        "</table><table style=\"margin-top:8px\"><tr><td class=\"l\">funding paid</td><td>{}</td></tr><tr><td class=\"l\">funding received</td><td>{}</td></tr><tr><td class=\"l\">net funding paid</td><td>{}</td></tr><tr><td class=\"l\">funding charges</td><td>{}</td></tr><tr><td class=\"l\">liquidations</td><td>{}</td></tr></table>",
        money(p.funding_paid),
        money(p.funding_received),
        money(p.funding_net),
        p.funding_charges,
        p.liquidations.len()
    );
    if p.liquidations.is_empty() {
        return;
    }
    h.push_str("<table style=\"margin-top:8px\"><tr><th>time</th><th class=\"l\">instrument</th><th>side</th><th>qty</th><th>price</th><th>realised PnL</th><th>fee</th><th>insurance</th></tr>");
    for l in &p.liquidations {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ts(Some(l.time)),
            escape(&l.instrument),
            l.side,
            l.qty,
            l.price,
            money(l.realised_pnl),
            money(l.fee),
            money(l.insurance)
        );
    }
    h.push_str("</table>");
}

/// The trades table (the first `MAX_TRADE_ROWS`).
fn trades_section(h: &mut String, report: &BacktestReport) {
    let _ = write!(h, "<h2>Trades ({})</h2>", report.trades.len());
    if report.trades.len() > MAX_TRADE_ROWS {
        let _ = write!(
            h,
            "<p class=\"sub\">The first {MAX_TRADE_ROWS} of {}; all of them are in the JSON report (<code>--json</code>).</p>",
            report.trades.len()
        );
    }
    h.push_str("<table><tr><th class=\"l\">instrument</th><th class=\"l\">side</th><th>entry</th><th>exit</th><th>qty</th><th>entry price</th><th>exit price</th><th>fees</th><th>PnL</th><th>return</th></tr>");
    for t in report.trades.iter().take(MAX_TRADE_ROWS) {
        let _ = write!(
            h,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td class=\"{}\">{}</td></tr>",
            escape(&t.instrument),
            t.direction,
            t.entry_time,
            if t.open { "open".to_string() } else { ts(t.exit_time) },
            t.quantity.normalize(),
            t.entry_price.normalize(),
            t.exit_price.normalize(),
            money(t.fees),
            class_of(approx_f64(t.pnl)),
            money(t.pnl),
            class_of(t.return_pct),
            pct(t.return_pct)
        );
    }
}

/// The strategy's equity against buy-and-hold.
fn equity_chart(report: &BacktestReport, title: String, width: u32, height: u32) -> LineChart {
    let curve = |f: fn(&EquityPoint) -> f64| -> Vec<(Timestamp, f64)> {
        report.equity_curve.iter().map(|p| (p.ts, f(p))).collect()
    };
    LineChart {
        title,
        width,
        height,
        y_format: YFormat::Number,
        series: vec![
            Series {
                name: "strategy".into(),
                color: EQUITY_COLOR,
                points: curve(|p| approx_f64(p.equity)),
                fill: false,
            },
            Series {
                name: "buy & hold".into(),
                color: BENCHMARK_COLOR,
                points: curve(|p| p.buy_and_hold_equity),
                fill: false,
            },
        ],
    }
}

/// The equity chart alone (strategy against buy-and-hold) as SVG, for `--png`.
pub fn equity_chart_svg(report: &BacktestReport) -> String {
    let title = format!(
        "{} — equity ({})",
        report.name, report.assumptions.account_currency
    );
    equity_chart(report, title, 1200, 500).to_svg()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn point(rfc: &str, equity: Decimal) -> EquityPoint {
        EquityPoint {
            ts: Timestamp::parse_rfc3339(rfc).unwrap(),
            equity,
            drawdown: 0.0,
            buy_and_hold_equity: 0.0,
        }
    }

    #[test]
    fn monthly_returns_chain_from_month_ends() {
        let curve = [
            point("2022-01-01T00:00:00Z", dec!(1000)),
            point("2022-01-31T23:00:00Z", dec!(1100)),
            point("2022-02-15T00:00:00Z", dec!(900)),
            point("2022-02-28T23:00:00Z", dec!(990)),
            point("2022-04-02T00:00:00Z", dec!(1089)),
        ];
        let m = monthly_returns(dec!(1000), &curve);
        let got: Vec<(i32, u32)> = m.iter().map(|r| (r.year, r.month)).collect();
        assert_eq!(got, [(2022, 1), (2022, 2), (2022, 4)]);
        assert!((m[0].ret - 0.10).abs() < 1e-12);
        assert!((m[1].ret - (-0.10)).abs() < 1e-12);
        assert!((m[2].ret - 0.10).abs() < 1e-12);
        let compound: f64 = m.iter().map(|r| 1.0 + r.ret).product::<f64>() - 1.0;
        assert!((compound - 0.089).abs() < 1e-12);
    }
}
