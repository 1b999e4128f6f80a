//! The kernel over a stream of batches (`engine::stream`): the sample's claims in D-06 order,
//! cut into batches anywhere (inside a person's claims too, between a claim and its
//! reversal), settle to exactly what `settle_all` gives for the whole.

use medsettle::engine::stream::StreamSettler;
use medsettle::engine::{self, Settled};
use medsettle::model::{PersonYear, Settlement};
use medsettle::pipeline::{self, Loaded};
use medsettle::policy::PolicySet;
use proptest::prelude::*;
use std::path::Path;
use std::sync::OnceLock;

fn sample() -> &'static (Loaded, PolicySet, Settled) {
    static S: OnceLock<(Loaded, PolicySet, Settled)> = OnceLock::new();
    S.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data");
        let policies = PolicySet::assemble(&[], &[]).unwrap();
        let loaded = pipeline::load(&[root.join("claims.csv")], &root.join("persons.csv"), &policies).unwrap();
        let whole = engine::settle_all(&loaded.claims.table, &loaded.persons.table, &loaded.prepared, &policies, &|_| {});
        (loaded, policies, whole)
    })
}

/// Settles the sample in batches ending at `cuts` (positions in D-06 order).
fn streamed(cuts: &[usize]) -> (Vec<Settlement>, Vec<PersonYear>) {
    let (loaded, policies, _) = sample();
    let order = &loaded.prepared.order;
    let mut s = StreamSettler::new(&loaded.persons.table, policies);
    let (mut settlements, mut years) = (Vec::new(), Vec::new());
    let mut bounds: Vec<usize> = cuts.iter().map(|&c| c % (order.len() + 1)).collect();
    bounds.push(order.len());
    bounds.sort_unstable();
    let mut at = 0;
    for b in bounds {
        let out = s.push(&loaded.claims.table, &order[at..b], &loaded.prepared.policy_of);
        assert_eq!(out.settlements.len(), b - at);
        settlements.extend(out.settlements);
        years.extend(out.person_years);
        at = b;
    }
    years.extend(s.finish());
    let persons = &loaded.persons.table.persons;
    years.sort_by(|a, b| persons[a.psn as usize].psn_no.cmp(&persons[b.psn as usize].psn_no).then(a.year.cmp(&b.year)));
    (settlements, years)
}

#[test]
fn one_batch_and_one_claim_per_batch_equal_the_whole() {
    let (loaded, _, whole) = sample();
    let n = loaded.prepared.order.len();
    assert!(n > 600 && whole.sorted.iter().any(|s| s.status == medsettle::model::Status::Reversal), "the sample has reversals");
    for cuts in [vec![], (1..n).collect::<Vec<_>>()] {
        let (settlements, years) = streamed(&cuts);
        assert_eq!(settlements, whole.sorted);
        assert_eq!(years, whole.person_years);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn any_cut_equals_the_whole(cuts in prop::collection::vec(0usize..2000, 0..40)) {
        let (_, _, whole) = sample();
        let (settlements, years) = streamed(&cuts);
        prop_assert_eq!(settlements, whole.sorted.clone());
        prop_assert_eq!(years, whole.person_years.clone());
    }
}
