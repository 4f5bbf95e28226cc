//! The journal observer: turns engine callbacks into journal records, and keeps
//! the counters the status endpoint serves.

use std::collections::BTreeMap;

use vigil_core::{
    ClientOrderId, Fill, MarketEvent, Order, OrderRequest, OrderStatus, Portfolio, PortfolioError,
    Timestamp, Universe,
};
use vigil_engine::Observer;
use vigil_risk::{RiskEvent, TradingState, Verdict};
use vigil_store::{Record, StoredFill};

fn status_name(s: OrderStatus) -> &'static str {
    match s {
        OrderStatus::New => "new",
        OrderStatus::Accepted => "accepted",
        OrderStatus::PartiallyFilled => "partially_filled",
        OrderStatus::Filled => "filled",
        OrderStatus::Cancelled => "cancelled",
        OrderStatus::Rejected => "rejected",
    }
}

/// Counters since the agent started (recovered events included).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Counters {
    /// Input events processed.
    pub events: u64,
    /// Order intents.
    pub orders: u64,
    /// Fills.
    pub fills: u64,
    /// Verdicts by label.
    pub verdicts: BTreeMap<String, u64>,
    /// Real-venue fills booked although they overdrew the ledger.
    pub overdrafts: u64,
}

/// One fill, for `/status` and the dashboard.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FillView {
    /// When (RFC 3339).
    pub ts: String,
    /// The order.
    pub order_id: u64,
    /// Instrument.
    pub instrument: String,
    /// Side.
    pub side: String,
    /// Quantity.
    pub qty: String,
    /// Price.
    pub price: String,
    /// Fee.
    pub fee: String,
}

/// Something that happened in a step that a human may need to know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fact {
    /// The trading state changed.
    State {
        /// Before.
        from: TradingState,
        /// After.
        to: TradingState,
        /// Why.
        reason: String,
    },
    /// A protective exit was sent.
    Exit {
        /// The exit order.
        id: u64,
        /// Its instrument.
        instrument: String,
        /// Stop-loss, take-profit, trailing stop.
        reason: String,
    },
    /// An order is held for approval.
    Held {
        /// Its id.
        id: u64,
    },
    /// An order was closed unsent or refused: denied by risk, or rejected by
    /// the venue.
    Rejected {
        /// Its id.
        id: u64,
        /// Why.
        reason: String,
    },
    /// A perpetual position was liquidated.
    Liquidation {
        /// Its instrument.
        instrument: String,
        /// Quantity closed.
        qty: String,
        /// Price closed at.
        price: String,
        /// PnL realised by the close.
        realised_pnl: String,
    },
    /// The venue did not say whether it took an order.
    Unknown {
        /// Its id.
        id: u64,
        /// What the adapter said.
        error: String,
    },
}

/// Collects the records of the event being processed.
pub struct JournalObserver {
    symbols: Vec<String>,
    seq: i64,
    n_order_events: i64,
    n_fills: i64,
    n_risk: i64,
    records: Vec<Record>,
    notes: Vec<serde_json::Value>,
    note_ts: i64,
    /// When replaying the journal at start-up, records are not produced again; the
    /// fills are kept to check that the replay matches what was journaled.
    pub replaying: bool,
    /// Fills produced while replaying.
    pub replayed_fills: Vec<Fill>,
    /// Counters.
    pub counters: Counters,
    /// Whether a fill happened during the current event.
    pub filled_this_event: bool,
    /// The last 20 fills.
    pub recent_fills: std::collections::VecDeque<FillView>,
    /// Collect [`Fact`](Fact)s for alerts (with `[[alerts]]`).
    pub collect_facts: bool,
    /// What the current event did that alerts may report.
    pub facts: Vec<Fact>,
}

impl JournalObserver {
    /// An observer for `universe`'s instruments.
    pub fn new(universe: &Universe) -> JournalObserver {
        JournalObserver {
            symbols: universe
                .instruments()
                .iter()
                .map(|i| i.symbol.clone())
                .collect(),
            seq: 0,
            n_order_events: 0,
            n_fills: 0,
            n_risk: 0,
            records: Vec::new(),
            notes: Vec::new(),
            note_ts: 0,
            replaying: false,
            replayed_fills: Vec::new(),
            counters: Counters::default(),
            filled_this_event: false,
            recent_fills: std::collections::VecDeque::new(),
            collect_facts: false,
            facts: Vec::new(),
        }
    }

