//! Linear perpetual margin arithmetic (Binance USDⓈ-M's published rules):
//! leverage brackets, maintenance margin, and the isolated-margin liquidation
//! price of a one-way position. Pure `Decimal` functions; the accounting that
//! uses them comes with the perpetual instruments.
//!
//! * maintenance margin = notional × MMR − cum, with the MMR and maintenance
//!   amount (`cum`) of the bracket the notional falls in;
//! * isolated liquidation price, one position, one-way mode:
//!   `LP = (WB + cum − side × qty × EP) / (qty × MMR − side × qty)`, where WB is
//!   the position's isolated wallet balance, side +1 long / −1 short, qty > 0
//!   and EP the entry price. At that mark price the position's margin balance
//!   (WB + unrealised PnL) equals its maintenance margin.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One leverage bracket: up to `notional_cap`, at most `max_leverage`, with
/// maintenance margin ratio `mmr` and maintenance amount `cum`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bracket {
    /// The largest position notional (quote currency) in this bracket.
    pub notional_cap: Decimal,
    /// The largest leverage allowed in it.
    pub max_leverage: Decimal,
    /// Maintenance margin ratio, e.g. 0.004.
    pub mmr: Decimal,
    /// Maintenance amount (Binance's `cum`), quote currency.
    pub cum: Decimal,
}

/// A symbol's brackets, by increasing notional cap.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Brackets(Vec<Bracket>);

/// Why brackets are not usable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BracketError {
    /// None given.
    #[error("no leverage brackets")]
    Empty,
    /// A value out of range or caps not increasing.
    #[error("bracket {index}: {reason}")]
    Invalid {
        /// The bracket (0-based).
        index: usize,
        /// What is wrong.
        reason: String,
    },
}

impl Brackets {
    /// Checks and orders brackets: caps increasing, leverage ≥ 1 and not
    /// increasing, MMR within (0, 1) and not decreasing, `cum` ≥ 0 and equal
    /// to what keeps the maintenance margin continuous at each cap (Binance's
    /// definition), to 1e-8.
    pub fn new(mut list: Vec<Bracket>) -> Result<Brackets, BracketError> {
        if list.is_empty() {
            return Err(BracketError::Empty);
        }
        list.sort_by_key(|b| b.notional_cap);
        let bad = |index, reason: String| Err(BracketError::Invalid { index, reason });
        for (i, b) in list.iter().enumerate() {
            if b.notional_cap <= Decimal::ZERO {
                return bad(
                    i,
                    format!("notional_cap {} must be positive", b.notional_cap),
                );
            }
            if b.max_leverage < Decimal::ONE {
                return bad(
                    i,
                    format!("max_leverage {} must be at least 1", b.max_leverage),
                );
            }
            if b.mmr <= Decimal::ZERO || b.mmr >= Decimal::ONE {
                return bad(i, format!("mmr {} must be within (0, 1)", b.mmr));
            }
            if b.cum < Decimal::ZERO {
                return bad(i, format!("cum {} must not be negative", b.cum));
            }
            let Some(prev) = i.checked_sub(1).map(|p| list[p]) else {
                continue;
            };
            if b.notional_cap == prev.notional_cap {
                return bad(i, format!("two brackets end at {}", b.notional_cap));
            }
            if b.mmr < prev.mmr || b.max_leverage > prev.max_leverage {
                return bad(
                    i,
                    "a larger bracket cannot have a lower mmr or a higher leverage".into(),
                );
            }
            let continuous = prev.cum + prev.notional_cap * (b.mmr - prev.mmr);
            if (continuous - b.cum).abs() > Decimal::new(1, 8) {
                return bad(
                    i,
                    format!(
                        "cum {} should be {continuous} (maintenance continuous at {})",
                        b.cum, prev.notional_cap
                    ),
                );
            }
        }
        Ok(Brackets(list))
    }

