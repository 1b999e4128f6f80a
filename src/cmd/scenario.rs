//! `medsettle scenario`: the same claims under the baseline policies and under each what-if
//! scenario (a small TOML file of parameter overrides); what the funds would have spent and
//! who gains or loses.

use crate::engine::Settled;
use crate::io::write::{ColType, Format, OutputDir, Val, write_table};
use crate::model::{Money, PersonYear};
use crate::pipeline;
use crate::policy::overrides::{self, Scenario};
use crate::policy::{LoadedPolicy, PolicySet};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

pub const EXAMPLE: &str = "Example:
  medsettle scenario --claims sample-data/claims.csv --persons sample-data/persons.csv \\
      --scenario sample-data/scenarios/level3-rate-75.toml --out what-if/

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
    #[arg(long = "scenario", num_args = 1.., required = true)]
    pub scenarios: Vec<PathBuf>,
    #[arg(long)]
    pub out: PathBuf,
    /// Baseline policies (as for settle).
    #[arg(long = "policy")]
    pub policies: Vec<String>,
    /// Baseline overrides (as for settle).
    #[arg(long = "set")]
    pub sets: Vec<String>,
    /// Also write the full settle outputs of the baseline and each scenario in subfolders.
    #[arg(long)]
    pub full: bool,
    #[arg(long, value_enum, default_value = "csv")]
    pub format: Format,
}

/// The policies of a scenario: the baseline with the scenario's overrides.
pub fn scenario_policies(base: &PolicySet, sc: &Scenario) -> Result<PolicySet> {
    for ch in &sc.changes {
        if let Some(p) = &ch.policy
            && !base.policies.iter().any(|b| &b.policy.id == p)
        {
            bail!("scenario {}: policy {p} is not in the run", sc.name);
        }
    }
    // A change without `policy` applies to every policy that has the key (as --set does).
    let mut used = vec![false; sc.changes.iter().map(|c| c.set.len()).sum()];
    let mut out = Vec::new();
    for lp in &base.policies {
        let (_, text) = crate::policy::read_spec(lp.origin.strip_prefix("builtin:").unwrap_or(&lp.origin))?;
        let value: toml::Value = toml::from_str(&text)?;
        let mut extra = Vec::new();
        let mut k = 0;
        for ch in &sc.changes {
            for (key, v) in &ch.set {
                let kv = format!("{key}={v}");
                let applies = match &ch.policy {
                    Some(p) => p == &lp.policy.id,
                    None => overrides::has_key(&value, &kv),
                };
                if applies {
                    used[k] = true;
                    extra.push(kv);
                }
                k += 1;
            }
        }
        if extra.is_empty() {
            out.push(lp.clone());
            continue;
        }
        let mut sets = lp.overrides.clone();
        sets.extend(extra);
        out.push(LoadedPolicy::from_text(&text, &lp.origin, &sets).with_context(|| format!("scenario {}", sc.name))?);
    }
    if let Some(i) = used.iter().position(|u| !u) {
        let key = sc.changes.iter().flat_map(|c| c.set.keys()).nth(i).cloned().unwrap_or_default();
        bail!("scenario {}: no policy of the run has the parameter `{key}`", sc.name);
    }
    Ok(PolicySet::from_loaded(out))
}

fn funds(y: &PersonYear) -> Money {
    y.hifp_pay + y.hifob_pay + y.hifmi_pay + y.maf_pay + y.maf_tilt_pay
}

fn totals(s: &Settled, policies: &PolicySet) -> BTreeMap<(i32, String, &'static str), Money> {
    let mut m = BTreeMap::new();
    for y in &s.person_years {
        let id = policies.get(y.policy).id.clone();
        for (f, v) in [
            ("hifp", y.hifp_pay),
            ("hifob", y.hifob_pay),
            ("hifmi", y.hifmi_pay),
            ("maf", y.maf_pay),
            ("maf_tilt", y.maf_tilt_pay),
            ("psn_part", y.psn_part_amt),
        ] {
            *m.entry((y.year, id.clone(), f)).or_insert(Money::ZERO) += v;
        }
    }
    m
}

type DeltaRow = (usize, u32, i32, Money, Money, Money, Money);

/// persons_delta.csv: every person-year whose final burden changes.
fn write_delta<'a>(
    out: &mut OutputDir,
    rows: &'a [DeltaRow],
    scenarios: &'a [Scenario],
    persons: &'a crate::model::PersonTable,
) -> Result<()> {
    let cols: &[(&str, ColType)] = &[
        ("scenario", ColType::Text),
        ("psn_no", ColType::Text),
        ("year", ColType::Int),
        ("psn_type", ColType::Text),
        ("baseline_funds", ColType::Money),
        ("scenario_funds", ColType::Money),
        ("funds_difference", ColType::Money),
        ("baseline_burden", ColType::Money),
        ("scenario_burden", ColType::Money),
        ("burden_difference", ColType::Money),
    ];
    let row = |i: usize, v: &mut Vec<Val<'a>>| {
        let (k, psn, year, bf, sf, bb, sb) = rows[i];
        let p = &persons.persons[psn as usize];
        v.extend([
            Val::Text(&scenarios[k].name),
            Val::Text(&p.psn_no),
            Val::Int(year as i64),
            Val::Text(p.psn_type.as_str()),
            Val::Money(bf),
            Val::Money(sf),
            Val::Money(sf - bf),
            Val::Money(bb),
            Val::Money(sb),
            Val::Money(sb - bb),
        ]);
    };
    write_table(out, "persons_delta", Format::Csv, cols, rows.len(), &row, &|_| {})
}

