//! The command-line contract (CONTRACT.md §3): rejects with reasons, --strict, atomic outputs,
//! exit codes, CSV/Parquet inputs and outputs, BOM, missing columns.

use medsettle::io::write::{ColType, Format, OutputDir, Val, write_table};
use medsettle::model::Money;
use std::path::Path;
use std::process::{Command, Output};

const PERSONS: &str = "psn_no,insutype,psn_type,brdy,district,chronic_diseases
P1,390,non_employed,1980-05-01,tianning,hypertension
P2,310,in_service,1985-01-01,,
P3,390,in_service,1985-01-01,wujin,
P4,390,elderly,1950-01-01,rudong,
P1,390,elderly,1950-01-01,tianning,
";

const HEADER: &str = "setl_id,psn_no,mdtrt_id,setl_time,med_type,hosp_lv,medfee_sumamt,fulamt_ownpay_amt,overlmt_selfpay,preselfpay_amt,inscp_scp_amt,refd_setl_flag,init_setl_id,opsp_dise_code";

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_medsettle"))
}

fn settle(dir: &Path, claims: &[&str], extra: &[&str]) -> Output {
    let mut c = bin();
    c.arg("settle").arg("--claims");
    for f in claims {
        c.arg(dir.join(f));
    }
    c.arg("--persons").arg(dir.join("persons.csv")).arg("--out").arg(dir.join("out")).args(extra);
    c.output().unwrap()
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

fn rejects(dir: &Path) -> Vec<(String, String, String)> {
    let mut r = csv::Reader::from_path(dir.join("out/rejects.csv")).unwrap();
    r.records().map(|x| x.unwrap()).map(|x| (x[1].to_string(), x[2].to_string(), x[3].split(':').next().unwrap().to_string())).collect()
}

#[test]
fn every_bad_row_is_rejected_with_a_reason_and_counts_reconcile() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    write(dir, "persons.csv", PERSONS);
    let rows = [
        "S01,P1,M1,2026-03-01 10:00:00,21,3,5000.00,0.00,0.00,0.00,5000.00,0,,", // ok
        "S02,P1,M1,2026-03-01 10:00:00,21,3,5000.005,0.00,0.00,0.00,5000.00,0,,", // 3 decimals
        "S03,P1,M2,2026-03-02 10:00:00,21,3,5000.00,1.00,0.00,0.00,5000.00,0,,", // identity
        "S04,P1,M3,2026-03-03 10:00:00,21,,100.00,0.00,0.00,0.00,100.00,0,,",    // hosp_lv missing
        "S05,P1,M4,2026-03-04 10:00:00,99,2,100.00,0.00,0.00,0.00,100.00,0,,",   // med_type
        "S06,P1,M5,2026-03-05 10:00:00,14,2,100.00,0.00,0.00,0.00,100.00,0,,flu", // disease key
        "S07,P9,M6,2026-03-06 10:00:00,11,2,100.00,0.00,0.00,0.00,100.00,0,,",   // unknown person
        "S01,P1,M7,2026-03-07 10:00:00,11,2,100.00,0.00,0.00,0.00,100.00,0,,",   // duplicate id
        "S09,P1,M8,2026-03-08 10:00:00,11,2,-100.00,0.00,0.00,0.00,-100.00,0,,", // negative
        "S10,P2,M9,2025-03-08 10:00:00,11,2,100.00,0.00,0.00,0.00,100.00,0,,",   // employee 2025: no policy
        "S11,P3,M9,2026-03-08 10:00:00,11,2,100.00,0.00,0.00,0.00,100.00,0,,",   // psn_type vs insutype
        "S12,P4,M9,2026-03-08 10:00:00,11,2,100.00,0.00,0.00,0.00,100.00,0,,",   // rudong
        "R01,P1,M1,2026-03-09 10:00:00,21,3,-5000.00,0.00,0.00,0.00,-4000.00,1,S01,", // identity on reversal
        "R02,P1,M1,2026-03-09 10:00:00,21,3,-4000.00,0.00,0.00,0.00,-4000.00,1,S01,", // amount mismatch
        "R03,P1,M1,2026-03-09 11:00:00,21,3,-5000.00,0.00,0.00,0.00,-5000.00,1,S01,", // ok reversal
        "R04,P1,M1,2026-03-09 12:00:00,21,3,-5000.00,0.00,0.00,0.00,-5000.00,1,S01,", // already reversed
        "R05,P1,M1,2026-03-09 12:00:00,21,3,-5000.00,0.00,0.00,0.00,-5000.00,1,SXX,", // unknown original
        "S13,P1,MA,2026-04-01 10:00:00,21,2,800.00,0.00,0.00,0.00,800.00,0,,",   // ok
        "R06,P1,MA,2026-03-01 10:00:00,21,2,-800.00,0.00,0.00,0.00,-800.00,1,S13,", // before original
        "S14,P1,MB,2026-12-31 10:00:00,21,2,800.00,0.00,0.00,0.00,800.00,0,,",   // ok
        "R07,P1,MB,2027-01-02 10:00:00,21,2,-800.00,0.00,0.00,0.00,-800.00,1,S14,", // crosses year (2027 has no policy either)
    ];
    write(dir, "claims.csv", &format!("\u{feff}{HEADER}\n{}\n", rows.join("\n")));
    // Most rows are bad on purpose: the reject-rate guard (exit 4) is switched off.
    let o = settle(dir, &["claims.csv"], &["--max-reject-rate", "1"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = rejects(dir);
    let code = |id: &str| r.iter().filter(|x| x.1 == id).map(|x| x.2.clone()).collect::<Vec<_>>();
    assert_eq!(code("S02"), ["bad_value"]);
    assert_eq!(code("S03"), ["amount_identity"]);
    assert_eq!(code("S04"), ["missing_value"]);
    assert_eq!(code("S05"), ["unknown_code"]);
    assert_eq!(code("S06"), ["unknown_code"]);
    assert_eq!(code("S07"), ["unknown_person"]);
    assert_eq!(code("S01"), ["duplicate_setl_id"]);
    assert_eq!(code("S09"), ["bad_sign"]);
    assert_eq!(code("S10"), ["no_policy"]);
    assert_eq!(code("S11"), ["person_scheme_mismatch"]);
    assert_eq!(code("S12"), ["no_benefit_rules"]);
    assert_eq!(code("R01"), ["amount_identity"]);
    assert_eq!(code("R02"), ["reversal_amount_mismatch"]);
    assert_eq!(code("R04"), ["already_reversed"]);
    assert_eq!(code("R05"), ["reversal_unknown_original"]);
    assert_eq!(code("R06"), ["reversal_before_original"]);
    assert!(code("R07") == ["no_policy"] || code("R07") == ["reversal_crosses_year"]);
    // Persons: the duplicate P1 and the mismatched P3 are listed too (empty setl_id).
    assert!(r.iter().any(|x| x.1.is_empty() && x.2 == "duplicate_psn_no"));
    // The duplicate S01 is rejected at its own line (9), the first kept.
    assert!(r.iter().any(|x| x.0 == "9" && x.1 == "S01"));
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("out/manifest.json")).unwrap()).unwrap();
    let c = &m["counts"];
    assert_eq!(c["read"], 21);
    assert_eq!(
        c["read"].as_u64().unwrap(),
        c["settled"].as_u64().unwrap()
            + c["not_covered"].as_u64().unwrap()
            + c["reversal"].as_u64().unwrap()
            + c["rejected"].as_u64().unwrap()
    );
    assert_eq!(c["reversal"], 1);
    assert_eq!(m["reconciles"], true);
    assert_eq!(m["inputs"][0]["sha256"].as_str().unwrap().len(), 64);
    // A rejected row's message names the column and what was expected.
    let text = std::fs::read_to_string(dir.join("out/rejects.csv")).unwrap();
    assert!(text.contains("column medfee_sumamt: `5000.005` has more than two decimals"), "{text}");
}

