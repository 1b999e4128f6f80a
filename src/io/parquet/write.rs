//! Parquet output: rows become Arrow batches, each row group's columns encoded in parallel.

use crate::io::write::{Cells, ColType, ColumnsFn, OutFile, RowFn, Val};
use anyhow::Result;
use arrow::array::{
    ArrayRef, Date32Array, Decimal64Array, Decimal128Array, Int64Array, NullBufferBuilder, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{ArrowColumnChunk, compute_leaves};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use rayon::prelude::*;
use std::path::PathBuf;
use std::sync::Arc;

/// How money is held in the Arrow batches built from a table's rows.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum MoneyAs {
    /// `decimal128(18, 2)`: the type of the Parquet files' money (their embedded Arrow
    /// schema) and of the tables handed to Python.
    Decimal128,
    /// `decimal64(18, 2)`: the batches fed to the Parquet encoders. A decimal of precision 18
    /// is stored as INT64 in Parquet either way, and the encoder takes a decimal64 column's
    /// values as they are, where it copied a decimal128 column's into a new i64 buffer; the
    /// column builders hold 8 bytes a value instead of 16. The files are the same, byte for
    /// byte (the embedded schema still says decimal128).
    Decimal64,
}

fn arrow_schema(cols: &[(&str, ColType)]) -> Arc<Schema> {
    schema_with(cols, MoneyAs::Decimal128)
}

fn schema_with(cols: &[(&str, ColType)], money: MoneyAs) -> Arc<Schema> {
    Arc::new(Schema::new(
        cols.iter()
            .map(|(n, t)| {
                let dt = match t {
                    ColType::Text | ColType::Id => DataType::Utf8,
                    ColType::Int => DataType::Int64,
                    ColType::Money | ColType::OptMoney => match money {
                        MoneyAs::Decimal128 => DataType::Decimal128(18, 2),
                        MoneyAs::Decimal64 => DataType::Decimal64(18, 2),
                    },
                    ColType::DateTime => DataType::Timestamp(TimeUnit::Microsecond, None),
                    ColType::Date | ColType::OptDate => DataType::Date32,
                };
                Field::new(*n, dt, matches!(t, ColType::OptMoney | ColType::OptDate))
            })
            .collect::<Vec<_>>(),
    ))
}

/// One column's values as they are built. Numbers go into plain vectors and become Arrow
/// arrays without a copy; only a column that may hold nulls keeps a validity bitmap (Arrow's
/// builders keep one for every column, and appending to it cost 4% of writing a settlements
/// table). Text is never null: its bytes and offsets are kept as a string array lays them out.
enum B {
    T(Text),
    I(Vec<i64>),
    /// money in fen
    M(Vec<i64>, Option<NullBufferBuilder>),
    D(Vec<i64>),
    Day(Vec<i32>, Option<NullBufferBuilder>),
}

/// The typed column builders of one Arrow batch, filled a row at a time with each row's cells
/// in column order ([`Cells`]): a table whose rows are written this way
/// ([`ColumnsFn`]) skips the row of [`Val`]s and its copy.
pub struct ArrowCells {
    b: Vec<B>,
    /// the column of the next cell
    k: usize,
}

/// A text column as it is built: the strings' bytes one after another, and where each ends.
struct Text {
    bytes: Vec<u8>,
    /// `offsets[i]..offsets[i + 1]` are the bytes of string i (starts with 0)
    offsets: Vec<i32>,
}

impl Text {
    fn with_capacity(n: usize) -> Text {
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0);
        Text { bytes: Vec::with_capacity(n * 16), offsets }
    }

    #[inline(always)]
    fn push(&mut self, s: &str) {
        self.bytes.extend_from_slice(s.as_bytes());
        // A batch's text beyond 2 GiB wraps the offset; `finish` refuses it.
        self.offsets.push(self.bytes.len() as i32);
    }

    fn finish(self) -> Result<StringArray> {
        anyhow::ensure!(i32::try_from(self.bytes.len()).is_ok(), "a text column of one batch exceeds 2 GiB");
        // SAFETY: the bytes are whole `&str`s one after another, so they are UTF-8 and every
        // offset (their ends, ascending from 0, all below 2^31 as checked) falls between
        // characters; there are no nulls.
        Ok(unsafe {
            StringArray::new_unchecked(OffsetBuffer::new_unchecked(ScalarBuffer::from(self.offsets)), Buffer::from_vec(self.bytes), None)
        })
    }
}

