//! Spill files of a run larger than its memory limit (`settle --memory-limit`): a folder of
//! record files on local disk, removed when the run ends. A record is a value's fields written
//! by [`Put`] (a key record in postcard's own bytes), framed by its length; a file is a
//! sequence of frames, each its length (u32, little-endian) and then framed records as whoever
//! encoded them (in parallel) framed them, not compressed ([`RecordWriter::put_frame`] says
//! why). A file is read back a record at a time, or read whole and its frames
//! ([`frames_of`]) decoded in parallel.

use super::scratch::{ScratchFile, ScratchWriter, SequentialReader, WholeFile};
use crate::model::SpoolFile;
use anyhow::{Context, Result, bail};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Bytes staged per spill file between writes: a run writes up to 320 files at once.
const WRITE_BLOCK: usize = 1 << 20;

/// Bytes read per spill file at a time: the merge reads two files per partition side by side.
const READ_BLOCK: usize = 1 << 20;

/// The name of a run's spill folder, then its process id.
const RUN_PREFIX: &str = ".medsettle-spill-";

/// A folder of spill files, removed (with everything in it) when dropped.
pub struct SpillDir {
    path: PathBuf,
}

impl SpillDir {
    /// A new, empty folder `name` under `parent` (created if missing).
    pub fn new(parent: &Path, name: &str) -> Result<SpillDir> {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create the spill folder {}", parent.display()))?;
        let path = parent.join(name);
        if path.exists() {
            std::fs::remove_dir_all(&path).with_context(|| format!("cannot clear {}", path.display()))?;
        }
        std::fs::create_dir(&path).with_context(|| format!("cannot create the spill folder {}", path.display()))?;
        Ok(SpillDir { path })
    }
    /// This process's spill folder under `parent`, once the folders that runs now gone left
    /// there are removed. A killed run leaves its spill (gigabytes at a city's scale): in the
    /// output's staging folder it goes with the staging folder, but under `--spill-dir` only
    /// the next run can find it. A folder that cannot be removed is told to `left` (with
    /// why) and left for the next run.
    pub fn for_run(parent: &Path, left: &mut dyn FnMut(&Path, std::io::Error)) -> Result<SpillDir> {
        let me = std::process::id();
        if let Ok(entries) = std::fs::read_dir(parent) {
            for e in entries.flatten() {
                let name = e.file_name();
                let pid = name.to_str().and_then(|n| n.strip_prefix(RUN_PREFIX)).and_then(|p| p.parse::<u32>().ok());
                if pid.is_some_and(|p| p != me && !super::process_alive(p))
                    && let Err(why) = std::fs::remove_dir_all(e.path())
                {
                    left(&e.path(), why);
                }
            }
        }
        SpillDir::new(parent, &format!("{RUN_PREFIX}{me}"))
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// The path of spill file `name`.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
    /// Bytes on disk of every file in the folder.
    pub fn bytes(&self) -> u64 {
        std::fs::read_dir(&self.path).map(|d| d.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum()).unwrap_or(0)
    }
}

impl Drop for SpillDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Writes records to a spill file, with direct IO where the platform and file system allow
/// ([`ScratchFile::create_at`]): gigabytes written through the page cache cost the kernel a
/// fresh page per 4 KiB, slower on a VM than the disk itself (`copy_folio_from_iter_atomic`,
/// 12% of the 100M year's samples while it was read and spilled).
pub struct RecordWriter {
    w: ScratchWriter,
    path: PathBuf,
    written: Written,
}

/// What a [`RecordWriter`] wrote: each frame's records, in the file's order.
#[derive(Debug, Default)]
pub struct Written {
    /// the records of each frame: a reader that decodes frames in place, each into its own
    /// slots, needs them before it reads a frame, and would otherwise count them by walking
    /// every record's length (a pass over the whole file: 5.7% of the 100M year's partition
    /// samples, `perf record`, 2026-12-08)
    pub frames: Vec<u64>,
}

impl Written {
    /// The file's records.
    pub fn records(&self) -> u64 {
        self.frames.iter().sum()
    }
}

impl RecordWriter {
    pub fn create(path: &Path) -> Result<RecordWriter> {
        let w = ScratchFile::create_at(path, WRITE_BLOCK).with_context(|| format!("cannot create the spill file {}", path.display()))?;
        Ok(RecordWriter { w, path: path.to_path_buf(), written: Written::default() })
    }
    /// Appends `records` records framed by [`frame_with`], as they are.
    ///
    /// Not compressed: written and read with direct IO (1.6 GB/s here), the volume costs less
    /// than any compression. The spill was zstd frames at level -30 (the keys at -5) until
    /// 2026-12-07; the 100M year (33 partitions) took 133.41, 116.65 s so and 115.05, 111.10 s
    /// stored, alternated, its user CPU 231.3, 205.7 → 194.4, 186.4 s, for a larger spill
    /// (6,013 → 10,250 MiB). Earlier, through the page cache (whose every fresh page costs
    /// time on a VM): the 10.36M year in 5 partitions took 32.8 s at level 1 (420 MiB),
    /// 24.7–26.2 s at -5 (595 MiB), 22.8–24.4 s at -30 (981 MiB).
    pub fn put_frame(&mut self, frame: &[u8], records: u64) -> Result<()> {
        if frame.is_empty() {
            return Ok(());
        }
        // what the reader takes (MAX_FRAME), and its length's four bytes hold
        let len = u32::try_from(frame.len()).ok().filter(|&n| n as usize <= MAX_FRAME).context("a spill frame of more than 1 GiB")?;
        let named = || format!("cannot write the spill file {}", self.path.display());
        super::write::fault_budget(4 + frame.len()).with_context(named)?;
        self.w.write(&len.to_le_bytes()).with_context(named)?;
        self.w.write(frame).with_context(named)?;
        self.written.frames.push(records);
        Ok(())
    }
    /// Appends one record, postcard-encoded ([`frame`]; the tests' records).
    #[cfg(test)]
    pub fn put<T: serde::Serialize>(&mut self, value: &T) -> Result<()> {
        let mut buf = Vec::new();
        frame(&mut buf, value)?;
        self.put_frame(&buf, 1)
    }
    /// Ends the file; returns what it holds.
    pub fn finish(self) -> Result<Written> {
        let path = self.path;
        self.w.close().with_context(|| format!("cannot write the spill file {}", path.display()))?;
        Ok(self.written)
    }
}

/// Appends `value` to `buf` as one framed record (u32 length, little-endian, then postcard):
/// the tests' records, and the bytes the records written by hand are compared with.
#[cfg(test)]
pub fn frame<T: serde::Serialize>(buf: &mut Vec<u8>, value: &T) -> Result<()> {
    let at = buf.len();
    buf.extend_from_slice(&[0; 4]);
    *buf = postcard::to_extend(value, std::mem::take(buf))?;
    let n = u32::try_from(buf.len() - at - 4).context("a spill record of more than 4 GiB")?;
    buf[at..at + 4].copy_from_slice(&n.to_le_bytes());
    Ok(())
}

/// Appends one framed record (its length, u32 little-endian, then its bytes) whose fields `put`
/// writes by hand ([`Put`]), `bound` bytes at most: the spill's records, tens of millions a
/// run, where postcard's field-by-field serde calls were an eighth of a spilled run's CPU (its
/// read, the partitions' spill of their settlements, the merge's decoding). The record is
/// written into room made for its bound and cut to its length after: each byte a store at a
/// cursor held in a register, where a `Vec::push` reloaded and stored the vector's length at
/// every byte (a claim encoded in ~55 ns a push at a time, see README's Performance).
pub fn frame_with(buf: &mut Vec<u8>, bound: usize, put: impl FnOnce(&mut Put)) -> Result<()> {
    let start = buf.len();
    buf.resize(start + 4 + bound, 0);
    let mut w = Put { out: &mut buf[start + 4..], at: 0 };
    put(&mut w);
    let n = w.at;
    buf.truncate(start + 4 + n);
    let n = u32::try_from(n).context("a spill record of more than 4 GiB")?;
    buf[start..start + 4].copy_from_slice(&n.to_le_bytes());
    Ok(())
}

/// Writes a record's fields into the room [`frame_with`] made for it: integers as LEB128
/// varints or packed ([`Put::packed`]; signed ones [`zigzag`]ged first), texts as their
/// length and bytes. [`Get`] reads them back in the same order. A writer writes no more than
/// the bound it gave [`frame_with`] (its texts' lengths, [`MAX_VARINT`] a varint,
/// [`packed_bound`] for packed ones): more is a bug, and panics.
pub struct Put<'a> {
    out: &'a mut [u8],
    at: usize,
}

