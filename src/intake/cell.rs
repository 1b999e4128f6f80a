//! One input cell, whatever the file format, and its conversion to the contract's types with
//! an error text that says what was expected (for rejects.csv).

use crate::model::time;
// the accepted dates, 1900-01-01 up to 2200-01-01
use crate::model::time::{MAX_DAY, MIN_DAY};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use std::borrow::Cow;

/// `s.trim()`, without the Unicode scan when both ends are plainly not whitespace.
pub(crate) fn trim(s: &str) -> &str {
    let b = s.as_bytes();
    let plain = |c: u8| c.is_ascii_graphic();
    match (b.first(), b.last()) {
        (Some(&f), Some(&l)) if plain(f) && plain(l) => s,
        _ => s.trim(),
    }
}

/// A cell of a CSV or Parquet input.
#[derive(Clone, Copy, Debug)]
pub enum Cell<'a> {
    Null,
    Text(&'a str),
    Int(i64),
    /// unscaled value and scale
    Decimal(i128, i8),
    Float(f64),
    /// seconds since 1970-01-01 (wall clock)
    Timestamp(i64),
    /// days since 1970-01-01
    Date(i32),
    Bool(bool),
}

impl<'a> Cell<'a> {
    pub fn is_null(&self) -> bool {
        match self {
            Cell::Null => true,
            Cell::Text(s) => trim(s).is_empty(),
            _ => false,
        }
    }

    /// Text form (codes, ids): integers print without decimals.
    pub fn text(&self) -> Option<Cow<'a, str>> {
        match *self {
            Cell::Null => None,
            Cell::Text(s) => {
                let t = trim(s);
                (!t.is_empty()).then_some(Cow::Borrowed(t))
            }
            Cell::Int(v) => Some(Cow::Owned(v.to_string())),
            Cell::Decimal(v, s) => Some(Cow::Owned(decimal_text(v, s))),
            Cell::Float(f) => Some(Cow::Owned(if f.fract() == 0.0 { format!("{}", f as i64) } else { f.to_string() })),
            Cell::Timestamp(ts) => Some(Cow::Owned(time::format_datetime(ts))),
            Cell::Date(d) => Some(Cow::Owned(time::format_date(d))),
            Cell::Bool(b) => Some(Cow::Borrowed(if b { "1" } else { "0" })),
        }
    }

    /// An amount in fen, exactly (CONTRACT.md: text with ≤ 2 decimals, Decimal of any scale,
    /// integer, or float rounded half away from zero to 0.01). Values too large for any type
    /// saturate (to ±`i128::MAX`), so the caller's plausibility bound refuses them
    /// ([`super::rows::MAX_AMOUNT_FEN`]) instead of wrapping.
    pub fn money_fen(&self) -> Result<Option<i128>, String> {
        const SAT: i128 = i128::MAX;
        let sat = |neg: bool| if neg { -SAT } else { SAT };
        match *self {
            Cell::Null => Ok(None),
            Cell::Text(s) if trim(s).is_empty() => Ok(None),
            Cell::Text(s) => parse_fen(trim(s)).map(Some),
            Cell::Int(v) => Ok(Some(v as i128 * 100)),
            Cell::Decimal(v, s) if s <= 2 => {
                // A negative scale k means value × 10^-k (Decimal(p, -3) holds thousands).
                let up = 10i128.checked_pow((2 - s as i32) as u32);
                Ok(Some(up.and_then(|u| v.checked_mul(u)).unwrap_or(if v == 0 { 0 } else { sat(v < 0) })))
            }
            Cell::Decimal(v, s) => {
                let down = 10i128.checked_pow((s as i32 - 2) as u32);
                match down {
                    Some(d) if v % d == 0 => Ok(Some(v / d)),
                    None if v == 0 => Ok(Some(0)),
                    _ => Err(format!("`{}` has more than two decimals", Cell::Decimal(v, s).text().unwrap_or_default())),
                }
            }
            Cell::Float(f) => {
                if !f.is_finite() {
                    return Err(format!("{f} is not an amount"));
                }
                if f.abs() > 1e15 {
                    return Ok(Some(sat(f < 0.0)));
                }
                // Float columns are rounded half away from zero to 0.01 (CONTRACT.md).
                let d = Decimal::try_from(f).map_err(|_| format!("{f} is not an amount"))?;
                let r = d.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
                (r * Decimal::ONE_HUNDRED).to_i128().map(Some).ok_or_else(|| format!("{f} is not an amount"))
            }
            Cell::Timestamp(_) | Cell::Date(_) | Cell::Bool(_) => Err("a date or flag where an amount like 1234.50 was expected".into()),
        }
    }

    pub fn datetime(&self) -> Result<Option<i64>, String> {
        match *self {
            Cell::Null => Ok(None),
            Cell::Text(s) if trim(s).is_empty() => Ok(None),
            Cell::Text(s) => time::parse_datetime(s).map(Some),
            Cell::Timestamp(ts) => Ok(Some(ts)),
            Cell::Date(d) => Ok(Some(d as i64 * 86400)),
            _ => Err("a number where a datetime like 2026-03-01 08:30:00 was expected".into()),
        }
        .and_then(|t| match t {
            Some(ts) if !(MIN_DAY as i64 * 86400..MAX_DAY as i64 * 86400).contains(&ts) => {
                Err(format!("year {} is outside the years 1900–2199", time::year_of(ts.clamp(-200_000_000_000, 200_000_000_000))))
            }
            t => Ok(t),
        })
    }

    pub fn date(&self) -> Result<Option<i32>, String> {
        match *self {
            Cell::Null => Ok(None),
            Cell::Text(s) if trim(s).is_empty() => Ok(None),
            Cell::Text(s) => time::parse_date(s).map(Some),
            Cell::Date(d) => Ok(Some(d)),
            Cell::Timestamp(ts) => Ok(Some(time::date_of(ts))),
            _ => Err("a number where a date like 2026-03-01 was expected".into()),
        }
        .and_then(|d| match d {
            Some(d) if !(MIN_DAY..MAX_DAY).contains(&d) => {
                Err(format!("year {} is outside the years 1900–2199", time::year_of_date(d.clamp(-3_000_000, 3_000_000))))
            }
            d => Ok(d),
        })
    }

    /// A `0`/`1` flag.
    pub fn flag(&self) -> Result<Option<bool>, String> {
        match *self {
            Cell::Bool(b) => Ok(Some(b)),
            Cell::Int(0) => Ok(Some(false)),
            Cell::Int(1) => Ok(Some(true)),
            _ => match self.text().as_deref() {
                None => Ok(None),
                Some("0") => Ok(Some(false)),
                Some("1") => Ok(Some(true)),
                Some(other) => Err(format!("`{other}` is not 0 or 1")),
            },
        }
    }

    pub fn integer(&self) -> Result<Option<i64>, String> {
        match *self {
            Cell::Int(v) => Ok(Some(v)),
            _ => match self.text().as_deref() {
                None => Ok(None),
                Some(t) => t.parse::<i64>().map(Some).map_err(|_| format!("`{t}` is not a whole number")),
            },
        }
    }
}

