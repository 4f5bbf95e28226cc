//! Time: [`Timestamp`] (nanoseconds since the Unix epoch) and [`Interval`].

use crate::config::excerpt;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Nanoseconds per second.
pub const NANOS_PER_SEC: i64 = 1_000_000_000;
/// Nanoseconds per day.
pub const NANOS_PER_DAY: i64 = 86_400 * NANOS_PER_SEC;

/// An error converting or parsing a time value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// The text is not an RFC 3339 timestamp.
    #[error("`{0}` is not an RFC 3339 timestamp (expected e.g. 2022-01-01T00:00:00Z)")]
    InvalidRfc3339(String),
    /// The text is neither an integer epoch value nor RFC 3339.
    #[error("`{0}` is not a timestamp (expected an integer epoch value or RFC 3339)")]
    Invalid(String),
    /// The value does not fit in an `i64` of nanoseconds (years 1678–2262).
    #[error("timestamp `{0}` is out of range (representable years are 1678–2262)")]
    OutOfRange(String),
    /// The text is not an interval such as `1m`, `5m`, `1h`, `1d`.
    #[error("`{0}` is not an interval (expected a positive number and a unit: s, m, h, d or w, e.g. `5m`)")]
    InvalidInterval(String),
}

/// A point in time: nanoseconds since 1970-01-01T00:00:00Z.
///
/// Serialised as an RFC 3339 string; deserialised from RFC 3339 or an integer
/// number of nanoseconds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

/// The unit of an integer epoch timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeUnit {
    /// Seconds since the epoch.
    Seconds,
    /// Milliseconds since the epoch.
    Millis,
    /// Microseconds since the epoch.
    Micros,
    /// Nanoseconds since the epoch.
    Nanos,
}

impl TimeUnit {
    /// Nanoseconds in one unit.
    pub const fn nanos(self) -> i64 {
        match self {
            TimeUnit::Seconds => NANOS_PER_SEC,
            TimeUnit::Millis => 1_000_000,
            TimeUnit::Micros => 1_000,
            TimeUnit::Nanos => 1,
        }
    }

    /// Guesses the unit of an epoch value from its magnitude: values below 10^11
    /// are seconds (until year 5138), below 10^14 milliseconds, below 10^17
    /// microseconds, and nanoseconds above.
    pub fn guess(value: i64) -> TimeUnit {
        let v = value.unsigned_abs();
        if v < 100_000_000_000 {
            TimeUnit::Seconds
        } else if v < 100_000_000_000_000 {
            TimeUnit::Millis
        } else if v < 100_000_000_000_000_000 {
            TimeUnit::Micros
        } else {
            TimeUnit::Nanos
        }
    }
}

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);
    /// The smallest representable timestamp.
    pub const MIN: Timestamp = Timestamp(i64::MIN);
    /// The largest representable timestamp.
    pub const MAX: Timestamp = Timestamp(i64::MAX);

    /// Nanoseconds since the epoch.
    pub const fn nanos(self) -> i64 {
        self.0
    }

    /// Builds a timestamp from whole seconds since the epoch.
    pub const fn from_secs(secs: i64) -> Timestamp {
        Timestamp(secs * NANOS_PER_SEC)
    }

    /// From milliseconds since the epoch (exchange timestamps).
    pub const fn from_millis(millis: i64) -> Timestamp {
        Timestamp(millis * 1_000_000)
    }

    /// Builds a timestamp from an epoch value in `unit`, checking the range.
    pub fn from_epoch(value: i64, unit: TimeUnit) -> Result<Timestamp, TimeError> {
        value
            .checked_mul(unit.nanos())
            .map(Timestamp)
            .ok_or_else(|| TimeError::OutOfRange(value.to_string()))
    }

    /// Parses an RFC 3339 timestamp (`2022-01-01T00:00:00Z`,
    /// `2025-03-25T23:07:00.773674205Z`, `2022-01-01T01:00:00+01:00`, a space for `T`).
    pub fn parse_rfc3339(text: &str) -> Result<Timestamp, TimeError> {
        if let Some(ts) = parse_rfc3339_fast(text.as_bytes()) {
            return Ok(ts);
        }
        let dt = DateTime::parse_from_rfc3339(text)
            .map_err(|_| TimeError::InvalidRfc3339(excerpt(text)))?;
        dt.timestamp_nanos_opt()
            .map(Timestamp)
            .ok_or_else(|| TimeError::OutOfRange(excerpt(text)))
    }

    /// Like [`Timestamp::parse`], from bytes, with fast paths for the shapes market
    /// data files use (RFC 3339 with `Z`, plain integers).
    #[inline]
    pub fn parse_bytes(bytes: &[u8], unit: Option<TimeUnit>) -> Result<Timestamp, TimeError> {
        if bytes.len() >= 20 && bytes[4] == b'-' {
            if let Some(ts) = parse_rfc3339_fast(bytes) {
                return Ok(ts);
            }
        } else if !bytes.is_empty() && bytes.len() <= 19 && bytes.iter().all(u8::is_ascii_digit) {
            // Checked: 19 digits can exceed i64 (found by the bar_csv fuzz target,
            // which saw 9640995020095020000 wrap to a time before 1970).
            let v = bytes.iter().try_fold(0i64, |acc, b| {
                acc.checked_mul(10)?.checked_add((b - b'0') as i64)
            });
            return match v {
                Some(v) => Timestamp::from_epoch(v, unit.unwrap_or_else(|| TimeUnit::guess(v))),
                None => Err(TimeError::OutOfRange(
                    String::from_utf8_lossy(bytes).into_owned(),
                )),
            };
        }
        match std::str::from_utf8(bytes) {
            Ok(text) => Timestamp::parse(text, unit),
            Err(_) => Err(TimeError::Invalid(excerpt(&String::from_utf8_lossy(bytes)))),
        }
    }

    /// Parses either an integer epoch value (unit guessed by magnitude unless
    /// given) or an RFC 3339 timestamp.
    pub fn parse(text: &str, unit: Option<TimeUnit>) -> Result<Timestamp, TimeError> {
        let t = text.trim();
        if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
            if let Ok(v) = t.parse::<i64>() {
                return Timestamp::from_epoch(v, unit.unwrap_or_else(|| TimeUnit::guess(v)));
            }
        }
        if t.contains('-') && t.len() >= 10 {
            // A bare date means the start of that day, UTC.
            if t.len() == 10 {
                return parse_rfc3339_fast(format!("{t}T00:00:00Z").as_bytes())
                    .ok_or_else(|| TimeError::Invalid(text.to_string()));
            }
            return Timestamp::parse_rfc3339(t).map_err(|e| match e {
                TimeError::OutOfRange(_) => TimeError::OutOfRange(excerpt(text)),
                _ => TimeError::Invalid(excerpt(text)),
            });
        }
        Err(TimeError::Invalid(excerpt(text)))
    }

    /// Converts to a `chrono` UTC date-time.
    pub fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_nanos(self.0)
    }

    /// Formats as RFC 3339 in UTC with as many fractional digits as needed.
    pub fn to_rfc3339(self) -> String {
        self.to_datetime()
            .to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }

    /// The start of the UTC day containing this instant.
    pub const fn day_floor(self) -> Timestamp {
        Timestamp(self.0.div_euclid(NANOS_PER_DAY) * NANOS_PER_DAY)
    }

    /// The timestamp `nanos` later (saturating).
    pub const fn add_nanos(self, nanos: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(nanos))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({})", self.to_rfc3339())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(n) => Ok(Timestamp(n)),
            Raw::Text(s) => Timestamp::parse(&s, None).map_err(serde::de::Error::custom),
        }
    }
}

