//! Writers and the committed output folder.
//!
//! An output folder always holds one complete set (CONTRACT.md §6). A run writes its whole set
//! into a fresh staging folder beside the target (created exclusively, files created with
//! `O_EXCL | O_NOFOLLOW`), checks every write, flush and fsync, fsyncs the files and the
//! folders, and then switches the staging folder and the target in one atomic step
//! (`renameat2(RENAME_EXCHANGE)` on Linux; elsewhere two renames with recovery on the next
//! start). The previous set, now under the staging name, is deleted afterwards. A killed run
//! leaves either the old set or the new one in place, plus at most a staging folder that the
//! next run removes. `manifest.json` lists every file of the set with its SHA-256.

use crate::model::Money;
use anyhow::{Context, Result, bail};
use sha2::{Digest as _, Sha256};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

/// Output format of the tables (`--format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Parquet,
}

impl Format {
    pub fn ext(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        }
    }
}

/// The size and SHA-256 of a written file, recorded when its writer is dropped.
type Digest = Arc<Mutex<Option<(u64, String)>>>;

/// An output file that hashes what is written through it, so the manifest does not have to
/// read the file back.
pub struct HashedFile {
    file: File,
    path: PathBuf,
    hasher: Sha256,
    bytes: u64,
    digest: Digest,
    direct: Option<Direct>,
}

/// Direct IO (`O_DIRECT`) for the large tables: whole aligned blocks go from a staging buffer
/// to the disk without the page cache. Writing gigabytes through the page cache costs the
/// kernel a fresh zeroed page per 4 KiB, which on a VM is slower than the disk itself
/// (≈ 0.45 GB/s buffered against ≈ 1.3 GB/s direct here) and takes a core from the formatters.
/// The unaligned tail goes through the ordinary handle on each flush.
struct Direct {
    file: File,
    /// `DIRECT_BUF` staging bytes from `start`, which is `DIRECT_ALIGN`-aligned in memory
    buf: Vec<u8>,
    start: usize,
    /// bytes staged
    len: usize,
    /// file offset of the first staged byte (a multiple of `DIRECT_BUF`)
    pos: u64,
}

pub(crate) const DIRECT_ALIGN: usize = 4096;
const DIRECT_BUF: usize = 8 << 20;

/// `O_DIRECT` on the platforms where its value is known.
pub(crate) fn direct_flag() -> Option<i32> {
    if cfg!(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "x86"))) {
        Some(0o40000)
    } else if cfg!(all(target_os = "linux", any(target_arch = "aarch64", target_arch = "arm"))) {
        Some(0o200000)
    } else {
        None
    }
}

impl Direct {
    fn open(path: &Path) -> Option<Direct> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            let file = std::fs::OpenOptions::new().write(true).custom_flags(direct_flag()?).open(path).ok()?;
            let buf = vec![0u8; DIRECT_BUF + DIRECT_ALIGN];
            let start = buf.as_ptr().align_offset(DIRECT_ALIGN);
            Some(Direct { file, buf, start, len: 0, pos: 0 })
        }
        #[cfg(not(unix))]
        {
            let _ = (path, direct_flag());
            None
        }
    }
    fn staged(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }
}

#[cfg(unix)]
fn write_at(f: &File, buf: &[u8], pos: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(f, buf, pos)
}

#[cfg(not(unix))]
fn write_at(_: &File, _: &[u8], _: u64) -> std::io::Result<()> {
    Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "direct IO is only used on unix"))
}

impl Write for HashedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        fault_budget(buf.len())?;
        let n = if self.direct.is_some() {
            self.put(buf)?;
            buf.len()
        } else {
            self.file.write(buf)?
        };
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if let Some(d) = &self.direct
            && d.len > 0
        {
            // The partial block through the page cache; it stays staged and goes out again
            // (direct) once the block is full.
            write_at(&self.file, d.staged(), d.pos)?;
        }
        self.file.flush()
    }
}

