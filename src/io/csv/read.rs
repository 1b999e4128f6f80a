//! Reading CSV text (CONTRACT.md §1–2) in parallel chunks.
//!
//! Every physical line is one row: a quoted field must close on its own line, so one stray
//! quote refuses one row and never swallows the lines after it (an RFC 4180 parser such as
//! the csv crate or arrow-csv would join them into one record). That makes the file
//! splittable at any line end: a reader thread cuts the file into chunks of whole lines
//! ([`CHUNK`] bytes), a window of chunks is split into fields in parallel, in place (quoted
//! fields are unescaped inside their own bytes), and the batches come out in file order.
//! Line numbers are counted per chunk and made absolute in order, so they equal a plain line
//! count. Only the format lives here; every rule is in [`crate::intake`].

use crate::intake::cell::{parse_fen, trim};
use crate::intake::columns::{Column, map_header};
use crate::intake::{Batch, Cell, Refusal, RejectCode};
use anyhow::{Context, Result, bail};
use memchr::{memchr, memrchr};
use rayon::prelude::*;
use std::borrow::Cow;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

/// The bytes of one chunk, cut at the last line end inside it (a longer line makes a longer
/// chunk): about 64k rows of a national-platform claims extract.
pub const CHUNK: usize = 8 << 20;

/// Rows of whole lines of a CSV file, split into fields.
pub struct CsvBatch {
    /// the chunk's bytes, split; a quoted field's text is unescaped in place
    data: Text,
    /// start and end in `data` of every field, rows one after another
    fields: Vec<(u32, u32)>,
    /// index in `fields` of each row's first field, and one past the last row's
    rows: Vec<u32>,
    /// the line of each row (header = 1)
    lines: Vec<u64>,
    /// rows refused while splitting (broken quotes), by row
    broken: Vec<(usize, String)>,
    map: Arc<Vec<Option<usize>>>,
    header: Arc<Vec<String>>,
}

/// A chunk's bytes: checked as UTF-8 once as a whole (the common case; a field then needs no
/// check of its own, since fields are cut at ASCII bytes), or bytes with some that are not.
enum Text {
    Utf8(String),
    Bytes(Vec<u8>),
}

impl Text {
    fn new(data: Vec<u8>) -> Text {
        String::from_utf8(data).map_or_else(|e| Text::Bytes(e.into_bytes()), Text::Utf8)
    }
    #[inline(always)]
    fn field(&self, f: (u32, u32)) -> Option<&str> {
        let r = f.0 as usize..f.1 as usize;
        match self {
            Text::Utf8(s) => s.get(r),
            Text::Bytes(b) => std::str::from_utf8(&b[r]).ok(),
        }
    }
}

impl CsvBatch {
    #[inline(always)]
    fn row_fields(&self, row: usize) -> &[(u32, u32)] {
        &self.fields[self.rows[row] as usize..self.rows[row + 1] as usize]
    }

    /// The text of a cell; `None` for an absent column, a missing field or bytes that are not
    /// UTF-8 (the row is refused by [`Batch::row_error`]), as [`Cell::Null`].
    #[inline(always)]
    fn str_at(&self, row: usize, col: usize) -> Option<&str> {
        self.map[col].and_then(|i| self.row_fields(row).get(i)).and_then(|&f| self.data.field(f))
    }
}

