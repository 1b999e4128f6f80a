//! The actuary's and the auditor's commands through the binary (CONTRACT.md §3): `scenario`,
//! `replay` (exit 3 on discrepancies) and `explain` (every step cites its rule).
//!
//! Expected amounts are worked by hand from seed 000 (resident 2026) — see the comments.

use std::path::Path;
use std::process::{Command, Output};

const PERSONS: &str = "psn_no,insutype,psn_type,brdy,district
P1,390,non_employed,1980-05-01,tianning
P2,390,minor,2015-05-01,wujin
";

// S1: adult, level 3, in-scope 5000: hifp = 70% × (5000 − 1000) = 2800.00, personal 2200.00
//     [000 §三(一)]; the platform recorded the same.
// S2: child, level 2, in-scope 50000: hifp = 90% × (50000 − 400) = 44640.00 [000 §三(一)];
//     the platform recorded 44000.00 / 6000.00 → a discrepancy of 640.00 on two amounts.
// S3: no recorded amounts → not compared.
const CLAIMS: &str = "setl_id,psn_no,mdtrt_id,setl_time,med_type,hosp_lv,medfee_sumamt,fulamt_ownpay_amt,overlmt_selfpay,preselfpay_amt,inscp_scp_amt,hifp_pay,hifob_pay,hifmi_pay,maf_pay,psn_part_amt
S1,P1,M1,2026-03-01 10:00:00,21,3,5000.00,0.00,0.00,0.00,5000.00,2800.00,0.00,0.00,0.00,2200.00
S2,P2,M2,2026-05-01 10:00:00,21,2,50000.00,0.00,0.00,0.00,50000.00,44000.00,0.00,0.00,0.00,6000.00
S3,P1,M3,2026-06-01 10:00:00,21,3,2000.00,0.00,0.00,0.00,2000.00,,,,,
";

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medsettle")).current_dir(dir).args(args).output().unwrap()
}

fn setup() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("persons.csv"), PERSONS).unwrap();
    std::fs::write(d.path().join("claims.csv"), CLAIMS).unwrap();
    d
}

fn rows(path: &Path) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    r.records().map(|x| x.unwrap().iter().map(str::to_string).collect()).collect()
}

const BASE: [&str; 4] = ["--claims", "claims.csv", "--persons", "persons.csv"];

fn with_base<'a>(cmd: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![cmd];
    v.extend(BASE);
    v.extend(rest);
    v
}

#[test]
fn replay_reports_each_differing_amount_and_exits_3() {
    let d = setup();
    let out = run(d.path(), &with_base("replay", &["--out", "r"]));
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let disc = rows(&d.path().join("r/discrepancies.csv"));
    // setl_id, psn_no, setl_time, policy_id, benefit, status, field, recorded, computed, difference
    let got: Vec<(&str, &str, &str, &str, &str)> =
        disc.iter().map(|r| (r[0].as_str(), r[6].as_str(), r[7].as_str(), r[8].as_str(), r[9].as_str())).collect();
    assert_eq!(got, vec![("S2", "hifp_pay", "44000.00", "44640.00", "640.00"), ("S2", "psn_part_amt", "6000.00", "5360.00", "-640.00")]);
    let report = std::fs::read_to_string(d.path().join("r/replay_report.md")).unwrap();
    assert!(report.contains("Claims compared: 2; without recorded amounts: 1; with a discrepancy: 1"), "{report}");

    // Within a tolerance of 700.00 nothing is a discrepancy: exit 0 and an empty list.
    let out = run(d.path(), &with_base("replay", &["--out", "r2", "--tolerance", "700"]));
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(rows(&d.path().join("r2/discrepancies.csv")).is_empty());

    // A bad tolerance is a clear error (exit 1).
    let out = run(d.path(), &with_base("replay", &["--out", "r3", "--tolerance", "abc"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tolerance"));
}

#[test]
fn explain_cites_a_rule_and_source_at_every_step() {
    let d = setup();
    let out = run(d.path(), &with_base("explain", &["--setl-id", "S2"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    for want in ["S2", "deductible", "400.00", "90%", "44640.00", "5360.00", "000 §三(一)", "changzhou-resident-2026"] {
        assert!(text.contains(want), "explain output lacks {want:?}:\n{text}");
    }
    // Every step line ("   [layer] ...") is followed by its source line.
    let lines: Vec<&str> = text.lines().collect();
    let steps: Vec<usize> = lines.iter().enumerate().filter(|(_, l)| l.trim_start().starts_with('[')).map(|(i, _)| i).collect();
    assert!(steps.len() >= 3, "{text}");
    for i in steps {
        assert!(lines.get(i + 1).is_some_and(|l| l.trim_start().starts_with("source:")), "step without a source: {}", lines[i]);
    }

    // By person: every claim of the person, and the year's totals (2800 + 70% × (2000 − 1000) = 3500).
    let out = run(d.path(), &with_base("explain", &["--psn-no", "P1"]));
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("S1") && text.contains("S3") && !text.contains("== S2"), "{text}");
    assert!(text.contains("hifp 3500.00"), "{text}");

    // Unknown id: exit 1 naming it.
    let out = run(d.path(), &with_base("explain", &["--setl-id", "NOPE"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("NOPE"));
}

#[test]
fn scenario_compares_funds_and_persons_with_the_baseline() {
    let d = setup();
    // Adult level-3 rate 70% → 75%: S1 gains 5% × 4000 = 200.00, S3 gains 5% × 1000 = 50.00;
    // the child (P2, 90% at level 2) is unchanged.
    std::fs::write(
        d.path().join("s.toml"),
        r#"name = "l3-75"
description = "adult level-3 rate 75%"
[[change]]
policy = "changzhou-resident-2026"
set = { "inpatient.bands.0.rate.adult" = [0.90, 0.80, 0.75] }
source = "test"
"#,
    )
    .unwrap();
    let out = run(d.path(), &with_base("scenario", &["--scenario", "s.toml", "--out", "sc"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cmp = rows(&d.path().join("sc/comparison.csv"));
    // scenario, year, policy_id, fund, baseline, scenario, difference
    let hifp = cmp.iter().find(|r| r[3] == "hifp").unwrap();
    // baseline 2800.00 + 44640.00 + 700.00 = 48140.00; scenario + 250.00.
    assert_eq!((hifp[4].as_str(), hifp[5].as_str(), hifp[6].as_str()), ("48140.00", "48390.00", "250.00"));
    let psn = cmp.iter().find(|r| r[3] == "psn_part").unwrap();
    assert_eq!(psn[6], "-250.00");
    let delta = rows(&d.path().join("sc/persons_delta.csv"));
    assert_eq!(delta.len(), 1, "only P1 changes");
    assert_eq!((delta[0][1].as_str(), delta[0][6].as_str(), delta[0][9].as_str()), ("P1", "250.00", "-250.00"));
    assert!(d.path().join("sc/scenario_report.md").exists());

    // A scenario key that no policy has is a clear error naming it.
    std::fs::write(d.path().join("bad.toml"), "name = \"bad\"\n[[change]]\nset = { \"inpatient.no_such_key\" = 1 }\nsource = \"t\"\n")
        .unwrap();
    let out = run(d.path(), &with_base("scenario", &["--scenario", "bad.toml", "--out", "sc2"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no_such_key"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!d.path().join("sc2/comparison.csv").exists());
}
