//! The settle pipeline shared by `settle`, `scenario`, `replay` and `explain`:
//! read → validate → order → settle (parallel) → aggregate → write.

use crate::engine::{self, Prepared, Reject, Settled};
use crate::intake::History;
use crate::io::read::{self, ClaimsRead, PersonsRead, RejectRow};
use crate::io::scratch::IdsSpooler;
use crate::io::write::{Format, OutputDir};
use crate::model::ClaimTable;
use crate::model::{NotCoveredReason, PersonTable, PersonYear};
use crate::policy::PolicySet;
use crate::progress;
use crate::report::fund::{self, FundReport};
use crate::report::i18n::Lang;
use crate::report::markdown::{self, Counts, ReportInput};
use crate::report::settlement::ByMonth;
use crate::report::tables;
use crate::report::{html, settlement, xlsx};
use anyhow::{Context, Result, bail};
use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Phase timings on stderr when `MEDSETTLE_TIMINGS` is set (for profiling large runs): each
/// phase's wall time, the CPU time the process spent in it (both cores busy show as twice the
/// wall time; less tells a phase waiting on one thread), and the resident memory after it.
pub struct Timer {
    on: bool,
    clock: Clock,
}

/// The CPU time (user and system) this process's threads have used so far.
fn cpu_time() -> std::time::Duration {
    let mut u = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes the struct it is given and reads nothing else.
    let r = unsafe { libc::getrusage(libc::RUSAGE_SELF, u.as_mut_ptr()) };
    if r != 0 {
        return std::time::Duration::ZERO;
    }
    // SAFETY: initialised by the call that returned 0 (and zeroed before it).
    let u = unsafe { u.assume_init() };
    let tv = |t: libc::timeval| std::time::Duration::new(t.tv_sec.max(0) as u64, (t.tv_usec.max(0) as u32).min(999_999) * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// Wall and CPU time spent (the process's CPU: on 2 cores, up to twice the wall time).
#[derive(Clone, Copy, Debug, Default)]
pub struct Spent {
    pub wall: std::time::Duration,
    pub cpu: std::time::Duration,
}

impl std::ops::AddAssign for Spent {
    fn add_assign(&mut self, o: Spent) {
        self.wall += o.wall;
        self.cpu += o.cpu;
    }
}

/// A point in wall and CPU time, to measure what is spent from it ([`Clock::lap`]).
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    at: std::time::Instant,
    cpu: std::time::Duration,
}

impl Clock {
    pub fn start() -> Clock {
        Clock { at: std::time::Instant::now(), cpu: cpu_time() }
    }
    /// What was spent since this point, which moves to now.
    pub fn lap(&mut self) -> Spent {
        let now = Clock::start();
        let spent = Spent { wall: now.at - self.at, cpu: now.cpu.saturating_sub(self.cpu) };
        *self = now;
        spent
    }
}

impl Timer {
    pub fn new() -> Timer {
        Timer { on: std::env::var_os("MEDSETTLE_TIMINGS").is_some(), clock: Clock::start() }
    }
    /// Prints the wall and CPU time since the previous mark, and the process's resident
    /// memory now (Linux).
    pub fn mark(&mut self, phase: &str) {
        let spent = self.clock.lap();
        if self.on {
            let rss = std::fs::read_to_string("/proc/self/statm")
                .ok()
                .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
                .map(|pages| format!("  RSS {:>5} MiB", (pages * 4096) >> 20)) // statm counts 4 KiB pages
                .unwrap_or_default();
            eprintln!("timing: {phase:<24} {:>7.2} s  cpu {:>7.2} s{rss}", spent.wall.as_secs_f64(), spent.cpu.as_secs_f64());
        }
    }
    /// Prints a line under the last phase (with `MEDSETTLE_TIMINGS`): what its time went to.
    pub fn note(&self, what: &str) {
        if self.on {
            eprintln!("timing:   ({what})");
        }
    }
}

impl Default for Timer {
    fn default() -> Self {
        Timer::new()
    }
}

/// An input file as the manifest records it.
#[derive(Clone, Debug, Serialize)]
pub struct FileInfo {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
    pub rows: u64,
}

pub fn sha256_file(path: &Path) -> Result<(u64, String)> {
    sha256_file_until(path, &AtomicBool::new(false))
}

/// [`sha256_file`], giving up (with an error) once `stop` is set.
fn sha256_file_until(path: &Path, stop: &AtomicBool) -> Result<(u64, String)> {
    let mut f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        if stop.load(Ordering::Relaxed) {
            bail!("hashing {} was stopped", path.display());
        }
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        n += k as u64;
        h.update(&buf[..k]);
    }
    Ok((n, h.finalize().iter().map(|b| format!("{b:02x}")).collect()))
}