impl ArrowCells {
    fn new(types: &[ColType], n: usize) -> ArrowCells {
        let nulls = |t: &ColType| matches!(t, ColType::OptMoney | ColType::OptDate).then(|| NullBufferBuilder::new(n));
        let b = types
            .iter()
            .map(|t| match t {
                ColType::Text | ColType::Id => B::T(Text::with_capacity(n)),
                ColType::Int => B::I(Vec::with_capacity(n)),
                ColType::Money | ColType::OptMoney => B::M(Vec::with_capacity(n), nulls(t)),
                ColType::DateTime => B::D(Vec::with_capacity(n)),
                ColType::Date | ColType::OptDate => B::Day(Vec::with_capacity(n), nulls(t)),
            })
            .collect();
        ArrowCells { b, k: 0 }
    }

    /// The batch, its money as `schema` says (decimal128 or decimal64).
    fn finish(self, schema: &Arc<Schema>) -> Result<RecordBatch> {
        let wide = schema.fields().iter().any(|f| matches!(f.data_type(), DataType::Decimal128(..)));
        let arrays: Vec<ArrayRef> = self
            .b
            .into_iter()
            .map(|b| -> Result<ArrayRef> {
                Ok(match b {
                    B::T(t) => Arc::new(t.finish()?),
                    B::I(v) => Arc::new(Int64Array::new(v.into(), None)),
                    B::M(v, mut n) if wide => Arc::new(
                        Decimal128Array::try_new(v.into_iter().map(i128::from).collect(), n.as_mut().and_then(|n| n.finish()))?
                            .with_precision_and_scale(18, 2)?,
                    ),
                    B::M(v, mut n) => {
                        Arc::new(Decimal64Array::try_new(v.into(), n.as_mut().and_then(|n| n.finish()))?.with_precision_and_scale(18, 2)?)
                    }
                    B::D(v) => Arc::new(TimestampMicrosecondArray::new(v.into(), None)),
                    B::Day(v, mut n) => Arc::new(Date32Array::try_new(v.into(), n.as_mut().and_then(|n| n.finish()))?),
                })
            })
            .collect::<Result<_>>()?;
        Ok(RecordBatch::try_new(schema.clone(), arrays)?)
    }
}

/// Appends a value to a column that may or may not keep a validity bitmap.
#[inline(always)]
fn push<T>(v: &mut Vec<T>, n: &mut Option<NullBufferBuilder>, x: T) {
    v.push(x);
    if let Some(n) = n {
        n.append_non_null();
    }
}

/// Appends a null (a zero value, marked null) to a column. A column declared without nulls
/// gets its bitmap here, so that the batch is refused as it was with Arrow's builders (a
/// mistake in a table's row, never a zero written for a missing amount).
#[inline(always)]
fn push_null<T: Default>(v: &mut Vec<T>, n: &mut Option<NullBufferBuilder>) {
    let n = n.get_or_insert_with(|| {
        let mut b = NullBufferBuilder::new(v.capacity());
        b.append_n_non_nulls(v.len());
        b
    });
    v.push(T::default());
    n.append_null();
}

impl<'a> Cells<'a> for ArrowCells {
    /// The cell of the next column. A cell of another type than its column's (a mistake in a
    /// table's row) still fills the column, so that every column keeps one value per row.
    #[inline(always)]
    fn put(&mut self, v: Val<'a>) {
        let k = self.k;
        self.k += 1;
        let Some(b) = self.b.get_mut(k) else { return };
        match (b, v) {
            (B::T(b), Val::Text(s)) => b.push(s),
            (B::I(b), Val::Int(x)) => b.push(x),
            (B::M(b, n), Val::Money(m)) => push(b, n, m.fen()),
            (B::D(b), Val::DateTime(ts)) => b.push(ts * 1_000_000),
            (B::Day(b, n), Val::Date(d)) => push(b, n, d),
            (B::M(b, n), Val::Null) => push_null(b, n),
            (B::Day(b, n), Val::Null) => push_null(b, n),
            (B::T(b), other) => b.push(&format!("{other:?}")),
            (B::I(b), _) => b.push(0),
            (B::M(b, n), _) => push(b, n, 0),
            (B::D(b), _) => b.push(0),
            (B::Day(b, n), _) => push(b, n, 0),
        }
    }
}

