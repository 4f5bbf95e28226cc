//! The execution port and the simulated exchange behind it.

use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde::Serialize;
use vigil_core::{
    ClientOrderId, MarketEvent, Order, Portfolio, PortfolioError, Timestamp, Universe,
};

use crate::sim::{ExecutionReport, SimVenue, SimVenueConfig, VenueError};

/// An error from a venue.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The venue refused the request; the order did not reach the book.
    #[error("rejected by venue: {0}")]
    Rejected(String),
    /// The venue does not know the order.
    #[error(transparent)]
    Venue(#[from] VenueError),
    /// Accounting refused a fill (a venue bug: fills must be affordable).
    #[error("accounting error: {0}")]
    Accounting(#[from] PortfolioError),
    /// The venue could not be reached or answered unexpectedly; the order's
    /// status is unknown and must be queried, never assumed.
    #[error("venue unavailable: {0}")]
    Unavailable(String),
}

/// Holdings of one asset at a venue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Balance {
    /// Asset symbol.
    pub asset: String,
    /// Amount available to trade.
    pub free: Decimal,
    /// Amount held by working orders.
    pub locked: Decimal,
}

/// The one interface between the engine and a venue. The simulated exchange, the
/// exchange adapter and the DEX adapter all implement it, so moving a strategy from
/// paper to live changes configuration, not code.
#[async_trait]
pub trait ExecutionPort: Send + Sync {
    /// Sends a new order (already approved by risk and journaled).
    async fn submit(&self, order: &Order) -> Result<(), ExecError>;
    /// Requests cancellation of a working order.
    async fn cancel(&self, id: ClientOrderId) -> Result<(), ExecError>;
    /// Orders working at the venue.
    async fn open_orders(&self) -> Result<Vec<Order>, ExecError>;
    /// Account balances at the venue.
    async fn balances(&self) -> Result<Vec<Balance>, ExecError>;
}

struct Inner {
    venue: SimVenue,
    portfolio: Portfolio,
    now: Timestamp,
    reports: Vec<ExecutionReport>,
}

/// The [`SimVenue`] matching core behind the [`ExecutionPort`], with its own
/// account, for paper trading: the same fill rules as a backtest, driven by live
/// (or replayed) market events.
#[derive(Clone)]
pub struct SimulatedExchange {
    universe: Arc<Universe>,
    inner: Arc<Mutex<Inner>>,
}

impl SimulatedExchange {
    /// A simulated exchange holding `portfolio` as its account.
    pub fn new(
        universe: Arc<Universe>,
        portfolio: Portfolio,
        config: SimVenueConfig,
    ) -> SimulatedExchange {
        SimulatedExchange {
            universe,
            inner: Arc::new(Mutex::new(Inner {
                venue: SimVenue::new(config),
                portfolio,
                now: Timestamp::MIN,
                reports: Vec::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the venue half-updated in a way
        // we could repair; keep serving the state as it is.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Feeds a market event: matches working orders, applies fills to the account,
    /// and returns every report produced since the last call (acks, fills, closes).
    pub fn on_market_event(&self, event: &MarketEvent) -> Result<Vec<ExecutionReport>, ExecError> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        inner.now = inner.now.max(event.ts());
        let mut out = std::mem::take(&mut inner.reports);
        let start = out.len();
        inner
            .venue
            .on_event(event, &self.universe, &inner.portfolio, &mut out);
        for r in &out[start..] {
            if let ExecutionReport::Filled { fill, .. } = r {
                inner.portfolio.apply_fill(fill)?;
            }
        }
        if let Some(inst) = event.instrument() {
            if let MarketEvent::Bar(b) = event {
                inner.portfolio.mark(inst, b.close)?;
            }
        }
        Ok(out)
    }

    /// A copy of the account.
    pub fn portfolio(&self) -> Portfolio {
        self.lock().portfolio.clone()
    }
}

#[async_trait]
impl ExecutionPort for SimulatedExchange {
    async fn submit(&self, order: &Order) -> Result<(), ExecError> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let now = inner.now;
        let mut out = Vec::new();
        inner
            .venue
            .submit(order.clone(), &self.universe, now, &mut out);
        let rejected = out.iter().find_map(|r| match r {
            ExecutionReport::Closed { order } => order.reason.clone(),
            _ => None,
        });
        inner.reports.extend(out);
        match rejected {
            Some(reason) => Err(ExecError::Rejected(reason)),
            None => Ok(()),
        }
    }

    async fn cancel(&self, id: ClientOrderId) -> Result<(), ExecError> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let now = inner.now;
        let mut out = Vec::new();
        inner.venue.cancel(id, now, &mut out)?;
        inner.reports.extend(out);
        Ok(())
    }

    async fn open_orders(&self) -> Result<Vec<Order>, ExecError> {
        Ok(self.lock().venue.open_orders().to_vec())
    }

    async fn balances(&self) -> Result<Vec<Balance>, ExecError> {
        let inner = self.lock();
        Ok(inner
            .portfolio
            .balances()
            .iter()
            .enumerate()
            .filter(|(_, amount)| !amount.is_zero())
            .map(|(i, amount)| Balance {
                asset: self
                    .universe
                    .asset_symbol(vigil_core::AssetId(i as u32))
                    .to_string(),
                free: *amount,
                locked: Decimal::ZERO,
            })
            .collect())
    }
}
