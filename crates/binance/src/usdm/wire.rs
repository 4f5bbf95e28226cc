//! The USDⓈ-M futures wire format: positions, income records and the
//! user-data stream's events, parsed from the exchange's JSON.

use rust_decimal::Decimal;
use serde_json::Value;

use crate::client::{dec, BinanceError, VenueFill};

/// One line of `GET /fapi/v2/positionRisk` (one-way mode: `positionSide` BOTH).
#[derive(Clone, Debug, PartialEq)]
pub struct PositionRisk {
    /// Symbol.
    pub symbol: String,
    /// Signed position (> 0 long).
    pub amount: Decimal,
    /// Entry price.
    pub entry_price: Decimal,
    /// Mark price.
    pub mark_price: Decimal,
    /// Liquidation price (0: none).
    pub liquidation_price: Decimal,
    /// Leverage.
    pub leverage: u32,
    /// `isolated` or `cross`.
    pub margin_type: String,
    /// An isolated position's wallet.
    pub isolated_wallet: Decimal,
}

impl PositionRisk {
    pub(crate) fn parse(v: &Value) -> Option<PositionRisk> {
        Some(PositionRisk {
            symbol: v.get("symbol")?.as_str()?.to_string(),
            amount: dec(v, "positionAmt"),
            entry_price: dec(v, "entryPrice"),
            mark_price: dec(v, "markPrice"),
            liquidation_price: dec(v, "liquidationPrice"),
            leverage: text_or_number(v, "leverage")?,
            margin_type: v
                .get("marginType")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            isolated_wallet: dec(v, "isolatedWallet"),
        })
    }
}

fn text_or_number(v: &Value, key: &str) -> Option<u32> {
    match v.get(key)? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        _ => None,
    }
}

/// A funding record from `GET /fapi/v1/income?incomeType=FUNDING_FEE`.
#[derive(Clone, Debug, PartialEq)]
pub struct FundingIncome {
    /// Symbol.
    pub symbol: String,
    /// What the account received (negative: paid).
    pub income: Decimal,
    /// Asset (USDT, USDC…).
    pub asset: String,
    /// Funding time, ms.
    pub time_ms: i64,
    /// The exchange's transaction id.
    pub tran_id: u64,
}

impl FundingIncome {
    pub(crate) fn parse(v: &Value) -> Result<FundingIncome, BinanceError> {
        let bad = |msg: &str| BinanceError::Decode {
            path: "/fapi/v1/income".into(),
            msg: format!("{msg}: {v}"),
        };
        Ok(FundingIncome {
            symbol: v
                .get("symbol")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("no symbol"))?
                .to_string(),
            income: v
                .get("income")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| bad("no income"))?,
            asset: v
                .get("asset")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            time_ms: v
                .get("time")
                .and_then(Value::as_i64)
                .ok_or_else(|| bad("no time"))?,
            tran_id: v.get("tranId").and_then(Value::as_u64).unwrap_or(0),
        })
    }
}

/// An order update from the user-data stream (`ORDER_TRADE_UPDATE`).
#[derive(Clone, Debug, PartialEq)]
pub struct OrderUpdate {
    /// Symbol.
    pub symbol: String,
    /// Client order id (`autoclose-…` / `adl_autoclose` for the exchange's own
    /// liquidation and auto-deleveraging orders).
    pub client_order_id: String,
    /// BUY or SELL.
    pub side: String,
    /// Execution type: NEW, TRADE, CANCELED, EXPIRED, CALCULATED (liquidation)…
    pub execution: String,
    /// Order status after this event.
    pub status: String,
    /// The exchange's order id.
    pub order_id: u64,
    /// Ordered quantity.
    pub orig_qty: Decimal,
    /// Filled so far.
    pub filled_qty: Decimal,
    /// This event's trade, if it is one.
    pub trade: Option<VenueFill>,
}

/// What the user-data stream says.
#[derive(Clone, Debug, PartialEq)]
pub enum UserEvent {
    /// An order changed or traded.
    Order(Box<OrderUpdate>),
    /// Balances or positions changed; `reason` e.g. ORDER, FUNDING_FEE.
    Account {
        /// Why (`m`).
        reason: String,
    },
    /// The listen key expired: the stream must be re-opened.
    ListenKeyExpired,
    /// Anything else (margin calls, config updates): logged, not acted on.
    Other(String),
}

