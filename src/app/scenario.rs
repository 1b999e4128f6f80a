//! Scenarios and parameter sweeps: the input is read and ordered once, then only the kernel
//! re-runs under each policy set.

use crate::engine::{self, Settled, Tracer};
use crate::model::Settlement;
use crate::pipeline;
use crate::pipeline::Loaded;
use crate::policy::overrides::{self, Scenario, ScenarioChange};
use crate::policy::{LoadedPolicy, PolicySet};
use crate::progress;
use crate::report::fund::{self, FundReport};
use crate::report::i18n::Lang;
use crate::report::scenario::SweepPoint;
use crate::report::scenario::{Comparison, DeltaRow, Run, funds};
use anyhow::{Context, Result, bail};
use rayon::prelude::*;
use rust_decimal::Decimal;
use std::str::FromStr;

/// The policies of a scenario: the baseline with the scenario's overrides. A change without
/// `policy` applies to every policy that has the key (as `--set` does).
pub fn scenario_policies(base: &PolicySet, sc: &Scenario) -> Result<PolicySet> {
    for ch in &sc.changes {
        if let Some(p) = &ch.policy
            && !base.policies.iter().any(|b| &b.policy.id == p)
        {
            bail!("scenario {}: policy {p} is not in the run", sc.name);
        }
    }
    let mut used = vec![false; sc.changes.iter().map(|c| c.set.len()).sum()];
    let mut out = Vec::new();
    for lp in &base.policies {
        let (_, text) = crate::policy::read_spec(lp.origin.strip_prefix("builtin:").unwrap_or(&lp.origin))?;
        let value: toml::Value = toml::from_str(&text)?;
        let mut extra = Vec::new();
        let mut k = 0;
        for ch in &sc.changes {
            for (key, v) in &ch.set {
                let kv = format!("{key}={v}");
                let applies = match &ch.policy {
                    Some(p) => p == &lp.policy.id,
                    None => overrides::has_key(&value, &kv),
                };
                if applies {
                    used[k] = true;
                    extra.push(kv);
                }
                k += 1;
            }
        }
        if extra.is_empty() {
            out.push(lp.clone());
            continue;
        }
        let mut sets = lp.overrides.clone();
        sets.extend(extra);
        out.push(LoadedPolicy::from_text(&text, &lp.origin, &sets).with_context(|| format!("scenario {}", sc.name))?);
    }
    if let Some(i) = used.iter().position(|u| !u) {
        let key = sc.changes.iter().flat_map(|c| c.set.keys()).nth(i).cloned().unwrap_or_default();
        bail!("scenario {}: no policy of the run has the parameter `{key}`", sc.name);
    }
    Ok(PolicySet::from_loaded(out))
}

/// The fund report (expenditure and income) of one run.
pub fn fund_report(loaded: &Loaded, policies: &PolicySet, settled: &Settled) -> FundReport {
    let mut fr = fund::expenditure(&loaded.claims.table, &loaded.persons.table, settled);
    fund::income(&loaded.persons.table, policies, &loaded.claims.table, &mut fr);
    fr
}

/// The comparison of each scenario with the baseline, and the person-years whose final
/// burden changes.
pub struct Compared {
    pub comparison: Comparison,
    pub delta: Vec<DeltaRow>,
}

/// Settles the baseline and each scenario (`sets[k]` the policies of `scenarios[k]`) over the
/// same loaded input and compares them; `each` sees every run ("baseline" first), e.g. to write
/// its full outputs.
pub fn compare(
    loaded: &Loaded,
    base: &PolicySet,
    scenarios: &[Scenario],
    sets: &[PolicySet],
    lang: Lang,
    each: &dyn Fn(&str, &PolicySet, &Settled) -> Result<()>,
) -> Result<Compared> {
    let persons = &loaded.persons.table;
    let baseline = pipeline::settle(loaded, base);
    each("baseline", base, &baseline)?;
    let base_fr = fund_report(loaded, base, &baseline);
    let base_run = Run { name: "baseline", policies: base, settled: &baseline, fund: &base_fr };
    let mut out = Compared { comparison: Comparison::new(lang), delta: Vec::new() };
    for (k, (sc, ps)) in scenarios.iter().zip(sets).enumerate() {
        let s = pipeline::settle(loaded, ps);
        each(&sc.name, ps, &s)?;
        let fr = fund_report(loaded, ps, &s);
        let changes = sc.changes.iter().flat_map(|c| c.set.iter().map(|(k, v)| format!("{k} = {v}"))).collect::<Vec<_>>().join(", ");
        out.comparison.add(
            &base_run,
            &Run { name: &sc.name, policies: ps, settled: &s, fund: &fr },
            persons,
            format!("{} ({changes})", sc.description),
        );
        for (b, y) in baseline.person_years.iter().zip(&s.person_years) {
            let (bb, sb) = (b.psn_part_amt - b.maf_tilt_pay, y.psn_part_amt - y.maf_tilt_pay);
            if bb != sb {
                out.delta.push((k, y.psn, y.year, funds(b), funds(y), bb, sb));
            }
        }
    }
    Ok(out)
}

/// `--sweep KEY=FROM..TO:STEP`: the parameter and its values, exact decimals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sweep {
    pub key: String,
    pub values: Vec<String>,
}

