//! `medsettle policy list | show | check | diff` through the binary.

use medsettle::policy::BUILTIN;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::{Command, Output};

fn medsettle(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medsettle")).args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs and expects success; returns stdout.
fn ok(args: &[&str]) -> String {
    let o = medsettle(args);
    assert!(o.status.success(), "medsettle {}: {}", args.join(" "), stderr(&o));
    stdout(&o)
}

fn builtin_text(id: &str) -> &'static str {
    BUILTIN.iter().find(|(i, _)| *i == id).unwrap_or_else(|| panic!("no built-in {id}")).1
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The effective sha256 from a `policy show` header.
fn effective_sha(shown: &str) -> String {
    let line = shown.lines().find(|l| l.starts_with("# effective sha256:")).expect("effective sha256 in the header");
    line.split_whitespace().nth(3).unwrap().to_string()
}

#[test]
fn list_shows_every_builtin_with_its_hash() {
    let out = ok(&["policy", "list"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("id") && lines[0].contains("sha256") && lines[0].contains("settles"), "{out}");
    assert_eq!(lines.len(), BUILTIN.len() + 1, "{out}");
    for (id, text) in BUILTIN {
        let row = lines.iter().find(|l| l.split_whitespace().next() == Some(*id)).unwrap_or_else(|| panic!("{id} missing:\n{out}"));
        let sha = hex(&Sha256::digest(text.as_bytes()));
        assert!(row.contains(&sha[..12]), "{id}: {row} lacks {}", &sha[..12]);
        let financing_only = *id == "rudong-resident-2026";
        assert_eq!(row.contains("no (financing only)"), financing_only, "{row}");
        assert_eq!(row.contains(" yes "), !financing_only, "{row}");
    }
    let row = lines.iter().find(|l| l.starts_with("changzhou-employee-2024")).unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cells[1..4], ["changzhou", "employee", "2024"], "{row}");
    assert!(row.contains("seed 003"), "{row}");
}

#[test]
fn show_round_trips_through_check_and_diff() {
    let d = tempfile::tempdir().unwrap();
    for (id, _) in BUILTIN {
        let shown = ok(&["policy", "show", id]);
        assert!(shown.starts_with(&format!("# {id} ")), "{shown}");
        assert!(shown.contains("# --set:            none"), "{shown}");
        let file = d.path().join(format!("{id}.toml"));
        std::fs::write(&file, &shown).unwrap();
        let f = file.to_str().unwrap();
        let checked = ok(&["policy", "check", f]);
        assert!(checked.starts_with(&format!("ok: {id} (")), "{checked}");
        let diff = ok(&["policy", "diff", id, f]);
        assert!(diff.contains("\nno parameter differs\n"), "{id}:\n{diff}");
        let diff = ok(&["policy", "diff", id, f, "--sources"]);
        assert!(diff.contains("\nno parameter differs\n") && !diff.contains("citations"), "{id}:\n{diff}");
        // The same effective policy, the same effective hash (manifest.json effective_sha256).
        let reshown = ok(&["policy", "show", f]);
        assert_eq!(effective_sha(&shown), effective_sha(&reshown), "{id}");
        assert_eq!(shown.split_once("\n\n").unwrap().1, reshown.split_once("\n\n").unwrap().1, "{id}: body");
    }
}

const PERSONS: &str = "psn_no,insutype,psn_type,brdy,district,chronic_diseases
P1,390,non_employed,1980-05-01,tianning,hypertension
P2,390,minor,2016-01-01,wujin,
";

const CLAIMS: &str = "setl_id,psn_no,mdtrt_id,setl_time,med_type,hosp_lv,medfee_sumamt,fulamt_ownpay_amt,overlmt_selfpay,preselfpay_amt,inscp_scp_amt,opsp_dise_code
S1,P1,M1,2026-03-01 10:00:00,21,3,400000.00,0.00,0.00,0.00,400000.00,
S2,P1,M2,2026-04-01 10:00:00,11,2,3000.00,0.00,0.00,0.00,3000.00,
S3,P1,M3,2026-05-01 10:00:00,14,1,500.00,0.00,0.00,0.00,500.00,hypertension
S4,P2,M4,2026-06-01 10:00:00,21,2,20000.00,0.00,0.00,0.00,20000.00,
";

fn settle(dir: &Path, out: &str, extra: &[&str]) -> String {
    let mut args: Vec<String> = ["settle", "--claims"].map(String::from).to_vec();
    args.push(dir.join("claims.csv").display().to_string());
    args.push("--persons".into());
    args.push(dir.join("persons.csv").display().to_string());
    args.push("--out".into());
    args.push(dir.join(out).display().to_string());
    args.extend(extra.iter().map(|s| s.to_string()));
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&a);
    std::fs::read_to_string(dir.join(out).join("settlements.csv")).unwrap()
}

