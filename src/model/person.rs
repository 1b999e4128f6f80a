//! Insured persons (CONTRACT.md §2).

use super::codes::{Assistance, DiseaseSet, District, PsnType, Scheme};
use super::money::OptMoney;
use super::time::{Date, year_of_date};
use compact_str::CompactString;
use rayon::prelude::*;
use std::collections::HashMap;
use std::hash::BuildHasher as _;

/// psn_no → person index: the indices of a [`PersonTable`]'s persons, hashed by their
/// psn_no. Holding indices instead of owned keys saves a copy of every psn_no and most of the
/// table's memory (4 bytes a slot instead of 32: a city's million persons were a 64 MiB map,
/// grown by doubling, and a million small allocations). A fast fixed hash: the keys are the
/// fund's own person numbers, and SipHash's protection against chosen keys costs a tenth of
/// reading a city's persons.
///
/// The index is split into [`SHARDS`] tables by bits of the hash that neither the tables'
/// slot (low bits) nor their tags (top bits) use, so that a whole read of persons is indexed
/// in parallel, a shard at a time ([`PersonTable::extend`]): each shard is small enough to
/// stay in cache while its persons go in, where inserting 10M persons one by one into one
/// table missed the cache twice a person (60% of the samples of reading them, serially).
#[derive(Clone, Debug, Default)]
pub struct PersonIds {
    /// empty until the first person, then [`SHARDS`] tables
    shards: Vec<hashbrown::HashTable<u32>>,
}

fn psn_hash(psn_no: &str) -> u64 {
    foldhash::fast::FixedState::default().hash_one(psn_no)
}

const SHARDS: usize = 64;

fn shard_of(hash: u64) -> usize {
    (hash >> 40) as usize % SHARDS
}

impl PersonIds {
    fn shards(&mut self) -> &mut [hashbrown::HashTable<u32>] {
        if self.shards.is_empty() {
            self.shards = (0..SHARDS).map(|_| hashbrown::HashTable::new()).collect();
        }
        &mut self.shards
    }
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Person {
    /// Inline up to 24 bytes (every psn_no of the national platform's format): no allocation
    /// of its own for each of a city's millions of persons (32 bytes of heap a person as a
    /// `String`). Postcard writes it as it wrote the `String`, so stored states read unchanged.
    pub psn_no: CompactString,
    pub insutype: Scheme,
    pub psn_type: PsnType,
    /// 出生日期
    pub brdy: Date,
    pub district: Option<District>,
    pub assistance: Assistance,
    /// Approved 门诊慢性病 (known keys).
    pub chronic_diseases: DiseaseSet,
    /// Consecutive enrolled years up to and including this year (at most 200, intake::rows;
    /// stored as the `u32` it was).
    #[serde(with = "stored_u32")]
    pub consecutive_years: u8,
    /// The previous year had no fund reimbursement (零报销).
    pub prior_zero_claim: bool,
    /// Benefits start (待遇享受起始日); `None` = 1 January of each year.
    pub benefit_begn: Option<Date>,
    pub transplant_date: Option<Date>,
    /// Employee monthly contribution base (缴费基数).
    pub contribution_base: OptMoney,
    pub flexible: bool,
}

// One cache line: a city's persons are looked up at random by every claim (the read's checks,
// the partitions, the merge's rows); 96 bytes with a `Vec` of diseases and `Option<Money>`.
const _: () = assert!(std::mem::size_of::<Person>() <= 64);

/// `consecutive_years` stored as the `u32` it was (postcard writes a `u8` as a byte and a
/// `u32` as a varint, which differ from 128 on).
mod stored_u32 {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &u8, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(u32::from(*v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
        let v = u32::deserialize(d)?;
        u8::try_from(v).map_err(|_| serde::de::Error::custom(format!("{v} consecutive years")))
    }
}

impl Person {
    /// Age as the policies count it: settlement year − birth year (RULES.md §4.6, S-08, S-09).
    pub fn age_in(&self, year: i32) -> i32 {
        year - year_of_date(self.brdy)
    }
    /// The policy region (Changzhou unless the district says otherwise).
    pub fn region(&self) -> &'static str {
        self.district.map(|d| d.region()).unwrap_or("changzhou")
    }
}

#[cfg(test)]
impl Person {
    /// For tests: an employee in service, in Changzhou, with nothing else recorded.
    pub fn plain(psn_no: &str) -> Person {
        Person {
            psn_no: psn_no.into(),
            insutype: Scheme::Employee,
            psn_type: PsnType::InService,
            brdy: 0,
            district: None,
            assistance: Assistance::None,
            chronic_diseases: DiseaseSet::default(),
            consecutive_years: 0,
            prior_zero_claim: false,
            benefit_begn: None,
            transplant_date: None,
            contribution_base: OptMoney::NONE,
            flexible: false,
        }
    }
}

/// Persons with their index by `psn_no`.
#[derive(Debug, Default)]
pub struct PersonTable {
    pub persons: Vec<Person>,
    pub index: PersonIds,
    /// Persons whose rows are inconsistent (psn_type vs insutype): their claims are rejected
    /// with this message (RULES.md S-23).
    pub invalid: HashMap<u32, String>,
}

impl PersonTable {
    /// The persons, indexed (the first of a repeated psn_no is kept).
    pub fn of(persons: Vec<Person>) -> PersonTable {
        let mut t = PersonTable::default();
        let _ = t.extend(persons);
        t
    }