/// Everything read and checked, ready to settle.
pub struct Loaded {
    pub claim_files: Vec<PathBuf>,
    pub persons_file: PathBuf,
    pub persons: PersonsRead,
    pub claims: ClaimsRead,
    pub prepared: Prepared,
    pub files: Vec<FileInfo>,
    /// The nightly state and run this run is (recorded in the manifest).
    pub state: Option<StateRun>,
}

/// A run applied to a nightly state (`settle --state`).
#[derive(Clone, Debug, Serialize)]
pub struct StateRun {
    pub db: String,
    pub run_id: i64,
}

impl Loaded {
    /// Input file names by index (claims files first, then the persons file).
    pub fn file_names(&self) -> Vec<String> {
        self.claim_files.iter().chain([&self.persons_file]).map(|p| p.display().to_string()).collect()
    }

    /// Input file name by index (claims files first, then the persons file).
    pub fn file_name(&self, i: u16) -> String {
        let i = i as usize;
        if i < self.claim_files.len() { self.claim_files[i].display().to_string() } else { self.persons_file.display().to_string() }
    }

    /// Every rejected row (reading, persons, whole-input checks), in file and line order.
    pub fn reject_rows(&self) -> Vec<RejectRow> {
        let t = &self.claims.table;
        let mut all: Vec<RejectRow> = self.claims.rejects.clone();
        all.extend(self.prepared.rejects.iter().map(|r| reject_row(t, r)));
        all.extend(self.persons.rejects.iter().cloned());
        all.sort_by_key(|r| (r.file, r.line));
        all
    }

    /// `--strict`: an error naming the first rejected row when any row was rejected (`what`
    /// says what was not done).
    pub fn refuse_rejects(&self, what: &str) -> Result<()> {
        refuse_rows(&self.reject_rows(), &|i| self.file_name(i), what)
    }

    /// Claim rows rejected (not persons rows).
    pub fn claim_rejects(&self) -> u64 {
        (self.claims.rejects.len() + self.prepared.rejects.len()) as u64
    }
}

/// `--strict`: an error naming the first of `rejects` (in file and line order; `name` gives
/// a file's name by index) when there is one (`what` says what was not done).
pub fn refuse_rows(rejects: &[RejectRow], name: &dyn Fn(u16) -> String, what: &str) -> Result<()> {
    match rejects.first() {
        None => Ok(()),
        Some(first) => bail!(
            "--strict: {} row(s) rejected, {what}; first: {} line {} setl_id {}: {}",
            rejects.len(),
            name(first.file),
            first.line,
            first.setl_id,
            first.reason()
        ),
    }
}

/// Reads and checks the inputs under the given policies.
pub fn load(claim_files: &[PathBuf], persons_file: &Path, policies: &PolicySet) -> Result<Loaded> {
    load_spooling(claim_files, persons_file, policies, None)
}

/// [`load`], the claims' text ids going to `ids` as they are read (for [`spool_ids`]).
pub fn load_spooling(claim_files: &[PathBuf], persons_file: &Path, policies: &PolicySet, ids: Option<&IdsSpooler>) -> Result<Loaded> {
    let history = |(), _: Option<&read::ClaimKeys>, _: &ClaimsRead, _: &PersonsRead| Ok((History::default(), ()));
    Ok(load_after(claim_files, persons_file, policies, false, ids, |_| Ok(()), history)?.0)
}

