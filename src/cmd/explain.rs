//! `medsettle explain`: one settlement (or one person's year) step by step, with the rule and
//! its source at each step — for auditors.

use crate::engine::{self, Step, Tracer};
use crate::model::{Status, time};
use crate::pipeline;
use crate::policy::PolicySet;
use anyhow::{Context, Result, bail};
use clap::Args;
use std::fmt::Write;
use std::path::PathBuf;

pub const EXAMPLE: &str = "Example:
  medsettle explain --claims sample-data/claims.csv --persons sample-data/persons.csv --setl-id S000123
  medsettle explain --claims 2024.parquet --persons persons.csv --psn-no P000000042";

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
}

pub fn run(a: &ExplainArgs) -> Result<i32> {
    let policies = PolicySet::assemble(&a.policies, &a.sets)?;
    let loaded = pipeline::load(&a.claims, &a.persons, &policies)?;
    let t = &loaded.claims.table;
    let rejects = loaded.reject_rows();
    let (psn, target) = if let Some(id) = &a.setl_id {
        if let Some(r) = rejects.iter().find(|r| &r.setl_id == id) {
            println!("{id} was rejected ({} line {}): {}", loaded.file_name(r.file), r.line, r.reason());
            return Ok(0);
        }
        let ci =
            t.claims.iter().position(|c| t.strings.get(c.setl_id) == id).with_context(|| format!("setl_id {id} is not in the claims"))?;
        (t.claims[ci].psn, Some(ci as u32))
    } else {
        let p = a.psn_no.as_deref().unwrap_or_default();
        (loaded.persons.table.get(p).with_context(|| format!("psn_no {p} is not in the persons file"))?, None)
    };
    let Some(range) = loaded.prepared.persons.iter().find(|r| t.claims[loaded.prepared.order[r.start] as usize].psn == psn) else {
        bail!("the person has no settled claims (all rejected?)");
    };
    let claims = &loaded.prepared.order[range.clone()];
    let person = &loaded.persons.table.persons[psn as usize];
    let mut steps: Vec<Step> = Vec::new();
    let mut settled = vec![crate::model::Settlement::EMPTY; claims.len()];
    let years = engine::settle_person(t, person, claims, &loaded.prepared.policy_of, &policies, &mut settled, &mut Tracer::on(&mut steps));
    let mut s = String::new();
    let _ = writeln!(
        s,
        "person {} — insutype {}, {} ({}), born {}, district {}, assistance {}, chronic [{}], consecutive years {}",
        person.psn_no,
        person.insutype,
        person.psn_type,
        crate::policy::Group::of(person.psn_type).as_str(),
        time::format_date(person.brdy),
        person.district.map(|d| d.as_str()).unwrap_or("-"),
        person.assistance,
        person.chronic_diseases.iter().map(|d| d.as_str()).collect::<Vec<_>>().join(";"),
        person.consecutive_years
    );
    let target_year = target.map(|ci| time::year_of(t.claims[ci as usize].setl_time));
    for (ci, r) in claims.iter().zip(&settled) {
        let c = &t.claims[*ci as usize];
        let id = t.strings.get(c.setl_id);
        if target_year.is_some_and(|y| y != r.year) {
            continue;
        }
        let is_target = target.is_none_or(|tc| tc == *ci);
        let _ = writeln!(
            s,
            "\n{} {} {} mdtrt {} med_type {} level {} — medfee {} = 全自费 {} + 超限价 {} + 先行自付 {} + 政策范围内 {}",
            if is_target { "==" } else { "--" },
            id,
            time::format_datetime(c.setl_time),
            t.strings.get(c.mdtrt_id),
            c.med_type.0,
            c.hosp_lv,
            c.medfee_sumamt,
            c.fulamt_ownpay_amt,
            c.overlmt_selfpay,
            c.preselfpay_amt,
            c.inscp_scp_amt
        );
        if is_target {
            for st in steps.iter().filter(|st| st.setl_id == id) {
                let _ = writeln!(s, "   [{}] {}\n       source: {}", st.layer, st.text, st.source);
            }
        }
        let _ = writeln!(
            s,
            "   => {} {}{} policy {}: act_pay_dedc {} hifp {} hifob {} hifmi {} maf {} fund {} personal {}",
            r.benefit,
            r.status,
            r.reason.map(|x| format!(" ({x})")).unwrap_or_default(),
            policies.get(r.policy).id,
            r.act_pay_dedc,
            r.hifp_pay,
            r.hifob_pay,
            r.hifmi_pay,
            r.maf_pay,
            r.fund_pay_sumamt(),
            r.psn_part_amt
        );
        if target == Some(*ci) && r.status == Status::Reversal {
            let _ = writeln!(s, "   (a reversal is the exact negation of its original; RULES.md S-22)");
        }
    }
    for y in &years {
        if target_year.is_some_and(|ty| ty != y.year) {
            continue;
        }
        let _ = writeln!(
            s,
            "\nyear {} ({}): {} claims, {} admissions; hifp {} hifob {} hifmi {} maf {} tilted {}; personal {} → final burden {}",
            y.year,
            policies.get(y.policy).id,
            y.claims,
            y.admissions,
            y.hifp_pay,
            y.hifob_pay,
            y.hifmi_pay,
            y.maf_pay,
            y.maf_tilt_pay,
            y.psn_part_amt,
            y.psn_part_amt - y.maf_tilt_pay
        );
        for st in steps.iter().filter(|st| st.layer == "year_end") {
            let _ = writeln!(s, "   [{}] {}\n       source: {}", st.layer, st.text, st.source);
        }
    }
    print!("{s}");
    Ok(0)
}
