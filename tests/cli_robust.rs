//! Every command ends quietly on a closed pipe, and `generate` refuses an absurd size with a
//! message (more than 999,999,999 persons, or more than the output's disk can hold: it
//! streams, so memory is no longer the limit) instead of failing half-way.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `args`, reads one line of stdout, closes the pipe, and returns (status, stderr).
fn head_one(args: &[&str]) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_medsettle"))
        .current_dir(root())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    // The reader is dropped here: the pipe is closed while the command may still write.
    let out = child.wait_with_output().unwrap();
    assert!(!first.is_empty(), "{args:?} printed nothing");
    (out.status, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn closed_pipe_ends_quietly() {
    let explain = ["explain", "--claims", "sample-data/claims.csv", "--persons", "sample-data/persons.csv", "--psn-no", "P000000015"];
    for args in [&explain[..], &["policy", "show", "changzhou-resident-2026"][..], &["policy", "list"][..]] {
        let (status, stderr) = head_one(args);
        assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{args:?}: {stderr}");
        // Either done before the pipe closed (0) or ended by SIGPIPE, as any Unix filter.
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            assert!(status.success() || status.signal() == Some(13), "{args:?}: {status}");
        }
    }
}

#[test]
fn generate_refuses_an_absurd_size() {
    let dir = tempfile::tempdir().unwrap();
    for n in ["999999999", "18446744073709551615"] {
        let out = Command::new(env!("CARGO_BIN_EXE_medsettle"))
            .args(["generate", "--persons", n, "--year", "2024", "--out"])
            .arg(dir.path().join("g"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("--persons"), "{err}");
        assert!(!dir.path().join("g").exists());
    }
}
