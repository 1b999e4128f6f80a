//! Settle, explain and scenario runs whose inputs may be in-memory Arrow tables and whose
//! outputs are Arrow tables with the columns and types of the Parquet outputs
//! (CONTRACT.md §4). Validation, settlement and aggregation are the command line's own.

use crate::app::scenario::{self as app_scenario, Sweep};
use crate::engine::{self, Settled, Step, Tracer};
use crate::io::parquet::write::{arrow_table, arrow_table_columns};
use crate::io::read::{self, RejectRow};
use crate::io::write::{ColType, Val};
use crate::model::Settlement;
use crate::pipeline::{self, FileInfo, Loaded};
use crate::policy::PolicySet;
use crate::policy::overrides::Scenario;
use crate::report;
use crate::report::doc::{self, Cell};
use crate::report::fund::{self, FUND_REPORT_COLUMNS, FundReport};
use crate::report::i18n::Lang;
use crate::report::markdown::Counts;
use crate::report::tables::{self, PERSON_YEAR_COLUMNS, SETTLEMENT_COLUMNS};
use anyhow::{Context, Result, anyhow, bail};
use arrow::array::{ArrayRef, Decimal128Builder, Float64Builder, Int64Builder, NullArray, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use crate::intake::LINE_COLUMN;
pub use crate::io::read::Input;

/// An output table.
#[derive(Clone, Debug)]
pub struct Table {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

/// What a settle run gives back instead of its output files.
pub struct Outputs {
    pub settlements: Table,
    pub person_years: Table,
    /// `fund_report.csv` as a table; income is left out when the run settled only a part of
    /// the persons ([`Run::outputs`] with `income = false`)
    pub fund_report: Table,
    pub rejects: Table,
    pub counts: Counts,
    /// the settlement years of the claims read (income is due for these years)
    pub claim_years: Vec<i32>,
}

/// Inputs read, checked and settled under one set of policies.
pub struct Run {
    pub loaded: Loaded,
    pub policies: PolicySet,
    pub settled: Settled,
}

/// Reads and checks the inputs as [`pipeline::load`] does (the inputs are not hashed).
pub fn load(claims: &[Input], persons: &Input, policies: &PolicySet) -> Result<Loaded> {
    if claims.is_empty() {
        bail!("no claims input given");
    }
    let persons_index = u16::try_from(claims.len()).context("too many claims inputs")?;
    let aliases = read::aliases_of(policies);
    let persons_read = read::read_persons_input(persons, persons_index, &aliases)?;
    let mut claims_read = read::read_claim_inputs(claims, &persons_read, &aliases, &|_| {}, None)?;
    let prepared = crate::intake::prepare(&mut claims_read.table, &persons_read.table, policies);
    let info = |i: &Input, rows: u64| FileInfo { path: i.name(), bytes: 0, sha256: String::new(), rows };
    let mut files: Vec<FileInfo> = claims.iter().zip(&claims_read.rows).map(|(i, &rows)| info(i, rows)).collect();
    files.push(info(persons, persons_read.rows));
    Ok(Loaded {
        claim_files: claims.iter().map(|i| PathBuf::from(i.name())).collect(),
        persons_file: PathBuf::from(persons.name()),
        persons: persons_read,
        claims: claims_read,
        prepared,
        state: None,
        files,
    })
}

impl Run {
    /// Loads and settles under the policies (`--policy` specs and `--set` overrides).
    pub fn new(claims: &[Input], persons: &Input, policy_specs: &[String], sets: &[String]) -> Result<Run> {
        let policies = PolicySet::assemble(policy_specs, sets)?;
        let loaded = load(claims, persons, &policies)?;
        let settled = pipeline::settle(&loaded, &policies);
        Ok(Run { loaded, policies, settled })
    }

    /// The output tables, as the settle command writes them (`income`: include fund income,
    /// which needs every person of the run).
    pub fn outputs(&self, income: bool) -> Result<Outputs> {
        outputs(&self.loaded, &self.policies, &self.settled, income)
    }
}

fn outputs(l: &Loaded, policies: &PolicySet, settled: &Settled, income: bool) -> Result<Outputs> {
    {
        let t = &l.claims.table;
        let persons = &l.persons.table;
        let rows = settled.input_order();
        let s = tables::settlement_rows(t, persons, policies, settled, &rows);
        let (schema, batches) = arrow_table_columns(SETTLEMENT_COLUMNS, s.len(), &s.columns_fn())?;
        let settlements = Table { schema, batches };
        let years = &settled.person_years;
        let (schema, batches) = arrow_table(PERSON_YEAR_COLUMNS, years.len(), &tables::person_year_row(persons, policies, years))?;
        let person_years = Table { schema, batches };
        let mut fr = fund::expenditure(t, persons, settled);
        let claim_years = fund::claim_years(t);
        if income {
            fund::income_for_years(persons, policies, &claim_years, &mut fr);
        }
        let fund_report = fund_table(&fr, policies)?;
        let rejects = rejects_table(l, &l.reject_rows())?;
        Ok(Outputs {
            settlements,
            person_years,
            fund_report,
            rejects,
            counts: pipeline::counts(l, settled),
            claim_years: claim_years.into_iter().collect(),
        })
    }
}

/// Fund income of the valid persons of `persons` for `years`, and the persons' rejected rows
/// (for runs that settle the claims in parts and the persons separately).
pub fn income(persons: &Input, years: &[i32], policy_specs: &[String], sets: &[String]) -> Result<(Table, Table)> {
    let policies = PolicySet::assemble(policy_specs, sets)?;
    let p = read::read_persons_input(persons, 0, &read::aliases_of(&policies))?;
    let mut fr = FundReport::new();
    fund::income_for_years(&p.table, &policies, &years.iter().copied().collect::<BTreeSet<i32>>(), &mut fr);
    let name = persons.name();
    Ok((fund_table(&fr, &policies)?, reject_batch(&p.rejects, &|_| name.clone())?))
}

/// The schemas of the settle outputs ([`Outputs`]' tables), by name: what executors that
/// settle in parts (Spark) return.
pub fn output_schemas() -> Result<Vec<(&'static str, SchemaRef)>> {
    let none = |_: usize, _: &mut Vec<Val>| {};
    Ok(vec![
        ("settlements", arrow_table(SETTLEMENT_COLUMNS, 0, &none)?.0),
        ("person_years", arrow_table(PERSON_YEAR_COLUMNS, 0, &none)?.0),
        ("fund_report", fund_schema()),
        ("rejects", arrow_table(REJECT_COLUMNS, 0, &none)?.0),
    ])
}

fn fund_schema() -> SchemaRef {
    let types = [
        DataType::Int64,
        DataType::Utf8,
        DataType::Utf8,
        DataType::Utf8,
        DataType::Utf8,
        DataType::Utf8,
        DataType::Int64,
        DataType::Utf8,
        DataType::Int64,
        DataType::Decimal128(18, 2),
    ];
    Arc::new(Schema::new(FUND_REPORT_COLUMNS.iter().zip(types).map(|(c, t)| Field::new(*c, t, *c == "hosp_lv")).collect::<Vec<_>>()))
}

fn fund_table(fr: &FundReport, policies: &PolicySet) -> Result<Table> {
    let n = fr.len();
    let text = || StringBuilder::with_capacity(n, n * 12);
    let (mut year, mut count, mut hosp_lv) =
        (Int64Builder::with_capacity(n), Int64Builder::with_capacity(n), Int64Builder::with_capacity(n));
    let (mut policy, mut flow, mut fund, mut benefit, mut category, mut item) = (text(), text(), text(), text(), text(), text());
    let mut amount = Decimal128Builder::with_capacity(n);
    for (k, l) in fr {
        year.append_value(k.year as i64);
        policy.append_value(&policies.get(k.policy).id);
        flow.append_value(k.flow);
        fund.append_value(k.fund);
        benefit.append_value(k.benefit);
        category.append_value(k.category.to_string());
        // hosp_lv 0 is "not applicable": an empty CSV cell, a null here.
        hosp_lv.append_option((k.hosp_lv != 0).then_some(k.hosp_lv as i64));
        item.append_value(k.item);
        count.append_value(l.count as i64);
        amount.append_value(l.amount.fen() as i128);
    }
    let schema = fund_schema();
    let cols: Vec<ArrayRef> = vec![
        Arc::new(year.finish()),
        Arc::new(policy.finish()),
        Arc::new(flow.finish()),
        Arc::new(fund.finish()),
        Arc::new(benefit.finish()),
        Arc::new(category.finish()),
        Arc::new(hosp_lv.finish()),
        Arc::new(item.finish()),
        Arc::new(count.finish()),
        Arc::new(amount.finish().with_precision_and_scale(18, 2)?),
    ];
    Ok(Table { schema: schema.clone(), batches: vec![RecordBatch::try_new(schema, cols)?] })
}

/// The columns of `rejects.csv` (`row` is the line, or record number).
pub const REJECT_COLUMNS: &[(&str, ColType)] =
    &[("source_file", ColType::Text), ("row", ColType::Int), ("setl_id", ColType::Text), ("reason", ColType::Text)];

fn reject_batch(rows: &[RejectRow], file_name: &(dyn Fn(u16) -> String + Sync)) -> Result<Table> {
    let names: Vec<String> = rows.iter().map(|r| file_name(r.file)).collect();
    let reasons: Vec<String> = rows.iter().map(RejectRow::reason).collect();
    reject_cells(rows, &names, &reasons)
}

fn reject_cells<'a>(rows: &'a [RejectRow], names: &'a [String], reasons: &'a [String]) -> Result<Table> {
    let row = move |i: usize, v: &mut Vec<Val<'a>>| {
        let r = &rows[i];
        v.extend([Val::Text(&names[i]), Val::Int(r.line as i64), Val::Text(&r.setl_id), Val::Text(&reasons[i])]);
    };
    let (schema, batches) = arrow_table(REJECT_COLUMNS, rows.len(), &row)?;
    Ok(Table { schema, batches })
}

