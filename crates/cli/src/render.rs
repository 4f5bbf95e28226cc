//! What the commands print, apart from the backtest summary (`summary.rs`):
//! each renderer takes a result and returns the text, so it can be tested.

use std::fmt::Write;

use rust_decimal::Decimal;
use vigil_agent::status::PositionStatus;
use vigil_agent::{AgentSummary, JournalStatus};
use vigil_backtest::grades::GradeEvaluation;
use vigil_backtest::lookahead::LookaheadReport;
use vigil_backtest::sweep::SweepReport;
use vigil_strategy::Registry;

fn pct(x: Option<f64>) -> String {
    x.map_or("n/a".into(), |v| format!("{:.2} %", v * 100.0))
}

fn num(x: Option<f64>) -> String {
    x.map_or("n/a".into(), |v| format!("{v:.2}"))
}

/// `vigil paper` / `vigil live` at the end of a run (`quiet`: latency only).
pub fn agent_summary(s: &AgentSummary, quiet: bool) -> String {
    let mut out = String::new();
    if !quiet {
        let _ = writeln!(
            out,
            "agent {}: {} ({} inputs recovered from the journal, {} processed now)",
            s.name,
            if s.finished {
                "feed ended, run complete"
            } else {
                "stopped; restart to resume"
            },
            s.recovered_events,
            s.processed_events
        );
        let _ = writeln!(
            out,
            "  equity {}  cash {}  fills {}",
            s.equity, s.cash, s.fills
        );
        let _ = writeln!(out, "  journal {}", s.journal);
    }
    if let Some(l) = &s.latency {
        let _ = writeln!(
            out,
            "  latency per event (decision, risk, simulated fill; no I/O): p50 {:.2} µs  p99 {:.2} µs  max {:.2} µs  ({} events)",
            l.p50_ns as f64 / 1e3,
            l.p99_ns as f64 / 1e3,
            l.max_ns as f64 / 1e3,
            l.samples
        );
    }
    out
}

