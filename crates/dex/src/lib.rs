//! On-chain execution for vigil: swaps through a Uniswap V2 router (or one of its
//! many forks) with [`alloy`].
//!
//! Every swap: quote with `getAmountsOut` (or `getAmountsIn` for an exact base
//! quantity), a minimum output from the configured slippage tolerance (or the
//! order's limit price, whichever is stricter), a deadline, the ERC-20 allowance
//! topped up only when short, a gas estimate checked against a cap — a swap that
//! would revert (`EXPIRED`, `INSUFFICIENT_OUTPUT_AMOUNT`) fails its estimate and is
//! rejected with that reason *before* any gas is paid — then the transaction, its
//! receipt, and a fill built from the receipt's ERC-20 `Transfer` logs (the amounts
//! that really moved) with the gas paid as the fee. A transaction that reverts
//! on-chain anyway is reported as rejected and never retried blindly.
//!
//! Only tokens listed in the settings can be traded or approved (the allow-list),
//! and only the configured router is ever approved.

#![warn(missing_docs)]

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[cfg(feature = "testing")]
pub mod testing;

use alloy::network::EthereumWallet;
use alloy::primitives::{Address, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol;
use async_trait::async_trait;
use rust_decimal::Decimal;
use vigil_core::{
    AssetId, ClientOrderId, Fill, Liquidity, Order, OrderKind, OrderRequest, OrderSize,
    OrderStatus, Side, Timestamp, Universe,
};
use vigil_exec::{Balance, ExecError, ExecutionPort, ExecutionReport};

sol! {
    /// The Uniswap V2 router functions vigil uses.
    #[sol(rpc)]
    interface IUniswapV2Router02 {
        function getAmountsOut(uint amountIn, address[] calldata path) external view returns (uint[] memory amounts);
        function getAmountsIn(uint amountOut, address[] calldata path) external view returns (uint[] memory amounts);
        function swapExactTokensForTokens(uint amountIn, uint amountOutMin, address[] calldata path, address to, uint deadline) external returns (uint[] memory amounts);
    }

    /// ERC-20.
    #[sol(rpc)]
    interface IERC20 {
        function allowance(address owner, address spender) external view returns (uint256);
        function approve(address spender, uint256 amount) external returns (bool);
        function balanceOf(address owner) external view returns (uint256);
        event Transfer(address indexed from, address indexed to, uint256 value);
    }
}

/// One token the adapter may trade (the allow-list).
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// The asset symbol used by the instruments (e.g. `WETH`, `USDC`).
    pub symbol: String,
    /// The token contract.
    pub address: Address,
    /// Its decimals.
    pub decimals: u8,
}

/// DEX adapter settings.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UniswapV2Config {
    /// JSON-RPC endpoint.
    pub rpc_url: String,
    /// The Uniswap V2 (fork) router.
    pub router: Address,
    /// Tokens that may be traded and approved.
    pub tokens: Vec<TokenConfig>,
    /// Slippage tolerance, bps: `amountOutMin = quote × (1 − tolerance)`.
    #[serde(default = "default_slippage")]
    pub slippage_bps: u32,
    /// Seconds from now until the swap's deadline (negative values exist for tests).
    #[serde(default = "default_deadline")]
    pub deadline_secs: i64,
    /// Refuse swaps whose gas estimate exceeds this.
    #[serde(default = "default_gas_cap")]
    pub gas_cap: u64,
    /// The native token's price in the quote currency, to value gas as a fee.
    pub native_price: Decimal,
}

fn default_slippage() -> u32 {
    50
}
fn default_deadline() -> i64 {
    120
}
fn default_gas_cap() -> u64 {
    400_000
}

/// Gas the limit keeps above an estimate at least: Uniswap V2's pair writes its
/// price oracle (two storage slots, 22,100 gas each from zero) on the first
/// swap in a block later than its last update. An estimate taken in the pool's
/// last second misses that; a swap mined a second later then runs out of gas
/// and reverts with its fee spent (seen in CI under load).
pub const ORACLE_HEADROOM: u64 = 50_000;

