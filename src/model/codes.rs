//! The coded values of the contract (CONTRACT.md §1, §2, §4, §5) as enums, with their text forms.

use serde::{Deserialize, Serialize};

macro_rules! coded_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name { $($(#[$vm])* #[serde(rename = $text)] $var),+ }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$var),+];
            pub fn as_str(self) -> &'static str { match self { $($name::$var => $text),+ } }
            pub fn parse(s: &str) -> Option<$name> { match s { $($text => Some($name::$var),)+ _ => None } }
            /// Its place in [`Self::ALL`] (a spill file's byte for it).
            pub fn ordinal(self) -> u8 { self as u8 }
            /// The value at `i` in [`Self::ALL`].
            pub fn from_ordinal(i: u8) -> Option<$name> { Self::ALL.get(usize::from(i)).copied() }
            /// The accepted codes, for error messages.
            pub fn expected() -> String { [$($text),+].join(", ") }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

coded_enum!(
    /// 险种 `insutype`.
    Scheme { Employee = "310", Resident = "390" }
);

coded_enum!(
    /// 人员类别 `psn_type` (RULES.md §2).
    PsnType {
        Elderly = "elderly",
        NonEmployed = "non_employed",
        Minor = "minor",
        Student = "student",
        InService = "in_service",
        Retired = "retired",
        VeteranWorker = "veteran_worker",
    }
);

impl PsnType {
    pub fn scheme(self) -> Scheme {
        match self {
            PsnType::Elderly | PsnType::NonEmployed | PsnType::Minor | PsnType::Student => Scheme::Resident,
            _ => Scheme::Employee,
        }
    }
}

coded_enum!(
    /// Contribution band / region of a resident (`district`).
    District {
        Tianning = "tianning",
        Zhonglou = "zhonglou",
        Xinbei = "xinbei",
        Wujin = "wujin",
        Jingkai = "jingkai",
        Liyang = "liyang",
        Jintan = "jintan",
        Rudong = "rudong",
    }
);

impl District {
    /// The policy region a district belongs to (Rudong is in Nantong, not Changzhou).
    pub fn region(self) -> &'static str {
        match self {
            District::Rudong => "rudong",
            _ => "changzhou",
        }
    }
}

coded_enum!(
    /// 医疗救助对象类别 (RULES.md §2).
    Assistance { None = "none", Destitute = "destitute", Other = "other" }
);

coded_enum!(
    /// 异地就医 situation (`offsite`); empty text = local.
    Offsite {
        Local = "",
        Resident = "resident",
        Referral = "referral",
        Emergency = "emergency",
        Unreferred = "unreferred",
        NonDesignated = "non_designated",
    }
);

coded_enum!(
    /// `drug_class` of a med_type 15 claim.
    DrugClass { DualChannel = "dual_channel", Rare = "rare" }
);

coded_enum!(
    /// The benefit a claim settles under (CONTRACT.md §4, RULES.md §3).
    Benefit {
        Inpatient = "inpatient",
        Maternity = "maternity",
        Outpatient = "outpatient",
        Pharmacy = "pharmacy",
        Chronic = "chronic",
        Special = "special",
        DualChannel = "dual_channel",
        RareDrug = "rare_drug",
        Pku = "pku",
        None = "none",
    }
);

coded_enum!(
    /// Settlement status (CONTRACT.md §4).
    Status { Settled = "settled", Reversal = "reversal", NotCovered = "not_covered" }
);

coded_enum!(
    /// Why a claim got no fund payment by rule (RULES.md S-21, in priority order).
    NotCoveredReason {
        WaitingPeriod = "waiting_period",
        NonDesignated = "non_designated",
        NotInScheme = "not_in_scheme",
        AgeLimit = "age_limit",
        ChronicNotApproved = "chronic_not_approved",
        Unreferred = "unreferred",
    }
);

coded_enum!(
    /// Disease keys (CONTRACT.md §5): 门诊慢性病, 门诊特殊病 and 苯丙酮尿症.
    Disease {
        Hypertension = "hypertension",
        Diabetes = "diabetes",
        StrokeSequelae = "stroke_sequelae",
        CoronaryHeart = "coronary_heart",
        RheumaticHeart = "rheumatic_heart",
        PulmonaryHeart = "pulmonary_heart",
        RheumatoidArthritis = "rheumatoid_arthritis",
        Sjogren = "sjogren",
        Crohn = "crohn",
        ChronicHepatitis = "chronic_hepatitis",
        ChronicNephritis = "chronic_nephritis",
        Parkinson = "parkinson",
        MalignantTumor = "malignant_tumor",
        Cancer = "cancer",
        RenalFailure = "renal_failure",
        MentalDisorder = "mental_disorder",
        Hemophilia = "hemophilia",
        Transplant = "transplant",
        AplasticAnemia = "aplastic_anemia",
        Sle = "sle",
        Tuberculosis = "tuberculosis",
        ChildT1d = "child_t1d",
        ChildAutism = "child_autism",
        ChildGhd = "child_ghd",
        MuscularDystrophy = "muscular_dystrophy",
        Pku = "pku",
    }
);

/// Which outpatient programme a disease key belongs to (CONTRACT.md §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiseaseKind {
    Chronic,
    Special,
    Pku,
}

impl Disease {
    pub fn kind(self) -> DiseaseKind {
        use Disease::*;
        match self {
            Hypertension | Diabetes | StrokeSequelae | CoronaryHeart | RheumaticHeart | PulmonaryHeart | RheumatoidArthritis | Sjogren
            | Crohn | ChronicHepatitis | ChronicNephritis | Parkinson | MalignantTumor => DiseaseKind::Chronic,
            Pku => DiseaseKind::Pku,
            _ => DiseaseKind::Special,
        }
    }
    pub fn index(self) -> usize {
        self as usize
    }
    pub const COUNT: usize = 26;
}

/// A set of disease keys (a person's approved 门诊慢性病, S-07) in one word instead of a
/// `Vec` (24 bytes and a heap block for each of a city's persons who has one). Iterates in
/// the keys' order ([`Disease::ALL`]), the order a sorted list of them had; serialized as
/// that list, so stored states read and write as before.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct DiseaseSet(u32);

const _: () = assert!(Disease::ALL.len() <= u32::BITS as usize);

impl DiseaseSet {
    pub fn contains(self, d: Disease) -> bool {
        self.0 & (1 << d.index()) != 0
    }
    pub fn insert(&mut self, d: Disease) {
        self.0 |= 1 << d.index();
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }
    pub fn iter(self) -> impl Iterator<Item = Disease> {
        Disease::ALL.iter().copied().filter(move |&d| self.contains(d))
    }
}

impl FromIterator<Disease> for DiseaseSet {
    fn from_iter<I: IntoIterator<Item = Disease>>(keys: I) -> DiseaseSet {
        let mut set = DiseaseSet::default();
        for d in keys {
            set.insert(d);
        }
        set
    }
}

impl std::fmt::Debug for DiseaseSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl Serialize for DiseaseSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq as _;
        // with its length first, as postcard needs (a filtered iterator's is not known)
        let mut seq = s.serialize_seq(Some(self.len()))?;
        for d in self.iter() {
            seq.serialize_element(&d)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for DiseaseSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<DiseaseSet, D::Error> {
        Ok(Vec::<Disease>::deserialize(d)?.into_iter().collect())
    }
}

/// `med_type` (医疗类别), CONTRACT.md §1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MedType(pub u8);

impl MedType {
    pub fn parse(s: &str) -> Option<MedType> {
        let v: u8 = s.trim().parse().ok()?;
        MedType::from_code(v)
    }
    pub fn from_code(v: u8) -> Option<MedType> {
        matches!(v, 11..=16 | 21..=29 | 41 | 51 | 52).then_some(MedType(v))
    }
    pub fn expected() -> &'static str {
        "11-16, 21-29, 41, 51 or 52"
    }
    pub fn is_inpatient(self) -> bool {
        (21..=29).contains(&self.0)
    }
}
