//! Instruments, assets and the [`Universe`] that interns them to small ids.

use std::collections::HashMap;
use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::perp::{Bracket, Brackets};

/// A small integer naming an instrument inside one [`Universe`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct InstrumentId(pub u32);

impl InstrumentId {
    /// The id as a vector index.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// A small integer naming an asset (a currency or token: `BTC`, `USDT`) inside one
/// [`Universe`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AssetId(pub u32);

impl AssetId {
    /// The id as a vector index.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// What a user declares about an instrument: its symbol, the asset bought (base)
/// and the asset paid (quote), and the venue's trading filters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentSpec {
    /// The venue's symbol, e.g. `BTCUSDT`.
    pub symbol: String,
    /// The asset bought or sold, e.g. `BTC`.
    pub base: String,
    /// The asset prices are quoted in and paid with, e.g. `USDT`.
    pub quote: String,
    /// Smallest quantity increment; quantities are rounded down to it.
    /// Defaults to 0.00000001 (a satoshi).
    #[serde(default)]
    pub lot_size: Option<Decimal>,
    /// Smallest price increment, if the venue has one.
    #[serde(default)]
    pub tick_size: Option<Decimal>,
    /// Smallest order notional (price × quantity) in the quote asset.
    #[serde(default)]
    pub min_notional: Option<Decimal>,
    /// `spot` (the default) or `perpetual` (a linear, quote-margined contract
    /// with signed positions, leverage, funding and liquidation).
    #[serde(default)]
    pub kind: InstrumentKind,
    /// Perpetuals: the leverage positions are opened at (default 1).
    #[serde(default)]
    pub leverage: Option<Decimal>,
    /// Perpetuals: `cross` (the default) or `isolated` margin.
    #[serde(default)]
    pub margin: Option<MarginMode>,
    /// Perpetuals: the symbol's leverage brackets (default: one bracket,
    /// 125×, maintenance margin ratio 0.4 %, no cap — Binance's first BTCUSDT
    /// tier; give the symbol's own for large positions).
    #[serde(default)]
    pub brackets: Option<Vec<Bracket>>,
}

impl InstrumentSpec {
    /// A spot pair with default filters.
    pub fn spot(symbol: &str, base: &str, quote: &str) -> InstrumentSpec {
        InstrumentSpec {
            symbol: symbol.into(),
            base: base.into(),
            quote: quote.into(),
            lot_size: None,
            tick_size: None,
            min_notional: None,
            kind: InstrumentKind::Spot,
            leverage: None,
            margin: None,
            brackets: None,
        }
    }
}

/// What kind of contract an instrument is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InstrumentKind {
    /// A spot pair: buy with cash, never short.
    #[default]
    Spot,
    /// A linear perpetual, margined in its quote asset.
    Perpetual,
}

/// How a perpetual's positions are margined.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MarginMode {
    /// Every cross position draws on the whole wallet.
    #[default]
    Cross,
    /// Each position has its own margin and can lose at most that.
    Isolated,
}

/// A perpetual's trading terms: leverage, margin mode and brackets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PerpTerms {
    /// Leverage positions are opened at.
    pub leverage: Decimal,
    /// Cross or isolated.
    pub margin: MarginMode,
    /// Leverage brackets.
    pub brackets: Brackets,
}

/// The brackets used when a perpetual declares none.
pub fn default_brackets() -> Vec<Bracket> {
    vec![Bracket {
        notional_cap: Decimal::from(1_000_000_000_000i64),
        max_leverage: Decimal::from(125),
        mmr: Decimal::new(4, 3),
        cum: Decimal::ZERO,
    }]
}

/// An interned, tradable instrument (spot pair).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Instrument {
    /// Its id in the universe.
    pub id: InstrumentId,
    /// The venue's symbol, e.g. `BTCUSDT`.
    pub symbol: String,
    /// The asset bought or sold.
    pub base: AssetId,
    /// The asset prices are quoted in.
    pub quote: AssetId,
    /// Smallest quantity increment.
    pub lot_size: Decimal,
    /// Smallest price increment, if any.
    pub tick_size: Option<Decimal>,
    /// Smallest order notional, if any.
    pub min_notional: Option<Decimal>,
    /// A perpetual's terms (`None` for spot).
    pub perp: Option<PerpTerms>,
}

