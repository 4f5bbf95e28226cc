//! Fast, exact parsers for CSV fields.

use rust_decimal::Decimal;

/// Parses a decimal number exactly: `123`, `-0.5`, `46319.0`, `0.09840000`, and
/// (slower) scientific notation such as `1e-5`. Returns `None` for anything else,
/// including numbers [`parse_decimal_exact`] refuses.
#[inline]
pub fn parse_decimal(bytes: &[u8]) -> Option<Decimal> {
    parse_decimal_exact(bytes).ok()
}

/// Why a field is not an exact decimal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumberError {
    /// Not a number at all.
    NotANumber,
    /// A number `Decimal` cannot hold: beyond ±7.9·10²⁸, or non-zero digits
    /// below 10⁻²⁸ (which would be rounded, possibly to zero).
    OutOfRange,
    /// More than 28 significant digits: it would be rounded silently.
    TooPrecise,
}

impl std::fmt::Display for NumberError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NumberError::NotANumber => "not a number",
            NumberError::OutOfRange => {
                "out of range: numbers must lie within ±7.9e28 with no digits below 1e-28"
            }
            NumberError::TooPrecise => {
                "more than 28 significant digits: it cannot be held exactly and would be rounded"
            }
        })
    }
}

/// Like [`parse_decimal`], saying why a field is refused. A number is never
/// rounded: one that cannot be held exactly is an error.
#[inline]
pub fn parse_decimal_exact(bytes: &[u8]) -> Result<Decimal, NumberError> {
    if let Some(d) = parse_decimal_fast(bytes) {
        return Ok(d);
    }
    let s = std::str::from_utf8(bytes)
        .map_err(|_| NumberError::NotANumber)?
        .trim();
    let digits = significant_digits(s).ok_or(NumberError::NotANumber)?;
    if digits > 28 {
        return Err(NumberError::TooPrecise);
    }
    let d = Decimal::from_str_exact(s)
        .ok()
        .or_else(|| Decimal::from_scientific(s).ok())
        .ok_or(NumberError::OutOfRange)?;
    // A value whose digits fell below the 28th decimal place came back smaller.
    if significant_digits(&d.to_string()) != Some(digits) {
        return Err(NumberError::OutOfRange);
    }
    Ok(d)
}

/// Significant digits of a plain or scientific decimal (`-0.00120` → 2,
/// `1.5e3` → 2, `0` → 0), or `None` when `s` is not such a number.
fn significant_digits(s: &str) -> Option<usize> {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    if let Some(e) = exponent {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        if e.is_empty() || !e.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    }
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let all: String = int.chars().chain(frac.chars()).collect();
    Some(all.trim_start_matches('0').trim_end_matches('0').len())
}

/// Plain decimals with at most 19 significant digits, no exponent.
#[inline]
fn parse_decimal_fast(b: &[u8]) -> Option<Decimal> {
    let (neg, digits) = match b.first()? {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 20 {
        return None;
    }
    let mut mantissa: u64 = 0;
    let mut scale: u32 = 0;
    let mut seen_dot = false;
    let mut n_digits = 0u32;
    for &c in digits {
        match c {
            b'0'..=b'9' => {
                // Any 19 digits fit a u64; a 20th could overflow it.
                if n_digits == 19 {
                    return None;
                }
                mantissa = mantissa * 10 + (c - b'0') as u64;
                n_digits += 1;
                if seen_dot {
                    scale += 1;
                }
            }
            b'.' if !seen_dot => seen_dot = true,
            _ => return None,
        }
    }
    if n_digits == 0 || n_digits > 19 {
        return None;
    }
    Some(Decimal::from_parts(
        mantissa as u32,
        (mantissa >> 32) as u32,
        0,
        neg,
        scale,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    #[test]
    fn examples() {
        assert_eq!(parse_decimal(b"46319.0"), Some(dec!(46319.0)));
        assert_eq!(parse_decimal(b"0.09840000"), Some(dec!(0.0984)));
        assert_eq!(parse_decimal(b"-12"), Some(dec!(-12)));
        assert_eq!(parse_decimal(b"1e-5"), Some(dec!(0.00001)));
        assert_eq!(
            parse_decimal(b"12345678901234567890.123"),
            Some(dec!(12345678901234567890.123))
        );
        for bad in [
            &b""[..],
            b"-",
            b".",
            b"1.2.3",
            b"abc",
            b"1,5",
            b"NaN",
            b"1e",
            b"e5",
        ] {
            assert_eq!(parse_decimal(bad), None, "{:?}", std::str::from_utf8(bad));
        }
    }

    #[test]
    fn numbers_are_never_rounded() {
        use NumberError::*;
        let exact = |s: &str| parse_decimal_exact(s.as_bytes());
        assert_eq!(exact("1e30"), Err(OutOfRange));
        assert_eq!(exact("1e-29"), Err(OutOfRange));
        assert_eq!(exact("0.00000000000000000000000000001"), Err(OutOfRange));
        assert_eq!(exact("1.0000000000000000000000000001"), Err(TooPrecise));
        assert_eq!(exact("12345678901234567890123456789"), Err(TooPrecise));
        assert_eq!(exact("1e-28"), Ok(dec!(0.0000000000000000000000000001)));
        assert_eq!(exact("1.5E3"), Ok(dec!(1500)));
        assert_eq!(exact("0.000"), Ok(dec!(0.000)));
        assert_eq!(
            exact("1234567890123456789012345678"),
            Ok(dec!(1234567890123456789012345678))
        );
        assert_eq!(exact("x1"), Err(NotANumber));
        // Found by the bar_csv fuzz target: 20 digits overflowed the fast path.
        assert_eq!(
            exact("44444444444444474444"),
            Ok(dec!(44444444444444474444))
        );
    }

    proptest! {
        #[test]
        fn agrees_with_from_str(m in any::<i64>(), scale in 0u32..12) {
            let d = Decimal::new(m, scale);
            let s = d.to_string();
            prop_assert_eq!(parse_decimal(s.as_bytes()), Some(d));
        }
    }
}