impl HashedFile {
    /// Switches to direct IO (when the platform and file system allow it) for a large file;
    /// call before anything is written.
    pub(crate) fn go_direct(&mut self) {
        if self.bytes == 0 && self.direct.is_none() {
            self.direct = Direct::open(&self.path);
        }
    }
    /// Writes `data` at the end (direct mode).
    fn put(&mut self, mut data: &[u8]) -> std::io::Result<()> {
        while !data.is_empty() {
            let Some(d) = &mut self.direct else {
                return self.file.write_all(data);
            };
            let n = (DIRECT_BUF - d.len).min(data.len());
            d.buf[d.start + d.len..d.start + d.len + n].copy_from_slice(&data[..n]);
            d.len += n;
            data = &data[n..];
            if d.len == DIRECT_BUF {
                if write_at(&d.file, d.staged(), d.pos).is_err() {
                    // The file system refused direct IO after all: the same bytes through
                    // the ordinary handle, which carries on from there.
                    write_at(&self.file, d.staged(), d.pos)?;
                    use std::io::Seek as _;
                    self.file.seek(std::io::SeekFrom::Start(d.pos + d.len as u64))?;
                    self.direct = None;
                    continue;
                }
                d.pos += d.len as u64;
                d.len = 0;
            }
        }
        Ok(())
    }
    /// Writes bytes that the caller hashes itself, in the same order, on another thread
    /// (see [`HashedFile::take_hasher`]).
    pub(crate) fn write_all_unhashed(&mut self, buf: &[u8]) -> std::io::Result<()> {
        fault_budget(buf.len())?;
        self.put(buf)?;
        self.bytes += buf.len() as u64;
        Ok(())
    }
    pub(crate) fn take_hasher(&mut self) -> Sha256 {
        std::mem::take(&mut self.hasher)
    }
    pub(crate) fn put_hasher(&mut self, h: Sha256) {
        self.hasher = h;
    }
}

impl HashedFile {
    /// Writes the direct-IO tail, flushes, fsyncs and records the file's size and hash.
    fn finish(mut self, name: &Path) -> Result<()> {
        let named = |e: std::io::Error| anyhow::anyhow!("cannot write {}: {e}", name.display());
        if let Some(d) = &self.direct
            && d.len > 0
        {
            write_at(&self.file, d.staged(), d.pos).map_err(named)?;
        }
        self.file.flush().map_err(named)?;
        self.file.sync_all().map_err(named)?;
        let hex = self.hasher.finalize_reset().iter().map(|b| format!("{b:02x}")).collect();
        let mut d = self.digest.lock().map_err(|_| anyhow::anyhow!("{}: digest lock poisoned", name.display()))?;
        *d = Some((self.bytes, hex));
        Ok(())
    }
}

/// A file of an output set. Its bytes count only after [`OutFile::finish`], which reports
/// every write, flush and fsync error with the file's name; a file never finished fails the
/// commit.
pub struct OutFile {
    pub(crate) w: BufWriter<HashedFile>,
    /// the file's final path, for messages
    name: PathBuf,
}

impl Write for OutFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.w.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.w.write_all(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.w.flush()
    }
}

impl OutFile {
    pub fn finish(self) -> Result<()> {
        let name = self.name;
        let h = self.w.into_inner().map_err(|e| anyhow::anyhow!("cannot write {}: {}", name.display(), e.error()))?;
        h.finish(&name)
    }
    /// Writes all of `buf`, naming the file in the error.
    pub fn put(&mut self, buf: &[u8]) -> Result<()> {
        self.w.write_all(buf).with_context(|| format!("cannot write {}", self.name.display()))
    }
    pub fn name(&self) -> &Path {
        &self.name
    }
}

/// A test hook standing in for a full disk: with `MEDSETTLE_FAULT_ENOSPC_AFTER=N` set, output
/// and spill writes fail with ENOSPC once N bytes have been written in the process (used where
/// a small tmpfs cannot be mounted).
pub(crate) fn fault_budget(n: usize) -> std::io::Result<()> {
    static BUDGET: AtomicI64 = AtomicI64::new(i64::MIN);
    if BUDGET.load(Ordering::Relaxed) == i64::MIN {
        let v = std::env::var("MEDSETTLE_FAULT_ENOSPC_AFTER").ok().and_then(|v| v.parse::<i64>().ok()).unwrap_or(i64::MAX);
        let _ = BUDGET.compare_exchange(i64::MIN, v, Ordering::Relaxed, Ordering::Relaxed);
    }
    if BUDGET.fetch_sub(n as i64, Ordering::Relaxed) < n as i64 {
        return Err(std::io::Error::from_raw_os_error(28));
    }
    Ok(())
}

