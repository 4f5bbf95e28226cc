//! `sma-cross`: the textbook long-only moving-average crossover (see README.md).

#![warn(missing_docs)]

use std::cmp::Ordering;

use rust_decimal::Decimal;
use serde::Deserialize;
use vigil_core::{InstrumentId, MarketEvent};
use vigil_strategy::{
    parse_params, BuildContext, Context, ParamSpec, Strategy, StrategyDescriptor, StrategyError,
};

/// The plug-in's registry name.
pub const NAME: &str = "sma-cross";

/// Parameters of `sma-cross`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SmaCrossConfig {
    /// Bars in the fast average.
    pub fast: usize,
    /// Bars in the slow average.
    pub slow: usize,
    /// Symbols to trade; all instruments when absent.
    #[serde(default)]
    pub instruments: Option<Vec<String>>,
    /// Perpetuals: also go short — always in once started (a cross up
    /// closes any short and goes long, a cross down the reverse, each in one
    /// order sized at the fill by the available balance).
    #[serde(default)]
    pub short: bool,
}

impl SmaCrossConfig {
    /// Checks the parameters, naming the one that is wrong.
    pub fn validate(&self) -> Result<(), StrategyError> {
        if self.fast < 1 {
            return Err(StrategyError::param(
                NAME,
                "fast",
                "`fast` must be at least 1",
            ));
        }
        if self.slow <= self.fast {
            return Err(StrategyError::param(
                NAME,
                "slow",
                format!(
                    "`slow` ({}) must be greater than `fast` ({})",
                    self.slow, self.fast
                ),
            ));
        }
        if self.slow > 100_000 {
            return Err(StrategyError::param(
                NAME,
                "slow",
                "`slow` must be at most 100000",
            ));
        }
        Ok(())
    }
}

/// Closes as fixed-point integers with 12 decimal places: exact for prices with up
/// to 12 decimals (crypto prices have at most 8).
const SCALE: u32 = 12;

