//! Reading a state back: `state show` (summary), `state export` (the tables a full-year batch
//! of the same claims writes) and `state verify` (settle every stored claim again from empty
//! running totals and compare with what is stored).

use super::stored::{decode_entries, setl_hash};
use super::{Store, StoredClaim, decode, stored_policies};
use crate::engine::{self, Carry, Settled, Tracer, YearState};
use crate::model::{ClaimTable, NO_ORIGINAL, Person, PersonTable, PersonYear, time};
use crate::policy::PolicySet;
use anyhow::{Context, Result, bail};
use rayon::prelude::*;
use rusqlite::params;
use std::collections::HashMap;
use std::fmt::Write as _;

/// Every stored policy version as one set, and the set index of each policy_ref.
fn all_policies(store: &Store) -> Result<(PolicySet, HashMap<i64, u16>)> {
    let all = stored_policies(store.conn(), store.path(), false)?;
    let refs = all.iter().enumerate().map(|(i, (r, _))| (*r, i as u16)).collect();
    Ok((PolicySet { policies: all.into_iter().map(|(_, p)| p).collect() }, refs))
}

fn e(store: &Store) -> impl Fn(rusqlite::Error) -> anyhow::Error + '_ {
    move |err| anyhow::anyhow!("state {}: {err}", store.path().display())
}

/// `state show`: what the state holds and its last runs.
pub fn show(store: &Store) -> Result<String> {
    let c = store.conn();
    let e = e(store);
    let mut s = String::new();
    let meta: Vec<(String, String)> = c
        .prepare("SELECT key, value FROM meta ORDER BY key")
        .map_err(&e)?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(&e)?
        .collect::<std::result::Result<_, _>>()
        .map_err(&e)?;
    writeln!(s, "state {}", store.path().display())?;
    for (k, v) in meta {
        writeln!(s, "  {k}: {v}")?;
    }
    let persons: i64 = c.query_row("SELECT count(DISTINCT psn_no) FROM person_years", [], |r| r.get(0)).map_err(&e)?;
    writeln!(s, "persons: {persons}")?;
    writeln!(s, "year  person-years  claims  reversals  hifp_pay  hifob_pay  hifmi_pay  maf_pay  maf_tilt_pay")?;
    let mut st = c
        .prepare(
            "SELECT year, count(*), sum(claims), sum(hifp_pay), sum(hifob_pay), sum(hifmi_pay), sum(maf_pay), sum(maf_tilt_pay) FROM person_years GROUP BY year ORDER BY year",
        )
        .map_err(&e)?;
    let years: Vec<[i64; 8]> = st
        .query_map([], |r| {
            (0..8).map(|k| r.get(k)).collect::<std::result::Result<Vec<i64>, _>>().map(|v| <[i64; 8]>::try_from(v).unwrap_or_default())
        })
        .map_err(&e)?
        .collect::<std::result::Result<_, _>>()
        .map_err(&e)?;
    let money = |f: i64| crate::model::Money::from_fen(f).to_string();
    for [y, py, claims, hifp, hifob, hifmi, maf, tilt] in years {
        let reversals: i64 =
            c.query_row("SELECT coalesce(sum(reversals), 0) FROM claim_packs WHERE year = ?1", params![y], |r| r.get(0)).map_err(&e)?;
        writeln!(
            s,
            "{y}  {py}  {claims}  {reversals}  {}  {}  {}  {}  {}",
            money(hifp),
            money(hifob),
            money(hifmi),
            money(maf),
            money(tilt)
        )?;
    }
    let runs = store.runs()?;
    writeln!(s, "runs: {}", runs.len())?;
    for r in runs.iter().rev().take(5) {
        writeln!(
            s,
            "  run {} at {}: {} read, {} settled, {} not covered, {} reversals, {} rejected → {}{}{}",
            r.run_id,
            r.applied_at,
            r.read,
            r.settled,
            r.not_covered,
            r.reversal,
            r.rejected,
            r.out_dir,
            if r.policy_change { " (policy changed)" } else { "" },
            if r.outputs_committed { "" } else { " (outputs not switched in yet: the next run finishes them)" }
        )?;
    }
    let db_bytes = std::fs::metadata(store.path()).map(|m| m.len()).unwrap_or(0);
    writeln!(s, "size: {:.1} MiB", db_bytes as f64 / (1 << 20) as f64)?;
    Ok(s)
}

