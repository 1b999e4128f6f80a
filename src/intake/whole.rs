//! Whole-input checks (RULES.md S-22..S-24): the person and policy of each claim, duplicate
//! setl_ids, reversal pairs; then the D-06 settlement order. Each refusal is a [`RejectCode`].

use super::reject::RejectCode;
use crate::model::time::Timestamp;
use crate::model::{Claim, ClaimTable, Money, PRIOR_ORIGINAL, PersonTable, time};
use crate::policy::PolicySet;
use rayon::prelude::*;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

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
    /// Claim indices in (person, setl_time, setl_id) order, rejected ones left out; shared
    /// with the run's [`crate::engine::Settled`] (not copied: 4 bytes a claim).
    pub order: Arc<Vec<u32>>,
    /// Per person: the range of `order` holding its claims.
    pub persons: Vec<Range<usize>>,
    /// Policy of each claim (index into the PolicySet; `u16::MAX` when rejected).
    pub policy_of: Vec<u16>,
    pub rejects: Vec<Reject>,
}

const NO_POLICY: u16 = u16::MAX;

/// What a nightly state already holds that the whole-input checks need (CONTRACT.md §6
/// `settle --state`): the settled claims the input names (by setl_id or init_setl_id) and the
/// latest settled claim of each person in the input.
#[derive(Clone, Debug, Default)]
pub struct History {
    pub claims: HashMap<String, PriorClaim>,
    /// psn_no → (setl_time, setl_id) of the person's latest settled claim.
    pub latest: HashMap<String, (Timestamp, String)>,
}

/// A claim settled by an earlier run, as the checks see it.
#[derive(Clone, Debug)]
pub struct PriorClaim {
    pub psn_no: String,
    pub setl_time: Timestamp,
    pub reversal: bool,
    /// The reversal that already cancelled it.
    pub reversed_by: Option<String>,
    /// medfee_sumamt, fulamt_ownpay_amt, overlmt_selfpay, preselfpay_amt, inscp_scp_amt,
    /// rare_fund_pay as given.
    pub amounts: [Money; 6],
    /// When it was settled (the run's date), for messages.
    pub night: String,
}

/// The amounts a reversal must negate, by column (S-22): those of claim `i`.
fn amounts(t: &ClaimTable, i: usize) -> [(&'static str, Money); 6] {
    let c = &t.claims[i];
    [
        ("medfee_sumamt", c.medfee_sumamt()),
        ("fulamt_ownpay_amt", c.fulamt_ownpay_amt),
        ("overlmt_selfpay", c.overlmt_selfpay),
        ("preselfpay_amt", c.preselfpay_amt),
        ("inscp_scp_amt", c.inscp_scp_amt),
        ("rare_fund_pay", t.rare_fund_pay(i)),
    ]
}

/// The first column whose reversal amount (claim `r`) is not the negation of the original's.
fn not_negated(original: [Money; 6], t: &ClaimTable, r: usize) -> Option<(&'static str, Money, Money)> {
    amounts(t, r).into_iter().zip(original).find(|((_, rv), ov)| *rv != -*ov).map(|((col, rv), ov)| (col, ov, rv))
}

/// D-06 order key of a claim.
fn order_key<'a>(t: &'a ClaimTable, c: &Claim) -> (u32, i64, &'a str) {
    (c.psn, c.setl_time, t.strings.get(c.setl_id))
}

/// The claims' setl_ids, hashed and sorted, for duplicate detection and reversal lookup
/// without a 10-million-entry string map: built in parallel, then binary-searched.
struct SetlIndex {
    /// The top half of each claim's setl_id hash and the claim's index in one word ([`entry`]),
    /// sorted: equal halves are ordered by claim index. 8 bytes a claim (a `(u64, u32)` pair
    /// took 16); ids whose halves are equal are told apart by their strings, as ids with
    /// equal whole hashes were.
    by_hash: Vec<u64>,
    /// where in `by_hash` the hashes with each value of their top `bits` bits start (one more
    /// entry at the end): a lookup searches a few entries instead of the whole (a binary
    /// search of 10 million entries missed the cache at every step, 6 µs a reversal); its
    /// length is a power of two plus one
    starts: Vec<u32>,
}

