//! `medsettle state show | export | verify DB`: read a nightly state (CONTRACT.md §6).

use crate::io::write::{Format, OutputDir};
use crate::pipeline;
use crate::progress;
use crate::report::tables;
use crate::state::{Store, audit};
use anyhow::Result;
use clap::{Args, Subcommand};
use std::path::PathBuf;

pub const EXAMPLE: &str = "Example (after a nightly run such as
  `settle --state state.db --claims sample-data/claims.csv --persons sample-data/persons.csv --out night/`):
  medsettle state show state.db
  medsettle state export state.db --year 2024 --out state-2024/
  medsettle state verify state.db";

/// Inspect, export and check a nightly state (`settle --state`).
#[derive(Args, Debug)]
#[command(after_help = EXAMPLE)]
pub struct StateArgs {
    #[command(subcommand)]
    pub action: StateAction,
}

#[derive(Subcommand, Debug)]
pub enum StateAction {
    /// Summary: years, persons, claims and amounts, the last runs.
    Show { db: PathBuf },
    /// Write settlements and person_years of the stored claims (of one year with --year),
    /// exactly as a full batch `settle` of the same claims writes them.
    Export {
        db: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        year: Option<i32>,
        #[arg(long, value_enum, default_value = "csv")]
        format: Format,
    },
    /// Settle every stored claim again from empty running totals and compare with what is
    /// stored, and check the setl_id index against the stored claims; exit 3 on any
    /// difference.
    Verify {
        db: PathBuf,
        #[arg(long)]
        year: Option<i32>,
    },
}

pub fn run(a: &StateArgs) -> Result<i32> {
    match &a.action {
        StateAction::Show { db } => {
            let store = Store::open_existing(db)?;
            print!("{}", audit::show(&store)?);
            Ok(0)
        }
        StateAction::Export { db, out, year, format } => {
            let store = Store::open_existing(db)?;
            let r = rebuild(&store, *year)?;
            let mut dir = OutputDir::new(out)?;
            let pb = progress::bar(r.settled.sorted.len() as u64, "writing");
            tables::write_settlements(&mut dir, *format, &r.table, &r.persons, &r.policies, &r.settled, &|k| pb.inc(k))?;
            tables::write_person_years(&mut dir, *format, &r.persons, &r.policies, &r.settled.person_years)?;
            pb.finish_and_clear();
            pipeline::write_set_manifest(&mut dir, "state export")?;
            dir.commit()?;
            eprintln!(
                "medsettle state export: {} claims, {} person-years{} → {}",
                r.settled.sorted.len(),
                r.settled.person_years.len(),
                year.map(|y| format!(" of {y}")).unwrap_or_default(),
                out.display()
            );
            Ok(0)
        }
        StateAction::Verify { db, year } => {
            let store = Store::open_existing(db)?;
            let r = rebuild(&store, *year)?;
            let pb = progress::bar(r.table.claims.len() as u64, "verifying");
            let mut diffs = audit::verify_claims(&r, &|n| pb.inc(n));
            pb.finish_and_clear();
            let mut timer = pipeline::Timer::new();
            let pb = progress::steps(audit::INDEX_STEPS, "index");
            diffs.extend(audit::index_differences(&store, &r, &|| pb.inc(1))?);
            pb.finish_and_clear();
            timer.mark("check the setl_id index");
            let (years, claims) = (r.years.len(), r.table.claims.len());
            for d in diffs.iter().take(50) {
                println!("{d}");
            }
            eprintln!("medsettle state verify: {years} person-years, {claims} claims settled again: {} difference(s)", diffs.len());
            Ok(if diffs.is_empty() { 0 } else { 3 })
        }
    }
}

/// The stored claims (all, or a year's) loaded back, with a bar.
fn rebuild(store: &Store, year: Option<i32>) -> Result<audit::Rebuilt> {
    let pb = progress::bar(audit::claims_stored(store, year)?, "loading");
    let r = audit::rebuild(store, year, &|n| progress::grow(&pb, n));
    pb.finish_and_clear();
    r
}
