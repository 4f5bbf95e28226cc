//! [`to_f64`]: `Decimal` prices into the `f64` that indicators compute in; and
//! the engine's hot-loop arithmetic ([`checked_add`], [`checked_sub`],
//! [`checked_mul`], [`cmp`]): the same results as `rust_decimal`'s, bit for bit
//! (mantissa, scale and sign), computed in 128-bit integers — rounded as
//! `rust_decimal` rounds a result too wide for 96 bits — and left to
//! `rust_decimal` where 128 bits do not hold the exact result, or a zero.

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

/// 10⁰ … 10⁹: operands are aligned by at most nine places (then a 96-bit
/// mantissa stays below 2¹²⁶).
const POW10_S: [u64; 10] = [
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
    let (a, b) = (Parts::of(a), Parts::of(b));
    aligned_mantissas(a.signed(), a.scale, b.signed(), b.scale)
}

/// 10⁰ … 10³⁸: every power of ten below 2¹²⁸.
const POW10_U: [u128; 39] = {
    let mut t = [1u128; 39];
    let mut i = 1;
    while i < 39 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// A decimal taken apart: sign, magnitude (below 2⁹⁶) and scale.
#[derive(Clone, Copy)]
struct Parts {
    negative: bool,
    m: u128,
    scale: u32,
}

impl Parts {
    /// The parts of `d`, as stored (a negative zero stays negative).
    #[inline(always)]
    fn of(d: Decimal) -> Parts {
        let u = d.unpack();
        Parts {
            negative: u.negative,
            m: u128::from(u.lo) | u128::from(u.mid) << 32 | u128::from(u.hi) << 64,
            scale: u.scale,
        }
    }

    /// The signed magnitude.
    #[inline(always)]
    fn signed(self) -> i128 {
        signed(self.m, self.negative)
    }

    /// The decimal (`m` below 2⁹⁶ and not zero, `scale` at most 28).
    #[inline(always)]
    fn decimal(self) -> Decimal {
        let m = self.m;
        Decimal::from_parts(
            m as u32,
            (m >> 32) as u32,
            (m >> 64) as u32,
            self.negative,
            self.scale,
        )
    }
}

/// `±m / 10^scale` as `rust_decimal` stores an exact result `m` at `scale`:
/// as it is when `m` fits 96 bits and the scale 28 places; otherwise with the
/// fewest trailing digits dropped that make it fit (and at least `scale − 28`),
/// rounded half to even. That is what `rust_decimal`'s sums and products give
/// (its `Buf24::rescale` and `reduce_scale`: an estimate that never drops too
/// many digits, one more digit while the quotient is too wide, a sticky
/// remainder; a round-up that reaches 2⁹⁶ drops one more digit, which equals
/// rounding the exact value once). `None` where `rust_decimal` must be asked:
/// a zero result (its scale and sign), a round-up to 2⁹⁶, an overflow.
#[inline(always)]
fn rounded(m: u128, negative: bool, scale: u32) -> Option<Parts> {
    // Most results fit as they are: `0 < m < 2⁹⁶` in one comparison.
    if m.wrapping_sub(1) < U96 - 1 && scale <= 28 {
        return Some(Parts { negative, m, scale });
    }
    rescaled(m, negative, scale)
}

/// [`rounded`] for a result that does not fit as it is: out of line, so the
/// callers' fast paths keep their registers.
#[inline(never)]
fn rescaled(m: u128, negative: bool, scale: u32) -> Option<Parts> {
    // m < 2⁹⁶·10^d  ⇔  ⌊m / 2⁹⁶⌋ < 10^d: `fit` is the digit count of m >> 96.
    let top = (m >> 96) as u32;
    let fit = if top == 0 { 0 } else { top.ilog10() + 1 };
    let drop = fit.max(scale.saturating_sub(28));
    let q = if drop == 0 {
        m
    } else {
        if drop > scale || drop as usize >= POW10_U.len() {
            return None;
        }
        let p = POW10_U[drop as usize];
        let q = m / p;
        let r = m - q * p;
        let half = p >> 1;
        q + u128::from(r > half || (r == half && q & 1 == 1))
    };
    (q != 0 && q < U96).then_some(Parts {
        negative,
        m: q,
        scale: scale - drop,
    })
}

/// `±m` (`m` below 2¹²⁷), without a branch.
#[inline(always)]
fn signed(m: u128, negative: bool) -> i128 {
    let mask = -i128::from(negative);
    ((m as i128) ^ mask) - mask
}

/// `a + b` (`b` negated first when `negate_b`) as `rust_decimal` stores it
/// ([`rounded`]); `None` when their scales are more than nine places apart,
/// an operand is zero or the sum is.
#[inline(always)]
fn sum(a: Parts, b: Parts, negate_b: bool) -> Option<Parts> {
    // Magnitudes at the larger scale: below 2⁹⁶·10⁹ < 2¹²⁶, so nothing overflows.
    let (x, y, scale) = if a.scale == b.scale {
        (a.m, b.m, a.scale)
    } else if a.scale > b.scale {
        let k = (a.scale - b.scale) as usize;
        (a.m, b.m * u128::from(*POW10_S.get(k)?), a.scale)
    } else {
        let k = (b.scale - a.scale) as usize;
        (a.m * u128::from(*POW10_S.get(k)?), b.m, b.scale)
    };
    if x == 0 || y == 0 {
        return None;
    }
    // Signed and summed without branches: the sign of a price move is a coin
    // toss, which a branch predictor loses half the time.
    let s = signed(x, a.negative) + signed(y, b.negative != negate_b);
    let sign = s >> 127;
    let (m, negative) = (((s ^ sign) - sign) as u128, sign != 0);
    rounded(m, negative, scale)
}

/// `a × b` as `rust_decimal` stores it; `None` when an operand is zero or the
/// exact product does not fit 128 bits.
#[inline(always)]
fn product(a: Parts, b: Parts) -> Option<Parts> {
    if a.m == 0 || b.m == 0 {
        return None;
    }
    let p = if a.m < 1 << 64 && b.m < 1 << 64 {
        a.m * b.m
    } else {
        a.m.checked_mul(b.m)?
    };
    rounded(p, a.negative != b.negative, a.scale + b.scale)
}

/// `a + b`, bit for bit as `Decimal::checked_add`.
#[inline]
pub fn checked_add(a: Decimal, b: Decimal) -> Option<Decimal> {
    match sum(Parts::of(a), Parts::of(b), false) {
        Some(p) => Some(p.decimal()),
        None => a.checked_add(b),
    }
}

/// `a - b`, bit for bit as `Decimal::checked_sub`.
#[inline]
pub fn checked_sub(a: Decimal, b: Decimal) -> Option<Decimal> {
    match sum(Parts::of(a), Parts::of(b), true) {
        Some(p) => Some(p.decimal()),
        None => a.checked_sub(b),
    }
}

/// `a + b`, bit for bit as `Decimal`'s `+` (which panics on overflow).
#[inline]
pub fn add(a: Decimal, b: Decimal) -> Decimal {
    match sum(Parts::of(a), Parts::of(b), false) {
        Some(p) => p.decimal(),
        None => a + b,
    }
}

/// `a × b`, bit for bit as `Decimal::checked_mul`.
#[inline]
pub fn checked_mul(a: Decimal, b: Decimal) -> Option<Decimal> {
    if a.is_zero() || b.is_zero() {
        return Some(Decimal::ZERO);
    }
    match product(Parts::of(a), Parts::of(b)) {
        Some(p) => Some(p.decimal()),
        None => a.checked_mul(b),
    }
}

/// `acc + qty × (price − old)` — a position's marked value moved to a new
/// price — bit for bit as `rust_decimal`'s `checked_sub`, `checked_mul` and
/// `checked_add` in turn: in one pass over the parts when each step is fast,
/// step by step otherwise.
#[inline]
pub fn add_price_move(acc: Decimal, qty: Decimal, price: Decimal, old: Decimal) -> Option<Decimal> {
    let (a, q) = (Parts::of(acc), Parts::of(qty));
    if let Some(moved) = sum(Parts::of(price), Parts::of(old), true) {
        if let Some(m) = product(q, moved) {
            if a.m == 0 {
                // `0 + m` is `m` itself in `rust_decimal`.
                return Some(m.decimal());
            }
            if let Some(s) = sum(a, m, false) {
                return Some(s.decimal());
            }
        }
    }
    price_move_by_steps(acc, qty, price, old)
}

/// [`add_price_move`] step by step, where its one pass cannot be taken: out
/// of line, so that pass keeps its registers.
#[inline(never)]
fn price_move_by_steps(
    acc: Decimal,
    qty: Decimal,
    price: Decimal,
    old: Decimal,
) -> Option<Decimal> {
    let moved = checked_sub(price, old)?;
    if moved.is_zero() && !acc.is_zero() {
        // `acc + 0` is `acc` itself in `rust_decimal` (a zero `acc` would not be).
        return Some(acc);
    }
    checked_add(acc, checked_mul(qty, moved)?)
}

/// Two mantissas brought to the larger of their scales (at most nine places up).
#[inline(always)]
fn aligned_mantissas(ma: i128, sa: u32, mb: i128, sb: u32) -> Option<(i128, i128, u32)> {
    if sa == sb {
        Some((ma, mb, sa))
    } else if sa > sb {
        let k = (sa - sb) as usize;
        POW10_S.get(k).map(|&p| (ma, mb * i128::from(p), sa))
    } else {
        let k = (sb - sa) as usize;
        POW10_S.get(k).map(|&p| (ma * i128::from(p), mb, sb))
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

    /// Mantissas near 2⁹⁶ at nearby scales: sums and products that
    /// `rust_decimal` must round.
    fn wide() -> impl Strategy<Value = Decimal> {
        (0u32..=6, any::<u128>(), 0u32..=28, any::<bool>()).prop_map(|(short, raw, scale, neg)| {
            let m = (raw >> 32) >> short;
            Decimal::from_parts(m as u32, (m >> 32) as u32, (m >> 64) as u32, neg, scale)
        })
    }

    /// Pairs whose exact sum must drop `d` digits (1 to 3) that are exactly a
    /// half (`5`, `50`, `500`), the kept digit odd or even: the ties of
    /// half-to-even. The sum is `q·10ᵈ + 5·10ᵈ⁻¹` with `2⁹⁶/10 ≤ q < 2⁹⁶`,
    /// split as `(q − c)` at scale `s` plus `c·10ᵈ + 5·10ᵈ⁻¹` at scale `s + d`.
    fn ties() -> impl Strategy<Value = (Decimal, Decimal)> {
        (
            1u32..=3,
            any::<u128>(),
            any::<u128>(),
            0u32..=25,
            any::<bool>(),
        )
            .prop_map(|(d, rq, rc, scale, neg)| {
                let (lo, hi) = (U96 / 10 + 1, U96 - 1);
                let q = lo + rq % (hi - lo);
                let c = rc % (U96 / POW10_U[d as usize] / 2);
                let a = q - c;
                let b = c * POW10_U[d as usize] + 5 * POW10_U[d as usize - 1];
                let dec = |m: u128, s: u32| {
                    Decimal::from_parts(m as u32, (m >> 32) as u32, (m >> 64) as u32, neg, s)
                };
                let scale = scale.min(28 - d);
                (dec(a, scale), dec(b, scale + d))
            })
    }

    /// Products that drop digits ending exactly on a half: `m·10ʲ + 5·10ʲ⁻¹`
    /// times one at a scale beyond 28, or times a wide mantissa.
    fn product_ties() -> impl Strategy<Value = (Decimal, Decimal)> {
        (1u64.., 1u32..=12, 17u32..=28, 0u32..=28, any::<bool>()).prop_map(|(m, j, sa, sb, neg)| {
            let a = (m as u128 % (1 << 60)) * POW10_U[j as usize] + 5 * POW10_U[j as usize - 1];
            let a = a % (1 << 96);
            let a = Decimal::from_parts(a as u32, (a >> 32) as u32, (a >> 64) as u32, neg, sa);
            (
                a,
                Decimal::from_parts(1 + (m >> 40) as u32 % 3, 0, 0, false, sb),
            )
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
            (wide(), wide()),
            (wide(), money()),
            ties(),
            product_ties(),
        ]
    }

    /// The tie generators make ties: the sum's dropped digits are exactly a half.
    #[test]
    fn tie_generators_make_ties() {
        use proptest::strategy::ValueTree;
        use proptest::test_runner::TestRunner;
        let mut runner = TestRunner::deterministic();
        let mut ties_seen = 0;
        for _ in 0..200 {
            let (a, b) = ties().new_tree(&mut runner).unwrap().current();
            let k = b.scale() - a.scale();
            let s = a.mantissa() * POW10_U[k as usize] as i128 + b.mantissa();
            let digits = (s.unsigned_abs() >> 96) as u32;
            if digits > 0 {
                let p = POW10_U[(digits.ilog10() + 1) as usize];
                ties_seen += usize::from(s.unsigned_abs() % p == p / 2);
            }
        }
        assert_eq!(ties_seen, 200);
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
            acc in prop_oneof![money(), any_decimal(), wide()],
            qty in prop_oneof![money(), any_decimal(), wide()],
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
            // (2⁹⁶ − 1)·10 + 5 at scale 10: rounds half to even up to 2⁹⁶.
            Decimal::from_i128_with_scale((1i128 << 96) - 1, 9),
            Decimal::new(5, 10),
            Decimal::new(-5, 10),
            Decimal::from_i128_with_scale((1i128 << 96) - 1, 27),
            Decimal::new(15, 2),
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