/// 10⁰ … 10²⁸ (a `Decimal`'s scale is at most 28).
const POW10: [i128; 29] = {
    let mut t = [1i128; 29];
    let mut i = 1;
    while i < 29 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// The largest mantissa that can be scaled up by 10^k without overflow.
const FITS: [i128; SCALE as usize + 1] = {
    let mut t = [0i128; SCALE as usize + 1];
    let mut k = 0;
    while k <= SCALE as usize {
        t[k] = i128::MAX / POW10[k];
        k += 1;
    }
    t
};

/// `None` when the close does not fit (beyond ~10²⁶; inputs are limited to 10¹⁵).
#[inline]
fn fixed(d: Decimal) -> Option<i128> {
    let u = d.unpack();
    // A price (below 2⁶⁴, at most 12 places): one 64 × 64-bit product, below
    // 2¹⁰⁴, so nothing can overflow.
    if u.hi == 0 && u.scale <= SCALE {
        let m = u64::from(u.lo) | u64::from(u.mid) << 32;
        let p = POW10[(SCALE - u.scale) as usize] as u64;
        let v = (u128::from(m) * u128::from(p)) as i128;
        return Some(if u.negative { -v } else { v });
    }
    let m = u128::from(u.lo) | u128::from(u.mid) << 32 | u128::from(u.hi) << 64;
    // The magnitude scaled, truncated toward zero as an `i128` division would.
    let v = if u.scale <= SCALE {
        let k = (SCALE - u.scale) as usize;
        if m > FITS[k] as u128 {
            return None;
        }
        (m as i128) * POW10[k]
    } else {
        (m / POW10[(u.scale - SCALE) as usize] as u128) as i128
    };
    Some(if u.negative { -v } else { v })
}

/// Rolling state for one instrument.
#[derive(Clone, Debug)]
struct Track {
    /// The last `slow` closes, a ring: the next close goes to `next`.
    ring: Vec<i128>,
    next: usize,
    /// Closes seen, up to `slow`.
    filled: usize,
    sum_fast: i128,
    sum_slow: i128,
    prev: Option<Ordering>,
}

/// Sums within ±2¹⁰⁰, times a window length (at most 100,000 < 2¹⁷), fit an `i128`.
const SMALL_SUM: i128 = 1 << 100;

/// `-2¹⁰⁰ ≤ sum < 2¹⁰⁰`, in one addition and one comparison.
#[inline(always)]
fn small(sum: i128) -> bool {
    (sum.wrapping_add(SMALL_SUM) as u128) < 2 * SMALL_SUM as u128
}

/// The strategy.
#[derive(Debug)]
pub struct SmaCross {
    fast: usize,
    slow: usize,
    short: bool,
    tracks: Vec<Option<Track>>,
}

impl SmaCross {
    /// Builds the strategy for instruments `0..n` (all of them traded).
    pub fn new(config: &SmaCrossConfig, instruments: usize) -> Result<SmaCross, StrategyError> {
        config.validate()?;
        let track = Track {
            ring: vec![0; config.slow],
            next: 0,
            filled: 0,
            sum_fast: 0,
            sum_slow: 0,
            prev: None,
        };
        Ok(SmaCross {
            fast: config.fast,
            slow: config.slow,
            short: config.short,
            tracks: vec![Some(track); instruments],
        })
    }

    fn restrict(mut self, keep: &[InstrumentId]) -> SmaCross {
        for (i, t) in self.tracks.iter_mut().enumerate() {
            if !keep.iter().any(|k| k.index() == i) {
                *t = None;
            }
        }
        self
    }

    /// The fast average compared with the slow one, once `slow` closes are known.
    fn push(&mut self, i: usize, close: Decimal) -> Option<(Ordering, Option<Ordering>)> {
        let (fast_n, slow_n) = (self.fast, self.slow);
        let t = self.tracks.get_mut(i)?.as_mut()?;
        // Checked, never wrapping: a close too large to sum ends the instrument's
        // averages (no signal) rather than compare wrapped sums.
        let Some((x, sum_slow, sum_fast)) = fixed(close)
            .and_then(|x| Some((x, t.sum_slow.checked_add(x)?, t.sum_fast.checked_add(x)?)))
        else {
            self.tracks[i] = None;
            return None;
        };
        t.sum_slow = sum_slow;
        t.sum_fast = sum_fast;
        // The close `fast_n` closes back leaves the fast sum; the oldest (at
        // `next`, about to be overwritten) leaves the slow one.
        if t.filled >= fast_n {
            let back = t.next + slow_n - fast_n;
            t.sum_fast -= t.ring[if back >= slow_n { back - slow_n } else { back }];
        }
        if t.filled == slow_n {
            t.sum_slow -= t.ring[t.next];
        } else {
            t.filled += 1;
        }
        t.ring[t.next] = x;
        t.next = if t.next + 1 == slow_n { 0 } else { t.next + 1 };
        if t.filled < slow_n {
            return None;
        }
        // fast/fast_n vs slow/slow_n  ⇔  fast × slow_n vs slow × fast_n (exact).
        let (a, b) = if small(t.sum_fast) && small(t.sum_slow) {
            (
                Some(t.sum_fast * slow_n as i128),
                Some(t.sum_slow * fast_n as i128),
            )
        } else {
            (
                t.sum_fast.checked_mul(slow_n as i128),
                t.sum_slow.checked_mul(fast_n as i128),
            )
        };
        let now = match (a, b) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => {
                let fa = t.sum_fast as f64 / fast_n as f64;
                let fb = t.sum_slow as f64 / slow_n as f64;
                fa.partial_cmp(&fb).unwrap_or(Ordering::Equal)
            }
        };
        let prev = t.prev.replace(now);
        Some((now, prev))
    }
}

impl Strategy for SmaCross {
    fn on_event(&mut self, event: &MarketEvent, ctx: &mut Context<'_>) {
        let MarketEvent::Bar(bar) = event else {
            return;
        };
        let id = bar.instrument;
        let Some((now, Some(prev))) = self.push(id.index(), bar.close) else {
            return;
        };
        // No cross (almost every bar): nothing to do.
        if now != prev {
            self.on_cross(bar, now, prev, ctx);
        }
    }
}