/// The most bytes a varint takes (a `u64`: 64 bits, 7 a byte).
pub const MAX_VARINT: usize = 10;

impl Put<'_> {
    #[inline(always)]
    pub fn byte(&mut self, b: u8) {
        self.out[self.at] = b;
        self.at += 1;
    }
    #[inline(always)]
    pub fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.byte(v as u8 | 0x80);
            v >>= 7;
        }
        self.byte(v as u8);
    }
    /// Bytes as they are (their length written before them, as the record's reader expects).
    #[inline(always)]
    pub fn bytes(&mut self, b: &[u8]) {
        self.out[self.at..self.at + b.len()].copy_from_slice(b);
        self.at += b.len();
    }
    /// A text or none: 0 for none, else its length plus one, then its bytes.
    #[inline(always)]
    pub fn text(&mut self, s: Option<&str>) {
        match s {
            None => self.byte(0),
            Some(s) => {
                self.varint(s.len() as u64 + 1);
                self.bytes(s.as_bytes());
            }
        }
    }
    /// Up to ten integers packed ([`packed_bound`] bytes of room): a tag of 3 bits each (its
    /// size code: [`PACKED_LEN`]), then each in its fewest whole bytes, little-endian. Each is
    /// stored as a whole 8-byte word and the cursor moved by its size, the next one written
    /// over the rest: no branch on a value's size, where a varint's loop branches once a
    /// byte, on sizes that vary from field to field (a spilled claim's five amounts).
    #[inline(always)]
    pub fn packed<const N: usize>(&mut self, v: [u64; N]) {
        const { assert!(N <= 10) };
        let tag_at = self.at;
        self.at += 4;
        let mut tag = 0u32;
        for (i, v) in v.into_iter().enumerate() {
            let code = PACKED_CODE[(64 - v.leading_zeros()) as usize];
            self.out[self.at..self.at + 8].copy_from_slice(&v.to_le_bytes());
            self.at += PACKED_LEN[code as usize];
            tag |= u32::from(code) << (3 * i);
        }
        self.out[tag_at..tag_at + 4].copy_from_slice(&tag.to_le_bytes());
    }
}

