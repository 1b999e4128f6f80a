//! `medsettle replay`: recompute a past year under that year's rules and compare with the
//! amounts the platform recorded (hifp_pay, hifob_pay, hifmi_pay, maf_pay, psn_part_amt).
//! Exit 3 when a difference exceeds the tolerance.

use crate::io::write::{Format, OutputDir};
use crate::model::{Money, Settlement, time};
use crate::pipeline;
use crate::policy::PolicySet;
use anyhow::Result;
use clap::Args;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

pub const EXAMPLE: &str = "Example:
  medsettle replay --claims extract-2024.csv --persons persons.csv --out replay-2024/
  medsettle replay --claims extract-2024.parquet --persons persons.parquet --out r/ --tolerance 0.05";

/// Recompute and compare with the recorded amounts.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLE)]
pub struct ReplayArgs {
    #[arg(long, num_args = 1.., required = true)]
    pub claims: Vec<PathBuf>,
    #[arg(long)]
    pub persons: PathBuf,
    #[arg(long)]
    pub out: PathBuf,
    /// Largest difference (CNY) that is not a discrepancy.
    #[arg(long, default_value = "0.01")]
    pub tolerance: String,
    #[arg(long = "policy")]
    pub policies: Vec<String>,
    #[arg(long = "set")]
    pub sets: Vec<String>,
    #[arg(long, value_enum, default_value = "csv")]
    pub format: Format,
}

const FIELDS: [&str; 5] = ["hifp_pay", "hifob_pay", "hifmi_pay", "maf_pay", "psn_part_amt"];

fn computed(s: &Settlement) -> [Money; 5] {
    [s.hifp_pay, s.hifob_pay, s.hifmi_pay, s.maf_pay, s.psn_part_amt]
}

pub fn run(a: &ReplayArgs) -> Result<i32> {
    let start = Instant::now();
    let tol = Money::parse(&a.tolerance).map_err(|e| anyhow::anyhow!("--tolerance: {e}"))?.max0();
    let policies = PolicySet::assemble(&a.policies, &a.sets)?;
    let loaded = pipeline::load(&a.claims, &a.persons, &policies)?;
    let settled = pipeline::settle(&loaded, &policies);
    let t = &loaded.claims.table;

    let mut out = OutputDir::new(&a.out)?;
    let mut w = csv::Writer::from_writer(out.create("discrepancies.csv")?);
    let named = |e: csv::Error| anyhow::anyhow!("cannot write {}: {e}", a.out.join("discrepancies.csv").display());
    w.write_record(["setl_id", "psn_no", "setl_time", "policy_id", "benefit", "status", "field", "recorded", "computed", "difference"])
        .map_err(named)?;
    let (mut compared, mut not_recorded, mut claims_off) = (0u64, 0u64, 0u64);
    let mut by_field: BTreeMap<(&str, &str), (u64, Money, Money)> = BTreeMap::new();
    let mut totals = [(Money::ZERO, Money::ZERO); 5];
    for ci in settled.input_order() {
        let ci = ci as usize;
        let Some(s) = settled.get(ci) else { continue };
        let c = &t.claims[ci];
        let Some(rec) = c.recorded.as_deref() else {
            not_recorded += 1;
            continue;
        };
        compared += 1;
        let recorded = [rec.hifp_pay, rec.hifob_pay, rec.hifmi_pay, rec.maf_pay, rec.psn_part_amt];
        let mut off = false;
        for (i, (r, v)) in recorded.iter().zip(computed(s)).enumerate() {
            let Some(r) = *r else { continue };
            totals[i].0 += r;
            totals[i].1 += v;
            let d = v - r;
            if Money::from_fen(d.fen().abs()) > tol {
                off = true;
                let e = by_field.entry((FIELDS[i], s.benefit.as_str())).or_default();
                e.0 += 1;
                e.1 += r;
                e.2 += v;
                w.write_record([
                    t.strings.get(c.setl_id).to_string(),
                    loaded.persons.table.persons[c.psn as usize].psn_no.clone(),
                    time::format_datetime(c.setl_time),
                    policies.get(s.policy).id.clone(),
                    s.benefit.to_string(),
                    s.status.to_string(),
                    FIELDS[i].to_string(),
                    r.to_string(),
                    v.to_string(),
                    d.to_string(),
                ])
                .map_err(named)?;
            }
        }
        claims_off += off as u64;
    }
    w.into_inner().map_err(|e| anyhow::anyhow!("cannot write {}: {}", a.out.join("discrepancies.csv").display(), e.error()))?.finish()?;

    let mut md = String::from("# Replay report\n\n");
    let _ = writeln!(
        md,
        "Tolerance: {tol} CNY per amount. Claims compared: {compared}; without recorded amounts: {not_recorded}; with a discrepancy: {claims_off}.\n"
    );
    let _ = writeln!(md, "| amount | recorded total | recomputed total | difference |\n|---|---:|---:|---:|");
    for (i, f) in FIELDS.iter().enumerate() {
        let _ = writeln!(md, "| {f} | {} | {} | {} |", totals[i].0, totals[i].1, totals[i].1 - totals[i].0);
    }
    if !by_field.is_empty() {
        let _ = writeln!(
            md,
            "\n## Discrepancies by amount and benefit\n\n| amount | benefit | claims | recorded | recomputed |\n|---|---|---:|---:|---:|"
        );
        for ((f, b), (n, r, v)) in &by_field {
            let _ = writeln!(md, "| {f} | {b} | {n} | {r} | {v} |");
        }
        let _ = writeln!(
            md,
            "\nEach line of discrepancies.csv is one amount of one claim; `medsettle explain --setl-id ID` shows how it was recomputed."
        );
    }
    out.write_file("replay_report.md", md.as_bytes())?;
    // The full recomputation next to the comparison, for drill-down; one set, one commit
    // (the manifest lists the comparison files too).
    let c =
        pipeline::write_outputs_into(&mut out, None, a.format, &loaded, &policies, &settled, "replay", "Replay: recomputed settlement")?;
    out.commit()?;
    eprintln!(
        "medsettle replay: {} claims read, {} compared, {} with a discrepancy above {} ({} rejected); {:.1} s → {}",
        c.read,
        compared,
        claims_off,
        tol,
        c.rejected,
        start.elapsed().as_secs_f64(),
        a.out.display()
    );
    Ok(if claims_off > 0 { 3 } else { 0 })
}
