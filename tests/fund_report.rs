//! The income side of fund_report.csv, worked by hand from the financing sections of the seeds
//! (RULES.md §9), through the binary.

use std::collections::HashMap;
use std::process::Command;

const PERSONS: &str = "psn_no,insutype,psn_type,brdy,district,assistance,contribution_base,flexible
E1,310,in_service,1980-01-01,,none,8000.00,0
E2,310,in_service,1985-01-01,,none,4494.00,1
E3,310,retired,1950-01-01,,none,,0
E4,310,in_service,1990-01-01,,other,7777.77,0
R1,390,elderly,1950-01-01,tianning,none,,
R2,390,non_employed,1980-01-01,liyang,none,,
R3,390,non_employed,1980-01-01,wujin,other,,
R4,390,minor,2015-01-01,xinbei,none,,
R5,390,student,2005-01-01,zhonglou,none,,
R6,390,minor,2015-01-01,rudong,none,,
";

const CLAIMS: &str =
    "setl_id,psn_no,mdtrt_id,setl_time,med_type,hosp_lv,medfee_sumamt,fulamt_ownpay_amt,overlmt_selfpay,preselfpay_amt,inscp_scp_amt
S1,E1,M1,2024-03-01 10:00:00,11,2,100.00,0.00,0.00,0.00,100.00
S2,R1,M2,2026-03-01 10:00:00,11,2,100.00,0.00,0.00,0.00,100.00
S3,R6,M3,2026-03-01 10:00:00,11,2,100.00,0.00,0.00,0.00,100.00
";

/// (year, policy_id, flow, fund, category, item)
type LineKey = (String, String, String, String, String, String);

/// The income lines: key → (count, amount).
fn income_lines(text: &str) -> HashMap<LineKey, (String, String)> {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let h = r.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|c| c == n).unwrap();
    let (y, p, fl, fu, ca, it, co, am) =
        (col("year"), col("policy_id"), col("flow"), col("fund"), col("category"), col("item"), col("count"), col("amount"));
    r.records()
        .map(|rec| rec.unwrap())
        .filter(|rec| &rec[fl] == "income")
        .map(|rec| {
            let k = (
                rec[y].to_string(),
                rec[p].to_string(),
                rec[fl].to_string(),
                rec[fu].to_string(),
                rec[ca].to_string(),
                rec[it].to_string(),
            );
            (k, (rec[co].to_string(), rec[am].to_string()))
        })
        .collect()
}

/// Settles the fixed persons and claims with extra arguments; the output directory.
fn settle(d: &std::path::Path, name: &str, args: &[&str]) -> std::path::PathBuf {
    std::fs::write(d.join("persons.csv"), PERSONS).unwrap();
    std::fs::write(d.join("claims.csv"), CLAIMS).unwrap();
    let out = d.join(name);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_medsettle"));
    cmd.arg("settle").arg("--claims").arg(d.join("claims.csv")).arg("--persons").arg(d.join("persons.csv")).arg("--out").arg(&out);
    // The Rudong claim is refused on purpose (no benefit rules): no reject-rate exit 4.
    cmd.args(["--max-reject-rate", "1"]);
    cmd.args(args);
    let run = cmd.output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    out
}

