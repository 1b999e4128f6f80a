//! Reading the input files into intake (CONTRACT.md §1–2): CSV batches and Parquet record
//! batches go to the same row rules ([`crate::intake`]); this module only walks the files.

use super::source::{CsvBatch, is_parquet, parquet_row_groups, read_csv, read_parquet_group, tune_allocator};
use crate::intake::{Aliases, Batch, CLAIMS, ClaimIntake, PERSONS, Part, read_person_arrow, read_person_batch};
pub use crate::intake::{ClaimsRead, PersonsRead, RejectRow, aliases_of};
use anyhow::{Context, Result, bail};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// All claims of the given files (CSV or Parquet, mixed), in file then row order.
pub fn read_claims(files: &[PathBuf], persons: &PersonsRead, aliases: &Aliases, progress: &(dyn Fn(u64) + Sync)) -> Result<ClaimsRead> {
    tune_allocator();
    let mut out = ClaimsRead::default();
    let intake = ClaimIntake::new(persons, aliases);
    let intake = &intake;
    for (fi, path) in files.iter().enumerate() {
        let file = u16::try_from(fi).context("too many input files (at most 65535)")?;
        let source = path.display().to_string();
        let source = source.as_str();
        let mut rows = 0u64;
        // Decoding and checking the next rows runs alongside appending the previous ones
        // (the append is serial; it touches the final table's memory for the first time).
        let mut pending: Vec<Part> = Vec::new();
        if is_parquet(path) {
            let groups = parquet_row_groups(path, CLAIMS)?;
            // A hint only: the declared row counts of a corrupt file can be absurd, so they are
            // summed without overflow, bounded by the file's size, and a refused reservation
            // is no error (the rows are counted as decoded, below).
            let declared = groups.iter().fold(0u64, |a, g| a.saturating_add(g.2));
            let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            let _ = out.table.claims.try_reserve(usize::try_from(declared.min(bytes)).unwrap_or(0));
            // Row groups decode in parallel, a window at a time, joined in file order.
            for window in groups.chunks(rayon::current_num_threads().max(2)) {
                let (decoded, ()) = rayon::join(
                    || -> Result<Vec<Part>> {
                        let parts: Vec<Result<Vec<Part>>> = window
                            .par_iter()
                            .map(|&(g, first, declared)| {
                                let mut parts = Vec::new();
                                let mut decoded = 0u64;
                                read_parquet_group(path, CLAIMS, g, first, |b, first| {
                                    progress(b.num_rows() as u64);
                                    decoded += b.num_rows() as u64;
                                    parts.extend(intake.arrow(b, file, first, source)?);
                                    Ok(())
                                })?;
                                // `read` counts the rows of the file's metadata; a file whose
                                // pages hold another number of rows is corrupt, and counting
                                // either number would break read = settled + … + rejected.
                                if decoded != declared {
                                    bail!(
                                        "{source}: not a readable Parquet file (row group {g} declares {declared} rows but holds {decoded})"
                                    );
                                }
                                Ok(parts)
                            })
                            .collect();
                        let mut all = Vec::new();
                        for p in parts {
                            all.extend(p?);
                        }
                        Ok(all)
                    },
                    || out.add(std::mem::take(&mut pending)),
                );
                pending = decoded?;
                rows += window.iter().map(|g| g.2).sum::<u64>();
            }
        } else {
            // The CSV text is split on its own thread while the previous batch is checked.
            std::thread::scope(|s| -> Result<()> {
                let (tx, rx) = std::sync::mpsc::sync_channel::<CsvBatch>(1);
                let parser = s.spawn(move || {
                    read_csv(path, CLAIMS, 64 * 1024, |b| {
                        // A closed channel means the checker stopped; nothing more to do.
                        let _ = tx.send(b);
                        Ok(())
                    })
                });
                for b in rx {
                    rows += b.len() as u64;
                    progress(b.len() as u64);
                    let (parts, ()) = rayon::join(|| intake.rows(&b, file), || out.add(std::mem::take(&mut pending)));
                    pending = parts;
                }
                parser.join().map_err(|_| anyhow::anyhow!("{source}: the CSV reader thread failed"))?
            })?;
        }
        out.add(pending);
        out.rows.push(rows);
    }
    Ok(out)
}

/// The persons file (CSV or Parquet).
pub fn read_persons(path: &Path, file: u16, aliases: &Aliases) -> Result<PersonsRead> {
    tune_allocator();
    let mut out = PersonsRead::default();
    let source = path.display().to_string();
    if is_parquet(path) {
        for (g, first, _) in parquet_row_groups(path, PERSONS)? {
            read_parquet_group(path, PERSONS, g, first, |b, first| read_person_arrow(&mut out, b, file, first, &source, aliases))?;
        }
    } else {
        read_csv(path, PERSONS, 64 * 1024, |b| {
            read_person_batch(&mut out, &b, file, aliases);
            Ok(())
        })?;
    }
    Ok(out)
}
