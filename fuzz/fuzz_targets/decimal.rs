//! The exact decimal parser: what it accepts prints back to the same value.
#![no_main]
use vigil_feed::parse::parse_decimal_exact;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(d) = parse_decimal_exact(data) {
        let back = parse_decimal_exact(d.to_string().as_bytes()).expect("its own output parses");
        assert_eq!(back, d);
    }
});