/// [`load`] for a run continuing a nightly state. With `named_persons_only`, the claims'
/// keys are read first ([`read::claim_keys`]: Parquet claims, fewer than the persons); then
/// `ahead` is given them on a second thread (the state is looked up while the persons file is
/// read), and only the persons rows the claims name are checked and kept. Once the inputs
/// are read, `history` gets what `ahead` returned, the keys, and the inputs, and returns what
/// the state holds about them (their setl_ids, their persons' latest claims). With `ids`,
/// the claims' text ids go to it as they are read.
pub fn load_after<A: Send>(
    claim_files: &[PathBuf],
    persons_file: &Path,
    policies: &PolicySet,
    named_persons_only: bool,
    ids: Option<&IdsSpooler>,
    ahead: impl FnOnce(Option<&read::ClaimKeys>) -> Result<A> + Send,
    history: impl FnOnce(A, Option<&read::ClaimKeys>, &ClaimsRead, &PersonsRead) -> Result<(History, A)>,
) -> Result<(Loaded, A)> {
    if claim_files.is_empty() {
        bail!("no --claims file given");
    }
    let persons_index = u16::try_from(claim_files.len()).context("too many input files")?;
    let mut timer = Timer::new();
    let hashes = InputHashes::start(claim_files, persons_file);
    let aliases = read::aliases_of(policies);
    let keys = if named_persons_only { read::claim_keys(claim_files, persons_file) } else { None };
    timer.mark("read the claims' keys");
    let only = keys.as_ref().map(|k| k.psn_nos.clone());
    let pb = progress::reading_persons(persons_file, "persons");
    let (persons, early) = std::thread::scope(|s| {
        let early = s.spawn(|| ahead(keys.as_ref()));
        let persons = read::read_persons_only(persons_file, persons_index, &aliases, only, &|n| progress::grow(&pb, n));
        (persons, early.join())
    });
    pb.finish_and_clear();
    let persons = persons?;
    let early = early.map_err(|_| anyhow::anyhow!("internal: the look-up beside the persons read stopped"))??;
    timer.mark("read persons (and look ahead)");
    let pb = progress::reading(claim_files, "reading");
    let claims = read::read_claims(claim_files, &persons, &aliases, &|n| progress::grow(&pb, n), ids)?;
    pb.finish_and_clear();
    timer.mark("read claims");
    let mut claims = claims;
    let (history, early) = history(early, keys.as_ref(), &claims, &persons)?;
    timer.mark("history");
    let pb = progress::steps(crate::intake::PREPARE_STEPS, "checking");
    let prepared = crate::intake::prepare_after(&mut claims.table, &persons.table, policies, &history, &|| pb.inc(1));
    pb.finish_and_clear();
    timer.mark("prepare");
    let files = hashes.finish(claim_files, &claims.rows, persons_file, persons.rows)?;
    timer.mark("hash inputs (the rest)");
    Ok((
        Loaded {
            claim_files: claim_files.to_vec(),
            persons_file: persons_file.to_path_buf(),
            persons,
            claims,
            prepared,
            files,
            state: None,
        },
        early,
    ))
}

/// Moves the claims' text ids (setl_id, mdtrt_id: 435 MiB of a 10.36M-claim year, the
/// largest part of a batch run's memory after the claims and the settlements) to the files of
/// `ids`, once the whole-input checks that compare them are done: `ids` wrote them as they
/// were read ([`load_spooling`]; what it was not given, it writes now). What still reads ids
/// in memory keeps them: the kernel the mdtrt_id of a claim that may open an admission (S-04/
/// S-05, [`engine::classify::may_open_admission`]), the rejects a refused claim's setl_id,
/// a reversal its init_setl_id. The settlements writer reads the rest back a piece at a time
/// ([`tables::write_settlements`]). The files are [`crate::io::scratch::ScratchFile`]s:
/// their space goes back when the run ends, killed or not. On an error the ids stay in memory.
pub fn spool_ids(loaded: &mut Loaded, ids: IdsSpooler) -> Result<()> {
    let mut timer = Timer::new();
    let w = ids.finish()?;
    timer.mark("ids written by the read");
    let t = &loaded.claims.table;
    // Listed in parallel (in order): a pass over every claim.
    let mut keep: Vec<_> =
        t.claims.par_iter().with_min_len(1 << 14).filter(|c| engine::classify::may_open_admission(c)).map(|c| c.mdtrt_id).collect();
    keep.extend(loaded.prepared.rejects.iter().map(|r| t.claims[r.claim as usize].setl_id));
    keep.extend(t.reversals.iter().map(|r| r.init_setl_id));
    loaded.claims.table.strings.spool(w, keep)?;
    timer.mark("spool ids");
    Ok(())
}

