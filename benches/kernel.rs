//! Criterion benches of the settlement kernel and the readers, on data generated in memory by
//! the library (`medsettle::generate`): 20,000 persons, 2024 (both schemes), about 200,000
//! claims. `cargo bench --bench kernel`; the large end-to-end run is `benches/large.sh`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use medsettle::engine;
use medsettle::io::read;
use medsettle::io::write::Format;
use medsettle::policy::PolicySet;
use medsettle::synth::{self, Generated, Options};
use std::time::Duration;

fn data(policies: &PolicySet) -> Generated {
    synth::generate(&Options { persons: 20_000, years: vec![2024], seed: 1 }, policies).expect("generate")
}

fn kernel(c: &mut Criterion) {
    let policies = PolicySet::assemble(&[], &[]).expect("built-in policies");
    let mut g = data(&policies);
    let prepared = medsettle::intake::prepare(&mut g.claims, &g.persons, &policies);
    assert!(prepared.rejects.is_empty(), "generated claims are rejected: {:?}", prepared.rejects.first());
    let n = prepared.order.len() as u64;

    let mut group = c.benchmark_group("kernel");
    group.sample_size(20).measurement_time(Duration::from_secs(10)).throughput(Throughput::Elements(n));
    group.bench_function("settle_all (20k persons)", |b| {
        b.iter(|| engine::settle_all(&g.claims, &g.persons, &prepared, &policies, &|_| {}))
    });
    group.bench_function("prepare (20k persons)", |b| b.iter(|| medsettle::intake::prepare(&mut g.claims, &g.persons, &policies)));
    group.finish();
}

fn readers(c: &mut Criterion) {
    let policies = PolicySet::assemble(&[], &[]).expect("built-in policies");
    let g = data(&policies);
    let n = g.claims.claims.len() as u64;
    let dir = tempfile::tempdir().expect("temp dir");
    let aliases = read::aliases_of(&policies);
    let mut group = c.benchmark_group("read");
    group.sample_size(10).measurement_time(Duration::from_secs(10)).throughput(Throughput::Elements(n));
    for format in [Format::Csv, Format::Parquet] {
        let sub = dir.path().join(format.ext());
        synth::write(&g, &sub, format, &|_| {}).expect("write");
        let persons = read::read_persons(&sub.join(format!("persons.{}", format.ext())), 1, &aliases).expect("persons");
        let claims = [sub.join(format!("claims.{}", format.ext()))];
        group.bench_function(format!("read_claims {} (20k persons)", format.ext()), |b| {
            b.iter(|| read::read_claims(&claims, &persons, &aliases, &|_| {}, None).expect("read"))
        });
    }
    group.finish();
}

criterion_group!(benches, kernel, readers);
criterion_main!(benches);
