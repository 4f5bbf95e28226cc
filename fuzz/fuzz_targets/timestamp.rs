//! The timestamp parser: RFC 3339 text and epoch numbers in every unit; what
//! parses as RFC 3339 prints back as a time that parses to the same instant.
#![no_main]
use vigil_core::{TimeUnit, Timestamp};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    for unit in [
        None,
        Some(TimeUnit::Seconds),
        Some(TimeUnit::Millis),
        Some(TimeUnit::Micros),
        Some(TimeUnit::Nanos),
    ] {
        if let Ok(t) = Timestamp::parse_bytes(data, unit) {
            let again = Timestamp::parse(&t.to_rfc3339(), None).expect("its own output parses");
            assert_eq!(again, t);
        }
    }
});
