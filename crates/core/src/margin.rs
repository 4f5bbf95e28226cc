//! Perpetual accounting on the [`Portfolio`]: signed positions whose fills
//! move only realised PnL and fees through the wallet, margin, funding and
//! liquidation (Binance USDⓈ-M's rules, one-way position mode).
//!
//! * wallet balance = the account currency's cash: starting cash + realised
//!   PnL − fees − funding paid;
//! * equity (margin balance) = wallet + Σ unrealised PnL at mark price;
//! * initial margin of a position = |qty| × mark / leverage; an isolated
//!   position's is its own wallet (margin put in at entry, less the funding it
//!   paid);
//! * available balance = wallet − Σ isolated wallets + Σ cross unrealised PnL
//!   − Σ cross initial margin; a fill that adds exposure must leave it ≥ 0;
//! * maintenance margin = notional at mark × MMR − cum of the bracket.

use rust_decimal::Decimal;
use serde::Serialize;

use crate::instrument::{InstrumentId, MarginMode, PerpTerms};
use crate::order::{ClientOrderId, Fill, Liquidity, Side};
use crate::perp::{isolated_liquidation_price, maintenance_margin, Bracket};
use crate::portfolio::{Portfolio, PortfolioError, Position};
use crate::time::Timestamp;

/// What a liquidation did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Liquidation {
    /// The perpetual.
    pub instrument: InstrumentId,
    /// When.
    pub ts: Timestamp,
    /// The closing fill (side, quantity, price, clearance fee).
    pub fill: Fill,
    /// PnL realised by the close, before the fee.
    pub realised_pnl: Decimal,
    /// The loss beyond the position's margin (isolated) or the wallet
    /// (cross) that the exchange's insurance fund absorbs — never charged.
    pub insurance: Decimal,
}

impl Portfolio {
    /// The perpetual terms of an instrument, if it is one.
    pub fn perp_terms(&self, instrument: InstrumentId) -> Option<&PerpTerms> {
        self.perp.get(instrument.index()).and_then(Option::as_ref)
    }

    /// Whether any instrument is a perpetual.
    #[inline]
    pub fn has_perpetuals(&self) -> bool {
        self.any_perp
    }

    /// Net funding paid so far (negative: received).
    pub fn funding_paid(&self) -> Decimal {
        self.funding_paid
    }

    /// Losses beyond margin absorbed by liquidations (the insurance fund's).
    pub fn insurance_absorbed(&self) -> Decimal {
        self.insurance
    }

    /// Sets a perpetual's mark price from a mark-price feed; from then on its
    /// last prices no longer mark it.
    pub fn mark_price(
        &mut self,
        instrument: InstrumentId,
        price: Decimal,
    ) -> Result<(), PortfolioError> {
        let flag = self
            .mark_fed
            .get_mut(instrument.index())
            .ok_or(PortfolioError::UnknownInstrument(instrument))?;
        *flag = true;
        self.set_mark(instrument, price)
    }

    /// Whether a mark-price feed marks this instrument (its last prices no
    /// longer do).
    pub fn is_mark_fed(&self, instrument: InstrumentId) -> bool {
        self.mark_fed.get(instrument.index()) == Some(&true)
    }

    /// The position's initial margin: its isolated wallet, or |qty| × mark /
    /// leverage for cross (zero for spot and flat positions).
    pub fn initial_margin(&self, instrument: InstrumentId) -> Decimal {
        let (Some(t), p) = (self.perp_terms(instrument), self.position(instrument)) else {
            return Decimal::ZERO;
        };
        match t.margin {
            MarginMode::Isolated => p.isolated_margin,
            MarginMode::Cross => notional(p).abs() / t.leverage,
        }
    }

    /// The position's maintenance margin at its mark price.
    pub fn maintenance_margin(&self, instrument: InstrumentId) -> Decimal {
        match self.perp_terms(instrument) {
            Some(t) => {
                let n = notional(self.position(instrument));
                if n.is_zero() {
                    Decimal::ZERO
                } else {
                    maintenance_margin(n.abs(), t.brackets.for_notional(n))
                }
            }
            None => Decimal::ZERO,
        }
    }

    /// Wallet balance minus isolated wallets plus cross unrealised PnL minus
    /// cross initial margin: what new positions can draw on.
    pub fn available_balance(&self) -> Decimal {
        let mut available = self.account_cash();
        for (i, p) in self.positions.iter().enumerate() {
            let Some(t) = &self.perp[i] else { continue };
            match t.margin {
                MarginMode::Isolated => available -= p.isolated_margin,
                MarginMode::Cross => {
                    available += p.unrealised_pnl() - notional(p).abs() / t.leverage;
                }
            }
        }
        available
    }

