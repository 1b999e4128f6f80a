//! `settle --memory-limit`: a run spilled to disk in partitions by person gives the outputs of
//! the same run in memory, byte for byte — also when the whole-input checks (duplicate
//! setl_ids, reversal pairs) cross partitions.

use std::path::Path;
use std::process::Command;

fn medsettle(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_medsettle")).args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "panic: {err}");
    out
}

/// Every file of two output folders, byte for byte.
fn assert_same_files(a: &Path, b: &Path) {
    let names = |d: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    };
    assert_eq!(names(a), names(b), "{} and {} hold other files", a.display(), b.display());
    for n in names(a) {
        let (x, y) = (std::fs::read(a.join(&n)).unwrap(), std::fs::read(b.join(&n)).unwrap());
        assert!(x == y, "{n} differs between {} and {}", a.display(), b.display());
    }
}

/// Settles in memory and spilled in each number of partitions (`None`: as many as a limit of
/// 1 KiB gives); every spilled set equals the in-memory one.
fn settle_both_ways(claims: &Path, persons: &Path, dir: &Path, format: &str, partitions: &[Option<&str>]) {
    let mem = dir.join(format!("mem-{format}"));
    let c = claims.to_str().unwrap();
    let p = persons.to_str().unwrap();
    let base = ["settle", "--claims", c, "--persons", p, "--format", format, "--max-reject-rate", "1", "--memory-limit", "16GiB"];
    let run = medsettle(&[&base[..], &["--out", mem.to_str().unwrap()]].concat());
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    for n in partitions {
        let out = dir.join(format!("spill-{format}-{}", n.unwrap_or("planned")));
        let mut args = base.to_vec();
        args.pop();
        args.extend(["1KiB", "--out", out.to_str().unwrap()]);
        if let Some(n) = n {
            args.extend(["--spill-partitions", n]);
        }
        let spill_dir = dir.join("spill-here");
        args.extend(["--spill-dir", spill_dir.to_str().unwrap()]);
        // a spill folder that a killed run (a process now gone) left there
        let mut gone = Command::new("true").spawn().unwrap();
        gone.wait().unwrap();
        let stale = spill_dir.join(format!(".medsettle-spill-{}", gone.id()));
        std::fs::create_dir_all(&stale).unwrap();
        std::fs::write(stale.join("claims-0"), b"spilled").unwrap();
        let run = Command::new(env!("CARGO_BIN_EXE_medsettle")).args(&args).env("MEDSETTLE_TIMINGS", "1").output().unwrap();
        let err = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(0), "{err}");
        let spilled = n.map_or("spill: ".to_string(), |n| format!("spill: {n} partitions"));
        assert!(err.contains(&spilled), "the run did not spill as asked ({n:?}): {err}");
        assert_same_files(&mem, &out);
        // The run's spill folder is removed at its end, the killed run's at its start.
        let left: Vec<_> = std::fs::read_dir(&spill_dir).map(|d| d.map(|e| e.unwrap().path()).collect()).unwrap_or_default();
        assert!(left.is_empty(), "spill files left: {left:?}");
    }
}

#[test]
fn the_sample_spilled_equals_the_sample_in_memory() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data");
    let tmp = tempfile::tempdir().unwrap();
    for format in ["csv", "parquet"] {
        settle_both_ways(&root.join("claims.csv"), &root.join("persons.csv"), tmp.path(), format, &[None, Some("3"), Some("256")]);
    }
}