/// The text of an unscaled Decimal value (any scale, also negative), without trailing zeros.
fn decimal_text(v: i128, s: i8) -> String {
    if s <= 0 {
        return if v == 0 { "0".into() } else { format!("{v}{}", "0".repeat(s.unsigned_abs() as usize)) };
    }
    match Decimal::try_from_i128_with_scale(v, s as u32) {
        Ok(d) => d.normalize().to_string(),
        Err(_) => format!("{v}e-{s}"),
    }
}

/// `-1234.5`, `1234.50`, `12` (at most two non-zero decimals) in fen; overlong whole parts
/// saturate (see [`Cell::money_fen`]). `t` is trimmed and not empty.
#[inline]
pub(crate) fn parse_fen(t: &str) -> Result<i128, String> {
    parse_fen_short(t.as_bytes()).map_or_else(|| parse_fen_any(t), Ok)
}

/// The shape of nearly every amount, an optional sign, 1–15 whole digits and at most two
/// decimals, in `u64` arithmetic (it cannot overflow); `None` for any other text, which
/// [`parse_fen_any`] reads (the two agree wherever this one answers: a property test).
#[inline(always)]
fn parse_fen_short(b: &[u8]) -> Option<i128> {
    let (neg, b) = match *b.first()? {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    let dot = b.iter().position(|&c| c == b'.').unwrap_or(b.len());
    let (whole, frac) = (&b[..dot], b.get(dot + 1..).unwrap_or_default());
    if whole.is_empty() || whole.len() > 15 || frac.len() > 2 {
        return None;
    }
    let digits = |d: &[u8]| {
        d.iter().try_fold(0u64, |v, &c| {
            let k = c.wrapping_sub(b'0');
            (k <= 9).then_some(v * 10 + u64::from(k))
        })
    };
    let f = digits(frac)? * if frac.len() == 1 { 10 } else { 1 };
    let fen = i128::from(digits(whole)? * 100 + f);
    Some(if neg { -fen } else { fen })
}

/// [`parse_fen`] of any text.
fn parse_fen_any(t: &str) -> Result<i128, String> {
    let b = t.as_bytes();
    let bad = || format!("`{t}` is not an amount like 1234.50");
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    let (mut whole, mut frac, mut frac_digits, mut seen_dot, mut seen_digit) = (0i128, 0i128, 0u32, false, false);
    for &c in digits {
        match c {
            b'0'..=b'9' => {
                seen_digit = true;
                let d = (c - b'0') as i128;
                if !seen_dot {
                    whole = whole.saturating_mul(10).saturating_add(d);
                } else if frac_digits < 2 {
                    frac = frac * 10 + d;
                    frac_digits += 1;
                } else if d != 0 {
                    return Err(format!("`{t}` has more than two decimals"));
                }
            }
            b'.' if !seen_dot => seen_dot = true,
            _ => return Err(bad()),
        }
    }
    if !seen_digit {
        return Err(bad());
    }
    let frac = if frac_digits == 1 { frac * 10 } else { frac };
    let fen = whole.saturating_mul(100).saturating_add(frac);
    Ok(if neg { -fen } else { fen })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_of_every_shape() {
        assert_eq!(Cell::Text(" 1234.5 ").money_fen(), Ok(Some(123450)));
        assert_eq!(Cell::Text("7.100").money_fen(), Ok(Some(710)));
        assert!(Cell::Text("7.101").money_fen().is_err());
        assert!(Cell::Text("1e5").money_fen().is_err());
        // Decimal(_, -3): unscaled 12 means 12,000 yuan = 1,200,000 fen.
        assert_eq!(Cell::Decimal(12, -3).money_fen(), Ok(Some(1_200_000)));
        assert_eq!(Cell::Decimal(12, -3).text().as_deref(), Some("12000"));
        // Decimal(_, 4): 1.2300 yuan = 123 fen; 1.2345 has more than two decimals.
        assert_eq!(Cell::Decimal(12300, 4).money_fen(), Ok(Some(123)));
        assert!(Cell::Decimal(12345, 4).money_fen().is_err());
        // Saturation instead of wrapping: 4 × 2^62 fen does not fit an i64 sum, and a scale of
        // -60 does not fit an i128; both stay huge for the plausibility bound.
        assert_eq!(Cell::Decimal(1, -60).money_fen(), Ok(Some(i128::MAX)));
        assert_eq!(Cell::Text("-99999999999999999999999999999999999999999").money_fen(), Ok(Some(-i128::MAX)));
        assert_eq!(Cell::Float(0.125).money_fen(), Ok(Some(13)));
        assert!(Cell::Float(f64::NAN).money_fen().is_err());
        assert_eq!(Cell::Int(-3).money_fen(), Ok(Some(-300)));
        assert_eq!(time::days_from_civil(1900, 1, 1), MIN_DAY);
        assert_eq!(time::days_from_civil(2200, 1, 1), MAX_DAY);
        assert!(Cell::Timestamp(i64::MAX / 2).datetime().is_err());
        assert!(Cell::Date(MAX_DAY).date().is_err());
    }

    proptest::proptest! {
        /// The fast shape and the general reader agree on every text the fast one answers,
        /// and it answers the common shapes.
        #[test]
        fn short_amounts_read_as_the_general_reader_reads_them(
            t in "[+-]?[0-9]{0,17}(\\.[0-9]{0,4})?|[-+0-9. a-z]{0,8}",
        ) {
            if let Some(v) = parse_fen_short(t.as_bytes()) {
                proptest::prop_assert_eq!(Ok(v), parse_fen_any(&t));
            }
            let plain = t.strip_prefix(['+', '-']).unwrap_or(&t);
            let (w, f) = plain.split_once('.').unwrap_or((plain, ""));
            if (1..=15).contains(&w.len()) && f.len() <= 2 && (w.to_string() + f).bytes().all(|c| c.is_ascii_digit()) {
                proptest::prop_assert!(parse_fen_short(t.as_bytes()).is_some());
            }
        }
    }
}
