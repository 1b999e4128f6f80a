//! Writers: every output is written under a temporary name in the output folder and renamed
//! into place only when the whole run has succeeded, so a crash or kill leaves the previous
//! outputs intact (no half-written file).

use crate::model::money::push_u64;
use crate::model::{Money, time};
use anyhow::{Context, Result};
use arrow::array::{ArrayRef, Date32Builder, Decimal128Builder, Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use rayon::prelude::*;
use sha2::{Digest as _, Sha256};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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

/// The size and SHA-256 of a written file, recorded when its writer is dropped.
type Digest = Arc<Mutex<Option<(u64, String)>>>;

/// An output file that hashes what is written through it, so the manifest does not have to
/// read the file back.
pub struct HashedFile {
    file: File,
    path: PathBuf,
    hasher: Sha256,
    bytes: u64,
    digest: Digest,
    direct: Option<Direct>,
}

/// Direct IO (`O_DIRECT`) for the large tables: whole aligned blocks go from a staging buffer
/// to the disk without the page cache. Writing gigabytes through the page cache costs the
/// kernel a fresh zeroed page per 4 KiB, which on a VM is slower than the disk itself
/// (≈ 0.45 GB/s buffered against ≈ 1.3 GB/s direct here) and takes a core from the formatters.
/// The unaligned tail goes through the ordinary handle on each flush.
struct Direct {
    file: File,
    /// `DIRECT_BUF` staging bytes from `start`, which is `DIRECT_ALIGN`-aligned in memory
    buf: Vec<u8>,
    start: usize,
    /// bytes staged
    len: usize,
    /// file offset of the first staged byte (a multiple of `DIRECT_BUF`)
    pos: u64,
}

const DIRECT_ALIGN: usize = 4096;
const DIRECT_BUF: usize = 8 << 20;

/// `O_DIRECT` on the platforms where its value is known.
fn direct_flag() -> Option<i32> {
    if cfg!(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "x86"))) {
        Some(0o40000)
    } else if cfg!(all(target_os = "linux", any(target_arch = "aarch64", target_arch = "arm"))) {
        Some(0o200000)
    } else {
        None
    }
}

impl Direct {
    fn open(path: &Path) -> Option<Direct> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            let file = std::fs::OpenOptions::new().write(true).custom_flags(direct_flag()?).open(path).ok()?;
            let buf = vec![0u8; DIRECT_BUF + DIRECT_ALIGN];
            let start = buf.as_ptr().align_offset(DIRECT_ALIGN);
            Some(Direct { file, buf, start, len: 0, pos: 0 })
        }
        #[cfg(not(unix))]
        {
            let _ = (path, direct_flag());
            None
        }
    }
    fn staged(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }
}

#[cfg(unix)]
fn write_at(f: &File, buf: &[u8], pos: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(f, buf, pos)
}

#[cfg(not(unix))]
fn write_at(_: &File, _: &[u8], _: u64) -> std::io::Result<()> {
    unreachable!("direct IO is only used on unix")
}

impl Write for HashedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = if self.direct.is_some() {
            self.put(buf)?;
            buf.len()
        } else {
            self.file.write(buf)?
        };
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if let Some(d) = &self.direct
            && d.len > 0
        {
            // The partial block through the page cache; it stays staged and goes out again
            // (direct) once the block is full.
            write_at(&self.file, d.staged(), d.pos)?;
        }
        self.file.flush()
    }
}

impl HashedFile {
    /// Switches to direct IO (when the platform and file system allow it) for a large file;
    /// call before anything is written.
    fn go_direct(&mut self) {
        if self.bytes == 0 && self.direct.is_none() {
            self.direct = Direct::open(&self.path);
        }
    }
    /// Writes `data` at the end (direct mode).
    fn put(&mut self, mut data: &[u8]) -> std::io::Result<()> {
        while !data.is_empty() {
            let Some(d) = &mut self.direct else {
                return self.file.write_all(data);
            };
            let n = (DIRECT_BUF - d.len).min(data.len());
            d.buf[d.start + d.len..d.start + d.len + n].copy_from_slice(&data[..n]);
            d.len += n;
            data = &data[n..];
            if d.len == DIRECT_BUF {
                if write_at(&d.file, d.staged(), d.pos).is_err() {
                    // The file system refused direct IO after all: the same bytes through
                    // the ordinary handle, which carries on from there.
                    write_at(&self.file, d.staged(), d.pos)?;
                    use std::io::Seek as _;
                    self.file.seek(std::io::SeekFrom::Start(d.pos + d.len as u64))?;
                    self.direct = None;
                    continue;
                }
                d.pos += d.len as u64;
                d.len = 0;
            }
        }
        Ok(())
    }
    /// Writes bytes that the caller hashes itself, in the same order, on another thread
    /// (see [`HashedFile::take_hasher`]).
    fn write_all_unhashed(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.put(buf)?;
        self.bytes += buf.len() as u64;
        Ok(())
    }
    fn take_hasher(&mut self) -> Sha256 {
        std::mem::take(&mut self.hasher)
    }
    fn put_hasher(&mut self, h: Sha256) {
        self.hasher = h;
    }
}