/// The stored claims (optionally of one year) rebuilt as a run's tables: claims in run and
/// input order, their persons, every policy version, and the settlements as stored.
pub struct Rebuilt {
    pub table: ClaimTable,
    pub persons: PersonTable,
    pub policies: PolicySet,
    pub settled: Settled,
    /// Per person-year: the stored state and the claim indices in D-06 order.
    pub years: Vec<(YearState, Vec<u32>)>,
    /// The stored contribution of each claim.
    pub contributions: Vec<crate::engine::Contribution>,
    /// The stored person_years rows' money columns (for verify).
    pub stored_years: Vec<PersonYear>,
    /// The pack (`claim_packs.pack_no`) of each claim, aligned with `table.claims`.
    pub packs: Vec<i64>,
}

/// The claims [`rebuild`] loads (all, or a year's), from the person-years: a progress bar's
/// total.
pub fn claims_stored(store: &Store, year: Option<i32>) -> Result<u64> {
    let n: i64 = store
        .conn()
        .query_row("SELECT coalesce(sum(claims), 0) FROM person_years WHERE ?1 IS NULL OR year = ?1", params![year], |r| r.get(0))
        .map_err(e(store))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Loads what `export` and `verify` need, telling `progress` the claims of each pack read.
pub fn rebuild(store: &Store, year: Option<i32>, progress: &dyn Fn(u64)) -> Result<Rebuilt> {
    let c = store.conn();
    let e = e(store);
    let (policies, refs) = all_policies(store)?;
    let by_id: HashMap<&str, u16> = policies.policies.iter().enumerate().rev().map(|(i, p)| (p.policy.id.as_str(), i as u16)).collect();
    let mut persons = PersonTable::default();
    let mut years_raw: Vec<(u32, YearState, PersonYear)> = Vec::new();
    {
        let mut st = c
            .prepare(
                "SELECT psn_no, year, policy_id, person, state, claims, admissions, medfee_sumamt, inscp_scp_amt, act_pay_dedc, hifp_pay, hifob_pay,
                 hifmi_pay, maf_pay, maf_tilt_pay, psn_part_amt, oth_pay FROM person_years WHERE ?1 IS NULL OR year = ?1 ORDER BY psn_no, year",
            )
            .map_err(&e)?;
        let mut rows = st.query(params![year]).map_err(&e)?;
        while let Some(r) = rows.next().map_err(&e)? {
            let psn_no: String = r.get(0).map_err(&e)?;
            let policy_id: String = r.get(2).map_err(&e)?;
            let person: Person = decode(&r.get::<_, Vec<u8>>(3).map_err(&e)?, "person")?;
            let mut state: YearState = decode(&r.get::<_, Vec<u8>>(4).map_err(&e)?, "person-year")?;
            let psn = match persons.get(&psn_no) {
                Some(i) => i,
                None if person.psn_no == psn_no => {
                    persons.add(person).map_err(|_| anyhow::anyhow!("state: person {psn_no} stored twice"))?
                }
                None => bail!("state: the person stored under {psn_no} is {}", person.psn_no),
            };
            let pol = *by_id.get(policy_id.as_str()).with_context(|| format!("state: policy {policy_id} of {psn_no} is not stored"))?;
            state.policy = pol;
            state.summary.policy = pol;
            state.summary.psn = psn;
            let m = |k: usize| -> Result<crate::model::Money> { Ok(crate::model::Money::from_fen(r.get::<_, i64>(k).map_err(&e)?)) };
            let stored = PersonYear {
                psn,
                year: r.get(1).map_err(&e)?,
                policy: pol,
                claims: r.get(5).map_err(&e)?,
                admissions: r.get(6).map_err(&e)?,
                medfee_sumamt: m(7)?,
                inscp_scp_amt: m(8)?,
                act_pay_dedc: m(9)?,
                hifp_pay: m(10)?,
                hifob_pay: m(11)?,
                hifmi_pay: m(12)?,
                maf_pay: m(13)?,
                maf_tilt_pay: m(14)?,
                psn_part_amt: m(15)?,
                oth_pay: m(16)?,
                limits: Default::default(),
            };
            years_raw.push((psn, state, stored));
        }
    }
    let mut table = ClaimTable::default();
    let mut sorted = Vec::new();
    let mut contributions = Vec::new();
    let mut key_of: HashMap<(u32, i32), usize> = HashMap::new();
    for (k, (psn, st, _)) in years_raw.iter().enumerate() {
        key_of.insert((*psn, st.year), k);
    }
    let mut members: Vec<Vec<u32>> = vec![Vec::new(); years_raw.len()];
    let mut packs: Vec<i64> = Vec::new();
    {
        // The packs in settlement order; their claims then in (run, input position) order, the
        // order of the runs' settlements files one after another.
        let mut st = c
            .prepare("SELECT psn_no, run_id, detail, pack_no FROM claim_packs WHERE ?1 IS NULL OR year = ?1 ORDER BY pack_no")
            .map_err(&e)?;
        let mut rows = st.query(params![year]).map_err(&e)?;
        // (run, position in the run's input) of each claim, as read.
        let mut keys: Vec<(i64, u64)> = Vec::new();
        while let Some(r) = rows.next().map_err(&e)? {
            let psn_no: String = r.get(0).map_err(&e)?;
            let run_id: i64 = r.get(1).map_err(&e)?;
            let claims: Vec<StoredClaim> = decode(&r.get::<_, Vec<u8>>(2).map_err(&e)?, "claim pack")?;
            let pack_no: i64 = r.get(3).map_err(&e)?;
            let psn = persons.get(&psn_no).with_context(|| format!("state: claims of {psn_no} have no person-year"))?;
            progress(claims.len() as u64);
            for c in claims {
                let StoredClaim { setl_id, init_setl_id, policy_ref, seq, detail: d, .. } = c;
                let i = table.claims.len() as u32;
                packs.push(pack_no);
                d.input.push_to(&mut table, &setl_id, &init_setl_id, psn, 0);
                let y = time::year_of(d.input.setl_time);
                let mut s = d.settlement;
                s.policy = *refs
                    .get(&policy_ref)
                    .with_context(|| format!("state: claim {setl_id} names policy_ref {policy_ref}, which is not stored"))?;
                sorted.push(s);
                contributions.push(d.contribution);
                let k = *key_of.get(&(psn, y)).with_context(|| format!("state: claim {setl_id} has no person-year {psn_no} {y}"))?;
                members[k].push(i);
                keys.push((run_id, seq));
            }
        }
        // Into settlement order: the runs' settlements files one after another.
        let mut order: Vec<u32> = (0..keys.len() as u32).collect();
        order.par_sort_unstable_by_key(|&i| keys[i as usize]);
        let moved_to = table.reorder(&order);
        for (to, c) in table.claims.iter_mut().enumerate() {
            c.line = to as u32 + 2;
        }
        sorted = order.iter().map(|&from| sorted[from as usize]).collect();
        contributions = order.iter().map(|&from| contributions[from as usize]).collect();
        packs = order.iter().map(|&from| packs[from as usize]).collect();
        for m in &mut members {
            for i in m.iter_mut() {
                *i = moved_to[*i as usize];
            }
        }
    }
    // D-06 order within each person-year; reversals point at their originals.
    let mut index: HashMap<&str, u32> = HashMap::new();
    for (i, cl) in table.claims.iter().enumerate() {
        index.insert(table.strings.get(cl.setl_id), i as u32);
    }
    let originals: Vec<u32> =
        table.reversals.iter().map(|r| index.get(table.strings.get(r.init_setl_id)).copied().unwrap_or(NO_ORIGINAL)).collect();
    drop(index);
    for (r, o) in table.reversals.iter_mut().zip(originals) {
        r.original = o;
    }
    for m in &mut members {
        m.sort_by(|&a, &b| {
            let (x, y) = (&table.claims[a as usize], &table.claims[b as usize]);
            (x.setl_time, table.strings.get(x.setl_id)).cmp(&(y.setl_time, table.strings.get(y.setl_id)))
        });
    }
    let n = table.claims.len();
    let mut person_years: Vec<PersonYear> = years_raw
        .iter()
        .map(|(psn, st, _)| engine::close_year(st, &persons.persons[*psn as usize], &policies, &mut Tracer::off()))
        .collect();
    engine::order_person_years(&mut person_years, &persons);
    let settled = Settled { claim: std::sync::Arc::new((0..n as u32).collect()), sorted, pos: (0..n as u32).collect(), person_years };
    let mut years = Vec::with_capacity(years_raw.len());
    let mut stored_years = Vec::with_capacity(years_raw.len());
    for ((_, st, stored), m) in years_raw.into_iter().zip(members) {
        years.push((st, m));
        stored_years.push(stored);
    }
    Ok(Rebuilt { table, persons, policies, settled, years, contributions, stored_years, packs })
}

/// `state verify`, first part: settles every stored person-year of `r` again from empty
/// running totals, in D-06 order under the policy version each claim was settled with, and
/// compares every settlement, every contribution and the running totals with what is stored;
/// tells `progress` the claims of each person-year done. Returns the differences (empty when
/// the state is consistent).
pub fn verify_claims(r: &Rebuilt, progress: &dyn Fn(u64)) -> Vec<String> {
    let mut diffs = Vec::new();
    let mut policy_of = vec![0u16; r.table.claims.len()];
    for (i, s) in r.settled.sorted.iter().enumerate() {
        policy_of[i] = s.policy;
    }
    for ((stored_state, claims), stored_year) in r.years.iter().zip(&r.stored_years) {
        let person = &r.persons.persons[stored_state.summary.psn as usize];
        let who = format!("{} {}", person.psn_no, stored_state.year);
        let mut out = vec![crate::model::Settlement::EMPTY; claims.len()];
        let mut carry = Carry::default();
        // A reversal's original is in the same person-year (S-22): positions are local.
        let py = engine::settle_person(&r.table, person, claims, &policy_of, &r.policies, &mut out, Some(&mut carry), &mut Tracer::off());
        progress(claims.len() as u64);
        for (k, &ci) in claims.iter().enumerate() {
            let id = r.table.strings.get(r.table.claims[ci as usize].setl_id);
            if out[k] != r.settled.sorted[ci as usize] {
                diffs.push(format!("{who}: claim {id}: stored {:?}, settled again {:?}", r.settled.sorted[ci as usize], out[k]));
            }
            if carry.contributions.get(k) != Some(&r.contributions[ci as usize]) {
                diffs.push(format!(
                    "{who}: claim {id}: stored contribution {:?}, settled again {:?}",
                    r.contributions[ci as usize],
                    carry.contributions.get(k)
                ));
            }
        }
        let Some(again) = carry.years.iter().find(|s| s.year == stored_state.year) else {
            diffs.push(format!("{who}: no claims stored for the person-year"));
            continue;
        };
        let same_policy = |a: u16, b: u16| r.policies.get(a).id == r.policies.get(b).id;
        let mut again = again.clone();
        again.summary.psn = stored_state.summary.psn;
        if same_policy(again.policy, stored_state.policy) {
            again.policy = stored_state.policy;
            again.summary.policy = stored_state.summary.policy;
        }
        if &again != stored_state {
            diffs.push(format!(
                "{who}: stored running totals differ from the claims settled again: stored {stored_state:?}, again {again:?}"
            ));
        }
        if let Some(y) = py.first() {
            let mut y = y.clone();
            y.limits = Default::default();
            if same_policy(y.policy, stored_year.policy) {
                y.policy = stored_year.policy;
            }
            if &y != stored_year {
                diffs.push(format!("{who}: person_years row {stored_year:?} differs from the claims settled again: {y:?}"));
            }
        }
    }
    diffs
}

/// The steps of [`index_differences`]: the claims' entries, the stored entries, the
/// comparison.
pub const INDEX_STEPS: u64 = 3;

/// `state verify`, second part: the setl_id index (`setl_index` and the entries still waiting
/// in `setl_pending`) against the stored claims: each claim's (hash, pack) once, and no other
/// entry naming their packs. A claim missing from it would not be found by a later night (its
/// duplicate accepted, its reversal refused). `step` is called as each of [`INDEX_STEPS`]
/// ends.
pub fn index_differences(store: &Store, r: &Rebuilt, step: &dyn Fn()) -> Result<Vec<String>> {
    let e = e(store);
    // Every claim's entry as it should be: (hash, pack_no, claim index).
    let mut want: Vec<(u64, i64, u32)> = (r.table.claims.par_iter(), r.packs.par_iter())
        .into_par_iter()
        .enumerate()
        .map(|(i, (c, &pack))| (setl_hash(r.table.strings.get(c.setl_id)), pack, i as u32))
        .collect();
    want.par_sort_unstable();
    step();
    // The packs of these claims (all of them, or a year's), by pack_no.
    let mut ours: Vec<bool> = Vec::new();
    for &(_, p, _) in &want {
        let Ok(p) = usize::try_from(p) else { continue };
        if p >= ours.len() {
            ours.resize(p + 1, false);
        }
        ours[p] = true;
    }
    let ours = |p: i64| usize::try_from(p).ok().and_then(|p| ours.get(p)).is_some_and(|&b| b);
    let mut have: Vec<(u64, i64)> = Vec::with_capacity(want.len());
    let mut st = store.conn().prepare("SELECT entries FROM setl_index UNION ALL SELECT entries FROM setl_pending").map_err(&e)?;
    let mut rows = st.query([]).map_err(&e)?;
    while let Some(row) = rows.next().map_err(&e)? {
        let blob = row.get_ref(0).map_err(&e)?.as_blob().map_err(|err| e(err.into()))?;
        for x in decode_entries(blob) {
            if ours(x.1) {
                have.push(x);
            }
        }
    }
    have.par_sort_unstable();
    step();
    let mut diffs = Vec::new();
    let (mut i, mut j) = (0, 0);
    loop {
        let missing = match (want.get(i), have.get(j)) {
            (None, None) => break,
            (Some(a), Some(b)) if (a.0, a.1) == *b => {
                (i, j) = (i + 1, j + 1);
                continue;
            }
            (Some(a), Some(b)) => (a.0, a.1) < *b,
            (Some(_), None) => true,
            (None, Some(_)) => false,
        };
        if missing {
            let (_, pack, ci) = want[i];
            let id = r.table.strings.get(r.table.claims[ci as usize].setl_id);
            diffs.push(format!("setl_index: claim {id} (pack {pack}) is not indexed: a later night would not find it"));
            i += 1;
        } else {
            let (h, pack) = have[j];
            diffs.push(format!("setl_index: an entry (hash {h:016x}) names pack {pack}, which holds no such claim"));
            j += 1;
        }
    }
    step();
    Ok(diffs)
}
