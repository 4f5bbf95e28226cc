//! The futures mock's REST routes.

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Response, StatusCode};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::book::order_json;
use super::UsdmInner;
use crate::filters::SymbolFilters;
use crate::mock::{authenticate, error, reply, Front, MockVenue};

impl MockVenue for UsdmInner {
    fn front(&mut self) -> &mut Front {
        &mut self.front
    }
    fn route(
        &mut self,
        method: &Method,
        path: &str,
        query: &str,
        headers: &HeaderMap,
        partial: Option<Decimal>,
    ) -> Response<Body> {
        let w = self.front.weight;
        match (method.as_str(), path) {
            ("GET", "/fapi/v1/time") => {
                reply(StatusCode::OK, w, json!({"serverTime": self.server_time()}))
            }
            ("GET", "/fapi/v1/exchangeInfo") => {
                let mut symbols: Vec<Value> = self
                    .symbols
                    .values()
                    .map(|s| symbol_info(&s.spec.filters))
                    .collect();
                symbols.sort_by(|a, b| a["symbol"].as_str().cmp(&b["symbol"].as_str()));
                reply(
                    StatusCode::OK,
                    w,
                    json!({"serverTime": self.server_time(), "symbols": symbols}),
                )
            }
            (_, "/fapi/v1/listenKey") => self.listen_key(method, headers),
            _ => {
                let auth = (self.config.api_key.as_str(), self.config.secret.as_str());
                let p = match authenticate(auth, self.server_time(), w, query, headers) {
                    Ok(p) => p,
                    Err(r) => return *r,
                };
                self.signed(method, path, &p, partial)
            }
        }
    }
}

impl UsdmInner {
    fn listen_key(&mut self, method: &Method, headers: &HeaderMap) -> Response<Body> {
        let w = self.front.weight;
        let key = headers.get("x-mbx-apikey").and_then(|v| v.to_str().ok());
        if key != Some(self.config.api_key.as_str()) {
            return error(
                StatusCode::UNAUTHORIZED,
                w,
                -2015,
                "Invalid API-key, IP, or permissions for action.",
            );
        }
        match method.as_str() {
            "POST" => {
                let k = self
                    .listen_key
                    .get_or_insert_with(|| {
                        format!("lk{:x}{:x}", rand::random::<u64>(), rand::random::<u64>())
                    })
                    .clone();
                reply(StatusCode::OK, w, json!({"listenKey": k}))
            }
            "PUT" if self.listen_key.is_some() => reply(StatusCode::OK, w, json!({})),
            "PUT" => error(
                StatusCode::BAD_REQUEST,
                w,
                -1125,
                "This listenKey does not exist.",
            ),
            "DELETE" => {
                self.listen_key = None;
                let _ = self.close.send(());
                reply(StatusCode::OK, w, json!({}))
            }
            _ => error(StatusCode::NOT_FOUND, w, -1000, "Unknown endpoint."),
        }
    }

    fn signed(
        &mut self,
        method: &Method,
        path: &str,
        p: &HashMap<String, String>,
        partial: Option<Decimal>,
    ) -> Response<Body> {
        let w = self.front.weight;
        let ok = |v: Value| reply(StatusCode::OK, w, v);
        match (method.as_str(), path) {
            ("POST", "/fapi/v1/order") => self.new_order(p, partial),
            ("GET", "/fapi/v1/order") => match self.find(p) {
                Some(i) => ok(order_json(&self.orders[i])),
                None => error(StatusCode::BAD_REQUEST, w, -2013, "Order does not exist."),
            },
            ("DELETE", "/fapi/v1/order") => match self.find(p) {
                Some(i) => self.cancel(i),
                None => error(StatusCode::BAD_REQUEST, w, -2011, "Unknown order sent."),
            },
            ("GET", "/fapi/v1/openOrders") => ok(Value::Array(
                self.orders
                    .iter()
                    .filter(|o| o.status == "NEW" || o.status == "PARTIALLY_FILLED")
                    .filter(|o| p.get("symbol").is_none_or(|s| *s == o.symbol))
                    .map(order_json)
                    .collect(),
            )),
            ("GET", "/fapi/v1/userTrades") => ok(self.user_trades(p)),
            ("GET", "/fapi/v2/positionRisk") => ok(self.position_risk()),
            ("GET", "/fapi/v2/account") => ok(json!({
                "totalWalletBalance": self.wallet.to_string(),
                "availableBalance": self.available().to_string(),
                "assets": [{"asset": self.config.wallet.0, "walletBalance": self.wallet.to_string(),
                            "availableBalance": self.available().to_string()}],
                "positions": self.position_risk(),
            })),
            ("GET", "/fapi/v2/balance") => ok(json!([{
                "accountAlias": "mock", "asset": self.config.wallet.0, "balance": self.wallet.to_string(),
                "crossWalletBalance": self.wallet.to_string(), "crossUnPnl": "0",
                "availableBalance": self.available().to_string(),
                "maxWithdrawAmount": self.available().to_string(), "marginAvailable": true,
                "updateTime": self.server_time()}])),
            ("GET", "/fapi/v1/income") => ok(self.income(p)),
            ("GET", "/fapi/v1/positionSide/dual") => {
                ok(json!({"dualSidePosition": self.config.dual_side}))
            }
            ("POST", "/fapi/v1/marginType") => self.margin_type(p),
            ("POST", "/fapi/v1/leverage") => self.leverage(p),
            ("GET", "/fapi/v1/leverageBracket") => ok(json!([{
                "symbol": p.get("symbol").cloned().unwrap_or_default(), "notionalCoef": 1.0,
                "brackets": [{"bracket": 1, "initialLeverage": 125, "notionalCap": 1_000_000_000_000i64,
                              "notionalFloor": 0, "maintMarginRatio": 0.004, "cum": 0.0}]}])),
            _ => error(StatusCode::NOT_FOUND, w, -1000, "Unknown endpoint."),
        }
    }