/// The gas limit for a swap estimated at `estimate`: a fifth more, and at
/// least [`ORACLE_HEADROOM`] more, never above what the order kept back for
/// gas (`cap` + a fifth), never below the estimate. Unused gas is not paid.
pub fn gas_limit(estimate: u64, cap: u64) -> u64 {
    let wanted = estimate.saturating_add((estimate / 5).max(ORACLE_HEADROOM));
    wanted.min(cap.saturating_add(cap / 5)).max(estimate)
}

/// A DEX adapter error at start-up.
#[derive(Debug, thiserror::Error)]
pub enum DexError {
    /// A setting is wrong.
    #[error("{0}")]
    Config(String),
    /// The chain could not be reached or answered unexpectedly.
    #[error("chain: {0}")]
    Chain(String),
}

/// The wallet key: from the environment (`VIGIL_WALLET_KEY`, hex) or an encrypted
/// JSON keystore whose password is in `VIGIL_KEYSTORE_PASSWORD`. Never logged.
pub fn wallet_from_env(keystore: Option<&std::path::Path>) -> Result<PrivateKeySigner, DexError> {
    match keystore {
        Some(path) => {
            let password = std::env::var("VIGIL_KEYSTORE_PASSWORD")
                .map_err(|_| DexError::Config("VIGIL_KEYSTORE_PASSWORD is not set".into()))?;
            PrivateKeySigner::decrypt_keystore(path, password).map_err(|e| {
                DexError::Config(format!(
                    "{}: cannot decrypt the keystore: {e}",
                    path.display()
                ))
            })
        }
        None => {
            let key = std::env::var("VIGIL_WALLET_KEY")
                .map_err(|_| DexError::Config("VIGIL_WALLET_KEY is not set".into()))?;
            key.trim()
                .parse()
                .map_err(|_| DexError::Config("VIGIL_WALLET_KEY is not a valid private key".into()))
        }
    }
}

/// `amount` in the token's smallest units (truncated, never rounded up).
pub fn to_units(amount: Decimal, decimals: u8) -> Option<U256> {
    if amount.is_sign_negative() {
        return None;
    }
    let s = amount.normalize().to_string();
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let mut digits = String::from(int);
    let d = decimals as usize;
    let frac: String = frac.chars().chain(std::iter::repeat('0')).take(d).collect();
    digits.push_str(&frac);
    U256::from_str_radix(digits.trim_start_matches('0').max("0"), 10).ok()
}

/// Smallest units back to a decimal amount (28 significant digits at most).
pub fn from_units(units: U256, decimals: u8) -> Decimal {
    let s = units.to_string();
    let d = decimals as usize;
    let text = if s.len() > d {
        format!("{}.{}", &s[..s.len() - d], &s[s.len() - d..])
    } else {
        format!("0.{}{}", "0".repeat(d - s.len()), s)
    };
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&format!("{s}e-{d}")))
        .unwrap_or_default()
}

struct Market {
    base: TokenConfig,
    quote: TokenConfig,
}