#[inline(always)]
fn two(b: &[u8], i: usize) -> Option<i64> {
    let (a, c) = (b[i].wrapping_sub(b'0'), b[i + 1].wrapping_sub(b'0'));
    if a < 10 && c < 10 {
        Some((a as i64) * 10 + c as i64)
    } else {
        None
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
const fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 {
                29
            } else {
                28
            }
        }
    }
}

/// Fast path for the common `YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±HH:MM)` shape.
/// Returns `None` for anything else (the caller then uses `chrono`).
#[inline]
fn parse_rfc3339_fast(b: &[u8]) -> Option<Timestamp> {
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = two(b, 0)? * 100 + two(b, 2)?;
    let (month, day) = (two(b, 5)?, two(b, 8)?);
    let (hour, min, sec) = (two(b, 11)?, two(b, 14)?, two(b, 17)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || min > 59 || sec > 59 {
        return None;
    }
    let mut i = 19;
    let mut frac: i64 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 9 {
                frac = frac * 10 + (b[i] - b'0') as i64;
            }
            i += 1;
        }
        let digits = i - start;
        if digits == 0 {
            return None;
        }
        for _ in digits..9 {
            frac *= 10;
        }
    }
    let offset_secs = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let (oh, om) = (two(b, i + 1)?, two(b, i + 4)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let s = oh * 3600 + om * 60;
            if *sign == b'+' {
                s
            } else {
                -s
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec - offset_secs;
    secs.checked_mul(NANOS_PER_SEC)?
        .checked_add(frac)
        .map(Timestamp)
}

/// A positive length of time, in nanoseconds; written `30s`, `1m`, `5m`, `1h`, `4h`,
/// `1d`, `1w` in configs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interval(i64);

impl Interval {
    /// Builds an interval from nanoseconds; `None` unless positive.
    pub const fn from_nanos(nanos: i64) -> Option<Interval> {
        if nanos > 0 {
            Some(Interval(nanos))
        } else {
            None
        }
    }

    /// One day.
    pub const DAY: Interval = Interval(NANOS_PER_DAY);

    /// Nanoseconds in the interval.
    pub const fn nanos(self) -> i64 {
        self.0
    }
}

impl FromStr for Interval {
    type Err = TimeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let split = t
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| TimeError::InvalidInterval(s.to_string()))?;
        let (num, unit) = t.split_at(split);
        let n: i64 = num
            .parse()
            .map_err(|_| TimeError::InvalidInterval(s.to_string()))?;
        let unit_nanos = match unit {
            "s" => NANOS_PER_SEC,
            "m" => 60 * NANOS_PER_SEC,
            "h" => 3600 * NANOS_PER_SEC,
            "d" => NANOS_PER_DAY,
            "w" => 7 * NANOS_PER_DAY,
            _ => return Err(TimeError::InvalidInterval(s.to_string())),
        };
        n.checked_mul(unit_nanos)
            .and_then(Interval::from_nanos)
            .ok_or_else(|| TimeError::InvalidInterval(s.to_string()))
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (unit, len) in [
            ("w", 7 * NANOS_PER_DAY),
            ("d", NANOS_PER_DAY),
            ("h", 3600 * NANOS_PER_SEC),
            ("m", 60 * NANOS_PER_SEC),
            ("s", NANOS_PER_SEC),
        ] {
            if n % len == 0 {
                return write!(f, "{}{unit}", n / len);
            }
        }
        write!(f, "{n}ns")
    }
}

