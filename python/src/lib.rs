//! The native module of the `medsettle` Python package: thin conversions between Python
//! objects and [`medsettle::app`]. Arrow data crosses by the Arrow C data interface (no copy);
//! the engine runs with the GIL released. The Python API (typing, docs) is in `medsettle/`.

use arrow_pyarrow::{FromPyArrow, IntoPyArrow, Table as PaTable, ToPyArrow};
use medsettle::app::settle::{self as app, Input, Outputs, Run, Table};
use medsettle::policy::LoadedPolicy;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::path::PathBuf;

pyo3::create_exception!(_native, MedsettleError, PyException, "An input, policy or option the engine cannot use (the CLI's message).");

/// The error as the command line prints it (`medsettle: error: …` without the prefix).
fn err(e: anyhow::Error) -> PyErr {
    MedsettleError::new_err(format!("{e:#}"))
}

/// A path (`str`/`os.PathLike`) or any object with `__arrow_c_stream__`.
fn input(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Input> {
    if let Ok(p) = obj.extract::<PathBuf>() {
        return Ok(Input::File(p));
    }
    let (batches, _) = PaTable::from_pyarrow_bound(obj)?.into_inner();
    Ok(Input::Arrow { name: name.to_string(), batches })
}

fn inputs(claims: &[Bound<'_, PyAny>], names: &[String], persons: &Bound<'_, PyAny>, persons_name: &str) -> PyResult<(Vec<Input>, Input)> {
    let claims = claims
        .iter()
        .enumerate()
        .map(|(i, c)| input(c, names.get(i).map(String::as_str).unwrap_or("claims")))
        .collect::<PyResult<Vec<_>>>()?;
    Ok((claims, input(persons, persons_name)?))
}

fn table<'py>(py: Python<'py>, t: Table) -> PyResult<Bound<'py, PyAny>> {
    PaTable::try_new(t.batches, t.schema).map_err(|e| MedsettleError::new_err(e.to_string()))?.into_pyarrow(py)
}

fn outputs<'py>(py: Python<'py>, o: Outputs) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("settlements", table(py, o.settlements)?)?;
    d.set_item("person_years", table(py, o.person_years)?)?;
    d.set_item("fund_report", table(py, o.fund_report)?)?;
    d.set_item("rejects", table(py, o.rejects)?)?;
    d.set_item("counts", serde_json::to_string(&o.counts).map_err(|e| MedsettleError::new_err(e.to_string()))?)?;
    d.set_item("claim_years", o.claim_years)?;
    Ok(d)
}

#[pyfunction]
#[pyo3(signature = (claims, claims_names, persons, persons_name, policies, sets, income=true))]
#[allow(clippy::too_many_arguments)]
fn settle<'py>(
    py: Python<'py>,
    claims: Vec<Bound<'py, PyAny>>,
    claims_names: Vec<String>,
    persons: Bound<'py, PyAny>,
    persons_name: String,
    policies: Vec<String>,
    sets: Vec<String>,
    income: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let (claims, persons) = inputs(&claims, &claims_names, &persons, &persons_name)?;
    let o = py.detach(|| Run::new(&claims, &persons, &policies, &sets).and_then(|r| r.outputs(income))).map_err(err)?;
    outputs(py, o)
}

/// The runs (name, description, outputs), baseline first, and the comparison tables by file
/// stem, as `medsettle scenario --full [--sweep]`.
#[pyfunction]
#[pyo3(signature = (claims, claims_names, persons, persons_name, scenarios, policies, sets, sweep=None))]
#[allow(clippy::too_many_arguments)]
fn scenario<'py>(
    py: Python<'py>,
    claims: Vec<Bound<'py, PyAny>>,
    claims_names: Vec<String>,
    persons: Bound<'py, PyAny>,
    persons_name: String,
    scenarios: Vec<PathBuf>,
    policies: Vec<String>,
    sets: Vec<String>,
    sweep: Option<String>,
) -> PyResult<(Bound<'py, PyList>, Bound<'py, PyDict>)> {
    let (claims, persons) = inputs(&claims, &claims_names, &persons, &persons_name)?;
    let s = py.detach(|| app::scenario(&claims, &persons, &policies, &sets, &scenarios, sweep.as_deref())).map_err(err)?;
    let runs = PyList::empty(py);
    for r in s.runs {
        runs.append((r.name, r.description, outputs(py, r.outputs)?))?;
    }
    let tables = PyDict::new(py);
    for (name, t) in s.tables {
        tables.set_item(name, table(py, t)?)?;
    }
    Ok((runs, tables))
}