    /// A live exchange's own closing fill (liquidation or auto-deleveraging,
    /// order id 0): journaled as a `liquidation` risk event and alerted.
    fn exchange_close(&mut self, fill: &Fill) {
        let symbol = self.symbols[fill.instrument.index()].clone();
        tracing::warn!(instrument = %symbol, side = %fill.side, qty = %fill.qty, price = %fill.price,
            "the exchange closed the position (liquidation or auto-deleveraging)");
        self.records.push(Record::RiskEvent {
            seq: self.seq,
            n: self.n_risk,
            ts: fill.ts.nanos(),
            payload: serde_json::json!({"type": "liquidation", "instrument": symbol,
                "source": "exchange", "fill": fill})
            .to_string(),
        });
        self.n_risk += 1;
        self.fact(Fact::Liquidation {
            instrument: symbol,
            qty: fill.qty.to_string(),
            price: fill.price.to_string(),
            realised_pnl: "as the exchange booked it".into(),
        });
    }

    fn fact(&mut self, f: Fact) {
        if self.collect_facts && !self.replaying {
            self.facts.push(f);
        }
    }

    /// Starts collecting for input event `seq`; `event` is its own record.
    pub fn begin(&mut self, seq: i64, event: Option<Record>) {
        self.seq = seq;
        self.n_order_events = 0;
        self.n_fills = 0;
        self.n_risk = 0;
        self.filled_this_event = false;
        self.counters.events += 1;
        self.records.clear();
        if !self.replaying {
            if let Some(e) = event {
                self.records.push(e);
            }
            for payload in std::mem::take(&mut self.notes) {
                self.records.push(Record::RiskEvent {
                    seq,
                    n: self.n_risk,
                    ts: self.note_ts,
                    payload: payload.to_string(),
                });
                self.n_risk += 1;
            }
        }
    }

    /// Journals `payload` as a risk-event record of the next input (an LLM
    /// call: what was asked, what came back).
    pub fn note(&mut self, ts: Timestamp, payload: serde_json::Value) {
        if !self.replaying {
            self.note_ts = ts.nanos();
            self.notes.push(payload);
        }
    }

    /// Takes the records of the current event.
    pub fn take(&mut self) -> Vec<Record> {
        std::mem::take(&mut self.records)
    }

    /// Adds a record to the current event (a snapshot).
    pub fn push(&mut self, record: Record) {
        if !self.replaying {
            self.records.push(record);
        }
    }

    fn order_event(
        &mut self,
        id: ClientOrderId,
        ts: Timestamp,
        status: &str,
        reason: Option<String>,
    ) {
        if self.replaying {
            return;
        }
        self.records.push(Record::OrderEvent {
            seq: self.seq,
            n: self.n_order_events,
            order_id: id.0 as i64,
            ts: ts.nanos(),
            status: status.to_string(),
            reason,
        });
        self.n_order_events += 1;
    }
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|e| format!("{{\"unserialisable\":\"{e}\"}}"))
}

impl Observer for JournalObserver {
    fn on_verdict(
        &mut self,
        ts: Timestamp,
        id: ClientOrderId,
        request: &OrderRequest,
        verdict: &Verdict,
    ) {
        self.counters.orders += 1;
        *self.counters.verdicts.entry(verdict.label()).or_insert(0) += 1;
        // (A denied order is reported when it closes, as a reject.)
        if let Verdict::Held { .. } = verdict {
            self.fact(Fact::Held { id: id.0 });
        }
        if self.replaying {
            return;
        }
        self.records.push(Record::Order {
            order_id: id.0 as i64,
            seq: self.seq,
            ts: ts.nanos(),
            request: json(request),
            verdict: json(verdict),
            sent: verdict.order().map(json),
        });
    }