/// `vigil status`: the latest snapshot and the journal's totals.
pub fn journal_status(st: &JournalStatus, positions: &[PositionStatus]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "agent {}", st.name);
    match &st.snapshot {
        None => {
            let _ = writeln!(out, "  no snapshot journaled yet");
        }
        Some(s) => {
            let equity: Decimal = s.equity.parse().unwrap_or_default();
            let pnl = equity - st.starting_cash;
            let pnl_pct = if st.starting_cash.is_zero() {
                0.0
            } else {
                (pnl / st.starting_cash * Decimal::from(100))
                    .round_dp(2)
                    .try_into()
                    .unwrap_or(0.0)
            };
            let _ = writeln!(out, "  as of       {}", vigil_core::Timestamp(s.ts));
            let _ = writeln!(out, "  state       {}", s.state);
            let _ = writeln!(out, "  cash        {}", s.cash);
            let _ = writeln!(out, "  equity      {}", s.equity);
            let _ = writeln!(out, "  PnL         {} ({:.2} %)", pnl.round_dp(8), pnl_pct);
            if positions.is_empty() {
                let _ = writeln!(out, "  positions   none");
            }
            for p in positions {
                let _ = writeln!(
                    out,
                    "  position    {} qty {} avg {} mark {} unrealised {}",
                    p.instrument,
                    p.qty,
                    p.avg_price,
                    p.mark.as_deref().unwrap_or("-"),
                    p.unrealised_pnl
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "  journal     {} inputs, {} orders, {} fills",
        st.last_seq.map_or(0, |s| s + 1),
        st.orders,
        st.fills
    );
    out
}

/// `vigil strategies`.
pub fn strategies(registry: &Registry) -> String {
    let mut out = String::new();
    for d in registry.iter() {
        let _ = writeln!(out, "{} — {}", d.name, d.summary);
        for p in d.params {
            let default = p
                .default
                .map(|d| format!(" (default: {d})"))
                .unwrap_or_default();
            let _ = writeln!(out, "    {:<14} {:<18} {}{}", p.name, p.ty, p.help, default);
        }
    }
    out
}

/// `vigil check-lookahead`: one line per cut.
pub fn lookahead_cuts(r: &LookaheadReport) -> String {
    let mut out = String::new();
    for c in &r.cuts {
        let _ = match &c.first_difference {
            None => writeln!(
                out,
                "  cut {}  {:>5} fills before it unchanged",
                c.at, c.fills_compared
            ),
            Some((full, cut)) => writeln!(
                out,
                "  cut {}  DIFFERS: full run {:?} vs truncated {:?}",
                c.at, full, cut
            ),
        };
    }
    out
}

/// `vigil sweep`: the best `top` rows, the overfitting estimates, walk-forward.
pub fn sweep(r: &SweepReport, top: usize) -> String {
    let mut out = String::new();
    let errors = r.rows.iter().filter(|x| x.error.is_some()).count();
    let _ = writeln!(
        out,
        "{} parameter sets, sorted by {} ({} could not run)",
        r.rows.len(),
        r.metric,
        errors
    );
    let _ = writeln!(
        out,
        "  {:>4} {:>10} {:>8} {:>9} {:>7}  params",
        "rank", "return", "Sharpe", "max DD", "trades"
    );
    for (i, row) in r.rows.iter().take(top).enumerate() {
        let _ = writeln!(
            out,
            "  {:>4} {:>10} {:>8} {:>9} {:>7}  {}",
            i + 1,
            pct(row.total_return),
            num(row.sharpe),
            pct(row.max_drawdown),
            row.trades.map_or("-".into(), |t| t.to_string()),
            row.error.as_deref().map_or_else(
                || row.params.to_string(),
                |e| format!("{} — {e}", row.params)
            )
        );
    }
    overfitting(&mut out, r);
    walk_forward(&mut out, r);
    let _ = writeln!(
        out,
        "  (the best of many tries on one history is biased upwards: check it out of sample)"
    );
    out
}

fn overfitting(out: &mut String, r: &SweepReport) {
    let _ = match &r.deflated_sharpe {
        Some(d) => writeln!(
            out,
            "  deflated Sharpe: best {:.2} vs {:.2} expected from luck over {} tries → P(not luck) = {:.1} %",
            d.best_sharpe,
            d.expected_max_sharpe,
            d.trials,
            d.deflated_sharpe * 100.0
        ),
        None => writeln!(
            out,
            "  deflated Sharpe: n/a (needs two or more trials with a Sharpe ratio)"
        ),
    };
    let _ = match &r.pbo {
        Some(p) => writeln!(
            out,
            "  probability of backtest overfitting (CSCV, {} blocks, {} splits): {:.1} %; the in-sample best loses out of sample in {:.1} % of splits",
            p.blocks,
            p.splits,
            p.pbo * 100.0,
            p.oos_loss_probability * 100.0
        ),
        None => writeln!(
            out,
            "  probability of backtest overfitting: n/a (needs two or more trials and 2 days per block)"
        ),
    };
}

fn walk_forward(out: &mut String, r: &SweepReport) {
    let Some(wf) = &r.walk_forward else { return };
    let _ = writeln!(
        out,
        "walk-forward ({} windows, chosen by {}; out-of-sample only):",
        wf.windows.len(),
        wf.metric
    );
    let _ = writeln!(
        out,
        "  {:<10} {:<10} {:>9} {:>9} {:>10}  params",
        "test from", "to", "IS", "OOS", "OOS ret"
    );
    for w in &wf.windows {
        let _ = writeln!(
            out,
            "  {:<10} {:<10} {:>9} {:>9} {:>10}  {}",
            &w.train_end.to_rfc3339()[..10],
            &w.test_end.to_rfc3339()[..10],
            num(w.in_sample_metric),
            num(w.out_of_sample_metric),
            pct(w.out_of_sample_return),
            w.best_params
                .as_ref()
                .map_or("(no set ran)".into(), |p| p.to_string())
        );
    }
    let _ = writeln!(
        out,
        "  out of sample: return {} over {} days, Sharpe {}; efficiency (mean OOS / mean IS {}) {}",
        pct(Some(wf.out_of_sample_return)),
        wf.out_of_sample_days,
        num(wf.out_of_sample_sharpe),
        wf.metric,
        num(wf.efficiency)
    );
}

/// `vigil grades evaluate`: the buckets and the rank IC.
pub fn grade_evaluation(ev: &GradeEvaluation) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} grades, forward return over {} ({} grades with a known outcome)",
        ev.kind, ev.horizon, ev.count
    );
    let _ = writeln!(
        out,
        "  {:<10} {:>8} {:>14} {:>10}",
        "score", "count", "mean return", "hit rate"
    );
    for b in &ev.buckets {
        let _ = writeln!(
            out,
            "  {:>3}–{:<6} {:>8} {:>13.3} % {:>9.1} %",
            b.from,
            b.to,
            b.count,
            b.mean_return * 100.0,
            b.hit_rate * 100.0
        );
    }
    let _ = writeln!(
        out,
        "  all        {:>8} {:>13.3} %",
        ev.count,
        ev.mean_return * 100.0
    );
    let _ = match ev.rank_ic {
        Some(ic) => writeln!(
            out,
            "  rank IC (Spearman, score vs forward return): {ic:.4}"
        ),
        None => writeln!(out, "  rank IC: n/a"),
    };
    out
}
