//! The signed REST client: timestamps synced to the server, `recvWindow`,
//! HMAC-SHA256 signatures, the used-weight header, 429/418 back-off, and errors that
//! say whether an order's fate is known.

use std::str::FromStr;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;
use serde_json::Value;
use vigil_core::Side;

use crate::credentials::Credentials;
use crate::filters::SymbolFilters;
use crate::sign::sign;

/// Where and how to reach the exchange.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// REST base URL (`https://api.binance.com`, the testnet, or a mock).
    pub base_url: String,
    /// `recvWindow` in ms (1–60000; default 5000).
    pub recv_window_ms: u64,
    /// Request timeout. A timed-out order request has an UNKNOWN outcome.
    pub timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            base_url: "https://api.binance.com".into(),
            recv_window_ms: 5000,
            timeout: Duration::from_secs(10),
        }
    }
}

/// An error from the exchange or the way to it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BinanceError {
    /// The exchange answered with an error: the request was refused and did nothing.
    #[error("binance error {code} (HTTP {status}): {msg}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Binance error code, e.g. -2010.
        code: i64,
        /// Its message.
        msg: String,
    },
    /// HTTP 429: too many requests; nothing more is sent until `retry_after` passes.
    #[error("rate limited (HTTP 429): retry after {retry_after:?}")]
    RateLimited {
        /// How long to wait.
        retry_after: Duration,
    },
    /// HTTP 418: the IP is banned for `retry_after`.
    #[error("IP banned (HTTP 418): retry after {retry_after:?}")]
    Banned {
        /// How long to wait.
        retry_after: Duration,
    },
    /// A 5xx, a timeout or a connection lost after sending: the request may or may
    /// not have been executed. For an order: query it, never assume it failed.
    #[error("outcome unknown: {0}")]
    Unknown(String),
    /// The request could not be sent at all (connection refused): nothing happened.
    #[error("not sent: {0}")]
    NotSent(String),
    /// The answer could not be understood.
    #[error("unexpected answer from {path}: {msg}")]
    Decode {
        /// The endpoint.
        path: String,
        /// What was wrong.
        msg: String,
    },
}

impl BinanceError {
    /// `-2013 Order does not exist.`
    pub fn is_unknown_order(&self) -> bool {
        matches!(
            self,
            BinanceError::Api {
                code: -2013 | -2011,
                ..
            }
        )
    }
}

/// An order as the exchange reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderInfo {
    /// Symbol.
    pub symbol: String,
    /// The exchange's order id.
    pub order_id: u64,
    /// Our client order id.
    pub client_order_id: String,
    /// Limit price (0 for market orders).
    pub price: Decimal,
    /// Ordered quantity.
    pub orig_qty: Decimal,
    /// Filled quantity.
    pub executed_qty: Decimal,
    /// Filled quote amount.
    pub cumulative_quote_qty: Decimal,
    /// NEW, PARTIALLY_FILLED, FILLED, CANCELED, REJECTED, EXPIRED…
    pub status: String,
    /// BUY or SELL.
    pub side: String,
    /// Fills in the FULL response of a new order (empty otherwise).
    pub fills: Vec<VenueFill>,
}

/// One trade of an order.
#[derive(Clone, Debug, PartialEq)]
pub struct VenueFill {
    /// Trade id (unique per symbol).
    pub trade_id: u64,
    /// Price.
    pub price: Decimal,
    /// Base quantity.
    pub qty: Decimal,
    /// Commission charged.
    pub commission: Decimal,
    /// Asset of the commission.
    pub commission_asset: String,
    /// Whether the order was the maker.
    pub is_maker: bool,
    /// Trade time, ms.
    pub time_ms: i64,
}

/// A balance line of the account.
#[derive(Clone, Debug, PartialEq)]
pub struct AccountBalance {
    /// Asset.
    pub asset: String,
    /// Free.
    pub free: Decimal,
    /// Locked in orders.
    pub locked: Decimal,
}

