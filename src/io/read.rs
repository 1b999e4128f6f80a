//! Reading the input files into intake (CONTRACT.md §1–2): CSV batches and Parquet record
//! batches go to the same row rules ([`crate::intake`]); this module only walks the files.

use super::csv::read::{read_csv, read_csv_windows};
use super::parquet::read::{parquet_row_groups, read_parquet_group, read_parquet_group_rows};
use super::scratch::IdsSpooler;
use super::source::{is_parquet, tune_allocator};
use crate::intake::{
    Aliases, ArrowBatch, Batch, CLAIMS, ClaimIntake, LINE_COLUMN, PERSONS, Part, PersonBatches, named_persons, read_person_batch,
};
pub use crate::intake::{ClaimsRead, PersonsRead, RejectRow, aliases_of};
use anyhow::{Context, Result, bail};
use arrow::array::RecordBatch;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, mpsc};

/// One input table: a CSV or Parquet file, or Arrow record batches already in memory (named
/// for messages, e.g. `claims table`). Both go through the same intake.
#[derive(Clone, Debug)]
pub enum Input {
    File(PathBuf),
    Arrow { name: String, batches: Vec<RecordBatch> },
}

impl Input {
    /// The file path or the table's name, for messages and rejects.
    pub fn name(&self) -> String {
        match self {
            Input::File(p) => p.display().to_string(),
            Input::Arrow { name, .. } => name.clone(),
        }
    }
}

/// All claims of the given files (CSV or Parquet, mixed), in file then row order. With
/// `ids`, each chunk's text ids go to it once appended (written to a file as the read goes).
pub fn read_claims(
    files: &[PathBuf],
    persons: &PersonsRead,
    aliases: &Aliases,
    progress: &(dyn Fn(u64) + Sync),
    ids: Option<&IdsSpooler>,
) -> Result<ClaimsRead> {
    let inputs: Vec<Input> = files.iter().map(|p| Input::File(p.clone())).collect();
    read_claim_inputs(&inputs, persons, aliases, progress, ids)
}

/// [`read_claims`] from files or in-memory Arrow tables ([`ClaimIntake::arrow`], as Parquet).
pub fn read_claim_inputs(
    inputs: &[Input],
    persons: &PersonsRead,
    aliases: &Aliases,
    progress: &(dyn Fn(u64) + Sync),
    ids: Option<&IdsSpooler>,
) -> Result<ClaimsRead> {
    let mut out = ClaimsRead::default();
    let mut table = std::mem::take(&mut out.table);
    let mut rejects = Vec::new();
    // Claims a file is expected to hold beyond those appended, until its first claims come:
    // their strings then size the text arena for the rest (grown by doubling, it touched and
    // copied up to twice its final size).
    let mut expected = 0usize;
    out.rows = stream_claim_inputs(inputs, persons, aliases, progress, &Ok, &mut |parts: Vec<Part>, reserve: usize| {
        let _ = table.claims.try_reserve(reserve);
        expected = expected.max(reserve);
        let (claims, strings, bytes) = (table.claims.len(), table.strings.len(), table.strings.text_len());
        for (t, r) in parts {
            match ids {
                Some(w) => w.add(table.append_giving_ids(t)),
                None => table.append(t),
            }
            rejects.extend(r);
        }
        let added = table.claims.len() - claims;
        if expected > 0 && added > 0 {
            let rest = expected.saturating_sub(added);
            // The first claims' ids are no exact measure of the rest's: with room to spare.
            let per = |total: usize| with_room(((total as u128 * rest as u128) / added as u128).min(usize::MAX as u128) as usize);
            table.strings.reserve(per(table.strings.len() - strings), per(table.strings.text_len() - bytes));
            expected = 0;
        }
        Ok(())
    })?;
    out.table = table;
    out.rejects = rejects;
    Ok(out)
}

/// An estimated capacity with a sixteenth to spare. An estimate short by a single row made
/// the claims (or their text arena) grow by doubling at the very end of the read, copying all
/// of them (1 GB per 10M claims) on one thread into fresh pages; capacity never touched costs
/// no memory.
fn with_room(estimate: usize) -> usize {
    estimate.saturating_add(estimate / 16)
}

/// Checked claims go to a read's `prep` (for a spilled run: encoded and compressed into one
/// frame per partition) in runs of at least this many rows: the batches Parquet decodes are
/// smaller ([`super::parquet::read::BATCH_ROWS`]), and frames of a few hundred claims
/// compress worse and cost more per claim.
const PREP_ROWS: usize = 64 * 1024;

