//! Arrow record batches as intake rows: from a Parquet file, or in memory from any other
//! source (the Python package, a streaming reader). [`ArrowBatch::new`] is the one way in; it
//! checks each column's type against the column's [`Kind`] once per batch, so a column of the
//! wrong type is one error naming it, not a reject on every row.

use super::cell::trim;
use super::columns::{Column, Kind, map_header};
use super::reject::Refusal;
use super::{Batch, Cell};
use anyhow::{Result, bail};
use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int64Array, RecordBatch, StringArray,
};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Date32Type, Decimal128Type, Float64Type, Int64Type, TimeUnit};
use std::borrow::Cow;

/// Asia/Shanghai is UTC+8 all year (no daylight saving since 1991): a zoned timestamp, which
/// Arrow stores as a UTC instant, is moved to the Shanghai wall clock (RULES.md S-30).
const SHANGHAI_OFFSET_SECS: i64 = 8 * 3600;

/// One column, normalised to a few physical kinds and downcast once per batch.
enum Col {
    Absent,
    Text(StringArray),
    Int(Int64Array),
    Float(Float64Array),
    Dec(Decimal128Array, i8),
    /// timestamp values, the divisor to seconds, and the shift to wall-clock seconds
    Ts(Int64Array, i64, i64),
    Date(Date32Array),
    Bool(BooleanArray),
}

pub struct ArrowBatch {
    cols: Vec<Col>,
    len: usize,
    first_record: u64,
    /// explicit record numbers ([`LINE_COLUMN`])
    lines: Option<Int64Array>,
}

/// Name of an optional integer column of in-memory input that gives each row's record number,
/// for rows that arrive out of file order (e.g. a Spark partition); messages then name it.
pub const LINE_COLUMN: &str = "_line";

fn accepts(kind: Kind, t: &DataType) -> bool {
    use DataType::*;
    let text = matches!(t, Utf8 | LargeUtf8 | Utf8View | Null) || matches!(t, Dictionary(_, v) if matches!(**v, Utf8 | LargeUtf8));
    let int = t.is_integer();
    let float = t.is_floating();
    let dec = matches!(t, Decimal32(..) | Decimal64(..) | Decimal128(..) | Decimal256(..));
    let time = matches!(t, Timestamp(..) | Date32 | Date64);
    match kind {
        Kind::Id | Kind::Text => text || int,
        Kind::Code | Kind::Int => text || int || float,
        Kind::Money => text || int || float || dec,
        Kind::DateTime | Kind::Date => text || time,
        Kind::Flag => text || int || matches!(t, Boolean),
    }
}

fn normalise(a: &ArrayRef, name: &str, file: &str) -> Result<Col> {
    // Unsafe casts fail instead of turning an out-of-range value into a silent null.
    let opts = CastOptions { safe: false, ..Default::default() };
    let to = |t: &DataType| cast_with_options(a, t, &opts).map_err(|e| anyhow::anyhow!("{file}: column {name}: {e}"));
    Ok(match a.data_type() {
        DataType::Null => Col::Absent,
        t if t.is_integer() => Col::Int(to(&DataType::Int64)?.as_primitive::<Int64Type>().clone()),
        t if t.is_floating() => Col::Float(to(&DataType::Float64)?.as_primitive::<Float64Type>().clone()),
        DataType::Decimal128(_, s) => Col::Dec(a.as_primitive::<Decimal128Type>().clone(), *s),
        DataType::Decimal32(_, s) | DataType::Decimal64(_, s) | DataType::Decimal256(_, s) => {
            Col::Dec(to(&DataType::Decimal128(38, *s))?.as_primitive::<Decimal128Type>().clone(), *s)
        }
        DataType::Timestamp(unit, tz) => {
            let div = match unit {
                TimeUnit::Second => 1,
                TimeUnit::Millisecond => 1_000,
                TimeUnit::Microsecond => 1_000_000,
                TimeUnit::Nanosecond => 1_000_000_000,
            };
            let shift = if tz.is_some() { SHANGHAI_OFFSET_SECS } else { 0 };
            Col::Ts(to(&DataType::Int64)?.as_primitive::<Int64Type>().clone(), div, shift)
        }
        DataType::Date32 | DataType::Date64 => Col::Date(to(&DataType::Date32)?.as_primitive::<Date32Type>().clone()),
        DataType::Boolean => Col::Bool(a.as_boolean().clone()),
        _ => Col::Text(to(&DataType::Utf8)?.as_string::<i32>().clone()),
    })
}