/// An order to place.
#[derive(Clone, Debug, PartialEq)]
pub struct NewOrder {
    /// Symbol.
    pub symbol: String,
    /// Buy or sell.
    pub side: Side,
    /// `Some(price)` for LIMIT, `None` for MARKET.
    pub limit_price: Option<Decimal>,
    /// GTC, IOC or FOK (limits only).
    pub time_in_force: &'static str,
    /// Base quantity.
    pub quantity: Option<Decimal>,
    /// Quote amount (market orders only).
    pub quote_quantity: Option<Decimal>,
    /// Our idempotency key.
    pub client_order_id: String,
}

/// The signed REST client.
pub struct BinanceClient {
    http: reqwest::Client,
    config: ClientConfig,
    credentials: Credentials,
    time_offset_ms: AtomicI64,
    used_weight: AtomicU32,
    blocked_until: Mutex<Option<(Instant, bool)>>,
    /// USDⓈ-M futures (`/fapi`) rather than spot (`/api`).
    futures: bool,
}

impl std::fmt::Debug for BinanceClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BinanceClient")
            .field("base_url", &self.config.base_url)
            .field("key", &self.credentials.key)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Percent-encodes a query value (RFC 3986 unreserved characters pass through).
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `key=value&…`, values encoded.
pub fn query_string(params: &[(&str, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub(crate) fn dec(v: &Value, key: &str) -> Decimal {
    v.get(key)
        .and_then(|x| match x {
            Value::String(s) => Decimal::from_str(s).ok(),
            Value::Number(n) => Decimal::from_str(&n.to_string()).ok(),
            _ => None,
        })
        .unwrap_or_default()
}

/// One trade from spot `myTrades` / order `fills`, or futures `userTrades`.
pub(crate) fn parse_fill(v: &Value) -> VenueFill {
    VenueFill {
        trade_id: v
            .get("tradeId")
            .or_else(|| v.get("id"))
            .and_then(Value::as_u64)
            .unwrap_or(0),
        price: dec(v, "price"),
        qty: dec(v, "qty"),
        // Futures documents commissions with a sign; the charge is its size.
        commission: dec(v, "commission").abs(),
        commission_asset: v
            .get("commissionAsset")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        is_maker: v
            .get("isMaker")
            .or_else(|| v.get("maker"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
        time_ms: v.get("time").and_then(Value::as_i64).unwrap_or(0),
    }
}

pub(crate) fn parse_order(path: &str, v: &Value) -> Result<OrderInfo, BinanceError> {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let bad = |msg: &str| BinanceError::Decode {
        path: path.to_string(),
        msg: msg.to_string(),
    };
    Ok(OrderInfo {
        symbol: s("symbol").ok_or_else(|| bad("no symbol"))?,
        order_id: v
            .get("orderId")
            .and_then(Value::as_u64)
            .ok_or_else(|| bad("no orderId"))?,
        client_order_id: s("clientOrderId").ok_or_else(|| bad("no clientOrderId"))?,
        price: dec(v, "price"),
        orig_qty: dec(v, "origQty"),
        executed_qty: dec(v, "executedQty"),
        cumulative_quote_qty: if v.get("cumQuote").is_some() {
            dec(v, "cumQuote") // USDⓈ-M futures
        } else {
            dec(v, "cummulativeQuoteQty")
        },
        status: s("status").ok_or_else(|| bad("no status"))?,
        side: s("side").unwrap_or_default(),
        fills: v
            .get("fills")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(parse_fill).collect())
            .unwrap_or_default(),
    })
}

impl BinanceClient {
    /// A client; call [`BinanceClient::sync_time`] before signed requests.
    pub fn new(
        config: ClientConfig,
        credentials: Credentials,
    ) -> Result<BinanceClient, BinanceError> {
        if !(1..=60_000).contains(&config.recv_window_ms) {
            return Err(BinanceError::Decode {
                path: "config".into(),
                msg: format!(
                    "recv_window_ms must be 1..=60000, got {}",
                    config.recv_window_ms
                ),
            });
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| BinanceError::NotSent(e.to_string()))?;
        Ok(BinanceClient {
            http,
            config,
            credentials,
            time_offset_ms: AtomicI64::new(0),
            used_weight: AtomicU32::new(0),
            blocked_until: Mutex::new(None),
            futures: false,
        })
    }

    /// The same client for the USDⓈ-M futures API (`/fapi` paths; the base URL
    /// is `https://fapi.binance.com` or a mock).
    pub fn usdm(mut self) -> BinanceClient {
        self.futures = true;
        self
    }

    /// `spot` or `futures`, as this client speaks.
    fn path(&self, spot: &'static str, futures: &'static str) -> &'static str {
        if self.futures {
            futures
        } else {
            spot
        }
    }

    /// A request with the API key and no signature (`USER_STREAM` endpoints:
    /// the listen key).
    pub async fn keyed(&self, method: Method, path: &str) -> Result<Value, BinanceError> {
        self.send(method, path, String::new(), true).await
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The last `X-MBX-USED-WEIGHT-1M` seen.
    pub fn used_weight(&self) -> u32 {
        self.used_weight.load(Ordering::Relaxed)
    }

    /// Server time minus local time, ms (as last synced).
    pub fn time_offset_ms(&self) -> i64 {
        self.time_offset_ms.load(Ordering::Relaxed)
    }

    /// Measures the server clock against ours (`GET /api/v3/time`).
    pub async fn sync_time(&self) -> Result<i64, BinanceError> {
        let path = if self.futures {
            "/fapi/v1/time"
        } else {
            "/api/v3/time"
        };
        let before = now_ms();
        let v = self.send(Method::GET, path, String::new(), false).await?;
        let after = now_ms();
        let server =
            v.get("serverTime")
                .and_then(Value::as_i64)
                .ok_or_else(|| BinanceError::Decode {
                    path: path.into(),
                    msg: "no serverTime".into(),
                })?;
        let offset = server - (before + after) / 2;
        self.time_offset_ms.store(offset, Ordering::Relaxed);
        tracing::debug!(offset_ms = offset, "synced clock with the exchange");
        Ok(offset)
    }

    /// A public (unsigned) GET.
    pub async fn public(
        &self,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<Value, BinanceError> {
        self.send(Method::GET, path, query_string(params), false)
            .await
    }

    /// A signed request: adds `recvWindow` and `timestamp`, signs, sends. On -1021
    /// (timestamp outside the window) it re-syncs the clock and retries once.
    pub async fn signed(
        &self,
        method: Method,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<Value, BinanceError> {
        for attempt in 0..2 {
            let mut all: Vec<(&str, String)> = params.to_vec();
            all.push(("recvWindow", self.config.recv_window_ms.to_string()));
            all.push((
                "timestamp",
                (now_ms() + self.time_offset_ms.load(Ordering::Relaxed)).to_string(),
            ));
            let query = query_string(&all);
            let signature = sign(&self.credentials.secret, &query);
            let full = format!("{query}&signature={signature}");
            match self.send(method.clone(), path, full, true).await {
                Err(BinanceError::Api { code: -1021, .. }) if attempt == 0 => {
                    tracing::warn!(
                        path,
                        "timestamp outside recvWindow; re-syncing the clock and retrying once"
                    );
                    self.sync_time().await?;
                }
                other => return other,
            }
        }
        unreachable!("the loop returns on its second attempt")
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: String,
        signed: bool,
    ) -> Result<Value, BinanceError> {
        if let Some((until, banned)) = *self.blocked_until.lock().unwrap_or_else(|e| e.into_inner())
        {
            let now = Instant::now();
            if now < until {
                let retry_after = until - now;
                return Err(if banned {
                    BinanceError::Banned { retry_after }
                } else {
                    BinanceError::RateLimited { retry_after }
                });
            }
        }
        let url = if query.is_empty() {
            format!("{}{path}", self.config.base_url)
        } else {
            format!("{}{path}?{query}", self.config.base_url)
        };
        let mut req = self.http.request(method, &url);
        if signed {
            req = req.header("X-MBX-APIKEY", self.credentials.key.expose());
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) if e.is_connect() => return Err(BinanceError::NotSent(format!("{path}: {e}"))),
            Err(e) => return Err(BinanceError::Unknown(format!("{path}: {e}"))),
        };
        let status = resp.status();
        if let Some(w) = resp
            .headers()
            .get("x-mbx-used-weight-1m")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
        {
            self.used_weight.store(w, Ordering::Relaxed);
        }
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(Duration::from_secs(60), Duration::from_secs);
        if status == StatusCode::TOO_MANY_REQUESTS || status.as_u16() == 418 {
            let banned = status.as_u16() == 418;
            *self.blocked_until.lock().unwrap_or_else(|e| e.into_inner()) =
                Some((Instant::now() + retry_after, banned));
            tracing::warn!(path, status = status.as_u16(), ?retry_after, "backing off");
            return Err(if banned {
                BinanceError::Banned { retry_after }
            } else {
                BinanceError::RateLimited { retry_after }
            });
        }
        let body = match resp.text().await {
            Ok(b) => b,
            Err(e) => {
                return Err(BinanceError::Unknown(format!(
                    "{path}: reading the answer: {e}"
                )))
            }
        };
        if status.is_server_error() {
            return Err(BinanceError::Unknown(format!(
                "{path}: HTTP {}",
                status.as_u16()
            )));
        }
        let value: Value = serde_json::from_str(&body).map_err(|e| {
            if status.is_success() {
                BinanceError::Unknown(format!("{path}: unreadable answer: {e}"))
            } else {
                BinanceError::Decode {
                    path: path.into(),
                    msg: format!("HTTP {}: {e}", status.as_u16()),
                }
            }
        })?;
        if !status.is_success() {
            return Err(BinanceError::Api {
                status: status.as_u16(),
                code: value.get("code").and_then(Value::as_i64).unwrap_or(0),
                msg: value
                    .get("msg")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            });
        }
        Ok(value)
    }

    /// The filters of `symbol` (`GET /api/v3/exchangeInfo`).
    pub async fn symbol_filters(&self, symbol: &str) -> Result<SymbolFilters, BinanceError> {
        let v = self
            .public("/api/v3/exchangeInfo", &[("symbol", symbol.to_string())])
            .await?;
        v.get("symbols")
            .and_then(Value::as_array)
            .and_then(|a| {
                a.iter()
                    .find(|s| s.get("symbol").and_then(Value::as_str) == Some(symbol))
            })
            .and_then(SymbolFilters::from_exchange_info)
            .ok_or_else(|| BinanceError::Decode {
                path: "/api/v3/exchangeInfo".into(),
                msg: format!("no filters for {symbol}"),
            })
    }

    /// Places an order (`POST /api/v3/order`, FULL response), or only validates it
    /// (`POST /api/v3/order/test`, which returns `None`).
    pub async fn new_order(
        &self,
        order: &NewOrder,
        test_only: bool,
    ) -> Result<Option<OrderInfo>, BinanceError> {
        let mut p: Vec<(&str, String)> = vec![
            ("symbol", order.symbol.clone()),
            (
                "side",
                match order.side {
                    Side::Buy => "BUY".into(),
                    Side::Sell => "SELL".into(),
                },
            ),
        ];
        match order.limit_price {
            Some(price) => {
                p.push(("type", "LIMIT".into()));
                p.push(("timeInForce", order.time_in_force.into()));
                p.push(("price", price.normalize().to_string()));
            }
            None => p.push(("type", "MARKET".into())),
        }
        if let Some(q) = order.quantity {
            p.push(("quantity", q.normalize().to_string()));
        }
        if let Some(q) = order.quote_quantity {
            p.push(("quoteOrderQty", q.normalize().to_string()));
        }
        p.push(("newClientOrderId", order.client_order_id.clone()));
        p.push(("newOrderRespType", "FULL".into()));
        let path = if test_only {
            "/api/v3/order/test"
        } else {
            "/api/v3/order"
        };
        let v = self.signed(Method::POST, path, &p).await?;
        if test_only {
            return Ok(None);
        }
        parse_order(path, &v).map(Some)
    }

    /// The order with our client order id, or `None` if the exchange does not
    /// know it (spot `/api/v3/order`, futures `/fapi/v1/order`).
    pub async fn query_order(
        &self,
        symbol: &str,
        client_order_id: &str,
    ) -> Result<Option<OrderInfo>, BinanceError> {
        let path = self.path("/api/v3/order", "/fapi/v1/order");
        let r = self
            .signed(
                Method::GET,
                path,
                &[
                    ("symbol", symbol.to_string()),
                    ("origClientOrderId", client_order_id.to_string()),
                ],
            )
            .await;
        match r {
            Ok(v) => parse_order(path, &v).map(Some),
            Err(e) if e.is_unknown_order() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Cancels by client order id.
    pub async fn cancel_order(
        &self,
        symbol: &str,
        client_order_id: &str,
    ) -> Result<OrderInfo, BinanceError> {
        let path = self.path("/api/v3/order", "/fapi/v1/order");
        let v = self
            .signed(
                Method::DELETE,
                path,
                &[
                    ("symbol", symbol.to_string()),
                    ("origClientOrderId", client_order_id.to_string()),
                ],
            )
            .await?;
        parse_order(path, &v)
    }

    /// Working orders (of one symbol, or all).
    pub async fn open_orders(&self, symbol: Option<&str>) -> Result<Vec<OrderInfo>, BinanceError> {
        let params: Vec<(&str, String)> = symbol
            .map(|s| ("symbol", s.to_string()))
            .into_iter()
            .collect();
        let path = self.path("/api/v3/openOrders", "/fapi/v1/openOrders");
        let v = self.signed(Method::GET, path, &params).await?;
        v.as_array()
            .ok_or_else(|| BinanceError::Decode {
                path: path.into(),
                msg: "not a list".into(),
            })?
            .iter()
            .map(|o| parse_order(path, o))
            .collect()
    }

    /// The trades of one order (`GET /api/v3/myTrades`, futures `/fapi/v1/userTrades`).
    pub async fn order_trades(
        &self,
        symbol: &str,
        order_id: u64,
    ) -> Result<Vec<VenueFill>, BinanceError> {
        let v = self
            .signed(
                Method::GET,
                self.path("/api/v3/myTrades", "/fapi/v1/userTrades"),
                &[
                    ("symbol", symbol.to_string()),
                    ("orderId", order_id.to_string()),
                ],
            )
            .await?;
        Ok(v.as_array()
            .map(|a| a.iter().map(parse_fill).collect())
            .unwrap_or_default())
    }

    /// Non-zero balances (`GET /api/v3/account`).
    pub async fn balances(&self) -> Result<Vec<AccountBalance>, BinanceError> {
        let v = self.signed(Method::GET, "/api/v3/account", &[]).await?;
        Ok(v.get("balances")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|b| AccountBalance {
                        asset: b
                            .get("asset")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        free: dec(b, "free"),
                        locked: dec(b, "locked"),
                    })
                    .filter(|b| !(b.free.is_zero() && b.locked.is_zero()))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Whether the API key may withdraw funds (`GET /sapi/v1/account/apiRestrictions`).
    pub async fn key_can_withdraw(&self) -> Result<bool, BinanceError> {
        let v = self
            .signed(Method::GET, "/sapi/v1/account/apiRestrictions", &[])
            .await?;
        v.get("enableWithdrawals")
            .and_then(Value::as_bool)
            .ok_or_else(|| BinanceError::Decode {
                path: "/sapi/v1/account/apiRestrictions".into(),
                msg: "no enableWithdrawals".into(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(
            query_string(&[
                ("a", "x y".into()),
                ("symbols", "[\"BTCUSDT\"]".into()),
                ("c", "vgl-1.2_3~".into())
            ]),
            "a=x%20y&symbols=%5B%22BTCUSDT%22%5D&c=vgl-1.2_3~"
        );
    }
}