/// A setl_id's (or psn_no's) hash: the same on every run (partitions of a spilled run are
/// chosen by it). foldhash with its fixed seed: the SipHash it replaced was 2% of a run's CPU
/// (every setl_id is hashed once in memory, and twice more when the run spills). What it
/// decides never shows in an output: equal hashes are told apart by their strings, and the
/// outputs are byte-identical whatever the partitioning. Its own seed: the persons' index
/// hashes psn_no with the default one, and the persons of one partition, sharing this hash
/// modulo the partitions, must not share that one's low bits.
pub fn id_hash(s: &str) -> u64 {
    use std::hash::BuildHasher;
    id_hasher().hash_one(s)
}

/// [`id_hash`]'s hasher over an id's bytes, as they lie in a spill record (no UTF-8 check):
/// not equal to `id_hash` of the same text (a `str` hashes with a terminator), so a caller
/// compares it only with itself (the cross-partition checks' ids and lookups).
pub fn id_bytes_hash(b: &[u8]) -> u64 {
    use std::hash::BuildHasher;
    id_hasher().hash_one(b)
}

fn id_hasher() -> foldhash::fast::FixedState {
    const SEED: u64 = 0x6d65_6473_6574_746c; // "medsettl"
    foldhash::fast::FixedState::with_seed(SEED)
}

/// The top `bits` bits of a hash (none for 0 bits).
fn top_bits(h: u64, bits: u32) -> usize {
    h.checked_shr(64 - bits).unwrap_or(0) as usize
}

/// An entry of a sorted setl_id index ([`SetlIndex`], and a spilled run's key buckets): the
/// top 32 bits of hash `h`, then index `i`, so that entries sort by the half, then the index.
pub fn entry(h: u64, i: u32) -> u64 {
    (h & !u64::from(u32::MAX)) | u64::from(i)
}

/// The hash half of an entry (or of a hash).
pub fn half(e: u64) -> u64 {
    e >> 32
}

/// The index of an entry.
pub fn claim_of(e: u64) -> u32 {
    e as u32
}

