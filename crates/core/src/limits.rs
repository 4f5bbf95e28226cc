//! The largest amounts vigil accepts at its inputs.
//!
//! Money is an exact `Decimal` with 28 significant digits (about ±7.9·10²⁸).
//! Keeping every price and every cash balance at or below 10¹⁵ leaves room for a
//! price × quantity, a fee × a fraction, and a sum over millions of fills without
//! overflow, so an input beyond these limits is refused with a clear error where
//! it is read, never carried into arithmetic that would panic or wrap.

use rust_decimal::Decimal;

/// The largest price a bar, quote or trade may carry: 10¹⁵.
pub const MAX_PRICE: Decimal = Decimal::from_parts(2_764_472_320, 232_830, 0, false, 0);

/// The largest starting cash an account may hold: 10¹⁵.
pub const MAX_CASH: Decimal = MAX_PRICE;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limits_are_ten_to_the_fifteen() {
        assert_eq!(MAX_PRICE, Decimal::from(1_000_000_000_000_000u64));
        assert_eq!(MAX_CASH.to_string(), "1000000000000000");
    }
}
