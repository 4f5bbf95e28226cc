//! [`to_f64`]: `Decimal` prices into the `f64` that indicators compute in; and
//! the engine's hot-loop arithmetic ([`checked_add`], [`checked_sub`],
//! [`checked_mul`], [`cmp`]): the same results as `rust_decimal`'s, bit for bit
//! (mantissa, scale and sign), computed in 128-bit integers where they are
//! exact and left to `rust_decimal` everywhere else.

use std::cmp::Ordering;

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

/// 10⁰ … 10⁹ (a rescale by at most nine places keeps a 96-bit mantissa
/// below 2¹²⁶).
const POW10_I: [i128; 10] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
];

/// A `Decimal`'s mantissa is below 2⁹⁶.
const U96: u128 = 1 << 96;

/// `(m_a, m_b, scale)`: both mantissas at the larger scale, when that needs at
/// most nine more places (then nothing overflows).
#[inline(always)]
fn aligned(a: Decimal, b: Decimal) -> Option<(i128, i128, u32)> {
    aligned_mantissas(a.mantissa(), a.scale(), b.mantissa(), b.scale())
}

/// `m / 10^scale` as a `Decimal`, when `m` is a non-zero mantissa below 2⁹⁶.
#[inline(always)]
fn from_mantissa(m: i128, scale: u32) -> Option<Decimal> {
    let u = m.unsigned_abs();
    (u != 0 && u < U96)
        .then(|| Decimal::from_parts(u as u32, (u >> 32) as u32, (u >> 64) as u32, m < 0, scale))
}

/// The exact sum of two non-zero decimals at the larger scale, when both
/// aligned operands and the sum fit in 96 bits (then `rust_decimal` gives the
/// same); `None` otherwise.
#[inline(always)]
fn exact_sum(a: Decimal, b: Decimal, negate_b: bool) -> Option<Decimal> {
    let mb = b.mantissa();
    let mb = if negate_b { -mb } else { mb };
    exact_sum_of(a.mantissa(), a.scale(), mb, b.scale())
}

/// [`exact_sum`] of two values given as mantissa and scale.
#[inline(always)]
fn exact_sum_of(ma: i128, sa: u32, mb: i128, sb: u32) -> Option<Decimal> {
    let (x, y, scale) = aligned_mantissas(ma, sa, mb, sb)?;
    if x == 0 || y == 0 || x.unsigned_abs() >= U96 || y.unsigned_abs() >= U96 {
        return None;
    }
    from_mantissa(x + y, scale)
}

/// `a + b`, bit for bit as `Decimal::checked_add`.
#[inline]
pub fn checked_add(a: Decimal, b: Decimal) -> Option<Decimal> {
    exact_sum(a, b, false).or_else(|| a.checked_add(b))
}

/// `a - b`, bit for bit as `Decimal::checked_sub`.
#[inline]
pub fn checked_sub(a: Decimal, b: Decimal) -> Option<Decimal> {
    exact_sum(a, b, true).or_else(|| a.checked_sub(b))
}

/// `a + b`, bit for bit as `Decimal`'s `+` (which panics on overflow).
#[inline]
pub fn add(a: Decimal, b: Decimal) -> Decimal {
    exact_sum(a, b, false).unwrap_or_else(|| a + b)
}

/// `a × b`, bit for bit as `Decimal::checked_mul`.
#[inline]
pub fn checked_mul(a: Decimal, b: Decimal) -> Option<Decimal> {
    let scale = a.scale() + b.scale();
    let (ma, mb) = (a.mantissa().unsigned_abs(), b.mantissa().unsigned_abs());
    if scale <= 28 && ma < 1 << 64 && mb < 1 << 64 {
        if ma == 0 || mb == 0 {
            return Some(Decimal::ZERO);
        }
        let p = ma * mb;
        if p < U96 {
            let negative = a.is_sign_negative() != b.is_sign_negative();
            return Some(Decimal::from_parts(
                p as u32,
                (p >> 32) as u32,
                (p >> 64) as u32,
                negative,
                scale,
            ));
        }
    }
    a.checked_mul(b)
}

