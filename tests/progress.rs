//! Progress bars (issue 10; CONTRACT: a bar on a terminal for work longer than a second): on a
//! terminal every phase of a run shows a bar with its total (rows, steps where the work is not
//! counted in rows, a share where it is of several kinds), in memory, spilled, and for the
//! nightly state and its `verify` and `export`; when stderr is not a terminal (a nightly
//! job's log) nothing but the one-line summary is written.
//!
//! The terminal is a real pseudo-terminal: the run goes through util-linux's `script`, whose
//! transcript holds every frame the bars drew.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_medsettle");

/// A generated year in Parquet under `dir`: (claims, persons).
fn year(dir: &Path) -> (String, String) {
    let data = dir.join("data");
    let out = Command::new(BIN)
        .args(["generate", "--persons", "3000", "--year", "2024", "--seed", "5", "--format", "parquet", "--out"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let path = |n: &str| data.join(n).to_str().unwrap().to_string();
    (path("claims.parquet"), path("persons.parquet"))
}

/// `n` as the bars spell it (thousands separated by commas).
fn human(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// What a run drew on a pseudo-terminal, without escape sequences, line ends as spaces (bars
/// drawn at once share a line of the transcript), and the summary line.
fn on_a_terminal(args: &[&str]) -> (String, String) {
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let command: Vec<String> = std::iter::once(BIN).chain(args.iter().copied()).map(quote).collect();
    let run = Command::new("script")
        .args(["-qec", &command.join(" "), "/dev/null"])
        .output()
        .unwrap_or_else(|e| panic!("util-linux's `script` is needed for the terminal test (Debian: bsdutils): {e}"));
    let transcript = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(run.status.success(), "the run failed on a terminal: {transcript}");
    assert!(!transcript.contains("panicked"), "{transcript}");
    // Escape sequences (CSI: ESC [ parameters, final letter) go.
    let mut clean = String::new();
    let mut chars = transcript.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        clean.push(if c == '\r' || c == '\n' { ' ' } else { c });
    }
    let summary = clean.rfind("medsettle ").map(|i| clean[i..].trim().to_string()).unwrap_or_default();
    (clean, summary)
}

/// `settle` of the year into `out` (Parquet), with `more` arguments, on a pseudo-terminal.
fn settle_on_a_terminal(claims: &str, persons: &str, out: &Path, more: &[&str]) -> (String, String) {
    let base = ["settle", "--claims", claims, "--persons", persons, "--format", "parquet", "--out", out.to_str().unwrap()];
    on_a_terminal(&[&base[..], more].concat())
}

/// The frames of the bar labelled `label`: `label [bar] counts (rate, eta)`.
fn bar<'a>(drawn: &'a (String, String), label: &str) -> Vec<&'a str> {
    let re = regex::Regex::new(&format!(r"(?:^|\s)({} \[[=> ]*\] [^()]*\([^)]*\))", regex::escape(label))).unwrap();
    re.captures_iter(&drawn.0).filter_map(|c| c.get(1)).map(|m| m.as_str()).collect()
}

/// Asserts that the bar `label` was drawn, every frame of it with the total `/{total}`, and
/// a rate, where it shows one, in whole rows a second (`12,345/s`, not `12345.6789/s`).
fn assert_bar(frames: &(String, String), label: &str, total: &str) {
    let drawn = bar(frames, label);
    assert!(!drawn.is_empty(), "no '{label}' bar in what was drawn:\n{}", frames.0);
    let rate = regex::Regex::new(r"\(\d{1,3}(?:,\d{3})*/s, ").unwrap();
    for f in drawn {
        assert!(f.contains(&format!("/{total}")), "the '{label}' bar does not show its total {total}: {f}");
        assert!(!f.contains("/s") || rate.is_match(f), "the '{label}' bar's rate is not in whole rows a second: {f}");
    }
}

/// The claims read and settled (settled, not covered and reversals), from the manifest.
fn counts(out: &Path) -> (u64, u64) {
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let c = &manifest["counts"];
    let n = |k: &str| c[k].as_u64().unwrap();
    (n("read"), n("settled") + n("not_covered") + n("reversal"))
}

