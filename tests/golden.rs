//! Golden cases: hand-worked settlements from the policy texts (tests/golden/*.toml, format in
//! tests/golden/README.md), run through the binary on CSV and compared to the cent.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

#[derive(serde::Deserialize)]
struct File {
    #[serde(rename = "case")]
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    #[serde(default)]
    set: Vec<String>,
    persons: String,
    claims: String,
    settlements: String,
    #[serde(default)]
    person_years: Option<String>,
    #[serde(default)]
    rejects: Option<String>,
    #[allow(dead_code)]
    #[serde(default)]
    arithmetic: String,
    #[allow(dead_code)]
    #[serde(default)]
    source: String,
}

/// Rows of a CSV text as maps, keyed by the value of the first `key_cols` columns.
fn table(text: &str, key_cols: usize) -> Vec<(String, HashMap<String, String>)> {
    let mut r = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.trim().as_bytes());
    let headers: Vec<String> = r.headers().expect("header").iter().map(str::to_string).collect();
    r.records()
        .map(|rec| {
            let rec = rec.expect("row");
            let m: HashMap<String, String> = headers.iter().cloned().zip(rec.iter().map(str::to_string)).collect();
            let key = headers[..key_cols].iter().map(|h| m[h].clone()).collect::<Vec<_>>().join("|");
            (key, m)
        })
        .collect()
}

fn compare(case: &str, what: &str, expected: &str, actual: &str, key_cols: usize, exact_rows: bool, errors: &mut Vec<String>) {
    let exp = table(expected, key_cols);
    let act: HashMap<String, HashMap<String, String>> = table(actual, key_cols).into_iter().collect();
    if exact_rows && exp.len() != act.len() {
        errors.push(format!("[{case}] {what}: expected {} rows, got {}", exp.len(), act.len()));
    }
    for (key, row) in &exp {
        let Some(got) = act.get(key) else {
            errors.push(format!("[{case}] {what}: no row {key}"));
            continue;
        };
        for (col, want) in row {
            let have = got.get(col).map(String::as_str).unwrap_or("<missing column>");
            if have != want {
                errors.push(format!("[{case}] {what} {key} {col}: expected {want}, got {have}"));
            }
        }
    }
}

fn run_file(name: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file: File = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(!file.cases.is_empty());
    let mut errors = Vec::new();
    for case in &file.cases {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("persons.csv"), case.persons.trim()).expect("write");
        std::fs::write(dir.path().join("claims.csv"), case.claims.trim()).expect("write");
        let out = dir.path().join("out");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_medsettle"));
        cmd.arg("settle")
            .arg("--claims")
            .arg(dir.path().join("claims.csv"))
            .arg("--persons")
            .arg(dir.path().join("persons.csv"))
            .arg("--out")
            .arg(&out)
            // Golden cases include rejects on purpose: no reject-rate exit 4 (CONTRACT §6).
            .args(["--max-reject-rate", "1"]);
        for s in &case.set {
            cmd.arg("--set").arg(s);
        }
        let o = cmd.output().expect("run medsettle");
        if !o.status.success() {
            errors.push(format!("[{}] medsettle failed: {}", case.name, String::from_utf8_lossy(&o.stderr)));
            continue;
        }
        let read = |f: &str| std::fs::read_to_string(out.join(f)).unwrap_or_default();
        compare(&case.name, "settlements", &case.settlements, &read("settlements.csv"), 1, true, &mut errors);
        if let Some(py) = &case.person_years {
            compare(&case.name, "person_years", py, &read("person_years.csv"), 2, false, &mut errors);
        }
        let rejects = read("rejects.csv");
        let got: Vec<(String, String)> = table(&rejects, 0)
            .into_iter()
            .filter(|(_, m)| !m["setl_id"].is_empty())
            .map(|(_, m)| (m["setl_id"].clone(), m["reason"].split(':').next().unwrap_or("").to_string()))
            .collect();
        let want: Vec<(String, String)> = case
            .rejects
            .as_deref()
            .filter(|r| r.trim().lines().count() > 1)
            .map(|r| table(r, 0).into_iter().map(|(_, m)| (m["setl_id"].clone(), m["code"].clone())).collect())
            .unwrap_or_default();
        let mut g = got.clone();
        let mut w = want.clone();
        g.sort();
        w.sort();
        if g != w {
            errors.push(format!("[{}] rejects: expected {w:?}, got {g:?}", case.name));
        }
    }
    assert!(errors.is_empty(), "{} of {} cases in {name} differ:\n{}", errors.len(), file.cases.len(), errors.join("\n"));
}

#[test]
fn changzhou_resident_2026() {
    run_file("changzhou-resident-2026.toml");
}

#[test]
fn changzhou_resident_2025() {
    run_file("changzhou-resident-2025.toml");
}

#[test]
fn changzhou_resident_2024() {
    run_file("changzhou-resident-2024.toml");
}

#[test]
fn changzhou_employee_2024() {
    run_file("changzhou-employee-2024.toml");
}

#[test]
fn catastrophic_assistance() {
    run_file("catastrophic-assistance.toml");
}

#[test]
fn other_payers_and_routing() {
    run_file("other-payers-and-routing.toml");
}
