//! `medsettle explain`: one settlement (or one person's year) step by step, with the rule and
//! its source at each step — for auditors.

use crate::app::explain::{Explained, Target, explain, render_text};
use crate::pipeline;
use crate::policy::PolicySet;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

/// Output of `explain`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExplainFormat {
    /// steps for people, each with its source
    Text,
    /// the versioned trace `medsettle.trace.v1` for machines
    Json,
}

pub const EXAMPLE: &str = "Example:
  medsettle explain --claims sample-data/claims.csv --persons sample-data/persons.csv --setl-id S20240000000150001
  medsettle explain --claims sample-data/claims.csv --persons sample-data/persons.csv --psn-no P000000015
  medsettle explain --claims sample-data/claims.csv --persons sample-data/persons.csv \\
      --setl-id S20240000000150001 --format json";

/// Explain a settlement step by step.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLE)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["setl_id", "psn_no"])))]
pub struct ExplainArgs {
    #[arg(long, num_args = 1.., required = true)]
    pub claims: Vec<PathBuf>,
    #[arg(long)]
    pub persons: PathBuf,
    /// Explain this settlement (and list the person's earlier claims of the year).
    #[arg(long)]
    pub setl_id: Option<String>,
    /// Explain every settlement of this person.
    #[arg(long)]
    pub psn_no: Option<String>,
    #[arg(long = "policy")]
    pub policies: Vec<String>,
    #[arg(long = "set")]
    pub sets: Vec<String>,
    /// `text` for people, `json` for the versioned trace (medsettle.trace.v1).
    #[arg(long, value_enum, default_value = "text")]
    pub format: ExplainFormat,
}

pub fn run(a: &ExplainArgs) -> Result<i32> {
    let policies = PolicySet::assemble(&a.policies, &a.sets)?;
    let loaded = pipeline::load(&a.claims, &a.persons, &policies)?;
    let target = match (&a.setl_id, &a.psn_no) {
        (Some(id), _) => Target::Settlement(id),
        (None, p) => Target::Person(p.as_deref().unwrap_or_default()),
    };
    match explain(&loaded, &policies, target)? {
        Explained::Rejected(why) => println!("{why}"),
        Explained::Trace(tr) => match a.format {
            ExplainFormat::Text => print!("{}", render_text(&tr)),
            ExplainFormat::Json => println!("{}", serde_json::to_string_pretty(&tr)?),
        },
    }
    Ok(0)
}
