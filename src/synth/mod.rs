//! Realistic synthetic persons and claims (`medsettle generate`, the benches, the tests).
//!
//! A Changzhou-like insured population: employees (310: in service, retired, a few pre-1949
//! veteran workers) and residents (390: elderly, non-employed, minors, college students) by
//! district, medical-assistance recipients, approved chronic diseases, special diseases,
//! waiting periods; and a year of care per person: general outpatient, registration,
//! emergency and TCM visits, pharmacy purchases, chronic and special outpatient, PKU special
//! food, dual-channel and rare-disease drugs, admissions of every inpatient kind (some settled
//! in parts, 中途结算), maternity, out-of-area care, reversals (退费) with re-billing, and a
//! heavy-cost tail that reaches the basic cap and the catastrophic bands.
//!
//! Deterministic: person `i` draws from its own random stream `(seed, i)`, so the files are
//! the same for any thread count and chunking. Every claim is one `medsettle settle` accepts:
//! a person whose region, scheme and year have no built-in policy that settles (employees
//! outside 2024, every Rudong resident: RULES.md S-23) is written to the persons file but
//! gets no claims of that year.
//!
//! The numbers below are plausible orders of magnitude for a Jiangsu prefecture city (visit
//! rates, costs by facility level, prevalence of diseases), not statistics of Changzhou.

use crate::io::write::{ColType, Format, OutputDir, TableWriter, Val, write_table};
use crate::model::time::{self, Date, Timestamp};
use crate::model::*;
use crate::policy::PolicySet;
use anyhow::{Result, bail};
use rayon::prelude::*;
use std::path::Path;

/// What to generate.
#[derive(Clone, Debug)]
pub struct Options {
    pub persons: u64,
    /// Settlement years (ages and enrolment facts refer to the first).
    pub years: Vec<i32>,
    pub seed: u64,
}

/// Generated persons and claims, as the model types the engine settles.
pub struct Generated {
    pub persons: PersonTable,
    pub claims: ClaimTable,
    /// Per claim: main diagnosis and how the disease is coded (aligned with `claims.claims`).
    pub coding: Vec<Coding>,
    /// Per person: `chronic_diseases` as written (`;`-separated).
    pub chronic_text: Vec<String>,
    /// Person-years left without claims because no built-in policy settles them, e.g.
    /// `employee 2026 (changzhou)`, with the number of persons.
    pub skipped: Vec<(String, u64)>,
}

impl Generated {
    pub fn reversals(&self) -> usize {
        self.claims.claims.iter().filter(|c| c.reversal).count()
    }
}

// ---------------------------------------------------------------------------------------------
// Random numbers

/// xoshiro256++ (Blackman & Vigna), seeded through splitmix64: small, fast, reproducible.
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

fn splitmix64(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// The independent stream `stream` of `seed`.
    pub fn stream(seed: u64, stream: u64) -> Rng {
        let mut x = seed;
        let mut y = splitmix64(&mut x) ^ stream.wrapping_mul(0xD6E8_FEB8_6659_FD93);
        Rng { s: [splitmix64(&mut y), splitmix64(&mut y), splitmix64(&mut y), splitmix64(&mut y)] }
    }
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let r = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        r
    }
    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    /// Uniform in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
    /// Uniform in [lo, hi].
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1).max(1) as u64) as i64
    }
    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }
    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.f64();
        let u2 = self.f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
    /// Log-normal with the given median, clipped to [median/20, median×20].
    pub fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).clamp(-3.0, 3.0).exp()
    }
    pub fn poisson(&mut self, mean: f64) -> u32 {
        if mean <= 0.0 {
            return 0;
        }
        if mean < 30.0 {
            let l = (-mean).exp();
            let (mut k, mut p) = (0u32, 1.0);
            loop {
                p *= self.f64();
                if p <= l {
                    return k;
                }
                k += 1;
            }
        }
        (mean + mean.sqrt() * self.normal()).round().max(0.0) as u32
    }
    /// One of the items, with probability proportional to its weight.
    pub fn pick<T: Copy>(&mut self, items: &[(T, f64)]) -> T {
        let total: f64 = items.iter().map(|x| x.1).sum();
        let mut r = self.f64() * total;
        for &(v, w) in items {
            if r < w {
                return v;
            }
            r -= w;
        }
        items[items.len() - 1].0
    }
}

// ---------------------------------------------------------------------------------------------
// Persons

/// Hidden health facts of a person that drive the claims.
#[derive(Clone, Copy, Debug)]
struct Health {
    /// Utilisation multiplier (frailty, habits).
    util: f64,
    /// The special disease (门诊特殊病) or PKU, if any.
    special: Option<Disease>,
    /// Heavy-cost tail: several very expensive admissions a year (ICU, leukaemia, burns).
    critical: bool,
    /// Registered long-term residence outside the city (异地长期居住).
    away: bool,
    /// A birth this year is likely (maternity claims).
    birth: bool,
    /// One of the claims will be reversed and re-billed.
    reversal: bool,
    /// One of the fixed archetypes: every benefit path its diseases allow is exercised each
    /// year, so that even a small generated set covers every benefit.
    archetype: bool,
}

/// A fixed profile for the first persons of every generated set, so that even a small set
/// (the sample data, the tests) covers every scheme, benefit and layer.
struct Archetype {
    psn_type: PsnType,
    age: i32,
    assistance: Assistance,
    chronic: &'static [Disease],
    special: Option<Disease>,
    critical: bool,
    away: bool,
    waiting: bool,
    birth: bool,
}

const fn arch(psn_type: PsnType, age: i32) -> Archetype {
    Archetype {
        psn_type,
        age,
        assistance: Assistance::None,
        chronic: &[],
        special: None,
        critical: false,
        away: false,
        waiting: false,
        birth: false,
    }
}

const ARCHETYPES: &[Archetype] = &[
    Archetype { birth: true, ..arch(PsnType::InService, 31) },
    Archetype { chronic: &[Disease::Hypertension, Disease::Diabetes], ..arch(PsnType::Retired, 68) },
    Archetype { special: Some(Disease::Cancer), chronic: &[Disease::Hypertension], ..arch(PsnType::Elderly, 71) },
    Archetype { critical: true, ..arch(PsnType::InService, 52) },
    Archetype { critical: true, assistance: Assistance::Other, ..arch(PsnType::Elderly, 77) },
    Archetype { special: Some(Disease::MentalDisorder), assistance: Assistance::Destitute, ..arch(PsnType::NonEmployed, 44) },
    Archetype { special: Some(Disease::ChildAutism), ..arch(PsnType::Minor, 6) },
    Archetype { special: Some(Disease::Pku), assistance: Assistance::Other, ..arch(PsnType::Minor, 9) },
    Archetype { special: Some(Disease::RenalFailure), assistance: Assistance::Other, ..arch(PsnType::NonEmployed, 49) },
    arch(PsnType::Student, 20),
    Archetype { waiting: true, ..arch(PsnType::NonEmployed, 35) },
    Archetype { away: true, chronic: &[Disease::CoronaryHeart], ..arch(PsnType::Retired, 74) },
    arch(PsnType::VeteranWorker, 95),
    Archetype { special: Some(Disease::Hemophilia), ..arch(PsnType::InService, 27) },
    Archetype { birth: true, ..arch(PsnType::NonEmployed, 28) },
    Archetype { special: Some(Disease::Transplant), chronic: &[Disease::ChronicNephritis], ..arch(PsnType::Elderly, 63) },
    Archetype { critical: true, chronic: &[Disease::MalignantTumor, Disease::Hypertension], ..arch(PsnType::Retired, 66) },
    // RULES.md issue-8 rules: S-29 employee special overflow (aplastic anaemia, 15,000 limit);
    // D-29 a special disease outside the employee scheme; S-27 resident rare-disease drugs of an
    // assistance recipient; S-09 PKU of a college student (2024/2025: not covered).
    Archetype { special: Some(Disease::AplasticAnemia), ..arch(PsnType::InService, 45) },
    Archetype { special: Some(Disease::MuscularDystrophy), ..arch(PsnType::Retired, 61) },
    Archetype { special: Some(Disease::Hemophilia), assistance: Assistance::Destitute, ..arch(PsnType::NonEmployed, 38) },
    Archetype { special: Some(Disease::Pku), ..arch(PsnType::Student, 19) },
];

