//! Progress bars on a terminal (hidden otherwise), and the one-line summaries.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// A progress bar on stderr when it is a terminal; hidden otherwise.
pub fn bar(len: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr_with_hz(5));
    pb.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {human_pos}/{human_len} ({per_sec}, {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

/// A bar for reading the claims files: its length is the rows of the Parquet files (their
/// metadata) plus an estimate for the CSV files (their size over the mean length of their
/// first lines); it grows if the estimate was short. A spinner when nothing is known.
pub fn reading(files: &[std::path::PathBuf], what: &str) -> ProgressBar {
    match crate::io::source::expected_rows(files) {
        Some(n) if n > 0 => bar(n, what),
        _ => spinner(what),
    }
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
