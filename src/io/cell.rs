//! One input cell, whatever the file format, and its conversion to the contract's types with
//! an error text that says what was expected (for rejects.csv).

use crate::model::{Money, time};
use rust_decimal::Decimal;
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
            Cell::Decimal(v, s) => Some(Cow::Owned(Decimal::from_i128_with_scale(v, s.max(0) as u32).normalize().to_string())),
            Cell::Float(f) => Some(Cow::Owned(if f.fract() == 0.0 { format!("{}", f as i64) } else { f.to_string() })),
            Cell::Timestamp(ts) => Some(Cow::Owned(time::format_datetime(ts))),
            Cell::Date(d) => Some(Cow::Owned(time::format_date(d))),
            Cell::Bool(b) => Some(Cow::Borrowed(if b { "1" } else { "0" })),
        }
    }

    /// Money (CONTRACT.md: text with ≤ 2 decimals, Decimal, integer, or float rounded half away
    /// from zero to 0.01).
    pub fn money(&self) -> Result<Option<Money>, String> {
        match *self {
            Cell::Null => Ok(None),
            Cell::Text(s) if trim(s).is_empty() => Ok(None),
            Cell::Text(s) => Money::parse(s).map(Some),
            Cell::Int(v) => v.checked_mul(100).map(|f| Some(Money::from_fen(f))).ok_or_else(|| format!("{v} is too large")),
            // The usual Decimal(_, 2) column: the unscaled value is the amount in fen.
            Cell::Decimal(v, 2) if i64::try_from(v).is_ok() => Ok(Some(Money::from_fen(v as i64))),
            Cell::Decimal(v, s) => {
                let d = Decimal::try_from_i128_with_scale(v, s.max(0) as u32).map_err(|_| format!("decimal {v}e-{s} is out of range"))?;
                Money::from_exact_fen(d).map(Some).ok_or_else(|| format!("`{}` has more than two decimals", d.normalize()))
            }
            Cell::Float(f) => {
                if !f.is_finite() {
                    return Err(format!("{f} is not an amount"));
                }
                // Float columns are rounded half away from zero to 0.01 (CONTRACT.md).
                let d = Decimal::try_from(f).map_err(|_| format!("{f} is not an amount"))?;
                let r = d.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
                Money::from_exact_fen(r).map(Some).ok_or_else(|| format!("{f} is out of range"))
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
