//! Reading and validating the inputs (CONTRACT.md §1–2, RULES.md S-23, S-24). Every bad row
//! becomes a [`RejectRow`] naming the file, line, column and what was expected.

use super::source::{
    Batch, ColRef, CsvBatch, Input, ParquetBatch, arrow_batch, is_parquet, parquet_row_groups, read_csv, read_parquet_group, tune_allocator,
};
use crate::model::*;
use anyhow::{Context, Result};
use arrow::array::{Array, Decimal128Array, Int64Array, StringArray};
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// A rejected input row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RejectRow {
    /// index into the run's input files
    pub file: u16,
    pub line: u64,
    pub setl_id: String,
    pub code: &'static str,
    pub message: String,
}

impl RejectRow {
    pub fn reason(&self) -> String {
        format!("{}: {}", self.code, self.message)
    }
}

/// Claim columns: required first (CONTRACT.md §1).
pub const CLAIM_COLUMNS: &[&str] = &[
    "setl_id",
    "psn_no",
    "mdtrt_id",
    "setl_time",
    "med_type",
    "medfee_sumamt",
    "fulamt_ownpay_amt",
    "overlmt_selfpay",
    "preselfpay_amt",
    "inscp_scp_amt",
    "hosp_lv",
    "primary_care",
    "opsp_dise_code",
    "dise_codg",
    "drug_class",
    "offsite",
    "refd_setl_flag",
    "init_setl_id",
    "hifp_pay",
    "hifob_pay",
    "hifmi_pay",
    "maf_pay",
    "psn_part_amt",
];
const CLAIM_REQUIRED: usize = 10;

/// Person columns: required first (CONTRACT.md §2; district is required for residents).
pub const PERSON_COLUMNS: &[&str] = &[
    "psn_no",
    "insutype",
    "psn_type",
    "brdy",
    "district",
    "assistance",
    "chronic_diseases",
    "consecutive_years",
    "prior_zero_claim",
    "benefit_begn",
    "transplant_date",
    "contribution_base",
    "flexible",
];
const PERSON_REQUIRED: usize = 4;

type RowResult<T> = std::result::Result<T, (&'static str, String)>;

fn need<T>(v: std::result::Result<Option<T>, String>, col: &str, what: &str) -> RowResult<T> {
    match v {
        Ok(Some(x)) => Ok(x),
        Ok(None) => Err(("missing_value", format!("column {col} is empty; expected {what}"))),
        Err(e) => Err(("bad_value", format!("column {col}: {e}"))),
    }
}

fn opt<T>(v: std::result::Result<Option<T>, String>, col: &str) -> RowResult<Option<T>> {
    v.map_err(|e| ("bad_value", format!("column {col}: {e}")))
}

/// A coded cell; `expected` (the accepted codes) is only built for the error message.
fn code<T, E: std::fmt::Display, B: Batch + ?Sized>(
    b: &B,
    row: usize,
    col: usize,
    parse: impl Fn(&str) -> Option<T>,
    expected: impl Fn() -> E,
) -> RowResult<Option<T>> {
    match b.cell(row, col).text() {
        None => Ok(None),
        Some(t) => parse(&t).map(Some).ok_or_else(|| {
            ("unknown_code", format!("column {}: `{t}` is not one of {}", CLAIM_COLUMNS.get(col).unwrap_or(&"?"), expected()))
        }),
    }
}

/// psn_no → person index, for the claim rows: an open-addressing table whose slots hold keys
/// up to 27 bytes (every real psn_no) inline, so a probe touches one cache line instead of
/// also chasing the person's heap string; longer keys go to a side map. The table is probed
/// once per claim row at random places, so the row loop prefetches a few rows ahead
/// ([`PersonIndex::prefetch`]).
struct PersonIndex<'a> {
    slots: Vec<Slot>,
    /// `64 - log2(slots.len())`
    shift: u32,
    long: HashMap<&'a str, u32>,
}

const KEY: usize = 28;

#[derive(Clone, Copy)]
#[repr(C, align(32))]
struct Slot {
    /// length, then the bytes, zero-padded
    key: [u8; KEY],
    /// person index; `u32::MAX` for an empty slot
    idx: u32,
}

