//! `report.md`: the fund report for people — what was settled, who paid what, what was
//! rejected and why.

use super::fund::FundReport;
use crate::model::{Assistance, Money, PersonTable, PersonYear, PsnType};
use crate::policy::PolicySet;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Counts that must reconcile: read = settled + not_covered + reversal + rejected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub read: u64,
    pub settled: u64,
    pub not_covered: u64,
    pub reversal: u64,
    pub rejected: u64,
    pub persons_read: u64,
    pub persons_rejected: u64,
    pub person_years: u64,
}

impl Counts {
    /// Counts the settlements of `settled` by status (settled, not covered, reversal).
    pub fn add_statuses(&mut self, settled: &crate::engine::Settled) {
        use crate::model::Status;
        // In parallel: a year's settlements are most of a gigabyte.
        let [settled_, not_covered, reversal] = settled
            .sorted
            .par_chunks(1 << 16)
            .map(|piece| {
                piece.iter().fold([0u64; 3], |mut n, s| {
                    n[match s.status {
                        Status::Settled => 0,
                        Status::NotCovered => 1,
                        Status::Reversal => 2,
                    }] += 1;
                    n
                })
            })
            .reduce(|| [0; 3], |a, b| [a[0] + b[0], a[1] + b[1], a[2] + b[2]]);
        self.settled += settled_;
        self.not_covered += not_covered;
        self.reversal += reversal;
    }
    pub fn reconciles(&self) -> bool {
        self.read == self.settled + self.not_covered + self.reversal + self.rejected
    }
}

