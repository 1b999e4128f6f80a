//! `medsettle settle`: settle every claim and write the outputs (CONTRACT.md §3–4).

use crate::io::write::Format;
use crate::pipeline;
use crate::policy::PolicySet;
use crate::report::i18n::Lang;
use anyhow::{Result, bail};
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

pub const EXAMPLE: &str = "Example:
  medsettle settle --claims sample-data/claims.csv --persons sample-data/persons.csv --out out/
  medsettle settle --claims sample-data/claims.csv --persons sample-data/persons.csv --out out-en/ \\
      --set inpatient.cap_basis=eligible_cost --format parquet --lang en";

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
}

pub fn run(a: &SettleArgs) -> Result<()> {
    let start = Instant::now();
    let policies = PolicySet::assemble(&a.policies, &a.sets)?;
    let loaded = pipeline::load(&a.claims, &a.persons, &policies)?;
    if a.strict {
        let rejects = loaded.reject_rows();
        if let Some(first) = rejects.first() {
            bail!(
                "--strict: {} row(s) rejected, nothing written; first: {} line {} setl_id {}: {}",
                rejects.len(),
                loaded.file_name(first.file),
                first.line,
                first.setl_id,
                first.reason()
            );
        }
    }
    let settled = pipeline::settle(&loaded, &policies);
    let c = pipeline::write_outputs(&a.out, a.format, &loaded, &policies, &settled, "settle", "Settlement report", a.lang)?;
    eprintln!(
        "medsettle settle: {} claims read: {} settled, {} not covered, {} reversals, {} rejected; {} person-years; {:.1} s → {}",
        c.read,
        c.settled,
        c.not_covered,
        c.reversal,
        c.rejected,
        c.person_years,
        start.elapsed().as_secs_f64(),
        a.out.display()
    );
    Ok(())
}
