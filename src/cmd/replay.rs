//! `medsettle replay`: recompute a past year under that year's rules and compare with the
//! amounts the platform recorded (hifp_pay, hifob_pay, hifmi_pay, maf_pay, psn_part_amt).
//! Exit 3 when a difference exceeds the tolerance.

use crate::app::replay::{ReplayInput, replay};
use crate::io::write::Format;
use crate::model::Money;
use crate::policy::PolicySet;
use crate::report::i18n::Lang;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

pub const EXAMPLE: &str = "Example:
  medsettle replay --claims sample-data/claims.csv --persons sample-data/persons.csv --out replay/
  medsettle replay --claims sample-data/claims.csv --persons sample-data/persons.csv --out replay/ \\
      --tolerance 0.05 --lang en";

/// Recompute and compare with the recorded amounts.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLE)]
pub struct ReplayArgs {
    #[arg(long, num_args = 1.., required = true)]
    pub claims: Vec<PathBuf>,
    #[arg(long)]
    pub persons: PathBuf,
    #[arg(long)]
    pub out: PathBuf,
    /// Language of the human reports (report.html, report.xlsx); machine outputs keep codes.
    #[arg(long, value_enum, default_value = "zh")]
    pub lang: Lang,
    /// Largest difference (CNY) that is not a discrepancy.
    #[arg(long, default_value = "0.01")]
    pub tolerance: String,
    #[arg(long = "policy")]
    pub policies: Vec<String>,
    #[arg(long = "set")]
    pub sets: Vec<String>,
    #[arg(long, value_enum, default_value = "csv")]
    pub format: Format,
}

pub fn run(a: &ReplayArgs) -> Result<i32> {
    let start = Instant::now();
    let tolerance = Money::parse(&a.tolerance).map_err(|e| anyhow::anyhow!("--tolerance: {e}"))?.max0();
    let policies = PolicySet::assemble(&a.policies, &a.sets)?;
    let input =
        ReplayInput { claims: &a.claims, persons: &a.persons, out: &a.out, tolerance, policies: &policies, format: a.format, lang: a.lang };
    let (c, r) = replay(&input)?;
    eprintln!(
        "medsettle replay: {} claims read, {} compared, {} with a discrepancy above {} ({} recorded rows do not add up; {} rejected); {:.1} s → {}",
        c.read,
        r.compared,
        r.claims_off,
        tolerance,
        r.identity_broken.len(),
        c.rejected,
        start.elapsed().as_secs_f64(),
        a.out.display()
    );
    Ok(if r.claims_off > 0 { 3 } else { 0 })
}