#[test]
fn strict_fails_and_writes_nothing_and_a_failed_run_keeps_previous_outputs() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    write(dir, "persons.csv", PERSONS);
    write(dir, "good.csv", &format!("{HEADER}\nS1,P1,M1,2026-03-01 10:00:00,21,3,5000.00,0.00,0.00,0.00,5000.00,0,,\n"));
    write(dir, "bad.csv", &format!("{HEADER}\nS1,P1,M1,2026-03-01 10:00:00,21,3,5000.00,0.00,0.00,0.00,4000.00,0,,\n"));
    assert!(settle(dir, &["good.csv"], &[]).status.success());
    let before = std::fs::read_to_string(dir.join("out/settlements.csv")).unwrap();
    let o = settle(dir, &["bad.csv"], &["--strict"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("amount_identity"));
    assert_eq!(std::fs::read_to_string(dir.join("out/settlements.csv")).unwrap(), before);
    // A missing required column stops the run with a message naming it; outputs untouched.
    write(dir, "nocol.csv", "setl_id,psn_no\nS1,P1\n");
    let o = settle(dir, &["nocol.csv"], &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("nocol.csv") && err.contains("mdtrt_id"), "{err}");
    assert_eq!(std::fs::read_to_string(dir.join("out/settlements.csv")).unwrap(), before);
    // No temporary files are left behind.
    assert!(std::fs::read_dir(dir.join("out")).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().starts_with('.')));
}