    fn on_approval(&mut self, ts: Timestamp, id: ClientOrderId, verdict: &Verdict) {
        *self
            .counters
            .verdicts
            .entry(format!("approval:{}", verdict.label()))
            .or_insert(0) += 1;
        let status = if verdict.order().is_some() {
            "approved"
        } else {
            "approval_denied"
        };
        self.order_event(id, ts, status, Some(verdict.label()));
    }

    fn on_accepted(&mut self, ts: Timestamp, id: ClientOrderId) {
        self.order_event(id, ts, "accepted", None);
    }

    fn on_fill(&mut self, fill: &Fill, status: OrderStatus, _portfolio: &Portfolio) {
        self.counters.fills += 1;
        self.filled_this_event = true;
        if self.recent_fills.len() >= 20 {
            self.recent_fills.pop_front();
        }
        self.recent_fills.push_back(FillView {
            ts: fill.ts.to_rfc3339(),
            order_id: fill.order_id.0,
            instrument: self.symbols[fill.instrument.index()].clone(),
            side: fill.side.to_string(),
            qty: fill.qty.to_string(),
            price: fill.price.to_string(),
            fee: fill.fee.to_string(),
        });
        if self.replaying {
            self.replayed_fills.push(fill.clone());
            return;
        }
        self.records.push(Record::Fill(StoredFill {
            seq: self.seq,
            n: self.n_fills,
            order_id: fill.order_id.0 as i64,
            ts: fill.ts.nanos(),
            instrument: self.symbols[fill.instrument.index()].clone(),
            side: fill.side.to_string(),
            price: fill.price.to_string(),
            qty: fill.qty.to_string(),
            fee: fill.fee.to_string(),
            liquidity: json(&fill.liquidity).trim_matches('"').to_string(),
        }));
        self.n_fills += 1;
        if fill.order_id.0 == 0 {
            self.exchange_close(fill);
            return;
        }
        self.order_event(fill.order_id, fill.ts, status_name(status), None);
    }

    fn on_liquidation(&mut self, liq: &vigil_core::Liquidation, _portfolio: &Portfolio) {
        let fill = &liq.fill;
        self.counters.fills += 1;
        self.filled_this_event = true;
        if self.replaying {
            self.replayed_fills.push(fill.clone());
            return;
        }
        let symbol = self.symbols[fill.instrument.index()].clone();
        tracing::warn!(
            instrument = %symbol,
            side = %fill.side,
            qty = %fill.qty,
            price = %fill.price,
            realised_pnl = %liq.realised_pnl,
            insurance = %liq.insurance,
            "position liquidated"
        );
        // The closing fill (order id 0: no order of ours) and what happened.
        self.records.push(Record::Fill(StoredFill {
            seq: self.seq,
            n: self.n_fills,
            order_id: 0,
            ts: fill.ts.nanos(),
            instrument: symbol.clone(),
            side: fill.side.to_string(),
            price: fill.price.to_string(),
            qty: fill.qty.to_string(),
            fee: fill.fee.to_string(),
            liquidity: json(&fill.liquidity).trim_matches('"').to_string(),
        }));
        self.n_fills += 1;
        self.records.push(Record::RiskEvent {
            seq: self.seq,
            n: self.n_risk,
            ts: liq.ts.nanos(),
            payload:
                serde_json::json!({"type": "liquidation", "instrument": symbol, "liquidation": liq})
                    .to_string(),
        });
        self.n_risk += 1;
        self.fact(Fact::Liquidation {
            instrument: symbol,
            qty: fill.qty.to_string(),
            price: fill.price.to_string(),
            realised_pnl: liq.realised_pnl.to_string(),
        });
    }

