//! Binance USDⓈ-M `markPriceUpdate` messages (`<symbol>@markPrice@1s`) turned
//! into the events a perpetual backtest reads, in the same order: per kline
//! interval, the traded bar, then the interval's mark-price bar (OHLC of the
//! streamed marks), then any funding whose time the interval closed on.
//!
//! * A mark bar is complete when the first update of the next interval
//!   arrives; it is released once the kline of its interval has gone out (or
//!   a later one has), so the engine checks liquidation after that bar's
//!   fills, as in a backtest.
//! * Funding: each update carries the current funding rate (`r`) and the next
//!   funding time (`T`); when an update's time reaches that `T`, the funding
//!   at `T` is the last rate streamed before it (the settled rate can differ
//!   in the last decimals; a live adapter books the exchange's `income`). It
//!   follows the mark bar that closes at or after `T`.

use std::collections::HashMap;

use rust_decimal::Decimal;
use vigil_core::perp::FundingRate;
use vigil_core::{Bar, InstrumentId, MarketEvent, TimeUnit, Timestamp};

#[derive(Clone, Copy, Debug)]
struct Agg {
    bucket_ms: i64,
    open: Decimal,
    high: Decimal,
    low: Decimal,
    close: Decimal,
}

#[derive(Debug)]
struct MarkState {
    instrument: InstrumentId,
    agg: Option<Agg>,
    waiting: Vec<Bar>,
    next_funding: Option<(i64, Decimal)>,
    waiting_funding: Vec<FundingRate>,
    last_kline_open_ms: Option<i64>,
}

/// Aggregates mark-price updates into interval bars and funding events.
#[derive(Debug)]
pub(crate) struct MarkAggregator {
    interval_ms: i64,
    by_symbol: HashMap<String, MarkState>,
}

fn ts(ms: i64) -> Result<Timestamp, String> {
    Timestamp::from_epoch(ms, TimeUnit::Millis).map_err(|e| e.to_string())
}

impl MarkAggregator {
    /// For `symbols` (upper case) and the klines' interval.
    pub(crate) fn new(symbols: &[(String, InstrumentId)], interval_ms: i64) -> MarkAggregator {
        MarkAggregator {
            interval_ms: interval_ms.max(1),
            by_symbol: symbols
                .iter()
                .map(|(s, id)| {
                    (
                        s.clone(),
                        MarkState {
                            instrument: *id,
                            agg: None,
                            waiting: Vec::new(),
                            next_funding: None,
                            waiting_funding: Vec::new(),
                            last_kline_open_ms: None,
                        },
                    )
                })
                .collect(),
        }
    }

    /// One update: mark `price` at `time_ms`, funding `rate` due at `next_ms`.
    /// Released events go to `out`.
    pub(crate) fn update(
        &mut self,
        symbol: &str,
        time_ms: i64,
        price: Decimal,
        rate: Decimal,
        next_ms: i64,
        out: &mut Vec<MarketEvent>,
    ) -> Result<(), String> {
        let interval = self.interval_ms;
        let st = self
            .by_symbol
            .get_mut(symbol)
            .ok_or_else(|| format!("unknown symbol {symbol}"))?;
        if price <= Decimal::ZERO {
            return Err(format!("{symbol} mark price {price} is not positive"));
        }
        let bucket = time_ms - time_ms.rem_euclid(interval);
        match &mut st.agg {
            Some(a) if bucket < a.bucket_ms => {
                return Err(format!("{symbol} mark update at {time_ms} is out of order"))
            }
            Some(a) if bucket == a.bucket_ms => {
                a.high = a.high.max(price);
                a.low = a.low.min(price);
                a.close = price;
            }
            _ => {
                if let Some(done) = st.agg.take() {
                    st.waiting.push(Bar {
                        instrument: st.instrument,
                        open_time: ts(done.bucket_ms)?,
                        close_time: ts(done.bucket_ms + interval)?,
                        open: done.open,
                        high: done.high,
                        low: done.low,
                        close: done.close,
                        volume: Decimal::ZERO,
                    });
                }
                st.agg = Some(Agg {
                    bucket_ms: bucket,
                    open: price,
                    high: price,
                    low: price,
                    close: price,
                });
            }
        }
        match st.next_funding {
            Some((due, last_rate)) if time_ms >= due => {
                st.waiting_funding.push(FundingRate {
                    instrument: st.instrument,
                    ts: ts(due)?,
                    rate: last_rate,
                });
                st.next_funding = Some((next_ms, rate));
            }
            _ => st.next_funding = Some((next_ms, rate)),
        }
        release(st, out);
        Ok(())
    }