/// The Uniswap V2 execution adapter.
pub struct UniswapV2Execution {
    provider: DynProvider,
    wallet: Address,
    settings: UniswapV2Config,
    markets: Vec<Option<Market>>,
    quote_assets: Vec<AssetId>,
    reports: Mutex<Vec<ExecutionReport>>,
    /// One swap at a time: allowance, nonce and balance checks stay consistent.
    busy: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for UniswapV2Execution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UniswapV2Execution")
            .field("wallet", &self.wallet)
            .field("router", &self.settings.router)
            .finish_non_exhaustive()
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The revert reason in an RPC error, if it is one of the router's.
fn revert_reason(error: &str) -> String {
    for known in [
        "EXPIRED",
        "INSUFFICIENT_OUTPUT_AMOUNT",
        "INSUFFICIENT_INPUT_AMOUNT",
        "INSUFFICIENT_LIQUIDITY",
        "TRANSFER_FROM_FAILED",
    ] {
        if error.contains(known) {
            return format!("UniswapV2Router: {known}");
        }
    }
    error.to_string()
}

impl UniswapV2Execution {
    /// Connects to the chain with `signer`; every instrument's base and quote must be
    /// on the token allow-list.
    pub async fn connect(
        settings: UniswapV2Config,
        signer: PrivateKeySigner,
        universe: &Universe,
    ) -> Result<UniswapV2Execution, DexError> {
        let wallet = signer.address();
        let url = settings
            .rpc_url
            .parse()
            .map_err(|e| DexError::Config(format!("rpc_url `{}`: {e}", settings.rpc_url)))?;
        let provider = ProviderBuilder::new()
            .wallet(EthereumWallet::from(signer))
            .connect_http(url)
            .erased();
        provider
            .get_chain_id()
            .await
            .map_err(|e| DexError::Chain(e.to_string()))?;
        if settings.slippage_bps >= 10_000 {
            return Err(DexError::Config("slippage_bps must be below 10000".into()));
        }
        let token = |symbol: &str| settings.tokens.iter().find(|t| t.symbol == symbol).cloned();
        let mut markets = Vec::new();
        let mut quote_assets = Vec::new();
        for inst in universe.instruments() {
            let (b, q) = (
                universe.asset_symbol(inst.base),
                universe.asset_symbol(inst.quote),
            );
            let (Some(base), Some(quote)) = (token(b), token(q)) else {
                return Err(DexError::Config(format!(
                    "{}: {b} and {q} must both be on the token allow-list",
                    inst.symbol
                )));
            };
            markets.push(Some(Market { base, quote }));
            quote_assets.push(inst.quote);
        }
        tracing::info!(%wallet, router = %settings.router, "DEX adapter connected");
        Ok(UniswapV2Execution {
            provider,
            wallet,
            settings,
            markets,
            quote_assets,
            reports: Mutex::new(Vec::new()),
            busy: tokio::sync::Mutex::new(()),
        })
    }

    /// The wallet's address.
    pub fn wallet(&self) -> Address {
        self.wallet
    }