#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn explain<'py>(
    py: Python<'py>,
    claims: Vec<Bound<'py, PyAny>>,
    claims_names: Vec<String>,
    persons: Bound<'py, PyAny>,
    persons_name: String,
    setl_id: Option<String>,
    psn_no: Option<String>,
    policies: Vec<String>,
    sets: Vec<String>,
) -> PyResult<Bound<'py, PyDict>> {
    let (claims, persons) = inputs(&claims, &claims_names, &persons, &persons_name)?;
    let e = py
        .detach(|| {
            let run = Run::new(&claims, &persons, &policies, &sets)?;
            app::explain(&run, setl_id.as_deref(), psn_no.as_deref())
        })
        .map_err(err)?;
    let d = PyDict::new(py);
    d.set_item("psn_no", e.psn_no)?;
    d.set_item("rejected", e.rejected)?;
    let steps = PyList::empty(py);
    for s in e.steps {
        let sd = PyDict::new(py);
        sd.set_item("setl_id", s.setl_id)?;
        sd.set_item("layer", s.layer)?;
        sd.set_item("text", s.text)?;
        sd.set_item("source", s.source)?;
        steps.append(sd)?;
    }
    d.set_item("steps", steps)?;
    d.set_item(
        "settlements",
        if e.settlements.batches.is_empty() && e.settlements.schema.fields().is_empty() { None } else { Some(table(py, e.settlements)?) },
    )?;
    Ok(d)
}

#[pyfunction]
fn income<'py>(
    py: Python<'py>,
    persons: Bound<'py, PyAny>,
    persons_name: String,
    years: Vec<i32>,
    policies: Vec<String>,
    sets: Vec<String>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let persons = input(&persons, &persons_name)?;
    let (fund, rejects) = py.detach(|| app::income(&persons, &years, &policies, &sets)).map_err(err)?;
    Ok((table(py, fund)?, table(py, rejects)?))
}

/// The schemas of the settle outputs by name (settlements, person_years, fund_report, rejects).
#[pyfunction]
fn output_schemas(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    for (name, schema) in app::output_schemas().map_err(err)? {
        d.set_item(name, schema.as_ref().to_pyarrow(py)?)?;
    }
    Ok(d)
}

fn policy_json(lp: &LoadedPolicy) -> anyhow::Result<String> {
    let mut v = serde_json::to_value(&lp.policy)?;
    if let Some(m) = v.as_object_mut() {
        m.insert("_origin".into(), lp.origin.clone().into());
        m.insert("_overrides".into(), lp.overrides.clone().into());
        m.insert("_text_sha256".into(), lp.text_sha256.clone().into());
        m.insert("_effective_sha256".into(), lp.effective_sha256.clone().into());
    }
    Ok(serde_json::to_string(&v)?)
}

/// The built-in policies, each as JSON text.
#[pyfunction]
fn policies() -> PyResult<Vec<String>> {
    LoadedPolicy::all_builtin().and_then(|all| all.iter().map(policy_json).collect()).map_err(err)
}

/// One effective policy (a built-in id or a policy file, with `--set` overrides) as JSON text.
#[pyfunction]
fn policy(spec: String, sets: Vec<String>) -> PyResult<String> {
    LoadedPolicy::load(&spec, &sets).and_then(|lp| policy_json(&lp)).map_err(err)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("MedsettleError", m.py().get_type::<MedsettleError>())?;
    m.add("LINE_COLUMN", app::LINE_COLUMN)?;
    m.add("VERSION", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(settle, m)?)?;
    m.add_function(wrap_pyfunction!(scenario, m)?)?;
    m.add_function(wrap_pyfunction!(explain, m)?)?;
    m.add_function(wrap_pyfunction!(income, m)?)?;
    m.add_function(wrap_pyfunction!(output_schemas, m)?)?;
    m.add_function(wrap_pyfunction!(policies, m)?)?;
    m.add_function(wrap_pyfunction!(policy, m)?)?;
    Ok(())
}
