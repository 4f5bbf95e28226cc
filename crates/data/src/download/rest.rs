//! The REST API, for what the archive does not have yet: klines paged by
//! `startTime = last open time + 1`, funding rates likewise.

use std::io::Write;
use std::path::Path;

use serde_json::Value;
use vigil_core::Timestamp;

use super::archive::RowConverter;
use super::http::Fetcher;
use super::plan::{Dataset, Series};
use crate::error::DataError;

fn millis(t: Timestamp) -> i64 {
    t.nanos().div_euclid(1_000_000)
}

/// Fetches `[from, to)` of `series` into `out`, dropping a bar that has not
/// closed by `now` (the tuple is `(from, to, now)`). Returns the rows written.
pub async fn fetch_rest(
    fetcher: &Fetcher,
    api_url: &str,
    series: &Series,
    (from, to, now): (Timestamp, Timestamp, Timestamp),
    out: &mut impl Write,
    on_rows: &(dyn Fn(u64) + Sync),
) -> Result<u64, DataError> {
    let url = format!("{}{}", api_url.trim_end_matches('/'), series.rest_path());
    let limit = series.market.rest_limit();
    let mut start = from;
    let mut rows = 0u64;
    let span = format!("{} – {}", from.to_rfc3339(), to.to_rfc3339());
    let mut conv = RowConverter::spanning(series, from, to, &url, span);
    let mut funding = Vec::new();
    while start < to && start < now {
        let mut query = vec![
            ("symbol", series.symbol.clone()),
            ("startTime", millis(start).to_string()),
            ("endTime", (millis(to) - 1).to_string()),
            ("limit", limit.to_string()),
        ];
        if series.dataset != Dataset::FundingRate {
            query.insert(1, ("interval", series.interval_name()));
        }
        let page = fetcher.json(&url, &query, series.rest_weight()).await?;
        let Value::Array(page) = page else {
            return Err(conv.row_error("body", "expected a JSON array".into()));
        };
        if page.is_empty() {
            break;
        }
        let n = page.len();
        let mut last_open = start;
        for item in page {
            let (open, fields) = if series.dataset.is_bars() {
                kline_fields(&item)
                    .ok_or_else(|| conv.row_error("row", format!("not a kline: {item}")))?
            } else {
                funding_fields(&item)
                    .ok_or_else(|| conv.row_error("row", format!("not a funding rate: {item}")))?
            };
            last_open = open;
            if open >= to {
                continue;
            }
            if series.dataset.is_bars() && open.nanos() + series.interval.nanos() > now.nanos() {
                continue; // still open
            }
            if series.dataset.is_bars() {
                let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
                let line = conv.bar(&refs)?;
                out.write_all(line.as_bytes())
                    .map_err(|e| DataError::io(Path::new(&url), e))?;
                rows += 1;
            } else {
                funding.push(fields);
            }
        }
        on_rows(n as u64);
        if n < limit as usize || last_open < start {
            break;
        }
        start = Timestamp(last_open.nanos() + 1_000_000);
    }
    if !funding.is_empty() {
        rows += write_funding(&mut conv, funding, out, &url)?;
    }
    Ok(rows)
}

/// `[openTime, "o", "h", "l", "c", "v", closeTime, …]` as text fields.
fn kline_fields(item: &Value) -> Option<(Timestamp, Vec<String>)> {
    let a = item.as_array()?;
    if a.len() < 7 {
        return None;
    }
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let fields: Vec<String> = a.iter().map(text).collect::<Option<_>>()?;
    let open = Timestamp::from_millis(a[0].as_i64()?);
    Some((open, fields))
}

/// `{fundingTime, fundingRate, …}` as `[calc_time, "", rate]` (the interval is
/// filled in from neighbouring rows).
fn funding_fields(item: &Value) -> Option<(Timestamp, Vec<String>)> {
    let t = item.get("fundingTime")?.as_i64()?;
    let rate = match item.get("fundingRate")? {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    Some((
        Timestamp::from_millis(t),
        vec![t.to_string(), String::new(), rate],
    ))
}

/// REST funding rows carry no interval: it is the time to the previous funding
/// (to the next one for the first row; a lone row is written with an empty field).
fn write_funding(
    conv: &mut RowConverter<'_>,
    mut rows: Vec<Vec<String>>,
    out: &mut impl Write,
    url: &str,
) -> Result<u64, DataError> {
    let times: Vec<i64> = rows.iter().map(|r| r[0].parse().unwrap_or(0)).collect();
    let hours = |a: i64, b: i64| ((b - a) as f64 / 3_600_000.0).round() as i64;
    for i in 0..rows.len() {
        let h = if i > 0 {
            Some(hours(times[i - 1], times[i]))
        } else if rows.len() > 1 {
            Some(hours(times[0], times[1]))
        } else {
            None
        };
        rows[i][1] = h
            .filter(|h| *h > 0)
            .map(|h| h.to_string())
            .unwrap_or_default();
    }
    let mut n = 0;
    for r in rows {
        let refs: Vec<&str> = r.iter().map(String::as_str).collect();
        let line = conv.funding(&refs)?;
        out.write_all(line.as_bytes())
            .map_err(|e| DataError::io(Path::new(url), e))?;
        n += 1;
    }
    Ok(n)
}

/// When the exchange's data for `series` starts (its first row), from the
/// REST API; `None` when it has none.
pub async fn first_time(
    fetcher: &Fetcher,
    api_url: &str,
    series: &Series,
) -> Result<Option<Timestamp>, DataError> {
    let url = format!("{}{}", api_url.trim_end_matches('/'), series.rest_path());
    let mut query = vec![
        ("symbol", series.symbol.clone()),
        ("startTime", "0".to_string()),
        ("limit", "1".to_string()),
    ];
    if series.dataset != Dataset::FundingRate {
        query.insert(1, ("interval", series.interval_name()));
    }
    let page = fetcher.json(&url, &query, series.rest_weight()).await?;
    let first = page.as_array().and_then(|a| a.first()).cloned();
    Ok(first.and_then(|item| {
        if series.dataset.is_bars() {
            kline_fields(&item).map(|f| f.0)
        } else {
            funding_fields(&item).map(|f| f.0)
        }
    }))
}
