//! The output folder is always one complete set (docs/contract.md "The output folder is one
//! committed set"): a `kill -9` at random moments of a multi-second run, and a full disk,
//! leave exactly the previous set or exactly the new one, whose manifest hashes match, and the
//! next run leaves no staging folder behind.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_medsettle"))
}

fn sha(path: &Path) -> String {
    Sha256::digest(std::fs::read(path).unwrap()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks that `dir` holds one complete set: manifest.json lists every other file, with the
/// right size and hash, and nothing else is there. Returns the manifest text.
fn complete_set(dir: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(dir.join("manifest.json")).map_err(|e| format!("no manifest: {e}"))?;
    let m: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("manifest not JSON: {e}"))?;
    let mut listed: Vec<String> = vec!["manifest.json".into()];
    for o in m["outputs"].as_array().ok_or("no outputs")? {
        let name = o["name"].as_str().unwrap().to_string();
        let p = dir.join(&name);
        let bytes = std::fs::metadata(&p).map_err(|e| format!("{name} listed but missing: {e}"))?.len();
        if bytes != o["bytes"].as_u64().unwrap() || sha(&p) != o["sha256"].as_str().unwrap() {
            return Err(format!("{name} does not match the manifest"));
        }
        listed.push(name);
    }
    let mut present: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    present.sort();
    listed.sort();
    if present != listed {
        return Err(format!("files {present:?} are not the manifest's {listed:?}"));
    }
    Ok(text)
}

fn staging_left(parent: &Path) -> Vec<String> {
    std::fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".medsettle-"))
        .collect()
}