impl SetlIndex {
    fn build(table: &ClaimTable) -> SetlIndex {
        let mut by_hash: Vec<u64> =
            table.claims.par_iter().enumerate().map(|(i, c)| entry(id_hash(table.strings.get(c.setl_id)), i as u32)).collect();
        // A stable radix sort by the half keeps the claims' order within a half: the entries'
        // order. (A counting sort by the hash's top bits, as the D-06 order has, took as long as
        // a parallel comparison sort: 0.23–0.26 s on the 10.36M year with 64 to 16,384 buckets.)
        radsort::sort_by_key(&mut by_hash, |&e| half(e) as u32);
        // About four entries per directory slot.
        let bits = (by_hash.len() / 4).max(1).ilog2().min(28);
        let mut starts = Vec::with_capacity((1 << bits) + 1);
        for (k, &e) in by_hash.iter().enumerate() {
            while starts.len() <= top_bits(e, bits) {
                starts.push(k as u32);
            }
        }
        starts.resize((1 << bits) + 1, by_hash.len() as u32);
        SetlIndex { by_hash, starts }
    }
    /// How many top bits of a hash choose its directory slot.
    fn bits(&self) -> u32 {
        (self.starts.len() - 1).ilog2()
    }
    /// The run of entries whose hash has the top half of `h`.
    fn run(&self, h: u64) -> &[u64] {
        let b = top_bits(h, self.bits());
        let slot = &self.by_hash[self.starts[b] as usize..self.starts[b + 1] as usize];
        let lo = slot.partition_point(|&e| half(e) < half(h));
        let hi = lo + slot[lo..].partition_point(|&e| half(e) == half(h));
        &slot[lo..hi]
    }
    /// (claim, first claim with the same setl_id) for every later repetition, in claim order.
    fn duplicates(&self, table: &ClaimTable) -> Vec<(u32, u32)> {
        let id = |i: u32| table.strings.get(table.claims[i as usize].setl_id);
        let mut dups = Vec::new();
        let mut start = 0;
        while start < self.by_hash.len() {
            let h = half(self.by_hash[start]);
            // The run of equal halves, scanned (almost every run has one entry).
            let end = start + self.by_hash[start..].iter().take_while(|&&e| half(e) == h).count();
            let run = &self.by_hash[start..end];
            for (k, &e) in run.iter().enumerate().skip(1) {
                let i = claim_of(e);
                if let Some(f) = run[..k].iter().map(|&f| claim_of(f)).find(|&f| id(f) == id(i)) {
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
        self.run(id_hash(s)).iter().map(|&e| claim_of(e)).find(|&i| table.strings.get(table.claims[i as usize].setl_id) == s)
    }
}

/// A counting sort: the items whose `bucket` is `Some(0..buckets)`, in bucket order and in
/// their input order within a bucket, each bucket's slice then given to `finish` (to order it
/// further); and where each bucket starts (`buckets + 1` offsets). The buckets are cut into as
/// many groups as there are threads: each group's items fill a slice of the output of their
/// own, put there by one thread that reads all the items, so the parallel placing needs no
/// shared writes.
fn counting_sort<T: Copy + Default + Send + Sync>(
    items: &[T],
    buckets: usize,
    bucket: impl Fn(&T) -> Option<usize> + Sync,
    finish: impl Fn(&mut [T]) + Sync,
) -> (Vec<T>, Vec<usize>) {
    let mut counts = vec![0usize; buckets];
    for b in items.iter().filter_map(&bucket) {
        counts[b] += 1;
    }
    let mut starts = Vec::with_capacity(buckets + 1);
    let mut at = 0;
    for &k in &counts {
        starts.push(at);
        at += k;
    }
    starts.push(at);
    drop(counts);
    let mut out = vec![T::default(); at];
    let groups = rayon::current_num_threads().clamp(1, buckets.max(1));
    let mut slices = Vec::with_capacity(groups);
    let mut rest = out.as_mut_slice();
    for g in 0..groups {
        let (lo, hi) = (buckets * g / groups, buckets * (g + 1) / groups);
        let (mine, after) = rest.split_at_mut(starts[hi] - starts[lo]);
        slices.push((lo..hi, mine));
        rest = after;
    }
    slices.into_par_iter().for_each(|(group, slice)| {
        let base = starts[group.start];
        let mut next: Vec<usize> = starts[group.clone()].iter().map(|s| s - base).collect();
        for item in items {
            if let Some(b) = bucket(item).filter(|b| group.contains(b)) {
                let slot = &mut next[b - group.start];
                slice[*slot] = *item;
                *slot += 1;
            }
        }
        for b in group {
            finish(&mut slice[starts[b] - base..starts[b + 1] - base]);
        }
    });
    (out, starts)
}

/// The accepted claims in D-06 order (person, setl_time, setl_id), and each person's range
/// of that order, by counting ([`counting_sort`]) rather than sorting: person numbers are
/// dense (indices into the persons table), so the claims are counted into buckets of
/// consecutive person numbers, and each bucket is then ordered by (person, setl_time,
/// setl_id). When the persons are no more than the claims (a year's run) a bucket is one
/// person, whose claims a claims extract gives in time order, so they nearly always are in
/// order already (on the 10.36M year 0.16 s, where a parallel sort took 0.47 s). When the
/// persons are far more (a partition of a spilled run, a night: the cost must follow the
/// claims, not the persons table), a bucket is a run of persons holding about four claims,
/// sorted in the cache (the 100M year's 17 partitions of 6.1M claims among 10M persons: 5.27 s
/// with a parallel sort of the keys, [`d06_by_sort`]).
fn d06_order(table: &ClaimTable, policy_of: &[u16], persons: usize) -> (Vec<u32>, Vec<Range<usize>>) {
    // (person, claim, setl_time); a rejected claim is left out. Every accepted claim's person
    // is in the table (its policy was chosen through it), so none falls outside the buckets.
    let keys: Vec<(u32, u32, Timestamp)> = table
        .claims
        .par_iter()
        .enumerate()
        .map(|(i, c)| (if policy_of[i] == NO_POLICY { u32::MAX } else { c.psn }, i as u32, c.setl_time))
        .collect();
    let buckets = persons.min(table.claims.len().div_ceil(4)).max(1);
    // Monotone in the person number; the person itself when there are as many buckets.
    let bucket_of = |p: u32| ((p as usize) < persons).then(|| (u64::from(p) * buckets as u64 / persons as u64) as usize);
    let id = |i: u32| table.strings.get(table.claims[i as usize].setl_id);
    let (order, _) = counting_sort(
        &keys,
        buckets,
        |k| bucket_of(k.0),
        |claims| {
            if !claims.windows(2).all(|w| (w[0].0, w[0].2) < (w[1].0, w[1].2)) {
                // Stable: the claims of one setl_time and setl_id (a duplicate, never
                // accepted twice) would keep their input order.
                claims.sort_by(|a, b| (a.0, a.2).cmp(&(b.0, b.2)).then_with(|| id(a.1).cmp(id(b.1))));
            }
        },
    );
    drop(keys);
    let ranges = person_ranges(&order, |k| k.0);
    (order.into_par_iter().map(|k| k.1).collect(), ranges)
}

/// The ranges of equal persons in keys ordered by person (looking each claim up in the table
/// would be a cache miss per claim, in person order).
fn person_ranges<T>(keys: &[T], person: impl Fn(&T) -> u32) -> Vec<Range<usize>> {
    let mut start = 0;
    keys.chunk_by(|a, b| person(a) == person(b))
        .map(|run| {
            start += run.len();
            start - run.len()..start
        })
        .collect()
}

/// [`d06_order`] by sorting compact keys in parallel, then ordering only the runs with an
/// equal (person, setl_time) by setl_id: what spilled partitions took before the buckets of
/// persons, kept as the tests' reference.
#[cfg(test)]
fn d06_by_sort(table: &ClaimTable, policy_of: &[u16]) -> (Vec<u32>, Vec<Range<usize>>) {
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
        let end = start + keys[start..].iter().take_while(|k| (k.0, k.1) == (p, t)).count();
        if end - start > 1 {
            keys[start..end].sort_by(|a, b| {
                table.strings.get(table.claims[a.2 as usize].setl_id).cmp(table.strings.get(table.claims[b.2 as usize].setl_id))
            });
        }
        start = end;
    }
    let persons = person_ranges(&keys, |k| k.0);
    (keys.into_par_iter().map(|k| k.2).collect(), persons)
}

/// Checks and orders the claims (S-22, S-23, S-24 for what needs the whole input).
pub fn prepare(table: &mut ClaimTable, persons: &PersonTable, policies: &PolicySet) -> Prepared {
    prepare_after(table, persons, policies, &History::default(), &|| {})
}

/// What a claim's own person and policy say (S-23): the policy it settles under, or why not.
fn claim_policy(c: &Claim, persons: &PersonTable, policies: &PolicySet) -> Result<u16, (RejectCode, String)> {
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
}

/// S-27: rare_fund_pay must not exceed the share the basic fund leaves on the claim.
fn rare_refusal(table: &ClaimTable, i: usize, persons: &PersonTable, policies: &PolicySet, policy: u16) -> Option<(RejectCode, String)> {
    let rare_fund_pay = table.rare_fund_pay(i);
    if table.claims[i].reversal || !rare_fund_pay.is_positive() {
        return None;
    }
    let share = crate::engine::rare_share(table, i, persons, policies.get(policy));
    (rare_fund_pay > share).then(|| {
        (
            RejectCode::RareFundPayExceedsShare,
            format!(
                "rare_fund_pay {rare_fund_pay} is more than the in-catalogue share left after the basic fund (preselfpay + inscp − hifp = {share}, RULES.md S-27)"
            ),
        )
    })
}

/// The policy that settles claim `i`, or none when the checks that need only the claim and
/// its person refuse it (S-23, S-27): the first step of [`prepare_part`]. A spilled run finds
/// it as it reads, for the cross-partition checks and for the partitions
/// ([`CrossPartition::policy_of`]).
pub fn policy_alone(table: &ClaimTable, i: usize, persons: &PersonTable, policies: &PolicySet) -> Option<u16> {
    match claim_policy(&table.claims[i], persons, policies) {
        Ok(p) if rare_refusal(table, i, persons, policies, p).is_none() => Some(p),
        _ => None,
    }
}

/// The message of a duplicate setl_id (S-24), naming the first row.
fn duplicate_message(id: &str, first_file: u16, first_line: u32) -> String {
    format!("setl_id {id} already appears at line {first_line} (file #{}); the first row is kept", first_file + 1)
}

/// Why a reversal cannot reverse its original (S-22): what the refusal says is the same
/// wherever the original was found (in the input, in another partition of a spilled run, in a
/// nightly state's earlier nights), and is written once, by [`Unreversible::refusal`].
pub enum Unreversible<'a> {
    /// no claim has the reversal's init_setl_id as its setl_id
    Unknown,
    /// the original is itself a reversal
    Reversal,
    /// the original was rejected
    Rejected,
    /// the original is another person's
    OtherPerson,
    /// the original was settled in another year
    OtherYear { original: i32, reversal: i32 },
    /// the original is reversed already, by this setl_id
    ReversedBy(&'a str),
}

impl Unreversible<'_> {
    /// The refusal of the reversal whose init_setl_id is `init`: its reject code and message.
    pub fn refusal(&self, init: &str) -> (RejectCode, String) {
        match self {
            Unreversible::Unknown => (RejectCode::ReversalUnknownOriginal, format!("init_setl_id {init} is not a settlement in the input")),
            Unreversible::Reversal => (RejectCode::ReversalUnknownOriginal, format!("init_setl_id {init} is itself a reversal")),
            Unreversible::Rejected => (RejectCode::ReversalUnknownOriginal, format!("the original {init} was rejected; fix it first")),
            Unreversible::OtherPerson => (RejectCode::ReversalPersonMismatch, format!("the original {init} belongs to another person")),
            Unreversible::OtherYear { original, reversal } => {
                (RejectCode::ReversalCrossesYear, format!("the original {init} was settled in {original}, the reversal in {reversal}"))
            }
            Unreversible::ReversedBy(by) => (RejectCode::AlreadyReversed, format!("the original {init} is already reversed by {by}")),
        }
    }
}

/// What the whole-input checks of one partition of a spilled run (`--memory-limit`) cannot
/// see from its own claims: repetitions of a setl_id whose first row is in another partition,
/// and reversals whose original (the first row with their init_setl_id) is in another
/// partition, i.e. belongs to another person. Claim indices are the partition's.
///
/// With `originals`, the checks that made it saw every setl_id of the input: `duplicates`
/// then holds every repetition, the partition's own too, `reversals` every reversal whose
/// original is elsewhere or nowhere, and `originals` those whose original is in the
/// partition, so that the partition builds no setl_id index of its own.
#[derive(Debug, Default)]
pub struct CrossPartition<'a> {
    /// claim → (file, line) of the first row with its setl_id
    pub duplicates: HashMap<u32, (u16, u32)>,
    /// reversal → its refusal
    pub reversals: HashMap<u32, (RejectCode, String)>,
    /// reversal → its original, for every reversal whose original is in the partition
    pub originals: Option<HashMap<u32, u32>>,
    /// each claim's [`policy_alone`], found as the claims were read
    pub policy_of: Option<&'a [Option<u16>]>,
}

