//! `medsettle replay`.

use anyhow::Result;
use clap::Args;

#[derive(Args, Debug)]
pub struct ReplayArgs {}

pub fn run(_a: &ReplayArgs) -> Result<i32> {
    anyhow::bail!("replay: not implemented yet")
}
