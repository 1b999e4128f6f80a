//! Input files as batches of rows: CSV text lines ([`CsvBatch`]) and Parquet record batches
//! (handed to intake as Arrow). Only the format lives here; every rule is in
//! [`crate::intake`].

use crate::intake::columns::{Column, map_header};
use crate::intake::{Batch, Cell, Refusal, RejectCode};
use anyhow::{Context, Result, bail};
use arrow::array::RecordBatch;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::fs::File;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

/// Refuses what is plainly not a UTF-8 CSV file, saying what it is and what to do.
fn sniff_csv(path: &Path, head: &[u8]) -> Result<()> {
    let p = path.display();
    if head.is_empty() {
        bail!("{p} is empty; a CSV input needs at least its header row");
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        bail!("{p} is gzip-compressed; decompress it first (gunzip -k {p})");
    }
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        bail!("{p} is zstd-compressed; decompress it first (zstd -d {p})");
    }
    if head.starts_with(b"PK\x03\x04") {
        bail!("{p} is a zip archive (or an Excel workbook); export the sheet as CSV UTF-8");
    }
    if head.starts_with(b"PAR1") {
        bail!("{p} is a Parquet file; name it with the .parquet extension");
    }
    if head.starts_with(&[0xff, 0xfe]) || head.starts_with(&[0xfe, 0xff]) || head.iter().take(64).any(|&b| b == 0) {
        bail!("{p} is UTF-16 text (or has NUL bytes); re-encode it as UTF-8, e.g. iconv -f UTF-16 -t UTF-8");
    }
    Ok(())
}

/// Splits one physical CSV line into fields. A field that opens with `"` must close on the
/// same line: a record never spans lines, so one stray quote cannot swallow the lines after it.
fn split_line(line: &[u8], rec: &mut csv::ByteRecord, field: &mut Vec<u8>) -> Result<(), String> {
    rec.clear();
    let mut i = 0;
    loop {
        if line.get(i) == Some(&b'"') {
            let open = i;
            field.clear();
            i += 1;
            loop {
                match line[i..].iter().position(|&b| b == b'"') {
                    None => {
                        return Err(format!("the quote opened at byte {} of field {} is not closed on this line", open + 1, rec.len() + 1));
                    }
                    Some(k) => {
                        field.extend_from_slice(&line[i..i + k]);
                        i += k + 1;
                        if line.get(i) == Some(&b'"') {
                            field.push(b'"');
                            i += 1;
                        } else {
                            break;
                        }
                    }
                }
            }
            rec.push_field(field);
            match line.get(i) {
                None => return Ok(()),
                Some(b',') => i += 1,
                Some(_) => return Err(format!("text follows the closing quote of field {}", rec.len())),
            }
        } else {
            let end = line[i..].iter().position(|&b| b == b',').map_or(line.len(), |k| i + k);
            rec.push_field(&line[i..end]);
            if end == line.len() {
                return Ok(());
            }
            i = end + 1;
        }
    }
}

pub struct CsvBatch {
    records: Vec<csv::ByteRecord>,
    lines: Vec<u64>,
    /// rows refused while splitting (broken quotes), by row
    broken: Vec<(usize, String)>,
    map: Arc<Vec<Option<usize>>>,
    header: Arc<Vec<String>>,
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
    fn row_error(&self, row: usize) -> Option<Refusal> {
        if !self.broken.is_empty()
            && let Ok(k) = self.broken.binary_search_by_key(&row, |b| b.0)
        {
            return Some((RejectCode::BrokenQuote, self.broken[k].1.clone()));
        }
        let r = &self.records[row];
        if r.len() != self.header.len() {
            return Some((RejectCode::WrongFieldCount, format!("the line has {} fields, the header has {}", r.len(), self.header.len())));
        }
        if std::str::from_utf8(r.as_slice()).is_err() {
            let col = r.iter().position(|f| std::str::from_utf8(f).is_err()).unwrap_or(0);
            return Some((
                RejectCode::BadEncoding,
                format!(
                    "column {}: the bytes are not UTF-8 (GBK/GB18030, as spreadsheets save Chinese text, looks like this); re-encode the file as UTF-8, e.g. iconv -f GB18030 -t UTF-8",
                    self.header[col]
                ),
            ));
        }
        None
    }
}

