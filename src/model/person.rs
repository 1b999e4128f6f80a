//! Insured persons (CONTRACT.md §2).

use super::codes::{Assistance, Disease, District, PsnType, Scheme};
use super::money::Money;
use super::time::{Date, year_of_date};
use std::collections::HashMap;

/// psn_no → person index. A fast fixed hash: the keys are the fund's own person numbers, and
/// SipHash's protection against chosen keys costs a tenth of reading a city's persons.
pub type PersonIds = HashMap<String, u32, foldhash::fast::FixedState>;

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
    pub fn get(&self, psn_no: &str) -> Option<u32> {
        self.index.get(psn_no).copied()
    }
}
