//! The kernel's records inside the state's BLOB columns (postcard encoding): what a claim was
//! (its inputs, enough to settle it again for `state verify` and to write it for `state
//! export`), what it was paid and what it added to the running totals (S-22).

use crate::engine::Contribution;
use crate::model::{Claim, ClaimTable, Disease, DrugClass, MedType, Money, NO_ORIGINAL, Offsite, Settlement, time::Timestamp};
use serde::{Deserialize, Serialize};

/// A settled claim's inputs (the columns the kernel reads).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimInput {
    pub mdtrt_id: String,
    pub setl_time: Timestamp,
    pub medfee_sumamt: Money,
    pub fulamt_ownpay_amt: Money,
    pub overlmt_selfpay: Money,
    pub preselfpay_amt: Money,
    pub inscp_scp_amt: Money,
    pub rare_fund_pay: Money,
    pub med_type: MedType,
    pub hosp_lv: u8,
    pub primary_care: bool,
    pub offsite: Offsite,
    pub drug_class: DrugClass,
    pub disease: Option<Disease>,
    pub reversal: bool,
}

impl ClaimInput {
    pub fn of(table: &ClaimTable, c: &Claim) -> ClaimInput {
        ClaimInput {
            mdtrt_id: table.strings.get(c.mdtrt_id).to_string(),
            setl_time: c.setl_time,
            medfee_sumamt: c.medfee_sumamt,
            fulamt_ownpay_amt: c.fulamt_ownpay_amt,
            overlmt_selfpay: c.overlmt_selfpay,
            preselfpay_amt: c.preselfpay_amt,
            inscp_scp_amt: c.inscp_scp_amt,
            rare_fund_pay: c.rare_fund_pay,
            med_type: c.med_type,
            hosp_lv: c.hosp_lv,
            primary_care: c.primary_care,
            offsite: c.offsite,
            drug_class: c.drug_class,
            disease: c.disease,
            reversal: c.reversal,
        }
    }

    /// The amounts a reversal must negate, in [`crate::intake::PriorClaim::amounts`] order.
    pub fn amounts(&self) -> [Money; 6] {
        [self.medfee_sumamt, self.fulamt_ownpay_amt, self.overlmt_selfpay, self.preselfpay_amt, self.inscp_scp_amt, self.rare_fund_pay]
    }

    /// The claim again, in `table` (for settling it once more).
    pub fn to_claim(&self, table: &mut ClaimTable, setl_id: &str, init_setl_id: &str, psn: u32, line: u32) -> Claim {
        Claim {
            setl_id: table.strings.push(setl_id),
            mdtrt_id: table.strings.push(&self.mdtrt_id),
            init_setl_id: table.strings.push(init_setl_id),
            psn,
            setl_time: self.setl_time,
            medfee_sumamt: self.medfee_sumamt,
            fulamt_ownpay_amt: self.fulamt_ownpay_amt,
            overlmt_selfpay: self.overlmt_selfpay,
            preselfpay_amt: self.preselfpay_amt,
            inscp_scp_amt: self.inscp_scp_amt,
            rare_fund_pay: self.rare_fund_pay,
            rec_oth_pay: None,
            med_type: self.med_type,
            hosp_lv: self.hosp_lv,
            primary_care: self.primary_care,
            offsite: self.offsite,
            drug_class: self.drug_class,
            disease: self.disease,
            reversal: self.reversal,
            original: NO_ORIGINAL,
            file: 0,
            line,
            recorded: None,
        }
    }
}

/// The `claims.detail` record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detail {
    pub input: ClaimInput,
    /// As settled (its `policy` index is that run's; the `policy_id` column names it).
    pub settlement: Settlement,
    /// What the claim added to the running totals (S-22).
    pub contribution: Contribution,
}
