//! The annual accumulators of one person-year, and what one claim added to them (kept so a
//! reversal can take exactly that back out, RULES.md S-22).

use crate::model::{Disease, LimitsReached, Money, PersonYear};
use serde::{Deserialize, Serialize};

/// An inpatient admission (one mdtrt_id) of the year, or a special-disease visit charged a
/// deductible under D-14.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admission {
    pub mdtrt_id: String,
    /// S-05: first admission of the year (its kind is fixed when first settled).
    pub first: bool,
    /// S-04: deductible charged so far on this admission.
    pub deductible_charged: Money,
    /// Non-reversed settled settlements (S-05 liveness, S-25 count).
    pub live: u32,
    /// false for the D-14 special-disease entries (they open no admission, S-05).
    pub is_admission: bool,
}

/// Running totals of one person-year, per layer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct YearState {
    pub year: i32,
    pub policy: u16,
    // basic fund
    /// Cumulative in-scope inpatient + maternity + special (+ drugs inside the cap) cost (S-15).
    pub inpatient_axis: Money,
    /// Basic-fund payment counted against the annual cap (D-10).
    pub cap_paid: Money,
    /// Cumulative in-scope general-outpatient cost (S-15).
    pub outpatient_axis: Money,
    /// Cumulative in-scope pharmacy cost (S-13).
    pub pharmacy_axis: Money,
    /// Chronic limit used (eligible cost or fund, per D-13).
    pub chronic_used: Money,
    pub special_paid: [Money; Disease::COUNT],
    pub pku_paid: Money,
    pub admissions: Vec<Admission>,
    // catastrophic
    pub cat_base: Money,
    pub cat_paid: Money,
    // assistance, per limit group
    pub assist_paid: [Money; LimitsReached::ASSIST_GROUPS],
    /// S-19 base of tilted assistance.
    pub tilt_base: Money,
    pub summary: PersonYear,
}

/// What a person's claims added to the running totals (S-22), packed for holding a whole
/// run's at once: postcard, in the claims' order. A [`Contribution`] is 128 bytes in memory
/// and mostly zeros; packed, an outpatient claim's takes about ten, and a city-year's first
/// run holds 9.5M of them until they are stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PackedContributions {
    bytes: Vec<u8>,
    len: usize,
}

impl PackedContributions {
    pub fn pack(contributions: &[Contribution]) -> PackedContributions {
        // Encoding plain integers into memory cannot fail; if it ever did, `unpack` says so.
        // About ten bytes a claim: one allocation, trimmed once.
        let mut bytes = Vec::with_capacity(contributions.len() * 12);
        if postcard_into(contributions, &mut bytes).is_err() {
            bytes.clear();
        }
        bytes.shrink_to_fit();
        PackedContributions { bytes, len: contributions.len() }
    }

    /// How many claims' contributions it holds.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn unpack(&self) -> anyhow::Result<Vec<Contribution>> {
        let v: Vec<Contribution> = postcard::from_bytes(&self.bytes).map_err(|e| anyhow::anyhow!("internal: packed contributions: {e}"))?;
        if v.len() != self.len {
            anyhow::bail!("internal: {} packed contributions for {} claims", v.len(), self.len);
        }
        Ok(v)
    }
}

/// `v` (postcard) appended to `buf`, a buffer the caller keeps (no growth from empty, no
/// copy out).
pub fn postcard_into<T: Serialize + ?Sized>(v: &T, buf: &mut Vec<u8>) -> postcard::Result<()> {
    postcard::serialize_with_flavor(v, Append(buf))
}

/// Postcard's output appended to a caller's buffer.
struct Append<'b>(&'b mut Vec<u8>);

impl postcard::ser_flavors::Flavor for Append<'_> {
    type Output = ();

    #[inline(always)]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }

    #[inline(always)]
    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// What one settled claim added to the accumulators.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contribution {
    pub inpatient_axis: Money,
    pub cap_paid: Money,
    pub outpatient_axis: Money,
    pub pharmacy_axis: Money,
    pub chronic_used: Money,
    pub special: Option<(Disease, Money)>,
    pub pku_paid: Money,
    /// (admission index, deductible charged, counts toward liveness)
    pub admission: Option<(usize, Money, bool)>,
    pub cat_base: Money,
    pub cat_paid: Money,
    pub assist: Option<(usize, Money)>,
}

