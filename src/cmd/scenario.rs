//! `medsettle scenario`.

use anyhow::Result;
use clap::Args;

#[derive(Args, Debug)]
pub struct ScenarioArgs {}

pub fn run(_a: &ScenarioArgs) -> Result<i32> {
    anyhow::bail!("scenario: not implemented yet")
}
