//! The row rules: one claims row or one persons row becomes a model value or a [`Refusal`]
//! (CONTRACT.md §1–2, RULES.md S-23, S-24, S-27). Written once over [`Batch`], so CSV text
//! cells and typed Arrow columns pass exactly the same checks.

use super::Batch;
use super::arrow::ArrowBatch;
use super::columns::{CLAIMS, PERSONS};
use super::reject::{Refusal, RejectCode as R, RejectRow};
use crate::model::*;
use anyhow::Result;
use arrow::array::RecordBatch;
use rayon::prelude::*;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

/// The plausibility bound of one amount: 100,000,000.00 yuan in fen (CONTRACT.md §1). No
/// single claim comes near it; with it, any sum over a run (at most 2^32 claims) stays far
/// inside an `i64` of fen (2^32 × 10^10 < 9.2 × 10^18), so totals can never wrap.
pub const MAX_AMOUNT_FEN: i128 = 10_000_000_000;

/// Longest identifier (CONTRACT.md §1).
pub const MAX_ID_LEN: usize = 64;

// Positions in [`CLAIMS`].
const C_SETL_ID: usize = 0;
const C_PSN_NO: usize = 1;
const C_MDTRT_ID: usize = 2;
const C_SETL_TIME: usize = 3;
const C_MED_TYPE: usize = 4;
const C_AMOUNTS: [usize; 5] = [5, 6, 7, 8, 9];
const C_HOSP_LV: usize = 10;
const C_PRIMARY_CARE: usize = 11;
const C_OPSP_DISE_CODE: usize = 12;
const C_DISE_CODG: usize = 13;
const C_DRUG_CLASS: usize = 14;
const C_OFFSITE: usize = 15;
const C_REFD_SETL_FLAG: usize = 16;
const C_INIT_SETL_ID: usize = 17;
const C_RECORDED: [usize; 5] = [18, 19, 20, 21, 22];
const C_RARE_FUND_PAY: usize = 23;
const C_OTH_PAY: usize = 24;

/// An identifier of the contract: 1–64 of `A-Z a-z 0-9 - _ .`, not starting with a
/// spreadsheet formula trigger (`=`, `+`, `-`, `@`).
pub fn is_valid_id(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=MAX_ID_LEN).contains(&b.len())
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && !matches!(b[0], b'=' | b'+' | b'-' | b'@')
}

/// A short, safe rendering of a bad value for a message (no megabytes, no control bytes).
fn shown(s: &str) -> String {
    let cut: String = s.chars().take(24).collect();
    let more = if cut.len() < s.len() { format!("… ({} bytes)", s.len()) } else { String::new() };
    format!("{:?}{more}", cut)
}

fn id<'c>(v: Option<Cow<'c, str>>, col: &str, what: &str) -> Result<Cow<'c, str>, Refusal> {
    let v = v.ok_or_else(|| (R::MissingValue, format!("column {col} is empty; expected {what}")))?;
    if !is_valid_id(&v) {
        return Err((
            R::BadIdentifier,
            format!("column {col}: {} is not an identifier (1–64 letters, digits, - _ . ; not starting with = + - @)", shown(&v)),
        ));
    }
    Ok(v)
}

fn need<T>(v: Result<Option<T>, String>, col: &str, what: &str) -> Result<T, Refusal> {
    match v {
        Ok(Some(x)) => Ok(x),
        Ok(None) => Err((R::MissingValue, format!("column {col} is empty; expected {what}"))),
        Err(e) => Err((R::BadValue, format!("column {col}: {e}"))),
    }
}

fn opt<T>(v: Result<Option<T>, String>, col: &str) -> Result<Option<T>, Refusal> {
    v.map_err(|e| (R::BadValue, format!("column {col}: {e}")))
}

/// The amount in column `c` of a row, exact and within [`MAX_AMOUNT_FEN`] (`col` names it).
fn money<B: Batch + ?Sized>(b: &B, row: usize, c: usize, col: &str) -> Result<Option<Money>, Refusal> {
    match opt(b.money_fen(row, c), col)? {
        None => Ok(None),
        Some(f) if f.abs() <= MAX_AMOUNT_FEN => Ok(Some(Money::from_fen(f as i64))),
        Some(_) => Err((
            R::AmountOutOfRange,
            format!(
                "column {col}: {} is beyond the plausible ±100000000.00 yuan of one claim",
                b.cell(row, c).text().map(|t| shown(&t)).unwrap_or_default()
            ),
        )),
    }
}

fn need_money<B: Batch + ?Sized>(b: &B, row: usize, c: usize, col: &str) -> Result<Money, Refusal> {
    money(b, row, c, col)?.ok_or_else(|| (R::MissingValue, format!("column {col} is empty; expected an amount like 1234.50")))
}