/// Prefix of the staging folders beside an output folder `name`: `.name.medsettle-`.
fn staging_prefix(name: &str) -> String {
    format!(".{name}.medsettle-")
}

fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    File::open(dir).and_then(|f| f.sync_all()).with_context(|| format!("cannot sync folder {}", dir.display()))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Swaps two paths atomically (both exist). `Ok(false)` when the platform or file system
/// cannot, so the caller falls back to two renames.
fn exchange(a: &Path, b: &Path) -> Result<bool> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::ffi::OsStrExt;
        let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(|_| anyhow::anyhow!("{} has a NUL byte", p.display()));
        let (ca, cb) = (c(a)?, c(b)?);
        const RENAME_EXCHANGE: libc::c_uint = 2;
        // SAFETY: two valid NUL-terminated paths; renameat2 does not keep the pointers.
        let r = unsafe { libc::syscall(libc::SYS_renameat2, libc::AT_FDCWD, ca.as_ptr(), libc::AT_FDCWD, cb.as_ptr(), RENAME_EXCHANGE) };
        if r == 0 {
            return Ok(true);
        }
        let e = std::io::Error::last_os_error();
        if matches!(e.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EINVAL) | Some(libc::EOPNOTSUPP)) {
            return Ok(false);
        }
        Err(e).with_context(|| format!("cannot switch {} into place", b.display()))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (a, b);
        Ok(false)
    }
}

/// An output folder whose new set appears, complete, only on [`OutputDir::commit`].
pub struct OutputDir {
    dir: PathBuf,
    staging: PathBuf,
    /// subfolder that [`OutputDir::create`] puts new files in
    prefix: Option<String>,
    staged: Vec<(String, Digest)>,
    committed: bool,
}

