//! Property tests of the kernel's invariants over random claim sets:
//! - funds + personal part = total on every row (D-02), nothing negative on settled rows;
//! - caps and limits never exceeded (350,000 resident cap, catastrophic cap, assistance
//!   limits, special-disease and PKU limits);
//! - the same output on 1 and 4 threads and for any input row order;
//! - a year settled in one batch equals it settled night by night (settling more days never
//!   changes the settlements of earlier days);
//! - a reversal and its original net to zero.

use medsettle::engine::Settled;
use medsettle::model::{Benefit, Money, Status};
use medsettle::pipeline::{self, Loaded};
use medsettle::policy::PolicySet;
use proptest::prelude::*;
use std::collections::HashMap;
use std::fmt::Write;

const PERSONS: &str =
    "psn_no,insutype,psn_type,brdy,district,assistance,chronic_diseases,consecutive_years,prior_zero_claim,transplant_date
A1,390,non_employed,1970-03-01,tianning,none,hypertension;diabetes,6,1,
A2,390,elderly,1950-07-09,liyang,destitute,malignant_tumor,2,0,2025-05-01
C1,390,minor,2018-02-02,wujin,other,,1,0,
C2,390,student,2005-09-09,xinbei,none,,0,0,
E1,310,in_service,1980-01-01,,none,coronary_heart,3,0,
E2,310,retired,1955-05-05,,other,malignant_tumor;parkinson,10,0,2024-03-01
E3,310,veteran_worker,1930-01-01,,none,,20,0,
";

#[derive(Clone, Debug)]
struct Spec {
    person: usize,
    day: u32,
    second: u32,
    kind: usize,
    level: u8,
    primary: bool,
    offsite: usize,
    fulamt: i64,
    overlmt: i64,
    presel: i64,
    inscp: i64,
    mdtrt: u8,
    disease: usize,
    reverse: bool,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        (0usize..7, 0u32..365, 0u32..86400, 0usize..9, 1u8..=3, any::<bool>(), 0usize..12),
        (0i64..300_000, 0i64..100_000, 0i64..300_000, prop_oneof![0i64..50_000, 0i64..3_000_000, 0i64..40_000_000]),
        (0u8..4, 0usize..8, prop::bool::weighted(0.1)),
    )
        .prop_map(
            |((person, day, second, kind, level, primary, offsite), (fulamt, overlmt, presel, inscp), (mdtrt, disease, reverse))| Spec {
                person,
                day,
                second,
                kind,
                level,
                primary,
                offsite,
                fulamt,
                overlmt,
                presel,
                inscp,
                mdtrt,
                disease,
                reverse,
            },
        )
}

const PSN: [&str; 7] = ["A1", "A2", "C1", "C2", "E1", "E2", "E3"];
const OFFSITE: [&str; 12] = ["", "", "", "", "", "", "", "resident", "referral", "emergency", "unreferred", "non_designated"];
const SPECIAL: [&str; 8] = ["cancer", "hemophilia", "transplant", "aplastic_anemia", "child_t1d", "muscular_dystrophy", "pku", "diabetes"];

fn fen(v: i64) -> String {
    Money::from_fen(v).to_string()
}

/// CSV text of the claims (reversals follow their original a day later, same year).
fn claims_csv(specs: &[Spec], year: i32) -> String {
    let mut s = String::from(
        "setl_id,psn_no,mdtrt_id,setl_time,med_type,hosp_lv,primary_care,opsp_dise_code,drug_class,offsite,medfee_sumamt,fulamt_ownpay_amt,overlmt_selfpay,preselfpay_amt,inscp_scp_amt,refd_setl_flag,init_setl_id,rare_fund_pay\n",
    );
    for (i, c) in specs.iter().enumerate() {
        let (med_type, disease, drug) = match c.kind {
            0 | 1 => ("21", "", ""),
            2 => ("52", "", ""),
            3 => ("11", "", ""),
            4 => ("41", "", ""),
            5 => ("14", SPECIAL[c.disease], ""),
            6 => (
                "14",
                ["hypertension", "diabetes", "malignant_tumor", "coronary_heart", "parkinson", "crohn", "hypertension", "diabetes"]
                    [c.disease],
                "",
            ),
            7 => ("15", "", if c.disease % 2 == 0 { "dual_channel" } else { "rare" }),
            _ => ("13", "", ""),
        };
        let level = if med_type == "41" { String::new() } else { c.level.to_string() };
        let day = c.day.min(363);
        let d = medsettle::model::time::days_from_civil(year, 1, 1) + day as i32;
        let ts = medsettle::model::time::format_datetime(d as i64 * 86400 + c.second as i64);
        let total = c.fulamt + c.overlmt + c.presel + c.inscp;
        let mdtrt = format!("{}-M{}", PSN[c.person], c.mdtrt);
        // S-27: on rare-disease drugs the provincial fund pays up to half of preselfpay + inscp/5,
        // inside the share any basic rate (≤ 80%) leaves.
        let rare_fund = if drug == "rare" && c.day % 2 == 0 { (c.presel + c.inscp / 5) / 2 } else { 0 };
        let _ = writeln!(
            s,
            "S{year}-{i:04},{},{mdtrt},{ts},{med_type},{level},{},{disease},{drug},{},{},{},{},{},{},0,,{}",
            PSN[c.person],
            c.primary as u8,
            OFFSITE[c.offsite],
            fen(total),
            fen(c.fulamt),
            fen(c.overlmt),
            fen(c.presel),
            fen(c.inscp),
            fen(rare_fund)
        );
        if c.reverse {
            let rts = medsettle::model::time::format_datetime((d + 1) as i64 * 86400 + c.second as i64);
            let _ = writeln!(
                s,
                "R{year}-{i:04},{},{mdtrt},{rts},{med_type},{level},{},{disease},{drug},{},{},{},{},{},{},1,S{year}-{i:04},{}",
                PSN[c.person],
                c.primary as u8,
                OFFSITE[c.offsite],
                fen(-total),
                fen(-c.fulamt),
                fen(-c.overlmt),
                fen(-c.presel),
                fen(-c.inscp),
                fen(-rare_fund)
            );
        }
    }
    s
}

