//! The [`Portfolio`]: per-asset cash, positions, marks, PnL, fees and equity.

use rust_decimal::Decimal;
use serde::Serialize;

use crate::instrument::{AssetId, InstrumentId, Universe};
use crate::num;
use crate::order::{Fill, Side};

/// A holding in one instrument.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Position {
    /// The instrument.
    pub instrument: InstrumentId,
    /// Signed base quantity (negative = short: perpetuals, or spot with
    /// `allow_short`).
    pub qty: Decimal,
    /// Average entry price of the open quantity (zero when flat).
    pub avg_price: Decimal,
    /// Latest mark price (last trade/close or fill), if any.
    pub mark: Option<Decimal>,
    /// PnL realised by reducing the position, before fees.
    pub realised_pnl: Decimal,
    /// Fees paid on this instrument.
    pub fees: Decimal,
    /// Perpetuals: net funding paid (negative: received).
    #[serde(skip_serializing_if = "Decimal::is_zero")]
    pub funding: Decimal,
    /// Isolated perpetuals: the position's own margin (its isolated wallet).
    #[serde(skip_serializing_if = "Decimal::is_zero")]
    pub isolated_margin: Decimal,
}

impl Position {
    fn flat(instrument: InstrumentId) -> Position {
        Position {
            instrument,
            qty: Decimal::ZERO,
            avg_price: Decimal::ZERO,
            mark: None,
            realised_pnl: Decimal::ZERO,
            fees: Decimal::ZERO,
            funding: Decimal::ZERO,
            isolated_margin: Decimal::ZERO,
        }
    }

    /// Whether there is no open quantity.
    pub fn is_flat(&self) -> bool {
        self.qty.is_zero()
    }

    /// Quantity × mark (zero without a mark or when flat).
    pub fn market_value(&self) -> Decimal {
        self.mark.map_or(Decimal::ZERO, |m| self.qty * m)
    }

    /// Quantity × (mark − average price).
    pub fn unrealised_pnl(&self) -> Decimal {
        match self.mark {
            Some(m) if !self.qty.is_zero() => self.qty * (m - self.avg_price),
            _ => Decimal::ZERO,
        }
    }
}

/// Something the portfolio refuses to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortfolioError {
    /// A buy would make cash negative and leverage is not enabled.
    #[error("insufficient {asset} cash: need {needed}, have {available}")]
    InsufficientCash {
        /// The cash asset's symbol.
        asset: String,
        /// Amount needed, fees included.
        needed: Decimal,
        /// Amount held.
        available: Decimal,
    },
    /// A sell larger than the position and shorting is not enabled.
    #[error("insufficient position in instrument {instrument}: sell {needed}, hold {available}")]
    InsufficientPosition {
        /// The instrument.
        instrument: InstrumentId,
        /// Quantity to sell.
        needed: Decimal,
        /// Quantity held.
        available: Decimal,
    },
    /// The fee is charged in an asset other than the instrument's quote asset.
    #[error("fees must be charged in the quote asset of instrument {0}")]
    FeeAsset(InstrumentId),
    /// An instrument is quoted in an asset other than the account currency.
    #[error("instrument `{symbol}` is quoted in {quote}, but the account currency is {account}; cross-currency accounting is not supported")]
    CrossCurrency {
        /// The instrument's symbol.
        symbol: String,
        /// Its quote asset.
        quote: String,
        /// The account currency.
        account: String,
    },
    /// Starting cash in an asset the portfolio cannot value.
    #[error("starting cash in {0} cannot be valued: only the account currency may hold cash")]
    UnvaluedCash(String),
    /// A negative starting balance.
    #[error("starting cash in {0} must not be negative")]
    NegativeCash(String),
    /// An instrument id not in this portfolio's universe.
    #[error("unknown instrument {0}")]
    UnknownInstrument(InstrumentId),
    /// A price, quantity or fee that is zero/negative where it must be positive.
    #[error("invalid fill: {0}")]
    InvalidFill(&'static str),
    /// A perpetual fill would need more margin than the account has free.
    #[error("insufficient margin: the position needs {needed} more than is available")]
    InsufficientMargin {
        /// How far available balance would fall below zero.
        needed: Decimal,
    },
    /// A perpetual position beyond what its leverage brackets allow.
    #[error("leverage cap: {0}")]
    LeverageCap(String),
    /// Arithmetic overflow (values beyond 7.9e28).
    #[error("arithmetic overflow in portfolio accounting")]
    Overflow,
}

