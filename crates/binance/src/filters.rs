//! Symbol filters from `exchangeInfo`, applied before an order is sent: prices
//! rounded to the tick, quantities to the step, bounds and notional checked — so
//! the exchange never has to reject an order for a filter we could have checked.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value;
use vigil_core::Side;

/// The trading rules of one symbol. A zero bound is disabled (as on the exchange).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SymbolFilters {
    /// The symbol, e.g. `BTCUSDT`.
    pub symbol: String,
    /// Base asset.
    pub base_asset: String,
    /// Quote asset.
    pub quote_asset: String,
    /// PRICE_FILTER minPrice.
    pub min_price: Decimal,
    /// PRICE_FILTER maxPrice.
    pub max_price: Decimal,
    /// PRICE_FILTER tickSize.
    pub tick_size: Decimal,
    /// LOT_SIZE minQty.
    pub min_qty: Decimal,
    /// LOT_SIZE maxQty.
    pub max_qty: Decimal,
    /// LOT_SIZE stepSize.
    pub step_size: Decimal,
    /// MIN_NOTIONAL / NOTIONAL minNotional.
    pub min_notional: Decimal,
    /// Whether the minimum notional applies to market orders.
    pub min_notional_market: bool,
    /// NOTIONAL maxNotional.
    pub max_notional: Decimal,
    /// Whether the maximum notional applies to market orders.
    pub max_notional_market: bool,
}

/// Why an order cannot pass the filters (the exchange's filter names).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// Quantity outside LOT_SIZE after rounding down to the step.
    #[error("LOT_SIZE: quantity {qty} outside [{min}, {max}] (step {step})")]
    LotSize {
        /// Rounded quantity.
        qty: Decimal,
        /// minQty.
        min: Decimal,
        /// maxQty (0 = none).
        max: Decimal,
        /// stepSize.
        step: Decimal,
    },
    /// Price outside PRICE_FILTER after rounding to the tick.
    #[error("PRICE_FILTER: price {price} outside [{min}, {max}] (tick {tick})")]
    Price {
        /// Rounded price.
        price: Decimal,
        /// minPrice.
        min: Decimal,
        /// maxPrice (0 = none).
        max: Decimal,
        /// tickSize.
        tick: Decimal,
    },
    /// Notional below the minimum.
    #[error("NOTIONAL: {notional} below the minimum {min}")]
    MinNotional {
        /// price × quantity.
        notional: Decimal,
        /// The minimum.
        min: Decimal,
    },
    /// Notional above the maximum.
    #[error("NOTIONAL: {notional} above the maximum {max}")]
    MaxNotional {
        /// price × quantity.
        notional: Decimal,
        /// The maximum.
        max: Decimal,
    },
}

/// `value` rounded down to a multiple of `step` (unchanged when `step` is 0).
pub fn floor_to(value: Decimal, step: Decimal) -> Decimal {
    if step.is_zero() {
        return value;
    }
    ((value / step).floor() * step).normalize()
}

/// `value` rounded up to a multiple of `step` (unchanged when `step` is 0).
pub fn ceil_to(value: Decimal, step: Decimal) -> Decimal {
    if step.is_zero() {
        return value;
    }
    ((value / step).ceil() * step).normalize()
}

fn dec(v: &Value, key: &str) -> Decimal {
    v.get(key)
        .and_then(Value::as_str)
        .and_then(|s| Decimal::from_str(s).ok())
        .unwrap_or_default()
}

impl SymbolFilters {
    /// Parses one entry of `exchangeInfo.symbols[]`.
    pub fn from_exchange_info(symbol: &Value) -> Option<SymbolFilters> {
        let mut f = SymbolFilters {
            symbol: symbol.get("symbol")?.as_str()?.to_string(),
            base_asset: symbol.get("baseAsset")?.as_str()?.to_string(),
            quote_asset: symbol.get("quoteAsset")?.as_str()?.to_string(),
            min_notional_market: true,
            ..SymbolFilters::default()
        };
        for filter in symbol.get("filters")?.as_array()? {
            match filter.get("filterType").and_then(Value::as_str) {
                Some("PRICE_FILTER") => {
                    f.min_price = dec(filter, "minPrice");
                    f.max_price = dec(filter, "maxPrice");
                    f.tick_size = dec(filter, "tickSize");
                }
                Some("LOT_SIZE") => {
                    f.min_qty = dec(filter, "minQty");
                    f.max_qty = dec(filter, "maxQty");
                    f.step_size = dec(filter, "stepSize");
                }
                Some("MIN_NOTIONAL") => {
                    // Spot: `minNotional`; USDⓈ-M futures: `notional`.
                    f.min_notional = dec(filter, "minNotional").max(dec(filter, "notional"));
                    f.min_notional_market = filter
                        .get("applyToMarket")
                        .and_then(Value::as_bool)
                        .unwrap_or(true);
                }
                Some("NOTIONAL") => {
                    f.min_notional = dec(filter, "minNotional");
                    f.min_notional_market = filter
                        .get("applyMinToMarket")
                        .and_then(Value::as_bool)
                        .unwrap_or(true);
                    f.max_notional = dec(filter, "maxNotional");
                    f.max_notional_market = filter
                        .get("applyMaxToMarket")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                }
                _ => {}
            }
        }
        Some(f)
    }

