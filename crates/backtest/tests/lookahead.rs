//! `check_lookahead` passes honest strategies and catches one that reads the future.

use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use vigil_backtest::lookahead::check_lookahead;
use vigil_core::MarketEvent;
use vigil_strategy::{
    BuildContext, Context, Registry, Strategy, StrategyDescriptor, StrategyError,
};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Closes seen by any run, kept in a global across runs: the classic "cached
/// indicator" bug of parameter sweeps. A later run that starts from the cache knows
/// closes it has not been shown yet.
static CACHE: std::sync::Mutex<Vec<Decimal>> = std::sync::Mutex::new(Vec::new());

/// Trades on the close 10 bars ahead whenever the global cache holds it.
struct Peek {
    i: usize,
}

impl Strategy for Peek {
    fn on_event(&mut self, event: &MarketEvent, ctx: &mut Context<'_>) {
        let MarketEvent::Bar(bar) = event else { return };
        let ahead = {
            let mut cache = CACHE.lock().unwrap();
            if cache.len() == self.i {
                cache.push(bar.close);
            }
            cache.get(self.i + 10).copied()
        };
        self.i += 1;
        let held = ctx.position_qty(bar.instrument);
        match ahead {
            Some(a) if a > bar.close && held.is_zero() => {
                let qty = ctx.affordable_qty(bar.instrument, ctx.cash_for(bar.instrument));
                if qty > Decimal::ZERO {
                    ctx.buy(bar.instrument, qty);
                }
            }
            Some(a) if a < bar.close && held > Decimal::ZERO => {
                ctx.close(bar.instrument);
            }
            _ => {}
        }
    }
}

fn build_peek(_: &toml::Table, _: &BuildContext<'_>) -> Result<Box<dyn Strategy>, StrategyError> {
    Ok(Box::new(Peek { i: 0 }))
}

fn config(dir: &Path, strategy: &str) -> PathBuf {
    let text = format!(
        r#"account_currency = "USD"
starting_cash = 10000
[[instruments]]
symbol = "BTC-USD"
base = "BTC"
quote = "USD"
[[data.bars]]
instrument = "BTC-USD"
path = "{}"
interval = "1d"
[strategy]
{strategy}
"#,
        root()
            .join("backtests/data/coinbase-btcusd-1d-2014-2018.csv")
            .display()
    );
    let p = dir.join(format!("{}.toml", strategy.len()));
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn catches_a_strategy_that_reads_the_future_and_passes_honest_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut registry = Registry::new();
    registry.register(vigil_sma_cross::descriptor()).unwrap();
    registry
        .register(StrategyDescriptor {
            name: "peek",
            summary: "cheats",
            params: &[],
            build: build_peek,
        })
        .unwrap();

    let honest = check_lookahead(
        &config(dir.path(), "name = \"sma-cross\"\nfast = 5\nslow = 20"),
        &registry,
        8,
    )
    .unwrap();
    assert!(
        !honest.lookahead_detected,
        "{:?}",
        honest.cuts.iter().find(|c| c.first_difference.is_some())
    );
    assert_eq!(honest.cuts.len(), 8);
    assert!(honest.cuts.iter().map(|c| c.fills_compared).sum::<usize>() > 50);

    let cheat = check_lookahead(&config(dir.path(), "name = \"peek\""), &registry, 8).unwrap();
    assert!(
        cheat.lookahead_detected,
        "the peeking strategy was not caught"
    );
}