#[test]
fn usage_errors_exit_2_and_bad_parameters_exit_1() {
    let o = bin().arg("settle").output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "persons.csv", PERSONS);
    write(d.path(), "c.csv", &format!("{HEADER}\n"));
    let o = settle(d.path(), &["c.csv"], &["--set", "inpatient.no_such_key=1"]);
    assert_eq!(o.status.code(), Some(1));
    let o = settle(d.path(), &["c.csv"], &["--set", "inpatient.cap=abc"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("inpatient.cap"));
    for cmd in ["settle", "scenario", "replay", "explain", "policy", "generate"] {
        let o = bin().args([cmd, "--help"]).output().unwrap();
        assert!(o.status.success());
        assert!(String::from_utf8_lossy(&o.stdout).contains("Example"), "{cmd} --help has no example");
    }
}

#[test]
fn parquet_and_csv_inputs_mix_and_parquet_outputs_round_trip() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    write(dir, "persons.csv", PERSONS);
    write(dir, "a.csv", &format!("{HEADER}\nS1,P1,M1,2026-03-01 10:00:00,21,3,5000.00,0.00,0.00,0.00,5000.00,0,,\n"));
    // The same kind of claim as Parquet: money as Decimal128(18,2), time as timestamp.
    // An output set of its own (the commit protocol replaces whole folders).
    let mut out = OutputDir::new(&dir.join("pq")).unwrap();
    let cols: &[(&str, ColType)] = &[
        ("setl_id", ColType::Text),
        ("psn_no", ColType::Text),
        ("mdtrt_id", ColType::Text),
        ("setl_time", ColType::DateTime),
        ("med_type", ColType::Int),
        ("hosp_lv", ColType::Int),
        ("medfee_sumamt", ColType::Money),
        ("fulamt_ownpay_amt", ColType::Money),
        ("overlmt_selfpay", ColType::Money),
        ("preselfpay_amt", ColType::Money),
        ("inscp_scp_amt", ColType::Money),
    ];
    let ts = medsettle::model::time::parse_datetime("2026-05-01 09:00:00").unwrap();
    let row = |_: usize, v: &mut Vec<Val>| {
        v.extend([
            Val::Text("S2"),
            Val::Text("P1"),
            Val::Text("M2"),
            Val::DateTime(ts),
            Val::Int(21),
            Val::Int(3),
            Val::Money(Money::from_yuan(5000)),
            Val::Money(Money::ZERO),
            Val::Money(Money::ZERO),
            Val::Money(Money::ZERO),
            Val::Money(Money::from_yuan(5000)),
        ])
    };
    write_table(&mut out, "b", Format::Parquet, cols, 1, &row, &|_| {}).unwrap();
    out.commit().unwrap();
    let o = settle(dir, &["a.csv", "pq/b.parquet"], &["--format", "parquet"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Read the Parquet output back as input-like cells: both claims settled the same way.
    let f = std::fs::File::open(dir.join("out/settlements.parquet")).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f).unwrap().build().unwrap();
    let batches: Vec<_> = reader.map(|b| b.unwrap()).collect();
    let b = &batches[0];
    assert_eq!(b.num_rows(), 2);
    assert_eq!(b.schema().field(10).name(), "hifp_pay");
    assert_eq!(b.schema().field(10).data_type(), &arrow::datatypes::DataType::Decimal128(18, 2));
    use arrow::array::AsArray;
    let hifp = b.column(10).as_primitive::<arrow::datatypes::Decimal128Type>();
    // S1: 70% × (5000 − 1000) = 2800.00; S2 (second admission, same deductible rule) also 2800.00.
    assert_eq!(hifp.value(0), 280000);
    assert_eq!(hifp.value(1), 280000);
}