/// Settles what was loaded (the policies may differ from those used to load, e.g. scenarios
/// that change only parameters).
pub fn settle(loaded: &Loaded, policies: &PolicySet) -> Settled {
    settle_from(loaded, policies, None)
}

/// [`settle`] continuing each person from a nightly state's `carries`
/// ([`engine::settle_all_from`]).
pub fn settle_from(loaded: &Loaded, policies: &PolicySet, carries: Option<&mut [engine::Carry]>) -> Settled {
    let n = loaded.prepared.order.len() as u64;
    let mut timer = Timer::new();
    let pb = progress::bar(n, "settling");
    let t = &loaded.claims.table;
    let s = engine::settle_all_from(t, &loaded.persons.table, &loaded.prepared, policies, carries, &|k| pb.inc(k), None);
    pb.finish_and_clear();
    timer.mark("settle");
    s
}

pub fn counts(loaded: &Loaded, settled: &Settled) -> Counts {
    let mut c = Counts {
        read: loaded.claims.rows.iter().sum(),
        rejected: loaded.claim_rejects(),
        persons_read: loaded.persons.rows,
        persons_rejected: loaded.persons.rejects.len() as u64,
        person_years: settled.person_years.len() as u64,
        ..Counts::default()
    };
    c.add_statuses(settled);
    c
}

/// A whole-input refusal (of a claim of `table`) as a row of `rejects.csv`.
pub fn reject_row(table: &ClaimTable, r: &Reject) -> RejectRow {
    let c = &table.claims[r.claim as usize];
    RejectRow { file: c.file, line: c.line as u64, setl_id: table.setl_id(c).to_string(), code: r.code, message: r.message.clone() }
}

/// A file's size in bytes and its SHA-256 (hex).
type Sized256 = (u64, String);

/// The inputs' sizes and SHA-256 as the manifest records them, taken on a thread of its own
/// from the start of a run: reading and checking leave part of a core idle, and a 1.2 GB CSV
/// takes a second to hash. Dropped unfinished (a run that stops early), it stops hashing.
pub struct InputHashes {
    thread: Option<std::thread::JoinHandle<Result<Vec<Sized256>>>>,
    stop: Arc<AtomicBool>,
}

impl InputHashes {
    /// Starts hashing the claims files, then the persons file.
    pub fn start(claim_files: &[PathBuf], persons_file: &Path) -> InputHashes {
        let paths: Vec<PathBuf> = claim_files.iter().cloned().chain([persons_file.to_path_buf()]).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let halt = stop.clone();
        let thread = std::thread::spawn(move || paths.iter().map(|p| sha256_file_until(p, &halt)).collect());
        InputHashes { thread: Some(thread), stop }
    }

    /// The inputs as the manifest records them, with the rows each held.
    pub fn finish(mut self, claim_files: &[PathBuf], rows: &[u64], persons_file: &Path, persons_rows: u64) -> Result<Vec<FileInfo>> {
        let Some(thread) = self.thread.take() else { bail!("internal: the inputs were hashed already") };
        let hashes = thread.join().map_err(|_| anyhow::anyhow!("internal: hashing the inputs stopped"))??;
        let rows = rows.iter().chain([&persons_rows]);
        Ok(claim_files
            .iter()
            .map(PathBuf::as_path)
            .chain([persons_file])
            .zip(hashes)
            .zip(rows)
            .map(|((p, (bytes, sha256)), &rows)| FileInfo { path: p.display().to_string(), bytes, sha256, rows })
            .collect())
    }
}

impl Drop for InputHashes {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[derive(Serialize)]
struct PolicyInfo<'a> {
    id: &'a str,
    origin: &'a str,
    overrides: &'a [String],
    text_sha256: &'a str,
    effective_sha256: &'a str,
}

