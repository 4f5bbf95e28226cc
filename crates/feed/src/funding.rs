//! Funding-rate files for perpetual backtests (`[[data.funding]]`), in the
//! three shapes users have: what `vigil data download --market usdm` writes
//! (`ts,funding_rate[,funding_interval_hours]`), Binance's monthly archive CSV
//! (`calc_time,funding_interval_hours,last_funding_rate`, with or without its
//! header), and the REST API's JSON (`GET /fapi/v1/fundingRate`: a list of
//! `{symbol, fundingTime, fundingRate, …}`). Rows must be in increasing time
//! order; errors name the file, line and field.

use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use vigil_core::perp::FundingRate;
use vigil_core::{InstrumentId, Timestamp};

use crate::error::FeedError;

/// One funding-rate file of a perpetual (`[[data.funding]]` in a backtest,
/// `[[feed.funding]]` in a replaying agent).
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FundingSourceConfig {
    /// The perpetual.
    pub instrument: String,
    /// CSV or JSON path, relative to the config file.
    pub path: PathBuf,
}

/// Adds a replay's perpetual data to `merged`, after what it holds (so at
/// one time the traded bars come first): mark-price bar files as
/// [`vigil_core::MarketEvent::Mark`] and funding files as
/// [`vigil_core::MarketEvent::Funding`]. Every instrument named must be a
/// perpetual of `universe` (the error names the table and the symbol).
/// Returns, per instrument, whether it has funding data.
pub fn add_perp_sources(
    merged: &mut crate::MergedStream,
    mark: &[crate::BarSourceConfig],
    funding: &[FundingSourceConfig],
    base: &Path,
    universe: &vigil_core::Universe,
    table: &str,
) -> Result<Vec<bool>, FeedError> {
    let perp = |kind: &str, i: usize, symbol: &str| {
        universe
            .id(symbol)
            .filter(|id| universe.get(*id).is_perpetual())
            .ok_or_else(|| {
                FeedError::Config(format!(
                    "{table}.{kind}[{i}]: `{symbol}` is not a perpetual instrument (`kind = \"perpetual\"`)"
                ))
            })
    };
    for (i, m) in mark.iter().enumerate() {
        perp("mark", i, &m.instrument)?;
    }
    if !mark.is_empty() {
        let opened = crate::open_mark_sources(mark, base, universe, false)?;
        merged.add("mark prices", Box::new(opened.stream));
    }
    let mut funded = vec![false; universe.len()];
    for (i, f) in funding.iter().enumerate() {
        let id = perp("funding", i, &f.instrument)?;
        let path = if f.path.is_absolute() {
            f.path.clone()
        } else {
            base.join(&f.path)
        };
        let rates = read_funding(&path, id)?;
        funded[id.index()] = true;
        merged.add(
            path.display().to_string(),
            Box::new(crate::VecStream::new(
                rates
                    .into_iter()
                    .map(vigil_core::MarketEvent::Funding)
                    .collect(),
            )),
        );
    }
    Ok(funded)
}

/// Reads the funding rates of `instrument` from `path` (CSV or JSON, by
/// content).
pub fn read_funding(path: &Path, instrument: InstrumentId) -> Result<Vec<FundingRate>, FeedError> {
    let text = std::fs::read_to_string(path).map_err(|source| FeedError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let rows = if text.trim_start().starts_with('[') {
        from_json(&text, path)?
    } else {
        from_csv(&text, path)?
    };
    let mut out: Vec<FundingRate> = Vec::with_capacity(rows.len());
    for (line, ts, rate) in rows {
        if let Some(prev) = out.last() {
            if ts <= prev.ts {
                return Err(FeedError::OutOfOrder {
                    path: path.to_path_buf(),
                    line,
                    field: "time".into(),
                    ts: ts.to_string(),
                    prev: prev.ts.to_string(),
                });
            }
        }
        out.push(FundingRate {
            instrument,
            ts,
            rate,
        });
    }
    Ok(out)
}

fn field_err(path: &Path, line: u64, field: &str, value: &str, reason: String) -> FeedError {
    FeedError::Field {
        path: path.to_path_buf(),
        line,
        field: field.into(),
        value: value.into(),
        reason,
    }
}

fn rate(path: &Path, line: u64, field: &str, text: &str) -> Result<Decimal, FeedError> {
    let r: Decimal = text
        .trim()
        .parse()
        .map_err(|_| field_err(path, line, field, text, "not a decimal number".into()))?;
    if r.abs() >= Decimal::ONE {
        return Err(field_err(
            path,
            line,
            field,
            text,
            "a funding rate of 100 % or more is not a rate (percent given as a fraction?)".into(),
        ));
    }
    Ok(r)
}

/// (line, time, rate) rows of a CSV in either layout.
fn from_csv(text: &str, path: &Path) -> Result<Vec<(u64, Timestamp, Decimal)>, FeedError> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, first)) = lines.clone().next() else {
        return Ok(Vec::new());
    };
    let head: Vec<String> = first
        .trim_start_matches('\u{feff}')
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    // Column positions of (time, rate), and whether the first line is a header.
    let (time_col, rate_col, header) = if head.contains(&"calc_time".to_string()) {
        let t = head.iter().position(|h| h == "calc_time").unwrap_or(0);
        let r = head.iter().position(|h| h == "last_funding_rate");
        let r = r.ok_or_else(|| FeedError::MissingColumn {
            path: path.to_path_buf(),
            column: "last_funding_rate".into(),
            found: head.join(","),
        })?;
        (t, r, true)
    } else if head.first().is_some_and(|h| h == "ts" || h == "time") {
        let r = head
            .iter()
            .position(|h| h == "funding_rate" || h == "rate")
            .ok_or_else(|| FeedError::MissingColumn {
                path: path.to_path_buf(),
                column: "funding_rate".into(),
                found: head.join(","),
            })?;
        (0, r, true)
    } else {
        // Binance's archive without a header: calc_time, interval, rate.
        (0, 2, false)
    };
    if header {
        lines.next();
    }
    lines
        .map(|(i, l)| {
            let line = i as u64 + 1;
            let f: Vec<&str> = l.split(',').collect();
            let get = |c: usize, name: &str| {
                f.get(c).copied().ok_or_else(|| FeedError::Row {
                    path: path.to_path_buf(),
                    line,
                    message: format!("no `{name}` field (column {})", c + 1),
                })
            };
            let t = get(time_col, "time")?;
            let ts = Timestamp::parse(t, None)
                .map_err(|e| field_err(path, line, "time", t, e.to_string()))?;
            Ok((
                line,
                ts,
                rate(path, line, "funding_rate", get(rate_col, "funding_rate")?)?,
            ))
        })
        .collect()
}

