//! Fuzzing the intake: the sample claims (CSV) and a small generated Parquet file, mutated
//! byte by byte (quotes, separators, line ends, NUL, invalid UTF-8, digits, truncation,
//! duplicated lines). Whatever the bytes, reading never panics, and when the file is read at
//! all the counts reconcile (read = settled + not covered + reversals + rejected) and, for
//! CSV, `read` equals the non-empty lines after the header.

use medsettle::policy::PolicySet;
use medsettle::{io::write::Format, pipeline, synth};
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const CASES: u32 = 2000;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn policies() -> &'static PolicySet {
    static P: OnceLock<PolicySet> = OnceLock::new();
    P.get_or_init(|| PolicySet::assemble(&[], &[]).unwrap())
}

/// The first 120 lines of the sample claims.
fn csv_base() -> &'static [u8] {
    static B: OnceLock<Vec<u8>> = OnceLock::new();
    B.get_or_init(|| {
        let t = std::fs::read_to_string(root().join("sample-data/claims.csv")).unwrap();
        t.lines().take(120).map(|l| format!("{l}\n")).collect::<String>().into_bytes()
    })
}

/// A small generated Parquet claims file and its persons file (made once).
fn parquet_base() -> &'static (Vec<u8>, PathBuf) {
    static B: OnceLock<(Vec<u8>, PathBuf)> = OnceLock::new();
    B.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("medsettle-fuzz-{}", std::process::id()));
        let g = synth::generate(&synth::Options { persons: 12, years: vec![2024], seed: 4 }, policies()).unwrap();
        synth::write(&g, &dir, Format::Parquet, &|_| {}).unwrap();
        (std::fs::read(dir.join("claims.parquet")).unwrap(), dir.join("persons.parquet"))
    })
}

/// The fuzz seed: `MEDSETTLE_FUZZ_SEED`, else a fixed one.
fn fuzz_seed() -> u64 {
    std::env::var("MEDSETTLE_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1)
}

const INTERESTING: &[u8] = b"\",\n\r\0\xff\xb7-.9 ;=";

#[derive(Clone, Debug)]
enum Mutation {
    Replace(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    DuplicateLine(usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let byte = prop_oneof![3 => proptest::sample::select(INTERESTING.to_vec()), 1 => any::<u8>()];
    prop_oneof![
        4 => (any::<usize>(), byte.clone()).prop_map(|(i, b)| Mutation::Replace(i, b)),
        3 => (any::<usize>(), byte).prop_map(|(i, b)| Mutation::Insert(i, b)),
        2 => any::<usize>().prop_map(Mutation::Delete),
        1 => any::<usize>().prop_map(Mutation::DuplicateLine),
        1 => any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(base: &[u8], muts: &[Mutation]) -> Vec<u8> {
    let mut b = base.to_vec();
    for m in muts {
        if b.is_empty() {
            break;
        }
        match *m {
            Mutation::Replace(i, x) => {
                let n = b.len();
                b[i % n] = x;
            }
            Mutation::Insert(i, x) => b.insert(i % (b.len() + 1), x),
            Mutation::Delete(i) => {
                let n = b.len();
                b.remove(i % n);
            }
            Mutation::DuplicateLine(i) => {
                let lines: Vec<&[u8]> = b.split_inclusive(|&c| c == b'\n').collect();
                let k = i % lines.len();
                let mut out = Vec::with_capacity(b.len() + lines[k].len());
                for (j, l) in lines.iter().enumerate() {
                    out.extend_from_slice(l);
                    if j == k {
                        out.extend_from_slice(l);
                    }
                }
                b = out;
            }
            Mutation::Truncate(i) => {
                let n = b.len();
                b.truncate(i % n);
            }
        }
    }
    b
}

fn data_lines(bytes: &[u8]) -> u64 {
    bytes.split(|&b| b == b'\n').skip(1).filter(|l| !l.is_empty() && *l != b"\r").count() as u64
}

/// Reads and settles; `Ok(read)` when the input was readable.
fn run(claims: &Path, persons: &Path) -> Result<u64, TestCaseError> {
    let Ok(loaded) = pipeline::load(&[claims.to_path_buf()], persons, policies()) else { return Ok(u64::MAX) };
    let settled = pipeline::settle(&loaded, policies());
    let c = pipeline::counts(&loaded, &settled);
    prop_assert!(c.reconciles(), "counts do not reconcile: {c:?}");
    Ok(c.read)
}

proptest! {
    // A fixed seed keeps CI deterministic: the same 2 × 2000 mutations on every run. Set
    // MEDSETTLE_FUZZ_SEED to explore others (seeds 1–10 pass). Seed 1, the default, found a
    // Parquet row group whose metadata declared 17 rows while its pages held 195 (`read` did
    // not reconcile; now a file-level error) and a declared count that overflowed the
    // reservation hint; it stays the default so CI keeps checking both.
    #![proptest_config(ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        rng_seed: proptest::test_runner::RngSeed::Fixed(fuzz_seed()),
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_csv_never_panics_and_reconciles(muts in proptest::collection::vec(mutation(), 1..6)) {
        let bytes = apply(csv_base(), &muts);
        let dir = tempfile::tempdir().unwrap();
        let claims = dir.path().join("claims.csv");
        std::fs::write(&claims, &bytes).unwrap();
        let read = run(&claims, &root().join("sample-data/persons.csv"))?;
        if read != u64::MAX {
            prop_assert_eq!(read, data_lines(&bytes));
        }
    }

    #[test]
    fn mutated_parquet_never_panics_and_reconciles(muts in proptest::collection::vec(mutation(), 1..4)) {
        let (base, persons) = parquet_base();
        let bytes = apply(base, &muts);
        let dir = tempfile::tempdir().unwrap();
        let claims = dir.path().join("claims.parquet");
        std::fs::write(&claims, &bytes).unwrap();
        run(&claims, persons)?;
    }
}