/// The checked claims of the inputs as they are read, a few batches at a time, in file then
/// row order: each run of parts goes through `prep` on the read's own threads (in parallel,
/// in no order), then what it made goes to `sink` in input order (with a hint of how many
/// claims the file holds, 0 when unknown); the rows read per file are returned. Nothing
/// holds the whole input.
///
/// A Parquet file's row groups are streamed: each thread of the pool takes the next group;
/// its runs reach the sink, on a thread of its own, as soon as every row before them has
/// ([`stream_parquet_groups`]). A CSV file is read a window of chunks at a time, split and
/// checked in parallel beside the sink's work on the previous window.
pub fn stream_claim_inputs<T: Send>(
    inputs: &[Input],
    persons: &PersonsRead,
    aliases: &Aliases,
    progress: &(dyn Fn(u64) + Sync),
    prep: &(dyn Fn(Vec<Part>) -> Result<T> + Sync),
    sink: &mut (dyn FnMut(T, usize) -> Result<()> + Send),
) -> Result<Vec<u64>> {
    tune_allocator();
    let mut out_rows = Vec::with_capacity(inputs.len());
    let intake = ClaimIntake::new(persons, aliases);
    let intake = &intake;
    for (fi, input) in inputs.iter().enumerate() {
        let file = u16::try_from(fi).context("too many input files (at most 65535)")?;
        let source = input.name();
        let source = source.as_str();
        let mut rows = 0u64;
        let path = match input {
            Input::File(path) => path,
            Input::Arrow { batches, .. } => {
                for b in batches {
                    progress(b.num_rows() as u64);
                    sink(prep(intake.arrow(b, file, rows + 1, source)?)?, 0)?;
                    rows += b.num_rows() as u64;
                }
                out_rows.push(rows);
                continue;
            }
        };
        if is_parquet(path) {
            let groups = parquet_row_groups(path, CLAIMS)?;
            // A hint only: the declared row counts of a corrupt file can be absurd, so they are
            // summed without overflow, bounded by the file's size, and a refused reservation
            // is no error (the rows are counted as decoded, below).
            let declared = groups.iter().fold(0u64, |a, g| a.saturating_add(g.2));
            let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            let reserve = usize::try_from(declared.min(bytes)).unwrap_or(0);
            stream_parquet_groups(path, &groups, file, source, intake, progress, prep, sink, reserve)?;
            rows += declared;
        } else {
            // The CSV text is read on its own thread; each window of chunks is split, checked
            // and prepared in parallel while the previous one is sunk.
            let mut pending: Vec<T> = Vec::new();
            // A hint only, from the mean length of the first lines (0 when unknown; on the
            // 10.36M claims 0.25% short), with room to spare.
            let mut reserve =
                super::source::expected_rows(std::slice::from_ref(path)).and_then(|n| usize::try_from(n).ok()).map_or(0, with_room);
            read_csv_windows(path, CLAIMS, |batches| {
                let n: u64 = batches.iter().map(|b| b.len() as u64).sum();
                rows += n;
                progress(n);
                let (parts, appended) = rayon::join(
                    || batches.par_iter().map(|b| prep(intake.rows(b, file))).collect::<Result<Vec<T>>>(),
                    || sink_all(sink, std::mem::take(&mut pending), &mut reserve),
                );
                appended?;
                pending = parts?;
                Ok(())
            })?;
            sink_all(sink, pending, &mut reserve)?;
        }
        out_rows.push(rows);
    }
    Ok(out_rows)
}

/// Runs prepared ahead, to the sink in order; the size hint goes with the first (and stays
/// for a later call when there is none).
fn sink_all<T>(sink: &mut (dyn FnMut(T, usize) -> Result<()> + Send), pending: Vec<T>, reserve: &mut usize) -> Result<()> {
    for t in pending {
        sink(t, std::mem::take(reserve))?;
    }
    Ok(())
}

/// `read` counts the rows of a Parquet file's metadata; a row group whose pages hold another
/// number of rows is corrupt, and counting either number would break read = settled + … +
/// rejected.
fn rows_as_declared(source: &str, group: usize, declared: u64, decoded: u64) -> Result<()> {
    if decoded != declared {
        bail!("{source}: not a readable Parquet file (row group {group} declares {declared} rows but holds {decoded})");
    }
    Ok(())
}

