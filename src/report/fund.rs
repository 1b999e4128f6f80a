//! Fund expenditure and income by year, policy, fund, benefit, category and facility level
//! (`fund_report.csv`, CONTRACT.md §4; income per RULES.md §9).

use super::settlement::{ByMonth, Months};
use crate::engine::Settled;
use crate::model::{Assistance, Benefit, Claim, ClaimTable, Money, PersonTable, PsnType, Scheme, Settlement, Status, prefetch, time};
use crate::policy::{Financing, PolicySet};
use rayon::prelude::*;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One line of the fund report.
// The hand-written `PartialEq` is the derived one with a shortcut, so equal keys still hash
// alike.
#[allow(clippy::derived_hash_with_manual_eq)]
#[derive(Clone, Debug, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub year: i32,
    pub policy: u16,
    /// `expenditure` or `income`
    pub flow: &'static str,
    /// hifp, hifob, hifmi, maf, maf_tilt and the other payers finance, provincial_rare_fund
    /// (expenditure); basic, basic_and_maternity (employees), ltc (income)
    pub fund: &'static str,
    /// the benefit (expenditure; `year_end` for tilted assistance), empty for income
    pub benefit: &'static str,
    pub category: PsnType,
    /// 1–3, 0 = not applicable
    pub hosp_lv: u8,
    /// income item: personal, government_paid_personal, government_subsidy, employer
    pub item: &'static str,
}

