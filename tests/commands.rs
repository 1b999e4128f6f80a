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
    // In English, with the differences summed as absolute values and signed per fund and
    // benefit: hifp +640.00 (abs 640.00), psn_part −640.00 (abs 640.00).
    let out = run(d.path(), &with_base("replay", &["--out", "r-en", "--lang", "en"]));
    assert_eq!(out.status.code(), Some(3));
    let report = std::fs::read_to_string(d.path().join("r-en/replay_report.md")).unwrap();
    assert!(
        report.contains("claims compared 2; without recorded amounts 1; with a discrepancy 1; recorded rows that do not add up 0"),
        "{report}"
    );
    assert!(report.contains("| basic pooling fund `hifp` | inpatient | 2 | 1 | 640.00 | 640.00 |"), "{report}");
    assert!(report.contains("| personal burden `psn_part` | inpatient | 2 | 1 | 640.00 | -640.00 |"), "{report}");
    assert!(report.contains("first difference in the basic-fund layer"), "{report}");
    // discrepancies.csv and the replay reports are committed with the recomputation and hashed.
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.path().join("r/manifest.json")).unwrap()).unwrap();
    let names: Vec<&str> = m["outputs"].as_array().unwrap().iter().filter_map(|o| o["name"].as_str()).collect();
    for f in ["discrepancies.csv", "replay_report.md", "replay_report.html", "replay_report.xlsx", "settlements.csv"] {
        assert!(names.contains(&f), "manifest lacks {f}: {names:?}");
    }

    // Within a tolerance of 700.00 nothing is a discrepancy: exit 0 and an empty list.
    let out = run(d.path(), &with_base("replay", &["--out", "r2", "--tolerance", "700"]));
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(rows(&d.path().join("r2/discrepancies.csv")).is_empty());

    // A recorded row that does not add up: S4, child, level 2, a new admission, in-scope 1000:
    // 90% × (1000 − 400) = 540.00, personal 460.00; the platform recorded 540.00 + 470.00 =
    // 1010.00 ≠ 1000.00 → reported as a broken row and a psn_part discrepancy of −10.00.
    let mut broken = CLAIMS.to_string();
    broken.push_str("S4,P2,M4,2026-07-01 10:00:00,21,2,1000.00,0.00,0.00,0.00,1000.00,540.00,0.00,0.00,0.00,470.00\n");
    std::fs::write(d.path().join("broken.csv"), broken).unwrap();
    let out = run(d.path(), &["replay", "--claims", "broken.csv", "--persons", "persons.csv", "--out", "rb", "--lang", "en"]);
    assert_eq!(out.status.code(), Some(3));
    let report = std::fs::read_to_string(d.path().join("rb/replay_report.md")).unwrap();
    assert!(report.contains("| S4 | 1,000.00 | 1,010.00 | 10.00 |"), "{report}");
    assert!(report.contains("the recorded amounts add up to 1010.00 ≠ medfee_sumamt 1000.00"), "{report}");

    // Claims without recorded amounts: nothing to replay against is an error, not "0 compared".
    let plain: String = CLAIMS.lines().map(|l| l.split(',').take(11).collect::<Vec<_>>().join(",") + "\n").collect();
    std::fs::write(d.path().join("plain.csv"), plain).unwrap();
    let out = run(d.path(), &["replay", "--claims", "plain.csv", "--persons", "persons.csv", "--out", "rp"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no recorded amounts"), "{}", String::from_utf8_lossy(&out.stderr));
    // Said from the header alone, before any row is read: the persons file is not even opened
    // (a city-year would otherwise be read and settled for minutes first). The same from a
    // Parquet schema.
    let out = run(d.path(), &["replay", "--claims", "plain.csv", "--persons", "absent.csv", "--out", "rp"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no recorded amounts"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(d.path(), &["generate", "--persons", "20", "--year", "2026", "--seed", "1", "--out", "gen", "--format", "parquet"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(d.path(), &["replay", "--claims", "gen/claims.parquet", "--persons", "absent.parquet", "--out", "rg"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no recorded amounts"), "{}", String::from_utf8_lossy(&out.stderr));
    // The columns there but every cell empty: found by reading the rows, the same error.
    let empty: String = CLAIMS
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let head = l.split(',').take(11).collect::<Vec<_>>().join(",");
            if i == 0 { l.to_string() + "\n" } else { head + ",,,,,\n" }
        })
        .collect();
    std::fs::write(d.path().join("empty.csv"), empty).unwrap();
    let out = run(d.path(), &["replay", "--claims", "empty.csv", "--persons", "persons.csv", "--out", "re"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no recorded amounts"), "{}", String::from_utf8_lossy(&out.stderr));
    // A file with recorded amounts beside one without: replayed, the other file's claim
    // counted as without recorded amounts.
    let other =
        "setl_id,psn_no,mdtrt_id,setl_time,med_type,hosp_lv,medfee_sumamt,fulamt_ownpay_amt,overlmt_selfpay,preselfpay_amt,inscp_scp_amt
S9,P1,M9,2026-08-01 10:00:00,21,3,100.00,0.00,0.00,0.00,100.00
";
    std::fs::write(d.path().join("other.csv"), other).unwrap();
    let out = run(d.path(), &["replay", "--claims", "other.csv", "claims.csv", "--persons", "persons.csv", "--out", "rm", "--lang", "en"]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let report = std::fs::read_to_string(d.path().join("rm/replay_report.md")).unwrap();
    assert!(report.contains("claims compared 2; without recorded amounts 2;"), "{report}");

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
        r#"name = "l3, 75"
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
    // One header, no duplicate column; a name with a comma stays in its field.
    let header = std::fs::read_to_string(d.path().join("sc/comparison.csv")).unwrap().lines().next().unwrap().to_string();
    assert_eq!(header, "scenario,year,policy_id,flow,fund,benefit,baseline,reform,difference,percent");
    let cmp = rows(&d.path().join("sc/comparison.csv"));
    assert!(cmp.iter().all(|r| r.len() == 10 && r[0] == "l3, 75"), "{cmp:?}");
    let find = |flow: &str, fund: &str, benefit: &str| {
        cmp.iter()
            .find(|r| r[3] == flow && r[4] == fund && r[5] == benefit)
            .unwrap_or_else(|| panic!("no {flow} {fund} {benefit}: {cmp:?}"))
    };
    // baseline 2800.00 + 44640.00 + 700.00 = 48140.00; scenario + 250.00 (250 / 48140 = 0.5193%).
    let hifp = find("expenditure", "hifp", "inpatient");
    assert_eq!((hifp[6].as_str(), hifp[7].as_str(), hifp[8].as_str(), hifp[9].as_str()), ("48140.00", "48390.00", "250.00", "0.005193"));
    assert_eq!(find("burden", "psn_part", "")[8], "-250.00");
    // Income does not change (the scenario changes no contribution): basic 800 + 380 and
    // long-term care 30 (P1; minors are exempt) = 1210.00 [000 §一(三)].
    let income = find("income", "income_total", "");
    assert_eq!((income[6].as_str(), income[8].as_str()), ("1210.00", "0.00"));
    // The basic fund's balance falls by the 250.00 it pays more: 1180 − 48140 = −46960 → −47210.
    let bal = rows(&d.path().join("sc/balance_change.csv"));
    let b = bal.iter().find(|r| r[2] == "hifp").unwrap();
    assert_eq!((b[7].as_str(), b[8].as_str(), b[9].as_str()), ("-46960.00", "-47210.00", "-250.00"));
    // Winners and losers: P1's final burden 2200 + 1300 = 3500 → 3250 (−7.1%: gain > 5%),
    // P2 unchanged; the average change over the 2 person-years is −125.00.
    let wl = rows(&d.path().join("sc/winners_losers.csv"));
    let all = wl.iter().find(|r| r[1] == "all").unwrap();
    // scenario, group, value, person_years, lose>5, lose≤5, none, gain≤5, gain>5, average
    assert_eq!(all[3..].to_vec(), vec!["2", "0", "0", "1", "0", "1", "-125.00"]);
    let largest = rows(&d.path().join("sc/largest_changes.csv"));
    assert_eq!((largest.len(), largest[0][2].as_str(), largest[0][7].as_str()), (1, "P1", "-250.00"));
    for f in ["deciles.csv", "report.html", "report.xlsx", "scenario_report.md"] {
        assert!(d.path().join("sc").join(f).exists(), "no {f}");
    }
    let delta = rows(&d.path().join("sc/persons_delta.csv"));
    assert_eq!(delta.len(), 1, "only P1 changes");
    assert_eq!((delta[0][1].as_str(), delta[0][6].as_str(), delta[0][9].as_str()), ("P1", "250.00", "-250.00"));

    // A scenario key that no policy has is a clear error naming it.
    std::fs::write(d.path().join("bad.toml"), "name = \"bad\"\n[[change]]\nset = { \"inpatient.no_such_key\" = 1 }\nsource = \"t\"\n")
        .unwrap();
    let out = run(d.path(), &with_base("scenario", &["--scenario", "bad.toml", "--out", "sc2"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no_such_key"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!d.path().join("sc2/comparison.csv").exists());
}

// K1: adult, level 3, in-scope 200,000: hifp = 70% × (200000 − 1000) = 139,300.00; the
//     catastrophic base 200000 − 139300 = 60,700 splits into (0, 20000] × 0% = 0 and
//     (20000, 60700] × 60% = 24,420.00 [000 §四]; the 2026 cap 500,000 + 0 + 0 (no zero-claim
//     year, no consecutive years beyond 4) is far away.
// K2: reverses K1: it takes back cap_paid 139,300.00, cat_base 60,700.00, cat_paid 24,420.00
//     and the deductible 1,000.00 charged on M1.
const CAT_CLAIMS: &str = "setl_id,psn_no,mdtrt_id,setl_time,med_type,hosp_lv,medfee_sumamt,fulamt_ownpay_amt,overlmt_selfpay,preselfpay_amt,inscp_scp_amt,refd_setl_flag,init_setl_id
K1,P1,M1,2026-03-01 10:00:00,21,3,200000.00,0.00,0.00,0.00,200000.00,0,
K2,P1,M1,2026-04-01 10:00:00,21,3,-200000.00,0.00,0.00,0.00,-200000.00,1,K1
";

#[test]
fn explain_shows_catastrophic_pieces_the_cap_reversals_and_a_versioned_json_trace() {
    let d = setup();
    std::fs::write(d.path().join("cat.csv"), CAT_CLAIMS).unwrap();
    let base = ["explain", "--claims", "cat.csv", "--persons", "persons.csv"];
    let text = |extra: &[&str]| {
        let out = run(d.path(), &[&base[..], extra].concat());
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let k1 = text(&["--setl-id", "K1"]);
    for want in [
        "hifp 139300.00",
        "band (0.00, 20000.00] at 0%: 0",
        "band (20000.00, 60700.00] at 60%: 24420",
        "annual cap 500000.00 = 500000.00 + zero-claim incentive 0.00 + loyalty incentive 0.00",
        "hifmi 24420.00",
        "for the admission",
    ] {
        assert!(k1.contains(want), "explain K1 lacks {want:?}:\n{k1}");
    }
    // Residents have no first / later admission rule.
    assert!(!k1.contains("later admission") && !k1.contains("first admission"), "{k1}");

    let k2 = text(&["--setl-id", "K2"]);
    for want in ["cap_paid −139300.00", "cat_base −60700.00", "cat_paid −24420.00", "deductible_charged −1000.00"] {
        assert!(k2.contains(want), "explain K2 lacks {want:?}:\n{k2}");
    }

    let json: serde_json::Value = serde_json::from_str(&text(&["--setl-id", "K1", "--format", "json"])).unwrap();
    assert_eq!(json["format"], "medsettle.trace.v1");
    let target = json["claims"].as_array().unwrap().iter().find(|c| c["target"] == true).unwrap();
    assert_eq!((target["setl_id"].as_str(), target["hifmi_pay"].as_str()), (Some("K1"), Some("24420.00")));
    let steps = target["steps"].as_array().unwrap();
    assert!(steps.iter().all(|s| s["source"].as_str().is_some_and(|x| !x.is_empty())), "every step cites its source");
    let cat = steps.iter().find(|s| s["layer"] == "catastrophic").unwrap();
    assert_eq!(cat["values"]["band.1.rate"], "0.6");
    assert_eq!(cat["values"]["band.1.amount"], "24420");
    assert_eq!(cat["values"]["cap"], "500000.00");
    assert!(cat["params"].as_array().unwrap().iter().any(|p| p == "catastrophic.cap"));
    // Only the claim's own year is summarised.
    assert_eq!(json["years"].as_array().unwrap().len(), 1);
}
