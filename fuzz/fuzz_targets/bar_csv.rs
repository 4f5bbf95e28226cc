//! The bar CSV reader: any bytes give bars that pass the row checks, or an error.
#![no_main]
use vigil_core::{InstrumentId, TimeUnit};
use vigil_feed::{BarCsvOptions, CsvBarReader};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    for ts_unit in [None, Some(TimeUnit::Millis)] {
        let options = BarCsvOptions {
            instrument: InstrumentId(0),
            interval: "1m".parse().unwrap(),
            ts_unit,
        };
        let Ok(reader) = CsvBarReader::from_reader(data, "fuzz.csv", options) else {
            continue;
        };
        let mut prev = None;
        for bar in reader {
            let Ok(b) = bar else { break };
            assert!(b.low > vigil_core::Decimal::ZERO && b.low <= b.high);
            assert!(b.low <= b.open && b.open <= b.high && b.low <= b.close && b.close <= b.high);
            assert!(prev.is_none_or(|p| b.open_time > p));
            prev = Some(b.open_time);
        }
    }
});
