//! The policy file format (TOML; JSON Schema in `schemas/policy.schema.json`).
//!
//! A policy is the complete rule set of one region, scheme and year. Every section carries a
//! `source` (seed section or RULES.md decision id). A band table is a list of
//! `{ upto, rate }` brackets walked by one generic function ([`crate::engine::bands`]), never
//! code. Parameters that RULES.md §10 marks as decisions with an alternative reading are plain
//! fields here, so `--set` and scenario files can switch them.

use crate::model::money::{Fraction, RATE_DECIMALS};
use crate::model::{Benefit, Disease, District, Money, PsnType, Rate, RoundingMode};
use rust_decimal::Decimal;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// A decimal number read from a TOML integer, float (by its shortest decimal text, so `0.7`
/// is exactly 0.7) or string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Num(pub Decimal);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Num, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Num;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Num, E> {
                Ok(Num(Decimal::from(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Num, E> {
                Ok(Num(Decimal::from(v)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Num, E> {
                Decimal::from_str(&format!("{v}")).map(Num).map_err(|_| E::custom(format!("{v} is not a decimal number")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Num, E> {
                Decimal::from_str(v.trim()).map(Num).map_err(|_| E::custom(format!("`{v}` is not a number")))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let n = self.0.normalize();
        if n.fract().is_zero()
            && let Ok(i) = i64::try_from(n)
        {
            return s.serialize_i64(i);
        }
        s.serialize_f64(n.to_string().parse::<f64>().unwrap_or(0.0))
    }
}

/// An amount of money in a policy (whole fen).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Amount(pub Money);

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Amount, D::Error> {
        let n = Num::deserialize(d)?;
        if n.0.is_sign_negative() && !n.0.is_zero() {
            return Err(de::Error::custom(format!("amount {} is negative", n.0)));
        }
        Money::from_exact_fen(n.0).map(Amount).ok_or_else(|| de::Error::custom(format!("amount {} has more than two decimals", n.0)))
    }
}
impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Num(self.0.exact()).serialize(s)
    }
}

/// A rate as a fraction in [0, 1], with at most [`RATE_DECIMALS`] decimals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct RateValue(pub Rate);

impl<'de> Deserialize<'de> for RateValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RateValue, D::Error> {
        let n = Num::deserialize(d)?;
        if n.0 < Decimal::ZERO || n.0 > Decimal::ONE {
            return Err(de::Error::custom(format!("rate {} is not a fraction between 0 and 1 (write 0.85 for 85%)", n.0)));
        }
        // The kernel computes rate products exactly in fixed point (`money::Fraction`).
        if Fraction::from_decimal(n.0).is_none() {
            return Err(de::Error::custom(format!(
                "rate {} has more than {RATE_DECIMALS} decimals (the settlement computes rates exactly to {RATE_DECIMALS} decimals)",
                n.0
            )));
        }
        Ok(RateValue(n.0))
    }
}
impl Serialize for RateValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Num(self.0).serialize(s)
    }
}

/// A code used as a table key (`special.diseases.<disease>`, `financing.resident.<psn_type>`).
pub trait CodeKey: Sized + Ord {
    fn parse_key(s: &str) -> Option<Self>;
    fn expected_keys() -> String;
}

macro_rules! code_key {
    ($($t:ty),+) => {$(
        impl CodeKey for $t {
            fn parse_key(s: &str) -> Option<Self> {
                <$t>::parse(s)
            }
            fn expected_keys() -> String {
                <$t>::expected()
            }
        }
    )+};
}
code_key!(Disease, District, PsnType);

/// A table keyed by codes, read with text keys first: a problem inside an entry is then
/// reported at its path (`special.diseases.hemophilia.rate`), and an unknown key by name.
fn coded_keys<'de, D, K, V>(d: D) -> Result<BTreeMap<K, V>, D::Error>
where
    D: Deserializer<'de>,
    K: CodeKey,
    V: Deserialize<'de>,
{
    let raw: BTreeMap<String, V> = BTreeMap::deserialize(d)?;
    let mut out = BTreeMap::new();
    for (k, v) in raw {
        let key =
            K::parse_key(&k).ok_or_else(|| de::Error::custom(format!("unknown key `{k}`, expected one of {}", K::expected_keys())))?;
        out.insert(key, v);
    }
    Ok(out)
}

/// Benefit-table group of a person (RULES.md §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    Adult,
    Child,
    InService,
    Retired,
    #[serde(rename = "veteran_worker")]
    Veteran,
}

impl Group {
    /// RULES.md §2: category → group.
    pub fn of(t: PsnType) -> Group {
        match t {
            PsnType::Elderly | PsnType::NonEmployed => Group::Adult,
            PsnType::Minor | PsnType::Student => Group::Child,
            PsnType::InService => Group::InService,
            PsnType::Retired => Group::Retired,
            PsnType::VeteranWorker => Group::Veteran,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Group::Adult => "adult",
            Group::Child => "child",
            Group::InService => "in_service",
            Group::Retired => "retired",
            Group::Veteran => "veteran_worker",
        }
    }
}

/// A value per group; `all` applies to every group not listed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, bound(deserialize = "T: Deserialize<'de>", serialize = "T: Serialize"))]
pub struct ByGroup<T> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all: Option<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adult: Option<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child: Option<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_service: Option<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired: Option<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub veteran_worker: Option<T>,
}