    pub fn len(&self) -> usize {
        self.persons.len()
    }

    pub fn is_empty(&self) -> bool {
        self.persons.is_empty()
    }

    pub fn get(&self, psn_no: &str) -> Option<u32> {
        let hash = psn_hash(psn_no);
        self.index.shards.get(shard_of(hash))?.find(hash, |&i| self.persons[i as usize].psn_no == psn_no).copied()
    }

    /// Adds a person whose psn_no is not in the table yet, returning its index; a person whose
    /// psn_no is already there is given back (so is one beyond the 2^32 persons a `u32`
    /// index can name, which no claim could refer to).
    pub fn add(&mut self, p: Person) -> Result<u32, Person> {
        let persons = &self.persons;
        let hash = psn_hash(&p.psn_no);
        let slot = self.index.shards()[shard_of(hash)].entry(
            hash,
            |&i| persons[i as usize].psn_no == p.psn_no,
            |&i| psn_hash(&persons[i as usize].psn_no),
        );
        match slot {
            hashbrown::hash_table::Entry::Occupied(_) => Err(p),
            hashbrown::hash_table::Entry::Vacant(v) => {
                let i = u32::try_from(persons.len()).map_err(|_| p.clone())?;
                v.insert(i);
                self.persons.push(p);
                Ok(i)
            }
        }
    }

    /// Adds `persons` in order, as [`PersonTable::add`] one at a time would (the first of a
    /// psn_no wins), their index built in parallel, a shard at a time. Returns the positions
    /// in `persons`, ascending, of those given back: a psn_no already in the table or earlier
    /// in `persons`, or a person beyond the 2^32 that a `u32` index can name.
    pub fn extend(&mut self, mut persons: Vec<Person>) -> Vec<(usize, Person)> {
        let base = self.persons.len();
        let room = (u32::MAX as usize).saturating_sub(base);
        let beyond = persons.split_off(room.min(persons.len()));
        let hashes: Vec<u64> = persons.par_iter().map(|p| psn_hash(&p.psn_no)).collect();
        // The new persons' positions grouped by shard, ascending within each (a counting sort).
        let mut starts = [0usize; SHARDS + 1];
        for &h in &hashes {
            starts[shard_of(h) + 1] += 1;
        }
        for s in 0..SHARDS {
            starts[s + 1] += starts[s];
        }
        let mut grouped = vec![0u32; hashes.len()];
        let mut next = starts;
        for (k, &h) in hashes.iter().enumerate() {
            let s = shard_of(h);
            grouped[next[s]] = k as u32;
            next[s] += 1;
        }
        if base == 0 {
            self.persons = persons;
        } else {
            self.persons.append(&mut persons);
        }
        let all = &self.persons;
        let mut groups = Vec::with_capacity(SHARDS);
        let mut rest = grouped.as_slice();
        for s in 0..SHARDS {
            let (group, tail) = rest.split_at(starts[s + 1] - starts[s]);
            groups.push(group);
            rest = tail;
        }
        // Each shard takes its persons in order; a repeat is left out of the index.
        let mut repeats: Vec<usize> = self
            .index
            .shards()
            .par_iter_mut()
            .zip(groups)
            .flat_map_iter(|(shard, group)| {
                let rehash = |&i: &u32| psn_hash(&all[i as usize].psn_no);
                shard.reserve(group.len(), rehash);
                let mut repeats = Vec::new();
                for &k in group {
                    let (i, hash) = (base + k as usize, hashes[k as usize]);
                    match shard.entry(hash, |&j| all[j as usize].psn_no == all[i].psn_no, rehash) {
                        hashbrown::hash_table::Entry::Occupied(_) => repeats.push(k as usize),
                        hashbrown::hash_table::Entry::Vacant(v) => {
                            v.insert(i as u32);
                        }
                    }
                }
                repeats
            })
            .collect();
        let mut given_back = Vec::with_capacity(repeats.len() + beyond.len());
        if !repeats.is_empty() {
            repeats.par_sort_unstable();
            // The repeats leave the table, and every index after one moves down by the
            // number of repeats before it.
            let mut k = 0;
            let mut r = 0;
            let removed = self.persons.extract_if(base.., |_| {
                let repeat = repeats.get(r) == Some(&k);
                r += usize::from(repeat);
                k += 1;
                repeat
            });
            given_back.extend(repeats.iter().copied().zip(removed));
            let repeats = &repeats;
            self.index.shards().par_iter_mut().for_each(|shard| {
                for i in shard.iter_mut().filter(|i| **i as usize >= base) {
                    *i -= repeats.partition_point(|&r| r < *i as usize - base) as u32;
                }
            });
        }
        given_back.extend(beyond.into_iter().enumerate().map(|(k, p)| (room + k, p)));
        given_back
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Disease, Money};

