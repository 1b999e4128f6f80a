//! A scratch file: written once, read back in pieces, gone with its last handle (it is
//! unlinked as soon as it is open, so a killed run leaves nothing behind). Written and read
//! with direct IO where the platform and file system allow: a batch run's ids (hundreds of
//! megabytes) would otherwise cost a page-cache page each, allocated at about 450 MB/s on
//! the 2-core machine against 1.9 GB/s direct (`dd`, README's Performance section).
//!
//! The spill files of a run beyond its memory limit are written the same way but keep their
//! names ([`ScratchFile::create_at`], cut to their length by [`ScratchWriter::close`]; their
//! folder goes at the end of the run) and are read from start to end ([`SequentialReader`]).

use super::write::{DIRECT_ALIGN, direct_flag, nanos};
use crate::model::{Spool, SpoolFile, SpoolWriter, Strings};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::mpsc;

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

/// `path` opened for direct IO (to read, and to write if `write`), where the platform and
/// file system allow it.
fn open_direct(path: &Path, write: bool) -> Option<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().read(true).write(write).custom_flags(direct_flag()?).open(path).ok()
}

/// A scratch file being written, one piece after another, through an aligned staging block.
#[derive(Debug)]
pub struct ScratchWriter {
    file: ScratchFile,
    buf: Vec<u8>,
    /// where the aligned block starts in `buf`
    start: usize,
    /// the block's size (a multiple of [`DIRECT_ALIGN`])
    block: usize,
    /// bytes staged in the block
    staged: usize,
    /// where the block goes in the file
    pos: u64,
}

impl ScratchFile {
    /// A new scratch file in `dir`, to write.
    pub fn create(dir: &Path) -> std::io::Result<ScratchWriter> {
        let path = dir.join(format!(".scratch-{}-{}", std::process::id(), nanos()));
        let w = ScratchFile::open(std::fs::OpenOptions::new().read(true).write(true).create_new(true), &path, BLOCK)?;
        std::fs::remove_file(&path)?;
        Ok(w)
    }

