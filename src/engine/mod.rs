//! The settlement kernel: pure functions, no IO, no DataFrames.
//!
//! Intake ([`crate::intake::prepare`]) has checked the whole input and ordered the claims by
//! person, `setl_time`, `setl_id` (D-06). [`settle_person`]
//! settles one person's claims in that order, year by year, through the layers
//! basic → large-amount → catastrophic → assistance → year-end (RULES.md §3).
//! [`settle_all`] runs it in parallel over persons; the result does not depend on the thread
//! count or the input row order.

pub mod assistance;
pub mod bands;
pub mod basic;
pub mod catastrophic;
pub mod classify;
#[cfg(test)]
mod exactness;
pub mod state;
pub mod stream;
pub mod trace;

pub use crate::intake::whole::{Prepared, Reject};
use crate::model::{
    Assistance, Claim, ClaimTable, LimitsReached, Money, NO_ORIGINAL, PRIOR_ORIGINAL, Person, PersonTable, PersonYear, Settlement, Status,
    prefetch, time,
};
use crate::policy::PolicySet;
use rayon::prelude::*;
pub use state::{Contribution, PackedContributions, YearState};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
pub use trace::{Step, Tracer};

/// S-27: the most a claim's `rare_fund_pay` may be (0 unless it is a rare-disease drug).
pub(crate) fn rare_share(table: &ClaimTable, ci: usize, persons: &PersonTable, policy: &crate::policy::Policy) -> Money {
    let c = &table.claims[ci];
    let person = &persons.persons[c.psn as usize];
    let year = time::year_of(c.setl_time);
    let (benefit, reason) = classify::classify(c, person, policy, year);
    match (benefit, reason) {
        (crate::model::Benefit::RareDrug, None) => basic::drug_share(&basic::Ctx::of(table, ci, person, policy, year, benefit)),
        (crate::model::Benefit::RareDrug, Some(_)) => c.preselfpay_amt + c.inscp_scp_amt,
        _ => Money::ZERO,
    }
}

fn add_to_summary(s: &mut PersonYear, claim: &Claim, r: &Settlement) {
    s.claims += 1;
    s.medfee_sumamt += claim.medfee_sumamt();
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
    t.detail("childbirth", || {
        trace::Detail::new(
            format!(
                "childbirth subsidy (government finance): {} + {} − funds {} = {subsidy} (oth_pay)",
                c.preselfpay_amt,
                c.inscp_scp_amt,
                r.fund_pay_sumamt()
            ),
            m.source.clone(),
        )
        .value("preselfpay_amt", c.preselfpay_amt)
        .value("inscp_scp_amt", c.inscp_scp_amt)
        .value("fund_pay_sumamt", r.fund_pay_sumamt())
        .value("subsidy", subsidy)
        .param("maternity.finance_subsidy")
    });
    subsidy
}

/// The person-year of a year state as it stands (year end, or year to date in a nightly run):
/// the summary, the running totals and the year-end tilted assistance (S-19).
pub fn close_year(st: &YearState, person: &Person, policies: &PolicySet, t: &mut Tracer) -> PersonYear {
    let admissions = st.live_admissions();
    let mut s = st.summary.clone();
    s.admissions = admissions;
    s.limits = limits_reached(st, person, policies.get(st.policy));
    t.claim(|| "", st.year);
    s.maf_tilt_pay = assistance::tilted(policies.get(st.policy), person, st.tilt_base, t);
    s
}

/// The limits the running totals of `st` reached, for the report's limits table: the basic
/// fund's annual cap (D-10), each catastrophic band of the person's table passed (D-03) and the
/// catastrophic cap (S-20), each assistance limit group's limit (S-18).
fn limits_reached(st: &YearState, person: &Person, pol: &crate::policy::Policy) -> LimitsReached {
    let mut r = LimitsReached::default();
    if let Some(cap) = pol.inpatient.as_ref().and_then(|i| i.cap) {
        r.set_cap(st.cap_paid >= cap.0);
    }
    if let Some(cat) = &pol.catastrophic {
        let mut lo = Money::ZERO;
        for b in catastrophic::brackets_of(cat, person) {
            r.cat_bands = r.cat_bands.saturating_add((st.cat_base > lo) as u8);
            lo = b.upto.map_or(lo, |a| a.0);
        }
        if let Some(cap) = catastrophic::cap_of(pol, person) {
            r.set_cat_cap(st.cat_paid >= cap);
        }
    }
    if person.assistance != Assistance::None
        && let Some(a) = &pol.assistance
    {
        for (g, lim) in a.limits.iter().enumerate().take(LimitsReached::ASSIST_GROUPS) {
            r.set_assist(g, st.assist_paid[g] >= lim.limit.0);
        }
    }
    r
}