#[test]
fn a_shown_policy_settles_like_the_builtin() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    std::fs::write(dir.join("persons.csv"), PERSONS).unwrap();
    std::fs::write(dir.join("claims.csv"), CLAIMS).unwrap();
    let shown = dir.join("shown.toml");
    std::fs::write(&shown, ok(&["policy", "show", "changzhou-resident-2026"])).unwrap();
    let builtin = settle(dir, "a", &[]);
    let from_file = settle(dir, "b", &["--policy", shown.to_str().unwrap()]);
    assert_eq!(builtin, from_file);
    // … and a policy shown with --set settles like the builtin with the same --set.
    std::fs::write(&shown, ok(&["policy", "show", "changzhou-resident-2026", "--set", "inpatient.cap=200000"])).unwrap();
    let with_set = settle(dir, "c", &["--set", "inpatient.cap=200000"]);
    let from_file = settle(dir, "d", &["--policy", shown.to_str().unwrap()]);
    assert_eq!(with_set, from_file);
    assert_ne!(with_set, builtin, "S1 pays 70% × (400000 − 1000) = 279300 under the 350000 cap, but only 200000 under the --set cap");
}

#[test]
fn show_with_set_changes_the_value_and_diff_reports_it() {
    let d = tempfile::tempdir().unwrap();
    let shown = ok(&[
        "policy",
        "show",
        "changzhou-resident-2026",
        "--set",
        "inpatient.cap=400000",
        "--set",
        "inpatient.cap_basis=eligible_cost",
        "--set",
        "inpatient.bands.0.rate.adult=[0.90, 0.80, 0.75]",
    ]);
    assert!(shown.contains("# --set:            inpatient.cap=400000\n"), "{shown}");
    assert!(shown.contains("# --set:            inpatient.cap_basis=eligible_cost\n"), "{shown}");
    assert!(shown.contains("\ncap = 400000\n") && shown.contains("\ncap_basis = \"eligible_cost\"\n"), "{shown}");
    assert!(shown.contains("\nadult = [0.9, 0.8, 0.75]\n"), "{shown}");
    assert!(shown.contains("\nsource = \"000 §三(一); RULES.md §4.1\"\n"), "sections keep their source:\n{shown}");
    assert_ne!(effective_sha(&shown), effective_sha(&ok(&["policy", "show", "changzhou-resident-2026"])));
    let file = d.path().join("p.toml");
    std::fs::write(&file, &shown).unwrap();
    let diff = ok(&["policy", "diff", "changzhou-resident-2026", file.to_str().unwrap()]);
    assert!(diff.contains("\n  inpatient.cap: 350000 → 400000\n"), "{diff}");
    assert!(diff.contains("\n  inpatient.cap_basis: \"fund_paid\" → \"eligible_cost\"\n"), "{diff}");
    assert!(diff.contains("\n  inpatient.bands.0.rate.adult: [0.9, 0.8, 0.7] → [0.9, 0.8, 0.75]\n"), "{diff}");
    assert!(diff.contains("\n3 differences: 3 changed, 0 only in a, 0 only in b\n"), "{diff}");
    // A key the policy does not have is an error naming it.
    let o = medsettle(&["policy", "show", "changzhou-resident-2026", "--set", "inpatient.no_such_key=1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("inpatient.no_such_key"), "{}", stderr(&o));
}

/// `policy check` of the 2026 resident policy text with one edit: exit 1, the message names
/// the TOML path (and says what is wrong).
fn check_broken(from: &str, to: &str, expect: &[&str]) {
    let text = builtin_text("changzhou-resident-2026");
    assert!(text.contains(from), "the test edit `{from}` no longer applies to the built-in text");
    let broken = text.replacen(from, to, 1);
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("broken.toml");
    std::fs::write(&file, broken).unwrap();
    let o = medsettle(&["policy", "check", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "accepted `{to}`: {}", stdout(&o));
    let err = stderr(&o);
    assert!(err.contains("broken.toml"), "{err}");
    for e in expect {
        assert!(err.contains(e), "`{to}`: expected `{e}` in: {err}");
    }
    assert!(stdout(&o).is_empty());
}

#[test]
fn check_rejects_broken_files_naming_the_path() {
    // a rate that is not a fraction
    check_broken(
        "rate = { adult = [0.90, 0.80, 0.70],",
        "rate = { adult = [0.90, 0.80, 70],",
        &["inpatient.bands.0.rate.adult.2", "not a fraction"],
    );
    check_broken("dual_channel = 0.60", "dual_channel = 1.5", &["drugs.dual_channel", "not a fraction"]);
    // more decimals than the settlement's fixed point holds (as a TOML float and as text)
    check_broken("dual_channel = 0.60", "dual_channel = 0.6000000001", &["drugs.dual_channel", "more than 9 decimals"]);
    check_broken("dual_channel = 0.60", "dual_channel = \"0.6000000001\"", &["drugs.dual_channel", "more than 9 decimals"]);
    // three levels or one value
    check_broken(
        "deductible = { adult = [400, 600, 1000],",
        "deductible = { adult = [400, 600],",
        &["inpatient.deductible.adult", "three"],
    );
    // unknown keys, in a section and in a keyed table
    check_broken(
        "pharmacy_column = \"level2\"",
        "pharmacy_column = \"level2\"\npharmacy_colum = \"level3\"",
        &["outpatient", "pharmacy_colum"],
    );
    check_broken("[special.diseases.sle]", "[special.diseases.lupus]", &["special.diseases", "lupus"]);
    // descending brackets
    check_broken(
        "general = [{ upto = 20000, rate = 0.0 }, { upto = 100000,",
        "general = [{ upto = 20000, rate = 0.0 }, { upto = 10000,",
        &["catastrophic.general.1.upto", "ascending"],
    );
    check_broken(
        "[[outpatient.bands.all]]\nupto = 1500",
        "[[outpatient.bands.all]]\nupto = 150",
        &["outpatient.bands.all.1.upto", "ascending"],
    );
    check_broken("{ max_age = 13, rate = 0.75", "{ max_age = 5, rate = 0.75", &["pku.bands.1.max_age"]);
    // a missing source, an empty source
    check_broken("[drugs]\nsource = \"000 §三(二)4.2; RULES.md §4.5\"\n", "[drugs]\n", &["drugs", "source"]);
    check_broken("[drugs]\nsource = \"000 §三(二)4.2; RULES.md §4.5\"\n", "[drugs]\nsource = \" \"\n", &["drugs.source", "empty"]);
    // a group of the scheme with no value (the kernel would read it as 0)
    check_broken(
        "deductible = { adult = [400, 600, 1000], child = [200, 400, 600] }",
        "deductible = { adult = [400, 600, 1000] }",
        &["inpatient.deductible", "child"],
    );
    check_broken(
        "rates = { all = { primary = 0.50, other = 0.40 } }",
        "rates = { all = { primary = 0.50, other = 0.40 }, retired = { primary = 0.5, other = 0.4 } }",
        &["chronic.rates.retired", "not a group of the resident scheme"],
    );
    // a disease of the wrong programme, a negative amount, TOML syntax
    check_broken("[special.diseases.sle]", "[special.diseases.diabetes]", &["special.diseases.diabetes", "not a special disease"]);
    check_broken("cap = 350000", "cap = -1", &["inpatient.cap", "negative"]);
    check_broken("cap = 350000", "cap = 350000.001", &["inpatient.cap", "two decimals"]);
    check_broken("cap = 350000", "cap = = 3", &["TOML", "line"]);
    // several problems are all reported
    check_broken("[[outpatient.bands.all]]\nupto = 1500", "[[outpatient.bands.all]]\nupto = 150", &["outpatient.bands.all.1.upto"]);
}

/// Nine decimals are the most a rate may have; trailing zeros beyond them change nothing.
#[test]
fn check_accepts_rates_of_nine_decimals() {
    let text = builtin_text("changzhou-resident-2026");
    let d = tempfile::tempdir().unwrap();
    for rate in ["0.600000001", "\"0.6000000000000\""] {
        let file = d.path().join("nine.toml");
        std::fs::write(&file, text.replacen("dual_channel = 0.60", &format!("dual_channel = {rate}"), 1)).unwrap();
        let o = medsettle(&["policy", "check", file.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{rate}: {}", stderr(&o));
    }
}

#[test]
fn check_accepts_builtins_by_id() {
    for (id, _) in BUILTIN {
        let out = ok(&["policy", "check", id]);
        assert!(out.starts_with(&format!("ok: {id} (")), "{out}");
    }
    assert_eq!(ok(&["policy", "check", "rudong-resident-2026"]), "ok: rudong-resident-2026 (rudong resident 2026)\n");
    let o = medsettle(&["policy", "check", "no-such-policy.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("neither a built-in policy"), "{}", stderr(&o));
}

#[test]
fn diff_of_resident_2024_and_2026_lists_known_differences() {
    let diff = ok(&["policy", "diff", "changzhou-resident-2024", "changzhou-resident-2026"]);
    assert!(diff.starts_with("a: changzhou-resident-2024 (builtin:changzhou-resident-2024, sha256 "), "{diff}");
    for line in [
        // seed 002 → 000: year, maternity waiting, offsite points, PKU for adults, catastrophic cap
        "  year: 2024 → 2026",
        "  maternity.min_consecutive_years: 2 → 0",
        "  special.diseases.hemophilia.rate: \"inpatient\" → 0.85",
        "  offsite.points.referral: 0.05 → 0.1",
        "  offsite.points.emergency: 0 → 0.1",
        "  financing.resident.non_employed.personal: 900 → 800",
    ] {
        assert!(diff.contains(&format!("\n{line}\n")), "missing `{line}` in:\n{diff}");
    }
    let only_b = diff.split("\nonly in b:\n").nth(1).unwrap_or_else(|| panic!("no `only in b` section:\n{diff}"));
    for line in [
        "  catastrophic.cap: 500000",
        "  pku.bands.3: { limit = 12000, rate = 0.7 }",
        "  special.diseases.muscular_dystrophy: { limit = 6000, rate = 0.7 }",
    ] {
        assert!(only_b.contains(&format!("{line}\n")), "missing `{line}` in only-in-b:\n{diff}");
    }
    // Citations are counted, not listed, unless asked for.
    assert!(!diff.contains(".source:"), "{diff}");
    assert!(diff.contains("citations (source, title) also differ"), "{diff}");
    let with_sources = ok(&["policy", "diff", "changzhou-resident-2024", "changzhou-resident-2026", "--sources"]);
    assert!(
        with_sources.contains("\n  inpatient.source: \"002 §三(一); RULES.md §4.1\" → \"000 §三(一); RULES.md §4.1\"\n"),
        "{with_sources}"
    );
    // Reversed, the same differences the other way.
    let back = ok(&["policy", "diff", "changzhou-resident-2026", "changzhou-resident-2024"]);
    assert!(back.contains("\n  maternity.min_consecutive_years: 0 → 2\n"), "{back}");
    assert!(back.split("\nonly in a:\n").nth(1).is_some_and(|s| s.contains("  catastrophic.cap: 500000\n")), "{back}");
}

#[test]
fn drugs_inside_cap_is_a_resident_key() {
    // D-16: the switch belongs to the resident 350,000 cap; employees have no overall cap (S-15).
    let shown = ok(&["policy", "show", "changzhou-employee-2024"]);
    assert!(!shown.contains("inside_cap"), "{shown}");
    assert!(shown.contains("[drugs]\n"), "{shown}");
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("employee.toml");
    std::fs::write(&file, shown.replace("[drugs]\n", "[drugs]\ninside_cap = false\n")).unwrap();
    let o = medsettle(&["policy", "check", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stderr(&o).contains("drugs.inside_cap"), "{}", stderr(&o));
    // Residents keep it as a parameter.
    assert!(ok(&["policy", "show", "changzhou-resident-2026"]).contains("inside_cap = false"));
}
