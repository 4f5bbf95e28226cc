//! Binance live market data, spot or USDⓈ-M futures: kline and trade WebSocket
//! streams (and, for perpetuals, mark prices and funding from `markPrice`:
//! `binance_mark.rs`), with ping/pong, reconnection with backoff, and gap fill
//! from the REST klines endpoint.
//!
//! Bad input never stops the feed: a malformed message, an unknown symbol, an
//! inconsistent bar or a bar older than the last one is logged and counted in
//! [`FeedStats`]; a bar seen twice (the gap fill and the stream overlap) is counted
//! as a duplicate. Events go out through a bounded channel: when the engine is
//! slow, the feed waits (back-pressure), it never drops.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rust_decimal::Decimal;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use vigil_core::{Bar, InstrumentId, Interval, MarketEvent, Side, Timestamp, Trade};

/// Where and what to subscribe to.
#[derive(Clone, Debug)]
pub struct BinanceFeedOptions {
    /// WebSocket base URL, e.g. `wss://stream.binance.com:9443`.
    pub ws_url: String,
    /// REST base URL for gap fill, e.g. `https://data-api.binance.vision`.
    pub rest_url: String,
    /// Kline interval.
    pub interval: Interval,
    /// Also subscribe to trades.
    pub trades: bool,
    /// USDⓈ-M perpetuals: also subscribe to `<symbol>@markPrice@1s` (mark-price
    /// bars per kline interval, and funding).
    pub mark_price: bool,
    /// The REST klines path for gap fill (`/api/v3/klines`, `/fapi/v1/klines`).
    pub rest_klines_path: String,
    /// First reconnect delay; doubles up to `reconnect_max`.
    pub reconnect_min: Duration,
    /// Largest reconnect delay.
    pub reconnect_max: Duration,
    /// Reconnect when nothing arrives for this long (the server pings every 20 s).
    pub idle_timeout: Duration,
}

impl BinanceFeedOptions {
    /// Production endpoints, one-minute klines.
    pub fn production(interval: Interval) -> BinanceFeedOptions {
        BinanceFeedOptions {
            ws_url: "wss://stream.binance.com:9443".into(),
            rest_url: "https://data-api.binance.vision".into(),
            interval,
            trades: false,
            mark_price: false,
            rest_klines_path: "/api/v3/klines".into(),
            reconnect_min: Duration::from_millis(500),
            reconnect_max: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
        }
    }

    /// USDⓈ-M futures production endpoints (perpetuals), with mark prices.
    pub fn usdm(interval: Interval) -> BinanceFeedOptions {
        BinanceFeedOptions {
            ws_url: "wss://fstream.binance.com".into(),
            rest_url: "https://fapi.binance.com".into(),
            mark_price: true,
            rest_klines_path: "/fapi/v1/klines".into(),
            ..BinanceFeedOptions::production(interval)
        }
    }
}

/// One subscribed instrument.
#[derive(Clone, Debug)]
pub struct BinanceSymbol {
    /// Its id in the run's universe.
    pub instrument: InstrumentId,
    /// The exchange symbol, e.g. `BTCUSDT`.
    pub symbol: String,
    /// Open time of the last bar already processed (after a restart): bars after
    /// it are fetched from REST on connect.
    pub resume_after: Option<Timestamp>,
}

/// Counters of what the feed saw.
#[derive(Debug, Default)]
pub struct FeedStats {
    /// WebSocket messages received.
    pub messages: AtomicU64,
    /// Malformed, inconsistent or out-of-order inputs (logged, not processed).
    pub rejects: AtomicU64,
    /// Bars seen twice (not processed twice).
    pub duplicates: AtomicU64,
    /// Reconnections.
    pub reconnects: AtomicU64,
    /// Bars recovered from REST after a gap.
    pub gap_filled: AtomicU64,
    /// Pings answered.
    pub pongs: AtomicU64,
}

