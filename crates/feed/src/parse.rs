//! Fast, exact parsers for CSV fields.

use std::str::FromStr;

use rust_decimal::Decimal;

/// Parses a decimal number exactly: `123`, `-0.5`, `46319.0`, `0.09840000`, and
/// (slower) scientific notation such as `1e-5`. Returns `None` for anything else.
#[inline]
pub fn parse_decimal(bytes: &[u8]) -> Option<Decimal> {
    if let Some(d) = parse_decimal_fast(bytes) {
        return Some(d);
    }
    let s = std::str::from_utf8(bytes).ok()?.trim();
    if s.is_empty() {
        return None;
    }
    Decimal::from_str(s)
        .ok()
        .or_else(|| Decimal::from_scientific(s).ok())
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
        for bad in [&b""[..], b"-", b".", b"1.2.3", b"abc", b"1,5", b"NaN"] {
            assert_eq!(parse_decimal(bad), None, "{:?}", std::str::from_utf8(bad));
        }
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