impl UserEvent {
    /// Parses one stream message.
    pub fn parse(text: &str) -> Result<UserEvent, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let kind = v.get("e").and_then(Value::as_str).unwrap_or_default();
        match kind {
            "ORDER_TRADE_UPDATE" => {
                let o = v.get("o").ok_or("ORDER_TRADE_UPDATE without `o`")?;
                parse_order_update(o).map(|u| UserEvent::Order(Box::new(u)))
            }
            "ACCOUNT_UPDATE" => Ok(UserEvent::Account {
                reason: v
                    .pointer("/a/m")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            }),
            "listenKeyExpired" => Ok(UserEvent::ListenKeyExpired),
            other => Ok(UserEvent::Other(other.to_string())),
        }
    }
}

fn parse_order_update(o: &Value) -> Result<OrderUpdate, String> {
    let s = |k: &str| {
        o.get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("ORDER_TRADE_UPDATE without `{k}`"))
    };
    let execution = s("x")?;
    let last_qty = dec(o, "l");
    let trade = (execution == "TRADE" || execution == "CALCULATED") && last_qty > Decimal::ZERO;
    Ok(OrderUpdate {
        symbol: s("s")?,
        client_order_id: s("c")?,
        side: s("S")?,
        status: s("X")?,
        order_id: o
            .get("i")
            .and_then(Value::as_u64)
            .ok_or("no order id `i`")?,
        orig_qty: dec(o, "q"),
        filled_qty: dec(o, "z"),
        trade: trade.then(|| VenueFill {
            trade_id: o.get("t").and_then(Value::as_u64).unwrap_or(0),
            price: dec(o, "L"),
            qty: last_qty,
            commission: dec(o, "n").abs(),
            commission_asset: o
                .get("N")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            is_maker: o.get("m").and_then(Value::as_bool).unwrap_or(false),
            time_ms: o.get("T").and_then(Value::as_i64).unwrap_or(0),
        }),
        execution,
    })
}

/// Whether a client order id is the exchange's own (liquidation, ADL,
/// delivery settlement) rather than anyone's order.
pub fn is_exchange_close(client_order_id: &str) -> bool {
    client_order_id.starts_with("autoclose-")
        || client_order_id.starts_with("adl_autoclose")
        || client_order_id.starts_with("settlement_autoclose-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_trade_update_with_a_trade_parses_as_the_documented_fields() {
        let text = r#"{"e":"ORDER_TRADE_UPDATE","E":1568879465651,"T":1568879465650,"o":{"s":"BTCUSDT","c":"bot-7","S":"SELL","o":"MARKET","f":"GTC","q":"0.002","p":"0","ap":"7819.01","sp":"0","x":"TRADE","X":"FILLED","i":8886774,"l":"0.002","z":"0.002","L":"7819.01","N":"USDT","n":"0.00625520","T":1568879465650,"t":698759,"b":"0","a":"0","m":false,"R":true,"wt":"CONTRACT_PRICE","ot":"MARKET","ps":"BOTH","cp":false,"rp":"-0.91539999"}}"#;
        let UserEvent::Order(u) = UserEvent::parse(text).unwrap() else {
            panic!("not an order update")
        };
        assert_eq!(u.client_order_id, "bot-7");
        assert_eq!(u.status, "FILLED");
        let t = u.trade.unwrap();
        assert_eq!(
            (t.trade_id, t.qty.to_string(), t.price.to_string()),
            (698759, "0.002".into(), "7819.01".into())
        );
        assert_eq!(t.commission.to_string(), "0.00625520");
        assert!(!t.is_maker);
    }

    #[test]
    fn a_new_order_event_has_no_trade_and_an_account_update_keeps_its_reason() {
        let text = r#"{"e":"ORDER_TRADE_UPDATE","E":1,"T":1,"o":{"s":"BTCUSDT","c":"bot-8","S":"BUY","x":"NEW","X":"NEW","i":9,"q":"1","z":"0","l":"0","L":"0","t":0}}"#;
        let UserEvent::Order(u) = UserEvent::parse(text).unwrap() else {
            panic!("not an order update")
        };
        assert!(u.trade.is_none());
        let acct = r#"{"e":"ACCOUNT_UPDATE","E":1,"T":1,"a":{"m":"FUNDING_FEE","B":[{"a":"USDT","wb":"10","cw":"10","bc":"-0.1"}],"P":[]}}"#;
        assert_eq!(
            UserEvent::parse(acct).unwrap(),
            UserEvent::Account {
                reason: "FUNDING_FEE".into()
            }
        );
        assert!(UserEvent::parse("{\"e\":\"ORDER_TRADE_UPDATE\"}").is_err());
        assert!(UserEvent::parse("not json").is_err());
    }

    #[test]
    fn exchange_closes_are_recognised() {
        assert!(is_exchange_close("autoclose-1628483925392"));
        assert!(is_exchange_close("adl_autoclose"));
        assert!(!is_exchange_close("bot-12"));
    }
}