/// The same rows, good and malformed, as CSV and as typed Parquet (the layout `generate`
/// writes, which the reader takes on its column-wise fast path): the same settlements and the
/// same rejects with the same reasons and rows.
#[test]
fn typed_parquet_rejects_exactly_what_csv_rejects() {
    type Row = [&'static str; 18];
    const ROWS: &[Row] = &[
        ["G1", "P1", "M1", "2026-03-01 10:00:00", "21", "5000.00", "0.00", "0.00", "0.00", "5000.00", "3", "0", "", "", "", "", "0", ""],
        ["B1", "P1", "M2", "2026-03-02 10:00:00", "11", "-10.00", "0.00", "0.00", "0.00", "-10.00", "2", "0", "", "", "", "", "0", ""],
        ["B2", "P1", "M3", "2026-03-03 10:00:00", "11", "100.00", "0.00", "0.00", "0.00", "99.99", "2", "0", "", "", "", "", "0", ""],
        ["B3", "PX", "M4", "2026-03-04 10:00:00", "11", "100.00", "0.00", "0.00", "0.00", "100.00", "2", "0", "", "", "", "", "0", ""],
        ["B4", "P1", "M5", "2026-03-05 10:00:00", "11", "100.00", "0.00", "0.00", "0.00", "100.00", "4", "0", "", "", "", "", "0", ""],
        ["B5", "P1", "M6", "2026-03-06 10:00:00", "99", "100.00", "0.00", "0.00", "0.00", "100.00", "2", "0", "", "", "", "", "0", ""],
        ["B6", "P1", "M7", "2026-03-07 10:00:00", "14", "100.00", "0.00", "0.00", "0.00", "100.00", "2", "0", "gout", "", "", "", "0", ""],
        ["B7", "P1", "M8", "2026-03-08 10:00:00", "11", "-100.00", "0.00", "0.00", "0.00", "-100.00", "2", "0", "", "", "", "", "1", ""],
        ["B8", "P1", "M9", "2026-03-09 10:00:00", "11", "100.00", "0.00", "0.00", "0.00", "100.00", "2", "0", "", "", "", "mars", "0", ""],
        [
            "B9",
            "P1",
            "M10",
            "2026-03-10 10:00:00",
            "15",
            "100.00",
            "0.00",
            "0.00",
            "0.00",
            "100.00",
            "3",
            "0",
            "",
            "",
            "orphan",
            "",
            "0",
            "",
        ],
        [
            "G2",
            "P1",
            "M11",
            "2026-03-11 10:00:00",
            "14",
            "300.00",
            "0.00",
            "0.00",
            "0.00",
            "300.00",
            "1",
            "1",
            "hypertension",
            "",
            "",
            "",
            "0",
            "",
        ],
        ["G3", "P1", "M12", "2026-03-12 10:00:00", "41", "80.00", "0.00", "0.00", "0.00", "80.00", "", "0", "", "", "", "", "0", ""],
        ["B1", "P1", "M13", "2026-03-13 10:00:00", "11", "100.00", "0.00", "0.00", "0.00", "100.00", "2", "0", "", "", "", "", "0", ""],
        [
            "R1",
            "P1",
            "M1",
            "2026-04-01 10:00:00",
            "21",
            "-5000.00",
            "0.00",
            "0.00",
            "0.00",
            "-5000.00",
            "3",
            "0",
            "",
            "",
            "",
            "",
            "1",
            "G1",
        ],
    ];
    // The layout `medsettle generate` writes (typed columns, the reader's fast path).
    const COLS: &[(&str, ColType)] = medsettle::synth::CLAIM_FILE_COLUMNS;
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    write(dir, "persons.csv", PERSONS);
    let header: Vec<&str> = COLS.iter().map(|c| c.0).collect();
    let mut csv_text = header.join(",") + "\n";
    // Rows list the first columns; the later optional ones (rare_fund_pay) are empty.
    let cell = |r: &[&'static str], k: usize| r.get(k).copied().unwrap_or("");
    for r in ROWS {
        let cells: Vec<&str> = (0..COLS.len()).map(|k| cell(r, k)).collect();
        csv_text.push_str(&cells.join(","));
        csv_text.push('\n');
    }
    write(dir, "c.csv", &csv_text);
    let mut out = OutputDir::new(&dir.join("pq")).unwrap();
    let row = |i: usize, v: &mut Vec<Val>| {
        for (k, (_, t)) in COLS.iter().enumerate() {
            let s = cell(&ROWS[i], k);
            v.push(match t {
                ColType::OptMoney if s.is_empty() => Val::Null,
                ColType::OptMoney => Val::Money(Money::parse(s).unwrap()),
                ColType::DateTime => Val::DateTime(medsettle::model::time::parse_datetime(s).unwrap()),
                ColType::Money => Val::Money(Money::parse(s).unwrap()),
                ColType::Int => Val::Int(s.parse().unwrap()),
                _ => Val::Text(s),
            });
        }
    };
    write_table(&mut out, "c", Format::Parquet, COLS, ROWS.len(), &row, &|_| {}).unwrap();
    out.commit().unwrap();

    let results = |file: &str| {
        let o = settle(dir, &[file], &["--max-reject-rate", "1"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let settlements = std::fs::read_to_string(dir.join("out/settlements.csv")).unwrap();
        let mut r = csv::Reader::from_path(dir.join("out/rejects.csv")).unwrap();
        let rejects: Vec<(String, String, String)> =
            r.records().map(|x| x.unwrap()).map(|x| (x[1].to_string(), x[2].to_string(), x[3].to_string())).collect();
        (settlements, rejects)
    };
    let (csv_settled, csv_rejects) = results("c.csv");
    let (pq_settled, pq_rejects) = results("pq/c.parquet");
    // Claim rejects (the persons file's own rejects have no setl_id).
    let codes: Vec<&str> = csv_rejects.iter().filter(|r| !r.1.is_empty()).map(|r| r.2.split(':').next().unwrap()).collect();
    assert_eq!(
        codes,
        [
            "bad_sign",
            "amount_identity",
            "unknown_person",
            "bad_value",
            "unknown_code",
            "unknown_code",
            "missing_value",
            "unknown_code",
            "unknown_code"
        ],
        "{csv_rejects:#?}"
    );
    // `row` is the CSV line (header = 1) and the Parquet row number (first row = 1).
    let as_parquet_rows: Vec<(String, String, String)> = csv_rejects
        .iter()
        .map(|(row, id, why)| {
            (if id.is_empty() { row.clone() } else { (row.parse::<u64>().unwrap() - 1).to_string() }, id.clone(), why.clone())
        })
        .collect();
    assert_eq!(as_parquet_rows, pq_rejects);
    assert_eq!(csv_settled, pq_settled);
    // G1, G2, G3, R1 and the second B1 (the first B1 was rejected, so it is no duplicate).
    assert_eq!(csv_settled.lines().count(), 1 + 5, "{csv_settled}");
}