/// Cash per asset, positions per instrument, and the derived equity, all exact.
///
/// Equity = cash in the account currency + Σ spot quantity × mark + Σ
/// perpetual unrealised PnL at mark (perpetual accounting: `margin.rs`). Every
/// instrument must be quoted in the account currency (checked at construction).
/// Spot rules by default: cash never goes negative and positions never go short.
#[derive(Clone, Debug, Serialize)]
pub struct Portfolio {
    pub(crate) account: AssetId,
    account_symbol: String,
    pub(crate) cash: Vec<Decimal>,
    pub(crate) positions: Vec<Position>,
    pub(crate) quote_of: Vec<AssetId>,
    pub(crate) position_value: Decimal,
    pub(crate) open_count: usize,
    pub(crate) fees_paid: Decimal,
    pub(crate) realised_pnl: Decimal,
    allow_leverage: bool,
    allow_short: bool,
    /// Per instrument: its perpetual terms (`None` for spot).
    pub(crate) perp: Vec<Option<crate::instrument::PerpTerms>>,
    /// Per instrument: marked by a mark-price feed rather than last prices.
    pub(crate) mark_fed: Vec<bool>,
    pub(crate) funding_paid: Decimal,
    pub(crate) insurance: Decimal,
    /// Whether any instrument is a perpetual (the engine's hot loop asks).
    pub(crate) any_perp: bool,
}

impl Portfolio {
    /// A portfolio over `universe` with `account` as the account currency and the
    /// given starting balances (in the account currency).
    pub fn new(
        universe: &Universe,
        account: AssetId,
        starting_cash: &[(AssetId, Decimal)],
    ) -> Result<Portfolio, PortfolioError> {
        let account_symbol = universe.asset_symbol(account).to_string();
        for inst in universe.instruments() {
            if inst.quote != account {
                return Err(PortfolioError::CrossCurrency {
                    symbol: inst.symbol.clone(),
                    quote: universe.asset_symbol(inst.quote).to_string(),
                    account: account_symbol,
                });
            }
        }
        let mut cash = vec![Decimal::ZERO; universe.asset_count()];
        for (asset, amount) in starting_cash {
            let sym = universe.asset_symbol(*asset).to_string();
            if *asset != account && !amount.is_zero() {
                return Err(PortfolioError::UnvaluedCash(sym));
            }
            if amount.is_sign_negative() {
                return Err(PortfolioError::NegativeCash(sym));
            }
            cash[asset.index()] += *amount;
        }
        Ok(Portfolio {
            account,
            account_symbol,
            cash,
            positions: universe
                .instruments()
                .iter()
                .map(|i| Position::flat(i.id))
                .collect(),
            quote_of: universe.instruments().iter().map(|i| i.quote).collect(),
            position_value: Decimal::ZERO,
            open_count: 0,
            fees_paid: Decimal::ZERO,
            realised_pnl: Decimal::ZERO,
            allow_leverage: false,
            allow_short: false,
            perp: universe
                .instruments()
                .iter()
                .map(|i| i.perp.clone())
                .collect(),
            mark_fed: vec![false; universe.len()],
            funding_paid: Decimal::ZERO,
            insurance: Decimal::ZERO,
            any_perp: universe.instruments().iter().any(|i| i.is_perpetual()),
        })
    }

