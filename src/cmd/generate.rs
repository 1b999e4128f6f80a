//! `medsettle generate`: realistic synthetic persons and claims.

use crate::io::write::Format;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

pub const EXAMPLE: &str = "Example:
  medsettle generate --persons 1000 --year 2026 --seed 7 --out data/
  medsettle generate --persons 1000000 --year 2026 --seed 1 --out big/ --format parquet";

/// Generate synthetic persons and claims (CONTRACT.md §1–2 columns).
#[derive(Args, Debug)]
#[command(after_help = EXAMPLE)]
pub struct GenerateArgs {
    /// Number of insured persons.
    #[arg(long)]
    pub persons: u64,
    /// Settlement year of the claims.
    #[arg(long)]
    pub year: i32,
    /// Random seed; the same seed gives the same files.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output folder (persons.{csv,parquet}, claims.{csv,parquet}).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value = "csv")]
    pub format: Format,
}

pub fn run(_a: &GenerateArgs) -> Result<()> {
    anyhow::bail!("generate: not implemented yet")
}
