//! Files in and out, one folder per format with its reader and writer ([`csv`], [`parquet`]);
//! the claims and persons inputs walked through intake ([`read`]); the tables and the
//! committed output folder ([`write`]); spill files ([`spill`]). The rules are in
//! [`crate::intake`].
//! The IO never knows a rule.

pub mod csv;
pub mod parquet;
pub mod read;
pub mod scratch;
pub mod source;
pub mod spill;
pub mod write;

/// Whether a process id is running: the staging and spill folders of a live run are left
/// alone, those of a run that is gone are removed.
pub(crate) fn process_alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        // SAFETY: kill with signal 0 only checks for the process.
        let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
        r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        false
    }
}

/// Bytes free to an unprivileged writer on the file system of `path` (`statvfs`); `None`
/// where it cannot be told.
pub(crate) fn free_space(path: &std::path::Path) -> Option<u64> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
        let mut s = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
        // SAFETY: `c` is a NUL-terminated path; statvfs fills the struct `s` points to.
        if unsafe { libc::statvfs(c.as_ptr(), s.as_mut_ptr()) } != 0 {
            return None;
        }
        // SAFETY: filled by the successful call above (and zeroed before it).
        let s = unsafe { s.assume_init() };
        #[allow(clippy::unnecessary_cast)]
        Some((s.f_bavail as u64).saturating_mul(s.f_frsize as u64))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Whether two existing paths lie on one file system (device), where what is written to
/// either takes the same free space; true where it cannot be told (the estimate that uses it
/// then counts both against the one disk).
pub(crate) fn same_disk(a: &std::path::Path, b: &std::path::Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev(),
            _ => true,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (a, b);
        true
    }
}

#[cfg(test)]
mod tests {
    /// A folder's file system tells its free space; a path that is not there tells none.
    #[test]
    fn free_space_is_told() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        assert!(super::free_space(dir.path()).is_some_and(|b| b > 0));
        assert_eq!(super::free_space(&dir.path().join("missing")), None);
        Ok(())
    }

    /// Two folders of one file system are on one disk; a path that is not there counts as on
    /// the same disk (the estimate then counts everything against one).
    #[test]
    fn folders_of_one_disk_are_told() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        std::fs::create_dir(dir.path().join("a"))?;
        assert!(super::same_disk(dir.path(), &dir.path().join("a")));
        assert!(super::same_disk(dir.path(), &dir.path().join("missing")));
        // /proc is a file system of its own on Linux
        #[cfg(target_os = "linux")]
        assert!(!super::same_disk(dir.path(), std::path::Path::new("/proc")));
        Ok(())
    }
}