/// Where [`prepare_part`] finds repetitions and originals: its own setl_id index, or all of
/// them told by the cross-partition checks ([`CrossPartition::originals`]).
enum Ids<'a> {
    Index(SetlIndex),
    Told(&'a HashMap<u32, u32>),
}

impl Ids<'_> {
    /// (claim, first claim with the same setl_id) for every later repetition the partition
    /// must find itself.
    fn duplicates(&self, table: &ClaimTable) -> Vec<(u32, u32)> {
        match self {
            Ids::Index(ids) => ids.duplicates(table),
            Ids::Told(_) => Vec::new(),
        }
    }
    /// Reversal `ri`'s original in the table: the first claim whose setl_id is `init`.
    fn original(&self, table: &ClaimTable, ri: u32, init: &str) -> Option<u32> {
        match self {
            Ids::Index(ids) => ids.first(table, init),
            Ids::Told(originals) => originals.get(&ri).copied(),
        }
    }
}

/// [`prepare`] for a run that continues a state (`history`): a setl_id settled before is a
/// duplicate, a claim not later than its person's latest settled one is `late_claim`, and a
/// reversal may cancel a claim settled before (its `original` becomes [`PRIOR_ORIGINAL`]).
/// `step` is called as each of its [`PREPARE_STEPS`] steps ends (for a progress bar).
pub fn prepare_after(table: &mut ClaimTable, persons: &PersonTable, policies: &PolicySet, history: &History, step: &dyn Fn()) -> Prepared {
    prepare_part(table, persons, policies, history, &CrossPartition::default(), step)
}

