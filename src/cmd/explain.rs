//! `medsettle explain`.

use anyhow::Result;
use clap::Args;

#[derive(Args, Debug)]
pub struct ExplainArgs {}

pub fn run(_a: &ExplainArgs) -> Result<i32> {
    anyhow::bail!("explain: not implemented yet")
}
