//! The settlement kernel: pure functions, no IO, no DataFrames.
//!
//! [`prepare`] checks what needs the whole input (persons, policies, duplicate ids, reversal
//! pairs) and orders the claims by person, `setl_time`, `setl_id` (D-06). [`settle_person`]
//! settles one person's claims in that order, year by year, through the layers
//! basic → large-amount → catastrophic → assistance → year-end (RULES.md §3).
//! [`settle_all`] runs it in parallel over persons; the result does not depend on the thread
//! count or the input row order.

pub mod assistance;
pub mod bands;
pub mod basic;
pub mod catastrophic;
pub mod classify;
pub mod state;
pub mod trace;

use crate::model::{Claim, ClaimTable, Money, NO_ORIGINAL, Person, PersonTable, PersonYear, Settlement, Status, YearTotals, time};
use crate::policy::{Group, PolicySet};
use rayon::prelude::*;
use state::{Contribution, YearState};
use std::collections::HashMap;
use std::ops::Range;
pub use trace::{Detail, Step, Tracer};

/// A claim the engine refuses, with a code (RULES.md S-22..S-24) and a message a clerk can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    pub claim: u32,
    pub code: &'static str,
    pub message: String,
}

/// Claims ordered for settlement.
#[derive(Debug, Default)]
pub struct Prepared {
    /// Claim indices in (person, setl_time, setl_id) order, rejected ones left out.
    pub order: Vec<u32>,
    /// Per person: the range of `order` holding its claims.
    pub persons: Vec<Range<usize>>,
    /// Policy of each claim (index into the PolicySet; `u16::MAX` when rejected).
    pub policy_of: Vec<u16>,
    pub rejects: Vec<Reject>,
}

const NO_POLICY: u16 = u16::MAX;

/// D-06 order key of a claim.
fn order_key<'a>(t: &'a ClaimTable, c: &Claim) -> (u32, i64, &'a str) {
    (c.psn, c.setl_time, t.strings.get(c.setl_id))
}

/// The claims' setl_ids, hashed and sorted, for duplicate detection and reversal lookup
/// without a 10-million-entry string map: built in parallel, then binary-searched.
struct SetlIndex {
    /// (hash of setl_id, claim index), sorted; equal hashes are ordered by claim index.
    by_hash: Vec<(u64, u32)>,
}