/// A signed integer as an unsigned one of as many significant bits as its magnitude:
/// 0, -1, 1, -2, 2 … as 0, 1, 2, 3, 4 …
#[inline(always)]
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// The signed integer [`zigzag`] made `v` of.
#[inline(always)]
pub fn unzigzag(v: u64) -> i64 {
    (v >> 1) as i64 ^ -((v & 1) as i64)
}

/// The room [`Put::packed`] needs for `n` integers: its tag, and a whole word for each.
pub const fn packed_bound(n: usize) -> usize {
    4 + 8 * n
}

/// The bytes a packed integer takes by its size code: none for 0, 1 to 6, or 8.
const PACKED_LEN: [usize; 8] = [0, 1, 2, 3, 4, 5, 6, 8];

/// The bits a packed integer keeps by its size code.
const PACKED_MASK: [u64; 8] = [0, 0xff, 0xffff, 0xff_ffff, 0xffff_ffff, 0xff_ffff_ffff, 0xffff_ffff_ffff, u64::MAX];

/// The size code of an integer by its significant bits (0 to 64).
const PACKED_CODE: [u8; 65] = {
    let mut t = [0u8; 65];
    let mut bits = 1;
    while bits <= 64 {
        t[bits] = if bits > 48 { 7 } else { bits.div_ceil(8) as u8 };
        bits += 1;
    }
    t
};