/// A coded cell's text; `expected` (the accepted codes) is only built for the error message.
fn code<T, E: std::fmt::Display>(
    text: Option<Cow<str>>,
    col: &str,
    parse: impl Fn(&str) -> Option<T>,
    expected: impl Fn() -> E,
) -> Result<Option<T>, Refusal> {
    match text {
        None => Ok(None),
        Some(t) => parse(&t).map(Some).ok_or_else(|| (R::UnknownCode, format!("column {col}: {} is not one of {}", shown(&t), expected()))),
    }
}

/// Disease key aliases (policy files may add the platform's own codes, CONTRACT.md §5).
pub type Aliases = HashMap<String, Disease>;

fn disease_of(key: &str, aliases: &Aliases) -> Option<Disease> {
    Disease::parse(key).or_else(|| aliases.get(key).copied())
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

/// S-09: a main diagnosis E70.0 / E70.1 selects phenylketonuria.
fn is_pku_diagnosis(codg: &str) -> bool {
    let c = codg.trim().to_ascii_uppercase();
    c.starts_with("E70.0") || c.starts_with("E70.1")
}

/// Everything a claims row is checked against.
pub struct ClaimIntake<'a> {
    persons: PersonIndex<'a>,
    rejected_persons: &'a HashMap<String, String>,
    aliases: &'a Aliases,
}

/// Claims and rejects of consecutive input rows.
pub type Part = (ClaimTable, Vec<RejectRow>);

