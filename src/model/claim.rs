//! A validated claim (one 结算 row) and the table of all claims of a run.

use super::codes::{Disease, DrugClass, MedType, Offsite};
use super::money::Money;
use super::strings::{StrId, Strings, TextBytes};
use super::time::Timestamp;

/// The amounts the national platform recorded for a settlement (`replay` compares them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Recorded {
    pub hifp_pay: Option<Money>,
    pub hifob_pay: Option<Money>,
    pub hifmi_pay: Option<Money>,
    pub maf_pay: Option<Money>,
    pub psn_part_amt: Option<Money>,
    /// Other payments (`oth_pay`), kept with the others: a claim carries it only when it
    /// carries one of the five above (`replay` compares nothing else).
    pub oth_pay: Option<Money>,
}

/// One settlement row after validation. Plain data, no IO. (Serialized only into the spill
/// files of a run, with its ids' text beside it: the ids' indices are its table's, so they are
/// not written, and the reader sets them as it puts the text in its own table.)
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Claim {
    #[serde(skip)]
    pub setl_id: StrId,
    #[serde(skip)]
    pub mdtrt_id: StrId,
    // A reversal's init_setl_id and original lie in the table beside the claims
    // ([`ClaimTable::reversals`]).
    /// Index of the person in [`crate::model::PersonTable`].
    pub psn: u32,
    pub setl_time: Timestamp,
    // 医疗费用总额 is not held: it is the sum of the four parts ([`Claim::medfee_sumamt`]).
    /// 全自费
    pub fulamt_ownpay_amt: Money,
    /// 超限价自费
    pub overlmt_selfpay: Money,
    /// 先行自付
    pub preselfpay_amt: Money,
    /// 符合政策范围金额
    pub inscp_scp_amt: Money,
    // `rare_fund_pay` is not held: zero but on the few med_type 15 `rare` claims, it lies in
    // the table beside the claims ([`ClaimTable::rare_fund_pay`]).
    pub med_type: MedType,
    /// `hosp_lv` and `primary_care` in one byte ([`Claim::level_of`]; read them with
    /// [`Claim::hosp_lv`] and [`Claim::primary_care`]): one of the steps that made a claim 64
    /// bytes (see the size assertion below).
    pub level: u8,
    pub offsite: Offsite,
    pub drug_class: DrugClass,
    /// The outpatient disease for med_type 14 (after aliases and the E70.0/E70.1 rule).
    pub disease: Option<Disease>,
    pub reversal: bool,
    /// Input file index and line (CSV: header = 1) for messages.
    pub file: u16,
    pub line: u32,
}

// A city-year holds tens of millions of claims: every byte of a claim is 10 MB per 10M claims
// first touched (zeroed by the kernel) and copied once. What only a few claims carry (the
// amounts `replay` reads, the rare-disease drug fund's, a reversal's original) lives in the
// table beside the claims ([`ClaimTable::recorded`], [`ClaimTable::rare_fund`],
// [`ClaimTable::reversals`]).
const _: () = assert!(std::mem::size_of::<Claim>() <= 64);

/// [`Claim::level`]'s bit for `primary_care`; `hosp_lv` (0–3) takes the bits below it.
const PRIMARY_CARE: u8 = 0x80;

pub const NO_ORIGINAL: u32 = u32::MAX;

#[cfg(test)]
impl Claim {
    /// For tests: a local outpatient claim (med_type 11, level 1) of `inscp_scp_amt` inside
    /// the policy's scope and nothing else, not a reversal, with nothing recorded.
    pub fn plain(setl_id: StrId, psn: u32, setl_time: Timestamp, inscp_scp_amt: Money) -> Claim {
        Claim {
            setl_id,
            mdtrt_id: StrId::NONE,
            psn,
            setl_time,
            fulamt_ownpay_amt: Money::ZERO,
            overlmt_selfpay: Money::ZERO,
            preselfpay_amt: Money::ZERO,
            inscp_scp_amt,
            med_type: MedType(11),
            level: Claim::level_of(1, false),
            offsite: Offsite::Local,
            drug_class: DrugClass::DualChannel,
            disease: None,
            reversal: false,
            file: 0,
            line: 0,
        }
    }
}
/// For a reversal whose original was settled by an earlier run (nightly state): the original
/// is looked up by `init_setl_id` in the person's carried history.
pub const PRIOR_ORIGINAL: u32 = u32::MAX - 1;