fn inline_key(s: &str) -> Option<[u8; KEY]> {
    let b = s.as_bytes();
    (b.len() < KEY).then(|| {
        let mut k = [0u8; KEY];
        k[0] = b.len() as u8;
        k[1..=b.len()].copy_from_slice(b);
        k
    })
}

fn key_hash(k: &[u8; KEY]) -> u64 {
    const M: u64 = 0x9e37_79b9_7f4a_7c15;
    let w = |i: usize| u64::from_le_bytes([k[i], k[i + 1], k[i + 2], k[i + 3], k[i + 4], k[i + 5], k[i + 6], k[i + 7]]);
    let tail = u32::from_le_bytes([k[24], k[25], k[26], k[27]]) as u64;
    let mut h = (w(0) ^ M).wrapping_mul(M);
    h = (h.rotate_left(29) ^ w(8)).wrapping_mul(M);
    h = (h.rotate_left(29) ^ w(16)).wrapping_mul(M);
    h = (h.rotate_left(29) ^ tail).wrapping_mul(M);
    h ^ (h >> 29)
}

impl<'a> PersonIndex<'a> {
    fn new(persons: &'a PersonTable) -> PersonIndex<'a> {
        // At most half full: short probe runs.
        let n = (persons.index.len() * 2).next_power_of_two().max(16);
        let mut ix =
            PersonIndex { slots: vec![Slot { key: [0; KEY], idx: u32::MAX }; n], shift: 64 - n.trailing_zeros(), long: HashMap::new() };
        let mask = n - 1;
        for (k, &v) in &persons.index {
            match inline_key(k) {
                Some(ik) => {
                    let mut i = (key_hash(&ik) >> ix.shift) as usize;
                    // Keys are unique (it is a map), so the first empty slot is the place.
                    while ix.slots[i].idx != u32::MAX {
                        i = (i + 1) & mask;
                    }
                    ix.slots[i] = Slot { key: ik, idx: v };
                }
                None => {
                    ix.long.insert(k.as_str(), v);
                }
            }
        }
        ix
    }
    fn get(&self, psn_no: &str) -> Option<u32> {
        let Some(k) = inline_key(psn_no) else {
            return self.long.get(psn_no).copied();
        };
        let mask = self.slots.len() - 1;
        let mut i = (key_hash(&k) >> self.shift) as usize;
        loop {
            let s = &self.slots[i];
            if s.idx == u32::MAX {
                return None;
            }
            if s.key == k {
                return Some(s.idx);
            }
            i = (i + 1) & mask;
        }
    }
    /// Starts loading the slot of `psn_no` into the cache.
    #[inline]
    fn prefetch(&self, psn_no: &str) {
        #[cfg(target_arch = "x86_64")]
        if let Some(k) = inline_key(psn_no) {
            let i = (key_hash(&k) >> self.shift) as usize;
            let p = self.slots.as_ptr().wrapping_add(i) as *const i8;
            // SAFETY: a prefetch is only a hint; it never faults, whatever the address (and
            // `i` is in bounds anyway).
            unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = psn_no;
    }
}

/// Disease key aliases (policy files may add the platform's own codes, CONTRACT.md §5).
pub type Aliases = HashMap<String, Disease>;

fn disease_of(key: &str, aliases: &Aliases) -> Option<Disease> {
    Disease::parse(key).or_else(|| aliases.get(key).copied())
}

/// S-09: a main diagnosis E70.0 / E70.1 selects phenylketonuria.
fn is_pku_diagnosis(codg: &str) -> bool {
    let c = codg.trim().to_ascii_uppercase();
    c.starts_with("E70.0") || c.starts_with("E70.1")
}

fn claim_row<B: Batch + ?Sized>(
    b: &B,
    row: usize,
    file: u16,
    persons: &PersonIndex,
    rejected_persons: &HashMap<String, String>,
    aliases: &Aliases,
    strings: &mut Strings,
) -> RowResult<Claim> {
    if let Some(e) = b.row_error(row) {
        return Err(("bad_value", e));
    }
    let text = |col: usize| b.cell(row, col).text();
    let setl_id = text(0).ok_or(("missing_value", "column setl_id is empty".to_string()))?;
    let psn_no = text(1).ok_or(("missing_value", "column psn_no is empty".to_string()))?;
    let mdtrt_id = text(2).ok_or(("missing_value", "column mdtrt_id is empty".to_string()))?;
    let setl_time = need(b.cell(row, 3).datetime(), "setl_time", "a datetime like 2026-03-01 08:30:00")?;
    let med_type = code(b, row, 4, MedType::parse, MedType::expected)?.ok_or(("missing_value", "column med_type is empty".to_string()))?;
    let money = |col: usize| need(b.cell(row, col).money(), CLAIM_COLUMNS[col], "an amount like 1234.50");
    let (medfee, fulamt, overlmt, presel, inscp) = (money(5)?, money(6)?, money(7)?, money(8)?, money(9)?);
    let reversal = opt(b.cell(row, 16).flag(), "refd_setl_flag")?.unwrap_or(false);
    for (col, v) in [(5, medfee), (6, fulamt), (7, overlmt), (8, presel), (9, inscp)] {
        if reversal && v.is_positive() {
            return Err((
                "bad_sign",
                format!("column {}: {v} is positive on a reversal row (refd_setl_flag = 1); amounts must be ≤ 0", CLAIM_COLUMNS[col]),
            ));
        }
        if !reversal && v.is_negative() {
            return Err((
                "bad_sign",
                format!("column {}: {v} is negative; amounts must be ≥ 0 except on reversal rows (refd_setl_flag = 1)", CLAIM_COLUMNS[col]),
            ));
        }
    }
    let parts = fulamt + overlmt + presel + inscp;
    if parts != medfee {
        return Err((
            "amount_identity",
            format!(
                "medfee_sumamt {medfee} ≠ fulamt_ownpay_amt + overlmt_selfpay + preselfpay_amt + inscp_scp_amt = {fulamt} + {overlmt} + {presel} + {inscp} = {parts}"
            ),
        ));
    }
    let hosp_lv = match opt(b.cell(row, 10).integer(), "hosp_lv").map_err(|(_, m)| ("bad_value", m))? {
        Some(v @ 1..=3) => v as u8,
        Some(v) => return Err(("bad_value", format!("column hosp_lv: `{v}` is not 1, 2 or 3"))),
        None if med_type.0 == 41 => 0,
        None => return Err(("missing_value", format!("column hosp_lv is empty; required (1, 2 or 3) for med_type {}", med_type.0))),
    };
    let primary_care = opt(b.cell(row, 11).flag(), "primary_care")?.unwrap_or(false);
    let offsite = code(b, row, 15, Offsite::parse, Offsite::expected)?.unwrap_or(Offsite::Local);
    let drug_class = code(b, row, 14, DrugClass::parse, DrugClass::expected)?.unwrap_or(DrugClass::DualChannel);
    let mut disease = None;
    if med_type.0 == 14 {
        let dise_code = text(12);
        let from_code = dise_code.as_deref().and_then(|k| disease_of(k, aliases));
        let pku = text(13).is_some_and(|c| is_pku_diagnosis(&c));
        disease = if pku { Some(Disease::Pku) } else { from_code };
        if disease.is_none() {
            return Err((
                "unknown_code",
                match dise_code {
                    Some(k) => {
                        format!("column opsp_dise_code: `{k}` is not a known disease key (CONTRACT.md §5) and dise_codg is not E70.0/E70.1")
                    }
                    None => "med_type 14 needs opsp_dise_code (a disease key, CONTRACT.md §5) or dise_codg E70.0/E70.1".to_string(),
                },
            ));
        }
    }
    let init = text(17);
    if reversal && init.is_none() {
        return Err((
            "missing_value",
            "column init_setl_id is empty; a reversal (refd_setl_flag = 1) must name the settlement it cancels".into(),
        ));
    }
    let recorded_cells = [18, 19, 20, 21, 22].map(|c| opt(b.cell(row, c).money(), CLAIM_COLUMNS[c]));
    let mut rec = [None; 5];
    for (i, r) in recorded_cells.into_iter().enumerate() {
        rec[i] = r?;
    }
    let Some(psn) = persons.get(psn_no.as_ref()) else {
        return Err((
            "unknown_person",
            match rejected_persons.get(psn_no.as_ref()) {
                Some(why) => format!("person {psn_no} was rejected in the persons file: {why}"),
                None => format!("psn_no {psn_no} is not in the persons file"),
            },
        ));
    };
    let recorded = rec
        .iter()
        .any(Option::is_some)
        .then(|| Box::new(Recorded { hifp_pay: rec[0], hifob_pay: rec[1], hifmi_pay: rec[2], maf_pay: rec[3], psn_part_amt: rec[4] }));
    let setl_id = strings.push(&setl_id);
    let mdtrt_id = strings.push(&mdtrt_id);
    let init_setl_id = if reversal { init.map(|s| strings.push(&s)).unwrap_or(StrId::NONE) } else { StrId::NONE };
    Ok(Claim {
        setl_id,
        mdtrt_id,
        init_setl_id,
        psn,
        setl_time,
        medfee_sumamt: medfee,
        fulamt_ownpay_amt: fulamt,
        overlmt_selfpay: overlmt,
        preselfpay_amt: presel,
        inscp_scp_amt: inscp,
        med_type,
        hosp_lv,
        primary_care,
        offsite,
        drug_class,
        disease,
        reversal,
        original: NO_ORIGINAL,
        file,
        line: b.line(row) as u32,
        recorded,
    })
}

/// The claim columns of a Parquet batch in the usual physical types (text codes, Decimal(_, 2)
/// amounts, timestamps, integer flags, no recorded amounts), read column-wise. A row that
/// passes every check here gives the same claim as [`claim_row`]; any other row (a null, an
/// unknown code, a bad sign, an unknown person...) goes to [`claim_row`], which says why.
struct FastClaims<'b> {
    setl_id: &'b StringArray,
    psn_no: &'b StringArray,
    mdtrt_id: &'b StringArray,
    setl_time: (&'b Int64Array, i64),
    med_type: &'b StringArray,
    /// columns 5–9, scale 2
    money: [&'b Decimal128Array; 5],
    hosp_lv: Option<&'b StringArray>,
    primary_care: Option<&'b Int64Array>,
    opsp_dise_code: Option<&'b StringArray>,
    dise_codg: Option<&'b StringArray>,
    drug_class: Option<&'b StringArray>,
    offsite: Option<&'b StringArray>,
    refd_setl_flag: Option<&'b Int64Array>,
    init_setl_id: Option<&'b StringArray>,
}

/// A non-empty trimmed text cell (as [`super::cell::Cell::text`] for a text column).
#[inline]
fn text_at(a: &StringArray, row: usize) -> Option<&str> {
    if a.is_null(row) {
        return None;
    }
    let t = super::cell::trim(a.value(row));
    (!t.is_empty()).then_some(t)
}

/// A 0/1 flag of an integer column: `Some(None)` when empty, `None` when not 0 or 1.
#[inline]
fn flag_at(a: Option<&Int64Array>, row: usize) -> Option<Option<bool>> {
    match a {
        None => Some(None),
        Some(a) if a.is_null(row) => Some(None),
        Some(a) => match a.value(row) {
            0 => Some(Some(false)),
            1 => Some(Some(true)),
            _ => None,
        },
    }
}

impl<'b> FastClaims<'b> {
    fn new(b: &'b ParquetBatch) -> Option<FastClaims<'b>> {
        let text = |c: usize| match b.column(c) {
            ColRef::Text(a) => Some(a),
            _ => None,
        };
        let opt_text = |c: usize| match b.column(c) {
            ColRef::Text(a) => Some(Some(a)),
            ColRef::Absent => Some(None),
            _ => None,
        };
        let opt_int = |c: usize| match b.column(c) {
            ColRef::Int(a) => Some(Some(a)),
            ColRef::Absent => Some(None),
            _ => None,
        };
        let money = |c: usize| match b.column(c) {
            ColRef::Decimal(a, 2) => Some(a),
            _ => None,
        };
        if (18..=22).any(|c| !matches!(b.column(c), ColRef::Absent)) {
            return None;
        }
        Some(FastClaims {
            setl_id: text(0)?,
            psn_no: text(1)?,
            mdtrt_id: text(2)?,
            setl_time: match b.column(3) {
                ColRef::Timestamp(a, div) => (a, div),
                _ => return None,
            },
            med_type: text(4)?,
            money: [money(5)?, money(6)?, money(7)?, money(8)?, money(9)?],
            hosp_lv: opt_text(10)?,
            primary_care: opt_int(11)?,
            opsp_dise_code: opt_text(12)?,
            dise_codg: opt_text(13)?,
            drug_class: opt_text(14)?,
            offsite: opt_text(15)?,
            refd_setl_flag: opt_int(16)?,
            init_setl_id: opt_text(17)?,
        })
    }

    /// The claim of a row that is valid in every respect, else `None`.
    #[inline]
    fn claim(&self, row: usize, file: u16, line: u64, persons: &PersonIndex, aliases: &Aliases, strings: &mut Strings) -> Option<Claim> {
        let opt_text = |a: Option<&'b StringArray>| a.and_then(|a| text_at(a, row));
        let setl_id = text_at(self.setl_id, row)?;
        let psn_no = text_at(self.psn_no, row)?;
        let mdtrt_id = text_at(self.mdtrt_id, row)?;
        let (ts, div) = self.setl_time;
        if ts.is_null(row) {
            return None;
        }
        let setl_time = ts.value(row).div_euclid(div);
        let med_type = MedType::parse(text_at(self.med_type, row)?)?;
        let mut m = [Money::ZERO; 5];
        for (m, a) in m.iter_mut().zip(&self.money) {
            if a.is_null(row) {
                return None;
            }
            *m = Money::from_fen(i64::try_from(a.value(row)).ok()?);
        }
        let [medfee, fulamt, overlmt, presel, inscp] = m;
        let reversal = flag_at(self.refd_setl_flag, row)?.unwrap_or(false);
        if m.iter().any(|v| if reversal { v.is_positive() } else { v.is_negative() }) {
            return None;
        }
        if fulamt + overlmt + presel + inscp != medfee {
            return None;
        }
        let hosp_lv = match opt_text(self.hosp_lv) {
            Some(t) => match t.parse::<i64>() {
                Ok(v @ 1..=3) => v as u8,
                _ => return None,
            },
            None if med_type.0 == 41 => 0,
            None => return None,
        };
        let primary_care = flag_at(self.primary_care, row)?.unwrap_or(false);
        let offsite = match opt_text(self.offsite) {
            Some(t) => Offsite::parse(t)?,
            None => Offsite::Local,
        };
        let drug_class = match opt_text(self.drug_class) {
            Some(t) => DrugClass::parse(t)?,
            None => DrugClass::DualChannel,
        };
        let mut disease = None;
        if med_type.0 == 14 {
            let from_code = opt_text(self.opsp_dise_code).and_then(|k| disease_of(k, aliases));
            let pku = opt_text(self.dise_codg).is_some_and(is_pku_diagnosis);
            disease = Some(if pku { Disease::Pku } else { from_code? });
        }
        let init = opt_text(self.init_setl_id);
        if reversal && init.is_none() {
            return None;
        }
        let psn = persons.get(psn_no)?;
        let setl_id = strings.push(setl_id);
        let mdtrt_id = strings.push(mdtrt_id);
        let init_setl_id = if reversal { init.map(|s| strings.push(s)).unwrap_or(StrId::NONE) } else { StrId::NONE };
        Some(Claim {
            setl_id,
            mdtrt_id,
            init_setl_id,
            psn,
            setl_time,
            medfee_sumamt: medfee,
            fulamt_ownpay_amt: fulamt,
            overlmt_selfpay: overlmt,
            preselfpay_amt: presel,
            inscp_scp_amt: inscp,
            med_type,
            hosp_lv,
            primary_care,
            offsite,
            drug_class,
            disease,
            reversal,
            original: NO_ORIGINAL,
            file,
            line: line as u32,
            recorded: None,
        })
    }
}

/// Claims and rejects of consecutive input rows.
type Part = (ClaimTable, Vec<RejectRow>);

/// Validates a batch of claim rows in parallel; the parts are in row order.
fn claims_from_batch<B: Batch + ?Sized>(
    b: &B,
    file: u16,
    persons: &PersonIndex,
    rejected_persons: &HashMap<String, String>,
    aliases: &Aliases,
) -> Vec<Part> {
    const CHUNK: usize = 8192;
    let fast = b.as_parquet().and_then(FastClaims::new);
    (0..b.len().div_ceil(CHUNK))
        .into_par_iter()
        .map(|k| {
            let rows = k * CHUNK..((k + 1) * CHUNK).min(b.len());
            let mut t =
                ClaimTable { claims: Vec::with_capacity(rows.len()), strings: Strings::with_capacity(rows.len() * 2, rows.len() * 40) };
            let mut rejects = Vec::new();
            // How many rows ahead the person slot is prefetched.
            const AHEAD: usize = 8;
            let end = rows.end;
            for row in rows {
                if let Some(f) = &fast {
                    if row + AHEAD < end
                        && let Some(p) = text_at(f.psn_no, row + AHEAD)
                    {
                        persons.prefetch(p);
                    }
                    if let Some(c) = f.claim(row, file, b.line(row), persons, aliases, &mut t.strings) {
                        t.claims.push(c);
                        continue;
                    }
                }
                match claim_row(b, row, file, persons, rejected_persons, aliases, &mut t.strings) {
                    Ok(c) => t.claims.push(c),
                    Err((code, message)) => rejects.push(RejectRow {
                        file,
                        line: b.line(row),
                        setl_id: b.cell(row, 0).text().map(|s| s.into_owned()).unwrap_or_default(),
                        code,
                        message,
                    }),
                }
            }
            (t, rejects)
        })
        .collect()
}

/// All claims of the given files (CSV or Parquet, mixed), in file then row order.
pub struct ClaimsRead {
    pub table: ClaimTable,
    pub rejects: Vec<RejectRow>,
    /// rows read per file
    pub rows: Vec<u64>,
}

impl ClaimsRead {
    fn add(&mut self, parts: Vec<Part>) {
        for (t, r) in parts {
            self.table.append(t);
            self.rejects.extend(r);
        }
    }
}

pub fn read_claims(
    files: &[PathBuf],
    persons: &PersonTable,
    rejected_persons: &HashMap<String, String>,
    aliases: &Aliases,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ClaimsRead> {
    let inputs: Vec<Input> = files.iter().map(|p| Input::File(p.clone())).collect();
    read_claim_inputs(&inputs, persons, rejected_persons, aliases, progress)
}

/// [`read_claims`] from files or in-memory Arrow tables, validated the same way.
pub fn read_claim_inputs(
    inputs: &[Input],
    persons: &PersonTable,
    rejected_persons: &HashMap<String, String>,
    aliases: &Aliases,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ClaimsRead> {
    tune_allocator();
    let mut out = ClaimsRead { table: ClaimTable::default(), rejects: Vec::new(), rows: Vec::new() };
    let index = PersonIndex::new(persons);
    let persons = &index;
    // Generic over the batch type, so the cell accessors inline into the row checks.
    fn validate<B: Batch>(
        b: &B,
        file: u16,
        persons: &PersonIndex,
        rejected_persons: &HashMap<String, String>,
        aliases: &Aliases,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Vec<Part> {
        progress(b.len() as u64);
        claims_from_batch(b, file, persons, rejected_persons, aliases)
    }
    for (fi, input) in inputs.iter().enumerate() {
        let file = u16::try_from(fi).context("too many input files (at most 65535)")?;
        let mut rows = 0u64;
        // Decoding and validating the next rows runs alongside appending the previous ones
        // (the append is serial; it touches the final table's memory for the first time).
        let mut pending: Vec<Part> = Vec::new();
        let path = match input {
            Input::File(path) => path,
            Input::Arrow { name, batches } => {
                let mut first = 1u64;
                for batch in batches {
                    let b = arrow_batch(Path::new(name), batch, CLAIM_COLUMNS, CLAIM_REQUIRED, first)?;
                    first += b.len() as u64;
                    rows += b.len() as u64;
                    out.add(validate(&b, file, persons, rejected_persons, aliases, progress));
                }
                out.rows.push(rows);
                continue;
            }
        };
        if is_parquet(path) {
            let groups = parquet_row_groups(path)?;
            out.table.claims.reserve(groups.iter().map(|g| g.2 as usize).sum());
            // Row groups decode in parallel, a window at a time, joined in file order.
            for window in groups.chunks(rayon::current_num_threads().max(2)) {
                let (decoded, ()) = rayon::join(
                    || -> Result<Vec<Part>> {
                        let parts: Vec<Result<Vec<Part>>> = window
                            .par_iter()
                            .map(|&(g, first, _)| {
                                let mut parts = Vec::new();
                                read_parquet_group(path, CLAIM_COLUMNS, CLAIM_REQUIRED, g, first, |b| {
                                    parts.extend(validate(b, file, persons, rejected_persons, aliases, progress));
                                    Ok(())
                                })?;
                                Ok(parts)
                            })
                            .collect();
                        let mut all = Vec::new();
                        for p in parts {
                            all.extend(p?);
                        }
                        Ok(all)
                    },
                    || out.add(std::mem::take(&mut pending)),
                );
                pending = decoded?;
                rows += window.iter().map(|g| g.2).sum::<u64>();
            }
        } else {
            // The CSV text is parsed on its own thread while the previous batch is validated.
            std::thread::scope(|s| -> Result<()> {
                let (tx, rx) = std::sync::mpsc::sync_channel::<CsvBatch>(1);
                let parser = s.spawn(move || {
                    read_csv(path, CLAIM_COLUMNS, CLAIM_REQUIRED, 64 * 1024, |b| {
                        // A closed channel means the reader stopped on an error of its own.
                        let _ = tx.send(b);
                        Ok(())
                    })
                });
                for b in rx {
                    rows += b.len() as u64;
                    let (parts, ()) = rayon::join(
                        || validate(&b, file, persons, rejected_persons, aliases, progress),
                        || out.add(std::mem::take(&mut pending)),
                    );
                    pending = parts;
                }
                parser.join().map_err(|_| anyhow::anyhow!("{}: the CSV reader thread failed", path.display()))?
            })?;
        }
        out.add(pending);
        out.rows.push(rows);
    }
    Ok(out)
}

fn person_row(b: &dyn Batch, row: usize) -> RowResult<Person> {
    if let Some(e) = b.row_error(row) {
        return Err(("bad_value", e));
    }
    let col = |c: usize| b.cell(row, c);
    let psn_no = col(0).text().ok_or(("missing_value", "column psn_no is empty".to_string()))?.into_owned();
    let pcode = |c: usize, parse: &dyn Fn(&str) -> bool, expected: fn() -> String| -> RowResult<Option<String>> {
        match col(c).text() {
            None => Ok(None),
            Some(t) if parse(&t) => Ok(Some(t.into_owned())),
            Some(t) => Err(("unknown_code", format!("column {}: `{t}` is not one of {}", PERSON_COLUMNS[c], expected()))),
        }
    };
    let insutype = pcode(1, &|t| Scheme::parse(t).is_some(), Scheme::expected)?
        .ok_or(("missing_value", "column insutype is empty; expected 310 or 390".to_string()))?;
    let insutype = Scheme::parse(&insutype).unwrap_or(Scheme::Resident);
    let psn_type = pcode(2, &|t| PsnType::parse(t).is_some(), PsnType::expected)?
        .ok_or(("missing_value", format!("column psn_type is empty; expected one of {}", PsnType::expected())))?;
    let psn_type = PsnType::parse(&psn_type).unwrap_or(PsnType::Elderly);
    let brdy = need(col(3).date(), "brdy", "a date like 1960-05-01")?;
    let district = pcode(4, &|t| District::parse(t).is_some(), District::expected)?.and_then(|t| District::parse(&t));
    if insutype == Scheme::Resident && district.is_none() {
        return Err((
            "missing_value",
            format!("column district is empty; required for residents (insutype 390): one of {}", District::expected()),
        ));
    }
    let assistance = pcode(5, &|t| Assistance::parse(t).is_some(), Assistance::expected)?
        .and_then(|t| Assistance::parse(&t))
        .unwrap_or(Assistance::None);
    // S-07: known keys, each once; unknown keys are not approvals.
    let mut chronic: Vec<Disease> =
        col(6).text().map(|t| t.split(';').filter_map(|k| Disease::parse(k.trim())).collect()).unwrap_or_default();
    chronic.sort();
    chronic.dedup();
    let consecutive_years = opt(col(7).integer(), "consecutive_years")?.unwrap_or(0);
    if !(0..=200).contains(&consecutive_years) {
        return Err(("bad_value", format!("column consecutive_years: {consecutive_years} is not a count of years")));
    }
    Ok(Person {
        psn_no,
        insutype,
        psn_type,
        brdy,
        district,
        assistance,
        chronic_diseases: chronic,
        consecutive_years: consecutive_years as u32,
        prior_zero_claim: opt(col(8).flag(), "prior_zero_claim")?.unwrap_or(false),
        benefit_begn: opt(col(9).date(), "benefit_begn")?,
        transplant_date: opt(col(10).date(), "transplant_date")?,
        contribution_base: opt(col(11).money(), "contribution_base")?,
        flexible: opt(col(12).flag(), "flexible")?.unwrap_or(false),
    })
}

/// The persons file, with its rejected rows and the reasons by psn_no.
pub struct PersonsRead {
    pub table: PersonTable,
    pub rejects: Vec<RejectRow>,
    pub rejected: HashMap<String, String>,
    pub rows: u64,
}

pub fn read_persons(path: &Path, file: u16) -> Result<PersonsRead> {
    read_persons_input(&Input::File(path.to_path_buf()), file)
}

/// [`read_persons`] from a file or an in-memory Arrow table.
pub fn read_persons_input(input: &Input, file: u16) -> Result<PersonsRead> {
    tune_allocator();
    let mut out = PersonsRead { table: PersonTable::default(), rejects: Vec::new(), rejected: HashMap::new(), rows: 0 };
    let mut handle = |b: &dyn Batch| -> Result<()> {
        // Rows are parsed in parallel, then indexed in order (the first of a psn_no wins).
        let parsed: Vec<RowResult<Person>> = (0..b.len()).into_par_iter().with_min_len(1024).map(|row| person_row(b, row)).collect();
        out.table.persons.reserve(b.len());
        out.table.index.reserve(b.len());
        for (row, parsed) in parsed.into_iter().enumerate() {
            out.rows += 1;
            let line = b.line(row);
            match parsed {
                Ok(p) => {
                    let idx = out.table.persons.len() as u32;
                    let std::collections::hash_map::Entry::Vacant(slot) = out.table.index.entry(p.psn_no.clone()) else {
                        out.rejects.push(RejectRow {
                            file,
                            line,
                            setl_id: String::new(),
                            code: "duplicate_psn_no",
                            message: format!("psn_no {} appears earlier in the persons file; the first row is kept", p.psn_no),
                        });
                        continue;
                    };
                    slot.insert(idx);
                    if p.psn_type.scheme() != p.insutype {
                        let msg =
                            format!("psn_type {} belongs to insutype {}, but the row says {}", p.psn_type, p.psn_type.scheme(), p.insutype);
                        out.rejects.push(RejectRow {
                            file,
                            line,
                            setl_id: String::new(),
                            code: "person_scheme_mismatch",
                            message: format!("person {}: {msg}", p.psn_no),
                        });
                        out.table.invalid.insert(idx, msg);
                    }
                    out.table.persons.push(p);
                }
                Err((code, message)) => {
                    let psn = b.cell(row, 0).text().map(|s| s.into_owned()).unwrap_or_default();
                    if !psn.is_empty() {
                        out.rejected.entry(psn.clone()).or_insert_with(|| format!("line {line}: {message}"));
                    }
                    out.rejects.push(RejectRow { file, line, setl_id: String::new(), code, message: format!("person {psn}: {message}") });
                }
            }
        }
        Ok(())
    };
    match input {
        Input::File(path) if is_parquet(path) => {
            for (g, first, _) in parquet_row_groups(path)? {
                read_parquet_group(path, PERSON_COLUMNS, PERSON_REQUIRED, g, first, |b| handle(b))?;
            }
        }
        Input::File(path) => read_csv(path, PERSON_COLUMNS, PERSON_REQUIRED, 64 * 1024, |b| handle(&b))?,
        Input::Arrow { name, batches } => {
            let mut first = 1u64;
            for batch in batches {
                let b = arrow_batch(Path::new(name), batch, PERSON_COLUMNS, PERSON_REQUIRED, first)?;
                first += b.len() as u64;
                handle(&b)?;
            }
        }
    }
    Ok(out)
}

/// Aliases from every policy of the run.
pub fn aliases_of(policies: &crate::policy::PolicySet) -> Aliases {
    let mut m: BTreeMap<String, Disease> = BTreeMap::new();
    for p in &policies.policies {
        for (k, d) in &p.policy.aliases {
            m.insert(k.clone(), *d);
        }
    }
    m.into_iter().collect()
}
