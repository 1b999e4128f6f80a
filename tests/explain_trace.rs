//! `explain --format json` (issue 13): every step of every claim of the sample data carries
//! its numbers by name, the policy parameters it applied are keys of its policy file, and
//! the numbers add up across the layers.

use medsettle::app::explain::{Explained, Target, TraceStep, explain};
use medsettle::pipeline;
use medsettle::policy::PolicySet;
use rust_decimal::Decimal;
use std::path::Path;
use std::str::FromStr;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_else(|_| panic!("{s:?} is not an exact decimal"))
}

/// Whether every segment of `path` (`a.b[1].c`) but the last resolves in the policy file.
fn parent_resolves(policy: &toml::Value, path: &str) -> bool {
    let segs: Vec<&str> = path.split('.').collect();
    let mut v = policy;
    for seg in &segs[..segs.len() - 1] {
        let (key, index) = match seg.split_once('[') {
            Some((k, i)) => (k, i.trim_end_matches(']').parse::<usize>().ok()),
            None => (*seg, None),
        };
        let Some(next) = v.get(key) else { return false };
        v = match index {
            Some(i) => match next.get(i) {
                Some(x) => x,
                None => return false,
            },
            None => next,
        };
    }
    true
}

/// The sum of a named value over steps.
fn total(steps: &[&TraceStep], name: &str) -> Decimal {
    steps.iter().filter_map(|s| s.values.get(name)).map(|v| dec(v)).sum()
}

#[test]
fn every_step_carries_its_numbers_and_they_add_up() {
    let policies = PolicySet::assemble(&[], &[]).unwrap();
    let data = root().join("sample-data");
    let loaded = pipeline::load(&[data.join("claims.csv")], &data.join("persons.csv"), &policies).unwrap();
    let (mut claims, mut steps_seen) = (0, 0);
    let mut layers = std::collections::BTreeSet::new();
    for person in &loaded.persons.table.persons {
        let Ok(Explained::Trace(tr)) = explain(&loaded, &policies, Target::Person(&person.psn_no)) else { continue };
        let all_steps = tr.claims.iter().flat_map(|c| &c.steps).chain(tr.years.iter().flat_map(|y| &y.steps));
        for s in all_steps {
            steps_seen += 1;
            layers.insert(s.layer);
            assert!(!s.values.is_empty(), "{} step without values: {}", s.layer, s.text);
        }
        for c in &tr.claims {
            claims += 1;
            let file = root().join("policies").join(format!("{}.toml", c.policy_id));
            let policy: toml::Value = toml::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
            for s in &c.steps {
                if matches!(s.layer, "basic" | "catastrophic" | "assistance" | "childbirth" | "result") {
                    assert!(!s.params.is_empty(), "{} {} step names no policy parameter: {}", c.setl_id, s.layer, s.text);
                }
                for p in &s.params {
                    assert!(parent_resolves(&policy, p), "{}: {p} is not a key of {}", c.setl_id, file.display());
                }
            }
            let steps: Vec<&TraceStep> = c.steps.iter().collect();
            let Some(result) = c.steps.iter().find(|s| s.layer == "result") else { continue };
            let v = |k: &str| dec(&result.values[k]);
            // D-01/D-02: hifp + hifob + hifmi + maf = fund; medfee − fund − oth_pay = personal.
            assert_eq!(v("hifp_pay") + v("hifob_pay") + v("hifmi_pay") + v("maf_pay"), v("fund_pay_sumamt"), "{}", c.setl_id);
            assert_eq!(v("medfee_sumamt") - v("fund_pay_sumamt") - v("oth_pay"), v("psn_part_amt"), "{}", c.setl_id);
            // The result step's amounts are the claim's.
            for (k, want) in [
                ("hifp_pay", &c.hifp_pay),
                ("hifob_pay", &c.hifob_pay),
                ("hifmi_pay", &c.hifmi_pay),
                ("maf_pay", &c.maf_pay),
                ("fund_pay_sumamt", &c.fund_pay_sumamt),
                ("psn_part_amt", &c.psn_part_amt),
                ("act_pay_dedc", &c.act_pay_dedc),
            ] {
                assert_eq!(v(k), dec(want), "{} {k}", c.setl_id);
                // fen-exact money: two decimals
                assert_eq!(result.values[k].split('.').nth(1).map(str::len), Some(2), "{} {k}", c.setl_id);
            }
            // The layers' own steps give the same amounts: the deductible charged by the
            // basic steps, the catastrophic and assistance payments.
            assert_eq!(total(&steps, "act_pay_dedc") - v("act_pay_dedc"), v("act_pay_dedc"), "{} act_pay_dedc", c.setl_id);
            let layer = |l: &str| c.steps.iter().find(|s| s.layer == l);
            if let Some(cat) = layer("catastrophic") {
                assert_eq!(dec(&cat.values["hifmi_pay"]), v("hifmi_pay"), "{}", c.setl_id);
            }
            if let Some(a) = layer("assistance") {
                assert_eq!(dec(&a.values["maf_pay"]), v("maf_pay"), "{}", c.setl_id);
                // maf = min(base × rate, room), rounded half away from zero (D-01)
                let exact = (dec(&a.values["base"]) * dec(&a.values["rate"])).min(dec(&a.values["room"]));
                assert_eq!(
                    exact.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero),
                    v("maf_pay"),
                    "{}",
                    c.setl_id
                );
            }
            if let Some(b) = layer("benefit") {
                assert_eq!(dec(&b.values["medfee_sumamt"]), v("medfee_sumamt"), "{}", c.setl_id);
            }
        }
    }
    assert!(claims > 600, "{claims} claims explained");
    for l in ["benefit", "basic", "catastrophic", "assistance", "result", "coverage", "reversal", "year_end"] {
        assert!(layers.contains(l), "no {l} step among {layers:?} ({steps_seen} steps)");
    }
}