fn quantile(sorted: &[Money], q: f64) -> Money {
    if sorted.is_empty() {
        return Money::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub struct ReportInput<'a> {
    pub title: &'a str,
    pub counts: Counts,
    pub fund: &'a FundReport,
    pub policies: &'a PolicySet,
    pub persons: &'a PersonTable,
    pub years: &'a [PersonYear],
    /// fund expenditure by settlement month
    pub by_month: &'a super::settlement::ByMonth,
    pub reject_codes: BTreeMap<String, u64>,
    pub not_covered_reasons: BTreeMap<String, u64>,
    pub missing_contribution_base: u64,
}

pub fn render(r: &ReportInput) -> String {
    let mut s = String::new();
    let c = r.counts;
    let _ = writeln!(s, "# {}\n", r.title);
    let _ = writeln!(s, "## Claims\n");
    let _ = writeln!(s, "| read | settled | not covered | reversal | rejected | reconciles |\n|---:|---:|---:|---:|---:|:---:|");
    let _ = writeln!(
        s,
        "| {} | {} | {} | {} | {} | {} |\n",
        c.read,
        c.settled,
        c.not_covered,
        c.reversal,
        c.rejected,
        if c.reconciles() { "yes" } else { "**NO**" }
    );
    let _ = writeln!(s, "Persons read: {} ({} rejected); person-years settled: {}.\n", c.persons_read, c.persons_rejected, c.person_years);

    let _ = writeln!(s, "## Fund expenditure (CNY)\n");
    let mut by: BTreeMap<(i32, String, &str, &str), (u64, Money)> = BTreeMap::new();
    type IncomeKey<'k> = (i32, String, &'k str, &'k str, String);
    let mut income: BTreeMap<IncomeKey, (u64, Money)> = BTreeMap::new();
    for (k, l) in r.fund {
        let pid = r.policies.get(k.policy).id.clone();
        if k.flow == "expenditure" {
            let e = by.entry((k.year, pid, k.fund, k.benefit)).or_default();
            e.0 += l.count;
            e.1 += l.amount;
        } else {
            let e = income.entry((k.year, pid, k.fund, k.item, k.category.to_string())).or_default();
            e.0 += l.count;
            e.1 += l.amount;
        }
    }
    let _ = writeln!(s, "| year | policy | fund | benefit | rows | amount |\n|---|---|---|---|---:|---:|");
    for ((y, p, f, b), (n, a)) in &by {
        let _ = writeln!(s, "| {y} | {p} | {f} | {b} | {n} | {a} |");
    }
    let _ = writeln!(s, "\nFunds: hifp 统筹基金, hifob 大额医疗补助, hifmi 大病保险, maf 医疗救助, maf_tilt 倾斜救助 (year end).\n");

    if !income.is_empty() {
        let _ = writeln!(s, "## Fund income (CNY)\n");
        let _ = writeln!(s, "| year | policy | fund | item | category | persons | amount |\n|---|---|---|---|---|---:|---:|");
        for ((y, p, f, i, cat), (n, a)) in &income {
            let _ = writeln!(s, "| {y} | {p} | {f} | {i} | {cat} | {n} | {a} |");
        }
        if r.missing_contribution_base > 0 {
            let _ = writeln!(
                s,
                "\n{} employee person-years have no contribution base (the person's contribution_base, or for flexible workers the policy's financing.employee.flexible_base, RULES.md §9) and are not in the income.",
                r.missing_contribution_base
            );
        }
        let _ = writeln!(s);
    }

    let _ = writeln!(s, "## People\n");
    let mut burdens: Vec<Money> = r.years.iter().map(|y| y.psn_part_amt - y.maf_tilt_pay).collect();
    burdens.par_sort_unstable();
    let total: Money = burdens.iter().copied().sum();
    let _ = writeln!(s, "Final personal burden per person-year (psn_part_amt − maf_tilt_pay):\n");
    let _ = writeln!(s, "| person-years | total | median | p90 | p99 | max |\n|---:|---:|---:|---:|---:|---:|");
    let _ = writeln!(
        s,
        "| {} | {} | {} | {} | {} | {} |\n",
        burdens.len(),
        total,
        quantile(&burdens, 0.5),
        quantile(&burdens, 0.9),
        quantile(&burdens, 0.99),
        burdens.last().copied().unwrap_or(Money::ZERO)
    );
    // Summed by the codes, then named (and ordered by name): not a text made per person-year.
    let mut by_code: BTreeMap<(PsnType, Assistance), (u64, Money, Money)> = BTreeMap::new();
    for y in r.years {
        let p = &r.persons.persons[y.psn as usize];
        let e = by_code.entry((p.psn_type, p.assistance)).or_default();
        e.0 += 1;
        e.1 += y.hifp_pay + y.hifob_pay + y.hifmi_pay + y.maf_pay + y.maf_tilt_pay;
        e.2 += y.psn_part_amt - y.maf_tilt_pay;
    }
    let by_cat: BTreeMap<String, (u64, Money, Money)> = by_code.into_iter().map(|((t, a), v)| (format!("{t} / {a}"), v)).collect();
    let _ = writeln!(s, "| category / assistance | person-years | funds paid | personal burden |\n|---|---:|---:|---:|");
    for (k, (n, f, b)) in &by_cat {
        let _ = writeln!(s, "| {k} | {n} | {f} | {b} |");
    }
    let tilted = r.years.iter().filter(|y| y.maf_tilt_pay.is_positive()).count();
    let _ = writeln!(s, "\nPerson-years with tilted assistance: {tilted}.\n");

    if !r.not_covered_reasons.is_empty() {
        let _ = writeln!(s, "## Not covered, by reason\n\n| reason | claims |\n|---|---:|");
        for (k, n) in &r.not_covered_reasons {
            let _ = writeln!(s, "| {k} | {n} |");
        }
        let _ = writeln!(s);
    }
    if !r.reject_codes.is_empty() {
        let _ = writeln!(s, "## Rejected rows, by code (details in rejects.csv)\n\n| code | rows |\n|---|---:|");
        for (k, n) in &r.reject_codes {
            let _ = writeln!(s, "| {k} | {n} |");
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(s, "## Policies\n\n| policy | origin | overrides | sha256 (effective) |\n|---|---|---|---|");
    for p in &r.policies.policies {
        let _ = writeln!(s, "| {} | {} | {} | `{}` |", p.policy.id, p.origin, p.overrides.join("; "), &p.effective_sha256[..16]);
    }
    s
}

/// Any report document as markdown (tables with labels and codes; charts are left to the HTML).
pub fn render_doc(d: &super::doc::Doc) -> String {
    use super::doc::Block;
    let mut s = format!("# {}\n\n{}\n", d.title, d.subtitle);
    for sec in &d.sections {
        let _ = writeln!(s, "\n## {}\n", sec.title);
        for b in &sec.blocks {
            match b {
                Block::Table(t) => {
                    let _ = writeln!(s, "### {}\n", t.title);
                    let _ = writeln!(s, "| {} |", t.columns.iter().map(|c| c.head.as_str()).collect::<Vec<_>>().join(" | "));
                    let _ = writeln!(
                        s,
                        "|{}|",
                        t.columns
                            .iter()
                            .enumerate()
                            .map(|(j, _)| if t.rows.first().is_some_and(|r| r[j].is_numeric()) { "---:" } else { "---" })
                            .collect::<Vec<_>>()
                            .join("|")
                    );
                    for r in t.rows.iter().chain(t.totals.iter()) {
                        let cells: Vec<String> = r
                            .iter()
                            .map(|c| match c {
                                super::doc::Cell::Code(code) if d.lang.term(code) != *code => format!("{} `{code}`", d.lang.term(code)),
                                _ => c.human(d.lang).replace('|', "\\|"),
                            })
                            .collect();
                        let _ = writeln!(s, "| {} |", cells.join(" | "));
                    }
                    if !t.note.is_empty() {
                        let _ = writeln!(s, "\n{}", t.note);
                    }
                    let _ = writeln!(s);
                }
                Block::Text(t) => {
                    let _ = writeln!(s, "{t}\n");
                }
                Block::Code(t) => {
                    let _ = writeln!(s, "```\n{t}\n```\n");
                }
                Block::Chart(_) => {}
            }
        }
    }
    s
}