/// A person's settled history that a run continues from (nightly runs against a state,
/// CONTRACT.md §6): the running totals of the years already open and the originals that this
/// run's reversals cancel. [`settle_person`] hands it back updated: the year states as they
/// stand after the run and, for each claim it settled, what the claim added (S-22).
#[derive(Clone, Debug, Default)]
pub struct Carry {
    /// One state per year, as the last run left it; after the run, the states it touched too.
    pub years: Vec<YearState>,
    /// Settlements outside this run (by setl_id) that a reversal in it cancels, with what
    /// they added to the running totals.
    pub originals: HashMap<String, (Settlement, Contribution)>,
    /// Out: what each claim of the run added to the running totals, aligned with its claims
    /// ([`settle_person`]; [`settle_all_from`] hands them back in `packed` instead).
    pub contributions: Vec<Contribution>,
    /// Out of [`settle_all_from`]: `contributions`, packed (a whole run's are held at once).
    pub packed: PackedContributions,
}

/// Settles one person's claims (`claims` in D-06 order) into `out` (one settlement per claim,
/// same order), continuing from a settled history (`carry`, see [`Carry`]; with `None` every
/// year starts empty); returns the person-years. Pure and deterministic.
#[allow(clippy::too_many_arguments)]
pub fn settle_person(
    table: &ClaimTable,
    person: &Person,
    claims: &[u32],
    policy_of: &[u16],
    policies: &PolicySet,
    out: &mut [Settlement],
    mut carry: Option<&mut Carry>,
    t: &mut Tracer,
) -> Vec<PersonYear> {
    // Most persons' claims fall in one year (a Vec's first growth would hold four).
    let mut years = Vec::with_capacity(1);
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
                years.push(close_year(&done, person, policies, t));
                if let Some(c) = carry.as_deref_mut() {
                    // Exactly one more: a Vec's first growth holds four, 2 KB of YearStates,
                    // for each of a city's million persons.
                    c.years.reserve_exact(1);
                    c.years.push(done);
                }
            }
            let carried = carry.as_deref_mut().and_then(|c| c.years.iter().position(|s| s.year == year).map(|i| c.years.swap_remove(i)));
            st = Some(match carried {
                Some(mut s) => {
                    s.summary.psn = claim.psn;
                    s
                }
                None => YearState::new(claim.psn, year, pol_idx),
            });
        }
        let Some(st) = st.as_mut() else { continue };
        t.claim(|| table.strings.get(claim.setl_id), year);
        if has_reversal {
            position.insert(ci, k);
        }
        let policy = policies.get(pol_idx);

        let original = if claim.reversal { table.original(ci as usize) } else { NO_ORIGINAL };
        if original != NO_ORIGINAL {
            // S-22: the exact negation of the original; its contribution leaves every accumulator.
            // The original is settled in this call, or (nightly state, an earlier batch of a
            // stream) in the carried history, by setl_id.
            let here = if original == PRIOR_ORIGINAL { None } else { position.get(&original).copied() };
            let (orig, contrib) = match here {
                Some(op) => (out[op], contributions[op]),
                None => {
                    let prior = carry.as_deref().and_then(|c| c.originals.get(table.init_setl_id(ci as usize)));
                    let Some(&(o, c)) = prior else { continue };
                    (o, c)
                }
            };
            st.apply(&contrib, -1);
            let r = orig.negated();
            t.detail("reversal", || {
                let taken = contrib.named();
                let list: Vec<String> = taken.iter().map(|(k, v)| format!("{k} −{v}")).collect();
                let mut d = trace::Detail::new(
                    format!(
                        "reverses {}: every amount negated; running totals taken back: {}",
                        table.init_setl_id(ci as usize),
                        if list.is_empty() { "none (the original added nothing)".to_string() } else { list.join(", ") }
                    ),
                    "CONTRACT.md §1; RULES.md S-22".into(),
                );
                for (k, v) in taken {
                    d = d.value(format!("taken_back.{k}"), v);
                }
                d.amounts(&r)
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
        // The claim's context (and its rare_fund_pay, looked up once), used when covered.
        let ctx = basic::Ctx::of(table, ci as usize, person, policy, year, benefit);
        let rare_fund_pay = ctx.rare_fund_pay;
        let mut r = Settlement {
            // intake refuses times outside 1900–2199 (docs/contract.md), so the year fits
            year: year as i16,
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
            oth_pay: rare_fund_pay,
            psn_part_amt: claim.medfee_sumamt() - rare_fund_pay,
        };
        let mut c = Contribution::default();
        if let Some(reason) = not_covered {
            r.status = Status::NotCovered;
            r.reason = Some(reason);
            t.detail("coverage", || {
                trace::Detail::new(
                    format!("{benefit} claim not covered: {reason}; the person pays {}", claim.medfee_sumamt()),
                    "RULES.md S-21".into(),
                )
                .value("reason", reason)
                .value("medfee_sumamt", claim.medfee_sumamt())
                .value("oth_pay", r.oth_pay)
                .value("psn_part_amt", r.psn_part_amt)
            });
        } else {
            t.detail("benefit", || {
                trace::Detail::new(format!("{benefit} under {} ({} group)", policy.id, ctx.group.as_str()), "RULES.md §3, S-11".into())
                    .value("benefit", benefit)
                    .value("group", ctx.group.as_str())
                    .value("policy_id", &policy.id)
                    .value("medfee_sumamt", claim.medfee_sumamt())
                    .value("in_catalogue", claim.in_catalogue())
                    .value("inscp_scp_amt", claim.inscp_scp_amt)
                    .value("rare_fund_pay", rare_fund_pay)
            });
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
            r.psn_part_amt = claim.medfee_sumamt() - r.fund_pay_sumamt() - r.oth_pay;
            st.apply(&c, 1);
            assistance::tilt_part(st, claim.inscp_scp_amt, r.fund_pay_sumamt(), r.oth_pay);
            t.detail("result", || {
                trace::Detail::new(
                    format!(
                        "hifp {} + hifob {} + hifmi {} + maf {} = fund {}; other payers {}; the person pays {} − {} − {} = {}",
                        r.hifp_pay,
                        r.hifob_pay,
                        r.hifmi_pay,
                        r.maf_pay,
                        r.fund_pay_sumamt(),
                        r.oth_pay,
                        claim.medfee_sumamt(),
                        r.fund_pay_sumamt(),
                        r.oth_pay,
                        r.psn_part_amt
                    ),
                    "RULES.md D-01, D-02, S-28".into(),
                )
                .amounts(&r)
                .value("medfee_sumamt", claim.medfee_sumamt())
                .param("rounding.mode")
            });
        }
        add_to_summary(&mut st.summary, claim, &r);
        out[k] = r;
        contributions.push(c);
    }
    if let Some(done) = st.take() {
        years.push(close_year(&done, person, policies, t));
        if let Some(c) = carry {
            c.years.reserve_exact(1);
            c.years.push(done);
            c.contributions = contributions;
        }
    }
    years
}

/// The settlements of a whole run and the person-years (sorted by psn_no, year).
#[derive(Debug, Default)]
pub struct Settled {
    /// Claim index of each settlement, in settlement (D-06) order (the prepared order itself
    /// for a whole run).
    pub claim: Arc<Vec<u32>>,
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
        self.settled_in(0..self.pos.len()).collect()
    }
    /// The settled claims' indices among the claims `range` (by input index), in order.
    pub fn settled_in(&self, range: std::ops::Range<usize>) -> impl Iterator<Item = u32> + '_ {
        self.pos.get(range.clone()).unwrap_or_default().iter().zip(range).filter(|(p, _)| **p != u32::MAX).map(|(_, i)| i as u32)
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
    settle_all_from(table, persons, prepared, policies, None, progress, None)
}