fn rejects_table(l: &Loaded, rows: &[RejectRow]) -> Result<Table> {
    reject_batch(rows, &|f| l.file_name(f))
}

/// One settlement explained: its steps and the settlements of the person's year.
pub struct Explained {
    pub psn_no: String,
    /// the reject reason when the claim was rejected (then nothing else is filled in)
    pub rejected: Option<String>,
    /// every step of the person's claims (of the target's year), in settlement order;
    /// year-end steps have an empty `setl_id`
    pub steps: Vec<Step>,
    /// the person's settlements (of the target's year), in settlement order
    pub settlements: Table,
}

/// Explains the settlement `setl_id`, or every settlement of the person `psn_no`
/// (as `medsettle explain`).
pub fn explain(run: &Run, setl_id: Option<&str>, psn_no: Option<&str>) -> Result<Explained> {
    let l = &run.loaded;
    let t = &l.claims.table;
    let (psn, target) = match (setl_id, psn_no) {
        (Some(id), _) => {
            if let Some(r) = l.reject_rows().iter().find(|r| r.setl_id == id) {
                return Ok(Explained {
                    psn_no: String::new(),
                    rejected: Some(format!("{id} was rejected ({} line {}): {}", l.file_name(r.file), r.line, r.reason())),
                    steps: Vec::new(),
                    settlements: Table { schema: Arc::new(Schema::empty()), batches: Vec::new() },
                });
            }
            let ci = t
                .claims
                .iter()
                .position(|c| t.strings.get(c.setl_id) == id)
                .with_context(|| format!("setl_id {id} is not in the claims"))?;
            (t.claims[ci].psn, Some(ci))
        }
        (None, Some(p)) => (l.persons.table.get(p).with_context(|| format!("psn_no {p} is not in the persons file"))?, None),
        (None, None) => bail!("explain needs a setl_id or a psn_no"),
    };
    let Some(range) = l.prepared.persons.iter().find(|r| t.claims[l.prepared.order[r.start] as usize].psn == psn) else {
        bail!("the person has no settled claims (all rejected?)");
    };
    let claims = &l.prepared.order[range.clone()];
    let person = &l.persons.table.persons[psn as usize];
    let mut steps = Vec::new();
    let mut settled = vec![Settlement::EMPTY; claims.len()];
    engine::settle_person(t, person, claims, &l.prepared.policy_of, &run.policies, &mut settled, None, &mut Tracer::on(&mut steps));
    let year = target.map(|ci| crate::model::time::year_of(t.claims[ci].setl_time));
    let keep: Vec<usize> = (0..claims.len()).filter(|&k| year.is_none_or(|y| i32::from(settled[k].year) == y)).collect();
    let ids: BTreeSet<&str> = keep.iter().map(|&k| t.strings.get(t.claims[claims[k] as usize].setl_id)).collect();
    steps.retain(|s| s.setl_id.is_empty() || ids.contains(s.setl_id.as_str()));
    // The person's settlements through the settlements table's own columns.
    let rows: Vec<u32> = keep.iter().map(|&k| claims[k]).collect();
    let mut pos = vec![u32::MAX; t.claims.len()];
    let mut sorted = Vec::with_capacity(keep.len());
    for (i, &k) in keep.iter().enumerate() {
        pos[claims[k] as usize] = i as u32;
        sorted.push(settled[k]);
    }
    let one = Settled { claim: Arc::new(rows.clone()), sorted, pos, person_years: Vec::new() };
    let s = tables::settlement_rows(t, &l.persons.table, &run.policies, &one, &rows);
    let (schema, batches) = arrow_table_columns(SETTLEMENT_COLUMNS, s.len(), &s.columns_fn())?;
    Ok(Explained { psn_no: person.psn_no.to_string(), rejected: None, steps, settlements: Table { schema, batches } })
}

