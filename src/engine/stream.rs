//! The kernel over a stream of batches: claims arrive in D-06 order (person, setl_time,
//! setl_id), checked, a batch at a time; each batch is settled as it comes and yields its
//! settlements and the person-years of the persons it finished. A person whose claims go on
//! into the next batch is carried across the boundary ([`Carry`]): the year states, and the
//! settlements and contributions of the claims a later reversal may cancel (S-22). Whatever
//! the cut, the settlements are those of [`super::settle_all`] over the whole.
//!
//! A batch is a table, its claims in order (`order`, D-06, one person's claims contiguous and
//! never interleaved with another's across batches) and the policy of every claim. A
//! reversal's `original` is the index of its original in the same batch, or anything else
//! when the original came in an earlier batch (it is then found by `init_setl_id`).

use super::{Carry, settle_person};
use crate::engine::Tracer;
use crate::model::{ClaimTable, PersonTable, PersonYear, Settlement};
use crate::policy::PolicySet;
use rayon::prelude::*;
use std::collections::BTreeMap;

/// The person whose claims may go on in the next batch.
struct Open {
    psn: u32,
    carry: Carry,
    /// the person-years as of the last batch, by year
    years: BTreeMap<i32, PersonYear>,
}

/// What a batch gives back.
#[derive(Debug, Default)]
pub struct BatchOut {
    /// one settlement per claim of the batch's `order`, in that order
    pub settlements: Vec<Settlement>,
    /// the person-years of the persons finished by this batch (those before its last
    /// person, and the previous batch's last person when this batch does not go on with it)
    pub person_years: Vec<PersonYear>,
}

/// Settles a stream of batches (see the module).
pub struct StreamSettler<'a> {
    persons: &'a PersonTable,
    policies: &'a PolicySet,
    open: Option<Open>,
}

impl<'a> StreamSettler<'a> {
    pub fn new(persons: &'a PersonTable, policies: &'a PolicySet) -> StreamSettler<'a> {
        StreamSettler { persons, policies, open: None }
    }

    /// Settles the next batch: `order` are claim indices of `table` in D-06 order,
    /// `policy_of` the policy of every claim of `table`.
    pub fn push(&mut self, table: &ClaimTable, order: &[u32], policy_of: &[u16]) -> BatchOut {
        let mut out = BatchOut { settlements: vec![Settlement::EMPTY; order.len()], person_years: Vec::new() };
        // The runs of one person.
        let mut runs: Vec<std::ops::Range<usize>> = Vec::new();
        let mut start = 0;
        for i in 1..=order.len() {
            if i == order.len() || table.claims[order[i] as usize].psn != table.claims[order[start] as usize].psn {
                runs.push(start..i);
                start = i;
            }
        }
        let Some(first) = runs.first().cloned() else { return out };
        let psn_of = |r: &std::ops::Range<usize>| table.claims[order[r.start] as usize].psn;
        // The open person goes on, or is finished.
        let mut open = match self.open.take() {
            Some(o) if o.psn == psn_of(&first) => Some(o),
            Some(o) => {
                out.person_years.extend(o.years.into_values());
                None
            }
            None => None,
        };
        let last = runs.len() - 1;
        let (persons, policies) = (self.persons, self.policies);
        let mut slices: Vec<&mut [Settlement]> = Vec::with_capacity(runs.len());
        let mut rest: &mut [Settlement] = &mut out.settlements;
        for r in &runs {
            let (head, tail) = rest.split_at_mut(r.len());
            slices.push(head);
            rest = tail;
        }
        // Every person but the first (which may go on from the last batch) and the last
        // (which may go on into the next) is settled from empty totals, in parallel.
        let middle: Vec<Vec<PersonYear>> = runs
            .par_iter()
            .zip(slices.par_iter_mut())
            .enumerate()
            .filter(|(k, _)| *k != 0 && *k != last)
            .map(|(_, (r, out))| {
                let person = &persons.persons[psn_of(r) as usize];
                settle_person(table, person, &order[r.clone()], policy_of, policies, out, None, &mut Tracer::off())
            })
            .collect();
        // The first and the last person, carried.
        let carried = |k: usize, o: Option<Open>, slices: &mut Vec<&mut [Settlement]>| -> Open {
            let r = &runs[k];
            let psn = psn_of(r);
            let mut o = o.unwrap_or_else(|| Open { psn, carry: Carry::default(), years: BTreeMap::new() });
            let person = &persons.persons[psn as usize];
            let claims = &order[r.clone()];
            let years = settle_person(table, person, claims, policy_of, policies, slices[k], Some(&mut o.carry), &mut Tracer::off());
            for y in years {
                o.years.insert(y.year, y);
            }
            // A later batch's reversal finds these claims by setl_id.
            for ((&ci, s), c) in claims.iter().zip(slices[k].iter()).zip(&o.carry.contributions) {
                o.carry.originals.insert(table.setl_id(&table.claims[ci as usize]).to_string(), (*s, *c));
            }
            o
        };
        let first_open = carried(0, open.take(), &mut slices);
        let mut years_out = Vec::new();
        if last == 0 {
            self.open = Some(first_open);
        } else {
            years_out.extend(first_open.years.into_values());
            years_out.extend(middle.into_iter().flatten());
            self.open = Some(carried(last, None, &mut slices));
        }
        out.person_years.extend(years_out);
        out
    }

    /// The person-years of the last person (the stream has ended).
    pub fn finish(self) -> Vec<PersonYear> {
        self.open.map(|o| o.years.into_values().collect()).unwrap_or_default()
    }
}