    /// The cross account's margin balance and maintenance margin: wallet less
    /// isolated wallets plus cross unrealised PnL, and Σ cross maintenance.
    pub fn cross_margin(&self) -> (Decimal, Decimal) {
        let mut balance = self.account_cash();
        let mut maintenance = Decimal::ZERO;
        for (i, p) in self.positions.iter().enumerate() {
            let Some(t) = &self.perp[i] else { continue };
            match t.margin {
                MarginMode::Isolated => balance -= p.isolated_margin,
                MarginMode::Cross => {
                    balance += p.unrealised_pnl();
                    maintenance += self.maintenance_margin(InstrumentId(i as u32));
                }
            }
        }
        (balance, maintenance)
    }

    /// The mark price at which the position would be liquidated: the
    /// published isolated formula, with the isolated wallet for an isolated
    /// position and, for a cross one, the cross balance less the other cross
    /// positions' maintenance (their marks held). `None` when flat, spot, or
    /// not liquidatable at a positive price.
    pub fn liquidation_price(&self, instrument: InstrumentId) -> Option<Decimal> {
        let t = self.perp_terms(instrument)?;
        let p = self.position(instrument);
        if p.qty.is_zero() {
            return None;
        }
        let bracket = t.brackets.for_notional(notional(p));
        let wallet = match t.margin {
            MarginMode::Isolated => p.isolated_margin,
            MarginMode::Cross => {
                let (balance, maintenance) = self.cross_margin();
                balance - p.unrealised_pnl() - maintenance + self.maintenance_margin(instrument)
            }
        };
        isolated_liquidation_price(p.qty, p.avg_price, wallet, bracket)
    }

    /// Whether a bar of marks (`open`, and `adverse`: the low for a long,
    /// the high for a short) liquidates the position, and at what price: the
    /// liquidation price, or the open when the bar gapped through it.
    pub fn liquidation_trigger(
        &self,
        instrument: InstrumentId,
        open: Decimal,
        adverse: Decimal,
    ) -> Option<Decimal> {
        let lp = self.liquidation_price(instrument)?;
        let long = self.position(instrument).qty > Decimal::ZERO;
        let (hit, gapped) = if long {
            (adverse <= lp, open <= lp)
        } else {
            (adverse >= lp, open >= lp)
        };
        hit.then_some(if gapped { open } else { lp })
    }

    /// Charges (or pays) funding on an open perpetual position at its mark:
    /// `qty × mark × rate` leaves the wallet (and an isolated position's
    /// margin). Returns the payment (negative: received); `None` when the
    /// position is flat, unmarked or not a perpetual.
    pub fn apply_funding(&mut self, instrument: InstrumentId, rate: Decimal) -> Option<Decimal> {
        let isolated = self.perp_terms(instrument)?.margin == MarginMode::Isolated;
        let account = self.account.index();
        let p = self.positions.get_mut(instrument.index())?;
        if p.qty.is_zero() {
            return None;
        }
        let payment = crate::perp::funding_payment(p.qty, p.mark?, rate);
        p.funding += payment;
        if isolated {
            p.isolated_margin -= payment;
        }
        self.cash[account] -= payment;
        self.funding_paid += payment;
        Some(payment)
    }

    /// Books a funding `payment` a venue reported (a live exchange's funding
    /// income, negated: > 0 paid, < 0 received) on `instrument`'s position,
    /// whatever its size now: the exchange charged it at its funding time.
    /// `None` when `instrument` is not a perpetual.
    pub fn charge_funding(&mut self, instrument: InstrumentId, payment: Decimal) -> Option<()> {
        let isolated = self.perp_terms(instrument)?.margin == MarginMode::Isolated;
        let account = self.account.index();
        let p = self.positions.get_mut(instrument.index())?;
        p.funding += payment;
        if isolated && !p.qty.is_zero() {
            p.isolated_margin -= payment;
        }
        self.cash[account] -= payment;
        self.funding_paid += payment;
        Some(())
    }

    /// Closes a perpetual position by liquidation at `price`, with a
    /// clearance fee of `fee_rate` × notional. An isolated position loses at
    /// most its margin and a cross account at most its wallet; the rest is
    /// recorded as `insurance`, never charged.
    pub fn liquidate(
        &mut self,
        instrument: InstrumentId,
        price: Decimal,
        fee_rate: Decimal,
        ts: Timestamp,
    ) -> Result<Option<Liquidation>, PortfolioError> {
        let Some(t) = self.perp_terms(instrument) else {
            return Ok(None);
        };
        let isolated = t.margin == MarginMode::Isolated;
        let p = self.position(instrument);
        if p.qty.is_zero() {
            return Ok(None);
        }
        let qty = p.qty.abs();
        let realised = p.qty * (price - p.avg_price);
        // What the position can lose: its margin, or (cross) the cross wallet.
        let cover = if isolated {
            p.isolated_margin
        } else {
            self.cross_margin().0 - p.unrealised_pnl()
        };
        let full_fee = qty * price * fee_rate;
        let fee = full_fee.min((cover + realised).max(Decimal::ZERO));
        let insurance = (-(cover + realised)).max(Decimal::ZERO);
        let fill = Fill {
            order_id: ClientOrderId(0),
            instrument,
            side: if p.qty > Decimal::ZERO {
                Side::Sell
            } else {
                Side::Buy
            },
            price,
            qty,
            fee,
            fee_asset: self.quote_of[instrument.index()],
            liquidity: Liquidity::Taker,
            ts,
        };
        self.apply_perp(&fill, false)?;
        let account = self.account.index();
        self.cash[account] += insurance;
        self.insurance += insurance;
        Ok(Some(Liquidation {
            instrument,
            ts,
            fill,
            realised_pnl: realised,
            insurance,
        }))
    }

