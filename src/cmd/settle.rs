//! `medsettle settle`: settle every claim and write the outputs (CONTRACT.md §3–4).

use crate::app::partitioned;
use crate::io::scratch::IdsSpooler;
use crate::io::write::{Format, OutputDir};
use crate::pipeline;
use crate::policy::PolicySet;
use crate::report::i18n::Lang;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

pub const EXAMPLE: &str = "Example:
  medsettle settle --claims sample-data/claims.csv --persons sample-data/persons.csv --out out/
  medsettle settle --claims sample-data/claims.csv --persons sample-data/persons.csv --out out-en/ \\
      --set inpatient.cap_basis=eligible_cost --format parquet --lang en
  medsettle settle --state state.db --claims sample-data/claims.csv --persons sample-data/persons.csv --out night/
  medsettle settle --claims sample-data/claims.csv --persons sample-data/persons.csv --out spilled/ --memory-limit 64KiB";

/// Settle every claim with the built-in (or given) policies.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLE)]
pub struct SettleArgs {
    /// Claims files (CSV or Parquet, any mix; national-platform column names).
    #[arg(long, num_args = 1.., required = true)]
    pub claims: Vec<PathBuf>,
    /// Persons file (CSV or Parquet).
    #[arg(long)]
    pub persons: PathBuf,
    /// Output folder (created if missing; existing outputs are replaced only on success).
    #[arg(long)]
    pub out: PathBuf,
    /// A built-in policy id or a policy file; replaces the built-in policy of the same
    /// region, scheme and year (repeatable).
    #[arg(long = "policy")]
    pub policies: Vec<String>,
    /// Override one policy parameter, KEY=VALUE with KEY a TOML path, e.g.
    /// inpatient.cap_basis=eligible_cost (repeatable).
    #[arg(long = "set")]
    pub sets: Vec<String>,
    /// Format of settlements and person_years.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: Format,
    /// Language of the human reports (report.html, report.xlsx); machine outputs keep codes.
    #[arg(long, value_enum, default_value = "zh")]
    pub lang: Lang,
    /// Fail (and write nothing) if any row is rejected.
    #[arg(long)]
    pub strict: bool,
    /// Exit with code 4 (after writing the outputs) when the share of rejected claims is
    /// above this (0.01 = 1%; 1 turns the check off).
    #[arg(long, default_value_t = 0.01, value_parser = reject_rate)]
    pub max_reject_rate: f64,
    /// Nightly run: settle only these claims against the year-to-date state in this SQLite
    /// database (created on the first run) and store them there; outputs describe this run,
    /// person_years the year to date of the persons it touched.
    #[arg(long, value_name = "DB")]
    pub state: Option<PathBuf>,
    /// With --state: settle under --policy/--set although they change a policy that already
    /// settled claims in the state (recorded in its journal).
    #[arg(long, requires = "state")]
    pub allow_policy_change: bool,
    /// Memory the run may use, e.g. 6GiB (default: half of this machine's memory). A run
    /// estimated beyond it (claims and persons, from their row counts) spills its claims to disk
    /// in partitions by person and settles a partition at a time, in what the persons leave of
    /// it; the outputs are the same byte for byte. A limit below what the run needs in any
    /// number of partitions is warned of. Not used with --state.
    #[arg(long, value_name = "SIZE", value_parser = crate::app::partitioned::parse_size)]
    pub memory_limit: Option<u64>,
    /// Folder for the spill files of a run beyond --memory-limit, and for the claims' ids
    /// while a run within it settles (default: beside the output, inside its staging
    /// folder); removed when the run ends.
    #[arg(long, value_name = "DIR")]
    pub spill_dir: Option<PathBuf>,
    /// Spill to disk in this many partitions (2–256) instead of the number --memory-limit's
    /// plan gives, even a run that would fit in memory: for tuning and tests. Not used with
    /// --state.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(2..=partitioned::MAX_PARTITIONS as i64))]
    pub spill_partitions: Option<u16>,
}

fn reject_rate(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("`{s}` is not a share between 0 and 1 (e.g. 0.01)")),
    }
}

/// Whether `rejected` of `read` claims is above the allowed share (CONTRACT.md §6). Counts,
/// not money: the f64 ratio only decides the exit code.
pub fn too_many_rejects(rejected: u64, read: u64, max_rate: f64) -> bool {
    read > 0 && rejected as f64 > max_rate * read as f64
}

