//! Every example in `medsettle <command> --help` runs as written on the sample data (in a
//! copy of `sample-data/`, through `sh`), and the sample's own generate command reproduces
//! the committed sample claims, recorded platform amounts included.

use std::path::Path;
use std::process::Command;

/// The example commands of a help text: lines starting with `medsettle`, with their `\`
/// continuation lines.
fn examples(help: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in help.lines() {
        let t = line.trim();
        if let Some(c) = cur.as_mut() {
            c.push('\n');
            c.push_str(t);
            if !t.ends_with('\\') {
                out.extend(cur.take());
            }
            continue;
        }
        if t.starts_with("medsettle ") {
            if t.ends_with('\\') {
                cur = Some(t.to_string());
            } else {
                out.push(t.to_string());
            }
        }
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

#[test]
fn every_help_example_runs_on_the_sample_data() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let d = tempfile::tempdir().unwrap();
    copy_dir(&root.join("sample-data"), &d.path().join("sample-data"));
    let bin = Path::new(env!("CARGO_BIN_EXE_medsettle"));
    let path = format!("{}:{}", bin.parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
    let mut ran = 0;
    for cmd in ["settle", "scenario", "replay", "explain", "policy", "generate", "state"] {
        let help = Command::new(bin).args([cmd, "--help"]).output().unwrap();
        let help = String::from_utf8(help.stdout).unwrap();
        let list = examples(&help);
        assert!(!list.is_empty(), "`medsettle {cmd} --help` shows no example");
        for ex in list {
            let out = Command::new("sh").arg("-c").arg(&ex).current_dir(d.path()).env("PATH", &path).output().unwrap();
            // replay exits 3 when it finds discrepancies, which the sample data has on purpose
            let ok = matches!(out.status.code(), Some(0)) || (cmd == "replay" && out.status.code() == Some(3));
            assert!(ok, "example failed ({:?}):\n{ex}\n{}", out.status.code(), String::from_utf8_lossy(&out.stderr));
            ran += 1;
        }
    }
    assert!(ran >= 15, "only {ran} examples ran");
    // The generate example that makes the sample reproduces the committed sample claims.
    for f in ["claims.csv", "persons.csv"] {
        let regenerated = std::fs::read(d.path().join("sample-new").join(f)).unwrap();
        let committed = std::fs::read(root.join("sample-data").join(f)).unwrap();
        assert!(regenerated == committed, "sample-data/{f} differs from what its generate command makes");
    }
}

#[test]
fn continuation_lines_join_one_example() {
    let help = "Example:\n  medsettle a --x 1 \\\n      --y 2\n  medsettle b\nNot an example\n";
    assert_eq!(examples(help), vec!["medsettle a --x 1 \\\n--y 2".to_string(), "medsettle b".to_string()]);
}