/// [`settle_all`] continuing each person from a settled history: `carries` (when given) holds
/// one [`Carry`] per entry of `prepared.persons`, handed back updated (nightly runs), each
/// person's contributions packed as soon as the person is settled ([`Carry::packed`]).
///
/// With `into`, the person-years are appended there, in no order, and none are in the
/// [`Settled`] returned: a spilled run's partitions append theirs to one list, ordered once
/// after the last, instead of each making a list of its own to be copied into that one and
/// ordered twice. (The copy's 3.9–7.5 s on the 100M year were mostly the list's first touch,
/// which the settling now pays: the partitions' phase 44.8 and 47.4 s before, 47.0 and 44.2 s
/// after; the run's peak 4.3–4.7 GiB, against 4.8.)
pub fn settle_all_from(
    table: &ClaimTable,
    persons: &PersonTable,
    prepared: &Prepared,
    policies: &PolicySet,
    carries: Option<&mut [Carry]>,
    progress: &(dyn Fn(u64) + Sync),
    into: Option<&mut Vec<PersonYear>>,
) -> Settled {
    let mut own = Vec::new();
    let years = match into {
        Some(list) => list,
        None => &mut own,
    };
    let n = prepared.order.len();
    // Filled in parallel: the first touch of the settlements' memory (the kernel clearing
    // each page, slow under virtualization) is a good part of settling; `vec!` would do it on
    // one thread before settling starts.
    let mut sorted: Vec<Settlement> = (0..n).into_par_iter().with_min_len(1 << 16).map(|_| Settlement::EMPTY).collect();
    let mut slices: Vec<&mut [Settlement]> = Vec::with_capacity(prepared.persons.len());
    let mut rest: &mut [Settlement] = &mut sorted;
    for r in &prepared.persons {
        let (head, tail) = rest.split_at_mut(r.len());
        slices.push(head);
        rest = tail;
    }
    let one = |range: &std::ops::Range<usize>, out: &mut [Settlement], carry: Option<&mut Carry>| {
        // The claims lie in input (time) order and are settled in person order: each is a
        // cache miss, most of settling's time. The claims next in the order (the next
        // persons', usually settled next by this thread) are fetched while this one settles.
        const AHEAD: usize = 16;
        for &ci in prepared.order.get(range.end..(range.end + AHEAD).min(n)).unwrap_or_default() {
            table.prefetch(ci);
        }
        let claims = &prepared.order[range.clone()];
        let psn = table.claims[claims[0] as usize].psn;
        let person = &persons.persons[psn as usize];
        let y = settle_person(table, person, claims, &prepared.policy_of, policies, out, carry, &mut Tracer::off());
        progress(claims.len() as u64);
        y
    };
    // Each person's years are moved out of their short list on the settling thread: the first
    // into its place in one list made in parallel (a serial flatten of a million short lists
    // copied ~150 MB into fresh pages with one core idle), the rare further ones (a person
    // settled across a new year) into a shared list appended after. A range of claims always
    // opens a year; were one to give none, its place holds a year of no person, taken out
    // below.
    const NO_PERSON: u32 = u32::MAX;
    let further: Mutex<Vec<PersonYear>> = Mutex::new(Vec::new());
    let gave_none = AtomicBool::new(false);
    let first = |years: Vec<PersonYear>| -> PersonYear {
        let mut years = years.into_iter();
        let head = years.next().unwrap_or_else(|| {
            gave_none.store(true, Ordering::Relaxed);
            PersonYear::empty(NO_PERSON, 0, 0)
        });
        if years.len() > 0 {
            further.lock().unwrap_or_else(PoisonError::into_inner).extend(years);
        }
        head
    };
    // Written in place at the list's end (an indexed parallel extend), not collected apart.
    let start = years.len();
    match carries {
        None => years
            .par_extend(prepared.persons.par_iter().zip(slices.into_par_iter()).with_min_len(64).map(|(r, out)| first(one(r, out, None)))),
        Some(carries) => years.par_extend(
            prepared.persons.par_iter().zip(slices.into_par_iter()).zip(carries.par_iter_mut()).with_min_len(64).map(|((r, out), c)| {
                let y = one(r, out, Some(&mut *c));
                c.packed = PackedContributions::pack(&std::mem::take(&mut c.contributions));
                first(y)
            }),
        ),
    };
    if gave_none.into_inner() {
        let mut k = start;
        while k < years.len() {
            if years[k].psn == NO_PERSON {
                // The order is made after, by (psn_no, year), which no two years share.
                years.swap_remove(k);
            } else {
                k += 1;
            }
        }
    }
    years.append(&mut further.into_inner().unwrap_or_else(PoisonError::into_inner));
    let mut pos: Vec<u32> = (0..table.claims.len()).into_par_iter().with_min_len(1 << 16).map(|_| u32::MAX).collect();
    for (k, &ci) in prepared.order.iter().enumerate() {
        pos[ci as usize] = k as u32;
    }
    order_person_years(&mut own, persons);
    Settled { claim: Arc::clone(&prepared.order), sorted, pos, person_years: own }
}