impl<'a> ClaimIntake<'a> {
    pub fn new(persons: &'a PersonsRead, aliases: &'a Aliases) -> ClaimIntake<'a> {
        ClaimIntake { persons: PersonIndex::new(&persons.table), rejected_persons: &persons.rejected, aliases }
    }

    /// The one entry point for Arrow data, from a file or from memory: the rows of `batch`
    /// (columns found by name), numbered from `first_record`, as claims and rejects of input
    /// file `file`. A column of the wrong type is an error naming it (`source` names the input).
    pub fn arrow(&self, batch: &RecordBatch, file: u16, first_record: u64, source: &str) -> Result<Vec<Part>> {
        Ok(self.rows(&ArrowBatch::new(batch, CLAIMS, first_record, source)?, file))
    }

    /// Checks a batch of claims rows in parallel; the parts are in row order.
    pub fn rows<B: Batch>(&self, b: &B, file: u16) -> Vec<Part> {
        const CHUNK: usize = 8192;
        (0..b.len().div_ceil(CHUNK))
            .into_par_iter()
            .map(|k| {
                let rows = k * CHUNK..((k + 1) * CHUNK).min(b.len());
                let mut t = ClaimTable::with_capacity(rows.len());
                let mut rejects = Vec::new();
                // How many rows ahead the person slot is prefetched.
                const AHEAD: usize = 8;
                let end = rows.end;
                for row in rows {
                    if row + AHEAD < end
                        && let Some(p) = b.text(row + AHEAD, C_PSN_NO)
                    {
                        self.persons.prefetch(&p);
                    }
                    match self.claim(b, row, file, &mut t.strings) {
                        Ok((c, beside)) => t.push(c, beside),
                        Err((code, message)) => rejects.push(RejectRow {
                            file,
                            line: b.line(row),
                            setl_id: b.cell(row, C_SETL_ID).text().filter(|s| is_valid_id(s)).map(Cow::into_owned).unwrap_or_default(),
                            code,
                            message,
                        }),
                    }
                }
                (t, rejects)
            })
            .collect()
    }

    /// One claims row (CONTRACT.md §1).
    fn claim<B: Batch>(&self, b: &B, row: usize, file: u16, strings: &mut Strings) -> Result<(Claim, Beside), Refusal> {
        if let Some(e) = b.row_error(row) {
            return Err(e);
        }
        let cell = |col: usize| b.cell(row, col);
        let text = |col: usize| b.text(row, col);
        let name = |col: usize| CLAIMS[col].name;
        let setl_id = id(text(C_SETL_ID), "setl_id", "a settlement id")?;
        let psn_no = id(text(C_PSN_NO), "psn_no", "a person number")?;
        let mdtrt_id = id(text(C_MDTRT_ID), "mdtrt_id", "a visit id")?;
        let setl_time = need(cell(C_SETL_TIME).datetime(), "setl_time", "a datetime like 2026-03-01 08:30:00")?;
        let med_type = code(text(C_MED_TYPE), "med_type", MedType::parse, MedType::expected)?
            .ok_or_else(|| (R::MissingValue, "column med_type is empty".to_string()))?;
        let [medfee, fulamt, overlmt, presel, inscp] = C_AMOUNTS.map(|c| need_money(b, row, c, name(c)));
        let (medfee, fulamt, overlmt, presel, inscp) = (medfee?, fulamt?, overlmt?, presel?, inscp?);
        let reversal = opt(b.flag(row, C_REFD_SETL_FLAG), "refd_setl_flag")?.unwrap_or(false);
        let rare_fund_pay = money(b, row, C_RARE_FUND_PAY, "rare_fund_pay")?.unwrap_or(Money::ZERO);
        for (col, v) in C_AMOUNTS.iter().zip([medfee, fulamt, overlmt, presel, inscp]).chain([(&C_RARE_FUND_PAY, rare_fund_pay)]) {
            if reversal && v.is_positive() {
                return Err((
                    R::BadSign,
                    format!("column {}: {v} is positive on a reversal row (refd_setl_flag = 1); amounts must be ≤ 0", name(*col)),
                ));
            }
            if !reversal && v.is_negative() {
                return Err((
                    R::BadSign,
                    format!("column {}: {v} is negative; amounts must be ≥ 0 except on reversal rows (refd_setl_flag = 1)", name(*col)),
                ));
            }
        }
        // Each part is within ±10^10 fen (MAX_AMOUNT_FEN), so the sum cannot overflow.
        let parts = fulamt + overlmt + presel + inscp;
        if parts != medfee {
            return Err((
                R::AmountIdentity,
                format!(
                    "medfee_sumamt {medfee} ≠ fulamt_ownpay_amt + overlmt_selfpay + preselfpay_amt + inscp_scp_amt = {fulamt} + {overlmt} + {presel} + {inscp} = {parts}"
                ),
            ));
        }
        // D-28: pharmacy purchases (41) and dual-channel/rare drugs (15) need no facility level.
        let hosp_lv = match opt(cell(C_HOSP_LV).integer(), "hosp_lv")? {
            Some(v @ 1..=3) => v as u8,
            Some(v) => return Err((R::BadValue, format!("column hosp_lv: `{v}` is not 1, 2 or 3"))),
            None if matches!(med_type.0, 41 | 15) => 0,
            None => return Err((R::MissingValue, format!("column hosp_lv is empty; required (1, 2 or 3) for med_type {}", med_type.0))),
        };
        let primary_care = opt(b.flag(row, C_PRIMARY_CARE), "primary_care")?.unwrap_or(false);
        let offsite = code(text(C_OFFSITE), "offsite", Offsite::parse, Offsite::expected)?.unwrap_or(Offsite::Local);
        let drug_class = code(text(C_DRUG_CLASS), "drug_class", DrugClass::parse, DrugClass::expected)?.unwrap_or(DrugClass::DualChannel);
        let rare_drug = Claim::is_rare_drug(med_type, drug_class);
        if !rare_fund_pay.is_zero() && !rare_drug {
            return Err((
                R::RareFundPayNotRareDrug,
                format!(
                    "column rare_fund_pay: {rare_fund_pay} on a med_type {} claim with drug_class {drug_class}; only med_type 15 with drug_class rare is paid by the rare-disease drug fund (RULES.md S-27)",
                    med_type.0
                ),
            ));
        }
        let mut disease = None;
        if med_type.0 == 14 {
            let dise_code = text(C_OPSP_DISE_CODE);
            let from_code = dise_code.as_deref().and_then(|k| disease_of(k, self.aliases));
            let pku = text(C_DISE_CODG).is_some_and(|c| is_pku_diagnosis(&c));
            disease = if pku { Some(Disease::Pku) } else { from_code };
            if disease.is_none() {
                return Err((
                    R::UnknownCode,
                    match dise_code {
                        Some(k) => format!(
                            "column opsp_dise_code: {} is not a known disease key (docs/contract.md) and dise_codg is not E70.0/E70.1",
                            shown(&k)
                        ),
                        None => "med_type 14 needs opsp_dise_code (a disease key, docs/contract.md) or dise_codg E70.0/E70.1".to_string(),
                    },
                ));
            }
        }
        let init = match text(C_INIT_SETL_ID) {
            None => None,
            v => Some(id(v, "init_setl_id", "")?),
        };
        if reversal && init.is_none() {
            return Err((
                R::MissingValue,
                "column init_setl_id is empty; a reversal (refd_setl_flag = 1) must name the settlement it cancels".into(),
            ));
        }
        let mut rec = [None; 5];
        for (r, c) in rec.iter_mut().zip(C_RECORDED) {
            *r = money(b, row, c, name(c))?;
        }
        let rec_oth_pay = money(b, row, C_OTH_PAY, "oth_pay")?;
        let Some(psn) = self.persons.get(&psn_no) else {
            return Err((
                R::UnknownPerson,
                match self.rejected_persons.get(psn_no.as_ref()) {
                    Some(why) => format!("person {psn_no} was rejected in the persons file: {why}"),
                    None => format!("psn_no {psn_no} is not in the persons file"),
                },
            ));
        };
        let recorded = rec.iter().any(Option::is_some).then_some(Recorded {
            hifp_pay: rec[0],
            hifob_pay: rec[1],
            hifmi_pay: rec[2],
            maf_pay: rec[3],
            psn_part_amt: rec[4],
            oth_pay: rec_oth_pay,
        });
        let setl_id = strings.push(&setl_id);
        let mdtrt_id = strings.push(&mdtrt_id);
        let init_setl_id = if reversal { init.map(|s| strings.push(&s)) } else { None };
        let claim = Claim {
            setl_id,
            mdtrt_id,
            psn,
            setl_time,
            fulamt_ownpay_amt: fulamt,
            overlmt_selfpay: overlmt,
            preselfpay_amt: presel,
            inscp_scp_amt: inscp,
            med_type,
            level: Claim::level_of(hosp_lv, primary_care),
            offsite,
            drug_class,
            disease,
            reversal,
            file,
            line: u32::try_from(b.line(row)).unwrap_or(u32::MAX),
        };
        Ok((claim, Beside { rare_fund_pay, init_setl_id, recorded }))
    }
}

