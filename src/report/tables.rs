//! The settlements and person_years tables (CONTRACT.md §4), column order fixed.

use crate::engine::Settled;
use crate::io::write::{ColType, Format, OutputDir, Val, write_table};
use crate::model::{ClaimTable, PersonTable, PersonYear, prefetch};
use crate::policy::PolicySet;
use anyhow::Result;

pub const SETTLEMENT_COLUMNS: &[(&str, ColType)] = &[
    ("setl_id", ColType::Id),
    ("psn_no", ColType::Id),
    ("mdtrt_id", ColType::Id),
    ("setl_time", ColType::DateTime),
    ("year", ColType::Int),
    ("policy_id", ColType::Text),
    ("benefit", ColType::Text),
    ("medfee_sumamt", ColType::Money),
    ("inscp_scp_amt", ColType::Money),
    ("act_pay_dedc", ColType::Money),
    ("hifp_pay", ColType::Money),
    ("hifob_pay", ColType::Money),
    ("hifmi_pay", ColType::Money),
    ("maf_pay", ColType::Money),
    ("fund_pay_sumamt", ColType::Money),
    ("psn_part_amt", ColType::Money),
    ("status", ColType::Text),
    ("reason", ColType::Text),
    // appended after the contract's columns (RULES.md S-28)
    ("oth_pay", ColType::Money),
];

pub const PERSON_YEAR_COLUMNS: &[(&str, ColType)] = &[
    ("psn_no", ColType::Id),
    ("year", ColType::Int),
    ("policy_id", ColType::Text),
    ("claims", ColType::Int),
    ("admissions", ColType::Int),
    ("medfee_sumamt", ColType::Money),
    ("inscp_scp_amt", ColType::Money),
    ("hifp_pay", ColType::Money),
    ("hifob_pay", ColType::Money),
    ("hifmi_pay", ColType::Money),
    ("maf_pay", ColType::Money),
    ("maf_tilt_pay", ColType::Money),
    ("psn_part_amt", ColType::Money),
    // additions after the contract's columns (oth_pay: RULES.md S-28, CONTRACT.md §4)
    ("oth_pay", ColType::Money),
    ("act_pay_dedc", ColType::Money),
    ("psn_type", ColType::Text),
    ("assistance", ColType::Text),
    ("final_burden", ColType::Money),
];

/// The cells of settlements row `i`; `rows` are the claim indices in output order.
pub fn settlement_row<'a>(
    table: &'a ClaimTable,
    persons: &'a PersonTable,
    policies: &'a PolicySet,
    settled: &'a Settled,
    rows: &'a [u32],
) -> impl Fn(usize, &mut Vec<Val<'a>>) + Sync + 'a {
    // Rows go in input order; their persons and settlements lie in person order: each is
    // looked up a few rows ahead (the person's psn_no text, behind the person, in two steps).
    const AHEAD: usize = 8;
    let person = move |ci: u32| table.claims.get(ci as usize).and_then(|c| persons.persons.get(c.psn as usize));
    move |i: usize, v: &mut Vec<Val<'a>>| {
        if let Some(&ahead) = rows.get(i + AHEAD) {
            if let Some(s) = settled.get(ahead as usize) {
                prefetch(s);
            }
            if let Some(p) = person(ahead) {
                prefetch(p);
            }
        }
        if let Some(p) = rows.get(i + AHEAD / 2).and_then(|&ci| person(ci)) {
            prefetch(p.psn_no.as_ptr());
        }
        let ci = rows[i] as usize;
        let c = &table.claims[ci];
        let Some(s) = settled.get(ci) else { return };
        v.extend([
            Val::Text(table.strings.get(c.setl_id)),
            Val::Text(&persons.persons[c.psn as usize].psn_no),
            Val::Text(table.strings.get(c.mdtrt_id)),
            Val::DateTime(c.setl_time),
            Val::Int(s.year as i64),
            Val::Text(&policies.get(s.policy).id),
            Val::Text(s.benefit.as_str()),
            Val::Money(c.medfee_sumamt),
            Val::Money(c.inscp_scp_amt),
            Val::Money(s.act_pay_dedc),
            Val::Money(s.hifp_pay),
            Val::Money(s.hifob_pay),
            Val::Money(s.hifmi_pay),
            Val::Money(s.maf_pay),
            Val::Money(s.fund_pay_sumamt()),
            Val::Money(s.psn_part_amt),
            Val::Text(s.status.as_str()),
            Val::Text(s.reason.map(|r| r.as_str()).unwrap_or("")),
            Val::Money(s.oth_pay),
        ]);
    }
}

#[allow(clippy::too_many_arguments)]
pub fn write_settlements<'a>(
    out: &mut OutputDir,
    format: Format,
    table: &'a ClaimTable,
    persons: &'a PersonTable,
    policies: &'a PolicySet,
    settled: &'a Settled,
    rows: &'a [u32],
    progress: &(dyn Fn(u64) + Sync),
) -> Result<()> {
    let row = settlement_row(table, persons, policies, settled, rows);
    write_table(out, "settlements", format, SETTLEMENT_COLUMNS, rows.len(), &row, progress)
}

/// The cells of person_years row `i`.
pub fn person_year_row<'a>(
    persons: &'a PersonTable,
    policies: &'a PolicySet,
    years: &'a [PersonYear],
) -> impl Fn(usize, &mut Vec<Val<'a>>) + Sync + 'a {
    move |i: usize, v: &mut Vec<Val<'a>>| {
        let y = &years[i];
        let p = &persons.persons[y.psn as usize];
        v.extend([
            Val::Text(&p.psn_no),
            Val::Int(y.year as i64),
            Val::Text(&policies.get(y.policy).id),
            Val::Int(y.claims as i64),
            Val::Int(y.admissions as i64),
            Val::Money(y.medfee_sumamt),
            Val::Money(y.inscp_scp_amt),
            Val::Money(y.hifp_pay),
            Val::Money(y.hifob_pay),
            Val::Money(y.hifmi_pay),
            Val::Money(y.maf_pay),
            Val::Money(y.maf_tilt_pay),
            Val::Money(y.psn_part_amt),
            Val::Money(y.oth_pay),
            Val::Money(y.act_pay_dedc),
            Val::Text(p.psn_type.as_str()),
            Val::Text(p.assistance.as_str()),
            Val::Money(y.psn_part_amt - y.maf_tilt_pay),
        ]);
    }
}

pub fn write_person_years<'a>(
    out: &mut OutputDir,
    format: Format,
    persons: &'a PersonTable,
    policies: &'a PolicySet,
    years: &'a [PersonYear],
) -> Result<()> {
    let row = person_year_row(persons, policies, years);
    write_table(out, "person_years", format, PERSON_YEAR_COLUMNS, years.len(), &row, &|_| {})
}