impl Batch for CsvBatch {
    fn len(&self) -> usize {
        self.lines.len()
    }
    #[inline(always)]
    fn cell(&self, row: usize, col: usize) -> Cell<'_> {
        self.str_at(row, col).map_or(Cell::Null, Cell::Text)
    }
    // The typed conversions of the claims' row loop, without building the `Cell` (each is the
    // `Cell::Text`/`Cell::Null` arm of the method of the same name).
    #[inline(always)]
    fn text(&self, row: usize, col: usize) -> Option<Cow<'_, str>> {
        self.str_at(row, col).map(trim).filter(|t| !t.is_empty()).map(Cow::Borrowed)
    }
    #[inline(always)]
    fn money_fen(&self, row: usize, col: usize) -> Result<Option<i128>, String> {
        match self.str_at(row, col).map(trim) {
            None | Some("") => Ok(None),
            Some(t) => parse_fen(t).map(Some),
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
        let fields = self.row_fields(row);
        if fields.len() != self.header.len() {
            return Some((
                RejectCode::WrongFieldCount,
                format!("the line has {} fields, the header has {}", fields.len(), self.header.len()),
            ));
        }
        if let Text::Bytes(_) = self.data
            && let Some(col) = fields.iter().position(|&f| self.data.field(f).is_none())
        {
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

/// Splits the line `data[s..e]` into fields, pushed onto `fields`. A field that opens with
/// `"` must close on the same line; `""` inside it is one quote, unescaped in place. On an
/// error, the fields split so far stay.
fn split_line(data: &mut [u8], s: usize, e: usize, fields: &mut Vec<(u32, u32)>) -> Result<(), String> {
    let first = fields.len();
    let mut i = s;
    loop {
        if i < e && data[i] == b'"' {
            let open = i;
            i += 1;
            let start = i;
            let mut w = i;
            loop {
                match memchr(b'"', &data[i..e]) {
                    None => {
                        return Err(format!(
                            "the quote opened at byte {} of field {} is not closed on this line",
                            open - s + 1,
                            fields.len() - first + 1
                        ));
                    }
                    Some(k) => {
                        data.copy_within(i..i + k, w);
                        w += k;
                        i += k + 1;
                        if i < e && data[i] == b'"' {
                            data[w] = b'"';
                            w += 1;
                            i += 1;
                        } else {
                            break;
                        }
                    }
                }
            }
            fields.push((start as u32, w as u32));
            // The bytes left behind by unescaping (before the closing quote) become spaces, so
            // they cannot hold half a character when the chunk is checked as UTF-8.
            data[w..i - 1].fill(b' ');
            if i == e {
                return Ok(());
            }
            if data[i] == b',' {
                i += 1;
            } else {
                return Err(format!("text follows the closing quote of field {}", fields.len() - first));
            }
        } else {
            let end = memchr(b',', &data[i..e]).map_or(e, |k| i + k);
            fields.push((i as u32, end as u32));
            if end == e {
                return Ok(());
            }
            i = end + 1;
        }
    }
}

/// One physical line without its `\n` or `\r\n`.
fn trim_eol(data: &[u8], s: usize, e: usize) -> usize {
    if e > s && data[e - 1] == b'\r' { e - 1 } else { e }
}

/// The commas, line ends and quotes of `block`, as bits (bit i for byte i): four 16-byte
/// compares per kind with SSE2, which every x86-64 has.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn structural_bits(block: &[u8; 64]) -> u64 {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8};
    let mut bits = 0u64;
    // SAFETY: SSE2 is part of the x86-64 baseline, so these instructions exist on every
    // machine the binary runs on; each load reads the 16 bytes from 16k, inside the 64 of
    // `block`, and needs no alignment.
    unsafe {
        let (comma, nl, quote) = (_mm_set1_epi8(b',' as i8), _mm_set1_epi8(b'\n' as i8), _mm_set1_epi8(b'"' as i8));
        for k in 0..4 {
            let v = _mm_loadu_si128(block.as_ptr().add(16 * k).cast());
            let m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, comma), _mm_cmpeq_epi8(v, nl)), _mm_cmpeq_epi8(v, quote));
            bits |= u64::from(_mm_movemask_epi8(m) as u16) << (16 * k);
        }
    }
    bits
}

/// The commas, line ends and quotes of `block`, as bits (bit i for byte i).
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn structural_bits(block: &[u8; 64]) -> u64 {
    block.iter().enumerate().fold(0u64, |m, (i, &b)| m | (u64::from(matches!(b, b',' | b'\n' | b'"')) << i))
}