    /// Nightly states hold each person (postcard) as laid out when the diseases were a sorted
    /// list, the consecutive years a `u32` and the contribution base an `Option<Money>`.
    #[test]
    fn a_person_stored_before_reads_back_and_writes_the_same_bytes() -> anyhow::Result<()> {
        #[derive(Clone, serde::Serialize)]
        struct Before {
            psn_no: String,
            insutype: Scheme,
            psn_type: PsnType,
            brdy: Date,
            district: Option<District>,
            assistance: Assistance,
            chronic_diseases: Vec<Disease>,
            consecutive_years: u32,
            prior_zero_claim: bool,
            benefit_begn: Option<Date>,
            transplant_date: Option<Date>,
            contribution_base: Option<Money>,
            flexible: bool,
        }
        let before = Before {
            psn_no: "P000000042".into(),
            insutype: Scheme::Resident,
            psn_type: PsnType::Elderly,
            brdy: -3_000,
            district: Some(District::ALL[1]),
            assistance: Assistance::ALL[2],
            chronic_diseases: vec![Disease::Hypertension, Disease::MalignantTumor, Disease::Pku],
            // from 128 on, a varint of two bytes where a u8 would take one
            consecutive_years: 150,
            prior_zero_claim: true,
            benefit_begn: Some(19_800),
            transplant_date: None,
            contribution_base: Some(Money::from_fen(720_000)),
            flexible: false,
        };
        let plain = Before { chronic_diseases: vec![], consecutive_years: 3, contribution_base: None, ..before.clone() };
        for before in [&before, &plain] {
            let bytes = postcard::to_allocvec(before)?;
            let p: Person = postcard::from_bytes(&bytes)?;
            assert_eq!(p.chronic_diseases.iter().collect::<Vec<_>>(), before.chronic_diseases);
            assert_eq!((p.consecutive_years, p.contribution_base.get()), (before.consecutive_years as u8, before.contribution_base));
            assert_eq!(postcard::to_allocvec(&p)?, bytes);
        }
        // What no version stored, nor could: refused, not read as something else.
        let stored = |years: u32, base: Option<Money>| {
            let p = Before { consecutive_years: years, contribution_base: base, ..plain.clone() };
            postcard::to_allocvec(&p).map(|b| postcard::from_bytes::<Person>(&b).is_ok())
        };
        assert!(stored(200, Some(Money::from_fen(-5)))?);
        assert!(!stored(256, None)?);
        assert!(!stored(1, Some(Money::from_fen(i64::MIN)))?);
        Ok(())
    }

    #[test]
    fn a_disease_set_holds_each_key_once_in_key_order() {
        let set: DiseaseSet = [Disease::Pku, Disease::Diabetes, Disease::Pku, Disease::Hypertension].into_iter().collect();
        assert_eq!(set.iter().collect::<Vec<_>>(), [Disease::Hypertension, Disease::Diabetes, Disease::Pku]);
        assert_eq!((set.len(), set.contains(Disease::Cancer), DiseaseSet::default().is_empty()), (3, false, true));
        let all: DiseaseSet = Disease::ALL.iter().copied().collect();
        assert_eq!(all.iter().collect::<Vec<_>>(), Disease::ALL);
    }
}