/// A batch of `rows` from the rows' cells ([`RowFn`]).
fn arrow_batch<'a>(schema: &Arc<Schema>, types: &[ColType], rows: std::ops::Range<usize>, row: &RowFn<'a>) -> Result<RecordBatch> {
    let mut cells = ArrowCells::new(types, rows.len());
    let mut vals = Vec::with_capacity(types.len());
    for i in rows {
        vals.clear();
        row(i, &mut vals);
        cells.k = 0;
        for v in &vals {
            cells.put(*v);
        }
    }
    cells.finish(schema)
}

/// A batch of `rows` written straight into the column builders ([`ColumnsFn`]).
fn columns_batch<'a>(schema: &Arc<Schema>, types: &[ColType], rows: std::ops::Range<usize>, row: &ColumnsFn<'a>) -> Result<RecordBatch> {
    let mut cells = ArrowCells::new(types, rows.len());
    for i in rows {
        cells.k = 0;
        row(i, &mut cells);
    }
    cells.finish(schema)
}

/// Builds the batch of a range of rows.
type MakeBatch<'m> = dyn Fn(&Arc<Schema>, &[ColType], std::ops::Range<usize>) -> Result<RecordBatch> + Sync + 'm;

/// A table of `n` rows as Arrow record batches with the column types of the Parquet output
/// (built in parallel, in row order).
fn table_of(cols: &[(&str, ColType)], n: usize, make: &MakeBatch) -> Result<(Arc<Schema>, Vec<RecordBatch>)> {
    const CHUNK: usize = 1 << 16;
    let schema = arrow_schema(cols);
    let types: Vec<ColType> = cols.iter().map(|c| c.1).collect();
    let batches: Vec<RecordBatch> = (0..n)
        .step_by(CHUNK)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|s| make(&schema, &types, s..(s + CHUNK).min(n)))
        .collect::<Result<_>>()?;
    Ok((schema, batches))
}

/// A table of `n` rows, `row(i)` giving the cells of row i, as Arrow record batches.
pub fn arrow_table<'a>(cols: &[(&str, ColType)], n: usize, row: &RowFn<'a>) -> Result<(Arc<Schema>, Vec<RecordBatch>)> {
    table_of(cols, n, &|schema, types, rows| arrow_batch(schema, types, rows, row))
}

/// [`arrow_table`] for rows written straight into the column builders.
pub fn arrow_table_columns<'a>(cols: &[(&str, ColType)], n: usize, row: &ColumnsFn<'a>) -> Result<(Arc<Schema>, Vec<RecordBatch>)> {
    table_of(cols, n, &|schema, types, rows| columns_batch(schema, types, rows, row))
}

/// Parquet: rows become Arrow batches of `chunk` rows as they come, and each batch goes at
/// once into the row group's column encoders (one per column, in parallel); every `window`
/// rows close one row group. Memory is the encoded (compressed) row group and a few batches.
pub(crate) struct ParquetSink {
    /// the batches' schema: the file's, with money as decimal64 ([`MoneyAs::Decimal64`])
    schema: Arc<Schema>,
    types: Vec<ColType>,
    shown: PathBuf,
    /// the file, written on a thread of its own
    file: FileThread,
    factory: parquet::arrow::arrow_writer::ArrowRowGroupWriterFactory,
    /// the open row group's column encoders and its number
    columns: Option<Vec<parquet::arrow::arrow_writer::ArrowColumnWriter>>,
    row_group: usize,
    /// rows encoded into the open row group
    group_rows: usize,
    /// the start of the next batch (fewer than `chunk` rows)
    partial: Option<RecordBatch>,
    window: usize,
    chunk: usize,
}

/// Batches built at once per step (in parallel) before they are encoded: two a thread on 2
/// cores. The batches of a step are alive together at the end of an in-memory run, when its
/// peak is reached. On the 10.36M year (`benches/peer.sh`'s data, 3 alternated rounds with
/// 2, 4 and 8), 4 gave peaks of 2,573–2,591 MiB against 2,615–2,618 MiB with 8, in the same
/// writing time (3.75–3.93 s against 3.78–3.89 s); 2 saved little more (2,534–2,577 MiB)
/// for a little more CPU. The files are the same bytes whatever the step.
const BATCHES_PER_STEP: usize = 4;

