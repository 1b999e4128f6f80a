//! What the readers share: an input's format (from its name), the rows a file is expected
//! to hold (for progress bars), and the allocator setting for large runs. The readers are in
//! [`super::csv`] and [`super::parquet`]; every rule is in [`crate::intake`].

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

/// The column names of an input file's header (CSV) or schema (Parquet), without reading
/// its rows.
pub fn header(path: &Path) -> anyhow::Result<Vec<String>> {
    if is_parquet(path) { super::parquet::read::parquet_header(path) } else { super::csv::read::csv_header(path) }
}

/// The input's format, from the file name.
pub fn is_parquet(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("parquet") || e.eq_ignore_ascii_case("pq"))
}

/// The rows the claims files hold, for progress bars: exact for Parquet (the metadata), an
/// estimate for CSV (the file size over the mean length of its first 256 KiB of lines).
/// `None` when a file cannot be looked at.
pub fn expected_rows(files: &[PathBuf]) -> Option<u64> {
    expected_rows_of(files, crate::intake::CLAIMS)
}

/// [`expected_rows`] of files with the columns `cols` ([`crate::intake::CLAIMS`] or
/// [`crate::intake::PERSONS`]).
pub fn expected_rows_of(files: &[PathBuf], cols: &[crate::intake::Column]) -> Option<u64> {
    let mut total = 0u64;
    for f in files {
        let size = std::fs::metadata(f).ok()?.len();
        if is_parquet(f) {
            let groups = super::parquet::read::parquet_row_groups(f, cols).ok()?;
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