/// The policies of each scenario file: the run's policies with the scenario's overrides.
pub fn scenario_policies(base: &PolicySet, files: &[PathBuf]) -> Result<Vec<(Scenario, PolicySet)>> {
    let scenarios: Vec<Scenario> = files.iter().map(|p| Scenario::load(Path::new(p))).collect::<Result<_>>()?;
    let mut names: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
    names.sort();
    if names.windows(2).any(|w| w[0] == w[1]) || names.contains(&"baseline") {
        bail!("scenario names must be distinct and not `baseline`");
    }
    scenarios
        .into_iter()
        .map(|s| {
            let ps = crate::app::scenario::scenario_policies(base, &s)?;
            Ok((s, ps))
        })
        .collect()
}

/// One settled run of a scenario comparison.
pub struct ScenarioRun {
    /// `baseline` or the scenario's name
    pub name: String,
    pub description: String,
    pub outputs: Outputs,
}

/// What `medsettle scenario --full` writes, as tables.
pub struct ScenarioOutputs {
    /// the baseline, then each scenario in the order given (the baseline alone with a sweep
    /// alone)
    pub runs: Vec<ScenarioRun>,
    /// the comparison files by stem, in the command's order: `comparison`, `balance_change`,
    /// `winners_losers`, `deciles`, `largest_changes`, `persons_delta` (when scenarios were
    /// given) and `cost_curve` (with a sweep)
    pub tables: Vec<(&'static str, Table)>,
}

/// The baseline and each scenario file settled over the same input and compared (and the
/// sweep's cost curve), as `medsettle scenario --full [--sweep]` computes them.
pub fn scenario(
    claims: &[Input],
    persons: &Input,
    policy_specs: &[String],
    sets: &[String],
    files: &[PathBuf],
    sweep: Option<&str>,
) -> Result<ScenarioOutputs> {
    let base = PolicySet::assemble(policy_specs, sets)?;
    let (scenarios, sets): (Vec<Scenario>, Vec<PolicySet>) = scenario_policies(&base, files)?.into_iter().unzip();
    let sweep: Option<Sweep> = sweep.map(str::parse).transpose()?;
    if scenarios.is_empty() && sweep.is_none() {
        bail!("give scenario files or a sweep");
    }
    let loaded = load(claims, persons, &base)?;
    let runs = RefCell::new(Vec::new());
    let mut tables = Vec::new();
    if !scenarios.is_empty() {
        let each = |name: &str, ps: &PolicySet, s: &Settled| -> Result<()> {
            let description = scenarios.iter().find(|sc| sc.name == name).map(|sc| sc.description.clone()).unwrap_or_default();
            runs.borrow_mut().push(ScenarioRun { name: name.to_string(), description, outputs: outputs(&loaded, ps, s, true)? });
            Ok(())
        };
        let c = app_scenario::compare(&loaded, &base, &scenarios, &sets, Lang::default(), &each)?;
        for t in c.comparison.tables() {
            tables.push((t.name, doc_table(t)?));
        }
        let names: Vec<String> = scenarios.iter().map(|s| s.name.clone()).collect();
        let row = report::scenario::persons_delta_row(&c.delta, &names, &loaded.persons.table);
        let (schema, batches) = arrow_table(report::scenario::PERSONS_DELTA_COLUMNS, c.delta.len(), &row)?;
        tables.push(("persons_delta", Table { schema, batches }));
    } else {
        // a sweep alone: the baseline's outputs still come back
        let settled = pipeline::settle(&loaded, &base);
        let outputs = outputs(&loaded, &base, &settled, true)?;
        runs.borrow_mut().push(ScenarioRun { name: "baseline".into(), description: String::new(), outputs });
    }
    if let Some(sw) = &sweep {
        let points = app_scenario::run_sweep(&loaded, &base, sw)?;
        let (t, _) = report::scenario::cost_curve(&sw.key, &points, Lang::default());
        tables.push((t.name, doc_table(&t)?));
    }
    Ok(ScenarioOutputs { runs: runs.into_inner(), tables })
}

/// A report table as Arrow with its machine column names: money as decimal128(18, 2), counts
/// and years as int64, ratios as float64, codes and text as strings; an empty cell is a null.
/// The type of a column comes from its cells (a column with none but empty ones is null-typed).
pub fn doc_table(t: &doc::Table) -> Result<Table> {
    let mut fields = Vec::with_capacity(t.columns.len());
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(t.columns.len());
    for (j, c) in t.columns.iter().enumerate() {
        let cells = || t.rows.iter().map(move |r| r.get(j).unwrap_or(&Cell::Empty));
        let kind = cells().find(|x| !matches!(x, Cell::Empty)).cloned().unwrap_or(Cell::Empty);
        let wrong = |x: &Cell| anyhow!("table {}: column {} mixes {kind:?} and {x:?}", t.name, c.key);
        let array: ArrayRef = match kind {
            Cell::Text(_) | Cell::Code(_) => {
                let mut b = StringBuilder::new();
                for x in cells() {
                    match x {
                        Cell::Text(s) | Cell::Code(s) => b.append_value(s),
                        Cell::Empty => b.append_null(),
                        x => return Err(wrong(x)),
                    }
                }
                Arc::new(b.finish())
            }
            Cell::Int(_) | Cell::Year(_) => {
                let mut b = Int64Builder::with_capacity(t.rows.len());
                for x in cells() {
                    match x {
                        Cell::Int(i) => b.append_value(*i),
                        Cell::Year(y) => b.append_value(*y as i64),
                        Cell::Empty => b.append_null(),
                        x => return Err(wrong(x)),
                    }
                }
                Arc::new(b.finish())
            }
            Cell::Money(_) => {
                let mut b = Decimal128Builder::with_capacity(t.rows.len());
                for x in cells() {
                    match x {
                        Cell::Money(m) => b.append_value(m.fen() as i128),
                        Cell::Empty => b.append_null(),
                        x => return Err(wrong(x)),
                    }
                }
                Arc::new(b.finish().with_precision_and_scale(18, 2)?)
            }
            Cell::Ratio(_) => {
                let mut b = Float64Builder::with_capacity(t.rows.len());
                for x in cells() {
                    match x {
                        Cell::Ratio(r) => b.append_option(*r),
                        Cell::Empty => b.append_null(),
                        x => return Err(wrong(x)),
                    }
                }
                Arc::new(b.finish())
            }
            Cell::Empty => Arc::new(NullArray::new(t.rows.len())),
        };
        fields.push(Field::new(c.key, array.data_type().clone(), true));
        cols.push(array);
    }
    let schema = Arc::new(Schema::new(fields));
    Ok(Table { schema: schema.clone(), batches: vec![RecordBatch::try_new(schema, cols)?] })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Money;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Decimal128Type, Float64Type, Int64Type};