/// All claims of the given inputs, in file then row order.
#[derive(Default)]
pub struct ClaimsRead {
    pub table: ClaimTable,
    pub rejects: Vec<RejectRow>,
    /// rows read per file
    pub rows: Vec<u64>,
}

impl ClaimsRead {
    pub fn add(&mut self, parts: Vec<Part>) {
        for (t, r) in parts {
            self.table.append(t);
            self.rejects.extend(r);
        }
    }
}

/// One persons row (CONTRACT.md §2).
fn person_row(b: &dyn Batch, row: usize, aliases: &Aliases) -> Result<Person, Refusal> {
    if let Some(e) = b.row_error(row) {
        return Err(e);
    }
    let col = |c: usize| b.cell(row, c);
    let psn_no = compact_str::CompactString::new(id(col(0).text(), "psn_no", "a person number")?);
    let insutype = code(col(1).text(), "insutype", Scheme::parse, Scheme::expected)?
        .ok_or_else(|| (R::MissingValue, "column insutype is empty; expected 310 or 390".to_string()))?;
    let psn_type = code(col(2).text(), "psn_type", PsnType::parse, PsnType::expected)?
        .ok_or_else(|| (R::MissingValue, format!("column psn_type is empty; expected one of {}", PsnType::expected())))?;
    let brdy = need(col(3).date(), "brdy", "a date like 1960-05-01")?;
    let district = code(col(4).text(), "district", District::parse, District::expected)?;
    if insutype == Scheme::Resident && district.is_none() {
        return Err((
            R::MissingValue,
            format!("column district is empty; required for residents (insutype 390): one of {}", District::expected()),
        ));
    }
    let assistance = code(col(5).text(), "assistance", Assistance::parse, Assistance::expected)?.unwrap_or(Assistance::None);
    // S-07: known keys (or a policy's aliases), each once; an unknown key is refused, since
    // silently dropping it would deny an approved benefit.
    let mut chronic = DiseaseSet::default();
    if let Some(t) = col(6).text() {
        for k in t.split(';').map(str::trim).filter(|k| !k.is_empty()) {
            chronic.insert(disease_of(k, aliases).ok_or_else(|| {
                (R::UnknownCode, format!("column chronic_diseases: {} is not a known disease key (docs/contract.md)", shown(k)))
            })?);
        }
    }
    let consecutive_years = opt(col(7).integer(), "consecutive_years")?.unwrap_or(0);
    if !(0..=200).contains(&consecutive_years) {
        return Err((R::BadValue, format!("column consecutive_years: {consecutive_years} is not a count of years")));
    }
    Ok(Person {
        psn_no,
        insutype,
        psn_type,
        brdy,
        district,
        assistance,
        chronic_diseases: chronic,
        consecutive_years: consecutive_years as u8,
        prior_zero_claim: opt(col(8).flag(), "prior_zero_claim")?.unwrap_or(false),
        benefit_begn: opt(col(9).date(), "benefit_begn")?,
        transplant_date: opt(col(10).date(), "transplant_date")?,
        // within ±10^10 fen (`money`), never the amount that stands for none
        contribution_base: OptMoney::new(money(b, row, 11, "contribution_base")?).unwrap_or(OptMoney::NONE),
        flexible: opt(col(12).flag(), "flexible")?.unwrap_or(false),
    })
}

/// The persons file, with its rejected rows and the reasons by psn_no.
#[derive(Default)]
pub struct PersonsRead {
    pub table: PersonTable,
    pub rejects: Vec<RejectRow>,
    pub rejected: HashMap<String, String>,
    pub rows: u64,
    /// Read only these persons (psn_no, trimmed): the rows of others are counted, not checked
    /// (a nightly run reads the persons its claims name).
    pub only: Option<std::collections::HashSet<String>>,
    /// The rows checked and not yet in the table, in row order, with their files and lines:
    /// [`PersonsRead::finish`] adds them all at once (the table's index is built in parallel).
    pending: Vec<Person>,
    pending_at: Vec<(u16, u64)>,
}

