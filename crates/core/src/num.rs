//! [`to_f64`]: `Decimal` prices into the `f64` that indicators compute in.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// The `f64` nearest to `d`. A price's mantissa (below 2^53) and the power of
/// ten of its scale (up to 10^22) are both exact in `f64`, so one division —
/// correctly rounded by IEEE 754 — gives the nearest `f64`, in a few
/// nanoseconds; other values fall back to `rust_decimal`'s conversion (128-bit
/// division, not always the nearest).
#[inline]
pub fn to_f64(d: Decimal) -> f64 {
    let m = d.mantissa();
    let scale = d.scale() as usize;
    if m.unsigned_abs() < (1u128 << 53) && scale < POW10.len() {
        // Through i64: one instruction, where i128 → f64 is a library call.
        (m as i64) as f64 / POW10[scale]
    } else {
        d.to_f64().unwrap_or(f64::NAN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::str::FromStr;

    proptest! {
        /// Equal to parsing the decimal's text as `f64` (Rust's parser is
        /// correctly rounded), for prices of every scale.
        #[test]
        fn nearest_f64(m in -(1i64 << 53)..(1i64 << 53), scale in 0u32..=22) {
            let d = Decimal::new(m, scale.min(28));
            let parsed = f64::from_str(&d.to_string()).unwrap();
            prop_assert_eq!(to_f64(d), parsed);
        }

        #[test]
        fn large_mantissas_fall_back(hi in 1u32..1000, scale in 0u32..28) {
            let d = Decimal::from_parts(0, 0, hi, false, scale);
            let parsed = f64::from_str(&d.to_string()).unwrap();
            prop_assert!((to_f64(d) - parsed).abs() <= parsed.abs() * 1e-15);
        }
    }
}