#[test]
fn every_phase_shows_a_bar_with_its_total_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let (claims, persons) = year(dir.path());
    let persons_rows: u64 = {
        let f = std::fs::File::open(&persons).unwrap();
        let r = parquet::file::reader::SerializedFileReader::new(f).unwrap();
        parquet::file::reader::FileReader::metadata(&r).file_metadata().num_rows() as u64
    };

    // In memory: persons, claims, the whole-input checks, settling, writing, reports.
    let mem = dir.path().join("mem");
    let frames = settle_on_a_terminal(&claims, &persons, &mem, &[]);
    let (read, settled) = counts(&mem);
    assert!(read > 10_000, "a year of 3000 persons holds more claims: {read}");
    assert_bar(&frames, "persons", &human(persons_rows));
    assert_bar(&frames, "reading", &human(read));
    assert_bar(&frames, "checking", "4 steps");
    assert_bar(&frames, "settling", &human(settled));
    assert_bar(&frames, "writing", &human(settled));
    assert_bar(&frames, "reports", "6 steps");
    // The bars are gone at the end: the summary comes last.
    assert!(frames.1.starts_with("medsettle settle: ") && !frames.1.contains('['), "the summary is not last: {}", frames.1);

    // Spilled: persons, the read and spill, the cross-partition checks, the partitions, the
    // merge, reports.
    let spilled = dir.path().join("spilled");
    let frames = settle_on_a_terminal(&claims, &persons, &spilled, &["--memory-limit", "64KiB"]);
    assert_eq!(counts(&spilled), (read, settled));
    assert_bar(&frames, "persons", &human(persons_rows));
    assert_bar(&frames, "reading and spilling", &human(read));
    assert_bar(&frames, "cross-checking", "");
    assert!(bar(&frames, "cross-checking").iter().all(|f| f.contains(" steps")), "the cross-partition checks count no steps");
    assert_bar(&frames, "settling partitions", &human(read));
    assert_bar(&frames, "writing", &human(settled));
    assert_bar(&frames, "reports", "6 steps");
}

#[test]
fn no_bar_when_stderr_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let (claims, persons) = year(dir.path());
    for limit in ["16GiB", "64KiB"] {
        let out = dir.path().join(format!("out-{limit}"));
        let run = Command::new(BIN)
            .args(["settle", "--claims", &claims, "--persons", &persons, "--format", "parquet", "--memory-limit", limit, "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        let err = String::from_utf8_lossy(&run.stderr);
        let lines: Vec<&str> = err.lines().collect();
        // 64 KiB is below what the persons alone take: one plain line says so before the summary
        let warned = usize::from(limit == "64KiB");
        assert_eq!(lines.len(), 1 + warned, "stderr holds more than the summary under {limit}: {err:?}");
        if warned == 1 {
            assert!(lines[0].starts_with("medsettle: warning: --memory-limit 64.00 KiB is below what this run needs"), "{err:?}");
        }
        assert!(lines[warned].starts_with("medsettle settle: "), "{err:?}");
        assert!(!err.contains('\r') && !err.contains('\u{1b}'), "terminal control in a log under {limit}: {err:?}");
    }
}

/// A nightly run that builds its state, and `state verify` and `state export` of it: the
/// state's own phases (storing beside the writing, loading the stored claims back, settling
/// them again, checking the setl_id index) show bars too.
#[test]
fn the_nightly_state_shows_its_phases_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let (claims, persons) = year(dir.path());
    let db = dir.path().join("state.db");
    let db = db.to_str().unwrap();
    let night = dir.path().join("night");
    let frames = settle_on_a_terminal(&claims, &persons, &night, &["--state", db]);
    let (read, settled) = counts(&night);
    assert_bar(&frames, "reading", &human(read));
    assert_bar(&frames, "checking", "4 steps");
    assert_bar(&frames, "settling", &human(settled));
    // claims, index entries and person-years together: in percent
    let storing = bar(&frames, "storing");
    assert!(!storing.is_empty() && storing.iter().all(|f| f.contains('%')), "no store's bar in percent: {storing:?}");
    assert_bar(&frames, "writing", &human(settled));
    assert_bar(&frames, "reports", "6 steps");

    let frames = on_a_terminal(&["state", "verify", db]);
    assert_bar(&frames, "loading", &human(settled));
    assert_bar(&frames, "verifying", &human(settled));
    assert_bar(&frames, "index", "3 steps");
    assert!(frames.1.starts_with("medsettle state verify: ") && frames.1.ends_with("0 difference(s)"), "{}", frames.1);

    let export = dir.path().join("export");
    let frames = on_a_terminal(&["state", "export", db, "--format", "parquet", "--out", export.to_str().unwrap()]);
    assert_bar(&frames, "loading", &human(settled));
    assert_bar(&frames, "writing", &human(settled));
}
