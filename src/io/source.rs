//! Input files as batches of rows of [`Cell`]s: CSV (csv crate) and Parquet (arrow-rs), so the
//! validation that follows is written once.

use super::cell::Cell;
use anyhow::{Context, Result, bail};
use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int64Array, RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, Date32Type, Decimal128Type, Float64Type, Int64Type, TimeUnit};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::fs::File;
use std::path::Path;

/// Keeps freed memory in the process instead of handing it back to the kernel (glibc only).
///
/// A run allocates and frees the same large buffers over and over (Arrow columns of each
/// decoded batch, per-chunk claim tables, output buffers). With glibc's defaults, blocks above
/// the (dynamic) mmap threshold are unmapped on free and the top of each arena is trimmed, so
/// the next batch faults in fresh zeroed pages again; on VMs that hand free pages back to the
/// host that costs more than the decoding itself (read claims 8 s → 5 s on 10M claims). A
/// batch job that exits when done has no use for giving memory back early. Idempotent.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            unsafe extern "C" {
                fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
            }
            const M_TRIM_THRESHOLD: std::ffi::c_int = -1;
            const M_MMAP_THRESHOLD: std::ffi::c_int = -3;
            // SAFETY: mallopt only changes glibc's malloc parameters; called once, before the
            // large allocations of the run. Some glibc versions cap the mmap threshold at
            // 32 MiB and refuse larger values; then the cap is used.
            unsafe {
                mallopt(M_TRIM_THRESHOLD, std::ffi::c_int::MAX);
                if mallopt(M_MMAP_THRESHOLD, 1 << 30) == 0 {
                    mallopt(M_MMAP_THRESHOLD, 32 << 20);
                }
            }
        });
    }
}

/// Rows of one input chunk; `cell(row, col)` with `col` an index into the reader's column list.
pub trait Batch: Sync {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn cell(&self, row: usize, col: usize) -> Cell<'_>;
    /// Line (CSV, header = 1) or record number (Parquet, first record = 1) of a row.
    fn line(&self, row: usize) -> u64;
    /// A problem with the row as a whole (bad UTF-8, wrong field count).
    fn row_error(&self, row: usize) -> Option<String>;
    /// The typed columns of a Parquet batch (for column-wise fast paths).
    fn as_parquet(&self) -> Option<&ParquetBatch> {
        None
    }
}

/// One input table: a CSV or Parquet file, or Arrow record batches already in memory (named
/// for messages, e.g. `claims table`).
#[derive(Clone, Debug)]
pub enum Input {
    File(std::path::PathBuf),
    Arrow { name: String, batches: Vec<RecordBatch> },
}

impl Input {
    /// The file path or the table's name, for messages and rejects.
    pub fn name(&self) -> String {
        match self {
            Input::File(p) => p.display().to_string(),
            Input::Arrow { name, .. } => name.clone(),
        }
    }
}

/// The input's format, from the file name.
pub fn is_parquet(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("parquet") || e.eq_ignore_ascii_case("pq"))
}

/// Maps wanted columns to file positions; a missing required column stops the run.
fn map_columns(path: &Path, header: &[String], cols: &[&str], required: usize) -> Result<Vec<Option<usize>>> {
    let map: Vec<Option<usize>> = cols.iter().map(|c| header.iter().position(|h| h.trim() == *c)).collect();
    let missing: Vec<&str> = cols[..required].iter().zip(&map).filter(|(_, m)| m.is_none()).map(|(c, _)| *c).collect();
    if !missing.is_empty() {
        bail!(
            "{}: missing required column(s) {} (CONTRACT.md names; the header has: {})",
            path.display(),
            missing.join(", "),
            header.join(", ")
        );
    }
    Ok(map)
}

pub struct CsvBatch {
    records: Vec<csv::ByteRecord>,
    lines: Vec<u64>,
    map: Vec<Option<usize>>,
    width: usize,
}

impl Batch for CsvBatch {
    fn len(&self) -> usize {
        self.records.len()
    }
    fn cell(&self, row: usize, col: usize) -> Cell<'_> {
        match self.map[col].and_then(|i| self.records[row].get(i)) {
            Some(b) => std::str::from_utf8(b).map(Cell::Text).unwrap_or(Cell::Null),
            None => Cell::Null,
        }
    }
    fn line(&self, row: usize) -> u64 {
        self.lines[row]
    }
    fn row_error(&self, row: usize) -> Option<String> {
        let r = &self.records[row];
        if r.len() != self.width {
            return Some(format!("the row has {} fields, the header has {}", r.len(), self.width));
        }
        if std::str::from_utf8(r.as_slice()).is_err() {
            return Some("the row is not valid UTF-8".into());
        }
        None
    }
}