    /// A file at `path` (created, or emptied) that stays when written, staged through a block
    /// of `block` bytes (rounded up to whole direct blocks); end it with [`ScratchWriter::close`].
    pub fn create_at(path: &Path, block: usize) -> std::io::Result<ScratchWriter> {
        ScratchFile::open(std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true), path, block)
    }

    fn open(options: &std::fs::OpenOptions, path: &Path, block: usize) -> std::io::Result<ScratchWriter> {
        let plain = options.open(path)?;
        let direct = open_direct(path, true);
        let block = block.max(1).next_multiple_of(DIRECT_ALIGN);
        let (buf, start) = aligned(block);
        Ok(ScratchWriter { file: ScratchFile { plain, direct }, buf, start, block, staged: 0, pos: 0 })
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

impl SpoolFile for ScratchWriter {
    type Done = ScratchFile;
    fn write(&mut self, mut data: &[u8]) -> std::io::Result<()> {
        while !data.is_empty() {
            let n = (self.block - self.staged).min(data.len());
            let at = self.start + self.staged;
            self.buf[at..at + n].copy_from_slice(&data[..n]);
            self.staged += n;
            data = &data[n..];
            if self.staged == self.block {
                self.file.write_block(&self.buf[self.start..self.start + self.block], self.pos)?;
                self.pos += self.block as u64;
                self.staged = 0;
            }
        }
        Ok(())
    }
    /// Writes what is staged, padded to a whole direct block (zeros: beyond anything read
    /// back), and frees the staging block.
    fn finish(mut self) -> std::io::Result<ScratchFile> {
        if self.staged > 0 {
            let padded = if self.file.direct.is_some() { self.staged.next_multiple_of(DIRECT_ALIGN) } else { self.staged };
            let (from, to) = (self.start + self.staged, self.start + padded);
            self.buf[from..to].fill(0);
            self.file.write_block(&self.buf[self.start..to], self.pos)?;
        }
        Ok(self.file)
    }
}

impl ScratchWriter {
    /// Ends a file made by [`ScratchFile::create_at`]: what is staged is written and the file
    /// cut to the bytes written (no padding); returns their number. Cut whatever handle wrote
    /// the tail: a padded tail refused by direct IO goes through the page cache padded.
    pub fn close(self) -> std::io::Result<u64> {
        let len = self.pos + self.staged as u64;
        let f = self.finish()?;
        f.plain.set_len(len)?;
        Ok(len)
    }
}

/// A file read from its start to its end through aligned blocks, with direct IO where the
/// platform and file system allow (else, or once refused, through the page cache): a spill
/// file written with direct IO is not in the page cache, and reading it through there would
/// cost a fresh page per 4 KiB again. Direct IO has no read-ahead from the kernel, so a
/// thread of the file's own reads the next blocks while this one is consumed: read in the
/// consumer's time, the blocks kept the pool's threads waiting on the disk (a spilled 100M
/// year's partitions spent 13 s reading their claims back with 20 s of CPU on 2 cores).
#[derive(Debug)]
pub struct SequentialReader {
    /// blocks filled by the reading thread, in the file's order (an empty one at the end)
    full: mpsc::Receiver<std::io::Result<Block>>,
    /// blocks given back to the reading thread to fill
    empty: mpsc::SyncSender<Block>,
    /// the block being consumed, and the next byte of it to give
    block: Option<Block>,
    at: usize,
    /// the file's end was reached (a read after an error fails again)
    ended: bool,
}

/// One block of a [`SequentialReader`]: an aligned buffer and the file's bytes in it.
#[derive(Debug)]
struct Block {
    buf: Vec<u8>,
    /// where the aligned block starts in `buf`
    start: usize,
    filled: usize,
}

/// Blocks of a [`SequentialReader`]: one consumed while the rest are read.
const BLOCKS: usize = 3;

impl SequentialReader {
    /// Opens `path` to read it through blocks of `block` bytes (rounded up to whole direct
    /// blocks), and starts its reading thread.
    pub fn open(path: &Path, block: usize) -> std::io::Result<SequentialReader> {
        let plain = File::open(path)?;
        let mut direct = open_direct(path, false);
        let size = block.max(1).next_multiple_of(DIRECT_ALIGN);
        let (full_tx, full) = mpsc::sync_channel::<std::io::Result<Block>>(BLOCKS);
        let (empty, empty_rx) = mpsc::sync_channel::<Block>(BLOCKS);
        for _ in 0..BLOCKS {
            let (buf, start) = aligned(size);
            // Room for every block: the channel holds them all.
            let _ = empty.send(Block { buf, start, filled: 0 });
        }
        std::thread::Builder::new().name("spill read-ahead".into()).spawn(move || {
            let mut pos = 0u64;
            // Ends when the reader is dropped (no block comes back, or none is taken) or
            // after the file's end or an error.
            for mut b in empty_rx {
                let block = &mut b.buf[b.start..b.start + size];
                match read_block_at(&mut direct, &plain, block, pos) {
                    Ok(n) => {
                        pos += n as u64;
                        b.filled = n;
                        if full_tx.send(Ok(b)).is_err() || n == 0 {
                            break;
                        }
                    }
                    Err(e) => {
                        let _ = full_tx.send(Err(e));
                        break;
                    }
                }
            }
        })?;
        Ok(SequentialReader { full, empty, block: None, at: 0, ended: false })
    }

    /// Gives the consumed block back to be filled and takes the next one.
    fn next_block(&mut self) -> std::io::Result<()> {
        if let Some(b) = self.block.take() {
            // The thread has stopped only after the end or an error, which are told below.
            let _ = self.empty.send(b);
        }
        self.at = 0;
        match self.full.recv() {
            Ok(Ok(b)) => {
                self.ended = b.filled == 0;
                self.block = Some(b);
                Ok(())
            }
            // The thread stops after an error: a read after it is refused too (below).
            Ok(Err(e)) => Err(e),
            Err(_) => Err(std::io::Error::other("the spill file's reading stopped at an error")),
        }
    }
}

/// A whole file in memory, read with direct IO where the platform and file system allow
/// (else, or once refused, through the page cache), into a buffer a caller keeps from file to
/// file ([`WholeFile::read`] takes the last one's): a spilled partition's claims file (a few
/// hundred MB at a city's scale) is read by a thread of its own while the partition before
/// settles, and the buffer's pages, once touched, are not zeroed by the kernel again.
#[derive(Debug, Default)]
pub struct WholeFile {
    buf: Vec<u8>,
    /// where the aligned block starts in `buf`
    start: usize,
    len: usize,
}

/// Bytes read at a time by [`WholeFile::read`].
const WHOLE_CHUNK: usize = 8 << 20;

impl WholeFile {
    /// `path`'s bytes, read into `reuse`'s buffer (grown if it is too small).
    pub fn read(path: &Path, reuse: WholeFile) -> std::io::Result<WholeFile> {
        let plain = File::open(path)?;
        let len = usize::try_from(plain.metadata()?.len()).map_err(|_| std::io::Error::other("a file larger than memory"))?;
        let room = len.next_multiple_of(DIRECT_ALIGN);
        let mut buf = reuse.buf;
        if buf.len() < room + DIRECT_ALIGN {
            // Fresh, not grown: what the old buffer held is not copied, nor held beside it. An
            // eighth to spare, so that files a little larger (a run's partitions are alike in
            // size, not equal) fit in it rather than each fault in fresh pages, which the
            // kernel zeroes.
            drop(std::mem::take(&mut buf));
            buf = aligned((room + room / 8).next_multiple_of(DIRECT_ALIGN)).0;
        }
        let start = buf.as_ptr().align_offset(DIRECT_ALIGN);
        let block = &mut buf[start..start + room];
        let mut direct = open_direct(path, false);
        let mut pos = 0;
        while pos < len {
            // whole direct blocks, up to the file's end rounded up
            let chunk = &mut block[pos..(pos + WHOLE_CHUNK).min(room)];
            let n = read_block_at(&mut direct, &plain, chunk, pos as u64)?;
            if n == 0 {
                break;
            }
            pos += n;
        }
        if pos != len {
            return Err(std::io::Error::other(format!("{pos} bytes read where the file holds {len}: it changed while read")));
        }
        Ok(WholeFile { buf, start, len })
    }
    pub fn bytes(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }
}

/// Reads an aligned block at `pos` (as [`read_full_at`]) through `direct` while the file
/// system takes direct IO; refused after all, through `plain` (the page cache), and `direct`
/// is given up for the reads after it.
fn read_block_at(direct: &mut Option<File>, plain: &File, block: &mut [u8], pos: u64) -> std::io::Result<usize> {
    if let Some(d) = direct.as_ref() {
        match read_full_at(d, block, pos) {
            Ok(n) => return Ok(n),
            Err(_) => *direct = None,
        }
    }
    read_full_at(plain, block, pos)
}

/// Reads into all of `buf` from `pos`, fewer bytes only at the end of the file.
fn read_full_at(f: &File, buf: &mut [u8], pos: u64) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match f.read_at(&mut buf[got..], pos + got as u64) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

impl std::io::Read for SequentialReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.ended {
            return Ok(0);
        }
        if self.block.as_ref().is_none_or(|b| self.at == b.filled) {
            self.next_block()?;
        }
        let Some(b) = &self.block else { return Ok(0) };
        let n = out.len().min(b.filled - self.at);
        out[..n].copy_from_slice(&b.buf[b.start + self.at..b.start + self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// The claims' text ids written to two scratch files (their ends and their text,
/// [`SpoolWriter`]) on a thread of their own while the claims are read: the read hands over
/// each chunk's arena once it has appended it, and the writing waits on the disk beside the
/// decoding instead of after it. [`IdsSpooler::finish`] gives the writer for
/// [`Strings::spool`].
#[derive(Debug)]
pub struct IdsSpooler {
    chunks: mpsc::SyncSender<Strings>,
    thread: std::thread::JoinHandle<std::io::Result<SpoolWriter<ScratchWriter>>>,
}

/// Chunks waiting for the writer: a few megabytes of ids each.
const WAITING: usize = 8;

impl IdsSpooler {
    /// Creates the files in `dir` and starts the writer.
    pub fn start(dir: &Path) -> std::io::Result<IdsSpooler> {
        let mut w = SpoolWriter::new(ScratchFile::create(dir)?, ScratchFile::create(dir)?);
        let (chunks, waiting) = mpsc::sync_channel::<Strings>(WAITING);
        let thread = std::thread::Builder::new().name("ids to scratch".into()).spawn(move || {
            let mut failed = None;
            // After a failure the chunks are still taken (and dropped), so the read goes on.
            for chunk in waiting {
                if failed.is_none() {
                    failed = w.add(&chunk).err();
                }
            }
            failed.map_or(Ok(w), Err)
        })?;
        Ok(IdsSpooler { chunks, thread })
    }
    /// The arena of the chunk the read has just appended (in the read's order).
    pub fn add(&self, chunk: Strings) {
        // The writer stops only at `finish` (or by a panic, which `finish` reports).
        let _ = self.chunks.send(chunk);
    }
    /// The writer, with every chunk given written; its first error if one failed.
    pub fn finish(self) -> std::io::Result<SpoolWriter<ScratchWriter>> {
        drop(self.chunks);
        self.thread.join().map_err(|_| std::io::Error::other("internal: the ids' writer stopped"))?
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
        let mut w = ScratchFile::create(dir.path())?;
        for part in [&a[..], &[], &b] {
            w.write(part)?;
        }
        let f = w.finish()?;
        // Unlinked at once: the folder holds nothing.
        assert_eq!(std::fs::read_dir(dir.path())?.count(), 0);
        let all: Vec<u8> = a.iter().chain(&b).copied().collect();
        for (pos, len) in [(0, 1), (0, all.len()), (4095, 2), (BLOCK - 3, 10), (a.len() - 1, 2), (all.len() - 1, 1), (12345, 0)] {
            assert_eq!(f.read_at(pos as u64, len)?, all[pos..pos + len], "at {pos}, {len} bytes");
        }
        assert!(f.read_at(all.len() as u64 + DIRECT_ALIGN as u64, 1).is_err());
        Ok(())
    }

    /// An error of the reading thread reaches the reader, and every read after it fails too
    /// (the thread stops at an error): a folder read as a file fails its first read.
    #[test]
    fn a_read_error_reaches_the_reader_and_stays() -> std::io::Result<()> {
        use std::io::Read;
        let dir = tempfile::tempdir()?;
        let mut r = SequentialReader::open(dir.path(), DIRECT_ALIGN)?;
        let mut buf = [0u8; 16];
        let first = r.read(&mut buf).err().map(|e| e.kind());
        assert_eq!(first, Some(std::io::ErrorKind::IsADirectory));
        let again = r.read(&mut buf).err().map(|e| e.to_string());
        assert_eq!(again.as_deref(), Some("the spill file's reading stopped at an error"));
        Ok(())
    }

    /// A whole file reads back exactly through a buffer kept from file to file, whatever the
    /// sizes: empty, a byte, about a direct block, beyond a read's chunk; a larger file after a
    /// smaller one, and a smaller one after it in the larger buffer.
    #[test]
    fn a_whole_file_reads_back_exactly() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let mut buf = WholeFile::default();
        for (k, len) in
            [0, 1, DIRECT_ALIGN - 1, DIRECT_ALIGN, DIRECT_ALIGN + 1, WHOLE_CHUNK + 3 * DIRECT_ALIGN + 17, 5, 0].into_iter().enumerate()
        {
            let path = dir.path().join(format!("f{k}"));
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8 ^ k as u8).collect();
            let mut w = ScratchFile::create_at(&path, DIRECT_ALIGN)?;
            w.write(&data)?;
            w.close()?;
            buf = WholeFile::read(&path, buf)?;
            assert!(buf.bytes() == data.as_slice(), "a file of {len} bytes");
        }
        // a missing file is an error, not an empty file
        assert!(WholeFile::read(&dir.path().join("missing"), buf).is_err());
        Ok(())
    }

    /// A named file written through small staging blocks is cut to the bytes written (no
    /// padding) and reads back whole through [`SequentialReader`], in reads of any size and
    /// across its blocks; an empty file reads as empty.
    #[test]
    fn a_named_file_reads_back_exactly() -> std::io::Result<()> {
        use std::io::Read;
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("records");
        let data: Vec<u8> = (0..3 * DIRECT_ALIGN + 1234).map(|i| (i * 7 % 253) as u8).collect();
        let mut w = ScratchFile::create_at(&path, DIRECT_ALIGN)?;
        for piece in data.chunks(1000) {
            w.write(piece)?;
        }
        assert_eq!(w.close()?, data.len() as u64);
        assert_eq!(std::fs::metadata(&path)?.len(), data.len() as u64);
        for step in [1, 999, DIRECT_ALIGN, data.len() + 10] {
            let mut r = SequentialReader::open(&path, 2 * DIRECT_ALIGN)?;
            let mut got = Vec::new();
            let mut buf = vec![0u8; step];
            loop {
                let n = r.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(got, data, "reads of {step} bytes");
        }
        // written again from nothing: emptied first
        ScratchFile::create_at(&path, DIRECT_ALIGN)?.close()?;
        let mut rest = Vec::new();
        SequentialReader::open(&path, DIRECT_ALIGN)?.read_to_end(&mut rest)?;
        assert!(rest.is_empty());
        Ok(())
    }
}