impl Claim {
    /// [`Claim::level`] of a `hosp_lv` (0–3: validated by intake) and `primary_care`.
    pub const fn level_of(hosp_lv: u8, primary_care: bool) -> u8 {
        (hosp_lv & !PRIMARY_CARE) | if primary_care { PRIMARY_CARE } else { 0 }
    }
    /// 1–3; 0 when absent (allowed only for med_type 41 and 15, RULES.md D-28).
    #[inline]
    pub fn hosp_lv(&self) -> u8 {
        self.level & !PRIMARY_CARE
    }
    /// Settled at a primary-care institution (基层, RULES.md S-10).
    #[inline]
    pub fn primary_care(&self) -> bool {
        self.level & PRIMARY_CARE != 0
    }
    /// 医疗费用总额: the claim's total, the sum of its four parts (CONTRACT §1: intake refuses
    /// a row whose medfee_sumamt is not).
    #[inline]
    pub fn medfee_sumamt(&self) -> Money {
        self.fulamt_ownpay_amt + self.overlmt_selfpay + self.preselfpay_amt + self.inscp_scp_amt
    }

    /// 目录内费用: the cost inside the catalogue (D-03 before the funds).
    pub fn in_catalogue(&self) -> Money {
        self.preselfpay_amt + self.inscp_scp_amt
    }
    /// A rare-disease drug (med_type 15, drug_class `rare`): the only claim the provincial
    /// rare-disease drug fund pays (RULES.md S-27; intake refuses `rare_fund_pay` on others).
    #[inline]
    pub fn rare_drug(&self) -> bool {
        Claim::is_rare_drug(self.med_type, self.drug_class)
    }
    /// [`Claim::rare_drug`] of a claim's codes (intake asks it before the claim is made).
    #[inline]
    pub fn is_rare_drug(med_type: MedType, drug_class: DrugClass) -> bool {
        med_type.0 == 15 && drug_class == DrugClass::Rare
    }
}

/// A reversal's fields that other claims lack, beside the claims ([`ClaimTable::reversals`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reversal {
    /// The reversal's index in the table.
    pub claim: u32,
    /// The cancelled settlement's id (text as given; [`StrId::NONE`] when absent).
    pub init_setl_id: StrId,
    /// Index of the original claim in the table (set by validation), or [`NO_ORIGINAL`], or
    /// [`PRIOR_ORIGINAL`].
    pub original: u32,
}

/// What a claim carries beside its fixed fields ([`ClaimTable::push`]): nothing for most.
#[derive(Clone, Copy, Debug, Default)]
pub struct Beside {
    pub rare_fund_pay: Money,
    /// A reversal's init_setl_id (in the table's arena).
    pub init_setl_id: Option<StrId>,
    pub recorded: Option<Recorded>,
}

/// The position of claim `i`'s entry in a list kept beside the claims (ascending by claim
/// index, `claim` giving an entry's), if it has one.
fn beside_at<T>(list: &[T], i: usize, claim: impl Fn(&T) -> u32) -> Option<usize> {
    list.binary_search_by_key(&i, |e| claim(e) as usize).ok()
}

/// All claims of a run, in input order, with their text ids in one arena.
#[derive(Debug, Default)]
pub struct ClaimTable {
    pub claims: Vec<Claim>,
    pub strings: Strings,
    /// The amounts the platform recorded, for the claims that carry any (`replay`), by claim
    /// index in ascending order. Most inputs carry none: beside the claims, they cost nothing.
    pub recorded: Vec<(u32, Recorded)>,
    /// `rare_fund_pay` (paid by the provincial rare-disease drug fund after the basic fund,
    /// RULES.md S-27) of the claims where it is not zero, by claim index in ascending order:
    /// only med_type 15 `rare` claims carry it, so a claim is 72 bytes instead of 80.
    pub rare_fund: Vec<(u32, Money)>,
    /// The reversals' own fields, by claim index in ascending order: one for each claim whose
    /// `reversal` is set (a few in a thousand), so a claim is 64 bytes instead of 72.
    pub reversals: Vec<Reversal>,
}