pub fn run(a: &SettleArgs) -> Result<i32> {
    if let Some(db) = &a.state {
        return crate::app::nightly::run(a, db);
    }
    let start = Instant::now();
    let policies = PolicySet::assemble(&a.policies, &a.sets)?;
    let limit = a.memory_limit.unwrap_or_else(partitioned::default_memory_limit);
    let need = partitioned::Need::of(&a.claims, &a.persons);
    if need.total() > limit || a.spill_partitions.is_some() {
        let partitions = match a.spill_partitions {
            Some(n) => usize::from(n),
            None => {
                let plan = partitioned::plan(need, limit);
                if let Some(w) = plan.warning(need, limit) {
                    eprintln!("{w}");
                }
                plan.partitions
            }
        };
        let job = partitioned::Job {
            claims: &a.claims,
            persons: &a.persons,
            policies: &policies,
            out: &a.out,
            format: a.format,
            lang: a.lang,
            strict: a.strict,
            spill_dir: a.spill_dir.as_deref(),
            partitions,
            need,
        };
        let c = partitioned::run(&job, "settle")?;
        return Ok(finish(a, &c, "", start));
    }
    let mut out = OutputDir::new(&a.out)?;
    if let Some(w) = partitioned::output_disk_warning(need, a.format, (out.staging(), crate::io::free_space(out.staging()))) {
        eprintln!("{w}");
    }
    // The ids are written to a file as the claims are read (beside the output, or in
    // --spill-dir), and wait there while the claims are settled, so the run holds the
    // claims, their settlements and little else. The run fits in memory with them too: a
    // folder that cannot take them (full, or not writable) leaves them in memory, with a
    // warning, and the run goes on.
    let spool_dir = a.spill_dir.clone().unwrap_or_else(|| out.staging().to_path_buf());
    let ids = std::fs::create_dir_all(&spool_dir).and_then(|()| IdsSpooler::start(&spool_dir));
    let mut loaded = pipeline::load_spooling(&a.claims, &a.persons, &policies, ids.as_ref().ok())?;
    if a.strict {
        loaded.refuse_rejects("nothing written")?;
    }
    let spooled = ids.map_err(anyhow::Error::from).and_then(|ids| pipeline::spool_ids(&mut loaded, ids));
    if let Err(e) = spooled {
        eprintln!("medsettle: warning: the claims' ids stay in memory: cannot write them to {}: {e:#}", spool_dir.display());
    }
    let settled = pipeline::settle(&loaded, &policies);
    let c = pipeline::write_outputs_into(&mut out, None, a.format, &loaded, &policies, &settled, "settle", "Settlement report", a.lang)?;
    out.commit()?;
    let code = finish(a, &c, "", start);
    // The process ends with this command (only `main` calls it): the claims and settlements,
    // gigabytes in a city's year, go back to the operating system with the process instead of
    // to the allocator vector by vector (0.2 s of a 10M-claim run). Neither holds a file,
    // a thread or anything else a drop would finish.
    std::mem::forget((loaded, settled));
    Ok(code)
}

/// Prints the run's one-line summary (`what` names a nightly run) and returns the exit code:
/// 4 when the share of rejected claims is above `--max-reject-rate` (CONTRACT.md §6).
pub fn finish(a: &SettleArgs, c: &crate::report::markdown::Counts, what: &str, start: Instant) -> i32 {
    eprintln!(
        "medsettle settle: {what}{} claims read: {} settled, {} not covered, {} reversals, {} rejected; {} person-years; {:.1} s → {}",
        c.read,
        c.settled,
        c.not_covered,
        c.reversal,
        c.rejected,
        c.person_years,
        start.elapsed().as_secs_f64(),
        a.out.display()
    );
    if too_many_rejects(c.rejected, c.read, a.max_reject_rate) {
        eprintln!(
            "medsettle settle: {} of {} claims rejected ({:.2}%), above --max-reject-rate {}; see {}",
            c.rejected,
            c.read,
            c.rejected as f64 * 100.0 / c.read as f64,
            a.max_reject_rate,
            a.out.join("rejects.csv").display()
        );
        return 4;
    }
    0
}
