//! Insured persons (CONTRACT.md §2).

use super::codes::{Assistance, Disease, District, PsnType, Scheme};
use super::money::Money;
use super::time::{Date, year_of_date};
use std::collections::HashMap;
use std::hash::BuildHasher as _;

/// psn_no → person index: the indices of a [`PersonTable`]'s persons, hashed by their
/// psn_no. Holding indices instead of owned keys saves a copy of every psn_no and most of the
/// table's memory (4 bytes a slot instead of 32: a city's million persons were a 64 MiB map,
/// grown by doubling, and a million small allocations). A fast fixed hash: the keys are the
/// fund's own person numbers, and SipHash's protection against chosen keys costs a tenth of
/// reading a city's persons.
#[derive(Clone, Debug, Default)]
pub struct PersonIds(hashbrown::HashTable<u32>);

fn psn_hash(psn_no: &str) -> u64 {
    foldhash::fast::FixedState::default().hash_one(psn_no)
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Person {
    pub psn_no: String,
    pub insutype: Scheme,
    pub psn_type: PsnType,
    /// 出生日期
    pub brdy: Date,
    pub district: Option<District>,
    pub assistance: Assistance,
    /// Approved 门诊慢性病 (known keys, each once, sorted).
    pub chronic_diseases: Vec<Disease>,
    /// Consecutive enrolled years up to and including this year.
    pub consecutive_years: u32,
    /// The previous year had no fund reimbursement (零报销).
    pub prior_zero_claim: bool,
    /// Benefits start (待遇享受起始日); `None` = 1 January of each year.
    pub benefit_begn: Option<Date>,
    pub transplant_date: Option<Date>,
    /// Employee monthly contribution base (缴费基数).
    pub contribution_base: Option<Money>,
    pub flexible: bool,
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
        t.reserve(persons.len());
        for p in persons {
            let _ = t.add(p);
        }
        t
    }

    pub fn len(&self) -> usize {
        self.persons.len()
    }

    pub fn is_empty(&self) -> bool {
        self.persons.is_empty()
    }

    pub fn get(&self, psn_no: &str) -> Option<u32> {
        self.index.0.find(psn_hash(psn_no), |&i| self.persons[i as usize].psn_no == psn_no).copied()
    }

    /// Adds a person whose psn_no is not in the table yet, returning its index; a person whose
    /// psn_no is already there is given back (so is one beyond the 2^32 persons a `u32`
    /// index can name, which no claim could refer to).
    pub fn add(&mut self, p: Person) -> Result<u32, Person> {
        let persons = &self.persons;
        let slot = self.index.0.entry(
            psn_hash(&p.psn_no),
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

    /// Room for `n` more persons (a hint: a refused reservation is no error).
    pub fn reserve(&mut self, n: usize) {
        if self.persons.try_reserve(n).is_ok() {
            let persons = &self.persons;
            let _ = self.index.0.try_reserve(n, |&i| psn_hash(&persons[i as usize].psn_no));
        }
    }
}