/// One Parquet file's row groups `(group, first record, rows)`, streamed to the sink: each
/// thread of the pool takes the next group, checks and prepares its batches, and sends them to
/// the sink's thread, which sinks the oldest unfinished group's at once and holds a later
/// group's until every group before it is done. A thread takes a group only while fewer
/// groups than the pool has threads (two at least) are unfinished, the oldest included, so
/// few groups' parts wait at a time and no thread waits for the slowest group of a window.
#[allow(clippy::too_many_arguments)]
fn stream_parquet_groups<T: Send>(
    path: &Path,
    groups: &[(usize, u64, u64)],
    file: u16,
    source: &str,
    intake: &ClaimIntake,
    progress: &(dyn Fn(u64) + Sync),
    prep: &(dyn Fn(Vec<Part>) -> Result<T> + Sync),
    sink: &mut (dyn FnMut(T, usize) -> Result<()> + Send),
    reserve: usize,
) -> Result<()> {
    /// A decoded batch's parts (prepared), or the end of a group (with its decoding's outcome).
    enum Msg<T> {
        Parts(usize, T),
        Done(usize, Result<()>),
    }
    /// A group's parts come before it is the oldest unfinished one, and its decoding's outcome.
    struct Held<T> {
        parts: Vec<T>,
        done: Option<Result<()>>,
    }
    impl<T> Default for Held<T> {
        fn default() -> Self {
            Held { parts: Vec::new(), done: None }
        }
    }
    /// The groups handed out and sunk; `stop` once the sink has ended (done or failed).
    struct Gate {
        next: usize,
        head: usize,
        stop: bool,
    }
    // Groups handed out beyond the oldest unfinished one: twice the workers, so that a worker
    // done with its group while another's is slow goes on to the next instead of waiting at
    // the gate. With one a worker, the 100M year's read (spilled) kept its 2 cores 88–92%
    // busy and took 61.5 and 56.7 s; with two, 97% and 54.1 and 52.7 s. Groups done early
    // wait for the sink, a few at most.
    let ahead = rayon::current_num_threads().max(2) * 2;
    let gate = (Mutex::new(Gate { next: 0, head: 0, stop: false }), Condvar::new());
    let lock = || gate.0.lock().unwrap_or_else(|e| e.into_inner());
    let (tx, rx) = mpsc::channel::<Msg<T>>();
    std::thread::scope(|s| {
        // The sink's thread: the parts of the oldest unfinished group go straight in; a later
        // group's parts wait until every group before it is done.
        let sunk = s.spawn(|| -> Result<()> {
            // However the sink's thread ends (done, failed, or a panic of the sink), the
            // workers waiting at the gate are let go.
            struct Release<'a>(&'a (Mutex<Gate>, Condvar));
            impl Drop for Release<'_> {
                fn drop(&mut self) {
                    self.0.0.lock().unwrap_or_else(|e| e.into_inner()).stop = true;
                    self.0.1.notify_all();
                }
            }
            let _release = Release(&gate);
            let mut reserve = reserve;
            let mut held: BTreeMap<usize, Held<T>> = BTreeMap::new();
            let mut head = 0;
            for msg in rx {
                match msg {
                    Msg::Parts(g, parts) if g == head => sink(parts, std::mem::take(&mut reserve))?,
                    Msg::Parts(g, parts) => held.entry(g).or_default().parts.push(parts),
                    Msg::Done(g, r) => held.entry(g).or_default().done = Some(r),
                }
                // The head is done: the next group's held parts go in, and so on.
                let before = head;
                while let Some(h) = held.get_mut(&head) {
                    sink_all(sink, std::mem::take(&mut h.parts), &mut reserve)?;
                    match h.done.take() {
                        None => break,
                        Some(r) => {
                            r?;
                            held.remove(&head);
                            head += 1;
                        }
                    }
                }
                if head != before {
                    lock().head = head;
                    gate.1.notify_all();
                }
            }
            if head != groups.len() {
                bail!("internal: {} of {} row groups of {source} reached the claims", head, groups.len());
            }
            Ok(())
        });
        // One worker on every thread of the pool (a broadcast: no thread runs two, so none
        // waits at the gate above a group of its own left unfinished).
        rayon::broadcast(|_| {
            let tx = tx.clone();
            loop {
                let g = {
                    let mut st = lock();
                    loop {
                        if st.stop || st.next >= groups.len() {
                            return;
                        }
                        if st.next < st.head + ahead {
                            st.next += 1;
                            break st.next - 1;
                        }
                        st = gate.1.wait(st).unwrap_or_else(|e| e.into_inner());
                    }
                };
                let (group, first, declared) = groups[g];
                // A panic while checking a group is that group's error: a group never done
                // would leave the sink and the other workers waiting for it.
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let mut decoded = 0u64;
                    // Each decoded batch is checked at once, while its columns are in the
                    // CPU's caches; the checked parts go to `prep` a run of batches at a time
                    // (a spilled run's frames as large as with 64K-row batches).
                    let mut run: Vec<Part> = Vec::new();
                    let mut run_rows = 0;
                    // A closed channel: the sink has ended, and this group is not wanted.
                    let send = |run: Vec<Part>| {
                        let parts = prep(run)?;
                        tx.send(Msg::Parts(g, parts)).map_err(|_| anyhow::anyhow!("the claims' sink has ended"))
                    };
                    read_parquet_group(path, CLAIMS, group, first, |b, first| {
                        progress(b.num_rows() as u64);
                        decoded += b.num_rows() as u64;
                        run.extend(intake.arrow(b, file, first, source)?);
                        run_rows += b.num_rows();
                        if run_rows >= PREP_ROWS {
                            run_rows = 0;
                            send(std::mem::take(&mut run))?;
                        }
                        Ok(())
                    })
                    .and_then(|()| if run.is_empty() { Ok(()) } else { send(std::mem::take(&mut run)) })
                    .and_then(|()| rows_as_declared(source, group, declared, decoded))
                }))
                .unwrap_or_else(|_| Err(anyhow::anyhow!("internal: checking row group {group} of {source} failed")));
                if tx.send(Msg::Done(g, r)).is_err() {
                    return;
                }
            }
        });
        drop(tx);
        sunk.join().unwrap_or_else(|_| Err(anyhow::anyhow!("internal: the claims' sink stopped")))
    })
}

