//! Perpetual steps of the engine loop: liquidation checked on each bar's
//! adverse extreme at mark price (mark-price bars when the run has them,
//! else the traded bars).

use rust_decimal::Decimal;
use vigil_core::{Bar, ClientOrderId, InstrumentId, MarginMode};
use vigil_exec::Venue;

use crate::{Engine, EngineError, Observer};

/// Why the working orders of a liquidated instrument were cancelled.
pub const CANCELLED_BY_LIQUIDATION: &str = "cancelled: position liquidated";

impl<O: Observer, V: Venue> Engine<O, V> {
    /// Liquidates the bar's instrument if the bar's adverse extreme reached
    /// its liquidation price; then, for cross margin, closes other cross
    /// positions at their marks while the account stays below maintenance.
    pub(crate) fn check_liquidation(
        &mut self,
        bar: &Bar,
        is_mark: bool,
        fee_rate: Decimal,
    ) -> Result<(), EngineError> {
        let inst = bar.instrument;
        let qty = self.portfolio.position(inst).qty;
        if qty.is_zero() || self.portfolio.perp_terms(inst).is_none() {
            return Ok(());
        }
        if !is_mark && self.portfolio.is_mark_fed(inst) {
            return Ok(());
        }
        let adverse = if qty > Decimal::ZERO {
            bar.low
        } else {
            bar.high
        };
        let Some(price) = self.portfolio.liquidation_trigger(inst, bar.open, adverse) else {
            return Ok(());
        };
        self.liquidate(inst, price, fee_rate, bar)?;
        let cross = self
            .portfolio
            .perp_terms(inst)
            .is_some_and(|t| t.margin == MarginMode::Cross);
        if !cross {
            return Ok(());
        }
        loop {
            let (balance, maintenance) = self.portfolio.cross_margin();
            if balance > maintenance {
                break;
            }
            let next = (0..self.universe.len() as u32).map(InstrumentId).find(|i| {
                !self.portfolio.position(*i).is_flat()
                    && self
                        .portfolio
                        .perp_terms(*i)
                        .is_some_and(|t| t.margin == MarginMode::Cross)
            });
            let Some(other) = next else { break };
            let Some(mark) = self.portfolio.position(other).mark else {
                break;
            };
            self.liquidate(other, mark, fee_rate, bar)?;
        }
        Ok(())
    }

    fn liquidate(
        &mut self,
        inst: InstrumentId,
        price: Decimal,
        fee_rate: Decimal,
        bar: &Bar,
    ) -> Result<(), EngineError> {
        let ts = bar.close_time;
        let ids: Vec<ClientOrderId> = self
            .venue
            .open_orders()
            .iter()
            .filter(|o| o.request.instrument == inst)
            .map(|o| o.id)
            .collect();
        for id in ids {
            let _ = self
                .venue
                .cancel_because(id, ts, CANCELLED_BY_LIQUIDATION, &mut self.reports);
        }
        if !self.reports.is_empty() {
            self.handle_reports(ts)?;
        }
        let Some(liq) = self.portfolio.liquidate(inst, price, fee_rate, ts)? else {
            return Ok(());
        };
        self.risk.on_fill(&liq.fill, true);
        self.observer.on_liquidation(&liq, &self.portfolio);
        self.with_context(ts, |s, ctx| s.on_fill(&liq.fill, ctx))
    }
}
