//! What to fetch: the archive's paths, and which monthly and daily files cover a
//! time window. Pure functions of their inputs (the clock is passed in).

use std::fmt;

use chrono::{Datelike, NaiveDate};
use vigil_core::time::NANOS_PER_DAY;
use vigil_core::{Interval, Timestamp};

/// A Binance market.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Market {
    /// Spot (`/data/spot`, `api.binance.com`).
    Spot,
    /// USDⓈ-M futures (`/data/futures/um`, `fapi.binance.com`).
    UsdM,
}

impl Market {
    /// The name used in flags and file names (`spot`, `usdm`).
    pub fn name(self) -> &'static str {
        match self {
            Market::Spot => "spot",
            Market::UsdM => "usdm",
        }
    }

    fn archive_root(self) -> &'static str {
        match self {
            Market::Spot => "data/spot",
            Market::UsdM => "data/futures/um",
        }
    }

    /// Most klines one REST request returns.
    pub fn rest_limit(self) -> u32 {
        match self {
            Market::Spot => 1000,
            Market::UsdM => 1500,
        }
    }

    /// Request weight per minute the exchange allows one IP.
    pub fn weight_limit(self) -> u32 {
        match self {
            Market::Spot => 6000,
            Market::UsdM => 2400,
        }
    }
}

impl std::str::FromStr for Market {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "spot" => Ok(Market::Spot),
            "usdm" | "um" | "futures" => Ok(Market::UsdM),
            _ => Err(format!("unknown market `{s}`: expected `spot` or `usdm`")),
        }
    }
}

/// One series of a symbol the archive publishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dataset {
    /// Trade-price klines.
    Klines,
    /// Mark-price klines (USDⓈ-M only).
    MarkPriceKlines,
    /// Funding rates (USDⓈ-M only; monthly archives and REST, no daily files).
    FundingRate,
}

impl Dataset {
    fn dir(self) -> &'static str {
        match self {
            Dataset::Klines => "klines",
            Dataset::MarkPriceKlines => "markPriceKlines",
            Dataset::FundingRate => "fundingRate",
        }
    }

    /// Whether rows are bars (open time + OHLCV), as opposed to funding events.
    pub fn is_bars(self) -> bool {
        !matches!(self, Dataset::FundingRate)
    }
}

/// A calendar period one archive file covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Period {
    /// A calendar month (UTC).
    Month(NaiveDate),
    /// One UTC day.
    Day(NaiveDate),
}

impl Period {
    /// First instant of the period.
    pub fn start(self) -> Timestamp {
        match self {
            Period::Month(d) | Period::Day(d) => ts_of(d),
        }
    }

    /// First instant after the period.
    pub fn end(self) -> Timestamp {
        match self {
            Period::Month(d) => ts_of(next_month(d)),
            Period::Day(d) => Timestamp(ts_of(d).nanos() + NANOS_PER_DAY),
        }
    }

    fn dir(self) -> &'static str {
        match self {
            Period::Month(_) => "monthly",
            Period::Day(_) => "daily",
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Period::Month(d) => write!(f, "{}", d.format("%Y-%m")),
            Period::Day(d) => write!(f, "{}", d.format("%Y-%m-%d")),
        }
    }
}

/// One series to download: market, symbol, dataset and (for klines) interval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Series {
    /// The market.
    pub market: Market,
    /// Upper-case symbol, e.g. `BTCUSDT`.
    pub symbol: String,
    /// What series.
    pub dataset: Dataset,
    /// Bar interval (ignored for funding rates).
    pub interval: Interval,
}

impl Series {
    /// The interval as Binance writes it (`1m`, `1h`, `1d`, `1w`).
    pub fn interval_name(&self) -> String {
        self.interval.to_string()
    }

    /// The output file's name: `binance-<market>-<SYMBOL>-<interval>[-mark].csv`, or
    /// `binance-usdm-<SYMBOL>-funding.csv`.
    pub fn file_name(&self) -> String {
        let base = format!("binance-{}-{}", self.market.name(), self.symbol);
        match self.dataset {
            Dataset::Klines => format!("{base}-{}.csv", self.interval_name()),
            Dataset::MarkPriceKlines => format!("{base}-{}-mark.csv", self.interval_name()),
            Dataset::FundingRate => format!("{base}-funding.csv"),
        }
    }

    /// The archive path of the zip for `period` (no leading slash).
    pub fn archive_path(&self, period: Period) -> String {
        let root = self.market.archive_root();
        let (dir, sym) = (self.dataset.dir(), &self.symbol);
        match self.dataset {
            Dataset::FundingRate => {
                format!(
                    "{root}/{}/{dir}/{sym}/{sym}-fundingRate-{period}.zip",
                    period.dir()
                )
            }
            _ => {
                let int = self.interval_name();
                format!(
                    "{root}/{}/{dir}/{sym}/{int}/{sym}-{int}-{period}.zip",
                    period.dir()
                )
            }
        }
    }

    /// The REST path for this series.
    pub fn rest_path(&self) -> &'static str {
        match (self.market, self.dataset) {
            (Market::Spot, _) => "/api/v3/klines",
            (Market::UsdM, Dataset::Klines) => "/fapi/v1/klines",
            (Market::UsdM, Dataset::MarkPriceKlines) => "/fapi/v1/markPriceKlines",
            (Market::UsdM, Dataset::FundingRate) => "/fapi/v1/fundingRate",
        }
    }

    /// Request weight of one REST page.
    pub fn rest_weight(&self) -> u32 {
        match (self.market, self.dataset) {
            (Market::Spot, _) => 2,
            (Market::UsdM, Dataset::FundingRate) => 1,
            // limit 1000–1500 costs 10 on the futures API.
            (Market::UsdM, _) => 10,
        }
    }
}