fn load(dir: &std::path::Path, claims: &str) -> (Loaded, PolicySet) {
    std::fs::write(dir.join("persons.csv"), PERSONS).unwrap();
    std::fs::write(dir.join("claims.csv"), claims).unwrap();
    let policies = PolicySet::assemble(&[], &[]).unwrap();
    let loaded = pipeline::load(&[dir.join("claims.csv")], &dir.join("persons.csv"), &policies).unwrap();
    (loaded, policies)
}

fn settle_with_threads(loaded: &Loaded, policies: &PolicySet, threads: usize) -> Settled {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(|| pipeline::settle(loaded, policies))
}

/// Settlements keyed by setl_id, and person-years keyed by (psn_no, year).
fn keyed(loaded: &Loaded, s: &Settled) -> (HashMap<String, String>, Vec<String>) {
    let t = &loaded.claims.table;
    let rows = s.iter().map(|(i, r)| (t.strings.get(t.claims[i].setl_id).to_string(), format!("{r:?}"))).collect();
    let years = s
        .person_years
        .iter()
        .map(|y| format!("{}:{y:?}", loaded.persons.table.persons[y.psn as usize].psn_no).replace(&format!("psn: {}", y.psn), ""))
        .collect();
    (rows, years)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn conservation_caps_and_determinism(specs in prop::collection::vec(spec(), 1..80), year in prop::sample::select(vec![2024, 2025, 2026])) {
        let dir = tempfile::tempdir().unwrap();
        let (loaded, policies) = load(dir.path(), &claims_csv(&specs, year));
        let one = settle_with_threads(&loaded, &policies, 1);
        let four = settle_with_threads(&loaded, &policies, 4);
        prop_assert_eq!(&one.sorted, &four.sorted);
        prop_assert_eq!(&one.claim, &four.claim);
        prop_assert_eq!(&one.person_years, &four.person_years);
        let t = &loaded.claims.table;
        // read = settled + not_covered + reversal + rejected
        let c = pipeline::counts(&loaded, &one);
        prop_assert!(c.reconciles(), "{c:?}");
        // Only employees outside 2024 have no policy (S-23); nothing else is rejected.
        let rejects = loaded.reject_rows();
        prop_assert!(rejects.iter().all(|r| r.code.as_str() == "no_policy" || (r.code.as_str() == "reversal_unknown_original" && r.message.contains("rejected"))), "{:?}", rejects);
        // Something settles unless every claim is an employee's outside 2024 (no policy).
        if year == 2024 || specs.iter().any(|s| s.person < 4) {
            prop_assert!(c.settled + c.not_covered > 0);
        }
        let mut by_setl: HashMap<&str, medsettle::model::Settlement> = HashMap::new();
        for (i, s) in one.iter() {
            let claim = &t.claims[i];
            // D-02 with the other payers (S-28): medfee = funds + oth_pay + psn_part.
            prop_assert_eq!(s.fund_pay_sumamt() + s.oth_pay + s.psn_part_amt, claim.medfee_sumamt());
            prop_assert!(s.oth_pay.is_zero() || s.benefit == Benefit::Maternity || s.benefit == Benefit::RareDrug, "oth_pay on {:?}", s);
            if s.benefit == Benefit::RareDrug {
                prop_assert_eq!(s.oth_pay, t.rare_fund_pay(i), "S-27: rare_fund_pay is passed into oth_pay");
            }
            if s.status == Status::Settled {
                for m in [s.hifp_pay, s.hifob_pay, s.hifmi_pay, s.maf_pay, s.act_pay_dedc] {
                    prop_assert!(!m.is_negative());
                }
                prop_assert!(!s.psn_part_amt.is_negative(), "negative personal part on {:?}", s);
                prop_assert!(s.hifp_pay + s.hifob_pay <= claim.inscp_scp_amt, "basic funds above inscp {:?}", s);
            }
            if s.status == Status::NotCovered {
                prop_assert!(s.fund_pay_sumamt().is_zero());
            }
            by_setl.insert(t.strings.get(claim.setl_id), *s);
        }
        // A reversal and its original net to zero.
        for (i, s) in one.iter() {
            if s.status == Status::Reversal {
                let init = t.init_setl_id(i);
                let o = by_setl[init];
                prop_assert_eq!(o.fund_pay_sumamt() + s.fund_pay_sumamt(), Money::ZERO);
                prop_assert_eq!(o.psn_part_amt + s.psn_part_amt, Money::ZERO);
                prop_assert_eq!(o.oth_pay + s.oth_pay, Money::ZERO);
            }
        }
        // Caps and limits per person-year.
        for y in &one.person_years {
            let p = policies.get(y.policy);
            let mut cap_paid = Money::ZERO;
            let mut special: HashMap<String, Money> = HashMap::new();
            let mut pku = Money::ZERO;
            let mut assist = [Money::ZERO; 2];
            for (i, s) in one.iter() {
                let claim = &t.claims[i];
                if claim.psn != y.psn || i32::from(s.year) != y.year {
                    continue;
                }
                if matches!(s.benefit, Benefit::Inpatient | Benefit::Maternity | Benefit::Special) {
                    cap_paid += s.hifp_pay;
                }
                if s.benefit == Benefit::Special {
                    *special.entry(format!("{:?}", claim.disease)).or_default() += s.hifp_pay + s.hifob_pay;
                }
                if s.benefit == Benefit::Pku {
                    pku += s.hifp_pay;
                }
                let g = if matches!(s.benefit, Benefit::Outpatient | Benefit::Pharmacy) { 0 } else { 1 };
                assist[g] += s.maf_pay;
            }
            if let Some(cap) = p.inpatient.as_ref().and_then(|i| i.cap) {
                prop_assert!(cap_paid <= cap.0, "{} cap {} exceeded: {}", p.id, cap.0, cap_paid);
            }
            if let Some(cat) = p.catastrophic.as_ref().and_then(|c| c.cap) {
                // The largest possible cap with incentives in this person set.
                prop_assert!(y.hifmi_pay <= cat.0 + Money::from_yuan(40_000));
            }
            // With the S-29 fall-through a special claim's funds also hold general-outpatient
            // money, so the disease limit is checked where the overflow stays unpaid.
            if let Some(sp) = p.special.as_ref().filter(|sp| !sp.fall_through) {
                for (d, rule) in &sp.diseases {
                    let paid = special.get(&format!("{:?}", Some(*d))).copied().unwrap_or(Money::ZERO);
                    let lim = rule.first_year_limit.or(rule.limit).map(|a| a.0).unwrap_or(Money::MAX);
                    prop_assert!(paid <= lim, "{d} limit {lim} exceeded: {paid}");
                }
            }
            if let Some(k) = &p.pku {
                prop_assert!(pku <= k.bands.iter().map(|b| b.limit.0).max().unwrap_or(Money::ZERO));
            }
            if let Some(a) = &p.assistance {
                prop_assert!(assist[0] <= a.limits[0].limit.0);
                prop_assert!(assist[1] <= a.limits[1].limit.0);
            }
        }
    }

    #[test]
    fn any_row_order_and_night_by_night(specs in prop::collection::vec(spec(), 1..60), seed in any::<u64>(), cut in 0u32..365) {
        let dir = tempfile::tempdir().unwrap();
        let csv = claims_csv(&specs, 2026);
        let (loaded, policies) = load(dir.path(), &csv);
        let base = keyed(&loaded, &pipeline::settle(&loaded, &policies));

        // Shuffle the rows (header stays first).
        let mut lines: Vec<&str> = csv.lines().collect();
        let header = lines.remove(0);
        let mut state = seed | 1;
        for i in (1..lines.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            lines.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let shuffled = format!("{header}\n{}\n", lines.join("\n"));
        let dir2 = tempfile::tempdir().unwrap();
        let (l2, p2) = load(dir2.path(), &shuffled);
        let other = keyed(&l2, &pipeline::settle(&l2, &p2));
        prop_assert_eq!(&base.0, &other.0);
        prop_assert_eq!(&base.1, &other.1);

        // Night by night: the claims up to a cut-off day settle exactly as in the whole year.
        let cutoff = medsettle::model::time::format_date(medsettle::model::time::days_from_civil(2026, 1, 1) + cut as i32);
        let prefix: Vec<&str> = csv.lines().skip(1).filter(|l| l.split(',').nth(3).is_some_and(|ts| ts[..10] <= cutoff[..])).collect();
        let dir3 = tempfile::tempdir().unwrap();
        let (l3, p3) = load(dir3.path(), &format!("{header}\n{}\n", prefix.join("\n")));
        let part = keyed(&l3, &pipeline::settle(&l3, &p3));
        for (id, s) in &part.0 {
            prop_assert_eq!(Some(s), base.0.get(id), "{} differs when settled with the later nights", id);
        }
    }
}