/// Orders person-years by (psn_no, year), person_years' order (CONTRACT.md §4).
///
/// Persons in psn_no order (as `generate` writes them, and extracts usually come): a person's
/// index is its place, and the years are counted into place by person ([`places_by_person`]).
/// Otherwise each year is sorted by a key taken once ([`places_by_key`]). Either way the
/// years are then swapped into their places ([`put_in_place`]).
pub fn order_person_years(years: &mut [PersonYear], persons: &PersonTable) {
    // Fewer than two years are in order, and checking the persons' order below compares every
    // psn_no with the next: a spilled run's partitions call this with none of their own (their
    // years go to the run's list), and took that check 33 times over the 100M year's 10M
    // persons (9% of the partitions' samples, `perf record`, 2026-12-07).
    if years.len() < 2 {
        return;
    }
    if u32::try_from(years.len()).is_err() || years.par_iter().any(|y| y.psn as usize >= persons.persons.len()) {
        return; // not a year of these persons (and no run settles 4G person-years)
    }
    let by_person = persons.persons.par_windows(2).all(|w| w[0].psn_no < w[1].psn_no);
    let place = if by_person { places_by_person(years, persons.persons.len()) } else { places_by_key(years, persons) };
    let Some(place) = place else { return };
    put_in_place(years, place);
    if by_person {
        // Counted by person only: a person's years that came out of year order are ordered.
        for one in years.chunk_by_mut(|a, b| a.psn == b.psn) {
            if !one.is_sorted_by_key(|y| y.year) {
                one.sort_unstable_by_key(|y| y.year);
            }
        }
    }
}