    /// Allows negative cash (margin) and short positions. Off by default.
    pub fn with_leverage(mut self, allow_leverage: bool, allow_short: bool) -> Portfolio {
        self.allow_leverage = allow_leverage;
        self.allow_short = allow_short;
        self
    }

    /// The account currency.
    pub fn account_currency(&self) -> AssetId {
        self.account
    }

    /// Cash held in `asset`.
    pub fn cash(&self, asset: AssetId) -> Decimal {
        self.cash.get(asset.index()).copied().unwrap_or_default()
    }

    /// Cash held in the account currency.
    pub fn account_cash(&self) -> Decimal {
        self.cash[self.account.index()]
    }

    /// Cash per asset, indexed by asset id.
    pub fn balances(&self) -> &[Decimal] {
        &self.cash
    }

    /// The position in an instrument (flat if never traded).
    pub fn position(&self, instrument: InstrumentId) -> &Position {
        &self.positions[instrument.index()]
    }

    /// All positions that are not flat.
    pub fn open_positions(&self) -> impl Iterator<Item = &Position> {
        self.positions.iter().filter(|p| !p.is_flat())
    }

    /// Number of positions that are not flat (O(1)).
    #[inline]
    pub fn open_position_count(&self) -> usize {
        self.open_count
    }

    /// All positions, flat or not, in instrument order.
    pub fn positions(&self) -> &[Position] {
        &self.positions
    }

    /// What positions add to equity: Σ quantity × mark for spot, Σ unrealised
    /// PnL at mark price for perpetuals.
    pub fn position_value(&self) -> Decimal {
        self.position_value
    }

    /// Σ |position quantity × mark| (gross exposure).
    pub fn gross_exposure(&self) -> Decimal {
        self.positions.iter().map(|p| p.market_value().abs()).sum()
    }

    /// Cash in the account currency (a perpetual account's wallet balance) plus
    /// the marked value of spot positions and the unrealised PnL of perpetuals.
    #[inline]
    pub fn equity(&self) -> Decimal {
        num::add(self.cash[self.account.index()], self.position_value)
    }

    /// Total fees paid.
    pub fn fees_paid(&self) -> Decimal {
        self.fees_paid
    }

    /// PnL realised so far, before fees.
    pub fn realised_pnl(&self) -> Decimal {
        self.realised_pnl
    }

    /// Σ unrealised PnL of open positions.
    pub fn unrealised_pnl(&self) -> Decimal {
        self.positions.iter().map(Position::unrealised_pnl).sum()
    }

    /// Updates an instrument's mark from a last price (a bar's close, a trade).
    /// A perpetual that has a mark-price feed ignores last prices.
    #[inline(always)]
    pub fn mark(&mut self, instrument: InstrumentId, price: Decimal) -> Result<(), PortfolioError> {
        if self.any_perp && self.mark_fed.get(instrument.index()) == Some(&true) {
            return Ok(());
        }
        // No position: only the mark moves, inline; the marked value's
        // update stays out of line.
        match self.positions.get_mut(instrument.index()) {
            Some(pos) if pos.qty.is_zero() => {
                pos.mark = Some(price);
                Ok(())
            }
            _ => self.set_mark(instrument, price),
        }
    }

    /// Sets an instrument's mark and the portfolio's marked value.
    #[inline(never)]
    pub(crate) fn set_mark(
        &mut self,
        instrument: InstrumentId,
        price: Decimal,
    ) -> Result<(), PortfolioError> {
        let pos = self
            .positions
            .get_mut(instrument.index())
            .ok_or(PortfolioError::UnknownInstrument(instrument))?;
        if !pos.qty.is_zero() {
            // `num`'s operations: rust_decimal's results, bit for bit, faster.
            let old = pos.mark.unwrap_or(pos.avg_price);
            self.position_value = num::add_price_move(self.position_value, pos.qty, price, old)
                .ok_or(PortfolioError::Overflow)?;
        }
        pos.mark = Some(price);
        Ok(())
    }

