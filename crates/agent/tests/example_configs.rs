//! Every agent config the repository ships under examples/ loads and validates,
//! and every file a replay feed names exists: an example that cannot start is a
//! broken promise.

use vigil_agent::config::{AgentConfig, FeedKind};
use vigil_testkit::root;

#[test]
fn shipped_agent_configs_load_and_name_existing_files() {
    let mut checked = 0;
    for dir in ["examples/paper", "examples/live"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            let (cfg, file) = AgentConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
            if cfg.feed.kind == FeedKind::Replay {
                for f in &cfg.feed.funding {
                    let data = file.dir().join(&f.path);
                    assert!(
                        data.exists(),
                        "{}: {} does not exist",
                        path.display(),
                        data.display()
                    );
                }
                for bars in cfg.feed.bars.iter().chain(&cfg.feed.mark) {
                    for data in bars.path.expand(&file.dir()).unwrap() {
                        assert!(
                            data.exists(),
                            "{}: {} does not exist",
                            path.display(),
                            data.display()
                        );
                    }
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 4, "only {checked} configs found");
}

/// What an agent with a perpetual refuses: trading it live on the spot
/// adapter (named at the instrument's `kind` line), and a live feed that mixes
/// it with spot pairs. On `binance-usdm` it loads.
#[test]
fn perpetual_agents_refuse_live_spot_trading_and_mixed_feeds() {
    let dir = tempfile::tempdir().unwrap();
    let perp = root().join("examples/paper/btc-perp-replay.toml");
    let text = std::fs::read_to_string(&perp).unwrap();
    let path = dir.path().join("a.toml");
    let live = |exchange: &str| {
        text.replace("mode = \"paper\"", "mode = \"live\"")
            + &format!("\n[live]\nexchange = \"{exchange}\"\n")
    };
    std::fs::write(&path, live("binance")).unwrap();
    let e = AgentConfig::load(&path).unwrap_err().to_string();
    let kind_line = text.lines().position(|l| l.starts_with("kind = ")).unwrap() + 1;
    assert!(e.contains(&format!("a.toml:{kind_line}: ")), "{e}");
    assert!(e.contains("a perpetual cannot trade on `binance`"), "{e}");
    std::fs::write(&path, live("binance-usdm")).unwrap();
    AgentConfig::load(&path).expect("a perpetual loads for binance-usdm");
    let mixed = text
        .replace("type = \"replay\"", "type = \"binance\"")
        .split("[[feed.bars]]")
        .next()
        .unwrap()
        .to_string()
        + "[[instruments]]\nsymbol = \"ETHUSDT\"\nbase = \"ETH\"\nquote = \"USDT\"\n\n[strategy]\nname = \"sma-cross\"\nfast = 10\nslow = 30\n";
    std::fs::write(&path, mixed).unwrap();
    let e = AgentConfig::load(&path).unwrap_err().to_string();
    assert!(
        e.contains("spot pairs or USDⓈ-M perpetuals, not both"),
        "{e}"
    );
}