    /// Takes the reports produced since the last call.
    pub fn take_reports(&self) -> Vec<ExecutionReport> {
        std::mem::take(&mut self.reports.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn push(&self, r: ExecutionReport) {
        self.reports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(r);
    }

    fn reject(&self, order: &Order, reason: String) -> ExecError {
        let mut closed = order.clone();
        let _ = closed.reject(order.created_at, reason.clone());
        self.push(ExecutionReport::Closed { order: closed });
        ExecError::Rejected(reason)
    }

    /// The wallet's next nonce, from the node's pending count: transactions go out
    /// one at a time (the adapter's lock), so another sender using the same wallet
    /// (an operator, another tool) cannot leave it with a stale nonce.
    async fn next_nonce(&self) -> Result<u64, String> {
        self.provider
            .get_transaction_count(self.wallet)
            .pending()
            .await
            .map_err(|e| format!("nonce: {e}"))
    }

    /// Approves the router for `amount` of `token` if the allowance is short.
    /// Returns whether an approval was sent.
    async fn ensure_allowance(&self, token: Address, amount: U256) -> Result<bool, String> {
        let erc20 = IERC20::new(token, &self.provider);
        let current = erc20
            .allowance(self.wallet, self.settings.router)
            .call()
            .await
            .map_err(|e| format!("allowance: {e}"))?;
        if current >= amount {
            return Ok(false);
        }
        tracing::info!(%token, %amount, "approving the router");
        let nonce = self.next_nonce().await?;
        let receipt = erc20
            .approve(self.settings.router, amount)
            .nonce(nonce)
            .send()
            .await
            .map_err(|e| format!("approve: {e}"))?
            .with_timeout(Some(Duration::from_secs(60)))
            .get_receipt()
            .await
            .map_err(|e| format!("approve receipt: {e}"))?;
        if !receipt.status() {
            return Err("approve reverted".into());
        }
        Ok(true)
    }

    /// The least output the swap may return: the slippage tolerance under the
    /// quote, or the limit price when that is stricter.
    fn min_output(
        &self,
        req: &OrderRequest,
        amount_in: U256,
        quoted_out: U256,
        token_in: &TokenConfig,
        token_out: &TokenConfig,
    ) -> U256 {
        let tolerance = U256::from(10_000 - self.settings.slippage_bps);
        let mut min_out = quoted_out * tolerance / U256::from(10_000u32);
        if let OrderKind::Limit { price } = req.kind {
            let limit_out = match req.side {
                // At most `price` quote per base: out ≥ in / price.
                Side::Buy => from_units(amount_in, token_in.decimals)
                    .checked_div(price)
                    .and_then(|b| to_units(b, token_out.decimals)),
                // At least `price` quote per base: out ≥ in × price.
                Side::Sell => from_units(amount_in, token_in.decimals)
                    .checked_mul(price)
                    .and_then(|q| to_units(q, token_out.decimals)),
            };
            if let Some(l) = limit_out {
                min_out = min_out.max(l);
            }
        }
        min_out
    }

    /// Base quantity and quote amount that moved in the wallet, from the
    /// receipt's ERC-20 `Transfer` logs.
    fn moved(
        &self,
        req: &OrderRequest,
        logs: &[alloy::rpc::types::Log],
        token_in: &TokenConfig,
        token_out: &TokenConfig,
    ) -> (Decimal, Decimal) {
        let (mut paid, mut got) = (U256::ZERO, U256::ZERO);
        for log in logs {
            let Ok(t) = log.log_decode::<IERC20::Transfer>() else {
                continue;
            };
            let ev = &t.inner.data;
            if t.inner.address == token_in.address && ev.from == self.wallet {
                paid += ev.value;
            }
            if t.inner.address == token_out.address && ev.to == self.wallet {
                got += ev.value;
            }
        }
        match req.side {
            Side::Buy => (
                from_units(got, token_out.decimals),
                from_units(paid, token_in.decimals),
            ),
            Side::Sell => (
                from_units(paid, token_in.decimals),
                from_units(got, token_out.decimals),
            ),
        }
    }

    async fn swap(&self, order: &Order) -> Result<(), ExecError> {
        let _guard = self.busy.lock().await;
        let req = order.request;
        let Some(market) = self
            .markets
            .get(req.instrument.index())
            .and_then(|m| m.as_ref())
        else {
            return Err(self.reject(order, "no DEX market for this instrument".into()));
        };
        let (token_in, token_out) = match req.side {
            Side::Buy => (&market.quote, &market.base),
            Side::Sell => (&market.base, &market.quote),
        };
        let path = vec![token_in.address, token_out.address];
        let router = IUniswapV2Router02::new(self.settings.router, &self.provider);
        let chain = |e: alloy::contract::Error| ExecError::Unavailable(e.to_string());
        // The input amount and the quoted output.
        // A quote-sized buy's amount includes its costs: keep back the most gas the
        // swap may burn (the cap at the current gas price), valued at native_price.
        let size = match (req.side, req.size) {
            (Side::Buy, OrderSize::Quote(q)) => {
                let gas_price = self
                    .provider
                    .get_gas_price()
                    .await
                    .map_err(|e| ExecError::Unavailable(e.to_string()))?;
                let worst_gas = from_units(
                    U256::from(gas_price)
                        * U256::from(self.settings.gas_cap + self.settings.gas_cap / 5),
                    18,
                ) * self.settings.native_price;
                let spend = q - worst_gas;
                if spend <= Decimal::ZERO {
                    return Err(self.reject(
                        order,
                        format!("{q} does not cover the gas ({worst_gas} at the cap)"),
                    ));
                }
                OrderSize::Quote(spend)
            }
            (_, size) => size,
        };
        let (amount_in, quoted_out) = match (req.side, size) {
            (Side::Buy, OrderSize::Quote(q)) | (Side::Sell, OrderSize::Base(q)) => {
                let amount_in = to_units(q, token_in.decimals)
                    .ok_or_else(|| self.reject(order, format!("amount {q} out of range")))?;
                let amounts = router
                    .getAmountsOut(amount_in, path.clone())
                    .call()
                    .await
                    .map_err(chain)?;
                (amount_in, *amounts.last().unwrap_or(&U256::ZERO))
            }
            (Side::Buy, OrderSize::Base(qty)) => {
                let want = to_units(qty, token_out.decimals)
                    .ok_or_else(|| self.reject(order, format!("quantity {qty} out of range")))?;
                let amounts = router
                    .getAmountsIn(want, path.clone())
                    .call()
                    .await
                    .map_err(chain)?;
                (amounts[0], want)
            }
            (Side::Sell, OrderSize::Quote(_)) => {
                return Err(self.reject(
                    order,
                    "sell orders on a DEX are sized in the base asset".into(),
                ));
            }
            (_, OrderSize::Available(_)) => {
                return Err(self.reject(
                    order,
                    "available-sized orders are for perpetuals, not a DEX".into(),
                ));
            }
        };
        if quoted_out.is_zero() {
            return Err(self.reject(order, "the pool quotes no output".into()));
        }
        let min_out = self.min_output(&req, amount_in, quoted_out, token_in, token_out);
        if let Err(e) = self.ensure_allowance(token_in.address, amount_in).await {
            return Err(self.reject(order, format!("allowance: {e}")));
        }
        let deadline = U256::from((now_secs() + self.settings.deadline_secs).max(0) as u64);
        let call = router.swapExactTokensForTokens(amount_in, min_out, path, self.wallet, deadline);
        // A swap that would revert fails here, before any gas is spent.
        let gas = match call.estimate_gas().await {
            Ok(g) => g,
            Err(e) => return Err(self.reject(order, revert_reason(&e.to_string()))),
        };
        if gas > self.settings.gas_cap {
            return Err(self.reject(
                order,
                format!("gas estimate {gas} above the cap {}", self.settings.gas_cap),
            ));
        }
        let nonce = self.next_nonce().await.map_err(ExecError::Unavailable)?;
        tracing::info!(order = %order.id, %amount_in, %min_out, gas, nonce, "sending swap");
        let receipt = call
            .gas(gas_limit(gas, self.settings.gas_cap))
            .nonce(nonce)
            .send()
            .await
            .map_err(|e| ExecError::Unavailable(format!("sending the swap: {e}")))?
            .with_timeout(Some(Duration::from_secs(120)))
            .get_receipt()
            .await
            .map_err(|e| ExecError::Unavailable(format!("waiting for the receipt: {e}")))?;
        let gas_wei = U256::from(receipt.gas_used) * U256::from(receipt.effective_gas_price);
        let gas_native = from_units(gas_wei, 18);
        let gas_fee = (gas_native * self.settings.native_price).round_dp(12);
        if !receipt.status() {
            // Mined and reverted: the gas is gone; never retried blindly.
            let reason = format!(
                "swap reverted on chain in {} (gas paid {gas_native} native)",
                receipt.transaction_hash
            );
            return Err(self.reject(order, reason));
        }
        // The amounts that really moved, from the ERC-20 Transfer logs.
        let (qty, quote) = self.moved(&req, receipt.inner.logs(), token_in, token_out);
        if qty.is_zero() {
            return Err(self.reject(
                order,
                format!("receipt {} shows no transfer", receipt.transaction_hash),
            ));
        }
        let mut accepted = order.clone();
        let _ = accepted.accept(order.created_at);
        self.push(ExecutionReport::Accepted {
            id: order.id,
            ts: order.created_at,
        });
        let fill = Fill {
            order_id: order.id,
            instrument: req.instrument,
            side: req.side,
            price: quote / qty,
            qty,
            fee: gas_fee,
            fee_asset: self.quote_assets[req.instrument.index()],
            liquidity: Liquidity::Taker,
            ts: Timestamp::from_secs(now_secs()),
        };
        tracing::info!(order = %order.id, tx = %receipt.transaction_hash, %qty, price = %fill.price, %gas_native, "swap filled");
        self.push(ExecutionReport::Filled {
            fill,
            status: OrderStatus::Filled,
        });
        Ok(())
    }

    /// The wallet's balance of an allow-listed token.
    pub async fn token_balance(&self, token: &TokenConfig) -> Result<Decimal, ExecError> {
        let units = IERC20::new(token.address, &self.provider)
            .balanceOf(self.wallet)
            .call()
            .await
            .map_err(|e| ExecError::Unavailable(e.to_string()))?;
        Ok(from_units(units, token.decimals))
    }
}

#[async_trait]
impl ExecutionPort for UniswapV2Execution {
    async fn submit(&self, order: &Order) -> Result<(), ExecError> {
        if let Some(reason) = vigil_exec::dex_unsupported(&order.request) {
            return Err(ExecError::Rejected(reason.into()));
        }
        self.swap(order).await
    }

    async fn cancel(&self, id: ClientOrderId) -> Result<(), ExecError> {
        // A swap is atomic: there is never a working order to cancel.
        Err(ExecError::Venue(vigil_exec::VenueError::UnknownOrder(id)))
    }

    async fn open_orders(&self) -> Result<Vec<Order>, ExecError> {
        Ok(Vec::new())
    }

    async fn balances(&self) -> Result<Vec<Balance>, ExecError> {
        let mut out = Vec::new();
        let mut seen: HashMap<Address, ()> = HashMap::new();
        for t in &self.settings.tokens {
            if seen.insert(t.address, ()).is_some() {
                continue;
            }
            out.push(Balance {
                asset: t.symbol.clone(),
                free: self.token_balance(t).await?,
                locked: Decimal::ZERO,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn units_round_trip_and_truncate() {
        assert_eq!(
            to_units(dec!(1.5), 18),
            Some(U256::from(1_500_000_000_000_000_000u128))
        );
        assert_eq!(to_units(dec!(0.1234567), 6), Some(U256::from(123_456u64)));
        assert_eq!(to_units(dec!(0), 6), Some(U256::ZERO));
        assert_eq!(to_units(dec!(-1), 6), None);
        assert_eq!(from_units(U256::from(1_500_000u64), 6), dec!(1.5));
        assert_eq!(from_units(U256::from(5u64), 18), dec!(0.000000000000000005));
        assert_eq!(
            to_units(from_units(U256::from(123_456_789u64), 8), 8),
            Some(U256::from(123_456_789u64))
        );
    }

    #[test]
    fn the_wallet_comes_from_an_encrypted_keystore() {
        let dir = std::env::temp_dir().join(format!("vigil-dex-keystore-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (signer, _) = PrivateKeySigner::encrypt_keystore(
            &dir,
            &mut rand::thread_rng(),
            [7u8; 32],
            "a long password",
            Some("wallet.json"),
        )
        .unwrap();
        let file = dir.join("wallet.json");
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            !text.contains(&hex_key(&[7u8; 32])),
            "the key is encrypted at rest"
        );
        // The only test in this crate that touches this variable.
        std::env::set_var("VIGIL_KEYSTORE_PASSWORD", "a long password");
        assert_eq!(
            wallet_from_env(Some(&file)).unwrap().address(),
            signer.address()
        );
        std::env::set_var("VIGIL_KEYSTORE_PASSWORD", "wrong");
        let err = wallet_from_env(Some(&file)).unwrap_err().to_string();
        assert!(err.contains("cannot decrypt"), "{err}");
        std::env::remove_var("VIGIL_KEYSTORE_PASSWORD");
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn hex_key(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn revert_reasons_are_named() {
        assert_eq!(
            revert_reason("server returned an error response: error code 3: execution reverted: UniswapV2Router: EXPIRED"),
            "UniswapV2Router: EXPIRED"
        );
        assert!(
            revert_reason("execution reverted: UniswapV2Router: INSUFFICIENT_OUTPUT_AMOUNT")
                .ends_with("INSUFFICIENT_OUTPUT_AMOUNT")
        );
    }
}