impl<T> ByGroup<T> {
    pub fn get(&self, g: Group) -> Option<&T> {
        let specific = match g {
            Group::Adult => &self.adult,
            Group::Child => &self.child,
            Group::InService => &self.in_service,
            Group::Retired => &self.retired,
            Group::Veteran => &self.veteran_worker,
        };
        specific.as_ref().or(self.all.as_ref())
    }
    /// The policy-file key [`ByGroup::get`] reads for `g`: the group's own or `all`.
    pub fn key(&self, g: Group) -> &'static str {
        let specific = match g {
            Group::Adult => self.adult.is_some(),
            Group::Child => self.child.is_some(),
            Group::InService => self.in_service.is_some(),
            Group::Retired => self.retired.is_some(),
            Group::Veteran => self.veteran_worker.is_some(),
        };
        if specific { g.as_str() } else { "all" }
    }
}

/// A value per facility level 1–3, or one value for all levels.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Levels<T> {
    Each([T; 3]),
    All(T),
}

// By hand rather than `untagged`, so that a bad value inside is reported as itself, at its
// path (`inpatient.bands.0.rate.adult.2: rate 1.5 is not a fraction …`), not as "did not
// match any variant".
impl<'de, T: Deserialize<'de>> Deserialize<'de> for Levels<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Levels<T>, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Levels<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("one value for every facility level, or a list of three (levels 1, 2, 3)")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Levels<T>, A::Error> {
                let mut v: Vec<T> = Vec::with_capacity(3);
                while let Some(x) = seq.next_element::<T>()? {
                    v.push(x);
                    if v.len() > 3 {
                        return Err(de::Error::invalid_length(4, &"three values (levels 1, 2, 3)"));
                    }
                }
                let n = v.len();
                <[T; 3]>::try_from(v).map(Levels::Each).map_err(|_| de::Error::invalid_length(n, &"three values (levels 1, 2, 3)"))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Levels<T>, E> {
                T::deserialize(de::value::I64Deserializer::new(v)).map(Levels::All)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Levels<T>, E> {
                T::deserialize(de::value::U64Deserializer::new(v)).map(Levels::All)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Levels<T>, E> {
                T::deserialize(de::value::F64Deserializer::new(v)).map(Levels::All)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Levels<T>, E> {
                T::deserialize(de::value::StrDeserializer::new(v)).map(Levels::All)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

impl<T: Copy> Levels<T> {
    /// Level 1–3; level 0 (unknown, pharmacy) reads as level 1.
    pub fn at(&self, level: u8) -> T {
        match self {
            Levels::All(v) => *v,
            Levels::Each(v) => v[(level.clamp(1, 3) - 1) as usize],
        }
    }
}

/// Which fund a bracket pays from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Fund {
    /// 统筹基金
    #[default]
    Hifp,
    /// 大额医疗补助
    Hifob,
}

/// One bracket of a simple scale: the part of the axis up to `upto` (from the previous
/// bracket's `upto`, or 0) pays `rate`. The last bracket has no `upto`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bracket {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upto: Option<Amount>,
    pub rate: RateValue,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rounding {
    pub source: String,
    /// D-01
    pub mode: RoundingMode,
}

/// D-10: what the annual basic-fund cap limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapBasis {
    /// the fund's cumulative payment (national meaning of 最高支付限额)
    FundPaid,
    /// the cumulative in-scope (eligible) cost
    EligibleCost,
}

/// 住院 (inpatient), also the rates of inpatient-rate special diseases.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inpatient {
    pub source: String,
    /// 起付标准 per admission (the first admission of the year, for employees).
    pub deductible: ByGroup<Levels<Amount>>,
    /// 起付标准 of the second and later admissions (employees); absent = as `deductible`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deductible_later: Option<ByGroup<Levels<Amount>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deductible_source: Option<String>,
    /// D-21: whose deductibles veteran workers (建国前老工人) use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub veteran_deductible_as: Option<Group>,
    /// Rates by bracket of the person-year's cumulative in-scope inpatient (+ special) cost.
    pub bands: Vec<InpatientBand>,
    /// 年度最高支付限额 of the basic fund, shared by inpatient, maternity and special
    /// outpatient (and drugs when `drugs.inside_cap`); absent = no cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<Amount>,
    /// D-10
    #[serde(default = "default_cap_basis")]
    pub cap_basis: CapBasis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap_source: Option<String>,
}

fn default_cap_basis() -> CapBasis {
    CapBasis::FundPaid
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InpatientBand {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upto: Option<Amount>,
    #[serde(default)]
    pub fund: Fund,
    pub rate: ByGroup<Levels<RateValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// 生育住院 (med_type 52).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Maternity {
    pub source: String,
    /// D-19 / S-03: consecutive enrolled years needed; otherwise plain inpatient.
    #[serde(default)]
    pub min_consecutive_years: u32,
    /// D-11: the basic fund tops up to this share of the in-scope cost (inside the cap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor_rate: Option<RateValue>,
    /// D-25 / S-28: government finance pays the in-catalogue share left after basic,
    /// catastrophic and assistance (`oth_pay`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub finance_subsidy: bool,
}

/// The column of an outpatient rate table (S-10).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Column {
    Primary,
    Level2,
    Level3,
    Pharmacy,
}

/// One bracket of the general-outpatient scale on the cumulative in-scope outpatient cost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutpatientBand {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upto: Option<Amount>,
    /// The bracket is the annual deductible (起付标准): reported in act_pay_dedc, pays nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deductible: bool,
    #[serde(default)]
    pub fund: Fund,
    /// One rate for every column; a column's own rate wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<RateValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<RateValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level2: Option<RateValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level3: Option<RateValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pharmacy: Option<RateValue>,
    /// S-13: pharmacy claims are paid in this bracket only for cost within the first this-much
    /// of the year's cumulative pharmacy in-scope cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pharmacy_cost_limit: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl OutpatientBand {
    pub fn rate_for(&self, c: Column) -> Rate {
        let specific = match c {
            Column::Primary => self.primary,
            Column::Level2 => self.level2,
            Column::Level3 => self.level3,
            Column::Pharmacy => self.pharmacy,
        };
        specific.or(self.rate).map(|r| r.0).unwrap_or(Decimal::ZERO)
    }
}

