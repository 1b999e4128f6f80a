//! Spill files of a run larger than its memory limit (`settle --memory-limit`): a folder of
//! record files on local disk, removed when the run ends. A record is one postcard-encoded
//! value (the kernel's own types), framed by its length; a file is one zstd stream (level 1:
//! about a third of the raw size at several hundred MB/s per core).

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
    enc: zstd::stream::write::Encoder<'static, BufWriter<File>>,
    path: PathBuf,
    records: u64,
}

impl RecordWriter {
    pub fn create(path: &Path) -> Result<RecordWriter> {
        let f = File::create(path).with_context(|| format!("cannot create the spill file {}", path.display()))?;
        let enc = zstd::stream::write::Encoder::new(BufWriter::with_capacity(1 << 16, f), 1)?;
        Ok(RecordWriter { enc, path: path.to_path_buf(), records: 0 })
    }
    /// Appends records already framed by [`frame`].
    pub fn put_framed(&mut self, bytes: &[u8], records: u64) -> Result<()> {
        self.enc.write_all(bytes).with_context(|| format!("cannot write the spill file {}", self.path.display()))?;
        self.records += records;
        Ok(())
    }
    /// Appends one record.
    pub fn put<T: Serialize>(&mut self, value: &T) -> Result<()> {
        let mut buf = Vec::new();
        frame(&mut buf, value)?;
        self.put_framed(&buf, 1)
    }
    /// Ends the stream; returns the number of records.
    pub fn finish(self) -> Result<u64> {
        let path = self.path;
        let w = self.enc.finish().with_context(|| format!("cannot write the spill file {}", path.display()))?;
        w.into_inner().map_err(|e| e.into_error()).with_context(|| format!("cannot write the spill file {}", path.display()))?;
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
    dec: zstd::stream::read::Decoder<'static, BufReader<File>>,
    path: PathBuf,
    buf: Vec<u8>,
}

impl RecordReader {
    pub fn open(path: &Path) -> Result<RecordReader> {
        let f = File::open(path).with_context(|| format!("cannot open the spill file {}", path.display()))?;
        let dec = zstd::stream::read::Decoder::new(f)?;
        Ok(RecordReader { dec, path: path.to_path_buf(), buf: Vec::new() })
    }
    /// The next record's bytes, `None` at the end.
    pub fn next_bytes(&mut self) -> Result<Option<&[u8]>> {
        let mut len = [0u8; 4];
        let mut got = 0;
        while got < 4 {
            let k = self.dec.read(&mut len[got..]).with_context(|| format!("cannot read the spill file {}", self.path.display()))?;
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
        self.dec.read_exact(&mut self.buf).with_context(|| format!("the spill file {} ends inside a record", self.path.display()))?;
        Ok(Some(&self.buf))
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
        for i in 0..1000u64 {
            if i % 2 == 0 {
                w.put(&(i, format!("S{i}")))?;
            } else {
                frame(&mut framed, &(i, format!("S{i}")))?;
                w.put_framed(&std::mem::take(&mut framed), 1)?;
            }
        }
        assert_eq!(w.finish()?, 1000);
        let mut r = RecordReader::open(&dir.file("a"))?;
        for i in 0..1000u64 {
            assert_eq!(r.next_record::<(u64, String)>()?, Some((i, format!("S{i}"))));
        }
        assert_eq!(r.next_record::<(u64, String)>()?, None);
        let path = dir.path().to_path_buf();
        drop(dir);
        assert!(!path.exists(), "the spill folder is removed with its files");
        Ok(())
    }
}
