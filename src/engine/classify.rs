//! Which benefit a claim settles under, and whether the rules cover it at all
//! (RULES.md §3, S-03, S-07, S-08, S-09, S-11, S-12, S-21).

use crate::model::{Benefit, Claim, DiseaseKind, DrugClass, NotCoveredReason, Offsite, Person, time};
use crate::policy::Policy;

/// RULES.md §3 / S-11 / S-03: the benefit of a claim.
pub fn benefit_of(claim: &Claim, person: &Person, policy: &Policy) -> Benefit {
    match claim.med_type.0 {
        21..=29 => Benefit::Inpatient,
        // S-03: maternity needs the continuous-enrolment condition (2024/2025), else it is a
        // plain admission and reports `inpatient`.
        52 => match &policy.maternity {
            Some(m) if u32::from(person.consecutive_years) >= m.min_consecutive_years => Benefit::Maternity,
            _ => Benefit::Inpatient,
        },
        11 | 12 | 13 | 16 | 51 => Benefit::Outpatient,
        41 => Benefit::Pharmacy,
        14 => match claim.disease.map(|d| d.kind()) {
            Some(DiseaseKind::Chronic) => Benefit::Chronic,
            Some(DiseaseKind::Special) => Benefit::Special,
            Some(DiseaseKind::Pku) => Benefit::Pku,
            None => Benefit::None,
        },
        15 => match claim.drug_class {
            DrugClass::DualChannel => Benefit::DualChannel,
            DrugClass::Rare => Benefit::RareDrug,
        },
        _ => Benefit::None,
    }
}

/// Whether the kernel may look the claim's admission up by its mdtrt_id (S-04/S-05: the
/// deductible is charged per admission): the claims [`benefit_of`] may make inpatient,
/// maternity or special-disease claims, which [`classify`] can only turn into outpatient
/// ones. A batch run keeps only these mdtrt_ids in memory while it settles.
pub fn may_open_admission(claim: &Claim) -> bool {
    match claim.med_type.0 {
        21..=29 | 52 => true,
        14 => claim.disease.map(|d| d.kind()) == Some(DiseaseKind::Special),
        _ => false,
    }
}

/// The benefit a claim settles under and, when the rules pay nothing, why (S-21). D-29 /
/// S-07: with `outpatient.takes_unpaid_chronic_special` (employees), a med_type 14 claim the
/// special or chronic rules do not pay (chronic not approved; a special disease or PKU outside
/// the scheme) settles as general outpatient instead.
pub fn classify(claim: &Claim, person: &Person, policy: &Policy, year: i32) -> (Benefit, Option<NotCoveredReason>) {
    let benefit = benefit_of(claim, person, policy);
    let reason = not_covered(claim, person, policy, benefit, year);
    let routes = policy.outpatient.as_ref().is_some_and(|o| o.takes_unpaid_chronic_special);
    match reason {
        Some(NotCoveredReason::NotInScheme | NotCoveredReason::ChronicNotApproved)
            if routes && matches!(benefit, Benefit::Chronic | Benefit::Special | Benefit::Pku) =>
        {
            (Benefit::Outpatient, not_covered(claim, person, policy, Benefit::Outpatient, year))
        }
        _ => (benefit, reason),
    }
}

/// S-17: the benefit class whose out-of-area rules apply (maternity as inpatient, pku as
/// special, rare drugs as dual channel, pharmacy as general outpatient).
pub fn offsite_class(b: Benefit) -> Benefit {
    match b {
        Benefit::Maternity => Benefit::Inpatient,
        Benefit::Pku => Benefit::Special,
        Benefit::RareDrug => Benefit::DualChannel,
        Benefit::Pharmacy => Benefit::Outpatient,
        other => other,
    }
}