/// The persons file (CSV or Parquet).
pub fn read_persons(path: &Path, file: u16, aliases: &Aliases) -> Result<PersonsRead> {
    read_persons_input(&Input::File(path.to_path_buf()), file, aliases)
}

/// The keys of a night's claims, read from their own columns before the claims themselves:
/// the persons they name and the setl_ids and init_setl_ids they carry (trimmed, non-empty).
/// The persons file is then read for those persons only, while the state is looked up for
/// the keys on another thread.
#[derive(Debug, Default)]
pub struct ClaimKeys {
    pub psn_nos: std::collections::HashSet<String>,
    pub ids: std::collections::HashSet<String>,
}

/// [`ClaimKeys`] of the claims files, when every file and the persons file are Parquet and
/// the claims have fewer rows than the persons file (a night's few thousand claims against a
/// city's million persons; collecting the names of a whole year's claims costs more than
/// reading every person, as a batch does). `None` otherwise or on any problem (the full read
/// reports it). The keys are read as text the way a cast reads them; a key the checked read
/// spells otherwise is looked up after it (see `pipeline::load_after`).
pub fn claim_keys(files: &[PathBuf], persons: &Path) -> Option<ClaimKeys> {
    if !is_parquet(persons) || !files.iter().all(|f| is_parquet(f)) {
        return None;
    }
    let rows =
        |f: &Path, cols: &[crate::intake::Column]| -> Option<u64> { Some(parquet_row_groups(f, cols).ok()?.iter().map(|g| g.2).sum()) };
    let claim_rows = files.iter().map(|f| rows(f, CLAIMS)).sum::<Option<u64>>()?;
    if claim_rows >= rows(persons, PERSONS)? {
        return None;
    }
    let col = |name: &str| CLAIMS.iter().find(|c| c.name == name).cloned();
    let cols = [col("psn_no")?, col("setl_id")?, col("init_setl_id")?];
    let mut out = ClaimKeys::default();
    for f in files {
        for (g, first, _) in parquet_row_groups(f, &cols).ok()? {
            read_parquet_group(f, &cols, g, first, |b, _| {
                // The projection keeps the file's column order: each is found by its name.
                for (field, column) in b.schema().fields().iter().zip(b.columns()) {
                    let name = field.name().trim();
                    let a = arrow::compute::cast(column, &arrow::datatypes::DataType::Utf8)?;
                    let a = a.as_any().downcast_ref::<arrow::array::StringArray>().context("a key column is not text")?;
                    let into = if name == "psn_no" { &mut out.psn_nos } else { &mut out.ids };
                    into.extend(a.iter().flatten().map(crate::intake::cell::trim).filter(|s| !s.is_empty()).map(str::to_string));
                }
                Ok(())
            })
            .ok()?;
        }
    }
    Some(out)
}

/// [`read_persons`] keeping only the persons in `only` when given (the other rows are counted,
/// not read), telling `progress` the rows of each batch read (for a progress bar).
pub fn read_persons_only(
    path: &Path,
    file: u16,
    aliases: &Aliases,
    only: Option<std::collections::HashSet<String>>,
    progress: &dyn Fn(u64),
) -> Result<PersonsRead> {
    let mut out = PersonsRead::default();
    out.only = only;
    read_persons_into(&mut out, &Input::File(path.to_path_buf()), file, aliases, progress)?;
    Ok(out)
}

