//! Generating model grades for a backtest's data, writing them as a grades CSV,
//! and measuring whether grades carry information about forward returns.

use std::io::Write;
use std::path::Path;

use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;
use vigil_core::{Grade, GradeKind, InstrumentId, Interval, MarketEvent, Timestamp, Universe};
use vigil_feed::grade_model::{GradeModel, GradeModelOptions};
use vigil_feed::{open_bar_sources, FeedError, MergedStream};

use vigil_core::config::FieldError;

use crate::config::LoadedConfig;
use crate::error::BacktestError;

/// Bars of the config's data sources, merged, with the universe.
fn bars(
    loaded: &LoadedConfig,
) -> Result<(Universe, MergedStream, Vec<Option<Interval>>), BacktestError> {
    let config = &loaded.config;
    let mut universe = Universe::new();
    for spec in &config.instruments {
        universe.add(spec).map_err(|e| {
            loaded.file.field_error(FieldError::new(
                format!("instruments[symbol={}].symbol", spec.symbol),
                e.to_string(),
            ))
        })?;
    }
    let opened = open_bar_sources(&config.data.bars, &loaded.dir(), &universe, false)?;
    Ok((universe, opened.stream, opened.intervals))
}

/// Runs the grade model over a backtest config's bars.
pub fn generate_grades(
    config_path: &Path,
    model: &GradeModelOptions,
) -> Result<(Universe, Vec<Grade>), BacktestError> {
    let (universe, merged, intervals) = bars(&LoadedConfig::load(config_path)?)?;
    let mut m = GradeModel::new(model.clone(), &universe, &intervals);
    let mut out = Vec::new();
    for ev in merged {
        if let MarketEvent::Bar(b) = ev? {
            m.on_bar(&b, &mut out);
        }
    }
    Ok((universe, out))
}

/// Writes grades in the format [`vigil_feed::read_grades_csv`] reads.
pub fn write_grades_csv(
    path: &Path,
    universe: &Universe,
    grades: &[Grade],
) -> Result<(), FeedError> {
    let io = |source| FeedError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    writeln!(w, "symbol,kind,score,as_of,published_at,source").map_err(io)?;
    for g in grades {
        writeln!(
            w,
            "{},{},{},{},{},{}",
            universe.asset_symbol(g.asset),
            g.kind,
            g.score,
            g.as_of.to_rfc3339(),
            g.published_at.to_rfc3339(),
            g.source
        )
        .map_err(io)?;
    }
    w.flush().map_err(io)
}

/// Forward returns of the grades in one score bucket.
#[derive(Clone, Debug, Serialize)]
pub struct Bucket {
    /// Lower bound of the scores (inclusive).
    pub from: f64,
    /// Upper bound (exclusive, except 100).
    pub to: f64,
    /// Grades in the bucket with a known forward return.
    pub count: usize,
    /// Mean forward return.
    pub mean_return: f64,
    /// Fraction of positive forward returns.
    pub hit_rate: f64,
}

/// Does the grade predict the forward return?
#[derive(Clone, Debug, Serialize)]
pub struct GradeEvaluation {
    /// Grade kind evaluated.
    pub kind: String,
    /// Forward horizon.
    pub horizon: String,
    /// Per-bucket statistics.
    pub buckets: Vec<Bucket>,
    /// Mean forward return of all grades (the baseline).
    pub mean_return: f64,
    /// Spearman rank correlation between score and forward return (information coefficient).
    pub rank_ic: Option<f64>,
    /// Grades evaluated.
    pub count: usize,
}

fn ranks(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut r = vec![0.0; x.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && x[idx[j + 1]] == x[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0;
        for k in i..=j {
            r[idx[k]] = avg;
        }
        i = j + 1;
    }
    r
}

fn pearson(a: &[f64], b: &[f64]) -> Option<f64> {
    let n = a.len() as f64;
    if a.len() < 3 {
        return None;
    }
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    (va > 0.0 && vb > 0.0).then(|| cov / (va * vb).sqrt())
}

/// Forward return by grade bucket: for each grade of `kind`, the instrument's
/// return from the close at publication to the first close at least `horizon`
/// later. Uses only the config's bars; grades whose horizon runs past the data are
/// left out.
pub fn evaluate_grades(
    config_path: &Path,
    universe_grades: &(Universe, Vec<Grade>),
    kind: &GradeKind,
    horizon: Interval,
) -> Result<GradeEvaluation, BacktestError> {
    let (universe, merged, _) = bars(&LoadedConfig::load(config_path)?)?;
    let mut closes: Vec<Vec<(Timestamp, f64)>> = vec![Vec::new(); universe.len()];
    for ev in merged {
        if let MarketEvent::Bar(b) = ev? {
            closes[b.instrument.index()].push((b.close_time, b.close.to_f64().unwrap_or(f64::NAN)));
        }
    }
    let (gu, grades) = universe_grades;
    let price_at = |inst: InstrumentId, t: Timestamp| -> Option<f64> {
        let c = &closes[inst.index()];
        let i = c.partition_point(|(ts, _)| *ts < t);
        c.get(i).map(|x| x.1)
    };
    let mut pairs = Vec::new();
    for g in grades.iter().filter(|g| &g.kind == kind) {
        let symbol = gu.asset_symbol(g.asset);
        let Some(asset) = universe.asset_id(symbol) else {
            continue;
        };
        for inst in universe.instruments_with_base(asset) {
            let (Some(p0), Some(p1)) = (
                price_at(inst.id, g.published_at),
                price_at(inst.id, g.published_at.add_nanos(horizon.nanos())),
            ) else {
                continue;
            };
            let c = &closes[inst.id.index()];
            if c.last()
                .is_some_and(|(t, _)| *t < g.published_at.add_nanos(horizon.nanos()))
            {
                continue;
            }
            pairs.push((g.score, p1 / p0 - 1.0));
        }
    }
    let mut buckets = Vec::new();
    for k in 0..5 {
        let (from, to) = (k as f64 * 20.0, (k + 1) as f64 * 20.0);
        let rs: Vec<f64> = pairs
            .iter()
            .filter(|(s, _)| *s >= from && (*s < to || (k == 4 && *s <= to)))
            .map(|p| p.1)
            .collect();
        let n = rs.len();
        buckets.push(Bucket {
            from,
            to,
            count: n,
            mean_return: if n > 0 {
                rs.iter().sum::<f64>() / n as f64
            } else {
                0.0
            },
            hit_rate: if n > 0 {
                rs.iter().filter(|r| **r > 0.0).count() as f64 / n as f64
            } else {
                0.0
            },
        });
    }
    let scores: Vec<f64> = pairs.iter().map(|p| p.0).collect();
    let rets: Vec<f64> = pairs.iter().map(|p| p.1).collect();
    Ok(GradeEvaluation {
        kind: kind.to_string(),
        horizon: horizon.to_string(),
        buckets,
        mean_return: if pairs.is_empty() {
            0.0
        } else {
            rets.iter().sum::<f64>() / pairs.len() as f64
        },
        rank_ic: pearson(&ranks(&scores), &ranks(&rets)),
        count: pairs.len(),
    })
}