/// `acc + qty × (price − old)` — a position's marked value moved to a new
/// price — bit for bit as `rust_decimal`'s `checked_sub`, `checked_mul` and
/// `checked_add` in turn, in one pass through 128-bit integers when every step
/// is exact.
#[inline]
pub fn add_price_move(acc: Decimal, qty: Decimal, price: Decimal, old: Decimal) -> Option<Decimal> {
    price_move(acc, qty, price, old).or_else(|| {
        let moved = checked_mul(qty, checked_sub(price, old)?)?;
        checked_add(acc, moved)
    })
}

#[inline(always)]
fn price_move(acc: Decimal, qty: Decimal, price: Decimal, old: Decimal) -> Option<Decimal> {
    // price − old, exact at the larger scale (a zero difference falls back).
    let (p, o, ds) = aligned(price, old)?;
    if p == 0 || o == 0 || p.unsigned_abs() >= U96 || o.unsigned_abs() >= U96 {
        return None;
    }
    let d = p - o;
    // qty × d, exact when both fit 64 bits and the scale stays within 28.
    let (q, ms) = (qty.mantissa(), qty.scale() + ds);
    if d == 0 || ms > 28 || q == 0 || q.unsigned_abs() >= 1 << 64 || d.unsigned_abs() >= 1 << 64 {
        return None;
    }
    let m = q.unsigned_abs() * d.unsigned_abs();
    if m >= U96 {
        return None;
    }
    let m = if (q < 0) != (d < 0) {
        -(m as i128)
    } else {
        m as i128
    };
    // acc + that.
    exact_sum_of(acc.mantissa(), acc.scale(), m, ms)
}

/// Two mantissas brought to the larger of their scales (at most nine places up).
#[inline(always)]
fn aligned_mantissas(ma: i128, sa: u32, mb: i128, sb: u32) -> Option<(i128, i128, u32)> {
    if sa == sb {
        Some((ma, mb, sa))
    } else if sa > sb {
        let k = (sa - sb) as usize;
        (k < POW10_I.len()).then(|| (ma, mb * POW10_I[k], sa))
    } else {
        let k = (sb - sa) as usize;
        (k < POW10_I.len()).then(|| (ma * POW10_I[k], mb, sb))
    }
}

/// Compares by value, as `Decimal`'s `Ord`.
#[inline]
pub fn cmp(a: Decimal, b: Decimal) -> Ordering {
    match aligned(a, b) {
        Some((x, y, _)) => x.cmp(&y),
        None => a.cmp(&b),
    }
}