impl Drop for HashedFile {
    fn drop(&mut self) {
        // As a BufWriter's drop: a last flush whose error cannot be reported.
        if let Some(d) = &self.direct
            && d.len > 0
        {
            let _ = write_at(&self.file, d.staged(), d.pos);
        }
        let hex = self.hasher.finalize_reset().iter().map(|b| format!("{b:02x}")).collect();
        if let Ok(mut d) = self.digest.lock() {
            *d = Some((self.bytes, hex));
        }
    }
}

/// An output folder whose files appear only on [`OutputDir::commit`].
pub struct OutputDir {
    dir: PathBuf,
    staged: Vec<(PathBuf, PathBuf, Digest)>,
    committed: bool,
}

impl OutputDir {
    pub fn new(dir: &Path) -> Result<OutputDir> {
        super::source::tune_allocator();
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create output folder {}", dir.display()))?;
        Ok(OutputDir { dir: dir.to_path_buf(), staged: Vec::new(), committed: false })
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// A new file `name` (written to a temporary name until commit).
    pub fn create(&mut self, name: &str) -> Result<BufWriter<HashedFile>> {
        let tmp = self.dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let file = File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
        let digest = Digest::default();
        self.staged.push((tmp.clone(), self.dir.join(name), digest.clone()));
        Ok(BufWriter::with_capacity(1 << 20, HashedFile { file, path: tmp, hasher: Sha256::new(), bytes: 0, digest, direct: None }))
    }
    /// Staged files so far: (final name, temporary path).
    pub fn staged(&self) -> impl Iterator<Item = (&Path, &Path)> {
        self.staged.iter().map(|(t, f, _)| (f.as_path(), t.as_path()))
    }
    /// Size and SHA-256 of a staged file whose writer has been dropped (final name).
    pub fn digest(&self, name: &Path) -> Option<(u64, String)> {
        let (_, _, d) = self.staged.iter().find(|(_, f, _)| f == name)?;
        d.lock().ok()?.clone()
    }
    /// Renames every staged file into place.
    pub fn commit(mut self) -> Result<()> {
        for (tmp, fin, _) in &self.staged {
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
            for (tmp, _, _) in &self.staged {
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
    /// `YYYY-MM-DD` in CSV, Date32 in Parquet.
    Date,
    /// Money that may be empty ([`Val::Null`]): an empty CSV cell, a Parquet null.
    OptMoney,
    /// A date that may be empty ([`Val::Null`]).
    OptDate,
}

/// One output cell.
#[derive(Clone, Copy, Debug)]
pub enum Val<'a> {
    Text(&'a str),
    Int(i64),
    Money(Money),
    DateTime(i64),
    /// days since 1970-01-01
    Date(i32),
    /// an empty cell (only in `Opt*` columns)
    Null,
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

fn push_i64(v: i64, out: &mut Vec<u8>) {
    if v < 0 {
        out.push(b'-');
    }
    push_u64(v.unsigned_abs(), out);
}

fn csv_row(vals: &[Val], out: &mut Vec<u8>) {
    for (i, v) in vals.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match *v {
            Val::Text(s) => csv_text(s, out),
            Val::Int(n) => push_i64(n, out),
            Val::Money(m) => m.write_to(out),
            Val::DateTime(ts) => time::write_datetime(ts, out),
            Val::Date(d) => out.extend_from_slice(time::format_date(d).as_bytes()),
            Val::Null => {}
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
                    ColType::Money | ColType::OptMoney => DataType::Decimal128(18, 2),
                    ColType::DateTime => DataType::Timestamp(TimeUnit::Microsecond, None),
                    ColType::Date | ColType::OptDate => DataType::Date32,
                };
                Field::new(*n, dt, matches!(t, ColType::OptMoney | ColType::OptDate))
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
        Day(Date32Builder),
    }
    let n = rows.len();
    let mut builders: Vec<B> = cols
        .iter()
        .map(|(_, t)| match t {
            ColType::Text => B::T(StringBuilder::with_capacity(n, n * 16)),
            ColType::Int => B::I(Int64Builder::with_capacity(n)),
            ColType::Money | ColType::OptMoney => B::M(Decimal128Builder::with_capacity(n)),
            ColType::DateTime => B::D(TimestampMicrosecondBuilder::with_capacity(n)),
            ColType::Date | ColType::OptDate => B::Day(Date32Builder::with_capacity(n)),
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
                (B::Day(b), Val::Date(d)) => b.append_value(*d),
                (B::M(b), Val::Null) => b.append_null(),
                (B::Day(b), Val::Null) => b.append_null(),
                (B::T(b), other) => b.append_value(format!("{other:?}")),
                (B::I(b), _) => b.append_value(0),
                (B::M(b), _) => b.append_value(0),
                (B::D(b), _) => b.append_value(0),
                (B::Day(b), _) => b.append_value(0),
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
                B::Day(mut b) => Arc::new(b.finish()),
            })
        })
        .collect::<Result<_>>()?;
    Ok(RecordBatch::try_new(schema.clone(), arrays)?)
}

/// A table of `n` rows, `row(i)` giving the cells of row i, as Arrow record batches with the
/// column types of the Parquet output (built in parallel, in row order).
pub fn arrow_table<'a>(cols: &[(&str, ColType)], n: usize, row: &RowFn<'a>) -> Result<(Arc<Schema>, Vec<RecordBatch>)> {
    const CHUNK: usize = 1 << 16;
    let schema = arrow_schema(cols);
    let batches: Vec<RecordBatch> = (0..n)
        .step_by(CHUNK)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|s| arrow_batch(&schema, cols, s..(s + CHUNK).min(n), row))
        .collect::<Result<_>>()?;
    Ok((schema, batches))
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
    w.get_mut().go_direct();
    const WINDOW: usize = 1 << 20;
    const CHUNK: usize = 1 << 15;
    // CSV: smaller windows keep the buffers in flight small (the Parquet row groups stay at
    // WINDOW rows).
    const CSV_WINDOW: usize = 1 << 18;
    const CSV_CHUNK: usize = 1 << 14;
    match format {
        Format::Csv => {
            let header: Vec<&str> = cols.iter().map(|(c, _)| *c).collect();
            w.write_all(header.join(",").as_bytes())?;
            w.write_all(b"\n")?;
            // Rows are formatted in parallel a window at a time while a writer thread writes
            // the previous window and a hasher thread hashes the one before; the buffers go
            // round (format → write → hash → format), so the first windows' memory is reused.
            w.flush()?;
            let mut hasher = w.get_mut().take_hasher();
            let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<(Vec<Vec<u8>>, usize)>(1);
            let (hash_tx, hash_rx) = std::sync::mpsc::sync_channel::<Vec<Vec<u8>>>(1);
            let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Vec<Vec<u8>>>();
            std::thread::scope(|s| -> Result<()> {
                let writer = s.spawn(move || -> std::io::Result<BufWriter<HashedFile>> {
                    for (bufs, rows) in full_rx {
                        for b in &bufs {
                            w.get_mut().write_all_unhashed(b)?;
                        }
                        progress(rows as u64);
                        if hash_tx.send(bufs).is_err() {
                            break;
                        }
                    }
                    Ok(w)
                });
                let hashing = s.spawn(move || {
                    for bufs in hash_rx {
                        for b in &bufs {
                            hasher.update(b);
                        }
                        // The formatter may have stopped already; then the buffers are dropped.
                        let _ = empty_tx.send(bufs);
                    }
                    hasher
                });
                for start in (0..n).step_by(CSV_WINDOW) {
                    let end = (start + CSV_WINDOW).min(n);
                    let starts: Vec<usize> = (start..end).step_by(CSV_CHUNK).collect();
                    let mut bufs = empty_rx.try_recv().unwrap_or_default();
                    bufs.resize_with(starts.len(), Vec::new);
                    bufs.par_iter_mut().zip(starts).for_each(|(buf, s)| {
                        buf.clear();
                        let mut vals = Vec::with_capacity(cols.len());
                        for i in s..(s + CSV_CHUNK).min(end) {
                            vals.clear();
                            row(i, &mut vals);
                            csv_row(&vals, buf);
                        }
                    });
                    if full_tx.send((bufs, end - start)).is_err() {
                        // The writer stopped on an error; joining it below gives the message.
                        break;
                    }
                }
                drop(full_tx);
                let joined = writer.join().map_err(|_| anyhow::anyhow!("the writer thread of {file} failed"))?;
                let mut w = joined.with_context(|| format!("cannot write {file}"))?;
                let hasher = hashing.join().map_err(|_| anyhow::anyhow!("the hashing thread of {file} failed"))?;
                w.get_mut().put_hasher(hasher);
                w.flush()?;
                // Dropping the writer records the file's digest.
                drop(w);
                Ok(())
            })
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
            writer.finish()?;
            // The tail of a direct-IO file is written on flush.
            writer.inner_mut().flush()?;
            Ok(())
        }
    }
}
