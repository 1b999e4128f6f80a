//! A scratch file: written once, read back in pieces, gone with its last handle (it is
//! unlinked as soon as it is open, so a killed run leaves nothing behind). Written and read
//! with direct IO where the platform and file system allow: a batch run's ids (hundreds of
//! megabytes) would otherwise cost a page-cache page each, allocated at about 450 MB/s on
//! the 2-core machine against 1.9 GB/s direct (`dd`, README's Performance section).

use super::write::{DIRECT_ALIGN, direct_flag, nanos};
use crate::model::Spool;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Bytes staged between direct writes.
const BLOCK: usize = 8 << 20;

#[derive(Debug)]
pub struct ScratchFile {
    plain: File,
    /// the same file opened for direct IO, while the file system takes it
    direct: Option<File>,
}

/// A zeroed buffer of `len` bytes whose `start` is [`DIRECT_ALIGN`]-aligned in memory.
fn aligned(len: usize) -> (Vec<u8>, usize) {
    let buf = vec![0u8; len + DIRECT_ALIGN];
    let start = buf.as_ptr().align_offset(DIRECT_ALIGN);
    (buf, start)
}

impl ScratchFile {
    /// Writes `parts`, one after another, to a new scratch file in `dir`.
    pub fn write_new(dir: &Path, parts: &[&[u8]]) -> std::io::Result<ScratchFile> {
        let path = dir.join(format!(".scratch-{}-{}", std::process::id(), nanos()));
        let plain = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path)?;
        let direct = direct_flag().and_then(|flag| {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new().read(true).write(true).custom_flags(flag).open(&path).ok()
        });
        std::fs::remove_file(&path)?;
        let mut f = ScratchFile { plain, direct };
        let (mut buf, start) = aligned(BLOCK);
        let (mut staged, mut pos) = (0usize, 0u64);
        for part in parts {
            let mut data = *part;
            while !data.is_empty() {
                let n = (BLOCK - staged).min(data.len());
                buf[start + staged..start + staged + n].copy_from_slice(&data[..n]);
                staged += n;
                data = &data[n..];
                if staged == BLOCK {
                    f.write_block(&buf[start..start + BLOCK], pos)?;
                    pos += BLOCK as u64;
                    staged = 0;
                }
            }
        }
        if staged > 0 {
            // The tail padded to a whole direct block (zeros: beyond anything read back).
            let padded = if f.direct.is_some() { staged.next_multiple_of(DIRECT_ALIGN) } else { staged };
            buf[start + staged..start + padded].fill(0);
            f.write_block(&buf[start..start + padded], pos)?;
        }
        Ok(f)
    }

    /// Writes `block` at `pos`, direct while the file system takes it.
    fn write_block(&mut self, block: &[u8], pos: u64) -> std::io::Result<()> {
        if let Some(d) = &self.direct {
            if d.write_all_at(block, pos).is_ok() {
                return Ok(());
            }
            // Refused after all (the file system does not do direct IO): through the page
            // cache from here on.
            self.direct = None;
        }
        self.plain.write_all_at(block, pos)
    }
}

impl Spool for ScratchFile {
    fn read_at(&self, pos: u64, len: usize) -> std::io::Result<Vec<u8>> {
        if let Some(d) = &self.direct {
            // The whole direct blocks around the range (the tail was padded to one).
            let a = DIRECT_ALIGN as u64;
            let from = pos / a * a;
            let to = (pos + len as u64).next_multiple_of(a);
            let (mut buf, start) = aligned((to - from) as usize);
            if d.read_exact_at(&mut buf[start..start + (to - from) as usize], from).is_ok() {
                // The range moved to the front, in place.
                let skip = start + (pos - from) as usize;
                buf.truncate(skip + len);
                buf.drain(..skip);
                return Ok(buf);
            }
        }
        let mut out = vec![0u8; len];
        self.plain.read_exact_at(&mut out, pos)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What was written reads back at any offset and length, across the staging blocks and
    /// into the padded tail.
    #[test]
    fn parts_read_back_anywhere() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let a: Vec<u8> = (0..BLOCK + 5000).map(|i| (i % 251) as u8).collect();
        let b: Vec<u8> = (0..7777).map(|i| (i % 13) as u8).collect();
        let f = ScratchFile::write_new(dir.path(), &[&a, &[], &b])?;
        // Unlinked at once: the folder holds nothing.
        assert_eq!(std::fs::read_dir(dir.path())?.count(), 0);
        let all: Vec<u8> = a.iter().chain(&b).copied().collect();
        for (pos, len) in [(0, 1), (0, all.len()), (4095, 2), (BLOCK - 3, 10), (a.len() - 1, 2), (all.len() - 1, 1), (12345, 0)] {
            assert_eq!(f.read_at(pos as u64, len)?, all[pos..pos + len], "at {pos}, {len} bytes");
        }
        assert!(f.read_at(all.len() as u64 + DIRECT_ALIGN as u64, 1).is_err());
        Ok(())
    }
}
