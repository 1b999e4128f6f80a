//! Parquet input files as record batches (handed to intake as Arrow), the inputs' format and
//! expected size. CSV text is in [`super::csv_read`]. Only the format lives here; every rule
//! is in [`crate::intake`].

use crate::intake::columns::{Column, map_header};
use anyhow::{Context, Result, bail};
use arrow::array::RecordBatch;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

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

/// The input's format, from the file name.
pub fn is_parquet(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("parquet") || e.eq_ignore_ascii_case("pq"))
}

/// Row groups of a Parquet file with their first record numbers and row counts; checks the
/// header (`cols`) once for the whole file.
pub fn parquet_row_groups(path: &Path, cols: &[Column]) -> Result<Vec<(usize, u64, u64)>> {
    guarded(path, || row_groups(path, cols))
}

/// Runs a Parquet decoding step, turning a panic of the decoder on a malformed file into an
/// error naming the file (the Parquet crate does not promise never to panic on bad bytes).
fn guarded<T>(path: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(anyhow::anyhow!("{}: not a readable Parquet file (the decoder failed on it)", path.display())))
}

fn row_groups(path: &Path, cols: &[Column]) -> Result<Vec<(usize, u64, u64)>> {
    let p = path.display();
    let file = File::open(path).with_context(|| format!("cannot open {p}"))?;
    if file.metadata().map(|m| m.len() == 0).unwrap_or(false) {
        bail!("{p} is empty; a Parquet input needs at least its schema");
    }
    let b = ParquetRecordBatchReaderBuilder::try_new(file).with_context(|| format!("{p}: not a readable Parquet file"))?;
    let header: Vec<String> = b.schema().fields().iter().map(|f| f.name().clone()).collect();
    map_header(&p.to_string(), &header, cols)?;
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

/// Reads one row group of a Parquet file (only the columns of `cols`), calling `f` with each
/// record batch and the record number of its first row.
pub fn read_parquet_group(
    path: &Path,
    cols: &[Column],
    group: usize,
    first_record: u64,
    f: impl FnMut(&RecordBatch, u64) -> Result<()>,
) -> Result<()> {
    guarded(path, || read_group(path, cols, group, first_record, f))
}

fn read_group(
    path: &Path,
    cols: &[Column],
    group: usize,
    first_record: u64,
    mut f: impl FnMut(&RecordBatch, u64) -> Result<()>,
) -> Result<()> {
    let p = path.display();
    let file = File::open(path).with_context(|| format!("cannot open {p}"))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).with_context(|| format!("{p}: not a readable Parquet file"))?;
    let header: Vec<String> = builder.schema().fields().iter().map(|f| f.name().clone()).collect();
    let wanted: Vec<usize> = map_header(&p.to_string(), &header, cols)?.into_iter().flatten().collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), wanted);
    let reader = builder.with_projection(mask).with_row_groups(vec![group]).with_batch_size(64 * 1024).build()?;
    let mut first = first_record;
    for batch in reader {
        let batch = batch.with_context(|| format!("{p}: cannot decode row group {group}"))?;
        f(&batch, first)?;
        first += batch.num_rows() as u64;
    }
    Ok(())
}

/// The rows the claims files hold, for progress bars: exact for Parquet (the metadata), an
/// estimate for CSV (the file size over the mean length of its first 256 KiB of lines).
/// `None` when a file cannot be looked at.
pub fn expected_rows(files: &[PathBuf]) -> Option<u64> {
    let mut total = 0u64;
    for f in files {
        let size = std::fs::metadata(f).ok()?.len();
        if is_parquet(f) {
            let groups = parquet_row_groups(f, crate::intake::CLAIMS).ok()?;
            total = total.saturating_add(groups.iter().fold(0u64, |a, g| a.saturating_add(g.2)));
        } else {
            let mut head = Vec::with_capacity(1 << 18);
            std::fs::File::open(f).ok()?.take(1 << 18).read_to_end(&mut head).ok()?;
            let lines = head.iter().filter(|&&b| b == b'\n').count() as u64;
            if lines > 1 {
                total = total.saturating_add(size * (lines - 1) / head.len() as u64);
            }
        }
    }
    Some(total)
}
