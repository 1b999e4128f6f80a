//! Writers: every output is written under a temporary name in the output folder and renamed
//! into place only when the whole run has succeeded, so a crash or kill leaves the previous
//! outputs intact (no half-written file).

use crate::model::{Money, time};
use anyhow::{Context, Result};
use arrow::array::{ArrayRef, Decimal128Builder, Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use rayon::prelude::*;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Output format of the tables (`--format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Parquet,
}

impl Format {
    pub fn ext(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        }
    }
}

/// An output folder whose files appear only on [`OutputDir::commit`].
pub struct OutputDir {
    dir: PathBuf,
    staged: Vec<(PathBuf, PathBuf)>,
    committed: bool,
}

impl OutputDir {
    pub fn new(dir: &Path) -> Result<OutputDir> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create output folder {}", dir.display()))?;
        Ok(OutputDir { dir: dir.to_path_buf(), staged: Vec::new(), committed: false })
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// A new file `name` (written to a temporary name until commit).
    pub fn create(&mut self, name: &str) -> Result<BufWriter<File>> {
        let tmp = self.dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let f = File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
        self.staged.push((tmp, self.dir.join(name)));
        Ok(BufWriter::with_capacity(1 << 20, f))
    }
    /// Staged files so far: (final name, temporary path).
    pub fn staged(&self) -> impl Iterator<Item = (&Path, &Path)> {
        self.staged.iter().map(|(t, f)| (f.as_path(), t.as_path()))
    }
    /// Renames every staged file into place.
    pub fn commit(mut self) -> Result<()> {
        for (tmp, fin) in &self.staged {
            if let Ok(f) = File::open(tmp) {
                let _ = f.sync_all();
            }
            std::fs::rename(tmp, fin).with_context(|| format!("cannot move {} into place", fin.display()))?;
        }
        self.committed = true;
        Ok(())
    }
}

impl Drop for OutputDir {
    fn drop(&mut self) {
        if !self.committed {
            for (tmp, _) in &self.staged {
                let _ = std::fs::remove_file(tmp);
            }
        }
    }
}

/// Column types of the output tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColType {
    Text,
    Int,
    Money,
    DateTime,
}

/// One output cell.
#[derive(Clone, Copy, Debug)]
pub enum Val<'a> {
    Text(&'a str),
    Int(i64),
    Money(Money),
    DateTime(i64),
}

fn csv_text(s: &str, out: &mut Vec<u8>) {
    if s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        out.push(b'"');
        for b in s.bytes() {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

fn csv_row(vals: &[Val], out: &mut Vec<u8>) {
    for (i, v) in vals.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match *v {
            Val::Text(s) => csv_text(s, out),
            Val::Int(n) => out.extend_from_slice(n.to_string().as_bytes()),
            Val::Money(m) => m.write_to(out),
            Val::DateTime(ts) => time::write_datetime(ts, out),
        }
    }
    out.push(b'\n');
}

fn arrow_schema(cols: &[(&str, ColType)]) -> Arc<Schema> {
    Arc::new(Schema::new(
        cols.iter()
            .map(|(n, t)| {
                let dt = match t {
                    ColType::Text => DataType::Utf8,
                    ColType::Int => DataType::Int64,
                    ColType::Money => DataType::Decimal128(18, 2),
                    ColType::DateTime => DataType::Timestamp(TimeUnit::Microsecond, None),
                };
                Field::new(*n, dt, false)
            })
            .collect::<Vec<_>>(),
    ))
}

type RowFn<'a> = dyn Fn(usize, &mut Vec<Val<'a>>) + Sync + 'a;

fn arrow_batch<'a>(schema: &Arc<Schema>, cols: &[(&str, ColType)], rows: std::ops::Range<usize>, row: &RowFn<'a>) -> Result<RecordBatch> {
    enum B {
        T(StringBuilder),
        I(Int64Builder),
        M(Decimal128Builder),
        D(TimestampMicrosecondBuilder),
    }
    let n = rows.len();
    let mut builders: Vec<B> = cols
        .iter()
        .map(|(_, t)| match t {
            ColType::Text => B::T(StringBuilder::with_capacity(n, n * 16)),
            ColType::Int => B::I(Int64Builder::with_capacity(n)),
            ColType::Money => B::M(Decimal128Builder::with_capacity(n)),
            ColType::DateTime => B::D(TimestampMicrosecondBuilder::with_capacity(n)),
        })
        .collect();
    let mut vals = Vec::with_capacity(cols.len());
    for i in rows {
        vals.clear();
        row(i, &mut vals);
        for (b, v) in builders.iter_mut().zip(&vals) {
            match (b, v) {
                (B::T(b), Val::Text(s)) => b.append_value(s),
                (B::I(b), Val::Int(x)) => b.append_value(*x),
                (B::M(b), Val::Money(m)) => b.append_value(m.fen() as i128),
                (B::D(b), Val::DateTime(ts)) => b.append_value(ts * 1_000_000),
                (B::T(b), other) => b.append_value(format!("{other:?}")),
                (B::I(b), _) => b.append_value(0),
                (B::M(b), _) => b.append_value(0),
                (B::D(b), _) => b.append_value(0),
            }
        }
    }
    let arrays: Vec<ArrayRef> = builders
        .into_iter()
        .map(|b| -> Result<ArrayRef> {
            Ok(match b {
                B::T(mut b) => Arc::new(b.finish()),
                B::I(mut b) => Arc::new(b.finish()),
                B::M(mut b) => Arc::new(b.finish().with_precision_and_scale(18, 2)?),
                B::D(mut b) => Arc::new(b.finish()),
            })
        })
        .collect::<Result<_>>()?;
    Ok(RecordBatch::try_new(schema.clone(), arrays)?)
}

/// Writes a table of `n` rows, `row(i)` giving the cells of row i, as CSV or Parquet
/// (money as Decimal128(18,2), datetimes as timestamps). Rows are formatted in parallel.
pub fn write_table<'a>(
    out: &mut OutputDir,
    name: &str,
    format: Format,
    cols: &[(&str, ColType)],
    n: usize,
    row: &RowFn<'a>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<()> {
    let file = format!("{name}.{}", format.ext());
    let mut w = out.create(&file)?;
    const WINDOW: usize = 1 << 20;
    const CHUNK: usize = 1 << 15;
    match format {
        Format::Csv => {
            let header: Vec<&str> = cols.iter().map(|(c, _)| *c).collect();
            w.write_all(header.join(",").as_bytes())?;
            w.write_all(b"\n")?;
            for start in (0..n).step_by(WINDOW) {
                let end = (start + WINDOW).min(n);
                let parts: Vec<Vec<u8>> = (start..end)
                    .step_by(CHUNK)
                    .collect::<Vec<_>>()
                    .into_par_iter()
                    .map(|s| {
                        let mut buf = Vec::with_capacity(CHUNK * 160);
                        let mut vals = Vec::with_capacity(cols.len());
                        for i in s..(s + CHUNK).min(end) {
                            vals.clear();
                            row(i, &mut vals);
                            csv_row(&vals, &mut buf);
                        }
                        buf
                    })
                    .collect();
                for p in parts {
                    w.write_all(&p)?;
                }
                progress((end - start) as u64);
            }
        }
        Format::Parquet => {
            let schema = arrow_schema(cols);
            let props = WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::try_new(1)?))
                .set_max_row_group_row_count(Some(WINDOW))
                .build();
            let mut writer = ArrowWriter::try_new(w, schema.clone(), Some(props))?;
            for start in (0..n).step_by(WINDOW) {
                let end = (start + WINDOW).min(n);
                let batches: Vec<Result<RecordBatch>> = (start..end)
                    .step_by(CHUNK)
                    .collect::<Vec<_>>()
                    .into_par_iter()
                    .map(|s| arrow_batch(&schema, cols, s..(s + CHUNK).min(end), row))
                    .collect();
                for b in batches {
                    writer.write(&b?)?;
                }
                progress((end - start) as u64);
            }
            if n == 0 {
                writer.write(&arrow_batch(&schema, cols, 0..0, row)?)?;
            }
            writer.close()?;
            return Ok(());
        }
    }
    w.flush()?;
    Ok(())
}