impl OutputDir {
    /// Prepares a new set for `dir`: removes what killed runs left beside it, refuses a folder
    /// that is not an output set (so a wrong `--out` never deletes someone's files), and
    /// creates the staging folder.
    pub fn new(dir: &Path) -> Result<OutputDir> {
        super::source::tune_allocator();
        let d = dir.display();
        let name = dir.file_name().and_then(|n| n.to_str()).ok_or_else(|| anyhow::anyhow!("{d}: give the output folder by name"))?;
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).with_context(|| format!("cannot create folder {}", parent.display()))?;
        let prefix = staging_prefix(name);
        recover(&parent, dir, &prefix)?;
        match std::fs::symlink_metadata(dir) {
            Ok(m) if m.file_type().is_symlink() => bail!("{d} is a symbolic link; give the real folder (links are not followed)"),
            Ok(m) if !m.is_dir() => bail!("{d} exists and is not a folder"),
            Ok(_) => {
                let mut entries = std::fs::read_dir(dir).with_context(|| format!("cannot read {d}"))?;
                if entries.next().is_some() && !dir.join("manifest.json").is_file() {
                    bail!(
                        "{d} is not empty and has no manifest.json, so it is not a medsettle output set; refusing to replace it (give a new or empty folder)"
                    );
                }
            }
            Err(_) => {}
        }
        let staging = (0u32..100)
            .map(|k| parent.join(format!("{prefix}staging-{}-{}-{k}", std::process::id(), nanos())))
            .find_map(|p| match std::fs::create_dir(&p) {
                Ok(()) => Some(Ok(p)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => None,
                Err(e) => Some(Err(e)),
            })
            .unwrap_or_else(|| Err(std::io::Error::other("no free staging name")))
            .with_context(|| format!("cannot create a staging folder beside {d}"))?;
        Ok(OutputDir { dir: dir.to_path_buf(), staging, prefix: None, staged: Vec::new(), committed: false })
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// Puts the files created from now on into subfolder `sub` (e.g. a scenario's).
    pub fn set_prefix(&mut self, sub: Option<&str>) {
        self.prefix = sub.map(str::to_string);
    }
    /// A new file `name` of the set (`sub/name` for a file in a subfolder), created
    /// exclusively in the staging folder.
    pub fn create(&mut self, name: &str) -> Result<OutFile> {
        let name = &match &self.prefix {
            Some(p) => format!("{p}/{name}"),
            None => name.to_string(),
        };
        let shown = self.dir.join(name);
        if name.split('/').any(|p| p.is_empty() || p == "." || p == "..") || self.staged.iter().any(|(n, _)| n == name) {
            bail!("internal: bad or repeated output name {name}");
        }
        let path = self.staging.join(name);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).with_context(|| format!("cannot create {}", p.display()))?;
        }
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.custom_flags(libc::O_NOFOLLOW);
        }
        let file = o.open(&path).with_context(|| format!("cannot write {}", shown.display()))?;
        let digest = Digest::default();
        self.staged.push((name.to_string(), digest.clone()));
        let h = HashedFile { file, path, hasher: Sha256::new(), bytes: 0, digest, direct: None };
        Ok(OutFile { w: BufWriter::with_capacity(1 << 20, h), name: shown })
    }
    /// Writes a whole small file.
    pub fn write_file(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        let mut f = self.create(name)?;
        f.put(bytes)?;
        f.finish()
    }
    /// The finished files of the set so far as (name, bytes, SHA-256), in creation order;
    /// with `sub`, only those under `sub/`, named relative to it.
    pub fn files(&self, sub: Option<&str>) -> Result<Vec<(String, u64, String)>> {
        let mut out = Vec::new();
        for (n, d) in &self.staged {
            let rel = match sub {
                None => n.as_str(),
                Some(s) => match n.strip_prefix(s).and_then(|r| r.strip_prefix('/')) {
                    Some(r) => r,
                    None => continue,
                },
            };
            let (bytes, sha) = d
                .lock()
                .ok()
                .and_then(|d| d.clone())
                .ok_or_else(|| anyhow::anyhow!("internal: {} was not finished", self.dir.join(n).display()))?;
            out.push((rel.to_string(), bytes, sha));
        }
        Ok(out)
    }
    /// The folder the new set is written in until the commit.
    pub fn staging(&self) -> &Path {
        &self.staging
    }

    /// A staged set left by a run that was killed after it had committed elsewhere (the
    /// nightly state), to switch in now with [`OutputDir::commit`].
    pub fn resume(dir: &Path, staging: &Path) -> OutputDir {
        OutputDir { dir: dir.to_path_buf(), staging: staging.to_path_buf(), prefix: None, staged: Vec::new(), committed: false }
    }

    /// Makes every staged file and folder durable (the first half of [`OutputDir::commit`]).
    pub fn seal(&self) -> Result<()> {
        self.files(None)?;
        let mut dirs: Vec<PathBuf> = self.staged.iter().filter_map(|(n, _)| self.staging.join(n).parent().map(Path::to_path_buf)).collect();
        dirs.sort();
        dirs.dedup();
        for d in dirs.iter().rev() {
            sync_dir(d)?;
        }
        sync_dir(&self.staging)
    }

    /// Makes the staged set the folder's content in one atomic step.
    pub fn commit(mut self) -> Result<()> {
        self.seal()?;
        commit_pause();
        let parent = self.staging.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
        if std::fs::symlink_metadata(&self.dir).is_ok() {
            if !exchange(&self.staging, &self.dir)? {
                // Two renames; a kill between them leaves the old set under `old-…`, which
                // the next start renames back (see `recover`).
                let old = parent.join(format!("{}old-{}", staging_prefix(self.name()), nanos()));
                std::fs::rename(&self.dir, &old).with_context(|| format!("cannot move {} aside", self.dir.display()))?;
                std::fs::rename(&self.staging, &self.dir)
                    .with_context(|| format!("cannot move the new set into {}", self.dir.display()))?;
                self.staging = old;
            }
            // The staging name now holds the previous set.
            sync_dir(&parent)?;
            self.committed = true;
            commit_pause();
            let _ = std::fs::remove_dir_all(&self.staging);
        } else {
            std::fs::rename(&self.staging, &self.dir).with_context(|| format!("cannot move the new set into {}", self.dir.display()))?;
            sync_dir(&parent)?;
            self.committed = true;
        }
        Ok(())
    }
    fn name(&self) -> &str {
        self.dir.file_name().and_then(|n| n.to_str()).unwrap_or("out")
    }
}