impl PersonsRead {
    /// Room for `n` more persons (a hint).
    pub fn reserve(&mut self, n: usize) {
        if self.pending.try_reserve(n).is_ok() {
            let _ = self.pending_at.try_reserve(n);
        }
    }

    /// After the last batch: the rows read go into the table in row order (the first row of a
    /// psn_no wins; a repeat is rejected), each person whose psn_type and insutype disagree is
    /// marked invalid with a reject (RULES.md S-23), and the rejects are in row order.
    pub fn finish(&mut self) {
        let persons = std::mem::take(&mut self.pending);
        let at = std::mem::take(&mut self.pending_at);
        if persons.is_empty() {
            return;
        }
        let base = self.table.len();
        let given_back = self.table.extend(persons);
        let reject = |(file, line): (u16, u64), code, message| RejectRow { file, line, setl_id: String::new(), code, message };
        for (k, p) in &given_back {
            let msg = if base + k < u32::MAX as usize {
                format!("psn_no {} appears earlier in the persons file; the first row is kept", p.psn_no)
            } else {
                format!("psn_no {}: more persons than a run can hold (4,294,967,295)", p.psn_no)
            };
            self.rejects.push(reject(at[*k], R::DuplicatePsnNo, msg));
        }
        // The file and line of each person kept.
        let kept_at: Vec<(u16, u64)> = if given_back.is_empty() {
            at
        } else {
            let mut back = given_back.iter().map(|(k, _)| *k).peekable();
            at.into_iter().enumerate().filter(|(k, _)| back.next_if_eq(k).is_none()).map(|(_, a)| a).collect()
        };
        let mismatched: Vec<(usize, String)> = self.table.persons[base..]
            .par_iter()
            .enumerate()
            .filter(|(_, p)| p.psn_type.scheme() != p.insutype)
            .map(|(k, p)| {
                (k, format!("psn_type {} belongs to insutype {}, but the row says {}", p.psn_type, p.psn_type.scheme(), p.insutype))
            })
            .collect();
        for (k, msg) in mismatched {
            let p = &self.table.persons[base + k];
            self.rejects.push(reject(kept_at[k], R::PersonSchemeMismatch, format!("person {}: {msg}", p.psn_no)));
            self.table.invalid.insert((base + k) as u32, msg);
        }
        // One reject a row at most: ordered by row, they are in the order of the rows.
        self.rejects.sort_by_key(|r| (r.file, r.line));
    }
}

/// Which rows of a batch holding the persons' psn_no column name a person of `only` (the
/// persons a nightly run reads), by the same reading of psn_no as [`read_person_batch`].
pub fn named_persons(batch: &RecordBatch, first_record: u64, source: &str, only: &std::collections::HashSet<String>) -> Result<Vec<bool>> {
    let b = ArrowBatch::new(batch, &PERSONS[..1], first_record, source)?;
    Ok((0..b.len()).map(|row| b.cell(row, 0).text().is_some_and(|t| only.contains(t.as_ref()))).collect())
}

/// Each persons row of a batch checked (in parallel); `None` for a row not wanted.
type CheckedPersons = Vec<Option<Result<Person, Refusal>>>;

fn check_persons(b: &dyn Batch, only: Option<&std::collections::HashSet<String>>, aliases: &Aliases) -> CheckedPersons {
    let wanted = |row: usize| only.is_none_or(|o| b.cell(row, 0).text().is_some_and(|t| o.contains(t.as_ref())));
    (0..b.len()).into_par_iter().with_min_len(1024).map(|row| wanted(row).then(|| person_row(b, row, aliases))).collect()
}

/// Reads a batch of persons rows (in order; the first row of a psn_no wins) and keeps them
/// for [`PersonsRead::finish`], which adds them to the table after the last batch.
pub fn read_person_batch(out: &mut PersonsRead, b: &dyn Batch, file: u16, aliases: &Aliases) {
    let parsed = check_persons(b, out.only.as_ref(), aliases);
    let whole = out.only.is_none();
    add_persons(out, b, parsed, file, whole);
}

/// Keeps the checked rows of batch `b` in row order for [`PersonsRead::finish`], with the
/// rejects of rows that do not read (`whole`: every row is wanted, so room is made for them
/// all).
fn add_persons(out: &mut PersonsRead, b: &dyn Batch, parsed: CheckedPersons, file: u16, whole: bool) {
    if whole {
        out.reserve(b.len());
    }
    for (row, parsed) in parsed.into_iter().enumerate() {
        out.rows += 1;
        let Some(parsed) = parsed else { continue };
        let line = b.line(row);
        match parsed {
            Ok(p) => {
                out.pending.push(p);
                out.pending_at.push((file, line));
            }
            Err((code, message)) => {
                let psn = b.cell(row, 0).text().filter(|s| is_valid_id(s)).map(Cow::into_owned).unwrap_or_default();
                if !psn.is_empty() {
                    out.rejected.entry(psn.clone()).or_insert_with(|| format!("line {line}: {message}"));
                }
                out.rejects.push(RejectRow { file, line, setl_id: String::new(), code, message: format!("person {psn}: {message}") });
            }
        }
    }
}