impl Contribution {
    /// The running totals this claim added to, by name, non-zero only (for `explain`).
    pub fn named(&self) -> Vec<(String, Money)> {
        let mut v: Vec<(String, Money)> = [
            ("inpatient_axis", self.inpatient_axis),
            ("cap_paid", self.cap_paid),
            ("outpatient_axis", self.outpatient_axis),
            ("pharmacy_axis", self.pharmacy_axis),
            ("chronic_used", self.chronic_used),
            ("pku_paid", self.pku_paid),
            ("cat_base", self.cat_base),
            ("cat_paid", self.cat_paid),
        ]
        .into_iter()
        .map(|(k, m)| (k.to_string(), m))
        .collect();
        if let Some((d, m)) = self.special {
            v.push((format!("special_paid.{d}"), m));
        }
        if let Some((_, ded, _)) = self.admission {
            v.push(("deductible_charged".into(), ded));
        }
        if let Some((g, m)) = self.assist {
            v.push((format!("assist_paid.{g}"), m));
        }
        v.retain(|(_, m)| !m.is_zero());
        v
    }
}

impl YearState {
    pub fn new(psn: u32, year: i32, policy: u16) -> YearState {
        YearState {
            year,
            policy,
            inpatient_axis: Money::ZERO,
            cap_paid: Money::ZERO,
            outpatient_axis: Money::ZERO,
            pharmacy_axis: Money::ZERO,
            chronic_used: Money::ZERO,
            special_paid: [Money::ZERO; Disease::COUNT],
            pku_paid: Money::ZERO,
            admissions: Vec::new(),
            cat_base: Money::ZERO,
            cat_paid: Money::ZERO,
            assist_paid: [Money::ZERO; 4],
            tilt_base: Money::ZERO,
            summary: PersonYear::empty(psn, year, policy),
        }
    }

    /// Adds (`sign` = 1) or takes back (`sign` = -1) a claim's contribution.
    pub fn apply(&mut self, c: &Contribution, sign: i64) {
        let s = |m: Money| Money::from_fen(m.fen() * sign);
        self.inpatient_axis += s(c.inpatient_axis);
        self.cap_paid += s(c.cap_paid);
        self.outpatient_axis += s(c.outpatient_axis);
        self.pharmacy_axis += s(c.pharmacy_axis);
        self.chronic_used += s(c.chronic_used);
        if let Some((d, m)) = c.special {
            self.special_paid[d.index()] += s(m);
        }
        self.pku_paid += s(c.pku_paid);
        if let Some((i, ded, live)) = c.admission {
            let a = &mut self.admissions[i];
            a.deductible_charged += s(ded);
            if live {
                a.live = (a.live as i64 + sign).max(0) as u32;
            }
        }
        self.cat_base += s(c.cat_base);
        self.cat_paid += s(c.cat_paid);
        if let Some((g, m)) = c.assist {
            self.assist_paid[g] += s(m);
        }
    }

    /// S-05: is some admission of the year holding a non-reversed settlement?
    pub fn any_live_admission(&self) -> bool {
        self.admissions.iter().any(|a| a.is_admission && a.live > 0)
    }

    pub fn find_admission(&self, mdtrt_id: &str, is_admission: bool) -> Option<usize> {
        self.admissions.iter().position(|a| a.is_admission == is_admission && a.mdtrt_id == mdtrt_id)
    }

    /// S-25: admissions holding a non-reversed settled settlement at year end.
    pub fn live_admissions(&self) -> u32 {
        self.admissions.iter().filter(|a| a.is_admission && a.live > 0).count() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_contributions_unpack_to_what_was_packed() -> anyhow::Result<()> {
        let full = Contribution {
            inpatient_axis: Money::from_fen(1_234_567),
            cap_paid: Money::from_fen(-9_876),
            outpatient_axis: Money::from_fen(1),
            pharmacy_axis: Money::MAX,
            chronic_used: Money::from_fen(-Money::MAX.fen()),
            special: Some((Disease::Pku, Money::from_fen(42))),
            pku_paid: Money::from_fen(7),
            admission: Some((3, Money::from_fen(60_000), true)),
            cat_base: Money::from_fen(500),
            cat_paid: Money::from_fen(250),
            assist: Some((1, Money::from_fen(99))),
        };
        let outpatient = Contribution { outpatient_axis: Money::from_fen(12_000), ..Contribution::default() };
        for claims in [vec![], vec![outpatient], vec![full, outpatient, Contribution::default(), full]] {
            let packed = PackedContributions::pack(&claims);
            assert_eq!(packed.len(), claims.len());
            assert_eq!(packed.is_empty(), claims.is_empty());
            assert_eq!(packed.unpack()?, claims);
        }
        // An outpatient claim's contribution packs small (the reason for packing).
        assert!(PackedContributions::pack(&[outpatient]).bytes.len() <= 16);
        Ok(())
    }

    #[test]
    fn packed_contributions_refuse_a_count_they_do_not_hold() {
        let mut packed = PackedContributions::pack(&[Contribution::default(); 2]);
        packed.len = 3;
        assert!(packed.unpack().unwrap_err().to_string().contains("2 packed contributions for 3 claims"));
        packed.bytes.truncate(1);
        assert!(packed.unpack().is_err());
    }
}