impl ArrowBatch {
    /// The rows of `batch` for the columns `cols` ([`super::CLAIMS`] or [`super::PERSONS`]),
    /// found by name; `first_record` numbers the rows in messages (1 for a whole file's first
    /// batch), or the batch's [`LINE_COLUMN`] does; `source` names the input in errors.
    pub fn new(batch: &RecordBatch, cols: &[Column], first_record: u64, source: &str) -> Result<ArrowBatch> {
        let header: Vec<String> = batch.schema().fields().iter().map(|f| f.name().clone()).collect();
        let map = map_header(source, &header, cols)?;
        let mut out = Vec::with_capacity(cols.len());
        for (c, m) in cols.iter().zip(&map) {
            let Some(i) = *m else {
                out.push(Col::Absent);
                continue;
            };
            let a = batch.column(i);
            if !accepts(c.kind, a.data_type()) {
                bail!("{source}: column {} has type {}; expected {}", c.name, a.data_type(), c.kind.expected());
            }
            out.push(normalise(a, c.name, source)?);
        }
        let lines = match batch.schema().index_of(LINE_COLUMN) {
            Ok(i) => match normalise(batch.column(i), LINE_COLUMN, source) {
                Ok(Col::Int(a)) if a.null_count() == 0 && a.values().iter().all(|&v| v > 0) => Some(a),
                _ => bail!("{source}: column {LINE_COLUMN} must hold a positive whole number in every row"),
            },
            Err(_) => None,
        };
        Ok(ArrowBatch { cols: out, len: batch.num_rows(), first_record, lines })
    }
}

