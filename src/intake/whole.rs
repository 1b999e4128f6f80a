//! Whole-input checks (RULES.md S-22..S-24): the person and policy of each claim, duplicate
//! setl_ids, reversal pairs; then the D-06 settlement order. Each refusal is a [`RejectCode`].

use super::reject::RejectCode;
use crate::model::{Claim, ClaimTable, PersonTable, time};
use crate::policy::PolicySet;
use rayon::prelude::*;
use std::collections::HashMap;
use std::ops::Range;

/// A refused claim (by index), with a code (RULES.md S-22..S-24) and a message a clerk can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    pub claim: u32,
    pub code: RejectCode,
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
    let checked: Vec<Result<u16, (RejectCode, String)>> = table
        .claims
        .par_iter()
        .map(|c| {
            let p = &persons.persons[c.psn as usize];
            if let Some(msg) = persons.invalid.get(&c.psn) {
                return Err((RejectCode::PersonSchemeMismatch, msg.clone()));
            }
            let year = time::year_of(c.setl_time);
            match policies.select(p.region(), p.insutype, year) {
                None => Err((
                    RejectCode::NoPolicy,
                    format!(
                        "no {} policy for {} in {year}: built-in policies cover resident 2024–2026 and employee 2024; pass --policy FILE for other years",
                        if p.insutype == crate::model::Scheme::Resident { "resident" } else { "employee" },
                        p.region()
                    ),
                )),
                Some(i) if !policies.get(i).settles => {
                    let pol = policies.get(i);
                    Err((RejectCode::NoBenefitRules, pol.no_benefit_reason.clone().unwrap_or_else(|| format!("{} has no benefit rules", pol.id))))
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
        let share = crate::engine::rare_share(table, c, persons, policies.get(policy_of[i]));
        if c.rare_fund_pay > share {
            rejects.push(Reject {
                claim: i as u32,
                code: RejectCode::RareFundPayExceedsShare,
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
            code: RejectCode::DuplicateSetlId,
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
        let res: Result<u32, (RejectCode, String)> = (|| {
            let oi = ids
                .first(table, init)
                .ok_or((RejectCode::ReversalUnknownOriginal, format!("init_setl_id {init} is not a settlement in the input")))?;
            let o = &table.claims[oi as usize];
            if o.reversal {
                return Err((RejectCode::ReversalUnknownOriginal, format!("init_setl_id {init} is itself a reversal")));
            }
            if policy_of[oi as usize] == NO_POLICY {
                return Err((RejectCode::ReversalUnknownOriginal, format!("the original {init} was rejected; fix it first")));
            }
            if o.psn != r.psn {
                return Err((RejectCode::ReversalPersonMismatch, format!("the original {init} belongs to another person")));
            }
            let (ry, oy) = (time::year_of(r.setl_time), time::year_of(o.setl_time));
            if ry != oy {
                return Err((RejectCode::ReversalCrossesYear, format!("the original {init} was settled in {oy}, the reversal in {ry}")));
            }
            if order_key(table, o) >= order_key(table, r) {
                return Err((
                    RejectCode::ReversalBeforeOriginal,
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
                    RejectCode::ReversalAmountMismatch,
                    format!("{col} is {rv}, expected {} (the negation of the original {init})", -*ov),
                ));
            }
            if let Some(&prev) = taken.get(&oi) {
                return Err((
                    RejectCode::AlreadyReversed,
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