/// A generated year with rows whose checks cross partitions: repeated setl_ids of other
/// persons, reversals of another person's claim, of another person's reversal and of another
/// person's refused claim, and a row the reader refuses; and rows whose checks the partitions
/// are told by the same cross-partition checks: a person's own repetition, a reversal of no
/// claim, a second reversal of the same original.
#[test]
fn checks_across_partitions_give_the_in_memory_verdicts() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let generated = medsettle(&["generate", "--persons", "400", "--year", "2024", "--seed", "11", "--out", data.to_str().unwrap()]);
    assert!(generated.status.success(), "{}", String::from_utf8_lossy(&generated.stderr));
    let claims_path = data.join("claims.csv");
    let mut rdr = csv::Reader::from_path(&claims_path).unwrap();
    let h = rdr.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    let (sid, psn, flag, init, time) = (col("setl_id"), col("psn_no"), col("refd_setl_flag"), col("init_setl_id"), col("setl_time"));
    let original = rows.iter().find(|r| &r[flag] == "0").unwrap().clone();
    let a_reversal = rows.iter().find(|r| &r[flag] == "1").expect("the generated year has reversals").clone();
    let mut others = rows.iter().map(|r| r[psn].to_string()).filter(|p| *p != original[psn] && *p != a_reversal[psn]);
    let (y, z) = (others.next().unwrap(), others.find(|p| *p != rows[0][psn]).unwrap());
    let with = |r: &csv::StringRecord, changes: &[(usize, &str)]| -> Vec<String> {
        let mut v: Vec<String> = r.iter().map(str::to_string).collect();
        for (i, s) in changes {
            v[*i] = s.to_string();
        }
        v
    };
    let negated = |r: &csv::StringRecord, changes: &[(usize, &str)]| -> Vec<String> {
        let mut v = with(r, changes);
        for c in ["medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt"] {
            let x = &v[col(c)];
            v[col(c)] = match x.strip_prefix('-') {
                Some(p) => p.to_string(),
                None => format!("-{x}"),
            };
        }
        v
    };
    let late = "2024-12-30 10:00:00";
    let mut extra: Vec<Vec<String>> = vec![
        // the same setl_id under two other persons: both duplicates of the first row
        with(&original, &[(psn, &y), (time, late)]),
        with(&original, &[(psn, &z), (time, late)]),
        // the same person's own repetition
        with(&original, &[(time, late)]),
        // a reversal of another person's claim
        negated(&original, &[(sid, "SXREV0001"), (psn, &y), (flag, "1"), (init, &original[sid]), (time, late)]),
        // a reversal of another person's reversal (amounts ≤ 0, as on every reversal row)
        with(&a_reversal, &[(sid, "SXREV0002"), (psn, &z), (flag, "1"), (init, &a_reversal[sid]), (time, late)]),
        // a claim no policy settles (2031), its reversal by another person and its repetition
        with(&original, &[(sid, "SXNOPOL01"), (time, "2031-03-01 09:00:00")]),
        negated(&original, &[(sid, "SXREV0003"), (psn, &y), (flag, "1"), (init, "SXNOPOL01"), (time, late)]),
        with(&original, &[(sid, "SXNOPOL01"), (psn, &z), (time, late)]),
        // a reversal of a setl_id no row has
        negated(&original, &[(sid, "SXREV0004"), (flag, "1"), (init, "SXABSENT1"), (time, late)]),
        // the same person's second reversal of an original reversed already
        with(&a_reversal, &[(sid, "SXREV0005"), (time, late)]),
    ];
    // and a row the reader refuses (a stray quote)
    let mut bad = with(&original, &[(sid, "SXBAD0001")]);
    bad[col("mdtrt_id")] = "M\"1".into();
    extra.push(bad);
    let mut w = csv::WriterBuilder::new().quote_style(csv::QuoteStyle::Never).from_path(&claims_path).unwrap();
    w.write_record(&h).unwrap();
    for r in &rows {
        w.write_record(r).unwrap();
    }
    for r in &extra {
        w.write_record(r).unwrap();
    }
    w.flush().unwrap();
    drop(w);

    settle_both_ways(&claims_path, &data.join("persons.csv"), tmp.path(), "csv", &[None, Some("5"), Some("64"), Some("256")]);
    settle_both_ways(&claims_path, &data.join("persons.csv"), tmp.path(), "parquet", &[Some("256")]);

    // The verdicts are there (the comparison above is not between two empty sets).
    let rejects = std::fs::read_to_string(tmp.path().join("mem-csv/rejects.csv")).unwrap();
    for (code, count) in [
        ("duplicate_setl_id", 4),
        ("reversal_person_mismatch", 1),
        ("is itself a reversal", 1),
        ("reversal_unknown_original: init_setl_id SXABSENT1 is not a settlement in the input", 1),
        ("already_reversed: the original", 1),
        ("reversal_unknown_original: the original SXNOPOL01 was rejected", 1),
        ("no_policy", 1),
    ] {
        assert_eq!(rejects.matches(code).count(), count, "{code} in\n{rejects}");
    }
    assert!(rejects.lines().count() >= 10, "{rejects}");

    // --strict refuses the same way, naming the same first reject, and writes nothing.
    let strict = |limit: &str, out: &str| {
        let out = tmp.path().join(out);
        let run = medsettle(&[
            "settle",
            "--claims",
            claims_path.to_str().unwrap(),
            "--persons",
            data.join("persons.csv").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--strict",
            "--memory-limit",
            limit,
        ]);
        assert_eq!(run.status.code(), Some(1));
        assert!(!out.exists(), "a refused run wrote {}", out.display());
        String::from_utf8_lossy(&run.stderr).lines().find(|l| l.contains("--strict")).unwrap_or_default().to_string()
    };
    let in_memory = strict("16GiB", "strict-mem");
    assert!(in_memory.contains("row(s) rejected, nothing written; first:"), "{in_memory}");
    assert_eq!(strict("1KiB", "strict-spill"), in_memory);
}

/// An in-memory run whose scratch folder for the ids cannot be made (a file stands where it
/// would go) keeps the ids in memory, says so, and writes the same outputs.
#[test]
fn ids_stay_in_memory_when_their_folder_cannot_take_them() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data");
    let tmp = tempfile::tempdir().unwrap();
    let blocker = tmp.path().join("a-file");
    std::fs::write(&blocker, b"not a folder").unwrap();
    let (c, p) = (root.join("claims.csv"), root.join("persons.csv"));
    let base = ["settle", "--claims", c.to_str().unwrap(), "--persons", p.to_str().unwrap(), "--max-reject-rate", "1"];
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let run = medsettle(&[&base[..], &["--out", a.to_str().unwrap()]].concat());
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    let no_folder = blocker.join("ids");
    let run = medsettle(&[&base[..], &["--out", b.to_str().unwrap(), "--spill-dir", no_folder.to_str().unwrap()]].concat());
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{err}");
    assert!(err.contains("the claims' ids stay in memory"), "{err}");
    assert_same_files(&a, &b);
}