const RESIDENT_DISTRICTS: &[(District, f64)] = &[
    (District::Tianning, 0.12),
    (District::Zhonglou, 0.11),
    (District::Xinbei, 0.15),
    (District::Wujin, 0.27),
    (District::Jingkai, 0.07),
    (District::Liyang, 0.16),
    (District::Jintan, 0.12),
    // Rudong (Nantong) residents enrolled through this system: their 2026 policy publishes
    // financing only, so they appear in the persons file (fund income) but get no claims.
    (District::Rudong, 0.003),
];

const CHRONIC_WEIGHTS: &[(Disease, f64)] = &[
    (Disease::Hypertension, 0.40),
    (Disease::Diabetes, 0.25),
    (Disease::CoronaryHeart, 0.10),
    (Disease::StrokeSequelae, 0.06),
    (Disease::MalignantTumor, 0.04),
    (Disease::ChronicHepatitis, 0.03),
    (Disease::RheumatoidArthritis, 0.02),
    (Disease::ChronicNephritis, 0.02),
    (Disease::Parkinson, 0.02),
    (Disease::PulmonaryHeart, 0.02),
    (Disease::RheumaticHeart, 0.01),
    (Disease::Sjogren, 0.005),
    (Disease::Crohn, 0.005),
];

fn jan1(year: i32) -> Date {
    time::days_from_civil(year, 1, 1)
}

fn draw_person(i: u64, ref_year: i32, rng: &mut Rng) -> (Person, Health) {
    let a = ARCHETYPES.get(i as usize);
    let psn_type = match a {
        Some(a) => a.psn_type,
        None => rng.pick(&[
            (PsnType::InService, 0.42),
            (PsnType::Retired, 0.15),
            (PsnType::VeteranWorker, 0.0003),
            (PsnType::Elderly, 0.14),
            (PsnType::NonEmployed, 0.10),
            (PsnType::Minor, 0.15),
            (PsnType::Student, 0.04),
        ]),
    };
    let age = match a {
        Some(a) => a.age,
        None => match psn_type {
            PsnType::InService => 20 + (rng.f64().powf(1.2) * 43.0) as i32,
            PsnType::Retired => 52 + (rng.f64().powf(1.5) * 43.0) as i32,
            PsnType::VeteranWorker => rng.range(92, 101) as i32,
            PsnType::Elderly => 60 + (rng.f64().powf(1.6) * 38.0) as i32,
            PsnType::NonEmployed => rng.range(18, 59) as i32,
            PsnType::Minor => rng.range(0, 17) as i32,
            PsnType::Student => rng.range(17, 25) as i32,
        },
    };
    let born = ref_year - age;
    let brdy = jan1(born) + rng.below((jan1(born + 1) - jan1(born)) as u64) as Date;
    let scheme = psn_type.scheme();
    let resident = scheme == Scheme::Resident;
    let district = if resident {
        Some(rng.pick(RESIDENT_DISTRICTS))
    } else if rng.chance(0.9) {
        Some(rng.pick(&RESIDENT_DISTRICTS[..7]))
    } else {
        None
    };
    let assistance = match a {
        Some(a) => a.assistance,
        None if resident => rng.pick(&[(Assistance::None, 0.965), (Assistance::Destitute, 0.005), (Assistance::Other, 0.03)]),
        None if psn_type == PsnType::InService => rng.pick(&[(Assistance::None, 0.998), (Assistance::Other, 0.002)]),
        None => rng.pick(&[(Assistance::None, 0.995), (Assistance::Other, 0.005)]),
    };
    // each key once, in the keys' order
    let chronic: DiseaseSet = match a {
        Some(a) => a.chronic.iter().copied().collect(),
        None => {
            let p = match psn_type {
                PsnType::Elderly => 0.22,
                PsnType::Retired => 0.25,
                PsnType::VeteranWorker => 0.6,
                PsnType::NonEmployed => 0.06,
                PsnType::InService => 0.04,
                PsnType::Minor | PsnType::Student => 0.002,
            };
            if rng.chance(p) {
                let n = rng.pick(&[(1, 0.70), (2, 0.22), (3, 0.08)]);
                (0..n).map(|_| rng.pick(CHRONIC_WEIGHTS)).collect()
            } else {
                DiseaseSet::default()
            }
        }
    };
    let child = matches!(psn_type, PsnType::Minor | PsnType::Student);
    let old = matches!(psn_type, PsnType::Elderly | PsnType::Retired | PsnType::VeteranWorker);
    let special = match a {
        Some(a) => a.special,
        None => {
            let table: &[(Option<Disease>, f64)] = if psn_type == PsnType::Minor {
                &[
                    (Some(Disease::ChildT1d), 0.0003),
                    (Some(Disease::ChildAutism), 0.0015),
                    (Some(Disease::ChildGhd), 0.001),
                    (Some(Disease::Pku), 0.0002),
                    (Some(Disease::MentalDisorder), 0.0005),
                    (Some(Disease::Cancer), 0.0002),
                    (Some(Disease::Hemophilia), 0.0001),
                    (Some(Disease::MuscularDystrophy), 0.0001),
                    (None, 1.0),
                ]
            } else if old {
                &[
                    (Some(Disease::Cancer), 0.015),
                    (Some(Disease::RenalFailure), 0.0025),
                    (Some(Disease::MentalDisorder), 0.003),
                    (Some(Disease::Transplant), 0.0004),
                    (Some(Disease::AplasticAnemia), 0.0001),
                    (Some(Disease::Sle), 0.0002),
                    (Some(Disease::Tuberculosis), 0.0006),
                    (None, 1.0),
                ]
            } else {
                &[
                    (Some(Disease::Cancer), 0.005),
                    (Some(Disease::RenalFailure), 0.001),
                    (Some(Disease::MentalDisorder), 0.004),
                    (Some(Disease::Hemophilia), 0.0001),
                    (Some(Disease::Transplant), 0.0002),
                    (Some(Disease::AplasticAnemia), 0.0001),
                    (Some(Disease::Sle), 0.0004),
                    (Some(Disease::Tuberculosis), 0.0004),
                    (Some(Disease::MuscularDystrophy), 0.00005),
                    (None, 1.0),
                ]
            };
            rng.pick(table)
        }
    };
    let critical = a.map_or_else(|| rng.chance(if old { 0.002 } else { 0.0006 }), |a| a.critical);
    let away = a.map_or_else(|| rng.chance(if old { 0.03 } else { 0.01 }), |a| a.away);
    let fertile = matches!(psn_type, PsnType::InService | PsnType::NonEmployed) && (22..=40).contains(&age);
    let birth = a.map_or_else(|| fertile && rng.chance(0.028), |a| a.birth);
    let waiting = a.map_or_else(
        || match psn_type {
            PsnType::NonEmployed | PsnType::Elderly => rng.chance(0.015),
            PsnType::InService => rng.chance(0.01),
            _ => false,
        },
        |a| a.waiting,
    );
    // Late or interrupted enrolment / a new job: benefits start on the 1st of a later month.
    let benefit_begn = waiting.then(|| time::days_from_civil(ref_year, 2 + rng.below(6) as u32, 1));
    let consecutive_years = if waiting || age == 0 {
        1
    } else {
        let max = if child { age as u32 + 1 } else { 30 };
        (1 + rng.poisson(if old { 14.0 } else { 6.0 })).min(max).max(1)
    };
    let prior_zero_claim = rng.chance(match psn_type {
        PsnType::InService | PsnType::NonEmployed | PsnType::Student => 0.28,
        PsnType::Minor => 0.15,
        _ => 0.06,
    });
    let transplant_date = (special == Some(Disease::Transplant)).then(|| jan1(ref_year) - 30 - rng.below(4 * 365) as Date);
    let flexible = psn_type == PsnType::InService && rng.chance(0.10);
    // Monthly contribution base (缴费基数), within a plausible 2024 floor and ceiling.
    let contribution_base = (psn_type == PsnType::InService).then(|| {
        let yuan = if flexible { 4494.0 } else { rng.lognormal(7200.0, 0.45).clamp(4494.0, 22470.0).round() };
        Money::from_yuan(yuan as i64)
    });
    let util = rng.lognormal(1.0, 0.5) * if assistance == Assistance::None { 1.0 } else { 1.3 };
    let reversal = i < ARCHETYPES.len() as u64 && i.is_multiple_of(3);
    let person = Person {
        psn_no: compact_str::format_compact!("P{i:09}"),
        insutype: scheme,
        psn_type,
        brdy,
        district,
        assistance,
        chronic_diseases: chronic,
        // at most 30
        consecutive_years: consecutive_years as u8,
        prior_zero_claim,
        benefit_begn,
        transplant_date,
        // a few thousand yuan, never the amount that stands for none
        contribution_base: OptMoney::new(contribution_base).unwrap_or(OptMoney::NONE),
        flexible,
    };
    (person, Health { util, special, critical, away, birth, reversal, archetype: a.is_some() })
}

