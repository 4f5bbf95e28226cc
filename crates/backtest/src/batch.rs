//! Running many parameter sets of one config: batches of sets share one
//! pass over the data ([`crate::run_shared`]), batches spread over the
//! current thread pool. What sweeps, walk-forward windows and a cluster's
//! workers run.

use rayon::prelude::*;
use vigil_strategy::Registry;

use crate::config::LoadedConfig;
use crate::error::BacktestError;
use crate::report::BacktestReport;

/// The most parameter sets one data pass drives: memory grows with the batch,
/// not with the sweep.
pub const MAX_BATCH: usize = 32;

/// Contiguous batches of `n` sets for `threads` threads: at least one per
/// thread (while there are sets), at most `max` sets each.
pub fn batches(n: usize, threads: usize, max: usize) -> Vec<std::ops::Range<usize>> {
    if n == 0 {
        return Vec::new();
    }
    let count = threads.max(1).max(n.div_ceil(max.max(1))).min(n);
    let (size, extra) = (n / count, n % count);
    let mut out = Vec::with_capacity(count);
    let mut at = 0;
    for i in 0..count {
        let len = size + usize::from(i < extra);
        out.push(at..at + len);
        at += len;
    }
    out
}

/// What one parameter set's run gave.
pub(crate) type RunOutcome = Result<BacktestReport, BacktestError>;

/// Runs every parameter set of `sets` over `base` and maps each outcome with
/// `each(index, set, outcome)`, in set order, on the current thread pool:
/// batches of sets share one pass over the data, unless the config has a DEX
/// venue or an LLM source (then each set runs on its own).
pub(crate) fn run_sets<T: Send>(
    base: &LoadedConfig,
    sets: &[toml::Table],
    registry: &Registry,
    max_batch: usize,
    each: &(dyn Fn(usize, &toml::Table, RunOutcome) -> T + Sync),
) -> Vec<T> {
    if base.config.dex.is_some() || base.config.llm.is_some() {
        return sets
            .par_iter()
            .enumerate()
            .map(|(i, set)| {
                each(
                    i,
                    set,
                    base.with_params(set).build(registry).and_then(|b| b.run()),
                )
            })
            .collect();
    }
    let done: Vec<Vec<T>> = batches(sets.len(), rayon::current_num_threads(), max_batch)
        .par_iter()
        .map(|range| {
            let batch: Vec<&toml::Table> = sets[range.clone()].iter().collect();
            shared_batch(base, &batch, registry)
                .into_iter()
                .zip(range.clone())
                .map(|(r, i)| each(i, &sets[i], r))
                .collect()
        })
        .collect();
    done.into_iter().flatten().collect()
}

/// The outcomes of one batch, run over one shared pass of the data.
fn shared_batch(
    base: &LoadedConfig,
    batch: &[&toml::Table],
    registry: &Registry,
) -> Vec<Result<BacktestReport, BacktestError>> {
    let (stream, built) = base.build_batch(batch, registry);
    let mut failed: Vec<Option<BacktestError>> = Vec::with_capacity(built.len());
    let mut ready = Vec::new();
    for b in built {
        match b {
            Ok(b) => {
                ready.push(b);
                failed.push(None);
            }
            Err(e) => failed.push(Some(e)),
        }
    }
    let mut reports = match stream {
        Some(s) => crate::run_shared(ready, s).into_iter(),
        None => Vec::new().into_iter(),
    };
    failed
        .into_iter()
        .map(|f| match f {
            Some(e) => Err(e),
            None => reports.next().unwrap_or_else(|| {
                Err(BacktestError::Shared(
                    "the shared pass lost this run".into(),
                ))
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Batches cover every set once, in order, at most `max` each, and
        /// give every thread one while there are sets.
        #[test]
        fn batches_cover_every_set_once_in_order(n in 0usize..500, threads in 1usize..9, max in 1usize..80) {
            let b = batches(n, threads, max);
            let mut at = 0;
            for r in &b {
                proptest::prop_assert_eq!(r.start, at);
                proptest::prop_assert!(!r.is_empty() && r.len() <= max);
                at = r.end;
            }
            proptest::prop_assert_eq!(at, n);
            proptest::prop_assert!(b.len() >= threads.min(n));
        }
    }
}