/// Persons record batches read as they come: each batch is checked (in parallel) while the
/// previous one's rows are kept (serially, in row order). [`PersonBatches::finish`] keeps the
/// last one's; [`PersonsRead::finish`] then adds them all to the table.
pub struct PersonBatches<'o> {
    out: &'o mut PersonsRead,
    /// the persons to keep ([`PersonsRead::only`], held here while the batches come)
    only: Option<std::collections::HashSet<String>>,
    file: u16,
    aliases: &'o Aliases,
    pending: Option<(ArrowBatch, CheckedPersons)>,
}

impl<'o> PersonBatches<'o> {
    pub fn new(out: &'o mut PersonsRead, file: u16, aliases: &'o Aliases) -> PersonBatches<'o> {
        let only = out.only.take();
        PersonBatches { out, only, file, aliases, pending: None }
    }

    /// The rows of `batch`, numbered from `first_record` (`source` names the input).
    pub fn push(&mut self, batch: &RecordBatch, first_record: u64, source: &str) -> Result<()> {
        let next = ArrowBatch::new(batch, PERSONS, first_record, source)?;
        let PersonBatches { out, only, file, aliases, pending } = self;
        let whole = only.is_none();
        let (checked, ()) = rayon::join(
            || check_persons(&next, only.as_ref(), aliases),
            || {
                if let Some((b, checked)) = pending.take() {
                    add_persons(out, &b, checked, *file, whole);
                }
            },
        );
        *pending = Some((next, checked));
        Ok(())
    }

    pub fn finish(mut self) {
        let whole = self.only.is_none();
        if let Some((b, checked)) = self.pending.take() {
            add_persons(self.out, &b, checked, self.file, whole);
        }
        self.out.only = self.only.take();
    }
}