    /// Checks that a fill could be applied, without applying it.
    pub fn check_fill(&self, fill: &Fill) -> Result<(), PortfolioError> {
        self.clone().apply_fill(fill).map(|_| ())
    }

    /// Applies a fill: moves cash, updates the position (average price, realised
    /// PnL), charges the fee and marks the instrument at the fill price.
    ///
    /// Refuses a fill that would take cash below zero (without leverage) or a
    /// position below zero (without shorting): a simulated venue must never make one.
    #[inline]
    pub fn apply_fill(&mut self, fill: &Fill) -> Result<&Position, PortfolioError> {
        self.apply(fill, true)
    }

    /// Books a fill a real venue has already made, even when it takes cash or the
    /// position below zero. The venue's trade is a fact; the ledger records it
    /// rather than refuse it (an exchange commission higher than the configured fee
    /// can overdraw the agent's cash by the difference). Callers warn on the
    /// overdraft, which [`Portfolio::apply_fill`] would have returned as an error;
    /// a later buy is then denied by risk until cash is positive again.
    pub fn book_venue_fill(&mut self, fill: &Fill) -> Result<&Position, PortfolioError> {
        self.apply(fill, false)
    }

    pub(crate) fn apply(&mut self, fill: &Fill, strict: bool) -> Result<&Position, PortfolioError> {
        let idx = fill.instrument.index();
        if idx >= self.positions.len() {
            return Err(PortfolioError::UnknownInstrument(fill.instrument));
        }

        if fill.qty <= Decimal::ZERO || fill.price <= Decimal::ZERO {
            return Err(PortfolioError::InvalidFill(
                "price and quantity must be positive",
            ));
        }
        if fill.fee.is_sign_negative() {
            return Err(PortfolioError::InvalidFill("fee must not be negative"));
        }
        let quote = self.quote_of[idx];
        if fill.fee_asset != quote {
            return Err(PortfolioError::FeeAsset(fill.instrument));
        }
        if self.perp[idx].is_some() {
            return self.apply_perp(fill, strict);
        }
        let notional = fill
            .price
            .checked_mul(fill.qty)
            .ok_or(PortfolioError::Overflow)?;
        let cash = self.cash[quote.index()];
        let new_cash = match fill.side {
            Side::Buy => notional
                .checked_add(fill.fee)
                .and_then(|c| cash.checked_sub(c)),
            Side::Sell => notional
                .checked_sub(fill.fee)
                .and_then(|c| cash.checked_add(c)),
        }
        .ok_or(PortfolioError::Overflow)?;
        if strict && new_cash.is_sign_negative() && !new_cash.is_zero() && !self.allow_leverage {
            return Err(PortfolioError::InsufficientCash {
                asset: self.account_symbol.clone(),
                needed: notional + fill.fee,
                available: cash,
            });
        }
        let pos = &self.positions[idx];
        let signed = fill.side.sign() * fill.qty;
        let new_qty = pos.qty + signed;
        if strict && new_qty.is_sign_negative() && !new_qty.is_zero() && !self.allow_short {
            return Err(PortfolioError::InsufficientPosition {
                instrument: fill.instrument,
                needed: fill.qty,
                available: pos.qty,
            });
        }

        // All checks passed: mutate.
        let pos = &mut self.positions[idx];
        let old_qty = pos.qty;
        let old_mark = pos.mark.unwrap_or(pos.avg_price);
        let mut realised = Decimal::ZERO;
        if old_qty.is_zero() || old_qty.is_sign_positive() == signed.is_sign_positive() {
            // Opening or adding.
            let cost = old_qty.abs() * pos.avg_price + fill.qty * fill.price;
            pos.avg_price = cost / new_qty.abs();
        } else {
            // Reducing, closing, or flipping.
            let closing = fill.qty.min(old_qty.abs());
            let dir = if old_qty.is_sign_positive() {
                Decimal::ONE
            } else {
                Decimal::NEGATIVE_ONE
            };
            realised = (fill.price - pos.avg_price) * closing * dir;
            if new_qty.is_zero() {
                pos.avg_price = Decimal::ZERO;
            } else if new_qty.is_sign_positive() != old_qty.is_sign_positive() {
                pos.avg_price = fill.price;
            }
        }
        pos.realised_pnl += realised;
        pos.fees += fill.fee;
        pos.qty = new_qty;
        pos.mark = Some(fill.price);
        match (old_qty.is_zero(), new_qty.is_zero()) {
            (true, false) => self.open_count += 1,
            (false, true) => self.open_count -= 1,
            _ => {}
        }
        // Marked value: remove the old holding at its old mark, add the new one at the fill price.
        self.position_value = self.position_value - old_qty * old_mark + new_qty * fill.price;
        self.cash[quote.index()] = new_cash;
        self.fees_paid += fill.fee;
        self.realised_pnl += realised;
        Ok(&self.positions[idx])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instrument::InstrumentSpec;
    use crate::order::{ClientOrderId, Liquidity};
    use crate::time::Timestamp;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn setup(cash: Decimal) -> (Universe, Portfolio) {
        let mut u = Universe::new();
        for (s, b) in [("BTCUSDT", "BTC"), ("ETHUSDT", "ETH")] {
            u.add(&InstrumentSpec {
                symbol: s.into(),
                base: b.into(),
                quote: "USDT".into(),
                lot_size: None,
                tick_size: None,
                min_notional: None,
                kind: crate::instrument::InstrumentKind::Spot,
                leverage: None,
                margin: None,
                brackets: None,
            })
            .unwrap();
        }
        let usdt = u.asset_id("USDT").unwrap();
        let p = Portfolio::new(&u, usdt, &[(usdt, cash)]).unwrap();
        (u, p)
    }

    fn fill(
        u: &Universe,
        inst: u32,
        side: Side,
        price: Decimal,
        qty: Decimal,
        fee: Decimal,
    ) -> Fill {
        Fill {
            order_id: ClientOrderId(1),
            instrument: InstrumentId(inst),
            side,
            price,
            qty,
            fee,
            fee_asset: u.asset_id("USDT").unwrap(),
            liquidity: Liquidity::Taker,
            ts: Timestamp(0),
        }
    }

    #[test]
    fn round_trip_by_hand() {
        let (u, mut p) = setup(dec!(1000));
        p.apply_fill(&fill(&u, 0, Side::Buy, dec!(100), dec!(5), dec!(0.5)))
            .unwrap();
        assert_eq!(p.account_cash(), dec!(499.5));
        assert_eq!(p.equity(), dec!(999.5));
        p.mark(InstrumentId(0), dec!(110)).unwrap();
        assert_eq!(p.equity(), dec!(1049.5));
        assert_eq!(p.unrealised_pnl(), dec!(50));
        p.apply_fill(&fill(&u, 0, Side::Sell, dec!(120), dec!(5), dec!(0.6)))
            .unwrap();
        assert_eq!(p.account_cash(), dec!(1098.9));
        assert_eq!(p.realised_pnl(), dec!(100));
        assert_eq!(p.fees_paid(), dec!(1.1));
        assert_eq!(p.equity(), dec!(1098.9));
        assert!(p.position(InstrumentId(0)).is_flat());
    }

    #[test]
    fn refuses_leverage_and_shorts() {
        let (u, mut p) = setup(dec!(100));
        assert!(matches!(
            p.apply_fill(&fill(&u, 0, Side::Buy, dec!(100), dec!(1), dec!(0.01))),
            Err(PortfolioError::InsufficientCash { .. })
        ));
        assert!(matches!(
            p.apply_fill(&fill(&u, 0, Side::Sell, dec!(100), dec!(0.5), dec!(0))),
            Err(PortfolioError::InsufficientPosition { .. })
        ));
        // Nothing changed after refusals.
        assert_eq!(p.equity(), dec!(100));
        assert_eq!(p.fees_paid(), dec!(0));
    }

    #[test]
    fn books_a_venue_fill_that_overdraws_cash() {
        let (u, mut p) = setup(dec!(100));
        let f = fill(&u, 0, Side::Buy, dec!(100), dec!(1), dec!(0.2));
        assert!(p.check_fill(&f).is_err());
        p.book_venue_fill(&f).unwrap();
        assert_eq!(p.account_cash(), dec!(-0.2));
        assert_eq!(p.position(InstrumentId(0)).qty, dec!(1));
        assert_eq!(p.fees_paid(), dec!(0.2));
        assert_eq!(p.equity(), dec!(99.8));
        // Invalid fills are still refused.
        let bad = fill(&u, 0, Side::Buy, dec!(0), dec!(1), dec!(0));
        assert!(matches!(
            p.book_venue_fill(&bad),
            Err(PortfolioError::InvalidFill(_))
        ));
    }

    #[test]
    fn rejects_cross_currency_universe() {
        let mut u = Universe::new();
        u.add(&InstrumentSpec {
            symbol: "ETHBTC".into(),
            base: "ETH".into(),
            quote: "BTC".into(),
            lot_size: None,
            tick_size: None,
            min_notional: None,
            kind: crate::instrument::InstrumentKind::Spot,
            leverage: None,
            margin: None,
            brackets: None,
        })
        .unwrap();
        let usdt = u.asset("USDT");
        assert!(matches!(
            Portfolio::new(&u, usdt, &[(usdt, dec!(1))]),
            Err(PortfolioError::CrossCurrency { .. })
        ));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Mark(u32, i64),
        Trade(u32, bool, i64, i64, i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u32..2, 1i64..1_000_000).prop_map(|(i, p)| Op::Mark(i, p)),
            (
                0u32..2,
                any::<bool>(),
                1i64..1_000_000,
                1i64..100_000,
                0i64..1_000
            )
                .prop_map(|(i, b, p, q, f)| Op::Trade(i, b, p, q, f)),
        ]
    }

