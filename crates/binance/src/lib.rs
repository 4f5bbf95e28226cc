//! Binance execution for vigil: spot and USDⓈ-M perpetual futures.
//!
//! * [`client::BinanceClient`]: signed REST (HMAC-SHA256, `timestamp` synced to the
//!   server clock, `recvWindow`), re-sync and retry once on -1021, 429/418
//!   back-off per `Retry-After`, the used-weight header, and errors that say whether
//!   a request's outcome is known ([`client::BinanceError::Unknown`]).
//! * [`filters::SymbolFilters`]: `exchangeInfo` filters applied before sending.
//! * [`execution::BinanceExecution`]: the [`vigil_exec::ExecutionPort`], with
//!   journal-derived client order ids, UNKNOWN-order resolution, exact fills from
//!   the exchange's trades, `order/test` dry runs, the withdrawal-permission check
//!   and restart reconciliation.
//! * [`usdm::UsdmExecution`]: the same for USDⓈ-M perpetual futures — margin
//!   type and leverage set at start, one-way mode checked, fills from the
//!   user-data stream with REST as the fallback, funding from `income`.
//! * `mock` (feature `mock`): a local mock exchange for tests (spot, and
//!   USDⓈ-M futures with its user-data stream).

#![warn(missing_docs)]

pub mod client;
pub mod credentials;
pub mod execution;
pub mod filters;
#[cfg(feature = "mock")]
pub mod mock;
pub mod sign;
pub mod usdm;

pub use client::{BinanceClient, BinanceError, ClientConfig};
pub use credentials::{
    open_sealed, write_sealed, ApiKey, ApiSecret, Credentials, CredentialsError,
};
pub use execution::{AdapterError, BinanceExecution, BinanceOptions};
pub use filters::SymbolFilters;
pub use usdm::{UsdmExecution, UsdmOptions};