impl ParquetSink {
    pub(crate) fn new(w: OutFile, cols: &[(&str, ColType)], window: usize, chunk: usize) -> Result<ParquetSink> {
        let schema = arrow_schema(cols);
        let mut props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(1)?))
            .set_max_row_group_row_count(Some(window));
        // Numbers are written plain: an amount or a time column has too many values for a
        // dictionary (the encoder fills one, then falls back), and a column of mostly zeros
        // compresses to almost nothing without one, while hashing every value into a
        // dictionary cost a few percent of a run's CPU. So are identifiers (setl_id, mdtrt_id,
        // psn_no): each value is new or nearly, and the encoder interned every one of them
        // (hashing and comparing it) until the dictionary page overflowed. Text columns keep
        // theirs (policy_id, benefit, status and reason repeat).
        // Numbers are delta-encoded (DELTA_BINARY_PACKED, which every Parquet reader reads:
        // Spark, DuckDB, pyarrow): zstd then works on bit-packed deltas instead of 8 bytes a
        // value. The 10.36M year's settlements (`benches/peer.sh`'s data), 3 alternated runs:
        // writing took 4.02–4.19 s against 4.39–4.67 s plain; the file is 304 MB against 296
        // (setl_time 40 MB against 66, the amounts a few MB larger each).
        for (name, t) in cols {
            if !matches!(t, ColType::Text) {
                props = props.set_column_dictionary_enabled(ColumnPath::from(*name), false);
            }
            // Identifiers carry no min/max statistics: the encoder compared every value with the
            // page's bounds (2% of a run's CPU, in memcmp), and bounds of ids in input order span
            // nearly the whole range, so they would let a reader skip nothing.
            if matches!(t, ColType::Id) {
                props = props.set_column_statistics_enabled(ColumnPath::from(*name), EnabledStatistics::None);
            }
            if !matches!(t, ColType::Text | ColType::Id) {
                props = props.set_column_encoding(ColumnPath::from(*name), Encoding::DELTA_BINARY_PACKED);
            }
        }
        let props = props.build();
        // The ArrowWriter sets up the file (schema, the embedded Arrow schema, properties);
        // its lower-level halves then let every row group's columns be encoded in parallel,
        // one column writer per column on rayon (a serial ArrowWriter::write encodes one
        // column after another on one core).
        let shown = w.name().to_path_buf();
        let (writer, factory) = ArrowWriter::try_new(w, schema, Some(props))
            .and_then(|w| w.into_serialized_writer())
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", shown.display()))?;
        let types = cols.iter().map(|c| c.1).collect();
        let schema = schema_with(cols, MoneyAs::Decimal64);
        let file = FileThread::start(writer).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", shown.display()))?;
        Ok(ParquetSink { schema, types, shown, file, factory, columns: None, row_group: 0, group_rows: 0, partial: None, window, chunk })
    }

    fn named(&self, e: parquet::errors::ParquetError) -> anyhow::Error {
        anyhow::anyhow!("cannot write {}: {e}", self.shown.display())
    }

    pub(crate) fn write<'a>(&mut self, n: usize, row: &RowFn<'a>, progress: &(dyn Fn(u64) + Sync)) -> Result<()> {
        self.write_batches(n, &|schema, types, rows| arrow_batch(schema, types, rows, row), progress)
    }

    /// [`ParquetSink::write`] for rows written straight into the column builders.
    pub(crate) fn write_columns<'a>(&mut self, n: usize, row: &ColumnsFn<'a>, progress: &(dyn Fn(u64) + Sync)) -> Result<()> {
        self.write_batches(n, &|schema, types, rows| columns_batch(schema, types, rows, row), progress)
    }

    fn write_batches(&mut self, n: usize, make: &MakeBatch, progress: &(dyn Fn(u64) + Sync)) -> Result<()> {
        let chunk = self.chunk;
        let mut s = 0;
        // First complete the short batch left by the previous piece, so that batches start at
        // multiples of `chunk` within the row group whatever pieces the rows come in.
        if let Some(p) = self.partial.take() {
            let e = (chunk - p.num_rows()).min(n);
            let more = make(&self.schema, &self.types, 0..e)?;
            let b = arrow::compute::concat_batches(&self.schema, [&p, &more])?;
            s = e;
            if b.num_rows() < chunk {
                self.partial = Some(b);
                return Ok(());
            }
            self.encode(&[b], progress)?;
        }
        while n - s >= chunk {
            // Whole batches, at most to the end of the row group.
            let k = ((n - s) / chunk).min(BATCHES_PER_STEP).min((self.window - self.group_rows) / chunk).max(1);
            let (schema, types) = (&self.schema, &self.types);
            let batches: Vec<RecordBatch> =
                (0..k).into_par_iter().map(|j| make(schema, types, s + j * chunk..s + (j + 1) * chunk)).collect::<Result<_>>()?;
            self.encode(&batches, progress)?;
            s += k * chunk;
        }
        if s < n {
            self.partial = Some(make(&self.schema, &self.types, s..n)?);
        }
        Ok(())
    }

    /// Encodes batches into the open row group (opening one if needed); closes it when full.
    fn encode(&mut self, batches: &[RecordBatch], progress: &(dyn Fn(u64) + Sync)) -> Result<()> {
        if self.columns.is_none() {
            self.columns = Some(self.factory.create_column_writers(self.row_group).map_err(|e| self.named(e))?);
        }
        let schema = &self.schema;
        let encoded = match self.columns.as_mut() {
            Some(cols) => cols.par_iter_mut().enumerate().try_for_each(|(i, cw)| -> parquet::errors::Result<()> {
                for b in batches {
                    for leaf in compute_leaves(schema.field(i), b.column(i))? {
                        cw.write(&leaf)?;
                    }
                }
                Ok(())
            }),
            None => Ok(()),
        };
        encoded.map_err(|e| self.named(e))?;
        self.group_rows += batches.iter().map(|b| b.num_rows()).sum::<usize>();
        if self.group_rows >= self.window {
            self.close_row_group(progress)?;
        }
        Ok(())
    }

    /// Writes the open row group to the file.
    fn close_row_group(&mut self, progress: &(dyn Fn(u64) + Sync)) -> Result<()> {
        let Some(cols) = self.columns.take() else { return Ok(()) };
        let chunks: Vec<ArrowColumnChunk> =
            cols.into_par_iter().map(|cw| cw.close()).collect::<parquet::errors::Result<_>>().map_err(|e| self.named(e))?;
        self.file.send(chunks).map_err(|e| self.named(e))?;
        self.row_group += 1;
        progress(self.group_rows as u64);
        self.group_rows = 0;
        Ok(())
    }

    pub(crate) fn finish(mut self, progress: &(dyn Fn(u64) + Sync)) -> Result<()> {
        if let Some(p) = self.partial.take() {
            self.encode(&[p], progress)?;
        }
        self.close_row_group(progress)?;
        let shown = self.shown;
        let named = |e| anyhow::anyhow!("cannot write {}: {e}", shown.display());
        self.file.finish().and_then(|w| w.into_inner()).map_err(named)?.finish()
    }
}