/// A test hook for the crash test: with `MEDSETTLE_COMMIT_PAUSE_MS` set, the commit waits
/// that long before the switch and again before deleting the previous set, so a kill can land
/// between the commit steps.
fn commit_pause() {
    if let Some(ms) = std::env::var("MEDSETTLE_COMMIT_PAUSE_MS").ok().and_then(|v| v.parse::<u64>().ok()) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// A test hook for the crash tests: with `MEDSETTLE_FAULT_ABORT_AT` equal to `point`, the
/// process aborts there (as a kill would).
pub fn fault_point(point: &str) {
    if std::env::var("MEDSETTLE_FAULT_ABORT_AT").is_ok_and(|p| p == point) {
        std::process::abort();
    }
}

/// Nanoseconds since the epoch (0 on a clock before it): part of a file name no other run takes.
pub(crate) fn nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

/// Cleans up after killed runs: staging folders of processes that are gone are deleted; a
/// previous set left aside by an interrupted two-rename switch is put back.
fn recover(parent: &Path, dir: &Path, prefix: &str) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(parent) else { return Ok(()) };
    for e in entries.flatten() {
        let n = e.file_name();
        let Some(rest) = n.to_str().and_then(|n| n.strip_prefix(prefix)) else { continue };
        let path = e.path();
        if let Some(s) = rest.strip_prefix("staging-") {
            let pid = s.split('-').next().and_then(|p| p.parse::<u32>().ok());
            if pid.is_some_and(|p| p != std::process::id() && super::process_alive(p)) {
                continue;
            }
            std::fs::remove_dir_all(&path).with_context(|| format!("cannot remove the stale staging folder {}", path.display()))?;
        } else if rest.starts_with("old-") {
            if std::fs::symlink_metadata(dir).is_err() {
                std::fs::rename(&path, dir).with_context(|| format!("cannot restore {} from {}", dir.display(), path.display()))?;
            } else {
                std::fs::remove_dir_all(&path).with_context(|| format!("cannot remove {}", path.display()))?;
            }
        }
    }
    Ok(())
}

impl Drop for OutputDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

/// Column types of the output tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColType {
    Text,
    /// Text that is (nearly) unique per row, such as a settlement id: written like
    /// [`ColType::Text`], but a Parquet column without a dictionary.
    Id,
    Int,
    Money,
    DateTime,
    /// `YYYY-MM-DD` in CSV, Date32 in Parquet.
    Date,
    /// Money that may be empty ([`Val::Null`]): an empty CSV cell, a Parquet null.
    OptMoney,
    /// A date that may be empty ([`Val::Null`]).
    OptDate,
}

/// One output cell.
#[derive(Clone, Copy, Debug)]
pub enum Val<'a> {
    Text(&'a str),
    Int(i64),
    Money(Money),
    DateTime(i64),
    /// days since 1970-01-01
    Date(i32),
    /// an empty cell (only in `Opt*` columns)
    Null,
}

pub type RowFn<'a> = dyn Fn(usize, &mut Vec<Val<'a>>) + Sync + 'a;

/// Where a row's cells go, one after another in column order: a row of [`Val`]s
/// ([`RowFn`]), or straight into an Arrow batch's typed column builders ([`ColumnsFn`]). A
/// table's row written once over `Cells` serves both.
pub trait Cells<'a> {
    fn put(&mut self, v: Val<'a>);
}

impl<'a> Cells<'a> for Vec<Val<'a>> {
    #[inline]
    fn put(&mut self, v: Val<'a>) {
        self.push(v)
    }
}

pub use super::parquet::write::ArrowCells;

/// Row `i`'s cells written straight into an Arrow batch's column builders: the Parquet (and
/// in-memory Arrow) path of a large table, beside its [`RowFn`] (CSV), which must give the
/// same cells.
pub type ColumnsFn<'a> = dyn Fn(usize, &mut ArrowCells) + Sync + 'a;