impl Batch for ArrowBatch {
    fn len(&self) -> usize {
        self.len
    }
    fn cell(&self, row: usize, col: usize) -> Cell<'_> {
        match &self.cols[col] {
            Col::Absent => Cell::Null,
            Col::Text(a) if !a.is_null(row) => Cell::Text(a.value(row)),
            Col::Int(a) if !a.is_null(row) => Cell::Int(a.value(row)),
            Col::Float(a) if !a.is_null(row) => Cell::Float(a.value(row)),
            Col::Dec(a, s) if !a.is_null(row) => Cell::Decimal(a.value(row), *s),
            Col::Ts(a, div, shift) if !a.is_null(row) => match a.value(row).div_euclid(*div).checked_add(*shift) {
                Some(t) => Cell::Timestamp(t),
                None => Cell::Float(f64::INFINITY),
            },
            Col::Date(a) if !a.is_null(row) => Cell::Date(a.value(row)),
            Col::Bool(a) if !a.is_null(row) => Cell::Bool(a.value(row)),
            _ => Cell::Null,
        }
    }
    fn line(&self, row: usize) -> u64 {
        match &self.lines {
            Some(l) => l.value(row) as u64,
            None => self.first_record + row as u64,
        }
    }
    fn row_error(&self, _row: usize) -> Option<Refusal> {
        None
    }
    #[inline(always)]
    fn text(&self, row: usize, col: usize) -> Option<Cow<'_, str>> {
        match &self.cols[col] {
            Col::Absent => None,
            Col::Text(a) if a.is_null(row) => None,
            Col::Text(a) => {
                let t = trim(a.value(row));
                (!t.is_empty()).then_some(Cow::Borrowed(t))
            }
            _ => self.cell(row, col).text(),
        }
    }
    #[inline(always)]
    fn money_fen(&self, row: usize, col: usize) -> Result<Option<i128>, String> {
        match &self.cols[col] {
            Col::Absent => Ok(None),
            // Decimal(_, 2): the unscaled value is the amount in fen.
            Col::Dec(a, 2) => Ok((!a.is_null(row)).then(|| a.value(row))),
            _ => self.cell(row, col).money_fen(),
        }
    }
    #[inline(always)]
    fn flag(&self, row: usize, col: usize) -> Result<Option<bool>, String> {
        match &self.cols[col] {
            Col::Absent => Ok(None),
            Col::Int(a) if a.is_null(row) => Ok(None),
            Col::Int(a) if matches!(a.value(row), 0 | 1) => Ok(Some(a.value(row) == 1)),
            _ => self.cell(row, col).flag(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::columns::Kind;
    use arrow::array::{BooleanArray, Decimal128Array, Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    /// The typed shortcuts ([`Batch::text`], [`Batch::money_fen`], [`Batch::flag`]) give what
    /// the cell's own conversions give, on every column type and value shape (nulls, blanks,
    /// other scales, values that are not flags), including columns read as another kind.
    #[test]
    fn typed_shortcuts_equal_the_cells_conversions() -> anyhow::Result<()> {
        let dec = |v: Vec<Option<i128>>, s: i8| -> anyhow::Result<ArrayRef> {
            Ok(Arc::new(Decimal128Array::from(v).with_precision_and_scale(18, s)?))
        };
        let cols: Vec<(&str, Kind, ArrayRef)> = vec![
            ("t", Kind::Text, Arc::new(StringArray::from(vec![Some(" a "), None, Some(""), Some("  "), Some("7")]))),
            ("m2", Kind::Money, dec(vec![Some(12345), None, Some(-1), Some(0), Some(10_i128.pow(17))], 2)?),
            ("m3", Kind::Money, dec(vec![Some(1230), None, Some(1234), Some(0), Some(-5000)], 3)?),
            ("mt", Kind::Money, Arc::new(StringArray::from(vec![Some("1.5"), None, Some(""), Some("x"), Some(" 2 ")]))),
            ("f", Kind::Flag, Arc::new(Int64Array::from(vec![Some(0), Some(1), Some(2), None, Some(-1)]))),
            ("fb", Kind::Flag, Arc::new(BooleanArray::from(vec![Some(true), Some(false), None, Some(true), Some(false)]))),
            ("ft", Kind::Flag, Arc::new(StringArray::from(vec![Some("1"), Some("0"), Some(" "), Some("yes"), None]))),
        ];
        let schema = Schema::new(cols.iter().map(|(n, _, a)| Field::new(*n, a.data_type().clone(), true)).collect::<Vec<_>>());
        let batch = RecordBatch::try_new(Arc::new(schema), cols.iter().map(|c| c.2.clone()).collect())?;
        let mut wanted: Vec<Column> = cols.iter().map(|(n, k, _)| Column { name: n, kind: *k, required: false }).collect();
        wanted.push(Column { name: "absent", kind: Kind::Money, required: false });
        let b = ArrowBatch::new(&batch, &wanted, 1, "t")?;
        for row in 0..b.len() {
            for col in 0..wanted.len() {
                let c = b.cell(row, col);
                assert_eq!(b.text(row, col), c.text(), "text {row} {col}");
                assert_eq!(b.money_fen(row, col), c.money_fen(), "money {row} {col}");
                assert_eq!(b.flag(row, col), c.flag(), "flag {row} {col}");
            }
        }
        // The shortcuts were taken: a Decimal(18,2) value is its fen, an integer 1 a set flag.
        assert_eq!((b.money_fen(0, 1), b.flag(1, 4), b.text(0, 0).as_deref()), (Ok(Some(12345)), Ok(Some(true)), Some("a")));
        Ok(())
    }
}
