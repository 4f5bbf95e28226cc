//! The `.vbar` reader: any file gives valid bars or an error.
#![no_main]
use vigil_core::InstrumentId;
use vigil_feed::bar_cache::VbarReader;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("vigil-fuzz-vbar-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("f.vbar");
    std::fs::write(&path, data).unwrap();
    if let Ok((reader, _)) = VbarReader::open(&path, InstrumentId(0), None) {
        for bar in reader {
            let Ok(b) = bar else { break };
            assert!(b.low > vigil_core::Decimal::ZERO && b.low <= b.high);
        }
    }
});