/// 普通门诊统筹 (general outpatient) and pharmacy purchases.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outpatient {
    pub source: String,
    /// D-12: which column pharmacy (med_type 41) claims use.
    pub pharmacy_column: Column,
    /// D-29 / S-07: a med_type 14 claim the special or chronic rules do not pay (chronic not
    /// approved; special disease or PKU outside the scheme) settles here (employees).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub takes_unpaid_chronic_special: bool,
    pub bands: ByGroup<Vec<OutpatientBand>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitBasis {
    /// the limit counts in-scope cost (合规医疗费用支付限额)
    EligibleCost,
    /// the limit counts fund payment
    FundPaid,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChronicRates {
    /// community / primary care (基层)
    pub primary: RateValue,
    pub other: RateValue,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChronicLimits {
    pub one: Amount,
    pub two_or_more: Amount,
    /// malignant tumour alone; absent = tumour counts as an ordinary disease
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tumour: Option<Amount>,
    /// malignant tumour plus other diseases
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tumour_plus: Option<Amount>,
}

/// 门诊慢性病 (chronic outpatient).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chronic {
    pub source: String,
    pub diseases: Vec<Disease>,
    pub rates: ByGroup<ChronicRates>,
    pub limits: ByGroup<ChronicLimits>,
    /// D-13 (resident: eligible cost; employee: fund payment).
    pub limit_basis: LimitBasis,
    /// D-23 / S-14: cost beyond the exhausted limit settles as general outpatient.
    #[serde(default)]
    pub fall_through: bool,
}

/// The rate of a special disease: the inpatient rate of the level and group, or a fixed rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SpecialRate {
    Inpatient,
    Fixed(Rate),
}

