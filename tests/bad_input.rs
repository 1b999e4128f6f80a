//! The hostile-input corpus (tests/bad_input/*.toml, described in its README): every case
//! runs `medsettle settle` and must give the expected exit code and reject codes, a `read`
//! count equal to the data lines of the file, and counts that reconcile.

use arrow::array::*;
use arrow::datatypes::{DataType, Field, Schema};
use serde::Deserialize;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

const HEADER: &str = "setl_id,psn_no,mdtrt_id,setl_time,med_type,medfee_sumamt,fulamt_ownpay_amt,overlmt_selfpay,preselfpay_amt,inscp_scp_amt,hosp_lv,primary_care,opsp_dise_code,dise_codg,drug_class,offsite,refd_setl_flag,init_setl_id";
const PERSONS: &str = "psn_no,insutype,psn_type,brdy,district,assistance,chronic_diseases,consecutive_years,prior_zero_claim,benefit_begn,transplant_date,contribution_base,flexible
P1,390,elderly,1950-03-01,tianning,none,hypertension,5,0,,,,0
P2,310,in_service,1980-06-01,wujin,none,,3,0,,,5000.00,0
";

#[derive(Deserialize)]
struct Group {
    case: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[allow(dead_code)]
    why: String,
    rows: Option<Vec<String>>,
    claims: Option<String>,
    claims_hex: Option<String>,
    parquet: Option<Vec<PqCol>>,
    /// file name of the claims input (default claims.csv / claims.parquet)
    claims_name: Option<String>,
    persons_rows: Option<Vec<String>>,
    persons: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    exit: i32,
    #[serde(default)]
    rejects: Vec<String>,
    reject_lines: Option<Vec<u64>>,
    /// text each reject's reason must contain, in order
    reason_contains: Option<Vec<String>>,
    error: Option<String>,
    #[serde(default)]
    check: Vec<String>,
}

#[derive(Deserialize, Clone)]
struct PqCol {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    values: Vec<toml::Value>,
}

/// `\xHH` escapes as raw bytes (for GBK and other non-UTF-8 text).
fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && b.get(i + 1) == Some(&b'x')
            && b.len() >= i + 4
            && let Ok(v) = u8::from_str_radix(&s[i + 2..i + 4], 16)
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

fn null(v: &toml::Value) -> bool {
    v.as_str() == Some("NULL")
}

fn int(v: &toml::Value) -> Option<i128> {
    match v {
        toml::Value::Integer(i) => Some(*i as i128),
        toml::Value::String(s) if s != "NULL" => Some(s.parse().expect("integer")),
        _ => None,
    }
}

fn array(c: &PqCol) -> (DataType, ArrayRef) {
    let t = c.ty.as_str();
    let v = &c.values;
    let ints = || v.iter().map(|x| int(x).map(|i| i as i64)).collect::<Vec<_>>();
    if let Some(inner) = t.strip_prefix("decimal(").and_then(|r| r.strip_suffix(')')) {
        let (p, s) = inner.split_once(',').expect("decimal(P,S)");
        let (p, s): (u8, i8) = (p.trim().parse().unwrap(), s.trim().parse().unwrap());
        let a = Decimal128Array::from(v.iter().map(int).collect::<Vec<_>>()).with_precision_and_scale(p, s).unwrap();
        return (a.data_type().clone(), Arc::new(a));
    }
    if let Some(inner) = t.strip_prefix("timestamp(").and_then(|r| r.strip_suffix(')')) {
        let (unit, tz) = match inner.split_once(',') {
            Some((u, z)) => (u.trim(), Some(Arc::<str>::from(z.trim()))),
            None => (inner.trim(), None),
        };
        let vals = ints();
        let a: ArrayRef = match unit {
            "s" => Arc::new(TimestampSecondArray::from(vals).with_timezone_opt(tz)),
            "ms" => Arc::new(TimestampMillisecondArray::from(vals).with_timezone_opt(tz)),
            "us" => Arc::new(TimestampMicrosecondArray::from(vals).with_timezone_opt(tz)),
            "ns" => Arc::new(TimestampNanosecondArray::from(vals).with_timezone_opt(tz)),
            u => panic!("unit {u}"),
        };
        return (a.data_type().clone(), a);
    }
    let a: ArrayRef = match t {
        "utf8" => Arc::new(StringArray::from(
            v.iter()
                .map(|x| if null(x) { None } else { Some(x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string())) })
                .collect::<Vec<_>>(),
        )),
        "int64" => Arc::new(Int64Array::from(ints())),
        "int32" => Arc::new(Int32Array::from(ints().into_iter().map(|x| x.map(|i| i as i32)).collect::<Vec<_>>())),
        "uint64" => Arc::new(UInt64Array::from(
            v.iter()
                .map(|x| {
                    if null(x) {
                        None
                    } else {
                        Some(x.as_str().map(|s| s.parse::<u64>().unwrap()).unwrap_or_else(|| x.as_integer().unwrap() as u64))
                    }
                })
                .collect::<Vec<_>>(),
        )),
        "float64" => Arc::new(Float64Array::from(
            v.iter().map(|x| if null(x) { None } else { x.as_float().or_else(|| x.as_integer().map(|i| i as f64)) }).collect::<Vec<_>>(),
        )),
        "bool" => Arc::new(BooleanArray::from(v.iter().map(|x| x.as_bool()).collect::<Vec<_>>())),
        "date32" => Arc::new(Date32Array::from(ints().into_iter().map(|x| x.map(|i| i as i32)).collect::<Vec<_>>())),
        other => panic!("type {other}"),
    };
    (a.data_type().clone(), a)
}