impl SmaCross {
    /// The averages' order changed on this bar: trade if it crossed.
    #[inline(never)]
    fn on_cross(
        &self,
        bar: &vigil_core::Bar,
        now: Ordering,
        prev: Ordering,
        ctx: &mut Context<'_>,
    ) {
        let id = bar.instrument;
        if self.short {
            // Long and short, always in: one order flips the position.
            if now == Ordering::Greater && prev != Ordering::Greater {
                ctx.go_long(id, Decimal::ONE);
            } else if now == Ordering::Less && prev != Ordering::Less {
                ctx.go_short(id, Decimal::ONE);
            }
            return;
        }
        if now == Ordering::Greater && prev != Ordering::Greater {
            if ctx.position_qty(id).is_zero() {
                let cash = ctx.cash_for(id);
                // Skip dust: cash that cannot buy one lot at the last close.
                let lot = ctx.universe().get(id).lot_size;
                let unit = bar.close * (Decimal::ONE + ctx.taker_fee_rate());
                if cash > Decimal::ZERO && cash >= lot * unit {
                    ctx.buy_quote(id, cash);
                }
            }
        } else if now == Ordering::Less
            && prev != Ordering::Less
            && ctx.position_qty(id) > Decimal::ZERO
        {
            ctx.close(id);
        }
    }
}

/// Parameter documentation.
pub const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "fast",
        ty: "integer ≥ 1",
        default: None,
        help: "bars in the fast moving average",
    },
    ParamSpec {
        name: "slow",
        ty: "integer > fast",
        default: None,
        help: "bars in the slow moving average",
    },
    ParamSpec {
        name: "instruments",
        ty: "list of symbols",
        default: None,
        help: "instruments to trade (default: all of the run's)",
    },
    ParamSpec {
        name: "short",
        ty: "bool",
        default: None,
        help: "perpetuals: long on a cross up, short on a cross down, always in (off by default)",
    },
];

fn build(params: &toml::Table, ctx: &BuildContext<'_>) -> Result<Box<dyn Strategy>, StrategyError> {
    let config: SmaCrossConfig = parse_params(NAME, params)?;
    if config.short {
        let listed = |i: &vigil_core::Instrument| {
            config
                .instruments
                .as_ref()
                .is_none_or(|l| l.contains(&i.symbol))
        };
        ctx.require_perpetuals(NAME, "short", listed)?;
    }
    let strategy = SmaCross::new(&config, ctx.universe.len())?;
    Ok(Box::new(match &config.instruments {
        None => strategy,
        Some(symbols) => {
            let mut ids = Vec::new();
            for s in symbols {
                ids.push(ctx.universe.id(s).ok_or_else(|| {
                    StrategyError::param(
                        NAME,
                        "instruments",
                        format!("`instruments`: unknown instrument `{s}`"),
                    )
                })?);
            }
            strategy.restrict(&ids)
        }
    }))
}

