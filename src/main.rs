//! The `medsettle` command line: parse arguments, dispatch. Nothing else.

use clap::{Parser, Subcommand};
use medsettle::cmd;

/// Batch claims settlement for Chinese basic medical insurance (Changzhou).
#[derive(Parser)]
#[command(name = "medsettle", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Settle every claim and write settlements, person_years, fund report, rejects, manifest.
    Settle(cmd::settle::SettleArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Settle(a) => cmd::settle::run(a).map(|_| 0),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("medsettle: error: {e:#}");
            std::process::exit(1);
        }
    }
}