/// Each year's place in (person index, year) order, by counting the years per person: no
/// comparison sort (the 100M year's 8.4M years took ~2 s of CPU sorted by their psn_no keys,
/// whose list took 270 MB); `None` when they are in that order already (as an in-memory run
/// settles them).
fn places_by_person(years: &[PersonYear], persons: usize) -> Option<Vec<u32>> {
    let key = |y: &PersonYear| (y.psn, y.year);
    if years.par_windows(2).all(|w| key(&w[0]) < key(&w[1])) {
        return None;
    }
    // Where each person's years start. Stable: a person's years keep the order they came in
    // (a partition settles a person's years in turn); any other order is mended after
    // ([`order_person_years`]).
    let mut next = vec![0u32; persons + 1];
    for y in years {
        next[y.psn as usize + 1] += 1;
    }
    let mut sum = 0;
    for n in &mut next {
        sum += *n;
        *n = sum;
    }
    Some(
        years
            .iter()
            .map(|y| {
                let at = &mut next[y.psn as usize];
                *at += 1;
                *at - 1
            })
            .collect(),
    )
}

/// Each year's place in (psn_no, year) order, sorted by a key taken once: the first 16 bytes
/// of its psn_no (zero-padded, big-endian: its order is the text's) and its year; only years
/// whose keys tie (a person's years, or psn_no longer than 16 bytes sharing those) compare
/// their texts. Comparing the texts throughout looks up two persons at random per comparison.
/// `None` when they are in that order already.
fn places_by_key(years: &[PersonYear], persons: &PersonTable) -> Option<Vec<u32>> {
    fn head(psn_no: &str) -> u128 {
        let mut b = [0u8; 16];
        let n = psn_no.len().min(16);
        b[..n].copy_from_slice(&psn_no.as_bytes()[..n]);
        u128::from_be_bytes(b)
    }
    let psn_no = |y: &PersonYear| persons.persons[y.psn as usize].psn_no.as_str();
    let mut keys: Vec<(u128, i32, u32)> =
        years.par_iter().enumerate().with_min_len(1 << 14).map(|(i, y)| (head(psn_no(y)), y.year, i as u32)).collect();
    let cmp = |a: &(u128, i32, u32), b: &(u128, i32, u32)| {
        a.0.cmp(&b.0).then_with(|| psn_no(&years[a.2 as usize]).cmp(psn_no(&years[b.2 as usize])).then(a.1.cmp(&b.1)))
    };
    if keys.windows(2).all(|w| cmp(&w[0], &w[1]).is_lt()) {
        return None;
    }
    keys.par_sort_unstable_by(cmp);
    let mut place = vec![0u32; years.len()];
    for (j, k) in keys.iter().enumerate() {
        place[k.2 as usize] = j as u32;
    }
    Some(place)
}