/// Reads the fields [`Put`] wrote; `None` for a record that ends early or holds a value out
/// of its range (a damaged file).
pub struct Get<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Get<'a> {
    pub fn new(bytes: &'a [u8]) -> Get<'a> {
        Get { bytes, at: 0 }
    }
    #[inline(always)]
    pub fn byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(b)
    }
    #[inline(always)]
    pub fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f).checked_shl(shift)?;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }
    /// The next `n` bytes as they are.
    #[inline(always)]
    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let b = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(b)
    }
    /// A text [`Put::text`] wrote, as its bytes: the reader checks them as UTF-8
    /// ([`crate::model::TextBytes`] checks a frame's texts at once).
    #[inline(always)]
    pub fn text_bytes(&mut self) -> Option<Option<&'a [u8]>> {
        let n = usize::try_from(self.varint()?).ok()?;
        if n == 0 {
            return Some(None);
        }
        self.bytes(n - 1).map(Some)
    }
    /// Integers [`Put::packed`] wrote; `None` for a tag of more, or one whose integers run
    /// past the record's end.
    #[inline(always)]
    pub fn packed<const N: usize>(&mut self) -> Option<[u64; N]> {
        let tag = self.bytes(4)?;
        let tag = u32::from_le_bytes([tag[0], tag[1], tag[2], tag[3]]);
        if tag >> (3 * N) != 0 {
            return None;
        }
        let len = |i: usize| PACKED_LEN[(tag >> (3 * i)) as usize & 7];
        let total: usize = (0..N).map(len).sum();
        if total > self.bytes.len() - self.at {
            return None;
        }
        let mut v = [0u64; N];
        for (i, v) in v.iter_mut().enumerate() {
            *v = word_at(self.bytes, self.at) & PACKED_MASK[(tag >> (3 * i)) as usize & 7];
            self.at += len(i);
        }
        Some(v)
    }
    /// Whether every byte was read (a record's fields end with its bytes).
    pub fn at_end(&self) -> bool {
        self.at == self.bytes.len()
    }
}

/// The 8 bytes of `b` from `at`, little-endian, zeros past its end (a record's last integers:
/// taken from its last 8 bytes, shifted).
#[inline(always)]
fn word_at(b: &[u8], at: usize) -> u64 {
    let word = |w: &[u8]| u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
    if let Some(w) = b.get(at..at + 8) {
        return word(w);
    }
    let end = b.len();
    if at >= end {
        0
    } else if end >= 8 {
        // 1 to 7 bytes from `at` are the last word's last ones
        word(&b[end - 8..]) >> (8 * (at + 8 - end))
    } else {
        b[at..].iter().rev().fold(0, |w, &x| (w << 8) | u64::from(x))
    }
}

/// Reads the records of a spill file in order, a frame at a time.
pub struct RecordReader {
    file: SequentialReader,
    path: PathBuf,
    /// the current frame and the offset of its next record
    frame: Vec<u8>,
    at: usize,
}

/// A frame larger than this is a damaged file (the writers' frames are a few MiB).
const MAX_FRAME: usize = 1 << 30;

/// Pieces of `bytes`, each preceded by its length (u32, little-endian), in order; an error
/// (`cut`) where the bytes end inside one, and nothing after it.
fn length_prefixed<'a>(bytes: &'a [u8], cut: &'static str) -> impl Iterator<Item = Result<&'a [u8]>> {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= bytes.len() {
            return None;
        }
        let piece = bytes.get(at..at + 4).and_then(|len| {
            let n = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
            bytes.get(at + 4..at + 4 + n)
        });
        match piece {
            Some(p) => {
                at += 4 + p.len();
                Some(Ok(p))
            }
            None => {
                at = bytes.len();
                Some(Err(anyhow::anyhow!(cut)))
            }
        }
    })
}

/// The records of a frame, in order.
pub fn records(frame: &[u8]) -> impl Iterator<Item = Result<&[u8]>> {
    length_prefixed(frame, "a spill frame ends inside a record")
}

/// A whole spill file, read into `reuse`'s buffer ([`WholeFile::read`]) to be cut into its
/// frames by [`frames_of`]; an error names the file.
pub fn read_whole(path: &Path, reuse: WholeFile) -> Result<WholeFile> {
    WholeFile::read(path, reuse).with_context(|| format!("cannot read the spill file {}", path.display()))
}

