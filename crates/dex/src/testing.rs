//! A local chain for tests: anvil (from npm) with the real Uniswap V2 factory,
//! WETH9 and router deployed from their npm artifacts, two test tokens and a pool.
//! Enabled by the `testing` feature.

#![allow(clippy::too_many_arguments, missing_docs)] // sol! bindings mirror the contracts

use std::path::{Path, PathBuf};

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::node_bindings::{Anvil, AnvilInstance};
use alloy::primitives::{hex, Address, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol;
use alloy::sol_types::SolValue;

sol! {
    #[sol(rpc)]
    interface ITestRouter {
        function addLiquidity(address tokenA, address tokenB, uint amountADesired, uint amountBDesired, uint amountAMin, uint amountBMin, address to, uint deadline) external returns (uint amountA, uint amountB, uint liquidity);
    }
    #[sol(rpc)]
    interface ITestFactory {
        function getPair(address tokenA, address tokenB) external view returns (address pair);
    }
    #[sol(rpc)]
    interface ITestPair {
        function getReserves() external view returns (uint112 reserve0, uint112 reserve1, uint32 blockTimestampLast);
        function token0() external view returns (address);
    }
    #[sol(rpc)]
    interface ITestToken {
        function approve(address spender, uint256 amount) external returns (bool);
        function balanceOf(address owner) external view returns (uint256);
        function allowance(address owner, address spender) external view returns (uint256);
    }
}

pub fn npm_dir() -> PathBuf {
    std::env::var_os("VIGIL_NPM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.vigil-cache/npm/node_modules")
        })
}

pub fn available() -> bool {
    let ok = npm_dir()
        .join("@foundry-rs/anvil-linux-amd64/bin/anvil")
        .is_file()
        && npm_dir()
            .join("@uniswap/v2-periphery/build/UniswapV2Router02.json")
            .is_file();
    if !ok {
        if std::env::var("VIGIL_REQUIRE_CHAIN").as_deref() == Ok("1") {
            panic!(
                "VIGIL_REQUIRE_CHAIN=1 but anvil / the Uniswap artifacts are missing under {}",
                npm_dir().display()
            );
        }
        eprintln!("SKIPPED: anvil and the Uniswap V2 artifacts are not installed (scripts/test.sh installs them)");
    }
    ok
}

fn bytecode(package: &str, name: &str) -> Vec<u8> {
    let path = npm_dir()
        .join(package)
        .join("build")
        .join(format!("{name}.json"));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    hex::decode(v["bytecode"].as_str().unwrap().trim_start_matches("0x")).unwrap()
}

async fn deploy(provider: &DynProvider, mut code: Vec<u8>, args: Vec<u8>) -> Address {
    code.extend(args);
    let tx = TransactionRequest::default().with_deploy_code(code);
    let receipt = provider
        .send_transaction(tx)
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(receipt.status());
    receipt.contract_address.unwrap()
}

/// A chain with the real Uniswap V2 contracts and a TKB/TKQ pool holding 100 TKB
/// and 200,000 TKQ (price 2,000 TKQ per TKB).
pub struct Chain {
    pub anvil: AnvilInstance,
    pub endpoint: String,
    pub provider: DynProvider,
    pub signer: PrivateKeySigner,
    pub router: Address,
    pub pair: Address,
    pub base: Address,
    pub quote: Address,
}

pub const E18: u128 = 1_000_000_000_000_000_000;

pub async fn chain() -> Chain {
    let anvil = Anvil::new()
        .path(npm_dir().join("@foundry-rs/anvil-linux-amd64/bin/anvil"))
        .spawn();
    let signer: PrivateKeySigner = anvil.keys()[0].clone().into();
    let me = signer.address();
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer.clone()))
        .connect_http(anvil.endpoint_url())
        .erased();
    let factory = deploy(
        &provider,
        bytecode("@uniswap/v2-core", "UniswapV2Factory"),
        me.abi_encode(),
    )
    .await;
    let weth = deploy(
        &provider,
        bytecode("@uniswap/v2-periphery", "WETH9"),
        Vec::new(),
    )
    .await;
    let router = deploy(
        &provider,
        bytecode("@uniswap/v2-periphery", "UniswapV2Router02"),
        (factory, weth).abi_encode_params(),
    )
    .await;
    let supply = U256::from(10_000_000u64) * U256::from(E18);
    let base = deploy(
        &provider,
        bytecode("@uniswap/v2-periphery", "ERC20"),
        supply.abi_encode(),
    )
    .await;
    let quote = deploy(
        &provider,
        bytecode("@uniswap/v2-periphery", "ERC20"),
        supply.abi_encode(),
    )
    .await;
    let (b_amt, q_amt) = (
        U256::from(100u64) * U256::from(E18),
        U256::from(200_000u64) * U256::from(E18),
    );
    for (t, a) in [(base, b_amt), (quote, q_amt)] {
        let r = ITestToken::new(t, &provider)
            .approve(router, a)
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        assert!(r.status());
    }
    let deadline = U256::from(u64::MAX);
    let r = ITestRouter::new(router, &provider)
        .addLiquidity(
            base,
            quote,
            b_amt,
            q_amt,
            U256::ZERO,
            U256::ZERO,
            me,
            deadline,
        )
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(r.status(), "addLiquidity");
    let pair = ITestFactory::new(factory, &provider)
        .getPair(base, quote)
        .call()
        .await
        .unwrap();
    Chain {
        endpoint: anvil.endpoint(),
        anvil,
        provider,
        signer,
        router,
        pair,
        base,
        quote,
    }
}
