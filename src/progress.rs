//! Progress bars on a terminal (hidden otherwise), and the one-line summaries.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// A progress bar on stderr when it is a terminal; hidden otherwise.
pub fn bar(len: u64, what: &str) -> ProgressBar {
    counted(len, what, "{msg:>10} [{bar:40}] {human_pos}/{human_len} ({per_sec:0}, {eta})")
}

/// A bar of `len` drawn with `template` (hidden off a terminal); its first frame is drawn at
/// once, however short the work.
fn counted(len: u64, what: &str, template: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = shown(ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden()));
    pb.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> "));
    pb.set_message(what.to_string());
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

/// Every bar of the process goes to one display on stderr, so that bars drawn at the same
/// time (a nightly run stores its state while its outputs are written) stack line by line
/// instead of overwriting each other.
fn shown(pb: ProgressBar) -> ProgressBar {
    static ALL: std::sync::LazyLock<MultiProgress> =
        std::sync::LazyLock::new(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(5)));
    ALL.add(pb)
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

/// A bar in percent of `len` units of work of more than one kind (a nightly run's store:
/// its claims, their setl_id index entries, its person-years).
pub fn share(len: u64, what: &str) -> ProgressBar {
    counted(len, what, "{msg:>10} [{bar:40}] {percent}% ({elapsed}, {eta})")
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
    let pb = shown(ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden()));
    pb.set_style(
        ProgressStyle::with_template("{msg:>10} {spinner} {human_pos} rows ({per_sec:0})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.set_message(what.to_string());
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}
