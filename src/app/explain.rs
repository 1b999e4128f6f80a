//! Explain one settlement or one person's claims step by step: the kernel re-run for that
//! person with a tracer. The result is data ([`Trace`], serialised as `medsettle.trace.v1`)
//! and a text rendering for people.

use crate::engine::{self, Step, Tracer};
use crate::model::{Settlement, Status, time};
use crate::pipeline::Loaded;
use crate::policy::PolicySet;
use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

/// The version tag of the JSON trace. Amounts are exact decimals as text (`"1234.50"`).
pub const TRACE_FORMAT: &str = "medsettle.trace.v1";

#[derive(Debug, Serialize)]
pub struct TraceStep {
    pub layer: &'static str,
    pub text: String,
    /// where the rule comes from (seed section or decision id)
    pub source: String,
    /// the numbers of the step by name (exact decimals as text)
    pub values: BTreeMap<String, String>,
    /// the policy parameters read (TOML paths in the policy file)
    pub params: Vec<String>,
}

impl From<&Step> for TraceStep {
    fn from(s: &Step) -> TraceStep {
        TraceStep {
            layer: s.layer,
            text: s.text.clone(),
            source: s.source.clone(),
            values: s.values.iter().cloned().collect(),
            params: s.params.clone(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct TraceClaim {
    pub setl_id: String,
    pub setl_time: String,
    pub year: i32,
    pub mdtrt_id: String,
    pub med_type: u8,
    pub hosp_lv: u8,
    /// the explained claim (the others of its year are listed for context, without steps)
    pub target: bool,
    pub medfee_sumamt: String,
    pub fulamt_ownpay_amt: String,
    pub overlmt_selfpay: String,
    pub preselfpay_amt: String,
    pub inscp_scp_amt: String,
    pub policy_id: String,
    pub benefit: &'static str,
    pub status: &'static str,
    pub reason: Option<&'static str>,
    pub act_pay_dedc: String,
    pub hifp_pay: String,
    pub hifob_pay: String,
    pub hifmi_pay: String,
    pub maf_pay: String,
    pub fund_pay_sumamt: String,
    pub psn_part_amt: String,
    pub steps: Vec<TraceStep>,
}

#[derive(Debug, Serialize)]
pub struct TraceYear {
    pub year: i32,
    pub policy_id: String,
    pub claims: u32,
    pub admissions: u32,
    pub hifp_pay: String,
    pub hifob_pay: String,
    pub hifmi_pay: String,
    pub maf_pay: String,
    pub maf_tilt_pay: String,
    pub psn_part_amt: String,
    pub final_burden: String,
    pub steps: Vec<TraceStep>,
}

#[derive(Debug, Serialize)]
pub struct TracePerson {
    pub psn_no: String,
    pub insutype: &'static str,
    pub psn_type: &'static str,
    pub group: &'static str,
    pub brdy: String,
    pub district: Option<&'static str>,
    pub assistance: &'static str,
    pub chronic_diseases: Vec<&'static str>,
    pub consecutive_years: u32,
    pub prior_zero_claim: bool,
}

#[derive(Debug, Serialize)]
pub struct Trace {
    pub format: &'static str,
    pub person: TracePerson,
    pub claims: Vec<TraceClaim>,
    pub years: Vec<TraceYear>,
}

/// What to explain.
pub enum Target<'a> {
    Settlement(&'a str),
    Person(&'a str),
}

/// The outcome: a trace, or the reason the row was rejected.
pub enum Explained {
    Trace(Box<Trace>),
    Rejected(String),
}

/// Settles the person of the target with a tracer attached.
pub fn explain(loaded: &Loaded, policies: &PolicySet, target: Target) -> Result<Explained> {
    let t = &loaded.claims.table;
    let (psn, target_claim) = match target {
        Target::Settlement(id) => {
            if let Some(r) = loaded.reject_rows().iter().find(|r| r.setl_id == id) {
                return Ok(Explained::Rejected(format!(
                    "{id} was rejected ({} line {}): {}",
                    loaded.file_name(r.file),
                    r.line,
                    r.reason()
                )));
            }
            let ci = t
                .claims
                .iter()
                .position(|c| t.strings.get(c.setl_id) == id)
                .with_context(|| format!("setl_id {id} is not in the claims"))?;
            (t.claims[ci].psn, Some(ci as u32))
        }
        Target::Person(p) => (loaded.persons.table.get(p).with_context(|| format!("psn_no {p} is not in the persons file"))?, None),
    };
    let Some(range) = loaded.prepared.persons.iter().find(|r| t.claims[loaded.prepared.order[r.start] as usize].psn == psn) else {
        bail!("the person has no settled claims (all rejected?)");
    };
    let claims = &loaded.prepared.order[range.clone()];
    let person = &loaded.persons.table.persons[psn as usize];
    let mut steps: Vec<Step> = Vec::new();
    let mut settled = vec![Settlement::EMPTY; claims.len()];
    let years =
        engine::settle_person(t, person, claims, &loaded.prepared.policy_of, policies, &mut settled, None, &mut Tracer::on(&mut steps));
    // Only the target's year when one settlement is explained.
    let target_year = target_claim.map(|ci| time::year_of(t.claims[ci as usize].setl_time));
    let mut out = Trace {
        format: TRACE_FORMAT,
        person: TracePerson {
            psn_no: person.psn_no.to_string(),
            insutype: person.insutype.as_str(),
            psn_type: person.psn_type.as_str(),
            group: crate::policy::Group::of(person.psn_type).as_str(),
            brdy: time::format_date(person.brdy),
            district: person.district.map(|d| d.as_str()),
            assistance: person.assistance.as_str(),
            chronic_diseases: person.chronic_diseases.iter().map(|d| d.as_str()).collect(),
            consecutive_years: person.consecutive_years.into(),
            prior_zero_claim: person.prior_zero_claim,
        },
        claims: Vec::new(),
        years: Vec::new(),
    };
    for (ci, r) in claims.iter().zip(&settled) {
        if target_year.is_some_and(|y| y != i32::from(r.year)) {
            continue;
        }
        let c = &t.claims[*ci as usize];
        let id = t.strings.get(c.setl_id);
        let is_target = target_claim.is_none_or(|tc| tc == *ci);
        out.claims.push(TraceClaim {
            setl_id: id.to_string(),
            setl_time: time::format_datetime(c.setl_time),
            year: i32::from(r.year),
            mdtrt_id: t.strings.get(c.mdtrt_id).to_string(),
            med_type: c.med_type.0,
            hosp_lv: c.hosp_lv(),
            target: is_target,
            medfee_sumamt: c.medfee_sumamt().to_string(),
            fulamt_ownpay_amt: c.fulamt_ownpay_amt.to_string(),
            overlmt_selfpay: c.overlmt_selfpay.to_string(),
            preselfpay_amt: c.preselfpay_amt.to_string(),
            inscp_scp_amt: c.inscp_scp_amt.to_string(),
            policy_id: policies.get(r.policy).id.clone(),
            benefit: r.benefit.as_str(),
            status: r.status.as_str(),
            reason: r.reason.map(|x| x.as_str()),
            act_pay_dedc: r.act_pay_dedc.to_string(),
            hifp_pay: r.hifp_pay.to_string(),
            hifob_pay: r.hifob_pay.to_string(),
            hifmi_pay: r.hifmi_pay.to_string(),
            maf_pay: r.maf_pay.to_string(),
            fund_pay_sumamt: r.fund_pay_sumamt().to_string(),
            psn_part_amt: r.psn_part_amt.to_string(),
            steps: if is_target { steps.iter().filter(|s| s.setl_id == id).map(TraceStep::from).collect() } else { Vec::new() },
        });
    }
    for y in &years {
        if target_year.is_some_and(|ty| ty != y.year) {
            continue;
        }
        out.years.push(TraceYear {
            year: y.year,
            policy_id: policies.get(y.policy).id.clone(),
            claims: y.claims,
            admissions: y.admissions,
            hifp_pay: y.hifp_pay.to_string(),
            hifob_pay: y.hifob_pay.to_string(),
            hifmi_pay: y.hifmi_pay.to_string(),
            maf_pay: y.maf_pay.to_string(),
            maf_tilt_pay: y.maf_tilt_pay.to_string(),
            psn_part_amt: y.psn_part_amt.to_string(),
            final_burden: (y.psn_part_amt - y.maf_tilt_pay).to_string(),
            // year-end steps carry an empty setl_id and their own year
            steps: steps.iter().filter(|s| s.setl_id.is_empty() && s.year == y.year).map(TraceStep::from).collect(),
        });
    }
    Ok(Explained::Trace(Box::new(out)))
}

/// The trace as text for people: each step with its source on the next line.
pub fn render_text(tr: &Trace) -> String {
    let mut s = String::new();
    let p = &tr.person;
    let _ = writeln!(
        s,
        "person {} — insutype {}, {} ({}), born {}, district {}, assistance {}, chronic [{}], consecutive years {}",
        p.psn_no,
        p.insutype,
        p.psn_type,
        p.group,
        p.brdy,
        p.district.unwrap_or("-"),
        p.assistance,
        p.chronic_diseases.join(";"),
        p.consecutive_years
    );
    for c in &tr.claims {
        let _ = writeln!(
            s,
            "\n{} {} {} mdtrt {} med_type {} level {} — medfee {} = 全自费 {} + 超限价 {} + 先行自付 {} + 政策范围内 {}",
            if c.target { "==" } else { "--" },
            c.setl_id,
            c.setl_time,
            c.mdtrt_id,
            c.med_type,
            c.hosp_lv,
            c.medfee_sumamt,
            c.fulamt_ownpay_amt,
            c.overlmt_selfpay,
            c.preselfpay_amt,
            c.inscp_scp_amt
        );
        for st in &c.steps {
            let _ = writeln!(s, "   [{}] {}\n       source: {}", st.layer, st.text, st.source);
        }
        let _ = writeln!(
            s,
            "   => {} {}{} policy {}: act_pay_dedc {} hifp {} hifob {} hifmi {} maf {} fund {} personal {}",
            c.benefit,
            c.status,
            c.reason.map(|x| format!(" ({x})")).unwrap_or_default(),
            c.policy_id,
            c.act_pay_dedc,
            c.hifp_pay,
            c.hifob_pay,
            c.hifmi_pay,
            c.maf_pay,
            c.fund_pay_sumamt,
            c.psn_part_amt
        );
        if c.target && c.status == Status::Reversal.as_str() {
            let _ = writeln!(s, "   (a reversal is the exact negation of its original; RULES.md S-22)");
        }
    }
    for y in &tr.years {
        let _ = writeln!(
            s,
            "\nyear {} ({}): {} claims, {} admissions; hifp {} hifob {} hifmi {} maf {} tilted {}; personal {} → final burden {}",
            y.year,
            y.policy_id,
            y.claims,
            y.admissions,
            y.hifp_pay,
            y.hifob_pay,
            y.hifmi_pay,
            y.maf_pay,
            y.maf_tilt_pay,
            y.psn_part_amt,
            y.final_burden
        );
        for st in &y.steps {
            let _ = writeln!(s, "   [{}] {}\n       source: {}", st.layer, st.text, st.source);
        }
    }
    s
}