impl ClaimTable {
    /// An empty table with room for `n` claims and their ids (two of about 20 bytes each).
    pub fn with_capacity(n: usize) -> ClaimTable {
        ClaimTable {
            claims: Vec::with_capacity(n),
            strings: Strings::with_capacity(n * 2, n * 40),
            recorded: Vec::new(),
            rare_fund: Vec::new(),
            reversals: Vec::new(),
        }
    }
    pub fn setl_id(&self, c: &Claim) -> &str {
        self.strings.get(c.setl_id)
    }
    pub fn mdtrt_id(&self, c: &Claim) -> &str {
        self.strings.get(c.mdtrt_id)
    }
    /// The recorded amounts of claim `i`, if it carries any.
    pub fn recorded(&self, i: usize) -> Option<&Recorded> {
        beside_at(&self.recorded, i, |r| r.0).map(|k| &self.recorded[k].1)
    }
    /// `rare_fund_pay` of claim `i` (zero on all but med_type 15 `rare` claims).
    #[inline]
    pub fn rare_fund_pay(&self, i: usize) -> Money {
        // Only a rare-disease drug claim has an entry (intake, S-27): no search for the
        // others (the intake's S-27 check, the settling and the spill ask it of every claim).
        if !self.claims.get(i).is_some_and(Claim::rare_drug) {
            return Money::ZERO;
        }
        beside_at(&self.rare_fund, i, |r| r.0).map_or(Money::ZERO, |k| self.rare_fund[k].1)
    }
    /// Claim `i`'s reversal fields, when it is a reversal.
    pub fn reversal_of(&self, i: usize) -> Option<&Reversal> {
        // Only a reversal has an entry (`push`): no search for the others.
        if !self.claims.get(i)?.reversal {
            return None;
        }
        beside_at(&self.reversals, i, |r| r.claim).map(|k| &self.reversals[k])
    }
    /// A reversal's init_setl_id; empty for other claims.
    pub fn init_setl_id(&self, i: usize) -> &str {
        self.reversal_of(i).map_or("", |r| self.strings.get(r.init_setl_id))
    }
    /// A reversal's original (an index, [`NO_ORIGINAL`] or [`PRIOR_ORIGINAL`]); [`NO_ORIGINAL`]
    /// for other claims.
    pub fn original(&self, i: usize) -> u32 {
        self.reversal_of(i).map_or(NO_ORIGINAL, |r| r.original)
    }
    /// Sets reversal `i`'s original (validation); other claims have none to set.
    pub fn set_original(&mut self, i: usize, original: u32) {
        if let Some(k) = beside_at(&self.reversals, i, |r| r.claim) {
            self.reversals[k].original = original;
        }
    }
    /// Puts the claims in `order` (`order[to]` = the claim's index before), with what they
    /// carry beside them and the reversals' originals; the ids stay where they are in the
    /// arena. Returns where each claim went (by its index before).
    pub fn reorder(&mut self, order: &[u32]) -> Vec<u32> {
        let mut moved_to = vec![0u32; order.len()];
        for (to, &from) in order.iter().enumerate() {
            moved_to[from as usize] = to as u32;
        }
        self.claims = order.iter().map(|&from| self.claims[from as usize].clone()).collect();
        let to = |i: &mut u32| *i = moved_to[*i as usize];
        self.recorded.iter_mut().for_each(|r| to(&mut r.0));
        self.recorded.sort_unstable_by_key(|r| r.0);
        self.rare_fund.iter_mut().for_each(|r| to(&mut r.0));
        self.rare_fund.sort_unstable_by_key(|r| r.0);
        for r in &mut self.reversals {
            to(&mut r.claim);
            if r.original < PRIOR_ORIGINAL {
                to(&mut r.original);
            }
        }
        self.reversals.sort_unstable_by_key(|r| r.claim);
        moved_to
    }
    /// Appends a claim with what it carries beside its fixed fields.
    pub fn push(&mut self, c: Claim, beside: Beside) {
        let i = self.claims.len() as u32;
        debug_assert!(beside.rare_fund_pay.is_zero() || c.rare_drug(), "rare_fund_pay on a claim that is not a rare drug (S-27)");
        if !beside.rare_fund_pay.is_zero() {
            self.rare_fund.push((i, beside.rare_fund_pay));
        }
        if let Some(r) = beside.recorded {
            self.recorded.push((i, r));
        }
        if c.reversal {
            let init_setl_id = beside.init_setl_id.unwrap_or(StrId::NONE);
            self.reversals.push(Reversal { claim: i, init_setl_id, original: NO_ORIGINAL });
        }
        self.claims.push(c);
    }
    /// Starts loading claim `i` into the cache (for a lookup a few steps later).
    #[inline]
    pub fn prefetch(&self, i: u32) {
        super::prefetch(self.claims.as_ptr().wrapping_add(i as usize));
    }
    /// Empties the table, keeping its memory for the next claims.
    pub fn clear(&mut self) {
        self.claims.clear();
        self.strings.clear();
        self.recorded.clear();
        self.rare_fund.clear();
        self.reversals.clear();
    }
    /// Appends another table (a chunk read in parallel) keeping its order after ours.
    pub fn append(&mut self, other: ClaimTable) {
        self.append_giving_ids(other);
    }
    /// [`ClaimTable::append`], giving back the chunk's text ids (copied into ours), for a
    /// read that writes them to a file as it goes ([`crate::io::scratch::IdsSpooler`]).
    pub fn append_giving_ids(&mut self, mut other: ClaimTable) -> Strings {
        self.append_rows(&mut other);
        other.strings
    }
    /// Makes the table `n` claims long for rows decoded in place (the claims it held kept as
    /// slots to write over, `filler` in the slots beyond them: a table reused from chunk to
    /// chunk writes into memory it faulted in before), its texts and what its claims carry
    /// beside emptied; returns the slots and the rest of the table, which adopts each run of
    /// rows once decoded ([`TableRest::adopt`]).
    pub fn placing(&mut self, n: usize, filler: &Claim) -> (&mut [Claim], TableRest<'_>) {
        let ClaimTable { claims, strings, recorded, rare_fund, reversals } = self;
        claims.truncate(n);
        claims.resize(n, filler.clone());
        strings.clear();
        recorded.clear();
        rare_fund.clear();
        reversals.clear();
        (claims, TableRest { strings, rare_fund, reversals })
    }
    /// Moves `other`'s rows after ours, its texts copied into our arena (its own arena left
    /// as it was).
    fn append_rows(&mut self, other: &mut ClaimTable) {
        let base = self.strings.append(&other.strings);
        let shift = |id: StrId| id.shifted(base);
        let first = self.claims.len() as u32;
        self.recorded.extend(other.recorded.drain(..).map(|(i, r)| (i + first, r)));
        self.rare_fund.extend(other.rare_fund.drain(..).map(|(i, m)| (i + first, m)));
        self.reversals.extend(other.reversals.drain(..).map(|r| Reversal {
            claim: r.claim + first,
            init_setl_id: shift(r.init_setl_id),
            ..r
        }));
        self.claims.extend(other.claims.drain(..).map(|mut c| {
            c.setl_id = shift(c.setl_id);
            c.mdtrt_id = shift(c.mdtrt_id);
            c
        }));
    }
}

