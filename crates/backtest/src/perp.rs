//! Perpetuals in a backtest: the `[[data.mark]]` and `[[data.funding]]`
//! sources, and the report's funding, liquidations and assumptions.

use rust_decimal::Decimal;
use vigil_core::config::{FieldError, TomlFile};
use vigil_core::{Liquidation, Portfolio, Universe};
use vigil_exec::SimVenueConfig;
use vigil_feed::funding::add_perp_sources;
use vigil_feed::{FeedError, MergedStream};

use crate::config::DataConfig;
use crate::error::BacktestError;
use crate::recorder::Recorder;
use crate::report::{LiquidationRecord, PerpAssumption, PerpReport};

/// Adds the mark-price bars (after the traded bars, so that at one time the
/// fills at the open come first) and funding rates to `merged`; warns of a
/// perpetual without funding data.
pub(crate) fn add_sources(
    data: &DataConfig,
    file: &TomlFile,
    universe: &Universe,
    merged: &mut MergedStream,
    warnings: &mut Vec<String>,
) -> Result<(), BacktestError> {
    let perp_id = |field: String, symbol: &str| {
        let id = universe
            .id(symbol)
            .filter(|id| universe.get(*id).is_perpetual());
        id.ok_or_else(|| {
            BacktestError::from(file.field_error(FieldError::new(
                field,
                format!("`{symbol}` is not a perpetual instrument of this config (`kind = \"perpetual\"`)"),
            )))
        })
    };
    for (i, m) in data.mark.iter().enumerate() {
        perp_id(format!("data.mark[{i}].instrument"), &m.instrument)?;
    }
    for (i, f) in data.funding.iter().enumerate() {
        perp_id(format!("data.funding[{i}].instrument"), &f.instrument)?;
    }
    let funded = add_perp_sources(
        merged,
        &data.mark,
        &data.funding,
        &file.dir(),
        universe,
        "data",
    )
    .map_err(|e| match e {
        FeedError::Config(m) => BacktestError::from(file.error(m)),
        other => BacktestError::from(other),
    })?;
    for inst in universe.instruments() {
        if inst.is_perpetual() && !funded[inst.id.index()] {
            warnings.push(format!(
                "`{}` is a perpetual without `[[data.funding]]`: no funding is charged or paid",
                inst.symbol
            ));
        }
    }
    Ok(())
}

/// The report's perpetual sections (`None` for a run without perpetuals).
pub(crate) fn sections(
    rec: &Recorder,
    portfolio: &Portfolio,
    universe: &Universe,
    venue: &SimVenueConfig,
) -> (Option<Vec<PerpAssumption>>, Option<PerpReport>) {
    if !portfolio.has_perpetuals() {
        return (None, None);
    }
    let assumptions = universe
        .instruments()
        .iter()
        .filter_map(|inst| {
            let t = inst.perp.as_ref()?;
            let n = rec.perp_cover[inst.id.index()].funding;
            Some(PerpAssumption {
                instrument: inst.symbol.clone(),
                leverage: t.leverage,
                margin: t.margin,
                mark_price: if portfolio.is_mark_fed(inst.id) {
                    "mark-price bars ([[data.mark]])".into()
                } else {
                    "last price (no [[data.mark]]): bars' closes mark, their lows/highs trigger liquidation".into()
                },
                funding: if n == 0 {
                    "none".into()
                } else {
                    format!("{n} funding times ([[data.funding]]), charged at the mark")
                },
                liquidation_fee_bps: venue.liquidation_fee_bps,
            })
        })
        .collect();
    let paid: Decimal = rec
        .funding
        .iter()
        .map(|f| f.payment.max(Decimal::ZERO))
        .sum();
    let received: Decimal = rec
        .funding
        .iter()
        .map(|f| (-f.payment).max(Decimal::ZERO))
        .sum();
    let liquidations = rec
        .liquidations
        .iter()
        .map(|l| record(l, universe))
        .collect();
    let report = PerpReport {
        funding_paid: paid,
        funding_received: received,
        funding_net: paid - received,
        funding_charges: rec.funding.len() as u64,
        liquidations,
    };
    (Some(assumptions), Some(report))
}

fn record(l: &Liquidation, universe: &Universe) -> LiquidationRecord {
    LiquidationRecord {
        instrument: universe.get(l.instrument).symbol.clone(),
        time: l.ts,
        side: l.fill.side,
        qty: l.fill.qty,
        price: l.fill.price,
        realised_pnl: l.realised_pnl,
        fee: l.fill.fee,
        insurance: l.insurance,
    }
}

/// A day: no exchange funds less often (intervals are 1, 4 or 8 hours).
const FUNDING_SLACK_NANOS: i64 = 24 * 3600 * 1_000_000_000;

/// Warnings when a perpetual's funding or mark data stops short of its bars:
/// funding missing for more than a day at either end or in between (none is
/// charged there), or bars after the last mark-price bar (marked, and
/// checked for liquidation, at a stale mark).
pub(crate) fn coverage_warnings(rec: &Recorder, universe: &Universe, warnings: &mut Vec<String>) {
    for inst in universe.instruments().iter().filter(|i| i.is_perpetual()) {
        let c = &rec.perp_cover[inst.id.index()];
        let bars = &rec.coverage[inst.id.index()];
        let sym = &inst.symbol;
        if c.bars_after_mark > 0 {
            warnings.push(format!(
                "{sym}: {} bars came after its last mark-price bar ({}): they were marked, and checked for liquidation, at that stale mark",
                c.bars_after_mark,
                c.last_mark.map_or(String::new(), |t| t.to_string())
            ));
        }
        let (Some(first), Some(last), Some(bar_first), Some(bar_last)) =
            (c.funding_first, c.funding_last, bars.first, bars.last)
        else {
            continue;
        };
        let short_start = first.nanos() - bar_first.nanos() > FUNDING_SLACK_NANOS;
        let short_end = bar_last.nanos() - last.nanos() > FUNDING_SLACK_NANOS;
        let gap = c.funding_max_gap > FUNDING_SLACK_NANOS;
        if short_start || short_end || gap {
            warnings.push(format!(
                "{sym}: funding data covers {first} → {last} (longest gap {:.1} h) but its bars span {bar_first} → {bar_last}: no funding was charged where it is missing",
                c.funding_max_gap as f64 / 3.6e12
            ));
        }
    }
}
