//! What the kernel produces: one [`Settlement`] per claim and one [`PersonYear`] per person-year.

use super::codes::{Benefit, NotCoveredReason, Status};
use super::money::Money;

/// The settlement of one claim (CONTRACT.md §4 `settlements`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Settlement {
    /// The settlement year (1900–2199). An `i16` keeps a settlement at 64 bytes (one cache
    /// line; 10M of them are first touched while settling), and postcard writes it as it wrote
    /// the former `i32` (a zigzag varint), so stored states read unchanged.
    pub year: i16,
    /// Index of the policy in the run's [`crate::policy::PolicySet`].
    pub policy: u16,
    pub benefit: Benefit,
    pub status: Status,
    pub reason: Option<NotCoveredReason>,
    /// 起付标准 applied (S-16).
    pub act_pay_dedc: Money,
    /// 统筹基金
    pub hifp_pay: Money,
    /// 大额医疗补助 (employee large-amount fund)
    pub hifob_pay: Money,
    /// 大病保险
    pub hifmi_pay: Money,
    /// 医疗救助
    pub maf_pay: Money,
    /// 个人负担
    pub psn_part_amt: Money,
    /// Other payers outside the funds: the 2026 childbirth government subsidy (S-28) and the
    /// provincial rare-disease drug fund (S-27). `medfee = funds + oth_pay + psn_part`.
    pub oth_pay: Money,
}

const _: () = assert!(std::mem::size_of::<Settlement>() <= 64);

impl Settlement {
    /// A placeholder before settlement.
    pub const EMPTY: Settlement = Settlement {
        year: 0,
        policy: 0,
        benefit: Benefit::None,
        status: Status::NotCovered,
        reason: None,
        act_pay_dedc: Money::ZERO,
        hifp_pay: Money::ZERO,
        hifob_pay: Money::ZERO,
        hifmi_pay: Money::ZERO,
        maf_pay: Money::ZERO,
        psn_part_amt: Money::ZERO,
        oth_pay: Money::ZERO,
    };
    pub fn fund_pay_sumamt(&self) -> Money {
        self.hifp_pay + self.hifob_pay + self.hifmi_pay + self.maf_pay
    }
    /// The exact negation (a reversal row, CONTRACT.md §1).
    pub fn negated(&self) -> Settlement {
        Settlement {
            status: Status::Reversal,
            reason: None,
            act_pay_dedc: -self.act_pay_dedc,
            hifp_pay: -self.hifp_pay,
            hifob_pay: -self.hifob_pay,
            hifmi_pay: -self.hifmi_pay,
            maf_pay: -self.maf_pay,
            psn_part_amt: -self.psn_part_amt,
            oth_pay: -self.oth_pay,
            ..*self
        }
    }
}

/// Annual summary of one person (CONTRACT.md §4 `person_years`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PersonYear {
    pub psn: u32,
    pub year: i32,
    pub policy: u16,
    pub claims: u32,
    pub admissions: u32,
    pub medfee_sumamt: Money,
    pub inscp_scp_amt: Money,
    pub act_pay_dedc: Money,
    pub hifp_pay: Money,
    pub hifob_pay: Money,
    pub hifmi_pay: Money,
    pub maf_pay: Money,
    /// 倾斜救助, year end; not inside `maf_pay` (S-19).
    pub maf_tilt_pay: Money,
    pub psn_part_amt: Money,
    /// S-28: childbirth subsidy and rare-disease drug fund, outside the funds.
    pub oth_pay: Money,
    /// The year's running totals at year end, for the human report (not output columns).
    pub totals: YearTotals,
}

impl PersonYear {
    /// A year with nothing settled in it yet: what a person's first claim of the year opens.
    pub fn empty(psn: u32, year: i32, policy: u16) -> PersonYear {
        PersonYear {
            psn,
            year,
            policy,
            claims: 0,
            admissions: 0,
            medfee_sumamt: Money::ZERO,
            inscp_scp_amt: Money::ZERO,
            act_pay_dedc: Money::ZERO,
            hifp_pay: Money::ZERO,
            hifob_pay: Money::ZERO,
            hifmi_pay: Money::ZERO,
            maf_pay: Money::ZERO,
            maf_tilt_pay: Money::ZERO,
            psn_part_amt: Money::ZERO,
            oth_pay: Money::ZERO,
            totals: YearTotals::default(),
        }
    }
}

/// Running totals of a person-year at year end: what the report counts the limits from
/// (the 350,000 cap, the catastrophic bands and cap, the assistance limits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct YearTotals {
    /// Basic-fund payment counted against the annual cap (D-10).
    pub cap_paid: Money,
    /// Cumulative catastrophic base (D-03) and payment.
    pub cat_base: Money,
    pub cat_paid: Money,
    /// Assistance paid per limit group of the policy (S-18).
    pub assist_paid: [Money; 4],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settlement_stored_with_a_32_bit_year_reads_back() -> anyhow::Result<()> {
        // Nightly states hold postcard-encoded settlements; their year was an i32 before.
        #[derive(serde::Serialize)]
        struct Before {
            year: i32,
            policy: u16,
            benefit: Benefit,
            status: Status,
            reason: Option<NotCoveredReason>,
            amounts: [Money; 7],
        }
        let m = Money::from_fen;
        let before = Before {
            year: 2024,
            policy: 3,
            benefit: Benefit::Inpatient,
            status: Status::Settled,
            reason: None,
            amounts: [m(1), m(2), m(3), m(4), m(5), m(6), m(7)],
        };
        let bytes = postcard::to_allocvec(&before)?;
        let s: Settlement = postcard::from_bytes(&bytes)?;
        assert_eq!((s.year, s.policy, s.benefit, s.status, s.reason), (2024, 3, Benefit::Inpatient, Status::Settled, None));
        assert_eq!([s.act_pay_dedc, s.hifp_pay, s.hifob_pay, s.hifmi_pay, s.maf_pay, s.psn_part_amt, s.oth_pay], before.amounts);
        assert_eq!(postcard::to_allocvec(&s)?, bytes);
        Ok(())
    }
}
