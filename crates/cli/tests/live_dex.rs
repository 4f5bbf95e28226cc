//! `vigil live` on a DEX: a real local chain (anvil from npm) with the real Uniswap
//! V2 contracts; the agent's sma-cross buys through the router, the fill comes from
//! the receipt, and everything is journaled. Skipped without anvil unless
//! `VIGIL_REQUIRE_CHAIN=1`.

use std::path::Path;
use std::process::Command;

use alloy::primitives::hex;
use vigil_dex::testing::{available, chain, Chain, ITestToken};

fn setup(dir: &Path, c: &Chain) -> std::path::PathBuf {
    // Closes 2000, 1990, 2010: the 1/2 SMA crosses up on the third bar.
    let mut csv = String::from("ts,open,high,low,close,volume\n");
    for (i, p) in [2000, 1990, 2010, 2010].iter().enumerate() {
        csv.push_str(&format!("2022-01-01T00:{i:02}:00Z,{p},{p},{p},{p},1\n"));
    }
    std::fs::write(dir.join("bars.csv"), csv).unwrap();
    let cfg = format!(
        r#"name = "dex-live"
mode = "live"
account_currency = "TKQ"
starting_cash = 1000

[[instruments]]
symbol = "TKBTKQ"
base = "TKB"
quote = "TKQ"

[feed]
type = "replay"
speed = 0
[[feed.bars]]
instrument = "TKBTKQ"
path = "bars.csv"
interval = "1m"

[venue]
taker_fee_bps = 30

[strategy]
name = "sma-cross"
fast = 1
slow = 2

[live]
exchange = "uniswap-v2"
confirm = "I understand this agent trades real money"

[live.dex]
rpc_url = "{rpc}"
router = "{router}"
native_price = 2000
slippage_bps = 100
[[live.dex.tokens]]
symbol = "TKB"
address = "{base}"
decimals = 18
[[live.dex.tokens]]
symbol = "TKQ"
address = "{quote}"
decimals = 18
"#,
        rpc = c.endpoint,
        router = c.router,
        base = c.base,
        quote = c.quote,
    );
    let path = dir.join("agent.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_agent_swaps_on_the_dex_and_journals_the_receipt_fill() {
    if !available() {
        return;
    }
    let c = chain().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), &c);
    let me = c.signer.address();
    let token = ITestToken::new(c.base, &c.provider);
    let before = token.balanceOf(me).call().await.unwrap();
    let key = hex::encode(c.signer.to_bytes());
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args(["live", "-q"])
            .arg(&cfg)
            .env("VIGIL_WALLET_KEY", &key)
            .output()
            .unwrap()
    };
    let out = run();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = token.balanceOf(me).call().await.unwrap() - before;
    assert!(!got.is_zero(), "the agent bought TKB on chain");
    // The journal holds the fill, with the quantity that arrived in the wallet.
    let st = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["status", "--json"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(v["fills"], 1, "{v}");
    let positions = v["snapshot"]["positions"].as_str().unwrap();
    let qty = vigil_dex::from_units(got, 18).to_string();
    assert!(
        positions.contains(&format!("\"qty\":\"{qty}\"")),
        "{positions} vs {qty}"
    );
    // The key never reaches the output.
    assert!(!String::from_utf8_lossy(&out.stderr).contains(&key));
    // A second start finds the run complete and sends nothing.
    let nonce = alloy::providers::Provider::get_transaction_count(&c.provider, me)
        .await
        .unwrap();
    let again = run();
    assert!(again.status.success());
    assert_eq!(
        alloy::providers::Provider::get_transaction_count(&c.provider, me)
            .await
            .unwrap(),
        nonce
    );
}
