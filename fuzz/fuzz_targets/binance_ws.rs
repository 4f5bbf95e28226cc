//! The Binance WebSocket decoder (klines and trades, combined stream).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        vigil_feed::fuzzing::binance_message(text);
    }
});