/// The registry entry for `sma-cross`.
pub fn descriptor() -> StrategyDescriptor {
    StrategyDescriptor {
        name: NAME,
        summary:
            "Long-only SMA crossover: all in at the next open on a cross up, out on a cross down",
        params: PARAMS,
        build,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The fixed-point close by the definition: the signed mantissa scaled
    /// to 12 places with checked `i128` arithmetic, truncated toward zero.
    fn fixed_by_definition(d: Decimal) -> Option<i128> {
        let (m, s) = (d.mantissa(), d.scale());
        if s <= SCALE {
            m.checked_mul(POW10[(SCALE - s) as usize])
        } else {
            Some(m / POW10[(s - SCALE) as usize])
        }
    }

    #[test]
    fn small_sums_are_those_within_2_pow_100() {
        let b = 1i128 << 100;
        for (sum, want) in [
            (0, true),
            (b - 1, true),
            (b, false),
            (-b, true),
            (-b - 1, false),
            (i128::MAX, false),
            (i128::MIN, false),
            (i128::MIN + b, false),
        ] {
            assert_eq!(small(sum), want, "{sum}");
            // Where it says small, the products it guards cannot overflow.
            if want {
                assert!(sum.checked_mul(100_000).is_some());
            }
        }
    }

    proptest! {
        #[test]
        fn fixed_closes_match_the_definition(
            bits in 0u32..=96,
            raw in any::<u128>(),
            scale in 0u32..=28,
            negative in any::<bool>(),
        ) {
            let m = if bits == 0 { 0 } else { raw >> (128 - bits) };
            let d = Decimal::from_parts(m as u32, (m >> 32) as u32, (m >> 64) as u32, negative, scale);
            prop_assert_eq!(fixed(d), fixed_by_definition(d), "{}", d);
        }
    }

    fn cfg(fast: usize, slow: usize) -> SmaCrossConfig {
        SmaCrossConfig {
            fast,
            slow,
            instruments: None,
            short: false,
        }
    }

    #[test]
    fn validates_parameters() {
        assert!(SmaCross::new(&cfg(0, 3), 1).is_err());
        assert!(SmaCross::new(&cfg(3, 3), 1).is_err());
        let e = SmaCross::new(&cfg(5, 2), 1).unwrap_err().to_string();
        assert_eq!(
            e,
            "strategy `sma-cross`: `slow` (2) must be greater than `fast` (5)"
        );
        let t: toml::Table = toml::from_str("fast = 2\nslwo = 5").unwrap();
        let e = parse_params::<SmaCrossConfig>(NAME, &t)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `slwo`"), "{e}");
    }

    #[test]
    fn a_close_too_large_to_sum_never_wraps_into_a_signal() {
        let mut s = SmaCross::new(&cfg(2, 3), 1).unwrap();
        for _ in 0..3 {
            assert!(s.push(0, Decimal::from(100)).is_some() || s.tracks[0].is_some());
        }
        // 2·10²⁶ scaled by 10¹² does not fit an i128: no signal, never a wrapped one.
        let huge = Decimal::from_i128_with_scale(200_000_000_000_000_000_000_000_000, 0);
        assert_eq!(s.push(0, huge), None);
        assert_eq!(s.push(0, Decimal::from(101)), None);
    }

    #[test]
    fn ties_are_exact() {
        // Constant prices: fast == slow exactly, never a cross.
        let mut s = SmaCross::new(&cfg(2, 3), 1).unwrap();
        for _ in 0..10 {
            if let Some((now, _)) = s.push(0, Decimal::new(1, 1)) {
                assert_eq!(now, Ordering::Equal);
            }
        }
    }

    proptest! {
        /// The exact comparison agrees with a naive recomputation of both averages.
        #[test]
        fn matches_naive_sma(prices in proptest::collection::vec(1i64..1_000_000, 1..200), fast in 1usize..8, extra in 1usize..8) {
            let slow = fast + extra;
            let mut s = SmaCross::new(&cfg(fast, slow), 1).unwrap();
            let ds: Vec<Decimal> = prices.iter().map(|p| Decimal::new(*p, 4)).collect();
            for (i, d) in ds.iter().enumerate() {
                let got = s.push(0, *d).map(|(now, _)| now);
                if i + 1 < slow {
                    prop_assert_eq!(got, None);
                } else {
                    let f: Decimal = ds[i + 1 - fast..=i].iter().sum::<Decimal>() / Decimal::from(fast);
                    let sl: Decimal = ds[i + 1 - slow..=i].iter().sum::<Decimal>() / Decimal::from(slow);
                    let fsum: Decimal = ds[i + 1 - fast..=i].iter().sum();
                    let ssum: Decimal = ds[i + 1 - slow..=i].iter().sum();
                    let exact = (fsum * Decimal::from(slow)).cmp(&(ssum * Decimal::from(fast)));
                    prop_assert_eq!(got, Some(exact), "fast {} slow {}", f, sl);
                }
            }
        }
    }
}