/// Reads a CSV file in batches of `batch_rows`, calling `f` for each.
pub fn read_csv(path: &Path, cols: &[&str], required: usize, batch_rows: usize, mut f: impl FnMut(CsvBatch) -> Result<()>) -> Result<()> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut rdr =
        csv::ReaderBuilder::new().flexible(true).buffer_capacity(1 << 20).from_reader(std::io::BufReader::with_capacity(1 << 20, file));
    let header: Vec<String> = rdr
        .byte_headers()
        .with_context(|| format!("{}: cannot read the header row", path.display()))?
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let s = String::from_utf8_lossy(h).into_owned();
            if i == 0 { s.trim_start_matches('\u{feff}').to_string() } else { s }
        })
        .collect();
    let map = map_columns(path, &header, cols, required)?;
    let width = header.len();
    loop {
        let mut records = Vec::with_capacity(batch_rows);
        let mut lines = Vec::with_capacity(batch_rows);
        let mut rec = csv::ByteRecord::new();
        while records.len() < batch_rows {
            match rdr.read_byte_record(&mut rec) {
                Ok(true) => {
                    lines.push(rec.position().map(|p| p.line()).unwrap_or(0));
                    records.push(std::mem::take(&mut rec));
                }
                Ok(false) => break,
                Err(e) => bail!("{}: cannot read CSV: {e}", path.display()),
            }
        }
        if records.is_empty() {
            return Ok(());
        }
        let done = records.len() < batch_rows;
        f(CsvBatch { records, lines, map: map.clone(), width })?;
        if done {
            return Ok(());
        }
    }
}

/// A column of a Parquet batch, normalised to a few physical kinds and downcast once per
/// batch (not once per cell).
enum Col {
    Absent,
    Text(StringArray),
    Int(Int64Array),
    Float(Float64Array),
    Dec(Decimal128Array, i8),
    /// timestamp values and the divisor to seconds
    Ts(Int64Array, i64),
    Date(Date32Array),
    Bool(BooleanArray),
}

pub struct ParquetBatch {
    cols: Vec<Col>,
    len: usize,
    first_record: u64,
    /// explicit line numbers ([`LINE_COLUMN`])
    lines: Option<Int64Array>,
}

/// A typed view of one column of a [`ParquetBatch`]; `cell(row, col)` gives the same values
/// one at a time.
#[derive(Clone, Copy)]
pub enum ColRef<'a> {
    Absent,
    Text(&'a StringArray),
    Int(&'a Int64Array),
    /// values and scale
    Decimal(&'a Decimal128Array, i8),
    /// timestamp values and the divisor to seconds
    Timestamp(&'a Int64Array, i64),
    /// any other kind (floats, dates, flags)
    Other,
}

impl ParquetBatch {
    pub fn column(&self, col: usize) -> ColRef<'_> {
        match &self.cols[col] {
            Col::Absent => ColRef::Absent,
            Col::Text(a) => ColRef::Text(a),
            Col::Int(a) => ColRef::Int(a),
            Col::Dec(a, s) => ColRef::Decimal(a, *s),
            Col::Ts(a, d) => ColRef::Timestamp(a, *d),
            Col::Float(_) | Col::Date(_) | Col::Bool(_) => ColRef::Other,
        }
    }
}

fn normalise(a: ArrayRef) -> Result<Col> {
    use arrow::compute::cast;
    Ok(match a.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Col::Text(cast(&a, &DataType::Utf8)?.as_string::<i32>().clone()),
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => Col::Int(cast(&a, &DataType::Int64)?.as_primitive::<Int64Type>().clone()),
        DataType::Float16 | DataType::Float32 | DataType::Float64 => {
            Col::Float(cast(&a, &DataType::Float64)?.as_primitive::<Float64Type>().clone())
        }
        DataType::Decimal128(_, s) => Col::Dec(a.as_primitive::<Decimal128Type>().clone(), *s),
        DataType::Decimal32(_, s) | DataType::Decimal64(_, s) | DataType::Decimal256(_, s) => {
            let s = *s;
            Col::Dec(cast(&a, &DataType::Decimal128(38, s))?.as_primitive::<Decimal128Type>().clone(), s)
        }
        DataType::Timestamp(unit, _) => {
            let div = match unit {
                TimeUnit::Second => 1,
                TimeUnit::Millisecond => 1_000,
                TimeUnit::Microsecond => 1_000_000,
                TimeUnit::Nanosecond => 1_000_000_000,
            };
            Col::Ts(cast(&a, &DataType::Int64)?.as_primitive::<Int64Type>().clone(), div)
        }
        DataType::Date32 | DataType::Date64 => Col::Date(cast(&a, &DataType::Date32)?.as_primitive::<Date32Type>().clone()),
        DataType::Boolean => Col::Bool(a.as_boolean().clone()),
        _ => Col::Text(cast(&a, &DataType::Utf8)?.as_string::<i32>().clone()),
    })
}

impl Batch for ParquetBatch {
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
            Col::Ts(a, div) if !a.is_null(row) => Cell::Timestamp(a.value(row).div_euclid(*div)),
            Col::Date(a) if !a.is_null(row) => Cell::Date(a.value(row)),
            Col::Bool(a) if !a.is_null(row) => Cell::Bool(a.value(row)),
            _ => Cell::Null,
        }
    }
    fn line(&self, row: usize) -> u64 {
        match &self.lines {
            Some(l) => l.value(row).max(0) as u64,
            None => self.first_record + row as u64,
        }
    }
    fn row_error(&self, _row: usize) -> Option<String> {
        None
    }
    fn as_parquet(&self) -> Option<&ParquetBatch> {
        Some(self)
    }
}

