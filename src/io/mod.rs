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
