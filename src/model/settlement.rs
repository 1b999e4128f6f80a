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

/// Annual summary of one person (CONTRACT.md §4 `person_years`). 104 bytes: a city-year's
/// 8.4M of them are one list, first touched as the partitions settle.
///
/// Nightly states store it inside each person-year's running totals (`engine::YearState`,
/// postcard) in the layout of [`StoredYear`], which this version writes and reads unchanged.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(from = "StoredYear", into = "StoredYear")]
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
    /// The limits the year reached, for the human report (not output columns).
    pub limits: LimitsReached,
}

const _: () = assert!(std::mem::size_of::<PersonYear>() <= 104);

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
            limits: LimitsReached::default(),
        }
    }
}

/// Which limits a person-year's running totals reached (as the year stands: year end, or
/// year to date in a nightly run), found by `engine::close_year`: what the report's limits
/// table counts. Two bytes where the totals themselves took 56.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimitsReached {
    /// bit 0: the basic fund's annual cap (D-10); bit 1: the catastrophic cap (S-20);
    /// bit 2 + g: assistance limit group g (S-18)
    flags: u8,
    /// The catastrophic bands (of the table that applies to the person, D-03) whose start the
    /// year's catastrophic base passed.
    pub cat_bands: u8,
}

impl LimitsReached {
    /// The most assistance limit groups a policy has (S-18).
    pub const ASSIST_GROUPS: usize = 4;
    const CAP: u8 = 1;
    const CAT_CAP: u8 = 2;

    fn set(&mut self, bit: u8, reached: bool) {
        self.flags = self.flags & !bit | if reached { bit } else { 0 };
    }
    pub fn set_cap(&mut self, reached: bool) {
        self.set(Self::CAP, reached);
    }
    pub fn set_cat_cap(&mut self, reached: bool) {
        self.set(Self::CAT_CAP, reached);
    }
    /// `g` < [`Self::ASSIST_GROUPS`].
    pub fn set_assist(&mut self, g: usize, reached: bool) {
        self.set(4 << g, reached);
    }
    pub fn cap(self) -> bool {
        self.flags & Self::CAP != 0
    }
    pub fn cat_cap(self) -> bool {
        self.flags & Self::CAT_CAP != 0
    }
    pub fn assist(self, g: usize) -> bool {
        g < Self::ASSIST_GROUPS && self.flags & (4 << g) != 0
    }
}

/// A [`PersonYear`] as nightly states store it (inside `engine::YearState`, postcard): the
/// layout from before [`LimitsReached`], when the year-end running totals travelled in it.
/// A stored year's totals were always zeros (the year state's own fields are its totals; only
/// the closed year, never stored, filled them), so they are written as zeros and ignored on
/// reading, and the limits are found again when the year is closed.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredYear {
    psn: u32,
    year: i32,
    policy: u16,
    claims: u32,
    admissions: u32,
    medfee_sumamt: Money,
    inscp_scp_amt: Money,
    act_pay_dedc: Money,
    hifp_pay: Money,
    hifob_pay: Money,
    hifmi_pay: Money,
    maf_pay: Money,
    maf_tilt_pay: Money,
    psn_part_amt: Money,
    oth_pay: Money,
    /// cap_paid, cat_base, cat_paid, assist_paid[4]
    totals: ([Money; 3], [Money; 4]),
}

impl From<StoredYear> for PersonYear {
    fn from(s: StoredYear) -> PersonYear {
        PersonYear {
            psn: s.psn,
            year: s.year,
            policy: s.policy,
            claims: s.claims,
            admissions: s.admissions,
            medfee_sumamt: s.medfee_sumamt,
            inscp_scp_amt: s.inscp_scp_amt,
            act_pay_dedc: s.act_pay_dedc,
            hifp_pay: s.hifp_pay,
            hifob_pay: s.hifob_pay,
            hifmi_pay: s.hifmi_pay,
            maf_pay: s.maf_pay,
            maf_tilt_pay: s.maf_tilt_pay,
            psn_part_amt: s.psn_part_amt,
            oth_pay: s.oth_pay,
            limits: LimitsReached::default(),
        }
    }
}