/// Moves the year at `i` to `place[i]` for every `i` (a permutation), in place: a gathered
/// copy takes as much fresh memory again (870 MB on the 100M year, at the peak of the merge
/// beside it), whose pages the kernel zeroes at a cost of seconds on this VM. Swapping the
/// year at `i` with the one at its place puts that one where it goes, in any order of such
/// swaps; following one cycle waits on a miss at every step, so 16 lanes, each over its own
/// range of places, fetch their next places together (8.3M years: 0.5 s against 1.5 s
/// following the cycles one by one).
fn put_in_place(years: &mut [PersonYear], mut place: Vec<u32>) {
    const LANES: usize = 16;
    let n = years.len().min(place.len());
    let span = n.div_ceil(LANES);
    let end = |k: usize| ((k + 1) * span).min(n);
    let mut at: [usize; LANES] = std::array::from_fn(|k| (k * span).min(n));
    loop {
        for (k, &i) in at.iter().enumerate() {
            if let Some(&to) = place.get(i).filter(|_| i < end(k)) {
                if let Some(y) = years.get(to as usize) {
                    prefetch(y);
                    // a year spans two cache lines
                    prefetch((y as *const PersonYear).cast::<u8>().wrapping_add(64));
                }
                prefetch(place.as_ptr().wrapping_add(to as usize));
            }
        }
        let mut moved = false;
        for (k, i) in at.iter_mut().enumerate() {
            while *i < end(k) && place[*i] as usize == *i {
                *i += 1;
            }
            if *i < end(k) {
                let to = place[*i] as usize;
                years.swap(*i, to);
                place.swap(*i, to);
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// `order_person_years` orders as comparing the psn_no texts and years would: psn_no
        /// shorter and longer than its 16-byte key, sharing the key's bytes (padding zeros
        /// included), several years a person, in any order; the persons in any order or in
        /// psn_no order (counted into place by person then).
        #[test]
        fn person_years_order_as_their_texts_and_years(
            tails in prop::collection::vec(("[AB\\x00]{0,4}", 0usize..3), 1..40),
            years in prop::collection::vec((0usize..40, 2024i32..2027), 0..120),
            persons_sorted in any::<bool>(),
        ) {
            let mut seen = std::collections::HashSet::new();
            let mut names: Vec<String> = tails
                .iter()
                .map(|(tail, head)| ["", "P0000000000000", "P00000000000000000"][*head].to_string() + tail)
                .filter(|s| seen.insert(s.clone()))
                .collect();
            if persons_sorted {
                names.sort();
            }
            let persons = PersonTable::of(names.iter().map(|s| Person::plain(s)).collect());
            let n = persons.persons.len();
            let mut keys = std::collections::HashSet::new();
            let mut ours: Vec<PersonYear> = years
                .iter()
                .map(|&(i, y)| ((i % n) as u32, y))
                .filter(|k| keys.insert(*k))
                .map(|(psn, y)| PersonYear::empty(psn, y, 0))
                .collect();
            let mut by_text = ours.clone();
            by_text.sort_by(|a, b| {
                persons.persons[a.psn as usize].psn_no.cmp(&persons.persons[b.psn as usize].psn_no).then(a.year.cmp(&b.year))
            });
            order_person_years(&mut ours, &persons);
            prop_assert_eq!(ours, by_text);
        }
    }
}