fn id_hash(s: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    // SipHash with fixed zero keys: deterministic across runs and machines.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

impl SetlIndex {
    fn build(table: &ClaimTable) -> SetlIndex {
        let mut by_hash: Vec<(u64, u32)> =
            table.claims.par_iter().enumerate().map(|(i, c)| (id_hash(table.strings.get(c.setl_id)), i as u32)).collect();
        by_hash.par_sort_unstable();
        SetlIndex { by_hash }
    }
    /// The run of entries with hash `h`.
    fn run(&self, h: u64) -> &[(u64, u32)] {
        let lo = self.by_hash.partition_point(|e| e.0 < h);
        let hi = lo + self.by_hash[lo..].partition_point(|e| e.0 == h);
        &self.by_hash[lo..hi]
    }
    /// (claim, first claim with the same setl_id) for every later repetition, in claim order.
    fn duplicates(&self, table: &ClaimTable) -> Vec<(u32, u32)> {
        let id = |i: u32| table.strings.get(table.claims[i as usize].setl_id);
        let mut dups = Vec::new();
        let mut start = 0;
        while start < self.by_hash.len() {
            let h = self.by_hash[start].0;
            let end = start + self.by_hash[start..].partition_point(|e| e.0 == h);
            let run = &self.by_hash[start..end];
            for (k, &(_, i)) in run.iter().enumerate().skip(1) {
                if let Some(&(_, f)) = run[..k].iter().find(|&&(_, f)| id(f) == id(i)) {
                    dups.push((i, f));
                }
            }
            start = end;
        }
        dups.sort_unstable();
        dups
    }
    /// The first claim (lowest index) whose setl_id is `s`.
    fn first(&self, table: &ClaimTable, s: &str) -> Option<u32> {
        self.run(id_hash(s)).iter().map(|e| e.1).find(|&i| table.strings.get(table.claims[i as usize].setl_id) == s)
    }
}

/// The accepted claims in D-06 order (person, setl_time, setl_id). Sorts compact keys in
/// parallel, then orders only the runs with an equal (person, setl_time) by setl_id.
fn d06_order(table: &ClaimTable, policy_of: &[u16]) -> Vec<u32> {
    let mut keys: Vec<(u32, i64, u32)> = table
        .claims
        .par_iter()
        .enumerate()
        .filter(|(i, _)| policy_of[*i] != NO_POLICY)
        .map(|(i, c)| (c.psn, c.setl_time, i as u32))
        .collect();
    keys.par_sort_unstable();
    let mut start = 0;
    while start < keys.len() {
        let (p, t) = (keys[start].0, keys[start].1);
        let end = start + keys[start..].partition_point(|k| (k.0, k.1) == (p, t));
        if end - start > 1 {
            keys[start..end].sort_by(|a, b| {
                table.strings.get(table.claims[a.2 as usize].setl_id).cmp(table.strings.get(table.claims[b.2 as usize].setl_id))
            });
        }
        start = end;
    }
    keys.into_iter().map(|k| k.2).collect()
}

/// Checks and orders the claims (S-22, S-23, S-24 for what needs the whole input).
pub fn prepare(table: &mut ClaimTable, persons: &PersonTable, policies: &PolicySet) -> Prepared {
    let n = table.claims.len();
    // Persons and policies (S-23).
    let checked: Vec<Result<u16, (&'static str, String)>> = table
        .claims
        .par_iter()
        .map(|c| {
            let p = &persons.persons[c.psn as usize];
            if let Some(msg) = persons.invalid.get(&c.psn) {
                return Err(("person_scheme_mismatch", msg.clone()));
            }
            let year = time::year_of(c.setl_time);
            match policies.select(p.region(), p.insutype, year) {
                None => Err((
                    "no_policy",
                    format!(
                        "no {} policy for {} in {year}: built-in policies cover resident 2024–2026 and employee 2024; pass --policy FILE for other years",
                        if p.insutype == crate::model::Scheme::Resident { "resident" } else { "employee" },
                        p.region()
                    ),
                )),
                Some(i) if !policies.get(i).settles => {
                    let pol = policies.get(i);
                    Err(("no_benefit_rules", pol.no_benefit_reason.clone().unwrap_or_else(|| format!("{} has no benefit rules", pol.id))))
                }
                Some(i) => Ok(i),
            }
        })
        .collect();
    let mut policy_of = vec![NO_POLICY; n];
    let mut rejects = Vec::new();
    for (i, r) in checked.into_iter().enumerate() {
        match r {
            Ok(p) => policy_of[i] = p,
            Err((code, message)) => rejects.push(Reject { claim: i as u32, code, message }),
        }
    }
    // S-27: rare_fund_pay must not exceed the share the basic fund leaves on the claim.
    for (i, c) in table.claims.iter().enumerate() {
        if c.reversal || !c.rare_fund_pay.is_positive() || policy_of[i] == NO_POLICY {
            continue;
        }
        let share = rare_share(table, c, persons, policies.get(policy_of[i]));
        if c.rare_fund_pay > share {
            rejects.push(Reject {
                claim: i as u32,
                code: "rare_fund_pay_exceeds_share",
                message: format!(
                    "rare_fund_pay {} is more than the in-catalogue share left after the basic fund (preselfpay + inscp − hifp = {share}, RULES.md S-27)",
                    c.rare_fund_pay
                ),
            });
            policy_of[i] = NO_POLICY;
        }
    }
    // Duplicate setl_id: the first row is kept (S-24).
    let ids = SetlIndex::build(table);
    for (i, f) in ids.duplicates(table) {
        let id = table.strings.get(table.claims[i as usize].setl_id);
        let fc = &table.claims[f as usize];
        rejects.push(Reject {
            claim: i,
            code: "duplicate_setl_id",
            message: format!("setl_id {id} already appears at line {} (file #{}); the first row is kept", fc.line, fc.file + 1),
        });
        policy_of[i as usize] = NO_POLICY;
    }
    // Reversals (S-22), in D-06 order so that "already reversed" keeps the earliest.
    let mut reversals: Vec<u32> =
        (0..n as u32).filter(|&i| table.claims[i as usize].reversal && policy_of[i as usize] != NO_POLICY).collect();
    reversals.sort_by(|&a, &b| order_key(table, &table.claims[a as usize]).cmp(&order_key(table, &table.claims[b as usize])));
    let mut taken: HashMap<u32, u32> = HashMap::new();
    let mut originals = Vec::with_capacity(reversals.len());
    for &ri in &reversals {
        let r = &table.claims[ri as usize];
        let init = table.strings.get(r.init_setl_id);
        let res: Result<u32, (&'static str, String)> = (|| {
            let oi = ids
                .first(table, init)
                .ok_or(("reversal_unknown_original", format!("init_setl_id {init} is not a settlement in the input")))?;
            let o = &table.claims[oi as usize];
            if o.reversal {
                return Err(("reversal_unknown_original", format!("init_setl_id {init} is itself a reversal")));
            }
            if policy_of[oi as usize] == NO_POLICY {
                return Err(("reversal_unknown_original", format!("the original {init} was rejected; fix it first")));
            }
            if o.psn != r.psn {
                return Err(("reversal_person_mismatch", format!("the original {init} belongs to another person")));
            }
            let (ry, oy) = (time::year_of(r.setl_time), time::year_of(o.setl_time));
            if ry != oy {
                return Err(("reversal_crosses_year", format!("the original {init} was settled in {oy}, the reversal in {ry}")));
            }
            if order_key(table, o) >= order_key(table, r) {
                return Err((
                    "reversal_before_original",
                    format!("the reversal is not later than the original {init} (setl_time, then setl_id)"),
                ));
            }
            let pairs = [
                ("medfee_sumamt", o.medfee_sumamt, r.medfee_sumamt),
                ("fulamt_ownpay_amt", o.fulamt_ownpay_amt, r.fulamt_ownpay_amt),
                ("overlmt_selfpay", o.overlmt_selfpay, r.overlmt_selfpay),
                ("preselfpay_amt", o.preselfpay_amt, r.preselfpay_amt),
                ("inscp_scp_amt", o.inscp_scp_amt, r.inscp_scp_amt),
                ("rare_fund_pay", o.rare_fund_pay, r.rare_fund_pay),
            ];
            if let Some((col, ov, rv)) = pairs.iter().find(|(_, ov, rv)| *rv != -*ov) {
                return Err((
                    "reversal_amount_mismatch",
                    format!("{col} is {rv}, expected {} (the negation of the original {init})", -*ov),
                ));
            }
            if let Some(&prev) = taken.get(&oi) {
                return Err((
                    "already_reversed",
                    format!("the original {init} is already reversed by {}", table.strings.get(table.claims[prev as usize].setl_id)),
                ));
            }
            Ok(oi)
        })();
        match res {
            Ok(oi) => {
                taken.insert(oi, ri);
                originals.push((ri, oi));
            }
            Err((code, message)) => {
                rejects.push(Reject { claim: ri, code, message });
                policy_of[ri as usize] = NO_POLICY;
            }
        }
    }
    drop(ids);
    for (ri, oi) in originals {
        table.claims[ri as usize].original = oi;
    }
    let table = &*table;
    let order = d06_order(table, &policy_of);
    let mut persons_r = Vec::new();
    let mut start = 0;
    for i in 1..=order.len() {
        if i == order.len() || table.claims[order[i] as usize].psn != table.claims[order[start] as usize].psn {
            persons_r.push(start..i);
            start = i;
        }
    }
    rejects.sort_by_key(|r| r.claim);
    Prepared { order, persons: persons_r, policy_of, rejects }
}

/// S-27: the most a claim's `rare_fund_pay` may be (0 unless it is a rare-disease drug).
fn rare_share(table: &ClaimTable, c: &Claim, persons: &PersonTable, policy: &crate::policy::Policy) -> Money {
    let person = &persons.persons[c.psn as usize];
    let year = time::year_of(c.setl_time);
    let (benefit, reason) = classify::classify(c, person, policy, year);
    match (benefit, reason) {
        (crate::model::Benefit::RareDrug, None) => basic::drug_share(&basic::Ctx {
            claim: c,
            mdtrt_id: table.strings.get(c.mdtrt_id),
            person,
            policy,
            year,
            group: Group::of(person.psn_type),
            benefit,
        }),
        (crate::model::Benefit::RareDrug, Some(_)) => c.preselfpay_amt + c.inscp_scp_amt,
        _ => Money::ZERO,
    }
}

fn add_to_summary(s: &mut PersonYear, claim: &Claim, r: &Settlement) {
    s.claims += 1;
    s.medfee_sumamt += claim.medfee_sumamt;
    s.inscp_scp_amt += claim.inscp_scp_amt;
    s.act_pay_dedc += r.act_pay_dedc;
    s.hifp_pay += r.hifp_pay;
    s.hifob_pay += r.hifob_pay;
    s.hifmi_pay += r.hifmi_pay;
    s.maf_pay += r.maf_pay;
    s.psn_part_amt += r.psn_part_amt;
    s.oth_pay += r.oth_pay;
}

/// S-28 (D-25): resident 2026 childbirth — government finance pays the in-catalogue share left
/// after basic, catastrophic and assistance (`preselfpay + inscp − hifp − hifob − hifmi − maf`).
fn childbirth_subsidy(ctx: &basic::Ctx, r: &Settlement, t: &mut Tracer) -> Money {
    let Some(m) = ctx.policy.maternity.as_ref().filter(|m| m.finance_subsidy) else { return Money::ZERO };
    if ctx.benefit != crate::model::Benefit::Maternity {
        return Money::ZERO;
    }
    let c = ctx.claim;
    let subsidy = (c.preselfpay_amt + c.inscp_scp_amt - r.fund_pay_sumamt()).max0();
    t.step("childbirth", || {
        (
            format!(
                "childbirth subsidy (government finance): {} + {} − funds {} = {subsidy} (oth_pay)",
                c.preselfpay_amt,
                c.inscp_scp_amt,
                r.fund_pay_sumamt()
            ),
            m.source.clone(),
        )
    });
    subsidy
}

fn close_year(st: YearState, person: &Person, policies: &PolicySet, t: &mut Tracer) -> PersonYear {
    let admissions = st.live_admissions();
    let mut s = st.summary;
    s.admissions = admissions;
    s.totals = YearTotals { cap_paid: st.cap_paid, cat_base: st.cat_base, cat_paid: st.cat_paid, assist_paid: st.assist_paid };
    t.claim("", st.year);
    s.maf_tilt_pay = assistance::tilted(policies.get(st.policy), person, st.tilt_base, t);
    s
}

/// Settles one person's claims (`claims` in D-06 order) into `out` (one settlement per claim,
/// same order); returns the person-years. Pure and deterministic.
pub fn settle_person(
    table: &ClaimTable,
    person: &Person,
    claims: &[u32],
    policy_of: &[u16],
    policies: &PolicySet,
    out: &mut [Settlement],
    t: &mut Tracer,
) -> Vec<PersonYear> {
    let mut years = Vec::new();
    let mut contributions: Vec<Contribution> = Vec::with_capacity(claims.len());
    let mut position: HashMap<u32, usize> = HashMap::new();
    let has_reversal = claims.iter().any(|&c| table.claims[c as usize].reversal);
    let mut st: Option<YearState> = None;
    for (k, &ci) in claims.iter().enumerate() {
        let claim = &table.claims[ci as usize];
        let year = time::year_of(claim.setl_time);
        let pol_idx = policy_of[ci as usize];
        if st.as_ref().is_none_or(|s| s.year != year) {
            if let Some(done) = st.take() {
                years.push(close_year(done, person, policies, t));
            }
            st = Some(YearState::new(claim.psn, year, pol_idx));
        }
        let Some(st) = st.as_mut() else { continue };
        t.claim(table.strings.get(claim.setl_id), year);
        if has_reversal {
            position.insert(ci, k);
        }
        let policy = policies.get(pol_idx);

        if claim.reversal && claim.original != NO_ORIGINAL {
            // S-22: the exact negation of the original; its contribution leaves every accumulator.
            let Some(&op) = position.get(&claim.original) else { continue };
            let orig = out[op];
            let contrib = contributions[op];
            st.apply(&contrib, -1);
            let r = orig.negated();
            t.detail("reversal", || {
                let taken = contrib.named();
                let list: Vec<String> = taken.iter().map(|(k, v)| format!("{k} −{v}")).collect();
                let mut d = trace::Detail::new(
                    format!(
                        "reverses {}: every amount negated; running totals taken back: {}",
                        table.strings.get(claim.init_setl_id),
                        if list.is_empty() { "none (the original added nothing)".to_string() } else { list.join(", ") }
                    ),
                    "CONTRACT.md §1; RULES.md S-22".into(),
                );
                for (k, v) in taken {
                    d = d.value(format!("taken_back.{k}"), v);
                }
                d
            });
            add_to_summary(&mut st.summary, claim, &r);
            if orig.status == Status::Settled {
                assistance::tilt_part(st, claim.inscp_scp_amt, r.fund_pay_sumamt(), r.oth_pay);
            }
            out[k] = r;
            contributions.push(Contribution::default());
            continue;
        }

        let (benefit, not_covered) = classify::classify(claim, person, policy, year);
        let mut r = Settlement {
            year,
            policy: pol_idx,
            benefit,
            status: Status::Settled,
            reason: None,
            act_pay_dedc: Money::ZERO,
            hifp_pay: Money::ZERO,
            hifob_pay: Money::ZERO,
            hifmi_pay: Money::ZERO,
            maf_pay: Money::ZERO,
            // S-27: the provincial rare-disease drug fund's payment is never the person's.
            oth_pay: claim.rare_fund_pay,
            psn_part_amt: claim.medfee_sumamt - claim.rare_fund_pay,
        };
        let mut c = Contribution::default();
        if let Some(reason) = not_covered {
            r.status = Status::NotCovered;
            r.reason = Some(reason);
            t.step("coverage", || {
                (format!("{benefit} claim not covered: {reason}; the person pays {}", claim.medfee_sumamt), "RULES.md S-21".into())
            });
        } else {
            let ctx = basic::Ctx {
                claim,
                mdtrt_id: table.strings.get(claim.mdtrt_id),
                person,
                policy,
                year,
                group: Group::of(person.psn_type),
                benefit,
            };
            t.step("benefit", || (format!("{benefit} under {} ({} group)", policy.id, ctx.group.as_str()), "RULES.md §3, S-11".into()));
            let b = basic::settle(&ctx, st, &mut c, t);
            let basic_paid = b.hifp + b.hifob;
            let hifmi = catastrophic::settle(&ctx, st, basic_paid, &mut c, t);
            let maf = assistance::settle(&ctx, st, basic_paid + hifmi, &mut c, t);
            r.act_pay_dedc = b.act_pay_dedc;
            r.hifp_pay = b.hifp;
            r.hifob_pay = b.hifob;
            r.hifmi_pay = hifmi;
            r.maf_pay = maf;
            r.oth_pay += childbirth_subsidy(&ctx, &r, t);
            r.psn_part_amt = claim.medfee_sumamt - r.fund_pay_sumamt() - r.oth_pay;
            st.apply(&c, 1);
            assistance::tilt_part(st, claim.inscp_scp_amt, r.fund_pay_sumamt(), r.oth_pay);
            t.step("result", || {
                (
                    format!(
                        "hifp {} + hifob {} + hifmi {} + maf {} = fund {}; other payers {}; the person pays {} − {} − {} = {}",
                        r.hifp_pay,
                        r.hifob_pay,
                        r.hifmi_pay,
                        r.maf_pay,
                        r.fund_pay_sumamt(),
                        r.oth_pay,
                        claim.medfee_sumamt,
                        r.fund_pay_sumamt(),
                        r.oth_pay,
                        r.psn_part_amt
                    ),
                    "RULES.md D-01, D-02, S-28".into(),
                )
            });
        }
        add_to_summary(&mut st.summary, claim, &r);
        out[k] = r;
        contributions.push(c);
    }
    if let Some(done) = st.take() {
        years.push(close_year(done, person, policies, t));
    }
    years
}

/// The settlements of a whole run and the person-years (sorted by psn_no, year).
#[derive(Debug, Default)]
pub struct Settled {
    /// Claim index of each settlement, in settlement (D-06) order.
    pub claim: Vec<u32>,
    /// The settlements, aligned with `claim`.
    pub sorted: Vec<Settlement>,
    /// For each claim index: its position in `sorted`, or `u32::MAX` when rejected.
    pub pos: Vec<u32>,
    pub person_years: Vec<PersonYear>,
}

impl Settled {
    /// The settlement of a claim (by input index), `None` when it was rejected.
    pub fn get(&self, claim: usize) -> Option<&Settlement> {
        match self.pos.get(claim) {
            Some(&p) if p != u32::MAX => self.sorted.get(p as usize),
            _ => None,
        }
    }
    /// (claim index, settlement) in settlement order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &Settlement)> {
        self.claim.iter().map(|&c| c as usize).zip(self.sorted.iter())
    }
    /// The settled claims' indices in input order.
    pub fn input_order(&self) -> Vec<u32> {
        self.pos.iter().enumerate().filter(|(_, p)| **p != u32::MAX).map(|(i, _)| i as u32).collect()
    }
}