/// Whether `a` and `b` are equal in value, as `Decimal`'s `==`.
#[inline]
pub fn eq(a: Decimal, b: Decimal) -> bool {
    cmp(a, b) == Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::str::FromStr;

    /// Decimals of every width (0 to 96 bits), scale and sign, negative zero too.
    fn any_decimal() -> impl Strategy<Value = Decimal> {
        (0u32..=96, any::<u128>(), 0u32..=28, any::<bool>()).prop_map(|(bits, raw, scale, neg)| {
            let m = if bits == 0 { 0 } else { raw >> (128 - bits) };
            Decimal::from_parts(m as u32, (m >> 32) as u32, (m >> 64) as u32, neg, scale)
        })
    }

    /// Prices, quantities and balances as the engine meets them: few digits,
    /// scales close to each other.
    fn money() -> impl Strategy<Value = Decimal> {
        (any::<i64>(), 0u32..=16, 0u32..=30).prop_map(|(m, scale, shift)| {
            let m = (m as i128) << (shift.min(30));
            let m = m.clamp(-(1i128 << 95), 1i128 << 95);
            Decimal::from_i128_with_scale(m, scale)
        })
    }

    fn same(a: Option<Decimal>, b: Option<Decimal>) -> bool {
        a.map(|d| d.serialize()) == b.map(|d| d.serialize())
    }

    fn both() -> impl Strategy<Value = (Decimal, Decimal)> {
        prop_oneof![
            (any_decimal(), any_decimal()),
            (money(), money()),
            (money(), any_decimal()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        /// Every operation gives `rust_decimal`'s result, bit for bit.
        #[test]
        fn same_bits_as_rust_decimal((a, b) in both()) {
            prop_assert!(same(checked_add(a, b), a.checked_add(b)), "{a} + {b}");
            prop_assert!(same(checked_sub(a, b), a.checked_sub(b)), "{a} - {b}");
            prop_assert!(same(checked_mul(a, b), a.checked_mul(b)), "{a} * {b}");
            prop_assert_eq!(cmp(a, b), a.cmp(&b), "{} cmp {}", a, b);
            prop_assert_eq!(eq(a, b), a == b);
            // Sums that cancel (the sign and scale of a zero result).
            prop_assert!(same(checked_add(a, -a), a.checked_add(-a)), "{a} + -{a}");
            prop_assert!(same(checked_sub(a, a), a.checked_sub(a)), "{a} - {a}");
            let a10 = a.checked_mul(Decimal::TEN);
            if let Some(t) = a10 {
                prop_assert!(same(checked_sub(t, a * Decimal::TEN), t.checked_sub(a * Decimal::TEN)));
            }
            if let Some(sum) = a.checked_add(b) {
                prop_assert_eq!(add(a, b).serialize(), sum.serialize());
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        /// A price move on a marked value, as the three steps would give it.
        #[test]
        fn price_moves_match_the_three_steps(
            acc in prop_oneof![money(), any_decimal()],
            qty in prop_oneof![money(), any_decimal()],
            price in prop_oneof![money(), any_decimal()],
            old in prop_oneof![money(), any_decimal()],
        ) {
            let steps = price
                .checked_sub(old)
                .and_then(|d| qty.checked_mul(d))
                .and_then(|m| acc.checked_add(m));
            prop_assert!(same(add_price_move(acc, qty, price, old), steps), "{acc} + {qty} * ({price} - {old})");
            prop_assert!(same(add_price_move(acc, qty, price, price), steps_same(acc, qty, price)));
            // A zero marked value of any scale (the sum is then the move itself).
            let zero = Decimal::new(0, acc.scale());
            let steps = price
                .checked_sub(old)
                .and_then(|d| qty.checked_mul(d))
                .and_then(|m| zero.checked_add(m));
            prop_assert!(same(add_price_move(zero, qty, price, old), steps), "0 + {qty} * ({price} - {old})");
        }
    }

    fn steps_same(acc: Decimal, qty: Decimal, price: Decimal) -> Option<Decimal> {
        price
            .checked_sub(price)
            .and_then(|d| qty.checked_mul(d))
            .and_then(|m| acc.checked_add(m))
    }

    #[test]
    fn edge_cases_match_rust_decimal() {
        let z = Decimal::ZERO;
        // Negative zero (`from_parts` would normalise it), scale 3.
        let nz = Decimal::deserialize([0, 0, 3, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert!(nz.is_zero() && nz.is_sign_negative());
        let max = Decimal::MAX;
        let values = [
            z,
            nz,
            max,
            Decimal::MIN,
            Decimal::ONE,
            -Decimal::ONE,
            Decimal::new(1, 28),
            Decimal::new(-5, 9),
            Decimal::from_parts(u32::MAX, u32::MAX, 0, false, 10),
            Decimal::from_parts(u32::MAX, u32::MAX, u32::MAX >> 1, true, 0),
            Decimal::from_i128_with_scale(1i128 << 95, 9),
        ];
        for a in values {
            for b in values {
                assert!(same(checked_add(a, b), a.checked_add(b)), "{a} + {b}");
                assert!(same(checked_sub(a, b), a.checked_sub(b)), "{a} - {b}");
                assert!(same(checked_mul(a, b), a.checked_mul(b)), "{a} * {b}");
                assert_eq!(cmp(a, b), a.cmp(&b), "{a} cmp {b}");
            }
        }
    }

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
