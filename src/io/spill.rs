//! Spill files of a run larger than its memory limit (`settle --memory-limit`): a folder of
//! record files on local disk, removed when the run ends. A record is one postcard-encoded
//! value (the kernel's own types), framed by its length; a file is a sequence of zstd frames
//! (a fast negative level, [`SPILL_LEVEL`]), each compressed by whoever encoded its records — in parallel — and read back
//! as one stream.

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

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

/// Writes records to a spill file.
pub struct RecordWriter {
    w: BufWriter<File>,
    path: PathBuf,
    records: u64,
}

/// Compresses framed records (see [`frame`]) into one zstd frame for [`RecordWriter::put_compressed`].
pub fn compress(framed: &[u8]) -> Result<Vec<u8>> {
    thread_local! {
        // One context per thread, reused: making one costs more than compressing a small frame.
        static CCTX: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> = const { std::cell::RefCell::new(None) };
    }
    CCTX.with(|c| {
        let mut c = c.borrow_mut();
        let c = match &mut *c {
            Some(c) => c,
            empty => empty.insert(zstd::bulk::Compressor::new(SPILL_LEVEL)?),
        };
        Ok(c.compress(framed)?)
    })
}

/// zstd's level for the spill files: one of its fast negative levels. The spill is read once
/// and deleted; on the 10.36M-claim year forced into 5 partitions, level 1 took 32.8 s and
/// wrote 420 MiB, level -5 24.7–26.2 s and 595 MiB, level -30 22.8–24.4 s and 981 MiB (every
/// fresh page of the page cache costs time on a VM, so the volume is not free either).
const SPILL_LEVEL: i32 = -5;

impl RecordWriter {
    pub fn create(path: &Path) -> Result<RecordWriter> {
        let f = File::create(path).with_context(|| format!("cannot create the spill file {}", path.display()))?;
        Ok(RecordWriter { w: BufWriter::with_capacity(1 << 16, f), path: path.to_path_buf(), records: 0 })
    }
    /// Appends `records` records compressed by [`compress`].
    pub fn put_compressed(&mut self, frame: &[u8], records: u64) -> Result<()> {
        self.w.write_all(frame).with_context(|| format!("cannot write the spill file {}", self.path.display()))?;
        self.records += records;
        Ok(())
    }
    /// Appends records framed by [`frame`] (compressed here).
    pub fn put_framed(&mut self, bytes: &[u8], records: u64) -> Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.put_compressed(&compress(bytes)?, records)
    }
    /// Appends one record.
    pub fn put<T: Serialize>(&mut self, value: &T) -> Result<()> {
        let mut buf = Vec::new();
        frame(&mut buf, value)?;
        self.put_framed(&buf, 1)
    }
    /// Ends the file; returns the number of records.
    pub fn finish(self) -> Result<u64> {
        let path = self.path;
        self.w.into_inner().map_err(|e| e.into_error()).with_context(|| format!("cannot write the spill file {}", path.display()))?;
        Ok(self.records)
    }
}

/// Appends `value` to `buf` as one framed record (u32 length, little-endian, then postcard).
pub fn frame<T: Serialize>(buf: &mut Vec<u8>, value: &T) -> Result<()> {
    let at = buf.len();
    buf.extend_from_slice(&[0; 4]);
    let buf2 = postcard::to_extend(value, std::mem::take(buf))?;
    *buf = buf2;
    let n = u32::try_from(buf.len() - at - 4).context("a spill record of more than 4 GiB")?;
    buf[at..at + 4].copy_from_slice(&n.to_le_bytes());
    Ok(())
}

/// Reads the records of a spill file in order.
pub struct RecordReader {
    /// `None` for a file without records (no zstd frame at all)
    /// (buffered: records are read a few bytes at a time, and each read of the decoder
    /// itself is a call into zstd)
    dec: Option<BufReader<zstd::stream::read::Decoder<'static, BufReader<File>>>>,
    path: PathBuf,
    buf: Vec<u8>,
}

impl RecordReader {
    pub fn open(path: &Path) -> Result<RecordReader> {
        let f = File::open(path).with_context(|| format!("cannot open the spill file {}", path.display()))?;
        let empty = f.metadata().with_context(|| format!("cannot open the spill file {}", path.display()))?.len() == 0;
        let dec = if empty { None } else { Some(BufReader::with_capacity(1 << 18, zstd::stream::read::Decoder::new(f)?)) };
        Ok(RecordReader { dec, path: path.to_path_buf(), buf: Vec::new() })
    }
    /// The next record's bytes, `None` at the end.
    pub fn next_bytes(&mut self) -> Result<Option<&[u8]>> {
        let Some(dec) = self.dec.as_mut() else { return Ok(None) };
        let mut len = [0u8; 4];
        let mut got = 0;
        while got < 4 {
            let k = dec.read(&mut len[got..]).with_context(|| format!("cannot read the spill file {}", self.path.display()))?;
            if k == 0 {
                if got == 0 {
                    return Ok(None);
                }
                bail!("the spill file {} ends inside a record", self.path.display());
            }
            got += k;
        }
        let n = u32::from_le_bytes(len) as usize;
        self.buf.resize(n, 0);
        dec.read_exact(&mut self.buf).with_context(|| format!("the spill file {} ends inside a record", self.path.display()))?;
        Ok(Some(&self.buf))
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

    /// The next record, decoded; `None` at the end.
    pub fn next_record<T: DeserializeOwned>(&mut self) -> Result<Option<T>> {
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

    #[test]
    fn records_come_back_in_order() -> Result<()> {
        let parent = tempfile::tempdir()?;
        let dir = SpillDir::new(parent.path(), "spill")?;
        let mut w = RecordWriter::create(&dir.file("a"))?;
        let mut framed = Vec::new();
        // one record per zstd frame, then frames of many records
        for i in 0..1000u64 {
            if i < 10 {
                w.put(&(i, format!("S{i}")))?;
            } else {
                frame(&mut framed, &(i, format!("S{i}")))?;
                if i % 97 == 0 {
                    w.put_compressed(&compress(&std::mem::take(&mut framed))?, 97)?;
                }
            }
        }
        w.put_framed(&framed, 0)?;
        w.finish()?;
        let mut r = RecordReader::open(&dir.file("a"))?;
        for i in 0..1000u64 {
            assert_eq!(r.next_record::<(u64, String)>()?, Some((i, format!("S{i}"))));
        }
        assert_eq!(r.next_record::<(u64, String)>()?, None);
        // a file without records
        RecordWriter::create(&dir.file("b"))?.finish()?;
        assert_eq!(RecordReader::open(&dir.file("b"))?.next_record::<u64>()?, None);
        let path = dir.path().to_path_buf();
        drop(dir);
        assert!(!path.exists(), "the spill folder is removed with its files");
        Ok(())
    }
}