/// The persons of one row group `(group, first record, rows)` whose psn_no is in `only`:
/// their psn_no column is decoded first, then only the rows named (a night reads the few
/// thousand persons of its claims out of a city's million). The other rows are counted.
fn read_named_persons(
    out: &mut PersonsRead,
    path: &Path,
    (g, first, rows): (usize, u64, u64),
    only: &std::collections::HashSet<String>,
    file: u16,
    aliases: &Aliases,
) -> Result<()> {
    use parquet::arrow::arrow_reader::RowSelector;
    let source = path.display().to_string();
    let key = &PERSONS[..1];
    let mut records: Vec<i64> = Vec::new();
    let mut runs: Vec<RowSelector> = Vec::new();
    read_parquet_group(path, key, g, first, |b, first| {
        for (row, take) in named_persons(b, first, &source, only)?.into_iter().enumerate() {
            if take {
                records.push(i64::try_from(first + row as u64)?);
            }
            match runs.last_mut() {
                Some(r) if r.skip != take => r.row_count += 1,
                _ => runs.push(if take { RowSelector::select(1) } else { RowSelector::skip(1) }),
            }
        }
        Ok(())
    })?;
    let skipped = rows.checked_sub(records.len() as u64);
    out.rows +=
        skipped.with_context(|| format!("{source}: not a readable Parquet file (row group {g} declares {rows} rows but holds more)"))?;
    if records.is_empty() {
        return Ok(());
    }
    // Each batch of the selected rows carries their record numbers, for messages.
    let mut at = 0;
    read_parquet_group_rows(path, PERSONS, g, runs, |b| {
        let lines: arrow::array::ArrayRef = Arc::new(arrow::array::Int64Array::from(records[at..at + b.num_rows()].to_vec()));
        at += b.num_rows();
        let mut fields = b.schema().fields().to_vec();
        fields.push(Arc::new(arrow::datatypes::Field::new(LINE_COLUMN, arrow::datatypes::DataType::Int64, false)));
        let mut cols = b.columns().to_vec();
        cols.push(lines);
        let b = RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), cols)?;
        read_person_batch(out, &ArrowBatch::new(&b, PERSONS, 0, &source)?, file, aliases);
        Ok(())
    })
}

/// [`read_persons`] from a file or an in-memory Arrow table.
pub fn read_persons_input(input: &Input, file: u16, aliases: &Aliases) -> Result<PersonsRead> {
    let mut out = PersonsRead::default();
    read_persons_into(&mut out, input, file, aliases, &|_| {})?;
    Ok(out)
}