/// The frames of a whole spill file ([`read_whole`]), in order; an error for a file cut inside
/// a frame or its length.
pub fn frames_of(file: &[u8]) -> Result<Vec<&[u8]>> {
    length_prefixed(file, "the spill file ends inside a frame").collect()
}

impl RecordReader {
    pub fn open(path: &Path) -> Result<RecordReader> {
        let file = SequentialReader::open(path, READ_BLOCK).with_context(|| format!("cannot open the spill file {}", path.display()))?;
        Ok(RecordReader { file, path: path.to_path_buf(), frame: Vec::new(), at: 0 })
    }
    /// The next frame as written, `None` at the end.
    fn next_raw(&mut self) -> Result<Option<Vec<u8>>> {
        let named = || format!("cannot read the spill file {}", self.path.display());
        let mut len = [0u8; 4];
        let mut got = 0;
        while got < 4 {
            let k = self.file.read(&mut len[got..]).with_context(named)?;
            if k == 0 {
                if got == 0 {
                    return Ok(None);
                }
                bail!("the spill file {} ends inside a frame", self.path.display());
            }
            got += k;
        }
        let n = u32::from_le_bytes(len) as usize;
        if n > MAX_FRAME {
            bail!("a damaged frame in the spill file {}", self.path.display());
        }
        let mut raw = vec![0u8; n];
        self.file.read_exact(&mut raw).with_context(|| format!("the spill file {} ends inside a frame", self.path.display()))?;
        Ok(Some(raw))
    }
    /// The next record's bytes, `None` at the end.
    pub fn next_bytes(&mut self) -> Result<Option<&[u8]>> {
        while self.at >= self.frame.len() {
            let Some(raw) = self.next_raw()? else { return Ok(None) };
            self.frame = raw;
            self.at = 0;
        }
        let damaged = || format!("the spill file {} ends inside a record", self.path.display());
        let len = self.frame.get(self.at..self.at + 4).with_context(damaged)?;
        let n = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let start = self.at + 4;
        let r = self.frame.get(start..start + n).with_context(damaged)?;
        self.at = start + n;
        Ok(Some(r))
    }
    /// Up to `max` next records' bytes, concatenated into `buf` (cleared first), with the end
    /// of each in `ends`; false at the end of the file.
    pub fn next_chunk(&mut self, max: usize, buf: &mut Vec<u8>, ends: &mut Vec<usize>) -> Result<bool> {
        buf.clear();
        ends.clear();
        while ends.len() < max {
            match self.next_bytes()? {
                None => break,
                Some(b) => {
                    buf.extend_from_slice(b);
                    ends.push(buf.len());
                }
            }
        }
        Ok(!ends.is_empty())
    }