#[derive(Serialize)]
struct OutputInfo {
    name: String,
    bytes: u64,
    sha256: String,
}

#[derive(Serialize)]
struct Manifest<'a> {
    tool: &'static str,
    version: &'static str,
    command: &'a str,
    format: &'static str,
    inputs: &'a [FileInfo],
    policies: Vec<PolicyInfo<'a>>,
    counts: Counts,
    reconciles: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'a StateRun>,
    outputs: Vec<OutputInfo>,
}

/// Writes every output of a settle run into `dir` as one committed set; returns the counts.
#[allow(clippy::too_many_arguments)]
pub fn write_outputs(
    dir: &Path,
    format: Format,
    loaded: &Loaded,
    policies: &PolicySet,
    settled: &Settled,
    command: &str,
    title: &str,
    lang: Lang,
) -> Result<Counts> {
    let mut out = OutputDir::new(dir)?;
    let c = write_outputs_into(&mut out, None, format, loaded, policies, settled, command, title, lang)?;
    out.commit()?;
    Ok(c)
}

/// Writes the outputs of a settle run into `out` (under `sub/` when given), its
/// `manifest.json` listing the files written there so far; the caller commits. Files the
/// command wrote there before (replay's discrepancies) are listed in the manifest too.
#[allow(clippy::too_many_arguments)]
pub fn write_outputs_into(
    out: &mut OutputDir,
    sub: Option<&str>,
    format: Format,
    loaded: &Loaded,
    policies: &PolicySet,
    settled: &Settled,
    command: &str,
    title: &str,
    lang: Lang,
) -> Result<Counts> {
    let mut timer = Timer::new();
    out.set_prefix(sub);
    let out = &mut *out;
    let t = &loaded.claims.table;
    let persons = &loaded.persons.table;
    let pb = progress::bar(settled.sorted.len() as u64, "writing");
    // The fund report, the monthly totals and the counts are computed while the tables are
    // written, filling the gaps the writing leaves in the pool (a serial pass over a year's
    // settlements after it left a core idle).
    let (written, totals) = rayon::join(
        || -> Result<()> {
            tables::write_settlements(out, format, t, persons, policies, settled, &|k| pb.inc(k))?;
            tables::write_person_years(out, format, persons, policies, &settled.person_years)
        },
        || {
            let (mut fund, by_month) = fund::expenditure_and_months(t, persons, settled);
            let missing_base = fund::income(persons, policies, t, &mut fund);
            let mut totals = Totals {
                counts: counts(loaded, settled),
                fund,
                missing_base,
                by_month,
                not_covered: BTreeMap::new(),
                rejects: loaded.reject_rows(),
            };
            totals.add_reasons(settled);
            totals
        },
    );
    // The bar stays, full, while the person-years and the fund report are finished.
    pb.finish_and_clear();
    written?;
    timer.mark("write tables, fund report");
    let run = RunInfo {
        loaded_files: &loaded.files,
        file_names: loaded.file_names(),
        state: loaded.state.as_ref(),
        persons,
        years: &settled.person_years,
    };
    write_rest(out, sub, format, &run, policies, &totals, command, title, lang)
}

/// What the fund report, the rejects, the human reports and the manifest of a run are made
/// of, summed while its settlements are written (in one piece, or a part at a time).
#[derive(Default)]
pub struct Totals {
    pub counts: Counts,
    /// expenditure and income
    pub fund: FundReport,
    /// person-years left out of the income for a missing contribution base
    pub missing_base: u64,
    pub by_month: ByMonth,
    /// not-covered claims by reason
    pub not_covered: BTreeMap<String, u64>,
    /// every rejected row, in file and line order
    pub rejects: Vec<RejectRow>,
}

