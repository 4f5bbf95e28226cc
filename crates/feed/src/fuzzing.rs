//! Entry points for the fuzz targets in `fuzz/` (the `fuzzing` feature): the
//! parsers that are private to this crate, fed arbitrary input. Each returns
//! normally or with an error value; a panic is a bug.

use std::path::Path;

use vigil_core::{InstrumentId, Universe};

use crate::binance::{BinanceSymbol, Decoder};
use crate::grades::{read_grades, GradeCsvOptions};

/// Decodes one Binance WebSocket text frame (kline or trade, combined stream).
pub fn binance_message(text: &str) {
    let mut d = Decoder::new(
        &[BinanceSymbol {
            instrument: InstrumentId(0),
            symbol: "BTCUSDT".into(),
            resume_after: None,
        }],
        "1m".parse().expect("a valid interval"),
    );
    let _ = d.message(text);
    let _ = d.message(text);
}

/// Parses a Token Metrics response body.
pub fn token_metrics_body(body: &str) {
    let _ = crate::token_metrics::parse_envelope("/v2/fuzz", body);
}

/// Reads a grades CSV from bytes, with and without a publication lag.
pub fn grades_csv(data: &[u8]) {
    for lag in [None, Some("1d".parse().expect("a valid interval"))] {
        let mut u = Universe::new();
        let options = GradeCsvOptions {
            default_source: None,
            default_kind: None,
            publication_lag: lag,
        };
        let _ = read_grades(data, Path::new("fuzz.csv"), &mut u, &options);
    }
}