/// (index + 1, time, rate) rows of the REST API's JSON list.
fn from_json(text: &str, path: &Path) -> Result<Vec<(u64, Timestamp, Decimal)>, FeedError> {
    let items: Vec<serde_json::Value> = serde_json::from_str(text).map_err(|e| FeedError::Row {
        path: path.to_path_buf(),
        line: e.line() as u64,
        message: format!("not a JSON list of funding rates: {e}"),
    })?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let n = i as u64 + 1;
            let t = item["fundingTime"].as_i64().ok_or_else(|| {
                field_err(
                    path,
                    n,
                    "fundingTime",
                    &item["fundingTime"].to_string(),
                    format!("item {n}: not integer milliseconds"),
                )
            })?;
            let ts = Timestamp::from_epoch(t, vigil_core::TimeUnit::Millis)
                .map_err(|e| field_err(path, n, "fundingTime", &t.to_string(), e.to_string()))?;
            let r = item["fundingRate"].as_str().unwrap_or("");
            Ok((n, ts, rate(path, n, "fundingRate", r)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn read(name: &str, text: &str) -> Result<Vec<FundingRate>, FeedError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        read_funding(&path, InstrumentId(0))
    }

    #[test]
    fn the_three_layouts_read_the_same_rates() {
        let vigil = read(
            "a.csv",
            "ts,funding_rate,funding_interval_hours\n2024-01-01T00:00:00Z,0.0001,8\n2024-01-01T08:00:00Z,-0.00002,8\n",
        )
        .unwrap();
        let archive = read(
            "b.csv",
            "calc_time,funding_interval_hours,last_funding_rate\n1704067200000,8,0.0001\n1704096000000,8,-0.00002\n",
        )
        .unwrap();
        let bare = read(
            "c.csv",
            "1704067200000,8,0.0001\n1704096000000,8,-0.00002\n",
        )
        .unwrap();
        let json = read(
            "d.json",
            r#"[{"symbol":"BTCUSDT","fundingTime":1704067200000,"fundingRate":"0.00010000","markPrice":"42000"},
                {"symbol":"BTCUSDT","fundingTime":1704096000000,"fundingRate":"-0.00002000","markPrice":"42100"}]"#,
        )
        .unwrap();
        assert_eq!(vigil.len(), 2);
        assert_eq!(vigil[1].rate, dec!(-0.00002));
        assert_eq!(
            vigil[1].ts,
            Timestamp::parse("2024-01-01T08:00:00Z", None).unwrap()
        );
        for other in [&archive, &bare, &json] {
            assert_eq!(other.len(), 2);
            for (a, b) in vigil.iter().zip(other.iter()) {
                assert_eq!((a.ts, a.rate.normalize()), (b.ts, b.rate.normalize()));
            }
        }
    }

    #[test]
    fn bad_rows_name_the_file_line_and_field() {
        let e = read("x.csv", "ts,funding_rate\n2024-01-01T00:00:00Z,abc\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.csv:2") && e.contains("funding_rate"), "{e}");
        let e = read("x.csv", "ts,funding_rate\n2024-01-01T00:00:00Z,1.5\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("100 %"), "{e}");
        let e = read(
            "x.csv",
            "ts,funding_rate\n2024-01-01T08:00:00Z,0.0001\n2024-01-01T00:00:00Z,0.0001\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("x.csv:3") && e.contains("not after"), "{e}");
        let e = read("x.csv", "ts,price\n").unwrap_err().to_string();
        assert!(e.contains("funding_rate"), "{e}");
        let e = read("y.json", r#"[{"fundingTime":"soon","fundingRate":"0.1"}]"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("fundingTime"), "{e}");
    }
}
