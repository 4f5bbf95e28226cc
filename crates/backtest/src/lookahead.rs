//! The look-ahead check: replay with the data truncated at many points and prove
//! that no decision before a cut changes when the data after it disappears.

use std::path::Path;

use serde::Serialize;
use vigil_core::Timestamp;
use vigil_strategy::Registry;

use crate::config::LoadedConfig;
use crate::error::BacktestError;
use crate::report::FillRecord;

/// One truncation point and what it found.
#[derive(Clone, Debug, Serialize)]
pub struct Cut {
    /// Where the data was cut.
    pub at: Timestamp,
    /// Fills compared (those before the cut, less one bar of margin).
    pub fills_compared: usize,
    /// The first fill that differs, if any: (full run, truncated run).
    pub first_difference: Option<(Option<FillRecord>, Option<FillRecord>)>,
}

/// The result of [`check_lookahead`].
#[derive(Clone, Debug, Serialize)]
pub struct LookaheadReport {
    /// Every cut.
    pub cuts: Vec<Cut>,
    /// Whether any decision before a cut depended on data after it.
    pub lookahead_detected: bool,
}

/// Runs the backtest once on all the data and once per cut on the data up to the
/// cut, and compares the fills before each cut (minus `margin`, the longest bar
/// interval: a fill at a bar's open is only known at its close).
pub fn check_lookahead(
    config_path: &Path,
    registry: &Registry,
    cuts: usize,
) -> Result<LookaheadReport, BacktestError> {
    let loaded = LoadedConfig::load(config_path)?.replaying_llm();
    let full = loaded.build(registry)?.run()?;
    let (Some(start), Some(end)) = (full.metrics.start, full.metrics.end) else {
        return Ok(LookaheadReport {
            cuts: Vec::new(),
            lookahead_detected: false,
        });
    };
    let margin = loaded
        .config
        .data
        .bars
        .iter()
        .map(|b| b.interval.nanos())
        .max()
        .unwrap_or(0);
    let mut out = Vec::new();
    for k in 1..=cuts.max(1) {
        let at =
            Timestamp(start.nanos() + (end.nanos() - start.nanos()) / (cuts as i64 + 1) * k as i64);
        let truncated = loaded.with_end(at).build(registry)?.run()?;
        let horizon = at.add_nanos(-margin);
        let before = |fills: &[FillRecord]| {
            fills
                .iter()
                .filter(|f| f.ts < horizon)
                .cloned()
                .collect::<Vec<_>>()
        };
        let (a, b) = (before(&full.fills), before(&truncated.fills));
        let first_difference = (0..a.len().max(b.len()))
            .find(|&i| a.get(i) != b.get(i))
            .map(|i| (a.get(i).cloned(), b.get(i).cloned()));
        out.push(Cut {
            at,
            fills_compared: a.len(),
            first_difference,
        });
    }
    Ok(LookaheadReport {
        lookahead_detected: out.iter().any(|c| c.first_difference.is_some()),
        cuts: out,
    })
}
