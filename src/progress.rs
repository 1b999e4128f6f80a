//! Progress bars on a terminal (hidden otherwise), and the one-line summaries.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// A progress bar on stderr when it is a terminal; hidden otherwise.
pub fn bar(len: u64, what: &str) -> ProgressBar {
    counted(len, what, "{msg:>10} [{bar:40}] {human_pos}/{human_len} ({per_sec}, {eta})")
}

/// A bar of `len` drawn with `template` (hidden off a terminal); its first frame is drawn at
/// once, however short the work.
fn counted(len: u64, what: &str, template: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr_with_hz(5));
    pb.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> "));
    pb.set_message(what.to_string());
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

/// A bar for reading the claims files: its length is the rows of the Parquet files (their
/// metadata) plus an estimate for the CSV files (their size over the mean length of their
/// first lines); it grows if the estimate was short. A spinner when nothing is known.
pub fn reading(files: &[std::path::PathBuf], what: &str) -> ProgressBar {
    reading_of(files, crate::intake::CLAIMS, what)
}

/// [`reading`] for the persons file.
pub fn reading_persons(file: &std::path::Path, what: &str) -> ProgressBar {
    reading_of(std::slice::from_ref(&file.to_path_buf()), crate::intake::PERSONS, what)
}

fn reading_of(files: &[std::path::PathBuf], cols: &[crate::intake::Column], what: &str) -> ProgressBar {
    match crate::io::source::expected_rows_of(files, cols) {
        Some(n) if n > 0 => bar(n, what),
        _ => spinner(what),
    }
}

/// A bar over the steps of a phase whose work is not counted in rows (the checks of the
/// whole input, the setl_id buckets of a spilled run, the reports): `len` steps, each
/// counted with `inc(1)` when done.
pub fn steps(len: u64, what: &str) -> ProgressBar {
    counted(len, what, "{msg:>10} [{bar:40}] {pos}/{len} steps ({elapsed}, {eta})")
}

/// Advances `pb` by `n`, lengthening it when an estimated length was short.
pub fn grow(pb: &ProgressBar, n: u64) {
    pb.inc(n);
    if let Some(len) = pb.length()
        && pb.position() > len
    {
        pb.set_length(pb.position());
    }
}

/// A spinner for work of unknown length.
pub fn spinner(what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(5));
    pb.set_style(
        ProgressStyle::with_template("{msg:>10} {spinner} {human_pos} rows ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.set_message(what.to_string());
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}