    proptest! {
        /// cash + Σ qty × mark = equity; fees only ever reduce equity; cash never
        /// negative and positions never short without explicit leverage.
        #[test]
        fn accounting_invariants(ops in proptest::collection::vec(op(), 1..80)) {
            let (u, mut p) = setup(dec!(10000));
            let mut fees = Decimal::ZERO;
            for op in ops {
                match op {
                    Op::Mark(i, px) => { p.mark(InstrumentId(i), Decimal::new(px, 2)).unwrap(); }
                    Op::Trade(i, buy, px, q, f) => {
                        let price = Decimal::new(px, 2);
                        // Mark at the fill price first so that the equity change is the fee alone.
                        p.mark(InstrumentId(i), price).unwrap();
                        let before = p.equity();
                        let side = if buy { Side::Buy } else { Side::Sell };
                        let fl = fill(&u, i, side, price, Decimal::new(q, 4), Decimal::new(f, 3));
                        match p.apply_fill(&fl) {
                            Ok(_) => {
                                fees += fl.fee;
                                prop_assert_eq!(p.equity(), before - fl.fee);
                            }
                            Err(_) => prop_assert_eq!(p.equity(), before),
                        }
                    }
                }
                let recomputed: Decimal = p.account_cash()
                    + p.positions().iter().map(|x| x.market_value()).sum::<Decimal>();
                prop_assert_eq!(p.equity(), recomputed);
                prop_assert!(!p.account_cash().is_sign_negative() || p.account_cash().is_zero());
                prop_assert!(p.positions().iter().all(|x| !x.qty.is_sign_negative() || x.qty.is_zero()));
                prop_assert_eq!(p.fees_paid(), fees);
                prop_assert_eq!(p.open_position_count(), p.open_positions().count());
            }
        }
    }
}