    /// Books a perpetual fill: only realised PnL and the fee move the wallet.
    pub(crate) fn apply_perp(
        &mut self,
        fill: &Fill,
        strict: bool,
    ) -> Result<&Position, PortfolioError> {
        let idx = fill.instrument.index();
        let terms = self.perp[idx].clone().expect("called for perpetuals");
        let pos = &self.positions[idx];
        let signed = fill.side.sign() * fill.qty;
        let old_qty = pos.qty;
        let new_qty = old_qty + signed;
        let old_mark = pos.mark.unwrap_or(pos.avg_price);
        let old_value = old_qty * (old_mark - pos.avg_price);
        let adding = old_qty.is_zero() || old_qty.is_sign_positive() == signed.is_sign_positive();
        let closing = if adding {
            Decimal::ZERO
        } else {
            fill.qty.min(old_qty.abs())
        };
        let (new_avg, realised) = if adding {
            let cost = old_qty.abs() * pos.avg_price + fill.qty * fill.price;
            // Entry to 10 decimals keeps every product exact in 28 digits.
            ((cost / new_qty.abs()).round_dp(10), Decimal::ZERO)
        } else {
            let realised = (fill.price - pos.avg_price) * closing * sign_of(old_qty);
            let avg = if new_qty.is_zero() {
                Decimal::ZERO
            } else if new_qty.is_sign_positive() != old_qty.is_sign_positive() {
                fill.price
            } else {
                pos.avg_price
            };
            (avg, realised)
        };
        let opened = fill.qty - closing;
        let new_mark = if self.mark_fed[idx] {
            pos.mark.unwrap_or(fill.price)
        } else {
            fill.price
        };
        let new_iso = match terms.margin {
            MarginMode::Cross => Decimal::ZERO,
            MarginMode::Isolated => {
                let released = if old_qty.is_zero() {
                    Decimal::ZERO
                } else {
                    pos.isolated_margin * closing / old_qty.abs()
                };
                let kept = if new_qty.is_zero() {
                    Decimal::ZERO
                } else {
                    pos.isolated_margin - released
                };
                (kept + opened * fill.price / terms.leverage).round_dp(10)
            }
        };
        if strict && opened > Decimal::ZERO {
            self.check_cap(&terms, new_qty.abs() * new_mark)?;
        }
        let new_value = new_qty * (new_mark - new_avg);
        let cash_delta = realised - fill.fee;
        let before = self.positions[idx].clone();
        {
            let pos = &mut self.positions[idx];
            pos.qty = new_qty;
            pos.avg_price = new_avg;
            pos.mark = Some(new_mark);
            pos.realised_pnl += realised;
            pos.fees += fill.fee;
            pos.isolated_margin = new_iso;
        }
        let account = self.account.index();
        self.cash[account] += cash_delta;
        self.position_value += new_value - old_value;
        if strict && opened > Decimal::ZERO {
            let available = self.available_balance();
            if available < Decimal::ZERO {
                self.positions[idx] = before;
                self.cash[account] -= cash_delta;
                self.position_value -= new_value - old_value;
                return Err(PortfolioError::InsufficientMargin { needed: -available });
            }
        }
        match (old_qty.is_zero(), new_qty.is_zero()) {
            (true, false) => self.open_count += 1,
            (false, true) => self.open_count -= 1,
            _ => {}
        }
        self.fees_paid += fill.fee;
        self.realised_pnl += realised;
        Ok(&self.positions[idx])
    }

    /// A position of `notional` must fit the brackets at the leverage used.
    fn check_cap(&self, terms: &PerpTerms, notional: Decimal) -> Result<(), PortfolioError> {
        let max = terms.brackets.max_notional();
        if notional > max {
            return Err(PortfolioError::LeverageCap(format!(
                "notional {notional} is beyond the largest bracket ({max})"
            )));
        }
        let bracket: &Bracket = terms.brackets.for_notional(notional);
        if terms.leverage > bracket.max_leverage {
            return Err(PortfolioError::LeverageCap(format!(
                "leverage {} is above {} allowed for a notional of {notional}",
                terms.leverage, bracket.max_leverage
            )));
        }
        Ok(())
    }
}

/// Signed notional at mark (entry when unmarked).
fn notional(p: &Position) -> Decimal {
    p.qty * p.mark.unwrap_or(p.avg_price)
}

fn sign_of(q: Decimal) -> Decimal {
    if q.is_sign_negative() {
        Decimal::NEGATIVE_ONE
    } else {
        Decimal::ONE
    }
}