impl FeedStats {
    fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

struct SymbolState {
    instrument: InstrumentId,
    symbol: String,
    last_open: Option<Timestamp>,
    last_trade_id: Option<u64>,
}

/// Why an input was rejected.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Reject {
    Malformed(String),
    UnknownSymbol(String),
    OutOfOrder {
        symbol: String,
        open: Timestamp,
        last: Timestamp,
    },
    Inconsistent(String),
}

pub(crate) enum Outcome {
    Event(MarketEvent),
    Duplicate,
    Ignored,
}

fn dec(v: &Value, field: &str) -> Result<Decimal, Reject> {
    let s = v
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| Reject::Malformed(format!("missing string field `{field}`")))?;
    crate::parse::parse_decimal(s.as_bytes())
        .ok_or_else(|| Reject::Malformed(format!("`{field}` is not a number: {s}")))
}

fn int(v: &Value, field: &str) -> Result<i64, Reject> {
    v.get(field)
        .and_then(Value::as_i64)
        .ok_or_else(|| Reject::Malformed(format!("missing integer field `{field}`")))
}

/// The feed's state machine: turns messages and REST rows into events, in order.
pub(crate) struct Decoder {
    by_symbol: HashMap<String, SymbolState>,
    interval: Interval,
    interval_name: String,
    marks: crate::binance_mark::MarkAggregator,
    /// Events released besides a message's own (mark bars, funding), to be
    /// sent right after it.
    pub(crate) out: Vec<MarketEvent>,
}