impl<'de> Deserialize<'de> for SpecialRate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SpecialRate, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SpecialRate;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("\"inpatient\" or a fraction like 0.85")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SpecialRate, E> {
                match v {
                    "inpatient" => Ok(SpecialRate::Inpatient),
                    t => Err(E::custom(format!("special rate `{t}`: expected \"inpatient\" or a fraction like 0.85"))),
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<SpecialRate, E> {
                RateValue::deserialize(de::value::I64Deserializer::new(v)).map(|r| SpecialRate::Fixed(r.0))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<SpecialRate, E> {
                RateValue::deserialize(de::value::U64Deserializer::new(v)).map(|r| SpecialRate::Fixed(r.0))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<SpecialRate, E> {
                RateValue::deserialize(de::value::F64Deserializer::new(v)).map(|r| SpecialRate::Fixed(r.0))
            }
        }
        d.deserialize_any(V)
    }
}
impl Serialize for SpecialRate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            SpecialRate::Inpatient => s.serialize_str("inpatient"),
            SpecialRate::Fixed(r) => RateValue(*r).serialize(s),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecialDisease {
    pub rate: SpecialRate,
    /// Annual fund-payment limit (D-15); absent = none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<Amount>,
    /// S-06: the limit while `setl_time < transplant_date + 1 year`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_year_limit: Option<Amount>,
    /// S-08: only up to this age (year − birth year).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// 门诊特殊病 (special outpatient).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Special {
    pub source: String,
    /// D-14: special claims are charged the inpatient deductible per mdtrt_id.
    #[serde(default)]
    pub deductible: bool,
    /// D-26 / S-29: cost beyond an exhausted disease limit settles as general outpatient.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fall_through: bool,
    /// D-30: the rate group of college students (大学生) on special diseases; absent = their
    /// own group (child).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub student_group: Option<Group>,
    #[serde(deserialize_with = "coded_keys")]
    pub diseases: BTreeMap<Disease, SpecialDisease>,
}

/// 双通道 / 单独支付 / 特定病药品 and 罕见病药品 (med_type 15).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Drugs {
    pub source: String,
    pub dual_channel: RateValue,
    pub rare: RateValue,
    /// D-16: drug payments count toward the resident 350,000 annual cap. A resident key only:
    /// employees have no overall cap (S-15), so an employee policy must not set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inside_cap: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PkuBand {
    /// up to this age (year − birth year); absent = every older age
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<i32>,
    pub rate: RateValue,
    /// annual limit on the PKU fund payment (D-17)
    pub limit: Amount,
}

/// 苯丙酮尿症 (phenylketonuria).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pku {
    pub source: String,
    /// S-09: the categories entitled (2024/2025: `minor` only); empty = every resident.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub psn_types: Vec<PsnType>,
    /// S-09: 2024/2025 limit on eligible cost (医疗费用支付限额), 2026 on the fund payment.
    #[serde(default = "default_limit_basis")]
    pub limit_basis: LimitBasis,
    pub bands: Vec<PkuBand>,
}

fn default_limit_basis() -> LimitBasis {
    LimitBasis::FundPaid
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct OffsitePoints {
    /// 异地长期居住
    #[serde(default)]
    pub resident: RateValue,
    /// 转诊
    #[serde(default)]
    pub referral: RateValue,
    /// 急诊抢救
    #[serde(default)]
    pub emergency: RateValue,
    /// 未转诊
    #[serde(default)]
    pub unreferred: RateValue,
}

/// 异地就医 (S-17): points off every basic and large-amount rate, floored at 0.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Offsite {
    pub source: String,
    /// Points as fractions (0.10 = 10 points).
    pub points: OffsitePoints,
    /// Benefits not covered at all when unreferred (S-12).
    #[serde(default)]
    pub unreferred_not_covered: Vec<Benefit>,
    /// S-12 (2026): unreferred general outpatient is paid only on the part of the cumulative
    /// in-scope outpatient cost up to this amount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreferred_outpatient_counted_upto: Option<Amount>,
}

/// D-20: the 困难群众 catastrophic cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoorCap {
    SameAsGeneral,
    None,
}