/// S-21: the reason a claim gets nothing by rule, in priority order; `None` = settle it.
pub fn not_covered(claim: &Claim, person: &Person, policy: &Policy, benefit: Benefit, year: i32) -> Option<NotCoveredReason> {
    use NotCoveredReason as R;
    // D-08: benefit_begn is inclusive, compared with the date of setl_time.
    if person.benefit_begn.is_some_and(|b| time::date_of(claim.setl_time) < b) {
        return Some(R::WaitingPeriod);
    }
    if claim.offsite == Offsite::NonDesignated {
        return Some(R::NonDesignated);
    }
    let age = person.age_in(year);
    match benefit {
        Benefit::Inpatient | Benefit::Maternity => {}
        Benefit::Outpatient | Benefit::Pharmacy => {
            if policy.outpatient.is_none() {
                return Some(R::NotInScheme);
            }
        }
        Benefit::Chronic => {
            let d = claim.disease?;
            match &policy.chronic {
                Some(c) if c.diseases.contains(&d) => {
                    if !person.chronic_diseases.contains(d) {
                        return Some(R::ChronicNotApproved);
                    }
                }
                _ => return Some(R::NotInScheme),
            }
        }
        Benefit::Special => {
            let d = claim.disease?;
            match policy.special.as_ref().and_then(|s| s.diseases.get(&d)) {
                None => return Some(R::NotInScheme),
                Some(sd) if sd.max_age.is_some_and(|m| age > m) => return Some(R::AgeLimit),
                Some(_) => {}
            }
        }
        Benefit::DualChannel | Benefit::RareDrug => {
            if policy.drugs.is_none() {
                return Some(R::NotInScheme);
            }
        }
        Benefit::Pku => match &policy.pku {
            None => return Some(R::NotInScheme),
            // S-09: 2024/2025 only the 未成年居民 category.
            Some(p) if !p.psn_types.is_empty() && !p.psn_types.contains(&person.psn_type) => return Some(R::AgeLimit),
            Some(p) if !p.bands.iter().any(|b| b.max_age.is_none_or(|m| age <= m)) => return Some(R::AgeLimit),
            Some(_) => {}
        },
        Benefit::None => return Some(R::NotInScheme),
    }
    if claim.offsite == Offsite::Unreferred
        && policy.offsite.as_ref().is_some_and(|o| o.unreferred_not_covered.iter().any(|b| *b == benefit || *b == offsite_class(benefit)))
    {
        return Some(R::Unreferred);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Disease, MedType, Money, StrId};

    /// Every claim the kernel settles as an admission (inpatient, maternity, special disease:
    /// the benefits that look an admission up by mdtrt_id) is one whose mdtrt_id a batch run
    /// keeps: any med_type, disease, drug class, built-in policy and enrolment.
    #[test]
    fn admissions_are_the_claims_whose_mdtrt_id_is_kept() -> anyhow::Result<()> {
        let policies = crate::policy::LoadedPolicy::all_builtin()?;
        let diseases = std::iter::once(None).chain(Disease::ALL.iter().map(|&d| Some(d)));
        let mut admissions = 0;
        for disease in diseases {
            for drug_class in [DrugClass::DualChannel, DrugClass::Rare] {
                for med_type in 0..=u8::MAX {
                    let mut claim = Claim::plain(StrId(0), 0, 0, Money::ZERO);
                    claim.med_type = MedType(med_type);
                    claim.disease = disease;
                    claim.drug_class = drug_class;
                    for consecutive_years in [0, 40] {
                        let person = Person { consecutive_years, ..Person::plain("P1") };
                        for p in &policies {
                            let (benefit, _) = classify(&claim, &person, &p.policy, 2024);
                            if matches!(benefit, Benefit::Inpatient | Benefit::Maternity | Benefit::Special) {
                                admissions += 1;
                                assert!(may_open_admission(&claim), "med_type {med_type} {disease:?} settles as {benefit:?}");
                            }
                        }
                    }
                }
            }
        }
        assert!(admissions > 0);
        Ok(())
    }
}