fn settle(data: &Path, out: &Path, format: &str) -> Command {
    let mut c = bin();
    c.args(["settle", "--claims"])
        .arg(data.join("claims.parquet"))
        .arg("--persons")
        .arg(data.join("persons.parquet"))
        .arg("--out")
        .arg(out)
        .args(["--format", format, "--max-reject-rate", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// A tiny deterministic generator for the kill moments.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// A generated 2024 year of `persons` as Parquet under `dir`/data, and the folder the runs
/// write their set `out` in: (data, parent, out).
fn parquet_year(dir: &Path, persons: &str, seed: &str) -> (PathBuf, PathBuf, PathBuf) {
    let data = dir.join("data");
    let g = bin()
        .args(["generate", "--persons", persons, "--year", "2024", "--seed", seed, "--format", "parquet", "--out"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(g.status.success(), "{}", String::from_utf8_lossy(&g.stderr));
    let parent = dir.join("runs");
    std::fs::create_dir(&parent).unwrap();
    let out = parent.join("out");
    (data, parent, out)
}

#[test]
fn kill_at_random_moments_leaves_the_old_or_the_new_set() {
    let tmp = tempfile::tempdir().unwrap();
    // ≈ 10 claims per person and year: about 150,000 claims, a few seconds per run.
    let (data, parent, out) = parquet_year(tmp.path(), "15000", "3");
    let t0 = Instant::now();
    assert!(settle(&data, &out, "csv").status().unwrap().success());
    let full = t0.elapsed();
    let mut current = complete_set(&out).unwrap();
    let mut rng = Lcg(20261130);
    let (mut old, mut new) = (0, 0);
    for i in 0..20 {
        let format = if i % 2 == 0 { "parquet" } else { "csv" };
        let full_ms = full.as_millis() as u64;
        let mut cmd = settle(&data, &out, format);
        // Every third run pauses 500 ms before the switch and again before deleting the old
        // set, and is killed in that window: between the commit steps. The others are killed
        // anywhere from the start to just past the end of a run (reading, settling, writing).
        let wait = if i % 3 == 2 {
            cmd.env("MEDSETTLE_COMMIT_PAUSE_MS", "500");
            Duration::from_millis(full_ms + rng.next() % 1000)
        } else {
            Duration::from_millis(rng.next() % (full_ms * 11 / 10 + 1))
        };
        let mut child = cmd.spawn().unwrap();
        std::thread::sleep(wait);
        child.kill().unwrap();
        let status = child.wait().unwrap();
        let now = complete_set(&out).unwrap_or_else(|e| panic!("kill {i} after {wait:?} ({status}): {e}"));
        if now == current {
            old += 1;
        } else {
            let m: serde_json::Value = serde_json::from_str(&now).unwrap();
            assert_eq!(m["format"], format, "kill {i}: a set that is neither the old nor the new one");
            new += 1;
            current = now;
        }
    }
    eprintln!("crash test: 20 kills over a {:.1} s run: {old} left the old set, {new} the new one", full.as_secs_f64());
    // The next run removes whatever the killed runs left beside the folder.
    assert!(settle(&data, &out, "csv").status().unwrap().success());
    complete_set(&out).unwrap();
    assert!(staging_left(&parent).is_empty(), "left behind: {:?}", staging_left(&parent));
    // Switching the format left no table of the other format.
    assert!(!out.join("settlements.parquet").exists());
}

/// Runs a settle of the sample data into `out` (a fresh set), returning the manifest.
fn sample_set(out: &Path) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let s = bin()
        .args(["settle", "--claims"])
        .arg(root.join("sample-data/claims.csv"))
        .arg("--persons")
        .arg(root.join("sample-data/persons.csv"))
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
    complete_set(out).unwrap()
}

fn bigger_input(dir: &Path) -> PathBuf {
    let g = bin().args(["generate", "--persons", "600", "--year", "2024", "--seed", "9", "--out"]).arg(dir).output().unwrap();
    assert!(g.status.success(), "{}", String::from_utf8_lossy(&g.stderr));
    dir.to_path_buf()
}

fn settle_csv(data: &Path, out: &Path) -> Command {
    let mut c = bin();
    c.args(["settle", "--claims"]).arg(data.join("claims.csv")).arg("--persons").arg(data.join("persons.csv")).arg("--out").arg(out);
    c
}

#[test]
fn a_full_disk_fails_naming_the_file_and_keeps_the_previous_set() {
    let tmp = tempfile::tempdir().unwrap();
    let data = bigger_input(&tmp.path().join("data"));
    // A real full disk where the machine allows mounting a small tmpfs (root on Linux).
    let disk = tmp.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=600k", "tmpfs"])
        .arg(&disk)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if mounted {
        let out = disk.join("out");
        let before = sample_set(&out);
        let r = settle_csv(&data, &out).output().unwrap();
        let err = String::from_utf8_lossy(&r.stderr).into_owned();
        let after = complete_set(&out);
        let left = staging_left(&disk);
        let _ = Command::new("umount").arg(&disk).status();
        assert_eq!(r.status.code(), Some(1), "{err}");
        assert!(err.contains("No space left on device") && err.contains("out/"), "{err}");
        assert_eq!(after.unwrap(), before, "the previous set changed");
        assert!(left.is_empty(), "{left:?}");
        eprintln!("disk-full test (tmpfs 600 KiB): {}", err.trim());
    } else {
        eprintln!("disk-full test: tmpfs cannot be mounted here; the injected ENOSPC writer is used alone");
    }
    // Injected ENOSPC after N bytes: in the first table, mid-way, and in the last files.
    let probe = tmp.path().join("probe");
    assert!(settle_csv(&data, &probe).status().unwrap().success());
    let m: serde_json::Value = serde_json::from_str(&complete_set(&probe).unwrap()).unwrap();
    let total: u64 = m["outputs"].as_array().unwrap().iter().map(|o| o["bytes"].as_u64().unwrap()).sum();
    let out = tmp.path().join("out");
    let before = sample_set(&out);
    let mut names = Vec::new();
    // `total` is the listed outputs; manifest.json itself (≈ 3 KB) comes after them.
    for n in [0, 4_000, total / 2, total - 10, total + 100, total + 100_000] {
        let r = settle_csv(&data, &out).env("MEDSETTLE_FAULT_ENOSPC_AFTER", n.to_string()).output().unwrap();
        let err = String::from_utf8_lossy(&r.stderr).into_owned();
        if r.status.code() == Some(0) {
            // A budget larger than the whole set (manifest included): the new set is complete.
            assert!(n > total + 100, "{n} bytes sufficed for a {total}-byte set");
            complete_set(&out).unwrap();
            continue;
        }
        assert_eq!(r.status.code(), Some(1), "{err}");
        assert!(err.contains("No space left on device") || err.contains("os error 28"), "{err}");
        let file = ["settlements", "person_years", "fund_report", "rejects", "report.md", "report.html", "report.xlsx", "manifest"]
            .iter()
            .find(|f| err.contains(*f))
            .unwrap_or_else(|| panic!("the error names no output file: {err}"));
        names.push(file.to_string());
        assert_eq!(complete_set(&out).unwrap(), before, "the previous set changed");
        assert!(staging_left(tmp.path()).is_empty());
    }
    // Errors name the file (rejects.csv of the sample set holds only its header).
    eprintln!("disk-full test (injected ENOSPC): failures named {names:?}");
    assert_eq!(names.len(), 5, "{names:?}");
    assert_eq!(names[0], "settlements");
    assert_eq!(names[3], "report.xlsx");
    assert_eq!(names[4], "manifest");
}

/// A spilled run (`--memory-limit` below its input, `--spill-dir`) on a full disk: whether the
/// spill or an output fills it, the run fails naming the file, the previous set stays, and
/// neither its staging folder nor its spill folder is left.
#[test]
fn a_full_disk_during_a_spilled_run_keeps_the_previous_set() {
    let tmp = tempfile::tempdir().unwrap();
    let data = bigger_input(&tmp.path().join("data"));
    let out = tmp.path().join("out");
    let spill = tmp.path().join("spill");
    let spilled = |out: &Path| {
        let mut c = settle_csv(&data, out);
        c.args(["--memory-limit", "64KiB", "--spill-dir"]).arg(&spill).env("MEDSETTLE_TIMINGS", "1");
        c
    };
    // what the spill and the outputs take when there is room
    let probe = spilled(&tmp.path().join("probe")).output().unwrap();
    let log = String::from_utf8_lossy(&probe.stderr).into_owned();
    assert!(probe.status.success() && log.contains("partitions"), "{log}");
    let m: serde_json::Value = serde_json::from_str(&complete_set(&tmp.path().join("probe")).unwrap()).unwrap();
    let outputs: u64 = m["outputs"].as_array().unwrap().iter().map(|o| o["bytes"].as_u64().unwrap()).sum();
    let before = sample_set(&out);
    let (mut in_spill, mut in_outputs) = (0, 0);
    for n in [0, 1_000, 20_000, 100_000, 200_000, 400_000, 800_000, 1_600_000, 3_200_000] {
        let r = spilled(&out).env("MEDSETTLE_FAULT_ENOSPC_AFTER", n.to_string()).output().unwrap();
        let err = String::from_utf8_lossy(&r.stderr).into_owned();
        assert!(!err.contains("panicked"), "{err}");
        if r.status.code() == Some(0) {
            assert!(n as u64 > outputs, "{n} bytes sufficed for {outputs} bytes of outputs and a spill");
            continue;
        }
        assert_eq!(r.status.code(), Some(1), "{err}");
        assert!(err.contains("os error 28") || err.contains("No space left on device"), "{err}");
        if err.contains("cannot write the spill file") {
            in_spill += 1;
        } else {
            assert!(
                err.contains("settlements") || err.contains("person_years") || err.contains("report") || err.contains("manifest"),
                "{err}"
            );
            in_outputs += 1;
        }
        assert_eq!(complete_set(&out).unwrap(), before, "budget {n}: the previous set changed");
        assert!(staging_left(tmp.path()).is_empty(), "budget {n}: {:?}", staging_left(tmp.path()));
        let left: Vec<_> = std::fs::read_dir(&spill).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(left.is_empty(), "budget {n}: spill left {left:?}");
    }
    eprintln!("disk-full test (spilled): {in_spill} runs failed in the spill, {in_outputs} in the outputs");
    assert!(in_spill >= 2 && in_outputs >= 1, "spill {in_spill}, outputs {in_outputs}");
}

/// A spilled run killed at any moment leaves the previous set or the new one; the spill it
/// left under `--spill-dir` is removed by the next run.
#[test]
fn a_killed_spilled_run_leaves_a_set_and_the_next_run_its_spill() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, parent, out) = parquet_year(tmp.path(), "6000", "5");
    let spill = tmp.path().join("spill");
    let spilled = || {
        let mut c = settle(&data, &out, "parquet");
        c.args(["--memory-limit", "1MiB", "--spill-dir"]).arg(&spill);
        c
    };
    let t0 = Instant::now();
    let first = spilled().env("MEDSETTLE_TIMINGS", "1").stderr(Stdio::piped()).output().unwrap();
    let full_ms = t0.elapsed().as_millis() as u64;
    let log = String::from_utf8_lossy(&first.stderr).into_owned();
    assert!(first.status.success() && log.contains("partitions"), "the run did not spill: {log}");
    let first_set = complete_set(&out).unwrap();
    let mut rng = Lcg(20261204);
    let mut spill_left = 0;
    for i in 0..8 {
        let wait = Duration::from_millis(rng.next() % (full_ms + 1));
        let mut child = spilled().spawn().unwrap();
        std::thread::sleep(wait);
        child.kill().unwrap();
        let status = child.wait().unwrap();
        let now = complete_set(&out).unwrap_or_else(|e| panic!("kill {i} after {wait:?} ({status}): {e}"));
        // Each run writes the same bytes (the outputs are deterministic): old or new, the set
        // is the first run's.
        assert_eq!(now, first_set, "kill {i} after {wait:?}");
        // At most the killed run's own folder: the next run starts by removing it.
        let spills = std::fs::read_dir(&spill).map(|d| d.count()).unwrap_or(0);
        assert!(spills <= 1, "kill {i}: {spills} spill folders");
        spill_left += spills;
    }
    eprintln!("crash test (spilled): 8 kills over a {full_ms} ms run; {spill_left} left a spill folder");
    assert!(spilled().status().unwrap().success());
    assert_eq!(complete_set(&out).unwrap(), first_set);
    assert!(staging_left(&parent).is_empty(), "left behind: {:?}", staging_left(&parent));
    let left: Vec<_> = std::fs::read_dir(&spill).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "spill folders left: {left:?}");
}

/// A full disk while a Parquet table is written: the error comes back from the file's own
/// writer thread (at the start, mid-way, or when the last row group is written), names the
/// table, and the previous set stays.
#[test]
fn a_full_disk_while_writing_parquet_fails_naming_the_table() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, parent, out) = parquet_year(tmp.path(), "1500", "7");
    let run = |budget: Option<u64>| {
        let mut c = settle(&data, &out, "parquet");
        c.stderr(Stdio::piped());
        if let Some(n) = budget {
            c.env("MEDSETTLE_FAULT_ENOSPC_AFTER", n.to_string());
        }
        c.output().unwrap()
    };
    assert!(run(None).status.success());
    let before = complete_set(&out).unwrap();
    let size = std::fs::metadata(out.join("settlements.parquet")).unwrap().len();
    assert!(size > 20_000, "settlements.parquet is {size} bytes");
    for n in [0, 4, size / 3, size - 100] {
        let r = run(Some(n));
        let err = String::from_utf8_lossy(&r.stderr).into_owned();
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(r.status.code(), Some(1), "budget {n}: {err}");
        assert!(err.contains("No space left on device") || err.contains("os error 28"), "budget {n}: {err}");
        assert!(err.contains("settlements.parquet"), "budget {n}: the error names no table: {err}");
        assert_eq!(complete_set(&out).unwrap(), before, "budget {n}: the previous set changed");
        assert!(staging_left(&parent).is_empty(), "budget {n}: left behind: {:?}", staging_left(&parent));
    }
}