/// Writes a table of `n` rows, `row(i)` giving the cells of row i, as CSV or Parquet
/// (money as Decimal128(18,2), datetimes as timestamps). Rows are formatted in parallel.
pub fn write_table<'a>(
    out: &mut OutputDir,
    name: &str,
    format: Format,
    cols: &[(&str, ColType)],
    n: usize,
    row: &RowFn<'a>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<()> {
    let mut t = TableWriter::new(out, name, format, cols)?;
    t.write(n, row, progress)?;
    t.finish(progress)
}

/// A table written in pieces (`medsettle generate` streams its rows): [`TableWriter::write`]
/// appends rows, [`TableWriter::finish`] completes the file. The bytes do not depend on how
/// the rows are split into pieces: CSV rows are written in order, and Parquet rows are
/// gathered into the same row groups (`WINDOW` rows) and encoder batches (`CHUNK` rows) as
/// one call with every row would make. Memory is one window of rows, whatever the total.
pub struct TableWriter {
    sink: Sink,
}

use super::csv::write::CsvSink;
use super::parquet::write::ParquetSink;

enum Sink {
    Csv(CsvSink),
    Parquet(Box<ParquetSink>),
}

/// Rows per Parquet row group.
const WINDOW: usize = 1 << 20;
/// Rows per Arrow batch handed to the Parquet column encoders.
const CHUNK: usize = 1 << 15;