    /// The bracket a position of `notional` falls in (the last one beyond
    /// every cap; the caller refuses such a size).
    pub fn for_notional(&self, notional: Decimal) -> &Bracket {
        let n = notional.abs();
        self.0
            .iter()
            .find(|b| n <= b.notional_cap)
            .unwrap_or_else(|| self.0.last().expect("brackets are never empty"))
    }

    /// The brackets, by increasing cap.
    pub fn all(&self) -> &[Bracket] {
        &self.0
    }

    /// The largest notional any bracket allows.
    pub fn max_notional(&self) -> Decimal {
        self.0.last().map_or(Decimal::ZERO, |b| b.notional_cap)
    }
}

/// A funding rate applied at `ts` to the positions open at that instant:
/// a position pays `qty × mark × rate` (a positive rate: longs pay shorts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FundingRate {
    /// The perpetual.
    pub instrument: crate::InstrumentId,
    /// The funding time.
    pub ts: crate::Timestamp,
    /// The rate, e.g. 0.0001 (0.01 %).
    pub rate: Decimal,
}

/// What a position of signed `qty` pays at funding (`mark` × `rate`); negative:
/// it receives.
pub fn funding_payment(qty: Decimal, mark: Decimal, rate: Decimal) -> Decimal {
    qty * mark * rate
}

/// Maintenance margin of a position of `notional` (quote currency) in `bracket`.
pub fn maintenance_margin(notional: Decimal, bracket: &Bracket) -> Decimal {
    (notional.abs() * bracket.mmr - bracket.cum).max(Decimal::ZERO)
}

/// The isolated-margin liquidation price of a one-way position of signed
/// quantity `qty` (negative: short) entered at `entry`, with isolated wallet
/// balance `wallet`, in `bracket`. `None` when it cannot be liquidated at a
/// positive price (a long whose margin covers its whole notional) or is flat.
pub fn isolated_liquidation_price(
    qty: Decimal,
    entry: Decimal,
    wallet: Decimal,
    bracket: &Bracket,
) -> Option<Decimal> {
    if qty.is_zero() {
        return None;
    }
    let side = if qty > Decimal::ZERO {
        Decimal::ONE
    } else {
        Decimal::NEGATIVE_ONE
    };
    let q = qty.abs();
    let denominator = q * bracket.mmr - side * q;
    if denominator.is_zero() {
        return None;
    }
    let lp = (wallet + bracket.cum - side * q * entry).checked_div(denominator)?;
    (lp > Decimal::ZERO).then_some(lp)
}