/// The persons rows of an Arrow batch (from a file or from memory), as [`ClaimIntake::arrow`],
/// added to the table. A read of many batches hands each to [`read_person_batch`] instead and
/// calls [`PersonsRead::finish`] once, after the last.
pub fn read_person_arrow(
    out: &mut PersonsRead,
    batch: &RecordBatch,
    file: u16,
    first_record: u64,
    source: &str,
    aliases: &Aliases,
) -> Result<()> {
    read_person_batch(out, &ArrowBatch::new(batch, PERSONS, first_record, source)?, file, aliases);
    out.finish();
    Ok(())
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
        // At most three quarters full (short probe runs, a slot's neighbours in its cache
        // line). Every claim looks its person up at random: a table of a city's persons (10M:
        // 512 MiB of slots, 1 GiB at most half full) is advised to huge pages, where nearly
        // every lookup missed the TLB in small ones, its prefetch stalling on the page walk
        // (6.5% of the read's samples at 100M claims, `perf record`). The 100M year's read, 2
        // alternated rounds each: 50.7-50.9 s at most half full in small pages, 45.8-48.3 s
        // so; either change alone 50.0-50.8 s. A smaller table stays in small pages (1M
        // persons, 64 MiB: the advice gained nothing on the 10M year).
        const HUGE_FROM: usize = 256 << 20;
        let n = (persons.len() * 4 / 3).next_power_of_two().max(16);
        let mut slots = Vec::with_capacity(n);
        if n * std::mem::size_of::<Slot>() >= HUGE_FROM {
            crate::model::advise_huge_pages(slots.spare_capacity_mut());
        }
        // Filled on the pool: on the VM we measure on, a huge page's first touch stalls on the
        // host (512 MiB: 1.5-3.5 s on one thread, 2026-12-07), and two threads fault it in
        // about half the time. Building the 10M persons' index at the 100M year's read, 3
        // alternated rounds: 2.81, 1.64, 1.96 s filled on one thread; 1.29, 1.23, 1.18 s so.
        slots.par_extend(rayon::iter::repeat_n(Slot { key: [0; KEY], idx: u32::MAX }, n));
        let mut ix = PersonIndex { slots, shift: 64 - n.trailing_zeros(), long: HashMap::new() };
        let mask = n - 1;
        // Every person's home slot is hashed first (`usize::MAX`: a key too long for a slot),
        // then the persons are placed in order, the home slot of the person 16 places ahead
        // brought into the cache first: placing had been a cache miss per person. Building
        // the index, alternated runs: 10M persons 2.54-2.65 s before, 0.58-0.63 s so; 1M
        // persons 230-250 ms before, 51-58 ms so. (Hashing on rayon built it in 0.46-0.51 s,
        // but that build read the 10M persons file in 7.0 s instead of 4.2: the compiler laid
        // out the persons' table inserts otherwise.)
        let shift = ix.shift;
        let home: Vec<usize> =
            persons.persons.iter().map(|p| inline_key(&p.psn_no).map_or(usize::MAX, |k| (key_hash(&k) >> shift) as usize)).collect();
        const AHEAD: usize = 16;
        // In the persons' order; every person of the table is in its index, once.
        for (v, (p, &h)) in persons.persons.iter().zip(&home).enumerate() {
            if let Some(&ahead) = home.get(v + AHEAD)
                && ahead != usize::MAX
            {
                crate::model::prefetch(ix.slots.as_ptr().wrapping_add(ahead));
            }
            let (k, v) = (p.psn_no.as_str(), v as u32);
            match inline_key(k) {
                Some(ik) => {
                    let mut i = h;
                    // Keys are unique (it is a map), so the first empty slot is the place.
                    while ix.slots[i].idx != u32::MAX {
                        i = (i + 1) & mask;
                    }
                    ix.slots[i] = Slot { key: ik, idx: v };
                }
                None => {
                    ix.long.insert(k, v);
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
        if let Some(k) = inline_key(psn_no) {
            crate::model::prefetch(self.slots.as_ptr().wrapping_add((key_hash(&k) >> self.shift) as usize));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_follow_the_contract_pattern() {
        for ok in ["S1", "P000000015", "a.b_c-d", &"x".repeat(64)] {
            assert!(is_valid_id(ok), "{ok}");
        }
        for bad in ["", "=1+1", "+86", "-5", "@SUM", "a b", "a\0b", "中文", &"x".repeat(65)] {
            assert!(!is_valid_id(bad), "{bad:?}");
        }
        assert_eq!(shown(&"y".repeat(100)), format!("{:?}… (100 bytes)", "y".repeat(24)));
    }

    use arrow::array::{ArrayRef, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    fn batch(rows: &[[&str; 3]]) -> Result<RecordBatch> {
        let good = ["1956-09-02", "wujin", "none", "", "9", "0", "", "", "", "0"];
        let fields: Vec<Field> = PERSONS.iter().map(|c| Field::new(c.name, DataType::Utf8, true)).collect();
        let cols: Vec<ArrayRef> = (0..PERSONS.len())
            .map(|k| {
                let cell = |r: &[&str; 3]| if k < 3 { r[k].to_string() } else { good[k - 3].to_string() };
                Arc::new(StringArray::from(rows.iter().map(cell).collect::<Vec<_>>())) as ArrayRef
            })
            .collect();
        Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
    }

    /// Persons added batch by batch (each checked while the previous one is added) make the
    /// same table, index, rejects and record numbers as the same rows in one batch: the first
    /// row of a psn_no wins across batches, a refused row and a scheme mismatch keep their
    /// lines.
    #[test]
    fn persons_added_batch_by_batch_equal_one_batch() -> anyhow::Result<()> {
        let rows = [
            ["P1", "310", "retired"],
            ["P2", "390", "minor"],
            ["P3", "310", "bogus"],
            ["P2", "310", "retired"],
            ["P4", "390", "retired"],
            ["P5", "310", "in_service"],
            ["P1", "390", "minor"],
        ];
        let aliases = Aliases::default();
        let mut whole = PersonsRead::default();
        read_person_arrow(&mut whole, &batch(&rows)?, 2, 1, "persons.csv", &aliases)?;
        let mut pieces = PersonsRead::default();
        let mut batches = PersonBatches::new(&mut pieces, 2, &aliases);
        for (first, part) in [(1, &rows[..2]), (3, &rows[2..3]), (4, &rows[3..7])] {
            batches.push(&batch(part)?, first, "persons.csv")?;
        }
        batches.finish();
        pieces.finish();
        let psns = |r: &PersonsRead| r.table.persons.iter().map(|p| p.psn_no.clone()).collect::<Vec<_>>();
        assert_eq!(psns(&whole), ["P1", "P2", "P4", "P5"]);
        assert_eq!(psns(&pieces), psns(&whole));
        for p in ["P1", "P2", "P4", "P5", "P3", "P9"] {
            assert_eq!(pieces.table.get(p), whole.table.get(p), "{p}");
        }
        assert_eq!(pieces.table.get("P4"), Some(2));
        let rejects = |r: &PersonsRead| r.rejects.iter().map(|x| (x.file, x.line, x.message.clone())).collect::<Vec<_>>();
        assert_eq!(rejects(&pieces), rejects(&whole));
        // P3's psn_type, P2 and P1 repeated, P4 a retired resident: 4 rejects
        assert_eq!(whole.rejects.iter().map(|r| r.line).collect::<Vec<_>>(), [3, 4, 5, 7]);
        assert_eq!(pieces.table.invalid, whole.table.invalid);
        assert_eq!((pieces.rows, whole.rows), (7, 7));
        assert_eq!(pieces.rejected, whole.rejected);
        Ok(())
    }

    /// A checked person (Q0, a retired employee of 310) to copy with other numbers.
    fn model_person() -> Result<Person> {
        let mut read = PersonsRead::default();
        read_person_arrow(&mut read, &batch(&[["Q0", "310", "retired"]])?, 0, 1, "p", &Aliases::default())?;
        read.table.persons.into_iter().next().ok_or_else(|| anyhow::Error::msg("the model person was not read"))
    }

    /// The index holds person numbers, not copies: a table grown past many reservations
    /// finds every person, keeps the first of a repeated number and gives the repeat back.
    #[test]
    fn person_index_finds_every_person_and_refuses_repeats() -> anyhow::Result<()> {
        let model = model_person()?;
        let mut t = PersonTable::default();
        for i in 0..5000u32 {
            assert_eq!(t.add(Person { psn_no: format!("Q{i}").into(), ..model.clone() }), Ok(i));
        }
        let again = Person { psn_no: "Q17".into(), consecutive_years: 3, ..model.clone() };
        assert_eq!(t.add(again.clone()), Err(again));
        assert_eq!(t.len(), 5000);
        assert!((0..5000u32).all(|i| t.get(&format!("Q{i}")) == Some(i)));
        assert_eq!(t.get("Q5000"), None);
        let of = PersonTable::of(vec![model.clone(), Person { consecutive_years: 7, ..model.clone() }]);
        assert_eq!((of.len(), of.get("Q0")), (1, Some(0)));
        assert_eq!(of.persons[0].consecutive_years, model.consecutive_years);
        Ok(())
    }

    /// Persons added at once (their index built a shard at a time) are the persons added one
    /// by one: the same table, the same indices, the same rows given back, for repeats within
    /// the rows added and of persons already in the table, spread over every shard.
    #[test]
    fn persons_added_at_once_equal_persons_added_one_by_one() -> Result<()> {
        let model = model_person()?;
        // 20,000 rows naming at most 12,000 numbers, the k-th row marked by its brdy
        let number = |k: u32| if k.is_multiple_of(3) { k * k % 12_000 } else { k * 7_919 % 12_000 };
        let rows: Vec<Person> =
            (0..20_000u32).map(|k| Person { psn_no: format!("Q{}", number(k)).into(), brdy: k as i32, ..model.clone() }).collect();
        let mut one = PersonTable::default();
        let mut at_once = PersonTable::default();
        for part in [&rows[..3_000], &rows[3_000..3_001], &rows[3_001..]] {
            let back_one: Vec<(usize, Person)> =
                part.iter().enumerate().filter_map(|(k, p)| one.add(p.clone()).err().map(|p| (k, p))).collect();
            let back = at_once.extend(part.to_vec());
            assert!(part.len() == 1 || !back.is_empty(), "the rows repeat numbers");
            assert_eq!(back, back_one);
        }
        assert_eq!(at_once.persons, one.persons);
        assert!((0..12_500u32).all(|i| at_once.get(&format!("Q{i}")) == one.get(&format!("Q{i}"))));
        assert!(at_once.persons.iter().enumerate().all(|(i, p)| at_once.get(&p.psn_no) == Some(i as u32)));
        // the table goes on growing one at a time after a read
        let n = at_once.len() as u32;
        let extra = Person { psn_no: "R1".into(), ..model.clone() };
        assert_eq!(at_once.add(extra.clone()), Ok(n));
        assert_eq!(at_once.add(extra.clone()), Err(extra));
        assert_eq!(at_once.get("R1"), Some(n));
        Ok(())
    }

    /// The claims' index of the persons, three quarters full (its fullest: 12,288 persons in
    /// 16,384 slots, runs of probes wrapping around the end), finds every person by number,
    /// short or too long for a slot, and no one else.
    #[test]
    fn the_claims_person_index_at_its_fullest_finds_every_person() -> Result<()> {
        let model = model_person()?;
        let number = |i: u32| if i.is_multiple_of(97) { format!("P{i:0>40}") } else { format!("P{i}") };
        let mut t = PersonTable::default();
        for i in 0..12_288u32 {
            assert_eq!(t.add(Person { psn_no: number(i).into(), ..model.clone() }), Ok(i));
        }
        let ix = PersonIndex::new(&t);
        assert_eq!(ix.slots.len(), 16_384);
        assert_eq!(ix.long.len(), 12_288usize.div_ceil(97));
        assert!((0..12_288u32).all(|i| ix.get(&number(i)) == Some(i)));
        assert!((12_288..20_000u32).all(|i| ix.get(&number(i)).is_none()));
        assert_eq!(ix.get(""), None);
        Ok(())
    }
}