impl Totals {
    /// Counts the not-covered reasons of `settled`.
    pub fn add_reasons(&mut self, settled: &Settled) {
        let reasons = settled
            .sorted
            .par_chunks(1 << 16)
            .fold(BTreeMap::<NotCoveredReason, u64>::new, |mut m, piece| {
                for r in piece.iter().filter_map(|s| s.reason) {
                    *m.entry(r).or_default() += 1;
                }
                m
            })
            .reduce(BTreeMap::new, |mut a, b| {
                for (r, n) in b {
                    *a.entry(r).or_default() += n;
                }
                a
            });
        for (r, n) in reasons {
            *self.not_covered.entry(r.to_string()).or_default() += n;
        }
    }
}

/// The run's inputs and person-years, as the reports and the manifest name them.
pub struct RunInfo<'a> {
    pub loaded_files: &'a [FileInfo],
    /// input file names by index (claims files, then the persons file)
    pub file_names: Vec<String>,
    pub state: Option<&'a StateRun>,
    pub persons: &'a PersonTable,
    pub years: &'a [PersonYear],
}

/// The files [`write_rest`] writes: fund_report.csv, rejects.csv, report.md, report.html,
/// report.xlsx, manifest.json (a step each of its progress bar).
const REPORT_FILES: u64 = 6;

/// Writes everything but the two tables: `fund_report.csv`, `rejects.csv`, the human reports
/// and `manifest.json` (under `sub/` when given); returns the counts.
#[allow(clippy::too_many_arguments)]
pub fn write_rest(
    out: &mut OutputDir,
    sub: Option<&str>,
    format: Format,
    run: &RunInfo,
    policies: &PolicySet,
    totals: &Totals,
    command: &str,
    title: &str,
    lang: Lang,
) -> Result<Counts> {
    let mut timer = Timer::new();
    let pb = progress::steps(REPORT_FILES, "reports");
    let dir = out.dir().join(sub.unwrap_or(""));
    out.set_prefix(sub);
    out.write_file("fund_report.csv", fund::to_csv(&totals.fund, policies)?.as_bytes())?;
    pb.inc(1);

    let mut w = out.create("rejects.csv")?;
    {
        let named = |e: csv::Error| anyhow::anyhow!("cannot write {}: {e}", dir.join("rejects.csv").display());
        let mut cw = csv::Writer::from_writer(&mut w);
        cw.write_record(["source_file", "row", "setl_id", "reason"]).map_err(named)?;
        let name = |i: u16| run.file_names.get(i as usize).map(String::as_str).unwrap_or("");
        for r in &totals.rejects {
            cw.write_record([name(r.file), r.line.to_string().as_str(), r.setl_id.as_str(), r.reason().as_str()]).map_err(named)?;
        }
        cw.flush().map_err(|e| named(e.into()))?;
    }
    w.finish()?;
    pb.inc(1);

    let counts = totals.counts;
    let mut reject_codes: BTreeMap<String, u64> = BTreeMap::new();
    for r in &totals.rejects {
        *reject_codes.entry(r.code.to_string()).or_default() += 1;
    }
    let input = ReportInput {
        title,
        counts,
        fund: &totals.fund,
        policies,
        persons: run.persons,
        years: run.years,
        by_month: &totals.by_month,
        reject_codes,
        not_covered_reasons: totals.not_covered.clone(),
        missing_contribution_base: totals.missing_base,
    };
    let mut manifest = Manifest {
        tool: "medsettle",
        version: env!("CARGO_PKG_VERSION"),
        command,
        format: format.ext(),
        inputs: run.loaded_files,
        policies: policies
            .policies
            .iter()
            .map(|p| PolicyInfo {
                id: &p.policy.id,
                origin: &p.origin,
                overrides: &p.overrides,
                text_sha256: &p.text_sha256,
                effective_sha256: &p.effective_sha256,
            })
            .collect(),
        counts,
        reconciles: counts.reconciles(),
        state: run.state,
        outputs: Vec::new(),
    };
    // The human reports show the manifest without the outputs (which include the reports).
    let mut shown = serde_json::to_value(&manifest)?;
    if let Some(o) = shown.as_object_mut() {
        o.remove("outputs");
    }
    // The two renderings (each a few passes over the person-years) side by side.
    let (md, doc) = rayon::join(|| markdown::render(&input), || settlement::document(&input, &shown, lang));
    out.write_file("report.md", md.as_bytes())?;
    pb.inc(1);
    out.write_file("report.html", html::render(&doc).as_bytes())?;
    pb.inc(1);
    out.write_file("report.xlsx", &xlsx::render(&doc)?)?;
    pb.inc(1);
    timer.mark("rejects, reports");

    // Digests were taken while writing.
    manifest.outputs = out.files(sub)?.into_iter().map(|(name, bytes, sha256)| OutputInfo { name, bytes, sha256 }).collect();
    out.write_file("manifest.json", serde_json::to_string_pretty(&manifest)?.as_bytes())?;
    pb.finish_and_clear();
    out.set_prefix(None);
    timer.mark("manifest");
    Ok(counts)
}