pub fn run(a: &ScenarioArgs) -> Result<i32> {
    let start = Instant::now();
    let base = PolicySet::assemble(&a.policies, &a.sets)?;
    let scenarios: Vec<Scenario> = a.scenarios.iter().map(|p| Scenario::load(p)).collect::<Result<_>>()?;
    let mut names: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
    names.sort();
    if names.windows(2).any(|w| w[0] == w[1]) || names.contains(&"baseline") {
        bail!("scenario names must be distinct and not `baseline`");
    }
    let sets: Vec<PolicySet> = scenarios.iter().map(|s| scenario_policies(&base, s)).collect::<Result<_>>()?;
    let loaded = pipeline::load(&a.claims, &a.persons, &base)?;
    let baseline = pipeline::settle(&loaded, &base);
    let persons = &loaded.persons.table;
    let base_by: HashMap<(u32, i32), &PersonYear> = baseline.person_years.iter().map(|y| ((y.psn, y.year), y)).collect();
    let base_tot = totals(&baseline, &base);

    let mut out = OutputDir::new(&a.out)?;
    let mut cmp = String::from("scenario,year,policy_id,fund,baseline,scenario,difference\n");
    let mut md = format!(
        "# Scenario comparison\n\nBaseline: {}.\n",
        base.policies.iter().map(|p| p.policy.id.as_str()).collect::<Vec<_>>().join(", ")
    );
    let mut delta_rows: Vec<DeltaRow> = Vec::new();
    let mut results = Vec::new();
    for (k, (sc, ps)) in scenarios.iter().zip(&sets).enumerate() {
        let s = pipeline::settle(&loaded, ps);
        let tot = totals(&s, ps);
        let _ = writeln!(
            md,
            "\n## {}\n\n{}\n\nChanges: {}\n",
            sc.name,
            sc.description,
            sc.changes.iter().flat_map(|c| c.set.iter().map(|(k, v)| format!("`{k} = {v}`"))).collect::<Vec<_>>().join(", ")
        );
        let _ = writeln!(md, "| year | policy | fund | baseline | scenario | difference |\n|---|---|---|---:|---:|---:|");
        for (key, v) in &tot {
            let b = base_tot.get(key).copied().unwrap_or(Money::ZERO);
            let _ = writeln!(cmp, "{},{},{},{},{},{},{}", sc.name, key.0, key.1, key.2, b, v, *v - b);
            let _ = writeln!(md, "| {} | {} | {} | {} | {} | {} |", key.0, key.1, key.2, b, v, *v - b);
        }
        let (mut gain, mut lose, mut gained, mut lost) = (0u64, 0u64, Money::ZERO, Money::ZERO);
        for y in &s.person_years {
            let Some(b) = base_by.get(&(y.psn, y.year)) else { continue };
            let (bb, sb) = (b.psn_part_amt - b.maf_tilt_pay, y.psn_part_amt - y.maf_tilt_pay);
            if bb != sb {
                if sb < bb {
                    gain += 1;
                    gained += bb - sb;
                } else {
                    lose += 1;
                    lost += sb - bb;
                }
                delta_rows.push((k, y.psn, y.year, funds(b), funds(y), bb, sb));
            }
        }
        let _ = writeln!(
            md,
            "\nPersons who pay less: {gain} (together {gained} less); who pay more: {lose} (together {lost} more). Details: persons_delta.csv."
        );
        results.push(s);
    }
    out.create("comparison.csv")?.write_all(cmp.as_bytes())?;
    out.create("scenario_report.md")?.write_all(md.as_bytes())?;
    write_delta(&mut out, &delta_rows, &scenarios, persons)?;
    out.commit()?;
    if a.full {
        pipeline::write_outputs(&a.out.join("baseline"), a.format, &loaded, &base, &baseline, "scenario", "Scenario baseline")?;
        for ((sc, ps), s) in scenarios.iter().zip(&sets).zip(&results) {
            pipeline::write_outputs(&a.out.join(&sc.name), a.format, &loaded, ps, s, "scenario", &format!("Scenario {}", sc.name))?;
        }
    }
    eprintln!(
        "medsettle scenario: {} scenario(s) over {} claims, {} person-years changed; {:.1} s → {}",
        scenarios.len(),
        loaded.claims.rows.iter().sum::<u64>(),
        delta_rows.len(),
        start.elapsed().as_secs_f64(),
        a.out.display()
    );
    Ok(0)
}