    fn on_overdraft(&mut self, fill: &Fill, shortfall: &PortfolioError) {
        self.counters.overdrafts += 1;
        if self.replaying {
            return;
        }
        let symbol = &self.symbols[fill.instrument.index()];
        tracing::warn!(
            order_id = fill.order_id.0,
            instrument = %symbol,
            side = %fill.side,
            price = %fill.price,
            qty = %fill.qty,
            fee = %fill.fee,
            %shortfall,
            "the exchange filled more than the ledger holds; booked as the exchange reported it \
             (is the [venue] fee below the exchange's commission?)"
        );
        self.records.push(Record::RiskEvent {
            seq: self.seq,
            n: self.n_risk,
            ts: fill.ts.nanos(),
            payload: serde_json::json!({
                "type": "overdraft",
                "order_id": fill.order_id.0,
                "instrument": symbol,
                "detail": shortfall.to_string(),
            })
            .to_string(),
        });
        self.n_risk += 1;
    }

    fn on_order_closed(&mut self, order: &Order) {
        let by_operator = order.reason.as_deref().is_some_and(|r| {
            r == vigil_engine::REJECTED_BY_OPERATOR || r == vigil_engine::APPROVAL_EXPIRED
        });
        if order.status == OrderStatus::Rejected && !by_operator {
            self.fact(Fact::Rejected {
                id: order.id.0,
                reason: order.reason.clone().unwrap_or_default(),
            });
        }
        self.order_event(
            order.id,
            order.updated_at,
            status_name(order.status),
            order.reason.clone(),
        );
    }

    fn on_risk_event(&mut self, ts: Timestamp, event: &RiskEvent) {
        if self.replaying {
            return;
        }
        let fact = match event {
            RiskEvent::StateChanged { from, to, reason } => Fact::State {
                from: *from,
                to: *to,
                reason: reason.clone(),
            },
            RiskEvent::ProtectiveExit {
                id,
                instrument,
                reason,
            } => Fact::Exit {
                id: id.0,
                instrument: self
                    .symbols
                    .get(instrument.index())
                    .cloned()
                    .unwrap_or_default(),
                reason: match reason {
                    vigil_risk::ExitReason::StopLoss => "stop-loss",
                    vigil_risk::ExitReason::TakeProfit => "take-profit",
                    vigil_risk::ExitReason::TrailingStop => "trailing stop",
                }
                .to_string(),
            },
        };
        self.fact(fact);
        self.records.push(Record::RiskEvent {
            seq: self.seq,
            n: self.n_risk,
            ts: ts.nanos(),
            payload: json(event),
        });
        self.n_risk += 1;
    }

    fn on_event_processed(&mut self, _event: &MarketEvent, _portfolio: &Portfolio) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;
    use vigil_core::{ClientOrderId, InstrumentSpec, Liquidity, Side, Timestamp};
    use vigil_engine::Observer;

    #[test]
    fn an_exchange_close_is_journaled_and_alerted_as_a_liquidation() {
        let mut u = Universe::new();
        u.add(&InstrumentSpec {
            kind: vigil_core::InstrumentKind::Perpetual,
            ..InstrumentSpec::spot("BTCUSDT", "BTC", "USDT")
        })
        .unwrap();
        let usdt = u.asset_id("USDT").unwrap();
        let portfolio = Portfolio::new(&u, usdt, &[(usdt, dec!(1000))]).unwrap();
        let mut o = JournalObserver::new(&u);
        o.collect_facts = true;
        let fill = Fill {
            order_id: ClientOrderId(0),
            instrument: vigil_core::InstrumentId(0),
            side: Side::Sell,
            price: dec!(32500),
            qty: dec!(0.5),
            fee: dec!(8.125),
            fee_asset: usdt,
            liquidity: Liquidity::Taker,
            ts: Timestamp::from_secs(1),
        };
        o.on_fill(&fill, OrderStatus::Filled, &portfolio);
        let records = o.take();
        assert!(records
            .iter()
            .any(|r| matches!(r, Record::Fill(f) if f.order_id == 0)));
        assert!(records.iter().any(
            |r| matches!(r, Record::RiskEvent { payload, .. } if payload.contains("\"source\":\"exchange\""))
        ));
        assert!(
            !records
                .iter()
                .any(|r| matches!(r, Record::OrderEvent { .. })),
            "no order 0 event"
        );
        assert!(matches!(&o.facts[..], [Fact::Liquidation { qty, .. }] if qty == "0.5"));
    }
}