/// A position's margin balance at mark price `mark`: its wallet plus its
/// unrealised PnL.
pub fn margin_balance(qty: Decimal, entry: Decimal, wallet: Decimal, mark: Decimal) -> Decimal {
    wallet + qty * (mark - entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn bracket(mmr: Decimal, cum: Decimal) -> Bracket {
        Bracket {
            notional_cap: dec!(1_000_000),
            max_leverage: dec!(50),
            mmr,
            cum,
        }
    }

    #[test]
    fn the_reference_example_long_10x() {
        // Long at 40,000, 10× (WB = qty × 4,000), MMR 0.4 %, cum 0 → 36,144.578…
        let qty = dec!(0.25);
        let lp = isolated_liquidation_price(
            qty,
            dec!(40000),
            qty * dec!(4000),
            &bracket(dec!(0.004), dec!(0)),
        )
        .unwrap();
        assert!((lp - dec!(36144.57831325)).abs() < dec!(0.00000001), "{lp}");
        // There the margin balance is exactly the maintenance margin.
        let mb = margin_balance(qty, dec!(40000), qty * dec!(4000), lp);
        let mm = maintenance_margin(qty * lp, &bracket(dec!(0.004), dec!(0)));
        assert!((mb - mm).abs() < dec!(0.00000001), "{mb} vs {mm}");
    }

    #[test]
    fn a_short_is_liquidated_above_its_entry_and_a_fully_margined_long_never() {
        let b = bracket(dec!(0.004), dec!(0));
        let lp = isolated_liquidation_price(dec!(-1), dec!(40000), dec!(4000), &b).unwrap();
        // (4000 + 40000) / (0.004 + 1)
        assert!((lp - dec!(43824.70119522)).abs() < dec!(0.00000001), "{lp}");
        assert_eq!(
            isolated_liquidation_price(dec!(1), dec!(40000), dec!(40000), &b),
            None
        );
        assert_eq!(
            isolated_liquidation_price(dec!(0), dec!(40000), dec!(1), &b),
            None
        );
    }

    #[test]
    fn a_positive_rate_makes_longs_pay_and_shorts_receive() {
        assert_eq!(funding_payment(dec!(2), dec!(40000), dec!(0.0001)), dec!(8));
        assert_eq!(
            funding_payment(dec!(-2), dec!(40000), dec!(0.0001)),
            dec!(-8)
        );
        assert_eq!(
            funding_payment(dec!(2), dec!(40000), dec!(-0.0001)),
            dec!(-8)
        );
    }

    #[test]
    fn brackets_must_be_ordered_and_continuous() {
        let b = |cap: i64, lev: i64, mmr: Decimal, cum: Decimal| Bracket {
            notional_cap: cap.into(),
            max_leverage: lev.into(),
            mmr,
            cum,
        };
        // Binance-style: cum₂ = cum₁ + cap₁ × (mmr₂ − mmr₁).
        let ok = Brackets::new(vec![
            b(250_000, 50, dec!(0.02), dec!(800)),
            b(50_000, 125, dec!(0.004), dec!(0)),
        ])
        .unwrap();
        assert_eq!(ok.for_notional(dec!(49_999)).max_leverage, dec!(125));
        assert_eq!(ok.for_notional(dec!(-60_000)).mmr, dec!(0.02));
        assert_eq!(ok.max_notional(), dec!(250_000));
        let e = Brackets::new(vec![
            b(50_000, 125, dec!(0.004), dec!(0)),
            b(250_000, 50, dec!(0.02), dec!(900)),
        ])
        .unwrap_err();
        assert!(
            e.to_string().contains("should be 800") || e.to_string().contains("should be 800.000"),
            "{e}"
        );
        assert_eq!(Brackets::new(vec![]), Err(BracketError::Empty));
        assert!(Brackets::new(vec![b(1, 0, dec!(0.01), dec!(0))]).is_err());
    }

    proptest! {
        /// At the liquidation price, margin balance = maintenance margin, long
        /// or short, any leverage and MMR.
        #[test]
        fn at_the_liquidation_price_margin_equals_maintenance(
            qty_m in 1i64..1_000_000,
            short in any::<bool>(),
            entry_c in 100i64..10_000_000,
            leverage in 2i64..=125,
            mmr_bp in 1i64..100,
            cum_c in 0i64..100_000,
        ) {
            let qty = Decimal::new(qty_m, 4) * if short { Decimal::NEGATIVE_ONE } else { Decimal::ONE };
            let entry = Decimal::new(entry_c, 2);
            let wallet = qty.abs() * entry / Decimal::from(leverage);
            let b = bracket(Decimal::new(mmr_bp, 4), Decimal::new(cum_c, 2));
            if let Some(lp) = isolated_liquidation_price(qty, entry, wallet, &b) {
                let mb = margin_balance(qty, entry, wallet, lp);
                let mm = qty.abs() * lp * b.mmr - b.cum;
                prop_assert!((mb - mm).abs() <= Decimal::new(1, 8) * (Decimal::ONE + mm.abs()), "{mb} vs {mm}");
                // A position with more margin than maintenance at entry is
                // liquidated on the adverse side: a long below, a short above.
                let healthy = wallet > qty.abs() * entry * b.mmr - b.cum;
                let beyond_entry = if short { lp > entry } else { lp < entry };
                prop_assert!(!healthy || beyond_entry, "lp {} entry {}", lp, entry);
            }
        }
    }
}
