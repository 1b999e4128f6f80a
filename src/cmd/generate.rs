//! `medsettle generate`: realistic synthetic persons and claims (the model is in
//! [`crate::synth`]).

use crate::io::write::Format;
use crate::policy::PolicySet;
use crate::progress;
use crate::synth::{self, Options};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

pub const EXAMPLE: &str = "Size: about 10 claims per person and settled year. Only person-years that a built-in
policy settles get claims (resident 2024–2026, employee 2024; Rudong residents never), so
a 2024 year gives ~10 claims per person and a 2025 or 2026 year ~4.6 (employees, about
57% of persons, get none). 10 million claims: --persons 1000000 --year 2024.

Every claim is accepted by `medsettle settle` (0 rejects); the same seed gives the same
files on any number of threads.

Example:
  medsettle generate --persons 1000 --year 2026 --seed 7 --out data/
  medsettle generate --persons 200 --year 2024 2026 --seed 7 --out data/ --format parquet
  medsettle generate --persons 25 --year 2024 2026 --seed 4 --recorded 12 --out sample-new/";

/// Generate synthetic persons and claims (CONTRACT.md §1–2 columns).
#[derive(Args, Debug)]
#[command(after_help = EXAMPLE)]
pub struct GenerateArgs {
    /// Number of insured persons.
    #[arg(long)]
    pub persons: u64,
    /// Settlement year of the claims (several: one year of claims for each).
    #[arg(long, num_args = 1.., required = true)]
    pub year: Vec<i32>,
    /// Random seed; the same seed gives the same files.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output folder (persons.{csv,parquet}, claims.{csv,parquet}).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value = "csv")]
    pub format: Format,
    /// Give this many settled claims the platform's recorded amounts (hifp_pay …
    /// psn_part_amt), every second one deliberately off, so `replay` has something to find.
    #[arg(long, default_value_t = 0)]
    pub recorded: usize,
}

pub fn run(a: &GenerateArgs) -> Result<()> {
    let start = Instant::now();
    let policies = PolicySet::assemble(&[], &[])?;
    let o = Options { persons: a.persons, years: a.year.clone(), seed: a.seed };
    let sum = if a.recorded == 0 {
        // Streamed: generated and written a window of persons at a time, in flat memory.
        let pb = progress::bar(a.persons, "generating");
        let sum = synth::generate_to(&o, &policies, &a.out, a.format, &|k| pb.inc(k))?;
        pb.finish_and_clear();
        sum
    } else {
        // Recorded amounts come from settling the whole set: built in memory.
        let mut g = synth::generate(&o, &policies)?;
        synth::attach_recorded(&mut g, &policies, a.recorded);
        let pb = progress::bar(g.claims.claims.len() as u64, "writing");
        synth::write(&g, &a.out, a.format, &|k| pb.inc(k))?;
        pb.finish_and_clear();
        synth::Summary {
            persons: g.persons.persons.len() as u64,
            claims: g.claims.claims.len() as u64,
            reversals: g.reversals() as u64,
            skipped: g.skipped,
        }
    };
    for (what, persons) in &sum.skipped {
        eprintln!("medsettle generate: note: no built-in policy settles {what}: {persons} persons get no claims there");
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "medsettle generate: {} persons, {} claims ({} reversals) in {secs:.1} s ({:.0} claims/s) → {}",
        sum.persons,
        sum.claims,
        sum.reversals,
        sum.claims as f64 / secs.max(1e-9),
        a.out.display()
    );
    Ok(())
}