/// Most points a sweep may have.
pub const MAX_POINTS: usize = 1000;

impl FromStr for Sweep {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Sweep> {
        let usage = || format!("--sweep `{s}`: expected KEY=FROM..TO:STEP, e.g. inpatient.cap=300000..500000:10000");
        let (key, range) = s.split_once('=').with_context(usage)?;
        let (span, step) = range.rsplit_once(':').with_context(usage)?;
        let (from, to) = span.split_once("..").with_context(usage)?;
        let num = |t: &str| Decimal::from_str(t.trim()).with_context(|| format!("{}: `{t}` is not a number", usage()));
        let (from, to, step) = (num(from)?, num(to)?, num(step)?);
        if key.trim().is_empty() || step <= Decimal::ZERO || to < from {
            bail!("{}: the key must be given, STEP > 0 and FROM ≤ TO", usage());
        }
        let mut values = Vec::new();
        let mut v = from;
        while v <= to {
            if values.len() == MAX_POINTS {
                bail!("--sweep `{s}`: more than {MAX_POINTS} points");
            }
            values.push(v.normalize().to_string());
            v += step;
        }
        Ok(Sweep { key: key.trim().to_string(), values })
    }
}

/// The scenario that sets the swept key to one value in every policy that has it.
pub fn sweep_scenario(key: &str, value: &str) -> Result<Scenario> {
    let mut set = toml::Table::new();
    let v: toml::Table = toml::from_str(&format!("v = {value}")).with_context(|| format!("--sweep value `{value}`"))?;
    set.insert(key.to_string(), v.get("v").cloned().context("sweep value")?);
    Ok(Scenario {
        name: format!("{key}={value}"),
        description: String::new(),
        changes: vec![ScenarioChange { policy: None, set, source: Some("--sweep".into()) }],
    })
}

/// One kernel run per value, all in one pass over the persons: each person's claims are
/// settled under every value in turn while they are in cache, and each run keeps only its
/// totals (folded per thread), so neither the time nor the memory of a point includes the
/// full settlement table, and memory does not grow with the number of points.
pub fn run_sweep(loaded: &Loaded, base: &PolicySet, sweep: &Sweep) -> Result<Vec<SweepPoint>> {
    let sets: Vec<PolicySet> =
        sweep.values.iter().map(|v| sweep_scenario(&sweep.key, v).and_then(|sc| scenario_policies(base, &sc))).collect::<Result<_>>()?;
    let pb = progress::bar(loaded.prepared.order.len() as u64, "sweeping");
    let points = totals_each(loaded, &sets, &|k| pb.inc(k));
    pb.finish_and_clear();
    Ok(sweep.values.iter().zip(points).map(|(v, p)| SweepPoint { value: v.clone(), ..p }).collect())
}

/// The fund and burden totals of one kernel run over everything loaded.
pub fn totals(loaded: &Loaded, policies: &PolicySet) -> SweepPoint {
    totals_each(loaded, std::slice::from_ref(policies), &|_| {}).pop().unwrap_or_default()
}

/// The totals of one kernel run per policy set (`sets[k]` → element k), in one pass over the
/// persons; `progress` gets the number of claims done.
pub fn totals_each(loaded: &Loaded, sets: &[PolicySet], progress: &(dyn Fn(u64) + Sync)) -> Vec<SweepPoint> {
    let (t, persons, prep) = (&loaded.claims.table, &loaded.persons.table, &loaded.prepared);
    let zero = || vec![SweepPoint::default(); sets.len()];
    prep.persons
        .par_iter()
        .with_min_len(64)
        .fold(
            || (zero(), Vec::new()),
            |(mut acc, mut buf): (Vec<SweepPoint>, Vec<Settlement>), range| {
                let claims = &prep.order[range.clone()];
                buf.clear();
                buf.resize(claims.len(), Settlement::EMPTY);
                let person = &persons.persons[t.claims[claims[0] as usize].psn as usize];
                for (p, policies) in acc.iter_mut().zip(sets) {
                    for y in &engine::settle_person(t, person, claims, &prep.policy_of, policies, &mut buf, None, &mut Tracer::off()) {
                        p.add(y);
                    }
                }
                progress(claims.len() as u64);
                (acc, buf)
            },
        )
        .map(|(acc, _)| acc)
        .reduce(zero, |mut a, b| {
            for (x, y) in a.iter_mut().zip(&b) {
                x.merge(y);
            }
            a
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_values_are_exact_decimals() -> anyhow::Result<()> {
        let s: Sweep = "inpatient.cap=300000..350000:25000".parse()?;
        assert_eq!(s.key, "inpatient.cap");
        assert_eq!(s.values, vec!["300000", "325000", "350000"]);
        // 0.70, 0.75, 0.80 without float drift
        let r: Sweep = "a.b=0.70..0.80:0.05".parse()?;
        assert_eq!(r.values, vec!["0.7", "0.75", "0.8"]);
        assert!("a=1..0:1".parse::<Sweep>().is_err());
        assert!("a=1..2:0".parse::<Sweep>().is_err());
        assert!("a=1..2".parse::<Sweep>().is_err());
        Ok(())
    }
}