fn write_parquet(cols: &[PqCol], path: &Path) {
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = cols
        .iter()
        .map(|c| {
            let (t, a) = array(c);
            (Field::new(&c.name, t, true), a)
        })
        .unzip();
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// Non-empty lines after the header: what `read` must be for any CSV.
fn data_lines(bytes: &[u8]) -> u64 {
    bytes.split(|&b| b == b'\n').skip(1).filter(|l| !l.is_empty() && *l != b"\r").count() as u64
}

/// Every file of two output folders, byte for byte.
fn same_files(a: &Path, b: &Path) -> Result<(), String> {
    let names = |d: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    };
    let (na, nb) = (names(a), names(b));
    if na != nb {
        return Err(format!("files {na:?} vs {nb:?}"));
    }
    for n in &na {
        if std::fs::read(a.join(n)).unwrap() != std::fs::read(b.join(n)).unwrap() {
            return Err(format!("{n} differs"));
        }
    }
    Ok(())
}

fn run_case(c: &Case, dir: &Path) -> Result<(), String> {
    let (claims_path, expected_read) = if let Some(cols) = &c.parquet {
        let p = dir.join(c.claims_name.as_deref().unwrap_or("claims.parquet"));
        write_parquet(cols, &p);
        (p, cols.first().map(|c| c.values.len() as u64))
    } else {
        let bytes = match (&c.rows, &c.claims, &c.claims_hex) {
            (Some(rows), None, None) => unescape(&format!("{HEADER}\n{}\n", rows.join("\n"))),
            (None, Some(text), None) => unescape(text),
            (None, None, Some(h)) => hex(h),
            _ => return Err("exactly one of rows, claims, claims_hex, parquet".into()),
        };
        let p = dir.join(c.claims_name.as_deref().unwrap_or("claims.csv"));
        std::fs::write(&p, &bytes).unwrap();
        (p, Some(data_lines(&bytes)))
    };
    let persons = match (&c.persons, &c.persons_rows) {
        (Some(t), _) => unescape(t),
        (None, Some(rows)) => unescape(&format!("{PERSONS}{}\n", rows.join("\n"))),
        (None, None) => PERSONS.as_bytes().to_vec(),
    };
    let persons_path = dir.join("persons.csv");
    std::fs::write(&persons_path, &persons).unwrap();
    let out = dir.join("out");
    let settle = |out: &Path, extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_medsettle"))
            .arg("settle")
            .arg("--claims")
            .arg(&claims_path)
            .arg("--persons")
            .arg(&persons_path)
            .arg("--out")
            .arg(out)
            .args(&c.args)
            .args(extra)
            .output()
            .unwrap()
    };
    let run = settle(&out, &[]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    let code = run.status.code().unwrap_or(-1);
    if code != c.exit {
        return Err(format!("exit {code}, expected {}; stderr: {stderr}", c.exit));
    }
    // The same case spilled to disk in many partitions (--spill-partitions spills whatever the
    // input's size) must end the same way, with the same output files byte for byte.
    let spilled_out = dir.join("out-spilled");
    let spilled = settle(&spilled_out, &["--spill-partitions", "16"]);
    let spilled_err = String::from_utf8_lossy(&spilled.stderr);
    if spilled.status.code() != Some(code) {
        return Err(format!("spilled: exit {:?}, in memory {code}; stderr: {spilled_err}", spilled.status.code()));
    }
    if code == 0 || code == 4 {
        if let Err(e) = same_files(&out, &spilled_out) {
            return Err(format!("spilled outputs differ from the in-memory ones: {e}"));
        }
    } else if let Some(e) = &c.error
        && !spilled_err.contains(e.as_str())
    {
        return Err(format!("spilled: stderr lacks {e:?}: {spilled_err}"));
    }
    if stderr.contains("panicked") {
        return Err(format!("panic: {stderr}"));
    }
    if let Some(e) = &c.error
        && !stderr.contains(e.as_str())
    {
        return Err(format!("stderr lacks {e:?}: {stderr}"));
    }
    if code == 1 || code == 2 {
        if out.exists() {
            return Err("a failed run left an output folder".into());
        }
        return Ok(());
    }
    let mut rdr = csv::Reader::from_path(out.join("rejects.csv")).unwrap();
    let mut codes = Vec::new();
    let mut lines = Vec::new();
    let mut reasons = Vec::new();
    for r in rdr.records() {
        let r = r.unwrap();
        let reason = r.get(3).unwrap();
        codes.push(reason.split(':').next().unwrap().to_string());
        lines.push(r.get(1).unwrap().parse::<u64>().unwrap());
        reasons.push(reason.to_string());
        if r.get(2).is_some_and(|id| id.starts_with(['=', '+', '-', '@']) || id.len() > 64) {
            return Err(format!("unsafe setl_id copied into rejects.csv: {:?}", r.get(2)));
        }
        if reason.len() > 2000 || reason.contains('\0') {
            return Err(format!("reason not bounded/safe: {}", &reason[..80.min(reason.len())]));
        }
    }
    if codes != c.rejects {
        return Err(format!("rejects {codes:?}, expected {:?}; stderr: {stderr}", c.rejects));
    }
    if let Some(l) = &c.reject_lines
        && *l != lines
    {
        return Err(format!("reject rows {lines:?}, expected {l:?}"));
    }
    if let Some(want) = &c.reason_contains {
        for (w, r) in want.iter().zip(&reasons) {
            if !r.contains(w.as_str()) {
                return Err(format!("reason {r:?} lacks {w:?}"));
            }
        }
    }
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    if m["reconciles"] != true {
        return Err(format!("counts do not reconcile: {}", m["counts"]));
    }
    if let Some(n) = expected_read
        && m["counts"]["read"] != n
    {
        return Err(format!("read {} ≠ {n} data lines", m["counts"]["read"]));
    }
    if !c.check.is_empty() {
        let mut rdr = csv::Reader::from_path(out.join("settlements.csv")).unwrap();
        let h = rdr.headers().unwrap().clone();
        let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
        for chk in &c.check {
            let mut it = chk.splitn(3, ' ');
            let (id, col, want) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap_or(""));
            let ci = h.iter().position(|x| x == col).ok_or(format!("no column {col}"))?;
            let row = rows.iter().find(|r| r.get(0) == Some(id)).ok_or(format!("{id} not settled"))?;
            if row.get(ci) != Some(want) {
                return Err(format!("{id} {col} = {:?}, expected {want:?}", row.get(ci)));
            }
        }
    }
    Ok(())
}

#[test]
fn every_hostile_input_is_accounted_for() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_input");
    let mut files: Vec<_> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "toml")).collect();
    files.sort();
    let (mut total, mut failures) = (0, Vec::new());
    let mut names = std::collections::HashSet::new();
    for f in &files {
        let g: Group = toml::from_str(&std::fs::read_to_string(f).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for c in &g.case {
            assert!(names.insert(c.name.clone()), "case name {} twice", c.name);
            total += 1;
            let tmp = tempfile::tempdir().unwrap();
            if let Err(e) = run_case(c, tmp.path()) {
                failures.push(format!("{} / {}: {e}", f.file_name().unwrap().to_string_lossy(), c.name));
            }
        }
    }
    assert!(total >= 80, "the corpus has {total} cases, fewer than 80");
    assert!(failures.is_empty(), "{} of {total} cases failed:\n{}", failures.len(), failures.join("\n"));
    eprintln!("bad_input: {total} cases passed");
}