// ---------------------------------------------------------------------------------------------
// Diagnoses (ICD-10) written to `dise_codg`; never E70.0/E70.1 except on PKU claims (S-09).

const DX_GENERAL: &[&str] =
    &["J06.9", "J20.9", "K29.7", "M54.5", "I10", "E11.9", "R50.9", "L30.9", "H10.9", "K02.9", "J02.9", "M17.9", "N39.0"];
const DX_INPATIENT: &[&str] = &["I63.9", "J18.9", "I25.1", "K80.2", "K35.8", "I50.9", "J44.1", "N20.0", "M51.2", "I21.9", "K56.7", "M16.9"];
const DX_TRAUMA: &[&str] = &["S72.0", "S82.2", "S06.0", "S52.5", "S32.0"];
const DX_HEAVY: &[&str] = &["C92.0", "I61.9", "T31.3", "J96.0", "I71.0", "C34.9", "A41.9"];
const DX_MATERNITY: &[&str] = &["O80.0", "O82.0"];
const DX_PRENATAL: &[&str] = &["Z34.9", "Z36.9"];
const DX_PKU: &[&str] = &["E70.0", "E70.1"];
const DX_GROUPS: &[&[&str]] = &[&[], DX_GENERAL, DX_INPATIENT, DX_TRAUMA, DX_HEAVY, DX_MATERNITY, DX_PRENATAL, DX_PKU];
const G_GENERAL: u8 = 1;
const G_INPATIENT: u8 = 2;
const G_TRAUMA: u8 = 3;
const G_HEAVY: u8 = 4;
const G_MATERNITY: u8 = 5;
const G_PRENATAL: u8 = 6;
const G_PKU: u8 = 7;
/// `G_DISEASE + d.index()`: the diagnoses of disease `d`.
const G_DISEASE: u8 = 64;

fn disease_dx(d: Disease) -> &'static [&'static str] {
    use Disease::*;
    match d {
        Hypertension => &["I10", "I11.9"],
        Diabetes => &["E11.9", "E11.6"],
        StrokeSequelae => &["I69.3"],
        CoronaryHeart => &["I25.1", "I20.9"],
        RheumaticHeart => &["I05.9"],
        PulmonaryHeart => &["I27.9"],
        RheumatoidArthritis => &["M06.9"],
        Sjogren => &["M35.0"],
        Crohn => &["K50.9"],
        ChronicHepatitis => &["B18.1"],
        ChronicNephritis => &["N03.9"],
        Parkinson => &["G20"],
        MalignantTumor | Cancer => &["C34.9", "C16.9", "C18.9", "C50.9", "C22.0", "C61"],
        RenalFailure => &["N18.5"],
        MentalDisorder => &["F20.9", "F31.9"],
        Hemophilia => &["D66"],
        Transplant => &["Z94.0", "Z94.4"],
        AplasticAnemia => &["D61.9"],
        Sle => &["M32.9"],
        Tuberculosis => &["A15.0"],
        ChildT1d => &["E10.9"],
        ChildAutism => &["F84.0"],
        ChildGhd => &["E23.0"],
        MuscularDystrophy => &["G71.0"],
        Pku => DX_PKU,
    }
}

/// How a claim's diagnosis and disease are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Coding {
    group: u8,
    index: u8,
    /// `opsp_dise_code` left empty (a PKU claim recognised by its diagnosis only, S-09).
    omit_dise_code: bool,
}

impl Coding {
    fn group_list(group: u8) -> &'static [&'static str] {
        match group.checked_sub(G_DISEASE) {
            Some(d) => Disease::ALL.get(d as usize).map_or(&[], |&d| disease_dx(d)),
            None => DX_GROUPS.get(group as usize).copied().unwrap_or(&[]),
        }
    }
    /// `dise_codg` (main diagnosis, ICD-10).
    pub fn dise_codg(self) -> &'static str {
        Coding::group_list(self.group).get(self.index as usize).copied().unwrap_or("")
    }
    /// `opsp_dise_code` of a claim with this coding.
    pub fn opsp_dise_code(self, disease: Option<Disease>) -> &'static str {
        match disease {
            Some(d) if !self.omit_dise_code => d.as_str(),
            _ => "",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Claims of one person-year

const NO_EVENT: u32 = u32::MAX;

/// A claim before it has ids.
#[derive(Clone, Copy, Debug)]
struct Event {
    time: Timestamp,
    med_type: u8,
    hosp_lv: u8,
    primary: bool,
    offsite: Offsite,
    drug: DrugClass,
    disease: Option<Disease>,
    coding: Coding,
    /// Visit / admission number within the person-year (→ mdtrt_id).
    visit: u32,
    /// fulamt_ownpay_amt, overlmt_selfpay, preselfpay_amt, inscp_scp_amt in fen.
    amt: [i64; 4],
    /// The position (after time ordering) of the settlement a reversal cancels.
    reverses: u32,
    /// `rare_fund_pay` in fen (S-27): what the provincial rare-disease drug fund paid.
    rare_fund: i64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Split {
    /// Registration fees: all in scope.
    Fee,
    Outpatient,
    Drug,
    Inpatient,
    Heavy,
}

/// Splits a total (fen) into the four parts of the amount identity (CONTRACT.md §1).
fn split(rng: &mut Rng, total: i64, kind: Split) -> [i64; 4] {
    let (f, o, p) = match kind {
        Split::Fee => (0.0, 0.0, 0.0),
        Split::Outpatient => {
            let f = if rng.chance(0.3) { rng.f64() * 0.15 } else { 0.0 };
            let o = if rng.chance(0.05) { rng.f64() * 0.05 } else { 0.0 };
            (f, o, rng.f64() * 0.10)
        }
        Split::Drug => (if rng.chance(0.1) { rng.f64() * 0.1 } else { 0.0 }, 0.0, rng.f64() * 0.10),
        Split::Inpatient => {
            let o = if rng.chance(0.3) { rng.f64() * 0.04 } else { 0.0 };
            (0.02 + rng.f64() * 0.13, o, 0.04 + rng.f64() * 0.08)
        }
        Split::Heavy => {
            let o = if rng.chance(0.5) { rng.f64() * 0.05 } else { 0.0 };
            (0.05 + rng.f64() * 0.20, o, 0.05 + rng.f64() * 0.08)
        }
    };
    let part = |x: f64| (total as f64 * x).round() as i64;
    let (fa, ov, pr) = (part(f), part(o), part(p));
    [fa, ov, pr, total - fa - ov - pr]
}

fn fen(yuan: f64) -> i64 {
    ((yuan * 100.0).round() as i64).max(100)
}

/// Out-of-area situation for a claim of the given class.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Where {
    Outpatient,
    Inpatient,
    Drugs,
    Pharmacy,
}

struct YearOfCare<'a> {
    rng: &'a mut Rng,
    person: &'a Person,
    health: Health,
    first_day: Date,
    last_day: Date,
    events: Vec<Event>,
    visits: u32,
}

