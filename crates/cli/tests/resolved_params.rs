//! A report's parameters are what the strategy ran with: the documented defaults
//! of every built-in are values its config accepts, so each shipped backtest
//! builds again from the parameters its report shows — and runs the same.

use std::path::Path;

use vigil_backtest::LoadedConfig;

fn shipped() -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../backtests");
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_shipped_backtest_builds_from_its_resolved_parameters() {
    let registry = vigil_cli::builtin_registry();
    let configs = shipped();
    assert!(configs.len() >= 12);
    for path in configs {
        let loaded = LoadedConfig::load(&path).unwrap();
        let mut params = loaded.config.strategy.clone();
        let name = params.remove("name").unwrap();
        let d = registry.get(name.as_str().unwrap()).unwrap();
        let resolved = d.resolve(&params);
        assert_eq!(
            d.resolve(&resolved),
            resolved,
            "{}: resolving twice",
            path.display()
        );
        for spec in d.params {
            assert_eq!(
                resolved.contains_key(spec.name),
                spec.default.is_some() || params.contains_key(spec.name),
                "{}: {}",
                path.display(),
                spec.name
            );
        }
        if let Err(e) = loaded.with_params(&resolved).build(&registry) {
            panic!(
                "{}: the resolved parameters are refused: {e}",
                path.display()
            );
        }
    }
}

#[test]
fn a_run_from_the_resolved_parameters_is_the_same_run() {
    let registry = vigil_cli::builtin_registry();
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../backtests/btc-1h-rsi-reversion.toml");
    let loaded = LoadedConfig::load(&path).unwrap();
    let first = loaded.build(&registry).unwrap().run().unwrap();
    let resolved: toml::Table = serde_json::from_value(first.strategy_params.clone()).unwrap();
    assert!(resolved.contains_key("band_period"), "a default is shown");
    let again = loaded
        .with_params(&resolved)
        .build(&registry)
        .unwrap()
        .run()
        .unwrap();
    assert_eq!(again.strategy_params, first.strategy_params);
    assert_eq!(
        serde_json::to_string(&again.metrics).unwrap(),
        serde_json::to_string(&first.metrics).unwrap()
    );
    assert!(first.metrics.trade_count > 0);
}
