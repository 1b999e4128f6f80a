//! Money: CNY held as an exact count of fen (0.01 yuan) in an `i64`.
//!
//! Every amount the product reads or writes has exactly two decimals (CONTRACT.md), and every
//! fund amount is rounded to 0.01 once per claim (RULES.md D-01), so amounts at rest are whole
//! fen and add exactly as integers. Where a rule multiplies by a rate the kernel computes the
//! product in exact integer fixed point: the rate as billionths ([`Fraction`]), the product as
//! billionths of a fen in an `i128` ([`Fixed`]); it is limited against caps in that exact form,
//! and only then rounded back to fen with the policy's rounding mode (S-01). Outside the kernel
//! (policy text, reports) the same quantities are exact `rust_decimal::Decimal`s ([`Exact`],
//! [`Rate`]), which also serve as the reference the fixed point is tested against. No floating
//! point anywhere.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Neg, Sub, SubAssign};

/// An exact amount in yuan as a decimal (reports; the kernel uses [`Fixed`]).
pub type Exact = Decimal;

/// A rate as a policy holds it, an exact decimal fraction (0.90 = 90%); the kernel takes it as
/// a [`Fraction`].
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
    /// `self × rate`, exact, as a decimal (reports; the kernel uses [`Money::share`]).
    pub fn times(self, rate: Rate) -> Exact {
        self.exact() * rate
    }
    /// The amount in the kernel's fixed point.
    pub fn fixed(self) -> Fixed {
        Fixed(self.0 as i128 * RATE_ONE as i128)
    }
    /// `self × rate`, exact, in the kernel's fixed point (one integer multiplication).
    pub fn share(self, rate: Fraction) -> Fixed {
        Fixed(self.0 as i128 * rate.0 as i128)
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

/// An amount that may be absent, in the 8 bytes of an amount (`Option<Money>` takes 16):
/// `i64::MIN` fen, beyond every amount the intake lets in (±10^10 fen, intake::rows), stands
/// for none. Serialized as an `Option<Money>`, so stored states read and write as before; a
/// stored `Some` of that one value is refused.
#[derive(Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "Option<Money>", try_from = "Option<Money>")]
pub struct OptMoney(i64);

impl OptMoney {
    pub const NONE: OptMoney = OptMoney(i64::MIN);
    pub fn get(self) -> Option<Money> {
        (self.0 != i64::MIN).then_some(Money(self.0))
    }
    /// `None` for the one amount that stands for none, which no input reaches.
    pub fn new(m: Option<Money>) -> Option<OptMoney> {
        match m {
            None => Some(OptMoney::NONE),
            Some(Money(i64::MIN)) => None,
            Some(Money(fen)) => Some(OptMoney(fen)),
        }
    }
}

impl From<OptMoney> for Option<Money> {
    fn from(m: OptMoney) -> Option<Money> {
        m.get()
    }
}

impl TryFrom<Option<Money>> for OptMoney {
    type Error = &'static str;
    fn try_from(m: Option<Money>) -> Result<OptMoney, &'static str> {
        OptMoney::new(m).ok_or("an amount of i64::MIN fen, beyond any amount")
    }
}

impl fmt::Debug for OptMoney {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.get().fmt(f)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut v = Vec::with_capacity(24);
        self.write_to(&mut v);
        f.write_str(std::str::from_utf8(&v).unwrap_or("?"))
    }
}

/// `+`, `-`, `+=`, `-=` of an amount newtype on its integer.
macro_rules! additive {
    ($t:ident) => {
        impl Add for $t {
            type Output = $t;
            fn add(self, o: $t) -> $t {
                $t(self.0 + o.0)
            }
        }
        impl Sub for $t {
            type Output = $t;
            fn sub(self, o: $t) -> $t {
                $t(self.0 - o.0)
            }
        }
        impl AddAssign for $t {
            fn add_assign(&mut self, o: $t) {
                self.0 += o.0;
            }
        }
        impl SubAssign for $t {
            fn sub_assign(&mut self, o: $t) {
                self.0 -= o.0;
            }
        }
    };
}
additive!(Money);
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