    /// Rounds a limit price to the tick, away from crossing: buys down, sells up
    /// (never more aggressive than asked).
    pub fn round_price(&self, side: Side, price: Decimal) -> Decimal {
        match side {
            Side::Buy => floor_to(price, self.tick_size),
            Side::Sell => ceil_to(price, self.tick_size),
        }
    }

    /// Rounds a quantity down to the step (never more than asked).
    pub fn round_qty(&self, qty: Decimal) -> Decimal {
        floor_to(qty, self.step_size)
    }

    /// Rounds and checks an order. `price` is the limit price, or for a market
    /// order the reference price used for the notional checks. Returns the
    /// quantity and (for limits) the price to send.
    pub fn prepare(
        &self,
        side: Side,
        qty: Decimal,
        price: Decimal,
        market: bool,
    ) -> Result<(Decimal, Decimal), FilterError> {
        let qty = self.round_qty(qty);
        let price = if market {
            price
        } else {
            self.round_price(side, price)
        };
        if qty <= Decimal::ZERO
            || qty < self.min_qty
            || (!self.max_qty.is_zero() && qty > self.max_qty)
        {
            return Err(FilterError::LotSize {
                qty,
                min: self.min_qty,
                max: self.max_qty,
                step: self.step_size,
            });
        }
        if !market
            && (price <= Decimal::ZERO
                || price < self.min_price
                || (!self.max_price.is_zero() && price > self.max_price))
        {
            return Err(FilterError::Price {
                price,
                min: self.min_price,
                max: self.max_price,
                tick: self.tick_size,
            });
        }
        let notional = qty * price;
        if (!market || self.min_notional_market) && notional < self.min_notional {
            return Err(FilterError::MinNotional {
                notional,
                min: self.min_notional,
            });
        }
        if (!market || self.max_notional_market)
            && !self.max_notional.is_zero()
            && notional > self.max_notional
        {
            return Err(FilterError::MaxNotional {
                notional,
                max: self.max_notional,
            });
        }
        Ok((qty, price))
    }

    /// Whether a value is an exact multiple of `step` (the exchange's own check).
    pub fn is_multiple(value: Decimal, step: Decimal) -> bool {
        step.is_zero() || (value % step).is_zero()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn btcusdt() -> SymbolFilters {
        let info = serde_json::json!({
            "symbol": "BTCUSDT", "baseAsset": "BTC", "quoteAsset": "USDT",
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000", "tickSize": "0.01000000"},
                {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000", "stepSize": "0.00001000"},
                {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": true, "maxNotional": "9000000.00000000", "applyMaxToMarket": false, "avgPriceMins": 5}
            ]
        });
        SymbolFilters::from_exchange_info(&info).unwrap()
    }

    #[test]
    fn parses_exchange_info() {
        let f = btcusdt();
        assert_eq!(f.tick_size, dec!(0.01));
        assert_eq!(f.step_size, dec!(0.00001));
        assert_eq!(f.min_notional, dec!(5));
        assert!(f.min_notional_market && !f.max_notional_market);
    }

    #[test]
    fn rounds_never_more_aggressive() {
        let f = btcusdt();
        assert_eq!(
            f.prepare(Side::Buy, dec!(0.123456789), dec!(30000.129), false),
            Ok((dec!(0.12345), dec!(30000.12)))
        );
        assert_eq!(
            f.prepare(Side::Sell, dec!(0.123456789), dec!(30000.121), false),
            Ok((dec!(0.12345), dec!(30000.13)))
        );
        assert!(matches!(
            f.prepare(Side::Buy, dec!(0.000009), dec!(30000), false),
            Err(FilterError::LotSize { .. })
        ));
        assert!(matches!(
            f.prepare(Side::Buy, dec!(0.0001), dec!(30000), false),
            Err(FilterError::MinNotional { .. })
        ));
        assert!(matches!(
            f.prepare(Side::Buy, dec!(0.001), dec!(0.001), false),
            Err(FilterError::Price { .. })
        ));
    }

    proptest! {
        /// Whatever comes in, what passes is on the grid, within bounds and no
        /// bigger or more aggressive than asked.
        #[test]
        fn prepared_orders_always_pass_the_exchange_checks(
            qty in 1u64..10_000_000_000u64, price in 1u64..100_000_000u64, buy: bool,
        ) {
            let f = btcusdt();
            let (qty, price) = (Decimal::new(qty as i64, 8), Decimal::new(price as i64, 3));
            let side = if buy { Side::Buy } else { Side::Sell };
            if let Ok((q, p)) = f.prepare(side, qty, price, false) {
                prop_assert!(SymbolFilters::is_multiple(q, f.step_size));
                prop_assert!(SymbolFilters::is_multiple(p, f.tick_size));
                prop_assert!(q <= qty && q >= f.min_qty);
                prop_assert!(q * p >= f.min_notional);
                if buy { prop_assert!(p <= price) } else { prop_assert!(p >= price) }
            }
        }
    }
}