fn read_persons_into(out: &mut PersonsRead, input: &Input, file: u16, aliases: &Aliases, progress: &dyn Fn(u64)) -> Result<()> {
    tune_allocator();
    let source = input.name();
    match input {
        Input::File(path) if is_parquet(path) => {
            let only = out.only.take();
            let groups = parquet_row_groups(path, PERSONS)?;
            if only.is_none() {
                // Room for every row at once (the table and its index grown by doubling touched
                // twice their memory). A hint, bounded as the claims' one is.
                let declared = groups.iter().fold(0u64, |a, g| a.saturating_add(g.2));
                let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
                out.reserve(usize::try_from(declared.min(bytes)).unwrap_or(0));
            }
            for (g, first, rows) in groups {
                match &only {
                    None => {
                        let mut batches = PersonBatches::new(out, file, aliases);
                        read_parquet_group(path, PERSONS, g, first, |b, first| {
                            progress(b.num_rows() as u64);
                            batches.push(b, first, &source)
                        })?;
                        batches.finish();
                    }
                    Some(only) => {
                        read_named_persons(out, path, (g, first, rows), only, file, aliases)?;
                        progress(rows);
                    }
                }
            }
            out.only = only;
        }
        Input::File(path) => read_csv(path, PERSONS, |b| {
            read_person_batch(out, &b, file, aliases);
            progress(b.len() as u64);
            Ok(())
        })?,
        Input::Arrow { batches, .. } => {
            let mut first = 1u64;
            for b in batches {
                read_person_batch(out, &ArrowBatch::new(b, PERSONS, first, &source)?, file, aliases);
                first += b.num_rows() as u64;
            }
        }
    }
    out.finish();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    /// A nightly run's persons read (only the named, Parquet, psn_no first) keeps, rejects and
    /// counts exactly what the whole read does for those persons, with their record numbers.
    #[test]
    fn named_persons_read_only_their_rows_with_their_record_numbers() -> anyhow::Result<()> {
        let dir = std::env::temp_dir().join(format!("medsettle-named-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("persons.parquet");
        let good = ["310", "retired", "1956-09-02", "wujin", "none", "", "9", "0", "", "", "", "0"];
        // P4's birth date is not a date; two row groups of 3 and 2 rows.
        let rows: Vec<Vec<&str>> = (1..=5)
            .map(|i| {
                let psn = ["P1", "P2", "P3", "P4", "P5"][i - 1];
                let mut r = vec![psn];
                r.extend(good);
                if psn == "P4" {
                    r[3] = "not-a-date";
                }
                r
            })
            .collect();
        let cols: Vec<ArrayRef> =
            (0..PERSONS.len()).map(|k| Arc::new(StringArray::from(rows.iter().map(|r| r[k]).collect::<Vec<_>>())) as ArrayRef).collect();
        write_text_parquet(&path, PERSONS.iter().map(|c| c.name), cols, 3)?;
        assert_eq!(parquet_row_groups(&path, PERSONS)?.len(), 2);

        let aliases = Aliases::default();
        let only: std::collections::HashSet<String> = ["P2", "P4", "P5", "P9"].iter().map(|s| s.to_string()).collect();
        let named = read_persons_only(&path, 3, &aliases, Some(only), &|_| {})?;
        let whole = read_persons_only(&path, 3, &aliases, None, &|_| {})?;
        assert_eq!(named.rows, 5);
        let kept: Vec<&str> = named.table.persons.iter().map(|p| p.psn_no.as_str()).collect();
        assert_eq!(kept, ["P2", "P5"]);
        assert_eq!(whole.table.persons.len(), 4);
        // the one reject, record 4, as in the whole read
        assert_eq!(named.rejects.len(), 1);
        assert_eq!((named.rejects[0].file, named.rejects[0].line), (3, 4));
        assert_eq!(named.rejects[0].message, whole.rejects[0].message);
        assert!(named.rejected.contains_key("P4"));
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    /// Text columns written to `path` as Parquet in row groups of `per_group` rows.
    fn write_text_parquet<'a>(path: &Path, names: impl Iterator<Item = &'a str>, cols: Vec<ArrayRef>, per_group: usize) -> Result<()> {
        let fields: Vec<Field> = names.map(|c| Field::new(c, DataType::Utf8, true)).collect();
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?;
        let props = parquet::file::properties::WriterProperties::builder().set_max_row_group_row_count(Some(per_group)).build();
        let mut w = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(path)?, batch.schema(), Some(props))?;
        w.write(&batch)?;
        w.close()?;
        Ok(())
    }

    fn sample_data() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data")
    }

    /// The sample claims as Parquet (every column text, an empty cell null) in row groups of
    /// `per_group` rows.
    fn sample_claims_parquet(dir: &Path, per_group: usize) -> Result<PathBuf> {
        Ok(sample_claims_parquet_copies(dir, 1, per_group)?.0)
    }

    /// [`sample_claims_parquet`] with the sample `copies` times over; also gives the rows.
    fn sample_claims_parquet_copies(dir: &Path, copies: usize, per_group: usize) -> Result<(PathBuf, usize)> {
        let mut r = csv::Reader::from_path(sample_data().join("claims.csv"))?;
        let header = r.headers()?.clone();
        let sample: Vec<csv::StringRecord> = r.records().collect::<Result<_, _>>()?;
        let rows: Vec<&csv::StringRecord> = (0..copies).flat_map(|_| sample.iter()).collect();
        let cols: Vec<ArrayRef> = (0..header.len())
            .map(|k| Arc::new(rows.iter().map(|r| Some(&r[k]).filter(|v| !v.is_empty())).collect::<StringArray>()) as ArrayRef)
            .collect();
        let path = dir.join("claims.parquet");
        write_text_parquet(&path, header.iter(), cols, per_group)?;
        Ok((path, rows.len()))
    }

    /// Row groups streamed (each thread taking the next group) come out in file order: the
    /// same claims, rejects and order as the CSV file they were made from, on one thread or
    /// four, whether the sink appends them or a `prep` on the read's threads comes first.
    #[test]
    fn parquet_row_groups_reach_the_sink_in_file_order() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let parquet = sample_claims_parquet(dir.path(), 7)?;
        assert!(parquet_row_groups(&parquet, CLAIMS)?.len() > 100);
        let aliases = Aliases::default();
        let persons = read_persons(&sample_data().join("persons.csv"), 1, &aliases)?;
        let ids = |c: &ClaimsRead| -> Vec<(String, u32)> {
            c.table.claims.iter().map(|k| (c.table.strings.get(k.setl_id).to_string(), k.line)).collect()
        };
        let rejects = |c: &ClaimsRead| -> Vec<(u64, String)> { c.rejects.iter().map(|r| (r.line, r.setl_id.clone())).collect() };
        let csv = read_claims(&[sample_data().join("claims.csv")], &persons, &aliases, &|_| {}, None)?;
        // a Parquet row's number is its record number, a CSV row's its line (the header is 1)
        let csv_ids: Vec<(String, u32)> = ids(&csv).into_iter().map(|(s, l)| (s, l - 1)).collect();
        let csv_rejects: Vec<(u64, String)> = rejects(&csv).into_iter().map(|(l, s)| (l - 1, s)).collect();
        for threads in [1, 2, 4] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
            let p = pool.install(|| read_claims(std::slice::from_ref(&parquet), &persons, &aliases, &|_| {}, None))?;
            assert_eq!(p.rows, csv.rows);
            assert_eq!(ids(&p), csv_ids, "{threads} threads");
            assert_eq!(rejects(&p), csv_rejects, "{threads} threads");
            // Through a sink that keeps what it gets, after a `prep` that numbers the runs on
            // the read's threads: the same claims and rejects, the runs in order, the size hint
            // given once and first, and 1,000 rows read.
            let mut got = ClaimsRead::default();
            let mut hints = Vec::new();
            let mut runs = Vec::new();
            let prep = |parts: Vec<Part>| -> Result<(u32, Vec<Part>)> {
                Ok((parts.first().and_then(|(t, _)| t.claims.first()).map_or(0, |c| c.line), parts))
            };
            let rows = pool.install(|| {
                stream_claim_inputs(&[Input::File(parquet.clone())], &persons, &aliases, &|_| {}, &prep, &mut |(line, parts), hint| {
                    hints.push(hint);
                    runs.push(line);
                    for (t, r) in parts {
                        got.table.append(t);
                        got.rejects.extend(r);
                    }
                    Ok(())
                })
            })?;
            assert_eq!(rows, csv.rows, "{threads} threads");
            assert_eq!(ids(&got), csv_ids, "{threads} threads");
            assert_eq!(rejects(&got), csv_rejects, "{threads} threads");
            assert!(hints.first().is_some_and(|&h| h > 0) && hints[1..].iter().all(|&h| h == 0), "{hints:?}");
            let numbered: Vec<u32> = runs.iter().copied().filter(|&l| l > 0).collect();
            assert!(numbered.len() > 100 && numbered.windows(2).all(|w| w[0] < w[1]), "{threads} threads: {runs:?}");
        }
        Ok(())
    }

    /// A row group larger than a run: decoded in batches of [`BATCH_ROWS`] rows, each checked
    /// as it comes, the checked parts reach `prep` in runs of at least [`PREP_ROWS`] rows and
    /// the rest at the group's end, in row order, none lost or repeated.
    #[test]
    fn a_large_row_group_reaches_prep_in_runs_of_batches() -> Result<()> {
        use super::super::parquet::read::BATCH_ROWS;
        let dir = tempfile::tempdir()?;
        let aliases = Aliases::default();
        let persons = read_persons(&sample_data().join("persons.csv"), 1, &aliases)?;
        // what the sample alone gives, record numbers shifted for each copy
        let one = read_claims(&[sample_data().join("claims.csv")], &persons, &aliases, &|_| {}, None)?;
        let n = one.rows.iter().sum::<u64>();
        // the sample over and over, one row group: more than one run and a part of another
        let copies = (PREP_ROWS + BATCH_ROWS) / n as usize + 2;
        let (parquet, rows) = sample_claims_parquet_copies(dir.path(), copies, usize::MAX)?;
        assert_eq!(parquet_row_groups(&parquet, CLAIMS)?.len(), 1);
        let want_claims: Vec<u64> =
            (0..copies as u64).flat_map(|k| one.table.claims.iter().map(move |c| k * n + u64::from(c.line) - 1)).collect();
        let want_rejects: Vec<u64> = (0..copies as u64).flat_map(|k| one.rejects.iter().map(move |r| k * n + r.line - 1)).collect();
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
            // each run's rows (claims and rejects), counted by `prep` on the read's threads
            let prep =
                |parts: Vec<Part>| -> Result<(usize, Vec<Part>)> { Ok((parts.iter().map(|(t, r)| t.claims.len() + r.len()).sum(), parts)) };
            let (mut claims, mut rejects, mut runs) = (Vec::new(), Vec::new(), Vec::new());
            let read = pool.install(|| {
                stream_claim_inputs(&[Input::File(parquet.clone())], &persons, &aliases, &|_| {}, &prep, &mut |(k, parts), _| {
                    runs.push(k);
                    for (t, r) in parts {
                        claims.extend(t.claims.iter().map(|c| u64::from(c.line)));
                        rejects.extend(r.iter().map(|r| r.line));
                    }
                    Ok(())
                })
            })?;
            assert_eq!(read, vec![rows as u64], "{threads} threads");
            assert_eq!(claims, want_claims, "{threads} threads");
            assert_eq!(rejects, want_rejects, "{threads} threads");
            let Some((last, full)) = runs.split_last() else { bail!("{threads} threads: no run reached the sink") };
            assert!(!full.is_empty() && full.iter().all(|&k| k >= PREP_ROWS) && *last < PREP_ROWS, "{threads} threads: {runs:?}");
            assert_eq!(runs.iter().sum::<usize>(), rows, "{threads} threads");
        }
        Ok(())
    }

    /// The sample claims as Parquet in row groups of `per_group` rows, read into `sink` on
    /// `threads` threads.
    fn read_into(per_group: usize, threads: usize, sink: &mut (dyn FnMut(Vec<Part>, usize) -> Result<()> + Send)) -> Result<Vec<u64>> {
        let dir = tempfile::tempdir()?;
        let parquet = sample_claims_parquet(dir.path(), per_group)?;
        let aliases = Aliases::default();
        let persons = read_persons(&sample_data().join("persons.csv"), 1, &aliases)?;
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
        pool.install(|| stream_claim_inputs(&[Input::File(parquet)], &persons, &aliases, &|_| {}, &Ok, sink))
    }

    /// A sink that panics ends a streamed read with an error on any number of threads: the
    /// workers waiting for it to take their groups are let go (not left waiting for ever).
    #[test]
    fn a_panicking_sink_ends_the_streamed_read() -> Result<()> {
        for threads in [1, 2, 4] {
            let mut calls = 0;
            let mut sink = |_: Vec<Part>, _: usize| -> Result<()> {
                calls += 1;
                assert!(calls < 4, "the sink gives up");
                Ok(())
            };
            let Err(e) = read_into(2, threads, &mut sink) else {
                bail!("the read ended well on {threads} threads although its sink panicked")
            };
            assert!(e.to_string().contains("sink stopped"), "{threads} threads: {e}");
        }
        Ok(())
    }

    /// A sink that fails stops the streamed read with its own error (not a decoding error, nor
    /// a later append's) on any number of threads, and is not called again.
    #[test]
    fn a_failing_sink_ends_the_parquet_read_with_its_error() -> Result<()> {
        for threads in [1, 2, 4] {
            let mut calls = 0;
            let mut sink = |_: Vec<Part>, _: usize| -> Result<()> {
                calls += 1;
                if calls == 3 { bail!("the disk is full") } else { Ok(()) }
            };
            let Err(e) = read_into(3, threads, &mut sink) else {
                bail!("the read ended well on {threads} threads although its sink failed")
            };
            assert_eq!(e.to_string(), "the disk is full", "{threads} threads");
            assert_eq!(calls, 3, "{threads} threads: the sink was called after it failed");
        }
        Ok(())
    }

    /// A `prep` that fails on the read's threads stops the read with its own error, Parquet
    /// (streamed, 1, 2 and 4 threads) and CSV alike, and nothing after the failing run reaches
    /// the sink.
    #[test]
    fn a_failing_prep_ends_the_read_with_its_error() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let parquet = sample_claims_parquet(dir.path(), 5)?;
        let aliases = Aliases::default();
        let persons = read_persons(&sample_data().join("persons.csv"), 1, &aliases)?;
        // the run holding the claim of line 40 (record 40 of the Parquet file) fails
        let prep = |parts: Vec<Part>| -> Result<u32> {
            let lines: Vec<u32> = parts.iter().flat_map(|(t, _)| t.claims.iter().map(|c| c.line)).collect();
            if lines.contains(&40) { bail!("no room for the spill") } else { Ok(lines.iter().copied().max().unwrap_or(0)) }
        };
        for (input, threads) in [(parquet.clone(), 1), (parquet.clone(), 2), (parquet, 4), (sample_data().join("claims.csv"), 2)] {
            let mut last = 0;
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
            let r = pool.install(|| {
                stream_claim_inputs(&[Input::File(input.clone())], &persons, &aliases, &|_| {}, &prep, &mut |max, _| {
                    last = last.max(max);
                    Ok(())
                })
            });
            let Err(e) = r else { bail!("{}: the read ended well on {threads} threads although its prep failed", input.display()) };
            assert_eq!(e.to_string(), "no room for the spill", "{}, {threads} threads", input.display());
            assert!(last < 40, "{}, {threads} threads: a run after the failing one was sunk ({last})", input.display());
        }
        Ok(())
    }
}