/// 大病保险 (catastrophic insurance), RULES.md §6.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catastrophic {
    pub source: String,
    /// D-05: benefits whose claims enter the catastrophic base.
    pub benefits: Vec<Benefit>,
    /// Brackets on the person-year's cumulative base: general persons.
    pub general: Vec<Bracket>,
    /// Brackets for 城乡困难群众 (assistance ≠ none, D-04).
    pub poor: Vec<Bracket>,
    /// Annual cap on catastrophic payment; absent = none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<Amount>,
    /// S-20: + this when the previous year had no fund reimbursement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zero_claim_bonus: Option<Amount>,
    /// S-20: + this for each consecutive enrolled year beyond `loyalty_after_years`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loyalty_bonus: Option<Amount>,
    #[serde(default)]
    pub loyalty_after_years: u32,
    /// D-20
    #[serde(default = "default_poor_cap")]
    pub poor_cap: PoorCap,
}

fn default_poor_cap() -> PoorCap {
    PoorCap::SameAsGeneral
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssistanceLimit {
    pub name: String,
    pub benefits: Vec<Benefit>,
    pub limit: Amount,
}

/// 医疗救助 (medical assistance), RULES.md §7.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssistanceRules {
    pub source: String,
    pub destitute: RateValue,
    pub other: RateValue,
    /// S-18: annual limits by benefit group.
    pub limits: Vec<AssistanceLimit>,
    /// D-24 / S-27: the rate on `rare_drug` claims for both classes (resident 2024/2025: 50%);
    /// absent = the class rates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rare_drug_rate: Option<RateValue>,
}

/// 倾斜救助 (tilted assistance, year end), S-19.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tilted {
    pub source: String,
    pub brackets: Vec<Bracket>,
}

/// A resident category's contribution (个人缴费) per person-year.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResidentContribution {
    /// basic medical insurance, personal part
    pub personal: Amount,
    /// districts where the personal part differs
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "coded_keys")]
    pub personal_by_district: BTreeMap<District, Amount>,
    /// long-term care insurance (长护险), personal part
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ltc: Option<Amount>,
    /// government subsidy (财政补助) per person
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subsidy: Option<Amount>,
    /// districts where the subsidy differs (§9)
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "coded_keys")]
    pub subsidy_by_district: BTreeMap<District, Amount>,
    /// long-term care government subsidy per person
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ltc_subsidy: Option<Amount>,
}

/// Employee contributions (职工医保), RULES.md §9.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmployeeContribution {
    pub employer_rate: RateValue,
    pub personal_rate: RateValue,
    pub flexible_rate: RateValue,
    /// monthly base of flexible workers (provincial floor, §9); required when flexible workers
    /// are present (their own base is never used)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flexible_base: Option<Amount>,
}

/// Fund income (筹资), RULES.md §9.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Financing {
    pub source: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "coded_keys")]
    pub resident: BTreeMap<PsnType, ResidentContribution>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employee: Option<EmployeeContribution>,
    /// S-?: recipients of assistance have the personal part paid by the government.
    #[serde(default)]
    pub assistance_personal_paid_by_government: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SchemeName {
    Resident,
    Employee,
}

impl SchemeName {
    pub fn as_str(self) -> &'static str {
        match self {
            SchemeName::Resident => "resident",
            SchemeName::Employee => "employee",
        }
    }
}

/// A complete policy (one region, scheme and year).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub id: String,
    pub title: String,
    pub region: String,
    pub scheme: SchemeName,
    pub year: i32,
    /// the seed document(s)
    pub source: String,
    /// false for a financing-only policy (no benefit rules published): claims are rejected
    /// with `no_benefit_reason`.
    #[serde(default = "yes")]
    pub settles: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_benefit_reason: Option<String>,
    pub rounding: Rounding,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inpatient: Option<Inpatient>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maternity: Option<Maternity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outpatient: Option<Outpatient>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chronic: Option<Chronic>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub special: Option<Special>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drugs: Option<Drugs>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pku: Option<Pku>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offsite: Option<Offsite>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catastrophic: Option<Catastrophic>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assistance: Option<AssistanceRules>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tilted: Option<Tilted>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub financing: Option<Financing>,
    /// Extra codes accepted for disease keys (e.g. the platform's own disease codes).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub aliases: BTreeMap<String, Disease>,
}

fn yes() -> bool {
    true
}