/// `n ÷ d` rounded to a whole by `mode` ([`RoundingMode`]), exactly, in the operands' own
/// integer type (`i64` or `i128`: [`RoundingMode::round_quotient`] takes the narrower when
/// it can).
macro_rules! rounded_quotient {
    ($mode:expr, $n:ident, $d:ident) => {{
        let (n, d) = if $d < 0 { (-$n, -$d) } else { ($n, $d) };
        let (q, r) = (n / d, n % d);
        let twice = r.unsigned_abs() * 2;
        let d = d.unsigned_abs();
        let away = match $mode {
            RoundingMode::HalfAwayFromZero => twice >= d,
            RoundingMode::HalfEven => twice > d || (twice == d && q % 2 != 0),
        };
        if away { q + n.signum() } else { q }
    }};
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

    /// `n ÷ d` fen rounded to a whole fen by this mode, exactly in integers (the fixed-point
    /// twin of [`RoundingMode::round`]; beyond an `i64` of fen, [`Money::MAX`] as there).
    fn round_quotient(self, n: i128, d: i128) -> Money {
        // Most quotients are of machine words (an amount of up to ~92 million yuan in
        // billionths of a fen): the same arithmetic in an `i64`, where the `i128` division is a
        // library call (`__divti3`, `__modti3`: about a tenth of the settling's samples).
        if let (Ok(n), Ok(d)) = (i64::try_from(n), i64::try_from(d))
            && n != i64::MIN
            && d != i64::MIN
        {
            return self.round_quotient_64(n, d);
        }
        self.round_quotient_128(n, d)
    }

    /// [`RoundingMode::round_quotient`] in `i128`s.
    fn round_quotient_128(self, n: i128, d: i128) -> Money {
        i64::try_from(rounded_quotient!(self, n, d)).map(Money).unwrap_or(Money::MAX)
    }

    /// [`RoundingMode::round_quotient`] of `i64`s (neither `i64::MIN`, whose negation
    /// overflows): `|r| < |d|`, so `2|r|` fits a `u64`, and `q ± 1` cannot overflow (`|q|`
    /// reaches `i64::MAX` only for `|d| = 1`, where `r = 0` rounds nothing away).
    fn round_quotient_64(self, n: i64, d: i64) -> Money {
        Money(rounded_quotient!(self, n, d))
    }
}

/// Decimals of a rate the kernel computes with exactly: rates are held as whole billionths
/// ([`Fraction`]); a policy rate with more decimals is refused when the policy is read.
pub const RATE_DECIMALS: u32 = 9;
/// 1 in [`Fraction`] units (and 1 fen in [`Fixed`] units).
const RATE_ONE: i64 = 1_000_000_000;

/// A rate in the kernel's fixed point: an exact count of billionths (0.85 = 850,000,000).
/// Policies hold rates as decimals ([`Rate`]); the kernel takes them in this form so that
/// every rate product is one integer multiplication.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fraction(i64);

impl Fraction {
    pub const ZERO: Fraction = Fraction(0);

    /// The exact fixed-point form of a decimal rate; `None` when it has more than
    /// [`RATE_DECIMALS`] decimals (trailing zeros aside) or lies outside ±9.2 × 10⁹.
    pub fn from_decimal(d: Decimal) -> Option<Fraction> {
        let (mut m, mut scale) = (d.mantissa(), d.scale());
        while scale > RATE_DECIMALS && m % 10 == 0 {
            m /= 10;
            scale -= 1;
        }
        if scale > RATE_DECIMALS {
            return None;
        }
        m.checked_mul(10i128.pow(RATE_DECIMALS - scale)).and_then(|v| i64::try_from(v).ok()).map(Fraction)
    }

    /// A policy rate in fixed point. Reading a policy refuses rates [`Fraction::from_decimal`]
    /// cannot hold (`RateValue`), so this is exact for every rate a policy carries; anything
    /// else (a policy built in code) is rounded to [`RATE_DECIMALS`] decimals, half to even.
    pub fn of(d: Decimal) -> Fraction {
        Fraction::from_decimal(d).or_else(|| Fraction::from_decimal(d.round_dp(RATE_DECIMALS))).unwrap_or(if d.is_sign_negative() {
            Fraction(-RATE_ONE)
        } else {
            Fraction(RATE_ONE)
        })
    }

    /// The rate as an exact decimal (for explain and reports).
    pub fn to_decimal(self) -> Decimal {
        Decimal::new(self.0, RATE_DECIMALS)
    }
    /// The rate in percent as explain shows it (`85`, `12.5`).
    pub fn percent(self) -> Decimal {
        (self.to_decimal() * Decimal::ONE_HUNDRED).normalize()
    }
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
    /// `self − points`, floored at 0 (S-17).
    pub fn less(self, points: Fraction) -> Fraction {
        Fraction((self.0 - points.0).max(0))
    }
}