/// Row groups of a Parquet file with their first record numbers and row counts.
pub fn parquet_row_groups(path: &Path) -> Result<Vec<(usize, u64, u64)>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(file).with_context(|| format!("{}: not a readable Parquet file", path.display()))?;
    let mut first = 1u64;
    Ok(b.metadata()
        .row_groups()
        .iter()
        .enumerate()
        .map(|(i, rg)| {
            let r = (i, first, rg.num_rows() as u64);
            first += rg.num_rows() as u64;
            r
        })
        .collect())
}

/// Name of an optional integer column of in-memory input that gives each row's line (record)
/// number, for inputs whose rows arrive out of file order (e.g. a Spark partition).
pub const LINE_COLUMN: &str = "_line";

/// The wanted columns of an Arrow record batch (from a Parquet file or from memory), found by
/// name; rows are numbered from `first_record`, or by the batch's [`LINE_COLUMN`] if it has one.
pub fn arrow_batch(source: &Path, batch: &RecordBatch, cols: &[&str], required: usize, first_record: u64) -> Result<ParquetBatch> {
    let schema = batch.schema();
    let header: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let map = map_columns(source, &header, cols, required)?;
    let cols: Vec<Col> = map.iter().map(|m| m.map_or(Ok(Col::Absent), |i| normalise(batch.column(i).clone()))).collect::<Result<_>>()?;
    let lines = match schema.index_of(LINE_COLUMN) {
        Ok(i) => match normalise(batch.column(i).clone())? {
            Col::Int(a) if a.null_count() == 0 => Some(a),
            _ => bail!("{}: column {LINE_COLUMN} must hold a whole number in every row", source.display()),
        },
        Err(_) => None,
    };
    Ok(ParquetBatch { cols, len: batch.num_rows(), first_record, lines })
}

/// Reads one row group of a Parquet file, calling `f` for each batch.
pub fn read_parquet_group(
    path: &Path,
    cols: &[&str],
    required: usize,
    group: usize,
    first_record: u64,
    mut f: impl FnMut(&ParquetBatch) -> Result<()>,
) -> Result<()> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).with_context(|| format!("{}: not a readable Parquet file", path.display()))?;
    let header: Vec<String> = builder.schema().fields().iter().map(|f| f.name().clone()).collect();
    let map = map_columns(path, &header, cols, required)?;
    let wanted: Vec<usize> = map.iter().flatten().copied().collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), wanted.clone());
    let reader = builder.with_projection(mask).with_row_groups(vec![group]).with_batch_size(64 * 1024).build()?;
    let mut first = first_record;
    for batch in reader {
        let batch = batch.with_context(|| format!("{}: cannot decode row group {group}", path.display()))?;
        let pb = arrow_batch(path, &batch, cols, required, first)?;
        first += batch.num_rows() as u64;
        f(&pb)?;
    }
    Ok(())
}