type FileWriter = parquet::file::writer::SerializedFileWriter<OutFile>;

/// A Parquet file's writer on a thread of its own: the encoded row groups are appended to the
/// file (hashed, copied to the staging block, written to the disk) while the next one is
/// encoded, instead of both cores waiting on the disk at every row group's end. One row group
/// waits in the channel at most.
struct FileThread {
    tx: Option<std::sync::mpsc::SyncSender<Vec<ArrowColumnChunk>>>,
    thread: Option<std::thread::JoinHandle<parquet::errors::Result<FileWriter>>>,
}

impl FileThread {
    fn start(mut writer: FileWriter) -> std::io::Result<FileThread> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<ArrowColumnChunk>>(1);
        let thread = std::thread::Builder::new().name("parquet file".into()).spawn(move || {
            for chunks in rx {
                let mut rg = writer.next_row_group()?;
                for c in chunks {
                    c.append_to_row_group(&mut rg)?;
                }
                rg.close()?;
            }
            Ok(writer)
        })?;
        Ok(FileThread { tx: Some(tx), thread: Some(thread) })
    }

    /// Queues a row group's column chunks; a write error of an earlier one comes back here.
    fn send(&mut self, chunks: Vec<ArrowColumnChunk>) -> parquet::errors::Result<()> {
        match &self.tx {
            Some(tx) if tx.send(chunks).is_ok() => Ok(()),
            // The thread stopped on an error: its error (it stops on nothing else while the
            // channel is open).
            _ => match self.join() {
                Err(e) => Err(e),
                Ok(_) => Err(parquet::errors::ParquetError::General("the file's writer stopped before the end".into())),
            },
        }
    }

    /// Waits for the row groups queued to be written; gives back the writer.
    fn finish(mut self) -> parquet::errors::Result<FileWriter> {
        self.join()
    }

    fn join(&mut self) -> parquet::errors::Result<FileWriter> {
        self.tx = None;
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(written)) => written,
            Some(Err(_)) => Err(parquet::errors::ParquetError::General("the file's writer thread panicked".into())),
            None => Err(parquet::errors::ParquetError::General("the file's writer stopped earlier".into())),
        }
    }
}

