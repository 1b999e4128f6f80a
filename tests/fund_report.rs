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

#[test]
fn contributions_of_employees_residents_and_rudong() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("persons.csv"), PERSONS).unwrap();
    std::fs::write(d.path().join("claims.csv"), CLAIMS).unwrap();
    let out = d.path().join("out");
    let run = Command::new(env!("CARGO_BIN_EXE_medsettle"))
        .arg("settle")
        .arg("--claims")
        .arg(d.path().join("claims.csv"))
        .arg("--persons")
        .arg(d.path().join("persons.csv"))
        .arg("--out")
        .arg(&out)
        // The Rudong claim is refused on purpose (no benefit rules): no reject-rate exit 4.
        .args(["--max-reject-rate", "1"])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let lines = income_lines(&std::fs::read_to_string(out.join("fund_report.csv")).unwrap());
    let get = |year: &str, policy: &str, fund: &str, category: &str, item: &str| {
        lines
            .get(&(year.into(), policy.into(), "income".into(), fund.into(), category.into(), item.into()))
            .map(|(c, a)| (c.as_str(), a.as_str()))
    };

    // Employees 2024 [003 §二(三)]: 10.8% of the monthly base, employer 8.8%, person 2%;
    // flexible workers 9%, by the person; 12 monthly contributions, each rounded to the fen.
    //   E1 base 8000.00: employer 704.00 × 12 = 8448.00; personal 160.00 × 12 = 1920.00.
    //   E4 base 7777.77: employer 684.44376 → 684.44 × 12 = 8213.28; personal 155.5554 → 155.56 × 12 = 1866.72.
    //   E2 flexible, base 4494.00 (own base, see the policy's flexible_base note): 404.46 × 12 = 4853.52.
    //   E3 retired: pays nothing [003 §二(一), §二(四)].
    // employer: 2 persons, 8448.00 + 8213.28 = 16661.28; personal: 3, 1920.00 + 1866.72 + 4853.52 = 8640.24.
    let emp = "changzhou-employee-2024";
    assert_eq!(get("2024", emp, "basic", "in_service", "employer"), Some(("2", "16661.28")));
    assert_eq!(get("2024", emp, "basic", "in_service", "personal"), Some(("3", "8640.24")));
    assert_eq!(get("2024", emp, "basic", "retired", "personal"), None);
    assert_eq!(get("2024", emp, "basic", "retired", "employer"), None);

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
    assert!(!report.contains("have no contribution_base"), "a retiree is not a missing base:\n{report}");
}