    /// The kline opening at `open_ms` went out: release what waited for it.
    pub(crate) fn kline_emitted(&mut self, symbol: &str, open_ms: i64, out: &mut Vec<MarketEvent>) {
        if let Some(st) = self.by_symbol.get_mut(symbol) {
            st.last_kline_open_ms = Some(st.last_kline_open_ms.map_or(open_ms, |l| l.max(open_ms)));
            release(st, out);
        }
    }
}

/// Mark bars whose kline has gone out, each followed by the funding its close
/// reached.
fn release(st: &mut MarkState, out: &mut Vec<MarketEvent>) {
    let Some(kline) = st.last_kline_open_ms else {
        return;
    };
    while st
        .waiting
        .first()
        .is_some_and(|b| b.open_time.nanos() / 1_000_000 <= kline)
    {
        let bar = st.waiting.remove(0);
        let close = bar.close_time;
        out.push(MarketEvent::Mark(bar));
        while st.waiting_funding.first().is_some_and(|f| f.ts <= close) {
            out.push(MarketEvent::Funding(st.waiting_funding.remove(0)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    const MIN: i64 = 60_000;
    const T0: i64 = 1_640_995_200_000; // 2022-01-01T00:00:00Z

    fn agg() -> MarkAggregator {
        MarkAggregator::new(&[("BTCUSDT".into(), InstrumentId(0))], MIN)
    }

    fn kinds(out: &[MarketEvent]) -> Vec<String> {
        out.iter()
            .map(|e| match e {
                MarketEvent::Mark(b) => format!("mark {} {}", b.open_time, b.close),
                MarketEvent::Funding(f) => format!("funding {} {}", f.ts, f.rate),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_bar_of_marks_follows_its_kline_then_the_funding_it_closed_on() {
        let mut a = agg();
        let mut out = Vec::new();
        let due = T0 + 2 * MIN;
        for (i, p) in [100, 102, 99, 101].iter().enumerate() {
            let t = T0 + i as i64 * 15_000;
            a.update("BTCUSDT", t, Decimal::from(*p), dec!(0.0001), due, &mut out)
                .unwrap();
        }
        // The second minute starts: the first minute's mark bar is complete,
        // but waits for its kline.
        a.update("BTCUSDT", T0 + MIN, dec!(103), dec!(0.0002), due, &mut out)
            .unwrap();
        assert!(out.is_empty());
        a.kline_emitted("BTCUSDT", T0, &mut out);
        assert_eq!(kinds(&out), ["mark 2022-01-01T00:00:00Z 101"]);
        match &out[0] {
            MarketEvent::Mark(b) => {
                assert_eq!((b.open, b.high, b.low), (dec!(100), dec!(102), dec!(99)));
                assert_eq!(b.close_time, ts(T0 + MIN).unwrap());
            }
            _ => unreachable!(),
        }
        out.clear();
        // The funding time passes (an update at its time): funding at the last
        // rate streamed before it, after the mark bar that closes on it.
        a.update(
            "BTCUSDT",
            due,
            dec!(104),
            dec!(0.0003),
            due + 8 * 60 * MIN,
            &mut out,
        )
        .unwrap();
        assert!(out.is_empty(), "{:?}", kinds(&out));
        a.kline_emitted("BTCUSDT", T0 + MIN, &mut out);
        assert_eq!(
            kinds(&out),
            [
                "mark 2022-01-01T00:01:00Z 103",
                "funding 2022-01-01T00:02:00Z 0.0002"
            ]
        );
    }

    #[test]
    fn a_kline_already_out_releases_the_mark_bar_at_once_and_bad_input_is_refused() {
        let mut a = agg();
        let mut out = Vec::new();
        a.kline_emitted("BTCUSDT", T0, &mut out);
        a.update(
            "BTCUSDT",
            T0 + 1_000,
            dec!(100),
            dec!(0),
            T0 + 10 * MIN,
            &mut out,
        )
        .unwrap();
        a.update(
            "BTCUSDT",
            T0 + MIN,
            dec!(100),
            dec!(0),
            T0 + 10 * MIN,
            &mut out,
        )
        .unwrap();
        assert_eq!(kinds(&out), ["mark 2022-01-01T00:00:00Z 100"]);
        assert!(a
            .update("BTCUSDT", T0, dec!(100), dec!(0), T0, &mut out)
            .is_err());
        assert!(a
            .update("ETHUSDT", T0 + MIN, dec!(1), dec!(0), T0, &mut out)
            .is_err());
        assert!(a
            .update("BTCUSDT", T0 + MIN, dec!(0), dec!(0), T0, &mut out)
            .is_err());
    }
}