/// An exact intermediate amount in the kernel's fixed point, before D-01 rounding: a count of
/// billionths of a fen, so a fen amount times a [`Fraction`] is exact in it. An `i128` holds
/// any product of an `i64` fen amount and a rate up to ±9.2 × 10⁹ with room for sums.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fixed(i128);

impl Fixed {
    pub const ZERO: Fixed = Fixed(0);

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
    /// Rounded to fen once with the policy's rounding mode (D-01, S-01).
    pub fn round(self, mode: RoundingMode) -> Money {
        mode.round_quotient(self.0, RATE_ONE as i128)
    }
    /// `self ÷ rate` in fen, from the exact quotient, rounded once (S-14: the cost a payment
    /// of `self` at `rate` covers). A zero rate covers without end: [`Money::MAX`].
    pub fn per(self, rate: Fraction, mode: RoundingMode) -> Money {
        if rate.0 == 0 {
            return Money::MAX;
        }
        // (units × 10⁻⁹ fen) ÷ (r × 10⁻⁹) = units ÷ r fen
        mode.round_quotient(self.0, rate.0 as i128)
    }
    /// The amount in yuan as an exact decimal (for explain); beyond 7.9 × 10¹⁷ yuan, which no
    /// real amount reaches, the largest decimal of its sign.
    pub fn to_decimal(self) -> Decimal {
        Decimal::try_from_i128_with_scale(self.0, RATE_DECIMALS + 2).unwrap_or(if self.0 < 0 { Decimal::MIN } else { Decimal::MAX })
    }
    /// As explain shows an exact amount: at most four decimals, no trailing zeros.
    pub fn shown(self) -> Decimal {
        self.to_decimal().round_dp(4).normalize()
    }
}

additive!(Fixed);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::str::FromStr;

    fn word() -> impl Strategy<Value = i64> {
        prop_oneof![any::<i64>(), -1_000i64..=1_000, Just(i64::MAX), Just(i64::MIN + 1)]
    }

    proptest! {
        /// A quotient of machine words rounds as the same quotient in `i128`s, in both modes,
        /// at every sign and size (ties included: small divisors make many).
        #[test]
        fn word_quotients_round_as_wide_ones(n in word(), d in word(), even in any::<bool>()) {
            prop_assume!(d != 0 && n != i64::MIN && d != i64::MIN);
            let mode = if even { RoundingMode::HalfEven } else { RoundingMode::HalfAwayFromZero };
            prop_assert_eq!(mode.round_quotient_64(n, d), mode.round_quotient_128(i128::from(n), i128::from(d)));
            prop_assert_eq!(mode.round_quotient(i128::from(n), i128::from(d)), mode.round_quotient_128(i128::from(n), i128::from(d)));
        }
    }

    #[test]
    fn parse_and_format_round_trip() -> anyhow::Result<()> {
        for (s, fen, out) in [
            ("1234.50", 123450, "1234.50"),
            ("1234.5", 123450, "1234.50"),
            ("12", 1200, "12.00"),
            ("-0.01", -1, "-0.01"),
            ("0", 0, "0.00"),
            ("-0.00", 0, "0.00"),
            ("7.100", 710, "7.10"),
        ] {
            let m = Money::parse(s).map_err(anyhow::Error::msg)?;
            assert_eq!(m.fen(), fen, "{s}");
            assert_eq!(m.to_string(), out);
        }
        assert!(Money::parse("1.234").is_err());
        assert!(Money::parse("1.2.3").is_err());
        assert!(Money::parse("abc").is_err());
        assert!(Money::parse("").is_err());
        assert!(Money::parse("-").is_err());
        Ok(())
    }

    #[test]
    fn rounding_half_away_from_zero() -> anyhow::Result<()> {
        let r = RoundingMode::HalfAwayFromZero;
        assert_eq!(r.round(Decimal::from_str("2.345")?).fen(), 235);
        assert_eq!(r.round(Decimal::from_str("-2.345")?).fen(), -235);
        assert_eq!(r.round(Decimal::from_str("2.344999")?).fen(), 234);
        let e = RoundingMode::HalfEven;
        assert_eq!(e.round(Decimal::from_str("2.345")?).fen(), 234);
        Ok(())
    }
}