impl YearOfCare<'_> {
    fn day(&mut self) -> Date {
        self.first_day + self.rng.below((self.last_day - self.first_day + 1) as u64) as Date
    }
    /// A time on `day` between the hours `from` and `to`.
    fn at(&mut self, day: Date, from: i64, to: i64) -> Timestamp {
        day as i64 * 86400 + from * 3600 + self.rng.below(((to - from) * 3600) as u64) as i64
    }
    fn offsite(&mut self, w: Where) -> Offsite {
        if self.health.away && self.rng.chance(0.85) {
            return Offsite::Resident;
        }
        let (p, table): (f64, &[(Offsite, f64)]) = match w {
            Where::Inpatient => (
                0.05,
                &[(Offsite::Referral, 0.45), (Offsite::Emergency, 0.25), (Offsite::Unreferred, 0.25), (Offsite::NonDesignated, 0.05)],
            ),
            Where::Drugs => (0.03, &[(Offsite::Referral, 0.5), (Offsite::Unreferred, 0.4), (Offsite::Emergency, 0.1)]),
            Where::Outpatient => (0.015, &[(Offsite::Emergency, 0.3), (Offsite::Unreferred, 0.55), (Offsite::NonDesignated, 0.15)]),
            Where::Pharmacy => (0.005, &[(Offsite::Unreferred, 0.8), (Offsite::NonDesignated, 0.2)]),
        };
        if self.rng.chance(p) { self.rng.pick(table) } else { Offsite::Local }
    }
    fn outpatient_facility(&mut self) -> (u8, bool) {
        let primary = if matches!(self.person.psn_type, PsnType::Elderly | PsnType::Retired | PsnType::VeteranWorker) { 0.5 } else { 0.35 };
        self.rng.pick(&[((1, true), primary), ((1, false), 0.05), ((2, false), 0.27), ((3, false), 0.33)])
    }
    fn dx(&mut self, group: u8) -> Coding {
        let n = Coding::group_list(group).len();
        Coding { group, index: self.rng.below(n.max(1) as u64) as u8, omit_dise_code: false }
    }
    fn disease_dx(&mut self, d: Disease) -> Coding {
        self.dx(G_DISEASE + d.index() as u8)
    }
    #[allow(clippy::too_many_arguments)]
    fn push(&mut self, time: Timestamp, med_type: u8, hosp_lv: u8, primary: bool, offsite: Offsite, coding: Coding, amt: [i64; 4]) {
        self.events.push(Event {
            time,
            med_type,
            hosp_lv,
            primary,
            offsite,
            drug: DrugClass::DualChannel,
            disease: None,
            coding,
            visit: self.visits,
            amt,
            reverses: NO_EVENT,
            rare_fund: 0,
        });
        self.visits += 1;
    }
    /// 普通门诊 11, 门诊挂号 12, 急诊 13, 中医特色门诊 16.
    fn general_visit(&mut self) {
        let med_type = self.rng.pick(&[(11u8, 0.74), (12, 0.08), (13, 0.10), (16, 0.08)]);
        let (lv, primary) = if med_type == 13 { (self.rng.range(2, 3) as u8, false) } else { self.outpatient_facility() };
        let day = self.day();
        let time = if med_type == 13 { self.at(day, 0, 24) } else { self.at(day, 8, 18) };
        let (yuan, kind) = match med_type {
            12 => ([7.0, 15.0, 30.0][lv as usize - 1] * (0.7 + self.rng.f64() * 0.6), Split::Fee),
            13 => (self.rng.lognormal(450.0, 0.8), Split::Outpatient),
            16 => (self.rng.lognormal(260.0, 0.6), Split::Outpatient),
            _ => {
                let median = if primary { 90.0 } else { [120.0, 200.0, 320.0][lv as usize - 1] };
                (self.rng.lognormal(median, 0.85), Split::Outpatient)
            }
        };
        let offsite = self.offsite(Where::Outpatient);
        let coding = if med_type == 12 { Coding::default() } else { self.dx(G_GENERAL) };
        let amt = split(self.rng, fen(yuan), kind);
        self.push(time, med_type, lv, primary, offsite, coding, amt);
    }
    /// 定点药店购药 41: no facility level.
    fn pharmacy(&mut self) {
        let day = self.day();
        let time = self.at(day, 8, 21);
        let offsite = self.offsite(Where::Pharmacy);
        let yuan = self.rng.lognormal(110.0, 0.8);
        let amt = split(self.rng, fen(yuan), Split::Drug);
        self.push(time, 41, 0, false, offsite, Coding::default(), amt);
    }
    /// 门诊慢特病 14 for a disease; `median` yuan per claim.
    fn disease_claim(&mut self, d: Disease, median: f64, sigma: f64, lv3: f64) {
        let (lv, primary) = match d.kind() {
            DiseaseKind::Chronic if self.rng.chance(0.5) => (1, true),
            _ if self.rng.chance(lv3) => (3, false),
            _ => (2, false),
        };
        let day = self.day();
        let time = self.at(day, 8, 17);
        let offsite = self.offsite(if d.kind() == DiseaseKind::Chronic { Where::Outpatient } else { Where::Drugs });
        let yuan = self.rng.lognormal(median, sigma);
        let kind = if d == Disease::Pku { Split::Drug } else { Split::Outpatient };
        let amt = split(self.rng, fen(yuan), kind);
        let mut coding = if d == Disease::Pku { self.dx(G_PKU) } else { self.disease_dx(d) };
        // S-09: half the PKU claims carry only the diagnosis E70.0/E70.1.
        coding.omit_dise_code = d == Disease::Pku && self.rng.chance(0.5);
        self.push(time, 14, lv, primary, offsite, coding, amt);
        if let Some(e) = self.events.last_mut() {
            e.disease = Some(d);
        }
    }
    /// 特药 15: dual-channel or rare-disease drugs.
    fn drug_claim(&mut self, drug: DrugClass, median: f64, d: Option<Disease>) {
        let day = self.day();
        let time = self.at(day, 8, 17);
        // D-28: a third are dispensed at a designated pharmacy (no facility level).
        let lv = if self.rng.chance(0.3) {
            0
        } else if self.rng.chance(0.8) {
            3
        } else {
            2
        };
        let offsite = self.offsite(Where::Drugs);
        let yuan = self.rng.lognormal(median, 0.6);
        let amt = split(self.rng, fen(yuan), Split::Drug);
        let coding = match d {
            Some(d) => self.disease_dx(d),
            None => Coding::default(),
        };
        // S-27: about half the rare-disease drug claims are also paid by the provincial fund.
        let rare_fund = if drug == DrugClass::Rare && self.rng.chance(0.5) { rare_fund_for(&amt) } else { 0 };
        self.push(time, 15, lv, false, offsite, coding, amt);
        if let Some(e) = self.events.last_mut() {
            e.drug = drug;
            e.rare_fund = rare_fund;
        }
    }
    /// An admission (21–29, 52), settled in one or several parts (中途结算).
    fn admission(&mut self, med_type: u8, lv: u8, yuan: f64, per_day: f64, group: u8, heavy: bool) {
        let los = ((yuan / per_day) * (0.6 + self.rng.f64() * 0.8)).round().clamp(1.0, 120.0) as i32;
        let span = los.min(self.last_day - self.first_day);
        let start = self.first_day + self.rng.below((self.last_day - self.first_day - span + 1) as u64) as Date;
        let parts =
            if (yuan > 60_000.0 || (los > 30 && yuan > 2_000.0)) && self.rng.chance(0.8) { 2 + self.rng.below(3) as i32 } else { 1 };
        let offsite = match med_type {
            23 => Offsite::Referral,
            _ => self.offsite(Where::Inpatient),
        };
        let coding = self.dx(group);
        let total = fen(yuan);
        let weights: Vec<f64> = (0..parts).map(|_| 0.5 + self.rng.f64()).collect();
        let wsum: f64 = weights.iter().sum();
        let mut left = total;
        let visit = self.visits;
        for (k, w) in weights.iter().enumerate() {
            let k = k as i32;
            let part = if k == parts - 1 {
                left
            } else {
                ((total as f64 * w / wsum).round() as i64).clamp(100, left - 100 * (parts - k - 1) as i64)
            };
            left -= part;
            let day = start + span * (k + 1) / parts;
            let time = self.at(day, 9, 17);
            let amt = split(self.rng, part, if heavy { Split::Heavy } else { Split::Inpatient });
            self.events.push(Event {
                time,
                med_type,
                hosp_lv: lv,
                primary: false,
                offsite,
                drug: DrugClass::DualChannel,
                disease: None,
                coding,
                visit,
                amt,
                reverses: NO_EVENT,
                rare_fund: 0,
            });
        }
        self.visits += 1;
    }
    fn ordinary_admission(&mut self) {
        let lv = self.rng.pick(&[(1u8, 0.12), (2, 0.35), (3, 0.53)]);
        let med_type = self.rng.pick(&[
            (21u8, 0.84),
            (22, 0.05),
            (23, 0.02),
            (24, 0.05),
            (25, 0.008),
            (26, 0.008),
            (27, 0.008),
            (28, 0.008),
            (29, 0.008),
        ]);
        let old = matches!(self.person.psn_type, PsnType::Elderly | PsnType::Retired | PsnType::VeteranWorker);
        let median = [3800.0, 7500.0, 15000.0][lv as usize - 1] * if old { 1.2 } else { 1.0 };
        let tail = self.rng.chance(0.01);
        let yuan = if tail { self.rng.lognormal(90_000.0, 0.6) } else { self.rng.lognormal(median, 0.75) };
        let group = if med_type == 22 { G_TRAUMA } else { G_INPATIENT };
        self.admission(med_type, lv, yuan, [900.0, 1300.0, 2000.0][lv as usize - 1], group, tail);
    }
    fn specials(&mut self, d: Disease) {
        let u = self.health.util.sqrt();
        let (claims, median, sigma, lv3, admissions) = match d {
            Disease::Cancer => (10.0, 5500.0, 0.8, 0.8, 2.0),
            Disease::RenalFailure => (12.0, 6000.0, 0.2, 0.5, 0.8),
            Disease::MentalDisorder => (10.0, 700.0, 0.6, 0.4, 0.4),
            Disease::Hemophilia => (12.0, 5500.0, 0.6, 0.9, 0.3),
            Disease::Transplant => (12.0, 3800.0, 0.35, 0.9, 0.3),
            Disease::AplasticAnemia => (10.0, 2600.0, 0.6, 0.8, 0.5),
            Disease::Sle => (10.0, 1500.0, 0.5, 0.7, 0.3),
            Disease::Tuberculosis => (8.0, 900.0, 0.5, 0.5, 0.2),
            Disease::ChildT1d => (12.0, 700.0, 0.4, 0.7, 0.1),
            Disease::ChildAutism => (12.0, 2200.0, 0.4, 0.5, 0.0),
            Disease::ChildGhd => (12.0, 2800.0, 0.3, 0.9, 0.0),
            Disease::MuscularDystrophy => (8.0, 1200.0, 0.5, 0.8, 0.2),
            Disease::Pku => (11.0, 1600.0, 0.3, 0.6, 0.0),
            _ => (0.0, 0.0, 0.0, 0.0, 0.0),
        };
        for _ in 0..self.rng.poisson(claims * u).max(1) {
            self.disease_claim(d, median, sigma, lv3);
        }
        let (dual, rare, drug_median) = match d {
            Disease::Cancer => (0.4, 0.0, 9000.0),
            Disease::Hemophilia => (0.0, 0.3, 25_000.0),
            Disease::MuscularDystrophy => (0.0, 0.4, 40_000.0),
            Disease::Sle | Disease::Transplant => (0.2, 0.0, 4000.0),
            _ => (0.0, 0.0, 0.0),
        };
        let certain = |p: f64| if self.health.archetype && p > 0.0 { 1.0 } else { p };
        let (dual, rare) = (certain(dual), certain(rare));
        if self.rng.chance(dual) {
            for _ in 0..self.rng.poisson(8.0).max(1) {
                self.drug_claim(DrugClass::DualChannel, drug_median, Some(d));
            }
        }
        if self.rng.chance(rare) {
            for _ in 0..self.rng.poisson(5.0).max(1) {
                self.drug_claim(DrugClass::Rare, drug_median, Some(d));
            }
        }
        for _ in 0..self.rng.poisson(admissions) {
            let yuan = self.rng.lognormal(if d == Disease::Cancer { 25_000.0 } else { 12_000.0 }, 0.7);
            self.admission(21, 3, yuan, 1800.0, G_DISEASE + d.index() as u8, false);
        }
    }
    fn maternity(&mut self) {
        let lv = if self.rng.chance(0.6) { 3 } else { 2 };
        let caesarean = self.rng.chance(0.35);
        let yuan = self.rng.lognormal(if caesarean { 9000.0 } else { 5000.0 }, 0.3);
        let before = self.events.len();
        self.admission(52, lv, yuan, 1500.0, G_MATERNITY, false);
        let delivery = self.events.get(before).map_or(self.last_day, |e| time::date_of(e.time));
        for _ in 0..self.rng.poisson(7.0) {
            let first = (delivery - 240).max(self.first_day);
            let day = first + self.rng.below((delivery - first + 1) as u64) as Date;
            let time = self.at(day, 8, 17);
            let (lv, primary) = self.outpatient_facility();
            let yuan = self.rng.lognormal(350.0, 0.5);
            let amt = split(self.rng, fen(yuan), Split::Outpatient);
            let coding = self.dx(G_PRENATAL);
            self.push(time, 51, lv, primary, Offsite::Local, coding, amt);
        }
    }
    /// A year of care.
    fn generate(&mut self) {
        let t = self.person.psn_type;
        // (share without any claim, general visits, pharmacy purchases, admissions) per year
        let (p_none, visits, pharmacy, admissions) = match t {
            PsnType::InService => (0.22, 5.0, 3.0, 0.07),
            PsnType::Retired => (0.05, 11.0, 6.0, 0.25),
            PsnType::VeteranWorker => (0.02, 15.0, 6.0, 0.55),
            PsnType::Elderly => (0.08, 9.0, 2.0, 0.22),
            PsnType::NonEmployed => (0.25, 5.0, 1.5, 0.09),
            PsnType::Minor => (0.12, 5.5, 0.5, 0.08),
            PsnType::Student => (0.35, 2.5, 0.5, 0.03),
        };
        let h = self.health;
        let sick = h.special.is_some() || h.critical || h.birth || !self.person.chronic_diseases.is_empty();
        if !sick && self.rng.chance(p_none) {
            return;
        }
        for _ in 0..self.rng.poisson(visits * h.util) {
            self.general_visit();
        }
        for _ in 0..self.rng.poisson(pharmacy * h.util) {
            self.pharmacy();
        }
        for d in self.person.chronic_diseases.iter() {
            let median = if d == Disease::MalignantTumor { 900.0 } else { 300.0 };
            for _ in 0..self.rng.poisson(8.0).max(1) {
                self.disease_claim(d, median, 0.5, 0.3);
            }
        }
        // A chronic claim for a disease that was never approved (→ not_covered, S-07; employees:
        // general outpatient, D-29); every archetype with chronic diseases has one.
        if (self.health.archetype && !self.person.chronic_diseases.is_empty()) || self.rng.chance(0.004) {
            let d = self.rng.pick(CHRONIC_WEIGHTS);
            if !self.person.chronic_diseases.contains(d) {
                self.disease_claim(d, 300.0, 0.5, 0.3);
            }
        }
        if let Some(d) = h.special {
            self.specials(d);
        }
        for _ in 0..self.rng.poisson(admissions * h.util) {
            self.ordinary_admission();
        }
        if h.critical {
            for _ in 0..2 + self.rng.poisson(1.5) {
                let yuan = self.rng.lognormal(260_000.0, 0.5);
                self.admission(21, 3, yuan, 6000.0, G_HEAVY, true);
            }
        }
        if h.birth && self.rng.chance(0.7) {
            self.maternity();
        }
    }
}

