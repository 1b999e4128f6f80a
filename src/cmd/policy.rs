//! `medsettle policy list | show ID | check FILE | diff A B`.

use anyhow::Result;
use clap::{Args, Subcommand};

pub const EXAMPLE: &str = "Example:
  medsettle policy list
  medsettle policy show changzhou-resident-2026
  medsettle policy check my-policy.toml
  medsettle policy diff changzhou-resident-2024 changzhou-resident-2026";

/// Inspect, check and compare policies.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLE)]
pub struct PolicyArgs {
    #[command(subcommand)]
    pub action: PolicyAction,
}

#[derive(Subcommand, Debug)]
pub enum PolicyAction {
    /// List the built-in policies.
    List,
    /// Print a policy (built-in id or file) as effective TOML, with --set applied.
    Show {
        policy: String,
        #[arg(long = "set")]
        sets: Vec<String>,
    },
    /// Validate a policy file.
    Check { file: String },
    /// Show the parameters that differ between two policies.
    Diff { a: String, b: String },
}

pub fn run(_a: &PolicyArgs) -> Result<()> {
    anyhow::bail!("policy: not implemented yet")
}
