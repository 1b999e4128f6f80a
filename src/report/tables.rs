//! The settlements and person_years tables (CONTRACT.md §4), column order fixed.

use crate::engine::Settled;
use crate::io::write::{ArrowCells, Cells, ColType, Format, OutputDir, TableWriter, Val, write_table};
use crate::model::{ClaimTable, Person, PersonTable, PersonYear, StrId, Strings, prefetch};
use crate::policy::PolicySet;
use anyhow::Result;

pub const SETTLEMENT_COLUMNS: &[(&str, ColType)] = &[
    ("setl_id", ColType::Id),
    ("psn_no", ColType::Id),
    ("mdtrt_id", ColType::Id),
    ("setl_time", ColType::DateTime),
    ("year", ColType::Int),
    ("policy_id", ColType::Text),
    ("benefit", ColType::Text),
    ("medfee_sumamt", ColType::Money),
    ("inscp_scp_amt", ColType::Money),
    ("act_pay_dedc", ColType::Money),
    ("hifp_pay", ColType::Money),
    ("hifob_pay", ColType::Money),
    ("hifmi_pay", ColType::Money),
    ("maf_pay", ColType::Money),
    ("fund_pay_sumamt", ColType::Money),
    ("psn_part_amt", ColType::Money),
    ("status", ColType::Text),
    ("reason", ColType::Text),
    // appended after the contract's columns (RULES.md S-28)
    ("oth_pay", ColType::Money),
];

pub const PERSON_YEAR_COLUMNS: &[(&str, ColType)] = &[
    ("psn_no", ColType::Id),
    ("year", ColType::Int),
    ("policy_id", ColType::Text),
    ("claims", ColType::Int),
    ("admissions", ColType::Int),
    ("medfee_sumamt", ColType::Money),
    ("inscp_scp_amt", ColType::Money),
    ("hifp_pay", ColType::Money),
    ("hifob_pay", ColType::Money),
    ("hifmi_pay", ColType::Money),
    ("maf_pay", ColType::Money),
    ("maf_tilt_pay", ColType::Money),
    ("psn_part_amt", ColType::Money),
    // additions after the contract's columns (oth_pay: RULES.md S-28, CONTRACT.md §4)
    ("oth_pay", ColType::Money),
    ("act_pay_dedc", ColType::Money),
    ("psn_type", ColType::Text),
    ("assistance", ColType::Text),
    ("final_burden", ColType::Money),
];

/// The settlements rows: `rows` are the claim indices in output order.
#[derive(Clone, Copy)]
pub struct SettlementRows<'a> {
    table: &'a ClaimTable,
    persons: &'a PersonTable,
    policies: &'a PolicySet,
    settled: &'a Settled,
    rows: &'a [u32],
    /// the text of the claims' ids: the table's, or a window of them read back from its spool
    ids: &'a Strings,
}

/// Claims whose settled rows [`write_settlements`] lists at a time (a few in unit tests, so
/// that the sample crosses many pieces).
const ROW_PIECE: usize = if cfg!(test) { 37 } else { 1 << 18 };
/// Rows written per window of ids read back from a spooled table: half a step of the Parquet
/// writer, about 3 MB of ids in the peer year (a few rows in unit tests).
const ID_WINDOW: usize = if cfg!(test) { 11 } else { 1 << 16 };

pub fn settlement_rows<'a>(
    table: &'a ClaimTable,
    persons: &'a PersonTable,
    policies: &'a PolicySet,
    settled: &'a Settled,
    rows: &'a [u32],
) -> SettlementRows<'a> {
    SettlementRows { table, persons, policies, settled, rows, ids: &table.strings }
}

