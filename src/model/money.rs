//! Money: CNY held as an exact count of fen (0.01 yuan) in an `i64`.
//!
//! Every amount the product reads or writes has exactly two decimals (CONTRACT.md), and every
//! fund amount is rounded to 0.01 once per claim (RULES.md D-01), so amounts at rest are whole
//! fen and add exactly as integers. Where a rule multiplies by a rate the product is computed as
//! an exact `rust_decimal::Decimal` ([`Exact`]), limited against caps in that exact form, and only
//! then rounded back to fen with the policy's rounding mode (S-01). No floating point anywhere.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Neg, Sub, SubAssign};

/// An exact intermediate amount in yuan (before D-01 rounding).
pub type Exact = Decimal;

/// A rate as an exact fraction (0.90 = 90%).
pub type Rate = Decimal;

/// An amount of CNY in fen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Money(i64);

impl Money {
    pub const ZERO: Money = Money(0);
    /// A bound that no real amount reaches; used for "no cap".
    pub const MAX: Money = Money(i64::MAX / 4);

    pub const fn from_fen(fen: i64) -> Money {
        Money(fen)
    }
    pub const fn from_yuan(yuan: i64) -> Money {
        Money(yuan * 100)
    }
    pub const fn fen(self) -> i64 {
        self.0
    }
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
    pub fn is_negative(self) -> bool {
        self.0 < 0
    }
    pub fn is_positive(self) -> bool {
        self.0 > 0
    }
    pub fn max0(self) -> Money {
        Money(self.0.max(0))
    }
    pub fn exact(self) -> Exact {
        Decimal::new(self.0, 2)
    }
    /// `self × rate`, exact.
    pub fn times(self, rate: Rate) -> Exact {
        self.exact() * rate
    }
    /// An exact decimal that must already be whole fen (policy values, parsed input).
    pub fn from_exact_fen(d: Decimal) -> Option<Money> {
        let scaled = d * Decimal::ONE_HUNDRED;
        if scaled.fract() != Decimal::ZERO {
            return None;
        }
        scaled.to_i64().map(Money)
    }

    /// Parses `-1234.5`, `1234.50`, `12` (at most two decimals). The error text says what was
    /// expected, for rejects.csv.
    pub fn parse(s: &str) -> Result<Money, String> {
        let t = s.trim();
        let b = t.as_bytes();
        if b.is_empty() {
            return Err("empty amount".into());
        }
        let (neg, digits) = match b[0] {
            b'-' => (true, &b[1..]),
            b'+' => (false, &b[1..]),
            _ => (false, b),
        };
        let mut whole: i64 = 0;
        let mut frac: i64 = 0;
        let mut frac_digits = 0u32;
        let mut seen_dot = false;
        let mut seen_digit = false;
        for &c in digits {
            match c {
                b'0'..=b'9' => {
                    seen_digit = true;
                    let d = (c - b'0') as i64;
                    if seen_dot {
                        frac_digits += 1;
                        if frac_digits > 2 {
                            // Trailing zeros (`7.100`) keep the value at two decimals.
                            if d != 0 {
                                return Err(format!("`{t}` has more than two decimals"));
                            }
                            continue;
                        }
                        frac = frac * 10 + d;
                    } else {
                        whole = whole.checked_mul(10).and_then(|w| w.checked_add(d)).ok_or_else(|| format!("`{t}` is too large"))?;
                    }
                }
                b'.' if !seen_dot => seen_dot = true,
                _ => return Err(format!("`{t}` is not an amount like 1234.50")),
            }
        }
        if !seen_digit {
            return Err(format!("`{t}` is not an amount like 1234.50"));
        }
        let frac = if frac_digits == 1 { frac * 10 } else { frac };
        if whole > i64::MAX / 400 {
            return Err(format!("`{t}` is too large"));
        }
        let fen = whole * 100 + frac;
        Ok(Money(if neg { -fen } else { fen }))
    }

    /// Appends the two-decimal text form (no separators, `0.00` for zero, never `-0.00`).
    pub fn write_to(self, out: &mut Vec<u8>) {
        let v = self.0;
        if v < 0 {
            out.push(b'-');
        }
        let a = v.unsigned_abs();
        let whole = a / 100;
        let frac = a % 100;
        push_u64(whole, out);
        out.push(b'.');
        out.push(b'0' + (frac / 10) as u8);
        out.push(b'0' + (frac % 10) as u8);
    }
}

/// Appends the decimal digits of `v` (no allocation; used by every CSV writer).
pub(crate) fn push_u64(mut v: u64, out: &mut Vec<u8>) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut v = Vec::with_capacity(24);
        self.write_to(&mut v);
        f.write_str(std::str::from_utf8(&v).unwrap_or("?"))
    }
}

impl Add for Money {
    type Output = Money;
    fn add(self, o: Money) -> Money {
        Money(self.0 + o.0)
    }
}
impl Sub for Money {
    type Output = Money;
    fn sub(self, o: Money) -> Money {
        Money(self.0 - o.0)
    }
}
impl AddAssign for Money {
    fn add_assign(&mut self, o: Money) {
        self.0 += o.0;
    }
}
impl SubAssign for Money {
    fn sub_assign(&mut self, o: Money) {
        self.0 -= o.0;
    }
}
impl Neg for Money {
    type Output = Money;
    fn neg(self) -> Money {
        Money(-self.0)
    }
}
impl Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        Money(iter.map(|m| m.0).sum())
    }
}

/// How an exact amount becomes fen (RULES.md D-01; a policy parameter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoundingMode {
    /// 四舍五入: half away from zero (D-01 default).
    HalfAwayFromZero,
    /// Banker's rounding, for comparison with systems that use it.
    HalfEven,
}

impl RoundingMode {
    pub fn round(self, x: Exact) -> Money {
        let strategy = match self {
            RoundingMode::HalfAwayFromZero => RoundingStrategy::MidpointAwayFromZero,
            RoundingMode::HalfEven => RoundingStrategy::MidpointNearestEven,
        };
        let r = x.round_dp_with_strategy(2, strategy);
        Money::from_exact_fen(r).unwrap_or(Money::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn parse_and_format_round_trip() {
        for (s, fen, out) in [
            ("1234.50", 123450, "1234.50"),
            ("1234.5", 123450, "1234.50"),
            ("12", 1200, "12.00"),
            ("-0.01", -1, "-0.01"),
            ("0", 0, "0.00"),
            ("-0.00", 0, "0.00"),
            ("7.100", 710, "7.10"),
        ] {
            let m = Money::parse(s).unwrap();
            assert_eq!(m.fen(), fen, "{s}");
            assert_eq!(m.to_string(), out);
        }
        assert!(Money::parse("1.234").is_err());
        assert!(Money::parse("1.2.3").is_err());
        assert!(Money::parse("abc").is_err());
        assert!(Money::parse("").is_err());
        assert!(Money::parse("-").is_err());
    }

    #[test]
    fn rounding_half_away_from_zero() {
        let r = RoundingMode::HalfAwayFromZero;
        assert_eq!(r.round(Decimal::from_str("2.345").unwrap()).fen(), 235);
        assert_eq!(r.round(Decimal::from_str("-2.345").unwrap()).fen(), -235);
        assert_eq!(r.round(Decimal::from_str("2.344999").unwrap()).fen(), 234);
        let e = RoundingMode::HalfEven;
        assert_eq!(e.round(Decimal::from_str("2.345").unwrap()).fen(), 234);
    }
}