/// The date of a timestamp (UTC).
pub fn date_of(t: Timestamp) -> NaiveDate {
    t.to_datetime().date_naive()
}

/// Midnight UTC of a date.
pub fn ts_of(d: NaiveDate) -> Timestamp {
    let secs = d
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp();
    Timestamp::from_secs(secs)
}

fn first_of_month(d: NaiveDate) -> NaiveDate {
    d.with_day(1).expect("day 1 exists")
}

fn next_month(d: NaiveDate) -> NaiveDate {
    let d = first_of_month(d);
    let (y, m) = if d.month() == 12 {
        (d.year() + 1, 1)
    } else {
        (d.year(), d.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1).expect("first of a month exists")
}

/// The archive files that cover `[from, to)`, as far as they can exist at `now`:
/// whole months before the current month as monthly files, then the current
/// month's finished days as daily files (funding rates have monthly files only).
/// Returns the periods and the instant the archive part ends; what lies between
/// that instant and `to` is for the REST API.
pub fn archive_periods(
    dataset: Dataset,
    from: Timestamp,
    to: Timestamp,
    now: Timestamp,
) -> (Vec<Period>, Timestamp) {
    let mut periods = Vec::new();
    if from >= to {
        return (periods, from);
    }
    let this_month = ts_of(first_of_month(date_of(now)));
    let today = now.day_floor();
    let mut month = first_of_month(date_of(from));
    let mut end = from;
    while ts_of(month) < to && ts_of(next_month(month)) <= this_month {
        periods.push(Period::Month(month));
        end = ts_of(next_month(month));
        month = next_month(month);
    }
    if dataset != Dataset::FundingRate {
        let mut day = date_of(end.max(from));
        while ts_of(day) < to && Period::Day(day).end() <= today {
            periods.push(Period::Day(day));
            end = Period::Day(day).end();
            day = day.succ_opt().expect("dates go on");
        }
    }
    (periods, end.max(from).min(to))
}

/// The daily periods of one month that have ended by `now` (a fallback when the
/// monthly file is not published yet).
pub fn days_of(month: NaiveDate, now: Timestamp) -> Vec<Period> {
    let mut out = Vec::new();
    let mut day = first_of_month(month);
    let end = next_month(month);
    while day < end && Period::Day(day).end() <= now.day_floor() {
        out.push(Period::Day(day));
        day = day.succ_opt().expect("dates go on");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    fn series(dataset: Dataset) -> Series {
        Series {
            market: Market::UsdM,
            symbol: "BTCUSDT".into(),
            dataset,
            interval: "1h".parse().unwrap(),
        }
    }

    #[test]
    fn archive_paths_follow_the_published_layout() {
        let m = Period::Month(NaiveDate::from_ymd_opt(2024, 12, 1).unwrap());
        let d = Period::Day(NaiveDate::from_ymd_opt(2025, 1, 5).unwrap());
        let mut s = series(Dataset::Klines);
        s.market = Market::Spot;
        assert_eq!(
            s.archive_path(m),
            "data/spot/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2024-12.zip"
        );
        assert_eq!(
            s.archive_path(d),
            "data/spot/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2025-01-05.zip"
        );
        assert_eq!(
            series(Dataset::MarkPriceKlines).archive_path(m),
            "data/futures/um/monthly/markPriceKlines/BTCUSDT/1h/BTCUSDT-1h-2024-12.zip"
        );
        assert_eq!(
            series(Dataset::FundingRate).archive_path(m),
            "data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-12.zip"
        );
        assert_eq!(
            series(Dataset::MarkPriceKlines).file_name(),
            "binance-usdm-BTCUSDT-1h-mark.csv"
        );
    }

    #[test]
    fn months_then_days_then_rest() {
        let now = t("2025-03-10T12:00:00Z");
        let (p, end) = archive_periods(
            Dataset::Klines,
            t("2024-12-15T00:00:00Z"),
            t("2025-03-10T06:00:00Z"),
            now,
        );
        let names: Vec<String> = p.iter().map(ToString::to_string).collect();
        assert_eq!(names[..3], ["2024-12", "2025-01", "2025-02"]);
        assert_eq!(
            names[3..],
            (1..=9)
                .map(|d| format!("2025-03-{d:02}"))
                .collect::<Vec<_>>()[..]
        );
        assert_eq!(end, t("2025-03-10T00:00:00Z"));
        // Funding: months only; the current month is left to REST.
        let (p, end) = archive_periods(
            Dataset::FundingRate,
            t("2025-01-01T00:00:00Z"),
            t("2025-03-10T06:00:00Z"),
            now,
        );
        assert_eq!(p.len(), 2);
        assert_eq!(end, t("2025-03-01T00:00:00Z"));
        // A window inside one past month.
        let (p, end) = archive_periods(
            Dataset::Klines,
            t("2024-05-03T00:00:00Z"),
            t("2024-05-04T00:00:00Z"),
            now,
        );
        assert_eq!(
            p,
            vec![Period::Month(NaiveDate::from_ymd_opt(2024, 5, 1).unwrap())]
        );
        assert_eq!(end, t("2024-05-04T00:00:00Z"));
    }
}
