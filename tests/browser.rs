//! report.html in a real browser: headless Chromium loads it from disk, logs no console
//! message and makes no network request, and a screenshot is taken
//! (`target/report-screenshots/*.png`, for a person to look at).
//!
//! Needs Debian's `chromium` (`.ci/run` installs it). Without it the test says SKIPPED on
//! stderr and passes, unless `MEDSETTLE_REQUIRE_BROWSER=1` (set by `.ci/run`) makes that a
//! failure.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"].iter().find_map(|b| {
        let ok = Command::new(b).arg("--version").output().is_ok_and(|o| o.status.success());
        ok.then(|| PathBuf::from(b))
    })
}

/// Loads `page` headless; returns (console lines, every URL the browser requested).
fn load(browser: &Path, page: &Path, shot: &Path, work: &Path) -> (Vec<String>, Vec<String>) {
    let net = work.join(format!("{}.net.json", shot.file_stem().unwrap().to_string_lossy()));
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1280,9000",
        ])
        .arg(format!("--user-data-dir={}", work.join("profile").display()))
        .arg(format!("--log-net-log={}", net.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let console: Vec<String> = stderr.lines().filter(|l| l.contains(":CONSOLE")).map(str::to_string).collect();
    let log = std::fs::read_to_string(&net).unwrap_or_default();
    let re = regex::Regex::new(r#""url":"([^"]*)""#).unwrap();
    let urls = re.captures_iter(&log).map(|c| c[1].split('?').next().unwrap_or_default().to_string()).collect();
    (console, urls)
}

#[test]
fn report_html_loads_offline_without_console_errors_or_requests() {
    let Some(browser) = chromium() else {
        assert!(std::env::var_os("MEDSETTLE_REQUIRE_BROWSER").is_none(), "MEDSETTLE_REQUIRE_BROWSER is set but chromium is not installed");
        eprintln!("SKIPPED: chromium is not installed (apt-get install chromium); report.html was not loaded in a browser");
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shots = root.join("target/report-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    // The browser's own background traffic, from an empty page, is not the report's.
    let blank = d.path().join("blank.html");
    std::fs::write(&blank, "<!DOCTYPE html><title>blank</title>").unwrap();
    let (_, own) = load(&browser, &blank, &d.path().join("blank.png"), d.path());
    let own: BTreeSet<String> = own.into_iter().collect();

    for (lang, cmd, page) in [
        ("zh", "settle", "report.html"),
        ("en", "settle", "report.html"),
        ("zh", "scenario", "report.html"),
        ("en", "replay", "replay_report.html"),
    ] {
        let out_dir = d.path().join(format!("{cmd}-{lang}"));
        let mut args = vec![cmd, "--claims", "sample-data/claims.csv", "--persons", "sample-data/persons.csv", "--lang", lang];
        if cmd == "scenario" {
            args.extend(["--scenario", "sample-data/scenarios/level3-rate-75.toml", "sample-data/scenarios/cap-400k-eligible-cost.toml"]);
        }
        let o = out_dir.to_str().unwrap().to_string();
        args.extend(["--out", &o]);
        let run = Command::new(env!("CARGO_BIN_EXE_medsettle")).current_dir(root).args(&args).output().unwrap();
        assert!(matches!(run.status.code(), Some(0 | 3)), "{cmd}: {}", String::from_utf8_lossy(&run.stderr));
        let page = out_dir.join(page);
        let shot = shots.join(format!("{cmd}-{lang}.png"));
        let (console, urls) = load(&browser, &page, &shot, d.path());
        assert!(console.is_empty(), "{cmd} {lang}: console messages: {console:?}");
        let me = format!("file://{}", page.display());
        let foreign: Vec<&String> = urls.iter().filter(|u| **u != me && !own.contains(*u) && !u.starts_with("data:")).collect();
        assert!(foreign.is_empty(), "{cmd} {lang}: the page requested {foreign:?}");
        let png = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
        assert!(png > 10_000, "{cmd} {lang}: screenshot {} is missing or empty ({png} bytes)", shot.display());
        eprintln!("{cmd} --lang {lang}: {} bytes, screenshot {} ({png} bytes)", std::fs::metadata(&page).unwrap().len(), shot.display());
    }
}