/// Field by field, as derived, but a text field that is the same `&'static str` is not
/// compared byte by byte (a city's persons make millions of lookups of a few keys).
impl PartialEq for Key {
    fn eq(&self, o: &Key) -> bool {
        let same = |a: &str, b: &str| std::ptr::eq(a, b) || a == b;
        self.year == o.year
            && self.policy == o.policy
            && self.category == o.category
            && self.hosp_lv == o.hosp_lv
            && same(self.flow, o.flow)
            && same(self.fund, o.fund)
            && same(self.benefit, o.benefit)
            && same(self.item, o.item)
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Line {
    pub count: u64,
    pub amount: Money,
}

pub type FundReport = BTreeMap<Key, Line>;

/// Partial sums of parallel folds: a fast fixed hash (the keys are our own).
type Lines = HashMap<Key, Line, foldhash::fast::FixedState>;

/// Expenditure from settled and reversal rows, plus tilted assistance per person-year.
pub fn expenditure(table: &ClaimTable, persons: &PersonTable, settled: &Settled) -> FundReport {
    expenditure_and_months(table, persons, settled).0
}

/// [`expenditure`] and the claims' fund payments by settlement month, in one pass.
pub fn expenditure_and_months(table: &ClaimTable, persons: &PersonTable, settled: &Settled) -> (FundReport, ByMonth) {
    let (mut report, months) = claim_sums(table, persons, settled);
    add_tilted(&settled.person_years, persons, &mut report);
    (report, months)
}

/// Adds the lines of `other` to `into` (reports of parts of a run).
pub fn merge(into: &mut FundReport, other: FundReport) {
    for (k, l) in other {
        let e = into.entry(k).or_default();
        e.count += l.count;
        e.amount += l.amount;
    }
}

/// Expenditure from the settled and reversal rows of `settled` alone, and their fund
/// payments by settlement month: one pass over the claims, whose loads (in input order, from
/// settlements in person order) are most of the cost.
pub fn claim_sums(table: &ClaimTable, persons: &PersonTable, settled: &Settled) -> (FundReport, ByMonth) {
    // The settlements lie in person order, their claims in input order: each claim is loaded
    // a few settlements ahead, and its person when the claim has come.
    const AHEAD: usize = 8;
    let (m, months) = settled
        .claim
        .par_chunks(4096)
        .zip(settled.sorted.par_chunks(4096))
        .fold(
            || (ClaimLines::default(), Months::default()),
            |(mut m, mut months), (ci, ss)| {
                for (k, (&i, s)) in ci.iter().zip(ss).enumerate() {
                    if let Some(&a) = ci.get(k + AHEAD) {
                        table.prefetch(a);
                    }
                    if let Some(c) = ci.get(k + AHEAD / 2).and_then(|&a| table.claims.get(a as usize)) {
                        prefetch(persons.persons.as_ptr().wrapping_add(c.psn as usize));
                    }
                    let c = &table.claims[i as usize];
                    claim_lines(&mut m, c, s, persons);
                    months.claim(c.setl_time, s);
                }
                (m, months)
            },
        )
        .reduce(
            || (ClaimLines::default(), Months::default()),
            |(mut a, mut am), (b, bm)| {
                for (k, l) in b {
                    let e = a.entry(k).or_default();
                    for f in 0..FUNDS.len() {
                        e.count[f] += l.count[f];
                        e.amount[f] += l.amount[f];
                    }
                }
                am.append(bm);
                (a, am)
            },
        );
    let mut by_month = ByMonth::default();
    by_month.add_months(months);
    let mut report = FundReport::new();
    for (k, l) in m {
        for (f, fund) in FUNDS.iter().enumerate().filter(|&(f, _)| l.count[f] > 0) {
            let key = Key {
                year: i32::from(k.year),
                policy: k.policy,
                flow: "expenditure",
                fund,
                benefit: k.benefit.as_str(),
                category: k.category,
                hosp_lv: k.hosp_lv,
                item: "",
            };
            let e = report.entry(key).or_default();
            e.count += l.count[f];
            e.amount += l.amount[f];
        }
    }
    (report, by_month)
}

/// The payers of a claim's fund lines, in the order [`claim_lines`] gives their amounts.
const FUNDS: [&str; 6] = ["hifp", "hifob", "hifmi", "maf", "finance", "provincial_rare_fund"];

/// The fund report's key of a claim's lines, less the fund: the claims are summed by it
/// first, every payer at once, and become report lines at the end. Summing straight into
/// [`Key`]s hashed up to six keys of four texts each per claim.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct ClaimKey {
    year: i16,
    policy: u16,
    benefit: Benefit,
    category: PsnType,
    hosp_lv: u8,
}

/// Per payer of [`FUNDS`]: lines counted and their amounts.
#[derive(Default)]
struct ClaimSums {
    count: [u64; FUNDS.len()],
    amount: [Money; FUNDS.len()],
}

type ClaimLines = HashMap<ClaimKey, ClaimSums, foldhash::fast::FixedState>;

/// Adds the fund lines of one settled claim.
fn claim_lines(m: &mut ClaimLines, c: &Claim, s: &Settlement, persons: &PersonTable) {
    // A not-covered claim pays nothing from the funds; only a rare-disease drug fund
    // payment on it (S-27) is reported.
    if s.status == Status::NotCovered && s.oth_pay.is_zero() {
        return;
    }
    let cat = persons.persons[c.psn as usize].psn_type;
    // S-28: other payers outside the funds — the 2026 childbirth subsidy (finance) and
    // the provincial rare-disease drug fund (S-27).
    let (finance, rare_fund) = if s.benefit == Benefit::RareDrug { (Money::ZERO, s.oth_pay) } else { (s.oth_pay, Money::ZERO) };
    let amounts = [s.hifp_pay, s.hifob_pay, s.hifmi_pay, s.maf_pay, finance, rare_fund];
    let k = ClaimKey { year: s.year, policy: s.policy, benefit: s.benefit, category: cat, hosp_lv: c.hosp_lv() };
    let e = m.entry(k).or_default();
    for (f, amount) in amounts.into_iter().enumerate() {
        // Every covered claim has its hifp line, zero or not.
        if !amount.is_zero() || (f == 0 && s.status != Status::NotCovered) {
            e.count[f] += 1;
            e.amount[f] += amount;
        }
    }
}

/// The lines of `b` added to those of `a` (partial sums from parallel folds).
fn merge_lines(mut a: Lines, b: Lines) -> Lines {
    for (k, l) in b {
        let e = a.entry(k).or_default();
        e.count += l.count;
        e.amount += l.amount;
    }
    a
}

/// Adds the year-end tilted assistance of the person-years (S-19).
pub fn add_tilted(years: &[crate::model::PersonYear], persons: &PersonTable, report: &mut FundReport) {
    for y in years.iter().filter(|y| !y.maf_tilt_pay.is_zero()) {
        let cat = persons.persons[y.psn as usize].psn_type;
        let l = report
            .entry(Key {
                year: y.year,
                policy: y.policy,
                flow: "expenditure",
                fund: "maf_tilt",
                benefit: "year_end",
                category: cat,
                hosp_lv: 0,
                item: "",
            })
            .or_default();
        l.count += 1;
        l.amount += y.maf_tilt_pay;
    }
}

fn resident_income(f: &Financing, p: &crate::model::Person, year: i32, policy: u16, out: &mut Lines) {
    let Some(c) = f.resident.get(&p.psn_type) else { return };
    let gov_pays = p.assistance != Assistance::None && f.assistance_personal_paid_by_government;
    let personal_item = if gov_pays { "government_paid_personal" } else { "personal" };
    let personal = p.district.and_then(|d| c.personal_by_district.get(&d)).unwrap_or(&c.personal).0;
    let mut put = |fund: &'static str, item: &'static str, amount: Money| {
        if amount.is_zero() {
            return;
        }
        let l = out.entry(Key { year, policy, flow: "income", fund, benefit: "", category: p.psn_type, hosp_lv: 0, item }).or_default();
        l.count += 1;
        l.amount += amount;
    };
    put("basic", personal_item, personal);
    if let Some(s) = p.district.and_then(|d| c.subsidy_by_district.get(&d)).or(c.subsidy.as_ref()) {
        put("basic", "government_subsidy", s.0);
    }
    if let Some(l) = c.ltc {
        put("ltc", personal_item, l.0);
    }
    if let Some(s) = c.ltc_subsidy {
        put("ltc", "government_subsidy", s.0);
    }
}

/// Income: every valid person, for every year the claims cover, under the policy of their
/// region, scheme and year. Returns the persons skipped for a missing contribution base.
pub fn income(persons: &PersonTable, policies: &PolicySet, table: &ClaimTable, out: &mut FundReport) -> u64 {
    income_for_years(persons, policies, &claim_years(table), out)
}

/// The settlement years of the claims read (rejected ones included): the years income covers.
pub fn claim_years(table: &ClaimTable) -> BTreeSet<i32> {
    table.claims.iter().map(|c| time::year_of(c.setl_time)).collect()
}

/// [`income`] for the given years (when the claims are settled elsewhere, e.g. in parts).
pub fn income_for_years(persons: &PersonTable, policies: &PolicySet, years: &BTreeSet<i32>, out: &mut FundReport) -> u64 {
    // Per person in parallel, into hash maps (a BTreeMap entry per person compares its
    // text keys over and over), merged into the report's order at the end.
    let person = |m: &mut Lines, i: usize, p: &crate::model::Person| -> u64 {
        let mut missing_base = 0;
        if persons.invalid.contains_key(&(i as u32)) {
            return 0;
        }
        for &year in years {
            let Some(pi) = policies.select(p.region(), p.insutype, year) else { continue };
            let Some(f) = &policies.get(pi).financing else { continue };
            match p.insutype {
                Scheme::Resident => resident_income(f, p, year, pi, m),
                Scheme::Employee => {
                    let Some(e) = &f.employee else { continue };
                    // Contributions come from employers and in-service / flexible workers
                    // [003 §二(一)]; retirees with the minimum years pay none [003 §二(四)].
                    if matches!(p.psn_type, PsnType::Retired | PsnType::VeteranWorker) {
                        continue;
                    }
                    let (base, rates): (Option<Money>, Vec<(&'static str, Decimal)>) = if p.flexible {
                        // §9: on the provincial floor base only, never the person's own base.
                        (e.flexible_base.map(|a| a.0), vec![("personal", e.flexible_rate.0)])
                    } else {
                        (p.contribution_base.get(), vec![("employer", e.employer_rate.0), ("personal", e.personal_rate.0)])
                    };
                    let Some(base) = base else {
                        missing_base += 1;
                        continue;
                    };
                    for (item, rate) in rates {
                        // 12 monthly contributions, each rounded to the fen.
                        let monthly = policies.get(pi).rounding.mode.round(base.times(rate));
                        let l = m
                            .entry(Key {
                                year,
                                policy: pi,
                                flow: "income",
                                // §9: 10.8% covers basic medical and maternity insurance together.
                                fund: "basic_and_maternity",
                                benefit: "",
                                category: p.psn_type,
                                hosp_lv: 0,
                                item,
                            })
                            .or_default();
                        l.count += 1;
                        l.amount += Money::from_fen(monthly.fen() * 12);
                    }
                }
            }
        }
        missing_base
    };
    let (m, missing_base) = persons
        .persons
        .par_iter()
        .enumerate()
        .with_min_len(4096)
        .fold(
            || (Lines::default(), 0u64),
            |(mut m, n), (i, p)| {
                let k = person(&mut m, i, p);
                (m, n + k)
            },
        )
        .reduce(|| (Lines::default(), 0), |(a, x), (b, y)| (merge_lines(a, b), x + y));
    merge(out, m.into_iter().collect());
    missing_base
}

/// The columns of `fund_report.csv`, in order (schemas/fund_report.schema.json).
pub const FUND_REPORT_COLUMNS: &[&str] =
    &["year", "policy_id", "flow", "fund", "benefit", "category", "hosp_lv", "item", "count", "amount"];

/// `fund_report.csv` text, through the csv crate like every small table.
pub fn to_csv(report: &FundReport, policies: &PolicySet) -> anyhow::Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(FUND_REPORT_COLUMNS)?;
    for (k, l) in report {
        let hosp_lv = if k.hosp_lv == 0 { String::new() } else { k.hosp_lv.to_string() };
        w.write_record([
            k.year.to_string().as_str(),
            policies.get(k.policy).id.as_str(),
            k.flow,
            k.fund,
            k.benefit,
            k.category.as_str(),
            hosp_lv.as_str(),
            k.item,
            l.count.to_string().as_str(),
            l.amount.to_string().as_str(),
        ])?;
    }
    Ok(String::from_utf8(w.into_inner().map_err(|e| anyhow::anyhow!("fund_report.csv: {e}"))?)?)
}