#[test]
fn contributions_of_employees_residents_and_rudong() {
    let d = tempfile::tempdir().unwrap();
    let out = settle(d.path(), "out", &[]);
    let lines = income_lines(&std::fs::read_to_string(out.join("fund_report.csv")).unwrap());
    let get = |year: &str, policy: &str, fund: &str, category: &str, item: &str| {
        lines
            .get(&(year.into(), policy.into(), "income".into(), fund.into(), category.into(), item.into()))
            .map(|(c, a)| (c.as_str(), a.as_str()))
    };

    // Employees 2024 [003 §二(三)]: 10.8% of the monthly base, employer 8.8%, person 2%, for basic
    // medical and maternity insurance together (fund basic_and_maternity, RULES.md §9); flexible
    // workers 9% of the provincial floor base, by the person; 12 monthly contributions, each
    // rounded to the fen.
    //   E1 base 8000.00: employer 704.00 × 12 = 8448.00; personal 160.00 × 12 = 1920.00.
    //   E4 base 7777.77: employer 684.44376 → 684.44 × 12 = 8213.28; personal 155.5554 → 155.56 × 12 = 1866.72.
    //   E2 flexible: the policy prints no floor base (financing.employee.flexible_base) and the
    //   person's own base is never used (§9) → not in the income, reported as missing.
    //   E3 retired: pays nothing [003 §二(一), §二(四)].
    // employer: 2 persons, 8448.00 + 8213.28 = 16661.28; personal: 2, 1920.00 + 1866.72 = 3786.72.
    let emp = "changzhou-employee-2024";
    let fund = "basic_and_maternity";
    assert_eq!(get("2024", emp, fund, "in_service", "employer"), Some(("2", "16661.28")));
    assert_eq!(get("2024", emp, fund, "in_service", "personal"), Some(("2", "3786.72")));
    assert_eq!(get("2024", emp, "basic", "in_service", "employer"), None);
    assert_eq!(get("2024", emp, fund, "retired", "personal"), None);
    assert_eq!(get("2024", emp, fund, "retired", "employer"), None);

    // Changzhou residents 2026 [000 §一(三)]: elderly 700 + LTC 30; non-employed 800 (Wujin …)
    // or 700 (Liyang, Jintan) + 30; minor 380, LTC exempt; student 240 + 30. An assistance
    // recipient's personal part is paid by the government.
    let res = "changzhou-resident-2026";
    assert_eq!(get("2026", res, "basic", "elderly", "personal"), Some(("1", "700.00")));
    assert_eq!(get("2026", res, "ltc", "elderly", "personal"), Some(("1", "30.00")));
    assert_eq!(get("2026", res, "basic", "non_employed", "personal"), Some(("1", "700.00")), "R2 in Liyang");
    assert_eq!(get("2026", res, "basic", "non_employed", "government_paid_personal"), Some(("1", "800.00")), "R3 in Wujin");
    assert_eq!(get("2026", res, "ltc", "non_employed", "government_paid_personal"), Some(("1", "30.00")));
    assert_eq!(get("2026", res, "basic", "minor", "personal"), Some(("1", "380.00")));
    assert_eq!(get("2026", res, "ltc", "minor", "personal"), None, "minors are LTC exempt");
    assert_eq!(get("2026", res, "basic", "student", "personal"), Some(("1", "240.00")));

    // Rudong 2026 [004]: pupils/minors 530 personal incl. 30 care insurance, subsidy 1150 incl. 40.
    let rud = "rudong-resident-2026";
    assert_eq!(get("2026", rud, "basic", "minor", "personal"), Some(("1", "500.00")));
    assert_eq!(get("2026", rud, "ltc", "minor", "personal"), Some(("1", "30.00")));
    assert_eq!(get("2026", rud, "basic", "minor", "government_subsidy"), Some(("1", "1110.00")));
    assert_eq!(get("2026", rud, "ltc", "minor", "government_subsidy"), Some(("1", "40.00")));

    // Rudong's claim is rejected (no benefit rules), the others settle.
    let rejects = std::fs::read_to_string(out.join("rejects.csv")).unwrap();
    assert!(rejects.contains("S3") && rejects.contains("no_benefit_rules"), "{rejects}");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("\n1 employee person-years have no contribution base"), "only E2 (not the retiree):\n{report}");

    // With a floor base in the policy, E2 pays 9% of it (its own base 4494.00 is not used):
    // base 4000.00 (a test value) → 360.00 × 12 = 4320.00; personal: 3, 3786.72 + 4320.00 = 8106.72.
    let shown = Command::new(env!("CARGO_BIN_EXE_medsettle")).args(["policy", "show", emp]).output().unwrap();
    let text = String::from_utf8(shown.stdout).unwrap();
    assert!(text.contains("[financing.employee]\n"), "{text}");
    let file = d.path().join("employee.toml");
    std::fs::write(&file, text.replace("[financing.employee]\n", "[financing.employee]\nflexible_base = 4000\n")).unwrap();
    let out = settle(d.path(), "out2", &["--policy", file.to_str().unwrap()]);
    let lines = income_lines(&std::fs::read_to_string(out.join("fund_report.csv")).unwrap());
    let key =
        ("2024".to_string(), emp.to_string(), "income".to_string(), fund.to_string(), "in_service".to_string(), "personal".to_string());
    assert_eq!(lines.get(&key).map(|(c, a)| (c.as_str(), a.as_str())), Some(("3", "8106.72")));
}

#[test]
fn other_payers_are_reported_beside_the_funds() {
    // RULES.md S-28: the 2026 childbirth subsidy (payer `finance`) and rare_fund_pay (payer
    // `provincial_rare_fund`, S-27) are expenditure lines of their own, not fund payments.
    // B1 (2026, level 3, inscp 3000.00): hifp = max(70% × 2000, 70% × 3000) = 2100.00 (D-11);
    //   subsidy 3000.00 − 2100.00 = 900.00.
    // A1 (2024 rare drug, inscp 8500.00, preselfpay 1000.00): hifp 6800.00, share 2700.00,
    //   rare_fund_pay 1000.00.
    let d = tempfile::tempdir().unwrap();
    let persons = "psn_no,insutype,psn_type,brdy,district\nR1,390,non_employed,1990-01-01,wujin\n";
    let claims = "setl_id,psn_no,mdtrt_id,setl_time,med_type,hosp_lv,drug_class,medfee_sumamt,fulamt_ownpay_amt,overlmt_selfpay,preselfpay_amt,inscp_scp_amt,rare_fund_pay
B1,R1,M1,2026-05-01 10:00:00,52,3,,3000.00,0.00,0.00,0.00,3000.00,
A1,R1,M2,2024-05-01 10:00:00,15,,rare,10000.00,500.00,0.00,1000.00,8500.00,1000.00
";
    std::fs::write(d.path().join("persons.csv"), persons).unwrap();
    std::fs::write(d.path().join("claims.csv"), claims).unwrap();
    let out = d.path().join("out");
    let run = Command::new(env!("CARGO_BIN_EXE_medsettle"))
        .args(["settle", "--claims"])
        .arg(d.path().join("claims.csv"))
        .arg("--persons")
        .arg(d.path().join("persons.csv"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let text = std::fs::read_to_string(out.join("fund_report.csv")).unwrap();
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let h = r.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|c| c == n).unwrap();
    let (fu, be, am) = (col("fund"), col("benefit"), col("amount"));
    let lines: Vec<(String, String, String)> =
        r.records().map(|x| x.unwrap()).map(|x| (x[fu].to_string(), x[be].to_string(), x[am].to_string())).collect();
    let has = |f: &str, b: &str, a: &str| lines.iter().any(|l| l.0 == f && l.1 == b && l.2 == a);
    assert!(has("finance", "maternity", "900.00"), "{text}");
    assert!(has("hifp", "maternity", "2100.00"), "{text}");
    assert!(has("provincial_rare_fund", "rare_drug", "1000.00"), "{text}");
    assert!(has("hifp", "rare_drug", "6800.00"), "{text}");
    assert!(!lines.iter().any(|l| l.0 == "finance" && l.1 == "rare_drug"), "{text}");
}
