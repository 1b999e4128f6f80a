//! The bundled sample data settles to exactly the outputs kept beside it:
//! `medsettle settle --claims sample-data/claims.csv --persons sample-data/persons.csv --out …`
//! must reproduce sample-data/expected/{settlements,person_years,fund_report,rejects}.csv byte
//! for byte.
//!
//! After an intended change of results (a policy value, a rule), regenerate them with
//!
//!     UPDATE_EXPECTED=1 cargo test --test sample
//!
//! and review `git diff sample-data/expected` before committing.

use std::path::Path;
use std::process::Command;

const OUTPUTS: &[&str] = &["settlements.csv", "person_years.csv", "fund_report.csv", "rejects.csv"];

/// The first differing lines of two texts, for the failure message.
fn first_differences(expected: &str, actual: &str) -> String {
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let mut out = String::new();
    let mut shown = 0;
    for i in 0..e.len().max(a.len()) {
        let (x, y) = (e.get(i).copied(), a.get(i).copied());
        if x != y {
            out.push_str(&format!("  line {}:\n    expected: {}\n    actual:   {}\n", i + 1, x.unwrap_or("<none>"), y.unwrap_or("<none>")));
            shown += 1;
            if shown == 8 {
                out.push_str("  …\n");
                break;
            }
        }
    }
    if out.is_empty() {
        out.push_str("  (same lines; the bytes differ, e.g. line endings or a final newline)\n");
    }
    out.push_str(&format!("  ({} expected lines, {} actual lines)\n", e.len(), a.len()));
    out
}

/// Settles the bundled sample with `extra` arguments into a new folder.
fn settle_sample(extra: &[&str]) -> tempfile::TempDir {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = tempfile::tempdir().unwrap();
    // Relative input paths, as in the README (rejects.csv names the source file as given).
    let run = Command::new(env!("CARGO_BIN_EXE_medsettle"))
        .current_dir(root)
        .args(["settle", "--claims", "sample-data/claims.csv", "--persons", "sample-data/persons.csv"])
        .args(extra)
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(run.status.success(), "settle failed: {}", String::from_utf8_lossy(&run.stderr));
    out
}

#[test]
fn sample_data_settles_to_the_expected_outputs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = settle_sample(&[]);
    let expected_dir = root.join("sample-data/expected");
    if std::env::var_os("UPDATE_EXPECTED").is_some() {
        std::fs::create_dir_all(&expected_dir).unwrap();
        for f in OUTPUTS {
            std::fs::copy(out.path().join(f), expected_dir.join(f)).unwrap();
        }
        eprintln!("UPDATE_EXPECTED: rewrote {}; review the diff", expected_dir.display());
        return;
    }
    let mut failures = String::new();
    for f in OUTPUTS {
        let actual = std::fs::read(out.path().join(f)).unwrap();
        let expected = match std::fs::read(expected_dir.join(f)) {
            Ok(e) => e,
            Err(e) => {
                failures.push_str(&format!("sample-data/expected/{f}: cannot read ({e})\n"));
                continue;
            }
        };
        if actual != expected {
            failures.push_str(&format!(
                "sample-data/expected/{f} differs from this build's output:\n{}",
                first_differences(&String::from_utf8_lossy(&expected), &String::from_utf8_lossy(&actual))
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{failures}\nIf the change of results is intended, regenerate with `UPDATE_EXPECTED=1 cargo test --test sample` and review the diff."
    );
}

#[test]
fn sample_data_has_no_rejects_and_covers_both_schemes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rejects = std::fs::read_to_string(root.join("sample-data/expected/rejects.csv")).unwrap();
    assert_eq!(rejects.lines().count(), 1, "the sample data should settle without rejects:\n{rejects}");
    let settlements = std::fs::read_to_string(root.join("sample-data/expected/settlements.csv")).unwrap();
    for policy in ["changzhou-employee-2024", "changzhou-resident-2024", "changzhou-resident-2026"] {
        assert!(settlements.contains(policy), "no claim settled under {policy}");
    }
    assert!(settlements.contains(",reversal,"), "no reversal in the sample data");
}

/// The Parquet settlements (rows written straight into Arrow's column builders) hold exactly
/// the cells of the CSV settlements (rows written as cells): the sample settled with
/// `--format parquet`, each cell printed as the CSV prints it, is sample-data/expected's
/// settlements.csv line for line.
#[test]
fn sample_parquet_settlements_hold_the_csv_cells() {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{DataType, Decimal128Type, Int64Type, TimeUnit, TimestampMicrosecondType};
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = settle_sample(&["--format", "parquet"]);
    let f = std::fs::File::open(out.path().join("settlements.parquet")).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f).unwrap().build().unwrap();
    let mut lines = Vec::new();
    for b in reader {
        let b = b.unwrap();
        for row in 0..b.num_rows() {
            let cells: Vec<String> = b
                .columns()
                .iter()
                .map(|a| {
                    assert!(!a.is_null(row), "settlements cells are never null");
                    match a.data_type() {
                        DataType::Utf8 => a.as_string::<i32>().value(row).to_string(),
                        DataType::Int64 => a.as_primitive::<Int64Type>().value(row).to_string(),
                        DataType::Decimal128(18, 2) => {
                            let v = a.as_primitive::<Decimal128Type>().value(row);
                            format!("{}{}.{:02}", if v < 0 { "-" } else { "" }, v.abs() / 100, v.abs() % 100)
                        }
                        DataType::Timestamp(TimeUnit::Microsecond, None) => {
                            let us = a.as_primitive::<TimestampMicrosecondType>().value(row);
                            assert_eq!(us % 1_000_000, 0);
                            medsettle::model::time::format_datetime(us / 1_000_000)
                        }
                        t => panic!("unexpected column type {t}"),
                    }
                })
                .collect();
            lines.push(cells.join(","));
        }
    }
    let expected = std::fs::read_to_string(root.join("sample-data/expected/settlements.csv")).unwrap();
    let expected: Vec<&str> = expected.lines().skip(1).collect();
    assert!(expected.len() > 100);
    assert_eq!(lines.len(), expected.len());
    for (i, (a, e)) in lines.iter().zip(&expected).enumerate() {
        assert_eq!(a, e, "settlements row {}", i + 1);
    }
}