impl Serialize for Interval {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Interval {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_19_digit_epoch_beyond_i64_is_out_of_range_not_wrapped() {
        assert!(matches!(
            Timestamp::parse_bytes(b"9640995020095020000", None),
            Err(TimeError::OutOfRange(_))
        ));
        assert_eq!(
            Timestamp::parse_bytes(b"1640995200000000000", None).unwrap(),
            Timestamp::from_secs(1_640_995_200)
        );
    }

    #[test]
    fn parses_common_shapes() {
        assert_eq!(
            Timestamp::parse_rfc3339("2022-01-01T00:00:00Z").unwrap(),
            Timestamp::from_secs(1_640_995_200)
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2025-03-25T23:07:00.773674205Z")
                .unwrap()
                .nanos(),
            1_742_944_020_773_674_205
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2022-01-01T01:00:00+01:00").unwrap(),
            Timestamp::from_secs(1_640_995_200)
        );
        assert_eq!(
            Timestamp::parse("1640995200", None).unwrap(),
            Timestamp::from_secs(1_640_995_200)
        );
        assert_eq!(
            Timestamp::parse("1640995200000", None).unwrap(),
            Timestamp::from_secs(1_640_995_200)
        );
        assert_eq!(
            Timestamp::parse("1640995200000000000", None).unwrap(),
            Timestamp::from_secs(1_640_995_200)
        );
        assert_eq!(
            Timestamp::parse("2022-01-01", None).unwrap(),
            Timestamp::from_secs(1_640_995_200)
        );
        for text in [
            "2022-01-01T00:00:00Z",
            "1640995200",
            "1640995200000",
            "2022-01-01",
            "2022-01-01T01:00:00+01:00",
        ] {
            assert_eq!(
                Timestamp::parse_bytes(text.as_bytes(), None).unwrap(),
                Timestamp::from_secs(1_640_995_200),
                "{text}"
            );
        }
        assert!(Timestamp::parse_bytes(b"12x", None).is_err());
        assert!(Timestamp::parse_bytes(b"", None).is_err());
    }

    #[test]
    fn rejects_bad_timestamps() {
        for bad in [
            "2022-13-01T00:00:00Z",
            "2022-02-30T00:00:00Z",
            "yesterday",
            "",
            "2022-01-01T25:00:00Z",
        ] {
            assert!(Timestamp::parse(bad, None).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn intervals_round_trip() {
        for s in ["1m", "5m", "1h", "4h", "1d", "1w", "30s"] {
            let i: Interval = s.parse().unwrap();
            assert_eq!(i.to_string(), s);
        }
        assert_eq!(
            "5m".parse::<Interval>().unwrap().nanos(),
            300 * NANOS_PER_SEC
        );
        assert!("0m".parse::<Interval>().is_err());
        assert!("5x".parse::<Interval>().is_err());
        assert!("m".parse::<Interval>().is_err());
    }

    proptest! {
        #[test]
        fn fast_parser_agrees_with_chrono(secs in -2_000_000_000i64..4_000_000_000i64, nanos in 0u32..1_000_000_000) {
            let dt = DateTime::from_timestamp(secs, nanos).unwrap();
            let text = dt.to_rfc3339_opts(SecondsFormat::AutoSi, true);
            let parsed = parse_rfc3339_fast(text.as_bytes()).expect("fast path");
            prop_assert_eq!(parsed.nanos(), dt.timestamp_nanos_opt().unwrap());
            prop_assert_eq!(Timestamp(parsed.nanos()).to_rfc3339(), text);
        }
    }
}