/// Splits a chunk of whole lines into a batch; its line numbers count from 1 (made absolute
/// by the caller), and the number of physical lines it held is returned with it.
///
/// The chunk is scanned 64 bytes at a time for its commas, line ends and quotes, so a line
/// without quotes (nearly every line of an extract) is cut where its commas are; a line with
/// a quote is split by [`split_line`], from its start, and the scan goes on after it.
fn split_chunk(mut data: Vec<u8>, map: &Arc<Vec<Option<usize>>>, header: &Arc<Vec<String>>) -> (CsvBatch, u64) {
    let guess = data.len() / 96 + 1;
    let mut fields: Vec<(u32, u32)> = Vec::with_capacity(guess * header.len());
    let mut rows = Vec::with_capacity(guess + 1);
    let mut lines = Vec::with_capacity(guess);
    let mut broken = Vec::new();
    let mut line = 0u64;
    // the current line's start, its first field's index, the current field's start, and the
    // end of the last line split by `split_line` (the bytes before it are done)
    let (mut s, mut row_start, mut f, mut done) = (0usize, 0usize, 0usize, 0usize);
    // The line that ends at `$p` (its `\n`, or the end of the chunk) ends its last field and
    // its row; an empty line has no commas, so no field was pushed for it.
    macro_rules! end_line {
        ($p:expr) => {
            line += 1;
            let e = trim_eol(&data, s, $p);
            if e > s {
                fields.push((f as u32, e as u32));
                rows.push(row_start as u32);
                lines.push(line);
            }
        };
    }
    let mut at = 0;
    while at < data.len() {
        // The bits are taken before any of the block's bytes is unescaped; a line with quotes
        // is done as a whole, so its bits are skipped.
        let mut bits = match data[at..].first_chunk::<64>() {
            Some(b) => structural_bits(b),
            None => {
                let mut block = [0u8; 64];
                block[..data.len() - at].copy_from_slice(&data[at..]);
                structural_bits(&block)
            }
        };
        while bits != 0 {
            let p = at + bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if p < done {
                continue;
            }
            match data[p] {
                b',' => {
                    fields.push((f as u32, p as u32));
                    f = p + 1;
                }
                b'\n' => {
                    end_line!(p);
                    (s, row_start, f) = (p + 1, fields.len(), p + 1);
                }
                _ => {
                    // A quote: the whole line is split by `split_line` (which unescapes in place,
                    // inside the line only).
                    let end = memchr(b'\n', &data[p..]).map_or(data.len(), |k| p + k);
                    line += 1;
                    fields.truncate(row_start);
                    rows.push(row_start as u32);
                    let e = trim_eol(&data, s, end);
                    if let Err(msg) = split_line(&mut data, s, e, &mut fields) {
                        broken.push((lines.len(), msg));
                    }
                    lines.push(line);
                    done = end + 1;
                    (s, row_start, f) = (done, fields.len(), done);
                }
            }
        }
        at += 64;
    }
    // The last line, without a line end.
    if s < data.len() {
        end_line!(data.len());
    }
    rows.push(fields.len() as u32);
    (CsvBatch { data: Text::new(data), fields, rows, lines, broken, map: map.clone(), header: header.clone() }, line)
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

/// A file cut into chunks of whole lines.
struct LineChunks {
    file: File,
    carry: Vec<u8>,
    eof: bool,
}

impl LineChunks {
    /// The next chunk: whole lines, the last one without its line end only at the end of the
    /// file; `None` after it.
    fn next_chunk(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let mut buf = std::mem::take(&mut self.carry);
        while !self.eof {
            let at = buf.len();
            buf.reserve(CHUNK);
            buf.resize(at + CHUNK, 0);
            let mut got = 0;
            while at + got < buf.len() {
                match self.file.read(&mut buf[at + got..]) {
                    Ok(0) => {
                        self.eof = true;
                        break;
                    }
                    Ok(k) => got += k,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            buf.truncate(at + got);
            if let Some(k) = memrchr(b'\n', &buf[at..]) {
                self.carry = buf[at + k + 1..].to_vec();
                buf.truncate(at + k + 1);
                return Ok(Some(buf));
            }
        }
        Ok((!buf.is_empty()).then_some(buf))
    }
}

/// The column names of a CSV file's header row.
pub fn csv_header(path: &Path) -> Result<Vec<String>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut chunks = LineChunks { file, carry: Vec::new(), eof: false };
    let first = chunks.next_chunk().with_context(|| format!("cannot read {}", path.display()))?.unwrap_or_default();
    Ok(header_of(path, &first)?.0)
}

/// The header row at the start of a file's first chunk (after a UTF-8 byte-order mark), and
/// where the data after it starts.
fn header_of(path: &Path, first: &[u8]) -> Result<(Vec<String>, usize)> {
    let p = path.display();
    sniff_csv(path, &first[..first.len().min(64)])?;
    let end = memchr(b'\n', first).map_or(first.len(), |k| k + 1);
    let mut head = first[..end].to_vec();
    let bom = if head.starts_with(b"\xef\xbb\xbf") { 3 } else { 0 };
    let he = trim_eol(&head, bom, memchr(b'\n', &head).unwrap_or(head.len()));
    let mut hf = Vec::new();
    split_line(&mut head, bom, he, &mut hf).map_err(|e| anyhow::anyhow!("{p}: the header row (line 1): {e}"))?;
    let header =
        hf.iter().map(|&(a, b)| std::str::from_utf8(&head[a as usize..b as usize]).map(str::to_string)).collect::<Result<_, _>>().map_err(
            |_| anyhow::anyhow!("{p}: the header row is not UTF-8 (GBK?); re-encode the file as UTF-8, e.g. iconv -f GB18030 -t UTF-8"),
        )?;
    Ok((header, end))
}

/// Reads a CSV file whose header names `cols`, calling `f` with each window of batches in
/// file order (a window is split in parallel while the reader thread reads the next chunks).
/// Every physical line after the header is a row (empty lines are skipped but counted), so
/// the rows read always equal a plain line count.
pub fn read_csv_windows(path: &Path, cols: &[Column], mut f: impl FnMut(Vec<CsvBatch>) -> Result<()>) -> Result<()> {
    let p = path.display();
    let file = File::open(path).with_context(|| format!("cannot open {p}"))?;
    let mut chunks = LineChunks { file, carry: Vec::new(), eof: false };
    let first = chunks.next_chunk().with_context(|| format!("cannot read {p}"))?.unwrap_or_default();
    let (header, end) = header_of(path, &first)?;
    let rest = first[end..].to_vec();
    let map = Arc::new(map_header(&p.to_string(), &header, cols)?);
    let header = Arc::new(header);
    let window = rayon::current_num_threads().max(2);
    let mut line_no = 1u64;
    std::thread::scope(|s| -> Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<std::io::Result<Vec<u8>>>(window);
        s.spawn(move || {
            if !rest.is_empty() && tx.send(Ok(rest)).is_err() {
                return;
            }
            loop {
                match chunks.next_chunk() {
                    // A closed channel means the caller stopped; nothing more to do.
                    Ok(Some(c)) => {
                        if tx.send(Ok(c)).is_err() {
                            return;
                        }
                    }
                    Ok(None) => return,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
        });
        let mut rx = rx.into_iter().peekable();
        while rx.peek().is_some() {
            let raw: Vec<Vec<u8>> = rx
                .by_ref()
                .take(window)
                .collect::<std::io::Result<_>>()
                .with_context(|| format!("cannot read {p} after line {line_no}"))?;
            if raw.iter().any(|c| c.len() > u32::MAX as usize) {
                bail!("{p}: a line after line {line_no} is longer than 4 GiB; not a CSV extract");
            }
            let split: Vec<(CsvBatch, u64)> = raw.into_par_iter().map(|c| split_chunk(c, &map, &header)).collect();
            let mut batches = Vec::with_capacity(split.len());
            for (mut b, n) in split {
                for l in &mut b.lines {
                    *l += line_no;
                }
                line_no += n;
                if !b.lines.is_empty() {
                    batches.push(b);
                }
            }
            f(batches)?;
        }
        Ok(())
    })
}

/// [`read_csv_windows`], one batch at a time.
pub fn read_csv(path: &Path, cols: &[Column], mut f: impl FnMut(CsvBatch) -> Result<()>) -> Result<()> {
    read_csv_windows(path, cols, |bs| bs.into_iter().try_for_each(&mut f))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> Result<Vec<String>, String> {
        let mut data = s.as_bytes().to_vec();
        let mut fields = Vec::new();
        split_line(&mut data, 0, s.len(), &mut fields)?;
        Ok(fields.iter().map(|&(a, b)| String::from_utf8_lossy(&data[a as usize..b as usize]).into_owned()).collect())
    }

    #[test]
    fn lines_split_like_csv_but_never_span_lines() -> anyhow::Result<()> {
        assert_eq!(split("a,b,,c,").map_err(anyhow::Error::msg)?, ["a", "b", "", "c", ""]);
        assert_eq!(split(r#""x, y","say ""hi""",z"#).map_err(anyhow::Error::msg)?, ["x, y", r#"say "hi""#, "z"]);
        assert_eq!(split(r#""""",a"#).map_err(anyhow::Error::msg)?, [r#"""#, "a"]);
        assert_eq!(split(r#"ab"c,d"#).map_err(anyhow::Error::msg)?, [r#"ab"c"#, "d"]);
        assert_eq!(split("").map_err(anyhow::Error::msg)?, [""]);
        assert!(split(r#"a,"open,b"#).unwrap_err().contains("byte 3 of field 2 is not closed"));
        assert!(split(r#""a"b,c"#).unwrap_err().contains("follows the closing quote of field 1"));
        Ok(())
    }

    /// A split chunk's fields, rows, lines, refusals, bytes and line count.
    type Split = (Vec<(u32, u32)>, Vec<u32>, Vec<u64>, Vec<(usize, String)>, Vec<u8>, u64);

    /// The plain reading of a chunk: every line split by `split_line`.
    fn split_chunk_by_lines(mut data: Vec<u8>) -> Split {
        let (mut fields, mut rows, mut lines, mut broken) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut line, mut s) = (0u64, 0);
        while s < data.len() {
            let end = memchr(b'\n', &data[s..]).map_or(data.len(), |k| s + k);
            line += 1;
            let e = trim_eol(&data, s, end);
            if e > s {
                rows.push(fields.len() as u32);
                if let Err(msg) = split_line(&mut data, s, e, &mut fields) {
                    broken.push((lines.len(), msg));
                }
                lines.push(line);
            }
            s = end + 1;
        }
        rows.push(fields.len() as u32);
        (fields, rows, lines, broken, data, line)
    }

    proptest::proptest! {
        /// The block scan splits any chunk exactly as splitting it line by line does: the same
        /// fields, rows, line numbers, refusals and unescaped bytes.
        #[test]
        fn the_block_scan_splits_as_lines_do(t in proptest::collection::vec(proptest::sample::select(
            vec![b'a', b'7', b',', b',', b'"', b'\n', b'\r', b' ', 0xe4, 0xb8, 0xad]), 0..300)) {
            let map = Arc::new(vec![Some(0), Some(1)]);
            let header = Arc::new(vec!["a".to_string(), "b".to_string()]);
            let (b, n) = split_chunk(t.clone(), &map, &header);
            let (fields, rows, lines, broken, data, line) = split_chunk_by_lines(t);
            let bytes = match &b.data { Text::Utf8(s) => s.as_bytes().to_vec(), Text::Bytes(v) => v.clone() };
            proptest::prop_assert_eq!((b.fields, b.rows, b.lines, b.broken, bytes, n), (fields, rows, lines, broken, data, line));
        }
    }

    #[test]
    fn typed_shortcuts_equal_the_cells_conversions() {
        let map = Arc::new(vec![Some(0), Some(1), None, Some(5)]);
        let header = Arc::new(vec!["a".to_string(), "b".to_string()]);
        let text = " 12.5 ,\"7.10\"\n,\n-0.3,x\n1e5, 3 \n12345678901234567890.1,+.5\n7.101,\" \"\n";
        let (b, _) = split_chunk(text.as_bytes().to_vec(), &map, &header);
        for row in 0..b.len() {
            // columns 0 and 1 are fields, 2 is absent, 3 is beyond the row's fields
            for col in 0..4 {
                assert_eq!(b.text(row, col), b.cell(row, col).text(), "row {row} col {col}");
                assert_eq!(b.money_fen(row, col), b.cell(row, col).money_fen(), "row {row} col {col}");
            }
        }
        assert_eq!(b.money_fen(0, 1), Ok(Some(710)));
    }

    #[test]
    fn chunks_count_every_line() {
        let map = Arc::new(vec![Some(0), Some(1)]);
        let header = Arc::new(vec!["a".to_string(), "b".to_string()]);
        let (b, n) = split_chunk("1,2\r\n\n\"中\"\"文\",4\n5,\"open\n7,8".as_bytes().to_vec(), &map, &header);
        // lines 1, 3, 4, 5 are rows; line 2 is empty; the last has no line end
        assert_eq!(n, 5);
        assert_eq!(b.lines, [1, 3, 4, 5]);
        assert!(matches!(b.cell(1, 0), Cell::Text("中\"文")));
        assert!(matches!(b.cell(3, 1), Cell::Text("8")));
        assert_eq!(b.row_error(2).map(|e| e.0), Some(RejectCode::BrokenQuote));
        assert!(b.row_error(0).is_none());
        assert!(matches!(b.data, Text::Utf8(_)));
        // GB18030 bytes in one row: that row is refused naming the column, the others read.
        let (b, _) = split_chunk(b"1,\xd6\xd0\n3,4\n".to_vec(), &map, &header);
        assert!(matches!(b.data, Text::Bytes(_)));
        assert!(matches!(b.row_error(0), Some((RejectCode::BadEncoding, m)) if m.starts_with("column b:")));
        assert!(matches!(b.cell(0, 1), Cell::Null));
        assert!(b.row_error(1).is_none());
        assert!(matches!(b.cell(1, 1), Cell::Text("4")));
    }

    #[test]
    fn a_file_reads_in_order_across_chunks() -> anyhow::Result<()> {
        let dir = std::env::temp_dir().join(format!("medsettle-csv-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("t.csv");
        // more than two chunks of lines, a BOM, CRLF line ends, one empty line
        let mut text = String::from("\u{feff}psn_no,x\r\n");
        let n = 2 * CHUNK / 20 + 1000;
        for i in 0..n {
            text.push_str(&format!("p{i:012},\"{i}\"\r\n"));
            if i == 7 {
                text.push('\n');
            }
        }
        std::fs::write(&path, text)?;
        use crate::intake::columns::Kind;
        let cols = [Column { name: "psn_no", kind: Kind::Id, required: true }, Column { name: "x", kind: Kind::Int, required: true }];
        let mut seen = 0usize;
        read_csv(&path, &cols, |b| {
            for r in 0..b.len() {
                let want = format!("{seen}");
                assert!(matches!(b.cell(r, 1), Cell::Text(t) if t == want));
                // header = 1, data from 2, one empty line after the 8th row
                assert_eq!(b.line(r), seen as u64 + 2 + u64::from(seen > 7));
                seen += 1;
            }
            Ok(())
        })?;
        assert_eq!(seen, n);
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
