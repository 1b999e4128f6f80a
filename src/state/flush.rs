//! Early write-back of a file being written in one long stream (the first run's new state
//! file): a thread starts the disk writes of what is already in the file every quarter second
//! and then drops from the page cache what the previous round sent to disk.
//!
//! Without it the whole file (about 3 GB for a city-year) sits dirty in memory until the
//! final fsync, which then waits for all of it; and the page cache it fills is memory the
//! rest of the run cannot use. Dropping only pages already written back keeps what SQLite
//! still rewrites (they are dirty again, and the kernel keeps dirty pages); a page read again
//! later comes from disk. Nothing here changes what the file holds: it is an I/O schedule,
//! and on systems other than Linux it does nothing.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Runs until dropped.
pub struct Flusher {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

const ROUND: Duration = Duration::from_millis(250);

impl Flusher {
    /// Starts the rounds on `path` (a file this process writes); none when it cannot be
    /// opened (the writes then simply go the usual way).
    pub fn start(path: &Path) -> Flusher {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let thread = std::fs::File::open(path).ok().and_then(|file| {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new().name("state-flush".into()).spawn(move || rounds(&file, &stop)).ok()
        });
        Flusher { stop, thread }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        let (lock, wake) = &*self.stop;
        if let Ok(mut stopped) = lock.lock() {
            *stopped = true;
        }
        wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn rounds(file: &std::fs::File, stop: &(Mutex<bool>, Condvar)) {
    let (lock, wake) = stop;
    let mut sent: u64 = 0;
    let Ok(mut stopped) = lock.lock() else { return };
    loop {
        match wake.wait_timeout(stopped, ROUND) {
            Ok((s, _)) => stopped = s,
            Err(_) => return,
        }
        if *stopped {
            return;
        }
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        // What the previous round sent is on disk by now, or nearly: drop it from memory.
        drop_cached(file, sent);
        write_back(file, len);
        sent = len;
    }
}

#[cfg(target_os = "linux")]
fn write_back(file: &std::fs::File, len: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: sync_file_range only reads the descriptor, which `file` keeps open; a failure
    // (e.g. a file system without it) only leaves the pages to the usual write-back.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), 0, len as libc::off64_t, libc::SYNC_FILE_RANGE_WRITE);
    }
}

#[cfg(target_os = "linux")]
fn drop_cached(file: &std::fs::File, len: u64) {
    use std::os::fd::AsRawFd;
    if len == 0 {
        return;
    }
    // SAFETY: as above; DONTNEED never drops a dirty page, only clean cached ones.
    unsafe {
        libc::posix_fadvise(file.as_raw_fd(), 0, len as libc::off_t, libc::POSIX_FADV_DONTNEED);
    }
}

#[cfg(not(target_os = "linux"))]
fn write_back(_: &std::fs::File, _: u64) {}

#[cfg(not(target_os = "linux"))]
fn drop_cached(_: &std::fs::File, _: u64) {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, Write};

    #[test]
    fn rounds_while_the_file_grows_leave_its_bytes_as_written() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("growing");
        let mut file = std::fs::File::create(&path)?;
        let flusher = Flusher::start(&path);
        let mut expected = Vec::new();
        for round in 0..4u8 {
            let block: Vec<u8> = (0..256 * 1024).map(|i| (i as u8).wrapping_mul(31).wrapping_add(round)).collect();
            file.write_all(&block)?;
            expected.extend_from_slice(&block);
            // Rewrite a page already sent to disk (SQLite does): it is dirty again and kept.
            file.seek(std::io::SeekFrom::Start(4096))?;
            file.write_all(&[round; 4096])?;
            expected[4096..8192].fill(round);
            file.seek(std::io::SeekFrom::End(0))?;
            std::thread::sleep(ROUND + ROUND / 2);
        }
        drop(flusher);
        drop(file);
        let mut read = Vec::new();
        std::fs::File::open(&path)?.read_to_end(&mut read)?;
        assert_eq!(read.len(), expected.len());
        assert!(read == expected, "the file's bytes changed");
        Ok(())
    }
}