/// S-27: a provincial rare-disease fund payment (fen) inside the share any basic-fund rate
/// (at most 80%) leaves: half of `preselfpay + inscp / 5`.
fn rare_fund_for(amt: &[i64; 4]) -> i64 {
    (amt[2] + amt[3] / 5) / 2
}

/// Orders a person-year's claims by time and adds reversals (and re-billing) after their
/// originals, within the year (S-22).
fn add_reversals(rng: &mut Rng, events: &mut Vec<Event>, year_end: Timestamp, forced: bool) {
    events.sort_by_key(|e| e.time);
    // Visits and admissions are numbered in the order they are first settled.
    let mut renumber = vec![u32::MAX; events.iter().map(|e| e.visit as usize + 1).max().unwrap_or(0)];
    let mut next = 0;
    for e in events.iter_mut() {
        let v = &mut renumber[e.visit as usize];
        if *v == u32::MAX {
            *v = next;
            next += 1;
        }
        e.visit = *v;
    }
    let n = events.len();
    let forced_at = if forced && n > 0 {
        // Prefer an admission's settlement: its reversal gives the deductible back (S-04).
        Some(events.iter().position(|e| MedType(e.med_type).is_inpatient()).unwrap_or(n - 1))
    } else {
        None
    };
    for i in 0..n {
        let o = events[i];
        let p = if MedType(o.med_type).is_inpatient() { 0.01 } else { 0.003 };
        if forced_at != Some(i) && !rng.chance(p) {
            continue;
        }
        let at = (o.time + rng.range(600, 10 * 86400)).min(year_end);
        events.push(Event { time: at, amt: o.amt.map(|a| -a), reverses: i as u32, rare_fund: -o.rare_fund, ..o });
        if rng.chance(0.6) {
            let scale = 0.8 + rng.f64() * 0.2;
            let total: i64 = o.amt.iter().sum();
            let mut amt = o.amt.map(|a| (a as f64 * scale).round() as i64);
            amt[3] = ((total as f64 * scale).round() as i64 - amt[0] - amt[1] - amt[2]).max(0);
            let rebill = (at + rng.range(60, 2 * 86400)).min(year_end);
            let rare_fund = if o.rare_fund != 0 { rare_fund_for(&amt) } else { 0 };
            events.push(Event { time: rebill, amt, rare_fund, ..o });
        }
    }
}

/// One generated claim row before the text ids are made.
struct Row {
    psn: u32,
    year: i32,
    /// Settlement number within the person-year (→ setl_id), from 1.
    seq: u32,
    /// Its original's number (reversals).
    init_seq: u32,
    ev: Event,
}

