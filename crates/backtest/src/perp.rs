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
            let n = rec.funding_events[inst.id.index()];
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