impl From<PersonYear> for StoredYear {
    fn from(y: PersonYear) -> StoredYear {
        StoredYear {
            psn: y.psn,
            year: y.year,
            policy: y.policy,
            claims: y.claims,
            admissions: y.admissions,
            medfee_sumamt: y.medfee_sumamt,
            inscp_scp_amt: y.inscp_scp_amt,
            act_pay_dedc: y.act_pay_dedc,
            hifp_pay: y.hifp_pay,
            hifob_pay: y.hifob_pay,
            hifmi_pay: y.hifmi_pay,
            maf_pay: y.maf_pay,
            maf_tilt_pay: y.maf_tilt_pay,
            psn_part_amt: y.psn_part_amt,
            oth_pay: y.oth_pay,
            totals: ([Money::ZERO; 3], [Money::ZERO; 4]),
        }
    }
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

    #[test]
    fn a_person_year_stored_with_its_totals_reads_back_and_writes_the_same_bytes() -> anyhow::Result<()> {
        // Nightly states hold each person-year's summary (postcard) as it was laid out when
        // the year-end running totals travelled in it: ten money fields, then the totals.
        #[derive(serde::Serialize)]
        struct Totals {
            cap_paid: Money,
            cat_base: Money,
            cat_paid: Money,
            assist_paid: [Money; 4],
        }
        #[derive(serde::Serialize)]
        struct Before {
            psn: u32,
            year: i32,
            policy: u16,
            claims: u32,
            admissions: u32,
            amounts: [Money; 10],
            totals: Totals,
        }
        let m = Money::from_fen;
        let amounts = [m(1), m(-2), m(3), m(4_000_000), m(5), m(6), m(7), m(8), m(9), m(10)];
        let zero = Totals { cap_paid: m(0), cat_base: m(0), cat_paid: m(0), assist_paid: [m(0); 4] };
        let before = Before { psn: 7, year: 2024, policy: 2, claims: 12, admissions: 1, amounts, totals: zero };
        let bytes = postcard::to_allocvec(&before)?;
        let y: PersonYear = postcard::from_bytes(&bytes)?;
        assert_eq!((y.psn, y.year, y.policy, y.claims, y.admissions, y.hifp_pay, y.oth_pay), (7, 2024, 2, 12, 1, m(4_000_000), m(10)));
        assert_eq!(y.limits, LimitsReached::default());
        // Written again, the same bytes: every field was read back as it was stored.
        assert_eq!(postcard::to_allocvec(&y)?, bytes);
        // Totals that were not zeros (no version stored such) are read and left: the limits
        // are found again when the year is closed.
        let other = Before { totals: Totals { cap_paid: m(35_000_000), cat_base: m(1), cat_paid: m(2), assist_paid: [m(3); 4] }, ..before };
        assert_eq!(postcard::from_bytes::<PersonYear>(&postcard::to_allocvec(&other)?)?, y);
        Ok(())
    }

    #[test]
    fn limits_reached_keep_each_flag_apart() {
        let mut r = LimitsReached::default();
        assert!(!r.cap() && !r.cat_cap() && (0..6).all(|g| !r.assist(g)));
        r.set_cap(true);
        r.set_assist(3, true);
        r.set_assist(1, false);
        assert!(r.cap() && !r.cat_cap() && r.assist(3));
        assert!(!r.assist(0) && !r.assist(1) && !r.assist(2) && !r.assist(4));
        r.set_cat_cap(true);
        assert!(r.cat_cap() && r.cap() && r.assist(3));
        r.set_cap(false);
        assert!(!r.cap() && r.cat_cap() && r.assist(3));
    }
}