    fn user_trades(&self, p: &HashMap<String, String>) -> Value {
        let order_id: Option<u64> = p.get("orderId").and_then(|v| v.parse().ok());
        Value::Array(
            self.trades
                .iter()
                .filter(|t| p.get("symbol").is_some_and(|s| *s == t.symbol))
                .filter(|t| order_id.is_none_or(|id| id == t.order_id))
                .map(|t| {
                    json!({"symbol": t.symbol, "id": t.id, "orderId": t.order_id, "side": t.side,
                        "price": t.price.to_string(), "qty": t.qty.to_string(),
                        "quoteQty": (t.price * t.qty).to_string(), "realizedPnl": t.realized.to_string(),
                        "commission": t.commission.to_string(), "commissionAsset": self.config.wallet.0,
                        "time": t.time, "buyer": t.side == "BUY", "maker": t.maker, "positionSide": "BOTH"})
                })
                .collect(),
        )
    }

    fn position_risk(&self) -> Value {
        let mut v: Vec<Value> = self
            .symbols
            .iter()
            .map(|(sym, s)| {
                json!({"symbol": sym, "positionAmt": s.amount.to_string(), "entryPrice": s.entry.to_string(),
                    "markPrice": s.mark.to_string(), "unRealizedProfit": self.unrealized(s).to_string(),
                    "liquidationPrice": "0", "leverage": s.leverage.to_string(), "marginType": s.margin_type,
                    "isolatedMargin": "0", "isolatedWallet": "0", "isAutoAddMargin": "false",
                    "positionSide": "BOTH", "maxNotionalValue": "1000000000", "updateTime": self.server_time()})
            })
            .collect();
        v.sort_by(|a, b| a["symbol"].as_str().cmp(&b["symbol"].as_str()));
        Value::Array(v)
    }

    fn income(&self, p: &HashMap<String, String>) -> Value {
        let start: i64 = p.get("startTime").and_then(|v| v.parse().ok()).unwrap_or(0);
        let limit: usize = p.get("limit").and_then(|v| v.parse().ok()).unwrap_or(100);
        Value::Array(
            self.income
                .iter()
                .filter(|r| p.get("symbol").is_none_or(|s| r["symbol"] == *s.as_str()))
                .filter(|r| {
                    p.get("incomeType")
                        .is_none_or(|t| r["incomeType"] == *t.as_str())
                })
                .filter(|r| r["time"].as_i64().unwrap_or(0) >= start)
                .take(limit)
                .cloned()
                .collect(),
        )
    }

    fn margin_type(&mut self, p: &HashMap<String, String>) -> Response<Body> {
        let w = self.front.weight;
        let want = match p.get("marginType").map(String::as_str) {
            Some("ISOLATED") => "isolated",
            Some("CROSSED") => "cross",
            _ => return error(StatusCode::BAD_REQUEST, w, -1102, "Invalid marginType."),
        };
        let Some(s) = p.get("symbol").and_then(|s| self.symbols.get_mut(s)) else {
            return error(StatusCode::BAD_REQUEST, w, -1121, "Invalid symbol.");
        };
        if s.margin_type == want {
            return error(
                StatusCode::BAD_REQUEST,
                w,
                -4046,
                "No need to change margin type.",
            );
        }
        if !s.amount.is_zero() {
            return error(
                StatusCode::BAD_REQUEST,
                w,
                -4048,
                "Margin type cannot be changed if there exists position.",
            );
        }
        s.margin_type = want.into();
        reply(StatusCode::OK, w, json!({"code": 200, "msg": "success"}))
    }

    fn leverage(&mut self, p: &HashMap<String, String>) -> Response<Body> {
        let w = self.front.weight;
        let lev: Option<u32> = p
            .get("leverage")
            .and_then(|v| v.parse().ok())
            .filter(|l| (1..=125).contains(l));
        let Some(lev) = lev else {
            return error(StatusCode::BAD_REQUEST, w, -4028, "Leverage is not valid.");
        };
        let Some((sym, s)) = p
            .get("symbol")
            .and_then(|k| self.symbols.get_mut(k).map(|s| (k.clone(), s)))
        else {
            return error(StatusCode::BAD_REQUEST, w, -1121, "Invalid symbol.");
        };
        s.leverage = lev;
        reply(
            StatusCode::OK,
            w,
            json!({"leverage": lev, "maxNotionalValue": "1000000000", "symbol": sym}),
        )
    }
}

fn symbol_info(f: &SymbolFilters) -> Value {
    json!({"symbol": f.symbol, "pair": f.symbol, "contractType": "PERPETUAL", "status": "TRADING",
    "baseAsset": f.base_asset, "quoteAsset": f.quote_asset, "marginAsset": f.quote_asset,
    "filters": [
        {"filterType": "PRICE_FILTER", "minPrice": f.min_price.to_string(), "maxPrice": f.max_price.to_string(), "tickSize": f.tick_size.to_string()},
        {"filterType": "LOT_SIZE", "minQty": f.min_qty.to_string(), "maxQty": f.max_qty.to_string(), "stepSize": f.step_size.to_string()},
        {"filterType": "MARKET_LOT_SIZE", "minQty": f.min_qty.to_string(), "maxQty": f.max_qty.to_string(), "stepSize": f.step_size.to_string()},
        {"filterType": "MIN_NOTIONAL", "notional": f.min_notional.to_string()},
        {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500", "multiplierDecimal": "4"},
        {"filterType": "MAX_NUM_ORDERS", "limit": 200}
    ]})
}