impl Instrument {
    /// Whether this is a perpetual contract.
    #[inline]
    pub fn is_perpetual(&self) -> bool {
        self.perp.is_some()
    }

    /// Rounds a quantity down (towards zero) to the lot size.
    pub fn round_qty_down(&self, qty: Decimal) -> Decimal {
        if self.lot_size.is_zero() {
            return qty;
        }
        ((qty / self.lot_size).trunc() * self.lot_size).normalize()
    }
}

/// The default lot size: 10^-8.
pub fn default_lot_size() -> Decimal {
    Decimal::new(1, 8)
}

/// An error building a [`Universe`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UniverseError {
    /// The same symbol was declared twice with different assets or filters.
    #[error("instrument `{0}` is declared twice with different definitions")]
    Conflict(String),
    /// A symbol, base or quote is empty.
    #[error("instrument `{0}`: symbol, base and quote must not be empty")]
    Empty(String),
    /// Base and quote are the same asset.
    #[error("instrument `{0}`: base and quote must differ")]
    SameAssets(String),
    /// Perpetual terms that are wrong or given to a spot pair.
    #[error("instrument `{symbol}`: {message}")]
    Perpetual {
        /// The instrument.
        symbol: String,
        /// What is wrong.
        message: String,
    },
    /// A filter value is zero or negative.
    #[error("instrument `{symbol}`: `{field}` must be positive, got {value}")]
    NonPositive {
        /// The instrument.
        symbol: String,
        /// The filter.
        field: &'static str,
        /// The value given.
        value: Decimal,
    },
}

/// The set of instruments and assets one run knows, interned to small ids.
#[derive(Clone, Debug, Default)]
pub struct Universe {
    instruments: Vec<Instrument>,
    by_symbol: HashMap<String, InstrumentId>,
    assets: Vec<String>,
    asset_ids: HashMap<String, AssetId>,
}

impl Universe {
    /// An empty universe.
    pub fn new() -> Universe {
        Universe::default()
    }

    /// Interns an asset symbol (idempotent).
    pub fn asset(&mut self, symbol: &str) -> AssetId {
        if let Some(id) = self.asset_ids.get(symbol) {
            return *id;
        }
        let id = AssetId(self.assets.len() as u32);
        self.assets.push(symbol.to_string());
        self.asset_ids.insert(symbol.to_string(), id);
        id
    }

    /// Looks up an asset id by symbol.
    pub fn asset_id(&self, symbol: &str) -> Option<AssetId> {
        self.asset_ids.get(symbol).copied()
    }

    /// The symbol of an asset.
    pub fn asset_symbol(&self, id: AssetId) -> &str {
        &self.assets[id.index()]
    }

    /// Number of interned assets.
    pub fn asset_count(&self) -> usize {
        self.assets.len()
    }

    /// Adds an instrument, or returns the id of an identical one already present.
    pub fn add(&mut self, spec: &InstrumentSpec) -> Result<InstrumentId, UniverseError> {
        if spec.symbol.is_empty() || spec.base.is_empty() || spec.quote.is_empty() {
            return Err(UniverseError::Empty(spec.symbol.clone()));
        }
        if spec.base == spec.quote {
            return Err(UniverseError::SameAssets(spec.symbol.clone()));
        }
        for (field, value) in [
            ("lot_size", spec.lot_size),
            ("tick_size", spec.tick_size),
            ("min_notional", spec.min_notional),
        ] {
            if let Some(v) = value {
                if v <= Decimal::ZERO {
                    return Err(UniverseError::NonPositive {
                        symbol: spec.symbol.clone(),
                        field,
                        value: v,
                    });
                }
            }
        }
        let perp = perp_terms(spec)?;
        let base = self.asset(&spec.base);
        let quote = self.asset(&spec.quote);
        let candidate = Instrument {
            id: InstrumentId(self.instruments.len() as u32),
            symbol: spec.symbol.clone(),
            base,
            quote,
            lot_size: spec.lot_size.unwrap_or_else(default_lot_size),
            tick_size: spec.tick_size,
            min_notional: spec.min_notional,
            perp,
        };
        if let Some(existing) = self.by_symbol.get(&spec.symbol) {
            let e = &self.instruments[existing.index()];
            let same = Instrument {
                id: e.id,
                ..candidate
            };
            return if &same == e {
                Ok(e.id)
            } else {
                Err(UniverseError::Conflict(spec.symbol.clone()))
            };
        }
        let id = candidate.id;
        self.by_symbol.insert(spec.symbol.clone(), id);
        self.instruments.push(candidate);
        Ok(id)
    }

