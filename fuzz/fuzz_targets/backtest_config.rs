//! Backtest config loading: any text is a config or an error naming the file.
#![no_main]
use vigil_backtest::LoadedConfig;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("vigil-fuzz-cfg-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("fuzz.toml");
    std::fs::write(&path, data).unwrap();
    if let Err(e) = LoadedConfig::load(&path) {
        assert!(e.to_string().contains("fuzz.toml"), "{e}");
    }
});