/// `{prefix}{year}{psn:09}{n:04}` (ids sort as (year, psn, n)).
fn id_of(prefix: u8, year: i32, psn: u32, n: u32) -> [u8; 18] {
    let mut b = [b'0'; 18];
    b[0] = prefix;
    let mut put = |from: usize, width: usize, mut v: u64| {
        for k in (from..from + width).rev() {
            b[k] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(1, 4, year as u64);
    put(5, 9, psn as u64);
    put(14, 4, n as u64);
    b
}

fn id_str(b: &[u8; 18]) -> &str {
    std::str::from_utf8(b).unwrap_or("")
}

struct Chunk {
    /// Number of the first person (persons `first..first + persons.len()`).
    first: u64,
    persons: Vec<Person>,
    chronic_text: Vec<String>,
    claims: ClaimTable,
    coding: Vec<Coding>,
    /// Person-years skipped per (scheme, region, year) key index.
    skipped: Vec<u64>,
}

/// Persons per chunk (work unit of the thread pool and of the streamed writing; the output
/// does not depend on it).
const CHUNK: u64 = 2048;

fn chunk(o: &Options, range: std::ops::Range<u64>, settles: &[(Scheme, &str, i32, bool)]) -> Chunk {
    let ref_year = o.years[0];
    let first = range.start;
    let mut persons = Vec::with_capacity((range.end - range.start) as usize);
    let mut chronic_text = Vec::with_capacity((range.end - range.start) as usize);
    let mut rows: Vec<Row> = Vec::new();
    let mut skipped = vec![0u64; settles.len()];
    let mut events = Vec::new();
    for i in range {
        let mut rng = Rng::stream(o.seed, i);
        let (person, health) = draw_person(i, ref_year, &mut rng);
        let psn = i as u32;
        for &year in &o.years {
            let key = settles.iter().position(|s| s.0 == person.insutype && s.1 == person.region() && s.2 == year).unwrap_or(0);
            if !settles[key].3 {
                skipped[key] += 1;
                continue;
            }
            let first_day = jan1(year).max(person.brdy);
            let last_day = jan1(year + 1) - 1;
            if first_day > last_day {
                continue;
            }
            events.clear();
            let mut py =
                YearOfCare { rng: &mut rng, person: &person, health, first_day, last_day, events: std::mem::take(&mut events), visits: 0 };
            py.generate();
            events = py.events;
            add_reversals(&mut rng, &mut events, last_day as i64 * 86400 + 86399, health.reversal && year == ref_year);
            // Originals are numbered in time order; reversals and re-billing after them.
            rows.extend(events.iter().take(9998).enumerate().map(|(k, e)| Row {
                psn,
                year,
                seq: k as u32 + 1,
                init_seq: if e.reverses == NO_EVENT { 0 } else { e.reverses + 1 },
                ev: *e,
            }));
        }
        chronic_text.push(person.chronic_diseases.iter().map(|d| d.as_str()).collect::<Vec<_>>().join(";"));
        persons.push(person);
    }
    // A nightly extract is in settlement-time order.
    rows.sort_unstable_by_key(|r| (r.ev.time, r.year, r.psn, r.seq));
    let mut claims = ClaimTable::with_capacity(rows.len());
    let mut coding = Vec::with_capacity(rows.len());
    for r in &rows {
        let e = &r.ev;
        let setl_id = claims.strings.push(id_str(&id_of(b'S', r.year, r.psn, r.seq)));
        let mdtrt_id = claims.strings.push(id_str(&id_of(b'M', r.year, r.psn, e.visit + 1)));
        let reversal = r.init_seq != 0;
        let init_setl_id = reversal.then(|| claims.strings.push(id_str(&id_of(b'S', r.year, r.psn, r.init_seq))));
        let [fulamt, overlmt, presel, inscp] = e.amt.map(Money::from_fen);
        let claim = Claim {
            setl_id,
            mdtrt_id,
            psn: r.psn,
            setl_time: e.time,
            fulamt_ownpay_amt: fulamt,
            overlmt_selfpay: overlmt,
            preselfpay_amt: presel,
            inscp_scp_amt: inscp,
            med_type: MedType(e.med_type),
            level: Claim::level_of(e.hosp_lv, e.primary),
            offsite: e.offsite,
            drug_class: e.drug,
            disease: e.disease,
            reversal,
            file: 0,
            line: 0,
        };
        claims.push(claim, Beside { rare_fund_pay: Money::from_fen(e.rare_fund), init_setl_id, recorded: None });
        coding.push(e.coding);
    }
    Chunk { first, persons, chronic_text, claims, coding, skipped }
}

impl Chunk {
    fn empty(first: u64, keys: usize) -> Chunk {
        Chunk {
            first,
            persons: Vec::new(),
            chronic_text: Vec::new(),
            claims: ClaimTable::default(),
            coding: Vec::new(),
            skipped: vec![0; keys],
        }
    }
    /// Appends the next chunk (its persons follow this one's).
    fn append(&mut self, c: Chunk) {
        self.persons.extend(c.persons);
        self.chronic_text.extend(c.chronic_text);
        self.claims.append(c.claims);
        self.coding.extend(c.coding);
        for (s, n) in self.skipped.iter_mut().zip(c.skipped) {
            *s += n;
        }
    }
    fn reversals(&self) -> u64 {
        self.claims.claims.iter().filter(|c| c.reversal).count() as u64
    }
}

/// Memory per generated person and per person-year (≈ 10 claims with their ids), measured
/// with margin; used to refuse an in-memory set ([`generate`]) that cannot fit before
/// building it. [`generate_to`] streams and needs one window whatever the size.
const BYTES_PER_PERSON: u64 = 300;
const BYTES_PER_PERSON_YEAR: u64 = 2_500;
/// Disk per generated person-year at least (persons and claims, Parquet, the smaller format:
/// 9.99 M claims of 1 M persons take 206 MB): [`generate_to`] refuses up front a set that
/// cannot fit on the output's file system.
const DISK_BYTES_PER_PERSON_YEAR: u64 = 100;
const GIB: f64 = (1u64 << 30) as f64;

/// `MemAvailable` of /proc/meminfo (Linux), in bytes.
fn available_memory() -> Option<u64> {
    let t = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = t.lines().find(|l| l.starts_with("MemAvailable:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kb| kb * 1024)
}

/// Free space for an unprivileged user on the file system that holds `path` (or its nearest
/// existing ancestor), in bytes.
fn available_disk(path: &Path) -> Option<u64> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let existing = path.ancestors().find(|p| !p.as_os_str().is_empty() && p.exists()).unwrap_or(Path::new("."));
        let c = std::ffi::CString::new(existing.as_os_str().as_bytes()).ok()?;
        // SAFETY: statvfs fills the zeroed struct; the path is NUL-terminated.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
            return None;
        }
        Some((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Checked options and, per (scheme, region, year), whether a built-in policy settles it.
struct Plan {
    o: Options,
    settles: Vec<(Scheme, &'static str, i32, bool)>,
}

fn plan(o: &Options, policies: &PolicySet) -> Result<Plan> {
    let mut o = o.clone();
    o.years.sort_unstable();
    o.years.dedup();
    if o.years.is_empty() {
        bail!("generate: give at least one --year");
    }
    if o.persons >= 1_000_000_000 {
        bail!("generate: --persons {} is too many (at most 999,999,999)", o.persons);
    }
    if o.years.iter().any(|y| !(1901..=2999).contains(y)) {
        bail!("generate: --year must be a four-digit year");
    }
    let mut settles = Vec::new();
    for &year in &o.years {
        for scheme in [Scheme::Employee, Scheme::Resident] {
            for region in ["changzhou", "rudong"] {
                let ok = policies.select(region, scheme, year).is_some_and(|i| policies.get(i).settles);
                settles.push((scheme, region, year, ok));
            }
        }
    }
    Ok(Plan { o, settles })
}

impl Plan {
    /// Generates the set in order, a window of chunks (`CHUNK` persons each) at a time on the
    /// thread pool, handing each chunk to `f` in person order. Memory is one window whatever
    /// `--persons`. Returns the skipped person-years.
    fn for_each_chunk(&self, mut f: impl FnMut(Chunk) -> Result<()>) -> Result<Vec<(String, u64)>> {
        // Twice the threads, so a chunk of heavy persons does not leave a core idle.
        let window = (2 * rayon::current_num_threads() as u64).max(4);
        let o = &self.o;
        let n_chunks = o.persons.div_ceil(CHUNK);
        let mut skipped = vec![0u64; self.settles.len()];
        for w in (0..n_chunks).step_by(window as usize) {
            let chunks: Vec<Chunk> = (w..(w + window).min(n_chunks))
                .into_par_iter()
                .map(|k| chunk(o, k * CHUNK..((k + 1) * CHUNK).min(o.persons), &self.settles))
                .collect();
            for c in chunks {
                for (s, n) in skipped.iter_mut().zip(&c.skipped) {
                    *s += n;
                }
                f(c)?;
            }
        }
        Ok(self
            .settles
            .iter()
            .zip(skipped)
            .filter(|(_, n)| *n > 0)
            .map(|(s, n)| {
                let scheme = if s.0 == Scheme::Employee { "employee" } else { "resident" };
                (format!("{scheme} {} ({})", s.2, s.1), n)
            })
            .collect())
    }
}

/// Generates the persons and claims in memory (the tests, the benches, `--recorded`).
/// Person-years that no built-in policy settles (RULES.md S-23) get no claims and are counted
/// in [`Generated::skipped`]. For large sets, [`generate_to`] streams them to files instead.
pub fn generate(o: &Options, policies: &PolicySet) -> Result<Generated> {
    let plan = plan(o, policies)?;
    let o = &plan.o;
    // The set is built in memory: refuse up front, with a message, what would not fit,
    // instead of aborting on a failed allocation half-way.
    let need = o.persons.saturating_mul(BYTES_PER_PERSON + BYTES_PER_PERSON_YEAR * o.years.len() as u64);
    if let Some(avail) = available_memory()
        && need > avail
    {
        bail!(
            "generate: --persons {} needs about {:.1} GiB of memory, more than the {:.1} GiB available; generate fewer persons per run (several runs with different --seed values and output folders)",
            o.persons,
            need as f64 / GIB,
            avail as f64 / GIB
        );
    }
    let n = usize::try_from(o.persons)?;
    let oom = |_| anyhow::anyhow!("generate: not enough memory for {n} persons");
    let mut all = Chunk::empty(0, plan.settles.len());
    all.chronic_text.try_reserve_exact(n).map_err(oom)?;
    all.persons.try_reserve_exact(n).map_err(oom)?;
    let skipped = plan.for_each_chunk(|c| {
        all.append(c);
        Ok(())
    })?;
    let Chunk { persons, chronic_text, mut claims, coding, .. } = all;
    for (k, c) in claims.claims.iter_mut().enumerate() {
        c.line = k as u32 + 2;
    }
    Ok(Generated { persons: PersonTable::of(persons), claims, coding, chronic_text, skipped })
}

/// What [`generate_to`] wrote.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub persons: u64,
    pub claims: u64,
    pub reversals: u64,
    /// As [`Generated::skipped`].
    pub skipped: Vec<(String, u64)>,
}

/// Generates the persons and claims and writes them into `dir` as they are made, a chunk of
/// persons at a time (the same files as [`generate`] then [`write`], in flat memory
/// whatever `--persons`). `progress` counts persons.
pub fn generate_to(o: &Options, policies: &PolicySet, dir: &Path, format: Format, progress: &(dyn Fn(u64) + Sync)) -> Result<Summary> {
    let plan = plan(o, policies)?;
    let need = plan.o.persons.saturating_mul(DISK_BYTES_PER_PERSON_YEAR * plan.o.years.len() as u64);
    if let Some(avail) = available_disk(dir)
        && need > avail
    {
        bail!(
            "generate: --persons {} needs at least {:.1} GiB on disk, more than the {:.1} GiB free where {} goes; generate fewer persons",
            plan.o.persons,
            need as f64 / GIB,
            avail as f64 / GIB,
            dir.display()
        );
    }
    let mut out = OutputDir::new(dir)?;
    let mut persons_file = TableWriter::new(&mut out, "persons", format, PERSON_FILE_COLUMNS)?;
    let mut claims_file = TableWriter::new(&mut out, "claims", format, CLAIM_FILE_COLUMNS)?;
    let mut sum = Summary::default();
    sum.skipped = plan.for_each_chunk(|c| {
        let persons = &c.persons;
        persons_file.write(persons.len(), &|i, v| person_row(&persons[i], &c.chronic_text[i], v), &|_| {})?;
        let psn_no = |psn: u32| (psn as u64).checked_sub(c.first).and_then(|k| persons.get(k as usize)).map_or("", |p| p.psn_no.as_str());
        claims_file.write(c.claims.claims.len(), &|i, v| claim_row(&c.claims, i, c.coding[i], &psn_no, false, v), &|_| {})?;
        sum.persons += persons.len() as u64;
        sum.claims += c.claims.claims.len() as u64;
        sum.reversals += c.reversals();
        progress(persons.len() as u64);
        Ok(())
    })?;
    persons_file.finish(&|_| {})?;
    claims_file.finish(&|_| {})?;
    crate::pipeline::write_set_manifest(&mut out, "generate")?;
    out.commit()?;
    Ok(sum)
}

// ---------------------------------------------------------------------------------------------
// Recorded platform amounts (for `medsettle replay` on the sample data)

/// Gives `n` settled claims the amounts the platform "recorded" (hifp_pay … psn_part_amt), so
/// `replay` has something to compare on the sample. The amounts are medsettle's own settlement
/// of the generated data, spread evenly over the settled claims; every second one is
/// deliberately off, in turn in one of three ways an audit meets:
/// - a rounding difference: hifp one fen higher, the personal part one fen lower;
/// - a layer difference: the catastrophic payment not applied (or, on a claim without one,
///   the basic fund 100.00 lower), moved to the personal part;
/// - a broken row: the personal part 1.00 higher, so the row no longer adds up (D-02).
///
/// Returns the number of claims given recorded amounts.
pub fn attach_recorded(g: &mut Generated, policies: &PolicySet, n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    let prepared = crate::intake::prepare(&mut g.claims, &g.persons, policies);
    let settled = crate::engine::settle_all(&g.claims, &g.persons, &prepared, policies, &|_| {});
    let eligible: Vec<(u32, Settlement)> = settled
        .input_order()
        .into_iter()
        .filter_map(|ci| settled.get(ci as usize).map(|s| (ci, *s)))
        .filter(|(_, s)| s.status == Status::Settled && s.hifp_pay.is_positive())
        .collect();
    let step = (eligible.len() / n).max(1);
    let mut k = 0;
    for (i, (ci, s)) in eligible.iter().step_by(step).take(n).enumerate() {
        let mut r = Recorded {
            hifp_pay: Some(s.hifp_pay),
            hifob_pay: Some(s.hifob_pay),
            hifmi_pay: Some(s.hifmi_pay),
            maf_pay: Some(s.maf_pay),
            psn_part_amt: Some(s.psn_part_amt),
            oth_pay: None,
        };
        let cent = Money::from_fen(1);
        match i % 6 {
            1 => {
                r.hifp_pay = Some(s.hifp_pay + cent);
                r.psn_part_amt = Some(s.psn_part_amt - cent);
            }
            3 if s.hifmi_pay.is_positive() => {
                r.hifmi_pay = Some(Money::ZERO);
                r.psn_part_amt = Some(s.psn_part_amt + s.hifmi_pay);
            }
            3 => {
                let d = Money::from_fen(10_000).min(s.hifp_pay);
                r.hifp_pay = Some(s.hifp_pay - d);
                r.psn_part_amt = Some(s.psn_part_amt + d);
            }
            5 => r.psn_part_amt = Some(s.psn_part_amt + Money::from_fen(100)),
            _ => {}
        }
        g.claims.recorded.push((*ci, r));
        k += 1;
    }
    // In input order already (`input_order`); kept sorted whatever the order above.
    g.claims.recorded.sort_by_key(|&(ci, _)| ci);
    k
}

/// The recorded-amount columns, written after the others when any claim has them.
pub const RECORDED_FILE_COLUMNS: &[(&str, ColType)] = &[
    ("hifp_pay", ColType::OptMoney),
    ("hifob_pay", ColType::OptMoney),
    ("hifmi_pay", ColType::OptMoney),
    ("maf_pay", ColType::OptMoney),
    ("psn_part_amt", ColType::OptMoney),
];

// ---------------------------------------------------------------------------------------------
// Writing

/// Columns of the generated persons file (CONTRACT.md §2, in its order).
pub const PERSON_FILE_COLUMNS: &[(&str, ColType)] = &[
    ("psn_no", ColType::Text),
    ("insutype", ColType::Text),
    ("psn_type", ColType::Text),
    ("brdy", ColType::Date),
    ("district", ColType::Text),
    ("assistance", ColType::Text),
    ("chronic_diseases", ColType::Text),
    ("consecutive_years", ColType::Int),
    ("prior_zero_claim", ColType::Int),
    ("benefit_begn", ColType::OptDate),
    ("transplant_date", ColType::OptDate),
    ("contribution_base", ColType::OptMoney),
    ("flexible", ColType::Int),
];

/// Columns of the generated claims file (CONTRACT.md §1 without the recorded amounts).
pub const CLAIM_FILE_COLUMNS: &[(&str, ColType)] = &[
    ("setl_id", ColType::Text),
    ("psn_no", ColType::Text),
    ("mdtrt_id", ColType::Text),
    ("setl_time", ColType::DateTime),
    ("med_type", ColType::Text),
    ("medfee_sumamt", ColType::Money),
    ("fulamt_ownpay_amt", ColType::Money),
    ("overlmt_selfpay", ColType::Money),
    ("preselfpay_amt", ColType::Money),
    ("inscp_scp_amt", ColType::Money),
    ("hosp_lv", ColType::Text),
    ("primary_care", ColType::Int),
    ("opsp_dise_code", ColType::Text),
    ("dise_codg", ColType::Text),
    ("drug_class", ColType::Text),
    ("offsite", ColType::Text),
    ("refd_setl_flag", ColType::Int),
    ("init_setl_id", ColType::Text),
    ("rare_fund_pay", ColType::OptMoney),
];

fn med_type_text(m: MedType) -> &'static str {
    const CODES: [&str; 53] = [
        "", "", "", "", "", "", "", "", "", "", "", "11", "12", "13", "14", "15", "16", "", "", "", "", "21", "22", "23", "24", "25", "26",
        "27", "28", "29", "", "", "", "", "", "", "", "", "", "", "", "41", "", "", "", "", "", "", "", "", "", "51", "52",
    ];
    CODES.get(m.0 as usize).copied().unwrap_or("")
}

/// The cells of a persons-file row.
fn person_row<'a>(p: &'a Person, chronic_text: &'a str, v: &mut Vec<Val<'a>>) {
    v.extend([
        Val::Text(&p.psn_no),
        Val::Text(p.insutype.as_str()),
        Val::Text(p.psn_type.as_str()),
        Val::Date(p.brdy),
        Val::Text(p.district.map_or("", |d| d.as_str())),
        Val::Text(p.assistance.as_str()),
        Val::Text(chronic_text),
        Val::Int(p.consecutive_years as i64),
        Val::Int(p.prior_zero_claim as i64),
        p.benefit_begn.map_or(Val::Null, Val::Date),
        p.transplant_date.map_or(Val::Null, Val::Date),
        p.contribution_base.get().map_or(Val::Null, Val::Money),
        Val::Int(p.flexible as i64),
    ]);
}

/// The cells of claims-file row `i` of `t`; `psn_no` names the claim's person; with
/// `with_recorded`, the recorded amounts follow.
fn claim_row<'a>(t: &'a ClaimTable, i: usize, coding: Coding, psn_no: &dyn Fn(u32) -> &'a str, with_recorded: bool, v: &mut Vec<Val<'a>>) {
    let c = &t.claims[i];
    v.extend([
        Val::Text(t.strings.get(c.setl_id)),
        Val::Text(psn_no(c.psn)),
        Val::Text(t.strings.get(c.mdtrt_id)),
        Val::DateTime(c.setl_time),
        Val::Text(med_type_text(c.med_type)),
        Val::Money(c.medfee_sumamt()),
        Val::Money(c.fulamt_ownpay_amt),
        Val::Money(c.overlmt_selfpay),
        Val::Money(c.preselfpay_amt),
        Val::Money(c.inscp_scp_amt),
        Val::Text(["", "1", "2", "3"][c.hosp_lv().min(3) as usize]),
        Val::Int(c.primary_care() as i64),
        Val::Text(coding.opsp_dise_code(c.disease)),
        Val::Text(coding.dise_codg()),
        Val::Text(if c.med_type.0 == 15 { c.drug_class.as_str() } else { "" }),
        Val::Text(c.offsite.as_str()),
        Val::Int(c.reversal as i64),
        Val::Text(t.init_setl_id(i)),
        match t.rare_fund_pay(i) {
            m if m.is_zero() => Val::Null,
            m => Val::Money(m),
        },
    ]);
    if with_recorded {
        let r = t.recorded(i);
        let m = |f: fn(&Recorded) -> Option<Money>| r.and_then(f).map_or(Val::Null, Val::Money);
        v.extend([m(|r| r.hifp_pay), m(|r| r.hifob_pay), m(|r| r.hifmi_pay), m(|r| r.maf_pay), m(|r| r.psn_part_amt)]);
    }
}

/// Writes `persons.{csv,parquet}` and `claims.{csv,parquet}` of an in-memory set into `dir`
/// (atomically: both appear only when both are complete).
pub fn write<'a>(g: &'a Generated, dir: &Path, format: Format, progress: &(dyn Fn(u64) + Sync)) -> Result<()> {
    let mut out = OutputDir::new(dir)?;
    let persons = &g.persons.persons;
    let person = move |i: usize, v: &mut Vec<Val<'a>>| person_row(&persons[i], &g.chronic_text[i], v);
    write_table(&mut out, "persons", format, PERSON_FILE_COLUMNS, persons.len(), &person, &|_| {})?;
    let t = &g.claims;
    let with_recorded = !t.recorded.is_empty();
    let psn_no = move |psn: u32| persons.get(psn as usize).map_or("", |p| p.psn_no.as_str());
    let claim = move |i: usize, v: &mut Vec<Val<'a>>| claim_row(t, i, g.coding[i], &psn_no, with_recorded, v);
    let columns: Vec<(&str, ColType)> =
        CLAIM_FILE_COLUMNS.iter().chain(if with_recorded { RECORDED_FILE_COLUMNS } else { &[] }).copied().collect();
    write_table(&mut out, "claims", format, &columns, t.claims.len(), &claim, progress)?;
    crate::pipeline::write_set_manifest(&mut out, "generate")?;
    out.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::columns::{CLAIMS, PERSONS};

    #[test]
    fn columns_follow_the_contract() {
        // The contract's columns in its order, without the recorded amounts.
        let names: Vec<&str> = CLAIM_FILE_COLUMNS.iter().map(|c| c.0).collect();
        let contract: Vec<&str> = crate::intake::columns::names(CLAIMS).into_iter().filter(|c| names.contains(c)).collect();
        assert_eq!(names, contract);
        let names: Vec<&str> = PERSON_FILE_COLUMNS.iter().map(|c| c.0).collect();
        assert_eq!(names, crate::intake::columns::names(PERSONS));
    }

    #[test]
    fn rng_is_reproducible_and_uniform_enough() {
        let mut a = Rng::stream(7, 3);
        let mut b = Rng::stream(7, 3);
        let xs: Vec<u64> = (0..100).map(|_| a.next_u64()).collect();
        assert_eq!(xs, (0..100).map(|_| b.next_u64()).collect::<Vec<_>>());
        assert_ne!(Rng::stream(7, 4).next_u64(), xs[0]);
        let mean = (0..10_000).map(|_| a.f64()).sum::<f64>() / 10_000.0;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
        let pm = (0..10_000).map(|_| a.poisson(4.0) as f64).sum::<f64>() / 10_000.0;
        assert!((pm - 4.0).abs() < 0.1, "{pm}");
    }

    #[test]
    fn ids_are_fixed_width() {
        assert_eq!(id_str(&id_of(b'S', 2026, 123, 7)), "S20260000001230007");
    }

    #[test]
    fn amounts_add_up_and_reversals_negate() -> anyhow::Result<()> {
        let policies = PolicySet::assemble(&[], &[])?;
        let g = generate(&Options { persons: 300, years: vec![2024], seed: 5 }, &policies)?;
        let t = &g.claims;
        assert!(g.reversals() > 0);
        for c in &t.claims {
            assert_eq!(c.medfee_sumamt(), c.fulamt_ownpay_amt + c.overlmt_selfpay + c.preselfpay_amt + c.inscp_scp_amt);
            let parts = [c.fulamt_ownpay_amt, c.overlmt_selfpay, c.preselfpay_amt, c.inscp_scp_amt];
            if c.reversal {
                assert!(parts.iter().all(|m| !m.is_positive()));
            } else {
                assert!(parts.iter().all(|m| !m.is_negative()));
            }
        }
        Ok(())
    }
}