impl Drop for FileThread {
    /// A sink dropped unfinished (an error elsewhere) still waits for its thread.
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Money;
    use arrow::array::{Array, StringArray};

    const COLS: [(&str, ColType); 6] = [
        ("id", ColType::Id),
        ("n", ColType::Int),
        ("amount", ColType::Money),
        ("maybe", ColType::OptMoney),
        ("at", ColType::DateTime),
        ("day", ColType::OptDate),
    ];

    /// Row `i` of the test table: every third row leaves its optional cells empty.
    fn row(i: usize, c: &mut ArrowCells) {
        c.put(Val::Text(["S1", "S22", "S333"][i % 3]));
        c.put(Val::Int(i as i64));
        c.put(Val::Money(Money::from_fen(i as i64 * 101)));
        c.put(if i.is_multiple_of(3) { Val::Null } else { Val::Money(Money::from_fen(-(i as i64))) });
        c.put(Val::DateTime(1_700_000_000 + i as i64));
        c.put(if i.is_multiple_of(3) { Val::Null } else { Val::Date(19_000 + i as i32) });
    }

    #[test]
    fn cells_become_typed_columns_with_nulls_only_where_allowed() -> Result<()> {
        let schema = arrow_schema(&COLS);
        let types: Vec<ColType> = COLS.iter().map(|c| c.1).collect();
        let b = columns_batch(&schema, &types, 0..7, &row)?;
        assert_eq!(b.num_rows(), 7);
        let ids = b.column(0).as_any().downcast_ref::<StringArray>().expect("text");
        assert_eq!((ids.value(0), ids.value(1), ids.value(5)), ("S1", "S22", "S333"));
        let n = b.column(1).as_any().downcast_ref::<Int64Array>().expect("int");
        assert_eq!(n.values().to_vec(), (0..7).collect::<Vec<i64>>());
        let amount = b.column(2).as_any().downcast_ref::<Decimal128Array>().expect("money");
        assert_eq!((amount.precision(), amount.scale(), amount.value(4), amount.null_count()), (18, 2, 404, 0));
        let maybe = b.column(3).as_any().downcast_ref::<Decimal128Array>().expect("money");
        assert_eq!((maybe.null_count(), maybe.is_null(3), maybe.value(4)), (3, true, -4));
        let at = b.column(4).as_any().downcast_ref::<TimestampMicrosecondArray>().expect("time");
        assert_eq!(at.value(2), 1_700_000_002 * 1_000_000);
        let day = b.column(5).as_any().downcast_ref::<Date32Array>().expect("date");
        assert_eq!((day.null_count(), day.is_null(6), day.value(5)), (3, true, 19_005));
        Ok(())
    }

    /// An empty cell in a column declared without nulls refuses the batch, as Arrow's builders
    /// did: a missing amount is never written as zero.
    #[test]
    fn a_null_where_none_is_allowed_refuses_the_batch() {
        let cols = [("amount", ColType::Money)];
        let schema = arrow_schema(&cols);
        let r =
            columns_batch(&schema, &[ColType::Money], 0..3, &|i, c| c.put(if i == 1 { Val::Null } else { Val::Money(Money::from_fen(5)) }));
        assert!(r.is_err());
    }
}