/// Settles every prepared person in parallel (rayon), each into its own slice of the output;
/// `progress` is called with the number of claims settled.
pub fn settle_all(
    table: &ClaimTable,
    persons: &PersonTable,
    prepared: &Prepared,
    policies: &PolicySet,
    progress: &(dyn Fn(u64) + Sync),
) -> Settled {
    let n = prepared.order.len();
    let mut sorted = vec![Settlement::EMPTY; n];
    let mut slices: Vec<&mut [Settlement]> = Vec::with_capacity(prepared.persons.len());
    let mut rest: &mut [Settlement] = &mut sorted;
    for r in &prepared.persons {
        let (head, tail) = rest.split_at_mut(r.len());
        slices.push(head);
        rest = tail;
    }
    let years: Vec<Vec<PersonYear>> = prepared
        .persons
        .par_iter()
        .zip(slices.into_par_iter())
        .with_min_len(64)
        .map(|(range, out)| {
            let claims = &prepared.order[range.clone()];
            let psn = table.claims[claims[0] as usize].psn;
            let y = settle_person(table, &persons.persons[psn as usize], claims, &prepared.policy_of, policies, out, &mut Tracer::off());
            progress(claims.len() as u64);
            y
        })
        .collect();
    let mut pos = vec![u32::MAX; table.claims.len()];
    for (k, &ci) in prepared.order.iter().enumerate() {
        pos[ci as usize] = k as u32;
    }
    let mut person_years: Vec<PersonYear> = years.into_iter().flatten().collect();
    person_years.par_sort_unstable_by(|a, b| {
        persons.persons[a.psn as usize].psn_no.cmp(&persons.persons[b.psn as usize].psn_no).then(a.year.cmp(&b.year))
    });
    Settled { claim: prepared.order.clone(), sorted, pos, person_years }
}