impl TableWriter {
    /// Creates `{name}.{csv,parquet}` in `out` with the columns `cols`.
    pub fn new(out: &mut OutputDir, name: &str, format: Format, cols: &[(&str, ColType)]) -> Result<TableWriter> {
        let file = format!("{name}.{}", format.ext());
        let mut w = out.create(&file)?;
        w.w.get_mut().go_direct();
        Ok(TableWriter {
            sink: match format {
                Format::Csv => Sink::Csv(CsvSink::new(w, cols)?),
                Format::Parquet => Sink::Parquet(Box::new(ParquetSink::new(w, cols, WINDOW, CHUNK)?)),
            },
        })
    }
    /// Appends `n` rows, `row(i)` giving the cells of the i-th of them.
    pub fn write<'a>(&mut self, n: usize, row: &RowFn<'a>, progress: &(dyn Fn(u64) + Sync)) -> Result<()> {
        match &mut self.sink {
            Sink::Csv(s) => s.write(n, row, progress),
            Sink::Parquet(s) => s.write(n, row, progress),
        }
    }
    /// [`TableWriter::write`] for a table whose rows can also go straight into the Parquet
    /// column builders: `row` for CSV, `columns` (the same cells) for Parquet.
    pub fn write_columns<'a>(&mut self, n: usize, row: &RowFn<'a>, columns: &ColumnsFn<'a>, progress: &(dyn Fn(u64) + Sync)) -> Result<()> {
        match &mut self.sink {
            Sink::Csv(s) => s.write(n, row, progress),
            Sink::Parquet(s) => s.write_columns(n, columns, progress),
        }
    }
    /// Writes what is pending and completes the file (its size and hash go to the manifest).
    pub fn finish(self, progress: &(dyn Fn(u64) + Sync)) -> Result<()> {
        match self.sink {
            Sink::Csv(s) => s.finish(),
            Sink::Parquet(s) => s.finish(progress),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLS: &[(&str, ColType)] = &[("id", ColType::Text), ("n", ColType::Int), ("amt", ColType::OptMoney)];

    /// Row `i` of the test table: `r{i}`, `i`, and an amount of i fen except every third row.
    fn row<'a>(base: usize) -> impl Fn(usize, &mut Vec<Val<'a>>) + Sync {
        move |i, v| {
            let k = base + i;
            let id: &'a str = Box::leak(format!("r{k}").into_boxed_str());
            v.extend([
                Val::Text(id),
                Val::Int(k as i64),
                if k.is_multiple_of(3) { Val::Null } else { Val::Money(Money::from_fen(k as i64)) },
            ]);
        }
    }

    /// Writes 30 rows in the given pieces (Parquet: row groups of 12 rows in batches of 4) and
    /// returns the file's bytes.
    fn written(format: Format, pieces: &[usize]) -> anyhow::Result<Vec<u8>> {
        let d = tempfile::tempdir()?;
        let dir = d.path().join("out");
        let mut out = OutputDir::new(&dir)?;
        let w = out.create(&format!("t.{}", format.ext()))?;
        let mut sink = match format {
            Format::Csv => Sink::Csv(CsvSink::new(w, COLS)?),
            Format::Parquet => Sink::Parquet(Box::new(ParquetSink::new(w, COLS, 12, 4)?)),
        };
        let mut base = 0;
        let groups = std::sync::atomic::AtomicU64::new(0);
        for &n in pieces {
            let f = row(base);
            let count = |k: u64| {
                groups.fetch_add(k, Ordering::Relaxed);
            };
            match &mut sink {
                Sink::Csv(s) => s.write(n, &f, &count)?,
                Sink::Parquet(s) => s.write(n, &f, &count)?,
            }
            base += n;
        }
        assert_eq!(base, 30);
        match sink {
            Sink::Csv(s) => s.finish()?,
            Sink::Parquet(s) => s.finish(&|k| {
                groups.fetch_add(k, Ordering::Relaxed);
            })?,
        }
        // Progress counted every row once.
        assert_eq!(groups.load(Ordering::Relaxed), 30);
        out.commit()?;
        Ok(std::fs::read(dir.join(format!("t.{}", format.ext())))?)
    }

    #[test]
    fn pieces_do_not_change_the_bytes() -> anyhow::Result<()> {
        for format in [Format::Csv, Format::Parquet] {
            let whole = written(format, &[30])?;
            for pieces in [&[1, 5, 2, 7, 3, 12][..], &[12, 12, 6], &[4, 4, 4, 4, 4, 4, 4, 2], &[29, 1], &[0, 30, 0]] {
                assert!(written(format, pieces)? == whole, "{format:?} {pieces:?}");
            }
        }
        let csv = String::from_utf8(written(Format::Csv, &[30])?)?;
        // 1 header + 30 rows; row 3 has no amount, row 4 has 0.04.
        assert_eq!(csv.lines().count(), 31);
        assert_eq!(csv.lines().nth(4), Some("r3,3,"));
        assert_eq!(csv.lines().nth(5), Some("r4,4,0.04"));
        Ok(())
    }

    #[test]
    fn parquet_row_groups_hold_the_window() -> anyhow::Result<()> {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let bytes = written(Format::Parquet, &[1, 5, 2, 7, 3, 12])?;
        let mut f = tempfile::tempfile()?;
        f.write_all(&bytes)?;
        let r = SerializedFileReader::new(f)?;
        // 30 rows in row groups of 12: 12 + 12 + 6.
        let rows: Vec<i64> = r.metadata().row_groups().iter().map(|g| g.num_rows()).collect();
        assert_eq!(rows, [12, 12, 6]);
        Ok(())
    }

    /// Numbers are delta-encoded and text is not; every value reads back as written.
    #[test]
    fn parquet_numbers_are_delta_encoded_and_read_back() -> Result<()> {
        use arrow::array::{Array, Decimal128Array, Int64Array, StringArray};
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        use parquet::basic::Encoding;
        let mut f = tempfile::tempfile()?;
        f.write_all(&written(Format::Parquet, &[30])?)?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(f)?;
        for g in builder.metadata().row_groups() {
            let delta = |k: usize| g.column(k).encodings().any(|e| e == Encoding::DELTA_BINARY_PACKED);
            assert_eq!((delta(0), delta(1), delta(2)), (false, true, true));
        }
        let mut rows = 0;
        for batch in builder.build()? {
            let batch = batch?;
            let ids = batch.column(0).as_any().downcast_ref::<StringArray>().context("id is text")?;
            let n = batch.column(1).as_any().downcast_ref::<Int64Array>().context("n is Int64")?;
            let amt = batch.column(2).as_any().downcast_ref::<Decimal128Array>().context("amt is a decimal")?;
            for i in 0..batch.num_rows() {
                let k = rows + i;
                assert_eq!((ids.value(i), n.value(i)), (format!("r{k}").as_str(), k as i64));
                assert_eq!(amt.is_null(i), k.is_multiple_of(3));
                if !amt.is_null(i) {
                    assert_eq!(amt.value(i), k as i128);
                }
            }
            rows += batch.num_rows();
        }
        assert_eq!(rows, 30);
        Ok(())
    }
}