    #[test]
    fn report_tables_become_typed_arrow_with_nulls_for_empty_cells() -> anyhow::Result<()> {
        let mut t = doc::Table::new(
            "t",
            "t",
            vec![
                ("name", String::new()),
                ("year", String::new()),
                ("amount", String::new()),
                ("pct", String::new()),
                ("none", String::new()),
            ],
        );
        t.rows.push(vec![Cell::text("a,b"), Cell::Year(2026), Cell::Money(Money::from_fen(12_345)), Cell::Ratio(Some(0.125)), Cell::Empty]);
        t.rows.push(vec![Cell::Empty, Cell::Int(7), Cell::Money(Money::from_fen(-5)), Cell::Ratio(None), Cell::Empty]);
        let a = doc_table(&t)?;
        let b = &a.batches[0];
        assert_eq!(b.num_rows(), 2);
        assert_eq!(b.column(0).as_string::<i32>().value(0), "a,b");
        assert!(b.column(0).is_null(1));
        assert_eq!(b.column(1).as_primitive::<Int64Type>().values().to_vec(), vec![2026, 7]);
        // 123.45 and −0.05 as decimal128(18, 2): 12345 and −5 hundredths
        assert_eq!(b.column(2).data_type(), &DataType::Decimal128(18, 2));
        assert_eq!(b.column(2).as_primitive::<Decimal128Type>().values().to_vec(), vec![12_345, -5]);
        assert_eq!(b.column(3).as_primitive::<Float64Type>().value(0), 0.125);
        assert!(b.column(3).is_null(1));
        assert_eq!(b.column(4).data_type(), &DataType::Null);
        // a column mixing money and text is an error naming the table and column
        t.rows.push(vec![Cell::Empty, Cell::Int(1), Cell::text("x"), Cell::Ratio(None), Cell::Empty]);
        let e = doc_table(&t).unwrap_err().to_string();
        assert!(e.contains("table t: column amount"), "{e}");
        Ok(())
    }
}