#[derive(Serialize)]
struct SetManifest<'a> {
    tool: &'static str,
    version: &'static str,
    command: &'a str,
    outputs: Vec<OutputInfo>,
}

/// Writes `manifest.json` at the top of a set (`scenario`, `generate`): every file of the set
/// with its size and SHA-256.
pub fn write_set_manifest(out: &mut OutputDir, command: &str) -> Result<()> {
    let outputs = out.files(None)?.into_iter().map(|(name, bytes, sha256)| OutputInfo { name, bytes, sha256 }).collect();
    let m = SetManifest { tool: "medsettle", version: env!("CARGO_PKG_VERSION"), command, outputs };
    out.write_file("manifest.json", serde_json::to_string_pretty(&m)?.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lap measures from the clock's point to now, then starts again there: a sleep counts
    /// its wall time, and the lap after it starts from its end. (Its CPU is the process's,
    /// which the tests running beside this one spend too.)
    #[test]
    fn a_clock_laps_from_its_last_point() {
        let mut c = Clock::start();
        std::thread::sleep(std::time::Duration::from_millis(30));
        let slept = c.lap();
        assert!(slept.wall >= std::time::Duration::from_millis(30), "{slept:?}");
        let next = c.lap();
        assert!(next.wall < slept.wall, "{next:?} after {slept:?}");
        let mut sum = Spent::default();
        sum += slept;
        sum += next;
        assert_eq!(sum.wall, slept.wall + next.wall);
        assert_eq!(sum.cpu, slept.cpu + next.cpu);
    }

    /// Every output file of the sample, written with the claims' ids spooled (settled from
    /// the kept mdtrt_ids, written a few rows a piece in unit tests), is the same byte for
    /// byte as with the ids in memory: whether the ids were written as they were read or
    /// all at the spool.
    #[test]
    fn spooled_ids_give_the_same_outputs() -> Result<()> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data");
        let policies = PolicySet::assemble(&[], &[])?;
        let tmp = tempfile::tempdir()?;
        for (format, fed) in [(Format::Csv, true), (Format::Parquet, true), (Format::Csv, false)] {
            let ids = IdsSpooler::start(tmp.path())?;
            let mut loaded = load_spooling(&[root.join("claims.csv")], &root.join("persons.csv"), &policies, fed.then_some(&ids))?;
            let settled = settle(&loaded, &policies);
            let kept = tmp.path().join(format!("kept-{}-{fed}", format.ext()));
            write_outputs(&kept, format, &loaded, &policies, &settled, "settle", "t", Lang::En)?;
            spool_ids(&mut loaded, ids)?;
            assert!(loaded.claims.table.strings.is_spooled());
            let settled = settle(&loaded, &policies);
            let spooled = tmp.path().join(format!("spooled-{}-{fed}", format.ext()));
            write_outputs(&spooled, format, &loaded, &policies, &settled, "settle", "t", Lang::En)?;
            let mut names: Vec<_> = std::fs::read_dir(&kept)?.map(|e| e.map(|e| e.file_name())).collect::<std::io::Result<_>>()?;
            names.sort();
            assert!(names.len() >= 8, "{names:?}");
            for name in names {
                assert!(std::fs::read(kept.join(&name))? == std::fs::read(spooled.join(&name))?, "{name:?} differs");
            }
        }
        // The spool files were unlinked at once: only the two output folders of each run.
        assert_eq!(std::fs::read_dir(tmp.path())?.count(), 6);
        Ok(())
    }
}