    /// The next record, decoded from postcard ([`frame`]); `None` at the end.
    #[cfg(test)]
    pub fn next_record<T: serde::de::DeserializeOwned>(&mut self) -> Result<Option<T>> {
        let path = self.path.clone();
        match self.next_bytes()? {
            None => Ok(None),
            Some(b) => Ok(Some(postcard::from_bytes(b).with_context(|| format!("a damaged record in the spill file {}", path.display()))?)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Packed integers read back as written, whatever their sizes (each bit width, 0 and
        /// u64::MAX among them), beside a byte after them or none; a record cut anywhere, or a
        /// tag naming more integers than read, is refused.
        #[test]
        fn packed_integers_read_back_as_written(
            widths in prop::array::uniform10(0u32..=64),
            bits in prop::array::uniform10(any::<u64>()),
            after in prop::option::of(any::<u8>()),
        ) {
            let v: [u64; 10] = std::array::from_fn(|i| match widths[i] {
                0 => 0,
                64 => bits[i] | 1 << 63,
                w => (bits[i] & ((1 << w) - 1)) | 1 << (w - 1),
            });
            let mut buf = Vec::new();
            frame_with(&mut buf, packed_bound(10) + 1, |w| {
                w.packed(v);
                if let Some(b) = after {
                    w.byte(b);
                }
            })
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let rec = &buf[4..];
            let mut r = Get::new(rec);
            prop_assert_eq!(r.packed::<10>(), Some(v));
            prop_assert_eq!(r.byte(), after);
            prop_assert!(r.at_end());
            let ints = rec.len() - usize::from(after.is_some());
            for cut in 0..ints {
                prop_assert_eq!(Get::new(&rec[..cut]).packed::<10>(), None);
            }
            // nine read where ten were written: refused by the tag unless the tenth is 0, which
            // takes no byte
            let nine = Get::new(rec).packed::<9>();
            prop_assert_eq!(nine, (v[9] == 0).then(|| std::array::from_fn(|i| v[i])));
        }
    }

    /// A framed record is its length and postcard's own bytes, whatever the sizes of the
    /// pieces (varints of every width, ids shorter and longer than the byte-by-byte limit,
    /// nested options of a claim's recorded amounts).
    #[test]
    fn framed_records_are_postcards_bytes() -> Result<()> {
        use crate::model::{Money, Recorded};
        let long = "S".repeat(40);
        let recorded = Recorded { hifp_pay: Some(Money::from_fen(-123_456_789)), ..Recorded::default() };
        for value in [
            (0u64, [None, None, None], 0i64, false, None),
            (u64::MAX, [Some("S1"), Some(long.as_str()), Some("")], i64::MIN, true, Some(Box::new(recorded))),
            (
                1 << 35,
                [Some("0123456789abcdef"), Some("0123456789abcdefg"), None],
                1_717_171_717,
                false,
                Some(Box::new(Recorded::default())),
            ),
        ] {
            let mut buf = vec![7u8];
            frame(&mut buf, &value)?;
            let want = postcard::to_allocvec(&value)?;
            assert_eq!(buf[0], 7, "what was in the buffer stays");
            assert_eq!(&buf[1..5], &(want.len() as u32).to_le_bytes());
            assert_eq!(&buf[5..], &want[..]);
        }
        Ok(())
    }

    /// A run removes the spill folders that runs now gone left beside its own, and leaves
    /// those of live runs and every other folder alone; its own goes when it ends.
    #[test]
    fn a_run_removes_the_spill_folders_of_runs_gone() -> Result<()> {
        let parent = tempfile::tempdir()?;
        let mut gone = std::process::Command::new("true").spawn()?;
        gone.wait()?;
        let mut live = std::process::Command::new("sleep").arg("30").spawn()?;
        let folder = |name: String| -> Result<PathBuf> {
            let path = parent.path().join(name);
            std::fs::create_dir(&path)?;
            std::fs::write(path.join("claims-0"), b"spilled")?;
            Ok(path)
        };
        let stale = folder(format!("{RUN_PREFIX}{}", gone.id()))?;
        let running = folder(format!("{RUN_PREFIX}{}", live.id()))?;
        let other = folder(format!("{RUN_PREFIX}x"))?;
        let unrelated = folder("claims".to_string())?;
        // A run gone whose spill cannot be removed (here a file where a folder was expected;
        // in production a folder without write permission) is told, not failed on.
        let mut gone_too = std::process::Command::new("true").spawn()?;
        gone_too.wait()?;
        let stuck = parent.path().join(format!("{RUN_PREFIX}{}", gone_too.id()));
        std::fs::write(&stuck, b"not a folder")?;
        let mut told = Vec::new();
        let dir = SpillDir::for_run(parent.path(), &mut |p, _| told.push(p.to_path_buf()))?;
        assert_eq!(told, std::slice::from_ref(&stuck), "the spill that could not be removed is told");
        assert!(stuck.exists());
        let kept = [running.exists(), other.exists(), unrelated.exists()];
        live.kill()?;
        live.wait()?;
        assert!(!stale.exists(), "the folder of a run gone is removed");
        assert_eq!(kept, [true; 3], "a live run's folder and other folders stay");
        let own = dir.path().to_path_buf();
        assert_eq!(own, parent.path().join(format!("{RUN_PREFIX}{}", std::process::id())));
        assert!(own.is_dir() && std::fs::read_dir(&own)?.next().is_none(), "the run's own folder is new and empty");
        drop(dir);
        assert!(!own.exists(), "the run's own folder goes when it ends");
        Ok(())
    }

    /// A read error of a spill file reaches its reader, naming the file, and its reads stay
    /// refused after it (a folder read as a file).
    #[test]
    fn a_read_error_names_the_spill_file() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let mut r = RecordReader::open(dir.path())?;
        let e = r.next_bytes().err().map(|e| format!("{e:#}")).unwrap_or_default();
        assert!(e.starts_with(&format!("cannot read the spill file {}: ", dir.path().display())), "{e}");
        assert!(r.next_bytes().is_err());
        Ok(())
    }

    #[test]
    fn records_come_back_in_order() -> Result<()> {
        let parent = tempfile::tempdir()?;
        let dir = SpillDir::new(parent.path(), "spill")?;
        let mut w = RecordWriter::create(&dir.file("a"))?;
        let (mut framed, mut n) = (Vec::new(), 0);
        // one record per frame, then frames of many records; an empty frame is not written
        for i in 0..1000u64 {
            if i < 10 {
                w.put(&(i, format!("S{i}")))?;
            } else {
                frame(&mut framed, &(i, format!("S{i}")))?;
                n += 1;
                if i % 97 == 0 {
                    w.put_frame(&std::mem::take(&mut framed), std::mem::take(&mut n))?;
                    w.put_frame(&[], 0)?;
                }
            }
        }
        w.put_frame(&framed, n)?;
        let written = w.finish()?;
        assert_eq!(written.records(), 1000);
        let mut told = vec![1; 10];
        told.extend([88].into_iter().chain([97; 9]).chain([1000 - 970 - 1]));
        assert_eq!(written.frames, told, "each frame's records, as the writer was told them");
        let mut r = RecordReader::open(&dir.file("a"))?;
        for i in 0..1000u64 {
            assert_eq!(r.next_record::<(u64, String)>()?, Some((i, format!("S{i}"))));
        }
        assert_eq!(r.next_record::<(u64, String)>()?, None);
        // a file without records
        RecordWriter::create(&dir.file("b"))?.finish()?;
        assert_eq!(RecordReader::open(&dir.file("b"))?.next_record::<u64>()?, None);
        // the same records through the whole file's frames, decoded apart
        let whole = read_whole(&dir.file("a"), WholeFile::default())?;
        let frames = frames_of(whole.bytes())?;
        assert_eq!(frames.len(), 10 + 10 + 1, "10 frames of one record, 10 cut at every 97th, the rest");
        assert_eq!(frames.iter().map(|f| records(f).count() as u64).collect::<Vec<_>>(), told);
        let mut back = Vec::new();
        for f in frames {
            for rec in records(f) {
                back.push(postcard::from_bytes::<(u64, String)>(rec?)?);
            }
        }
        assert_eq!(back, (0..1000u64).map(|i| (i, format!("S{i}"))).collect::<Vec<_>>());
        // a file cut inside a frame, or inside a frame's length, is refused, not read short;
        // and so is a length beyond the file
        let bytes = std::fs::read(dir.file("a"))?;
        for cut in [3, bytes.len() - 2] {
            assert!(frames_of(&bytes[..bytes.len() - cut]).is_err(), "cut {cut} bytes short");
        }
        assert!(frames_of(&[0xff, 0xff, 0xff, 0xff, 0]).is_err());
        assert!(frames_of(&[]).is_ok_and(|f| f.is_empty()));
        std::fs::write(dir.file("c"), &bytes[..bytes.len() - 3])?;
        let mut r = RecordReader::open(&dir.file("c"))?;
        let mut outcome = Ok(Some(0u64));
        while let Ok(Some(_)) = outcome {
            outcome = r.next_record::<(u64, String)>().map(|o| o.map(|(i, _)| i));
        }
        assert!(outcome.is_err(), "a cut file ends in an error");
        let path = dir.path().to_path_buf();
        drop(dir);
        assert!(!path.exists(), "the spill folder is removed with its files");
        Ok(())
    }
}