    /// Looks up an instrument by symbol.
    pub fn id(&self, symbol: &str) -> Option<InstrumentId> {
        self.by_symbol.get(symbol).copied()
    }

    /// The instrument with this id. Panics if the id is not from this universe.
    pub fn get(&self, id: InstrumentId) -> &Instrument {
        &self.instruments[id.index()]
    }

    /// All instruments, in id order.
    pub fn instruments(&self) -> &[Instrument] {
        &self.instruments
    }

    /// Number of instruments.
    pub fn len(&self) -> usize {
        self.instruments.len()
    }

    /// Whether the universe has no instruments.
    pub fn is_empty(&self) -> bool {
        self.instruments.is_empty()
    }

    /// The instruments whose base asset is `asset`.
    pub fn instruments_with_base(&self, asset: AssetId) -> impl Iterator<Item = &Instrument> {
        self.instruments.iter().filter(move |i| i.base == asset)
    }
}

/// Checks a spec's perpetual fields: only on perpetuals, leverage within
/// 1 and the first bracket's maximum, brackets well formed.
fn perp_terms(spec: &InstrumentSpec) -> Result<Option<PerpTerms>, UniverseError> {
    let err = |message: String| UniverseError::Perpetual {
        symbol: spec.symbol.clone(),
        message,
    };
    if spec.kind == InstrumentKind::Spot {
        for (field, given) in [
            ("leverage", spec.leverage.is_some()),
            ("margin", spec.margin.is_some()),
            ("brackets", spec.brackets.is_some()),
        ] {
            if given {
                return Err(err(format!(
                    "`{field}` applies to perpetuals only; add `kind = \"perpetual\"`"
                )));
            }
        }
        return Ok(None);
    }
    let brackets = Brackets::new(spec.brackets.clone().unwrap_or_else(default_brackets))
        .map_err(|e| err(format!("`brackets`: {e}")))?;
    let leverage = spec.leverage.unwrap_or(Decimal::ONE);
    let max = brackets.all()[0].max_leverage;
    if leverage < Decimal::ONE || leverage > max {
        return Err(err(format!(
            "`leverage` {leverage} must be within 1 and {max} (the first bracket's maximum)"
        )));
    }
    Ok(Some(PerpTerms {
        leverage,
        margin: spec.margin.unwrap_or_default(),
        brackets,
    }))
}

impl fmt::Display for InstrumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn spec(s: &str, b: &str, q: &str) -> InstrumentSpec {
        InstrumentSpec {
            symbol: s.into(),
            base: b.into(),
            quote: q.into(),
            lot_size: None,
            tick_size: None,
            min_notional: None,
            kind: crate::instrument::InstrumentKind::Spot,
            leverage: None,
            margin: None,
            brackets: None,
        }
    }

    #[test]
    fn interns_and_dedups() {
        let mut u = Universe::new();
        let a = u.add(&spec("BTCUSDT", "BTC", "USDT")).unwrap();
        let b = u.add(&spec("ETHUSDT", "ETH", "USDT")).unwrap();
        assert_ne!(a, b);
        assert_eq!(u.add(&spec("BTCUSDT", "BTC", "USDT")).unwrap(), a);
        assert_eq!(u.asset_count(), 3);
        assert!(matches!(
            u.add(&spec("BTCUSDT", "BTC", "USDC")),
            Err(UniverseError::Conflict(_))
        ));
        assert!(u.add(&spec("X", "A", "A")).is_err());
    }

    #[test]
    fn rounds_quantity_down_to_lot() {
        let mut u = Universe::new();
        let mut s = spec("BTCUSDT", "BTC", "USDT");
        s.lot_size = Some(dec!(0.001));
        let id = u.add(&s).unwrap();
        assert_eq!(u.get(id).round_qty_down(dec!(1.23456)), dec!(1.234));
        assert_eq!(u.get(id).round_qty_down(dec!(0.0009)), dec!(0));
    }
}