/// The steps of [`prepare_part`]: persons and policies, repeated setl_ids (and the state's
/// history), reversals, the D-06 order. On 10.36M claims they take about 0.15, 0.35, 0.09
/// and 0.44 s.
pub const PREPARE_STEPS: u64 = 4;

/// [`prepare_after`] for one partition of a spilled run, with what the other partitions say.
pub fn prepare_part(
    table: &mut ClaimTable,
    persons: &PersonTable,
    policies: &PolicySet,
    history: &History,
    cross: &CrossPartition,
    step: &dyn Fn(),
) -> Prepared {
    let n = table.claims.len();
    // Persons and policies (S-23), and rare_fund_pay within the share the basic fund leaves
    // on the claim (S-27): the policy of every claim in parallel, then the few refused ones
    // again for their reasons (a result with its message for each of tens of millions of
    // claims was a third of a GB).
    let mut policy_of: Vec<u16> = match &cross.policy_of {
        Some(told) if told.len() == n => told.par_iter().map(|p| p.unwrap_or(NO_POLICY)).collect(),
        _ => {
            let t = &*table;
            (0..n).into_par_iter().map(|i| policy_alone(t, i, persons, policies).unwrap_or(NO_POLICY)).collect()
        }
    };
    let mut rejects: Vec<Reject> = policy_of
        .par_iter()
        .enumerate()
        .filter(|(_, p)| **p == NO_POLICY)
        .filter_map(|(i, _)| {
            let c = &table.claims[i];
            let refusal = match claim_policy(c, persons, policies) {
                Err(r) => Some(r),
                Ok(p) => rare_refusal(table, i, persons, policies, p),
            };
            refusal.map(|(code, message)| Reject { claim: i as u32, code, message })
        })
        .collect();
    step();
    // Duplicate setl_id: the first row is kept (S-24).
    let ids = match &cross.originals {
        Some(told) => Ids::Told(told),
        None => Ids::Index(SetlIndex::build(table)),
    };
    let mut dups: Vec<(u32, u16, u32)> = ids
        .duplicates(table)
        .into_iter()
        .filter(|(i, _)| !cross.duplicates.contains_key(i))
        .map(|(i, f)| (i, table.claims[f as usize].file, table.claims[f as usize].line))
        .collect();
    dups.extend(cross.duplicates.iter().map(|(&i, &(file, line))| (i, file, line)));
    dups.sort_unstable();
    for (i, file, line) in dups {
        // A claim refused already (its person or policy) keeps that one reason: one reject
        // row per claim, or `read` would not reconcile.
        if policy_of[i as usize] == NO_POLICY {
            continue;
        }
        let id = table.strings.get(table.claims[i as usize].setl_id);
        rejects.push(Reject { claim: i, code: RejectCode::DuplicateSetlId, message: duplicate_message(id, file, line) });
        policy_of[i as usize] = NO_POLICY;
    }
    if !history.claims.is_empty() || !history.latest.is_empty() {
        for (i, c) in table.claims.iter().enumerate() {
            if policy_of[i] == NO_POLICY {
                continue;
            }
            let id = table.strings.get(c.setl_id);
            let psn_no = &persons.persons[c.psn as usize].psn_no;
            let refused = if let Some(p) = history.claims.get(id) {
                Some((RejectCode::DuplicateSetlId, format!("setl_id {id} was already settled by the run of {}", p.night)))
            } else {
                history.latest.get(psn_no.as_str()).filter(|(t, last)| (c.setl_time, id) <= (*t, last.as_str())).map(|(t, last)| {
                    (
                        RejectCode::LateClaim,
                        format!(
                            "setl_time {} is not later than {} of {last}, the latest claim of {psn_no} already settled; earlier claims are never re-settled (RULES.md S-22)",
                            time::format_datetime(c.setl_time),
                            time::format_datetime(*t)
                        ),
                    )
                })
            };
            if let Some((code, message)) = refused {
                rejects.push(Reject { claim: i as u32, code, message });
                policy_of[i] = NO_POLICY;
            }
        }
    }
    step();
    // Reversals (S-22), in D-06 order so that "already reversed" keeps the earliest.
    let mut reversals: Vec<u32> =
        (0..n as u32).into_par_iter().filter(|&i| table.claims[i as usize].reversal && policy_of[i as usize] != NO_POLICY).collect();
    // Each key once (a claim and its setl_id are far apart in memory), then sorted in cache.
    reversals.sort_by_cached_key(|&i| order_key(table, &table.claims[i as usize]));
    let mut taken: HashMap<u32, u32> = HashMap::new();
    let mut taken_prior: HashMap<&str, u32> = HashMap::new();
    let mut originals = Vec::with_capacity(reversals.len());
    for &ri in &reversals {
        let r = &table.claims[ri as usize];
        let init = table.init_setl_id(ri as usize);
        let res: Result<u32, (RejectCode, String)> = (|| {
            if let Some(p) = history.claims.get(init) {
                // The original was settled by an earlier run (nightly state); a row of the
                // input with its setl_id is a duplicate of it, rejected above.
                if p.reversal {
                    return Err(Unreversible::Reversal.refusal(init));
                }
                if p.psn_no != persons.persons[r.psn as usize].psn_no {
                    return Err(Unreversible::OtherPerson.refusal(init));
                }
                let (ry, oy) = (time::year_of(r.setl_time), time::year_of(p.setl_time));
                if ry != oy {
                    return Err(Unreversible::OtherYear { original: oy, reversal: ry }.refusal(init));
                }
                if let Some((col, ov, rv)) = not_negated(p.amounts, table, ri as usize) {
                    return Err((
                        RejectCode::ReversalAmountMismatch,
                        format!("{col} is {rv}, expected {} (the negation of the original {init}, settled by the run of {})", -ov, p.night),
                    ));
                }
                if let Some(by) = &p.reversed_by {
                    return Err(Unreversible::ReversedBy(by).refusal(init));
                }
                if let Some(&prev) = taken_prior.get(init) {
                    return Err(Unreversible::ReversedBy(table.strings.get(table.claims[prev as usize].setl_id)).refusal(init));
                }
                taken_prior.insert(init, ri);
                return Ok(PRIOR_ORIGINAL);
            }
            if let Some(refusal) = cross.reversals.get(&ri) {
                return Err(refusal.clone());
            }
            let oi = ids.original(table, ri, init).ok_or_else(|| Unreversible::Unknown.refusal(init))?;
            let o = &table.claims[oi as usize];
            if o.reversal {
                return Err(Unreversible::Reversal.refusal(init));
            }
            if policy_of[oi as usize] == NO_POLICY {
                return Err(Unreversible::Rejected.refusal(init));
            }
            if o.psn != r.psn {
                return Err(Unreversible::OtherPerson.refusal(init));
            }
            let (ry, oy) = (time::year_of(r.setl_time), time::year_of(o.setl_time));
            if ry != oy {
                return Err(Unreversible::OtherYear { original: oy, reversal: ry }.refusal(init));
            }
            if order_key(table, o) >= order_key(table, r) {
                return Err((
                    RejectCode::ReversalBeforeOriginal,
                    format!("the reversal is not later than the original {init} (setl_time, then setl_id)"),
                ));
            }
            if let Some((col, ov, rv)) = not_negated(amounts(table, oi as usize).map(|(_, v)| v), table, ri as usize) {
                return Err((
                    RejectCode::ReversalAmountMismatch,
                    format!("{col} is {rv}, expected {} (the negation of the original {init})", -ov),
                ));
            }
            if let Some(&prev) = taken.get(&oi) {
                return Err(Unreversible::ReversedBy(table.strings.get(table.claims[prev as usize].setl_id)).refusal(init));
            }
            Ok(oi)
        })();
        match res {
            Ok(oi) => {
                if oi != PRIOR_ORIGINAL {
                    taken.insert(oi, ri);
                }
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
        table.set_original(ri as usize, oi);
    }
    step();
    let table = &*table;
    let (order, persons_r) = d06_order(table, &policy_of, persons.persons.len());
    rejects.sort_by_key(|r| r.claim);
    step();
    Prepared { order: Arc::new(order), persons: persons_r, policy_of, rejects }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A claim of person `psn` at `setl_time`, id `setl_id`.
    fn claim(t: &mut ClaimTable, psn: u32, setl_time: i64, setl_id: &str) {
        let setl_id = t.strings.push(setl_id);
        t.claims.push(Claim::plain(setl_id, psn, setl_time, Money::from_fen(100)));
    }

    /// Two setl_ids whose hashes share their top half (the index keeps only that half) are
    /// still two ids: neither is a repetition of the other, and each is found as itself.
    #[test]
    fn ids_sharing_a_hash_half_stay_apart() -> anyhow::Result<()> {
        // A birthday search: two of about 2^16 ids share a 32-bit half.
        let mut seen: HashMap<u64, String> = HashMap::new();
        let (a, b) = (0u64..1 << 22)
            .find_map(|k| {
                let id = format!("S{k:08}");
                seen.insert(half(id_hash(&id)), id.clone()).map(|earlier| (earlier, id))
            })
            .ok_or_else(|| anyhow::Error::msg("no two ids share a hash half"))?;
        assert_ne!(a, b);
        assert_eq!(half(id_hash(&a)), half(id_hash(&b)));
        let mut t = ClaimTable::default();
        for (k, id) in [&a, &b, &a, "S-other", &b].into_iter().enumerate() {
            claim(&mut t, 0, k as i64, id);
        }
        let ids = SetlIndex::build(&t);
        // the second a (claim 2) repeats claim 0, the second b (claim 4) claim 1
        assert_eq!(ids.duplicates(&t), vec![(2, 0), (4, 1)]);
        assert_eq!(ids.first(&t, &a), Some(0));
        assert_eq!(ids.first(&t, &b), Some(1));
        assert_eq!(ids.first(&t, "S-other"), Some(3));
        assert_eq!(ids.first(&t, "S-none"), None);
        Ok(())
    }

    /// Counting and sorting give the same D-06 order and person ranges: claims in any order,
    /// many on the same second (ordered by setl_id), some rejected, persons without claims,
    /// persons fewer than the claims (a bucket a person) and far more (a bucket a run of
    /// persons: a partition, a night).
    #[test]
    fn the_order_by_counting_equals_the_order_by_sorting() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        for (persons, n) in [(1, 1), (3, 50), (40, 400), (1000, 5000), (7, 0), (5, 3), (1000, 40), (100_000, 5000), (4_000_000_000, 3000)] {
            let mut t = ClaimTable::default();
            for k in 0..n {
                let (psn, time) = (next(persons as u64) as u32, next(20) as i64);
                // Unique ids, their order unrelated to the input order.
                claim(&mut t, psn, time, &format!("S{:03}-{k:05}", next(1000)));
            }
            let policy_of: Vec<u16> = (0..n).map(|_| if next(10) == 0 { NO_POLICY } else { 0 }).collect();
            let (by_count, by_sort) = (d06_order(&t, &policy_of, persons), d06_by_sort(&t, &policy_of));
            assert_eq!(by_count, by_sort, "{persons} persons, {n} claims");
            let key = |&i: &u32| order_key(&t, &t.claims[i as usize]);
            assert!(by_count.0.windows(2).all(|w| key(&w[0]) < key(&w[1])));
            assert_eq!(by_count.0.len(), policy_of.iter().filter(|&&p| p != NO_POLICY).count());
        }
    }
}