impl Decoder {
    pub(crate) fn new(symbols: &[BinanceSymbol], interval: Interval) -> Decoder {
        Decoder {
            by_symbol: symbols
                .iter()
                .map(|s| {
                    (
                        s.symbol.to_uppercase(),
                        SymbolState {
                            instrument: s.instrument,
                            symbol: s.symbol.to_uppercase(),
                            last_open: s.resume_after,
                            last_trade_id: None,
                        },
                    )
                })
                .collect(),
            interval,
            interval_name: interval.to_string(),
            marks: crate::binance_mark::MarkAggregator::new(
                &symbols
                    .iter()
                    .map(|s| (s.symbol.to_uppercase(), s.instrument))
                    .collect::<Vec<_>>(),
                interval.nanos() / 1_000_000,
            ),
            out: Vec::new(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn bar(
        &mut self,
        symbol: &str,
        open_ms: i64,
        o: Decimal,
        h: Decimal,
        l: Decimal,
        c: Decimal,
        v: Decimal,
    ) -> Result<Outcome, Reject> {
        let st = self
            .by_symbol
            .get_mut(symbol)
            .ok_or_else(|| Reject::UnknownSymbol(symbol.to_string()))?;
        let open = Timestamp::from_epoch(open_ms, vigil_core::TimeUnit::Millis)
            .map_err(|e| Reject::Malformed(e.to_string()))?;
        if l <= Decimal::ZERO || h < l || o < l || o > h || c < l || c > h || v < Decimal::ZERO {
            return Err(Reject::Inconsistent(format!(
                "{symbol} bar at {open}: o {o} h {h} l {l} c {c} v {v}"
            )));
        }
        if let Some(last) = st.last_open {
            if open == last {
                return Ok(Outcome::Duplicate);
            }
            if open < last {
                return Err(Reject::OutOfOrder {
                    symbol: symbol.to_string(),
                    open,
                    last,
                });
            }
        }
        st.last_open = Some(open);
        self.marks.kline_emitted(symbol, open_ms, &mut self.out);
        Ok(Outcome::Event(MarketEvent::Bar(Bar {
            instrument: st.instrument,
            open_time: open,
            close_time: Bar::close_time_of(open, self.interval.nanos()),
            open: o,
            high: h,
            low: l,
            close: c,
            volume: v,
        })))
    }

    /// Decodes one WebSocket text message (raw or combined-stream wrapped).
    pub(crate) fn message(&mut self, text: &str) -> Result<Outcome, Reject> {
        let v: Value =
            serde_json::from_str(text).map_err(|e| Reject::Malformed(format!("not JSON: {e}")))?;
        let data = v.get("data").unwrap_or(&v);
        match data.get("e").and_then(Value::as_str) {
            Some("kline") => {
                let k = data
                    .get("k")
                    .ok_or_else(|| Reject::Malformed("kline without `k`".into()))?;
                let symbol = k
                    .get("s")
                    .and_then(Value::as_str)
                    .ok_or_else(|| Reject::Malformed("kline without `s`".into()))?
                    .to_uppercase();
                if k.get("i").and_then(Value::as_str) != Some(self.interval_name.as_str()) {
                    return Err(Reject::Malformed(format!(
                        "kline interval is not {}",
                        self.interval_name
                    )));
                }
                match k.get("x").and_then(Value::as_bool) {
                    Some(true) => {}
                    Some(false) => return Ok(Outcome::Ignored), // bar still forming
                    None => return Err(Reject::Malformed("kline without `x`".into())),
                }
                let open_ms = int(k, "t")?;
                self.bar(
                    &symbol,
                    open_ms,
                    dec(k, "o")?,
                    dec(k, "h")?,
                    dec(k, "l")?,
                    dec(k, "c")?,
                    dec(k, "v")?,
                )
            }
            Some("trade") => {
                let symbol = data
                    .get("s")
                    .and_then(Value::as_str)
                    .ok_or_else(|| Reject::Malformed("trade without `s`".into()))?
                    .to_uppercase();
                let st = self
                    .by_symbol
                    .get_mut(&symbol)
                    .ok_or_else(|| Reject::UnknownSymbol(symbol.clone()))?;
                let id = int(data, "t")? as u64;
                if st.last_trade_id.is_some_and(|last| id <= last) {
                    return Ok(Outcome::Duplicate);
                }
                let price = dec(data, "p")?;
                let qty = dec(data, "q")?;
                if price <= Decimal::ZERO || qty <= Decimal::ZERO {
                    return Err(Reject::Inconsistent(format!(
                        "{symbol} trade {id}: price {price} qty {qty}"
                    )));
                }
                let ts = Timestamp::from_epoch(int(data, "T")?, vigil_core::TimeUnit::Millis)
                    .map_err(|e| Reject::Malformed(e.to_string()))?;
                let buyer_is_maker = data
                    .get("m")
                    .and_then(Value::as_bool)
                    .ok_or_else(|| Reject::Malformed("trade without `m`".into()))?;
                st.last_trade_id = Some(id);
                Ok(Outcome::Event(MarketEvent::Trade(Trade {
                    instrument: st.instrument,
                    ts,
                    price,
                    qty,
                    // The buyer was the maker: the seller hit the bid.
                    aggressor: if buyer_is_maker {
                        Side::Sell
                    } else {
                        Side::Buy
                    },
                })))
            }
            Some("markPriceUpdate") => {
                let symbol = data
                    .get("s")
                    .and_then(Value::as_str)
                    .ok_or_else(|| Reject::Malformed("markPriceUpdate without `s`".into()))?
                    .to_uppercase();
                if !self.by_symbol.contains_key(&symbol) {
                    return Err(Reject::UnknownSymbol(symbol));
                }
                self.marks
                    .update(
                        &symbol,
                        int(data, "E")?,
                        dec(data, "p")?,
                        dec(data, "r")?,
                        int(data, "T")?,
                        &mut self.out,
                    )
                    .map_err(Reject::Inconsistent)?;
                Ok(Outcome::Ignored)
            }
            Some(other) => Err(Reject::Malformed(format!(
                "unexpected event type `{other}`"
            ))),
            None if data.get("result").is_some() => Ok(Outcome::Ignored), // subscription ack
            None => Err(Reject::Malformed("no event type `e`".into())),
        }
    }

    /// Decodes one REST kline row `[openTime, "o", "h", "l", "c", "v", closeTime, …]`.
    fn kline_row(&mut self, symbol: &str, row: &Value, now_ms: i64) -> Result<Outcome, Reject> {
        let a = row
            .as_array()
            .ok_or_else(|| Reject::Malformed("kline row is not an array".into()))?;
        let num = |i: usize| -> Result<Decimal, Reject> {
            a.get(i)
                .and_then(Value::as_str)
                .and_then(|s| crate::parse::parse_decimal(s.as_bytes()))
                .ok_or_else(|| Reject::Malformed(format!("kline row field {i}")))
        };
        let open_ms = a
            .first()
            .and_then(Value::as_i64)
            .ok_or_else(|| Reject::Malformed("kline row open time".into()))?;
        let close_ms = a
            .get(6)
            .and_then(Value::as_i64)
            .ok_or_else(|| Reject::Malformed("kline row close time".into()))?;
        if close_ms >= now_ms {
            return Ok(Outcome::Ignored); // not closed yet: the stream will deliver it
        }
        self.bar(symbol, open_ms, num(1)?, num(2)?, num(3)?, num(4)?, num(5)?)
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Sends what the decoder released besides a message's own event.
async fn drain(decoder: &mut Decoder, tx: &mpsc::Sender<MarketEvent>) -> bool {
    for ev in std::mem::take(&mut decoder.out) {
        if !emit(tx, ev).await {
            return false;
        }
    }
    true
}

/// Sends an event; `false` when the consumer is gone.
async fn emit(tx: &mpsc::Sender<MarketEvent>, ev: MarketEvent) -> bool {
    tx.send(ev).await.is_ok()
}

fn record_reject(stats: &FeedStats, r: &Reject) {
    FeedStats::inc(&stats.rejects);
    tracing::warn!(reason = ?r, "binance feed: input rejected");
}

/// Fetches closed bars after each symbol's last bar from REST, in pages of 1000.
async fn gap_fill(
    client: &reqwest::Client,
    cfg: &BinanceFeedOptions,
    decoder: &mut Decoder,
    tx: &mpsc::Sender<MarketEvent>,
    stats: &FeedStats,
) -> bool {
    let symbols: Vec<(String, Option<Timestamp>)> = decoder
        .by_symbol
        .values()
        .map(|s| (s.symbol.clone(), s.last_open))
        .collect();
    for (symbol, last) in symbols {
        let Some(mut from) = last else { continue };
        loop {
            let start_ms = from.nanos() / 1_000_000 + cfg.interval.nanos() / 1_000_000;
            let url = format!(
                "{}{}?symbol={symbol}&interval={}&startTime={start_ms}&limit=1000",
                cfg.rest_url, cfg.rest_klines_path, decoder.interval_name
            );
            let rows: Vec<Value> = match client.get(&url).send().await {
                Ok(r) if r.status().is_success() => match r.json().await {
                    Ok(v) => v,
                    Err(e) => {
                        FeedStats::inc(&stats.rejects);
                        tracing::warn!(error = %e, %symbol, "binance gap fill: malformed klines response");
                        break;
                    }
                },
                Ok(r) => {
                    tracing::warn!(status = %r.status(), %symbol, "binance gap fill: HTTP error");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, %symbol, "binance gap fill: request failed");
                    break;
                }
            };
            let n = rows.len();
            let now = now_ms();
            for row in &rows {
                match decoder.kline_row(&symbol, row, now) {
                    Ok(Outcome::Event(ev)) => {
                        FeedStats::inc(&stats.gap_filled);
                        if !emit(tx, ev).await || !drain(decoder, tx).await {
                            return false;
                        }
                    }
                    Ok(Outcome::Duplicate) => FeedStats::inc(&stats.duplicates),
                    Ok(Outcome::Ignored) => {}
                    Err(r) => record_reject(stats, &r),
                }
            }
            match decoder.by_symbol.get(&symbol).and_then(|s| s.last_open) {
                Some(l) if n == 1000 && l > from => from = l,
                _ => break,
            }
        }
    }
    true
}

/// Runs the feed until the receiver is dropped. Never returns an error: every
/// failure is logged, counted and followed by a reconnect.
pub async fn run_binance_feed(
    cfg: BinanceFeedOptions,
    symbols: Vec<BinanceSymbol>,
    tx: mpsc::Sender<MarketEvent>,
    stats: Arc<FeedStats>,
) {
    let mut decoder = Decoder::new(&symbols, cfg.interval);
    let mut streams: Vec<String> = Vec::new();
    for s in &symbols {
        let lower = s.symbol.to_lowercase();
        streams.push(format!("{lower}@kline_{}", decoder.interval_name));
        if cfg.trades {
            streams.push(format!("{lower}@trade"));
        }
        if cfg.mark_price {
            streams.push(format!("{lower}@markPrice@1s"));
        }
    }
    let url = format!(
        "{}/stream?streams={}",
        cfg.ws_url.trim_end_matches('/'),
        streams.join("/")
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    let mut backoff = cfg.reconnect_min;
    loop {
        if tx.is_closed() {
            return;
        }
        match tokio_tungstenite::connect_async(url.as_str()).await {
            Ok((mut ws, _)) => {
                tracing::info!(%url, "binance feed connected");
                backoff = cfg.reconnect_min;
                if !gap_fill(&client, &cfg, &mut decoder, &tx, &stats).await {
                    return;
                }
                loop {
                    let msg = match tokio::time::timeout(cfg.idle_timeout, ws.next()).await {
                        Err(_) => {
                            tracing::warn!(
                                "binance feed: no message within the idle timeout; reconnecting"
                            );
                            break;
                        }
                        Ok(None) => break,
                        Ok(Some(Err(e))) => {
                            tracing::warn!(error = %e, "binance feed: connection error");
                            break;
                        }
                        Ok(Some(Ok(m))) => m,
                    };
                    FeedStats::inc(&stats.messages);
                    match msg {
                        Message::Text(text) => {
                            match decoder.message(text.as_str()) {
                                Ok(Outcome::Event(ev)) => {
                                    if !emit(&tx, ev).await {
                                        return;
                                    }
                                }
                                Ok(Outcome::Duplicate) => FeedStats::inc(&stats.duplicates),
                                Ok(Outcome::Ignored) => {}
                                Err(r) => record_reject(&stats, &r),
                            }
                            if !drain(&mut decoder, &tx).await {
                                return;
                            }
                        }
                        Message::Ping(_) => {
                            // tungstenite queued the pong; flushing sends it now.
                            if ws.flush().await.is_err() {
                                break;
                            }
                            FeedStats::inc(&stats.pongs);
                        }
                        Message::Close(_) => break,
                        _ => {}
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, %url, "binance feed: connect failed"),
        }
        FeedStats::inc(&stats.reconnects);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(cfg.reconnect_max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoder() -> Decoder {
        Decoder::new(
            &[BinanceSymbol {
                instrument: InstrumentId(0),
                symbol: "BTCUSDT".into(),
                resume_after: None,
            }],
            "1m".parse().unwrap(),
        )
    }

    fn kline(t: i64, closed: bool, o: &str, h: &str, l: &str, c: &str) -> String {
        format!(
            r#"{{"stream":"btcusdt@kline_1m","data":{{"e":"kline","E":{t},"s":"BTCUSDT","k":{{"t":{t},"T":{},"s":"BTCUSDT","i":"1m","o":"{o}","c":"{c}","h":"{h}","l":"{l}","v":"12.5","n":10,"x":{closed},"q":"1"}}}}}}"#,
            t + 59_999
        )
    }

    #[test]
    fn decodes_the_real_wire_format() {
        let mut d = decoder();
        match d
            .message(&kline(1_640_995_200_000, true, "100", "110", "90", "105"))
            .unwrap()
        {
            Outcome::Event(MarketEvent::Bar(b)) => {
                assert_eq!(b.open_time, Timestamp::from_secs(1_640_995_200));
                assert_eq!(b.close_time, Timestamp::from_secs(1_640_995_260));
                assert_eq!(b.close, Decimal::from(105));
            }
            _ => panic!("no bar"),
        }
        assert!(matches!(
            d.message(&kline(1_640_995_260_000, false, "1", "1", "1", "1")),
            Ok(Outcome::Ignored)
        ));
        let trade = r#"{"e":"trade","E":1,"s":"BTCUSDT","t":12345,"p":"46319.01","q":"0.002","T":1640995201000,"m":true}"#;
        match d.message(trade).unwrap() {
            Outcome::Event(MarketEvent::Trade(t)) => {
                assert_eq!(t.aggressor, Side::Sell);
                assert_eq!(t.price.to_string(), "46319.01");
            }
            _ => panic!("no trade"),
        }
        assert!(matches!(d.message(trade), Ok(Outcome::Duplicate)));
    }

    /// Binance's `markPriceUpdate` wire format (combined stream).
    fn mark(e: i64, p: &str, r: &str, next: i64) -> String {
        format!(
            r#"{{"stream":"btcusdt@markPrice@1s","data":{{"e":"markPriceUpdate","E":{e},"s":"BTCUSDT","p":"{p}","P":"{p}","i":"{p}","r":"{r}","T":{next}}}}}"#
        )
    }

    /// What the run loop sends for one message: its own event, then what the
    /// decoder released.
    fn sent(d: &mut Decoder, msg: &str) -> Vec<String> {
        let mut v = Vec::new();
        if let Ok(Outcome::Event(e)) = d.message(msg) {
            v.push(e);
        }
        v.extend(std::mem::take(&mut d.out));
        v.iter()
            .map(|e| match e {
                MarketEvent::Bar(b) => format!("bar {}", b.close_time),
                MarketEvent::Mark(b) => format!("mark {} {}", b.close_time, b.close),
                MarketEvent::Funding(f) => format!("funding {} {}", f.ts, f.rate),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn mark_prices_become_bars_after_their_kline_and_funding_follows() {
        let mut d = decoder();
        let t0 = 1_640_995_200_000;
        let due = t0 + 60_000;
        assert!(sent(&mut d, &mark(t0 + 1_000, "100", "0.0001", due)).is_empty());
        assert!(sent(&mut d, &mark(t0 + 30_000, "98", "0.0002", due)).is_empty());
        // The next minute's first mark (at the funding time) completes the bar;
        // the kline of that minute has not arrived: nothing yet.
        assert!(sent(&mut d, &mark(due, "99", "0.0003", due + 28_800_000)).is_empty());
        // The kline arrives: it, then the minute's mark bar, then the funding.
        assert_eq!(
            sent(&mut d, &kline(t0, true, "100", "101", "97", "99")),
            [
                "bar 2022-01-01T00:01:00Z",
                "mark 2022-01-01T00:01:00Z 98",
                "funding 2022-01-01T00:01:00Z 0.0002"
            ]
        );
        // A malformed or foreign mark update is refused, not fatal.
        assert!(d.message(&mark(due, "-1", "0", due)).is_err());
        assert!(matches!(
            d.message(r#"{"e":"markPriceUpdate","E":1,"s":"ETHUSDT","p":"1","r":"0","T":2}"#),
            Err(Reject::UnknownSymbol(_))
        ));
    }

    #[test]
    fn rejects_bad_input_without_failing() {
        let mut d = decoder();
        assert!(matches!(d.message("{nope"), Err(Reject::Malformed(_))));
        assert!(matches!(
            d.message(r#"{"e":"kline"}"#),
            Err(Reject::Malformed(_))
        ));
        assert!(matches!(
            d.message(&kline(60_000, true, "100", "90", "95", "95")),
            Err(Reject::Inconsistent(_))
        ));
        let eth = r#"{"e":"trade","s":"ETHUSDT","t":1,"p":"1","q":"1","T":1,"m":false}"#;
        assert!(matches!(d.message(eth), Err(Reject::UnknownSymbol(_))));
        d.message(&kline(120_000, true, "1", "1", "1", "1"))
            .unwrap();
        assert!(matches!(
            d.message(&kline(120_000, true, "1", "1", "1", "1")),
            Ok(Outcome::Duplicate)
        ));
        assert!(matches!(
            d.message(&kline(60_000, true, "1", "1", "1", "1")),
            Err(Reject::OutOfOrder { .. })
        ));
    }
}