/// A run of claims decoded in place into slots of a table ([`ClaimTable::placing`]), their
/// ids numbered in an arena of their own from 0: its texts and what its claims carry beside,
/// by index in the run.
#[derive(Debug, Default)]
pub struct PlacedRows {
    pub strings: Strings,
    pub rare_fund: Vec<(u32, Money)>,
    /// each reversal's init_setl_id, in `strings`
    pub reversals: Vec<(u32, StrId)>,
}

impl PlacedRows {
    /// Empties the rows for a new run, the memory of each list kept; returns the builder of
    /// its texts (room for `n` texts of `bytes` in all), whose arena, once checked
    /// ([`TextBytes::finish`]), becomes `strings`.
    pub fn start(&mut self, n: usize, bytes: usize) -> TextBytes {
        self.rare_fund.clear();
        self.reversals.clear();
        TextBytes::reusing(std::mem::take(&mut self.strings), n, bytes)
    }
}

/// A table but its claims, adopting runs of rows decoded in place into the claims while
/// other runs are decoded into other slots ([`ClaimTable::placing`]).
pub struct TableRest<'a> {
    strings: &'a mut Strings,
    rare_fund: &'a mut Vec<(u32, Money)>,
    reversals: &'a mut Vec<Reversal>,
}

impl TableRest<'_> {
    /// Adopts the run of rows decoded into `claims`, the slots from claim index `first`, after
    /// the runs adopted before it: their texts copied into the table's arena and their ids
    /// shifted to it, what they carry beside added.
    pub fn adopt(&mut self, first: u32, claims: &mut [Claim], rows: &PlacedRows) {
        let base = self.strings.append(&rows.strings);
        let shift = |id: StrId| id.shifted(base);
        if base > 0 {
            for c in claims.iter_mut() {
                c.setl_id = shift(c.setl_id);
                c.mdtrt_id = shift(c.mdtrt_id);
            }
        }
        self.rare_fund.extend(rows.rare_fund.iter().map(|&(i, m)| (first + i, m)));
        self.reversals.extend(rows.reversals.iter().map(|&(i, id)| Reversal {
            claim: first + i,
            init_setl_id: shift(id),
            original: NO_ORIGINAL,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a claim carries beside the others follows it through `append` and `reorder`, and
    /// a claim without it reads none.
    #[test]
    fn what_claims_carry_beside_follows_them() {
        let m = Money::from_fen;
        let mut t = ClaimTable::default();
        let push = |t: &mut ClaimTable, id: &str, reversal: bool, beside: Beside| {
            let setl_id = t.strings.push(id);
            let plain = Claim { reversal, ..Claim::plain(setl_id, 0, 0, m(100)) };
            // only a rare-disease drug carries rare_fund_pay (S-27)
            let rare = Claim { med_type: MedType(15), drug_class: DrugClass::Rare, ..plain.clone() };
            t.push(if beside.rare_fund_pay.is_zero() { plain } else { rare }, beside);
        };
        push(&mut t, "S0", false, Beside { rare_fund_pay: m(7), ..Beside::default() });
        push(&mut t, "S1", false, Beside::default());
        let mut u = ClaimTable::default();
        push(&mut u, "S2", false, Beside { recorded: Some(Recorded { hifp_pay: Some(m(3)), ..Recorded::default() }), ..Beside::default() });
        let init = u.strings.push("S0");
        push(&mut u, "R3", true, Beside { init_setl_id: Some(init), ..Beside::default() });
        t.append(u);
        t.set_original(3, 0);
        t.set_original(1, 5); // not a reversal: nothing to set
        let check = |t: &ClaimTable, at: [usize; 4]| {
            assert_eq!(t.setl_id(&t.claims[at[0]]), "S0");
            assert_eq!(t.rare_fund_pay(at[0]), m(7));
            assert_eq!(t.rare_fund_pay(at[1]), Money::ZERO);
            assert_eq!(t.recorded(at[2]).and_then(|r| r.hifp_pay), Some(m(3)));
            assert!(t.recorded(at[0]).is_none() && t.reversal_of(at[1]).is_none());
            assert_eq!(t.setl_id(&t.claims[at[3]]), "R3");
            assert_eq!(t.init_setl_id(at[3]), "S0");
            assert_eq!(t.init_setl_id(at[2]), "");
            assert_eq!(t.original(at[1]), NO_ORIGINAL);
        };
        check(&t, [0, 1, 2, 3]);
        assert_eq!(t.original(3), 0);
        let moved_to = t.reorder(&[3, 2, 0, 1]);
        assert_eq!(moved_to, vec![2, 3, 1, 0]);
        check(&t, [2, 3, 1, 0]);
        // The original moved with the claim it names.
        assert_eq!(t.original(0), 2);
    }
}
