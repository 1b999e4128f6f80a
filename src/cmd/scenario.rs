//! `medsettle scenario`: the same claims under the baseline policies and under each what-if
//! scenario (a small TOML file of parameter overrides); what the funds would have spent and
//! who gains or loses.

use crate::app::scenario::{self, Sweep};
use crate::engine::Settled;
use crate::io::write::{Format, OutputDir};
use crate::pipeline;
use crate::policy::PolicySet;
use crate::policy::overrides::Scenario;
use crate::report::doc::Table;
use crate::report::i18n::Lang;
use crate::report::scenario::Comparison;
use crate::report::{self, html, markdown, xlsx};
use anyhow::Result;
use clap::Args;
use std::cell::RefCell;
use std::path::PathBuf;
use std::time::Instant;

pub const EXAMPLE: &str = "Example:
  medsettle scenario --claims sample-data/claims.csv --persons sample-data/persons.csv \\
      --scenario sample-data/scenarios/level3-rate-75.toml --out what-if/
  medsettle scenario --claims sample-data/claims.csv --persons sample-data/persons.csv \\
      --sweep inpatient.cap=300000..500000:50000 --out cap-sweep/ --lang en

A scenario file:
  name = \"level3-rate-75\"
  description = \"Resident level-3 inpatient rate 70% -> 75%\"
  [[change]]
  policy = \"changzhou-resident-2026\"
  set = { \"inpatient.bands.0.rate.adult\" = [0.90, 0.80, 0.75] }";

/// Compare the baseline with what-if scenarios.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLE)]
pub struct ScenarioArgs {
    #[arg(long, num_args = 1.., required = true)]
    pub claims: Vec<PathBuf>,
    #[arg(long)]
    pub persons: PathBuf,
    /// Scenario files (TOML; schemas/scenario.schema.json).
    #[arg(long = "scenario", num_args = 1.., required_unless_present = "sweep")]
    pub scenarios: Vec<PathBuf>,
    /// Sweep one parameter, KEY=FROM..TO:STEP: one kernel run per value, a cost curve
    /// (cost_curve.csv and a chart). The input is read and ordered once.
    #[arg(long)]
    pub sweep: Option<String>,
    #[arg(long)]
    pub out: PathBuf,
    /// Baseline policies (as for settle).
    #[arg(long = "policy")]
    pub policies: Vec<String>,
    /// Baseline overrides (as for settle).
    #[arg(long = "set")]
    pub sets: Vec<String>,
    /// Language of the human reports (report.html, report.xlsx); machine outputs keep codes.
    #[arg(long, value_enum, default_value = "zh")]
    pub lang: Lang,
    /// Also write the full settle outputs of the baseline and each scenario in subfolders.
    #[arg(long)]
    pub full: bool,
    #[arg(long, value_enum, default_value = "csv")]
    pub format: Format,
}

fn write_doc_tables(out: &mut OutputDir, tables: &[&Table]) -> Result<()> {
    for t in tables {
        let mut w = out.create(&format!("{}.csv", t.name))?;
        t.write_csv(&mut w)?;
        w.finish()?;
    }
    Ok(())
}

pub fn run(a: &ScenarioArgs) -> Result<i32> {
    let start = Instant::now();
    let base = PolicySet::assemble(&a.policies, &a.sets)?;
    let (scenarios, sets): (Vec<Scenario>, Vec<PolicySet>) =
        crate::app::settle::scenario_policies(&base, &a.scenarios)?.into_iter().unzip();
    let sweep: Option<Sweep> = a.sweep.as_deref().map(str::parse).transpose()?;
    let loaded = pipeline::load(&a.claims, &a.persons, &base)?;
    let persons = &loaded.persons.table;
    let baseline_ids = base.policies.iter().map(|p| p.policy.id.as_str()).collect::<Vec<_>>().join(", ");

    // Everything goes into one output set; with --full each run's outputs are written in its
    // subfolder as soon as it is settled (only one run's settlements are held at a time).
    let out = RefCell::new(OutputDir::new(&a.out)?);
    let full = |name: &str, ps: &PolicySet, s: &Settled| -> Result<()> {
        if a.full {
            let title = if name == "baseline" { "Scenario baseline".to_string() } else { format!("Scenario {name}") };
            pipeline::write_outputs_into(&mut out.borrow_mut(), Some(name), a.format, &loaded, ps, s, "scenario", &title, a.lang)?;
        }
        Ok(())
    };
    let compared = if scenarios.is_empty() { None } else { Some(scenario::compare(&loaded, &base, &scenarios, &sets, a.lang, &full)?) };
    let curve = match &sweep {
        Some(sw) => {
            let points = scenario::run_sweep(&loaded, &base, sw)?;
            Some(report::scenario::cost_curve(&sw.key, &points, a.lang))
        }
        None => None,
    };

    let mut out = out.into_inner();
    if let Some(c) = &compared {
        write_doc_tables(&mut out, &c.comparison.tables())?;
        report::scenario::write_persons_delta(&mut out, &c.delta, &scenarios, persons)?;
    }
    if let Some((t, _)) = &curve {
        write_doc_tables(&mut out, &[t])?;
    }
    let doc = match &compared {
        Some(c) => c.comparison.document(&baseline_ids, curve),
        None => Comparison::new(a.lang).document(&baseline_ids, curve),
    };
    out.write_file("scenario_report.md", markdown::render_doc(&doc).as_bytes())?;
    out.write_file("report.html", html::render(&doc).as_bytes())?;
    out.write_file("report.xlsx", &xlsx::render(&doc)?)?;
    // One set: the comparison and every scenario folder are committed together.
    pipeline::write_set_manifest(&mut out, "scenario")?;
    out.commit()?;
    eprintln!(
        "medsettle scenario: {} scenario(s){} over {} claims, {} person-years changed; {:.1} s → {}",
        scenarios.len(),
        sweep.as_ref().map(|s| format!(" and a {}-point sweep of {}", s.values.len(), s.key)).unwrap_or_default(),
        loaded.claims.rows.iter().sum::<u64>(),
        compared.as_ref().map_or(0, |c| c.delta.len()),
        start.elapsed().as_secs_f64(),
        a.out.display()
    );
    Ok(0)
}