impl<'a> SettlementRows<'a> {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn person(&self, ci: u32) -> Option<&'a Person> {
        self.table.claims.get(ci as usize).and_then(|c| self.persons.persons.get(c.psn as usize))
    }

    /// The cells of row `i` ([`SETTLEMENT_COLUMNS`]), written to `out`.
    #[inline]
    pub fn cells(&self, i: usize, out: &mut impl Cells<'a>) {
        let SettlementRows { table, persons, policies, settled, rows, ids } = *self;
        // Rows go in input order; their persons and settlements lie in person order: each is
        // looked up a few rows ahead (the person's psn_no text, behind the person, in two steps).
        const AHEAD: usize = 8;
        if let Some(&ahead) = rows.get(i + AHEAD) {
            if let Some(s) = settled.get(ahead as usize) {
                prefetch(s);
            }
            if let Some(p) = self.person(ahead) {
                prefetch(p);
            }
        }
        if let Some(p) = rows.get(i + AHEAD / 2).and_then(|&ci| self.person(ci)) {
            prefetch(p.psn_no.as_ptr());
        }
        let ci = rows[i] as usize;
        let c = &table.claims[ci];
        let Some(s) = settled.get(ci) else { return };
        out.put(Val::Text(ids.get(c.setl_id)));
        out.put(Val::Text(&persons.persons[c.psn as usize].psn_no));
        out.put(Val::Text(ids.get(c.mdtrt_id)));
        out.put(Val::DateTime(c.setl_time));
        out.put(Val::Int(s.year as i64));
        out.put(Val::Text(&policies.get(s.policy).id));
        out.put(Val::Text(s.benefit.as_str()));
        out.put(Val::Money(c.medfee_sumamt()));
        out.put(Val::Money(c.inscp_scp_amt));
        out.put(Val::Money(s.act_pay_dedc));
        out.put(Val::Money(s.hifp_pay));
        out.put(Val::Money(s.hifob_pay));
        out.put(Val::Money(s.hifmi_pay));
        out.put(Val::Money(s.maf_pay));
        out.put(Val::Money(s.fund_pay_sumamt()));
        out.put(Val::Money(s.psn_part_amt));
        out.put(Val::Text(s.status.as_str()));
        out.put(Val::Text(s.reason.map(|r| r.as_str()).unwrap_or("")));
        out.put(Val::Money(s.oth_pay));
    }

    /// Row `i` as [`Val`]s (CSV).
    pub fn row_fn(self) -> impl Fn(usize, &mut Vec<Val<'a>>) + Sync + 'a {
        move |i, v| self.cells(i, v)
    }

    /// Row `i` straight into Arrow's column builders (Parquet, in-memory Arrow).
    pub fn columns_fn(self) -> impl Fn(usize, &mut ArrowCells) + Sync + 'a {
        move |i, c| self.cells(i, c)
    }

    /// Appends the rows to a settlements table; when the table's ids are spooled
    /// ([`crate::pipeline::spool_ids`]), a piece of rows at a time, each with its ids read
    /// back (the bytes are the same as in one piece: [`TableWriter`]).
    pub fn write(self, w: &mut TableWriter, progress: &(dyn Fn(u64) + Sync)) -> Result<()> {
        if !self.table.strings.is_spooled() {
            return w.write_columns(self.len(), &self.row_fn(), &self.columns_fn(), progress);
        }
        // The next window of ids is read on another thread while a piece is written (the
        // read waits on the disk more than it works).
        std::thread::scope(|s| {
            let (tx, rx) = std::sync::mpsc::sync_channel(0);
            s.spawn(move || {
                for rows in self.rows.chunks(ID_WINDOW) {
                    let window = SettlementRows { rows, ..self }.id_range().map(|range| self.table.strings.window(range)).transpose();
                    if tx.send(window).is_err() {
                        return;
                    }
                }
            });
            for rows in self.rows.chunks(ID_WINDOW) {
                let window = rx.recv().map_err(|_| anyhow::anyhow!("internal: the ids' reader stopped"))??;
                let piece = SettlementRows { rows, ..self };
                let piece = match &window {
                    Some(ids) => SettlementRows { ids, ..piece },
                    None => piece,
                };
                w.write_columns(piece.len(), &piece.row_fn(), &piece.columns_fn(), progress)?;
            }
            Ok(())
        })
    }

    /// The lowest and highest id of the rows' claims (their setl_id and mdtrt_id), if any.
    fn id_range(&self) -> Option<std::ops::RangeInclusive<u32>> {
        let claims = &self.table.claims;
        let ids = self.rows.iter().flat_map(|&ci| claims.get(ci as usize).map(|c| [c.setl_id, c.mdtrt_id])).flatten();
        let (lo, hi) = ids.filter(|id| !id.is_none()).fold((StrId::NONE, StrId(0)), |(lo, hi), id| (lo.min(id), hi.max(id)));
        (!lo.is_none()).then_some(lo.0..=hi.0)
    }
}

/// Writes the settlements table: the settled claims in input order (CONTRACT.md §4),
/// [`ROW_PIECE`] claims at a time. Only a piece's rows are listed at once (not a year's:
/// 41 MB of the peer year), and a spooled table's ids are read back for them.
pub fn write_settlements(
    out: &mut OutputDir,
    format: Format,
    table: &ClaimTable,
    persons: &PersonTable,
    policies: &PolicySet,
    settled: &Settled,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<()> {
    let mut w = TableWriter::new(out, "settlements", format, SETTLEMENT_COLUMNS)?;
    let n = settled.pos.len();
    let mut rows = Vec::with_capacity(ROW_PIECE.min(n));
    for start in (0..n).step_by(ROW_PIECE) {
        rows.clear();
        rows.extend(settled.settled_in(start..(start + ROW_PIECE).min(n)));
        settlement_rows(table, persons, policies, settled, &rows).write(&mut w, progress)?;
    }
    w.finish(progress)
}

/// The cells of person_years row `i`.
pub fn person_year_row<'a>(
    persons: &'a PersonTable,
    policies: &'a PolicySet,
    years: &'a [PersonYear],
) -> impl Fn(usize, &mut Vec<Val<'a>>) + Sync + 'a {
    move |i: usize, v: &mut Vec<Val<'a>>| {
        let y = &years[i];
        let p = &persons.persons[y.psn as usize];
        v.extend([
            Val::Text(&p.psn_no),
            Val::Int(y.year as i64),
            Val::Text(&policies.get(y.policy).id),
            Val::Int(y.claims as i64),
            Val::Int(y.admissions as i64),
            Val::Money(y.medfee_sumamt),
            Val::Money(y.inscp_scp_amt),
            Val::Money(y.hifp_pay),
            Val::Money(y.hifob_pay),
            Val::Money(y.hifmi_pay),
            Val::Money(y.maf_pay),
            Val::Money(y.maf_tilt_pay),
            Val::Money(y.psn_part_amt),
            Val::Money(y.oth_pay),
            Val::Money(y.act_pay_dedc),
            Val::Text(p.psn_type.as_str()),
            Val::Text(p.assistance.as_str()),
            Val::Money(y.psn_part_amt - y.maf_tilt_pay),
        ]);
    }
}

pub fn write_person_years<'a>(
    out: &mut OutputDir,
    format: Format,
    persons: &'a PersonTable,
    policies: &'a PolicySet,
    years: &'a [PersonYear],
) -> Result<()> {
    let row = person_year_row(persons, policies, years);
    write_table(out, "person_years", format, PERSON_YEAR_COLUMNS, years.len(), &row, &|_| {})
}
