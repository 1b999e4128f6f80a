//! CSV output: rows formatted in parallel, written and hashed on their own threads.

use crate::io::write::{ColType, OutFile, RowFn, Val};
use crate::model::money::push_u64;
use crate::model::time;
use anyhow::{Context, Result, bail};
use rayon::prelude::*;
use sha2::{Digest as _, Sha256};
use std::io::Write;
use std::path::PathBuf;

/// Rows formatted per window (smaller windows keep the buffers in flight small) and per
/// parallel piece.
const CSV_WINDOW: usize = 1 << 18;
const CSV_CHUNK: usize = 1 << 14;

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

/// CSV rows are formatted in parallel a window at a time while a writer thread writes the
/// previous window and a hasher thread hashes the one before; the buffers go round
/// (format → write → hash → format), so the first windows' memory is reused.
pub(crate) struct CsvSink {
    name: PathBuf,
    full_tx: Option<std::sync::mpsc::SyncSender<Vec<Vec<u8>>>>,
    empty_rx: std::sync::mpsc::Receiver<Vec<Vec<u8>>>,
    writer: Option<std::thread::JoinHandle<std::io::Result<OutFile>>>,
    hashing: Option<std::thread::JoinHandle<Sha256>>,
}

impl CsvSink {
    pub(crate) fn new(mut w: OutFile, cols: &[(&str, ColType)]) -> Result<CsvSink> {
        let header: Vec<&str> = cols.iter().map(|(c, _)| *c).collect();
        w.put(header.join(",").as_bytes())?;
        w.put(b"\n")?;
        w.flush().with_context(|| format!("cannot write {}", w.name().display()))?;
        let name = w.name().to_path_buf();
        let mut hasher = w.w.get_mut().take_hasher();
        let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<Vec<Vec<u8>>>(1);
        let (hash_tx, hash_rx) = std::sync::mpsc::sync_channel::<Vec<Vec<u8>>>(1);
        let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Vec<Vec<u8>>>();
        let writer = std::thread::spawn(move || -> std::io::Result<OutFile> {
            for bufs in full_rx {
                for b in &bufs {
                    w.w.get_mut().write_all_unhashed(b)?;
                }
                if hash_tx.send(bufs).is_err() {
                    break;
                }
            }
            Ok(w)
        });
        let hashing = std::thread::spawn(move || {
            for bufs in hash_rx {
                for b in &bufs {
                    hasher.update(b);
                }
                // The formatter may have stopped already; then the buffers are dropped.
                let _ = empty_tx.send(bufs);
            }
            hasher
        });
        Ok(CsvSink { name, full_tx: Some(full_tx), empty_rx, writer: Some(writer), hashing: Some(hashing) })
    }

    pub(crate) fn write<'a>(&mut self, n: usize, row: &RowFn<'a>, progress: &(dyn Fn(u64) + Sync)) -> Result<()> {
        for start in (0..n).step_by(CSV_WINDOW) {
            let end = (start + CSV_WINDOW).min(n);
            let starts: Vec<usize> = (start..end).step_by(CSV_CHUNK).collect();
            let mut bufs = self.empty_rx.try_recv().unwrap_or_default();
            bufs.resize_with(starts.len(), Vec::new);
            bufs.par_iter_mut().zip(starts).for_each(|(buf, s)| {
                buf.clear();
                let mut vals = Vec::new();
                for i in s..(s + CSV_CHUNK).min(end) {
                    vals.clear();
                    row(i, &mut vals);
                    csv_row(&vals, buf);
                }
            });
            let sent = self.full_tx.as_ref().is_some_and(|tx| tx.send(bufs).is_ok());
            if !sent {
                // The writer stopped on an error: joining it gives the message.
                self.join()?;
                bail!("cannot write {}: the writer stopped", self.name.display());
            }
            progress((end - start) as u64);
        }
        Ok(())
    }

    /// Stops the threads and returns the file with its hasher back in place.
    fn join(&mut self) -> Result<OutFile> {
        drop(self.full_tx.take());
        let shown = self.name.display();
        let writer = self.writer.take().ok_or_else(|| anyhow::anyhow!("cannot write {shown}: the writer has stopped"))?;
        let joined = writer.join().map_err(|_| anyhow::anyhow!("the writer thread of {shown} failed"))?;
        let mut w = joined.with_context(|| format!("cannot write {shown}"))?;
        let hashing = self.hashing.take().ok_or_else(|| anyhow::anyhow!("cannot write {shown}: the hasher has stopped"))?;
        let hasher = hashing.join().map_err(|_| anyhow::anyhow!("the hashing thread of {shown} failed"))?;
        w.w.get_mut().put_hasher(hasher);
        Ok(w)
    }

    pub(crate) fn finish(mut self) -> Result<()> {
        self.join()?.finish()
    }
}

impl Drop for CsvSink {
    fn drop(&mut self) {
        // An unfinished table (an error elsewhere): stop the threads; the file is never
        // finished, so the set is not committed.
        drop(self.full_tx.take());
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
        if let Some(h) = self.hashing.take() {
            let _ = h.join();
        }
    }
}
