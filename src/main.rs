//! The `medsettle` command line: parse arguments, dispatch. Nothing else.
//! Exit codes: 0 success, 1 error, 2 bad usage (clap), 3 replay found discrepancies, 4 outputs
//! written but the share of rejected claims is above `--max-reject-rate`; `state verify` exits 3
//! when the stored state differs from its claims settled again.

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
    /// Settle under the baseline and under what-if scenarios; compare funds and people.
    Scenario(cmd::scenario::ScenarioArgs),
    /// Recompute and compare with the amounts the platform recorded.
    Replay(cmd::replay::ReplayArgs),
    /// Explain a settlement step by step, with the rule and its source at each step.
    Explain(cmd::explain::ExplainArgs),
    /// List, show, check and compare policies.
    Policy(cmd::policy::PolicyArgs),
    /// Generate realistic synthetic persons and claims.
    Generate(cmd::generate::GenerateArgs),
    /// Show, export and verify a nightly state (`settle --state`).
    State(cmd::state::StateArgs),
}

fn main() {
    // A closed pipe (`medsettle explain … | head`) ends the process quietly, as for any Unix
    // filter, instead of a panic in println!. Output folders are committed atomically, so a
    // signal at any moment leaves a complete set (CONTRACT.md §6).
    #[cfg(unix)]
    // SAFETY: restoring the default action of one signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Settle(a) => cmd::settle::run(a),
        Command::Scenario(a) => cmd::scenario::run(a),
        Command::Replay(a) => cmd::replay::run(a),
        Command::Explain(a) => cmd::explain::run(a),
        Command::Policy(a) => cmd::policy::run(a).map(|_| 0),
        Command::Generate(a) => cmd::generate::run(a).map(|_| 0),
        Command::State(a) => cmd::state::run(a),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("medsettle: error: {e:#}");
            std::process::exit(1);
        }
    }
}