/// Reads a CSV file in batches of `batch_rows` data lines, calling `f` for each. Every
/// physical line after the header is a row (empty lines are skipped), so the rows read always
/// equal a plain line count.
pub fn read_csv(path: &Path, cols: &[Column], batch_rows: usize, mut f: impl FnMut(CsvBatch) -> Result<()>) -> Result<()> {
    let p = path.display();
    let mut file = File::open(path).with_context(|| format!("cannot open {p}"))?;
    let mut head = [0u8; 64];
    let mut n = 0;
    while n < head.len() {
        match file.read(&mut head[n..]).with_context(|| format!("cannot read {p}"))? {
            0 => break,
            k => n += k,
        }
    }
    sniff_csv(path, &head[..n])?;
    let file = File::open(path).with_context(|| format!("cannot open {p}"))?;
    let mut rdr = std::io::BufReader::with_capacity(1 << 20, file);
    let mut buf = Vec::with_capacity(1024);
    rdr.read_until(b'\n', &mut buf).with_context(|| format!("cannot read {p}"))?;
    let line = buf.strip_prefix(b"\xef\xbb\xbf".as_slice()).unwrap_or(&buf);
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut rec = csv::ByteRecord::new();
    let mut field = Vec::new();
    split_line(line, &mut rec, &mut field).map_err(|e| anyhow::anyhow!("{p}: the header row (line 1): {e}"))?;
    let header: Vec<String> = rec.iter().map(|h| std::str::from_utf8(h).map(str::to_string)).collect::<Result<_, _>>().map_err(|_| {
        anyhow::anyhow!("{p}: the header row is not UTF-8 (GBK?); re-encode the file as UTF-8, e.g. iconv -f GB18030 -t UTF-8")
    })?;
    let map = Arc::new(map_header(&p.to_string(), &header, cols)?);
    let header = Arc::new(header);
    let mut line_no = 1u64;
    loop {
        let mut b = CsvBatch {
            records: Vec::with_capacity(batch_rows),
            lines: Vec::with_capacity(batch_rows),
            broken: Vec::new(),
            map: map.clone(),
            header: header.clone(),
        };
        let mut eof = false;
        while b.records.len() < batch_rows {
            buf.clear();
            if rdr.read_until(b'\n', &mut buf).with_context(|| format!("cannot read {p} after line {line_no}"))? == 0 {
                eof = true;
                break;
            }
            line_no += 1;
            let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                continue;
            }
            let mut rec = csv::ByteRecord::new();
            if let Err(e) = split_line(line, &mut rec, &mut field) {
                b.broken.push((b.records.len(), e));
            }
            b.records.push(rec);
            b.lines.push(line_no);
        }
        if !b.records.is_empty() {
            f(b)?;
        }
        if eof {
            return Ok(());
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> Result<Vec<String>, String> {
        let mut r = csv::ByteRecord::new();
        split_line(s.as_bytes(), &mut r, &mut Vec::new())?;
        Ok(r.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect())
    }

    #[test]
    fn lines_split_like_csv_but_never_span_lines() {
        assert_eq!(split("a,b,,c,").unwrap(), ["a", "b", "", "c", ""]);
        assert_eq!(split(r#""x, y","say ""hi""",z"#).unwrap(), ["x, y", r#"say "hi""#, "z"]);
        assert_eq!(split(r#"ab"c,d"#).unwrap(), [r#"ab"c"#, "d"]);
        assert_eq!(split("").unwrap(), [""]);
        assert!(split(r#"a,"open,b"#).unwrap_err().contains("not closed"));
        assert!(split(r#""a"b,c"#).unwrap_err().contains("follows the closing quote"));
    }
}
